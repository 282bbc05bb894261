FROM alpine
CMD [not json]
RUN ['single', 'quotes']
