//! Audio copied into a finer time base (aac from matroska's 1 ms into mp4's 1/48000): what
//! plain ffmpeg writes, and the `setts` that makes the final mux write the same.
//!
//! fftools copies audio timestamps with `av_rescale_delta` into the stream's muxing time base.
//! That is the muxer's (finer) time base when nothing was queued before the output header,
//! and the source's when packets waited for the video encoder to start: then the source's
//! timestamps are kept and only rescaled. Plain ffmpeg queues for certain when the stream's
//! first packet comes before the encoded video's first packet in the file (the encoder cannot
//! start before it has decoded one). The final mux, where every stream is a copy, never
//! queues: its smoothed timestamps are mapped back to the source's by rounding them to the
//! source's ticks, which this module checks packet by packet before it is used.

use super::classify::{self, InRole};
use super::Passthrough;
use crate::cli::argv::CmdLine;
use crate::cli::mapping::OutStream;
use crate::formats::Muxer;
use crate::probe::{MediaInfo, MediaKind};
use crate::rational::{rescale_q, rescale_q_floor, Rational};

/// One copied audio packet as the final mux's demuxer delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioPacket {
    /// Decode timestamp in the source time base (ts_offset applied).
    pub dts: i64,
    /// Samples in the packet, as `av_get_audio_frame_duration` reports them.
    pub samples: i64,
}

/// The copy's time bases: the source's, the decoder's (1/sample rate) and the muxer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bases {
    pub src: Rational,
    pub samples: Rational,
    pub out: Rational,
}

/// libavutil's `av_rescale_delta`: `in_ts` from `in_tb` into `out_tb`, kept continuous in
/// `fs_tb` units of `duration` while it stays within half a tick of `in_ts`.
pub fn rescale_delta(
    in_tb: Rational,
    in_ts: i64,
    fs_tb: Rational,
    duration: i64,
    last: &mut Option<i64>,
    out_tb: Rational,
) -> i64 {
    let simple = |last: &mut Option<i64>| {
        *last = Some(rescale_q(in_ts, in_tb, fs_tb) + duration);
        rescale_q(in_ts, in_tb, out_tb)
    };
    let coarser = in_tb.num * out_tb.den > out_tb.num * in_tb.den;
    let Some(prev) = last.filter(|_| duration > 0 && coarser) else {
        return simple(last);
    };
    let a = rescale_q_floor(2 * in_ts - 1, in_tb, fs_tb) >> 1;
    let b = (-rescale_q_floor(-(2 * in_ts + 1), in_tb, fs_tb) + 1) >> 1;
    if prev < 2 * a - b || prev > 2 * b - a {
        return simple(last);
    }
    let this = prev.clamp(a, b);
    *last = Some(this + duration);
    rescale_q(this, fs_tb, out_tb)
}

/// The `setts` expression that maps the final mux's smoothed timestamps back to plain
/// ffmpeg's (the source's, rescaled), if one rounding rule does so for every packet.
pub fn retime(packets: &[AudioPacket], b: Bases) -> Option<String> {
    // out ticks per source tick: n/d
    let (n, d) = {
        let r = Rational::new(b.src.num * b.out.den, b.src.den * b.out.num).reduced();
        (r.num, r.den)
    };
    let plain: Vec<i64> = packets
        .iter()
        .map(|p| rescale_q(p.dts, b.src, b.out))
        .collect();
    let mut last = None;
    let ours: Vec<i64> = packets
        .iter()
        .map(|p| rescale_delta(b.src, p.dts, b.samples, p.samples, &mut last, b.out))
        .collect();
    // source ticks = round(ours * d / n), half down or half up; then back to out ticks
    let back = |src: i64| (2 * src * n + d).div_euclid(2 * d);
    // ties go down (c = n - 1) or up (c = n)
    for c in [n - 1, n] {
        let map = |s: i64| back((2 * s * d + c).div_euclid(2 * n));
        if ours.iter().zip(&plain).all(|(&s, &p)| map(s) == p) {
            return Some(format!(
                "setts=ts='floor((2*floor((2*TS*{d}+{c})/{})*{n}+{d})/{})'",
                2 * n,
                2 * d
            ));
        }
    }
    None
}

/// An audio stream copied into a finer time base, to be decided once its packets are read.
#[derive(Debug, Clone)]
pub struct AudioCopy {
    /// Output stream index, and the source stream (in the encoded video's input file).
    pub out: usize,
    pub stream: usize,
    pub bases: Bases,
    /// Samples per packet.
    pub samples: i64,
}

