//! Pre-roll: the frames before a chunk's first frame that its encoder sees too, so that rate
//! control and lookahead start with the history a single encode has (x264's first keyframe
//! otherwise takes its QP from the CRF alone, and a static scene keeps that keyframe's
//! quality). The chunk's first frame is forced to an IDR; the packets before it are dropped
//! when the chunks are joined (the concat list's `inpoint`), so the frames stay exactly plain
//! ffmpeg's.

use super::JobSpec;

/// At most this many frames of pre-roll per chunk (and at most a `plan::preroll::SHARE`th of
/// the chunk's own).
pub const MAX_FRAMES: usize = 30;

/// Encoders whose forced keyframe is an IDR that closes the GOP (nothing after it in decode
/// order is shown before it), tested with the concat list's `inpoint`.
const ENCODERS: &[&str] = &["libx264"];

impl JobSpec {
    /// The most pre-roll frames a chunk of this job gets (0: none). Only where the dropping of
    /// the pre-roll packets is proven exact: a listed encoder without an open GOP, one pass, no
    /// output `-ss`, no temporal filter (its context frames are trimmed before the encoder), no subtitles
    /// burned in (their layout depends on the frames drawn before), and
    /// mp4/mov chunk files (their demuxer seeks to the IDR by its pts).
    pub fn preroll(&self) -> usize {
        let encoder = self.encoder.as_deref().unwrap_or("");
        let open_gop = self.encode_opts.iter().any(|o| {
            (o.is("x264-params") || o.is("x264opts"))
                && o.arg.as_deref().is_some_and(|a| a.contains("open"))
        });
        let w = self.window;
        let plain_chain = w.before == 0 && w.after == 0 && !w.fields;
        let ok = ENCODERS.contains(&encoder)
            && !open_gop
            && self.two_pass.is_none()
            && self.timing.out_ss_us.is_none()
            && plain_chain
            && self.burn_in.is_empty()
            // (drawtext's frame count starts at the chunk's first frame, as the chain sees it)
            && !self.drawtext.iter().any(|d| d.counts_frames)
            && matches!(self.chunk_format().0, "mp4" | "mov");
        if ok {
            MAX_FRAMES
        } else {
            0
        }
    }
}
