//! Stopping on Ctrl-C (SIGINT) and, on unix, SIGTERM.

/// Listens for Ctrl-C and SIGTERM from its creation on, so a signal that arrives before the
/// program starts waiting (right after `serve` printed its URL, say) is neither lost nor fatal.
#[derive(Debug)]
pub(crate) struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    /// Starts listening (within the tokio runtime).
    pub(crate) fn listen() -> Shutdown {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            Shutdown { signals }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    /// Completes when a signal arrived (at once if one already did).
    pub(crate) async fn wait(&mut self) {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        // No signal handling could be installed: Ctrl-C the portable way.
        let _ = tokio::signal::ctrl_c().await;
    }
}
