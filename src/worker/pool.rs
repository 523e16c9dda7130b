//! The worker pool of a job: every configured SSH worker is probed in parallel (connect,
//! host key, auth, ffmpeg, encoder) and joins the job as soon as it answers; the ones that
//! fail are skipped with one warning line each; local slots are added as configured.

use super::local::LocalWorker;
use super::ssh::target::{home_dir, load_ssh_config, worker_specs, WorkerSpec};
use super::ssh::{Capabilities, OpenError, SshWorker};
use super::Worker;
use crate::config::Config;
use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A usable worker and its number of slots.
pub struct PoolMember {
    pub worker: Arc<dyn Worker>,
    pub slots: usize,
    pub caps: Option<Capabilities>,
    /// Local fallback: used only when every SSH worker is gone.
    pub reserve: bool,
}

/// What a job asks of an SSH worker besides running ffmpeg.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// The video encoders, separated by spaces (None: the muxer's default, which every ffmpeg
    /// has).
    pub encoder: Option<String>,
    /// Subtitles are burned in: fontconfig's font listing here (`worker::fonts`), which the
    /// worker's must equal; an empty listing (none could be made here) admits no SSH worker.
    pub fonts: Option<String>,
}

/// The outcome of probing one configured SSH worker.
pub struct Probed {
    pub spec: WorkerSpec,
    pub result: Result<(SshWorker, Capabilities), OpenError>,
}

/// The configured SSH workers, in config order (duplicate entries merged into slots).
pub fn specs(config: &Config) -> Vec<WorkerSpec> {
    let home = home_dir();
    let ssh = load_ssh_config(&home);
    worker_specs(config, &home, ssh.as_ref())
}

/// Connects to these workers at once; each one's outcome arrives, with its index in `specs`,
/// as soon as it is known. The channel closes when every worker has answered. Once `give_up`
/// is cancelled, workers not yet connected stop trying and send nothing.
pub fn probe_each(
    specs: Vec<WorkerSpec>,
    job_dir: &str,
    needs: &Needs,
    give_up: &CancellationToken,
) -> mpsc::UnboundedReceiver<(usize, Probed)> {
    let (tx, rx) = mpsc::unbounded_channel();
    for (i, spec) in specs.into_iter().enumerate() {
        let (tx, job_dir) = (tx.clone(), job_dir.to_string());
        let encoder = needs.encoder.clone();
        let fonts = needs.fonts.is_some();
        let give_up = give_up.clone();
        tokio::spawn(async move {
            let r = SshWorker::open(
                &spec.target,
                spec.platform,
                &spec.ffmpeg,
                &spec.work_path,
                &job_dir,
                encoder.as_deref(),
                &give_up,
            )
            .await
            .map(|(w, caps)| (w.leasing(spec.slots), caps));
            let r = match r {
                Ok((w, mut caps)) if fonts => {
                    caps.fonts = w.fonts().await;
                    Ok((w, caps))
                }
                r => r,
            };
            if r.is_err() && give_up.is_cancelled() {
                return;
            }
            let probed = Probed { spec, result: r };
            if let Err(mpsc::error::SendError((_, p))) = tx.send((i, probed)) {
                // nobody waits any more: leave nothing behind on the worker
                if let Ok((w, _)) = p.result {
                    let _ = w.cleanup().await;
                }
            }
        });
    }
    rx
}

/// Connects to every configured SSH worker at once and waits for all of them.
pub async fn probe_all(config: &Config, job_dir: &str, needs: &Needs) -> Vec<Probed> {
    let mut rx = probe_each(specs(config), job_dir, needs, &CancellationToken::new());
    let mut out: Vec<(usize, Probed)> = Vec::new();
    while let Some(p) = rx.recv().await {
        out.push(p);
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, p)| p).collect()
}

/// The pool member a probed SSH worker makes, or None (with a warning) when it cannot encode
/// this job.
pub async fn admit(p: Probed, needs: &Needs) -> Option<PoolMember> {
    let fonts_differ = |caps: &Capabilities| {
        (needs.fonts.as_ref())
            .is_some_and(|here| here.is_empty() || caps.fonts.as_ref() != Some(here))
    };
    match p.result {
        Ok((w, caps)) if caps.has_encoder && !fonts_differ(&caps) => Some(PoolMember {
            worker: Arc::new(w),
            slots: p.spec.slots,
            caps: Some(caps),
            reserve: false,
        }),
        Ok((w, caps)) => {
            let label = &p.spec.target.label;
            if !caps.has_encoder {
                let e = needs.encoder.as_deref().unwrap_or("?");
                let what = match e.contains(' ') {
                    true => "one of the encoders",
                    false => "encoder",
                };
                tracing::warn!("skipping worker {label}: its ffmpeg has no {what} {e}");
            } else if needs.fonts.as_ref().is_some_and(String::is_empty) {
                tracing::warn!(
                    "skipping worker {label}: text is drawn (subtitles, drawtext) and fontconfig's fonts cannot be listed here (fc-list)"
                );
            } else {
                tracing::warn!(
                    "skipping worker {label}: text is drawn (subtitles, drawtext) and its fonts or text-rendering libraries differ from this machine's (fc-list, ldd)"
                );
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), w.cleanup()).await;
            None
        }
        Err(e) => {
            tracing::warn!("skipping worker {e}");
            None
        }
    }
}

/// The local slots: as many as configured, or a reserve (`fallback_local`) used only when
/// every SSH worker is gone; None when neither is configured.
pub async fn local_member(
    config: &Config,
    ssh_configured: bool,
    local_ffmpeg: PathBuf,
    local_dir: PathBuf,
) -> Result<Option<PoolMember>> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let local_slots = config.local_slot_count(cores);
    if local_slots == 0 && !config.fallback_local {
        return Ok(None);
    }
    let local: Arc<dyn Worker> = Arc::new(LocalWorker::new(local_ffmpeg, local_dir));
    local.prepare().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let reserve = local_slots == 0 && ssh_configured;
    if reserve {
        tracing::info!("fallback_local: the local machine encodes if every SSH worker is lost");
    }
    Ok(Some(PoolMember {
        worker: local,
        slots: local_slots.max((cores / 8).max(1)),
        caps: None,
        reserve,
    }))
}

/// The error when no worker at all can take a chunk.
pub fn no_worker(configured: usize) -> anyhow::Error {
    if configured == 0 {
        return anyhow::anyhow!("no worker: no SSH worker is configured and local_slots is 0");
    }
    anyhow::anyhow!(
        "no usable worker: all {configured} configured SSH worker(s) were skipped (see the warnings above) and local_slots is 0"
    )
}
