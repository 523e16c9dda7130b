//! From ffmpeg's argv to a job: decides Distribute or Passthrough (with the reason), and for a
//! distributed job pins down everything later stages need — the source stream, the options for
//! the workers' encode, the timing that shapes the frame list, and the final mux's options.

pub mod audio_copy;
pub mod classify;
pub mod filters;
pub mod graph;
pub mod hwaccel;
pub mod rotation;
mod timing;

use crate::cli::argv::{CmdLine, Opt};
use crate::cli::mapping::{self, last_matching, out_views, OutStream};
use crate::cli::spec::Spec;
use crate::formats::{self, Muxer};
use crate::plan::sync::SyncParams;
use crate::plan::timeline::Trims;
use crate::probe::{MediaInfo, MediaKind};
use crate::rational::Rational;
use crate::twopass::TwoPass;
use classify::{InRole, OutRole};
use std::collections::BTreeMap;
pub use timing::Timing;

/// Why a command runs through plain ffmpeg instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passthrough(pub String);

fn pass<T>(why: impl Into<String>) -> Result<T, Passthrough> {
    Err(Passthrough(why.into()))
}

/// What `-y`/`-n` say about an existing output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Yes,
    No,
    /// Neither: ffmpeg asks on a terminal and refuses otherwise.
    Ask,
}

impl JobSpec {
    /// The container (muxer, extension) workers write this job's chunks in.
    pub fn chunk_format(&self) -> (&'static str, &'static str) {
        self.muxer.chunk_format(self.encoder.as_deref())
    }

    /// The workers' `-vf`: autorotate's filters (their chunk files carry no display matrix),
    /// then the user's chain.
    pub fn worker_filter(&self) -> Option<String> {
        let mut parts: Vec<&str> = self.rotation.filters.clone();
        parts.extend(self.filter.as_deref());
        (!parts.is_empty()).then(|| parts.join(","))
    }
}

/// The part of the decision that needs no probing.
#[derive(Debug, Clone)]
pub struct Pre {
    pub output: String,
    pub muxer: &'static Muxer,
    pub overwrite: Overwrite,
    /// Pass 1 into `-f null` or /dev/null: nothing to write.
    pub discard_output: bool,
}

/// A distributable encode, fully resolved.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub cmd: CmdLine,
    pub output: String,
    pub muxer: &'static Muxer,
    pub overwrite: Overwrite,
    /// Input file and stream index of the encoded video.
    pub src_file: usize,
    pub src_stream: usize,
    pub out_streams: Vec<OutStream>,
    /// Output index of the encoded video stream.
    pub video_out: usize,
    /// The video encoder named by the user (None: the muxer's default).
    pub encoder: Option<String>,
    /// Demuxer options of the source input (`-f`, probesize…): probe and split use them.
    pub demux_opts: Vec<Opt>,
    /// Decoder options of the source input: the workers' input side.
    pub decode_opts: Vec<Opt>,
    /// The source stream's color properties as the worker's input options (`-color_range tv`
    /// …): the NUT chunk files do not carry them, and plain ffmpeg's decoder starts from what
    /// the demuxer reports. Properties the user sets on the input are left to the user's option.
    pub src_color: Vec<String>,
    /// The video encode's output options, specifiers resolved, in the user's order.
    pub encode_opts: Vec<Opt>,
    /// The user's `-vf` chain, if any.
    pub filter: Option<String>,
    /// The context frames the chain reads around each frame (temporal filters).
    pub window: filters::Window,
    /// Audio streams copied into a finer time base, whose timestamps the final mux must map
    /// back to plain ffmpeg's (`audio_copy`): decided once their packets are read.
    pub audio_copies: Vec<AudioCopy>,
    /// The final mux's `-bsf:N` for those streams (output index, bitstream filter).
    pub audio_bsf: Vec<(usize, String)>,
    /// `-force_key_frames` on the encoded video.
    pub keyframes: Option<crate::plan::keyframes::Keyframes>,
    pub timing: Timing,
    /// The output frame rate the encoder gets (`-r` or the input's rate).
    pub frame_rate: Rational,
    pub sync: SyncParams,
    pub trims: Trims,
    /// The source video stream's tags (the encoded stream inherits them).
    pub src_tags: BTreeMap<String, String>,
    /// The source video's frame size (for the planner's cost model).
    pub src_size: (u32, u32),
    /// `-map_metadata -1` (or similar) turned per-stream metadata copying off.
    pub stream_metadata_off: bool,
    /// A `-map_metadata` option maps stream metadata explicitly.
    pub stream_metadata_mapped: bool,
    /// `-pass 1|2` and where the statistics are kept.
    pub two_pass: Option<TwoPass>,
    /// The output is thrown away (pass 1 into `-f null` or /dev/null): no final mux.
    pub discard_output: bool,
    /// What autorotate does with the source's display matrix (workers' filters, final mux).
    pub rotation: rotation::Rotation,
    /// The user's hardware options must work here first (plain ffmpeg fails otherwise): the
    /// arguments of a one-frame local decode with them (`hwaccel::probe_args`).
    pub hw_check: Option<Vec<String>>,
}

