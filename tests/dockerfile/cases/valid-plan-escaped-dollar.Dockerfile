FROM alpine
ENV HOME=/root
ENV A=\$HOME B='$HOME' C="\$HOME" D="$HOME" E='a"b' F="it's"
