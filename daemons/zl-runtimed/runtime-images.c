/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-images.c: zl-runtimed's images: the store, pull and push jobs, containers from images. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "image-ref.h"
#include "log.h"
#include "path-util.h"
#include "registry.h"
#include "runtime-images.h"
#include "runtime-internal.h"
#include "string-util.h"

/* A finished job stays known this long, for Wait() and its properties. */
#define JOB_LINGER_USEC (60 * USEC_PER_SEC)
/* Progress lines per layer at most this often (the last one always). */
#define PROGRESS_INTERVAL_USEC (100 * USEC_PER_MSEC)
#define JOB_LINE_MAX 8192

/* A container pins the manifest it was made from with a tag of this internal repository (tag:
 * its id), so that removing the image's own tags never frees layers a container runs on. */
#define PIN_REPOSITORY "zlayer.local/in-use"

typedef struct JobWaiter JobWaiter;
struct JobWaiter {
        JobWaiter *next;
        image_job_done_t done;
        void *userdata;
};

typedef struct PruneWaiter PruneWaiter;
struct PruneWaiter {
        PruneWaiter *next;
        images_prune_done_t done;
        void *userdata;
};

struct ImageJob {
        Images *images;
        uint64_t id;
        ImageJobKind kind;
        char *ref; /* normalized */
        char *key; /* jobs with the same key share one run */
        char *state;
        /* What the child needs: the platform, credentials and the import path. */
        char *platform;
        char *auth;
        char *path;
        bool insecure;

        pid_t pid;
        int fd;
        sd_event_source *io_source, *child_source, *linger_source;
        char buf[JOB_LINE_MAX];
        size_t n_buf;

        bool finished;
        int result;
        char *digest;
        char *error;
        JobWaiter *waiters;
};

/* A job process and our ends of its pipes. */
typedef struct JobProcess {
        pid_t pid;
        int out_fd; /* its reports */
        int spec_fd; /* its parameters, written once */
} JobProcess;

#define JOB_PROCESS_NULL ((JobProcess){ .out_fd = -EBADF, .spec_fd = -EBADF })
#define TAKE_STRUCT_JOB_PROCESS(p)                                                                 \
        ({                                                                                         \
                JobProcess _p_ = (p);                                                              \
                (p) = JOB_PROCESS_NULL;                                                            \
                _p_;                                                                               \
        })

struct Images {
        Manager *manager;
        JobProcess spare; /* started ahead of the next job */
        sd_event_source *spare_timer; /* ends the spare after a while without jobs */
        char *root; /* <state>/images */
        char *login_file; /* <state>/auth.json */
        char *exe; /* this program, which jobs run as */
        ImageStore *store;
        ImagesCallbacks callbacks;
        void *userdata;
        uint64_t next_job_id;
        ImageJob **jobs;
        size_t n_jobs;
        size_t n_running;
        PruneWaiter *prune_waiters;
        sd_event_source *prune_source;
};

static const char *const job_kind_table[_IMAGE_JOB_KIND_MAX] = {
        [IMAGE_JOB_PULL] = "pull",
        [IMAGE_JOB_PUSH] = "push",
        [IMAGE_JOB_IMPORT] = "import",
        [IMAGE_JOB_EXPORT] = "export",
};

const char *image_job_kind_to_string(ImageJobKind k) {
        return k >= 0 && k < _IMAGE_JOB_KIND_MAX ? job_kind_table[k] : NULL;
}

/* Parses and normalizes ref, or says why not. */
static int ref_normalize(const char *ref, char **ret, char **ret_error) {
        const char *why = NULL;
        int r;

        if (isempty(ref))
                return error_setf(ret_error, -EINVAL, "ref: must not be empty");
        r = image_ref_normalize(ref, ret, &why);
        if (r == -EINVAL)
                return error_setf(ret_error, r, "ref: '%s' is not a valid image reference: %s", ref,
                                  why ?: "malformed");
        return r;
}

/* Store lookups accept a bare manifest digest too. */
static int ref_normalize_store(const char *ref, char **ret, char **ret_error) {
        if (ref && startswith(ref, "sha256:")) {
                char *s;

                if (strlen(ref) != 71 || strspn(ref + 7, "0123456789abcdef") != 64)
                        return error_setf(ret_error, -EINVAL, "ref: '%s' is not a valid digest",
                                          ref);
                s = strdup(ref);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        return ref_normalize(ref, ret, ret_error);
}

static bool is_pin_repository(const char *repository) {
        return streq_ptr(repository, PIN_REPOSITORY);
}

static int pin_ref(const char *container_id, char **ret) {
        char *s = strjoin(PIN_REPOSITORY ":", container_id);

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* The manifest digest ref names in the store. */
static int store_manifest_of(Images *im, const char *ref, char **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *text = NULL;
        const char *id;
        int r;

        r = image_store_inspect(im->store, ref, &text);
        if (r < 0)
                return r;
        j = json_loads(text, 0, NULL);
        id = json_string_value(json_object_get(j, "Id"));
        if (!id)
                return -EBADMSG;
        return (*ret = strdup(id)) ? 0 : -ENOMEM;
}

static const char *container_image_digest(Container *c) {
        return json_string_value(json_object_get(c->options, "image_digest"));
}

/* ---- jobs ---------------------------------------------------------------------------------- */

static void job_waiters_complete(ImageJob *j) {
        while (j->waiters) {
                JobWaiter *w = j->waiters;

                j->waiters = w->next;
                if (w->done)
                        w->done(j->result, j->error, j->digest, w->userdata);
                free(w);
        }
}

static void job_free(ImageJob *j) {
        if (!j)
                return;
        if (j->pid > 0) {
                (void) kill(j->pid, SIGKILL);
                j->child_source = sd_event_source_disable_unref(j->child_source);
                (void) waitpid(j->pid, NULL, 0);
        }
        sd_event_source_disable_unref(j->io_source);
        sd_event_source_disable_unref(j->child_source);
        sd_event_source_disable_unref(j->linger_source);
        safe_close(j->fd);
        free(j->ref);
        free(j->key);
        free(j->state);
        free(j->platform);
        free(j->auth);
        free(j->path);
        free(j->digest);
        free(j->error);
        free(j);
}

static void images_unlink_job(Images *im, ImageJob *j) {
        for (size_t i = 0; i < im->n_jobs; i++)
                if (im->jobs[i] == j) {
                        memmove(im->jobs + i, im->jobs + i + 1,
                                (im->n_jobs - i - 1) * sizeof(ImageJob *));
                        im->n_jobs--;
                        return;
                }
}

static int on_job_linger(sd_event_source *s, uint64_t usec, void *userdata) {
        ImageJob *j = userdata;
        Images *im = j->images;

        (void) s;
        (void) usec;
        if (im->callbacks.job_removed)
                im->callbacks.job_removed(im, j, im->userdata);
        images_unlink_job(im, j);
        job_free(j);
        return 0;
}

static void images_run_prune(Images *im);

static int job_set_state(ImageJob *j, const char *state) {
        Images *im = j->images;
        char *s;

        if (streq_ptr(j->state, state))
                return 0;
        s = strdup(state);
        if (!s)
                return -ENOMEM;
        free_and_replace(j->state, s);
        if (im->callbacks.job_state)
                im->callbacks.job_state(im, j, im->userdata);
        return 0;
}

static void job_handle_line(ImageJob *j, char *line) {
        Images *im = j->images;
        char *arg = strchr(line, ' ');

        if (!arg)
                return;
        *arg++ = 0;
        if (streq(line, "S"))
                (void) job_set_state(j, arg);
        else if (streq(line, "P")) {
                char digest[128];
                uint64_t done, total;

                if (sscanf(arg, "%127s %" SCNu64 " %" SCNu64, digest, &done, &total) == 3 &&
                    im->callbacks.job_progress)
                        im->callbacks.job_progress(im, j, digest, done, total, im->userdata);
        } else if (streq(line, "R")) {
                char *d = strdup(arg);
                if (d)
                        free_and_replace(j->digest, d);
        } else if (streq(line, "E")) {
                char *msg = NULL;
                int e = (int) strtol(arg, &msg, 10);
                char *s = strdup(msg && *msg == ' ' ? msg + 1 : arg);

                j->result = e > 0 && e < 4096 ? -e : -EIO;
                if (s)
                        free_and_replace(j->error, s);
        }
}

static void job_read(ImageJob *j) {
        for (;;) {
                ssize_t n;
                char *nl;

                if (j->fd < 0)
                        return;
                if (j->n_buf >= sizeof(j->buf) - 1)
                        j->n_buf = 0; /* a line too long: drop it rather than stall */
                n = read(j->fd, j->buf + j->n_buf, sizeof(j->buf) - 1 - j->n_buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                log_debug_errno(errno, "Job %" PRIu64 ": read: %m", j->id);
                        return;
                }
                if (n == 0) {
                        j->io_source = sd_event_source_disable_unref(j->io_source);
                        j->fd = safe_close(j->fd);
                        return;
                }
                j->n_buf += (size_t) n;
                j->buf[j->n_buf] = 0;
                while ((nl = memchr(j->buf, '\n', j->n_buf))) {
                        size_t len = (size_t) (nl - j->buf) + 1;

                        *nl = 0;
                        job_handle_line(j, j->buf);
                        memmove(j->buf, j->buf + len, j->n_buf - len);
                        j->n_buf -= len;
                }
        }
}

static int on_job_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) s;
        (void) fd;
        (void) revents;
        job_read(userdata);
        return 0;
}

