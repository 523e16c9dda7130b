//! One SSH connection to a worker with russh: connect with a timeout, check the host key
//! against known_hosts (strict, or accept-new), authenticate with ssh-agent then key files, and
//! run commands on channels of that single connection.

use russh::client::{self, Handle};
use russh::keys::{self, HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{cipher, ChannelMsg};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// AES-GCM first: with AES instructions it costs a worker's sshd less CPU per byte than
/// chacha20-poly1305 (russh's and OpenSSH's first choice). Through a half-CPU sshd on loopback
/// it moved 20 % more up and 70 % more down; that CPU is taken from the worker's encode.
const CIPHERS: &[cipher::Name] = &[
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_CTR,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    Strict,
    AcceptNew,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// How messages name the worker (the config's host, or its ssh config alias).
    pub label: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    pub connect_timeout: Duration,
    pub known_hosts: PathBuf,
    pub policy: HostKeyPolicy,
}

/// Why a connection could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("{label}: cannot connect to {host}:{port}: {reason}")]
    Unreachable {
        label: String,
        host: String,
        port: u16,
        reason: String,
    },
    #[error("{label}: connection timed out after {secs}s")]
    Timeout { label: String, secs: u64 },
    #[error("{label}: host key for {host_port} is not in {known_hosts} ({fingerprint}); add it (ssh-keyscan) or set \"host_key_check\": \"accept-new\"")]
    UnknownHostKey {
        label: String,
        host_port: String,
        fingerprint: String,
        known_hosts: String,
    },
    #[error("{label}: HOST KEY CHANGED for {host_port} (now {fingerprint}, {known_hosts} line {line}); refusing to connect")]
    ChangedHostKey {
        label: String,
        host_port: String,
        fingerprint: String,
        known_hosts: String,
        line: usize,
    },
    #[error("{label}: authentication failed for {user}: {detail}")]
    Auth {
        label: String,
        user: String,
        detail: String,
    },
}

#[derive(Debug, Clone)]
enum KeyVerdict {
    Unknown(String),
    Changed(String, usize),
}

