"""A loopback proxy in front of the emulator for tests that damage or hold
answers (test_server_bounds, engine/test_wide_answers).

Proxy(upstream, mode, window_of, note=None) forwards every request to the
emulator `upstream` (emulib.Emulator); for each answered computePixels
request it counts n (pixel requests so far) and k (answers so far for its
window, `window_of(grid)`), calls note(data) if given, then
`mode(handler, n, window, k, headers, body)`: True when mode answered
itself, False to send the upstream answer as it is."""
import http.client
import json
import os
import socketserver
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler


class Proxy(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream, mode, window_of, note=None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.upstream = upstream
        self.mode = mode
        self.window_of = window_of
        self.note = note
        self.lock = threading.Lock()
        self.npixels = 0
        self.seen = {}           # window -> answers so far
        self.url = "http://127.0.0.1:%d" % self.server_address[1]

    def handle_error(self, request, client_address):
        pass    # eefetch hanging up on a broken answer is expected


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self, method, body):
        u = self.server.upstream
        c = http.client.HTTPConnection(u.host, u.port, timeout=120)
        c.request(method, self.path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        hdrs = {k: v for k, v in r.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")}
        c.close()
        return r.status, hdrs, data

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(*self.forward("GET", None))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status, headers, data = self.forward("POST", body)
        if self.path.endswith("image:computePixels") and status == 200:
            win = self.server.window_of(json.loads(body)["grid"])
            with self.server.lock:
                n = self.server.npixels
                self.server.npixels += 1
                k = self.server.seen.get(win, 0)
                self.server.seen[win] = k + 1
                if self.server.note:
                    self.server.note(data)
            try:
                if self.server.mode(self, n, win, k, headers, data):
                    return
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
        self.answer(status, headers, data)


def run_through(proxy, cmd, workdir, timeout, env_extra=None):
    """Serves `proxy` while `cmd` (an `eefetch run` aimed at proxy.url) runs
    with a fixed token and its own cache folder `workdir`, then shuts the
    proxy down: (exit status, or None when killed at `timeout` seconds;
    stdout and stderr; seconds; peak RSS in KiB, from wait4)."""
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    env = dict(os.environ, EEFETCH_TOKEN_URI="", EE_ACCESS_TOKEN="unused", XDG_CACHE_HOME=workdir,
               **(env_extra or {}))
    status, rss, secs = None, 0, 0.0
    try:
        with open(os.path.join(workdir, "output.txt"), "w+b") as log:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            while time.monotonic() - t0 < timeout:
                pid, st, ru = os.wait4(p.pid, os.WNOHANG)
                if pid == p.pid:
                    status, rss = os.waitstatus_to_exitcode(st), ru.ru_maxrss
                    p.returncode = status
                    break
                time.sleep(0.02)
            secs = time.monotonic() - t0
            if status is None:
                p.kill()
                p.wait()
            log.seek(0)
            text = log.read().decode("utf-8", "replace")
    finally:
        proxy.shutdown()
        proxy.server_close()
    return status, text, secs, rss
