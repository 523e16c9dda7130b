//! The ffmpeg command lines distrffmpeg runs, built as argv vectors by pure functions: SPLIT
//! (stream-copy one chunk's source packets into a NUT file), ENCODE (a worker encodes exactly
//! the chunk's frames), and FINAL (join the chunks and mux them with the other streams under
//! the user's own options).

use crate::cli::argv::{CmdLine, Opt};
use crate::job::{classify, JobSpec};
use crate::plan::sync::SyncMode;
use crate::plan::Chunk;
use crate::probe::Packet;
use crate::rational::{format_us, rescale_q, Rational, MICROS};

/// How chunk files shift timestamps so that none is negative (NUT cannot store them): the
/// split adds `split_us`, the worker subtracts `worker_us`, and the worker's frames end up with
/// exactly the timestamps plain ffmpeg's filter graph sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// `-itsoffset` for the split (the job's ts_offset plus the bias).
    pub split_us: i64,
    /// `-itsoffset` for the worker (minus the bias).
    pub worker_us: i64,
    /// The bias in stream ticks.
    pub bias_ticks: i64,
    /// The job's ts_offset in stream ticks (what plain ffmpeg adds to every packet).
    pub offset_ticks: i64,
}

/// A microsecond value that ffmpeg rescales to exactly `ticks` in `tb`.
pub fn us_for_ticks(ticks: i64, tb: Rational) -> i64 {
    let u = rescale_q(ticks, tb, MICROS);
    (0..=4)
        .flat_map(|d| [u - d, u + d])
        .find(|&c| rescale_q(c, MICROS, tb) == ticks)
        .unwrap_or(u)
}

