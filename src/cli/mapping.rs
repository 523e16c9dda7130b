//! Which input streams become output streams, in which order, exactly as fftools 5.1 decides:
//! the user's `-map` list (negative and optional maps included) or, without `-map`, the default
//! selection (best video, best audio, first compatible subtitle). Also per-output-stream option
//! lookup with MATCH_PER_STREAM_OPT's "last matching option wins" rule.

use super::argv::{CmdLine, FileArgs, Opt};
use super::spec::{stream_id, Spec, StreamView};
use crate::formats::{self, Muxer, SubKind};
use crate::probe::{MediaInfo, MediaKind, StreamInfo};

/// One output stream and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutStream {
    pub file: usize,
    pub stream: usize,
    pub kind: MediaKind,
    pub attached_pic: bool,
    /// The source stream's disposition flags that are set (`default`, `forced`, …).
    pub disposition: Vec<String>,
    pub time_base: crate::rational::Rational,
    pub sample_rate: u32,
    /// The output of a `-filter_complex` chain reading `file`/`stream`: fftools opens it with
    /// no source stream, so neither the disposition nor the tags of the input are copied.
    pub from_graph: bool,
    /// The graph output label it is mapped by (`-map [label]`), for a graph output.
    pub label: Option<String>,
}

/// An output of a `-filter_complex`: its label (None: unlabelled, which ffmpeg maps itself; a
/// video output only), the input stream it reads, and its kind.
pub type GraphOutput<'a> = (Option<&'a str>, usize, usize, MediaKind);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("-map {0}: filter graph outputs are not distributed")]
    Label(String),
    #[error("the filter graph's output [{0}] is not mapped")]
    Unmapped(String),
    #[error("the filter graph's output [{0}] is mapped more than once")]
    MappedTwice(String),
    #[error("-map {0}: not understood")]
    Syntax(String),
    #[error("-map {0} matches no streams")]
    NoMatch(String),
    #[error("input #{0}:{1} has an unsupported type")]
    UnknownType(usize, usize),
    #[error(transparent)]
    Spec(#[from] super::spec::SpecError),
}

pub fn view(s: &StreamInfo) -> StreamView {
    StreamView {
        kind: Some(s.kind),
        attached_pic: s.is_attached_pic(),
        tags: s.tags.clone(),
        id: stream_id(s.id.as_deref()),
    }
}

/// Output streams as specifier targets (their metadata is still empty when ffmpeg matches).
pub fn out_views(outs: &[OutStream]) -> Vec<StreamView> {
    outs.iter()
        .map(|o| StreamView {
            kind: Some(o.kind),
            attached_pic: o.attached_pic,
            ..Default::default()
        })
        .collect()
}

/// Per-input `-vn`/`-an`/`-sn`/`-dn`: streams the user discarded on the input side.
fn discarded(input: &FileArgs, kind: MediaKind) -> bool {
    let flag = match kind {
        MediaKind::Video => "vn",
        MediaKind::Audio => "an",
        MediaKind::Subtitle => "sn",
        MediaKind::Data => "dn",
        _ => return false,
    };
    input.last(flag).is_some_and(Opt::bool_value)
}

/// Output streams for output file `out` of `cmd`, given probes of all inputs.
pub fn resolve(
    cmd: &CmdLine,
    out: &FileArgs,
    infos: &[MediaInfo],
    muxer: &Muxer,
) -> Result<Vec<OutStream>, MapError> {
    resolve_with_graph(cmd, out, infos, muxer, &[])
}

