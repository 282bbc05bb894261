/* SPDX-License-Identifier: Apache-2.0 */
/* build-cache.c: step keys, the image listing of buildah's storage, pruning decisions. */
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>

#include "build-cache.h"
#include "image-ref.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static int sha256_hex(const char *const *parts, size_t n, char ret[static 65]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        if (!md)
                return -ENOMEM;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return -EIO;
        for (size_t i = 0; i < n; i++) {
                const char *p = parts[i] ?: "";

                /* The terminating NUL separates the parts: ("ab","c") != ("a","bc"). */
                if (EVP_DigestUpdate(md, p, strlen(p) + 1) != 1)
                        return -EIO;
        }
        if (EVP_DigestFinal_ex(md, d, &len) != 1)
                return -EIO;
        for (unsigned i = 0; i < 32; i++)
                snprintf(ret + 2 * i, 3, "%02x", d[i]);
        ret[64] = '\0';
        return 0;
}

int build_cache_base_key(const char *base_image_id, const char *platform, char ret[static 65]) {
        const char *parts[] = { "zlayer-build-base-v1", base_image_id, platform };

        assert(base_image_id);
        return sha256_hex(parts, ELEMENTSOF(parts), ret);
}

int build_cache_key(const char *parent, const json_t *instruction, const json_t *build_env,
                    const char *extra, char ret[static 65]) {
        _cleanup_free_ char *ins = NULL, *env = NULL;
        const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;

        assert(parent);
        assert(instruction);

        ins = json_dumps(instruction, flags);
        if (!ins)
                return -ENOMEM;
        if (build_env) {
                env = json_dumps(build_env, flags);
                if (!env)
                        return -ENOMEM;
        }
        const char *parts[] = { "zlayer-build-step-v1", parent, ins, env, extra };
        return sha256_hex(parts, ELEMENTSOF(parts), ret);
}

static void build_image_done(BuildImage *im) {
        free(im->id);
        strv_free(im->names);
}

BuildImageList *build_image_list_free(BuildImageList *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_items; i++)
                build_image_done(&l->items[i]);
        free(l->items);
        return mfree(l);
}

int build_parse_size(const char *s, uint64_t *ret) {
        static const struct {
                const char *unit;
                double factor;
        } units[] = {
                { "B", 1 },        { "kB", 1e3 },        { "KB", 1e3 },
                { "MB", 1e6 },     { "GB", 1e9 },        { "TB", 1e12 },
                { "KiB", 1024.0 }, { "MiB", 1048576.0 }, { "GiB", 1073741824.0 },
        };
        char *end;
        double v;

        if (isempty(s))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || v < 0 || !isfinite(v))
                return -EINVAL;
        while (*end == ' ')
                end++;
        if (*end == '\0') {
                *ret = (uint64_t) llround(v);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].unit)) {
                        *ret = (uint64_t) llround(v * units[i].factor);
                        return 0;
                }
        return -EINVAL;
}

static int image_from_json(const json_t *o, BuildImage *im) {
        const char *id = json_string_value(json_object_get(o, "id"));
        const json_t *names = json_object_get(o, "names"), *v;
        const char *size = json_string_value(json_object_get(o, "size"));
        size_t i;
        int r;

        if (!id)
                return -EBADMSG;
        im->id = startswith(id, "sha256:") ? strdup(id) : strjoin_real("sha256:", id, NULL);
        if (!im->id)
                return -ENOMEM;
        json_array_foreach (names, i, v)
                if (json_is_string(v)) {
                        r = strv_extend(&im->names, json_string_value(v));
                        if (r < 0)
                                return r;
                }
        if (size && build_parse_size(size, &im->size) < 0)
                im->size = 0;
        im->created = json_integer_value(json_object_get(o, "created"));
        return 0;
}

