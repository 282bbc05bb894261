/* SPDX-License-Identifier: Apache-2.0 */
/* sched-state.c: the scheduler's cluster state: tables, command validation and application. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "sched-state.h"
#include "string-util.h"

/* Composite keys join their parts with this byte: names never contain it and it sorts below
 * every character a name may hold, so the rows of one deployment (and of one service) are
 * contiguous and ordered by name. */
#define KEY_SEP "\x1f"
#define MESSAGE_MAX SCHED_MESSAGE_MAX
#define LOG_REF_MAX 4096U
#define ADDRESS_MAX 512U
#define LABELS_MAX 256U
#define SNAPSHOT_FORMAT "zlayer-sched-state"

/* ---- enums ----------------------------------------------------------------------------- */

static const char *const deployment_status_table[_SCHED_DEPLOYMENT_STATUS_MAX] = {
        [SCHED_DEPLOYMENT_PENDING] = "pending", [SCHED_DEPLOYMENT_DEPLOYING] = "deploying",
        [SCHED_DEPLOYMENT_READY] = "ready",     [SCHED_DEPLOYMENT_DEGRADED] = "degraded",
        [SCHED_DEPLOYMENT_FAILED] = "failed",   [SCHED_DEPLOYMENT_STOPPING] = "stopping",
        [SCHED_DEPLOYMENT_STOPPED] = "stopped",
};

static const char *const replica_state_table[_SCHED_REPLICA_STATE_MAX] = {
        [SCHED_REPLICA_PENDING] = "pending",   [SCHED_REPLICA_CREATING] = "creating",
        [SCHED_REPLICA_STARTING] = "starting", [SCHED_REPLICA_RUNNING] = "running",
        [SCHED_REPLICA_STOPPING] = "stopping", [SCHED_REPLICA_STOPPED] = "stopped",
        [SCHED_REPLICA_FAILED] = "failed",     [SCHED_REPLICA_CRASHLOOP] = "crashloop",
};

static const char *const replica_health_table[_SCHED_HEALTH_MAX] = {
        [SCHED_HEALTH_UNKNOWN] = "unknown",
        [SCHED_HEALTH_STARTING] = "starting",
        [SCHED_HEALTH_HEALTHY] = "healthy",
        [SCHED_HEALTH_UNHEALTHY] = "unhealthy",
};

static const char *const job_state_table[_SCHED_JOB_STATE_MAX] = {
        [SCHED_JOB_PENDING] = "pending",     [SCHED_JOB_RUNNING] = "running",
        [SCHED_JOB_SUCCEEDED] = "succeeded", [SCHED_JOB_FAILED] = "failed",
        [SCHED_JOB_CANCELLED] = "cancelled",
};

static const char *enum_name(const char *const *table, int n, int i) {
        return i >= 0 && i < n ? table[i] : NULL;
}

const char *sched_deployment_status_to_string(SchedDeploymentStatus s) {
        return enum_name(deployment_status_table, _SCHED_DEPLOYMENT_STATUS_MAX, s);
}
SchedDeploymentStatus sched_deployment_status_from_string(const char *s) {
        return string_table_lookup(deployment_status_table, _SCHED_DEPLOYMENT_STATUS_MAX, s);
}
const char *sched_replica_state_to_string(SchedReplicaState s) {
        return enum_name(replica_state_table, _SCHED_REPLICA_STATE_MAX, s);
}
SchedReplicaState sched_replica_state_from_string(const char *s) {
        return string_table_lookup(replica_state_table, _SCHED_REPLICA_STATE_MAX, s);
}
const char *sched_replica_health_to_string(SchedReplicaHealth h) {
        return enum_name(replica_health_table, _SCHED_HEALTH_MAX, h);
}
SchedReplicaHealth sched_replica_health_from_string(const char *s) {
        return string_table_lookup(replica_health_table, _SCHED_HEALTH_MAX, s);
}
const char *sched_job_state_to_string(SchedJobState s) {
        return enum_name(job_state_table, _SCHED_JOB_STATE_MAX, s);
}
SchedJobState sched_job_state_from_string(const char *s) {
        return string_table_lookup(job_state_table, _SCHED_JOB_STATE_MAX, s);
}

/* ---- records: described once, parsed, printed, copied and freed from the description ------ */

typedef enum FieldType {
        FIELD_NAME, /* char*, a name: [A-Za-z0-9._:-], 1..SCHED_NAME_MAX */
        FIELD_STRING, /* char*, any text up to max bytes, "" allowed */
        FIELD_U64,
        FIELD_U32,
        FIELD_I32, /* within [min, max] */
        FIELD_ENUM, /* int, names from table */
        FIELD_LABELS, /* json_t*, object of strings */
        FIELD_OBJECTS, /* json_t*, object of objects keyed by names */
        FIELD_COUNTS, /* json_t*, object of integers in [0, max] keyed by names */
} FieldType;

enum {
        FIELD_REQUIRED = 1 << 0, /* must be given when the record is created */
        FIELD_KEY = 1 << 1, /* identifies the record: never changes on update */
};

typedef struct Field {
        const char *name;
        FieldType type;
        size_t offset;
        unsigned flags;
        int64_t min, max; /* FIELD_I32 range; FIELD_STRING max length */
        const char *const *table; /* FIELD_ENUM */
        int n_table;
} Field;

typedef struct RecordType {
        const char *name;
        size_t size;
        const Field *fields;
        size_t n_fields;
        char *(*make_key)(const void *rec);
} RecordType;

