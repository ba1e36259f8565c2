//! The stop signal a node or an orchestrator serves until.

use std::io;

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() -> io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}
