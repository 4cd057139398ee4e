//! What each subcommand does: `up` and `migrate` run the application
//! ([`crate::app`]), the others talk to a running one ([`crate::remote`]).

use crate::cli::{Cli, Command};
use crate::{app, remote};

/// Runs the command `cli` names; `up` serves until `shutdown` resolves.
pub async fn run(cli: Cli, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => app::up(args.settings()?, shutdown).await,
        Command::Migrate(args) => app::migrate(&args.settings()).await,
        Command::Deploy {
            component,
            file,
            canary: None,
            remote,
            ..
        } => remote::deploy(&remote, &component, &file).await,
        Command::Deploy {
            component,
            file,
            canary: Some(share),
            wait,
            remote,
        } => remote::canary(&remote, &component, &file, share, wait).await,
        Command::Promote { component, remote } => {
            remote::decide(&remote, &component, "promote").await
        }
        Command::Abort { component, remote } => remote::decide(&remote, &component, "abort").await,
        Command::Rollback { component, remote } => remote::rollback(&remote, &component).await,
        Command::Status { remote } => remote::status(&remote).await,
    }
}
