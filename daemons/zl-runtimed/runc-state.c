/* SPDX-License-Identifier: Apache-2.0 */
/* runc-state.c: zl-runc's per-container state directory, <root>/<id>/state.json, and status. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "path-util.h"
#include "runc-state.h"
#include "string-util.h"
#include "time-util.h"

/* state.json is ours and small; anything bigger is not one. */
#define STATE_FILE_MAX (1024U * 1024U)

static const char *const status_table[_RUNC_STATUS_MAX] = {
        [RUNC_STATUS_CREATED] = "created",
        [RUNC_STATUS_RUNNING] = "running",
        [RUNC_STATUS_PAUSED] = "paused",
        [RUNC_STATUS_STOPPED] = "stopped",
};

const char *runc_status_to_string(RuncStatus s) {
        if (s < 0 || s >= _RUNC_STATUS_MAX)
                return NULL;
        return status_table[s];
}

RuncState *runc_state_free(RuncState *s) {
        if (!s)
                return NULL;
        free(s->id);
        free(s->bundle);
        free(s->rootfs);
        free(s->cgroup_path);
        json_decref(s->annotations);
        free(s);
        return NULL;
}

bool runc_id_is_valid(const char *id) {
        size_t n;

        if (isempty(id) || streq(id, ".") || streq(id, ".."))
                return false;
        n = strlen(id);
        if (n > 1024)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = id[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr("_+.-", c)))
                        return false;
        }
        return true;
}

char *runc_state_dir(const char *root, const char *id) {
        return path_join(root, id);
}

