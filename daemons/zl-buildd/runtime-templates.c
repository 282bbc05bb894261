/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-templates.c: the runtime Dockerfiles and which project files select them. */
#include <stdio.h>
#include <sys/stat.h>

#include "path-util.h"
#include "runtime-templates.h"
#include "string-util.h"

/* Every template takes its images from ARGs so a build can point them at local images (tests run
 * offline) or at a mirror. Dependencies are installed from the manifest and lock files before the
 * sources are copied, so editing the code does not invalidate the dependency layer. "file.tx[t]"
 * is a glob that may match nothing, for lock files a project may lack. */

#define NODE_TEMPLATE(version)                                                                     \
        "ARG BASE_IMAGE=docker.io/library/node:" version "-bookworm-slim\n"                        \
        "FROM ${BASE_IMAGE}\n"                                                                     \
        "ENV NODE_ENV=production\n"                                                                \
        "WORKDIR /app\n"                                                                           \
        "COPY package.json package-lock.jso[n] npm-shrinkwrap.jso[n] ./\n"                         \
        "RUN if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then \\\n"                 \
        "        npm ci --omit=dev; \\\n"                                                          \
        "    else \\\n"                                                                            \
        "        npm install --omit=dev; \\\n"                                                     \
        "    fi\n"                                                                                 \
        "COPY --chown=node:node . .\n"                                                             \
        "USER node\n"                                                                              \
        "EXPOSE 3000\n"                                                                            \
        "CMD [\"npm\", \"start\"]\n"

#define PYTHON_TEMPLATE(version)                                                                   \
        "ARG BASE_IMAGE=docker.io/library/python:" version "-slim\n"                               \
        "FROM ${BASE_IMAGE}\n"                                                                     \
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\\n"                 \
        "    PIP_DISABLE_PIP_VERSION_CHECK=1\n"                                                    \
        "WORKDIR /app\n"                                                                           \
        "COPY requirements.tx[t] pyproject.tom[l] ./\n"                                            \
        "RUN if [ -f requirements.txt ]; then pip install -r requirements.txt; fi\n"               \
        "COPY --chown=10001:10001 . .\n"                                                           \
        "RUN if [ ! -f requirements.txt ] && [ -f pyproject.toml ]; then pip install .; fi\n"      \
        "USER 10001:10001\n"                                                                       \
        "EXPOSE 8000\n"                                                                            \
        "CMD [\"python\", \"main.py\"]\n"

static const char template_rust[] =
        "ARG BUILD_IMAGE=docker.io/library/rust:1-bookworm\n"
        "ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim\n"
        "FROM ${BUILD_IMAGE} AS build\n"
        "WORKDIR /src\n"
        /* A dummy main first: the dependencies build in a layer of their own. */
        "COPY Cargo.toml Cargo.loc[k] ./\n"
        "RUN mkdir -p src && echo 'fn main() {}' > src/main.rs && \\\n"
        "    cargo build --release --locked 2>/dev/null || cargo build --release; \\\n"
        "    rm -rf src\n"
        "COPY . .\n"
        "RUN touch src/main.rs && cargo build --release && \\\n"
        "    mkdir -p /out && \\\n"
        "    find target/release -maxdepth 1 -type f -perm -u+x -exec cp {} /out/app \\;\n"
        "FROM ${BASE_IMAGE}\n"
        "COPY --from=build /out/app /usr/local/bin/app\n"
        "USER 10001:10001\n"
        "EXPOSE 8080\n"
        "CMD [\"/usr/local/bin/app\"]\n";

static const char template_go[] =
        "ARG BUILD_IMAGE=docker.io/library/golang:1.22-bookworm\n"
        "ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot\n"
        "FROM ${BUILD_IMAGE} AS build\n"
        "WORKDIR /src\n"
        "COPY go.mod go.su[m] ./\n"
        "RUN go mod download\n"
        "COPY . .\n"
        "RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/app .\n"
        "FROM ${BASE_IMAGE}\n"
        "COPY --from=build /out/app /app\n"
        "USER 65532:65532\n"
        "EXPOSE 8080\n"
        "ENTRYPOINT [\"/app\"]\n";

static const char template_deno[] = "ARG BASE_IMAGE=docker.io/denoland/deno:2.1.4\n"
                                    "FROM ${BASE_IMAGE}\n"
                                    "WORKDIR /app\n"
                                    "COPY deno.jso[n] deno.jso[n]c deno.loc[k] ./\n"
                                    "COPY --chown=deno:deno . .\n"
                                    "RUN deno cache main.ts\n"
                                    "USER deno\n"
                                    "EXPOSE 8000\n"
                                    "CMD [\"deno\", \"run\", \"--allow-net\", \"--allow-env\", "
                                    "\"--allow-read\", \"main.ts\"]\n";

static const char template_bun[] = "ARG BASE_IMAGE=docker.io/oven/bun:1\n"
                                   "FROM ${BASE_IMAGE}\n"
                                   "ENV NODE_ENV=production\n"
                                   "WORKDIR /app\n"
                                   "COPY package.json bun.lockb ./\n"
                                   "RUN bun install --frozen-lockfile --production\n"
                                   "COPY --chown=bun:bun . .\n"
                                   "USER bun\n"
                                   "EXPOSE 3000\n"
                                   "CMD [\"bun\", \"run\", \"start\"]\n";

static const char *const detect_node[] = { "package.json", NULL };
static const char *const detect_python[] = { "pyproject.toml", "requirements.txt", NULL };
static const char *const detect_rust[] = { "Cargo.toml", NULL };
static const char *const detect_go[] = { "go.mod", NULL };
static const char *const detect_deno[] = { "deno.json", "deno.jsonc", NULL };
static const char *const detect_bun[] = { "bun.lockb", NULL };
/* Not auto-detected: chosen by name only (node22 and python313 win detection). */
static const char *const detect_none[] = { NULL };

static const RuntimeTemplate templates[] = {
        { "node20", "Node.js 20 (npm ci from package-lock.json), runs 'npm start' as node",
          detect_none, NODE_TEMPLATE("20") },
        { "node22", "Node.js 22 (npm ci from package-lock.json), runs 'npm start' as node",
          detect_node, NODE_TEMPLATE("22") },
        { "python312", "Python 3.12 (pip from requirements.txt or pyproject.toml), runs main.py",
          detect_none, PYTHON_TEMPLATE("3.12") },
        { "python313", "Python 3.13 (pip from requirements.txt or pyproject.toml), runs main.py",
          detect_python, PYTHON_TEMPLATE("3.13") },
        { "rust", "Rust (cargo build --release, dependencies cached), binary on Debian slim",
          detect_rust, template_rust },
        { "go", "Go (static binary, modules cached), on distroless static as nonroot", detect_go,
          template_go },
        { "deno", "Deno 2 (deno cache main.ts), runs main.ts as deno", detect_deno, template_deno },
        { "bun", "Bun 1 (bun install --frozen-lockfile), runs 'bun run start' as bun", detect_bun,
          template_bun },
};

const RuntimeTemplate *runtime_templates(size_t *ret_n) {
        if (ret_n)
                *ret_n = ELEMENTSOF(templates);
        return templates;
}

const RuntimeTemplate *runtime_template_get(const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(templates); i++)
                if (streq(templates[i].name, name))
                        return &templates[i];
        return NULL;
}

