/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-storage.c: CreateContainer's storage, devices, sysctls and privileged options. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fileio.h"
#include "parse-util.h"
#include "path-util.h"
#include "runtime-container.h"
#include "runtime-internal.h"
#include "runtime-storage.h"
#include "string-util.h"

static int finish(int r, char **error, char **ret_error) {
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(*error);
        return r;
}

/* The array at key in parent, created when missing. */
static int array_child(json_t *parent, const char *key, const char *path, json_t **ret,
                       char **error) {
        json_t *a = json_object_get(parent, key);

        if (!a) {
                a = json_array();
                if (!a || json_object_set_new(parent, key, a) < 0)
                        return -ENOMEM;
        } else if (!json_is_array(a))
                return error_setf(error, -EBADMSG, "%s: not an array", path);
        *ret = a;
        return 0;
}

static int object_child(json_t *parent, const char *key, const char *path, json_t **ret,
                        char **error) {
        json_t *o = json_object_get(parent, key);

        if (!o) {
                o = json_object();
                if (!o || json_object_set_new(parent, key, o) < 0)
                        return -ENOMEM;
        } else if (!json_is_object(o))
                return error_setf(error, -EBADMSG, "%s: not an object", path);
        *ret = o;
        return 0;
}

/* ---- storage ------------------------------------------------------------------------------ */

static const char *const storage_type_table[_STORAGE_TYPE_MAX] = {
        [STORAGE_BIND] = "bind",
        [STORAGE_NAMED] = "named",
        [STORAGE_ANONYMOUS] = "anonymous",
        [STORAGE_TMPFS] = "tmpfs",
};

static void storage_volume_done(StorageVolume *v) {
        free(v->source);
        free(v->name);
        free(v->target);
        free(v->tier);
}

void storage_list_done(StorageList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_volumes; i++)
                storage_volume_done(&l->volumes[i]);
        l->volumes = mfree(l->volumes);
        l->n_volumes = 0;
}

/* The string at key: -EINVAL when present and not a string, 0 and NULL when absent. */
static int get_string(json_t *o, const char *key, size_t i, const char **ret, char **error) {
        json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return error_setf(error, -EINVAL, "storage[%zu].%s: expected a string", i, key);
        *ret = json_string_value(v);
        return 0;
}

static int get_bool(json_t *o, const char *key, const char *what, size_t i, bool def, bool *ret,
                    char **error) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_boolean(v))
                return error_setf(error, -EINVAL, "%s[%zu].%s: expected a boolean", what, i, key);
        *ret = json_is_true(v);
        return 0;
}

/* A byte count: the canonical integer, or a string with a unit ("256Mi"). */
static int get_size(json_t *o, size_t i, uint64_t *ret, char **error) {
        json_t *v = json_object_get(o, "size");

        *ret = 0;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_integer(v) && json_integer_value(v) > 0) {
                *ret = (uint64_t) json_integer_value(v);
                return 0;
        }
        if (json_is_string(v) && parse_size(json_string_value(v), ret) >= 0 && *ret > 0)
                return 0;
        return error_setf(
                error, -EINVAL,
                "storage[%zu].size: expected a size greater than 0 in bytes or with a unit "
                "such as \"512Mi\"",
                i);
}

/* The canonical number (01777 is 1023), or octal digits in a string ("1777"). */
static int get_mode(json_t *o, size_t i, mode_t *ret, char **error) {
        json_t *v = json_object_get(o, "mode");

        *ret = 01777;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 07777) {
                *ret = (mode_t) json_integer_value(v);
                return 0;
        }
        if (json_is_string(v) && parse_file_mode(json_string_value(v), ret) >= 0)
                return 0;
        return error_setf(error, -EINVAL,
                          "storage[%zu].mode: expected a file mode between 0 and 07777", i);
}

