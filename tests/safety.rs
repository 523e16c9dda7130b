//! Data safety against the real filesystem and real sshd workers: only files this tool created
//! and marked are ever removed (locally and on workers), remote work paths that others could
//! hijack are refused, and workers whose login shell is fish or tcsh run exactly the argv we
//! send, however hostile its values.

mod common;
use common::sshd::{free_port, leftovers, spawn_sshd, wait_listening, wrapped, Cluster};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Sets the modification time of a path (a symlink itself, not its target) 30 days back.
fn age(path: &Path) {
    let ok = Command::new("touch")
        .args(["-h", "-d", "30 days ago"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "touch {}", path.display());
}

/// Files a user keeps in a directory that also holds job dirs: an old project, a new file, a
/// link to a dir elsewhere, and dirs (and a link) whose names look like ours but are not
/// marked. Returns every path that must survive.
fn plant(dir: &Path, outside: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir.join("thesis")).unwrap();
    std::fs::write(dir.join("thesis/ch1.tex"), "\\chapter{One}").unwrap();
    std::fs::write(dir.join("new.txt"), "new").unwrap();
    std::os::unix::fs::symlink(outside, dir.join("link-out")).unwrap();
    for name in ["0123456789abcdef", "dfjob-0123456789abcdef-1-00000000"] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("src-00000.nut"), "mine").unwrap();
        age(&dir.join(name).join("src-00000.nut"));
        age(&dir.join(name));
    }
    for name in ["fedcba9876543210", "dfjob-fedcba9876543210-1-00000000"] {
        std::os::unix::fs::symlink(outside, dir.join(name)).unwrap();
        age(&dir.join(name));
    }
    age(&dir.join("thesis/ch1.tex"));
    age(&dir.join("thesis"));
    age(&dir.join("link-out"));
    [
        "thesis/ch1.tex",
        "new.txt",
        "link-out",
        "0123456789abcdef/src-00000.nut",
        "dfjob-0123456789abcdef-1-00000000/src-00000.nut",
        "fedcba9876543210",
        "dfjob-fedcba9876543210-1-00000000",
    ]
    .iter()
    .map(|p| dir.join(p))
    .collect()
}

/// The names `plant` puts in a dir, plus `more`, sorted: what a dir holds after a run that
/// touched nothing of the user's.
fn planted_names(more: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "0123456789abcdef",
        "dfjob-0123456789abcdef-1-00000000",
        "dfjob-fedcba9876543210-1-00000000",
        "fedcba9876543210",
        "link-out",
        "new.txt",
        "thesis",
    ]
    .iter()
    .chain(more)
    .map(|s| s.to_string())
    .collect();
    v.sort();
    v
}

/// A dir elsewhere that links point to; it looks like a marked job dir of ours.
fn outside(e: &Env) -> (PathBuf, Vec<PathBuf>) {
    let o = e.path("outside");
    std::fs::create_dir_all(&o).unwrap();
    let keep = vec![
        o.join("keep.txt"),
        o.join(".distrffmpeg-job"),
        o.join("src-00001.nut"),
    ];
    for f in &keep {
        std::fs::write(f, "x").unwrap();
        age(f);
    }
    age(&o);
    (o, keep)
}

/// A stale job dir of ours: marked, holding our files, a month old.
fn stale_job(dir: &Path, name: &str, files: &[&str]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for f in files.iter().chain([&".distrffmpeg-job"]) {
        std::fs::write(d.join(f), "old").unwrap();
        age(&d.join(f));
    }
    age(&d);
    d
}

fn assert_all_exist(paths: &[PathBuf]) {
    for p in paths {
        assert!(
            std::fs::symlink_metadata(p).is_ok(),
            "{} was removed",
            p.display()
        );
    }
}

