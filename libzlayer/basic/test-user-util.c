/* SPDX-License-Identifier: Apache-2.0 */
/* test-user-util.c: user specs against passwd/group files with good, odd and broken lines. */
#include <stdio.h>
#include <sys/stat.h>

#include "fileio.h"
#include "path-util.h"
#include "tests.h"
#include "user-util.h"

static const char passwd_text[] = "# a comment\n"
                                  "root:x:0:0:root:/root:/bin/sh\n"
                                  "\n"
                                  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                  "broken line without colons\n"
                                  "badid:x:abc:1:x:/x:/bin/sh\n"
                                  "negative:x:-5:1:x:/x:/bin/sh\n"
                                  "minusone:x:4294967295:1:x:/x:/bin/sh\n"
                                  "+nis::0:0:::\n"
                                  "short:x:50\n"
                                  "nohome:x:60:61\n"
                                  "emptyhome:x:70:71::\r\n"
                                  "nginx:x:101:101:nginx:/var/lib/nginx:/sbin/nologin\n"
                                  "nginx:x:999:999:second entry is ignored:/nope:/bin/sh\n"
                                  "dup:x:101:5:same uid later:/d:/bin/sh\n"
                                  "app:x:1000:1000:app:/home/app:/bin/sh"; /* no final newline */

static const char group_text[] = "root:x:0:root\n"
                                 "daemon:x:1:\n"
                                 "garbage\n"
                                 "bad:x:zz:app\n"
                                 "wheel:x:10:root,app\n"
                                 "audio:x:29:apple,nginxx,app2\n"
                                 "video:x:44:nginx,app\n"
                                 "wheel2:x:10:app\n" /* same gid again: listed once */
                                 "nginx:x:101:\n"
                                 "staff:x:50:app\n";

static const char *make_root(void) {
        char *etc, *p;

        etc = path_join(test_tmpdir(), "etc");
        ASSERT_NOT_NULL(etc);
        ASSERT_OK(mkdir_p(etc, 0755));
        p = path_join(etc, "passwd");
        ASSERT_OK(write_string_file_atomic(p, passwd_text, 0644));
        free(p);
        p = path_join(etc, "group");
        ASSERT_OK(write_file_atomic(p, group_text, sizeof group_text - 1, 0644));
        free(p);
        free(etc);
        return test_tmpdir();
}

typedef struct Result {
        uid_t uid;
        gid_t gid;
        gid_t *gids;
        size_t n_gids;
        char *home;
        char *error;
} Result;

static int resolve(const char *root, const char *spec, Result *res) {
        *res = (Result){ .uid = 12345, .gid = 12345 };
        return user_resolve(root, spec, &res->uid, &res->gid, &res->gids, &res->n_gids, &res->home,
                            &res->error);
}

static void result_done(Result *res) {
        free(res->gids);
        free(res->home);
        free(res->error);
}

TEST(names_and_ids) {
        const char *root = make_root();
        Result r;

        ASSERT_OK(resolve(root, "root", &r));
        ASSERT_EQ(r.uid, 0);
        ASSERT_EQ(r.gid, 0);
        ASSERT_EQ(r.n_gids, 2);
        ASSERT_EQ(r.gids[0], 0);
        ASSERT_EQ(r.gids[1], 10);
        ASSERT_STREQ(r.home, "/root");
        ASSERT_NULL(r.error);
        result_done(&r);

        /* The first entry of a name wins; membership matches whole names only. */
        ASSERT_OK(resolve(root, "nginx", &r));
        ASSERT_EQ(r.uid, 101);
        ASSERT_EQ(r.gid, 101);
        ASSERT_EQ(r.n_gids, 1);
        ASSERT_EQ(r.gids[0], 44);
        ASSERT_STREQ(r.home, "/var/lib/nginx");
        result_done(&r);

        /* A uid found in passwd takes its gid, home and groups (of the first entry). */
        ASSERT_OK(resolve(root, "1000", &r));
        ASSERT_EQ(r.uid, 1000);
        ASSERT_EQ(r.gid, 1000);
        ASSERT_EQ(r.n_gids, 3);
        ASSERT_EQ(r.gids[0], 10);
        ASSERT_EQ(r.gids[1], 44);
        ASSERT_EQ(r.gids[2], 50);
        ASSERT_STREQ(r.home, "/home/app");
        result_done(&r);

        ASSERT_OK(resolve(root, "101", &r));
        ASSERT_EQ(r.uid, 101);
        ASSERT_EQ(r.gid, 101);
        result_done(&r);

        /* A bare uid that is not in passwd is fine: gid 0, home "/", no groups. */
        ASSERT_OK(resolve(root, "4242", &r));
        ASSERT_EQ(r.uid, 4242);
        ASSERT_EQ(r.gid, 0);
        ASSERT_EQ(r.n_gids, 0);
        ASSERT_NULL(r.gids);
        ASSERT_STREQ(r.home, "/");
        result_done(&r);
}

