/* SPDX-License-Identifier: Apache-2.0 */
/* io-loop: an HTTP/1.1 keep-alive relay on epoll or io_uring, for scripts/bench/io-loop */

/*
 * Each accepted client gets its own persistent keep-alive connection to the backend (the pooled
 * pattern of zl-proxyd). A connection runs one step at a time: read a request head from the
 * client, write it to the backend, read the response (head + Content-Length body), write it to
 * the client, repeat. The HTTP logic (conn_next/conn_received/conn_done) and the 64 KiB
 * per-connection buffers are shared; the loops differ only in how the I/O is performed:
 *   epoll        tries the syscall now and waits for readiness on EAGAIN (edge-triggered, both
 *                fds registered once, so no epoll_ctl per request);
 *   uring        multishot accept; each socket armed once with a multishot recv into a provided
 *                buffer ring (16 KiB buffers, copied into the connection's buffer); send SQEs;
 *   uring-plain  one recv SQE into the connection's buffer per read, send SQEs.
 * Both io_uring modes use SINGLE_ISSUER | DEFER_TASKRUN when the kernel has them.
 *
 * Usage: io-loop --mode epoll|uring|uring-plain --listen PORT --backend PORT
 * On SIGTERM/SIGINT it prints "requests N syscalls N open N" (syscalls made by the loop itself:
 * reads, writes and epoll_wait for epoll, io_uring_enter calls for io_uring; connections still
 * open) to stderr and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64U * 1024U)
#define BATCH 256
#define RING_ENTRIES 1024

enum { STEP_RECV_CLIENT, STEP_SEND_BACKEND, STEP_RECV_BACKEND, STEP_SEND_CLIENT };

typedef struct Conn {
        int cfd, bfd;
        int step;
        bool dead;
        /* Client bytes: a request head (and anything pipelined after it). */
        char *cbuf;
        size_t clen, head_len, sent_req;
        /* Backend bytes of the response in flight. */
        char *bbuf;
        size_t blen, sent_resp;
        size_t resp_total; /* 0 until the response head is parsed */
        size_t resp_done; /* response bytes forwarded so far */
        struct Conn *next_dead;
        /* io_uring with multishot receives: operations in flight, a send among them, backend
         * bytes not yet looked at, and shutting down (freed once nothing is in flight). */
        unsigned inflight;
        bool send_busy, b_pending, closing;
} Conn;

static volatile sig_atomic_t stop;
static unsigned long long n_requests, n_syscalls, n_open;
static int backend_port;

static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

static size_t find_head_end(const char *p, size_t n) {
        const char *e = memmem(p, n, "\r\n\r\n", 4);
        return e ? (size_t) (e - p) + 4 : 0;
}

/* Total length of a response whose head is in p[0..n), or 0 if the head is incomplete, -1 if it
 * has no Content-Length (not supported by this relay: the connection is closed). */
static ssize_t response_length(const char *p, size_t n) {
        size_t head = find_head_end(p, n);
        if (head == 0)
                return 0;
        for (const char *l = memchr(p, '\n', head); l && l < p + head;
             l = memchr(l, '\n', p + head - l)) {
                l++;
                if ((size_t) (p + head - l) > 15 && strncasecmp(l, "content-length:", 15) == 0)
                        return (ssize_t) (head + strtoul(l + 15, NULL, 10));
        }
        return -1;
}

/* What the connection needs next, given the bytes it holds. Returns the step. */
static int conn_next(Conn *c) {
        if (c->step == STEP_RECV_CLIENT) {
                c->head_len = find_head_end(c->cbuf, c->clen);
                if (c->head_len > 0) {
                        c->sent_req = 0;
                        c->step = STEP_SEND_BACKEND;
                }
        }
        return c->step;
}

/* Bytes are in the buffer of the current receive step: act on them. Returns -1 to close. */
static int conn_received(Conn *c) {
        if (c->step == STEP_RECV_CLIENT) {
                if (c->clen == BUF_SIZE && find_head_end(c->cbuf, c->clen) == 0)
                        return -1; /* head too large */
                return 0;
        }
        if (c->resp_total == 0) {
                ssize_t t = response_length(c->bbuf, c->blen);
                if (t < 0)
                        return -1;
                if (t == 0)
                        return c->blen == BUF_SIZE ? -1 : 0;
                c->resp_total = (size_t) t;
        }
        c->sent_resp = 0;
        c->step = STEP_SEND_CLIENT;
        return 0;
}

