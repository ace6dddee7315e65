//! Questions about one delivery, for the SQS door: SQS treats a visibility change on a message
//! whose timeout already expired (and that was not received again) as a successful no-op, and
//! accepts an earlier receipt handle of a message still in a standard queue.

use super::{Engine, handle::Delivery};
use crate::domain::AccountId;
use crate::{domain::Error, store};

impl Engine {
    /// The handle of the latest delivery of the message `handle` names (an earlier delivery's
    /// handle included), or `None` when the message is no longer in `queue`.
    pub async fn latest_handle(
        &self,
        account: AccountId,
        queue: &str,
        handle: &str,
    ) -> Result<Option<String>, Error> {
        let queue = self.get_queue(account, queue).await?;
        let delivery = self.decode_for(queue.id, handle)?;
        // A FIFO handle expires with its visibility timeout (AWS): no earlier handle stands in
        // for the latest one there.
        if queue.settings.fifo.is_some() {
            return Ok(None);
        }
        let generation = store::deliveries::generation(&self.0.db, delivery).await?;
        Ok(generation.map(|generation| {
            self.0.handles.encode(Delivery {
                generation,
                ..delivery
            })
        }))
    }

    fn decode_for(&self, queue_id: i64, handle: &str) -> Result<Delivery, Error> {
        match self.0.handles.decode(handle) {
            Some(d) if d.queue_id == queue_id => Ok(d),
            _ => Err(Error::InvalidReceiptHandle),
        }
    }
}
