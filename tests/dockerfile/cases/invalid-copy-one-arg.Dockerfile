FROM alpine

COPY onlysource
