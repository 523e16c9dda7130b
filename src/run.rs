//! Running a distributed job end to end: packet index, plan, work dir, workers, scheduler,
//! assembly, cleanup. Everything here is effects; the decisions were made in `job` and `plan`.

use crate::assemble;
use crate::commands::audio::AudioDone;
use crate::config::Config;
use crate::job::JobSpec;
use crate::logging::Sink;
use crate::plan::{self, Plan, PlanInput, Sizing};
use crate::probe::{self, Packet};
use crate::progress::{self, Display, Event, Events, ReporterOptions};
use crate::resume;
use crate::schedule::{Parts, Scheduler};
use crate::split::Splitter;
use crate::twopass;
use crate::workdir::{self, WorkDir};
use crate::worker::{pool, Worker};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod crew;

/// Programs and settings the run needs besides the job.
pub struct RunEnv {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    pub config: Config,
    pub display: Display,
    /// The user's `-progress` target (any URL `progress::url` opens).
    pub progress_url: Option<String>,
    pub sink: Sink,
    /// When distrffmpeg started (for the timing lines at debug level).
    pub started: Instant,
    /// ffmpeg's banner, printed once the job is sure to distribute (stderr not a terminal).
    pub banner: Option<String>,
    /// Cancelled by `q` on stdin: finish the output with the chunks done so far.
    pub quit: CancellationToken,
}

/// The source's packet index and the plan for a job.
pub struct Planned {
    pub packets: Arc<Vec<Packet>>,
    pub plan: Arc<Plan>,
}

pub fn source_path(job: &JobSpec) -> &str {
    crate::job::local_path(&job.cmd.inputs[job.src_file].url).unwrap_or_default()
}

/// Pass 2 without distrffmpeg's pass-1 statistics: pass 1 ran through plain ffmpeg, whose own
/// log plain ffmpeg's pass 2 reads (a reason to pass through).
#[derive(Debug, thiserror::Error)]
#[error("-pass 2 without distrffmpeg's pass-1 statistics ({0}): pass 1 ran through plain ffmpeg")]
pub struct NoPass1(String);

/// Pass 2 reuses pass 1's chunks: their cuts, checked against this command.
pub fn pass1_cuts(job: &JobSpec) -> Result<Option<Vec<usize>>> {
    let Some(tp) = job.two_pass.as_ref().filter(|tp| tp.pass == 2) else {
        return Ok(None);
    };
    if !tp.stored() {
        return Err(NoPass1(tp.store.display().to_string()).into());
    }
    let stored = tp.load().with_context(|| {
        format!(
            "no pass-1 statistics in {}: run pass 1 through distrffmpeg first",
            tp.store.display()
        )
    })?;
    if stored.fingerprint != twopass::fingerprint(job, Path::new(source_path(job))) {
        anyhow::bail!(
            "the pass-1 statistics in {} were made for another input or other options; run pass 1 again",
            tp.store.display()
        );
    }
    Ok(Some(stored.cuts))
}

pub async fn plan_job(
    job: &JobSpec,
    env: &RunEnv,
    slots: usize,
    cuts: Option<&[usize]>,
) -> Result<Planned> {
    let src = source_path(job);
    let demux: Vec<String> = job.demux_opts.iter().flat_map(|o| o.tokens()).collect();
    let t0 = Instant::now();
    let packets =
        probe::probe_packets(&env.ffprobe.to_string_lossy(), src, job.src_stream, &demux).await?;
    let read = t0.elapsed().as_secs_f64();
    let tb = job.sync.in_tb;
    let c = &env.config;
    let sizing = Sizing::new(c.segment_frames, c.keyint_min, c.keyint_max, slots);
    let plan = plan::plan(&PlanInput {
        packets: &packets,
        stream_tb: tb,
        trims: job.trims,
        sync: job.sync,
        sizing,
        base_cost: plan::base_cost(job.src_size.0, job.src_size.1),
        cuts,
        window: job.window,
        keyframes: job.keyframes.as_ref(),
    })
    .with_context(|| format!("{src}: cannot plan the video"))?;
    if let Some(n) = job.sync.max_frames {
        // fftools' need_output closes every stream of the file when the video reaches its
        // cap, but only once the streams before the video are finished
        let streams_after = job.video_out + 1 < job.out_streams.len();
        if streams_after && plan.output_frames as i64 >= n {
            anyhow::bail!(
                "-frames:v {n} stops the video before its end, and ffmpeg then stops the \
                 streams mapped after it where its decoder's delay puts them"
            );
        }
    }
    tracing::debug!(
        "timing: packet index of {} packets read in {read:.3}s, planned {} chunks in {:.3}s",
        packets.len(),
        plan.chunks.len(),
        t0.elapsed().as_secs_f64() - read
    );
    Ok(Planned {
        packets: Arc::new(packets),
        plan: Arc::new(plan),
    })
}

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
    workdir::job_id(&job.cmd.identity_argv(), &inputs)
}