/// An audio stream copied into a finer time base (see `audio_copy`).
#[derive(Debug, Clone)]
pub struct AudioCopy {
    /// Output stream index, and the source stream (in the encoded video's input file).
    pub out: usize,
    pub stream: usize,
    pub bases: audio_copy::Bases,
    /// Samples per packet.
    pub samples: i64,
}

/// Extensions the image2 demuxer reads (as one image or a numbered sequence).
const IMAGE_EXTS: &[&str] = &[
    "png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif", "dpx", "exr", "tga", "ppm", "pgm",
    "pbm", "pnm", "sgi", "jp2", "j2k", "pcx", "xbm", "xpm", "qoi", "jxl", "dds", "psd", "svg",
];

/// Whether an input is an image sequence the image2 demuxer reads: a glob (`-pattern_type`),
/// or a name with a `%d`-style sequence number that is not itself a file.
pub fn is_image_sequence(path: &str, inp: &crate::cli::argv::FileArgs) -> bool {
    let numbered = path.split('%').skip(1).any(|rest| {
        rest.trim_start_matches(|c: char| c.is_ascii_digit())
            .starts_with('d')
    });
    inp.last("pattern_type").is_some() || (numbered && !std::path::Path::new(path).exists())
}

/// Whether an input is a single image file (read by the image2 demuxer as one frame).
fn is_single_image(path: &str, inp: &crate::cli::argv::FileArgs) -> bool {
    let ext = std::path::Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    !is_image_sequence(path, inp) && ext.is_some_and(|e| IMAGE_EXTS.contains(&e.as_str()))
}

