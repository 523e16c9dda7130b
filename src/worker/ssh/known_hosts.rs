//! known_hosts as OpenSSH reads it: the user files then the system files, plain and hashed
//! (`|1|salt|hash`) host names, `[host]:port`, `*`/`?` wildcards and `!` negation, `@revoked`
//! and `@cert-authority` lines, several keys per host; the verdict on a presented host key, the
//! host-key algorithms to offer first, and appending a learned key (hashed on request).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::{Algorithm, HashAlg, PublicKey};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why known_hosts could not be read or a learned key not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnownHostsError {
    #[error("cannot read {}: {reason}", .file.display())]
    Read { file: PathBuf, reason: String },
    #[error("cannot encode the host key: {0}")]
    Encode(String),
    #[error("no random salt: {0}")]
    Salt(String),
    #[error("no user known_hosts file to learn the host key into (UserKnownHostsFile none)")]
    NoUserFile,
    #[error("cannot write {}: {reason}", .file.display())]
    Write { file: PathBuf, reason: String },
}

/// The known_hosts files consulted for a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHostsFiles {
    /// Read first (ssh_config `UserKnownHostsFile`); a learned key goes into the first one.
    pub user: Vec<PathBuf>,
    /// Read after the user files, never written (ssh_config `GlobalKnownHostsFile`).
    pub global: Vec<PathBuf>,
    /// Write learned host names hashed (ssh_config `HashKnownHosts yes`).
    pub hash: bool,
}

impl KnownHostsFiles {
    /// OpenSSH's defaults.
    pub fn defaults(home: &Path) -> KnownHostsFiles {
        let ssh = home.join(".ssh");
        KnownHostsFiles {
            user: vec![ssh.join("known_hosts"), ssh.join("known_hosts2")],
            global: vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ],
            hash: false,
        }
    }

    /// How messages name these files: the first user file and any other that exists.
    pub fn describe(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for (i, f) in self.user.iter().chain(&self.global).enumerate() {
            if i == 0 || f.exists() {
                names.push(f.display().to_string());
            }
        }
        if names.is_empty() {
            return "no known_hosts file (UserKnownHostsFile none)".into();
        }
        names.join(", ")
    }
}

/// A line of a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    pub line: usize,
}

/// What the known_hosts files say about a presented host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host holds this key.
    Known,
    /// No line for this host holds a key of this type.
    Unknown,
    /// A line for this host holds another key of this type.
    Changed(Place),
    /// A `@revoked` line for this host holds this key.
    Revoked(Place),
    /// Only a `@cert-authority` line speaks for this host (host certificates are unsupported).
    CertAuthority(Place),
}

#[derive(Debug, Clone)]
struct Line {
    place: Place,
    entry: Entry,
}

/// The lines of every file that apply to one host, in reading order.
#[derive(Debug, Clone, Default)]
pub struct HostEntries {
    lines: Vec<Line>,
}

/// The name known_hosts records for a host: `host`, or `[host]:port` when the port is not 22.
pub fn host_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH's `match_pattern`: `*` any run of characters, `?` any one character.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

fn hashed(salt: &[u8], name: &str) -> [u8; 20] {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).expect("HMAC takes any key length");
    mac.update(name.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Whether a line's host field applies to `name` (from [`host_name`]): a hashed name equal to
/// it, or a comma-separated pattern list with a positive match and no negated (`!`) match.
pub fn applies(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => hashed(salt, name) == *hash,
        HostPatterns::Patterns(list) => {
            let mut positive = false;
            for p in list {
                let p = p.to_ascii_lowercase();
                let (negated, p) = match p.strip_prefix('!') {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, p),
                };
                if glob(p.as_bytes(), name.as_bytes()) {
                    if negated {
                        return false;
                    }
                    positive = true;
                }
            }
            positive
        }
    }
}

/// One line as ssh-key parses it: comments removed, runs of blanks made single spaces.
fn parse_line(raw: &str) -> Option<Entry> {
    let text = raw.split('#').next().unwrap_or("");
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    words.join(" ").parse().ok()
}

