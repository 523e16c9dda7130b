//! Decision tests: what distributes, what passes through, and how options are routed.

use super::*;
use crate::plan::sync::SyncMode;
use crate::testutil::{audio, info, stream, video};

fn decide(argv: &[&str], infos: &[MediaInfo]) -> Result<JobSpec, Passthrough> {
    let cmd = CmdLine::parse(argv).unwrap();
    let pre = precheck(&cmd)?;
    analyze(&cmd, &pre, infos)
}

fn one() -> Vec<MediaInfo> {
    vec![info(vec![video(0, 1280, 720), audio(1, 2, "eng")])]
}

fn reason(argv: &[&str]) -> String {
    decide(argv, &one()).unwrap_err().0
}

#[test]
fn a_plain_encode_distributes() {
    let j = decide(
        &[
            "-i", "in.mp4", "-c:v", "libx264", "-crf", "23", "-preset", "fast", "-c:a", "aac",
            "-b:a", "96k", "out.mkv",
        ],
        &one(),
    )
    .unwrap();
    assert_eq!((j.src_file, j.src_stream, j.video_out), (0, 0, 0));
    assert_eq!(j.encoder.as_deref(), Some("libx264"));
    let enc: Vec<String> = j.encode_opts.iter().flat_map(|o| o.tokens()).collect();
    assert_eq!(enc, ["-codec", "libx264", "-crf", "23", "-preset", "fast"]);
    assert_eq!(
        j.sync.mode,
        SyncMode::Vfr,
        "matroska is a variable-frame-rate muxer"
    );
    assert_eq!(j.frame_rate, Rational::new(30, 1));
    assert!(j.sync.duration_from_packets);
}

#[test]
fn mp4_is_cfr_and_single_stream_inputs_are_vscfr() {
    let j = decide(&["-i", "a.mp4", "-c:v", "libx264", "o.mp4"], &one()).unwrap();
    assert_eq!(j.sync.mode, SyncMode::Cfr);
    let lone = vec![info(vec![video(0, 320, 240)])];
    let j = decide(&["-i", "a.mp4", "-c:v", "libx264", "o.mp4"], &lone).unwrap();
    assert_eq!(j.sync.mode, SyncMode::Vscfr);
    let j = decide(
        &[
            "-i",
            "a.mp4",
            "-c:v",
            "libx264",
            "-fps_mode",
            "vfr",
            "o.mp4",
        ],
        &lone,
    )
    .unwrap();
    assert_eq!(j.sync.mode, SyncMode::Vfr);
}

#[test]
fn passthrough_reasons() {
    assert!(reason(&["-version"]).contains("prints information"));
    assert!(reason(&["-i", "a.mp4"]).contains("no output"));
    assert!(
        reason(&["-i", "a.mp4", "-c:v", "copy", "o.mkv"]).contains("no video stream is encoded")
    );
    assert!(reason(&["-i", "a.mp4", "-vn", "o.mkv"]).contains("no video"));
    assert!(reason(&["-i", "a.mp4", "o1.mkv", "o2.mkv"]).contains("2 output files"));
    assert!(reason(&["-i", "a.mp4", "-f", "matroska", "-"]).contains("pipe"));
    // `-f null -` is a pipe only outside a pass 1 (where it discards, as /dev/null does)
    assert!(reason(&["-i", "a.mp4", "-f", "null", "-"]).contains("pipe"));
    let p1 = [
        "-i", "a.mp4", "-c:v", "libx264", "-pass", "1", "-an", "-f", "null",
    ];
    for out in ["-", "pipe:", "/dev/null"] {
        let j = decide(&[&p1[..], &[out]].concat(), &one()).unwrap();
        assert!(j.discard_output, "{out}");
    }
    assert!(reason(&[&p1[..], &["pipe:3"]].concat()).contains("pipe"));
    assert!(reason(&["-i", "pipe:0", "o.mkv"]).contains("pipe or URL"));
    assert!(reason(&["-i", "http://x/a.mp4", "o.mkv"]).contains("pipe or URL"));
    assert!(reason(&[
        "-i",
        "a.mp4",
        "-filter_complex",
        "[0:v]split[a][b]",
        "o.mkv"
    ])
    .contains("filter_complex"));
    assert!(reason(&["-i", "a.mp4", "-vf", "fps=source_fps", "o.mkv"]).contains("fps"));
    // fps ends where the last frame ends, not where an input -t ends the chain
    let cut = ["-t", "2", "-i", "a.mp4", "-vf", "fps=24", "o.mkv"];
    assert!(reason(&cut).contains("fps with an input -t"));
    let j = decide(&["-i", "a.mp4", "-vf", "fps=24", "o.mkv"], &one()).unwrap();
    assert_eq!(
        (j.frame_rate, j.sync.filter_tb),
        (Rational::new(24, 1), Rational::new(1, 24))
    );
    assert_eq!(
        j.worker_filter(&[], 0).as_deref(),
        Some("tpad=stop_mode=clone:stop=-1,fps=24")
    );
    assert!(reason(&["-i", "a.mp4", "-frames", "10", "o.mkv"]).contains("also limits"));
    assert!(reason(&["-i", "a.mp4", "o.3gp"]).contains("3gp"));
    assert!(reason(&["-i", "a.mp4", "-c:v", "flv", "o.flv"]).contains("flv"));
    assert!(
        reason(&["-i", "a.mp4", "-c:v", "mpeg4", "-r", "90001/3", "o.avi"])
            .contains("reduces the frame rate")
    );
    assert!(reason(&["-r", "24", "-i", "a.mp4", "o.mkv"]).contains("input option -r"));
    assert!(reason(&["-i", "a.mp4", "-fps_mode", "cfr", "o.mkv"]).contains("cfr"));
    assert!(reason(&["-i", "a.mp4", "-c:v", "mpeg2video", "o.ts"]).contains("frame rate"));
}

