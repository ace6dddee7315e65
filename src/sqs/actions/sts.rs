//! STS GetCallerIdentity on the same endpoint: SDKs and frameworks call it to learn the
//! account before they build ARNs.

use serde::Serialize;

use super::Ctx;
use crate::sqs::{errors::SqsResult, urls};

/// The one STS action Spool answers.
pub const GET_CALLER_IDENTITY: &str = "GetCallerIdentity";
/// The `X-Amz-Target` prefix of STS's AWS JSON protocol.
pub const TARGET_PREFIX: &str = "AWSSecurityTokenServiceV20110615.";

/// The output of GetCallerIdentity.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Identity {
    user_id: String,
    account: String,
    arn: String,
}

/// The caller's account id, and the token as an IAM user (`…:user/spool/<token id>`, user id
/// the token id); without a token (development mode) the account's root.
pub async fn get_caller_identity(ctx: &Ctx<'_>) -> SqsResult<Identity> {
    let account = urls::account_id(ctx.public_account());
    let (user_id, arn) = match ctx.caller.token_id {
        Some(token) => (
            token.to_string(),
            format!("arn:aws:iam::{account}:user/spool/{token}"),
        ),
        None => (account.clone(), format!("arn:aws:iam::{account}:root")),
    };
    Ok(Identity {
        user_id,
        account,
        arn,
    })
}
