//! The option table of ffmpeg's command line (fftools 5.1 `options[]` plus cmdutils' common
//! options): which options take an argument, which are per-file or per-stream, and their media
//! type. Anything not listed is an AVOption (codec/format/sws/swr) and takes one argument.

/// Takes an argument.
pub const ARG: u32 = 1;
/// Boolean flag; `-noNAME` sets it to 0.
pub const BOOL: u32 = 1 << 1;
/// Prints something and exits; takes an optional argument (`-h topic`).
pub const EXIT: u32 = 1 << 2;
/// Accepts a stream specifier (`-c:v`).
pub const SPEC: u32 = 1 << 3;
/// Applies to the next input or output file.
pub const PERFILE: u32 = 1 << 4;
/// Stored in the per-file options context (also per file).
pub const OFFSET: u32 = 1 << 5;
/// Valid on an input file.
pub const INPUT: u32 = 1 << 6;
/// Valid on an output file.
pub const OUTPUT: u32 = 1 << 7;
pub const VIDEO: u32 = 1 << 8;
pub const AUDIO: u32 = 1 << 9;
pub const SUBTITLE: u32 = 1 << 10;
pub const DATA: u32 = 1 << 11;
const NONE: u32 = 0;

/// Global options that change only how ffmpeg talks to the user (prompts, logs, stats,
/// progress reports), never what it writes: the one list for the job's identity (resume),
/// for what FINAL and AUDIO leave out, and for what never keeps a job from distributing.
pub const TALKS_TO_USER: &[&str] = &[
    "y",
    "n",
    "stdin",
    "stats",
    "stats_period",
    "hide_banner",
    "v",
    "loglevel",
    "progress",
    "report",
    "benchmark",
    "benchmark_all",
];

/// One entry of ffmpeg's option table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptDef {
    pub name: &'static str,
    pub flags: u32,
}

impl OptDef {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
    /// ffmpeg keeps options without PERFILE/SPEC/OFFSET in the global group wherever they appear.
    pub fn is_global(&self) -> bool {
        self.flags & (PERFILE | SPEC | OFFSET) == 0
    }
}

const fn od(name: &'static str, flags: u32) -> OptDef {
    OptDef { name, flags }
}

/// Looks an option up the way cmdutils' `find_option` does: `name` may carry a `:spec` suffix.
pub fn find(name: &str) -> Option<&'static OptDef> {
    TABLE.iter().find(|d| {
        name.strip_prefix(d.name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    })
}