static void job_finish(ImageJob *j) {
        Images *im = j->images;
        int r;

        j->finished = true;
        assert(im->n_running > 0);
        im->n_running--;
        if (j->result >= 0 && !j->digest) {
                j->result = -EIO;
                if (!j->error)
                        j->error = strdup("the job ended without a result");
        }
        if (j->result < 0 && !j->error)
                (void) asprintf(&j->error, "%s", strerror(-j->result));
        if (j->result < 0)
                log_warning("Image %s of '%s' failed: %s", image_job_kind_to_string(j->kind),
                            j->ref, strna(j->error));
        else
                log_info("Image %s of '%s' done: %s.", image_job_kind_to_string(j->kind), j->ref,
                         j->digest);
        (void) job_set_state(j, j->result < 0 ? "failed" : "done");
        if (im->callbacks.job_finished)
                im->callbacks.job_finished(im, j, im->userdata);
        job_waiters_complete(j);
        r = sd_event_add_time_relative(im->manager->event, &j->linger_source, CLOCK_MONOTONIC,
                                       JOB_LINGER_USEC, 0, on_job_linger, j);
        if (r < 0) {
                log_debug_errno(r, "Failed to keep job %" PRIu64 " around, ignoring: %m", j->id);
                on_job_linger(NULL, 0, j);
        }
        if (im->n_running == 0 && im->prune_waiters)
                images_run_prune(im);
}

static int on_job_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        ImageJob *j = userdata;

        (void) s;
        j->pid = 0;
        j->child_source = sd_event_source_disable_unref(j->child_source);
        /* The child has written everything it will: take it all before deciding. */
        job_read(j);
        if (si->si_code != CLD_EXITED || si->si_status != 0) {
                if (j->result >= 0)
                        j->result = -EIO;
                if (!j->error)
                        (void) asprintf(&j->error, "the %s process %s %d",
                                        image_job_kind_to_string(j->kind),
                                        si->si_code == CLD_EXITED ? "exited with"
                                                                  : "was killed by signal",
                                        si->si_status);
        }
        job_finish(j);
        return 0;
}

/* ---- the job's child process ------------------------------------------------------------- */

typedef struct ChildOutput {
        int fd;
        usec_t last;
} ChildOutput;

_printf_(2, 3) static void child_say(int fd, const char *format, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, format);
        n = vasprintf(&s, format, ap);
        va_end(ap);
        if (n < 0)
                return;
        /* One line per message and none with a newline inside. */
        for (char *p = s; *p; p++)
                if (*p == '\n' && p[1])
                        *p = ' ';
        (void) loop_write(fd, s, (size_t) n);
}

static void child_progress(const char *digest, uint64_t done, uint64_t total, void *userdata) {
        ChildOutput *out = userdata;
        usec_t t = now(CLOCK_MONOTONIC);

        if (done < total && t < out->last + PROGRESS_INTERVAL_USEC)
                return;
        out->last = t;
        child_say(out->fd, "P %s %" PRIu64 " %" PRIu64 "\n", digest, done, total);
}

/* A Docker config document with one login, in an anonymous file readable only by us: how an
 * "auth" option reaches the registry client. */
static int child_auth_file(const char *domain, const char *userpass, int *ret_fd) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *b64 = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(userpass);

        b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (!b64)
                return -ENOMEM;
        EVP_EncodeBlock((unsigned char *) b64, (const unsigned char *) userpass, (int) n);
        j = json_pack("{s{s{ss}}}", "auths", domain, "auth", b64);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!text)
                return -ENOMEM;
        fd = memfd_create("zl-auth", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0600) < 0)
                return -errno;
        if (loop_write(fd, text, strlen(text)) < 0)
                return -EIO;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* What the job process is told, through a memfd (credentials never go on a command line). */
typedef struct JobSpec {
        ImageJobKind kind;
        const char *ref, *platform, *auth, *path;
        bool insecure;
} JobSpec;

typedef struct ChildContext {
        const JobSpec *job;
        const char *root;
        const char *login_file;
        ChildOutput out;
        ImageRef *ref;
        RegistryClient *client;
        ImageStore *store;
        int auth_fd;
} ChildContext;

static int child_client(ChildContext *cx, char **ret_error) {
        const JobSpec *j = cx->job;
        char *insecure[2] = { cx->ref->domain, NULL };
        char *auth_files[2] = { (char *) cx->login_file, NULL };
        char auth_path[64];
        RegistryOptions o = {
                .login_file = cx->login_file,
                .insecure = j->insecure ? insecure : NULL,
                .platform = j->platform,
        };
        int r;

        if (j->auth) {
                r = child_auth_file(cx->ref->domain, j->auth, &cx->auth_fd);
                if (r < 0)
                        return error_setf(ret_error, r, "cannot pass the credentials: %s",
                                          strerror(-r));
                snprintf(auth_path, sizeof auth_path, "/proc/self/fd/%d", cx->auth_fd);
                o.login_file = auth_path;
                o.auth_files = auth_files;
        }
        r = registry_client_new(&o, &cx->client);
        if (r < 0)
                return error_setf(ret_error, r, "%s: cannot set up the registry client: %s", j->ref,
                                  strerror(-r));
        return 0;
}

static int child_store_blob(ImageStore *store, const char *digest, const void *data, size_t size) {
        _cleanup_(image_blob_writer_freep) ImageBlobWriter *w = NULL;
        int r;

        r = image_store_has_blob(store, digest);
        if (r != 0)
                return r < 0 ? r : 0;
        r = image_store_blob_begin(store, digest, &w);
        if (r < 0)
                return r;
        r = loop_write(image_blob_writer_fd(w), data, size);
        if (r < 0)
                return r;
        return image_store_blob_commit(store, w);
}

