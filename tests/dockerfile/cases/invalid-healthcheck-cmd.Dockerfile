FROM alpine
HEALTHCHECK curl localhost
