//! Checks run here, on the source, before a job distributes: one frame decoded with the
//! user's hardware options, a rotated source's first frame, and the packets that decide an
//! audio copy into a finer time base (`job::audio_copy`). Each gives a reason to pass through.

use crate::job::{self, Passthrough};
use crate::probe;
use anyhow::Result;

/// What the decision needs from decoding one frame here: the user's hardware decoding options
/// must work (plain ffmpeg fails where they fail, so the command then passes through and ffmpeg
/// prints its own error), and a rotated source's first frame must carry no display matrix of
/// its own (plain ffmpeg's autorotate would prefer it to the stream's).
pub async fn run(
    ffmpeg: Option<&str>,
    ffprobe: &str,
    mut job: job::JobSpec,
    infos: &[probe::MediaInfo],
) -> Result<Result<job::JobSpec, Passthrough>> {
    if let (Some(args), Some(ffmpeg)) = (&job.hw_check, ffmpeg) {
        if let Err(e) = crate::process::output(ffmpeg, args).await {
            return Ok(Err(Passthrough(format!(
                "the hardware decoding options fail here ({})",
                e.to_string().lines().last().unwrap_or("").trim()
            ))));
        }
    }
    if job.rotation.check_frames {
        let src = &job.cmd.inputs[job.src_file].url;
        let path = job::local_path(src).unwrap_or(src);
        let demux: Vec<String> = job.demux_opts.iter().flat_map(|o| o.tokens()).collect();
        if probe::first_frame_display_matrix(ffprobe, path, &demux, job.src_stream).await? {
            return Ok(Err(Passthrough(
                "the frames carry their own display matrix (display orientation SEI)".into(),
            )));
        }
    }
    if !job.audio_copies.is_empty() {
        match audio_copies(ffprobe, &job, infos).await? {
            Ok(bsf) => job.audio_bsf = bsf,
            Err(p) => return Ok(Err(p)),
        }
    }
    Ok(Ok(job))
}

/// Reads what `job::audio_copy` decides the job's audio copies by: the order of the source's
/// first packets and each copied stream's packets.
async fn audio_copies(
    ffprobe: &str,
    spec: &job::JobSpec,
    infos: &[probe::MediaInfo],
) -> Result<Result<Vec<(usize, String)>, Passthrough>> {
    let path = spec.source_path();
    let demux: Vec<String> = spec.demux_opts.iter().flat_map(|o| o.tokens()).collect();
    let first = probe::first_positions(ffprobe, path, &demux).await?;
    let mut packets = Vec::new();
    for c in &spec.audio_copies {
        packets.push((
            c.stream,
            probe::probe_packets(ffprobe, path, c.stream, &demux).await?,
        ));
    }
    let start = infos[spec.src_file].format.start_time_us.unwrap_or(0);
    let video = &infos[spec.src_file].streams[spec.src_stream];
    Ok(job::audio_copy::decide(
        spec, video, &first, &packets, start,
    ))
}