/// The output's audio streams copied into a finer time base (`copied`: which output streams
/// are stream copies): those `decide` can settle once their packets are read, or why the
/// command passes through.
pub fn candidates(
    cmd: &CmdLine,
    muxer: &Muxer,
    outs: &[OutStream],
    infos: &[MediaInfo],
    copied: &[bool],
    video_file: usize,
) -> Result<Vec<AudioCopy>, Passthrough> {
    let mut copies = Vec::new();
    for (i, o) in outs.iter().enumerate() {
        if o.kind != MediaKind::Audio || !copied[i] {
            continue;
        }
        let Some(out_tb) = muxer.audio_time_base(o.sample_rate) else {
            continue;
        };
        if crate::rational::compare_ts(1, o.time_base, 1, out_tb) <= 0 {
            continue;
        }
        // fftools smooths a copied audio stream's timestamps into the muxer's finer time
        // base, unless packets were queued before the header (while the video encoder
        // starts): `decide` reproduces that where it is certain
        let st = &infos[o.file].streams[o.stream];
        let samples = match (st.codec_name.as_str(), st.profile.as_deref()) {
            ("aac", Some("LC")) => Some(1024),
            ("aac", Some("HE-AAC" | "HE-AACv2")) => Some(2048),
            ("ac3", _) => Some(1536),
            _ => None,
        };
        let plain_input = cmd.inputs[o.file].opts.iter().all(|x| {
            !matches!(
                classify::input_role(x),
                InRole::Timing | InRole::Unsupported
            )
        });
        let retimable = o.file == video_file
            && plain_input
            && o.sample_rate > 0
            && !cmd.outputs[0]
                .opts
                .iter()
                .any(|x| matches!(x.name(), "ss" | "bsf" | "absf"));
        match samples.filter(|_| retimable) {
            Some(samples) => copies.push(AudioCopy {
                out: i,
                stream: o.stream,
                bases: Bases {
                    src: o.time_base,
                    samples: Rational::new(1, i64::from(o.sample_rate)),
                    out: out_tb,
                },
                samples,
            }),
            None => {
                return Err(Passthrough(format!(
                    "audio copied from a {} time base into {}'s finer one: plain ffmpeg's \
                     audio timestamps then depend on when its video encoder starts",
                    o.time_base, muxer.name
                )))
            }
        }
    }
    Ok(copies)
}

/// Decides each of the job's audio copies into a finer time base from the order of the
/// source's first packets and the copied stream's packets: the final mux's `-bsf`, or why
/// the command passes through.
pub fn decide(
    job: &super::JobSpec,
    video: &crate::probe::StreamInfo,
    first_pos: &std::collections::BTreeMap<usize, Vec<i64>>,
    packets: &[(usize, Vec<crate::probe::Packet>)],
    start_us: i64,
) -> Result<Vec<(usize, String)>, Passthrough> {
    let mut bsf = Vec::new();
    for c in &job.audio_copies {
        let why = |what: &str| {
            Passthrough(format!(
                "audio copied from a {} time base into {}'s finer one: {what}",
                c.bases.src, job.muxer.name
            ))
        };
        // the video encoder starts once a frame is decoded: not before the decoder's reorder
        // delay (H.264/HEVC: `has_b_frames` frames) has been filled
        let delay = match video.codec_name.as_str() {
            "h264" | "hevc" => video.has_b_frames,
            _ => 0,
        };
        let nth = |s: usize, n: usize| first_pos.get(&s).and_then(|v| v.get(n)).copied();
        let video = nth(job.src_stream, delay as usize).filter(|&p| p >= 0);
        let audio = nth(c.stream, 0).filter(|&p| p >= 0);
        if !matches!((audio, video), (Some(a), Some(v)) if a < v) {
            return Err(why(
                "its first packet follows the video's, so whether plain ffmpeg's timestamps \
                 wait for its video encoder depends on the decoder's delay",
            ));
        }
        let Some((_, pk)) = packets.iter().find(|(s, _)| *s == c.stream) else {
            return Err(why("its packets were not read"));
        };
        // the demuxer's packets as fftools hands them to the copy: the input's ts_offset
        // (minus the file's start time) applied
        let shift = rescale_q(-start_us, crate::rational::MICROS, c.bases.src);
        let list: Vec<AudioPacket> = pk
            .iter()
            .map(|p| AudioPacket {
                dts: p.dts.unwrap_or(p.pts) + shift,
                samples: c.samples,
            })
            .collect();
        match retime(&list, c.bases) {
            Some(expr) => bsf.push((c.out, expr)),
            None => {
                return Err(why(
                    "no rounding maps the final mux's timestamps back to them",
                ))
            }
        }
    }
    Ok(bsf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Matroska's 1 ms timestamps of 1024-sample aac packets at 48 kHz (truncated, as
    /// ffmpeg's matroska muxer wrote them), copied into mp4 (1/48000).
    #[test]
    fn truncated_millisecond_timestamps_map_back() {
        let packets: Vec<AudioPacket> = (0..300)
            .map(|i| AudioPacket {
                dts: i * 1024 * 1000 / 48000,
                samples: 1024,
            })
            .collect();
        let b = Bases {
            src: Rational::new(1, 1000),
            samples: Rational::new(1, 48000),
            out: Rational::new(1, 48000),
        };
        let mut last = None;
        let smooth: Vec<i64> = packets
            .iter()
            .map(|p| rescale_delta(b.src, p.dts, b.samples, 1024, &mut last, b.out))
            .collect();
        assert_eq!(
            &smooth[..3],
            &[0, 1024, 2040],
            "continuous, clipped to the tick"
        );
        let e = retime(&packets, b).expect("one rule fits");
        assert!(e.starts_with("setts=ts="), "{e}");
        // the same packets into mpegts (1/90000)
        let ts = Bases {
            out: Rational::new(1, 90000),
            ..b
        };
        assert!(retime(&packets, ts).is_some());
    }

    #[test]
    fn equal_or_finer_sources_are_not_smoothed() {
        let mut last = None;
        let ms = Rational::new(1, 1000);
        assert_eq!(rescale_delta(ms, 21, ms, 1, &mut last, ms), 21);
        let mut last = None;
        let fine = Rational::new(1, 90000);
        let out = Rational::new(1, 48000);
        for ts in [0, 1920, 3840] {
            assert_eq!(
                rescale_delta(fine, ts, out, 1024, &mut last, out),
                rescale_q(ts, fine, out)
            );
        }
    }
}
