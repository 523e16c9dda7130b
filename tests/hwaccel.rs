//! Hardware-decoding options with a software encoder, as Tdarr, Jellyfin and scripts write
//! them. There is no GPU here: `-hwaccel auto`/`none` fall back to software in plain ffmpeg
//! too, so the same argv is the oracle; a device that cannot be opened makes plain ffmpeg fail,
//! and distrffmpeg must pass through so ffmpeg prints its own error. With a device (faked by an
//! `ffmpeg_bin` wrapper that accepts the one-frame local check) the job distributes and must
//! equal plain ffmpeg without the hardware options (a hardware decoder's downloaded frames
//! equal the software decoder's), and no worker or final command may carry them. Frames kept in
//! GPU memory, GPU encoders and GPU filters pass through.

mod common;
use common::*;
use std::path::Path;

fn src(e: &Env) -> String {
    e.av_clip("in.mp4", 3.0, 24, 2)
}

/// The run was split into several chunks.
fn assert_split(log: &str, what: &str) {
    let n = chunks_on(log);
    assert!(n.is_some_and(|n| n >= 2), "{what} was not split:\n{log}");
}

/// The dry run's commands (PRE, REMOTE, FINAL lines), or its passthrough line.
fn dry_run(e: &Env, args: &[&str]) -> String {
    dry_stdout(e, &with(&[args, &["dry.mkv"]]))
}

