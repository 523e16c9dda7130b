# bash completion for distrffmpeg(1): its own -df_ options and -df_KEY=VALUE config
# overrides; every other word falls back to ffmpeg's completion if one is loaded, else to
# file names.
#
# Install: copy to /usr/share/bash-completion/completions/distrffmpeg (system) or
# ~/.local/share/bash-completion/completions/distrffmpeg (you), or source it from ~/.bashrc.
# tests/packaging.rs fails when a config key or an own option is missing here.

_distrffmpeg() {
    local line=${COMP_LINE:0:COMP_POINT}
    # the whole word before the cursor: bash splits -df_key=value at '=' (COMP_WORDBREAKS)
    local cur=${line##*[[:space:]]}
    local own=(-df_help -df_version -df_dry_run -df_check -df_check=json -df_transfer_test= -df_batch=)
    # the config keys, each as -df_KEY=
    local keys=(ffmpeg_bin= ffprobe_bin= server_work_path= loglevel= segment_frames=
        keyint_min= keyint_max= job_max_retries= workers= workers_command= workers_refresh= local_slots= host_key_check=
        fallback_local= stall_timeout= resume= work_dir=)
    local words=() reply=() k

    if [[ $cur == -df_*=* ]]; then
        local key=${cur%%=*} value=${cur#*=}
        key=${key#-df_}
        case $key in
            check) words=(json) ;;
            loglevel) words=(ERROR WARNING INFO DEBUG TRACE) ;;
            host_key_check) words=(strict accept-new) ;;
            local_slots) words=(auto 0 1 2 4 8) ;;
            fallback_local | resume) words=(true false) ;;
            workers) words=('[]') ;;
            ffmpeg_bin | ffprobe_bin)
                mapfile -t words < <({ compgen -c -- "$value"; compgen -f -- "$value"; } | awk '!seen[$0]++')
                ;;
            server_work_path | work_dir)
                mapfile -t words < <(compgen -d -- "$value")
                ;;
            transfer_test|batch)
                mapfile -t words < <(compgen -f -- "$value")
                ;;
        esac
        local w
        for w in "${words[@]}"; do
            [[ $w == "$value"* ]] || continue
            # a directory gets its slash and no space, as file completion does
            if [[ $key == transfer_test || $key == batch || $key == *_bin || $key == *work_* ]] && [[ -d $w ]]; then
                w+=/
            fi
            reply+=("-df_$key=$w")
        done
    elif [[ $cur == -* && $cur != -[^d]* ]]; then
        for k in "${own[@]}" "${keys[@]/#/-df_}"; do
            [[ $k == "$cur"* ]] && reply+=("$k")
        done
    fi

    if ((${#reply[@]})); then
        # bash replaces only the text after the last word-break character (=, :): strip the
        # part before it from each candidate
        local i=${#cur}
        while ((i > 0)) && [[ $COMP_WORDBREAKS != *"${cur:i-1:1}"* ]]; do
            ((i--))
        done
        COMPREPLY=("${reply[@]#"${cur:0:i}"}")
        local r
        for r in "${reply[@]}"; do
            if [[ $r == *= || $r == */ ]]; then
                compopt -o nospace 2>/dev/null
                break
            fi
        done
        return 0
    fi
    [[ $cur == -df_* ]] && return 0

    # anything else: ffmpeg's own completion when one is loaded, else file names
    local spec
    spec=$(complete -p ffmpeg 2>/dev/null)
    if [[ -z $spec ]] && declare -F _comp_load >/dev/null; then
        _comp_load ffmpeg >/dev/null 2>&1 && spec=$(complete -p ffmpeg 2>/dev/null)
    elif [[ -z $spec ]] && declare -F _completion_loader >/dev/null; then
        _completion_loader ffmpeg >/dev/null 2>&1
        spec=$(complete -p ffmpeg 2>/dev/null)
    fi
    if [[ $spec =~ [[:space:]]-F[[:space:]]+([^[:space:]]+) && ${BASH_REMATCH[1]} != _distrffmpeg &&
        ${BASH_REMATCH[1]} != _minimal && ${BASH_REMATCH[1]} != _comp_complete_minimal ]]; then
        "${BASH_REMATCH[1]}" ffmpeg "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        return
    fi
    COMPREPLY=() # -o default: file names
}

complete -o bashdefault -o default -F _distrffmpeg distrffmpeg
