//! Output frame-rate conversion (`-r` below the source's rate, where plain ffmpeg's frame-rate
//! logic drops frames) distributes over several chunks: each worker drops exactly the frames
//! plain ffmpeg drops and gives the others plain ffmpeg's pts. Compared with plain ffmpeg on
//! the stream layout, every packet's pts and duration, and the decoded frames (lossless x264).
//! Before, such a command ran as one chunk (no frame where a fresh worker's frame-rate logic
//! agreed with plain ffmpeg's).

mod common;
use common::*;

/// 6 s at 30 fps with audio, x264 GOP of 15.
fn source(e: &Env) -> String {
    e.make(
        "p30.mkv",
        6.0,
        "testsrc2=size=160x120:rate=30",
        &with(&[
            &lavfi("sine=frequency=440:sample_rate=48000"),
            &X264,
            &["-g", "15", "-c:a", "aac"],
        ]),
    )
}

/// Runs `args` (input and options, the output appended) with plain ffmpeg and distrffmpeg and
/// asserts several chunks and the same file.
fn check(e: &Env, args: &[&str], ext: &str) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(LOSSLESS_X264);
    let chunks = planned_chunks(e, &{
        let mut a = all.clone();
        a.push("dry.mkv");
        a
    });
    assert!(chunks >= 3, "{args:?}: {chunks} chunk(s), want several");
    let (plain, ours) = e.both_same(&all, ext);
    let (a, b) = (framemd5(&plain), framemd5(&ours));
    assert!(a.len() > 60, "{args:?}: {} frames", a.len());
    assert_eq!(a, b, "{args:?}: decoded frames differ");
}

#[test]
fn lower_output_rates_match_plain_ffmpeg() {
    let e = Env::new();
    let src = source(&e);
    for r in ["24", "25", "24000/1001", "12"] {
        check(&e, &["-i", &src, "-r", r, "-c:a", "copy"], "mkv");
        // (mp4 without audio: an aac copy from mkv into mp4 differs by 8 samples in
        // duration_ts with or without -r, a difference of the audio copy, reported apart)
        check(&e, &["-i", &src, "-r", r, "-an"], "mp4");
    }
}

#[test]
fn rate_conversion_with_trims_and_filters_matches_plain_ffmpeg() {
    let e = Env::new();
    let src = source(&e);
    check(
        &e,
        &["-ss", "0.7", "-i", &src, "-r", "24", "-t", "4"],
        "mkv",
    );
    check(&e, &["-i", &src, "-ss", "0.5", "-r", "24", "-an"], "mkv");
    check(
        &e,
        &["-i", &src, "-vf", "yadif,scale=100:-2", "-r", "20"],
        "mp4",
    );
}

/// An output `-ss` that is not a whole number of the chunks' ticks (0.3 s at 48 fps: 1/12288)
/// into matroska or mpegts: the final mux shifts by it and subtracts it again, which rounded
/// twice (the last frame 1 ms early) until the chunks got a timescale that holds it.
#[test]
fn an_output_seek_at_48_fps_matches_plain_ffmpeg() {
    let e = Env::new();
    let src = e.x264_clip("p48.mkv", 4.0, "testsrc2=size=160x120:rate=48", 24);
    for ext in ["mkv", "ts"] {
        let (p, o) = e.both_same(
            &with(&[&["-i", &src, "-ss", "0.3", "-t", "3.2"], &LOSSLESS_X264]),
            ext,
        );
        assert_eq!(framemd5(&p), framemd5(&o));
    }
}
