//! The job's progress as the reporter sees it: totals, per-slot live encodes, and the text
//! forms it is shown in (status line, ffmpeg-style `-progress` block).

use super::ffstyle::Report;
use super::{EncodeProgress, Event, FinalStats};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Instant;

/// One worker slot's live encode.
#[derive(Debug, Clone, Default)]
pub struct SlotView {
    pub label: String,
    pub chunk: Option<usize>,
    /// Its worker's slots are all leased by other jobs.
    pub waiting: bool,
    pub chunk_frames: i64,
    pub p: EncodeProgress,
}

#[derive(Debug, Clone)]
pub struct State {
    pub started: Instant,
    pub total_frames: i64,
    pub chunks: usize,
    pub done_frames: i64,
    pub done_chunks: usize,
    pub size: u64,
    pub slots: Vec<SlotView>,
    /// Chunks whose encode ended and whose slot moved on, while they are downloaded and
    /// checked: their last progress still counts.
    pub collecting: HashMap<usize, EncodeProgress>,
    pub muxing: bool,
    pub finished: bool,
    /// The final mux's figures of the written file.
    pub final_stats: Option<FinalStats>,
    /// The last quality an encoder reported.
    pub q: f32,
    /// The furthest output position reported so far (reports never go back).
    pub time_us: i64,
    /// No size is known (the output is thrown away).
    pub sizeless: bool,
}

impl Default for State {
    fn default() -> State {
        State {
            started: Instant::now(),
            total_frames: 0,
            chunks: 0,
            done_frames: 0,
            done_chunks: 0,
            size: 0,
            slots: Vec::new(),
            collecting: HashMap::new(),
            muxing: false,
            finished: false,
            final_stats: None,
            q: 0.0,
            time_us: 0,
            sizeless: false,
        }
    }
}

fn human_size(b: u64) -> String {
    match b {
        0..=1023 => format!("{b}B"),
        1024..=1_048_575 => format!("{:.0}KiB", b as f64 / 1024.0),
        _ => format!("{:.1}MiB", b as f64 / 1_048_576.0),
    }
}

pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl State {
    /// A slot's chunk ended (it may already be encoding the next one).
    fn slot_free(&mut self, slot: usize, chunk: usize) {
        self.collecting.remove(&chunk);
        if let Some(s) = self.slots.get_mut(slot).filter(|s| s.chunk == Some(chunk)) {
            s.chunk = None;
            s.p = EncodeProgress::default();
        }
    }

    pub fn apply(&mut self, ev: &Event) {
        match ev {
            Event::Planned {
                chunks,
                frames,
                slots,
            } => {
                self.chunks = *chunks;
                self.total_frames = *frames;
                self.slots = slots
                    .iter()
                    .map(|l| SlotView {
                        label: l.clone(),
                        ..Default::default()
                    })
                    .collect();
            }
            Event::Started {
                slot,
                chunk,
                frames,
            } => {
                if let Some(s) = self.slots.get_mut(*slot) {
                    // the slot's previous chunk is still being collected
                    if let Some(prev) = s.chunk.replace(*chunk) {
                        self.collecting.insert(prev, s.p);
                    }
                    s.chunk_frames = *frames;
                    s.p = EncodeProgress::default();
                    s.waiting = false;
                }
            }
            Event::Progress { slot, chunk, p } => {
                if let Some(s) = self.slots.get_mut(*slot) {
                    if s.chunk == Some(*chunk) {
                        s.p = *p;
                        self.q = p.q;
                    }
                }
            }
            Event::Done {
                slot,
                chunk,
                frames,
                size,
            } => {
                self.done_frames += frames;
                self.done_chunks += 1;
                self.size += size;
                self.slot_free(*slot, *chunk);
            }
            Event::Failed { slot, chunk } => self.slot_free(*slot, *chunk),
            Event::SlotsJoined { labels } => {
                self.slots.extend(labels.iter().map(|l| SlotView {
                    label: l.clone(),
                    ..Default::default()
                }));
            }
            Event::Waiting { slot } => {
                if let Some(s) = self.slots.get_mut(*slot) {
                    s.waiting = true;
                }
            }
            Event::Resumed {
                chunks,
                frames,
                size,
            } => {
                self.done_chunks += chunks;
                self.done_frames += frames;
                self.size += size;
            }
            Event::Muxing => self.muxing = true,
            Event::Finished(stats) => {
                self.finished = true;
                self.final_stats = stats.clone();
            }
            Event::Retry { .. } | Event::WorkerLost { .. } => {}
        }
    }

    /// The progress of the chunks encoding or being collected.
    fn live(&self) -> impl Iterator<Item = &EncodeProgress> {
        let encoding = self.slots.iter().filter(|s| s.chunk.is_some());
        encoding.map(|s| &s.p).chain(self.collecting.values())
    }

    /// Frames encoded so far, including the live chunks.
    pub fn frames_now(&self) -> i64 {
        let live: i64 = self.live().map(|p| p.frame).sum();
        (self.done_frames + live).min(self.total_frames.max(self.done_frames))
    }

    pub fn size_now(&self) -> u64 {
        self.size + self.live().map(|p| p.size).sum::<u64>()
    }

    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64().max(1e-3)
    }

    pub fn fps(&self) -> f64 {
        self.frames_now() as f64 / self.elapsed()
    }

    pub fn eta(&self) -> Option<f64> {
        let (f, fps) = (self.frames_now(), self.fps());
        (fps > 0.0 && self.total_frames > f).then(|| (self.total_frames - f) as f64 / fps)
    }

    /// The plain one-line status (no escape codes).
    pub fn line(&self) -> String {
        let mut s = format!(
            "frame={}/{} chunks={}/{} fps={:.1} size={} elapsed={}",
            self.frames_now(),
            self.total_frames,
            self.done_chunks,
            self.chunks,
            self.fps(),
            human_size(self.size_now()),
            clock(self.elapsed())
        );
        if let Some(eta) = self.eta() {
            let _ = write!(s, " eta={}", clock(eta));
        }
        if self.finished {
            s.push_str(" done");
        } else if self.muxing {
            s.push_str(" muxing");
        }
        s
    }

    /// The status of the bar line on a terminal.
    pub fn bar_message(&self) -> String {
        let eta = self
            .eta()
            .map(|e| format!(" eta {}", clock(e)))
            .unwrap_or_default();
        let tail = if self.muxing { " · muxing" } else { "" };
        format!(
            "{:.1} fps · {} · chunks {}/{}{eta}{tail}",
            self.fps(),
            human_size(self.size_now()),
            self.done_chunks,
            self.chunks
        )
    }

    /// One slot's line on a terminal.
    pub fn slot_line(&self, i: usize) -> String {
        let s = &self.slots[i];
        match s.chunk {
            Some(c) => format!(
                "  {:<24} chunk {:>4}  {:>5}/{:<5} frames {:>6.1} fps",
                s.label, c, s.p.frame, s.chunk_frames, s.p.fps
            ),
            None if s.waiting => format!(
                "  {:<24} waiting: its slots are busy with other jobs",
                s.label
            ),
            None => format!("  {:<24} idle", s.label),
        }
    }

    /// ffmpeg's report of the job so far: the frames done and in flight, their size, and the
    /// output position they reach at `rate`; the last one gives the written file's figures.
    pub fn report(&mut self, rate: f64, last: bool) -> Report {
        let elapsed = self.elapsed();
        if let (true, Some(f)) = (last, &self.final_stats) {
            return Report {
                frame: f.frame,
                elapsed,
                // the encoder's last quality (-1 for x264 after its flush, -0 for ffv1)
                q: self.q,
                size: Some(f.size),
                time_us: Some(f.time_us),
                last,
            };
        }
        let frames = self.frames_now();
        if rate > 0.0 {
            self.time_us = self.time_us.max((frames as f64 / rate * 1e6) as i64);
        }
        Report {
            frame: frames,
            elapsed,
            q: self.q,
            size: (!self.sizeless).then(|| self.size_now()),
            time_us: Some(self.time_us),
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_events() {
        let mut st = State::default();
        st.apply(&Event::Planned {
            chunks: 2,
            frames: 100,
            slots: vec!["a".into(), "b".into()],
        });
        st.apply(&Event::Started {
            slot: 0,
            chunk: 1,
            frames: 50,
        });
        st.apply(&Event::Progress {
            slot: 0,
            chunk: 1,
            p: EncodeProgress {
                frame: 20,
                fps: 10.0,
                size: 1000,
                q: 30.0,
                out_time_us: None,
            },
        });
        assert_eq!(st.frames_now(), 20);
        st.apply(&Event::Done {
            slot: 0,
            chunk: 1,
            frames: 50,
            size: 5000,
        });
        assert_eq!(st.frames_now(), 50);
        assert_eq!(st.size_now(), 5000);
        assert!(st.line().starts_with("frame=50/100 chunks=1/2"));
        assert!(st.slot_line(1).contains("idle"));
        // a slot whose worker is leased by other jobs says so until it starts a chunk
        st.apply(&Event::Waiting { slot: 1 });
        assert!(st
            .slot_line(1)
            .contains("waiting: its slots are busy with other jobs"));
        st.apply(&Event::Started {
            slot: 1,
            chunk: 2,
            frames: 50,
        });
        assert!(st.slot_line(1).contains("chunk    2"));
        let block = st.report(25.0, true).block(0);
        assert!(block.contains("frame=50\n") && block.contains("out_time_us=2000000\n"));
        assert!(block.ends_with("progress=end\n"));
        // the written file's own figures come last
        st.apply(&Event::Finished(Some(FinalStats {
            frame: 100,
            size: 9000,
            time_us: 4_010_000,
            summary: None,
        })));
        let r = st.report(25.0, true);
        assert_eq!(
            (r.frame, r.size, r.time_us),
            (100, Some(9000), Some(4_010_000))
        );
        assert!(r.line().contains(" Lsize=       9kB time=00:00:04.01 "));
    }

    fn progress(st: &mut State, slot: usize, chunk: usize, frame: i64) {
        let p = EncodeProgress {
            frame,
            fps: 1.0,
            size: 10 * frame as u64,
            q: 30.0,
            out_time_us: None,
        };
        st.apply(&Event::Progress { slot, chunk, p });
    }

    #[test]
    fn a_chunk_being_collected_still_counts() {
        let mut st = State::default();
        st.apply(&Event::Planned {
            chunks: 3,
            frames: 300,
            slots: vec!["a".into()],
        });
        let start = |chunk| Event::Started {
            slot: 0,
            chunk,
            frames: 100,
        };
        st.apply(&start(0));
        progress(&mut st, 0, 0, 100);
        // the slot starts chunk 1 while chunk 0 is downloaded and checked
        st.apply(&start(1));
        progress(&mut st, 0, 1, 30);
        assert_eq!((st.frames_now(), st.size_now()), (130, 1300));
        st.apply(&Event::Done {
            slot: 0,
            chunk: 0,
            frames: 100,
            size: 900,
        });
        assert_eq!((st.frames_now(), st.size_now()), (130, 1200));
        assert!(st.collecting.is_empty());
        assert!(
            st.slot_line(0).contains("chunk    1"),
            "{}",
            st.slot_line(0)
        );
        // a collected chunk that fails its check no longer counts
        st.apply(&start(2));
        st.apply(&Event::Failed { slot: 0, chunk: 1 });
        assert_eq!(st.frames_now(), 100);
    }
}
