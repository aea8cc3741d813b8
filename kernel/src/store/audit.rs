//! The audit log: staff and system actions that concern no single order
//! (API keys, webhook subscriptions). Actions on an order are on its
//! timeline instead; together the two are the hub's audit trail.
//!
//! **Invariant:** `detail` never holds a secret — callers pass ids,
//! prefixes and reasons, never keys or signing secrets.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now};
use crate::timeline::Actor;

/// An action about to be recorded.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor: Actor,
    /// What was done, e.g. `api-key.created`, `subscription.disabled`.
    pub action: &'a str,
    /// What it was done to, e.g. the key or subscription id.
    pub subject: &'a str,
    pub detail: serde_json::Value,
}

/// Records `entry` on `conn` — inside the caller's transaction when the
/// action itself is a database change, so both commit or neither does.
pub(crate) async fn insert_audit(conn: &mut sqlx::AnyConnection, entry: &AuditEntry<'_>) -> Result<String, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let (actor_kind, actor_id) = entry.actor.parts();
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_kind, actor_id, action, subject, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(now())
    .bind(actor_kind)
    .bind(actor_id)
    .bind(entry.action)
    .bind(entry.subject)
    .bind(entry.detail.to_string())
    .execute(conn)
    .await?;
    Ok(id)
}

/// A recorded action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: String,
    pub at: String,
    pub actor: Actor,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

impl Store {
    pub async fn record_audit(&self, entry: &AuditEntry<'_>) -> Result<String, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, entry).await
    }

    /// Newest first, before the cursor `(at, id)`; optionally one action
    /// prefix (`api-key.`, `subscription.`) or one subject.
    pub async fn audit_log(
        &self,
        action_prefix: Option<&str>,
        subject: Option<&str>,
        before: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (before_at, before_id) = before.unwrap_or(("\u{10FFFF}", ""));
        let rows = sqlx::query(
            "SELECT id, at, actor_kind, actor_id, action, subject, detail FROM audit_log \
             WHERE (at < $1 OR (at = $1 AND id < $2)) AND ($3 = '' OR action LIKE $3 || '%') \
             AND ($4 = '' OR subject = $4) ORDER BY at DESC, id DESC LIMIT $5",
        )
        .bind(before_at)
        .bind(before_id)
        .bind(action_prefix.unwrap_or_default())
        .bind(subject.unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let actor_kind: String = row.try_get("actor_kind")?;
                let detail: Option<String> = row.try_get("detail")?;
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: Actor::from_parts(&actor_kind, row.try_get("actor_id")?),
                    action: row.try_get("action")?,
                    subject: row.try_get("subject")?,
                    detail: detail
                        .map(|d| serde_json::from_str(&d))
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}
