//! A faithful model of fftools 5.1 `do_video_out`: how the frame-rate mode (cfr, vscfr, vfr,
//! passthrough) turns filtered frames into encoder frames — which are dropped, which are
//! duplicated, and the output pts of each. The planner runs it for plain ffmpeg and for a
//! worker starting mid-stream to find chunk boundaries where both agree exactly.

use crate::rational::{av_log2, compare_ts, rescale_q, Rational, MICROS};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    Cfr,
    /// CFR that does not duplicate the frames before the first one (`auto` with -copyts or a
    /// single-stream input).
    Vscfr,
    Vfr,
    Passthrough,
}

/// Everything `do_video_out` reads besides the frame itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SyncParams {
    pub mode: SyncMode,
    /// Time base of the frames leaving the filter graph.
    pub filter_tb: Rational,
    /// The encoder time base (1/frame rate unless -enc_time_base).
    pub enc_tb: Rational,
    /// Output `-ss` in microseconds (0 when absent).
    pub out_start_us: i64,
    /// Frame rate advertised by the buffer sink (the input's guessed rate).
    pub sink_rate: Rational,
    /// The output stream's frame rate (`ost->frame_rate`).
    pub ost_rate: Rational,
    /// Whether the input stream has a start time and first dts, so `ost_rate` caps duration.
    pub cap_with_ost_rate: bool,
    /// True when no `-vf`/filtergraph is given: frame durations come from packet durations.
    pub duration_from_packets: bool,
    /// The workers get a `-vf` where plain ffmpeg has none (autorotate's filters made
    /// explicit), so their frame durations never come from packets.
    pub worker_vf: bool,
    /// The input stream's time base, for packet durations.
    pub in_tb: Rational,
    /// Output `-t` in microseconds.
    pub recording_us: Option<i64>,
    /// `-frames:v`.
    pub max_frames: Option<i64>,
}

/// The mutable part of an output stream that `do_video_out` carries from frame to frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncState {
    pub sync_opts: i64,
    pub frame_number: i64,
    pub last_nb0: [i64; 3],
    pub has_last_frame: bool,
    pub closed: bool,
}

/// What one call of `do_video_out` emitted: `count` frames with pts `first_pts..first_pts+count`,
/// of which the first `dups_of_previous` repeat the previous frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Emitted {
    pub count: i64,
    pub dups_of_previous: i64,
    pub first_pts: i64,
}

fn llrint(x: f64) -> i64 {
    x.round_ties_even() as i64
}

fn llrintf(x: f64) -> i64 {
    (x as f32).round_ties_even() as i64
}

fn mid_pred(a: i64, b: i64, c: i64) -> i64 {
    a.max(b).min(a.min(b).max(c))
}

impl SyncParams {
    /// Whether workers whose `-vf` rules out packet durations (`worker_vf`) still decide every
    /// frame as plain ffmpeg does: each frame's duration is the same either way.
    pub fn worker_durations_agree(&self, frames: &[(i64, i64)]) -> bool {
        let w = SyncParams {
            duration_from_packets: self.duration_from_packets && !self.worker_vf,
            ..*self
        };
        frames
            .iter()
            .all(|&(_, d)| self.duration(d).to_bits() == w.duration(d).to_bits())
    }

    /// `adjust_frame_pts_to_encoder_tb`: the frame's pts in encoder time base, with extra
    /// precision and the half-tick nudge.
    pub fn sync_ipts(&self, pts: i64) -> f64 {
        let extra = (29 - av_log2(self.enc_tb.den as u64) as i64).clamp(0, 16);
        let tb = Rational::new(self.enc_tb.num, self.enc_tb.den << extra);
        let v = rescale_q(pts, self.filter_tb, tb) - rescale_q(self.out_start_us, MICROS, tb);
        let mut f = v as f64 / (1i64 << extra) as f64;
        f += if f > 0.0 { 1.0 } else { -1.0 } / (1 << 17) as f64;
        f
    }

    fn duration(&self, pkt_duration: i64) -> f64 {
        let mut d = 0.0;
        if self.sink_rate.is_valid() {
            d = 1.0 / (self.sink_rate.to_f64() * self.enc_tb.to_f64());
        }
        if self.cap_with_ost_rate && self.ost_rate.is_valid() {
            d = d.min(1.0 / (self.ost_rate.to_f64() * self.enc_tb.to_f64()));
        }
        if self.duration_from_packets {
            let p = llrintf(pkt_duration as f64 * self.in_tb.to_f64() / self.enc_tb.to_f64());
            if p > 0 {
                d = p as f64;
            }
        }
        d
    }

