#!/usr/bin/env bash
# distrffmpeg benchmark: builds release, generates its media, starts loopback sshd workers
# (each in its own CPU-limited cgroup), measures overhead, scaling, the host's share of the CPU,
# the distribution tax (4 half-CPU workers against plain ffmpeg on the same 2 cores), planning /
# first dispatch,
# transfer, size and quality (whole clip, and the worst one-second window against a single
# encode), and host memory, and drives the scheduling core with a simulated
# clock (sim: makespan against the lower bound, core CPU per chunk, fairness of two jobs);
# prints one table and writes BENCHMARKS.md.
#
#   bash bench/run.sh                 # everything (about 100 minutes on 2 cores)
#   BENCH_ONLY="overhead transfer" bash bench/run.sh
#
# Environment: BENCH_DIR (media and scratch, default /tmp/distrffmpeg-bench), BENCH_ONLY (a
# subset of: overhead fixed batch windows scaling host tax hetero links long transfer sim), BENCH_REPEAT (back-to-back plain/ours pairs per
# overhead figure, median reported, default 5), BENCH_SCALING_REPEAT (T1 runs, each between two
# T4 runs, median reported, default 2), BENCH_LONG_MIN (length of the long input in minutes,
# default 60), BENCH_HOST_REPEAT (T4 runs of the host CPU row, default 3), BENCH_TAX_REPEAT (pairs of the
# distribution tax row, default 3), BENCH_OUT (where the table goes, default BENCHMARKS.md in the repository),
# DISTRFFMPEG (a binary to measure instead of building this checkout).
# Needs root for the cgroup CPU quotas (cgroup v1 cpu.cfs_quota_us, or v2 cpu.max) and, for
# "links", network namespaces and tc (iproute2).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BENCH_DIR:-/tmp/distrffmpeg-bench}
ONLY=${BENCH_ONLY:-overhead fixed batch windows scaling host tax hetero links long transfer sim}
REPEAT=${BENCH_REPEAT:-5}
SCALING_REPEAT=${BENCH_SCALING_REPEAT:-2}
LONG_MIN=${BENCH_LONG_MIN:-60}
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
NWORK=4
QUOTA=50000 # µs of CPU per 100000 µs period: 0.5 CPU per worker
mkdir -p "$B/home/.ssh" "$B/out"
source "$ROOT/bench/lib.sh"

want() { [[ " $ONLY " == *" $1 "* ]]; }

# ---------------------------------------------------------------- build and media
if [[ -z "${DISTRFFMPEG:-}" ]]; then
    (cd "$ROOT" && cargo build --release --locked -q)
    DISTRFFMPEG=$ROOT/target/release/distrffmpeg
fi
log "binary: $DISTRFFMPEG ($("$DISTRFFMPEG" -version 2>/dev/null | tail -1))"
real_runs() { for s in overhead fixed batch windows scaling host tax hetero links long transfer; do want "$s" && return 0; done; return 1; }
if real_runs; then
    make_media
    # ------------------------------------------------------------ workers
    start_workers
    trap stop_workers EXIT
fi

ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); log "$1: $2 ($3; target $4)"; }

X264=(-c:v libx264 -preset fast -c:a aac)
SVT=(-c:v libsvtav1 -preset 10 -c:a aac)

