//! The scheduler: one task per worker slot pulls the next chunk (longest first), then uploads,
//! encodes, downloads and verifies it. Failed chunks go back to the queue for another worker;
//! a worker that keeps failing is dropped; an error that would fail everywhere stops the job.

use crate::assemble::verify::{self, EncodedChunk};
use crate::commands;
use crate::job::JobSpec;
use crate::plan::Plan;
use crate::progress::{Event, Events};
use crate::split::Splitter;
use crate::workdir::WorkDir;
use crate::worker::{Worker, WorkerError};
use anyhow::{anyhow, Result};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A worker failing this many times in a row is dropped for the rest of the job.
const STRIKES: u32 = 2;

pub struct Slot {
    pub id: usize,
    pub worker: Arc<dyn Worker>,
}

pub struct Scheduler {
    pub job: Arc<JobSpec>,
    pub plan: Arc<Plan>,
    pub splitter: Arc<Splitter>,
    pub workdir: WorkDir,
    pub ffprobe: String,
    pub max_retries: u32,
    pub events: Events,
    pub cancel: CancellationToken,
    state: Mutex<State>,
    wake: Notify,
}

struct State {
    queue: VecDeque<usize>,
    attempts: Vec<u32>,
    failed_on: Vec<HashSet<String>>,
    results: Vec<Option<EncodedChunk>>,
    in_flight: usize,
    strikes: HashMap<String, u32>,
    live_workers: HashSet<String>,
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: Arc<JobSpec>,
        plan: Arc<Plan>,
        splitter: Arc<Splitter>,
        workdir: WorkDir,
        ffprobe: String,
        max_retries: u32,
        events: Events,
        cancel: CancellationToken,
        done: Vec<Option<EncodedChunk>>,
    ) -> Scheduler {
        let n = plan.chunks.len();
        let queue = dispatch_order(&plan)
            .into_iter()
            .filter(|&k| done[k].is_none())
            .collect();
        Scheduler {
            job,
            plan,
            splitter,
            workdir,
            ffprobe,
            max_retries,
            events,
            cancel,
            state: Mutex::new(State {
                queue,
                attempts: vec![0; n],
                failed_on: vec![HashSet::new(); n],
                results: done,
                in_flight: 0,
                strikes: HashMap::new(),
                live_workers: HashSet::new(),
                error: None,
            }),
            wake: Notify::new(),
        }
    }

    /// Runs all slots to completion; returns the verified chunks in plan order.
    pub async fn run(self: Arc<Self>, slots: Vec<Slot>) -> Result<Vec<EncodedChunk>> {
        {
            let mut st = self.state.lock().unwrap();
            st.live_workers = slots.iter().map(|s| s.worker.label().to_string()).collect();
        }
        let order: Vec<usize> = self.state.lock().unwrap().queue.iter().copied().collect();
        let splitter = self.splitter.clone();
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
        if self.cancel.is_cancelled() {
            return Err(anyhow!("interrupted"));
        }
        let missing: Vec<usize> = (0..st.results.len())
            .filter(|&k| st.results[k].is_none())
            .collect();
        if !missing.is_empty() {
            return Err(anyhow!("no worker could encode chunk(s) {missing:?}"));
        }
        Ok(st.results.iter().flatten().cloned().collect())
    }

    fn pick(&self, label: &str) -> Pick {
        let mut st = self.state.lock().unwrap();
        if st.error.is_some() || self.cancel.is_cancelled() || !st.live_workers.contains(label) {
            return Pick::Stop;
        }
        let others_alive = st.live_workers.len() > 1;
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
            None if st.queue.is_empty() && st.in_flight == 0 => Pick::Stop,
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
                        _ = self.cancel.cancelled() => break,
                    }
                    continue;
                }
                Pick::Chunk(k) => k,
            };
            self.splitter.taken();
            let result = tokio::select! {
                r = self.encode_chunk(&slot, k) => r,
                _ = self.cancel.cancelled() => Err(WorkerError::Cancelled),
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
                st.results[k] = Some(done);
                return;
            }
            Err(WorkerError::Cancelled) => return,
            Err(e) => e,
        };
        let _ = self.events.send(Event::Failed { slot });
        if let WorkerError::Ffmpeg { fatal: true, tail } = &err {
            st.error = Some(format!("chunk {k} failed on {label}: {tail}"));
            self.cancel.cancel();
            return;
        }
        st.attempts[k] += 1;
        st.failed_on[k].insert(label.to_string());
        if st.attempts[k] > self.max_retries {
            st.error = Some(format!(
                "chunk {k} failed {} times; last error on {label}: {err}",
                st.attempts[k]
            ));
            self.cancel.cancel();
            return;
        }
        let strikes = {
            let s = st.strikes.entry(label.to_string()).or_insert(0);
            *s += 1;
            *s
        };
        if strikes >= STRIKES {
            st.live_workers.remove(label);
            let _ = self.events.send(Event::WorkerLost {
                worker: label.to_string(),
                error: err.to_string(),
            });
            if st.live_workers.is_empty() {
                st.error = Some(format!("all workers failed; last error on {label}: {err}"));
                self.cancel.cancel();
                return;
            }
        }
        let _ = self.events.send(Event::Retry {
            chunk: k,
            worker: label.to_string(),
            error: err.to_string(),
        });
        st.queue.push_front(k);
    }

    async fn encode_chunk(&self, slot: &Slot, k: usize) -> Result<EncodedChunk, WorkerError> {
        let w = &slot.worker;
        let c = &self.plan.chunks[k];
        let src = self
            .splitter
            .get(k)
            .await
            .map_err(|e| WorkerError::Ffmpeg {
                tail: format!("{e:#}"),
                fatal: true,
            })?;
        w.upload(&src.path, &src.name).await?;
        let out_name = WorkDir::encoded_name(k, self.job.chunk_format().1);
        let first_src = c.first_pts - self.splitter.shift.offset_ticks;
        let trim = commands::pre_roll(c, &self.splitter.packets, first_src).map(|prev| {
            commands::start_trim_us(
                prev,
                first_src,
                self.splitter.shift.offset_ticks,
                self.splitter.tb,
                src.start_us,
            )
        });
        let args = commands::encode(
            &self.job,
            c,
            &self.splitter.shift,
            trim,
            &w.path(&src.name),
            &w.path(&out_name),
        );
        tracing::debug!(
            "ENCODE on {}: {}",
            w.label(),
            crate::process::display_cmd("ffmpeg", &args)
        );
        let _ = self.events.send(Event::Started {
            slot: slot.id,
            chunk: k,
            frames: c.out_count(),
        });
        let events = self.events.clone();
        let id = slot.id;
        let progress = move |p| {
            let _ = events.send(Event::Progress {
                slot: id,
                chunk: k,
                p,
            });
        };
        w.encode(&args, &progress, &self.cancel).await?;
        let local = self.workdir.file(&out_name);
        w.download(&out_name, &local).await?;
        let _ = w.remove(&[src.name.clone(), out_name.clone()]).await;
        let enc = verify::verify(&self.ffprobe, &local, c, self.job.sync.enc_tb)
            .await
            .map_err(|e| WorkerError::Ffmpeg {
                tail: e.to_string(),
                fatal: false,
            })?;
        let _ = self.events.send(Event::Done {
            slot: slot.id,
            chunk: k,
            frames: enc.frames,
            size: enc.size,
        });
        Ok(enc)
    }
}