int runc_state_to_json(const RuncState *s, json_t **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;

        assert(s);
        assert(ret);

        j = json_pack("{s:s, s:I, s:I, s:s, s:s, s:I, s:b}", "id", s->id, "pid",
                      (json_int_t) s->pid, "startTime", (json_int_t) s->start_time, "bundle",
                      s->bundle, "rootfs", s->rootfs, "created", (json_int_t) s->created_nsec,
                      "paused", s->paused);
        if (!j)
                return -ENOMEM;
        if (s->cgroup_path && json_object_set_new(j, "cgroupPath", json_string(s->cgroup_path)) < 0)
                return -ENOMEM;
        if (s->annotations && json_object_set(j, "annotations", s->annotations) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

static int dup_string(const json_t *j, const char *key, bool required, char **ret) {
        const json_t *v = json_object_get(j, key);
        char *s;

        if (!v) {
                if (required)
                        return -EINVAL;
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int get_uint(const json_t *j, const char *key, uint64_t max, uint64_t *ret) {
        const json_t *v = json_object_get(j, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t) json_integer_value(v) > max)
                return -EINVAL;
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

int runc_state_from_json(const json_t *j, RuncState **ret) {
        _cleanup_(runc_state_freep) RuncState *s = NULL;
        const json_t *v;
        uint64_t x;
        int r;

        assert(ret);

        if (!json_is_object(j))
                return -EINVAL;
        s = calloc(1, sizeof(RuncState));
        if (!s)
                return -ENOMEM;
        r = dup_string(j, "id", true, &s->id);
        if (r < 0)
                return r;
        if (!runc_id_is_valid(s->id))
                return -EINVAL;
        r = dup_string(j, "bundle", true, &s->bundle);
        if (r < 0)
                return r;
        r = dup_string(j, "rootfs", true, &s->rootfs);
        if (r < 0)
                return r;
        r = dup_string(j, "cgroupPath", false, &s->cgroup_path);
        if (r < 0)
                return r;
        r = get_uint(j, "pid", INT32_MAX, &x);
        if (r < 0)
                return r;
        if (x == 0)
                return -EINVAL;
        s->pid = (pid_t) x;
        r = get_uint(j, "startTime", INT64_MAX, &s->start_time);
        if (r < 0)
                return r;
        r = get_uint(j, "created", INT64_MAX, &s->created_nsec);
        if (r < 0)
                return r;
        v = json_object_get(j, "paused");
        if (v && !json_is_boolean(v))
                return -EINVAL;
        s->paused = json_is_true(v);
        v = json_object_get(j, "annotations");
        if (v) {
                if (!json_is_object(v))
                        return -EINVAL;
                s->annotations = json_incref((json_t *) v);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int runc_state_save(const char *dir, const RuncState *s) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *text = NULL, *p = NULL;
        int r;

        r = runc_state_to_json(s, &j);
        if (r < 0)
                return r;
        text = json_dumps(j, JSON_COMPACT);
        p = path_join(dir, RUNC_STATE_FILE);
        if (!text || !p)
                return -ENOMEM;
        return write_string_file_atomic(p, text, 0600);
}

int runc_state_load(const char *dir, RuncState **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *text = NULL, *p = NULL;
        size_t size;
        int r;

        p = path_join(dir, RUNC_STATE_FILE);
        if (!p)
                return -ENOMEM;
        r = read_full_file(p, STATE_FILE_MAX, &text, &size);
        if (r < 0)
                return r;
        j = json_loadb(text, size, 0, NULL);
        if (!j)
                return -EINVAL;
        return runc_state_from_json(j, ret);
}

int proc_stat_parse(const char *text, char *ret_state, uint64_t *ret_start_time) {
        const char *p;
        char state;
        uint64_t start;

        assert(text);

        /* The command (field 2) is in parentheses and may hold anything, ')' included: the
         * fields resume after its last ')'. */
        p = strrchr(text, ')');
        if (!p || p[1] != ' ')
                return -EINVAL;
        p += 2;
        state = *p;
        if (state == '\0' || state == ' ')
                return -EINVAL;
        /* Field 3 is the state; skip fields 3..21 to reach 22. */
        for (int field = 3; field < 22; field++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EINVAL;
                p++;
        }
        if (*p < '0' || *p > '9')
                return -EINVAL;
        errno = 0;
        {
                char *end;
                unsigned long long v = strtoull(p, &end, 10);

                if (errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
                        return -EINVAL;
                start = v;
        }
        if (ret_state)
                *ret_state = state;
        if (ret_start_time)
                *ret_start_time = start;
        return 0;
}

int proc_pid_stat(pid_t pid, char *ret_state, uint64_t *ret_start_time) {
        _cleanup_free_ char *text = NULL;
        char p[64];
        int r;

        if (pid <= 0)
                return -ESRCH;
        (void) snprintf(p, sizeof(p), "/proc/%" PRIi32 "/stat", (int32_t) pid);
        r = read_full_file(p, 4096, &text, NULL);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        return proc_stat_parse(text, ret_state, ret_start_time);
}

int proc_pid_is_alive(pid_t pid, uint64_t start_time) {
        uint64_t t;
        char state;
        int r;

        r = proc_pid_stat(pid, &state, &t);
        if (r == -ESRCH)
                return 0;
        if (r < 0)
                return r;
        return t == start_time && state != 'Z' && state != 'X';
}

RuncStatus runc_state_status(const RuncState *s, const char *dir) {
        _cleanup_free_ char *fifo = NULL;

        assert(s);

        if (proc_pid_is_alive(s->pid, s->start_time) <= 0)
                return RUNC_STATUS_STOPPED;
        fifo = path_join(dir, RUNC_EXEC_FIFO);
        if (!fifo)
                return -ENOMEM;
        if (access(fifo, F_OK) >= 0)
                return RUNC_STATUS_CREATED;
        return s->paused ? RUNC_STATUS_PAUSED : RUNC_STATUS_RUNNING;
}

char *runc_format_timestamp(uint64_t nsec, char *buf, size_t len) {
        time_t sec = (time_t) (nsec / NSEC_PER_SEC);
        unsigned frac = (unsigned) (nsec % NSEC_PER_SEC);
        struct tm tm;
        char fbuf[16] = "";
        size_t n;

        if (!gmtime_r(&sec, &tm))
                return NULL;
        if (frac > 0) {
                (void) snprintf(fbuf, sizeof(fbuf), ".%09u", frac);
                for (n = strlen(fbuf); fbuf[n - 1] == '0'; n--)
                        fbuf[n - 1] = '\0';
        }
        if (snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fbuf) >= (int) len)
                return NULL;
        return buf;
}

int runc_state_to_oci_json(const RuncState *s, RuncStatus status, json_t **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        char ts[RUNC_TIMESTAMP_MAX];

        assert(s);
        assert(ret);

        if (!runc_status_to_string(status))
                return -EINVAL;
        if (!runc_format_timestamp(s->created_nsec, ts, sizeof(ts)))
                return -EINVAL;
        j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "ociVersion", RUNC_OCI_VERSION,
                      "id", s->id, "pid", (json_int_t) (status == RUNC_STATUS_STOPPED ? 0 : s->pid),
                      "status", runc_status_to_string(status), "bundle", s->bundle, "rootfs",
                      s->rootfs, "created", ts, "owner", "");
        if (!j)
                return -ENOMEM;
        if (s->annotations && json_object_size(s->annotations) > 0 &&
            json_object_set(j, "annotations", s->annotations) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int runc_state_list(const char *root, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        assert(ret);

        d = opendir(root);
        if (!d && errno != ENOENT)
                return -errno;
        while (d && (errno = 0, de = readdir(d))) {
                if (!runc_id_is_valid(de->d_name) ||
                    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
                        continue;
                r = strv_extend(&l, de->d_name);
                if (r < 0)
                        return r;
        }
        if (d && errno != 0)
                return -errno;
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        qsort(l, strv_length(l), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}
