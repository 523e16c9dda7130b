//! ffmpeg's banner for a distributed run, for the programs that read ffmpeg's stderr: the
//! version block (from `ffmpeg -codecs`, which prints it), each input's `Input #N …` block
//! (ffprobe's `av_dump_format` text from the probe, renumbered), `Stream mapping:` with the
//! decoder and encoder names fftools prints, `Press [q] to stop`, and an `Output #N …` block per output file.

use crate::cli::mapping::{last_matching, out_views};
use crate::job::JobSpec;
use crate::probe::{MediaInfo, MediaKind};
use crate::process;
use std::collections::HashMap;
use std::fmt::Write;

/// ffmpeg's codec table (`ffmpeg -codecs`): each codec's decoders and encoders in the order
/// `avcodec_find_decoder`/`avcodec_find_encoder` try them.
#[derive(Debug, Default)]
pub struct Codecs {
    rows: HashMap<String, (Vec<String>, Vec<String>)>,
}

/// Encoders of ffmpeg 5.1 marked experimental: `avcodec_find_encoder` passes them over.
const EXPERIMENTAL: &[&str] = &["vorbis", "opus", "dca", "s302m", "sonic", "sonicls", "vc2"];

impl Codecs {
    pub fn parse(text: &str) -> Codecs {
        let mut rows = HashMap::new();
        let list = |line: &str, key: &str| -> Option<Vec<String>> {
            let rest = &line[line.find(key)? + key.len()..];
            let end = rest.find(')')?;
            Some(rest[..end].split_whitespace().map(String::from).collect())
        };
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some(flags), Some(name)) = (f.next(), f.next()) else {
                continue;
            };
            if flags.len() != 6 || flags.contains('=') {
                continue;
            }
            let dec = list(line, "(decoders: ").unwrap_or_else(|| {
                if flags.starts_with('D') {
                    vec![name.to_string()]
                } else {
                    vec![]
                }
            });
            let enc = list(line, "(encoders: ").unwrap_or_else(|| {
                if flags.as_bytes()[1] == b'E' {
                    vec![name.to_string()]
                } else {
                    vec![]
                }
            });
            rows.insert(name.to_string(), (dec, enc));
        }
        Codecs { rows }
    }

    fn decoder(&self, codec: &str) -> Option<&str> {
        self.rows.get(codec)?.0.first().map(String::as_str)
    }

    /// Whether `name` is an encoder of this ffmpeg, or a codec it has an encoder for (`-c:a
    /// mp3` picks the codec's first encoder).
    pub fn knows_encoder(&self, name: &str) -> bool {
        self.codec_of(name).is_some() || self.rows.get(name).is_some_and(|r| !r.1.is_empty())
    }

    fn codec_of(&self, encoder: &str) -> Option<&str> {
        self.rows
            .iter()
            .find(|(_, (_, enc))| enc.iter().any(|e| e == encoder))
            .map(|(c, _)| c.as_str())
    }

    /// The encoder ffmpeg picks for `codec` when no `-c` names one.
    pub fn default_encoder(&self, codec: &str) -> Option<&str> {
        let enc = &self.rows.get(codec)?.1;
        enc.iter()
            .find(|e| !EXPERIMENTAL.contains(&e.as_str()))
            .or(enc.first())
            .map(String::as_str)
    }
}

/// `name` as fftools shows an implementation: `native` when it bears the codec's name.
fn implementation(codec: &str, name: &str) -> String {
    if codec == name {
        "native".into()
    } else {
        name.into()
    }
}

/// The version block and the codec table of the real ffmpeg (one `ffmpeg -codecs`).
pub async fn version_and_codecs(ffmpeg: &str) -> anyhow::Result<(String, Codecs)> {
    let (out, err) =
        process::output_and_stderr(ffmpeg, &["-nostdin".to_string(), "-codecs".into()]).await?;
    let version = String::from_utf8_lossy(&err).into_owned();
    Ok((version, Codecs::parse(&String::from_utf8_lossy(&out))))
}

/// An input's dump as ffmpeg prints it for input `n` (ffprobe always says `#0`).
pub fn input_block(n: usize, dump: &str) -> String {
    dump.lines()
        .map(|l| {
            let l = l.replacen("Input #0, ", &format!("Input #{n}, "), 1);
            format!(
                "{}\n",
                l.replacen("Stream #0:", &format!("Stream #{n}:"), 1)
            )
        })
        .collect()
}

