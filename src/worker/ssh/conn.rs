//! One SSH connection to a worker with russh: connect with a timeout, check the host key
//! against the known_hosts files (strict, or accept-new; see `known_hosts`), offering the
//! host-key algorithms already known for the host first, authenticate with ssh-agent then key
//! files (only the files with `IdentitiesOnly`), and open channels (with a timeout) and run
//! commands on that single connection.

use super::known_hosts::{self, HostEntries, KnownHostsError, KnownHostsFiles, Place, Verdict};
use russh::client::{self, Handle, Msg};
use russh::keys::{self, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{cipher, Channel, ChannelMsg};
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

/// The least time a worker gets to answer a channel open or a subsystem request.
pub const MIN_CHANNEL_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// ssh_config `IdentitiesOnly yes`: the agent's keys are not offered.
    pub identities_only: bool,
    pub connect_timeout: Duration,
    /// How long a channel open or a subsystem request may take.
    pub channel_timeout: Duration,
    pub known_hosts: KnownHostsFiles,
    pub policy: HostKeyPolicy,
    /// Why ssh_config's way to reach this worker cannot be followed (ProxyJump, ...).
    pub unsupported: Option<String>,
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
    #[error("{label}: host key {fingerprint} of {host_port} is REVOKED ({known_hosts} line {line}); refusing to connect")]
    RevokedHostKey {
        label: String,
        host_port: String,
        fingerprint: String,
        known_hosts: String,
        line: usize,
    },
    #[error("{label}: {known_hosts} line {line} names a @cert-authority for {host_port}, but host certificates are not supported; add the host's own key ({fingerprint}) with ssh-keyscan")]
    CertAuthority {
        label: String,
        host_port: String,
        fingerprint: String,
        known_hosts: String,
        line: usize,
    },
    #[error("{label}: {detail}")]
    Unsupported { label: String, detail: String },
    #[error("{label}: known_hosts: {detail}")]
    KnownHosts {
        label: String,
        detail: KnownHostsError,
    },
    #[error("{label}: authentication failed for {user}: {detail}")]
    Auth {
        label: String,
        user: String,
        detail: String,
    },
}

/// Why a channel of an open connection could not be used (the caller names the worker).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("cannot open a channel: no answer within {0}s")]
    OpenTimeout(u64),
    #[error("cannot open a channel: {0}")]
    Open(russh::Error),
    #[error("no {} subsystem: {why}", .subsystem.to_uppercase())]
    Subsystem { subsystem: String, why: String },
    #[error("exec failed: {0}")]
    Exec(russh::Error),
    /// Closing the command's stdin failed.
    #[error("{0}")]
    Eof(russh::Error),
    #[error("no answer within {0}s")]
    Timeout(u64),
}

/// Why the host key check said no (filled in by the handler, read after the handshake).
#[derive(Debug, Clone)]
enum Refusal {
    Unknown(String),
    Changed(String, Place),
    Revoked(String, Place),
    CertAuthority(String, Place),
    Learn(KnownHostsError),
}

pub struct Client {
    host: String,
    port: u16,
    files: KnownHostsFiles,
    entries: HostEntries,
    policy: HostKeyPolicy,
    refusal: Arc<Mutex<Option<Refusal>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.refusal.lock().unwrap() = Some(Refusal::Unknown("a certificate".into()));
            return Ok(false);
        };
        let fp = known_hosts::fingerprint(key);
        let refusal = match self.entries.verdict(key) {
            Verdict::Known => return Ok(true),
            Verdict::Unknown if self.policy == HostKeyPolicy::AcceptNew => {
                match known_hosts::learn(&self.files, &self.host, self.port, key) {
                    Ok(file) => {
                        tracing::info!(
                            "learned the host key of {} ({fp}) into {}",
                            known_hosts::host_name(&self.host, self.port),
                            file.display()
                        );
                        return Ok(true);
                    }
                    Err(e) => Refusal::Learn(e),
                }
            }
            Verdict::Unknown => Refusal::Unknown(fp),
            Verdict::Changed(p) => Refusal::Changed(fp, p),
            Verdict::Revoked(p) => Refusal::Revoked(fp, p),
            Verdict::CertAuthority(p) => Refusal::CertAuthority(fp, p),
        };
        *self.refusal.lock().unwrap() = Some(refusal);
        Ok(false)
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

