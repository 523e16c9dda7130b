//! Which `-vf` chains can run on chunks: a simple chain of filters that map each frame to one
//! frame at the same timestamp (scale, crop, pad, format, spatial denoisers, …), temporal ones
//! with the context they read, the `fps` grid, and subtitles burned in. Other filters that
//! change frame count or timing, read extra files, read other frames or number frames make the
//! job pass through.

/// Filters whose output frame depends only on its input frame (and its timestamp), which keep
/// every frame and its timestamp and need no local files. Every entry is proven exact against
/// plain ffmpeg by tests/filters.rs (ffv1, framemd5, several chunks); an entry without that
/// proof fails there. Removed after that audit (counts: 96 frames in 4 chunks, as
/// tests/filters.rs runs them):
/// - `yadif`, `kerndeint`: temporal windows (6 and 3 of 96 frames differed when chunks saw no
///   context); they distribute as temporal filters (`window`), with the context decoded.
/// - `hqdn3d`: recursive state, each output feeds the next frame's filter: 84 of 96 differed.
///   A warm-up converged after 6 frames on noisy motion but not within 75 on calmer content:
///   no bounded context makes it exact, so it passes through.
/// - `cropdetect`: frames pass unchanged, but its result is the log, a running maximum over
///   all frames that workers neither share nor print (0 of plain ffmpeg's 94 `crop=` lines).
/// - `colormatrix`: frames matched, but the output lost the `color_space` tag it sets.
/// - `uspp`: not built in this ffmpeg (5.1, Debian), so it cannot be proven here.
///
/// Some option forms of the listed filters are not frame-local either: see `check_chain`.
pub const FRAME_LOCAL: &[&str] = &[
    "null",
    "scale",
    "crop",
    "pad",
    "format",
    "setsar",
    "setdar",
    "unsharp",
    "transpose",
    "rotate",
    "hflip",
    "vflip",
    "eq",
    "colorspace",
    "zscale",
    "lut",
    "lutrgb",
    "lutyuv",
    "curves",
    "gblur",
    "boxblur",
    "deband",
    "colorchannelmixer",
    "hue",
    "colorbalance",
    "colorlevels",
    "drawbox",
    "drawgrid",
    "nlmeans",
    "removegrain",
    "smartblur",
    "convolution",
    "edgedetect",
    "negate",
    "deblock",
    "tonemap",
    "chromashift",
    "vibrance",
    "exposure",
    "monochrome",
    "noformat",
    "setparams",
    "setfield",
    "fillborders",
    "histeq",
    "cas",
    "bilateral",
    "median",
    "dctdnoiz",
    "owdenoise",
    "pp7",
    "spp",
    "fspp",
    "pp",
    "gradfun",
    "fade",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "-vf uses '{0}', which is not proven frame-local (it may change timing or frame count, \
         read other frames or local files)"
    )]
    NotFrameLocal(String),
    #[error("-vf uses '{0}', whose output depends on more than its own frame: {1}")]
    Stateful(String, String),
    #[error("-vf is not a simple filter chain")]
    NotAChain,
}

/// Splits a filter chain at top-level commas, honouring quotes and backslash escapes, and
/// returns each filter's name. Labels and `;` (several chains) are not simple chains.
pub fn filter_names(chain: &str) -> Result<Vec<String>, FilterError> {
    Ok(chain_filters(chain)?.into_iter().map(|(n, _)| n).collect())
}

/// Filters that draw subtitles from a file by each frame's timestamp (`job::burnin` sends the
/// file to the workers; proven by tests/burn_in.rs).
pub const BURN_IN: &[&str] = &["subtitles", "ass"];

/// The filters of a chain as byte ranges of its text, split at the commas libavfilter's
/// graph parser splits at (outside quotes and escapes).
pub fn spans(chain: &str) -> Result<Vec<(usize, usize)>, FilterError> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in chain.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if !quoted => escaped = true,
            '\'' => quoted = !quoted,
            ',' if !quoted => {
                out.push((start, i));
                start = i + 1;
            }
            ';' | '[' | ']' if !quoted => return Err(FilterError::NotAChain),
            _ => {}
        }
    }
    out.push((start, chain.len()));
    Ok(out)
}

