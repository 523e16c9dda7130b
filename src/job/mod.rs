//! From ffmpeg's argv to a job: decides Distribute or Passthrough (with the reason), and for a
//! distributed job pins down everything later stages need — the source stream, the options for
//! the workers' encode, the timing that shapes the frame list, and the final mux's options.

pub mod audio_copy;
pub use audio_copy::AudioCopy;
pub mod burnin;
pub mod classify;
pub mod drawtext;
pub mod filters;
pub mod graph;
pub mod outputs;
mod precheck;
pub mod preroll;
pub use precheck::{
    concat_list_refusal, is_image_sequence, local_path, overwrite, precheck, sequence_rate,
};
pub mod hwaccel;
pub mod rotation;
mod timing;
mod two_pass;
mod worker_chain;
pub use two_pass::TwoPass;

use crate::cli::argv::{CmdLine, Opt};
use crate::cli::mapping::{self, last_matching, out_views, OutStream};
use crate::cli::spec::Spec;
use crate::formats::Muxer;
use crate::plan::sync::SyncParams;
use crate::plan::timeline::Trims;
use crate::probe::{MediaInfo, MediaKind};
use crate::rational::Rational;
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
    /// The local path of the video source.
    pub fn source_path(&self) -> &str {
        local_path(&self.cmd.inputs[self.src_file].url).unwrap_or_default()
    }

    /// The container (muxer, extension) workers write this job's chunks in.
    pub fn chunk_format(&self) -> (&'static str, &'static str) {
        self.muxer.chunk_format(self.encoder.as_deref())
    }

    /// The muxer's default video encoder (`default`, from ffmpeg's codec table, None when
    /// this build has none) for a job whose user named none; or why it passes through.
    pub fn with_default_encoder(mut self, default: Option<&str>) -> Result<JobSpec, Passthrough> {
        if self.encoder.is_some() {
            return Ok(self);
        }
        let Some(e) = default.filter(|&e| e != "wrapped_avframe") else {
            return Err(Passthrough(format!(
                "no encoder for the default video codec of {}",
                self.muxer.name
            )));
        };
        if let Some(why) = encoder_refusal(e, self.frame_rate, self.muxer) {
            return Err(Passthrough(why));
        }
        self.encoder = Some(e.to_string());
        Ok(self)
    }
}

/// A single image among the inputs is only the still image a graph lays over the video, read
/// once (no loop, no timing or rate options); that image is one.
fn still_images(
    cmd: &CmdLine,
    infos: &[MediaInfo],
    overlay: Option<&graph::Overlay>,
) -> Result<(), Passthrough> {
    const PLAIN: &[&str] = &["f", "c", "codec", "vcodec"];
    for (i, inp) in cmd.inputs.iter().enumerate() {
        let path = local_path(&inp.url).unwrap_or(&inp.url);
        // (an animated gif or png is more than one picture)
        let animated = matches!(infos[i].format.format_name.as_str(), "gif" | "apng");
        let image = precheck::is_single_image(path, inp) && !animated;
        match overlay.filter(|o| o.file == i) {
            Some(_) if !image => {
                return pass(format!(
                    "the overlay's second input {} is not a single image (a video would have to be split alongside)",
                    inp.url
                ))
            }
            Some(_) => {
                if let Some(o) = inp.opts.iter().find(|o| !PLAIN.contains(&o.name())) {
                    return pass(format!("input option -{} on the laid-over image", o.flag));
                }
            }
            None if image || animated => return pass(format!("input {} is an image", inp.url)),
            None => {}
        }
    }
    Ok(())
}

