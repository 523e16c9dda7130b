//! `-copyts` and `-start_at_zero` (Jellyfin's transcodes pass them), proven against plain
//! ffmpeg: where nothing would have moved the timestamps (no `-ss`, inputs starting at zero or
//! `-start_at_zero`) the output equals plain ffmpeg's on every ffprobe field and packet
//! timestamp, the lossless ones frame by frame; fftools' switch from cfr to vscfr under
//! `-copyts` included. Where copyts keeps a seek or a late start, it passes through.

mod common;
use common::*;

/// `av.mp4`: 4 s at 30 fps, B-frames, stereo aac (starts at zero); `av.ts`: the same in
/// MPEG-TS (starts at 1.4 s).
fn media(e: &Env) {
    e.av_clip("av.mp4", 4.0, 24, 2);
    e.ffmpeg(&["-i", "av.mp4", "-c", "copy", "av.ts"]);
}

#[test]
fn copied_timestamps_match_plain_ffmpeg_where_nothing_moves_them() {
    let e = Env::new();
    media(&e);
    let x264_bframes = ["-c:v", "libx264", "-preset", "veryfast"];
    for (ext, args, lossless) in [
        (
            "mkv",
            with(&[&["-copyts", "-i", "av.mp4", "-c:v", "ffv1", "-c:a", "copy"]]),
            true,
        ),
        // Jellyfin's form: into MPEG-TS, negative timestamps kept
        (
            "ts",
            with(&[
                &["-copyts", "-i", "av.mp4"],
                &x264_bframes,
                &["-c:a", "copy", "-avoid_negative_ts", "disabled"],
            ]),
            false,
        ),
        // cfr into mp4: vscfr under -copyts
        (
            "mp4",
            with(&[
                &["-copyts", "-i", "av.mp4", "-r", "10"],
                &x264_bframes,
                &["-c:a", "aac"],
            ]),
            false,
        ),
        (
            "mkv",
            with(&[
                &["-copyts", "-start_at_zero", "-i", "av.ts", "-to", "3"],
                &["-c:v", "ffv1", "-c:a", "aac"],
            ]),
            true,
        ),
    ] {
        let dry_out = e.p(&format!("dry.{ext}"));
        let chunks = planned_chunks(&e, &with(&[&["-y"], &args, &[&dry_out]]));
        assert!(chunks >= 2, "{args:?}: {chunks} chunks");
        let (p, o) = e.both(&args, ext);
        assert_same(&p, &o);
        if lossless {
            assert_eq!(framemd5_of(&p, "0"), framemd5_of(&o, "0"), "{args:?}");
        }
    }
}

#[test]
fn copied_timestamps_that_keep_a_seek_or_a_late_start_pass_through() {
    let e = Env::new();
    media(&e);
    for (args, why) in [
        (&["-copyts", "-i", "av.ts"][..], "does not start at zero"),
        (&["-copyts", "-ss", "1", "-i", "av.mp4"], "input -ss"),
        (&["-copyts", "-i", "av.mp4", "-ss", "1"], "output -ss"),
        (
            &["-copyts", "-start_at_zero", "-ss", "1", "-i", "av.ts"],
            "input -ss",
        ),
    ] {
        let first = dry(&e, args, "o.mkv");
        assert!(
            first.starts_with("passthrough: ") && first.contains(why),
            "{args:?}: {first}"
        );
    }
}
