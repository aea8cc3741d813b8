//! The authorization matrix: every role × every endpoint × own / other
//! tenant, on a whole hub (`server::run`) over a real socket.
//!
//! Each row of [`matrix`] names an endpoint and who may use it; every
//! caller — no key, an unknown key, two customers of different tenants,
//! a reviewer, an operator and an admin — calls it, and the answer must fit
//! the rule: 401 without a valid key, 403 for a role that may not, a 404
//! that reads exactly like a missing resource for another tenant's order
//! or subscription, anything else (the endpoint's own answer) for those who
//! may. Every response a customer gets is also scanned for the other
//! tenant's ids: zero cross-tenant reads. Finally the matrix is checked
//! against `/v1/openapi.json`: an endpoint added to the API without a row
//! here fails this test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::collections::BTreeSet;

use hub_e2e::hub::{ADMIN_KEY, CUSTOMER_KEY, GLOBEX_KEY, OPERATOR_KEY, REVIEWER_KEY, TestHub, example_order, temp_dir};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    UnknownKey,
    Acme,
    Globex,
    Reviewer,
    Operator,
    Admin,
}

const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::UnknownKey,
    Caller::Acme,
    Caller::Globex,
    Caller::Reviewer,
    Caller::Operator,
    Caller::Admin,
];

impl Caller {
    fn key(self) -> Option<&'static str> {
        match self {
            Caller::Anonymous => None,
            Caller::UnknownKey => Some("ohk_not-a-key-the-hub-knows"),
            Caller::Acme => Some(CUSTOMER_KEY),
            Caller::Globex => Some(GLOBEX_KEY),
            Caller::Reviewer => Some(REVIEWER_KEY),
            Caller::Operator => Some(OPERATOR_KEY),
            Caller::Admin => Some(ADMIN_KEY),
        }
    }

    fn is_customer(self) -> bool {
        matches!(self, Caller::Acme | Caller::Globex)
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Anyone, without a key.
    Public,
    /// Any valid key.
    AnyKey,
    /// The owning tenant (acme) and staff; the other customer gets the 404 of a missing resource.
    AcmeOwned,
    /// Reviewers, operators, admins.
    Reviewer,
    /// Operators and admins.
    Operator,
    /// Only the OPS, with its callback token: every API key is refused.
    CallbackToken,
    /// Customers (their own tenant's), operators and admins; reviewers may not.
    Subscriber,
    /// Acme's subscription: acme, operators and admins; globex gets the 404 of a missing one; reviewers 403.
    AcmeSubscription,
}

struct Row {
    method: &'static str,
    /// The documented path (OpenAPI template).
    template: &'static str,
    /// The path called, `{own}` = acme's order, `{sub}` = acme's subscription.
    path: &'static str,
    body: Option<Value>,
    rule: Rule,
}

fn row(method: &'static str, template: &'static str, path: &'static str, body: Option<Value>, rule: Rule) -> Row {
    Row {
        method,
        template,
        path,
        body,
        rule,
    }
}