/* Layers are unpacked while the others still download: worker threads, each with an ImageStore
 * of its own (one may not be shared between threads), take the next layer whose blob has been
 * committed. Their errors are not reported: image_store_add_image() unpacks whatever is missing
 * and says why it cannot. */
#define UNPACK_WORKERS_MAX 4U
#define UNPACK_POLL_USEC (5 * USEC_PER_MSEC)

typedef struct Unpacker {
        const char *root;
        size_t n;
        const char **blobs, **diff_ids;
        bool *taken;
        bool stop; /* the downloads are over (or failed): take what is there, then end */
        pthread_mutex_t lock;
        pthread_cond_t cond;
} Unpacker;

static void *unpack_worker(void *userdata) {
        Unpacker *u = userdata;
        _cleanup_(image_store_closep) ImageStore *s = NULL;

        if (image_store_open(u->root, &s) < 0)
                return NULL;
        for (;;) {
                ssize_t next = -1;
                bool stop;

                pthread_mutex_lock(&u->lock);
                for (size_t i = 0; next < 0 && i < u->n; i++)
                        if (!u->taken[i] && image_store_has_blob(s, u->blobs[i]) > 0) {
                                u->taken[i] = true;
                                next = (ssize_t) i;
                        }
                stop = u->stop;
                if (next < 0 && !stop) {
                        struct timespec ts;

                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += UNPACK_POLL_USEC * 1000;
                        if (ts.tv_nsec >= 1000000000) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000;
                        }
                        (void) pthread_cond_timedwait(&u->cond, &u->lock, &ts);
                }
                pthread_mutex_unlock(&u->lock);
                if (next >= 0) {
                        if (image_store_layer_unpack(s, u->blobs[next], u->diff_ids[next], NULL) <
                            0)
                                return NULL;
                } else if (stop)
                        return NULL;
        }
}

static unsigned unpack_workers_count(size_t n_layers) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t n = MIN((size_t) MAX(cpus, 1L), (size_t) UNPACK_WORKERS_MAX);

        return (unsigned) MIN(n, n_layers);
}

static int child_pull(ChildContext *cx, char **ret_digest, char **ret_error) {
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_free_ const char **digests = NULL;
        _cleanup_free_ uint64_t *sizes = NULL;
        _cleanup_free_ char *blobs = NULL, *record = NULL, *repo = NULL, *msg = NULL;
        _cleanup_close_ int blobs_fd = -EBADF;
        const JobSpec *j = cx->job;
        int r;

        child_say(cx->out.fd, "S resolving\n");
        r = child_client(cx, ret_error);
        if (r < 0)
                return r;
        r = registry_resolve(cx->client, cx->ref, &img, &msg);
        if (r < 0)
                return error_setf(ret_error, r, "%s", msg ?: strerror(-r));

        digests = calloc(img->n_layers + 1, sizeof(char *));
        sizes = calloc(img->n_layers + 1, sizeof(uint64_t));
        if (!digests || !sizes)
                return -ENOMEM;
        for (size_t i = 0; i < img->n_layers; i++) {
                digests[i] = img->layers[i].digest;
                sizes[i] = img->layers[i].size;
                child_say(cx->out.fd, "P %s 0 %" PRIu64 "\n", digests[i], sizes[i]);
        }

        /* Layers go straight into the store's blob directory: the client verifies each and
         * renames it into place only then, which is what committing a blob means. */
        child_say(cx->out.fd, "S downloading\n");
        blobs = path_join(cx->root, "blobs/sha256");
        if (!blobs)
                return -ENOMEM;
        blobs_fd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (blobs_fd < 0)
                return error_setf(ret_error, -errno, "%s: cannot open '%s': %m", j->ref, blobs);
        r = child_store_blob(cx->store, img->manifest_digest, img->manifest, img->manifest_size);
        if (r >= 0)
                r = child_store_blob(cx->store, img->config_desc.digest, img->config,
                                     img->config_size);
        if (r < 0)
                return error_setf(ret_error, r, "%s: cannot store the manifest and config: %s",
                                  j->ref, strerror(-r));
        {
                _cleanup_(json_decrefp) json_t *config =
                        json_loadb(img->config, img->config_size, 0, NULL);
                json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
                _cleanup_free_ const char **diff_ids = calloc(img->n_layers + 1, sizeof(char *));
                _cleanup_free_ bool *taken = calloc(img->n_layers + 1, sizeof(bool));
                Unpacker u = {
                        .root = cx->root,
                        .n = img->n_layers,
                        .blobs = digests,
                        .diff_ids = diff_ids,
                        .taken = taken,
                        .lock = PTHREAD_MUTEX_INITIALIZER,
                        .cond = PTHREAD_COND_INITIALIZER,
                };
                pthread_t workers[UNPACK_WORKERS_MAX];
                unsigned n_workers = 0;

                if (!diff_ids || !taken)
                        return -ENOMEM;
                for (size_t i = 0; i < img->n_layers; i++)
                        diff_ids[i] = json_string_value(json_array_get(ids, i));
                /* A config that does not match is image_store_add_image()'s to report. */
                if (json_array_size(ids) == img->n_layers &&
                    strv_length((char **) diff_ids) == img->n_layers)
                        for (unsigned k = 0; k < unpack_workers_count(img->n_layers); k++)
                                if (pthread_create(&workers[n_workers], NULL, unpack_worker, &u) ==
                                    0)
                                        n_workers++;
                r = registry_fetch_blobs(cx->client, cx->ref, digests, sizes, blobs_fd,
                                         child_progress, &cx->out, &msg);
                pthread_mutex_lock(&u.lock);
                u.stop = true;
                /* A failed pull leaves nothing to unpack: let the workers finish their layer. */
                if (r < 0)
                        for (size_t i = 0; i < u.n; i++)
                                u.taken[i] = true;
                pthread_cond_broadcast(&u.cond);
                pthread_mutex_unlock(&u.lock);
                if (r >= 0)
                        child_say(cx->out.fd, "S unpacking\n");
                for (unsigned k = 0; k < n_workers; k++)
                        (void) pthread_join(workers[k], NULL);
        }
        if (r < 0)
                return error_setf(ret_error, r, "%s", msg ?: strerror(-r));
        /* Blobs the store had already were not fetched and reported nothing: complete. */
        for (size_t i = 0; i < img->n_layers; i++)
                child_say(cx->out.fd, "P %s %" PRIu64 " %" PRIu64 "\n", digests[i], sizes[i],
                          sizes[i]);

        /* Pulled by the digest of an index: the store knows the platform's manifest. */
        if (cx->ref->digest && !streq(cx->ref->digest, img->manifest_digest)) {
                repo = image_ref_repository(cx->ref);
                record = repo ? strjoin(repo, "@", img->manifest_digest) : NULL;
        } else
                record = strdup(j->ref);
        if (!record)
                return -ENOMEM;
        child_say(cx->out.fd, "S unpacking\n");
        r = image_store_add_image(cx->store, record, img->manifest_digest, &msg);
        if (r < 0)
                return error_setf(ret_error, r, "%s", msg ?: strerror(-r));
        return (*ret_digest = strdup(img->manifest_digest)) ? 0 : -ENOMEM;
}

