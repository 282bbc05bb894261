FROM alpine AS a b
