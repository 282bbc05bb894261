# syntax=docker/dockerfile:1.7
#ESCAPE = \

FROM alpine
