//! The reporter task: consumes progress events and prints plain status lines at a low rate.

use super::{EncodeProgress, Event};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy)]
pub struct ReporterOptions {
    /// Print status lines at all (`-nostats` and quiet log levels turn them off).
    pub stats: bool,
    /// Minimum time between two status lines.
    pub interval: Duration,
}

#[derive(Default)]
struct State {
    total_frames: i64,
    chunks: usize,
    done_frames: i64,
    done_chunks: usize,
    size: u64,
    /// Live progress of each slot: (chunk, snapshot).
    live: Vec<Option<(usize, EncodeProgress)>>,
}

impl State {
    fn frames_now(&self) -> i64 {
        self.done_frames
            + self
                .live
                .iter()
                .flatten()
                .map(|(_, p)| p.frame)
                .sum::<i64>()
    }

    fn line(&self, started: Instant) -> String {
        let frames = self.frames_now();
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let fps = frames as f64 / secs;
        let eta = if fps > 0.0 && self.total_frames > frames {
            format!(" eta {:.0}s", (self.total_frames - frames) as f64 / fps)
        } else {
            String::new()
        };
        format!(
            "frame {frames}/{} chunks {}/{} fps {fps:.1} size {}kB{eta}",
            self.total_frames,
            self.done_chunks,
            self.chunks,
            self.size / 1024
        )
    }
}

/// Starts the reporter; it ends when every sender is dropped.
pub fn spawn_reporter(
    mut rx: mpsc::UnboundedReceiver<Event>,
    opts: ReporterOptions,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut st = State::default();
        let mut last = Instant::now() - opts.interval;
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Planned {
                    chunks,
                    frames,
                    slots,
                } => {
                    st.chunks = chunks;
                    st.total_frames = frames;
                    st.live = vec![None; slots.len()];
                }
                Event::Started { slot, chunk, .. } => {
                    if let Some(l) = st.live.get_mut(slot) {
                        *l = Some((chunk, EncodeProgress::default()));
                    }
                }
                Event::Progress { slot, chunk, p } => {
                    if let Some(l) = st.live.get_mut(slot) {
                        *l = Some((chunk, p));
                    }
                }
                Event::Done {
                    slot, frames, size, ..
                } => {
                    st.done_frames += frames;
                    st.done_chunks += 1;
                    st.size += size;
                    if let Some(l) = st.live.get_mut(slot) {
                        *l = None;
                    }
                }
                Event::Retry {
                    chunk,
                    worker,
                    error,
                } => {
                    tracing::warn!("chunk {chunk} failed on {worker}, retrying: {error}");
                }
                Event::WorkerLost { worker, error } => {
                    tracing::warn!("worker {worker} dropped: {error}");
                }
                Event::Muxing | Event::Finished => {}
            }
            if opts.stats && last.elapsed() >= opts.interval {
                last = Instant::now();
                tracing::info!("{}", st.line(started));
            }
        }
    })
}
