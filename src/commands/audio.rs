//! AUDIO: the encoded audio streams of a matroska/webm output, encoded locally while the workers
//! encode the video, into an intermediate matroska file the final mux then copies — which
//! streams qualify, the command, and what the final mux needs to make the copy exact.

use super::s;
use crate::cli::argv::Opt;
use crate::cli::mapping::{alias, last_matching, out_views};
use crate::cli::spec::Spec;
use crate::job::{classify, JobSpec};
use crate::probe::MediaKind;
use crate::rational::{rescale_q, Rational};

/// Audio encoders whose packets survive the matroska round trip exactly (tested against plain
/// ffmpeg: timestamps, durations, data, codec delay); vorbis loses its last packet's duration
/// in a way the final mux cannot restore.
const ENCODERS: &[&str] = &["aac", "flac"];

/// Added to every timestamp of the intermediate file so that none is negative (matroska
/// would otherwise shift them all): whole seconds, so it is exact in every time base.
pub const BIAS_S: i64 = 100_000;

/// Output options that make the audio depend on the video or on the final mux, or that the
/// copy would apply a second time.
const BLOCKING: &[&str] = &[
    "shortest",
    "apad",
    "map_channel",
    "aframes",
    "frames",
    "bsf",
    "absf",
    "disposition",
    "output_ts_offset",
    "filter_script",
    "attach",
];

/// Global options that change how the final mux shifts its inputs.
const BLOCKING_GLOBAL: &[&str] = &["copyts", "start_at_zero", "copytb"];

/// The audio streams of an output that can be encoded early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyAudio {
    /// Every audio stream of the output (output indices, in order): the intermediate file
    /// holds them all, so type-relative specifiers (`-c:a:1`) select the same streams there.
    pub audio: Vec<usize>,
    /// Which of them are encoded (the rest are copies the final mux takes from the source).
    pub encoded: Vec<usize>,
}

/// What the final mux needs from a finished AUDIO run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDone {
    pub path: String,
    /// `-itsoffset` for the intermediate input: its start time minus the bias, so that its
    /// packets come back with exactly the timestamps the encoder gave them.
    pub itsoffset_us: i64,
    pub streams: Vec<DoneStream>,
}

/// One encoded stream of the intermediate file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoneStream {
    /// Output index in the final file.
    pub out: usize,
    /// Stream index in the intermediate file.
    pub index: usize,
    /// Index of the stream's last packet and its exact duration in matroska's milliseconds
    /// (matroska does not store it; plain ffmpeg's muxer sees it in the stream's duration).
    pub last: usize,
    pub last_ms: i64,
    /// The `encoder` tag the encoder wrote.
    pub encoder: Option<String>,
}

/// A specifier that selects the same streams in the intermediate file: by type and
/// type-relative index only.
fn relative_spec(o: &Opt) -> bool {
    let (name, spec) = alias(o);
    let spec = if matches!(name, "metadata" | "map_metadata") {
        match spec.strip_prefix('s') {
            Some(rest) => rest.trim_start_matches(':').to_string(),
            None => return true,
        }
    } else {
        spec
    };
    let kinds = ["v", "a", "s", "d", "t", "V"];
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [""] => true,
        [k] => kinds.contains(k),
        [k, n] => kinds.contains(k) && n.parse::<usize>().is_ok(),
        _ => false,
    }
}

/// The early-audio plan for this job, or None when the audio stays in the final mux.
pub fn early_audio(job: &JobSpec) -> Option<EarlyAudio> {
    if !matches!(job.muxer.name, "matroska" | "webm") || job.two_pass.is_some() {
        return None;
    }
    if job.audio_graph.is_some() {
        // (the final mux runs the graph's audio chains)
        return None;
    }
    let t = &job.timing;
    if t.out_ss_us.is_some() || t.out_t_us.is_some() || t.out_to_us.is_some() {
        return None;
    }
    if job
        .cmd
        .globals
        .iter()
        .any(|g| BLOCKING_GLOBAL.contains(&g.name()))
    {
        return None;
    }
    let out = &job.cmd.outputs[0];
    if out
        .opts
        .iter()
        .any(|o| BLOCKING.contains(&o.name()) || !relative_spec(o))
    {
        return None;
    }
    let views = out_views(&job.out_streams);
    let audio: Vec<usize> = (0..job.out_streams.len())
        .filter(|&i| job.out_streams[i].kind == MediaKind::Audio)
        .collect();
    let mut encoded = Vec::new();
    for &i in &audio {
        let codec = last_matching(&out.opts, &["codec"], &views, i)
            .ok()?
            .and_then(|o| o.arg.as_deref());
        match codec {
            Some("copy") => {}
            Some(c) if ENCODERS.contains(&c) => encoded.push(i),
            _ => return None,
        }
    }
    (!encoded.is_empty()).then_some(EarlyAudio { audio, encoded })
}

/// What `-df_dry_run` shows before AUDIO has run: zeros for the values read from its output.
pub fn placeholder(ea: &EarlyAudio, path: &str) -> AudioDone {
    let streams = ea
        .encoded
        .iter()
        .map(|&out| DoneStream {
            out,
            index: ea.audio.iter().position(|&a| a == out).unwrap_or(0),
            last: 0,
            last_ms: 0,
            encoder: None,
        })
        .collect();
    AudioDone {
        path: path.to_string(),
        itsoffset_us: 0,
        streams,
    }
}

