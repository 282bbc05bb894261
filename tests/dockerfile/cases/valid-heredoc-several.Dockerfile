FROM alpine
RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2
I am
first
FILE1
I am
second
FILE2
COPY <<a.txt <<b.txt /dest/
A
a.txt
B
b.txt
