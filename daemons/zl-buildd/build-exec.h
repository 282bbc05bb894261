/* SPDX-License-Identifier: Apache-2.0 */
/* build-exec.h: one build on buildah, instruction by instruction, reported as JSON events. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

typedef struct BuildRequest {
        char *build_id;
        char *context; /* absolute directory */
        char *dockerfile; /* relative to context or absolute; "Dockerfile" by default */
        char *runtime; /* template name or NULL */
        bool runtime_auto;
        char **tags;
        json_t *build_args; /* object name -> string, never NULL */
        char *target;
        bool no_cache;
        char *platform;
        bool push;
        char *storage_root, *storage_runroot, *storage_driver; /* NULL: buildah's defaults */
        char *isolation; /* "chroot" */
        char *work_dir;
        char **insecure_registries;
        char *registries_conf;
        /* Commit a cache image after every RUN/COPY/ADD/WORKDIR (true), or only at the end of
         * each stage (false: a faster cold build, a coarser cache). */
        bool step_commits;
        /* A directory keeping the OCI layout of every final image (by image id), so that a
         * rebuild that is fully cached hard-links it into work_dir instead of exporting the image
         * again. NULL: export each time. */
        char *oci_cache;
        /* After a successful build, remove cache images beyond these limits (0: no limit). */
        uint64_t prune_max_bytes;
        uint64_t prune_max_age_sec;
} BuildRequest;

/* Parses the request object read from stdin. On a bad request returns -EINVAL with
 * *ret_error saying which field and why. */
int build_request_parse(const json_t *j, BuildRequest **ret, char **ret_error);
BuildRequest *build_request_free(BuildRequest *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(BuildRequest *, build_request_free);

typedef struct BuildJob BuildJob;

/* events: where event lines go (NULL: nowhere). signal_fd: a signalfd for SIGTERM/SIGINT, or
 * negative; when it becomes readable the current buildah child's process group is stopped and the
 * call in progress returns -ECANCELED. The request is borrowed and must outlive the job. */
int build_job_new(const BuildRequest *req, FILE *events, int signal_fd, BuildJob **ret);
BuildJob *build_job_free(BuildJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(BuildJob *, build_job_free);

/* Runs the whole build. plan: a ready build plan (zl_dockerfile_plan() form) to use instead of
 * parsing the Dockerfile, or NULL. Returns 0 after image_ready, -ECANCELED when cancelled (no
 * event after that), another negative errno after build_failed was sent. Working containers of
 * this build are removed in every case except cancellation (build_job_remove_containers()). */
int build_job_run(BuildJob *j, const json_t *plan);

/* Removes the working containers named zlb-<build_id>-* (left by a killed job). Returns the
 * number removed. */
int build_job_remove_containers(BuildJob *j);

/* Removes cache images beyond the limits (see build_cache_select_prune()). Returns the number
 * removed. */
int build_job_prune_cache(BuildJob *j, uint64_t max_bytes, uint64_t max_age_sec);

/* Exposed for tests: the `buildah config` arguments for a config-only instruction of the plan
 * (ENV, LABEL, USER, EXPOSE, VOLUME, ENTRYPOINT, CMD, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD,
 * MAINTAINER, WORKDIR), given the current SHELL and whether CMD was set in this stage. Appends to
 * *args. -EOPNOTSUPP for other instructions. */
int build_config_args(const json_t *ins, char *const *shell, bool cmd_set, char ***args);
/* Exposed for tests: the `--mount` value buildah run takes for one parsed RUN --mount object.
 * context: the build context (bind mounts without from= read from it); from_image: the image a
 * from= names, already resolved, or NULL. -EOPNOTSUPP with *ret_error for what buildah 1.28
 * cannot do (secret, ssh). */
int build_mount_arg(const json_t *mount, const char *context, const char *from_image, char **ret,
                    char **ret_error);
/* Exposed for tests: "1.28.2" -> true when >= 1.23. */
bool build_buildah_version_ok(const char *version_output);
