/* SPDX-License-Identifier: Apache-2.0 */
/* test-build-exec.c: requests, instructions as buildah arguments, RUN mounts. */
#include <stdio.h>

#include "build-exec.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

static char *config_of(const char *ins_json, bool cmd_set) {
        _cleanup_(json_decrefp) json_t *ins = json_loads(ins_json, 0, NULL);
        _cleanup_strv_free_ char **args = NULL;
        char *const shell[] = { (char *) "/bin/sh", (char *) "-c", NULL };

        ASSERT_NOT_NULL(ins);
        ASSERT_OK(build_config_args(ins, shell, cmd_set, &args));
        return strv_join(args, "|") ?: strdup("");
}

#define ASSERT_CONFIG(ins, cmd_set, want)                                                          \
        do {                                                                                       \
                _cleanup_free_ char *_s_ = config_of(ins, cmd_set);                                \
                ASSERT_STREQ(_s_, want);                                                           \
        } while (0)

TEST(config_args) {
        ASSERT_CONFIG("{\"cmd\":\"ENV\",\"pairs\":[[\"A\",\"1\"],[\"B\",\"x y\"]]}", false,
                      "--env|A=1|--env|B=x y");
        ASSERT_CONFIG("{\"cmd\":\"LABEL\",\"pairs\":[[\"org.x\",\"v\"]]}", false,
                      "--label|org.x=v");
        ASSERT_CONFIG("{\"cmd\":\"USER\",\"value\":\"1000:1000\"}", false, "--user|1000:1000");
        ASSERT_CONFIG("{\"cmd\":\"WORKDIR\",\"value\":\"/app\"}", false, "--workingdir|/app");
        ASSERT_CONFIG("{\"cmd\":\"EXPOSE\",\"values\":[\"80/tcp\",\"53/udp\"]}", false,
                      "--port|80/tcp|--port|53/udp");
        ASSERT_CONFIG("{\"cmd\":\"VOLUME\",\"values\":[\"/data\"]}", false, "--volume|/data");
        ASSERT_CONFIG("{\"cmd\":\"STOPSIGNAL\",\"value\":\"SIGINT\"}", false,
                      "--stop-signal|SIGINT");
        ASSERT_CONFIG("{\"cmd\":\"MAINTAINER\",\"value\":\"me\"}", false, "--label|maintainer=me");
        ASSERT_CONFIG("{\"cmd\":\"ARG\",\"name\":\"V\"}", false, "");
        ASSERT_CONFIG("{\"cmd\":\"CMD\",\"form\":\"exec\",\"args\":[\"a\",\"b c\"]}", false,
                      "--cmd|[\"a\",\"b c\"]");
        /* Shell form goes through the current SHELL. */
        ASSERT_CONFIG("{\"cmd\":\"CMD\",\"form\":\"shell\",\"args\":[\"echo $HOME\"]}", false,
                      "--cmd|[\"/bin/sh\",\"-c\",\"echo $HOME\"]");
        /* ENTRYPOINT resets an inherited CMD, not one of this stage. */
        ASSERT_CONFIG("{\"cmd\":\"ENTRYPOINT\",\"form\":\"exec\",\"args\":[\"/app\"]}", false,
                      "--entrypoint|[\"/app\"]|--cmd|");
        ASSERT_CONFIG("{\"cmd\":\"ENTRYPOINT\",\"form\":\"exec\",\"args\":[\"/app\"]}", true,
                      "--entrypoint|[\"/app\"]");
        ASSERT_CONFIG("{\"cmd\":\"SHELL\",\"args\":[\"/bin/bash\",\"-c\"]}", false,
                      "--shell|/bin/bash -c");
        ASSERT_CONFIG("{\"cmd\":\"HEALTHCHECK\",\"none\":true}", false, "--healthcheck|NONE");
        ASSERT_CONFIG("{\"cmd\":\"HEALTHCHECK\",\"form\":\"shell\",\"args\":[\"curl -f x\"],"
                      "\"flags\":{\"interval\":\"5s\",\"retries\":3}}",
                      false,
                      "--healthcheck|CMD-SHELL curl -f x|--healthcheck-interval|5s|"
                      "--healthcheck-retries|3");
        ASSERT_CONFIG("{\"cmd\":\"ONBUILD\",\"trigger\":{\"cmd\":\"RUN\",\"original\":\"RUN "
                      "make\"}}",
                      false, "--onbuild|RUN make");
}