/// One output stream's codec as ffmpeg picks it: None for a copy, else (codec, encoder).
fn out_codec(job: &JobSpec, codecs: &Codecs, i: usize) -> Option<(String, String)> {
    let out = &job.cmd.outputs[0];
    let views = out_views(&job.out_streams);
    let named = last_matching(&out.opts, &["codec"], &views, i)
        .ok()
        .flatten()
        .and_then(|o| o.arg.clone());
    if named.as_deref() == Some("copy") {
        return None;
    }
    let (v, a) = (job.muxer.default_video, job.muxer.default_audio);
    let encoder = named.or_else(|| {
        let codec = match job.out_streams[i].kind {
            MediaKind::Video => v,
            MediaKind::Audio => a,
            _ => job.muxer.default_subtitle.map(|s| s.0)?,
        };
        codecs.default_encoder(codec).map(String::from)
    })?;
    let codec = codecs.codec_of(&encoder).unwrap_or(&encoder).to_string();
    Some((codec, encoder))
}

/// An encoder named for a stream this machine encodes (every one but the distributed video)
/// that the real ffmpeg here does not have: plain ffmpeg refuses the command at once
/// ("Unknown encoder"), where a distributed run would fail only in the final mux.
pub fn unknown_local_encoder(job: &JobSpec, codecs: &Codecs) -> Option<String> {
    (0..job.out_streams.len())
        .filter(|&i| i != job.video_out)
        .filter_map(|i| out_codec(job, codecs, i))
        .map(|(_, encoder)| encoder)
        .find(|e| !codecs.knows_encoder(e))
}

