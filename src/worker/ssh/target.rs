//! From config worker entries to connection targets: duplicate entries become slots of one
//! worker, `~/.ssh/config` Host aliases supply HostName, Port, User, IdentityFile,
//! IdentitiesOnly and the known_hosts files (UserKnownHostsFile, GlobalKnownHostsFile,
//! HashKnownHosts), a ProxyJump/ProxyCommand makes the worker refused, and the config's own
//! values win over all of them.

use super::conn::{default_identities, HostKeyPolicy, Target, MIN_CHANNEL_TIMEOUT};
use super::known_hosts::KnownHostsFiles;
use super::quote::Platform;
use crate::config::{Config, WorkerConfig};
use ssh2_config::{HostParams, ParseRule, SshConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One SSH worker machine and how many encodes it runs at once.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub target: Target,
    pub platform: Platform,
    pub ffmpeg: String,
    pub work_path: String,
    pub slots: usize,
}

/// Reads `~/.ssh/config` if there is one (unknown directives are ignored).
pub fn load_ssh_config(home: &Path) -> Option<SshConfig> {
    let path = home.join(".ssh").join("config");
    let f = std::fs::File::open(&path).ok()?;
    let mut r = std::io::BufReader::new(f);
    match SshConfig::default().home_dir(home).parse(
        &mut r,
        ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
    ) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            None
        }
    }
}

fn expand_home(p: &str, home: &Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(p),
    }
}

/// ssh_config's `%` tokens in file names (`%d` home, `%h` host, `%p` port, `%r` remote
/// user, `%u` local user, `%%`), and a leading `~/`.
fn expand_file(p: &str, home: &Path, host: &str, port: u16, user: &str) -> PathBuf {
    let mut out = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&home.to_string_lossy()),
            Some('h') => out.push_str(host),
            Some('p') => out.push_str(&port.to_string()),
            Some('r') => out.push_str(user),
            Some('u') => out.push_str(&local_user()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    if out == "~" {
        return home.to_path_buf();
    }
    expand_home(&out, home)
}

/// The arguments of an ssh_config directive ssh2-config leaves to us (lowercase name).
fn directive<'a>(p: Option<&'a HostParams>, name: &str) -> Option<&'a [String]> {
    p.and_then(|p| p.unsupported_fields.get(name))
        .map(Vec::as_slice)
        .filter(|a| !a.is_empty())
}

fn is_yes(args: Option<&[String]>) -> bool {
    args.and_then(|a| a.first())
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
}

/// The known_hosts files for a host: ssh_config's UserKnownHostsFile and
/// GlobalKnownHostsFile (`none`: no file) or OpenSSH's defaults, and HashKnownHosts.
fn known_hosts_files(
    p: Option<&HostParams>,
    home: &Path,
    host: &str,
    port: u16,
    user: &str,
) -> KnownHostsFiles {
    let mut files = KnownHostsFiles::defaults(home);
    let list = |args: &[String]| -> Vec<PathBuf> {
        args.iter()
            .map(|a| {
                a.strip_prefix('"')
                    .and_then(|a| a.strip_suffix('"'))
                    .unwrap_or(a)
            })
            .filter(|a| !a.eq_ignore_ascii_case("none"))
            .map(|a| expand_file(a, home, host, port, user))
            .collect()
    };
    if let Some(a) = directive(p, "userknownhostsfile") {
        files.user = list(a);
    }
    if let Some(a) = directive(p, "globalknownhostsfile") {
        files.global = list(a);
    }
    files.hash = is_yes(directive(p, "hashknownhosts"));
    files
}

/// Why a worker cannot be reached the way ssh_config says: a jump host or proxy command.
fn unsupported(p: Option<&HostParams>, alias: &str) -> Option<String> {
    let jump = p
        .and_then(|p| p.proxy_jump.as_ref())
        .filter(|j| !j.is_empty() && !j.iter().all(|h| h.eq_ignore_ascii_case("none")));
    if jump.is_some() {
        return Some(format!(
            "ProxyJump in ~/.ssh/config (Host {alias}) is not supported; make the worker reachable directly, or forward a local port to it (ssh -L) and name 127.0.0.1 with that port"
        ));
    }
    let cmd = directive(p, "proxycommand")
        .filter(|a| !(a.len() == 1 && a[0].eq_ignore_ascii_case("none")));
    cmd.map(|_| {
        format!(
            "ProxyCommand in ~/.ssh/config (Host {alias}) is not supported; make the worker reachable directly, or forward a local port to it (ssh -L) and name 127.0.0.1 with that port"
        )
    })
}

