//! Webhook subscriptions and their deliveries, as the API and the delivery
//! worker ([`crate::webhooks`]) see them.
//!
//! **Invariants**
//! - *Lossless*: a delivery row is written by [`enqueue_deliveries`] inside
//!   the transaction that appends its timeline event; there is no moment
//!   where the event exists and its deliveries do not.
//! - *Nothing dropped while disabled*: events of a disabled subscription
//!   become `held` deliveries; enabling requeues held and failed ones.
//! - *Fenced outcomes*: a worker takes a delivery with a fresh
//!   `lease_token` (like dispatch jobs; `FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL, the single writer on SQLite, and the due-condition
//!   repeated on the outer `UPDATE` so two nodes never both win a row) and
//!   its result is written only while it still holds that token.
//! - *Secrets*: the signing secrets are read only by [`Store::delivery_target`]
//!   for the worker; no listing returns them, and audit details never hold
//!   them. Every change of a subscription is audited in its own transaction.

use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{AuditEntry, insert_audit};
use super::{Backend, Store, StoreError, format_time, later, now};
use crate::timeline::{Actor, EventKind, NewEvent};
use crate::webhooks::ALL_EVENTS;
use crate::webhooks::payload::{self, OrderEventFacts};

/// A subscription about to be stored (the secret is shown to its owner once).
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub id: String,
    pub tenant: String,
    pub url: String,
    /// Event kinds (`accepted`, `in-progress`, …) or `["*"]`.
    pub events: Vec<String>,
    pub description: String,
    /// `whsec_…`.
    pub secret: String,
}

/// A subscription as listed: never its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionRecord {
    pub id: String,
    pub tenant: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    /// `enabled` or `disabled`.
    pub state: String,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    /// Failing without a success since then (cleared by a success).
    pub failing_since: Option<String>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_valid_until: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// What the worker needs to send a delivery.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub url: String,
    pub enabled: bool,
    /// The current secret first, then the previous one while it is valid.
    pub secrets: Vec<String>,
}

/// A delivery as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_type: String,
    pub order_id: Option<String>,
    /// `pending`, `leased`, `delivered`, `failed` (schedule exhausted) or `held` (subscription disabled).
    pub state: String,
    pub attempts: u32,
    /// When it is tried next (`pending`), or was due when it stopped.
    pub next_attempt_at: String,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// A delivery this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedDelivery {
    pub id: String,
    pub subscription_id: String,
    /// This attempt's number in the current round (1 = first).
    pub attempt: u32,
    /// The CloudEvents JSON to send.
    pub payload: String,
    /// The order's trace context, sent as `traceparent`.
    pub traceparent: Option<String>,
    pub lease_token: String,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum DeliveryFinish {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// Non-2xx, timeout, refused address or connection error.
    Failed {
        status: Option<u16>,
        error: String,
        /// When to try again; `None`: the schedule is exhausted.
        retry_at: Option<String>,
        /// The endpoint is disabled once it has been failing this long.
        disable_after: Duration,
    },
    /// Not attempted: the subscription was disabled meanwhile (attempt not counted).
    Hold,
}

/// What [`Store::finish_delivery`] recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The lease was lost (expired and taken, or the subscription deleted); nothing written.
    LeaseLost,
    Delivered,
    Retrying,
    /// Schedule exhausted.
    Failed,
    Held,
    /// This failure disabled the subscription; its pending deliveries are held.
    Disabled,
}

const SUBSCRIPTION_COLUMNS: &str = "id, tenant, url, events, description, state, disabled_at, disabled_reason, \
     failing_since, previous_secret_until, created_by, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, subscription_id, event_id, event_type, order_id, state, attempts, next_attempt_at, \
     last_status, last_error, last_attempt_at, created_at, delivered_at";
/// Due: pending and due, or leased by a node whose lease expired.
const DUE: &str = "((state = 'pending' AND next_attempt_at <= $1) OR (state = 'leased' AND lease_until < $1))";

