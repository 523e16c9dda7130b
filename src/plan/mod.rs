//! Planning: a pure function from the packet index and the job's timing options to a `Plan` —
//! chunks of encoder input frames `[start, end)` in presentation order, cut on keyframes (inside
//! a GOP when GOPs exceed the maximum chunk length, or when that spreads the work better over
//! the job's slots: `balance`), each with the exact source packets it needs and the exact
//! encoder frames (count and pts) it must come back with.

pub mod balance;
pub mod keyframes;
pub mod preroll;
mod progress;
mod refine;
mod sizing;
pub mod sync;
pub mod timeline;
pub use sizing::Sizing;

use crate::probe::Packet;
use crate::rational::{Rational, MICROS};
use serde::Serialize;
use sync::{Emitted, SyncMode, SyncParams, SyncState};
use timeline::{chain_output, decode_starts, filter_input, ChainOut, Frame, Trims, Window};

/// What the planner needs to know.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub packets: &'a [Packet],
    pub stream_tb: Rational,
    pub trims: Trims,
    /// Plain ffmpeg's frame-rate logic for this output.
    pub sync: SyncParams,
    pub sizing: Sizing,
    /// Encoding cost of a frame beyond its source bytes, in bytes (see `base_cost`).
    pub base_cost: u64,
    /// Chunk starts to use instead of choosing them (pass 2 reuses pass 1's).
    pub cuts: Option<&'a [usize]>,
    /// The context frames the user's filter chain reads around each frame.
    pub window: Window,
    /// `-force_key_frames`.
    pub keyframes: Option<&'a keyframes::Keyframes>,
    /// The most pre-roll frames a chunk may get (`job::preroll`; 0: none).
    pub preroll: usize,
    /// Spans of filter time (µs) no chunk's chain may start in: subtitles burned in whose
    /// layout depends on the frames drawn before (`job::burnin::busy_spans`).
    pub busy_us: &'a [(i64, i64)],
}

/// The per-frame part of the encoding cost model, in source bytes: a frame costs
/// `base + its packet's size`. Measured with x264 on 720p: 300 frames of plain content took
/// 6 CPU-s, a busy scene 0.55 CPU-s more per MB of source, i.e. the fixed part equals about
/// 0.04 bytes per pixel. Sizes track content complexity, so chunks of busy scenes come out
/// shorter in frames and all chunks take about as long to encode.
pub fn base_cost(width: u32, height: u32) -> u64 {
    (u64::from(width) * u64::from(height) / 25).max(1)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chunk {
    pub index: usize,
    /// Encoder input frames `[start, end)`.
    pub start: usize,
    pub end: usize,
    /// Source packets to copy, decode order, inclusive.
    pub first_packet: usize,
    pub last_packet: usize,
    /// Source pts of the first packet (a keyframe).
    pub key_pts: i64,
    /// Filter-graph pts of the chunk's first frame and of the frame before it.
    pub first_pts: i64,
    pub prev_pts: Option<i64>,
    /// Frame-rate mode the worker must run in.
    pub worker_mode: SyncMode,
    /// Encoder output: pts (encoder time base) of every frame the chunk must produce.
    pub out_pts: Vec<i64>,
    /// Estimated encoding cost (`base_cost` model, bytes): the scheduler starts dear chunks first.
    pub cost: u64,
    /// The estimated cost of the chunk's frames up to each of `COST_POINTS` even steps through
    /// them (`[0]` is 0, the last is all of them; lead-in and pre-roll not included): how far
    /// an encode is, by cost, once it has encoded some of its frames (`done_fraction`).
    pub cost_at: Vec<u64>,
    /// Frames decoded only as context for temporal filters.
    pub context: Context,
    /// Filter pts, at the chain's input, of the first frame the chain must see.
    pub decode_pts: i64,
    /// Encoder pts of the chunk's frames plain ffmpeg forces to keyframes (`-force_key_frames`).
    pub forced_keyframes: Vec<i64>,
    /// Plain ffmpeg's frame-rate logic drops frames (a frame-rate conversion) and the worker
    /// reproduces its choice explicitly: it drops these frames (indices among the chunk's
    /// frames) and gives the rest `out_pts`, in `-fps_mode passthrough`. None: the worker runs
    /// the frame-rate logic itself (`worker_mode`).
    pub explicit_drops: Option<Vec<usize>>,
    /// Encoder frames the worker encodes before `out_pts[0]` (`job::preroll`): its first
    /// `out_pts` frame is forced to an IDR and the packets before it are dropped in the join.
    pub preroll: usize,
}

/// The frames a chunk decodes only as context for a temporal filter chain (`Window`): they run
/// through the user's chain and their outputs are dropped after it. Filter-graph pts: the
/// first context frame's at the chain's input, the others at its output (half the time base
/// after a field-rate deinterlacer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Context {
    /// The first context frame before the chunk, and the chain's output just before the
    /// chunk's first.
    pub before: Option<(i64, i64)>,
    /// The chunk's last output frame, and the chain's next output after it.
    pub after: Option<(i64, i64)>,
    /// Where plain ffmpeg's chain input ends (an input `-t`/`-to`) before frames this chunk
    /// decodes: the chain's last frame and the next decoded one, in the chain input's time
    /// base. A filter that reads frames ahead must see the same end (`trim=end` before it).
    pub input_end: Option<(i64, i64)>,
}

