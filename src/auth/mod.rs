//! Who is calling and what they may do: accounts, API tokens (JWT), scopes, SigV4 credentials.

pub mod scope;

pub use scope::{Grant, Scope};

use uuid::Uuid;

use crate::{error::ApiError, queue::model::AccountId};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: AccountId,
    /// The API token used, if any (none in development mode without a token).
    pub token_id: Option<Uuid>,
    pub grants: Vec<Grant>,
}

impl Caller {
    /// A caller allowed everything on `account` (the CLI, development mode).
    pub fn superuser(account: AccountId) -> Self {
        Self {
            account,
            token_id: None,
            grants: vec![Grant::all(Scope::Admin)],
        }
    }

    /// Whether any grant covers `queue` (for reading a queue's settings and listing it).
    pub fn can_see(&self, queue: &str) -> bool {
        self.grants
            .iter()
            .any(|g| Scope::ALL.iter().any(|s| g.allows(*s, Some(queue))))
    }

    /// Checks that the caller may see `queue` at all.
    pub fn authorize_any(&self, queue: &str) -> Result<(), ApiError> {
        if self.can_see(queue) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this token grants nothing on queue `{queue}`"
            )))
        }
    }

    /// Checks that the caller may act with `scope` on `queue` (or on no queue in particular).
    pub fn authorize(&self, scope: Scope, queue: Option<&str>) -> Result<(), ApiError> {
        if self.grants.iter().any(|g| g.allows(scope, queue)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(match queue {
                Some(q) => format!(
                    "this token lacks the `{}` scope for queue `{q}`",
                    scope.as_str()
                ),
                None => format!("this token lacks the `{}` scope", scope.as_str()),
            }))
        }
    }
}
