//! `-filter_complex` / `-lavfi` graphs that are one linear video chain, in the argv forms
//! ffmpeg-python writes (`-filter_complex [0]scale=320:-2[s0] -map [s0]`), or an unlabelled
//! one, and chains that lay a still image over the video (`overlay`, a watermark) through SSH
//! workers: split into several chunks and equal to plain ffmpeg on every ffprobe stream field
//! and every packet's timestamps, lossless cases frame by frame. A graph output has no source stream when ffmpeg
//! opens the output, so the sources carry tags and dispositions on their video stream that
//! plain ffmpeg does not copy. Every other graph passes through.

mod common;
use common::*;

/// Runs each argv both ways: distributed in at least two chunks, the same as plain ffmpeg.
fn cases(e: &Env, list: &[(&str, Vec<&str>)]) {
    for (ext, args) in list {
        let chunks = planned_chunks(e, &with(&[&["-y"], args, &[&e.p(&format!("dry.{ext}"))]]));
        assert!(chunks >= 2, "{args:?} was not split: {chunks} chunks");
        e.both_same(args, ext);
        eprintln!("case ok: {args:?} -> {ext}");
    }
}

/// mp4 (h264 + aac, 30 fps, 4 s) whose video stream has a language, a handler name and the
/// forced disposition, which a stream copy or a `-vf` encode would keep.
fn tagged_mp4(e: &Env) -> String {
    let out = e.p("tagged.mp4");
    e.ffmpeg(&with(&[
        &lavfi("testsrc2=size=320x240:rate=30"),
        &lavfi("sine=frequency=440:sample_rate=48000"),
        &["-t", "4"],
        &X264,
        &["-g", "30", "-bf", "2", "-c:a", "aac"],
        &[
            "-metadata:s:v:0",
            "language=fra",
            "-metadata:s:v:0",
            "handler_name=Camera",
            "-disposition:v:0",
            "default+forced",
            &out,
        ],
    ]));
    out
}

#[test]
fn linear_chains_match_plain_ffmpeg_in_mkv() {
    let e = Env::new();
    // h264 25 fps (B-frames, GOP 25), two audio tracks, subtitles, chapters, an attachment;
    // the video has a title
    let src = media::rich_mkv(&e);
    let i: &[&str] = &["-i", &src];
    cases(
        &e,
        &[
            // ffmpeg-python: ffmpeg.input(src).filter('scale', 160, -2).output(out)
            (
                "mkv",
                with(&[
                    i,
                    &["-filter_complex", "[0]scale=160:-2[s0]", "-map", "[s0]"],
                    &X264,
                ]),
            ),
            // .crop(…).hflip() with the audio streams: ffmpeg.output(v, src['a'], out)
            (
                "mkv",
                with(&[
                    i,
                    &[
                        "-filter_complex",
                        "[0:v]crop=200:160:10:10[s0];[s0]hflip[s1]",
                        "-map",
                        "[s1]",
                        "-map",
                        "0:a",
                        "-c:a",
                        "aac",
                    ],
                    &X264,
                ]),
            ),
            // stream metadata mapped explicitly onto the graph's output
            (
                "mkv",
                with(&[
                    i,
                    &[
                        "-filter_complex",
                        "[0]hflip[s0]",
                        "-map",
                        "[s0]",
                        "-map_metadata:s:v",
                        "0:s:v",
                    ],
                    &X264,
                ]),
            ),
            // the audio first, the filtered video second; -lavfi; an output -ss/-t
            (
                "mkv",
                with(&[
                    i,
                    &[
                        "-lavfi",
                        "[0:v:0]scale=160:-2,vflip[out]",
                        "-map",
                        "0:a:1",
                        "-map",
                        "[out]",
                        "-c:a",
                        "aac",
                        "-ss",
                        "0.5",
                        "-t",
                        "2.7",
                    ],
                    &X264,
                ]),
            ),
        ],
    );
}

