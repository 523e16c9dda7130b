//! The scheduling policy, pure: the chunk queues of one or more jobs, the attempts in flight,
//! the workers' health and speeds, keyed by `WorkerId`. It decides which chunk a free slot
//! gets, when to race a straggler, when to retry and where, when a worker is struck off, and
//! when a job is done or failed. No I/O, no async, no locks, no clock: the shell
//! (`schedule::Scheduler`) tells it what happened (with the time) and carries out the
//! `Command`s it answers with.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

/// A worker failing this many times in a row is dropped for the rest of the run.
pub const STRIKES: u32 = 2;

/// How long a worker found full (its slots leased by other jobs) is left alone.
pub const BUSY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

/// A worker (a machine with one or more slots), as numbered by whoever feeds the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub usize);

/// A job fed to the core (`Core::add_job`), numbered from 0 in the order they came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub usize);

/// One run of one chunk on one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(pub u64);

/// A chunk given to a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    pub job: JobId,
    pub chunk: usize,
    pub attempt: AttemptId,
}

/// What a free slot does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    Start(Task),
    /// A second attempt of a chunk running elsewhere, which this slot could finish first.
    Race(Task),
    /// Nothing for it now: look again when something changes.
    Wait,
    /// Its worker is gone or every job is over.
    Stop,
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// Encoded, fetched and verified.
    Encoded,
    /// Stopped on purpose (lost a race, the job ended, the user quit).
    Cancelled,
    /// Not started: every slot of the worker is leased by other jobs (no failure).
    Busy,
    /// Failed; `fatal` when it would fail on any worker (the user's options are at fault).
    Failed { error: String, fatal: bool },
}

/// What the shell must carry out after an attempt ended, in this order.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// The first verified result of this chunk: record it.
    Keep(Task),
    /// A verified result that came second: throw it away.
    Discard(Task),
    /// Stop this attempt (another one of its chunk won).
    Cancel(AttemptId),
    /// The attempt ended without a result (its progress no longer counts).
    Lost(Task),
    /// The worker failed too often in a row and takes no more chunks.
    WorkerLost { worker: WorkerId, error: String },
    /// The chunk goes back to the queue (or waits for its other attempt).
    Retry { task: Task, error: String },
    /// The worker's slots are all leased by other jobs: it takes nothing for `BUSY_BACKOFF`.
    Waiting { worker: WorkerId },
    /// The job cannot be finished: stop it with this error.
    Fail { job: JobId, error: String },
}

/// An attempt in flight.
#[derive(Clone, Debug)]
struct Run {
    id: AttemptId,
    worker: WorkerId,
    started: Instant,
    /// Fraction of its frames encoded so far.
    progress: f64,
    /// Its encode is over; only the download and check remain (never worth racing).
    collecting: bool,
    cancelled: bool,
}

/// One job's chunks.
struct JobQ {
    /// Each chunk's plan cost (its expected encode time, in any unit).
    costs: Vec<u64>,
    /// Chunks waiting, next first.
    queue: VecDeque<usize>,
    done: Vec<bool>,
    failures: Vec<u32>,
    failed_on: Vec<HashSet<WorkerId>>,
    running: BTreeMap<usize, Vec<Run>>,
    /// Chunks slots took ahead (uploading while they encode another).
    reserved: usize,
    max_retries: u32,
    error: Option<String>,
}

impl JobQ {
    fn idle(&self) -> bool {
        self.queue.is_empty() && self.running.is_empty() && self.reserved == 0
    }

    fn over(&self) -> bool {
        self.error.is_some() || self.idle()
    }

    fn in_flight(&self) -> usize {
        self.running.values().map(Vec::len).sum::<usize>() + self.reserved
    }
}

/// A worker that has joined.
struct Member {
    /// Its slots that have joined.
    slots: usize,
    /// Only used once every other worker is gone (the local fallback).
    reserve: bool,
}

/// The policy's whole state.
#[derive(Default)]
pub struct Core {
    jobs: Vec<JobQ>,
    /// Workers that take chunks.
    live: BTreeMap<WorkerId, Member>,
    names: HashMap<WorkerId, String>,
    /// Failures in a row, per worker.
    strikes: HashMap<WorkerId, u32>,
    /// Workers found full (leased by other jobs), and until when they are left alone.
    backoff: HashMap<WorkerId, Instant>,
    /// Per worker: the plan cost of the chunks it finished and the seconds they took.
    speed: HashMap<WorkerId, (f64, f64)>,
    /// Per worker: its speed relative to the others in earlier jobs (`speed`).
    hints: HashMap<WorkerId, f64>,
    /// Workers still connecting (they may join later).
    pending: usize,
    /// Slots that have joined (the reserve not counted), and encodes started.
    joined: usize,
    dispatches: usize,
    next_attempt: u64,
    /// The error that dropped the last worker lost, for the message when none is left.
    last_loss: Option<String>,
}

