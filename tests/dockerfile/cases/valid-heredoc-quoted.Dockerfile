FROM alpine
RUN <<'EOF'
echo $HOME
EOF
COPY <<"CONF" /etc/app.conf
key=$value
CONF