# ---------------------------------------------------------------- 1. overhead (+ 5. quality)
if want overhead; then
    write_config local1 '"local_slots": 1, "workers": []'
    for codec in x264 svt; do
        if [[ $codec == x264 ]]; then args=("${X264[@]}"); ext=mkv; else args=("${SVT[@]}"); ext=mkv; fi
        # plain and ours run back to back, and each pair's ratio is taken: the machine's speed
        # drifts by up to 15 % from one minute to the next, which a pair measured back to back
        # mostly shares; which of the two runs first alternates, so that a drift within the
        # pairs does not favour either; the median pair is reported
        pairs=() plains=() ourss=()
        plain_run() {
            measure ffmpeg -nostdin -v error -y -i "$B/clip720.mp4" "${args[@]}" "$B/out/plain-$codec.$ext"
            plains+=("$T")
        }
        ours_run() {
            measure env DISTRFFMPEG_CONFIG="$B/local1.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin \
                -v error -y -i "$B/clip720.mp4" "${args[@]}" "$B/out/ours-$codec.$ext"
            ourss+=("$T")
        }
        for ((r = 0; r < REPEAT; r++)); do
            if ((r % 2 == 0)); then plain_run; ours_run; else ours_run; plain_run; fi
            pairs+=("$(ratio "${ourss[-1]}" "${plains[-1]}")")
        done
        name=$([[ $codec == x264 ]] && echo "x264 -preset fast" || echo "SVT-AV1 -preset 10")
        row "Overhead, $name, 60 s 720p, 1 local slot" "$(median "${pairs[@]}")×" \
            "median of $REPEAT back-to-back pairs, order alternating (each ours/plain: $(join "${pairs[@]}")); plain $(join "${plains[@]}") s, distrffmpeg $(join "${ourss[@]}") s" "≤ 1.05×"
        quality "$B/out/plain-$codec.$ext" "$B/out/ours-$codec.$ext" "$B/clip720.mp4"
        row "Size, $name, chunked vs single encode" "$(pct "$SIZE_OURS" "$SIZE_PLAIN")" \
            "$SIZE_OURS vs $SIZE_PLAIN bytes" "≤ +2 %"
        row "Quality, $name, chunked vs single" "SSIM $(delta "$SSIM_OURS" "$SSIM_PLAIN")" \
            "SSIM $SSIM_OURS vs $SSIM_PLAIN, PSNR $PSNR_OURS vs $PSNR_PLAIN dB" "±0.002 SSIM"
    done
fi

# ---------------------------------------------------------------- 1b. per-job fixed cost
# A short job (the bench clip's first 5 s) on 2 SSH workers at a full CPU each against plain
# ffmpeg on the same 2 cores: what connecting, probing, splitting, checking and joining cost
# where the encode itself is short. Pairs back to back, order alternating, median reported.
if want fixed; then
    ffmpeg -nostdin -v error -y -i "$B/clip720.mp4" -t 5 -c copy "$B/clip5.mp4"
    write_config w2 "\"local_slots\": 0, \"workers\": [$(worker_json 1), $(worker_json 2)]"
    for i in 1 2; do set_quota "$i" 100000; done
    pairs=() plains=() ourss=()
    plain5() { measure ffmpeg -nostdin -v error -y -i "$B/clip5.mp4" "${X264[@]}" "$B/out/plain5.mkv"; plains+=("$T"); }
    ours5() {
        measure env DISTRFFMPEG_CONFIG="$B/w2.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin -v error -y \
            -i "$B/clip5.mp4" "${X264[@]}" "$B/out/ours5.mkv"
        ourss+=("$T")
    }
    for ((r = 0; r < REPEAT; r++)); do
        if ((r % 2 == 0)); then plain5; ours5; else ours5; plain5; fi
        pairs+=("$(ratio "${ourss[-1]}" "${plains[-1]}")")
    done
    same_frames "$B/out/plain5.mkv" "$B/out/ours5.mkv"
    for ((i = 1; i <= NWORK; i++)); do set_quota "$i" "$QUOTA"; done
    row "Per-job fixed cost, 5 s 720p x264 fast, 2 SSH workers (1 CPU each) vs plain ffmpeg (2 cores), no agent" \
        "$(median "${pairs[@]}")×" \
        "median of $REPEAT back-to-back pairs, order alternating (each ours/plain: $(join "${pairs[@]}")); plain $(join "${plains[@]}") s, distrffmpeg $(join "${ourss[@]}") s" "≤ 1.10× (with a warm agent)"