/// Static checks: exit options, the number and kind of outputs and inputs, global options.
pub fn precheck(cmd: &CmdLine) -> Result<Pre, Passthrough> {
    if let Some(o) = cmd.exit_option() {
        return pass(format!("-{} prints information", o.name()));
    }
    match cmd.outputs.len() {
        0 => return pass("no output file"),
        1 => {}
        n => return pass(format!("{n} output files")),
    }
    if !cmd.trailing.is_empty() {
        return pass("options after the last output file");
    }
    if cmd.inputs.is_empty() {
        return pass("no input file");
    }
    if hwaccel::prints_information(cmd) {
        return pass("-init_hw_device list prints information");
    }
    for g in &cmd.globals {
        // a -filter_complex is judged with the probe (graph::of_cmd); hardware devices in
        // analyze (job::hwaccel)
        if !classify::global_is_neutral(g)
            && !matches!(g.name(), "filter_complex" | "lavfi")
            && !hwaccel::is_hw_option(g)
        {
            return pass(format!("global option -{}", g.name()));
        }
    }
    let out = &cmd.outputs[0];
    let path = local_path(&out.url).ok_or_else(|| Passthrough("output is a pipe or URL".into()))?;
    for inp in &cmd.inputs {
        let Some(path) = local_path(&inp.url) else {
            return pass(format!("input {} is a pipe or URL", inp.url));
        };
        if is_single_image(path, inp) {
            return pass(format!("input {} is an image", inp.url));
        }
        if is_image_sequence(path, inp) && inp.last("loop").is_some() {
            return pass(format!(
                "input {} is an image sequence read in a loop",
                inp.url
            ));
        }
        if let Some(f) = inp.last("f") {
            let f = f.arg.as_deref().unwrap_or("");
            if matches!(
                f,
                "lavfi"
                    | "concat"
                    | "v4l2"
                    | "x11grab"
                    | "alsa"
                    | "pulse"
                    | "dshow"
                    | "avfoundation"
                    | "gdigrab"
                    | "image2pipe"
            ) {
                return pass(format!("input format {f}"));
            }
        }
    }
    let muxer = match out.last("f").and_then(|o| o.arg.as_deref()) {
        Some(name) => formats::by_name(name),
        None => formats::by_filename(path),
    };
    let pass1 = out
        .opts
        .iter()
        .any(|o| o.is("pass") && o.arg.as_deref() == Some("1"));
    let discard_output =
        pass1 && (muxer.is_some_and(|m| m.name == "null") || matches!(path, "/dev/null" | "NUL"));
    let muxer = match muxer {
        Some(m) if m.name == "null" && !discard_output => return pass("output format null"),
        Some(m) if m.distributable => m,
        Some(m) => return pass(format!("output format {} is not distributed", m.name)),
        None => return pass("output format not recognised"),
    };
    for o in &out.opts {
        if classify::output_role(o) == OutRole::Unsupported {
            return pass(format!("output option -{}", o.flag));
        }
        if let Some(why) = classify::unsupported_value(o, out.last("top").is_some()) {
            return pass(format!("output option {why}"));
        }
    }
    let overwrite = if cmd.has_global("y") {
        Overwrite::Yes
    } else if cmd.has_global("n") {
        Overwrite::No
    } else {
        Overwrite::Ask
    };
    Ok(Pre {
        output: path.to_string(),
        muxer,
        overwrite,
        discard_output,
    })
}

/// A local file path from an ffmpeg URL (`file:` prefix allowed), None for pipes and URLs.
pub fn local_path(url: &str) -> Option<&str> {
    let p = url.strip_prefix("file:").unwrap_or(url);
    if p == "-" || p.is_empty() || url.starts_with("pipe:") {
        return None;
    }
    if let Some(i) = url.find("://") {
        if url[..i]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+')
        {
            return None;
        }
    }
    Some(p)
}

