/* SPDX-License-Identifier: Apache-2.0 */
/* build-context.c: .dockerignore matching and the content hash of what COPY/ADD take. */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>

#include "build-context.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void globfreep(glob_t *g) {
        globfree(g);
}

/* Lexical clean as Go's filepath.Clean on a path taken relative to the context root: "." and
 * empty components vanish, ".." removes the previous one. Returns -EPERM when ".." would leave
 * the root; "" is the root itself. */
static int clean_relative(const char *p, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;
        const char *s = p;

        out = malloc(strlen(p) + 1);
        if (!out)
                return -ENOMEM;
        while (*s) {
                size_t len = strcspn(s, "/");

                if (len == 0 || (len == 1 && s[0] == '.')) {
                        /* nothing */
                } else if (len == 2 && s[0] == '.' && s[1] == '.') {
                        if (n == 0)
                                return -EPERM;
                        while (n > 0 && out[n - 1] != '/')
                                n--;
                        if (n > 0)
                                n--;
                } else {
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, s, len);
                        n += len;
                }
                s += len;
                if (*s == '/')
                        s++;
        }
        out[n] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

int build_ignore_parse(const char *text, char ***ret_patterns) {
        _cleanup_(strv_freep) char **l = NULL;
        const char *s = text;
        int r;

        assert(text);
        assert(ret_patterns);

        while (*s) {
                size_t len = strcspn(s, "\n");
                _cleanup_free_ char *line = strndup(s, len), *clean = NULL;
                bool exception = false;
                char *p;

                if (!line)
                        return -ENOMEM;
                s += len;
                if (*s == '\n')
                        s++;
                p = strstrip(line);
                if (*p == '#' || *p == '\0')
                        continue;
                if (*p == '!') {
                        exception = true;
                        p = strstrip(p + 1);
                }
                /* Patterns are relative to the context; "../x" cannot match anything inside it,
                 * so such a line is dropped like Docker's matcher effectively does. */
                r = clean_relative(p, &clean);
                if (r == -EPERM || isempty(clean))
                        continue;
                if (r < 0)
                        return r;
                r = strv_consume(&l, exception ? strjoin_real("!", clean, NULL) : TAKE_PTR(clean));
                if (r < 0)
                        return r;
        }
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        *ret_patterns = TAKE_PTR(l);
        return 0;
}

int build_ignore_load(const char *context_dir, char ***ret_patterns, char **ret_file) {
        static const char *const names[] = { ".dockerignore", ".containerignore" };

        assert(context_dir);
        assert(ret_patterns);

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *path = path_join_real(context_dir, names[i], NULL);
                _cleanup_free_ char *data = NULL;
                int r;

                if (!path)
                        return -ENOMEM;
                r = read_full_file(path, 4 * 1024 * 1024, &data, NULL);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                r = build_ignore_parse(data, ret_patterns);
                if (r < 0)
                        return r;
                if (ret_file)
                        *ret_file = TAKE_PTR(path);
                return 0;
        }
        *ret_patterns = calloc(1, sizeof(char *));
        if (!*ret_patterns)
                return -ENOMEM;
        if (ret_file)
                *ret_file = NULL;
        return 0;
}

/* Splits "a/b/c" into components in place; returns the count (at most max). */
static size_t split_components(char *s, char **v, size_t max) {
        size_t n = 0;

        for (char *tok = strtok(s, "/"); tok && n < max; tok = strtok(NULL, "/"))
                v[n++] = tok;
        return n;
}

static bool match_components(char **pat, size_t np, char **path, size_t n) {
        if (np == 0)
                return n == 0;
        if (streq(pat[0], "**")) {
                for (size_t k = 0; k <= n; k++)
                        if (match_components(pat + 1, np - 1, path + k, n - k))
                                return true;
                return false;
        }
        if (n == 0)
                return false;
        if (fnmatch(pat[0], path[0], 0) != 0)
                return false;
        return match_components(pat + 1, np - 1, path + 1, n - 1);
}

#define MAX_COMPONENTS 256

bool build_ignore_match(char *const *patterns, const char *relpath) {
        char *pc[MAX_COMPONENTS], *fc[MAX_COMPONENTS];
        _cleanup_free_ char *path = NULL;
        size_t n;
        bool excluded = false;

        if (!patterns || !relpath)
                return false;
        path = strdup(relpath);
        if (!path)
                return false;
        n = split_components(path, fc, ELEMENTSOF(fc));
        if (n == 0)
                return false;

        for (char *const *p = patterns; *p; p++) {
                bool exception = (*p)[0] == '!';
                _cleanup_free_ char *pat = strdup(*p + exception);
                size_t np;

                if (!pat)
                        return excluded;
                np = split_components(pat, pc, ELEMENTSOF(pc));
                /* A pattern that names a directory excludes what is inside it. */
                for (size_t len = 1; len <= n; len++)
                        if (match_components(pc, np, fc, len)) {
                                excluded = !exception;
                                break;
                        }
        }
        return excluded;
}

