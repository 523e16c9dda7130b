//! Faults and recovery with real sshd workers: Ctrl-C and SIGKILL of distrffmpeg then resume,
//! a worker returning a truncated chunk, a hung worker, losing every worker, bad input.

mod common;
use common::sshd::{first_encode, wrapped, wrapper, Cluster, Sshd};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn encodes(e: &Env) -> usize {
    std::fs::read_to_string(e.path("encodes.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// The distinct chunks encoded by the log lines after the first `skip` (speculative second
/// attempts run the same chunk twice).
fn chunks_encoded(e: &Env, skip: usize) -> usize {
    let log = std::fs::read_to_string(e.path("encodes.log")).unwrap_or_default();
    let names: std::collections::HashSet<String> = log
        .lines()
        .skip(skip)
        .filter_map(|l| l.split_whitespace().find(|w| w.contains("src-")))
        .map(|w| w.rsplit('/').next().unwrap_or(w).to_string())
        .collect();
    names.len()
}

fn spawn(e: &Env, args: &[&str]) -> Child {
    e.distr_process().args(args).spawn().unwrap()
}

/// The job's resume manifest, once one exists.
fn manifest(e: &Env) -> Option<PathBuf> {
    let jobs = e.path("cache/distrffmpeg/jobs");
    std::fs::read_dir(jobs)
        .ok()?
        .filter_map(|d| d.ok())
        .map(|d| d.path().join("manifest.json"))
        .find(|p| p.exists())
}

fn done_chunks(path: &Path) -> usize {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c.is_null())
        .count()
}

/// Whether a process whose command line matches `pattern` runs. Tests run in parallel: the
/// pattern must name this test's own processes (its workers' work dir, its own sleep).
fn ffmpeg_running(pattern: &str) -> bool {
    !Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap()
        .stdout
        .is_empty()
}

fn planned(e: &Env, args: &[&str]) -> usize {
    let mut a = vec!["-df_dry_run"];
    a.extend_from_slice(args);
    let o = e.distr_output(&a);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("chunk "))
        .count()
}

fn interrupt_then_resume(signal: &str) {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    let extra = wrapped(&e, "slow.sh", "exec ffmpeg -re \"$@\"");
    c.write_config(&e, "", &[&extra, &extra]);
    let src = e.av_clip("in.mp4", 6.0, 24, 2);
    let args = x264_copy(&src, "out.mkv");
    let total = planned(&e, &args);
    assert!(total >= 5, "{total} chunks");
    let child = spawn(&e, &args);
    wait_for("a finished chunk", 60, || {
        manifest(&e).is_some_and(|m| done_chunks(&m) >= 1)
    });
    // the remote job directory is private while it exists
    let job_dir = std::fs::read_dir(&c.servers[0].work)
        .unwrap()
        .filter_map(|d| d.ok())
        .find(|d| d.file_name().to_string_lossy().starts_with("dfjob-"))
        .unwrap()
        .path();
    assert_eq!(
        std::fs::metadata(&job_dir)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .ok(),
        Some(0o700)
    );
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    if signal != "-KILL" {
        assert_eq!(out.status.code(), Some(255), "{err}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
    }
    wait_for("remote encodes to die", 2, || {
        c.servers
            .iter()
            .all(|s| !ffmpeg_running(&s.work.to_string_lossy()))
    });
    if signal != "-KILL" {
        c.assert_clean();
    }
    assert!(
        !e.path("out.mkv").exists(),
        "no output after an interrupted run"
    );
    let kept = done_chunks(&manifest(&e).expect("manifest kept for resume"));
    let before = encodes(&e);
    // options that only change how ffmpeg talks to the user keep the job the same
    let mut again = vec!["-nostats", "-hide_banner", "-v", "info"];
    again.extend_from_slice(&args);
    let o = e.distr_ok(&again);
    assert!(
        stderr(&o).contains(&format!("resuming: {kept} of {total}")),
        "{}",
        stderr(&o)
    );
    let redone = chunks_encoded(&e, before);
    assert_eq!(
        redone,
        total - kept,
        "only the unfinished chunks are encoded again: {}",
        stderr(&o)
    );
    assert!(
        manifest(&e).is_none(),
        "the work dir is removed after success"
    );
    let plain = e.p("plain.mkv");
    e.ffmpeg(&x264_copy(&src, &plain));
    assert_same(Path::new(&plain), &e.path("out.mkv"));
}

#[test]
fn ctrl_c_stops_everything_and_the_rerun_resumes() {
    interrupt_then_resume("-INT");
}

#[test]
fn sigkill_then_rerun_resumes() {
    interrupt_then_resume("-KILL");
}

#[test]
fn sigterm_stops_everything_and_the_rerun_resumes() {
    interrupt_then_resume("-TERM");
}

/// Local slots with a slow ffmpeg: interrupt after the first finished chunk (from a clean
/// cache, so only this job's work dir exists).
fn interrupted_local_run(e: &Env, args: &[&str]) {
    let _ = std::fs::remove_dir_all(e.path("cache"));
    let child = spawn(e, args);
    wait_for("a finished chunk", 60, || {
        manifest(e).is_some_and(|m| done_chunks(&m) >= 1)
    });
    let busy = e.distr_output(args);
    assert_eq!(busy.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&busy.stderr)
            .contains("another distrffmpeg is running this same job"),
        "a second run of the same command must not share the work dir: {}",
        String::from_utf8_lossy(&busy.stderr)
    );
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(255));
}

