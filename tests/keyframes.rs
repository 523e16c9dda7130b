//! `-force_key_frames` distributes: the planner finds the frames plain ffmpeg's encoder is told
//! to make keyframes (a list of times, or `expr:gte(t,START+n_forced*EVERY)`, the form
//! Jellyfin and streaming guides write) and tells each chunk's worker the same frames. Every
//! keyframe of plain ffmpeg's output is a keyframe of ours (ours adds one at each chunk
//! start), and the files are otherwise equal. Before, the option passed through.

mod common;
use common::*;

/// The pts of the keyframes of the first video stream.
fn keyframes(path: &std::path::Path) -> Vec<i64> {
    let v = probe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts,flags",
        ],
    );
    let mut k: Vec<i64> = v["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .filter(|p| p["flags"].as_str().is_some_and(|f| f.starts_with('K')))
        .filter_map(|p| p["pts"].as_i64())
        .collect();
    k.sort_unstable();
    k
}

#[test]
fn forced_keyframes_match_plain_ffmpeg() {
    let e = Env::new();
    let src = e.av_clip("in.mkv", 6.0, 30, 2);
    for fk in [
        "expr:gte(t,n_forced*2)",
        "expr:gte(t,0.5+n_forced*1.5)",
        "0.5,1,1.04,3.3,4",
    ] {
        for ext in ["mkv", "mp4"] {
            let args = x264(
                &src,
                &[
                    "-sc_threshold",
                    "0",
                    "-g",
                    "1000",
                    "-force_key_frames",
                    fk,
                    "-c:a",
                    "aac",
                ],
            );
            let mut dry = args.to_vec();
            dry.push("dry.mkv");
            assert!(planned_chunks(&e, &dry) >= 3, "{fk}: not split");
            let (p, o) = e.both_same(&args, ext);
            let (kp, ko) = (keyframes(&p), keyframes(&o));
            assert!(kp.len() >= 3, "{fk} {ext}: plain ffmpeg forced {kp:?}");
            let missing: Vec<&i64> = kp.iter().filter(|k| !ko.contains(k)).collect();
            assert!(
                missing.is_empty(),
                "{fk} {ext}: keyframes {missing:?} of plain ffmpeg's {kp:?} are not ours {ko:?}"
            );
        }
    }
}

#[test]
fn other_forms_pass_through() {
    let e = Env::new();
    let src = e.av_clip("in.mkv", 2.0, 30, 0);
    for fk in [
        "chapters",
        "source",
        "expr:gte(t,prev_forced_t+2)",
        "expr:eq(n,5)",
    ] {
        let out = e.run_distr(&[
            "-df_dry_run",
            "-i",
            &src,
            "-c:v",
            "libx264",
            "-force_key_frames",
            fk,
            "o.mkv",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("passthrough: -force_key_frames"),
            "{fk}: {text}"
        );
    }
}