/// The full decision, given ffprobe results for every input.
pub fn analyze(cmd: &CmdLine, pre: &Pre, infos: &[MediaInfo]) -> Result<JobSpec, Passthrough> {
    let out = &cmd.outputs[0];
    let graph = graph::of_cmd(cmd, infos).map_err(Passthrough)?;
    let graph_out = graph.as_ref().map(|g| (g.label.as_str(), g.file, g.stream));
    let outs = mapping::resolve_with_graph(cmd, out, infos, pre.muxer, graph_out)
        .map_err(|e| Passthrough(e.to_string()))?;
    let views = out_views(&outs);
    let codec = |i: usize| -> Result<Option<String>, Passthrough> {
        Ok(last_matching(&out.opts, &["codec"], &views, i)
            .map_err(|e| Passthrough(e.to_string()))?
            .and_then(|o| o.arg.clone()))
    };
    let mut encoded = Vec::new();
    for (i, o) in outs.iter().enumerate() {
        if o.kind == MediaKind::Video && codec(i)?.as_deref() != Some("copy") {
            encoded.push(i);
        }
    }
    let mut audio_copies = Vec::new();
    for (i, o) in outs.iter().enumerate() {
        if o.kind != MediaKind::Audio || codec(i)?.as_deref() != Some("copy") {
            continue;
        }
        let Some(out_tb) = pre.muxer.audio_time_base(o.sample_rate) else {
            continue;
        };
        if crate::rational::compare_ts(1, o.time_base, 1, out_tb) <= 0 {
            continue;
        }
        // fftools smooths a copied audio stream's timestamps into the muxer's finer time
        // base, unless packets were queued before the header (while the video encoder
        // starts): `audio_copy` reproduces that where it is certain
        let st = &infos[o.file].streams[o.stream];
        let samples = match (st.codec_name.as_str(), st.profile.as_deref()) {
            ("aac", Some("LC")) => Some(1024),
            ("aac", Some("HE-AAC" | "HE-AACv2")) => Some(2048),
            ("ac3", _) => Some(1536),
            _ => None,
        };
        let plain_input = cmd.inputs[o.file].opts.iter().all(|x| {
            !matches!(
                classify::input_role(x),
                InRole::Timing | InRole::Unsupported
            )
        });
        let retimable = o.file == outs[encoded.first().copied().unwrap_or(0)].file
            && plain_input
            && o.sample_rate > 0
            && !out
                .opts
                .iter()
                .any(|x| matches!(x.name(), "ss" | "bsf" | "absf"));
        match samples.filter(|_| retimable) {
            Some(samples) => audio_copies.push(AudioCopy {
                out: i,
                stream: o.stream,
                bases: audio_copy::Bases {
                    src: o.time_base,
                    samples: Rational::new(1, i64::from(o.sample_rate)),
                    out: out_tb,
                },
                samples,
            }),
            None => {
                return pass(format!(
                    "audio copied from a {} time base into {}'s finer one: plain ffmpeg's \
                     audio timestamps then depend on when its video encoder starts",
                    o.time_base, pre.muxer.name
                ))
            }
        }
    }
    let video_out = match encoded[..] {
        [] => return pass("no video stream is encoded"),
        [i] => i,
        _ => return pass("several video streams are encoded"),
    };
    if graph.is_some() && !outs[video_out].from_graph {
        return pass("the encoded video is not the filter graph's output");
    }
    let (src_file, src_stream) = (outs[video_out].file, outs[video_out].stream);
    let info = &infos[src_file];
    let st = &info.streams[src_stream];
    if st.is_attached_pic() {
        return pass("the encoded video is an attached picture");
    }
    if !st.time_base.is_valid() {
        return pass("the video stream has no time base");
    }
    let input = &cmd.inputs[src_file];
    let rotation = rotation_of(input, info, src_stream)?;
    let mut demux_opts = Vec::new();
    let mut decode_opts = Vec::new();
    for o in &input.opts {
        match classify::input_role(o) {
            InRole::Unsupported => return pass(format!("input option -{}", o.flag)),
            InRole::Demux => demux_opts.push(o.clone()),
            InRole::Decode => {
                if let Some(o) = decoder_opt(o, info, src_stream)? {
                    decode_opts.push(o);
                }
            }
            InRole::Timing | InRole::Final => {}
        }
    }
    let decoder = decode_opts.iter().find(|o| o.is("c"));
    hwaccel::check_input(input, decoder.and_then(|o| o.arg.as_deref())).map_err(Passthrough)?;
    if rotation.worker_off {
        decode_opts.push(Opt::new("autorotate", Some("0")));
    }
    let vi = video_out;
    let mut filter = last_matching(&out.opts, &["filter"], &views, vi)
        .map_err(|e| Passthrough(e.to_string()))?
        .and_then(|o| o.arg.clone());
    if let Some(g) = &graph {
        if filter.is_some() {
            return pass("-vf on the filter graph's output (ffmpeg refuses it)");
        }
        filter = Some(g.chain.clone());
    }
    if let Some(f) = &filter {
        if let Some(why) = hwaccel::gpu_filter(&filters::filter_names(f).unwrap_or_default()) {
            return pass(why);
        }
    }
    let window = match &filter {
        Some(f) => filters::check_chain(f).map_err(|e| Passthrough(e.to_string()))?,
        None => filters::Window::default(),
    };
    for o in out
        .opts
        .iter()
        .filter(|o| classify::output_role(o) == OutRole::Filter)
    {
        let spec = Spec::parse(&mapping::alias(o).1).map_err(|e| Passthrough(e.to_string()))?;
        if (0..views.len()).any(|i| i != vi && spec.matches(&views, i)) && spec.matches(&views, vi)
        {
            return pass("a filter option applies to several streams");
        }
    }
    let mut encode_opts = Vec::new();
    for o in &out.opts {
        if classify::output_role(o) != OutRole::Encode || matches!(o.name(), "fps_mode") {
            continue;
        }
        let (name, spec) = mapping::alias(o);
        let spec = Spec::parse(&spec).map_err(|e| Passthrough(e.to_string()))?;
        if spec.matches(&views, vi) {
            encode_opts.push(Opt::new(name, o.arg.as_deref()));
        }
    }
    let timing = timing::parse(input, out).map_err(Passthrough)?;
    if timing.in_ss_us.is_some() && matches!(info.format.format_name.as_str(), "mpegts" | "mpeg") {
        // MPEG-TS/PS seek by byte position; which frames plain ffmpeg decodes after it
        // depends on where the demuxer lands.
        return pass(format!("-ss on an {} input", info.format.format_name));
    }
    for o in out.opts.iter().filter(|o| o.is("metadata")) {
        let rotates = o.arg.as_deref().is_some_and(|a| a.starts_with("rotate="));
        let streams = o.spec().and_then(|s| s.strip_prefix('s'));
        let spec = streams.map(|s| s.trim_start_matches(':'));
        if rotates && spec.is_some_and(|s| Spec::parse(s).is_ok_and(|s| s.matches(&views, vi))) {
            // a stream copy turns it into a display matrix, an encode does not
            return pass("-metadata rotate on the encoded video");
        }
    }
    let sync_mode = timing::sync_mode(
        cmd,
        out,
        &views,
        vi,
        pre.muxer,
        info,
        input,
        graph.is_some(),
    )?;
    let user_rate = last_matching(&out.opts, &["r"], &views, vi)
        .map_err(|e| Passthrough(e.to_string()))?
        .and_then(|o| o.arg.clone());
    // a field-rate deinterlacer doubles the rate and halves the time base of what it sends
    let fields = if window.fields { 2 } else { 1 };
    let sink_rate = st.guessed_frame_rate();
    let sink_rate = Rational::new(sink_rate.num * fields, sink_rate.den);
    let frame_rate = match user_rate {
        Some(r) => timing::parse_rate(&r).ok_or_else(|| Passthrough(format!("-r {r}")))?,
        None if sink_rate.is_valid() => sink_rate,
        None => Rational::new(25, 1),
    };
    let encoder = codec(vi)?;
    if let Some(why) = encoder.as_deref().and_then(hwaccel::gpu_encoder) {
        return pass(why);
    }
    if let Some(e) = &encoder {
        if matches!(
            e.as_str(),
            "mpeg1video"
                | "mpeg2video"
                | "mpeg4"
                | "h261"
                | "h263"
                | "msmpeg4"
                | "msmpeg4v2"
                | "wmv1"
                | "wmv2"
        ) {
            return pass(format!("encoder {e} adjusts the frame rate itself"));
        }
    }
    let sync = SyncParams {
        mode: sync_mode,
        filter_tb: Rational::new(st.time_base.num, st.time_base.den * fields),
        enc_tb: frame_rate.inv(),
        out_start_us: timing.out_ss_us.unwrap_or(0),
        sink_rate,
        ost_rate: frame_rate,
        cap_with_ost_rate: st.start_pts.is_some(),
        duration_from_packets: filter.is_none(),
        worker_vf: filter.is_none() && !rotation.filters.is_empty(),
        in_tb: st.time_base,
        recording_us: timing.out_duration_us(),
        max_frames: timing::max_frames(out, &views, vi)?,
    };
    let trims = timing.trims(info.format.start_time_us.unwrap_or(0));
    let (stream_metadata_off, stream_metadata_mapped) = stream_metadata_mode(out);
    let pass_opt = |name: &str| -> Result<Option<String>, Passthrough> {
        Ok(last_matching(&out.opts, &[name], &views, vi)
            .map_err(|e| Passthrough(e.to_string()))?
            .and_then(|o| o.arg.clone()))
    };
    let keyframes = match pass_opt("force_key_frames")? {
        None => None,
        Some(v) => Some(
            timing::keyframes(&v, frame_rate.inv())
                .ok_or_else(|| Passthrough(format!("-force_key_frames {v}")))?,
        ),
    };
    let two_pass = match pass_opt("pass")?.as_deref() {
        None => None,
        Some(p @ ("1" | "2")) => Some(TwoPass::new(
            p.parse().unwrap_or(1),
            pass_opt("passlogfile")?.as_deref(),
        )),
        Some(p) => return pass(format!("-pass {p}")),
    };
    Ok(JobSpec {
        cmd: cmd.clone(),
        output: pre.output.clone(),
        muxer: pre.muxer,
        overwrite: pre.overwrite,
        src_file,
        src_stream,
        out_streams: outs,
        video_out,
        encoder,
        demux_opts,
        src_color: st
            .color
            .iter()
            .filter(|(name, _)| !decode_opts.iter().any(|o| o.is(name)))
            .flat_map(|(name, v)| [format!("-{name}"), v.clone()])
            .collect(),
        decode_opts,
        encode_opts,
        filter,
        window,
        audio_copies,
        audio_bsf: Vec::new(),
        keyframes,
        timing,
        frame_rate,
        sync,
        trims,
        // a graph's output has no source stream when ffmpeg copies stream metadata
        src_tags: if graph.is_some() {
            BTreeMap::new()
        } else {
            st.tags.clone()
        },
        src_size: (st.width, st.height),
        stream_metadata_off,
        stream_metadata_mapped,
        two_pass,
        discard_output: pre.discard_output,
        rotation,
        hw_check: hwaccel::probe_args(cmd, src_file, src_stream),
    })
}