#[test]
fn resume_is_keyed_on_the_input_and_the_command() {
    let e = Env::new();
    let slow = wrapper(&e, "slow.sh", "sleep 1");
    std::fs::write(
        e.path("no-config.json"),
        format!(
            r#"{{"ffmpeg_bin": "{}", "local_slots": 1, "segment_frames": 24, "keyint_min": 12, "keyint_max": 48}}"#,
            slow.display()
        ),
    )
    .unwrap();
    let src = e.av_clip("in.mp4", 4.0, 24, 0);
    let args = quick_x264(&src, "out.mkv");
    let resumed = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", stderr(o));
        stderr(o).contains("resuming:")
    };
    // another command (here -crf) is another job
    interrupted_local_run(&e, &args);
    let mut other = args.to_vec();
    other.splice(3..3, ["-crf", "30"]);
    assert!(!resumed(&e.distr_output(&other)));
    // a changed input is another job
    interrupted_local_run(&e, &args);
    std::thread::sleep(Duration::from_millis(20));
    e.ffmpeg(&[
        "-i",
        &src,
        "-c",
        "copy",
        "-metadata",
        "title=new",
        &e.p("in2.mp4"),
    ]);
    std::fs::rename(e.path("in2.mp4"), &src).unwrap();
    assert!(!resumed(&e.distr_output(args)));
    // -df_resume=false starts fresh; the same command resumes
    interrupted_local_run(&e, &args);
    let mut fresh = vec!["-df_resume=false"];
    fresh.extend_from_slice(&args);
    assert!(!resumed(&e.distr_output(&fresh)));
    interrupted_local_run(&e, &args);
    assert!(resumed(&e.distr_output(args)));
    assert!(
        manifest(&e).is_none(),
        "work dirs are removed after success"
    );
}

#[test]
fn truncated_chunk_is_caught_and_encoded_again() {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    // Worker 0's first encode returns a file cut in half.
    let (flag, body) = first_encode(
        &e,
        "truncated-once",
        "ffmpeg \"$@\"; s=$?; for o; do :; done; truncate -s 50% \"$o\"; exit $s",
    );
    c.write_config(&e, "", &[&wrapped(&e, "truncating.sh", &body)]);
    let src = e.av_clip("in.mp4", 3.0, 24, 2);
    let (p, o) = e.both(&x264(&src, &["-an"]), "mkv");
    assert!(flag.exists(), "the bad encode happened");
    assert_same(&p, &o);
}

#[test]
fn hung_worker_is_abandoned_after_stall_timeout() {
    let e = Env::new();
    // One worker (two slots, so no second worker races the hung chunk): its first encode hangs.
    let c = Cluster::start(&e, 1);
    let (_, body) = first_encode(&e, "hung-once", "exec sleep 600.1");
    let hang = wrapper(&e, "hang.sh", &body);
    let extra = format!(r#", "ffmpeg_bin": "{}", "slots": 2"#, hang.display());
    c.write_config(&e, r#", "stall_timeout": 2"#, &[&extra]);
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let t = Instant::now();
    let o = e.distr_output(quick_x264(&src, "out.mkv"));
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("no progress for 2s"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(60));
    wait_for("the hung process to be killed", 3, || {
        !ffmpeg_running("sleep 600.1")
    });
    assert_eq!(video_frames(&e.path("out.mkv")), 60);
}

#[test]
fn idle_workers_race_a_straggler() {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    // Worker 0 never finishes; worker 1 runs a second attempt of its chunk and wins.
    c.write_config(&e, "", &[&wrapped(&e, "hang.sh", "exec sleep 600.2")]);
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let t = Instant::now();
    let (p, o) = e.both(&x264(&src, &["-an"]), "mkv");
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "did not wait for the 120 s stall timeout"
    );
    assert_same(&p, &o);
    wait_for("the losing attempt to be killed", 3, || {
        !ffmpeg_running("sleep 600.2")
    });
}

/// After a failed job (nothing written), `-df_fallback_local` finishes the same job locally.
fn fallback_local_finishes(e: &Env, args: &[&str]) {
    assert!(!e.path("out.mkv").exists());
    e.distr_ok(with(&[&["-df_fallback_local"], args]));
    assert_eq!(video_frames(&e.path("out.mkv")), 60);
}

#[test]
fn losing_every_worker_fails_clearly_or_falls_back_to_local() {
    let e = Env::new();
    let mut c = Cluster::configured(&e, 2);
    for s in c.servers.iter_mut() {
        s.kill();
    }
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let args = quick_x264(&src, "out.mkv");
    let o = e.distr_output(args);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("no usable worker"), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("skipping worker"))
            .count(),
        2,
        "{err}"
    );
    fallback_local_finishes(&e, &args);
}