#[test]
fn linear_chains_match_plain_ffmpeg_in_mp4() {
    let e = Env::new();
    let src = tagged_mp4(&e);
    let i: &[&str] = &["-i", &src];
    cases(
        &e,
        &[
            (
                "mp4",
                with(&[
                    i,
                    &["-filter_complex", "[0]scale=160:-2[s0]", "-map", "[s0]"],
                    &X264,
                ]),
            ),
            (
                "mp4",
                with(&[
                    i,
                    &[
                        "-filter_complex",
                        "[0:v]scale=240:-2[s0];[s0]hflip[s1];[s1]crop=200:150[s2]",
                        "-map",
                        "[s2]",
                        "-map",
                        "0:a",
                        "-c:a",
                        "copy",
                    ],
                    &X264,
                ]),
            ),
            // an unlabelled input pad reads the first video stream
            (
                "mp4",
                with(&[
                    i,
                    &["-filter_complex", "scale=160:-2[o]", "-map", "[o]"],
                    &X264,
                ]),
            ),
            // -map_metadata -1 and a -disposition of the user's
            (
                "mp4",
                with(&[
                    i,
                    &[
                        "-filter_complex",
                        "[0:v:0]hflip[v]",
                        "-map",
                        "0:a",
                        "-map",
                        "[v]",
                        "-map_metadata",
                        "-1",
                        "-disposition:a:0",
                        "default",
                        "-c:a",
                        "copy",
                        "-c:0",
                        "copy",
                        "-c:1",
                        "libx264",
                        "-preset",
                        "ultrafast",
                    ],
                ]),
            ),
        ],
    );
}

/// The single-stream rule of `-fps_mode auto` (cfr becomes vscfr for an input with one stream)
/// looks at the output stream's source when the output is opened: a graph output has none.
/// After an input `-ss` between two frames, plain ffmpeg therefore repeats the first frame.
#[test]
fn single_stream_input_is_cfr_for_a_graph_output() {
    let e = Env::new();
    let src = e.x264_clip("video_only.mp4", 4.0, "testsrc2=size=320x240:rate=30", 30);
    let args = with(&[
        &["-ss", "0.51", "-i", &src],
        &["-filter_complex", "[0]scale=160:-2[s0]", "-map", "[s0]"],
        &X264,
    ]);
    let vf = with(&[&["-ss", "0.51", "-i", &src, "-vf", "scale=160:-2"], &X264]);
    cases(&e, &[("mp4", args.clone()), ("mp4", vf.clone())]);
    let (a, _) = e.both(&args, "mp4");
    let complex_frames = video_frames(&a);
    let (b, _) = e.both(&vf, "mp4");
    assert_eq!(
        complex_frames,
        video_frames(&b) + 1,
        "the graph output is cfr"
    );
}

#[test]
fn lossless_chain_is_bit_exact() {
    let e = Env::new();
    let src = tagged_mp4(&e);
    let args = with(&[
        &["-i", &src],
        &[
            "-filter_complex",
            "[0]scale=200:150[s0];[s0]eq=contrast=1.3[s1]",
            "-map",
            "[s1]",
            "-map",
            "0:a",
            "-c:a",
            "copy",
            "-c:v",
            "ffv1",
        ],
    ]);
    cases(&e, &[("mkv", args.clone())]);
    let (p, o) = e.both(&args, "mkv");
    let (fa, fb) = (framemd5(&p), framemd5(&o));
    assert_eq!(fa.len(), 120);
    assert_eq!(fa, fb, "decoded frames differ");
}

