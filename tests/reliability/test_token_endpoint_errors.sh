#!/usr/bin/env bash
# What a token endpoint's answer means (src/core/auth.c, token_refusal),
# checked with `eefetch auth` against the emulator's /token and a loopback
# endpoint that answers 503:
#   - token_uri pointing at a path that 404s: "answered HTTP 404" and
#     "check token_uri", never "expired or revoked";
#   - an unknown refresh token (invalid_grant): "expired or was revoked";
#   - a token endpoint answering 503: "unavailable for now", not refused
#     credentials, and not "expired or revoked";
#   - the emulator's own credentials still work (exit 0).
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init auth-tokep

serve_start serve --require-auth --projects emu-proj --write-credentials "$T/c"
for _ in $(seq 100); do [ -s "$T/c/authorized_user.json" ] && break; sleep 0.05; done

# A loopback endpoint that answers every request with 503 and a JSON body.
cat > "$T/busy.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0)); self.rfile.read(n)
        body = b'{"error": "temporarily_unavailable", "error_description": "backend busy"}'
        self.send_response(503); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
/usr/bin/python3 "$T/busy.py" > "$T/busy.port" &
BUSY=$!
for _ in $(seq 100); do [ -s "$T/busy.port" ] && break; sleep 0.05; done
BUSY_PORT=$(cat "$T/busy.port")

# A copy of the authorized_user file with one key changed.
variant() {   # NAME KEY VALUE
    /usr/bin/python3 - "$T/c/authorized_user.json" "$T/$1.json" "$2" "$3" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c[sys.argv[3]] = sys.argv[4]
json.dump(c, open(sys.argv[2], "w"))
PY
    chmod 600 "$T/$1.json"
}
variant notfound token_uri "http://127.0.0.1:$PORT/no/such/token/path"
variant revoked refresh_token "1//not-a-token-the-server-issued"
variant busy token_uri "http://127.0.0.1:$BUSY_PORT/token"

check_auth() {   # NAME: runs eefetch auth with $T/NAME.json, output in $T/NAME.out
    env -u GOOGLE_APPLICATION_CREDENTIALS -u EE_ACCESS_TOKEN -u EEFETCH_TOKEN_URI HOME="$T" \
        timeout 120 "$BIN" auth --credentials "$T/$1.json" --project emu-proj \
        --endpoint "http://127.0.0.1:$PORT" > "$T/$1.out" 2>&1
}

cp "$T/c/authorized_user.json" "$T/good.json"
check_auth good || { fail "the emulator's own credentials were refused"; cat "$T/good.out"; }

check_auth notfound && fail "a token_uri that 404s was accepted"
grep -q "answered HTTP 404" "$T/notfound.out" || fail "404: no 'answered HTTP 404'"
grep -q "check token_uri in the credentials" "$T/notfound.out" || fail "404: no 'check token_uri'"
grep -q "/no/such/token/path" "$T/notfound.out" || fail "404: the endpoint's URL is not named"
grep -q "expired or was revoked" "$T/notfound.out" && fail "404 reported as an expired or revoked token"
echo "--- 404:"; cat "$T/notfound.out"

check_auth revoked && fail "an unknown refresh token was accepted"
grep -q "invalid_grant" "$T/revoked.out" || fail "invalid_grant: the server's error is not shown"
grep -q "expired or was revoked" "$T/revoked.out" || fail "invalid_grant: not reported as expired or revoked"
echo "--- invalid_grant:"; cat "$T/revoked.out"

check_auth busy && fail "a token endpoint answering 503 gave a token"
grep -q "answered HTTP 503" "$T/busy.out" || fail "503: no 'answered HTTP 503'"
grep -q "unavailable for now" "$T/busy.out" || fail "503: not reported as the endpoint being unavailable"
grep -q "expired or was revoked\|was refused" "$T/busy.out" && fail "503 reported as refused credentials"
echo "--- 503:"; cat "$T/busy.out"

kill "$BUSY" 2>/dev/null
wait "$BUSY" 2>/dev/null
lib_finish
