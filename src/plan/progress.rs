//! How far a chunk's encode is, by cost: its frames' estimated costs (`Chunk::cost_at`) and the
//! frames its encoder has written (`-progress`'s `out_time_us`), so that a chunk of cheap frames
//! followed by dear ones does not look nearly done when most of its frames are.

use super::{Chunk, Ctx};
use crate::rational::{rescale_q, Rational};

/// How many even steps through a chunk's frames `Chunk::cost_at` records.
pub const COST_POINTS: usize = 16;

impl Chunk {
    /// The share of the estimated cost of the chunk's frames done once `encoded` of them are
    /// encoded: a chunk of cheap frames followed by dear ones is not nearly done when most of
    /// its frames are. (The lead-in and pre-roll are not counted: they are decoded and encoded
    /// before the first frame is written, but how far they are is not known.)
    pub fn done_fraction(&self, encoded: usize) -> f64 {
        let n = self.out_pts.len().max(1);
        let by_frames = encoded.min(n) as f64 / n as f64;
        let steps = self.cost_at.len().saturating_sub(1);
        let all = self.cost_at.last().copied().unwrap_or(0);
        if steps == 0 || all == 0 {
            return by_frames;
        }
        let x = by_frames * steps as f64;
        let i = (x.floor() as usize).min(steps - 1);
        let (lo, hi) = (self.cost_at[i] as f64, self.cost_at[i + 1] as f64);
        ((lo + (hi - lo) * (x - i as f64)) / all as f64).clamp(0.0, 1.0)
    }

    /// How many of the chunk's frames an encode has written, from its `-progress`
    /// `out_time_us` (`enc_tb`: the encoder's time base) and the frames it has fed to its
    /// encoder (`fed`, its pre-roll not counted). Under `-copyts` fftools reports the time
    /// muxed since the first packet it saw muxed, so this counts the chunk's frames (pre-roll
    /// first) within that time of its first; never more than were fed. None before anything
    /// is muxed.
    pub fn encoded_frames(&self, out_time_us: i64, enc_tb: Rational, fed: usize) -> Option<usize> {
        let first = *self.out_pts.first()?;
        let us = |p: i64| rescale_q(p - first, enc_tb, Rational::new(1, 1_000_000));
        if out_time_us <= 0 {
            return None;
        }
        let muxed = self.out_pts.partition_point(|&p| us(p) < out_time_us) + 1;
        Some(muxed.saturating_sub(self.preroll).min(fed))
    }
}

impl Ctx<'_> {
    /// `Chunk::cost_at` of the frames `[a, b)`.
    pub(super) fn cost_at(&self, a: usize, b: usize) -> Vec<u64> {
        let steps = COST_POINTS.min(b - a).max(1);
        (0..=steps)
            .map(|j| self.cum[a + (b - a) * j / steps] - self.cum[a])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk of 8 frames at 1/30 s from 2 s on, whose last two cost as much as the six before
    /// them (a cheap scene, then the start of a dear one), after a lead-in costing 4.
    fn chunk() -> Chunk {
        Chunk {
            start: 60,
            end: 68,
            cost: 4 + 12,
            cost_at: vec![0, 1, 2, 3, 4, 5, 6, 9, 12],
            ..crate::testutil::chunk((60..68).collect())
        }
    }

    #[test]
    fn progress_is_by_cost() {
        let c = chunk();
        assert_eq!(c.done_fraction(0), 0.0);
        // six of eight frames: half of their cost
        assert_eq!(c.done_fraction(6), 0.5);
        assert_eq!(c.done_fraction(7), 0.75);
        assert_eq!(c.done_fraction(8), 1.0);
        assert_eq!(c.done_fraction(20), 1.0);
        // no costs known: by frames
        let plain = Chunk {
            cost_at: Vec::new(),
            ..chunk()
        };
        assert_eq!(plain.done_fraction(6), 0.75);
    }

    #[test]
    fn encoded_frames_from_the_muxed_time() {
        let (c, tb) = (chunk(), Rational::new(1, 30));
        let us = |f: i64| rescale_q(f, tb, Rational::new(1, 1_000_000));
        // the time muxed since the first packet's end: 2 frames after the first
        assert_eq!(c.encoded_frames(us(2), tb, 8), Some(3));
        assert_eq!(c.encoded_frames(us(2) + 1, tb, 8), Some(4));
        assert_eq!(c.encoded_frames(us(7), tb, 8), Some(8));
        // never more than the encoder was fed; nothing before a packet is muxed
        assert_eq!(c.encoded_frames(us(7), tb, 5), Some(5));
        assert_eq!(c.encoded_frames(0, tb, 8), None);
        // two pre-roll frames are muxed first
        let pre = Chunk {
            preroll: 2,
            ..chunk()
        };
        assert_eq!(pre.encoded_frames(us(2), tb, 8), Some(1));
        assert_eq!(pre.encoded_frames(us(1), tb, 8), Some(0));
    }
}
