//! The job's workers: the SSH workers are connected while the job is planned; the local
//! slots and the first SSH worker to answer start the job, the others join the scheduler as
//! they answer (a slow or unreachable machine holds nobody up), and every worker that joined is
//! cleaned up at the end.

use super::{refresh, Env, Prepared};
use crate::job::JobSpec;
use crate::schedule::core::WorkerId;
use crate::schedule::{Joining, Slot};
use crate::workdir;
use crate::worker::{pool, Worker};
use anyhow::Result;
use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The job's id: names its local work dir (stable across runs, for resuming).
fn job_id(job: &JobSpec) -> String {
    let inputs: Vec<PathBuf> = job
        .cmd
        .inputs
        .iter()
        .map(|i| {
            let p = Path::new(crate::job::local_path(&i.url).unwrap_or(&i.url));
            std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
        })
        .collect();
    let mut argv = job.cmd.identity_argv();
    for other in &job.others {
        // each output's own command: the whole command is in them
        argv.extend(other.cmd.identity_argv());
    }
    workdir::job_id(&argv, &inputs)
}

/// SSH workers being connected and probed while the job is planned.
pub struct Probing {
    /// The job's id (names the local work dir and, with the pid, the remote ones).
    pub id: String,
    /// Each configured SSH worker's label and slot count, in config order.
    workers: Vec<(String, usize)>,
    /// Their outcomes (with their index in `workers`), as each one answers.
    rx: mpsc::UnboundedReceiver<(usize, pool::Probed)>,
    /// Cancelled when the job no longer waits for workers still connecting.
    give_up: CancellationToken,
    /// What the job asks of each worker.
    needs: pool::Needs,
}

/// Starts connecting to every configured SSH worker (their per-run dirs are created).
pub fn start_probing(prepared: &Prepared) -> Probing {
    let Prepared { spec: job, env } = prepared;
    let id = job_id(job);
    let specs = pool::specs(&env.config);
    let workers = specs
        .iter()
        .map(|s| (s.target.label.clone(), s.slots))
        .collect();
    let give_up = CancellationToken::new();
    let needs = pool::Needs {
        encoder: (job.encoder.iter())
            .chain(job.others.iter().flat_map(|o| &o.encoder))
            .cloned()
            .reduce(|all, e| format!("{all} {e}")),
        fonts: env.fonts.clone(),
    };
    let rx = pool::probe_each(
        specs,
        &crate::worker::ssh::probe::job_dir_name(&id),
        &needs,
        &give_up,
    );
    Probing {
        id,
        workers,
        rx,
        give_up,
        needs,
    }
}

/// Closes the workers of a probing that will not be used (their per-run dirs are removed):
/// the ones still connecting give up, the connected ones are cleaned up.
pub async fn abandon(mut probing: Probing) {
    probing.give_up.cancel();
    let mut usable = Vec::new();
    while let Some((_, p)) = probing.rx.recv().await {
        if let Ok((w, _)) = p.result {
            usable.push(Arc::new(w) as Arc<dyn Worker>);
        }
    }
    cleanup(usable.into_iter()).await;
}

/// Removes the workers' per-run dirs, all at once, each bounded: a hung connection must not
/// hold up the exit.
pub async fn cleanup(workers: impl Iterator<Item = Arc<dyn Worker>>) {
    let mut set = tokio::task::JoinSet::new();
    for w in workers {
        set.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), w.cleanup()).await;
        });
    }
    while set.join_next().await.is_some() {}
}

/// How the job starts.
pub struct Start {
    /// Every configured slot's label, in slot-id order (for the progress display).
    pub labels: Vec<String>,
    /// The slots that start the job.
    pub first: Vec<Slot>,
    /// SSH workers still connecting when the job starts.
    pub pending: usize,
    /// Where the others arrive.
    pub joining: mpsc::UnboundedReceiver<Joining>,
}

/// The workers of a running job, for the cleanup.
pub struct Crew {
    joined: Arc<Mutex<Vec<Arc<dyn Worker>>>>,
    forwarder: tokio::task::JoinHandle<()>,
    /// The inventory's watch (`refresh`), with `workers_command` and `workers_refresh`.
    watch: Option<tokio::task::JoinHandle<()>>,
    give_up: CancellationToken,
}

