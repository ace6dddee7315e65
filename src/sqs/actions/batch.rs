//! What every batch action shares: the structural checks that fail the whole request (entry
//! count, entry ids) and the per-entry failure entries.

use std::collections::HashSet;

use serde::Serialize;

use crate::sqs::errors::{
    BATCH_IDS_NOT_DISTINCT, EMPTY_BATCH_REQUEST, INVALID_BATCH_ENTRY_ID, SqsError, SqsResult,
    TOO_MANY_ENTRIES,
};

/// Most entries in one SQS batch.
pub const MAX_ENTRIES: usize = 10;

/// A failed batch entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Failed {
    id: String,
    sender_fault: bool,
    code: &'static str,
    message: String,
}

impl Failed {
    pub fn new(id: String, error: SqsError) -> Self {
        Self {
            id,
            sender_fault: error.sender_fault(),
            code: error.code,
            message: error.message,
        }
    }
}

/// A batch result: `Failed` is left out when nothing failed, as SQS does.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchOutput<T> {
    pub successful: Vec<T>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Failed>,
}

/// A successful entry that reports only its id.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Done {
    pub id: String,
}

/// Checks a batch's shape: 1–10 entries (named `entry` in messages), each with a distinct id of
/// 1–80 characters of `[A-Za-z0-9_-]`. Returns the ids.
pub fn check_ids(ids: Vec<Option<String>>, entry: &str) -> SqsResult<Vec<String>> {
    if ids.is_empty() {
        return Err(SqsError::new(
            EMPTY_BATCH_REQUEST,
            format!("There should be at least one {entry} in the request."),
        ));
    }
    if ids.len() > MAX_ENTRIES {
        return Err(SqsError::new(
            TOO_MANY_ENTRIES,
            format!(
                "Maximum number of entries per request are {MAX_ENTRIES}. You have sent {}.",
                ids.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    ids.into_iter()
        .map(|id| {
            let id = id.ok_or_else(|| SqsError::missing(&format!("{entry}.Id")))?;
            let valid = !id.is_empty()
                && id.len() <= 80
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(SqsError::new(
                    INVALID_BATCH_ENTRY_ID,
                    "A batch entry id can only contain alphanumeric characters, hyphens and \
                     underscores. It can be at most 80 letters long.",
                ));
            }
            if !seen.insert(id.clone()) {
                return Err(SqsError::new(
                    BATCH_IDS_NOT_DISTINCT,
                    format!("Id {id} repeated."),
                ));
            }
            Ok(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<Option<String>> {
        list.iter().map(|s| Some((*s).to_owned())).collect()
    }

    #[test]
    fn batches_need_one_to_ten_distinct_valid_ids() {
        assert_eq!(
            check_ids(ids(&["a", "b-1_C"]), "E").unwrap(),
            ["a", "b-1_C"]
        );
        let code = |list: Vec<Option<String>>| check_ids(list, "E").unwrap_err().code;
        assert_eq!(code(vec![]), "AWS.SimpleQueueService.EmptyBatchRequest");
        assert_eq!(
            code(ids(&["a"; 11])),
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
        );
        assert_eq!(
            code(ids(&["a", "a"])),
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
        );
        for bad in ["", "a b", "é", &"x".repeat(81)] {
            assert_eq!(
                code(ids(&[bad])),
                "AWS.SimpleQueueService.InvalidBatchEntryId"
            );
        }
        assert_eq!(code(vec![None]), "MissingParameter");
    }
}
