FROM alpine
RUN touch /x
FROM alpine
COPY --from=0 /x /x
COPY --from=nginx:latest /etc/nginx/nginx.conf /n