#define F(type_, struct_, member, ...)                                                             \
        { .name = #member, .type = (type_), .offset = offsetof(struct_, member), __VA_ARGS__ }
#define FT(name_, type_, struct_, member, ...)                                                     \
        { .name = (name_), .type = (type_), .offset = offsetof(struct_, member), __VA_ARGS__ }
#define ENUM_TABLE(t) .table = (t), .n_table = ELEMENTSOF(t)

static char *node_key(const void *p) {
        return strdup(((const SchedNode *) p)->id);
}

static char *deployment_key(const void *p) {
        return strdup(((const SchedDeployment *) p)->name);
}

static char *replica_key(const void *p) {
        const SchedReplica *r = p;
        char *k;

        if (asprintf(&k, "%s" KEY_SEP "%s" KEY_SEP "%010" PRIu32, r->deployment, r->service,
                     r->index) < 0)
                return NULL;
        return k;
}

static char *scale_event_key(const void *p) {
        const SchedScaleEvent *e = p;
        char *k;

        if (asprintf(&k, "%s" KEY_SEP "%s" KEY_SEP "%020" PRIu64, e->deployment, e->service,
                     e->seq) < 0)
                return NULL;
        return k;
}

static char *job_key(const void *p) {
        return strdup(((const SchedJobExecution *) p)->id);
}

static char *cron_key(const void *p) {
        const SchedCronRun *c = p;

        return strjoin(c->deployment, KEY_SEP, c->service);
}

static const Field node_fields[] = {
        F(FIELD_NAME, SchedNode, id, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_STRING, SchedNode, address, .flags = FIELD_REQUIRED, .min = 1, .max = ADDRESS_MAX),
        F(FIELD_LABELS, SchedNode, labels),
        F(FIELD_U64, SchedNode, cpu),
        F(FIELD_U64, SchedNode, memory),
        FT("heartbeat", FIELD_U64, SchedNode, heartbeat_usec),
};

static const Field deployment_fields[] = {
        F(FIELD_NAME, SchedDeployment, name, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_STRING, SchedDeployment, spec, .flags = FIELD_REQUIRED, .min = 2,
          .max = SCHED_COMMAND_MAX),
        F(FIELD_U64, SchedDeployment, generation),
        F(FIELD_ENUM, SchedDeployment, status, ENUM_TABLE(deployment_status_table)),
        F(FIELD_STRING, SchedDeployment, message, .max = MESSAGE_MAX),
        F(FIELD_OBJECTS, SchedDeployment, services),
        FT("updated_at", FIELD_U64, SchedDeployment, updated_at_usec),
        F(FIELD_COUNTS, SchedDeployment, scale, .max = SCHED_SCALE_REPLICAS_MAX),
        F(FIELD_U64, SchedDeployment, stop_timeout),
};

static const Field replica_fields[] = {
        F(FIELD_NAME, SchedReplica, deployment, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_NAME, SchedReplica, service, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_U32, SchedReplica, index, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_NAME, SchedReplica, node, .flags = FIELD_REQUIRED),
        F(FIELD_STRING, SchedReplica, container_id, .max = SCHED_NAME_MAX),
        F(FIELD_U64, SchedReplica, generation),
        F(FIELD_ENUM, SchedReplica, state, ENUM_TABLE(replica_state_table)),
        F(FIELD_ENUM, SchedReplica, health, ENUM_TABLE(replica_health_table)),
        F(FIELD_STRING, SchedReplica, ip, .max = 64),
        F(FIELD_U32, SchedReplica, restarts),
        F(FIELD_STRING, SchedReplica, message, .max = MESSAGE_MAX),
        FT("updated_at", FIELD_U64, SchedReplica, updated_at_usec),
};

static const Field scale_event_fields[] = {
        F(FIELD_U64, SchedScaleEvent, seq, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_NAME, SchedScaleEvent, deployment, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_NAME, SchedScaleEvent, service, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_U32, SchedScaleEvent, from, .flags = FIELD_REQUIRED),
        F(FIELD_U32, SchedScaleEvent, to, .flags = FIELD_REQUIRED),
        F(FIELD_STRING, SchedScaleEvent, reason, .flags = FIELD_REQUIRED, .max = MESSAGE_MAX),
        FT("time", FIELD_U64, SchedScaleEvent, time_usec, .flags = FIELD_REQUIRED),
};

static const Field job_fields[] = {
        F(FIELD_NAME, SchedJobExecution, id, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_NAME, SchedJobExecution, deployment, .flags = FIELD_REQUIRED),
        F(FIELD_NAME, SchedJobExecution, service, .flags = FIELD_REQUIRED),
        F(FIELD_ENUM, SchedJobExecution, state, ENUM_TABLE(job_state_table)),
        F(FIELD_I32, SchedJobExecution, exit_code, .min = -1, .max = 255),
        FT("started", FIELD_U64, SchedJobExecution, started_usec),
        FT("finished", FIELD_U64, SchedJobExecution, finished_usec),
        F(FIELD_STRING, SchedJobExecution, log_ref, .max = LOG_REF_MAX),
        F(FIELD_STRING, SchedJobExecution, message, .max = MESSAGE_MAX),
};

static const Field cron_fields[] = {
        F(FIELD_NAME, SchedCronRun, deployment, .flags = FIELD_KEY | FIELD_REQUIRED),
        F(FIELD_NAME, SchedCronRun, service, .flags = FIELD_KEY | FIELD_REQUIRED),
        FT("last", FIELD_U64, SchedCronRun, last_usec),
        FT("next", FIELD_U64, SchedCronRun, next_usec),
};

#define RECORD_TYPE(n, s, f, k)                                                                    \
        {                                                                                          \
                .name = (n), .size = sizeof(s), .fields = (f), .n_fields = ELEMENTSOF(f),          \
                .make_key = (k)                                                                    \
        }

static const RecordType node_type = RECORD_TYPE("node", SchedNode, node_fields, node_key);
static const RecordType deployment_type =
        RECORD_TYPE("deployment", SchedDeployment, deployment_fields, deployment_key);
static const RecordType replica_type =
        RECORD_TYPE("replica", SchedReplica, replica_fields, replica_key);
static const RecordType scale_event_type =
        RECORD_TYPE("scale event", SchedScaleEvent, scale_event_fields, scale_event_key);
static const RecordType job_type =
        RECORD_TYPE("job execution", SchedJobExecution, job_fields, job_key);
static const RecordType cron_type = RECORD_TYPE("cron run", SchedCronRun, cron_fields, cron_key);

#define FIELD_PTR(rec, f) ((uint8_t *) (rec) + (f)->offset)

static bool name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > SCHED_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-",
                            s[i]))
                        return false;
        return true;
}

/* Frees what the record owns, not the record. */
static void record_done(const RecordType *t, void *rec) {
        for (size_t i = 0; i < t->n_fields; i++) {
                const Field *f = &t->fields[i];
                void *p = FIELD_PTR(rec, f);

                switch (f->type) {
                case FIELD_NAME:
                case FIELD_STRING:
                        *(char **) p = mfree(*(char **) p);
                        break;
                case FIELD_LABELS:
                case FIELD_OBJECTS:
                case FIELD_COUNTS:
                        json_decref(*(json_t **) p);
                        *(json_t **) p = NULL;
                        break;
                default:
                        break;
                }
        }
        if (t == &deployment_type)
                ((SchedDeployment *) rec)->service_names =
                        strv_free(((SchedDeployment *) rec)->service_names);
}

static void *record_free(const RecordType *t, void *rec) {
        if (!rec)
                return NULL;
        record_done(t, rec);
        return mfree(rec);
}

/* A new record with defaults: strings "", objects {}, enums their first value, exit codes -1. */
static void *record_new(const RecordType *t) {
        void *rec = calloc(1, t->size);

        if (!rec)
                return NULL;
        for (size_t i = 0; i < t->n_fields; i++) {
                const Field *f = &t->fields[i];
                void *p = FIELD_PTR(rec, f);

                switch (f->type) {
                case FIELD_NAME:
                case FIELD_STRING:
                        if (!(*(char **) p = strdup("")))
                                return record_free(t, rec);
                        break;
                case FIELD_LABELS:
                case FIELD_OBJECTS:
                case FIELD_COUNTS:
                        if (!(*(json_t **) p = json_object()))
                                return record_free(t, rec);
                        break;
                case FIELD_I32:
                        *(int32_t *) p = (int32_t) f->min;
                        break;
                default:
                        break;
                }
        }
        return rec;
}

static void *record_copy(const RecordType *t, const void *src) {
        void *rec = calloc(1, t->size);

        if (!rec)
                return NULL;
        memcpy(rec, src, t->size);
        /* Detach the owned members first so a failure below frees only what was copied. */
        for (size_t i = 0; i < t->n_fields; i++) {
                const Field *f = &t->fields[i];
                void *p = FIELD_PTR(rec, f);

                if (f->type == FIELD_NAME || f->type == FIELD_STRING || f->type == FIELD_LABELS ||
                    f->type == FIELD_OBJECTS || f->type == FIELD_COUNTS)
                        *(void **) p = NULL;
        }
        if (t == &deployment_type)
                ((SchedDeployment *) rec)->service_names = NULL;

        for (size_t i = 0; i < t->n_fields; i++) {
                const Field *f = &t->fields[i];
                void *p = FIELD_PTR(rec, f);
                const void *q = FIELD_PTR(src, f);

                switch (f->type) {
                case FIELD_NAME:
                case FIELD_STRING:
                        if (!(*(char **) p = strdup(*(char *const *) q)))
                                return record_free(t, rec);
                        break;
                case FIELD_LABELS:
                case FIELD_OBJECTS:
                case FIELD_COUNTS:
                        if (!(*(json_t **) p = json_deep_copy(*(json_t *const *) q)))
                                return record_free(t, rec);
                        break;
                default:
                        break;
                }
        }
        if (t == &deployment_type) {
                const SchedDeployment *d = src;
                SchedDeployment *c = rec;

                for (char **s = d->service_names; s && *s; s++)
                        if (strv_extend(&c->service_names, *s) < 0)
                                return record_free(t, rec);
        }
        return rec;
}

static const Field *record_find_field(const RecordType *t, const char *name) {
        for (size_t i = 0; i < t->n_fields; i++)
                if (streq(t->fields[i].name, name))
                        return &t->fields[i];
        return NULL;
}

