/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-util.c: helpers that several zlctl commands share: options, output, log records. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "string-util.h"
#include "table.h"
#include "zlctl.h"

/* getopt_long with a ':'-prefixed optstring returns ':' for a missing argument, '?' otherwise. */
int zlctl_getopt_failure(const char *command, int c, char *argv[]) {
        if (c == ':')
                return usage_error(command, "option '%s' needs an argument", argv[optind - 1]);
        return usage_error(command, "unknown option '%s'", argv[optind - 1]);
}

int zlctl_parse_output(const char *command, const char *s, bool *ret_json) {
        if (streq(s, "json"))
                *ret_json = true;
        else if (streq(s, "table"))
                *ret_json = false;
        else
                return usage_error(command, "invalid --output '%s'; expected table or json", s);
        return 0;
}

int zlctl_parse_tail(const char *command, const char *s, int64_t *ret) {
        int64_t n = -1;

        if (!streq(s, "all") && (safe_atoi64(s, &n) < 0 || n < 0))
                return usage_error(command, "invalid --tail '%s': expected a number >= 0 or 'all'",
                                   s);
        *ret = n;
        return 0;
}

bool zlctl_want_help(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "-h") || streq(argv[i], "--help"))
                        return true;
        return false;
}

int zlctl_print_json(json_t *j) {
        _cleanup_free_ char *text = NULL;

        text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!text)
                return log_oom();
        printf("%s\n", text);
        return 0;
}

int zlctl_print_table(const Table *t) {
        int r = table_print(t, stdout);

        if (r < 0)
                return log_error_errno(r, "Failed to print: %m");
        return 0;
}

const char *zlctl_json_str(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

json_int_t zlctl_json_int(json_t *o, const char *key) {
        return json_integer_value(json_object_get(o, key));
}

const char *zlctl_short_id(const char *id, char *buf, size_t len) {
        if (isempty(id))
                return NULL;
        snprintf(buf, MIN(len, (size_t) ZLCTL_SHORT_ID_LEN + 1), "%s", id);
        return buf;
}

int zlctl_read_spec(const char *path, char **ret_data, size_t *ret_size) {
        if (streq(path, "-"))
                return read_full_stream(stdin, ZLCTL_SPEC_MAX_SIZE, ret_data, ret_size);
        return read_full_file(path, ZLCTL_SPEC_MAX_SIZE, ret_data, ret_size);
}

int zlctl_log_record_parse(const char *line, size_t n, ZlctlLogRecord *ret) {
        const char *sp1, *sp2, *end = line + n;

        sp1 = memchr(line, ' ', n);
        sp2 = sp1 ? memchr(sp1 + 1, ' ', end - sp1 - 1) : NULL;
        if (!sp2 || end - sp2 < 2 || (sp2[1] != 'F' && sp2[1] != 'P') ||
            (sp2 + 2 < end && sp2[2] != ' '))
                return -EBADMSG;
        *ret = (ZlctlLogRecord){
                .time = line,
                .time_len = sp1 - line,
                .err = (size_t) (sp2 - sp1 - 1) == strlen("stderr") && strneq(sp1 + 1, "stderr", 6),
                .partial = sp2[1] == 'P',
                .text = sp2 + 2 < end ? sp2 + 3 : end,
        };
        ret->text_len = end - ret->text;
        return 0;
}

void zlctl_line_buffer_done(ZlctlLineBuffer *b) {
        b->buf = mfree(b->buf);
        b->len = b->size = 0;
}

int zlctl_line_buffer_feed(ZlctlLineBuffer *b, const char *data, size_t n,
                           int (*line)(const char *l, size_t n, void *userdata), void *userdata) {
        size_t start = 0;
        int r;

        if (b->len + n > b->size) {
                size_t size = MAX(b->size * 2, b->len + n);
                char *p = realloc(b->buf, size);

                if (!p)
                        return -ENOMEM;
                b->buf = p;
                b->size = size;
        }
        memcpy(b->buf + b->len, data, n);
        b->len += n;
        for (size_t i = 0; i < b->len; i++)
                if (b->buf[i] == '\n') {
                        r = line(b->buf + start, i - start, userdata);
                        if (r < 0)
                                return r;
                        start = i + 1;
                }
        memmove(b->buf, b->buf + start, b->len - start);
        b->len -= start;
        return 0;
}

int zlctl_logs_reply_fd(sd_bus_message *reply, int *ret_fd) {
        int fd, r;

        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to OpenLogs: %m");
        /* The descriptor belongs to the reply, which the caller frees. */
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return log_error_errno(errno, "Failed to duplicate the log descriptor: %m");
        *ret_fd = fd;
        return 0;
}

volatile sig_atomic_t zlctl_interrupted;

static void on_signal(int sig) {
        (void) sig;
        zlctl_interrupted++;
}

/* Without SA_RESTART, waits return EINTR so loops notice. */
void zlctl_signals_catch(ZlctlSignalGuard *g) {
        struct sigaction sa = { .sa_handler = on_signal };

        zlctl_interrupted = 0;
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, &g->old_int);
        (void) sigaction(SIGTERM, &sa, &g->old_term);
}

void zlctl_signals_restore(ZlctlSignalGuard *g) {
        (void) sigaction(SIGINT, &g->old_int, NULL);
        (void) sigaction(SIGTERM, &g->old_term, NULL);
}
