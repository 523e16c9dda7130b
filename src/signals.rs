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
