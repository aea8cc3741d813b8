//! The `hub` binary as a user runs it: `schemas check`, `validate`, `serve`, `keys`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::{hub, repo};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("order-hub-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn schemas_check_accepts_the_shipped_schemas() {
    let out = hub(&["schemas", "check", "schemas"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in [
        "complaint",
        "customs-declaration",
        "freight-booking",
        "trucking-pickup",
        "warehouse-order",
    ] {
        assert!(stdout.contains(&format!("ok  {line} v1")), "{stdout}");
    }
}

#[test]
fn schemas_check_lists_every_mistake_with_file_and_place() {
    let dir = temp_dir("bad-schemas");
    std::fs::write(dir.join("broken.v1.json"), "{\n  \"type\": \"object\",\n  oops\n}").unwrap();
    std::fs::write(
        dir.join("colour.v1.json"),
        r#"{"x-hub-line": "colour", "x-hub-version": 1, "properties": {"a": {"x-hub-colour": "red"}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("named.v1.json"),
        r#"{"x-hub-line": "other", "x-hub-version": 1}"#,
    )
    .unwrap();
    let out = hub(&["schemas", "check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("broken.v1.json at line 3, column 3: not valid JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains("colour.v1.json at /properties/a/x-hub-colour: unknown extension keyword"),
        "{stderr}"
    );
    assert!(
        stderr.contains("named.v1.json at /x-hub-line: 'other' does not match"),
        "{stderr}"
    );
}

#[test]
fn validate_exit_codes() {
    let example = |line: &str, name: &str| format!("examples/orders/{line}/{name}.input.json");
    let out = hub(&["validate", "freight-booking", &example("freight-booking", "messy-fcl")]);
    assert_eq!(out.status.code(), Some(0));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["normalized"]["origin_port"], "CNSHA");
    assert_eq!(
        verdict["normalized"]["shipper"]["address"], "上海市浦东新区张江路８８号",
        "Chinese text intact"
    );
    let out = hub(&[
        "validate",
        "warehouse-order",
        &example("warehouse-order", "ambiguous-date"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("needs-review"));
    let out = hub(&["validate", "complaint", &example("complaint", "invalid-short")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        hub(&["validate", "complaint", "no/such/file.json"]).status.code(),
        Some(2)
    );
    let out = hub(&["validate", "space-freight", &example("complaint", "invalid-short")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown business line 'space-freight'"));
}

#[test]
fn serve_refuses_a_missing_config_file_naming_it() {
    let out = hub(&["serve", "--config", "/nonexistent/hub.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/hub.toml"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http(port: u16, request: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn serve_accepts_an_order_and_stops_gracefully_on_sigterm() {
    let dir = temp_dir("serve");
    let port = free_port();
    let database = format!("sqlite:{}", dir.join("hub.db").display());
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args([
            "serve",
            "--listen",
            &listen,
            "--database",
            &database,
            "--schemas",
            "schemas",
        ])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The hub logs "order hub ready" once it listens: wait for that line
    // (the reader keeps draining the log so the hub never blocks on it).
    let (ready_tx, ready_rx) = mpsc::channel();
    let log = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in log.lines().map_while(Result::ok) {
            if line.contains("order hub ready") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("hub did not log that it is ready within 30 s");
    let ready = http(port, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    // routed by the example config to freight-ops (nothing listens there: the
    // dispatcher retries it, and SIGTERM must still stop the hub promptly)
    let body = std::fs::read_to_string(repo().join("examples/orders/freight-booking/messy-fcl.input.json")).unwrap();
    let request = format!(
        "POST /v1/orders/freight-booking HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-customer-acme\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = http(port, &request).unwrap();
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    assert!(response.contains("\"status\":\"queued\""), "{response}");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (exit_tx, exit_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = exit_tx.send(child.wait());
    });
    let status = exit_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("hub did not stop within 10 s of SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(Path::new(&dir.join("hub.db")).exists());
}

#[test]
fn routes_explain_names_the_matching_rule_and_why_others_did_not() {
    let out = hub(&[
        "routes",
        "explain",
        "freight-booking",
        "examples/orders/freight-booking/messy-fcl.input.json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ocean freight → freight-ops: matched\nrouted to freight-ops\n"
    );

    let out = hub(&[
        "routes",
        "explain",
        "freight-booking",
        "examples/orders/freight-booking/suzhou-air-fca.input.json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "no rule matches an air booking in the example config"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("ocean freight → freight-ops: no, /service_mode is \"AIR\", not one of [\"FCL\", \"LCL\"]\nno rule matched\n"),
        "{text}"
    );
}

#[test]
fn keys_are_created_once_listed_without_the_key_and_revoked() {
    let db = format!("sqlite:{}", temp_dir("keys").join("hub.db").display());
    let create_key = |args: &[&str]| hub(&[&["keys", "create", "--database", db.as_str()], args].concat());
    let created = create_key(&[
        "--principal",
        "initech-portal",
        "--role",
        "customer",
        "--tenant",
        "initech",
        "--label",
        "portal prod",
        "--as",
        "wang",
        "--json",
    ]);
    assert!(created.status.success(), "{created:?}");
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ohk_") && key.len() > 40, "{key}");

    // The stored key resolves to its principal; only its digest is stored.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let principal = runtime.block_on(async {
        let store = hub_kernel::store::Store::connect(&db).await.unwrap();
        let principal = store
            .principal_for_key(&hub_kernel::auth::digest_hex(&key))
            .await
            .unwrap();
        store.close().await;
        principal
    });
    let principal = principal.expect("the new key authenticates");
    assert_eq!(
        (principal.id.as_str(), principal.tenant.as_deref()),
        ("initech-portal", Some("initech"))
    );
    let file = std::fs::read(db.trim_start_matches("sqlite:")).unwrap();
    assert!(
        !file.windows(key.len()).any(|w| w == key.as_bytes()),
        "the key itself is not in the database"
    );

    let listed = hub(&["keys", "list", "--database", &db]);
    let text = String::from_utf8(listed.stdout).unwrap();
    assert!(
        text.contains(&id) && text.contains("initech-portal") && text.contains("active"),
        "{text}"
    );
    assert!(!text.contains(&key), "lists never show the key");

    let revoked = hub(&["keys", "revoke", &id, "--database", &db, "--as", "wang"]);
    assert!(revoked.status.success(), "{revoked:?}");
    let again = hub(&["keys", "revoke", &id, "--database", &db]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no active key"));
    let listed = hub(&["keys", "list", "--database", &db, "--all"]);
    assert!(String::from_utf8(listed.stdout).unwrap().contains("revoked"));

    // Mistakes are refused with the reason.
    let no_tenant = create_key(&["--principal", "x", "--role", "customer"]);
    assert_eq!(no_tenant.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_tenant.stderr).contains("needs --tenant"));
    let bad_role = create_key(&["--principal", "x", "--role", "root"]);
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role 'root'"));

    // Expiry: shown by lists; a time in the past is refused.
    let expiring = create_key(&[
        "--principal",
        "ops-bot",
        "--role",
        "operator",
        "--expires-at",
        "2099-01-31T00:00:00Z",
    ]);
    assert!(expiring.status.success(), "{expiring:?}");
    assert!(String::from_utf8_lossy(&expiring.stdout).contains("expires: 2099-01-31T00:00:00.000000Z"));
    let listed = hub(&["keys", "list", "--database", &db]);
    let text = String::from_utf8(listed.stdout).unwrap();
    assert!(
        text.contains("EXPIRES") && text.contains("LAST USED") && text.contains("2099-01-31T00:00:00.000000Z"),
        "{text}"
    );
    let past = create_key(&[
        "--principal",
        "x",
        "--role",
        "operator",
        "--expires-at",
        "2020-01-01T00:00:00Z",
    ]);
    assert!(!past.status.success());
    assert!(String::from_utf8_lossy(&past.stderr).contains("not in the future"));
    let both = create_key(&[
        "--principal",
        "x",
        "--role",
        "operator",
        "--expires-in",
        "30d",
        "--expires-at",
        "2099-01-31T00:00:00Z",
    ]);
    assert_eq!(both.status.code(), Some(2), "the two are exclusive");
}
