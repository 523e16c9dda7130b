//! Where each of the user's options goes: into the video encode on the workers, into the final
//! local mux, into probing/splitting of the source, or — when distrffmpeg cannot reproduce its
//! effect exactly — a reason to pass the whole command through to ffmpeg.

use crate::cli::argv::Opt;

/// Role of an option given on the output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutRole {
    /// Shapes the video encode: sent to workers (when its specifier matches the encoded
    /// stream) and kept in the final mux, where it is harmless for a copied stream.
    Encode,
    /// A video filter: sent to workers, removed from the final mux.
    Filter,
    /// Timing handled by the planner (`-ss`, `-t`, `-to`); kept in the final mux.
    Timing,
    /// Only meaningful when muxing (metadata, maps, other streams' codecs, muxer flags).
    Final,
    /// `-pass`/`-passlogfile`: each chunk runs its own two-pass encode.
    TwoPass,
    /// `-force_key_frames`: the planner tells each chunk which of its frames to force.
    Keyframes,
    /// Cannot be distributed exactly.
    Unsupported,
}

/// Role of an option given on an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InRole {
    /// Seeking/offset handled by the planner.
    Timing,
    /// Demuxer options: needed wherever the source is read (probe, split, final mux).
    Demux,
    /// Decoder options: the worker's decoder and the final mux.
    Decode,
    /// Only the final mux reads it (audio/subtitle input options).
    Final,
    Unsupported,
}

/// Muxer-level AVOptions: never given to workers, whose chunks must stay plain.
const MUXER_OPTS: &[&str] = &[
    "movflags",
    "brand",
    "write_tmcd",
    "frag_duration",
    "frag_size",
    "min_frag_duration",
    "use_editlist",
    "video_track_timescale",
    "movie_timescale",
    "cluster_size_limit",
    "cluster_time_limit",
    "reserve_index_space",
    "cues_to_front",
    "dash",
    "dash_track_number",
    "live",
    "write_crc32",
    "default_mode",
    "mpegts_service_id",
    "mpegts_pmt_start_pid",
    "mpegts_start_pid",
    "mpegts_m2ts_mode",
    "mpegts_flags",
    "mpegts_copyts",
    "mpegts_original_network_id",
    "mpegts_transport_stream_id",
    "mpegts_service_type",
    "muxrate",
    "pes_payload_size",
    "pat_period",
    "sdt_period",
    "metadata_header_padding",
    "fflags",
    "avoid_negative_ts",
    "flush_packets",
    "max_delay",
    "max_interleave_delta",
    "output_ts_offset",
    "chunk_duration",
    "chunk_size",
    "write_id3v2",
    "id3v2_version",
    "skip_iods",
    "iods_audio_profile",
    "iods_video_profile",
    "frag_interleave",
    "write_prft",
    "empty_hdlr_name",
    "ism_lookahead",
    "write_btrt",
    "encryption_scheme",
    "encryption_key",
    "encryption_kid",
    "syncpoints",
    "omit_video_pes_length",
    "tables_version",
    "flvflags",
    "packetsize",
    "fpsprobesize",
];

/// Demuxer-level AVOptions on an input.
const DEMUXER_OPTS: &[&str] = &[
    "probesize",
    "analyzeduration",
    "ignore_editlist",
    "ignore_chapters",
    "advanced_editlist",
    "use_absolute_path",
    "enable_drefs",
    "seekable",
    "skip_initial_bytes",
    "correct_ts_overflow",
    "fpsprobesize",
    "formatprobesize",
    "max_probe_packets",
    "export_all",
    "export_xmp",
    "ignore_length",
    "fix_teletext_pts",
    "scan_all_pmts",
    "merge_pmt_versions",
    "skip_unknown_pmt",
    "resync_size",
    "compute_pcr",
    "max_ts_probe",
    "allowed_extensions",
    "safe",
    "auto_convert",
    "use_mfra_for",
];

/// Encoder-private parameter strings (`key=value:key=value`) that can switch on the encoder's
/// own multi-pass mode.
const PRIVATE_PARAMS: &[&str] = &[
    "x264-params",
    "x264opts",
    "x265-params",
    "svtav1-params",
    "aom-params",
];

/// Keys of those strings that make a pass of a whole-stream multi-pass encode (the statistics
/// file is one for the whole stream, which chunks do not have).
const PRIVATE_PASS_KEYS: &[&str] = &["pass", "passes", "stats", "stats-in", "stats-out"];