/// SSH workers being connected and probed while the job is planned.
pub struct Probing {
    /// The job's id (names the local work dir and, with the pid, the remote ones).
    id: String,
    /// Each configured SSH worker's label and slot count, in config order.
    workers: Vec<(String, usize)>,
    /// Their outcomes (with their index in `workers`), as each one answers.
    rx: mpsc::UnboundedReceiver<(usize, pool::Probed)>,
    /// Cancelled when the job no longer waits for workers still connecting.
    give_up: CancellationToken,
}

/// Starts connecting to every configured SSH worker (their per-run dirs are created).
pub fn start_probing(job: &JobSpec, env: &RunEnv) -> Probing {
    let id = job_id(job);
    let specs = pool::specs(&env.config);
    let workers = specs
        .iter()
        .map(|s| (s.target.label.clone(), s.slots))
        .collect();
    let give_up = CancellationToken::new();
    let rx = pool::probe_each(
        specs,
        &crate::worker::ssh::probe::job_dir_name(&id),
        job.encoder.as_deref(),
        &give_up,
    );
    Probing {
        id,
        workers,
        rx,
        give_up,
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
async fn cleanup(workers: impl Iterator<Item = Arc<dyn Worker>>) {
    let mut set = tokio::task::JoinSet::new();
    for w in workers {
        set.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), w.cleanup()).await;
        });
    }
    while set.join_next().await.is_some() {}
}

/// The job's local work dir, emptied first when resuming is off; the temp output a killed
/// earlier run of this job left (recorded in the work dir) is removed first.
fn open_workdir(base: &Path, id: &str, resume: bool, out: &Path) -> Result<WorkDir> {
    let wd = WorkDir::open(base, id)?;
    crate::assemble::output::remove_stale(out, &wd);
    if resume {
        return Ok(wd);
    }
    wd.remove()
        .with_context(|| format!("cannot remove {}", wd.root.display()))?;
    drop(wd);
    Ok(WorkDir::open(base, id)?)
}

/// Runs the planned job; on success the output is in place and the work dir is gone.
pub async fn execute(
    job: JobSpec,
    planned: Planned,
    env: &RunEnv,
    probing: Probing,
    cancel: CancellationToken,
) -> Result<()> {
    let job = Arc::new(job);
    let src = source_path(&job).to_string();
    let base = workdir::jobs_base(&env.config.work_dir);
    let id = probing.id.clone();
    let stale = workdir::remove_stale(&base);
    if stale > 0 {
        tracing::debug!("removed {stale} work dir(s) of runs older than a week");
    }
    let wd = match open_workdir(&base, &id, env.config.resume, Path::new(&job.output)) {
        Ok(wd) => wd,
        Err(e) => {
            abandon(probing).await;
            return Err(e);
        }
    };
    let result = run_in(job, planned, env, &wd, &src, probing, cancel).await;
    if result.is_ok() {
        let _ = wd.remove();
    }
    result
}

/// Slots configured for a job (SSH worker slots plus local slots), before any connection.
pub fn configured_slots(config: &Config) -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let ssh: usize = config.workers.iter().map(|w| w.slots.unwrap_or(1)).sum();
    (ssh + config.local_slot_count(cores)).max(1)
}

/// A background task that must not outlive its scope.
struct AbortOnDrop<T = ()>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one run shares between its steps.
struct Ctx<'a> {
    job: Arc<JobSpec>,
    env: &'a RunEnv,
    wd: &'a WorkDir,
    src: &'a str,
    ffmpeg: String,
    ffprobe: String,
    splitter: Arc<Splitter>,
}

