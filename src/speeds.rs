//! Worker speeds learned in earlier jobs: each worker's rate relative to the others, kept in
//! the user's cache dir (`worker-speeds.json`, written atomically), so that a job's first
//! chunks already go where they finish soonest (`schedule::core::Core::hint_speed`). A missing
//! or unreadable file is an empty one; a failure to write it is only logged.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

const FILE: &str = "worker-speeds.json";

/// The file, in the cache dir (None when there is no home to find it in).
fn path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "distrffmpeg").map(|d| d.cache_dir().join(FILE))
}

/// The relative speed of every worker measured so far, by its label.
pub fn load() -> HashMap<String, f64> {
    let Some(p) = path() else {
        return HashMap::new();
    };
    std::fs::read(p)
        .ok()
        .and_then(|b| serde_json::from_slice::<BTreeMap<String, f64>>(&b).ok())
        .map(|m| {
            m.into_iter()
                .filter(|(_, v)| v.is_finite() && *v > 0.0)
                .collect()
        })
        .unwrap_or_default()
}

/// The stored speeds with this job's measured rates (plan cost per second, by label) merged
/// in: the job's rates are scaled so that the workers it shares with the store keep their sum
/// (or to a mean of 1 when it shares none), and replace what was stored for them.
pub fn merged(
    stored: &HashMap<String, f64>,
    measured: &HashMap<String, f64>,
) -> BTreeMap<String, f64> {
    let shared: Vec<&String> = measured
        .keys()
        .filter(|k| stored.contains_key(*k))
        .collect();
    let scale = if shared.is_empty() {
        let mean = measured.values().sum::<f64>() / measured.len().max(1) as f64;
        1.0 / mean
    } else {
        shared.iter().map(|k| stored[*k]).sum::<f64>()
            / shared.iter().map(|k| measured[*k]).sum::<f64>()
    };
    let mut out: BTreeMap<String, f64> = stored.clone().into_iter().collect();
    for (k, v) in measured {
        let r = v * scale;
        if r.is_finite() && r > 0.0 {
            out.insert(k.clone(), r);
        }
    }
    out
}

/// Records this job's measured rates (nothing to do when none were measured).
pub fn record(measured: &HashMap<String, f64>) {
    if measured.is_empty() {
        return;
    }
    let Some(p) = path() else { return };
    let all = merged(&load(), measured);
    let write = || -> std::io::Result<()> {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = tempfile::NamedTempFile::new_in(p.parent().unwrap_or(&p))?;
        std::io::Write::write_all(&mut tmp, &serde_json::to_vec_pretty(&all)?)?;
        tmp.persist(&p).map_err(|e| e.error)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::debug!("cannot write {}: {e}", p.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: &[(&str, f64)]) -> HashMap<String, f64> {
        v.iter().map(|(k, x)| (k.to_string(), *x)).collect()
    }

    #[test]
    fn a_first_job_is_stored_relative_to_its_mean() {
        let m = merged(&HashMap::new(), &map(&[("a", 30.0), ("b", 10.0)]));
        assert_eq!(m.get("a"), Some(&1.5));
        assert_eq!(m.get("b"), Some(&0.5));
    }

    #[test]
    fn a_later_job_keeps_the_scale_of_the_workers_it_shares() {
        let stored = map(&[("a", 1.5), ("b", 0.5), ("c", 0.25)]);
        // a slower encoder setting: every rate a tenth, and a new worker d
        let m = merged(&stored, &map(&[("a", 3.0), ("b", 1.0), ("d", 2.0)]));
        assert_eq!(m.get("a"), Some(&1.5));
        assert_eq!(m.get("b"), Some(&0.5));
        assert_eq!(m.get("c"), Some(&0.25), "not measured: kept");
        assert_eq!(m.get("d"), Some(&1.0));
    }
}
