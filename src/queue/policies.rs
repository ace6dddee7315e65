//! What SQS keeps per queue besides its settings: the access policy (stored, not enforced:
//! token scopes decide access), the redrive-allow policy, the once-a-minute purge rule, and
//! the queues that dead-letter into a queue.

use crate::domain::{AccountId, Queue, QueueId};
use std::collections::HashMap;

use super::Engine;
use crate::{domain::Error, store};

/// Seconds between two purges of one queue (SQS's rule).
pub const PURGE_INTERVAL_SECONDS: i32 = 60;

/// A queue's stored policies, as JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueuePolicies {
    pub policy: Option<String>,
    pub redrive_allow_policy: Option<String>,
}

impl Engine {
    /// The policies of a queue.
    pub async fn policies(&self, queue: &Queue) -> Result<QueuePolicies, Error> {
        let (policy, redrive_allow_policy) = store::policies::get(&self.0.db, queue.id).await?;
        Ok(QueuePolicies {
            policy,
            redrive_allow_policy,
        })
    }

    /// A queue's SQS encryption attributes (stored, not acted on).
    pub async fn encryption(&self, queue: &Queue) -> Result<store::encryption::Encryption, Error> {
        Ok(store::encryption::get(&self.0.db, queue.id).await?)
    }

    /// Overwrites a queue's SQS encryption attributes.
    pub async fn set_encryption(
        &self,
        queue: &Queue,
        encryption: &store::encryption::Encryption,
    ) -> Result<(), Error> {
        Ok(store::encryption::set(&self.0.db, queue.id, encryption).await?)
    }

    /// Sets or (with `None`) removes a queue's access policy.
    pub async fn set_policy(&self, queue: &Queue, policy: Option<&str>) -> Result<(), Error> {
        Ok(store::policies::set_policy(&self.0.db, queue.id, policy).await?)
    }

    /// Sets or (with `None`) removes a queue's redrive-allow policy.
    pub async fn set_redrive_allow_policy(
        &self,
        queue: &Queue,
        policy: Option<&str>,
    ) -> Result<(), Error> {
        Ok(store::policies::set_redrive_allow_policy(&self.0.db, queue.id, policy).await?)
    }

    /// Changes a queue's access policy with `change`, holding a lock on it meanwhile so that
    /// concurrent changes apply one after the other.
    pub async fn update_policy<E: From<Error>>(
        &self,
        queue: &Queue,
        change: impl FnOnce(Option<&str>) -> Result<Option<String>, E>,
    ) -> Result<(), E> {
        let mut tx = self.0.db.begin().await.map_err(Error::from)?;
        let current = store::policies::lock_policy(&mut tx, queue.id)
            .await
            .map_err(Error::from)?;
        let next = change(current.as_deref())?;
        store::policies::set_policy(&mut *tx, queue.id, next.as_deref())
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }

    /// Purges a queue unless it was purged less than [`PURGE_INTERVAL_SECONDS`] ago; `None`
    /// then. Returns how many messages were deleted.
    pub async fn purge_queue_once_a_minute(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<Option<u64>, Error> {
        let queue = self.get_queue(account, name).await?;
        if !store::policies::try_record_purge(&self.0.db, queue.id, PURGE_INTERVAL_SECONDS).await? {
            return Ok(None);
        }
        self.purge_queue(account, name).await.map(Some)
    }

    /// Names of the queues whose dead-letter queue is `queue`, sorted.
    pub async fn dead_letter_sources(&self, queue: &Queue) -> Result<Vec<String>, Error> {
        Ok(store::queues::dead_letter_sources(&self.0.db, queue.id).await?)
    }

    /// Names of queues by id (for naming a dead-lettered message's source queue).
    pub async fn queue_names(&self, ids: &[QueueId]) -> Result<HashMap<QueueId, String>, Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = store::policies::names(&self.0.db, ids).await?;
        Ok(rows.into_iter().collect())
    }
}