impl Chunk {
    pub fn frames(&self) -> usize {
        self.end - self.start
    }
    pub fn packets(&self) -> usize {
        self.last_packet + 1 - self.first_packet
    }
    pub fn out_count(&self) -> i64 {
        self.out_pts.len() as i64
    }
    /// Filter pts (of the chain's input) of the first frame the worker's chain must see: the
    /// first context frame, or the chunk's first frame. Frames decoded before it are trimmed
    /// ahead of the chain.
    pub fn chain_first_pts(&self) -> i64 {
        self.decode_pts
    }
}

/// The source's packet index and the plan made from it: what the run executes.
pub struct Planned {
    pub packets: std::sync::Arc<Vec<crate::probe::Packet>>,
    pub plan: std::sync::Arc<Plan>,
    /// The plans of the job's other outputs (`JobSpec::others`), on the same chunks.
    pub others: Vec<std::sync::Arc<Plan>>,
    /// The job's other outputs (indices into `JobSpec::others`) that cannot share the chunks:
    /// plain ffmpeg writes them (`pipeline::plan::demote`), `others` has no plan for them.
    pub demoted: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub input_frames: usize,
    pub output_frames: i64,
    pub chunks: Vec<Chunk>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no video frames reach the encoder")]
    NoFrames,
    #[error(
        "the first frame cannot be decoded on its own (the stream does not start with a keyframe)"
    )]
    NoLeadingKeyframe,
    #[error(
        "the chunks of pass 1 do not fit this command (run pass 1 again with the same options)"
    )]
    Cuts,
    #[error("the workers' explicit autorotate filters would change the frame durations of ffmpeg's frame-rate logic (packet durations differ from the frame rate)")]
    WorkerFilter,
}

fn pts_of(e: &Emitted) -> impl Iterator<Item = i64> {
    e.first_pts..e.first_pts + e.count
}

/// The mode a worker encoding chunk `k` runs in so that it behaves like plain ffmpeg.
pub fn worker_mode(plain: SyncMode, k: usize) -> SyncMode {
    match (plain, k) {
        (SyncMode::Cfr, 0) => SyncMode::Cfr,
        (SyncMode::Cfr, _) => SyncMode::Vscfr,
        (m, _) => m,
    }
}

struct Ctx<'a> {
    inp: &'a PlanInput<'a>,
    /// Chunks reproduce plain ffmpeg's frame-rate decisions explicitly (`Chunk::explicit_drops`).
    explicit: bool,
    frames: Vec<Frame>,
    /// The frames plain ffmpeg's filter chain sees (before the output trims), and what it
    /// makes of them: `frames` is `outputs[out_offset..]`, cut at its end.
    chain: Vec<Frame>,
    outputs: Vec<ChainOut>,
    out_offset: usize,
    starts: Vec<Option<usize>>,
    leading: Vec<bool>,
    plain: Vec<Emitted>,
    flush: Emitted,
    /// Cumulative cost: `cum[i]` for frames `[0, i)`.
    cum: Vec<u64>,
    /// Cumulative cost of packets in decode order: `pcum[i]` for packets `[0, i)`.
    pcum: Vec<u64>,
    /// The first frame after the chain's last, when an input trim ends the chain early.
    beyond: Option<i64>,
}