typedef struct HashWalk {
        EVP_MD_CTX *md;
        int root_fd;
        char *const *ignore;
} HashWalk;

static int hash_update(HashWalk *w, const void *p, size_t n) {
        return EVP_DigestUpdate(w->md, p, n) == 1 ? 0 : -EIO;
}

static int hash_file_content(HashWalk *w, const char *rel) {
        _cleanup_close_ int fd = -EBADF;
        char buf[65536];

        fd = openat(w->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k = read(fd, buf, sizeof buf);
                int r;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return 0;
                r = hash_update(w, buf, (size_t) k);
                if (r < 0)
                        return r;
        }
}

static int hash_path(HashWalk *w, const char *rel) {
        char head[128];
        struct stat st;
        int r;

        if (build_ignore_match(w->ignore, rel))
                return 0;
        if (fstatat(w->root_fd, isempty(rel) ? "." : rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;

        r = hash_update(w, rel, strlen(rel) + 1);
        if (r < 0)
                return r;
        snprintf(head, sizeof head, "%c %o %" PRIu64 "\n",
                 S_ISDIR(st.st_mode)   ? 'd'
                 : S_ISLNK(st.st_mode) ? 'l'
                 : S_ISREG(st.st_mode) ? 'f'
                                       : 'o',
                 (unsigned) (st.st_mode & 07777), S_ISDIR(st.st_mode) ? 0 : (uint64_t) st.st_size);
        r = hash_update(w, head, strlen(head));
        if (r < 0)
                return r;

        if (S_ISREG(st.st_mode))
                return hash_file_content(w, rel);
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t k = readlinkat(w->root_fd, rel, target, sizeof target);

                if (k < 0)
                        return -errno;
                return hash_update(w, target, (size_t) k);
        }
        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int dfd = -EBADF;
                struct dirent **entries = NULL;
                int n;

                dfd = openat(w->root_fd, isempty(rel) ? "." : rel,
                             O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (dfd < 0)
                        return -errno;
                /* alphasort uses strcoll; we never call setlocale, so it is byte order. */
                n = scandirat(dfd, ".", &entries, NULL, alphasort);
                if (n < 0)
                        return -errno;
                r = 0;
                for (int i = 0; i < n; i++) {
                        const char *name = entries[i]->d_name;

                        if (r >= 0 && !streq(name, ".") && !streq(name, "..")) {
                                _cleanup_free_ char *child =
                                        isempty(rel) ? strdup(name)
                                                     : strjoin_real(rel, "/", name, NULL);

                                r = child ? hash_path(w, child) : -ENOMEM;
                        }
                        free(entries[i]);
                }
                free(entries);
                return r;
        }
        return 0;
}

static bool has_glob(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

int build_context_hash(const char *context_dir, char *const *ignore, const json_t *sources,
                       char ret_hex[static 65]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        _cleanup_close_ int root_fd = -EBADF;
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned dlen = 0;
        const json_t *v;
        size_t i;
        HashWalk w;
        int r;

        assert(context_dir);
        assert(json_is_array(sources));

        md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return -EIO;
        root_fd = open(context_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return -errno;
        w = (HashWalk){ .md = md, .root_fd = root_fd, .ignore = ignore };

        json_array_foreach (sources, i, v) {
                const char *src = json_string_value(v);
                _cleanup_free_ char *clean = NULL;

                if (!src)
                        return -EINVAL;
                if (startswith(src, "http://") || startswith(src, "https://")) {
                        r = hash_update(&w, src, strlen(src) + 1);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (startswith(src, "<<")) /* heredoc: its text is in the instruction */
                        continue;
                r = clean_relative(src, &clean);
                if (r < 0)
                        return r;

                if (has_glob(clean)) {
                        _cleanup_(globfreep) glob_t g = {};
                        _cleanup_free_ char *pattern = path_join_real(context_dir, clean, NULL);
                        size_t skip = strlen(context_dir);

                        if (!pattern)
                                return -ENOMEM;
                        while (skip > 1 && context_dir[skip - 1] == '/')
                                skip--;
                        r = glob(pattern, GLOB_NOSORT | GLOB_NOESCAPE, NULL, &g);
                        if (r == GLOB_NOSPACE)
                                return -ENOMEM;
                        if (r != 0 && r != GLOB_NOMATCH)
                                return -EIO;
                        /* Sorted by ourselves: glob's order depends on the locale. */
                        if (g.gl_pathc > 1)
                                qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_str);
                        for (size_t k = 0; k < g.gl_pathc; k++) {
                                const char *m = g.gl_pathv[k] + skip;

                                while (*m == '/')
                                        m++;
                                r = hash_path(&w, m);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (!isempty(clean) && faccessat(root_fd, clean, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                r = hash_path(&w, clean);
                if (r < 0)
                        return r;
        }

        if (EVP_DigestFinal_ex(md, digest, &dlen) != 1)
                return -EIO;
        for (unsigned k = 0; k < dlen && k < 32; k++)
                snprintf(ret_hex + 2 * k, 3, "%02x", digest[k]);
        ret_hex[64] = '\0';
        return 0;
}
