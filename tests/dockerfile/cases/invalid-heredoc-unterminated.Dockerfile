FROM alpine
RUN echo
RUN <<EOF
echo never ends
