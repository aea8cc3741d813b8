//! The hub's status model end to end: a FreightOps that queues bookings for
//! a clerk and is polled (`rest-json` plugin, `poll_interval_ms = 100`)
//! reports CONFIRMED, a status the plugin cannot map, IN_TRANSIT,
//! ARRIVED, INVOICED and DELIVERED, each across several polls. The
//! timeline gets exactly one event per change, in order, with milestones
//! and the invoice as customer-visible data; the invoice leaves the
//! status alone; customers see messages and data, never the internal
//! detail (the OPS's raw codes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::time::Duration;

use hub_e2e::hub::{CUSTOMER_KEY, TestHub, events, eventually, example_order};
use hub_e2e::servers::freight_rest::FreightRestOps;
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(30);

/// Polls of a report to wait for after setting it. The hub polls one round
/// at a time, so when the OPS sees poll `n + POLLS`, the `POLLS - 1` polls
/// before it saw the new report and were applied.
const POLLS: usize = 4;

fn target(ops: &FreightRestOps) -> String {
    ops.target_config("poll_interval_ms = 100")
}

/// The events after the hand-over to the OPS: what its reports added.
fn reported(order: &Value) -> Vec<Value> {
    let all = events(order);
    let submitted = all
        .iter()
        .position(|e| e["kind"] == "submitted")
        .unwrap_or_else(|| panic!("no submitted event: {order:#}"));
    all[submitted + 1..].to_vec()
}

/// The OPS answers `report` from now on; waits until it was polled
/// [`POLLS`] more times and returns the order as staff see it.
async fn report_across_polls(hub: &TestHub, ops: &FreightRestOps, id: &str, tracking: &str, report: Value) -> Value {
    ops.set_report(tracking, report);
    let from = ops.polls(tracking);
    eventually(WITHIN, async || {
        let polls = ops.polls(tracking);
        if polls >= from + POLLS {
            Ok(())
        } else {
            Err(format!(
                "the OPS was polled {polls} times, waiting for {}",
                from + POLLS
            ))
        }
    })
    .await;
    hub.order(id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_produces_one_event_per_change_with_milestones_and_finance() {
    let ops = FreightRestOps::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    ops.set_queue(true);
    let hub = TestHub::start(&target(&ops)).await;
    let id = hub
        .submit("freight-booking", &example_order("freight-booking", "messy-fcl"))
        .await;
    hub.wait_for_status(&id, &["submitted"], WITHIN).await;
    let tracking = ops.tracking_ids().pop().unwrap();

    // QUEUED for several polls: nothing new, nothing on the timeline.
    let order = report_across_polls(&hub, &ops, &id, &tracking, json!({"status": "QUEUED"})).await;
    assert_eq!(order["status"], "submitted", "{order:#}");
    assert!(reported(&order).is_empty(), "{order:#}");

    // Each report is repeated across POLLS polls; each adds exactly one event.
    let steps: [(Value, &str, &str); 6] = [
        (
            json!({"status": "CONFIRMED", "bookingNo": "FO-2026-000124"}),
            "accepted",
            "accepted",
        ),
        (json!({"status": "VGM_PENDING"}), "in-progress", "in-progress"),
        (
            json!({"status": "IN_TRANSIT", "at": "2026-11-09T22:15:00+08:00"}),
            "in-progress",
            "in-progress",
        ),
        (
            json!({"status": "ARRIVED", "remarks": "已到港 arrived at Hamburg"}),
            "in-progress",
            "in-progress",
        ),
        (
            json!({"status": "INVOICED", "invoiceNo": "INV-2026-0042", "amount": "18650.00", "currency": "CNY"}),
            "invoice-issued",
            // finance: the order stays where it was
            "in-progress",
        ),
        (json!({"status": "DELIVERED"}), "completed", "completed"),
    ];
    let mut expected_kinds = Vec::new();
    for (report, kind, status) in steps {
        let order = if status == "completed" {
            // Completed closes the order's ledger row: polling it stops.
            ops.set_report(&tracking, report.clone());
            hub.wait_for_status(&id, &["completed"], WITHIN).await
        } else {
            report_across_polls(&hub, &ops, &id, &tracking, report.clone()).await
        };
        expected_kinds.push(kind);
        let kinds: Vec<String> = reported(&order)
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kinds, expected_kinds, "after {report}: {order:#}");
        assert_eq!(order["status"], status, "after {report}: {order:#}");
    }

    let order = hub.order(&id).await;
    let ours = reported(&order);
    let [accepted, unmapped, departed, arrived, invoice, completed] = &ours[..] else {
        panic!("{order:#}")
    };
    assert_eq!(accepted["data"], json!({"ops_ref": "FO-2026-000124"}), "{accepted:#}");
    // A status the plugin cannot map: progress, the raw code for staff only.
    assert_eq!(unmapped["data"], Value::Null, "{unmapped:#}");
    assert_eq!(unmapped["detail"]["code"], "VGM_PENDING", "{unmapped:#}");
    assert_eq!(unmapped["message"], "The operations system reported progress");
    assert_eq!(
        departed["data"],
        json!({"milestone": "departed", "occurred_at": "2026-11-09T22:15:00+08:00"})
    );
    assert_eq!(departed["message"], "Departed from origin");
    assert_eq!(departed["detail"]["code"], "IN_TRANSIT");
    assert_eq!(arrived["data"], json!({"milestone": "arrived"}));
    assert_eq!(arrived["message"], "已到港 arrived at Hamburg");
    assert_eq!(
        invoice["data"],
        json!({"document": "INV-2026-0042", "amount": "18650.00", "currency": "CNY"})
    );
    assert_eq!(invoice["message"], "Invoice INV-2026-0042 issued: 18650.00 CNY");
    assert_eq!(completed["data"], json!({"milestone": "delivered"}));
    assert_eq!(completed["message"], "Delivered");

    // The customer reads messages and data, never the internal detail.
    let (status, mine) = hub.get(CUSTOMER_KEY, &format!("/v1/orders/{id}")).await;
    assert_eq!(status, 200, "{mine:#}");
    let seen = reported(&mine);
    assert_eq!(seen.len(), 6, "{mine:#}");
    for (theirs, ours) in seen.iter().zip(&ours) {
        assert!(theirs.get("detail").is_none(), "detail shown to a customer: {theirs:#}");
        assert_eq!(theirs["message"], ours["message"]);
        assert_eq!(theirs["data"], ours["data"]);
    }
    assert!(events(&mine).iter().all(|e| e.get("detail").is_none()), "{mine:#}");
    let text = mine.to_string();
    for code in ["VGM_PENDING", "IN_TRANSIT", "INVOICED", "DELIVERED", &tracking] {
        assert!(
            !text.contains(code),
            "the OPS's `{code}` reached the customer: {mine:#}"
        );
    }
    hub.stop().await;
}
