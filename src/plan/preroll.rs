//! Which frames before a chunk its worker encodes as pre-roll (`job::preroll`): as many as
//! the job allows, within the chunk's share of extra work, decodable, and such that the worker
//! still emits exactly plain ffmpeg's frames after them.

use super::Ctx;

/// At most one frame of pre-roll in this many of the chunk's own, so that the extra encoding
/// stays within 5 % of the job.
pub const SHARE: usize = 20;

/// The pre-roll a chunk of `frames` frames gets when the job allows `max`.
pub fn frames_for(max: usize, frames: usize) -> usize {
    max.min(frames / SHARE)
}

impl Ctx<'_> {
    /// The pre-roll of chunk `k` of frames `[a, b)` that plain ffmpeg's `want` frames start:
    /// up to `frames_for` frames before `a`, fewer where the frames to decode
    /// before them (the GOP before a chunk cut on a keyframe) would cost more than the same
    /// share of the chunk; decodable, and such that the worker, starting there, emits some
    /// frames before `want[0]` and then exactly `want`. Returns the first pre-roll frame and
    /// the number of encoder frames before `want[0]`.
    pub(super) fn preroll(
        &self,
        k: usize,
        a: usize,
        b: usize,
        want: &[i64],
    ) -> Option<(usize, usize)> {
        let n = frames_for(self.inp.preroll, b - a);
        if k == 0 || n == 0 || self.explicit || a < n {
            return None;
        }
        let own = self.cum[b] - self.cum[a] + self.lead_in(a);
        let budget = own / SHARE as u64;
        let extra = |p: usize| {
            self.cum[a] - self.cum[p] + self.lead_in(p) - self.lead_in(a).min(self.lead_in(p))
        };
        let p = (a - n..a).find(|&p| extra(p) <= budget)?;
        let packet = self.frames[p].packet;
        if self.starts[packet].is_none() || self.leading[packet] || !self.outputs[self.out(p)].first
        {
            return None;
        }
        let first = *want.first()?;
        let all = self.worker_pts(k, p, b, i64::MAX / 2);
        let before = all.iter().take_while(|&&t| t < first).count();
        let capped = self.worker_pts(k, p, b, (before + want.len()) as i64);
        (before > 0 && capped[..before].iter().all(|&t| t < first) && capped[before..] == *want)
            .then_some((p, before))
    }

    /// A chunk's first packet, chain start pts and cost, given as without a pre-roll, with its
    /// pre-roll if it gets one, and the number of pre-roll frames.
    pub(super) fn with_preroll(
        &self,
        k: usize,
        (a, b): (usize, usize),
        want: &[i64],
        (first_packet, decode_pts, cost): (usize, i64, u64),
    ) -> (usize, i64, u64, usize) {
        match self.preroll(k, a, b, want) {
            None => (first_packet, decode_pts, cost, 0),
            Some((p, before)) => (
                first_packet.min(self.starts[self.frames[p].packet].unwrap_or(first_packet)),
                self.chain[self.src(p)].pts,
                self.cum[b] - self.cum[p] + self.lead_in(p),
                before,
            ),
        }
    }
}
