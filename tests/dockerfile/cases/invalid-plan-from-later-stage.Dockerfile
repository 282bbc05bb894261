FROM alpine AS first
COPY --from=second /a /a
FROM alpine AS second
