//! Assembly: joins the verified chunks with the concat demuxer (exact per-entry durations),
//! muxes them with the source's other streams under the user's own output options, checks the
//! result's frame count, and moves it into place atomically. `audio` encodes the audio early.

pub mod audio;
pub mod output;
pub mod verify;

use crate::commands;
use crate::commands::audio::AudioDone;
use crate::job::{JobSpec, Overwrite};
use crate::plan::Plan;
use crate::probe::{ffprobe_args, MediaKind, Show};
use crate::process;
use crate::progress::FinalStats;
use crate::rational::{rescale_q, MICROS};
use crate::workdir::WorkDir;
use anyhow::{bail, Context, Result};
use std::path::Path;
use verify::EncodedChunk;

/// Counts the video packets of the written file (demux only).
async fn count_video(ffprobe: &str, path: &Path, stream: usize) -> Result<i64> {
    let args = ffprobe_args("error", Show::Entries("stream=nb_read_packets"), "csv=p=0")
        .streams(stream)
        .count_packets()
        .file(&path.to_string_lossy());
    let out = process::output(ffprobe, &args).await?;
    // Formats with programs (mpegts) list the stream twice.
    let s = String::from_utf8_lossy(&out);
    s.lines()
        .map(|l| l.trim().trim_end_matches(','))
        .find(|l| !l.is_empty())
        .and_then(|l| l.parse().ok())
        .with_context(|| format!("unexpected packet count {s:?}"))
}

/// The last value of `key` in ffmpeg's `-progress` report.
fn last_value<T: std::str::FromStr>(report: &[u8], key: &str) -> Option<T> {
    String::from_utf8_lossy(report)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.trim().parse().ok())
}

/// The last `frame=` of ffmpeg's `-progress` report.
fn last_frame_count(report: &[u8]) -> Option<i64> {
    last_value(report, "frame")
}

/// The final mux's figures of the file it wrote: its last `-progress` block and the summary
/// line it printed at info level.
fn final_stats(report: &[u8], stderr: &[u8], frames: i64, one_output: bool) -> Option<FinalStats> {
    // (the mux logs with level tags; a second output would count in the summary)
    let summary = String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .map(|l| l.strip_prefix("[info] ").unwrap_or(l))
        .find(|l| l.starts_with("video:") && l.contains("muxing overhead"))
        .filter(|_| one_output)
        .map(str::to_string);
    Some(FinalStats {
        frame: frames,
        size: last_value(report, "total_size")?,
        time_us: last_value(report, "out_time_us")?,
        summary,
    })
}

/// Writes the declaration file for mp4/mov chunks (see `commands::declaration`).
async fn declare(
    job: &JobSpec,
    first: &EncodedChunk,
    workdir: &WorkDir,
    ffmpeg: &str,
) -> Result<Option<String>> {
    if job.chunk_format().0 == "mpegts" {
        return Ok(None);
    }
    let path = workdir.file(&format!("declare.{}", job.chunk_format().1));
    let path = path.to_string_lossy().into_owned();
    let ticks = rescale_q(1, job.sync.enc_tb, first.tb);
    let args = commands::declaration(job, &first.file, ticks, &path);
    process::output(ffmpeg, &args)
        .await
        .context("writing the stream declaration")?;
    Ok(Some(path))
}