#[test]
fn audio_chains_beside_the_video_chain_run_in_the_final_mux() {
    let e = Env::new();
    let src = tagged_mp4(&e);
    let i: &[&str] = &["-i", &src];
    let list = [
        // ffmpeg-python: ffmpeg.output(in.audio.filter('aecho', …), in.video.hflip(), out)
        (
            "mkv",
            with(&[
                i,
                &[
                    "-filter_complex",
                    "[0:a]aecho=0.8:0.9:1000:0.3[s0];[0:v]hflip[s1]",
                ],
                &["-map", "[s0]", "-map", "[s1]", "-c:v", "ffv1"],
            ]),
        ),
        // twice the speed, both ways (ffmpeg.run's tutorial)
        (
            "mov",
            with(&[
                i,
                &[
                    "-filter_complex",
                    "[0:v]setpts=0.5*PTS[v];[0:a]atempo=2.0[a]",
                ],
                &["-map", "[v]", "-map", "[a]", "-c:v", "ffv1", "-c:a", "aac"],
            ]),
        ),
        // only the audio in the graph, the video through -vf
        (
            "mkv",
            with(&[
                i,
                &["-filter_complex", "[0:1]volume=2[x];[x]asplit[a1][a2]"],
                &[
                    "-map", "0:v", "-map", "[a2]", "-map", "[a1]", "-vf", "hflip",
                ],
                &["-c:v", "ffv1", "-c:a", "libopus"],
            ]),
        ),
    ];
    cases(&e, &list);
    for (ext, args) in &list {
        let (p, o) = e.both(args, ext);
        // every stream: the lossless video, and the audio as the final mux encoded it
        let (fa, fb) = (framemd5_of(&p, "0"), framemd5_of(&o, "0"));
        assert!(fa.len() > 100, "{args:?}");
        assert_eq!(fa, fb, "{args:?}: decoded frames differ");
    }
}

#[test]
fn other_graphs_pass_through() {
    let e = Env::new();
    let src = tagged_mp4(&e);
    // a subtitle stream first: [0] then selects it (sub2video)
    std::fs::write(e.path("s.srt"), "1\n00:00:00,500 --> 00:00:01,500\nHi\n").unwrap();
    let subs_first = e.p("subs_first.mkv");
    e.ffmpeg(&[
        "-i",
        "s.srt",
        "-i",
        &src,
        "-map",
        "0",
        "-map",
        "1",
        "-c",
        "copy",
        &subs_first,
    ]);
    let out = e.p("o.mkv");
    let one = |g: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["-i", src.as_str(), "-filter_complex", g]
            .map(String::from)
            .to_vec();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let list: Vec<(Vec<String>, &str)> = vec![
        (
            one(
                "[0]split[a][b];[a]hflip[c];[b][c]hstack[o]",
                &["-map", "[o]"],
            ),
            "not one linear chain",
        ),
        (
            [
                "-i",
                &src,
                "-i",
                &src,
                "-filter_complex",
                "[0][1]overlay[o]",
                "-map",
                "[o]",
            ]
            .map(String::from)
            .to_vec(),
            "is not a single image",
        ),
        (
            one(
                "[0:v]scale=160:-2[v];[0:a]volume=2[a]",
                &["-map", "[v]", "-map", "[a]", "-c:a", "copy"],
            ),
            "stream copy of a filter graph's output",
        ),
        (
            one(
                "[0:v]scale=160:120[v];[0:a]showwaves=s=160x120[w];[v][w]vstack[o]",
                &["-map", "[o]"],
            ),
            "not one linear chain",
        ),
        (
            one("[0:a]volume=2;[0:v]hflip[v]", &["-map", "[v]"]),
            "unlabelled output",
        ),
        (one("[0]scale=160:-2[o]", &[]), "not mapped"),
        (
            one("[0]scale=160:-2[o]", &["-map", "[o]", "-map", "[o]"]),
            "mapped more than once",
        ),
        (one("[0]fps=10:start_time=1[o]", &["-map", "[o]"]), "fps"),
        // a backslash inside quotes is literal: the quote closes and hqdn3d is a filter
        (one("[0]null@'a\\',hqdn3d[o]", &["-map", "[o]"]), "hqdn3d"),
        (
            one("[0]scale=160:-2[o]", &["-map", "[o]", "-vf", "hflip"]),
            "-vf",
        ),
        (
            one(
                "[0]scale=160:-2[o]",
                &["-map", "[o]", "-sws_flags", "lanczos"],
            ),
            "sws_flags",
        ),
        (
            one("sws_flags=lanczos;[0]scale=160:-2[o]", &["-map", "[o]"]),
            "sws_flags",
        ),
        (
            [
                "-i",
                &subs_first,
                "-filter_complex",
                "[0]scale=160:-2[o]",
                "-map",
                "[o]",
            ]
            .map(String::from)
            .to_vec(),
            "subtitle",
        ),
        (
            [
                "-i",
                &src,
                "-filter_complex",
                "[0]scale=160:-2[o]",
                "-filter_complex",
                "[0:a]volume=2[a]",
                "-map",
                "[o]",
                "-map",
                "[a]",
            ]
            .map(String::from)
            .to_vec(),
            "filter graphs",
        ),
    ];
    for (args, why) in list {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let first = dry(&e, &refs, &out);
        assert!(
            first.starts_with("passthrough:") && first.contains(why),
            "{args:?}: expected a pass through naming {why:?}, got {first:?}"
        );
    }
}

