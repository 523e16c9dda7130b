//! The timing options of a job (`-ss`, `-t`, `-to`, `-itsoffset`, `-accurate_seek` on the input,
//! `-ss`/`-t`/`-to` on the output, `-r`, `-fps_mode`/`-vsync`) parsed with ffmpeg's rules.

use super::Passthrough;
use crate::cli::argv::{CmdLine, FileArgs, Opt};
use crate::cli::mapping::last_matching;
use crate::cli::spec::StreamView;
use crate::formats::Muxer;
use crate::plan::sync::SyncMode;
use crate::plan::timeline::Trims;
use crate::probe::MediaInfo;
use crate::rational::{parse_duration_us, rescale_q, Rational, MICROS};

/// Parsed timing options, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    pub in_ss_us: Option<i64>,
    pub in_t_us: Option<i64>,
    pub in_to_us: Option<i64>,
    pub itsoffset_us: i64,
    pub accurate_seek: bool,
    pub out_ss_us: Option<i64>,
    pub out_t_us: Option<i64>,
    pub out_to_us: Option<i64>,
}

fn dur(file: &FileArgs, name: &str) -> Result<Option<i64>, Passthrough> {
    match file.last(name) {
        None => Ok(None),
        Some(o) => {
            let a = o.arg.as_deref().unwrap_or("");
            parse_duration_us(a)
                .map(Some)
                .ok_or_else(|| Passthrough(format!("-{name} {a} is not a duration")))
        }
    }
}

/// `-t` wins over `-to`; `-to` must lie after `-ss` (ffmpeg aborts otherwise).
fn recording(t: Option<i64>, to: Option<i64>, ss: Option<i64>) -> Result<Option<i64>, Passthrough> {
    match (t, to) {
        (Some(t), _) => Ok(Some(t)),
        (None, Some(to)) => {
            let start = ss.unwrap_or(0);
            if to <= start {
                Err(Passthrough("-to value smaller than -ss".into()))
            } else {
                Ok(Some(to - start))
            }
        }
        (None, None) => Ok(None),
    }
}

/// The timing options of the video's input and of the output, or why they pass through.
pub fn parse(input: &FileArgs, out: &FileArgs) -> Result<Timing, Passthrough> {
    let t = Timing {
        in_ss_us: dur(input, "ss")?,
        in_t_us: dur(input, "t")?,
        in_to_us: dur(input, "to")?,
        itsoffset_us: dur(input, "itsoffset")?.unwrap_or(0),
        accurate_seek: input.last("accurate_seek").is_none_or(Opt::bool_value),
        out_ss_us: dur(out, "ss")?,
        out_t_us: dur(out, "t")?,
        out_to_us: dur(out, "to")?,
    };
    if t.in_ss_us.is_some() && !t.accurate_seek {
        return Err(Passthrough("-noaccurate_seek".into()));
    }
    if t.in_ss_us.is_some() && t.itsoffset_us > 0 {
        // The kept frames would start before the seek point, where the demuxer's own choice
        // of keyframe decides what exists.
        return Err(Passthrough(
            "a positive -itsoffset with -ss on the video's input".into(),
        ));
    }
    recording(t.in_t_us, t.in_to_us, t.in_ss_us)?;
    recording(t.out_t_us, t.out_to_us, t.out_ss_us)?;
    Ok(t)
}

impl Timing {
    pub fn in_duration_us(&self) -> Option<i64> {
        recording(self.in_t_us, self.in_to_us, self.in_ss_us)
            .ok()
            .flatten()
    }

    pub fn out_duration_us(&self) -> Option<i64> {
        recording(self.out_t_us, self.out_to_us, self.out_ss_us)
            .ok()
            .flatten()
    }

    /// The input's `ts_offset` and the trims, given the file's start time.
    pub fn trims(&self, file_start_us: i64) -> Trims {
        Trims {
            ts_offset_us: self.itsoffset_us - (self.in_ss_us.unwrap_or(0) + file_start_us),
            input_start: self.in_ss_us.is_some(),
            input_duration_us: self.in_duration_us(),
            output_start_us: self.out_ss_us,
            output_duration_us: self.out_duration_us(),
        }
    }
}

