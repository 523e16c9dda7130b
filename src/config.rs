//! Configuration: `~/.config/distrffmpeg/config.json` in the seed's format (loads unchanged),
//! `-df_key=value` overrides with type checking, and the defaults used when no file exists.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub ffmpeg_bin: String,
    pub ffprobe_bin: String,
    /// Default remote work path for workers that do not set `work_path`.
    pub server_work_path: String,
    /// ERROR, WARNING, INFO, DEBUG or TRACE (any case).
    pub loglevel: String,
    /// Target chunk length in frames.
    pub segment_frames: usize,
    /// Shortest and longest chunk, in frames.
    pub keyint_min: usize,
    pub keyint_max: usize,
    /// How many times a failed chunk is retried (on another worker when possible).
    pub job_max_retries: u32,
    pub workers: Vec<WorkerConfig>,
    /// A command (run with `sh -c` when a job starts) that prints more workers as a JSON array
    /// of `workers` entries; empty = none (`inventory`).
    pub workers_command: String,
    /// While a job runs, `workers_command` is read again every this many seconds (0: never):
    /// workers that appear join the job, workers that disappear leave it.
    pub workers_refresh: u64,
    /// Local encoder slots: a number, or "auto" (no SSH workers: one slot per 8 cores, at
    /// least 1; with SSH workers: 0).
    pub local_slots: Slots,
    /// "strict" (default) or "accept-new".
    pub host_key_check: String,
    /// Encode locally when every SSH worker is lost.
    pub fallback_local: bool,
    /// Seconds without progress after which a worker's encode is considered hung.
    pub stall_timeout: u64,
    /// Keep finished chunks across runs of the same command.
    pub resume: bool,
    /// Where job work dirs go; empty = the cache dir.
    pub work_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Slots {
    Count(usize),
    Named(String),
}

/// A whole number or "auto"; anything else is refused with those words (not serde's
/// "untagged enum").
impl<'de> Deserialize<'de> for Slots {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Slots, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Slots;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number or \"auto\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Slots, E> {
                usize::try_from(n)
                    .map(Slots::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Slots, E> {
                if s == "auto" {
                    Ok(Slots::Named(s.into()))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(s), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    pub host: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub work_path: Option<String>,
    #[serde(default)]
    pub ffmpeg_bin: Option<String>,
    #[serde(default = "default_platform")]
    pub platform: String,
    #[serde(default)]
    pub params: WorkerParams,
    #[serde(default)]
    pub slots: Option<usize>,
    #[serde(default)]
    pub identity_file: Option<String>,
}

fn default_platform() -> String {
    "Linux".into()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerParams {
    #[serde(default)]
    pub port: Option<u16>,
    /// Connect timeout in seconds (handshake and authentication together).
    #[serde(default)]
    pub timeout: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ffmpeg_bin: "ffmpeg".into(),
            ffprobe_bin: "ffprobe".into(),
            server_work_path: "~/.cache/distrffmpeg".into(),
            loglevel: "INFO".into(),
            segment_frames: 600,
            keyint_min: 300,
            keyint_max: 900,
            job_max_retries: 3,
            workers: Vec::new(),
            workers_command: String::new(),
            workers_refresh: 60,
            local_slots: Slots::Named("auto".into()),
            host_key_check: "strict".into(),
            fallback_local: false,
            stall_timeout: 120,
            resume: true,
            work_dir: String::new(),
        }
    }
}

/// The keys a `-df_` override may set.
pub const KEYS: &[&str] = &[
    "ffmpeg_bin",
    "ffprobe_bin",
    "server_work_path",
    "loglevel",
    "segment_frames",
    "keyint_min",
    "keyint_max",
    "job_max_retries",
    "workers",
    "workers_command",
    "workers_refresh",
    "local_slots",
    "host_key_check",
    "fallback_local",
    "stall_timeout",
    "resume",
    "work_dir",
];

/// Where the config file lives: `$DISTRFFMPEG_CONFIG`, else the platform config dir.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DISTRFFMPEG_CONFIG") {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "distrffmpeg")
        .map(|d| d.config_dir().join("config.json"))
}

impl Config {
    /// Parses a config file's text; errors name the key (`workers[0].slots`), what it
    /// accepts, and the line and column.
    pub fn from_json(text: &str, origin: &Path) -> Result<Config> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let c: Config = serde_path_to_error::deserialize(de)
            .map_err(|e| anyhow!("{}: {}", origin.display(), explain(&e)))?;
        c.validate().with_context(|| origin.display().to_string())?;
        Ok(c)
    }

