//! Snapshot tests of plans for representative packet indexes.

use super::sync::{SyncMode, SyncParams};
use super::timeline::Trims;
use super::*;
use crate::probe::Packet;
use crate::rational::Rational;
use std::fmt::Write;

pub(super) const TB: Rational = Rational::new(1, 15360);
pub(super) const TICK: i64 = 512; // one frame at 30 fps

/// Decode-order packets like x264 writes them: GOPs of `gop` frames starting with a keyframe,
/// `bf` B-frames between references; with `open`, each GOP's leading B-frames reference the
/// previous GOP and are decoded after its keyframe.
pub(super) fn packets(n: usize, gop: usize, bf: usize, open: bool) -> Vec<Packet> {
    let mut order: Vec<(usize, bool)> = Vec::new();
    let mut s = 0;
    while s < n {
        let e = (s + gop).min(n);
        order.push((s, true));
        if open && s > 0 {
            for lead in s.saturating_sub(bf)..s {
                order.push((lead, false));
            }
        }
        let region_end = if open && e < n {
            e - bf.min(e - s - 1)
        } else {
            e
        };
        let mut i = s + 1;
        while i < region_end {
            let p = (i + bf).min(region_end - 1);
            order.push((p, false));
            for b in i..p {
                order.push((b, false));
            }
            i = p + 1;
        }
        s = e;
    }
    order
        .iter()
        .enumerate()
        .map(|(d, &(f, key))| Packet {
            pts: f as i64 * TICK,
            dts: Some((d as i64 - bf as i64) * TICK),
            duration: TICK,
            key,
            discard: false,
            size: 0,
        })
        .collect()
}

pub(super) fn sync(mode: SyncMode) -> SyncParams {
    SyncParams {
        mode,
        filter_tb: TB,
        enc_tb: Rational::new(1, 30),
        out_start_us: 0,
        sink_rate: Rational::new(30, 1),
        ost_rate: Rational::new(30, 1),
        cap_with_ost_rate: true,
        duration_from_packets: true,
        worker_vf: false,
        in_tb: TB,
        recording_us: None,
        max_frames: None,
    }
}

pub(super) fn sizing(target: usize, min: usize, max: usize) -> Sizing {
    Sizing {
        target,
        min,
        max,
        slots: 0,
    }
}

pub(super) fn summary(p: &Plan) -> String {
    let mut s = format!(
        "input {} frames -> output {} frames\n",
        p.input_frames, p.output_frames
    );
    for c in &p.chunks {
        let first = c.out_pts.first().copied().unwrap_or(-1);
        let last = c.out_pts.last().copied().unwrap_or(-1);
        writeln!(
            s,
            "#{} frames [{}, {}) packets [{}..={}] key_pts {} first_pts {} {:?} out {} ({}..={})",
            c.index,
            c.start,
            c.end,
            c.first_packet,
            c.last_packet,
            c.key_pts,
            c.first_pts,
            c.worker_mode,
            c.out_count(),
            first,
            last
        )
        .unwrap();
    }
    s
}

fn run(pk: &[Packet], mode: SyncMode, sz: Sizing, trims: Trims) -> Plan {
    plan(&PlanInput {
        packets: pk,
        stream_tb: TB,
        trims,
        sync: sync(mode),
        sizing: sz,
        base_cost: 0,
        cuts: None,
        window: Default::default(),
        keyframes: None,
        preroll: 0,
        busy_us: &[],
    })
    .unwrap()
}

/// Every plan must cover each encoder frame exactly once, in order.
pub(super) fn check_cover(p: &Plan) {
    let all: Vec<i64> = p.chunks.iter().flat_map(|c| c.out_pts.clone()).collect();
    assert_eq!(all.len() as i64, p.output_frames);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "output pts increase");
    for w in p.chunks.windows(2) {
        assert_eq!(w[0].end, w[1].start);
    }
}

#[test]
fn cfr_closed_gops_split_on_keyframes() {
    let pk = packets(300, 60, 0, false);
    let p = run(&pk, SyncMode::Vfr, sizing(120, 60, 180), Trims::default());
    check_cover(&p);
    insta::assert_snapshot!(summary(&p));
}

#[test]
fn b_frames_need_no_extra_packets_with_closed_gops() {
    let pk = packets(300, 60, 2, false);
    let p = run(&pk, SyncMode::Cfr, sizing(120, 60, 180), Trims::default());
    check_cover(&p);
    insta::assert_snapshot!(summary(&p));
}

