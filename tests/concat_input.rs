//! A concat demuxer list as the input (`-f concat -safe 0 -i list.txt`, the usual way to join
//! clips and encode them), proven against plain ffmpeg: the joined clips are split into
//! chunks across the clip boundaries and every output equals plain ffmpeg's (every ffprobe
//! field and packet timestamp, framemd5 of the lossless video and of the audio). Lists with
//! directives other than `file` pass through.

mod common;
use common::*;

/// Three 3 s clips (25 fps, keyframe every second, B-frames, a tone of its own each) and a
/// list joining them.
fn clips(e: &Env) {
    for i in 1..=3 {
        let tone = format!("sine=frequency={}:sample_rate=48000", 300 * i);
        e.ffmpeg(&with(&[
            &lavfi("testsrc2=size=320x240:rate=25"),
            &lavfi(&tone),
            &["-t", "3", "-shortest"],
            &X264,
            &["-g", "25", "-bf", "2", "-c:a", "aac"],
            &[&format!("c{i}.mp4")],
        ]));
    }
    std::fs::write(
        e.path("list.txt"),
        "ffconcat version 1.0\nfile 'c1.mp4'\nfile 'c2.mp4'\n# the last one\nfile c3.mp4\n",
    )
    .unwrap();
}

#[test]
fn joined_clips_match_plain_ffmpeg() {
    let e = Env::new();
    clips(&e);
    let input = ["-f", "concat", "-safe", "0", "-i", "list.txt"];
    for (ext, out, lossless) in [
        ("mkv", &["-c:v", "ffv1", "-c:a", "copy"][..], true),
        ("mov", &["-c:v", "ffv1", "-c:a", "aac"], true),
        (
            "mkv",
            &["-r", "10", "-c:v", "ffv1", "-c:a", "libopus"],
            true,
        ),
        (
            "mp4",
            &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
            false,
        ),
    ] {
        let args = with(&[&input, out]);
        let chunks = planned_chunks(&e, &with(&[&["-y"], &args, &[&e.p(&format!("dry.{ext}"))]]));
        assert!(chunks >= 4, "{out:?}: {chunks} chunks");
        let (p, o) = e.both(&args, ext);
        assert_same(&p, &o);
        if lossless {
            assert_eq!(framemd5_of(&p, "0"), framemd5_of(&o, "0"), "{out:?}");
        }
    }
}

#[test]
fn lists_with_other_directives_pass_through() {
    let e = Env::new();
    clips(&e);
    std::fs::write(
        e.path("cut.txt"),
        "file 'c1.mp4'\ninpoint 0.5\nfile 'c2.mp4'\n",
    )
    .unwrap();
    let first = dry(
        &e,
        &["-f", "concat", "-safe", "0", "-i", "cut.txt"],
        "o.mkv",
    );
    assert!(
        first.starts_with("passthrough: ") && first.contains("inpoint"),
        "{first}"
    );
}
