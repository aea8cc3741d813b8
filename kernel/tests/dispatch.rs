//! Durable dispatch, end to end: the real `hub` binary as a child process,
//! a real store (SQLite file or PostgreSQL database), the real `rest-json`
//! plugin, and a FreightOps simulator on a loopback socket.
//!
//! Waiting is event-driven: the OPS publishes every request it answers and
//! tests await a condition on its ledger; the hub's state is read from its
//! API or its database until a condition holds, within a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row;
use support::eventually;
use support::hub_process::{
    CUSTOMER_KEY, HubProcess, OPERATOR_KEY, PRINCIPALS, database, free_port, freight_order, fresh_database, temp_dir,
};
use support::ops::{Mode, Ops};
use tokio::sync::watch;

/// One OPS target served by `rest-json`.
struct TargetSpec<'a> {
    name: &'a str,
    base_url: String,
    /// Extra `key = value` lines for the target's table.
    extra: &'a str,
}

/// Writes a hub config into `dir` and returns its path.
fn write_config(dir: &Path, database_url: &str, node: &str, targets: &[TargetSpec<'_>], routes: &str) -> PathBuf {
    let repo = support::repo();
    let mut text = format!(
        r#"database_url = "{database_url}"
schemas_dir = "{schemas}"
{PRINCIPALS}
[plugins]
dir = "{plugins}"
cache_dir = "{cache}"

[dispatch]
node_id = "{node}"
lease_ms = 1500
idle_poll_ms = 20
poller_lease_ms = 1500
shutdown_grace_ms = 2000
"#,
        schemas = repo.join("schemas").display(),
        plugins = repo.join("plugins/dist").display(),
        cache = dir.join("cache").display(),
    );
    for target in targets {
        text.push_str(&format!(
            r#"
[targets.{name}]
plugin = "rest-json"
grants = ["http", "config", "log"]
settings = {{ bookings_path = "bookings" }}
http = {{ base_url = "{base_url}", timeout_ms = 5000 }}
retry = {{ initial_backoff_ms = 100, max_backoff_ms = 1000, max_attempts = 100 }}
breaker = {{ failure_threshold = 5, open_ms = 1000 }}
{extra}
"#,
            name = target.name,
            base_url = target.base_url,
            extra = target.extra,
        ));
    }
    text.push_str(routes);
    let path = dir.join(format!("hub-{node}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

const FREIGHT_ROUTE: &str = r#"
[[routes]]
line = "freight-booking"
target = "freight-ops"
"#;

/// A hub config with one `freight-ops` target on `ops`, on a fresh SQLite file:
/// `(config path, database URL)`.
async fn single_target(name: &str, ops: &Ops, extra: &str) -> (PathBuf, String) {
    let dir = temp_dir(name);
    let url = fresh_database(false, &dir).await;
    let target = TargetSpec {
        name: "freight-ops",
        base_url: ops.base_url(),
        extra,
    };
    (write_config(&dir, &url, name, &[target], FREIGHT_ROUTE), url)
}

/// Submits `order` with an idempotency key; retries across hub restarts
/// (waiting for the next generation of the hub, never sleeping).
async fn submit_surviving_restarts(
    client: &reqwest::Client,
    port: &watch::Receiver<(u64, u16)>,
    key: &str,
    order: &Value,
) -> String {
    let mut port = port.clone();
    loop {
        let (generation, current) = *port.borrow_and_update();
        let sent = client
            .post(format!("http://127.0.0.1:{current}/v1/orders/freight-booking"))
            .bearer_auth(CUSTOMER_KEY)
            .header("idempotency-key", key)
            .json(order)
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            if let Ok(body) = response.json::<Value>().await {
                // a retry of a submission the dead hub had stored replays it (any status by now)
                assert!(matches!(status, 200 | 202), "{status}: {body}");
                return body["order_id"].as_str().unwrap().to_owned();
            }
        }
        // the hub died under us: wait for the next one
        port.wait_for(|(g, _)| *g > generation).await.unwrap();
    }
}

/// Polls `sql` (one integer column) until it returns `expected`.
async fn await_count(pool: &sqlx::AnyPool, sql: &str, expected: i64, limit: Duration) {
    eventually(&format!("`{sql}` = {expected}"), limit, || async {
        let n: i64 = sqlx::query(sql).fetch_one(pool).await.unwrap().get(0);
        if n == expected {
            Ok(())
        } else {
            Err(format!("it is {n}"))
        }
    })
    .await
}

async fn crash_test(postgres: bool) {
    const ORDERS: usize = 2000;
    const KILLS: usize = 5;
    let dir = temp_dir("crash");
    let ops = Ops::start().await;
    let url = fresh_database(postgres, &dir).await;
    let config = write_config(
        &dir,
        &url,
        "crash",
        &[TargetSpec {
            name: "freight-ops",
            base_url: ops.base_url(),
            extra: "concurrency = 16",
        }],
        FREIGHT_ROUTE,
    );
    let port = free_port();
    let mut hub = HubProcess::start(&config, port).await;
    let (generation_tx, generation_rx) = watch::channel((0_u64, port));

    // The customer: 16 submissions in flight, each retried across crashes.
    let client = reqwest::Client::new();
    let submitter = {
        let rx = generation_rx.clone();
        tokio::spawn(async move {
            let semaphore = Arc::new(tokio::sync::Semaphore::new(16));
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..ORDERS {
                let permit = semaphore.clone().acquire_owned().await.unwrap();
                let (client, rx) = (client.clone(), rx.clone());
                tasks.spawn(async move {
                    let key = format!("crash-{i}");
                    let id = submit_surviving_restarts(&client, &rx, &key, &freight_order(&format!("CRASH-{i}"))).await;
                    drop(permit);
                    (key, id)
                });
            }
            let mut ids = HashMap::new();
            while let Some(done) = tasks.join_next().await {
                let (key, id) = done.unwrap();
                ids.insert(key, id);
            }
            ids
        })
    };

    // kill -9 at random moments: when the OPS has booked a random number of orders
    let mut moments: Vec<usize> = (0..KILLS).map(|_| fastrand::usize(50..ORDERS - 50)).collect();
    moments.sort_unstable();
    for (kill, moment) in moments.iter().enumerate() {
        ops.wait_until(&format!("{moment} bookings"), Duration::from_secs(300), |l| {
            l.bookings.len() >= *moment
        })
        .await;
        hub.kill9().await;
        let port = free_port();
        hub = HubProcess::start(&config, port).await;
        generation_tx.send_replace((kill as u64 + 1, port));
    }
    let ids = submitter.await.unwrap();
    assert_eq!(ids.len(), ORDERS);

    ops.wait_until("every order booked", Duration::from_secs(300), |l| {
        l.bookings.len() >= ORDERS
    })
    .await;
    let pool = database(&url).await;
    await_count(
        &pool,
        "SELECT COUNT(*) FROM orders WHERE status = 'accepted'",
        ORDERS as i64,
        Duration::from_secs(120),
    )
    .await;

    // No order was created twice by the customer's retries.
    let orders: i64 = sqlx::query("SELECT COUNT(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, ORDERS as i64);
    // Each idempotency key was booked once, for the order the hub holds under that key.
    let (bookings, repeats) = ops.with(|l| {
        let bookings: HashMap<String, (String, String)> = l.bookings.clone();
        let repeats = l.requests.values().filter(|n| **n > 1).count();
        (bookings, repeats)
    });
    assert_eq!(bookings.len(), ORDERS);
    let hub_ids: std::collections::HashSet<&String> = ids.values().collect();
    for (key, (_, order_id)) in &bookings {
        assert_eq!(key, order_id, "the idempotency key is the order id");
        assert!(
            hub_ids.contains(order_id),
            "booking for an order the customer never got: {order_id}"
        );
    }
    // Each order has exactly one `accepted` event, carrying the OPS's booking number.
    let rows = sqlx::query("SELECT order_id, detail FROM order_events WHERE kind = 'accepted'")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), ORDERS, "one accepted event per order");
    for row in rows {
        let order_id: String = row.get("order_id");
        let detail: Value = serde_json::from_str(&row.get::<String, _>("detail")).unwrap();
        assert_eq!(detail["ops_ref"].as_str(), Some(bookings[&order_id].0.as_str()));
    }
    println!(
        "crash test ({}): {ORDERS} orders, {KILLS} kills at {moments:?} bookings; {repeats} keys were sent more than once (retries after a crash), none booked twice",
        if postgres { "PostgreSQL" } else { "SQLite" }
    );
    assert!(hub.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_test_sqlite_kill9_five_times_over_2000_orders() {
    crash_test(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_test_postgres_kill9_five_times_over_2000_orders() {
    crash_test(true).await;
}

/// Lane status of `target` from `GET /v1/targets`.
async fn lane(hub: &HubProcess, target: &str) -> Value {
    let (status, body) = hub.get(OPERATOR_KEY, "/v1/targets").await;
    assert_eq!(status, 200, "{body}");
    body["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["lane"]["target"] == target)
        .cloned()
        .unwrap_or_else(|| panic!("no target {target} in {body}"))
}

async fn await_lane(hub: &HubProcess, target: &str, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("{target}: {what}"), Duration::from_secs(60), || async {
        let lane = lane(hub, target).await;
        if condition(&lane) {
            Ok(lane)
        } else {
            Err(lane.to_string())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ops_outage_opens_the_breaker_backs_off_and_spares_the_other_target() {
    let dir = temp_dir("outage");
    let (down, healthy) = (Ops::start().await, Ops::start().await);
    down.set_mode(Mode::Down);
    let url = fresh_database(false, &dir).await;
    let routes = r#"
[[routes]]
line = "freight-booking"
target = "freight-ops"
when = [{ field = "/customer_reference", prefix = "DOWN-" }]

[[routes]]
line = "freight-booking"
target = "backup-ops"
"#;
    let config = write_config(
        &dir,
        &url,
        "outage",
        &[
            TargetSpec {
                name: "freight-ops",
                base_url: down.base_url(),
                extra: "",
            },
            TargetSpec {
                name: "backup-ops",
                base_url: healthy.base_url(),
                extra: "",
            },
        ],
        routes,
    );
    let hub = HubProcess::start(&config, free_port()).await;
    let mut down_orders = Vec::new();
    // few enough that the half-open probes soon are retries of failed jobs
    const DOWN_ORDERS: usize = 6;
    for i in 0..DOWN_ORDERS {
        down_orders.push(hub.submit_freight(&format!("DOWN-{i}")).await);
    }
    // The breaker opens after 5 consecutive failures…
    await_lane(&hub, "freight-ops", "the breaker opening", |l| {
        l["lane"]["breaker_opened"].as_u64() >= Some(1)
    })
    .await;
    // …while the healthy target keeps delivering.
    for i in 0..50 {
        hub.submit_freight(&format!("UP-{i}")).await;
    }
    healthy
        .wait_until("50 bookings on the healthy target", Duration::from_secs(60), |l| {
            l.bookings.len() == 50
        })
        .await;
    let during = lane(&hub, "freight-ops").await;
    assert_eq!(during["lane"]["degraded"], true, "{during}");
    // half-open probes fail and the breaker opens again, twice
    await_lane(&hub, "freight-ops", "two failed probes", |l| {
        l["lane"]["breaker_opened"].as_u64() >= Some(3)
    })
    .await;
    let failed_while_down = down.with(|l| l.log.len());
    assert!(
        failed_while_down < 30,
        "the breaker holds jobs back instead of letting each retry on its own ({failed_while_down} requests)"
    );

    // The OPS comes back: everything is delivered, the breaker closes.
    down.set_mode(Mode::Book);
    down.wait_until("every booking after the outage", Duration::from_secs(60), |l| {
        l.bookings.len() == DOWN_ORDERS
    })
    .await;
    await_lane(&hub, "freight-ops", "the breaker closing and all jobs done", |l| {
        l["lane"]["breaker"] == "closed" && l["jobs"]["done"] == DOWN_ORDERS
    })
    .await;

    // Backoff is visible: each failed attempt n was rescheduled at least
    // half of min(100 ms × 2^(n-1), 1 s) later (equal jitter), the probe
    // retries included.
    let pool = database(&url).await;
    let rows = sqlx::query("SELECT detail FROM order_events WHERE kind = 'attempt-failed'")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        rows.len() > DOWN_ORDERS,
        "first attempts and failed probes: {}",
        rows.len()
    );
    let mut highest_attempt = 0;
    for row in rows {
        let detail: Value = serde_json::from_str(&row.get::<String, _>("detail")).unwrap();
        let at: chrono::DateTime<chrono::Utc> = detail["failed_at"].as_str().unwrap().parse().unwrap();
        let attempt = detail["attempt"].as_u64().unwrap();
        let retry_at: chrono::DateTime<chrono::Utc> = detail["retry_at"].as_str().unwrap().parse().unwrap();
        let floor = (100 * 2_i64.pow(attempt as u32 - 1)).min(1000) / 2;
        assert!(
            (retry_at - at).num_milliseconds() >= floor - 1,
            "attempt {attempt}: {detail}"
        );
        assert_eq!(detail["error_kind"], "unavailable");
        highest_attempt = highest_attempt.max(attempt);
    }
    assert!(highest_attempt >= 2, "a job was retried");
    let (_, order) = hub.get(OPERATOR_KEY, &format!("/v1/orders/{}", down_orders[0])).await;
    assert_eq!(order["status"], "accepted", "{order}");
    assert!(hub.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_shown_and_replayed_to_delivery() {
    let ops = Ops::start().await;
    ops.set_mode(Mode::Refuse);
    let (config, url) = single_target("dlq", &ops, "").await;
    let hub = HubProcess::start(&config, free_port()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(hub.submit_freight(&format!("DLQ-{i}")).await);
    }
    // 400 "cannot read" is permanent: parked at once, not retried.
    let pool = database(&url).await;
    await_count(
        &pool,
        "SELECT COUNT(*) FROM dispatch_jobs WHERE state = 'dead'",
        3,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ops.with(|l| l.log.len()), 3, "permanent failures are not retried");

    let (status, list) = hub
        .get(
            OPERATOR_KEY,
            "/v1/dead-letters?target=freight-ops&error_kind=plugin-permanent",
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let letters = list["items"].as_array().unwrap();
    assert_eq!(letters.len(), 3, "{list}");
    let job = letters[0]["job_id"].as_str().unwrap().to_owned();
    let (status, shown) = hub.get(OPERATOR_KEY, &format!("/v1/dead-letters/{job}")).await;
    assert_eq!(status, 200);
    let attempt = &shown["attempts"][0];
    assert_eq!(attempt["plugin"], "rest-json");
    assert_eq!(attempt["plugin_version"], "1.0.0");
    assert_eq!(attempt["outcome"], "dead");
    assert!(attempt["detail"].as_str().unwrap().contains("cannot read"), "{shown}");
    let (status, _) = hub.get(CUSTOMER_KEY, "/v1/dead-letters").await;
    assert_eq!(status, 403, "customers see no dead letters");

    // The CLI sees the same letters.
    let cli = support::hub(&["dlq", "list", "--database", &url]);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    assert_eq!(
        support::stdout(&cli).matches("plugin-permanent").count(),
        3,
        "{}",
        support::stdout(&cli)
    );

    // The OPS is fixed; one replay through the API, the rest in bulk through the CLI.
    ops.set_mode(Mode::Book);
    let response = hub
        .client
        .post(hub.url(&format!("/v1/dead-letters/{job}/replay")))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    ops.wait_until("the replayed order", Duration::from_secs(30), |l| l.bookings.len() == 1)
        .await;
    let cli = support::hub(&[
        "dlq",
        "replay",
        "--all",
        "--target",
        "freight-ops",
        "--database",
        &url,
        "--as",
        "wang",
    ]);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    assert!(
        support::stdout(&cli).contains("replayed 2 of 2"),
        "{}",
        support::stdout(&cli)
    );
    ops.wait_until("all three booked", Duration::from_secs(30), |l| l.bookings.len() == 3)
        .await;
    await_count(
        &pool,
        "SELECT COUNT(*) FROM orders WHERE status = 'accepted'",
        3,
        Duration::from_secs(30),
    )
    .await;

    let (_, order) = hub.get(OPERATOR_KEY, &format!("/v1/orders/{}", ids[0])).await;
    let kinds: Vec<&str> = order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let tail = &kinds[kinds.len() - 3..];
    assert_eq!(tail, ["failed", "replayed", "accepted"], "{kinds:?}");
    let replayed = order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "replayed")
        .unwrap();
    assert_eq!(
        replayed["detail"]["failed_on_plugin_versions"],
        json!(["1.0.0"]),
        "{replayed}"
    );
    // A second replay of a delivered job is refused.
    let again = hub
        .client
        .post(hub.url(&format!("/v1/dead-letters/{job}/replay")))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 404);
    assert!(hub.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_correlated_unmatched_ones_kept_and_missed_deadlines_recorded() {
    let ops = Ops::start().await;
    ops.set_mode(Mode::Queue);
    let token_file = temp_dir("replies-token").join("callback-token");
    std::fs::write(&token_file, "cb-s3cret\n").unwrap();
    let extra = format!(
        "reply_within_ms = 1000\ncallback_token = {{ file = \"{}\" }}",
        token_file.display()
    );
    let (config, url) = single_target("replies", &ops, &extra).await;
    let hub = HubProcess::start(&config, free_port()).await;
    let mut ids = Vec::new();
    for i in 0..2 {
        ids.push(hub.submit_freight(&format!("REPLY-{i}")).await);
    }
    let pool = database(&url).await;
    await_count(
        &pool,
        "SELECT COUNT(*) FROM orders WHERE status = 'submitted'",
        2,
        Duration::from_secs(30),
    )
    .await;
    let mut tracking = Vec::new();
    for id in &ids {
        let row = sqlx::query("SELECT correlation_id FROM reply_ledger WHERE order_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        tracking.push(row.get::<String, _>("correlation_id"));
    }

    let callback = |token: &'static str, body: Value| {
        let request = hub
            .client
            .post(hub.url("/v1/callbacks/freight-ops"))
            .bearer_auth(token)
            .json(&body);
        async move { support::hub_process::read(request.send().await.unwrap()).await }
    };
    // The OPS confirms the first order (Chinese remarks survive).
    let confirm =
        json!({ "trackingId": tracking[0], "bookingNo": "FO-9", "status": "CONFIRMED", "remarks": "已确认 李娜" });
    let (status, report) = callback("wrong-token", confirm.clone()).await;
    assert_eq!(status, 401, "{report}");
    let (status, report) = callback("cb-s3cret", confirm.clone()).await;
    assert_eq!((status, report["applied"].as_u64()), (202, Some(1)), "{report}");
    let (status, report) = callback("cb-s3cret", confirm).await;
    assert_eq!(
        (status, report["duplicates"].as_u64()),
        (202, Some(1)),
        "the same report twice adds nothing"
    );
    let (_, order) = hub.get(CUSTOMER_KEY, &format!("/v1/orders/{}", ids[0])).await;
    assert_eq!(order["status"], "accepted", "{order}");
    assert!(order.to_string().contains("已确认 李娜"), "{order}");

    // An answer for nobody is kept, with its body.
    let stray = json!({ "trackingId": "TRK-404", "status": "CONFIRMED", "bookingNo": "FO-404" });
    let (status, report) = callback("cb-s3cret", stray).await;
    assert_eq!((status, report["unmatched"].as_u64()), (202, Some(1)), "{report}");
    let (_, unmatched) = hub.get(OPERATOR_KEY, "/v1/replies/unmatched").await;
    let kept = &unmatched["items"][0];
    assert_eq!(kept["correlation_id"], "TRK-404", "{unmatched}");
    assert!(kept["reason"].as_str().unwrap().contains("TRK-404"));
    assert!(!kept["body"].as_str().unwrap().is_empty());

    // The second order's OPS never answers: after 1 s the deadline is missed.
    let overdue = eventually("a missed reply deadline recorded", Duration::from_secs(30), || async {
        let (_, overdue) = hub.get(OPERATOR_KEY, "/v1/replies/overdue").await;
        if overdue["items"].as_array().unwrap().is_empty() {
            Err(overdue.to_string())
        } else {
            Ok(overdue)
        }
    })
    .await;
    assert_eq!(overdue["items"][0]["order_id"], ids[1].as_str(), "{overdue}");
    let (_, order) = hub.get(CUSTOMER_KEY, &format!("/v1/orders/{}", ids[1])).await;
    assert!(
        order["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "reply-overdue"),
        "{order}"
    );
    assert!(hub.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_postgres_share_the_work_and_take_over_from_a_dead_one() {
    let dir = temp_dir("two-nodes");
    let ops = Ops::start().await;
    let url = fresh_database(true, &dir).await;
    let target = || TargetSpec {
        name: "freight-ops",
        base_url: ops.base_url(),
        extra: "poll_interval_ms = 200",
    };
    let config_a = write_config(&dir, &url, "node-a", &[target()], FREIGHT_ROUTE);
    let config_b = write_config(&dir, &url, "node-b", &[target()], FREIGHT_ROUTE);
    let a = HubProcess::start(&config_a, free_port()).await;
    let b = HubProcess::start(&config_b, free_port()).await;

    // Phase 1: 300 orders through both nodes; each is delivered exactly once.
    for i in 0..300 {
        let hub = if i % 2 == 0 { &a } else { &b };
        hub.submit_freight(&format!("TWO-{i}")).await;
    }
    ops.wait_until("300 bookings", Duration::from_secs(120), |l| l.bookings.len() == 300)
        .await;
    let pool = database(&url).await;
    await_count(
        &pool,
        "SELECT COUNT(*) FROM orders WHERE status = 'accepted'",
        300,
        Duration::from_secs(60),
    )
    .await;
    assert!(
        ops.with(|l| l.requests.values().all(|n| *n == 1)),
        "SKIP LOCKED: no job was taken by both nodes"
    );
    let by_node: BTreeMap<String, i64> = sqlx::query("SELECT node, COUNT(*) AS n FROM dispatch_attempts GROUP BY node")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("node"), r.get("n")))
        .collect();
    assert_eq!(by_node.len(), 2, "both nodes did work: {by_node:?}");

    // Phase 2: the OPS hangs, both nodes hold jobs; the poller's node dies.
    let (_, targets) = a.get(OPERATOR_KEY, "/v1/targets").await;
    let poller = targets["pollers"]["node"].as_str().unwrap().to_owned();
    let token_before = targets["pollers"]["token"].as_i64().unwrap();
    let (victim, survivor, survivor_name) = if poller == "node-a" {
        (a, b, "node-b")
    } else {
        (b, a, "node-a")
    };
    ops.set_gate(false);
    for i in 0..40 {
        survivor.submit_freight(&format!("TAKEOVER-{i}")).await;
    }
    await_count(
        &pool,
        "SELECT COUNT(DISTINCT lease_owner) FROM dispatch_jobs WHERE state = 'leased'",
        2,
        Duration::from_secs(30),
    )
    .await;
    victim.kill9().await;
    ops.set_gate(true);
    ops.wait_until("340 bookings", Duration::from_secs(120), |l| l.bookings.len() == 340)
        .await;
    await_count(
        &pool,
        "SELECT COUNT(*) FROM orders WHERE status = 'accepted'",
        340,
        Duration::from_secs(60),
    )
    .await;
    // the dead node's leases expired and the survivor finished its jobs
    let finished_by_survivor: i64 = sqlx::query(
        "SELECT COUNT(DISTINCT a.job_id) FROM dispatch_attempts a JOIN dispatch_jobs j ON j.id = a.job_id \
         JOIN orders o ON o.id = j.order_id WHERE o.customer_reference LIKE 'TAKEOVER-%' AND a.node = $1",
    )
    .bind(survivor_name)
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(
        finished_by_survivor, 40,
        "every takeover order was finished by the survivor"
    );
    // …and the pollers moved to the survivor, under a new fencing token.
    let targets = eventually("the poller moving to the survivor", Duration::from_secs(30), || async {
        let (_, targets) = survivor.get(OPERATOR_KEY, "/v1/targets").await;
        if targets["pollers"]["node"] == survivor_name {
            Ok(targets)
        } else {
            Err(targets.to_string())
        }
    })
    .await;
    assert!(
        targets["pollers"]["token"].as_i64().unwrap() > token_before,
        "{targets}"
    );
    assert!(survivor.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_unfinished_jobs_back_to_the_outbox_uncounted() {
    let ops = Ops::start().await;
    let (config, url) = single_target("drain", &ops, "").await;
    let hub = HubProcess::start(&config, free_port()).await;
    ops.set_gate(false); // the OPS hangs: the job stays in flight
    let order_id = hub.submit_freight("DRAIN-1").await;
    let pool = database(&url).await;
    await_count(
        &pool,
        "SELECT COUNT(*) FROM dispatch_jobs WHERE state = 'leased'",
        1,
        Duration::from_secs(30),
    )
    .await;

    // SIGTERM: the grace period (2 s) passes, the job goes back, the hub exits cleanly.
    assert!(hub.terminate().await.success());
    let row = sqlx::query("SELECT state, attempts, lease_owner FROM dispatch_jobs WHERE order_id = $1")
        .bind(&order_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("state"), "pending");
    assert_eq!(
        row.get::<i64, _>("attempts"),
        0,
        "an attempt cut short by shutdown is not counted"
    );
    assert_eq!(row.get::<Option<String>, _>("lease_owner"), None);

    // The next start delivers it.
    ops.set_gate(true);
    let hub = HubProcess::start(&config, free_port()).await;
    await_count(
        &pool,
        "SELECT COUNT(*) FROM orders WHERE status = 'accepted'",
        1,
        Duration::from_secs(30),
    )
    .await;
    assert!(hub.terminate().await.success());
}
