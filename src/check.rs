//! `-df_check`: probes every configured worker (and the local slots) the way a job would and
//! prints a table (or JSON) — reachable, latency, ffmpeg version, encoder present, slots, cores.

use crate::config::Config;
use crate::process;
use crate::worker::pool;
use crate::worker::Worker;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub worker: String,
    pub ok: bool,
    pub error: Option<String>,
    pub latency_ms: Option<u64>,
    pub slots: usize,
    pub cores: Option<u32>,
    /// Whether the requested encoder is there (None: no encoder requested).
    pub encoder: Option<bool>,
    pub ffmpeg_version: Option<String>,
}

/// Probes all workers; `ffmpeg` is the local ffmpeg or why there is none (shown as `{:#}`),
/// `encoder` the one the command line asks for, if any.
pub async fn rows(
    config: &Config,
    ffmpeg: Result<&Path, impl std::fmt::Display>,
    encoder: Option<&str>,
) -> Vec<Row> {
    let dir = crate::worker::ssh::probe::job_dir_name("check");
    let mut rows = Vec::new();
    let needs = pool::Needs {
        encoder: encoder.map(str::to_string),
        fonts: None,
    };
    for p in pool::probe_all(config, &dir, &needs).await {
        let label = p.spec.target.label.clone();
        rows.push(match p.result {
            Ok((w, caps)) => {
                let _ = w.cleanup().await;
                Row {
                    worker: label,
                    ok: caps.has_encoder,
                    error: (!caps.has_encoder)
                        .then(|| format!("no encoder {}", encoder.unwrap_or(""))),
                    latency_ms: Some(caps.latency_ms),
                    slots: p.spec.slots,
                    cores: caps.cores,
                    encoder: encoder.map(|_| caps.has_encoder),
                    ffmpeg_version: Some(caps.ffmpeg_version),
                }
            }
            Err(e) => Row {
                worker: label,
                ok: false,
                error: Some(e.to_string()),
                latency_ms: None,
                slots: p.spec.slots,
                cores: None,
                encoder: None,
                ffmpeg_version: None,
            },
        });
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let local = config.local_slot_count(cores);
    if local > 0 {
        rows.push(local_row(ffmpeg, local, cores, encoder).await);
    }
    rows
}

async fn local_row(
    ffmpeg: Result<&Path, impl std::fmt::Display>,
    slots: usize,
    cores: usize,
    encoder: Option<&str>,
) -> Row {
    let ffmpeg = match ffmpeg {
        Ok(p) => p,
        Err(e) => {
            return Row {
                worker: "local".into(),
                ok: false,
                error: Some(format!("{e:#}")),
                latency_ms: None,
                slots,
                cores: Some(cores as u32),
                encoder: None,
                ffmpeg_version: None,
            }
        }
    };
    let bin = ffmpeg.to_string_lossy().into_owned();
    let version = process::output(&bin, &["-hide_banner".into(), "-version".into()]).await;
    let has = match encoder {
        None => None,
        Some(e) => Some(
            process::output(&bin, &["-hide_banner".into(), "-encoders".into()])
                .await
                .map(|o| {
                    String::from_utf8_lossy(&o)
                        .lines()
                        .any(|l| l.split_whitespace().nth(1) == Some(e))
                })
                .unwrap_or(false),
        ),
    };
    match version {
        Ok(v) => Row {
            worker: "local".into(),
            ok: has != Some(false),
            error: (has == Some(false)).then(|| format!("no encoder {}", encoder.unwrap_or(""))),
            latency_ms: None,
            slots,
            cores: Some(cores as u32),
            encoder: has,
            ffmpeg_version: String::from_utf8_lossy(&v).lines().next().map(String::from),
        },
        Err(e) => Row {
            worker: "local".into(),
            ok: false,
            error: Some(e.to_string()),
            latency_ms: None,
            slots,
            cores: Some(cores as u32),
            encoder: None,
            ffmpeg_version: None,
        },
    }
}

/// The human-readable table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<32} {:<6} {:>8} {:>5} {:>5} {:<8} {}\n",
        "WORKER", "STATUS", "LATENCY", "SLOTS", "CORES", "ENCODER", "FFMPEG / ERROR"
    );
    for r in rows {
        let status = if r.ok { "ok" } else { "FAIL" };
        let latency = r
            .latency_ms
            .map(|l| format!("{l} ms"))
            .unwrap_or_else(|| "-".into());
        let cores = r.cores.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
        let enc = match r.encoder {
            Some(true) => "yes",
            Some(false) => "MISSING",
            None => "-",
        };
        // one row per worker: a multi-line error is folded
        let detail = r
            .error
            .clone()
            .or_else(|| r.ffmpeg_version.clone())
            .unwrap_or_default()
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" / ");
        out.push_str(&format!(
            "{:<32} {:<6} {:>8} {:>5} {:>5} {:<8} {}\n",
            r.worker, status, latency, r.slots, cores, enc, detail
        ));
    }
    let usable: usize = rows.iter().filter(|r| r.ok).map(|r| r.slots).sum();
    out.push_str(&format!("{usable} usable slot(s)\n"));
    out
}

/// `-df_transfer_test=FILE`: uploads FILE to every SSH worker and downloads it back over the
/// same connections a job uses, printing `upload <worker> <MB/s>` and `download <worker> <MB/s>`.
pub async fn transfer_test(config: &Config, file: &Path) -> anyhow::Result<Vec<String>> {
    let size = std::fs::metadata(file)?.len() as f64 / 1e6;
    let dir = format!("transfer-{}", std::process::id());
    let mut lines = Vec::new();
    for p in pool::probe_all(config, &dir, &pool::Needs::default()).await {
        let label = p.spec.target.label.clone();
        let (w, _) = match p.result {
            Ok(x) => x,
            Err(e) => {
                lines.push(format!("error {label} {e}"));
                continue;
            }
        };
        let name = "transfer-test.bin";
        let t = std::time::Instant::now();
        let up = w.upload(file, name).await;
        let up_s = t.elapsed().as_secs_f64();
        // a private dir of an unpredictable name: the download (and its `.part`) never
        // follows what someone else planted in the shared temp dir
        let scratch = match tempfile::Builder::new()
            .prefix("distrffmpeg-transfer-")
            .tempdir()
        {
            Ok(d) => d,
            Err(e) => {
                lines.push(format!("error {label} cannot create a temporary dir: {e}"));
                let _ = w.cleanup().await;
                continue;
            }
        };
        let back = scratch.path().join(name);
        let t = std::time::Instant::now();
        let down = match &up {
            Ok(()) => w.download(name, &back).await,
            Err(e) => Err(e.clone()),
        };
        let down_s = t.elapsed().as_secs_f64();
        let same = std::fs::metadata(&back)
            .map(|m| m.len() as f64 / 1e6 == size)
            .unwrap_or(false);
        let _ = std::fs::remove_file(&back);
        let _ = w.cleanup().await;
        match (up, down) {
            (Ok(()), Ok(())) if same => {
                lines.push(format!("upload {label} {:.1}", size / up_s));
                lines.push(format!("download {label} {:.1}", size / down_s));
            }
            (Err(e), _) | (_, Err(e)) => lines.push(format!("error {label} {e}")),
            _ => lines.push(format!("error {label} size mismatch after the round trip")),
        }
    }
    Ok(lines)
}