/// `resolve` when a filter graph has one output, labelled `graph.0`, fed by input stream
/// (`graph.1`, `graph.2`): `-map [label]` puts it where the map stands; it must be mapped
/// exactly once (ffmpeg refuses an unconnected or twice-used output). `-vn` and negative maps
/// do not remove it, as in fftools.
pub fn resolve_with_graph(
    cmd: &CmdLine,
    out: &FileArgs,
    infos: &[MediaInfo],
    muxer: &Muxer,
    graph: &[GraphOutput],
) -> Result<Vec<OutStream>, MapError> {
    let disabled = |k: &str| out.last(k).is_some_and(Opt::bool_value);
    let (vn, an, sn, dn) = (
        disabled("vn"),
        disabled("an"),
        disabled("sn"),
        disabled("dn"),
    );
    let maps: Vec<&Opt> = out.opts.iter().filter(|o| o.is("map")).collect();
    let mk = |file: usize, stream: usize| {
        let s = &infos[file].streams[stream];
        OutStream {
            file,
            stream,
            kind: s.kind,
            attached_pic: s.is_attached_pic(),
            disposition: s
                .disposition
                .iter()
                .filter(|(_, &v)| v != 0)
                .map(|(k, _)| k.clone())
                .collect(),
            time_base: s.time_base,
            sample_rate: s.sample_rate,
            from_graph: false,
            label: None,
        }
    };
    let graph_stream = |&(label, f, s, kind): &GraphOutput| OutStream {
        kind,
        attached_pic: false,
        disposition: Vec::new(),
        from_graph: true,
        label: label.map(str::to_string),
        ..mk(f, s)
    };
    // an unlabelled graph output comes first, and no other video is picked for it
    let unlabelled = graph.iter().find(|g| g.0.is_none()).map(graph_stream);
    let labelled = || graph.iter().filter_map(|g| g.0);
    if let (Some(label), true) = (labelled().next(), maps.is_empty()) {
        return Err(MapError::Unmapped(label.into()));
    }
    if maps.is_empty() {
        let mut v: Vec<OutStream> = unlabelled.into_iter().collect();
        if !vn && v.is_empty() {
            if let Some((f, s)) = best(cmd, infos, MediaKind::Video) {
                v.push(mk(f, s));
            }
        }
        if !an {
            if let Some((f, s)) = best(cmd, infos, MediaKind::Audio) {
                v.push(mk(f, s));
            }
        }
        if !sn {
            if let Some((f, s)) = first_subtitle(cmd, out, infos, muxer) {
                v.push(mk(f, s));
            }
        }
        return Ok(v);
    }
    // (file, stream, disabled, the graph output)
    let mut list: Vec<(usize, usize, bool, Option<usize>)> = Vec::new();
    for m in maps {
        let arg = m.arg.as_deref().unwrap_or("");
        if arg.starts_with('[') {
            let at = graph
                .iter()
                .position(|g| g.0.is_some_and(|l| arg == format!("[{l}]")));
            match at {
                Some(k) => {
                    if list.iter().any(|e| e.3 == Some(k)) {
                        return Err(MapError::MappedTwice(arg[1..arg.len() - 1].into()));
                    }
                    list.push((graph[k].1, graph[k].2, false, Some(k)));
                    continue;
                }
                None => return Err(MapError::Label(arg.into())),
            }
        }
        if arg.contains(',') {
            return Err(MapError::Syntax(arg.into()));
        }
        let (negative, rest) = match arg.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, arg),
        };
        let (optional, rest) = match rest.strip_suffix('?') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (file, spec) = match rest.split_once(':') {
            Some((f, s)) => (f, s),
            None => (rest, ""),
        };
        // ffmpeg reads the index with strtol: no digits (`-map -:d?`, as Tdarr plugins write
        // it) is input 0
        let file: usize = match file {
            "" => 0,
            f => f.parse().map_err(|_| MapError::Syntax(arg.into()))?,
        };
        let Some(info) = infos.get(file) else {
            return Err(MapError::Syntax(arg.into()));
        };
        let spec = Spec::parse(spec)?;
        let views: Vec<StreamView> = info.streams.iter().map(view).collect();
        if negative {
            for e in list.iter_mut().filter(|e| e.0 == file && e.3.is_none()) {
                if spec.matches(&views, e.1) {
                    e.2 = true;
                }
            }
            continue;
        }
        let mut added = false;
        for i in 0..views.len() {
            if !spec.matches(&views, i) || discarded(&cmd.inputs[file], info.streams[i].kind) {
                continue;
            }
            list.push((file, i, false, None));
            added = true;
        }
        if !added && !optional {
            return Err(MapError::NoMatch(arg.into()));
        }
    }
    for (k, g) in graph.iter().enumerate() {
        if let (Some(label), false) = (g.0, list.iter().any(|e| e.3 == Some(k))) {
            return Err(MapError::Unmapped(label.into()));
        }
    }
    let mut v: Vec<OutStream> = unlabelled.into_iter().collect();
    for (f, s, off, from_graph) in list {
        if off {
            continue;
        }
        if let Some(k) = from_graph {
            v.push(graph_stream(&graph[k]));
            continue;
        }
        let o = mk(f, s);
        let skip = match o.kind {
            MediaKind::Video => vn,
            MediaKind::Audio => an,
            MediaKind::Subtitle => sn,
            MediaKind::Data => dn,
            MediaKind::Attachment => false,
            MediaKind::Unknown => return Err(MapError::UnknownType(f, s)),
        };
        if !skip {
            v.push(o);
        }
    }
    Ok(v)
}

