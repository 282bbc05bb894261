/* SPDX-License-Identifier: Apache-2.0 */
/* test-registry.c: the registry client against real docker-registry instances and a fault proxy. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "registry.h"
#include "string-util.h"
#include "tests.h"

#define USER "zluser"
#define PASS "s3cret:pass"
#define PYTHON "/usr/bin/python3"

typedef struct Fixture {
        bool ready;
        char dir[PATH_MAX];
        pid_t pids[3];
        char plain[64], authed[64], proxy[64];
        json_t *seed, *seed_authed;
        char *helper;
        char *auth_file; /* the right credentials for authed and proxy */
        char *wrong_file;
} Fixture;

static Fixture fx;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void fixture_stop(void) {
        for (size_t i = 0; i < ELEMENTSOF(fx.pids); i++)
                if (fx.pids[i] > 0) {
                        (void) kill(fx.pids[i], SIGTERM);
                        (void) waitpid(fx.pids[i], NULL, 0);
                }
        if (fx.dir[0])
                (void) nftw(fx.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        json_decref(fx.seed);
        json_decref(fx.seed_authed);
        free(fx.helper);
        free(fx.auth_file);
        free(fx.wrong_file);
        curl_global_cleanup();
}

static pid_t spawn(char *const argv[], int out_fd) {
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                /* never outlive the test, even when it crashes */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                (void) dup2(null, STDIN_FILENO);
                (void) dup2(out_fd >= 0 ? out_fd : null, STDOUT_FILENO);
                if (!getenv("ZL_TEST_DEBUG"))
                        (void) dup2(null, STDERR_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

static int run(char *const argv[], const char *out_path) {
        int fd = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
        int status = 0;

        pid_t pid = spawn(argv, fd);
        if (fd >= 0)
                close(fd);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static unsigned free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
        close(fd);
        return ntohs(sa.sin_port);
}

static void wait_port(unsigned port) {
        for (int i = 0; i < 200; i++) {
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t) port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                int r = connect(fd, (struct sockaddr *) &sa, sizeof sa);
                close(fd);
                if (r == 0)
                        return;
                usleep(25 * 1000);
        }
        test_fail(__FILE__, __LINE__, "port %u never opened", port);
}

static pid_t start_registry(const char *tag, const char *htpasswd, char *ret_addr) {
        _cleanup_free_ char *cfg = NULL, *path = NULL, *bin = NULL;
        unsigned port = free_port();

        ASSERT_TRUE(asprintf(&cfg,
                             "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                             "    rootdirectory: %s/%s-data\nhttp:\n  addr: 127.0.0.1:%u\n%s%s%s",
                             fx.dir, tag, port,
                             htpasswd ? "auth:\n  htpasswd:\n    realm: zl\n"
                                        "    path: "
                                      : "",
                             strempty(htpasswd), htpasswd ? "\n" : "") >= 0);
        ASSERT_TRUE(asprintf(&path, "%s/%s.yml", fx.dir, tag) >= 0);
        ASSERT_OK(write_string_file_atomic(path, cfg, 0600));
        bin = strdup(access("/usr/bin/docker-registry", X_OK) == 0 ? "/usr/bin/docker-registry"
                                                                   : "/usr/sbin/docker-registry");
        pid_t pid = spawn((char *const[]){ bin, (char *) "serve", path, NULL }, -1);
        snprintf(ret_addr, 64, "127.0.0.1:%u", port);
        wait_port(port);
        return pid;
}

static json_t *seed(const char *addr, const char *creds) {
        _cleanup_free_ char *out = NULL;
        json_error_t err;

        ASSERT_TRUE(asprintf(&out, "%s/seed-%s.json", fx.dir, addr) >= 0);
        ASSERT_EQ(run((char *const[]){ (char *) PYTHON, fx.helper, (char *) "seed", (char *) addr,
                                       (char *) creds, NULL },
                      out),
                  0);
        json_t *j = json_load_file(out, 0, &err);
        ASSERT_NOT_NULL(j);
        return j;
}

static char *write_auth(const char *name, const char *userpass, mode_t mode) {
        _cleanup_free_ char *json = NULL;
        unsigned char b64[256];
        char *path = NULL;

        EVP_EncodeBlock(b64, (const unsigned char *) userpass, (int) strlen(userpass));
        ASSERT_TRUE(
                asprintf(&json,
                         "{\"auths\": {\"%s\": {\"auth\": \"%s\"}, \"%s\": {\"auth\": \"%s\"}}}",
                         fx.authed, b64, fx.proxy, b64) >= 0);
        ASSERT_TRUE(asprintf(&path, "%s/%s", fx.dir, name) >= 0);
        ASSERT_OK(write_string_file_atomic(path, json, mode));
        ASSERT_OK(chmod(path, mode));
        return path;
}

static void fixture(void) {
        _cleanup_free_ char *htpasswd = NULL;
        char line[32] = {};
        int pipefd[2];

        if (fx.ready)
                return;
        if (access("/usr/bin/docker-registry", X_OK) < 0 &&
            access("/usr/sbin/docker-registry", X_OK) < 0)
                test_skip("docker-registry is not installed");
        if (access("/usr/bin/htpasswd", X_OK) < 0)
                test_skip("htpasswd (apache2-utils) is not installed");
        if (access(PYTHON, X_OK) < 0)
                test_skip(PYTHON " is not installed");

        snprintf(fx.dir, sizeof fx.dir, "%s/zl-test-registry-XXXXXX", getenv("TMPDIR") ?: "/tmp");
        ASSERT_NOT_NULL(mkdtemp(fx.dir));
        atexit(fixture_stop);
        ASSERT_TRUE(asprintf(&fx.helper, "%s/registry/registry-helper.py", test_srcdir()) >= 0);

        ASSERT_TRUE(asprintf(&htpasswd, "%s/htpasswd", fx.dir) >= 0);
        ASSERT_EQ(run((char *const[]){ (char *) "/usr/bin/htpasswd", (char *) "-Bbn", (char *) USER,
                                       (char *) PASS, NULL },
                      htpasswd),
                  0);

        fx.pids[0] = start_registry("plain", NULL, fx.plain);
        fx.pids[1] = start_registry("authed", htpasswd, fx.authed);

        ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
        fx.pids[2] = spawn(
                (char *const[]){ (char *) PYTHON, fx.helper, (char *) "proxy", fx.plain, NULL },
                pipefd[1]);
        close(pipefd[1]);
        for (size_t n = 0; !strchr(line, '\n');) {
                ssize_t k = read(pipefd[0], line + n, sizeof line - 1 - n);
                ASSERT_GT(k, 0);
                n += (size_t) k;
        }
        close(pipefd[0]);
        snprintf(fx.proxy, sizeof fx.proxy, "127.0.0.1:%u", (unsigned) atoi(line));

        fx.seed = seed(fx.plain, NULL);
        fx.seed_authed = seed(fx.authed, USER ":" PASS);
        fx.auth_file = write_auth("auth.json", USER ":" PASS, 0644);
        fx.wrong_file = write_auth("wrong.json", USER ":nope", 0644);
        fx.ready = true;
}

static const char *seed_str(const char *image, const char *key) {
        const char *s = json_string_value(json_object_get(json_object_get(fx.seed, image), key));
        ASSERT_NOT_NULL(s);
        return s;
}

/* A GET against the fault proxy's control endpoints; returns the body. */
static size_t collect(char *p, size_t sz, size_t n, void *userdata) {
        char **body = userdata;
        size_t have = strlen(*body);
        char *b = realloc(*body, have + sz * n + 1);

        ASSERT_NOT_NULL(b);
        memcpy(b + have, p, sz * n);
        b[have + sz * n] = '\0';
        *body = b;
        return sz * n;
}

static char *proxy_get(const char *what) {
        _cleanup_free_ char *url = NULL;
        char *body = strdup("");
        CURL *e = curl_easy_init();
        long status = 0;

        ASSERT_NOT_NULL(e);
        ASSERT_TRUE(asprintf(&url, "http://%s%s", fx.proxy, what) >= 0);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
        ASSERT_EQ(curl_easy_perform(e), CURLE_OK);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        ASSERT_EQ(status, 200);
        return body;
}

static void proxy_mode(const char *mode, int count, const char *auth) {
        _cleanup_free_ char *q = NULL, *r = NULL;

        ASSERT_TRUE(asprintf(&q, "/_ctl?clear=1&mode=%s&count=%d&auth=%s", mode, count,
                             strempty(auth)) >= 0);
        r = proxy_get(q);
}

static json_t *proxy_log(void) {
        _cleanup_free_ char *s = proxy_get("/_log");
        json_t *j = json_loads(s, 0, NULL);
        ASSERT_NOT_NULL(j);
        return j;
}

/* Requests in the proxy log whose path contains needle. */
static unsigned log_count(json_t *log, const char *needle, const char *field, const char *prefix) {
        unsigned n = 0;
        json_t *e;
        size_t i;

        json_array_foreach (log, i, e) {
                const char *p = json_string_value(json_object_get(e, "path"));
                const char *f = field ? json_string_value(json_object_get(e, field)) : NULL;
                if (p && strstr(p, needle) && (!field || (f && startswith(f, prefix))))
                        n++;
        }
        return n;
}

static RegistryClient *client(const char *platform, char **auth_files, const char *login_file,
                              unsigned retries) {
        RegistryClient *c = NULL;
        char *none[] = { NULL };
        RegistryOptions o = {
                .auth_files = auth_files ?: none,
                .login_file = login_file,
                .retries = retries,
                .backoff_ms = 20,
                .platform = platform ?: "linux/amd64",
        };

        ASSERT_OK(registry_client_new(&o, &c));
        return c;
}

static ImageRef *ref(const char *addr, const char *rest) {
        _cleanup_free_ char *s = NULL;
        ImageRef *r = NULL;

        ASSERT_TRUE(asprintf(&s, "%s/%s", addr, rest) >= 0);
        ASSERT_OK(image_ref_parse(s, &r, NULL));
        return r;
}

static void assert_file_digest(int dir_fd, const char *digest, uint64_t *ret_size) {
        _cleanup_free_ char *data = NULL;
        unsigned char md[32];
        char hex[65];
        size_t size;
        int fd = openat(dir_fd, digest + 7, O_RDONLY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(read_full_fd(fd, 64 * 1024 * 1024, &data, &size));
        close(fd);
        ASSERT_TRUE(EVP_Digest(data, size, md, NULL, EVP_sha256(), NULL) == 1);
        for (size_t i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        ASSERT_STREQ(hex, digest + 7);
        if (ret_size)
                *ret_size = size;
}

static int open_tmp(void) {
        int fd = open(test_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

typedef struct Progress {
        unsigned calls;
        uint64_t last_done, last_total;
} Progress;

static void on_progress(const char *digest, uint64_t done, uint64_t total, void *userdata) {
        Progress *p = userdata;

        p->calls++;
        ASSERT_GE(done, p->last_done > done ? 0 : p->last_done);
        p->last_done = done;
        p->last_total = total;
}

static void pull_all(RegistryClient *c, const ImageRef *r, const RegistryImage *img, int dir_fd,
                     bool expect_progress) {
        _cleanup_free_ const char **digests = calloc(img->n_layers + 1, sizeof(char *));
        _cleanup_free_ uint64_t *sizes = calloc(img->n_layers + 1, sizeof(uint64_t));
        _cleanup_free_ char *err = NULL;
        Progress p = {};

        for (size_t i = 0; i < img->n_layers; i++) {
                digests[i] = img->layers[i].digest;
                sizes[i] = img->layers[i].size;
        }
        ASSERT_OK(registry_fetch_blobs(c, r, digests, sizes, dir_fd, on_progress, &p, &err));
        ASSERT_NULL(err);
        ASSERT_EQ(p.calls > 0, expect_progress);
        if (expect_progress)
                ASSERT_U64_EQ(p.last_done, p.last_total);
        for (size_t i = 0; i < img->n_layers; i++) {
                char partial[80];
                uint64_t size;

                assert_file_digest(dir_fd, img->layers[i].digest, &size);
                ASSERT_U64_EQ(size, img->layers[i].size);
                snprintf(partial, sizeof partial, "%s.partial", img->layers[i].digest + 7);
                ASSERT_TRUE(faccessat(dir_fd, partial, F_OK, 0) < 0);
        }
}

/* ---- parsers ------------------------------------------------------------------------------ */

TEST(challenge_parse) {
        RegistryChallenge ch = {};

        ASSERT_OK(registry_challenge_parse(
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                "scope=\"repository:library/nginx:pull,push\"",
                &ch));
        ASSERT_STREQ(ch.scheme, "bearer");
        ASSERT_STREQ(ch.realm, "https://auth.docker.io/token");
        ASSERT_STREQ(ch.service, "registry.docker.io");
        ASSERT_STREQ(ch.scope, "repository:library/nginx:pull,push");
        registry_challenge_done(&ch);

        /* spaces, unknown parameters, escapes, case, token values */
        ASSERT_OK(registry_challenge_parse("  BEARER Realm = \"http://h/t\\\"x\" , error=\"insuff"
                                           "icient_scope\",  Service=reg,scope=\"a b\"",
                                           &ch));
        ASSERT_STREQ(ch.scheme, "bearer");
        ASSERT_STREQ(ch.realm, "http://h/t\"x");
        ASSERT_STREQ(ch.service, "reg");
        ASSERT_STREQ(ch.scope, "a b");
        registry_challenge_done(&ch);

        ASSERT_OK(registry_challenge_parse("Basic realm=\"Registry Realm\"", &ch));
        ASSERT_STREQ(ch.scheme, "basic");
        ASSERT_STREQ(ch.realm, "Registry Realm");
        ASSERT_NULL(ch.service);
        registry_challenge_done(&ch);

        ASSERT_OK(registry_challenge_parse("Bearer", &ch));
        ASSERT_STREQ(ch.scheme, "bearer");
        ASSERT_NULL(ch.realm);
        registry_challenge_done(&ch);

        ASSERT_ERROR(registry_challenge_parse("", &ch), EINVAL);
        ASSERT_ERROR(registry_challenge_parse("Bearer realm=\"unterminated", &ch), EINVAL);
        ASSERT_ERROR(registry_challenge_parse("Bearer realm", &ch), EINVAL);
        ASSERT_ERROR(registry_challenge_parse("Bearer =x", &ch), EINVAL);
        ASSERT_NULL(ch.scheme);
}

TEST(auth_lookup) {
        _cleanup_free_ char *up = NULL, *path = NULL;

        /* "dXNlcjpwYXNz" is user:pass, "YTpiOmM=" is a:b:c */
        ASSERT_OK(
                registry_auth_lookup("{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
                                     "127.0.0.1:5000", &up));
        ASSERT_STREQ(up, "user:pass");
        up = mfree(up);
        ASSERT_OK(registry_auth_lookup("{\"auths\":{\"https://index.docker.io/v1/\":"
                                       "{\"auth\":\"YTpiOmM=\"}}}",
                                       "docker.io", &up));
        ASSERT_STREQ(up, "a:b:c");
        up = mfree(up);
        ASSERT_OK(registry_auth_lookup("{\"auths\":{\"https://quay.io\":{\"auth\":\"YTpiOmM=\"}}}",
                                       "quay.io", &up));
        ASSERT_STREQ(up, "a:b:c");
        up = mfree(up);
        ASSERT_ERROR(registry_auth_lookup("{\"auths\":{\"https://quay.io.evil\":{\"auth\":"
                                          "\"YTpiOmM=\"}}}",
                                          "quay.io", &up),
                     ENOENT);
        ASSERT_ERROR(registry_auth_lookup("{\"auths\":{}}", "h", &up), ENOENT);
        ASSERT_ERROR(registry_auth_lookup("{}", "h", &up), ENOENT);
        ASSERT_ERROR(
                registry_auth_lookup("{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}", "h", &up),
                EBADMSG); /* "nocolon" */
        ASSERT_ERROR(registry_auth_lookup("{\"auths\":{\"h\":{\"auth\":\"###\"}}}", "h", &up),
                     EBADMSG);
        ASSERT_ERROR(registry_auth_lookup("{\"auths\":[]}", "h", &up), EBADMSG);
        ASSERT_ERROR(registry_auth_lookup("not json", "h", &up), EBADMSG);
        ASSERT_NULL(up);

        ASSERT_TRUE(asprintf(&path, "%s/login.json", test_tmpdir()) >= 0);
        ASSERT_OK(write_string_file_atomic(path, "{\"auths\":{\"h\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
                                           0644));
        ASSERT_OK(chmod(path, 0644));
        ASSERT_ERROR(registry_auth_lookup_file(path, true, "h", &up), EPERM);
        ASSERT_OK(registry_auth_lookup_file(path, false, "h", &up));
        ASSERT_STREQ(up, "user:pass");
        up = mfree(up);
        ASSERT_OK(chmod(path, 0600));
        ASSERT_OK(registry_auth_lookup_file(path, true, "h", &up));
        ASSERT_STREQ(up, "user:pass");
        ASSERT_ERROR(registry_auth_lookup_file("/nonexistent/auth.json", false, "h", &up), ENOENT);
}

TEST(index_pick) {
        const char *idx =
                "{\"manifests\":["
                "{\"digest\":\"sha256:"
                "1111111111111111111111111111111111111111111111111111111111111111\","
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
                "{\"digest\":\"sha256:"
                "2222222222222222222222222222222222222222222222222222222222222222\","
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
                "{\"digest\":\"sha256:"
                "3333333333333333333333333333333333333333333333333333333333333333\","
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                "{\"digest\":\"sha256:"
                "4444444444444444444444444444444444444444444444444444444444444444\","
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                "{\"digest\":\"sha256:"
                "5555555555555555555555555555555555555555555555555555555555555555\","
                "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}";
        _cleanup_free_ char *d = NULL, *avail = NULL;

        ASSERT_OK(registry_index_pick(idx, "linux/amd64", &d, NULL));
        ASSERT_TRUE(startswith(d, "sha256:4444"));
        d = mfree(d);
        ASSERT_OK(registry_index_pick(idx, "linux/arm/v7", &d, NULL));
        ASSERT_TRUE(startswith(d, "sha256:2222"));
        d = mfree(d);
        ASSERT_OK(registry_index_pick(idx, "linux/arm64/v8", &d, NULL));
        ASSERT_TRUE(startswith(d, "sha256:3333"));
        d = mfree(d);
        ASSERT_OK(registry_index_pick(idx, "linux/arm64", &d, NULL));
        ASSERT_TRUE(startswith(d, "sha256:3333"));
        d = mfree(d);
        ASSERT_ERROR(registry_index_pick(idx, "linux/arm/v5", &d, &avail), ENOENT);
        ASSERT_STREQ(avail, "linux/arm/v6, linux/arm/v7, linux/arm64, linux/amd64");
        ASSERT_ERROR(registry_index_pick(idx, "amd64", &d, NULL), EINVAL);
        ASSERT_ERROR(registry_index_pick("{}", "linux/amd64", &d, NULL), EBADMSG);
        ASSERT_NULL(d);
        ASSERT_NOT_NULL(registry_host_platform());
}

TEST(client_options) {
        RegistryClient *c = NULL;

        ASSERT_ERROR(registry_client_new(&(RegistryOptions){ .platform = "amd64" }, &c), EINVAL);
        ASSERT_NULL(c);
        ASSERT_OK(registry_client_new(NULL, &c));
        ASSERT_NOT_NULL(c);
        ASSERT_NULL(registry_client_free(c));
        ASSERT_NULL(registry_client_free(NULL));
        ASSERT_NULL(registry_image_free(NULL));
}

/* ---- against docker-registry ------------------------------------------------------------ */

TEST(pull_oci) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_close_ int dir = -EBADF;

        fixture();
        c = client(NULL, NULL, NULL, 0);
        r = ref(fx.plain, "test/oci:1");
        ASSERT_OK(registry_resolve(c, r, &img, &err));
        ASSERT_NULL(err);
        ASSERT_STREQ(img->media_type, REGISTRY_MEDIA_OCI_MANIFEST);
        ASSERT_STREQ(img->manifest_digest, seed_str("oci", "manifest"));
        ASSERT_STREQ(img->config_desc.digest, seed_str("oci", "config"));
        ASSERT_NULL(img->index_digest);
        ASSERT_TRUE(strstr(img->config, "SEED=oci"));
        ASSERT_EQ(img->n_layers, 2U);
        ASSERT_STREQ(img->layers[1].digest,
                     json_string_value(json_array_get(
                             json_object_get(json_object_get(fx.seed, "oci"), "layers"), 1)));
        ASSERT_GT(img->layers[1].size, 300000U);

        dir = open_tmp();
        pull_all(c, r, img, dir, true);
        /* present blobs are not fetched again */
        pull_all(c, r, img, dir, false);
}

TEST(pull_docker_v2s2) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_close_ int dir = -EBADF;

        fixture();
        c = client(NULL, NULL, NULL, 0);
        r = ref(fx.plain, "test/docker:1");
        ASSERT_OK(registry_resolve(c, r, &img, NULL));
        ASSERT_STREQ(img->media_type, REGISTRY_MEDIA_DOCKER_MANIFEST);
        ASSERT_STREQ(img->manifest_digest, seed_str("docker", "manifest"));
        ASSERT_STREQ(img->layers[0].media_type,
                     "application/vnd.docker.image.rootfs.diff.tar.gzip");
        dir = open_tmp();
        pull_all(c, r, img, dir, true);
}

TEST(pull_index_platform) {
        json_t *multi;
        const char *index;

        fixture();
        multi = json_object_get(fx.seed, "multi");
        index = json_string_value(json_object_get(multi, "index"));
        struct {
                const char *platform;
                int image;
        } cases[] = {
                { "linux/arm64/v8", 0 },
                { "linux/arm64", 0 },
                { "linux/amd64", 1 },
                { "linux/s390x", 2 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(registry_client_freep) RegistryClient *c =
                        client(cases[i].platform, NULL, NULL, 0);
                _cleanup_(registry_image_freep) RegistryImage *img = NULL;
                _cleanup_(image_ref_freep) ImageRef *r = ref(fx.plain, "test/multi:1");
                json_t *want = json_array_get(json_object_get(multi, "images"), cases[i].image);

                ASSERT_OK(registry_resolve(c, r, &img, NULL));
                ASSERT_STREQ(img->index_digest, index);
                ASSERT_STREQ(img->manifest_digest,
                             json_string_value(json_object_get(want, "manifest")));
                ASSERT_STREQ(img->config_desc.digest,
                             json_string_value(json_object_get(want, "config")));
        }

        _cleanup_(registry_client_freep) RegistryClient *c = client("linux/riscv64", NULL, NULL, 0);
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_(image_ref_freep) ImageRef *r = ref(fx.plain, "test/multi:1");
        _cleanup_free_ char *err = NULL, *want = NULL;
        ASSERT_ERROR(registry_resolve(c, r, &img, &err), ENOENT);
        ASSERT_TRUE(asprintf(&want,
                             "%s/test/multi:1: no manifest for platform linux/riscv64 (available: "
                             "linux/arm64/v8, linux/amd64, linux/s390x)",
                             fx.plain) >= 0);
        ASSERT_STREQ(err, want);
        ASSERT_NULL(img);
}

TEST(pull_by_digest_and_unknown) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_free_ char *s = NULL, *err = NULL;

        fixture();
        c = client(NULL, NULL, NULL, 0);
        ASSERT_TRUE(asprintf(&s, "test/oci@%s", seed_str("docker", "manifest")) >= 0);
        {
                /* a digest from another repository is unknown here */
                _cleanup_(image_ref_freep) ImageRef *r = ref(fx.plain, s);
                ASSERT_ERROR(registry_resolve(c, r, &img, &err), ENOENT);
                ASSERT_TRUE(strstr(err, "manifest unknown"));
                err = mfree(err);
        }
        s = mfree(s);
        ASSERT_TRUE(asprintf(&s, "test/oci@%s", seed_str("oci", "manifest")) >= 0);
        {
                _cleanup_(image_ref_freep) ImageRef *r = ref(fx.plain, s);
                ASSERT_OK(registry_resolve(c, r, &img, &err));
                ASSERT_STREQ(img->manifest_digest, seed_str("oci", "manifest"));
                img = registry_image_free(img);
        }
        {
                _cleanup_(image_ref_freep) ImageRef *r = ref(fx.plain, "test/nothing:1");
                _cleanup_free_ char *want = NULL;
                ASSERT_ERROR(registry_resolve(c, r, &img, &err), ENOENT);
                ASSERT_TRUE(asprintf(&want, "%s/test/nothing:1: manifest unknown: HTTP 404",
                                     fx.plain) >= 0);
                ASSERT_TRUE(startswith(err, want));
                err = mfree(err);
        }
        {
                /* a blob the registry does not have */
                _cleanup_(image_ref_freep) ImageRef *r = ref(fx.plain, "test/oci:1");
                _cleanup_close_ int dir = open_tmp();
                const char *d[] = {
                        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                        NULL
                };
                ASSERT_ERROR(registry_fetch_blobs(c, r, d, NULL, dir, NULL, NULL, &err), ENOENT);
                ASSERT_TRUE(strstr(err, "blob unknown: HTTP 404"));
                err = mfree(err);
                const char *bad[] = { "md5:abc", NULL };
                ASSERT_ERROR(registry_fetch_blobs(c, r, bad, NULL, dir, NULL, NULL, &err), EINVAL);
                ASSERT_TRUE(strstr(err, "unsupported blob digest 'md5:abc'"));
        }
}

TEST(basic_auth) {
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_free_ char *err = NULL, *login = NULL;
        _cleanup_close_ int dir = -EBADF;

        fixture();
        r = ref(fx.authed, "test/oci:1");
        {
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, NULL, NULL, 0);
                ASSERT_ERROR(registry_resolve(c, r, &img, &err), EACCES);
                ASSERT_TRUE(strstr(err, "authentication required, and no credentials for"));
                err = mfree(err);
        }
        {
                char *files[] = { fx.wrong_file, NULL };
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, files, NULL, 0);
                ASSERT_ERROR(registry_resolve(c, r, &img, &err), EACCES);
                ASSERT_TRUE(
                        strstr(err, ": 401 unauthorized: the registry refused the credentials"));
                err = mfree(err);
        }
        {
                char *files[] = { fx.wrong_file, fx.auth_file, NULL };
                _cleanup_(registry_client_freep) RegistryClient *c =
                        client(NULL, files + 1, NULL, 0);
                ASSERT_OK(registry_resolve(c, r, &img, &err));
                ASSERT_STREQ(img->manifest_digest,
                             json_string_value(json_object_get(
                                     json_object_get(fx.seed_authed, "oci"), "manifest")));
                dir = open_tmp();
                pull_all(c, r, img, dir, true);
                img = registry_image_free(img);
                (void) files;
        }
        /* the zlctl login file wins over auth.json, and must be private */
        login = write_auth("login.json", USER ":" PASS, 0644);
        {
                char *files[] = { fx.wrong_file, NULL };
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, files, login, 0);
                ASSERT_ERROR(registry_resolve(c, r, &img, &err), EPERM);
                ASSERT_TRUE(strstr(err, "cannot read credentials"));
                err = mfree(err);
                ASSERT_OK(chmod(login, 0600));
                ASSERT_OK(registry_resolve(c, r, &img, &err));
        }
}

TEST(bearer_token_flow) {
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_(json_decrefp) json_t *log = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_close_ int dir = -EBADF;

        fixture();
        r = ref(fx.proxy, "test/oci:1");
        proxy_mode("none", 0, USER ":" PASS);
        {
                char *files[] = { fx.auth_file, NULL };
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, files, NULL, 0);
                ASSERT_OK(registry_resolve(c, r, &img, &err));
                ASSERT_STREQ(img->manifest_digest, seed_str("oci", "manifest"));
                dir = open_tmp();
                pull_all(c, r, img, dir, true);
                img = registry_image_free(img);
                ASSERT_OK(registry_resolve(c, r, &img, &err));
        }
        log = proxy_log();
        /* one token, cached for the second resolve and every blob */
        ASSERT_EQ(log_count(log, "/token", NULL, NULL), 1U);
        ASSERT_EQ(log_count(log, "/token", "query",
                            "service=zl%20test&scope=repository%3Atest%2Foci%3Apull"),
                  1U);
        ASSERT_EQ(log_count(log, "/token", "authorization", "Basic "), 1U);
        ASSERT_EQ(log_count(log, "/manifests/", "authorization", "Bearer tok-"), 2U);
        /* two layers, and the config once per resolve */
        ASSERT_EQ(log_count(log, "/blobs/", "authorization", "Bearer tok-"), 4U);
        ASSERT_EQ(log_count(log, "/blobs/", NULL, NULL), 4U);
        json_decref(TAKE_PTR(log));

        {
                char *files[] = { fx.wrong_file, NULL };
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, files, NULL, 0);
                ASSERT_ERROR(registry_resolve(c, r, &img, &err), EACCES);
                ASSERT_TRUE(strstr(err, "refused the credentials"));
                err = mfree(err);
        }
        {
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, NULL, NULL, 0);
                ASSERT_ERROR(registry_resolve(c, r, &img, &err), EACCES);
                ASSERT_TRUE(strstr(err, "requires credentials"));
        }
        proxy_mode("none", 0, NULL);
}

