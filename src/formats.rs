//! What distrffmpeg knows about output muxers: how ffmpeg picks one from a file name, its
//! default frame-rate mode, its default subtitle codec (for default stream selection), and
//! whether chunk files in that format can be joined exactly. Also the subtitle codecs' kinds.

use crate::plan::sync::SyncMode;
use crate::rational::Rational;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    Text,
    Bitmap,
    /// Neither flag (e.g. teletext): ffmpeg maps it to any subtitle encoder.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Muxer {
    pub name: &'static str,
    pub extensions: &'static [&'static str],
    /// AVFMT_VARIABLE_FPS: `auto` frame-rate mode is vfr, otherwise cfr.
    pub variable_fps: bool,
    /// Default subtitle codec and its kind, if the muxer has one.
    pub default_subtitle: Option<(&'static str, SubKind)>,
    /// Chunks in this format concatenate exactly (tested).
    pub distributable: bool,
    /// AVFMT_NOTIMESTAMPS: `auto` frame-rate mode is passthrough.
    pub no_timestamps: bool,
    /// The codecs ffmpeg encodes video and audio into when no `-c` names an encoder
    /// (`ffmpeg -h muxer=…` of a build with libx264 and libvpx-vp9; the encoder is the codec
    /// table's first for that codec).
    pub default_video: &'static str,
    pub default_audio: &'static str,
}

const fn mux(
    name: &'static str,
    extensions: &'static [&'static str],
    variable_fps: bool,
    (default_video, default_audio): (&'static str, &'static str),
    default_subtitle: Option<(&'static str, SubKind)>,
    distributable: bool,
) -> Muxer {
    Muxer {
        name,
        extensions,
        variable_fps,
        default_subtitle,
        distributable,
        no_timestamps: false,
        default_video,
        default_audio,
    }
}

static MUXERS: &[Muxer] = &[
    mux(
        "matroska",
        &["mkv"],
        true,
        ("h264", "vorbis"),
        Some(("ass", SubKind::Text)),
        true,
    ),
    mux(
        "webm",
        &["webm"],
        true,
        ("vp9", "opus"),
        Some(("webvtt", SubKind::Text)),
        true,
    ),
    mux("mp4", &["mp4"], false, ("h264", "aac"), None, true),
    mux("mov", &["mov"], false, ("h264", "aac"), None, true),
    mux(
        "ipod",
        &["m4v", "m4a", "m4b"],
        false,
        ("h264", "aac"),
        None,
        true,
    ),
    mux(
        "mpegts",
        &["ts", "m2t", "m2ts", "mts"],
        true,
        ("mpeg2video", "mp2"),
        None,
        true,
    ),
    mux("nut", &["nut"], true, ("mpeg4", "vorbis"), None, true),
    mux("avi", &["avi"], false, ("mpeg4", "mp3"), None, true),
    // Pass 1 of a two-pass encode only (everything else with -f null passes through).
    Muxer {
        no_timestamps: true,
        ..mux(
            "null",
            &[],
            true,
            ("wrapped_avframe", "pcm_s16le"),
            None,
            true,
        )
    },
    mux("flv", &["flv"], true, ("flv1", "mp3"), None, true),
    mux("3gp", &["3gp"], false, ("h263", "amr_nb"), None, false),
    mux(
        "ismv",
        &["ismv", "isma"],
        false,
        ("h264", "aac"),
        None,
        false,
    ),
];

/// Looks a muxer up by its `-f` name (`mkv` is not a muxer name; `matroska` is).
pub fn by_name(name: &str) -> Option<&'static Muxer> {
    MUXERS.iter().find(|m| m.name == name)
}

/// The muxer ffmpeg picks for a file name from its extension (case-insensitive).
pub fn by_filename(path: &str) -> Option<&'static Muxer> {
    let ext = std::path::Path::new(path)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    MUXERS.iter().find(|m| m.extensions.contains(&ext.as_str()))
}

