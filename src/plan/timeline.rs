//! Which source frames plain ffmpeg hands to its video filter graph and encoder, and at which
//! filter timestamps: packets in presentation order, shifted by the input's `ts_offset`, cut by
//! the trims that `-ss`/`-t`/`-to` insert on the input and the output side (fftools 5.1 rules).

use crate::probe::Packet;
use crate::rational::{rescale_q, Rational, MICROS};
use serde::Serialize;

/// The timing options that shape the frame list, all in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Trims {
    /// The input's `ts_offset`: `-itsoffset` minus (`-ss` + the file's start time).
    pub ts_offset_us: i64,
    /// Input `-ss` with accurate seeking: frames before the new zero are trimmed.
    pub input_start: bool,
    /// Input `-t` (or `-to` minus `-ss`).
    pub input_duration_us: Option<i64>,
    /// Output `-ss`.
    pub output_start_us: Option<i64>,
    /// Output `-t` (or `-to` minus `-ss`).
    pub output_duration_us: Option<i64>,
}

/// The frames around each output frame that a chain reads: `before` earlier and `after` later
/// input frames. Workers decode that many frames of context on each side of a chunk, run the
/// chain over them and drop their outputs, so every output frame sees what it sees in plain
/// ffmpeg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    pub before: usize,
    pub after: usize,
    /// A deinterlacer sends one frame per field: two output frames per input frame, in half
    /// the time base (yadif's `mode=1`).
    pub fields: bool,
}

/// An output frame of the user's chain, and the index of the chain input frame it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChainOut {
    pub frame: Frame,
    pub source: usize,
    /// The first (or only) output of its source frame.
    pub first: bool,
}

/// The chain's output frames for its input frames: the same frames, or with `fields` two per
/// frame in half the time base, as yadif's field mode times them: `2·p(i)` and `p(i) + p(i+1)`,
/// the last frame's next one extrapolated to `2·p(n-1) - p(n-2)`.
pub fn chain_output(chain: &[Frame], fields: bool) -> Vec<ChainOut> {
    if !fields {
        return (chain.iter().enumerate())
            .map(|(source, &frame)| ChainOut {
                frame,
                source,
                first: true,
            })
            .collect();
    }
    let n = chain.len();
    let mut out = Vec::with_capacity(2 * n);
    for (i, f) in chain.iter().enumerate() {
        let next = match (chain.get(i + 1), i.checked_sub(1).map(|j| chain[j])) {
            (Some(nx), _) => nx.pts,
            (None, Some(prev)) => 2 * f.pts - prev.pts,
            (None, None) => f.pts,
        };
        let frame = |pts| Frame { pts, ..*f };
        out.push(ChainOut {
            frame: frame(2 * f.pts),
            source: i,
            first: true,
        });
        out.push(ChainOut {
            frame: frame(f.pts + next),
            source: i,
            first: false,
        });
    }
    out
}

/// A frame that reaches the encoder's frame-rate logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// Index of its packet in decode order.
    pub packet: usize,
    /// Timestamp in the filter graph (the stream time base, after ts_offset).
    pub pts: i64,
    /// The packet's duration (the decoder copies it into the frame).
    pub duration: i64,
}

/// The frames in presentation order (discarded packets excluded), before any trim.
pub fn presentation_order(packets: &[Packet], tb: Rational, ts_offset_us: i64) -> Vec<Frame> {
    let shift = rescale_q(ts_offset_us, MICROS, tb);
    let mut frames: Vec<Frame> = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.discard)
        .map(|(i, p)| Frame {
            packet: i,
            pts: p.pts + shift,
            duration: p.duration,
        })
        .collect();
    frames.sort_by_key(|f| (f.pts, f.packet));
    frames
}

