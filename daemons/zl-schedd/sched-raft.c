/* SPDX-License-Identifier: Apache-2.0 */
/* sched-raft.c: libraft with the libuv backend on its own thread, fed through a queue. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "fileio.h"
#include "log.h"
#include "sched-raft.h"

#define ALIGN_TO(n, a) (((n) + (a) -1) / (a) * (a))

/* After macro.h: uv.h pulls in sys/param.h, whose MIN/MAX would clash the other way round. */
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

typedef enum CompletionKind {
        COMPLETION_SUBMIT,
        COMPLETION_DONE,
        COMPLETION_CHANGE,
} CompletionKind;

/* What travels back to the owner: allocated with the request (so delivering cannot fail), or
 * by the state machine for a change notification. */
typedef struct Completion {
        struct Completion *next;
        CompletionKind kind;
        SchedRaftSubmitFunc submit_cb;
        SchedRaftDoneFunc done_cb;
        void *userdata;
        int error;
        bool has_result;
        SchedApplyResult result;
        char *cmd; /* COMPLETION_CHANGE */
        uint64_t index;
} Completion;

typedef enum RequestKind {
        REQUEST_SUBMIT,
        REQUEST_BARRIER,
        REQUEST_ADD,
        REQUEST_REMOVE,
} RequestKind;

/* A request from the owner; on the raft thread it lives until raft is done with it and its
 * timer handle is closed. */
typedef struct Request {
        struct Request *next;
        SchedRaft *raft;
        RequestKind kind;
        char *cmd;
        size_t len;
        uint64_t node_id;
        char *address;
        Completion *completion; /* NULL once delivered */
        struct raft_apply apply;
        struct raft_barrier barrier;
        struct raft_change change;
        uv_timer_t timer;
        bool timer_initialized;
} Request;

struct SchedRaft {
        SchedRaftConfig config;
        char *dir;
        char *address;

        /* The raft thread's world. */
        uv_loop_t loop;
        uv_async_t async;
        uv_check_t check;
        struct raft_uv_transport transport;
        struct raft_io io;
        struct raft_fsm fsm;
        struct raft raft;
        bool loop_initialized, transport_initialized, io_initialized, raft_initialized;
        bool closing;
        Request *deferred; /* added servers waiting to be promoted to voters */
        SchedApplyResult last_result; /* of the entry being applied: raft passes a pointer */
        pthread_t thread;
        bool thread_started;

        /* The state; written by the raft thread under the write lock. */
        pthread_rwlock_t state_lock;
        SchedState *state;

        /* Shared between the threads, under mutex. */
        pthread_mutex_t mutex;
        Request *incoming, **incoming_tail;
        Completion *completed, **completed_tail;
        bool stopping;
        bool change_subscribed;
        char *leader_address;
        int event_fd;

        /* Published by the raft thread. */
        atomic_int role;
        atomic_ullong leader_id;
        atomic_ullong applied_index;
        atomic_ullong snapshot_index;
        atomic_uint snapshots_taken, snapshots_restored;

        /* The owner's. */
        SchedRaftChangeFunc change_cb;
        void *change_userdata;
};

static const char *const role_table[_SCHED_RAFT_ROLE_MAX] = {
        [SCHED_RAFT_UNAVAILABLE] = "unavailable",
        [SCHED_RAFT_FOLLOWER] = "follower",
        [SCHED_RAFT_CANDIDATE] = "candidate",
        [SCHED_RAFT_LEADER] = "leader",
};

const char *sched_raft_role_to_string(SchedRaftRole r) {
        return r >= 0 && r < _SCHED_RAFT_ROLE_MAX ? role_table[r] : NULL;
}

