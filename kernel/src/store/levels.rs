//! Levels for `/metrics`: how much work waits where, read at scrape time.
//!
//! Read from the store rather than counted in memory so that they are
//! right after a restart and the same on every node sharing the store.
//! Each query is an index range count (`dispatch_jobs (state, …)`,
//! `orders (status, …)`), cheap enough for a scrape every few seconds.

use sqlx::Row;

use super::{Store, StoreError};

/// Work waiting in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreLevels {
    /// `(target, state, jobs)` for outbox jobs that are `pending`, `leased` or `dead`.
    pub jobs: Vec<(String, String, i64)>,
    /// Orders in the staff review queue.
    pub review_queue: i64,
}

impl Store {
    pub async fn levels(&self) -> Result<StoreLevels, StoreError> {
        let rows = sqlx::query(
            "SELECT target, state, COUNT(*) AS n FROM dispatch_jobs \
             WHERE state IN ('pending', 'leased', 'dead') GROUP BY target, state",
        )
        .fetch_all(&self.pool)
        .await?;
        let jobs = rows
            .iter()
            .map(|row| Ok((row.try_get("target")?, row.try_get("state")?, row.try_get("n")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let review_queue = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status = 'needs-review'")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(StoreLevels { jobs, review_queue })
    }
}
