//! `-frames:v N` (`-vframes N`, `-frames N` when only the video is written) on the output: the
//! planner stops the frame list where plain ffmpeg's encoder reaches N, in one chunk or across
//! several, after input or output `-ss`; the result equals plain ffmpeg's. Streams mapped
//! before the video are written whole. When N stops the video while streams mapped after it
//! are written, ffmpeg closes them at a point its video decoder's delay decides (its thread
//! count): that passes through.

mod common;
use common::*;

/// Each argv both ways: distributed in at least `min_chunks` chunks, the same as plain ffmpeg
/// with `frames` video frames.
fn cases(e: &Env, list: &[(&str, usize, usize, Vec<&str>)]) {
    for (ext, min_chunks, frames, args) in list {
        let out = e.p(&format!("dry.{ext}"));
        let chunks = planned_chunks(e, &with(&[&["-y"], args, &[&out]]));
        assert!(chunks >= *min_chunks, "{args:?}: {chunks} chunks");
        let (p, _) = e.both_same(args, ext);
        assert_eq!(video_frames(&p), *frames, "{args:?}");
        eprintln!("case ok: {args:?} -> {ext}");
    }
}

#[test]
fn the_frame_cap_is_cut_exactly() {
    let e = Env::new();
    // 320x240 30 fps, GOP 30 with B-frames, aac; 4 s (120 frames)
    let src = e.av_clip("clip.mp4", 4.0, 30, 2);
    let i: &[&str] = &["-i", &src];
    cases(
        &e,
        &[
            // across several chunks
            ("mkv", 2, 50, with(&[i, &["-an", "-frames:v", "50"], &X264])),
            (
                "mp4",
                2,
                75,
                with(&[i, &["-map", "0:v", "-frames:v", "75"], &X264]),
            ),
            // smaller than one chunk
            (
                "mp4",
                1,
                10,
                with(&[i, &["-map", "0:v", "-vframes", "10"], &X264]),
            ),
            // without a specifier: the video is the only stream written
            ("mkv", 2, 45, with(&[i, &["-an", "-frames", "45"], &X264])),
            // after an input -ss (between frames) and an output -ss
            (
                "mp4",
                2,
                40,
                with(&[&["-ss", "1.31"], i, &["-an", "-frames:v", "40"], &X264]),
            ),
            (
                "mkv",
                2,
                60,
                with(&[i, &["-an", "-ss", "0.5", "-frames:v", "60"], &X264]),
            ),
            // more than the video has: no stream is cut, the audio stays
            (
                "mkv",
                2,
                120,
                with(&[i, &["-frames:v", "500", "-c:a", "copy"], &X264]),
            ),
            (
                "mp4",
                2,
                120,
                with(&[i, &["-frames:v", "121", "-c:a", "aac"], &X264]),
            ),
            // streams mapped before the video are not cut
            (
                "mkv",
                2,
                50,
                with(&[
                    i,
                    &[
                        "-map",
                        "0:a",
                        "-map",
                        "0:v",
                        "-frames:v",
                        "50",
                        "-c:a",
                        "copy",
                    ],
                    &X264,
                ]),
            ),
            (
                "mp4",
                1,
                10,
                with(&[
                    i,
                    &[
                        "-map", "0:a", "-map", "0:v", "-vframes", "10", "-c:a", "aac",
                    ],
                    &X264,
                ]),
            ),
            // a filter graph's output
            (
                "mkv",
                2,
                60,
                with(&[
                    i,
                    &[
                        "-filter_complex",
                        "[0]scale=160:-2[s0]",
                        "-map",
                        "[s0]",
                        "-frames:v",
                        "60",
                    ],
                    &X264,
                ]),
            ),
        ],
    );
    // lossless: the same frames
    let args = with(&[i, &["-an", "-frames:v", "37", "-c:v", "ffv1"]]);
    cases(&e, &[("mkv", 2, 37, args.clone())]);
    let (p, o) = e.both(&args, "mkv");
    assert_eq!(framemd5(&p), framemd5(&o));
}

#[test]
fn a_cap_that_stops_other_streams_passes_through() {
    let e = Env::new();
    let src = e.av_clip("clip.mp4", 4.0, 30, 2);
    // Why: plain ffmpeg stops the audio mapped after the video where the video decoder's delay
    // puts the cap.
    let audio_packets = |threads: &str| {
        let out = e.p(&format!("t{threads}.mkv"));
        e.ffmpeg(&[
            "-threads",
            threads,
            "-i",
            &src,
            "-frames:v",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "copy",
            &out,
        ]);
        packets(std::path::Path::new(&out), "a").len()
    };
    assert_ne!(audio_packets("1"), audio_packets("8"));
    let out = e.p("o.mkv");
    for (args, why) in [
        (
            vec!["-i", &src, "-frames:v", "50", "-c:a", "copy"],
            "stops the video before its end",
        ),
        (
            vec!["-i", &src, "-frames:v", "120", "-c:a", "copy"],
            "stops the video before its end",
        ),
        (
            vec![
                "-i",
                &src,
                "-map",
                "0:a",
                "-map",
                "0:v",
                "-map",
                "0:a",
                "-frames:v",
                "9",
            ],
            "stops the video before its end",
        ),
        (
            vec!["-i", &src, "-frames", "50"],
            "also limits output stream 1",
        ),
        (
            vec!["-i", &src, "-frames:v", "50", "-aframes", "20"],
            "also limits output stream 1",
        ),
        (vec!["-i", &src, "-an", "-frames:v", "1e2"], "-frames:v 1e2"),
    ] {
        let first = dry(&e, &args, &out);
        assert!(
            first.starts_with("passthrough:") && first.contains(why),
            "{args:?}: expected a pass through naming {why:?}, got {first:?}"
        );
    }
}