static int errno_from_raft(int rv) {
        switch (rv) {
        case 0:
                return 0;
        case RAFT_NOTLEADER:
                return -EREMOTE;
        case RAFT_LEADERSHIPLOST:
                return -ECONNABORTED;
        case RAFT_SHUTDOWN:
        case RAFT_CANCELED:
                return -ESHUTDOWN;
        case RAFT_NOMEM:
                return -ENOMEM;
        case RAFT_TOOBIG:
                return -E2BIG;
        case RAFT_CANTCHANGE:
        case RAFT_BUSY:
                return -EBUSY;
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
                return -EEXIST;
        case RAFT_BADID:
        case RAFT_NOTFOUND:
                return -ENOENT;
        case RAFT_BADROLE:
        case RAFT_INVALID:
        case RAFT_NAMETOOLONG:
                return -EINVAL;
        case RAFT_NOCONNECTION:
                return -ECONNREFUSED;
        case RAFT_NOSPACE:
                return -ENOSPC;
        case RAFT_UNAUTHORIZED:
                return -EACCES;
        default:
                return -EIO;
        }
}

/* ---- the queues ------------------------------------------------------------------------ */

static void completion_free(Completion *c) {
        if (!c)
                return;
        free(c->cmd);
        free(c);
}

static void wake_owner(SchedRaft *r) {
        uint64_t one = 1;

        /* A full counter still wakes the owner; nothing to do about an error here. */
        (void) !write(r->event_fd, &one, sizeof(one));
}

/* Raft thread (and the owner while tearing down, after the raft thread ended). */
static void push_completion(SchedRaft *r, Completion *c) {
        c->next = NULL;
        pthread_mutex_lock(&r->mutex);
        *r->completed_tail = c;
        r->completed_tail = &c->next;
        pthread_mutex_unlock(&r->mutex);
        wake_owner(r);
}

static void request_deliver(Request *q, int error, const SchedApplyResult *result) {
        Completion *c = q->completion;

        if (!c)
                return; /* already timed out */
        q->completion = NULL;
        c->error = error;
        if (result) {
                c->has_result = true;
                c->result = *result;
        }
        push_completion(q->raft, c);
}

static void request_free(Request *q) {
        if (!q)
                return;
        completion_free(q->completion);
        free(q->cmd);
        free(q->address);
        free(q);
}

static void on_request_timer_closed(uv_handle_t *h) {
        request_free(h->data);
}

/* Raft no longer refers to the request: close its timer, then free it. */
static void request_release(Request *q) {
        if (!q->timer_initialized) {
                request_free(q);
                return;
        }
        uv_timer_stop(&q->timer);
        uv_close((uv_handle_t *) &q->timer, on_request_timer_closed);
}

static void request_finish(Request *q, int error) {
        request_deliver(q, error, NULL);
        request_release(q);
}

/* ---- the state machine ------------------------------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
        SchedRaft *r = fsm->data;
        Completion *c = NULL;
        bool subscribed;
        int k;

        pthread_mutex_lock(&r->mutex);
        subscribed = r->change_subscribed;
        pthread_mutex_unlock(&r->mutex);

        pthread_rwlock_wrlock(&r->state_lock);
        k = sched_state_apply(r->state, buf->base, buf->len, &r->last_result);
        pthread_rwlock_unlock(&r->state_lock);
        /* Returning an error stops raft applying entries: right for a state we could not
         * change, wrong for a refusal, which is a deterministic outcome like any other. */
        if (k == -ENOMEM)
                return RAFT_NOMEM;
        *result = &r->last_result;

        if (k >= 0 && subscribed) {
                c = calloc(1, sizeof(Completion));
                if (c) {
                        size_t len = buf->len;

                        /* Without the padding added at submission. */
                        while (len > 0 && ((const char *) buf->base)[len - 1] == ' ')
                                len--;
                        c->cmd = strndup(buf->base, len);
                }
                if (!c || !c->cmd) {
                        completion_free(c);
                        log_debug("Out of memory, dropping a change notification.");
                        return 0;
                }
                c->kind = COMPLETION_CHANGE;
                /* raft sets last_applied after this returns. */
                c->index = raft_last_applied(&r->raft) + 1;
                c->has_result = true;
                c->result = r->last_result;
                push_completion(r, c);
        }
        return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
        SchedRaft *r = fsm->data;
        struct raft_buffer *b;
        char *data;
        size_t len;
        int k;

        pthread_rwlock_rdlock(&r->state_lock);
        k = sched_state_snapshot(r->state, &data, &len);
        pthread_rwlock_unlock(&r->state_lock);
        if (k < 0)
                return RAFT_NOMEM;
        b = calloc(1, sizeof(*b));
        if (!b) {
                free(data);
                return RAFT_NOMEM;
        }
        b->base = data;
        b->len = len;
        *bufs = b;
        *n_bufs = 1;
        atomic_fetch_add(&r->snapshots_taken, 1);
        return 0;
}

