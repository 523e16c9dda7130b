//! Paths on a worker: its job dir, and the plain file names joined to it, so that nothing
//! this tool names there escapes that dir.

/// A directory on a worker; names joined to it are plain file names, so nothing escapes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePath(String);

impl RemotePath {
    pub fn new(p: &str) -> RemotePath {
        RemotePath(p.trim_end_matches('/').to_string())
    }

    /// A child of this directory; `name` must be a plain file name.
    pub fn join(&self, name: &str) -> RemotePath {
        assert!(
            !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..",
            "not a plain file name: {name:?}"
        );
        RemotePath(format!("{}/{name}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_stay_inside_the_job_dir() {
        let d = RemotePath::new("/tmp/distrffmpeg/");
        assert_eq!(d.join("abc").as_str(), "/tmp/distrffmpeg/abc");
        for bad in ["..", "../x", "a/b", "", "c\\d"] {
            assert!(std::panic::catch_unwind(|| d.join(bad)).is_err(), "{bad}");
        }
    }
}