TEST(digest_mismatch) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_free_ char *err = NULL, *want = NULL, *s = NULL;
        _cleanup_close_ int dir = -EBADF;
        const char *layer;

        fixture();
        c = client(NULL, NULL, NULL, 0);
        r = ref(fx.proxy, "test/oci:1");
        layer = json_string_value(
                json_array_get(json_object_get(json_object_get(fx.seed, "oci"), "layers"), 1));

        proxy_mode("corrupt-manifest", 1, NULL);
        ASSERT_ERROR(registry_resolve(c, r, &img, &err), EBADMSG);
        ASSERT_TRUE(asprintf(&want,
                             "%s/test/oci:1: manifest digest mismatch: expected %s, got sha256:",
                             fx.proxy, seed_str("oci", "manifest")) >= 0);
        ASSERT_TRUE(startswith(err, want));
        err = mfree(err);
        want = mfree(want);

        proxy_mode("mediatype", 1, NULL);
        ASSERT_ERROR(registry_resolve(c, r, &img, &err), EPROTONOSUPPORT);
        ASSERT_TRUE(strstr(err,
                           ": unknown manifest media type 'application/vnd.example.unknown+json'"));
        err = mfree(err);

        proxy_mode("corrupt", 1, NULL);
        dir = open_tmp();
        const char *d[] = { layer, NULL };
        ASSERT_ERROR(registry_fetch_blobs(c, r, d, NULL, dir, NULL, NULL, &err), EBADMSG);
        ASSERT_TRUE(asprintf(&want, "%s/test/oci:1: blob digest mismatch: expected %s, got sha256:",
                             fx.proxy, layer) >= 0);
        ASSERT_TRUE(startswith(err, want));
        err = mfree(err);
        /* nothing is left behind, neither the blob nor the bad partial data */
        ASSERT_TRUE(faccessat(dir, layer + 7, F_OK, 0) < 0);
        ASSERT_TRUE(asprintf(&s, "%s.partial", layer + 7) >= 0);
        ASSERT_TRUE(faccessat(dir, s, F_OK, 0) < 0);

        /* the next attempt succeeds */
        ASSERT_OK(registry_fetch_blobs(c, r, d, NULL, dir, NULL, NULL, &err));
        assert_file_digest(dir, layer, NULL);
        proxy_mode("none", 0, NULL);
}

