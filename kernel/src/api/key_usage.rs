//! When stored API keys were last used, written in batches: a request
//! records its key's use in memory (no write per request); [`KeyUsage::flush`]
//! writes the latest use of each key since the last flush, every
//! [`FLUSH_INTERVAL`] and when the hub stops.
//!
//! **Invariants**
//! - The map holds only ids of stored keys that authenticated since the
//!   last flush, so it is bounded by the stored keys; a flush empties it.
//! - `last_used_at` only moves forward (another node's later use is kept).
//! - A failed flush is logged and its uses are dropped: `last_used_at` is
//!   a hint for operators, never a reason to fail or slow a request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

/// How often recorded uses are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// Latest use of each stored key since the last flush (key id → stored time).
#[derive(Debug, Default)]
pub struct KeyUsage {
    pending: Mutex<HashMap<String, String>>,
}

impl KeyUsage {
    /// Records that key `id` was used now.
    pub fn record(&self, id: &str) {
        let at = crate::store::now();
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match pending.get_mut(id) {
            Some(last) => *last = at,
            None => {
                pending.insert(id.to_owned(), at);
            }
        }
    }

    /// Writes the recorded uses (one UPDATE per key, in one transaction);
    /// the number of keys written.
    pub async fn flush(&self, store: &Store) -> Result<usize, StoreError> {
        let uses: Vec<(String, String)> = {
            let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.drain().collect()
        };
        if uses.is_empty() {
            return Ok(0);
        }
        store.record_key_uses(&uses).await?;
        Ok(uses.len())
    }

    /// Flushes every [`FLUSH_INTERVAL`] until `stop`, then once more.
    pub async fn run(&self, store: Store, stop: CancellationToken) {
        loop {
            let stopped = tokio::select! {
                () = stop.cancelled() => true,
                () = tokio::time::sleep(FLUSH_INTERVAL) => false,
            };
            if let Err(e) = self.flush(&store).await {
                tracing::warn!(error = %e, "cannot record when API keys were last used");
            }
            if stopped {
                return;
            }
        }
    }
}
