"""Bearer checks, registered projects and the token endpoints of
`eefetch serve --require-auth`, over loopback HTTP with emulib (which writes
credentials with --write-credentials and mints its token through /token)."""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("EEFETCH_SRC", "."), "tests", "emulator"))
import emulib  # noqa: E402

FAILS = []
EXPR = {"expression": {"result": "0", "values": {"0": {"constantValue": 1}}}}
SRTM = "projects/earthengine-public/assets/USGS/SRTMGL1_003"


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what)


def message(body):
    return json.loads(body)["error"]["message"]


def token_request(emu, form):
    c = emu.connection()
    try:
        c.request("POST", "/token", body=urllib.parse.urlencode(form),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def b64url(data, pad=False):
    text = base64.urlsafe_b64encode(data).decode()
    return text if pad else text.rstrip("=")


def make_jwt(key, claims, alg="RS256", pad=False):
    """A JWT signed with the openssl command line: an implementation
    independent of eefetch's own signer. pad: segments keep base64's "="
    padding, as some clients' JWT libraries send them."""
    head = {"alg": alg, "typ": "JWT", "kid": key["private_key_id"]}
    signing = (b64url(json.dumps(head).encode(), pad) + "." +
               b64url(json.dumps(claims).encode(), pad)).encode()
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
        os.chmod(pem.name, 0o600)
        pem.write(key["private_key"])
        pem.flush()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", pem.name],
                             input=signing, stdout=subprocess.PIPE, check=True).stdout
    return signing.decode() + "." + b64url(sig, pad)


def test_jwt_checks(emu):
    key = json.load(open(os.path.join(emu.cred_dir, "service-account.json")))
    aud = "http://127.0.0.1:%d/token" % emu.port
    now = int(time.time())
    base = {"iss": key["client_email"], "aud": aud, "scope": "x", "iat": now, "exp": now + 3600}
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def attempt(claims, alg="RS256"):
        return token_request(emu, {"grant_type": grant, "assertion": make_jwt(key, claims, alg)})

    st, doc = attempt(base)
    check(st == 200 and doc["access_token"].startswith("ya29.emu-"),
          "JWT signed by openssl accepted: %d %r" % (st, doc))
    # Segments with "=" padding (Google accepts them; the RSA signature always has some).
    padded = make_jwt(key, dict(base, scope="xy"), pad=True)
    st, doc = token_request(emu, {"grant_type": grant, "assertion": padded})
    check("=" in padded and st == 200 and doc.get("access_token", "").startswith("ya29.emu-"),
          "JWT with padded base64url segments accepted: %d %r" % (st, doc))
    timeframe = "Token must be a short-lived token (60 minutes) and in a reasonable timeframe"
    cases = [
        ("lifetime over an hour", dict(base, exp=now + 3601), timeframe),
        ("expired", dict(base, iat=now - 4000, exp=now - 400), timeframe),
        ("iat in the future", dict(base, iat=now + 900, exp=now + 1800), timeframe),
        ("wrong audience", dict(base, aud="https://example.com/token"),
         "Failed audience check"),
        ("audience of another endpoint on this host",
         dict(base, aud="http://127.0.0.1:%d/oauth2/v4/token" % emu.port),
         "Failed audience check"),
        ("wrong issuer", dict(base, iss="someone@else.iam.gserviceaccount.com"),
         "account not found"),
    ]
    for name, claims, text in cases:
        st, doc = attempt(claims)
        check(st == 400 and doc.get("error") == "invalid_grant" and
              text in doc.get("error_description", ""), "%s: %d %r" % (name, st, doc))
    # Google's endpoint answers to each of its names, and clients with a
    # built-in token URL sign for it whatever token_uri says (the JS client's
    # gtoken: .../oauth2/v4/token): the stand-in accepts those audiences too.
    for google_aud in ("https://oauth2.googleapis.com/token",
                       "https://www.googleapis.com/oauth2/v4/token",
                       "https://accounts.google.com/o/oauth2/token"):
        st, doc = attempt(dict(base, aud=google_aud))
        check(st == 200 and doc.get("access_token", "").startswith("ya29.emu-"),
              "audience %s accepted: %d %r" % (google_aud, st, doc))
    # Still within the 300 s skew allowance.
    st, _ = attempt(dict(base, iat=now + 120, exp=now + 1800))
    check(st == 200, "iat 2 minutes ahead accepted: %d" % st)
    st, doc = attempt(base, alg="HS256")
    check(st == 400 and doc.get("error") == "invalid_grant", "HS256 refused: %d" % st)
    # A tampered claim set breaks the signature.
    jwt = make_jwt(key, base).split(".")
    jwt[1] = b64url(json.dumps(dict(base, scope="y")).encode())
    st, doc = token_request(emu, {"grant_type": grant, "assertion": ".".join(jwt)})
    check(st == 400 and doc.get("error_description") == "Invalid JWT Signature.",
          "tampered claims: %d %r" % (st, doc))