fi

# ---------------------------------------------------------------- 1c. batch efficiency
# 12 clips of 10 to 32 s (640x360, cut from the bench clip at different starts) on the 4
# workers at 0.5 CPU each. The ideal is the clips' single encodes (each timed in one worker's
# cgroup, 4 at a time, one per worker) summed over the 4 slots; -df_batch and a shell loop of
# standalone runs are set against it.
if want batch; then
    batch_media
    write_config w4 "\"local_slots\": 0, \"workers\": [$(worker_json 1), $(worker_json 2), $(worker_json 3), $(worker_json 4)]"
    X264B=(-c:v libx264 -preset fast -c:a aac)
    rm -f "$B/batch/single.times"
    lanes=()
    for ((lane = 1; lane <= NWORK; lane++)); do
        (
            for ((c = lane; c <= 12; c += NWORK)); do
                t0=$(date +%s.%N)
                # into the worker's cgroup first, then ffmpeg with its argv as it is
                sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "${CGROUPS[$((lane - 1))]}" \
                    ffmpeg -nostdin -v error -y -i "$B/batch/c$c.mp4" "${X264B[@]}" "$B/out/single$c.mkv"
                awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }' >>"$B/batch/single.times"
            done
        ) &
        lanes+=($!)
    done
    wait "${lanes[@]}" # not the workers' sshd, which are children too
    work=$(awk '{ s += $1 } END { printf "%.2f", s }' "$B/batch/single.times")
    ideal=$(awk -v w="$work" -v n="$NWORK" 'BEGIN { printf "%.2f", w / n }')
    rm -f "$B/batch/jobs.txt"
    for ((c = 1; c <= 12; c++)); do
        # shell words, as -df_batch reads them
        printf '%q ' -nostdin -v error -y -i "$B/batch/c$c.mp4" "${X264B[@]}" "$B/out/batch$c.mkv" >>"$B/batch/jobs.txt"
        echo >>"$B/batch/jobs.txt"
    done
    loop12() {
        for ((c = 1; c <= 12; c++)); do
            DISTRFFMPEG_CONFIG="$B/w4.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin -v error -y \
                -i "$B/batch/c$c.mp4" "${X264B[@]}" "$B/out/loop$c.mkv" || return 1
        done
    }
    measure loop12
    T_LOOP=$T
    measure env DISTRFFMPEG_CONFIG="$B/w4.json" HOME="$B/home" "$DISTRFFMPEG" -df_batch="$B/batch/jobs.txt"
    T_BATCH=$T
    for ((c = 1; c <= 12; c++)); do
        same_frames "$B/out/single$c.mkv" "$B/out/batch$c.mkv"
        same_frames "$B/out/single$c.mkv" "$B/out/loop$c.mkv"
    done
    row "Batch efficiency, 12 clips of 10–32 s (360p, x264 fast + aac) on 4 SSH workers (0.5 CPU each)" \
        "$(ratio "$ideal" "$T_BATCH") of ideal with -df_batch, $(ratio "$ideal" "$T_LOOP") for a shell loop" \
        "ideal $ideal s (single encodes, $work s of work over 4 slots); -df_batch $T_BATCH s, loop of standalone runs $T_LOOP s" "≥ 0.90"
fi

