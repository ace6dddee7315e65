//! Questions about one delivery, for the SQS door: SQS treats a visibility change on a message
//! whose timeout already expired (and that was not received again) as a successful no-op.

use super::{Engine, model::AccountId};
use crate::{error::ApiError, store};

impl Engine {
    /// Whether `handle` names the latest delivery of a message still in `queue` (in flight or
    /// not). A malformed handle, or one of another queue, is `InvalidReceiptHandle`.
    pub async fn is_current_delivery(
        &self,
        account: AccountId,
        queue: &str,
        handle: &str,
    ) -> Result<bool, ApiError> {
        let queue = self.get_queue(account, queue).await?;
        let delivery = match self.0.handles.decode(handle) {
            Some(d) if d.queue_id == queue.id => d,
            _ => return Err(ApiError::InvalidReceiptHandle),
        };
        Ok(store::deliveries::is_current(&self.0.db, delivery).await?)
    }
}
