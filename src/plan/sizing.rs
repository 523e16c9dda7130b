//! How long the planner makes chunks: the configured targets, shrunk for short inputs so that
//! each slot gets about two (one when two would be too short to be worth their fixed cost).

use serde::Serialize;

/// The shortest chunks (in frames) that a short input is cut into two per slot.
const TWO_PER_SLOT_MIN: usize = 72;

/// Chunk length targets, in encoder input frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sizing {
    pub target: usize,
    pub min: usize,
    pub max: usize,
    /// Slots the job runs on: short inputs get smaller chunks so that each slot gets about
    /// two (0: use the sizes as given).
    pub slots: usize,
}

impl Sizing {
    /// Sizes from the config: `min` and `max` are widened to include `target`, so that
    /// `-df_segment_frames=120` alone asks for 120-frame chunks.
    pub fn new(target: usize, min: usize, max: usize, slots: usize) -> Sizing {
        Sizing {
            target,
            min: min.min(target),
            max: max.max(target),
            slots,
        }
    }

    /// The sizes for `frames` encoder input frames: shrunk for short inputs (never below 48
    /// frames, never above the configured target). Two chunks per slot hedge the estimates'
    /// errors, but only where each is long enough to be worth its fixed cost (starting a
    /// remote encode, the encoder's start, bringing it home: about 20 frames of 720p x264 on
    /// one core); a shorter input gets one chunk per slot.
    pub fn adapted(self, frames: usize) -> Sizing {
        if self.slots == 0 {
            return self;
        }
        let two = frames.div_ceil(2 * self.slots);
        let fair = match two >= TWO_PER_SLOT_MIN {
            true => two,
            false => frames.div_ceil(self.slots),
        }
        .max(48);
        if fair >= self.target {
            return self;
        }
        Sizing {
            target: fair,
            min: (self.min * fair / self.target).max(24).min(fair),
            max: (self.max * fair / self.target).max(fair),
            slots: self.slots,
        }
    }
}
