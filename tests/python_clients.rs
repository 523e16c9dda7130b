//! Real clients of ffmpeg through a symlink named `ffmpeg`: a script with the regexes ffpb,
//! ffmpeg-progress-yield and ab-av1 read stderr with, and ffmpeg-python,
//! ffmpeg-progress-yield and ffpb themselves (`.ci/run` installs them).

mod common;
use common::*;
use std::process::Stdio;

/// Runs a Python client script with the symlink first on PATH and a config with small
/// chunks (clients pass no `-df_` options); its stdout.
fn python(e: &Env, script: &str, args: &[&str]) -> String {
    std::fs::write(
        e.path("clients.json"),
        r#"{"segment_frames": 24, "keyint_min": 12, "keyint_max": 48}"#,
    )
    .unwrap();
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(e.dir.path())
        .env("PATH", e.symlink_path())
        .env("DISTRFFMPEG_CONFIG", e.path("clients.json"))
        .env("XDG_CACHE_HOME", e.path("cache"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(
        !err.contains("ModuleNotFoundError"),
        "install the Python clients first (.ci/run does): pip install ffmpeg-python \
         ffmpeg-progress-yield ffpb\n{err}"
    );
    assert!(o.status.success(), "{err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The regexes ffpb, ffmpeg-progress-yield and ab-av1 read ffmpeg's stderr with, over
/// stderr read as it arrives, split at `\r` and `\n` as ffpb splits it.
const REGEX_CLIENT: &str = r#"
import re, subprocess, sys, json
dur_rx = re.compile(r"Duration: (\d{2}):(\d{2}):(\d{2})\.(\d{2})")
time_rx = re.compile(r"time=(\d{2}):(\d{2}):(\d{2})\.(\d{2})")
frame_rx = re.compile(r"^frame=")
secs = lambda m: int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) + int(m[4]) / 100
p = subprocess.Popen(["ffmpeg"] + sys.argv[1:], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
duration, times, frames, line = None, [], 0, b""
while True:
    c = p.stderr.read(1)
    if not c:
        break
    if c in b"\r\n":
        l = line.decode(errors="replace")
        line = b""
        m = dur_rx.search(l)
        if m and duration is None:
            duration = secs(m)
        m = time_rx.search(l)
        if m:
            times.append(secs(m))
        if frame_rx.search(l):
            frames += 1
    else:
        line += c
print(json.dumps({"rc": p.wait(), "duration": duration, "times": times, "frames": frames}))
"#;

#[test]
fn a_script_with_the_clients_regexes_sees_ffmpegs_progress() {
    let e = Env::new();
    let src = e.make(
        "in.mp4",
        6.0,
        "testsrc2=size=640x360:rate=25",
        &with(&[&lavfi("sine"), &X264, &["-c:a", "aac"]]),
    );
    let out = python(
        &e,
        REGEX_CLIENT,
        &[
            "-y",
            "-stats_period",
            "0.1",
            "-i",
            &src,
            "-c:v",
            "libx264",
            "-preset",
            "slow",
            "-c:a",
            "libopus",
            "out.mkv",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rc"], 0, "{out}");
    assert_eq!(v["duration"].as_f64(), Some(6.0), "{out}");
    let times: Vec<f64> = v["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert!(times.len() >= 4, "progress steps: {out}");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{out}");
    assert!(
        *times.last().unwrap() >= 5.9 && times.iter().any(|&t| t > 0.0 && t < 5.0),
        "{out}"
    );
    assert!(v["frames"].as_u64().unwrap() >= 4, "{out}");
    assert!(stderr_free_of_wall_clock(&times));
}

/// A time= that grows like the wall clock would pass 6 s only on a slow run; the media
/// position never does.
fn stderr_free_of_wall_clock(times: &[f64]) -> bool {
    times.iter().all(|&t| t <= 6.1)
}

#[test]
fn real_python_clients_work_through_the_symlink() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 4.0, 30, 0);
    // ffmpeg-python's main pattern: a linear -filter_complex chain mapped by label
    let script = r#"
import ffmpeg, sys
(ffmpeg.input(sys.argv[1]).filter("scale", 160, -2)
    .output(sys.argv[2], vcodec="ffv1", g=1)
    .overwrite_output().run())
"#;
    python(&e, script, &[&src, "py.mkv"]);
    e.ffmpeg(&[
        "-i",
        &src,
        "-filter_complex",
        "[0]scale=160:-2[s0]",
        "-map",
        "[s0]",
        "-c:v",
        "ffv1",
        "-g",
        "1",
        "plain.mkv",
    ]);
    assert_eq!(framemd5(&e.path("py.mkv")), framemd5(&e.path("plain.mkv")));
    assert_same(&e.path("plain.mkv"), &e.path("py.mkv"));
    // ffmpeg-progress-yield: percentages from Duration and time=
    let script = r#"
import sys, json
from ffmpeg_progress_yield import FfmpegProgress
ff = FfmpegProgress(["ffmpeg"] + sys.argv[1:])
print(json.dumps(list(ff.run_command_with_progress())))
"#;
    let args = [
        "-y",
        "-stats_period",
        "0.05",
        "-i",
        &src,
        "-c:v",
        "libx264",
        "-preset",
        "veryslow",
        "-c:a",
        "libopus",
        "fpy.mkv",
    ];
    let steps: Vec<f64> = serde_json::from_str(python(&e, script, &args).trim()).unwrap();
    assert!(steps.len() >= 4, "ffmpeg-progress-yield saw {steps:?}");
    assert_eq!(*steps.last().unwrap(), 100.0);
    assert!(steps.iter().any(|&p| p > 0.0 && p < 100.0), "{steps:?}");
    // ffpb: its tqdm bar gets the total from Duration and moves with time=
    let script = r#"
import sys, json, ffpb
from tqdm import tqdm
seen = {"total": None, "n": []}
class Bar(tqdm):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        seen["total"] = self.total
    def update(self, n=1):
        super().update(n)
        seen["n"].append(self.n)
rc = ffpb.main(argv=sys.argv[1:], tqdm=Bar)
print(json.dumps({"rc": rc, **seen}))
"#;
    let out = python(&e, script, &args);
    let v: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert_eq!(v["rc"], 0, "{out}");
    // in frames: Duration times the input stream's fps
    assert_eq!(v["total"], 120, "{out}");
    let n: Vec<u64> = v["n"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert!(
        n.iter().any(|&n| n > 0 && n < 120),
        "ffpb's bar moved: {out}"
    );
    assert_eq!(n.last(), Some(&120), "{out}");
}
