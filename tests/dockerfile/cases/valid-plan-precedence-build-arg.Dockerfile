FROM alpine
ENV V=from-env
ARG V=from-default
RUN echo $V
ENV W=$V