TEST(truncated_blob_resumes) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_(json_decrefp) json_t *log = NULL;
        _cleanup_free_ char *err = NULL, *partial = NULL, *data = NULL;
        _cleanup_close_ int dir = -EBADF;
        const char *layer;
        uint64_t size;
        size_t n;

        fixture();
        c = client(NULL, NULL, NULL, 0);
        r = ref(fx.proxy, "test/oci:1");
        layer = json_string_value(
                json_array_get(json_object_get(json_object_get(fx.seed, "oci"), "layers"), 1));
        const char *d[] = { layer, NULL };

        /* the connection drops half-way: the retry asks only for the rest */
        proxy_mode("truncate", 1, NULL);
        dir = open_tmp();
        Progress p = {};
        ASSERT_OK(registry_fetch_blobs(c, r, d, NULL, dir, on_progress, &p, &err));
        ASSERT_NULL(err);
        assert_file_digest(dir, layer, &size);
        ASSERT_U64_EQ(p.last_done, size);
        log = proxy_log();
        ASSERT_EQ(log_count(log, "/blobs/", NULL, NULL), 2U);
        ASSERT_EQ(log_count(log, "/blobs/", "range", "bytes="), 1U);
        ASSERT_EQ(log_count(log, "/blobs/", "range", "bytes=0-"), 0U);
        json_decref(TAKE_PTR(log));

        /* a partial file from an interrupted pull is continued */
        ASSERT_TRUE(asprintf(&partial, "%s/%s", test_tmpdir(), layer + 7) >= 0);
        ASSERT_OK(read_full_file(partial, SIZE_MAX, &data, &n));
        ASSERT_OK(unlinkat(dir, layer + 7, 0));
        ASSERT_OK(strextend(&partial, ".partial"));
        ASSERT_OK(write_file_atomic(partial, data, 1000, 0644));
        proxy_mode("none", 0, NULL);
        ASSERT_OK(registry_fetch_blobs(c, r, d, (uint64_t[]){ size }, dir, NULL, NULL, &err));
        assert_file_digest(dir, layer, NULL);
        log = proxy_log();
        ASSERT_EQ(log_count(log, "/blobs/", NULL, NULL), 1U);
        ASSERT_EQ(log_count(log, "/blobs/", "range", "bytes=1000-"), 1U);
        json_decref(TAKE_PTR(log));

        /* a partial file with wrong content fails the digest check and is dropped */
        ASSERT_OK(unlinkat(dir, layer + 7, 0));
        memset(data, 'x', 1000);
        ASSERT_OK(write_file_atomic(partial, data, 1000, 0644));
        ASSERT_ERROR(registry_fetch_blobs(c, r, d, NULL, dir, NULL, NULL, &err), EBADMSG);
        err = mfree(err);
        ASSERT_TRUE(access(partial, F_OK) < 0);
        ASSERT_OK(registry_fetch_blobs(c, r, d, NULL, dir, NULL, NULL, &err));
        assert_file_digest(dir, layer, NULL);

        /* a size that does not match the manifest's is refused */
        ASSERT_OK(unlinkat(dir, layer + 7, 0));
        ASSERT_ERROR(registry_fetch_blobs(c, r, d, (uint64_t[]){ 100 }, dir, NULL, NULL, &err),
                     EBADMSG);
        ASSERT_TRUE(strstr(err, "is larger than 100 bytes"));
}

