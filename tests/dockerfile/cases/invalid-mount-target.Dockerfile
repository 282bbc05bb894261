FROM alpine
RUN --mount=type=cache,id=x true
