//! Queue tags: free-form key/value labels (SQS cost-allocation tags).

use super::Engine;
use crate::{
    domain::{AccountId, Error, Invalid},
    store,
};

/// Most tags one queue may carry.
pub const MAX_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

impl Engine {
    /// A queue's tags, sorted by key.
    pub async fn tags(
        &self,
        account: AccountId,
        queue: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let queue = self.get_queue(account, queue).await?;
        Ok(store::tags::list(&self.0.db, queue.id).await?)
    }

    /// Adds tags to a queue, overwriting existing keys; at most [`MAX_TAGS`] in all.
    pub async fn tag_queue(
        &self,
        account: AccountId,
        queue: &str,
        tags: &[(String, String)],
    ) -> Result<(), Error> {
        for (key, value) in tags {
            validate_tag(key, value)?;
        }
        let queue = self.get_queue(account, queue).await?;
        let existing = store::tags::list(&self.0.db, queue.id).await?;
        let added = tags
            .iter()
            .filter(|(k, _)| !existing.iter().any(|(e, _)| e == k))
            .count();
        if existing.len() + added > MAX_TAGS {
            return Err(Invalid::TooManyTags {
                queue: queue.name.to_string(),
                max: MAX_TAGS,
            }
            .into());
        }
        if !tags.is_empty() {
            store::tags::upsert(&self.0.db, queue.id, tags).await?;
        }
        Ok(())
    }

    /// Removes tags from a queue by key; unknown keys are ignored.
    pub async fn untag_queue(
        &self,
        account: AccountId,
        queue: &str,
        keys: &[String],
    ) -> Result<(), Error> {
        let queue = self.get_queue(account, queue).await?;
        // Keys with NUL cannot be stored, so they name no tag (and PostgreSQL refuses them).
        let keys: Vec<String> = keys.iter().filter(|k| !k.contains('\0')).cloned().collect();
        store::tags::remove(&self.0.db, queue.id, &keys).await?;
        Ok(())
    }
}

/// Keys have 1–128 characters, values up to 256.
fn validate_tag(key: &str, value: &str) -> Result<(), Invalid> {
    let key_chars = key.chars().count();
    if key_chars == 0 || key_chars > MAX_KEY_CHARS {
        return Err(Invalid::TagKeyLength {
            key: key.to_owned(),
            max: MAX_KEY_CHARS,
        });
    }
    if key.contains(char::is_control) || value.contains(char::is_control) {
        return Err(Invalid::TagControlCharacter);
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(Invalid::TagValueLength {
            key: key.to_owned(),
            max: MAX_VALUE_CHARS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_and_values_are_bounded() {
        assert!(validate_tag("team", "").is_ok());
        assert!(validate_tag("", "v").is_err());
        assert!(validate_tag(&"k".repeat(129), "v").is_err());
        assert!(validate_tag("k", &"v".repeat(257)).is_err());
        assert!(validate_tag("k\0", "v").is_err());
        assert!(validate_tag("k", "v\0").is_err());
    }
}
