FROM alpine
RUN --mount=type=cache,target=/var/cache/apk,sharing=locked,id=apk \
    --mount=type=secret,id=token \
    --mount=type=ssh \
    --mount=type=bind,from=deps,source=/out,target=/in,ro \
    --mount=type=tmpfs,dst=/tmp,size=64Mi \
    --network=host --security=sandbox apk add git
