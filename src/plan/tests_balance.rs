//! Tests of the balanced cuts and the makespan model that chooses them.

use super::balance::makespan;
use super::sync::SyncMode;
use super::tests::{check_cover, packets, summary, sync, TB, TICK};
use super::timeline::Trims;
use super::*;

#[test]
fn makespan_follows_the_schedulers_dearest_first_greedy() {
    // dearest first to the slot that frees up first: 5|4, 4+3, 5+3, 7+3 (the optimum is 9)
    assert_eq!(makespan(&[3, 5, 3, 4, 3], 2), 10);
    assert_eq!(makespan(&[7], 4), 7);
    assert_eq!(makespan(&[], 3), 0);
    assert_eq!(makespan(&[2, 2, 2, 2], 4), 2);
}

/// 1800 frames at 30 fps with a keyframe every 60 (2 s): cheap content, then 300 frames (from
/// frame 1500, a keyframe) ten times as dear to encode — like the benchmark clip's noise scene.
fn dear_tail() -> Vec<Packet> {
    let mut pk = packets(1800, 60, 0, false);
    for p in pk.iter_mut() {
        let f = (p.pts / TICK) as usize;
        p.size = if f >= 1500 { 400_000 } else { 5_000 };
    }
    pk
}

fn plan_for(pk: &[Packet], sizing: Sizing) -> Plan {
    plan(&PlanInput {
        packets: pk,
        stream_tb: TB,
        trims: Trims::default(),
        sync: sync(SyncMode::Vfr),
        sizing,
        base_cost: 36_864,
        cuts: None,
        window: Default::default(),
        keyframes: None,
        preroll: 0,
        busy_us: &[],
    })
    .unwrap()
}

fn costs(p: &Plan) -> Vec<u64> {
    p.chunks.iter().map(|c| c.cost).collect()
}

#[test]
fn a_dear_tail_is_spread_evenly_over_the_slots() {
    let pk = dear_tail();
    let sizing = Sizing::new(600, 300, 900, 4);
    let p = plan_for(&pk, sizing);
    check_cover(&p);
    // the same sizes without the slots: cuts on keyframes where they fit the target
    let keyframe_first = plan_for(
        &pk,
        Sizing {
            slots: 0,
            ..sizing.adapted(1800)
        },
    );
    let work: u64 = pk.iter().map(|x| 36_864 + u64::from(x.size) + 1).sum();
    let (ours, theirs) = (
        makespan(&costs(&p), 4),
        makespan(&costs(&keyframe_first), 4),
    );
    assert!(
        ours * 100 <= work / 4 * 105,
        "makespan {ours} against {} per slot (keyframe-first: {theirs})\n{}",
        work / 4,
        summary(&p)
    );
    assert!(
        ours * 100 < theirs * 97,
        "{ours} vs {theirs}\n{}",
        summary(&keyframe_first)
    );
    // the dear tail is spread over several chunks, mostly cut on its keyframes: the lead-ins
    // (decoding from a keyframe to a chunk's start) add under 2 % to the work
    assert!(p.chunks.iter().filter(|c| c.start >= 1500).count() >= 3);
    let planned: u64 = costs(&p).iter().sum();
    assert!(
        planned * 100 <= work * 102,
        "{planned} vs {work}\n{}",
        summary(&p)
    );
}

#[test]
fn one_slot_keeps_keyframe_cuts() {
    // with one slot the makespan is all the work: a lead-in would only add to it
    let pk = dear_tail();
    let p = plan_for(&pk, Sizing::new(600, 300, 900, 1));
    check_cover(&p);
    assert!(p.chunks.len() > 1);
    assert!(
        p.chunks
            .iter()
            .all(|c| pk[c.first_packet].pts == c.first_pts),
        "{}",
        summary(&p)
    );
}