TEST(config_args_unsupported) {
        _cleanup_(json_decrefp) json_t *run = json_pack("{s:s}", "cmd", "RUN");
        _cleanup_(json_decrefp) json_t *none = json_object();
        _cleanup_strv_free_ char **args = NULL;

        ASSERT_ERROR(build_config_args(run, NULL, false, &args), EOPNOTSUPP);
        ASSERT_ERROR(build_config_args(none, NULL, false, &args), EINVAL);
        ASSERT_NULL(args);
}

static int mount_of(const char *m_json, const char *from, char **ret, char **ret_error) {
        _cleanup_(json_decrefp) json_t *m = json_loads(m_json, 0, NULL);

        ASSERT_NOT_NULL(m);
        return build_mount_arg(m, "/ctx", from, ret, ret_error);
}

TEST(mounts) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *err = NULL;

        ASSERT_OK(mount_of("{\"type\":\"bind\",\"target\":\"/src\",\"source\":\"app\"}", NULL, &a,
                           NULL));
        ASSERT_STREQ(a, "type=bind,target=/src,src=/ctx/app,ro");
        ASSERT_OK(mount_of("{\"type\":\"bind\",\"target\":\"/o\",\"source\":\"/out\","
                           "\"readonly\":false}",
                           "sha256:ab", &b, NULL));
        ASSERT_STREQ(b, "type=bind,target=/o,from=sha256:ab,src=/out,rw");
        ASSERT_OK(mount_of("{\"type\":\"cache\",\"target\":\"/root/.cache\",\"id\":\"pip\","
                           "\"sharing\":\"locked\",\"uid\":1000}",
                           NULL, &c, NULL));
        ASSERT_STREQ(c, "type=cache,target=/root/.cache,id=pip,sharing=locked,uid=1000");
        ASSERT_OK(mount_of("{\"type\":\"tmpfs\",\"target\":\"/t\",\"size\":1048576}", NULL, &d,
                           NULL));
        ASSERT_STREQ(d, "type=tmpfs,target=/t,tmpfs-size=1048576");

        ASSERT_ERROR(
                mount_of("{\"type\":\"secret\",\"target\":\"/s\",\"id\":\"x\"}", NULL, &e, &err),
                EOPNOTSUPP);
        ASSERT_NOT_NULL(strstr(err, "secret"));
        err = mfree(err);
        ASSERT_ERROR(mount_of("{\"type\":\"bind\",\"target\":\"/s\",\"source\":\"../x\"}", NULL, &e,
                              &err),
                     EPERM);
        ASSERT_NOT_NULL(strstr(err, "leaves the build context"));
        err = mfree(err);
        ASSERT_ERROR(mount_of("{\"type\":\"bind\"}", NULL, &e, &err), EINVAL);
        ASSERT_NULL(e);
}

TEST(version) {
        ASSERT_TRUE(build_buildah_version_ok(
                "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)\n"));
        ASSERT_TRUE(build_buildah_version_ok("buildah version 1.23.0\n"));
        ASSERT_TRUE(build_buildah_version_ok("buildah version 2.0.1\n"));
        ASSERT_FALSE(build_buildah_version_ok("buildah version 1.22.3\n"));
        ASSERT_FALSE(build_buildah_version_ok("garbage"));
        ASSERT_FALSE(build_buildah_version_ok(NULL));
}

static int parse(const char *text, BuildRequest **ret, char **ret_error) {
        _cleanup_(json_decrefp) json_t *j = json_loads(text, 0, NULL);

        ASSERT_NOT_NULL(j);
        return build_request_parse(j, ret, ret_error);
}

