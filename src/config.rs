//! Command line and environment: one typed configuration, read once at start.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Spool: a durable, SQS-compatible message queue on PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "spool", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log output format.
    #[arg(long, env = "SPOOL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrating the database first).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document of the native API as JSON.
    Openapi,
    /// Manage API tokens directly on the database (how the first admin token is made).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage accounts directly on the database.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Rotate or retire the keys that sign API tokens.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (with its SigV4 key pair) once.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        secrets: SecretArgs,
        /// A label for people.
        #[arg(long)]
        name: String,
        /// A grant such as admin, queues:manage, messages:send or messages:receive:orders-*;
        /// repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Account id (default: the operator account 000000000000).
        #[arg(long, default_value_t = 0)]
        account: i64,
        /// Seconds until it expires (default: never).
        #[arg(long)]
        expires_in: Option<u64>,
        /// Print only the bearer token (for `export SPOOL_TOKEN=$(...)`).
        #[arg(long)]
        quiet: bool,
    },
    /// List an account's tokens, or every account's (never their secrets).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        secrets: SecretArgs,
        /// Account id (default: the operator account 000000000000).
        #[arg(long, default_value_t = 0, conflicts_with = "all")]
        account: i64,
        /// List the tokens of every account.
        #[arg(long)]
        all: bool,
    },
    /// Show one token of any account (never its secret).
    Show {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        secrets: SecretArgs,
        /// Token id.
        id: uuid::Uuid,
    },
    /// Revoke a token of any account; it stops working on every node within seconds.
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        secrets: SecretArgs,
        /// Token id (ids are unique across accounts).
        id: uuid::Uuid,
        /// Revoke only if the token belongs to this account.
        #[arg(long)]
        account: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and print its id.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// A unique name for people.
        #[arg(long)]
        name: String,
        /// The account's 12-digit id (SQS's account id in queue URLs and ARNs); random if
        /// left out.
        #[arg(long, value_parser = parse_account_id)]
        id: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a new signing key; new tokens use it, old ones keep working until their key retires.
    Rotate {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        secrets: SecretArgs,
    },
    /// Retire a signing key: every token it signed stops working.
    Retire {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        secrets: SecretArgs,
        /// Id of the key to retire (`kid` in the tokens it signed).
        kid: String,
    },
}

/// The master key that signing keys and SigV4 secrets derive from.
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// Master key, hex or base64 of at least 32 bytes (e.g. `openssl rand -hex 32`). Required
    /// with DATABASE_URL; the embedded default keeps one in `<data dir>/secret.key`.
    #[arg(long, env = "SPOOL_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL. Without it Spool runs its own PostgreSQL cluster in the data
    /// directory, using the PostgreSQL binaries installed on this machine.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Data directory of the embedded PostgreSQL cluster (used only without DATABASE_URL).
    /// Default: ~/.local/share/spool, or /var/lib/spool when running as root.
    #[arg(long, env = "SPOOL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Size of the database connection pool.
    #[arg(long, env = "SPOOL_DB_POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,
    /// Milliseconds a request waits for a database connection (also while the database is
    /// down or restarting) before it is answered with a retryable 503 `database_unavailable`.
    #[arg(long, env = "SPOOL_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 1000)]
    pub acquire_timeout_ms: u64,
}

