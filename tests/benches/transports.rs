//! Delivered orders per second through the whole hub, per transport, on
//! loopback against the same real servers the e2e tests use.
//!
//! For each transport: start the OPS and a hub (SQLite, the reference
//! plugin), submit `ORDERS` example orders through the HTTP API with
//! `CONCURRENCY` clients, and wait until the target's lane reports them all
//! delivered (HTTP answered, broker confirmed, file renamed into place).
//! Reported: delivered orders/s from the first submission to the last
//! delivery, and per order the HTTP intake latency and the queue→delivered
//! latency (timeline `received` → `submitted`/`accepted`), p50 and p99.
//!
//! `cargo bench -p hub-e2e --bench transports` (or `scripts/bench transports`);
//! `BENCH_ORDERS` overrides the count. Needs RabbitMQ and OpenSSH's sshd
//! (as the tests do) and built plugins (`scripts/build-plugins`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_e2e::hub::{OPERATOR_KEY, TestHub, example_order, temp_dir};
use hub_e2e::servers::freight_rest::FreightRestOps;
use hub_e2e::servers::ftp::FtpServer;
use hub_e2e::servers::ops_http::{OpsHttpOptions, OpsHttpServer, WsseAccount};
use hub_e2e::servers::rabbitmq::{Peer, broker_url, unique_name};
use hub_e2e::servers::sshd::SshServer;
use serde_json::Value;

const CONCURRENCY: usize = 16;

