//! The outbox's lease rules on both backends, at the store level: what a
//! dispatcher relies on when nodes die, stall or shut down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

mod common;

use std::time::Duration;

use hub_kernel::store::{AttemptRecord, ClaimRequest, DeadLetterFilter, JobFinish, LeasedJob, NewOrder, Store, now};
use hub_kernel::timeline::{Actor, EventKind, NewEvent, OrderStatus};
use serde_json::json;

async fn store(backend: common::Backend) -> Store {
    Store::connect(&common::fresh_database(backend).await).await.unwrap()
}

async fn queued_order(store: &Store, target: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    store
        .create_order(
            &NewOrder {
                id: id.clone(),
                tenant: "acme".into(),
                line: "freight-booking".into(),
                schema_version: 1,
                status: OrderStatus::Queued,
                submission: "{}".into(),
                normalized: json!({}),
                problems: vec![],
                customer_reference: None,
                events: vec![],
                target: target.into(),
                traceparent: None,
            },
            None,
        )
        .await
        .unwrap();
    id
}

async fn claim(store: &Store, node: &str, targets: &[&str], lease: Duration) -> Vec<LeasedJob> {
    let targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
    store
        .claim_jobs(&ClaimRequest {
            node,
            targets: &targets,
            limit: 10,
            lease,
        })
        .await
        .unwrap()
}

fn attempt(outcome: &'static str, kind: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        started_at: now(),
        node: "node-a".into(),
        plugin: "rest-json".into(),
        plugin_version: "1.0.0".into(),
        outcome,
        error_kind: kind.map(str::to_owned),
        detail: kind.map(|k| format!("{k} detail")),
    }
}

async fn lease_expiry_fences_the_slow_worker(backend: common::Backend) {
    let store = store(backend).await;
    let order = queued_order(&store, "ops-a").await;
    queued_order(&store, "ops-b").await;

    // Only the asked-for targets are leased, and a live lease is not taken twice.
    let held = claim(&store, "node-a", &["ops-b"], Duration::from_secs(60)).await;
    assert_eq!(held.len(), 1);
    assert!(
        claim(&store, "node-b", &["ops-b"], Duration::from_secs(60))
            .await
            .is_empty()
    );

    // node-a's lease on the ops-a job ends at once (as if it stalled past it)…
    let first = claim(&store, "node-a", &["ops-a"], Duration::ZERO).await;
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].order_id.as_str(), first[0].attempt), (order.as_str(), 1));
    // …so node-b takes the job again (attempt 2)…
    let taken = claim(&store, "node-b", &["ops-a"], Duration::from_secs(60)).await;
    assert_eq!(taken.len(), 1, "an expired lease is taken again");
    assert_eq!(taken[0].attempt, 2);

    // …and node-a's late result is refused, node-b's recorded.
    let late = JobFinish::Done {
        status: OrderStatus::Accepted,
        events: vec![NewEvent::new(
            EventKind::Accepted,
            Actor::Target("ops-a".into()),
            "late",
        )],
        attempt: attempt("accepted", None),
        reply: None,
    };
    assert!(
        !store.finish_job(&first[0], late).await.unwrap(),
        "a fenced worker cannot write"
    );
    let on_time = JobFinish::Done {
        status: OrderStatus::Accepted,
        events: vec![NewEvent::new(
            EventKind::Accepted,
            Actor::Target("ops-a".into()),
            "booked",
        )],
        attempt: attempt("accepted", None),
        reply: None,
    };
    assert!(store.finish_job(&taken[0], on_time).await.unwrap());
    let timeline = store.timeline(&order).await.unwrap();
    assert_eq!(timeline.iter().filter(|e| e.kind == EventKind::Accepted).count(), 1);
    assert_eq!(
        store.order(&order).await.unwrap().unwrap().status,
        OrderStatus::Accepted
    );
}