fn refused(t: &Target, r: Refusal) -> ConnectError {
    let label = t.label.clone();
    let host_port = known_hosts::host_name(&t.host, t.port);
    match r {
        Refusal::Unknown(fingerprint) => ConnectError::UnknownHostKey {
            label,
            host_port,
            fingerprint,
            known_hosts: t.known_hosts.describe(),
        },
        Refusal::Changed(fingerprint, p) => ConnectError::ChangedHostKey {
            label,
            host_port,
            fingerprint,
            known_hosts: p.file.display().to_string(),
            line: p.line,
        },
        Refusal::Revoked(fingerprint, p) => ConnectError::RevokedHostKey {
            label,
            host_port,
            fingerprint,
            known_hosts: p.file.display().to_string(),
            line: p.line,
        },
        Refusal::CertAuthority(fingerprint, p) => ConnectError::CertAuthority {
            label,
            host_port,
            fingerprint,
            known_hosts: p.file.display().to_string(),
            line: p.line,
        },
        Refusal::Learn(detail) => ConnectError::KnownHosts { label, detail },
    }
}

/// Connects and authenticates.
pub async fn connect(t: &Target) -> Result<Conn, ConnectError> {
    if let Some(detail) = &t.unsupported {
        return Err(ConnectError::Unsupported {
            label: t.label.clone(),
            detail: detail.clone(),
        });
    }
    let entries = HostEntries::lookup(&t.known_hosts, &t.host, t.port).map_err(|detail| {
        ConnectError::KnownHosts {
            label: t.label.clone(),
            detail,
        }
    })?;
    let host_keys = entries.preferred_algorithms();
    let refusal = Arc::new(Mutex::new(None));
    let handler = Client {
        host: t.host.clone(),
        port: t.port,
        files: t.known_hosts.clone(),
        entries,
        policy: t.policy,
        refusal: refusal.clone(),
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
            key: Cow::Owned(host_keys),
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
            return Err(match refusal.lock().unwrap().clone() {
                Some(r) => refused(t, r),
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
    if !t.identities_only && std::env::var_os("SSH_AUTH_SOCK").is_some() {
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
    /// Opens a session channel; the worker must answer within the channel timeout.
    pub async fn open_session(&self) -> Result<Channel<Msg>, ChannelError> {
        let limit = self.target.channel_timeout;
        tokio::time::timeout(limit, self.handle.channel_open_session())
            .await
            .map_err(|_| ChannelError::OpenTimeout(limit.as_secs()))?
            .map_err(ChannelError::Open)
    }

    /// Opens a session channel running `subsystem` (e.g. sftp), waiting for the worker's
    /// reply to the request within the channel timeout.
    pub async fn open_subsystem(&self, subsystem: &str) -> Result<Channel<Msg>, ChannelError> {
        let mut ch = self.open_session().await?;
        let limit = self.target.channel_timeout;
        let no = |why: String| ChannelError::Subsystem {
            subsystem: subsystem.to_string(),
            why,
        };
        ch.request_subsystem(true, subsystem)
            .await
            .map_err(|e| no(e.to_string()))?;
        let reply = async {
            loop {
                match ch.wait().await {
                    Some(ChannelMsg::Success) => return Ok(()),
                    Some(ChannelMsg::Failure) => return Err(no("refused by the worker".into())),
                    Some(ChannelMsg::Close | ChannelMsg::Eof) | None => {
                        return Err(no("the channel closed".into()))
                    }
                    Some(_) => {}
                }
            }
        };
        tokio::time::timeout(limit, reply)
            .await
            .map_err(|_| no(format!("no answer within {}s", limit.as_secs())))??;
        Ok(ch)
    }

    /// Runs a command to completion (stdin closed at once), with a deadline.
    pub async fn run(&self, command: &str, timeout: Duration) -> Result<RunOutput, ChannelError> {
        let fut = async {
            let mut ch = self.open_session().await?;
            ch.exec(true, command).await.map_err(ChannelError::Exec)?;
            ch.eof().await.map_err(ChannelError::Eof)?;
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
            .map_err(|_| ChannelError::Timeout(timeout.as_secs()))?
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
