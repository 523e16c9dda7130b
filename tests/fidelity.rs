//! Fidelity: the command lines users really type, run through 2 loopback SSH workers and
//! through plain ffmpeg; layouts (streams, codecs, languages, dispositions, tags, chapters,
//! global title) and every stream's timestamps must be the same, lossless cases bit-exact.

mod common;
use common::media;
use common::sshd::Cluster;
use common::*;

/// Runs each argv (output name appended) both ways and compares.
fn cases(e: &Env, list: &[(&str, Vec<&str>)]) {
    for (ext, args) in list {
        let (p, o, log) = e.both_log(args, ext);
        assert_same(&p, &o);
        assert_split(&log, args);
        eprintln!("case ok: {args:?} -> {ext}");
    }
}

/// The run was distributed: several chunks on the SSH workers' slots, none failed or skipped.
fn assert_split(log: &str, args: &[&str]) {
    let words: Vec<&str> = log.split_whitespace().collect();
    let chunks = words
        .windows(4)
        .find(|w| w[1] == "chunks" && w[2] == "on")
        .and_then(|w| Some((w[0].parse::<usize>().ok()?, w[3].parse::<usize>().ok()?)));
    assert!(
        chunks.is_some_and(|(n, slots)| n >= 2 && slots >= 2),
        "{args:?} was not split over the workers:\n{log}"
    );
    for bad in ["skipping worker", "failed on", "dropped for the rest"] {
        assert!(!log.contains(bad), "{args:?}: {bad}:\n{log}");
    }
}

#[test]
fn stream_selection_and_metadata() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let src = media::rich_mkv(&e);
    let i = ["-i", src.as_str()];
    let x = &X264;
    cases(
        &e,
        &[
            // default mapping: best video, the 5.1 track, the text subtitle (ass in mkv)
            ("mkv", with(&[&i, x])),
            // everything, attachment included
            (
                "mkv",
                with(&[&i, &["-map", "0", "-c:a", "copy", "-c:s", "copy"], x]),
            ),
            ("mkv", with(&[&i, &["-map", "0:v", "-map", "0:a:1"], x])),
            (
                "mkv",
                with(&[&i, &["-map", "0", "-map", "-0:s", "-c:a", "aac"], x]),
            ),
            ("mkv", with(&[&i, &["-an"], x])),
            ("mkv", with(&[&i, &["-sn", "-c:a", "libopus"], x])),
            // subtitles converted to mov_text in mp4
            (
                "mp4",
                with(&[
                    &i,
                    &[
                        "-map", "0:v", "-map", "0:a", "-map", "0:s", "-c:a", "aac", "-c:s",
                        "mov_text",
                    ],
                    x,
                ]),
            ),
            (
                "mkv",
                with(&[&i, &["-map_metadata", "-1", "-c:a", "aac"], x]),
            ),
            ("mkv", with(&[&i, &["-c:s", "srt", "-c:a", "aac"], x])),
            (
                "mkv",
                with(&[
                    &i,
                    &["-map_chapters", "-1", "-metadata", "title=Other title"],
                    x,
                ]),
            ),
            (
                "mkv",
                with(&[
                    &i,
                    &[
                        "-map",
                        "0",
                        "-c:a",
                        "copy",
                        "-c:s",
                        "copy",
                        "-metadata:s:a:0",
                        "language=deu",
                        "-disposition:a:0",
                        "default",
                        "-disposition:a:1",
                        "0",
                    ],
                    x,
                ]),
            ),
        ],
    );
}

