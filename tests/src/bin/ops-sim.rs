//! `ops-sim`: the five OPS of the walkthrough on localhost, wired as
//! `examples/hub.toml` expects them — the same servers the end-to-end tests
//! start, on fixed ports, answering every order as a friendly OPS would.
//!
//! | OPS | where | answers |
//! |---|---|---|
//! | freight REST | http://127.0.0.1:8090/api/bookings | a booking number at once |
//! | customs SOAP 1.1 + WS-Security | http://127.0.0.1:8092/customs/DeclarationService | a declaration number at once |
//! | warehouse WMS | RabbitMQ 127.0.0.1:5672, exchange `wms`, queue `wms.orders` | ACCEPTED on the reply queue |
//! | trucking | SFTP 127.0.0.1:2222 (OpenSSH sshd, DEMO keys) `inbox/` | a CSV in `outbox/` |
//! | complaints | FTP 127.0.0.1:2121 `inbox/` | an XML file in `outbox/` |
//!
//! Files live under `/tmp/order-hub-ops-sim/`. Run from the repository root:
//! `cargo run -p hub-e2e --bin ops-sim`; Ctrl-C stops everything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use hub_e2e::servers::freight_rest::FreightRestOps;
use hub_e2e::servers::ftp::FtpServer;
use hub_e2e::servers::ops_http::{OpsHttpOptions, OpsHttpServer, WsseAccount};
use hub_e2e::servers::rabbitmq::Peer;
use hub_e2e::servers::sshd::SshServer;
use serde_json::{Value, json};

const DATA: &str = "/tmp/order-hub-ops-sim";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let keys = root.join("examples/ops-sim/keys");
    let secrets = root.join("examples/ops-sim/secrets");

    let _freight = FreightRestOps::start("127.0.0.1:8090".parse()?)
        .await
        .context("freight REST on :8090 (is examples/ops-sim/freight_ops.py running?)")?;
    println!("freight    REST            http://127.0.0.1:8090/api/bookings");

    let wss_password = std::fs::read_to_string(secrets.join("customs-wss-password"))?;
    let _customs = OpsHttpServer::start(OpsHttpOptions {
        wsse: Some(WsseAccount {
            username: "hub-customs".into(),
            password: wss_password.trim().to_owned(),
        }),
        tls: false,
        address: Some("127.0.0.1:8092".parse()?),
    })
    .await
    .context("customs SOAP on :8092")?;
    println!("customs    SOAP 1.1 + WSS  http://127.0.0.1:8092/customs/DeclarationService");

    let sftp_data = Path::new(DATA).join("sftp");
    let ftp_data = Path::new(DATA).join("ftp");
    for data in [&sftp_data, &ftp_data] {
        for dir in ["inbox", "outbox", "archive", "error", "processed"] {
            std::fs::create_dir_all(data.join(dir))?;
        }
    }
    let _sshd = tokio::task::spawn_blocking({
        let (keys, data) = (keys.clone(), sftp_data.clone());
        move || {
            SshServer::start_with_keys(
                2222,
                &keys.join("ssh_host_ed25519_key"),
                &keys.join("hub_ed25519"),
                &data,
            )
        }
    })
    .await?
    .context("SFTP (OpenSSH sshd) on :2222")?;
    println!(
        "trucking   SFTP            127.0.0.1:2222  {}/{{inbox,outbox}}",
        sftp_data.display()
    );

    let _ftp = FtpServer::start_at(2121, &ftp_data).await.context("FTP on :2121")?;
    println!(
        "complaints FTP             127.0.0.1:2121  {}/{{inbox,outbox}}",
        ftp_data.display()
    );

    tokio::spawn(async {
        if let Err(error) = warehouse().await {
            eprintln!("warehouse WMS stopped: {error:#}");
        }
    });
    tokio::spawn(answer_files(sftp_data, ftp_data));
    println!("\nOPS simulator up; Ctrl-C to stop.");
    // Returning (not being killed) drops the servers: sshd is stopped.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// The WMS: takes orders from `wms.orders`, answers ACCEPTED on their `reply-to`.
async fn warehouse() -> anyhow::Result<()> {
    let peer = Peer::connect().await?;
    peer.declare_exchange("wms").await?;
    peer.declare_queue("wms.orders").await?;
    peer.bind("wms.orders", "wms", "wms.order.create").await?;
    println!("warehouse  RabbitMQ        exchange wms → queue wms.orders (answers on reply-to)");
    let mut inbox = peer.consume("wms.orders").await?;
    let mut number = 0;
    loop {
        let Ok(got) = inbox.next_within(Duration::from_secs(3600)).await else {
            continue;
        };
        number += 1;
        let order: Value = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
        let correlation = got.correlation_id.clone().unwrap_or_default();
        println!("WMS got {} ({})", order["order_ref"], order["contact"]["name"]);
        if let Some(reply_to) = &got.reply_to {
            let answer = json!({
                "correlation_id": correlation,
                "status": "ACCEPTED",
                "wms_ref": format!("WMS-{number:06}"),
                "message": "入库单已创建 inbound order created",
            });
            peer.publish_reply(
                reply_to,
                answer.to_string().as_bytes(),
                &correlation,
                &format!("wms-{number}"),
                &[],
            )
            .await?;
        }
    }
}

/// The file OPS: every order file in `inbox/` gets an answer in `outbox/`.
async fn answer_files(sftp: PathBuf, ftp: PathBuf) {
    let mut number = 0;
    loop {
        for (data, kind) in [(&sftp, "trucking"), (&ftp, "complaints")] {
            let Ok(entries) = std::fs::read_dir(data.join("inbox")) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                number += 1;
                let (answer_name, answer) = if kind == "trucking" {
                    let reference = text.lines().nth(1).and_then(|row| row.split(',').next()).unwrap_or("");
                    (
                        format!("{name}.answer.csv"),
                        format!(
                            "pickup_ref,status,waybill_no,message\r\n{reference},ACCEPTED,WB-{number:06},已派车 truck assigned\r\n"
                        ),
                    )
                } else {
                    let reference = text
                        .split("<Reference>")
                        .nth(1)
                        .and_then(|rest| rest.split("</Reference>").next())
                        .unwrap_or("");
                    (
                        format!("{name}.answer.xml"),
                        format!(
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ComplaintResponse><Reference>{reference}</Reference><Status>OPENED</Status><CaseNumber>CS-{number:06}</CaseNumber><Message>已受理 we are on it</Message></ComplaintResponse>\n"
                        ),
                    )
                };
                // Written under a temporary name, then renamed: the hub never
                // sees half an answer.
                let temporary = data.join("outbox").join(format!(".{answer_name}"));
                if std::fs::write(&temporary, answer).is_ok()
                    && std::fs::rename(&temporary, data.join("outbox").join(&answer_name)).is_ok()
                {
                    let _ = std::fs::rename(entry.path(), data.join("processed").join(&name));
                    println!("{kind} OPS took {name}, answered {answer_name}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
