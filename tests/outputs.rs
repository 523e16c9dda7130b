//! Several output files in one command (an ABR ladder, a master plus a preview), proven
//! against plain ffmpeg with the same argv: each chunk is uploaded once and encoded for every
//! output by one worker ffmpeg, and every output equals plain ffmpeg's — decoded frames
//! (framemd5 of the lossless ones), every ffprobe field and every packet's timestamps. What
//! several outputs cannot share passes through.

mod common;
use common::sshd::{wrapped, Cluster};
use common::*;

/// The outputs of `ladder`, each with its own options: lossless video with the audio copied,
/// a scaled and mirrored lossless copy at half the frame rate with the audio encoded, and a
/// lossy x264 rendition without audio. `dir` prefixes their names.
fn ladder(dir: &str) -> Vec<String> {
    let words = "-map 0 -c:v ffv1 -c:a copy {d}a.mkv \
                 -vf scale=160:120,hflip -r 15 -c:v ffv1 -c:a aac -b:a 64k {d}b.mov \
                 -c:v libx264 -preset ultrafast -crf 30 -an -movflags +faststart {d}c.mp4";
    words
        .replace("{d}", dir)
        .split(' ')
        .map(String::from)
        .collect()
}

#[test]
fn several_outputs_share_each_chunk_and_equal_plain_ffmpeg() {
    let e = Env::new();
    // 6 s at 30 fps with a keyframe every 24 frames and B-frames: several chunks
    e.av_clip("src.mp4", 6.0, 24, 2);
    let c = Cluster::start(&e, 2);
    let ff = [wrapped(&e, "ff0.sh", "true"), wrapped(&e, "ff1.sh", "true")];
    c.write_config(&e, "", &[&ff[0], &ff[1]]);
    std::fs::create_dir_all(e.path("plain")).unwrap();
    let mut plain = vec!["-i".to_string(), "src.mp4".into()];
    plain.extend(ladder("plain/"));
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    e.ffmpeg(&plain);
    let mut ours = vec!["-y".to_string(), "-i".into(), "src.mp4".into()];
    ours.extend(ladder(""));
    let o = e.distr_ok(&ours);
    let log = stderr(&o);
    let chunks = chunks_on(&log).expect("the plan line");
    assert!(chunks >= 3, "{log}");
    // ffmpeg's banner: every output file's mapping and block
    for line in [
        "Stream #0:0 -> #1:0",
        "Output #1, mov, to 'b.mov'",
        "Output #2, mp4",
    ] {
        assert!(log.contains(line), "no {line:?} in:\n{log}");
    }
    for (name, lossless) in [("a.mkv", true), ("b.mov", true), ("c.mp4", false)] {
        let (p, q) = (e.path(&format!("plain/{name}")), e.path(name));
        assert_same(&p, &q);
        if lossless {
            assert_eq!(framemd5(&p), framemd5(&q), "{name}: decoded frames differ");
        }
    }
    // one encode per chunk (retries aside, none here), each writing all three outputs from
    // the one upload
    let encodes = std::fs::read_to_string(e.path("encodes.log")).unwrap();
    let lines: Vec<&str> = encodes.lines().collect();
    assert_eq!(lines.len(), chunks, "{encodes}");
    for l in &lines {
        assert_eq!(l.matches(" -i ").count(), 1, "{l}");
        for ext in [".mov ", "-o1.mov ", "-o2.mp4"] {
            assert!(l.contains(ext), "{ext} not written by {l}");
        }
    }
    c.assert_clean();
}

#[test]
fn what_several_outputs_cannot_share_passes_through() {
    let e = Env::new();
    e.av_clip("src.mp4", 3.0, 24, 0);
    e.x264_clip("other.mp4", 3.0, "testsrc=size=160x120:rate=30", 24);
    let first = |args: &[&str]| {
        let mut a = vec!["-y", "-i", "src.mp4"];
        a.extend_from_slice(args);
        dry_stdout(&e, &a).lines().next().unwrap_or("").to_string()
    };
    for (args, why) in [
        (
            &[
                "-filter_complex",
                "[0:v]split[x][y]",
                "-map",
                "[x]",
                "a.mp4",
                "-map",
                "[y]",
                "b.mp4",
            ][..],
            "several output files with a -filter_complex",
        ),
        (
            &["-pass", "1", "a.mp4", "b.mp4"],
            "two-pass encoding in output #0",
        ),
        (&["a.mp4", "a.mp4"], "named twice"),
        // an output that encodes no video runs as plain ffmpeg, and so does the command
        (
            &["a.mp4", "-vn", "b.m4a"],
            "output #1: no video stream is encoded",
        ),
        (
            &["a.mp4", "-frames:v", "10", "-c:v", "libx264", "b.mp4"],
            "output #1 of several",
        ),
    ] {
        let line = first(args);
        assert!(
            line.starts_with("passthrough: ") && line.contains(why),
            "{args:?}: {line}"
        );
    }
    let mut a = vec!["-y", "-i", "src.mp4", "-i", "other.mp4", "a.mp4"];
    a.extend(["-map", "1:v", "b.mp4"]);
    let line = dry_stdout(&e, &a).lines().next().unwrap_or("").to_string();
    assert!(line.contains("encodes another video stream"), "{line}");
    // a plain ladder distributes, and its dry run shows one REMOTE per chunk for both
    let out = dry_stdout(
        &e,
        &["-y", "-i", "src.mp4", "a.mp4", "-s", "160x120", "b.mkv"],
    );
    assert!(out.starts_with("plan: "), "{out}");
    let remote: Vec<&str> = out.lines().filter(|l| l.contains("REMOTE")).collect();
    assert!(
        remote.len() >= 2 && remote.iter().all(|l| l.contains("-o1.mp4")),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("FINAL")).count(),
        2,
        "{out}"
    );
}