/* A step moved n > 0 bytes. Returns 0, or -1 when the connection must close. */
static int conn_done(Conn *c, size_t n) {
        switch (c->step) {
        case STEP_RECV_CLIENT:
                c->clen += n;
                return conn_received(c);
        case STEP_RECV_BACKEND:
                c->blen += n;
                return conn_received(c);
        case STEP_SEND_BACKEND:
                c->sent_req += n;
                if (c->sent_req == c->head_len) {
                        /* blen stays: bytes of the backend may already be here (multishot). */
                        c->sent_resp = c->resp_total = c->resp_done = 0;
                        c->step = STEP_RECV_BACKEND;
                }
                break;
        case STEP_SEND_CLIENT:
                c->sent_resp += n;
                if (c->sent_resp < c->blen)
                        break;
                c->resp_done += c->blen;
                c->blen = 0;
                if (c->resp_done < c->resp_total) {
                        c->step = STEP_RECV_BACKEND;
                        break;
                }
                /* Response complete: drop the request, keep what the client pipelined. */
                n_requests++;
                memmove(c->cbuf, c->cbuf + c->head_len, c->clen - c->head_len);
                c->clen -= c->head_len;
                c->step = STEP_RECV_CLIENT;
                break;
        }
        return 0;
}

/* The I/O of the current step: fd, buffer and length. recv steps fill, send steps drain. */
static void conn_io(Conn *c, int *fd, char **p, size_t *len, bool *is_send) {
        switch (c->step) {
        case STEP_RECV_CLIENT:
                *fd = c->cfd, *p = c->cbuf + c->clen, *len = BUF_SIZE - c->clen, *is_send = false;
                break;
        case STEP_SEND_BACKEND:
                *fd = c->bfd, *p = c->cbuf + c->sent_req, *len = c->head_len - c->sent_req;
                *is_send = true;
                break;
        case STEP_RECV_BACKEND: {
                /* Never read past this response: the backend sends nothing unasked anyway. */
                size_t want = c->resp_total ? c->resp_total - c->resp_done - c->blen : BUF_SIZE;
                *fd = c->bfd, *p = c->bbuf + c->blen;
                *len = want < BUF_SIZE - c->blen ? want : BUF_SIZE - c->blen;
                *is_send = false;
                break;
        }
        default:
                *fd = c->cfd, *p = c->bbuf + c->sent_resp, *len = c->blen - c->sent_resp;
                *is_send = true;
                break;
        }
}

