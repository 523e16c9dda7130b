//! The capability probe of an SSH worker: one remote command that reports ffmpeg's version,
//! its encoders and the core count, and on POSIX first checks the work path (ours, private,
//! no symlink), sweeps week-old job dirs of ours there and creates the private job dir.

use super::conn::{ChannelError, Conn};
use super::quote::{self, CommandError, Platform};
use super::RemotePath;
use crate::process;
use std::time::Duration;

/// What a worker offers, found when it is probed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Capabilities {
    pub ffmpeg_version: String,
    pub has_encoder: bool,
    pub cores: Option<u32>,
    pub latency_ms: u64,
    /// fontconfig's font listing (`worker::fonts`), read only for a job that burns subtitles in.
    #[serde(skip)]
    pub fonts: Option<String>,
}

/// Why the capability probe failed (the caller names the worker).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the work path {0:?} has a line break")]
    LineBreak(String),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("the probe did not report the job dir")]
    NoJobDir,
    /// The work path is not safe to use: the probe's own reason.
    #[error("{0}")]
    UnsafeWorkPath(String),
    #[error("cannot create the job dir {name} in {base}: {stderr}")]
    Mkdir {
        name: String,
        base: String,
        stderr: String,
    },
    #[error("{ffmpeg} does not run there ({stderr})")]
    NoFfmpeg { ffmpeg: String, stderr: String },
}

/// Exit status of the probe command when the job dir cannot be created.
const MKDIR_FAILED: u32 = 97;
/// Exit status of the probe command when the base dir is not safe to use.
const UNSAFE_BASE: u32 = 96;

/// The names a job dir on a worker may hold, as sh patterns: chunk sources, encoded chunks,
/// pass-1 statistics, and the marker. Cleanup and the stale sweep remove nothing else.
pub const OUR_FILES: &[&str] = &["src-*", "enc-*", "pass-*", "aux-*", MARKER];
/// The dir beside the job dirs where encodes lease the worker's slots (`slot-<i>.lock`, kept).
pub const LEASE_DIR: &str = "dfslots";
/// The file that marks a remote dir as a distrffmpeg job dir.
pub const MARKER: &str = ".distrffmpeg-job";
/// How job dirs on workers are named (`dfjob-<job id>-<pid>-<random>`).
pub const JOB_DIR_PREFIX: &str = "dfjob-";
/// Remote job dirs whose files all are older than this many days are swept by the probe.
const STALE_DAYS: u32 = 7;

/// The POSIX probe. With a base (`$2`) and a job dir name (`$3`): resolve the base (`~/` is the
/// login user's home, a relative path is relative to it), create it if missing (0700), refuse
/// it when it is a symlink, not owned by the login user, or writable by others without the
/// sticky bit (and likewise any dir above it not owned by root or the user), sweep week-old
/// marked job dirs in it, create the job dir atomically (`mkdir` without `-p`, 0700) with its
/// marker, and print its absolute path. Then ffmpeg's encoders and the core count.
const POSIX_PROBE: &str = r#"f=$1 b=$2 n=$3 days=$4 pats=$5
if [ -n "$n" ]; then
  umask 077
  case $b in "~") b=$HOME ;; "~/"*) b=$HOME/${b#"~/"} ;; /*) ;; *) b=$HOME/$b ;; esac
  bad() { echo "distrffmpeg: unsafe work dir: $*" >&2; exit 96; }
  p=$(dirname -- "$b") && mkdir -p -- "$p" && p=$(cd -P -- "$p" && pwd -P) || bad "cannot enter the parent of $b"
  b=${p%/}/$(basename -- "$b")
  [ -e "$b" ] || [ -L "$b" ] || mkdir -- "$b" 2>/dev/null
  [ -L "$b" ] && bad "$b is a symbolic link"
  [ -d "$b" ] || bad "$b is not a directory"
  me=$(id -u) c=$b
  while :; do
    set -f; set -- $(ls -ldn -- "$c") || bad "cannot read $c"; set +f
    case $c in "$b") [ "$3" = "$me" ] || bad "$c belongs to uid $3, not to uid $me" ;;
      *) [ "$3" = 0 ] || [ "$3" = "$me" ] || bad "$c belongs to uid $3 (neither root nor uid $me)" ;; esac
    case $1 in ?????w*|????????w*) case $1 in ?????????[tT]*) ;;
      *) bad "$c ($1) is writable by other users without the sticky bit" ;; esac ;; esac
    [ "$c" = / ] && break
    c=$(dirname -- "$c")
  done
  for d in "$b"/dfjob-*; do
    [ -d "$d" ] && [ ! -L "$d" ] && [ -f "$d/.distrffmpeg-job" ] && [ ! -L "$d/.distrffmpeg-job" ] || continue
    [ -z "$(find "$d" -mtime "-$days" 2>/dev/null | head -n 1)" ] || continue
    (cd -P -- "$d" && eval "rm -f -- $pats") && rmdir -- "$d" 2>/dev/null
  done
  mkdir -m 700 -- "$b/$n" && : > "$b/$n/.distrffmpeg-job" || exit 97
  [ -e "$b/dfslots" ] || [ -L "$b/dfslots" ] || mkdir -- "$b/dfslots" 2>/dev/null
  [ -d "$b/dfslots" ] && [ ! -L "$b/dfslots" ] || bad "$b/dfslots is not a directory of ours"
  printf 'distrffmpeg-dir=%s
' "$b/$n"
fi
"$f" -encoders; s=$?; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc
if [ $s -ne 0 ] && [ -n "$n" ]; then rm -f -- "$b/$n/.distrffmpeg-job"; rmdir -- "$b/$n"; fi
exit $s"#;

