FROM alpine AS broken
ENV A=${B
FROM alpine
ENV C=${D:-ok}