# ---------------------------------------------------------------- 5b. quality per second
# The chunked encode against the single encode, one second at a time: the window where the
# chunked one falls furthest below, per encoder, on the bench clip and on a clip of long static
# scenes (a chunk that starts inside a static scene passes its first keyframe's quality on to
# the whole scene). 4 local slots cut the input as 4 workers do.
if want windows; then
    static_media
    write_config local4 '"local_slots": 4, "workers": []'
    for clip in clip720 static720; do
        for codec in x264 x265 svt; do
            case $codec in
            x264) args=(-c:v libx264 -preset fast) name="x264 -preset fast (CRF 23)" ;;
            x265) args=(-c:v libx265 -preset veryfast) name="x265 -preset veryfast (CRF 28)" ;;
            svt) args=(-c:v libsvtav1 -preset 10 -crf 35) name="SVT-AV1 -preset 10 -crf 35" ;;
            esac
            ffmpeg -nostdin -v error -y -i "$B/$clip.mp4" -an "${args[@]}" "$B/out/wplain.mkv"
            env DISTRFFMPEG_CONFIG="$B/local4.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin -v error -y \
                -i "$B/$clip.mp4" -an "${args[@]}" "$B/out/wours.mkv"
            same_frames "$B/out/wplain.mkv" "$B/out/wours.mkv"
            worst_window "$B/out/wplain.mkv" "$B/out/wours.mkv" "$B/$clip.mp4" 30
            chunks=$(DISTRFFMPEG_CONFIG="$B/local4.json" HOME="$B/home" "$DISTRFFMPEG" -df_dry_run -nostdin -y \
                -i "$B/$clip.mp4" -an "${args[@]}" "$B/out/wours.mkv" 2>&1 | sed -n 's/.* in \([0-9]*\) chunks.*/\1/p' | head -1)
            row "Worst 1 s window, $name, $clip, chunked vs single" "PSNR ${WW[0]} dB, SSIM ${WW[4]}" \
                "PSNR $WORST_PSNR; SSIM $WORST_SSIM; size $(pct "$(video_bytes "$B/out/wours.mkv")" "$(video_bytes "$B/out/wplain.mkv")"); $chunks chunks" \
                "≥ −0.5 dB, ≥ −0.002"
        done
    done
fi

# ---------------------------------------------------------------- 2. scaling
# One T4 run (the bench clip on the 4 half-CPU workers): T and the host's CPU (distrffmpeg with
# its local ffmpeg/ffprobe runs), WCPU the workers' own (their cgroups: encodes and sshd), and
# HOSTPCT the host's share of all the CPU the job used.
t4_run() {
    local w0
    w0=$(workers_cpu)
    measure env DISTRFFMPEG_CONFIG="$B/w4.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin -v error -y \
        -i "$B/clip720.mp4" "${X264[@]}" "$B/out/w4.mkv"
    WCPU=$(awk -v a="$w0" -v b="$(workers_cpu)" 'BEGIN { printf "%.1f", b - a }')
    HOSTPCT=$(awk -v h="$CPU" -v w="$WCPU" 'BEGIN { printf "%.2f", 100 * h / (h + w) }')
}

if want scaling; then
    write_config w1 "\"local_slots\": 0, \"workers\": [$(worker_json 1)]"
    write_config w4 "\"local_slots\": 0, \"workers\": [$(worker_json 1), $(worker_json 2), $(worker_json 3), $(worker_json 4)]"
    # T1 and T4 alternate (T4 T1 T4 T1 T4 ...) and each T1 is set against the mean of the T4
    # runs on either side of it: a drift of the machine's speed during T1 that is linear in
    # time cancels. With SCALING_REPEAT T1 runs the efficiencies are reported with their median.
    t4_run
    t4s=("$T") cpus=("$CPU") t1s=() effs=()
    rss_short=$RSS
    for ((r = 0; r < SCALING_REPEAT; r++)); do
        measure env DISTRFFMPEG_CONFIG="$B/w1.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin -v error -y \
            -i "$B/clip720.mp4" "${X264[@]}" "$B/out/w1.mkv"
        t1s+=("$T")
        t4_run
        t4s+=("$T") cpus+=("$CPU")
        rss_short=$((RSS > rss_short ? RSS : rss_short))
        effs+=("$(awk -v t1="${t1s[-1]}" -v a="${t4s[-2]}" -v b="${t4s[-1]}" 'BEGIN { printf "%.3f", t1 / (2 * (a + b)) }')")
    done
    same_frames "$B/out/w1.mkv" "$B/out/w4.mkv"
    # the 4 half-CPU workers fill both cores, so the host's own work (splitting, checking,
    # the final mux, SSH encryption) is taken from them
    row "Scaling, 1 → 4 SSH workers (0.5 CPU each), x264 fast 60 s 720p" \
        "efficiency $(median "${effs[@]}")" \
        "median of $SCALING_REPEAT (T1 / 4·T4, each T1 against the T4 runs either side: $(join "${effs[@]}")); T1 $(join "${t1s[@]}") s, T4 $(join "${t4s[@]}") s in run order; host CPU during T4 $(median "${cpus[@]}") s (distrffmpeg with its local ffmpeg/ffprobe runs) on the 2 cores the workers share" "≥ 0.90"
