//! Differential tests of the local worker pool: distrffmpeg and plain ffmpeg run the same argv
//! on lavfi-generated media and must write the same streams, frames and timestamps.

mod common;
use common::*;

#[test]
fn h264_with_audio_to_mkv_and_mp4() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 4.0, 30, 0);
    let args = x264(src.as_str(), &["-crf", "30", "-c:a", "aac"]);
    assert!(planned_chunks(&e, &[&args[..], &["x.mkv"]].concat()) >= 3);
    for ext in ["mkv", "mp4"] {
        let (_, o) = e.both_same(&args, ext);
        assert_eq!(video_frames(&o), 120);
    }
}

#[test]
fn video_without_audio() {
    let e = Env::new();
    let src = e.x264_clip("in.mkv", 3.0, "testsrc2=size=256x144:rate=25", 25);
    for ext in ["mkv", "mp4"] {
        e.both_same(&x264(&src, &[]), ext);
    }
}

#[test]
fn long_gop_is_split_inside_the_gop() {
    let e = Env::new();
    // One keyframe every 300 frames: the 4 s clip has a single GOP.
    let src = e.av_clip("in.mp4", 4.0, 300, 2);
    let args = x264(src.as_str(), &["-c:a", "copy"]);
    assert!(
        planned_chunks(&e, &[&args[..], &["x.mkv"]].concat()) >= 3,
        "must split mid-GOP"
    );
    e.both_same(&args, "mkv");
}

#[test]
fn b_frame_source_to_mp4() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 4.0, 24, 3);
    e.both_same(
        &x264(&src, &["-bf", "2", "-c:a", "aac", "-b:a", "64k"]),
        "mp4",
    );
}

#[test]
fn lossless_ffv1_is_bit_exact() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 3.0, 30, 2);
    let (p, o) = e.both_same(&["-i", &src, "-c:v", "ffv1", "-c:a", "copy"], "mkv");
    let (a, b) = (framemd5(&p), framemd5(&o));
    assert_eq!(a.len(), 90);
    assert!(a == b, "decoded frames differ");
}

#[test]
fn one_and_two_frame_inputs() {
    let e = Env::new();
    for (frames, name) in [(1, "one.mp4"), (2, "two.mp4")] {
        let n = frames.to_string();
        let src = e.make(
            name,
            1.0,
            "testsrc2=size=160x120:rate=30",
            &with(&[&["-frames:v", &n], &X264]),
        );
        let (_, o) = e.both_same(&x264(&src, &[]), "mkv");
        assert_eq!(video_frames(&o), frames);
    }
}

#[test]
fn input_and_output_seek_and_duration() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 5.0, 30, 2);
    let cases = [
        with(&[&["-ss", "1.3", "-t", "2.5"], &x264(&src, &["-c:a", "aac"])]),
        with(&[
            &["-i", &src, "-ss", "0.7", "-to", "3.9"],
            &X264,
            &["-c:a", "aac"],
        ]),
        with(&[
            &["-ss", "0.5", "-i", &src, "-ss", "1", "-t", "2"],
            &X264,
            &["-an"],
        ]),
    ];
    for args in &cases {
        for ext in ["mkv", "mp4"] {
            e.both_same(args, ext);
        }
    }
}

#[test]
fn variable_frame_rate_source() {
    let e = Env::new();
    let src = common::media::vfr_mkv(&e);
    for ext in ["mkv", "mp4"] {
        e.both_same(&x264(&src, &[]), ext);
    }
}

#[test]
fn color_properties_the_chunk_files_do_not_carry_come_through() {
    let e = Env::new();
    let v = "testsrc2=size=160x120:rate=24";
    // only the range is tagged (no primaries, transfer or matrix)
    let x264 = e.make(
        "range.mkv",
        3.0,
        v,
        &with(&[&X264, &["-color_range", "tv"]]),
    );
    // a codec that stores none of it in its bitstream: the container's tags only
    let ffv1 = e.make(
        "ffv1.mkv",
        3.0,
        v,
        &[
            "-c:v",
            "ffv1",
            "-color_range",
            "pc",
            "-chroma_sample_location",
            "topleft",
            "-color_primaries",
            "bt709",
        ],
    );
    // NUT chunk files drop the source's color properties (the workers' decoders get them as
    // options); mp4 and mov chunks drop some of the encoder's (the final mux sets them again)
    let cases: [(&str, &[&str], &str); 7] = [
        (&x264, &X264, "mkv"),
        (&x264, &["-map_metadata", "-1", "-c:v", "ffv1"], "mkv"),
        (&x264, &X264, "mp4"),
        (&ffv1, &["-c:v", "ffv1"], "mkv"),
        (&ffv1, &["-vf", "format=gbrp", "-c:v", "ffv1"], "mkv"),
        (&ffv1, &X264, "mp4"),
        (&ffv1, &VP9_REALTIME, "webm"),
    ];
    for (src, opts, ext) in cases {
        let args: Vec<&str> = ["-i", src]
            .iter()
            .copied()
            .chain(opts.iter().copied())
            .collect();
        assert!(planned_chunks(&e, &[&args[..], &["x.mkv"]].concat()) >= 3);
        let (p, o) = e.both_same(&args, ext);
        if opts.contains(&"ffv1") {
            assert!(framemd5(&p) == framemd5(&o), "{args:?}");
        }
    }
}