#[test]
fn timing() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let vfr = media::vfr_mkv(&e);
    let av = e.av_clip("av.mp4", 5.0, 24, 2); // B-frames: the mp4 has an edit list
    let ts = media::ts_source(&e);
    let x = &X264;
    cases(
        &e,
        &[
            ("mkv", with(&[&["-i", &vfr], x])),
            ("mp4", with(&[&["-i", &vfr], x])),
            (
                "mp4",
                with(&[&["-ss", "1.3", "-t", "2", "-i", &av, "-c:a", "aac"], x]),
            ),
            (
                "mkv",
                with(&[&["-i", &av, "-ss", "0.7", "-to", "3.1", "-c:a", "aac"], x]),
            ),
            (
                "mkv",
                with(&[&["-itsoffset", "0.5", "-i", &av, "-c:a", "aac"], x]),
            ),
            ("mkv", with(&[&["-i", &ts, "-c:a", "copy"], x])),
            ("mp4", with(&[&["-i", &av, "-c:a", "aac"], x])),
        ],
    );
}

#[test]
fn video_features() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let hevc = media::hevc10_open_gop(&e);
    let inter = media::interlaced(&e);
    let av = e.av_clip("av.mp4", 3.0, 24, 2);
    let x265 = [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error",
    ];
    cases(
        &e,
        &[
            ("mkv", with(&[&["-i", &hevc, "-c:a", "copy"], &x265])),
            (
                "mp4",
                with(&[
                    &[
                        "-i",
                        &hevc,
                        "-tag:v",
                        "hvc1",
                        "-movflags",
                        "+faststart",
                        "-c:a",
                        "aac",
                    ],
                    &x265,
                ]),
            ),
            (
                "mkv",
                with(&[&["-i", &inter, "-flags", "+ildct+ilme", "-top", "1"], &X264]),
            ),
            (
                "mkv",
                with(&[
                    &[
                        "-i",
                        &av,
                        "-vf",
                        "scale=288:-2,crop=280:150,pad=300:160:10:5,format=yuv420p,unsharp",
                        "-c:a",
                        "aac",
                    ],
                    &X264,
                ]),
            ),
            (
                "mkv",
                with(&[
                    &[
                        "-i",
                        &av,
                        "-pix_fmt",
                        "yuv420p10le",
                        "-color_primaries",
                        "bt709",
                        "-color_trc",
                        "bt709",
                        "-colorspace",
                        "bt709",
                        "-an",
                    ],
                    &x265,
                ]),
            ),
            (
                "mp4",
                with(&[
                    &[
                        "-i",
                        &av,
                        "-x264-params",
                        "keyint=12:bframes=1",
                        "-c:a",
                        "aac",
                    ],
                    &X264,
                ]),
            ),
        ],
    );
    // SVT-AV1 on a tiny clip
    let small = e.x264_clip("small.mp4", 3.0, "testsrc2=size=160x120:rate=24", 24);
    cases(
        &e,
        &[(
            "mkv",
            vec![
                "-i",
                &small,
                "-c:v",
                "libsvtav1",
                "-preset",
                "12",
                "-svtav1-params",
                "tune=0",
            ],
        )],
    );
    // lossless: decoded frames bit-exact
    let (p, o) = e.both_same(&["-i", &av, "-c:v", "ffv1", "-c:a", "copy"], "mkv");
    assert!(framemd5(&p) == framemd5(&o), "ffv1 frames differ");
}

/// An flv input as ffmpeg writes it (x264 with B-frames stream-copied, no keyframe index):
/// its demuxer "could not seek" to its first keyframe and read on from where probing left
/// off, so the first chunk came out empty and the job failed; that chunk is now split from the
/// file's start, and the output equals plain ffmpeg's frame for frame, on SSH workers.
#[test]
fn an_flv_input_whose_first_keyframe_cannot_be_sought() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let video = "testsrc2=size=160x120:rate=24";
    let mkv = e.make(
        "t.mkv",
        4.0,
        video,
        &with(&[&X264, &["-g", "24", "-bf", "2"]]),
    );
    e.ffmpeg(&["-i", &mkv, "-c", "copy", "t.flv"]);
    let args = ["-i", "t.flv", "-c:v", "ffv1"];
    let (plain, ours, log) = e.both_log(&args, "mkv");
    assert_split(&log, &args);
    assert_same(&plain, &ours);
    assert_eq!(framemd5(&plain), framemd5(&ours));
}