/// The first and last filter of a chain (`scale` and `format` in `scale=…,format=…`).
fn chain_ends(chain: &str) -> (String, String) {
    let names: Vec<String> = chain
        .split(',')
        .map(|f| {
            // without its [labels]
            let mut name = String::new();
            let mut depth = 0;
            for c in f.trim().chars() {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ if depth == 0 => name.push(c),
                    _ => {}
                }
            }
            name.split(['=', '@'])
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let first = names.first().cloned().unwrap_or_else(|| "?".into());
    (first, names.last().cloned().unwrap_or_else(|| "?".into()))
}

/// `Stream mapping:` and, when ffmpeg reads stdin, `Press [q] to stop, [?] for help`.
pub fn mapping(jobs: &[&JobSpec], infos: &[MediaInfo], codecs: &Codecs, stdin: bool) -> String {
    let mut s = String::from("Stream mapping:\n");
    for job in jobs {
        s.push_str(&mapping_of(job, job.output_index, infos, codecs));
    }
    if stdin {
        s.push_str("Press [q] to stop, [?] for help\n");
    }
    s
}

/// The mapping lines of output file `n` (`job`: that output's own job).
fn mapping_of(job: &JobSpec, n: usize, infos: &[MediaInfo], codecs: &Codecs) -> String {
    let mut s = String::new();
    let src_codec = |f: usize, st: usize| infos[f].streams[st].codec_name.clone();
    let ends = job.filter.as_deref().map(chain_ends);
    let graph = job
        .out_streams
        .get(job.video_out)
        .is_some_and(|o| o.from_graph);
    // every other encoded stream has a simple graph of its own: fftools then numbers them
    let several = (0..job.out_streams.len())
        .any(|i| i != job.video_out && out_codec(job, codecs, i).is_some());
    let tag = if graph && several { " (graph 0)" } else { "" };
    if let (true, Some((first, _))) = (graph, &ends) {
        let o = &job.out_streams[job.video_out];
        let dec = codecs.decoder(&src_codec(o.file, o.stream)).unwrap_or("?");
        let _ = writeln!(
            s,
            "  Stream #{}:{} ({dec}) -> {first}:default{tag}",
            o.file, o.stream
        );
    }
    for (i, o) in job.out_streams.iter().enumerate() {
        let enc = out_codec(job, codecs, i);
        if let (true, true, Some((_, last))) = (graph, i == job.video_out, &ends) {
            let name = enc.map_or("?".to_string(), |e| e.1);
            let _ = writeln!(s, "  {last}:default{tag} -> Stream #{n}:{i} ({name})");
            continue;
        }
        let _ = write!(s, "  Stream #{}:{} -> #{n}:{i}", o.file, o.stream);
        match enc {
            None => s.push_str(" (copy)\n"),
            Some((codec, encoder)) => {
                let ic = src_codec(o.file, o.stream);
                let dec = codecs
                    .decoder(&ic)
                    .map_or("?".into(), |d| implementation(&ic, d));
                let _ = writeln!(
                    s,
                    " ({ic} ({dec}) -> {codec} ({}))",
                    implementation(&codec, &encoder)
                );
            }
        }
    }
    s
}

/// `Lavf59.27.100` from the version block's `libavformat    59. 27.100 / …` line.
fn lavf(version: &str) -> Option<String> {
    lib_ident(version, "libavformat", "Lavf")
}

fn lib_ident(version: &str, lib: &str, ident: &str) -> Option<String> {
    let l = version.lines().find(|l| l.trim_start().starts_with(lib))?;
    let v = l.trim_start().strip_prefix(lib)?.split('/').next()?;
    Some(format!(
        "{ident}{}",
        v.split_whitespace().collect::<String>()
    ))
}

/// The global `Metadata:` lines of an input's dump (`    key             : value`).
fn dump_metadata(dump: &str) -> Vec<(String, String)> {
    let mut in_meta = false;
    let mut tags = Vec::new();
    for l in dump.lines() {
        if l == "  Metadata:" {
            in_meta = true;
        } else if in_meta && l.starts_with("    ") && !l.starts_with("     ") {
            if let Some((k, v)) = l.split_once(": ") {
                tags.push((k.trim().to_string(), v.to_string()));
            }
        } else if in_meta {
            break;
        }
    }
    tags
}

/// An input stream's line from its dump, without `Stream #f:s[id](lang): `.
fn dump_stream(dump: &str, stream: usize) -> Option<String> {
    let key = format!("Stream #0:{stream}");
    let l = dump.lines().find(|l| {
        l.trim_start()
            .strip_prefix(&key)
            .is_some_and(|r| r.starts_with(['[', '(', ':']))
    })?;
    Some(
        l.split_once("): ")
            .or_else(|| l.split_once("]: "))
            .or_else(|| l.split_once(": "))?
            .1
            .to_string(),
    )
}

/// A stream description with its codec replaced and what an encoder changes left out.
fn encoded_description(input: &str, codec: &str, video: bool, exact_picture: bool) -> String {
    let default = input.ends_with("(default)");
    let parts: Vec<&str> = input
        .trim_end_matches("(default)")
        .trim_end()
        .split(", ")
        .collect();
    let kind_end = parts
        .first()
        .and_then(|p| p.find(": "))
        .map_or(0, |i| i + 2);
    let mut out = vec![format!("{}{codec}", &parts[0][..kind_end])];
    if video {
        if exact_picture {
            out.extend(parts.iter().skip(1).take(2).map(|p| p.to_string()));
        }
        out.push("q=2-31".into());
        out.extend(
            parts
                .iter()
                .filter(|p| p.ends_with(" fps"))
                .map(|p| p.to_string()),
        );
    } else {
        // libopus encodes at 48 kHz whatever the input's rate
        let rate = |p: &&str| match codec == "opus" && p.ends_with(" Hz") {
            true => "48000 Hz".to_string(),
            false => p.to_string(),
        };
        out.extend(
            parts
                .iter()
                .skip(1)
                .filter(|p| !p.ends_with("kb/s"))
                .take(2)
                .map(rate),
        );
    }
    let mut s = out.join(", ");
    if default {
        s.push_str(" (default)");
    }
    s
}

/// `Output #0, <muxer>, to '<path>':`, the global metadata ffmpeg copies from the first input
/// (or none with `-map_metadata -1`) plus its `encoder`, and one line per stream.
pub fn output_block(
    (job, n): (&JobSpec, usize),
    dumps: &[String],
    codecs: &Codecs,
    version: &str,
) -> String {
    let out = &job.cmd.outputs[0];
    // ffmpeg opens `-` as `pipe:` (`-f null -`)
    let url = if out.url == "-" { "pipe:" } else { &out.url };
    let mut s = format!("Output #{n}, {}, to '{url}':\n", job.muxer.name);
    let no_meta = out.opts.iter().any(|o| {
        o.name() == "map_metadata" && o.arg.as_deref().is_some_and(|a| a.starts_with('-'))
    });
    let mut tags = if no_meta {
        Vec::new()
    } else {
        dumps.first().map(|d| dump_metadata(d)).unwrap_or_default()
    };
    for o in out
        .opts
        .iter()
        .filter(|o| o.name() == "metadata" && o.spec().is_none_or(|s| s == "g"))
    {
        if let Some((k, v)) = o.arg.as_deref().and_then(|a| a.split_once('=')) {
            tags.retain(|(t, _)| t != k);
            tags.push((k.to_string(), v.to_string()));
        }
    }
    tags.retain(|(k, _)| k != "encoder");
    if let Some(l) = lavf(version) {
        tags.push(("encoder".into(), l));
    }
    if !tags.is_empty() {
        s.push_str("  Metadata:\n");
        for (k, v) in &tags {
            let _ = writeln!(s, "    {k:<16}: {v}");
        }
    }
    let picture_kept = job.filter.is_none()
        && !out
            .opts
            .iter()
            .any(|o| matches!(o.name(), "s" | "pix_fmt" | "vf" | "filter"));
    for (i, o) in job.out_streams.iter().enumerate() {
        let input = dumps
            .get(o.file)
            .and_then(|d| dump_stream(d, o.stream))
            .unwrap_or_default();
        let lang = dumps
            .get(o.file)
            .and_then(|d| dump_language(d, o.stream))
            .filter(|_| !o.from_graph);
        let lang = lang.map(|l| format!("({l})")).unwrap_or_default();
        let desc = match out_codec(job, codecs, i) {
            None => input,
            Some((codec, _)) => {
                encoded_description(&input, &codec, o.kind == MediaKind::Video, picture_kept)
            }
        };
        let desc = if o.from_graph {
            desc.trim_end_matches(" (default)").to_string()
        } else {
            desc
        };
        let _ = writeln!(s, "  Stream #{n}:{i}{lang}: {desc}");
        // the source stream's tags (none for a graph output or with -map_metadata -1), and
        // for an encoded stream the encoder's name
        let mut tags = match o.from_graph || job.stream_metadata_off {
            true => Vec::new(),
            false => dumps
                .get(o.file)
                .map(|d| dump_stream_metadata(d, o.stream))
                .unwrap_or_default(),
        };
        if let (Some((_, encoder)), Some(lavc)) = (out_codec(job, codecs, i), lavc(version)) {
            tags.retain(|(k, _)| k != "encoder");
            tags.push(("encoder".into(), format!("{lavc} {encoder}")));
        }
        if !tags.is_empty() {
            s.push_str("    Metadata:\n");
            for (k, v) in &tags {
                let _ = writeln!(s, "      {k:<16}: {v}");
            }
        }
    }
    s
}

/// A stream's language in an input's dump: `(eng)` right after `Stream #0:N` or its `[0x1]`.
fn dump_language(dump: &str, stream: usize) -> Option<String> {
    let key = format!("Stream #0:{stream}");
    let l = dump.lines().find_map(|l| {
        let r = l.trim_start().strip_prefix(&key)?;
        r.starts_with(['[', '(', ':']).then_some(r)
    })?;
    let r = match l.strip_prefix('[') {
        Some(id) => &id[id.find(']')? + 1..],
        None => l,
    };
    let r = r.strip_prefix('(')?;
    Some(r[..r.find(')')?].to_string())
}

/// `Lavc59.37.100` from the version block's libavcodec line.
fn lavc(version: &str) -> Option<String> {
    lib_ident(version, "libavcodec", "Lavc")
}

/// A stream's `Metadata:` lines in an input's dump (`      key             : value`).
fn dump_stream_metadata(dump: &str, stream: usize) -> Vec<(String, String)> {
    let key = format!("Stream #0:{stream}");
    let mut lines = dump.lines().skip_while(|l| {
        !l.trim_start()
            .strip_prefix(&key)
            .is_some_and(|r| r.starts_with(['[', '(', ':']))
    });
    lines.next();
    let mut tags = Vec::new();
    if lines.next() != Some("    Metadata:") {
        return tags;
    }
    for l in lines.take_while(|l| l.starts_with("      ")) {
        if let Some((k, v)) = l.split_once(": ") {
            tags.push((k.trim().to_string(), v.to_string()));
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: &str = " DEV.LS h264                 H.264 / AVC (decoders: h264 h264_v4l2m2m h264_qsv ) (encoders: libx264 libx264rgb h264_nvenc )\n \
        DEAIL. aac                  AAC (Advanced Audio Coding) (decoders: aac aac_fixed )\n \
        DEAIL. opus                 Opus (decoders: opus libopus ) (encoders: opus libopus )\n \
        DEAIL. mp3                  MP3 (decoders: mp3float mp3 ) (encoders: libmp3lame libshine )\n \
        DEV.L. av1                  AV1 (decoders: libdav1d libaom-av1 av1 ) (encoders: libaom-av1 librav1e libsvtav1 )\n \
        DEVILS ffv1                 FFmpeg video codec #1\n";

    #[test]
    fn names_as_fftools_prints_them() {
        let c = Codecs::parse(CODECS);
        assert_eq!(c.decoder("h264"), Some("h264"));
        assert_eq!(c.decoder("mp3"), Some("mp3float"));
        assert_eq!(c.decoder("av1"), Some("libdav1d"));
        assert_eq!(c.codec_of("libsvtav1"), Some("av1"));
        assert_eq!(c.codec_of("aac"), Some("aac"));
        assert_eq!(c.codec_of("ffv1"), Some("ffv1"));
        // the native opus encoder is experimental
        assert_eq!(c.default_encoder("opus"), Some("libopus"));
        assert_eq!(implementation("h264", "h264"), "native");
        assert_eq!(implementation("h264", "libx264"), "libx264");
    }

    #[test]
    fn inputs_are_renumbered() {
        let dump = "Input #0, matroska,webm, from 'b.mkv':\n  Duration: 00:00:02.00, start: 0.000000, bitrate: 9 kb/s\n  Stream #0:0: Audio: opus, 48000 Hz, mono, fltp (default)\n";
        let b = input_block(1, dump);
        assert!(
            b.starts_with("Input #1, matroska,webm, from 'b.mkv':\n"),
            "{b}"
        );
        assert!(b.contains("  Stream #1:0: Audio: opus"), "{b}");
        let meta = "  Stream #0:0[0x1](und): Video: h264\n    Metadata:\n      handler_name    : VideoHandler\n      \
                    vendor_id       : [0][0][0][0]\n  Stream #0:1[0x2](und): Audio: aac\n";
        assert_eq!(
            dump_stream_metadata(meta, 0),
            [
                ("handler_name".into(), "VideoHandler".into()),
                ("vendor_id".into(), "[0][0][0][0]".into())
            ]
        );
        assert!(dump_stream_metadata(meta, 1).is_empty());
        assert_eq!(dump_language(meta, 0).as_deref(), Some("und"));
        let ts = "  Stream #0:0[0x100]: Video: h264 (High) ([27][0][0][0] / 0x001B), yuv420p\n";
        assert_eq!(dump_language(ts, 0), None);
        assert_eq!(
            dump_stream(dump, 0).unwrap(),
            "Audio: opus, 48000 Hz, mono, fltp (default)"
        );
    }

    #[test]
    fn encoded_streams_are_described_by_their_new_codec() {
        let v = "Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 320x240 [SAR 1:1 DAR 4:3], 290 kb/s, 25 fps, 25 tbr, 12800 tbn (default)";
        assert_eq!(
            encoded_description(v, "hevc", true, true),
            "Video: hevc, yuv420p(progressive), 320x240 [SAR 1:1 DAR 4:3], q=2-31, 25 fps (default)"
        );
        assert_eq!(
            encoded_description(v, "av1", true, false),
            "Video: av1, q=2-31, 25 fps (default)"
        );
        let a = "Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 69 kb/s (default)";
        assert_eq!(
            encoded_description(a, "opus", false, true),
            "Audio: opus, 48000 Hz, mono (default)"
        );
        assert_eq!(
            chain_ends("[0]scale=320:-2,format=yuv420p[s0]"),
            ("scale".into(), "format".into())
        );
        assert_eq!(
            lavf("  libavformat    59. 27.100 / 59. 27.100\n").unwrap(),
            "Lavf59.27.100"
        );
    }
}
