FROM alpine AS base
ENV APP=/srv/app PATH=/usr/bin
FROM base AS child
WORKDIR $APP
ENV PATH=$APP/bin:$PATH
FROM child
USER ${APP:+app}
