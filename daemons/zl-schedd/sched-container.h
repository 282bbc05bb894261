/* SPDX-License-Identifier: Apache-2.0 */
/* sched-container.h: a service of the canonical spec as containers and proxy routes. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "sched-backends.h"

/* Pure functions (no I/O, no clock): the same inputs give the same outputs. */

/* The hash of everything in a canonical service that needs new containers when it changes
 * (image, command, env, resources, storage, devices, capabilities, cap_drop, privileged,
 * read_only_root_fs, sysctls, labels, user, hostname, stop_signal, stop_grace_period, network,
 * init, health) as 16 lowercase hex digits: FNV-1a 64 of the compact JSON with sorted keys of
 * those keys (not a security boundary: it only tells configurations apart). scale, endpoints,
 * depends, node_mode, node_selector, errors, rtype and schedule do not count (they change
 * routes, counts, placement or policy, never containers). env counts as written ("$E:NAME"),
 * not resolved. */
int sched_container_config_hash(const json_t *service, char **ret);

/* The container of replica `index` (or of a job execution, with job_id non-NULL) of a canonical
 * service. Names: "<deployment>-<service>-<index>-<hash 8 digits>" for replicas (a replacement
 * of the same index has another name while both exist), "<deployment>-<service>-job-<job_id>"
 * for executions; longer than 63 characters they are cut and end in 8 hex digits of their own
 * hash. environ (NULL-terminated "K=V", may be NULL) resolves "$E:NAME" values: a name missing
 * from it is -ENOKEY with ret_error "services.S.env.K: $E:NAME is not set in zl-schedd's
 * environment". env is sorted by name. Labels: the service's, then SCHED_LABEL_* (ours win):
 * deployment, service, generation, config-hash, and SCHED_LABEL_REPLICA for a replica or
 * SCHED_LABEL_JOB for an execution, never both (a container with SCHED_LABEL_JOB belongs to
 * sched-jobs.h, and the reconciler leaves it alone). hostname: the spec's, or
 * "<service>-<index>". stop_grace_usec: the spec's stop_grace_period, else 30s. Empty lists of
 * entrypoint or args stay empty (not the image's). -EINVAL with ret_error for anything the
 * runtime cannot express (an s3 volume: "services.S.storage[i]: s3 volumes are not supported
 * yet"). */
int sched_container_spec_from_service(const char *deployment, const char *service_name,
                                      const json_t *service, uint64_t generation, uint32_t index,
                                      const char *job_id, char *const *environ,
                                      SchedContainerSpec *ret, char **ret_error);

/* The routes of every endpoint of every service of rtype "service" in `deployments` for
 * Proxy1.SetRoutes, as {"routes": [...]} text with sorted keys (so equal inputs give equal
 * text). deployments is an array of {"name", "spec" (canonical), "backends": {service:
 * ["ip", ...]}} with the healthy replicas' addresses; a public endpoint listens on
 * public_address:port, an internal one on internal_address:port; http and websocket endpoints
 * become http routes with the endpoint's host and path, https an https route, tcp and udp L4
 * routes; backends are ip:target_port (an IPv6 address in brackets), sorted, balanced
 * round_robin, with no proxy-side health check (only healthy replicas are listed). Route names
 * are "<deployment>.<service>.<endpoint>"; routes are sorted by name. The spec may be given as
 * canonical JSON text (as the state keeps it) or as an object. An endpoint whose service has no
 * healthy replica keeps its route with an empty "backends" array: the port stays open and
 * zl-proxyd answers 503 (HTTP) or closes the connection (TCP) until a replica is healthy.
 * -EINVAL for a malformed input (no name, no services, an unknown protocol). */
int sched_routes_build(const json_t *deployments, const char *public_address,
                       const char *internal_address, char **ret_json);

/* The URL or address a user reaches an endpoint at ("http://127.0.0.1:8080/" with the
 * endpoint's path, "https://...", "ws://..." for websocket, "tcp://127.0.0.1:5432",
 * "udp://..."); listen is "address:port", an IPv6 address with or without brackets
 * ("[::1]:8080" or "::1:8080": the last colon starts the port). */
int sched_endpoint_url(const json_t *endpoint, const char *listen, char **ret);