/// The login name of the current user from the OS (getpwuid), not from the environment.
#[cfg(unix)]
#[allow(unsafe_code)]
fn os_user() -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; the name is copied out before `buf` drops.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut res,
        )
    };
    if rc != 0 || res.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

#[cfg(not(unix))]
fn os_user() -> Option<String> {
    std::env::var("USERNAME").ok()
}

/// The local user: `$USER`, else the OS's name for the current uid.
fn local_user() -> String {
    user_or_os(std::env::var("USER").ok())
}

fn user_or_os(env_user: Option<String>) -> String {
    env_user
        .filter(|u| !u.is_empty())
        .or_else(os_user)
        .unwrap_or_else(|| "root".into())
}

fn key(w: &WorkerConfig) -> String {
    serde_json::to_string(&(
        &w.host,
        &w.user,
        w.params.port,
        &w.work_path,
        &w.ffmpeg_bin,
        w.platform.to_ascii_lowercase(),
        &w.identity_file,
    ))
    .unwrap_or_default()
}

/// The SSH workers of a config, in config order, duplicates merged into slots.
pub fn worker_specs(config: &Config, home: &Path, ssh: Option<&SshConfig>) -> Vec<WorkerSpec> {
    let mut out: Vec<(String, WorkerSpec)> = Vec::new();
    let policy = if config.host_key_check == "accept-new" {
        HostKeyPolicy::AcceptNew
    } else {
        HostKeyPolicy::Strict
    };
    for w in &config.workers {
        let slots = w.slots.unwrap_or(1);
        let k = key(w);
        if let Some((_, spec)) = out.iter_mut().find(|(kk, _)| *kk == k) {
            spec.slots += slots;
            continue;
        }
        let params = ssh.map(|c| c.query(&w.host));
        let host = params
            .as_ref()
            .and_then(|p| p.host_name.clone())
            .unwrap_or_else(|| w.host.clone());
        let port = w
            .params
            .port
            .or_else(|| params.as_ref().and_then(|p| p.port))
            .unwrap_or(22);
        let user = w
            .user
            .clone()
            .or_else(|| params.as_ref().and_then(|p| p.user.clone()))
            .unwrap_or_else(local_user);
        let mut identity_files: Vec<PathBuf> = w
            .identity_file
            .iter()
            .map(|p| expand_home(p, home))
            .collect();
        if let Some(files) = params.as_ref().and_then(|p| p.identity_file.clone()) {
            identity_files.extend(
                files
                    .into_iter()
                    .map(|p| expand_home(&p.to_string_lossy(), home)),
            );
        }
        if identity_files.is_empty() {
            identity_files = default_identities(home);
        }
        let timeout = w
            .params
            .timeout
            .or_else(|| {
                params
                    .as_ref()
                    .and_then(|p| p.connect_timeout.map(|d| d.as_secs()))
            })
            .unwrap_or(10);
        let label = if port == 22 {
            format!("{user}@{}", w.host)
        } else {
            format!("{user}@{}:{port}", w.host)
        };
        let known_hosts = known_hosts_files(params.as_ref(), home, &host, port, &user);
        let spec = WorkerSpec {
            target: Target {
                label,
                host,
                port,
                user,
                identity_files,
                identities_only: is_yes(directive(params.as_ref(), "identitiesonly")),
                connect_timeout: Duration::from_secs(timeout.max(1)),
                channel_timeout: Duration::from_secs(timeout).max(MIN_CHANNEL_TIMEOUT),
                known_hosts,
                policy,
                unsupported: unsupported(params.as_ref(), &w.host),
            },
            platform: Platform::from_config(&w.platform),
            ffmpeg: w.ffmpeg_bin.clone().unwrap_or_else(|| "ffmpeg".into()),
            work_path: w
                .work_path
                .clone()
                .unwrap_or_else(|| config.server_work_path.clone()),
            slots,
        };
        out.push((k, spec));
    }
    out.into_iter().map(|(_, s)| s).collect()
}

