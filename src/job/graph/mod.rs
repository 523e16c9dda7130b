//! A `-filter_complex` (or `-lavfi`) that is one linear video chain, as ffmpeg-python writes
//! them (`[0]scale=320:-2[s0];[s0]hflip[s1]`, mapped with `-map [s1]`): split the way
//! libavfilter's graph parser reads it (labels, `,` and `;`, quotes and backslash escapes as
//! `av_get_token` treats them) into the source label, the filters joined as one `-vf` chain,
//! and the output label; and which input stream the source label selects (fftools 5.1
//! `init_input_filter`). Anything else — several inputs or outputs, labels in the middle of a
//! chain, an unlabelled output, `sws_flags=` — is not one chain and passes through.

mod audio;
pub use audio::AudioChains;

use super::Passthrough;
use crate::cli::argv::{CmdLine, Opt};
use crate::cli::mapping;
use crate::cli::spec::Spec;
use crate::probe::{MediaInfo, MediaKind};

/// The job's filter graph, resolved: its output label, the input stream it reads and the chain
/// the workers run (as `-vf`, or around the overlay of a still image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphOut {
    /// None: an unlabelled output, which ffmpeg maps itself.
    pub label: Option<String>,
    pub file: usize,
    pub stream: usize,
    /// The main chain's filters, the overlay left out.
    pub chain: String,
    pub overlay: Option<Overlay>,
}

/// A still image laid over the main chain: `pre` (filters before the overlay), the overlay's
/// text, and the image's input, stream and chain (`side`, may be empty); the filters after
/// the overlay are the rest of `chain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub pre: Vec<String>,
    pub filter: String,
    pub file: usize,
    pub stream: usize,
    pub side: Vec<String>,
    pub post: Vec<String>,
    /// The image input's options and local path, and its name in a worker's job dir.
    pub input_opts: Vec<Opt>,
    pub path: String,
    pub remote_name: String,
}

/// Why a graph is not one chain of one plain video stream: part of the reason to pass through,
/// which names the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotOneChain(pub String);

impl From<&str> for NotOneChain {
    fn from(why: &str) -> NotOneChain {
        NotOneChain(why.to_string())
    }
}

/// libswscale options a user can give on the output (`-sws_flags lanczos`): a simple `-vf`
/// graph hands them to its scale filters, a complex graph does not (fftools 5.1
/// `configure_filtergraph`), so a worker's `-vf` would scale differently.
const SWS_OPTS: &[&str] = &[
    "sws_flags",
    "sws_dither",
    "param0",
    "param1",
    "src_range",
    "dst_range",
    "src_v_chr_pos",
    "src_h_chr_pos",
    "dst_v_chr_pos",
    "dst_h_chr_pos",
    "alphablend",
    "gamma",
];

/// The `-filter_complex`/`-lavfi` of `cmd`: its video part as one linear chain of the `-vf`
/// whitelist (None when it has none), and its independent audio chains (`audio`), or why it
/// passes through; (None, None) without a graph.
pub fn of_cmd(
    cmd: &CmdLine,
    infos: &[MediaInfo],
) -> Result<(Option<GraphOut>, Option<AudioChains>), Passthrough> {
    let graphs: Vec<&Opt> = cmd
        .globals
        .iter()
        .filter(|g| matches!(g.name(), "filter_complex" | "lavfi"))
        .collect();
    let whole = match graphs[..] {
        [] => return Ok((None, None)),
        [g] => g.arg.as_deref().unwrap_or(""),
        _ => return Err(Passthrough(format!("{} filter graphs", graphs.len()))),
    };
    let why = |e: String| Passthrough(format!("-filter_complex {whole}: {e}"));
    let (video, audio) = audio::split(whole, infos).map_err(|e| why(e.0))?;
    let Some(g) = video else {
        return Ok((None, audio));
    };
    let sh = shape(&g).map_err(|e| why(e.0))?;
    // one filter at a time: each text is exactly one filter to libavfilter
    let side_filters = sh.side.iter().flat_map(|s| &s.filters);
    for f in sh.pre.iter().chain(&sh.post).chain(side_filters) {
        super::filters::check_chain(f).map_err(|e| why(e.to_string()))?;
    }
    if let Some(s) = &sh.side {
        super::filters::check_still_overlay(&s.overlay).map_err(|e| why(e.to_string()))?;
    }
    if let Some(o) = cmd.outputs[0]
        .opts
        .iter()
        .find(|o| o.def.is_none() && SWS_OPTS.contains(&o.name()))
    {
        return Err(Passthrough(format!(
            "-{} with -filter_complex (a complex graph does not use it)",
            o.flag
        )));
    }
    // the open inputs bound in graph order, an unlabelled one to the first unused video
    let disabled = |f: usize| cmd.inputs[f].last("vn").is_some_and(Opt::bool_value);
    let mut used: Vec<(usize, usize)> = Vec::new();
    let (mut main, mut side) = ((0, 0), (0, 0));
    for (is_side, label) in &sh.open {
        let at = source(label.as_deref(), infos, disabled, &used).map_err(|e| why(e.0))?;
        used.push(at);
        *(if *is_side { &mut side } else { &mut main }) = at;
    }
    let chain = sh.pre.iter().chain(&sh.post).cloned().collect::<Vec<_>>();
    let video = Some(GraphOut {
        label: sh.output,
        file: main.0,
        stream: main.1,
        chain: chain.join(","),
        overlay: sh.side.map(|s| {
            let input = &cmd.inputs[side.0];
            let path = super::local_path(&input.url)
                .unwrap_or(&input.url)
                .to_string();
            let ext = std::path::Path::new(&path)
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            Overlay {
                pre: sh.pre,
                filter: s.overlay,
                file: side.0,
                stream: side.1,
                side: s.filters,
                post: sh.post,
                input_opts: input.opts.clone(),
                remote_name: format!("aux-{}.{ext}", side.0),
                path,
            }
        }),
    });
    Ok((video, audio))
}

