//! FIFO deletes and visibility changes are group-committed: concurrent requests of several
//! queues and durabilities share a flush, and each request still gets its own entries'
//! outcomes (done, expired handle, gone message) and leaves its groups right.

use futures::future::join_all;
use spool::{
    domain::{Durability, Error, MaxMessages, QueueName, ReceivedMessage},
    queue::{
        Engine, SettingsPatch,
        messages::{ReceiveOptions, SendEntry},
    },
};

use crate::helpers::TestApp;

async fn receive(engine: &Engine, queue: &str, max: i64) -> Vec<ReceivedMessage> {
    let options = ReceiveOptions {
        max_messages: Some(MaxMessages::new(max).unwrap()),
        ..ReceiveOptions::default()
    };
    engine.receive(0, queue, options).await.unwrap()
}

fn bodies(messages: &[ReceivedMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

/// The handles of `group`'s messages in `messages`, in order.
fn of(messages: &[ReceivedMessage], group: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.fifo.as_ref().unwrap().group_id == group)
        .map(|m| m.receipt_handle.clone())
        .collect()
}

/// Brings `queue` to: g1's three messages in flight, g2's first deleted and the rest in
/// flight, g3 received twice (its first handles stale); returns (g1, g2, stale g3) handles.
async fn prepare(engine: &Engine, queue: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let entries = ["g1", "g2", "g3"]
        .iter()
        .flat_map(|g| {
            (1..=3).map(move |i| SendEntry {
                body: format!("{g}m{i}"),
                group_id: Some((*g).to_owned()),
                dedup_id: Some(format!("{g}-{i}")),
                ..SendEntry::default()
            })
        })
        .collect();
    for sent in engine.send(0, queue, entries).await.unwrap() {
        sent.unwrap();
    }
    let first = receive(engine, queue, 10).await;
    assert_eq!(first.len(), 9, "{:?}", bodies(&first));
    let stale = of(&first, "g3");
    let release: Vec<(String, i64)> = stale.iter().map(|h| (h.clone(), 0)).collect();
    for r in engine.change_visibility(0, queue, &release).await.unwrap() {
        r.unwrap();
    }
    let again = receive(engine, queue, 10).await;
    assert_eq!(bodies(&again), ["g3m1", "g3m2", "g3m3"]);
    let g2 = of(&first, "g2");
    let deleted = engine.delete_messages(0, queue, &g2[..1]).await.unwrap();
    assert!(matches!(deleted[..], [Ok(true)]));
    (of(&first, "g1"), g2, stale)
}

#[tokio::test]
async fn concurrent_fifo_deletes_and_visibility_changes_get_their_own_outcomes() {
    let app = TestApp::spawn().await;
    let engine = &app.engine;
    let queues = ["a.fifo", "b.fifo", "c.fifo", "d.fifo"];
    for (i, name) in queues.iter().enumerate() {
        let patch = SettingsPatch {
            fifo: Some(true),
            durability: Some(if i % 2 == 0 {
                Durability::Durable
            } else {
                Durability::Relaxed
            }),
            ..SettingsPatch::default()
        };
        engine
            .create_queue(0, QueueName::parse(*name).unwrap(), patch)
            .await
            .unwrap();
    }
    let mut prepared = Vec::new();
    for name in queues {
        prepared.push(prepare(engine, name).await);
    }
    // Every queue's delete and visibility change at once, so flushes mix queues, requests
    // and outcomes.
    let results = join_all(queues.iter().zip(&prepared).map(|(name, (g1, g2, stale))| {
        let deletes = [g1.clone(), vec![stale[0].clone(), g2[0].clone()]].concat();
        let changes = vec![
            (g2[1].clone(), 0),
            (g2[2].clone(), 0),
            (stale[1].clone(), 30),
            (g2[0].clone(), 30),
        ];
        async move {
            let (deleted, changed) = tokio::join!(
                engine.delete_messages(0, name, &deletes),
                engine.change_visibility(0, name, &changes),
            );
            (deleted.unwrap(), changed.unwrap())
        }
    }))
    .await;
    for (name, (deleted, changed)) in queues.iter().zip(results) {
        assert!(
            matches!(
                deleted[..],
                [
                    Ok(true),
                    Ok(true),
                    Ok(true),
                    Err(Error::ReceiptHandleExpired),
                    Ok(false)
                ]
            ),
            "{name}: {deleted:?}"
        );
        assert!(
            matches!(
                changed[..],
                [
                    Ok(()),
                    Ok(()),
                    Err(Error::ReceiptHandleExpired),
                    Err(Error::MessageNotInFlight)
                ]
            ),
            "{name}: {changed:?}"
        );
        // g1 is gone, g3 still in flight, g2 released at once with its head first.
        let next = receive(engine, name, 10).await;
        assert_eq!(bodies(&next), ["g2m2", "g2m3"], "{name}");
    }
}
