//! The split checks itself without ffprobe: the first packet it lists on stdout (framecrc) is
//! the NUT file's first packet. Proven here on real splits (the argv of `commands::split`,
//! pinned by its snapshot) at every keyframe of sources with B-pyramids, open GOPs, VFR and
//! 1/1000, 1/15360 and 1/90000 time bases, at two offsets, 1 to 20 packets long.
//!
//! What the listing does not give is the file's start time, which a worker's trim needs where
//! frames precede a chunk's first: libavformat reports none for a 4-packet h264 split (it has
//! not guessed the decode delay yet) nor for mpeg2video at any length, so it is still read by
//! ffprobe, for those chunks only.

mod common;
use common::*;
use distrffmpeg::commands::us_for_ticks;
use distrffmpeg::rational::{rescale_q, Rational, MICROS};
use distrffmpeg::split::listing::Listed;
use std::path::Path;

fn rational(v: &serde_json::Value) -> Rational {
    Rational::parse(v.as_str().expect("time base")).expect("rational")
}

fn format_us(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "" };
    format!("{sign}{}.{:06}", us.abs() / 1_000_000, us.abs() % 1_000_000)
}

/// Splits `src` at each keyframe as SPLIT does and compares its listing with the file's first
/// packet (ffprobe). Returns how many splits it checked.
fn check_source(e: &Env, src: &str) -> usize {
    let v = probe(
        Path::new(src),
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=time_base:packet=pts,flags",
        ],
    );
    let tb = rational(&v["streams"][0]["time_base"]);
    let keys: Vec<i64> = (v["packets"].as_array().expect("packets").iter())
        .filter(|p| p["flags"].as_str().is_some_and(|f| f.starts_with('K')))
        .filter_map(|p| p["pts"].as_i64())
        .collect();
    assert!(keys.len() >= 3, "{src}: {} keyframes", keys.len());
    let out = e.p("split.nut");
    let mut n = 0;
    let runs = [
        (100_000_000_000, "20"),
        (99_999_876_543, "4"),
        (100_000_000_000, "1"),
    ];
    for (offset_us, frames) in runs {
        for &key in &keys {
            let shifted = key + rescale_q(offset_us, MICROS, tb);
            let ss = format_us(us_for_ticks(shifted, tb) - offset_us);
            let off = format_us(offset_us);
            // SPLIT's argv (paths without spaces: the test's temp dir)
            let args = format!(
                "-nostdin -hide_banner -v error -y -copyts -seek_timestamp 1 -ss {ss} \
                 -itsoffset {off} -i {src} -map 0:v:0 -c copy -copypriorss 0 -frames:v {frames} \
                 -avoid_negative_ts disabled -f nut {out} -map 0:v:0 -c copy -copypriorss 0 \
                 -frames:v 1 -avoid_negative_ts disabled -f framecrc pipe:1"
            );
            let o = std::process::Command::new("ffmpeg")
                .args(args.split(' '))
                .output()
                .unwrap();
            assert!(o.status.success(), "{src}: {}", stderr(&o));
            let listed = Listed::parse(&String::from_utf8_lossy(&o.stdout)).expect("listing");
            assert_eq!(
                listed.tb, tb,
                "{src}: the listing keeps the source's time base"
            );
            assert_eq!(
                listed.pts,
                Some(shifted),
                "{src}: the split starts on the keyframe"
            );
            let p = probe(
                Path::new(&out),
                &[
                    "-show_entries",
                    "format=start_time:stream=time_base:packet=pts",
                ],
            );
            let nut_tb = rational(&p["streams"][0]["time_base"]);
            let first = p["packets"][0]["pts"].as_i64();
            assert_eq!(
                first,
                Some(rescale_q(shifted, tb, nut_tb)),
                "{src}: the file's first packet is the listed one"
            );
            n += 1;
        }
    }
    n
}

#[test]
fn a_splits_listing_is_its_files_first_packet() {
    let e = Env::new();
    let x264 = |extra: &'static [&'static str]| -> Vec<&'static str> {
        with(&[
            &["-c:v", "libx264", "-preset", "ultrafast", "-g", "24"],
            extra,
        ])
    };
    let sources = [
        (
            "pyramid.mp4",
            "testsrc2=size=160x120:rate=24",
            x264(&["-preset", "fast", "-bf", "3"]),
        ),
        (
            "open.mkv",
            "testsrc2=size=160x120:rate=25",
            x264(&["-bf", "2", "-x264-params", "open-gop=1"]),
        ),
        (
            "src.ts",
            "testsrc2=size=160x120:rate=30",
            x264(&["-bf", "2"]),
        ),
        (
            "hevc.mp4",
            "testsrc2=size=160x120:rate=24",
            vec![
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "keyint=24:open-gop=1:bframes=3:log-level=error",
            ],
        ),
        (
            "vp9.webm",
            "testsrc2=size=160x120:rate=24",
            vec![
                "-c:v",
                "libvpx-vp9",
                "-g",
                "24",
                "-deadline",
                "realtime",
                "-b:v",
                "200k",
            ],
        ),
        (
            "av1.mkv",
            "testsrc2=size=160x120:rate=24",
            vec!["-c:v", "libsvtav1", "-preset", "12", "-g", "24"],
        ),
    ];
    let mut n = 0;
    for (name, video, args) in &sources {
        let src = e.make(name, 3.0, video, args);
        n += check_source(&e, &src);
    }
    let vfr = media::vfr_clip(&e, "vfr.mkv", 3.0, 20);
    n += check_source(&e, &vfr);
    let mpeg2 = e.make(
        "mpeg2.ts",
        3.0,
        "testsrc2=size=160x120:rate=25",
        &["-c:v", "mpeg2video", "-g", "25", "-bf", "2"],
    );
    n += check_source(&e, &mpeg2);
    assert!(n >= 80, "{n} splits checked");
}
