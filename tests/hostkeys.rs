//! Host keys and ssh_config against real sshd workers on loopback: known_hosts read as OpenSSH
//! reads it (wildcards, @revoked, @cert-authority, the system file, UserKnownHostsFile, hashed
//! learning, the algorithm order), and ProxyJump / IdentitiesOnly. `-df_check` connects and
//! probes without encoding.

mod common;
use common::sshd::Cluster;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `-df_check` against the configured workers; its stdout and stderr together.
fn check(e: &Env, accept_new: bool) -> (Output, String) {
    let mut c = e.distr();
    if accept_new {
        c.arg("-df_host_key_check=accept-new");
    }
    run_check(c)
}

/// Runs `-df_check` with `c`; its stdout and stderr together.
fn run_check(mut c: assert_cmd::Command) -> (Output, String) {
    let o = c.args(["-df_check", "-c:v", "libx264"]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o, text)
}

fn assert_usable(o: &Output, text: &str) {
    assert!(o.status.success(), "the worker is usable: {text}");
    assert!(text.contains("1 usable slot"), "{text}");
}

fn assert_refused(o: &Output, text: &str, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "refused: {text}");
    assert!(text.contains(needle), "expected {needle:?} in: {text}");
}

fn known_hosts(c: &Cluster) -> PathBuf {
    c.home.join(".ssh/known_hosts")
}

fn ssh_config(c: &Cluster, text: &str) {
    std::fs::write(c.home.join(".ssh/config"), text).unwrap();
}

/// An ed25519 key the server does not have (the client's own key).
fn other_ed25519(c: &Cluster) -> String {
    let text = std::fs::read_to_string(c.home.join(".ssh/id_ed25519.pub")).unwrap();
    let mut p = text.split_whitespace();
    format!("{} {}", p.next().unwrap(), p.next().unwrap())
}

fn keygen_finds(file: &Path, name: &str) -> bool {
    let o = std::process::Command::new("ssh-keygen")
        .arg("-F")
        .arg(name)
        .arg("-f")
        .arg(file)
        .output()
        .unwrap();
    o.status.success() && !o.stdout.is_empty()
}

#[test]
fn a_wildcard_entry_with_another_key_is_a_changed_key_even_with_accept_new() {
    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    for pattern in ["*", "*.lan,[127.0.0.?]:*"] {
        let before = format!("# the whole lan\n{pattern} {}\n", other_ed25519(&c));
        std::fs::write(known_hosts(&c), &before).unwrap();
        for accept_new in [false, true] {
            let (o, text) = check(&e, accept_new);
            assert_refused(&o, &text, "HOST KEY CHANGED");
            let line = text
                .lines()
                .find(|l| l.contains("HOST KEY CHANGED"))
                .unwrap();
            assert!(line.contains("known_hosts line 2"), "{line}");
            assert!(line.contains("SHA256:"), "{line}");
        }
        assert_eq!(
            std::fs::read_to_string(known_hosts(&c)).unwrap(),
            before,
            "nothing learned"
        );
    }
}

#[test]
fn a_host_known_only_by_its_ecdsa_or_rsa_key_connects_in_strict_mode() {
    let e = Env::new();
    let mut c = Cluster::start(&e, 1);
    c.servers[0].restart_with_host_keys(&["ecdsa", "rsa"]);
    c.write_config(&e, "", &[]);
    let port = c.servers[0].port;
    for ty in ["ecdsa", "rsa"] {
        let line = format!("[127.0.0.1]:{port} {}\n", c.servers[0].host_key(ty));
        std::fs::write(known_hosts(&c), &line).unwrap();
        let (o, text) = check(&e, false);
        assert_usable(&o, &text);
        // accept-new learns nothing either: the known key was used
        let (o, text) = check(&e, true);
        assert_usable(&o, &text);
        assert_eq!(std::fs::read_to_string(known_hosts(&c)).unwrap(), line);
    }
}

#[test]
fn revoked_keys_and_certificate_authorities_are_refused_in_every_mode() {
    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    let port = c.servers[0].port;
    let real = c.servers[0].host_key("ed25519");
    let revoked = format!("[127.0.0.1]:{port} {real}\n@revoked * {real}\n");
    std::fs::write(known_hosts(&c), &revoked).unwrap();
    for accept_new in [false, true] {
        let (o, text) = check(&e, accept_new);
        assert_refused(&o, &text, "is REVOKED");
        assert!(text.contains("known_hosts line 2"), "{text}");
    }
    let ca = format!("@cert-authority [127.0.0.1]:* {}\n", other_ed25519(&c));
    std::fs::write(known_hosts(&c), &ca).unwrap();
    for accept_new in [false, true] {
        let (o, text) = check(&e, accept_new);
        assert_refused(&o, &text, "host certificates are not supported");
    }
    assert_eq!(std::fs::read_to_string(known_hosts(&c)).unwrap(), ca);
}

#[test]
fn a_key_in_the_system_file_is_accepted() {
    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    let port = c.servers[0].port;
    let global = e.path("ssh_known_hosts");
    std::fs::write(
        &global,
        format!("[127.0.0.1]:{port} {}\n", c.servers[0].host_key("ed25519")),
    )
    .unwrap();
    std::fs::write(known_hosts(&c), "").unwrap();
    ssh_config(
        &c,
        &format!(
            "Host 127.0.0.1\n  GlobalKnownHostsFile {}\n",
            global.display()
        ),
    );
    let (o, text) = check(&e, false);
    assert_usable(&o, &text);
    // and a changed key there is refused like one in the user file
    std::fs::write(
        &global,
        format!("[127.0.0.1]:{port} {}\n", other_ed25519(&c)),
    )
    .unwrap();
    let (o, text) = check(&e, true);
    assert_refused(&o, &text, "HOST KEY CHANGED");
    assert!(text.contains("ssh_known_hosts line 1"), "{text}");
}

