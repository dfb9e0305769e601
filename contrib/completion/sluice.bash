# bash completion for sluice(1). Installed as
# $datadir/bash-completion/completions/sluice; or: source contrib/completion/sluice.bash
_sluice() {
    local cur prev words cword
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cword=$COMP_CWORD
    local cmds="run query refresh test validate lineage vars check tap top alert gen parse kafka-mock help"
    if [[ $cword -eq 1 ]]; then
        COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
        return
    fi
    local cmd="${COMP_WORDS[1]}"
    case "$prev" in
        --data|--out) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --token-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --url) COMPREPLY=($(compgen -W "http://127.0.0.1:" -- "$cur")); return ;;
        --format)
            if [[ $cmd == parse ]]; then
                COMPREPLY=($(compgen -W "json syslog rfc3164 logfmt regex csv" -- "$cur"))
            elif [[ $cmd == tap ]]; then
                COMPREPLY=($(compgen -W "json table" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "table csv json" -- "$cur"))
            fi
            return ;;
        --store) COMPREPLY=($(compgen -W "sqlite postgresql://" -- "$cur")); return ;;
        --set|--listen|--instance|--status|--events|--seed|--where|--limit|--interval) return ;;
    esac
    local opts=""
    case "$cmd" in
        run) opts="--data --set --once --status --listen --instance --store --watch-config --help" ;;
        query) opts="--data --set --format --store --help" ;;
        refresh) opts="--data --set --status --store --help" ;;
        validate|lineage) opts="--set --help" ;;
        vars) opts="--set --format --help" ;;
        test) opts="--tests --case --set --verbose --help" ;;
        check) opts="--data --set --help" ;;
        tap) opts="--where --limit --format --data --url --token-file --from-start --set --help" ;;
        top) opts="--url --interval --once --token-file --set --help" ;;
        alert)
            if [[ $cword -eq 2 ]]; then COMPREPLY=($(compgen -W "test" -- "$cur")); return; fi
            opts="--set --help" ;;
        gen)
            if [[ $cword -eq 2 ]]; then
                COMPREPLY=($(compgen -W "cameras telco retail umb dataops cloud --help" -- "$cur"))
                return
            fi
            opts="--out --events --seed --help" ;;
        parse)
            if [[ $cword -eq 2 ]]; then
                COMPREPLY=($(compgen -W "json syslog rfc3164 logfmt regex csv" -- "$cur"))
                return
            fi
            opts="--schema --infer --help" ;;
        help)
            # every source, operator and sink the binary knows, plus the commands
            local names
            names=$(sluice help 2>/dev/null | awk '/^  [a-z_0-9]+ /{print $1}')
            COMPREPLY=($(compgen -W "$names $cmds sources window" -- "$cur"))
            return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        # a pipeline file
        COMPREPLY=($(compgen -f -X '!*.@(yaml|yml)' -- "$cur") $(compgen -d -S / -- "$cur"))
    fi
}
complete -F _sluice sluice