/* Refusals carry a message; this fills it and returns r. */
_printf_(3, 4) static int refuse(SchedApplyResult *res, int r, const char *fmt, ...) {
        va_list ap;

        if (res) {
                res->error = r;
                va_start(ap, fmt);
                (void) vsnprintf(res->message, sizeof(res->message), fmt, ap);
                va_end(ap);
        }
        return r;
}

static int field_parse(const RecordType *t, const Field *f, void *rec, json_t *v,
                       SchedApplyResult *res) {
        void *p = FIELD_PTR(rec, f);

        switch (f->type) {
        case FIELD_NAME:
        case FIELD_STRING: {
                const char *s;
                char *c;

                if (!json_is_string(v))
                        return refuse(res, -EINVAL, "%s: '%s' must be a string", t->name, f->name);
                s = json_string_value(v);
                if (strlen(s) != json_string_length(v))
                        return refuse(res, -EINVAL, "%s: '%s' contains a NUL byte", t->name,
                                      f->name);
                if (f->type == FIELD_NAME && !name_is_valid(s))
                        return refuse(res, -EINVAL,
                                      "%s: '%s' must be 1-%u characters of [A-Za-z0-9._:-]",
                                      t->name, f->name, SCHED_NAME_MAX);
                if (f->type == FIELD_STRING &&
                    (strlen(s) < (size_t) f->min || strlen(s) > (size_t) f->max))
                        return refuse(res, -EINVAL,
                                      "%s: '%s' must be %" PRIi64 "-%" PRIi64 " bytes long",
                                      t->name, f->name, f->min, f->max);
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
                free_and_replace(*(char **) p, c);
                return 0;
        }
        case FIELD_U64:
        case FIELD_U32:
        case FIELD_I32: {
                json_int_t i;
                int64_t lo = 0, hi = INT64_MAX;

                if (f->type == FIELD_U32)
                        hi = UINT32_MAX;
                else if (f->type == FIELD_I32)
                        lo = f->min, hi = f->max;
                if (!json_is_integer(v))
                        return refuse(res, -EINVAL, "%s: '%s' must be an integer", t->name,
                                      f->name);
                i = json_integer_value(v);
                if (i < lo || i > hi)
                        return refuse(res, -EINVAL,
                                      "%s: '%s' must be between %" PRIi64 " and %" PRIi64, t->name,
                                      f->name, lo, hi);
                if (f->type == FIELD_U64)
                        *(uint64_t *) p = (uint64_t) i;
                else if (f->type == FIELD_U32)
                        *(uint32_t *) p = (uint32_t) i;
                else
                        *(int32_t *) p = (int32_t) i;
                return 0;
        }
        case FIELD_ENUM: {
                int e = json_is_string(v)
                                ? string_table_lookup(f->table, f->n_table, json_string_value(v))
                                : -EINVAL;

                if (e < 0)
                        return refuse(res, -EINVAL, "%s: '%s' must be one of the known names",
                                      t->name, f->name);
                *(int *) p = e;
                return 0;
        }
        case FIELD_LABELS:
        case FIELD_OBJECTS:
        case FIELD_COUNTS: {
                const char *k;
                json_t *x, *c;

                if (!json_is_object(v))
                        return refuse(res, -EINVAL, "%s: '%s' must be an object", t->name, f->name);
                if (json_object_size(v) > LABELS_MAX)
                        return refuse(res, -EINVAL, "%s: '%s' has more than %u entries", t->name,
                                      f->name, LABELS_MAX);
                json_object_foreach (v, k, x) {
                        if (f->type == FIELD_LABELS && !json_is_string(x))
                                return refuse(res, -EINVAL, "%s: '%s.%s' must be a string", t->name,
                                              f->name, k);
                        if (f->type == FIELD_OBJECTS && (!json_is_object(x) || !name_is_valid(k)))
                                return refuse(res, -EINVAL,
                                              "%s: '%s.%s' must be an object under a name", t->name,
                                              f->name, k);
                        if (f->type == FIELD_COUNTS &&
                            (!json_is_integer(x) || json_integer_value(x) < 0 ||
                             json_integer_value(x) > f->max || !name_is_valid(k)))
                                return refuse(
                                        res, -EINVAL,
                                        "%s: '%s.%s' must be an integer between 0 and %" PRIi64
                                        " under a name",
                                        t->name, f->name, k, f->max);
                }
                c = json_deep_copy(v);
                if (!c)
                        return -ENOMEM;
                json_decref(*(json_t **) p);
                *(json_t **) p = c;
                return 0;
        }
        }
        return -EINVAL;
}

/* Sets the record's fields from obj: every key must be a field, key fields may only be given
 * when creating, and creation needs the required ones. */
static int record_update(const RecordType *t, void *rec, json_t *obj, bool create,
                         SchedApplyResult *res) {
        const char *k;
        json_t *v;
        int r;

        json_object_foreach (obj, k, v) {
                const Field *f = record_find_field(t, k);

                if (!f)
                        return refuse(res, -EINVAL, "%s: unknown field '%s'", t->name, k);
                if (!create && (f->flags & FIELD_KEY))
                        continue;
                r = field_parse(t, f, rec, v, res);
                if (r < 0)
                        return r;
        }
        if (create)
                for (size_t i = 0; i < t->n_fields; i++)
                        if ((t->fields[i].flags & FIELD_REQUIRED) &&
                            !json_object_get(obj, t->fields[i].name))
                                return refuse(res, -EINVAL, "%s: '%s' is required", t->name,
                                              t->fields[i].name);
        return 0;
}

