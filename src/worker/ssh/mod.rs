//! The SSH worker: one russh connection per machine (shared by its slots), SFTP for chunk
//! transfers, exec channels for the remote encodes (under the kill-on-close wrapper), and a
//! private per-run directory `<work_path>/dfjob-<job id>-…/`, of which only the files this tool
//! names (`probe::OUR_FILES`) are removed at the end.

pub mod conn;
pub mod known_hosts;
pub mod probe;
pub mod quote;
mod remote_path;
pub mod target;

use super::{is_fatal_ffmpeg_error, BoxFut, ProgressFn, StderrLog, Worker, WorkerError};
use crate::process;
use crate::progress::ProgressParser;
use conn::{ChannelError, Conn, ConnectError, Target};
pub use probe::Capabilities;
use probe::{probe, ProbeError};
use quote::Platform;
pub use remote_path::RemotePath;
use russh::ChannelMsg;
use russh_sftp::client::SftpSession;
use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// How much of a chunk fetched while it was being written is fetched again at the end: the
/// mp4/mov muxer patches the mdat box size (bytes 40–47) when it finishes.
const REFETCHED_HEAD: u64 = 64 * 1024;

/// Why a worker did not join the job: one line that starts with the worker's label.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Connecting, the host key or the authentication (the message names the worker).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The job stopped waiting before the worker connected.
    #[error("{0}: no longer needed")]
    NoLongerNeeded(String),
    /// The capability probe: ffmpeg does not run there, the work path is not safe, …
    #[error("{label}: {why}")]
    Probe { label: String, why: ProbeError },
    /// The SFTP subsystem's channel.
    #[error("{label}: {why}")]
    Channel { label: String, why: ChannelError },
    /// The SFTP session did not start.
    #[error("{label}: SFTP: {why}")]
    Sftp {
        label: String,
        why: russh_sftp::client::error::Error,
    },
    /// The job dir could not be made over SFTP (Windows).
    #[error("{label}: {why}")]
    JobDir { label: String, why: CannotCreate },
}

/// A remote directory SFTP could not create.
#[derive(Debug, thiserror::Error)]
#[error("cannot create {path}: {why}")]
pub struct CannotCreate {
    path: String,
    why: russh_sftp::client::error::Error,
}

pub struct SshWorker {
    label: String,
    platform: Platform,
    ffmpeg: String,
    dir: RemotePath,
    conn: Conn,
    sftp: SftpSession,
    /// The worker's slot count: each encode leases one of them (POSIX), so that concurrent
    /// jobs from any host never run more encodes there than this (0: no lease).
    slots: usize,
}

fn transport<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> WorkerError + '_ {
    move |e| WorkerError::Transport(format!("{what}: {e}"))
}

impl SshWorker {
    /// Connects, opens SFTP, and checks ffmpeg and the encoder (None: the muxer's default).
    /// `give_up` ends the wait for a connection (nothing exists on the worker yet); once
    /// connected, the worker is probed to the end so that it can be cleaned up.
    pub async fn open(
        t: &Target,
        platform: Platform,
        ffmpeg: &str,
        work_path: &str,
        job_id: &str,
        encoder: Option<&str>,
        give_up: &CancellationToken,
    ) -> Result<(SshWorker, Capabilities), OpenError> {
        let conn = tokio::select! {
            c = conn::connect(t) => c?,
            _ = give_up.cancelled() => return Err(OpenError::NoLongerNeeded(t.label.clone())),
        };
        // Windows: SFTP paths without a leading `~/` are relative to the user's home
        let base = RemotePath::new(work_path.strip_prefix("~/").unwrap_or(work_path));
        let windows_dir = base.join(job_id);
        // the capability probe (on POSIX, with the job dir's creation) and the SFTP session at
        // the same time
        let timed_probe = async {
            let started = std::time::Instant::now();
            let mkdir = (platform == Platform::Posix).then_some((work_path, job_id));
            let (mut caps, dir) = probe(&conn, platform, ffmpeg, encoder, mkdir)
                .await
                .map_err(|why| OpenError::Probe {
                    label: t.label.clone(),
                    why,
                })?;
            caps.latency_ms = started.elapsed().as_millis() as u64;
            Ok::<_, OpenError>((caps, dir.unwrap_or(windows_dir)))
        };
        let open_sftp = async {
            let ch = conn
                .open_subsystem("sftp")
                .await
                .map_err(|why| OpenError::Channel {
                    label: t.label.clone(),
                    why,
                })?;
            let cfg = russh_sftp::client::Config {
                max_packet_len: 262_144,
                max_concurrent_reads: 64,
                max_concurrent_writes: 64,
                max_write_packet_len: 261_120,
                request_timeout_secs: 30,
            };
            SftpSession::new_with_config(ch.into_stream(), cfg)
                .await
                .map_err(|why| OpenError::Sftp {
                    label: t.label.clone(),
                    why,
                })
        };
        let (caps, sftp) = tokio::join!(timed_probe, open_sftp);
        let (caps, dir) = caps?;
        let sftp = match sftp {
            Ok(sftp) => sftp,
            Err(e) => {
                // no worker will clean up: remove the (empty) job dir the probe created
                if platform == Platform::Posix {
                    let marker = dir.join(probe::MARKER);
                    let script = "rm -f -- \"$1\" && rmdir -- \"$2\"";
                    let argv = ["sh", "-c", script, "sh", marker.as_str(), dir.as_str()];
                    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
                    if let Ok(rm) = quote::command(platform, &argv) {
                        let _ = conn.run(&rm, Duration::from_secs(5)).await;
                    }
                }
                return Err(e);
            }
        };
        let w = SshWorker {
            label: t.label.clone(),
            platform,
            ffmpeg: ffmpeg.to_string(),
            dir,
            conn,
            sftp,
            slots: 0,
        };
        if platform == Platform::Windows {
            w.make_dir(&base).await.map_err(|why| OpenError::JobDir {
                label: t.label.clone(),
                why,
            })?;
        }
        Ok((w, caps))
    }

