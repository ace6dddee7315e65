//! API tokens: issuing, verifying (signature, key id, expiry, revocation), listing, revoking,
//! and the SigV4 credentials each token carries.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::{Rng, distr::Alphanumeric};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, Grant, keys::MasterKey};
use crate::{
    domain::{self, AccountId, Error, Invalid, Unauthenticated},
    store::{self, Db},
};

/// How long a verified token's state (revoked, expired) and the key ring are trusted before
/// they are read again: a revocation or key retirement reaches every node within this.
const CACHE_TTL: Duration = Duration::from_secs(2);

/// Whether requests must carry a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every request needs a valid token.
    Enforce,
    /// Requests without a token act as an admin of the default account (local development
    /// only); requests with a token are still verified.
    Development,
}

/// JWT claims of an API token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// Token id.
    jti: Uuid,
    /// Account id.
    acct: AccountId,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

/// A newly created token with its secrets (shown once).
#[derive(Debug)]
pub struct IssuedToken {
    pub record: domain::Token,
    pub jwt: String,
    pub secret_access_key: String,
}

#[derive(Default)]
struct KeyRing {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
    loaded: Option<Instant>,
}

/// Issues and verifies tokens; shared by all requests.
pub struct Auth {
    db: Db,
    master: MasterKey,
    mode: AuthMode,
    keys: tokio::sync::Mutex<KeyRing>,
    tokens: Mutex<HashMap<String, (Option<domain::Token>, Instant)>>,
    /// Bearer tokens verified within the last `CACHE_TTL`, by their full text: a client sends
    /// the same token on every request, and checking its HMAC and decoding its JSON each time
    /// cost a tenth of the server's CPU. A hit still honours the token's expiry; revocation
    /// and key retirement reach a cached token within the TTL, as they do the other caches.
    verified: Mutex<HashMap<String, Verified>>,
    /// SigV4 key pairs resolved within the last `CACHE_TTL`, by access key id: the secret is
    /// derived with an HMAC and the grants parsed from the token's scopes, on every SQS request
    /// otherwise. Same expiry and revocation rules as `verified`.
    key_pairs: Mutex<HashMap<String, (String, Verified)>>,
}

/// A bearer token that passed every check, and when.
#[derive(Debug, Clone)]
struct Verified {
    caller: Caller,
    expires: Option<i64>,
    at: Instant,
}