TEST(request) {
        _cleanup_(build_request_freep) BuildRequest *r = NULL;

        ASSERT_OK(parse("{\"build_id\":\"b1\",\"context\":\"/ctx\",\"work_dir\":\"/w\","
                        "\"tags\":[\"app:1\"],\"build_args\":{\"V\":\"2\"},\"no_cache\":true,"
                        "\"storage\":{\"root\":\"/r\",\"runroot\":\"/rr\",\"driver\":\"vfs\"},"
                        "\"prune_cache\":{\"max_bytes\":1000,\"max_age_sec\":60},"
                        "\"insecure_registries\":[\"reg:5000\"],\"runtime\":null,\"target\":null}",
                        &r, NULL));
        ASSERT_STREQ(r->build_id, "b1");
        ASSERT_STREQ(r->dockerfile, "Dockerfile");
        ASSERT_STREQ(r->isolation, "chroot");
        ASSERT_STREQ(r->tags[0], "app:1");
        ASSERT_STREQ(json_string_value(json_object_get(r->build_args, "V")), "2");
        ASSERT_TRUE(r->no_cache);
        ASSERT_TRUE(r->step_commits);
        ASSERT_FALSE(r->push);
        ASSERT_STREQ(r->storage_driver, "vfs");
        ASSERT_U64_EQ(r->prune_max_bytes, 1000);
        ASSERT_U64_EQ(r->prune_max_age_sec, 60);
        ASSERT_STREQ(r->insecure_registries[0], "reg:5000");
        ASSERT_NULL(r->runtime);
        ASSERT_NULL(r->target);
}

static void expect_bad(const char *text, const char *needle) {
        _cleanup_free_ char *err = NULL;
        BuildRequest *r = NULL;

        ASSERT_ERROR(parse(text, &r, &err), EINVAL);
        ASSERT_NULL(r);
        ASSERT_NOT_NULL(err);
        if (!strstr(err, needle))
                test_fail(__FILE__, __LINE__, "'%s' does not mention '%s'", err, needle);
}

TEST(request_errors) {
        expect_bad("[]", "object");
        expect_bad("{\"context\":\"/c\",\"work_dir\":\"/w\"}", "'build_id' is required");
        expect_bad("{\"build_id\":\"a/b\",\"context\":\"/c\",\"work_dir\":\"/w\"}", "build_id");
        expect_bad("{\"build_id\":\"a\",\"context\":\"c\",\"work_dir\":\"/w\"}", "absolute");
        expect_bad("{\"build_id\":\"a\",\"context\":\"/c\"}", "'work_dir' is required");
        expect_bad("{\"build_id\":\"a\",\"context\":\"/c\",\"work_dir\":\"/w\",\"tags\":\"x\"}",
                   "'tags'");
        expect_bad("{\"build_id\":\"a\",\"context\":\"/c\",\"work_dir\":\"/w\",\"tags\":[\"A B\"]}",
                   "not an image reference");
        expect_bad("{\"build_id\":\"a\",\"context\":\"/c\",\"work_dir\":\"/w\","
                   "\"build_args\":{\"x\":1}}",
                   "'build_args'");
        expect_bad("{\"build_id\":\"a\",\"context\":\"/c\",\"work_dir\":\"/w\",\"runtime\":\"x\"}",
                   "no runtime template 'x'");
        expect_bad("{\"build_id\":\"a\",\"context\":\"/c\",\"work_dir\":\"/w\","
                   "\"isolation\":\"vm\"}",
                   "'isolation'");
        expect_bad("{\"build_id\":\"a\",\"context\":\"/c\",\"work_dir\":\"/w\",\"push\":\"yes\"}",
                   "'push'");
        expect_bad("{\"build_id\":\"a\",\"context\":\"/c\",\"work_dir\":\"/w\","
                   "\"prune_cache\":{\"max_bytes\":-1}}",
                   "'prune_cache'");
}

/* ---- the executor against a fake buildah ---------------------------------------------------
 * A shell script stands in for buildah: it logs every call, keeps committed images in a file
 * and answers `images --json` from it, so the order of the calls, the events and the cache logic
 * are checked without building anything. */