#[test]
fn image_inputs_encoder_multipass_and_interlaced_flags_pass_through() {
    // a single image, or a sequence read in a loop; sequences themselves are distributed
    for argv in [
        &["-i", "poster.PNG", "o.mp4"][..],
        &["-loop", "1", "-i", "img-%d.jpg", "o.mkv"],
        &[
            "-loop",
            "1",
            "-pattern_type",
            "glob",
            "-i",
            "*.png",
            "o.mkv",
        ],
    ] {
        assert!(reason(argv).contains("image"), "{argv:?}");
    }
    for argv in [
        &["-framerate", "24", "-i", "img/%03d.png", "o.mkv"][..],
        &["-pattern_type", "glob", "-i", "*.png", "o.mkv"],
    ] {
        assert!(precheck(&CmdLine::parse(argv).unwrap()).is_ok(), "{argv:?}");
    }
    for (opt, val) in [
        ("-x265-params", "pass=3:stats=x265.log"),
        ("-x264-params", "stats=a.log:pass=1"),
        ("-x264opts", "pass=2"),
        ("-svtav1-params", "passes=2"),
    ] {
        let r = reason(&["-i", "a.mp4", "-c:v", "libx265", opt, val, "o.mkv"]);
        assert!(r.contains("multi-pass"), "{opt} {val}: {r}");
    }
    let r = reason(&[
        "-i",
        "a.mp4",
        "-c:v",
        "libx264",
        "-flags",
        "+ildct+ilme",
        "o.mkv",
    ]);
    assert!(r.contains("interlaced"), "{r}");
    let top = [
        "-i",
        "a.mp4",
        "-c:v",
        "libx264",
        "-flags",
        "+ildct+ilme",
        "-top",
        "1",
        "o.mkv",
    ];
    assert!(
        decide(&top, &one()).is_ok(),
        "an explicit field order distributes"
    );
    // what stays distributed
    let one = one();
    for argv in [
        &[
            "-i",
            "a.mp4",
            "-c:v",
            "libx265",
            "-x265-params",
            "crf=20:preset=slow",
            "o.mkv",
        ][..],
        &[
            "-i",
            "a.mp4",
            "-c:v",
            "libx264",
            "-x264-params",
            "bframes=2:passive=1",
            "o.mkv",
        ],
        &["-i", "a.mp4", "-c:v", "libx264", "-flags", "+cgop", "o.mkv"],
    ] {
        assert!(decide(argv, &one).is_ok(), "{argv:?}");
    }
}

