//! Regions as namespaces: an account's queues in a region other than the default region live
//! under a hidden namespace of the account (see the `region_namespaces` migration), so the
//! engine's (account, name) is the SQS door's (account, region, name).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::errors::{SqsError, SqsResult};
use crate::{app::AppState, domain::AccountId};

/// Region namespaces by (account, region), shared by the clones of a config.
#[derive(Debug, Clone, Default)]
pub struct Namespaces(Arc<Mutex<HashMap<(AccountId, String), AccountId>>>);

/// The engine account of `account`'s queues in `region`: the account itself in the default
/// region, its namespace for the region otherwise (made on first use).
pub async fn namespace(state: &AppState, account: AccountId, region: &str) -> SqsResult<AccountId> {
    if region == state.sqs.default_region() {
        return Ok(account);
    }
    let valid = region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(SqsError::invalid(format!(
            "The region {region} in the credential scope is not a valid region name."
        )));
    }
    let key = (account, region.to_owned());
    if let Some(found) = state.sqs.namespaces.0.lock().expect("namespaces").get(&key) {
        return Ok(*found);
    }
    // Boxed, as a cache miss is rare: the lookup's future is kilobytes.
    let found = Box::pin(state.engine.region_namespace(account, region)).await?;
    state
        .sqs
        .namespaces
        .0
        .lock()
        .expect("namespaces")
        .insert(key, found);
    Ok(found)
}
