//! Checking an encoded chunk against the plan before it is accepted: the same number of frames
//! and the same timestamps (relative to the chunk's first frame, in the container's time base).

use crate::plan::Chunk;
use crate::probe::{ffprobe_args, Show};
use crate::process;
use crate::rational::{parse_seconds_us, rescale_q, Rational};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What the scheduler keeps about a verified chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedChunk {
    pub index: usize,
    pub file: String,
    /// Start time of the chunk file in microseconds (for the concat list).
    pub start_us: i64,
    pub frames: i64,
    pub size: u64,
    /// The chunk file's video time base.
    pub tb: Rational,
    /// The video stream's tags as the chunk container returns them.
    pub tags: std::collections::BTreeMap<String, String>,
    /// The color properties the worker's encoder was opened with, as codec options and values
    /// (`color_range` `tv`, …), where set.
    #[serde(default)]
    pub color: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the encoded chunk: {0}")]
    Unreadable(String),
    #[error("frame check failed: expected {expected} frames, got {got}")]
    Count { expected: i64, got: i64 },
    #[error(
        "timestamp check failed at frame {at}: expected {expected}, got {got} (time base {tb})"
    )]
    Pts {
        at: usize,
        expected: i64,
        got: i64,
        tb: Rational,
    },
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    packets: Vec<Pkt>,
    #[serde(default)]
    streams: Vec<St>,
    format: Option<Fmt>,
}
#[derive(Deserialize)]
struct Pkt {
    pts: Option<i64>,
}
#[derive(Deserialize)]
struct St {
    time_base: String,
    #[serde(default)]
    tags: std::collections::BTreeMap<String, String>,
}
#[derive(Deserialize)]
struct Fmt {
    start_time: Option<String>,
}

/// Compares probed pts (any order) with the plan's encoder pts.
pub fn check_pts(
    c: &Chunk,
    enc_tb: Rational,
    tb: Rational,
    mut got: Vec<i64>,
) -> Result<(), VerifyError> {
    if got.len() as i64 != c.out_count() {
        return Err(VerifyError::Count {
            expected: c.out_count(),
            got: got.len() as i64,
        });
    }
    got.sort_unstable();
    let want: Vec<i64> = c
        .out_pts
        .iter()
        .map(|&p| rescale_q(p, enc_tb, tb))
        .collect();
    let (w0, g0) = (
        want.first().copied().unwrap_or(0),
        got.first().copied().unwrap_or(0),
    );
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        if w - w0 != g - g0 {
            return Err(VerifyError::Pts {
                at: i,
                expected: w - w0,
                got: g - g0,
                tb,
            });
        }
    }
    Ok(())
}

/// Probes an encoded chunk file and checks it.
pub async fn verify(
    ffprobe: &str,
    path: &Path,
    c: &Chunk,
    enc_tb: Rational,
) -> Result<EncodedChunk, VerifyError> {
    let entries = Show::Entries("format=start_time:stream=time_base:stream_tags:packet=pts");
    let args = ffprobe_args("error", entries, "json")
        .streams("v:0")
        .file(&path.to_string_lossy());
    // nobody waits for it but the final mux: the worker has moved on to its next chunk
    let out = process::background_output(ffprobe, &args)
        .await
        .map_err(|e| VerifyError::Unreadable(e.to_string()))?;
    let p: Probe =
        serde_json::from_slice(&out).map_err(|e| VerifyError::Unreadable(e.to_string()))?;
    let st = p
        .streams
        .first()
        .ok_or_else(|| VerifyError::Unreadable("no video stream".into()))?;
    let tb = Rational::parse(&st.time_base)
        .ok_or_else(|| VerifyError::Unreadable("no time base".into()))?;
    let tags = st.tags.clone();
    let got: Vec<i64> = p.packets.iter().filter_map(|x| x.pts).collect();
    check_pts(c, enc_tb, tb, got)?;
    // Unknown start (a one-frame file): the concat demuxer then counts it as 0 as well.
    let start_us = p
        .format
        .and_then(|f| f.start_time)
        .as_deref()
        .and_then(parse_seconds_us)
        .unwrap_or(0);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(EncodedChunk {
        index: c.index,
        file: path.to_string_lossy().into_owned(),
        start_us,
        frames: c.out_count(),
        size,
        tb,
        tags,
        color: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sync::SyncMode;

    fn chunk(pts: Vec<i64>) -> Chunk {
        Chunk {
            index: 0,
            start: 0,
            end: pts.len(),
            first_packet: 0,
            last_packet: 0,
            key_pts: 0,
            first_pts: 0,
            prev_pts: None,
            worker_mode: SyncMode::Vfr,
            out_pts: pts,
            cost: 0,
            context: Default::default(),
            decode_pts: 0,
            explicit_drops: None,
            forced_keyframes: Vec::new(),
        }
    }

    #[test]
    fn relative_pts_in_the_container_time_base() {
        let enc = Rational::new(1, 30);
        let ms = Rational::new(1, 1000);
        let c = chunk(vec![60, 61, 62, 64]);
        // mkv: 2000, 2033, 2067, 2133 ms; a container offset (e.g. +21 ms) is fine
        assert_eq!(check_pts(&c, enc, ms, vec![2054, 2021, 2088, 2154]), Ok(()));
        assert!(matches!(
            check_pts(&c, enc, ms, vec![2021, 2054, 2088]),
            Err(VerifyError::Count { .. })
        ));
        assert!(matches!(
            check_pts(&c, enc, ms, vec![2021, 2054, 2088, 2121]),
            Err(VerifyError::Pts { at: 3, .. })
        ));
    }
}