/// The chain with `tpad=stop_mode=clone:stop=-1` before its `fps`: on a worker the last frame
/// is repeated past the chunk's input, so `fps` fills its grid up to plain ffmpeg's end
/// whatever end the chunk file gives (the encode stops at the chunk's frame count, and the
/// copies are the frame `fps` would repeat).
pub fn padded_before_fps(chain: &str) -> String {
    for (a, b) in spans(chain).unwrap_or_default() {
        let text = chain[a..b].trim_start();
        let name_end = text.find(['=', '@']).unwrap_or(text.len());
        if text[..name_end].trim() == "fps" {
            let at = b - chain[a..b].trim_start().len();
            return format!(
                "{}tpad=stop_mode=clone:stop=-1,{}",
                &chain[..at],
                &chain[at..]
            );
        }
    }
    chain.to_string()
}

/// Filters known to carry state across frames without a bound, and why (the pass-through
/// reason).
const STATEFUL: &[(&str, &str)] = &[
    ("hqdn3d", "its state carries from frame to frame"),
    ("cropdetect", "its result is a log over all frames"),
];

pub use crate::plan::timeline::{Fps, SetPts, Window};
use crate::rational::{Rational, Round};

/// Temporal filters that keep one output frame per input frame at its timestamp, with the
/// window each reads in the form its options give it (each proven by tests/filters.rs), or why
/// that form does not distribute. Positional options follow each filter's option order.
fn temporal_window(name: &str, args: &str) -> Option<Result<Window, FilterError>> {
    let refused = |why: String| Err(FilterError::Stateful(name.to_string(), why));
    let window = |before, after| {
        Ok(Window {
            before,
            after,
            fields: false,
            fps: None,
            setpts: None,
        })
    };
    // one frame per field: the same window, twice the frames; only where every frame is
    // deinterlaced (with `deint=interlaced` the count depends on each frame's flags)
    let per_field = |deint_at: usize| match option(args, "deint", deint_at).as_deref() {
        None | Some("0" | "all") => Ok(Window {
            before: 1,
            after: 1,
            fields: true,
            fps: None,
            setpts: None,
        }),
        Some(_) => refused(
            "it sends one frame per field of the frames flagged interlaced only (deint=1)"
                .to_string(),
        ),
    };
    Some(match name {
        // prev, cur and next frame; modes 1 and 3 send one frame per field
        "yadif" | "bwdif" => {
            let default = if name == "yadif" { "0" } else { "1" };
            match option(args, "mode", 0).as_deref().unwrap_or(default) {
                "0" | "2" | "send_frame" | "send_frame_nospatial" => window(1, 1),
                "1" | "3" | "send_field" | "send_field_nospatial" => per_field(2),
                m => refused(format!("mode {m} is not understood")),
            }
        }
        "w3fdif" => match option(args, "mode", 1).as_deref().unwrap_or("1") {
            "0" | "frame" => window(1, 1),
            "1" | "field" => per_field(3),
            m => refused(format!("mode {m} is not understood")),
        },
        // keeps the previous frame's planes
        "kerndeint" => window(1, 0),
        // corrects each frame by the luminance of it and the `size - 1` frames after it; at the
        // end of the stream the filter pads its window with the last frame's luminance if its
        // queue was ever full, with zeros if not: `size - 1` frames before each chunk fill it
        "deflicker" => match option(args, "size", 0)
            .or_else(|| option(args, "s", usize::MAX))
            .map_or(Ok(5), |v| v.parse::<usize>())
        {
            Ok(n) if (2..=129).contains(&n) => window(n - 1, n - 1),
            _ => refused("its window size is not a plain number".into()),
        },
        // mixes the last `frames` frames (the first one repeated at the start)
        "tmix" => match option(args, "frames", 0).map_or(Ok(3), |v| v.parse::<usize>()) {
            Ok(n) if (1..=1024).contains(&n) => window(n - 1, 0),
            _ => refused("its frame count is not a plain number".into()),
        },
        // a window of `s` frames centred on the output frame (an even size is made odd)
        "atadenoise" => match option(args, "s", 6).map_or(Ok(9), |v| v.parse::<usize>()) {
            Ok(s) if (5..=129).contains(&s) => window((s | 1) / 2, (s | 1) / 2),
            _ => refused("its window size is not a plain number".into()),
        },
        // its grid: a chunk starts at a frame's first grid point, and its last grid point
        // needs the next frame to know that it comes later
        "fps" => fps_filter(args).map(|fps| Window {
            before: 0,
            after: 1,
            fields: false,
            fps: Some(fps),
            setpts: None,
        }),
        // each frame at a new pts, a multiple of its own
        "setpts" => match option(args, "expr", 0).as_deref().and_then(scaled_pts) {
            Some(sp) => Ok(Window {
                setpts: Some(sp),
                ..Window::default()
            }),
            None => refused("only K*PTS, PTS*K and PTS/K are modelled".into()),
        },
        _ => return None,
    })
}

