//! The `spool` command: parse configuration, start logging, run a subcommand.

use anyhow::Context;
use clap::Parser;
use spool::{
    api::{self, AppState},
    config::{Cli, Command, DatabaseArgs, ServeArgs},
    embedded::{EmbeddedPostgres, Lifecycle},
    queue::{Engine, EngineOptions},
    store, telemetry, worker,
};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Openapi => {
            println!("{}", api::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}

/// A database to use: the configured one, or the embedded cluster (stopped by `close`).
struct Database {
    url: String,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    async fn open(args: &DatabaseArgs) -> anyhow::Result<Self> {
        if let Some(url) = &args.database_url {
            return Ok(Self {
                url: url.clone(),
                embedded: None,
            });
        }
        let dir = args.data_dir();
        tracing::info!(dir = %dir.display(), "DATABASE_URL is not set; using the embedded PostgreSQL");
        let cluster = EmbeddedPostgres::start(&dir, Lifecycle::Owned)
            .await
            .context("could not start the embedded PostgreSQL (set DATABASE_URL to use another)")?;
        Ok(Self {
            url: cluster.database_url("postgres"),
            embedded: Some(cluster),
        })
    }

    async fn close(self) -> anyhow::Result<()> {
        if let Some(cluster) = self.embedded {
            cluster.stop().await?;
        }
        Ok(())
    }
}

async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let database = Database::open(&args).await?;
    let result = async {
        let pool = store::connect(&database.url, 2).await?;
        store::migrate(&pool).await?;
        tracing::info!("migrations applied");
        anyhow::Ok(())
    }
    .await;
    database.close().await?;
    result
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let database = Database::open(&args.database).await?;
    let shutdown = CancellationToken::new();
    let result = run(&args, &database.url, shutdown.clone()).await;
    shutdown.cancel();
    database.close().await?;
    result
}

async fn run(args: &ServeArgs, url: &str, shutdown: CancellationToken) -> anyhow::Result<()> {
    let pool = store::connect(url, args.database.pool_size)
        .await
        .context("could not connect to PostgreSQL")?;
    store::migrate(&pool)
        .await
        .context("could not migrate the database")?;
    let engine = Engine::new(pool, EngineOptions::default(), shutdown.clone()).await?;
    worker::spawn(&engine, &shutdown);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "Spool is serving");
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    let sqs = spool::sqs::SqsConfig::new(args.public_url.clone());
    let state = AppState { engine, sqs };
    spool::serve(listener, state, shutdown.cancelled_owned()).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("can install a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
