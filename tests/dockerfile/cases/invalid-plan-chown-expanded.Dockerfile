FROM alpine
ARG OWNER="a b"
COPY --chown=$OWNER x /y