/// `setpts`' expression when it scales the timestamps by a plain positive number.
fn scaled_pts(expr: &str) -> Option<SetPts> {
    let e: String = expr
        .trim_matches(['\'', '"'])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let number = |k: &str| {
        let plain = !k.is_empty() && k.chars().all(|c| c.is_ascii_digit() || c == '.');
        k.parse::<f64>()
            .ok()
            .filter(|v| plain && *v > 0.0 && v.is_finite())
    };
    let (divide, k) = if let Some(k) = e.strip_prefix("PTS/") {
        (true, number(k)?)
    } else if let Some(k) = e.strip_prefix("PTS*") {
        (false, number(k)?)
    } else {
        (false, number(e.strip_suffix("*PTS")?)?)
    };
    Some(SetPts {
        divide,
        factor_bits: k.to_bits(),
    })
}

/// The `fps` filter's options (rate, start_time, round, eof_action, in that order), or why
/// that form does not distribute.
fn fps_filter(args: &str) -> Result<Fps, FilterError> {
    let refused = |why: String| Err(FilterError::Stateful("fps".into(), why));
    if option(args, "start_time", 1).is_some() {
        return refused("start_time is not modelled".into());
    }
    let rate = option(args, "fps", 0).unwrap_or_else(|| "25".into());
    let Some(rate) = fps_rate(&rate) else {
        return refused(format!("rate {rate} is not a plain number"));
    };
    let round = match option(args, "round", 2).as_deref() {
        None | Some("near" | "5") => Round::Near,
        Some("zero" | "0") => Round::Zero,
        Some("inf" | "1") => Round::Inf,
        Some("down" | "2") => Round::Down,
        Some("up" | "3") => Round::Up,
        Some(r) => return refused(format!("rounding {r} is not understood")),
    };
    let eof_up = match option(args, "eof_action", 3).as_deref() {
        None | Some("round" | "0") => false,
        Some("pass" | "1") => true,
        Some(a) => return refused(format!("eof_action {a} is not understood")),
    };
    Ok(Fps {
        rate,
        round,
        eof_up,
    })
}

/// The `fps` filter's rate as libavfilter makes it (`av_d2q` of the value): an integer, a
/// fraction, a decimal with up to three places, or one of its names; None for other
/// expressions.
fn fps_rate(v: &str) -> Option<Rational> {
    let v = v.trim().trim_matches(['\'', '"']);
    let r = match v {
        "ntsc" => Rational::new(30000, 1001),
        "pal" => Rational::new(25, 1),
        "film" => Rational::new(24, 1),
        "ntsc_film" => Rational::new(24000, 1001),
        _ => match v.split_once(['/', '.']) {
            None => Rational::new(v.parse().ok()?, 1),
            Some((a, b)) if v.contains('/') => Rational::new(a.parse().ok()?, b.parse().ok()?),
            Some((a, b)) if (1..=3).contains(&b.len()) && b.chars().all(|c| c.is_ascii_digit()) => {
                let den = 10i64.pow(b.len() as u32);
                Rational::new(a.parse::<i64>().ok()? * den + b.parse::<i64>().ok()?, den)
            }
            Some(_) => return None,
        },
    };
    let r = r.reduced();
    (r.is_valid() && r.num <= 1_000_000 && r.den <= 1_000_000).then_some(r)
}

/// A filter option's value, by name or at its position among the leading positional values
/// (libavfilter's shorthand: values before the first `key=value` fill the options in order).
fn option(args: &str, name: &str, position: usize) -> Option<String> {
    let args = args.trim().trim_matches(['\'', '"']);
    let parts: Vec<&str> = args.split(':').filter(|p| !p.is_empty()).collect();
    // libavfilter sets the options in order: the last one given wins
    let mut found = None;
    for (i, p) in parts.iter().enumerate() {
        match p.split_once('=') {
            Some((k, v)) if k.trim() == name => found = Some(v.trim().to_string()),
            Some(_) => {}
            None if i == position && parts[..i].iter().all(|q| !q.contains('=')) => {
                found = Some(p.trim().to_string())
            }
            None => {}
        }
    }
    found
}

