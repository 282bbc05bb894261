#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# backend.py: test backends for the proxy: "http PORT NAME" answers JSON describing each request
# (who answered, path, headers, body length and digest), streams chunked replies, sleeps on
# /slow, holds /hold?key=K until /release?key=K arrives, and echoes bytes after a 101 on /ws;
# "tcp PORT" echoes bytes. Prints "ready" when listening.
import hashlib
import json
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    name = "?"
    events = {}
    events_lock = threading.Lock()

    @classmethod
    def event(cls, key):
        with cls.events_lock:
            return cls.events.setdefault(key, threading.Event())

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data, True
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n), False

    def reply(self, obj, status=200):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", self.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def describe(self, body=b"", chunked=False):
        return {
            "name": self.name,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "len": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "chunked": chunked,
        }

    def do_GET(self):
        if "/ws" in self.path and self.headers.get("Upgrade", "").lower() == "websocket":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            sock = self.connection
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                sock.sendall(data)
            self.close_connection = True
            return
        if "/chunked" in self.path:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Backend", self.name)
            self.end_headers()
            for i in range(50):
                piece = ("line %d\n" % i).encode() * 100
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if "/slow" in self.path:
            time.sleep(float(self.path.split("=")[1]) / 1000)
        if "/hold" in self.path:
            # Bounded, so a test that never releases cannot hang the server.
            self.event(self.path.split("key=")[1]).wait(60)
        if "/release" in self.path:
            self.event(self.path.split("key=")[1]).set()
        self.reply(self.describe())

    def do_HEAD(self):
        self.reply(self.describe())

    def do_POST(self):
        body, chunked = self.read_body()
        self.reply(self.describe(body, chunked))

    do_PUT = do_POST


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                break
            self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "http":
        Handler.name = sys.argv[3]
        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    else:
        server = EchoServer(("127.0.0.1", port), EchoHandler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
