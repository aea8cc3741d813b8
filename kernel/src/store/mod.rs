//! Durable state: orders, timelines, idempotency keys, the dispatch outbox.
//!
//! One set of portable SQL migrations and queries runs on both backends
//! through sqlx's `Any` driver: SQLite (WAL) is the zero-set-up default,
//! PostgreSQL is for several hub nodes sharing work. `$N` placeholders work
//! on both.
//!
//! **Invariant:** every state change of an order and the timeline events
//! that explain it are written in one transaction; so is the outbox job
//! that makes an accepted order continue.
//!
//! SQLite allows one writer at a time and sqlx opens deferred transactions,
//! which fail with `SQLITE_BUSY` (not wait) when two readers upgrade at once.
//! The store therefore serialises its own write transactions on SQLite with
//! an async mutex; PostgreSQL needs no such lock.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::problem::Problem;
use crate::timeline::{Actor, EventKind, NewEvent, OrderStatus, TimelineEvent};

mod audit;
mod dispatch;
mod keys;
mod levels;
mod query;
mod replies;
mod webhooks;

pub use audit::{AuditEntry, AuditRecord};
pub use keys::{ApiKeyRecord, NewApiKey};
pub use levels::StoreLevels;
pub use query::OrderFilter;

pub use dispatch::{
    AttemptRecord, ClaimRequest, DeadLetter, DeadLetterFilter, InFlight, JobFinish, LeasedJob, ReplyWait, StoredAttempt,
};
pub use replies::{LedgerEntry, ReplyUpdate, UnmatchedReply};
pub use webhooks::{
    DeliveryFinish, DeliveryRecord, DeliveryTarget, Finished, LeasedDelivery, NewSubscription, SubscriptionRecord,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("order {0} was changed by someone else meanwhile")]
    Conflict(String),
    #[error("unsupported database URL (use sqlite:… or postgres://…)")]
    UnsupportedUrl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Serialises write transactions on SQLite (see module docs); `None` on PostgreSQL.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    /// Rung after a commit that made a job due, so this process's dispatcher
    /// starts it at once instead of at its next poll (other nodes poll).
    outbox_bell: Arc<tokio::sync::Notify>,
    /// Carries the id of every order whose timeline grew, after the commit,
    /// to this process's live readers (SSE). Readers re-read the store, so
    /// a lagging reader loses nothing; other nodes' events reach them by
    /// their periodic re-read.
    timeline_bell: tokio::sync::broadcast::Sender<Arc<str>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// A new order as intake decided it.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: String,
    pub tenant: String,
    pub line: String,
    pub schema_version: u32,
    pub status: OrderStatus,
    pub submission: String,
    pub normalized: serde_json::Value,
    pub problems: Vec<Problem>,
    pub customer_reference: Option<String>,
    pub events: Vec<NewEvent>,
    /// The OPS target routing chose ('' when the hub has no routes); used
    /// for the outbox job of a queued order.
    pub target: String,
    /// The W3C `traceparent` of the intake span; later steps continue it.
    pub traceparent: Option<String>,
}

/// An idempotency key presented with a submission.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub key: String,
    /// SHA-256 of line + body: same key with another request is a conflict.
    pub request_hash: String,
}

/// What `create_order` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(String),
    /// The key was used before; `same_request` tells whether with the same request.
    Replayed {
        order_id: String,
        same_request: bool,
    },
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub id: String,
    pub tenant: String,
    pub line: String,
    pub schema_version: u32,
    pub status: OrderStatus,
    pub submission: String,
    pub normalized: serde_json::Value,
    pub problems: Vec<Problem>,
    pub customer_reference: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision: i64,
    /// The W3C `traceparent` stored at intake (`None` for older orders).
    pub traceparent: Option<String>,
}

/// A staff decision on an order in review.
#[derive(Debug, Clone)]
pub struct ReviewDecision {
    pub order_id: String,
    /// The revision the reviewer saw; a different one means someone else acted.
    pub expected_revision: i64,
    pub status: OrderStatus,
    pub normalized: serde_json::Value,
    pub problems: Vec<Problem>,
    pub events: Vec<NewEvent>,
    /// The OPS target routing chose for the released order.
    pub target: String,
}

/// The current time as stored: RFC 3339 UTC with microseconds (sorts as text).
pub fn now() -> String {
    format_time(chrono::Utc::now())
}

/// The stored form of `now + offset`.
pub fn later(offset: Duration) -> String {
    let offset = chrono::Duration::from_std(offset).unwrap_or(chrono::Duration::MAX);
    format_time(
        chrono::Utc::now()
            .checked_add_signed(offset)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
    )
}

pub fn format_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Pending announcements per live reader before it must re-read the store.
const TIMELINE_BELL_CAPACITY: usize = 4096;