int build_image_list_parse(const char *text, BuildImageList **ret) {
        _cleanup_(build_image_list_freep) BuildImageList *l = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        const json_t *v;
        size_t i;
        int r;

        assert(ret);

        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        /* buildah prints nothing at all (not "[]") for an empty store. */
        if (text && text[strspn(text, " \t\r\n")] != '\0') {
                j = json_loads(text, 0, NULL);
                if (!json_is_array(j))
                        return -EBADMSG;
                l->items = calloc(MAX(json_array_size(j), 1u), sizeof(BuildImage));
                if (!l->items)
                        return -ENOMEM;
                json_array_foreach (j, i, v) {
                        r = image_from_json(v, &l->items[l->n_items]);
                        l->n_items++;
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int build_image_list_add(BuildImageList *l, const char *id, const char *name) {
        BuildImage *items, im = {};
        int r;

        assert(l);
        assert(id);

        items = reallocarray(l->items, l->n_items + 1, sizeof(BuildImage));
        if (!items)
                return -ENOMEM;
        l->items = items;
        im.id = startswith(id, "sha256:") ? strdup(id) : strjoin_real("sha256:", id, NULL);
        if (!im.id)
                return -ENOMEM;
        if (name) {
                r = strv_extend(&im.names, name);
                if (r < 0) {
                        build_image_done(&im);
                        return r;
                }
        }
        l->items[l->n_items++] = im;
        return 0;
}

static const char *find_exact(const BuildImageList *l, const char *name) {
        for (size_t i = 0; i < l->n_items; i++)
                if (strv_contains(l->items[i].names, name))
                        return l->items[i].id;
        return NULL;
}

const char *build_image_list_find(const BuildImageList *l, const char *name) {
        _cleanup_free_ char *norm = NULL;
        const char *hex;

        if (!l || isempty(name))
                return NULL;
        hex = startswith(name, "sha256:") ?: name;
        if (strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64)
                for (size_t i = 0; i < l->n_items; i++)
                        if (streq(l->items[i].id + strlen("sha256:"), hex))
                                return l->items[i].id;
        if (image_ref_normalize(name, &norm, NULL) < 0)
                return find_exact(l, name);
        return find_exact(l, norm);
}

const char *build_image_list_find_cache(const BuildImageList *l, const char *key) {
        char name[sizeof(BUILD_CACHE_REPO) + 1 + 64 + 1];

        if (!l || !key)
                return NULL;
        snprintf(name, sizeof name, "%s:%s", BUILD_CACHE_REPO, key);
        return find_exact(l, name);
}

static bool image_is_cache_only(const BuildImage *im) {
        if (!im->names || !im->names[0])
                return false;
        for (char **n = im->names; *n; n++)
                if (!startswith(*n, BUILD_CACHE_REPO ":"))
                        return false;
        return true;
}

static int cmp_created(const void *a, const void *b) {
        const BuildImage *x = *(BuildImage *const *) a, *y = *(BuildImage *const *) b;

        return x->created < y->created ? -1 : x->created > y->created;
}

int build_cache_select_prune(const BuildImageList *l, uint64_t max_bytes, uint64_t max_age_sec,
                             int64_t now_sec, char ***ret_ids) {
        _cleanup_free_ BuildImage **cache = NULL;
        _cleanup_(strv_freep) char **ids = NULL;
        size_t n = 0;
        uint64_t total = 0;
        int r;

        assert(l);
        assert(ret_ids);

        cache = calloc(MAX(l->n_items, 1u), sizeof(BuildImage *));
        if (!cache)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_items; i++)
                if (image_is_cache_only(&l->items[i])) {
                        cache[n++] = &l->items[i];
                        total += l->items[i].size;
                }
        qsort(cache, n, sizeof(BuildImage *), cmp_created);

        for (size_t i = 0; i < n; i++) {
                bool too_old =
                        max_age_sec > 0 && now_sec - cache[i]->created > (int64_t) max_age_sec;

                if (!too_old && total <= max_bytes)
                        break;
                r = strv_extend(&ids, cache[i]->id);
                if (r < 0)
                        return r;
                total -= cache[i]->size;
        }
        if (!ids) {
                ids = calloc(1, sizeof(char *));
                if (!ids)
                        return -ENOMEM;
        }
        *ret_ids = TAKE_PTR(ids);
        return 0;
}
