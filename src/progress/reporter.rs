//! The reporter task: the only place that draws progress. Fed by the event channel; on a
//! terminal it draws an indicatif bar for the job and a line per worker slot (log lines pass
//! through it via the logging sink), otherwise it prints ffmpeg's own stats lines every
//! `-stats_period` and its last report and summary; it also writes ffmpeg's `key=value`
//! blocks to the user's `-progress` target.

use super::state::State;
use super::Event;
use crate::logging::Sink;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Bars on a terminal.
    Tty,
    /// What ffmpeg prints on a stderr that is not a terminal.
    Ffmpeg(FfStderr),
    Off,
}

/// Which of ffmpeg's reports are shown (`-stats`/`-nostats` and `-loglevel` decide, as in
/// fftools' `print_report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FfStderr {
    /// `frame=… \r` every `period`.
    pub lines: bool,
    /// The last report (`Lsize=`, `\n`).
    pub last: bool,
    /// `video:…kB audio:…kB … muxing overhead: …%` (info level).
    pub summary: bool,
    /// The input, stream mapping and output blocks (info level).
    pub banner: bool,
    pub period: Duration,
}

pub struct ReporterOptions {
    pub display: Display,
    /// Where `-progress` blocks go, already opened.
    pub progress: Option<Box<dyn Write + Send>>,
    /// Output frame rate (for out_time in `-progress`).
    pub rate: f64,
    /// The encoded video's output index (`stream_0_N_q`).
    pub video_out: usize,
    /// How often `-progress` gets a block (`-stats_period`).
    pub period: Duration,
    /// The output is thrown away (`-f null`): ffmpeg knows no size (`size=N/A`).
    pub sizeless: bool,
    pub sink: Sink,
}

/// ffmpeg's text on stderr, written at once (it carries its own `\r` or `\n`).
fn to_stderr(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes()).and_then(|()| e.flush());
}

struct Bars {
    mp: MultiProgress,
    main: ProgressBar,
    slots: Vec<ProgressBar>,
}

impl Bars {
    fn new(st: &State, sink: &Sink) -> Bars {
        let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let main = mp.add(ProgressBar::new(st.total_frames.max(1) as u64));
        main.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} frames · {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let slots = (0..st.slots.len())
            .map(|_| {
                let b = mp.add(ProgressBar::new_spinner());
                b.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
                b
            })
            .collect();
        sink.attach(mp.clone());
        Bars { mp, main, slots }
    }

    fn draw(&self, st: &State) {
        self.main.set_length(st.total_frames.max(1) as u64);
        self.main.set_position(st.frames_now().max(0) as u64);
        self.main.set_message(st.bar_message());
        for (i, b) in self.slots.iter().enumerate() {
            b.set_message(st.slot_line(i));
        }
    }

    fn finish(&self, sink: &Sink) {
        for b in &self.slots {
            b.finish_and_clear();
        }
        self.main.finish_and_clear();
        let _ = self.mp.clear();
        sink.detach();
    }
}

/// Starts the reporter; it ends when every sender is dropped.
pub fn spawn_reporter(
    mut rx: mpsc::UnboundedReceiver<Event>,
    mut opts: ReporterOptions,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut st = State {
            sizeless: opts.sizeless,
            ..State::default()
        };
        let mut bars: Option<Bars> = None;
        let tick = match opts.display {
            Display::Tty => Duration::from_millis(125),
            Display::Ffmpeg(ff) => ff
                .period
                .clamp(Duration::from_millis(50), Duration::from_millis(500)),
            Display::Off => Duration::from_millis(500),
        };
        let ff = match opts.display {
            Display::Ffmpeg(ff) => Some(ff),
            _ => None,
        };
        // ffmpeg reports the first frame at once, then every period
        let mut last_line: Option<Instant> = None;
        let mut last_block = Instant::now();
        loop {
            let ev = tokio::time::timeout(tick, rx.recv()).await;
            let closed = matches!(ev, Ok(None));
            if let Ok(Some(ev)) = &ev {
                if let Event::Retry {
                    chunk,
                    worker,
                    error,
                } = ev
                {
                    tracing::warn!("chunk {chunk} failed on {worker}, retrying elsewhere: {error}");
                }
                if let Event::WorkerLost { worker, error } = ev {
                    tracing::warn!("worker {worker} dropped for the rest of the job: {error}");
                }
                st.apply(ev);
                if matches!(ev, Event::Planned { .. }) && opts.display == Display::Tty {
                    bars = Some(Bars::new(&st, &opts.sink));
                }
            }
            if let Some(b) = &bars {
                b.draw(&st);
            }
            let last = closed && st.finished;
            if let Some(ff) = ff.filter(|ff| ff.lines && !closed) {
                let due = last_line.is_none_or(|t| t.elapsed() >= ff.period);
                // like ffmpeg's first report, after the first encoded frame
                if due && st.frames_now() > 0 {
                    last_line = Some(Instant::now());
                    to_stderr(&st.report(opts.rate, false).line());
                }
            }
            if let Some(w) = opts.progress.as_mut() {
                if last_block.elapsed() >= opts.period || last {
                    last_block = Instant::now();
                    let _ =
                        w.write_all(st.report(opts.rate, last).block(opts.video_out).as_bytes());
                    let _ = w.flush();
                }
            }
            if closed {
                break;
            }
        }
        if let Some(ff) = ff.filter(|_| st.finished) {
            if ff.last {
                to_stderr(&st.report(opts.rate, true).line());
            }
            if let Some(summary) = st.final_stats.as_ref().and_then(|f| f.summary.as_ref()) {
                if ff.summary {
                    to_stderr(&format!("{summary}\n"));
                }
            }
        }
        if let Some(b) = bars {
            b.finish(&opts.sink);
            if st.finished {
                // the bars are gone: leave the final figures, like ffmpeg's last stats line
                tracing::info!("{}", st.line());
            }
        }
    })
}