/// Writes the final output from the encoded chunks (`until_us`: every stream ends there, for
/// a job stopped early); returns the final mux's figures of it. Runs `(ffmpeg, ffprobe)`.
pub async fn assemble(
    job: &JobSpec,
    chunks: &[EncodedChunk],
    plan: &Plan,
    audio: Option<&AudioDone>,
    until_us: Option<i64>,
    workdir: &WorkDir,
    (ffmpeg, ffprobe): (&str, &str),
) -> Result<Option<FinalStats>> {
    let (first_out_pts, expected_frames) = (plan.chunks[0].out_pts[0], plan.output_frames);
    let files: Vec<(String, i64, bool)> = chunks
        .iter()
        .map(|c| (c.file.clone(), c.start_us, plan.chunks[c.index].preroll > 0))
        .collect();
    let t0 = std::time::Instant::now();
    let decl = declare(job, &chunks[0], workdir, ffmpeg).await?;
    let declared = t0.elapsed().as_secs_f64();
    let list = workdir.file("chunks.ffconcat");
    std::fs::write(&list, commands::concat_list(decl.as_deref(), &files))
        .context("writing the concat list")?;
    // The joined chunks start at 0; shift them to the first frame's true output time (its
    // encoder pts as the chunk's container stores it), plus the output -ss that ffmpeg
    // subtracts again when copying.
    let first = rescale_q(first_out_pts, job.sync.enc_tb, chunks[0].tb);
    let itsoffset = rescale_q(first, chunks[0].tb, MICROS) + job.timing.out_ss_us.unwrap_or(0);
    let out = Path::new(&job.output);
    // removed when dropped: no half-written output survives an error
    let temp = output::TempOutput::create(out, workdir)?;
    let tmp = temp.path.clone();
    let mut args = commands::final_mux(
        job,
        &commands::FinalParts {
            list: &list.to_string_lossy(),
            itsoffset_us: itsoffset,
            chunk_tags: &chunks[0].tags,
            color: &chunks[0].color,
            audio,
        },
        &tmp.to_string_lossy(),
    );
    // ffmpeg's own count of the video packets it muxed (the first video stream's `frame=`)
    // saves reading the whole output back.
    let first_video = job
        .out_streams
        .iter()
        .position(|o| o.kind == MediaKind::Video);
    let counted_by_ffmpeg = first_video == Some(job.video_out);
    if let (Some(us), Some(at)) = (
        until_us,
        args.iter().position(|a| *a == *tmp.to_string_lossy()),
    ) {
        // stopped early (`q`): every stream ends where the video does
        args.splice(at..at, ["-t".to_string(), crate::rational::format_us(us)]);
    }
    // its last report and summary (info level) describe the written file, for ffmpeg's own
    args.splice(0..0, ["-progress", "pipe:1", "-nostats"].map(String::from));
    if let Some(v) = args.iter().position(|a| a == "-v") {
        if args.get(v + 1).is_some_and(|l| l == "error") {
            args[v + 1] = "level+info".into();
        }
    }
    tracing::debug!("FINAL {}", process::display_cmd(ffmpeg, &args));
    let (report, stderr) = process::output_and_stderr(ffmpeg, &args)
        .await
        .map_err(|e| match &e {
            process::ProcessError::Failed { status, .. } => anyhow::anyhow!(
                "{} ({status})",
                crate::worker::ffmpeg_errors(e.stderr_tail())
            ),
            _ => anyhow::Error::new(e),
        })
        .context("final mux failed")?;
    let muxed = t0.elapsed().as_secs_f64();
    let got = match counted_by_ffmpeg {
        true => last_frame_count(&report).context("the final mux reported no frame count")?,
        false => count_video(ffprobe, &tmp, job.video_out).await?,
    };
    tracing::debug!(
        "timing: declared in {declared:.3}s, muxed in {:.3}s, counted in {:.3}s",
        muxed - declared,
        t0.elapsed().as_secs_f64() - muxed
    );
    if got != expected_frames {
        bail!("the assembled output has {got} video frames, expected {expected_frames}");
    }
    if job.overwrite == Overwrite::No && out.exists() {
        bail!("File '{}' already exists. Exiting.", job.output);
    }
    temp.finish(out)?;
    // with an input -ss the mux has a second, null output (`keep_video_read`)
    let one_output = job.timing.in_ss_us.is_none();
    let frames = last_frame_count(&report).unwrap_or(got);
    Ok(final_stats(&report, &stderr, frames, one_output))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_progress_block_gives_the_frame_count() {
        let r = b"frame=120\nfps=0.0\nprogress=continue\nframe=1800\nfps=0.0\nprogress=end\n";
        assert_eq!(super::last_frame_count(r), Some(1800));
        assert_eq!(super::last_frame_count(b"progress=end\n"), None);
        let err = b"frame=  200 fps=0.0 q=-1.0 Lsize=     216kB time=00:00:08.01 bitrate= 220.5kbits/s speed= 900x    \n\
                    video:135kB audio:75kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: 2.440733%\n";
        let r = b"frame=200\ntotal_size=220853\nout_time_us=8014000\nprogress=end\n";
        let f = super::final_stats(r, err, 200, true).unwrap();
        assert_eq!((f.frame, f.size, f.time_us), (200, 220_853, 8_014_000));
        assert!(f.summary.unwrap().ends_with("muxing overhead: 2.440733%"));
    }
}