static int has_file(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_join_real(dir, name, NULL);
        struct stat st;

        if (!p)
                return -ENOMEM;
        if (stat(p, &st) < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        return S_ISREG(st.st_mode);
}

int runtime_template_detect(const char *context_dir, const RuntimeTemplate **ret,
                            char **ret_message) {
        /* Precedence: a bun lock file makes a package.json project a bun one; deno before node
         * for projects that carry both a deno.json and a package.json. */
        static const struct {
                const char *files[3]; /* all of them must exist */
                const char *name;
        } rules[] = {
                { { "package.json", "bun.lockb" }, "bun" },
                { { "deno.json" }, "deno" },
                { { "deno.jsonc" }, "deno" },
                { { "package.json" }, "node22" },
                { { "Cargo.toml" }, "rust" },
                { { "go.mod" }, "go" },
                { { "pyproject.toml" }, "python313" },
                { { "requirements.txt" }, "python313" },
        };
        struct stat st;
        int r;

        assert(context_dir);
        assert(ret);

        if (stat(context_dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;

        for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
                bool all = true;

                for (size_t k = 0; k < ELEMENTSOF(rules[i].files) && rules[i].files[k]; k++) {
                        r = has_file(context_dir, rules[i].files[k]);
                        if (r < 0)
                                return r;
                        if (r == 0) {
                                all = false;
                                break;
                        }
                }
                if (all) {
                        *ret = runtime_template_get(rules[i].name);
                        return 0;
                }
        }

        if (ret_message) {
                char *m = NULL;

                if (asprintf(&m,
                             "no runtime fits '%s': looked for package.json (with bun.lockb: "
                             "bun), deno.json, deno.jsonc, Cargo.toml, go.mod, pyproject.toml, "
                             "requirements.txt",
                             context_dir) < 0)
                        return -ENOMEM;
                *ret_message = m;
        }
        return -ENOENT;
}
