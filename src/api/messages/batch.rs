//! What the write operations (send, delete, change visibility) share: a body holds one entry
//! inline or a batch of entries; each batch entry has an id its result echoes, and a failed
//! entry does not fail the others.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    api::error::{ApiError, ErrorDetail},
    queue::messages::MAX_BATCH_ENTRIES,
};

/// A write request's entries: one given inline, or a checked batch.
#[derive(Debug)]
pub(super) enum OneOrBatch<T> {
    One(T),
    Batch(Batch<T>),
}

/// 1 to `MAX_BATCH_ENTRIES` entries, each with a unique id (by default its index).
#[derive(Debug)]
pub(super) struct Batch<T> {
    pub(super) ids: Vec<String>,
    pub(super) entries: Vec<T>,
}

impl<T> Batch<T> {
    /// Checks a batch's shape (its size and entry ids, given by `id`) and fills in default ids.
    pub(super) fn new(
        entries: Vec<T>,
        id: impl Fn(&T) -> Option<String>,
    ) -> Result<Self, ApiError> {
        let ids = entry_ids(entries.iter().map(id).collect())?;
        Ok(Self { ids, entries })
    }

    /// Converts every entry; the first error fails the whole batch.
    pub(super) fn try_map<U>(
        self,
        convert: impl FnMut(T) -> Result<U, ApiError>,
    ) -> Result<Batch<U>, ApiError> {
        let entries = self
            .entries
            .into_iter()
            .map(convert)
            .collect::<Result<_, _>>()?;
        Ok(Batch {
            ids: self.ids,
            entries,
        })
    }

    /// Converts every entry.
    pub(super) fn map<U>(self, convert: impl FnMut(T) -> U) -> Batch<U> {
        Batch {
            ids: self.ids,
            entries: self.entries.into_iter().map(convert).collect(),
        }
    }
}

/// Checks a batch's shape and fills in default entry ids (the index).
fn entry_ids(ids: Vec<Option<String>>) -> Result<Vec<String>, ApiError> {
    if ids.is_empty() || ids.len() > MAX_BATCH_ENTRIES {
        return Err(ApiError::Validation(format!(
            "a batch holds 1 to {MAX_BATCH_ENTRIES} entries, got {}",
            ids.len()
        )));
    }
    let ids: Vec<String> = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| id.unwrap_or_else(|| i.to_string()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        let valid = !id.is_empty()
            && id.len() <= 80
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(ApiError::Validation(format!(
                "invalid entry id `{}`: use 1-80 characters of A-Z, a-z, 0-9, '-' and '_'",
                id.escape_debug()
            )));
        }
        if !seen.insert(id.as_str()) {
            return Err(ApiError::Validation(format!(
                "entry id `{id}` is used twice"
            )));
        }
    }
    Ok(ids)
}

/// Splits per-entry results into successes (mapped by `ok`) and failures.
pub(super) fn split<T, U, E: Into<ApiError>>(
    ids: Vec<String>,
    results: Vec<Result<T, E>>,
    ok: impl Fn(Option<String>, T) -> U,
) -> (Vec<U>, Vec<FailedEntry>) {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, result) in ids.into_iter().zip(results) {
        match result {
            Ok(value) => successful.push(ok(Some(id), value)),
            Err(error) => {
                let error: ApiError = error.into();
                failed.push(FailedEntry {
                    id,
                    error: error.body().error,
                });
            }
        }
    }
    (successful, failed)
}

/// A batch entry that failed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FailedEntry {
    pub id: String,
    pub error: ErrorDetail,
}

/// A receipt handle to act on, in a batch.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandleEntry {
    pub id: Option<String>,
    pub receipt_handle: String,
    /// For visibility changes only: the new timeout in seconds (0–43200; out of range fails
    /// this entry only, like any per-entry problem of a batch).
    pub visibility_timeout: Option<i64>,
}
