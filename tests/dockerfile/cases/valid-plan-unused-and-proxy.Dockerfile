FROM alpine
ARG USED
RUN env
