#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# registry-helper.py: seeds a docker-registry with small test images, and a loopback proxy in
# front of one that injects faults (corrupt/truncated blobs, 500s, unknown media types) and
# demands Bearer tokens from its own token endpoint, for test-registry.
import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import socketserver
import sys
import tarfile
import threading
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
D2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
D2_CONFIG = "application/vnd.docker.container.image.v1+json"
D2_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in sorted(files.items()):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), raw.getvalue()


def noise(seed, n):
    out, h = bytearray(), seed.encode()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h
    return bytes(out[:n])


class Registry:
    def __init__(self, addr, creds):
        self.addr = addr
        self.headers = {}
        if creds:
            self.headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.addr)
        h = dict(self.headers)
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def blob(self, repo, data):
        d = sha(data)
        r, _ = self.req("POST", "/v2/%s/blobs/uploads/" % repo)
        assert r.status == 202, r.status
        loc = urllib.parse.urlsplit(r.getheader("Location"))
        path = loc.path + "?" + loc.query + "&digest=" + urllib.parse.quote(d)
        r, _ = self.req("PUT", path, data, {"Content-Type": "application/octet-stream"})
        assert r.status == 201, (r.status, path)
        return {"digest": d, "size": len(data)}

    def manifest(self, repo, ref, mtype, obj):
        data = json.dumps(obj, indent=3).encode()
        r, body = self.req("PUT", "/v2/%s/manifests/%s" % (repo, ref), data, {"Content-Type": mtype})
        assert r.status == 201, (r.status, body)
        return {"digest": sha(data), "size": len(data), "mediaType": mtype}

    def image(self, repo, tag, docker, arch, variant, seed, big):
        layers, diffs, out = [], [], {"layers": []}
        for i, files in enumerate([{"etc/hello": ("hello %s\n" % seed).encode()},
                                   {"data/blob": noise(seed, big)}]):
            gz, raw = layer(files)
            desc = self.blob(repo, gz)
            desc["mediaType"] = D2_LAYER if docker else OCI_LAYER
            layers.append(desc)
            diffs.append(sha(raw))
            out["layers"].append(desc["digest"])
        plat = {"architecture": arch, "os": "linux"}
        if variant:
            plat["variant"] = variant
        config = dict(plat, config={"Cmd": ["/bin/sh"], "Env": ["SEED=" + seed]},
                      rootfs={"type": "layers", "diff_ids": diffs})
        cdata = json.dumps(config).encode()
        cdesc = self.blob(repo, cdata)
        cdesc["mediaType"] = D2_CONFIG if docker else OCI_CONFIG
        mtype = D2_MANIFEST if docker else OCI_MANIFEST
        m = {"schemaVersion": 2, "mediaType": mtype, "config": cdesc, "layers": layers}
        desc = self.manifest(repo, tag or sha(json.dumps(m, indent=3).encode()), mtype, m)
        out.update(manifest=desc["digest"], config=cdesc["digest"], platform=plat, desc=desc)
        return out


def seed(addr, creds):
    r = Registry(addr, creds)
    out = {"oci": r.image("test/oci", "1", False, "amd64", None, "oci", 300000),
           "docker": r.image("test/docker", "1", True, "amd64", None, "docker", 2000)}
    subs, manifests = [], []
    for arch, variant in (("arm64", "v8"), ("amd64", None), ("s390x", None)):
        img = r.image("test/multi", None, False, arch, variant, "multi-" + arch, 1000)
        subs.append(img)
        manifests.append(dict(img["desc"], platform=img["platform"]))
    idx = r.manifest("test/multi", "1", OCI_INDEX,
                     {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    out["multi"] = {"index": idx["digest"], "images": subs}
    json.dump(out, sys.stdout)


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = {"mode": "none", "count": 0, "auth": None, "log": [], "tokens": set(), "n": 0}
    lock = threading.Lock()
    upstream = None

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def fault(self, mode):
        with self.lock:
            if self.state["mode"] == mode and self.state["count"] > 0:
                self.state["count"] -= 1
                return True
        return False

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        st = self.state
        if u.path == "/_ctl":
            with self.lock:
                if "mode" in q:
                    st["mode"], st["count"] = q["mode"][0], int(q.get("count", ["1"])[0])
                if "auth" in q:
                    st["auth"] = q["auth"][0] or None
                if "clear" in q:
                    st["log"] = []
            return self.reply(200, b"ok")
        if u.path == "/_log":
            with self.lock:
                return self.reply(200, json.dumps(st["log"]).encode())
        with self.lock:
            st["log"].append({"method": self.command, "path": u.path,
                              "query": u.query, "range": self.headers.get("Range"),
                              "authorization": self.headers.get("Authorization")})
        if u.path == "/token":
            want = "Basic " + base64.b64encode((st["auth"] or "").encode()).decode()
            if self.headers.get("Authorization") != want:
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            with self.lock:
                st["n"] += 1
                tok = "tok-%d" % st["n"]
                st["tokens"].add(tok)
            return self.reply(200, json.dumps({"token": tok, "expires_in": 300}).encode(),
                              [("Content-Type", "application/json")])
        if st["auth"]:
            a = self.headers.get("Authorization") or ""
            if not (a.startswith("Bearer ") and a[7:] in st["tokens"]):
                parts = u.path.split("/")
                name = "/".join(parts[2:-2]) if len(parts) > 4 else ""
                chal = 'Bearer realm="http://%s/token",service="zl test",scope="repository:%s:pull"' % (
                    self.headers.get("Host"), name)
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                  [("WWW-Authenticate", chal)])
        if u.path.startswith("/v2/") and u.path != "/v2/" and self.fault("error500"):
            return self.reply(500, b"boom")
        c = http.client.HTTPConnection(self.upstream)
        h = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "host")}
        c.request(self.command, self.path, headers=h)
        r = c.getresponse()
        body = r.read()
        c.close()
        hdrs = [(k, v) for k, v in r.getheaders()
                if k.lower() not in ("content-length", "connection", "transfer-encoding")]
        is_blob = "/blobs/" in u.path and r.status in (200, 206) and self.command == "GET"
        if is_blob and len(body) > 100 and self.fault("corrupt"):
            body = body[:50] + bytes([body[50] ^ 0xff]) + body[51:]
        if "/manifests/" in u.path and r.status == 200 and self.fault("corrupt-manifest"):
            body = body + b" "
        if "/manifests/" in u.path and self.fault("mediatype"):
            hdrs = [(k, v) for k, v in hdrs if k.lower() != "content-type"]
            hdrs.append(("Content-Type", "application/vnd.example.unknown+json"))
        if is_blob and len(body) > 100 and self.fault("truncate"):
            self.send_response(r.status)
            for k, v in hdrs:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.reply(r.status, body, hdrs)

    do_HEAD = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def proxy(upstream):
    Proxy.upstream = upstream
    srv = Server(("127.0.0.1", 0), Proxy)
    # one write, so the reader gets the whole line, then let the reader go
    os.write(1, b"%d\n" % srv.server_address[1])
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    srv.serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif sys.argv[1] == "proxy":
        proxy(sys.argv[2])
    else:
        sys.exit("usage: registry-helper.py seed ADDR [USER:PASS] | proxy UPSTREAM")