/* With snapshot_finalize set (fsm version 2) the buffers stay ours. */
static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                                 unsigned *n_bufs) {
        for (unsigned i = 0; i < *n_bufs; i++)
                free((*bufs)[i].base);
        free(*bufs);
        *bufs = NULL;
        *n_bufs = 0;
        return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
        SchedRaft *r = fsm->data;
        SchedState *s, *old;
        int k;

        k = sched_state_restore(buf->base, buf->len, &s);
        if (k < 0) {
                log_debug_errno(k, "Failed to restore a scheduler state snapshot: %m");
                return k == -ENOMEM ? RAFT_NOMEM : RAFT_MALFORMED;
        }
        pthread_rwlock_wrlock(&r->state_lock);
        old = r->state;
        r->state = s;
        pthread_rwlock_unlock(&r->state_lock);
        sched_state_free(old);
        /* On success the buffer is ours. */
        raft_free(buf->base);
        atomic_fetch_add(&r->snapshots_restored, 1);
        return 0;
}

/* ---- the raft thread ----------------------------------------------------------------------- */

static void on_request_timeout(uv_timer_t *t) {
        Request *q = t->data;

        request_deliver(q, -ETIMEDOUT, NULL);
}

static void request_start_timer(Request *q) {
        bool change = q->kind == REQUEST_ADD || q->kind == REQUEST_REMOVE;

        uv_timer_start(&q->timer, on_request_timeout,
                       change ? q->raft->config.change_timeout_msec
                              : q->raft->config.submit_timeout_msec,
                       0);
}

static void on_apply(struct raft_apply *req, int status, void *result) {
        Request *q = req->data;

        if (status == 0) {
                const SchedApplyResult *res = result;

                request_deliver(q, res->error, res);
        } else
                request_deliver(q, errno_from_raft(status), NULL);
        request_release(q);
}

static void on_barrier(struct raft_barrier *req, int status) {
        request_finish(req->data, errno_from_raft(status));
}

static void on_change_done(struct raft_change *req, int status) {
        request_finish(req->data, errno_from_raft(status));
}

static void on_added(struct raft_change *req, int status) {
        Request *q = req->data;
        SchedRaft *r = q->raft;

        if (status != 0 || r->closing) {
                request_finish(q, status != 0 ? errno_from_raft(status) : -ESHUTDOWN);
                return;
        }
        /* raft still counts this change as running until we return: promote on the next turn. */
        q->next = r->deferred;
        r->deferred = q;
        uv_async_send(&r->async);
}

static void process_request(SchedRaft *r, Request *q) {
        int rv = 0;

        uv_timer_init(&r->loop, &q->timer);
        q->timer.data = q;
        q->timer_initialized = true;

        switch (q->kind) {
        case REQUEST_SUBMIT: {
                /* The disk format stores entries in 8-byte words and takes the length as
                 * given (libraft only asserts it, in debug builds): pad with JSON whitespace,
                 * which the state machine's parser skips. */
                size_t padded = ALIGN_TO(q->len, 8U);
                struct raft_buffer buf = { .base = raft_malloc(padded), .len = padded };

                if (!buf.base) {
                        request_finish(q, -ENOMEM);
                        return;
                }
                memcpy(buf.base, q->cmd, q->len);
                memset((char *) buf.base + q->len, ' ', padded - q->len);
                q->apply.data = q;
                rv = raft_apply(&r->raft, &q->apply, &buf, 1, on_apply);
                if (rv != 0)
                        raft_free(buf.base);
                break;
        }
        case REQUEST_BARRIER:
                q->barrier.data = q;
                rv = raft_barrier(&r->raft, &q->barrier, on_barrier);
                break;
        case REQUEST_ADD:
                q->change.data = q;
                rv = raft_add(&r->raft, &q->change, q->node_id, q->address, on_added);
                break;
        case REQUEST_REMOVE:
                q->change.data = q;
                rv = raft_remove(&r->raft, &q->change, q->node_id, on_change_done);
                break;
        }
        if (rv != 0) {
                log_debug("raft refused a request: %s", raft_strerror(rv));
                request_finish(q, errno_from_raft(rv));
                return;
        }
        request_start_timer(q);
}

