//! Subtitle burn-in in the video's chain (`subtitles=`, `ass=`): the file each filter reads,
//! how it reaches the workers (shipped as it is, or the subtitle streams and fonts of a
//! matroska file copied out), and the chain the workers run with their copies. Options are
//! read as libavfilter reads them: the graph's level of quoting and escaping, then the
//! filter's own `key=value` list with its options' order for positional values.

use super::filters::FilterError;
use crate::probe::{MediaInfo, MediaKind};

/// How a burn-in's file reaches the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// A file of subtitles (and fonts) only: sent as it is.
    Ship,
    /// A matroska file with other streams (the video itself, often): its subtitle streams and
    /// attachments are copied into a file of their own here, and that is sent.
    Extract,
}

/// One `subtitles` or `ass` filter of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BurnIn {
    /// `subtitles` or `ass`.
    pub filter: String,
    /// The file the filter reads, as the user named it (relative to the cwd).
    pub file: String,
    /// `subtitles`' `stream_index` (`si`), if given.
    pub stream_index: Option<i64>,
    /// How the file reaches the workers (decided once the file is probed).
    pub carry: Carry,
    /// The file's name in a worker's job dir.
    pub remote_name: String,
    /// Where the filter stands in the chain's text (byte range).
    span: (usize, usize),
    /// Its options as libavfilter sets them, in order (canonical names).
    opts: Vec<(String, String)>,
}

/// The options of `subtitles` and `ass`, in the order positional values fill them.
fn option_order(filter: &str) -> &'static [&'static str] {
    const COMMON: [&str; 4] = ["filename", "original_size", "fontsdir", "alpha"];
    match filter {
        "subtitles" => &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            "charenc",
            "stream_index",
            "force_style",
        ],
        _ => &[COMMON[0], COMMON[1], COMMON[2], COMMON[3], "shaping"],
    }
}

/// libavutil's `av_get_token`: skips leading white space, reads up to the first of `term`
/// outside quotes and escapes, removes one level of quoting (`'…'`) and escaping (`\x`), and
/// trims trailing white space that was neither. Returns the token and the rest.
pub fn get_token<'a>(buf: &'a str, term: &[char]) -> (String, &'a str) {
    let ws = [' ', '\n', '\t', '\r'];
    let p = buf.trim_start_matches(ws);
    let mut out = String::new();
    let mut end = 0;
    let mut it = p.char_indices().peekable();
    let mut rest = "";
    while let Some((i, c)) = it.next() {
        if term.contains(&c) {
            rest = &p[i..];
            break;
        }
        match c {
            '\\' if it.peek().is_some() => {
                out.push(it.next().map_or(c, |(_, n)| n));
                end = out.len();
            }
            '\'' => {
                let mut closed = false;
                for (_, q) in it.by_ref() {
                    if q == '\'' {
                        closed = true;
                        break;
                    }
                    out.push(q);
                }
                if closed {
                    end = out.len();
                }
            }
            _ => out.push(c),
        }
    }
    let trimmed = out[end..].trim_end_matches(ws).len();
    out.truncate(end + trimmed);
    (out, rest)
}

/// A filter's option string as `process_options` reads it: `key=value` pairs separated by
/// `:`, leading values without a key filling the options in `order`. Keys are given their
/// canonical names (`f` → `filename`, `si` → `stream_index`).
pub fn filter_options(args: &str, order: &[&str]) -> Result<Vec<(String, String)>, String> {
    let is_key = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.');
    let mut out = Vec::new();
    let mut positional = Some(0);
    let mut rest = args;
    while !rest.is_empty() {
        let s = rest.trim_start_matches([' ', '\n', '\t', '\r']);
        let key_len = s.find(|c: char| !is_key(c)).unwrap_or(s.len());
        let after = s[key_len..].trim_start_matches([' ', '\n', '\t', '\r']);
        let (key, from) = match after.strip_prefix('=') {
            Some(v) if key_len > 0 => (Some(&s[..key_len]), v),
            _ => (None, rest),
        };
        let (value, tail) = get_token(from, &[':']);
        rest = tail.strip_prefix(':').unwrap_or(tail);
        let name = match key {
            Some(k) => {
                positional = None;
                match k {
                    "f" => "filename",
                    "si" => "stream_index",
                    k if order.contains(&k) => k,
                    k => return Err(format!("option '{k}' is not understood")),
                }
            }
            None => {
                let Some(i) = positional.filter(|&i| i < order.len()) else {
                    return Err(format!("value '{value}' names no option"));
                };
                positional = Some(i + 1);
                order[i]
            }
        };
        out.push((name.to_string(), value));
    }
    Ok(out)
}

