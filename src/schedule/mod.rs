//! The scheduler: one task per worker slot pulls the next chunk (dearest first), uploads and
//! encodes it, uploads its next chunk during the end of that encode, and starts it while the
//! finished one is downloaded and verified in the background (`chunk`). Failed chunks go
//! back to the queue for another worker; a worker that keeps failing is dropped; an error that
//! would fail everywhere stops the job. When the queue is empty, idle slots run a duplicate of
//! a chunk still in flight elsewhere when it could finish first (`worth_racing`): the first
//! verified result wins and the other attempt is killed. Every verified chunk is recorded in the resume manifest at once. An encode that
//! shows no progress for `stall` is abandoned; reserve slots (local fallback) only work once
//! every other worker is gone.

mod chunk;
mod state;

use crate::assemble::verify::EncodedChunk;
use crate::job::JobSpec;
use crate::plan::Plan;
use crate::progress::{Event, Events};
use crate::resume::Manifest;
use crate::split::Splitter;
use crate::workdir::WorkDir;
use crate::worker::{Worker, WorkerError};
use anyhow::{anyhow, Result};
use state::{Attempt, State};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

/// A worker failing this many times in a row is dropped for the rest of the job.
const STRIKES: u32 = 2;

pub struct Slot {
    pub id: usize,
    pub worker: Arc<dyn Worker>,
    /// Only used once every non-reserve worker is gone (`fallback_local`).
    pub reserve: bool,
}

/// What the scheduler works with.
pub struct Parts {
    pub job: Arc<JobSpec>,
    pub plan: Arc<Plan>,
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

/// What the scheduler hears of a worker that was still connecting when it started.
pub enum Joining {
    /// It is usable: its slots.
    Slots(Vec<Slot>),
    /// It cannot be used (a warning was printed).
    Skipped,
}

pub struct Scheduler {
    p: Parts,
    state: Mutex<State>,
    wake: Notify,
}

/// How long a slot with nothing to do waits before it looks again for a chunk worth racing.
const RECHECK: Duration = Duration::from_secs(1);

/// Whether a second attempt expected to take `dup_secs` could finish before the running one,
/// `f` of its frames done after `elapsed` seconds. Its remaining time is extrapolated from its
/// progress; one that has shown none is raced once a whole second attempt would be done by now.
/// Without an estimate (no chunk finished anywhere yet) only one that shows no progress for
/// `NO_ESTIMATE` seconds is raced.
fn worth_racing(f: f64, elapsed: f64, dup_secs: Option<f64>) -> bool {
    const NO_PROGRESS: f64 = 0.02;
    const NO_ESTIMATE: f64 = 10.0;
    match dup_secs {
        None => f < NO_PROGRESS && elapsed > NO_ESTIMATE,
        Some(d) if f < NO_PROGRESS => elapsed > d,
        // margin: the estimate is rough, and a race costs an upload
        Some(d) => elapsed * (1.0 - f) / f > 1.2 * d + 1.0,
    }
}

enum Pick {
    Chunk(usize, Attempt),
    Wait,
    Stop,
}

/// Whether an encode `f` done (fraction of its frames) after `elapsed` ends soon enough to
/// upload the slot's next chunk: in its last quarter or its last few seconds.
fn near_end(f: f64, elapsed: Duration) -> bool {
    const SOON: f64 = 3.0;
    f >= 0.75 || (f > 0.05 && elapsed.as_secs_f64() * (1.0 - f) / f < SOON)
}

/// Chunk indices, dearest first by the plan's cost estimate (ties in plan order).
pub fn dispatch_order(plan: &Plan) -> Vec<usize> {
    let mut v: Vec<usize> = (0..plan.chunks.len()).collect();
    v.sort_by_key(|&k| std::cmp::Reverse(plan.chunks[k].cost));
    v
}

impl Scheduler {
    pub fn new(p: Parts) -> Scheduler {
        let n = p.plan.chunks.len();
        let queue = dispatch_order(&p.plan)
            .into_iter()
            .filter(|&k| p.manifest.chunks[k].is_none())
            .collect();
        let manifest = p.manifest.clone();
        let pending = p.pending;
        Scheduler {
            p,
            state: Mutex::new(State {
                queue,
                failures: vec![0; n],
                failed_on: vec![HashSet::new(); n],
                manifest,
                running: HashMap::new(),
                reserved: 0,
                next_id: 0,
                strikes: HashMap::new(),
                live: HashMap::new(),
                speed: HashMap::new(),
                reserve: HashSet::new(),
                error: None,
                pending,
                joined: 0,
                dispatches: 0,
                last_loss: None,
            }),
            wake: Notify::new(),
        }
    }

