FROM alpine
ONBUILD COPY . /app/src
ONBUILD RUN --network=none make
