//! The reply correlation ledger, unmatched replies and node leases.
//!
//! **Invariants**
//! - An order whose plugin answered `pending(correlation-id)` has a ledger
//!   row keyed by `(target, correlation id)`, written in the transaction that
//!   recorded the submission.
//! - A reply's feedback, the order's new status and its timeline events are
//!   one transaction; a report identical to the last one applied (same
//!   report key: status, code, milestone, finance document and amount — a
//!   poll that saw nothing new) changes nothing.
//! - A finance report (charge, invoice, payment) adds its event and leaves
//!   the order's status and the ledger row's state as they are.
//! - A reply that matches no ledger row is stored whole (body in base64)
//!   with the reason; nothing an OPS sends is dropped.
//! - A node lease has one owner at a time; its `token` grows whenever the
//!   owner changes, so a former owner can tell it was fenced off.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::dispatch::ReplyWait;
use super::{Store, StoreError, append_events, later, now, set_order_status};
use crate::timeline::{NewEvent, OrderStatus};

/// One row of the correlation ledger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerEntry {
    pub target: String,
    pub correlation_id: String,
    pub order_id: String,
    pub submitted_at: String,
    /// '' when the target sets no reply deadline.
    pub reply_due: String,
    /// `waiting` (no answer yet), `answered` (progress reported), `closed` (final answer).
    pub state: String,
    pub overdue_at: Option<String>,
    pub ops_ref: Option<String>,
    #[serde(skip)]
    pub last_report: Option<String>,
}

/// A reply that matched no order, kept for an operator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnmatchedReply {
    pub id: String,
    pub target: String,
    pub source: String,
    pub correlation_id: Option<String>,
    pub received_at: String,
    pub reason: String,
    /// The plugin's feedback (JSON), when it produced any.
    pub feedback: Option<serde_json::Value>,
    /// The message as received, base64.
    pub body: String,
    pub content_type: Option<String>,
}

/// What a matched reply changes.
#[derive(Debug, Clone)]
pub struct ReplyUpdate<'a> {
    /// Status + code (+ milestone, finance): equal to the last applied
    /// report → nothing to do.
    pub report_key: &'a str,
    /// The order's next status; `None` leaves it (finance reports).
    pub status: Option<OrderStatus>,
    /// The ledger row's next state (`answered` or `closed`); `None` leaves it.
    pub ledger_state: Option<&'a str>,
    pub ops_ref: Option<&'a str>,
    pub events: &'a [NewEvent],
}

const LEDGER_COLUMNS: &str =
    "target, correlation_id, order_id, submitted_at, reply_due, state, overdue_at, ops_ref, last_report";

