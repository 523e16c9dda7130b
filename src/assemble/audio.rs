//! Runs AUDIO (see `commands::audio`) in the work dir while the workers encode the video, and
//! reads back what the final mux needs: the intermediate's start time, each encoded stream's
//! packet count, last packet duration and encoder tag.

use crate::commands::audio::{self, AudioDone, DoneStream, EarlyAudio, BIAS_S};
use crate::job::JobSpec;
use crate::probe::{ffprobe_args, Show};
use crate::process;
use crate::rational::parse_seconds_us;
use crate::workdir::WorkDir;
use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}
#[derive(Deserialize)]
struct Stream {
    #[serde(default)]
    tags: BTreeMap<String, String>,
}
#[derive(Deserialize)]
struct Format {
    start_time: Option<String>,
}

/// Encodes the job's audio streams into the work dir.
pub async fn encode(
    job: &JobSpec,
    ea: &EarlyAudio,
    workdir: &WorkDir,
    ffmpeg: &str,
    ffprobe: &str,
) -> Result<AudioDone> {
    let t0 = std::time::Instant::now();
    let mka = workdir.file("audio.mka").to_string_lossy().into_owned();
    let crc = workdir.file("audio.crc").to_string_lossy().into_owned();
    let args = audio::command(job, ea, &mka, &crc);
    tracing::debug!("AUDIO {}", process::display_cmd(ffmpeg, &args));
    process::background_output(ffmpeg, &args)
        .await
        .context("encoding the audio")?;
    let listing = std::fs::read_to_string(&crc).context("reading the audio packet list")?;
    let packets = audio::parse_framecrc(&listing);
    let entries = Show::Entries("format=start_time:stream=index:stream_tags");
    let args = ffprobe_args("error", entries, "json").file(&mka);
    let out = process::output(ffprobe, &args).await?;
    let p: Probe = serde_json::from_slice(&out).context("reading the encoded audio")?;
    let start = p
        .format
        .and_then(|f| f.start_time)
        .as_deref()
        .and_then(parse_seconds_us)
        .ok_or_else(|| anyhow!("the encoded audio has no start time"))?;
    let mut streams = Vec::new();
    for &i in &ea.encoded {
        let index = ea
            .audio
            .iter()
            .position(|&a| a == i)
            .expect("encoded ⊂ audio");
        let (tb, count, last) = *packets
            .get(index)
            .filter(|p| p.1 > 0)
            .ok_or_else(|| anyhow!("the encoded audio stream {index} has no packets"))?;
        let encoder = p.streams.get(index).and_then(|s| {
            s.tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("encoder"))
                .map(|(_, v)| v.clone())
        });
        streams.push(DoneStream {
            out: i,
            index,
            last: count - 1,
            last_ms: audio::last_ms(tb, last),
            encoder,
        });
    }
    tracing::debug!(
        "timing: audio encoded early in {:.3}s",
        t0.elapsed().as_secs_f64()
    );
    Ok(AudioDone {
        path: mka,
        itsoffset_us: start - BIAS_S * 1_000_000,
        streams,
    })
}
