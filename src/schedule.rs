//! The scheduler: one task per worker slot pulls the next chunk (longest first), then uploads,
//! encodes, downloads and verifies it. Failed chunks go back to the queue for another worker;
//! a worker that keeps failing is dropped; an error that would fail everywhere stops the job.
//! Every verified chunk is recorded in the resume manifest at once. An encode that shows no
//! progress for `stall` is abandoned; reserve slots (local fallback) only work when every
//! other worker is gone.

use crate::assemble::verify::{self, EncodedChunk};
use crate::commands;
use crate::job::JobSpec;
use crate::plan::Plan;
use crate::progress::{Event, Events};
use crate::resume::Manifest;
use crate::split::Splitter;
use crate::workdir::WorkDir;
use crate::worker::{Worker, WorkerError};
use anyhow::{anyhow, Result};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
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
    /// Chunks already done (resume) and where to record new ones.
    pub manifest: Manifest,
    /// Process start, for the timing lines.
    pub started: Instant,
}

pub struct Scheduler {
    p: Parts,
    state: Mutex<State>,
    wake: Notify,
}

struct State {
    queue: VecDeque<usize>,
    attempts: Vec<u32>,
    failed_on: Vec<HashSet<String>>,
    manifest: Manifest,
    in_flight: usize,
    strikes: HashMap<String, u32>,
    live: HashSet<String>,
    reserve: HashSet<String>,
    error: Option<String>,
}

enum Pick {
    Chunk(usize),
    Wait,
    Stop,
}

