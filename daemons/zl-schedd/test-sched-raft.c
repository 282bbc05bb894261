/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-raft.c: one server with restart and snapshots, three servers with a leader lost. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "path-util.h"
#include "sched-raft.h"
#include "string-util.h"
#include "tests.h"

/* Short timeouts keep elections well under a second; generous waits keep slow runs (valgrind)
 * from failing on time alone. */
#define ELECTION_MSEC 300U
#define HEARTBEAT_MSEC 50U
#define WAIT_MSEC 60000U

static uint64_t now_msec(void) {
        struct timespec ts;

        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &ts));
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

/* As root, each test binary gets a network namespace of its own with only lo, so tests running
 * in parallel cannot take each other's ports (a port picked below could otherwise become the
 * source port of another process's connection before raft binds it). */
static void isolate_network(void) {
        static bool done = false;
        struct ifreq ifr = { .ifr_name = "lo" };
        int fd;

        if (done)
                return;
        done = true;
        if (unshare(CLONE_NEWNET) < 0)
                return; /* not root: share the host's loopback, start() retries taken ports */
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        ASSERT_OK(ioctl(fd, SIOCGIFFLAGS, &ifr));
        ifr.ifr_flags |= IFF_UP;
        ASSERT_OK(ioctl(fd, SIOCSIFFLAGS, &ifr));
        close(fd);
}

/* A port free on 127.0.0.1 right now: the kernel picks it, we let it go for raft to bind. */
static char *free_address(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        char *a;
        int fd;

        isolate_network();
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
        ASSERT_GT(asprintf(&a, "127.0.0.1:%u", ntohs(sa.sin_port)), 0);
        close(fd);
        return a;
}

/* Waits up to msec for any of the servers' fds and dispatches them all. */
static void pump(SchedRaft **rs, size_t n, unsigned msec) {
        struct pollfd p[8];
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (rs[i])
                        p[k++] =
                                (struct pollfd){ .fd = sched_raft_get_fd(rs[i]), .events = POLLIN };
        (void) poll(p, k, (int) msec);
        for (size_t i = 0; i < n; i++)
                if (rs[i])
                        ASSERT_OK(sched_raft_dispatch(rs[i]));
}

