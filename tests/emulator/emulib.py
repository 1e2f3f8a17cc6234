"""Helpers for tests that talk to `eefetch serve` over loopback HTTP.

    with emulib.Emulator("--seed", "7") as emu:
        status, headers, body = emu.get("/v1/projects/p/algorithms")

Standard library and numpy only. The server is started on port 0 and the
port is read from its "listening on" line, so tests never share a port.
"""

import http.client
import io
import json
import os
import re
import select as _select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

_LISTEN_RE = re.compile(r"listening on (http://[0-9.:\[\]a-fA-F]+:(\d+))")


def binary():
    """Path of the eefetch binary under test (EEFETCH_BIN)."""
    path = os.environ.get("EEFETCH_BIN")
    if not path:
        build = os.environ.get("EEFETCH_BUILD", "build")
        path = os.path.join(build, "eefetch")
    return path


class EmulatorError(Exception):
    pass


class Emulator:
    """Runs `eefetch serve --port 0 EXTRA...` for the duration of a with-block."""

    def __init__(self, *extra_args, start_timeout=20.0, expect_status=0):
        self.args = [binary(), "serve", "--port", "0"] + [str(a) for a in extra_args]
        # Unless --no-auth, the server requires a token (its default): have it
        # write credentials it trusts, then mint a token through its token
        # endpoint; every request carries it.
        self.cred_dir = None
        self._own_cred_dir = False
        if "--no-auth" not in self.args:
            if "--write-credentials" in self.args:
                self.cred_dir = self.args[self.args.index("--write-credentials") + 1]
            else:
                self.cred_dir = tempfile.mkdtemp(prefix="eefetch-emu-creds-")
                self._own_cred_dir = True
                self.args += ["--write-credentials", self.cred_dir]
        self.start_timeout = start_timeout
        self.expect_status = expect_status
        self.proc = None
        self.url = None
        self.host = "127.0.0.1"
        self.port = None
        self.token = None  # filled once the server requires authentication
        self.stdout_lines = []
        self._conn = None

    # -- lifecycle -------------------------------------------------------
    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=None,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = _select.select([fd], [], [], 0.2)
            if not ready:
                if self.proc.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                self.stdout_lines.append(text)
                m = _LISTEN_RE.search(text)
                if m:
                    self.url = m.group(1)
                    self.port = int(m.group(2))
                    # "http://[::1]:PORT" -> "::1" (a --bind ::1 server)
                    self.host = self.url[len("http://"):].rsplit(":", 1)[0].strip("[]")
                    self._leftover = buf
                    if self.cred_dir:
                        self.token = self.mint_token()
                    return self
        self._kill()
        raise EmulatorError("emulator did not start: %r (status %r)"
                            % (self.stdout_lines, self.proc.returncode))

    def mint_token(self):
        """A fresh access token from the server's token endpoint (refresh-token
        grant with the authorized_user file it wrote)."""
        with open(os.path.join(self.cred_dir, "authorized_user.json")) as f:
            cred = json.load(f)
        form = urllib.parse.urlencode({
            "grant_type": "refresh_token", "refresh_token": cred["refresh_token"],
            "client_id": cred["client_id"], "client_secret": cred["client_secret"]})
        c = self.connection()
        try:
            c.request("POST", "/token", body=form,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
            resp = c.getresponse()
            data = resp.read()
        finally:
            c.close()
        if resp.status != 200:
            raise EmulatorError("token endpoint answered %d: %r" % (resp.status, data))
        return json.loads(data)["access_token"]

    def stop(self):
        """SIGTERM, wait, and check that the server exited cleanly."""
        if self._own_cred_dir and self.cred_dir:
            shutil.rmtree(self.cred_dir, ignore_errors=True)
            self._own_cred_dir = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._kill()
                raise EmulatorError("emulator did not stop within 20 s of SIGTERM")
        rest = self.proc.stdout.read()
        if rest:
            self.stdout_lines.extend(rest.decode("utf-8", "replace").splitlines())
        self.proc.stdout.close()
        status = self.proc.returncode
        if status < 0:
            raise EmulatorError("emulator died from signal %d" % -status)
        if self.expect_status is not None and status != self.expect_status:
            raise EmulatorError("emulator exited with status %d" % status)
        return status

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._own_cred_dir and self.cred_dir:
            shutil.rmtree(self.cred_dir, ignore_errors=True)
            self._own_cred_dir = False

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            # Keep the original failure; still stop the server.
            try:
                self.stop()
            except EmulatorError as e:
                print("emulib: %s" % e, file=sys.stderr)
            return False
        self.stop()
        return False

    # -- HTTP ----------------------------------------------------------------
    def connection(self, timeout=60):
        """A new http.client connection to the server (caller closes it)."""
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _headers(self, headers):
        h = {}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if headers:
            h.update(headers)
        return h

    def request(self, method, path, body=None, headers=None, conn=None):
        """One request; returns (status, headers dict with lower-case keys, body bytes).
        Uses a fresh connection unless one is given (keep-alive tests pass one)."""
        own = conn is None
        c = conn or self.connection()
        try:
            c.request(method, path, body=body, headers=self._headers(headers))
            resp = c.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, hdrs, data
        finally:
            if own:
                c.close()

    def get(self, path, headers=None, conn=None):
        return self.request("GET", path, None, headers, conn)

    def post(self, path, obj_or_bytes, headers=None, conn=None):
        if isinstance(obj_or_bytes, (bytes, bytearray)):
            body = bytes(obj_or_bytes)
        elif isinstance(obj_or_bytes, str):
            body = obj_or_bytes.encode("utf-8")
        else:
            body = json.dumps(obj_or_bytes).encode("utf-8")
        h = {"Content-Type": "application/json"}
        if headers:
            h.update(headers)
        return self.request("POST", path, body, h, conn)


def decode_npy(data):
    """Decodes an NPY body (EE's structured array) into a numpy array."""
    import numpy
    return numpy.load(io.BytesIO(data), allow_pickle=False)


def error_of(body):
    """The {"code","message","status"} dict of an EE error body."""
    return json.loads(body)["error"]


class Checks:
    """Collects failed checks so a test reports all of them, then exits 1.

        c = emulib.Checks()
        c.check(status == 200, "status %d" % status)
        sys.exit(c.finish())
    """

    def __init__(self):
        self.failures = []

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL:", what, flush=True)
        return cond

    def ee_error(self, body, code, status=None):
        """Checks that body is EE's error JSON with this code (and status);
        returns its message ("" when it is not an error body)."""
        try:
            err = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            self.check(False, "not an EE error body: %r" % body[:200])
            return ""
        self.check(err.get("code") == code, "error code %r != %r" % (err.get("code"), code))
        if status is not None:
            self.check(err.get("status") == status,
                       "error status %r != %s" % (err.get("status"), status))
        self.check(isinstance(err.get("message"), str) and err["message"], "error message missing")
        return err.get("message", "")

    def finish(self):
        if self.failures:
            print("%d check(s) failed" % len(self.failures))
            return 1
        print("ok")
        return 0


# ------------------------------------------------------------- graph builder
# Expression-graph nodes as EE's clients serialize them, for tests that
# build requests by hand.

def c(v):
    return {"constantValue": v}


def call(name, **args):
    return {"functionInvocationValue": {"functionName": name, "arguments": args}}


def ref_(name):
    return {"valueReference": name}


def expr(node, **values):
    vals = {"0": node}
    vals.update(values)
    return {"result": "0", "values": vals}


VALUE_PATH = "/v1/projects/test-project/value:compute"


def compute_value(emu, node, **named):
    """The result of value:compute of node (named: more values of the graph);
    AssertionError with the answer when it is not 200."""
    status, _, body = emu.post(VALUE_PATH, {"expression": expr(node, **named)})
    if status != 200:
        raise AssertionError("value:compute %d: %s" % (status, body[:400]))
    return json.loads(body)["result"]


def compute_error(emu, node, **named):
    """EE's error message for value:compute of node, or None when it succeeds."""
    status, _, body = emu.post(VALUE_PATH, {"expression": expr(node, **named)})
    return error_of(body)["message"] if status != 200 else None


def load(asset_id):
    return call("Image.load", id=c(asset_id))


def select(img, bands):
    return call("Image.select", input=img, bandSelectors=c(bands))


def grid(crs, affine, w, h):
    keys = ["scaleX", "shearX", "translateX", "shearY", "scaleY", "translateY"]
    return {"crsCode": crs, "affineTransform": dict(zip(keys, affine)),
            "dimensions": {"width": w, "height": h}}


# ------------------------------------------------------------- test runner

def run_each(tests, fails, *args):
    """Calls each test(*args); an exception is recorded in fails as that
    test's failure and the next test still runs."""
    for t in tests:
        try:
            t(*args)
        except Exception as exc:  # keep going: report every failing test
            fails.append("%s: %r" % (t.__name__, exc))
            print("FAIL: %s: %r" % (t.__name__, exc), file=sys.stderr)


def report(fails):
    """Prints the outcome; the exit status for main()."""
    if fails:
        print("%d failure(s)" % len(fails))
        return 1
    print("ok")
    return 0
