//! A `-filter_complex` (or `-lavfi`) that is one linear video chain, as ffmpeg-python writes
//! them (`[0]scale=320:-2[s0];[s0]hflip[s1]`, mapped with `-map [s1]`): split the way
//! libavfilter's graph parser reads it (labels, `,` and `;`, quotes and backslash escapes as
//! `av_get_token` treats them) into the source label, the filters joined as one `-vf` chain,
//! and the output label; and which input stream the source label selects (fftools 5.1
//! `init_input_filter`). Anything else — several inputs or outputs, labels in the middle of a
//! chain, an unlabelled output, `sws_flags=` — is not one chain and passes through.

use super::Passthrough;
use crate::cli::argv::{CmdLine, Opt};
use crate::cli::mapping;
use crate::cli::spec::Spec;
use crate::probe::{MediaInfo, MediaKind};

/// The job's filter graph, resolved: its output label, the input stream it reads and the chain
/// the workers run as `-vf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphOut {
    pub label: String,
    pub file: usize,
    pub stream: usize,
    pub chain: String,
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

/// The `-filter_complex`/`-lavfi` of `cmd` as one linear chain of the `-vf` whitelist, or why
/// it passes through; None without a graph.
pub fn of_cmd(cmd: &CmdLine, infos: &[MediaInfo]) -> Result<Option<GraphOut>, Passthrough> {
    let graphs: Vec<&Opt> = cmd
        .globals
        .iter()
        .filter(|g| matches!(g.name(), "filter_complex" | "lavfi"))
        .collect();
    let g = match graphs[..] {
        [] => return Ok(None),
        [g] => g.arg.as_deref().unwrap_or(""),
        _ => return Err(Passthrough(format!("{} filter graphs", graphs.len()))),
    };
    let why = |e: String| Passthrough(format!("-filter_complex {g}: {e}"));
    let lin = linear(g).map_err(|e| why(e.0))?;
    // one filter at a time: each text is exactly one filter to libavfilter
    for f in &lin.filters {
        super::filters::check_chain(f).map_err(|e| why(e.to_string()))?;
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
    let disabled = |f: usize| cmd.inputs[f].last("vn").is_some_and(Opt::bool_value);
    let (file, stream) = source(lin.input.as_deref(), infos, disabled).map_err(|e| why(e.0))?;
    Ok(Some(GraphOut {
        label: lin.output,
        file,
        stream,
        chain: lin.chain,
    }))
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
    /// The output label the user must `-map`.
    pub output: String,
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

/// The graph as one linear chain, or why it is not one.
pub fn linear(g: &str) -> Result<Linear, NotOneChain> {
    let chains = chains(g)?;
    let not_linear = || NotOneChain::from("the graph is not one linear chain");
    let mut input = None;
    let mut prev_out: Option<String> = None;
    let mut filters = Vec::new();
    for (n, c) in chains.iter().enumerate() {
        if c.inputs.len() > 1 || c.outputs.len() > 1 {
            return Err(not_linear());
        }
        let inp = c.inputs.first().cloned();
        if n == 0 {
            input = inp;
        } else if inp.is_none() || inp != prev_out {
            return Err(not_linear());
        }
        let out = c.outputs.first().cloned();
        if out.is_none() && n + 1 < chains.len() {
            return Err(not_linear());
        }
        prev_out = out;
        filters.extend(c.filters.iter().cloned());
    }
    let output = prev_out.ok_or("the graph's output is not labelled")?;
    // Every label names one link: the source and the output appear once, the others twice.
    let mut names: Vec<&String> = chains
        .iter()
        .flat_map(|c| c.inputs.iter().chain(&c.outputs))
        .collect();
    names.sort();
    let ends = [input.as_ref(), Some(&output)];
    for w in names.chunk_by(|a, b| a == b) {
        let expected = if ends.contains(&Some(w[0])) { 1 } else { 2 };
        if w.len() != expected {
            return Err(not_linear());
        }
    }
    Ok(Linear {
        input,
        chain: filters.join(","),
        filters,
        output,
    })
}

/// The input stream (file, stream) a video input pad reads, as fftools 5.1 `init_input_filter`
/// picks it: for `[N:spec]` the first stream of file N that is video (or subtitle: the
/// sub2video hack) and matches `spec`; for an unlabelled pad the first video stream of all
/// inputs that `-vn` did not disable. Errors say why it is not one plain video stream.
pub fn source(
    label: Option<&str>,
    infos: &[MediaInfo],
    video_disabled: impl Fn(usize) -> bool,
) -> Result<(usize, usize), NotOneChain> {
    let Some(label) = label else {
        for (f, info) in infos.iter().enumerate() {
            if video_disabled(f) {
                continue;
            }
            if let Some(s) = info.streams.iter().position(|s| s.kind == MediaKind::Video) {
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
mod tests {
    use super::*;

    fn lin(g: &str) -> Result<(Option<String>, String, String), NotOneChain> {
        linear(g).map(|l| (l.input, l.chain, l.output))
    }

    #[test]
    fn ffmpeg_python_chains_are_linear() {
        assert_eq!(
            lin("[0]scale=320:-2[s0]").unwrap(),
            (Some("0".into()), "scale=320:-2".into(), "s0".into())
        );
        assert_eq!(
            lin("[0:v]crop=100:80:10:10[s0];[s0]hflip[s1]").unwrap(),
            (
                Some("0:v".into()),
                "crop=100:80:10:10,hflip".into(),
                "s1".into()
            )
        );
        assert_eq!(
            lin(" [0:v:0] scale=w='min(320\\,iw)':h=-2 , hflip [out] ").unwrap(),
            (
                Some("0:v:0".into()),
                "scale=w='min(320\\,iw)':h=-2 ,hflip ".into(),
                "out".into()
            )
        );
        assert_eq!(
            lin("scale=160:120[o]").unwrap(),
            (None, "scale=160:120".into(), "o".into())
        );
        // quotes and escapes hide , ; [ from the graph parser
        assert_eq!(
            lin("[0]drawbox=c='red;[x]',crop=1:1\\;[o]").unwrap().1,
            "drawbox=c='red;[x]',crop=1:1\\;"
        );
    }

    #[test]
    fn each_filter_is_checked_as_libavfilter_splits_them() {
        // inside quotes a backslash is literal: `'a\'` closes, hqdn3d is a second filter
        let l = linear("[0]null@'a\\',hqdn3d[o]").unwrap();
        assert_eq!(l.filters, ["null@'a\\'", "hqdn3d"]);
        // and so does the -vf check
        assert!(super::super::filters::check_chain("null@'a\\',hqdn3d").is_err());
    }

    #[test]
    fn everything_else_is_not() {
        for g in [
            "[0]split[a][b];[a]hflip[c];[b][c]hstack[o]",
            "[0][1]overlay[o]",
            "[0:v]scale=320:-2[v];[0:a]volume=2[a]",
            "[0]scale=320:-2",
            "[0]scale=320:-2[a];hflip[o]",
            "[0]scale=320:-2[a];[b]hflip[o]",
            "[0]scale[a],hflip[o]",
            "[0]scale,[x]hflip[o]",
            "sws_flags=bicubic;[0]scale=320:-2[o]",
            "[0]scale=320:-2[o];",
            "[0]scale=320:-2[a];[a]hflip[a]",
            "[0]scale=320:-2[0]",
            "[in put]scale[o]",
        ] {
            assert!(linear(g).is_err(), "{g}");
        }
    }
}