    fn recording_ok(&self, st: &SyncState) -> bool {
        match self.recording_us {
            Some(rec) => compare_ts(st.sync_opts, self.enc_tb, rec, MICROS) < 0,
            None => true,
        }
    }

    /// One call of `do_video_out` with a frame (`Some((pts, pkt_duration))`) or the final flush.
    pub fn step(&self, st: &mut SyncState, frame: Option<(i64, i64)>) -> Emitted {
        if st.closed {
            return Emitted::default();
        }
        let (mut nb, mut nb0);
        match frame {
            None => {
                nb = mid_pred(st.last_nb0[0], st.last_nb0[1], st.last_nb0[2]);
                nb0 = nb;
            }
            Some((pts, pkt_dur)) => {
                let mut sync_ipts = self.sync_ipts(pts);
                let mut duration = self.duration(pkt_dur);
                let mut delta0 = sync_ipts - st.sync_opts as f64;
                let mut delta = delta0 + duration;
                nb0 = 0;
                nb = 1;
                if delta0 < 0.0 && delta > 0.0 && self.mode != SyncMode::Passthrough {
                    sync_ipts = st.sync_opts as f64;
                    duration += delta0;
                    delta0 = 0.0;
                }
                let cfr = |delta: f64, delta0: f64, nb: &mut i64, nb0: &mut i64| {
                    if delta < -1.1 {
                        *nb = 0;
                    } else if delta > 1.1 {
                        *nb = llrintf(delta);
                        if delta0 > 1.1 {
                            *nb0 = llrintf(delta0 - 0.6);
                        }
                    }
                };
                match self.mode {
                    SyncMode::Vscfr => {
                        if st.frame_number == 0 && delta0 >= 0.5 {
                            delta = duration;
                            delta0 = 0.0;
                            st.sync_opts = llrint(sync_ipts);
                        }
                        cfr(delta, delta0, &mut nb, &mut nb0);
                    }
                    SyncMode::Cfr => cfr(delta, delta0, &mut nb, &mut nb0),
                    SyncMode::Vfr => {
                        if delta <= -0.6 {
                            nb = 0;
                        } else if delta > 0.6 {
                            st.sync_opts = llrint(sync_ipts);
                        }
                    }
                    SyncMode::Passthrough => st.sync_opts = llrint(sync_ipts),
                }
            }
        }
        if let Some(max) = self.max_frames {
            nb = nb.min(max - st.frame_number);
        }
        nb0 = nb0.min(nb);
        st.last_nb0 = [nb0, st.last_nb0[0], st.last_nb0[1]];
        let mut out = Emitted {
            count: 0,
            dups_of_previous: 0,
            first_pts: st.sync_opts,
        };
        for i in 0..nb.max(0) {
            let from_previous = i < nb0 && st.has_last_frame;
            if !from_previous && frame.is_none() {
                return out;
            }
            if !self.recording_ok(st) {
                st.closed = true;
                return out;
            }
            out.count += 1;
            out.dups_of_previous += i64::from(from_previous);
            st.sync_opts += 1;
            st.frame_number += 1;
        }
        st.has_last_frame = frame.is_some();
        out
    }
}

