//! The scheduler's shell: one task per worker slot asks the policy (`core`, pure) for its next
//! chunk, uploads and encodes it, uploads its next chunk during the end of that encode, and
//! starts it while the finished one is downloaded and verified in the background (`chunk`).
//! What the policy decides (retry elsewhere, strike a worker off, race a straggler, fail the
//! job) comes back as `core::Command`s, which this shell carries out: events for the display,
//! the resume manifest, cancelling attempts. An encode that shows no progress for `stall` is
//! abandoned.

mod chunk;
pub mod core;

use self::core::{AttemptId, Command, Core, JobId, Outcome, Pick, Task, WorkerId};
use crate::assemble::verify::EncodedChunk;
use crate::job::JobSpec;
use crate::plan::Plan;
use crate::progress::{Event, Events};
use crate::resume::Manifest;
use crate::split::Splitter;
use crate::workdir::WorkDir;
use crate::worker::{Worker, WorkerError};
use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

pub struct Slot {
    pub id: usize,
    pub worker: Arc<dyn Worker>,
    /// The worker's number for the policy (one per machine, shared by its slots).
    pub worker_id: WorkerId,
    /// Only used once every non-reserve worker is gone (`fallback_local`).
    pub reserve: bool,
}

/// What the scheduler works with.
pub struct Parts {
    pub job: Arc<JobSpec>,
    pub plan: Arc<Plan>,
    /// The plans of the job's other outputs, on the same chunks (`Planned::others`).
    pub others: Vec<Arc<Plan>>,
    pub splitter: Arc<Splitter>,
    pub workdir: WorkDir,
    pub ffprobe: String,
    pub max_retries: u32,
    pub stall: Duration,
    pub events: Events,
    pub cancel: CancellationToken,
    /// The user asked to finish early (`q`): no chunk is started any more, the encodes are
    /// killed, the chunks already encoded are still collected, and the job ends with the
    /// chunks finished from the start on.
    pub quit: CancellationToken,
    /// Chunks already done (resume) and where to record new ones.
    pub manifest: Manifest,
    /// Process start, for the timing lines.
    pub started: Instant,
    /// Set once every worker has answered and each of their slots has started an encode (or
    /// there is nothing left to start): work that waits for the workers to be busy watches it.
    pub busy: watch::Sender<bool>,
    /// SSH workers still being connected when the scheduler starts; each one joins (`Joining`)
    /// or is skipped when it answers.
    pub pending: usize,
}

/// What the scheduler hears of the workers while it runs.
pub enum Joining {
    /// One that was still connecting when it started is usable: its slots.
    Slots(Vec<Slot>),
    /// One that was still connecting cannot be used (a warning was printed).
    Skipped,
    /// A worker that appeared in the inventory (`workers_command`): its slots.
    Added(Vec<Slot>),
    /// A worker that left the inventory: it takes no more chunks.
    Left(WorkerId),
}

/// One run of one chunk on one worker, as the shell holds it.
#[derive(Clone)]
struct Attempt {
    task: Task,
    cancel: CancellationToken,
}

/// What the slots share: the policy and what carrying out its commands needs.
struct Shared {
    core: Core,
    /// Worker speeds learned in earlier jobs, by label (`speeds`).
    hints: HashMap<String, f64>,
    manifest: Manifest,
    /// The attempts in flight.
    cancels: HashMap<AttemptId, CancellationToken>,
}

pub struct Scheduler {
    p: Parts,
    job: JobId,
    state: Mutex<Shared>,
    wake: Notify,
    /// Per worker, the files every encode reads besides its chunk (a still image, subtitle
    /// files), uploaded once.
    images: Mutex<HashMap<WorkerId, Arc<tokio::sync::OnceCell<()>>>>,
}

/// How long a slot with nothing to do waits before it looks again for a chunk worth racing.
const RECHECK: Duration = Duration::from_secs(1);

/// Whether an encode `f` done (fraction of its frames) after `elapsed` ends soon enough to
/// upload the slot's next chunk: in its last quarter or its last few seconds.
fn near_end(f: f64, elapsed: Duration) -> bool {
    const SOON: f64 = 3.0;
    f >= 0.75 || (f > 0.05 && elapsed.as_secs_f64() * (1.0 - f) / f < SOON)
}

/// Chunk indices, dearest first by the plan's cost estimate (ties in plan order).
pub fn dispatch_order(plan: &Plan) -> Vec<usize> {
    self::core::dispatch_order(&costs(plan))
}

fn costs(plan: &Plan) -> Vec<u64> {
    plan.chunks.iter().map(|c| c.cost).collect()
}