static void promote_deferred(SchedRaft *r) {
        Request *list = r->deferred;

        r->deferred = NULL;
        while (list) {
                Request *q = list;
                int rv;

                list = q->next;
                if (r->closing) {
                        request_finish(q, -ESHUTDOWN);
                        continue;
                }
                rv = raft_assign(&r->raft, &q->change, q->node_id, RAFT_VOTER, on_change_done);
                if (rv != 0)
                        request_finish(q, errno_from_raft(rv));
        }
}

static void on_raft_closed(struct raft *raft) {
        SchedRaft *r = raft->data;

        promote_deferred(r); /* fails what raft finished adding meanwhile */
        raft_uv_close(&r->io);
        raft_uv_tcp_close(&r->transport);
        r->io_initialized = r->transport_initialized = false;
        uv_close((uv_handle_t *) &r->async, NULL);
        uv_close((uv_handle_t *) &r->check, NULL);
}

static void begin_close(SchedRaft *r) {
        if (r->closing)
                return;
        r->closing = true;
        atomic_store(&r->role, SCHED_RAFT_UNAVAILABLE);
        raft_close(&r->raft, on_raft_closed);
}

static void on_async(uv_async_t *a) {
        SchedRaft *r = a->data;
        Request *list;
        bool stopping;

        pthread_mutex_lock(&r->mutex);
        list = r->incoming;
        r->incoming = NULL;
        r->incoming_tail = &r->incoming;
        stopping = r->stopping;
        pthread_mutex_unlock(&r->mutex);

        while (list) {
                Request *q = list;

                list = q->next;
                q->next = NULL;
                if (stopping || r->closing)
                        request_finish(q, -ESHUTDOWN);
                else
                        process_request(r, q);
        }
        if (stopping)
                begin_close(r);
        promote_deferred(r);
}

/* After each turn of the loop: publish what the owner may ask about without a round trip. */
static void on_check(uv_check_t *c) {
        SchedRaft *r = c->data;
        const char *address = NULL;
        raft_id id = 0;

        if (r->closing)
                return;
        atomic_store(&r->role, raft_state(&r->raft));
        atomic_store(&r->applied_index, raft_last_applied(&r->raft));
        atomic_store(&r->snapshot_index, r->raft.log.snapshot.last_index);
        raft_leader(&r->raft, &id, &address);
        if (id != atomic_load(&r->leader_id)) {
                char *copy = address ? strdup(address) : NULL;

                pthread_mutex_lock(&r->mutex);
                free(r->leader_address);
                r->leader_address = copy;
                atomic_store(&r->leader_id, id);
                pthread_mutex_unlock(&r->mutex);
        }
}

static void *raft_thread(void *p) {
        SchedRaft *r = p;

        (void) uv_run(&r->loop, UV_RUN_DEFAULT);
        return NULL;
}

/* ---- the owner's side ---------------------------------------------------------------------- */

static int check_config(const SchedRaftConfig *c) {
        if (!c || isempty(c->dir) || c->id == 0 || isempty(c->address))
                return -EINVAL;
        if (strlen(c->address) > 255)
                return -EINVAL;
        return 0;
}

static bool address_in_use(const char *address) {
        _cleanup_free_ char *host = NULL;
        struct sockaddr_in sa = { .sin_family = AF_INET };
        _cleanup_close_ int fd = -EBADF;
        const char *colon = strrchr(address, ':');
        unsigned port;
        int one = 1;

        if (!colon || sscanf(colon + 1, "%u", &port) != 1 || port == 0 || port > 65535)
                return false;
        host = strndup(address, colon - address);
        if (!host || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return false;
        sa.sin_port = htons(port);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        return bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno == EADDRINUSE;
}

/* Closes whatever sched_raft_new() got to, running the loop to completion on this thread. */
static void teardown_loop(SchedRaft *r) {
        if (!r->loop_initialized)
                return;
        if (r->raft_initialized && !r->closing)
                begin_close(r);
        else if (!r->closing) {
                if (r->io_initialized)
                        raft_uv_close(&r->io);
                if (r->transport_initialized)
                        raft_uv_tcp_close(&r->transport);
                uv_close((uv_handle_t *) &r->async, NULL);
                uv_close((uv_handle_t *) &r->check, NULL);
                r->closing = true;
        }
        (void) uv_run(&r->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&r->loop) < 0)
                log_debug("uv loop of the raft thread still has handles at close.");
        r->loop_initialized = false;
}