#[test]
fn open_gop_chunk_takes_the_next_keyframe_and_its_leading_frames() {
    let pk = packets(300, 60, 2, true);
    let p = run(&pk, SyncMode::Vfr, sizing(120, 60, 180), Trims::default());
    check_cover(&p);
    // A chunk ending at keyframe K also carries K and K's leading pictures.
    for c in &p.chunks[..p.chunks.len() - 1] {
        assert!(pk[c.last_packet].pts < pk[c.first_packet].pts + (c.frames() as i64) * TICK);
        assert!(
            pk[c.first_packet..=c.last_packet]
                .iter()
                .filter(|x| x.key)
                .count()
                >= 2
        );
    }
    insta::assert_snapshot!(summary(&p));
}

#[test]
fn one_keyframe_splits_inside_the_gop() {
    let pk = packets(400, 10_000, 2, false);
    let p = run(&pk, SyncMode::Vfr, sizing(100, 50, 150), Trims::default());
    check_cover(&p);
    assert!(p.chunks.len() >= 3);
    assert!(
        p.chunks.iter().all(|c| c.first_packet == 0),
        "all decode from the only keyframe"
    );
    insta::assert_snapshot!(summary(&p));
}

#[test]
fn exact_multiple_of_the_target_has_no_empty_chunk() {
    let pk = packets(240, 60, 0, false);
    let p = run(&pk, SyncMode::Vfr, sizing(60, 60, 60), Trims::default());
    check_cover(&p);
    assert_eq!(p.chunks.len(), 4);
    assert!(p.chunks.iter().all(|c| c.frames() == 60));
}

#[test]
fn tiny_inputs_make_one_chunk() {
    for n in [1, 2] {
        let pk = packets(n, 60, 0, false);
        let p = run(&pk, SyncMode::Cfr, sizing(600, 300, 900), Trims::default());
        assert_eq!(p.chunks.len(), 1);
        assert_eq!(p.output_frames, n as i64);
    }
}

#[test]
fn input_seek_and_duration_trim_frames() {
    let pk = packets(300, 60, 2, false);
    // -ss 1.5 -t 5: frames 45..195
    let trims = Trims {
        ts_offset_us: -1_500_000,
        input_start: true,
        input_duration_us: Some(5_000_000),
        ..Trims::default()
    };
    let p = run(&pk, SyncMode::Cfr, sizing(60, 30, 90), trims);
    check_cover(&p);
    assert_eq!(p.input_frames, 150);
    assert_eq!(p.chunks[0].first_pts, 0);
    assert_eq!(
        pk[p.chunks[0].first_packet].pts, 0,
        "decodes from the keyframe before -ss"
    );
    insta::assert_snapshot!(summary(&p));
}

#[test]
fn vfr_into_cfr_cuts_only_where_a_fresh_worker_agrees() {
    // Irregular timestamps: some frames 2 ticks apart, some 0.5.
    let mut pk = packets(200, 20, 0, false);
    let mut t = 0i64;
    for (i, p) in pk.iter_mut().enumerate() {
        p.pts = t;
        let step = match i % 7 {
            0 => 2 * TICK,
            3 => TICK / 2,
            _ => TICK,
        };
        p.duration = step;
        t += step;
    }
    let p = run(&pk, SyncMode::Cfr, sizing(40, 20, 60), Trims::default());
    check_cover(&p);
    assert!(p.output_frames > p.input_frames as i64, "gaps are filled");
    insta::assert_snapshot!(summary(&p));
}

#[test]
fn stream_not_starting_with_a_keyframe_is_refused() {
    let mut pk = packets(10, 60, 0, false);
    pk[0].key = false;
    let e = plan(&PlanInput {
        packets: &pk,
        stream_tb: TB,
        trims: Trims::default(),
        sync: sync(SyncMode::Vfr),
        sizing: sizing(600, 300, 900),
        base_cost: 0,
        cuts: None,
        window: Default::default(),
        keyframes: None,
        preroll: 0,
        busy_us: &[],
    });
    assert_eq!(e, Err(PlanError::NoLeadingKeyframe));
}