static int child_push(ChildContext *cx, char **ret_digest, char **ret_error) {
        _cleanup_(json_decrefp) json_t *inspect = NULL, *manifest_json = NULL;
        _cleanup_free_ char *text = NULL, *manifest = NULL, *blobs = NULL, *msg = NULL;
        _cleanup_close_ int fd = -EBADF, blobs_fd = -EBADF;
        RegistryPushOptions po = {};
        const JobSpec *j = cx->job;
        const char *id, *media_type;
        size_t size;
        int r;

        child_say(cx->out.fd, "S pushing\n");
        r = image_store_inspect(cx->store, j->ref, &text);
        if (r == -ENOENT)
                return error_setf(ret_error, r, "No such image '%s'.", j->ref);
        if (r < 0)
                return r;
        inspect = json_loads(text, 0, NULL);
        id = json_string_value(json_object_get(inspect, "Id"));
        if (!id)
                return -EBADMSG;
        fd = image_store_blob_open(cx->store, id);
        if (fd < 0)
                return error_setf(ret_error, fd, "%s: manifest %s: %s", j->ref, id, strerror(-fd));
        r = read_full_fd(fd, 4 * 1024 * 1024, &manifest, &size);
        if (r < 0)
                return r;
        manifest_json = json_loadb(manifest, size, 0, NULL);
        media_type = json_string_value(json_object_get(manifest_json, "mediaType"));
        if (!media_type)
                media_type = REGISTRY_MEDIA_OCI_MANIFEST;
        r = child_client(cx, ret_error);
        if (r < 0)
                return r;
        blobs = path_join(cx->root, "blobs/sha256");
        if (!blobs)
                return -ENOMEM;
        blobs_fd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (blobs_fd < 0)
                return -errno;
        r = registry_push(cx->client, cx->ref, blobs_fd, manifest, size, media_type, &po,
                          ret_digest, &msg);
        if (r < 0)
                return error_setf(ret_error, r, "%s", msg ?: strerror(-r));
        return 0;
}

static int child_import(ChildContext *cx, char **ret_digest, char **ret_error) {
        _cleanup_free_ char *msg = NULL;
        const JobSpec *j = cx->job;
        int r;

        child_say(cx->out.fd, "S importing\n");
        r = image_store_import(cx->store, j->path, isempty(j->ref) ? NULL : j->ref, NULL,
                               ret_digest, &msg);
        if (r < 0)
                return error_setf(ret_error, r, "%s: %s", j->path, msg ?: strerror(-r));
        return 0;
}

static int child_export(ChildContext *cx, char **ret_digest, char **ret_error) {
        _cleanup_free_ char *msg = NULL;
        const JobSpec *j = cx->job;
        int r;

        child_say(cx->out.fd, "S exporting\n");
        r = image_store_export(cx->store, j->ref, j->path,
                               endswith(j->path, ".tar") ? IMAGE_EXPORT_ARCHIVE
                                                         : IMAGE_EXPORT_OCI_LAYOUT,
                               ret_digest, &msg);
        if (r < 0)
                return error_setf(ret_error, r, "%s", msg ?: strerror(-r));
        return 0;
}

static int child_run(const JobSpec *j, const char *root, const char *login_file, int fd) {
        _cleanup_free_ char *digest = NULL, *error = NULL;
        ChildContext cx = {
                .job = j,
                .root = root,
                .login_file = login_file,
                .out = { .fd = fd },
                .auth_fd = -EBADF,
        };
        int r;

        /* Imports and exports take names the store resolves (a bare digest, or none). */
        r = j->kind == IMAGE_JOB_PULL || j->kind == IMAGE_JOB_PUSH
                    ? image_ref_parse(j->ref, &cx.ref, NULL)
                    : 0;
        if (r >= 0)
                r = image_store_open(root, &cx.store);
        if (r >= 0) {
                if (j->kind == IMAGE_JOB_PULL)
                        r = child_pull(&cx, &digest, &error);
                else if (j->kind == IMAGE_JOB_PUSH)
                        r = child_push(&cx, &digest, &error);
                else if (j->kind == IMAGE_JOB_EXPORT)
                        r = child_export(&cx, &digest, &error);
                else
                        r = child_import(&cx, &digest, &error);
        }
        if (r < 0)
                child_say(fd, "E %d %s\n", -r, error ?: strerror(-r));
        else
                child_say(fd, "R %s\n", digest);
        registry_client_free(cx.client);
        image_store_close(cx.store);
        image_ref_free(cx.ref);
        safe_close(cx.auth_fd);
        return r;
}

