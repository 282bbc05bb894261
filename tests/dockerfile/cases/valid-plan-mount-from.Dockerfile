FROM alpine AS deps
RUN echo
FROM alpine AS unused
FROM alpine
ARG SRC=/out
RUN --mount=type=bind,from=deps,source=$SRC,target=/in cat /in