/// Writes a delivery for every subscription of the order's tenant whose
/// filter matches each event; called by `append_events` in its transaction.
/// `ids` are the ids the events were stored with. Returns how many rows
/// it wrote.
pub(crate) async fn enqueue_deliveries(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    order_id: &str,
    events: &[NewEvent],
    ids: &[String],
    at: &str,
) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT s.id, s.events, s.state, o.line, o.status, o.customer_reference, o.traceparent \
         FROM webhook_subscriptions s JOIN orders o ON o.tenant = s.tenant WHERE o.id = $1",
    )
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut written = 0;
    for row in &rows {
        let subscription: String = row.try_get("id")?;
        let filter = events_column(row)?;
        let state: String = row.try_get("state")?;
        let line: String = row.try_get("line")?;
        let status: String = row.try_get("status")?;
        let reference: Option<String> = row.try_get("customer_reference")?;
        let traceparent: Option<String> = row.try_get("traceparent")?;
        for (event, event_id) in events.iter().zip(ids) {
            if !filter_matches(&filter, event.kind) {
                continue;
            }
            let body = payload::order_event(&OrderEventFacts {
                event_id,
                kind: event.kind,
                at,
                actor: &event.actor,
                message: &event.message,
                data: event.data.as_ref(),
                order_id,
                line: &line,
                customer_reference: reference.as_deref(),
                status: &status,
            });
            let delivery_state = if state == "enabled" { "pending" } else { "held" };
            insert_delivery(
                tx,
                &subscription,
                event_id,
                Some(OrderOrigin {
                    order_id,
                    traceparent: traceparent.as_deref(),
                }),
                &payload::order_event_type(event.kind),
                &body.to_string(),
                delivery_state,
                at,
            )
            .await?;
            written += 1;
        }
    }
    Ok(written)
}

/// Whether a subscription's filter takes events of `kind`.
pub fn filter_matches(filter: &[String], kind: EventKind) -> bool {
    filter.iter().any(|f| f == ALL_EVENTS || f == kind.as_str())
}

/// The order an event delivery is about, and its trace.
struct OrderOrigin<'a> {
    order_id: &'a str,
    traceparent: Option<&'a str>,
}

#[allow(clippy::too_many_arguments)] // one column each
async fn insert_delivery(
    conn: &mut sqlx::AnyConnection,
    subscription_id: &str,
    event_id: &str,
    origin: Option<OrderOrigin<'_>>,
    event_type: &str,
    body: &str,
    state: &str,
    at: &str,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, subscription_id, event_id, order_id, event_type, payload, state, \
         attempts, next_attempt_at, created_at, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8, $9)",
    )
    .bind(&id)
    .bind(subscription_id)
    .bind(event_id)
    .bind(origin.as_ref().map(|origin| origin.order_id))
    .bind(event_type)
    .bind(body)
    .bind(state)
    .bind(at)
    .bind(origin.and_then(|origin| origin.traceparent))
    .execute(conn)
    .await?;
    Ok(id)
}

