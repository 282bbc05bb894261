/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-fd-helper.c: reads the descriptors OpenLogs and ExecStream return, for the tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#define BUS_NAME "org.zlayer.Runtime1"
#define OBJECT_PATH "/org/zlayer/Runtime1"
#define INTERFACE "org.zlayer.Runtime1"

static int copy_fd(int in, int out) {
        char buf[65536];

        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : 0;
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(out, buf + off, (size_t) (n - off));
                        if (w < 0)
                                return -errno;
                        off += w;
                }
        }
}

static int fail(const char *what, int r, const sd_bus_error *e) {
        fprintf(stderr, "%s: %s\n", what, e && e->message ? e->message : strerror(-r));
        return EXIT_FAILURE;
}

static int do_logs(sd_bus *bus, const char *id) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int fd, r;

        r = sd_bus_call_method(bus, BUS_NAME, OBJECT_PATH, INTERFACE, "OpenLogs", &e, &reply,
                               "sbxt", id, 0, (int64_t) -1, (uint64_t) 0);
        if (r < 0)
                return fail("OpenLogs", r, &e);
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return fail("OpenLogs reply", r, NULL);
        r = copy_fd(fd, STDOUT_FILENO);
        sd_bus_message_unref(reply);
        return r < 0 ? fail("read", r, NULL) : EXIT_SUCCESS;
}

static int do_exec_stream(sd_bus *bus, const char *id, char **argv) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        const char *exec_id;
        int io, err, code, r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJECT_PATH, INTERFACE, "ExecStream");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", id);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, argv);
        if (r >= 0)
                r = sd_bus_message_append(m, "asa{sv}", 0, 0);
        if (r < 0)
                return fail("message", r, NULL);
        r = sd_bus_call(bus, m, 0, &e, &reply);
        if (r < 0)
                return fail("ExecStream", r, &e);
        r = sd_bus_message_read(reply, "hhs", &io, &err, &exec_id);
        if (r < 0)
                return fail("ExecStream reply", r, NULL);
        if (copy_fd(STDIN_FILENO, io) < 0 || shutdown(io, SHUT_WR) < 0)
                return fail("stdin", -errno, NULL);
        /* Both to stdout, in a fixed order, so the test can compare. */
        if (copy_fd(io, STDOUT_FILENO) < 0 || copy_fd(err, STDOUT_FILENO) < 0)
                return fail("output", -errno, NULL);
        sd_bus_message_unref(m);
        m = NULL;
        r = sd_bus_call_method(bus, BUS_NAME, OBJECT_PATH, INTERFACE, "WaitExec", &e, &m, "s",
                               exec_id);
        if (r < 0)
                return fail("WaitExec", r, &e);
        r = sd_bus_message_read(m, "i", &code);
        if (r < 0)
                return fail("WaitExec reply", r, NULL);
        printf("exit %d\n", code);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        const char *address = getenv("ZLAYER_BUS_ADDRESS");
        sd_bus *bus = NULL;
        int r;

        if (argc < 3 || !address) {
                fprintf(stderr, "usage: ZLAYER_BUS_ADDRESS=... %s logs|exec-stream ID [CMD...]\n",
                        argv[0]);
                return EXIT_FAILURE;
        }
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return fail("bus", r, NULL);
        if (strcmp(argv[1], "logs") == 0)
                r = do_logs(bus, argv[2]);
        else if (strcmp(argv[1], "exec-stream") == 0 && argc > 3)
                r = do_exec_stream(bus, argv[2], argv + 3);
        else
                r = fail(argv[1], -EINVAL, NULL);
        sd_bus_flush_close_unref(bus);
        return r;
}
