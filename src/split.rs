//! Splitting: stream-copies each chunk's source packets into a NUT file in the work dir (local,
//! no decoding), checks the copy starts on the planned keyframe (from the first packet the split
//! itself lists), and, where the worker's trim needs it, records the file's start time (one
//! ffprobe). Splits run ahead of dispatch, bounded, in dispatch order, at background priority
//! unless a slot waits for them.

use crate::commands::{self, Shift};
use crate::job::JobSpec;
use crate::plan::Chunk;
use crate::probe::{ffprobe_args, Packet, Show};
use crate::process;
use crate::rational::{parse_seconds_us, rescale_q, Rational};
use crate::workdir::WorkDir;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

pub mod listing;
use listing::Listed;

/// A chunk's source file, ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitChunk {
    pub path: PathBuf,
    pub name: String,
    /// The file's start time as libavformat reports it (microseconds), where the chunk's trim
    /// needs it (`commands::needs_file_start`); 0 elsewhere.
    pub start_us: i64,
}

pub struct Splitter {
    pub job: Arc<JobSpec>,
    pub chunks: Arc<Vec<Chunk>>,
    pub packets: Arc<Vec<Packet>>,
    pub tb: Rational,
    pub shift: Shift,
    pub src: String,
    pub ffmpeg: String,
    pub ffprobe: String,
    pub workdir: WorkDir,
    cells: Vec<OnceCell<SplitChunk>>,
    /// Per chunk: whether a worker's trim needs the split file's start time.
    needs_start: Vec<bool>,
    /// Bounds how far splitting runs ahead of dispatch.
    ahead: Semaphore,
}

#[derive(Deserialize)]
struct Probe {
    format: Option<ProbeFormat>,
}
#[derive(Deserialize)]
struct ProbeFormat {
    start_time: Option<String>,
}

impl Splitter {
    pub fn new(
        job: Arc<JobSpec>,
        planned: &crate::plan::Planned,
        tools: &crate::ffbin::Tools,
        workdir: WorkDir,
        ahead: usize,
    ) -> Splitter {
        let tb = job.sync.in_tb;
        let shift = Shift::new(tb, job.trims.ts_offset_us);
        let chunks = Arc::new(planned.plan.chunks.clone());
        let cells = (0..chunks.len()).map(|_| OnceCell::new()).collect();
        let plans: Vec<&crate::plan::Plan> = std::iter::once(&*planned.plan)
            .chain(planned.others.iter().map(|p| &**p))
            .collect();
        let needs_start = (0..chunks.len())
            .map(|k| {
                let needs = |p: &&crate::plan::Plan| {
                    commands::needs_file_start(&p.chunks[k], &planned.packets, &shift)
                };
                plans.iter().any(needs)
            })
            .collect();
        Splitter {
            src: job.source_path().to_string(),
            job,
            chunks,
            packets: planned.packets.clone(),
            tb,
            shift,
            ffmpeg: tools.ffmpeg.clone(),
            ffprobe: tools.ffprobe.clone(),
            workdir,
            cells,
            needs_start,
            ahead: Semaphore::new(ahead.max(1)),
        }
    }

    /// The split file of chunk `k`, splitting it now if nobody has yet.
    pub async fn get(&self, k: usize) -> Result<SplitChunk> {
        self.get_at(k, false).await
    }

    /// `get`; a split started here runs at background priority when `ahead` (no slot waits
    /// for it yet).
    async fn get_at(&self, k: usize, ahead: bool) -> Result<SplitChunk> {
        self.cells[k]
            .get_or_try_init(|| self.split(k, ahead))
            .await
            .cloned()
    }

    /// Splits chunks in `order` ahead of their dispatch, a few at a time; `taken` releases a
    /// place.
    pub async fn prefetch(self: Arc<Self>, order: Vec<usize>) {
        self.in_lanes(order, true).await
    }

    /// Splits these chunks now (the first ones, while the workers are being connected), a few
    /// at a time.
    pub async fn warm_up(self: Arc<Self>, first: Vec<usize>) {
        self.in_lanes(first, false).await
    }

