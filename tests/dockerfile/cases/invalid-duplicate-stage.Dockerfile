FROM alpine AS a
FROM alpine AS A