/// A worker's slots, numbered from `first_id`; SSH workers are numbered in config order, the
/// local slots come after them.
pub(super) fn slots_of(m: &pool::PoolMember, worker_id: WorkerId, first_id: usize) -> Vec<Slot> {
    (0..m.slots)
        .map(|i| Slot {
            id: first_id + i,
            worker: m.worker.clone(),
            worker_id,
            reserve: m.reserve,
        })
        .collect()
}

/// Waits until a slot can start (local slots at once; else the first usable SSH worker, or
/// the local fallback once none is left), and forwards the other workers as they answer.
pub async fn gather(
    mut probing: Probing,
    env: &Env,
    local_dir: PathBuf,
    cancel: &CancellationToken,
) -> Result<(Start, Crew)> {
    let config = &env.config;
    let local_ffmpeg = PathBuf::from(&env.tools.ffmpeg);
    let workers = probing.workers.clone();
    let mut offsets = Vec::with_capacity(workers.len());
    let mut labels = Vec::new();
    for (label, n) in &workers {
        offsets.push(labels.len());
        labels.extend(std::iter::repeat_n(label.clone(), *n));
    }
    let local = match pool::local_member(config, !workers.is_empty(), local_ffmpeg, local_dir).await
    {
        Ok(local) => local,
        Err(e) => {
            abandon(probing).await;
            return Err(e);
        }
    };
    let joined: Arc<Mutex<Vec<Arc<dyn Worker>>>> = Arc::default();
    let mut first = Vec::new();
    if let Some(m) = &local {
        first = slots_of(m, WorkerId(workers.len()), labels.len());
        labels.extend(std::iter::repeat_n(m.worker.label().to_string(), m.slots));
        joined.lock().unwrap().push(m.worker.clone());
    }
    let mut answered = 0;
    let mut usable = false;
    while !usable && local.as_ref().is_none_or(|m| m.reserve) {
        let next = tokio::select! {
            n = probing.rx.recv() => n,
            _ = cancel.cancelled() => {
                abandon(probing).await;
                anyhow::bail!("interrupted");
            }
        };
        let Some((i, probed)) = next else {
            break;
        };
        answered += 1;
        if let Some(m) = pool::admit(probed, &probing.needs).await {
            first.extend(slots_of(&m, WorkerId(i), offsets[i]));
            joined.lock().unwrap().push(m.worker.clone());
            usable = true;
        }
    }
    if first.is_empty() {
        anyhow::bail!(pool::no_worker(workers.len()));
    }
    let Probing {
        mut rx,
        give_up,
        id,
        needs,
        ..
    } = probing;
    let (tx, joining) = mpsc::unbounded_channel();
    let watch =
        (config.workers_refresh > 0 && !config.workers_command.trim().is_empty()).then(|| {
            let mut base = config.clone();
            base.workers.truncate(env.static_workers);
            let watch = refresh::Watch {
                base,
                every: Duration::from_secs(config.workers_refresh),
                job_dir: crate::worker::ssh::probe::job_dir_name(&id),
                needs: needs.clone(),
                known: workers.iter().map(|(l, _)| l.clone()).collect(),
                next_slot: labels.len(),
                tx: tx.clone(),
                joined: joined.clone(),
            };
            refresh::spawn(watch, give_up.clone())
        });
    let forwarder = {
        let joined = joined.clone();
        tokio::spawn(async move {
            while let Some((i, probed)) = rx.recv().await {
                let news = match pool::admit(probed, &needs).await {
                    Some(m) => {
                        tracing::debug!("worker {} joined the running job", m.worker.label());
                        joined.lock().unwrap().push(m.worker.clone());
                        Joining::Slots(slots_of(&m, WorkerId(i), offsets[i]))
                    }
                    None => Joining::Skipped,
                };
                // the scheduler may be done; the worker is cleaned up with the others
                let _ = tx.send(news);
            }
        })
    };
    let start = Start {
        labels,
        first,
        pending: workers.len() - answered,
        joining,
    };
    let crew = Crew {
        joined,
        forwarder,
        watch,
        give_up,
    };
    Ok((start, crew))
}

impl Crew {
    /// Stops waiting for workers still connecting (the ones already connected are probed to
    /// the end) and returns every worker that joined.
    pub async fn disband(self) -> Vec<Arc<dyn Worker>> {
        self.give_up.cancel();
        let _ = self.forwarder.await;
        if let Some(w) = self.watch {
            let _ = w.await;
        }
        std::mem::take(&mut *self.joined.lock().unwrap())
    }
}