/// Settings of the server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address the HTTP API listens on.
    #[arg(long, env = "SPOOL_LISTEN", default_value = "127.0.0.1:9324")]
    pub listen: SocketAddr,
    /// Base URL clients reach this server at (used in queue URLs). Default: http://<listen>.
    #[arg(long, env = "SPOOL_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub secrets: SecretArgs,
    /// Most queues that get their own `queue` label in /metrics; counters of the rest are summed
    /// under `queue="_other"` and their levels are left out (keeps Prometheus series bounded).
    #[arg(long, env = "SPOOL_METRICS_QUEUES", default_value_t = crate::telemetry::prometheus::DEFAULT_QUEUE_LABEL_LIMIT)]
    pub metrics_queues: usize,
    /// Flow control: while a queue has active consumers and this many ready messages, sends
    /// to it wait for the consumers (0 turns it off).
    #[arg(long, env = "SPOOL_FLOW_BACKLOG", default_value_t = crate::queue::flow::DEFAULT_BACKLOG)]
    pub flow_backlog: u64,
    /// Development mode: requests without a token act as an admin of the default account.
    /// Never use it on a network others can reach.
    #[arg(long, env = "SPOOL_DEV")]
    pub dev: bool,
    /// The 12-digit id the default account shows on the SQS door (queue URLs, ARNs, STS).
    #[arg(long, env = "SPOOL_DEFAULT_ACCOUNT_ID", default_value = "000000000000", value_parser = parse_account_id)]
    pub default_account_id: i64,
    /// The region of the native API's queues; SQS clients signing for another region see that
    /// region's queues.
    #[arg(long, env = "SPOOL_DEFAULT_REGION", default_value = "us-east-1")]
    pub default_region: String,
}

/// A 12-digit account id, as SQS writes them.
fn parse_account_id(text: &str) -> Result<i64, String> {
    match text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        true => text.parse().map_err(|e| format!("{e}")),
        false => Err("an account id is 12 digits, e.g. 123456789012".to_owned()),
    }
}

#[cfg(test)]
mod account_id_tests {
    use super::*;

    #[test]
    fn account_ids_are_12_digits() {
        assert_eq!(parse_account_id("000000000000"), Ok(0));
        assert_eq!(parse_account_id("123456789012"), Ok(123_456_789_012));
        for bad in ["", "12345", "1234567890123", "12345678901a", "-12345678901"] {
            assert!(parse_account_id(bad).is_err(), "{bad}");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl DatabaseArgs {
    /// The embedded cluster's directory: the given one, or the platform default.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/spool");
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("spool")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::CommandFactory;

    use super::*;

    /// Every argument of every subcommand, with the command path that has it.
    fn all_args() -> Vec<(String, clap::Arg)> {
        fn walk(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Arg)>) {
            for arg in cmd.get_arguments() {
                out.push((path.clone(), arg.clone()));
            }
            for sub in cmd.get_subcommands() {
                walk(sub, format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut out = Vec::new();
        walk(&Cli::command(), "spool".to_owned(), &mut out);
        out
    }

    #[test]
    fn every_argument_has_help() {
        Cli::command().debug_assert();
        for (path, arg) in all_args() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            assert!(
                arg.get_help()
                    .is_some_and(|h| !h.to_string().trim().is_empty()),
                "`{path}` argument `{id}` has no help text"
            );
        }
    }

    /// The README's configuration table names exactly the flags that have an environment
    /// variable, with that variable and its default.
    #[test]
    fn the_readme_configuration_table_matches_the_flags() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has a Configuration section");
        // flag -> (env, default) from the table rows `| `--flag` | `ENV` | default | meaning |`.
        let mut documented = BTreeMap::new();
        for line in section.lines().filter(|l| l.starts_with("| `--")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let flag = cells[1].trim_matches('`').to_owned();
            let env = cells[2].trim_matches('`').to_owned();
            documented.insert(flag, (env, cells[3].to_owned()));
        }
        let mut defined = BTreeMap::new();
        for (_, arg) in all_args() {
            let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
                continue;
            };
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            let env = env.to_string_lossy().into_owned();
            defined.insert(format!("--{long}"), (env, default));
        }
        for (flag, (env, default)) in &defined {
            let Some((doc_env, doc_default)) = documented.get(flag) else {
                panic!("README's configuration table lacks `{flag}` (`{env}`)");
            };
            assert_eq!(doc_env, env, "README names the wrong variable for `{flag}`");
            if let Some(default) = default {
                assert!(
                    doc_default.contains(&format!("`{default}`")),
                    "README gives `{flag}` the default {doc_default}, the code `{default}`"
                );
            }
        }
        for flag in documented.keys() {
            assert!(
                defined.contains_key(flag),
                "README documents `{flag}`, which no command has"
            );
        }
    }
}
