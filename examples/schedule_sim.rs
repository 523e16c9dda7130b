//! The scheduling core (`schedule::core`) driven by a simulated clock: hour-long jobs on a
//! large farm, every encode taking its chunk's cost times a noise the planner cannot know.
//! Prints the makespan against the lower bound (total work / slots, or the dearest chunk),
//! the core's CPU time per chunk, and, for two jobs of equal work started together, how far
//! apart they finish. Used by `bench/run.sh sim`; arguments: workers, slots per worker, jobs,
//! and optionally `mixed` (workers at 1, 0.5, 0.25 and 0.25 of a speed, in turn; the bound is
//! then the work over the sum of the speeds) or `mixed-known` (the same, with each worker's
//! speed known from earlier jobs, as `speeds` keeps it).

use distrffmpeg::schedule::core::{Command, Core, JobId, Outcome, Pick, Task, WorkerId};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

/// A deterministic pseudo-random stream (xorshift64*), so that every run measures the same farm.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One hour of 1080p30 cut as the planner does for this many slots (about two chunks each):
/// costs in milliseconds of one slot's encode, with scenes of different difficulty.
fn hour_long_job(slots: usize, rng: &mut Rng) -> Vec<u64> {
    let chunks = (2 * slots).max(180);
    let total_ms = 3600.0 * 1000.0 * 4.0; // an hour of video at 0.25× realtime per slot
    let mean = total_ms / chunks as f64;
    (0..chunks)
        .map(|_| (mean * (0.5 + rng.next())) as u64)
        .collect()
}

struct Sim {
    core: Core,
    t0: Instant,
    /// (finish time in ms, attempt, worker)
    events: BinaryHeap<Reverse<(u64, u64, usize)>>,
    /// The attempts running: their worker and task.
    running: HashMap<u64, (usize, Task, u64, u64)>,
    costs: Vec<Vec<u64>>,
    /// Each worker's speed (1: an encode takes its chunk's cost).
    speed: Vec<f64>,
    rng: Rng,
    core_time: Duration,
    finished: Vec<Option<u64>>,
}

impl Sim {
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn start(&mut self, now: u64, w: usize, t: Task) {
        // the encode takes its cost, ±15 % that no estimate foresees
        let cost = self.costs[t.job.0][t.chunk] as f64;
        let took = (cost / self.speed[w] * (0.85 + 0.3 * self.rng.next())) as u64;
        let ev = (now + took, t.attempt.0, w);
        self.running.insert(t.attempt.0, (w, t, now, took.max(1)));
        self.events.push(Reverse(ev));
    }

    /// Gives every free slot of these workers work at `now`.
    fn fill(&mut self, now: u64, free: &mut Vec<usize>) {
        // each encode's progress as its reports would show it
        let c0 = Instant::now();
        for (_, t, started, took) in self.running.values() {
            let f = (now - started) as f64 / *took as f64;
            self.core.progress(*t, f.min(1.0));
        }
        self.core_time += c0.elapsed();
        let mut still = Vec::new();
        for w in free.drain(..) {
            let c0 = Instant::now();
            let pick = self.core.pick(WorkerId(w), self.at(now));
            self.core_time += c0.elapsed();
            match pick {
                Pick::Start(t) | Pick::Race(t) => self.start(now, w, t),
                Pick::Wait => still.push(w),
                Pick::Stop => {}
            }
        }
        *free = still;
    }
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = all[..3]
        .iter()
        .map(|a| a.parse().expect("numbers: workers, slots per worker, jobs"))
        .collect();
    let (workers, per, jobs) = (args[0], args[1], args[2]);
    let mode = all.get(3).map_or("", String::as_str);
    let speed: Vec<f64> = (0..workers)
        .map(|w| match mode {
            "mixed" | "mixed-known" => [1.0, 0.5, 0.25, 0.25][w % 4],
            _ => 1.0,
        })
        .collect();
    let slots = workers * per;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut core = Core::new(0);
    let costs: Vec<Vec<u64>> = (0..jobs).map(|_| hour_long_job(slots, &mut rng)).collect();
    for c in &costs {
        core.add_job(c.clone(), vec![false; c.len()], 3);
    }
    for (w, &s) in speed.iter().enumerate() {
        if mode == "mixed-known" {
            core.hint_speed(WorkerId(w), s);
        }
        core.join(WorkerId(w), &format!("w{w}"), per, false, false);
    }
    let mut sim = Sim {
        core,
        t0: Instant::now(),
        events: BinaryHeap::new(),
        running: HashMap::new(),
        costs,
        speed: speed.clone(),
        rng,
        core_time: Duration::ZERO,
        finished: vec![None; jobs],
    };
    let mut free: Vec<usize> = (0..workers).flat_map(|w| vec![w; per]).collect();
    sim.fill(0, &mut free);
    let mut now = 0;
    while let Some(Reverse((t, attempt, w))) = sim.events.pop() {
        // an attempt cancelled earlier already freed its slot
        let Some((_, task, _, _)) = sim.running.remove(&attempt) else {
            continue;
        };
        now = t;
        let c0 = Instant::now();
        let cmds = sim
            .core
            .finish(task, WorkerId(w), Outcome::Encoded, sim.at(now));
        sim.core_time += c0.elapsed();
        for c in cmds {
            // the losing attempt of a race stops now, and its slot is free
            if let Command::Cancel(a) = c {
                if let Some((lw, lt, _, _)) = sim.running.remove(&a.0) {
                    let c0 = Instant::now();
                    sim.core
                        .finish(lt, WorkerId(lw), Outcome::Cancelled, sim.at(now));
                    sim.core_time += c0.elapsed();
                    free.push(lw);
                }
            }
        }
        for j in 0..jobs {
            if sim.finished[j].is_none() && sim.core.status(JobId(j)).is_some() {
                sim.finished[j] = Some(now);
            }
        }
        free.push(w);
        // a waiting slot looks again whenever anything ends (the shell also looks every second)
        sim.fill(now, &mut free);
    }
    let total: u64 = sim.costs.iter().flatten().sum();
    let dearest = *sim.costs.iter().flatten().max().unwrap();
    let capacity: f64 = speed.iter().map(|s| s * per as f64).sum();
    let fastest = speed.iter().copied().fold(0.0, f64::max);
    let bound = (total as f64 / capacity).max(dearest as f64 / fastest);
    let chunks: usize = sim.costs.iter().map(Vec::len).sum();
    println!(
        "workers={workers} slots={slots} jobs={jobs} speeds={} chunks={chunks} makespan_s={:.1} bound_s={:.1} ratio={:.4} core_us_per_chunk={:.1}",
        if mode.is_empty() { "equal" } else { mode },
        now as f64 / 1000.0,
        bound / 1000.0,
        now as f64 / bound,
        sim.core_time.as_secs_f64() * 1e6 / chunks as f64
    );
    if jobs > 1 {
        let ends: Vec<f64> = sim.finished.iter().map(|f| f.unwrap() as f64).collect();
        let (lo, hi) = ends
            .iter()
            .fold((f64::MAX, 0f64), |(l, h), &e| (l.min(e), h.max(e)));
        println!(
            "fairness: jobs finish {:.1}..{:.1} s, spread {:.2} % of the last",
            lo / 1000.0,
            hi / 1000.0,
            100.0 * (hi - lo) / hi
        );
    }
}
