FROM python:3
RUN python3 <<EOF
print("hi")
EOF