    /// Each encode leases one of `slots` slots on the worker (POSIX).
    pub fn leasing(mut self, slots: usize) -> SshWorker {
        self.slots = slots;
        self
    }

    /// Where the worker's slot leases are: `dfslots` beside the job dirs (made by the probe).
    fn lease_dir(&self) -> Option<String> {
        let (base, _) = self.dir.as_str().rsplit_once('/')?;
        (self.platform == Platform::Posix && self.slots > 0)
            .then(|| format!("{base}/{}", probe::LEASE_DIR))
    }

    /// Creates the job dir over SFTP (Windows: POSIX workers create it in `probe`): a new dir
    /// (an existing one is never taken over) with its marker.
    async fn make_dir(&self, base: &RemotePath) -> Result<(), CannotCreate> {
        if !self.sftp.try_exists(base.as_str()).await.unwrap_or(false) {
            self.mkdir_p(base.as_str()).await?;
        }
        let cannot = |why| CannotCreate {
            path: self.dir.as_str().to_string(),
            why,
        };
        self.sftp
            .create_dir(self.dir.as_str())
            .await
            .map_err(cannot)?;
        self.sftp
            .create(self.dir.join(probe::MARKER).as_str())
            .await
            .map_err(cannot)?;
        Ok(())
    }

    /// After a failed write: names a full disk when the job dir's file system has less room
    /// than `needed` bytes (OpenSSH's SFTP server reports ENOSPC as a bare "Failure").
    async fn space_note(&self, needed: u64) -> String {
        match self.sftp.fs_info(self.dir.as_str()).await {
            Ok(Some(fs)) if fs.blocks_avail.saturating_mul(fs.fragment_size) < needed => format!(
                " (no space left on device: {} KiB free in {}, the chunk needs {} KiB)",
                fs.blocks_avail.saturating_mul(fs.fragment_size) / 1024,
                self.dir.as_str(),
                needed.div_ceil(1024)
            ),
            _ => String::new(),
        }
    }

    async fn remote_size(&self, remote: &RemotePath) -> Result<u64, WorkerError> {
        self.sftp
            .metadata(remote.as_str())
            .await
            .map_err(transport("SFTP stat"))?
            .size
            .ok_or_else(|| WorkerError::Transport(format!("{}: size unknown", remote.as_str())))
    }

    /// Copies bytes `[from, to)` of the remote file into `dst` at the same offsets (the
    /// remote file may be longer by then: it is still being written).
    async fn copy_range(
        &self,
        remote: &RemotePath,
        dst: &mut tokio::fs::File,
        from: u64,
        to: u64,
    ) -> Result<(), WorkerError> {
        if to <= from {
            return Ok(());
        }
        let mut src = self
            .sftp
            .open(remote.as_str())
            .await
            .map_err(transport("SFTP open"))?;
        src.seek(SeekFrom::Start(from))
            .await
            .map_err(transport("SFTP download"))?;
        dst.seek(SeekFrom::Start(from))
            .await
            .map_err(transport("writing the chunk"))?;
        let want = to - from;
        // no bigger than the range: a growing file is followed in small pieces, and a 4 MiB
        // buffer for each would cost more CPU (zeroed, faulted in) than the bytes it carries
        let cap = want.min(4 << 20) as usize;
        let mut reader = BufReader::with_capacity(cap, (&mut src).take(want));
        let copied = tokio::io::copy_buf(&mut reader, dst)
            .await
            .map_err(transport("SFTP download"))?;
        if copied != want {
            return Err(WorkerError::Transport(format!(
                "download of {}: {copied} of {want} bytes from offset {from}",
                remote.as_str()
            )));
        }
        Ok(())
    }