static const char fake_buildah[] =
        "#!/bin/sh\n"
        "d=$(dirname \"$0\")\n"
        "while [ \"${1#--}\" != \"$1\" ] && [ \"$1\" != --version ]; do shift 2; done\n"
        "echo \"$*\" >> \"$d/calls\"\n"
        "case $1 in\n"
        "--version) echo 'buildah version 1.28.2 (image-spec 1.1.0-rc2)' ;;\n"
        "images)\n"
        "    printf '['; sep=''\n"
        "    [ -f \"$d/store\" ] && while read -r id name; do\n"
        "        printf '%s{\"id\":\"%s\",\"names\":[\"%s\"],\"size\":\"1 MB\",\"created\":1}' "
        "\"$sep\" \"$id\" \"$name\"; sep=,\n"
        "    done < \"$d/store\"\n"
        "    echo ']' ;;\n"
        "pull) for a; do name=$a; done; id=$(echo \"$name\" | sha256sum | cut -c1-64)\n"
        "    echo \"$id $name\" >> \"$d/store\"; echo \"$id\" ;;\n"
        "from) shift; while [ \"$1\" != --name ]; do shift; done; echo \"$2\" ;;\n"
        "run) case \"$*\" in *zlb-fold-*)\n"
        "        while [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\" ;; esac\n"
        "    echo \"ran: $*\"; echo 'some stderr' >&2; printf 'caf\\351\\n'\n"
        "    head -c 5000 /dev/zero | tr '\\0' a; echo\n"
        "    case \"$*\" in *fail-now*) exit 7 ;; esac ;;\n"
        "commit) for a; do name=$a; done\n"
        "    case $name in oci:*) dir=${name#oci:}; dir=${dir%%:*}\n"
        "        mkdir -p \"$dir/blobs/sha256\" && echo x > \"$dir/blobs/sha256/aa\"\n"
        "        echo '{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:aa\"}]}' > "
        "\"$dir/index.json\"; exit 0 ;; esac\n"
        "    id=$(echo \"$* $(date +%s%N)\" | sha256sum | cut -c1-64)\n"
        "    echo \"$id $name\" >> \"$d/store\"; echo \"$id\" ;;\n"
        "push) for a; do dest=$a; done\n"
        "    dir=${dest#oci:}; dir=${dir%%:*}\n"
        "    mkdir -p \"$dir/blobs/sha256\" && echo x > \"$dir/blobs/sha256/aa\"\n"
        "    echo '{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:aa\"}]}' > "
        "\"$dir/index.json\" ;;\n"
        "containers) echo '[{\"containername\":\"zlb-b1-0\"},{\"containername\":\"zlb-b2-0\"}]' "
        ";;\n"
        "esac\n"
        "exit 0\n";

static char fake_dir[PATH_MAX];

/* Per test: each test's temporary directory goes away when it ends. */
static void setup_fake(void) {
        _cleanup_free_ char *path = NULL, *calls = NULL, *env = NULL;

        if (!startswith(fake_dir, test_tmpdir())) {
                snprintf(fake_dir, sizeof fake_dir, "%s/fake", test_tmpdir());
                ASSERT_OK(mkdir_p(fake_dir, 0755));
                path = path_join(fake_dir, "buildah");
                ASSERT_OK(write_string_file_atomic(path, fake_buildah, 0755));
                env = strjoin(fake_dir, ":/usr/bin:/bin");
                ASSERT_OK(setenv("PATH", env, 1));
        }
        calls = path_join(fake_dir, "calls");
        (void) unlink(calls);
}

static char *read_calls(void) {
        _cleanup_free_ char *p = path_join(fake_dir, "calls");
        char *data = NULL;

        ASSERT_OK(read_full_file(p, SIZE_MAX, &data, NULL));
        return data;
}

static const char plan_text[] =
        "{\"target\":0,\"stages\":[{\"index\":0,\"name\":null,\"line\":1,"
        "\"base\":\"127.0.0.1:5000/zlayer/shell:latest\",\"base_stage\":null,\"platform\":null,"
        "\"depends\":[],\"instructions\":["
        "{\"cmd\":\"ENV\",\"line\":2,\"original\":\"ENV A=1\",\"flags\":{},"
        "\"pairs\":[[\"A\",\"1\"]]},"
        "{\"cmd\":\"WORKDIR\",\"line\":3,\"original\":\"WORKDIR /app\",\"flags\":{},"
        "\"value\":\"/app\"},"
        "{\"cmd\":\"RUN\",\"line\":4,\"original\":\"RUN make $V\",\"flags\":{},"
        "\"form\":\"shell\",\"args\":[\"make $V\"],\"build_env\":{\"V\":\"2\"}},"
        "{\"cmd\":\"COPY\",\"line\":5,\"original\":\"COPY f.txt .\",\"flags\":{},"
        "\"sources\":[\"f.txt\"],\"dest\":\".\"},"
        "{\"cmd\":\"CMD\",\"line\":6,\"original\":\"CMD [\\\"/app/run\\\"]\",\"flags\":{},"
        "\"form\":\"exec\",\"args\":[\"/app/run\"]}]}]}";

