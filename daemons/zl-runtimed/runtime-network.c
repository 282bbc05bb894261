/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-network.c: network modes, the hosts and resolv.conf files, network.json (no sd-bus). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "path-util.h"
#include "runtime-network.h"
#include "string-util.h"

/* hosts and resolv.conf are small; anything bigger is not one. */
#define NETWORK_FILE_MAX ((size_t) 1024 * 1024)

static const char *const mode_table[_NETWORK_MODE_MAX] = {
        [NETWORK_PRIVATE] = "private",
        [NETWORK_NONE] = "none",
        [NETWORK_HOST] = "host",
        [NETWORK_JOINED] = "joined",
};

const char *network_mode_to_string(NetworkMode m) {
        return m >= 0 && m < _NETWORK_MODE_MAX ? mode_table[m] : NULL;
}

NetworkMode network_mode_from_string(const char *s) {
        for (NetworkMode m = 0; s && m < _NETWORK_MODE_MAX; m++)
                if (streq(mode_table[m], s))
                        return m;
        return _NETWORK_MODE_INVALID;
}

void network_info_done(NetworkInfo *i) {
        if (!i)
                return;
        free(i->address);
        free(i->gateway);
        free(i->mac);
        free(i->address6);
        free(i->hosts);
        free(i->resolv_conf);
        *i = (NetworkInfo){};
}

int network_parse_prefix(const char *s, char **ret_address, unsigned *ret_prefix_length) {
        _cleanup_free_ char *address = NULL;
        const char *slash;
        unsigned char buf[16];
        unsigned long n;
        char *end;
        int family;

        if (isempty(s))
                return -EINVAL;
        slash = strchr(s, '/');
        if (!slash || !slash[1])
                return -EINVAL;
        address = strndup(s, (size_t) (slash - s));
        if (!address)
                return -ENOMEM;
        family = strchr(address, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(family, address, buf) != 1)
                return -EINVAL;
        errno = 0;
        n = strtoul(slash + 1, &end, 10);
        if (errno != 0 || *end || n > (family == AF_INET ? 32UL : 128UL) || slash[1] == '-' ||
            slash[1] == '+')
                return -EINVAL;
        *ret_address = TAKE_PTR(address);
        *ret_prefix_length = (unsigned) n;
        return 0;
}

int network_mode_of_config(const char *option, const char *config_json, NetworkMode *ret_mode,
                           char **ret_hostname) {
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *hostname = NULL;
        NetworkMode mode = NETWORK_HOST;
        json_t *ns, *v;
        size_t i;

        assert(config_json);
        assert(ret_mode);

        if (option && network_mode_from_string(option) < 0)
                return -EINVAL;
        /* "joined" is what a config says, never an option. */
        if (option && network_mode_from_string(option) == NETWORK_JOINED)
                return -EINVAL;
        config = json_loads(config_json, 0, NULL);
        if (!json_is_object(config))
                return -EBADMSG;
        ns = json_object_get(json_object_get(config, "linux"), "namespaces");
        json_array_foreach (ns, i, v)
                if (streq(strempty(json_string_value(json_object_get(v, "type"))), "network")) {
                        mode = isempty(json_string_value(json_object_get(v, "path")))
                                       ? NETWORK_PRIVATE
                                       : NETWORK_JOINED;
                        break;
                }
        /* The option decides between the two kinds of a namespace of its own; the config has
         * been built from it, so host and a path agree with it already. */
        if (option && mode == NETWORK_PRIVATE)
                mode = network_mode_from_string(option);
        if (ret_hostname) {
                const char *h = json_string_value(json_object_get(config, "hostname"));

                if (!isempty(h)) {
                        hostname = strdup(h);
                        if (!hostname)
                                return -ENOMEM;
                }
                *ret_hostname = TAKE_PTR(hostname);
        }
        *ret_mode = mode;
        return 0;
}

/* Writes data into path in place: created if missing, else truncated and rewritten, so that the
 * inode (and any bind mount of it) stays. */
static int write_in_place(const char *path, const char *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        /* Readable by the container's users whatever the umask. */
        if (fchmod(fd, 0644) < 0)
                return -errno;
        return loop_write(fd, data, size);
}

static int copy_in_place(const char *from, const char *to) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        r = read_full_file(from, NETWORK_FILE_MAX, &data, &size);
        if (r == -ENOENT)
                size = 0;
        else if (r < 0)
                return r;
        return write_in_place(to, data ?: "", size);
}

