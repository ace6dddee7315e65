//! AddPermission and RemovePermission: they maintain statements in the queue's `Policy`
//! attribute, labelled by `Sid`. Spool stores the policy but does not enforce it; token scopes
//! decide access.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ACTIONS, Ctx, Empty, required};
use crate::{
    auth::Scope,
    sqs::{
        errors::{SqsError, SqsResult},
        texts,
    },
};

/// Most actions one statement may name (SQS's limit).
const MAX_ACTIONS: usize = 7;
/// Actions only the queue's owner may call: AddPermission cannot grant them.
const OWNER_ONLY: [&str; 5] = [
    "AddPermission",
    "RemovePermission",
    "CreateQueue",
    "DeleteQueue",
    "SetQueueAttributes",
];
/// The policy language version SQS writes.
const POLICY_VERSION: &str = "2008-10-17";

/// The input of AddPermission.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddInput {
    queue_url: Option<String>,
    label: Option<String>,
    #[serde(rename = "AWSAccountIds")]
    account_ids: Option<Vec<String>>,
    actions: Option<Vec<String>>,
}

/// The input of RemovePermission.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveInput {
    queue_url: Option<String>,
    label: Option<String>,
}

/// Adds a statement allowing `Actions` to `AWSAccountIds`, labelled `Label`.
pub async fn add_permission(ctx: &Ctx<'_>, input: AddInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let label = check_label(required(input.label, "Label")?)?;
    let accounts = required(input.account_ids.filter(|a| !a.is_empty()), "AWSAccountIds")?;
    let actions = required(input.actions.filter(|a| !a.is_empty()), "Actions")?;
    if actions.len() > MAX_ACTIONS {
        return Err(SqsError::new(
            crate::sqs::errors::OVER_LIMIT,
            format!(
                "{} Actions were found, maximum allowed is {MAX_ACTIONS}.",
                actions.len()
            ),
        ));
    }
    if let Some(bad) = accounts
        .iter()
        .find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(SqsError::invalid_value(
            bad,
            "AWSAccountIds",
            "Account ids are 12 digits.",
        ));
    }
    for action in &actions {
        let bare = action.strip_prefix("SQS:").unwrap_or(action);
        if bare != "*" && !ACTIONS.contains(&bare) {
            return Err(SqsError::invalid_value(
                action,
                "ActionName",
                "Unknown action.",
            ));
        }
        if OWNER_ONLY.contains(&bare) {
            return Err(SqsError::invalid_value(
                format!("SQS:{bare}"),
                "ActionName",
                texts::OWNER_ONLY,
            ));
        }
    }
    ctx.authorize(Scope::QueuesManage, &name)?;
    let queue = ctx.engine().get_queue(ctx.account(), &name).await?;
    let arn = ctx.arn(&name);
    let principals: Vec<String> = accounts
        .iter()
        .map(|a| format!("arn:aws:iam::{a}:root"))
        .collect();
    let actions: Vec<String> = actions
        .iter()
        .map(|a| format!("SQS:{}", a.strip_prefix("SQS:").unwrap_or(a)))
        .collect();
    let statement = json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": one_or_many(principals)},
        "Action": one_or_many(actions),
        "Resource": arn,
    });
    ctx.engine()
        .update_policy(&queue, |current| {
            let mut policy = current
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .filter(Value::is_object)
                .unwrap_or_else(
                    || json!({"Version": POLICY_VERSION, "Id": format!("{arn}/SQSDefaultPolicy")}),
                );
            let mut statements = statements(&policy);
            if statements.iter().any(|s| s["Sid"] == label.as_str()) {
                return Err(SqsError::invalid_value(&label, "Label", "Already exists."));
            }
            statements.push(statement);
            policy["Statement"] = Value::Array(statements);
            Ok(Some(policy.to_string()))
        })
        .await?;
    Ok(Empty {})
}

/// Removes the statement labelled `Label`; removing the last one removes the policy.
pub async fn remove_permission(ctx: &Ctx<'_>, input: RemoveInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let label = required(input.label, "Label")?;
    ctx.authorize(Scope::QueuesManage, &name)?;
    let queue = ctx.engine().get_queue(ctx.account(), &name).await?;
    ctx.engine()
        .update_policy(&queue, |current| {
            let not_found = || SqsError::invalid_value(&label, "Label", "can't find label.");
            let mut policy: Value = current
                .and_then(|p| serde_json::from_str(p).ok())
                .ok_or_else(not_found)?;
            let mut statements = statements(&policy);
            let before = statements.len();
            statements.retain(|s| s["Sid"] != label.as_str());
            if statements.len() == before {
                return Err(not_found());
            }
            if statements.is_empty() {
                return Ok(None);
            }
            policy["Statement"] = Value::Array(statements);
            Ok(Some(policy.to_string()))
        })
        .await?;
    Ok(Empty {})
}

fn statements(policy: &Value) -> Vec<Value> {
    match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Object(_) => vec![policy["Statement"].clone()],
        _ => Vec::new(),
    }
}

/// A single value as itself, several as a list (as SQS writes policies).
fn one_or_many(mut values: Vec<String>) -> Value {
    match values.len() {
        1 => Value::String(values.remove(0)),
        _ => json!(values),
    }
}

fn check_label(label: String) -> SqsResult<String> {
    let valid = !label.is_empty()
        && label.len() <= 80
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(label)
    } else {
        Err(SqsError::invalid_value(
            &label,
            "Label",
            "Labels can only include alphanumeric characters, hyphens, or underscores, 1 to 80 in length.",
        ))
    }
}
