#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# client.py: raw-socket clients for what curl cannot do: pipelining, malformed requests,
# WebSocket echo, TCP echo, a slow-loris, and the two sides of a graceful close (a request held
# by the backend, an idle keep-alive connection). Prints result lines; exits 1 on a failed check.
import json
import socket
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def read_until_close(s, limit=10):
    data = b""
    s.settimeout(limit)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return data, True
            data += d
    except socket.timeout:
        return data, False
    except ConnectionResetError:
        return data, "reset"


def read_response(s, buf):
    """One response with Content-Length from buf+socket; returns (status, headers, body, rest)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed in head")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed in body")
        rest += d
    return status, headers, rest[:n], rest[n:]


def pipeline(port):
    s = connect(port)
    reqs = b"".join(b"GET /p%d HTTP/1.1\r\nHost: pipe.test\r\n\r\n" % i for i in range(1, 6))
    s.sendall(reqs)
    buf = b""
    paths = []
    for _ in range(5):
        status, headers, body, buf = read_response(s, buf)
        assert status == 200, status
        paths.append(json.loads(body)["path"])
    print(" ".join(paths))
    return paths == ["/p1", "/p2", "/p3", "/p4", "/p5"]


def raw(port, text):
    """Sends a request with escapes, prints the status line and whether the proxy closed."""
    s = connect(port)
    s.sendall(text.encode().decode("unicode_escape").encode("latin-1"))
    data, closed = read_until_close(s)
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    print("%s closed=%s" % (status, closed))
    return True


def halfclose(port):
    """A whole request, then our side shut while the backend is still working on it: the answer
    must still come, then the proxy closes."""
    s = connect(port)
    s.sendall(b"GET /slow?ms=300 HTTP/1.1\r\nHost: h\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    data, closed = read_until_close(s)
    head, _, body = data.partition(b"\r\n\r\n")
    ok = head.startswith(b"HTTP/1.1 200") and closed and json.loads(body)["path"] == "/slow?ms=300"
    print("%r closed=%s" % (head.split(b"\r\n", 1)[0], closed))
    return ok


def ws(port):
    s = connect(port)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        print("no 101: %r" % head)
        return False
    want = b"early"
    for i in range(20):
        msg = b"frame %d " % i * (i * 50 + 1)
        s.sendall(msg)
        want += msg
    while len(rest) < len(want):
        d = s.recv(65536)
        if not d:
            break
        rest += d
    print("101 echoed=%d" % len(rest))
    return rest == want


def tcp(port):
    s = connect(port)
    want = bytes(range(256)) * 4096  # 1 MiB
    import threading

    t = threading.Thread(target=lambda: (s.sendall(want), s.shutdown(socket.SHUT_WR)))
    t.start()
    got, closed = read_until_close(s)
    t.join()
    print("echoed=%d closed=%s" % (len(got), closed))
    return got == want and closed is True


def slowloris(port):
    s = connect(port)
    start = time.monotonic()
    head = b"GET / HTTP/1.1\r\nHost: slow.test\r\nX-Slow: "
    try:
        for b in head + b"a" * 1000:
            s.send(bytes([b]))
            time.sleep(0.2)
            if time.monotonic() - start > 8:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, closed = read_until_close(s, 3)
    print("cut after %.1fs: %r" % (time.monotonic() - start, data.split(b"\r\n", 1)[0]))
    return time.monotonic() - start < 6


def held(port, key):
    """A request the backend holds until /release?key=KEY: prints "sent", then the answer's
    status, its Connection header and whether the proxy closed after it."""
    s = connect(port)
    s.sendall(b"GET /hold?key=%s HTTP/1.1\r\nHost: drain.test\r\n\r\n" % key.encode())
    print("sent", flush=True)
    data, closed = read_until_close(s, 30)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    connection = [l.split(":", 1)[1].strip() for l in lines[1:]
                  if l.lower().startswith("connection:")]
    print("%s connection=%s closed=%s" % (lines[0], ",".join(connection), closed), flush=True)
    return (lines[0].startswith("HTTP/1.1 200") and connection == ["close"] and closed is True
            and json.loads(body)["path"] == "/hold?key=" + key)


def idle(port):
    """One request on a keep-alive connection, then waiting: prints "idle" with the answer,
    then whether and when the proxy closed the connection."""
    s = connect(port)
    s.sendall(b"GET /idle HTTP/1.1\r\nHost: drain.test\r\n\r\n")
    status, headers, _, rest = read_response(s, b"")
    print("idle %d %s" % (status, headers.get("connection")), flush=True)
    start = time.monotonic()
    data, closed = read_until_close(s, 30)
    print("closed=%s after %.1f s" % (closed, time.monotonic() - start), flush=True)
    return status == 200 and closed is True and rest + data == b""


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    fn = {"pipeline": pipeline, "raw": raw, "halfclose": halfclose, "ws": ws, "tcp": tcp,
          "slowloris": slowloris, "held": held, "idle": idle}[cmd]
    ok = fn(port, *sys.argv[3:])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
