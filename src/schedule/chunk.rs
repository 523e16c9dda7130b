//! One attempt of one chunk on one worker, in two phases: `run_remote` (upload, remote encode under
//! the stall watchdog) occupies the worker; `collect` (download, remote cleanup, frame and
//! timestamp check) does not, so the slot starts its next encode while it runs.

use super::{Attempt, Scheduler, Slot};
use crate::assemble::verify::{self, EncodedChunk};
use crate::commands;
use crate::job::burnin::Carry;
use crate::progress::{EncodeProgress, Event};
use crate::twopass::TwoPass;
use crate::workdir::WorkDir;
use crate::worker::{Worker, WorkerError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A finished remote encode waiting to be collected.
pub(super) struct Ran {
    k: usize,
    src_name: String,
    out_name: String,
    /// The chunk's files of the job's other outputs, in their order.
    other_names: Vec<String>,
    /// The encode's last progress report and the start of its stderr.
    done: EncodeProgress,
    log: String,
    encoded_in: f64,
    /// Bytes of the output already copied home while it was being written.
    fetched: u64,
}

/// How often the output of a running encode is copied home (what is written by the time it
/// ends is then mostly there: on a slow link the last chunk's download no longer follows the
/// encode).
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

impl Scheduler {
    /// Runs the encode, abandoning it when no progress arrives for `stall`. Returns the last
    /// progress report (its frame count is the encode's).
    async fn watched_encode(
        &self,
        w: &dyn Worker,
        args: &[String],
        (slot, k): (usize, usize),
        attempt: &Attempt,
        done: watch::Sender<f64>,
    ) -> Result<(EncodeProgress, String), WorkerError> {
        let last = Arc::new(Mutex::new((Instant::now(), EncodeProgress::default())));
        let events = self.p.events.clone();
        let seen = last.clone();
        let c = &self.p.plan.chunks[k];
        let preroll = c.preroll as i64;
        let enc_tb = self.p.job.sync.enc_tb;
        let progress = move |mut p: EncodeProgress| {
            // the pre-roll is not the chunk's: counted from its first frame
            p.frame = (p.frame - preroll).max(0);
            *seen.lock().unwrap() = (Instant::now(), p);
            // how far the encode is, by cost: the frames muxed (those fed to the encoder run
            // ahead of them by its look-ahead), each weighed by its estimated cost
            let fed = p.frame as usize;
            let encoded = match p.out_time_us {
                Some(t) => c.encoded_frames(t, enc_tb, fed).unwrap_or(0),
                // an ffmpeg that does not report it: the frames fed
                None => fed,
            };
            let f = c.done_fraction(encoded);
            self.progress(attempt, f);
            done.send_replace(f);
            let _ = events.send(Event::Progress { slot, chunk: k, p });
        };
        let stop = attempt.cancel.child_token();
        let encode = w.encode(args, &progress, &stop);
        tokio::pin!(encode);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                r = &mut encode => return r.map(|log| (last.lock().unwrap().1, log)),
                _ = tick.tick() => {
                    if last.lock().unwrap().0.elapsed() > self.p.stall && !stop.is_cancelled() {
                        stop.cancel();
                        let _ = (&mut encode).await;
                        return Err(WorkerError::Transport(format!(
                            "no progress for {}s (stall_timeout)",
                            self.p.stall.as_secs()
                        )));
                    }
                }
            }
        }
    }

    /// Sends the files every encode of the job reads besides its chunk (the still image a graph
    /// lays over the video, the burn-ins' subtitle files, drawtext's font and text files) to a
    /// worker, once per worker.
    async fn ship_aux_files(
        &self,
        id: crate::schedule::core::WorkerId,
        w: &dyn Worker,
    ) -> Result<(), WorkerError> {
        let job = &self.p.job;
        let mut files: Vec<(std::path::PathBuf, &str)> = Vec::new();
        if let Some(ov) = &job.overlay {
            files.push((ov.path.clone().into(), &ov.remote_name));
        }
        for b in &job.burn_in {
            let local = match b.carry {
                Carry::Ship => b.file.clone().into(),
                Carry::Extract => self.p.workdir.file(&b.remote_name),
            };
            files.push((local, &b.remote_name));
        }
        for (_, path, name) in job.drawtext.iter().flat_map(|d| &d.files) {
            files.push((path.into(), name));
        }
        if files.is_empty() {
            return Ok(());
        }
        let once = (self.images.lock().expect("images").entry(id))
            .or_default()
            .clone();
        let send = || async {
            for (local, name) in &files {
                w.upload(local, name).await?;
            }
            Ok::<(), WorkerError>(())
        };
        once.get_or_try_init(send).await.map(|_| ())
    }

    /// Uploads the chunk (unless it went ahead) and encodes it on the slot's worker.
    pub(super) async fn run_remote(
        &self,
        slot: &Slot,
        attempt: &Attempt,
        uploaded: bool,
        done: watch::Sender<f64>,
    ) -> Result<Ran, WorkerError> {
        let w = &slot.worker;
        let k = attempt.task.chunk;
        let job = &self.p.job;
        let sp = &self.p.splitter;
        let c = &self.p.plan.chunks[k];
        // the split runs here: its failure is local, and would fail on any worker
        let src = sp
            .get(k)
            .await
            .map_err(|e| WorkerError::Local(format!("{e:#}")))?;
        if !uploaded {
            w.upload(&src.path, &src.name).await?;
        }
        let n = attempt.task.attempt.0;
        let out_name = WorkDir::encoded_name(k, n, job.chunk_format().1);
        let trim = commands::chunk_trim(c, &sp.packets, &sp.shift, sp.tb, src.start_us);
        let two_pass = job.two_pass.as_ref();
        if let Some(tp) = two_pass.filter(|tp| tp.pass == 2) {
            tp.upload(w.as_ref(), k).await?;
        }
        let passlog = w.path(&TwoPass::prefix(k));
        self.ship_aux_files(slot.worker_id, w.as_ref()).await?;
        let image = (job.overlay.as_ref()).map(|ov| w.path(&ov.remote_name));
        let aux: Vec<String> = job.aux_names().iter().map(|n| w.path(n)).collect();
        let files = commands::EncodeFiles {
            input: &w.path(&src.name),
            output: &w.path(&out_name),
            passlog: Some(&passlog),
            image: image.as_deref(),
            aux: &aux,
        };
        let mut args = commands::encode(job, c, &sp.shift, trim, files);
        // the other outputs of the command: the same worker ffmpeg writes them too
        let other_names: Vec<String> = (job.others.iter().enumerate())
            .map(|(i, o)| WorkDir::other_encoded_name(k, n, i + 1, o.chunk_format().1))
            .collect();
        if !job.others.is_empty() {
            let mut encodes = vec![args];
            for ((o, plan), name) in job.others.iter().zip(&self.p.others).zip(&other_names) {
                let c = &plan.chunks[k];
                let trim = commands::chunk_trim(c, &sp.packets, &sp.shift, sp.tb, src.start_us);
                let files = commands::EncodeFiles {
                    input: &w.path(&src.name),
                    output: &w.path(name),
                    passlog: None,
                    image: None,
                    aux: &[],
                };
                encodes.push(commands::encode(o, c, &sp.shift, trim, files));
            }
            args = commands::shared_encode(&encodes).ok_or_else(|| {
                WorkerError::Local(format!(
                    "chunk {k}: the outputs' encodes read it differently"
                ))
            })?;
        }
        self.dispatched();
        tracing::debug!(
            "timing: chunk {k} dispatched to {} after {:.3}s",
            w.label(),
            self.p.started.elapsed().as_secs_f64()
        );
        tracing::debug!(
            "ENCODE chunk {k} on {}: {}",
            w.label(),
            crate::process::display_cmd("ffmpeg", &args)
        );
        let _ = self.p.events.send(Event::Started {
            slot: slot.id,
            chunk: k,
            frames: c.out_count(),
        });
        let t_encode = Instant::now();
        let part = self.p.workdir.file(&out_name).with_extension("part");
        let follow = !job.discard_output && commands::followable(job.chunk_format().0, &args);
        let stop_following = tokio_util::sync::CancellationToken::new();
        let encode = async {
            let r = self
                .watched_encode(w.as_ref(), &args, (slot.id, k), attempt, done)
                .await;
            stop_following.cancel();
            r
        };
        let following = async {
            let mut have = 0;
            if !follow {
                return have;
            }
            let mut behind = false;
            loop {
                // a whole piece fetched: more may be waiting, fetch on at once
                if behind {
                    if stop_following.is_cancelled() {
                        return have;
                    }
                } else {
                    tokio::select! {
                        _ = stop_following.cancelled() => return have,
                        _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                    }
                }
                match w.fetch_ahead(&out_name, &part, have).await {
                    Ok(n) => {
                        behind = n.saturating_sub(have) >= crate::worker::FETCH_AHEAD_PIECE;
                        have = n;
                    }
                    // the download at the end fetches everything
                    Err(_) => return 0,
                }
            }
        };
        let (encoded, fetched) = tokio::join!(encode, following);
        let (done, log) = match encoded {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
        };
        if let Some(tp) = two_pass.filter(|tp| tp.pass == 1) {
            tp.fetch(w.as_ref(), k).await?;
        }
        Ok(Ran {
            k,
            src_name: src.name,
            out_name,
            other_names,
            done,
            log,
            encoded_in: t_encode.elapsed().as_secs_f64(),
            fetched,
        })
    }

    /// Brings the encoded chunk home, removes its files from the worker and checks it.
    pub(super) async fn collect(
        &self,
        w: &dyn Worker,
        ran: Ran,
    ) -> Result<EncodedChunk, WorkerError> {
        let Ran {
            k,
            src_name,
            out_name,
            other_names,
            done,
            log,
            encoded_in,
            fetched,
        } = ran;
        let job = &self.p.job;
        let c = &self.p.plan.chunks[k];
        let t_collect = Instant::now();
        if job.discard_output {
            // (several outputs are never thrown away: `job::outputs`)
            let _ = w.remove(&[src_name, out_name]).await;
            if done.frame != c.out_count() {
                return Err(WorkerError::Ffmpeg {
                    tail: format!(
                        "frame check failed: expected {} frames, got {}",
                        c.out_count(),
                        done.frame
                    ),
                    fatal: false,
                });
            }
            return Ok(EncodedChunk {
                index: k,
                file: String::new(),
                start_us: 0,
                frames: done.frame,
                size: 0,
                tb: job.sync.enc_tb,
                tags: Default::default(),
                color: Vec::new(),
                others: Vec::new(),
            });
        }
        let local = self.p.workdir.file(&out_name);
        w.download_rest(&out_name, &local, fetched).await?;
        for name in &other_names {
            w.download_rest(name, &self.p.workdir.file(name), 0).await?;
        }
        let mut ours = vec![src_name, out_name];
        ours.extend(other_names.iter().cloned());
        let _ = w.remove(&ours).await;
        let checked = |e: verify::VerifyError| WorkerError::Ffmpeg {
            tail: format!("{e} (chunk from {})", w.label()),
            fatal: false,
        };
        let mut enc = verify::verify(&self.p.ffprobe, &local, c, job.sync.enc_tb)
            .await
            .map_err(checked)?;
        // the worker logs each output's encoder in order
        let mut colors = crate::worker::encoder_colors(&log).into_iter();
        enc.color = colors.next().unwrap_or_default();
        for ((o, plan), name) in job.others.iter().zip(&self.p.others).zip(&other_names) {
            let (file, c) = (self.p.workdir.file(name), &plan.chunks[k]);
            let mut other = verify::verify(&self.p.ffprobe, &file, c, o.sync.enc_tb)
                .await
                .map_err(checked)?;
            other.color = colors.next().unwrap_or_default();
            enc.others.push(other);
        }
        tracing::debug!(
            "timing: chunk {k} encoded on {} in {encoded_in:.3}s, collected in {:.3}s ({fetched} bytes fetched while it was written)",
            w.label(),
            t_collect.elapsed().as_secs_f64()
        );
        Ok(enc)
    }
}
