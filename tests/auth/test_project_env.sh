#!/usr/bin/env bash
# The project's documented sources and order (docs/auth.md, `--help`):
# --project, then $EE_PROJECT (EE_PROJECT_ID is its older alias), then
# $GOOGLE_CLOUD_QUOTA_PROJECT, $GOOGLE_CLOUD_PROJECT, then the credentials'
# own project. Checked with `eefetch auth` against `eefetch serve
# --require-auth`, and with `eefetch run`, whose requests the emulator logs
# with the project of their URL.
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init proj-env
PY=/usr/bin/python3
mkdir -p "$T/home"

# clean NAME CMD ENV... -- ARGS... : eefetch CMD in a clean environment;
# output in $T/NAME.{out,err}, status in RC.
clean() {
    local name=$1 cmd=$2; shift 2
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env -i PATH="$PATH" HOME="$T/home" XDG_CACHE_HOME="${XDG_CACHE_HOME:-$T/cache}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" LSAN_OPTIONS="${LSAN_OPTIONS:-}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "${envs[@]}" \
        "$BIN" "$cmd" "$@" > "$T/$name.out" 2> "$T/$name.err"
    RC=$?
}

expect_project() {  # NAME PROJECT SOURCE
    if [ "$RC" -eq 0 ] && grep -qF "project:     $2 (from $3)" "$T/$1.out"; then
        ok "$1"
    else
        fail "$1: expected project $2 from $3 (status $RC)"; cat "$T/$1.out" "$T/$1.err"
    fi
}

C=$T/creds
serve_start main --require-auth --projects emu-proj,other-proj,third-proj --write-credentials "$C" \
    --request-log "$T/requests.jsonl"
EP=http://127.0.0.1:$PORT
# A key without project_id, so only the environment can name one.
$PY - "$C/service-account.json" "$T/noproj.json" <<'PYEOF'
import json, sys
k = json.load(open(sys.argv[1])); del k["project_id"]; json.dump(k, open(sys.argv[2], "w"))
PYEOF
chmod 600 "$T/noproj.json"
KEY=$C/service-account.json    # its project_id is emu-proj

clean ee_project auth EE_PROJECT=other-proj -- --credentials "$T/noproj.json" --endpoint "$EP"
expect_project ee_project other-proj "environment variable EE_PROJECT"
clean ee_project_id auth EE_PROJECT_ID=other-proj -- --credentials "$T/noproj.json" --endpoint "$EP"
expect_project ee_project_id other-proj "environment variable EE_PROJECT_ID"
clean gcp auth GOOGLE_CLOUD_PROJECT=other-proj -- --credentials "$T/noproj.json" --endpoint "$EP"
expect_project gcp other-proj "environment variable GOOGLE_CLOUD_PROJECT"
# Order.
clean beats_alias auth EE_PROJECT=other-proj EE_PROJECT_ID=third-proj GOOGLE_CLOUD_PROJECT=emu-proj -- \
    --credentials "$T/noproj.json" --endpoint "$EP"
expect_project beats_alias other-proj "environment variable EE_PROJECT"
clean beats_key auth EE_PROJECT=other-proj -- --credentials "$KEY" --endpoint "$EP"
expect_project beats_key other-proj "environment variable EE_PROJECT"
clean option_wins auth EE_PROJECT=other-proj -- --credentials "$KEY" --project third-proj --endpoint "$EP"
expect_project option_wins third-proj "--project / recipe setting"
clean key_last auth -- --credentials "$KEY" --endpoint "$EP"
expect_project key_last emu-proj "project_id of the service-account key $KEY"
# The message for no project names the variable to set.
clean none auth -- --credentials "$T/noproj.json" --endpoint "$EP"
if [ "$RC" -ne 0 ] && grep -qF "environment variable EE_PROJECT: not set" "$T/none.err" &&
   grep -qF 'export EE_PROJECT=PROJECT' "$T/none.err"; then ok "no project message"
else fail "no project message (status $RC)"; cat "$T/none.out" "$T/none.err"; fi

# eefetch run: the requests carry the project EE_PROJECT names.
printf 'print(ee.Number(40):add(2):getInfo())\n' > "$T/r.lua"
: > "$T/requests.jsonl"
clean run_env run EE_PROJECT=other-proj -- "$T/r.lua" --credentials "$T/noproj.json" --endpoint "$EP" \
    --algorithms "$EEFETCH_SRC/data/algorithms-signatures.json"
if [ "$RC" -eq 0 ] && grep -qx 42 "$T/run_env.out"; then ok "run with EE_PROJECT"
else fail "run with EE_PROJECT (status $RC)"; cat "$T/run_env.out" "$T/run_env.err"; fi
n=$(grep -c '"route":"value.compute".*"project":"other-proj"' "$T/requests.jsonl")
m=$(grep '"route":"value.compute"' "$T/requests.jsonl" | grep -vc '"project":"other-proj"')
[ "$n" -ge 1 ] && [ "$m" -eq 0 ] || fail "run_env: $n value:compute requests for other-proj, $m for another"
serve_stop

# Without credentials (a loopback emulator started with --no-auth) the
# environment still names the project.
serve_start open --no-auth --request-log "$T/open.jsonl"
clean run_noauth run EE_PROJECT=other-proj -- "$T/r.lua" --endpoint "http://127.0.0.1:$PORT" \
    --algorithms "$EEFETCH_SRC/data/algorithms-signatures.json"
if [ "$RC" -eq 0 ] && grep -q '"route":"value.compute".*"project":"other-proj"' "$T/open.jsonl"; then
    ok "run without credentials, EE_PROJECT"
else fail "run without credentials (status $RC)"; cat "$T/run_noauth.out" "$T/run_noauth.err" "$T/open.jsonl"; fi
lib_finish
