//! The engine's errors: what failed, as types, with no HTTP in them. Each door maps them to its
//! own wire shape in one `From` (`api::ApiError`, `sqs::SqsError`); `Display` is the native
//! API's message.

use super::attributes::InvalidMessage;
use super::input::OutOfRange;

/// Everything the engine (queues, messages, move tasks, tokens, accounts) can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("queue `{0}` does not exist")]
    QueueNotFound(String),
    #[error("queue `{0}` already exists with different settings")]
    QueueExists(String),
    #[error("move task `{0}` does not exist")]
    TaskNotFound(String),
    #[error("token `{0}` does not exist")]
    TokenNotFound(String),
    #[error("account `{0}` does not exist")]
    AccountNotFound(String),
    /// An input broke a rule; which one is typed.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Body and attributes together exceed the queue's `max_message_bytes`.
    #[error("message is {size} bytes (body and attributes); queue `{queue}` accepts at most {max}")]
    MessageTooLarge {
        queue: String,
        size: usize,
        max: i32,
    },
    #[error("the receipt handle is malformed, forged or belongs to another queue")]
    InvalidReceiptHandle,
    #[error(
        "the message is not in flight (its visibility timeout expired or it was received again)"
    )]
    MessageNotInFlight,
    #[error(
        "the receipt handle has expired (a FIFO message's handle is valid only while it is in flight)"
    )]
    ReceiptHandleExpired,
    /// The queue of a write was deleted between its lookup and its commit.
    #[error("the queue was deleted meanwhile")]
    QueueDeleted,
    /// The dead-letter target named in a change was deleted before the change committed.
    #[error("the dead-letter queue was deleted meanwhile")]
    DeadLetterQueueDeleted,
    #[error("queue `{0}` already has a running move task")]
    MoveTaskRunning(String),
    #[error("move task `{id}` is {status}, not running")]
    MoveTaskNotRunning { id: String, status: String },
    #[error("token `{0}` is already revoked")]
    TokenRevoked(String),
    #[error("account `{0}` already exists")]
    AccountExists(String),
    #[error("account id {0:012} is already in use")]
    AccountIdInUse(i64),
    #[error("queue `{queue}` is full ({depth} of at most {max_depth} messages); retry later")]
    QueueFull {
        queue: String,
        depth: i64,
        max_depth: i64,
    },
    /// The caller could not be identified.
    #[error(transparent)]
    Unauthenticated(#[from] Unauthenticated),
    /// The caller is known but its token does not grant the operation.
    #[error("{}", forbidden_message(.queue.as_deref(), .scope))]
    Forbidden {
        queue: Option<String>,
        /// The missing scope, or `None` when the token grants nothing on the queue.
        scope: Option<&'static str>,
    },
    /// Too many requests wait for a shared resource (a claim group, a request slot).
    #[error("the server is overloaded; retry later")]
    Overloaded,
    /// The database is unreachable, or no connection became free in time: retryable.
    #[error("{DATABASE_UNAVAILABLE}")]
    DatabaseUnavailable,
    /// The statement lost a transient fight inside the database (a deadlock, a lock or
    /// statement timeout): nothing changed, and the same request may well succeed at once.
    #[error("{DATABASE_BUSY}")]
    DatabaseBusy,
    /// Any other statement failure: a server fault, logged and never shown.
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Which rule an input broke. `Display` is the native API's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("invalid queue name `{}`: use 1-80 characters of A-Z, a-z, 0-9, '-' and '_'", .0.escape_debug())]
    QueueName(String),
    #[error(transparent)]
    Range(#[from] OutOfRange),
    #[error(transparent)]
    Message(#[from] InvalidMessage),
    /// A FIFO token (`group_id`, `deduplication_id`, `receive_request_attempt_id`) holds a
    /// character other than letters, digits and ASCII punctuation, or is not 1-128 long.
    #[error("`{0}` must be 1-128 characters, each a letter, digit or ASCII punctuation")]
    Token(&'static str),
    #[error("`deduplication_id` is for FIFO queues only")]
    DeduplicationIdOnStandardQueue,
    #[error("every message to a FIFO queue needs a `group_id`")]
    GroupIdRequired,
    #[error("FIFO queues take no per-message `delay_seconds` (set the queue's delay instead)")]
    DelayOnFifoMessage,
    #[error(
        "this FIFO queue needs a `deduplication_id` on every message (or content-based \
         deduplication turned on)"
    )]
    DeduplicationIdRequired,
    #[error("queue `{0}`: FIFO queues, and only they, have names ending in `.fifo`")]
    FifoName(String),
    #[error("a queue's type (FIFO or standard) is fixed at creation")]
    QueueTypeFixed,
    #[error(
        "`content_based_deduplication`, `deduplication_scope` and `fifo_throughput_limit` are \
         settings of FIFO queues only"
    )]
    FifoSettingOnStandardQueue,
    #[error(
        "`fifo_throughput_limit` `per_message_group_id` needs `deduplication_scope` `message_group`"
    )]
    ThroughputLimitNeedsGroupScope,
    #[error("dead-letter queue `{0}` does not exist; create it first")]
    DeadLetterQueueMissing(String),
    #[error("dead-letter queue `{0}` must be of the same type as its source (FIFO or standard)")]
    DeadLetterQueueType(String),
    #[error("queue `{queue}` cannot dead-letter into `{target}`: that would make a cycle")]
    DeadLetterCycle { queue: String, target: String },
    #[error("a redrive moves messages only between queues of the same type (FIFO or standard)")]
    RedriveQueueType,
    #[error("a redrive cannot move messages into their own queue")]
    RedriveIntoSource,
    #[error("Too many tags added for queue {queue}: a queue can have at most {max} tags.")]
    TooManyTags { queue: String, max: usize },
    #[error("Tag keys must be 1 to {max} characters long, got `{}`.", .key.escape_debug())]
    TagKeyLength { key: String, max: usize },
    #[error("Tag keys and values cannot contain control characters.")]
    TagControlCharacter,
    #[error("The value of tag `{key}` is longer than {max} characters.")]
    TagValueLength { key: String, max: usize },
    #[error("account {0:012} does not exist")]
    UnknownAccount(i64),
    #[error("expiry too far in the future")]
    ExpiryTooFar,
    #[error("`name` must not contain the NUL character (U+0000)")]
    NameHasNul,
    #[error("`name` must be 1-200 characters")]
    NameLength,
    #[error("an account id is 12 digits, not all zero")]
    AccountId,
    /// PostgreSQL refused a text holding NUL: the net under the named checks.
    #[error("{NUL_IN_TEXT}")]
    NulInText,
}

