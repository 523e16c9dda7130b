//! FINAL: the user's own command with the encoded video replaced by the joined chunks, plus
//! what makes the copied video stream look exactly like an encoded one (disposition, tags).

use super::audio::AudioDone;
use super::inputs::{head, keep_video_read};
use super::s;
use crate::cli::argv::CmdLine;
use crate::cli::mapping::{alias, last_matching, out_views, OutStream};
use crate::cli::spec::{Spec, StreamView};
use crate::job::{classify, JobSpec};
use crate::rational::format_us;
use std::collections::BTreeMap;

/// What FINAL joins: the chunks (their concat list and where the first frame belongs, the
/// first chunk's tags and the encoder's color properties) and the early-encoded audio, if any.
pub struct FinalParts<'a> {
    pub list: &'a str,
    pub itsoffset_us: i64,
    pub chunk_tags: &'a BTreeMap<String, String>,
    pub color: &'a [(String, String)],
    pub audio: Option<&'a AudioDone>,
}

/// FINAL: the user's command with the encoded video replaced by the joined chunks (and the
/// encoded audio by its early encode).
pub fn final_mux(job: &JobSpec, parts: &FinalParts, tmp_out: &str) -> Vec<String> {
    let FinalParts {
        list,
        itsoffset_us,
        chunk_tags,
        color,
        audio,
    } = *parts;
    let cmd: &CmdLine = &job.cmd;
    let mut v = head(job);
    let concat = cmd.inputs.len();
    if job.muxer.name == "nut" {
        // the chunks' mp4 tag (avc1) would be kept on the copy; with none the muxer picks its
        // own (H264), as for plain ffmpeg's encoded stream
        v.extend(s(&["-tag:v", "0"]));
    }
    v.extend(s(&["-f", "concat", "-safe", "0", "-itsoffset"]));
    v.push(format_us(itsoffset_us));
    v.push("-i".into());
    v.push(list.to_string());
    if let Some(done) = audio {
        super::audio::final_input(&mut v, done);
    }
    if let Some(g) = &job.audio_graph {
        // the graph's audio chains, over the user's inputs (numbered as in the user's command)
        v.extend(["-filter_complex".to_string(), g.text.clone()]);
    }
    let early = |i: usize| audio.and_then(|d| d.streams.iter().find(|st| st.out == i));
    let out = &cmd.outputs[0];
    // Before the user's own -metadata options, which must still win.
    let vi = job.video_out;
    for (k, val) in video_tags(job, chunk_tags) {
        v.extend([format!("-metadata:s:{vi}"), format!("{k}={val}")]);
    }
    if job.stream_metadata_off || job.stream_metadata_mapped {
        // the early audio's own tags are not copied then; plain ffmpeg still adds this one
        for st in audio.map_or(&[][..], |d| &d.streams[..]) {
            if let Some(e) = &st.encoder {
                v.extend([format!("-metadata:s:{}", st.out), format!("encoder={e}")]);
            }
        }
    }
    let views = out_views(&job.out_streams);
    let audio_filter = |o: &crate::cli::argv::Opt| {
        let (name, spec) = alias(o);
        name == "filter"
            && Spec::parse(&spec).is_ok_and(|sp| {
                (0..views.len()).any(|i| sp.matches(&views, i) && early(i).is_some())
            })
    };
    for o in &out.opts {
        let role = classify::output_role(o);
        if o.is("map")
            || o.is("f")
            || role == classify::OutRole::TwoPass
            || role == classify::OutRole::Keyframes
            || (role == classify::OutRole::Filter && only_for_video(o, &views, vi))
            || (role == classify::OutRole::Encode && only_for_video(o, &views, vi))
            || audio_filter(o)
        {
            continue;
        }
        v.extend(o.tokens());
    }
    for (i, os) in job.out_streams.iter().enumerate() {
        v.push("-map".into());
        if i == job.video_out {
            v.push(format!("{concat}:0"));
        } else if let Some(label) = &os.label {
            v.push(format!("[{label}]"));
        } else if let Some(st) = early(i) {
            v.push(format!("{}:{}", concat + 1, st.index));
        } else {
            v.push(format!("{}:{}", os.file, os.stream));
        }
    }
    v.extend([
        format!("-c:{vi}"),
        "copy".into(),
        format!("-r:{vi}"),
        job.frame_rate.to_string(),
    ]);
    for st in audio.map_or(&[][..], |d| &d.streams[..]) {
        let i = st.out;
        v.extend([format!("-c:{i}"), "copy".into()]);
        v.extend([format!("-bsf:{i}"), super::audio::last_duration_bsf(st)]);
    }
    for (i, bsf) in &job.audio_bsf {
        // copied audio's timestamps as plain ffmpeg writes them (job::audio_copy)
        v.extend([format!("-bsf:{i}"), bsf.clone()]);
    }
    for (opt, value) in color {
        // what the workers' encoder was opened with (mp4 and mov chunks drop some of it)
        v.extend([format!("-{opt}:{vi}"), value.clone()]);
    }
    for (i, d) in dispositions(job) {
        v.extend([format!("-disposition:{i}"), d]);
    }
    if let Some(r) = job.rotation.keep {
        // autorotate off: plain ffmpeg's encoded stream keeps the source's display matrix
        v.extend([format!("-metadata:s:{vi}"), format!("rotate={r}")]);
    }
    v.push("-f".into());
    v.push(job.muxer.name.to_string());
    v.push(tmp_out.to_string());
    keep_video_read(job, &mut v);
    v
}

