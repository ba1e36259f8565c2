//! `waveguide-engine`: parse flags, start the node, serve until a signal.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use waveguide::Node;
use waveguide::cli::Cli;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let config = cli.node_config();
    let node = match Node::start(config) {
        Ok(node) => node,
        Err(error) => {
            tracing::error!(%error, "could not start");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(
        http = %node.http_addr(),
        ftl = %node.ftl_addr(),
        webrtc = ?node.engine().worker_addresses(),
        "waveguide-engine {} running", env!("CARGO_PKG_VERSION"),
    );
    if let Some(key) = node.service().example_stream_key("123") {
        tracing::info!("example FTL stream key for channel 123: {key}");
        tracing::info!("watch it at http://{}/stream/123", node.http_addr());
    }
    match node.run_until_signal() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "signal handling failed");
            std::process::ExitCode::FAILURE
        }
    }
}