#[test]
fn containers_and_passthrough() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let av = e.av_clip("av.mp4", 2.0, 24, 2);
    let tc = media::timecode_mov(&e);
    cases(
        &e,
        &[
            (
                "webm",
                with(&[&["-i", &av], &VP9_REALTIME, &["-c:a", "libopus"]]),
            ),
            ("ts", with(&[&["-i", &av, "-c:a", "aac"], &X264])),
            // B-frames: the first chunk's first dts before zero (a ts chunk keeps it)
            (
                "ts",
                vec![
                    "-i", &av, "-c:v", "libx264", "-preset", "veryfast", "-c:a", "copy",
                ],
            ),
            ("mov", with(&[&["-i", &av, "-c:a", "aac"], &X264])),
            ("nut", with(&[&["-i", &av, "-c:a", "aac"], &X264])),
            // no encoder named: the output muxer's default, which is not the chunk
            // container's (vp9 for webm)
            (
                "webm",
                vec!["-i", &av, "-deadline", "realtime", "-cpu-used", "8"],
            ),
            ("mkv", vec!["-i", &av, "-preset", "ultrafast"]),
            // avi (chunks in mpegts: its encoders write their headers in-band), nut and flv
            ("avi", vec!["-i", &av, "-vf", "scale=160:120"]),
            (
                "avi",
                vec![
                    "-i",
                    &av,
                    "-c:v",
                    "mpeg4",
                    "-vtag",
                    "xvid",
                    "-qscale:v",
                    "3",
                    "-c:a",
                    "libmp3lame",
                    "-qscale:a",
                    "4",
                ],
            ),
            ("nut", vec!["-i", &av]),
            ("flv", with(&[&["-i", &av, "-c:a", "aac"], &X264])),
            // data streams: a timecode track copied along, or dropped with -dn
            (
                "mov",
                with(&[&["-i", &tc, "-map", "0", "-c:a", "aac"], &X264]),
            ),
            (
                "mkv",
                with(&[&["-i", &tc, "-map", "0:v", "-map", "0:a", "-dn"], &X264]),
            ),
        ],
    );
    // every mpeg4 keyframe in avi starts with its headers, as in plain ffmpeg's (mp4 chunks
    // would keep them in the extradata only)
    let args = ["-i", av.as_str(), "-an"];
    let (plain, ours, log) = e.both_log(&args, "avi");
    assert_same(&plain, &ours);
    assert_split(&log, &args);
    for f in [&plain, &ours] {
        assert_eq!(layout(f)["streams"][0]["codec_name"], "mpeg4");
        let keyframes = packet_flags(f).iter().filter(|k| k.contains('K')).count();
        assert_eq!(in_band_headers(f), keyframes, "{f:?}");
    }
    // x264 into avi: mpegts chunks would add access unit delimiters to every packet
    let args = with(&[&["-i", av.as_str()], &X264]);
    let first = dry(&e, &args, "dry.avi");
    assert!(first.contains("into avi"), "{first}");
    e.both_same(&args, "avi");
    // lossless into avi
    let args = ["-i", av.as_str(), "-c:v", "ffv1", "-c:a", "pcm_s16le"];
    let (plain, ours, log) = e.both_log(&args, "avi");
    assert_same(&plain, &ours);
    assert_split(&log, &args);
    assert_eq!(framemd5(&plain), framemd5(&ours));
    // a timing filter in a form that is not modelled is not distributed, and the output is
    // still plain ffmpeg's
    let args = with(&[&["-i", &av, "-vf", "fps=12:start_time=0.5"], &X264]);
    e.both_same(&args, "mkv");
    let mut a = args.clone();
    a.push("again.mkv");
    let out = e.run_distr(&with(&[&["-y"], &a]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("passing the command to ffmpeg unchanged")
    );
    // aac copied from matroska (1 ms) into mp4 or ts (finer): plain ffmpeg keeps the
    // source's millisecond timestamps when audio packets waited for its video encoder (here
    // the first audio packet comes before the video decoder's first output), where a copy
    // alone smooths them (8 samples apart at the end here): the final mux maps them back
    // (job::audio_copy). At 44.1 kHz no rounding does, and it passes through.
    let mkv = e.p("av.mkv");
    e.ffmpeg(&["-i", &av, "-c", "copy", &mkv]);
    let mkv44 = e.p("av44.mkv");
    e.ffmpeg(&[
        "-i", &av, "-c:v", "copy", "-c:a", "aac", "-ar", "44100", &mkv44,
    ]);
    for (src, ext, distributes) in [
        (&mkv, "mp4", true),
        (&mkv, "ts", true),
        (&mkv44, "mp4", false),
    ] {
        let args = with(&[&["-i", src, "-c:a", "copy"], &X264]);
        let dry_out = format!("dry.{ext}");
        let mut a = args.clone();
        a.push(&dry_out);
        let dry = e.run_distr(&with(&[&["-df_dry_run"], &a]));
        let text = String::from_utf8_lossy(&dry.stdout);
        let passed = text.contains("passthrough: audio copied from a 1/1000 time base");
        assert_eq!(passed, !distributes, "{src} into {ext}: {text}");
        e.both_same(&args, ext);
    }
    cases(
        &e,
        &[
            ("mp4", with(&[&["-i", &av, "-c:a", "copy"], &X264])),
            ("mkv", with(&[&["-i", &mkv, "-c:a", "copy"], &X264])),
        ],
    );
}

