//! Queue URLs (`<base>/<account>/<queue>`) and ARNs (`arn:aws:sqs:<region>:<account>:<queue>`),
//! with the account as SQS's 12-digit, zero-padded id.

use crate::domain::AccountId;

/// The 12-digit account id of `account`.
pub fn account_id(account: AccountId) -> String {
    format!("{account:012}")
}

/// The URL of a queue under `base` (no trailing slash).
pub fn queue_url(base: &str, account: AccountId, name: &str) -> String {
    format!("{base}/{}/{name}", account_id(account))
}

/// The ARN of a queue.
pub fn queue_arn(region: &str, account: AccountId, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{}:{name}", account_id(account))
}

/// The account and queue name a queue URL points at, read from its path only (so a URL built
/// with another host, e.g. from the client's own configuration, still resolves). `None` when
/// the path does not end in `/<12-digit account>/<queue>`.
pub fn parse_queue_url(url: &str) -> Option<(AccountId, String)> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = match url.contains("://") {
        true => after_scheme.split_once('/').map_or("", |(_, path)| path),
        false => after_scheme,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.rsplit('/').filter(|s| !s.is_empty());
    let name = segments.next()?;
    let account = parse_account(segments.next()?)?;
    Some((account, name.to_owned()))
}

/// The account and queue name of a queue ARN (any region and partition).
pub fn parse_arn(arn: &str) -> Option<(AccountId, String)> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ["arn", _partition, "sqs", _region, account, name] = parts[..] else {
        return None;
    };
    if name.is_empty() {
        return None;
    }
    Some((parse_account(account)?, name.to_owned()))
}

fn parse_account(text: &str) -> Option<AccountId> {
    (text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_arns_round_trip() {
        let url = queue_url("http://localhost:9324", 42, "orders");
        assert_eq!(url, "http://localhost:9324/000000000042/orders");
        assert_eq!(parse_queue_url(&url), Some((42, "orders".to_owned())));
        let arn = queue_arn("us-east-1", 0, "dlq");
        assert_eq!(arn, "arn:aws:sqs:us-east-1:000000000000:dlq");
        assert_eq!(parse_arn(&arn), Some((0, "dlq".to_owned())));
    }

    #[test]
    fn urls_resolve_by_path_whatever_the_host() {
        for url in [
            "https://sqs.us-east-1.amazonaws.com/000000000000/q",
            "http://other:1/queue/us-east-1/000000000000/q",
            "/000000000000/q",
            "http://h/000000000000/q/",
        ] {
            assert_eq!(parse_queue_url(url), Some((0, "q".to_owned())), "{url}");
        }
        for bad in [
            "",
            "q",
            "http://h/q",
            "http://h/123/q",
            "http://h/abcdefghijkl/q",
        ] {
            assert_eq!(parse_queue_url(bad), None, "{bad}");
        }
        for bad in [
            "",
            "arn:aws:sqs:r:000000000000:",
            "arn:aws:sns:r:000000000000:q",
        ] {
            assert_eq!(parse_arn(bad), None, "{bad}");
        }
    }
}
