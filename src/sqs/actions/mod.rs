//! The 23 SQS actions. Each takes its JSON input (already decoded from either protocol),
//! calls the engine, and returns its JSON output with SQS's member names.

mod batch;
mod create_queue;
mod handles;
mod move_tasks;
mod permissions;
mod policy_attributes;
mod queue_attributes;
mod queues;
mod receive;
mod send;
pub mod sts;
mod tags;

use crate::domain::{AccountId, QueueName};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::{
    errors::{SqsError, SqsResult},
    urls,
};
use crate::{
    app::AppState,
    auth::{Caller, Scope},
    domain::Error,
    queue::Engine,
};

/// Every action SQS has.
pub const ACTIONS: [&str; 23] = [
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "DeleteQueue",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "PurgeQueue",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "TagQueue",
    "UntagQueue",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "StartMessageMoveTask",
    "ListMessageMoveTasks",
    "CancelMessageMoveTask",
    "AddPermission",
    "RemovePermission",
];

/// Actions that take no queue: a queue URL endpoint refuses them (`InvalidAction`).
pub const QUEUELESS: [&str; 7] = [
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "StartMessageMoveTask",
    "ListMessageMoveTasks",
    "CancelMessageMoveTask",
    sts::GET_CALLER_IDENTITY,
];

/// The action called `name`, if SQS has it (or it is STS's GetCallerIdentity).
pub fn known(name: &str) -> Option<&'static str> {
    ACTIONS
        .iter()
        .copied()
        .chain([sts::GET_CALLER_IDENTITY])
        .find(|action| *action == name)
}

/// What an action knows about its request besides the input.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub caller: Caller,
    /// The region the client signed for; used in ARNs and queue URLs.
    pub region: String,
    /// Where the caller's queues in `region` live: the caller's account in the default region,
    /// the account's namespace for that region otherwise.
    pub namespace: AccountId,
    /// Whether `region` is the default region (whose queue URLs carry no region).
    pub default_region: bool,
    /// Base of queue URLs.
    pub base_url: String,
    /// The `X-Amzn-Trace-Id` header: the `AWSTraceHeader` of messages sent without one.
    pub trace_header: Option<String>,
}

/// Runs `action` on `input`. Each action's future is boxed: this one would otherwise be as
/// large as the largest of them (kilobytes of database calls) for every request, a waiting
/// `ReceiveMessage` included.
pub async fn dispatch(ctx: &Ctx<'_>, action: &str, input: Value) -> SqsResult<Value> {
    match action {
        "CreateQueue" => output(Box::pin(create_queue::create_queue(ctx, parse(input)?)).await),
        "GetQueueUrl" => output(Box::pin(queues::get_queue_url(ctx, parse(input)?)).await),
        "ListQueues" => output(Box::pin(queues::list_queues(ctx, parse(input)?)).await),
        "DeleteQueue" => output(Box::pin(queues::delete_queue(ctx, parse(input)?)).await),
        "PurgeQueue" => output(Box::pin(queues::purge_queue(ctx, parse(input)?)).await),
        "ListDeadLetterSourceQueues" => {
            output(Box::pin(queues::list_dead_letter_source_queues(ctx, parse(input)?)).await)
        }
        "GetQueueAttributes" => {
            output(Box::pin(queue_attributes::get_queue_attributes(ctx, parse(input)?)).await)
        }
        "SetQueueAttributes" => {
            output(Box::pin(queue_attributes::set_queue_attributes(ctx, parse(input)?)).await)
        }
        "SendMessage" => output(Box::pin(send::send_message(ctx, parse(input)?)).await),
        "SendMessageBatch" => output(Box::pin(send::send_message_batch(ctx, parse(input)?)).await),
        "ReceiveMessage" => output(Box::pin(receive::receive_message(ctx, parse(input)?)).await),
        "DeleteMessage" => output(Box::pin(handles::delete_message(ctx, parse(input)?)).await),
        "DeleteMessageBatch" => {
            output(Box::pin(handles::delete_message_batch(ctx, parse(input)?)).await)
        }
        "ChangeMessageVisibility" => {
            output(Box::pin(handles::change_message_visibility(ctx, parse(input)?)).await)
        }
        "ChangeMessageVisibilityBatch" => {
            output(Box::pin(handles::change_message_visibility_batch(ctx, parse(input)?)).await)
        }
        "TagQueue" => output(Box::pin(tags::tag_queue(ctx, parse(input)?)).await),
        "UntagQueue" => output(Box::pin(tags::untag_queue(ctx, parse(input)?)).await),
        "ListQueueTags" => output(Box::pin(tags::list_queue_tags(ctx, parse(input)?)).await),
        "StartMessageMoveTask" => {
            output(Box::pin(move_tasks::start_message_move_task(ctx, parse(input)?)).await)
        }
        "ListMessageMoveTasks" => {
            output(Box::pin(move_tasks::list_message_move_tasks(ctx, parse(input)?)).await)
        }
        "CancelMessageMoveTask" => {
            output(Box::pin(move_tasks::cancel_message_move_task(ctx, parse(input)?)).await)
        }
        "AddPermission" => output(Box::pin(permissions::add_permission(ctx, parse(input)?)).await),
        "RemovePermission" => {
            output(Box::pin(permissions::remove_permission(ctx, parse(input)?)).await)
        }
        sts::GET_CALLER_IDENTITY => output(Box::pin(sts::get_caller_identity(ctx)).await),
        other => Err(SqsError::new(
            super::errors::INVALID_ACTION,
            super::texts::invalid_action(other),
        )),
    }
}