const EVENT_COLUMNS: &str = "id, seq, kind, at, actor_kind, actor_id, message, data, detail";

const ORDER_COLUMNS: &str = "id, tenant, line, schema_version, status, submission, normalized, problems, \
     customer_reference, created_at, updated_at, revision, traceparent";

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            let url = if url.contains('?') || url.contains(":memory:") {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(10));
        let pool = options.connect(&url).await.map_err(StoreError::Connect)?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; the mode is
            // stored in the database file. sqlx already turns on foreign keys
            // and a busy timeout for every SQLite connection.
            sqlx::raw_sql("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(StoreError::Connect)?;
        }
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Store {
            pool,
            backend,
            sqlite_writer: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            outbox_bell: Arc::new(tokio::sync::Notify::new()),
            timeline_bell: tokio::sync::broadcast::channel(TIMELINE_BELL_CAPACITY).0,
        })
    }

    /// Notified whenever this process queues or replays a job.
    pub fn outbox_bell(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_bell.clone()
    }

    /// Announces orders whose timelines grew in this process (see `timeline_bell`).
    pub fn timeline_bell(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.timeline_bell.subscribe()
    }

    /// Called after a commit that appended events to `order_id`'s timeline.
    pub(crate) fn announce(&self, order_id: &str) {
        // No receiver is not an error: nobody is streaming.
        let _ = self.timeline_bell.send(Arc::from(order_id));
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Cheap liveness check for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(
        &self,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Any>, Option<OwnedMutexGuard<()>>), StoreError> {
        let guard = match &self.sqlite_writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        Ok((self.pool.begin().await?, guard))
    }

    /// Stores a new order with its events (and its outbox job when queued)
    /// in one transaction. With an idempotency claim, a key seen before
    /// returns the earlier order instead.
    pub async fn create_order(
        &self,
        order: &NewOrder,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Created, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        insert_order_row(&mut tx, order, &at).await?;
        if let Some(claim) = claim {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (tenant, key, line, request_hash, order_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, key) DO NOTHING",
            )
            .bind(&order.tenant)
            .bind(&claim.key)
            .bind(&order.line)
            .bind(&claim.request_hash)
            .bind(&order.id)
            .bind(&at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                return self.replayed(&order.tenant, claim).await;
            }
        }
        append_events(&mut tx, &order.id, &order.events, &at).await?;
        if order.status == OrderStatus::Queued {
            enqueue_dispatch(&mut tx, &order.id, &order.line, &order.target, &at).await?;
        }
        tx.commit().await?;
        self.announce(&order.id);
        if order.status == OrderStatus::Queued {
            self.outbox_bell.notify_one();
        }
        Ok(Created::New(order.id.clone()))
    }

    async fn replayed(&self, tenant: &str, claim: &IdempotencyClaim) -> Result<Created, StoreError> {
        let row = sqlx::query("SELECT order_id, request_hash FROM idempotency_keys WHERE tenant = $1 AND key = $2")
            .bind(tenant)
            .bind(&claim.key)
            .fetch_one(&self.pool)
            .await?;
        let order_id: String = row.try_get("order_id")?;
        let hash: String = row.try_get("request_hash")?;
        Ok(Created::Replayed {
            order_id,
            same_request: hash == claim.request_hash,
        })
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(order_from_row).transpose()
    }

    /// The trace context stored with an order at intake (`None` for orders
    /// from before traces were kept, or a missing order).
    pub async fn order_traceparent(&self, order_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT traceparent FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("traceparent")?,
            None => None,
        })
    }

    pub async fn timeline(&self, order_id: &str) -> Result<Vec<TimelineEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM order_events WHERE order_id = $1 ORDER BY seq");
        let rows = sqlx::query(&sql).bind(order_id).fetch_all(&self.pool).await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Orders waiting for review, oldest first, after the cursor `(created_at, id)`,
    /// optionally of one business line only.
    pub async fn review_queue(
        &self,
        line: Option<&str>,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        let (after_at, after_id) = after.unwrap_or(("", ""));
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE status = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             AND ($4 = '' OR line = $4) ORDER BY created_at, id LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(OrderStatus::NeedsReview.as_str())
            .bind(after_at)
            .bind(after_id)
            .bind(line.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    /// Applies a staff decision if the order is still at the revision the
    /// reviewer saw; queues the dispatch job when the order continues.
    pub async fn decide_review(&self, decision: &ReviewDecision) -> Result<(), StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let updated = sqlx::query(
            "UPDATE orders SET status = $1, normalized = $2, problems = $3, updated_at = $4, revision = revision + 1 \
             WHERE id = $5 AND revision = $6 AND status = $7",
        )
        .bind(decision.status.as_str())
        .bind(decision.normalized.to_string())
        .bind(problems_json(&decision.problems)?)
        .bind(&at)
        .bind(&decision.order_id)
        .bind(decision.expected_revision)
        .bind(OrderStatus::NeedsReview.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(decision.order_id.clone()));
        }
        append_events(&mut tx, &decision.order_id, &decision.events, &at).await?;
        if decision.status == OrderStatus::Queued {
            let line: String = sqlx::query("SELECT line FROM orders WHERE id = $1")
                .bind(&decision.order_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("line")?;
            enqueue_dispatch(&mut tx, &decision.order_id, &line, &decision.target, &at).await?;
        }
        tx.commit().await?;
        self.announce(&decision.order_id);
        if decision.status == OrderStatus::Queued {
            self.outbox_bell.notify_one();
        }
        Ok(())
    }

    /// Number of outbox jobs for an order (for tests and diagnostics).
    pub async fn dispatch_jobs_for(&self, order_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM dispatch_jobs WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

async fn insert_order_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    order: &NewOrder,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO orders (id, tenant, line, schema_version, status, submission, normalized, problems, \
         customer_reference, created_at, updated_at, revision, traceparent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 1, $11)",
    )
    .bind(&order.id)
    .bind(&order.tenant)
    .bind(&order.line)
    .bind(i64::from(order.schema_version))
    .bind(order.status.as_str())
    .bind(&order.submission)
    .bind(order.normalized.to_string())
    .bind(problems_json(&order.problems)?)
    .bind(order.customer_reference.clone())
    .bind(at)
    .bind(order.traceparent.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an order to `status` (a dispatch or reply outcome; staff actions
/// go through `decide_review`, which also checks the revision).
async fn set_order_status(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    order_id: &str,
    status: OrderStatus,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE orders SET status = $1, updated_at = $2, revision = revision + 1 WHERE id = $3")
        .bind(status.as_str())
        .bind(at)
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn append_events(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    order_id: &str,
    events: &[NewEvent],
    at: &str,
) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM order_events WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&mut **tx)
        .await?;
    let mut seq: i64 = row.try_get("last")?;
    let mut ids = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let id = uuid::Uuid::now_v7().to_string();
        let (actor_kind, actor_id) = event.actor.parts();
        sqlx::query(
            "INSERT INTO order_events (id, order_id, seq, kind, at, actor_kind, actor_id, message, data, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(order_id)
        .bind(seq)
        .bind(event.kind.as_str())
        .bind(at)
        .bind(actor_kind)
        .bind(actor_id)
        .bind(&event.message)
        .bind(event.data.as_ref().map(serde_json::Value::to_string))
        .bind(event.detail.as_ref().map(serde_json::Value::to_string))
        .execute(&mut **tx)
        .await?;
        ids.push(id);
    }
    webhooks::enqueue_deliveries(tx, order_id, events, &ids, at).await?;
    Ok(())
}

async fn enqueue_dispatch(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    order_id: &str,
    line: &str,
    target: &str,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        // the job carries the order's trace context to whichever node runs it
        "INSERT INTO dispatch_jobs (id, order_id, state, attempts, available_at, created_at, target, line, updated_at, \
         traceparent) SELECT $1, $2, 'pending', 0, $3, $3, $4, $5, $3, traceparent FROM orders WHERE id = $2",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(order_id)
    .bind(at)
    .bind(target)
    .bind(line)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn problems_json(problems: &[Problem]) -> Result<String, StoreError> {
    serde_json::to_string(problems).map_err(|e| StoreError::Corrupt(format!("problems do not serialize: {e}")))
}

fn json_column<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

fn order_from_row(row: &AnyRow) -> Result<OrderRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let version: i64 = row.try_get("schema_version")?;
    Ok(OrderRecord {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        line: row.try_get("line")?,
        schema_version: u32::try_from(version).map_err(|_| StoreError::Corrupt(format!("schema version {version}")))?,
        status: OrderStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("unknown status '{status}'")))?,
        submission: row.try_get("submission")?,
        normalized: json_column(row, "normalized")?,
        problems: json_column(row, "problems")?,
        customer_reference: row.try_get("customer_reference")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        revision: row.try_get("revision")?,
        traceparent: row.try_get("traceparent")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<TimelineEvent, StoreError> {
    let kind: String = row.try_get("kind")?;
    let actor_kind: String = row.try_get("actor_kind")?;
    let data: Option<String> = row.try_get("data")?;
    let detail: Option<String> = row.try_get("detail")?;
    Ok(TimelineEvent {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        kind: EventKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown event kind '{kind}'")))?,
        at: row.try_get("at")?,
        actor: Actor::from_parts(&actor_kind, row.try_get("actor_id")?),
        message: row.try_get("message")?,
        data: data
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?,
        detail: detail
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("event detail: {e}")))?,
    })
}
