//! The job's local work directory: where chunk files, encoded chunks, the concat list and the
//! manifest live, named from a stable hash of the inputs and the command so a rerun finds it.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// FNV-1a, 64 bit: stable across builds and platforms (unlike std's DefaultHasher).
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // separator so ("ab","c") and ("a","bc") differ
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

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
    format!("{:016x}", h.finish())
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

/// The default base for work dirs: the user's cache dir.
pub fn default_base() -> PathBuf {
    directories::ProjectDirs::from("", "", "distrffmpeg")
        .map(|d| d.cache_dir().join("jobs"))
        .unwrap_or_else(|| std::env::temp_dir().join("distrffmpeg-jobs"))
}

impl WorkDir {
    /// Creates (or reopens) `<base>/<job_id>`, private to the user, and locks it.
    pub fn open(base: &Path, job_id: &str) -> Result<WorkDir, OpenError> {
        let root = base.join(job_id);
        let io_err = |e| OpenError::Io(root.clone(), e);
        std::fs::create_dir_all(&root).map_err(io_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err)?;
        }
        let lock = File::create(root.join("lock")).map_err(io_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OpenError::Busy(root)),
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
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

    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn remove(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Removes work dirs under `base` that no run holds and that have not changed for a week
/// (left by runs that were interrupted and never rerun). Returns how many went.
pub fn remove_stale(base: &Path) -> usize {
    remove_older_than(base, STALE_AFTER, SystemTime::now())
}

fn remove_older_than(base: &Path, age: Duration, now: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(base) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let dir = e.path();
        let newest = newest_mtime(&dir);
        let old = newest.is_some_and(|t| now.duration_since(t).is_ok_and(|d| d > age));
        let name = e.file_name().to_string_lossy().into_owned();
        if !old || !dir.is_dir() {
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

/// The newest modification time of a dir and the files in it.
fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let own = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
    let files = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok());
    files.chain(own).max()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let w = WorkDir::open(t.path(), "j1").unwrap();
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
        let w = WorkDir::open(t.path(), "j1").unwrap();
        let again = WorkDir::open(t.path(), "j1").unwrap_err();
        assert!(matches!(again, OpenError::Busy(_)), "{again}");
        assert!(again.to_string().contains("another distrffmpeg"), "{again}");
        let clone = w.clone();
        drop(w);
        assert!(
            WorkDir::open(t.path(), "j1").is_err(),
            "a clone keeps the lock"
        );
        drop(clone);
        assert!(WorkDir::open(t.path(), "j1").is_ok());
    }

    #[test]
    fn stale_work_dirs_go_unless_in_use() {
        let t = tempfile::tempdir().unwrap();
        let busy = WorkDir::open(t.path(), "busy").unwrap();
        drop(WorkDir::open(t.path(), "idle").unwrap());
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
        assert!(!t.path().join("idle").exists());
    }
}