#[test]
fn filters_and_options_route_to_the_video_stream_only() {
    let j = decide(
        &[
            "-i",
            "a.mp4",
            "-vf",
            "scale=640:-2",
            "-b:a",
            "64k",
            "-b:v",
            "1M",
            "-x264-params",
            "keyint=60",
            "-movflags",
            "+faststart",
            "o.mp4",
        ],
        &one(),
    )
    .unwrap();
    assert_eq!(j.filter.as_deref(), Some("scale=640:-2"));
    assert!(!j.sync.duration_from_packets);
    let enc: Vec<String> = j.encode_opts.iter().flat_map(|o| o.tokens()).collect();
    assert_eq!(enc, ["-b", "1M", "-x264-params", "keyint=60"]);
}

#[test]
fn default_video_from_the_second_input_and_decoder_options() {
    let infos = vec![
        info(vec![audio(0, 2, "eng")]),
        info(vec![video(0, 640, 360)]),
    ];
    let j = decide(
        &[
            "-i", "a.wav", "-threads", "2", "-c:v", "h264", "-ss", "1", "-i", "v.mp4", "-c:v",
            "libx265", "o.mkv",
        ],
        &infos,
    )
    .unwrap();
    assert_eq!((j.src_file, j.src_stream), (1, 0));
    let dec: Vec<String> = j.decode_opts.iter().flat_map(|o| o.tokens()).collect();
    assert_eq!(dec, ["-threads", "2", "-c:v", "h264"]);
    assert_eq!(j.trims.ts_offset_us, -1_000_000);
    assert!(j.trims.input_start);
}

#[test]
fn two_encoded_video_streams_pass_through() {
    let mut cover = video(2, 600, 600);
    cover.disposition.insert("attached_pic".into(), 1);
    let infos = vec![info(vec![
        video(0, 1280, 720),
        audio(1, 2, "eng"),
        cover,
        stream(3, MediaKind::Attachment, "ttf"),
    ])];
    assert!(decide(
        &["-i", "a.mkv", "-map", "0", "-c:v", "libx264", "o.mkv"],
        &infos
    )
    .is_err());
    let j = decide(
        &[
            "-i", "a.mkv", "-map", "0", "-c:v", "libx264", "-c:v:1", "copy", "o.mkv",
        ],
        &infos,
    )
    .unwrap();
    assert_eq!(j.video_out, 0);
    assert_eq!(j.out_streams.len(), 4);
}

#[test]
fn local_paths() {
    assert_eq!(local_path("file:a b.mp4"), Some("a b.mp4"));
    assert_eq!(local_path("C:/x.mp4"), Some("C:/x.mp4"));
    assert_eq!(local_path("srt://h:1"), None);
    assert_eq!(local_path("-"), None);
}

#[test]
fn a_linear_filter_graph_distributes_as_its_chain() {
    let j = decide(
        &[
            "-i",
            "a.mp4",
            "-filter_complex",
            "[0]scale=320:-2[s0];[s0]hflip[s1]",
            "-map",
            "0:a",
            "-map",
            "[s1]",
            "-c:v",
            "libx264",
            "o.mkv",
        ],
        &one(),
    )
    .unwrap();
    assert_eq!((j.src_file, j.src_stream, j.video_out), (0, 0, 1));
    assert_eq!(j.filter.as_deref(), Some("scale=320:-2,hflip"));
    assert!(j.src_tags.is_empty(), "a graph output has no source stream");
    assert!(j.out_streams[1].from_graph && j.out_streams[1].disposition.is_empty());
    assert!(!j.sync.duration_from_packets);
    let lone = vec![info(vec![video(0, 320, 240)])];
    let argv = [
        "-i",
        "a.mp4",
        "-lavfi",
        "[0:v]null[o]",
        "-map",
        "[o]",
        "o.mp4",
    ];
    assert_eq!(
        decide(&argv, &lone).unwrap().sync.mode,
        SyncMode::Cfr,
        "no single-stream vscfr for a graph output"
    );
}

#[test]
fn a_video_frame_cap_goes_to_the_planner() {
    let j = decide(&["-i", "a.mp4", "-vframes", "10", "o.mkv"], &one()).unwrap();
    assert_eq!(j.sync.max_frames, Some(10));
    assert!(j.encode_opts.iter().all(|o| !o.is("vframes")));
    let j = decide(&["-i", "a.mp4", "-an", "-frames", "7", "o.mkv"], &one()).unwrap();
    assert_eq!(j.sync.max_frames, Some(7));
}

