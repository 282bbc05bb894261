/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-images.h: zl-runtimed's images: the store, pull and push jobs, containers from images. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bus-object.h"
#include "image-store.h"
#include "runtime-manager.h"

/* The image side of a Manager (only zl-runtimed has it: the engine library and its other users
 * never load the registry client or the store). Pulls, pushes and imports are jobs: each runs in
 * a child process of its own, so the loop never blocks, and reports progress through a pipe.
 * Everything else is quick and runs on the loop. */
typedef struct Images Images;
typedef struct ImageJob ImageJob;

typedef enum ImageJobKind {
        IMAGE_JOB_PULL,
        IMAGE_JOB_PUSH,
        IMAGE_JOB_IMPORT,
        IMAGE_JOB_EXPORT,
        _IMAGE_JOB_KIND_MAX,
        _IMAGE_JOB_KIND_INVALID = -EINVAL,
} ImageJobKind;

const char *image_job_kind_to_string(ImageJobKind k) _const_;

typedef struct ImagesCallbacks {
        /* A job was started. */
        void (*job_new)(Images *im, ImageJob *j, void *userdata);
        /* Bytes of one layer arrived (rate-limited). */
        void (*job_progress)(Images *im, ImageJob *j, const char *digest, uint64_t done,
                             uint64_t total, void *userdata);
        /* The job's state changed ("resolving", "downloading", "unpacking", "pushing",
         * "importing", "exporting", then "done" or "failed"). */
        void (*job_state)(Images *im, ImageJob *j, void *userdata);
        /* The job has ended (after job_state with "done"/"failed"); it stays known for a minute,
         * then job_removed. */
        void (*job_finished)(Images *im, ImageJob *j, void *userdata);
        void (*job_removed)(Images *im, ImageJob *j, void *userdata);
} ImagesCallbacks;

/* The store goes in <state_dir>/images, logins in <state_dir>/auth.json. Sets m->images; pins
 * of containers that no longer exist are dropped (call after manager_load()). */
int images_new(Manager *m, const char *state_dir, const ImagesCallbacks *callbacks, void *userdata,
               Images **ret);
/* Kills running jobs (their waiters fail with -ECANCELED) and closes the store. */
Images *images_free(Images *im);
DEFINE_TRIVIAL_CLEANUP_FUNC(Images *, images_free);
Images *manager_get_images(Manager *m) _pure_;

/* Completion of a job: r >= 0 and the manifest digest, or -errno and a message. Called once,
 * never from inside the call that registered it. */
typedef void (*image_job_done_t)(int r, const char *error, const char *digest, void *userdata);

typedef struct ImagePullOptions {
        const char *platform; /* "os/arch[/variant]"; NULL: the host's */
        bool insecure; /* plain HTTP to this registry (loopback ones always are) */
        const char *auth; /* "user:password"; NULL: auth.json, then Docker/containers files */
} ImagePullOptions;

/* Starts (or joins: same kind, reference and platform) a job; done (may be NULL) is called when
 * it ends. -EINVAL with *ret_error for a bad reference or option. */
int images_pull(Images *im, const char *ref, const ImagePullOptions *o, image_job_done_t done,
                void *userdata, ImageJob **ret_job, char **ret_error);
int images_push(Images *im, const char *ref, const ImagePullOptions *o, image_job_done_t done,
                void *userdata, ImageJob **ret_job, char **ret_error);
/* An OCI image layout directory or an image archive (oci-archive, docker-archive; see
 * image_store_import()), tagged as ref; ref NULL or "": the name the layout or archive gives. */
int images_import(Images *im, const char *path, const char *ref, image_job_done_t done,
                  void *userdata, ImageJob **ret_job, char **ret_error);
/* Writes the stored image ref (a reference or bare manifest digest) to path (absolute): an OCI
 * layout archive (tar, with docker's manifest.json too) when path ends in ".tar", else an OCI
 * image layout directory; atomically. -ENOENT with *ret_error for an unknown image. */
int images_export(Images *im, const char *ref, const char *path, image_job_done_t done,
                  void *userdata, ImageJob **ret_job, char **ret_error);