static TABLE: &[OptDef] = &[
    od("L", EXIT),
    od("h", EXIT),
    od("?", EXIT),
    od("help", EXIT),
    od("-help", EXIT),
    od("version", EXIT),
    od("buildconf", EXIT),
    od("formats", EXIT),
    od("muxers", EXIT),
    od("demuxers", EXIT),
    od("devices", EXIT),
    od("codecs", EXIT),
    od("decoders", EXIT),
    od("encoders", EXIT),
    od("bsfs", EXIT),
    od("protocols", EXIT),
    od("filters", EXIT),
    od("pix_fmts", EXIT),
    od("layouts", EXIT),
    od("sample_fmts", EXIT),
    od("dispositions", EXIT),
    od("colors", EXIT),
    od("loglevel", ARG),
    od("v", ARG),
    od("report", NONE),
    od("max_alloc", ARG),
    od("cpuflags", ARG),
    od("cpucount", ARG),
    od("hide_banner", BOOL),
    od("f", ARG | OFFSET | INPUT | OUTPUT),
    od("y", BOOL),
    od("n", BOOL),
    od("ignore_unknown", BOOL),
    od("copy_unknown", BOOL),
    od("recast_media", BOOL),
    od("c", ARG | SPEC | INPUT | OUTPUT),
    od("codec", ARG | SPEC | INPUT | OUTPUT),
    od("pre", ARG | SPEC | OUTPUT),
    od("map", ARG | PERFILE | OUTPUT),
    od("map_channel", ARG | PERFILE | OUTPUT),
    od("map_metadata", ARG | SPEC | OUTPUT),
    od("map_chapters", ARG | OFFSET | OUTPUT),
    od("t", ARG | OFFSET | INPUT | OUTPUT),
    od("to", ARG | OFFSET | INPUT | OUTPUT),
    od("fs", ARG | OFFSET | OUTPUT),
    od("ss", ARG | OFFSET | INPUT | OUTPUT),
    od("sseof", ARG | OFFSET | INPUT),
    od("seek_timestamp", ARG | OFFSET | INPUT),
    od("accurate_seek", BOOL | OFFSET | INPUT),
    od("isync", ARG | OFFSET | INPUT),
    od("itsoffset", ARG | OFFSET | INPUT),
    od("itsscale", ARG | SPEC | INPUT),
    od("timestamp", ARG | PERFILE | OUTPUT),
    od("metadata", ARG | SPEC | OUTPUT),
    od("program", ARG | SPEC | OUTPUT),
    od("dframes", ARG | PERFILE | OUTPUT),
    od("benchmark", BOOL),
    od("benchmark_all", BOOL),
    od("progress", ARG),
    od("stdin", BOOL),
    od("timelimit", ARG),
    od("dump", BOOL),
    od("hex", BOOL),
    od("re", BOOL | OFFSET | INPUT),
    od("readrate", ARG | OFFSET | INPUT),
    od("target", ARG | PERFILE | OUTPUT),
    od("vsync", ARG),
    od("frame_drop_threshold", ARG),
    od("async", ARG),
    od("adrift_threshold", ARG),
    od("copyts", BOOL),
    od("start_at_zero", BOOL),
    od("copytb", ARG),
    od("shortest", BOOL | OFFSET | OUTPUT),
    od("bitexact", BOOL | OFFSET | OUTPUT | INPUT),
    od("apad", ARG | SPEC | OUTPUT),
    od("dts_delta_threshold", ARG),
    od("dts_error_threshold", ARG),
    od("xerror", BOOL),
    od("abort_on", ARG),
    od("copyinkf", BOOL | SPEC | OUTPUT),
    od("copypriorss", ARG | SPEC | OUTPUT),
    od("frames", ARG | SPEC | OUTPUT),
    od("tag", ARG | SPEC | OUTPUT | INPUT),
    od("q", ARG | SPEC | OUTPUT),
    od("qscale", ARG | PERFILE | OUTPUT),
    od("profile", ARG | PERFILE | OUTPUT),
    od("filter", ARG | SPEC | OUTPUT),
    od("filter_threads", ARG),
    od("filter_script", ARG | SPEC | OUTPUT),
    od("reinit_filter", ARG | SPEC | INPUT),
    od("filter_complex", ARG),
    od("filter_complex_threads", ARG),
    od("lavfi", ARG),
    od("filter_complex_script", ARG),
    od("auto_conversion_filters", BOOL),
    od("stats", BOOL),
    od("stats_period", ARG),
    od("attach", ARG | PERFILE | OUTPUT),
    od("dump_attachment", ARG | SPEC | INPUT),
    od("stream_loop", ARG | INPUT | OFFSET),
    od("debug_ts", BOOL),
    od("max_error_rate", ARG),
    od("discard", ARG | SPEC | INPUT),
    od("disposition", ARG | SPEC | OUTPUT),
    od("thread_queue_size", ARG | OFFSET | INPUT),
    od("find_stream_info", BOOL | PERFILE | INPUT),
    od("bits_per_raw_sample", ARG | SPEC | OUTPUT),
    od("vframes", VIDEO | ARG | PERFILE | OUTPUT),
    od("r", VIDEO | ARG | SPEC | INPUT | OUTPUT),
    od("fpsmax", VIDEO | ARG | SPEC | OUTPUT),
    od("s", VIDEO | ARG | SUBTITLE | SPEC | INPUT | OUTPUT),
    od("aspect", VIDEO | ARG | SPEC | OUTPUT),
    od("pix_fmt", VIDEO | ARG | SPEC | INPUT | OUTPUT),
    od("vn", VIDEO | BOOL | OFFSET | INPUT | OUTPUT),
    od("rc_override", VIDEO | ARG | SPEC | OUTPUT),
    od("vcodec", VIDEO | ARG | PERFILE | INPUT | OUTPUT),
    od("timecode", VIDEO | ARG | PERFILE | OUTPUT),
    od("pass", VIDEO | ARG | SPEC | OUTPUT),
    od("passlogfile", VIDEO | ARG | SPEC | OUTPUT),
    od("psnr", VIDEO | BOOL),
    od("vstats", VIDEO),
    od("vstats_file", VIDEO | ARG),
    od("vstats_version", VIDEO | ARG),
    od("vf", VIDEO | ARG | PERFILE | OUTPUT),
    od("intra_matrix", VIDEO | ARG | SPEC | OUTPUT),
    od("inter_matrix", VIDEO | ARG | SPEC | OUTPUT),
    od("chroma_intra_matrix", VIDEO | ARG | SPEC | OUTPUT),
    od("top", VIDEO | ARG | SPEC | INPUT | OUTPUT),
    od("vtag", VIDEO | ARG | PERFILE | INPUT | OUTPUT),
    od("qphist", VIDEO | BOOL),
    od("fps_mode", VIDEO | ARG | SPEC | OUTPUT),
    od("force_fps", VIDEO | BOOL | SPEC | OUTPUT),
    od("streamid", VIDEO | ARG | PERFILE | OUTPUT),
    od("force_key_frames", VIDEO | ARG | SPEC | OUTPUT),
    od("ab", VIDEO | ARG | PERFILE | OUTPUT),
    od("b", VIDEO | ARG | PERFILE | OUTPUT),
    od("hwaccel", VIDEO | ARG | SPEC | INPUT),
    od("hwaccel_device", VIDEO | ARG | SPEC | INPUT),
    od("hwaccel_output_format", VIDEO | ARG | SPEC | INPUT),
    od("hwaccels", EXIT),
    od("autorotate", ARG | BOOL | SPEC | INPUT),
    od("autoscale", ARG | BOOL | SPEC | OUTPUT),
    od("aframes", AUDIO | ARG | PERFILE | OUTPUT),
    od("aq", AUDIO | ARG | PERFILE | OUTPUT),
    od("ar", AUDIO | ARG | SPEC | INPUT | OUTPUT),
    od("ac", AUDIO | ARG | SPEC | INPUT | OUTPUT),
    od("an", AUDIO | BOOL | OFFSET | INPUT | OUTPUT),
    od("acodec", AUDIO | ARG | PERFILE | INPUT | OUTPUT),
    od("atag", AUDIO | ARG | PERFILE | OUTPUT),
    od("vol", AUDIO | ARG),
    od("sample_fmt", AUDIO | ARG | SPEC | INPUT | OUTPUT),
    od("channel_layout", AUDIO | ARG | SPEC | INPUT | OUTPUT),
    od("ch_layout", AUDIO | ARG | SPEC | INPUT | OUTPUT),
    od("af", AUDIO | ARG | PERFILE | OUTPUT),
    od("guess_layout_max", AUDIO | ARG | SPEC | INPUT),
    od("sn", SUBTITLE | BOOL | OFFSET | INPUT | OUTPUT),
    od("scodec", SUBTITLE | ARG | PERFILE | INPUT | OUTPUT),
    od("stag", SUBTITLE | ARG | PERFILE | OUTPUT),
    od("fix_sub_duration", BOOL | SUBTITLE | SPEC | INPUT),
    od("canvas_size", SUBTITLE | ARG | SPEC | INPUT),
    od("muxdelay", ARG | OFFSET | OUTPUT),
    od("muxpreload", ARG | OFFSET | OUTPUT),
    od("sdp_file", ARG | OUTPUT),
    od("time_base", ARG | SPEC | OUTPUT),
    od("enc_time_base", ARG | SPEC | OUTPUT),
    od("bsf", ARG | SPEC | OUTPUT),
    od("absf", ARG | AUDIO | PERFILE | OUTPUT),
    od("vbsf", VIDEO | ARG | PERFILE | OUTPUT),
    od("apre", ARG | AUDIO | PERFILE | OUTPUT),
    od("vpre", VIDEO | ARG | PERFILE | OUTPUT),
    od("spre", ARG | SUBTITLE | PERFILE | OUTPUT),
    od("fpre", ARG | PERFILE | OUTPUT),
    od("max_muxing_queue_size", ARG | SPEC | OUTPUT),
    od("muxing_queue_data_threshold", ARG | SPEC | OUTPUT),
    od("dcodec", ARG | DATA | PERFILE | INPUT | OUTPUT),
    od("dn", BOOL | VIDEO | OFFSET | INPUT | OUTPUT),
    od("vaapi_device", ARG),
    od("qsv_device", ARG),
    od("init_hw_device", ARG),
    od("filter_hw_device", ARG),
];
