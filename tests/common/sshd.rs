//! Throwaway OpenSSH servers on loopback for tests: a host key and a client key in the test's
//! temp dir, `UsePAM no`, `StrictModes no`, a known_hosts file in the test's HOME, and a
//! distrffmpeg config listing them as workers.
#![allow(dead_code)]

use super::{write_script, Env};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn sshd_path() -> PathBuf {
    for p in ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("sshd is required for the SSH tests: install openssh-server (apt-get install -y openssh-server); .ci/run does this");
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen (install openssh-client)");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port on loopback that nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts sshd in the foreground with the config file `cfg`, its output discarded.
pub fn spawn_sshd(cfg: &Path) -> Child {
    Command::new(sshd_path())
        .args(["-D", "-e", "-f"])
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sshd")
}

pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    pub work: PathBuf,
    child: Option<Child>,
}

impl Sshd {
    /// Kills the server and every session it spawned (the connection drops at once).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn host_pub(&self) -> String {
        std::fs::read_to_string(self.dir.join("hostkey.pub")).unwrap()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Cluster {
    pub servers: Vec<Sshd>,
    pub home: PathBuf,
}

impl Cluster {
    /// Starts `n` sshd processes; the test HOME gets `.ssh/id_ed25519` and `.ssh/known_hosts`.
    pub fn start(env: &Env, n: usize) -> Cluster {
        sshd_path();
        let _ = std::fs::create_dir_all("/run/sshd");
        let home = env.dir.path().to_path_buf();
        let ssh_dir = home.join(".ssh");
        std::fs::create_dir_all(&ssh_dir).unwrap();
        let client_key = ssh_dir.join("id_ed25519");
        if !client_key.exists() {
            keygen(&client_key);
        }
        let mut known = String::new();
        let mut servers = Vec::new();
        for i in 0..n {
            let dir = home.join(format!("sshd{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            keygen(&dir.join("hostkey"));
            std::fs::copy(ssh_dir.join("id_ed25519.pub"), dir.join("authorized_keys")).unwrap();
            let port = free_port();
            let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
            let cfg = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPidFile {d}/pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nUsePAM no\nStrictModes no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nMaxSessions 64\n\
                 MaxStartups 64\nAllowUsers {user}\nLogLevel ERROR\n",
                d = dir.display()
            );
            std::fs::write(dir.join("sshd_config"), cfg).unwrap();
            let child = spawn_sshd(&dir.join("sshd_config"));
            let host_pub = std::fs::read_to_string(dir.join("hostkey.pub")).unwrap();
            let mut parts = host_pub.split_whitespace();
            known.push_str(&format!(
                "[127.0.0.1]:{port} {} {}\n",
                parts.next().unwrap(),
                parts.next().unwrap()
            ));
            let work = home.join(format!("work{i}"));
            servers.push(Sshd {
                port,
                dir,
                work,
                child: Some(child),
            });
        }
        std::fs::write(ssh_dir.join("known_hosts"), known).unwrap();
        for s in &servers {
            wait_listening(s.port);
        }
        Cluster { servers, home }
    }

    /// `start`, then `write_config` with nothing added: `n` plain workers.
    pub fn configured(env: &Env, n: usize) -> Cluster {
        let c = Cluster::start(env, n);
        c.write_config(env, "", &[]);
        c
    }

    /// Asserts that no worker's work path holds anything (job dirs must be gone after a run).
    pub fn assert_clean(&self) {
        for s in &self.servers {
            assert!(
                leftovers(&s.work).is_empty(),
                "remote job dir left: {:?}",
                leftovers(&s.work)
            );
        }
    }

    /// Writes the distrffmpeg config with these servers as workers (and no local slots).
    pub fn write_config(&self, env: &Env, extra: &str, worker_extra: &[&str]) {
        let workers: Vec<String> = self
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let more = worker_extra.get(i).copied().unwrap_or("");
                format!(
                    r#"{{"host": "127.0.0.1", "work_path": "{}", "platform": "Linux", "params": {{"port": {}, "timeout": 5}}{more}}}"#,
                    s.work.display(),
                    s.port
                )
            })
            .collect();
        let text = format!(
            r#"{{"loglevel": "INFO", "local_slots": 0, "segment_frames": 24, "keyint_min": 12, "keyint_max": 48{extra}, "workers": [{}]}}"#,
            workers.join(", ")
        );
        std::fs::write(env.path("no-config.json"), text).unwrap();
    }
}

/// Waits (10 s at most) until something listens on `port`.
pub fn wait_listening(port: u16) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("sshd on port {port} did not start");
}

