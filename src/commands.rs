//! The ffmpeg command lines distrffmpeg runs, built as argv vectors by pure functions: SPLIT
//! (stream-copy one chunk's source packets into a NUT file), ENCODE (a worker encodes exactly
//! the chunk's frames), AUDIO (the encoded audio, early, see `audio`), and FINAL (join the
//! chunks and mux them with the other streams under the user's own options).

use crate::cli::argv::Opt;
use crate::job::JobSpec;
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

/// SPLIT: copies packets `first..=last` (decode order) of the source video into `out` (NUT),
/// and lists the first of them on stdout (framecrc: its time base and timestamps).
/// `seek`: the input is opened at the chunk's keyframe; without it, a chunk that starts at the
/// source's first packet is read from the start (some demuxers cannot seek to their first
/// keyframe: flv without an index says "could not seek" and reads on from where probing left
/// off).
pub fn split(
    job: &JobSpec,
    src: &str,
    (c, packets): (&Chunk, &[Packet]),
    shift: &Shift,
    tb: Rational,
    out: &str,
    seek: bool,
) -> Vec<String> {
    let key_ticks = packets[c.first_packet].pts;
    let shifted = key_ticks + rescale_q(shift.split_us, MICROS, tb);
    // -ss + -itsoffset must land exactly on the keyframe so the copy starts there.
    let ss = us_for_ticks(shifted, tb) - shift.split_us;
    let mut v = s(&["-nostdin", "-hide_banner", "-v", "error", "-y"]);
    push_opts(&mut v, &job.demux_opts);
    v.push("-copyts".into());
    if seek {
        v.extend(s(&["-seek_timestamp", "1", "-ss"]));
        v.push(format_us(ss));
    }
    v.push("-itsoffset".into());
    v.push(format_us(shift.split_us));
    v.push("-i".into());
    v.push(src.to_string());
    // -copypriorss 0: drop what precedes the keyframe when the seek lands early.
    let copy = |v: &mut Vec<String>, frames: String, muxer: &str, out: &str| {
        v.extend(["-map".into(), format!("0:{}", job.src_stream)]);
        v.extend(s(&["-c", "copy", "-copypriorss", "0", "-frames:v"]));
        v.push(frames);
        v.extend(s(&["-avoid_negative_ts", "disabled", "-f", muxer, out]));
    };
    copy(&mut v, c.packets().to_string(), "nut", out);
    // The same first packet, listed on stdout: the split's own check, with no ffprobe.
    copy(&mut v, "1".into(), "framecrc", "pipe:1");
    v
}

