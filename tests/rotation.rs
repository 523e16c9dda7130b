//! Rotated video (a display matrix on the source stream) against plain ffmpeg 5.1, split into
//! several chunks on the local slots: with autorotate (the default) plain ffmpeg inserts
//! transpose/hflip/vflip before the user's filters and writes no matrix; with `-noautorotate`
//! (or `-autorotate 0`) it keeps the matrix. Every ffprobe stream field (side_data_list with the
//! full matrix, size, SAR/DAR included; only the bit rate of a chunked x264 encode differs),
//! every packet's pts and duration, and for lossless encodes every decoded frame must be equal.
//! What cannot be reproduced (odd angles, a kept flip) must pass through.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

/// 3 s 320x240 30 fps with a 4:3 pixel aspect ratio (so SAR/DAR swap visibly) and stereo AAC,
/// keyframes every 24 frames.
fn base(e: &Env) -> String {
    e.make(
        "base.mp4",
        3.0,
        "testsrc2=size=320x240:rate=30,setsar=4/3",
        &with(&[
            &lavfi("sine=frequency=440:sample_rate=48000"),
            &["-ac", "2"],
            &X264,
            &["-g", "24", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        ]),
    )
}

/// A stream copy of `src` whose video carries `-metadata:s:v rotate=deg` as a display matrix.
fn rotated(e: &Env, src: &str, deg: i32) -> String {
    let out = e.p(&format!("rot{deg}.mp4"));
    let meta = format!("rotate={deg}");
    e.ffmpeg(&["-i", src, "-c", "copy", "-metadata:s:v", &meta, &out]);
    out
}

/// A copy of `src` with the video track's tkhd matrix replaced by `m` (flips, odd angles: the
/// `rotate` metadata of ffmpeg 5.1 only makes rotations).
fn with_matrix(e: &Env, src: &str, name: &str, m: [i32; 9]) -> String {
    let mut b = std::fs::read(src).unwrap();
    let at = b.windows(4).position(|w| w == b"tkhd").expect("tkhd box");
    let (box_start, version) = (at - 4, b[at + 4]);
    let off = box_start + if version == 0 { 48 } else { 60 };
    for (i, v) in m.iter().enumerate() {
        b[off + 4 * i..off + 4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    let out = e.p(name);
    std::fs::write(&out, b).unwrap();
    out
}

/// Every ffprobe stream field; the bit rate of a chunked lossy encode is the one that differs.
fn streams(path: &Path) -> Value {
    let mut v = probe(path, &["-show_streams"]);
    for s in v["streams"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("bit_rate");
    }
    v
}

fn matrix_of(path: &Path) -> Value {
    streams(path)["streams"][0]["side_data_list"].clone()
}

/// Runs `args` both ways, asserts the run was split into several chunks and wrote what plain
/// ffmpeg wrote (decoded frames too when `lossless`); returns the two outputs.
fn same(e: &Env, args: &[&str], ext: &str, lossless: bool) -> (std::path::PathBuf, String) {
    let (p, o, log) = e.both_log(args, ext);
    let chunks = chunks_on(&log);
    assert!(chunks.is_some_and(|n| n >= 2), "{args:?} not split:\n{log}");
    assert_same(&p, &o);
    assert_eq!(streams(&p), streams(&o), "{args:?} -> {ext}: stream fields");
    if lossless {
        assert_eq!(framemd5(&p), framemd5(&o), "{args:?} -> {ext}: frames");
    }
    eprintln!("case ok: {args:?} -> {ext}");
    (p, log)
}

fn passes_through(e: &Env, args: &[&str], ext: &str, why: &str) {
    let (p, o, log) = e.both_log(args, ext);
    assert!(
        log.contains("passing the command to ffmpeg unchanged") && log.contains(why),
        "{args:?}: expected a pass through ({why}):\n{log}"
    );
    assert_same(&p, &o);
}

#[test]
fn autorotate_rotations_match_plain_ffmpeg() {
    let e = Env::new();
    let src = base(&e);
    for deg in [90, 180, 270] {
        let r = rotated(&e, &src, deg);
        let i = ["-i", r.as_str()];
        let (p, _) = same(&e, &with(&[&i, &X264]), "mp4", false);
        assert_eq!(matrix_of(&p), Value::Null, "autorotate writes no matrix");
        let scaled = ["-vf", "scale=160:-2"];
        same(&e, &with(&[&i, &scaled, &X264]), "mkv", false);
        same(&e, &with(&[&i, &LOSSLESS_X264]), "mp4", true);
        same(&e, &with(&[&i, &scaled, &["-c:v", "ffv1"]]), "mkv", true);
        let (p, _) = same(&e, &with(&[&i, &["-c:v", "ffv1"]]), "mkv", true);
        let v = &streams(&p)["streams"][0];
        let want = if deg == 180 { (320, 240) } else { (240, 320) };
        assert_eq!(
            (v["width"].as_i64(), v["height"].as_i64()),
            (Some(want.0), Some(want.1))
        );
    }
}

#[test]
fn autorotate_flips_match_plain_ffmpeg() {
    let e = Env::new();
    let src = base(&e);
    const U: i32 = 65536;
    const W: i32 = 1 << 30;
    let cases = [
        ("hflip.mp4", [-U, 0, 0, 0, U, 0, 0, 0, W]),
        ("vflip.mp4", [U, 0, 0, 0, -U, 0, 0, 0, W]),
        ("transpose_cclock_flip.mp4", [0, U, 0, U, 0, 0, 0, 0, W]),
        ("transpose_clock_flip.mp4", [0, -U, 0, -U, 0, 0, 0, 0, W]),
        // a phone's matrix: a rotation with a translation
        ("translated.mp4", [0, U, 0, -U, 0, 0, 240 * U, 0, W]),
    ];
    for (name, m) in cases {
        let f = with_matrix(&e, &src, name, m);
        let i = ["-i", f.as_str()];
        same(&e, &with(&[&i, &["-c:v", "ffv1"]]), "mkv", true);
        same(&e, &with(&[&i, &LOSSLESS_X264]), "mp4", true);
    }
}

#[test]
fn without_autorotate_the_matrix_is_kept_like_plain_ffmpeg() {
    let e = Env::new();
    let src = base(&e);
    for (deg, off) in [
        (90, "-noautorotate"),
        (180, "-noautorotate"),
        (270, "-autorotate"),
    ] {
        let r = rotated(&e, &src, deg);
        let input: Vec<&str> = if off == "-autorotate" {
            vec![off, "0", "-i", r.as_str()]
        } else {
            vec![off, "-i", r.as_str()]
        };
        let (p, _) = same(&e, &with(&[&input, &X264]), "mp4", false);
        assert_eq!(
            matrix_of(&p),
            matrix_of(Path::new(&r)),
            "the source's matrix"
        );
        assert_ne!(matrix_of(&p), Value::Null);
        same(
            &e,
            &with(&[&input, &["-vf", "scale=160:-2"], &X264]),
            "mkv",
            false,
        );
        same(&e, &with(&[&input, &LOSSLESS_X264]), "mp4", true);
    }
}

#[test]
fn what_cannot_be_reproduced_passes_through() {
    let e = Env::new();
    let src = base(&e);
    const W: i32 = 1 << 30;
    let odd = with_matrix(
        &e,
        &src,
        "r45.mp4",
        [46340, -46340, 0, 46340, 46340, 0, 0, 0, W],
    );
    let i = ["-i", odd.as_str()];
    passes_through(&e, &with(&[&i, &X264]), "mp4", "not a multiple of 90");
    let flip = with_matrix(&e, &src, "hflip.mp4", [-65536, 0, 0, 0, 65536, 0, 0, 0, W]);
    let i = ["-noautorotate", "-i", flip.as_str()];
    passes_through(&e, &with(&[&i, &X264]), "mp4", "kept by -noautorotate");
    // a display orientation SEI in the first frame as well as the stream's matrix: plain
    // ffmpeg's autorotate prefers the frame's; without autorotate both ignore it
    let sei = e.p("sei.mp4");
    let bsf = "h264_metadata=display_orientation=insert:rotate=90";
    e.ffmpeg(&["-i", &src, "-c", "copy", "-bsf:v", bsf, &sei]);
    let sei = rotated(&e, &sei, 270);
    let i = ["-i", sei.as_str()];
    passes_through(&e, &with(&[&i, &X264]), "mp4", "display orientation SEI");
    let i = ["-noautorotate", "-i", sei.as_str()];
    same(&e, &with(&[&i, &LOSSLESS_X264]), "mp4", true);
    // VFR into cfr mp4 without a -vf: plain ffmpeg's frame-rate logic reads packet durations,
    // the workers' (with the rotation as -vf) cannot
    let vfr = e.make(
        "vfr.mp4",
        3.0,
        "testsrc2=size=320x240:rate=30,select='not(eq(mod(n,7),3))'",
        &with(&[&["-fps_mode", "vfr"], &X264, &["-g", "24"]]),
    );
    let r = rotated(&e, &vfr, 90);
    let i = ["-i", r.as_str()];
    passes_through(
        &e,
        &with(&[&i, &LOSSLESS_X264]),
        "mp4",
        "autorotate filters",
    );
    // with the user's own -vf both sides ignore packet durations: it distributes
    same(
        &e,
        &with(&[&i, &["-vf", "scale=160:-2"], &LOSSLESS_X264]),
        "mp4",
        true,
    );
}

#[test]
fn workers_get_the_filters_and_no_autorotate() {
    let e = Env::new();
    let src = base(&e);
    let r = rotated(&e, &src, 90);
    let out = e.p("o.mp4");
    let o = e.run_distr(&[
        "-df_dry_run",
        "-i",
        &r,
        "-vf",
        "scale=160:-2",
        "-c:v",
        "libx264",
        &out,
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let remote: Vec<&str> = text.lines().filter(|l| l.contains("REMOTE")).collect();
    assert!(remote.len() >= 2, "{text}");
    for l in remote {
        assert!(l.contains("-autorotate 0"), "{l}");
        assert!(l.contains("-vf 'transpose=cclock,scale=160:-2'"), "{l}");
    }
    // the chunk files carry no matrix: the workers' decoders would not rotate by themselves
    let nut = e.p("c.nut");
    e.ffmpeg(&["-i", &r, "-map", "0:v", "-c", "copy", "-f", "nut", &nut]);
    assert_eq!(matrix_of(Path::new(&nut)), Value::Null);
}

#[test]
fn rotated_video_over_ssh_workers() {
    let e = Env::new();
    let _c = common::sshd::Cluster::configured(&e, 2);
    let src = base(&e);
    let r = rotated(&e, &src, 90);
    let flip = with_matrix(
        &e,
        &src,
        "vflip.mp4",
        [65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30],
    );
    let (_, log) = same(
        &e,
        &["-i", &r, "-vf", "scale=160:-2", "-c:v", "ffv1"],
        "mkv",
        true,
    );
    assert!(
        !log.contains("skipping worker") && !log.contains("failed on"),
        "{log}"
    );
    same(&e, &["-i", &flip, "-c:v", "ffv1"], "mkv", true);
    same(
        &e,
        &with(&[&["-noautorotate", "-i", &r], &X264]),
        "mp4",
        false,
    );
}