impl Muxer {
    /// The default video codec as this build of ffmpeg has it: matroska, mp4 and mov fall back
    /// to mpeg4 without libx264, webm to vp8 without libvpx-vp9 (libavformat's
    /// `CONFIG_LIBX264_ENCODER` and `CONFIG_LIBVPX_VP9_ENCODER` choices).
    pub fn default_video_with(&self, has_encoder: impl Fn(&str) -> bool) -> &'static str {
        match self.name {
            "matroska" | "mp4" | "mov" if !has_encoder("libx264") => "mpeg4",
            "webm" if !has_encoder("libvpx-vp9") => "vp8",
            _ => self.default_video,
        }
    }

    /// The time base this muxer gives an audio stream of `sample_rate` (None: the one asked
    /// for, i.e. the source's on a stream copy).
    pub fn audio_time_base(&self, sample_rate: u32) -> Option<Rational> {
        match self.name {
            "mp4" | "mov" | "ipod" | "3gp" | "ismv" => {
                (sample_rate > 0).then(|| Rational::new(1, i64::from(sample_rate)))
            }
            "mpegts" => Some(Rational::new(1, 90_000)),
            "matroska" | "webm" | "flv" => Some(Rational::new(1, 1000)),
            _ => None,
        }
    }

    /// What ffmpeg's `auto` frame-rate mode resolves to for this muxer (avi is special-cased
    /// to vfr by ffmpeg; VSCFR is decided by the caller).
    pub fn auto_sync(&self) -> SyncMode {
        if self.no_timestamps {
            SyncMode::Passthrough
        } else if self.name == "avi" || self.variable_fps {
            SyncMode::Vfr
        } else {
            SyncMode::Cfr
        }
    }

    /// The container workers write chunks in, with its file extension. The mp4 family keeps
    /// the encoder's time base, every packet duration and the global-header layout the final
    /// muxers use (mp4 for the codecs it holds, mov for intermediate codecs such as ffv1);
    /// mpegts and avi outputs need in-band headers (their muxers ask for no global header, so
    /// the encoder repeats its headers before each keyframe), so their chunks are mpegts; the
    /// mpegts muxer inserts access unit delimiters into h264/hevc, so avi distributes only
    /// the encoders whose packets it leaves alone (`avi_keeps`).
    pub fn chunk_format(&self, encoder: Option<&str>) -> (&'static str, &'static str) {
        if self.name == "null" {
            ("null", "null")
        } else if self.name == "mpegts" {
            ("mpegts", "ts")
        } else if encoder.is_some_and(|e| MOV_ONLY.contains(&e)) {
            ("mov", "mov")
        } else if self.name == "avi" {
            ("mpegts", "ts")
        } else {
            ("mp4", "mp4")
        }
    }
}

/// Encoders whose chunks are mov files (intermediate codecs mp4 does not hold).
const MOV_ONLY: &[&str] = &[
    "ffv1",
    "prores",
    "prores_ks",
    "prores_aw",
    "dnxhd",
    "utvideo",
    "huffyuv",
    "ffvhuff",
    "magicyuv",
    "rawvideo",
    "qtrle",
    "hap",
    "cfhd",
    "v210",
    "r210",
    "png",
    "cinepak",
];

/// Whether avi chunks of this encoder's output (mpegts, or mov for `MOV_ONLY`) keep its
/// packets as plain ffmpeg's avi has them: mpeg4 part 2 and mpeg-2 pass the mpegts muxer
/// untouched (checked: the same bytes through a .ts and directly), h264 and hevc get access
/// unit delimiters.
pub fn avi_keeps(encoder: &str) -> bool {
    MOV_ONLY.contains(&encoder) || matches!(encoder, "mpeg4" | "libxvid")
}

/// The kind of a subtitle codec, as libavcodec's descriptor props say; None if unknown.
pub fn subtitle_kind(codec: &str) -> Option<SubKind> {
    const TEXT: &[&str] = &[
        "ass",
        "ssa",
        "subrip",
        "srt",
        "webvtt",
        "mov_text",
        "text",
        "microdvd",
        "jacosub",
        "sami",
        "realtext",
        "subviewer",
        "subviewer1",
        "vplayer",
        "pjs",
        "mpl2",
        "stl",
        "ttml",
        "hdmv_text_subtitle",
        "arib_caption",
    ];
    const BITMAP: &[&str] = &["dvd_subtitle", "dvb_subtitle", "hdmv_pgs_subtitle", "xsub"];
    const OTHER: &[&str] = &["dvb_teletext", "eia_608"];
    if TEXT.contains(&codec) {
        Some(SubKind::Text)
    } else if BITMAP.contains(&codec) {
        Some(SubKind::Bitmap)
    } else if OTHER.contains(&codec) {
        Some(SubKind::Other)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_pick_muxers() {
        assert_eq!(by_filename("a/b.MKV").unwrap().name, "matroska");
        assert_eq!(by_filename("x.m4v").unwrap().name, "ipod");
        assert_eq!(by_filename("x.ts").unwrap().auto_sync(), SyncMode::Vfr);
        assert_eq!(by_filename("x.mp4").unwrap().auto_sync(), SyncMode::Cfr);
        assert!(by_filename("noext").is_none());
        assert!(by_name("mkv").is_none());
        assert_eq!(subtitle_kind("subrip"), Some(SubKind::Text));
        assert_eq!(subtitle_kind("hdmv_pgs_subtitle"), Some(SubKind::Bitmap));
    }

    #[test]
    fn default_codecs_follow_the_build_and_avi_keeps_only_untouched_packets() {
        let all = |_: &str| true;
        let none = |_: &str| false;
        let mkv = by_name("matroska").unwrap();
        assert_eq!(mkv.default_video_with(all), "h264");
        assert_eq!(mkv.default_video_with(none), "mpeg4");
        assert_eq!(by_name("webm").unwrap().default_video_with(none), "vp8");
        assert_eq!(by_name("ipod").unwrap().default_video_with(none), "h264");
        let avi = by_name("avi").unwrap();
        assert_eq!(avi.chunk_format(Some("mpeg4")), ("mpegts", "ts"));
        assert_eq!(avi.chunk_format(Some("ffv1")), ("mov", "mov"));
        assert!(avi_keeps("mpeg4") && avi_keeps("ffv1"));
        assert!(!avi_keeps("libx264") && !avi_keeps("libx265"));
        // mpegts outputs keep mpegts chunks whatever the encoder
        assert_eq!(
            by_name("mpegts").unwrap().chunk_format(Some("ffv1")).0,
            "mpegts"
        );
    }
}