/// libpostproc subfilters proven spatial (tests/filters.rs); `al` (autolevels) keeps a
/// histogram across frames and `tn` (tmpnoise) blends with earlier frames: 84 of 96 frames
/// differed with either; the deinterlacers and the rest are unproven.
const PP_SPATIAL: &[&str] = &[
    "hb",
    "hdeblock",
    "vb",
    "vdeblock",
    "h1",
    "x1hdeblock",
    "v1",
    "x1vdeblock",
    "ha",
    "ahdeblock",
    "va",
    "avdeblock",
];

/// Checks that every filter of the chain is frame-local or a proven temporal filter, in the
/// form its options give it, and returns the window of context frames the chain reads.
pub fn check_chain(chain: &str) -> Result<Window, FilterError> {
    let mut total = Window::default();
    for (name, args) in chain_filters(chain)? {
        if let Some((_, why)) = STATEFUL.iter().find(|(n, _)| *n == name) {
            return Err(FilterError::Stateful(name, why.to_string()));
        }
        match temporal_window(&name, &args) {
            Some(Ok(w)) => {
                let retimes = |w: &Window| w.fps.is_some() || w.setpts.is_some();
                if (retimes(&w) && total != Window::default()) || retimes(&total) {
                    return Err(FilterError::Stateful(
                        name,
                        "fps or setpts with another filter that reads other frames or retimes them"
                            .into(),
                    ));
                }
                if w.fields && total.fields {
                    return Err(FilterError::Stateful(
                        name,
                        "a second field-rate deinterlacer in the chain".into(),
                    ));
                }
                // (windows after a field-rate deinterlacer count its output frames: summed as
                // input frames they over-estimate the context, which costs only decoding)
                total.before += w.before;
                total.after += w.after;
                total.fields |= w.fields;
                total.fps = w.fps;
                total.setpts = w.setpts;
            }
            Some(Err(e)) => return Err(e),
            // subtitles drawn by each frame's time, from a file the workers get a copy of
            // (`job::burnin`); their options hold no expression
            None if BURN_IN.contains(&name.as_str()) => continue,
            // text drawn by each frame's time and number (`job::drawtext` reads its options)
            None if name == "drawtext" => continue,
            None if !FRAME_LOCAL.contains(&name.as_str()) => {
                return Err(FilterError::NotFrameLocal(name))
            }
            None => {}
        }
        if let Some(word) = counting_word(&args) {
            return Err(FilterError::Stateful(
                name,
                format!(
                    "'{word}' (frame number, byte position, random or stored state) restarts in each chunk"
                ),
            ));
        }
        if name == "fade" {
            if let Some(why) = fade_counts_frames(&args) {
                return Err(FilterError::Stateful(name, why.into()));
            }
        }
        if name == "pp" {
            if let Some(sub) = pp_unproven(&args) {
                return Err(FilterError::Stateful(
                    name,
                    format!("subfilter '{sub}' is not proven frame-local"),
                ));
            }
        }
    }
    Ok(total)
}

/// Checks an `overlay` that lays a still image (one frame) over the main chain: every output
/// frame is its main frame with that image, as in plain ffmpeg, as long as the image stays on
/// to the end (`eof_action=repeat`, `repeatlast=1`, not `shortest`, the defaults) and no
/// expression counts frames.
pub fn check_still_overlay(text: &str) -> Result<(), FilterError> {
    let filters = chain_filters(text)?;
    let [(name, args)] = &filters[..] else {
        return Err(FilterError::NotAChain);
    };
    let stateful = |why: String| Err(FilterError::Stateful(name.clone(), why));
    if let Some(word) = counting_word(args) {
        return stateful(format!(
            "'{word}' (frame number, byte position, random or stored state) restarts in each chunk"
        ));
    }
    let other = |opt: &str, pos: usize, ok: &[&str]| {
        option(args, opt, pos).filter(|v| !ok.contains(&v.as_str()))
    };
    // x and y may read their own values of the frame before
    let own = [("x", 0), ("y", 1)]
        .iter()
        .filter_map(|&(opt, pos)| option(args, opt, pos))
        .find_map(|e| value_word(&e, &["x", "y"]).map(str::to_string));
    if let Some(v) = own {
        return stateful(format!(
            "'{v}' (the position of the frame before) restarts in each chunk"
        ));
    }
    let ended = other("eof_action", 2, &["repeat", "0"])
        .or_else(|| other("shortest", 4, &["0", "false"]))
        .or_else(|| other("repeatlast", 6, &["1", "true"]));
    match ended {
        Some(v) => stateful(format!("the image does not stay on to the end ({v})")),
        None => Ok(()),
    }
}

