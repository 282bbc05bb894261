FROM alpine
ARG SET=value
ARG EMPTY=
ARG UNSET
ENV A=${SET:-d} B=${EMPTY:-d} C=${UNSET:-d} D=${EMPTY-d} E=${UNSET-d}
ENV F=${SET:+alt} G=${EMPTY:+alt} H=${EMPTY+alt} I=${UNSET+alt} J=$SET-$UNSET. K=${UNSET:-${SET:-x}y}
