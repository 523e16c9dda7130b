//! The scheduling policy's unit tests: events in, commands out, no worker and no clock.

use super::*;
use std::time::Duration;

const A: WorkerId = WorkerId(0);
const B: WorkerId = WorkerId(1);
const LOCAL: WorkerId = WorkerId(9);

fn t0() -> Instant {
    Instant::now()
}

fn secs(t: Instant, s: u64) -> Instant {
    t + Duration::from_secs(s)
}

/// A core with one job of chunks costing `costs`, and workers A and B (one slot each).
fn two_workers(costs: &[u64]) -> (Core, JobId) {
    let mut c = Core::new(0);
    let job = c.add_job(costs.to_vec(), vec![false; costs.len()], 3);
    assert!(c.join(A, "a", 1, false, false).0);
    assert!(c.join(B, "b", 1, false, false).0);
    (c, job)
}

fn started(p: Pick) -> Task {
    match p {
        Pick::Start(t) | Pick::Race(t) => t,
        other => panic!("expected a chunk, got {other:?}"),
    }
}

fn fail(error: &str) -> Outcome {
    Outcome::Failed {
        error: error.to_string(),
        fatal: false,
    }
}

#[test]
fn dearest_chunks_go_first_and_resumed_ones_not_at_all() {
    let mut c = Core::new(0);
    let job = c.add_job(vec![5, 9, 5, 7], vec![false, false, true, false], 3);
    assert_eq!(c.queued(job), vec![1, 3, 0]);
    c.join(A, "a", 1, false, false);
    let now = t0();
    let picked: Vec<usize> = (0..3).map(|_| started(c.pick(A, now)).chunk).collect();
    assert_eq!(picked, vec![1, 3, 0]);
    assert_eq!(
        c.pick(A, now),
        Pick::Wait,
        "all in flight: nothing to race yet"
    );
}

#[test]
fn a_failed_chunk_is_retried_first_and_on_another_worker() {
    let (mut c, _) = two_workers(&[3, 2, 1]);
    let now = t0();
    let first = started(c.pick(A, now));
    assert_eq!(first.chunk, 0);
    let cmds = c.finish(first, A, fail("connection reset"), now);
    assert_eq!(
        cmds,
        vec![
            Command::Lost(first),
            Command::Retry {
                task: first,
                error: "connection reset".into()
            }
        ]
    );
    // A skips the chunk that failed on it; B gets it before the rest
    assert_eq!(started(c.pick(A, now)).chunk, 1);
    assert_eq!(started(c.pick(B, now)).chunk, 0);
}

#[test]
fn a_lone_worker_retries_its_own_failure() {
    let mut c = Core::new(0);
    c.add_job(vec![1, 1], vec![false; 2], 3);
    c.join(A, "a", 1, false, false);
    let now = t0();
    let t = started(c.pick(A, now));
    c.finish(t, A, fail("x"), now);
    assert_eq!(started(c.pick(A, now)).chunk, t.chunk);
}

#[test]
fn two_failures_in_a_row_strike_a_worker_off_and_a_success_resets_the_count() {
    let (mut c, _) = two_workers(&[1; 6]);
    let now = t0();
    let t = started(c.pick(A, now));
    c.finish(t, A, fail("e1"), now);
    let t = started(c.pick(A, now));
    c.finish(t, A, Outcome::Encoded, now);
    let t = started(c.pick(A, now));
    let cmds = c.finish(t, A, fail("e2"), now);
    assert!(!cmds.iter().any(|c| matches!(c, Command::WorkerLost { .. })));
    let t = started(c.pick(A, now));
    let cmds = c.finish(t, A, fail("e3"), now);
    assert!(cmds.contains(&Command::WorkerLost {
        worker: A,
        error: "e3".into()
    }));
    assert!(cmds.contains(&Command::Retry {
        task: t,
        error: "e3".into()
    }));
    assert_eq!(c.pick(A, now), Pick::Stop);
    assert!(matches!(c.pick(B, now), Pick::Start(_)));
}

