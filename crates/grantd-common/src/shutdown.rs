//! The signal that stops a server: the first SIGTERM or SIGINT.

use std::future::Future;

/// Installs the SIGTERM and SIGINT handlers now and completes on the first of
/// either. Installing before the server publishes its address means a prompt
/// SIGTERM is handled rather than killing the process.
pub fn signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
        }
    })
}