/// A filter of a chain that `named_filters` picked out.
pub struct Named<'a> {
    pub name: &'a str,
    /// Where it stands in the chain (byte range, leading white space left out).
    pub span: (usize, usize),
    /// Its options with the graph's level of quoting and escaping removed; None without `=`.
    pub args: Option<String>,
}

/// The filters of a chain named one of `names`, or why one of them cannot run on workers
/// (an instance name, `name@id`, which the workers' rewritten copy would not keep).
pub fn named_filters<'a>(chain: &'a str, names: &[&str]) -> Result<Vec<Named<'a>>, FilterError> {
    let mut found = Vec::new();
    for (a, b) in super::filters::spans(chain)? {
        let text = &chain[a..b];
        let lead = text.len() - text.trim_start().len();
        let body = text.trim_start();
        let name_len = body.find(['=', '@', ',']).unwrap_or(body.len());
        let name = body[..name_len].trim();
        if !names.contains(&name) {
            continue;
        }
        let args = match body[name_len..].chars().next() {
            Some('=') => Some(get_token(&body[name_len + 1..], &[]).0),
            Some(_) => {
                let why = "an instance name (@) on it is not kept".to_string();
                return Err(FilterError::Stateful(name.to_string(), why));
            }
            None => None,
        };
        let span = (a + lead, b);
        found.push(Named { name, span, args });
    }
    Ok(found)
}

/// The burn-in filters of a `-vf` chain, with their files and options; or why one of them
/// cannot run on workers.
pub fn find(chain: &str) -> Result<Vec<BurnIn>, FilterError> {
    let mut found = Vec::new();
    for Named { name, span, args } in named_filters(chain, &["subtitles", "ass"])? {
        let refused = |why: String| Err(FilterError::Stateful(name.to_string(), why));
        let Some(args) = args else {
            return refused("it names no file".into());
        };
        let opts = match filter_options(&args, option_order(name)) {
            Ok(o) => o,
            Err(e) => return refused(e),
        };
        let last = |key: &str| opts.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
        let Some(file) = last("filename").filter(|f| !f.is_empty()) else {
            return refused("it names no file".into());
        };
        if last("fontsdir").is_some_and(|d| !d.is_empty()) {
            return refused(
                "fonts read from a local dir (fontsdir) are not sent to workers".into(),
            );
        }
        let stream_index = match last("stream_index").map(|v| v.parse::<i64>()) {
            None => None,
            Some(Ok(i)) if i >= -1 => Some(i).filter(|&i| i >= 0),
            Some(_) => return refused("its stream index is not a number".into()),
        };
        found.push(BurnIn {
            filter: name.to_string(),
            file: file.clone(),
            stream_index,
            carry: Carry::Ship,
            remote_name: String::new(),
            span,
            opts,
        });
    }
    Ok(found)
}

/// Text subtitle codecs that a copy into matroska keeps as they are.
const EXTRACTABLE: &[&str] = &["subrip", "ass", "ssa", "webvtt"];

/// Decides how a burn-in's file reaches the workers from what ffprobe found in it (`index`
/// numbers the chain's burn-ins, for the file's name on workers); or why the job passes
/// through. A file of subtitles only is sent as it is; the subtitle streams and fonts of a
/// matroska file with other streams are copied out, where the stream the filter reads is
/// certain (named by `si`, or the only one).
pub fn decide(b: &mut BurnIn, info: &MediaInfo, index: usize) -> Result<(), String> {
    let subs = (info.streams.iter())
        .filter(|s| s.kind == MediaKind::Subtitle)
        .count();
    let only_subs = (info.streams.iter())
        .all(|s| matches!(s.kind, MediaKind::Subtitle | MediaKind::Attachment));
    let file = &b.file;
    if subs == 0 {
        return Err(format!("{file} has no subtitle stream for {}", b.filter));
    }
    if b.stream_index.is_some_and(|i| i >= subs as i64) {
        return Err(format!(
            "{file} has no subtitle stream {:?}",
            b.stream_index
        ));
    }
    if only_subs {
        b.carry = Carry::Ship;
        let ext = std::path::Path::new(file)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()));
        b.remote_name = match ext {
            Some(e) => format!("aux-sub{index}.{e}"),
            None => format!("aux-sub{index}"),
        };
        return Ok(());
    }
    if b.filter == "ass" {
        return Err(format!("ass reads {file}, which is not a subtitle file"));
    }
    if !info.format.format_name.starts_with("matroska") {
        return Err(format!(
            "subtitles read from a {} file with other streams ({file})",
            info.format.format_name
        ));
    }
    if b.stream_index.is_none() && subs > 1 {
        return Err(format!(
            "{file} has {subs} subtitle streams and no si= picks one (ffmpeg's choice depends on how much of each it probed)"
        ));
    }
    let n = b.stream_index.unwrap_or(0) as usize;
    let stream = (info.streams.iter())
        .filter(|s| s.kind == MediaKind::Subtitle)
        .nth(n);
    if let Some(c) = stream.map(|s| s.codec_name.as_str()) {
        if !EXTRACTABLE.contains(&c) {
            return Err(format!("subtitles in {c} from {file} are not copied out"));
        }
    }
    b.carry = Carry::Extract;
    b.remote_name = format!("aux-sub{index}.mkv");
    Ok(())
}

