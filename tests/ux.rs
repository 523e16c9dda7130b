//! What users see: progress output on and off a terminal, `-progress`, `-df_check`, the
//! `ffmpeg` symlink mode, and `-version`.

mod common;
use common::sshd::Cluster;
use common::*;

#[test]
fn ffmpegs_stats_lines_without_a_terminal() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    let o = e.distr_ok(quick_x264(&src, "out.mkv"));
    let err = stderr(&o);
    assert!(
        !err.contains('\u{1b}'),
        "no escape codes off a terminal: {err:?}"
    );
    let last = err
        .split(['\r', '\n'])
        .rfind(|l| l.contains("frame="))
        .expect(&err)
        .to_string();
    assert!(last.starts_with("frame=   60 fps="), "{last}");
    assert!(last.contains(" Lsize="), "{last}");
    // -nostats keeps only the last report, -v error silences it too (as ffmpeg)
    for (flags, last_report) in [(&["-nostats"][..], true), (&["-v", "error"], false)] {
        let mut args = vec!["-y"];
        args.extend(flags);
        args.extend(x264(&src, &["out.mkv"]));
        let o = e.distr_output(&args);
        assert!(o.status.success());
        let err = stderr(&o);
        assert!(!err.contains('\r'), "{flags:?}: {err}");
        assert_eq!(err.contains("Lsize="), last_report, "{flags:?}: {err}");
    }
}

#[test]
fn progress_bars_on_a_terminal() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    let bin = assert_cmd::cargo::cargo_bin("distrffmpeg");
    let cmd = format!(
        "{} -y -i {} -c:v libx264 -preset ultrafast out.mkv",
        bin.display(),
        src
    );
    // util-linux `script` runs the command on a pseudo-terminal and records what it drew.
    let o = e
        .isolate(&mut std::process::Command::new("script"))
        .args(["-qefc", &cmd, "/dev/null"])
        .output()
        .expect("script (util-linux)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(screen.contains("60/60 frames"), "{screen}");
    assert!(screen.contains('\u{1b}'), "drawn with escape codes");
    assert!(screen.contains("chunks"), "{screen}");
    // one line per worker slot under the bar, and the final figures once the bars are gone
    assert!(
        screen.contains("local") && screen.contains("chunk    0"),
        "{screen}"
    );
    assert!(
        screen.contains("frame=60/60") && screen.contains(" done"),
        "{screen}"
    );
    assert_eq!(video_frames(&e.path("out.mkv")), 60);
}

#[test]
fn progress_file_gets_ffmpeg_style_blocks() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    e.distr_ok(with(&[
        &["-y", "-progress", "prog.txt"],
        &x264(&src, &["out.mkv"]),
    ]));
    let text = std::fs::read_to_string(e.path("prog.txt")).unwrap();
    assert!(text.trim_end().ends_with("progress=end"), "{text}");
    let last_block = text.trim_end().rsplit("progress=").nth(1).unwrap_or("");
    assert!(last_block.contains("frame=60\n"), "{text}");
    assert!(
        text.contains("out_time_us=") && text.contains("total_size=") && text.contains("speed=")
    );
}

