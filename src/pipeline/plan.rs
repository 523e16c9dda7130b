//! The second stage: the source's packet index is read and the job cut into chunks (pass 2
//! reuses pass 1's cuts). A video that cannot be planned passes through.

use super::{Halt, Prepared, Reason};
use crate::config::Config;
use crate::job::JobSpec;
use crate::plan::{self, PlanInput, Planned, Sizing};
use crate::probe;
use crate::twopass;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Slots configured for a job (SSH worker slots plus local slots), before any connection.
pub fn configured_slots(config: &Config) -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let ssh: usize = config.workers.iter().map(|w| w.slots.unwrap_or(1)).sum();
    (ssh + config.local_slot_count(cores)).max(1)
}

/// Reads the packet index and plans; a video that cannot be planned passes through.
pub async fn plan(prepared: &Prepared) -> Result<Planned, Halt> {
    let Prepared { spec, env } = prepared;
    let slots = configured_slots(&env.config);
    let cuts = pass1_cuts(spec)?;
    let planned = plan_job(
        spec,
        &env.tools.ffprobe,
        &env.config,
        slots,
        cuts.as_deref(),
    )
    .await
    .map_err(|e| Halt::Passthrough(Reason::Plan(format!("{e:#}"))))?;
    tracing::info!(
        "{} frames in {} chunks on {} slot(s)",
        planned.plan.output_frames,
        planned.plan.chunks.len(),
        slots
    );
    Ok(planned)
}

/// Pass 2 reuses pass 1's chunks: their cuts, checked against this command. Pass 2 after a
/// pass 1 that ran through plain ffmpeg passes through (plain ffmpeg's pass 2 reads its log).
fn pass1_cuts(job: &JobSpec) -> Result<Option<Vec<usize>>, Halt> {
    let Some(tp) = job.two_pass.as_ref().filter(|tp| tp.pass == 2) else {
        return Ok(None);
    };
    if !tp.stored() {
        let store = tp.store.display().to_string();
        return Err(Halt::Passthrough(Reason::NoPass1(store)));
    }
    let stored = tp.load().with_context(|| {
        format!(
            "no pass-1 statistics in {}: run pass 1 through distrffmpeg first",
            tp.store.display()
        )
    })?;
    if stored.fingerprint != twopass::fingerprint(job, Path::new(job.source_path())) {
        return Err(anyhow::anyhow!(
            "the pass-1 statistics in {} were made for another input or other options; run pass 1 again",
            tp.store.display()
        )
        .into());
    }
    Ok(Some(stored.cuts))
}

async fn plan_job(
    job: &JobSpec,
    ffprobe: &str,
    c: &Config,
    slots: usize,
    cuts: Option<&[usize]>,
) -> Result<Planned> {
    let src = job.source_path();
    let demux: Vec<String> = job.demux_opts.iter().flat_map(|o| o.tokens()).collect();
    let t0 = Instant::now();
    let packets = probe::probe_packets(ffprobe, src, job.src_stream, &demux).await?;
    let read = t0.elapsed().as_secs_f64();
    let sizing = Sizing::new(c.segment_frames, c.keyint_min, c.keyint_max, slots);
    let plan = plan::plan(&PlanInput {
        packets: &packets,
        stream_tb: job.sync.in_tb,
        trims: job.trims,
        sync: job.sync,
        sizing,
        base_cost: plan::base_cost(job.src_size.0, job.src_size.1),
        cuts,
        window: job.window,
        keyframes: job.keyframes.as_ref(),
        preroll: job.preroll(),
        busy_us: &job.subtitle_busy_us,
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