static int parse_volume(json_t *o, size_t i, StorageVolume *v, char **error) {
        const char *type, *target, *source, *name, *tier;
        struct stat st;
        int r;

        if (!json_is_object(o))
                return error_setf(error, -EINVAL, "storage[%zu]: expected an object", i);
        r = get_string(o, "type", i, &type, error);
        if (r < 0)
                return r;
        if (!type)
                return error_setf(error, -EINVAL, "storage[%zu].type: required", i);
        if (streq(type, "s3"))
                return error_setf(error, -EINVAL, "storage[%zu]: s3 volumes are not supported yet",
                                  i);
        v->type = _STORAGE_TYPE_INVALID;
        for (StorageType t = 0; t < _STORAGE_TYPE_MAX; t++)
                if (streq(type, storage_type_table[t]))
                        v->type = t;
        if (v->type < 0)
                return error_setf(
                        error, -EINVAL,
                        "storage[%zu].type: '%s' is not one of 'bind', 'named', 'anonymous', "
                        "'tmpfs', 's3'",
                        i, type);

        r = get_string(o, "target", i, &target, error);
        if (r < 0)
                return r;
        if (!target)
                return error_setf(error, -EINVAL, "storage[%zu].target: required", i);
        if (!path_is_absolute(target))
                return error_setf(error, -EINVAL,
                                  "storage[%zu].target: '%s' is not an absolute path", i, target);
        v->target = strdup(target);
        if (!v->target)
                return -ENOMEM;
        path_simplify(v->target);
        if (streq(v->target, "/") || !path_is_normalized(v->target))
                return error_setf(
                        error, -EINVAL,
                        "storage[%zu].target: '%s' must be a normalized path other than '/'", i,
                        target);

        if (v->type == STORAGE_BIND) {
                r = get_string(o, "source", i, &source, error);
                if (r < 0)
                        return r;
                if (!source)
                        return error_setf(error, -EINVAL, "storage[%zu].source: required", i);
                if (!path_is_absolute(source))
                        return error_setf(error, -EINVAL,
                                          "storage[%zu].source: '%s' is not an absolute path", i,
                                          source);
                if (stat(source, &st) < 0)
                        return error_setf(error, -EINVAL, "storage[%zu].source: '%s': %m", i,
                                          source);
                v->source = strdup(source);
                if (!v->source)
                        return -ENOMEM;
        }
        if (v->type == STORAGE_NAMED) {
                r = get_string(o, "name", i, &name, error);
                if (r < 0)
                        return r;
                if (!name)
                        return error_setf(error, -EINVAL, "storage[%zu].name: required", i);
                /* The name becomes a directory name: no '/', and no "." or "..". */
                if (!container_name_is_valid(name))
                        return error_setf(error, -EINVAL,
                                          "storage[%zu].name: '%s' is not 1-63 characters of "
                                          "[a-zA-Z0-9_.-] starting with a letter or digit",
                                          i, name);
                v->name = strdup(name);
                if (!v->name)
                        return -ENOMEM;
        }
        if (IN_SET(v->type, STORAGE_BIND, STORAGE_NAMED)) {
                r = get_bool(o, "readonly", "storage", i, false, &v->readonly, error);
                if (r < 0)
                        return r;
        }
        if (IN_SET(v->type, STORAGE_NAMED, STORAGE_ANONYMOUS)) {
                r = get_string(o, "tier", i, &tier, error);
                if (r < 0)
                        return r;
                tier = tier ?: "local";
                if (!streq(tier, "local") && !streq(tier, "cached") && !streq(tier, "network"))
                        return error_setf(
                                error, -EINVAL,
                                "storage[%zu].tier: '%s' is not one of 'local', 'cached', "
                                "'network'",
                                i, tier);
                v->tier = strdup(tier);
                if (!v->tier)
                        return -ENOMEM;
        }
        if (IN_SET(v->type, STORAGE_NAMED, STORAGE_TMPFS)) {
                r = get_size(o, i, &v->size, error);
                if (r < 0)
                        return r;
        }
        if (v->type == STORAGE_TMPFS) {
                r = get_mode(o, i, &v->mode, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int storage_parse(const char *json_text, StorageList *ret, char **ret_error) {
        _cleanup_(json_decrefp) json_t *a = NULL;
        _cleanup_(storage_list_done) StorageList l = {};
        _cleanup_free_ char *error = NULL;
        json_error_t e;
        json_t *o;
        size_t i;
        int r;

        assert(ret);
        if (isempty(json_text)) {
                *ret = (StorageList){};
                return 0;
        }
        a = json_loads(json_text, JSON_REJECT_DUPLICATES, &e);
        if (!a)
                return finish(
                        error_setf(&error, -EINVAL, "storage: %d:%d: %s", e.line, e.column, e.text),
                        &error, ret_error);
        if (!json_is_array(a))
                return finish(error_setf(&error, -EINVAL, "storage: expected a JSON array"), &error,
                              ret_error);
        l.volumes = new0(StorageVolume, json_array_size(a) ?: 1);
        if (!l.volumes)
                return -ENOMEM;
        json_array_foreach (a, i, o) {
                StorageVolume *v = &l.volumes[i];

                l.n_volumes = i + 1;
                r = parse_volume(o, i, v, &error);
                if (r < 0)
                        return finish(r, &error, ret_error);
                for (size_t k = 0; k < i; k++)
                        if (streq(l.volumes[k].target, v->target))
                                return finish(error_setf(&error, -EINVAL,
                                                         "storage[%zu].target: '%s' is already the "
                                                         "target of storage[%zu]",
                                                         i, v->target, k),
                                              &error, ret_error);
        }
        *ret = l;
        l = (StorageList){};
        return 0;
}

int storage_volume_host_path(const StorageList *l, size_t index, const char *volumes_dir,
                             const char *container_dir, char **ret) {
        const StorageVolume *v;
        char number[32];

        assert(l);
        assert(index < l->n_volumes);
        assert(ret);
        v = &l->volumes[index];
        switch (v->type) {
        case STORAGE_NAMED:
                *ret = path_join(volumes_dir, v->name);
                break;
        case STORAGE_ANONYMOUS:
                snprintf(number, sizeof(number), "%zu", index);
                *ret = path_join(container_dir, "volumes", number);
                break;
        default:
                *ret = NULL;
                return 0;
        }
        return *ret ? 0 : -ENOMEM;
}

static void remove_all(char **dirs) {
        for (size_t i = 0; dirs && dirs[i]; i++)
                (void) rm_rf(dirs[i]);
}

int layers_lookup(char *const *lowers, const char *rel, struct stat *ret_st, char **ret_path) {
        for (size_t i = 0; lowers && lowers[i]; i++) {
                _cleanup_free_ char *p = strdup(lowers[i]);
                bool hidden_below = false;
                const char *c = rel;

                if (!p)
                        return -ENOMEM;
                /* Component by component: what this layer has at each level decides whether the
                 * layers below are seen there at all. */
                for (;;) {
                        size_t n;
                        struct stat st;
                        char *q, *next;

                        c += strspn(c, "/");
                        n = strcspn(c, "/");
                        if (n == 0)
                                break;
                        q = strndup(c, n);
                        if (!q)
                                return -ENOMEM;
                        next = path_join(p, q);
                        free(q);
                        if (!next)
                                return -ENOMEM;
                        free_and_replace(p, next);
                        c += n;
                        if (lstat(p, &st) < 0) {
                                if (errno != ENOENT && errno != ENOTDIR)
                                        return -errno;
                                break; /* not in this layer: the lower ones may have it */
                        }
                        if (S_ISCHR(st.st_mode) && st.st_rdev == 0)
                                return -ENOENT; /* a whiteout */
                        if (c[strspn(c, "/")] == 0) {
                                if (ret_st)
                                        *ret_st = st;
                                if (ret_path)
                                        *ret_path = TAKE_PTR(p);
                                return 0;
                        }
                        if (!S_ISDIR(st.st_mode))
                                return -ENOENT; /* a file here hides the rest of the path */
                        {
                                char opaque[2] = {};

                                if (lgetxattr(p, "trusted.overlay.opaque", opaque, 1) == 1 &&
                                    opaque[0] == 'y')
                                        hidden_below = true;
                        }
                }
                if (hidden_below)
                        return -ENOENT;
        }
        return -ENOENT;
}

int storage_prepare(const StorageList *l, const char *volumes_dir, const char *container_dir,
                    char *const *lowers, char ***ret_created, char **ret_error) {
        _cleanup_strv_free_ char **created = NULL;
        _cleanup_free_ char *error = NULL;
        int r = 0;

        assert(l);
        assert(volumes_dir);
        assert(container_dir);
        assert(ret_created);

        for (size_t i = 0; i < l->n_volumes; i++) {
                const StorageVolume *v = &l->volumes[i];
                _cleanup_free_ char *p = NULL;
                struct stat st;

                r = storage_volume_host_path(l, i, volumes_dir, container_dir, &p);
                if (r < 0)
                        break;
                if (!p)
                        continue;
                if (stat(p, &st) >= 0) {
                        if (S_ISDIR(st.st_mode))
                                continue;
                        r = error_setf(&error, -ENOTDIR, "storage[%zu]: '%s' is not a directory", i,
                                       p);
                        break;
                }
                if (errno != ENOENT) {
                        r = error_setf(&error, -errno, "storage[%zu]: '%s': %m", i, p);
                        break;
                }
                /* mkdir_p creates the parents (volumes/ itself the first time) with the same
                 * mode; chmod keeps the umask out of it. */
                r = mkdir_p(p, 0755);
                if (r >= 0) {
                        struct stat img;

                        if (layers_lookup(lowers, v->target, &img, NULL) >= 0 &&
                            S_ISDIR(img.st_mode)) {
                                if (chown(p, img.st_uid, img.st_gid) < 0 ||
                                    chmod(p, img.st_mode & 07777) < 0)
                                        r = -errno;
                        } else if (chmod(p, 0755) < 0)
                                r = -errno;
                }
                if (r < 0) {
                        if (v->type == STORAGE_NAMED)
                                (void) rm_rf(p);
                        r = error_setf(&error, r, "storage[%zu]: creating '%s': %s", i, p,
                                       strerror(-r));
                        break;
                }
                if (v->type == STORAGE_NAMED && strv_extend(&created, p) < 0) {
                        (void) rm_rf(p);
                        r = -ENOMEM;
                        break;
                }
        }
        if (r < 0) {
                remove_all(created);
                return finish(r, &error, ret_error);
        }
        *ret_created = TAKE_PTR(created);
        return 0;
}

int storage_apply_mounts(json_t *config, const StorageList *l, const char *volumes_dir,
                         const char *container_dir, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        json_t *mounts;
        int r;

        assert(config);
        assert(l);
        r = array_child(config, "mounts", "mounts", &mounts, &error);
        if (r < 0)
                return finish(r, &error, ret_error);

        for (size_t i = 0; i < l->n_volumes; i++) {
                const StorageVolume *v = &l->volumes[i];
                _cleanup_free_ char *host = NULL, *size = NULL, *mode = NULL;
                json_t *m;

                if (v->type == STORAGE_TMPFS) {
                        if (asprintf(&mode, "mode=%04o", (unsigned) v->mode) < 0)
                                return -ENOMEM;
                        if (v->size > 0 && asprintf(&size, "size=%" PRIu64, v->size) < 0)
                                return -ENOMEM;
                        m = json_pack("{ss ss ss s[ssss*]}", "destination", v->target, "type",
                                      "tmpfs", "source", "tmpfs", "options", "nosuid", "nodev",
                                      mode, size);
                } else {
                        if (v->type == STORAGE_BIND)
                                host = strdup(v->source);
                        else
                                r = storage_volume_host_path(l, i, volumes_dir, container_dir,
                                                             &host);
                        if (r < 0)
                                return r;
                        if (!host)
                                return -ENOMEM;
                        /* rprivate: a mount made inside must not show on the host, nor the
                         * reverse after creation. */
                        m = json_pack("{ss ss ss s[sss]}", "destination", v->target, "type", "bind",
                                      "source", host, "options", "rbind", v->readonly ? "ro" : "rw",
                                      "rprivate");
                }
                if (json_array_append_new(mounts, m) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- devices ------------------------------------------------------------------------------ */

static int device_apply(json_t *devices, json_t *rules, json_t *o, size_t i, char **error) {
        const char *path;
        bool read = false, write = false, mknod_ = false;
        char type, access[4] = {};
        size_t n = 0, k;
        struct stat st;
        json_t *v, *node;
        int r;

        if (!json_is_object(o))
                return error_setf(error, -EINVAL, "devices[%zu]: expected an object", i);
        v = json_object_get(o, "path");
        if (!json_is_string(v))
                return error_setf(error, -EINVAL, "devices[%zu].path: required, a string", i);
        path = json_string_value(v);
        if (!path_is_absolute(path) || !path_is_normalized(path))
                return error_setf(error, -EINVAL,
                                  "devices[%zu].path: '%s' is not a normalized absolute path", i,
                                  path);
        r = get_bool(o, "read", "devices", i, true, &read, error);
        if (r >= 0)
                r = get_bool(o, "write", "devices", i, true, &write, error);
        if (r >= 0)
                r = get_bool(o, "mknod", "devices", i, false, &mknod_, error);
        if (r < 0)
                return r;

        if (stat(path, &st) < 0)
                return error_setf(error, -EINVAL, "devices[%zu].path: '%s': %m", i, path);
        if (S_ISCHR(st.st_mode))
                type = 'c';
        else if (S_ISBLK(st.st_mode))
                type = 'b';
        else
                return error_setf(error, -EINVAL, "devices[%zu].path: '%s' is not a device node", i,
                                  path);

        /* The node goes where the host has it; one the config already has there is replaced. */
        node = json_pack("{ss ss sI sI si si si}", "path", path, "type", type == 'c' ? "c" : "b",
                         "major", (json_int_t) major(st.st_rdev), "minor",
                         (json_int_t) minor(st.st_rdev), "fileMode", (int) (st.st_mode & 07777),
                         "uid", (int) st.st_uid, "gid", (int) st.st_gid);
        if (!node)
                return -ENOMEM;
        json_array_foreach (devices, k, v)
                if (streq(strempty(json_string_value(json_object_get(v, "path"))), path))
                        break;
        if (k < json_array_size(devices)) {
                if (json_array_set_new(devices, k, node) < 0)
                        return -ENOMEM;
        } else if (json_array_append_new(devices, node) < 0)
                return -ENOMEM;

        if (read)
                access[n++] = 'r';
        if (write)
                access[n++] = 'w';
        if (mknod_)
                access[n++] = 'm';
        if (n == 0)
                return 0; /* the node is there, the device cgroup refuses every access */
        if (json_array_append_new(rules,
                                  json_pack("{sb ss sI sI ss}", "allow", true, "type",
                                            type == 'c' ? "c" : "b", "major",
                                            (json_int_t) major(st.st_rdev), "minor",
                                            (json_int_t) minor(st.st_rdev), "access", access)) < 0)
                return -ENOMEM;
        return 0;
}

int config_apply_devices(json_t *config, const char *devices_json, char **ret_error) {
        _cleanup_(json_decrefp) json_t *a = NULL;
        _cleanup_free_ char *error = NULL;
        json_t *linux_, *devices, *resources, *rules, *o;
        json_error_t e;
        size_t i;
        int r;

        assert(config);
        if (isempty(devices_json))
                return 0;
        a = json_loads(devices_json, JSON_REJECT_DUPLICATES, &e);
        if (!a)
                return finish(
                        error_setf(&error, -EINVAL, "devices: %d:%d: %s", e.line, e.column, e.text),
                        &error, ret_error);
        if (!json_is_array(a))
                return finish(error_setf(&error, -EINVAL, "devices: expected a JSON array"), &error,
                              ret_error);
        r = object_child(config, "linux", "linux", &linux_, &error);
        if (r >= 0)
                r = array_child(linux_, "devices", "linux.devices", &devices, &error);
        if (r >= 0)
                r = object_child(linux_, "resources", "linux.resources", &resources, &error);
        if (r >= 0)
                r = array_child(resources, "devices", "linux.resources.devices", &rules, &error);
        if (r < 0)
                return finish(r, &error, ret_error);
        json_array_foreach (a, i, o) {
                r = device_apply(devices, rules, o, i, &error);
                if (r < 0)
                        return finish(r, &error, ret_error);
        }
        return 0;
}

/* ---- sysctls ------------------------------------------------------------------------------ */

const char *sysctl_namespace(const char *key) {
        static const char *const ipc_exact[] = { "kernel.sem", NULL };
        static const char *const ipc_prefix[] = { "kernel.msg", "kernel.shm", "fs.mqueue.", NULL };

        if (isempty(key))
                return NULL;
        for (size_t i = 0; ipc_exact[i]; i++)
                if (streq(key, ipc_exact[i]))
                        return "ipc";
        for (size_t i = 0; ipc_prefix[i]; i++)
                if (startswith(key, ipc_prefix[i]) && key[strlen(ipc_prefix[i])])
                        return "ipc";
        if (startswith(key, "net.") && key[4])
                return "network";
        if (streq(key, "kernel.hostname") || streq(key, "kernel.domainname"))
                return "uts";
        return NULL;
}

static bool config_has_namespace(json_t *config, const char *type) {
        json_t *ns = json_object_get(json_object_get(config, "linux"), "namespaces"), *v;
        size_t i;

        json_array_foreach (ns, i, v)
                if (streq(strempty(json_string_value(json_object_get(v, "type"))), type))
                        return true;
        return false;
}

int config_apply_sysctls(json_t *config, char *const *sysctls, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        json_t *linux_, *map;
        int r;

        assert(config);
        if (!sysctls || !sysctls[0])
                return 0;
        if (strv_length(sysctls) % 2 != 0)
                return -EINVAL;
        r = object_child(config, "linux", "linux", &linux_, &error);
        if (r >= 0)
                r = object_child(linux_, "sysctl", "linux.sysctl", &map, &error);
        if (r < 0)
                return finish(r, &error, ret_error);

        for (size_t i = 0; sysctls[i]; i += 2) {
                _cleanup_free_ char *key = strdup(sysctls[i]);
                const char *ns;

                if (!key)
                        return -ENOMEM;
                /* sysctl(8): a '/' before any '.' makes '/' the separator. */
                if (key[strcspn(key, "./")] == '/')
                        for (char *c = key; *c; c++)
                                *c = *c == '/' ? '.' : *c == '.' ? '/' : *c;
                ns = sysctl_namespace(key);
                if (!ns)
                        return finish(
                                error_setf(&error, -EINVAL,
                                           "sysctls: '%s' is not namespaced: it would change the "
                                           "node, not the container",
                                           sysctls[i]),
                                &error, ret_error);
                if (!config_has_namespace(config, ns))
                        return finish(
                                error_setf(&error, -EINVAL,
                                           "sysctls: '%s' needs a private %s namespace, which the "
                                           "container does not have",
                                           sysctls[i], ns),
                                &error, ret_error);
                if (json_object_set_new(map, key, json_string(sysctls[i + 1])) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- privileged --------------------------------------------------------------------------- */

int config_apply_privileged(json_t *config, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        json_t *linux_, *resources, *mounts, *m;
        size_t i;
        int r;

        assert(config);
        r = object_child(config, "linux", "linux", &linux_, &error);
        if (r >= 0)
                r = object_child(linux_, "resources", "linux.resources", &resources, &error);
        if (r < 0)
                return finish(r, &error, ret_error);
        (void) json_object_del(linux_, "maskedPaths");
        (void) json_object_del(linux_, "readonlyPaths");
        if (json_object_set_new(
                    resources, "devices",
                    json_pack("[{sb ss ss}]", "allow", true, "type", "a", "access", "rwm")) < 0)
                return -ENOMEM;

        mounts = json_object_get(config, "mounts");
        json_array_foreach (mounts, i, m) {
                json_t *options = json_object_get(m, "options"), *o;
                size_t k;

                if (!streq(strempty(json_string_value(json_object_get(m, "type"))), "sysfs") ||
                    !json_is_array(options))
                        continue;
                for (k = 0; k < json_array_size(options);) {
                        o = json_array_get(options, k);
                        if (streq(strempty(json_string_value(o)), "ro")) {
                                if (json_array_remove(options, k) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        k++;
                }
                if (json_array_append_new(options, json_string("rw")) < 0)
                        return -ENOMEM;
        }
        return 0;
}
