//! Finding the real ffmpeg and ffprobe: the configured name or path, searched on PATH while
//! skipping distrffmpeg itself (so a symlink named `ffmpeg` never execs itself in a loop).

use anyhow::{bail, Result};

/// Set in the environment of every ffmpeg/ffprobe distrffmpeg starts. Seeing it at startup
/// means the "real ffmpeg" that was found is distrffmpeg again (a copy, or a wrapper that
/// calls it), which would otherwise run itself in a loop.
pub const INNER_ENV: &str = "DISTRFFMPEG_INNER";

/// The error for a distrffmpeg started by distrffmpeg as its ffmpeg.
pub fn loop_error() -> String {
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "distrffmpeg".into());
    format!(
        "{me} was started by distrffmpeg as its real ffmpeg: the ffmpeg found on PATH (or in ffmpeg_bin) is distrffmpeg again; set ffmpeg_bin to the real ffmpeg"
    )
}
use std::path::{Path, PathBuf};

/// The real ffmpeg and ffprobe a run uses, resolved once (`resolve`) and passed by reference.
#[derive(Clone, Debug)]
pub struct Tools {
    pub ffmpeg: String,
    pub ffprobe: String,
}

impl Tools {
    /// Resolves both programs the config names (ffprobe first: it is the one needed first).
    pub fn resolve(config: &crate::config::Config) -> Result<Tools> {
        let ffprobe = utf8(resolve(&config.ffprobe_bin)?)?;
        let ffmpeg = utf8(resolve(&config.ffmpeg_bin)?)?;
        Ok(Tools { ffmpeg, ffprobe })
    }
}

fn utf8(p: PathBuf) -> Result<String> {
    match p.into_os_string().into_string() {
        Ok(s) => Ok(s),
        Err(p) => bail!("{}: the path is not UTF-8", PathBuf::from(p).display()),
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Resolves `name` (a bare name or a path) to a program that is not this executable.
pub fn resolve(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok());
    let is_me = |p: &Path| me.is_some() && std::fs::canonicalize(p).ok() == me;
    if name.contains(std::path::MAIN_SEPARATOR) || name.contains('/') {
        let p = PathBuf::from(name);
        if is_me(&p) {
            bail!("{name} is distrffmpeg itself; set ffmpeg_bin to the real ffmpeg");
        }
        if !is_executable(&p) {
            bail!("{name}: not an executable file");
        }
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for candidate in [dir.join(name), dir.join(format!("{name}.exe"))] {
            if is_executable(&candidate) && !is_me(&candidate) {
                return Ok(candidate);
            }
        }
    }
    bail!("{name} not found on PATH (install ffmpeg, or set ffmpeg_bin/ffprobe_bin in the config)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_rejects_missing() {
        assert!(resolve("sh").is_ok());
        assert!(resolve("definitely-not-a-program-xyz").is_err());
        assert!(resolve("/nonexistent/ffmpeg").is_err());
    }
}