#[test]
fn a_chunk_failing_more_than_max_retries_fails_the_job() {
    let mut c = Core::new(0);
    let job = c.add_job(vec![1], vec![false], 1);
    for w in 0..4 {
        c.join(WorkerId(w), &format!("w{w}"), 1, false, false);
    }
    let now = t0();
    let t = started(c.pick(WorkerId(0), now));
    c.finish(t, WorkerId(0), fail("bad"), now);
    let t = started(c.pick(WorkerId(1), now));
    let cmds = c.finish(t, WorkerId(1), fail("worse"), now);
    let error = "chunk 0 failed 2 times; last error on w1: worse".to_string();
    assert_eq!(
        cmds.last(),
        Some(&Command::Fail {
            job,
            error: error.clone()
        })
    );
    assert_eq!(c.status(job), Some(Err(error.as_str())));
    assert_eq!(c.pick(WorkerId(2), now), Pick::Stop);
}

#[test]
fn a_fatal_error_fails_the_job_at_once_with_ffmpegs_message() {
    let (mut c, job) = two_workers(&[1, 1]);
    let now = t0();
    let t = started(c.pick(A, now));
    let cmds = c.finish(
        t,
        A,
        Outcome::Failed {
            error: "Unknown encoder 'x'".into(),
            fatal: true,
        },
        now,
    );
    assert_eq!(
        cmds,
        vec![
            Command::Lost(t),
            Command::Fail {
                job,
                error: "Unknown encoder 'x'".into()
            }
        ]
    );
    assert_eq!(c.pick(B, now), Pick::Stop);
}

#[test]
fn losing_the_last_worker_fails_the_job_unless_one_is_still_connecting() {
    let mut c = Core::new(1);
    let job = c.add_job(vec![1, 1], vec![false; 2], 5);
    c.join(A, "a", 1, false, false);
    let now = t0();
    for e in ["e1", "e2"] {
        let t = started(c.pick(A, now));
        c.finish(t, A, fail(e), now);
    }
    assert_eq!(c.pick(A, now), Pick::Stop);
    assert_eq!(c.status(job), None, "B may still join");
    let cmds = c.skipped(false);
    let error =
        "all workers failed (the finished chunks are kept for a rerun); last error on a: e2";
    assert_eq!(
        cmds,
        vec![Command::Fail {
            job,
            error: error.into()
        }]
    );
    assert_eq!(c.status(job), Some(Err(error)));
}

#[test]
fn a_worker_joining_late_takes_the_queued_chunks() {
    let mut c = Core::new(1);
    let job = c.add_job(vec![2, 1], vec![false; 2], 3);
    c.join(A, "a", 1, false, false);
    let now = t0();
    let ta = started(c.pick(A, now));
    c.dispatched();
    assert!(!c.all_busy(), "B is still connecting");
    assert!(c.join(B, "b", 1, false, true).0);
    let tb = started(c.pick(B, now));
    c.dispatched();
    assert!(c.all_busy());
    assert_eq!((ta.chunk, tb.chunk), (0, 1));
    c.finish(ta, A, Outcome::Encoded, now);
    c.finish(tb, B, Outcome::Encoded, now);
    assert_eq!(c.status(job), Some(Ok(())));
    assert!(
        !c.join(WorkerId(2), "c", 1, false, false).0,
        "the job is over"
    );
}

#[test]
fn a_worker_that_leaves_takes_no_more_chunks_and_one_that_arrives_does() {
    let (mut c, job) = two_workers(&[3, 2, 1]);
    let now = t0();
    let a = started(c.pick(A, now));
    assert!(c.leave(A).is_empty());
    assert_eq!(c.pick(A, now), Pick::Stop);
    // its attempt in flight still counts
    assert_eq!(
        c.finish(a, A, Outcome::Encoded, now),
        vec![Command::Keep(a)]
    );
    let late = WorkerId(7);
    assert!(c.join(late, "new", 1, false, false).0);
    assert!(matches!(c.pick(late, now), Pick::Start(_)));
    assert!(matches!(c.pick(B, now), Pick::Start(_)));
    assert!(c.leave(B).is_empty());
    // the last one leaving fails what is left
    let cmds = c.leave(late);
    assert!(
        matches!(&cmds[..], [Command::Fail { job: j, .. }] if *j == job),
        "{cmds:?}"
    );
}

