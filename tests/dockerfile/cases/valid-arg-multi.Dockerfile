ARG A B=2
FROM alpine
ARG C="x y" D