def main():
    with emulib.Emulator("--require-auth", "--projects", "emu-proj,second-proj",
                         "--token-lifetime", "2") as emu:
        check(emu.token and emu.token.startswith("ya29.emu-"), "emulib minted a token")
        test_jwt_checks(emu)

        # With the token: EE routes answer.
        st, _, body = emu.post("/v1/projects/emu-proj/value:compute", EXPR)
        check(st == 200, "value:compute with token: %d %r" % (st, body[:200]))
        st, _, _ = emu.get("/v1/" + SRTM)
        check(st == 200, "public asset with token: %d" % st)

        # Registered projects: header first, then the path project.
        st, _, body = emu.post("/v1/projects/nope-proj/value:compute", EXPR)
        check(st == 403 and "Project nope-proj is not registered to use Earth Engine" in
              message(body), "unregistered path project: %d" % st)
        st, _, body = emu.get("/v1/" + SRTM, headers={"X-Goog-User-Project": "nope-proj"})
        check(st == 403 and json.loads(body)["error"]["status"] == "PERMISSION_DENIED",
              "unregistered X-Goog-User-Project: %d" % st)
        st, _, _ = emu.post("/v1/projects/second-proj/value:compute", EXPR)
        check(st == 200, "second registered project: %d" % st)

        # Without / with a bad token: 401 with Google's texts.
        token, emu.token = emu.token, None
        st, _, body = emu.post("/v1/projects/emu-proj/value:compute", EXPR)
        check(st == 401 and "missing required authentication credential" in message(body),
              "no token: %d" % st)
        st, _, body = emu.post("/v1/projects/emu-proj/value:compute", EXPR,
                               headers={"Authorization": "Bearer ya29.made-up"})
        check(st == 401 and "invalid authentication credentials" in message(body),
              "unknown token: %d" % st)
        check(json.loads(body)["error"]["status"] == "UNAUTHENTICATED", "401 status name")
        # Token routes need no token.
        st, doc = token_request(emu, {"grant_type": "password"})
        check(st == 400 and doc.get("error") == "unsupported_grant_type", "bad grant: %d" % st)
        st, doc = token_request(emu, {"grant_type": "refresh_token", "refresh_token": "1//nope"})
        check(st == 400 and doc.get("error") == "invalid_grant" and
              doc.get("error_description") == "Token has been expired or revoked.",
              "unknown refresh token: %d %r" % (st, doc))
        cred = json.load(open(os.path.join(emu.cred_dir, "authorized_user.json")))
        st, doc = token_request(emu, {"grant_type": "refresh_token",
                                      "refresh_token": cred["refresh_token"],
                                      "client_id": "someone-else"})
        check(st == 401 and doc.get("error") == "unauthorized_client", "other client: %d" % st)
        st, doc = token_request(emu, {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                      "assertion": "a.b.c"})
        check(st == 400 and doc.get("error") == "invalid_grant", "garbage JWT: %d" % st)
        st, doc = token_request(emu, {"grant_type": "refresh_token",
                                      "refresh_token": cred["refresh_token"],
                                      "client_id": cred["client_id"]})
        check(st == 200 and doc.get("expires_in") == 2 and doc.get("token_type") == "Bearer",
              "refresh grant: %d %r" % (st, doc))

        # Metadata path: Metadata-Flavor required.
        path = "/computeMetadata/v1/instance/service-accounts/default/token"
        st, _, _ = emu.get(path)
        check(st == 403, "metadata without flavor: %d" % st)
        st, _, body = emu.get(path, headers={"Metadata-Flavor": "Google"})
        check(st == 200 and json.loads(body)["access_token"].startswith("ya29.emu-"),
              "metadata token: %d" % st)

        # The configurable lifetime: the token stops working after 2 s.
        emu.token = token
        time.sleep(2.3)
        st, _, body = emu.post("/v1/projects/emu-proj/value:compute", EXPR)
        check(st == 401 and "invalid authentication credentials" in message(body),
              "expired token: %d" % st)
        emu.token = emu.mint_token()
        st, _, _ = emu.post("/v1/projects/emu-proj/value:compute", EXPR)
        check(st == 200, "fresh token after expiry: %d" % st)

    # By default (no option) every EE route needs a token, as on EE.
    with emulib.Emulator() as emu:
        check(emu.token is not None, "serve requires a token by default")
        saved, emu.token = emu.token, None
        st, _, _ = emu.post("/v1/projects/emu-proj/value:compute", EXPR)
        check(st == 401, "default serve without a token: %d" % st)
        emu.token = saved
        st, _, _ = emu.post("/v1/projects/emu-proj/value:compute", EXPR)
        check(st == 200, "default serve with a token: %d" % st)

    # With --no-auth nothing is checked but the project list.
    with emulib.Emulator("--no-auth", "--projects", "emu-proj") as emu:
        check(emu.token is None, "no token with --no-auth")
        st, _, _ = emu.post("/v1/projects/emu-proj/value:compute", EXPR)
        check(st == 200, "no auth: %d" % st)
        st, _, _ = emu.post("/v1/projects/other-proj/value:compute", EXPR)
        check(st == 403, "no auth, unregistered: %d" % st)

    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