impl Core {
    /// A core expecting `pending` workers to join.
    pub fn new(pending: usize) -> Core {
        Core {
            pending,
            ..Core::default()
        }
    }

    /// Adds a job: its chunks' costs (dearest go first, ties in chunk order), the chunks
    /// already done (resumed), and how often one chunk may fail.
    pub fn add_job(&mut self, costs: Vec<u64>, done: Vec<bool>, max_retries: u32) -> JobId {
        let n = costs.len();
        let queue = dispatch_order(&costs)
            .into_iter()
            .filter(|&k| !done[k])
            .collect();
        self.jobs.push(JobQ {
            costs,
            queue,
            done,
            failures: vec![0; n],
            failed_on: vec![HashSet::new(); n],
            running: BTreeMap::new(),
            reserved: 0,
            max_retries,
            error: None,
        });
        JobId(self.jobs.len() - 1)
    }

    /// The chunks waiting in a job, next first.
    pub fn queued(&self, job: JobId) -> Vec<usize> {
        self.jobs[job.0].queue.iter().copied().collect()
    }

    /// Whether a job is over: `Some(Ok)` when every chunk is done, `Some(Err)` when it failed.
    pub fn status(&self, job: JobId) -> Option<Result<(), &str>> {
        let j = &self.jobs[job.0];
        match &j.error {
            Some(e) => Some(Err(e)),
            None => j.idle().then_some(Ok(())),
        }
    }

    /// Every job is over: slots have nothing left to do.
    pub fn over(&self) -> bool {
        self.jobs.iter().all(JobQ::over)
    }

    /// `slots` slots of a worker join (`late`: it was still connecting when the run started).
    /// Returns false when the run is already over (the slots are not started).
    pub fn join(
        &mut self,
        worker: WorkerId,
        name: &str,
        slots: usize,
        reserve: bool,
        late: bool,
    ) -> (bool, Vec<Command>) {
        let over = self.over();
        if !over {
            self.names.insert(worker, name.to_string());
            let m = self
                .live
                .entry(worker)
                .or_insert(Member { slots: 0, reserve });
            m.slots += slots;
            if !reserve {
                self.joined += slots;
            }
        }
        if late {
            self.pending = self.pending.saturating_sub(1);
        }
        (!over, self.check_orphaned())
    }

    /// A worker leaves the run (it left the inventory): it takes no more chunks; its attempts
    /// in flight end as they will.
    pub fn leave(&mut self, worker: WorkerId) -> Vec<Command> {
        if self.live.remove(&worker).is_some_and(|m| !m.reserve) {
            self.last_loss = Some(format!(
                "{}: it left the inventory",
                self.names.get(&worker).map_or("?", String::as_str)
            ));
        }
        self.check_orphaned()
    }

    /// A worker that was connecting answered and cannot be used; `None`: no worker is
    /// connecting any more.
    pub fn skipped(&mut self, all: bool) -> Vec<Command> {
        self.pending = if all {
            0
        } else {
            self.pending.saturating_sub(1)
        };
        self.check_orphaned()
    }

    /// An encode started (for `all_busy`).
    pub fn dispatched(&mut self) {
        self.dispatches += 1;
    }

    /// Every worker has answered and as many encodes have started as there are slots, or
    /// nothing is left to start.
    pub fn all_busy(&self) -> bool {
        self.pending == 0
            && (self.dispatches >= self.joined || self.jobs.iter().all(|j| j.queue.is_empty()))
    }

    fn is_reserve(&self, w: WorkerId) -> bool {
        self.live.get(&w).is_some_and(|m| m.reserve)
    }

    /// Whether a non-reserve worker (or one still connecting) can take chunks: until none can,
    /// the reserve waits.
    fn primary_alive(&self) -> bool {
        self.pending > 0 || self.live.values().any(|m| !m.reserve)
    }

    /// No worker is left and none is still connecting: the unfinished jobs fail.
    fn check_orphaned(&mut self) -> Vec<Command> {
        if !self.live.is_empty() || self.pending > 0 {
            return Vec::new();
        }
        let error = match &self.last_loss {
            Some(e) => format!(
                "all workers failed (the finished chunks are kept for a rerun); last error on {e}"
            ),
            None => "no worker is left to encode the remaining chunks".to_string(),
        };
        self.fail_all(&error)
    }

    fn fail_all(&mut self, error: &str) -> Vec<Command> {
        let mut out = Vec::new();
        for (i, j) in self.jobs.iter_mut().enumerate() {
            if !j.over() {
                j.error = Some(error.to_string());
                out.push(Command::Fail {
                    job: JobId(i),
                    error: error.to_string(),
                });
            }
        }
        out
    }

