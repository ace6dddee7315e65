//! Redrive: tasks that move messages out of a dead-letter queue, and the background steps
//! (moving, retention sweeping) that tests call directly through `run_*_once`.

use uuid::Uuid;

use super::Engine;
use crate::{
    domain::{AccountId, Error, Invalid, MoveRate, MoveTask, QueueName},
    store,
};

/// Most messages one mover step moves per task.
const MOVE_BATCH: i64 = 1_000;
/// Most expired messages deleted per queue per sweep statement.
const SWEEP_BATCH: i64 = 1_000;

/// How to redrive.
#[derive(Debug, Clone, Default)]
pub struct RedriveOptions {
    /// Where to move; `None` returns each message to the queue it was dead-lettered from.
    pub destination: Option<QueueName>,
    /// Messages per second; `None` for as fast as possible.
    pub max_per_second: Option<MoveRate>,
}

impl Engine {
    /// Starts moving the messages now in `source` (oldest first). One task per source at a time.
    pub async fn start_redrive(
        &self,
        account: AccountId,
        source: &str,
        options: RedriveOptions,
    ) -> Result<MoveTask, Error> {
        let queue = self.get_queue(account, source).await?;
        let destination = match &options.destination {
            Some(name) => {
                let target = self.get_queue(account, name.as_str()).await?;
                if target.settings.fifo.is_some() != queue.settings.fifo.is_some() {
                    return Err(Invalid::RedriveQueueType.into());
                }
                Some(target.id)
            }
            None => None,
        };
        if destination == Some(queue.id) {
            return Err(Invalid::RedriveIntoSource.into());
        }
        let rate = options.max_per_second.map(MoveRate::get);
        let id = store::move_tasks::start(&self.0.db, account, queue.id, destination, rate)
            .await?
            .ok_or_else(|| Error::MoveTaskRunning(source.to_owned()))?;
        self.get_redrive(account, source, id).await
    }

    /// Move tasks of a source queue, newest first.
    pub async fn list_redrives(
        &self,
        account: AccountId,
        source: &str,
    ) -> Result<Vec<MoveTask>, Error> {
        let queue = self.get_queue(account, source).await?;
        Ok(store::move_tasks::list(&self.0.db, queue.id).await?)
    }

    /// One move task.
    pub async fn get_redrive(
        &self,
        account: AccountId,
        source: &str,
        id: Uuid,
    ) -> Result<MoveTask, Error> {
        let queue = self.get_queue(account, source).await?;
        store::move_tasks::find(&self.0.db, queue.id, id)
            .await?
            .ok_or_else(|| Error::TaskNotFound(id.to_string()))
    }

    /// Cancels a running move task; messages already moved stay moved.
    pub async fn cancel_redrive(
        &self,
        account: AccountId,
        source: &str,
        id: Uuid,
    ) -> Result<MoveTask, Error> {
        let task = self.get_redrive(account, source, id).await?;
        if !store::move_tasks::cancel(&self.0.db, task.source_queue_id, id).await? {
            return Err(Error::MoveTaskNotRunning {
                id: id.to_string(),
                status: task.status,
            });
        }
        self.get_redrive(account, source, id).await
    }

    /// Runs one step of every running move task: each moves up to its per-second rate (the
    /// background loop calls this once a second). Returns how many messages moved.
    pub async fn run_mover_once(&self) -> Result<i64, Error> {
        let mut moved = 0;
        for (task, rate) in store::move_tasks::running(&self.0.db).await? {
            let limit = rate.map_or(MOVE_BATCH, i64::from);
            if let Some(step) = store::move_tasks::step(&self.0.db, task, limit).await? {
                moved += step.moved_now;
                metrics::counter!("spool_messages_redriven_total")
                    .increment(u64::try_from(step.moved_now).unwrap_or_default());
                let n = usize::try_from(step.moved_now).unwrap_or(usize::MAX);
                for queue in step.destinations {
                    self.0.waker.wake(queue, n);
                }
            }
        }
        Ok(moved)
    }

    /// Deletes messages older than their queue's retention period (and any a send left in a
    /// queue deleted meanwhile), in small batches, until none are left. Returns how many were deleted.
    pub async fn run_sweeper_once(&self) -> Result<u64, Error> {
        let mut swept = 0;
        loop {
            let expired = store::messages::sweep_expired(&self.0.db, SWEEP_BATCH).await?;
            metrics::counter!("spool_messages_expired_total").increment(expired);
            let n =
                expired + store::messages::sweep_deleted_queues(&self.0.db, SWEEP_BATCH).await?;
            swept += n;
            if n == 0 {
                self.sweep_system_attributes().await?;
                while store::fifo::sweep(&self.0.db, SWEEP_BATCH).await? > 0 {}
                return Ok(swept);
            }
        }
    }
}