/// One linear chain: `[input]f1,f2;…[output]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linear {
    /// The source label (`0`, `0:v`, `1:v:0`); None for an unlabelled input pad.
    pub input: Option<String>,
    /// The filters, in order, as one `-vf` chain (each filter's text as the user wrote it).
    pub chain: String,
    /// Each filter's text, split where libavfilter splits them.
    pub filters: Vec<String>,
    /// The output label the user must `-map`; None for an unlabelled output.
    pub output: Option<String>,
}

const WS: &[char] = &[' ', '\n', '\t', '\r'];

/// A chain of the graph text: its labels and its filters' raw texts.
#[derive(Debug, Default)]
struct Chain {
    inputs: Vec<String>,
    filters: Vec<String>,
    outputs: Vec<String>,
}

/// Scans one `av_get_token` token from `s[start..]` up to a character of `term` at top level
/// (a backslash escapes the next character, quotes run to the next quote): the terminator's
/// position, or the end of the text.
fn token_end(s: &str, start: usize, term: &[char]) -> usize {
    let mut it = s[start..].char_indices().map(|(j, c)| (start + j, c));
    while let Some((pos, c)) = it.next() {
        if term.contains(&c) {
            return pos;
        }
        match c {
            '\\' => {
                it.next();
            }
            '\'' => {
                for (_, q) in it.by_ref() {
                    if q == '\'' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    s.len()
}

fn skip_ws(s: &str, i: usize) -> usize {
    i + (s[i..].len() - s[i..].trim_start_matches(WS).len())
}

/// Labels `[name]…` at `s[i..]` (whitespace after each); names must be plain words so that the
/// graph parser and `-map` read them the same way.
fn labels(s: &str, mut i: usize, out: &mut Vec<String>) -> Result<usize, NotOneChain> {
    while s[i..].starts_with('[') {
        let end = s[i..]
            .find(']')
            .map(|e| i + e)
            .ok_or("a label is not closed")?;
        let name = &s[i + 1..end];
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-');
        if name.is_empty() || !name.chars().all(plain) {
            return Err(NotOneChain(format!("label [{name}] is not a plain name")));
        }
        out.push(name.to_string());
        i = skip_ws(s, end + 1);
    }
    Ok(i)
}

/// Splits the graph text into chains the way `avfilter_graph_parse2` does.
fn chains(g: &str) -> Result<Vec<Chain>, NotOneChain> {
    let mut i = skip_ws(g, 0);
    if g[i..].starts_with("sws_flags=") {
        return Err("the graph sets sws_flags".into());
    }
    let mut all = vec![Chain::default()];
    loop {
        let cur = all.last_mut().expect("a chain");
        i = skip_ws(g, i);
        let mut ins = Vec::new();
        i = labels(g, i, &mut ins)?;
        if !ins.is_empty() && !cur.filters.is_empty() {
            return Err("a label in the middle of a chain".into());
        }
        if cur.filters.is_empty() {
            cur.inputs = ins;
        }
        let start = skip_ws(g, i);
        let mut end = token_end(g, start, &['=', ',', ';', '[']);
        if g[end..].starts_with('=') {
            end = token_end(g, end + 1, &['[', ']', ',', ';']);
        }
        let filter = &g[start..end];
        if filter.trim_matches(WS).is_empty() {
            return Err("an empty filter".into());
        }
        cur.filters.push(filter.to_string());
        i = labels(g, end, &mut cur.outputs)?;
        i = skip_ws(g, i);
        match g[i..].chars().next() {
            None => return Ok(all),
            Some(',') => {
                if !cur.outputs.is_empty() {
                    return Err("a label in the middle of a chain".into());
                }
                i += 1;
            }
            Some(';') => {
                all.push(Chain::default());
                i += 1;
            }
            Some(c) => return Err(NotOneChain(format!("unexpected '{c}'"))),
        }
    }
}

/// The graph as one linear chain, or why it is not one (a still image laid over it is not).
pub fn linear(g: &str) -> Result<Linear, NotOneChain> {
    let sh = shape(g)?;
    if sh.side.is_some() {
        return Err("the graph is not one linear chain".into());
    }
    Ok(Linear {
        input: sh.input,
        chain: sh.pre.join(","),
        filters: sh.pre,
        output: sh.output,
    })
}

/// A graph's shape: one chain from its source to its output, which may lay a second input
/// over it with one `overlay` (fed by a chain of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The source's label; None for an unlabelled pad.
    pub input: Option<String>,
    /// The main chain's filters before the overlay (all of them without one).
    pub pre: Vec<String>,
    pub side: Option<Side>,
    /// The main chain's filters after the overlay.
    pub post: Vec<String>,
    /// The output label; None for an unlabelled output (ffmpeg maps it itself).
    pub output: Option<String>,
    /// The graph's open inputs in the order fftools binds them: (is the side's, label).
    pub open: Vec<(bool, Option<String>)>,
}

/// What an `overlay` lays over the main chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The overlay filter's text.
    pub overlay: String,
    /// The side's source label; None for an unlabelled pad.
    pub input: Option<String>,
    /// The side chain's filters, in order.
    pub filters: Vec<String>,
}

/// An input pad of a filter in the graph.
#[derive(Debug, Clone)]
enum Pad {
    Label(String),
    Open,
    Node(usize),
}

/// Walks a graph the way libavfilter links it: every filter has one input pad (`overlay` two),
/// labels name links or streams, a filter's unlinked pads are open inputs; then back from the
/// one output along each filter's first pad, and along an overlay's second pad to the side's
/// source. A graph with any other filter or link is not this shape.
pub fn shape(g: &str) -> Result<Shape, NotOneChain> {
    let not_linear = || NotOneChain::from("the graph is not one linear chain");
    let name = |f: &str| {
        super::filters::filter_names(f)
            .ok()
            .and_then(|n| n.first().cloned())
    };
    // (text, pads, output label, last of its chain)
    let mut nodes: Vec<(String, Vec<Pad>, Option<String>, bool)> = Vec::new();
    for c in chains(g)? {
        let n = c.filters.len();
        for (j, f) in c.filters.iter().enumerate() {
            let pads = if name(f).as_deref() == Some("overlay") {
                2
            } else {
                1
            };
            let mut v: Vec<Pad> = if j == 0 {
                c.inputs.iter().cloned().map(Pad::Label).collect()
            } else {
                vec![Pad::Node(nodes.len() - 1)]
            };
            if v.len() > pads {
                return Err(not_linear());
            }
            v.resize(pads, Pad::Open);
            let last = j + 1 == n;
            if last && c.outputs.len() > 1 {
                return Err(not_linear());
            }
            let out = if last {
                c.outputs.first().cloned()
            } else {
                None
            };
            nodes.push((f.clone(), v, out, last));
        }
    }
    // labels that a filter's output carries are links; the others name input streams
    let mut produced = std::collections::HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(l) = &n.2 {
            if produced.insert(l.clone(), (i, false)).is_some() {
                return Err(not_linear());
            }
        }
    }
    let mut pads: Vec<Vec<Pad>> = Vec::new();
    for n in &nodes {
        let mut v = Vec::new();
        for p in &n.1 {
            v.push(match p {
                Pad::Label(l) => match produced.get_mut(l) {
                    Some((k, used)) if !*used => {
                        *used = true;
                        Pad::Node(*k)
                    }
                    Some(_) => return Err(not_linear()),
                    None => Pad::Label(l.clone()),
                },
                Pad::Open => Pad::Open,
                Pad::Node(k) => Pad::Node(*k),
            });
        }
        pads.push(v);
    }
    let ends: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].3 && nodes[i].2.as_ref().is_none_or(|l| !produced[l].1))
        .collect();
    let [end] = ends[..] else {
        return Err(not_linear());
    };
    let mut seen = 0;
    // back from `k` along first pads: the filters in order and where the source pad is
    let mut back = |mut k: usize| -> Result<(Vec<usize>, (usize, usize)), NotOneChain> {
        let mut path = vec![];
        loop {
            path.push(k);
            seen += 1;
            match pads[k][0] {
                Pad::Node(p) if path.len() <= nodes.len() => k = p,
                Pad::Node(_) => return Err(not_linear()),
                _ => {
                    path.reverse();
                    return Ok((path, (k, 0)));
                }
            }
        }
    };
    let (main, src) = back(end)?;
    let overlays: Vec<usize> = main
        .iter()
        .copied()
        .filter(|&k| pads[k].len() == 2)
        .collect();
    let text = |ks: &[usize]| ks.iter().map(|&k| nodes[k].0.clone()).collect::<Vec<_>>();
    let (pre, side, post) = match overlays[..] {
        [] => (text(&main), None, vec![]),
        [o] => {
            let (filters, side_src) = match pads[o][1] {
                Pad::Node(k) => back(k)?,
                _ => (vec![], (o, 1)),
            };
            if filters.iter().any(|&k| pads[k].len() == 2) {
                return Err(not_linear());
            }
            let at = main.iter().position(|&k| k == o).unwrap_or(0);
            let side = (nodes[o].0.clone(), side_src, text(&filters));
            (text(&main[..at]), Some(side), text(&main[at + 1..]))
        }
        _ => return Err(not_linear()),
    };
    if seen != nodes.len() {
        return Err(not_linear());
    }
    let label = |(k, i): (usize, usize)| match &pads[k][i] {
        Pad::Label(l) => Some(l.clone()),
        _ => None,
    };
    // the open inputs in graph order, the side's marked
    let side_at = side.as_ref().map(|s| s.1);
    let mut open = Vec::new();
    for (k, v) in pads.iter().enumerate() {
        for (i, p) in v.iter().enumerate() {
            if matches!(p, Pad::Label(_) | Pad::Open) {
                open.push((side_at == Some((k, i)), label((k, i))));
            }
        }
    }
    let side = side.map(|(overlay, at, filters)| Side {
        overlay,
        input: label(at),
        filters,
    });
    Ok(Shape {
        input: label(src),
        pre,
        side,
        post,
        output: nodes[end].2.clone(),
        open,
    })
}

