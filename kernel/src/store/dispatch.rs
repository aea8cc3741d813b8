//! The outbox as the dispatcher sees it: leases, attempts, dead letters.
//!
//! **Invariants**
//! - A job is taken by setting `state = 'leased'` with an owner, a fresh
//!   `lease_token` and `lease_until`; an expired lease is taken like a
//!   pending job. On PostgreSQL the candidate rows are locked with
//!   `FOR UPDATE SKIP LOCKED`, so nodes never wait on each other's jobs.
//! - Every outcome is written with `WHERE id = … AND lease_token = …`: a
//!   worker whose lease expired (it was slow, or presumed dead) finds its
//!   result refused and leaves the job to its new holder. Delivery is
//!   therefore at-least-once; the plugin's idempotency key (the order id)
//!   makes the repeat harmless at the OPS.
//! - The job's outcome, the order's new status, its timeline events, the
//!   attempt record and (for `pending`) the reply ledger entry are one
//!   transaction.
//! - Taking a job counts an attempt, so a job that kills its worker every
//!   time still runs out of retries instead of looping forever.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError, append_events, later, now, set_order_status};
use crate::timeline::{NewEvent, OrderStatus};

/// What a worker asks for.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    /// This node's id, recorded as the lease owner.
    pub node: &'a str,
    /// Targets whose jobs may be taken (open breakers and full targets are left out).
    pub targets: &'a [String],
    pub limit: u32,
    pub lease: Duration,
}

/// A job this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedJob {
    pub id: String,
    pub order_id: String,
    pub target: String,
    pub line: String,
    /// This attempt's number (1 = first) within the current round.
    pub attempt: u32,
    /// How many times an operator replayed the job (the attempt round).
    pub round: u32,
    /// The order's trace context, continued by this attempt.
    pub traceparent: Option<String>,
    /// When the job was queued (stored time format).
    pub queued_at: String,
    pub lease_token: String,
}

/// One finished attempt, as recorded.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_at: String,
    pub node: String,
    pub plugin: String,
    pub plugin_version: String,
    /// `accepted`, `pending`, `rejected`, `retry`, `dead`.
    pub outcome: &'static str,
    pub error_kind: Option<String>,
    pub detail: Option<String>,
}

/// A reply the OPS still owes (an order that returned `pending`).
#[derive(Debug, Clone)]
pub struct ReplyWait {
    pub correlation_id: String,
    /// '' when the target sets no reply deadline.
    pub reply_due: String,
}

/// An attempt in flight: a job leased, its lease not expired.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InFlight {
    pub job_id: String,
    pub order_id: String,
    /// A new lease (the next attempt) has a new token: the same job with
    /// another token is another attempt.
    pub lease_token: String,
}

/// How a leased job ends.
#[derive(Debug, Clone)]
pub enum JobFinish {
    /// Delivered: the OPS accepted, rejected, or will answer later.
    Done {
        status: OrderStatus,
        events: Vec<NewEvent>,
        attempt: AttemptRecord,
        reply: Option<ReplyWait>,
    },
    /// Failed, to be tried again at `available_at`.
    Retry {
        available_at: String,
        events: Vec<NewEvent>,
        attempt: AttemptRecord,
    },
    /// Parked as a dead letter; the order becomes `failed`.
    Dead {
        events: Vec<NewEvent>,
        attempt: AttemptRecord,
    },
    /// Given back untried (shutdown): pending again, the attempt not counted.
    Release,
}

/// A dead letter as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub job_id: String,
    pub order_id: String,
    pub tenant: String,
    pub target: String,
    pub line: String,
    pub attempts: u32,
    pub replays: u32,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub dead_at: String,
    pub created_at: String,
}

/// Which dead letters to list or replay; every field narrows.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterFilter {
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub line: Option<String>,
    /// Dead since (inclusive), RFC 3339.
    #[serde(default)]
    pub since: Option<String>,
    /// Dead before (exclusive), RFC 3339.
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub error_kind: Option<String>,
}