impl Scheduler {
    pub fn new(p: Parts) -> Scheduler {
        let mut core = Core::new(p.pending);
        let done = p.manifest.chunks.iter().map(Option::is_some).collect();
        let job = core.add_job(costs(&p.plan), done, p.max_retries);
        let manifest = p.manifest.clone();
        Scheduler {
            p,
            job,
            state: Mutex::new(Shared {
                core,
                hints: crate::speeds::load(),
                manifest,
                cancels: HashMap::new(),
            }),
            wake: Notify::new(),
            images: Mutex::new(HashMap::new()),
        }
    }

    /// Runs all slots to completion, and the slots of workers that join meanwhile; returns
    /// the verified chunks in plan order.
    pub async fn run(
        self: Arc<Self>,
        slots: Vec<Slot>,
        mut joining: mpsc::UnboundedReceiver<Joining>,
    ) -> Result<Vec<EncodedChunk>> {
        let order = self.state.lock().unwrap().core.queued(self.job);
        let prefetch = tokio::spawn(self.p.splitter.clone().prefetch(order));
        let mut tasks = tokio::task::JoinSet::new();
        let mut by_worker: Vec<Vec<Slot>> = Vec::new();
        for s in slots {
            match by_worker.last_mut() {
                Some(v) if v[0].worker_id == s.worker_id => v.push(s),
                _ => by_worker.push(vec![s]),
            }
        }
        for w in by_worker {
            self.join(&mut tasks, w, false);
        }
        // until every worker still connecting has answered and the inventory watch (if any) ended
        let mut listening = true;
        loop {
            if tasks.is_empty() && (!listening || self.over()) {
                break;
            }
            tokio::select! {
                j = joining.recv(), if listening => match j {
                    Some(Joining::Slots(s)) => self.join(&mut tasks, s, true),
                    Some(Joining::Skipped) => self.answered(false),
                    Some(Joining::Added(s)) => {
                        let labels = s.iter().map(|s| s.worker.label().to_string()).collect();
                        let _ = self.p.events.send(Event::SlotsJoined { labels });
                        self.join(&mut tasks, s, false);
                    }
                    Some(Joining::Left(w)) => {
                        let mut st = self.state.lock().unwrap();
                        let cmds = st.core.leave(w);
                        self.settle(&mut st, cmds);
                    }
                    None => {
                        listening = false;
                        self.answered(true);
                    }
                },
                _ = tasks.join_next(), if !tasks.is_empty() => {}
                // no slot is running: only a worker still connecting could be awaited
                _ = self.p.cancel.cancelled(), if tasks.is_empty() => {}
                _ = self.p.quit.cancelled(), if tasks.is_empty() => {}
            }
        }
        prefetch.abort();
        let rates = self.state.lock().unwrap().core.measured_rates();
        crate::speeds::record(&rates);
        let st = self.state.lock().unwrap();
        if let Some(Err(e)) = st.core.status(self.job) {
            return Err(anyhow!("{e}"));
        }
        if self.p.cancel.is_cancelled() {
            return Err(anyhow!("interrupted"));
        }
        if self.p.quit.is_cancelled() {
            // `q`: the chunks done from the first on, as far as they go without a gap
            return Ok(st.manifest.chunks.iter().map_while(Option::clone).collect());
        }
        let missing: Vec<usize> = (0..st.manifest.chunks.len())
            .filter(|&k| st.manifest.chunks[k].is_none())
            .collect();
        if !missing.is_empty() {
            return Err(anyhow!("no worker could encode chunk(s) {missing:?}"));
        }
        Ok(st.manifest.chunks.iter().flatten().cloned().collect())
    }

    /// The user stopped the job (interrupt, `q`) or it failed: no chunk starts any more.
    fn stopping(&self) -> bool {
        self.p.cancel.is_cancelled() || self.p.quit.is_cancelled()
    }

    /// The job is over for the slots: done, failed or cancelled.
    fn over(&self) -> bool {
        self.stopping() || self.state.lock().unwrap().core.over()
    }

    /// A slot started an encode.
    fn dispatched(&self) {
        let mut st = self.state.lock().unwrap();
        st.core.dispatched();
        self.p.busy.send_replace(st.core.all_busy());
    }

    /// A worker that was connecting answered and cannot be used (`all`: none is connecting
    /// any more).
    fn answered(&self, all: bool) {
        let mut st = self.state.lock().unwrap();
        let cmds = st.core.skipped(all);
        self.settle(&mut st, cmds);
    }

    /// Starts the slots of one worker (`late` when it was still connecting at the start).
    fn join(self: &Arc<Self>, tasks: &mut tokio::task::JoinSet<()>, slots: Vec<Slot>, late: bool) {
        let stopping = self.stopping();
        let mut st = self.state.lock().unwrap();
        let (started, cmds) = match slots.first() {
            Some(s) if !stopping => {
                if let Some(&h) = st.hints.get(s.worker.label()) {
                    st.core.hint_speed(s.worker_id, h);
                }
                st.core
                    .join(s.worker_id, s.worker.label(), slots.len(), s.reserve, late)
            }
            // a worker joining a stopped run is only counted as answered
            _ if late => (false, st.core.skipped(false)),
            _ => (false, Vec::new()),
        };
        self.settle(&mut st, cmds);
        drop(st);
        if started {
            for slot in slots {
                tasks.spawn(self.clone().slot_loop(slot));
            }
        }
    }

