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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Slots {
    Count(usize),
    Named(String),
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
    /// Parses a config file's text; errors name the line and column.
    pub fn from_json(text: &str, origin: &Path) -> Result<Config> {
        let c: Config =
            serde_json::from_str(text).map_err(|e| anyhow!("{}: {e}", origin.display()))?;
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
            if let Err(e) = serde_json::from_value::<Config>(Value::Object(probe)) {
                let shown = value.unwrap_or("");
                bail!("-df_{key}={shown}: invalid value ({})", type_hint(&e));
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
        for w in &self.workers {
            if w.host.trim().is_empty() {
                bail!("a worker has an empty host");
            }
            if !matches!(
                w.platform.to_ascii_lowercase().as_str(),
                "linux" | "windows" | "macos" | "darwin"
            ) {
                bail!(
                    "worker {}: platform must be Linux or Windows, not {:?}",
                    w.host,
                    w.platform
                );
            }
            if w.slots == Some(0) {
                bail!("worker {}: slots must be at least 1", w.host);
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

fn type_hint(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let hint = match s.find("expected") {
        Some(i) => s[i..].split(" at line").next().unwrap_or(&s).to_string(),
        None => s.clone(),
    };
    // serde names Rust types; say what to type instead
    hint.replace("usize", "a whole number")
        .replace("u64", "a whole number")
        .replace("u32", "a whole number")
        .replace("f64", "a number")
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

    #[test]
    fn default_local_slots_follow_cores() {
        let c = Config::default();
        assert_eq!(c.local_slot_count(2), 1);
        assert_eq!(c.local_slot_count(32), 4);
    }
}