static int run_fake(const char *id, const char *plan_json, bool no_cache, char **ret_events) {
        _cleanup_(build_request_freep) BuildRequest *req = NULL;
        _cleanup_(build_job_freep) BuildJob *job = NULL;
        _cleanup_(json_decrefp) json_t *plan = json_loads(plan_json, 0, NULL), *rq = NULL;
        _cleanup_free_ char *ctx = path_join(test_tmpdir(), "ctx"), *work = NULL, *f = NULL;
        char *buf = NULL;
        size_t size = 0;
        FILE *events;
        int r;

        ASSERT_NOT_NULL(plan);
        ASSERT_OK(mkdir_p(ctx, 0755));
        f = path_join(ctx, "f.txt");
        if (access(f, F_OK) < 0)
                ASSERT_OK(write_string_file_atomic(f, "content\n", 0644));
        work = path_join(test_tmpdir(), "work", id);
        /* The fake buildah never touches it; a real one would stay inside the test's dir. */
        _cleanup_free_ char *storage = path_join(test_tmpdir(), "storage");
        ASSERT_NOT_NULL(storage);
        rq = json_pack("{s:s,s:s,s:s,s:[s],s:b,s:{s:s}}", "build_id", id, "context", ctx,
                       "work_dir", work, "tags", "localhost/app:1", "no_cache", no_cache, "storage",
                       "root", storage);
        ASSERT_NOT_NULL(rq);
        ASSERT_OK(build_request_parse(rq, &req, NULL));
        events = open_memstream(&buf, &size);
        ASSERT_NOT_NULL(events);
        ASSERT_OK(build_job_new(req, events, -EBADF, &job));
        r = build_job_run(job, plan);
        fclose(events);
        *ret_events = buf;
        return r;
}

