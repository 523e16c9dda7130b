//! Pre-roll: an x264 chunk's encoder also sees some frames before the chunk's first, so that
//! its rate control starts with history; the chunk's first frame is an IDR and the pre-roll
//! packets are dropped in the join. The output must still be exactly plain ffmpeg's: a
//! lossless encode across several chunk boundaries decodes bit for bit the same, with the same
//! pts, streams and durations, for cfr (mp4) and vfr (mkv) outputs and a VFR source.

mod common;
use common::media::vfr_clip;
use common::*;

/// Chunks of about 60 frames: each gets 3 frames of pre-roll.
const CHUNKS: [&str; 3] = [
    "-df_segment_frames=60",
    "-df_keyint_min=30",
    "-df_keyint_max=80",
];

/// The pre-roll of each chunk after the first, from the dry run of `args` + `out`.
fn prerolls(e: &Env, args: &[&str], out: &str) -> Vec<usize> {
    let mut a = CHUNKS.to_vec();
    a.push("-y");
    a.extend_from_slice(args);
    a.push(out);
    dry_stdout(e, &a)
        .lines()
        .filter(|l| l.starts_with("chunk "))
        .skip(1)
        .map(|l| {
            l.split(" after ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

fn lossless_same(e: &Env, src: &str, ext: &str, extra: &[&str]) {
    let args = with(&[&["-i", src], &LOSSLESS_X264, extra]);
    let pre = prerolls(e, &args, &format!("dry.{ext}"));
    assert!(
        pre.len() >= 3 && pre.iter().filter(|&&n| n > 0).count() >= 3,
        "{ext}: expected pre-rolled chunks, got {pre:?}"
    );
    let (p, o) = (
        e.path(&format!("plain.{ext}")),
        e.path(&format!("ours.{ext}")),
    );
    let (ps, os) = (p.to_string_lossy(), o.to_string_lossy());
    e.ffmpeg(&with(&[&["-y"], &args, &[&ps]]));
    assert_ok(&e.run_distr(&with(&[&CHUNKS, &["-y"], &args, &[&os]])));
    assert_eq!(framemd5(&p), framemd5(&o), "{ext}: frames differ");
    assert_same(&p, &o);
}

#[test]
fn lossless_x264_with_preroll_is_exact_in_mp4_and_mkv() {
    let e = Env::new();
    // mid-GOP cuts (a pre-roll that needs the GOP before is too dear): one keyframe in 250
    // frames, B-frames
    let src = e.av_clip("in.mp4", 12.0, 250, 3);
    lossless_same(&e, &src, "mp4", &["-c:a", "copy"]);
    lossless_same(&e, &src, "mkv", &["-an"]);
}

#[test]
fn lossless_x264_with_preroll_is_exact_on_a_vfr_source() {
    let e = Env::new();
    // frames dropped and moved off the grid, long GOPs
    let src = vfr_clip(&e, "vfr.mkv", 10.0, 250);
    lossless_same(&e, &src, "mkv", &[]);
    lossless_same(&e, &src, "mp4", &[]);
}

#[test]
fn no_preroll_where_the_join_cannot_drop_it() {
    let e = Env::new();
    let src = e.av_clip("in.mkv", 8.0, 90, 2);
    for extra in [
        // another encoder, an open GOP, a temporal filter, an output -ss
        &["-c:v", "libx265", "-preset", "ultrafast"][..],
        &["-c:v", "libx264", "-x264-params", "open-gop=1"],
        &["-c:v", "libx264", "-vf", "tmix=frames=3"],
        &["-c:v", "libx264", "-ss", "1"],
    ] {
        let args = with(&[&["-i", &src], extra]);
        let pre = prerolls(&e, &args, "dry.mkv");
        assert!(pre.len() >= 2, "{extra:?}: not split");
        assert!(pre.iter().all(|&n| n == 0), "{extra:?}: pre-roll {pre:?}");
    }
}
