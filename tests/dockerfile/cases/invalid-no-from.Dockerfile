# only an arg
ARG A=1