impl HostEntries {
    /// Reads every file (a missing one counts as empty) and keeps the lines for `host:port`.
    pub fn lookup(
        files: &KnownHostsFiles,
        host: &str,
        port: u16,
    ) -> Result<HostEntries, KnownHostsError> {
        let name = host_name(host, port);
        let mut lines = Vec::new();
        for file in files.user.iter().chain(&files.global) {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(KnownHostsError::Read {
                        file: file.clone(),
                        reason: e.to_string(),
                    })
                }
            };
            for (i, raw) in text.lines().enumerate() {
                let Some(entry) = parse_line(raw) else {
                    if !raw.split('#').next().unwrap_or("").trim().is_empty() {
                        tracing::debug!(
                            "{} line {}: not understood, skipped",
                            file.display(),
                            i + 1
                        );
                    }
                    continue;
                };
                if applies(entry.host_patterns(), &name) {
                    let place = Place {
                        file: file.clone(),
                        line: i + 1,
                    };
                    lines.push(Line { place, entry });
                }
            }
        }
        Ok(HostEntries { lines })
    }

    fn plain(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().filter(|l| l.entry.marker().is_none())
    }

    /// The verdict on `key`: revoked beats everything, then a line holding it accepts it, then
    /// another key of its type is a changed key, then a certificate authority for the host
    /// refuses it (it never accepts a plain key); otherwise it is unknown.
    pub fn verdict(&self, key: &PublicKey) -> Verdict {
        let same = |l: &&Line| l.entry.public_key().key_data() == key.key_data();
        if let Some(l) = self
            .lines
            .iter()
            .filter(|l| l.entry.marker() == Some(&Marker::Revoked))
            .find(same)
        {
            return Verdict::Revoked(l.place.clone());
        }
        if self.plain().any(|l| same(&l)) {
            return Verdict::Known;
        }
        let kind = key.algorithm();
        if let Some(l) = self
            .plain()
            .find(|l| l.entry.public_key().algorithm() == kind)
        {
            return Verdict::Changed(l.place.clone());
        }
        match self
            .lines
            .iter()
            .find(|l| l.entry.marker() == Some(&Marker::CertAuthority))
        {
            Some(l) => Verdict::CertAuthority(l.place.clone()),
            None => Verdict::Unknown,
        }
    }

    /// The host-key algorithms to offer, in the order of the keys known for this host
    /// (OpenSSH does the same), then the rest of russh's defaults in their order.
    pub fn preferred_algorithms(&self) -> Vec<Algorithm> {
        let defaults = russh::Preferred::DEFAULT.key;
        let mut out: Vec<Algorithm> = Vec::new();
        for l in self.plain() {
            let known = l.entry.public_key().algorithm();
            for a in defaults.iter() {
                let fits = match (&known, a) {
                    (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
                    (k, a) => k == a,
                };
                if fits && !out.contains(a) {
                    out.push(a.clone());
                }
            }
        }
        for a in defaults.iter() {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }
}

/// The known_hosts line for a learned key: `name keytype base64key`, the name hashed as
/// `|1|base64salt|base64hash` (HMAC-SHA1 of the name keyed by a random salt) when asked.
pub fn learned_line(name: &str, key: &PublicKey, hash: bool) -> Result<String, KnownHostsError> {
    let key_text = key
        .to_openssh()
        .map_err(|e| KnownHostsError::Encode(e.to_string()))?;
    let host = if hash {
        let mut salt = [0u8; 20];
        getrandom::fill(&mut salt).map_err(|e| KnownHostsError::Salt(e.to_string()))?;
        let h = hashed(&salt, name);
        format!("|1|{}|{}", B64.encode(salt), B64.encode(h))
    } else {
        name.to_string()
    };
    Ok(format!("{host} {}\n", key_text.trim()))
}

/// Appends `key` for `host:port` to the first user file, creating it (0600) and its directory
/// (0700) when missing; returns the file written.
pub fn learn(
    files: &KnownHostsFiles,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<PathBuf, KnownHostsError> {
    let file = files.user.first().ok_or(KnownHostsError::NoUserFile)?;
    let line = learned_line(&host_name(host, port), key, files.hash)?;
    let fail = |e: std::io::Error| KnownHostsError::Write {
        file: file.clone(),
        reason: e.to_string(),
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(fail)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(file).map_err(fail)?;
    let ends_open = std::fs::read(file)
        .map(|b| b.last().is_some_and(|c| *c != b'\n'))
        .unwrap_or(false);
    let text = if ends_open { format!("\n{line}") } else { line };
    f.write_all(text.as_bytes()).map_err(fail)?;
    Ok(file.clone())
}

/// The SHA256 fingerprint messages show.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
#[path = "known_hosts_tests.rs"]
mod tests;