int network_files_prepare(const char *dir, NetworkMode m, const char *host_etc, char **ret_hosts,
                          char **ret_resolv) {
        _cleanup_free_ char *hosts = NULL, *resolv = NULL;
        int r;

        assert(dir);
        assert(ret_hosts);
        assert(ret_resolv);

        if (m != NETWORK_PRIVATE && m != NETWORK_HOST) {
                *ret_hosts = *ret_resolv = NULL;
                return 0;
        }
        hosts = path_join(dir, NETWORK_HOSTS_FILE);
        resolv = path_join(dir, NETWORK_RESOLV_FILE);
        if (!hosts || !resolv)
                return -ENOMEM;
        if (m == NETWORK_HOST) {
                _cleanup_free_ char *h = path_join(host_etc ?: "/etc", "hosts"),
                                    *rc = path_join(host_etc ?: "/etc", "resolv.conf");

                if (!h || !rc)
                        return -ENOMEM;
                /* A snapshot, as Docker does: the host's own files are never bound (a rename
                 * on the host would leave a bind of the old inode behind anyway). */
                r = copy_in_place(h, hosts);
                if (r >= 0)
                        r = copy_in_place(rc, resolv);
        } else {
                r = write_in_place(hosts, "", 0);
                if (r >= 0)
                        r = write_in_place(resolv, "", 0);
        }
        if (r < 0)
                return r;
        *ret_hosts = TAKE_PTR(hosts);
        *ret_resolv = TAKE_PTR(resolv);
        return 1;
}

int network_files_fill(const char *dir, const NetworkInfo *info) {
        const struct {
                const char *from, *name;
        } files[] = {
                { info->hosts, NETWORK_HOSTS_FILE },
                { info->resolv_conf, NETWORK_RESOLV_FILE },
        };
        int r;

        assert(dir);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *to = NULL, *data = NULL;
                size_t size = 0;

                if (isempty(files[i].from))
                        continue;
                to = path_join(dir, files[i].name);
                if (!to)
                        return -ENOMEM;
                r = read_full_file(files[i].from, NETWORK_FILE_MAX, &data, &size);
                if (r < 0)
                        return r;
                r = write_in_place(to, data, size);
                if (r < 0)
                        return r;
        }
        return 0;
}

int network_netns_path(pid_t pid, char **ret) {
        char *p;

        if (pid <= 0)
                return -EINVAL;
        if (asprintf(&p, "/proc/%d/ns/net", (int) pid) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int network_state_save(const char *dir, NetworkMode m, const NetworkInfo *info) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *path = path_join(dir, NETWORK_STATE_FILE), *text = NULL;

        if (!path)
                return -ENOMEM;
        if (!network_mode_to_string(m))
                return -EINVAL;
        j = json_pack("{ss}", "mode", network_mode_to_string(m));
        if (!j)
                return -ENOMEM;
        if (info && info->address &&
            json_object_update_new(j, json_pack("{ss si ss* ss*}", "address", info->address,
                                                "prefix_length", (int) info->prefix_length,
                                                "gateway", info->gateway, "mac", info->mac)) < 0)
                return -ENOMEM;
        if (info && info->address6 &&
            json_object_update_new(j, json_pack("{ss si}", "address6", info->address6,
                                                "prefix_length6", (int) info->prefix_length6)) < 0)
                return -ENOMEM;
        text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        return write_file_atomic_full(path, text, strlen(text), 0600, WRITE_FILE_NO_SYNC);
}

static int strdup_opt(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int network_state_load(const char *dir, NetworkMode *ret_mode, NetworkInfo *ret_info) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *path = path_join(dir, NETWORK_STATE_FILE);
        _cleanup_(network_info_done) NetworkInfo info = {};
        const char *mode = NULL, *address = NULL, *gateway = NULL, *mac = NULL, *address6 = NULL;
        int prefix = 0, prefix6 = 0;
        NetworkMode m;

        if (!path)
                return -ENOMEM;
        j = json_load_file(path, 0, NULL);
        if (!j)
                return access(path, F_OK) < 0 && errno == ENOENT ? -ENOENT : -EBADMSG;
        if (json_unpack(j, "{ss s?s s?i s?s s?s s?s s?i}", "mode", &mode, "address", &address,
                        "prefix_length", &prefix, "gateway", &gateway, "mac", &mac, "address6",
                        &address6, "prefix_length6", &prefix6) < 0)
                return -EBADMSG;
        m = network_mode_from_string(mode);
        if (m < 0 || prefix < 0 || prefix > 32 || prefix6 < 0 || prefix6 > 128)
                return -EBADMSG;
        if (strdup_opt(address, &info.address) < 0 || strdup_opt(gateway, &info.gateway) < 0 ||
            strdup_opt(mac, &info.mac) < 0 || strdup_opt(address6, &info.address6) < 0)
                return -ENOMEM;
        info.prefix_length = (unsigned) prefix;
        info.prefix_length6 = (unsigned) prefix6;
        *ret_mode = m;
        *ret_info = info;
        info = (NetworkInfo){};
        return 0;
}
