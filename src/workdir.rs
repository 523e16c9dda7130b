//! The job's local work directory: where chunk files, encoded chunks, the concat list and the
//! manifest live, named from a stable hash of the inputs and the command so a rerun finds it.

use std::io;
use std::path::{Path, PathBuf};

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
pub fn job_id(argv: &[String], inputs: &[&Path]) -> String {
    let mut h = Fnv::default();
    for a in argv {
        h.write(a.as_bytes());
    }
    for p in inputs {
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

#[derive(Debug, Clone)]
pub struct WorkDir {
    pub root: PathBuf,
}

/// The default base for work dirs: the user's cache dir.
pub fn default_base() -> PathBuf {
    directories::ProjectDirs::from("", "", "distrffmpeg")
        .map(|d| d.cache_dir().join("jobs"))
        .unwrap_or_else(|| std::env::temp_dir().join("distrffmpeg-jobs"))
}

impl WorkDir {
    /// Creates (or reopens) `<base>/<job_id>`, private to the user.
    pub fn open(base: &Path, job_id: &str) -> io::Result<WorkDir> {
        let root = base.join(job_id);
        std::fs::create_dir_all(&root)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(WorkDir { root })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_id_is_stable_and_sensitive() {
        let a = job_id(&["-i".into(), "x".into()], &[]);
        assert_eq!(a, job_id(&["-i".into(), "x".into()], &[]));
        assert_ne!(a, job_id(&["-ix".into()], &[]));
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
}
