//! The second stage: the source's packet index is read and the job cut into chunks (pass 2
//! reuses pass 1's cuts). A video that cannot be planned passes through.

use super::{Halt, Prepared, Reason};
use crate::commands::{self, Shift};
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
    let sizing = sizing(&env.config, slots);
    let planned =
        share_chunks(spec, planned, sizing).map_err(|why| Halt::Passthrough(Reason::Plan(why)))?;
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

/// Several outputs share one chunking: the first output's cuts, or another output's own if
/// more outputs fit those (`Planned::others` holds their plans). An output that fits none
/// (other frames, or a chunk whose packets or worker input differ) is left to plain ffmpeg
/// (`Planned::demoted`, see `demote`).
fn share_chunks(job: &JobSpec, mut planned: Planned, sizing: Sizing) -> Result<Planned, String> {
    if job.others.is_empty() {
        return Ok(planned);
    }
    for j in &job.others {
        // (as for the first output, in `plan_job`; nor can plain ffmpeg write it on its own)
        if j.sync.max_frames.is_some() && j.video_out + 1 < j.out_streams.len() {
            return Err(format!(
                "output #{} stops its video on a frame count while other streams are written",
                j.output_index
            ));
        }
    }
    let cuts = |p: &plan::Plan| p.chunks.iter().map(|c| c.start).collect::<Vec<usize>>();
    let mut candidates = vec![cuts(&planned.plan)];
    for other in &job.others {
        if let Ok(p) = plan_on(other, &planned.packets, sizing, None, 0) {
            candidates.push(cuts(&p));
        }
    }
    let mut best: Option<(plan::Plan, Vec<Result<plan::Plan, String>>)> = None;
    for cuts in &candidates {
        let Some((lead, others)) = plans_on(job, &planned.packets, sizing, cuts) else {
            continue;
        };
        let fits = |o: &[Result<plan::Plan, String>]| o.iter().filter(|p| p.is_ok()).count();
        if best.as_ref().is_none_or(|(_, b)| fits(&others) > fits(b)) {
            best = Some((lead, others));
        }
    }
    let (lead, others) = best.ok_or("output #0 cannot be cut where the other outputs are")?;
    planned.plan = Arc::new(lead);
    for (i, p) in others.into_iter().enumerate() {
        match p {
            Ok(p) => planned.others.push(Arc::new(p)),
            Err(why) => {
                tracing::info!("{why}: plain ffmpeg writes it beside the job");
                planned.demoted.push(i);
            }
        }
    }
    Ok(planned)
}

/// The first output's plan on `cuts` (None when it does not fit them), and each other
/// output's, or why it cannot share those chunks.
fn plans_on(
    job: &JobSpec,
    packets: &[probe::Packet],
    sizing: Sizing,
    cuts: &[usize],
) -> Option<(plan::Plan, Vec<Result<plan::Plan, String>>)> {
    let first = plan_on(job, packets, sizing, Some(cuts), 0).ok()?;
    let mut others = Vec::new();
    for j in &job.others {
        let n = j.output_index;
        let Ok(p) = plan_on(j, packets, sizing, Some(cuts), 0) else {
            others.push(Err(format!(
                "output #{n} cannot be cut where output #{} is (its frames differ)",
                job.output_index
            )));
            continue;
        };
        let same = |a: &plan::Chunk, b: &plan::Chunk| {
            (a.start, a.first_packet, a.last_packet, a.key_pts)
                == (b.start, b.first_packet, b.last_packet, b.key_pts)
                && commands::shared_encode(&[encode_of(job, a, packets), encode_of(j, b, packets)])
                    .is_some()
        };
        let chunks = first.chunks.iter().zip(&p.chunks);
        if p.chunks.len() != first.chunks.len() || chunks.clone().any(|(a, b)| !same(a, b)) {
            others.push(Err(format!(
                "output #{n} needs other chunks (other frames or context frames)"
            )));
            continue;
        }
        others.push(Ok(p));
    }
    Some((first, others))
}

/// Moves the outputs that cannot share the chunks (`Planned::demoted`) from the job's others
/// to the outputs plain ffmpeg writes beside it.
pub fn demote(job: &mut JobSpec, demoted: &[usize]) {
    for &i in demoted.iter().rev() {
        let other = job.others.remove(i);
        job.plain_outputs
            .push(crate::job::outputs::plain_argv(&other.cmd));
    }
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
    // several outputs share the first one's chunks: no pre-roll (it is the encoder's)
    let preroll = if job.others.is_empty() {
        job.preroll()
    } else {
        0
    };
    let plan = plan_on(job, &packets, sizing(c, slots), cuts, preroll)
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
        others: Vec::new(),
        demoted: Vec::new(),
    })
}

/// A chunk's REMOTE with placeholder file names (what decides whether outputs share it).
fn encode_of(job: &JobSpec, c: &plan::Chunk, packets: &[probe::Packet]) -> Vec<String> {
    let (tb, shift) = (
        job.sync.in_tb,
        Shift::new(job.sync.in_tb, job.trims.ts_offset_us),
    );
    let trim = commands::chunk_trim(c, packets, &shift, tb, 0);
    let files = commands::EncodeFiles {
        input: "chunk",
        output: "out",
        passlog: None,
        image: None,
        aux: &[],
    };
    commands::encode(job, c, &shift, trim, files)
}

fn sizing(c: &Config, slots: usize) -> Sizing {
    Sizing::new(c.segment_frames, c.keyint_min, c.keyint_max, slots)
}

/// The job's plan from the packet index: sized by the config for `slots`, or on given `cuts`.
fn plan_on(
    job: &JobSpec,
    packets: &[probe::Packet],
    sizing: Sizing,
    cuts: Option<&[usize]>,
    preroll: usize,
) -> Result<plan::Plan, plan::PlanError> {
    plan::plan(&PlanInput {
        packets,
        stream_tb: job.sync.in_tb,
        trims: job.trims,
        sync: job.sync,
        sizing,
        base_cost: plan::base_cost(job.src_size.0, job.src_size.1),
        cuts,
        window: job.window,
        keyframes: job.keyframes.as_ref(),
        preroll,
        busy_us: &job.subtitle_busy_us,
    })
}
