//! The one way local subprocesses are run: killed when dropped, exit status always checked,
//! and the tail of stderr carried into the error so a failure explains itself.

use std::ffi::OsStr;
use std::process::{ExitStatus, Stdio};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// How many bytes of stderr an error keeps.
const STDERR_TAIL: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed ({status}){}", tail_suffix(.stderr_tail))]
    Failed {
        program: String,
        status: ExitStatus,
        stderr_tail: String,
    },
    #[error("{program}: {source}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

fn tail_suffix(tail: &str) -> String {
    let t = tail.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(":\n{t}")
    }
}

impl ProcessError {
    pub fn stderr_tail(&self) -> &str {
        match self {
            ProcessError::Failed { stderr_tail, .. } => stderr_tail,
            _ => "",
        }
    }
}

/// The last `STDERR_TAIL` bytes of `buf`, starting at a line boundary, as text.
pub fn tail(buf: &[u8]) -> String {
    let start = buf.len().saturating_sub(STDERR_TAIL);
    let mut s = &buf[start..];
    if start > 0 {
        if let Some(nl) = s.iter().position(|&b| b == b'\n') {
            s = &s[nl + 1..];
        }
    }
    String::from_utf8_lossy(s).into_owned()
}

/// A command line for display in logs and dry runs (POSIX-quoted).
pub fn display_cmd<I, S>(program: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut v = vec![shell_words::quote(program).into_owned()];
    v.extend(
        args.into_iter()
            .map(|a| shell_words::quote(a.as_ref()).into_owned()),
    );
    v.join(" ")
}

/// A prepared command: stdin closed, stdout and stderr piped, killed on drop.
pub fn command<S: AsRef<OsStr>>(program: S, args: &[String]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .env(crate::ffbin::INNER_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Runs a command to completion and returns its stdout; a non-zero exit is an error with the
/// tail of stderr.
pub async fn output(program: &str, args: &[String]) -> Result<Vec<u8>, ProcessError> {
    output_at(program, args, false).await
}

/// `output` at the lowest CPU priority, for work nobody waits for yet (the audio, splits ahead
/// of dispatch, checks of chunks whose worker has moved on): it takes what the encodes leave
/// idle (local slots, or workers sharing this machine's cores) instead of slowing them down.
pub async fn background_output(program: &str, args: &[String]) -> Result<Vec<u8>, ProcessError> {
    output_at(program, args, true).await
}

/// `output`, or `background_output` when `background`.
pub async fn output_at(
    program: &str,
    args: &[String],
    background: bool,
) -> Result<Vec<u8>, ProcessError> {
    let mut c = command(program, args);
    #[cfg(unix)]
    if background {
        // SAFETY: the closure makes one async-signal-safe system call between fork and exec;
        // if it fails, the priority stays as it was.
        unsafe {
            c.pre_exec(|| {
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
                Ok(())
            });
        }
    }
    #[cfg(not(unix))]
    let _ = background;
    run(c, program).await
}

async fn run(mut c: Command, program: &str) -> Result<Vec<u8>, ProcessError> {
    let mut child = c.spawn().map_err(|source| ProcessError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = |source| ProcessError::Io {
        program: program.to_string(),
        source,
    };
    let (r1, r2) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
    r1.map_err(io)?;
    r2.map_err(io)?;
    let status = child.wait().await.map_err(io)?;
    if !status.success() {
        return Err(ProcessError::Failed {
            program: program.to_string(),
            status,
            stderr_tail: tail(&err),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failure_carries_stderr_tail() {
        let err = output("sh", &["-c".into(), "echo boom >&2; exit 3".into()])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        assert!(err.to_string().contains("exit status: 3"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn background_work_runs_at_the_lowest_priority() {
        // field 19 of /proc/self/stat is the nice value
        let out = background_output(
            "sh",
            &["-c".into(), "cut -d' ' -f19 /proc/self/stat".into()],
        )
        .await
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&out).trim(), "19");
        let out = output(
            "sh",
            &["-c".into(), "cut -d' ' -f19 /proc/self/stat".into()],
        )
        .await
        .unwrap();
        let ours = std::fs::read_to_string("/proc/self/stat").unwrap();
        let ours = ours
            .rsplit(") ")
            .next()
            .unwrap()
            .split(' ')
            .nth(16)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out).trim(), ours);
    }

    #[tokio::test]
    async fn success_returns_stdout() {
        let out = output("sh", &["-c".into(), "printf hi".into()])
            .await
            .unwrap();
        assert_eq!(out, b"hi");
    }

    #[tokio::test]
    async fn missing_program_is_a_spawn_error() {
        let err = output("/nonexistent/prog", &[]).await.unwrap_err();
        assert!(matches!(err, ProcessError::Spawn { .. }));
    }

    #[test]
    fn tail_starts_at_a_line() {
        let mut buf = vec![b'x'; 5000];
        buf.extend_from_slice(b"\nlast line\n");
        assert_eq!(tail(&buf), "last line\n");
        assert_eq!(display_cmd("ffmpeg", ["-i", "a b"]), "ffmpeg -i 'a b'");
    }
}
