FROM nginx
healthcheck none
HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]
