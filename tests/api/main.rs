//! Integration tests of the native API: the real router over HTTP, a fresh database each.

mod auth;
mod bad_input;
mod client;
mod dashboard;
mod database_faults;
mod dead_letter;
mod fair;
mod fifo;
mod fifo_cost;
mod fifo_flush;
mod fifo_nodes;
mod fifo_races;
mod flow;
mod helpers;
mod messages;
mod metrics;
mod openapi;
mod plans;
mod pool;
mod proxy;
mod queues;
mod redrive;
