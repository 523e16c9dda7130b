//! The scheduler's bookkeeping: the attempts in flight (one run of one chunk on one worker)
//! and the state every slot shares (queue, failures, live workers, speeds, manifest).

use crate::resume::Manifest;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// One run of one chunk on one worker.
#[derive(Clone)]
pub(super) struct Attempt {
    pub(super) id: u64,
    pub(super) worker: String,
    pub(super) cancel: CancellationToken,
    pub(super) started: Instant,
    /// Its encode is over; only the download and check remain (never worth racing).
    pub(super) collecting: Arc<AtomicBool>,
    /// Fraction of its frames encoded so far (`f64` bits).
    pub(super) progress: Arc<AtomicU64>,
}

impl Attempt {
    pub(super) fn progress(&self) -> f64 {
        f64::from_bits(self.progress.load(Ordering::Relaxed))
    }
}

pub(super) struct State {
    pub(super) queue: VecDeque<usize>,
    pub(super) failures: Vec<u32>,
    pub(super) failed_on: Vec<HashSet<String>>,
    pub(super) manifest: Manifest,
    pub(super) running: HashMap<usize, Vec<Attempt>>,
    /// Chunks a slot took ahead (uploading while it encodes another).
    pub(super) reserved: usize,
    pub(super) next_id: u64,
    pub(super) strikes: HashMap<String, u32>,
    /// Live workers and their slot counts.
    pub(super) live: HashMap<String, usize>,
    /// Per worker: the plan cost of the chunks it finished and the seconds they took.
    pub(super) speed: HashMap<String, (f64, f64)>,
    pub(super) reserve: HashSet<String>,
    pub(super) error: Option<String>,
    /// Workers still connecting (they may join later).
    pub(super) pending: usize,
    /// Slots that have joined (the reserve not counted), and encodes started.
    pub(super) joined: usize,
    pub(super) dispatches: usize,
    /// The error that dropped the last worker lost, for the message when none is left.
    pub(super) last_loss: Option<String>,
}

impl State {
    pub(super) fn idle(&self) -> bool {
        self.queue.is_empty() && self.running.is_empty() && self.reserved == 0
    }

    pub(super) fn start(&mut self, k: usize, worker: &str, parent: &CancellationToken) -> Attempt {
        self.next_id += 1;
        let a = Attempt {
            id: self.next_id,
            worker: worker.to_string(),
            cancel: parent.child_token(),
            started: Instant::now(),
            collecting: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(AtomicU64::new(0f64.to_bits())),
        };
        self.running.entry(k).or_default().push(a.clone());
        a
    }

    /// Whether an SSH worker (or one still connecting) can take chunks: until none can, the
    /// reserve (local fallback) waits.
    pub(super) fn primary_alive(&self) -> bool {
        self.pending > 0 || self.live.keys().any(|w| !self.reserve.contains(w))
    }

    /// Every worker has answered and as many encodes have started as there are slots, or
    /// nothing is left to start.
    pub(super) fn all_busy(&self) -> bool {
        self.pending == 0 && (self.dispatches >= self.joined || self.queue.is_empty())
    }

    /// No worker is left and none is still connecting: the job cannot go on.
    pub(super) fn check_orphaned(&mut self) {
        if self.live.is_empty() && self.pending == 0 && self.error.is_none() && !self.idle() {
            self.error = Some(match &self.last_loss {
                Some(e) => format!(
                    "all workers failed (the finished chunks are kept for a rerun); last error on {e}"
                ),
                None => "no worker is left to encode the remaining chunks".to_string(),
            });
        }
    }

    /// Seconds per unit of plan cost on this worker, or on all workers while it has finished
    /// nothing.
    pub(super) fn secs_per_cost(&self, label: &str) -> Option<f64> {
        let (cost, secs) = match self.speed.get(label) {
            Some(&mine) => mine,
            None => self
                .speed
                .values()
                .fold((0.0, 0.0), |(c, s), &(c2, s2)| (c + c2, s + s2)),
        };
        (cost > 0.0).then(|| secs / cost)
    }

    /// Position in the queue of the next chunk this worker may take.
    pub(super) fn next_for(&self, label: &str) -> Option<usize> {
        let others_alive = self.live.len() > 1;
        self.queue
            .iter()
            .position(|&k| !self.failed_on[k].contains(label) || !others_alive)
    }
}