/// The source video's display matrix under the input's autorotate setting (see `rotation`).
fn rotation_of(
    input: &crate::cli::argv::FileArgs,
    info: &MediaInfo,
    stream: usize,
) -> Result<rotation::Rotation, Passthrough> {
    let views: Vec<_> = info.streams.iter().map(mapping::view).collect();
    let on = rotation::autorotate(input, &views, stream).map_err(Passthrough)?;
    let matrix = info.streams[stream].display_matrix.as_ref();
    rotation::decide(matrix, on).map_err(Passthrough)
}

/// How `-map_metadata` options treat per-stream metadata (fftools' copy_metadata): turned off
/// (`-map_metadata -1`), or mapped explicitly (`-map_metadata:s:0 0:s:1`).
fn stream_metadata_mode(out: &crate::cli::argv::FileArgs) -> (bool, bool) {
    let (mut off, mut mapped) = (false, false);
    for o in out.opts.iter().filter(|o| o.is("map_metadata")) {
        let arg = o.arg.as_deref().unwrap_or("");
        let out_type = o.spec().and_then(|s| s.chars().next());
        let num_end = arg
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(arg.len(), |(i, _)| i);
        let index: i64 = arg[..num_end].parse().unwrap_or(0);
        let in_type = arg[num_end..]
            .strip_prefix(':')
            .and_then(|s| s.chars().next());
        if index < 0 {
            off |= out_type.is_none() || out_type == Some('s');
        } else if in_type == Some('s') || out_type == Some('s') {
            mapped = true;
        }
    }
    (off && !mapped, mapped)
}

/// A decoder option of the source input, if it concerns the video stream (specifier resolved).
fn decoder_opt(o: &Opt, info: &MediaInfo, stream: usize) -> Result<Option<Opt>, Passthrough> {
    let (name, spec) = mapping::alias(o);
    let spec = Spec::parse(&spec).map_err(|e| Passthrough(e.to_string()))?;
    let views: Vec<_> = info.streams.iter().map(mapping::view).collect();
    if !spec.matches(&views, stream) {
        return Ok(None);
    }
    if name == "codec" {
        return Ok(Some(Opt::new("c:v", o.arg.as_deref())));
    }
    Ok(Some(Opt::new(name, o.arg.as_deref())))
}

#[cfg(test)]
mod tests;