TEST(explicit_groups) {
        const char *root = make_root();
        Result r;

        ASSERT_OK(resolve(root, "app:nginx", &r));
        ASSERT_EQ(r.uid, 1000);
        ASSERT_EQ(r.gid, 101);
        ASSERT_EQ(r.n_gids, 0); /* an explicit group replaces the memberships */
        ASSERT_STREQ(r.home, "/home/app");
        result_done(&r);

        ASSERT_OK(resolve(root, "app:7777", &r));
        ASSERT_EQ(r.gid, 7777);
        result_done(&r);

        ASSERT_OK(resolve(root, "4242:4343", &r));
        ASSERT_EQ(r.uid, 4242);
        ASSERT_EQ(r.gid, 4343);
        ASSERT_EQ(r.n_gids, 0);
        result_done(&r);

        ASSERT_OK(resolve(root, "0:wheel", &r));
        ASSERT_EQ(r.uid, 0);
        ASSERT_EQ(r.gid, 10);
        result_done(&r);
}

TEST(odd_lines) {
        const char *root = make_root();
        Result r;

        /* Too few fields, bad ids and NIS entries are skipped, never matched. */
        ASSERT_ERROR(resolve(root, "short", &r), ENOENT);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "badid", &r), ENOENT);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "negative", &r), ENOENT);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "minusone", &r), ENOENT);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "+nis", &r), ENOENT);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "app:bad", &r), ENOENT);
        result_done(&r);

        ASSERT_OK(resolve(root, "nohome", &r));
        ASSERT_EQ(r.uid, 60);
        ASSERT_EQ(r.gid, 61);
        ASSERT_STREQ(r.home, "/");
        result_done(&r);

        ASSERT_OK(resolve(root, "emptyhome", &r));
        ASSERT_EQ(r.uid, 70);
        ASSERT_STREQ(r.home, "/");
        result_done(&r);

        ASSERT_OK(resolve(root, "app", &r));
        ASSERT_EQ(r.uid, 1000);
        result_done(&r);
}

TEST(errors) {
        const char *root = make_root();
        Result r;

        ASSERT_ERROR(resolve(root, "nosuchuser", &r), ENOENT);
        ASSERT_STREQ(r.error, "user 'nosuchuser' not found in /etc/passwd of the container");
        ASSERT_EQ(r.uid, 12345); /* outputs untouched on failure */
        ASSERT_NULL(r.home);
        result_done(&r);

        ASSERT_ERROR(resolve(root, "app:nosuchgroup", &r), ENOENT);
        ASSERT_STREQ(r.error, "group 'nosuchgroup' not found in /etc/group of the container");
        result_done(&r);

        ASSERT_ERROR(resolve(root, "", &r), EINVAL);
        ASSERT_STREQ(r.error, "user spec '': the user is empty");
        result_done(&r);
        ASSERT_ERROR(resolve(root, ":0", &r), EINVAL);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "app:", &r), EINVAL);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "app:a:b", &r), EINVAL);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "4294967295", &r), EINVAL);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "99999999999", &r), EINVAL);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "0:4294967295", &r), EINVAL);
        result_done(&r);
        ASSERT_ERROR(user_resolve(root, NULL, NULL, NULL, NULL, NULL, NULL, NULL), EINVAL);

        /* Control characters are escaped in messages. */
        ASSERT_ERROR(resolve(root, "a\nb", &r), ENOENT);
        ASSERT_STREQ(r.error, "user 'a\\nb' not found in /etc/passwd of the container");
        result_done(&r);

        /* Every output is optional. */
        ASSERT_OK(user_resolve(root, "nginx", NULL, NULL, NULL, NULL, NULL, NULL));
        ASSERT_ERROR(user_resolve(root, "nobody", NULL, NULL, NULL, NULL, NULL, NULL), ENOENT);
}

