//! The `spool` command: parse configuration, start logging, run a subcommand.

use clap::Parser;
use spool::{cli, config::Cli, telemetry};

/// Every request allocates and frees many small buffers across threads; glibc's malloc and free
/// were an eighth of the server's CPU in profiles, mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    cli::run(cli.command).await
}