/// The input stream (file, stream) a video input pad reads, as fftools 5.1 `init_input_filter`
/// picks it: for `[N:spec]` the first stream of file N that is video (or subtitle: the
/// sub2video hack) and matches `spec`; for an unlabelled pad the first video stream of all
/// inputs that `-vn` did not disable and no earlier pad of the graph took (`used`). Errors say why it is not one plain video stream.
pub fn source(
    label: Option<&str>,
    infos: &[MediaInfo],
    video_disabled: impl Fn(usize) -> bool,
    used: &[(usize, usize)],
) -> Result<(usize, usize), NotOneChain> {
    let Some(label) = label else {
        for (f, info) in infos.iter().enumerate() {
            if video_disabled(f) {
                continue;
            }
            let unused = |&(s, st): &(usize, &crate::probe::StreamInfo)| {
                st.kind == MediaKind::Video && !used.contains(&(f, s))
            };
            if let Some((s, _)) = info.streams.iter().enumerate().find(unused) {
                return Ok((f, s));
            }
        }
        return Err("no video stream for the graph's input".into());
    };
    let (file, spec) = match label.split_once(':') {
        Some((f, s)) => (f, s),
        None => (label, ""),
    };
    let plain_number = file == "0" || (!file.starts_with('0') && !file.is_empty());
    let file: usize = match file.parse() {
        Ok(n) if plain_number => n,
        _ => {
            return Err(NotOneChain(format!(
                "graph input [{label}] is not a stream of an input"
            )))
        }
    };
    let info = infos
        .get(file)
        .ok_or_else(|| NotOneChain(format!("graph input [{label}]: no input #{file}")))?;
    let spec = Spec::parse(spec).map_err(|e| NotOneChain(e.to_string()))?;
    let views: Vec<_> = info.streams.iter().map(mapping::view).collect();
    let found = (0..views.len()).find(|&i| {
        matches!(info.streams[i].kind, MediaKind::Video | MediaKind::Subtitle)
            && spec.matches(&views, i)
    });
    let why = |e: String| Err(NotOneChain(e));
    match found {
        None => why(format!("graph input [{label}] matches no video stream")),
        Some(i) if info.streams[i].kind != MediaKind::Video => {
            why(format!("graph input [{label}] is a subtitle stream"))
        }
        Some(_) if video_disabled(file) => why(format!("graph input [{label}] is disabled")),
        Some(i) => Ok((file, i)),
    }
}

#[cfg(test)]
mod tests;
