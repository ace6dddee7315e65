//! Scopes and grants: what a token may do, optionally limited to queue-name patterns.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything, including accounts and tokens.
    Admin,
    /// Create, update, delete, purge queues; start and cancel redrives.
    QueuesManage,
    /// Send messages.
    MessagesSend,
    /// Receive, delete, change visibility, peek.
    MessagesReceive,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Admin,
        Scope::QueuesManage,
        Scope::MessagesSend,
        Scope::MessagesReceive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::QueuesManage => "queues:manage",
            Scope::MessagesSend => "messages:send",
            Scope::MessagesReceive => "messages:receive",
        }
    }
}

/// A scope, optionally limited to queues whose names match a pattern (`*` matches any run of
/// characters), written `scope` or `scope:pattern`, e.g. `messages:send:orders-*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Grant {
    pub scope: Scope,
    pub pattern: Option<String>,
}

impl Grant {
    pub fn all(scope: Scope) -> Self {
        Self {
            scope,
            pattern: None,
        }
    }

    /// Whether this grant permits `scope` on `queue`. Admin permits everything; a pattern
    /// only permits actions on a named queue that matches it.
    pub fn allows(&self, scope: Scope, queue: Option<&str>) -> bool {
        if self.scope == Scope::Admin {
            return true;
        }
        if self.scope != scope {
            return false;
        }
        match (&self.pattern, queue) {
            (None, _) => true,
            (Some(pattern), Some(queue)) => glob_match(pattern, queue),
            (Some(_), None) => false,
        }
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl FromStr for Grant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scope, pattern) = Scope::ALL
            .iter()
            .find_map(|scope| {
                let rest = s.strip_prefix(scope.as_str())?;
                match rest.strip_prefix(':') {
                    Some(p) if !rest.is_empty() => Some((*scope, Some(p))),
                    _ if rest.is_empty() => Some((*scope, None)),
                    _ => None,
                }
            })
            .ok_or_else(|| {
                format!(
                    "unknown scope `{s}`: use admin, queues:manage, messages:send or \
                     messages:receive, optionally followed by `:<queue-pattern>`"
                )
            })?;
        if let Some(p) = pattern {
            let valid = !p.is_empty()
                && p.len() <= 80
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b));
            if !valid || scope == Scope::Admin {
                return Err(format!("invalid queue pattern in scope `{s}`"));
            }
        }
        Ok(Grant {
            scope,
            pattern: pattern.map(str::to_owned),
        })
    }
}

impl TryFrom<String> for Grant {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Grant> for String {
    fn from(g: Grant) -> Self {
        g.to_string()
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pattern {
            Some(p) => write!(f, "{}:{p}", self.scope.as_str()),
            None => f.write_str(self.scope.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_grants() {
        for s in [
            "admin",
            "queues:manage",
            "messages:send:orders-*",
            "messages:receive:a*b",
        ] {
            assert_eq!(s.parse::<Grant>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "root",
            "admin:x",
            "messages:send:",
            "messages:sendx",
            "messages:send:a b",
        ] {
            assert!(bad.parse::<Grant>().is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_limit_queues() {
        let g: Grant = "messages:send:orders-*".parse().unwrap();
        assert!(g.allows(Scope::MessagesSend, Some("orders-eu")));
        assert!(g.allows(Scope::MessagesSend, Some("orders-")));
        assert!(!g.allows(Scope::MessagesSend, Some("billing")));
        assert!(!g.allows(Scope::MessagesReceive, Some("orders-eu")));
        assert!(!g.allows(Scope::MessagesSend, None));
        let admin = Grant::all(Scope::Admin);
        assert!(admin.allows(Scope::QueuesManage, Some("anything")));
        assert!(glob_match("a*b*c", "a-b-c"));
        assert!(!glob_match("a*b*c", "a-c-b"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
