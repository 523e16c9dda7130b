//! When an idle slot races a straggler: a second attempt of a chunk running alone elsewhere,
//! when it could finish first.

use super::Core;
use crate::schedule::core::WorkerId;
use std::time::Instant;

/// Whether a second attempt expected to take `dup_secs` could finish before the running one,
/// `f` of its frames done after `elapsed` seconds. Its remaining time is extrapolated from its
/// progress; one that has shown none is raced once a whole second attempt would be done by now.
/// Without an estimate (no chunk finished anywhere yet) only one that shows no progress for
/// `NO_ESTIMATE` seconds is raced.
pub fn worth_racing(f: f64, elapsed: f64, dup_secs: Option<f64>) -> bool {
    const NO_PROGRESS: f64 = 0.02;
    const NO_ESTIMATE: f64 = 10.0;
    match dup_secs {
        None => f < NO_PROGRESS && elapsed > NO_ESTIMATE,
        Some(d) if f < NO_PROGRESS => elapsed > d,
        // margin: the estimate is rough, and a race costs an upload
        Some(d) => elapsed * (1.0 - f) / f > 1.2 * d + 1.0,
    }
}

impl Core {
    /// Nothing queued: the chunk running as a single attempt on another worker that a second
    /// attempt on `w` would beat by the most.
    pub(super) fn straggler(&self, w: WorkerId, now: Instant) -> Option<(usize, usize)> {
        let per_cost = self.secs_per_cost(w);
        let mut best: Option<(f64, usize, usize)> = None;
        for (j, job) in self.jobs.iter().enumerate() {
            if job.error.is_some() {
                continue;
            }
            for (&k, runs) in &job.running {
                let [r] = runs.as_slice() else { continue };
                if r.worker == w || r.cancelled || r.collecting || job.done[k] {
                    continue;
                }
                let dup_secs = per_cost.map(|s| s * job.costs[k] as f64);
                let elapsed = now.saturating_duration_since(r.started).as_secs_f64();
                let f = r.progress;
                if !worth_racing(f, elapsed, dup_secs) {
                    continue;
                }
                let gain = elapsed * (1.0 - f) / f.max(1e-3) - dup_secs.unwrap_or(0.0);
                if best.is_none_or(|(g, _, _)| gain > g) {
                    best = Some((gain, j, k));
                }
            }
        }
        best.map(|(_, j, k)| (j, k))
    }
}
