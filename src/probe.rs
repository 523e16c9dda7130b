//! Probing inputs with ffprobe: streams, format and chapters as JSON, and the video packet index
//! (pts, dts, duration, keyframe and discard flags) as CSV — read from the container, never decoded.

use crate::process;
use crate::rational::{parse_seconds_us, Rational};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod args;
pub use args::{ffprobe_args, FfprobeArgs, Show};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Video,
    Audio,
    Subtitle,
    Data,
    Attachment,
    Unknown,
}

impl MediaKind {
    fn from_ffprobe(s: &str) -> MediaKind {
        match s {
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            "subtitle" => MediaKind::Subtitle,
            "data" => MediaKind::Data,
            "attachment" => MediaKind::Attachment,
            _ => MediaKind::Unknown,
        }
    }

    /// The stream-specifier letter (`v`, `a`, `s`, `d`, `t`).
    pub fn letter(self) -> Option<char> {
        match self {
            MediaKind::Video => Some('v'),
            MediaKind::Audio => Some('a'),
            MediaKind::Subtitle => Some('s'),
            MediaKind::Data => Some('d'),
            MediaKind::Attachment => Some('t'),
            MediaKind::Unknown => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub index: usize,
    pub kind: MediaKind,
    pub codec_name: String,
    /// The codec profile ffprobe names (`LC`, `High`, …).
    #[serde(default)]
    pub profile: Option<String>,
    /// The decoder's reorder delay in frames (`video_delay`).
    #[serde(default)]
    pub has_b_frames: u32,
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    pub sample_rate: u32,
    pub time_base: Rational,
    pub r_frame_rate: Rational,
    pub avg_frame_rate: Rational,
    pub start_pts: Option<i64>,
    pub disposition: BTreeMap<String, i64>,
    pub tags: BTreeMap<String, String>,
    pub id: Option<String>,
    pub pix_fmt: Option<String>,
    pub field_order: Option<String>,
    /// The color properties the demuxer reports (range, matrix, transfer, primaries, chroma
    /// location) as ffmpeg codec options with their values; unspecified ones left out.
    #[serde(default)]
    pub color: Vec<(String, String)>,
    /// The stream's display matrix (ffprobe's `displaymatrix`, row by row), if any.
    pub display_matrix: Option<[i32; 9]>,
}

impl StreamInfo {
    pub fn disposition(&self, name: &str) -> bool {
        self.disposition.get(name).copied().unwrap_or(0) != 0
    }

    pub fn is_attached_pic(&self) -> bool {
        self.disposition("attached_pic")
    }

    /// The frame rate ffmpeg's `av_guess_frame_rate` reports from what ffprobe shows.
    pub fn guessed_frame_rate(&self) -> Rational {
        let (fr, avg) = (self.r_frame_rate, self.avg_frame_rate);
        if avg.is_valid() && fr.is_valid() && avg.to_f64() < 70.0 && fr.to_f64() > 210.0 {
            return avg;
        }
        fr
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormatInfo {
    pub format_name: String,
    pub start_time_us: Option<i64>,
    pub duration_us: Option<i64>,
    pub size: Option<u64>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chapter {
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub format: FormatInfo,
    pub streams: Vec<StreamInfo>,
    pub chapters: Vec<Chapter>,
}

/// One packet of the video stream as stored (decode order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    pub pts: i64,
    pub dts: Option<i64>,
    pub duration: i64,
    pub key: bool,
    /// Marked to be decoded but not shown (edit lists).
    pub discard: bool,
    /// Bytes: the planner's measure of how hard the frame is to encode.
    pub size: u32,
}

// ---- ffprobe JSON shapes ----

#[derive(Deserialize)]
struct RawProbe {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
    #[serde(default)]
    chapters: Vec<RawChapter>,
}

#[derive(Deserialize)]
struct RawStream {
    index: usize,
    #[serde(default)]
    codec_type: String,
    #[serde(default)]
    codec_name: String,
    profile: Option<String>,
    has_b_frames: Option<u32>,
    width: Option<u32>,
    height: Option<u32>,
    channels: Option<u32>,
    sample_rate: Option<String>,
    time_base: Option<String>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    start_pts: Option<i64>,
    #[serde(default)]
    disposition: BTreeMap<String, i64>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    id: Option<String>,
    pix_fmt: Option<String>,
    field_order: Option<String>,
    color_range: Option<String>,
    color_space: Option<String>,
    color_transfer: Option<String>,
    color_primaries: Option<String>,
    chroma_location: Option<String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
}

/// ffprobe's color fields as codec options (ffprobe's names are the options' values, except
/// `gbr`, which the colorspace option calls `rgb`).
fn color_options(s: &RawStream) -> Vec<(String, String)> {
    [
        ("color_range", &s.color_range),
        ("colorspace", &s.color_space),
        ("color_trc", &s.color_transfer),
        ("color_primaries", &s.color_primaries),
        ("chroma_sample_location", &s.chroma_location),
    ]
    .into_iter()
    .filter_map(|(opt, v)| {
        let v = v.as_deref()?;
        let v = if opt == "colorspace" && v == "gbr" {
            "rgb"
        } else {
            v
        };
        (!matches!(v, "unknown" | "unspecified" | "reserved"))
            .then(|| (opt.to_string(), v.to_string()))
    })
    .collect()
}

#[derive(Deserialize)]
struct RawFormat {
    #[serde(default)]
    format_name: String,
    start_time: Option<String>,
    duration: Option<String>,
    size: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawChapter {
    start_time: Option<String>,
    end_time: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// A "Display Matrix" side data entry's nine values: ffprobe prints them as three rows, each
/// after a `0000000N:` label.
fn display_matrix(v: &serde_json::Value) -> Option<[i32; 9]> {
    if v.get("side_data_type")?.as_str()? != "Display Matrix" {
        return None;
    }
    let text = v.get("displaymatrix")?.as_str()?;
    let values: Vec<i32> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .flat_map(|(_, row)| row.split_whitespace().map(str::parse))
        .collect::<Result<_, _>>()
        .ok()?;
    values.try_into().ok()
}

fn rat(s: &Option<String>) -> Rational {
    s.as_deref()
        .and_then(Rational::parse)
        .unwrap_or(Rational::new(0, 1))
}

fn us(s: &Option<String>) -> Option<i64> {
    s.as_deref().and_then(parse_seconds_us)
}

/// Parses `ffprobe -show_format -show_streams -show_chapters -of json` output.
pub fn parse_info(json: &[u8]) -> Result<MediaInfo> {
    let raw: RawProbe = serde_json::from_slice(json).context("unreadable ffprobe JSON")?;
    let f = raw.format.context("ffprobe reported no format")?;
    let streams = raw
        .streams
        .into_iter()
        .map(|s| {
            let color = color_options(&s);
            StreamInfo {
                index: s.index,
                kind: MediaKind::from_ffprobe(&s.codec_type),
                codec_name: s.codec_name,
                profile: s.profile,
                has_b_frames: s.has_b_frames.unwrap_or(0),
                width: s.width.unwrap_or(0),
                height: s.height.unwrap_or(0),
                channels: s.channels.unwrap_or(0),
                sample_rate: s.sample_rate.and_then(|r| r.parse().ok()).unwrap_or(0),
                time_base: rat(&s.time_base),
                r_frame_rate: rat(&s.r_frame_rate),
                avg_frame_rate: rat(&s.avg_frame_rate),
                start_pts: s.start_pts,
                disposition: s.disposition,
                tags: s.tags,
                id: s.id,
                pix_fmt: s.pix_fmt,
                field_order: s.field_order,
                color,
                display_matrix: s.side_data_list.iter().find_map(display_matrix),
            }
        })
        .collect();
    Ok(MediaInfo {
        format: FormatInfo {
            format_name: f.format_name,
            start_time_us: us(&f.start_time),
            duration_us: us(&f.duration),
            size: f.size.and_then(|s| s.parse().ok()),
            tags: f.tags,
        },
        streams,
        chapters: raw
            .chapters
            .into_iter()
            .map(|c| Chapter {
                start_us: us(&c.start_time),
                end_us: us(&c.end_time),
                title: c.tags.get("title").cloned(),
            })
            .collect(),
    })
}

/// Parses `-show_entries packet=pts,dts,duration,size,flags -of csv=p=0` output. Packets without a
/// pts make the index unusable for planning and are reported as an error.
pub fn parse_packets(csv: &[u8]) -> Result<Vec<Packet>> {
    let text = std::str::from_utf8(csv).context("ffprobe packet list is not UTF-8")?;
    let mut v = Vec::with_capacity(text.len() / 16);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut it = line.split(',');
        let (pts, dts, dur, size) = (it.next(), it.next(), it.next(), it.next());
        let flags = it.next().unwrap_or("");
        let num = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok());
        let Some(pts) = num(pts) else {
            bail!("packet {n} has no presentation timestamp");
        };
        v.push(Packet {
            pts,
            dts: num(dts),
            duration: num(dur).unwrap_or(0),
            key: flags.starts_with('K'),
            discard: flags.as_bytes().get(1) == Some(&b'D'),
            size: size.and_then(|s| s.parse().ok()).unwrap_or(0),
        });
    }
    Ok(v)
}

/// Whether the first decoded frame of stream `stream` carries a display matrix of its own (an
/// H.264/HEVC display orientation SEI): one frame is decoded.
pub async fn first_frame_display_matrix(
    ffprobe: &str,
    path: &str,
    demux: &[String],
    stream: usize,
) -> Result<bool> {
    let args = ffprobe_args(
        "error",
        Show::Entries("frame_side_data=side_data_type"),
        "json",
    )
    .streams(stream)
    .intervals("%+#1")
    .demux(demux)
    .input(path);
    let out = process::output(ffprobe, &args).await?;
    let v: serde_json::Value = serde_json::from_slice(&out)
        .with_context(|| format!("{path}: cannot read ffprobe output"))?;
    let sides = v["frames"][0]["side_data_list"].as_array().cloned();
    Ok(sides.unwrap_or_default().iter().any(|d| {
        d["side_data_type"].as_str().is_some_and(|t| {
            t.to_ascii_lowercase().contains("displaymatrix") || t == "Display Matrix"
        })
    }))
}

/// Probes one input: streams, format and chapters, and the `Input #0, …` block ffprobe
/// prints for it (the same `av_dump_format` text ffmpeg prints for its inputs).
pub async fn probe_info(
    ffprobe: &str,
    path: &str,
    demux: &[String],
) -> Result<(MediaInfo, String)> {
    let args = ffprobe_args("info", Show::FormatStreamsChapters, "json")
        .hide_banner()
        .demux(demux)
        .input(path);
    let (out, err) = process::output_and_stderr(ffprobe, &args)
        .await
        .map_err(|e| {
            let first = e.stderr_tail().lines().rev().find(|l| !l.trim().is_empty());
            match first {
                Some(line) => anyhow::anyhow!("{}", line.trim()),
                None => anyhow::Error::new(e),
            }
        })?;
    let info = parse_info(&out).with_context(|| format!("{path}: cannot read ffprobe output"))?;
    Ok((info, String::from_utf8_lossy(&err).into_owned()))
}

/// Reads the packet index of one stream (by absolute index).
pub async fn probe_packets(
    ffprobe: &str,
    path: &str,
    stream: usize,
    demux: &[String],
) -> Result<Vec<Packet>> {
    let entries = Show::Entries("packet=pts,dts,duration,size,flags");
    let args = ffprobe_args("error", entries, "csv=p=0")
        .streams(stream)
        .demux(demux)
        .input(path);
    let out = process::output(ffprobe, &args)
        .await
        .with_context(|| format!("{path}: cannot read the packet index"))?;
    parse_packets(&out).with_context(|| format!("{path}: packet index"))
}

/// The subtitle events of a file (the packets of its `stream`th subtitle stream, or of every
/// one) as start and end in µs (no end when the packet has no duration), for
/// `job::burnin::busy_spans`.
pub async fn subtitle_events(
    ffprobe: &str,
    path: &str,
    stream: Option<i64>,
) -> Result<Vec<(i64, Option<i64>)>> {
    let entries = Show::Entries("packet=pts_time,duration_time");
    let select = stream.map_or("s".to_string(), |i| format!("s:{i}"));
    let args = ffprobe_args("error", entries, "csv=p=0")
        .streams(select)
        .input(path);
    let out = process::output(ffprobe, &args)
        .await
        .with_context(|| format!("{path}: cannot read the subtitle events"))?;
    let us = |t: &str| crate::rational::parse_duration_us(t.trim());
    let mut events = Vec::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let mut it = line.split(',');
        let Some(start) = it.next().and_then(us) else {
            anyhow::bail!("{path}: a subtitle packet without a time ({line})");
        };
        let end = it.next().and_then(us).map(|d| start + d);
        events.push((start, end));
    }
    Ok(events)
}

/// The byte positions of each stream's packets among the file's first packets (the order the
/// demuxer delivers them in).
pub async fn first_positions(
    ffprobe: &str,
    path: &str,
    demux: &[String],
) -> Result<BTreeMap<usize, Vec<i64>>> {
    let args = ffprobe_args("error", Show::Entries("packet=stream_index,pos"), "csv=p=0")
        .intervals("%+#512")
        .demux(demux)
        .input(path);
    let out = process::output(ffprobe, &args)
        .await
        .with_context(|| format!("{path}: cannot read the packet order"))?;
    let mut first = BTreeMap::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let mut it = line.trim().split(',');
        let (Some(Ok(index)), Some(Ok(pos))) = (
            it.next().map(str::parse::<usize>),
            it.next().map(str::parse::<i64>),
        ) else {
            continue;
        };
        first.entry(index).or_insert_with(Vec::new).push(pos);
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_parse_flags_and_missing_dts() {
        let p = parse_packets(b"0,-1024,512,900,K_\n1536,N/A,512,20,__\n512,0,512,7,_D\n").unwrap();
        assert_eq!(p.len(), 3);
        assert!(p[0].key && !p[0].discard);
        assert_eq!(p[0].dts, Some(-1024));
        assert_eq!(p[1].dts, None);
        assert!(p[2].discard);
        assert_eq!((p[0].size, p[1].size), (900, 20));
        assert!(parse_packets(b"N/A,0,1,5,K_\n").is_err());
    }

    #[test]
    fn info_parses_ffprobe_json() {
        let json = br#"{"streams":[{"index":0,"codec_type":"video","codec_name":"h264",
            "width":320,"height":240,"time_base":"1/15360","r_frame_rate":"30/1",
            "avg_frame_rate":"30/1","start_pts":0,"disposition":{"default":1,"attached_pic":0},
            "tags":{"language":"und"},"side_data_list":[{"side_data_type":"Display Matrix",
            "displaymatrix":"\n00000000:            0       65536           0\n00000001:       -65536           0           0\n00000002:            0           0  1073741824\n","rotation":-90}]},
            {"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"time_base":"1/48000"}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","start_time":"0.000000",
            "duration":"10.005000","size":"1234"},"chapters":[]}"#;
        let m = parse_info(json).unwrap();
        assert_eq!(m.streams.len(), 2);
        assert_eq!(m.streams[0].time_base, Rational::new(1, 15360));
        let m0 = m.streams[0].display_matrix;
        assert_eq!(m0, Some([0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30]));
        assert!(m.streams[0].disposition("default"));
        assert_eq!(m.streams[1].kind, MediaKind::Audio);
        assert_eq!(m.format.duration_us, Some(10_005_000));
    }

    #[test]
    fn guessed_rate_prefers_avg_for_bogus_r() {
        let mut s = parse_info(br#"{"streams":[{"index":0,"codec_type":"video","r_frame_rate":"240/1","avg_frame_rate":"30/1"}],"format":{}}"#)
            .unwrap()
            .streams
            .remove(0);
        assert_eq!(s.guessed_frame_rate(), Rational::new(30, 1));
        s.r_frame_rate = Rational::new(60, 1);
        assert_eq!(s.guessed_frame_rate(), Rational::new(60, 1));
    }
}
