//! `drawtext` in the video's chain: the files it reads (`fontfile`, `textfile`), which are
//! sent to the workers, and whether it counts frames (`%{n}`, `n` in its expressions), which
//! each chunk's copy then starts from the chunk's first frame (`start_number`). What depends
//! on anything else than the frame, its time and its number — the wall clock, frame
//! metadata, a timecode counted from the first frame, random numbers, a text file read again
//! — is refused. Options are read as libavfilter reads them (`burnin::get_token`).

use super::burnin::{filter_options, named_filters, quote_options};
use super::filters::{FilterError, Window};

/// One `drawtext` filter of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawText {
    /// The files it reads: (option, the user's path, the name in a worker's job dir).
    pub files: Vec<(String, String, String)>,
    /// It counts frames: each chunk's copy starts from the chunk's first frame.
    pub counts_frames: bool,
    /// Where the filter stands in the chain's text (byte range).
    span: (usize, usize),
    /// Its options as libavfilter sets them, in order.
    opts: Vec<(String, String)>,
}

/// drawtext's options in libavfilter 8 (ffmpeg 5.1), in the order positional values fill
/// them, then the timeline's `enable`.
const ORDER: &[&str] = &[
    "fontfile",
    "text",
    "textfile",
    "fontcolor",
    "fontcolor_expr",
    "boxcolor",
    "bordercolor",
    "shadowcolor",
    "box",
    "boxborderw",
    "line_spacing",
    "fontsize",
    "x",
    "y",
    "shadowx",
    "shadowy",
    "borderw",
    "tabsize",
    "basetime",
    "font",
    "expansion",
    "timecode",
    "tc24hmax",
    "timecode_rate",
    "r",
    "rate",
    "reload",
    "alpha",
    "fix_bounds",
    "start_number",
    "text_source",
    "text_shaping",
    "ft_load_flags",
    "enable",
];

/// Options whose effect is not the frame's alone: a base time and strftime expansion (the
/// wall clock), a timecode (counted from the filter's first frame, without `start_number`),
/// a text file read again, text from side data.
const REFUSED: &[&str] = &[
    "basetime",
    "timecode",
    "tc24hmax",
    "timecode_rate",
    "r",
    "rate",
    "reload",
    "text_source",
];

/// Words in the text or an expression whose value is not the frame's: the wall clock, frame
/// metadata and picture type, random numbers.
const UNREPRODUCIBLE: &[&str] = &[
    "localtime",
    "gmtime",
    "metadata",
    "pict_type",
    "rand",
    "random",
];

/// The `drawtext` filters of a `-vf` chain, or why one of them cannot run on workers.
pub fn find(chain: &str) -> Result<Vec<DrawText>, FilterError> {
    let mut found = Vec::new();
    for f in named_filters(chain, &["drawtext"])? {
        let refused = |why: String| FilterError::Stateful("drawtext".into(), why);
        let opts = filter_options(f.args.as_deref().unwrap_or(""), ORDER).map_err(refused)?;
        found.push(check(opts, f.span).map_err(refused)?);
    }
    Ok(found)
}

/// The chain's drawtext filters, their files named for the workers; or why one of them
/// cannot run there. One that counts frames must see exactly the chunk's frames from its first:
/// no context frames, no retiming before it, no output `-ss` (whose trim comes after the
/// chain, so that plain ffmpeg's count starts earlier).
pub fn decide(
    filter: Option<&str>,
    window: &Window,
    out_ss: bool,
) -> Result<Vec<DrawText>, String> {
    let Some(f) = filter else {
        return Ok(Vec::new());
    };
    let mut all = find(f).map_err(|e| e.to_string())?;
    let w = window;
    let retimed = w.before > 0 || w.after > 0 || w.fields || w.fps.is_some() || w.setpts.is_some();
    if all.iter().any(|d| d.counts_frames) && (retimed || out_ss) {
        return Err("drawtext counts frames ('n') in a chain that reads other frames or retimes them, or before an output -ss".into());
    }
    for (i, d) in all.iter_mut().enumerate() {
        d.name_files(i);
    }
    Ok(all)
}

/// The filter's files and whether it counts frames, or why its output is not the frame's.
fn check(opts: Vec<(String, String)>, span: (usize, usize)) -> Result<DrawText, String> {
    let mut counts_frames = false;
    for (k, v) in &opts {
        if REFUSED.contains(&k.as_str()) {
            return Err(format!("option '{k}' depends on more than the frame"));
        }
        if k == "expansion" && matches!(v.as_str(), "strftime" | "2") {
            return Err("strftime expansion writes the wall clock".into());
        }
        if matches!(k.as_str(), "fontfile" | "textfile" | "font") {
            // (a text file's expansions are read only by the filter: it may count frames)
            counts_frames |= k == "textfile" && !v.is_empty();
            continue;
        }
        if let Some(w) = words(v).find(|w| UNREPRODUCIBLE.contains(w)) {
            return Err(format!("'{w}' in option '{k}' is not the frame's"));
        }
        let n = words(v).any(|w| matches!(w, "n" | "frame_num"));
        if n && k == "enable" {
            return Err("the timeline's 'n' counts frames from each chunk's start".into());
        }
        counts_frames |= n;
    }
    let mut files = Vec::new();
    for key in ["fontfile", "textfile"] {
        if let Some((_, path)) = opts.iter().rev().find(|(k, v)| k == key && !v.is_empty()) {
            files.push((key.to_string(), path.clone(), String::new()));
        }
    }
    Ok(DrawText {
        files,
        counts_frames,
        span,
        opts,
    })
}

