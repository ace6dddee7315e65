//! The `spool` command: parse configuration, start logging, run a subcommand.

use clap::Parser;
use spool::{cli, config::Cli, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    cli::run(cli.command).await
}
