FROM alpine
MAINTAINER Jane <jane@example.com>
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ADD --checksum=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa --link https://example.com/x.tar.gz /x/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.10.1 /buildkit
USER 1000:1000
STOPSIGNAL SIGQUIT
WORKDIR /srv/my app
