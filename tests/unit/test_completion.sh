#!/usr/bin/env bash
# The shell completions work as a person would use them: bash loads
# scripts/completion/eefetch.bash and, with COMP_WORDS/COMP_CWORD set as bash
# sets them on <TAB>, offers the commands, --prog -> --progress, the modes of
# --progress, *.lua recipes (and folders) for run/plan, folders for
# --output-dir and files for --credentials. zsh (when installed) parses
# _eefetch, compinit binds it to eefetch, and the same kinds of completion
# typed with <TAB> into an interactive zsh in a pty (zsh_complete.zsh) give
# the expected command line. Which options each command
# offers is checked against --help in test_man_completion.py.
set -uo pipefail
src=${EEFETCH_SRC:?}
comp=$src/scripts/completion/eefetch.bash
fails=0
passes=0

check() { # name expected actual
    if [ "$2" = "$3" ]; then
        passes=$((passes + 1))
    else
        echo "FAIL: $1: expected [$2], got [$3]"
        fails=$((fails + 1))
    fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/work/sub dir" "$tmp/work/out"
touch "$tmp/work/a.lua" "$tmp/work/b.lua" "$tmp/work/notes.txt" "$tmp/work/key.json"

# complete: the words of the command line, the last one being completed.
complete_words() {
    (
        cd "$tmp/work" || exit 1
        # shellcheck disable=SC1090
        source "$comp"
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        _eefetch
        printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
    )
}

check "bash loads it" "complete -F _eefetch eefetch" "$(bash -c "source '$comp'; complete -p eefetch")"
check "eefetch <TAB>" "auth eval help plan repl run serve version" "$(complete_words eefetch '')"
check "eefetch r<TAB>" "repl run" "$(complete_words eefetch r)"
check "eefetch -<TAB>" "--help --version -V -h" "$(complete_words eefetch -)"
check "run --pro<TAB>" "--progress --project" "$(complete_words eefetch run --pro)"
check "run --prog<TAB>" "--progress" "$(complete_words eefetch run --prog)"
check "run --progress <TAB>" "auto bar json map off plain" "$(complete_words eefetch run --progress '')"
check "plan --progress p<TAB>" "plain" "$(complete_words eefetch plan --progress p)"
check "run <TAB>" "a.lua b.lua out sub dir" "$(complete_words eefetch run '')"
check "plan --emulator a<TAB>" "a.lua" "$(complete_words eefetch plan --emulator a)"
check "run x.lua --output-dir <TAB>" "out sub dir" "$(complete_words eefetch run x.lua --output-dir '')"
check "run --credentials k<TAB>" "key.json" "$(complete_words eefetch run --credentials k)"
check "eval --algorithms n<TAB>" "notes.txt" "$(complete_words eefetch eval --algorithms n)"
check "plan --lo<TAB>" "--lock --locked" "$(complete_words eefetch plan --lo)"
check "run --lo<TAB> (no --lock)" "--locked" "$(complete_words eefetch run --lo)"
check "serve --fail-5<TAB>" "--fail-500 --fail-503" "$(complete_words eefetch serve --fail-5)"
check "auth --api-version <TAB>" "v1 v1alpha v1beta" "$(complete_words eefetch auth --api-version '')"
check "run --project <TAB> (a value only the user knows)" "" "$(complete_words eefetch run --project '')"

if command -v zsh >/dev/null 2>&1; then
    check "zsh -n _eefetch" "" "$(zsh -n "$src/scripts/completion/_eefetch" 2>&1)"
    got=$(HOME=$tmp zsh -f -c "fpath=('$src/scripts/completion' \$fpath); autoload -Uz compinit; \
        compinit -u -d '$tmp/zcompdump'; print -r -- \$_comps[eefetch]" 2>&1)
    check "zsh compinit binds _eefetch" "_eefetch" "$got"
    # Typed into an interactive zsh with <TAB> (zsh_complete.zsh, a pty).
    touch "$tmp/work/a.txt" "$tmp/work/ofile.txt"
    zcomplete() { HOME=$tmp timeout 30 zsh -f "$src/tests/unit/zsh_complete.zsh" "$src/scripts/completion" "$tmp/work" "$1"; }
    check "zsh: eefetch se<TAB>" "eefetch serve" "$(zcomplete 'eefetch se')"
    check "zsh: run --prog<TAB>" "eefetch run --progress" "$(zcomplete 'eefetch run --prog')"
    check "zsh: run --progress pl<TAB>" "eefetch run --progress plain" "$(zcomplete 'eefetch run --progress pl')"
    check "zsh: run a<TAB> (a.lua, not a.txt)" "eefetch run a.lua" "$(zcomplete 'eefetch run a')"
    check "zsh: --output-dir o<TAB> (out, not ofile.txt)" "eefetch run x.lua --output-dir out" \
        "$(zcomplete 'eefetch run x.lua --output-dir o')"
    check "zsh: auth --api-version v1a<TAB>" "eefetch auth --api-version v1alpha" \
        "$(zcomplete 'eefetch auth --api-version v1a')"
else
    echo "zsh is not installed (scripts/setup.sh installs it): _eefetch not checked"
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