struct Figures {
    transport: &'static str,
    orders: usize,
    seconds: f64,
    intake: Vec<Duration>,
    delivery: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn secret(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    format!("{{ file = \"{}\" }}", path.display())
}

fn common(target: &str, line: &str) -> String {
    format!(
        "concurrency = 16\nretry = {{ max_attempts = 20, initial_backoff_ms = 50, max_backoff_ms = 500 }}\n\n\
         [[routes]]\nname = \"bench\"\nline = \"{line}\"\ntarget = \"{target}\"\n"
    )
}

fn parse_time(text: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap()
}

async fn run(transport: &'static str, target: &str, line: &str, case: &str, config: String, orders: usize) -> Figures {
    let hub = Arc::new(TestHub::start(&config).await);
    let order = Arc::new(example_order(line, case));
    // Warm-up: compile cache, connections.
    let warm = hub.submit(line, &order).await;
    hub.wait_for_status(&warm, &["submitted", "accepted"], Duration::from_secs(60))
        .await;

    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    let per_client = orders / CONCURRENCY;
    for _ in 0..CONCURRENCY {
        let hub = hub.clone();
        let order = order.clone();
        let line = line.to_owned();
        clients.spawn(async move {
            let mut done = Vec::new();
            for _ in 0..per_client {
                let at = Instant::now();
                let id = hub.submit(&line, &order).await;
                done.push((id, at.elapsed()));
            }
            done
        });
    }
    let mut submitted = Vec::new();
    while let Some(done) = clients.join_next().await {
        submitted.extend(done.unwrap());
    }
    let total = submitted.len() + 1;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, targets) = hub.get(OPERATOR_KEY, "/v1/targets").await;
        let delivered = targets["targets"]
            .as_array()
            .and_then(|all| all.iter().find(|t| t["lane"]["target"] == target))
            .and_then(|t| t["lane"]["delivered"].as_u64())
            .unwrap_or(0);
        if delivered as usize >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{transport}: only {delivered}/{total} delivered in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut intake: Vec<Duration> = submitted.iter().map(|(_, latency)| *latency).collect();
    let mut delivery = Vec::new();
    for (id, _) in &submitted {
        let order: Value = hub.order(id).await;
        let timeline = order["timeline"].as_array().unwrap();
        let received = timeline.iter().find(|e| e["kind"] == "received").unwrap();
        let delivered = timeline
            .iter()
            .find(|e| e["kind"] == "submitted" || e["kind"] == "accepted")
            .unwrap_or_else(|| panic!("{transport}: order {id} not delivered: {order:#}"));
        let latency = parse_time(delivered["at"].as_str().unwrap()) - parse_time(received["at"].as_str().unwrap());
        delivery.push(latency.to_std().unwrap_or_default());
    }
    intake.sort();
    delivery.sort();
    if let Ok(hub) = Arc::try_unwrap(hub) {
        hub.stop().await;
    }
    Figures {
        transport,
        orders: submitted.len(),
        seconds,
        intake,
        delivery,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let orders: usize = std::env::var("BENCH_ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(480)
        .max(CONCURRENCY);
    let secrets = temp_dir("bench-secrets");
    let mut results = Vec::new();

    let rest = FreightRestOps::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = format!(
        "[targets.freight-ops]\nplugin = \"rest-json\"\ngrants = [\"http\", \"config\", \"log\"]\n\
         settings = {{ bookings_path = \"bookings\" }}\nhttp = {{ base_url = \"{}\" }}\n{}",
        rest.base_url(),
        common("freight-ops", "freight-booking")
    );
    results.push(
        run(
            "REST/JSON",
            "freight-ops",
            "freight-booking",
            "messy-fcl",
            config,
            orders,
        )
        .await,
    );

    let soap = OpsHttpServer::start(OpsHttpOptions {
        wsse: Some(WsseAccount {
            username: "hub".into(),
            password: "bench-pass".into(),
        }),
        tls: false,
        address: None,
    })
    .await
    .unwrap();
    let config = format!(
        "[targets.customs-ops]\nplugin = \"customs-soap\"\ngrants = [\"http\", \"config\", \"log\"]\n\
         http = {{ base_url = \"{}\", wsse = {{ username = \"hub\", password = {} }} }}\n{}",
        soap.base_url(),
        secret(&secrets, "wss", "bench-pass"),
        common("customs-ops", "customs-declaration")
    );
    results.push(
        run(
            "SOAP 1.1 + WSS digest",
            "customs-ops",
            "customs-declaration",
            "messy-export",
            config,
            orders,
        )
        .await,
    );

    let peer = Peer::connect().await.unwrap();
    let (exchange, queue, replies) = (unique_name("bench-x"), unique_name("bench-q"), unique_name("bench-r"));
    peer.declare_exchange(&exchange).await.unwrap();
    peer.declare_queue(&queue).await.unwrap();
    peer.bind(&queue, &exchange, "wms.order.create").await.unwrap();
    let config = format!(
        "[targets.warehouse-ops]\nplugin = \"warehouse-amqp\"\ngrants = [\"amqp\", \"config\", \"log\"]\n\
         amqp = {{ url = \"{}\", username = \"guest\", password = {}, exchange = \"{exchange}\", routing_keys = [\"wms.order.create\"], reply_queue = \"{replies}\" }}\n{}",
        broker_url(),
        secret(&secrets, "amqp", "guest"),
        common("warehouse-ops", "warehouse-order")
    );
    results.push(
        run(
            "RabbitMQ (confirms)",
            "warehouse-ops",
            "warehouse-order",
            "messy-inbound",
            config,
            orders,
        )
        .await,
    );
    let _ = peer.delete_queue(&queue).await;
    let _ = peer.delete_queue(&replies).await;
    let _ = peer.delete_exchange(&exchange).await;

    let sshd = SshServer::start().unwrap();
    std::fs::create_dir_all(sshd.data_directory().join("inbox")).unwrap();
    let config = format!(
        "[targets.trucking-ops]\nplugin = \"trucking-sftp\"\ngrants = [\"files\", \"config\", \"log\"]\n\
         files = {{ protocol = \"sftp\", host = \"127.0.0.1\", port = {}, username = \"{}\", private_key = {{ file = \"{}\" }}, host_key_sha256 = \"{}\", root = \"{}\", connections = 4 }}\n{}",
        sshd.port(),
        sshd.user(),
        sshd.client_private_key_path().display(),
        sshd.host_key_sha256(),
        sshd.data_directory().display(),
        common("trucking-ops", "trucking-pickup")
    );
    results.push(
        run(
            "SFTP (CSV files)",
            "trucking-ops",
            "trucking-pickup",
            "messy-pickup",
            config,
            orders,
        )
        .await,
    );

    let ftp = FtpServer::start().await.unwrap();
    std::fs::create_dir_all(ftp.data_directory().join("inbox")).unwrap();
    let config = format!(
        "[targets.complaints-ops]\nplugin = \"complaints-ftp\"\ngrants = [\"files\", \"config\", \"log\"]\n\
         files = {{ protocol = \"ftp\", host = \"127.0.0.1\", port = {}, username = \"{}\", password = {}, connections = 4 }}\n{}",
        ftp.port(),
        ftp.user(),
        secret(&secrets, "ftp", ftp.password()),
        common("complaints-ops", "complaint")
    );
    results.push(
        run(
            "FTP (XML files)",
            "complaints-ops",
            "complaint",
            "messy-delay",
            config,
            orders,
        )
        .await,
    );

    println!("\n| transport | orders | delivered/s | intake p50 | intake p99 | queue→delivered p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for f in &results {
        println!(
            "| {} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            f.transport,
            f.orders,
            f.orders as f64 / f.seconds,
            percentile(&f.intake, 0.5).as_secs_f64() * 1e3,
            percentile(&f.intake, 0.99).as_secs_f64() * 1e3,
            percentile(&f.delivery, 0.5).as_secs_f64() * 1e3,
            percentile(&f.delivery, 0.99).as_secs_f64() * 1e3,
        );
    }
}