fi

# ---------------------------------------------------------------- 2b. host CPU
# The host's share of the CPU a distributed job uses, from BENCH_HOST_REPEAT T4 runs (the bench clip
# is one minute of output, so its host seconds are per minute of output).
if want host; then
    write_config w4 "\"local_slots\": 0, \"workers\": [$(worker_json 1), $(worker_json 2), $(worker_json 3), $(worker_json 4)]"
    cpus=() wcpus=() pcts=()
    for ((r = 0; r < ${BENCH_HOST_REPEAT:-3}; r++)); do
        t4_run
        cpus+=("$CPU") wcpus+=("$WCPU") pcts+=("$HOSTPCT")
    done
    row "Host CPU, 4 SSH workers (0.5 CPU each), x264 fast 60 s 720p" \
        "$(median "${pcts[@]}") % of all CPU used" \
        "per T4 run, the host (distrffmpeg and its local ffmpeg/ffprobe) against the workers' cgroups: host $(join "${cpus[@]}") s, workers $(join "${wcpus[@]}") s, host share $(join "${pcts[@]}") %; the clip is 1 min of output, so host seconds are per minute of output" "≤ 2 %"
fi

# ---------------------------------------------------------------- 2c. the distribution tax
# The same CPU on both sides: the 60 s job with Opus audio on the 4 half-CPU SSH workers (2 CPUs
# in all) against plain ffmpeg on the machine's 2 cores, pairs back to back, order alternating,
# median reported. The ratio splits into two factors: the CPU both runs used (distrffmpeg's: the
# host's and the workers' cgroups) and how busy each kept the 2 CPUs (CPU over 2·wall time).
if want tax; then
    write_config w4 "\"local_slots\": 0, \"workers\": [$(worker_json 1), $(worker_json 2), $(worker_json 3), $(worker_json 4)]"
    TAX=(-c:v libx264 -preset fast -c:a libopus)
    pairs=() plains=() ourss=() pcpus=() ocpus=() pbusy=() obusy=()
    plain_tax() {
        measure ffmpeg -nostdin -v error -y -i "$B/clip720.mp4" "${TAX[@]}" "$B/out/plain-tax.mkv"
        plains+=("$T") pcpus+=("$CPU")
        pbusy+=("$(awk -v c="$CPU" -v t="$T" 'BEGIN { printf "%.3f", c / (2 * t) }')")
    }
    ours_tax() {
        local w0 all
        w0=$(workers_cpu)
        measure env DISTRFFMPEG_CONFIG="$B/w4.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin -v error -y \
            -i "$B/clip720.mp4" "${TAX[@]}" "$B/out/ours-tax.mkv"
        all=$(awk -v a="$w0" -v b="$(workers_cpu)" -v h="$CPU" 'BEGIN { printf "%.1f", b - a + h }')
        ourss+=("$T") ocpus+=("$all")
        obusy+=("$(awk -v c="$all" -v t="$T" 'BEGIN { printf "%.3f", c / (2 * t) }')")
    }
    for ((r = 0; r < ${BENCH_TAX_REPEAT:-3}; r++)); do
        if ((r % 2 == 0)); then plain_tax; ours_tax; else ours_tax; plain_tax; fi
        pairs+=("$(ratio "${ourss[-1]}" "${plains[-1]}")")
    done
    same_frames "$B/out/plain-tax.mkv" "$B/out/ours-tax.mkv"
    row "Distribution tax, x264 fast + libopus 60 s 720p, 4 SSH workers (0.5 CPU each) vs plain ffmpeg (2 cores)" \
        "$(median "${pairs[@]}")×" \
        "median of ${BENCH_TAX_REPEAT:-3} back-to-back pairs, order alternating (each ours/plain: $(join "${pairs[@]}")); plain $(join "${plains[@]}") s, distrffmpeg $(join "${ourss[@]}") s; CPU used (host and workers) $(join "${ocpus[@]}") s against plain's $(join "${pcpus[@]}") s; the 2 CPUs busy $(join "${obusy[@]}") against $(join "${pbusy[@]}")" "≤ 1.05×"
