//! SIGTERM during a local encode: once (stop and clean up) or twice in quick succession
//! (leave at once): no ffmpeg of the run survives, even when `ffmpeg_bin` is a script that
//! runs ffmpeg as its child, and the exit code is ffmpeg's 255.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Processes (not zombies) whose command line contains `needle`.
fn running(needle: &str) -> Vec<String> {
    let out = Command::new("pgrep").args(["-f", needle]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn interrupt_local_encode(signals: usize) {
    let e = Env::new();
    // a script that runs ffmpeg as its child instead of exec'ing it
    let script = e.path("ffmpeg-wrapper.sh");
    write_script(&script, "#!/bin/sh\nffmpeg \"$@\"\n");
    let config = format!(
        r#"{{"ffmpeg_bin": "{}", "local_slots": 1}}"#,
        script.display()
    );
    std::fs::write(e.path("no-config.json"), config).unwrap();
    let src = e.x264_clip("in.mp4", 20.0, "testsrc2=size=640x360:rate=24", 48);
    let cache = e.p("cache");
    let mut child = e
        .isolate(&mut Command::new(assert_cmd::cargo::cargo_bin(
            "distrffmpeg",
        )))
        .args(["-y", "-i", &src, "-c:v", "libx264", "-preset", "veryslow"])
        .arg("out.mkv")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // the chunk encode runs (the script and its ffmpeg both name the chunk in the cache)
    let encoding = format!("{cache}.*enc-");
    wait_for("an encode to start", 60, || running(&encoding).len() >= 2);
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    for _ in 0..signals {
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let t = Instant::now();
    let mut left = running(&cache);
    while !left.is_empty() && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
        left = running(&cache);
    }
    for p in &left {
        let _ = Command::new("kill").args(["-KILL", p]).status();
    }
    assert!(
        left.is_empty(),
        "{signals} SIGTERM: processes of the run survived: {left:?}"
    );
    assert_eq!(status.code(), Some(255));
    assert!(!e.path("out.mkv").exists());
}

#[test]
fn sigterm_kills_the_local_ffmpeg_started_by_a_script() {
    interrupt_local_encode(1);
}

#[test]
fn a_second_sigterm_still_kills_the_local_ffmpeg() {
    interrupt_local_encode(2);
}