fn matrix() -> Vec<Row> {
    let order = example_order("freight-booking", "messy-fcl");
    let reject = json!({"reason": "授权矩阵测试"});
    vec![
        row("GET", "/healthz", "/healthz", None, Rule::Public),
        row("GET", "/readyz", "/readyz", None, Rule::Public),
        row("GET", "/metrics", "/metrics", None, Rule::Operator),
        row("GET", "/v1/openapi.json", "/v1/openapi.json", None, Rule::Public),
        row("GET", "/v1/me", "/v1/me", None, Rule::AnyKey),
        row("GET", "/v1/business-lines", "/v1/business-lines", None, Rule::AnyKey),
        row(
            "GET",
            "/v1/business-lines/{line}/schema",
            "/v1/business-lines/freight-booking/schema",
            None,
            Rule::AnyKey,
        ),
        row(
            "POST",
            "/v1/validate/{line}",
            "/v1/validate/freight-booking",
            Some(order.clone()),
            Rule::AnyKey,
        ),
        row(
            "POST",
            "/v1/orders/{line_or_id}",
            "/v1/orders/freight-booking",
            Some(order),
            Rule::AnyKey,
        ),
        row("GET", "/v1/orders", "/v1/orders", None, Rule::AnyKey),
        row(
            "GET",
            "/v1/orders/{line_or_id}",
            "/v1/orders/{own}",
            None,
            Rule::AcmeOwned,
        ),
        row(
            "GET",
            "/v1/orders/{id}/timeline",
            "/v1/orders/{own}/timeline",
            None,
            Rule::AcmeOwned,
        ),
        row(
            "GET",
            "/v1/orders/{id}/events",
            "/v1/orders/{own}/events",
            None,
            Rule::AcmeOwned,
        ),
        row("GET", "/v1/review", "/v1/review", None, Rule::Reviewer),
        row(
            "POST",
            "/v1/review/{id}/reject",
            "/v1/review/{own}/reject",
            Some(reject),
            Rule::Reviewer,
        ),
        row(
            "POST",
            "/v1/review/{id}/release",
            "/v1/review/{own}/release",
            Some(json!({})),
            Rule::Reviewer,
        ),
        row("GET", "/v1/plugins", "/v1/plugins", None, Rule::Operator),
        row(
            "POST",
            "/v1/plugins/rescan",
            "/v1/plugins/rescan",
            Some(json!({})),
            Rule::Operator,
        ),
        row(
            "POST",
            "/v1/plugins/{name}/activate",
            "/v1/plugins/no-such-plugin/activate",
            Some(json!({"version": "9.9.9"})),
            Rule::Operator,
        ),
        row(
            "POST",
            "/v1/plugins/{name}/rollback",
            "/v1/plugins/no-such-plugin/rollback",
            Some(json!({})),
            Rule::Operator,
        ),
        row("GET", "/v1/targets", "/v1/targets", None, Rule::Operator),
        row("GET", "/v1/dead-letters", "/v1/dead-letters", None, Rule::Operator),
        row(
            "POST",
            "/v1/dead-letters/replay",
            "/v1/dead-letters/replay",
            Some(json!({"target": "no-such-target"})),
            Rule::Operator,
        ),
        row(
            "GET",
            "/v1/dead-letters/{job_id}",
            "/v1/dead-letters/job_nope",
            None,
            Rule::Operator,
        ),
        row(
            "POST",
            "/v1/dead-letters/{job_id}/replay",
            "/v1/dead-letters/job_nope/replay",
            Some(json!({})),
            Rule::Operator,
        ),
        row(
            "GET",
            "/v1/replies/unmatched",
            "/v1/replies/unmatched",
            None,
            Rule::Operator,
        ),
        row(
            "GET",
            "/v1/replies/overdue",
            "/v1/replies/overdue",
            None,
            Rule::Operator,
        ),
        row("GET", "/v1/audit", "/v1/audit", None, Rule::Operator),
        row(
            "POST",
            "/v1/callbacks/{target}",
            "/v1/callbacks/freight-ops",
            Some(json!({"status": "CONFIRMED"})),
            Rule::CallbackToken,
        ),
        row("GET", "/v1/subscriptions", "/v1/subscriptions", None, Rule::Subscriber),
        row(
            "POST",
            "/v1/subscriptions",
            "/v1/subscriptions",
            Some(hook_request()),
            Rule::Subscriber,
        ),
        row(
            "GET",
            "/v1/subscriptions/{id}",
            "/v1/subscriptions/{sub}",
            None,
            Rule::AcmeSubscription,
        ),
        row(
            "GET",
            "/v1/subscriptions/{id}/deliveries",
            "/v1/subscriptions/{sub}/deliveries",
            None,
            Rule::AcmeSubscription,
        ),
        row(
            "POST",
            "/v1/subscriptions/{id}/test",
            "/v1/subscriptions/{sub}/test",
            Some(json!({})),
            Rule::AcmeSubscription,
        ),
        row(
            "POST",
            "/v1/subscriptions/{id}/enable",
            "/v1/subscriptions/{sub}/enable",
            Some(json!({})),
            Rule::AcmeSubscription,
        ),
        row(
            "POST",
            "/v1/subscriptions/{id}/rotate-secret",
            "/v1/subscriptions/{sub}/rotate-secret",
            Some(json!({})),
            Rule::AcmeSubscription,
        ),
        row(
            "DELETE",
            "/v1/subscriptions/{id}",
            "/v1/subscriptions/{sub}",
            None,
            Rule::AcmeSubscription,
        ),
    ]
}

/// A webhook endpoint nobody listens on (deliveries fail quietly; the test never waits for them).
fn hook_request() -> Value {
    json!({"url": "http://127.0.0.1:9/hooks", "events": ["*"], "description": "授权矩阵"})
}

struct Ids {
    acme_order: String,
    globex_order: String,
    acme_subscription: String,
    globex_subscription: String,
}

