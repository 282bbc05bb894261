FROM alpine
VOLUME ["/data", "/logs"]
VOLUME /a /b
EXPOSE 80 443/tcp 53/udp 8000-8010
