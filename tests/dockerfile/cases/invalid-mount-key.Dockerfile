FROM alpine
RUN --mount=type=tmpfs,target=/t,from=x true
