//! The decision that needs no probing: exit options, the number and kind of inputs and
//! outputs, global options, image inputs, the output's muxer and the options that rule a
//! command out whatever the media are.

use super::classify::{self, OutRole};
use super::{hwaccel, pass, Overwrite, Passthrough, Pre};
use crate::cli::argv::CmdLine;
use crate::formats;

/// Extensions the image2 demuxer reads (as one image or a numbered sequence).
pub(super) const IMAGE_EXTS: &[&str] = &[
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

/// `cmd` with an image sequence's input `-r N` read as `-framerate N`: fftools then gives the
/// decoded frames the timestamps 0, 1, 2, … in 1/N, which is what the image2 demuxer gives
/// them at `-framerate N` (tests/image_sequence.rs). Only without `-framerate`, without
/// options that seek or shift by the demuxer's timestamps (which differ), and for N up to the
/// demuxer's own 25 fps: above it the last frame keeps the demuxer's 1/25 s, and a cfr output
/// repeats it (61 frames of 60 at `-r 50`).
pub fn sequence_rate(cmd: &CmdLine) -> std::borrow::Cow<'_, CmdLine> {
    const TIMED: &[&str] = &[
        "framerate",
        "ss",
        "sseof",
        "t",
        "to",
        "itsoffset",
        "itsscale",
        "ts_from_file",
    ];
    let rewrite = |inp: &crate::cli::argv::FileArgs| {
        let path = local_path(&inp.url)?;
        // `-r` for every stream (a specifier such as `-r:v:1` may match none)
        let r = inp.last("r").filter(|o| o.flag == "r")?;
        if inp.opts.iter().any(|o| o.is("r") && o.flag != "r") {
            return None;
        }
        let rate = crate::job::timing::parse_rate(r.arg.as_deref()?)?;
        let slow = rate.num > 0 && rate.num <= 25 * rate.den;
        let plain = is_image_sequence(path, inp) && !TIMED.iter().any(|t| inp.last(t).is_some());
        (plain && slow).then(|| r.arg.clone())
    };
    if cmd.inputs.iter().all(|i| rewrite(i).is_none()) {
        return std::borrow::Cow::Borrowed(cmd);
    }
    let mut out = cmd.clone();
    for inp in &mut out.inputs {
        if let Some(rate) = rewrite(inp) {
            for o in inp.opts.iter_mut().filter(|o| o.is("r")) {
                *o = crate::cli::argv::Opt::new("framerate", rate.as_deref());
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether an input is a single image file (read by the image2 demuxer as one frame).
pub fn is_single_image(path: &str, inp: &crate::cli::argv::FileArgs) -> bool {
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
    if let Some(url) = cmd.global("progress").and_then(|o| o.arg.as_deref()) {
        if crate::progress::url::needs_ffmpeg(url) {
            return pass(format!("-progress {url}: a protocol only ffmpeg opens"));
        }
    }
    let out = &cmd.outputs[0];
    // `-f null -` writes nothing to the pipe: a pass 1's usual output, like /dev/null
    let null_pipe = out.last("f").and_then(|o| o.arg.as_deref()) == Some("null")
        && matches!(out.url.as_str(), "-" | "pipe:" | "pipe:1");
    let path = match null_pipe {
        true => "-",
        false => {
            local_path(&out.url).ok_or_else(|| Passthrough("output is a pipe or URL".into()))?
        }
    };
    let graph = cmd
        .globals
        .iter()
        .any(|g| matches!(g.name(), "filter_complex" | "lavfi"));
    for (i, inp) in cmd.inputs.iter().enumerate() {
        let Some(path) = local_path(&inp.url) else {
            return pass(format!("input {} is a pipe or URL", inp.url));
        };
        // a later one may be a still image a graph lays over the video (`graph::Overlay`)
        if is_single_image(path, inp) && !(graph && i > 0) {
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
    let pass1 = out.opts.iter().any(|o| {
        let arg = o.arg.as_deref().unwrap_or("");
        (o.is("pass") && arg == "1")
            || (o.is("x265-params") && super::classify::x265_pass(arg).is_some_and(|p| p.0 == 1))
    });
    let discard_output =
        pass1 && (muxer.is_some_and(|m| m.name == "null") || matches!(path, "/dev/null" | "NUL"));
    if null_pipe && !discard_output {
        return pass("output is a pipe or URL");
    }
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
    Ok(Pre {
        output: path.to_string(),
        muxer,
        overwrite: overwrite(cmd),
        discard_output,
    })
}

/// What `-y`/`-n` say about an existing output.
pub fn overwrite(cmd: &CmdLine) -> Overwrite {
    if cmd.has_global("y") {
        Overwrite::Yes
    } else if cmd.has_global("n") {
        Overwrite::No
    } else {
        Overwrite::Ask
    }
}

/// Why a concat demuxer list (`-f concat -i list.txt`) does not distribute, if it does not:
/// only `file` lines (and the `ffconcat` header, comments, blank lines) are proven; `inpoint`,
/// `outpoint`, `duration` and the other directives change which packets come out and when.
pub fn concat_list_refusal(list: &str) -> Option<String> {
    for line in list.lines().map(str::trim) {
        let word = line.split_whitespace().next().unwrap_or("");
        if line.is_empty() || line.starts_with('#') || word == "file" || word == "ffconcat" {
            continue;
        }
        return Some(format!("concat list directive '{word}'"));
    }
    None
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
