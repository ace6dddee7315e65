//! Message bodies and message attributes: SQS validation rules and the MD5 checksums
//! clients verify (`sqs.md` §2.7 and §3.2); the types themselves are `domain::attributes`.
//!
//! `validate` checks bodies, names, data types and values; `digest` computes the MD5s;
//! `size` counts a message against the queue's maximum size.

mod digest;
mod size;
#[cfg(test)]
mod tests;
mod validate;

pub use digest::{md5_of_attributes, md5_of_body, to_hex};
pub use size::{message_size, validate_size};
pub use validate::{validate_attributes, validate_body};

pub use crate::domain::attributes::{AttributeValue, Attributes, InvalidMessage, NameProblem};

/// Most attributes one message may carry.
pub const MAX_ATTRIBUTES: usize = 10;
