ARG A=1
RUN echo
FROM alpine
