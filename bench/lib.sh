# Helpers for bench/run.sh: media generation, CPU-limited loopback sshd workers, timing with
# peak-RSS sampling, quality metrics, the table. Sourced, not run.
# shellcheck shell=bash

USER_NAME=$(id -un)
unset SSH_AUTH_SOCK
PORTS=()
PIDS=()
CGROUPS=()
ACCTS=() # per cgroup, its cpuacct twin where cpuacct is mounted apart (cgroup v1), else empty

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# measure CMD...: runs CMD with stderr in $ERR; sets T (wall seconds), CPU (user + system
# seconds of CMD and the processes it waited for, e.g. its local ffmpeg and ffprobe runs) and
# RSS (peak kB of the process itself: children are not counted). The peak is the kernel's
# high-water mark, read every 0.1 s with shell builtins only, so that watching costs no CPU
# that the workers being measured would miss.
measure() {
    ERR=$B/out/stderr-$(date +%s%N).log
    local start end pid k v rest cpu0 tick
    RSS=0
    children_cpu >"$B/out/cpu0"
    cpu0=$(<"$B/out/cpu0")
    start=$(date +%s.%N)
    "$@" 2>"$ERR" &
    pid=$!
    exec {tick}<> <(:) # an idle pipe: `read -t` on it sleeps without starting a process
    while kill -0 "$pid" 2>/dev/null; do
        while read -r k v rest; do
            [[ $k == VmHWM: ]] && RSS=$v
        done <"/proc/$pid/status" 2>/dev/null || true
        read -rt 0.1 -u "$tick" || true
    done
    exec {tick}>&-
    if ! wait "$pid"; then
        tail -5 "$ERR" >&2
        die "failed: $*"
    fi
    end=$(date +%s.%N)
    T=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    children_cpu >"$B/out/cpu1"
    CPU=$(awk -v a="$cpu0" -v b="$(<"$B/out/cpu1")" 'BEGIN { printf "%.1f", b - a }')
}

# children_cpu: user + system seconds of every child this shell has waited for (bash `times`,
# run in this shell: a subshell would count its own children only).
children_cpu() {
    times >"$B/out/times"
    awk 'NR == 2 {
        s = 0
        for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] }
        printf "%.2f", s
    }' "$B/out/times"
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? a : b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f %%", 100 * (a - b) / b }'; }
# median X...: the middle value (the mean of the two middle ones for an even count)
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
join() { local IFS=/; printf '%s' "$*"; }
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.4f", a - b }'; }

video_bytes() {
    ffprobe -v error -select_streams v:0 -show_entries packet=size -of csv=p=0 "$1" |
        awk '{ s += $1 } END { print s }'
}

frames() {
    ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets \
        -of csv=p=0 "$1"
}

same_frames() {
    local a b
    a=$(frames "$1") b=$(frames "$2")
    [[ $a == "$b" ]] || die "$1 has $a frames, $2 has $b"
}

# ssim_psnr FILE SOURCE: prints "SSIM PSNR" of FILE's video against SOURCE's.
# Frames are paired by their index (setpts=N on both sides, the bench clips are 30 fps):
# matroska's millisecond timestamps and an mp4's ticks of the same frame differ by a rounding,
# which the filters' timestamp sync would turn into pairs one frame apart.
ALIGN="settb=1/30,setpts=N"
ssim_psnr() {
    ffmpeg -nostdin -hide_banner -i "$1" -i "$2" -lavfi \
        "[0:v]$ALIGN,split[a0][a1];[1:v]$ALIGN,split[b0][b1];[a0][b0]ssim;[a1][b1]psnr" \
        -fps_mode passthrough -f null - 2>&1 |
        awk '/SSIM Y:/ { for (i = 1; i <= NF; i++) if ($i ~ /^All:/) { sub("All:", "", $i); s = $i } }
             /PSNR y:/ { for (i = 1; i <= NF; i++) if ($i ~ /^average:/) { sub("average:", "", $i); p = $i } }
             END { print s, p }'
}

