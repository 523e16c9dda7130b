//! The last stage: the planned job runs. Work dir, workers (`crew`), splitter, scheduler,
//! early audio, progress reporter, assembly, cleanup; everything here is effects, the
//! decisions were made in `job`, `plan` and `schedule::core`.

use super::crew::{self, abandon, cleanup, Probing};
use super::plan::configured_slots;
use super::Env;
use crate::assemble;
use crate::commands::{self, audio::AudioDone};
use crate::job::burnin::Carry;
use crate::job::JobSpec;
use crate::plan::{Plan, Planned};
use crate::progress::{self, Event, Events, ReporterOptions};
use crate::resume;
use crate::schedule::{Parts, Scheduler};
use crate::split::Splitter;
use crate::twopass;
use crate::workdir::{self, WorkDir};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
    env: &Env,
    probing: Probing,
    cancel: CancellationToken,
) -> Result<()> {
    let job = Arc::new(job);
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
    let result = run_in(job, planned, env, &wd, probing, cancel).await;
    if result.is_ok() {
        let _ = wd.remove();
    }
    result
}

/// Copies the subtitle streams and fonts each burn-in reads from a media file into the work
/// dir (under the name the workers get it by).
async fn extract_subtitles(job: Arc<JobSpec>, ffmpeg: String, wd: WorkDir) -> Result<()> {
    for b in job.burn_in.iter().filter(|b| b.carry == Carry::Extract) {
        let out = wd.file(&b.remote_name);
        let args = commands::extract_subtitles(&b.file, b.stream_index, &out.to_string_lossy());
        crate::process::output(&ffmpeg, &args)
            .await
            .with_context(|| format!("copying the subtitles of {}", b.file))?;
    }
    Ok(())
}

/// A background task that must not outlive its scope.
struct AbortOnDrop<T = ()>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A job while it runs: what its steps share.
struct Running<'a> {
    job: Arc<JobSpec>,
    planned: Planned,
    env: &'a Env,
    wd: &'a WorkDir,
    splitter: Arc<Splitter>,
    cancel: CancellationToken,
}