/// One attempt as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredAttempt {
    pub round: u32,
    pub attempt: u32,
    pub started_at: String,
    pub finished_at: String,
    pub node: String,
    pub plugin: String,
    pub plugin_version: String,
    pub outcome: String,
    pub error_kind: Option<String>,
    pub detail: Option<String>,
}

const DEAD_LETTER_COLUMNS: &str = "j.id AS job_id, j.order_id, o.tenant, j.target, j.line, j.attempts, j.replays, \
     j.last_error_kind, j.last_error, j.dead_at, j.created_at";

impl Store {
    /// Leases up to `limit` due jobs of the given targets (oldest due first).
    pub async fn claim_jobs(&self, request: &ClaimRequest<'_>) -> Result<Vec<LeasedJob>, StoreError> {
        if request.targets.is_empty() || request.limit == 0 {
            return Ok(Vec::new());
        }
        let at = now();
        let until = later(request.lease);
        let token = uuid::Uuid::now_v7().to_string();
        let targets: Vec<String> = (0..request.targets.len()).map(|i| format!("${}", i + 6)).collect();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE dispatch_jobs SET state = 'leased', lease_owner = $1, lease_token = $2, lease_until = $3, \
             updated_at = $4, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM dispatch_jobs WHERE \
             ((state = 'pending' AND available_at <= $4) OR (state = 'leased' AND lease_until < $4)) \
             AND target IN ({}) ORDER BY available_at LIMIT $5{lock}) \
             RETURNING id, order_id, target, line, attempts, replays, traceparent, created_at",
            targets.join(", ")
        );
        let (mut tx, _guard) = self.begin_write().await?;
        let mut query = sqlx::query(&sql)
            .bind(request.node)
            .bind(&token)
            .bind(&until)
            .bind(&at)
            .bind(i64::from(request.limit));
        for target in request.targets {
            query = query.bind(target);
        }
        let rows = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(LeasedJob {
                    id: row.try_get("id")?,
                    order_id: row.try_get("order_id")?,
                    target: row.try_get("target")?,
                    line: row.try_get("line")?,
                    attempt: count(row, "attempts")?,
                    round: count(row, "replays")?,
                    traceparent: row.try_get("traceparent")?,
                    queued_at: row.try_get("created_at")?,
                    lease_token: token.clone(),
                })
            })
            .collect()
    }

    /// Which of `targets` have jobs due now (pending and due, or an expired lease).
    pub async fn due_targets(&self, targets: &[String]) -> Result<std::collections::BTreeSet<String>, StoreError> {
        if targets.is_empty() {
            return Ok(Default::default());
        }
        let placeholders: Vec<String> = (0..targets.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT DISTINCT target FROM dispatch_jobs WHERE \
             ((state = 'pending' AND available_at <= $1) OR (state = 'leased' AND lease_until < $1)) \
             AND target IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(now());
        for target in targets {
            query = query.bind(target);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok(row.try_get("target")?)).collect()
    }

    /// Records how a leased job ended. `Ok(false)`: the lease was lost (it
    /// expired and another worker holds the job); nothing was written.
    pub async fn finish_job(&self, job: &LeasedJob, finish: JobFinish) -> Result<bool, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let (state, available_at, attempts_delta, order_status, events, attempt, reply) = match finish {
            JobFinish::Done {
                status,
                events,
                attempt,
                reply,
            } => ("done", None, 0_i64, Some(status), events, Some(attempt), reply),
            JobFinish::Retry {
                available_at,
                events,
                attempt,
            } => ("pending", Some(available_at), 0, None, events, Some(attempt), None),
            JobFinish::Dead { events, attempt } => {
                ("dead", None, 0, Some(OrderStatus::Failed), events, Some(attempt), None)
            }
            JobFinish::Release => ("pending", Some(at.clone()), 1, None, Vec::new(), None, None),
        };
        let (error_kind, error) = attempt
            .as_ref()
            .map(|a| (a.error_kind.clone(), a.detail.clone()))
            .unwrap_or_default();
        let updated = sqlx::query(
            "UPDATE dispatch_jobs SET state = $1, available_at = COALESCE($2, available_at), \
             attempts = attempts - $3, lease_owner = NULL, lease_token = NULL, lease_until = NULL, updated_at = $4, \
             last_error_kind = COALESCE($5, last_error_kind), last_error = COALESCE($6, last_error), \
             dead_at = CASE WHEN $1 = 'dead' THEN $4 ELSE dead_at END \
             WHERE id = $7 AND lease_token = $8 AND state = 'leased'",
        )
        .bind(state)
        .bind(available_at)
        .bind(attempts_delta)
        .bind(&at)
        .bind(error_kind)
        .bind(error)
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(attempt) = attempt {
            sqlx::query(
                "INSERT INTO dispatch_attempts (job_id, round, attempt, started_at, finished_at, node, plugin, \
                 plugin_version, outcome, error_kind, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&job.id)
            .bind(i64::from(job.round))
            .bind(i64::from(job.attempt))
            .bind(&attempt.started_at)
            .bind(&at)
            .bind(&attempt.node)
            .bind(&attempt.plugin)
            .bind(&attempt.plugin_version)
            .bind(attempt.outcome)
            .bind(&attempt.error_kind)
            .bind(&attempt.detail)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(status) = order_status {
            set_order_status(&mut tx, &job.order_id, status, &at).await?;
        }
        append_events(&mut tx, &job.order_id, &events, &at).await?;
        if let Some(reply) = reply {
            super::replies::insert_ledger(&mut tx, &job.target, &job.order_id, &reply, &at).await?;
        }
        tx.commit().await?;
        self.announce(&job.order_id);
        Ok(true)
    }

    /// Extends the lease of jobs still in flight (long calls on a short lease).
    pub async fn renew_leases(&self, jobs: &[(String, String)], lease: Duration) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let (mut tx, _guard) = self.begin_write().await?;
        let until = later(lease);
        for (id, token) in jobs {
            sqlx::query(
                "UPDATE dispatch_jobs SET lease_until = $1 WHERE id = $2 AND lease_token = $3 AND state = 'leased'",
            )
            .bind(&until)
            .bind(id)
            .bind(token)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The attempts of `target` in flight now (leased, lease not expired),
    /// whichever node holds them. A reply that matches no ledger row may
    /// belong to one of them, not recorded yet (see [`crate::replies`]).
    pub async fn attempts_in_flight(&self, target: &str) -> Result<Vec<InFlight>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, order_id, lease_token FROM dispatch_jobs \
             WHERE target = $1 AND state = 'leased' AND lease_until >= $2",
        )
        .bind(target)
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(InFlight {
                    job_id: row.try_get("id")?,
                    order_id: row.try_get("order_id")?,
                    lease_token: row.try_get::<Option<String>, _>("lease_token")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Jobs per state for one target (or all), for operator views and tests.
    pub async fn job_counts(&self, target: Option<&str>) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM dispatch_jobs WHERE ($1 = '' OR target = $1) GROUP BY state ORDER BY state",
        )
        .bind(target.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
            .collect()
    }

    /// Dead letters matching `filter`, oldest first, after the cursor `(dead_at, job_id)`.
    pub async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let (after_at, after_id) = after.unwrap_or(("", ""));
        let sql = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dispatch_jobs j JOIN orders o ON o.id = j.order_id \
             WHERE j.state = 'dead' AND ($1 = '' OR j.target = $1) AND ($2 = '' OR j.line = $2) \
             AND ($3 = '' OR j.dead_at >= $3) AND ($4 = '' OR j.dead_at < $4) \
             AND ($5 = '' OR j.last_error_kind = $5) \
             AND (j.dead_at > $6 OR (j.dead_at = $6 AND j.id > $7)) ORDER BY j.dead_at, j.id LIMIT $8"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.target.clone().unwrap_or_default())
            .bind(filter.line.clone().unwrap_or_default())
            .bind(filter.since.clone().unwrap_or_default())
            .bind(filter.until.clone().unwrap_or_default())
            .bind(filter.error_kind.clone().unwrap_or_default())
            .bind(after_at)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    /// One dead letter (or any job, by id) with its full attempt history.
    pub async fn dead_letter(&self, job_id: &str) -> Result<Option<(DeadLetter, Vec<StoredAttempt>)>, StoreError> {
        let sql = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dispatch_jobs j JOIN orders o ON o.id = j.order_id \
             WHERE j.id = $1 AND j.state = 'dead'"
        );
        let Some(row) = sqlx::query(&sql).bind(job_id).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let letter = dead_letter_from_row(&row)?;
        let attempts = self.attempts(job_id).await?;
        Ok(Some((letter, attempts)))
    }

    /// Every recorded attempt of a job, in order.
    pub async fn attempts(&self, job_id: &str) -> Result<Vec<StoredAttempt>, StoreError> {
        let rows = sqlx::query(
            "SELECT round, attempt, started_at, finished_at, node, plugin, plugin_version, outcome, error_kind, detail \
             FROM dispatch_attempts WHERE job_id = $1 ORDER BY round, attempt",
        )
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredAttempt {
                    round: count(row, "round")?,
                    attempt: count(row, "attempt")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    node: row.try_get("node")?,
                    plugin: row.try_get("plugin")?,
                    plugin_version: row.try_get("plugin_version")?,
                    outcome: row.try_get("outcome")?,
                    error_kind: row.try_get("error_kind")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    /// The job ids of an order (a replayed order keeps its one job).
    pub async fn jobs_of_order(&self, order_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM dispatch_jobs WHERE order_id = $1 ORDER BY created_at")
            .bind(order_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }

    /// Sends a dead letter again: pending now, a fresh retry budget, the
    /// order back to `queued`, `events` (who replayed, on which plugin
    /// version) on its timeline. `Ok(false)` when the job is not (or no
    /// longer) a dead letter — a second replay of the same job is a no-op.
    pub async fn replay_dead_letter(&self, job_id: &str, events: &[NewEvent]) -> Result<bool, StoreError> {
        let (mut tx, _guard) = self.begin_write().await?;
        let at = now();
        let row = sqlx::query(
            "UPDATE dispatch_jobs SET state = 'pending', attempts = 0, replays = replays + 1, available_at = $1, \
             updated_at = $1, dead_at = NULL WHERE id = $2 AND state = 'dead' RETURNING order_id",
        )
        .bind(&at)
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let order_id: String = row.try_get("order_id")?;
        set_order_status(&mut tx, &order_id, OrderStatus::Queued, &at).await?;
        append_events(&mut tx, &order_id, events, &at).await?;
        tx.commit().await?;
        self.announce(&order_id);
        self.outbox_bell.notify_one();
        Ok(true)
    }
}

fn count(row: &AnyRow, column: &str) -> Result<u32, StoreError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("column {column} holds {value}")))
}

fn dead_letter_from_row(row: &AnyRow) -> Result<DeadLetter, StoreError> {
    Ok(DeadLetter {
        job_id: row.try_get("job_id")?,
        order_id: row.try_get("order_id")?,
        tenant: row.try_get("tenant")?,
        target: row.try_get("target")?,
        line: row.try_get("line")?,
        attempts: count(row, "attempts")?,
        replays: count(row, "replays")?,
        error_kind: row.try_get("last_error_kind")?,
        error: row.try_get("last_error")?,
        dead_at: row.try_get::<Option<String>, _>("dead_at")?.unwrap_or_default(),
        created_at: row.try_get("created_at")?,
    })
}
