FROM alpine
ARG UID=1000
ARG MODE=0755
COPY --chown=${UID}:app --chmod=$MODE --link ["src dir/", "/app/"]
ADD --chown=root file.tar /opt/
