//! The portal's read side on a real socket, on SQLite and PostgreSQL:
//! filtered and paginated order lists, timelines, the resumable event
//! stream (SSE), and API keys created in the store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{ACME, Backend, GLOBEX, OPERATOR, REVIEWER, TestHub};
use hub_kernel::auth::{self, Principal, Role};
use hub_kernel::store::NewApiKey;
use hub_kernel::timeline::Actor;
use serde_json::{Value, json};

fn freight(reference: &str) -> Value {
    let mut order = common::example("freight-booking", "messy-fcl");
    // The example names it by an alias; one name per field.
    order.as_object_mut().unwrap().remove("booking_ref");
    order["customer_reference"] = json!(reference);
    order
}

async fn submit(hub: &TestHub, key: &str, line: &str, order: &Value) -> String {
    let (status, body) = hub.post(key, &format!("/v1/orders/{line}"), order).await;
    assert_eq!(status, 202, "{body:#}");
    body["order_id"].as_str().unwrap().to_owned()
}

/// Every page of `GET path` (which must not carry a cursor yet).
async fn all_pages(hub: &TestHub, key: &str, path: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut url = path.to_owned();
    loop {
        let (status, page) = hub.get(key, &url).await;
        assert_eq!(status, 200, "{url}: {page:#}");
        pages += 1;
        ids.extend(
            page["orders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{path}&cursor={cursor}"),
            None => return (ids, pages),
        }
        assert!(pages < 100, "pagination does not end");
    }
}

both_backends!(
    order_lists_filter_paginate_and_stay_within_the_tenant,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        let mut acme = Vec::new();
        for i in 0..7 {
            acme.push(submit(&hub, ACME, "freight-booking", &freight(&format!("ACME-{i}"))).await);
        }
        let midpoint = chrono::Utc::now().to_rfc3339();
        let in_review = submit(
            &hub,
            ACME,
            "freight-booking",
            &common::example("freight-booking", "unknown-port-bare-weight"),
        )
        .await;
        let globex = submit(&hub, GLOBEX, "freight-booking", &freight("GLOBEX-1")).await;

        // Pages of 3, newest first, each order once, only acme's.
        let (ids, pages) = all_pages(&hub, ACME, "/v1/orders?limit=3").await;
        assert_eq!(pages, 3);
        let mut expected: Vec<String> = acme.iter().cloned().chain([in_review.clone()]).collect();
        expected.reverse();
        assert_eq!(ids, expected, "newest first, no order skipped or repeated");
        // A customer asking for another tenant still gets only its own.
        let (ids, _) = all_pages(&hub, ACME, "/v1/orders?tenant=globex&limit=50").await;
        assert!(!ids.contains(&globex) && ids.len() == 8);

        // Filters.
        let (_, page) = hub.get(ACME, "/v1/orders?status=needs-review").await;
        assert_eq!(page["orders"].as_array().unwrap().len(), 1);
        assert_eq!(page["orders"][0]["id"], in_review.as_str());
        assert!(
            page["orders"][0].get("tenant").is_none(),
            "customers are not shown tenants"
        );
        let (_, page) = hub
            .get(ACME, "/v1/orders?status=queued,needs-review&reference=ACME-3")
            .await;
        assert_eq!(page["orders"].as_array().unwrap().len(), 1);
        assert_eq!(page["orders"][0]["customer_reference"], "ACME-3");
        let (ids, _) = all_pages(
            &hub,
            ACME,
            &format!("/v1/orders?limit=2&created_from={}", urlencode(&midpoint)),
        )
        .await;
        assert_eq!(
            ids,
            vec![in_review.clone()],
            "created_from is inclusive of later orders only"
        );
        let (_, page) = hub.get(ACME, "/v1/orders?line=warehouse-order").await;
        assert!(page["orders"].as_array().unwrap().is_empty());

        // Staff see every tenant and may narrow to one.
        let (ids, _) = all_pages(&hub, OPERATOR, "/v1/orders?limit=4").await;
        assert_eq!(ids.len(), 9);
        let (_, page) = hub.get(OPERATOR, "/v1/orders?tenant=globex").await;
        assert_eq!(page["orders"][0]["id"], globex.as_str());
        assert_eq!(page["orders"][0]["tenant"], "globex");

        // Bad filters are precise 400s.
        for (query, needle) in [
            ("status=lost", "unknown status 'lost'"),
            (
                "created_from=yesterday",
                "created_from 'yesterday' is not an RFC 3339 time",
            ),
            ("cursor=%21%21", "cursor"),
            ("colour=red", "colour"),
        ] {
            let (status, problem) = hub.get(ACME, &format!("/v1/orders?{query}")).await;
            assert_eq!(status, 400, "{query}: {problem:#}");
            assert!(
                problem["detail"].as_str().unwrap().contains(needle),
                "{query}: {problem:#}"
            );
        }
        hub.stop().await;
    }
);

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