static void run_completions(SchedRaft *r, Completion *list) {
        while (list) {
                Completion *c = list;

                list = c->next;
                switch (c->kind) {
                case COMPLETION_SUBMIT:
                        if (c->submit_cb)
                                c->submit_cb(r, c->error, c->has_result ? &c->result : NULL,
                                             c->userdata);
                        break;
                case COMPLETION_DONE:
                        if (c->done_cb)
                                c->done_cb(r, c->error, c->userdata);
                        break;
                case COMPLETION_CHANGE:
                        if (r->change_cb)
                                r->change_cb(r, c->cmd, c->index, &c->result, r->change_userdata);
                        break;
                }
                completion_free(c);
        }
}

SchedRaft *sched_raft_free(SchedRaft *r) {
        Request *left;

        if (!r)
                return NULL;
        if (r->thread_started) {
                pthread_mutex_lock(&r->mutex);
                r->stopping = true;
                pthread_mutex_unlock(&r->mutex);
                uv_async_send(&r->async);
                pthread_join(r->thread, NULL);
                r->thread_started = false;
        }
        teardown_loop(r);

        /* Requests the raft thread never took. */
        left = r->incoming;
        r->incoming = NULL;
        while (left) {
                Request *q = left;

                left = q->next;
                request_deliver(q, -ESHUTDOWN, NULL);
                request_free(q);
        }
        (void) sched_raft_dispatch(r);

        free(r->leader_address);
        sched_state_free(r->state);
        pthread_rwlock_destroy(&r->state_lock);
        pthread_mutex_destroy(&r->mutex);
        safe_close(r->event_fd);
        free(r->dir);
        free(r->address);
        return mfree(r);
}

