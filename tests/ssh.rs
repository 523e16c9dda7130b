//! SSH workers: real sshd processes on loopback run full jobs; outputs must match plain ffmpeg.

mod common;
use common::sshd::{ffmpeg_bin, wrapped, Cluster};
use common::*;
use std::path::Path;

#[test]
fn two_workers_produce_plain_ffmpegs_output() {
    let e = Env::new();
    let c = Cluster::configured(&e, 2);
    let src = e.av_clip("in.mp4", 4.0, 24, 2);
    e.both_same(&x264(&src, &["-c:a", "aac"]), "mkv");
    c.assert_clean();
    // each worker's speed is kept for the next job, relative to the others (mean 1)
    let speeds = std::fs::read(e.path("cache/distrffmpeg/worker-speeds.json")).expect("speeds");
    let speeds: std::collections::BTreeMap<String, f64> = serde_json::from_slice(&speeds).unwrap();
    let ports: Vec<String> = c.servers.iter().map(|s| format!(":{}", s.port)).collect();
    assert!(!speeds.is_empty(), "{speeds:?}");
    for (label, v) in &speeds {
        assert!(ports.iter().any(|p| label.ends_with(p)), "{label}");
        assert!(*v > 0.0 && v.is_finite(), "{label}: {v}");
    }
    let mean = speeds.values().sum::<f64>() / speeds.len() as f64;
    assert!((mean - 1.0).abs() < 1e-9, "{speeds:?}");
}