/// Decoding a frame costs about this fraction of encoding it (x264 `fast` on busy 720p: a fit
/// of the benchmark's chunk times gives 0.07 s per lead-in frame against 0.44 s per encoded
/// one): a chunk that starts inside a GOP pays it for every frame from the GOP's keyframe to
/// its own first frame.
const DECODE_SHARE: (u64, u64) = (1, 6);

impl Ctx<'_> {
    fn fr(&self, i: usize) -> (i64, i64) {
        (self.frames[i].pts, self.frames[i].duration)
    }

    /// A chunk may start at frame `b`: it is decodable from the last keyframe before it, and a
    /// fresh worker emits exactly what plain ffmpeg emits for it.
    fn valid_boundary(&self, b: usize) -> bool {
        let packet = self.frames[b].packet;
        if self.starts[packet].is_none() || self.leading[packet] {
            // a leading picture of an open GOP: decodable only from the GOP before
            return false;
        }
        let plain = self.plain[b];
        if plain.count == 0 || plain.dups_of_previous != 0 || !self.outputs[self.out(b)].first {
            // (a chunk starts with all the chain's outputs of its first source frame)
            return false;
        }
        if self.explicit {
            return self.context_decodable(b) && !self.busy(b);
        }
        if !self.context_decodable(b) || self.busy(b) {
            return false;
        }
        let p = SyncParams {
            mode: worker_mode(self.inp.sync.mode, 1),
            recording_us: None,
            ..self.inp.sync
        };
        p.step(&mut SyncState::default(), Some(self.fr(b))) == plain
    }

    /// Whether the first frame a chunk starting at `b` feeds its chain (the window's context
    /// included), or its first output (retimed by `fps` or `setpts`), falls in a busy span
    /// (`PlanInput::busy_us`).
    fn busy(&self, b: usize) -> bool {
        let lo = self.src(b).saturating_sub(self.inp.window.before);
        let t_in = crate::rational::rescale_q(self.chain[lo].pts, self.inp.stream_tb, MICROS);
        let t_out = crate::rational::rescale_q(self.fr(b).0, self.inp.sync.filter_tb, MICROS);
        let inside = |t: i64| self.inp.busy_us.iter().any(|&(s, e)| s < t && t < e);
        inside(t_in) || inside(t_out)
    }

    /// Index in `outputs` of encoder frame `i`.
    fn out(&self, i: usize) -> usize {
        self.out_offset + i
    }

    /// Index in `chain` of the source frame of encoder frame `i`.
    fn src(&self, i: usize) -> usize {
        self.outputs[self.out(i)].source
    }

    /// Whether every context frame before a chunk starting at `b` can be decoded.
    fn context_decodable(&self, b: usize) -> bool {
        let lo = self.src(b).saturating_sub(self.inp.window.before);
        self.chain[lo..self.src(b)]
            .iter()
            .all(|f| self.starts[f.packet].is_some())
    }

    /// The range of `chain` a chunk of frames `[a, b)` decodes: its source frames and the
    /// window's context on each side, as far as plain ffmpeg's chain sees frames.
    fn context_range(&self, a: usize, b: usize) -> (usize, usize) {
        let w = self.inp.window;
        let lo = self.src(a).saturating_sub(w.before);
        let hi = (self.src(b - 1) + 1 + w.after).min(self.chain.len());
        (lo, hi)
    }

    /// The context of a chunk `[a, b)`, its first and last packet in decode order, and the
    /// chain-input pts of the first frame its chain must see.
    fn context(&self, a: usize, b: usize) -> (Context, usize, usize, i64) {
        let (lo, hi) = self.context_range(a, b);
        let (ca, cb) = (self.src(a), self.src(b - 1) + 1);
        let first = self.chain[lo..ca]
            .iter()
            .filter_map(|f| self.starts[f.packet])
            .chain(self.starts[self.frames[a].packet])
            .min()
            .expect("the chunk's first frame is decodable");
        let last = self.frames[a..b]
            .iter()
            .chain(&self.chain[cb..hi])
            .map(|f| f.packet)
            .max()
            .expect("non-empty");
        let output = |i: usize| self.outputs[i].frame.pts;
        let context = Context {
            before: (lo < ca).then(|| (self.chain[lo].pts, output(self.out(a) - 1))),
            // (frames after the last output that make none, as `fps` drops them, need no trim)
            after: (hi > cb && self.out(b) < self.outputs.len())
                .then(|| (output(self.out(b) - 1), output(self.out(b)))),
            input_end: self
                .beyond
                .filter(|_| hi == self.chain.len() && self.inp.window.after > 0)
                .map(|next| (self.chain[hi - 1].pts, next)),
        };
        (context, first, last, self.chain[lo].pts)
    }

    fn is_key(&self, b: usize) -> bool {
        self.inp.packets[self.frames[b].packet].key
    }

    /// Plain ffmpeg's output pts for frames `[a, b)` (plus the flush when `b` is the end).
    fn plain_pts(&self, a: usize, b: usize) -> Vec<i64> {
        let mut v: Vec<i64> = self.plain[a..b].iter().flat_map(pts_of).collect();
        if b == self.frames.len() {
            v.extend(pts_of(&self.flush));
        }
        v
    }

    /// What a worker produces for frames `[a, b)` as chunk `k`, capped at `cap` frames.
    fn worker_pts(&self, k: usize, a: usize, b: usize, cap: i64) -> Vec<i64> {
        if self.explicit {
            // the worker keeps exactly plain ffmpeg's frames at plain ffmpeg's pts
            let mut v = self.plain_pts(a, b);
            v.truncate(cap.max(0) as usize);
            return v;
        }
        let p = SyncParams {
            mode: worker_mode(self.inp.sync.mode, k),
            max_frames: Some(cap),
            recording_us: None,
            ..self.inp.sync
        };
        let mut st = SyncState::default();
        let mut v: Vec<i64> = (a..b)
            .flat_map(|i| pts_of(&p.step(&mut st, Some(self.fr(i)))))
            .collect();
        if b == self.frames.len() {
            v.extend(pts_of(&p.step(&mut st, None)));
        }
        v
    }

    /// Cost of frames `[a, b)` in average frames (the unit the sizes are given in).
    fn weight(&self, a: usize, b: usize) -> usize {
        let n = self.frames.len() as u128;
        let total = u128::from(self.cum[self.frames.len()].max(1));
        (u128::from(self.cum[b] - self.cum[a]) * n / total) as usize
    }

    /// The cost of decoding, without encoding, the frames from frame `s`'s keyframe up to it.
    fn lead_in(&self, s: usize) -> u64 {
        let p = self.frames[s].packet;
        let ks = self.starts[p].unwrap_or(p);
        self.pcum[p].saturating_sub(self.pcum[ks]) * DECODE_SHARE.0 / DECODE_SHARE.1
    }

    /// `lead_in` in average frames (the unit of `weight`).
    fn lead_in_weight(&self, s: usize) -> usize {
        let n = self.frames.len() as u128;
        let total = u128::from(self.cum[self.frames.len()].max(1));
        (u128::from(self.lead_in(s)) * n / total) as usize
    }

    /// Chunk starts: each chunk at most `max` frames, its cost as close to `target` average
    /// frames as the keyframes allow and between `min` and `max` in cost — so busy scenes get
    /// chunks shorter in frames, down to a quarter of `min`; inside a GOP only when no
    /// keyframe fits.
    fn pick_boundaries(&self) -> Vec<usize> {
        let n = self.frames.len();
        let sz = self.inp.sizing.adapted(self.frames.len());
        let min = sz.min.max(1);
        let floor = (min / 4).max(1);
        // at least `min` frames, or `min` in cost and `floor` frames
        let big_enough =
            |a: usize, b: usize| b - a >= min || (b - a >= floor && self.weight(a, b) >= min);
        let mut cuts = vec![0];
        let mut s = 0;
        // Split while the rest is too long, or dear enough that two chunks fit the target
        // better than one.
        let enough = sz.max.min(sz.target + sz.target / 2);
        while n - s > sz.max
            || (self.weight(s, n) + self.lead_in_weight(s) > enough
                && n - s >= 2 * floor
                && (n - s >= 2 * min || self.weight(s, n) >= 2 * min))
        {
            let mut lo = s + floor;
            while lo < n - 1 && !big_enough(s, lo) {
                lo += 1;
            }
            // this chunk's own decode lead-in counts against its size; a cut inside a GOP
            // charges the next chunk one, so it is weighed too
            let own = self.lead_in_weight(s);
            let mut hi = (s + sz.max).min(n - 1);
            while hi > lo && self.weight(s, hi) + own > sz.max {
                hi -= 1;
            }
            let leaves_enough = |b: usize| big_enough(b, n) || n - b >= n - lo;
            let off_target =
                |b: usize| (self.weight(s, b) + own).abs_diff(sz.target) + self.lead_in_weight(b);
            let best = |key_only: bool| {
                (lo..=hi)
                    .filter(|&b| leaves_enough(b) && (!key_only || self.is_key(b)))
                    .filter(|&b| self.valid_boundary(b))
                    .min_by_key(|&b| (off_target(b), b))
            };
            let next = best(true)
                .or_else(|| best(false))
                .or_else(|| ((hi + 1)..n).find(|&b| self.valid_boundary(b)));
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
}

/// Plans the chunks for one encode.
pub fn plan(inp: &PlanInput) -> Result<Plan, PlanError> {
    let chain = filter_input(inp.packets, inp.stream_tb, &inp.trims);
    let outputs = chain_output(&chain, &inp.window, inp.stream_tb);
    // the output trims come after the chain, in its output time base
    let (t, out_tb) = (&inp.trims, inp.sync.filter_tb);
    let all: Vec<Frame> = outputs.iter().map(|o| o.frame).collect();
    let frames = timeline::trim(&all, out_tb, t.output_start_us, t.output_duration_us);
    if frames.is_empty() {
        return Err(PlanError::NoFrames);
    }
    let out_offset = all
        .iter()
        .position(|f| *f == frames[0])
        .expect("the encoder's frames come through the chain");
    let starts = decode_starts(inp.packets);
    let leading = timeline::leading_pictures(inp.packets);
    let mut st = SyncState::default();
    let list: Vec<(i64, i64)> = frames.iter().map(|f| (f.pts, f.duration)).collect();
    if inp.sync.worker_vf && !inp.sync.worker_durations_agree(&list) {
        return Err(PlanError::WorkerFilter);
    }
    let (mut plain, flush) = sync::simulate(&inp.sync, &mut st, &list);
    let mut frames = frames;
    if let Some(cap) = inp.sync.max_frames {
        // `-frames:v`: nothing after the frame that reaches the cap is encoded (or split)
        let mut sum = 0;
        if let Some(last) = plain.iter().position(|e| {
            sum += e.count;
            sum >= cap
        }) {
            frames.truncate(last + 1);
            plain.truncate(last + 1);
        }
    }
    let mut cum = Vec::with_capacity(frames.len() + 1);
    cum.push(0u64);
    for f in &frames {
        let c = inp.base_cost + u64::from(inp.packets[f.packet].size) + 1;
        cum.push(cum.last().copied().unwrap_or(0) + c);
    }
    let mut pcum = Vec::with_capacity(inp.packets.len() + 1);
    pcum.push(0u64);
    for p in inp.packets {
        let c = inp.base_cost + u64::from(p.size) + 1;
        pcum.push(pcum.last().copied().unwrap_or(0) + c);
    }
    // Frames dropped before the last kept one (not a tail cut by -t or -frames), and no
    // duplicate anywhere: the worker can be told which frames to keep.
    let last_kept = plain.iter().rposition(|e| e.count > 0);
    // (the worker's pts are rounded to the filter time base: it must be finer than the
    // encoder's)
    let finer = crate::rational::compare_ts(1, inp.sync.filter_tb, 1, inp.sync.enc_tb) < 0;
    let explicit = inp.sync.mode != SyncMode::Passthrough
        && finer
        && flush.count == 0
        && plain
            .iter()
            .all(|e| e.count <= 1 && e.dups_of_previous == 0)
        && last_kept.is_some_and(|l| plain[..l].iter().any(|e| e.count == 0));
    let beyond = chain.last().and_then(|last| {
        let all = timeline::presentation_order(inp.packets, inp.stream_tb, inp.trims.ts_offset_us);
        all.iter().map(|f| f.pts).filter(|&p| p > last.pts).min()
    });
    let ctx = Ctx {
        inp,
        explicit,
        beyond,
        frames,
        chain,
        outputs,
        out_offset,
        starts,
        leading,
        plain,
        flush,
        cum,
        pcum,
    };
    if ctx.starts[ctx.frames[0].packet].is_none() {
        return Err(PlanError::NoLeadingKeyframe);
    }
    let forced = inp.cuts.is_some();
    let mut cuts = match inp.cuts {
        Some(c) => {
            let ok = c.first() == Some(&0)
                && c.windows(2).all(|w| w[0] < w[1])
                && c.iter()
                    .skip(1)
                    .all(|&b| b < ctx.frames.len() && ctx.valid_boundary(b));
            if !ok {
                return Err(PlanError::Cuts);
            }
            c.to_vec()
        }
        None if inp.sizing.slots > 0 => ctx.best_boundaries(inp.sizing.slots),
        None => ctx.pick_boundaries(),
    };
    let n = ctx.frames.len();
    // Verify every chunk against plain ffmpeg; merge a chunk into its predecessor on mismatch.
    let mut k = 0;
    let mut chunks = Vec::new();
    while k < cuts.len() {
        let a = cuts[k];
        let b = cuts.get(k + 1).copied().unwrap_or(n);
        let want = ctx.plain_pts(a, b);
        if want.is_empty() || ctx.worker_pts(k, a, b, want.len() as i64) != want {
            if forced {
                return Err(PlanError::Cuts);
            }
            if k + 1 < cuts.len() {
                cuts.remove(k + 1);
                continue;
            }
            if k > 0 {
                cuts.remove(k);
                chunks.pop();
                k -= 1;
                continue;
            }
        }
        let (context, first_packet, last_packet, decode_pts) = ctx.context(a, b);
        let cost = ctx.cum[b] - ctx.cum[a] + ctx.lead_in(a);
        let (first_packet, decode_pts, cost, preroll) =
            ctx.with_preroll(k, (a, b), &want, (first_packet, decode_pts, cost));
        chunks.push(Chunk {
            index: k,
            start: a,
            end: b,
            first_packet,
            last_packet,
            key_pts: inp.packets[first_packet].pts,
            first_pts: ctx.frames[a].pts,
            prev_pts: a.checked_sub(1).map(|i| ctx.frames[i].pts),
            worker_mode: if explicit {
                SyncMode::Passthrough
            } else {
                worker_mode(inp.sync.mode, k)
            },
            explicit_drops: explicit.then(|| {
                (a..b)
                    .filter(|&i| ctx.plain[i].count == 0)
                    .map(|i| i - a)
                    .collect()
            }),
            cost_at: ctx.cost_at(a, b),
            out_pts: want,
            cost,
            context,
            decode_pts,
            forced_keyframes: Vec::new(),
            preroll,
        });
        k += 1;
    }
    if let Some(k) = inp.keyframes {
        let all: Vec<i64> = chunks.iter().flat_map(|c| c.out_pts.clone()).collect();
        let forced = keyframes::forced(k, &all, inp.sync.enc_tb);
        for c in &mut chunks {
            c.forced_keyframes = (c.out_pts.iter())
                .filter(|p| forced.binary_search(p).is_ok())
                .copied()
                .collect();
        }
    }
    let output_frames = chunks.iter().map(Chunk::out_count).sum();
    Ok(Plan {
        input_frames: n,
        output_frames,
        chunks,
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_balance;