/// Most verified tokens remembered; the cache starts over when it is full.
const VERIFIED_CAPACITY: usize = 10_000;

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The database the tokens and accounts live in.
    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    /// Loads the key ring, creating the first signing key if there is none.
    pub async fn new(db: Db, master: MasterKey, mode: AuthMode) -> Result<Self, Error> {
        let auth = Self {
            db,
            master,
            mode,
            keys: tokio::sync::Mutex::default(),
            tokens: Mutex::default(),
            verified: Mutex::default(),
            key_pairs: Mutex::default(),
        };
        let keys = store::auth::signing_keys(&auth.db).await?;
        if keys.iter().all(|k| k.retired_at.is_some()) {
            auth.rotate_key().await?;
        }
        Ok(auth)
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Adds a new signing key that signs from now on; older keys keep verifying until retired.
    pub async fn rotate_key(&self) -> Result<String, Error> {
        let kid = format!("k{}", Utc::now().format("%Y%m%d%H%M%S%3f"));
        let salt: [u8; 32] = rand::random();
        store::auth::insert_signing_key(&self.db, &kid, &salt).await?;
        self.keys.lock().await.loaded = None;
        Ok(kid)
    }

    /// Retires a signing key: every token it signed stops working.
    pub async fn retire_key(&self, kid: &str) -> Result<bool, Error> {
        let retired = store::auth::retire_signing_key(&self.db, kid).await?;
        self.keys.lock().await.loaded = None;
        self.verified.lock().expect("verified tokens").clear();
        Ok(retired)
    }

    /// Issues a token for `account` with `grants`, optionally expiring after `ttl`.
    pub async fn issue(
        &self,
        account: AccountId,
        name: &str,
        grants: &[Grant],
        ttl: Option<Duration>,
    ) -> Result<IssuedToken, Error> {
        super::refuse_nul_in_name(name)?;
        // Ids above 12 digits are the SQS door's hidden region namespaces, not accounts.
        if !(0..=999_999_999_999).contains(&account) {
            return Err(Invalid::UnknownAccount(account).into());
        }
        let now = Utc::now();
        let expires_at = ttl
            .map(|ttl| chrono::Duration::from_std(ttl).map(|d| now + d))
            .transpose()
            .map_err(|_| Invalid::ExpiryTooFar)?;
        let record = domain::Token {
            id: Uuid::new_v4(),
            account_id: account,
            name: name.to_owned(),
            scopes: grants.iter().map(ToString::to_string).collect(),
            access_key_id: new_access_key_id(),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        let claims = Claims {
            jti: record.id,
            acct: account,
            iat: now.timestamp(),
            exp: expires_at.map(|t| t.timestamp()),
        };
        let (kid, key) = self.signing_key().await?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid);
        let jwt = jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| Error::Internal(anyhow::anyhow!("signing a token: {e}")))?;
        store::auth::insert_token(&self.db, &record)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    Error::from(Invalid::UnknownAccount(account))
                }
                other => other.into(),
            })?;
        let secret_access_key = self.master.sigv4_secret(&record.access_key_id);
        Ok(IssuedToken {
            record,
            jwt,
            secret_access_key,
        })
    }

    /// Authenticates a request from its `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, Error> {
        let Some(value) = authorization else {
            return match self.mode {
                AuthMode::Development => Ok(Caller::superuser(crate::domain::DEFAULT_ACCOUNT)),
                AuthMode::Enforce => Err(unauthorized(Unauthenticated::MissingToken)),
            };
        };
        let jwt = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized(Unauthenticated::NotBearer))?;
        if let Some(caller) = self.recently_verified(jwt) {
            return Ok(caller);
        }
        // Boxed: its database lookup's future is kilobytes, and it would otherwise be part of
        // every request's future (a waiting long poll's too) though the cache answers most.
        Box::pin(self.verify_and_remember(jwt)).await
    }

    /// Verifies a token not in the cache (signature, expiry, revocation) and caches its caller.
    async fn verify_and_remember(&self, jwt: &str) -> Result<Caller, Error> {
        let claims = self.verify(jwt).await?;
        let record = self.token(&format!("id:{}", claims.jti)).await?;
        let record = record
            .filter(|r| r.account_id == claims.acct)
            .ok_or_else(|| unauthorized(Unauthenticated::UnknownToken))?;
        let caller = caller_of(&record)?;
        let mut verified = self.verified.lock().expect("verified tokens");
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(
            jwt.to_owned(),
            Verified {
                caller: caller.clone(),
                expires: claims.exp,
                at: Instant::now(),
            },
        );
        Ok(caller)
    }

    /// The caller of a token verified less than `CACHE_TTL` ago that has not expired since.
    fn recently_verified(&self, jwt: &str) -> Option<Caller> {
        let verified = self.verified.lock().expect("verified tokens");
        let entry = verified.get(jwt)?;
        let live = entry.at.elapsed() < CACHE_TTL
            && entry.expires.is_none_or(|t| t > Utc::now().timestamp());
        live.then(|| entry.caller.clone())
    }

    /// The SigV4 secret and caller of an access key id, if it names a usable token.
    pub async fn sigv4_credentials(
        &self,
        access_key_id: &str,
    ) -> Result<Option<(String, Caller)>, Error> {
        if let Some(found) = self.recent_key_pair(access_key_id) {
            return Ok(Some(found));
        }
        let Some(record) = self.token(&format!("ak:{access_key_id}")).await? else {
            return Ok(None);
        };
        let caller = caller_of(&record)?;
        let secret = self.master.sigv4_secret(access_key_id);
        let mut pairs = self.key_pairs.lock().expect("key pairs");
        if pairs.len() >= VERIFIED_CAPACITY {
            pairs.clear();
        }
        let verified = Verified {
            caller: caller.clone(),
            expires: record.expires_at.map(|t| t.timestamp()),
            at: Instant::now(),
        };
        pairs.insert(access_key_id.to_owned(), (secret.clone(), verified));
        Ok(Some((secret, caller)))
    }

    /// A key pair resolved less than `CACHE_TTL` ago whose token has not expired since.
    fn recent_key_pair(&self, access_key_id: &str) -> Option<(String, Caller)> {
        let pairs = self.key_pairs.lock().expect("key pairs");
        let (secret, entry) = pairs.get(access_key_id)?;
        let live = entry.at.elapsed() < CACHE_TTL
            && entry.expires.is_none_or(|t| t > Utc::now().timestamp());
        live.then(|| (secret.clone(), entry.caller.clone()))
    }

    /// Tokens of an account (no secrets).
    pub async fn list(&self, account: AccountId) -> Result<Vec<domain::Token>, Error> {
        Ok(store::auth::list_tokens(&self.db, account).await?)
    }

    /// Every account's tokens (no secrets), for operators.
    pub async fn list_all(&self) -> Result<Vec<domain::Token>, Error> {
        Ok(store::auth::list_all_tokens(&self.db).await?)
    }

    /// Any account's token by id (token ids are global), for operators.
    pub async fn find(&self, id: Uuid) -> Result<domain::Token, Error> {
        store::auth::find_token(&self.db, id)
            .await?
            .ok_or_else(|| Error::TokenNotFound(id.to_string()))
    }

    /// Revokes a token of `account`; this node forgets it at once, others within seconds.
    pub async fn revoke(&self, account: AccountId, id: Uuid) -> Result<(), Error> {
        let token = store::auth::find_token(&self.db, id)
            .await?
            .filter(|t| t.account_id == account)
            .ok_or_else(|| Error::TokenNotFound(id.to_string()))?;
        if !store::auth::revoke_token(&self.db, account, id).await? {
            return Err(Error::TokenRevoked(id.to_string()));
        }
        let mut cache = self.tokens.lock().expect("token cache");
        cache.remove(&format!("id:{id}"));
        cache.remove(&format!("ak:{}", token.access_key_id));
        self.verified
            .lock()
            .expect("verified tokens")
            .retain(|_, v| v.caller.token_id != Some(id));
        self.key_pairs
            .lock()
            .expect("key pairs")
            .retain(|_, (_, v)| v.caller.token_id != Some(id));
        Ok(())
    }

    /// Checks the signature, key id and expiry of a JWT.
    async fn verify(&self, jwt: &str) -> Result<Claims, Error> {
        let header = jsonwebtoken::decode_header(jwt)
            .map_err(|_| unauthorized(Unauthenticated::MalformedToken))?;
        let kid = header
            .kid
            .ok_or_else(|| unauthorized(Unauthenticated::NoKeyId))?;
        let key = self
            .verifying_key(&kid)
            .await?
            .ok_or_else(|| unauthorized(Unauthenticated::UnknownKey))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(jwt, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    unauthorized(Unauthenticated::Expired)
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    unauthorized(Unauthenticated::BadSignature)
                }
                _ => unauthorized(Unauthenticated::MalformedToken),
            })
    }

    /// A token's record through the short-lived cache; `None` if missing, revoked or expired.
    async fn token(&self, key: &str) -> Result<Option<domain::Token>, Error> {
        let cached = self.tokens.lock().expect("token cache").get(key).cloned();
        let record = match cached {
            Some((record, at)) if at.elapsed() < CACHE_TTL => record,
            _ => {
                // Boxed, as a cache miss is rare: the lookups' futures are kilobytes.
                let record = match key.split_once(':') {
                    Some(("id", id)) => match id.parse() {
                        Ok(id) => Box::pin(store::auth::find_token(&self.db, id)).await?,
                        Err(_) => None,
                    },
                    Some(("ak", ak)) => {
                        Box::pin(store::auth::find_token_by_access_key(&self.db, ak)).await?
                    }
                    _ => None,
                };
                let mut cache = self.tokens.lock().expect("token cache");
                if cache.len() > 100_000 {
                    cache.clear();
                }
                cache.insert(key.to_owned(), (record.clone(), Instant::now()));
                record
            }
        };
        let now = Utc::now();
        Ok(record.filter(|r| r.revoked_at.is_none() && r.expires_at.is_none_or(|t| t > now)))
    }

    async fn signing_key(&self) -> Result<(String, EncodingKey), Error> {
        let mut ring = self.keys.lock().await;
        self.refresh(&mut ring, true).await?;
        ring.signing
            .clone()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no unretired signing key")))
    }

    async fn verifying_key(&self, kid: &str) -> Result<Option<DecodingKey>, Error> {
        let mut ring = self.keys.lock().await;
        self.refresh(&mut ring, false).await?;
        Ok(ring.verifying.get(kid).cloned())
    }

    /// Reloads the key ring when it is older than the cache TTL (or `force`d after a change).
    async fn refresh(&self, ring: &mut KeyRing, want_signing: bool) -> Result<(), Error> {
        let fresh = ring.loaded.is_some_and(|t| t.elapsed() < CACHE_TTL);
        if fresh && (!want_signing || ring.signing.is_some()) {
            return Ok(());
        }
        let rows = store::auth::signing_keys(&self.db).await?;
        let live: Vec<_> = rows.iter().filter(|k| k.retired_at.is_none()).collect();
        ring.verifying = live
            .iter()
            .map(|k| {
                (
                    k.kid.clone(),
                    DecodingKey::from_secret(&self.master.jwt_key(&k.salt)),
                )
            })
            .collect();
        ring.signing = live.first().map(|k| {
            (
                k.kid.clone(),
                EncodingKey::from_secret(&self.master.jwt_key(&k.salt)),
            )
        });
        ring.loaded = Some(Instant::now());
        Ok(())
    }
}

fn caller_of(record: &domain::Token) -> Result<Caller, Error> {
    let grants = record
        .scopes
        .iter()
        .map(|s| s.parse::<Grant>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored scope is invalid: {e}")))?;
    Ok(Caller {
        account: record.account_id,
        token_id: Some(record.id),
        grants,
    })
}

/// A 401, counted by reason (never with the token itself).
pub fn unauthorized(why: Unauthenticated) -> Error {
    metrics::counter!("spool_auth_failures_total", "reason" => why.reason()).increment(1);
    Error::Unauthenticated(why)
}

/// `SPL` and 17 upper-case letters and digits, shaped like an AWS access key id.
fn new_access_key_id() -> String {
    let suffix: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .filter(u8::is_ascii_alphanumeric)
        .take(17)
        .map(|b| char::from(b).to_ascii_uppercase())
        .collect();
    format!("SPL{suffix}")
}
