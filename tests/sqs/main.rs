//! Integration tests of the SQS door with the official AWS SDK for Rust (and raw HTTP where the
//! SDK cannot show the wire): the real router over HTTP, a fresh database each.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod accounts;
mod batches;
mod client;
mod dead_letter;
mod docs;
mod errors;
mod fifo;
mod messages;
mod metrics;
mod parity;
#[path = "../api/proxy.rs"]
mod proxy;
mod query;
mod queue_extras;
mod queues;
mod reliability;
mod sigv4;
mod urls;
