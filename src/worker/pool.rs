//! The worker pool of a job: every configured SSH worker is probed in parallel (connect,
//! host key, auth, ffmpeg, encoder); the ones that fail are skipped with one warning line each;
//! local slots are added as configured. At least one slot must remain.

use super::local::LocalWorker;
use super::ssh::target::{home_dir, load_ssh_config, worker_specs, WorkerSpec};
use super::ssh::{Capabilities, SshWorker};
use super::Worker;
use crate::config::Config;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// A usable worker and its number of slots.
pub struct PoolMember {
    pub worker: Arc<dyn Worker>,
    pub slots: usize,
    pub caps: Option<Capabilities>,
    /// Local fallback: used only when every SSH worker is gone.
    pub reserve: bool,
}

/// The outcome of probing one configured SSH worker.
pub struct Probed {
    pub spec: WorkerSpec,
    pub result: Result<(SshWorker, Capabilities), String>,
}

/// Connects to every configured SSH worker at once.
pub async fn probe_all(config: &Config, job_dir: &str, encoder: Option<&str>) -> Vec<Probed> {
    let home = home_dir();
    let ssh = load_ssh_config(&home);
    let specs = worker_specs(config, &home, ssh.as_ref());
    let mut set = tokio::task::JoinSet::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let job_dir = job_dir.to_string();
        let encoder = encoder.map(str::to_string);
        set.spawn(async move {
            let r = SshWorker::open(
                &spec.target,
                spec.platform,
                &spec.ffmpeg,
                &spec.work_path,
                &job_dir,
                encoder.as_deref(),
            )
            .await;
            (i, Probed { spec, result: r })
        });
    }
    let mut out: Vec<(usize, Probed)> = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(p) = r {
            out.push(p);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, p)| p).collect()
}

/// Builds the pool for a job from its probed SSH workers and the configured local slots.
pub async fn build(
    probed: Vec<Probed>,
    config: &Config,
    encoder: Option<&str>,
    local_ffmpeg: PathBuf,
    local_dir: PathBuf,
) -> Result<Vec<PoolMember>> {
    let mut members = Vec::new();
    let configured = probed.len();
    for p in probed {
        match p.result {
            Ok((w, caps)) if caps.has_encoder => members.push(PoolMember {
                worker: Arc::new(w),
                slots: p.spec.slots,
                caps: Some(caps),
                reserve: false,
            }),
            Ok((w, _)) => {
                tracing::warn!(
                    "skipping worker {}: its ffmpeg has no encoder {}",
                    p.spec.target.label,
                    encoder.unwrap_or("?")
                );
                let _ = w.cleanup().await;
            }
            Err(e) => tracing::warn!("skipping worker {e}"),
        }
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let local_slots = config.local_slot_count(cores);
    if local_slots > 0 || config.fallback_local {
        let local: Arc<dyn Worker> = Arc::new(LocalWorker::new(local_ffmpeg, local_dir));
        local.prepare().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let reserve = local_slots == 0 && !members.is_empty();
        if reserve {
            tracing::info!("fallback_local: the local machine encodes if every SSH worker is lost");
        }
        members.push(PoolMember {
            worker: local,
            slots: local_slots.max((cores / 8).max(1)),
            caps: None,
            reserve,
        });
    }
    if members.is_empty() && configured == 0 {
        bail!("no worker: no SSH worker is configured and local_slots is 0");
    }
    if members.is_empty() {
        bail!(
            "no usable worker: all {configured} configured SSH worker(s) were skipped (see the warnings above) and local_slots is 0"
        );
    }
    Ok(members)
}