async fn run_in(
    job: Arc<JobSpec>,
    planned: Planned,
    env: &Env,
    wd: &WorkDir,
    probing: Probing,
    cancel: CancellationToken,
) -> Result<()> {
    let plan = planned.plan.clone();
    let splitter = Arc::new(Splitter::new(
        job.clone(),
        &planned,
        &env.tools,
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
    // the subtitle streams a burn-in reads from a media file, copied out while workers connect
    let mut extracting = AbortOnDrop(tokio::spawn(extract_subtitles(
        job.clone(),
        env.tools.ffmpeg.clone(),
        wd.clone(),
    )));
    let (start, crew) = crew::gather(probing, env, wd.file("local"), &cancel).await?;
    if let Err(e) = (&mut extracting.0)
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r)
    {
        cleanup(crew.disband().await.into_iter()).await;
        return Err(e);
    }
    tracing::debug!(
        "timing: first worker ready after {:.3}s ({} still connecting)",
        env.started.elapsed().as_secs_f64(),
        start.pending
    );
    let running = Running {
        job,
        planned,
        env,
        wd,
        splitter,
        cancel,
    };
    let result = running.run_slots(start).await;
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

/// Plain ffmpeg writing the command's outputs that pass through on their own, one after the
/// other, while the job runs (killed when dropped).
fn plain_outputs(job: &JobSpec, ffmpeg: &str) -> Option<AbortOnDrop<Result<()>>> {
    if job.plain_outputs.is_empty() {
        return None;
    }
    let (ffmpeg, all) = (ffmpeg.to_string(), job.plain_outputs.clone());
    Some(AbortOnDrop(tokio::spawn(async move {
        for args in &all {
            let out = args.last().map_or("", String::as_str);
            tracing::debug!("PLAIN {}", crate::process::display_cmd(&ffmpeg, args));
            crate::process::output(&ffmpeg, args)
                .await
                .with_context(|| format!("writing {out}"))?;
        }
        Ok(())
    })))
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

impl Running<'_> {
    async fn run_slots(&self, start: crew::Start) -> Result<()> {
        let (ctx, job) = (self, &self.job);
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
        let result = self.encode_and_mux(start, &tx).await;
        if let Ok(stats) = &result {
            let _ = tx.send(Event::Finished(stats.clone()));
        }
        // The reporter clears its bars (and prints the last line) whatever happened.
        drop(tx);
        let _ = reporter.await;
        result.map(|_| ())
    }

    /// The job's body between the reporter's start and end: split, schedule, verify, mux.
    async fn encode_and_mux(
        &self,
        start: crew::Start,
        tx: &Events,
    ) -> Result<Option<progress::FinalStats>> {
        let (ctx, job, cancel) = (self, &self.job, &self.cancel);
        let planned = &self.planned;
        let plan = planned.plan.clone();
        let src = job.source_path();
        let tools = &ctx.env.tools;
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
        // the command's outputs that pass through on their own: plain ffmpeg writes them here
        let plain = plain_outputs(job, &tools.ffmpeg);
        let input = resume::input_fingerprint(&planned.packets, Path::new(src));
        let manifest = resume::reusable(
            ctx.wd,
            (&plan, &planned.others),
            job,
            &tools.ffprobe,
            &input,
        )
        .await;
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
            others: planned.others.clone(),
            splitter,
            workdir: ctx.wd.clone(),
            ffprobe: tools.ffprobe.clone(),
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
                let (ffmpeg, ffprobe) = (tools.ffmpeg.clone(), tools.ffprobe.clone());
                AbortOnDrop(tokio::spawn(async move {
                    let started = busy.wait_for(|&b| b);
                    let _ = tokio::time::timeout(Duration::from_secs(20), started).await;
                    assemble::audio::encode(&job, &ea, &wd, &ffmpeg, &ffprobe).await
                }))
            });
        let (encoded, audio) =
            video_and_audio(sched.run(first, joining), audio, &stop, &quit).await?;
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
                fingerprint: twopass::fingerprint(job, Path::new(src)),
                cuts: plan.chunks.iter().map(|c| c.start).collect(),
            };
            tp.save(&stored).with_context(|| {
                format!("saving the pass-1 statistics in {}", tp.store.display())
            })?;
        }
        if job.discard_output {
            return Ok(None);
        }
        let _ = tx.send(Event::Muxing);
        let tools = (tools.ffmpeg.as_str(), tools.ffprobe.as_str());
        let mux = assemble::assemble(
            job,
            &encoded,
            &plan,
            audio.as_ref(),
            until_us,
            ctx.wd,
            tools,
        );
        let stats = tokio::select! {
            r = mux => r?,
            _ = cancel.cancelled() => anyhow::bail!("interrupted"),
        };
        // the command's other outputs, from the same chunks (their audio encoded in the mux)
        for (i, (other, plan)) in job.others.iter().zip(&planned.others).enumerate() {
            let chunks: Vec<_> = encoded.iter().map(|e| e.others[i].clone()).collect();
            let (plan, until_us) = match quit.is_cancelled() {
                true => prefix_plan(plan, chunks.len(), other).expect("chunks are done"),
                false => (plan.clone(), None),
            };
            let mux = assemble::assemble(other, &chunks, &plan, None, until_us, ctx.wd, tools);
            tokio::select! {
                r = mux => r?,
                _ = cancel.cancelled() => anyhow::bail!("interrupted"),
            };
        }
        if let Some(mut task) = plain {
            tokio::select! {
                r = &mut task.0 => r.context("writing the other outputs")??,
                _ = cancel.cancelled() => anyhow::bail!("interrupted"),
            };
        }
        Ok(stats)
    }
}
