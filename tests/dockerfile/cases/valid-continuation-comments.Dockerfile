FROM alpine
   RUN apk add \
  # a comment line inside

      curl \
      git
USER nobody