fn assert_no_hw_options(plan: &str) {
    let cmds: Vec<&str> = plan
        .lines()
        .map(str::trim_start)
        .filter(|l| {
            ["PRE", "REMOTE", "FINAL", "AUDIO"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .collect();
    assert!(cmds.len() >= 3, "{plan}");
    for l in cmds {
        for hw in [
            "-hwaccel",
            "-init_hw_device",
            "-vaapi_device",
            "-qsv_device",
            "-filter_hw_device",
        ] {
            assert!(!l.contains(hw), "{hw} in {l}");
        }
    }
}

#[test]
fn hwaccel_auto_and_none_distribute_like_plain_ffmpeg() {
    let e = Env::new();
    let s = src(&e);
    for hw in ["auto", "none"] {
        let head = ["-hwaccel", hw, "-i", s.as_str()];
        for (ext, enc) in [("mkv", &["-c:v", "ffv1"][..]), ("mp4", &X264[..])] {
            let args = with(&[&head, enc]);
            let (p, o, log) = e.both_log(&args, ext);
            assert_split(&log, hw);
            assert_same(&p, &o);
            if ext == "mkv" {
                assert_eq!(framemd5(&p), framemd5(&o), "-hwaccel {hw}: frames");
            }
        }
        assert_no_hw_options(&dry_run(&e, &with(&[&head, &X264])));
    }
}

/// Plain ffmpeg's exit code and distrffmpeg's for the same argv (output appended), and
/// distrffmpeg's stderr.
fn both_codes(e: &Env, args: &[&str]) -> (Option<i32>, Option<i32>, String) {
    let out = e.p("fail.mkv");
    let mut a = vec!["-nostdin", "-y"];
    a.extend_from_slice(args);
    a.push(&out);
    let plain = std::process::Command::new("ffmpeg")
        .args(&a)
        .output()
        .unwrap();
    let ours = e.run_distr(&a);
    (plain.status.code(), ours.status.code(), stderr(&ours))
}

#[test]
fn a_device_that_cannot_be_opened_here_passes_through() {
    let e = Env::new();
    let s = src(&e);
    let i = ["-i", s.as_str()];
    let cases: [&[&str]; 4] = [
        &["-hwaccel", "cuda"],
        &["-hwaccel", "cuda", "-hwaccel_device", "0"],
        // Jellyfin with a software encoder
        &[
            "-init_hw_device",
            "vaapi=va:/dev/dri/renderD128",
            "-hwaccel",
            "vaapi",
        ],
        &["-vaapi_device", "/dev/dri/renderD128", "-hwaccel", "vaapi"],
    ];
    for hw in cases {
        let (plain, ours, log) = both_codes(&e, &with(&[hw, &i, &X264]));
        assert_ne!(plain, Some(0), "plain ffmpeg has a device for {hw:?} here");
        assert_eq!(plain, ours, "{hw:?}: {log}");
        assert!(
            log.contains("the hardware decoding options fail here"),
            "{log}"
        );
        assert!(
            log.contains("Device setup failed") || log.contains("Device creation failed"),
            "ffmpeg's own error: {log}"
        );
    }
}

/// A config whose ffmpeg accepts every command with hardware options (writing it to a log)
/// and runs the real ffmpeg for the rest: a machine with the device.
fn fake_device(e: &Env) -> std::path::PathBuf {
    let log = e.path("hw-calls.log");
    let script = e.path("ffmpeg-with-device");
    let body = format!(
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in -hwaccel|-init_hw_device|-vaapi_device|-qsv_device|-filter_hw_device) echo \"$*\" >> '{}'; exit 0;; esac; done\nexec ffmpeg \"$@\"\n",
        log.display()
    );
    write_script(&script, &body);
    std::fs::write(
        e.path("no-config.json"),
        format!(r#"{{"ffmpeg_bin": "{}"}}"#, script.display()),
    )
    .unwrap();
    log
}

#[test]
fn with_a_device_the_workers_decode_in_software() {
    let e = Env::new();
    let s = src(&e);
    let calls = fake_device(&e);
    let i = ["-i", s.as_str()];
    let cases: [&[&str]; 4] = [
        &["-hwaccel", "cuda"],
        &["-hwaccel", "nvdec", "-hwaccel_device", "0"],
        &[
            "-init_hw_device",
            "vaapi=va:/dev/dri/renderD128",
            "-hwaccel",
            "vaapi",
        ],
        &[
            "-init_hw_device",
            "vaapi=va:/dev/dri/renderD128",
            "-filter_hw_device",
            "va",
            "-hwaccel",
            "vaapi",
            "-hwaccel_device",
            "va",
        ],
    ];
    for hw in cases {
        let _ = std::fs::remove_file(&calls);
        let (plain, ours) = (e.p("plain.mkv"), e.p("ours.mkv"));
        e.ffmpeg(&with(&[&i, &["-c:v", "ffv1"], &[plain.as_str()]]));
        let o = e.run_distr(&with(&[&["-y"], hw, &i, &["-c:v", "ffv1", ours.as_str()]]));
        let log = stderr(&o);
        assert!(o.status.success(), "{hw:?}: {log}");
        assert_split(&log, &format!("{hw:?}"));
        let (p, q) = (Path::new(&plain), Path::new(&ours));
        assert_same(p, q);
        assert_eq!(framemd5(p), framemd5(q), "{hw:?}: frames");
        // only the one-frame local check saw the hardware options
        let seen = std::fs::read_to_string(&calls).unwrap_or_default();
        let lines: Vec<&str> = seen.lines().collect();
        assert_eq!(lines.len(), 1, "{hw:?}: {seen}");
        assert!(lines[0].ends_with("-frames:v 1 -f null -"), "{seen}");
        assert!(lines[0].contains(&hw.join(" ")), "{seen}");
        assert_no_hw_options(&dry_run(&e, &with(&[hw, &i, &X264])));
    }
}

#[test]
fn gpu_frames_encoders_and_filters_pass_through() {
    let e = Env::new();
    let owned = src(&e);
    let s = owned.as_str();
    let _calls = fake_device(&e);
    let i = ["-i", s];
    let cases: [(&[&str], &str); 8] = [
        // Tdarr: NVDEC into GPU memory; libx264 cannot take the frames in plain ffmpeg
        (
            &[
                "-hwaccel",
                "cuda",
                "-hwaccel_output_format",
                "cuda",
                "-i",
                s,
                "-c:v",
                "libx264",
            ],
            "-hwaccel_output_format cuda",
        ),
        (
            &[
                "-hwaccel",
                "cuda",
                "-hwaccel_output_format",
                "cuda",
                "-i",
                s,
                "-c:v",
                "hevc_nvenc",
            ],
            "-hwaccel_output_format cuda",
        ),
        (&["-i", s, "-c:v", "h264_nvenc"], "GPU encoder h264_nvenc"),
        (&["-i", s, "-c:v", "hevc_qsv"], "GPU encoder hevc_qsv"),
        // Jellyfin's full VAAPI pipeline
        (
            &[
                "-init_hw_device",
                "vaapi=va:/dev/dri/renderD128",
                "-filter_hw_device",
                "va",
                "-hwaccel",
                "vaapi",
                "-hwaccel_output_format",
                "vaapi",
                "-i",
                s,
                "-vf",
                "scale_vaapi=w=160:h=120",
                "-c:v",
                "h264_vaapi",
            ],
            "-hwaccel_output_format vaapi",
        ),
        (
            &[
                "-i",
                s,
                "-vf",
                "hwupload_cuda,scale_cuda=160:120,hwdownload",
                "-c:v",
                "libx264",
            ],
            "GPU filter hwupload_cuda",
        ),
        (
            &["-hwaccel", "cuvid", "-i", s, "-c:v", "libx264"],
            "keeps the decoded frames",
        ),
        (
            &["-c:v", "h264_cuvid", "-i", s, "-c:v", "libx264"],
            "hardware decoder h264_cuvid",
        ),
    ];
    for (args, why) in cases {
        let plan = dry_run(&e, args);
        assert!(
            plan.starts_with("passthrough:") && plan.contains(why),
            "{args:?}: {plan}"
        );
    }
    // without the fake device: distrffmpeg exits as plain ffmpeg does
    std::fs::remove_file(e.path("no-config.json")).unwrap();
    let tdarr = with(&[
        &["-hwaccel", "cuda", "-hwaccel_output_format", "cuda"],
        &i,
        &X264,
    ]);
    let (plain, ours, log) = both_codes(&e, &tdarr);
    assert_ne!(plain, Some(0));
    assert_eq!(plain, ours, "{log}");
    let (plain, ours, log) = both_codes(&e, &["-init_hw_device", "list"]);
    assert_eq!((plain, ours), (Some(0), Some(0)), "{log}");
}