# quality PLAIN OURS SOURCE: sets SIZE_*, SSIM_*, PSNR_* for the single and the chunked encode.
quality() {
    SIZE_PLAIN=$(video_bytes "$1")
    SIZE_OURS=$(video_bytes "$2")
    read -r SSIM_PLAIN PSNR_PLAIN < <(ssim_psnr "$1" "$3")
    read -r SSIM_OURS PSNR_OURS < <(ssim_psnr "$2" "$3")
}

# frame_stats FILE SOURCE PREFIX: per-frame stats of FILE's video against SOURCE's, paired by
# frame index, in PREFIX.psnr and PREFIX.ssim (the filters' stats_file formats).
frame_stats() {
    ffmpeg -nostdin -v error -i "$1" -i "$2" -lavfi \
        "[0:v]$ALIGN,split[a0][a1];[1:v]$ALIGN,split[b0][b1];[a0][b0]psnr=stats_file=$3.psnr;[a1][b1]ssim=stats_file=$3.ssim" \
        -fps_mode passthrough -f null -
}

# worst_window PLAIN OURS SOURCE FPS: the one-second window where OURS falls furthest below
# PLAIN (bench/windows.py); sets WORST_PSNR ("delta at_s plain ours") and WORST_SSIM alike.
worst_window() {
    frame_stats "$1" "$3" "$B/out/ww-plain"
    frame_stats "$2" "$3" "$B/out/ww-ours"
    local w
    w=$(python3 "$ROOT/bench/windows.py" "$4" "$B/out/ww-plain.psnr" "$B/out/ww-ours.psnr" \
        "$B/out/ww-plain.ssim" "$B/out/ww-ours.ssim")
    read -r -a WW <<<"$w"
    WORST_PSNR="${WW[0]} dB at ${WW[1]} s (${WW[2]} → ${WW[3]} dB)"
    WORST_SSIM="${WW[4]} at ${WW[5]} s (${WW[6]} → ${WW[7]})"
}

# static_media: 30 s of 720p30 in three long static or slowly changing scenes, where a chunk's
# first keyframe decides the quality of the frames that follow it.
static_media() {
    [[ -s $B/static720.mp4 ]] && return
    log "generating 30 s of 720p30 in three static scenes"
    local s="s=1280x720:r=30" f="format=yuv420p,setsar=1"
    ffmpeg -nostdin -v error -y -filter_complex "\
testsrc2=$s:d=1,trim=end_frame=1,loop=loop=299:size=1,setpts=N/30/TB,$f[a];\
mandelbrot=$s:end_pts=2000,trim=duration=10,$f[b];\
cellauto=$s:rule=110,trim=duration=10,$f[c];\
[a][b][c]concat=n=3:v=1:a=0[v]" -map "[v]" -c:v libx264 -preset veryfast -crf 18 "$B/static720.tmp.mp4"
    mv "$B/static720.tmp.mp4" "$B/static720.mp4"
}

make_media() {
    if [[ ! -s $B/clip720.mp4 ]]; then
        log "generating 60 s of 720p30 with six scenes and stereo audio"
        local s="s=1280x720:r=30" f="format=yuv420p,setsar=1"
        ffmpeg -nostdin -v error -y -filter_complex "\
testsrc2=$s:d=10,$f[a];\
life=$s:mold=10:ratio=0.5:death_color=#003020:life_color=#ffcc00,trim=duration=10,$f[b];\
gradients=$s:speed=0.02:d=10,$f[c];\
cellauto=$s:rule=110,trim=duration=10,$f[d];\
testsrc=$s:d=10,hue=H=2*PI*t,$f[e];\
smptehdbars=$s:d=10,noise=alls=30:allf=t,$f[g];\
[a][b][c][d][e][g]concat=n=6:v=1:a=0[v];\
sine=f=330:sample_rate=48000:d=60,aformat=channel_layouts=stereo[au]" \
            -map "[v]" -map "[au]" -c:v libx264 -preset veryfast -crf 20 -c:a aac -b:a 128k \
            "$B/clip720.tmp.mp4"
        mv "$B/clip720.tmp.mp4" "$B/clip720.mp4"
    fi
    if [[ ! -s $B/long.mp4 || ! -e $B/long.$LONG_MIN ]]; then
        log "generating $LONG_MIN min of 1080p30 by stream-copy looping a 60 s encode"
        ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=1920x1080:r=30" \
            -f lavfi -i "sine=f=220:sample_rate=48000" -t 60 -c:v libx264 -preset ultrafast \
            -b:v 1M -c:a aac -b:a 96k "$B/c1080.mp4"
        ffmpeg -nostdin -v error -y -stream_loop $((LONG_MIN - 1)) -i "$B/c1080.mp4" -c copy \
            "$B/long.tmp.mp4"
        mv "$B/long.tmp.mp4" "$B/long.mp4"
        rm -f "$B"/long.[0-9]*
        touch "$B/long.$LONG_MIN"
    fi
}