async fn run_in(
    job: Arc<JobSpec>,
    planned: Planned,
    env: &RunEnv,
    wd: &WorkDir,
    src: &str,
    probing: Probing,
    cancel: CancellationToken,
) -> Result<()> {
    let ffmpeg = env.ffmpeg.to_string_lossy().into_owned();
    let ffprobe = env.ffprobe.to_string_lossy().into_owned();
    let plan = planned.plan.clone();
    let splitter = Arc::new(Splitter::new(
        job.clone(),
        Arc::new(plan.chunks.clone()),
        planned.packets.clone(),
        job.sync.in_tb,
        src.to_string(),
        ffmpeg.clone(),
        ffprobe.clone(),
        wd.clone(),
        configured_slots(&env.config) + 2,
    ));
    // The first chunks are split while the workers are still being connected.
    let warm_up = {
        let done = resume::Manifest::load(wd)
            .map(|m| m.chunks)
            .unwrap_or_default();
        let first: Vec<usize> = crate::schedule::dispatch_order(&plan)
            .into_iter()
            .filter(|&k| done.get(k).is_none_or(Option::is_none))
            .take(configured_slots(&env.config))
            .collect();
        AbortOnDrop(tokio::spawn(splitter.clone().warm_up(first)))
    };
    let (start, crew) = crew::gather(
        probing,
        &env.config,
        job.encoder.as_deref(),
        env.ffmpeg.clone(),
        wd.file("local"),
        &cancel,
    )
    .await?;
    tracing::debug!(
        "timing: first worker ready after {:.3}s ({} still connecting)",
        env.started.elapsed().as_secs_f64(),
        start.pending
    );
    let ctx = Ctx {
        job,
        env,
        wd,
        src,
        ffmpeg,
        ffprobe,
        splitter,
    };
    let result = run_slots(&ctx, planned, cancel, start).await;
    drop(warm_up);
    let t0 = std::time::Instant::now();
    cleanup(crew.disband().await.into_iter()).await;
    tracing::debug!(
        "timing: workers cleaned up in {:.3}s, {:.3}s after start",
        t0.elapsed().as_secs_f64(),
        env.started.elapsed().as_secs_f64()
    );
    result
}

async fn run_slots(
    ctx: &Ctx<'_>,
    planned: Planned,
    cancel: CancellationToken,
    start: crew::Start,
) -> Result<()> {
    let job = &ctx.job;
    let (tx, rx) = mpsc::unbounded_channel();
    let reporter = progress::spawn_reporter(
        rx,
        ReporterOptions {
            display: ctx.env.display,
            progress: match &ctx.env.progress_url {
                Some(u) => Some(progress::url::open(u).await?),
                None => None,
            },
            rate: job.frame_rate.to_f64(),
            video_out: job.video_out,
            period: progress::stats_period(&job.cmd),
            sizeless: job.discard_output,
            sink: ctx.env.sink.clone(),
        },
    );
    let result = encode_and_mux(ctx, planned, cancel, start, &tx).await;
    if let Ok(stats) = &result {
        let _ = tx.send(Event::Finished(stats.clone()));
    }
    // The reporter clears its bars (and prints the last line) whatever happened.
    drop(tx);
    let _ = reporter.await;
    result.map(|_| ())
}

/// Waits for the chunks and the early audio; an audio error stops the chunks at once (plain
/// ffmpeg would not have started), and is the one reported.
async fn video_and_audio<V>(
    video: impl std::future::Future<Output = Result<V>>,
    audio: Option<AbortOnDrop<Result<AudioDone>>>,
    stop: &CancellationToken,
    quit: &CancellationToken,
) -> Result<(V, Option<AudioDone>)> {
    let Some(mut task) = audio else {
        return Ok((video.await?, None));
    };
    tokio::pin!(video);
    tokio::select! {
        v = &mut video => {
            let v = v?;
            if quit.is_cancelled() {
                // the early audio runs to the end of the input: the final mux encodes the
                // audio of the part that is written instead
                return Ok((v, None));
            }
            let a = (&mut task.0).await.context("encoding the audio")??;
            Ok((v, Some(a)))
        }
        a = &mut task.0 => match a.context("encoding the audio").and_then(|a| a) {
            Ok(a) => Ok((video.await?, Some(a))),
            Err(e) => {
                stop.cancel();
                let _ = video.await;
                Err(e)
            }
        },
    }
}

/// The plan cut to its first `done` chunks, and the output time where they end (the other
/// streams stop there too); None when no chunk is done.
fn prefix_plan(plan: &Arc<Plan>, done: usize, job: &JobSpec) -> Option<(Arc<Plan>, Option<i64>)> {
    if done == 0 {
        return None;
    }
    if done >= plan.chunks.len() {
        return Some((plan.clone(), None));
    }
    let mut cut = (**plan).clone();
    cut.chunks.truncate(done);
    cut.output_frames = cut.chunks.iter().map(crate::plan::Chunk::out_count).sum();
    let end = plan.chunks[done].out_pts[0];
    let until = crate::rational::rescale_q(end, job.sync.enc_tb, crate::rational::MICROS);
    Some((Arc::new(cut), Some(until)))
}