#[test]
fn workers_lost_during_the_job_fail_clearly_or_fall_back_to_local() {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    // every remote encode crashes: each worker strikes out after it was accepted
    let extra = wrapped(&e, "crash.sh", "kill -SEGV $$");
    c.write_config(&e, "", &[&extra, &extra]);
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let args = quick_x264(&src, "out.mkv");
    let o = e.distr_output(args);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("all workers failed"), "{err}");
    // the crash (SIGSEGV, exit status 139) is named in the final line
    assert!(
        err.lines().last().unwrap_or("").contains("exit status 139"),
        "{err}"
    );
    fallback_local_finishes(&e, &args);
}

#[test]
fn empty_and_truncated_inputs_are_one_clear_line() {
    let e = Env::new();
    std::fs::write(e.path("empty.mp4"), "").unwrap();
    let o = e.distr_output(["-i", "empty.mp4", "-c:v", "libx264", "out.mkv"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("empty.mp4"), "{err}");
    assert!(!e.path("out.mkv").exists());
    // the first half of a real file
    let src = e.av_clip("whole.mp4", 2.0, 30, 0);
    let bytes = std::fs::read(&src).unwrap();
    std::fs::write(e.path("half.mp4"), &bytes[..bytes.len() / 2]).unwrap();
    let o = e.distr_output(["-i", "half.mp4", "-c:v", "libx264", "out.mkv"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("half.mp4"), "{err}");
    assert!(!e.path("out.mkv").exists());
}

#[test]
fn full_disk_and_crashing_ffmpeg_are_retried_elsewhere() {
    let e = Env::new();
    let c = Cluster::start(&e, 3);
    // Worker 0's work dir is a 32 KiB disk: every upload runs out of space.
    let _disk = Tmpfs::mount(c.servers[0].work.clone(), "32k");
    // Worker 1's ffmpeg dies of SIGSEGV on its first encode.
    let (flag, body) = first_encode(&e, "crashed-once", "kill -SEGV $$");
    c.write_config(&e, "", &["", &wrapped(&e, "crash.sh", &body)]);
    let src = e.av_clip("in.mp4", 4.0, 24, 2);
    let (p, o, log) = e.both_log(&x264(&src, &["-c:a", "aac"]), "mkv");
    assert_same(&p, &o);
    assert!(flag.exists(), "the crash happened");
    let failed = |w: &Sshd| {
        log.lines()
            .any(|l| l.contains("failed on") && l.contains(&format!(":{}", w.port)))
    };
    assert!(
        failed(&c.servers[0]),
        "no upload failed on the full disk:\n{log}"
    );
    assert!(failed(&c.servers[1]), "the crash was not reported:\n{log}");
    assert!(
        log.contains("no space left on device"),
        "the full disk is not named:\n{log}"
    );
}

#[test]
fn a_bad_audio_option_stops_the_job_before_the_video_is_encoded() {
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    // Each encode hangs for 30 s: the audio error comes long before the last chunk.
    c.write_config(&e, "", &[&wrapped(&e, "slow.sh", "exec sleep 30.3")]);
    let src = e.av_clip("in.mp4", 4.0, 24, 0);
    let args = with(&[
        &["-y"],
        &x264(&src, &["-c:a", "aac", "-b:a", "nonsense", "out.mkv"]),
    ]);
    let n = planned(&e, &args);
    assert!(n >= 3, "{n} chunks");
    let out = e.distr_output(args);
    assert_fails_with(&out, 1, "encoding the audio");
    assert!(
        stderr(&out).contains("Error setting option b"),
        "{}",
        stderr(&out)
    );
    assert!(
        encodes(&e) < n,
        "{} of {n} chunks were encoded",
        encodes(&e)
    );
    assert!(!e.path("out.mkv").exists());
    wait_for("the running encode to be killed", 3, || {
        !ffmpeg_running("sleep 30.3")
    });
}
