//! Workers of different speeds: each worker's rate (plan cost per second) from the chunks it
//! finished, or before that from a hint (its speed relative to the others in earlier jobs), and
//! how much a slow worker may take on: only a chunk it can finish within the time the whole
//! farm needs for what is left, so that it never holds the job's last chunk.

use super::{Core, WorkerId};
use std::collections::HashMap;

/// A worker this many times slower than the fastest is held to the limit.
const SLOW: f64 = 1.5;

/// Plan cost per second from (cost done, seconds taken), once there is some of both.
fn per_second(&(cost, secs): &(f64, f64)) -> Option<f64> {
    (cost > 0.0 && secs > 0.0).then(|| cost / secs)
}

impl Core {
    /// A worker's speed relative to the others, as it was in earlier jobs (any unit, the same
    /// for every hint): used until it finishes a chunk here.
    pub fn hint_speed(&mut self, w: WorkerId, rate: f64) {
        if rate.is_finite() && rate > 0.0 {
            self.hints.insert(w, rate);
        }
    }

    /// Each worker's rate measured in this run (plan cost per second), by name: what the next
    /// job's hints come from.
    pub fn measured_rates(&self) -> HashMap<String, f64> {
        (self.speed.iter())
            .filter_map(|(w, done)| Some((self.name(*w).to_string(), per_second(done)?)))
            .collect()
    }

    /// Plan cost per second of worker `w`: measured, or its hint in the measured workers' units
    /// (scaled by the workers that have both), or its hint alone while nothing is measured.
    #[cfg(test)]
    pub(super) fn rate(&self, w: WorkerId) -> Option<f64> {
        self.rate_with(w, self.hint_scale())
    }

    /// What a hint is multiplied by to be a rate: Some(scale), or None when rates are measured
    /// but no worker has both (a hint's unit is then unknown).
    fn hint_scale(&self) -> Option<f64> {
        let (mut m, mut h, mut any) = (0.0, 0.0, false);
        for (x, r) in self
            .speed
            .iter()
            .filter_map(|(x, d)| Some((x, per_second(d)?)))
        {
            any = true;
            if let Some(hx) = self.hints.get(x) {
                m += r;
                h += hx;
            }
        }
        match (h > 0.0, any) {
            (true, _) => Some(m / h),
            (false, true) => None,
            (false, false) => Some(1.0),
        }
    }

    fn rate_with(&self, w: WorkerId, scale: Option<f64>) -> Option<f64> {
        match self.speed.get(&w).and_then(per_second) {
            Some(r) => Some(r),
            None => Some(self.hints.get(&w)? * scale?),
        }
    }

    /// The dearest chunk (plan cost) worker `w` should start now, if it is much slower than
    /// the fastest worker: what it finishes within the time all workers together need for the
    /// work left (queued, and the rest of the single attempts running). None: no limit (a fast
    /// worker, or speeds not known for every worker).
    pub(super) fn limit(&self, w: WorkerId) -> Option<f64> {
        let scale = self.hint_scale();
        let mine = self.rate_with(w, scale)?;
        let mut capacity = 0.0;
        let mut fastest: f64 = 0.0;
        for (x, m) in self.live.iter().filter(|(_, m)| !m.reserve) {
            let r = self.rate_with(*x, scale)?;
            capacity += r * m.slots as f64;
            fastest = fastest.max(r);
        }
        if mine * SLOW >= fastest || capacity <= 0.0 {
            return None;
        }
        let mut left = 0.0;
        for j in self.jobs.iter().filter(|j| j.error.is_none()) {
            left += j.queue.iter().map(|&k| j.costs[k] as f64).sum::<f64>();
            for (&k, runs) in &j.running {
                if let [r] = runs.as_slice() {
                    left += (1.0 - r.progress).max(0.0) * j.costs[k] as f64;
                }
            }
        }
        Some(left / capacity * mine)
    }
}