pub struct Client {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    policy: HostKeyPolicy,
    verdict: Arc<Mutex<Option<KeyVerdict>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.verdict.lock().unwrap() = Some(KeyVerdict::Unknown("a certificate".into()));
            return Ok(false);
        };
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        match keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts) {
            Ok(true) => Ok(true),
            Ok(false) if self.policy == HostKeyPolicy::AcceptNew => {
                keys::known_hosts::learn_known_hosts_path(
                    &self.host,
                    self.port,
                    key,
                    &self.known_hosts,
                )
                .map(|_| true)
                .map_err(|e| russh::Error::IO(std::io::Error::other(e.to_string())))
            }
            Ok(false) => {
                *self.verdict.lock().unwrap() = Some(KeyVerdict::Unknown(fp));
                Ok(false)
            }
            Err(keys::Error::KeyChanged { line }) => {
                *self.verdict.lock().unwrap() = Some(KeyVerdict::Changed(fp, line));
                Ok(false)
            }
            Err(e) => Err(russh::Error::IO(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Output of a finished remote command.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: Option<u32>,
}

pub struct Conn {
    pub target: Target,
    pub handle: Handle<Client>,
}

fn host_port(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Connects and authenticates.
pub async fn connect(t: &Target) -> Result<Conn, ConnectError> {
    let verdict = Arc::new(Mutex::new(None));
    let handler = Client {
        host: t.host.clone(),
        port: t.port,
        known_hosts: t.known_hosts.clone(),
        policy: t.policy,
        verdict: verdict.clone(),
    };
    let config = Arc::new(client::Config {
        window_size: 16 * 1024 * 1024,
        maximum_packet_size: 65535,
        channel_buffer_size: 256,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        nodelay: true,
        preferred: russh::Preferred {
            cipher: Cow::Borrowed(CIPHERS),
            ..Default::default()
        },
        ..Default::default()
    });
    let fut = client::connect(config, (t.host.as_str(), t.port), handler);
    // the timeout bounds the handshake and the authentication together
    let deadline = tokio::time::Instant::now() + t.connect_timeout;
    let timed_out = || ConnectError::Timeout {
        label: t.label.clone(),
        secs: t.connect_timeout.as_secs(),
    };
    let res = tokio::time::timeout_at(deadline, fut)
        .await
        .map_err(|_| timed_out())?;
    let mut handle = match res {
        Ok(h) => h,
        Err(e) => {
            let kh = t.known_hosts.display().to_string();
            let hp = host_port(&t.host, t.port);
            return Err(match verdict.lock().unwrap().clone() {
                Some(KeyVerdict::Unknown(fp)) => ConnectError::UnknownHostKey {
                    label: t.label.clone(),
                    host_port: hp,
                    fingerprint: fp,
                    known_hosts: kh,
                },
                Some(KeyVerdict::Changed(fp, line)) => ConnectError::ChangedHostKey {
                    label: t.label.clone(),
                    host_port: hp,
                    fingerprint: fp,
                    known_hosts: kh,
                    line,
                },
                None => ConnectError::Unreachable {
                    label: t.label.clone(),
                    host: t.host.clone(),
                    port: t.port,
                    reason: e.to_string(),
                },
            });
        }
    };
    tokio::time::timeout_at(deadline, authenticate(&mut handle, t))
        .await
        .map_err(|_| timed_out())??;
    Ok(Conn {
        target: t.clone(),
        handle,
    })
}

async fn authenticate(handle: &mut Handle<Client>, t: &Target) -> Result<(), ConnectError> {
    let auth_err = |detail: String| ConnectError::Auth {
        label: t.label.clone(),
        user: t.user.clone(),
        detail,
    };
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    let mut tried = Vec::new();
    #[cfg(unix)]
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        if let Ok(mut agent) = keys::agent::client::AgentClient::connect_env().await {
            let ids = agent.request_identities().await.unwrap_or_default();
            for id in ids {
                let keys::agent::AgentIdentity::PublicKey { key, .. } = id else {
                    continue;
                };
                let ok = handle
                    .authenticate_publickey_with(&t.user, key, rsa_hash, &mut agent)
                    .await
                    .is_ok_and(|r| r.success());
                if ok {
                    return Ok(());
                }
            }
            tried.push("ssh-agent keys".to_string());
        }
    }
    let mut encrypted = Vec::new();
    for path in &t.identity_files {
        if !path.exists() {
            continue;
        }
        match keys::load_secret_key(path, None) {
            Ok(key) => {
                let key = PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash);
                let ok = handle
                    .authenticate_publickey(&t.user, key)
                    .await
                    .is_ok_and(|r| r.success());
                if ok {
                    return Ok(());
                }
                tried.push(path.display().to_string());
            }
            Err(keys::Error::KeyIsEncrypted) => encrypted.push(path.display().to_string()),
            Err(e) => tried.push(format!("{} ({e})", path.display())),
        }
    }
    if !encrypted.is_empty() && tried.iter().all(|t| t == "ssh-agent keys") {
        return Err(auth_err(format!(
            "key {} is encrypted; add it to ssh-agent (ssh-add) so distrffmpeg can use it",
            encrypted.join(", ")
        )));
    }
    if tried.is_empty() {
        return Err(auth_err(
            "no ssh-agent and no key file found (ssh-keygen, then ssh-copy-id)".into(),
        ));
    }
    Err(auth_err(format!("the server refused {}", tried.join(", "))))
}

impl Conn {
    /// Runs a command to completion (stdin closed at once), with a deadline.
    pub async fn run(&self, command: &str, timeout: Duration) -> Result<RunOutput, String> {
        let fut = async {
            let mut ch = self
                .handle
                .channel_open_session()
                .await
                .map_err(|e| format!("cannot open a channel: {e}"))?;
            ch.exec(true, command)
                .await
                .map_err(|e| format!("exec failed: {e}"))?;
            ch.eof().await.map_err(|e| e.to_string())?;
            let mut out = RunOutput::default();
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, .. } => out.stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                    _ => {}
                }
            }
            Ok(out)
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }
}

/// The key files tried when the config names none: OpenSSH's defaults.
pub fn default_identities(home: &Path) -> Vec<PathBuf> {
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .collect()
}