/* Adds a waiter to a job: 1 (and done is not called) when it has ended already, with
 * *ret_r, *ret_error and *ret_digest pointing into the job; else 0. */
int image_job_wait(ImageJob *j, image_job_done_t done, void *userdata, int *ret_r,
                   const char **ret_error, const char **ret_digest);

uint64_t image_job_get_id(ImageJob *j) _pure_;
ImageJobKind image_job_get_kind(ImageJob *j) _pure_;
const char *image_job_get_ref(ImageJob *j) _pure_;
const char *image_job_get_state(ImageJob *j) _pure_;
/* After the end: the manifest digest, or NULL; the error text, or NULL. */
const char *image_job_get_digest(ImageJob *j) _pure_;
const char *image_job_get_error(ImageJob *j) _pure_;
ImageJob *images_get_job(Images *im, uint64_t id);
size_t images_get_n_jobs(Images *im) _pure_;
ImageJob *images_get_job_at(Images *im, size_t i) _pure_;

/* ListImages: every tag but the internal ones; *ret_users (may be NULL) gets, per image, how
 * many containers use it. */
int images_list(Images *im, ImageInfo **ret, size_t *ret_n, unsigned **ret_users);
/* The store's inspect JSON plus "Containers" (ids of the containers using it). */
int images_inspect(Images *im, const char *ref, char **ret_json, char **ret_error);
/* -EBUSY while a container uses the image, unless force: its tag goes, its layers stay until
 * the last container using them is removed. A digest removes every tag of that manifest. */
int images_remove(Images *im, const char *ref, bool force, char **ret_error);
int images_tag(Images *im, const char *source, const char *target, char **ret_error);

typedef void (*images_prune_done_t)(int r, uint64_t bytes_freed, void *userdata);
/* Runs once no job is running (a pull between committing blobs and recording the image must
 * not lose them): 1 with *ret_bytes_freed when done at once, 0 and done() later, or -errno. */
int images_prune(Images *im, images_prune_done_t done, void *userdata, uint64_t *ret_bytes_freed);

/* auth.json: what `zlctl login` stores (registry "host[:port]", never a path). */
int images_login(Images *im, const char *registry, const char *user, const char *password,
                 char **ret_error);
/* -ENOENT when not logged in to registry. */
int images_logout(Images *im, const char *registry, char **ret_error);

/* CreateContainer with an image: o->image is the reference; pull_policy "always",
 * "if_not_present" (NULL) or "never"; entrypoint the "entrypoint" option (NULL: unset); pull
 * (may be NULL) the platform and credentials of the pull it may need, as for images_pull() (the
 * platform only picks what is pulled: an image in the store is used as it is). Takes over the
 * contents of *o and entrypoint. Returns < 0 with *ret_error, 1 with *ret when created at once,
 * or 0 when a pull runs first: done() is called then. */
typedef void (*images_create_done_t)(int r, const char *error, Container *c, void *userdata);
int images_create_container(Images *im, const char *name, ContainerOptions *o, char **entrypoint,
                            const char *pull_policy, const ImagePullOptions *pull,
                            images_create_done_t done, void *userdata, Container **ret,
                            char **ret_error);
/* A container is being removed: its image may go now. */
void images_container_removed(Images *im, Container *c);

/* The job process: zl-runtimed started as "zl-runtimed --image-job" with the job's parameters
 * (JSON) readable on fd 4, reporting on fd 3. Returns the exit status. */
#define IMAGE_JOB_ARG "--image-job"
#define IMAGE_JOB_OUT_FD 3
#define IMAGE_JOB_SPEC_FD 4
int images_job_main(void);

/* runtime-bus.c: the jobs on the bus, /org/zlayer/Runtime1/job/<id> with
 * org.zlayer.Runtime1.Job, and the callbacks that emit their signals (userdata: the Runtime). */
#define RUNTIME_JOB_PREFIX "/org/zlayer/Runtime1/job"
#define RUNTIME_JOB_INTERFACE "org.zlayer.Runtime1.Job"
extern const ZlBusObject runtime_job_bus_object;
extern const ImagesCallbacks runtime_images_bus_callbacks;