impl Store {
    /// Stores a new subscription unless its tenant already has `max_per_tenant`;
    /// `false` then. Audited as `subscription.created`.
    pub async fn create_subscription(
        &self,
        subscription: &NewSubscription,
        max_per_tenant: u32,
        by: &Actor,
    ) -> Result<bool, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM webhook_subscriptions WHERE tenant = $1")
            .bind(&subscription.tenant)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if existing >= i64::from(max_per_tenant) {
            tx.rollback().await?;
            return Ok(false);
        }
        let events = serde_json::to_string(&subscription.events)
            .map_err(|e| StoreError::Corrupt(format!("event filter does not serialize: {e}")))?;
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, tenant, url, events, secret, description, state, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'enabled', $7, $8, $8)",
        )
        .bind(&subscription.id)
        .bind(&subscription.tenant)
        .bind(&subscription.url)
        .bind(&events)
        .bind(&subscription.secret)
        .bind(&subscription.description)
        .bind(by.parts().1)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        insert_audit(
            &mut tx,
            &AuditEntry {
                actor: by.clone(),
                action: "subscription.created",
                subject: &subscription.id,
                detail: serde_json::json!({
                    "tenant": subscription.tenant,
                    "url": subscription.url,
                    "events": subscription.events,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Subscriptions of one tenant (or all), oldest first, after the cursor `(created_at, id)`.
    pub async fn subscriptions(
        &self,
        tenant: Option<&str>,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let (after_at, after_id) = after.unwrap_or(("", ""));
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE ($1 = '' OR tenant = $1) \
             AND (created_at > $2 OR (created_at = $2 AND id > $3)) ORDER BY created_at, id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.unwrap_or_default())
            .bind(after_at)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(subscription_from_row).collect()
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    /// Deletes a subscription and its deliveries; `false` when there is none.
    /// Audited as `subscription.deleted`.
    pub async fn delete_subscription(&self, id: &str, by: &Actor) -> Result<bool, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let deliveries = sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let deleted = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_audit(
            &mut tx,
            &AuditEntry {
                actor: by.clone(),
                action: "subscription.deleted",
                subject: id,
                detail: serde_json::json!({ "deliveries_dropped": deliveries }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Makes `new_secret` the signing secret; the current one keeps signing
    /// for `overlap` (a previous secret still valid is dropped: at most two
    /// sign). `None` when there is no such subscription; otherwise until
    /// when the old secret stays valid. Audited as `subscription.secret-rotated`.
    pub async fn rotate_subscription_secret(
        &self,
        id: &str,
        new_secret: &str,
        overlap: Duration,
        by: &Actor,
    ) -> Result<Option<String>, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let until = later(overlap);
        let rotated = sqlx::query(
            "UPDATE webhook_subscriptions SET previous_secret = secret, previous_secret_until = $1, secret = $2, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(&until)
        .bind(new_secret)
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if rotated == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        insert_audit(
            &mut tx,
            &AuditEntry {
                actor: by.clone(),
                action: "subscription.secret-rotated",
                subject: id,
                detail: serde_json::json!({ "previous_secret_valid_until": until }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(until))
    }

    /// Enables a subscription (again) and requeues its failed and held
    /// deliveries for now, each with a fresh round of attempts. `None` when
    /// there is no such subscription; otherwise how many were requeued.
    /// Audited as `subscription.enabled`.
    pub async fn enable_subscription(&self, id: &str, by: &Actor) -> Result<Option<u64>, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let enabled = sqlx::query(
            "UPDATE webhook_subscriptions SET state = 'enabled', disabled_at = NULL, disabled_reason = NULL, \
             failing_since = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if enabled == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let requeued = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1 \
             WHERE subscription_id = $2 AND state IN ('failed', 'held')",
        )
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        insert_audit(
            &mut tx,
            &AuditEntry {
                actor: by.clone(),
                action: "subscription.enabled",
                subject: id,
                detail: serde_json::json!({ "requeued": requeued }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(requeued))
    }

    /// Queues a `com.order-hub.ping` delivery; its id.
    pub async fn queue_ping(&self, subscription_id: &str) -> Result<String, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let ping_id = uuid::Uuid::now_v7().to_string();
        let body = payload::ping(&ping_id, subscription_id, &at).to_string();
        let id = insert_delivery(
            &mut tx,
            subscription_id,
            &ping_id,
            None,
            payload::PING_TYPE,
            &body,
            "pending",
            &at,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A subscription's deliveries, newest first, before the cursor
    /// `(created_at, id)`, optionally in one state.
    pub async fn subscription_deliveries(
        &self,
        subscription_id: &str,
        state: Option<&str>,
        before: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let (before_at, before_id) = before.unwrap_or(("\u{10FFFF}", ""));
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = $1 AND ($2 = '' OR state = $2) \
             AND (created_at < $3 OR (created_at = $3 AND id < $4)) ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(subscription_id)
            .bind(state.unwrap_or_default())
            .bind(before_at)
            .bind(before_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// A subscription's deliveries per state.
    pub async fn delivery_counts(&self, subscription_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM webhook_deliveries WHERE subscription_id = $1 GROUP BY state ORDER BY state",
        )
        .bind(subscription_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
            .collect()
    }

    /// Leases up to `limit` due deliveries (oldest due first). Looks before
    /// it writes, so an idle poll costs one read and no write lock.
    pub async fn claim_deliveries(
        &self,
        node: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let at = now();
        let probe = format!("SELECT id FROM webhook_deliveries WHERE {DUE} LIMIT 1");
        if sqlx::query(&probe)
            .bind(&at)
            .fetch_optional(&self.pool)
            .await?
            .is_none()
        {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::now_v7().to_string();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET state = 'leased', lease_owner = $2, lease_token = $3, lease_until = $4, \
             attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM webhook_deliveries WHERE {DUE} ORDER BY next_attempt_at LIMIT $5{lock}) \
             AND {DUE} RETURNING id, subscription_id, attempts, payload, traceparent"
        );
        let (mut tx, _guard) = self.begin_write().await?;
        let rows = sqlx::query(&sql)
            .bind(&at)
            .bind(node)
            .bind(&token)
            .bind(later(lease))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(LeasedDelivery {
                    id: row.try_get("id")?,
                    subscription_id: row.try_get("subscription_id")?,
                    attempt: count(row, "attempts")?,
                    payload: row.try_get("payload")?,
                    traceparent: row.try_get("traceparent")?,
                    lease_token: token.clone(),
                })
            })
            .collect()
    }

    /// Where and with which secrets to send a subscription's deliveries;
    /// `None` when it was deleted.
    pub async fn delivery_target(&self, subscription_id: &str) -> Result<Option<DeliveryTarget>, StoreError> {
        let row = sqlx::query(
            "SELECT url, state, secret, previous_secret, previous_secret_until FROM webhook_subscriptions WHERE id = $1",
        )
        .bind(subscription_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let state: String = row.try_get("state")?;
        let mut secrets = vec![row.try_get::<String, _>("secret")?];
        let previous: Option<String> = row.try_get("previous_secret")?;
        let until: Option<String> = row.try_get("previous_secret_until")?;
        if let (Some(previous), Some(until)) = (previous, until)
            && now() < until
        {
            secrets.push(previous);
        }
        Ok(Some(DeliveryTarget {
            url: row.try_get("url")?,
            enabled: state == "enabled",
            secrets,
        }))
    }

    /// Records how an attempt ended, fenced by the lease token. A failure
    /// that finds the endpoint failing for `disable_after` disables the
    /// subscription (audited as `subscription.disabled` by the system) and
    /// holds its pending deliveries, this one included.
    pub async fn finish_delivery(
        &self,
        delivery: &LeasedDelivery,
        finish: DeliveryFinish,
    ) -> Result<Finished, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let fence = "WHERE id = $1 AND lease_token = $2 AND state = 'leased'";
        let updated = match &finish {
            DeliveryFinish::Delivered { status } => {
                let sql = format!(
                    "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $3, last_attempt_at = $3, \
                     last_status = $4, last_error = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL {fence}"
                );
                sqlx::query(&sql)
                    .bind(&delivery.id)
                    .bind(&delivery.lease_token)
                    .bind(&at)
                    .bind(i64::from(*status))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            }
            DeliveryFinish::Hold => {
                let sql = format!(
                    "UPDATE webhook_deliveries SET state = 'held', attempts = attempts - 1, lease_owner = NULL, \
                     lease_token = NULL, lease_until = NULL {fence}"
                );
                sqlx::query(&sql)
                    .bind(&delivery.id)
                    .bind(&delivery.lease_token)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            }
            DeliveryFinish::Failed {
                status,
                error,
                retry_at,
                ..
            } => {
                let state = if retry_at.is_some() { "pending" } else { "failed" };
                let sql = format!(
                    "UPDATE webhook_deliveries SET state = $3, next_attempt_at = COALESCE($4, next_attempt_at), \
                     last_status = $5, last_error = $6, last_attempt_at = $7, lease_owner = NULL, lease_token = NULL, \
                     lease_until = NULL {fence}"
                );
                sqlx::query(&sql)
                    .bind(&delivery.id)
                    .bind(&delivery.lease_token)
                    .bind(state)
                    .bind(retry_at.clone())
                    .bind(status.map(i64::from))
                    .bind(error)
                    .bind(&at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            }
        };
        if updated == 0 {
            tx.rollback().await?;
            return Ok(Finished::LeaseLost);
        }
        let finished = match finish {
            DeliveryFinish::Delivered { .. } => {
                sqlx::query(
                    "UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                )
                .bind(&delivery.subscription_id)
                .execute(&mut *tx)
                .await?;
                Finished::Delivered
            }
            DeliveryFinish::Hold => Finished::Held,
            DeliveryFinish::Failed {
                retry_at,
                disable_after,
                error,
                ..
            } => {
                let outcome = if retry_at.is_some() {
                    Finished::Retrying
                } else {
                    Finished::Failed
                };
                fail_subscription(&mut tx, delivery, &at, disable_after, &error)
                    .await?
                    .unwrap_or(outcome)
            }
        };
        tx.commit().await?;
        Ok(finished)
    }

    /// Forgets previous secrets whose overlap has ended (they stopped
    /// signing then already); how many.
    pub async fn drop_expired_secrets(&self) -> Result<u64, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let dropped = sqlx::query(
            "UPDATE webhook_subscriptions SET previous_secret = NULL, previous_secret_until = NULL \
             WHERE previous_secret_until IS NOT NULL AND previous_secret_until <= $1",
        )
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(dropped)
    }
}

/// Notes a failure on the subscription; disables it when it has been
/// failing for `disable_after` (or was disabled meanwhile: the delivery is
/// then held). `Some` when the delivery ended up held.
async fn fail_subscription(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    delivery: &LeasedDelivery,
    at: &str,
    disable_after: Duration,
    error: &str,
) -> Result<Option<Finished>, StoreError> {
    sqlx::query("UPDATE webhook_subscriptions SET failing_since = COALESCE(failing_since, $1) WHERE id = $2")
        .bind(at)
        .bind(&delivery.subscription_id)
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query("SELECT state, failing_since FROM webhook_subscriptions WHERE id = $1")
        .bind(&delivery.subscription_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let state: String = row.try_get("state")?;
    let failing_since: Option<String> = row.try_get("failing_since")?;
    if state != "enabled" {
        hold_pending(tx, delivery).await?;
        return Ok(Some(Finished::Held));
    }
    let limit = chrono::Duration::from_std(disable_after).unwrap_or(chrono::Duration::MAX);
    let threshold = chrono::Utc::now()
        .checked_sub_signed(limit)
        .map(format_time)
        .unwrap_or_default();
    if failing_since.as_ref().is_none_or(|since| *since > threshold) {
        return Ok(None);
    }
    let reason = format!(
        "failing since {} (longer than {} s); last error: {error}",
        failing_since.unwrap_or_default(),
        disable_after.as_secs()
    );
    sqlx::query(
        "UPDATE webhook_subscriptions SET state = 'disabled', disabled_at = $1, disabled_reason = $2, updated_at = $1 \
         WHERE id = $3",
    )
    .bind(at)
    .bind(&reason)
    .bind(&delivery.subscription_id)
    .execute(&mut **tx)
    .await?;
    let held = hold_pending(tx, delivery).await?;
    insert_audit(
        tx,
        &AuditEntry {
            actor: Actor::System,
            action: "subscription.disabled",
            subject: &delivery.subscription_id,
            detail: serde_json::json!({ "reason": reason, "held": held }),
        },
    )
    .await?;
    Ok(Some(Finished::Disabled))
}

/// Holds the subscription's pending deliveries and `delivery` itself (just
/// recorded as pending or failed); how many.
async fn hold_pending(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    delivery: &LeasedDelivery,
) -> Result<u64, StoreError> {
    let held = sqlx::query(
        "UPDATE webhook_deliveries SET state = 'held' WHERE subscription_id = $1 \
         AND (state = 'pending' OR (id = $2 AND state = 'failed'))",
    )
    .bind(&delivery.subscription_id)
    .bind(&delivery.id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(held)
}

fn count(row: &AnyRow, column: &str) -> Result<u32, StoreError> {
    let n: i64 = row.try_get(column)?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{column} = {n}")))
}

fn events_column(row: &AnyRow) -> Result<Vec<String>, StoreError> {
    let text: String = row.try_get("events")?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("subscription event filter: {e}")))
}

fn subscription_from_row(row: &AnyRow) -> Result<SubscriptionRecord, StoreError> {
    let until: Option<String> = row.try_get("previous_secret_until")?;
    Ok(SubscriptionRecord {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        url: row.try_get("url")?,
        events: events_column(row)?,
        description: row.try_get("description")?,
        state: row.try_get("state")?,
        disabled_at: row.try_get("disabled_at")?,
        disabled_reason: row.try_get("disabled_reason")?,
        failing_since: row.try_get("failing_since")?,
        previous_secret_valid_until: until.filter(|until| now() < *until),
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    let status: Option<i64> = row.try_get("last_status")?;
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        subscription_id: row.try_get("subscription_id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        order_id: row.try_get("order_id")?,
        state: row.try_get("state")?,
        attempts: count(row, "attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status: status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.try_get("last_error")?,
        last_attempt_at: row.try_get("last_attempt_at")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}
