//! Targets from the hub config, bound to installed plugins at start-up:
//! every mistake reported at once with where it is; a good config serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use hub_kernel::config::HubConfig;
use hub_kernel::plugins::PluginHost;
use hub_kernel::sandbox::{Outcome, PluginOrder};

fn config(targets: &str) -> HubConfig {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    let text = format!(
        "[plugins]\ndir = {:?}\ncache_dir = \"\"\n\n{targets}",
        dist.display().to_string()
    );
    HubConfig::parse(&text, "test.toml").unwrap()
}

#[test]
fn every_target_mistake_is_reported_at_once_with_its_place() {
    let config = config(
        r#"
[targets.unknown]
plugin = "no-such-plugin"

[targets.stingy]
plugin = "rest-json"
grants = ["http"]

[targets.secretless]
plugin = "warehouse-rest"
grants = ["http", "config"]
http = { base_url = "http://127.0.0.1:9/wms/", auth = { kind = "bearer", token = { env = "HUB_TEST_UNSET_TOKEN_4711" } } }

[targets.pinned]
plugin = "rest-json"
version = "9.9.9"
"#,
    );
    let error = PluginHost::start(&config).err().expect("must refuse");
    let text = error.to_string();
    assert_eq!(error.problems.len(), 4, "{text}");
    assert!(
        text.contains("[targets.unknown] plugin `no-such-plugin` is not installed (installed: "),
        "{text}"
    );
    assert!(
        text.contains("[targets.stingy] plugin `rest-json` needs `config`, `log` which target `stingy` does not grant"),
        "{text}"
    );
    assert!(
        text.contains("[targets.secretless] http.auth: environment variable `HUB_TEST_UNSET_TOKEN_4711` is not set"),
        "{text}"
    );
    assert!(
        text.contains("[targets.pinned] plugin `rest-json` has no version 9.9.9 installed (installed: 1.0.0)"),
        "{text}"
    );
}

