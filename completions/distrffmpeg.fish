# fish completion for distrffmpeg(1): its own -df_ options and -df_KEY=VALUE config overrides;
# every other word is completed as for ffmpeg (fish's ffmpeg completions), and file names.
#
# Install: copy to /usr/share/fish/vendor_completions.d/distrffmpeg.fish (system) or
# ~/.config/fish/completions/distrffmpeg.fish (you).
# tests/packaging.rs fails when a config key or an own option is missing here.

complete -c distrffmpeg -w ffmpeg

function __distrffmpeg_df --description 'Complete the -df_ options of distrffmpeg'
    set -l tok (commandline -ct)
    if string match -q -- '-df_*=*' $tok
        set -l key (string replace -r -- '^-df_([^=]*)=.*$' '$1' $tok)
        set -l value (string replace -r -- '^[^=]*=' '' $tok)
        set -l p -df_$key=
        switch $key
            case check
                printf '%s\t%s\n' {$p}json 'as JSON'
            case loglevel
                printf '%s\n' {$p}{ERROR,WARNING,INFO,DEBUG,TRACE}
            case host_key_check
                printf '%s\t%s\n' {$p}strict 'refuse unknown and changed keys' {$p}accept-new 'learn unknown keys'
            case local_slots
                printf '%s\t%s\n' {$p}auto 'cores/8 without workers, 0 with'
            case fallback_local resume
                printf '%s\n' {$p}true {$p}false
            case workers
                printf '%s\t%s\n' {$p}'[]' 'no SSH workers'
            case ffmpeg_bin ffprobe_bin
                printf '%s\n' {$p}(complete -C "$value")
                printf '%s\n' {$p}(__fish_complete_path $value)
            case server_work_path work_dir
                printf '%s\n' {$p}(__fish_complete_directories $value)
            case transfer_test batch
                printf '%s\n' {$p}(__fish_complete_path $value)
        end
        return
    end
    printf '%s\t%s\n' \
        -df_help 'Print the own options and exit' \
        -df_version 'Print the version of distrffmpeg and exit' \
        -df_dry_run 'Print the plan and the commands, run nothing' \
        -df_check 'Check the configured workers and exit' \
        -df_check= 'Check the workers (=json for JSON)' \
        -df_transfer_test= 'SFTP throughput to every worker, with this file' \
        -df_batch= 'Run each line of this file as a job' \
        -df_ffmpeg_bin= 'The local ffmpeg' \
        -df_ffprobe_bin= 'The local ffprobe' \
        -df_server_work_path= 'Remote work path of workers without work_path' \
        -df_loglevel= 'ERROR, WARNING, INFO, DEBUG or TRACE' \
        -df_segment_frames= 'Target chunk length in frames' \
        -df_keyint_min= 'Shortest chunk in frames' \
        -df_keyint_max= 'Longest chunk in frames' \
        -df_job_max_retries= 'Retries of a failed chunk' \
        -df_workers= 'The SSH workers as JSON ([] = local only)' \
        -df_workers_command= 'A command that prints more workers as JSON' \
        -df_workers_refresh= 'Seconds between reads of workers_command while a job runs' \
        -df_local_slots= 'Local encoder slots (a number or auto)' \
        -df_host_key_check= 'strict or accept-new' \
        -df_fallback_local= 'Encode locally when every worker is lost' \
        -df_stall_timeout= 'Seconds without progress before a chunk moves' \
        -df_resume= 'Keep finished chunks for a rerun' \
        -df_work_dir= 'Where local job dirs go'
end

complete -c distrffmpeg -n 'string match -q -- "-d*" (commandline -ct)' -f -a '(__distrffmpeg_df)'
