//! Two-pass encodes (`-pass 1` then `-pass 2`, or libx265's own `pass=1|2`): each chunk is a
//! two-pass encode of its own. Pass 1 brings every chunk's encoder statistics back into a
//! store next to where plain ffmpeg would write its log (`<passlogfile>-distrffmpeg/`, or
//! `<stats>-distrffmpeg/`), together with the chunk cuts; pass 2 reuses exactly those cuts and
//! sends each chunk its statistics.

use crate::hash::Fnv;
use crate::job::JobSpec;
use crate::worker::{Worker, WorkerError};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use crate::job::TwoPass;

/// What pass 1 leaves for pass 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub fingerprint: String,
    /// Encoder-input frame indices where chunks start.
    pub cuts: Vec<usize>,
}

const PLAN_FILE: &str = "plan.json";

impl TwoPass {
    /// The `-passlogfile` prefix a chunk's encode uses (a plain file name).
    pub fn prefix(k: usize) -> String {
        format!("pass-{k:05}")
    }

    pub fn save(&self, stored: &Stored) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.store)?;
        let tmp = self.store.join(format!("{PLAN_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(stored)?)?;
        std::fs::rename(tmp, self.store.join(PLAN_FILE))
    }

    /// Whether a pass 1 through distrffmpeg left its statistics here.
    pub fn stored(&self) -> bool {
        self.store.join(PLAN_FILE).exists()
    }

    pub fn load(&self) -> Option<Stored> {
        serde_json::from_slice(&std::fs::read(self.store.join(PLAN_FILE)).ok()?).ok()
    }

    /// Sends chunk `k`'s statistics to the worker (pass 2).
    pub async fn upload(&self, w: &dyn Worker, k: usize) -> Result<(), WorkerError> {
        let prefix = format!("{}-", Self::prefix(k));
        let entries = std::fs::read_dir(&self.store).map_err(|e| {
            WorkerError::Local(format!(
                "no pass-1 statistics in {}: {e}",
                self.store.display()
            ))
        })?;
        let mut any = false;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                w.upload(&e.path(), &name).await?;
                any = true;
            }
        }
        if !any {
            // the local store lacks them: no worker can help (the job stops with this line)
            return Err(WorkerError::Local(format!(
                "no pass-1 statistics for chunk {k} in {}; run pass 1 again",
                self.store.display()
            )));
        }
        Ok(())
    }

    /// Brings chunk `k`'s statistics back from the worker (pass 1).
    pub async fn fetch(&self, w: &dyn Worker, k: usize) -> Result<(), WorkerError> {
        std::fs::create_dir_all(&self.store)
            .map_err(|e| WorkerError::Local(format!("{}: {e}", self.store.display())))?;
        let prefix = format!("{}-", Self::prefix(k));
        let names: Vec<String> = w
            .list()
            .await?
            .into_iter()
            .filter(|n| n.starts_with(&prefix) && !n.ends_with(".temp"))
            .collect();
        if names.is_empty() {
            return Err(WorkerError::Ffmpeg {
                tail: "the encoder wrote no pass-1 statistics (does it support -pass?)".into(),
                fatal: true,
            });
        }
        for n in &names {
            w.download(n, &self.store.join(n)).await?;
        }
        let _ = w.remove(&names).await;
        Ok(())
    }
}

/// What must not change between the passes: the input, the video stream and its timing, and the
/// encode options except `-pass`.
pub fn fingerprint(job: &JobSpec, input: &Path) -> String {
    let mut h = Fnv::default();
    h.write(input.to_string_lossy().as_bytes());
    if let Ok(m) = std::fs::metadata(input) {
        h.write(&m.len().to_le_bytes());
    }
    h.write(job.src_stream.to_string().as_bytes());
    h.write(format!("{:?}", job.trims).as_bytes());
    for o in &job.encode_opts {
        h.write(o.tokens().join("\u{1}").as_bytes());
    }
    h.write(job.filter.as_deref().unwrap_or("").as_bytes());
    h.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_round_trip() {
        let t = tempfile::tempdir().unwrap();
        let prefix = t.path().join("log");
        let tp = TwoPass::new(1, Some(&prefix.to_string_lossy()));
        assert_eq!(tp.store, t.path().join("log-distrffmpeg"));
        let s = Stored {
            fingerprint: "f".into(),
            cuts: vec![0, 30, 60],
        };
        tp.save(&s).unwrap();
        assert_eq!(tp.load(), Some(s));
        assert_eq!(TwoPass::prefix(3), "pass-00003");
    }
}