/// An expression variable or function in a filter's option values that differs per chunk: `n`
/// (frame number: crop, eq, hue, scale with eval=frame, timeline `enable`), `pos` (byte
/// position in the input, another file on a worker), `random` (state carried from frame to
/// frame) or `st`/`ld` (variables an expression stores for the next frame). Values are looked at as whole words; option names (`dctdnoiz=n=3`) are not values,
/// and `t` (the timestamp) is kept by chunks.
fn counting_word(args: &str) -> Option<&str> {
    value_word(args, &["n", "pos", "random", "st", "ld"])
}

/// The first of `words` that stands as a whole word in option values (not an option's name).
fn value_word<'a>(args: &'a str, words: &[&str]) -> Option<&'a str> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut start = 0;
    for (i, c) in args.char_indices().chain([(args.len(), ' ')]) {
        if ident(c) {
            continue;
        }
        let word = &args[start..i];
        let is_name = c == '=' && (start == 0 || args[..start].ends_with(':'));
        if !is_name && words.contains(&word) {
            return Some(word);
        }
        start = i + c.len_utf8();
    }
    None
}

/// Why a `fade` counts frames (which restart in each chunk) rather than following the
/// timestamps: it fades by time only with a duration (`d`) and no start frame or frame count
/// (its positional options are type, start frame, frame count).
fn fade_counts_frames(args: &str) -> Option<&'static str> {
    let parts: Vec<&str> = args
        .trim()
        .trim_matches(['\'', '"'])
        .split(':')
        .filter(|p| !p.is_empty())
        .collect();
    let named = |names: &[&str]| {
        parts.iter().find_map(|p| {
            let (k, v) = p.split_once('=')?;
            names.contains(&k.trim()).then(|| v.trim())
        })
    };
    let positional = parts.iter().take_while(|p| !p.contains('=')).count();
    if positional > 1 || named(&["start_frame", "s", "nb_frames", "n"]).is_some() {
        return Some("it fades over a number of frames (the count restarts in each chunk)");
    }
    match named(&["duration", "d"]) {
        Some(d) if crate::rational::parse_duration_us(d).is_some_and(|us| us > 0) => None,
        _ => Some("without a duration (d=) it fades over a number of frames (the count restarts in each chunk)"),
    }
}

/// The first libpostproc subfilter of `pp`'s options outside `PP_SPATIAL`. Deringing (`dr`,
/// and the `de`, `fa` and `ac` presets and the default that include it) differed next to
/// chunk boundaries on this machine's libpostproc (14 of 200 frames), so it is unproven.
fn pp_unproven(args: &str) -> Option<String> {
    let list = args.trim().trim_matches(['\'', '"']);
    let list = list.strip_prefix("subfilters=").unwrap_or(list);
    if list.trim_matches(['\'', '"']).is_empty() {
        return Some("de".into());
    }
    list.trim_matches(['\'', '"'])
        .split('/')
        .map(|sub| {
            let name = sub.split(['|', ':']).next().unwrap_or("");
            name.trim().trim_start_matches('-').to_string()
        })
        .find(|n| !n.is_empty() && !PP_SPATIAL.contains(&n.as_str()))
}

fn chain_filters(chain: &str) -> Result<Vec<(String, String)>, FilterError> {
    Ok((spans(chain)?.into_iter())
        .map(|(a, b)| {
            let f = chain[a..b].trim();
            let end = f.find(['=', '@']).unwrap_or(f.len());
            let args = f[end..].trim_start_matches(['=', '@']);
            (f[..end].trim().to_string(), args.to_string())
        })
        .collect())
}

#[cfg(test)]
mod tests;
