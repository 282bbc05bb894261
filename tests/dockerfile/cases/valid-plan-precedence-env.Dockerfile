FROM alpine
ARG V=from-default
RUN echo $V
ENV V=from-env
RUN echo $V
WORKDIR /$V
