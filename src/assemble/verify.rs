//! Checking an encoded chunk against the plan before it is accepted: the same number of frames
//! and the same timestamps (relative to the chunk's first frame, in the container's time base);
//! after a pre-roll, its packets first in decode order and the chunk's first frame an IDR.

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
    /// Start time of the chunk file in microseconds (for the concat list); after a pre-roll,
    /// of the chunk's first frame, where the join starts reading it (`inpoint`).
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
    /// The same chunk of the job's other outputs (`JobSpec::others`), in their order.
    #[serde(default)]
    pub others: Vec<EncodedChunk>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the encoded chunk: {0}")]
    Unreadable(String),
    #[error("frame check failed: expected {expected} frames, got {got}")]
    Count { expected: i64, got: i64 },
    #[error("pre-roll check failed: the first frame after {0} pre-roll frames is not a keyframe that every later packet follows")]
    Preroll(usize),
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
    #[serde(default)]
    flags: String,
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

/// Splits off a chunk's pre-roll: packets (pts, keyframe) in decode order. The pre-roll comes
/// first and shows before the chunk's first frame, which is a keyframe that every later packet
/// shows at or after, so that reading from it gives exactly the chunk's frames. Returns that
/// frame's pts and the chunk's own packets.
pub fn split_preroll(
    c: &Chunk,
    packets: &[(i64, bool)],
) -> Result<(Option<i64>, Vec<i64>), VerifyError> {
    if c.preroll == 0 {
        return Ok((None, packets.iter().map(|p| p.0).collect()));
    }
    let bad = || VerifyError::Preroll(c.preroll);
    let (pre, own) = packets.split_at_checked(c.preroll).ok_or_else(bad)?;
    let &(first, key) = own.first().ok_or_else(bad)?;
    if !key || pre.iter().any(|p| p.0 >= first) || own.iter().any(|p| p.0 < first) {
        return Err(bad());
    }
    Ok((Some(first), own.iter().map(|p| p.0).collect()))
}

/// Probes an encoded chunk file and checks it.
pub async fn verify(
    ffprobe: &str,
    path: &Path,
    c: &Chunk,
    enc_tb: Rational,
) -> Result<EncodedChunk, VerifyError> {
    let entries = Show::Entries("format=start_time:stream=time_base:stream_tags:packet=pts,flags");
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
    let packets: Vec<(i64, bool)> = (p.packets.iter())
        .filter_map(|x| Some((x.pts?, x.flags.starts_with('K'))))
        .collect();
    let (inpoint, got) = split_preroll(c, &packets)?;
    check_pts(c, enc_tb, tb, got)?;
    // Unknown start (a one-frame file): the concat demuxer then counts it as 0 as well. After
    // a pre-roll: the first frame's time, as the demuxer rescales it.
    let start_us = match inpoint {
        Some(pts) => rescale_q(pts, tb, crate::rational::MICROS),
        None => (p.format.and_then(|f| f.start_time))
            .as_deref()
            .and_then(parse_seconds_us)
            .unwrap_or(0),
    };
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
        others: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(pts: Vec<i64>) -> Chunk {
        crate::testutil::chunk(pts)
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

    #[test]
    fn a_preroll_comes_first_and_ends_at_a_keyframe_that_closes_it() {
        let mut c = chunk(vec![10, 11, 12]);
        c.preroll = 2;
        // decode order: pre-roll 8, 9 (B-frame order), then the IDR at 10
        let ok = [(9, false), (8, false), (10, true), (12, false), (11, false)];
        assert_eq!(split_preroll(&c, &ok), Ok((Some(10), vec![10, 12, 11])));
        for bad in [
            // the chunk's first frame is not a keyframe
            vec![(8, true), (9, false), (10, false), (12, false), (11, false)],
            // a frame of the chunk shows before its first frame
            vec![(8, false), (9, false), (10, true), (12, false), (9, false)],
            // a pre-roll frame comes after the keyframe in decode order
            vec![(8, false), (10, true), (9, false), (12, false), (11, false)],
            // too few packets
            vec![(8, false)],
        ] {
            assert_eq!(
                split_preroll(&c, &bad),
                Err(VerifyError::Preroll(2)),
                "{bad:?}"
            );
        }
        c.preroll = 0;
        assert_eq!(split_preroll(&c, &ok).unwrap().0, None);
    }
}