#[test]
fn a_still_image_laid_over_the_video_is_bit_exact_on_ssh_workers() {
    let e = Env::new();
    let cluster = common::sshd::Cluster::configured(&e, 2);
    let src = tagged_mp4(&e);
    let logo = e.p("logo.png");
    e.ffmpeg(&with(&[
        &lavfi("testsrc=size=64x48:rate=1,format=rgba,colorchannelmixer=aa=0.6"),
        &["-frames:v", "1", &logo],
    ]));
    let lossless: &[&str] = &["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"];
    let i: &[&str] = &["-i", &src, "-i", &logo];
    let list = [
        // ffmpeg-python: ffmpeg.filter([main, logo], 'overlay', 10, 10)
        with(&[
            i,
            &["-filter_complex", "[0][1]overlay=10:10[s0]", "-map", "[s0]"],
            lossless,
        ]),
        // no labels at all: the output is mapped by ffmpeg, the audio by its default rules
        with(&[
            i,
            &["-filter_complex", "overlay=10:main_h-overlay_h-10"],
            lossless,
        ]),
        // the image's own chain, filters before and after, a temporal filter (context frames
        // around each chunk) and a position that moves with the timestamps
        with(&[
            i,
            &[
                "-filter_complex",
                "[1]format=bgra,colorchannelmixer=aa=0.5[image];[0]tmix=frames=3[m];\
                 [m][image]overlay=x=20*t:y=(main_h-overlay_h)/2,hflip[v]",
                "-map",
                "[v]",
                "-map",
                "0:a",
            ],
            lossless,
        ]),
    ];
    for args in &list {
        let (plain, ours, log) = e.both_log(args, "mkv");
        assert_same(&plain, &ours);
        let (fa, fb) = (framemd5(&plain), framemd5(&ours));
        assert_eq!(fa.len(), 120);
        assert_eq!(fa, fb, "{args:?}: decoded frames differ");
        let chunks = planned_chunks(&e, &with(&[&["-y"], args, &[&e.p("dry.mkv")]]));
        assert!(chunks >= 3, "{args:?}: {chunks} chunks\n{log}");
    }
    // nothing of ours (the image included) is left on the workers
    cluster.assert_clean();
    // not a still image, or one that does not stay: passed through
    let out = e.p("o.mkv");
    for (g, why) in [
        ("[0][1]overlay=eof_action=endall[o]", "does not stay on"),
        ("[0][1]overlay=10:10:shortest=1[o]", "does not stay on"),
        ("[0][1]overlay=x=n[o]", "'n'"),
        ("[0]hflip[o]", "is an image"),
    ] {
        let args = with(&[i, &["-filter_complex", g, "-map", "[o]"]]);
        let first = dry(&e, &args, &out);
        assert!(
            first.starts_with("passthrough:") && first.contains(why),
            "{g}: expected a pass through naming {why:?}, got {first:?}"
        );
    }
    let looped = ["-i", &src, "-loop", "1", "-i", &logo];
    let args = with(&[
        &looped,
        &["-filter_complex", "[0][1]overlay[o]", "-map", "[o]"],
    ]);
    assert!(dry(&e, &args, &out).contains("-loop"));
}
