FROM alpine
ARG NAME=world
COPY <<EOF /greeting
hello ${NAME} "$NAME" \$NAME
EOF