static size_t count(const char *haystack, const char *needle) {
        size_t n = 0;

        for (const char *p = haystack; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

TEST(executor_cold_then_cached) {
        _cleanup_free_ char *events = NULL, *calls = NULL;

        setup_fake();
        ASSERT_OK(run_fake("b1", plan_text, false, &events));
        calls = read_calls();
        /* The base is pulled once; nothing is cached yet. */
        ASSERT_EQ(count(calls, "pull --quiet --tls-verify=false 127.0.0.1:5000/zlayer/shell"), 1u);
        ASSERT_EQ(count(events, "\"cached\":false"), 5u);
        ASSERT_EQ(count(events, "\"cached\":true"), 0u);
        /* WORKDIR and ENV cost no call of their own: RUN gets them as flags... */
        ASSERT_NOT_NULL(strstr(calls, "run --isolation chroot --env V=2 --env A=1 --workingdir "
                                      "/app zlb-b1-0 -- /bin/sh -c make $V"));
        /* ...the relative COPY goes into WORKDIR... */
        ASSERT_NOT_NULL(strstr(calls, "/ctx/f.txt /app/\n"));
        ASSERT_TRUE(strstr(calls, "run ") < strstr(calls, "copy "));
        /* ...and the config reaches the container before the commit. */
        ASSERT_NOT_NULL(strstr(calls, "config --env A=1 --workingdir /app zlb-b1-0\ncommit"));
        ASSERT_NOT_NULL(strstr(calls, "config --cmd [\"/app/run\"] zlb-b1-0\ncommit"));
        /* A cache image per COPY and RUN, and the final one; the final stage's OCI layout is
         * committed from the container too, not exported afterwards; then the container goes. */
        ASSERT_EQ(count(calls, "commit --quiet --format oci "), 4u);
        ASSERT_EQ(count(calls, "localhost/zlayer-cache:"), 3u);
        ASSERT_EQ(count(calls, "--rm"), 0u);
        {
                _cleanup_free_ char *want =
                        strjoin("commit --quiet --format oci zlb-b1-0 oci:", test_tmpdir(),
                                "/work/b1/oci:localhost/app:1\n");
                _cleanup_free_ char *index = path_join(test_tmpdir(), "work/b1/oci/index.json");

                ASSERT_NOT_NULL(strstr(calls, want));
                ASSERT_EQ(access(index, F_OK), 0);
        }
        ASSERT_NOT_NULL(strstr(calls, "\nrm zlb-b1-0\n"));
        ASSERT_NOT_NULL(strstr(calls, "tag sha256:"));
        ASSERT_NULL(strstr(calls, "push "));
        ASSERT_NOT_NULL(strstr(events, "{\"line\":\"some stderr\",\"is_stderr\":true}"));
        /* Invalid UTF-8 is replaced, not dropped; long lines are cut at 4 KiB. */
        ASSERT_NOT_NULL(strstr(events, "{\"line\":\"caf?\",\"is_stderr\":false}"));
        {
                _cleanup_free_ char *a4096 = malloc(4096 + 1), *want = NULL;

                ASSERT_NOT_NULL(a4096);
                memset(a4096, 'a', 4096);
                a4096[4096] = '\0';
                want = strjoin("{\"line\":\"", a4096, "\",\"is_stderr\":false}");
                ASSERT_NOT_NULL(strstr(events, want));
                memset(a4096, 'a', 904);
                a4096[904] = '\0';
                free(want);
                want = strjoin("{\"line\":\"", a4096, "\",\"is_stderr\":false}");
                ASSERT_NOT_NULL(strstr(events, want));
        }
        ASSERT_NOT_NULL(strstr(events, "\"event\":\"image_ready\""));
        events = mfree(events);
        calls = mfree(calls);

        /* The same again: every step cached, no container, no commit, no pull. */
        setup_fake();
        ASSERT_OK(run_fake("b2", plan_text, false, &events));
        calls = read_calls();
        ASSERT_EQ(count(events, "\"cached\":true"), 5u);
        ASSERT_EQ(count(events, "\"cached\":false"), 0u);
        ASSERT_NULL(strstr(calls, "from "));
        ASSERT_NULL(strstr(calls, "commit "));
        ASSERT_NULL(strstr(calls, "pull "));
        events = mfree(events);
        calls = mfree(calls);

        /* no_cache: built again, committed once (the stage's cache entry and the layout). */
        setup_fake();
        ASSERT_OK(run_fake("b3", plan_text, true, &events));
        calls = read_calls();
        ASSERT_EQ(count(events, "\"cached\":false"), 5u);
        ASSERT_EQ(count(calls, "commit "), 2u);
        ASSERT_EQ(count(calls, "localhost/zlayer-cache:"), 1u);
        ASSERT_EQ(count(calls, "config "), 1u);
}

/* Three RUNs in one buildah run (no_cache): the fake runs the wrapper script here. */
static const char fold_plan[] =
        "{\"target\":0,\"stages\":[{\"index\":0,\"name\":null,\"line\":1,"
        "\"base\":\"scratch\",\"base_stage\":null,\"platform\":null,\"depends\":[],"
        "\"instructions\":["
        "{\"cmd\":\"RUN\",\"line\":2,\"original\":\"RUN one\",\"flags\":{},"
        "\"form\":\"shell\",\"args\":[\"echo one; echo err-one >&2; printf 'no-newline'\"]},"
        "{\"cmd\":\"RUN\",\"line\":3,\"original\":\"RUN two\",\"flags\":{},"
        "\"form\":\"shell\",\"args\":[\"echo \\\"it's two\\\"; echo; echo err-two >&2\"]},"
        "{\"cmd\":\"RUN\",\"line\":4,\"original\":\"RUN three\",\"flags\":{},"
        "\"form\":\"shell\",\"args\":[\"echo three; exit %d\"]},"
        "{\"cmd\":\"RUN\",\"line\":5,\"original\":\"RUN four\",\"flags\":{},"
        "\"form\":\"shell\",\"args\":[\"echo four\"]}]}]}";

/* The events without the output of the fake's other commands, as "E:index" and "O:line". */
static char *fold_trace(const char *events) {
        _cleanup_free_ char *copy = strdup(events), *out = NULL;
        char *save = NULL;

        ASSERT_NOT_NULL(copy);
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                _cleanup_(json_decrefp) json_t *e = json_loads(l, 0, NULL);
                const char *ev = json_string_value(json_object_get(e, "event"));
                json_t *d = json_object_get(e, "data");
                char buf[256];

                ASSERT_NOT_NULL(ev);
                if (streq(ev, "output"))
                        snprintf(buf, sizeof buf, "O:%s%s|",
                                 json_is_true(json_object_get(d, "is_stderr")) ? "!" : "",
                                 json_string_value(json_object_get(d, "line")));
                else if (startswith(ev, "instruction_") || streq(ev, "build_failed"))
                        snprintf(buf, sizeof buf, "%c%" JSON_INTEGER_FORMAT "|",
                                 streq(ev, "build_failed")          ? 'F'
                                 : streq(ev, "instruction_started") ? 'S'
                                                                    : 'C',
                                 json_integer_value(json_object_get(d, "index")));
                else
                        continue;
                ASSERT_OK(strextend(&out, buf));
        }
        return TAKE_PTR(out);
}

TEST(executor_folded_runs) {
        _cleanup_free_ char *events = NULL, *calls = NULL, *plan = NULL, *trace = NULL;
        const char *stderr_one, *stderr_two;

        setup_fake();
        ASSERT_TRUE(asprintf(&plan, fold_plan, 0) > 0);
        ASSERT_OK(run_fake("r1", plan, true, &events));
        calls = read_calls();
        /* One buildah run for the four. */
        ASSERT_EQ(count(calls, "run "), 1u);
        /* A marker to stdout and to stderr before each command after the first. */
        ASSERT_EQ(count(calls, "zlb-fold-"), 6u);
        trace = fold_trace(events);
        /* stdout and stderr are separate pipes: within a step their order may vary. */
        stderr_one = strstr(trace, "O:!err-one|");
        stderr_two = strstr(trace, "O:!err-two|");
        ASSERT_NOT_NULL(stderr_one);
        ASSERT_NOT_NULL(stderr_two);
        ASSERT_TRUE(stderr_one > strstr(trace, "S0|") && stderr_one < strstr(trace, "C0|"));
        ASSERT_TRUE(stderr_two > strstr(trace, "S1|") && stderr_two < strstr(trace, "C1|"));
        memmove((char *) stderr_two, stderr_two + strlen("O:!err-two|"),
                strlen(stderr_two + strlen("O:!err-two|")) + 1);
        memmove((char *) stderr_one, stderr_one + strlen("O:!err-one|"),
                strlen(stderr_one + strlen("O:!err-one|")) + 1);
        ASSERT_STREQ(trace, "S0|O:one|O:no-newline|C0|S1|O:it's two|O:|C1|S2|O:three|C2|S3|"
                            "O:four|C3|");
        events = mfree(events);
        calls = mfree(calls);
        trace = mfree(trace);
        plan = mfree(plan);

        /* The third fails: the fourth never starts, the failure is the third's. */
        setup_fake();
        ASSERT_TRUE(asprintf(&plan, fold_plan, 5) > 0);
        ASSERT_ERROR(run_fake("r2", plan, true, &events), EIO);
        ASSERT_NOT_NULL(strstr(events, "{\"error\":\"RUN exited with status 5\",\"stage\":0,"
                                       "\"index\":2,\"line\":4}"));
        trace = fold_trace(events);
        ASSERT_NOT_NULL(strstr(trace, "C1|S2|O:three|F2|"));
        ASSERT_NULL(strstr(trace, "S3|"));
        ASSERT_NULL(strstr(trace, "four"));
        events = mfree(events);
        trace = mfree(trace);

        /* With the cache, a commit follows each RUN: no folding. */
        setup_fake();
        ASSERT_OK(run_fake("r3", plan, false, &events));
        calls = read_calls();
        ASSERT_EQ(count(calls, "zlb-fold-"), 0u);
}

TEST(executor_partial_cache) {
        _cleanup_free_ char *events = NULL, *calls = NULL, *f = NULL;

        setup_fake();
        ASSERT_OK(run_fake("p1", plan_text, false, &events));
        events = mfree(events);
        /* A changed context file: ENV, WORKDIR and RUN come from the cache. */
        f = path_join(test_tmpdir(), "ctx", "f.txt");
        ASSERT_OK(write_string_file_atomic(f, "other content\n", 0644));
        setup_fake();
        ASSERT_OK(run_fake("p2", plan_text, false, &events));
        calls = read_calls();
        ASSERT_NOT_NULL(strstr(events, "\"index\":2,\"cached\":true"));
        ASSERT_NOT_NULL(strstr(events, "\"index\":3,\"cached\":false"));
        ASSERT_NOT_NULL(strstr(events, "\"index\":4,\"cached\":false"));
        /* The container starts from the cached RUN image, not from the base. */
        ASSERT_NOT_NULL(strstr(calls, "from --quiet --name zlb-p2-0 --pull=never sha256:"));
        ASSERT_NULL(strstr(calls, "run "));
        ASSERT_NULL(strstr(calls, "pull "));
        ASSERT_NOT_NULL(strstr(calls, "copy "));
}

TEST(executor_failing_run) {
        _cleanup_free_ char *events = NULL, *calls = NULL;

        setup_fake();
        {
                _cleanup_free_ char *text = NULL;
                const char *at = strstr(plan_text, "\"args\":[\"make $V\"]");
                size_t head = (size_t) (at - plan_text);

                ASSERT_TRUE(asprintf(&text, "%.*s\"args\":[\"fail-now\"]%s", (int) head, plan_text,
                                     at + strlen("\"args\":[\"make $V\"]")) > 0);
                ASSERT_ERROR(run_fake("f1", text, false, &events), EIO);
        }
        calls = read_calls();
        ASSERT_NOT_NULL(strstr(events, "{\"error\":\"RUN exited with status 7\",\"stage\":0,"
                                       "\"index\":2,\"line\":4}"));
        ASSERT_NULL(strstr(events, "image_ready"));
        /* The working container is removed after a failure. */
        ASSERT_NOT_NULL(strstr(calls, "rm zlb-f1-0"));
}

TEST(executor_bad_plan) {
        _cleanup_free_ char *events = NULL;

        setup_fake();
        ASSERT_ERROR(run_fake("e1", "{\"stages\":[]}", false, &events), EIO);
        ASSERT_NOT_NULL(strstr(events, "\"error\":\"the Dockerfile has no stage to build\""));
        events = mfree(events);
        setup_fake();
        ASSERT_ERROR(run_fake("e2",
                              "{\"stages\":[{\"index\":0,\"line\":1,\"base\":\"scratch\","
                              "\"instructions\":[{\"cmd\":\"COPY\",\"line\":2,\"original\":\"COPY "
                              "../x /\",\"flags\":{},\"sources\":[\"../x\"],\"dest\":\"/\"}]}]}",
                              false, &events),
                     EIO);
        ASSERT_NOT_NULL(strstr(events, "{\"error\":\"COPY: a source is outside the build "
                                       "context\",\"stage\":0,\"index\":0,\"line\":2}"));
}

TEST(executor_cleanup) {
        _cleanup_(build_request_freep) BuildRequest *req = NULL;
        _cleanup_(build_job_freep) BuildJob *job = NULL;
        _cleanup_(json_decrefp) json_t *rq = NULL;
        _cleanup_free_ char *calls = NULL;

        setup_fake();
        rq = json_pack("{s:s,s:s,s:s}", "build_id", "b1", "context", "/", "work_dir", "/");
        ASSERT_OK(build_request_parse(rq, &req, NULL));
        ASSERT_OK(build_job_new(req, NULL, -EBADF, &job));
        ASSERT_EQ(build_job_remove_containers(job), 1);
        calls = read_calls();
        ASSERT_NOT_NULL(strstr(calls, "rm zlb-b1-0"));
        ASSERT_NULL(strstr(calls, "rm zlb-b2-0"));
}