#[test]
fn sizing_shrinks_for_short_inputs() {
    let cfg = Sizing {
        slots: 4,
        ..sizing(600, 300, 900)
    };
    assert_eq!(cfg.adapted(100_000), cfg);
    let s = cfg.adapted(1800);
    assert_eq!(s.target, 225);
    assert!(s.min <= s.target && s.target <= s.max);
    // too short for two chunks per slot worth their fixed cost: one per slot
    let two = Sizing { slots: 2, ..cfg };
    assert_eq!(two.adapted(152).target, 76);
    assert_eq!(two.adapted(288).target, 72);
    assert_eq!(two.adapted(60).target, 48);
}

#[test]
fn busy_scenes_get_shorter_chunks_of_about_equal_cost() {
    // 600 frames, a keyframe every 20; frames 300..420 are ten times as big (a busy scene).
    let mut pk = packets(600, 20, 0, false);
    for p in pk.iter_mut() {
        let f = (p.pts / TICK) as usize;
        p.size = if (300..420).contains(&f) {
            10_000
        } else {
            1_000
        };
    }
    let p = plan(&PlanInput {
        packets: &pk,
        stream_tb: TB,
        trims: Trims::default(),
        sync: sync(SyncMode::Vfr),
        sizing: sizing(100, 20, 200),
        base_cost: 500,
        cuts: None,
        window: Default::default(),
        keyframes: None,
        preroll: 0,
        busy_us: &[],
    })
    .unwrap();
    check_cover(&p);
    let busy: Vec<&Chunk> = p
        .chunks
        .iter()
        .filter(|c| c.start >= 300 && c.end <= 420)
        .collect();
    let calm = p.chunks.iter().filter(|c| c.end <= 300).collect::<Vec<_>>();
    assert!(!busy.is_empty() && !calm.is_empty(), "{}", summary(&p));
    assert!(
        busy.iter().all(|c| c.frames() <= 40) && calm.iter().all(|c| c.frames() >= 100),
        "{}",
        summary(&p)
    );
    let (lo, hi) = p.chunks[..p.chunks.len() - 1]
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), c| {
            (lo.min(c.cost), hi.max(c.cost))
        });
    assert!(hi <= 3 * lo, "costs {lo}..{hi}\n{}", summary(&p));
    assert!(p
        .chunks
        .iter()
        .all(|c| pk[c.first_packet].key && c.start % 20 == 0));
}

#[test]
fn segment_frames_alone_sets_the_chunk_length() {
    let s = Sizing::new(120, 300, 900, 0);
    assert_eq!((s.target, s.min, s.max), (120, 120, 900));
    let pk = packets(600, 60, 0, false);
    let p = run(&pk, SyncMode::Vfr, s, Trims::default());
    assert_eq!(p.chunks.len(), 5, "{}", summary(&p));
}

/// 30 fps into `-r 24` (vfr): plain ffmpeg drops one frame in five and a fresh worker's
/// frame-rate logic never agrees with its pts after the first frame, so the chunks carry the
/// drops and pts explicitly and run in passthrough.
#[test]
fn rate_conversion_chunks_carry_plain_ffmpegs_drops() {
    let pk = packets(300, 30, 2, false);
    let mut inp = PlanInput {
        packets: &pk,
        stream_tb: TB,
        trims: Trims::default(),
        sync: sync(SyncMode::Vfr),
        sizing: sizing(60, 30, 120),
        base_cost: 0,
        cuts: None,
        window: Default::default(),
        keyframes: None,
        preroll: 0,
        busy_us: &[],
    };
    inp.sync.enc_tb = Rational::new(1, 24);
    inp.sync.ost_rate = Rational::new(24, 1);
    let p = plan(&inp).unwrap();
    check_cover(&p);
    assert!(p.chunks.len() >= 4, "{}", summary(&p));
    assert_eq!(p.output_frames, 241);
    for c in &p.chunks {
        assert_eq!(c.worker_mode, SyncMode::Passthrough);
        let drops = c.explicit_drops.as_ref().expect("explicit");
        assert_eq!(c.frames() - drops.len(), c.out_pts.len());
    }
    // the same rate keeps the worker's own frame-rate logic
    inp.sync = sync(SyncMode::Vfr);
    let p = plan(&inp).unwrap();
    assert!(p.chunks.iter().all(|c| c.explicit_drops.is_none()));
}