    /// Splits chunks in `order` in one lane per host core (two to four: at the start every
    /// slot waits for its first chunk), each split taking a place ahead (and running at
    /// background priority) when `gated`; stops at
    /// the first error (the slot that needs that chunk reports it).
    async fn in_lanes(self: Arc<Self>, order: Vec<usize>, gated: bool) {
        let lanes = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let order = Arc::new(order);
        let next = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..lanes {
            let (me, order, next, failed) =
                (self.clone(), order.clone(), next.clone(), failed.clone());
            set.spawn(async move {
                while !failed.load(Ordering::Relaxed) {
                    if gated {
                        let Ok(permit) = me.ahead.acquire().await else {
                            return;
                        };
                        permit.forget();
                    }
                    let Some(&k) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    if me.get_at(k, gated).await.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
        while set.join_next().await.is_some() {}
    }

    /// A slot took a chunk: splitting may run one further ahead.
    pub fn taken(&self) {
        self.ahead.add_permits(1);
    }

    async fn split(&self, k: usize, ahead: bool) -> Result<SplitChunk> {
        let c = &self.chunks[k];
        let name = WorkDir::source_name(k);
        let path = self.workdir.file(&name);
        let tmp = self.workdir.file(&format!("{name}.part"));
        let split = |seek| {
            let at = (c, &self.packets[..]);
            let out = tmp.to_string_lossy();
            commands::split(&self.job, &self.src, at, &self.shift, self.tb, &out, seek)
        };
        let args = split(true);
        let t0 = std::time::Instant::now();
        let listed = process::output_at(&self.ffmpeg, &args, ahead)
            .await
            .with_context(|| format!("splitting chunk {k}"))?;
        match self.check(k, &listed) {
            Ok(()) => {}
            Err(e) if c.first_packet == 0 => {
                // a demuxer that cannot seek to its first keyframe: read the file from its start
                tracing::debug!("chunk {k}: {e:#}; splitting it from the file's start");
                let args = split(false);
                let listed = process::output_at(&self.ffmpeg, &args, ahead)
                    .await
                    .with_context(|| format!("splitting chunk {k}"))?;
                self.check(k, &listed)?
            }
            Err(e) => return Err(e),
        }
        let t1 = t0.elapsed().as_secs_f64();
        let start_us = match self.needs_start[k] {
            true => self.start_time(&tmp, ahead).await?,
            false => 0,
        };
        tokio::fs::rename(&tmp, &path).await?;
        tracing::debug!(
            "timing: chunk {k} split and checked in {t1:.3}s, start time known in {:.3}s",
            t0.elapsed().as_secs_f64() - t1
        );
        Ok(SplitChunk {
            path,
            name,
            start_us,
        })
    }

    /// The pts in `tb` that chunk `k`'s split starts with: its keyframe's, shifted.
    fn keyframe_pts(&self, k: usize, tb: Rational) -> i64 {
        let first = &self.packets[self.chunks[k].first_packet];
        let shift = self.shift.offset_ticks + self.shift.bias_ticks;
        rescale_q(first.pts + shift, self.tb, tb)
    }

    /// Checks the split starts with the planned keyframe, from the first packet it listed.
    fn check(&self, k: usize, listed: &[u8]) -> Result<()> {
        let listed = Listed::parse(&String::from_utf8_lossy(listed))
            .ok_or_else(|| anyhow!("chunk {k}: split file has no video stream"))?;
        let want = self.keyframe_pts(k, listed.tb);
        if listed.pts != Some(want) {
            let first = listed.pts;
            bail!("chunk {k}: split starts at pts {first:?}, expected keyframe at {want}");
        }
        Ok(())
    }

    /// The split file's start time as libavformat reports it (microseconds).
    async fn start_time(&self, file: &std::path::Path, ahead: bool) -> Result<i64> {
        let entries = Show::Entries("format=start_time");
        let args = ffprobe_args("error", entries, "json").file(&file.to_string_lossy());
        let out = process::output_at(&self.ffprobe, &args, ahead).await?;
        let p: Probe = serde_json::from_slice(&out).context("reading the split's start time")?;
        // A file whose start ffmpeg cannot tell (a single packet) counts as starting at 0,
        // exactly as ffmpeg's -ss handling treats it.
        Ok(p.format
            .and_then(|f| f.start_time)
            .as_deref()
            .and_then(parse_seconds_us)
            .unwrap_or(0))
    }
}