# batch_media: 12 clips of 10 to 32 s in 640x360 (c1.mp4 … c12.mp4 under $B/batch), cut from
# the bench clip at different starts, so that each mixes different scenes.
batch_media() {
    mkdir -p "$B/batch"
    [[ -s $B/batch/c12.mp4 ]] && return
    log "generating 12 clips of 10 to 32 s in 360p"
    local c len start
    for ((c = 1; c <= 12; c++)); do
        len=$((8 + 2 * c)) start=$(((c * 7) % (60 - 8 - 2 * c)))
        ffmpeg -nostdin -v error -y -ss "$start" -t "$len" -i "$B/clip720.mp4" -vf scale=640:360 \
            -c:v libx264 -preset veryfast -crf 20 -g 60 -c:a aac -b:a 128k "$B/batch/c$c.tmp.mp4"
        mv "$B/batch/c$c.tmp.mp4" "$B/batch/c$c.mp4"
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Sets CG to a new cgroup limited to QUOTA µs of CPU per 100 ms: cgroup v1 (cpu.cfs_quota_us)
# or v2 (cpu.max).
make_cgroup() {
    local name=$1 dir
    ACG=
    if [[ -d /sys/fs/cgroup/cpu && -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
        dir=/sys/fs/cgroup/cpu/$name
        mkdir -p "$dir"
        echo 100000 >"$dir/cpu.cfs_period_us"
        echo "$QUOTA" >"$dir/cpu.cfs_quota_us"
        # cpuacct mounted apart from cpu: a twin group there counts the CPU used (workers_cpu)
        if [[ -f /sys/fs/cgroup/cpuacct/cpuacct.usage && ! -f $dir/cpuacct.usage ]]; then
            ACG=/sys/fs/cgroup/cpuacct/$name
            mkdir -p "$ACG"
        fi
    elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
        dir=/sys/fs/cgroup/$name
        mkdir -p "$dir"
        echo "$QUOTA 100000" >"$dir/cpu.max"
    else
        die "no cgroup cpu controller found under /sys/fs/cgroup"
    fi
    CGROUPS+=("$dir")
    ACCTS+=("$ACG")
    CG=$dir
}

# CPU seconds the worker cgroups have used so far (cgroup v2 cpu.stat, v1 cpuacct.usage).
workers_cpu() {
    local i d total=0 k v
    for i in "${!CGROUPS[@]}"; do
        d=${CGROUPS[$i]}
        if [[ -n ${ACCTS[$i]} ]]; then
            total=$((total + $(<"${ACCTS[$i]}/cpuacct.usage") / 1000))
        elif [[ -f $d/cpuacct.usage ]]; then
            total=$((total + $(<"$d/cpuacct.usage") / 1000))
        elif [[ -f $d/cpu.stat ]]; then
            while read -r k v; do [[ $k == usage_usec ]] && total=$((total + v)); done <"$d/cpu.stat"
        fi
    done
    awk -v u="$total" 'BEGIN { printf "%.2f", u / 1e6 }'
}

# set_quota I QUOTA: worker I's cgroup gets QUOTA µs of CPU per 100 ms.
set_quota() {
    local dir=${CGROUPS[$(($1 - 1))]}
    if [[ -f $dir/cpu.cfs_quota_us ]]; then
        echo "$2" >"$dir/cpu.cfs_quota_us"
    else
        echo "$2 100000" >"$dir/cpu.max"
    fi
}

# write_sshd_config DIR PORT ADDRESS: a throwaway sshd's config (host key and authorized_keys
# in DIR).
write_sshd_config() {
    cat >"$1/sshd_config" <<EOF
Port $2
ListenAddress $3
HostKey $1/hostkey
PidFile $1/pid
AuthorizedKeysFile $1/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxSessions 64
MaxStartups 64
AllowUsers $USER_NAME
LogLevel ERROR
EOF
}

# Waits (up to 5 s) until HOST:PORT accepts a TCP connection.
wait_port() {
    for _ in $(seq 100); do
        (echo >"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.05
    done
}

# Worker 0 is unconstrained (transfer test); workers 1..NWORK run in 0.5-CPU cgroups.
start_workers() {
    [[ $(id -u) == 0 ]] || die "run as root: the workers' CPU quotas need cgroups"
    local sshd=/usr/sbin/sshd known="" i dir port
    [[ -x $sshd ]] || die "sshd is missing: apt-get install -y openssh-server"
    mkdir -p /run/sshd
    [[ -s $B/home/.ssh/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N "" -f "$B/home/.ssh/id_ed25519"
    for ((i = 0; i <= NWORK; i++)); do
        dir=$B/sshd$i
        mkdir -p "$dir" "$B/work$i"
        [[ -s $dir/hostkey ]] || ssh-keygen -q -t ed25519 -N "" -f "$dir/hostkey"
        cp "$B/home/.ssh/id_ed25519.pub" "$dir/authorized_keys"
        port=$(free_port)
        write_sshd_config "$dir" "$port" 127.0.0.1
        if ((i == 0)); then
            "$sshd" -D -e -f "$dir/sshd_config" 2>>"$B/sshd.log" &
        else
            make_cgroup "distrffmpeg-bench-w$i"
            sh -c "echo \$\$ > $CG/cgroup.procs && ${ACG:+echo \$\$ > $ACG/cgroup.procs &&} exec $sshd -D -e -f $dir/sshd_config" 2>>"$B/sshd.log" &
        fi
        PIDS+=($!)
        PORTS+=("$port")
        known+="[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/hostkey.pub")"$'\n'
    done
    printf '%s' "$known" >"$B/home/.ssh/known_hosts"
    for port in "${PORTS[@]}"; do
        wait_port 127.0.0.1 "$port"
    done
    log "workers on ports ${PORTS[*]} (1..$NWORK limited to $((QUOTA / 1000))% of a CPU each)"
}

# Workers behind shaped links: NWORK more sshd, each in its own network namespace (a veth pair,
# 10.77.I.2 on the worker's side, 10.77.I.1 on ours) and its own 0.5-CPU cgroup, both
# directions of each link limited by tc tbf to RATE (e.g. 1gbit, 100mbit; set_link_rate
# changes it).
NETNS=()
start_link_workers() {
    local sshd=/usr/sbin/sshd known="" i ns dir
    for ((i = 1; i <= NWORK; i++)); do
        ns=dffbench$i
        ip netns del "$ns" 2>/dev/null || true
        ip link del "dffh$i" 2>/dev/null || true
        ip netns add "$ns"
        NETNS+=("$ns")
        ip link add "dffh$i" type veth peer name "dffw$i"
        ip link set "dffw$i" netns "$ns"
        ip addr add "10.77.$i.1/24" dev "dffh$i"
        ip link set "dffh$i" up
        ip netns exec "$ns" ip addr add "10.77.$i.2/24" dev "dffw$i"
        ip netns exec "$ns" ip link set "dffw$i" up
        ip netns exec "$ns" ip link set lo up
        set_link_rate "$i" "$1"
        dir=$B/lsshd$i
        mkdir -p "$dir" "$B/lwork$i"
        [[ -s $dir/hostkey ]] || ssh-keygen -q -t ed25519 -N "" -f "$dir/hostkey"
        cp "$B/home/.ssh/id_ed25519.pub" "$dir/authorized_keys"
        write_sshd_config "$dir" 22 "10.77.$i.2"
        make_cgroup "distrffmpeg-bench-l$i"
        # into the cgroup first: inside the namespace /sys is the namespace's own
        sh -c "echo \$\$ > $CG/cgroup.procs && exec ip netns exec $ns $sshd -D -e -f $dir/sshd_config" \
            2>>"$B/sshd.log" &
        PIDS+=($!)
        known+="10.77.$i.2 $(cut -d' ' -f1,2 "$dir/hostkey.pub")"$'\n'
    done
    printf '%s' "$known" >>"$B/home/.ssh/known_hosts"
    for ((i = 1; i <= NWORK; i++)); do
        wait_port "10.77.$i.2" 22
    done
    log "workers behind $1 links at 10.77.1-$NWORK.2"
}

# set_link_rate I RATE: both directions of link worker I's link.
set_link_rate() {
    tc qdisc replace dev "dffh$1" root tbf rate "$2" burst 1mb latency 50ms
    ip netns exec "dffbench$1" tc qdisc replace dev "dffw$1" root tbf rate "$2" burst 1mb latency 50ms
}

link_worker_json() {
    printf '{"host": "10.77.%s.2", "work_path": "%s", "platform": "Linux", "params": {"port": 22, "timeout": 10}}' \
        "$1" "$B/lwork$1"
}

stop_workers() {
    local p d
    for p in "${PIDS[@]}"; do
        pkill -KILL -P "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    for d in "${CGROUPS[@]}" "${ACCTS[@]}"; do
        [[ -n $d ]] || continue
        for _ in 1 2 3 4 5; do rmdir "$d" 2>/dev/null && break; sleep 0.2; done
    done
    for d in "${NETNS[@]}"; do
        ip netns del "$d" 2>/dev/null || true
    done
}

worker_json() {
    printf '{"host": "127.0.0.1", "work_path": "%s", "platform": "Linux", "params": {"port": %s, "timeout": 10}}' \
        "$B/work$1" "${PORTS[$1]}"
}

write_config() {
    printf '{"loglevel": "INFO", %s}\n' "$2" >"$B/$1.json"
}

write_table() {
    local cpu mem commit table
    cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
    mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    table=$(printf '%s\n' "| Measure | Result | Detail | Target |" "|---|---|---|---|" "${ROWS[@]}")
    printf '\n%s\n' "$table"
    # a hand-written "## History" section at the end of the file survives a rerun
    local history=""
    [[ -f $OUT ]] && history=$(sed -n '/^## History/,$p' "$OUT")
    cat >"$OUT" <<EOF
# Benchmarks

Written by \`bash bench/run.sh\` (sections: $ONLY) on $(date -u +%Y-%m-%d) at commit $commit.

Machine: $cpu, $(nproc) cores, $mem, $(uname -sr); $(ffmpeg -version | head -1 | cut -d' ' -f1-3).
Workers: $NWORK loopback sshd, each in its own cgroup limited to $((QUOTA / 1000)) % of one CPU
(the transfer test uses a fifth, unlimited one). Inputs: 60 s of 720p30 x264 (six scenes, stereo
AAC, $(($(stat -c %s "$B/clip720.mp4" 2>/dev/null || echo 0) / 1000000)) MB) and $LONG_MIN min of 1080p30 made by
stream-copy looping a 60 s encode. Every figure is measured side by side in the same run; the
overhead figures are the median of $REPEAT back-to-back pairs, the scaling figure the median of
$SCALING_REPEAT T1 runs each set against the T4 runs either side (see README).

$table
EOF
    [[ -n $history ]] && printf '\n%s\n' "$history" >>"$OUT"
    log "table written to $OUT"
}