    async fn mkdir_p(&self, path: &str) -> Result<(), CannotCreate> {
        let mut cur = String::new();
        for part in path.split('/') {
            if part.is_empty() {
                cur.push('/');
                continue;
            }
            if !cur.is_empty() && !cur.ends_with('/') {
                cur.push('/');
            }
            cur.push_str(part);
            if !self.sftp.try_exists(cur.as_str()).await.unwrap_or(false) {
                self.sftp
                    .create_dir(cur.as_str())
                    .await
                    .map_err(|why| CannotCreate {
                        path: cur.clone(),
                        why,
                    })?;
            }
        }
        Ok(())
    }
}

/// Feeds `-progress` lines arriving in arbitrary pieces.
struct LineFeed {
    buf: Vec<u8>,
    parser: ProgressParser,
}

impl LineFeed {
    fn feed(&mut self, data: &[u8], progress: ProgressFn<'_>) {
        self.buf.extend_from_slice(data);
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            if let Some(p) = self.parser.line(&String::from_utf8_lossy(&line)) {
                progress(p);
            }
        }
    }
}

impl Worker for SshWorker {
    fn label(&self) -> &str {
        &self.label
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).as_str().to_string()
    }

    fn prepare(&self) -> BoxFut<'_, Result<(), WorkerError>> {
        Box::pin(async { Ok(()) })
    }

    fn upload<'a>(&'a self, local: &'a Path, name: &'a str) -> BoxFut<'a, Result<(), WorkerError>> {
        Box::pin(async move {
            let remote = self.dir.join(name);
            let src = tokio::fs::File::open(local)
                .await
                .map_err(transport("reading the chunk"))?;
            let size = src
                .metadata()
                .await
                .map_err(transport("reading the chunk"))?
                .len();
            let mut dst = self
                .sftp
                .create(remote.as_str())
                .await
                .map_err(transport("SFTP create"))?;
            let mut reader = BufReader::with_capacity(4 << 20, src);
            let sent = async {
                tokio::io::copy_buf(&mut reader, &mut dst).await?;
                dst.shutdown().await
            }
            .await;
            if let Err(e) = sent {
                let _ = self.sftp.remove_file(remote.as_str()).await;
                return Err(WorkerError::Transport(format!(
                    "SFTP upload: {e}{}",
                    self.space_note(size).await
                )));
            }
            let got = self
                .sftp
                .metadata(remote.as_str())
                .await
                .map_err(transport("SFTP stat"))?
                .size;
            if got != Some(size) {
                return Err(WorkerError::Transport(format!(
                    "upload of {name}: {got:?} bytes arrived, {size} sent"
                )));
            }
            Ok(())
        })
    }

    fn encode<'a>(
        &'a self,
        args: &'a [String],
        progress: ProgressFn<'a>,
        cancel: &'a CancellationToken,
    ) -> BoxFut<'a, Result<String, WorkerError>> {
        Box::pin(async move {
            let mut argv = vec![self.ffmpeg.clone()];
            argv.extend(args.iter().cloned());
            let lease_dir = self.lease_dir();
            let lease = lease_dir.as_deref().map(|dir| quote::Lease {
                dir,
                slots: self.slots,
            });
            let cmd = quote::guarded_command(self.platform, &argv, lease).map_err(|e| {
                WorkerError::Ffmpeg {
                    tail: e.to_string(),
                    fatal: true,
                }
            })?;
            let mut ch = self
                .conn
                .open_session()
                .await
                .map_err(|e| WorkerError::Transport(e.to_string()))?;
            ch.exec(true, cmd).await.map_err(transport("exec"))?;
            let mut feed = LineFeed {
                buf: Vec::new(),
                parser: ProgressParser::default(),
            };
            let mut err = StderrLog::default();
            let mut status = None;
            loop {
                tokio::select! {
                    msg = ch.wait() => match msg {
                        Some(ChannelMsg::Data { data }) => feed.feed(&data, progress),
                        Some(ChannelMsg::ExtendedData { data, .. }) => err.push(&data),
                        Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                        Some(_) => {}
                        None => break,
                    },
                    _ = cancel.cancelled() => {
                        // Closing stdin makes the wrapper kill the remote ffmpeg.
                        let _ = ch.eof().await;
                        let _ = ch.close().await;
                        return Err(WorkerError::Cancelled);
                    }
                }
            }
            match status {
                Some(0) => Ok(err.head_text()),
                Some(quote::BUSY_STATUS)
                    if lease_dir.is_some()
                        && process::tail(&err.tail).contains(quote::BUSY_LINE) =>
                {
                    Err(WorkerError::Busy(format!(
                        "all {} slots of {} are taken by other jobs",
                        self.slots, self.label
                    )))
                }
                Some(code) => {
                    let tail = process::tail(&err.tail);
                    Err(WorkerError::Ffmpeg {
                        fatal: is_fatal_ffmpeg_error(&tail),
                        tail: format!(
                            "{} (exit status {code} on {})",
                            super::ffmpeg_errors(&tail),
                            self.label
                        ),
                    })
                }
                None => Err(WorkerError::Transport(format!(
                    "{}: connection lost during the encode",
                    self.label
                ))),
            }
        })
    }

    fn download<'a>(
        &'a self,
        name: &'a str,
        local: &'a Path,
    ) -> BoxFut<'a, Result<(), WorkerError>> {
        self.download_rest(name, local, 0)
    }

    fn fetch_ahead<'a>(
        &'a self,
        name: &'a str,
        part: &'a Path,
        from: u64,
    ) -> BoxFut<'a, Result<u64, WorkerError>> {
        Box::pin(async move {
            let remote = self.dir.join(name);
            // not there yet (ffmpeg is starting): nothing to fetch
            let Ok(size) = self.remote_size(&remote).await else {
                return Ok(from);
            };
            if size <= from {
                return Ok(from);
            }
            let mut dst = tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(from == 0)
                .open(part)
                .await
                .map_err(transport("writing the chunk"))?;
            let to = size.min(from + super::FETCH_AHEAD_PIECE);
            self.copy_range(&remote, &mut dst, from, to).await?;
            Ok(to)
        })
    }

    fn download_rest<'a>(
        &'a self,
        name: &'a str,
        local: &'a Path,
        have: u64,
    ) -> BoxFut<'a, Result<(), WorkerError>> {
        Box::pin(async move {
            let remote = self.dir.join(name);
            let size = self.remote_size(&remote).await?;
            let part = local.with_extension("part");
            let mut dst = tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(have == 0)
                .open(&part)
                .await
                .map_err(transport("writing the chunk"))?;
            // a file shorter than what was fetched was rewritten: fetch it whole
            let have = if size < have { 0 } else { have };
            // what was fetched ahead is final but for the muxer's last patches near the start
            // (mp4/mov: the mdat box size)
            let head = have.min(REFETCHED_HEAD);
            if head > 0 {
                self.copy_range(&remote, &mut dst, 0, head).await?;
            }
            self.copy_range(&remote, &mut dst, have, size).await?;
            dst.set_len(size)
                .await
                .map_err(transport("writing the chunk"))?;
            dst.flush().await.map_err(transport("writing the chunk"))?;
            drop(dst);
            tokio::fs::rename(&part, local)
                .await
                .map_err(transport("writing the chunk"))
        })
    }

    fn list(&self) -> BoxFut<'_, Result<Vec<String>, WorkerError>> {
        Box::pin(async move {
            let entries = self
                .sftp
                .read_dir(self.dir.as_str())
                .await
                .map_err(transport("SFTP list"))?;
            Ok(entries
                .map(|e| e.file_name())
                .filter(|n| n != "." && n != "..")
                .collect())
        })
    }

    fn remove<'a>(&'a self, names: &'a [String]) -> BoxFut<'a, Result<(), WorkerError>> {
        Box::pin(async move {
            for n in names {
                let _ = self.sftp.remove_file(self.dir.join(n).as_str()).await;
            }
            Ok(())
        })
    }

    /// Removes the files of ours in the job dir (links removed, never followed), then the dir
    /// if nothing else is left in it.
    fn cleanup(&self) -> BoxFut<'_, Result<(), WorkerError>> {
        Box::pin(async move {
            if let Ok(entries) = self.sftp.read_dir(self.dir.as_str()).await {
                let mut names: Vec<String> = entries
                    .map(|e| e.file_name())
                    .filter(|n| probe::is_ours(n))
                    .collect();
                // the marker last: a dir left half-cleaned is still swept later
                names.sort_by_key(|n| n == probe::MARKER);
                for name in names {
                    let _ = self.sftp.remove_file(self.dir.join(&name).as_str()).await;
                }
            }
            self.sftp
                .remove_dir(self.dir.as_str())
                .await
                .map_err(transport("removing the job directory"))
        })
    }
}