#[test]
fn a_configured_work_dir_keeps_every_file_of_the_users() {
    let e = Env::new();
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let (out_dir, mut keep) = outside(&e);
    let wd = e.path("scratch");
    keep.extend(plant(&wd, &out_dir));
    let jobs = wd.join("distrffmpeg-jobs");
    keep.extend(plant(&jobs, &out_dir));
    let stale = stale_job(&jobs, "00000000000000ff", &["lock", "manifest.json"]);
    let work_dir = format!("-df_work_dir={}", wd.display());
    let out = e.p("out.mkv");
    let o = e.run_distr(&with(&[
        &[&work_dir, "-df_local_slots=2"],
        &quick_x264(&src, &out),
    ]));
    assert_ok(&o);
    assert_eq!(video_frames(&e.path("out.mkv")), 60);
    assert_all_exist(&keep);
    assert!(
        !stale.exists(),
        "a month-old marked job dir of ours is swept"
    );
    let mut left = leftovers(&jobs);
    left.sort();
    assert_eq!(
        left,
        planted_names(&[]),
        "this run's job dir is gone, nothing else"
    );
}

#[test]
fn a_workers_work_path_keeps_every_file_of_the_users() {
    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let (out_dir, mut keep) = outside(&e);
    let work = &c.servers[0].work;
    keep.extend(plant(work, &out_dir));
    let stale = stale_job(
        work,
        "dfjob-00000000000000ff-77-deadbeef",
        &["src-00001.nut", "enc-00001-0.mkv", "pass-00001-0.log"],
    );
    // a marked dir of ours that holds a file we never make: emptied of ours, kept
    let foreign = stale_job(
        work,
        "dfjob-00000000000000fe-78-deadbeef",
        &["src-00002.nut"],
    );
    std::fs::write(foreign.join("notes.txt"), "user's").unwrap();
    age(&foreign.join("notes.txt"));
    age(&foreign);
    let o = e.run_distr(&quick_x264(&src, &e.p("out.mkv")));
    assert_ok(&o);
    assert_eq!(video_frames(&e.path("out.mkv")), 60);
    assert_all_exist(&keep);
    assert!(!stale.exists(), "a month-old marked job dir is swept");
    assert!(foreign.join("notes.txt").exists());
    assert!(!foreign.join("src-00002.nut").exists());
    let mut left = leftovers(work);
    left.sort();
    assert_eq!(
        left,
        planted_names(&["dfjob-00000000000000fe-78-deadbeef"]),
        "this run's job dir is gone, nothing else"
    );
}

#[test]
fn work_paths_others_could_hijack_are_refused() {
    let e = Env::new();
    let c = Cluster::start(&e, 3);
    let real = e.path("real-base");
    std::fs::create_dir_all(&real).unwrap();
    // 0: a symlink; 1: owned by another user (nobody) and world-writable; 2: ours but
    // world-writable without the sticky bit
    std::os::unix::fs::symlink(&real, &c.servers[0].work).unwrap();
    for (i, owner) in [(1, "nobody"), (2, "root")] {
        let w = &c.servers[i].work;
        std::fs::create_dir_all(w).unwrap();
        Command::new("chown").arg(owner).arg(w).status().unwrap();
        Command::new("chmod").arg("0777").arg(w).status().unwrap();
    }
    c.write_config(&e, "", &[]);
    let src = e.av_clip("in.mp4", 1.0, 24, 0);
    let o = e.run_distr(&quick_x264(&src, &e.p("out.mkv")));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!e.path("out.mkv").exists());
    let reasons = [
        "is a symbolic link",
        "belongs to uid 65534",
        "is writable by other users without the sticky bit",
    ];
    for (s, why) in c.servers.iter().zip(reasons) {
        let line = err
            .lines()
            .find(|l| l.contains(&format!(":{}", s.port)))
            .unwrap_or_else(|| panic!("no line for port {}: {err}", s.port));
        assert!(line.contains(why), "{line}");
        assert!(line.contains(&s.work.display().to_string()), "{line}");
    }
    assert!(leftovers(&real).is_empty(), "{:?}", leftovers(&real));
    for s in &c.servers[1..] {
        assert!(leftovers(&s.work).is_empty(), "{:?}", leftovers(&s.work));
    }
}

/// Login users with other shells, made once per test process (as root, like CI).
const SHELL_USERS: &[(&str, &str)] = &[
    ("dfsafety-fish", "/usr/bin/fish"),
    ("dfsafety-tcsh", "/usr/bin/tcsh"),
];