/// Chunk indices, longest first (ties in plan order).
pub fn dispatch_order(plan: &Plan) -> Vec<usize> {
    let mut v: Vec<usize> = (0..plan.chunks.len()).collect();
    v.sort_by_key(|&k| std::cmp::Reverse(plan.chunks[k].frames()));
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
        Scheduler {
            p,
            state: Mutex::new(State {
                queue,
                attempts: vec![0; n],
                failed_on: vec![HashSet::new(); n],
                manifest,
                in_flight: 0,
                strikes: HashMap::new(),
                live: HashSet::new(),
                reserve: HashSet::new(),
                error: None,
            }),
            wake: Notify::new(),
        }
    }

    /// Runs all slots to completion; returns the verified chunks in plan order.
    pub async fn run(self: Arc<Self>, slots: Vec<Slot>) -> Result<Vec<EncodedChunk>> {
        let order: Vec<usize> = {
            let mut st = self.state.lock().unwrap();
            for s in &slots {
                st.live.insert(s.worker.label().to_string());
                if s.reserve {
                    st.reserve.insert(s.worker.label().to_string());
                }
            }
            st.queue.iter().copied().collect()
        };
        let splitter = self.p.splitter.clone();
        let prefetch = tokio::spawn(async move { splitter.prefetch(&order).await });
        let tasks: Vec<_> = slots
            .into_iter()
            .map(|slot| {
                let me = self.clone();
                tokio::spawn(async move { me.slot_loop(slot).await })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        prefetch.abort();
        let st = self.state.lock().unwrap();
        if let Some(e) = &st.error {
            return Err(anyhow!("{e}"));
        }
        if self.p.cancel.is_cancelled() {
            return Err(anyhow!("interrupted"));
        }
        let missing: Vec<usize> = (0..st.manifest.chunks.len())
            .filter(|&k| st.manifest.chunks[k].is_none())
            .collect();
        if !missing.is_empty() {
            return Err(anyhow!("no worker could encode chunk(s) {missing:?}"));
        }
        Ok(st.manifest.chunks.iter().flatten().cloned().collect())
    }

    fn pick(&self, label: &str) -> Pick {
        let mut st = self.state.lock().unwrap();
        if st.error.is_some() || self.p.cancel.is_cancelled() || !st.live.contains(label) {
            return Pick::Stop;
        }
        if st.queue.is_empty() && st.in_flight == 0 {
            return Pick::Stop;
        }
        let primary_alive = st.live.iter().any(|w| !st.reserve.contains(w));
        if st.reserve.contains(label) && primary_alive {
            return Pick::Wait;
        }
        let others_alive = st.live.len() > 1;
        let pos = st
            .queue
            .iter()
            .position(|&k| !st.failed_on[k].contains(label) || !others_alive);
        match pos {
            Some(i) => {
                let k = st.queue.remove(i).expect("index from position");
                st.in_flight += 1;
                Pick::Chunk(k)
            }
            None => Pick::Wait,
        }
    }

    async fn slot_loop(&self, slot: Slot) {
        let label = slot.worker.label().to_string();
        loop {
            let notified = self.wake.notified();
            let k = match self.pick(&label) {
                Pick::Stop => break,
                Pick::Wait => {
                    tokio::select! {
                        _ = notified => {}
                        _ = self.p.cancel.cancelled() => break,
                    }
                    continue;
                }
                Pick::Chunk(k) => k,
            };
            self.p.splitter.taken();
            let result = tokio::select! {
                r = self.encode_chunk(&slot, k) => r,
                _ = self.p.cancel.cancelled() => Err(WorkerError::Cancelled),
            };
            self.finish(slot.id, &label, k, result);
            self.wake.notify_waiters();
        }
        self.wake.notify_waiters();
    }

    fn finish(
        &self,
        slot: usize,
        label: &str,
        k: usize,
        result: Result<EncodedChunk, WorkerError>,
    ) {
        let mut st = self.state.lock().unwrap();
        st.in_flight -= 1;
        let err = match result {
            Ok(done) => {
                st.strikes.insert(label.to_string(), 0);
                st.manifest.chunks[k] = Some(done);
                if let Err(e) = st.manifest.save(&self.p.workdir) {
                    tracing::warn!("cannot save the resume manifest: {e}");
                }
                return;
            }
            Err(WorkerError::Cancelled) => return,
            Err(e) => e,
        };
        let _ = self.p.events.send(Event::Failed { slot });
        if let WorkerError::Ffmpeg { fatal: true, tail } = &err {
            st.error = Some(format!("chunk {k} failed on {label}: {tail}"));
            self.p.cancel.cancel();
            return;
        }
        st.attempts[k] += 1;
        st.failed_on[k].insert(label.to_string());
        if st.attempts[k] > self.p.max_retries {
            st.error = Some(format!(
                "chunk {k} failed {} times; last error on {label}: {err}",
                st.attempts[k]
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
            if st.live.is_empty() {
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
        st.queue.push_front(k);
    }

    /// Runs the encode, abandoning it when no progress arrives for `stall`.
    async fn watched_encode(
        &self,
        w: &dyn Worker,
        args: &[String],
        slot: usize,
        k: usize,
    ) -> Result<(), WorkerError> {
        let last = Arc::new(Mutex::new(Instant::now()));
        let events = self.p.events.clone();
        let seen = last.clone();
        let progress = move |p| {
            *seen.lock().unwrap() = Instant::now();
            let _ = events.send(Event::Progress { slot, chunk: k, p });
        };
        let stop = self.p.cancel.child_token();
        let encode = w.encode(args, &progress, &stop);
        tokio::pin!(encode);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                r = &mut encode => return r,
                _ = tick.tick() => {
                    if last.lock().unwrap().elapsed() > self.p.stall && !stop.is_cancelled() {
                        stop.cancel();
                        let _ = (&mut encode).await;
                        return Err(WorkerError::Transport(format!(
                            "no progress for {}s (stall_timeout)",
                            self.p.stall.as_secs()
                        )));
                    }
                }
            }
        }
    }

    async fn encode_chunk(&self, slot: &Slot, k: usize) -> Result<EncodedChunk, WorkerError> {
        let w = &slot.worker;
        let job = &self.p.job;
        let sp = &self.p.splitter;
        let c = &self.p.plan.chunks[k];
        let src = sp.get(k).await.map_err(|e| WorkerError::Ffmpeg {
            tail: format!("{e:#}"),
            fatal: true,
        })?;
        w.upload(&src.path, &src.name).await?;
        let out_name = WorkDir::encoded_name(k, job.chunk_format().1);
        let first_src = c.first_pts - sp.shift.offset_ticks;
        let trim = commands::pre_roll(c, &sp.packets, first_src).map(|prev| {
            commands::start_trim_us(prev, first_src, sp.shift.offset_ticks, sp.tb, src.start_us)
        });
        let args = commands::encode(
            job,
            c,
            &sp.shift,
            trim,
            &w.path(&src.name),
            &w.path(&out_name),
        );
        tracing::debug!(
            "timing: chunk {k} dispatched to {} after {:.3}s",
            w.label(),
            self.p.started.elapsed().as_secs_f64()
        );
        tracing::debug!(
            "ENCODE chunk {k} on {}: {}",
            w.label(),
            crate::process::display_cmd("ffmpeg", &args)
        );
        let _ = self.p.events.send(Event::Started {
            slot: slot.id,
            chunk: k,
            frames: c.out_count(),
        });
        self.watched_encode(w.as_ref(), &args, slot.id, k).await?;
        let local = self.p.workdir.file(&out_name);
        w.download(&out_name, &local).await?;
        let _ = w.remove(&[src.name.clone(), out_name.clone()]).await;
        let enc = verify::verify(&self.p.ffprobe, &local, c, job.sync.enc_tb)
            .await
            .map_err(|e| WorkerError::Ffmpeg {
                tail: format!("{e} (chunk from {})", w.label()),
                fatal: false,
            })?;
        let _ = std::fs::remove_file(&src.path);
        let _ = self.p.events.send(Event::Done {
            slot: slot.id,
            chunk: k,
            frames: enc.frames,
            size: enc.size,
        });
        Ok(enc)
    }
}
