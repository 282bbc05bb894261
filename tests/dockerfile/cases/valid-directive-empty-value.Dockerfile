# escape=
# syntax=late
FROM alpine
COPY "a b" /x/