async fn release_and_dead_letters(backend: common::Backend) {
    let store = store(backend).await;
    let order = queued_order(&store, "ops-a").await;

    // Shutdown gives a job back without counting the attempt.
    let job = claim(&store, "node-a", &["ops-a"], Duration::from_secs(60))
        .await
        .remove(0);
    assert!(store.finish_job(&job, JobFinish::Release).await.unwrap());
    let job = claim(&store, "node-a", &["ops-a"], Duration::from_secs(60))
        .await
        .remove(0);
    assert_eq!(job.attempt, 1, "a released job keeps its attempt");

    // A retry scheduled in the future is not due.
    let retry = JobFinish::Retry {
        available_at: hub_kernel::store::later(Duration::from_secs(3600)),
        events: vec![],
        attempt: attempt("retry", Some("unavailable")),
    };
    assert!(store.finish_job(&job, retry).await.unwrap());
    assert!(
        claim(&store, "node-a", &["ops-a"], Duration::from_secs(60))
            .await
            .is_empty()
    );

    // A dead letter: listed by filter, shown with its attempts, replayed once.
    let other = queued_order(&store, "ops-a").await;
    let job = claim(&store, "node-a", &["ops-a"], Duration::from_secs(60))
        .await
        .remove(0);
    assert_eq!(job.order_id, other);
    let dead = JobFinish::Dead {
        events: vec![NewEvent::new(EventKind::Failed, Actor::System, "gave up")],
        attempt: attempt("dead", Some("unauthorized")),
    };
    assert!(store.finish_job(&job, dead).await.unwrap());
    let filter = |kind: &str| DeadLetterFilter {
        error_kind: Some(kind.into()),
        ..DeadLetterFilter::default()
    };
    assert!(
        store
            .dead_letters(&filter("timeout"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let letters = store.dead_letters(&filter("unauthorized"), None, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].order_id.as_str(), letters[0].tenant.as_str()),
        (other.as_str(), "acme")
    );
    let (_, attempts) = store.dead_letter(&job.id).await.unwrap().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].error_kind.as_deref(), Some("unauthorized"));
    assert_eq!(store.order(&other).await.unwrap().unwrap().status, OrderStatus::Failed);

    let replay = [NewEvent::new(EventKind::Replayed, Actor::Staff("wang".into()), "again")];
    assert!(store.replay_dead_letter(&job.id, &replay).await.unwrap());
    assert!(
        !store.replay_dead_letter(&job.id, &replay).await.unwrap(),
        "a replay is not repeated"
    );
    assert_eq!(store.order(&other).await.unwrap().unwrap().status, OrderStatus::Queued);
    let again = claim(&store, "node-a", &["ops-a"], Duration::from_secs(60))
        .await
        .remove(0);
    assert_eq!((again.id.as_str(), again.attempt, again.round), (job.id.as_str(), 1, 1));
    drop(order);
}

async fn node_leases_fence_a_former_owner(backend: common::Backend) {
    let store = store(backend).await;
    let ttl = Duration::from_millis(300);
    let a = store.acquire_node_lease("pollers", "node-a", ttl).await.unwrap();
    assert_eq!(a, Some(1));
    assert_eq!(
        store.acquire_node_lease("pollers", "node-a", ttl).await.unwrap(),
        Some(1),
        "renewal keeps the token"
    );
    assert_eq!(
        store.acquire_node_lease("pollers", "node-b", ttl).await.unwrap(),
        None,
        "held by node-a"
    );
    store.release_node_lease("pollers", "node-a").await.unwrap();
    assert_eq!(
        store.acquire_node_lease("pollers", "node-b", ttl).await.unwrap(),
        Some(2),
        "new owner, new token"
    );
    assert_eq!(store.acquire_node_lease("pollers", "node-a", ttl).await.unwrap(), None);
}

both_backends!(lease_expiry, lease_expiry_fences_the_slow_worker);
both_backends!(release_retry_dead_replay, release_and_dead_letters);
both_backends!(node_leases, node_leases_fence_a_former_owner);
