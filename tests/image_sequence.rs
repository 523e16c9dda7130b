//! Image sequences as the video input (`-framerate 24 -i img/%03d.png`, `-pattern_type glob`,
//! `-start_number`, an input `-r` up to 25) distribute: the split copies the images into NUT chunk files and the
//! workers decode them. Compared with plain ffmpeg on every ffprobe field, every packet and
//! the decoded frames (lossless encodes). Before, they passed through (and an earlier version
//! failed with "No such file or directory" on the pattern).

mod common;
use common::*;

#[test]
fn image_sequences_match_plain_ffmpeg() {
    let e = Env::new();
    common::media::png_sequence(&e, 100);
    let x = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"];
    let with = |head: &[&'static str], tail: &[&'static str]| -> Vec<&'static str> {
        head.iter().chain(&x).chain(tail).copied().collect()
    };
    for (args, ext) in [
        (
            with(&["-framerate", "24", "-i", "img/%03d.png"], &[]),
            "mkv",
        ),
        (
            with(
                &["-framerate", "24", "-i", "img/%03d.png"],
                &["-pix_fmt", "yuv420p"],
            ),
            "mp4",
        ),
        (
            with(
                &[
                    "-framerate",
                    "30",
                    "-pattern_type",
                    "glob",
                    "-i",
                    "img/*.png",
                ],
                &["-pix_fmt", "yuv420p"],
            ),
            "mp4",
        ),
        // input -r up to the demuxer's 25 fps: the frames as at -framerate
        (with(&["-r", "24", "-i", "img/%03d.png"], &[]), "mkv"),
        (
            with(
                &[
                    "-r",
                    "24000/1001",
                    "-start_number",
                    "10",
                    "-i",
                    "img/%03d.png",
                ],
                &["-pix_fmt", "yuv420p"],
            ),
            "mp4",
        ),
        (
            vec![
                "-framerate",
                "25",
                "-start_number",
                "10",
                "-i",
                "img/%03d.png",
                "-vf",
                "scale=80:-2",
                "-c:v",
                "ffv1",
            ],
            "mkv",
        ),
    ] {
        let mut dry = args.clone();
        dry.push("dry.mkv");
        let chunks = planned_chunks(&e, &dry);
        assert!(chunks >= 3, "{args:?}: {chunks} chunk(s)");
        let (p, o) = e.both_same(&args, ext);
        assert_eq!(
            framemd5(&p),
            framemd5(&o),
            "{args:?}: decoded frames differ"
        );
    }
}

#[test]
fn input_rate_above_the_demuxers_passes_through() {
    // plain ffmpeg repeats the last frame at -r 50 into mp4 (it keeps the demuxer's 1/25 s),
    // which -framerate 50 does not: not distributed, and the output is still plain ffmpeg's
    let e = Env::new();
    common::media::png_sequence(&e, 60);
    let args = [
        "-r",
        "50",
        "-i",
        "img/%03d.png",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "0",
    ];
    let first = dry(&e, &args, "dry.mp4");
    assert!(first.contains("input option -r"), "{first}");
    let (p, o) = e.both_same(&args, "mp4");
    assert_eq!(framemd5(&p), framemd5(&o));
}