    /// After the workers changed: carries out the policy's commands, updates `busy`, and
    /// wakes the slots (a waiting reserve may now be needed).
    fn settle(&self, st: &mut Shared, cmds: Vec<Command>) {
        for c in cmds {
            if let Command::Fail { .. } = c {
                self.p.cancel.cancel();
            }
        }
        self.p.busy.send_replace(st.core.all_busy());
        self.wake.notify_waiters();
    }

    /// Records a started attempt.
    fn attempt(&self, st: &mut Shared, task: Task) -> Attempt {
        let cancel = self.p.cancel.child_token();
        st.cancels.insert(task.attempt, cancel.clone());
        Attempt { task, cancel }
    }

    /// What a free slot of worker `w` does next: `None` to stop, `Some(None)` to wait.
    fn pick(&self, w: WorkerId) -> Option<Option<Attempt>> {
        let mut st = self.state.lock().unwrap();
        let pick = match self.stopping() {
            true => Pick::Stop,
            false => st.core.pick(w, Instant::now()),
        };
        let task = match pick {
            Pick::Stop => return None,
            Pick::Wait => return Some(None),
            Pick::Start(t) => t,
            Pick::Race(t) => {
                let label = st.core.name(w);
                tracing::debug!("chunk {}: speculative second attempt on {label}", t.chunk);
                t
            }
        };
        Some(Some(self.attempt(&mut st, task)))
    }

    /// Takes this slot's next chunk ahead of time when there is work for every slot anyway.
    fn reserve_next(&self, w: WorkerId) -> Option<(JobId, usize)> {
        self.state.lock().unwrap().core.reserve_next(w)
    }

    /// Starts a reserved chunk (or gives it back).
    fn take_reserved(&self, chunk: (JobId, usize), w: WorkerId, start: bool) -> Option<Attempt> {
        let mut st = self.state.lock().unwrap();
        let start = start && !self.stopping();
        match st.core.take_reserved(chunk, w, start, Instant::now()) {
            Some(t) => Some(self.attempt(&mut st, t)),
            None => {
                drop(st);
                self.wake.notify_waiters();
                None
            }
        }
    }

    /// An attempt's encode is over: only its download and check remain.
    fn collecting(&self, a: &Attempt) {
        self.state.lock().unwrap().core.collecting(a.task);
    }

    /// An attempt reports the fraction of its frames encoded.
    fn progress(&self, a: &Attempt, fraction: f64) {
        self.state.lock().unwrap().core.progress(a.task, fraction);
    }

    async fn slot_loop(self: Arc<Self>, slot: Slot) {
        let w = slot.worker_id;
        // (chunk, uploaded) taken ahead during the previous encode
        let mut ahead: Option<((JobId, usize), bool)> = None;
        // chunks whose encode is over, being downloaded and checked while the next encodes
        let mut collecting = tokio::task::JoinSet::new();
        loop {
            let notified = self.wake.notified();
            let (attempt, uploaded) = match ahead.take() {
                Some((chunk, up)) => match self.take_reserved(chunk, w, true) {
                    Some(a) => (a, up),
                    None => continue,
                },
                None => match self.pick(w) {
                    None => break,
                    Some(None) => {
                        tokio::select! {
                            _ = notified => {}
                            // progress does not wake slots: look again for a straggler
                            _ = tokio::time::sleep(RECHECK) => {}
                            _ = self.p.cancel.cancelled() => break,
                            _ = self.p.quit.cancelled() => break,
                        }
                        continue;
                    }
                    Some(Some(a)) => (a, false),
                },
            };
            self.p.splitter.taken();
            let (done_tx, done_rx) = watch::channel(0.0);
            let work = async {
                tokio::select! {
                    r = self.run_remote(&slot, &attempt, uploaded, done_tx) => r,
                    _ = attempt.cancel.cancelled() => Err(WorkerError::Cancelled),
                    _ = self.p.quit.cancelled() => Err(WorkerError::Cancelled),
                }
            };
            let (ran, next) = tokio::join!(work, self.upload_ahead(&slot, done_rx));
            ahead = next;
            match ran {
                Ok(ran) => {
                    self.collecting(&attempt);
                    let (me, worker, id) = (self.clone(), slot.worker.clone(), slot.id);
                    collecting.spawn(async move {
                        let result = tokio::select! {
                            r = me.collect(worker.as_ref(), ran) => r,
                            _ = attempt.cancel.cancelled() => Err(WorkerError::Cancelled),
                        };
                        me.finish(id, w, &attempt, result);
                        me.wake.notify_waiters();
                    });
                }
                Err(e) => {
                    self.finish(slot.id, w, &attempt, Err(e));
                    self.wake.notify_waiters();
                }
            }
        }
        if let Some((chunk, _)) = ahead {
            self.take_reserved(chunk, w, false);
        }
        while collecting.join_next().await.is_some() {}
        self.wake.notify_waiters();
    }

