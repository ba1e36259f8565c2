//! `waveguide-engine`: read the configuration, start the node, serve until a
//! signal.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use waveguide::Node;
use waveguide::cli::{Cli, Role};
use waveguide::config::{Config, LogFormat};
use waveguide::orchestrator::Orchestrator;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("waveguide-engine: {error}");
            return ExitCode::from(2);
        }
    };
    if cli.role == Some(Role::Orchestrator) {
        return run_orchestrator(&cli, &config);
    }
    let node_config = match config.node_config() {
        Ok(node_config) => node_config,
        Err(error) => {
            eprintln!("waveguide-engine: {error}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    init_logging(&config);
    let node = match Node::start(node_config) {
        Ok(node) => node,
        Err(error) => {
            tracing::error!(%error, "could not start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        http = %node.http_addr(),
        ftl = %node.ftl_addr(),
        rtmp = ?node.rtmp_addr(),
        rtmps = ?node.rtmps_addr(),
        webrtc = ?node.engine().worker_addresses(),
        "waveguide-engine {} running", env!("CARGO_PKG_VERSION"),
    );
    if let Some(channel) = node.service().example_channel()
        && let Some(key) = node.service().example_stream_key(&channel)
    {
        tracing::info!(
            "example stream key for channel {channel} (FTL, RTMP, or WHIP Bearer): {key}"
        );
        if let Some(rtmp) = node.rtmp_addr() {
            tracing::info!(
                "publish over RTMP to rtmp://{rtmp}/live with that key as the stream key"
            );
        }
        tracing::info!("watch it at http://{}/stream/{channel}", node.http_addr());
    }
    match node.run_until_signal() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "signal handling failed");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.logging.level));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match config.logging.format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn run_orchestrator(cli: &Cli, config: &Config) -> ExitCode {
    let orchestrator_config = match config.orchestrator_config() {
        Ok(orchestrator_config) => orchestrator_config,
        Err(error) => {
            eprintln!("waveguide-engine orchestrator: {error}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    init_logging(config);
    let orchestrator = match Orchestrator::start(orchestrator_config.clone()) {
        Ok(orchestrator) => orchestrator,
        Err(error) => {
            tracing::error!(%error, "could not start the orchestrator");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        address = %orchestrator.address(),
        store = ?orchestrator_config.store,
        "waveguide orchestrator {} listening", env!("CARGO_PKG_VERSION"),
    );
    match orchestrator.run_until_signal() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "signal handling failed");
            ExitCode::FAILURE
        }
    }
}
