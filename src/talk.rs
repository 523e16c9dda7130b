//! How a distributed run talks like ffmpeg: the progress display ffmpeg's options choose
//! (bars on a terminal, ffmpeg's own stats otherwise), ffmpeg's banner for a job, `q` on
//! stdin, and stdout writes that survive a reader that went away.

use crate::cli::argv::CmdLine;
use crate::job;
use crate::probe;
use crate::progress::Display;
use std::io::IsTerminal;
use tokio_util::sync::CancellationToken;

/// How progress is shown: bars on a terminal, otherwise what ffmpeg prints there, as its
/// `-stats`/`-nostats`, `-stats_period` and `-loglevel` say (fftools' `print_report`).
pub fn display(
    cmd: &CmdLine,
    level: Option<tracing::Level>,
    ff_level: Option<Option<tracing::Level>>,
) -> Display {
    let print_stats = cmd.global("stats").map(|o| o.bool_value());
    if std::io::stderr().is_terminal() {
        let bars = level.is_some_and(|l| l >= tracing::Level::INFO) && print_stats != Some(false);
        return if bars { Display::Tty } else { Display::Off };
    }
    // ffmpeg's own level (info when not given), not distrffmpeg's config level
    let info = ff_level.unwrap_or(Some(tracing::Level::INFO)) >= Some(tracing::Level::INFO);
    let period = crate::progress::stats_period(cmd);
    Display::Ffmpeg(crate::progress::FfStderr {
        lines: print_stats == Some(true) || print_stats.is_none() && info,
        last: print_stats == Some(true) || info,
        summary: info,
        banner: info,
        period,
    })
}

/// Writes to stdout; a reader that went away (`| head -1`) is not an error, as for ffmpeg,
/// whose small outputs fit the pipe.
pub fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// ffmpeg's keys on stdin: the first `q` finishes the output with what is encoded so far, a
/// second one aborts like Ctrl-C. stdin is read on a thread of its own, which a blocked read
/// never keeps from exiting.
pub fn watch_keys(
    ffmpeg_info: bool,
    quit: CancellationToken,
    interrupted: CancellationToken,
    cancel: CancellationToken,
) -> AbortOnDrop {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin().lock();
        let mut b = [0u8; 1];
        while let Ok(1) = stdin.read(&mut b) {
            if b[0] == b'q' && tx.send(()).is_err() {
                break;
            }
        }
    });
    AbortOnDrop(tokio::spawn(async move {
        if rx.recv().await.is_some() {
            // ffmpeg's own words (info level), then the chunks done so far are written
            if ffmpeg_info {
                eprint!("\n\n[q] command received. Exiting.\n\n");
            }
            quit.cancel();
            if rx.recv().await.is_some() {
                interrupted.cancel();
                cancel.cancel();
            }
        }
    }))
}

/// A task that ends with its scope.
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What ffmpeg prints on stderr before it encodes: the version block (unless -hide_banner),
/// each input, the stream mapping and the output.
pub fn banner(
    spec: &job::JobSpec,
    infos: &[probe::MediaInfo],
    dumps: &[String],
    version: &str,
    codecs: &crate::banner::Codecs,
) -> String {
    let mut s = String::new();
    if !spec.cmd.has_global("hide_banner") {
        s.push_str(version);
    }
    for (n, d) in dumps.iter().enumerate() {
        s.push_str(&crate::banner::input_block(n, d));
    }
    let stdin = spec.cmd.global("stdin").is_none_or(|o| o.bool_value());
    // several outputs: each one's lines, numbered as ffmpeg numbers its output files
    let jobs: Vec<&job::JobSpec> = std::iter::once(spec).chain(&spec.others).collect();
    s.push_str(&crate::banner::mapping(&jobs, infos, codecs, stdin));
    // (an output plain ffmpeg writes beside the job prints nothing here)
    for job in jobs {
        let n = job.output_index;
        s.push_str(&crate::banner::output_block(
            (job, n),
            dumps,
            codecs,
            version,
        ));
    }
    s
}
