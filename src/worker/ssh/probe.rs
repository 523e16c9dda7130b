//! The capability probe of an SSH worker: one remote command that reports ffmpeg's version,
//! its encoders and the core count, and on POSIX creates the private job dir first.

use super::conn::Conn;
use super::quote::{self, Platform};
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
}

/// Exit status of the probe command when the job dir cannot be created.
const MKDIR_FAILED: u32 = 97;

/// One remote command: `ffmpeg -encoders` (its banner on stderr names the version, its
/// stdout lists the encoders) and, on POSIX, the core count on the last stdout line. With
/// `mkdir` (POSIX: base and job dir), it first creates the job dir, private from the start
/// (umask 077): one remote process less before the first upload; it removes the dir again when
/// ffmpeg does not run, since no worker will then clean it up.
pub async fn probe(
    conn: &Conn,
    platform: Platform,
    ffmpeg: &str,
    encoder: Option<&str>,
    mkdir: Option<(&RemotePath, &RemotePath)>,
) -> Result<Capabilities, String> {
    let label = &conn.target.label;
    let t = Duration::from_secs(20);
    let cmd = match platform {
        Platform::Posix => {
            let (base, dir) = mkdir.map_or(("", ""), |(b, d)| (b.as_str(), d.as_str()));
            let script = format!(
                "if [ -n \"$2\" ]; then mkdir -p -- \"$2\" && umask 077 && mkdir -p -- \"$3\" && \
                 chmod 700 -- \"$3\" || exit {MKDIR_FAILED}; fi; \
                 \"$1\" -encoders; s=$?; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc; \
                 if [ $s -ne 0 ] && [ -n \"$3\" ]; then rmdir -- \"$3\"; fi; exit $s"
            );
            let argv: Vec<String> = ["sh", "-c", &script, "sh", ffmpeg, base, dir]
                .iter()
                .map(|s| s.to_string())
                .collect();
            quote::command(platform, &argv)
        }
        Platform::Windows => quote::command(platform, &[ffmpeg.into(), "-encoders".into()]),
    };
    let out = conn
        .run(&cmd, t)
        .await
        .map_err(|e| format!("{label}: {e}"))?;
    match out.status {
        Some(0) => Ok(parse_probe(&out.stdout, &out.stderr, platform, encoder)),
        Some(MKDIR_FAILED) if mkdir.is_some() => Err(format!(
            "{label}: cannot create {}: {}",
            mkdir.map_or("", |(_, d)| d.as_str()),
            process::tail(&out.stderr).trim()
        )),
        _ => Err(format!(
            "{label}: {ffmpeg} does not run there ({})",
            process::tail(&out.stderr).trim()
        )),
    }
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
    let has_encoder = match encoder {
        None => true,
        Some(e) => stdout
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(e)),
    };
    let cores = match platform {
        Platform::Posix => stdout.lines().last().and_then(|l| l.trim().parse().ok()),
        Platform::Windows => None,
    };
    Capabilities {
        ffmpeg_version,
        has_encoder,
        cores,
        latency_ms: 0,
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
    }
}