fn shell_users() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (user, shell) in SHELL_USERS {
            assert!(
                Path::new(shell).exists(),
                "{shell} is required: apt-get install -y fish tcsh (.ci/run does this)"
            );
            let exists = Command::new("id")
                .arg(user)
                .output()
                .unwrap()
                .status
                .success();
            if !exists {
                let ok = Command::new("useradd")
                    .args(["-m", "-s", shell, user])
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "useradd {user} (the test needs root)");
            }
            // unlocked for key logins with UsePAM no, no password
            Command::new("usermod")
                .args(["-p", "*", "-s", shell, user])
                .status()
                .unwrap();
        }
    });
}

/// An sshd that lets the shell users in with the test's key.
struct UsersSshd {
    port: u16,
    child: Child,
}

impl Drop for UsersSshd {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an sshd with the cluster server's host key for the shell users, and lists it in the
/// test's known_hosts.
fn users_sshd(c: &Cluster) -> UsersSshd {
    let base = &c.servers[0];
    let port = free_port();
    let users: Vec<&str> = SHELL_USERS.iter().map(|(u, _)| *u).collect();
    let cfg = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPidFile {d}/pid-users\n\
         AuthorizedKeysFile .ssh/authorized_keys\nUsePAM no\nStrictModes no\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         Subsystem sftp internal-sftp\nMaxSessions 64\nAllowUsers {}\nLogLevel ERROR\n",
        users.join(" "),
        d = base.dir.display()
    );
    let cfg_path = base.dir.join("sshd_config_users");
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = spawn_sshd(&cfg_path);
    let known = c.home.join(".ssh/known_hosts");
    let mut parts = base.host_pub();
    parts = parts
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = std::fs::read_to_string(&known).unwrap();
    text.push_str(&format!("[127.0.0.1]:{port} {parts}\n"));
    std::fs::write(&known, text).unwrap();
    wait_listening(port);
    UsersSshd { port, child }
}

/// A value no shell may read as anything but itself.
const HOSTILE: &str =
    "k'\"$(touch pwned-sub)`touch pwned-bt`;touch pwned-semi;#|*?~ \\' \\\\ ü文字=1:n=a\nb:t=end\\";

#[test]
fn fish_and_tcsh_workers_receive_hostile_values_verbatim() {
    shell_users();
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    let sshd = users_sshd(&c);
    let tag = e
        .dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut workers = Vec::new();
    let mut records = Vec::new();
    let mut homes = Vec::new();
    for (user, _) in SHELL_USERS {
        let home = PathBuf::from(format!("/home/{user}"));
        let root = home.join(format!("t{tag}"));
        // a bin dir and a work path whose names need quoting in every shell
        let bin = root.join("b'in $(touch pwned-dir) `x` ;|*ü\\");
        let work = root.join("wo'rk \"$HOME\" ;&|*ü \\ end\\");
        let rec = root.join("rec");
        for d in [&bin, &work, &rec] {
            std::fs::create_dir_all(d).unwrap();
        }
        let ssh = home.join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::copy(
            c.home.join(".ssh/id_ed25519.pub"),
            ssh.join("authorized_keys"),
        )
        .unwrap();
        let ff = bin.join("ff'mpeg \"x\"");
        std::fs::write(
            &ff,
            format!(
                "#!/bin/sh\nprintf '%s\\0' \"$@\" > '{}'/argv.$$\nexec ffmpeg \"$@\"\n",
                rec.display()
            ),
        )
        .unwrap();
        for p in [&root, &home.join(".ssh")] {
            Command::new("chown")
                .args(["-R", user])
                .arg(p)
                .status()
                .unwrap();
        }
        Command::new("chmod").arg("0755").arg(&ff).status().unwrap();
        Command::new("chmod")
            .arg("0700")
            .arg(&work)
            .status()
            .unwrap();
        let json = |s: &Path| serde_json::to_string(&s.to_string_lossy()).unwrap();
        workers.push(format!(
            r#"{{"host": "127.0.0.1", "user": "{user}", "work_path": {}, "ffmpeg_bin": {}, "params": {{"port": {}, "timeout": 5}}}}"#,
            json(&work),
            json(&ff),
            sshd.port
        ));
        records.push((rec, work));
        homes.push((home, root));
    }
    std::fs::write(
        e.path("no-config.json"),
        format!(
            r#"{{"local_slots": 0, "workers": [{}]}}"#,
            workers.join(", ")
        ),
    )
    .unwrap();
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    e.both_same(&x264(&src, &["-x264-params", HOSTILE, "-an"]), "mkv");
    for (rec, work) in &records {
        let encodes: Vec<Vec<String>> = std::fs::read_dir(rec)
            .unwrap()
            .map(|f| {
                let bytes = std::fs::read(f.unwrap().path()).unwrap();
                let mut v: Vec<String> = String::from_utf8(bytes)
                    .unwrap()
                    .split('\0')
                    .map(String::from)
                    .collect();
                v.pop();
                v
            })
            .filter(|argv| argv.iter().any(|a| a == "-x264-params"))
            .collect();
        assert!(!encodes.is_empty(), "{} ran no encode", rec.display());
        for argv in &encodes {
            let at = argv.iter().position(|a| a == "-x264-params").unwrap();
            assert_eq!(argv[at + 1], HOSTILE, "{argv:?}");
            let input = &argv[argv.iter().position(|a| a == "-i").unwrap() + 1];
            assert!(
                input.starts_with(&format!("{}/dfjob-", work.display())),
                "{input}"
            );
        }
        assert!(leftovers(work).is_empty(), "{:?}", leftovers(work));
    }
    for (home, root) in &homes {
        for dir in [home, root] {
            let pwned: Vec<String> = leftovers(dir)
                .into_iter()
                .filter(|n| n.starts_with("pwned"))
                .collect();
            assert!(pwned.is_empty(), "{}: {pwned:?}", dir.display());
        }
        let _ = std::fs::remove_dir_all(root);
    }
}

