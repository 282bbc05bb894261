FROM alpine
RUN ["ls", "-l", "/"]
ENTRYPOINT ["/bin/app"]
CMD []
