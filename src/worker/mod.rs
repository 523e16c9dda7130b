//! Workers: the places where chunk encodes run. One trait, implemented by a local worker
//! (subprocess ffmpeg in the local work dir) and by the SSH worker; the scheduler only talks to
//! the trait.

pub mod local;
pub mod pool;
pub mod ssh;

use crate::progress::EncodeProgress;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use tokio_util::sync::CancellationToken;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a worker operation failed, which decides what the scheduler does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// Connection or transfer trouble: retry the chunk elsewhere and count it against the worker.
    #[error("{0}")]
    Transport(String),
    /// ffmpeg failed. `fatal` when the error would repeat on every worker (bad option, unknown
    /// encoder): the job stops with ffmpeg's message.
    #[error("ffmpeg failed: {tail}")]
    Ffmpeg { tail: String, fatal: bool },
    #[error("cancelled")]
    Cancelled,
}

/// Called with each progress snapshot of a running encode.
pub type ProgressFn<'a> = &'a (dyn Fn(EncodeProgress) + Send + Sync);

pub trait Worker: Send + Sync {
    /// A short name for messages ("local", "enc@10.0.0.5").
    fn label(&self) -> &str;
    /// How this worker's ffmpeg refers to a file of the job's directory.
    fn path(&self, name: &str) -> String;
    /// Creates the job's directory on the worker.
    fn prepare(&self) -> BoxFut<'_, Result<(), WorkerError>>;
    /// Makes the local file available to the worker's ffmpeg under `name`.
    fn upload<'a>(&'a self, local: &'a Path, name: &'a str) -> BoxFut<'a, Result<(), WorkerError>>;
    /// Runs ffmpeg with `args` (paths from `path`), reporting progress, until done or cancelled.
    fn encode<'a>(
        &'a self,
        args: &'a [String],
        progress: ProgressFn<'a>,
        cancel: &'a CancellationToken,
    ) -> BoxFut<'a, Result<(), WorkerError>>;
    /// Brings the worker's file `name` to `local`.
    fn download<'a>(
        &'a self,
        name: &'a str,
        local: &'a Path,
    ) -> BoxFut<'a, Result<(), WorkerError>>;
    /// The file names in the job's directory.
    fn list(&self) -> BoxFut<'_, Result<Vec<String>, WorkerError>>;
    /// Deletes files of the job's directory that are no longer needed.
    fn remove<'a>(&'a self, names: &'a [String]) -> BoxFut<'a, Result<(), WorkerError>>;
    /// Removes the job's directory.
    fn cleanup(&self) -> BoxFut<'_, Result<(), WorkerError>>;
}

/// Decides from ffmpeg's stderr whether a failure would repeat on any worker.
pub fn is_fatal_ffmpeg_error(stderr: &str) -> bool {
    const MARKERS: &[&str] = &[
        "Unknown encoder",
        "Unrecognized option",
        "Error setting option",
        "Error initializing output stream",
        "Error while opening encoder",
        "No such filter",
        "Invalid argument",
        "Option not found",
        "not found for",
        "Error parsing",
        "Unable to parse",
        "Invalid pixel format",
        "incorrect codec parameters",
        "Could not write header",
    ];
    MARKERS.iter().any(|m| stderr.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_errors_are_fatal_crashes_are_not() {
        assert!(is_fatal_ffmpeg_error(
            "[libx264 @ 0x1] Error setting option foo to value bar."
        ));
        assert!(is_fatal_ffmpeg_error("Unknown encoder 'libx999'"));
        assert!(!is_fatal_ffmpeg_error("Segmentation fault"));
        assert!(!is_fatal_ffmpeg_error("c.nut: No such file or directory"));
    }
}