/// av_parse_video_rate: abbreviations, `a/b`, `a:b` or a decimal.
pub fn parse_rate(s: &str) -> Option<Rational> {
    let abbr = [
        ("ntsc", (30000, 1001)),
        ("pal", (25, 1)),
        ("qntsc", (30000, 1001)),
        ("qpal", (25, 1)),
        ("sntsc", (30000, 1001)),
        ("spal", (25, 1)),
        ("film", (24, 1)),
        ("ntsc-film", (24000, 1001)),
    ];
    if let Some((_, (n, d))) = abbr.iter().find(|(a, _)| *a == s) {
        return Some(Rational::new(*n, *d));
    }
    if s.contains('/') || s.contains(':') {
        let r = Rational::parse(s)?;
        return r.is_valid().then(|| r.reduced());
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 6 {
        return None;
    }
    let den = 10i64.pow(frac.len() as u32);
    let num = format!("{int}{frac}").parse::<i64>().ok()?;
    let r = Rational::new(num, den).reduced();
    r.is_valid().then_some(r)
}

/// The encoded video's `-frames:v`/`-vframes`/`-frames` cap (fftools 5.1 counts the frames it
/// sends to the encoder). When the video reaches the cap, ffmpeg closes every stream of the
/// output that comes after it (`need_output` scans the streams in order and stops at the first
/// unfinished one), at a point its decoder's delay decides; with such streams the planner
/// checks that the cap is never reached (`run::plan_job`). A cap that also limits another
/// stream passes through.
pub fn max_frames(
    out: &FileArgs,
    views: &[StreamView],
    vi: usize,
) -> Result<Option<i64>, Passthrough> {
    let err = |e: crate::cli::mapping::MapError| Passthrough(e.to_string());
    let Some(o) = last_matching(&out.opts, &["frames"], views, vi).map_err(err)? else {
        return Ok(None);
    };
    let arg = o.arg.as_deref().unwrap_or("");
    let n = match arg.parse::<i64>() {
        Ok(n) if n > 0 && arg.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => return Err(Passthrough(format!("-{} {arg}", o.flag))),
    };
    for i in (0..views.len()).filter(|&i| i != vi) {
        if last_matching(&out.opts, &["frames"], views, i)
            .map_err(err)?
            .is_some()
        {
            return Err(Passthrough(format!(
                "-{} {arg} also limits output stream {i}",
                o.flag
            )));
        }
    }
    Ok(Some(n))
}

/// Why `-copyts` (with or without `-start_at_zero`) does not distribute, if it does not.
/// fftools then keeps the inputs' timestamps; that writes what the planner models only where
/// nothing would have moved them: no input or output `-ss` (whose trims and shifts copyts
/// leaves out) and every input starting at zero, or `-start_at_zero` (which subtracts the
/// start as usual). Its other effect, cfr turned into vscfr, is `sync_mode`'s.
pub fn copyts_refusal(cmd: &CmdLine, out: &FileArgs, infos: &[MediaInfo]) -> Option<String> {
    if !cmd.has_global("copyts") {
        return None;
    }
    if cmd
        .inputs
        .iter()
        .any(|i| i.last("ss").is_some() || i.last("sseof").is_some())
    {
        return Some("-copyts with an input -ss (the timestamps keep the seek)".into());
    }
    if out.last("ss").is_some() {
        return Some("-copyts with an output -ss".into());
    }
    let at_zero = cmd.has_global("start_at_zero");
    let late = infos
        .iter()
        .any(|i| i.format.start_time_us.is_some_and(|s| s != 0));
    (late && !at_zero).then(|| "-copyts on an input that does not start at zero".into())
}

/// Plain ffmpeg's frame-rate mode for the encoded stream. `from_graph`: the stream is a
/// `-filter_complex` output, which has no source stream when ffmpeg chooses the mode, so the
/// single-stream input never turns cfr into vscfr.
#[allow(clippy::too_many_arguments)]
pub fn sync_mode(
    cmd: &CmdLine,
    out: &FileArgs,
    views: &[StreamView],
    vi: usize,
    muxer: &Muxer,
    info: &MediaInfo,
    input: &FileArgs,
    from_graph: bool,
) -> Result<SyncMode, Passthrough> {
    let global = cmd.global("vsync").and_then(|o| o.arg.clone());
    let per = last_matching(&out.opts, &["fps_mode"], views, vi)
        .map_err(|e| Passthrough(e.to_string()))?
        .and_then(|o| o.arg.clone());
    let chosen = per.or(global).unwrap_or_else(|| "auto".into());
    let explicit = match chosen.to_ascii_lowercase().as_str() {
        "auto" | "-1" => None,
        "passthrough" | "0" => Some(SyncMode::Passthrough),
        "cfr" | "1" => Some(SyncMode::Cfr),
        "vfr" | "2" => Some(SyncMode::Vfr),
        other => return Err(Passthrough(format!("-fps_mode {other}"))),
    };
    match explicit {
        Some(SyncMode::Cfr) if muxer.variable_fps => Err(Passthrough(
            "-fps_mode cfr into a variable-frame-rate container".into(),
        )),
        Some(m) => Ok(m),
        None => {
            let mode = muxer.auto_sync();
            let itsoffset = input.last("itsoffset").is_some();
            // (fftools: a single-stream input without an offset, or -copyts)
            let single = info.streams.len() == 1 && !itsoffset && !from_graph;
            if mode == SyncMode::Cfr && (single || cmd.has_global("copyts")) {
                Ok(SyncMode::Vscfr)
            } else {
                Ok(mode)
            }
        }
    }
}

/// `-force_key_frames`: a list of times (as encoder pts) or an `expr:` form the planner
/// reproduces (`plan::keyframes`); None for the forms it does not (`chapters`, `source`,
/// other expressions).
pub fn keyframes(v: &str, enc_tb: Rational) -> Option<crate::plan::keyframes::Keyframes> {
    use crate::plan::keyframes::{parse_expr, Keyframes};
    if let Some(e) = v.strip_prefix("expr:") {
        return parse_expr(e);
    }
    if v.starts_with("source") || v.contains("chapters") {
        return None;
    }
    let mut times = v
        .split(',')
        .map(|t| parse_duration_us(t.trim()).map(|us| rescale_q(us, MICROS, enc_tb)))
        .collect::<Option<Vec<i64>>>()?;
    times.sort_unstable();
    Some(Keyframes::Times(times))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_like_av_parse_video_rate() {
        assert_eq!(parse_rate("30000/1001"), Some(Rational::new(30000, 1001)));
        assert_eq!(parse_rate("ntsc"), Some(Rational::new(30000, 1001)));
        assert_eq!(parse_rate("25"), Some(Rational::new(25, 1)));
        assert_eq!(parse_rate("29.97"), Some(Rational::new(2997, 100)));
        assert_eq!(parse_rate("60/2"), Some(Rational::new(30, 1)));
        assert_eq!(parse_rate("x"), None);
        assert_eq!(parse_rate("0"), None);
    }

    #[test]
    fn to_before_ss_is_an_error() {
        let cl = CmdLine::parse(&["-ss", "5", "-to", "3", "-i", "a", "o.mkv"]).unwrap();
        assert!(parse(&cl.inputs[0], &cl.outputs[0]).is_err());
        let cl = CmdLine::parse(&[
            "-ss", "2", "-to", "5", "-i", "a", "-ss", "1", "-t", "2", "o.mkv",
        ])
        .unwrap();
        let t = parse(&cl.inputs[0], &cl.outputs[0]).unwrap();
        assert_eq!(t.in_duration_us(), Some(3_000_000));
        assert_eq!(t.out_duration_us(), Some(2_000_000));
        let tr = t.trims(100_000);
        assert_eq!(tr.ts_offset_us, -2_100_000);
        assert!(tr.input_start);
    }
}