TEST(server_errors_retried) {
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_(json_decrefp) json_t *log = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_close_ int dir = -EBADF;

        fixture();
        r = ref(fx.proxy, "test/oci:1");
        {
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, NULL, NULL, 3);

                /* two 500s for the manifest, then two for a blob */
                proxy_mode("error500", 2, NULL);
                ASSERT_OK(registry_resolve(c, r, &img, &err));
                log = proxy_log();
                ASSERT_EQ(log_count(log, "/manifests/1", NULL, NULL), 3U);
                json_decref(TAKE_PTR(log));

                proxy_mode("error500", 2, NULL);
                dir = open_tmp();
                pull_all(c, r, img, dir, true);
        }
        {
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, NULL, NULL, 2);
                _cleanup_free_ char *want = NULL;

                img = registry_image_free(img);
                proxy_mode("error500", 100, NULL);
                ASSERT_ERROR(registry_resolve(c, r, &img, &err), EIO);
                ASSERT_TRUE(asprintf(&want,
                                     "%s/test/oci:1: GET http://%s/v2/test/oci/manifests/1 "
                                     "failed with HTTP 500 after 3 tries",
                                     fx.proxy, fx.proxy) >= 0);
                ASSERT_STREQ(err, want);
        }
        proxy_mode("none", 0, NULL);

        /* nobody listening: network errors are retried, then reported */
        {
                _cleanup_(registry_client_freep) RegistryClient *c = client(NULL, NULL, NULL, 1);
                _cleanup_(image_ref_freep) ImageRef *dead = NULL;
                char addr[64];

                img = registry_image_free(img);
                err = mfree(err);
                snprintf(addr, sizeof addr, "127.0.0.1:%u", free_port());
                dead = ref(addr, "x:1");
                ASSERT_ERROR(registry_resolve(c, dead, &img, &err), EIO);
                ASSERT_TRUE(startswith(err, addr));
                ASSERT_TRUE(strstr(err, "/v2/x/manifests/1 failed: "));
        }
}

