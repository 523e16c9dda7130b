//! Which source frames plain ffmpeg hands to its video filter graph and encoder, and at which
//! filter timestamps: packets in presentation order, shifted by the input's `ts_offset`, cut by
//! the trims that `-ss`/`-t`/`-to` insert on the input and the output side (fftools 5.1 rules).

use crate::probe::Packet;
use crate::rational::{rescale_q, rescale_q_rnd, Rational, Round, MICROS};
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
    /// The `fps` filter: the chain's output is its frame-rate grid (`fps_output`).
    pub fps: Option<Fps>,
    /// The `setpts` filter scaling the timestamps: the chain's output is each frame at its
    /// new pts (`SetPts::apply`).
    pub setpts: Option<SetPts>,
}

/// `setpts=K*PTS`, `PTS*K` or `PTS/K`: libavfilter evaluates it in doubles and truncates the
/// result to an integer pts (`D2TS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SetPts {
    /// Divide by the factor (`PTS/K`) rather than multiply.
    pub divide: bool,
    /// The factor's bits (an f64, kept bit-exact).
    pub factor_bits: u64,
}

impl SetPts {
    /// The new pts of a frame at `pts`.
    pub fn apply(&self, pts: i64) -> i64 {
        let k = f64::from_bits(self.factor_bits);
        let d = if self.divide {
            pts as f64 / k
        } else {
            pts as f64 * k
        };
        d as i64
    }
}

/// libavfilter's `fps` filter (without `start_time`): its rate, the rounding of input
/// timestamps onto its grid, and whether the end rounds up (`eof_action=pass`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fps {
    pub rate: Rational,
    pub round: Round,
    pub eof_up: bool,
}

/// An output frame of the user's chain, and the index of the chain input frame it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChainOut {
    pub frame: Frame,
    pub source: usize,
    /// The first (or only) output of its source frame.
    pub first: bool,
}

/// The chain's output frames for its input frames (in the time base `tb`): the same frames;
/// with `fps` its grid (`fps_output`); with `setpts` the same frames at their new pts; or with `fields` two per frame in half the time base, as
/// yadif's field mode times them: `2·p(i)` and `p(i) + p(i+1)`, the last frame's next one
/// extrapolated to `2·p(n-1) - p(n-2)`.
pub fn chain_output(chain: &[Frame], w: &Window, tb: Rational) -> Vec<ChainOut> {
    if let Some(f) = w.fps {
        return fps_output(chain, f, tb);
    }
    if let Some(sp) = w.setpts {
        return (chain.iter().enumerate())
            .map(|(source, &f)| ChainOut {
                frame: Frame {
                    pts: sp.apply(f.pts),
                    ..f
                },
                source,
                first: true,
            })
            .collect();
    }
    if !w.fields {
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

/// What libavfilter's `fps` makes of the frames (pts in `tb`): each one's pts rounded onto the
/// grid of `1/rate`; from the first one's grid point on, every grid point gets the last frame
/// whose point is not after it, up to the end. The end is where fftools 5.1 closes the
/// chain's input: the last frame's pts plus its duration, each rescaled to microseconds and
/// the sum back to `tb` (`send_filter_eof`), then onto the grid. The outputs are in `1/rate`,
/// one tick long.
pub fn fps_output(chain: &[Frame], f: Fps, tb: Rational) -> Vec<ChainOut> {
    let (Some(first), Some(last)) = (chain.first(), chain.last()) else {
        return Vec::new();
    };
    let out_tb = f.rate.inv();
    let grid = |pts: i64| rescale_q_rnd(pts, tb, out_tb, f.round);
    let end_us = rescale_q(last.pts, tb, MICROS) + rescale_q(last.duration, tb, MICROS);
    let eof_round = if f.eof_up { Round::Up } else { f.round };
    let end = rescale_q_rnd(rescale_q(end_us, MICROS, tb), tb, out_tb, eof_round);
    let points: Vec<i64> = chain.iter().map(|c| grid(c.pts)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut g = grid(first.pts);
    while g < end {
        while i + 1 < chain.len() && points[i + 1] <= g {
            i += 1;
        }
        out.push(ChainOut {
            frame: Frame {
                packet: chain[i].packet,
                pts: g,
                duration: 1,
            },
            source: i,
            first: out.last().is_none_or(|o: &ChainOut| o.source != i),
        });
        g += 1;
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

    #[test]
    fn fps_fills_its_grid_with_the_last_frame_not_after_each_point() {
        // 24 fps in 1/1000 (41 or 42 ms apart, 41 ms long): 4 frames to 10 fps
        let tb = Rational::new(1, 1000);
        let f = |i: usize, pts| Frame {
            packet: i,
            pts,
            duration: 41,
        };
        let chain = [f(0, 0), f(1, 42), f(2, 83), f(3, 125)];
        let ten = |round, eof_up| Fps {
            rate: Rational::new(10, 1),
            round,
            eof_up,
        };
        let out = |fps| -> Vec<(i64, usize, bool)> {
            (fps_output(&chain, fps, tb).iter())
                .map(|o| (o.frame.pts, o.source, o.first))
                .collect()
        };
        // points 0, 0, 1, 1 (near); the end 166 ms is point 2
        assert_eq!(out(ten(Round::Near, false)), [(0, 1, true), (1, 3, true)]);
        // rounded up: points 0, 1, 1, 2; the end rounds up to 2
        assert_eq!(out(ten(Round::Up, false)), [(0, 0, true), (1, 2, true)]);
        // down: points 0, 0, 0, 1; end 1 (166 ms) keeps one point
        assert_eq!(out(ten(Round::Down, false)), [(0, 2, true)]);
        // down with the end passed (rounded up): two points
        assert_eq!(out(ten(Round::Down, true)), [(0, 2, true), (1, 3, true)]);
        // up-conversion repeats frames: 48 fps, each frame twice
        let twice = Fps {
            rate: Rational::new(48, 1),
            round: Round::Near,
            eof_up: false,
        };
        let o = fps_output(&chain, twice, tb);
        let firsts: Vec<bool> = o.iter().map(|c| c.first).collect();
        assert_eq!(o.len(), 8);
        assert_eq!(firsts, [true, false, true, false, true, false, true, false]);
    }
}