static int record_to_json(const RecordType *t, const void *rec, json_t **ret) {
        _cleanup_(json_decrefp) json_t *o = json_object();

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_fields; i++) {
                const Field *f = &t->fields[i];
                const void *p = FIELD_PTR(rec, f);
                json_t *v = NULL;

                switch (f->type) {
                case FIELD_NAME:
                case FIELD_STRING:
                        v = json_string(*(char *const *) p);
                        break;
                case FIELD_U64:
                        v = json_integer((json_int_t) * (const uint64_t *) p);
                        break;
                case FIELD_U32:
                        v = json_integer(*(const uint32_t *) p);
                        break;
                case FIELD_I32:
                        v = json_integer(*(const int32_t *) p);
                        break;
                case FIELD_ENUM:
                        v = json_string(f->table[*(const int *) p]);
                        break;
                case FIELD_LABELS:
                case FIELD_OBJECTS:
                case FIELD_COUNTS:
                        v = json_deep_copy(*(json_t *const *) p);
                        break;
                }
                if (json_object_set_new(o, f->name, v) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- tables: rows sorted by key ------------------------------------------------------------ */

typedef struct Row {
        char *key;
        void *rec;
} Row;

typedef struct Table {
        const RecordType *type;
        Row *rows;
        size_t n, allocated;
} Table;

struct SchedState {
        Table nodes, deployments, replicas, scale_events, jobs, crons;
        uint64_t revision;
        uint64_t scale_seq;
};

static void table_done(Table *t) {
        for (size_t i = 0; i < t->n; i++) {
                free(t->rows[i].key);
                record_free(t->type, t->rows[i].rec);
        }
        t->rows = mfree(t->rows);
        t->n = t->allocated = 0;
}

/* The first row whose key is >= key. */
static size_t table_lower_bound(const Table *t, const char *key) {
        size_t lo = 0, hi = t->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (strcmp(t->rows[mid].key, key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static ssize_t table_find(const Table *t, const char *key) {
        size_t i = table_lower_bound(t, key);

        return i < t->n && streq(t->rows[i].key, key) ? (ssize_t) i : -1;
}

static void *table_get(const Table *t, const char *key) {
        ssize_t i = table_find(t, key);

        return i < 0 ? NULL : t->rows[i].rec;
}

/* Rows whose key starts with prefix: [*ret_lo, *ret_hi). */
static void table_prefix_range(const Table *t, const char *prefix, size_t *ret_lo, size_t *ret_hi) {
        size_t lo = table_lower_bound(t, prefix), hi = lo, n = strlen(prefix);

        while (hi < t->n && strneq(t->rows[hi].key, prefix, n))
                hi++;
        *ret_lo = lo;
        *ret_hi = hi;
}

static int table_reserve_one(Table *t) {
        Row *rows;
        size_t n;

        if (t->n < t->allocated)
                return 0;
        n = MAX(t->allocated * 2, 16U);
        rows = reallocarray(t->rows, n, sizeof(Row));
        if (!rows)
                return -ENOMEM;
        t->rows = rows;
        t->allocated = n;
        return 0;
}

/* Inserts or replaces; takes key and rec. Callers reserve first, so this cannot fail. */
static void table_put(Table *t, char *key, void *rec) {
        size_t i = table_lower_bound(t, key);

        if (i < t->n && streq(t->rows[i].key, key)) {
                free(key);
                record_free(t->type, t->rows[i].rec);
                t->rows[i].rec = rec;
                return;
        }
        assert(t->n < t->allocated);
        memmove(t->rows + i + 1, t->rows + i, (t->n - i) * sizeof(Row));
        t->rows[i] = (Row){ .key = key, .rec = rec };
        t->n++;
}

static void table_remove_at(Table *t, size_t i) {
        assert(i < t->n);
        free(t->rows[i].key);
        record_free(t->type, t->rows[i].rec);
        memmove(t->rows + i, t->rows + i + 1, (t->n - i - 1) * sizeof(Row));
        t->n--;
}

/* Inserts a prepared record (computing its key): the one step of a command that may fail
 * after validation, before anything changed. */
static int table_put_record(Table *t, void *rec) {
        char *key;

        if (table_reserve_one(t) < 0)
                return -ENOMEM;
        key = t->type->make_key(rec);
        if (!key)
                return -ENOMEM;
        table_put(t, key, rec);
        return 0;
}

static int table_collect(const Table *t, const char *prefix,
                         bool (*filter)(const void *rec, const void *arg), const void *arg,
                         const void ***ret, size_t *ret_n) {
        _cleanup_free_ const void **v = NULL;
        size_t lo = 0, hi = t->n, n = 0;

        if (prefix)
                table_prefix_range(t, prefix, &lo, &hi);
        if (hi > lo) {
                v = calloc(hi - lo, sizeof(void *));
                if (!v)
                        return -ENOMEM;
        }
        for (size_t i = lo; i < hi; i++)
                if (!filter || filter(t->rows[i].rec, arg))
                        v[n++] = t->rows[i].rec;
        if (n == 0)
                v = mfree(v);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* ---- the state ----------------------------------------------------------------------------- */

int sched_state_new(SchedState **ret) {
        SchedState *s;

        assert(ret);
        s = calloc(1, sizeof(SchedState));
        if (!s)
                return -ENOMEM;
        s->nodes.type = &node_type;
        s->deployments.type = &deployment_type;
        s->replicas.type = &replica_type;
        s->scale_events.type = &scale_event_type;
        s->jobs.type = &job_type;
        s->crons.type = &cron_type;
        *ret = s;
        return 0;
}

SchedState *sched_state_free(SchedState *s) {
        if (!s)
                return NULL;
        table_done(&s->nodes);
        table_done(&s->deployments);
        table_done(&s->replicas);
        table_done(&s->scale_events);
        table_done(&s->jobs);
        table_done(&s->crons);
        return mfree(s);
}

uint64_t sched_state_revision(const SchedState *s) {
        return s->revision;
}

static char *key2(const char *a, const char *b) {
        return strjoin(a, KEY_SEP, b);
}

const SchedNode *sched_state_get_node(const SchedState *s, const char *id) {
        return id ? table_get(&s->nodes, id) : NULL;
}

const SchedDeployment *sched_state_get_deployment(const SchedState *s, const char *name) {
        return name ? table_get(&s->deployments, name) : NULL;
}

const SchedReplica *sched_state_get_replica(const SchedState *s, const char *deployment,
                                            const char *service, uint32_t index) {
        SchedReplica probe = { .deployment = (char *) deployment,
                               .service = (char *) service,
                               .index = index };
        _cleanup_free_ char *k = NULL;

        if (!deployment || !service)
                return NULL;
        k = replica_key(&probe);
        return k ? table_get(&s->replicas, k) : NULL;
}

const SchedJobExecution *sched_state_get_job_execution(const SchedState *s, const char *id) {
        return id ? table_get(&s->jobs, id) : NULL;
}

const SchedCronRun *sched_state_get_cron_run(const SchedState *s, const char *deployment,
                                             const char *service) {
        _cleanup_free_ char *k = NULL;

        if (!deployment || !service)
                return NULL;
        k = key2(deployment, service);
        return k ? table_get(&s->crons, k) : NULL;
}

bool sched_deployment_has_service(const SchedDeployment *d, const char *service) {
        return d && service && strv_contains(d->service_names, service);
}

/* "dep\x1f" or "dep\x1fsvc\x1f", or NULL for everything. */
static int make_prefix(const char *deployment, const char *service, char **ret) {
        char *p = NULL;

        if (deployment) {
                p = service ? strjoin(deployment, KEY_SEP, service, KEY_SEP)
                            : strjoin(deployment, KEY_SEP);
                if (!p)
                        return -ENOMEM;
        }
        *ret = p;
        return 0;
}

int sched_state_list_nodes(const SchedState *s, const SchedNode ***ret, size_t *ret_n) {
        return table_collect(&s->nodes, NULL, NULL, NULL, (const void ***) ret, ret_n);
}

int sched_state_list_deployments(const SchedState *s, const SchedDeployment ***ret, size_t *ret_n) {
        return table_collect(&s->deployments, NULL, NULL, NULL, (const void ***) ret, ret_n);
}

int sched_state_list_replicas(const SchedState *s, const char *deployment, const char *service,
                              const SchedReplica ***ret, size_t *ret_n) {
        _cleanup_free_ char *prefix = NULL;

        if (make_prefix(deployment, service, &prefix) < 0)
                return -ENOMEM;
        return table_collect(&s->replicas, prefix, NULL, NULL, (const void ***) ret, ret_n);
}

static bool replica_on_node(const void *rec, const void *arg) {
        return streq(((const SchedReplica *) rec)->node, arg);
}

int sched_state_list_replicas_on_node(const SchedState *s, const char *node,
                                      const SchedReplica ***ret, size_t *ret_n) {
        if (!node)
                return -EINVAL;
        return table_collect(&s->replicas, NULL, replica_on_node, node, (const void ***) ret,
                             ret_n);
}

int sched_state_list_scale_events(const SchedState *s, const char *deployment, const char *service,
                                  const SchedScaleEvent ***ret, size_t *ret_n) {
        _cleanup_free_ char *prefix = NULL;

        if (make_prefix(deployment, service, &prefix) < 0)
                return -ENOMEM;
        return table_collect(&s->scale_events, prefix, NULL, NULL, (const void ***) ret, ret_n);
}

typedef struct ServiceFilter {
        const char *deployment, *service;
} ServiceFilter;

static bool job_matches(const void *rec, const void *arg) {
        const SchedJobExecution *j = rec;
        const ServiceFilter *f = arg;

        return (!f->deployment || streq(j->deployment, f->deployment)) &&
               (!f->service || streq(j->service, f->service));
}

int sched_state_list_job_executions(const SchedState *s, const char *deployment,
                                    const char *service, const SchedJobExecution ***ret,
                                    size_t *ret_n) {
        ServiceFilter f = { deployment, deployment ? service : NULL };

        return table_collect(&s->jobs, NULL, job_matches, &f, (const void ***) ret, ret_n);
}

int sched_state_list_cron_runs(const SchedState *s, const char *deployment,
                               const SchedCronRun ***ret, size_t *ret_n) {
        _cleanup_free_ char *prefix = NULL;

        if (make_prefix(deployment, NULL, &prefix) < 0)
                return -ENOMEM;
        return table_collect(&s->crons, prefix, NULL, NULL, (const void ***) ret, ret_n);
}

int sched_node_to_json(const SchedNode *n, json_t **ret) {
        return record_to_json(&node_type, n, ret);
}
int sched_deployment_to_json(const SchedDeployment *d, json_t **ret) {
        return record_to_json(&deployment_type, d, ret);
}
int sched_replica_to_json(const SchedReplica *r, json_t **ret) {
        return record_to_json(&replica_type, r, ret);
}
int sched_scale_event_to_json(const SchedScaleEvent *e, json_t **ret) {
        return record_to_json(&scale_event_type, e, ret);
}
int sched_job_execution_to_json(const SchedJobExecution *j, json_t **ret) {
        return record_to_json(&job_type, j, ret);
}
int sched_cron_run_to_json(const SchedCronRun *c, json_t **ret) {
        return record_to_json(&cron_type, c, ret);
}

typedef struct TableName {
        const char *name;
        size_t offset;
} TableName;

static const TableName table_names[] = {
        { "nodes", offsetof(SchedState, nodes) },
        { "deployments", offsetof(SchedState, deployments) },
        { "replicas", offsetof(SchedState, replicas) },
        { "scale_events", offsetof(SchedState, scale_events) },
        { "job_executions", offsetof(SchedState, jobs) },
        { "cron_runs", offsetof(SchedState, crons) },
};

#define STATE_TABLE(s, i) ((Table *) ((uint8_t *) (s) + table_names[i].offset))

static int table_to_json(const Table *t, json_t **ret) {
        _cleanup_(json_decrefp) json_t *a = json_array();

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < t->n; i++) {
                json_t *o;
                int r = record_to_json(t->type, t->rows[i].rec, &o);

                if (r < 0)
                        return r;
                if (json_array_append_new(a, o) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int sched_state_dump_table(const SchedState *s, const char *table, json_t **ret) {
        for (size_t i = 0; i < ELEMENTSOF(table_names); i++)
                if (table && streq(table_names[i].name, table))
                        return table_to_json(STATE_TABLE(s, i), ret);
        return -EINVAL;
}

int sched_state_dump_json(const SchedState *s, json_t **ret) {
        _cleanup_(json_decrefp) json_t *o = json_object();

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(table_names); i++) {
                json_t *a;
                int r = table_to_json(STATE_TABLE(s, i), &a);

                if (r < 0)
                        return r;
                if (json_object_set_new(o, table_names[i].name, a) < 0)
                        return -ENOMEM;
        }
        if (json_object_set_new(o, "revision", json_integer((json_int_t) s->revision)) < 0 ||
            json_object_set_new(o, "scale_seq", json_integer((json_int_t) s->scale_seq)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- commands ------------------------------------------------------------------------------ */

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The sorted service names of a canonical spec, after checking it is one for this deployment. */
static int spec_service_names(const char *spec, const char *name, char ***ret,
                              SchedApplyResult *res) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_(strv_freep) char **names = NULL;
        json_t *services, *v;
        json_error_t err;
        const char *k;

        j = json_loads(spec, JSON_REJECT_DUPLICATES, &err);
        if (!j) {
                if (json_error_code(&err) == json_error_out_of_memory)
                        return -ENOMEM;
                return refuse(res, -EINVAL, "deployment: 'spec' is not JSON: %s", err.text);
        }
        if (!json_is_object(j))
                return refuse(res, -EINVAL, "deployment: 'spec' is not a JSON object");
        if (!json_is_string(json_object_get(j, "deployment")) ||
            !streq(json_string_value(json_object_get(j, "deployment")), name))
                return refuse(res, -EINVAL, "deployment: 'spec' is not the spec of '%s'", name);
        services = json_object_get(j, "services");
        if (!json_is_object(services) || json_object_size(services) == 0)
                return refuse(res, -EINVAL, "deployment: 'spec' has no services");
        json_object_foreach (services, k, v) {
                if (!name_is_valid(k))
                        return refuse(res, -EINVAL, "deployment: service name '%s' is invalid", k);
                if (strv_extend(&names, k) < 0)
                        return -ENOMEM;
        }
        qsort(names, strv_length(names), sizeof(char *), strcmp_ptr);
        *ret = TAKE_PTR(names);
        return 0;
}

static int check_service(const SchedState *s, const char *kind, const char *deployment,
                         const char *service, SchedApplyResult *res) {
        const SchedDeployment *d = sched_state_get_deployment(s, deployment);

        if (!d)
                return refuse(res, -ENOENT, "%s: deployment '%s' does not exist", kind, deployment);
        if (!sched_deployment_has_service(d, service))
                return refuse(res, -ENOENT, "%s: deployment '%s' has no service '%s'", kind,
                              deployment, service);
        return 0;
}

uint32_t sched_service_replicas(const json_t *service, const SchedDeployment *d,
                                const char *service_name) {
        json_t *scale = json_object_get(service, "scale"), *v;
        const char *mode = json_string_value(json_object_get(scale, "mode"));

        if (d && service_name) {
                v = json_object_get(d->scale, service_name);
                if (json_is_integer(v))
                        return (uint32_t) json_integer_value(v);
        }
        if (mode && streq(mode, "fixed"))
                v = json_object_get(scale, "replicas");
        else if (mode && streq(mode, "manual"))
                v = json_object_get(scale, "replicas");
        else
                v = json_object_get(scale, "min");
        if (json_is_integer(v) && json_integer_value(v) >= 0)
                return (uint32_t) MIN(json_integer_value(v), (json_int_t) SCHED_SCALE_REPLICAS_MAX);
        /* manual without a count, or a service with no scale object at all */
        return 1;
}

static const char *service_scale_mode(const json_t *service) {
        return json_string_value(json_object_get(json_object_get(service, "scale"), "mode"))
                       ?: "adaptive";
}

static const char *service_rtype(const json_t *service) {
        return json_string_value(json_object_get(service, "rtype")) ?: "service";
}

/* The canonical service `name` of the deployment's spec (a new reference in *ret, NULL when
 * the spec has no such service). */
static int deployment_spec_service(const SchedDeployment *d, const char *name, json_t **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_error_t err;

        j = json_loads(d->spec, 0, &err);
        if (!j)
                return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
        *ret = json_incref(json_object_get(json_object_get(j, "services"), name));
        return 0;
}

/* A new spec keeps the overrides of services that still exist and may still be scaled by
 * command; a fixed service's count is the spec's again. */
static int deployment_trim_scale(SchedDeployment *d) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_t *services, *v;
        json_error_t err;
        const char *k;
        void *tmp;

        if (json_object_size(d->scale) == 0)
                return 0;
        j = json_loads(d->spec, 0, &err);
        if (!j)
                return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
        services = json_object_get(j, "services");
        json_object_foreach_safe(d->scale, tmp, k, v) {
                json_t *svc = json_object_get(services, k);

                if (!svc || !streq(service_rtype(svc), "service") ||
                    streq(service_scale_mode(svc), "fixed"))
                        if (json_object_del(d->scale, k) < 0)
                                return -ENOMEM;
        }
        return 0;
}

/* Removes and returns an optional unsigned field of the command that is not a record field. */
static int take_u64(json_t *args, const char *kind, const char *name, bool required, uint64_t *ret,
                    bool *ret_given, SchedApplyResult *res) {
        json_t *v = json_object_get(args, name);

        *ret_given = v != NULL;
        if (!v) {
                if (required)
                        return refuse(res, -EINVAL, "%s: '%s' is required", kind, name);
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return refuse(res, -EINVAL, "%s: '%s' must be an unsigned integer", kind, name);
        *ret = (uint64_t) json_integer_value(v);
        return json_object_del(args, name) < 0 ? -ENOMEM : 0;
}

/* The command's "time" is stored under the record's own name for it. */
static int rename_time(json_t *args, const char *to, bool required, const char *kind,
                       SchedApplyResult *res) {
        json_t *v = json_object_get(args, "time");

        if (!v)
                return required ? refuse(res, -EINVAL, "%s: 'time' is required", kind) : 0;
        if (json_object_set(args, to, v) < 0 || json_object_del(args, "time") < 0)
                return -ENOMEM;
        return 0;
}

/* The key of the row the command addresses, from its key fields. */
static int probe_key(const Table *t, json_t *args, char **ret, SchedApplyResult *res) {
        const RecordType *type = t->type;
        void *probe;
        char *k;
        int r = 0;

        probe = record_new(type);
        if (!probe)
                return -ENOMEM;
        for (size_t i = 0; i < type->n_fields && r >= 0; i++) {
                const Field *f = &type->fields[i];
                json_t *v;

                if (!(f->flags & FIELD_KEY))
                        continue;
                v = json_object_get(args, f->name);
                if (!v)
                        r = refuse(res, -EINVAL, "%s: '%s' is required", type->name, f->name);
                else
                        r = field_parse(type, f, probe, v, res);
        }
        if (r >= 0) {
                k = type->make_key(probe);
                r = k ? 0 : -ENOMEM;
        }
        record_free(type, probe);
        if (r < 0)
                return r;
        *ret = k;
        return 0;
}

/* A copy of the addressed row updated from the command, or a new row; *ret_old is the row
 * now (NULL if none). must_exist refuses new rows with -ENOENT. */
static int prepare(const Table *t, json_t *args, bool must_exist, void **ret_rec,
                   const void **ret_old, SchedApplyResult *res) {
        _cleanup_free_ char *k = NULL;
        const void *old;
        void *rec;
        int r;

        r = probe_key(t, args, &k, res);
        if (r < 0)
                return r;
        old = table_get(t, k);
        if (!old && must_exist) {
                for (char *p = k; *p; p++)
                        if (*p == KEY_SEP[0])
                                *p = '/';
                return refuse(res, -ENOENT, "%s '%s' does not exist", t->type->name, k);
        }
        rec = old ? record_copy(t->type, old) : record_new(t->type);
        if (!rec)
                return -ENOMEM;
        r = record_update(t->type, rec, args, !old, res);
        if (r < 0) {
                record_free(t->type, rec);
                return r;
        }
        *ret_rec = rec;
        *ret_old = old;
        return 0;
}

static int commit(Table *t, void *rec) {
        int r = table_put_record(t, rec);

        if (r < 0)
                record_free(t->type, rec);
        return r;
}

typedef int (*OpFunc)(SchedState *s, json_t *args, SchedApplyResult *res);

static int op_node_upsert(SchedState *s, json_t *args, SchedApplyResult *res) {
        const void *old;
        void *rec;
        int r;

        r = rename_time(args, "heartbeat", false, "node", res);
        if (r < 0)
                return r;
        r = prepare(&s->nodes, args, false, &rec, &old, res);
        if (r < 0)
                return r;
        return commit(&s->nodes, rec);
}

static int op_node_heartbeat(SchedState *s, json_t *args, SchedApplyResult *res) {
        const void *old;
        void *rec;
        int r;

        r = rename_time(args, "heartbeat", true, "node", res);
        if (r < 0)
                return r;
        r = prepare(&s->nodes, args, true, &rec, &old, res);
        if (r < 0)
                return r;
        return commit(&s->nodes, rec);
}

static int op_node_delete(SchedState *s, json_t *args, SchedApplyResult *res) {
        _cleanup_free_ char *k = NULL;
        ssize_t i;
        int r;

        r = probe_key(&s->nodes, args, &k, res);
        if (r < 0)
                return r;
        i = table_find(&s->nodes, k);
        if (i < 0)
                return refuse(res, -ENOENT, "node '%s' does not exist", k);
        for (size_t j = 0; j < s->replicas.n; j++)
                if (replica_on_node(s->replicas.rows[j].rec, k))
                        return refuse(res, -EBUSY, "node '%s' still has replicas", k);
        table_remove_at(&s->nodes, i);
        return 0;
}

static int op_deployment_put(SchedState *s, json_t *args, SchedApplyResult *res) {
        _cleanup_(strv_freep) char **names = NULL;
        const SchedDeployment *old;
        SchedDeployment *d;
        uint64_t expected = 0;
        bool given;
        int r;

        r = take_u64(args, "deployment", "expected_generation", true, &expected, &given, res);
        if (r < 0)
                return r;
        r = rename_time(args, "updated_at", false, "deployment", res);
        if (r < 0)
                return r;
        r = prepare(&s->deployments, args, false, (void **) &d, (const void **) &old, res);
        if (r < 0)
                return r;
        if (old && expected == 0)
                r = refuse(res, -EEXIST, "deployment '%s' already exists (generation %" PRIu64 ")",
                           d->name, old->generation);
        else if (old && expected != old->generation)
                r = refuse(res, -ESTALE,
                           "deployment '%s' is at generation %" PRIu64 ", not %" PRIu64, d->name,
                           old->generation, expected);
        else if (!old && expected != 0)
                r = refuse(res, -ESTALE,
                           "deployment '%s' does not exist, expected generation %" PRIu64, d->name,
                           expected);
        else
                r = spec_service_names(d->spec, d->name, &names, res);
        if (r < 0) {
                record_free(&deployment_type, d);
                return r;
        }
        strv_free(d->service_names);
        d->service_names = TAKE_PTR(names);
        d->generation = old ? old->generation + 1 : 1;
        d->status = SCHED_DEPLOYMENT_PENDING;
        d->message[0] = '\0';
        d->stop_timeout = 0;
        r = deployment_trim_scale(d);
        if (r < 0) {
                record_free(&deployment_type, d);
                return r;
        }
        r = commit(&s->deployments, d);
        if (r < 0)
                return r;
        if (res)
                res->generation = expected + 1;
        return 0;
}

static int op_deployment_status(SchedState *s, json_t *args, SchedApplyResult *res) {
        const SchedDeployment *old;
        SchedDeployment *d;
        uint64_t generation = 0;
        bool given;
        int r;

        r = take_u64(args, "deployment", "generation", false, &generation, &given, res);
        if (r < 0)
                return r;
        if (!json_object_get(args, "status"))
                return refuse(res, -EINVAL, "deployment: 'status' is required");
        r = rename_time(args, "updated_at", false, "deployment", res);
        if (r < 0)
                return r;
        r = prepare(&s->deployments, args, true, (void **) &d, (const void **) &old, res);
        if (r < 0)
                return r;
        if (given && generation != old->generation)
                r = refuse(res, -ESTALE,
                           "deployment '%s' is at generation %" PRIu64 ", not %" PRIu64, d->name,
                           old->generation, generation);
        else if (json_object_get(args, "stop_timeout") && d->status != SCHED_DEPLOYMENT_STOPPING)
                r = refuse(res, -EINVAL,
                           "deployment: 'stop_timeout' is only valid with status 'stopping'");
        if (r < 0) {
                record_free(&deployment_type, d);
                return r;
        }
        if (!json_object_get(args, "message"))
                d->message[0] = '\0';
        /* A timeout given with "stopping" holds until the deployment is gone or put again; a
         * deployment that is not stopping has none. */
        if (d->status != SCHED_DEPLOYMENT_STOPPING)
                d->stop_timeout = 0;
        return commit(&s->deployments, d);
}

static void table_remove_prefix(Table *t, const char *prefix) {
        size_t lo, hi;

        table_prefix_range(t, prefix, &lo, &hi);
        while (hi > lo)
                table_remove_at(t, --hi);
}

static int op_deployment_delete(SchedState *s, json_t *args, SchedApplyResult *res) {
        _cleanup_free_ char *k = NULL, *prefix = NULL;
        const SchedDeployment *d;
        uint64_t expected = 0;
        size_t lo, hi;
        bool given;
        ssize_t i;
        int r;

        r = take_u64(args, "deployment", "expected_generation", false, &expected, &given, res);
        if (r < 0)
                return r;
        r = probe_key(&s->deployments, args, &k, res);
        if (r < 0)
                return r;
        i = table_find(&s->deployments, k);
        if (i < 0)
                return refuse(res, -ENOENT, "deployment '%s' does not exist", k);
        d = s->deployments.rows[i].rec;
        if (given && expected != d->generation)
                return refuse(res, -ESTALE,
                              "deployment '%s' is at generation %" PRIu64 ", not %" PRIu64, k,
                              d->generation, expected);
        prefix = strjoin(k, KEY_SEP);
        if (!prefix)
                return -ENOMEM;
        table_prefix_range(&s->replicas, prefix, &lo, &hi);
        if (hi > lo)
                return refuse(res, -EBUSY, "deployment '%s' still has %zu replicas", k, hi - lo);

        table_remove_prefix(&s->scale_events, prefix);
        table_remove_prefix(&s->crons, prefix);
        for (size_t j = s->jobs.n; j > 0; j--)
                if (streq(((SchedJobExecution *) s->jobs.rows[j - 1].rec)->deployment, k))
                        table_remove_at(&s->jobs, j - 1);
        table_remove_at(&s->deployments, i);
        return 0;
}

static int op_replica_put(SchedState *s, json_t *args, SchedApplyResult *res) {
        const SchedReplica *old;
        SchedReplica *rep;
        int r;

        r = rename_time(args, "updated_at", true, "replica", res);
        if (r < 0)
                return r;
        r = prepare(&s->replicas, args, false, (void **) &rep, (const void **) &old, res);
        if (r < 0)
                return r;
        r = check_service(s, "replica", rep->deployment, rep->service, res);
        if (r >= 0 && !sched_state_get_node(s, rep->node))
                r = refuse(res, -ENOENT, "replica: node '%s' does not exist", rep->node);
        if (r < 0) {
                record_free(&replica_type, rep);
                return r;
        }
        return commit(&s->replicas, rep);
}

static int op_replica_delete(SchedState *s, json_t *args, SchedApplyResult *res) {
        _cleanup_free_ char *k = NULL;
        ssize_t i;
        int r;

        r = probe_key(&s->replicas, args, &k, res);
        if (r < 0)
                return r;
        i = table_find(&s->replicas, k);
        if (i < 0) {
                const char *d = json_string_value(json_object_get(args, "deployment"));
                const char *v = json_string_value(json_object_get(args, "service"));

                return refuse(res, -ENOENT, "replica '%s/%s/%" PRIi64 "' does not exist", d, v,
                              (int64_t) json_integer_value(json_object_get(args, "index")));
        }
        table_remove_at(&s->replicas, i);
        return 0;
}

static int op_scale_event(SchedState *s, json_t *args, SchedApplyResult *res) {
        _cleanup_free_ char *prefix = NULL;
        SchedScaleEvent *e;
        size_t lo, hi;
        int r;

        if (json_object_get(args, "seq"))
                return refuse(res, -EINVAL, "scale event: unknown field 'seq'");
        if (json_object_set_new(args, "seq", json_integer((json_int_t) s->scale_seq + 1)) < 0)
                return -ENOMEM;
        e = record_new(&scale_event_type);
        if (!e)
                return -ENOMEM;
        r = record_update(&scale_event_type, e, args, true, res);
        if (r >= 0)
                r = check_service(s, "scale event", e->deployment, e->service, res);
        if (r >= 0)
                r = make_prefix(e->deployment, e->service, &prefix);
        if (r < 0) {
                record_free(&scale_event_type, e);
                return r;
        }
        r = commit(&s->scale_events, e);
        if (r < 0)
                return r;
        s->scale_seq++;

        table_prefix_range(&s->scale_events, prefix, &lo, &hi);
        while (hi - lo > SCHED_SCALE_EVENTS_MAX) {
                table_remove_at(&s->scale_events, lo);
                hi--;
        }
        return 0;
}

static int op_service_scale(SchedState *s, json_t *args, SchedApplyResult *res) {
        _cleanup_(json_decrefp) json_t *svc = NULL, *ev = NULL;
        _cleanup_free_ char *key = NULL;
        const char *dname, *sname;
        const SchedDeployment *old;
        SchedDeployment *d;
        json_t *v;
        uint32_t from;
        int r;

        dname = json_string_value(json_object_get(args, "deployment"));
        sname = json_string_value(json_object_get(args, "service"));
        if (!dname || !sname)
                return refuse(res, -EINVAL,
                              "service_scale: 'deployment' and 'service' are required");
        v = json_object_get(args, "replicas");
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (json_int_t) SCHED_SCALE_REPLICAS_MAX)
                return refuse(res, -EINVAL,
                              "service_scale: 'replicas' must be an integer between 0 and %u",
                              SCHED_SCALE_REPLICAS_MAX);
        r = check_service(s, "service_scale", dname, sname, res);
        if (r < 0)
                return r;
        old = sched_state_get_deployment(s, dname);
        r = deployment_spec_service(old, sname, &svc);
        if (r < 0)
                return r;
        if (!svc || !streq(service_rtype(svc), "service"))
                return refuse(res, -EINVAL,
                              "service_scale: service '%s' of '%s' is a %s, not a service", sname,
                              dname, svc ? service_rtype(svc) : "?");
        from = sched_service_replicas(svc, old, sname);

        /* The scale event validates the rest (reason, time) and is the part that may be
         * refused, so it goes first; the deployment's row is ready before it so that nothing
         * after it can fail. */
        ev = json_pack("{s:s, s:s, s:I, s:O, s:O*, s:O*}", "deployment", dname, "service", sname,
                       "from", (json_int_t) from, "to", v, "reason",
                       json_object_get(args, "reason"), "time", json_object_get(args, "time"));
        if (!ev)
                return -ENOMEM;
        if (!json_object_get(ev, "reason"))
                return refuse(res, -EINVAL, "service_scale: 'reason' is required");
        if (!json_object_get(ev, "time"))
                return refuse(res, -EINVAL, "service_scale: 'time' is required");
        d = record_copy(&deployment_type, old);
        if (!d)
                return -ENOMEM;
        key = deployment_type.make_key(d);
        if (!key || json_object_set(d->scale, sname, v) < 0 ||
            table_reserve_one(&s->deployments) < 0) {
                record_free(&deployment_type, d);
                return -ENOMEM;
        }
        r = op_scale_event(s, ev, res);
        if (r < 0) {
                record_free(&deployment_type, d);
                return r;
        }
        table_put(&s->deployments, TAKE_PTR(key), d);
        return 0;
}

static bool job_is_finished(const SchedJobExecution *j) {
        return j->state == SCHED_JOB_SUCCEEDED || j->state == SCHED_JOB_FAILED ||
               j->state == SCHED_JOB_CANCELLED;
}

/* Keeps at most SCHED_JOB_EXECUTIONS_MAX executions of a service, dropping the finished ones
 * that started first (then by id), never `keep`. */
static void jobs_trim(Table *t, const char *deployment, const char *service, const char *keep) {
        for (;;) {
                ssize_t victim = -1;
                size_t n = 0;

                for (size_t i = 0; i < t->n; i++) {
                        const SchedJobExecution *j = t->rows[i].rec, *v;

                        if (!streq(j->deployment, deployment) || !streq(j->service, service))
                                continue;
                        n++;
                        if (!job_is_finished(j) || streq(j->id, keep))
                                continue;
                        v = victim >= 0 ? t->rows[victim].rec : NULL;
                        if (!v || j->started_usec < v->started_usec)
                                victim = i;
                }
                if (n <= SCHED_JOB_EXECUTIONS_MAX || victim < 0)
                        return;
                table_remove_at(t, victim);
        }
}

static int op_job_execution_put(SchedState *s, json_t *args, SchedApplyResult *res) {
        const SchedJobExecution *old;
        SchedJobExecution *j;
        int r;

        r = prepare(&s->jobs, args, false, (void **) &j, (const void **) &old, res);
        if (r < 0)
                return r;
        if (old && (!streq(old->deployment, j->deployment) || !streq(old->service, j->service)))
                r = refuse(res, -EINVAL,
                           "job execution '%s': 'deployment' and 'service' cannot change", j->id);
        else
                r = check_service(s, "job execution", j->deployment, j->service, res);
        if (r < 0) {
                record_free(&job_type, j);
                return r;
        }
        r = commit(&s->jobs, j);
        if (r < 0)
                return r;
        /* j is owned by the table now and stays valid: trimming never removes it. */
        jobs_trim(&s->jobs, j->deployment, j->service, j->id);
        return 0;
}

static int op_cron_run_put(SchedState *s, json_t *args, SchedApplyResult *res) {
        const SchedCronRun *old;
        SchedCronRun *c;
        int r;

        r = prepare(&s->crons, args, false, (void **) &c, (const void **) &old, res);
        if (r < 0)
                return r;
        r = check_service(s, "cron run", c->deployment, c->service, res);
        if (r < 0) {
                record_free(&cron_type, c);
                return r;
        }
        return commit(&s->crons, c);
}

typedef struct Op {
        const char *name;
        OpFunc func;
        const char *const *allowed; /* NULL-terminated: the fields the command may carry */
} Op;

#define STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const Op ops[] = {
        { "node_upsert", op_node_upsert, STRV("id", "address", "labels", "cpu", "memory", "time") },
        { "node_heartbeat", op_node_heartbeat, STRV("id", "time") },
        { "node_delete", op_node_delete, STRV("id") },
        { "deployment_put", op_deployment_put,
          STRV("name", "spec", "expected_generation", "time") },
        { "deployment_status", op_deployment_status,
          STRV("name", "status", "generation", "message", "services", "stop_timeout", "time") },
        { "deployment_delete", op_deployment_delete, STRV("name", "expected_generation") },
        { "replica_put", op_replica_put,
          STRV("deployment", "service", "index", "node", "container_id", "generation", "state",
               "health", "ip", "restarts", "message", "time") },
        { "replica_delete", op_replica_delete, STRV("deployment", "service", "index") },
        { "scale_event", op_scale_event,
          STRV("deployment", "service", "from", "to", "reason", "time") },
        { "job_execution_put", op_job_execution_put,
          STRV("id", "deployment", "service", "state", "exit_code", "started", "finished",
               "log_ref", "message") },
        { "cron_run_put", op_cron_run_put, STRV("deployment", "service", "last", "next") },
        { "service_scale", op_service_scale,
          STRV("deployment", "service", "replicas", "reason", "time") },
};

int sched_state_apply_json(SchedState *s, const json_t *cmd, SchedApplyResult *ret_result) {
        _cleanup_(json_decrefp) json_t *args = NULL;
        SchedApplyResult result = {};
        const char *op, *k;
        const Op *o = NULL;
        json_t *v;
        int r;

        assert(s);
        if (!json_is_object(cmd))
                r = refuse(&result, -EINVAL, "a command must be a JSON object");
        else if (!json_is_string(json_object_get(cmd, "op")))
                r = refuse(&result, -EINVAL, "command: 'op' is required");
        else
                r = 0;
        if (r < 0)
                goto finish;

        op = json_string_value(json_object_get(cmd, "op"));
        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (streq(ops[i].name, op))
                        o = &ops[i];
        if (!o) {
                r = refuse(&result, -EINVAL, "unknown op '%s'", op);
                goto finish;
        }
        json_object_foreach ((json_t *) cmd, k, v) {
                const char *const *a;

                if (streq(k, "op"))
                        continue;
                for (a = o->allowed; *a && !streq(*a, k); a++)
                        ;
                if (!*a) {
                        r = refuse(&result, -EINVAL, "%s: unknown field '%s'", op, k);
                        goto finish;
                }
        }

        args = json_copy((json_t *) cmd);
        if (!args || json_object_del(args, "op") < 0)
                return -ENOMEM;
        r = o->func(s, args, &result);
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                s->revision++;
                result.error = 0;
                result.message[0] = '\0';
        }
finish:
        result.revision = s->revision;
        if (ret_result)
                *ret_result = result;
        return r < 0 ? r : 0;
}

int sched_state_apply(SchedState *s, const char *cmd, size_t len, SchedApplyResult *ret_result) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        SchedApplyResult result = {};
        json_error_t err;

        assert(s);
        assert(cmd || len == 0);
        if (len > SCHED_COMMAND_MAX) {
                result.revision = s->revision;
                (void) refuse(&result, -E2BIG, "command of %zu bytes exceeds %u", len,
                              SCHED_COMMAND_MAX);
                goto refused;
        }
        j = json_loadb(cmd ?: "", len, JSON_REJECT_DUPLICATES, &err);
        if (!j) {
                if (json_error_code(&err) == json_error_out_of_memory)
                        return -ENOMEM;
                result.revision = s->revision;
                (void) refuse(&result, -EINVAL, "malformed command: %s (line %d, column %d)",
                              err.text, err.line, err.column);
                goto refused;
        }
        return sched_state_apply_json(s, j, ret_result);

refused:
        if (ret_result)
                *ret_result = result;
        return result.error;
}

/* ---- snapshots ----------------------------------------------------------------------------- */

int sched_state_snapshot(const SchedState *s, char **ret_buf, size_t *ret_len) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        char *buf;
        int r;

        assert(s);
        assert(ret_buf);
        assert(ret_len);
        r = sched_state_dump_json(s, &o);
        if (r < 0)
                return r;
        if (json_object_set_new(o, "format", json_string(SNAPSHOT_FORMAT)) < 0 ||
            json_object_set_new(o, "version", json_integer(SCHED_SNAPSHOT_VERSION)) < 0)
                return -ENOMEM;
        buf = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (!buf)
                return -ENOMEM;
        *ret_len = strlen(buf);
        *ret_buf = buf;
        return 0;
}

static int snapshot_u64(json_t *o, const char *name, uint64_t *ret) {
        json_t *v = json_object_get(o, name);

        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -EBADMSG;
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

static int restore_table(Table *t, json_t *a) {
        size_t i;
        json_t *o;

        if (!json_is_array(a))
                return -EBADMSG;
        json_array_foreach (a, i, o) {
                _cleanup_free_ char *k = NULL;
                void *rec;
                int r;

                if (!json_is_object(o))
                        return -EBADMSG;
                rec = record_new(t->type);
                if (!rec)
                        return -ENOMEM;
                r = record_update(t->type, rec, o, true, NULL);
                if (r >= 0 && t->type == &deployment_type) {
                        SchedDeployment *d = rec;

                        r = spec_service_names(d->spec, d->name, &d->service_names, NULL);
                }
                if (r >= 0) {
                        k = t->type->make_key(rec);
                        if (!k)
                                r = -ENOMEM;
                        else if (table_find(t, k) >= 0)
                                r = -EBADMSG;
                }
                if (r >= 0)
                        r = table_reserve_one(t);
                if (r < 0) {
                        record_free(t->type, rec);
                        return r == -ENOMEM ? r : -EBADMSG;
                }
                table_put(t, TAKE_PTR(k), rec);
        }
        return 0;
}

int sched_state_restore(const void *buf, size_t len, SchedState **ret) {
        _cleanup_(sched_state_freep) SchedState *s = NULL;
        _cleanup_(json_decrefp) json_t *o = NULL;
        json_error_t err;
        uint64_t version;
        json_t *format;
        int r;

        assert(buf || len == 0);
        assert(ret);
        o = json_loadb(buf ?: "", len, JSON_REJECT_DUPLICATES, &err);
        if (!o)
                return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EBADMSG;
        format = json_object_get(o, "format");
        if (!json_is_object(o) || !json_is_string(format) ||
            !streq(json_string_value(format), SNAPSHOT_FORMAT))
                return -EBADMSG;
        if (snapshot_u64(o, "version", &version) < 0 || version == 0)
                return -EBADMSG;
        if (version > SCHED_SNAPSHOT_VERSION)
                return -EPROTONOSUPPORT;

        r = sched_state_new(&s);
        if (r < 0)
                return r;
        if (snapshot_u64(o, "revision", &s->revision) < 0 ||
            snapshot_u64(o, "scale_seq", &s->scale_seq) < 0)
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(table_names); i++) {
                r = restore_table(STATE_TABLE(s, i), json_object_get(o, table_names[i].name));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}