    /// Loads the file if it exists, else the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_json(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(anyhow!("{}: {e}", path.display())),
        }
    }

    /// Applies `-df_key=value` overrides. Values are JSON when they parse as JSON (numbers,
    /// booleans, arrays), strings otherwise; a bare `-df_key` means `true`.
    pub fn apply_overrides<'a, I>(&mut self, overrides: I) -> Result<()>
    where
        I: IntoIterator<Item = (&'a str, Option<&'a str>)>,
    {
        let mut obj: Map<String, Value> = match serde_json::to_value(&*self)? {
            Value::Object(m) => m,
            _ => unreachable!("config serializes to an object"),
        };
        for (key, value) in overrides {
            if !KEYS.contains(&key) {
                bail!("unknown option -df_{key} (see -df_help)");
            }
            let v = match value {
                None => Value::Bool(true),
                Some(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.into())),
            };
            let mut probe = obj.clone();
            probe.insert(key.into(), v.clone());
            if let Err(e) = serde_path_to_error::deserialize::<_, Config>(Value::Object(probe)) {
                let shown = value.unwrap_or("");
                // the key is in the message already; name only a deeper path
                let why = explain(&e);
                let why = why.strip_prefix(&format!("{key}: ")).unwrap_or(&why);
                bail!("-df_{key}={shown}: invalid value ({why})");
            }
            obj.insert(key.into(), v);
        }
        let next: Config = serde_json::from_value(Value::Object(obj))?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        if self.keyint_min > self.keyint_max {
            bail!(
                "keyint_min ({}) is larger than keyint_max ({})",
                self.keyint_min,
                self.keyint_max
            );
        }
        if self.segment_frames == 0 || self.keyint_max == 0 {
            bail!("segment_frames and keyint_max must be positive");
        }
        if !matches!(self.host_key_check.as_str(), "strict" | "accept-new") {
            bail!(
                "host_key_check must be \"strict\" or \"accept-new\", not {:?}",
                self.host_key_check
            );
        }
        if self.level().is_none() {
            bail!(
                "loglevel must be ERROR, WARNING, INFO, DEBUG or TRACE, not {:?}",
                self.loglevel
            );
        }
        if let Slots::Named(s) = &self.local_slots {
            if s != "auto" {
                bail!("local_slots must be a number or \"auto\", not {s:?}");
            }
        }
        check_dir("server_work_path", &self.server_work_path)?;
        if !self.work_dir.is_empty() {
            check_dir("work_dir", &self.work_dir)?;
        }
        for (i, w) in self.workers.iter().enumerate() {
            if w.host.trim().is_empty() {
                bail!("workers[{i}].host is empty");
            }
            if !matches!(
                w.platform.to_ascii_lowercase().as_str(),
                "linux" | "windows" | "macos" | "darwin"
            ) {
                bail!(
                    "workers[{i}].platform must be Linux or Windows, not {:?}",
                    w.platform
                );
            }
            if w.slots == Some(0) {
                bail!("workers[{i}].slots must be at least 1");
            }
            if let Some(p) = &w.work_path {
                check_dir(&format!("workers[{i}].work_path"), p)?;
            }
        }
        Ok(())
    }

    /// The tracing level named by `loglevel`.
    pub fn level(&self) -> Option<tracing::Level> {
        match self.loglevel.to_ascii_uppercase().as_str() {
            "ERROR" => Some(tracing::Level::ERROR),
            "WARNING" | "WARN" => Some(tracing::Level::WARN),
            "INFO" => Some(tracing::Level::INFO),
            "DEBUG" => Some(tracing::Level::DEBUG),
            "TRACE" => Some(tracing::Level::TRACE),
            _ => None,
        }
    }

    /// Local slots after resolving "auto" against the core count.
    pub fn local_slot_count(&self, cores: usize) -> usize {
        match &self.local_slots {
            Slots::Count(n) => *n,
            Slots::Named(_) if self.workers.is_empty() => (cores / 8).max(1),
            Slots::Named(_) => 0,
        }
    }
}