/// Why an encoder's output cannot be distributed, if it cannot: a GPU encoder, one whose
/// codec the chunk containers do not hold, or one that changes the frame rate it is given
/// (fftools snaps mpeg1/2 to their standard rates and reduces mpeg4's to terms of at most
/// 65535), which the planner does not model.
fn encoder_refusal(e: &str, rate: Rational, muxer: &Muxer) -> Option<String> {
    if let Some(why) = hwaccel::gpu_encoder(e) {
        return Some(why);
    }
    if matches!(e, "flv" | "flv1") {
        return Some(format!("encoder {e}: its chunks cannot be stored"));
    }
    if muxer.name == "avi" && !crate::formats::avi_keeps(e) {
        return Some(format!(
            "encoder {e} into avi: no chunk container keeps its packets as plain ffmpeg's avi has them"
        ));
    }
    let rate = rate.reduced();
    if matches!(e, "mpeg4" | "libxvid") && rate.num.max(rate.den) > 65535 {
        return Some(format!("encoder {e} reduces the frame rate {rate}"));
    }
    matches!(
        e,
        "mpeg1video"
            | "mpeg2video"
            | "h261"
            | "h263"
            | "h263p"
            | "msmpeg4"
            | "msmpeg4v2"
            | "msmpeg4v3"
            | "wmv1"
            | "wmv2"
    )
    .then(|| format!("encoder {e} adjusts the frame rate itself"))
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
    /// The video encoder: the one the user named, or, once `with_default_encoder` has run,
    /// the one ffmpeg picks for the muxer's default codec (None before that).
    pub encoder: Option<String>,
    /// The user named the video encoder (otherwise the workers are told `encoder`, since
    /// their chunk container's default codec is not the output's).
    pub encoder_named: bool,
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
    /// A still image the `-filter_complex` lays over the video: shipped to each worker once.
    pub overlay: Option<graph::Overlay>,
    /// The chain's subtitle burn-ins: their files are shipped to each worker once.
    pub burn_in: Vec<burnin::BurnIn>,
    /// The chain's drawtext filters: their files are shipped to each worker once.
    pub drawtext: Vec<drawtext::DrawText>,
    /// Where no chunk may start because of them (`burnin::busy_spans`, µs of filter time):
    /// filled once their files are read.
    pub subtitle_busy_us: Vec<(i64, i64)>,
    /// Audio streams copied into a finer time base, whose timestamps the final mux must map
    /// back to plain ffmpeg's (`audio_copy`): decided once their packets are read.
    pub audio_copies: Vec<AudioCopy>,
    /// The final mux's `-bsf:N` for those streams (output index, bitstream filter).
    pub audio_bsf: Vec<(usize, String)>,
    /// The `-filter_complex`'s audio chains, which no video chain touches: the final mux runs
    /// them as they are (its output streams are `OutStream`s with their `label`).
    pub audio_graph: Option<graph::AudioChains>,
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
    /// The command's other output files (`outputs`: each one's own job), encoded from this
    /// job's chunks by the same worker ffmpeg.
    pub others: Vec<JobSpec>,
    /// Which of the command's output files this job writes (0 with one output).
    pub output_index: usize,
    /// The command's output files that pass through on their own: plain ffmpeg's argv for
    /// each (`outputs::plain_argv`), run beside the job.
    pub plain_outputs: Vec<Vec<String>>,
}

