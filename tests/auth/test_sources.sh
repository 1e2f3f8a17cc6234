#!/usr/bin/env bash
# Every credential source end to end against `eefetch serve --require-auth`
# over loopback HTTP, every distinct failure message, the file-mode warning,
# the plain-http refusal, and a grep of all output for the secrets.
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init auth-src
PY=/usr/bin/python3
ALL=$T/all-output.txt
: > "$ALL"

# run NAME ENV... -- ARGS... : runs eefetch auth in a clean environment;
# output in $T/NAME.{out,err}, status in RC.
run() {
    local name=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env -i PATH="$PATH" HOME="$T/home" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
        LSAN_OPTIONS="${LSAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "${envs[@]}" \
        "$BIN" auth "$@" > "$T/$name.out" 2> "$T/$name.err"
    RC=$?
    { echo "== $name"; cat "$T/$name.out" "$T/$name.err"; } >> "$ALL"
}

expect_ok() {  # NAME SOURCE-TEXT
    if [ "$RC" -eq 0 ] && grep -q "check:       OK" "$T/$1.out" && grep -qF "$2" "$T/$1.out"; then
        ok "$1"
    else
        fail "$1 (status $RC)"; cat "$T/$1.out" "$T/$1.err"
    fi
}

expect_err() {  # NAME TEXT... : non-zero status and every TEXT in stderr
    local name=$1; shift
    if [ "$RC" -eq 0 ]; then fail "$name: exit status 0"; cat "$T/$name.out" "$T/$name.err"; return; fi
    for t in "$@"; do
        if ! grep -qF -- "$t" "$T/$name.err"; then
            fail "$name: missing '$t'"; cat "$T/$name.out" "$T/$name.err"; return
        fi
    done
    ok "$name"
}

mkdir -p "$T/home"
C=$T/creds
serve_start main --require-auth --projects emu-proj,other-proj --token-lifetime 60 \
    --write-credentials "$C" --request-log "$T/requests.jsonl"
EP=http://127.0.0.1:$PORT
MAINPORT=$PORT
for f in service-account.json authorized_user.json credentials emulator-trust.json; do
    [ -f "$C/$f" ] || fail "--write-credentials did not write $f"
done

# 1. --credentials FILE, each kind of file.
run file_sa -- --credentials "$C/service-account.json" --endpoint "$EP"
expect_ok file_sa "credentials file (--credentials)"
grep -q "account:     eefetch-emulator@" "$T/file_sa.out" || fail "file_sa: account not shown"
grep -q "project:     emu-proj (from project_id" "$T/file_sa.out" || fail "file_sa: project source"
run file_au -- --credentials "$C/authorized_user.json" --endpoint "$EP"
expect_ok file_au "user (refresh-token grant)"
grep -q "from quota_project_id" "$T/file_au.out" || fail "file_au: project source"