TEST(missing_files) {
        char *root = path_join(test_tmpdir(), "empty");
        Result r;

        ASSERT_NOT_NULL(root);
        ASSERT_OK(mkdir_p(root, 0755));
        ASSERT_OK(resolve(root, "0", &r));
        ASSERT_EQ(r.uid, 0);
        ASSERT_EQ(r.gid, 0);
        ASSERT_STREQ(r.home, "/");
        result_done(&r);
        ASSERT_OK(resolve(root, "33:44", &r));
        ASSERT_EQ(r.gid, 44);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "root", &r), ENOENT);
        result_done(&r);
        ASSERT_ERROR(resolve(root, "0:wheel", &r), ENOENT);
        result_done(&r);

        ASSERT_ERROR(resolve("/nonexistent-root-dir", "0", &r), ENOENT);
        ASSERT_STREQ(r.error, "cannot open the container's root '/nonexistent-root-dir': No such "
                              "file or directory");
        result_done(&r);
        free(root);
}

TEST(symlink_stays_in_root) {
        const char *root = make_root();
        char *outside, *etc, *p;
        Result r;

        /* An absolute symlink in the container resolves inside the container's root. */
        outside = path_join(test_tmpdir(), "host-passwd");
        ASSERT_OK(write_string_file_atomic(outside, "evil:x:0:0::/:/bin/sh\n", 0644));
        etc = path_join(test_tmpdir(), "jail", "etc");
        ASSERT_OK(mkdir_p(etc, 0755));
        p = path_join(etc, "passwd");
        ASSERT_OK(symlink(outside, p));
        free(p);
        p = path_join(test_tmpdir(), "jail");
        ASSERT_ERROR(resolve(p, "evil", &r), ENOENT);
        result_done(&r);
        ASSERT_OK(resolve(p, "0", &r));
        result_done(&r);
        free(p);
        free(etc);
        free(outside);
        (void) root;
}

TEST(relative_symlinks_clamped_and_loops) {
        char *real, *p, *jail, *loop_etc;
        Result r;

        /* jail/etc -> ../../../real climbs above the root, so it ends at jail/real. */
        jail = path_join(test_tmpdir(), "jail2");
        real = path_join(jail, "real");
        ASSERT_OK(mkdir_p(real, 0755));
        p = path_join(real, "passwd");
        ASSERT_OK(write_string_file_atomic(p, "inside:x:7:7::/in:/bin/sh\n", 0644));
        free(p);
        p = path_join(jail, "etc");
        ASSERT_OK(symlink("../../../real", p));
        free(p);
        ASSERT_OK(resolve(jail, "inside", &r));
        ASSERT_EQ(r.uid, 7);
        ASSERT_STREQ(r.home, "/in");
        result_done(&r);

        /* A loop is an error, not a hang. */
        loop_etc = path_join(test_tmpdir(), "jail3", "etc");
        ASSERT_OK(mkdir_p(loop_etc, 0755));
        p = path_join(loop_etc, "passwd");
        ASSERT_OK(symlink("/etc/passwd", p));
        free(p);
        free(jail);
        jail = path_join(test_tmpdir(), "jail3");
        ASSERT_ERROR(resolve(jail, "0", &r), ELOOP);
        ASSERT_STREQ(r.error, "cannot open /etc/passwd of the container: Too many levels of "
                              "symbolic links");
        result_done(&r);
        free(loop_etc);
        free(real);
        free(jail);
}

TEST(not_regular_or_nul) {
        char *root = path_join(test_tmpdir(), "fifo"), *etc, *p;
        static const char nul_text[] = "a\0b:x:5:5::/:/bin/sh\nok:x:6:6::/ok:/bin/sh\n";
        Result r;

        etc = path_join(root, "etc");
        ASSERT_OK(mkdir_p(etc, 0755));
        p = path_join(etc, "passwd");
        ASSERT_OK(mkfifo(p, 0644));
        ASSERT_ERROR(resolve(root, "0", &r), EINVAL);
        ASSERT_STREQ(r.error, "/etc/passwd of the container is not a regular file");
        result_done(&r);
        ASSERT_OK(unlink(p));

        /* A line with an embedded NUL is skipped; the next one still counts. */
        ASSERT_OK(write_file_atomic(p, nul_text, sizeof nul_text - 1, 0644));
        ASSERT_ERROR(resolve(root, "a", &r), ENOENT);
        result_done(&r);
        ASSERT_OK(resolve(root, "ok", &r));
        ASSERT_EQ(r.uid, 6);
        ASSERT_STREQ(r.home, "/ok");
        result_done(&r);
        free(p);
        free(etc);
        free(root);
}
