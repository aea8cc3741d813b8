//! The kernel's test guest. Its `behaviour` setting picks what `submit`
//! does, so one compiled component covers every sandbox test:
//!
//! | behaviour  | what the guest does                                            |
//! |------------|----------------------------------------------------------------|
//! | `echo`     | logs, POSTs `probe` with its version header, accepts (default) |
//! | `loop`     | spins forever                                                  |
//! | `alloc`    | allocates and touches 1 GiB                                    |
//! | `trap`     | panics                                                         |
//! | `oversized`| returns a 4 MiB ops-ref                                        |
//! | `outside`  | sends to an absolute URL, then to `../admin`                   |
//! | `snoop`    | reads env vars, files, secrets; sets `authorization`           |
//! | `flood`    | calls the host without end                                     |
//! | `slow`     | GETs `slow` (the test server never answers in time)            |
//! | `publish`  | publishes to AMQP and writes a file                            |
//!
//! The version comes from `HUB_PROBE_VERSION` at build time, so the build
//! script makes two versions of the same guest for the hot-swap test.
#![allow(clippy::panic)]

use hub_plugin_sdk::{
    Failure, FailureExt, Feedback, FeedbackStatus, Inbound, Order, Outcome, OutcomeExt, Plugin, amqp, config,
    export_plugin, files, http, log,
};

const VERSION: &str = match option_env!("HUB_PROBE_VERSION") {
    Some(version) => version,
    None => "1.0.0",
};

struct Probe;

export_plugin!(Probe);

fn transport(context: &str) -> impl FnOnce(hub_plugin_sdk::TransportError) -> Failure + '_ {
    move |error| Failure::from_transport(context, error)
}

impl Plugin for Probe {
    fn submit(order: Order) -> Result<Outcome, Failure> {
        let behaviour = config::get("behaviour").unwrap_or_else(|| "echo".to_owned());
        match behaviour.as_str() {
            "echo" => echo(&order),
            "loop" => {
                let mut counter: u64 = 0;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut block = vec![0u8; 1 << 30];
                for index in (0..block.len()).step_by(4096) {
                    block[index] = 1;
                }
                Ok(Outcome::accepted(format!("{}", std::hint::black_box(block).len())))
            }
            "trap" => panic!("probe was asked to panic on order {}", order.id),
            "oversized" => Ok(Outcome::accepted("x".repeat(4 << 20))),
            "outside" => {
                let absolute = http::get("http://169.254.169.254/latest/meta-data", &[]);
                let dotted = http::get("../admin", &[]);
                match (absolute, dotted) {
                    (Err(first), Err(second)) => Err(Failure::from_transport(
                        "outside the target",
                        hub_plugin_sdk::TransportError::Denied(format!(
                            "{} | {}",
                            hub_plugin_sdk::TransportErrorExt::describe(&first),
                            hub_plugin_sdk::TransportErrorExt::describe(&second)
                        )),
                    )),
                    _ => Ok(Outcome::accepted("escaped the target")),
                }
            }
            "snoop" => snoop(),
            "flood" => {
                let mut calls: u64 = 0;
                loop {
                    let _ = config::get("behaviour");
                    calls += 1;
                    if calls == u64::MAX {
                        return Ok(Outcome::accepted("flood ended"));
                    }
                }
            }
            "slow" => {
                let response = http::get("slow", &[]).map_err(transport("GET slow"))?;
                Ok(Outcome::accepted(format!("slow answered {}", response.status)))
            }
            "publish" => {
                amqp::publish(&amqp::Message {
                    routing_key: "orders".to_owned(),
                    body: order.payload.clone().into_bytes(),
                    content_type: Some("application/json".to_owned()),
                    message_id: Some(order.idempotency_key.clone()),
                    correlation_id: Some(order.id.clone()),
                    expect_reply: true,
                    headers: Vec::new(),
                })
                .map_err(transport("publish"))?;
                files::put(&format!("out/{}.json", order.idempotency_key), order.payload.as_bytes())
                    .map_err(transport("put"))?;
                Ok(Outcome::pending(order.id))
            }
            other => Err(Failure::permanent(format!("unknown behaviour `{other}`"))),
        }
    }

    fn on_inbound(message: Inbound) -> Result<Vec<Feedback>, Failure> {
        let text = String::from_utf8(message.body)
            .map_err(|error| Failure::permanent(format!("inbound body is not UTF-8: {error}")))?;
        Ok(vec![
            Feedback::new(FeedbackStatus::Completed)
                .with_correlation_id(message.correlation_id)
                .with_ops_ref(format!("{VERSION}:inbound"))
                .with_message(text),
        ])
    }
}

/// Well-behaved: two host calls that carry the version, so a test can check
/// that one call never mixes two versions.
fn echo(order: &Order) -> Result<Outcome, Failure> {
    log::info(&format!("probe {VERSION} submitting {}", order.id));
    let response = http::post_json(
        "probe",
        &serde_json::json!({ "order": order.id, "version": VERSION }),
        &[
            ("x-probe-version", VERSION),
            ("idempotency-key", &order.idempotency_key),
        ],
    )
    .map_err(transport("POST probe"))?;
    if response.status >= 300 {
        return Err(Failure::retryable(format!(
            "probe endpoint answered {}",
            response.status
        )));
    }
    Ok(Outcome::accepted_with(
        format!("{VERSION}:{}", order.id),
        format!("attempt {}", order.attempt),
    ))
}

/// Looks everywhere a plugin must not see, and reports what it found.
fn snoop() -> Result<Outcome, Failure> {
    let env: Vec<String> = std::env::vars().map(|(key, _)| key).collect();
    let file = match std::fs::read("/etc/passwd") {
        Ok(bytes) => format!("read {} bytes", bytes.len()),
        Err(error) => format!("error: {error}"),
    };
    let dir = match std::fs::read_dir(".") {
        Ok(_) => "listed".to_owned(),
        Err(error) => format!("error: {error}"),
    };
    let secret = config::get("password").or_else(|| config::get("token"));
    let settings: Vec<String> = config::entries().into_iter().map(|(key, _)| key).collect();
    let forged = match http::get("probe", &[("authorization", "Bearer stolen")]) {
        Ok(response) => format!("sent, HTTP {}", response.status),
        Err(error) => hub_plugin_sdk::TransportErrorExt::describe(&error),
    };
    let report = serde_json::json!({
        "env": env, "file": file, "dir": dir, "secret": secret, "settings": settings, "forged_authorization": forged,
    });
    Ok(Outcome::accepted_with("snooped", report.to_string()))
}