/// Why a caller could not be identified. `Display` is the native API's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    #[error("missing bearer token")]
    MissingToken,
    #[error("malformed Authorization header")]
    MalformedHeader,
    #[error("expected `Authorization: Bearer <token>`")]
    NotBearer,
    #[error("malformed token")]
    MalformedToken,
    #[error("token has no key id")]
    NoKeyId,
    #[error("token signed by an unknown or retired key")]
    UnknownKey,
    #[error("unknown token")]
    UnknownToken,
    #[error("token expired")]
    Expired,
    #[error("invalid token signature")]
    BadSignature,
}

impl Unauthenticated {
    /// The reason label of the `spool_auth_failures_total` metric.
    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::MalformedHeader | Self::NotBearer | Self::MalformedToken | Self::NoKeyId => {
                "malformed"
            }
            Self::UnknownKey => "unknown_key",
            Self::UnknownToken => "unknown_token",
            Self::Expired => "expired",
            Self::BadSignature => "bad_signature",
        }
    }
}

fn forbidden_message(queue: Option<&str>, scope: &Option<&'static str>) -> String {
    match (queue, scope) {
        (Some(queue), None) => format!("this token grants nothing on queue `{queue}`"),
        (Some(queue), Some(scope)) => {
            format!("this token lacks the `{scope}` scope for queue `{queue}`")
        }
        (None, Some(scope)) => format!("this token lacks the `{scope}` scope"),
        (None, None) => "this token grants nothing here".to_owned(),
    }
}

/// The message of `DatabaseUnavailable`.
pub const DATABASE_UNAVAILABLE: &str =
    "the database is unreachable or no connection became free in time; retry later";
/// The message of `DatabaseBusy`.
pub const DATABASE_BUSY: &str =
    "the database gave up on the request (a deadlock or a timeout) and changed nothing; retry";
/// The message when PostgreSQL refuses a text; the fields that can carry one are checked
/// first and named, this is the net under them.
pub const NUL_IN_TEXT: &str = "text values must not contain the NUL character (U+0000)";

/// Every statement failure becomes an engine error here, so both doors see the same three
/// cases: the client's text (NUL), a retryable outage, or a server fault.
impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        crate::telemetry::prometheus::statement_error(&error);
        if is_nul_in_text(&error) {
            Self::Invalid(Invalid::NulInText)
        } else if is_database_unavailable(&error) {
            Self::DatabaseUnavailable
        } else if is_database_busy(&error) {
            tracing::warn!(%error, "a statement lost a conflict in the database; answered 503");
            Self::DatabaseBusy
        } else {
            Self::Database(error)
        }
    }
}

impl Error {
    /// The error of a statement shared by several requests, for each of them (the statement's
    /// own error is logged once by whoever ran it).
    pub fn shared(error: &sqlx::Error) -> Self {
        if is_nul_in_text(error) {
            Self::Invalid(Invalid::NulInText)
        } else if is_database_unavailable(error) {
            Self::DatabaseUnavailable
        } else if is_database_busy(error) {
            Self::DatabaseBusy
        } else {
            Self::Internal(anyhow::anyhow!("shared statement failed: {error}"))
        }
    }

    /// Whether this is a fault of the server rather than of the request.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Database(_) | Self::Internal(_))
    }
}

/// Whether PostgreSQL refused a text because it holds NUL (U+0000), which no `text` can store
/// (SQLSTATE 22021 `character_not_in_repertoire`): the client's input, not a server fault.
pub fn is_nul_in_text(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("22021"))
}

/// Whether `error` means the database could not be reached or dropped the connection, so the
/// same request may well succeed in a moment (a restart, a failover, an outage, no connection
/// free within the pool's acquire timeout). Such errors are retryable 503s, not server bugs.
pub fn is_database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
            // 53300: too many connections; 25006: read-only transaction (a standby, mid-failover).
            code.starts_with("08") || code.starts_with("57P") || code == "53300" || code == "25006"
        }),
        _ => false,
    }
}

/// Whether PostgreSQL rolled the statement back after a transient conflict: 40P01 deadlock
/// detected, 40001 serialization failure, 55P03 lock not available, 57014 query canceled
/// (Spool's sessions' statement timeout). The transaction changed nothing, so the client may
/// retry: a retryable 503, not a server bug.
pub fn is_database_busy(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40P01" | "40001" | "55P03" | "57014")))
}

/// Turns a unique or foreign-key violation into a specific engine error at the call site.
pub trait OnConstraint<T> {
    fn on_constraint(self, name: &str, map: impl FnOnce() -> Error) -> Result<T, Error>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint(self, name: &str, map: impl FnOnce() -> Error) -> Result<T, Error> {
        self.map_err(|e| match e {
            sqlx::Error::Database(db) if db.constraint() == Some(name) => map(),
            other => other.into(),
        })
    }
}
