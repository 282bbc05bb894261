FROM --platform=$BUILDPLATFORM golang AS build
ARG TARGETARCH
RUN GOARCH=$TARGETARCH go build
FROM --platform=linux/amd64 alpine
COPY --from=build /out /out