#define WAIT_UNTIL(rs, n, cond)                                                                    \
        do {                                                                                       \
                uint64_t _deadline_ = now_msec() + WAIT_MSEC;                                      \
                while (!(cond)) {                                                                  \
                        if (now_msec() > _deadline_)                                               \
                                test_fail(__FILE__, __LINE__, "Timed out waiting for %s", #cond);  \
                        pump(rs, n, 20);                                                           \
                }                                                                                  \
        } while (0)

static SchedRaft *start_full(const char *dir, uint64_t id, const char *address, bool bootstrap,
                             unsigned threshold, unsigned election_msec, unsigned submit_msec) {
        SchedRaftConfig c = {
                .dir = dir,
                .id = id,
                .address = address,
                .bootstrap = bootstrap,
                .election_timeout_msec = election_msec,
                .heartbeat_timeout_msec = HEARTBEAT_MSEC,
                .snapshot_threshold = threshold,
                .snapshot_trailing = threshold / 4 + 1,
                .submit_timeout_msec = submit_msec,
        };
        SchedRaft *r;
        int k;

        /* Outside a namespace of our own another process may hold the port for a moment. */
        for (unsigned i = 0; (k = sched_raft_new(&c, &r)) == -EADDRINUSE && i < 50; i++)
                (void) usleep(100 * 1000);
        ASSERT_OK(k);
        return r;
}

static SchedRaft *start(const char *dir, uint64_t id, const char *address, bool bootstrap,
                        unsigned threshold) {
        return start_full(dir, id, address, bootstrap, threshold, ELECTION_MSEC, 5000);
}

typedef struct Outcome {
        unsigned done;
        unsigned ok;
        int last_error;
        char last_message[256];
        uint64_t last_revision;
} Outcome;

static void on_submit(SchedRaft *r, int error, const SchedApplyResult *result, void *userdata) {
        Outcome *o = userdata;

        o->done++;
        if (error == 0)
                o->ok++;
        o->last_error = error;
        if (result) {
                ASSERT_EQ(result->error, error);
                (void) snprintf(o->last_message, sizeof(o->last_message), "%s", result->message);
                o->last_revision = result->revision;
        } else
                o->last_message[0] = '\0';
}

static void on_done(SchedRaft *r, int error, void *userdata) {
        Outcome *o = userdata;

        o->done++;
        if (error == 0)
                o->ok++;
        o->last_error = error;
}

typedef struct Changes {
        unsigned n;
        uint64_t last_index;
        bool ordered;
} Changes;

static void on_change(SchedRaft *r, const char *cmd, uint64_t index, const SchedApplyResult *result,
                      void *userdata) {
        Changes *c = userdata;

        ASSERT_TRUE(startswith(cmd, "{\"op\":"));
        ASSERT_EQ(result->error, 0);
        if (index <= c->last_index)
                c->ordered = false;
        c->last_index = index;
        c->n++;
}

static void read_snapshot(const SchedState *s, void *userdata) {
        size_t len;

        ASSERT_OK(sched_state_snapshot(s, (char **) userdata, &len));
}

static char *state_of(SchedRaft *r) {
        char *buf = NULL;

        ASSERT_OK(sched_raft_read(r, read_snapshot, &buf));
        return buf;
}

static void read_revision(const SchedState *s, void *userdata) {
        *(uint64_t *) userdata = sched_state_revision(s);
}

static uint64_t revision_of(SchedRaft *r) {
        uint64_t v = 0;

        ASSERT_OK(sched_raft_read(r, read_revision, &v));
        return v;
}

static const char *const setup_cmds[] = {
        "{\"op\":\"node_upsert\",\"id\":\"n1\",\"address\":\"127.0.0.1:1\",\"time\":1}",
        "{\"op\":\"node_upsert\",\"id\":\"n2\",\"address\":\"127.0.0.1:2\",\"time\":1}",
        ("{\"op\":\"deployment_put\",\"name\":\"app\",\"spec\":\"{\\\"deployment\\\":\\\"app\\\","
         "\\\"services\\\":{\\\"web\\\":{}}}\",\"expected_generation\":0,\"time\":1}"),
};

static void submit_setup(SchedRaft **rs, size_t n, SchedRaft *r) {
        Outcome o = {};

        for (size_t i = 0; i < ELEMENTSOF(setup_cmds); i++)
                ASSERT_OK(sched_raft_submit(r, setup_cmds[i], on_submit, &o));
        WAIT_UNTIL(rs, n, o.done == ELEMENTSOF(setup_cmds));
        ASSERT_EQ(o.ok, ELEMENTSOF(setup_cmds));
}

TEST(one_server_restart_and_snapshots) {
        _cleanup_free_ char *dir = path_join(test_tmpdir(), "raft-one"), *address = free_address();
        _cleanup_free_ char *before = NULL, *after = NULL;
        Changes changes = { .ordered = true };
        SchedRaft *r;
        Outcome o = {}, bad = {}, barrier = {};
        char cmd[256];

        ASSERT_NOT_NULL(dir);
        r = start(dir, 1, address, true, 64);
        sched_raft_set_change_callback(r, on_change, &changes);
        WAIT_UNTIL(&r, 1, sched_raft_get_role(r) == SCHED_RAFT_LEADER);
        ASSERT_EQ(sched_raft_get_leader(r, NULL), 1);
        {
                _cleanup_free_ char *leader = NULL;

                ASSERT_EQ(sched_raft_get_leader(r, &leader), 1);
                ASSERT_STREQ(leader, address);
        }
        ASSERT_STREQ(sched_raft_role_to_string(sched_raft_get_role(r)), "leader");

        submit_setup(&r, 1, r);
        for (unsigned i = 0; i < 1000; i++) {
                if (i % 2 == 0)
                        (void) snprintf(cmd, sizeof(cmd),
                                        "{\"op\":\"replica_put\",\"deployment\":\"app\","
                                        "\"service\":\"web\",\"index\":%u,\"node\":\"n%u\","
                                        "\"state\":\"running\",\"time\":%u}",
                                        i % 50, 1 + i % 2, i);
                else
                        (void) snprintf(cmd, sizeof(cmd),
                                        "{\"op\":\"node_heartbeat\",\"id\":\"n%u\",\"time\":%u}",
                                        1 + i % 2, i);
                ASSERT_OK(sched_raft_submit(r, cmd, on_submit, &o));
        }
        /* A refusal travels back through raft like any outcome, and changes nothing. */
        ASSERT_OK(sched_raft_submit(r, "{\"op\":\"node_heartbeat\",\"id\":\"n9\",\"time\":1}",
                                    on_submit, &bad));
        WAIT_UNTIL(&r, 1, o.done == 1000 && bad.done == 1);
        ASSERT_EQ(o.ok, 1000);
        ASSERT_EQ(o.last_revision, 1003);
        ASSERT_EQ(bad.last_error, -ENOENT);
        ASSERT_TRUE(strstr(bad.last_message, "'n9' does not exist") != NULL);
        ASSERT_EQ(revision_of(r), 1003);
        /* Every applied command was announced, in log order; the refused one was not. */
        ASSERT_EQ(changes.n, 1003);
        ASSERT_TRUE(changes.ordered);
        /* Entry 1 is the bootstrap configuration, then one entry per command. */
        ASSERT_EQ(changes.last_index, 1004);
        ASSERT_GE(sched_raft_get_snapshots_taken(r), 1);
        ASSERT_OK(sched_raft_barrier(r, on_done, &barrier));
        WAIT_UNTIL(&r, 1, barrier.done == 1);
        ASSERT_EQ(barrier.last_error, 0);
        WAIT_UNTIL(&r, 1, sched_raft_get_applied_index(r) >= 1005);
        /* A snapshot is written asynchronously: stopping in the middle would drop it. */
        WAIT_UNTIL(&r, 1, sched_raft_get_snapshot_index(r) >= 64);
        before = state_of(r);
        r = sched_raft_free(r);

        /* The second start does not bootstrap again: the snapshot and the log's tail replay. */
        r = start(dir, 1, address, true, 64);
        ASSERT_EQ(sched_raft_get_snapshots_restored(r), 1);
        WAIT_UNTIL(&r, 1, sched_raft_get_role(r) == SCHED_RAFT_LEADER);
        barrier = (Outcome){};
        ASSERT_OK(sched_raft_barrier(r, on_done, &barrier));
        WAIT_UNTIL(&r, 1, barrier.done == 1);
        ASSERT_EQ(barrier.last_error, 0);
        after = state_of(r);
        ASSERT_STREQ(before, after);
        ASSERT_EQ(revision_of(r), 1003);

        /* And it goes on from there. */
        o = (Outcome){};
        ASSERT_OK(sched_raft_submit(r, "{\"op\":\"node_heartbeat\",\"id\":\"n1\",\"time\":5000}",
                                    on_submit, &o));
        WAIT_UNTIL(&r, 1, o.done == 1);
        ASSERT_EQ(o.last_error, 0);
        ASSERT_EQ(o.last_revision, 1004);
        sched_raft_free(r);
}

TEST(free_runs_owed_callbacks) {
        _cleanup_free_ char *dir = path_join(test_tmpdir(), "raft-free"), *address = free_address();
        SchedRaft *r;
        Outcome o = {};

        r = start(dir, 7, address, true, 64);
        WAIT_UNTIL(&r, 1, sched_raft_get_role(r) == SCHED_RAFT_LEADER);
        for (unsigned i = 0; i < 50; i++)
                ASSERT_OK(sched_raft_submit(r, setup_cmds[0], on_submit, &o));
        sched_raft_free(r);
        /* Each got exactly one outcome: applied, or shut down before it was. */
        ASSERT_EQ(o.done, 50);
}

/* A leader that lost its only peer still leads until its election timeout: a write in that
 * window cannot commit and comes back -ETIMEDOUT, and raft's own late outcome is swallowed. */
TEST(submit_times_out) {
        _cleanup_free_ char *d1 = path_join(test_tmpdir(), "t1"),
                            *d2 = path_join(test_tmpdir(), "t2");
        _cleanup_free_ char *a1 = free_address(), *a2 = free_address();
        SchedRaft *rs[2];
        Outcome add = {}, o = {};
        uint64_t t0;

        rs[0] = start_full(d1, 1, a1, true, 64, 1500, 100);
        rs[1] = start_full(d2, 2, a2, false, 64, 1500, 100);
        WAIT_UNTIL(rs, 2, sched_raft_get_role(rs[0]) == SCHED_RAFT_LEADER);
        ASSERT_OK(sched_raft_add_node(rs[0], 2, a2, on_done, &add));
        WAIT_UNTIL(rs, 2, add.done == 1);
        ASSERT_EQ(add.last_error, 0);
        rs[1] = sched_raft_free(rs[1]);

        t0 = now_msec();
        ASSERT_OK(sched_raft_submit(rs[0], setup_cmds[0], on_submit, &o));
        WAIT_UNTIL(rs, 1, o.done == 1);
        if (o.last_error == -ETIMEDOUT)
                ASSERT_LT(now_msec() - t0, 1500);
        else /* a very slow run (valgrind) may see the leader step down first */
                ASSERT_TRUE(o.last_error == -ECONNABORTED || o.last_error == -EREMOTE);
        /* It stepped down eventually; the request raft still held ended without a second call. */
        WAIT_UNTIL(rs, 1, sched_raft_get_role(rs[0]) != SCHED_RAFT_LEADER);
        pump(rs, 1, 100);
        ASSERT_EQ(o.done, 1);
        ASSERT_EQ(revision_of(rs[0]), 0);
        sched_raft_free(rs[0]);
}

TEST(bad_config) {
        SchedRaftConfig c = { .dir = test_tmpdir(), .id = 0, .address = "127.0.0.1:1" };
        SchedRaft *r = NULL;

        ASSERT_ERROR(sched_raft_new(&c, &r), EINVAL);
        c.id = 1;
        c.address = "";
        ASSERT_ERROR(sched_raft_new(&c, &r), EINVAL);
        c.address = "127.0.0.1:1";
        c.election_timeout_msec = 100;
        c.heartbeat_timeout_msec = 100;
        ASSERT_ERROR(sched_raft_new(&c, &r), EINVAL);
        ASSERT_NULL(r);
}

TEST(address_in_use) {
        _cleanup_free_ char *a = path_join(test_tmpdir(), "a"), *b = path_join(test_tmpdir(), "b");
        _cleanup_free_ char *address = free_address();
        SchedRaftConfig c = { .dir = b, .id = 2, .address = address, .bootstrap = true };
        SchedRaft *r = start(a, 1, address, true, 64), *other = NULL;

        ASSERT_ERROR(sched_raft_new(&c, &other), EADDRINUSE);
        ASSERT_NULL(other);
        sched_raft_free(r);
}

static int find_leader(SchedRaft **rs, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (rs[i] && sched_raft_get_role(rs[i]) == SCHED_RAFT_LEADER)
                        return (int) i;
        return -1;
}

/* Submits on whoever leads until the command is applied, riding out elections. */
static void submit_committed(SchedRaft **rs, size_t n, const char *cmd) {
        uint64_t deadline = now_msec() + WAIT_MSEC;

        for (;;) {
                Outcome o = {};
                int l;

                ASSERT_LT(now_msec(), deadline);
                l = find_leader(rs, n);
                if (l < 0) {
                        pump(rs, n, 20);
                        continue;
                }
                ASSERT_OK(sched_raft_submit(rs[l], cmd, on_submit, &o));
                WAIT_UNTIL(rs, n, o.done == 1);
                if (o.last_error == 0)
                        return;
                /* Lost the lead meanwhile: the command may not be applied; try again. */
                ASSERT_TRUE(o.last_error == -EREMOTE || o.last_error == -ECONNABORTED ||
                            o.last_error == -ETIMEDOUT);
        }
}

TEST(three_servers_lose_the_leader) {
        _cleanup_free_ char *base = path_join(test_tmpdir(), "raft-three");
        char *dirs[3] = {}, *addresses[3] = {};
        SchedRaft *rs[3] = {};
        Outcome adds = {}, follower = {}, last = {};
        uint64_t committed;
        char cmd[256];
        int l, old;

        for (size_t i = 0; i < 3; i++) {
                ASSERT_GT(asprintf(&dirs[i], "%s/%zu", base, i + 1), 0);
                addresses[i] = free_address();
        }
        /* Server 1 bootstraps alone and adds the others as voters. */
        rs[0] = start(dirs[0], 1, addresses[0], true, 128);
        rs[1] = start(dirs[1], 2, addresses[1], false, 128);
        rs[2] = start(dirs[2], 3, addresses[2], false, 128);
        WAIT_UNTIL(rs, 3, sched_raft_get_role(rs[0]) == SCHED_RAFT_LEADER);
        ASSERT_OK(sched_raft_add_node(rs[0], 2, addresses[1], on_done, &adds));
        WAIT_UNTIL(rs, 3, adds.done == 1);
        ASSERT_EQ(adds.last_error, 0);
        ASSERT_OK(sched_raft_add_node(rs[0], 3, addresses[2], on_done, &adds));
        WAIT_UNTIL(rs, 3, adds.done == 2);
        ASSERT_EQ(adds.last_error, 0);
        /* The same id again is refused. */
        ASSERT_OK(sched_raft_add_node(rs[0], 3, addresses[2], on_done, &adds));
        WAIT_UNTIL(rs, 3, adds.done == 3);
        ASSERT_EQ(adds.last_error, -EEXIST);

        submit_setup(rs, 3, rs[0]);
        for (unsigned i = 0; i < 200; i++) {
                (void) snprintf(
                        cmd, sizeof(cmd),
                        "{\"op\":\"replica_put\",\"deployment\":\"app\",\"service\":\"web\","
                        "\"index\":%u,\"node\":\"n1\",\"time\":%u}",
                        i % 20, i);
                submit_committed(rs, 3, cmd);
        }
        committed = 203;
        /* Everyone catches up; followers point at the leader and refuse writes. */
        WAIT_UNTIL(rs, 3, revision_of(rs[1]) == committed && revision_of(rs[2]) == committed);
        l = find_leader(rs, 3);
        ASSERT_GE(l, 0);
        {
                int f = (l + 1) % 3;

                WAIT_UNTIL(rs, 3, sched_raft_get_leader(rs[f], NULL) == (uint64_t) l + 1);
                ASSERT_OK(sched_raft_submit(rs[f], setup_cmds[0], on_submit, &follower));
                WAIT_UNTIL(rs, 3, follower.done == 1);
                ASSERT_EQ(follower.last_error, -EREMOTE);
        }

        /* The leader dies; the other two elect one of them and keep every committed command. */
        old = l;
        rs[old] = sched_raft_free(rs[old]);
        WAIT_UNTIL(rs, 3, (l = find_leader(rs, 3)) >= 0);
        ASSERT_NE(l, old);
        ASSERT_EQ(revision_of(rs[l]), committed);
        for (unsigned i = 0; i < 20; i++) {
                (void) snprintf(cmd, sizeof(cmd),
                                "{\"op\":\"node_heartbeat\",\"id\":\"n2\",\"time\":%u}", 1000 + i);
                submit_committed(rs, 3, cmd);
        }
        committed += 20;
        for (size_t i = 0; i < 3; i++)
                if (rs[i])
                        WAIT_UNTIL(rs, 3, revision_of(rs[i]) == committed);
        /* The dead server leaves the configuration; it cannot leave twice. */
        l = find_leader(rs, 3);
        if (l >= 0) {
                Outcome rm = {};

                ASSERT_OK(sched_raft_remove_node(rs[l], (uint64_t) old + 1, on_done, &rm));
                WAIT_UNTIL(rs, 3, rm.done == 1);
                ASSERT_TRUE(rm.last_error == 0 || rm.last_error == -ECONNABORTED);
                if (rm.last_error == 0) {
                        ASSERT_OK(sched_raft_remove_node(rs[l], (uint64_t) old + 1, on_done, &rm));
                        WAIT_UNTIL(rs, 3, rm.done == 2);
                        ASSERT_TRUE(rm.last_error == -ENOENT || rm.last_error == -EREMOTE);
                }
        }
        {
                _cleanup_free_ char *a = NULL, *b = NULL;
                int x = (old + 1) % 3, y = (old + 2) % 3;

                a = state_of(rs[x]);
                b = state_of(rs[y]);
                ASSERT_STREQ(a, b);
        }

        /* Alone, the survivor cannot commit: a write fails instead of hanging. */
        {
                int survivor = l, other = (l == (old + 1) % 3) ? (old + 2) % 3 : (old + 1) % 3;

                rs[other] = sched_raft_free(rs[other]);
                ASSERT_OK(sched_raft_submit(rs[survivor], setup_cmds[0], on_submit, &last));
                WAIT_UNTIL(rs, 3, last.done == 1);
                ASSERT_TRUE(last.last_error == -EREMOTE || last.last_error == -ECONNABORTED ||
                            last.last_error == -ETIMEDOUT);
                ASSERT_EQ(revision_of(rs[survivor]), committed);
        }

        for (size_t i = 0; i < 3; i++) {
                sched_raft_free(rs[i]);
                free(dirs[i]);
                free(addresses[i]);
        }
}
