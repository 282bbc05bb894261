# escape=`
FROM alpine
ENV P=C:\dir A=`$P B=$P