fi

# ---------------------------------------------------------------- 2a. unequal workers
# 4 workers at 1.0, 0.5, 0.25 and 0.25 CPU (2 CPUs in all): the ideal time is the job's work
# over the sum of their speeds, i.e. the same job on the 1.0-CPU worker alone, halved. The first
# job knows nothing of the workers (the learned speeds are removed first); the second one runs
# with the speeds the first one measured. T_one runs between them.
if want hetero; then
    write_config one "\"local_slots\": 0, \"workers\": [$(worker_json 1)]"
    write_config mix "\"local_slots\": 0, \"workers\": [$(worker_json 1), $(worker_json 2), $(worker_json 3), $(worker_json 4)]"
    for q in "1 100000" "2 50000" "3 25000" "4 25000"; do set_quota $q; done
    rm -f "$B/home/.cache/distrffmpeg/worker-speeds.json"
    mixed() {
        measure env DISTRFFMPEG_CONFIG="$B/$1.json" HOME="$B/home" XDG_CACHE_HOME="$B/home/.cache" \
            "$DISTRFFMPEG" -nostdin -v error -y -i "$B/clip720.mp4" "${X264[@]}" "$B/out/$1.mkv"
    }
    mixed mix
    t_first=$T
    mixed one
    t_one=$T
    mixed mix
    t_learned=$T
    same_frames "$B/out/one.mkv" "$B/out/mix.mkv"
    for ((i = 1; i <= NWORK; i++)); do set_quota "$i" "$QUOTA"; done
    eff() { awk -v o="$t_one" -v m="$1" 'BEGIN { printf "%.3f", o / 2 / m }'; }
    row "Unequal workers, 4 SSH workers at 1.0, 0.5, 0.25, 0.25 CPU, x264 fast 60 s 720p" \
        "efficiency $(eff "$t_first") first job, $(eff "$t_learned") with learned speeds" \
        "ideal = T_one / 2 (the 1.0-CPU worker alone, over the sum of the speeds); in run order: T_mix ${t_first} s (no speeds known), T_one ${t_one} s, T_mix ${t_learned} s (speeds learned by the first)" "≥ 0.90"
fi