/// The full decision, given ffprobe results for every input.
pub fn analyze(cmd: &CmdLine, pre: &Pre, infos: &[MediaInfo]) -> Result<JobSpec, Passthrough> {
    let out = &cmd.outputs[0];
    let (graph, audio_graph) = graph::of_cmd(cmd, infos)?;
    let mut graph_outs: Vec<mapping::GraphOutput> = (graph.iter())
        .map(|g| (g.label.as_deref(), g.file, g.stream, MediaKind::Video))
        .collect();
    for (label, f, s) in audio_graph.iter().flat_map(|a| &a.outputs) {
        graph_outs.push((Some(label.as_str()), *f, *s, MediaKind::Audio));
    }
    let outs = mapping::resolve_with_graph(cmd, out, infos, pre.muxer, &graph_outs)
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
    let copied: Vec<bool> = (0..outs.len())
        .map(|i| Ok(codec(i)?.as_deref() == Some("copy")))
        .collect::<Result<_, Passthrough>>()?;
    if (0..outs.len()).any(|i| copied[i] && outs[i].from_graph) {
        return pass("a stream copy of a filter graph's output (ffmpeg refuses it)");
    }
    let video_file = outs[encoded.first().copied().unwrap_or(0)].file;
    let audio_copies = audio_copy::candidates(cmd, pre.muxer, &outs, infos, &copied, video_file)?;
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
    hwaccel::check_input(input, decoder.and_then(|o| o.arg.as_deref()))?;
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
        filter = Some(g.chain.clone()).filter(|c| !c.is_empty());
    }
    let overlay = graph.as_ref().and_then(|g| g.overlay.clone());
    still_images(cmd, infos, overlay.as_ref())?;
    if let Some(f) = &filter {
        if let Some(why) = hwaccel::gpu_filter(&filters::filter_names(f).unwrap_or_default()) {
            return pass(why);
        }
    }
    let window = match &filter {
        Some(f) => filters::check_chain(f).map_err(|e| Passthrough(e.to_string()))?,
        None => filters::Window::default(),
    };
    let burn_in = match &filter {
        Some(f) => burnin::find(f).map_err(|e| Passthrough(e.to_string()))?,
        None => Vec::new(),
    };
    let side_burns = |ov: &graph::Overlay| {
        (ov.side.iter()).any(|f| burnin::find(f).map_or(true, |b| !b.is_empty()))
    };
    if overlay
        .as_ref()
        .is_some_and(|ov| !burn_in.is_empty() || side_burns(ov))
    {
        return pass("subtitles burned in next to a laid-over image");
    }
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
    let timing = timing::parse(input, out)?;
    if let Some(why) = timing::copyts_refusal(cmd, out, infos) {
        return pass(why);
    }
    let drawtext = drawtext::decide(filter.as_deref(), &window, timing.out_ss_us.is_some())
        .map_err(Passthrough)?;
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
    // a field-rate deinterlacer doubles the rate and halves the time base of what it sends;
    // `fps` sends its rate in its inverse
    let fields = if window.fields { 2 } else { 1 };
    let sink_rate = st.guessed_frame_rate();
    let sink_rate = match window.fps {
        Some(f) => f.rate,
        None => Rational::new(sink_rate.num * fields, sink_rate.den),
    };
    if window.fps.is_some() && timing.trims(0).input_duration_us.is_some() {
        // (its end would be where the input trim ends the chain, not the last frame's)
        return pass("fps with an input -t or -to");
    }
    let frame_rate = match user_rate {
        Some(r) => timing::parse_rate(&r).ok_or_else(|| Passthrough(format!("-r {r}")))?,
        None if sink_rate.is_valid() => sink_rate,
        None => Rational::new(25, 1),
    };
    let encoder = codec(vi)?;
    if let Some(why) = encoder
        .as_deref()
        .and_then(|e| encoder_refusal(e, frame_rate, pre.muxer))
    {
        return Err(Passthrough(why));
    }
    let sync = SyncParams {
        mode: sync_mode,
        filter_tb: match window.fps {
            Some(f) => f.rate.inv(),
            None => Rational::new(st.time_base.num, st.time_base.den * fields),
        },
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
    let x265 = (encode_opts.iter().rev().find(|o| o.is("x265-params")))
        .and_then(|o| classify::x265_pass(o.arg.as_deref().unwrap_or("")));
    if x265.is_some() {
        if encoder.as_deref() != Some("libx265") || pass_opt("pass")?.is_some() {
            return pass("x265's own pass= without libx265, or with -pass");
        }
        // plain ffmpeg reads only the last -x265-params; the workers get its pass and stats
        let last = encode_opts.iter().rposition(|o| o.is("x265-params"));
        let mut i = 0;
        encode_opts.retain(|o| {
            i += 1;
            !o.is("x265-params") || Some(i - 1) == last
        });
        for o in encode_opts.iter_mut().filter(|o| o.is("x265-params")) {
            o.arg = Some(classify::without_pass_keys(o.arg.as_deref().unwrap_or("")));
        }
        encode_opts.retain(|o| !o.is("x265-params") || o.arg.as_deref() != Some(""));
    }
    let two_pass = match (x265, pass_opt("pass")?.as_deref()) {
        (Some((p, stats)), _) => Some(TwoPass {
            x265: true,
            ..TwoPass::new(p, Some(&stats))
        }),
        (None, None) => None,
        (None, Some(p @ ("1" | "2"))) => Some(TwoPass::new(
            p.parse().unwrap_or(1),
            pass_opt("passlogfile")?.as_deref(),
        )),
        (None, Some(p)) => return pass(format!("-pass {p}")),
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
        encoder_named: encoder.is_some(),
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
        overlay,
        burn_in,
        drawtext,
        subtitle_busy_us: Vec::new(),
        audio_copies,
        audio_bsf: Vec::new(),
        audio_graph,
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
        others: Vec::new(),
        output_index: 0,
        plain_outputs: Vec::new(),
    })
}

/// The source video's display matrix under the input's autorotate setting (see `rotation`).
fn rotation_of(
    input: &crate::cli::argv::FileArgs,
    info: &MediaInfo,
    stream: usize,
) -> Result<rotation::Rotation, Passthrough> {
    let views: Vec<_> = info.streams.iter().map(mapping::view).collect();
    let on = rotation::autorotate(input, &views, stream)?;
    let matrix = info.streams[stream].display_matrix.as_ref();
    rotation::decide(matrix, on)
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