/// Why an output option with this value cannot be distributed, where its name alone would
/// be: an encoder's own two-pass through its private parameters, and interlaced coding flags
/// (`-flags +ildct+ilme`) without `-top` (`top` says whether an explicit field order is
/// given), where plain ffmpeg's encoder picks a field order the chunks do not reproduce.
pub fn unsupported_value(o: &Opt, top: bool) -> Option<String> {
    let arg = o.arg.as_deref().unwrap_or("");
    if o.is("x265-params") && x265_pass(arg).is_some() {
        // libx265's own two passes map onto the per-chunk statistics (`JobSpec::two_pass`)
        return None;
    }
    if PRIVATE_PARAMS.contains(&o.name()) {
        let key = arg
            .split(':')
            .filter_map(|kv| kv.split('=').next())
            .map(param_key)
            .find(|k| PRIVATE_PASS_KEYS.contains(&k.as_str()))?;
        return Some(format!(
            "-{} {key}=… (the encoder's own multi-pass)",
            o.flag
        ));
    }
    if o.is("flags") && !top && (arg.contains("ildct") || arg.contains("ilme")) {
        return Some(format!(
            "-{} {arg} (interlaced coding without -top)",
            o.flag
        ));
    }
    None
}

/// libx265's own two-pass through `-x265-params …:pass=1|2[:stats=FILE]`: the pass and its
/// statistics file (x265's default when none is named); None for other values (`pass=3`, no
/// pass).
pub fn x265_pass(arg: &str) -> Option<(u8, String)> {
    if arg.contains(['\'', '\\']) {
        // (quoting and escapes: the value is not split at every colon)
        return None;
    }
    let pairs: Vec<(String, &str)> = (arg.split(':'))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (param_key(k), v.trim()))
        .collect();
    let last = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v);
    let pass = match last("pass")? {
        "1" => 1,
        "2" => 2,
        _ => return None,
    };
    let stats = last("stats").unwrap_or("x265_2pass.log").to_string();
    Some((pass, stats))
}

