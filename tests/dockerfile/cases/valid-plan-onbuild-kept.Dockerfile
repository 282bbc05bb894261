FROM alpine
ARG X=1
ONBUILD RUN echo $X