# ---------------------------------------------------------------- 2b. links
# The same 4-worker job with each worker behind a shaped link (its own network namespace,
# tc tbf both ways) at 1 Gbit/s and at 100 Mbit/s, between two runs on loopback: what the
# transfers cost, side by side.
if want links; then
    write_config w4 "\"local_slots\": 0, \"workers\": [$(worker_json 1), $(worker_json 2), $(worker_json 3), $(worker_json 4)]"
    start_link_workers 1gbit
    write_config l4 "\"local_slots\": 0, \"workers\": [$(link_worker_json 1), $(link_worker_json 2), $(link_worker_json 3), $(link_worker_json 4)]"
    four() {
        measure env DISTRFFMPEG_CONFIG="$B/$1.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin -v error -y \
            -i "$B/clip720.mp4" "${X264[@]}" "$B/out/$1.mkv"
    }
    four w4
    t_lo1=$T
    four l4
    t_gbit=$T
    for ((i = 1; i <= NWORK; i++)); do set_link_rate "$i" 100mbit; done
    four l4
    t_100=$T
    four w4
    t_lo=$(awk -v a="$t_lo1" -v b="$T" 'BEGIN { printf "%.2f", (a + b) / 2 }')
    same_frames "$B/out/l4.mkv" "$B/clip720.mp4"
    row "Transfers over shaped links, 4 SSH workers (0.5 CPU each), x264 fast 60 s 720p" \
        "T4 $(ratio "$t_gbit" "$t_lo")× at 1 Gbit/s, $(ratio "$t_100" "$t_lo")× at 100 Mbit/s, of T4 on loopback" \
        "T4 ${t_gbit} s at 1 Gbit/s, ${t_100} s at 100 Mbit/s, ${t_lo} s on loopback (${t_lo1} s before, ${T} s after); each worker's sshd in its own network namespace behind a veth pair shaped by tc tbf in both directions; the job moves 168 MB up and about 140 MB down" "—"
fi

# ---------------------------------------------------------------- 3 + 6. long input
if want long; then
    write_config w4 "\"local_slots\": 0, \"workers\": [$(worker_json 1), $(worker_json 2), $(worker_json 3), $(worker_json 4)]"
    LONG_ARGS=(-c:v libx264 -preset ultrafast -vf scale=640:-2 -c:a copy)
    measure ffprobe -v error -select_streams v:0 -show_entries packet=pts,dts,duration,flags \
        -of csv=p=0 -o /dev/null "$B/long.mp4"
    t_index=$T
    measure ffmpeg -nostdin -v error -y -i "$B/long.mp4" -map 0:v -c copy -f nut /dev/null
    t_copy=$T
    measure env DISTRFFMPEG_CONFIG="$B/w4.json" HOME="$B/home" "$DISTRFFMPEG" -nostdin -y \
        -df_loglevel=DEBUG -i "$B/long.mp4" "${LONG_ARGS[@]}" "$B/out/long.mkv"
    t_long=$T
    rss_long=$RSS
    read -r packets read_s planned plan_s < <(awk '/timing: packet index/ {
        for (i = 1; i <= NF; i++) { if ($i == "of") p = $(i+1); if ($i == "in" && !r) r = $(i+1);
        if ($i == "planned") c = $(i+1); } s = $NF; } END { sub("s,", "", r); sub("s", "", s);
        print p, r, c, s }' "$ERR")
    first=$(awk '/timing: chunk .* dispatched/ { sub("s", "", $NF); print $NF; exit }' "$ERR")
    split_by_then=$(awk '/timing: chunk .* split in/ { n++ } /timing: chunk .* dispatched/ { print n + 0; exit }' "$ERR")
    row "Planning, ${LONG_MIN} min 1080p ($packets packets, $planned chunks)" "${plan_s}s" \
        "after reading the packet index in ${read_s}s (ffprobe alone ${t_index}s)" "≤ 0.5 s"
    row "First chunk dispatched, ${LONG_MIN} min 1080p" "${first}s after start" \
        "$split_by_then of $planned chunks split by then (a stream copy of the whole input takes ${t_copy}s); whole job ${t_long}s on 4 workers" \
        "before the split ends"
    frames_long=$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets \
        -of csv=p=0 "$B/out/long.mkv")
    row "Host memory (peak RSS of distrffmpeg)" "$((rss_long / 1024)) MB for ${LONG_MIN} min" \
        "${rss_short:+$((rss_short / 1024)) MB for 60 s; }$frames_long frames written" "≤ 100 MB, flat"
fi