impl Shift {
    /// The bias is a whole number of seconds that is a whole number of ticks, larger than any
    /// negative timestamp a source can reach.
    pub fn new(tb: Rational, ts_offset_us: i64) -> Shift {
        let bias_s = 100_000 * tb.num.max(1);
        let bias_us = bias_s * 1_000_000;
        let bias_ticks = rescale_q(bias_us, MICROS, tb);
        let offset_ticks = rescale_q(ts_offset_us, MICROS, tb);
        Shift {
            split_us: us_for_ticks(offset_ticks + bias_ticks, tb),
            worker_us: -bias_us,
            bias_ticks,
            offset_ticks,
        }
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn push_opts(v: &mut Vec<String>, opts: &[Opt]) {
    for o in opts {
        v.extend(o.tokens());
    }
}

/// SPLIT: copies packets `first..=last` (decode order) of the source video into `out` (NUT).
pub fn split(
    job: &JobSpec,
    src: &str,
    c: &Chunk,
    packets: &[Packet],
    shift: &Shift,
    tb: Rational,
    out: &str,
) -> Vec<String> {
    let key_ticks = packets[c.first_packet].pts;
    let shifted = key_ticks + rescale_q(shift.split_us, MICROS, tb);
    // -ss + -itsoffset must land exactly on the keyframe so the copy starts there.
    let ss = us_for_ticks(shifted, tb) - shift.split_us;
    let mut v = s(&["-nostdin", "-hide_banner", "-v", "error", "-y"]);
    push_opts(&mut v, &job.demux_opts);
    v.extend(s(&["-copyts", "-seek_timestamp", "1", "-ss"]));
    v.push(format_us(ss));
    v.push("-itsoffset".into());
    v.push(format_us(shift.split_us));
    v.push("-i".into());
    v.push(src.to_string());
    v.extend(s(&["-map"]));
    v.push(format!("0:{}", job.src_stream));
    v.extend(s(&["-c", "copy", "-frames:v"]));
    v.push(c.packets().to_string());
    v.extend(s(&["-avoid_negative_ts", "disabled", "-f", "nut"]));
    v.push(out.to_string());
    v
}

/// Frames a worker decodes before the chunk's first frame (mid-GOP start, open-GOP leading
/// pictures, edit-list discards) must be trimmed: the largest source pts among them, if any.
pub fn pre_roll(c: &Chunk, packets: &[Packet], first_src_pts: i64) -> Option<i64> {
    packets[c.first_packet..=c.last_packet]
        .iter()
        .map(|p| p.pts)
        .filter(|&pts| pts < first_src_pts)
        .max()
}

/// The worker's input `-ss` for a start trim: a point strictly between the last pre-roll frame
/// and the first frame (so both time bases agree), in the worker's filter time, minus the chunk
/// file's start time (ffmpeg adds it back under -copyts).
pub fn start_trim_us(
    prev_src: i64,
    first_src: i64,
    offset_ticks: i64,
    tb: Rational,
    file_start_us: i64,
) -> i64 {
    let sum = (prev_src + first_src + 2 * offset_ticks) as i128;
    let half_mid_us = (sum * tb.num as i128 * 1_000_000).div_euclid(2 * tb.den as i128);
    half_mid_us as i64 + 1 - file_start_us
}

/// ENCODE: the worker's command, reading `input` (the chunk's NUT file) and writing `output`.
pub fn encode(
    job: &JobSpec,
    c: &Chunk,
    shift: &Shift,
    start_trim: Option<i64>,
    input: &str,
    output: &str,
) -> Vec<String> {
    let mut v = s(&[
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-y",
        "-nostats",
        "-progress",
        "pipe:1",
    ]);
    push_opts(&mut v, &job.decode_opts);
    v.extend(s(&["-copyts", "-itsoffset"]));
    v.push(format_us(shift.worker_us));
    if let Some(ss) = start_trim {
        v.push("-ss".into());
        v.push(format_us(ss));
    }
    v.push("-i".into());
    v.push(input.to_string());
    v.extend(s(&["-map", "0:v:0"]));
    if let Some(f) = &job.filter {
        v.push("-vf".into());
        v.push(f.clone());
    }
    push_opts(&mut v, &job.encode_opts);
    if !job.encode_opts.iter().any(|o| o.is("r")) {
        v.push("-r".into());
        v.push(job.frame_rate.to_string());
    }
    match c.worker_mode {
        SyncMode::Vscfr => {}
        SyncMode::Cfr => v.extend(s(&["-fps_mode", "cfr"])),
        SyncMode::Vfr => v.extend(s(&["-fps_mode", "vfr"])),
        SyncMode::Passthrough => v.extend(s(&["-fps_mode", "passthrough"])),
    }
    if let Some(ss) = job.timing.out_ss_us {
        v.push("-ss".into());
        v.push(format_us(ss));
    }
    v.push("-frames:v".into());
    v.push(c.out_count().to_string());
    if let Some(ts) = mov_timescale(job) {
        // Edit lists are written in the movie timescale: make it the track's so the chunk's
        // start survives exactly.
        v.push("-movie_timescale".into());
        v.push(ts.to_string());
    }
    v.push("-f".into());
    v.push(job.muxer.name.to_string());
    v.push(output.to_string());
    v
}

/// The video track timescale the mov muxer picks for the encoder time base (mp4 family only).
pub fn mov_timescale(job: &JobSpec) -> Option<i64> {
    if !matches!(job.muxer.name, "mp4" | "mov" | "ipod") {
        return None;
    }
    let mut ts = job.sync.enc_tb.den;
    while ts < 10_000 {
        ts *= 2;
    }
    Some(ts)
}

/// The ffconcat list joining the encoded chunks: each entry but the last carries its exact
/// duration (the next chunk's start minus its own), so no timestamp is guessed.
pub fn concat_list(files: &[(String, i64)]) -> String {
    let mut t = String::from("ffconcat version 1.0\n");
    for (i, (path, start)) in files.iter().enumerate() {
        t.push_str(&format!("file '{}'\n", path.replace('\'', r"'\''")));
        if let Some((_, next)) = files.get(i + 1) {
            t.push_str(&format!("duration {}\n", format_us(next - start)));
        }
    }
    t
}

/// FINAL: the user's command with the encoded video replaced by the joined chunks.
pub fn final_mux(job: &JobSpec, list: &str, itsoffset_us: i64, tmp_out: &str) -> Vec<String> {
    let cmd: &CmdLine = &job.cmd;
    let mut v = s(&["-nostdin", "-hide_banner", "-v", "error", "-y"]);
    for g in &cmd.globals {
        if !matches!(
            g.name(),
            "y" | "n"
                | "stats"
                | "stdin"
                | "hide_banner"
                | "loglevel"
                | "v"
                | "progress"
                | "report"
        ) {
            v.extend(g.tokens());
        }
    }
    for inp in &cmd.inputs {
        push_opts(&mut v, &inp.opts);
        v.push("-i".into());
        v.push(inp.url.clone());
    }
    let concat = cmd.inputs.len();
    v.extend(s(&["-f", "concat", "-safe", "0", "-itsoffset"]));
    v.push(format_us(itsoffset_us));
    v.push("-i".into());
    v.push(list.to_string());
    let out = &cmd.outputs[0];
    for o in &out.opts {
        let role = classify::output_role(o);
        if o.is("map") || role == classify::OutRole::Filter || o.is("f") {
            continue;
        }
        v.extend(o.tokens());
    }
    for (i, os) in job.out_streams.iter().enumerate() {
        v.push("-map".into());
        if i == job.video_out {
            v.push(format!("{concat}:0"));
        } else {
            v.push(format!("{}:{}", os.file, os.stream));
        }
    }
    let vi = job.video_out;
    v.extend([
        format!("-c:{vi}"),
        "copy".into(),
        format!("-r:{vi}"),
        job.frame_rate.to_string(),
    ]);
    for (i, d) in dispositions(job) {
        v.extend([format!("-disposition:{i}"), d]);
    }
    v.push("-f".into());
    v.push(job.muxer.name.to_string());
    v.push(tmp_out.to_string());
    v
}

/// `-disposition` options that give every output stream the disposition plain ffmpeg gives it.
/// The joined chunks carry none, so the video's must be set explicitly; setting one disables
/// ffmpeg's automatic "first of each type is default" rule, which is then applied here.
pub fn dispositions(job: &JobSpec) -> Vec<(usize, String)> {
    let out = &job.cmd.outputs[0];
    let views = crate::cli::mapping::out_views(&job.out_streams);
    let user_sets = |i: usize| {
        crate::cli::mapping::last_matching(&out.opts, &["disposition"], &views, i)
            .ok()
            .flatten()
            .is_some()
    };
    let flags = |o: &crate::cli::mapping::OutStream| -> String {
        if o.disposition.is_empty() {
            "0".into()
        } else {
            o.disposition.join("+")
        }
    };
    let manual = (0..views.len()).any(user_sets);
    if manual {
        // ffmpeg copies input dispositions, then applies the user's; only the video's copy is lost.
        let vi = job.video_out;
        return if user_sets(vi) {
            vec![]
        } else {
            vec![(vi, flags(&job.out_streams[vi]))]
        };
    }
    let mut d: Vec<Vec<String>> = job
        .out_streams
        .iter()
        .map(|o| o.disposition.clone())
        .collect();
    let kinds: Vec<_> = job.out_streams.iter().map(|o| o.kind).collect();
    for (i, o) in job.out_streams.iter().enumerate() {
        let same: Vec<usize> = (0..kinds.len()).filter(|&j| kinds[j] == o.kind).collect();
        let has_default = same.iter().any(|&j| d[j].iter().any(|f| f == "default"));
        if same.len() < 2 || has_default || o.attached_pic {
            continue;
        }
        d[i].push("default".into());
    }
    job.out_streams
        .iter()
        .zip(d)
        .enumerate()
        .map(|(i, (o, flagsv))| {
            let o = crate::cli::mapping::OutStream {
                disposition: flagsv,
                ..o.clone()
            };
            (i, flags(&o))
        })
        .collect()
}

#[cfg(test)]
mod tests;
