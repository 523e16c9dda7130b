//! The job's local work directory: where chunk files, encoded chunks, the concat list and the
//! manifest live, named from a stable hash of the inputs and the command so a rerun finds it.
//! Job dirs live in a directory of our own (`<work_dir>/distrffmpeg-jobs/`), carry a marker
//! file, and only dirs with our name pattern and marker are ever removed.

use crate::hash::Fnv;
use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A job id from the argv and each input's path, size and modification time.
pub fn job_id<P: AsRef<Path>>(argv: &[String], inputs: &[P]) -> String {
    let mut h = Fnv::default();
    for a in argv {
        h.write(a.as_bytes());
    }
    for p in inputs {
        let p = p.as_ref();
        h.write(p.to_string_lossy().as_bytes());
        if let Ok(m) = std::fs::metadata(p) {
            h.write(&m.len().to_le_bytes());
            if let Ok(t) = m.modified() {
                if let Ok(d) = t.duration_since(std::time::UNIX_EPOCH) {
                    h.write(&d.as_nanos().to_le_bytes());
                }
            }
        }
    }
    h.hex()
}

/// Work dirs of interrupted or failed runs older than this are removed when a job starts.
const STALE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// The job's work dir, locked for as long as any clone of it lives: two runs of the same
/// command never share one.
#[derive(Debug, Clone)]
pub struct WorkDir {
    pub root: PathBuf,
    _lock: Arc<File>,
}

/// Why a work dir could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("another distrffmpeg is running this same job (work dir {0} is locked)")]
    Busy(PathBuf),
    #[error("cannot create the work dir {0}: {1}")]
    Io(PathBuf, io::Error),
}

/// The directory of our own that holds the job dirs, inside a configured `work_dir`.
pub const JOBS_DIR: &str = "distrffmpeg-jobs";

/// The file that marks a dir as a distrffmpeg job dir (the sweep removes nothing without it).
pub const MARKER: &str = ".distrffmpeg-job";

/// Where job dirs live: `<work_dir>/distrffmpeg-jobs`, or the user's cache dir by default.
pub fn jobs_base(work_dir: &str) -> PathBuf {
    if !work_dir.is_empty() {
        return Path::new(work_dir).join(JOBS_DIR);
    }
    directories::ProjectDirs::from("", "", "distrffmpeg")
        .map(|d| d.cache_dir().join("jobs"))
        .unwrap_or_else(|| std::env::temp_dir().join(JOBS_DIR))
}

