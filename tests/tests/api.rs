//! The HTTP API end to end: intake, idempotency, review, tenants — on a real
//! socket, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

mod common;

use common::{ACME, Backend, GLOBEX, OPERATOR, REVIEWER, TestHub};
use serde_json::{Value, json};

/// The example cases of every line with their expected outcome.
fn examples_with(outcome: &str) -> Vec<(String, Value)> {
    let root = common::repo_root().join("examples/orders");
    let mut found = Vec::new();
    for line_dir in std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
    {
        let line = line_dir.file_name().unwrap().to_str().unwrap().to_owned();
        let mut files: Vec<_> = std::fs::read_dir(&line_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for expected_path in files.iter().filter(|p| p.to_str().unwrap().ends_with(".expected.json")) {
            let expected: Value = serde_json::from_str(&std::fs::read_to_string(expected_path).unwrap()).unwrap();
            if expected["outcome"] == outcome {
                let input_path = expected_path.to_str().unwrap().replace(".expected.json", ".input.json");
                let input: Value = serde_json::from_str(&std::fs::read_to_string(input_path).unwrap()).unwrap();
                found.push((line.clone(), input));
            }
        }
    }
    assert!(!found.is_empty(), "no example with outcome {outcome}");
    found
}

fn kinds(order: &Value) -> Vec<(String, String)> {
    order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["actor"]["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

both_backends!(valid_order_is_stored_with_its_timeline, |backend: Backend| async move {
    let hub = TestHub::start(backend).await;
    for (line, input) in examples_with("valid") {
        let (status, accepted) = hub.post(ACME, &format!("/v1/orders/{line}"), &input).await;
        assert_eq!(status, 202, "{line}: {accepted}");
        assert_eq!(accepted["status"], "queued");
        let (status, order) = hub.get(ACME, accepted["status_url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(order["submission"], input, "original submission kept as sent");
        assert_eq!(order["line"], line.as_str());
        assert_eq!(order["schema_version"], 1);
        let events = kinds(&order);
        let expected: Vec<(String, String)> =
            [("received", "customer"), ("normalized", "system"), ("queued", "system")]
                .iter()
                .map(|(k, a)| ((*k).to_owned(), (*a).to_owned()))
                .collect();
        assert_eq!(events, expected);
        assert!(
            order["timeline"][0].get("detail").is_none(),
            "customers never see internal detail"
        );
        let id = accepted["order_id"].as_str().unwrap();
        assert_eq!(
            hub.store.dispatch_jobs_for(id).await.unwrap(),
            1,
            "queued in the same transaction"
        );
    }
    hub.stop().await;
});

both_backends!(
    invalid_order_gets_every_problem_and_is_not_stored,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        for (line, input) in examples_with("invalid") {
            let (status, problem) = hub.post(ACME, &format!("/v1/orders/{line}"), &input).await;
            assert_eq!(status, 422, "{line}: {problem}");
            assert!(problem["type"].as_str().unwrap().ends_with("/invalid-order"));
            let problems = problem["problems"].as_array().unwrap();
            assert!(!problems.is_empty());
            for p in problems {
                assert!(
                    p["pointer"].is_string() && p["code"].is_string() && p["message"].is_string(),
                    "{p}"
                );
            }
        }
        // Many independent mistakes are all reported at once.
        let (status, problem) = hub
            .post(
                ACME,
                "/v1/orders/freight-booking",
                &json!({"origin_port": 7, "service_mode": "boat", "bogus": true}),
            )
            .await;
        assert_eq!(status, 422);
        let pointers: Vec<&str> = problem["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pointer"].as_str().unwrap())
            .collect();
        for expected in ["/bogus", "/origin_port", "/service_mode"] {
            assert!(pointers.contains(&expected), "{expected} missing in {pointers:?}");
        }
        assert!(
            pointers.len() >= 5,
            "missing required fields reported too: {pointers:?}"
        );
        hub.stop().await;
    }
);

/// Builds a merge patch that sets `pointer` in `normalized` to `value`
/// (arrays are replaced whole, as RFC 7396 requires).
fn correction(normalized: &Value, pointer: &str, value: Value) -> Value {
    let mut corrected = normalized.clone();
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    let (last, parents) = tokens.split_last().unwrap();
    let mut node = &mut corrected;
    for token in parents {
        node = match node {
            Value::Array(items) => &mut items[token.parse::<usize>().unwrap()],
            other => &mut other[*token],
        };
    }
    match node {
        Value::Array(items) => items[last.parse::<usize>().unwrap()] = value,
        other => other[*last] = value,
    }
    let top = tokens[0];
    json!({ top: corrected[top] })
}

fn fix_for(code: &str, pointer: &str) -> Value {
    match code {
        "unknown-code" if pointer.ends_with("port") => json!("CNSHA"),
        "unknown-code" => json!("CN"),
        "missing-unit" => json!(100),
        "ambiguous-date" | "invalid-date" => json!("2026-04-03"),
        other => panic!("no automatic fix for {other} at {pointer}"),
    }
}

both_backends!(
    reviewable_order_is_released_by_staff_and_continues,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        let (line, input) = examples_with("needs-review").remove(0);
        let (status, accepted) = hub.post(ACME, &format!("/v1/orders/{line}"), &input).await;
        assert_eq!(status, 202, "{accepted}");
        assert_eq!(accepted["status"], "needs-review");
        let id = accepted["order_id"].as_str().unwrap().to_owned();
        assert!(
            accepted["problems"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["reviewable"] == true)
        );
        assert_eq!(
            hub.store.dispatch_jobs_for(&id).await.unwrap(),
            0,
            "not dispatched while in review"
        );

        // Customers cannot work the queue; reviewers see the order in it.
        assert_eq!(hub.get(ACME, "/v1/review").await.0, 403);
        let (status, queue) = hub.get(REVIEWER, "/v1/review").await;
        assert_eq!(status, 200);
        let item = queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap()
            .clone();

        // The queue filters by line and answers bad query strings precisely.
        let (_, other_line) = hub.get(REVIEWER, "/v1/review?line=no-such-line").await;
        assert_eq!(other_line["items"], json!([]));
        let (_, same_line) = hub.get(REVIEWER, &format!("/v1/review?line={line}")).await;
        assert!(
            same_line["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["id"] == id.as_str())
        );
        let (status, bad) = hub.get(REVIEWER, "/v1/review?limit=abc").await;
        assert_eq!(status, 400, "{bad}");
        assert!(bad["type"].as_str().unwrap().ends_with("/bad-query"));

        // Releasing without fixing is refused and changes nothing.
        let (status, refused) = hub
            .post(REVIEWER, &format!("/v1/review/{id}/release"), &json!({}))
            .await;
        assert_eq!(status, 422, "{refused}");

        let patch = fixing_patch(&item);
        let (status, released) = hub
            .post(
                REVIEWER,
                &format!("/v1/review/{id}/release"),
                &json!({"corrections": patch, "note": "confirmed with customer"}),
            )
            .await;
        assert_eq!(status, 200, "{released}");
        assert_eq!(released["status"], "queued");
        let events = kinds(&released);
        let tail: Vec<(&str, &str)> = events[events.len() - 2..]
            .iter()
            .map(|(k, a)| (k.as_str(), a.as_str()))
            .collect();
        assert_eq!(tail, [("reviewed", "staff"), ("queued", "system")]);
        let reviewed = &released["timeline"][events.len() - 2];
        assert_eq!(reviewed["actor"]["id"], "reviewer-li");
        assert_eq!(reviewed["detail"]["note"], "confirmed with customer");
        assert_eq!(hub.store.dispatch_jobs_for(&id).await.unwrap(), 1);

        // A second release finds it no longer in review.
        let (status, again) = hub
            .post(OPERATOR, &format!("/v1/review/{id}/release"), &json!({}))
            .await;
        assert_eq!(status, 409, "{again}");
        // The customer sees the staff step, without internal detail.
        let (_, seen) = hub.get(ACME, &format!("/v1/orders/{id}")).await;
        assert_eq!(seen["status"], "queued");
        assert!(
            seen["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e.get("detail").is_none())
        );
        hub.stop().await;
    }
);

/// A merge patch that fixes every open problem of a review-queue item.
fn fixing_patch(item: &Value) -> Value {
    let mut normalized = item["normalized"].clone();
    let mut patch = json!({});
    for p in item["problems"].as_array().unwrap() {
        let pointer = p["pointer"].as_str().unwrap();
        let one = correction(&normalized, pointer, fix_for(p["code"].as_str().unwrap(), pointer));
        json_merge(&mut normalized, &one);
        json_merge(&mut patch, &one);
    }
    patch
}

fn json_merge(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            t.insert(k.clone(), v.clone());
        }
    }
}

both_backends!(
    reviewer_rejects_with_a_reason_the_customer_sees,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        let (line, input) = examples_with("needs-review").remove(0);
        let (_, accepted) = hub.post(ACME, &format!("/v1/orders/{line}"), &input).await;
        let id = accepted["order_id"].as_str().unwrap();
        let (status, missing) = hub
            .post(REVIEWER, &format!("/v1/review/{id}/reject"), &json!({"reason": "  "}))
            .await;
        assert_eq!(status, 422, "{missing}");
        let (status, rejected) = hub
            .post(
                REVIEWER,
                &format!("/v1/review/{id}/reject"),
                &json!({"reason": "Port CNZZZ is not served; please choose another.", "note": "internal"}),
            )
            .await;
        assert_eq!(status, 200, "{rejected}");
        assert_eq!(rejected["status"], "rejected");
        let (_, seen) = hub.get(ACME, &format!("/v1/orders/{id}")).await;
        let last = seen["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["kind"], "rejected");
        assert_eq!(last["message"], "Port CNZZZ is not served; please choose another.");
        assert_eq!(last["actor"], json!({"kind": "staff", "id": "reviewer-li"}));
        assert_eq!(hub.store.dispatch_jobs_for(id).await.unwrap(), 0);
        hub.stop().await;
    }
);

both_backends!(idempotency_keys_return_the_same_order, |backend: Backend| async move {
    let hub = TestHub::start(backend).await;
    let (line, input) = examples_with("valid").remove(0);
    let path = format!("/v1/orders/{line}");
    let send = |key: &'static str, tenant_key: &'static str, body: Value| {
        let request = hub
            .client
            .post(hub.url(&path))
            .bearer_auth(tenant_key)
            .header("Idempotency-Key", key)
            .json(&body);
        async move { common::read(request.send().await.unwrap()).await }
    };
    let (s1, first) = send("order-42", ACME, input.clone()).await;
    let (s2, second) = send("order-42", ACME, input.clone()).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first["order_id"], second["order_id"]);

    // Same meaning after normalization, but not the same request.
    let mut changed = input.clone();
    let (_, first_string) = changed
        .as_object_mut()
        .unwrap()
        .iter_mut()
        .find(|(_, v)| v.is_string())
        .unwrap();
    *first_string = json!(format!("{} ", first_string.as_str().unwrap()));
    let (status, conflict) = send("order-42", ACME, changed).await;
    assert_eq!(status, 409, "{conflict}");
    assert!(conflict["type"].as_str().unwrap().ends_with("/idempotency-key-reused"));

    // Keys are per tenant: another customer's identical key is a new order.
    let (status, other) = send("order-42", GLOBEX, input.clone()).await;
    assert_eq!(status, 202);
    assert_ne!(other["order_id"], first["order_id"]);

    // Concurrent identical requests: one order, both answered with it.
    let (a, b) = tokio::join!(
        send("order-43", ACME, input.clone()),
        send("order-43", ACME, input.clone())
    );
    assert_eq!((a.0, b.0), (202, 202), "{a:?} {b:?}");
    assert_eq!(a.1["order_id"], b.1["order_id"]);
    let ten = futures::future::join_all((0..10).map(|_| send("order-44", ACME, input.clone()))).await;
    let ids: std::collections::HashSet<String> = ten
        .iter()
        .map(|(s, v)| {
            assert_eq!(*s, 202, "{v}");
            v["order_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "ten concurrent submissions with one key made {} orders",
        ids.len()
    );
    hub.stop().await;
});

both_backends!(customers_see_only_their_own_orders, |backend: Backend| async move {
    let hub = TestHub::start(backend).await;
    let (line, input) = examples_with("valid").remove(0);
    let (_, accepted) = hub.post(ACME, &format!("/v1/orders/{line}"), &input).await;
    let path = accepted["status_url"].as_str().unwrap().to_owned();
    let (status, hidden) = hub.get(GLOBEX, &path).await;
    let (missing_status, missing) = hub.get(GLOBEX, "/v1/orders/00000000-0000-0000-0000-000000000000").await;
    assert_eq!((status, missing_status), (404, 404));
    assert_eq!(
        hidden["type"], missing["type"],
        "another tenant's order looks exactly like a missing one"
    );
    assert_eq!(hub.get(REVIEWER, &path).await.0, 200, "staff read every order");
    assert_eq!(hub.get("not-a-key", &path).await.0, 401);
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    let lower = hub
        .client
        .get(hub.url(&path))
        .header("authorization", format!("bearer {ACME}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 200);
    hub.stop().await;
});

/// Schema nodes whose `title` or `description` has no `x-hub-i18n.zh`
/// counterpart (the console's Chinese labels), the root included.
fn untranslated_nodes(node: &Value, pointer: &str, out: &mut Vec<String>) {
    let Some(object) = node.as_object() else { return };
    for text in ["title", "description"] {
        let zh = &node["x-hub-i18n"]["zh"][text];
        if object.contains_key(text) && zh.as_str().is_none_or(|t| t.trim().is_empty()) {
            out.push(format!("{pointer}/{text}"));
        }
    }
    for (keyword, value) in object {
        match keyword.as_str() {
            "properties" | "$defs" => {
                for (name, child) in value.as_object().into_iter().flatten() {
                    untranslated_nodes(child, &format!("{pointer}/{keyword}/{name}"), out);
                }
            }
            "items" => untranslated_nodes(value, &format!("{pointer}/items"), out),
            _ => {}
        }
    }
}

both_backends!(portal_reads_lines_schemas_and_dry_runs, |backend: Backend| async move {
    let hub = TestHub::start(backend).await;
    let (status, lines) = hub.get(ACME, "/v1/business-lines").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    for line in [
        "complaint",
        "customs-declaration",
        "freight-booking",
        "trucking-pickup",
        "warehouse-order",
    ] {
        assert!(names.contains(&line), "{line} missing from {names:?}");
        let (status, schema) = hub.get(ACME, &format!("/v1/business-lines/{line}/schema")).await;
        assert_eq!(status, 200);
        assert_eq!(schema["x-hub-line"], line);
        let mut untranslated = Vec::new();
        untranslated_nodes(&schema, "", &mut untranslated);
        assert!(untranslated.is_empty(), "{line}: no Chinese text at {untranslated:?}");
    }
    assert_eq!(hub.get(ACME, "/v1/business-lines/nope/schema").await.0, 404);
    for outcome in ["valid", "needs-review", "invalid"] {
        for (line, input) in examples_with(outcome) {
            let (status, verdict) = hub.post(ACME, &format!("/v1/validate/{line}"), &input).await;
            assert_eq!(status, 200);
            assert_eq!(verdict["outcome"], outcome, "{line}: {verdict}");
        }
    }
    // A dry run stores nothing.
    let (_, queue) = hub.get(REVIEWER, "/v1/review").await;
    assert_eq!(queue["items"], json!([]));
    hub.stop().await;
});

both_backends!(
    two_reviewers_releasing_at_once_queue_the_order_once,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        let (line, input) = examples_with("needs-review").remove(0);
        let (_, accepted) = hub.post(ACME, &format!("/v1/orders/{line}"), &input).await;
        let id = accepted["order_id"].as_str().unwrap().to_owned();
        let (_, queue) = hub.get(REVIEWER, "/v1/review").await;
        let item = queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap()
            .clone();
        let patch = fixing_patch(&item);
        let path = format!("/v1/review/{id}/release");
        let body = json!({ "corrections": patch });
        let (a, b) = tokio::join!(hub.post(REVIEWER, &path, &body), hub.post(OPERATOR, &path, &body));
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        assert_eq!(
            hub.store.dispatch_jobs_for(&id).await.unwrap(),
            1,
            "queued exactly once"
        );
        let (_, order) = hub.get(REVIEWER, &format!("/v1/orders/{id}")).await;
        let reviewed = kinds(&order).iter().filter(|(k, _)| k == "reviewed").count();
        assert_eq!(reviewed, 1, "one staff action on the timeline");
        hub.stop().await;
    }
);

both_backends!(
    a_customer_over_its_rate_gets_429_while_others_go_on,
    |backend: Backend| async move {
        // A tiny rate: a token comes back every 100 s, so nothing refills
        // during the test and no test sleeps.
        let limits = hub_kernel::api::rate_limit::RateLimitConfig {
            intake_per_second: 0.01,
            intake_burst: 3,
        };
        let hub = TestHub::start_with(backend, 1024 * 1024, |state| state.with_intake_limit(&limits)).await;
        let order = common::example("freight-booking", "messy-fcl");
        for _ in 0..3 {
            let (status, body) = hub.post(ACME, "/v1/orders/freight-booking", &order).await;
            assert_eq!(status, 202, "{body}");
        }
        // Past its burst, on both intake routes, whatever the body.
        for (path, body) in [
            ("/v1/orders/freight-booking", order.clone()),
            ("/v1/validate/freight-booking", order.clone()),
            ("/v1/orders/freight-booking", json!("not an order")),
        ] {
            let response = hub
                .client
                .post(hub.url(path))
                .bearer_auth(ACME)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 429, "{path}");
            assert_eq!(response.headers()["content-type"], "application/problem+json");
            let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((90..=100).contains(&retry_after), "Retry-After {retry_after}");
            let (_, problem) = common::read(response).await;
            assert_eq!(problem["type"], "https://order-hub.dev/problems/rate-limited");
            assert_eq!(problem["status"], 429);
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains("0.01 requests per second") && detail.contains("bursts of 3"),
                "{detail}"
            );
            assert!(detail.contains(&format!("retry in {retry_after} s")), "{detail}");
        }
        // Meanwhile another customer, and staff, still get through at once.
        let (status, body) = hub.post(GLOBEX, "/v1/orders/freight-booking", &order).await;
        assert_eq!(status, 202, "{body}");
        let (status, body) = hub.post(GLOBEX, "/v1/validate/freight-booking", &order).await;
        assert_eq!(status, 200, "{body}");
        // Reading is not limited.
        let (status, body) = hub.get(ACME, "/v1/orders").await;
        assert_eq!(status, 200, "{body}");
        // An unknown key is still a 401, not a 429.
        let (status, _) = hub.post("no-such-key", "/v1/orders/freight-booking", &order).await;
        assert_eq!(status, 401);
        hub.stop().await;
    }
);
