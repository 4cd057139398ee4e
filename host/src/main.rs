//! The `comptoir` binary: parse the command line, run the library.

use clap::Parser as _;
use comptoir::cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "comptoir=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => match args.settings() {
            Ok(settings) => comptoir::up(settings, shutdown_signal()).await,
            Err(error) => Err(error),
        },
        Command::Migrate(args) => comptoir::migrate(&args.settings()).await,
        Command::Deploy {
            component,
            file,
            canary: None,
            remote,
            ..
        } => comptoir::remote::deploy(&remote, &component, &file).await,
        Command::Deploy {
            component,
            file,
            canary: Some(share),
            wait,
            remote,
        } => comptoir::remote::canary(&remote, &component, &file, share, wait).await,
        Command::Promote { component, remote } => {
            comptoir::remote::decide(&remote, &component, "promote").await
        }
        Command::Abort { component, remote } => {
            comptoir::remote::decide(&remote, &component, "abort").await
        }
        Command::Rollback { component, remote } => {
            comptoir::remote::rollback(&remote, &component).await
        }
        Command::Status { remote } => comptoir::remote::status(&remote).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
}