#[test]
fn seeks_and_stream_properties() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let av = e.av_clip("av.mp4", 4.0, 30, 2);
    let avmkv = e.p("av.mkv");
    e.ffmpeg(&["-i", &av, "-c", "copy", &avmkv]);
    let hevc = media::hevc10_open_gop(&e);
    let x = &X264;
    cases(
        &e,
        &[
            // matroska seeks skip audio by the video's keyframe: copied audio starts earlier
            (
                "mkv",
                with(&[&["-ss", "2.5", "-i", &avmkv, "-c:a", "copy"], x]),
            ),
            // -ss lands on leading pictures of an open-GOP CRA: decode from the GOP before
            (
                "mkv",
                with(&[
                    &["-ss", "0.9", "-i", &hevc, "-pix_fmt", "yuv420p", "-an"],
                    x,
                ]),
            ),
            (
                "mkv",
                with(&[&["-i", &hevc, "-t", "2.2", "-pix_fmt", "yuv420p", "-an"], x]),
            ),
            // swscale sets the color range; a named profile means nothing to the copied video
            (
                "mkv",
                with(&[
                    &[
                        "-i",
                        &av,
                        "-vf",
                        "scale=160:-2",
                        "-profile:v",
                        "high",
                        "-an",
                    ],
                    x,
                ]),
            ),
            (
                "mkv",
                with(&[
                    &["-i", &avmkv, "-map_metadata:s:a", "0:s:a", "-c:a", "aac"],
                    x,
                ]),
            ),
            ("mkv", with(&[&["-i", &av, "-bitexact", "-c:a", "aac"], x])),
        ],
    );
    // cases that depend on the demuxer's seek or a stream copy's side effects pass through,
    // and still produce plain ffmpeg's output
    let ts = media::ts_source(&e);
    for args in [
        with(&[&["-ss", "1.2", "-i", &ts, "-an"], x]),
        with(&[&["-itsoffset", "0.5", "-ss", "1.2", "-i", &av, "-an"], x]),
        with(&[&["-i", &av, "-metadata:s:v", "rotate=90", "-an"], x]),
    ] {
        let (p, o, log) = e.both_log(&args, "mkv");
        assert_same(&p, &o);
        assert!(
            log.contains("passing the command to ffmpeg unchanged"),
            "{args:?}:\n{log}"
        );
    }
}