# ---------------------------------------------------------------- 4. transfer
if want transfer; then
    write_config tr "\"local_slots\": 0, \"workers\": [$(worker_json 0)]"
    [[ -s $B/500M.bin ]] || head -c 500000000 /dev/urandom >"$B/500M.bin"
    SCP=(scp -q -P "${PORTS[0]}" -i "$B/home/.ssh/id_ed25519" -o "UserKnownHostsFile=$B/home/.ssh/known_hosts"
        -o StrictHostKeyChecking=yes -o BatchMode=yes)
    mkdir -p "$B/work0"
    measure "${SCP[@]}" "$B/500M.bin" "$USER_NAME@127.0.0.1:$B/work0/scp.bin"
    scp_up=$(awk -v t="$T" 'BEGIN{printf "%.1f", 500/t}')
    measure "${SCP[@]}" "$USER_NAME@127.0.0.1:$B/work0/scp.bin" "$B/out/scp-back.bin"
    scp_down=$(awk -v t="$T" 'BEGIN{printf "%.1f", 500/t}')
    rm -f "$B/work0/scp.bin" "$B/out/scp-back.bin"
    lines=$(DISTRFFMPEG_CONFIG="$B/tr.json" HOME="$B/home" "$DISTRFFMPEG" -df_transfer_test="$B/500M.bin")
    up=$(awk '$1 == "upload" { print $3 }' <<<"$lines")
    down=$(awk '$1 == "download" { print $3 }' <<<"$lines")
    row "Transfer up, SFTP vs scp, 500 MB loopback" "$(awk -v a="$up" -v b="$scp_up" 'BEGIN{printf "%.0f %%", 100*a/b}')" \
        "$up vs $scp_up MB/s" "≥ 80 %"
    row "Transfer down, SFTP vs scp, 500 MB loopback" "$(awk -v a="$down" -v b="$scp_down" 'BEGIN{printf "%.0f %%", 100*a/b}')" \
        "$down vs $scp_down MB/s" "≥ 80 %"
fi

# ---------------------------------------------------------------- 7. scheduling core, simulated
if want sim; then
    # the pure core (schedule::core) under a simulated clock: each encode takes its chunk's
    # cost ±15 % that no estimate foresees; progress is reported as a worker's would be
    (cd "$ROOT" && cargo build --release --locked -q --example schedule_sim)
    SIM=$ROOT/target/release/examples/schedule_sim
    one=$("$SIM" 64 4 1)
    log "$one"
    ratio=$(sed -n 's/.* ratio=\([0-9.]*\).*/\1/p' <<<"$one")
    us=$(sed -n 's/.* core_us_per_chunk=\([0-9.]*\).*/\1/p' <<<"$one")
    row "Scale, scheduling core simulated: 64 workers × 4 slots, 1 h input" "makespan ${ratio}× the lower bound, ${us} µs core CPU per chunk" \
        "$(sed 's/|/\\|/g' <<<"$one")" "≤ 1.05×, < 1 ms per chunk"
    for m in mixed mixed-known; do
        out=$("$SIM" 64 4 1 "$m")
        log "$out"
        eval "r_${m//-/_}=$(sed -n 's/.* ratio=\([0-9.]*\).*/\1/p' <<<"$out")"
    done
    row "Scale, unequal workers simulated: 64 workers × 4 slots at 1, 0.5, 0.25, 0.25 speed, 1 h input" \
        "makespan ${r_mixed}× the lower bound with no speeds known, ${r_mixed_known}× with learned speeds" \
        "lower bound: the work over the sum of the speeds, or the dearest chunk on the fastest worker" "—"
    two=$("$SIM" 64 4 2)
    log "$two"
    spread=$(sed -n 's/.*spread \([0-9.]*\) %.*/\1/p' <<<"$two")
    row "Fairness, two equal 1 h jobs started together (simulated, 64 workers × 4 slots)" "finish ${spread} % apart" \
        "$(tr '\n' ' ' <<<"$two")" "≤ 10 %"
fi

write_table