pub(super) async fn insert_ledger(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    target: &str,
    order_id: &str,
    reply: &ReplyWait,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO reply_ledger (target, correlation_id, order_id, submitted_at, reply_due, state, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'waiting', $4) ON CONFLICT (target, correlation_id) DO NOTHING",
    )
    .bind(target)
    .bind(&reply.correlation_id)
    .bind(order_id)
    .bind(at)
    .bind(&reply.reply_due)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The ledger row a reply belongs to, by correlation id.
    pub async fn ledger_entry(&self, target: &str, correlation_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        let sql = format!("SELECT {LEDGER_COLUMNS} FROM reply_ledger WHERE target = $1 AND correlation_id = $2");
        let row = sqlx::query(&sql)
            .bind(target)
            .bind(correlation_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ledger_from_row).transpose()
    }

    /// The ledger row of an order at a target (a reply that names the order
    /// or its OPS reference instead of the correlation id).
    pub async fn ledger_entry_by(
        &self,
        target: &str,
        order_id: Option<&str>,
        ops_ref: Option<&str>,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM reply_ledger WHERE target = $1 AND \
             ((order_id = $2 AND $2 <> '') OR (ops_ref = $3 AND $3 <> '')) ORDER BY submitted_at DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(target)
            .bind(order_id.unwrap_or_default())
            .bind(ops_ref.unwrap_or_default())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ledger_from_row).transpose()
    }

    /// Applies a matched reply. `Ok(false)`: the same report was applied
    /// before; nothing changed.
    pub async fn apply_reply(&self, entry: &LedgerEntry, update: &ReplyUpdate<'_>) -> Result<bool, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let changed = sqlx::query(
            "UPDATE reply_ledger SET state = COALESCE($1, state), ops_ref = COALESCE($2, ops_ref), last_report = $3, updated_at = $4 \
             WHERE target = $5 AND correlation_id = $6 AND (last_report IS NULL OR last_report <> $3)",
        )
        .bind(update.ledger_state)
        .bind(update.ops_ref)
        .bind(update.report_key)
        .bind(&at)
        .bind(&entry.target)
        .bind(&entry.correlation_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(status) = update.status {
            set_order_status(&mut tx, &entry.order_id, status, &at).await?;
        }
        append_events(&mut tx, &entry.order_id, update.events, &at).await?;
        tx.commit().await?;
        self.announce(&entry.order_id);
        Ok(true)
    }

    /// Keeps a reply that matched nothing.
    pub async fn keep_unmatched(&self, reply: &UnmatchedReply) -> Result<(), StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO unmatched_replies (id, target, source, correlation_id, received_at, reason, feedback, body, \
             content_type) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&reply.id)
        .bind(&reply.target)
        .bind(&reply.source)
        .bind(&reply.correlation_id)
        .bind(&reply.received_at)
        .bind(&reply.reason)
        .bind(reply.feedback.as_ref().map(serde_json::Value::to_string))
        .bind(&reply.body)
        .bind(&reply.content_type)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unmatched replies, oldest first, after the cursor `(received_at, id)`.
    pub async fn unmatched_replies(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<UnmatchedReply>, StoreError> {
        let (after_at, after_id) = after.unwrap_or(("", ""));
        let rows = sqlx::query(
            "SELECT id, target, source, correlation_id, received_at, reason, feedback, body, content_type \
             FROM unmatched_replies WHERE (received_at > $1 OR (received_at = $1 AND id > $2)) \
             ORDER BY received_at, id LIMIT $3",
        )
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let feedback: Option<String> = row.try_get("feedback")?;
                Ok(UnmatchedReply {
                    id: row.try_get("id")?,
                    target: row.try_get("target")?,
                    source: row.try_get("source")?,
                    correlation_id: row.try_get("correlation_id")?,
                    received_at: row.try_get("received_at")?,
                    reason: row.try_get("reason")?,
                    feedback: feedback
                        .map(|text| serde_json::from_str(&text))
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("unmatched reply feedback: {e}")))?,
                    body: row.try_get("body")?,
                    content_type: row.try_get("content_type")?,
                })
            })
            .collect()
    }

    /// Orders of `target` still expecting news from the OPS (for `poll`).
    pub async fn open_replies(&self, target: &str, limit: u32) -> Result<Vec<LedgerEntry>, StoreError> {
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM reply_ledger WHERE target = $1 AND state <> 'closed' \
             ORDER BY submitted_at LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(target)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ledger_from_row).collect()
    }

    /// Waiting rows whose reply deadline passed and are not marked yet.
    pub async fn newly_overdue(&self, limit: u32) -> Result<Vec<LedgerEntry>, StoreError> {
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM reply_ledger WHERE state = 'waiting' AND reply_due <> '' \
             AND reply_due < $1 AND overdue_at IS NULL ORDER BY reply_due LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(now())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ledger_from_row).collect()
    }

    /// Marks a missed reply deadline (once) with its timeline event.
    pub async fn mark_overdue(&self, entry: &LedgerEntry, events: &[NewEvent]) -> Result<bool, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let changed = sqlx::query(
            "UPDATE reply_ledger SET overdue_at = $1, updated_at = $1 WHERE target = $2 AND correlation_id = $3 \
             AND overdue_at IS NULL AND state = 'waiting'",
        )
        .bind(&at)
        .bind(&entry.target)
        .bind(&entry.correlation_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        append_events(&mut tx, &entry.order_id, events, &at).await?;
        tx.commit().await?;
        self.announce(&entry.order_id);
        Ok(true)
    }

    /// Replies that missed their deadline and have still not arrived.
    pub async fn overdue_replies(&self, limit: u32) -> Result<Vec<LedgerEntry>, StoreError> {
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM reply_ledger WHERE state = 'waiting' AND overdue_at IS NOT NULL \
             ORDER BY reply_due LIMIT $1"
        );
        let rows = sqlx::query(&sql).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(ledger_from_row).collect()
    }

    /// Takes or keeps the node lease `name` for `ttl`. `Some(token)` while
    /// this owner holds it; the token changes only when the owner does.
    pub async fn acquire_node_lease(&self, name: &str, owner: &str, ttl: Duration) -> Result<Option<i64>, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let until = later(ttl);
        let inserted = sqlx::query(
            "INSERT INTO node_leases (name, owner, token, until) VALUES ($1, $2, 1, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(owner)
        .bind(&until)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await?;
            return Ok(Some(1));
        }
        let row = sqlx::query(
            "UPDATE node_leases SET token = CASE WHEN owner = $2 THEN token ELSE token + 1 END, owner = $2, until = $3 \
             WHERE name = $1 AND (owner = $2 OR until < $4) RETURNING token",
        )
        .bind(name)
        .bind(owner)
        .bind(&until)
        .bind(&at)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|row| row.try_get("token"))
            .transpose()
            .map_err(StoreError::from)
    }

    /// Gives the lease up at once (clean shutdown), so another node need not wait for it to expire.
    pub async fn release_node_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        sqlx::query("UPDATE node_leases SET until = '' WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Who holds a node lease: `(owner, token, until)`.
    pub async fn node_lease(&self, name: &str) -> Result<Option<(String, i64, String)>, StoreError> {
        let row = sqlx::query("SELECT owner, token, until FROM node_leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((row.try_get("owner")?, row.try_get("token")?, row.try_get("until")?)))
            .transpose()
    }
}

fn ledger_from_row(row: &AnyRow) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        target: row.try_get("target")?,
        correlation_id: row.try_get("correlation_id")?,
        order_id: row.try_get("order_id")?,
        submitted_at: row.try_get("submitted_at")?,
        reply_due: row.try_get("reply_due")?,
        state: row.try_get("state")?,
        overdue_at: row.try_get("overdue_at")?,
        ops_ref: row.try_get("ops_ref")?,
        last_report: row.try_get("last_report")?,
    })
}
