//! Workers that answer late: the job starts on the first worker that is ready, a silent one
//! holds nobody up, and one that answers while the job runs takes chunks too.

mod common;
use common::sshd::{ffmpeg_bin, wrapper, Cluster};
use common::*;
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::Duration;

/// A worker entry of the config: `port` on loopback, jobs under `work`.
fn entry(work: &Path, port: u16, timeout: u32, extra: &str) -> String {
    format!(
        r#"{{"host": "127.0.0.1", "work_path": "{}", "platform": "Linux", "params": {{"port": {port}, "timeout": {timeout}}}{extra}}}"#,
        work.display()
    )
}

fn write_config(e: &Env, workers: &[String]) {
    let text = format!(
        r#"{{"loglevel": "DEBUG", "local_slots": 0, "segment_frames": 24, "keyint_min": 12, "keyint_max": 48, "workers": [{}]}}"#,
        workers.join(", ")
    );
    std::fs::write(e.path("no-config.json"), text).unwrap();
}

/// Makes the worker on `port` also known under `alias` (a proxy in front of it).
fn trust_alias(c: &Cluster, server: usize, alias: u16) {
    let key = c.servers[server].host_pub();
    let mut parts = key.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{alias} {} {}\n",
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(c.home.join(".ssh/known_hosts"))
        .unwrap();
    f.write_all(line.as_bytes()).unwrap();
}

/// A TCP proxy to `port` that holds each connection for `delay` before passing it on: a
/// worker that answers late. Returns the proxy's port.
fn slow_proxy(port: u16, delay: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in l.incoming().flatten() {
            thread::spawn(move || {
                thread::sleep(delay);
                let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || pipe(c2, s2));
                pipe(server, client);
            });
        }
    });
    proxy
}

/// Position of the first stderr line containing `needle`.
fn line_of(err: &str, needle: &str) -> usize {
    err.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{err}"))
}

#[test]
fn a_silent_worker_holds_nobody_up() {
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    // accepts connections (the kernel's backlog) but never says a word
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    write_config(
        &e,
        &[
            entry(&e.path("silent-work"), silent_port, 60, ""),
            entry(&c.servers[0].work, c.servers[0].port, 5, ""),
        ],
    );
    let src = e.av_clip("in.mp4", 2.0, 24, 0);
    let t = std::time::Instant::now();
    let (p, o, err) = e.both_log(&x264(&src, &[]), "mkv");
    assert_same(&p, &o);
    // the job ran on the worker that answered and, once done, stopped waiting for the
    // silent one (nothing exists there to clean up)
    line_of(&err, "dispatched to");
    assert!(!err.contains("skipping worker"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the job waited for the silent worker's 60 s timeout: {:?}",
        t.elapsed()
    );
    c.assert_clean();
}

#[test]
fn a_worker_that_answers_late_joins_the_running_job() {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    // worker 0 is slow to encode (1 s per chunk); worker 1 answers 2 s late through a proxy
    let slow = wrapper(&e, "slow.sh", "sleep 1");
    let late = slow_proxy(c.servers[1].port, Duration::from_secs(2));
    trust_alias(&c, 1, late);
    write_config(
        &e,
        &[
            entry(&c.servers[0].work, c.servers[0].port, 5, &ffmpeg_bin(&slow)),
            entry(&c.servers[1].work, late, 10, ""),
        ],
    );
    let src = e.av_clip("in.mp4", 6.0, 24, 0);
    let (p, o, err) = e.both_log(&x264(&src, &["-an"]), "mkv");
    assert_same(&p, &o);
    let first = format!("@127.0.0.1:{} after", c.servers[0].port);
    let joined = format!("127.0.0.1:{late} joined the running job");
    let later = format!("@127.0.0.1:{late} after");
    assert!(line_of(&err, &first) < line_of(&err, &joined), "{err}");
    assert!(line_of(&err, &joined) < line_of(&err, &later), "{err}");
    c.assert_clean();
}

#[test]
fn a_worker_that_appears_in_the_inventory_joins_the_running_job() {
    let e = Env::new();
    let c = Cluster::start(&e, 2);
    // both workers are slow (1 s per chunk); the job starts with worker 0 alone
    let slow = wrapper(&e, "slow.sh", "sleep 1");
    let listed = |i: usize| entry(&c.servers[i].work, c.servers[i].port, 5, &ffmpeg_bin(&slow));
    let inventory = e.path("inventory.json");
    std::fs::write(&inventory, format!("[{}]", listed(0))).unwrap();
    let config = format!(
        r#"{{"loglevel": "DEBUG", "local_slots": 0, "segment_frames": 24, "keyint_min": 12, "keyint_max": 48, "workers_command": "cat '{}'", "workers_refresh": 1}}"#,
        inventory.display()
    );
    std::fs::write(e.path("no-config.json"), config).unwrap();
    let src = e.av_clip("in.mp4", 8.0, 24, 0);
    // once the job encodes on worker 0, worker 1 appears in the inventory
    let appear = {
        let (inventory, log) = (inventory.clone(), e.path("encodes.log"));
        let both = format!("[{}, {}]", listed(0), listed(1));
        thread::spawn(move || {
            while !log.exists() {
                thread::sleep(Duration::from_millis(25));
            }
            std::fs::write(&inventory, both).unwrap();
        })
    };
    let (p, o, err) = e.both_log(&x264(&src, &["-an"]), "mkv");
    appear.join().unwrap();
    assert_same(&p, &o);
    let port = c.servers[1].port;
    let joined = format!("127.0.0.1:{port} joined the running job from the inventory");
    let encoded = format!("@127.0.0.1:{port} after");
    assert!(line_of(&err, &joined) < line_of(&err, &encoded), "{err}");
    c.assert_clean();
}