#[test]
fn burn_ins_are_found_and_refused_next_to_a_laid_over_image() {
    let j = decide(
        &[
            "-i",
            "in.mkv",
            "-vf",
            "scale=640:-2,subtitles=s.srt",
            "o.mkv",
        ],
        &one(),
    )
    .unwrap();
    assert_eq!(j.burn_in.len(), 1);
    assert_eq!(j.burn_in[0].file, "s.srt");
    assert_eq!(j.preroll(), 0);
    assert_eq!(
        j.worker_filter(&["/w/aux-sub0.srt".to_string()], 0)
            .as_deref(),
        Some("settb=1/15360,scale=640:-2,subtitles=filename=\\'/w/aux-sub0.srt\\'")
    );
    let infos = vec![one().remove(0), info(vec![video(0, 64, 64)])];
    for graph in [
        "[0]subtitles=s.srt[m];[m][1]overlay=5:5[o]",
        "[1]subtitles=s.srt[l];[0][l]overlay=5:5[o]",
    ] {
        let argv = [
            "-i",
            "in.mkv",
            "-i",
            "logo.png",
            "-filter_complex",
            graph,
            "-map",
            "[o]",
            "o.mkv",
        ];
        let why = decide(&argv, &infos).unwrap_err().0;
        assert!(why.contains("laid-over image"), "{graph}: {why}");
    }
}

#[test]
fn x265s_own_two_pass_maps_onto_the_chunks_statistics() {
    let argv = |params: &'static str, out: &'static str| {
        let mut v = vec!["-i", "a.mp4", "-c:v", "libx265", "-b:v", "2600k"];
        v.extend(["-x265-params", params, "-an"]);
        v.extend(out.split(' '));
        v
    };
    let j = decide(&argv("pass=1", "-f null /dev/null"), &one()).unwrap();
    let tp = j.two_pass.clone().unwrap();
    assert_eq!((tp.pass, tp.x265), (1, true));
    assert_eq!(
        tp.store,
        std::path::PathBuf::from("x265_2pass.log-distrffmpeg")
    );
    assert!(j.discard_output);
    // the pass and the statistics file are the workers' own: not in the options they share
    assert!(!j.encode_opts.iter().any(|o| o.is("x265-params")));
    let j = decide(&argv("crf=20:stats=my.log:pass=2", "o.mkv"), &one()).unwrap();
    assert_eq!(
        j.two_pass.as_ref().unwrap().store,
        std::path::PathBuf::from("my.log-distrffmpeg")
    );
    let params: Vec<_> = j
        .encode_opts
        .iter()
        .filter(|o| o.is("x265-params"))
        .collect();
    assert_eq!(params[0].arg.as_deref(), Some("crf=20"));
    // not libx265, or together with -pass: through plain ffmpeg
    let mut other = argv("pass=1", "o.mkv");
    other[3] = "libx264";
    assert!(decide(&other, &one()).unwrap_err().0.contains("x265"));
    assert!(decide(&argv("pass=1", "-pass 1 o.mkv"), &one()).is_err());
    // only the last -x265-params counts, as in plain ffmpeg; x265's own spellings of the keys
    let twice = argv("bframes=0", "-x265-params --pass=2 o.mkv");
    let j = decide(&twice, &one()).unwrap();
    assert_eq!(j.two_pass.as_ref().map(|t| t.pass), Some(2));
    assert!(!j.encode_opts.iter().any(|o| o.is("x265-params")));
    // a quoted or escaped value is not split at every colon: the encoder's own multi-pass
    for q in ["pass=1:stats='a:b.log'", "pass=1:stats=a\\:b.log"] {
        assert!(decide(&argv(q, "o.mkv"), &one()).is_err(), "{q}");
    }
    let x264 = [
        "-i",
        "a.mp4",
        "-c:v",
        "libx264",
        "-x264-params",
        "--pass=1",
        "o.mkv",
    ];
    assert!(decide(&x264, &one()).unwrap_err().0.contains("multi-pass"));
}

#[test]
fn concat_lists_of_files_alone_distribute() {
    let plain = "ffconcat version 1.0\n# the clips\nfile 'a.mp4'\n\nfile b.mp4\n";
    assert_eq!(super::concat_list_refusal(plain), None);
    for directive in [
        "inpoint 1",
        "outpoint 2",
        "duration 3",
        "option x y",
        "stream",
    ] {
        let list = format!("file 'a.mp4'\n{directive}\n");
        let why = super::concat_list_refusal(&list).unwrap_or_default();
        assert!(
            why.contains(directive.split(' ').next().unwrap()),
            "{directive}"
        );
    }
}