/// Whether a chunk's worker needs its split file's start time: where frames precede the
/// chunk's first in the file (`chunk_trim`).
pub fn needs_file_start(c: &Chunk, packets: &[Packet], shift: &Shift) -> bool {
    pre_roll(c, packets, c.chain_first_pts() - shift.offset_ticks).is_some()
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

/// A chunk's start trim on the worker's input (`start_trim_us`), where frames precede its
/// first in the chunk file (`pre_roll`); `file_start_us` is the chunk file's start time.
pub fn chunk_trim(
    c: &Chunk,
    packets: &[Packet],
    shift: &Shift,
    tb: Rational,
    file_start_us: i64,
) -> Option<i64> {
    let first_src = c.chain_first_pts() - shift.offset_ticks;
    pre_roll(c, packets, first_src)
        .map(|prev| start_trim_us(prev, first_src, shift.offset_ticks, tb, file_start_us))
}

/// REMOTE for a chunk of several outputs (`JobSpec::others`): one worker ffmpeg reads the
/// chunk once and writes every output; each output's part of its own `encode` follows the
/// first one's. None when an output's input side (everything up to its `-i`) differs from
/// the first's.
pub fn shared_encode(encodes: &[Vec<String>]) -> Option<Vec<String>> {
    let input_side = |v: &[String]| v.iter().position(|a| a == "-i").map(|i| i + 2);
    let (first, rest) = encodes.split_first()?;
    let at = input_side(first)?;
    let mut v = first.clone();
    for e in rest {
        if input_side(e) != Some(at) || e[..at] != first[..at] {
            return None;
        }
        v.extend_from_slice(&e[at..]);
    }
    Some(v)
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

/// The `trim` after the user's chain that drops the outputs of a chunk's context frames
/// (temporal filters): its start and end lie strictly between the last context frame and the
/// chunk's first frame, and between the chunk's last frame and the first context frame after.
fn context_trim(job: &JobSpec, c: &Chunk) -> Option<String> {
    let mid = |a: i64, b: i64| format_us(start_trim_us(a, b, 0, job.sync.filter_tb, 0));
    let start = c
        .context
        .before
        .map(|(_, prev)| format!("start={}", mid(prev, c.first_pts)));
    let end = c
        .context
        .after
        .map(|(last, next)| format!("end={}", mid(last, next)));
    let opts: Vec<String> = start.into_iter().chain(end).collect();
    (!opts.is_empty()).then(|| format!("trim={}", opts.join(":")))
}

/// The filters that make a worker keep exactly plain ffmpeg's frames at plain ffmpeg's pts
/// when its frame-rate logic drops frames (`Chunk::explicit_drops`): a `select` that drops
/// them, and a `setpts` that gives each kept frame its encoder pts (plus the output `-ss`,
/// which the encoder subtracts), rounded to the filter time base, for `-fps_mode passthrough`.
fn explicit_timing(job: &JobSpec, c: &Chunk) -> Vec<String> {
    let Some(drops) = &c.explicit_drops else {
        return Vec::new();
    };
    let mut v = Vec::new();
    if !drops.is_empty() {
        let terms: Vec<String> = drops.iter().map(|i| format!("eq(n,{i})")).collect();
        v.push(format!("select='not({})'", terms.join("+")));
    }
    let Some(&first) = c.out_pts.first() else {
        return v;
    };
    let mut ticks = format!("{first}+N");
    for (j, w) in c.out_pts.windows(2).enumerate() {
        let jump = w[1] - w[0] - 1;
        if jump != 0 {
            ticks.push_str(&format!("+{jump}*gte(N,{})", j + 1));
        }
    }
    let tb = job.sync.enc_tb;
    let ss = format_us(job.timing.out_ss_us.unwrap_or(0));
    v.push(format!(
        "setpts='floor((({ticks})*{}/{}+{ss})/TB+0.5)'",
        tb.num, tb.den
    ));
    v
}

/// The worker's files for one encode: the chunk's NUT file, the encoded chunk, the two-pass
/// log's prefix and a still image the graph lays over the video (`JobSpec::overlay`).
#[derive(Debug, Clone, Copy)]
pub struct EncodeFiles<'a> {
    pub input: &'a str,
    pub output: &'a str,
    pub passlog: Option<&'a str>,
    pub image: Option<&'a str>,
    /// The worker's copies of the files the chain reads (`JobSpec::aux_names`' order).
    pub aux: &'a [String],
}

/// The subtitle stream of a matroska file that a burn-in reads (its `stream`th, or the only
/// one) and the file's attachments (fonts), copied into a file of their own for the workers
/// (`job::burnin::Carry::Extract`): the same packets at the same times, codec header and font
/// tags.
pub fn extract_subtitles(src: &str, stream: Option<i64>, out: &str) -> Vec<String> {
    // (-copyts: the events keep their times, which the input's start would otherwise shift;
    // files with events before zero, which matroska would shift, pass through)
    let mut v = s(&[
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-y",
        "-copyts",
        "-i",
    ]);
    v.push(src.to_string());
    v.extend(["-map".to_string(), format!("0:s:{}", stream.unwrap_or(0))]);
    v.extend(s(&["-map", "0:t?", "-c", "copy", "-f", "matroska"]));
    v.push(out.to_string());
    v
}

/// The encode options with libx265's own pass and a statistics file of the chunk's
/// (`<log>-x265.log`, beside which x265 writes its `.cutree`) in its `-x265-params`, escaped
/// as `av_dict_parse_string` reads the value.
fn x265_pass_opts(job: &JobSpec, pass: u8, log: &str) -> Vec<Opt> {
    let mut stats = String::new();
    for c in format!("{log}-x265.log").chars() {
        if matches!(c, '\\' | '\'' | ':' | '=') {
            stats.push('\\');
        }
        stats.push(c);
    }
    let ours = format!("pass={pass}:stats={stats}");
    let mut opts = job.encode_opts.clone();
    match opts.iter_mut().rev().find(|o| o.is("x265-params")) {
        Some(o) => o.arg = Some(format!("{}:{ours}", o.arg.as_deref().unwrap_or(""))),
        None => opts.push(Opt::new("x265-params", Some(&ours))),
    }
    opts
}

/// ENCODE: the worker's command, reading the chunk's NUT file and writing the encoded chunk.
pub fn encode(
    job: &JobSpec,
    c: &Chunk,
    shift: &Shift,
    start_trim: Option<i64>,
    files: EncodeFiles,
) -> Vec<String> {
    let EncodeFiles {
        input,
        output,
        passlog,
        image,
        aux,
    } = files;
    // verbose level: the output stream's description with every color property, the chroma
    // location included (see `worker::encoder_color`); each line tagged with its level, so
    // that a failure shows only ffmpeg's error lines (`worker::ffmpeg_errors`)
    let mut v = s(&[
        "-nostdin",
        "-hide_banner",
        "-v",
        "level+verbose",
        "-y",
        "-nostats",
        "-progress",
        "pipe:1",
    ]);
    push_opts(&mut v, &job.decode_opts);
    v.extend(job.src_color.iter().cloned());
    v.extend(s(&["-copyts", "-itsoffset"]));
    v.push(format_us(shift.worker_us));
    if let Some(ss) = start_trim {
        v.push("-ss".into());
        v.push(format_us(ss));
    }
    v.push("-i".into());
    v.push(input.to_string());
    let after: Vec<String> = context_trim(job, c)
        .into_iter()
        .chain(explicit_timing(job, c))
        .collect();
    // where plain ffmpeg's chain input ends (an input -t) before frames this chunk decodes
    let input_end = c.context.input_end.map(|(last, next)| {
        let mid = format_us(start_trim_us(last, next, 0, job.sync.in_tb, 0));
        format!("trim=end={mid}")
    });
    match (&job.overlay, image) {
        (Some(_), None) => unreachable!("an overlay job's encode names the worker's image"),
        (Some(ov), Some(image)) => {
            push_opts(&mut v, &ov.input_opts);
            v.extend(["-i".to_string(), image.to_string()]);
            let graph = overlay_graph(job, ov, input_end.as_deref(), &after);
            v.extend(["-filter_complex".to_string(), graph]);
            v.extend(s(&["-map", "[dfout]"]));
        }
        _ => {
            v.extend(s(&["-map", "0:v:0"]));
            let chain: Vec<String> = (input_end.into_iter())
                .chain(job.worker_filter(aux, c.start))
                .chain(after)
                .collect();
            if !chain.is_empty() {
                v.push("-vf".into());
                v.push(chain.join(","));
            }
        }
    }
    if let Some(e) = job.encoder.as_ref().filter(|_| !job.encoder_named) {
        // the output muxer's default, which is not the chunk container's
        v.extend(["-c:v".to_string(), e.clone()]);
    }
    match (&job.two_pass, passlog) {
        (Some(tp), Some(log)) if tp.x265 => push_opts(&mut v, &x265_pass_opts(job, tp.pass, log)),
        (Some(tp), Some(log)) => {
            push_opts(&mut v, &job.encode_opts);
            v.extend([
                "-pass".to_string(),
                tp.pass.to_string(),
                "-passlogfile".into(),
                log.to_string(),
            ]);
        }
        _ => push_opts(&mut v, &job.encode_opts),
    }
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
    // the frames plain ffmpeg forces, and after a pre-roll the chunk's first frame, by their
    // exact time
    let mut forced = c.forced_keyframes.clone();
    if c.preroll > 0 {
        forced.extend(c.out_pts.first());
        forced.sort_unstable();
        forced.dedup();
    }
    if !forced.is_empty() {
        let times: Vec<String> = (forced.iter())
            .map(|&p| format_us(rescale_q(p, job.sync.enc_tb, MICROS)))
            .collect();
        v.extend(["-force_key_frames".to_string(), times.join(",")]);
    }
    v.push("-frames:v".into());
    v.push((c.out_count() + c.preroll as i64).to_string());
    v.extend(mov_chunk_options(job));
    if job.chunk_format().0 == "mpegts" {
        // the chunk keeps the encoder's timestamps: with B-frames the first chunk's first dts
        // comes before zero, and the muxer would shift that chunk alone (mp4 and mov keep
        // them with an edit list)
        v.extend(s(&["-avoid_negative_ts", "disabled"]));
    }
    v.push("-f".into());
    v.push(job.chunk_format().0.to_string());
    v.push(output.to_string());
    v
}

/// The worker's graph for a still image laid over the video: the input's end, autorotate's
/// filters and the user's filters before the overlay on the chunk, the image's own chain on input 1, the
/// overlay, the user's filters after it and the worker's trims (`after`), out as `[dfout]`.
fn overlay_graph(
    job: &JobSpec,
    ov: &crate::job::graph::Overlay,
    input_end: Option<&str>,
    after: &[String],
) -> String {
    let chain = |parts: Vec<&str>| match parts.join(",") {
        c if c.is_empty() => "null".to_string(),
        c => c,
    };
    let mut main: Vec<&str> = input_end.into_iter().collect();
    main.extend(job.rotation.filters.iter().copied());
    main.extend(ov.pre.iter().map(String::as_str));
    let side = ov.side.iter().map(String::as_str).collect();
    let mut tail: Vec<&str> = vec![ov.filter.as_str()];
    tail.extend(ov.post.iter().map(String::as_str));
    tail.extend(after.iter().map(String::as_str));
    format!(
        "[0:v]{}[dfmain];[1:v]{}[dfimage];[dfmain][dfimage]{}[dfout]",
        chain(main),
        chain(side),
        tail.join(",")
    )
}

/// Whether a chunk's output can be copied home while the worker writes it: the muxer only
/// appends, but for the mp4/mov mdat size it patches near the start at the end (`moov_size`,
/// `movflags` such as faststart or fragments would move or rewrite more).
pub fn followable(format: &str, args: &[String]) -> bool {
    matches!(format, "mp4" | "mov" | "mpegts")
        && !args
            .iter()
            .any(|a| a.starts_with("-movflags") || a.starts_with("-moov_size"))
}

/// Muxer options for mp4/mov chunk files. Edit lists are written in the movie timescale: make
/// it the track's so the chunk's start survives exactly.
fn mov_chunk_options(job: &JobSpec) -> Vec<String> {
    let Some(ts) = mov_timescale(job) else {
        return vec![];
    };
    let mut v = vec!["-movie_timescale".to_string(), ts.to_string()];
    if ts != muxer_timescale(job) {
        v.extend(["-video_track_timescale".to_string(), ts.to_string()]);
    }
    v
}

/// The video track timescale the mov muxer picks for the encoder time base.
fn muxer_timescale(job: &JobSpec) -> i64 {
    let mut ts = job.sync.enc_tb.den;
    while ts < 10_000 {
        ts *= 2;
    }
    ts
}

/// The video track timescale of mp4/mov chunks: the mov muxer's own pick, unless an output
/// `-ss` is not a whole number of its ticks and the output's time base is not the chunks'
/// (matroska, mpegts): the final mux shifts the joined chunks by the `-ss` and subtracts it
/// again when it copies them, which then rounds twice (a 48 fps frame 1 ms early). Then the
/// smallest multiple of the encoder's time base, from 10000 up, that holds the `-ss` exactly.
pub fn mov_timescale(job: &JobSpec) -> Option<i64> {
    if !matches!(job.chunk_format().0, "mp4" | "mov") {
        return None;
    }
    let ts = muxer_timescale(job);
    let ss = job.timing.out_ss_us.unwrap_or(0);
    let own_time_base = matches!(job.muxer.name, "matroska" | "webm" | "mpegts");
    if !own_time_base || (i128::from(ss) * i128::from(ts)) % 1_000_000 == 0 {
        return Some(ts);
    }
    let gcd = |mut a: i64, mut b: i64| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a.abs()
    };
    let den = job.sync.enc_tb.den;
    let q = 1_000_000 / gcd(ss, 1_000_000);
    let step = den / gcd(den, q) * q;
    let exact = step * (10_000 + step - 1).div_euclid(step).max(1);
    Some(if exact <= i64::from(i32::MAX) {
        exact
    } else {
        ts
    })
}