TEST(push_and_pull_back) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        _cleanup_(registry_image_freep) RegistryImage *img = NULL, *back = NULL;
        _cleanup_(image_ref_freep) ImageRef *src = NULL, *dst = NULL, *bydigest = NULL,
                                            *mounted = NULL;
        _cleanup_free_ char *err = NULL, *digest = NULL, *s = NULL, *config = NULL;
        _cleanup_close_ int dir = -EBADF, dir2 = -EBADF;

        fixture();
        c = client(NULL, NULL, NULL, 0);
        src = ref(fx.plain, "test/oci:1");
        ASSERT_OK(registry_resolve(c, src, &img, NULL));
        dir = open_tmp();
        pull_all(c, src, img, dir, true);
        ASSERT_TRUE(asprintf(&config, "%s/%s", test_tmpdir(), img->config_desc.digest + 7) >= 0);
        ASSERT_OK(write_file_atomic(config, img->config, img->config_size, 0644));

        /* chunked upload to a new repository */
        dst = ref(fx.plain, "pushed/img:2");
        RegistryPushOptions o = { .chunk_size = 65536 };
        ASSERT_OK(registry_push(c, dst, dir, img->manifest, img->manifest_size, img->media_type, &o,
                                &digest, &err));
        ASSERT_NULL(err);
        ASSERT_STREQ(digest, img->manifest_digest);

        ASSERT_TRUE(asprintf(&s, "pushed/img@%s", digest) >= 0);
        bydigest = ref(fx.plain, s);
        ASSERT_OK(registry_resolve(c, bydigest, &back, NULL));
        ASSERT_STREQ(back->manifest_digest, digest);
        ASSERT_STREQ(back->config_desc.digest, img->config_desc.digest);
        ASSERT_EQ(back->n_layers, img->n_layers);
        ASSERT_TRUE(mkdirat(dir, "back", 0755) >= 0);
        dir2 = openat(dir, "back", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(dir2 >= 0);
        pull_all(c, bydigest, back, dir2, true);
        back = registry_image_free(back);

        /* monolithic, mounting from the first; then again, with everything present */
        mounted = ref(fx.plain, "mounted/img:3");
        RegistryPushOptions m = { .mount_from = "pushed/img" };
        for (int i = 0; i < 2; i++) {
                digest = mfree(digest);
                ASSERT_OK(registry_push(c, mounted, dir, img->manifest, img->manifest_size,
                                        img->media_type, &m, &digest, &err));
                ASSERT_STREQ(digest, img->manifest_digest);
        }
        ASSERT_OK(registry_resolve(c, mounted, &back, NULL));
        ASSERT_STREQ(back->manifest_digest, img->manifest_digest);
        back = registry_image_free(back);

        /* a missing local blob, a wrong media type */
        ASSERT_OK(unlinkat(dir, img->config_desc.digest + 7, 0));
        _cleanup_(image_ref_freep) ImageRef *other = ref(fx.plain, "other/img:1");
        ASSERT_ERROR(registry_push(c, other, dir, img->manifest, img->manifest_size,
                                   img->media_type, NULL, NULL, &err),
                     ENOENT);
        ASSERT_TRUE(strstr(err, img->config_desc.digest));
        err = mfree(err);
        ASSERT_ERROR(registry_push(c, other, dir, img->manifest, img->manifest_size,
                                   "application/x-nope", NULL, NULL, &err),
                     EPROTONOSUPPORT);
}
