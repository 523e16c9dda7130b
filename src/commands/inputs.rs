//! The start that FINAL and AUDIO share: the user's global options that change what is
//! written, every input with its options, and the null output that keeps the video read
//! after an input `-ss`.

use super::s;
use crate::cli::options::TALKS_TO_USER;
use crate::job::{hwaccel, JobSpec};

/// The start of FINAL and AUDIO: the user's global options that change what is written, and
/// every input with its options.
pub(super) fn head(job: &JobSpec) -> Vec<String> {
    let mut v = s(&["-nostdin", "-hide_banner", "-v", "error", "-y"]);
    for g in &job.cmd.globals {
        if !TALKS_TO_USER.contains(&g.name())
            && !matches!(g.name(), "filter_complex" | "lavfi")
            && !hwaccel::is_hw_option(g)
        {
            v.extend(g.tokens());
        }
    }
    for inp in &job.cmd.inputs {
        // no video is decoded here: hardware devices are neither needed nor opened
        for o in inp.opts.iter().filter(|o| !hwaccel::is_hw_option(o)) {
            v.extend(o.tokens());
        }
        v.push("-i".into());
        v.push(inp.url.clone());
    }
    v
}

/// With an input `-ss`, a second, null output that keeps the source's video read: plain
/// ffmpeg reads it after the seek, and some demuxers (matroska) skip the other streams'
/// packets differently when it is discarded, which would move where the audio starts.
pub(super) fn keep_video_read(job: &JobSpec, v: &mut Vec<String>) {
    if job.timing.in_ss_us.is_some() {
        v.extend([
            "-map".into(),
            format!("{}:{}", job.src_file, job.src_stream),
            "-c".into(),
            "copy".into(),
            "-f".into(),
            "null".into(),
            "-".into(),
        ]);
    }
}