int images_job_main(void) {
        _cleanup_(json_decrefp) json_t *spec = NULL;
        _cleanup_free_ char *text = NULL;
        const char *kind = NULL, *root = NULL, *login_file = NULL;
        JobSpec j = {};
        int insecure = 0, r;
        size_t size;

        r = read_full_fd(IMAGE_JOB_SPEC_FD, 1024 * 1024, &text, &size);
        if (r < 0)
                return EXIT_FAILURE;
        (void) close(IMAGE_JOB_SPEC_FD);
        spec = json_loadb(text, size, 0, NULL);
        if (!spec || json_unpack(spec, "{ss ss ss ss s?s s?s s?s sb}", "kind", &kind, "ref", &j.ref,
                                 "root", &root, "login_file", &login_file, "platform", &j.platform,
                                 "auth", &j.auth, "path", &j.path, "insecure", &insecure) < 0)
                return EXIT_FAILURE;
        j.insecure = insecure;
        j.kind = streq(kind, "pull")     ? IMAGE_JOB_PULL
                 : streq(kind, "push")   ? IMAGE_JOB_PUSH
                 : streq(kind, "export") ? IMAGE_JOB_EXPORT
                                         : IMAGE_JOB_IMPORT;
        r = child_run(&j, root, login_file, IMAGE_JOB_OUT_FD);
        if (j.auth)
                explicit_bzero((char *) j.auth, strlen(j.auth));
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The job's parameters, as the job process reads them. */
static int job_spec_text(ImageJob *j, char **ret) {
        Images *im = j->images;
        _cleanup_(json_decrefp) json_t *spec = NULL;
        char *text;

        spec = json_pack("{ss ss ss ss ss* ss* ss* sb}", "kind", image_job_kind_to_string(j->kind),
                         "ref", j->ref, "root", im->root, "login_file", im->login_file, "platform",
                         j->platform, "auth", j->auth, "path", j->path, "insecure", j->insecure);
        text = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

/* Starts a job process (zl-runtimed itself, in its job mode; a forked copy of the daemon would
 * inherit its sqlite connection, which must not cross a fork). It waits for its parameters on
 * *ret_spec_fd (until we shut it) and reports on *ret_out_fd. */
static int job_process_spawn(Images *im, JobProcess *ret) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF, ours = -EBADF, theirs = -EBADF;
        int fds[2];
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0], wfd = fds[1];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                return -errno;
        ours = fds[0], theirs = fds[1];
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char *const argv[] = { (char *) "zl-runtimed", (char *) IMAGE_JOB_ARG, NULL };
                sigset_t none;
                int out, in;

                /* The job dies with the daemon rather than finish a pull nobody records. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                out = fcntl(wfd, F_DUPFD, 10);
                in = fcntl(theirs, F_DUPFD, 10);
                if (out < 0 || in < 0 || dup2(out, IMAGE_JOB_OUT_FD) < 0 ||
                    dup2(in, IMAGE_JOB_SPEC_FD) < 0)
                        _exit(EXIT_FAILURE);
                (void) close_range(IMAGE_JOB_SPEC_FD + 1, ~0U, 0);
                execv(im->exe, argv);
                _exit(127);
        }
        *ret = (JobProcess){ .pid = pid, .out_fd = TAKE_FD(rfd), .spec_fd = TAKE_FD(ours) };
        return 0;
}

static void job_process_kill(JobProcess *p) {
        if (p->pid > 0) {
                (void) kill(p->pid, SIGKILL);
                (void) waitpid(p->pid, NULL, 0);
        }
        safe_close(p->out_fd);
        safe_close(p->spec_fd);
        *p = JOB_PROCESS_NULL;
}

/* Hands the parameters to a job process; -EPIPE if it is gone. */
static int job_process_send(JobProcess *p, const char *text) {
        size_t n = strlen(text);

        for (size_t done = 0; done < n;) {
                ssize_t k = send(p->spec_fd, text + done, n - done, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                done += (size_t) k;
        }
        p->spec_fd = safe_close(p->spec_fd);
        return 0;
}

/* A spare outlives the last job by this long: a node that pulls keeps one ready, an idle node
 * does not pay its memory (a job process maps libcurl and its dozens of libraries). */
#define IMAGES_SPARE_IDLE_USEC (5 * USEC_PER_MINUTE)

static int on_spare_idle(sd_event_source *s, uint64_t usec, void *userdata) {
        Images *im = userdata;

        job_process_kill(&im->spare);
        return 0;
}

/* Once a job has run, the next job process is started ahead of need: loading the daemon's
 * libraries takes about 0.1 s, which would otherwise be part of every pull that follows. The
 * first job after start or after IMAGES_SPARE_IDLE_USEC without jobs pays it. */
static void images_spare_spawn(Images *im) {
        int r;

        if (im->spare.pid <= 0) {
                r = job_process_spawn(im, &im->spare);
                if (r < 0) {
                        log_debug_errno(r,
                                        "Failed to start a spare image job process, ignoring: %m");
                        return;
                }
        }
        if (im->spare_timer)
                r = sd_event_source_set_time_relative(im->spare_timer, IMAGES_SPARE_IDLE_USEC);
        else
                r = sd_event_add_time_relative(im->manager->event, &im->spare_timer,
                                               CLOCK_MONOTONIC, IMAGES_SPARE_IDLE_USEC, 0,
                                               on_spare_idle, im);
        if (r >= 0)
                r = sd_event_source_set_enabled(im->spare_timer, SD_EVENT_ONESHOT);
        if (r < 0) {
                /* Without a timer the spare would stay for good: none then. */
                log_debug_errno(r, "Failed to arm the spare job process timer, ignoring: %m");
                job_process_kill(&im->spare);
        }
}

static int job_spawn(ImageJob *j) {
        Images *im = j->images;
        _cleanup_free_ char *text = NULL;
        JobProcess p = TAKE_STRUCT_JOB_PROCESS(im->spare);
        int r;

        r = job_spec_text(j, &text);
        if (r < 0) {
                job_process_kill(&p);
                return r;
        }
        r = p.pid > 0 ? job_process_send(&p, text) : -ESRCH;
        if (r < 0) {
                /* No spare, or it died: a process of its own. */
                job_process_kill(&p);
                r = job_process_spawn(im, &p);
                if (r >= 0)
                        r = job_process_send(&p, text);
        }
        explicit_bzero(text, strlen(text));
        if (r < 0) {
                job_process_kill(&p);
                return r;
        }
        j->pid = p.pid;
        j->fd = TAKE_FD(p.out_fd);
        images_spare_spawn(im);
        if (fcntl(j->fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        r = sd_event_add_io(im->manager->event, &j->io_source, j->fd, EPOLLIN, on_job_io, j);
        if (r < 0)
                return r;
        r = sd_event_add_child(im->manager->event, &j->child_source, j->pid, WEXITED, on_job_child,
                               j);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(j->io_source, "image-job-io");
        (void) sd_event_source_set_description(j->child_source, "image-job-child");
        return 0;
}

static int job_add_waiter(ImageJob *j, image_job_done_t done, void *userdata) {
        JobWaiter *w, **tail = &j->waiters;

        if (!done)
                return 0;
        w = new0(JobWaiter, 1);
        if (!w)
                return -ENOMEM;
        *w = (JobWaiter){ .done = done, .userdata = userdata };
        while (*tail)
                tail = &(*tail)->next;
        *tail = w;
        return 0;
}

static int job_start(Images *im, ImageJobKind kind, const char *ref, const ImagePullOptions *o,
                     const char *path, image_job_done_t done, void *userdata, ImageJob **ret_job) {
        _cleanup_free_ char *key = NULL;
        ImageJob *j, **a;
        int r;

        if (asprintf(&key, "%s\n%s\n%s\n%s", image_job_kind_to_string(kind), ref,
                     strempty(o ? o->platform : NULL), strempty(path)) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < im->n_jobs; i++)
                if (!im->jobs[i]->finished && streq(im->jobs[i]->key, key)) {
                        r = job_add_waiter(im->jobs[i], done, userdata);
                        if (r < 0)
                                return r;
                        if (ret_job)
                                *ret_job = im->jobs[i];
                        return 0;
                }

        a = reallocarray(im->jobs, im->n_jobs + 1, sizeof(ImageJob *));
        if (!a)
                return -ENOMEM;
        im->jobs = a;
        j = new0(ImageJob, 1);
        if (!j)
                return -ENOMEM;
        *j = (ImageJob){
                .images = im,
                .id = ++im->next_job_id,
                .kind = kind,
                .fd = -EBADF,
                .key = TAKE_PTR(key),
                .ref = strdup(ref),
                .state = strdup("starting"),
                .insecure = o && o->insecure,
        };
        if (!j->ref || !j->state || (o && o->platform && !(j->platform = strdup(o->platform))) ||
            (o && o->auth && !(j->auth = strdup(o->auth))) || (path && !(j->path = strdup(path)))) {
                job_free(j);
                return -ENOMEM;
        }
        r = job_add_waiter(j, done, userdata);
        if (r < 0) {
                job_free(j);
                return r;
        }
        r = job_spawn(j);
        if (r < 0) {
                /* No waiter was told anything yet: they go unanswered with the error. */
                while (j->waiters) {
                        JobWaiter *w = j->waiters;
                        j->waiters = w->next;
                        free(w);
                }
                job_free(j);
                return r;
        }
        /* The credentials are the child's business only. */
        if (j->auth) {
                explicit_bzero(j->auth, strlen(j->auth));
                j->auth = mfree(j->auth);
        }
        im->jobs[im->n_jobs++] = j;
        im->n_running++;
        log_info("Image %s of '%s' started (job %" PRIu64 ", pid %d).",
                 image_job_kind_to_string(kind), ref, j->id, (int) j->pid);
        if (im->callbacks.job_new)
                im->callbacks.job_new(im, j, im->userdata);
        if (ret_job)
                *ret_job = j;
        return 0;
}

/* auth_name: what the caller calls the credentials option, for the message. */
static int check_pull_options(const ImagePullOptions *o, const char *auth_name, char **ret_error) {
        if (o && o->platform) {
                size_t slashes = 0;

                for (const char *p = o->platform; *p; p++)
                        slashes += *p == '/';
                if (slashes < 1 || slashes > 2 || o->platform[0] == '/' ||
                    endswith(o->platform, "/") || strstr(o->platform, "//"))
                        return error_setf(ret_error, -EINVAL,
                                          "platform: '%s' is not os/arch[/variant]", o->platform);
        }
        if (o && o->auth && (!strchr(o->auth, ':') || o->auth[0] == ':'))
                return error_setf(ret_error, -EINVAL, "%s: must be 'user:password'", auth_name);
        return 0;
}

int images_pull(Images *im, const char *ref, const ImagePullOptions *o, image_job_done_t done,
                void *userdata, ImageJob **ret_job, char **ret_error) {
        _cleanup_free_ char *normalized = NULL;
        int r;

        r = ref_normalize(ref, &normalized, ret_error);
        if (r >= 0)
                r = check_pull_options(o, "auth", ret_error);
        if (r < 0)
                return r;
        return job_start(im, IMAGE_JOB_PULL, normalized, o, NULL, done, userdata, ret_job);
}

int images_push(Images *im, const char *ref, const ImagePullOptions *o, image_job_done_t done,
                void *userdata, ImageJob **ret_job, char **ret_error) {
        _cleanup_free_ char *normalized = NULL, *manifest = NULL;
        int r;

        r = ref_normalize(ref, &normalized, ret_error);
        if (r >= 0)
                r = check_pull_options(o, "auth", ret_error);
        if (r < 0)
                return r;
        r = store_manifest_of(im, normalized, &manifest);
        if (r == -ENOENT)
                return error_setf(ret_error, r, "No such image '%s'.", normalized);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to look up '%s': %s", normalized,
                                  strerror(-r));
        return job_start(im, IMAGE_JOB_PUSH, normalized, o, NULL, done, userdata, ret_job);
}

int images_import(Images *im, const char *path, const char *ref, image_job_done_t done,
                  void *userdata, ImageJob **ret_job, char **ret_error) {
        _cleanup_free_ char *normalized = NULL;
        struct stat st;
        int r;

        if (isempty(path) || !path_is_absolute(path))
                return error_setf(ret_error, -EINVAL, "path: '%s' is not an absolute path",
                                  strempty(path));
        if (stat(path, &st) < 0)
                return error_setf(ret_error, -errno, "path: '%s': %m", path);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return error_setf(
                        ret_error, -EINVAL,
                        "path: '%s' is neither an OCI image layout directory nor an archive", path);
        if (!isempty(ref)) {
                r = ref_normalize(ref, &normalized, ret_error);
                if (r < 0)
                        return r;
                if (startswith(normalized, PIN_REPOSITORY ":"))
                        return error_setf(ret_error, -EINVAL, "ref: '%s' is reserved", ref);
        }
        return job_start(im, IMAGE_JOB_IMPORT, strempty(normalized), NULL, path, done, userdata,
                         ret_job);
}

int images_export(Images *im, const char *ref, const char *path, image_job_done_t done,
                  void *userdata, ImageJob **ret_job, char **ret_error) {
        _cleanup_free_ char *normalized = NULL, *manifest = NULL;
        int r;

        if (isempty(path) || !path_is_absolute(path) || endswith(path, "/"))
                return error_setf(ret_error, -EINVAL, "path: '%s' is not an absolute file name",
                                  strempty(path));
        r = ref_normalize_store(ref, &normalized, ret_error);
        if (r < 0)
                return r;
        r = store_manifest_of(im, normalized, &manifest);
        if (r == -ENOENT)
                return error_setf(ret_error, r, "No such image '%s'.", normalized);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to look up '%s': %s", normalized,
                                  strerror(-r));
        return job_start(im, IMAGE_JOB_EXPORT, normalized, NULL, path, done, userdata, ret_job);
}

int image_job_wait(ImageJob *j, image_job_done_t done, void *userdata, int *ret_r,
                   const char **ret_error, const char **ret_digest) {
        if (j->finished) {
                *ret_r = j->result;
                *ret_error = j->error;
                *ret_digest = j->digest;
                return 1;
        }
        return job_add_waiter(j, done, userdata);
}

uint64_t image_job_get_id(ImageJob *j) {
        return j->id;
}

ImageJobKind image_job_get_kind(ImageJob *j) {
        return j->kind;
}

const char *image_job_get_ref(ImageJob *j) {
        return j->ref;
}

const char *image_job_get_state(ImageJob *j) {
        return j->state;
}

const char *image_job_get_digest(ImageJob *j) {
        return j->finished ? j->digest : NULL;
}

const char *image_job_get_error(ImageJob *j) {
        return j->finished ? j->error : NULL;
}

ImageJob *images_get_job(Images *im, uint64_t id) {
        for (size_t i = 0; i < im->n_jobs; i++)
                if (im->jobs[i]->id == id)
                        return im->jobs[i];
        return NULL;
}

size_t images_get_n_jobs(Images *im) {
        return im->n_jobs;
}

ImageJob *images_get_job_at(Images *im, size_t i) {
        return i < im->n_jobs ? im->jobs[i] : NULL;
}

/* ---- the store on the loop --------------------------------------------------------------- */

static unsigned image_users(Images *im, const char *manifest, Container **ret_first) {
        Manager *m = im->manager;
        unsigned n = 0;

        for (size_t i = 0; i < manager_get_n_containers(m); i++) {
                Container *c = manager_get_container(m, i);

                if (streq_ptr(container_image_digest(c), manifest)) {
                        if (n == 0 && ret_first)
                                *ret_first = c;
                        n++;
                }
        }
        return n;
}

int images_list(Images *im, ImageInfo **ret, size_t *ret_n, unsigned **ret_users) {
        ImageInfo *list = NULL;
        _cleanup_free_ unsigned *users = NULL;
        size_t n = 0, k = 0;
        int r;

        r = image_store_list(im->store, &list, &n);
        if (r < 0)
                return r;
        users = calloc(n + 1, sizeof(unsigned));
        if (!users) {
                image_info_list_free(list, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                if (is_pin_repository(list[i].repository)) {
                        free(list[i].repository);
                        free(list[i].tag);
                        free(list[i].manifest_digest);
                        free(list[i].config_digest);
                        continue;
                }
                users[k] = image_users(im, list[i].manifest_digest, NULL);
                list[k++] = list[i];
        }
        *ret = list;
        *ret_n = k;
        if (ret_users)
                *ret_users = TAKE_PTR(users);
        return 0;
}

int images_inspect(Images *im, const char *ref, char **ret_json, char **ret_error) {
        _cleanup_free_ char *normalized = NULL, *text = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL, *users = json_array();
        const char *id;
        char *s;
        int r;

        r = ref_normalize_store(ref, &normalized, ret_error);
        if (r < 0)
                return r;
        r = image_store_inspect(im->store, normalized, &text);
        if (r == -ENOENT)
                return error_setf(ret_error, r, "No such image '%s'.", normalized);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to inspect '%s': %s", normalized,
                                  strerror(-r));
        j = json_loads(text, JSON_PRESERVE_ORDER, NULL);
        id = json_string_value(json_object_get(j, "Id"));
        if (!j || !id || !users)
                return -ENOMEM;
        for (size_t i = 0; i < manager_get_n_containers(im->manager); i++) {
                Container *c = manager_get_container(im->manager, i);

                if (streq_ptr(container_image_digest(c), id) &&
                    json_array_append_new(users, json_string(c->id)) < 0)
                        return -ENOMEM;
        }
        /* The internal pins are containers, already listed under "Containers". */
        json_t *tags = json_object_get(j, "RepoTags");
        for (size_t i = 0; json_is_array(tags) && i < json_array_size(tags);) {
                if (startswith(strempty(json_string_value(json_array_get(tags, i))),
                               PIN_REPOSITORY ":"))
                        (void) json_array_remove(tags, i);
                else
                        i++;
        }
        if (json_object_set(j, "Containers", users) < 0)
                return -ENOMEM;
        s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        return 0;
}

int images_remove(Images *im, const char *ref, bool force, char **ret_error) {
        _cleanup_free_ char *normalized = NULL, *manifest = NULL;
        _cleanup_(image_ref_freep) ImageRef *parsed = NULL;
        Container *user = NULL;
        unsigned n_users;
        int r;

        r = ref_normalize_store(ref, &normalized, ret_error);
        if (r < 0)
                return r;
        r = store_manifest_of(im, normalized, &manifest);
        if (r == -ENOENT)
                return error_setf(ret_error, r, "No such image '%s'.", normalized);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to look up '%s': %s", normalized,
                                  strerror(-r));
        n_users = image_users(im, manifest, &user);
        if (n_users > 0 && !force)
                return error_setf(ret_error, -EBUSY,
                                  "image '%s' is used by container %s%s: remove %s first or force",
                                  normalized, user->id, n_users > 1 ? " and others" : "",
                                  n_users > 1 ? "them" : "it");

        if (startswith(normalized, "sha256:") ||
            (image_ref_parse(normalized, &parsed, NULL) >= 0 && parsed->digest)) {
                /* Every tag of the manifest, but not the pins of the containers using it. */
                ImageInfo *list = NULL;
                size_t n = 0;

                r = image_store_list(im->store, &list, &n);
                if (r < 0)
                        return error_setf(ret_error, r, "Failed to list images: %s", strerror(-r));
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        _cleanup_free_ char *one = NULL;

                        if (!streq(list[i].manifest_digest, manifest) ||
                            is_pin_repository(list[i].repository))
                                continue;
                        one = list[i].tag ? strjoin(list[i].repository, ":", list[i].tag)
                                          : strjoin(list[i].repository, "@", manifest);
                        r = one ? image_store_remove(im->store, one) : -ENOMEM;
                }
                image_info_list_free(list, n);
                if (r >= 0 && n_users == 0)
                        /* Known only by digest (pulled by digest): that record goes too. */
                        r = image_store_remove(im->store, manifest);
                if (r == -ENOENT)
                        r = 0;
        } else
                r = image_store_remove(im->store, normalized);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to remove '%s': %s", normalized,
                                  strerror(-r));
        log_info("Image '%s' removed.", normalized);
        return 0;
}

