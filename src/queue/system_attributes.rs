//! Message system attributes (SQS `AWSTraceHeader`): set by the sender and committed with the
//! message (see `writes`), kept by message id so they follow a message through dead-letter
//! moves and redrives.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Engine, attributes::Attributes};
use crate::{domain::Error, store};

/// Rows older than the longest retention period (14 days) plus a margin belong to messages that
/// are gone.
const MAX_AGE_SECONDS: i32 = 1_209_600 + 3_600;

impl Engine {
    /// The system attributes of those of `ids` that have any.
    pub async fn system_attributes(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Attributes>, Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = store::system_attributes::find(&self.0.db, ids).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, json)| Some((id, serde_json::from_str(&json).ok()?)))
            .collect())
    }

    /// Deletes system attributes of messages that must have expired. Returns how many.
    pub async fn sweep_system_attributes(&self) -> Result<u64, Error> {
        Ok(store::system_attributes::sweep(&self.0.db, MAX_AGE_SECONDS).await?)
    }
}
