//! The final output's temporary file: created exclusively under an unpredictable name in the
//! output's directory (`.<name>.distrffmpeg-<job id>-<random>.tmp`, never following a planted
//! symlink), recorded in the job's work dir so that a run killed before the rename leaves
//! nothing the next run of the job does not remove, and moved into place keeping an existing
//! output's permissions (as plain ffmpeg, which truncates the file it overwrites), after an
//! fsync.

use crate::workdir::WorkDir;
use anyhow::{Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The work-dir file that names the temp output of the run writing it.
const RECORD: &str = "temp-output";

/// What every temp output of `out` written for job `job` is called, before the random part.
fn prefix(out: &Path, job: &str) -> String {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.distrffmpeg-{job}-")
}

fn job_id(wd: &WorkDir) -> String {
    wd.root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn out_dir(out: &Path) -> &Path {
    match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Whether `path` is one of our temp outputs of `out` for this job: in `out`'s directory,
/// named with the job's prefix, and a regular file (not a symlink).
fn is_ours(path: &Path, out: &Path, wd: &WorkDir) -> bool {
    let named = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with(&prefix(out, &job_id(wd))) && n.ends_with(".tmp"));
    let dir = |d: &Path| std::fs::canonicalize(d).ok();
    let here = path
        .parent()
        .and_then(dir)
        .is_some_and(|d| Some(d) == dir(out_dir(out)));
    named && here && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Removes the temp output a killed earlier run of this job recorded in its work dir. Only a
/// file that is ours by `is_ours` is ever removed.
pub fn remove_stale(out: &Path, wd: &WorkDir) {
    let record = wd.file(RECORD);
    let Ok(text) = std::fs::read_to_string(&record) else {
        return;
    };
    let path = PathBuf::from(text.trim_end_matches('\n'));
    if is_ours(&path, out, wd) {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!("removed {} left by an interrupted run", path.display()),
            Err(e) => tracing::debug!("cannot remove {}: {e}", path.display()),
        }
    }
    let _ = std::fs::remove_file(record);
}

/// The temp output of this run; removed when dropped unless `finish` moved it into place.
pub struct TempOutput {
    pub path: PathBuf,
    file: File,
    record: PathBuf,
    done: bool,
}

impl TempOutput {
    /// Creates the temp output next to `out` (mode 0666 minus the umask, like a new file of
    /// ffmpeg's) and records it in the work dir.
    pub fn create(out: &Path, wd: &WorkDir) -> Result<TempOutput> {
        remove_stale(out, wd);
        let name = prefix(out, &job_id(wd));
        let mut b = tempfile::Builder::new();
        b.prefix(&name).suffix(".tmp").rand_bytes(12);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            b.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = b
            .tempfile_in(out_dir(out))
            .with_context(|| format!("cannot create a temporary file next to {}", out.display()))?;
        let (file, path) = tmp.keep().map_err(|e| e.error)?;
        let record = wd.file(RECORD);
        let me = TempOutput {
            path,
            file,
            record,
            done: false,
        };
        std::fs::write(&me.record, me.path.to_string_lossy().as_bytes())
            .context("recording the temporary output in the work dir")?;
        Ok(me)
    }

    /// Moves the written temp output to `out`: an existing output's mode (and owner, where
    /// allowed) carries over, the data is on disk before the rename and the rename after it.
    pub fn finish(mut self, out: &Path) -> Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let mine = self.file.metadata()?;
            let there = std::fs::symlink_metadata(&self.path)?;
            if (mine.dev(), mine.ino()) != (there.dev(), there.ino()) {
                anyhow::bail!("{} was replaced while it was written", self.path.display());
            }
            if let Some(old) = std::fs::metadata(out)
                .map(|m| Some(m).filter(|m| m.is_file()))
                .ok()
                .flatten()
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = old.mode() & 0o7777;
                if (mine.uid(), mine.gid()) != (old.uid(), old.gid()) {
                    let _ = std::os::unix::fs::fchown(&self.file, Some(old.uid()), Some(old.gid()));
                }
                // file systems without modes (vfat, some network shares) keep theirs
                if let Err(e) = self
                    .file
                    .set_permissions(std::fs::Permissions::from_mode(mode))
                {
                    tracing::debug!("cannot keep the mode of {}: {e}", out.display());
                }
            }
        }
        match self.file.sync_all() {
            // a file system that cannot sync (EINVAL) has nothing more to write
            Err(e) if e.kind() != std::io::ErrorKind::InvalidInput => {
                return Err(e).with_context(|| format!("writing {} to disk", self.path.display()))
            }
            _ => {}
        }
        std::fs::rename(&self.path, out)
            .with_context(|| format!("moving the output into place: {}", out.display()))?;
        self.done = true;
        #[cfg(unix)]
        if let Ok(dir) = File::open(out_dir(out)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = std::fs::remove_file(&self.record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_recorded_temp_output_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let wd = WorkDir::open(&d.path().join("jobs"), "0123456789abcdef").unwrap();
        let out = d.path().join("out.mkv");
        let t = TempOutput::create(&out, &wd).unwrap();
        let name = t.path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".out.mkv.distrffmpeg-0123456789abcdef-"),
            "{name}"
        );
        // a killed run: the file and its record stay
        let left = t.path.clone();
        std::mem::forget(t);
        assert!(left.exists());
        // a user's file named like it, but not recorded, is never touched
        let user = d
            .path()
            .join(".out.mkv.distrffmpeg-0123456789abcdef-mine.tmp");
        std::fs::write(&user, "mine").unwrap();
        let again = TempOutput::create(&out, &wd).unwrap();
        assert!(!left.exists(), "the recorded temp output is removed");
        assert!(user.exists());
        assert_ne!(again.path, left, "names are unpredictable");
        drop(again);
        assert!(!wd.file(RECORD).exists());
        // a record pointing elsewhere (or at a symlink) removes nothing
        let other = d.path().join("thesis.tex");
        std::fs::write(&other, "x").unwrap();
        std::fs::write(wd.file(RECORD), other.to_string_lossy().as_bytes()).unwrap();
        remove_stale(&out, &wd);
        assert!(other.exists());
        #[cfg(unix)]
        {
            let link = d.path().join(".out.mkv.distrffmpeg-0123456789abcdef-l.tmp");
            std::os::unix::fs::symlink(&other, &link).unwrap();
            std::fs::write(wd.file(RECORD), link.to_string_lossy().as_bytes()).unwrap();
            remove_stale(&out, &wd);
            assert!(link.symlink_metadata().is_ok() && other.exists());
        }
    }
}