/// Runs the model over a frame list and the final flush: what each frame emitted, and the flush.
pub fn simulate(
    p: &SyncParams,
    st: &mut SyncState,
    frames: &[(i64, i64)],
) -> (Vec<Emitted>, Emitted) {
    let per = frames.iter().map(|&f| p.step(st, Some(f))).collect();
    let flush = p.step(st, None);
    (per, flush)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: SyncMode) -> SyncParams {
        SyncParams {
            mode,
            filter_tb: Rational::new(1, 15360),
            enc_tb: Rational::new(1, 30),
            out_start_us: 0,
            sink_rate: Rational::new(30, 1),
            ost_rate: Rational::new(30, 1),
            cap_with_ost_rate: true,
            duration_from_packets: true,
            worker_vf: false,
            in_tb: Rational::new(1, 15360),
            recording_us: None,
            max_frames: None,
        }
    }

    fn cfr_frames(n: i64) -> Vec<(i64, i64)> {
        (0..n).map(|i| (i * 512, 512)).collect()
    }

    #[test]
    fn an_explicit_worker_vf_matters_only_where_packet_durations_differ() {
        let mut p = params(SyncMode::Cfr);
        p.worker_vf = true;
        assert!(p.worker_durations_agree(&cfr_frames(10)));
        // a dropped frame: one packet lasts two frames
        assert!(!p.worker_durations_agree(&[(0, 512), (512, 1024), (1536, 512)]));
        p.duration_from_packets = false;
        assert!(p.worker_durations_agree(&[(0, 512), (512, 1024)]));
    }

    fn pts_list(per: &[Emitted]) -> Vec<i64> {
        per.iter()
            .flat_map(|e| e.first_pts..e.first_pts + e.count)
            .collect()
    }

    #[test]
    fn cfr_input_maps_one_to_one_in_every_mode() {
        for mode in [
            SyncMode::Cfr,
            SyncMode::Vscfr,
            SyncMode::Vfr,
            SyncMode::Passthrough,
        ] {
            let (per, flush) = simulate(&params(mode), &mut SyncState::default(), &cfr_frames(10));
            assert_eq!(pts_list(&per), (0..10).collect::<Vec<_>>(), "{mode:?}");
            assert_eq!(flush.count, 0);
        }
    }

    #[test]
    fn cfr_fills_a_late_start_but_vscfr_does_not() {
        let frames: Vec<_> = (3..6).map(|i| (i * 512, 512)).collect();
        let (per, _) = simulate(&params(SyncMode::Cfr), &mut SyncState::default(), &frames);
        assert_eq!(per[0].count, 4, "frame at 3 is shown from 0");
        let (per, _) = simulate(&params(SyncMode::Vscfr), &mut SyncState::default(), &frames);
        assert_eq!(pts_list(&per), [3, 4, 5]);
    }

    #[test]
    fn cfr_duplicates_gaps_and_drops_crowded_frames() {
        // frames at 0, 1, 4 (gap), 4.2, 4.4 (crowded), 5 in 1/30 s
        let f = |t: f64, d: i64| ((t * 512.0) as i64, d);
        let frames = vec![
            f(0.0, 512),
            f(1.0, 1536),
            f(4.0, 102),
            f(4.2, 102),
            f(4.4, 308),
            f(5.0, 512),
        ];
        let mut p = params(SyncMode::Cfr);
        let (per, _) = simulate(&p, &mut SyncState::default(), &frames);
        // Without filters a frame's packet duration counts: the 3-tick frame fills 1..=3.
        let counts: Vec<_> = per.iter().map(|e| e.count).collect();
        assert_eq!(counts, [1, 3, 1, 1, 1, 1], "{per:?}");
        p.duration_from_packets = false;
        let (per, _) = simulate(&p, &mut SyncState::default(), &frames);
        let counts: Vec<_> = per.iter().map(|e| e.count).collect();
        assert_eq!(
            counts,
            [1, 1, 3, 1, 1, 1],
            "with -vf the gap is filled by the next frame"
        );
        assert_eq!(per[2].dups_of_previous, 1);
        p.mode = SyncMode::Vfr;
        let (per, _) = simulate(&p, &mut SyncState::default(), &frames);
        assert_eq!(
            pts_list(&per),
            [0, 1, 4, 5, 6],
            "vfr drops a frame that lands on a taken slot"
        );
    }

    #[test]
    fn frame_cap_and_recording_time_stop_output() {
        let mut p = params(SyncMode::Vfr);
        p.max_frames = Some(4);
        let (per, _) = simulate(&p, &mut SyncState::default(), &cfr_frames(10));
        assert_eq!(pts_list(&per).len(), 4);
        p.max_frames = None;
        p.recording_us = Some(200_000);
        let mut st = SyncState::default();
        let (per, _) = simulate(&p, &mut st, &cfr_frames(10));
        assert_eq!(pts_list(&per), [0, 1, 2, 3, 4, 5]);
        assert!(st.closed);
    }

    #[test]
    fn sync_ipts_nudges_away_from_midpoints() {
        let p = params(SyncMode::Vfr);
        assert!((p.sync_ipts(512) - 1.0).abs() < 1e-4);
        assert!(p.sync_ipts(0) < 0.0, "FFSIGN(0) is -1");
        assert_eq!(mid_pred(1, 5, 3), 3);
        assert_eq!(llrintf(2.5), 2);
    }
}