int sched_raft_new(const SchedRaftConfig *config, SchedRaft **ret) {
        _cleanup_(sched_raft_freep) SchedRaft *r = NULL;
        struct raft_configuration conf;
        sigset_t all, saved;
        int k, rv;

        assert(ret);
        k = check_config(config);
        if (k < 0)
                return k;

        r = calloc(1, sizeof(SchedRaft));
        if (!r)
                return -ENOMEM;
        r->event_fd = -EBADF;
        pthread_mutex_init(&r->mutex, NULL);
        pthread_rwlock_init(&r->state_lock, NULL);
        r->incoming_tail = &r->incoming;
        r->completed_tail = &r->completed;
        r->config = *config;
        r->dir = strdup(config->dir);
        r->address = strdup(config->address);
        if (!r->dir || !r->address)
                return -ENOMEM;
        r->config.dir = r->dir;
        r->config.address = r->address;
        if (r->config.election_timeout_msec == 0)
                r->config.election_timeout_msec = 1000;
        if (r->config.heartbeat_timeout_msec == 0)
                r->config.heartbeat_timeout_msec = 100;
        if (r->config.heartbeat_timeout_msec >= r->config.election_timeout_msec)
                return -EINVAL;
        if (r->config.snapshot_threshold == 0)
                r->config.snapshot_threshold = 1024;
        if (r->config.snapshot_trailing == 0)
                r->config.snapshot_trailing = 128;
        if (r->config.submit_timeout_msec == 0)
                r->config.submit_timeout_msec = 10000;
        if (r->config.change_timeout_msec == 0)
                r->config.change_timeout_msec = 60000;

        r->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->event_fd < 0)
                return -errno;
        k = sched_state_new(&r->state);
        if (k < 0)
                return k;
        k = mkdir_p(r->dir, 0700);
        if (k < 0)
                return log_debug_errno(k, "Failed to create '%s': %m", r->dir);

        k = uv_loop_init(&r->loop);
        if (k < 0)
                return k;
        r->loop_initialized = true;
        uv_async_init(&r->loop, &r->async, on_async);
        r->async.data = r;
        uv_check_init(&r->loop, &r->check);
        r->check.data = r;
        uv_check_start(&r->check, on_check);

        rv = raft_uv_tcp_init(&r->transport, &r->loop);
        if (rv != 0)
                return errno_from_raft(rv);
        r->transport_initialized = true;
        rv = raft_uv_init(&r->io, &r->loop, r->dir, &r->transport);
        if (rv != 0)
                return log_debug_errno(errno_from_raft(rv), "raft_uv_init('%s'): %s", r->dir,
                                       r->io.errmsg);
        r->io_initialized = true;
        raft_uv_set_connect_retry_delay(&r->io, MIN(r->config.election_timeout_msec, 1000U));

        r->fsm = (struct raft_fsm){
                .version = 2,
                .data = r,
                .apply = fsm_apply,
                .snapshot = fsm_snapshot,
                .restore = fsm_restore,
                .snapshot_finalize = fsm_snapshot_finalize,
        };
        rv = raft_init(&r->raft, &r->io, &r->fsm, r->config.id, r->address);
        if (rv != 0)
                return log_debug_errno(errno_from_raft(rv), "raft_init: %s", raft_errmsg(&r->raft));
        r->raft_initialized = true;
        r->raft.data = r;
        raft_set_election_timeout(&r->raft, r->config.election_timeout_msec);
        raft_set_heartbeat_timeout(&r->raft, r->config.heartbeat_timeout_msec);
        raft_set_snapshot_threshold(&r->raft, r->config.snapshot_threshold);
        raft_set_snapshot_trailing(&r->raft, r->config.snapshot_trailing);

        if (r->config.bootstrap) {
                raft_configuration_init(&conf);
                rv = raft_configuration_add(&conf, r->config.id, r->address, RAFT_VOTER);
                if (rv == 0)
                        rv = raft_bootstrap(&r->raft, &conf);
                raft_configuration_close(&conf);
                /* Not the first start: the log holds the configuration already. */
                if (rv == RAFT_CANTBOOTSTRAP)
                        rv = 0;
                if (rv != 0)
                        return log_debug_errno(errno_from_raft(rv), "raft_bootstrap: %s",
                                               raft_errmsg(&r->raft));
        }

        rv = raft_start(&r->raft);
        if (rv != 0) {
                k = errno_from_raft(rv);
                /* libraft reports a failed listen as a bare I/O error: say what it was. */
                if (k == -EIO && address_in_use(r->address))
                        k = -EADDRINUSE;
                return log_debug_errno(k, "raft_start: %s", raft_errmsg(&r->raft));
        }
        on_check(&r->check);

        /* The raft thread takes no signals: they belong to the owner's loop, and a peer that
         * went away must give EPIPE on write, not a SIGPIPE that kills the process. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        k = -pthread_create(&r->thread, NULL, raft_thread, r);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (k < 0)
                return k;
        r->thread_started = true;
        *ret = TAKE_PTR(r);
        return 0;
}

int sched_raft_get_fd(SchedRaft *r) {
        return r->event_fd;
}

int sched_raft_dispatch(SchedRaft *r) {
        Completion *list;
        uint64_t v;
        int n = 0;

        (void) !read(r->event_fd, &v, sizeof(v));
        pthread_mutex_lock(&r->mutex);
        list = r->completed;
        r->completed = NULL;
        r->completed_tail = &r->completed;
        pthread_mutex_unlock(&r->mutex);

        for (Completion *c = list; c; c = c->next)
                n++;
        run_completions(r, list);
        return n;
}

static int enqueue(SchedRaft *r, Request *q) {
        pthread_mutex_lock(&r->mutex);
        if (r->stopping || !r->thread_started) {
                pthread_mutex_unlock(&r->mutex);
                request_free(q);
                return -ESHUTDOWN;
        }
        *r->incoming_tail = q;
        r->incoming_tail = &q->next;
        pthread_mutex_unlock(&r->mutex);
        uv_async_send(&r->async);
        return 0;
}

static Request *request_new(SchedRaft *r, RequestKind kind, CompletionKind ckind,
                            SchedRaftSubmitFunc submit_cb, SchedRaftDoneFunc done_cb,
                            void *userdata) {
        Request *q = calloc(1, sizeof(Request));

        if (!q)
                return NULL;
        q->completion = calloc(1, sizeof(Completion));
        if (!q->completion)
                return mfree(q);
        q->raft = r;
        q->kind = kind;
        q->completion->kind = ckind;
        q->completion->submit_cb = submit_cb;
        q->completion->done_cb = done_cb;
        q->completion->userdata = userdata;
        return q;
}

int sched_raft_submit(SchedRaft *r, const char *cmd, SchedRaftSubmitFunc callback, void *userdata) {
        Request *q;
        size_t len;

        assert(r);
        assert(cmd);
        len = strlen(cmd);
        if (len > SCHED_COMMAND_MAX)
                return -E2BIG;
        q = request_new(r, REQUEST_SUBMIT, COMPLETION_SUBMIT, callback, NULL, userdata);
        if (!q)
                return -ENOMEM;
        q->cmd = strdup(cmd);
        if (!q->cmd) {
                request_free(q);
                return -ENOMEM;
        }
        q->len = len;
        return enqueue(r, q);
}

int sched_raft_barrier(SchedRaft *r, SchedRaftDoneFunc callback, void *userdata) {
        Request *q = request_new(r, REQUEST_BARRIER, COMPLETION_DONE, NULL, callback, userdata);

        if (!q)
                return -ENOMEM;
        return enqueue(r, q);
}

int sched_raft_add_node(SchedRaft *r, uint64_t id, const char *address, SchedRaftDoneFunc callback,
                        void *userdata) {
        Request *q;

        if (id == 0 || isempty(address))
                return -EINVAL;
        q = request_new(r, REQUEST_ADD, COMPLETION_DONE, NULL, callback, userdata);
        if (!q)
                return -ENOMEM;
        q->node_id = id;
        q->address = strdup(address);
        if (!q->address) {
                request_free(q);
                return -ENOMEM;
        }
        return enqueue(r, q);
}

int sched_raft_remove_node(SchedRaft *r, uint64_t id, SchedRaftDoneFunc callback, void *userdata) {
        Request *q;

        if (id == 0)
                return -EINVAL;
        q = request_new(r, REQUEST_REMOVE, COMPLETION_DONE, NULL, callback, userdata);
        if (!q)
                return -ENOMEM;
        q->node_id = id;
        return enqueue(r, q);
}

int sched_raft_read(SchedRaft *r, SchedRaftReadFunc fn, void *userdata) {
        assert(r);
        assert(fn);
        pthread_rwlock_rdlock(&r->state_lock);
        fn(r->state, userdata);
        pthread_rwlock_unlock(&r->state_lock);
        return 0;
}

void sched_raft_set_change_callback(SchedRaft *r, SchedRaftChangeFunc callback, void *userdata) {
        r->change_cb = callback;
        r->change_userdata = userdata;
        pthread_mutex_lock(&r->mutex);
        r->change_subscribed = callback != NULL;
        pthread_mutex_unlock(&r->mutex);
}

SchedRaftRole sched_raft_get_role(SchedRaft *r) {
        return atomic_load(&r->role);
}

uint64_t sched_raft_get_leader(SchedRaft *r, char **ret_address) {
        uint64_t id;

        pthread_mutex_lock(&r->mutex);
        id = atomic_load(&r->leader_id);
        if (ret_address)
                *ret_address = id != 0 && r->leader_address ? strdup(r->leader_address) : NULL;
        pthread_mutex_unlock(&r->mutex);
        return id;
}

uint64_t sched_raft_get_applied_index(SchedRaft *r) {
        return atomic_load(&r->applied_index);
}

uint64_t sched_raft_get_snapshot_index(SchedRaft *r) {
        return atomic_load(&r->snapshot_index);
}

unsigned sched_raft_get_snapshots_taken(SchedRaft *r) {
        return atomic_load(&r->snapshots_taken);
}

unsigned sched_raft_get_snapshots_restored(SchedRaft *r) {
        return atomic_load(&r->snapshots_restored);
}