int images_tag(Images *im, const char *source, const char *target, char **ret_error) {
        _cleanup_free_ char *src = NULL, *dst = NULL;
        _cleanup_(image_ref_freep) ImageRef *parsed = NULL;
        int r;

        r = ref_normalize_store(source, &src, ret_error);
        if (r < 0)
                return r;
        r = ref_normalize(target, &dst, ret_error);
        if (r < 0)
                return r;
        if (image_ref_parse(dst, &parsed, NULL) >= 0 && (!parsed->tag || parsed->digest))
                return error_setf(ret_error, -EINVAL, "target: '%s' must be a tag, not a digest",
                                  target);
        if (startswith(dst, PIN_REPOSITORY ":"))
                return error_setf(ret_error, -EINVAL, "target: '%s' is reserved", target);
        r = image_store_tag(im->store, src, dst);
        if (r == -ENOENT)
                return error_setf(ret_error, r, "No such image '%s'.", src);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to tag '%s' as '%s': %s", src, dst,
                                  strerror(-r));
        return 0;
}

static void images_run_prune(Images *im) {
        PruneWaiter *waiters = TAKE_PTR(im->prune_waiters);
        uint64_t freed = 0;
        int r;

        r = image_store_prune(im->store, &freed);
        if (r < 0)
                log_warning_errno(r, "Failed to prune the image store: %m");
        else
                log_info("Image store pruned: %d layer(s) and blob(s), %" PRIu64 " bytes freed.", r,
                         freed);
        while (waiters) {
                PruneWaiter *w = waiters;

                waiters = w->next;
                w->done(r, freed, w->userdata);
                free(w);
        }
}

