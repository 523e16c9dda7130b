//! Running a distributed job end to end: packet index, plan, work dir, workers, scheduler,
//! assembly, cleanup. Everything here is effects; the decisions were made in `job` and `plan`.

use crate::assemble;
use crate::config::Config;
use crate::job::JobSpec;
use crate::plan::{self, Plan, PlanInput, Sizing};
use crate::probe::{self, Packet};
use crate::progress::{self, Event, ReporterOptions};
use crate::schedule::{Scheduler, Slot};
use crate::split::Splitter;
use crate::workdir::{self, WorkDir};
use crate::worker::local::LocalWorker;
use crate::worker::Worker;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Programs and settings the run needs besides the job.
pub struct RunEnv {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    pub config: Config,
    pub stats: bool,
}

/// The source's packet index and the plan for a job.
pub struct Planned {
    pub packets: Arc<Vec<Packet>>,
    pub plan: Arc<Plan>,
}

pub fn source_path(job: &JobSpec) -> &str {
    crate::job::local_path(&job.cmd.inputs[job.src_file].url).unwrap_or_default()
}

/// Reads the packet index and plans the chunks.
pub async fn plan_job(job: &JobSpec, env: &RunEnv, slots: usize) -> Result<Planned> {
    let src = source_path(job);
    let demux: Vec<String> = job.demux_opts.iter().flat_map(|o| o.tokens()).collect();
    let packets =
        probe::probe_packets(&env.ffprobe.to_string_lossy(), src, job.src_stream, &demux).await?;
    let tb = job.sync.filter_tb;
    let frames = packets.len();
    let c = &env.config;
    let sizing = Sizing::for_job(c.segment_frames, c.keyint_min, c.keyint_max, frames, slots);
    let plan = plan::plan(&PlanInput {
        packets: &packets,
        stream_tb: tb,
        trims: job.trims,
        sync: job.sync,
        sizing,
    })
    .with_context(|| format!("{src}: cannot plan the video"))?;
    Ok(Planned {
        packets: Arc::new(packets),
        plan: Arc::new(plan),
    })
}

/// Runs the planned job; on success the output is in place and the work dir is gone.
pub async fn execute(
    job: JobSpec,
    planned: Planned,
    env: &RunEnv,
    cancel: CancellationToken,
) -> Result<()> {
    let job = Arc::new(job);
    let src = source_path(&job).to_string();
    let argv = job.cmd.to_ffmpeg_argv();
    let base = if env.config.work_dir.is_empty() {
        workdir::default_base()
    } else {
        PathBuf::from(&env.config.work_dir)
    };
    let inputs: Vec<&Path> = job
        .cmd
        .inputs
        .iter()
        .map(|i| Path::new(i.url.as_str()))
        .collect();
    let wd = WorkDir::open(&base, &workdir::job_id(&argv, &inputs))
        .with_context(|| format!("cannot create the work dir under {}", base.display()))?;
    let result = run_in(job, planned, env, &wd, &src, cancel).await;
    if result.is_ok() {
        let _ = wd.remove();
    }
    result
}

async fn run_in(
    job: Arc<JobSpec>,
    planned: Planned,
    env: &RunEnv,
    wd: &WorkDir,
    src: &str,
    cancel: CancellationToken,
) -> Result<()> {
    let ffmpeg = env.ffmpeg.to_string_lossy().into_owned();
    let ffprobe = env.ffprobe.to_string_lossy().into_owned();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let local_slots = env.config.local_slot_count(cores).max(1);
    let local: Arc<dyn Worker> = Arc::new(LocalWorker::new(env.ffmpeg.clone(), wd.file("local")));
    local.prepare().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let slots: Vec<Slot> = (0..local_slots)
        .map(|id| Slot {
            id,
            worker: local.clone(),
        })
        .collect();
    let labels: Vec<String> = slots.iter().map(|s| s.worker.label().to_string()).collect();
    let (tx, rx) = mpsc::unbounded_channel();
    let reporter = progress::spawn_reporter(
        rx,
        ReporterOptions {
            stats: env.stats,
            interval: Duration::from_secs(2),
        },
    );
    let plan = planned.plan.clone();
    let _ = tx.send(Event::Planned {
        chunks: plan.chunks.len(),
        frames: plan.output_frames,
        slots: labels,
    });
    let chunks = Arc::new(plan.chunks.clone());
    let splitter = Arc::new(Splitter::new(
        job.clone(),
        chunks,
        planned.packets.clone(),
        job.sync.filter_tb,
        src.to_string(),
        ffmpeg.clone(),
        ffprobe.clone(),
        wd.clone(),
        slots.len() + 2,
    ));
    let sched = Arc::new(Scheduler::new(
        job.clone(),
        plan.clone(),
        splitter,
        wd.clone(),
        ffprobe.clone(),
        env.config.job_max_retries,
        tx.clone(),
        cancel.clone(),
        vec![None; plan.chunks.len()],
    ));
    let encoded = sched.run(slots).await;
    let _ = local.cleanup().await;
    let encoded = encoded?;
    let _ = tx.send(Event::Muxing);
    let first_out = plan.chunks[0].out_pts[0];
    assemble::assemble(
        &job,
        &encoded,
        first_out,
        plan.output_frames,
        wd,
        &ffmpeg,
        &ffprobe,
    )
    .await?;
    let _ = tx.send(Event::Finished);
    drop(tx);
    let _ = reporter.await;
    Ok(())
}