#[test]
fn a_frame_cap_ends_the_plan_where_the_encoder_reaches_it() {
    let pk = packets(300, 60, 2, false);
    for (mode, cap) in [
        (SyncMode::Cfr, 150),
        (SyncMode::Vfr, 7),
        (SyncMode::Cfr, 400),
    ] {
        let p = plan(&PlanInput {
            packets: &pk,
            stream_tb: TB,
            trims: Trims::default(),
            sync: SyncParams {
                max_frames: Some(cap),
                ..sync(mode)
            },
            sizing: sizing(60, 30, 90),
            base_cost: 0,
            cuts: None,
            window: Default::default(),
            keyframes: None,
            preroll: 0,
            busy_us: &[],
        })
        .unwrap();
        check_cover(&p);
        assert_eq!(p.output_frames, cap.min(300), "{mode:?} {cap}");
        let last = p.chunks.last().unwrap();
        // nothing after the capped frame is split: only packets up to it in decode order
        assert!(pk[..=last.last_packet]
            .iter()
            .all(|x| x.pts <= (cap.min(300) + 2) * TICK));
    }
}

fn with_preroll(pk: &[Packet], mode: SyncMode, preroll: usize) -> Plan {
    plan(&PlanInput {
        packets: pk,
        stream_tb: TB,
        trims: Trims::default(),
        sync: sync(mode),
        sizing: sizing(100, 50, 120),
        base_cost: 0,
        cuts: None,
        window: Default::default(),
        keyframes: None,
        preroll,
        busy_us: &[],
    })
    .unwrap()
}

#[test]
fn preroll_starts_earlier_inside_the_gop_and_keeps_the_chunks_frames() {
    // one GOP of 600 frames: every cut is mid-GOP, decoded from frame 0 anyway
    let pk = packets(600, 600, 2, false);
    for mode in [SyncMode::Vfr, SyncMode::Cfr] {
        let off = with_preroll(&pk, mode, 0);
        let on = with_preroll(&pk, mode, 30);
        assert_eq!(off.chunks.len(), on.chunks.len());
        for (a, b) in off.chunks.iter().zip(&on.chunks) {
            assert_eq!((a.start, a.end, &a.out_pts), (b.start, b.end, &b.out_pts));
            if b.index == 0 {
                assert_eq!(b.preroll, 0, "nothing before the first chunk");
                continue;
            }
            let n = (b.end - b.start) / 20;
            assert_eq!(b.preroll, n, "{mode:?} chunk {}", b.index);
            // the worker's chain starts n frames earlier
            assert_eq!(b.decode_pts, (b.start - n) as i64 * TICK);
            assert_eq!(a.first_packet, b.first_packet);
        }
        check_cover(&on);
    }
}

#[test]
fn no_preroll_that_needs_a_whole_gop_more() {
    // cuts on the keyframes of 100-frame GOPs: a pre-roll would decode the GOP before
    let pk = packets(600, 100, 2, false);
    let p = with_preroll(&pk, SyncMode::Vfr, 30);
    assert!(p.chunks.len() >= 4);
    for c in &p.chunks {
        assert!(pk[c.first_packet].key);
        if c.start % 100 == 0 {
            assert_eq!(c.preroll, 0, "chunk {} at a keyframe", c.index);
        }
    }
}

#[test]
fn no_chunk_starts_where_burned_in_subtitles_overlap() {
    // 20 s at 30 fps, a keyframe every second; events overlap from 3.5 s to 9.2 s
    let pk = packets(600, 30, 2, false);
    let busy = [(3_500_000, 9_200_000)];
    let p = plan(&PlanInput {
        packets: &pk,
        stream_tb: TB,
        trims: Trims::default(),
        sync: sync(SyncMode::Cfr),
        sizing: sizing(60, 30, 90),
        base_cost: 0,
        cuts: None,
        window: Default::default(),
        keyframes: None,
        preroll: 0,
        busy_us: &busy,
    })
    .unwrap();
    check_cover(&p);
    let starts: Vec<i64> = (p.chunks.iter())
        .map(|c| crate::rational::rescale_q(c.first_pts, TB, MICROS))
        .collect();
    assert!(starts.len() >= 5, "{starts:?}");
    assert!(
        starts.iter().all(|&t| !(3_500_000 < t && t < 9_200_000)),
        "{starts:?}"
    );
    // one chunk holds the whole overlap
    assert!(p
        .chunks
        .iter()
        .any(|c| c.first_pts * 1_000_000 / 15360 <= 3_500_000
            && (c.first_pts + c.out_count() * TICK) * 1_000_000 / 15360 >= 9_200_000));
}