/// Files left in a worker's work path (job dirs must be gone after a run); the slot lease dir
/// `dfslots` is kept by design (its lock files are shared by every job on the worker).
pub fn leftovers(work: &Path) -> Vec<String> {
    std::fs::read_dir(work)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "dfslots")
                .collect()
        })
        .unwrap_or_default()
}

/// A stand-in `ffmpeg_bin` for workers: logs each encode, runs `body`, then the real ffmpeg.
pub fn wrapper(e: &Env, name: &str, body: &str) -> PathBuf {
    let path = e.path(name);
    let log = e.path("encodes.log");
    write_script(
        &path,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *-progress*) echo \"$*\" >> '{}'; {body};; esac\nexec ffmpeg \"$@\"\n",
            log.display()
        ),
    );
    path
}

/// A `wrapper` body that runs `action` on the first encode only (of the whole test); the file
/// it returns exists once that happened.
pub fn first_encode(e: &Env, flag: &str, action: &str) -> (PathBuf, String) {
    let flag = e.path(flag);
    let body = format!(
        "if [ ! -e '{f}' ]; then touch '{f}'; {action}; fi",
        f = flag.display()
    );
    (flag, body)
}

/// The worker config entry of a `wrapper`: logs each encode and runs `body` before ffmpeg.
pub fn wrapped(e: &Env, name: &str, body: &str) -> String {
    ffmpeg_bin(&wrapper(e, name, body))
}

/// The worker config entry that runs `path` as the worker's ffmpeg.
pub fn ffmpeg_bin(path: &Path) -> String {
    format!(r#", "ffmpeg_bin": "{}""#, path.display())
}

impl Sshd {
    /// Restarts this server on its port with more host keys (`ecdsa`, `rsa`: ssh-keygen types)
    /// after its ed25519 one; their public halves are `hostkey_<type>.pub` in its dir.
    pub fn restart_with_host_keys(&mut self, types: &[&str]) {
        let mut cfg = String::new();
        for t in types {
            let key = self.dir.join(format!("hostkey_{t}"));
            if !key.exists() {
                let out = Command::new("ssh-keygen")
                    .args(["-q", "-t", t, "-N", "", "-f"])
                    .arg(&key)
                    .output()
                    .expect("ssh-keygen (install openssh-client)");
                assert!(out.status.success(), "ssh-keygen -t {t}");
            }
            cfg.push_str(&format!("HostKey {}\n", key.display()));
        }
        self.restart_with(&cfg);
    }

    /// Restarts this server on its port with `lines` added to its sshd_config (`SetEnv …`).
    pub fn restart_with(&mut self, lines: &str) {
        self.kill();
        let cfg_path = self.dir.join("sshd_config");
        let mut cfg = std::fs::read_to_string(&cfg_path).unwrap();
        cfg.push_str(lines);
        std::fs::write(&cfg_path, cfg).unwrap();
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && t.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(spawn_sshd(&cfg_path));
        wait_listening(self.port);
    }

    /// `keytype base64` of one of this server's host keys (`ed25519`, or a type added by
    /// `restart_with_host_keys`).
    pub fn host_key(&self, ty: &str) -> String {
        let file = if ty == "ed25519" {
            "hostkey.pub".to_string()
        } else {
            format!("hostkey_{ty}.pub")
        };
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap();
        let mut parts = text.split_whitespace();
        format!("{} {}", parts.next().unwrap(), parts.next().unwrap())
    }
}

impl Sshd {
    /// Stops (SIGSTOP) every process serving this server's connections, so that they answer
    /// nothing; returns their pids for `thaw`.
    pub fn freeze_sessions(&self) -> Vec<String> {
        let mut todo = vec![self.child.as_ref().expect("running").id().to_string()];
        let mut all = Vec::new();
        while let Some(p) = todo.pop() {
            let out = Command::new("pgrep").args(["-P", &p]).output().unwrap();
            for c in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                all.push(c.to_string());
                todo.push(c.to_string());
            }
        }
        assert!(!all.is_empty(), "no session process to freeze");
        let _ = Command::new("kill").arg("-STOP").args(&all).status();
        all
    }

    /// Lets the processes stopped by `freeze_sessions` run again.
    pub fn thaw(&self, pids: &[String]) {
        let _ = Command::new("kill").arg("-CONT").args(pids).status();
    }
}

/// An ssh-agent listening on `sock` for a test, killed when dropped.
pub struct Agent(Child);

impl Agent {
    pub fn start(sock: &Path) -> Agent {
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(sock)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client)");
        // the socket file exists once bound, a moment before the agent listens on it
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(sock).is_err()
            && t.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
