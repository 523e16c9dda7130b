//! The local worker: runs ffmpeg as a subprocess on this machine in a subdirectory of the job's
//! work dir; "uploads" are hard links and "downloads" renames, so nothing is copied.

use super::{is_fatal_ffmpeg_error, BoxFut, ProgressFn, Worker, WorkerError};
use crate::process;
use crate::progress::ProgressParser;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio_util::sync::CancellationToken;

pub struct LocalWorker {
    label: String,
    ffmpeg: PathBuf,
    dir: PathBuf,
}

impl LocalWorker {
    pub fn new(ffmpeg: PathBuf, dir: PathBuf) -> LocalWorker {
        LocalWorker {
            label: "local".into(),
            ffmpeg,
            dir,
        }
    }
}

/// Feeds `-progress pipe:1` lines from `out` to `progress` until EOF.
pub async fn pump_progress<R: AsyncRead + Unpin>(out: R, progress: ProgressFn<'_>) {
    let mut lines = BufReader::new(out).lines();
    let mut parser = ProgressParser::default();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(p) = parser.line(&line) {
            progress(p);
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(b).ok())
            .is_some_and(|(x, y)| x == y)
}

fn io_err(e: std::io::Error) -> WorkerError {
    WorkerError::Transport(e.to_string())
}

impl Worker for LocalWorker {
    fn label(&self) -> &str {
        &self.label
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn prepare(&self) -> BoxFut<'_, Result<(), WorkerError>> {
        Box::pin(async move { tokio::fs::create_dir_all(&self.dir).await.map_err(io_err) })
    }

    fn upload<'a>(&'a self, local: &'a Path, name: &'a str) -> BoxFut<'a, Result<(), WorkerError>> {
        Box::pin(async move {
            let target = self.dir.join(name);
            if same_file(local, &target) {
                return Ok(());
            }
            let _ = tokio::fs::remove_file(&target).await;
            if tokio::fs::hard_link(local, &target).await.is_ok() {
                return Ok(());
            }
            tokio::fs::copy(local, &target)
                .await
                .map(|_| ())
                .map_err(io_err)
        })
    }

    fn encode<'a>(
        &'a self,
        args: &'a [String],
        progress: ProgressFn<'a>,
        cancel: &'a CancellationToken,
    ) -> BoxFut<'a, Result<String, WorkerError>> {
        Box::pin(async move {
            let mut child =
                process::spawn(&mut process::command(&self.ffmpeg, args)).map_err(|e| {
                    WorkerError::Transport(format!("cannot run {}: {e}", self.ffmpeg.display()))
                })?;
            let stdout = child.stdout.take().expect("piped");
            let mut stderr = child.stderr.take().expect("piped");
            let mut err_buf = Vec::new();
            let run = async {
                let (_, _, status) = tokio::join!(
                    pump_progress(stdout, progress),
                    stderr.read_to_end(&mut err_buf),
                    child.wait()
                );
                status
            };
            let status = tokio::select! {
                s = run => s.map_err(io_err)?,
                _ = cancel.cancelled() => return Err(WorkerError::Cancelled),
            };
            if status.success() {
                let head = &err_buf[..err_buf.len().min(super::STDERR_HEAD)];
                return Ok(String::from_utf8_lossy(head).into_owned());
            }
            let tail = process::tail(&err_buf);
            Err(WorkerError::Ffmpeg {
                fatal: is_fatal_ffmpeg_error(&tail),
                tail: format!("{} ({status})", super::ffmpeg_errors(&tail)),
            })
        })
    }

    fn download<'a>(
        &'a self,
        name: &'a str,
        local: &'a Path,
    ) -> BoxFut<'a, Result<(), WorkerError>> {
        Box::pin(async move {
            let src = self.dir.join(name);
            if same_file(&src, local) {
                return Ok(());
            }
            tokio::fs::rename(&src, local).await.map_err(io_err)
        })
    }

    fn list(&self) -> BoxFut<'_, Result<Vec<String>, WorkerError>> {
        Box::pin(async move {
            let mut v = Vec::new();
            let mut rd = tokio::fs::read_dir(&self.dir).await.map_err(io_err)?;
            while let Some(e) = rd.next_entry().await.map_err(io_err)? {
                v.push(e.file_name().to_string_lossy().into_owned());
            }
            Ok(v)
        })
    }

    fn remove<'a>(&'a self, names: &'a [String]) -> BoxFut<'a, Result<(), WorkerError>> {
        Box::pin(async move {
            for n in names {
                let _ = tokio::fs::remove_file(self.dir.join(n)).await;
            }
            Ok(())
        })
    }

    fn cleanup(&self) -> BoxFut<'_, Result<(), WorkerError>> {
        Box::pin(async move {
            match tokio::fs::remove_dir_all(&self.dir).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(e)),
                _ => Ok(()),
            }
        })
    }
}
