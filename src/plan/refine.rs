//! Local improvement of a cutting: cuts moved, removed or added one at a time while the
//! makespan model (with each slot's estimate error) improves, within a fixed budget.

use super::balance::{robust_makespan, Bounds};
use super::Ctx;

impl Ctx<'_> {
    /// Hill-climbs from `cuts`: moves each cut to nearby valid boundaries (1 to 1024 frames
    /// away, and the keyframes around it), removes it (while more than `least` chunks remain),
    /// or splits a chunk in two, keeping each change that lowers the robust makespan, for at
    /// most `evals` evaluations (a count, not a time, so that the same input always gets the
    /// same plan).
    pub(super) fn refine(
        &self,
        mut cuts: Vec<usize>,
        slots: usize,
        least: usize,
        b: &Bounds,
        evals: usize,
    ) -> (u64, Vec<usize>) {
        let n = self.frames.len();
        let score = |c: &[usize]| robust_makespan(&self.chunk_costs(c), slots);
        let fits = |c: &[usize]| {
            c.windows(2)
                .all(|w| w[1] - w[0] >= b.floor && w[1] - w[0] <= b.cap)
                && c.last()
                    .is_some_and(|&l| n - l >= b.floor.min(n) && n - l <= b.cap)
        };
        let mut best = score(&cuts);
        let mut left = evals;
        loop {
            let mut improved = false;
            let mut i = 1;
            while i <= cuts.len() {
                let mut trials: Vec<Vec<usize>> = Vec::new();
                let (lo, hi) = (
                    cuts[i - 1] + 1,
                    cuts.get(i + 1).copied().unwrap_or(n).saturating_sub(1),
                );
                if i < cuts.len() && lo <= hi {
                    let mut at: Vec<usize> = (0..=10)
                        .flat_map(|e| [cuts[i].saturating_sub(1 << e), cuts[i] + (1 << e)])
                        .filter_map(|p| self.snap(p.clamp(lo, hi), lo, hi, &b.valid))
                        .collect();
                    at.extend((lo..cuts[i]).rev().find(|&x| b.valid[x] && self.is_key(x)));
                    at.extend((cuts[i] + 1..=hi).find(|&x| b.valid[x] && self.is_key(x)));
                    at.sort_unstable();
                    at.dedup();
                    for p in at.into_iter().filter(|&p| p != cuts[i]) {
                        let mut c = cuts.clone();
                        c[i] = p;
                        trials.push(c);
                    }
                    if cuts.len() > least {
                        let mut c = cuts.clone();
                        c.remove(i);
                        trials.push(c);
                    }
                }
                // split chunk i - 1 where half its work is done
                let (a, z) = (cuts[i - 1], cuts.get(i).copied().unwrap_or(n));
                if z > a + 2 {
                    let half = (self.cum[a] + self.cum[z]) / 2;
                    let mid = self.cum.partition_point(|&x| x < half);
                    if let Some(p) = self.snap(mid.clamp(a + 1, z - 1), a + 1, z - 1, &b.valid) {
                        let mut c = cuts.clone();
                        c.insert(i, p);
                        trials.push(c);
                    }
                }
                for c in trials {
                    if left == 0 {
                        return (best, cuts);
                    }
                    left -= 1;
                    if !fits(&c) {
                        continue;
                    }
                    let v = score(&c);
                    if v < best {
                        best = v;
                        cuts = c;
                        improved = true;
                        break;
                    }
                }
                i += 1;
            }
            if !improved {
                return (best, cuts);
            }
        }
    }

    /// The valid boundary nearest to `p` within `[lo, hi]` (up to 64 frames away).
    fn snap(&self, p: usize, lo: usize, hi: usize, valid: &[bool]) -> Option<usize> {
        if lo > hi {
            return None;
        }
        (0..=64usize)
            .flat_map(|d| [p.checked_sub(d), p.checked_add(d)])
            .flatten()
            .find(|&x| x >= lo && x <= hi && valid[x])
    }
}
