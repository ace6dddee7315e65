//! Who is calling the SQS door: SigV4 credentials mapped to a [`Caller`].
//!
//! In [`SqsAuth::Development`] any well-formed signature is accepted, without checking it, and
//! the request acts as the default account with every scope. In [`SqsAuth::Verify`] the access
//! key id is looked up (see [`credentials`]) and the signature and its time are verified.

use std::sync::Arc;

use chrono::Utc;

use super::{
    errors::{INVALID_CLIENT_TOKEN_ID, SqsError, SqsResult},
    sigv4::{self, Signature},
};
use crate::{
    app::AppState,
    auth::Caller,
    domain::{DEFAULT_ACCOUNT, Error},
};

/// How the SQS door authenticates requests.
#[derive(Debug, Clone, Default)]
pub enum SqsAuth {
    /// Any access key and secret work; signatures are parsed but not verified. For local use.
    #[default]
    Development,
    /// Signatures are verified against the secret of the access key.
    Verify(CredentialSource),
}

/// Where [`SqsAuth::Verify`] looks up access keys.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// The key pairs of API tokens (production).
    Tokens,
    /// A fixed list (tests, or a single-tenant deployment).
    Static(Arc<[StaticCredential]>),
}

/// One access key with its secret and the caller it authenticates.
#[derive(Debug, Clone)]
pub struct StaticCredential {
    pub access_key_id: String,
    pub secret: String,
    pub caller: Caller,
}

/// The secret of `access_key_id` and the caller it stands for, or `None` for an unknown key.
pub async fn credentials(
    state: &AppState,
    access_key_id: &str,
) -> Result<Option<(String, Caller)>, Error> {
    Ok(match &state.sqs.auth {
        SqsAuth::Development => Some((String::new(), Caller::superuser(DEFAULT_ACCOUNT))),
        SqsAuth::Verify(CredentialSource::Tokens) => {
            state.auth.sigv4_credentials(access_key_id).await?
        }
        SqsAuth::Verify(CredentialSource::Static(list)) => list
            .iter()
            .find(|c| c.access_key_id == access_key_id)
            .map(|c| (c.secret.clone(), c.caller.clone())),
    })
}

/// Authenticates a request: parses its signature (in every mode), then in verify mode checks
/// the access key, the request time and the signature. Returns the caller and the region the
/// client signed for.
pub async fn authenticate(
    state: &AppState,
    request: &sigv4::Request<'_>,
) -> SqsResult<(Caller, String)> {
    let signature: Signature = sigv4::parse(request)?;
    let found = credentials(state, &signature.access_key_id).await?;
    let Some((secret, caller)) = found else {
        return Err(SqsError::new(
            INVALID_CLIENT_TOKEN_ID,
            "The security token included in the request is invalid.",
        ));
    };
    if let SqsAuth::Verify(_) = state.sqs.auth {
        sigv4::check_time(&signature, Utc::now())?;
        state
            .sqs
            .signing_keys
            .verify(&signature, request, &secret)?;
    }
    Ok((caller, signature.region))
}