    /// Seconds per unit of plan cost on this worker, or on all workers while it has finished
    /// nothing.
    fn secs_per_cost(&self, w: WorkerId) -> Option<f64> {
        let (cost, secs) = match self.speed.get(&w) {
            Some(&mine) => mine,
            None => self
                .speed
                .values()
                .fold((0.0, 0.0), |(c, s), &(c2, s2)| (c + c2, s + s2)),
        };
        (cost > 0.0).then(|| secs / cost)
    }

    /// The job and queue position of the next chunk this worker may take: a chunk that did
    /// not fail on it (unless it is the only worker), within its limit if it is slow (unless
    /// the chunk failed elsewhere), from the job with the fewest chunks in flight (the first
    /// job on a tie).
    fn next_for(&self, w: WorkerId) -> Option<(usize, usize)> {
        let others_alive = self.live.len() > 1;
        let limit = self.limit(w);
        self.jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.error.is_none())
            .filter_map(|(i, j)| {
                let pos = j.queue.iter().position(|&k| {
                    let fits =
                        limit.is_none_or(|l| j.costs[k] as f64 <= l) || !j.failed_on[k].is_empty();
                    fits && (!j.failed_on[k].contains(&w) || !others_alive)
                })?;
                Some((j.in_flight(), i, pos))
            })
            .min()
            .map(|(_, i, pos)| (i, pos))
    }

    fn start(&mut self, job: usize, k: usize, w: WorkerId, now: Instant) -> Task {
        self.next_attempt += 1;
        let id = AttemptId(self.next_attempt);
        self.jobs[job].running.entry(k).or_default().push(Run {
            id,
            worker: w,
            started: now,
            progress: 0.0,
            collecting: false,
            cancelled: false,
        });
        Task {
            job: JobId(job),
            chunk: k,
            attempt: id,
        }
    }

    /// A slot of worker `w` is free: what it does next.
    pub fn pick(&mut self, w: WorkerId, now: Instant) -> Pick {
        if !self.live.contains_key(&w) || self.over() {
            return Pick::Stop;
        }
        if self.is_reserve(w) && self.primary_alive() || self.backing_off(w, now) {
            return Pick::Wait;
        }
        if let Some((j, pos)) = self.next_for(w) {
            let k = self.jobs[j]
                .queue
                .remove(pos)
                .expect("a position in the queue");
            return Pick::Start(self.start(j, k, w, now));
        }
        if self
            .jobs
            .iter()
            .any(|j| j.error.is_none() && !j.queue.is_empty())
        {
            return Pick::Wait;
        }
        match self.straggler(w, now) {
            Some((j, k)) => Pick::Race(self.start(j, k, w, now)),
            None => Pick::Wait,
        }
    }

    /// The name a worker joined with (for messages).
    pub fn name(&self, w: WorkerId) -> &str {
        self.names.get(&w).map_or("", String::as_str)
    }

    fn backing_off(&self, w: WorkerId, now: Instant) -> bool {
        self.backoff.get(&w).is_some_and(|&until| now < until)
    }

    /// Takes worker `w`'s next chunk ahead of time when there is work for every slot anyway
    /// (the slot uploads it while it encodes another).
    pub fn reserve_next(&mut self, w: WorkerId) -> Option<(JobId, usize)> {
        let slots: usize = self.live.values().map(|m| m.slots).sum();
        let queued: usize = self
            .jobs
            .iter()
            .filter(|j| j.error.is_none())
            .map(|j| j.queue.len())
            .sum();
        if self.is_reserve(w) || queued < slots {
            return None;
        }
        let (j, pos) = self.next_for(w)?;
        let k = self.jobs[j].queue.remove(pos)?;
        self.jobs[j].reserved += 1;
        Some((JobId(j), k))
    }

    /// Starts a chunk taken ahead by worker `w` (`start`), or gives it back.
    pub fn take_reserved(
        &mut self,
        (job, k): (JobId, usize),
        w: WorkerId,
        start: bool,
        now: Instant,
    ) -> Option<Task> {
        let j = &mut self.jobs[job.0];
        j.reserved -= 1;
        if start && j.error.is_none() && self.live.contains_key(&w) {
            return Some(self.start(job.0, k, w, now));
        }
        j.queue.push_front(k);
        None
    }

    fn run_mut(&mut self, t: Task) -> Option<&mut Run> {
        self.jobs[t.job.0]
            .running
            .get_mut(&t.chunk)?
            .iter_mut()
            .find(|r| r.id == t.attempt)
    }

    /// An attempt reports the fraction of its frames encoded.
    pub fn progress(&mut self, t: Task, fraction: f64) {
        if let Some(r) = self.run_mut(t) {
            r.progress = fraction;
        }
    }

    /// An attempt's encode is over; it is being downloaded and checked.
    pub fn collecting(&mut self, t: Task) {
        if let Some(r) = self.run_mut(t) {
            r.collecting = true;
        }
    }

    /// An attempt of worker `w` ended: the bookkeeping, and what the shell must do about it.
    pub fn finish(&mut self, t: Task, w: WorkerId, outcome: Outcome, now: Instant) -> Vec<Command> {
        let job = &mut self.jobs[t.job.0];
        let k = t.chunk;
        let mut others = Vec::new();
        let (mut started, mut progress) = (now, 0.0);
        if let Some(runs) = job.running.get_mut(&k) {
            if let Some(r) = runs.iter().find(|r| r.id == t.attempt) {
                (started, progress) = (r.started, r.progress);
            }
            runs.retain(|r| r.id != t.attempt);
            others = runs.iter().map(|r| r.id).collect();
            if runs.is_empty() {
                job.running.remove(&k);
            }
        }
        match outcome {
            Outcome::Encoded => self.encoded(t, w, &others, now.saturating_duration_since(started)),
            Outcome::Cancelled => {
                // a straggler that lost its race: how far it got still tells its speed
                let cost = self.jobs[t.job.0].costs[k] as f64 * progress;
                let took = now.saturating_duration_since(started);
                if cost > 0.0 && !took.is_zero() {
                    self.add_speed(w, cost, took);
                }
                vec![Command::Lost(t)]
            }
            Outcome::Busy => {
                self.backoff.insert(w, now + BUSY_BACKOFF);
                let job = &mut self.jobs[t.job.0];
                if others.is_empty() && !job.done[k] {
                    job.queue.push_front(k);
                }
                vec![Command::Lost(t), Command::Waiting { worker: w }]
            }
            Outcome::Failed { error, fatal: true } => {
                // the user's options are at fault: every worker would fail the same way
                let job = &mut self.jobs[t.job.0];
                let mut out = vec![Command::Lost(t)];
                if job.error.is_none() {
                    job.error = Some(error.clone());
                    out.push(Command::Fail { job: t.job, error });
                }
                out
            }
            Outcome::Failed {
                error,
                fatal: false,
            } => self.failed(t, w, others.is_empty(), error),
        }
    }

    /// Worker `w` did `cost` of plan cost in `took`.
    fn add_speed(&mut self, w: WorkerId, cost: f64, took: std::time::Duration) {
        let speed = self.speed.entry(w).or_default();
        speed.0 += cost;
        speed.1 += took.as_secs_f64();
    }

    fn encoded(
        &mut self,
        t: Task,
        w: WorkerId,
        others: &[AttemptId],
        took: std::time::Duration,
    ) -> Vec<Command> {
        self.strikes.insert(w, 0);
        self.add_speed(w, self.jobs[t.job.0].costs[t.chunk] as f64, took);
        let job = &mut self.jobs[t.job.0];
        if job.done[t.chunk] {
            // a duplicate that lost the race
            return vec![Command::Discard(t)];
        }
        job.done[t.chunk] = true;
        if let Some(runs) = job.running.get_mut(&t.chunk) {
            for r in runs.iter_mut() {
                r.cancelled = true;
            }
        }
        let mut out: Vec<Command> = others.iter().map(|&a| Command::Cancel(a)).collect();
        out.insert(0, Command::Keep(t));
        out
    }

    fn failed(&mut self, t: Task, w: WorkerId, alone: bool, error: String) -> Vec<Command> {
        let name = self.names.get(&w).cloned().unwrap_or_default();
        let mut out = vec![Command::Lost(t)];
        let job = &mut self.jobs[t.job.0];
        let k = t.chunk;
        job.failures[k] += 1;
        job.failed_on[k].insert(w);
        if job.failures[k] > job.max_retries {
            let error = format!(
                "chunk {k} failed {} times; last error on {name}: {error}",
                job.failures[k]
            );
            if job.error.is_none() {
                job.error = Some(error.clone());
                out.push(Command::Fail { job: t.job, error });
            }
            return out;
        }
        if alone && !job.done[k] {
            job.queue.push_front(k);
        }
        let strikes = self.strikes.entry(w).or_insert(0);
        *strikes += 1;
        if *strikes >= STRIKES && self.live.remove(&w).is_some() {
            out.push(Command::WorkerLost {
                worker: w,
                error: error.clone(),
            });
            self.last_loss = Some(format!("{name}: {error}"));
            // with a worker still connecting, the chunk waits for it
            if self.live.is_empty() && self.pending == 0 {
                out.extend(self.check_orphaned());
                return out;
            }
        }
        out.push(Command::Retry { task: t, error });
        out
    }
}

/// Chunk indices, dearest first by cost (ties in chunk order).
pub fn dispatch_order(costs: &[u64]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..costs.len()).collect();
    v.sort_by_key(|&k| std::cmp::Reverse(costs[k]));
    v
}

mod race;
mod speed;
pub use race::worth_racing;

#[cfg(test)]
mod tests;