static Conn *conn_new(int cfd) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(backend_port) };
        int one = 1;
        Conn *c;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->cfd = cfd;
        c->cbuf = malloc(BUF_SIZE);
        c->bbuf = malloc(BUF_SIZE);
        /* Connecting is set-up, not the measured path: a blocking connect on loopback, both modes.
         */
        c->bfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (!c->cbuf || !c->bbuf || c->bfd < 0 ||
            connect(c->bfd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (c->bfd >= 0)
                        close(c->bfd);
                free(c->cbuf);
                free(c->bbuf);
                free(c);
                return NULL;
        }
        (void) setsockopt(c->bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        n_open++;
        return c;
}

static void conn_free(Conn *c) {
        n_open--;
        close(c->cfd);
        close(c->bfd);
        free(c->cbuf);
        free(c->bbuf);
        free(c);
}

/* ---- epoll --------------------------------------------------------------------------------- */

/* Runs the connection's steps until one would block. Returns -1 when it must close. */
static int epoll_drive(Conn *c) {
        for (;;) {
                bool is_send;
                size_t len;
                ssize_t n;
                char *p;
                int fd;

                conn_next(c);
                conn_io(c, &fd, &p, &len, &is_send);
                n = is_send ? write(fd, p, len) : read(fd, p, len);
                n_syscalls++;
                if (n < 0)
                        return errno == EAGAIN ? 0 : -1;
                if (n == 0 || conn_done(c, (size_t) n) < 0)
                        return -1;
        }
}

static int run_epoll(int lfd) {
        struct epoll_event evs[BATCH];
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event lev = { .events = EPOLLIN, .data.u64 = 0 };

        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
                return -1;
        while (!stop) {
                Conn *dead = NULL;
                int n = epoll_wait(ep, evs, BATCH, -1);
                n_syscalls++;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                for (int i = 0; i < n; i++) {
                        Conn *c;
                        if (evs[i].data.u64 == 0) {
                                int cfd;
                                while ((cfd = accept4(lfd, NULL, NULL,
                                                      SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                                        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT |
                                                                            EPOLLRDHUP | EPOLLET };
                                        c = conn_new(cfd);
                                        if (!c) {
                                                close(cfd);
                                                continue;
                                        }
                                        (void) fcntl(c->bfd, F_SETFL, O_NONBLOCK);
                                        ev.data.ptr = c;
                                        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->cfd, &ev) < 0 ||
                                            epoll_ctl(ep, EPOLL_CTL_ADD, c->bfd, &ev) < 0) {
                                                conn_free(c);
                                                continue;
                                        }
                                }
                                continue;
                        }
                        c = evs[i].data.ptr;
                        /* Both fds of one connection may report in one batch: free after it. */
                        if (c->dead)
                                continue;
                        if (epoll_drive(c) < 0) {
                                c->dead = true;
                                c->next_dead = dead;
                                dead = c;
                        }
                }
                while (dead) {
                        Conn *next = dead->next_dead;
                        conn_free(dead);
                        dead = next;
                }
        }
        close(ep);
        return 0;
}

/* ---- io_uring ------------------------------------------------------------------------------ */

#define TAG_ACCEPT 1ULL

static bool multishot_accept;

static struct io_uring_sqe *get_sqe(struct io_uring *ring) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        if (!sqe) {
                /* The queue is full: hand it to the kernel to make room. */
                io_uring_submit(ring);
                n_syscalls++;
                sqe = io_uring_get_sqe(ring);
        }
        return sqe;
}

static void uring_queue_accept(struct io_uring *ring, int lfd) {
        struct io_uring_sqe *sqe = get_sqe(ring);
        if (multishot_accept)
                io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
        else
                io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, TAG_ACCEPT);
}

/* Queues the connection's next step: exactly one operation per connection is in flight. */
static void uring_queue_step(struct io_uring *ring, Conn *c) {
        struct io_uring_sqe *sqe = get_sqe(ring);
        bool is_send;
        size_t len;
        char *p;
        int fd;

        conn_next(c);
        conn_io(c, &fd, &p, &len, &is_send);
        if (is_send)
                io_uring_prep_send(sqe, fd, p, len, MSG_NOSIGNAL);
        else
                io_uring_prep_recv(sqe, fd, p, len, 0);
        io_uring_sqe_set_data(sqe, c);
}

/* Multishot receives into a provided buffer ring (kernel 6.0+): each socket is armed once, like
 * an epoll registration, instead of one recv (and poll arming) per read. The data is copied into
 * the connection's buffer, so the HTTP steps stay those of the other modes. */
#define RB_SIZE (16U * 1024U)
#define RB_ENTRIES 256U
#define KIND_STEP 0U
#define KIND_RECV_CLIENT 1U
#define KIND_RECV_BACKEND 2U

static bool use_multishot;
static struct io_uring_buf_ring *buf_ring;
static char *ring_bufs;

static int buf_ring_setup(struct io_uring *ring) {
        size_t sz = RB_ENTRIES * sizeof(struct io_uring_buf);
        struct io_uring_buf_reg reg = { .ring_entries = RB_ENTRIES, .bgid = 0 };
        void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        int r;

        if (m == MAP_FAILED)
                return -errno;
        buf_ring = m;
        io_uring_buf_ring_init(buf_ring);
        reg.ring_addr = (unsigned long) buf_ring;
        r = io_uring_register_buf_ring(ring, &reg, 0);
        if (r < 0)
                return r;
        ring_bufs = malloc((size_t) RB_ENTRIES * RB_SIZE);
        if (!ring_bufs)
                return -ENOMEM;
        for (unsigned i = 0; i < RB_ENTRIES; i++)
                io_uring_buf_ring_add(buf_ring, ring_bufs + (size_t) i * RB_SIZE, RB_SIZE, i,
                                      io_uring_buf_ring_mask(RB_ENTRIES), i);
        io_uring_buf_ring_advance(buf_ring, RB_ENTRIES);
        return 0;
}