/// The user's home directory.
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_sample_becomes_three_workers_with_slots() {
        let text = include_str!("../../../config.sample.json");
        let c = Config::from_json(text, Path::new("config.sample.json")).unwrap();
        let specs = worker_specs(&c, Path::new("/home/u"), None);
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[0].target.port, 2222);
        assert_eq!(specs[0].target.label, "linuxnerd@192.168.1.100:2222");
        assert_eq!(specs[1].platform, Platform::Windows);
        assert_eq!(
            specs[1].work_path,
            "/Users/MyUser/AppData/Local/Temp/distrffmpeg"
        );
        assert_eq!(specs[2].slots, 3, "three identical entries are three slots");
        assert_eq!(specs[2].target.connect_timeout, Duration::from_secs(20));
        assert_eq!(
            specs[2].target.identity_files[0],
            PathBuf::from("/home/u/.ssh/id_ed25519")
        );
    }

    #[test]
    fn ssh_config_aliases_fill_in_the_gaps() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(
            home.path().join(".ssh/config"),
            "Host enc1\n  HostName 10.1.2.3\n  Port 2200\n  User encoder\n  IdentityFile ~/.ssh/enc_key\n  ForwardX11 no\n",
        )
        .unwrap();
        let ssh = load_ssh_config(home.path());
        assert!(ssh.is_some());
        let c = Config {
            workers: serde_json::from_str(
                r#"[{"host": "enc1"}, {"host": "enc1", "user": "other", "slots": 2}]"#,
            )
            .unwrap(),
            ..Config::default()
        };
        let specs = worker_specs(&c, home.path(), ssh.as_ref());
        assert_eq!(specs.len(), 2);
        let t = &specs[0].target;
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str()),
            ("10.1.2.3", 2200, "encoder")
        );
        assert_eq!(t.identity_files, vec![home.path().join(".ssh/enc_key")]);
        assert_eq!(specs[1].target.user, "other");
        assert_eq!(specs[1].slots, 2);
    }

    fn one_spec(home: &Path, ssh_config: &str) -> Target {
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/config"), ssh_config).unwrap();
        let ssh = load_ssh_config(home).expect("parsed");
        let c = Config {
            workers: serde_json::from_str(r#"[{"host": "enc1"}]"#).unwrap(),
            ..Config::default()
        };
        worker_specs(&c, home, Some(&ssh)).remove(0).target
    }

    #[test]
    fn known_hosts_files_come_from_ssh_config() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let t = one_spec(h, "Host enc1\n  HostName 10.1.2.3\n  Port 2200\n");
        assert_eq!(t.known_hosts, KnownHostsFiles::defaults(h));
        assert!(!t.identities_only && t.unsupported.is_none());
        let t = one_spec(
            h,
            "Host enc1\n  HostName 10.1.2.3\n  UserKnownHostsFile ~/kh/%h_%p \"%d/second file\"\n  \
             GlobalKnownHostsFile /srv/global_hosts\n  HashKnownHosts yes\n  IdentitiesOnly yes\n",
        );
        assert_eq!(
            t.known_hosts.user,
            vec![h.join("kh/10.1.2.3_22"), h.join("second file")]
        );
        assert_eq!(
            t.known_hosts.global,
            vec![PathBuf::from("/srv/global_hosts")]
        );
        assert!(t.known_hosts.hash);
        assert!(t.identities_only);
        let t = one_spec(
            h,
            "Host *\n  UserKnownHostsFile none\n  HashKnownHosts no\n",
        );
        assert!(t.known_hosts.user.is_empty() && !t.known_hosts.hash);
    }

    #[test]
    fn proxy_jump_and_proxy_command_are_refused_with_one_line() {
        let home = tempfile::tempdir().unwrap();
        let t = one_spec(home.path(), "Host enc1\n  ProxyJump bastion\n");
        let why = t.unsupported.expect("refused");
        assert!(
            why.starts_with("ProxyJump in ~/.ssh/config (Host enc1) is not supported; "),
            "{why}"
        );
        let t = one_spec(
            home.path(),
            "Host enc1\n  ProxyCommand ssh -W %h:%p bastion\n",
        );
        assert!(t
            .unsupported
            .expect("refused")
            .starts_with("ProxyCommand in ~/.ssh/config"));
        let t = one_spec(
            home.path(),
            "Host enc1\n  ProxyJump none\n  ProxyCommand none\n",
        );
        assert_eq!(t.unsupported, None);
    }

    #[test]
    fn without_user_the_os_names_the_current_user() {
        let id = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let name = String::from_utf8(id.stdout).unwrap().trim().to_string();
        assert_eq!(os_user().as_deref(), Some(name.as_str()));
        assert_eq!(user_or_os(None), name, "$USER unset");
        assert_eq!(user_or_os(Some(String::new())), name, "$USER empty");
        assert_eq!(user_or_os(Some("enc".into())), "enc");
    }
}