# 2. EE_ACCESS_TOKEN (minted here through the emulator's metadata path).
TOKEN=$(curl -s -H 'Metadata-Flavor: Google' \
    "$EP/computeMetadata/v1/instance/service-accounts/default/token" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
[ -n "$TOKEN" ] || fail "could not mint a token"
run env_token EE_ACCESS_TOKEN="$TOKEN" -- --project emu-proj --endpoint "$EP" -v
expect_ok env_token "access token from EE_ACCESS_TOKEN"
run env_token_bad EE_ACCESS_TOKEN=ya29.not-a-token-at-all -- --project emu-proj --endpoint "$EP"
expect_err env_token_bad "EE_ACCESS_TOKEN was rejected by the server (HTTP 401)"

# 3. GOOGLE_APPLICATION_CREDENTIALS: key and authorized_user.
run gac_sa GOOGLE_APPLICATION_CREDENTIALS="$C/service-account.json" -- --endpoint "$EP" -v
expect_ok gac_sa "GOOGLE_APPLICATION_CREDENTIALS"
run gac_au GOOGLE_APPLICATION_CREDENTIALS="$C/authorized_user.json" -- --endpoint "$EP"
expect_ok gac_au "GOOGLE_APPLICATION_CREDENTIALS"

# 4. The EE credentials file: EE_CONFIG_FILE, then the default path.
run ee_file EE_CONFIG_FILE="$C/credentials" EEFETCH_TOKEN_URI="$EP/token" -- --endpoint "$EP"
expect_ok ee_file "Earth Engine credentials file"
grep -q "from Earth Engine credentials file" "$T/ee_file.out" || fail "ee_file: project source"
mkdir -p "$T/home/.config/earthengine"
cp "$C/credentials" "$T/home/.config/earthengine/credentials"
run ee_home EEFETCH_TOKEN_URI="$EP/token" -- --endpoint "$EP"
expect_ok ee_home "$T/home/.config/earthengine/credentials"
rm -rf "$T/home/.config"

# 5. gcloud ADC through CLOUDSDK_CONFIG.
mkdir -p "$T/gcloud"
cp "$C/authorized_user.json" "$T/gcloud/application_default_credentials.json"
run adc CLOUDSDK_CONFIG="$T/gcloud" -- --endpoint "$EP"
expect_ok adc "gcloud application-default credentials"

# 6. The metadata server (no project there: given by the environment).
run metadata GCE_METADATA_HOST="127.0.0.1:$PORT" EE_PROJECT_ID=emu-proj -- --endpoint "$EP"
expect_ok metadata "metadata server"
grep -q "from environment variable EE_PROJECT_ID" "$T/metadata.out" || fail "metadata: project source"

# Order: --credentials beats the environment.
run order GOOGLE_APPLICATION_CREDENTIALS="$C/authorized_user.json" EE_ACCESS_TOKEN=x -- \
    --credentials "$C/service-account.json" --endpoint "$EP"
expect_ok order "credentials file (--credentials)"

# Project order: EE_PROJECT_ID > GOOGLE_CLOUD_QUOTA_PROJECT > key's project_id.
run proj_env GOOGLE_CLOUD_QUOTA_PROJECT=other-proj -- --credentials "$C/service-account.json" --endpoint "$EP"
expect_ok proj_env "project:     other-proj (from environment variable GOOGLE_CLOUD_QUOTA_PROJECT)"
run proj_env2 EE_PROJECT_ID=emu-proj GOOGLE_CLOUD_QUOTA_PROJECT=other-proj -- \
    --credentials "$C/service-account.json" --endpoint "$EP"
expect_ok proj_env2 "project:     emu-proj (from environment variable EE_PROJECT_ID)"

# ---- distinct failures -----------------------------------------------------------------
# Missing project: every place looked, how to set one, no request made.
$PY - "$C/service-account.json" "$T/noproj.json" <<'PYEOF'
import json, sys
k = json.load(open(sys.argv[1])); del k["project_id"]; json.dump(k, open(sys.argv[2], "w"))
PYEOF
chmod 600 "$T/noproj.json"
before=$(wc -l < "$T/requests.jsonl")
run no_project -- --credentials "$T/noproj.json" --endpoint "$EP"
expect_err no_project "no Earth Engine project found" "EE_PROJECT_ID" "GOOGLE_CLOUD_QUOTA_PROJECT" \
    "GOOGLE_CLOUD_PROJECT" "Earth Engine credentials file" "application-default credentials" \
    "service-account key" "--project PROJECT"
[ "$(wc -l < "$T/requests.jsonl")" -eq "$before" ] || fail "no_project: a request was made"

# Unregistered project.
run unregistered -- --credentials "$C/service-account.json" --project nope-proj --endpoint "$EP"
expect_err unregistered "Project nope-proj is not registered to use Earth Engine" \
    "https://code.earthengine.google.com/register?project=nope-proj"

# A credentials file that does not exist.
run missing_file -- --credentials "$T/nope.json" --endpoint "$EP"
expect_err missing_file "credentials file $T/nope.json: No such file or directory"
run missing_gac GOOGLE_APPLICATION_CREDENTIALS="$T/nope.json" -- --endpoint "$EP"
expect_err missing_gac "GOOGLE_APPLICATION_CREDENTIALS: credentials file $T/nope.json"

# Malformed project (it would also break the URL path).
run bad_project -- --credentials "$C/service-account.json" --project "../x" --endpoint "$EP"
expect_err bad_project "project '../x' (from --project" "not a valid Google Cloud project ID"
run number_project EE_PROJECT_ID=123456789012 -- --credentials "$C/service-account.json" --no-check
expect_ok_nocheck() { [ "$RC" -eq 0 ] && grep -qF "$2" "$T/$1.out" && ok "$1" || { fail "$1"; cat "$T/$1.out" "$T/$1.err"; }; }
expect_ok_nocheck number_project "project:     123456789012"

# Corrupt key file.
head -c 300 "$C/service-account.json" > "$T/corrupt.json"; chmod 600 "$T/corrupt.json"
run corrupt -- --credentials "$T/corrupt.json" --endpoint "$EP"
expect_err corrupt "is not a valid JSON object" "corrupt"
$PY - "$C/service-account.json" "$T/nokey.json" <<'PYEOF'
import json, sys
k = json.load(open(sys.argv[1])); del k["private_key"]; json.dump(k, open(sys.argv[2], "w"))
PYEOF
chmod 600 "$T/nokey.json"
run missing_field -- --credentials "$T/nokey.json" --endpoint "$EP"
expect_err missing_field "lacks the field 'private_key'"

# Wrong key: same account and key id, another private key.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null
$PY - "$C/service-account.json" "$T/other.pem" "$T/wrongkey.json" <<'PYEOF'
import json, sys
k = json.load(open(sys.argv[1])); k["private_key"] = open(sys.argv[2]).read()
json.dump(k, open(sys.argv[3], "w"))
PYEOF
chmod 600 "$T/wrongkey.json"
run wrong_key -- --credentials "$T/wrongkey.json" --endpoint "$EP"
expect_err wrong_key "Invalid JWT Signature." "create a new key"

# Expired (unknown) refresh token.
$PY - "$C/authorized_user.json" "$T/expired.json" <<'PYEOF'
import json, sys
k = json.load(open(sys.argv[1])); k["refresh_token"] = "1//emu-revoked-0123456789"
json.dump(k, open(sys.argv[2], "w"))
PYEOF
chmod 600 "$T/expired.json"
run expired_refresh -- --credentials "$T/expired.json" --endpoint "$EP"
expect_err expired_refresh "Token has been expired or revoked." "sign in again" "earthengine authenticate"

# Clock skew: an emulator whose clock is two hours behind sees iat in the future.
EEFETCH_EMU_CLOCK_OFFSET=-7200 serve_start skewed --require-auth --credentials-dir "$C"
run skew EEFETCH_TOKEN_URI="http://127.0.0.1:$PORT/token" -- --credentials "$C/service-account.json" \
    --endpoint "http://127.0.0.1:$PORT"
expect_err skew "reasonable timeframe" "synchronise the system clock"
# The same credentials work against that emulator when the clocks agree
# (trust loaded from --credentials-dir).
serve_start trusting --require-auth --credentials-dir "$C"
run trusted EEFETCH_TOKEN_URI="http://127.0.0.1:$PORT/token" -- --credentials "$C/service-account.json" \
    --endpoint "http://127.0.0.1:$PORT"
expect_ok trusted "service account"

# A corrupt Earth Engine credentials file: its own message when nothing else
# applies, a warning when another source is used.
mkdir -p "$T/home/.config/earthengine"
echo '{"refresh_token": ' > "$T/home/.config/earthengine/credentials"
run corrupt_ee -- --project emu-proj --endpoint "$EP"
expect_err corrupt_ee "$T/home/.config/earthengine/credentials is not a valid JSON object"
run corrupt_ee_other -- --credentials "$C/service-account.json" --endpoint "$EP"
expect_ok corrupt_ee_other "service account"
grep -q "ignored: credentials file $T/home/.config/earthengine/credentials" "$T/corrupt_ee_other.err" ||
    fail "corrupt_ee_other: no warning"
rm -rf "$T/home/.config"

# No credentials at all.
run no_creds -- --project emu-proj --endpoint "$EP"
expect_err no_creds "no credentials found" "earthengine authenticate"

# A group-readable credentials file draws a warning (and still works).
cp "$C/service-account.json" "$T/open.json"; chmod 644 "$T/open.json"
run open_mode -- --credentials "$T/open.json" --endpoint "$EP"
expect_ok open_mode "service account"
grep -q "readable by group or others" "$T/open_mode.err" || fail "open_mode: no warning"

# Plain http to a non-loopback host is refused before any request.
run plain_http -- --credentials "$C/service-account.json" --endpoint http://ee.example.invalid
expect_err plain_http "refusing plain http://"

# Requests without or with a bad token get 401 from the emulator itself.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "$EP/v1/projects/emu-proj/value:compute")
[ "$code" = 401 ] || fail "no token: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$EP/computeMetadata/v1/instance/service-accounts/default/token")
[ "$code" = 403 ] || fail "metadata without Metadata-Flavor: HTTP $code"

# ---- no secret in any output -----------------------------------------------------------
# (eefetch auth runs above, the emulators' own output and the request log)
for f in "$T"/main.* "$T"/skewed.* "$T"/trusting.* "$T/requests.jsonl"; do
    { echo "== $f"; cat "$f"; } >> "$ALL"
done
$PY - "$C" "$TOKEN" "$ALL" <<'PYEOF' || fails=$((fails + 1))
import json, sys
c, token, out = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
sa = json.load(open(c + "/service-account.json"))
au = json.load(open(c + "/authorized_user.json"))
secrets = {"access token": token, "refresh token": au["refresh_token"],
           "client secret": au["client_secret"]}
for i, line in enumerate(sa["private_key"].splitlines()[1:-1][:5]):
    secrets["private key line %d" % i] = line
bad = [name for name, s in secrets.items() if s and s in out]
if "ya29.emu-" in out:
    bad.append("an access token (ya29.emu-...)")
if bad:
    print("FAIL: secrets in output:", ", ".join(bad))
    sys.exit(1)
print("ok: no secret in %d bytes of output" % len(out))
PYEOF

lib_finish