/// fftools' "best" video (largest area) or audio (most channels) stream over all inputs,
/// including its quirk of checking the attached-picture flag of each file's last stream.
fn best(cmd: &CmdLine, infos: &[MediaInfo], kind: MediaKind) -> Option<(usize, usize)> {
    let mut best_score = 0i64;
    let mut idx = None;
    for (j, info) in infos.iter().enumerate() {
        let (mut file_best, mut file_idx) = (0i64, None);
        for (i, s) in info.streams.iter().enumerate() {
            let default = i64::from(s.disposition("default"));
            let mut score = match kind {
                MediaKind::Video => i64::from(s.width) * i64::from(s.height),
                _ => i64::from(s.channels),
            } + 5_000_000 * default;
            if discarded(&cmd.inputs[j], s.kind) {
                continue;
            }
            if kind == MediaKind::Video && s.is_attached_pic() {
                score = 1;
            }
            if s.kind == kind && score > file_best {
                file_best = score;
                file_idx = Some(i);
            }
        }
        if let Some(i) = file_idx {
            let last_is_pic = info.streams.last().is_some_and(StreamInfo::is_attached_pic);
            if kind != MediaKind::Video || !last_is_pic {
                file_best -= 5_000_000 * i64::from(info.streams[i].disposition("default"));
            }
            if file_best > best_score {
                best_score = file_best;
                idx = Some((j, i));
            }
        }
    }
    idx
}

fn first_subtitle(
    cmd: &CmdLine,
    out: &FileArgs,
    infos: &[MediaInfo],
    muxer: &Muxer,
) -> Option<(usize, usize)> {
    let named = out
        .opts
        .iter()
        .any(|o| (o.is("c") || o.is("codec")) && o.spec() == Some("s") || o.is("scodec"));
    let out_kind = muxer.default_subtitle.map(|(_, k)| k);
    if !named && out_kind.is_none() {
        return None;
    }
    for (j, info) in infos.iter().enumerate() {
        for (i, s) in info.streams.iter().enumerate() {
            if s.kind != MediaKind::Subtitle || discarded(&cmd.inputs[j], s.kind) {
                continue;
            }
            let in_kind = formats::subtitle_kind(&s.codec_name);
            let compatible = match (in_kind, out_kind) {
                (Some(a), Some(b)) => a == b || a == SubKind::Other || b == SubKind::Other,
                _ => false,
            };
            if named || compatible {
                return Some((j, i));
            }
        }
    }
    None
}

/// The option ffmpeg applies to output stream `i` among `names` (aliases sharing one list, such
/// as `c`/`codec`): the last one whose specifier matches. Unparsable specifiers are errors.
pub fn last_matching<'a>(
    opts: &'a [Opt],
    names: &[&str],
    outs: &[StreamView],
    i: usize,
) -> Result<Option<&'a Opt>, MapError> {
    let mut found = None;
    for o in opts {
        let (name, spec) = alias(o);
        if !names.contains(&name) {
            continue;
        }
        if Spec::parse(&spec)?.matches(outs, i) {
            found = Some(o);
        }
    }
    Ok(found)
}

/// Resolves the per-type aliases (`-vcodec x` is `-codec:v x`).
pub fn alias(o: &Opt) -> (&str, String) {
    let spec = o.spec().unwrap_or("").to_string();
    match o.name() {
        "vcodec" => ("codec", "v".into()),
        "acodec" => ("codec", "a".into()),
        "scodec" => ("codec", "s".into()),
        "dcodec" => ("codec", "d".into()),
        "c" => ("codec", spec),
        "vf" => ("filter", "v".into()),
        "af" => ("filter", "a".into()),
        "vtag" => ("tag", "v".into()),
        "vframes" => ("frames", "v".into()),
        "aframes" => ("frames", "a".into()),
        "dframes" => ("frames", "d".into()),
        "atag" => ("tag", "a".into()),
        n => (n, spec),
    }
}

#[cfg(test)]
mod tests;
