FROM alpine
COPY --chmod=999 a /b
