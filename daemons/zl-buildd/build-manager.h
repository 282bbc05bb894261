/* SPDX-License-Identifier: Apache-2.0 */
/* build-manager.h: zl-buildd's builds: records, queue, zl-build-job processes, logs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "time-util.h"

#define BUILDD_CONFIG_PATH_DEFAULT "/etc/zlayer/buildd.conf"
#define BUILD_STATE_DIR_DEFAULT "/var/lib/zlayer/build"
#define BUILD_RUNROOT_DEFAULT "/run/zlayer/build"
#define BUILD_MAX_CONCURRENT_DEFAULT 2U
#define BUILD_HISTORY_MAX_DEFAULT 100U
#define BUILD_HISTORY_MAX_AGE_DEFAULT (30 * USEC_PER_DAY)
/* The environment variable naming the job executable instead of the one beside zl-buildd. */
#define BUILD_JOB_ENV "ZL_BUILD_JOB"
#define BUILD_JOB_NAME "zl-build-job"

typedef enum BuildState {
        BUILD_PENDING,
        BUILD_RUNNING,
        BUILD_COMPLETE,
        BUILD_FAILED,
        BUILD_CANCELLED,
        _BUILD_STATE_MAX,
        _BUILD_STATE_INVALID = -EINVAL,
} BuildState;

const char *build_state_to_string(BuildState s) _const_;
BuildState build_state_from_string(const char *s) _pure_;

static inline bool build_state_is_final(BuildState s) {
        return s == BUILD_COMPLETE || s == BUILD_FAILED || s == BUILD_CANCELLED;
}

/* /etc/zlayer/buildd.conf. */
typedef struct BuildConfig {
        char *state_dir; /* records, logs, work dirs */
        unsigned max_concurrent_builds;
        char *storage_root; /* buildah --root */
        char *storage_runroot; /* buildah --runroot */
        char *storage_driver; /* buildah --storage-driver */
        char *isolation; /* "chroot" */
        char **insecure_registries; /* host[:port] */
        unsigned history_max; /* finished builds kept */
        usec_t history_max_age; /* ... and for how long */
} BuildConfig;

/* The defaults; state_dir and runroot NULL mean BUILD_STATE_DIR_DEFAULT and
 * BUILD_RUNROOT_DEFAULT/storage. storage_root stays NULL: the manager makes it
 * <state_dir>/storage. */
int build_config_init(BuildConfig *c, const char *state_dir, const char *runroot);
void build_config_done(BuildConfig *c);
/* Reads a `key = value` file into c (keys: state_dir, max_concurrent_builds, storage_root,
 * storage_runroot, storage_driver, isolation, insecure_registries (space separated),
 * history_max, history_max_age (a duration: "7d", "12h")). -ENOENT without message for a
 * missing file, -EINVAL with *reterr_message "PATH:LINE: 'KEY': WHY". */
int build_config_load(BuildConfig *c, const char *path, char **reterr_message);

/* What Build() asks for. */
typedef struct BuildOptions {
        char *dockerfile; /* relative to the context or absolute; NULL: "Dockerfile" */
        char **tags; /* normalized references */
        char **build_args; /* k, v, k, v ... */
        char *target;
        bool no_cache;
        char *runtime;
        bool runtime_auto;
        bool push;
        char *platform;
} BuildOptions;

void build_options_done(BuildOptions *o);

typedef struct BuildManager BuildManager;
typedef struct Build Build;

/* Called when a build has ended (complete, failed, cancelled); waiters are called once. */
typedef void (*build_wait_t)(Build *b, void *userdata);

struct Build {
        BuildManager *manager;
        char *id;
        BuildState state;
        char *context;
        BuildOptions options;
        char *image_id;
        char *error;
        usec_t created_at, started_at, finished_at; /* CLOCK_REALTIME */
        char *current_stage; /* "1/2 build (golang:1.22)" */
        char *current_instruction; /* "3/7 RUN make" */
        unsigned total_stages, total_instructions, steps_started;
        unsigned stage_index; /* of the current stage, in build order */
        char *dir; /* <state>/builds/<id> */
        char *work_dir; /* <state>/work/<id> */
        int log_fd;
        char *pending_header; /* "STEP n/m: ..." written with the first output or the end */

        /* The job process while it runs. */
        pid_t pid;
        int out_fd, err_fd;
        sd_event_source *out_source, *err_source, *child_source, *kill_timer;
        char *out_buf, *err_buf;
        size_t out_len, err_len;
        bool cancel_requested;
        bool saw_image_ready, saw_build_failed;
        char *failed_error; /* build_failed's error from the job */
        char *oci_dir; /* from image_ready */
        bool importing;

        struct BuildWaiter *waiters;
};

typedef struct BuildManagerCallbacks {
        /* A Progress event: name and its data as JSON text. */
        void (*progress)(BuildManager *m, Build *b, const char *event, const char *json,
                         void *userdata);
        /* State, ImageId, Error, StartedAt, FinishedAt, CurrentStage or CurrentInstruction
         * changed. */
        void (*changed)(BuildManager *m, Build *b, void *userdata);
        /* The job made the image in oci_dir: put it in the image store under tags (the first
         * given to the import, the others tagged), then call build_import_finished(). Returns
         * < 0 if it could not even start (the build fails with that). NULL: the build completes
         * with the job's image id (unit tests). */
        int (*import)(BuildManager *m, Build *b, const char *oci_dir, void *userdata);
        /* A build record went away (history pruned): its object is gone. */
        void (*removed)(BuildManager *m, Build *b, void *userdata);
} BuildManagerCallbacks;

/* Takes over config (zeroed). job_path: the zl-build-job executable. */
int build_manager_new(sd_event *event, BuildConfig *config, const char *job_path,
                      const BuildManagerCallbacks *cb, void *userdata, BuildManager **ret);
BuildManager *build_manager_free(BuildManager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(BuildManager *, build_manager_free);

/* Loads the records; builds left pending or running by a previous instance become failed, their
 * leftover job is killed and `zl-build-job --cleanup` runs. Prunes the history. */
int build_manager_start(BuildManager *m);

/* Checks the request and queues a build. Takes over o (zeroed) on success. -EINVAL with
 * *ret_error saying which argument is wrong and why (a Dockerfile error with its line);
 * -ENOENT for a missing context or Dockerfile (with *ret_error). */
int build_manager_submit(BuildManager *m, const char *context, BuildOptions *o, Build **ret,
                         char **ret_error);

/* -ESTALE if it has already ended. */
int build_cancel(Build *b);

/* The bus layer's answer to callbacks.import: r < 0 with error text, or the image id. */
void build_import_finished(Build *b, int r, const char *image_id, const char *error);

/* Calls done when b ends; returns 1 and does nothing if it already has. */
int build_add_waiter(Build *b, build_wait_t done, void *userdata);

/* A read-only descriptor of the whole log. */
int build_open_log(Build *b);

Build *build_manager_get(BuildManager *m, const char *id);
size_t build_manager_count(BuildManager *m) _pure_;
Build *build_manager_get_at(BuildManager *m, size_t i); /* oldest first */
const BuildConfig *build_manager_config(BuildManager *m) _pure_;
unsigned build_manager_running(BuildManager *m) _pure_;