/// CRC of every audio packet's data, in file order per stream.
fn audio_hashes(path: &std::path::Path) -> Vec<String> {
    let v = probe(
        path,
        &[
            "-select_streams",
            "a",
            "-show_data_hash",
            "crc32",
            "-show_entries",
            "packet=stream_index,data_hash",
        ],
    );
    v["packets"]
        .as_array()
        .map(|a| a.iter().map(|p| p.to_string()).collect())
        .unwrap_or_default()
}

/// Whether a command's dry run encodes the audio early (an AUDIO step before FINAL).
fn early(e: &Env, args: &[&str], ext: &str) -> bool {
    let out_name = format!("dry.{ext}");
    dry_stdout(e, &with(&[args, &[&out_name]]))
        .lines()
        .any(|l| l.starts_with("AUDIO "))
}

#[test]
fn audio_encoded_while_the_video_is() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let src = media::rich_mkv(&e);
    let av = e.av_clip("av.mp4", 3.0, 30, 2);
    let x = &X264;
    let list: Vec<(&str, Vec<&str>, bool)> = vec![
        // one track copied, the other resampled (a partial last frame), filtered, encoded
        (
            "mkv",
            with(&[
                &[
                    "-i",
                    &src,
                    "-map",
                    "0:v",
                    "-map",
                    "0:a",
                    "-c:a:0",
                    "copy",
                    "-c:a:1",
                    "aac",
                    "-b:a:1",
                    "96k",
                    "-filter:a:1",
                    "volume=0.5",
                    "-ar:a:1",
                    "44100",
                ],
                x,
            ]),
            true,
        ),
        ("mkv", with(&[&["-i", &av, "-c:a", "flac"], x]), true),
        (
            "mkv",
            with(&[&["-ss", "1.1", "-i", &av, "-c:a", "aac", "-ar", "44100"], x]),
            true,
        ),
        // mp4 keeps the audio in the final mux, filter included
        (
            "mp4",
            with(&[&["-i", &av, "-filter:a", "volume=0.5", "-c:a", "aac"], x]),
            false,
        ),
    ];
    for (ext, args, want_early) in &list {
        assert_eq!(early(&e, args, ext), *want_early, "{args:?} -> {ext}");
        let (p, o, log) = e.both_log(args, ext);
        assert_same(&p, &o);
        assert_eq!(audio_hashes(&p), audio_hashes(&o), "{args:?}: audio data");
        assert_split(&log, args);
        eprintln!("case ok: {args:?} -> {ext}");
    }
    // what would not come back exact keeps the audio in the final mux
    for (args, ext) in [
        (with(&[&["-i", &av, "-c:a", "libopus"], x]), "mkv"),
        (with(&[&["-i", &av, "-c:a", "libvorbis"], x]), "mkv"),
        (with(&[&["-i", &av, "-c:a", "aac", "-shortest"], x]), "mkv"),
        (with(&[&["-i", &av, "-c:1", "aac"], x]), "mkv"),
        (with(&[&["-i", &av, "-c:a", "aac", "-t", "2"], x]), "mkv"),
    ] {
        assert!(!early(&e, &args, ext), "{args:?} -> {ext}");
    }
}

/// Each video packet's flags (`K_`, `__`).
fn packet_flags(path: &std::path::Path) -> Vec<String> {
    let v = probe(
        path,
        &["-select_streams", "v:0", "-show_entries", "packet=flags"],
    );
    v["packets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["flags"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// How many MPEG-4 visual object sequence headers the video stream's packets carry.
fn in_band_headers(path: &std::path::Path) -> usize {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-c", "copy", "-f", "data", "-"])
        .output()
        .expect("ffmpeg");
    out.stdout
        .windows(4)
        .filter(|w| *w == [0, 0, 1, 0xb0])
        .count()
}
