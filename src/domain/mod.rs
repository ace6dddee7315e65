//! The domain: ids, names, settings, messages, validated inputs and the engine's error, as
//! every layer sees them. The bottom layer: it imports nothing else from the crate (but the
//! statement-error counter of `telemetry`), and knows neither HTTP nor SQL statements.

pub mod attributes;
pub mod error;
pub mod input;
pub mod model;

pub use attributes::{AttributeValue, Attributes, InvalidMessage, NameProblem};
pub use error::{Error, Invalid, Unauthenticated};
pub use input::{
    DelaySeconds, MaxDepth, MaxMessageBytes, MaxMessages, MaxReceiveCount, MoveRate, OutOfRange,
    PeekLimit, RetentionSeconds, VisibilityTimeout, WaitSeconds,
};
pub use model::*;

/// Shorthand for engine results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