/// The encoder tag as plain ffmpeg writes it: without the library version when the user asked
/// for bit-exact output (`-bitexact`, `-fflags +bitexact`, `-flags +bitexact`), which the
/// workers' chunks do not see.
fn bitexact_encoder(job: &JobSpec, tag: &str) -> String {
    let bitexact = job.cmd.outputs[0].opts.iter().any(|o| {
        o.is("bitexact")
            || (matches!(o.name(), "fflags" | "flags")
                && o.arg
                    .as_deref()
                    .is_some_and(|a| a.contains("+bitexact") || a == "bitexact"))
    });
    match tag.split_once(' ') {
        Some((lib, codec)) if bitexact && lib.starts_with("Lavc") => format!("Lavc {codec}"),
        _ => tag.to_string(),
    }
}

/// An encoder option that applies to the encoded video alone: the workers used it, and the
/// final mux, which copies the video, must not (`-profile:v high` means nothing to a copy and
/// ffmpeg refuses it). `-aspect` stays: on a copy it sets the same container aspect ratio.
fn only_for_video(o: &crate::cli::argv::Opt, views: &[StreamView], vi: usize) -> bool {
    if o.is("aspect") {
        return false;
    }
    let (_, spec) = alias(o);
    match Spec::parse(&spec) {
        Ok(sp) => (0..views.len()).all(|i| sp.matches(views, i) == (i == vi)),
        Err(_) => false,
    }
}

/// `-disposition` options that give every output stream the disposition plain ffmpeg gives it.
/// The joined chunks carry none, so the video's must be set explicitly; setting one disables
/// ffmpeg's automatic "first of each type is default" rule, which is then applied here.
pub fn dispositions(job: &JobSpec) -> Vec<(usize, String)> {
    let out = &job.cmd.outputs[0];
    let views = out_views(&job.out_streams);
    let user_sets = |i: usize| {
        last_matching(&out.opts, &["disposition"], &views, i)
            .ok()
            .flatten()
            .is_some()
    };
    let flags = |o: &OutStream| -> String {
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
            let o = OutStream {
                disposition: flagsv,
                ..o.clone()
            };
            (i, flags(&o))
        })
        .collect()
}

/// The video stream's tags as plain ffmpeg writes them, as `(key, value)` settings applied on
/// top of the tags the joined chunks carry (an empty value deletes a key): the source stream's
/// tags with the encoder tag the worker's encoder wrote, minus anything the chunk container
/// added. When the user turned stream metadata copying off, only the encoder tag.
pub fn video_tags(job: &JobSpec, chunk_tags: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let is_enc = |k: &str| k.eq_ignore_ascii_case("encoder");
    let encoder = chunk_tags
        .iter()
        .find(|(k, _)| is_enc(k))
        .map(|(_, v)| bitexact_encoder(job, v));
    if job.stream_metadata_off || job.stream_metadata_mapped {
        return encoder
            .map(|e| vec![("encoder".to_string(), e)])
            .unwrap_or_default();
    }
    let mut want: Vec<(String, String)> = job
        .src_tags
        .iter()
        .filter(|(k, _)| !is_enc(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    want.extend(encoder.map(|e| ("encoder".to_string(), e)));
    let mut v: Vec<(String, String)> = chunk_tags
        .keys()
        .filter(|k| !want.iter().any(|(w, _)| w.eq_ignore_ascii_case(k)))
        .map(|k| (k.clone(), String::new()))
        .collect();
    v.extend(want);
    v
}