#[test]
fn accept_new_writes_a_hashed_line_with_hash_known_hosts() {
    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    let port = c.servers[0].port;
    std::fs::remove_file(known_hosts(&c)).unwrap();
    ssh_config(&c, "Host *\n  HashKnownHosts yes\n");
    let (o, text) = check(&e, false);
    assert_refused(&o, &text, "is not in");
    let (o, text) = check(&e, true);
    assert_usable(&o, &text);
    let learned = std::fs::read_to_string(known_hosts(&c)).unwrap();
    assert!(
        learned.starts_with("|1|") && !learned.contains("127.0.0.1"),
        "hashed: {learned}"
    );
    assert_eq!(learned.lines().count(), 1, "{learned}");
    assert!(
        keygen_finds(&known_hosts(&c), &format!("[127.0.0.1]:{port}")),
        "OpenSSH finds it: {learned}"
    );
    let (o, text) = check(&e, false);
    assert_usable(&o, &text);
}

#[test]
fn user_known_hosts_file_from_ssh_config_is_used() {
    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    let port = c.servers[0].port;
    // the default file holds a wrong key, which must not be read
    std::fs::write(
        known_hosts(&c),
        format!("[127.0.0.1]:{port} {}\n", other_ed25519(&c)),
    )
    .unwrap();
    ssh_config(
        &c,
        "Host 127.0.0.1\n  UserKnownHostsFile ~/elsewhere/hosts\n",
    );
    let (o, text) = check(&e, false);
    assert_refused(&o, &text, "elsewhere/hosts");
    let (o, text) = check(&e, true);
    assert_usable(&o, &text);
    let learned = std::fs::read_to_string(e.path("elsewhere/hosts")).unwrap();
    assert!(
        learned.contains(&format!("[127.0.0.1]:{port}")),
        "{learned}"
    );
    let (o, text) = check(&e, false);
    assert_usable(&o, &text);
}

#[test]
fn proxy_jump_is_refused_with_one_line() {
    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    ssh_config(&c, "Host 127.0.0.1\n  ProxyJump bastion.example\n");
    let (o, text) = check(&e, false);
    assert_refused(
        &o,
        &text,
        "ProxyJump in ~/.ssh/config (Host 127.0.0.1) is not supported; ",
    );
    ssh_config(&c, "Host 127.0.0.1\n  ProxyCommand nc %h %p\n");
    let (o, text) = check(&e, false);
    assert_refused(&o, &text, "ProxyCommand in ~/.ssh/config");
}

#[test]
fn identities_only_keeps_the_agents_keys_out() {
    let e = Env::new();
    let c = Cluster::configured(&e, 1);
    let ssh = c.home.join(".ssh");
    // the authorized key is only in the agent; the key file is another one
    let sock = e.path("agent.sock");
    let agent = common::sshd::Agent::start(&sock);
    let add = std::process::Command::new("ssh-add")
        .arg(ssh.join("id_ed25519"))
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(add.status.success());
    let other = ssh.join("other_key");
    let gen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(gen.status.success());
    let run = || {
        let mut c = e.distr();
        c.env("SSH_AUTH_SOCK", &sock);
        run_check(c)
    };
    ssh_config(&c, "Host 127.0.0.1\n  IdentityFile ~/.ssh/other_key\n");
    let (o, text) = run();
    assert_usable(&o, &text);
    ssh_config(
        &c,
        "Host 127.0.0.1\n  IdentityFile ~/.ssh/other_key\n  IdentitiesOnly yes\n",
    );
    let (o, text) = run();
    assert_refused(&o, &text, "authentication failed");
    assert!(
        text.contains("other_key") && !text.contains("ssh-agent keys"),
        "{text}"
    );
    drop(agent);
}

/// A worker that stops answering after the connection is up: opening a channel gives up
/// after the target's channel timeout instead of waiting forever.
#[test]
fn a_channel_open_to_a_frozen_worker_times_out() {
    use distrffmpeg::worker::ssh::conn::{connect, default_identities, HostKeyPolicy, Target};
    use distrffmpeg::worker::ssh::known_hosts::KnownHostsFiles;
    use std::time::{Duration, Instant};
    let e = Env::new();
    let c = Cluster::start(&e, 1);
    let t = Target {
        label: "frozen".into(),
        host: "127.0.0.1".into(),
        port: c.servers[0].port,
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        identity_files: default_identities(&c.home),
        identities_only: true,
        connect_timeout: Duration::from_secs(5),
        channel_timeout: Duration::from_secs(2),
        known_hosts: KnownHostsFiles {
            user: vec![known_hosts(&c)],
            global: vec![],
            hash: false,
        },
        policy: HostKeyPolicy::Strict,
        unsupported: None,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conn = connect(&t).await.expect("connects");
        conn.open_session()
            .await
            .expect("a channel while it answers");
        conn.open_subsystem("sftp")
            .await
            .expect("sftp while it answers");
        let frozen = c.servers[0].freeze_sessions();
        for subsystem in [None, Some("sftp")] {
            let started = Instant::now();
            let err = match subsystem {
                None => conn.open_session().await.map(|_| ()).unwrap_err(),
                Some(s) => conn.open_subsystem(s).await.map(|_| ()).unwrap_err(),
            }
            .to_string();
            assert!(err.contains("no answer within 2s"), "{err}");
            let took = started.elapsed();
            assert!(
                took >= Duration::from_secs(2) && took < Duration::from_secs(4),
                "{took:?}"
            );
        }
        c.servers[0].thaw(&frozen);
    });
}
