//! Who is calling and what they may do: accounts, API tokens (JWT), scopes, SigV4 credentials.

pub mod keys;
pub mod scope;
pub mod tokens;

pub use keys::MasterKey;
pub use scope::{Grant, Scope};
pub use tokens::{Auth, AuthMode, IssuedToken, unauthorized};

use uuid::Uuid;

use crate::domain::{AccountId, Error, Invalid};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: AccountId,
    /// The API token used, if any (none in development mode without a token).
    pub token_id: Option<Uuid>,
    pub grants: Vec<Grant>,
}

impl Caller {
    /// Names the caller's account on the current request's span (and so on its log lines).
    pub fn record(&self) {
        tracing::Span::current().record("account", format_args!("{:012}", self.account));
    }

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
    pub fn authorize_any(&self, queue: &str) -> Result<(), Error> {
        if self.can_see(queue) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                queue: Some(queue.to_owned()),
                scope: None,
            })
        }
    }

    /// Checks that the caller may act with `scope` on `queue` (or on no queue in particular).
    pub fn authorize(&self, scope: Scope, queue: Option<&str>) -> Result<(), Error> {
        if self.grants.iter().any(|g| g.allows(scope, queue)) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                queue: queue.map(str::to_owned),
                scope: Some(scope.as_str()),
            })
        }
    }
}

/// Account and token names are text PostgreSQL stores; it cannot store NUL (U+0000).
pub(crate) fn refuse_nul_in_name(name: &str) -> Result<(), Error> {
    if name.contains('\0') {
        return Err(Invalid::NameHasNul.into());
    }
    Ok(())
}

/// Creates an account with the given 12-digit id, or a random unused one.
pub async fn create_account(
    db: &crate::store::Db,
    name: &str,
    id: Option<AccountId>,
) -> Result<crate::domain::Account, Error> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Invalid::NameLength.into());
    }
    refuse_nul_in_name(name)?;
    if let Some(id) = id {
        if !(1..=999_999_999_999).contains(&id) {
            return Err(Invalid::AccountId.into());
        }
        return match crate::store::auth::insert_account(db, id, name).await? {
            Some(row) => Ok(row),
            None if crate::store::auth::account_name_taken(db, name).await? => {
                Err(Error::AccountExists(name.to_owned()))
            }
            None => Err(Error::AccountIdInUse(id)),
        };
    }
    for _ in 0..5 {
        let id = rand::random_range(100_000_000_000..=999_999_999_999_i64);
        if let Some(row) = crate::store::auth::insert_account(db, id, name).await? {
            return Ok(row);
        }
        if crate::store::auth::account_name_taken(db, name).await? {
            return Err(Error::AccountExists(name.to_owned()));
        }
    }
    Err(Error::Internal(anyhow::anyhow!(
        "no free account id after 5 tries"
    )))
}

impl Auth {
    /// Creates an account with a random 12-digit id (see [`create_account`]).
    pub async fn create_account(&self, name: &str) -> Result<crate::domain::Account, Error> {
        create_account(self.db(), name, None).await
    }

    /// Every account, by id.
    pub async fn list_accounts(&self) -> Result<Vec<crate::domain::Account>, Error> {
        Ok(crate::store::auth::list_accounts(self.db()).await?)
    }
}
