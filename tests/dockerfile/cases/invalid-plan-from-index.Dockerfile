FROM alpine
COPY --from=1 /a /a
FROM alpine
