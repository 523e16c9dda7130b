//! The one way local subprocesses are run: killed when dropped, exit status always checked,
//! and the tail of stderr carried into the error so a failure explains itself. A child that is
//! dropped while it runs is killed together with the processes it started (an `ffmpeg_bin`
//! that is a script running ffmpeg), and `kill_all` kills every running child at once (a
//! second Ctrl-C or SIGTERM, which exits without unwinding).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
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

/// A running child process (see the module doc).
pub struct Child {
    inner: tokio::process::Child,
    pid: Option<u32>,
}

impl std::ops::Deref for Child {
    type Target = tokio::process::Child;
    fn deref(&self) -> &tokio::process::Child {
        &self.inner
    }
}

impl std::ops::DerefMut for Child {
    fn deref_mut(&mut self) -> &mut tokio::process::Child {
        &mut self.inner
    }
}

/// The children that run now, by process id.
fn live() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    static LIVE: OnceLock<Mutex<BTreeSet<u32>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Starts `c` (made by `command`).
pub fn spawn(c: &mut Command) -> std::io::Result<Child> {
    let inner = c.spawn()?;
    let pid = inner.id();
    if let Some(p) = pid {
        live().insert(p);
    }
    Ok(Child { inner, pid })
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(pid) = self.pid else {
            return;
        };
        if matches!(self.inner.try_wait(), Ok(None)) {
            kill_tree(pid);
        }
        live().remove(&pid);
    }
}

/// Kills every child that runs now, with what it started.
pub fn kill_all() {
    let pids: Vec<u32> = live().iter().copied().collect();
    for pid in pids {
        kill_tree(pid);
    }
}

/// `/proc/<pid>/stat`'s parent process id (after the parenthesized command name).
#[cfg(target_os = "linux")]
fn parent_of(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The processes descended from `pid`, read from /proc.
#[cfg(target_os = "linux")]
fn descendants(pid: u32) -> Vec<u32> {
    let mut kids: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(pp) = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|s| parent_of(&s))
        {
            kids.entry(pp).or_default().push(p);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &k in kids.get(&p).into_iter().flatten() {
            out.push(k);
            todo.push(k);
        }
    }
    out
}

/// SIGKILLs our child `pid` and every process it started. A pid that is no longer our
/// child (reaped and reused) is left alone.
#[allow(unsafe_code)]
fn kill_tree(pid: u32) {
    #[cfg(target_os = "linux")]
    {
        let ours = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| parent_of(&s))
            == Some(std::process::id());
        if !ours {
            return;
        }
        let below = descendants(pid);
        // SAFETY: kill(2) with a pid we checked is our child, then its descendants.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            for d in below {
                libc::kill(d as libc::pid_t, libc::SIGKILL);
            }
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    // SAFETY: kill(2) of our own unreaped child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
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
#[allow(unsafe_code)]
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
    Ok(run(c, program).await?.0)
}

/// `output`, with the whole stderr too (for reports a command prints there).
pub async fn output_and_stderr(
    program: &str,
    args: &[String],
) -> Result<(Vec<u8>, Vec<u8>), ProcessError> {
    run(command(program, args), program).await
}

async fn run(mut c: Command, program: &str) -> Result<(Vec<u8>, Vec<u8>), ProcessError> {
    let mut child = spawn(&mut c).map_err(|source| ProcessError::Spawn {
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
    Ok((out, err))
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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_dropped_child_is_killed_with_what_it_started() {
        let mut c = command("sh", &["-c".into(), "sleep 600.41 & echo $!; wait".into()]);
        let mut child = spawn(&mut c).unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut line = [0u8; 16];
        let n = out.read(&mut line).await.unwrap();
        let grandchild: u32 = String::from_utf8_lossy(&line[..n]).trim().parse().unwrap();
        assert!(std::path::Path::new(&format!("/proc/{grandchild}")).exists());
        drop(child);
        let gone = || {
            std::fs::read_to_string(format!("/proc/{grandchild}/stat")).map_or(true, |s| {
                s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z')
            })
        };
        for _ in 0..100 {
            if gone() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the grandchild {grandchild} survived");
    }

    #[test]
    fn tail_starts_at_a_line() {
        let mut buf = vec![b'x'; 5000];
        buf.extend_from_slice(b"\nlast line\n");
        assert_eq!(tail(&buf), "last line\n");
        assert_eq!(display_cmd("ffmpeg", ["-i", "a b"]), "ffmpeg -i 'a b'");
    }
}
