FROM alpine
ENV A=${B