    /// Near the end of the current encode (`done`: its fraction of frames, closed when it is
    /// over), reserves the slot's next chunk and uploads it while the encode finishes. Taking
    /// it any earlier would tie the next dearest chunk to this slot instead of the first one
    /// that frees up.
    async fn upload_ahead(
        &self,
        slot: &Slot,
        mut done: watch::Receiver<f64>,
    ) -> Option<((JobId, usize), bool)> {
        let started = Instant::now();
        while !near_end(*done.borrow_and_update(), started.elapsed()) {
            tokio::select! {
                r = done.changed() => r.ok()?,
                _ = self.p.cancel.cancelled() => return None,
                _ = self.p.quit.cancelled() => return None,
            }
        }
        let (job, k) = self.reserve_next(slot.worker_id)?;
        let upload = async {
            let src = self.p.splitter.get(k).await.ok()?;
            slot.worker.upload(&src.path, &src.name).await.ok()
        };
        let ok = tokio::select! {
            r = upload => r.is_some(),
            _ = self.p.cancel.cancelled() => false,
            _ = self.p.quit.cancelled() => false,
        };
        Some(((job, k), ok))
    }

    /// An attempt ended: the policy decides, and its commands are carried out here.
    fn finish(
        &self,
        slot: usize,
        w: WorkerId,
        attempt: &Attempt,
        result: Result<EncodedChunk, WorkerError>,
    ) {
        let (outcome, encoded) = match result {
            Ok(done) => (Outcome::Encoded, Some(done)),
            Err(WorkerError::Cancelled) => (Outcome::Cancelled, None),
            Err(WorkerError::Busy(why)) => {
                tracing::debug!("{why}: waiting");
                (Outcome::Busy, None)
            }
            // ffmpeg's own error lines for the user's options (the chunk is not the user's)
            Err(WorkerError::Ffmpeg { fatal: true, tail } | WorkerError::Local(tail)) => (
                Outcome::Failed {
                    error: tail,
                    fatal: true,
                },
                None,
            ),
            Err(e) => (
                Outcome::Failed {
                    error: e.to_string(),
                    fatal: false,
                },
                None,
            ),
        };
        let mut st = self.state.lock().unwrap();
        st.cancels.remove(&attempt.task.attempt);
        let cmds = st.core.finish(attempt.task, w, outcome, Instant::now());
        let label = |st: &Shared, w: WorkerId| st.core.name(w).to_string();
        let events = &self.p.events;
        for c in cmds {
            match c {
                Command::Keep(t) => {
                    let Some(done) = encoded.clone() else {
                        continue;
                    };
                    let _ = events.send(Event::Done {
                        slot,
                        chunk: t.chunk,
                        frames: done.frames,
                        size: done.size,
                    });
                    let source = self.p.workdir.file(&WorkDir::source_name(t.chunk));
                    let _ = std::fs::remove_file(source);
                    st.manifest.chunks[t.chunk] = Some(done);
                    if let Err(e) = st.manifest.save(&self.p.workdir) {
                        tracing::warn!("cannot save the resume manifest: {e}");
                    }
                }
                Command::Discard(t) => {
                    // a duplicate that lost the race: its progress no longer counts
                    let _ = events.send(Event::Failed {
                        slot,
                        chunk: t.chunk,
                    });
                    if let Some(done) = &encoded {
                        let _ = std::fs::remove_file(&done.file);
                    }
                }
                Command::Cancel(a) => {
                    if let Some(c) = st.cancels.get(&a) {
                        c.cancel();
                    }
                }
                Command::Lost(t) => {
                    let _ = events.send(Event::Failed {
                        slot,
                        chunk: t.chunk,
                    });
                }
                Command::WorkerLost { worker, error } => {
                    let _ = events.send(Event::WorkerLost {
                        worker: label(&st, worker),
                        error,
                    });
                }
                Command::Retry { task, error } => {
                    let _ = events.send(Event::Retry {
                        chunk: task.chunk,
                        worker: label(&st, w),
                        error,
                    });
                }
                Command::Waiting { .. } => {
                    let _ = events.send(Event::Waiting { slot });
                }
                Command::Fail { .. } => self.p.cancel.cancel(),
            }
        }
    }
}
