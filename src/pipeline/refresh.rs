//! Workers from `workers_command` while a job runs: the command is read again every
//! `workers_refresh` seconds; workers that appear are connected and join the running job,
//! workers that disappear leave it (they take no more chunks; their chunks in flight finish
//! or go elsewhere). A failed read keeps the last list.

use super::crew::slots_of;
use crate::config::Config;
use crate::schedule::core::WorkerId;
use crate::schedule::Joining;
use crate::worker::{pool, Worker};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// What the watch reads and where the workers it finds go.
pub struct Watch {
    /// The config with its static workers only (the command's are read anew each time).
    pub base: Config,
    pub every: Duration,
    /// The name of the job's dir on each worker.
    pub job_dir: String,
    pub needs: pool::Needs,
    /// The workers of the job so far, by `WorkerId` (the local slots are the next id).
    pub known: Vec<String>,
    /// The first free slot id.
    pub next_slot: usize,
    pub tx: UnboundedSender<Joining>,
    /// Every worker that joined, for the cleanup.
    pub joined: Arc<Mutex<Vec<Arc<dyn Worker>>>>,
}

/// Watches the inventory until `give_up`.
pub fn spawn(w: Watch, give_up: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut known: HashMap<String, WorkerId> = w
            .known
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), WorkerId(i)))
            .collect();
        let mut next_id = w.known.len() + 1;
        let mut next_slot = w.next_slot;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(w.every) => {}
                _ = give_up.cancelled() => return,
            }
            let config = match crate::inventory::with_inventory(&w.base).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("{e:#}; the job keeps its workers");
                    continue;
                }
            };
            let specs = pool::specs(&config);
            let gone: Vec<String> = known
                .keys()
                .filter(|l| !specs.iter().any(|s| &s.target.label == *l))
                .cloned()
                .collect();
            for label in gone {
                let id = known.remove(&label).expect("a known worker");
                tracing::info!("worker {label} left the inventory: it takes no more chunks");
                let _ = w.tx.send(Joining::Left(id));
            }
            let new: Vec<_> = specs
                .into_iter()
                .filter(|s| !known.contains_key(&s.target.label))
                .collect();
            let ids: Vec<WorkerId> = (next_id..next_id + new.len()).map(WorkerId).collect();
            next_id += new.len();
            let labels: Vec<String> = new.iter().map(|s| s.target.label.clone()).collect();
            let mut rx = pool::probe_each(new, &w.job_dir, &w.needs, &give_up);
            while let Some((i, probed)) = rx.recv().await {
                // one that cannot be used now is tried again at the next read
                let Some(m) = pool::admit(probed, &w.needs).await else {
                    continue;
                };
                tracing::info!(
                    "worker {} joined the running job from the inventory",
                    labels[i]
                );
                known.insert(labels[i].clone(), ids[i]);
                w.joined.lock().unwrap().push(m.worker.clone());
                let slots = slots_of(&m, ids[i], next_slot);
                next_slot += slots.len();
                // the scheduler may be done; the worker is cleaned up with the others
                let _ = w.tx.send(Joining::Added(slots));
            }
        }
    })
}