/// The ffconcat list joining the encoded chunks (path, start, whether to read from the start
/// on, past a pre-roll): each entry but the last carries its exact duration (the next chunk's
/// start minus its own), so no timestamp is guessed. A chunk with a pre-roll is read from its
/// first frame (`inpoint`: the demuxer seeks to that IDR, and the file's timestamps are shifted
/// from there as from a file that starts with it).
///
/// An optional declaration file comes first: it only lends the joined stream its properties
/// (frame rate), its one packet is cut by `outpoint` and it takes no time.
pub fn concat_list(declaration: Option<&str>, files: &[(String, i64, bool)]) -> String {
    let mut t = String::from("ffconcat version 1.0\n");
    if let Some(d) = declaration {
        t.push_str(&format!(
            "file '{}'\noutpoint -100000\nduration 0\n",
            d.replace('\'', r"'\''")
        ));
    }
    for (i, (path, start, inpoint)) in files.iter().enumerate() {
        t.push_str(&format!("file '{}'\n", path.replace('\'', r"'\''")));
        if *inpoint {
            t.push_str(&format!("inpoint {}\n", format_us(*start)));
        }
        if let Some((_, next, _)) = files.get(i + 1) {
            t.push_str(&format!("duration {}\n", format_us(next - start)));
        }
    }
    t
}

/// DECLARE: a one-packet copy of the first chunk whose packet lasts exactly one frame, so the
/// mp4 demuxer reports the stream's frame rate as plain ffmpeg's encoder declared it (the
/// joined stream inherits it; matroska writes it as DefaultDuration).
pub fn declaration(job: &JobSpec, first_chunk: &str, frame_ticks: i64, out: &str) -> Vec<String> {
    let mut v = s(&["-nostdin", "-hide_banner", "-v", "error", "-y", "-i"]);
    v.push(first_chunk.to_string());
    v.extend(s(&[
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-frames:v",
        "1",
        "-bsf:v",
    ]));
    v.push(format!("setts=duration={frame_ticks}"));
    v.extend(mov_chunk_options(job));
    v.push("-f".into());
    v.push(job.chunk_format().0.to_string());
    v.push(out.to_string());
    v
}

pub use finalize::{dispositions, final_mux, FinalParts};

pub mod audio;
mod finalize;
mod inputs;
#[cfg(test)]
mod tests;
