//! Balanced cuts for a known number of slots: partitions whose chunk count is a multiple of the
//! slots and whose dearest chunk (decode lead-in included) is as cheap as the valid boundaries
//! allow, and the makespan model that chooses between them and the keyframe-first cuts.

use super::Ctx;

/// What starting one more chunk costs beyond its frames (a process start, encoder set-up and
/// look-ahead ramp on the worker, a split and a check on the host), in average frames: about
/// 0.3 CPU-s against 0.1 CPU-s per frame of x264 `fast` on 720p.
pub const CHUNK_OVERHEAD_FRAMES: u64 = 4;

/// The finish time of dispatching jobs of these costs dearest first, each to the slot that
/// frees up first (the scheduler's order), on `slots` equal slots.
pub fn makespan(costs: &[u64], slots: usize) -> u64 {
    let mut sorted = costs.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let mut free = vec![0u64; slots.max(1)];
    for c in sorted {
        let first = free.iter_mut().min().expect("at least one slot");
        *first += c;
    }
    free.into_iter().max().unwrap_or(0)
}

/// How a greedy pass picks where a chunk ends, among the valid boundaries within its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Where the next chunk reaches furthest: most work done minus the lead-in it must decode.
    Reach,
    /// The last keyframe in reach (no lead-in at all), else as `Reach`.
    Keyframe,
}

/// What every balanced pass over one input shares, computed once.
struct Bounds {
    /// Frames a chunk may start at.
    valid: Vec<bool>,
    /// The dearest lead-in any chunk can have.
    most_lead: u64,
    /// Fewest and most frames in a chunk.
    floor: usize,
    cap: usize,
}

impl Ctx<'_> {
    /// Chunk starts under `rule` for at most `want` chunks (more only where `max` forces them),
    /// with the smallest largest chunk cost for which a greedy pass needs no more chunks than
    /// that (bisection on the cost).
    fn balanced(&self, want: usize, rule: Rule, bounds: &Bounds) -> Vec<usize> {
        let n = self.frames.len();
        let pass = |budget: u64| self.greedy(budget, bounds, rule);
        let mut hi = self.cum[n] + bounds.most_lead;
        let want = want.max(pass(hi).len());
        let mut lo = self.cum[n] / want as u64;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pass(mid).len() <= want {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        pass(hi)
    }

    /// Chunk starts such that each chunk, lead-in included, costs at most `budget` where the
    /// valid boundaries allow, and has at most `cap` and at least `floor` frames.
    fn greedy(&self, budget: u64, bounds: &Bounds, rule: Rule) -> Vec<usize> {
        let (valid, floor, cap) = (&bounds.valid[..], bounds.floor, bounds.cap);
        let n = self.frames.len();
        let last = n.saturating_sub(floor);
        let mut cuts = vec![0];
        let mut s = 0;
        loop {
            let lead = self.lead_in(s);
            if self.cum[n] - self.cum[s] + lead <= budget && n - s <= cap {
                break;
            }
            let reach = self.cum[s] + budget.saturating_sub(lead);
            let lo = s + floor;
            let hi = (self.cum.partition_point(|&x| x <= reach) - 1)
                .min(s + cap)
                .min(last);
            let key = match rule {
                Rule::Keyframe => (lo..=hi).rev().find(|&b| valid[b] && self.is_key(b)),
                Rule::Reach => None,
            };
            let next = key
                .or_else(|| self.furthest_reach(lo, hi, valid))
                .or_else(|| (lo.max(hi + 1)..=last).find(|&b| valid[b]));
            match next {
                Some(b) => {
                    cuts.push(b);
                    s = b;
                }
                None => break,
            }
        }
        cuts
    }

    /// The valid boundary in `[lo, hi]` after which the next chunk reaches furthest.
    fn furthest_reach(&self, lo: usize, hi: usize, valid: &[bool]) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for b in (lo..=hi).rev() {
            // an earlier boundary has done less work, and a lead-in only takes from it
            if best.is_some_and(|(v, _)| self.cum[b] <= v) {
                break;
            }
            let v = self.cum[b].saturating_sub(self.lead_in(b));
            if valid[b] && best.is_none_or(|(bv, _)| v > bv) {
                best = Some((v, b));
            }
        }
        best.map(|(_, b)| b)
    }

    /// Estimated costs of the chunks starting at `cuts`, lead-ins and `CHUNK_OVERHEAD_FRAMES`
    /// included.
    pub(super) fn chunk_costs(&self, cuts: &[usize]) -> Vec<u64> {
        let n = self.frames.len();
        let overhead = self.cum[n] / n as u64 * CHUNK_OVERHEAD_FRAMES;
        cuts.iter()
            .enumerate()
            .map(|(i, &a)| {
                let b = cuts.get(i + 1).copied().unwrap_or(n);
                self.cum[b] - self.cum[a] + self.lead_in(a) + overhead
            })
            .collect()
    }

    /// Chunk starts for `slots` slots: the keyframe-first cuts or a balanced partition into
    /// about as many rounds of `slots` chunks as the target length gives (up to two more
    /// rounds, in steps of a quarter round), whichever the makespan model expects to finish
    /// first.
    pub(super) fn best_boundaries(&self, slots: usize) -> Vec<usize> {
        let n = self.frames.len();
        let fit = self.inp.sizing.adapted(n);
        let bounds = Bounds {
            valid: (0..n).map(|b| b > 0 && self.valid_boundary(b)).collect(),
            most_lead: (0..n).map(|b| self.lead_in(b)).max().unwrap_or(0),
            floor: (fit.min / 4).max(1),
            cap: self.inp.sizing.max.max(1),
        };
        let per_round = fit.target.max(1) * slots;
        let rounds = ((n + per_round / 2) / per_round).max(1);
        let step = slots.div_ceil(4);
        let balanced = (0..=8).flat_map(|i| {
            let want = rounds * slots + i * step;
            [Rule::Keyframe, Rule::Reach].map(|rule| self.balanced(want, rule, &bounds))
        });
        std::iter::once(self.pick_boundaries())
            .chain(balanced)
            .min_by_key(|c| makespan(&self.chunk_costs(c), slots))
            .expect("at least one candidate")
    }
}