/// One remote command: `ffmpeg -encoders` (its banner on stderr names the version, its
/// stdout lists the encoders) and, on POSIX, the core count on the last stdout line. With
/// `mkdir` (POSIX: base and job dir name), it first makes the job dir as `POSIX_PROBE` says:
/// one remote process less before the first upload; it removes the dir again when ffmpeg does
/// not run, since no worker will then clean it up. Returns the capabilities and, with `mkdir`,
/// the job dir's absolute path.
pub async fn probe(
    conn: &Conn,
    platform: Platform,
    ffmpeg: &str,
    encoder: Option<&str>,
    mkdir: Option<(&str, &str)>,
) -> Result<(Capabilities, Option<RemotePath>), ProbeError> {
    let t = Duration::from_secs(20);
    let cmd = match platform {
        Platform::Posix => {
            let (base, name) = mkdir.unwrap_or(("", ""));
            if base.contains(['\n', '\r']) {
                return Err(ProbeError::LineBreak(base.to_string()));
            }
            let days = STALE_DAYS.to_string();
            let pats = OUR_FILES.join(" ");
            let argv: Vec<String> = [
                "sh",
                "-c",
                POSIX_PROBE,
                "sh",
                ffmpeg,
                base,
                name,
                &days,
                &pats,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            quote::command(platform, &argv)
        }
        Platform::Windows => quote::command(platform, &[ffmpeg.into(), "-encoders".into()]),
    }?;
    let out = conn.run(&cmd, t).await?;
    let stderr = process::tail(&out.stderr);
    let reason = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("distrffmpeg: "))
        .map(|l| l["distrffmpeg: ".len()..].to_string());
    match out.status {
        Some(0) => {
            let dir = mkdir.and_then(|_| job_dir(&out.stdout));
            if mkdir.is_some() && platform == Platform::Posix && dir.is_none() {
                return Err(ProbeError::NoJobDir);
            }
            Ok((
                parse_probe(&out.stdout, &out.stderr, platform, encoder),
                dir,
            ))
        }
        Some(UNSAFE_BASE) if mkdir.is_some() => Err(ProbeError::UnsafeWorkPath(
            reason.unwrap_or_else(|| stderr.trim().to_string()),
        )),
        Some(MKDIR_FAILED) if mkdir.is_some() => Err(ProbeError::Mkdir {
            name: mkdir.map_or("", |(_, n)| n).to_string(),
            base: mkdir.map_or("", |(b, _)| b).to_string(),
            stderr: stderr.trim().to_string(),
        }),
        _ => Err(ProbeError::NoFfmpeg {
            ffmpeg: ffmpeg.to_string(),
            stderr: stderr.trim().to_string(),
        }),
    }
}

impl super::SshWorker {
    /// fontconfig's font listing on the worker (`worker::fonts`), None where it cannot be made
    /// (a job that burns subtitles in asks for it once the worker is probed).
    pub async fn fonts(&self) -> Option<String> {
        let cmd = crate::worker::fonts::remote_command(self.platform, &self.ffmpeg)?;
        let out = self.conn.run(&cmd, Duration::from_secs(20)).await.ok()?;
        (out.status == Some(0)).then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The job dir the POSIX probe created, from its first stdout line.
fn job_dir(stdout: &[u8]) -> Option<RemotePath> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().next()?;
    line.strip_prefix("distrffmpeg-dir=").map(RemotePath::new)
}

/// Whether a file name in a job dir is one this tool makes (`OUR_FILES`).
pub fn is_ours(name: &str) -> bool {
    OUR_FILES.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix) && name.len() > prefix.len(),
        None => name == *p,
    })
}

/// A name for this run's job dir on workers: the job id, this process and a random part, so
/// concurrent runs never share remote files and nobody can guess the name in advance.
pub fn job_dir_name(job_id: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "{JOB_DIR_PREFIX}{job_id}-{}-{:08x}",
        std::process::id(),
        h.finish() as u32
    )
}

/// Reads what `probe`'s command printed.
fn parse_probe(
    stdout: &[u8],
    stderr: &[u8],
    platform: Platform,
    encoder: Option<&str>,
) -> Capabilities {
    let stdout = String::from_utf8_lossy(stdout);
    let ffmpeg_version = String::from_utf8_lossy(stderr)
        .lines()
        .find(|l| l.starts_with("ffmpeg version"))
        .unwrap_or("")
        .to_string();
    // (several outputs' encoders are separated by spaces)
    let has_encoder = (encoder.unwrap_or("").split_whitespace()).all(|e| {
        stdout
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(e))
    });
    let cores = match platform {
        Platform::Posix => stdout.lines().last().and_then(|l| l.trim().parse().ok()),
        Platform::Windows => None,
    };
    Capabilities {
        ffmpeg_version,
        has_encoder,
        cores,
        latency_ms: 0,
        fonts: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_is_read() {
        let out = b"Encoders:\n V..... = Video\n ------\n V....D libx264              libx264 H.264\n A....D aac                  AAC\n16\n";
        let err = b"ffmpeg version 6.1.1 Copyright (c) 2000-2023 the FFmpeg developers\n  built with gcc\n";
        let c = parse_probe(out, err, Platform::Posix, Some("libx264"));
        assert!(c.has_encoder);
        assert_eq!(c.cores, Some(16));
        assert!(c.ffmpeg_version.starts_with("ffmpeg version 6.1.1"));
        assert!(!parse_probe(out, err, Platform::Posix, Some("libx265")).has_encoder);
        assert!(parse_probe(out, err, Platform::Posix, Some("libx264 aac")).has_encoder);
        assert!(!parse_probe(out, err, Platform::Posix, Some("libx264 libx265")).has_encoder);
    }
}