/// Quotes a tee slave for libavutil's `av_get_token` (single quotes; a quote is closed,
/// escaped and reopened).
fn tee_slave(format: &str, path: &str) -> String {
    format!("'[f={format}]{}'", path.replace('\'', "'\\''"))
}

/// Whether an output option belongs in AUDIO: everything the user gave the output except
/// the maps, the muxer choice and its private options, and what shapes only the video.
fn for_audio(o: &Opt, job: &JobSpec) -> bool {
    let views = out_views(&job.out_streams);
    let video_only = || {
        Spec::parse(&alias(o).1)
            .is_ok_and(|sp| (0..views.len()).all(|i| sp.matches(&views, i) == (i == job.video_out)))
    };
    match classify::output_role(o) {
        _ if o.is("map") || o.is("f") => false,
        classify::OutRole::Filter => !video_only(),
        classify::OutRole::TwoPass | classify::OutRole::Timing => false,
        _ => !classify::is_muxer_private(o) || o.is("fflags"),
    }
}

/// AUDIO: the user's command for the output's audio streams alone, written through the tee
/// muxer to the intermediate matroska file and to a `framecrc` listing of every packet.
pub fn command(job: &JobSpec, ea: &EarlyAudio, mka: &str, crc: &str) -> Vec<String> {
    let mut v = super::inputs::head(job);
    for o in &job.cmd.outputs[0].opts {
        if for_audio(o, job) {
            v.extend(o.tokens());
        }
    }
    for &i in &ea.audio {
        let os = &job.out_streams[i];
        v.push("-map".into());
        v.push(format!("{}:{}", os.file, os.stream));
    }
    v.extend(s(&[
        "-output_ts_offset",
        &BIAS_S.to_string(),
        "-avoid_negative_ts",
        "disabled",
        "-f",
        "tee",
    ]));
    v.push(format!(
        "{}|{}",
        tee_slave("matroska", mka),
        tee_slave("framecrc", crc)
    ));
    super::inputs::keep_video_read(job, &mut v);
    v
}

/// Per stream of a `framecrc` listing: its time base, packet count and last packet duration.
pub fn parse_framecrc(text: &str) -> Vec<(Rational, usize, i64)> {
    let mut out: Vec<(Rational, usize, i64)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#tb ") {
            let Some((idx, tb)) = rest.split_once(':') else {
                continue;
            };
            let (Ok(idx), Some(tb)) = (idx.trim().parse::<usize>(), Rational::parse(tb.trim()))
            else {
                continue;
            };
            if out.len() <= idx {
                out.resize(idx + 1, (tb, 0, 0));
            }
            out[idx].0 = tb;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if let (Some(idx), Some(dur)) = (
            f.first().and_then(|x| x.parse::<usize>().ok()),
            f.get(3).and_then(|x| x.parse::<i64>().ok()),
        ) {
            if let Some(e) = out.get_mut(idx) {
                e.1 += 1;
                e.2 = dur;
            }
        }
    }
    out
}

/// The last packet's duration in matroska's time base.
pub fn last_ms(tb: Rational, duration: i64) -> i64 {
    rescale_q(duration, tb, Rational::new(1, 1000))
}

/// The bitstream filter that gives the copied stream's last packet its exact duration.
pub fn last_duration_bsf(st: &DoneStream) -> String {
    format!(
        "setts=duration=if(eq(N\\,{})\\,{}\\,DURATION)",
        st.last, st.last_ms
    )
}

/// Inputs of the final mux for the intermediate file.
pub fn final_input(v: &mut Vec<String>, done: &AudioDone) {
    v.push("-itsoffset".into());
    v.push(crate::rational::format_us(done.itsoffset_us));
    v.push("-i".into());
    v.push(done.path.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framecrc_counts_packets_and_keeps_the_last_duration() {
        let t = "#format: frame checksums\n#version: 2\n#hash: CRC32\n#tb 0: 1/48000\n\
                 #media_type 0: audio\n#tb 1: 1/44100\n\
                 0,   4800000000,   4800000000,     1024,      200, 0xc31f6c31\n\
                 1,   4410000000,   4410000000,     1024,      100, 0x1\n\
                 0,   4800001024,   4800001024,      307,        4, 0x00930040\n";
        let p = parse_framecrc(t);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], (Rational::new(1, 48000), 2, 307));
        assert_eq!(p[1], (Rational::new(1, 44100), 1, 1024));
        assert_eq!(last_ms(p[0].0, p[0].2), 6);
    }

    #[test]
    fn tee_slaves_survive_quotes_and_separators() {
        assert_eq!(
            tee_slave("matroska", "/tmp/a'b|c.mka"),
            "'[f=matroska]/tmp/a'\\''b|c.mka'"
        );
    }

    #[test]
    fn positional_specifiers_are_not_relative() {
        let o = |flag: &str| Opt::new(flag, Some("x"));
        assert!(relative_spec(&o("c:a")));
        assert!(relative_spec(&o("b:a:1")));
        assert!(relative_spec(&o("metadata:s:a:0")));
        assert!(relative_spec(&o("metadata")));
        assert!(relative_spec(&o("metadata:g")));
        assert!(!relative_spec(&o("c:1")));
        assert!(!relative_spec(&o("metadata:s:2")));
        assert!(!relative_spec(&o("c:m:language:eng")));
    }
}
