//! Command-line behaviour: passthrough to ffmpeg, exit codes, and one clear line for bad input.

mod common;
use common::*;

#[test]
fn version_passes_through() {
    let e = Env::new();
    let o = e.distr_ok(["-version"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ffmpeg version"));
}

#[test]
fn passthrough_keeps_ffmpeg_exit_code_and_output() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    // -c:v copy is not distributed: ffmpeg itself writes the file
    let o = e.distr_ok(["-i", &src, "-c", "copy", "copy.mkv"]);
    assert!(stderr(&o).contains("passing the command to ffmpeg unchanged"));
    assert_eq!(video_frames(&e.path("copy.mkv")), 30);
    // ffmpeg's own failure code comes back unchanged
    let o = e.distr_output(["-i", &src, "-c:v", "copy", "-bogus_option", "1", "x.mkv"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn missing_or_bad_inputs_are_one_clear_line() {
    let e = Env::new();
    std::fs::write(e.path("notes.txt"), "not a video").unwrap();
    std::fs::create_dir(e.path("adir")).unwrap();
    let cases = [
        ("missing.mp4", "missing.mp4: No such file or directory"),
        ("adir", "adir: Is a directory"),
        ("notes.txt", "notes.txt"),
    ];
    for (input, msg) in cases {
        let o = e.distr_output(["-i", input, "-c:v", "libx264", "out.mkv"]);
        assert_eq!(o.status.code(), Some(1), "{input}");
        let err = stderr(&o);
        assert!(err.contains(msg), "{input}: {err}");
        assert_eq!(
            err.lines()
                .filter(|l| l.starts_with("distrffmpeg:"))
                .count(),
            1,
            "{err}"
        );
        assert!(!e.path("out.mkv").exists());
    }
}

#[test]
fn existing_output_is_never_overwritten_without_y() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    std::fs::write(e.path("out.mkv"), "keep me").unwrap();
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = extra.to_vec();
        a.extend(x264(&src, &["out.mkv"]));
        e.distr().args(&a).write_stdin("").output().unwrap()
    };
    let o = run(&[]);
    assert_fails_with(&o, 1, "Not overwriting - exiting");
    let o = run(&["-n"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists. Exiting."));
    let o = run(&["-nostdin"]);
    assert!(stderr(&o).contains("already exists. Exiting."));
    assert_eq!(
        std::fs::read_to_string(e.path("out.mkv")).unwrap(),
        "keep me"
    );
    let o = run(&["-y"]);
    assert_ok(&o);
    assert_eq!(video_frames(&e.path("out.mkv")), 30);
    // no temporary files are left next to the output
    let leftovers: Vec<_> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .filter_map(|d| d.ok())
        .filter(|d| d.file_name().to_string_lossy().contains("distrffmpeg"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn output_in_a_missing_directory() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    let o = e.distr_output(["-i", &src, "-c:v", "libx264", "nodir/out.mkv"]);
    assert_fails_with(&o, 1, "nodir/out.mkv: No such file or directory");
}

#[test]
fn df_options_are_checked() {
    let e = Env::new();
    let o = e.distr_output(["-df_bogus=1", "-version"]);
    assert_fails_with(&o, 1, "unknown option -df_bogus");
    let o = e.distr_output(["-df_keyint_max=many", "-version"]);
    assert_fails_with(&o, 1, "-df_keyint_max=many: invalid value");
    let o = e.distr_ok(["-df_help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("-df_dry_run"));
}

#[test]
fn malformed_config_names_line_and_column() {
    let e = Env::new();
    std::fs::write(
        e.path("no-config.json"),
        "{\n  \"segment_frames\": 600,\n  oops\n}",
    )
    .unwrap();
    let o = e.distr_output(["-version"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("line 3 column"), "{err}");
}

#[test]
fn unknown_encoder_fails_with_ffmpegs_message() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    let o = e.distr_output(["-i", &src, "-c:v", "libnope", "out.mkv"]);
    assert_fails_with(&o, 1, "Unknown encoder 'libnope'");
    assert!(!e.path("out.mkv").exists());
}

#[test]
fn ffmpeg_refusals_are_kept() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    let before = std::fs::read(&src).unwrap();
    // the output is the input
    let o = e.distr_output(["-y", "-i", "in.mp4", "-c:v", "libx264", "in.mp4"]);
    assert_fails_with(&o, 1, "same as Input #0");
    assert_eq!(
        std::fs::read(&src).unwrap(),
        before,
        "the input is untouched"
    );
    // -y and -n together
    std::fs::write(e.path("out.mkv"), "keep me").unwrap();
    let o = e.distr_output(["-y", "-n", "-i", &src, "-c:v", "libx264", "out.mkv"]);
    assert_fails_with(&o, 1, "both -y and -n");
    assert_eq!(std::fs::read(e.path("out.mkv")).unwrap(), b"keep me");
    // a log level ffmpeg does not know: ffmpeg's own refusal
    let o = e.distr_output(["-loglevel", "bogus", "-i", &src, "-c:v", "libx264", "x.mkv"]);
    assert_fails_with(&o, 1, "Invalid loglevel");
    // -v quiet: an error is only the exit code, as with ffmpeg
    let o = e.distr_output([
        "-v",
        "quiet",
        "-i",
        "missing.mp4",
        "-c:v",
        "libx264",
        "x.mkv",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "");
    assert!(!e.path("x.mkv").exists());
}

#[test]
fn dry_run_never_runs_a_passed_through_command() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    let o = e.distr_ok(["-df_dry_run", "-i", &src, "-c:v", "copy", "copy.mkv"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("passthrough: "), "{out}");
    assert!(out.contains("FFMPEG ") && out.contains("copy.mkv"), "{out}");
    assert!(!e.path("copy.mkv").exists());
}

#[test]
fn a_value_that_starts_with_df_reaches_ffmpeg() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    std::fs::rename(&src, e.path("-df_a.mp4")).unwrap();
    // passed through (-c copy): ffmpeg receives the input name and the metadata value
    let args = ["-i", "-df_a.mp4", "-c", "copy", "-metadata", "title=x"];
    let mut plain = args.to_vec();
    plain.extend(["-metadata", "-df_b=1", "plain.mkv"]);
    e.ffmpeg(&plain);
    let o = e
        .distr()
        .args(args)
        .args(["-metadata", "-df_b=1", "-y", "ours.mkv"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_same(&e.path("plain.mkv"), &e.path("ours.mkv"));
    // distributed: the input is read from that name
    e.distr_ok(quick_x264("-df_a.mp4", "dist.mkv"));
    assert_eq!(video_frames(&e.path("dist.mkv")), 30);
}

#[test]
fn config_errors_name_the_key_and_touch_nothing() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    std::fs::write(e.path("out.mkv"), "keep me").unwrap();
    for (config, key) in [
        (
            r#"{"workers": [{"host": "h", "params": {"prot": 2222}}]}"#,
            "workers[0].params.prot",
        ),
        (
            r#"{"workers": [{"host": "h", "slots": "x"}]}"#,
            "workers[0].slots",
        ),
        (r#"{"server_work_path": "/"}"#, "server_work_path"),
        (
            r#"{"workers": [{"host": "h", "work_path": ""}]}"#,
            "workers[0].work_path",
        ),
        (r#"{"work_dir": "/"}"#, "work_dir"),
    ] {
        std::fs::write(e.path("no-config.json"), config).unwrap();
        let o = e.distr_output(quick_x264(&src, "out.mkv"));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{config}: {err}");
        assert_eq!(err.lines().count(), 1, "{config}: {err}");
        assert!(err.contains(key), "{config}: {err}");
        for rust in ["untagged", "usize", "u16", "struct "] {
            assert!(!err.contains(rust), "{config}: {err}");
        }
        assert_eq!(std::fs::read(e.path("out.mkv")).unwrap(), b"keep me");
    }
}

#[test]
fn image_sequences_encoder_multipass_and_interlaced_flags_run_as_plain_ffmpeg() {
    let e = Env::new();
    common::media::png_sequence(&e, 30);
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let x = ["-c:v", "libx264", "-preset", "ultrafast", "-threads", "1"];
    let with = |head: &[&str], tail: &[&str]| -> Vec<String> {
        head.iter()
            .chain(&x)
            .chain(tail)
            .map(|s| s.to_string())
            .collect()
    };
    let cases = [
        with(
            &["-loop", "1", "-framerate", "24", "-i", "img/%03d.png"],
            &["-t", "2"],
        ),
        with(
            &["-i", &src, "-an"],
            &["-x264-params", "pass=1:stats=x264.log"],
        ),
        with(&["-i", &src, "-an"], &["-flags", "+ildct+ilme"]),
    ];
    for args in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (p, o, log) = e.both_log(&a, "mkv");
        assert!(
            log.contains("passing the command to ffmpeg unchanged"),
            "{a:?}:\n{log}"
        );
        assert_same(&p, &o);
        assert!(framemd5(&p) == framemd5(&o), "{a:?}");
    }
}