/// The job's body between the reporter's start and end: split, schedule, verify, mux.
async fn encode_and_mux(
    ctx: &Ctx<'_>,
    planned: Planned,
    cancel: CancellationToken,
    start: crew::Start,
    tx: &Events,
) -> Result<Option<progress::FinalStats>> {
    let job = &ctx.job;
    let plan = planned.plan.clone();
    let crew::Start {
        labels,
        first,
        pending,
        joining,
    } = start;
    let _ = tx.send(Event::Planned {
        chunks: plan.chunks.len(),
        frames: plan.output_frames,
        slots: labels,
    });
    let splitter = ctx.splitter.clone();
    let input = resume::input_fingerprint(&planned.packets, Path::new(ctx.src));
    let manifest = resume::reusable(ctx.wd, &plan, job, &ctx.ffprobe, &input).await;
    let reused: Vec<_> = manifest.chunks.iter().flatten().collect();
    if !reused.is_empty() {
        let _ = tx.send(Event::Resumed {
            chunks: reused.len(),
            frames: reused.iter().map(|c| c.frames).sum(),
            size: reused.iter().map(|c| c.size).sum(),
        });
    }
    // Stops the chunks when the early audio fails (or the user interrupts).
    let stop = cancel.child_token();
    let quit = ctx.env.quit.clone();
    let (all_busy, mut busy) = tokio::sync::watch::channel(false);
    let sched = Arc::new(Scheduler::new(Parts {
        job: job.clone(),
        plan: plan.clone(),
        splitter,
        workdir: ctx.wd.clone(),
        ffprobe: ctx.ffprobe.clone(),
        max_retries: ctx.env.config.job_max_retries,
        stall: Duration::from_secs(ctx.env.config.stall_timeout.max(1)),
        events: tx.clone(),
        cancel: stop.clone(),
        quit: quit.clone(),
        manifest,
        started: ctx.env.started,
        busy: all_busy,
        pending,
    }));
    // The encoded audio streams are encoded here while the workers encode the video, once
    // every slot has its first chunk: until then the host's splits and uploads decide when
    // the workers start.
    let audio = crate::commands::audio::early_audio(job)
        .filter(|_| !job.discard_output)
        .map(|ea| {
            let (job, wd) = (job.clone(), ctx.wd.clone());
            let (ffmpeg, ffprobe) = (ctx.ffmpeg.clone(), ctx.ffprobe.clone());
            AbortOnDrop(tokio::spawn(async move {
                let started = busy.wait_for(|&b| b);
                let _ = tokio::time::timeout(Duration::from_secs(20), started).await;
                assemble::audio::encode(&job, &ea, &wd, &ffmpeg, &ffprobe).await
            }))
        });
    let (encoded, audio) = video_and_audio(sched.run(first, joining), audio, &stop, &quit).await?;
    // `q`: the output ends with the chunks finished from the start on
    let (plan, until_us) = match quit.is_cancelled() {
        true => match prefix_plan(&plan, encoded.len(), job) {
            Some(p) => p,
            None => {
                tracing::warn!("Output file is empty, nothing was encoded");
                return Ok(None);
            }
        },
        false => (plan, None),
    };
    // a pass 1 stopped by `q` leaves no statistics: pass 2 would plan from a part of them
    let whole = !quit.is_cancelled();
    if let Some(tp) = job.two_pass.as_ref().filter(|tp| tp.pass == 1 && whole) {
        let stored = twopass::Stored {
            fingerprint: twopass::fingerprint(job, Path::new(ctx.src)),
            cuts: plan.chunks.iter().map(|c| c.start).collect(),
        };
        tp.save(&stored)
            .with_context(|| format!("saving the pass-1 statistics in {}", tp.store.display()))?;
    }
    if job.discard_output {
        return Ok(None);
    }
    let _ = tx.send(Event::Muxing);
    let mux = assemble::assemble(
        job,
        &encoded,
        &plan,
        audio.as_ref(),
        until_us,
        ctx.wd,
        (&ctx.ffmpeg, &ctx.ffprobe),
    );
    tokio::select! {
        r = mux => r,
        _ = cancel.cancelled() => anyhow::bail!("interrupted"),
    }
}
