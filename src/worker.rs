//! Background loops: retention sweeping and redrive moving. Each loop calls an engine
//! `run_*_once` step that tests call directly.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::queue::Engine;

/// How often expired messages are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// How often move tasks take a step (their rates are per second).
const MOVE_EVERY: Duration = Duration::from_secs(1);

/// Spawns the background loops; they stop when `shutdown` is cancelled.
pub fn spawn(engine: &Engine, shutdown: &CancellationToken) {
    let sweeper = engine.clone();
    tokio::spawn(every(SWEEP_EVERY, shutdown.clone(), move || {
        let engine = sweeper.clone();
        async move {
            let swept = engine.run_sweeper_once().await?;
            if swept > 0 {
                tracing::info!(swept, "deleted messages past their retention period");
            }
            Ok(())
        }
    }));
    let mover = engine.clone();
    tokio::spawn(every(MOVE_EVERY, shutdown.clone(), move || {
        let engine = mover.clone();
        async move { engine.run_mover_once().await.map(drop) }
    }));
}

async fn every<F, Fut>(period: Duration, shutdown: CancellationToken, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), crate::domain::Error>>,
{
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(error) = step().await {
            tracing::warn!(%error, "background step failed");
        }
    }
}