    /// Runs all slots to completion, and the slots of workers that join meanwhile; returns
    /// the verified chunks in plan order.
    pub async fn run(
        self: Arc<Self>,
        slots: Vec<Slot>,
        mut joining: mpsc::UnboundedReceiver<Joining>,
    ) -> Result<Vec<EncodedChunk>> {
        let order: Vec<usize> = self.state.lock().unwrap().queue.iter().copied().collect();
        let prefetch = tokio::spawn(self.p.splitter.clone().prefetch(order));
        let mut tasks = tokio::task::JoinSet::new();
        self.join(&mut tasks, slots, false);
        let mut listening = self.state.lock().unwrap().pending > 0;
        loop {
            if tasks.is_empty() && (!listening || self.over()) {
                break;
            }
            tokio::select! {
                j = joining.recv(), if listening => match j {
                    Some(Joining::Slots(s)) => self.join(&mut tasks, s, true),
                    Some(Joining::Skipped) => self.answered(None),
                    None => {
                        listening = false;
                        self.answered(Some(0));
                    }
                },
                _ = tasks.join_next(), if !tasks.is_empty() => {}
                // no slot is running: only a worker still connecting could be awaited
                _ = self.p.cancel.cancelled(), if tasks.is_empty() => {}
                _ = self.p.quit.cancelled(), if tasks.is_empty() => {}
            }
        }
        prefetch.abort();
        let st = self.state.lock().unwrap();
        if let Some(e) = &st.error {
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

    /// The job is over for the slots: done, failed or cancelled.
    fn over(&self) -> bool {
        let st = self.state.lock().unwrap();
        st.error.is_some()
            || self.p.cancel.is_cancelled()
            || self.p.quit.is_cancelled()
            || st.idle()
    }

    /// A slot started an encode.
    fn dispatched(&self) {
        let mut st = self.state.lock().unwrap();
        st.dispatches += 1;
        self.p.busy.send_replace(st.all_busy());
    }

    /// A worker that was connecting answered and cannot be used (`pending` set to `Some(n)`:
    /// n are left).
    fn answered(&self, pending: Option<usize>) {
        let mut st = self.state.lock().unwrap();
        st.pending = pending.unwrap_or(st.pending.saturating_sub(1));
        self.settle(&mut st);
    }

    /// Starts these slots (of one worker; `late` when it was still connecting at the start).
    fn join(self: &Arc<Self>, tasks: &mut tokio::task::JoinSet<()>, slots: Vec<Slot>, late: bool) {
        let over = self.over();
        {
            let mut st = self.state.lock().unwrap();
            if !over {
                for s in &slots {
                    *st.live.entry(s.worker.label().to_string()).or_insert(0) += 1;
                    if s.reserve {
                        st.reserve.insert(s.worker.label().to_string());
                    } else {
                        st.joined += 1;
                    }
                }
            }
            if late {
                st.pending = st.pending.saturating_sub(1);
            }
            self.settle(&mut st);
        }
        if over {
            return;
        }
        for slot in slots {
            tasks.spawn(self.clone().slot_loop(slot));
        }
    }

    /// After the workers changed: fails the job when none is left, updates `busy`, and wakes
    /// the slots (a waiting reserve may now be needed).
    fn settle(&self, st: &mut State) {
        st.check_orphaned();
        if st.error.is_some() {
            self.p.cancel.cancel();
        }
        self.p.busy.send_replace(st.all_busy());
        self.wake.notify_waiters();
    }

    fn pick(&self, label: &str) -> Pick {
        let mut st = self.state.lock().unwrap();
        if st.error.is_some()
            || self.p.cancel.is_cancelled()
            || self.p.quit.is_cancelled()
            || !st.live.contains_key(label)
            || st.idle()
        {
            return Pick::Stop;
        }
        if st.reserve.contains(label) && st.primary_alive() {
            return Pick::Wait;
        }
        if let Some(i) = st.next_for(label) {
            let k = st.queue.remove(i).expect("index from position");
            let a = st.start(k, label, &self.p.cancel);
            return Pick::Chunk(k, a);
        }
        if !st.queue.is_empty() {
            return Pick::Wait;
        }
        // Nothing queued: race the single attempt running on another worker that a second
        // one here would beat by the most.
        let per_cost = st.secs_per_cost(label);
        let chunks = &self.p.plan.chunks;
        let dup = st
            .running
            .iter()
            .filter(|(&k, v)| {
                v.len() == 1
                    && v[0].worker != label
                    && !v[0].cancel.is_cancelled()
                    && !v[0].collecting.load(Ordering::Relaxed)
                    && st.manifest.chunks[k].is_none()
            })
            .filter_map(|(&k, v)| {
                let dup_secs = per_cost.map(|s| s * chunks[k].cost as f64);
                let (f, elapsed) = (v[0].progress(), v[0].started.elapsed().as_secs_f64());
                worth_racing(f, elapsed, dup_secs).then(|| {
                    let left = elapsed * (1.0 - f) / f.max(1e-3);
                    (k, left - dup_secs.unwrap_or(0.0))
                })
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k);
        match dup {
            Some(k) => {
                let a = st.start(k, label, &self.p.cancel);
                tracing::debug!("chunk {k}: speculative second attempt on {label}");
                Pick::Chunk(k, a)
            }
            None => Pick::Wait,
        }
    }

    /// Takes this slot's next chunk ahead of time when there is work for every slot anyway.
    fn reserve_next(&self, label: &str) -> Option<usize> {
        let mut st = self.state.lock().unwrap();
        let slots: usize = st.live.values().sum();
        if st.error.is_some() || st.reserve.contains(label) || st.queue.len() < slots {
            return None;
        }
        let i = st.next_for(label)?;
        let k = st.queue.remove(i)?;
        st.reserved += 1;
        Some(k)
    }

    /// Starts a reserved chunk (or gives it back).
    fn take_reserved(&self, k: usize, label: &str, start: bool) -> Option<Attempt> {
        let mut st = self.state.lock().unwrap();
        st.reserved -= 1;
        if start
            && st.error.is_none()
            && st.live.contains_key(label)
            && !self.p.cancel.is_cancelled()
            && !self.p.quit.is_cancelled()
        {
            return Some(st.start(k, label, &self.p.cancel));
        }
        st.queue.push_front(k);
        drop(st);
        self.wake.notify_waiters();
        None
    }

    async fn slot_loop(self: Arc<Self>, slot: Slot) {
        let label = slot.worker.label().to_string();
        // (chunk, uploaded) taken ahead during the previous encode
        let mut ahead: Option<(usize, bool)> = None;
        // chunks whose encode is over, being downloaded and checked while the next encodes
        let mut collecting = tokio::task::JoinSet::new();
        loop {
            let notified = self.wake.notified();
            let (k, attempt, uploaded) = match ahead.take() {
                Some((k, up)) => match self.take_reserved(k, &label, true) {
                    Some(a) => (k, a, up),
                    None => continue,
                },
                None => match self.pick(&label) {
                    Pick::Stop => break,
                    Pick::Wait => {
                        tokio::select! {
                            _ = notified => {}
                            // progress does not wake slots: look again for a straggler
                            _ = tokio::time::sleep(RECHECK) => {}
                            _ = self.p.cancel.cancelled() => break,
                            _ = self.p.quit.cancelled() => break,
                        }
                        continue;
                    }
                    Pick::Chunk(k, a) => (k, a, false),
                },
            };
            self.p.splitter.taken();
            let (done_tx, done_rx) = watch::channel(0.0);
            let work = async {
                tokio::select! {
                    r = self.run_remote(&slot, k, &attempt, uploaded, done_tx) => r,
                    _ = attempt.cancel.cancelled() => Err(WorkerError::Cancelled),
                    _ = self.p.quit.cancelled() => Err(WorkerError::Cancelled),
                }
            };
            let (ran, next) = tokio::join!(work, self.upload_ahead(&slot, &label, done_rx));
            ahead = next;
            match ran {
                Ok(ran) => {
                    attempt.collecting.store(true, Ordering::Relaxed);
                    let (me, w, label, id) =
                        (self.clone(), slot.worker.clone(), label.clone(), slot.id);
                    collecting.spawn(async move {
                        let result = tokio::select! {
                            r = me.collect(w.as_ref(), ran) => r,
                            _ = attempt.cancel.cancelled() => Err(WorkerError::Cancelled),
                        };
                        me.finish(id, &label, k, &attempt, result);
                        me.wake.notify_waiters();
                    });
                }
                Err(e) => {
                    self.finish(slot.id, &label, k, &attempt, Err(e));
                    self.wake.notify_waiters();
                }
            }
        }
        if let Some((k, _)) = ahead {
            self.take_reserved(k, &label, false);
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
        label: &str,
        mut done: watch::Receiver<f64>,
    ) -> Option<(usize, bool)> {
        let started = Instant::now();
        while !near_end(*done.borrow_and_update(), started.elapsed()) {
            tokio::select! {
                r = done.changed() => r.ok()?,
                _ = self.p.cancel.cancelled() => return None,
                _ = self.p.quit.cancelled() => return None,
            }
        }
        let k = self.reserve_next(label)?;
        let upload = async {
            let src = self.p.splitter.get(k).await.ok()?;
            slot.worker.upload(&src.path, &src.name).await.ok()
        };
        let ok = tokio::select! {
            r = upload => r.is_some(),
            _ = self.p.cancel.cancelled() => false,
            _ = self.p.quit.cancelled() => false,
        };
        Some((k, ok))
    }

    fn finish(
        &self,
        slot: usize,
        label: &str,
        k: usize,
        attempt: &Attempt,
        result: Result<EncodedChunk, WorkerError>,
    ) {
        let mut st = self.state.lock().unwrap();
        let others: Vec<Attempt> = match st.running.get_mut(&k) {
            Some(v) => {
                v.retain(|a| a.id != attempt.id);
                v.clone()
            }
            None => vec![],
        };
        if others.is_empty() {
            st.running.remove(&k);
        }
        let err = match result {
            Ok(done) => {
                st.strikes.insert(label.to_string(), 0);
                let speed = st.speed.entry(label.to_string()).or_default();
                speed.0 += self.p.plan.chunks[k].cost as f64;
                speed.1 += attempt.started.elapsed().as_secs_f64();
                if st.manifest.chunks[k].is_some() {
                    // a duplicate that lost the race: its progress no longer counts
                    let _ = self.p.events.send(Event::Failed { slot, chunk: k });
                    let _ = std::fs::remove_file(&done.file);
                    return;
                }
                for a in &others {
                    a.cancel.cancel();
                }
                let _ = self.p.events.send(Event::Done {
                    slot,
                    chunk: k,
                    frames: done.frames,
                    size: done.size,
                });
                let _ = std::fs::remove_file(self.p.workdir.file(&WorkDir::source_name(k)));
                st.manifest.chunks[k] = Some(done);
                if let Err(e) = st.manifest.save(&self.p.workdir) {
                    tracing::warn!("cannot save the resume manifest: {e}");
                }
                return;
            }
            Err(WorkerError::Cancelled) => {
                let _ = self.p.events.send(Event::Failed { slot, chunk: k });
                return;
            }
            Err(e) => e,
        };
        let _ = self.p.events.send(Event::Failed { slot, chunk: k });
        if let WorkerError::Ffmpeg { fatal: true, tail } | WorkerError::Local(tail) = &err {
            // ffmpeg's own error lines for the user's options (the chunk is not the user's)
            st.error = Some(tail.clone());
            self.p.cancel.cancel();
            return;
        }
        st.failures[k] += 1;
        st.failed_on[k].insert(label.to_string());
        if st.failures[k] > self.p.max_retries {
            st.error = Some(format!(
                "chunk {k} failed {} times; last error on {label}: {err}",
                st.failures[k]
            ));
            self.p.cancel.cancel();
            return;
        }
        let strikes = {
            let s = st.strikes.entry(label.to_string()).or_insert(0);
            *s += 1;
            *s
        };
        if strikes >= STRIKES {
            st.live.remove(label);
            let _ = self.p.events.send(Event::WorkerLost {
                worker: label.to_string(),
                error: err.to_string(),
            });
            st.last_loss = Some(format!("{label}: {err}"));
            // with a worker still connecting, the chunk waits for it
            if st.live.is_empty() && st.pending == 0 {
                st.error = Some(format!(
                    "all workers failed (the finished chunks are kept for a rerun); last error on {label}: {err}"
                ));
                self.p.cancel.cancel();
                return;
            }
        }
        let _ = self.p.events.send(Event::Retry {
            chunk: k,
            worker: label.to_string(),
            error: err.to_string(),
        });
        if others.is_empty() && st.manifest.chunks[k].is_none() {
            st.queue.push_front(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::worth_racing;

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
}