#[test]
fn a_base_url_without_trailing_slash_is_a_config_error() {
    let text = "[targets.x]\nplugin = \"rest-json\"\nhttp = { base_url = \"http://127.0.0.1:9/api\" }\n";
    let error = HubConfig::parse(text, "hub.toml").unwrap_err().to_string();
    assert!(
        error.contains("[targets.x.http] base_url `http://127.0.0.1:9/api` must be http(s) and end with `/`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_configured_target_calls_its_ops_over_real_http() {
    // A real HTTP server standing in for the WMS: answers 201 with an order number.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::<String>::new()));
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/wms/orders",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let recorded = recorded.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                recorded.lock().await.push(format!("{auth}|{body}"));
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(serde_json::json!({ "orderNo": "WMS-0001" })),
                )
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let secret_file = std::env::temp_dir().join(format!("hub-wms-token-{}", std::process::id()));
    std::fs::write(&secret_file, "s3cret-token\n").unwrap();

    let config = config(&format!(
        r#"
[targets.wms]
plugin = "warehouse-rest"
grants = ["http", "config"]
http = {{ base_url = "http://{address}/wms/", allowed_paths = ["orders"], auth = {{ kind = "bearer", token = {{ file = {:?} }} }} }}
"#,
        secret_file.display().to_string()
    ));
    let host = PluginHost::start(&config).unwrap();
    std::fs::remove_file(&secret_file).unwrap();
    let call = host.call_for("wms").unwrap();
    let order = PluginOrder {
        id: "o-1".into(),
        business_line: "warehouse-order".into(),
        schema_version: 1,
        payload: r#"{"warehouse_code":"SH-01","direction":"INBOUND","lines":[{"sku":"SKU-001","description":"儿童保温杯 350ml"}]}"#.into(),
        attempt: 1,
        idempotency_key: "k-1".into(),
        customer: "acme".into(),
    };
    assert_eq!(
        call.submit(&order).await.unwrap(),
        Outcome::Accepted {
            ops_ref: "WMS-0001".into(),
            message: None
        }
    );
    let seen = seen.lock().await;
    assert_eq!(seen.len(), 1);
    let (auth, body) = seen[0].split_once('|').unwrap();
    assert_eq!(auth, "Bearer s3cret-token", "the host attaches the credential");
    assert!(body.contains("儿童保温杯 350ml"), "UTF-8 intact: {body}");
    let summary = serde_json::to_string(&host.targets()).unwrap();
    assert!(!summary.contains("s3cret"), "{summary}");
    server.abort();
}

#[test]
fn rescan_installs_a_new_version_that_serves_the_next_call_and_can_be_rolled_back() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist/rest-json/1.0.0");
    let root = std::env::temp_dir().join(format!("hub-rescan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let copy_as = |version: &str| {
        let dir = root.join("rest-json").join(version);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(dist.join("rest_json.wasm"), dir.join("rest_json.wasm")).unwrap();
        let manifest = std::fs::read_to_string(dist.join("plugin.toml"))
            .unwrap()
            .replace("version = \"1.0.0\"", &format!("version = \"{version}\""));
        std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    };
    copy_as("1.0.0");
    let text = format!(
        "[plugins]\ndir = {:?}\ncache_dir = \"\"\n\n[targets.ops]\nplugin = \"rest-json\"\ngrants = [\"http\", \"config\", \"log\"]\n",
        root.display().to_string()
    );
    let host = PluginHost::start(&HubConfig::parse(&text, "test.toml").unwrap()).unwrap();
    assert_eq!(host.call_for("ops").unwrap().plugin().version().to_string(), "1.0.0");

    copy_as("1.1.0");
    let report = host.rescan();
    assert_eq!(report.installed, vec!["rest-json@1.1.0".to_owned()]);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(host.call_for("ops").unwrap().plugin().version().to_string(), "1.1.0");
    assert!(
        host.rescan().installed.is_empty(),
        "a loaded version is not installed twice"
    );

    assert_eq!(host.registry().rollback("rest-json").unwrap().to_string(), "1.0.0");
    assert_eq!(host.call_for("ops").unwrap().plugin().version().to_string(), "1.0.0");
    std::fs::remove_dir_all(&root).unwrap();
}

/// The operator endpoints over the real router: list, rollback refused with
/// nothing to roll back to, customers forbidden.
#[tokio::test]
async fn operators_see_plugins_and_targets_over_http_and_customers_do_not() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let host = PluginHost::start(&config(
        "[targets.ops]\nplugin = \"rest-json\"\ngrants = [\"http\", \"config\", \"log\"]\n",
    ))
    .unwrap();
    let defaults = HubConfig::load(None).unwrap();
    let schemas = hub_kernel::schema::SchemaRegistry::load_dir(&repo.join("schemas")).unwrap();
    let database = std::env::temp_dir().join(format!("hub-plugins-api-{}.db", std::process::id()));
    let store = hub_kernel::store::Store::connect(&format!("sqlite:{}", database.display()))
        .await
        .unwrap();
    let auth = hub_kernel::auth::Authenticator::from_config(&defaults.principals).unwrap();
    let state = hub_kernel::api::AppState::new(std::sync::Arc::new(schemas), store, auth, 1 << 20)
        .with_plugins(std::sync::Arc::new(host));
    let app = hub_kernel::api::router(state);
    let call = |method: &str, path: &str, key: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };

    let response = app
        .clone()
        .oneshot(call("GET", "/v1/plugins", "demo-operator"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value =
        serde_json::from_slice(&axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap()).unwrap();
    let plugins = body["plugins"].as_array().unwrap();
    assert!(plugins.iter().any(|p| p["name"] == "rest-json"), "{body:#}");
    let target = body["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["plugin"] == "rest-json")
        .unwrap();
    assert_eq!(target["serving_version"], "1.0.0");
    assert_eq!(target["grants"], serde_json::json!(["http", "config", "log"]));

    let response = app
        .clone()
        .oneshot(call("POST", "/v1/plugins/rest-json/rollback", "demo-operator"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = app
        .clone()
        .oneshot(call("GET", "/v1/plugins", "demo-customer-acme"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .oneshot(call("POST", "/v1/plugins/rescan", "demo-reviewer"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let _ = std::fs::remove_file(&database);
}
