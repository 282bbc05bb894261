/* SPDX-License-Identifier: Apache-2.0 */
/* registry.h: a client for the OCI distribution API: resolve, pull blobs, push, authenticate. */
#pragma once

#include <stdint.h>

#include "image-ref.h"
#include "macro.h"

#define REGISTRY_MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REGISTRY_MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define REGISTRY_MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REGISTRY_MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* Holds credentials, cached tokens and a connection; use it from one thread at a time. */
typedef struct RegistryClient RegistryClient;

typedef struct RegistryOptions {
        /* Written by `zlctl login`: must not be accessible to group or others. NULL: none. */
        const char *login_file;
        /* Docker config.json / containers auth.json files, first match wins after login_file.
         * NULL: ~/.docker/config.json, $XDG_RUNTIME_DIR/containers/auth.json and
         * /run/containers/0/auth.json; an empty list: none. */
        char **auth_files;
        /* Registries ("host:port") spoken to over plain HTTP; loopback ones always are. */
        char **insecure;
        unsigned parallel; /* blob downloads at once; 0: 4 */
        unsigned retries; /* retries after a 5xx or a network error; 0: 3 */
        unsigned backoff_ms; /* first retry delay, doubled each time; 0: 250 */
        const char *platform; /* "os/arch[/variant]"; NULL: the host's, "linux/amd64" on x86-64 */
} RegistryOptions;

typedef struct RegistryDescriptor {
        char *media_type;
        char *digest;
        uint64_t size;
} RegistryDescriptor;

/* An image manifest for one platform, with its config, both verified against their digests. */
typedef struct RegistryImage {
        char *name; /* the reference as given, for messages */
        char *index_digest; /* the index or manifest list it was picked from, or NULL */
        char *manifest; /* raw bytes as served (the digest covers these), NUL-terminated */
        size_t manifest_size;
        char *manifest_digest;
        char *media_type; /* REGISTRY_MEDIA_OCI_MANIFEST or REGISTRY_MEDIA_DOCKER_MANIFEST */
        RegistryDescriptor config_desc;
        char *config; /* raw config JSON, NUL-terminated */
        size_t config_size;
        RegistryDescriptor *layers;
        size_t n_layers;
} RegistryImage;

/* Called as bytes arrive; done counts bytes of a resumed partial file too. */
typedef void (*RegistryProgress)(const char *digest, uint64_t done, uint64_t total, void *userdata);

int registry_client_new(const RegistryOptions *o, RegistryClient **ret);
RegistryClient *registry_client_free(RegistryClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RegistryClient *, registry_client_free);

RegistryImage *registry_image_free(RegistryImage *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(RegistryImage *, registry_image_free);

/* Resolves ref (tag or digest) to the manifest for the client's platform: an index or manifest
 * list is narrowed to one entry first. Every document is checked against its digest. On failure
 * *ret_error (if not NULL) gets "REF: cause". -ENOENT: unknown image or no entry for the
 * platform; -EACCES: credentials missing or refused; -EBADMSG: digest mismatch or malformed
 * document; -EPROTONOSUPPORT: unknown media type; -EIO: the registry kept failing. */
int registry_resolve(RegistryClient *c, const ImageRef *ref, RegistryImage **ret, char **ret_error);

/* Downloads blobs of ref's repository into dir_fd, each as its hex digest (OCI layout
 * blobs/sha256/), several at once. Data goes to "<hex>.partial" first, hashed as it arrives; a
 * partial file left by an earlier attempt is resumed with a Range request. The file is renamed
 * into place only once its digest (and size, if sizes is not NULL and sizes[i] > 0) match.
 * Blobs already present are not fetched again. */
int registry_fetch_blobs(RegistryClient *c, const ImageRef *ref, const char *const *digests,
                         const uint64_t *sizes, int dir_fd, RegistryProgress progress,
                         void *userdata, char **ret_error);

typedef struct RegistryPushOptions {
        const char *mount_from; /* a repository of the same registry to mount blobs from */
        uint64_t chunk_size; /* > 0: upload blobs in PATCH chunks of this size */
} RegistryPushOptions;

/* Pushes the blobs named by a manifest (read from dir_fd, named by hex digest) unless the
 * registry has them, mounting from o->mount_from when possible, then the manifest under ref's
 * tag (or digest). *ret_digest gets the manifest digest. */
int registry_push(RegistryClient *c, const ImageRef *ref, int dir_fd, const char *manifest,
                  size_t manifest_size, const char *media_type, const RegistryPushOptions *o,
                  char **ret_digest, char **ret_error);

/* Picks the digest of the best entry of an index or manifest list JSON for platform
 * ("os/arch[/variant]"). -ENOENT if none fits; *ret_available then lists what is offered
 * ("linux/arm64/v8, linux/s390x"). */
int registry_index_pick(const char *index_json, const char *platform, char **ret_digest,
                        char **ret_available);

/* "os/arch[/variant]" of this host, normalized as in OCI platform objects. */
const char *registry_host_platform(void);

/* registry-auth.c */

typedef struct RegistryChallenge {
        char *scheme; /* "bearer" or "basic", lower case */
        char *realm;
        char *service;
        char *scope;
} RegistryChallenge;

void registry_challenge_done(RegistryChallenge *ch);

/* Parses a WWW-Authenticate value: scheme, then comma-separated key=value parameters, values
 * tokens or quoted strings with backslash escapes. Unknown parameters are ignored. */
int registry_challenge_parse(const char *header, RegistryChallenge *ret);

/* Looks up the "user:password" for host in the auths of a Docker config.json / containers
 * auth.json document ("auths": {"host": {"auth": base64(user:password)}}). Docker Hub is also
 * found under its legacy keys. -ENOENT if absent, -EBADMSG if malformed. */
int registry_auth_lookup(const char *json, const char *host, char **ret_userpass);

/* The same from a file; with must_be_private the file must not be accessible to group or
 * others (-EPERM otherwise). -ENOENT if the file or the entry is absent. */
int registry_auth_lookup_file(const char *path, bool must_be_private, const char *host,
                              char **ret_userpass);