async fn subscribe(hub: &TestHub, key: &str) -> String {
    let (status, created) = hub.post(key, "/v1/subscriptions", &hook_request()).await;
    assert_eq!(status, 201, "{created:#}");
    created["id"].as_str().unwrap().to_owned()
}

async fn call(hub: &TestHub, caller: Caller, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let url = format!("{}{path}", hub.base_url);
    let mut request = match method {
        "GET" => hub.client.get(&url),
        "POST" => hub.client.post(&url),
        "DELETE" => hub.client.delete(&url),
        "PUT" => hub.client.put(&url),
        "PATCH" => hub.client.patch(&url),
        other => panic!("method {other}"),
    };
    if let Some(key) = caller.key() {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    // An event stream never ends: its status and headers are the answer.
    let is_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|ct| ct.to_str().unwrap_or_default().starts_with("text/event-stream"));
    let text = if is_stream {
        String::new()
    } else {
        response.text().await.unwrap()
    };
    (status, text)
}

/// The answer to `caller` on `row` (own resource), checked against the rule.
async fn check(hub: &TestHub, ids: &Ids, row: &Row, caller: Caller, failures: &mut Vec<String>) {
    let subscription = if row.method == "DELETE" {
        subscribe(hub, CUSTOMER_KEY).await
    } else {
        ids.acme_subscription.clone()
    };
    let path = row
        .path
        .replace("{own}", &ids.acme_order)
        .replace("{sub}", &subscription);
    let (status, text) = call(hub, caller, row.method, &path, row.body.as_ref()).await;
    let label = format!("{:?} {} {path} → {status}", caller, row.method);
    let mut expect = |ok: bool, why: &str| {
        if !ok {
            failures.push(format!(
                "{label}: {why}: {}",
                text.chars().take(300).collect::<String>()
            ));
        }
    };
    let authenticated = !matches!(caller, Caller::Anonymous | Caller::UnknownKey);
    match row.rule {
        Rule::Public => expect(!matches!(status, 401 | 403), "public endpoint refused"),
        Rule::CallbackToken => expect(status == 401, "an API key is not a callback token"),
        _ if !authenticated => expect(status == 401, "no valid key must be 401"),
        Rule::AnyKey => expect(!matches!(status, 401 | 403), "any key may call this"),
        Rule::Subscriber => {
            let may = !matches!(caller, Caller::Reviewer);
            expect(
                if may {
                    !matches!(status, 401 | 403)
                } else {
                    status == 403
                },
                "customers, operators, admins",
            )
        }
        Rule::AcmeOwned | Rule::AcmeSubscription => match caller {
            Caller::Reviewer if row.rule == Rule::AcmeSubscription => expect(status == 403, "reviewers 403"),
            Caller::Globex => {
                // Exactly what a missing resource gets.
                let missing_path = row.path.replace("{own}", "ord_missing").replace("{sub}", "ord_missing");
                let (missing_status, missing_text) =
                    call(hub, caller, row.method, &missing_path, row.body.as_ref()).await;
                expect(status == 404, "another tenant's order must be 404");
                expect(
                    missing_status == 404
                        && text.replace(&ids.acme_order, "X").replace(&subscription, "X")
                            == missing_text.replace("ord_missing", "X"),
                    "another tenant's resource must read like a missing one",
                );
            }
            _ => expect(!matches!(status, 401 | 403 | 404), "the owner and staff may read it"),
        },
        Rule::Reviewer => {
            let may = matches!(caller, Caller::Reviewer | Caller::Operator | Caller::Admin);
            expect(
                if may {
                    !matches!(status, 401 | 403)
                } else {
                    status == 403
                },
                "reviewers and up only",
            )
        }
        Rule::Operator => {
            let may = matches!(caller, Caller::Operator | Caller::Admin);
            expect(
                if may {
                    !matches!(status, 401 | 403)
                } else {
                    status == 403
                },
                "operators and admins only",
            )
        }
    }
    // Zero cross-tenant reads: a customer's answers never carry the other tenant's data.
    // (Public endpoints serve static documents whose examples name demo tenants.)
    if caller.is_customer() && row.rule != Rule::Public {
        let (foreign_order, foreign_subscription, foreign_tenant) = match caller {
            Caller::Acme => (&ids.globex_order, &ids.globex_subscription, "globex"),
            _ => (&ids.acme_order, &ids.acme_subscription, "acme"),
        };
        for foreign in [foreign_order, foreign_subscription] {
            // (A 404 may repeat the id the caller itself sent.)
            if !path.contains(foreign.as_str()) {
                expect(!text.contains(foreign.as_str()), "leaks the other tenant's id");
            }
        }
        expect(
            !text.contains(&format!("\"{foreign_tenant}\"")),
            "leaks the other tenant",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_on_every_endpoint_for_own_and_other_tenant() {
    let secrets = temp_dir("authz-secrets");
    let token_file = secrets.join("callback-token");
    std::fs::write(&token_file, "the-ops-callback-token").unwrap();
    // Nothing listens on the OPS address: no order leaves the hub in this test.
    let hub = TestHub::start(&format!(
        r#"
[targets.freight-ops]
plugin = "rest-json"
grants = ["http", "config", "log"]
settings = {{ bookings_path = "bookings" }}
callback_token = {{ file = "{}" }}
http = {{ base_url = "http://127.0.0.1:9/", allowed_paths = ["bookings", "bookings/*"], timeout_ms = 500 }}

[webhooks]
allow_private_targets = true
allow_insecure_http = true
max_subscriptions_per_tenant = 100
"#,
        token_file.display()
    ))
    .await;
    let review_case = example_order("freight-booking", "unknown-port-bare-weight");
    let (status, acme) = hub.post(CUSTOMER_KEY, "/v1/orders/freight-booking", &review_case).await;
    assert_eq!(status, 202, "{acme:#}");
    let (status, globex) = hub.post(GLOBEX_KEY, "/v1/orders/freight-booking", &review_case).await;
    assert_eq!(status, 202, "{globex:#}");
    let ids = Ids {
        acme_order: acme["order_id"].as_str().unwrap().to_owned(),
        globex_order: globex["order_id"].as_str().unwrap().to_owned(),
        acme_subscription: subscribe(&hub, CUSTOMER_KEY).await,
        globex_subscription: subscribe(&hub, GLOBEX_KEY).await,
    };

    let mut failures = Vec::new();
    let rows = matrix();
    for row in &rows {
        for caller in CALLERS {
            check(&hub, &ids, row, caller, &mut failures).await;
        }
    }
    // The other direction: a customer acting on the other tenant's order and subscription.
    let theirs = &ids.globex_subscription;
    for (method, path, body) in [
        ("GET", format!("/v1/subscriptions/{theirs}"), None),
        ("GET", format!("/v1/subscriptions/{theirs}/deliveries"), None),
        (
            "POST",
            format!("/v1/subscriptions/{theirs}/rotate-secret"),
            Some(json!({})),
        ),
        ("POST", format!("/v1/subscriptions/{theirs}/enable"), Some(json!({}))),
        ("POST", format!("/v1/subscriptions/{theirs}/test"), Some(json!({}))),
        ("DELETE", format!("/v1/subscriptions/{theirs}"), None),
        ("GET", format!("/v1/orders/{}", ids.globex_order), None),
        ("GET", format!("/v1/orders/{}/timeline", ids.globex_order), None),
        (
            "POST",
            format!("/v1/review/{}/release", ids.globex_order),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/review/{}/reject", ids.globex_order),
            Some(json!({"reason": "x"})),
        ),
    ] {
        let (status, text) = call(&hub, Caller::Acme, method, &path, body.as_ref()).await;
        if !matches!(status, 403 | 404) || text.contains("globex") {
            failures.push(format!("Acme {method} {path} → {status}: {text}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} violations:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Zero cross-tenant writes: globex's subscription still exists;
    // globex's order was touched by no customer but globex.
    let (status, _) = hub.get(GLOBEX_KEY, &format!("/v1/subscriptions/{theirs}")).await;
    assert_eq!(status, 200, "acme's DELETE must not have reached globex's subscription");
    let (_, timeline) = hub
        .get(OPERATOR_KEY, &format!("/v1/orders/{}/timeline", ids.globex_order))
        .await;
    for event in timeline["events"].as_array().unwrap() {
        if event["actor"]["kind"] == "customer" {
            assert_eq!(event["actor"]["id"], "globex-portal", "{event:#}");
        }
    }

    // Every documented operation has a row, and every row is documented.
    let (status, document) = hub.get(ADMIN_KEY, "/v1/openapi.json").await;
    assert_eq!(status, 200);
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.template.to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    let undocumented: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "documented endpoints without a matrix row: {missing:?}"
    );
    assert!(
        undocumented.is_empty(),
        "matrix rows not in the OpenAPI document: {undocumented:?}"
    );
    hub.stop().await;
}
