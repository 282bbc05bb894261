#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# udp-peer.py: the udp ends of test-proxy-udp.sh.
#   backend PORT NAME          answers each datagram with "NAME:<datagram>"; "ready" once bound
#   ask LOCALPORT PORT TEXT    sends TEXT from 127.0.0.1:LOCALPORT (the same client each time
#                              the port is the same) to PORT, prints the answer; resends every
#                              0.3 s up to 10 times, as udp clients do ("timeout" if none)
#   burst LOCALPORT PORT N     N datagrams of growing size, each answered in order; prints "ok"
import socket
import sys


def backend(port, name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(name.encode() + b":" + data, peer)


def client(localport, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", localport))
    s.connect(("127.0.0.1", port))
    return s


def ask(localport, port, text):
    s = client(localport, port)
    s.settimeout(0.3)
    for _ in range(10):
        s.send(text.encode())
        try:
            print(s.recv(65536).decode())
            return 0
        except (socket.timeout, ConnectionRefusedError):
            continue
    print("timeout")
    return 1


def burst(localport, port, n):
    s = client(localport, port)
    s.settimeout(2)
    for i in range(n):
        data = bytes([65 + i % 26]) * (1 + i * 997 % 60000)
        s.send(data)
        answer = s.recv(65536)
        if not answer.endswith(b":" + data):
            print("datagram %d: %d bytes came back as %d" % (i, len(data), len(answer)))
            return 1
    print("ok")
    return 0


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "backend":
        backend(int(sys.argv[2]), sys.argv[3])
    elif mode == "ask":
        sys.exit(ask(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
    elif mode == "burst":
        sys.exit(burst(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    sys.exit(2)