#[test]
fn the_reserve_waits_until_every_other_worker_is_gone() {
    let mut c = Core::new(0);
    c.add_job(vec![1; 4], vec![false; 4], 5);
    c.join(A, "a", 1, false, false);
    c.join(LOCAL, "local", 1, true, false);
    let now = t0();
    assert_eq!(c.pick(LOCAL, now), Pick::Wait);
    assert_eq!(c.reserve_next(LOCAL), None);
    for e in ["e1", "e2"] {
        let t = started(c.pick(A, now));
        c.finish(t, A, fail(e), now);
    }
    assert_eq!(c.pick(A, now), Pick::Stop);
    assert!(matches!(c.pick(LOCAL, now), Pick::Start(_)));
}

/// Two chunks of cost 10 on A and B: B finishes its chunk in 20 s (2 s per unit of cost) and,
/// A's chunk being 10 % done after 30 s (270 s left), races it (a second attempt takes 20 s).
/// Returns the core, the job, A's attempt, B's duplicate and the start.
fn raced() -> (Core, JobId, Task, Task, Instant) {
    let (mut c, job) = two_workers(&[10, 10]);
    let now = t0();
    let slow = started(c.pick(A, now));
    let fast = started(c.pick(B, now));
    c.progress(slow, 0.1);
    c.finish(fast, B, Outcome::Encoded, secs(now, 20));
    let Pick::Race(dup) = c.pick(B, secs(now, 30)) else {
        panic!("no race")
    };
    (c, job, slow, dup, now)
}

#[test]
fn a_straggler_is_raced_and_the_first_result_wins() {
    let (mut c, job, slow, dup, now) = raced();
    assert_eq!(dup.chunk, slow.chunk);
    assert_ne!(dup.attempt, slow.attempt);
    assert_eq!(
        c.pick(B, secs(now, 30)),
        Pick::Wait,
        "one duplicate at a time"
    );
    let cmds = c.finish(dup, B, Outcome::Encoded, secs(now, 50));
    assert_eq!(
        cmds,
        vec![Command::Keep(dup), Command::Cancel(slow.attempt)]
    );
    // the loser may still come in with a result: it is thrown away
    assert_eq!(
        c.finish(slow, A, Outcome::Encoded, secs(now, 51)),
        vec![Command::Discard(slow)]
    );
    assert_eq!(c.status(job), Some(Ok(())));
}

#[test]
fn a_cancelled_straggler_still_tells_its_speed() {
    let (mut c, _, slow, dup, now) = raced();
    c.progress(slow, 0.25);
    c.finish(dup, B, Outcome::Encoded, secs(now, 50));
    assert!(!c.measured_rates().contains_key("a"));
    c.finish(slow, A, Outcome::Cancelled, secs(now, 50));
    // a quarter of 10 in 50 s, against 20 in 40 s: the next job knows A is 8 times slower
    let rates = c.measured_rates();
    assert!((rates["a"] - 0.05).abs() < 1e-9, "{rates:?}");
    assert!((rates["b"] - 0.5).abs() < 1e-9, "{rates:?}");
}

#[test]
fn no_race_against_an_attempt_about_to_finish_or_being_collected() {
    let (mut c, _) = two_workers(&[10, 10, 10]);
    let now = t0();
    let a = started(c.pick(A, now));
    let b = started(c.pick(B, now));
    c.finish(b, B, Outcome::Encoded, secs(now, 20));
    let b2 = started(c.pick(B, secs(now, 20)));
    c.finish(b2, B, Outcome::Encoded, secs(now, 40));
    c.progress(a, 0.9);
    assert_eq!(c.pick(B, secs(now, 40)), Pick::Wait, "nearly done");
    c.progress(a, 0.0);
    c.collecting(a);
    assert_eq!(c.pick(B, secs(now, 100)), Pick::Wait, "its encode is over");
}

#[test]
fn without_any_estimate_only_an_attempt_showing_no_progress_is_raced() {
    let (mut c, _) = two_workers(&[10]);
    let now = t0();
    let a = started(c.pick(A, now));
    c.progress(a, 0.3);
    assert_eq!(c.pick(B, secs(now, 60)), Pick::Wait);
    c.progress(a, 0.0);
    assert_eq!(c.pick(B, secs(now, 5)), Pick::Wait);
    assert_eq!(started(c.pick(B, secs(now, 11))).chunk, a.chunk);
}