#[test]
fn check_lists_workers_and_fails_when_none_is_usable() {
    let e = Env::new();
    let mut c = Cluster::start(&e, 3);
    // worker 2's ffmpeg does not run: the dir its probe created must not stay behind
    c.write_config(
        &e,
        "",
        &["", "", r#", "ffmpeg_bin": "/nonexistent/ffmpeg""#],
    );
    c.servers[1].kill();
    let o = e.distr_output(["-df_check", "-c:v", "libx264"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "one worker is up: {out}{}", stderr(&o));
    let up = format!("127.0.0.1:{}", c.servers[0].port);
    let down = format!("127.0.0.1:{}", c.servers[1].port);
    let line_up = out.lines().find(|l| l.contains(&up)).expect(&out);
    assert!(
        line_up.contains(" ok ") && line_up.contains("yes") && line_up.contains("ffmpeg version"),
        "{line_up}"
    );
    let line_down = out.lines().find(|l| l.contains(&down)).expect(&out);
    assert!(line_down.contains("FAIL"), "{line_down}");
    let broken = format!("127.0.0.1:{}", c.servers[2].port);
    let line_broken = out.lines().find(|l| l.contains(&broken)).expect(&out);
    assert!(
        line_broken.contains("FAIL") && line_broken.contains("does not run"),
        "{line_broken}"
    );
    let o = e.distr_output(["-df_check=json", "-c:v", "libnope"]);
    assert_eq!(o.status.code(), Some(1), "no worker has the encoder");
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(rows[0]["encoder"], serde_json::Value::Bool(false));
    assert_eq!(rows[1]["ok"], serde_json::Value::Bool(false));
    assert_eq!(rows[2]["ok"], serde_json::Value::Bool(false));
    // no remote directories are left behind by the check
    for s in [&c.servers[0], &c.servers[2]] {
        let left = common::sshd::leftovers(&s.work);
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn works_as_a_symlink_named_ffmpeg() {
    let e = Env::new();
    let path = e.symlink_path();
    let bin_dir = e.path("bin");
    let run = |args: &[&str]| {
        e.isolate(&mut std::process::Command::new("ffmpeg"))
            .args(args)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    // information commands print exactly what the real ffmpeg prints, nothing more
    for info in [
        &["-version"][..],
        &["-hide_banner", "-encoders"],
        &["-h", "encoder=libx264"],
    ] {
        let o = run(info);
        let real = std::process::Command::new("ffmpeg")
            .args(info)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), real.status.code(), "{info:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&real.stdout),
            "{info:?}"
        );
    }
    let o = run(&["-df_version"]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("distrffmpeg "),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // a reader that stops early is not a panic, under pipefail, however often it is tried
    for _ in 0..20 {
        let o = std::process::Command::new("bash")
            .args([
                "-c",
                "set -o pipefail; ffmpeg -version | head -1; ffmpeg -df_help | head -1; ffmpeg -df_version | head -c 3",
            ])
            .current_dir(e.dir.path())
            .env("PATH", &path)
            .env("DISTRFFMPEG_CONFIG", e.path("no-config.json"))
            .output()
            .unwrap();
        assert_ok(&o);
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    let o = run(&quick_x264(&src, "out.mkv"));
    assert_ok(&o);
    assert!(
        stderr(&o).contains("frames in"),
        "distributed through the symlink: {}",
        stderr(&o)
    );
    assert_eq!(video_frames(&e.path("out.mkv")), 60);
    // ffmpeg_bin naming the symlink itself is refused
    std::fs::write(
        e.path("self.json"),
        format!(
            r#"{{"ffmpeg_bin": "{}"}}"#,
            bin_dir.join("ffmpeg").display()
        ),
    )
    .unwrap();
    let o = std::process::Command::new("ffmpeg")
        .args(["-i", &src, "-f", "null", "-"])
        .env("PATH", &path)
        .env("DISTRFFMPEG_CONFIG", e.path("self.json"))
        .output()
        .unwrap();
    assert_fails_with(&o, 1, "is distrffmpeg itself");
}

#[test]
fn a_copy_of_itself_on_path_is_not_run_in_a_loop() {
    let e = Env::new();
    // a copy (not a symlink) named ffmpeg first on PATH, then the symlink: each would find
    // the other as "the real ffmpeg"
    let (copy_dir, link_dir) = (e.path("copy"), e.path("link"));
    std::fs::create_dir(&copy_dir).unwrap();
    std::fs::create_dir(&link_dir).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("distrffmpeg");
    std::fs::copy(&bin, copy_dir.join("ffmpeg")).unwrap();
    std::os::unix::fs::symlink(&bin, link_dir.join("ffmpeg")).unwrap();
    let path = format!("{}:{}", link_dir.display(), copy_dir.display());
    let src = e.av_clip("in.mp4", 1.0, 30, 0);
    let t = std::time::Instant::now();
    let o = std::process::Command::new(link_dir.join("ffmpeg"))
        .args(["-i", &src, "-f", "null", "-"])
        .env("PATH", &path)
        .env("DISTRFFMPEG_CONFIG", e.path("no-config.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("set ffmpeg_bin to the real ffmpeg"),
        "{}",
        stderr(&o)
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn progress_to_stdout_like_ffmpeg() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    let o = e.distr_ok(with(&[
        &["-y", "-progress", "pipe:1", "-nostats"],
        &x264(&src, &["out.mkv"]),
    ]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.trim_end().ends_with("progress=end"), "{text}");
    assert!(text.contains("frame=60\n"), "{text}");
    // -nostats: only ffmpeg's last report on stderr
    let err = stderr(&o);
    assert_eq!(err.matches("frame=").count(), 1, "-nostats: {err}");
    assert!(err.contains(" Lsize="), "-nostats: {err}");
}

#[test]
fn an_encoder_this_ffmpeg_lacks_fails_at_once_as_in_ffmpeg() {
    // the audio is encoded here: plain ffmpeg refuses the command before it reads a frame,
    // where a distributed run would encode the whole video and fail in the final mux
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    let args = [
        "-i",
        src.as_str(),
        "-c:v",
        "libx264",
        "-c:a",
        "libnosuch_aac",
        "out.mkv",
    ];
    let plain = std::process::Command::new("ffmpeg")
        .args(args)
        .current_dir(e.dir.path())
        .output()
        .expect("ffmpeg");
    let o = e.run_distr(&args);
    assert_eq!(o.status.code(), plain.status.code());
    let (ours, theirs) = (
        stderr(&o),
        String::from_utf8_lossy(&plain.stderr).into_owned(),
    );
    assert!(
        theirs.contains("Unknown encoder 'libnosuch_aac'"),
        "{theirs}"
    );
    assert!(ours.contains("Unknown encoder 'libnosuch_aac'"), "{ours}");
    assert!(!ours.contains("chunks on"), "nothing was encoded: {ours}");
    assert!(!e.path("out.mkv").exists());
}
