//! Waiting for the signals that interrupt a job: Ctrl-C (SIGINT) and SIGTERM. One listener
//! lives for the whole run, so a second signal sent right after the first is not missed.

/// SIGINT and SIGTERM as they arrive.
pub struct Interrupts {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    /// Starts listening (within a tokio runtime).
    pub fn listen() -> Interrupts {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Interrupts {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Interrupts {}
        }
    }

    /// Resolves true when the next SIGINT or SIGTERM arrives (false: cannot listen).
    pub async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            let (Some(int), Some(term)) = (self.int.as_mut(), self.term.as_mut()) else {
                return false;
            };
            tokio::select! {
                _ = int.recv() => true,
                _ = term.recv() => true,
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

/// Exit code ffmpeg uses after SIGINT/SIGTERM.
pub const EXIT_INTERRUPTED: u8 = 255;

/// Watches the signals for a run: the first cancels `interrupted` and `cancel` (the run
/// cleans up and exits 255); a second one while cleaning up kills the local ffmpeg processes
/// and exits at once (exiting runs no destructor that would).
pub fn watch(
    cancel: tokio_util::sync::CancellationToken,
    interrupted: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut signals = Interrupts::listen();
    tokio::spawn(async move {
        if signals.next().await {
            interrupted.cancel();
            cancel.cancel();
            if signals.next().await {
                crate::process::kill_all();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    })
}