#[test]
fn a_slot_takes_its_next_chunk_ahead_only_when_every_slot_has_work() {
    let (mut c, job) = two_workers(&[3, 2, 1]);
    let now = t0();
    started(c.pick(A, now));
    // two queued for two slots
    assert_eq!(c.reserve_next(A), Some((job, 1)));
    // one queued for two slots: the next free slot takes it instead
    assert_eq!(c.reserve_next(B), None);
    // given back, it goes first again
    assert_eq!(c.take_reserved((job, 1), A, false, now), None);
    assert_eq!(c.queued(job), vec![1, 2]);
    assert_eq!(c.reserve_next(A), Some((job, 1)));
    let t = c.take_reserved((job, 1), A, true, now).expect("started");
    assert_eq!(t.chunk, 1);
}

#[test]
fn several_jobs_share_the_slots_fairly() {
    let mut c = Core::new(0);
    let j1 = c.add_job(vec![1; 6], vec![false; 6], 3);
    let j2 = c.add_job(vec![1; 6], vec![false; 6], 3);
    for w in 0..4 {
        c.join(WorkerId(w), "w", 1, false, false);
    }
    let now = t0();
    let jobs: Vec<JobId> = (0..4)
        .map(|w| started(c.pick(WorkerId(w), now)).job)
        .collect();
    assert_eq!(jobs, vec![j1, j2, j1, j2]);
    // a job that fails leaves its slots to the other
    let t = started(c.pick(WorkerId(0), now));
    assert_eq!(t.job, j1);
    c.finish(
        t,
        WorkerId(0),
        Outcome::Failed {
            error: "fatal".into(),
            fatal: true,
        },
        now,
    );
    assert_eq!(started(c.pick(WorkerId(0), now)).job, j2);
    assert_eq!(c.status(j1), Some(Err("fatal")));
}

#[test]
fn a_worker_leased_by_other_jobs_is_left_alone_for_a_while_without_a_strike() {
    let (mut c, job) = two_workers(&[2, 1]);
    let now = t0();
    let t = started(c.pick(A, now));
    assert_eq!(
        c.finish(t, A, Outcome::Busy, now),
        vec![Command::Lost(t), Command::Waiting { worker: A }]
    );
    assert_eq!(c.queued(job), vec![0, 1], "the chunk is first again");
    assert_eq!(c.pick(A, secs(now, 1)), Pick::Wait);
    assert_eq!(started(c.pick(B, secs(now, 1))).chunk, 0);
    // busy many times over: never struck off, never a failure of the chunk
    for s in 2..10 {
        let t = started(c.pick(A, secs(now, 3 * s)));
        c.finish(t, A, Outcome::Busy, secs(now, 3 * s));
    }
    assert_eq!(started(c.pick(A, secs(now, 40))).chunk, 1);
    assert_eq!(c.status(job), None);
}

#[test]
fn a_straggler_is_raced_only_when_a_second_attempt_could_win() {
    // half done after 40 s: 40 s left, a second attempt takes 30 s here
    assert!(worth_racing(0.5, 40.0, Some(30.0)));
    // ... but not when it would take as long as the first one's whole run
    assert!(!worth_racing(0.5, 40.0, Some(80.0)));
    // nearly done: never worth an upload
    assert!(!worth_racing(0.95, 90.0, Some(10.0)));
    // no progress at all: raced once a whole second attempt would be done by now
    assert!(!worth_racing(0.0, 5.0, Some(8.0)));
    assert!(worth_racing(0.0, 9.0, Some(8.0)));
    // nothing finished anywhere yet: only one that shows no progress for a while
    assert!(!worth_racing(0.3, 60.0, None));
    assert!(!worth_racing(0.0, 3.0, None));
    assert!(worth_racing(0.0, 11.0, None));
}

#[test]
fn a_slow_worker_takes_only_what_it_finishes_within_the_farms_time_left() {
    // A is four times faster than B (hints from earlier jobs)
    let (mut c, job) = two_workers(&[40, 30, 20, 10, 4]);
    c.hint_speed(A, 4.0);
    c.hint_speed(B, 1.0);
    let now = t0();
    // work left 104 over a capacity of 5 per second: B finishes what costs up to 20.8
    assert_eq!(
        started(c.pick(B, now)).chunk,
        2,
        "the dearest chunk it can finish in time"
    );
    assert_eq!(started(c.pick(A, now)).chunk, 0);
    assert_eq!(c.queued(job), vec![1, 3, 4]);
    // without hints the slow worker is not known: dearest first
    let (mut c, _) = two_workers(&[40, 30, 20, 10, 4]);
    assert_eq!(started(c.pick(B, now)).chunk, 0);
}

