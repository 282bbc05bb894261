FROM nginx
HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --start-interval=500ms --retries=3 \
  CMD curl -f http://localhost/ || exit 1