both_backends!(
    timelines_hide_internal_detail_from_customers,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        let id = submit(
            &hub,
            ACME,
            "freight-booking",
            &common::example("freight-booking", "unknown-port-bare-weight"),
        )
        .await;
        let (status, staff_view) = hub.get(REVIEWER, &format!("/v1/orders/{id}/timeline")).await;
        assert_eq!(status, 200);
        assert_eq!(staff_view["status"], "needs-review");
        let kinds: Vec<&str> = staff_view["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["received", "normalized", "needs-review"]);
        assert!(
            staff_view["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.get("detail").is_some())
        );
        let (_, customer_view) = hub.get(ACME, &format!("/v1/orders/{id}/timeline")).await;
        for event in customer_view["events"].as_array().unwrap() {
            assert!(event.get("detail").is_none(), "{event:#}");
            for field in ["id", "seq", "kind", "at", "actor", "message"] {
                assert!(event.get(field).is_some(), "{field} missing in {event:#}");
            }
        }
        let (_, tail) = hub.get(ACME, &format!("/v1/orders/{id}/timeline?after=2")).await;
        assert_eq!(tail["events"].as_array().unwrap().len(), 1);
        // Another tenant's order reads exactly like a missing one.
        let (status, other) = hub.get(GLOBEX, &format!("/v1/orders/{id}/timeline")).await;
        let (missing_status, missing) = hub.get(GLOBEX, "/v1/orders/ord_nope/timeline").await;
        assert_eq!((status, missing_status), (404, 404));
        assert_eq!(
            other["detail"].as_str().unwrap().replace(&id, "X"),
            missing["detail"].as_str().unwrap().replace("ord_nope", "X")
        );
        hub.stop().await;
    }
);

/// A minimal SSE reader over reqwest's chunked body.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug, Clone)]
struct SseFrame {
    id: i64,
    event: String,
    data: Value,
}

impl EventStream {
    async fn open(hub: &TestHub, key: &str, order_id: &str, last_event_id: Option<i64>) -> EventStream {
        let mut request = hub
            .client
            .get(hub.url(&format!("/v1/orders/{order_id}/events")))
            .bearer_auth(key)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "{:?}",
            response.headers()
        );
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event frame (comments and keep-alives skipped).
    async fn next(&mut self) -> SseFrame {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut event = String::new();
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    return SseFrame {
                        id,
                        event,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("no event within 10 s")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

both_backends!(
    event_stream_resumes_without_losing_or_repeating,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        let id = submit(
            &hub,
            ACME,
            "freight-booking",
            &common::example("freight-booking", "unknown-port-bare-weight"),
        )
        .await;
        // What is already on the timeline arrives first, in order.
        let mut stream = EventStream::open(&hub, ACME, &id, None).await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(stream.next().await);
        }
        let kinds: Vec<&str> = seen.iter().map(|f| f.event.as_str()).collect();
        assert_eq!(kinds, ["received", "normalized", "needs-review"]);
        assert!(
            seen.iter().all(|f| f.data.get("detail").is_none()),
            "customers never get detail"
        );

        // Live: a reviewer releases the order while the customer listens.
        let (status, body) = hub
            .post(
                REVIEWER,
                &format!("/v1/review/{id}/release"),
                &json!({
                    "corrections": {
                        "origin_port": "CNNGB",
                        "cargo_lines": [{"description": "冷冻虾仁", "packages": 40, "gross_weight_kg": 1200}]
                    },
                    "note": "港口已确认"
                }),
            )
            .await;
        assert_eq!(status, 200, "{body:#}");
        let live = stream.next().await;
        assert_eq!(live.id, 4);
        // The client "processes" only this one and the connection drops.
        drop(stream);
        let (_, staff) = hub.get(OPERATOR, &format!("/v1/orders/{id}/timeline")).await;
        let total = staff["events"].as_array().unwrap().len() as i64;
        assert_eq!(total, 5, "released: reviewed + queued; {staff:#}");

        // Resumed with Last-Event-ID: exactly the rest, nothing twice.
        let mut resumed = EventStream::open(&hub, ACME, &id, Some(live.id)).await;
        let mut rest = Vec::new();
        while rest.len() < (total - live.id) as usize {
            rest.push(resumed.next().await);
        }
        let ids: Vec<i64> = seen.iter().chain([&live]).chain(rest.iter()).map(|f| f.id).collect();
        assert_eq!(
            ids,
            (1..=total).collect::<Vec<_>>(),
            "every event exactly once, in order"
        );
        let unique: BTreeSet<i64> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len());

        // Another tenant cannot open the stream; a bad Last-Event-ID is a 400.
        let response = hub
            .client
            .get(hub.url(&format!("/v1/orders/{id}/events")))
            .bearer_auth(GLOBEX)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let response = hub
            .client
            .get(hub.url(&format!("/v1/orders/{id}/events")))
            .bearer_auth(ACME)
            .header("last-event-id", "yesterday")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        drop(resumed);
        hub.stop().await;
    }
);

both_backends!(me_names_the_caller_and_what_it_may_do, |backend: Backend| async move {
    let hub = TestHub::start(backend).await;
    let (status, acme) = hub.get(ACME, "/v1/me").await;
    assert_eq!(status, 200, "{acme:#}");
    assert_eq!(
        acme,
        json!({"id": "acme-portal", "role": "customer", "tenant": "acme",
            "may": {"submit": true, "review": false, "operate": false}})
    );
    let (status, operator) = hub.get(OPERATOR, "/v1/me").await;
    assert_eq!(status, 200, "{operator:#}");
    assert_eq!(
        operator,
        json!({"id": "operator-wang", "role": "operator", "tenant": null,
            "may": {"submit": true, "review": true, "operate": true}})
    );
    let (_, reviewer) = hub.get(REVIEWER, "/v1/me").await;
    assert_eq!(
        reviewer["may"],
        json!({"submit": true, "review": true, "operate": false})
    );
    let (_, globex) = hub.get(GLOBEX, "/v1/me").await;
    assert_eq!(globex["tenant"], "globex");
    // No key and an unknown key: the uniform 401 of every other endpoint.
    let anonymous = hub.client.get(hub.url("/v1/me")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let (_, anonymous) = common::read(anonymous).await;
    let (status, unknown) = hub.get("ohk_nobody", "/v1/me").await;
    assert_eq!(status, 401);
    assert_eq!(unknown, anonymous, "no key and a wrong key read alike");
    assert_eq!(unknown["type"], "https://order-hub.dev/problems/unauthorized");
    hub.stop().await;
});

both_backends!(stored_api_keys_work_until_revoked, |backend: Backend| async move {
    let hub = TestHub::start(backend).await;
    let key = auth::generate_api_key().unwrap();
    let by = Actor::Staff("cli:test".into());
    hub.store
        .create_api_key(
            &NewApiKey {
                id: "key_test_1".into(),
                principal: Principal {
                    id: "initech-portal".into(),
                    role: Role::Customer,
                    tenant: Some("initech".into()),
                },
                key_sha256: auth::digest_hex(&key),
                key_prefix: key[..10].to_owned(),
                label: "portal prod".into(),
                expires_at: None,
            },
            &by,
        )
        .await
        .unwrap();
    let (status, me) = hub.get(&key, "/v1/me").await;
    assert_eq!(status, 200, "{me:#}");
    assert_eq!(
        (&me["id"], &me["role"], &me["tenant"]),
        (&json!("initech-portal"), &json!("customer"), &json!("initech"))
    );
    let id = submit(&hub, &key, "freight-booking", &freight("INI-1")).await;
    let (_, order) = hub.get(&key, &format!("/v1/orders/{id}")).await;
    assert_eq!(order["timeline"][0]["actor"]["id"], "initech-portal");
    // The new tenant sees only its own orders; acme cannot see it.
    let (_, mine) = hub.get(&key, "/v1/orders").await;
    assert_eq!(mine["orders"].as_array().unwrap().len(), 1);
    assert_eq!(hub.get(ACME, &format!("/v1/orders/{id}")).await.0, 404);

    let listed = hub.store.api_keys(Some("initech"), false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        !serde_json::to_string(&listed).unwrap().contains(&key),
        "lists never show the key"
    );
    assert!(hub.store.revoke_api_key("key_test_1", &by).await.unwrap());
    assert!(
        !hub.store.revoke_api_key("key_test_1", &by).await.unwrap(),
        "revoked once"
    );
    assert_eq!(
        hub.get(&key, &format!("/v1/orders/{id}")).await.0,
        401,
        "revoked at once"
    );
    assert_eq!(hub.get(&key, "/v1/me").await.0, 401, "a revoked key is nobody");

    let audit = hub
        .store
        .audit_log(Some("api-key."), Some("key_test_1"), None, 10)
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["api-key.revoked", "api-key.created"]);
    assert!(
        !serde_json::to_string(&audit).unwrap().contains(&key),
        "the audit log holds no key"
    );
    hub.stop().await;
});

/// A stored key of the initech customer, as `hub keys create` makes one.
fn initech_key(id: &str, key: &str, expires_at: Option<String>) -> NewApiKey {
    NewApiKey {
        id: id.into(),
        principal: Principal {
            id: "initech-portal".into(),
            role: Role::Customer,
            tenant: Some("initech".into()),
        },
        key_sha256: auth::digest_hex(key),
        key_prefix: key[..10].to_owned(),
        label: String::new(),
        expires_at,
    }
}

both_backends!(expired_stored_keys_are_nobody, |backend: Backend| async move {
    let hub = TestHub::start(backend).await;
    let by = Actor::Staff("cli:test".into());
    let new_key = initech_key;
    let (expired, valid) = (auth::generate_api_key().unwrap(), auth::generate_api_key().unwrap());
    // `hub keys create` refuses a time in the past; the store takes it as given.
    let past = hub_kernel::store::format_time(chrono::Utc::now() - chrono::Duration::seconds(1));
    let future = hub_kernel::store::later(Duration::from_secs(3600));
    for (id, key, at) in [
        ("key_expired", &expired, past.clone()),
        ("key_valid", &valid, future.clone()),
    ] {
        hub.store
            .create_api_key(&new_key(id, key, Some(at)), &by)
            .await
            .unwrap();
    }
    assert_eq!(hub.get(&valid, "/v1/me").await.0, 200, "not expired yet");
    let (status, body) = hub.get(&expired, "/v1/me").await;
    let unknown = hub.get("ohk_nobody", "/v1/me").await;
    assert_eq!(
        (status, &body),
        (unknown.0, &unknown.1),
        "an expired key reads like an unknown one"
    );
    assert_eq!(status, 401);
    assert_eq!(
        hub.post(&expired, "/v1/orders/freight-booking", &freight("INI-X"))
            .await
            .0,
        401
    );
    // Lists show the expiry.
    let listed = hub.store.api_keys(Some("initech"), false).await.unwrap();
    let expiries: BTreeSet<_> = listed.iter().map(|k| k.expires_at.clone().unwrap()).collect();
    assert_eq!(expiries, BTreeSet::from([past, future]));
    hub.stop().await;
});

both_backends!(
    last_use_of_stored_keys_is_written_in_batches,
    |backend: Backend| async move {
        let mut usage = None;
        let hub = TestHub::start_with(backend, 1024 * 1024, |state| {
            usage = Some(state.key_usage.clone());
            state
        })
        .await;
        let usage = usage.unwrap();
        let by = Actor::Staff("cli:test".into());
        let key = auth::generate_api_key().unwrap();
        let new_key = |id: &str, key: &str| initech_key(id, key, None);
        hub.store.create_api_key(&new_key("key_used", &key), &by).await.unwrap();
        let idle = auth::generate_api_key().unwrap();
        hub.store
            .create_api_key(&new_key("key_idle", &idle), &by)
            .await
            .unwrap();
        let last_used = |keys: Vec<hub_kernel::store::ApiKeyRecord>, id: &str| {
            keys.into_iter().find(|k| k.id == id).unwrap().last_used_at
        };
        let before = hub_kernel::store::now();
        for _ in 0..5 {
            assert_eq!(hub.get(&key, "/v1/me").await.0, 200);
        }
        // Configured principals are not stored keys: nothing to record.
        assert_eq!(hub.get(ACME, "/v1/me").await.0, 200);
        // No write per request: nothing stored before the flush.
        let keys = hub.store.api_keys(Some("initech"), false).await.unwrap();
        assert_eq!(last_used(keys, "key_used"), None);
        assert_eq!(
            usage.flush(&hub.store).await.unwrap(),
            1,
            "one key, however many requests"
        );
        let keys = hub.store.api_keys(Some("initech"), false).await.unwrap();
        let at = last_used(keys.clone(), "key_used").expect("set by the flush");
        assert!(at >= before && at <= hub_kernel::store::now(), "{at}");
        assert_eq!(last_used(keys, "key_idle"), None);
        assert_eq!(usage.flush(&hub.store).await.unwrap(), 0, "a flush empties the batch");
        // Never backwards: an older use (another node's, late) does not win.
        hub.store
            .record_key_uses(&[("key_used".into(), "2000-01-01T00:00:00.000000Z".into())])
            .await
            .unwrap();
        let keys = hub.store.api_keys(Some("initech"), false).await.unwrap();
        assert_eq!(last_used(keys, "key_used"), Some(at));
        hub.stop().await;
    }
);

both_backends!(
    auth_failures_do_not_reveal_whether_an_order_exists,
    |backend: Backend| async move {
        let hub = TestHub::start(backend).await;
        let id = submit(&hub, ACME, "freight-booking", &freight("ACME-X")).await;
        for key in ["", "wrong-key", "ohk_forged"] {
            let existing = hub.get(key, &format!("/v1/orders/{id}")).await;
            let missing = hub.get(key, "/v1/orders/ord_does_not_exist").await;
            assert_eq!(existing.0, 401);
            assert_eq!(existing, missing, "key {key:?}");
            let existing = hub.get(key, &format!("/v1/orders/{id}/timeline")).await;
            let missing = hub.get(key, "/v1/orders/ord_does_not_exist/timeline").await;
            assert_eq!(existing, missing, "key {key:?}");
        }
        hub.stop().await;
    }
);