int images_prune(Images *im, images_prune_done_t done, void *userdata, uint64_t *ret_bytes_freed) {
        PruneWaiter *w;
        int r;

        if (im->n_running == 0) {
                uint64_t freed = 0;

                r = image_store_prune(im->store, &freed);
                if (r < 0)
                        return r;
                log_info("Image store pruned: %d layer(s) and blob(s), %" PRIu64 " bytes freed.", r,
                         freed);
                *ret_bytes_freed = freed;
                return 1;
        }
        w = new0(PruneWaiter, 1);
        if (!w)
                return -ENOMEM;
        *w = (PruneWaiter){ .next = im->prune_waiters, .done = done, .userdata = userdata };
        im->prune_waiters = w;
        return 0;
}

/* ---- logins ------------------------------------------------------------------------------ */

static bool registry_name_is_valid(const char *s) {
        return !isempty(s) && strlen(s) <= 255 && !strpbrk(s, "/ \t\n\"\\@") && s[0] != '.';
}

static int auth_load(Images *im, json_t **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_error_t e;

        j = json_load_file(im->login_file, 0, &e);
        if (!j && access(im->login_file, F_OK) < 0 && errno == ENOENT)
                j = json_object();
        if (!j || !json_is_object(j))
                return -EBADMSG;
        if (!json_object_get(j, "auths") && json_object_set_new(j, "auths", json_object()) < 0)
                return -ENOMEM;
        if (!json_is_object(json_object_get(j, "auths")))
                return -EBADMSG;
        *ret = TAKE_PTR(j);
        return 0;
}

static int auth_save(Images *im, json_t *j) {
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

        if (!text)
                return -ENOMEM;
        return write_file_atomic(im->login_file, text, strlen(text), 0600);
}

int images_login(Images *im, const char *registry, const char *user, const char *password,
                 char **ret_error) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *userpass = NULL, *b64 = NULL;
        size_t n;
        int r;

        if (!registry_name_is_valid(registry))
                return error_setf(ret_error, -EINVAL, "registry: '%s' is not a host[:port]",
                                  strempty(registry));
        if (isempty(user) || strchr(user, ':'))
                return error_setf(ret_error, -EINVAL, "user: must be non-empty and without ':'");
        if (!password)
                return error_setf(ret_error, -EINVAL, "password: missing");
        userpass = strjoin(user, ":", password);
        if (!userpass)
                return -ENOMEM;
        n = strlen(userpass);
        b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (!b64)
                return -ENOMEM;
        EVP_EncodeBlock((unsigned char *) b64, (const unsigned char *) userpass, (int) n);
        explicit_bzero(userpass, n);
        r = auth_load(im, &j);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to read '%s': %s", im->login_file,
                                  strerror(-r));
        if (json_object_set_new(json_object_get(j, "auths"), registry,
                                json_pack("{ss}", "auth", b64)) < 0)
                return -ENOMEM;
        r = auth_save(im, j);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to write '%s': %s", im->login_file,
                                  strerror(-r));
        log_info("Logged in to '%s' as '%s'.", registry, user);
        return 0;
}

int images_logout(Images *im, const char *registry, char **ret_error) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        int r;

        if (!registry_name_is_valid(registry))
                return error_setf(ret_error, -EINVAL, "registry: '%s' is not a host[:port]",
                                  strempty(registry));
        r = auth_load(im, &j);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to read '%s': %s", im->login_file,
                                  strerror(-r));
        if (json_object_del(json_object_get(j, "auths"), registry) < 0)
                return error_setf(ret_error, -ENOENT, "Not logged in to '%s'.", registry);
        r = auth_save(im, j);
        if (r < 0)
                return error_setf(ret_error, r, "Failed to write '%s': %s", im->login_file,
                                  strerror(-r));
        return 0;
}

/* ---- containers from images -------------------------------------------------------------- */

typedef struct CreateOp {
        Images *images;
        char *name;
        ContainerOptions options;
        char **entrypoint;
        images_create_done_t done;
        void *userdata;
} CreateOp;

static void create_op_free(CreateOp *op) {
        if (!op)
                return;
        free(op->name);
        container_options_done(&op->options);
        strv_free(op->entrypoint);
        free(op);
}

