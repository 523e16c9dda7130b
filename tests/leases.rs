//! Slot leases on the workers: concurrent jobs never run more encodes on a worker than its
//! slots (asserted from the workers' own log of each encode's start and end), every output is
//! still plain ffmpeg's, and a lease held by a killed host's encode is freed with it.

mod common;
use common::run::wait_for;
use common::sshd::{ffmpeg_bin, Cluster};
use common::*;
use std::path::Path;
use std::time::Duration;

/// A worker's `ffmpeg_bin` that logs `start`/`end` lines (nanoseconds) around each encode to
/// `log`, sleeping `pause` first so that encodes of concurrent jobs would overlap.
fn logging_ffmpeg(e: &Env, name: &str, log: &Path, pause: &str) -> String {
    let path = e.path(name);
    write_script(
        &path,
        &format!(
            "#!/bin/sh\nlog() {{ echo \"$1 $(date +%s%N)\" >> '{log}'; }}\n\
             case \"$*\" in *-progress*)\n\
               log start; trap 'log end' EXIT; trap 'kill $c 2>/dev/null; wait $c; exit 143' TERM\n\
               sleep {pause}; ffmpeg \"$@\" & c=$!; wait $c; exit $?;;\n\
             esac\nexec ffmpeg \"$@\"\n",
            log = log.display()
        ),
    );
    ffmpeg_bin(&path)
}

/// The most encodes a worker's log shows running at once, and how many it ran.
fn most_at_once(log: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut events: Vec<(u128, i32)> = text
        .lines()
        .filter_map(|l| {
            let (what, t) = l.split_once(' ')?;
            let t: u128 = t.trim().parse().ok()?;
            Some((t, if what == "start" { 1 } else { -1 }))
        })
        .collect();
    // an end before a start at the same instant
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in &events {
        now += d;
        most = most.max(now);
    }
    let runs = events.iter().filter(|(_, d)| *d == 1).count();
    (most as usize, runs)
}

#[test]
fn concurrent_jobs_never_run_more_encodes_on_a_worker_than_its_slots() {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    let logs = [e.path("w0.log"), e.path("w1.log")];
    let bins = [
        logging_ffmpeg(&e, "w0.sh", &logs[0], "0.3"),
        logging_ffmpeg(&e, "w1.sh", &logs[1], "0.3"),
    ];
    c.write_config(&e, "", &[&bins[0], &bins[1]]);
    let jobs: Vec<(String, String)> = (0..3)
        .map(|i| {
            let src = e.av_clip(&format!("in{i}.mp4"), 3.0, 24, 0);
            (src, e.p(&format!("out{i}.mkv")))
        })
        .collect();
    let children: Vec<_> = jobs
        .iter()
        .map(|(src, out)| {
            let mut args = x264(src, &["-an"]);
            args.push(out);
            e.distr_process()
                .args(&args)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert_ok(&o);
    }
    for (i, (src, out)) in jobs.iter().enumerate() {
        let plain = e.p(&format!("plain{i}.mkv"));
        let mut args = x264(src, &["-an"]);
        args.push(&plain);
        e.ffmpeg(&args);
        assert_same(Path::new(&plain), Path::new(out));
    }
    let mut total = 0;
    for log in &logs {
        let (most, runs) = most_at_once(log);
        assert_eq!(most, 1, "{} encodes at once on a one-slot worker", most);
        total += runs;
    }
    // three jobs of several chunks each went through the two workers
    assert!(total >= 6, "{total} encodes");
    c.assert_clean();
}

#[test]
fn a_killed_hosts_lease_is_freed_with_its_encode() {
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    // the first encode hangs (as ffmpeg itself, so the kill-on-close wrapper can stop it)
    let flag = e.path("hung");
    let hang = e.path("hang.sh");
    write_script(
        &hang,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *-progress*) if [ ! -e '{f}' ]; then touch '{f}'; exec sleep 60; fi;; esac\nexec ffmpeg \"$@\"\n",
            f = flag.display()
        ),
    );
    c.write_config(&e, r#", "stall_timeout": 600"#, &[&ffmpeg_bin(&hang)]);
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let first_out = e.p("first.mkv");
    let mut args = x264(&src, &["-an"]);
    args.push(&first_out);
    let mut first = e.distr_process().args(&args).spawn().unwrap();
    wait_for("the first encode to hang", 30, || flag.exists());
    // the host dies: its SSH connection drops, the worker's encode (and lease) go with it
    first.kill().unwrap();
    first.wait().unwrap();
    let t = std::time::Instant::now();
    let (p, o) = e.both(&x264(&src, &["-an"]), "mkv");
    assert_same(&p, &o);
    assert!(
        t.elapsed() < Duration::from_secs(40),
        "the second job waited for the hung encode: {:?}",
        t.elapsed()
    );
}
