//! Progress: the events stages send, parsing of ffmpeg's `-progress` key=value output, and the
//! one reporter task that turns events into a display (indicatif bars on a terminal, plain
//! lines otherwise) and into the user's `-progress` file.

pub mod ffstyle;
mod reporter;
pub mod state;
pub mod url;

pub use reporter::{spawn_reporter, Display, FfStderr, ReporterOptions};
use tokio::sync::mpsc;

/// A live snapshot parsed from `-progress` output.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EncodeProgress {
    pub frame: i64,
    pub fps: f64,
    pub size: u64,
    /// The encoder's quality (`stream_0_0_q`).
    pub q: f32,
    /// The end of the last packet muxed (`out_time_us`), in the output's timestamps: `frame`
    /// counts the frames fed to the encoder, which its look-ahead keeps ahead of this.
    pub out_time_us: Option<i64>,
}

/// Accumulates `-progress` lines; returns a snapshot at each `progress=` line.
#[derive(Debug, Default)]
pub struct ProgressParser {
    cur: EncodeProgress,
}

impl ProgressParser {
    pub fn line(&mut self, line: &str) -> Option<EncodeProgress> {
        let (k, v) = line.trim().split_once('=')?;
        let v = v.trim();
        match k {
            "frame" => self.cur.frame = v.parse().unwrap_or(self.cur.frame),
            "fps" => self.cur.fps = v.parse().unwrap_or(self.cur.fps),
            "total_size" => self.cur.size = v.parse().unwrap_or(self.cur.size),
            "out_time_us" => self.cur.out_time_us = v.parse().ok().or(self.cur.out_time_us),
            k if k.starts_with("stream_") && k.ends_with("_q") => {
                self.cur.q = v.parse().unwrap_or(self.cur.q)
            }
            "progress" => return Some(self.cur),
            _ => {}
        }
        None
    }
}

/// What happened, for the reporter (and the `-progress` writer).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Planned {
        chunks: usize,
        frames: i64,
        slots: Vec<String>,
    },
    Started {
        slot: usize,
        chunk: usize,
        frames: i64,
    },
    Progress {
        slot: usize,
        chunk: usize,
        p: EncodeProgress,
    },
    /// Chunks a previous run finished (resume).
    Resumed {
        chunks: usize,
        frames: i64,
        size: u64,
    },
    /// Slots of a worker that joined while the job runs (numbered after the others).
    SlotsJoined {
        labels: Vec<String>,
    },
    /// Every slot of the slot's worker is leased by other jobs: it waits for one.
    Waiting {
        slot: usize,
    },
    /// The slot's chunk failed (it goes back to the queue).
    Failed {
        slot: usize,
        chunk: usize,
    },
    Done {
        slot: usize,
        chunk: usize,
        frames: i64,
        size: u64,
    },
    Retry {
        chunk: usize,
        worker: String,
        error: String,
    },
    WorkerLost {
        worker: String,
        error: String,
    },
    Muxing,
    /// The output is in place; the final mux's own figures for ffmpeg's last report.
    Finished(Option<FinalStats>),
}

/// What the final mux reported of the written file: ffmpeg's last stats line and summary
/// describe the same packets.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalStats {
    pub frame: i64,
    pub size: u64,
    pub time_us: i64,
    /// `video:…kB audio:…kB … muxing overhead: …%`, when the final mux printed it.
    pub summary: Option<String>,
}

pub type Events = mpsc::UnboundedSender<Event>;

/// ffmpeg's `-stats_period` (0.5 s when not given): how often it reports, on stderr and to
/// `-progress`.
pub fn stats_period(cmd: &crate::cli::argv::CmdLine) -> std::time::Duration {
    cmd.global("stats_period")
        .and_then(|o| o.arg.as_deref())
        .and_then(crate::rational::parse_duration_us)
        .filter(|&us| us > 0)
        .map_or(std::time::Duration::from_millis(500), |us| {
            std::time::Duration::from_micros(us as u64)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_progress_blocks() {
        let mut p = ProgressParser::default();
        let text = "frame=12\nfps=3.5\nstream_0_0_q=28.0\ntotal_size=4096\nout_time_us=400000\nprogress=continue\nframe=20\nprogress=end\n";
        let snaps: Vec<_> = text.lines().filter_map(|l| p.line(l)).collect();
        assert_eq!(snaps.len(), 2);
        assert_eq!(
            snaps[0],
            EncodeProgress {
                frame: 12,
                fps: 3.5,
                size: 4096,
                q: 28.0,
                out_time_us: Some(400_000),
            }
        );
        assert_eq!(snaps[1].frame, 20);
        assert_eq!(p.line("out_time_us=N/A"), None);
        assert_eq!(
            p.line("progress=continue").unwrap().out_time_us,
            Some(400_000)
        );
        assert_eq!(p.line("fps=N/A"), None);
    }
}