/// libavfilter's `trim` with `starti`/`durationi` (microseconds) on a video link of `tb`.
/// Returns the kept frames; the first frame past the duration ends the stream.
pub fn trim(
    frames: &[Frame],
    tb: Rational,
    start_us: Option<i64>,
    duration_us: Option<i64>,
) -> Vec<Frame> {
    if start_us.is_none() && duration_us.is_none() {
        return frames.to_vec();
    }
    let start = start_us.map(|s| rescale_q(s, MICROS, tb));
    let dur = duration_us
        .filter(|&d| d != 0)
        .map(|d| rescale_q(d, MICROS, tb));
    let mut first = None;
    let mut out = Vec::new();
    for f in frames {
        if start.is_some_and(|s| f.pts < s) {
            continue;
        }
        let first = *first.get_or_insert(f.pts);
        if dur.is_some_and(|d| f.pts - first >= d) {
            break;
        }
        out.push(*f);
    }
    out
}

/// The frames plain ffmpeg's video filter chain sees, with their filter timestamps: the
/// input trims come before the user's filters, the output trims after them.
pub fn filter_input(packets: &[Packet], tb: Rational, t: &Trims) -> Vec<Frame> {
    let frames = presentation_order(packets, tb, t.ts_offset_us);
    trim(&frames, tb, t.input_start.then_some(0), t.input_duration_us)
}

/// For every packet, the index of the keyframe decoding must start from to reach it: the last
/// keyframe at or before it in decode order — or, for a leading picture of an open GOP (shown
/// before its keyframe, referencing the previous GOP), the keyframe before that one. None when
/// no keyframe precedes it.
pub fn decode_starts(packets: &[Packet]) -> Vec<Option<usize>> {
    let leading = leading_pictures(packets);
    let mut last = None;
    let mut before = None;
    packets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.key {
                before = last;
                last = Some(i);
            }
            if leading[i] {
                before
            } else {
                last
            }
        })
        .collect()
}

/// For every packet, whether it is a leading picture: after a keyframe in decode order but
/// before it in presentation order.
pub fn leading_pictures(packets: &[Packet]) -> Vec<bool> {
    let mut key_pts = None;
    packets
        .iter()
        .map(|p| {
            if p.key {
                key_pts = Some(p.pts);
            }
            key_pts.is_some_and(|k| p.pts < k)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(pts: i64, key: bool) -> Packet {
        Packet {
            pts,
            dts: None,
            duration: 1,
            key,
            discard: false,
            size: 0,
        }
    }

    fn tb() -> Rational {
        Rational::new(1, 10)
    }

    #[test]
    fn presentation_order_sorts_and_shifts() {
        let p = vec![pk(0, true), pk(3, false), pk(1, false), pk(2, false)];
        let f = presentation_order(&p, tb(), -100_000);
        let pts: Vec<_> = f.iter().map(|f| f.pts).collect();
        assert_eq!(pts, [-1, 0, 1, 2]);
        assert_eq!(f[1].packet, 2);
    }

    #[test]
    fn trim_start_and_duration_follow_libavfilter() {
        let frames: Vec<Frame> = (0..10)
            .map(|i| Frame {
                packet: i,
                pts: i as i64 * 2 + 1,
                duration: 2,
            })
            .collect();
        // start at 0.4 s = pts 4: first kept is 5; duration 0.5 s = 5 ticks from 5 -> 5,7,9
        let kept = trim(&frames, tb(), Some(400_000), Some(500_000));
        let pts: Vec<_> = kept.iter().map(|f| f.pts).collect();
        assert_eq!(pts, [5, 7, 9]);
        assert_eq!(
            trim(&frames, tb(), None, Some(0)).len(),
            10,
            "-t 0 means no limit"
        );
    }

    #[test]
    fn discarded_packets_never_reach_the_encoder() {
        let mut p = vec![pk(0, true), pk(1, false)];
        p[0].discard = true;
        let f = filter_input(&p, tb(), &Trims::default());
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn decode_start_is_last_keyframe_or_the_one_before_for_leading_pictures() {
        let p = vec![
            pk(0, true),
            pk(2, false),
            pk(1, false),
            pk(4, true),
            pk(3, false),
        ];
        let d = decode_starts(&p);
        // pts 3 follows keyframe 4 in decode order but is shown before it: it references
        // the first GOP, so decoding starts there.
        assert_eq!(d, [Some(0), Some(0), Some(0), Some(3), Some(0)]);
        assert_eq!(leading_pictures(&p), [false, false, false, false, true]);
    }
}