static void arm_recv(struct io_uring *ring, Conn *c, unsigned kind) {
        struct io_uring_sqe *sqe = get_sqe(ring);
        io_uring_prep_recv_multishot(sqe, kind == KIND_RECV_CLIENT ? c->cfd : c->bfd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
        io_uring_sqe_set_data64(sqe, (uintptr_t) c | kind);
        c->inflight++;
}

/* Shutting the sockets down ends their multishot receives (and a pending send). */
static void ms_close(Conn *c) {
        if (c->closing)
                return;
        c->closing = true;
        (void) shutdown(c->cfd, SHUT_RDWR);
        (void) shutdown(c->bfd, SHUT_RDWR);
}

/* Queues the send the connection's step needs, or acts on backend bytes already received. */
static int ms_advance(struct io_uring *ring, Conn *c) {
        for (;;) {
                conn_next(c);
                if (c->step == STEP_SEND_BACKEND || c->step == STEP_SEND_CLIENT) {
                        if (!c->send_busy) {
                                uring_queue_step(ring, c);
                                c->send_busy = true;
                                c->inflight++;
                        }
                        return 0;
                }
                if (c->step == STEP_RECV_BACKEND && c->b_pending && c->blen > 0) {
                        c->b_pending = false;
                        if (conn_received(c) < 0)
                                return -1;
                        continue;
                }
                return 0;
        }
}

static void ms_complete(struct io_uring *ring, Conn *c, unsigned kind, struct io_uring_cqe *cqe) {
        int res = cqe->res;

        if (kind == KIND_STEP) {
                c->inflight--;
                c->send_busy = false;
                if (!c->closing &&
                    (res <= 0 || conn_done(c, (size_t) res) < 0 || ms_advance(ring, c) < 0))
                        ms_close(c);
        } else {
                bool client = kind == KIND_RECV_CLIENT;
                if (!(cqe->flags & IORING_CQE_F_MORE))
                        c->inflight--;
                if (res > 0) {
                        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                        char *dst = client ? c->cbuf : c->bbuf;
                        size_t *len = client ? &c->clen : &c->blen;
                        if (!c->closing && *len + (size_t) res <= BUF_SIZE) {
                                memcpy(dst + *len, ring_bufs + (size_t) bid * RB_SIZE,
                                       (size_t) res);
                                *len += (size_t) res;
                                if (client && c->step == STEP_RECV_CLIENT)
                                        res = conn_received(c);
                                else if (!client && c->step == STEP_RECV_BACKEND)
                                        res = conn_received(c);
                                else {
                                        if (!client)
                                                c->b_pending = true;
                                        res = 0;
                                }
                                if (res < 0 || ms_advance(ring, c) < 0)
                                        ms_close(c);
                        } else
                                ms_close(c);
                        io_uring_buf_ring_add(buf_ring, ring_bufs + (size_t) bid * RB_SIZE, RB_SIZE,
                                              bid, io_uring_buf_ring_mask(RB_ENTRIES), 0);
                        io_uring_buf_ring_advance(buf_ring, 1);
                        if (!(cqe->flags & IORING_CQE_F_MORE) && !c->closing)
                                arm_recv(ring, c, kind);
                } else if (res == -ENOBUFS && !c->closing)
                        arm_recv(ring, c, kind); /* the ring ran dry for a moment */
                else
                        ms_close(c);
        }
        if (c->closing && c->inflight == 0)
                conn_free(c);
}

static int run_uring(int lfd, bool multishot_recv) {
        struct io_uring_params params = {
                .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        };
        struct io_uring ring;
        int r;

        /* Task work deferred to our own io_uring_enter is the recommended set-up for a single
         * threaded server (kernel 6.1+); fall back to the defaults on older kernels. */
        r = io_uring_queue_init_params(RING_ENTRIES, &ring, &params);
        if (r < 0) {
                memset(&params, 0, sizeof(params));
                r = io_uring_queue_init_params(RING_ENTRIES, &ring, &params);
                if (r < 0) {
                        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-r));
                        return -1;
                }
        }
        if (multishot_recv) {
                r = buf_ring_setup(&ring);
                if (r < 0)
                        fprintf(stderr, "provided buffer ring: %s, using plain recv\n",
                                strerror(-r));
                use_multishot = r >= 0;
        }
        /* Multishot accept needs 5.19; probe by trying it and watching for -EINVAL. */
        multishot_accept = true;
        uring_queue_accept(&ring, lfd);

        while (!stop) {
                struct io_uring_cqe *cqe;
                unsigned head, seen = 0;

                r = io_uring_submit_and_wait(&ring, 1);
                n_syscalls++;
                if (r < 0) {
                        if (r == -EINTR)
                                continue;
                        fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-r));
                        break;
                }
                io_uring_for_each_cqe(&ring, head, cqe) {
                        seen++;
                        if (cqe->user_data == TAG_ACCEPT) {
                                if (cqe->res == -EINVAL && multishot_accept) {
                                        multishot_accept = false;
                                        uring_queue_accept(&ring, lfd);
                                        continue;
                                }
                                if (cqe->res >= 0) {
                                        Conn *c = conn_new(cqe->res);
                                        if (!c)
                                                close(cqe->res);
                                        else if (use_multishot) {
                                                arm_recv(&ring, c, KIND_RECV_CLIENT);
                                                arm_recv(&ring, c, KIND_RECV_BACKEND);
                                        } else
                                                uring_queue_step(&ring, c);
                                }
                                if (!multishot_accept || !(cqe->flags & IORING_CQE_F_MORE))
                                        uring_queue_accept(&ring, lfd);
                                continue;
                        }
                        if (use_multishot) {
                                ms_complete(&ring, (Conn *) (uintptr_t) (cqe->user_data & ~3ULL),
                                            (unsigned) (cqe->user_data & 3U), cqe);
                                continue;
                        }
                        Conn *c = io_uring_cqe_get_data(cqe);
                        if (cqe->res <= 0 || conn_done(c, (size_t) cqe->res) < 0) {
                                /* Nothing else of this connection is in flight: free it now. */
                                conn_free(c);
                                continue;
                        }
                        uring_queue_step(&ring, c);
                }
                io_uring_cq_advance(&ring, seen);
        }
        io_uring_queue_exit(&ring);
        return 0;
}

