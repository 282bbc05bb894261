FROM alpine
COPY --chmod=u+x,g=rx run.sh /usr/local/bin/
