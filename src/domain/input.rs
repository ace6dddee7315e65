//! Validated numeric inputs. Each door builds these once from what the client sent; the
//! engine takes them as they are, so every range is checked in exactly one place: here.

use std::fmt;

/// An integer input outside its inclusive range. `Display` is the native API's message;
/// the SQS door words it as SQS does from the same fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` must be between {min} and {max}, got {value}")]
pub struct OutOfRange {
    /// The input's name on the native API (`visibility_timeout`, `max_messages`, …).
    pub name: &'static str,
    pub value: i64,
    pub min: i64,
    pub max: i64,
}

/// Checks `value` against inclusive `bounds`, naming the input in the error.
pub fn check_range(
    name: &'static str,
    value: i64,
    (min, max): (i64, i64),
) -> Result<i64, OutOfRange> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(OutOfRange {
            name,
            value,
            min,
            max,
        })
    }
}

/// Declares a bounded integer input: `new` checks the range, `get` reads it back.
macro_rules! bounded {
    ($(#[$doc:meta])* $type:ident, $name:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $type(i32);

        impl $type {
            pub const MIN: i64 = $min;
            pub const MAX: i64 = $max;
            /// The input's name on the native API.
            pub const NAME: &'static str = $name;

            pub fn new(value: i64) -> Result<Self, OutOfRange> {
                Self::named(Self::NAME, value)
            }

            /// Checks `value`, naming the input `name` in the error (the same range under
            /// another field name, e.g. a queue's `receive_wait_seconds`).
            pub fn named(name: &'static str, value: i64) -> Result<Self, OutOfRange> {
                let value = check_range(name, value, (Self::MIN, Self::MAX))?;
                Ok(Self(i32::try_from(value).expect("bounds fit in i32")))
            }

            /// A value read back from the database, where only checked values are written.
            pub const fn from_trusted(value: i32) -> Self {
                Self(value)
            }

            pub const fn get(self) -> i32 {
                self.0
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

bounded!(
    /// Seconds a received message stays hidden from other receivers.
    VisibilityTimeout,
    "visibility_timeout",
    0,
    43_200
);
bounded!(
    /// Seconds before a sent message becomes visible.
    DelaySeconds,
    "delay_seconds",
    0,
    900
);
bounded!(
    /// Seconds a receive waits for a first message (long polling).
    WaitSeconds,
    "wait_seconds",
    0,
    20
);
bounded!(
    /// Messages one receive returns at most (the SQS protocol allows only 10).
    MaxMessages,
    "max_messages",
    1,
    100
);
bounded!(
    /// Seconds a queue keeps a message.
    RetentionSeconds,
    "retention_seconds",
    60,
    1_209_600
);
bounded!(
    /// Largest message (body and attributes) a queue accepts, in bytes.
    MaxMessageBytes,
    "max_message_bytes",
    1_024,
    1_048_576
);
bounded!(
    /// Receives after which a message moves to the dead-letter queue.
    MaxReceiveCount,
    "dead_letter.max_receive_count",
    1,
    1_000
);
bounded!(
    /// Messages one peek returns at most.
    PeekLimit,
    "limit",
    1,
    1_000
);
bounded!(
    /// Messages a move task moves per second at most.
    MoveRate,
    "max_per_second",
    1,
    500
);

/// Largest number of messages a queue may hold, when limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxDepth(i64);

impl MaxDepth {
    pub fn new(value: i64) -> Result<Self, OutOfRange> {
        check_range("max_depth", value, (1, i64::MAX)).map(Self)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive() {
        assert!(DelaySeconds::new(0).is_ok());
        assert_eq!(DelaySeconds::new(900).map(DelaySeconds::get), Ok(900));
        assert!(DelaySeconds::new(901).is_err());
        assert!(RetentionSeconds::new(59).is_err());
        assert!(MaxMessages::new(0).is_err());
        assert!(MaxMessages::new(i64::MAX).is_err());
        assert!(MaxDepth::new(0).is_err());
    }

    #[test]
    fn errors_name_the_input() {
        let error = VisibilityTimeout::new(43_201).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`visibility_timeout` must be between 0 and 43200, got 43201"
        );
        let error = WaitSeconds::named("receive_wait_seconds", -1).unwrap_err();
        assert_eq!(error.name, "receive_wait_seconds");
    }
}
