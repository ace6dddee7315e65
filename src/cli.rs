//! The subcommands: serve, migrate, openapi, and the token/account/key administration that
//! works directly on the database.

use crate::domain::DEFAULT_ACCOUNT;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::{
    api::{self, AppState},
    auth::{self, Auth, AuthMode, Grant, IssuedToken, MasterKey},
    config::{
        AccountCommand, Command, DatabaseArgs, KeyCommand, SecretArgs, ServeArgs, TokenCommand,
    },
    embedded::{EmbeddedPostgres, Lifecycle},
    queue::{Engine, EngineOptions, flow::FlowOptions},
    store,
};

/// Runs one subcommand to completion.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(database) => {
            with_database(&database, |_, _| async {
                tracing::info!("migrations applied");
                Ok(())
            })
            .await
        }
        Command::Openapi => {
            println!("{}", api::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Token(command) => token(command).await,
        Command::Account(AccountCommand::Create { database, name, id }) => {
            with_database(&database, |pool, _| async move {
                let account = auth::create_account(&pool, &name, id).await?;
                println!("{:012}", account.id);
                Ok(())
            })
            .await
        }
        Command::Key(command) => key(command).await,
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
        let dir = args.data_dir().join("postgres");
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

/// Opens and migrates the database, runs `work` on it, and closes it whatever happened.
async fn with_database<F, Fut>(args: &DatabaseArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(store::Db, bool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let database = Database::open(args).await?;
    let embedded = database.embedded.is_some();
    let result = async {
        let acquire_timeout = std::time::Duration::from_millis(args.acquire_timeout_ms);
        let pool = store::connect_with(&database.url, args.pool_size, acquire_timeout)
            .await
            .context("could not connect to PostgreSQL")?;
        store::migrate(&pool)
            .await
            .context("could not migrate the database")?;
        work(pool, embedded).await
    }
    .await;
    let closed = database.close().await;
    match (result, closed) {
        (Err(error), Err(close_error)) => {
            tracing::error!(error = %close_error, "could not stop the embedded PostgreSQL");
            Err(error)
        }
        (result, closed) => result.and(closed),
    }
}

/// The master key: configured, or kept in the embedded data directory, or (development mode
/// only) made up for this run.
fn master_key(
    secrets: &SecretArgs,
    database: &DatabaseArgs,
    dev: bool,
) -> anyhow::Result<MasterKey> {
    if let Some(text) = &secrets.secret_key {
        return MasterKey::parse(text).map_err(anyhow::Error::msg);
    }
    if database.database_url.is_none() {
        return MasterKey::load_or_create(&database.data_dir().join("secret.key"));
    }
    if dev {
        tracing::warn!("no SPOOL_SECRET_KEY: tokens issued now stop working when Spool restarts");
        return Ok(MasterKey::generate());
    }
    anyhow::bail!(
        "set SPOOL_SECRET_KEY (hex or base64 of 32+ bytes, e.g. `openssl rand -hex 32`); \
         every node of one database needs the same key"
    )
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::telemetry::prometheus::set_queue_label_limit(args.metrics_queues);
    let master = master_key(&args.secrets, &args.database, args.dev)?;
    let shutdown = CancellationToken::new();
    // Listen for Ctrl-C from the very start, so a signal during start-up (initdb, migrations)
    // still stops the embedded cluster on the way out.
    let signals = shutdown_signal()?;
    let stop = shutdown.clone();
    tokio::spawn(async move {
        signals.await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    with_database(&args.database.clone(), |pool, embedded| async move {
        let mode = if args.dev {
            AuthMode::Development
        } else {
            AuthMode::Enforce
        };
        let auth = Arc::new(Auth::new(pool.clone(), master, mode).await?);
        if embedded || args.dev {
            bootstrap_admin_token(&pool, &auth).await?;
        }
        let options = EngineOptions {
            flow: FlowOptions {
                backlog: args.flow_backlog,
                ..FlowOptions::default()
            },
            ..EngineOptions::default()
        };
        let engine = Engine::new(pool, options, shutdown.clone()).await?;
        crate::app::spawn_workers(&engine, &shutdown);
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("could not listen on {}", args.listen))?;
        tracing::info!(address = %listener.local_addr()?, "Spool is serving");
        let served = crate::serve(
            listener,
            AppState {
                engine,
                auth,
                sqs: std::sync::Arc::new(
                    crate::sqs::SqsConfig::new(args.public_url.clone(), args.dev)
                        .with_default_account_id(args.default_account_id)
                        .with_default_region(args.default_region.clone()),
                ),
            },
            shutdown.clone().cancelled_owned(),
        )
        .await;
        shutdown.cancel();
        served
    })
    .await
}

/// On the first start of the embedded default (or in development mode), when the operator
/// account has no token yet, creates an admin token and prints it once.
async fn bootstrap_admin_token(pool: &store::Db, auth: &Auth) -> anyhow::Result<()> {
    if store::auth::any_token(pool, DEFAULT_ACCOUNT).await? {
        return Ok(());
    }
    let issued = auth
        .issue(
            DEFAULT_ACCOUNT,
            "first admin",
            &[Grant::all(auth::Scope::Admin)],
            None,
        )
        .await?;
    println!("No API token existed, so Spool created an admin token (shown only this once):");
    print_token(&issued);
    Ok(())
}

fn print_token(issued: &IssuedToken) {
    println!("  export SPOOL_TOKEN={}", issued.jwt);
    println!("  token id:              {}", issued.record.id);
    println!("  account:               {:012}", issued.record.account_id);
    println!(
        "  scopes:                {}",
        issued.record.scopes.join(" ")
    );
    println!("  AWS_ACCESS_KEY_ID:     {}", issued.record.access_key_id);
    println!("  AWS_SECRET_ACCESS_KEY: {}", issued.secret_access_key);
}

async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            database,
            secrets,
            name,
            scopes,
            account,
            expires_in,
            quiet,
        } => {
            let grants = scopes
                .iter()
                .map(|s| s.parse::<Grant>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?;
            let master = master_key(&secrets, &database, false)?;
            with_database(&database, |pool, _| async move {
                let auth = Auth::new(pool, master, AuthMode::Enforce).await?;
                let ttl = expires_in.map(std::time::Duration::from_secs);
                let issued = auth.issue(account, &name, &grants, ttl).await?;
                if quiet {
                    println!("{}", issued.jwt);
                } else {
                    print_token(&issued);
                }
                Ok(())
            })
            .await
        }
        TokenCommand::List {
            database,
            secrets,
            account,
            all,
        } => {
            let master = master_key(&secrets, &database, false)?;
            with_database(&database, |pool, _| async move {
                let auth = Auth::new(pool, master, AuthMode::Enforce).await?;
                let tokens = if all {
                    auth.list_all().await?
                } else {
                    auth.list(account).await?
                };
                for t in tokens {
                    println!("{}", token_line(&t));
                }
                Ok(())
            })
            .await
        }
        TokenCommand::Show {
            database,
            secrets,
            id,
        } => {
            let master = master_key(&secrets, &database, false)?;
            with_database(&database, |pool, _| async move {
                let auth = Auth::new(pool, master, AuthMode::Enforce).await?;
                println!("{}", token_line(&auth.find(id).await?));
                Ok(())
            })
            .await
        }
        TokenCommand::Revoke {
            database,
            secrets,
            id,
            account,
        } => {
            let master = master_key(&secrets, &database, false)?;
            with_database(&database, |pool, _| async move {
                let auth = Auth::new(pool, master, AuthMode::Enforce).await?;
                // Ids are global: an operator revoking a leaked tenant token names only the id.
                let account = match account {
                    Some(account) => account,
                    None => auth.find(id).await?.account_id,
                };
                auth.revoke(account, id).await?;
                println!("revoked {id} (account {account:012})");
                Ok(())
            })
            .await
        }
    }
}

/// One token as `token list` and `token show` print it.
fn token_line(t: &crate::domain::Token) -> String {
    let state = if t.revoked_at.is_some() {
        "revoked"
    } else {
        "active"
    };
    format!(
        "{}  {:012}  {state:8} {}  {}  [{}]",
        t.id,
        t.account_id,
        t.access_key_id,
        t.name,
        t.scopes.join(" ")
    )
}

async fn key(command: KeyCommand) -> anyhow::Result<()> {
    let (database, secrets, retire) = match command {
        KeyCommand::Rotate { database, secrets } => (database, secrets, None),
        KeyCommand::Retire {
            database,
            secrets,
            kid,
        } => (database, secrets, Some(kid)),
    };
    let master = master_key(&secrets, &database, false)?;
    with_database(&database, |pool, _| async move {
        let auth = Auth::new(pool, master, AuthMode::Enforce).await?;
        match retire {
            None => println!("new signing key {}", auth.rotate_key().await?),
            Some(kid) if auth.retire_key(&kid).await? => println!("retired {kid}"),
            Some(kid) => anyhow::bail!("no active signing key `{kid}`"),
        }
        Ok(())
    })
    .await
}

/// Installs SIGINT and SIGTERM handlers now; the future resolves on the first signal.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
