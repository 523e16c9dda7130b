//! Local temporary files: the final output's temp name (unpredictable, created exclusively,
//! fsynced before the rename, an existing output's mode kept, removed by the next run after a
//! SIGKILL) and `-df_transfer_test`'s download file.

mod common;
use common::sshd::Cluster;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn distr_spawn(e: &Env, args: &[&str]) -> std::process::Child {
    e.distr_process()
        .env("TMPDIR", e.path("tmp"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Our temp outputs of `out.mkv` left in the test dir.
fn temp_outputs(e: &Env) -> Vec<String> {
    std::fs::read_dir(e.dir.path())
        .unwrap()
        .filter_map(|d| d.ok())
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out.mkv.distrffmpeg"))
        .collect()
}

#[test]
fn overwriting_keeps_the_mode_of_the_existing_output() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    for name in ["plain.mkv", "ours.mkv"] {
        std::fs::write(e.path(name), "old").unwrap();
        std::fs::set_permissions(e.path(name), std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    e.ffmpeg(&quick_x264(&src, "plain.mkv"));
    e.distr_ok(quick_x264(&src, "ours.mkv"));
    assert_eq!(mode(&e.path("plain.mkv")), 0o640, "plain ffmpeg keeps it");
    assert_eq!(mode(&e.path("ours.mkv")), 0o640);
    assert_eq!(video_frames(&e.path("ours.mkv")), 60);
    // a new output gets what ffmpeg's new file gets (0666 minus the umask)
    e.ffmpeg(&quick_x264(&src, "plain-new.mkv"));
    e.distr_ok(quick_x264(&src, "ours-new.mkv"));
    assert_eq!(
        mode(&e.path("ours-new.mkv")),
        mode(&e.path("plain-new.mkv"))
    );
}

#[test]
fn a_symlink_planted_at_the_temp_name_is_not_followed() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    std::fs::write(e.path("victim"), "precious").unwrap();
    let mut child = distr_spawn(&e, &quick_x264(&src, "out.mkv"));
    // the name a run would use if it were predictable from its process id
    let planted = e.path(&format!(".out.mkv.distrffmpeg-{}.tmp", child.id()));
    std::os::unix::fs::symlink(e.path("victim"), &planted).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(e.path("victim")).unwrap(), b"precious");
    let meta = std::fs::symlink_metadata(e.path("out.mkv")).unwrap();
    assert!(meta.file_type().is_file(), "out.mkv is a file of its own");
    assert_eq!(video_frames(&e.path("out.mkv")), 60);
    assert!(planted.symlink_metadata().is_ok(), "not ours: left alone");
}

#[test]
fn the_temp_output_is_on_disk_before_the_rename() {
    let e = Env::new();
    let have = Command::new("strace").arg("-V").output();
    assert!(
        have.is_ok_and(|o| o.status.success()),
        "strace is required for this test: apt-get install -y strace"
    );
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    let trace = e.path("trace");
    let o = e
        .isolate(&mut Command::new("strace"))
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
        ])
        .arg("-o")
        .arg(&trace)
        .arg(assert_cmd::cargo::cargo_bin("distrffmpeg"))
        .args(quick_x264(&src, "out.mkv"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = std::fs::read_to_string(&trace).unwrap();
    let calls: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(".out.mkv.distrffmpeg"))
        .collect();
    let synced = calls
        .iter()
        .position(|l| l.contains("fsync(") || l.contains("fdatasync("));
    let renamed = calls.iter().position(|l| l.contains("rename"));
    assert!(
        matches!((synced, renamed), (Some(s), Some(r)) if s < r),
        "no fsync of the temp output before its rename:\n{}",
        calls.join("\n")
    );
}

#[test]
fn a_temp_output_left_by_a_killed_run_is_removed_by_the_next_run() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 30, 0);
    // The final mux writes the whole temp output, then hangs: the run is killed right there.
    let flag = e.path("muxed");
    let hang = e.path("hang.sh");
    write_script(
        &hang,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *ffconcat*) ffmpeg \"$@\"; echo $$ > '{f}'; exec sleep 600.9;; esac\nexec ffmpeg \"$@\"\n",
            f = flag.display()
        ),
    );
    let config = format!(r#"{{"ffmpeg_bin": "{}"}}"#, hang.display());
    std::fs::write(e.path("no-config.json"), config).unwrap();
    std::fs::create_dir_all(e.path("tmp")).unwrap();
    let args = quick_x264(&src, "out.mkv");
    let mut child = distr_spawn(&e, &args);
    wait_for("the final mux", 60, || {
        std::fs::read_to_string(&flag).is_ok_and(|s| !s.trim().is_empty())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let sleeper = std::fs::read_to_string(&flag).unwrap();
    let _ = Command::new("kill").arg(sleeper.trim()).status();
    assert_eq!(
        temp_outputs(&e).len(),
        1,
        "the killed run left its temp output"
    );
    assert!(!e.path("out.mkv").exists());
    // a user's file of a similar name is not ours
    std::fs::write(e.path(".out.mkv.distrffmpeg-notes.tmp"), "mine").unwrap();
    std::fs::write(e.path("no-config.json"), "{}").unwrap();
    e.distr_ok(args);
    assert_eq!(video_frames(&e.path("out.mkv")), 60);
    assert_eq!(temp_outputs(&e), [".out.mkv.distrffmpeg-notes.tmp"]);
}

#[test]
fn transfer_test_downloads_to_an_unpredictable_file() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 1);
    let tmp = e.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(e.path("payload.bin"), vec![7u8; 1 << 20]).unwrap();
    for name in ["victim.bin", "victim.part"] {
        std::fs::write(e.path(name), "precious").unwrap();
    }
    let child = distr_spawn(&e, &["-df_transfer_test=payload.bin"]);
    // the names a run would use if they were predictable from its process id
    for ext in ["bin", "part"] {
        let at = tmp.join(format!("distrffmpeg-transfer-{}.{ext}", child.id()));
        std::os::unix::fs::symlink(e.path(&format!("victim.{ext}")), at).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("download "), "{stdout}");
    for name in ["victim.bin", "victim.part"] {
        assert_eq!(std::fs::read(e.path(name)).unwrap(), b"precious", "{name}");
    }
    // nothing of ours is left in the temp dir, only the planted links
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .filter_map(|d| d.ok())
        .filter(|d| !d.file_type().unwrap().is_symlink())
        .map(|d| d.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
