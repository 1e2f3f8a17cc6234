# What the bash tests share; source it with `. "$EEFETCH_SRC/tests/lib.sh"`.
#
#   lib_init NAME         T: a fresh scratch directory (/tmp/eefetch-NAME.XXXXXX);
#                         on exit every server started here is stopped and T removed
#   serve_start NAME ARG...   `eefetch serve --port 0 ARG...` in the background,
#                         output in $T/NAME.out and $T/NAME.err; sets SERVER (its
#                         pid) and PORT once it listens, exits the test if it does not
#   serve_on_port PORT NAME ARG...   the same on a given port
#   serve_stop            stops the last server started
#   fail TEXT / ok TEXT   count a failure / say what passed; lib_finish reports
#                         the count and returns non-zero after any failure
#
# Needs EEFETCH_BIN (set by ctest for every test).

BIN=${EEFETCH_BIN:?EEFETCH_BIN not set}
SERVE_PIDS=()
SERVER=
PORT=
fails=0

lib_cleanup() {
    local p
    for p in "${SERVE_PIDS[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    [ -n "${T:-}" ] && rm -rf "$T"
}

lib_init() {
    T=$(mktemp -d "/tmp/eefetch-$1.XXXXXX")
    trap lib_cleanup EXIT
}

serve_on_port() {
    local port=$1 name=$2
    shift 2
    "$BIN" serve --port "$port" "$@" > "$T/$name.out" 2> "$T/$name.err" &
    SERVER=$!
    SERVE_PIDS+=("$SERVER")
    # The server prints its address once it listens; port 0 means the
    # kernel picked one, which is only known from that line.
    for _ in $(seq 1 100); do
        PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/$name.out" 2>/dev/null |
               grep -o '[0-9]*$')
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.1
    done
    echo "emulator $name did not start"
    cat "$T/$name.out" "$T/$name.err"
    exit 1
}

serve_start() {
    serve_on_port 0 "$@"
}

serve_stop() {
    local keep=() p
    kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    # Forget the pid so the exit cleanup never signals a reused one.
    for p in "${SERVE_PIDS[@]}"; do
        [ "$p" = "$SERVER" ] || keep+=("$p")
    done
    SERVE_PIDS=("${keep[@]}")
    SERVER=
}

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

lib_finish() {
    echo "$fails failure(s)"
    [ "$fails" -eq 0 ]
}