#[test]
fn resume_never_reuses_chunks_of_another_input_of_the_same_size_and_mtime() {
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    let slow = wrapped(&e, "slow.sh", "exec ffmpeg -re \"$@\"");
    c.write_config(&e, "", &[&slow]);
    // raw video: another picture has exactly the same packet sizes and file size
    let raw = |name: &str, vf: &str| {
        e.ffmpeg(&with(&[
            &lavfi("testsrc2=size=160x120:rate=24"),
            &[
                "-vf",
                vf,
                "-t",
                "4",
                "-c:v",
                "rawvideo",
                "-pix_fmt",
                "yuv420p",
                &e.p(name),
            ],
        ]));
    };
    raw("in.mkv", "null");
    raw("other.mkv", "negate");
    let len = |n: &str| std::fs::metadata(e.path(n)).unwrap().len();
    assert_eq!(len("in.mkv"), len("other.mkv"));
    let args = ["-y", "-i", "in.mkv", "-c:v", "ffv1", "out.mkv"];
    let child = e.distr_process().args(args).spawn().unwrap();
    let jobs = e.path("cache/distrffmpeg/jobs");
    let done = || {
        let Ok(dirs) = std::fs::read_dir(&jobs) else {
            return false;
        };
        dirs.flatten().any(|d| {
            std::fs::read_to_string(d.path().join("manifest.json"))
                .is_ok_and(|m| m.contains("\"index\""))
        })
    };
    wait_for("a finished chunk", 60, done);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    // another file takes the input's place with the same size and mtime (cp + touch -r)
    let stamp = e.path("stamp");
    Command::new("touch")
        .arg("-r")
        .arg(e.path("in.mkv"))
        .arg(&stamp)
        .status()
        .unwrap();
    std::fs::copy(e.path("other.mkv"), e.path("in.mkv")).unwrap();
    Command::new("touch")
        .arg("-r")
        .arg(&stamp)
        .arg(e.path("in.mkv"))
        .status()
        .unwrap();
    let o = e.distr_ok(args);
    assert!(!stderr(&o).contains("resuming"), "{}", stderr(&o));
    e.ffmpeg(&["-i", "in.mkv", "-c:v", "ffv1", "plain.mkv"]);
    assert!(
        framemd5(&e.path("plain.mkv")) == framemd5(&e.path("out.mkv")),
        "a frame of the old input came back"
    );
}