/// The identifier-like words of an option value (`%{pts\:hms}` gives `pts`, `hms`).
fn words(v: &str) -> impl Iterator<Item = &str> {
    v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// Why a text file's text is not the frame's (its expansions are read like `text`'s).
pub fn text_refusal(text: &str) -> Option<String> {
    let w = words(text).find(|w| UNREPRODUCIBLE.contains(w))?;
    Some(format!("'{w}' in drawtext's text file is not the frame's"))
}

impl DrawText {
    /// Names the files on workers (`index` numbers the chain's drawtext filters).
    pub fn name_files(&mut self, index: usize) {
        for (key, path, remote) in &mut self.files {
            let ext = std::path::Path::new(path)
                .extension()
                .and_then(|e| e.to_str())
                .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()));
            let key = &key[..4];
            *remote = match ext {
                Some(e) => format!("aux-dt{index}-{key}.{e}"),
                None => format!("aux-dt{index}-{key}"),
            };
        }
    }

    /// The filter as a worker runs it: its files read from `paths` (the worker's copies, in
    /// the order of `files`), and, when it counts frames, counting from `first` (the number
    /// plain ffmpeg's copy gives the chunk's first frame).
    pub fn worker_text(&self, paths: &[String], first: usize) -> (std::ops::Range<usize>, String) {
        let start: usize = (self.opts.iter())
            .rev()
            .find(|(k, _)| k == "start_number")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut opts: Vec<(String, String)> = (self.opts.iter())
            .filter(|(k, _)| !(self.counts_frames && k == "start_number"))
            .map(|(k, v)| {
                let copy = (self.files.iter().zip(paths)).find(|((key, ..), _)| key == k);
                (k.clone(), copy.map_or(v.clone(), |(_, p)| p.clone()))
            })
            .collect();
        if self.counts_frames {
            opts.push(("start_number".into(), (start + first).to_string()));
        }
        (
            self.span.0..self.span.1,
            format!("drawtext={}", quote_options(&opts)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_frame_counting_are_found() {
        let chain =
            "scale=320:-2,drawtext=fontfile=/f/DejaVuSans.ttf:text='%{pts\\:hms} %{n}':x=10+t*20";
        let d = &find(chain).unwrap()[0];
        assert!(d.counts_frames);
        assert_eq!(d.files[0].1, "/f/DejaVuSans.ttf");
        let d = &find("drawtext=text='%{pts}':y=h-th-10,hflip").unwrap()[0];
        assert!(!d.counts_frames && d.files.is_empty());
        let d = &find("drawtext=textfile=t.txt:x='mod(n*4,w)'").unwrap()[0];
        assert!(d.counts_frames);
        // positional: the font file comes first
        let d = &find("drawtext=/f/a.ttf:hello").unwrap()[0];
        assert_eq!(
            (d.files[0].1.as_str(), d.opts[1].1.as_str()),
            ("/f/a.ttf", "hello")
        );
    }

    #[test]
    fn what_is_not_the_frames_own_is_refused() {
        for bad in [
            "drawtext=text='%{localtime}'",
            "drawtext=text='%{pts\\:localtime\\:0}'",
            "drawtext=text='%{metadata\\:lavfi.x}'",
            "drawtext=text=%{pict_type}",
            "drawtext=text=a:x='rand(0,10)'",
            "drawtext=timecode='00\\:00\\:00\\:00':rate=25",
            "drawtext=textfile=t.txt:reload=1",
            "drawtext=text=a:expansion=strftime",
            "drawtext=text=a:enable='lt(n,10)'",
            "drawtext@x=text=a",
            "drawtext=text=a:bogus=1",
        ] {
            assert!(find(bad).is_err(), "{bad}");
        }
        assert!(text_refusal("at %{localtime}").is_some());
        assert!(text_refusal("frame %{n} at %{pts}").is_none());
    }

    #[test]
    fn the_workers_copy_reads_their_files_and_counts_from_the_chunk() {
        let chain = "hflip,drawtext=fontfile=a.ttf:text='%{n}':start_number=5";
        let mut d = find(chain).unwrap().remove(0);
        d.name_files(0);
        assert_eq!(d.files[0].2, "aux-dt0-font.ttf");
        let (at, text) = d.worker_text(&["/w/aux-dt0-font.ttf".into()], 100);
        assert_eq!(
            &chain[at],
            "drawtext=fontfile=a.ttf:text='%{n}':start_number=5"
        );
        assert_eq!(
            text,
            "drawtext=fontfile=\\'/w/aux-dt0-font.ttf\\':text=\\'%{n}\\':start_number=\\'105\\'"
        );
        // read back: the same options, the worker's file, the chunk's start
        let back = &find(&text).unwrap()[0];
        assert_eq!(back.opts[1], ("text".into(), "%{n}".into()));
        assert_eq!(back.opts[2], ("start_number".into(), "105".into()));
    }
}