/// Why the events ffmpeg's demuxer read from a script for `ass=` (`events` of them) may not
/// be the ones libass reads itself: libass follows the `[Events]` section's `Format:` line,
/// the demuxer takes the second and third fields for the start and the end; and a
/// `Dialogue:` line one of them skips. None when both read the same lines.
pub fn ass_events_differ(script: &str, events: usize) -> Option<String> {
    let mut in_events = false;
    let mut format_ok = None;
    let mut dialogues = 0;
    for line in script.lines().map(str::trim) {
        if line.starts_with('[') {
            in_events = line.eq_ignore_ascii_case("[events]");
            continue;
        }
        if !in_events {
            continue;
        }
        if let Some(f) = line.strip_prefix("Format:") {
            let fields: Vec<String> = f.split(',').map(|x| x.trim().to_lowercase()).collect();
            format_ok = Some(fields.get(1..3) == Some(&["start".to_string(), "end".to_string()]));
        } else if line.starts_with("Dialogue:") {
            dialogues += 1;
        }
    }
    if format_ok != Some(true) {
        return Some("its [Events] Format does not put Start and End second and third".into());
    }
    (dialogues != events).then(|| {
        format!(
            "ffmpeg reads {events} of its {dialogues} Dialogue lines (libass reads them itself)"
        )
    })
}

/// Where no chunk may start (µs, open spans), given the subtitle events the burn-ins draw
/// (start and end, µs; no end: to the end). libass places an event, when it is first drawn,
/// around the events already on screen, and keeps that place while it lasts; a chunk that
/// starts while two or more events overlap would place them afresh. So the spans are the
/// stretches where events overlap one another (transitively, touching counts, with a
/// millisecond of margin for libass's rounding), from the first one's start to the last
/// one's end; an event alone is placed the same wherever drawing starts.
pub fn busy_spans(events: &[(i64, Option<i64>)]) -> Vec<(i64, i64)> {
    const MARGIN: i64 = 1000;
    let mut ev: Vec<(i64, i64)> = (events.iter())
        .map(|&(s, e)| (s, e.unwrap_or(i64::MAX).max(s)))
        .collect();
    ev.sort_unstable();
    let mut spans = Vec::new();
    let mut cur: Option<(i64, i64, usize)> = None;
    for (s, e) in ev {
        cur = match cur {
            Some((a, b, n)) if s <= b.saturating_add(MARGIN) => Some((a, b.max(e), n + 1)),
            Some((a, b, n)) => {
                if n > 1 {
                    spans.push((a - MARGIN, b.saturating_add(MARGIN)));
                }
                Some((s, e, 1))
            }
            None => Some((s, e, 1)),
        };
    }
    if let Some((a, b, _)) = cur.filter(|c| c.2 > 1) {
        spans.push((a - MARGIN, b.saturating_add(MARGIN)));
    }
    spans
}

/// The burn-ins as a worker runs them, each reading `paths[i]` (its copy on the worker)
/// instead of the user's file, its other options kept, written out by name: where each one
/// stands in the chain and its text there (for `splice`).
pub fn worker_edits(burn_ins: &[BurnIn], paths: &[&str]) -> Vec<(std::ops::Range<usize>, String)> {
    let mut edits = Vec::new();
    for (b, path) in burn_ins.iter().zip(paths) {
        let opts: Vec<(String, String)> = (b.opts.iter())
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "filename" => path,
                    // the copy holds only the stream the filter reads
                    "stream_index" if b.carry == Carry::Extract => "0",
                    _ => v.as_str(),
                };
                (k.clone(), v.to_string())
            })
            .collect();
        edits.push((
            b.span.0..b.span.1,
            format!("{}={}", b.filter, quote_options(&opts)),
        ));
    }
    edits
}

