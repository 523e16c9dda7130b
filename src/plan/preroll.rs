//! Which frames before a chunk its worker encodes as pre-roll (`job::preroll`): as many as
//! the job allows, within the chunk's share of extra work, decodable, and such that the worker
//! still emits exactly plain ffmpeg's frames after them.

use super::Ctx;

impl Ctx<'_> {
    /// The pre-roll of chunk `k` of frames `[a, b)` that plain ffmpeg's `want` frames start:
    /// up to `job::preroll::frames_for` frames before `a`, fewer where the frames to decode
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
        let n = crate::job::preroll::frames_for(self.inp.preroll, b - a);
        if k == 0 || n == 0 || self.explicit || a < n {
            return None;
        }
        let own = self.cum[b] - self.cum[a] + self.lead_in(a);
        let budget = own / crate::job::preroll::SHARE as u64;
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
}
