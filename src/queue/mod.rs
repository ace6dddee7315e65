//! The queue engine: domain types, validation and semantics, shared by both front doors.
//! Nothing here knows HTTP; all SQL is in `store`.

pub mod attributes;
pub mod claims;
pub mod cursor;
pub mod engine;
pub mod fifo;
pub mod fifo_claims;
pub mod fifo_writes;
pub mod flow;
pub mod handle;
pub mod messages;
pub mod redrive;
pub mod stats;
pub mod writes;

// What the SQS door needs beyond the native API: tags, policies, system attributes.
pub mod deliveries;
pub mod policies;
pub mod system_attributes;
pub mod tags;

pub use crate::domain::{Error, Result};
pub use engine::{Engine, EngineOptions, SettingsPatch};