/// An `-x265-params` value without its `pass` and `stats` keys (the workers get their own).
pub fn without_pass_keys(arg: &str) -> String {
    (arg.split(':'))
        .filter(|kv| {
            let key = param_key(kv.split('=').next().unwrap_or(""));
            !matches!(key.as_str(), "pass" | "stats")
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// A key of an encoder's parameter string as x264's and x265's parsers read it: a leading
/// `--` dropped, `_` as `-`.
fn param_key(k: &str) -> String {
    let k = k.trim();
    k.strip_prefix("--").unwrap_or(k).replace('_', "-")
}

/// Options on the output that are timestamps-neutral muxing, metadata or other-stream settings.
const FINAL_OUT: &[&str] = &[
    "map",
    "map_metadata",
    "map_chapters",
    "metadata",
    "disposition",
    "tag",
    "program",
    "attach",
    "an",
    "sn",
    "dn",
    "vn",
    "f",
    "bsf",
    "absf",
    "vbsf",
    "max_muxing_queue_size",
    "muxing_queue_data_threshold",
    "muxdelay",
    "muxpreload",
    "timestamp",
    "streamid",
    "aframes",
    "aq",
    "ar",
    "ac",
    "af",
    "acodec",
    "atag",
    "sample_fmt",
    "channel_layout",
    "ch_layout",
    "apad",
    "scodec",
    "stag",
    "dcodec",
    "copyinkf",
    "copypriorss",
    "canvas_size",
    "apre",
    "spre",
    "bitexact",
    "map_channel",
    "vtag",
    "ab",
];

/// Options on the output that shape the video encode.
const ENCODE_OUT: &[&str] = &[
    "c",
    "codec",
    "vcodec",
    "b",
    "q",
    "qscale",
    "profile",
    "pix_fmt",
    "s",
    "aspect",
    "r",
    "fps_mode",
    "top",
    "rc_override",
    "intra_matrix",
    "inter_matrix",
    "chroma_intra_matrix",
    "autoscale",
    "bits_per_raw_sample",
];

/// A muxer-level AVOption (`-movflags`, `-fflags`, `-cluster_size_limit`…) rather than a
/// codec one.
pub fn is_muxer_private(o: &Opt) -> bool {
    o.def.is_none() && MUXER_OPTS.contains(&o.name())
}

/// The role of an output option.
pub fn output_role(o: &Opt) -> OutRole {
    let name = o.name();
    match name {
        "ss" | "t" | "to" => OutRole::Timing,
        "pass" | "passlogfile" => OutRole::TwoPass,
        "force_key_frames" => OutRole::Keyframes,
        "vf" | "filter" => OutRole::Filter,
        "frames" | "vframes" => {
            // -frames:a / -frames:s only limit other streams; the video's cap is the planner's
            // (`job::timing::max_frames`).
            match o.spec() {
                Some(s) if s.starts_with('a') || s.starts_with('s') || s.starts_with('d') => {
                    OutRole::Final
                }
                _ => OutRole::Timing,
            }
        }
        _ if FINAL_OUT.contains(&name) => OutRole::Final,
        _ if ENCODE_OUT.contains(&name) => OutRole::Encode,
        _ if is_muxer_private(o) => OutRole::Final,
        // Any other AVOption is a codec (or sws/swr) option: x264-params, crf, preset, g, ...
        _ if o.def.is_none() => OutRole::Encode,
        _ => OutRole::Unsupported,
    }
}

/// The role of an option on the input holding the distributed video stream.
pub fn input_role(o: &Opt) -> InRole {
    let name = o.name();
    match name {
        "ss" | "t" | "to" | "itsoffset" | "accurate_seek" => InRole::Timing,
        "seek_timestamp" if o.arg.as_deref() == Some("0") => InRole::Timing,
        "f" => InRole::Demux,
        // the image2 demuxer's (an image sequence)
        "framerate"
        | "start_number"
        | "start_number_range"
        | "pattern_type"
        | "ts_from_file"
        | "export_path_metadata" => InRole::Demux,
        "loop" => InRole::Unsupported,
        "c" | "codec" | "vcodec" => InRole::Decode,
        "an" | "sn" | "dn" | "acodec" | "scodec" | "ar" | "ac" | "ch_layout" | "channel_layout"
        | "sample_fmt" | "guess_layout_max" | "fix_sub_duration" | "canvas_size"
        | "dump_attachment" | "thread_queue_size" | "bitexact" => InRole::Final,
        // job::rotation decides; the workers get `-autorotate 0` where it matters
        "autorotate" => InRole::Final,
        // job::hwaccel decides; workers decode in software, the final mux decodes no video
        "hwaccel" | "hwaccel_device" | "hwaccel_output_format" => InRole::Final,
        _ if o.def.is_none() && DEMUXER_OPTS.contains(&name) => InRole::Demux,
        _ if o.def.is_none() => InRole::Decode,
        _ => InRole::Unsupported,
    }
}

/// Global options that do not keep a job from distributing: the ones that only talk to the
/// user, and ones whose effect the workers and the final mux reproduce (or re-choose per
/// command).
pub fn global_is_neutral(o: &Opt) -> bool {
    crate::cli::options::TALKS_TO_USER.contains(&o.name())
        || matches!(
            o.name(),
            "xerror"
                | "abort_on"
                | "max_error_rate"
                | "filter_threads"
                | "debug_ts"
                | "cpuflags"
                | "cpucount"
                | "max_alloc"
                | "ignore_unknown"
                | "copy_unknown"
                | "vsync"
                | "async"
                | "adrift_threshold"
                | "dts_delta_threshold"
                | "dts_error_threshold"
                | "auto_conversion_filters"
                | "copyts"
                | "start_at_zero"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        let o = |f: &str| Opt::new(f, Some("x"));
        assert_eq!(output_role(&o("c:v")), OutRole::Encode);
        assert_eq!(output_role(&o("crf")), OutRole::Encode);
        assert_eq!(output_role(&o("x264-params")), OutRole::Encode);
        assert_eq!(output_role(&o("movflags")), OutRole::Final);
        assert_eq!(output_role(&o("vf")), OutRole::Filter);
        assert_eq!(output_role(&o("frames:v")), OutRole::Timing);
        assert_eq!(output_role(&o("frames:a")), OutRole::Final);
        assert_eq!(output_role(&o("force_key_frames")), OutRole::Keyframes);
        assert_eq!(output_role(&o("metadata:s:a:0")), OutRole::Final);
        assert_eq!(input_role(&o("ss")), InRole::Timing);
        assert_eq!(input_role(&o("probesize")), InRole::Demux);
        assert_eq!(input_role(&o("threads")), InRole::Decode);
        assert_eq!(input_role(&o("r")), InRole::Unsupported);
        assert_eq!(input_role(&o("stream_loop")), InRole::Unsupported);
    }
}
