# bash completion for eefetch(1): commands, each command's options, recipe
# files (*.lua) for run and plan, folders for --output-dir, files for
# --credentials and --algorithms, the modes of --progress.
# Installed as share/bash-completion/completions/eefetch; to try it from a
# source tree: source scripts/completion/eefetch.bash
# tests/unit/test_man_completion.py checks the option lists against each
# command's --help.

_eefetch_common_opts="--set --endpoint --project --emulator --algorithms --credentials
  --progress --overwrite --unsafe --output-dir --max-memory --max-instructions
  -v --verbose -h --help"

_eefetch_opts() {
    case $1 in
    run) echo "$_eefetch_common_opts --json --no-disk-check --locked --cancel-on-interrupt" ;;
    plan) echo "$_eefetch_common_opts --json --no-disk-check --locked --cancel-on-interrupt --lock" ;;
    eval | repl) echo "$_eefetch_common_opts" ;;
    serve)
        echo "--bind --port --seed --concurrency --latency-ms --latency-per-mib-ms
          --latency-per-image-ms --memory-limit --fail-429 --fail-500 --fail-503
          --fail-reset --fail-truncate --request-log --asset --catalog-until
          --bucket-dir --export-running --export-pending-limit --export-queue-ms
          --export-ms-per-mpixel --export-fail
          --require-auth --no-auth --token-lifetime --projects --credentials-dir
          --write-credentials --verbose --help"
        ;;
    auth)
        echo "--credentials --project --endpoint --high-volume --api-version
          --no-check -v --verbose -h --help"
        ;;
    esac
}

# Fills COMPREPLY from compgen's lines (names with spaces stay whole).
_eefetch_reply() {
    local line
    COMPREPLY=()
    while IFS= read -r line; do
        [[ -n $line ]] && COMPREPLY+=("$line")
    done < <(compgen "$@")
}

_eefetch() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local cmd="" i
    COMPREPLY=()

    # The command is the first word after eefetch that is not an option.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            _eefetch_reply -W "-h --help -V --version" -- "$cur"
        else
            _eefetch_reply -W "run plan eval repl serve auth help version" -- "$cur"
        fi
        return 0
    fi

    # The value of the option before the cursor.
    case $prev in
    --progress)
        _eefetch_reply -W "auto bar map plain json off" -- "$cur"
        return 0
        ;;
    --api-version)
        _eefetch_reply -W "v1 v1beta v1alpha" -- "$cur"
        return 0
        ;;
    --output-dir | --credentials-dir | --write-credentials | --bucket-dir)
        compopt -o filenames 2>/dev/null
        _eefetch_reply -d -- "$cur"
        return 0
        ;;
    --credentials | --algorithms | --request-log)
        compopt -o filenames 2>/dev/null
        _eefetch_reply -f -- "$cur"
        return 0
        ;;
    --set | --endpoint | --project | --max-memory | --max-instructions | --bind | --port | \
        --seed | --concurrency | --latency-ms | --latency-per-mib-ms | --latency-per-image-ms | \
        --memory-limit | --fail-429 | --fail-500 | --fail-503 | --fail-reset | --fail-truncate | \
        --asset | --catalog-until | --token-lifetime | --projects | --export-running | \
        --export-pending-limit | --export-queue-ms | --export-ms-per-mpixel | --export-fail)
        return 0 # a value only the user knows
        ;;
    esac

    if [[ $cur == -* ]]; then
        _eefetch_reply -W "$(_eefetch_opts "$cmd")" -- "$cur"
        return 0
    fi
    case $cmd in
    run | plan)
        # Recipes, and folders to reach them.
        local dirs
        compopt -o filenames 2>/dev/null
        _eefetch_reply -f -X '!*.lua' -- "$cur"
        dirs=("${COMPREPLY[@]}")
        _eefetch_reply -d -- "$cur"
        COMPREPLY=("${dirs[@]}" "${COMPREPLY[@]}")
        ;;
    esac
    return 0
}

complete -F _eefetch eefetch