int main(int argc, char **argv) {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        struct sigaction sig = { .sa_handler = on_signal };
        const char *mode = NULL;
        int lfd, one = 1, listen_port = 0, r;

        for (int i = 1; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--mode") == 0)
                        mode = argv[i + 1];
                else if (strcmp(argv[i], "--listen") == 0)
                        listen_port = atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--backend") == 0)
                        backend_port = atoi(argv[i + 1]);
        }
        if (!mode ||
            (strcmp(mode, "epoll") != 0 && strcmp(mode, "uring") != 0 &&
             strcmp(mode, "uring-plain") != 0) ||
            listen_port <= 0 || backend_port <= 0) {
                fprintf(stderr,
                        "usage: %s --mode epoll|uring|uring-plain --listen PORT --backend PORT\n",
                        argv[0]);
                return 2;
        }
        /* No SA_RESTART: the signal must interrupt epoll_wait / io_uring_enter. */
        sigaction(SIGTERM, &sig, NULL);
        sigaction(SIGINT, &sig, NULL);
        signal(SIGPIPE, SIG_IGN);

        sa.sin_port = htons(listen_port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (mode[0] == 'e' ? SOCK_NONBLOCK : 0), 0);
        if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 1024) < 0) {
                perror("listen");
                return 1;
        }
        r = mode[0] == 'e' ? run_epoll(lfd) : run_uring(lfd, strcmp(mode, "uring") == 0);
        if (mode[0] == 'u')
                fprintf(stderr, "recv %s, accept %s\n", use_multishot ? "multishot" : "single",
                        multishot_accept ? "multishot" : "single");
        fprintf(stderr, "requests %llu syscalls %llu open %llu\n", n_requests, n_syscalls, n_open);
        close(lfd);
        return r < 0 ? 1 : 0;
}
