//! Running distrffmpeg in a test: to the end (asserting it succeeded), in a dry run, or as a
//! plain command with the test's config; waiting for what a running job does; reading its log.
#![allow(dead_code)]

use super::{assert_same, stderr, Env};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

impl Env {
    /// Runs `distr` with `args` to the end (no `-df_` chunk options added).
    pub fn distr_output<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.distr().args(args).output().unwrap()
    }

    /// `distr_output`, asserting that the run succeeded.
    pub fn distr_ok<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let o = self.distr_output(args);
        assert_ok(&o);
        o
    }

    /// Runs `c` (distrffmpeg under another name, or a program that starts it) in the test dir
    /// with the test's config and cache: what `distr` sets but HOME.
    pub fn isolate<'c>(&self, c: &'c mut std::process::Command) -> &'c mut std::process::Command {
        c.current_dir(self.dir.path())
            .env("DISTRFFMPEG_CONFIG", self.path("no-config.json"))
            .env("XDG_CACHE_HOME", self.path("cache"))
    }

    /// A dir with a symlink named `ffmpeg` to distrffmpeg, and PATH with it first.
    pub fn symlink_path(&self) -> String {
        let bin = self.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let link = bin.join("ffmpeg");
        if !link.exists() {
            std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("distrffmpeg"), &link).unwrap();
        }
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
    }

    /// `both`, asserting that the two files are the same (`assert_same`); returns them.
    pub fn both_same(&self, args: &[&str], ext: &str) -> (PathBuf, PathBuf) {
        let (p, o) = self.both(args, ext);
        assert_same(&p, &o);
        (p, o)
    }
}

/// Asserts that a run succeeded, showing its stderr when it did not.
pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

/// Waits until `f` holds, failing after `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// N of distrffmpeg's `N frames in N chunks on N slot(s)` line.
pub fn chunks_on(log: &str) -> Option<usize> {
    let words: Vec<&str> = log.split_whitespace().collect();
    words
        .windows(3)
        .find(|w| w[1] == "chunks" && w[2] == "on")
        .and_then(|w| w[0].parse().ok())
}

/// The stdout of a successful dry run of `args` (with `run_distr`'s small chunks).
pub fn dry_stdout(e: &Env, args: &[&str]) -> String {
    let mut a = vec!["-df_dry_run"];
    a.extend_from_slice(args);
    let o = e.run_distr(&a);
    assert_ok(&o);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The first line of the dry run of `args` (the output name appended): `passthrough: …` or
/// `plan: …`.
pub fn dry(e: &Env, args: &[&str], out: &str) -> String {
    let mut a = vec!["-y"];
    a.extend_from_slice(args);
    a.push(out);
    dry_stdout(e, &a).lines().next().unwrap_or("").to_string()
}

/// Chunk count of a run, from its dry-run plan.
pub fn planned_chunks(env: &Env, args: &[&str]) -> usize {
    dry_stdout(env, args)
        .lines()
        .filter(|l| l.starts_with("chunk "))
        .count()
}
