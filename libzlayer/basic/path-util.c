/* SPDX-License-Identifier: Apache-2.0 */
/* path-util.c: path syntax helpers (none of which looks at the file system), and the directory
 * of the running executable. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <unistd.h>

#include "path-util.h"

static bool component_is_dot(const char *s, size_t n) {
        return n == 1 && s[0] == '.';
}

static bool component_is_dotdot(const char *s, size_t n) {
        return n == 2 && s[0] == '.' && s[1] == '.';
}

bool path_is_normalized(const char *p) {
        if (isempty(p))
                return false;
        if (p[0] == '/') {
                if (p[1] == '\0')
                        return true;
                p++;
        }
        for (;;) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);

                if (n == 0 || component_is_dot(p, n) || component_is_dotdot(p, n))
                        return false;
                if (*e == '\0')
                        return true;
                p = e + 1;
        }
}

char *path_join_real(const char *first, ...) {
        size_t len = 1;
        va_list ap;
        char *r, *t;

        va_start(ap, first);
        for (const char *c = first; c; c = va_arg(ap, const char *))
                len += strlen(c) + 1;
        va_end(ap);

        r = malloc(len);
        if (!r)
                return NULL;

        t = r;
        va_start(ap, first);
        for (const char *c = first; c; c = va_arg(ap, const char *)) {
                if (c[0] == '\0')
                        continue;
                if (t > r) {
                        /* One '/' at the junction, whatever each side brought. A leading "/"
                         * on the left side is kept so "/" + "a" stays absolute. */
                        while (t > r + 1 && t[-1] == '/')
                                t--;
                        c += strspn(c, "/");
                        if (t[-1] != '/')
                                *t++ = '/';
                }
                t = stpcpy(t, c);
        }
        va_end(ap);
        *t = '\0';
        return r;
}

char *path_simplify(char *p) {
        char *f = p, *t = p, *start;

        if (!p || p[0] == '\0')
                return p;

        if (*f == '/') {
                *t++ = '/';
                f += strspn(f, "/");
        }
        start = t;

        for (;;) {
                size_t n;

                f += strspn(f, "/");
                if (*f == '\0')
                        break;
                n = strcspn(f, "/");
                if (!component_is_dot(f, n)) {
                        if (t > start)
                                *t++ = '/';
                        memmove(t, f, n);
                        t += n;
                }
                f += n;
        }

        if (t == p)
                *t++ = '.'; /* a relative path made only of "." */
        *t = '\0';
        return p;
}

char *path_startswith(const char *path, const char *prefix) {
        if (isempty(path) || isempty(prefix))
                return NULL;
        if (path_is_absolute(path) != path_is_absolute(prefix))
                return NULL;

        for (;;) {
                size_t a, b;

                path += strspn(path, "/");
                prefix += strspn(prefix, "/");
                if (*prefix == '\0')
                        return (char *) path;
                if (*path == '\0')
                        return NULL;
                a = strcspn(path, "/");
                b = strcspn(prefix, "/");
                if (a != b || memcmp(path, prefix, a) != 0)
                        return NULL;
                path += a;
                prefix += b;
        }
}

int path_basename(const char *p, char **ret) {
        size_t end, begin;
        char *s;

        if (!p)
                return -EINVAL;
        end = strlen(p);
        while (end > 0 && p[end - 1] == '/')
                end--;
        if (end == 0)
                return -EINVAL;
        begin = end;
        while (begin > 0 && p[begin - 1] != '/')
                begin--;
        if (component_is_dot(p + begin, end - begin) || component_is_dotdot(p + begin, end - begin))
                return -EINVAL;

        s = strndup(p + begin, end - begin);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int path_dirname(const char *p, char **ret) {
        size_t end;
        char *s;

        if (isempty(p))
                return -EINVAL;
        end = strlen(p);
        while (end > 0 && p[end - 1] == '/')
                end--;
        if (end == 0)
                s = strdup("/");
        else {
                while (end > 0 && p[end - 1] != '/')
                        end--;
                if (end == 0)
                        s = strdup(".");
                else {
                        while (end > 0 && p[end - 1] == '/')
                                end--;
                        s = end == 0 ? strdup("/") : strndup(p, end);
                }
        }
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

bool path_is_safe_relative(const char *p) {
        if (isempty(p) || path_is_absolute(p))
                return false;
        if (strnlen(p, PATH_MAX) >= PATH_MAX)
                return false;
        for (;;) {
                size_t n = strcspn(p, "/");

                if (component_is_dotdot(p, n))
                        return false;
                if (p[n] == '\0')
                        return true;
                p += n + 1;
        }
}

int path_self_exe(char **ret) {
        char buf[PATH_MAX];
        ssize_t n;

        assert(ret);

        n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -EIO;
        buf[n] = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

int path_self_dir(char **ret) {
        _cleanup_free_ char *exe = NULL;
        int r;

        assert(ret);

        r = path_self_exe(&exe);
        if (r < 0)
                return r;
        return path_dirname(exe, ret);
}

int path_beside_self(const char *name, int mode, char **ret) {
        _cleanup_free_ char *dir = NULL, *p = NULL;
        int r;

        assert(name);
        assert(ret);

        r = path_self_dir(&dir);
        if (r < 0)
                return r;
        p = path_join(dir, name);
        if (!p)
                return -ENOMEM;
        if (access(p, mode) < 0)
                return -errno;
        *ret = TAKE_PTR(p);
        return 0;
}