/// The chain with each edited range replaced by its text (ranges apart, in any order).
pub fn splice(chain: &str, mut edits: Vec<(std::ops::Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::new();
    let mut at = 0;
    for (r, text) in edits {
        out.push_str(&chain[at..r.start]);
        out.push_str(&text);
        at = r.end;
    }
    out.push_str(&chain[at..]);
    out
}

/// A filter's options written out by name, quoted for the filter's option parser and escaped
/// again for the graph's: what `filter_options` and `get_token` read back as `opts`.
pub fn quote_options(opts: &[(String, String)]) -> String {
    let opts: Vec<String> = (opts.iter())
        .map(|(k, v)| format!("{k}='{}'", v.replace('\'', "'\\''")))
        .collect();
    let mut out = String::new();
    for c in opts.join(":").chars() {
        if matches!(c, '\\' | '\'' | '[' | ']' | ',' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_unquote_and_unescape_one_level() {
        assert_eq!(get_token("  'a:b'\\,c :d", &[':']), ("a:b,c".into(), ":d"));
        assert_eq!(get_token("x\\ ", &[]), ("x ".into(), ""));
        assert_eq!(get_token("x  ", &[]), ("x".into(), ""));
        assert_eq!(get_token("'it'\\''s'", &[]), ("it's".into(), ""));
    }

    #[test]
    fn files_and_options_are_read_as_libavfilter_reads_them() {
        let chain = "scale=640:-2,subtitles=subs.srt:force_style='FontSize=28,Outline=2'";
        let b = &find(chain).unwrap()[0];
        assert_eq!(b.file, "subs.srt");
        assert_eq!(
            b.opts[1],
            ("force_style".into(), "FontSize=28,Outline=2".into())
        );
        let b = &find("subtitles='in.mkv:si=1'").unwrap()[0];
        assert_eq!((b.file.as_str(), b.stream_index), ("in.mkv", Some(1)));
        let b = &find("ass=f='my subs.ass':shaping=simple").unwrap()[0];
        assert_eq!(b.file, "my subs.ass");
        let b = &find("subtitles=a.srt:640x480::0:latin1:2").unwrap()[0];
        assert_eq!(b.stream_index, Some(2));
        assert_eq!(b.opts[4], ("charenc".into(), "latin1".into()));
        assert!(find("scale=2:2,hflip").unwrap().is_empty());
        for bad in [
            "subtitles",
            "subtitles=f=a.srt:fontsdir=.",
            "subtitles=a.srt:bogus=1",
            "subtitles@x=a.srt",
            "ass=a.ass:b:c:d:e:f",
        ] {
            assert!(find(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chunks_start_only_where_at_most_one_event_is_on_screen() {
        let s = |a: i64, b: i64| (a * 1000, Some(b * 1000));
        // alone, alone; then three chained by overlaps (and touching), then an open end
        let ev = [
            s(0, 100),
            s(200, 300),
            s(400, 600),
            s(550, 700),
            s(700, 800),
        ];
        assert_eq!(busy_spans(&ev), vec![(399_000, 801_000)]);
        let open = [s(0, 100), (50_000, None)];
        assert_eq!(busy_spans(&open), vec![(-1000, i64::MAX)]);
        assert!(busy_spans(&[s(5, 9)]).is_empty());
    }

    #[test]
    fn an_ass_script_whose_events_ffmpeg_reads_otherwise_is_refused() {
        let head = "[Script Info]\nScriptType: v4.00+\n\n[Events]\n";
        let std =
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n";
        let d = "Dialogue: 0,0:00:00.50,0:00:06.00,Default,,0,0,0,,a\n";
        let ok = format!("{head}{std}{d}{d}");
        assert_eq!(ass_events_differ(&ok, 2), None);
        assert!(ass_events_differ(&ok, 1).is_some());
        let other =
            "Format: Start, End, Layer, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n";
        assert!(ass_events_differ(&format!("{head}{other}{d}"), 1).is_some());
        assert!(ass_events_differ(&format!("{head}{d}"), 1).is_some());
    }

    #[test]
    fn the_workers_chain_reads_their_copy_with_every_other_option() {
        let chain = "hflip, subtitles=subs.srt:force_style='FontSize=28,Outline=2',vflip";
        let b = find(chain).unwrap();
        let w = splice(chain, worker_edits(&b, &["/w/dir:x/aux-sub0.srt"]));
        assert_eq!(
            w,
            "hflip, subtitles=filename=\\'/w/dir:x/aux-sub0.srt\\':force_style=\\'FontSize=28\\,Outline=2\\',vflip"
        );
        // read back, the worker's chain names the copy and the same style
        let back = &find(&w).unwrap()[0];
        assert_eq!(back.file, "/w/dir:x/aux-sub0.srt");
        assert_eq!(back.opts[1], b[0].opts[1]);
    }
}