/// Refuses a directory that is empty or the root (`/`, `C:\\`, `/..`): job dirs are made
/// and removed inside it.
fn check_dir(key: &str, path: &str) -> Result<()> {
    let mut depth = 0usize;
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => depth = depth.saturating_sub(1),
            p if depth == 0 && p.len() == 2 && p.ends_with(':') => {}
            _ => depth += 1,
        }
    }
    if path.trim().is_empty() {
        bail!("{key} is empty: set it to a directory for distrffmpeg's job dirs");
    }
    if depth == 0 {
        bail!("{key} is {path:?}: set it to a directory below the root for distrffmpeg's job dirs");
    }
    Ok(())
}

/// A deserialization error as the user should read it: the key's path, what was wrong, and
/// what is accepted, in words rather than Rust type names.
fn explain<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> String {
    let inner = humanize(&e.inner().to_string());
    let path = e.path().to_string();
    if path == "." || path.is_empty() {
        inner
    } else {
        format!("{path}: {inner}")
    }
}

fn humanize(s: &str) -> String {
    // serde names Rust types; say what to type instead
    const WORDS: &[(&str, &str)] = &[
        ("expected u16", "expected a port number (0 to 65535)"),
        ("expected usize", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected f64", "expected a number"),
        (
            "expected struct WorkerParams",
            "expected an object like {\"port\": 22, \"timeout\": 10}",
        ),
        (
            "expected struct WorkerConfig",
            "expected an object with at least \"host\"",
        ),
        ("expected struct Config", "expected a JSON object"),
        ("expected a sequence", "expected a list [...]"),
        ("expected a borrowed string", "expected a string"),
    ];
    let mut out = s.to_string();
    for (from, to) in WORDS {
        out = out.replace(from, to);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_sample_loads_unchanged() {
        let text = include_str!("../config.sample.json");
        let c = Config::from_json(text, Path::new("config.sample.json")).unwrap();
        assert_eq!(c.workers.len(), 5);
        assert_eq!(c.workers[0].params.port, Some(2222));
        assert_eq!(c.workers[1].platform, "Windows");
        assert_eq!(c.workers[2].params.timeout, Some(20));
        assert_eq!(c.level(), Some(tracing::Level::INFO));
        assert_eq!(
            c.local_slot_count(2),
            0,
            "auto means no local slots when workers exist"
        );
    }

    #[test]
    fn unknown_key_and_bad_json_name_the_place() {
        let e = Config::from_json("{\n  \"segment_frame\": 1\n}", Path::new("c.json")).unwrap_err();
        let s = format!("{e:#}");
        assert!(s.contains("segment_frame") && s.contains("line 2"), "{s}");
        let e = Config::from_json("{ \"loglevel\": ", Path::new("c.json")).unwrap_err();
        assert!(format!("{e:#}").contains("line 1 column"), "{e:#}");
    }

    #[test]
    fn overrides_are_typed() {
        let mut c = Config::default();
        c.apply_overrides([
            ("keyint_max", Some("1200")),
            ("local_slots", Some("2")),
            ("resume", Some("false")),
        ])
        .unwrap();
        assert_eq!(c.keyint_max, 1200);
        assert_eq!(c.local_slots, Slots::Count(2));
        assert!(!c.resume);
        let e = c
            .apply_overrides([("keyint_max", Some("lots"))])
            .unwrap_err();
        assert!(e.to_string().contains("-df_keyint_max=lots"), "{e}");
        assert!(e.to_string().contains("a whole number"), "{e}");
        let e = c.apply_overrides([("bogus", Some("1"))]).unwrap_err();
        assert!(e.to_string().contains("unknown option -df_bogus"), "{e}");
        let e = c
            .apply_overrides([("host_key_check", Some("yolo"))])
            .unwrap_err();
        assert!(e.to_string().contains("host_key_check"), "{e}");
        c.apply_overrides([("fallback_local", None)]).unwrap();
        assert!(c.fallback_local);
    }

    fn load_err(text: &str) -> String {
        let e = Config::from_json(text, Path::new("c.json")).unwrap_err();
        format!("{e:#}")
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        let s = load_err(r#"{"workers": [{"host": "h", "params": {"prot": 2222}}]}"#);
        assert!(
            s.contains("workers[0].params") && s.contains("`prot`"),
            "{s}"
        );
        assert!(s.contains("`port`"), "says what is accepted: {s}");
        let s = load_err(r#"{"workers": [{"host": "h", "prot": 2222}]}"#);
        assert!(s.contains("workers[0]") && s.contains("`prot`"), "{s}");
    }

    #[test]
    fn bad_values_name_the_key_not_rust_types() {
        for (text, key, accepted) in [
            (
                r#"{"workers": [{"host": "h", "slots": "x"}]}"#,
                "workers[0].slots",
                "a whole number",
            ),
            (
                r#"{"local_slots": "x"}"#,
                "local_slots",
                "a whole number or \"auto\"",
            ),
            (
                r#"{"local_slots": -1}"#,
                "local_slots",
                "a whole number or \"auto\"",
            ),
            (
                r#"{"workers": [{"host": "h"}, {"host": "h", "params": {"port": 70000}}]}"#,
                "workers[1].params.port",
                "a port number",
            ),
            (
                r#"{"workers": [{"host": "h", "params": 22}]}"#,
                "workers[0].params",
                "an object",
            ),
            (r#"{"workers": {"host": "h"}}"#, "workers", "a list"),
            (
                r#"{"stall_timeout": "soon"}"#,
                "stall_timeout",
                "a whole number",
            ),
        ] {
            let s = load_err(text);
            assert!(s.contains(key) && s.contains(accepted), "{text}: {s}");
            for rust in ["untagged", "enum", "usize", "u16", "u64", "struct"] {
                assert!(!s.contains(rust), "{text}: {s}");
            }
        }
        let mut c = Config::default();
        let e = c
            .apply_overrides([("local_slots", Some("many"))])
            .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("-df_local_slots=many") && s.contains("\"auto\""),
            "{s}"
        );
        assert!(!s.contains("untagged"), "{s}");
    }

    #[test]
    fn work_paths_must_be_below_the_root() {
        for bad in ["", "/", "//", "/.", "/tmp/..", "C:\\", " "] {
            let text = format!(r#"{{"server_work_path": {bad:?}}}"#);
            let s = load_err(&text);
            assert!(s.contains("server_work_path"), "{text}: {s}");
            let text = format!(r#"{{"workers": [{{"host": "h", "work_path": {bad:?}}}]}}"#);
            let s = load_err(&text);
            assert!(s.contains("workers[0].work_path"), "{text}: {s}");
        }
        let s = load_err(r#"{"work_dir": "/"}"#);
        assert!(s.contains("work_dir"), "{s}");
        // empty work_dir means the default; a real directory is fine everywhere
        Config::from_json(r#"{"work_dir": ""}"#, Path::new("c.json")).unwrap();
        Config::from_json(
            r#"{"work_dir": "/var/tmp/x", "server_work_path": "/srv/enc", "workers": [{"host": "h", "work_path": "C:\\Temp\\d"}]}"#,
            Path::new("c.json"),
        )
        .unwrap();
        let mut c = Config::default();
        let e = c
            .apply_overrides([("server_work_path", Some("/"))])
            .unwrap_err();
        assert!(e.to_string().contains("server_work_path"), "{e}");
        let e = c.apply_overrides([("work_dir", Some("/"))]).unwrap_err();
        assert!(e.to_string().contains("work_dir"), "{e}");
    }

    #[test]
    fn default_local_slots_follow_cores() {
        let c = Config::default();
        assert_eq!(c.local_slot_count(2), 1);
        assert_eq!(c.local_slot_count(32), 4);
    }
}