#[test]
fn wrong_host_key_is_refused_with_its_fingerprint() {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    // Record server 1's key under server 0's address: server 0 now presents a changed key.
    let known = std::fs::read_to_string(c.home.join(".ssh/known_hosts")).unwrap();
    let lines: Vec<&str> = known.lines().collect();
    let key1 = lines[1].split_once(' ').unwrap().1;
    let bad = format!("[127.0.0.1]:{} {key1}\n{}\n", c.servers[0].port, lines[1]);
    std::fs::write(c.home.join(".ssh/known_hosts"), bad).unwrap();
    c.write_config(&e, "", &[]);
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let o = e.distr_output(quick_x264(&src, "out.mkv"));
    let err = stderr(&o);
    assert!(
        o.status.success(),
        "the good worker finishes the job: {err}"
    );
    let line = err
        .lines()
        .find(|l| l.contains("HOST KEY CHANGED"))
        .expect(&err);
    assert!(
        line.contains(&format!("[127.0.0.1]:{}", c.servers[0].port)),
        "{line}"
    );
    assert!(line.contains("SHA256:"), "{line}");
    // Only the refused worker: a clear error, nothing written.
    std::fs::write(
        c.home.join(".ssh/known_hosts"),
        format!("[127.0.0.1]:{} {key1}\n", c.servers[0].port),
    )
    .unwrap();
    let cfg = std::fs::read_to_string(e.path("no-config.json")).unwrap();
    let one = cfg.replace(
        &format!(
            r#", {{"host": "127.0.0.1", "work_path": "{}""#,
            c.servers[1].work.display()
        ),
        r#", {"host": "127.0.0.1", "work_path": "/nonexistent""#,
    );
    std::fs::write(e.path("no-config.json"), one).unwrap();
    let _ = std::fs::remove_file(e.path("out2.mkv"));
    let o = e.distr_output(["-y", "-i", &src, "-c:v", "libx264", "out2.mkv"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no usable worker"), "{}", stderr(&o));
    assert!(!e.path("out2.mkv").exists());
}

#[test]
fn unknown_host_key_needs_accept_new() {
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    std::fs::write(c.home.join(".ssh/known_hosts"), "").unwrap();
    c.write_config(&e, "", &[]);
    let src = e.av_clip("in.mp4", 1.0, 24, 0);
    let args = quick_x264(&src, "out.mkv");
    let o = e.distr_output(args);
    assert_fails_with(&o, 1, "is not in");
    e.distr_ok(with(&[&["-df_host_key_check=accept-new"], &args]));
    let known = std::fs::read_to_string(c.home.join(".ssh/known_hosts")).unwrap();
    assert!(
        known.contains(&format!("[127.0.0.1]:{}", c.servers[0].port)),
        "learned: {known}"
    );
}

#[test]
fn killed_worker_mid_chunk_is_replaced() {
    let e = Env::new();
    let c = Cluster::start(&e, 3);
    // Worker 0 announces each encode, then is slow, so the test can kill it while it holds one.
    let marker = e.path("encoding-on-0");
    let slow = e.path("slow-ffmpeg.sh");
    write_script(
        &slow,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *-progress*) touch '{}'; exec ffmpeg -re \"$@\";; esac\nexec ffmpeg \"$@\"\n",
            marker.display()
        ),
    );
    let extra0 = ffmpeg_bin(&slow);
    c.write_config(&e, "", &[&extra0]);
    let src = e.av_clip("in.mp4", 4.0, 24, 2);
    let plain = e.p("plain.mkv");
    e.ffmpeg(&x264_copy(&src, &plain));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("distrffmpeg"))
        .current_dir(e.dir.path())
        .env("DISTRFFMPEG_CONFIG", e.path("no-config.json"))
        .env("HOME", e.dir.path())
        .env_remove("SSH_AUTH_SOCK")
        .args(x264_copy(&src, "ours.mkv"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("worker 0 to start an encode", 30, || marker.exists());
    let mut servers = c.servers;
    servers[0].kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("127.0.0.1:") && (err.contains("retrying") || err.contains("dropped")),
        "{err}"
    );
    assert_same(std::path::Path::new(&plain), &e.path("ours.mkv"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stray = std::process::Command::new("pgrep")
        .args(["-f", "ffmpeg -re"])
        .output()
        .unwrap();
    assert!(
        stray.stdout.is_empty(),
        "remote process survived: {}",
        String::from_utf8_lossy(&stray.stdout)
    );
}

#[test]
fn hostile_file_names_are_quoted() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let pwned = e.path("pwned");
    let name = "a b'c\"$(touch pwned);d.mp4";
    let src = e.av_clip("clip.mp4", 2.0, 24, 0);
    std::fs::rename(&src, e.path(name)).unwrap();
    let out_name = "-out `touch pwned` $HOME;x.mkv";
    e.distr_ok(with(&[
        &["-y"],
        &x264(name, &["-metadata", "title=$(id)", "--", out_name]),
    ]));
    assert!(!pwned.exists(), "a file name was executed");
    assert_eq!(video_frames(&e.path(out_name)), 60);
    // a name that looks like an option
    std::fs::rename(e.path(name), e.path("-leading.mp4")).unwrap();
    e.distr_ok(quick_x264("-leading.mp4", "./-out.mkv"));
    assert_eq!(video_frames(&e.path("-out.mkv")), 60);
}

#[test]
fn two_pass_encode_keeps_each_chunks_statistics() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let src = e.av_clip("in.mp4", 4.0, 24, 2);
    let pass = |n: &str, out: &[&str]| {
        let mut a = vec![
            "-y",
            "-i",
            src.as_str(),
            "-c:v",
            "libx264",
            "-b:v",
            "300k",
            "-pass",
            n,
        ];
        a.extend_from_slice(out);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    // pass 1 into `-f null -`, as many guides write it: nothing reaches stdout
    let p1 = pass("1", &["-an", "-f", "null", "-"]);
    let o = e.distr_ok(&p1);
    assert!(o.stdout.is_empty() && stderr(&o).contains("chunks"));
    assert!(stderr(&o).contains("Output #0, null, to 'pipe:':"));
    let store = e.path("ffmpeg2pass-distrffmpeg");
    let logs = std::fs::read_dir(&store).unwrap().count();
    assert!(
        logs >= 5,
        "per-chunk statistics and the plan are kept: {logs}"
    );
    let p2 = pass("2", &["-c:a", "aac", "ours.mkv"]);
    e.distr_ok(&p2);
    // plain ffmpeg's two passes, same argv
    std::fs::remove_dir_all(&store).unwrap();
    let plain1: Vec<&str> = p1.iter().map(String::as_str).collect();
    e.ffmpeg(&plain1[1..]);
    let mut plain2: Vec<&str> = p2.iter().map(String::as_str).collect();
    *plain2.last_mut().unwrap() = "plain.mkv";
    e.ffmpeg(&plain2[1..]);
    assert_same(&e.path("plain.mkv"), &e.path("ours.mkv"));
    // pass 2 after plain ffmpeg's pass 1 (no statistics of ours, plain ffmpeg's log there)
    // passes through: plain ffmpeg's pass 2 reads its own log
    let mut p2_plain_log = p2.clone();
    *p2_plain_log.last_mut().unwrap() = "ours2.mkv".into();
    let o = e.distr_ok(&p2_plain_log);
    assert!(
        stderr(&o).contains("pass-1 statistics") && !store.exists(),
        "{}",
        stderr(&o)
    );
    assert_same(&e.path("plain.mkv"), &e.path("ours2.mkv"));
}

/// libx265's own two passes (`-x265-params pass=1`, then `pass=2`, as the FFmpeg wiki's H.265
/// guide writes them): each chunk gets a statistics file of its own, pass 1 brings them home
/// next to where x265 would write its file, pass 2 sends each chunk its own; the result is
/// laid out as plain ffmpeg's two passes lay it out.
#[test]
fn x265_two_pass_through_its_params_keeps_each_chunks_statistics() {
    let e = Env::new();
    let _c = Cluster::configured(&e, 2);
    let src = e.av_clip("in.mp4", 4.0, 24, 2);
    let pass = |n: &str, out: &[&str]| {
        let params = format!("pass={n}:log-level=error");
        let mut a: Vec<String> = ["-y", "-i", &src, "-c:v", "libx265", "-preset", "ultrafast"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(["-b:v", "300k", "-x265-params", &params].map(String::from));
        a.extend(out.iter().map(|s| s.to_string()));
        a
    };
    let p1 = pass("1", &["-an", "-f", "null", "/dev/null"]);
    let o = e.distr_ok(&p1);
    assert!(stderr(&o).contains("chunks"), "{}", stderr(&o));
    let store = e.path("x265_2pass.log-distrffmpeg");
    let names: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let cutree = names
        .iter()
        .filter(|n| n.ends_with("-x265.log.cutree"))
        .count();
    let stats = names.iter().filter(|n| n.ends_with("-x265.log")).count();
    assert!(
        stats >= 3 && cutree == stats,
        "per-chunk statistics: {names:?}"
    );
    let p2 = pass("2", &["-c:a", "aac", "ours.mkv"]);
    e.distr_ok(&p2);
    std::fs::remove_dir_all(&store).unwrap();
    let plain1: Vec<&str> = p1.iter().map(String::as_str).collect();
    e.ffmpeg(&plain1[1..]);
    let mut plain2: Vec<&str> = p2.iter().map(String::as_str).collect();
    *plain2.last_mut().unwrap() = "plain.mkv";
    e.ffmpeg(&plain2[1..]);
    assert_same(&e.path("plain.mkv"), &e.path("ours.mkv"));
}

#[test]
fn ssh_agent_encrypted_keys_and_ssh_config_aliases() {
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    let port = c.servers[0].port;
    // the worker is named by an alias of ~/.ssh/config (HostName, Port)
    std::fs::write(
        c.home.join(".ssh/config"),
        format!("Host encoder-one\n  HostName 127.0.0.1\n  Port {port}\n"),
    )
    .unwrap();
    std::fs::write(
        e.path("no-config.json"),
        format!(
            r#"{{"local_slots": 0, "segment_frames": 24, "keyint_min": 12, "keyint_max": 48, "workers": [{{"host": "encoder-one", "work_path": "{}"}}]}}"#,
            c.servers[0].work.display()
        ),
    )
    .unwrap();
    // the client key goes into an agent, then its file is encrypted
    let key = c.home.join(".ssh/id_ed25519");
    let sock = e.path("agent.sock");
    let agent = common::sshd::Agent::start(&sock);
    let add = std::process::Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let enc = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", "a secret", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let src = e.av_clip("in.mp4", 1.0, 24, 0);
    let args = quick_x264(&src, "out.mkv");
    // with the agent: authenticated by it, through the alias
    let o = e
        .distr()
        .env("SSH_AUTH_SOCK", &sock)
        .args(args)
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(stderr(&o).contains("chunks on 1 slot"), "{}", stderr(&o));
    assert_eq!(video_frames(&e.path("out.mkv")), 30);
    // without it: the encrypted key is named, with what to do
    let o = e.distr_output(args);
    assert_fails_with(&o, 1, "is encrypted; add it to ssh-agent");
    drop(agent);
}

/// The output of a running encode is copied home while it grows; what the muxer patches at the
/// end (mp4/mov: the mdat size near the start) is fetched again with the rest.
#[test]
fn a_file_fetched_while_it_is_written_comes_home_identical() {
    use distrffmpeg::config::Config;
    use distrffmpeg::worker::ssh::{target::worker_specs, SshWorker};
    use distrffmpeg::worker::{Worker, FETCH_AHEAD_PIECE};
    use std::io::{Seek, SeekFrom, Write};

    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    let config = Config::load(Some(&e.path("no-config.json"))).unwrap();
    let spec = worker_specs(&config, &c.home, None).remove(0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (w, _) = SshWorker::open(
            &spec.target,
            spec.platform,
            &spec.ffmpeg,
            &spec.work_path,
            "grow",
            None,
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
        // the worker is this machine: its job dir can be written directly
        let remote = spec.work_path.clone() + "/grow/enc-00000-0.mp4";
        let bytes = |n: usize, seed: u8| -> Vec<u8> {
            (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
        };
        let mut f = std::fs::File::create(&remote).unwrap();
        f.write_all(&bytes(300_000, 1)).unwrap();
        let (part, local) = (e.path("enc-00000-0.part"), e.path("enc-00000-0.mp4"));
        let have = w.fetch_ahead("enc-00000-0.mp4", &part, 0).await.unwrap();
        assert_eq!(have, 300_000);
        f.write_all(&bytes(5_000_000, 2)).unwrap();
        // one call copies at most a piece (an encode that ends waits for no more)
        let have = w.fetch_ahead("enc-00000-0.mp4", &part, have).await.unwrap();
        assert_eq!(have, 300_000 + FETCH_AHEAD_PIECE);
        let have = w.fetch_ahead("enc-00000-0.mp4", &part, have).await.unwrap();
        assert_eq!(have, 5_300_000);
        // the muxer finishes: more data, and a patch near the start
        f.write_all(&bytes(70_000, 3)).unwrap();
        f.seek(SeekFrom::Start(40)).unwrap();
        f.write_all(&[9, 8, 7, 6, 5, 4, 3, 2]).unwrap();
        drop(f);
        w.download_rest("enc-00000-0.mp4", &local, have)
            .await
            .unwrap();
        assert!(
            std::fs::read(&local).unwrap() == std::fs::read(&remote).unwrap(),
            "the copy differs from the worker's file"
        );
        assert!(!part.exists());
        // a file rewritten shorter than what was fetched comes home whole
        let short = spec.work_path.clone() + "/grow/enc-00001-0.mp4";
        std::fs::write(&short, bytes(200_000, 4)).unwrap();
        let (part, local) = (e.path("enc-00001-0.part"), e.path("enc-00001-0.mp4"));
        let have = w.fetch_ahead("enc-00001-0.mp4", &part, 0).await.unwrap();
        assert_eq!(have, 200_000);
        std::fs::write(&short, bytes(100_000, 5)).unwrap();
        w.download_rest("enc-00001-0.mp4", &local, have)
            .await
            .unwrap();
        assert!(
            std::fs::read(&local).unwrap() == std::fs::read(&short).unwrap(),
            "the copy of the rewritten file differs"
        );
        w.cleanup().await.unwrap();
    });
    c.assert_clean();
}

/// A real encode that takes a few seconds (the worker's ffmpeg reads at the native frame
/// rate) is fetched while it runs, and the lossless output is still bit-exact.
#[test]
fn chunks_fetched_while_encoded_are_bit_exact() {
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    let realtime = wrapped(&e, "realtime-ffmpeg.sh", "exec ffmpeg -re \"$@\"");
    c.write_config(&e, "", &[&realtime]);
    let src = e.make(
        "in.mp4",
        4.0,
        "testsrc2=size=320x240:rate=30",
        &["-g", "60"],
    );
    let args = ["-i", &src, "-c:v", "ffv1"];
    let plain = e.p("plain.mkv");
    e.ffmpeg(&[&args[..], &[&plain]].concat());
    let out = e.run_distr(&[&["-df_loglevel=DEBUG"], &args[..], &["ours.mkv"]].concat());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let fetched: Vec<u64> = err
        .lines()
        .filter_map(|l| l.split_once(" bytes fetched while it was written"))
        .filter_map(|(head, _)| head.rsplit('(').next()?.parse().ok())
        .collect();
    assert!(
        fetched.iter().any(|&n| n > 0),
        "nothing was fetched while a chunk was encoded ({fetched:?}):\n{err}"
    );
    assert_same(Path::new(&plain), &e.path("ours.mkv"));
    assert_eq!(framemd5(Path::new(&plain)), framemd5(&e.path("ours.mkv")));
    c.assert_clean();
}