#[test]
fn a_slow_worker_never_takes_the_last_chunk_from_a_fast_one() {
    let (mut c, _) = two_workers(&[10, 10]);
    let now = t0();
    // measured: A did 10 in 1 s, B 10 in 5 s
    let a = started(c.pick(A, now));
    let b = started(c.pick(B, now));
    c.finish(a, A, Outcome::Encoded, secs(now, 1));
    c.finish(b, B, Outcome::Encoded, secs(now, 5));
    c.add_job(vec![10], vec![false], 3);
    assert_eq!(c.pick(B, secs(now, 5)), Pick::Wait, "2 s for A, 10 s for B");
    assert_eq!(started(c.pick(A, secs(now, 5))).chunk, 0);
    // a chunk that failed elsewhere is the slow worker's again
    let (mut c, _) = two_workers(&[10, 10, 10]);
    c.hint_speed(A, 5.0);
    c.hint_speed(B, 1.0);
    let t = started(c.pick(A, now));
    c.finish(t, A, fail("boom"), secs(now, 1));
    assert_eq!(started(c.pick(B, secs(now, 1))).chunk, t.chunk);
}

#[test]
fn hints_are_scaled_to_the_measured_rates() {
    let (mut c, _) = two_workers(&[10, 10, 10]);
    c.hint_speed(A, 2.0);
    c.hint_speed(B, 1.0);
    let now = t0();
    let a = started(c.pick(A, now));
    // A measured 10 per second: B's hint makes it 5 per second
    c.finish(a, A, Outcome::Encoded, secs(now, 1));
    assert_eq!(c.rate(A), Some(10.0));
    assert_eq!(c.rate(B), Some(5.0));
    assert_eq!(c.measured_rates().get("a"), Some(&10.0));
}

/// The unequal-workers bench's first job: the slow workers took two dear chunks and the fast
/// one did the rest; once it is idle it races the straggler it beats by most.
#[test]
fn a_fast_idle_worker_races_dear_chunks_held_by_slow_ones() {
    let (fast, mid, slow1, slow2) = (WorkerId(0), WorkerId(1), WorkerId(2), WorkerId(3));
    let mut c = Core::new(0);
    c.add_job(vec![8, 47, 257, 63, 16, 194, 254, 160], vec![false; 8], 3);
    for (w, n) in [(mid, "m"), (fast, "f"), (slow1, "s1"), (slow2, "s2")] {
        assert!(c.join(w, n, 1, false, false).0);
    }
    let now = t0();
    let on_mid = started(c.pick(mid, now));
    let on_fast = started(c.pick(fast, now));
    let on_slow1 = started(c.pick(slow1, now));
    let on_slow2 = started(c.pick(slow2, now));
    assert_eq!(
        [on_mid.chunk, on_fast.chunk, on_slow1.chunk, on_slow2.chunk],
        [2, 6, 5, 7]
    );
    c.progress(on_mid, 0.7);
    c.progress(on_slow1, 0.3);
    c.progress(on_slow2, 0.3);
    // the fast worker: 254 units in 47 s, then the small chunks, 5 s each
    c.finish(on_fast, fast, Outcome::Encoded, secs(now, 47));
    let mut t = 47;
    let race = loop {
        match c.pick(fast, secs(now, t)) {
            Pick::Start(x) => {
                t += 5;
                c.finish(x, fast, Outcome::Encoded, secs(now, t));
            }
            other => break other,
        }
    };
    assert_eq!(t, 67, "the four small chunks first");
    // both stragglers are 30 % done after 67 s (about 156 s left); a second attempt on the
    // fast worker takes about 30 s for chunk 7 and 36 s for chunk 5: chunk 7 gains most
    let Pick::Race(first) = race else {
        panic!("no race at {t} s: {race:?}")
    };
    assert_eq!(first.chunk, 7);
}
