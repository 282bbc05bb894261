FROM alpine
ENV LEGACY this is one value
ENV A=1 B="two words" C=three\ words
LABEL "com.example.vendor"="ACME" version=1.0 description='It'\''s'
