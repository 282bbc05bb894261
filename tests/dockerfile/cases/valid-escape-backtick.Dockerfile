# escape=`
FROM mcr.microsoft.com/windows/servercore
WORKDIR C:\Users\app
RUN dir `
    C:\
