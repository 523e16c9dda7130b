//! Builders for probe results and plan chunks used by unit tests.

use crate::probe::{FormatInfo, MediaInfo, MediaKind, StreamInfo};
use crate::rational::Rational;
use std::collections::BTreeMap;

pub fn stream(index: usize, kind: MediaKind, codec: &str) -> StreamInfo {
    StreamInfo {
        index,
        kind,
        codec_name: codec.into(),
        profile: None,
        has_b_frames: 0,
        width: 0,
        height: 0,
        channels: 0,
        sample_rate: 0,
        time_base: Rational::new(1, 1000),
        r_frame_rate: Rational::new(0, 1),
        avg_frame_rate: Rational::new(0, 1),
        start_pts: Some(0),
        disposition: BTreeMap::new(),
        tags: BTreeMap::new(),
        id: None,
        pix_fmt: None,
        field_order: None,
        color: Vec::new(),
        display_matrix: None,
    }
}

pub fn video(i: usize, w: u32, h: u32) -> StreamInfo {
    let mut s = stream(i, MediaKind::Video, "h264");
    (s.width, s.height) = (w, h);
    s.time_base = Rational::new(1, 15360);
    s.r_frame_rate = Rational::new(30, 1);
    s.avg_frame_rate = Rational::new(30, 1);
    s
}

pub fn audio(i: usize, ch: u32, lang: &str) -> StreamInfo {
    let mut s = stream(i, MediaKind::Audio, "aac");
    s.channels = ch;
    s.tags.insert("language".into(), lang.into());
    s
}

pub fn info(streams: Vec<StreamInfo>) -> MediaInfo {
    MediaInfo {
        format: FormatInfo {
            format_name: "matroska,webm".into(),
            start_time_us: Some(0),
            duration_us: None,
            size: None,
            tags: BTreeMap::new(),
        },
        streams,
        chapters: vec![],
    }
}

/// A chunk of frames `[0, out_pts.len())` with these encoder pts, costing nothing, and nothing
/// else set.
pub fn chunk(out_pts: Vec<i64>) -> crate::plan::Chunk {
    crate::plan::Chunk {
        index: 0,
        start: 0,
        end: out_pts.len(),
        first_packet: 0,
        last_packet: 0,
        key_pts: 0,
        first_pts: 0,
        prev_pts: None,
        worker_mode: crate::plan::sync::SyncMode::Vfr,
        out_pts,
        cost: 0,
        cost_at: Vec::new(),
        context: Default::default(),
        decode_pts: 0,
        explicit_drops: None,
        forced_keyframes: Vec::new(),
        preroll: 0,
    }
}