/// Whether `name` is a job dir name this tool makes (see `job_id`: 16 lowercase hex digits).
pub fn is_job_name(name: &str) -> bool {
    name.len() == 16
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl WorkDir {
    /// Creates (or reopens) `<base>/<job_id>`, private to the user, marked as ours, and
    /// locks it. A path there that is not a dir of ours (a symlink, a file, a dir without our
    /// marker) is refused, never used or changed.
    pub fn open(base: &Path, job_id: &str) -> Result<WorkDir, OpenError> {
        assert!(is_job_name(job_id), "not a job id: {job_id:?}");
        let root = base.join(job_id);
        let io_err = |e| OpenError::Io(root.clone(), e);
        std::fs::create_dir_all(base).map_err(|e| OpenError::Io(base.to_path_buf(), e))?;
        let created = match private_dir(&root) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io_err(e)),
        };
        if !created {
            let meta = std::fs::symlink_metadata(&root).map_err(io_err)?;
            if !meta.is_dir() || !root.join(MARKER).is_file() {
                return Err(io_err(io::Error::other(
                    "it exists and is not a distrffmpeg job dir; not touching it",
                )));
            }
        }
        let lock = File::create(root.join("lock")).map_err(io_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OpenError::Busy(root)),
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        if created {
            std::fs::write(root.join(MARKER), b"distrffmpeg job dir\n").map_err(io_err)?;
        }
        Ok(WorkDir {
            root,
            _lock: Arc::new(lock),
        })
    }

    /// The name of chunk `k`'s source file (also its name on workers).
    pub fn source_name(k: usize) -> String {
        format!("src-{k:05}.nut")
    }

    /// The encoded chunk `k` of attempt `attempt` (duplicate attempts never share a file).
    pub fn encoded_name(k: usize, attempt: u64, ext: &str) -> String {
        format!("enc-{k:05}-{attempt}.{ext}")
    }

    /// The encoded chunk of output `i` of several (`JobSpec::others`: 1 and on).
    pub fn other_encoded_name(k: usize, attempt: u64, i: usize, ext: &str) -> String {
        format!("enc-{k:05}-{attempt}-o{i}.{ext}")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Removes the job dir (ours: created and marked by `open`; symlinks in it are removed,
    /// never followed).
    pub fn remove(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A new dir only this user can enter; fails if the path exists (never follows a symlink).
fn private_dir(path: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
}

/// Removes job dirs under `base` that no run holds and that have not changed for a week
/// (left by runs that were interrupted and never rerun). Only real dirs with a job id's name
/// and our marker go; anything else there is left alone. Returns how many went.
pub fn remove_stale(base: &Path) -> usize {
    remove_older_than(base, STALE_AFTER, SystemTime::now())
}

fn remove_older_than(base: &Path, age: Duration, now: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(base) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let dir = e.path();
        // file_type does not follow symlinks: a link named like a job is not ours to follow
        let ours = is_job_name(&name)
            && e.file_type().is_ok_and(|t| t.is_dir())
            && std::fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file());
        if !ours {
            continue;
        }
        let newest = newest_mtime(&dir);
        if !newest.is_some_and(|t| now.duration_since(t).is_ok_and(|d| d > age)) {
            continue;
        }
        // Only a dir nobody holds: opening it takes the lock.
        if let Ok(w) = WorkDir::open(base, &name) {
            if w.remove().is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// The newest modification time of a dir and the files in it (links not followed).
fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let own = std::fs::symlink_metadata(dir)
        .and_then(|m| m.modified())
        .ok();
    let files = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok());
    files.chain(own).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    const J1: &str = "00000000000000a1";
    const BUSY: &str = "000000000000b059";
    const IDLE: &str = "0000000000001d1e";

    #[test]
    fn job_id_is_stable_and_sensitive() {
        let a = job_id::<&Path>(&["-i".into(), "x".into()], &[]);
        assert_eq!(a, job_id::<&Path>(&["-i".into(), "x".into()], &[]));
        assert_ne!(a, job_id::<&Path>(&["-ix".into()], &[]));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn workdir_is_private() {
        let t = tempfile::tempdir().unwrap();
        let w = WorkDir::open(t.path(), J1).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&w.root).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert!(w.file(&WorkDir::source_name(3)).ends_with("src-00003.nut"));
        w.remove().unwrap();
        assert!(!w.root.exists());
    }

    #[test]
    fn a_work_dir_in_use_is_locked() {
        let t = tempfile::tempdir().unwrap();
        let w = WorkDir::open(t.path(), J1).unwrap();
        let again = WorkDir::open(t.path(), J1).unwrap_err();
        assert!(matches!(again, OpenError::Busy(_)), "{again}");
        assert!(again.to_string().contains("another distrffmpeg"), "{again}");
        let clone = w.clone();
        drop(w);
        assert!(
            WorkDir::open(t.path(), J1).is_err(),
            "a clone keeps the lock"
        );
        drop(clone);
        assert!(WorkDir::open(t.path(), J1).is_ok());
    }

    #[test]
    fn stale_work_dirs_go_unless_in_use() {
        let t = tempfile::tempdir().unwrap();
        let busy = WorkDir::open(t.path(), BUSY).unwrap();
        drop(WorkDir::open(t.path(), IDLE).unwrap());
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();
        assert_eq!(
            remove_older_than(t.path(), day, now),
            0,
            "nothing is a day old"
        );
        let later = now + 2 * day;
        assert_eq!(remove_older_than(t.path(), day, later), 1);
        assert!(busy.root.exists());
        assert!(!t.path().join(IDLE).exists());
    }

    /// Sets the modification time of a file or dir to `secs` ago.
    fn age(path: &Path, secs: u64) {
        let t = SystemTime::now() - Duration::from_secs(secs);
        std::fs::File::open(path).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn only_marked_job_dirs_are_swept() {
        use std::os::unix::fs::symlink;
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep.txt"), "x").unwrap();
        let base = t.path();
        // a user dir with a job id's name but no marker, a user dir with a marker-like file
        // but another name, and a symlink named like a job pointing outside
        for (name, marker) in [("0123456789abcdef", false), ("thesis", true)] {
            let d = base.join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("ch1.tex"), "x").unwrap();
            if marker {
                std::fs::write(d.join(MARKER), "").unwrap();
            }
        }
        std::fs::write(outside.path().join(MARKER), "").unwrap();
        symlink(outside.path(), base.join("fedcba9876543210")).unwrap();
        drop(WorkDir::open(base, IDLE).unwrap());
        let month = 30 * 86_400;
        for p in [
            "0123456789abcdef/ch1.tex",
            "0123456789abcdef",
            "thesis/ch1.tex",
            "thesis",
        ] {
            age(&base.join(p), month);
        }
        for e in std::fs::read_dir(base.join(IDLE)).unwrap() {
            age(&e.unwrap().path(), month);
        }
        age(&base.join(IDLE), month);
        assert_eq!(remove_older_than(base, STALE_AFTER, SystemTime::now()), 1);
        assert!(!base.join(IDLE).exists(), "our marked stale dir goes");
        assert!(base.join("0123456789abcdef/ch1.tex").exists());
        assert!(base.join("thesis/ch1.tex").exists());
        assert!(outside.path().join("keep.txt").exists());
        assert!(std::fs::symlink_metadata(base.join("fedcba9876543210")).is_ok());
        // and none of them is ever opened as a work dir
        let e = WorkDir::open(base, "0123456789abcdef").unwrap_err();
        assert!(e.to_string().contains("not a distrffmpeg job dir"), "{e}");
        assert!(WorkDir::open(base, "fedcba9876543210").is_err());
        assert!(outside.path().join("keep.txt").exists());
    }
}
