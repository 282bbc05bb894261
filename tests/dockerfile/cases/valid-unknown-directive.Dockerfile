# foo=bar
# syntax=ignored/after-unknown
FROM alpine
