"""Records what an HTTP client sends, to seed the request fuzzer with real requests.

    python3 tests/fuzz/record.py UPSTREAM OUT_DIR

listens on 127.0.0.1 (it prints `recording on http://127.0.0.1:PORT`), forwards each request to
UPSTREAM (e.g. http://127.0.0.1:8080) unchanged, answers with UPSTREAM's answer, and writes the
request as sent -- request line, headers, blank line, body -- to OUT_DIR/NN-METHOD.http. How the
committed corpus was recorded is in tests/fuzz/corpus/README.md.
"""

import http.client
import http.server
import pathlib
import sys
import threading
from urllib.parse import urlparse

UPSTREAM = urlparse(sys.argv[1])
OUT = pathlib.Path(sys.argv[2])
OUT.mkdir(parents=True, exist_ok=True)
COUNT = iter(range(1, 10_000))
LOCK = threading.Lock()


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def relay(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK:
            n = next(COUNT)
        head = f"{self.command} {self.path} HTTP/1.1\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        (OUT / f"{n:02}-{self.command}.http").write_bytes(head.encode() + b"\r\n" + body)
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        upstream.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = relay

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
print(f"recording on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
