//! `-df_batch=FILE` (`-` for stdin): one ffmpeg command line per line, in shell words (blank
//! lines and `#` comments skipped), each run as a job of this program with the batch's own
//! `-df_KEY=VALUE` overrides. With SSH workers two jobs run at once, so that one job's last
//! chunks overlap the next one's first; the workers' slot leases share the farm between them.
//! Each job says one line when it starts and one when it ends; a failed job stops no other;
//! the exit code is 1 when any failed, 255 after an interrupt (passed on to the jobs).

use crate::config::Config;
use crate::pipeline::Interrupted;
use crate::signals::Interrupts;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Instant;
use tokio::task::JoinSet;

/// One line of a batch file: its number and the ffmpeg argv it holds.
#[derive(Debug)]
pub struct Line {
    pub number: usize,
    pub argv: Result<Vec<String>, JobError>,
}

/// Why a job of the batch did not run to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("not shell words: {0}")]
    Words(#[from] shell_words::ParseError),
    #[error("cannot start {0}: {1}")]
    Start(String, std::io::Error),
    #[error("{0}")]
    Wait(std::io::Error),
}

/// The jobs of a batch file (a line that is not valid shell words is a job that fails).
pub fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| Line {
            number: i + 1,
            argv: shell_words::split(l).map_err(JobError::from),
        })
        .collect()
}

/// How a job ended.
struct Ended {
    number: usize,
    name: String,
    result: Result<(u8, String), JobError>,
    secs: f64,
}

/// Runs the batch; `own` are the batch's `-df_` tokens every job gets.
pub async fn run(file: &Path, own: &[String], config: &Config) -> Result<ExitCode> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading the batch from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?
    };
    let lines = parse(&text);
    let total = lines.len();
    let at_once = if config.workers.is_empty() { 1 } else { 2 };
    let exe = std::env::current_exe().context("cannot find distrffmpeg itself")?;
    let mut queue = lines.into_iter().enumerate();
    let mut running: JoinSet<Ended> = JoinSet::new();
    // cancelled by an interrupt: each running job gets SIGINT
    let stop = tokio_util::sync::CancellationToken::new();
    let (mut failed, mut finished) = (0, 0);
    let mut signals = Interrupts::listen();
    let mut interrupted = false;
    loop {
        while running.len() < at_once && !interrupted {
            let Some((k, line)) = queue.next() else {
                break;
            };
            let name = line
                .argv
                .as_ref()
                .ok()
                .and_then(|a| a.last().cloned())
                .unwrap_or_default();
            eprintln!(
                "distrffmpeg: job {}/{total} (line {}) started: {name}",
                k + 1,
                line.number
            );
            let argv = line.argv.map(|a| own.iter().cloned().chain(a).collect());
            let started = Instant::now();
            let child = argv.map(|a: Vec<String>| {
                tokio::process::Command::new(&exe)
                    .args(a)
                    .stdin(Stdio::null())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| JobError::Start(exe.display().to_string(), e))
            });
            let number = line.number;
            let stop = stop.clone();
            running.spawn(async move {
                let result = match child {
                    Ok(Ok(c)) => finish(c, &stop).await,
                    Ok(Err(e)) | Err(e) => Err(e),
                };
                Ended {
                    number,
                    name,
                    result,
                    secs: started.elapsed().as_secs_f64(),
                }
            });
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some(ended) = running.join_next() => {
                let Ok(e) = ended else { continue };
                finished += 1;
                let head = format!("distrffmpeg: [{finished}/{total} done] line {}", e.number);
                match e.result {
                    Ok((0, _)) => eprintln!("{head} done in {:.1} s: {}", e.secs, e.name),
                    Ok((code, last)) => {
                        failed += 1;
                        eprintln!("{head} failed (exit {code}): {last}");
                    }
                    Err(why) => {
                        failed += 1;
                        eprintln!("{head} failed: {why}");
                    }
                }
            }
            _ = signals.next(), if !interrupted => {
                // the jobs stop as after Ctrl-C (each cleans up); no new one starts
                interrupted = true;
                stop.cancel();
            }
        }
    }
    if interrupted {
        return Err(Interrupted.into());
    }
    if failed > 0 {
        eprintln!("distrffmpeg: {failed} of {total} jobs failed");
    }
    Ok(ExitCode::from(u8::from(failed > 0)))
}

/// Waits for a job's exit code and the last line of its stderr; on `stop`, sends it SIGINT
/// first (while it is not yet reaped, so its pid is still this job's).
async fn finish(
    mut c: tokio::process::Child,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<(u8, String), JobError> {
    use tokio::io::AsyncReadExt;
    let mut pipe = c.stderr.take();
    let read = tokio::spawn(async move {
        let mut buf = Vec::new();
        if let Some(p) = pipe.as_mut() {
            let _ = p.read_to_end(&mut buf).await;
        }
        buf
    });
    let status = tokio::select! {
        s = c.wait() => s,
        _ = stop.cancelled() => {
            if let Some(pid) = c.id() {
                let _ = tokio::process::Command::new("kill")
                    .args(["-INT", &pid.to_string()])
                    .status()
                    .await;
            }
            c.wait().await
        }
    }
    .map_err(JobError::Wait)?;
    let stderr = read.await.unwrap_or_default();
    Ok((status.code().unwrap_or(255) as u8, last_line(&stderr)))
}

/// The last line a job printed on stderr (ffmpeg's stats lines end in `\r`).
fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .split(['\n', '\r'])
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_file_is_shell_words_per_line() {
        let lines = parse(
            "# two jobs\n-i 'in one.mp4' -c:v libx264 out1.mkv\n\n  -i in2.mp4 \"out 2.mkv\"\n-i 'open\n",
        );
        let argv: Vec<_> = lines.iter().map(|l| (l.number, l.argv.is_ok())).collect();
        assert_eq!(argv, vec![(2, true), (4, true), (5, false)]);
        assert_eq!(
            lines[0].argv.as_ref().unwrap(),
            &["-i", "in one.mp4", "-c:v", "libx264", "out1.mkv"]
        );
        assert_eq!(lines[1].argv.as_ref().unwrap().last().unwrap(), "out 2.mkv");
    }

    #[test]
    fn the_last_line_of_a_jobs_stderr_skips_stats_and_blanks() {
        assert_eq!(
            last_line(b"frame=1\rframe=2\rdistrffmpeg: x: No such file\n\n"),
            "distrffmpeg: x: No such file"
        );
        assert_eq!(last_line(b""), "");
    }
}
