//! Dead letters: jobs whose retry budget is spent or whose failure was
//! permanent, parked with their attempt history until an operator acts.
//!
//! One implementation serves the API (`/v1/dead-letters…`) and the CLI
//! (`hub dlq …`). A replay puts the job back in the outbox with a fresh
//! retry budget and the *same* idempotency key, so an OPS that did book the
//! order after all answers with the existing booking. A replay may run on a
//! newer plugin version than the attempts that failed; the timeline records
//! both.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;

use crate::plugins::PluginHost;
use crate::store::{DeadLetterFilter, Store, StoreError};
use crate::timeline::{Actor, EventKind, NewEvent};

/// What a bulk replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub matched: u32,
    pub replayed: u32,
    /// Matched but no longer dead when their turn came (replayed by someone else).
    pub skipped: u32,
}

/// Replays one dead letter. `Ok(false)`: no such dead letter (now).
pub async fn replay_one(
    store: &Store,
    plugins: Option<&PluginHost>,
    job_id: &str,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let Some((letter, attempts)) = store.dead_letter(job_id).await? else {
        return Ok(false);
    };
    let failed_on: BTreeSet<String> = attempts.iter().map(|a| a.plugin_version.clone()).collect();
    let serving = plugins
        .and_then(|host| host.call_for(&letter.target))
        .map(|call| call.plugin().version().to_string());
    let newer = serving.as_ref().is_some_and(|version| !failed_on.contains(version));
    let event = NewEvent::new(
        EventKind::Replayed,
        actor.clone(),
        "We are sending the order to the operations system again",
    )
    .with_detail(json!({
        "job_id": job_id,
        "target": letter.target,
        "round": letter.replays + 1,
        "failed_on_plugin_versions": failed_on,
        "serving_plugin_version": serving,
        "newer_plugin_version": newer,
        "last_error_kind": letter.error_kind,
    }));
    let replayed = store.replay_dead_letter(job_id, &[event]).await?;
    if replayed {
        tracing::info!(job_id, order_id = %letter.order_id, target = %letter.target, actor = ?actor, "dead letter replayed");
    }
    Ok(replayed)
}

/// Every dead letter matching `filter`, as a snapshot taken first (a job
/// that dies again during the run is not replayed twice).
pub async fn matching(store: &Store, filter: &DeadLetterFilter) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::new();
    let mut cursor: Option<(String, String)> = None;
    loop {
        let page = store
            .dead_letters(filter, cursor.as_ref().map(|(a, b)| (a.as_str(), b.as_str())), 500)
            .await?;
        let Some(last) = page.last() else { break };
        cursor = Some((last.dead_at.clone(), last.job_id.clone()));
        let full = page.len() == 500;
        ids.extend(page.into_iter().map(|letter| letter.job_id));
        if !full {
            break;
        }
    }
    Ok(ids)
}

/// Replays every dead letter matching `filter`; `progress(done, total)` after each.
pub async fn replay_matching(
    store: &Store,
    plugins: Option<&PluginHost>,
    filter: &DeadLetterFilter,
    actor: &Actor,
    mut progress: impl FnMut(u32, u32),
) -> Result<ReplayReport, StoreError> {
    let ids = matching(store, filter).await?;
    let total = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let mut report = ReplayReport {
        matched: total,
        ..ReplayReport::default()
    };
    for (done, id) in ids.iter().enumerate() {
        if replay_one(store, plugins, id, actor).await? {
            report.replayed += 1;
        } else {
            report.skipped += 1;
        }
        progress(u32::try_from(done + 1).unwrap_or(u32::MAX), total);
    }
    Ok(report)
}