/* Makes the container from the stored image op->options.image (normalized). */
static int create_now(Images *im, const char *name, const ContainerOptions *o,
                      char *const *entrypoint, Container **ret, char **ret_error) {
        _cleanup_(image_config_freep) ImageConfig *config = NULL;
        _cleanup_strv_free_ char **lowers = NULL;
        _cleanup_free_ char *manifest = NULL, *pin = NULL;
        Container *c = NULL;
        int r;

        r = store_manifest_of(im, o->image, &manifest);
        if (r >= 0)
                r = image_store_rootfs(im->store, o->image, &lowers);
        if (r >= 0)
                r = image_store_config(im->store, o->image, &config);
        if (r == -ENOENT)
                return error_setf(ret_error, r, "No such image '%s'.", o->image);
        if (r == -EUCLEAN)
                return error_setf(ret_error, -EBADMSG,
                                  "image '%s': a layer is missing from the store: pull it again",
                                  o->image);
        if (r < 0)
                return error_setf(ret_error, r, "image '%s': %s", o->image, strerror(-r));

        ContainerImage img = {
                .ref = o->image,
                .digest = manifest,
                .lowers = lowers,
                .entrypoint = config->entrypoint,
                .cmd = config->cmd,
                .env = config->env,
                .working_dir = config->working_dir,
                .user = config->user,
                .stop_signal = config->stop_signal,
                .exposed_ports = config->exposed_ports,
                .entrypoint_override = entrypoint,
        };
        r = manager_create_image(im->manager, name, o, &img, &c, ret_error);
        if (r < 0)
                return r;
        r = pin_ref(c->id, &pin);
        if (r >= 0)
                r = image_store_tag(im->store, manifest, pin);
        if (r < 0)
                log_warning_errno(r,
                                  "Failed to record that container %s uses '%s', ignoring "
                                  "(prune may free its layers): %m",
                                  c->id, o->image);
        *ret = c;
        return 1;
}

static void on_create_pulled(int r, const char *error, const char *digest, void *userdata) {
        CreateOp *op = userdata;
        _cleanup_free_ char *msg = NULL;
        Container *c = NULL;

        (void) digest;
        if (r < 0)
                op->done(r, error, NULL, op->userdata);
        else {
                r = create_now(op->images, op->name, &op->options, op->entrypoint, &c, &msg);
                op->done(r < 0 ? r : 0, msg, c, op->userdata);
        }
        create_op_free(op);
}

int images_create_container(Images *im, const char *name, ContainerOptions *o, char **entrypoint,
                            const char *pull_policy, const ImagePullOptions *pull,
                            images_create_done_t done, void *userdata, Container **ret,
                            char **ret_error) {
        _cleanup_strv_free_ char **ep = entrypoint;
        _cleanup_free_ char *normalized = NULL, *manifest = NULL;
        bool present;
        CreateOp *op;
        int r;

        assert(o);
        assert(o->image);
        if (entrypoint && (!entrypoint[0] || isempty(entrypoint[0])))
                return error_setf(ret_error, -EINVAL, "entrypoint: must not be empty");
        if (pull_policy && !streq(pull_policy, "always") && !streq(pull_policy, "if_not_present") &&
            !streq(pull_policy, "never"))
                return error_setf(
                        ret_error, -EINVAL,
                        "pull_policy: '%s' is not one of 'always', 'if_not_present', 'never'",
                        pull_policy);
        r = check_pull_options(pull, "registry_auth", ret_error);
        if (r < 0)
                return r;
        r = ref_normalize(o->image, &normalized, ret_error);
        if (r < 0) {
                if (ret_error && *ret_error) {
                        char *s = strjoin("image: ", *ret_error + strlen("ref: "));
                        if (s)
                                free_and_replace(*ret_error, s);
                }
                return r;
        }
        free_and_replace(o->image, normalized);

        r = store_manifest_of(im, o->image, &manifest);
        if (r < 0 && r != -ENOENT)
                return error_setf(ret_error, r, "image '%s': %s", o->image, strerror(-r));
        present = r >= 0;
        if (!present && streq_ptr(pull_policy, "never"))
                return error_setf(ret_error, -ENOENT,
                                  "No such image '%s' in the store, and pull_policy is 'never'.",
                                  o->image);
        if (present && !streq_ptr(pull_policy, "always"))
                return create_now(im, name, o, ep, ret, ret_error);

        op = new0(CreateOp, 1);
        if (!op)
                return -ENOMEM;
        *op = (CreateOp){
                .images = im,
                .name = name ? strdup(name) : NULL,
                .options = *o,
                .entrypoint = TAKE_PTR(ep),
                .done = done,
                .userdata = userdata,
        };
        *o = CONTAINER_OPTIONS_INIT;
        if (name && !op->name) {
                create_op_free(op);
                return -ENOMEM;
        }
        r = job_start(im, IMAGE_JOB_PULL, op->options.image, pull, NULL, on_create_pulled, op,
                      NULL);
        if (r < 0) {
                create_op_free(op);
                return error_setf(ret_error, r, "Failed to start pulling the image: %s",
                                  strerror(-r));
        }
        return 0;
}

void images_container_removed(Images *im, Container *c) {
        _cleanup_free_ char *pin = NULL;
        int r;

        if (!im || !container_image_digest(c))
                return;
        r = pin_ref(c->id, &pin);
        if (r >= 0)
                r = image_store_remove(im->store, pin);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to release the image of container %s, ignoring: %m",
                                  c->id);
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* Pins of containers that are gone (removed while the store could not be written). */
static void images_drop_stale_pins(Images *im) {
        ImageInfo *list = NULL;
        size_t n = 0;

        if (image_store_list(im->store, &list, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *pin = NULL;

                if (!is_pin_repository(list[i].repository) || !list[i].tag ||
                    manager_get_by_id(im->manager, list[i].tag))
                        continue;
                if (pin_ref(list[i].tag, &pin) >= 0 && image_store_remove(im->store, pin) >= 0)
                        log_info("Dropped the image pin of gone container %s.", list[i].tag);
        }
        image_info_list_free(list, n);
}

Images *images_free(Images *im) {
        if (!im)
                return NULL;
        for (size_t i = 0; i < im->n_jobs; i++) {
                ImageJob *j = im->jobs[i];

                if (!j->finished) {
                        j->result = -ECANCELED;
                        free(j->error);
                        j->error = strdup("zl-runtimed is stopping");
                        job_waiters_complete(j);
                }
                job_free(j);
        }
        free(im->jobs);
        while (im->prune_waiters) {
                PruneWaiter *w = im->prune_waiters;

                im->prune_waiters = w->next;
                w->done(-ECANCELED, 0, w->userdata);
                free(w);
        }
        job_process_kill(&im->spare);
        sd_event_source_disable_unref(im->spare_timer);
        if (im->manager && im->manager->images == im)
                im->manager->images = NULL;
        image_store_close(im->store);
        free(im->root);
        free(im->login_file);
        free(im->exe);
        return mfree(im);
}

Images *manager_get_images(Manager *m) {
        return m->images;
}

int images_new(Manager *m, const char *state_dir, const ImagesCallbacks *callbacks, void *userdata,
               Images **ret) {
        _cleanup_(images_freep) Images *im = NULL;
        int r;

        assert(m);
        assert(state_dir);
        assert(ret);

        im = new0(Images, 1);
        if (!im)
                return -ENOMEM;
        im->manager = m;
        im->spare = JOB_PROCESS_NULL;
        if (callbacks)
                im->callbacks = *callbacks;
        im->userdata = userdata;
        im->root = path_join(state_dir, "images");
        im->login_file = path_join(state_dir, "auth.json");
        if (!im->root || !im->login_file)
                return -ENOMEM;
        /* Resolved now: a daemon upgraded in place keeps running its own jobs' code. */
        r = path_self_exe(&im->exe);
        if (r < 0)
                return r;
        r = mkdir_p(im->root, 0700);
        if (r < 0)
                return r;
        r = image_store_open(im->root, &im->store);
        if (r < 0)
                return r;
        images_drop_stale_pins(im);
        m->images = im;
        *ret = TAKE_PTR(im);
        return 0;
}
