FROM golang:1.22 AS deps
RUN go mod download
FROM deps AS build
RUN go build
FROM alpine AS test
RUN true
FROM scratch
COPY --from=build /app /app
