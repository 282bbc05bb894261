FROM alpine
RUN <<EOF
set -e
echo "$HOME"
EOF
USER app
