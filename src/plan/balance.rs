//! Cuttings for a known number of slots: equal-cost partitions into whole rounds of chunks,
//! keyframe cuts over a grid of chunk budgets (dear GOPs cut evenly), and the makespan model
//! that chooses between them and the keyframe-first cuts; `refine` improves the best few.

use super::Ctx;

/// What starting one more chunk costs beyond its frames (a process start, encoder set-up and
/// look-ahead ramp on the worker, a split and a check on the host), in average frames: about
/// 0.3 CPU-s against 0.1 CPU-s per frame of x264 `fast` on 720p.
pub const CHUNK_OVERHEAD_FRAMES: u64 = 4;

/// Each slot's work (and the sum of the squares of its chunks' costs) when jobs of these costs
/// are dispatched dearest first, each to the slot that frees up first (the scheduler's order).
fn slot_loads(costs: &[u64], slots: usize) -> Vec<(u64, f64)> {
    let mut sorted = costs.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let mut free = vec![(0u64, 0f64); slots.max(1)];
    for c in sorted {
        let first = free
            .iter_mut()
            .min_by_key(|x| x.0)
            .expect("at least one slot");
        first.0 += c;
        first.1 += (c as f64) * (c as f64);
    }
    free
}

/// The finish time of dispatching jobs of these costs the scheduler's way on `slots` equal
/// slots.
pub fn makespan(costs: &[u64], slots: usize) -> u64 {
    slot_loads(costs, slots)
        .into_iter()
        .map(|(sum, _)| sum)
        .max()
        .unwrap_or(0)
}

/// How a greedy pass picks where a chunk ends, among the valid boundaries within its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Where the next chunk reaches furthest: most work done minus the lead-in it must decode.
    Reach,
    /// The last keyframe in reach (no lead-in at all), else as `Reach`.
    Keyframe,
    /// The last keyframe in reach; a GOP too dear for one chunk is cut into equal parts, so
    /// that no part carries a lead-in of most of the GOP.
    Even,
}

/// How many of the best candidates `refine` improves, and how many cuttings it may evaluate in
/// all (about 0.1 s for an hour of video in 180 chunks).
const REFINED: usize = 3;
const REFINE_EVALS: usize = 24_000;

/// How far off an estimated chunk cost may be (x264 on the benchmark clip: ±8 %): a slot's
/// expected finish is its estimated work plus this share of the spread of its chunks.
const ESTIMATE_ERROR: (u64, u64) = (8, 100);

/// `makespan`, with each slot's finish moved later by the estimate error of its chunks (the
/// root of the sum of their squares): of two cuttings the model finishes equally, the one
/// whose slots depend less on single big chunks.
pub fn robust_makespan(costs: &[u64], slots: usize) -> u64 {
    if slots <= 1 {
        // one slot: nothing to balance, the error moves every cutting alike
        return costs.iter().sum();
    }
    slot_loads(costs, slots)
        .into_iter()
        .map(|(sum, sq)| {
            sum + (sq.sqrt() * ESTIMATE_ERROR.0 as f64 / ESTIMATE_ERROR.1 as f64) as u64
        })
        .max()
        .unwrap_or(0)
}

/// What every balanced pass over one input shares, computed once.
pub(super) struct Bounds {
    /// Frames a chunk may start at.
    pub valid: Vec<bool>,
    /// The dearest lead-in any chunk can have.
    pub most_lead: u64,
    /// Fewest and most frames in a chunk.
    pub floor: usize,
    pub cap: usize,
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
                Rule::Keyframe | Rule::Even => {
                    (lo..=hi).rev().find(|&b| valid[b] && self.is_key(b))
                }
                Rule::Reach => None,
            };
            let key = match (key, rule) {
                (None, Rule::Even) => self.even_cut(s, lo, hi, budget, valid),
                _ => key,
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

    /// Inside a GOP too dear for the budget: the valid boundary in `[lo, hi]` closest to an
    /// equal share of what is left of the GOP from `s`.
    fn even_cut(
        &self,
        s: usize,
        lo: usize,
        hi: usize,
        budget: u64,
        valid: &[bool],
    ) -> Option<usize> {
        let n = self.frames.len();
        let end = (s + 1..n)
            .find(|&b| valid[b] && self.is_key(b))
            .unwrap_or(n);
        let rest = self.cum[end] - self.cum[s] + self.lead_in(s);
        let parts = rest.div_ceil(budget.max(1)).max(2);
        let aim = self.cum[s] + (self.cum[end] - self.cum[s]) / parts;
        (lo..=hi)
            .filter(|&b| valid[b])
            .min_by_key(|&b| self.cum[b].abs_diff(aim))
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
        // Chunks as big as a slot's share down to a quarter of it, cut on keyframes where they
        // can be: fewer lead-ins than equal chunks when one GOP is dear.
        let share = (self.cum[n] / slots.max(1) as u64).max(1);
        let budgets = (10..=40).map(move |tenths| share * 10 / tenths);
        let even = budgets.map(|b| self.greedy(b, &bounds, Rule::Even));
        let score = |c: &Vec<usize>| robust_makespan(&self.chunk_costs(c), slots);
        // the configured chunk length still sets how many chunks there are at least
        let least = rounds * slots;
        let mut all: Vec<(u64, Vec<usize>)> = std::iter::once(self.pick_boundaries())
            .chain(balanced)
            .chain(even)
            .filter(|c| c.len() >= least)
            .map(|c| (score(&c), c))
            .collect();
        if all.is_empty() {
            let c = self.pick_boundaries();
            all.push((score(&c), c));
        }
        all.sort();
        all.dedup_by(|a, b| a.1 == b.1);
        all.into_iter()
            .take(REFINED)
            .map(|(_, c)| self.refine(c, slots, least, &bounds, REFINE_EVALS / REFINED))
            .min_by_key(|(v, _)| *v)
            .map(|(_, c)| c)
            .expect("at least one candidate")
    }
}
