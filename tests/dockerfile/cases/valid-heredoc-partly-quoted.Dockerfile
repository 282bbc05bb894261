FROM alpine
ONBUILD RUN <<E"N"D
echo $X
END
RUN <<-'X' sh
	echo
	X