/// An action without output.
#[derive(Debug, Serialize)]
pub struct Empty {}

/// An action's output as JSON (serializing these plain structs cannot fail in practice).
fn output<T: Serialize>(result: SqsResult<T>) -> SqsResult<Value> {
    serde_json::to_value(result?).map_err(|e| Error::Internal(e.into()).into())
}

/// Reads an action's input; a member of the wrong type is `InvalidParameterValue`.
fn parse<T: DeserializeOwned>(input: Value) -> SqsResult<T> {
    serde_json::from_value(input)
        .map_err(|e| SqsError::invalid(format!("The request is not valid: {e}.")))
}

/// Whether a queue could have this name; a name that breaks the naming rules names no queue
/// (and never reaches the database).
fn could_exist(name: &str) -> bool {
    QueueName::parse(name).is_ok()
}

/// A required member, or `MissingParameter` naming it.
fn required<T>(value: Option<T>, name: &str) -> SqsResult<T> {
    value.ok_or_else(|| SqsError::missing(name))
}

impl Ctx<'_> {
    fn engine(&self) -> &Engine {
        &self.state.engine
    }

    /// The engine's account for this request: the caller's account in the signing region.
    fn account(&self) -> AccountId {
        self.namespace
    }

    /// The caller's account as SQS shows it (queue URLs, ARNs, STS): the default account has
    /// the configured id.
    fn public_account(&self) -> AccountId {
        self.state.sqs.public_account(self.caller.account)
    }

    /// The name of the queue a (required) `QueueUrl` points at, in the caller's account: a
    /// URL (any host) whose path is `/<account>/<name>`, or a bare queue name, as AWS accepts.
    fn queue_name(&self, url: Option<&str>) -> SqsResult<String> {
        let url = required(url, "QueueUrl")?;
        let (account, name) = match url.contains('/') {
            false => (self.public_account(), url.to_owned()),
            true => urls::parse_queue_url(url).ok_or_else(SqsError::no_such_queue)?,
        };
        if account != self.public_account() || !could_exist(&name) {
            return Err(SqsError::no_such_queue());
        }
        Ok(name)
    }

    /// The name of the queue an ARN names, in the caller's account (`None` otherwise).
    fn arn_name(&self, arn: &str) -> Option<String> {
        urls::parse_arn(arn)
            .filter(|(account, name)| *account == self.public_account() && could_exist(name))
            .map(|(_, name)| name)
    }

    /// A queue's URL: `<base>/<account>/<name>` in the default region or when the client
    /// called a regional host (`sqs.<region>.…`), `<base>/<region>/<account>/<name>` otherwise,
    /// so that URLs stay unique across regions.
    fn url(&self, name: &str) -> String {
        let host = self.base_url.split_once("://").map_or("", |(_, rest)| rest);
        let regional = host.starts_with(&format!("sqs.{}.", self.region));
        match self.default_region || regional {
            true => urls::queue_url(&self.base_url, self.public_account(), name),
            false => {
                let base = format!("{}/{}", self.base_url, self.region);
                urls::queue_url(&base, self.public_account(), name)
            }
        }
    }

    fn arn(&self, name: &str) -> String {
        urls::queue_arn(&self.region, self.public_account(), name)
    }

    fn authorize(&self, scope: Scope, queue: &str) -> SqsResult<()> {
        Ok(self.caller.authorize(scope, Some(queue))?)
    }

    fn authorize_any(&self, queue: &str) -> SqsResult<()> {
        Ok(self.caller.authorize_any(queue)?)
    }
}
