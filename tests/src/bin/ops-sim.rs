//! `ops-sim`: the five OPS of the walkthrough on localhost, wired as
//! `examples/hub.toml` expects them — the same servers the end-to-end tests
//! start, on fixed ports, answering every order as a friendly OPS would.
//!
//! | name | line → target | OPS | where | answers |
//! |---|---|---|---|---|
//! | freight | freight-booking → freight-ops | REST | http://127.0.0.1:8090/api/bookings | a booking number at once |
//! | customs | customs-declaration → customs-ops | SOAP 1.1 + WS-Security | http://127.0.0.1:8092/customs/DeclarationService | a declaration number at once |
//! | warehouse | warehouse-order → warehouse-ops | RabbitMQ 127.0.0.1:5672, exchange `wms`, queue `wms.orders` | ACCEPTED on the reply queue |
//! | trucking | trucking-pickup → trucking-ops | SFTP 127.0.0.1:2222 (OpenSSH sshd, DEMO keys) `inbox/` | a CSV in `outbox/` |
//! | complaints | complaint → complaints-ops | FTP 127.0.0.1:2121 `inbox/` | an XML file in `outbox/` |
//!
//! Each OPS starts on its own. One that cannot (port taken, no `sshd`,
//! RabbitMQ not running, …) gets one line naming the business line and
//! target that will not be delivered and why; the others start anyway. A
//! table of all five follows, then `ops-sim ready: N of 5 OPS up` (the line
//! `scripts/serve` waits for). The process fails only when none started.
//! The WMS keeps trying to reach RabbitMQ (at start-up and after losing it).
//!
//! `--only freight,customs` starts only those, `--skip trucking` all but
//! those (`OPS_SIM_ONLY`, `OPS_SIM_SKIP` in the environment do the same).
//!
//! Files live under `/tmp/order-hub-ops-sim/`. `scripts/serve` starts it
//! with the hub; alone: `cargo run -p hub-e2e --bin ops-sim`. Ctrl-C or
//! SIGTERM stops every server.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use hub_e2e::servers::freight_rest::FreightRestOps;
use hub_e2e::servers::ftp::FtpServer;
use hub_e2e::servers::ops_http::{OpsHttpOptions, OpsHttpServer, WsseAccount};
use hub_e2e::servers::rabbitmq::{self, Inbox, Peer};
use hub_e2e::servers::sshd::SshServer;
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

const DATA: &str = "/tmp/order-hub-ops-sim";
/// How long the WMS waits for the broker before calling it unreachable.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the WMS tries the broker again while it is unreachable.
const BROKER_RETRY: Duration = Duration::from_secs(5);
/// How long a server may take to stop before ops-sim exits anyway.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "\
usage: ops-sim [--only NAMES] [--skip NAMES]

Starts the five OPS of examples/hub.toml on loopback.
NAMES is a comma-separated list of: freight, customs, warehouse, trucking, complaints.
  --only NAMES   start only these (env OPS_SIM_ONLY)
  --skip NAMES   start all but these (env OPS_SIM_SKIP)
Ctrl-C or SIGTERM stops everything.";

/// Prints a line to stdout. A reader that went away (e.g. `scripts/serve`'s
/// log forwarder during Ctrl-C) is no reason to stop the servers uncleanly.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// One OPS of `examples/hub.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ops {
    Freight,
    Customs,
    Warehouse,
    Trucking,
    Complaints,
}

impl Ops {
    const ALL: [Ops; 5] = [
        Ops::Freight,
        Ops::Customs,
        Ops::Warehouse,
        Ops::Trucking,
        Ops::Complaints,
    ];

    /// The name `--only` / `--skip` take.
    fn name(self) -> &'static str {
        match self {
            Ops::Freight => "freight",
            Ops::Customs => "customs",
            Ops::Warehouse => "warehouse",
            Ops::Trucking => "trucking",
            Ops::Complaints => "complaints",
        }
    }

    /// The business line whose orders the example routes send to this OPS.
    fn line(self) -> &'static str {
        match self {
            Ops::Freight => "freight-booking",
            Ops::Customs => "customs-declaration",
            Ops::Warehouse => "warehouse-order",
            Ops::Trucking => "trucking-pickup",
            Ops::Complaints => "complaint",
        }
    }

    /// The `[targets.*]` of `examples/hub.toml` that talks to it.
    fn target(self) -> &'static str {
        match self {
            Ops::Freight => "freight-ops",
            Ops::Customs => "customs-ops",
            Ops::Warehouse => "warehouse-ops",
            Ops::Trucking => "trucking-ops",
            Ops::Complaints => "complaints-ops",
        }
    }

    fn transport(self) -> &'static str {
        match self {
            Ops::Freight => "REST/JSON",
            Ops::Customs => "SOAP 1.1 + WS-Security",
            Ops::Warehouse => "RabbitMQ request/reply",
            Ops::Trucking => "SFTP (OpenSSH sshd)",
            Ops::Complaints => "FTP (passive)",
        }
    }

    /// Host and port, for one-line messages.
    fn endpoint(self) -> String {
        match self {
            Ops::Freight => "http://127.0.0.1:8090".to_owned(),
            Ops::Customs => "http://127.0.0.1:8092".to_owned(),
            Ops::Warehouse => format!("RabbitMQ at {}", rabbitmq::broker_url()),
            Ops::Trucking => "SFTP on 127.0.0.1:2222".to_owned(),
            Ops::Complaints => "FTP on 127.0.0.1:2121".to_owned(),
        }
    }

    /// Where the OPS is, in full (the table's last column).
    fn location(self) -> String {
        match self {
            Ops::Freight => "http://127.0.0.1:8090/api/bookings".to_owned(),
            Ops::Customs => "http://127.0.0.1:8092/customs/DeclarationService".to_owned(),
            Ops::Warehouse => format!("{} exchange wms, queue wms.orders", rabbitmq::broker_url()),
            Ops::Trucking => format!("sftp://127.0.0.1:2222 {DATA}/sftp/{{inbox,outbox}}"),
            Ops::Complaints => format!("ftp://127.0.0.1:2121 {DATA}/ftp/{{inbox,outbox}}"),
        }
    }

    fn parse_list(list: &str) -> anyhow::Result<Vec<Ops>> {
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                Ops::ALL.into_iter().find(|ops| ops.name() == name).with_context(|| {
                    format!("unknown OPS `{name}` (known: freight, customs, warehouse, trucking, complaints)")
                })
            })
            .collect()
    }
}

/// What keeps a started OPS serving; [`Running::stop`] stops it.
enum Running {
    Freight(FreightRestOps),
    Customs(OpsHttpServer),
    Warehouse(Wms),
    Trucking(SshServer),
    Complaints(FtpServer),
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        match self {
            // Dropping the handle shuts the HTTP server down.
            Running::Freight(ops) => drop(ops),
            Running::Customs(ops) => drop(ops),
            Running::Warehouse(wms) => wms.stop().await,
            // Kills sshd and the sessions it forked; the drop afterwards
            // removes its temporary directory.
            Running::Trucking(mut sshd) => tokio::task::spawn_blocking(move || sshd.stop())
                .await
                .context("stopping sshd")??,
            Running::Complaints(mut ftp) => ftp.stop().await?,
        }
        Ok(())
    }
}

/// The WMS task and the switch that stops it.
struct Wms {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Wms {
    fn spawn(connection: Option<(Peer, Inbox)>) -> Wms {
        let (stop, stopped) = watch::channel(false);
        Wms {
            stop,
            task: tokio::spawn(run_wms(connection, stopped)),
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(STOP_TIMEOUT, self.task).await.is_err() {
            abort.abort();
        }
    }
}

/// How one selected OPS came out of start-up.
enum Outcome {
    Up(Running),
    /// Not started; the reason (the error chain and a hint).
    Down(String),
    /// The WMS could not reach RabbitMQ and keeps trying in the background.
    Waiting(String, Wms),
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(error) => {
            say!("ops-sim: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let Some(selected) = selection(std::env::args().skip(1))? else {
        say!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    // Handlers first: a signal during start-up must still stop sshd (a
    // child process) instead of killing ops-sim and orphaning it.
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    say!(
        "ops-sim: starting {} OPS for examples/hub.toml on loopback …",
        selected.len()
    );
    let outcomes = tokio::select! {
        outcomes = start_all(&selected, &root) => outcomes,
        _ = interrupt.recv() => {
            say!("ops-sim: interrupted during start-up");
            return Ok(ExitCode::from(130));
        }
        _ = terminate.recv() => {
            say!("ops-sim: terminated during start-up");
            return Ok(ExitCode::from(143));
        }
    };

    // Why each OPS that is not up will not deliver, then the table.
    for (ops, outcome) in &outcomes {
        let (Outcome::Down(reason) | Outcome::Waiting(reason, _)) = outcome else {
            continue;
        };
        say!(
            "ops-sim: {} orders will not be delivered (target {}, {}): {reason}",
            ops.line(),
            ops.target(),
            ops.endpoint(),
        );
    }
    say!("");
    say!(
        "{:<20} {:<15} {:<8} {:<23} where",
        "line",
        "target",
        "state",
        "transport"
    );
    for ops in Ops::ALL {
        let state = match outcomes.iter().find(|(started, _)| *started == ops) {
            None => "skipped",
            Some((_, Outcome::Up(_))) => "up",
            Some((_, Outcome::Down(_))) => "DOWN",
            Some((_, Outcome::Waiting(..))) => "waiting",
        };
        say!(
            "{:<20} {:<15} {:<8} {:<23} {}",
            ops.line(),
            ops.target(),
            state,
            ops.transport(),
            ops.location()
        );
    }
    let up: Vec<Ops> = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Outcome::Up(_)))
        .map(|(ops, _)| *ops)
        .collect();
    let names = |wanted: &dyn Fn(&Ops) -> bool| Ops::ALL.into_iter().filter(wanted).map(Ops::name).collect::<Vec<_>>();
    let not_up = names(&|ops| selected.contains(ops) && !up.contains(ops));
    let skipped = names(&|ops| !selected.contains(ops));
    let mut missing = Vec::new();
    if !not_up.is_empty() {
        missing.push(format!("not up: {}", not_up.join(", ")));
    }
    if !skipped.is_empty() {
        missing.push(format!("skipped: {}", skipped.join(", ")));
    }
    let missing = if missing.is_empty() {
        String::new()
    } else {
        format!(" ({})", missing.join("; "))
    };
    if up.is_empty() {
        say!("ops-sim: no OPS started{missing}");
        stop_all(outcomes).await;
        return Ok(ExitCode::FAILURE);
    }
    say!("ops-sim ready: {} of 5 OPS up{missing}; Ctrl-C to stop", up.len());

    // The file OPS answer what the hub uploads.
    let file_dirs: Vec<(Ops, PathBuf)> = up
        .iter()
        .filter_map(|ops| match ops {
            Ops::Trucking => Some((*ops, Path::new(DATA).join("sftp"))),
            Ops::Complaints => Some((*ops, Path::new(DATA).join("ftp"))),
            _ => None,
        })
        .collect();
    let answering = (!file_dirs.is_empty()).then(|| tokio::spawn(answer_files(file_dirs)));

    tokio::select! {
        _ = interrupt.recv() => {},
        _ = terminate.recv() => {},
    }
    say!("ops-sim: stopping");
    if let Some(task) = answering {
        task.abort();
    }
    stop_all(outcomes).await;
    say!("ops-sim: stopped");
    Ok(ExitCode::SUCCESS)
}

/// The OPS to start, from the arguments and the environment; `None`: `--help`.
fn selection(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Vec<Ops>>> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    let mut only = from_env("OPS_SIM_ONLY");
    let mut skip = from_env("OPS_SIM_SKIP");
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let slot = match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--only" => &mut only,
            "--skip" => &mut skip,
            _ => bail!("unknown argument `{flag}`\n{USAGE}"),
        };
        *slot = Some(
            inline
                .or_else(|| args.next())
                .with_context(|| format!("{flag} needs a list, e.g. {flag} freight,customs"))?,
        );
    }
    let only = only.as_deref().map(Ops::parse_list).transpose()?;
    let skip = skip.as_deref().map(Ops::parse_list).transpose()?.unwrap_or_default();
    let selected: Vec<Ops> = Ops::ALL
        .into_iter()
        .filter(|ops| only.as_ref().is_none_or(|only| only.contains(ops)) && !skip.contains(ops))
        .collect();
    if selected.is_empty() {
        bail!("--only / --skip leave no OPS to start");
    }
    Ok(Some(selected))
}

/// Starts every selected OPS at once, each on its own; outcomes in table order.
async fn start_all(selected: &[Ops], root: &Path) -> Vec<(Ops, Outcome)> {
    let mut starting = JoinSet::new();
    for &ops in selected {
        let root = root.to_owned();
        starting.spawn(async move { (ops, start(ops, &root).await) });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = starting.join_next().await {
        match joined {
            Ok((Ops::Warehouse, Err(error))) => {
                let reason = format!(
                    "the WMS cannot reach RabbitMQ: {error:#} — start it (`rabbitmq-server -detached`; \
                     scripts/test installs it); ops-sim tries again every {}s",
                    BROKER_RETRY.as_secs()
                );
                outcomes.push((Ops::Warehouse, Outcome::Waiting(reason, Wms::spawn(None))));
            }
            Ok((ops, Err(error))) => {
                let reason = format!("its simulator did not start: {error:#}");
                outcomes.push((ops, Outcome::Down(reason)));
            }
            Ok((ops, Ok(running))) => outcomes.push((ops, Outcome::Up(running))),
            // A start-up task panicked; which one is lost with it.
            Err(error) => say!("ops-sim: an OPS failed to start: {error}"),
        }
    }
    outcomes.sort_by_key(|(ops, _)| Ops::ALL.iter().position(|known| known == ops));
    outcomes
}

async fn stop_all(outcomes: Vec<(Ops, Outcome)>) {
    for (ops, outcome) in outcomes {
        let stopped = match outcome {
            Outcome::Up(running) => match tokio::time::timeout(STOP_TIMEOUT, running.stop()).await {
                Ok(stopped) => stopped,
                Err(_) => Err(anyhow!("did not stop within {STOP_TIMEOUT:?}")),
            },
            Outcome::Waiting(_, wms) => {
                wms.stop().await;
                Ok(())
            }
            Outcome::Down(_) => Ok(()),
        };
        if let Err(error) = stopped {
            say!("ops-sim: stopping the {} OPS: {error:#}", ops.name());
        }
    }
}

async fn start(ops: Ops, root: &Path) -> anyhow::Result<Running> {
    let keys = root.join("examples/ops-sim/keys");
    let secrets = root.join("examples/ops-sim/secrets");
    match ops {
        Ops::Freight => {
            let address = loopback(8090)?;
            Ok(Running::Freight(FreightRestOps::start(address).await?))
        }
        Ops::Customs => {
            let password_file = secrets.join("customs-wss-password");
            let password = std::fs::read_to_string(&password_file)
                .with_context(|| format!("reading {}", password_file.display()))?;
            let server = OpsHttpServer::start(OpsHttpOptions {
                wsse: Some(WsseAccount {
                    username: "hub-customs".into(),
                    password: password.trim().to_owned(),
                }),
                tls: false,
                address: Some(loopback(8092)?),
            })
            .await?;
            Ok(Running::Customs(server))
        }
        Ops::Warehouse => Ok(Running::Warehouse(Wms::spawn(Some(connect_wms().await?)))),
        Ops::Trucking => {
            let data = file_ops_dirs("sftp")?;
            // sshd would otherwise answer its banner check with whatever
            // SSH server already listens there.
            loopback(2222)?;
            let sshd = tokio::task::spawn_blocking(move || {
                SshServer::start_with_keys(
                    2222,
                    &keys.join("ssh_host_ed25519_key"),
                    &keys.join("hub_ed25519"),
                    &data,
                )
            })
            .await
            .context("starting sshd")??;
            if sshd.user() != "root" {
                say!(
                    "ops-sim: sshd runs as `{user}` but [targets.trucking-ops] of examples/hub.toml logs in as \
                     `root`: set username = \"{user}\" there (in a copy passed with --config)",
                    user = sshd.user()
                );
            }
            Ok(Running::Trucking(sshd))
        }
        Ops::Complaints => {
            let data = file_ops_dirs("ftp")?;
            loopback(2121)?;
            Ok(Running::Complaints(FtpServer::start_at(2121, &data).await?))
        }
    }
}

/// `127.0.0.1:port` once it is free: a clear reason when something listens
/// there already (a server speaking the same protocol would pass for ours).
fn loopback(port: u16) -> anyhow::Result<SocketAddr> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpListener::bind(address).with_context(|| {
        format!("{address} is taken (another ops-sim or OPS stand-in? `ss -ltnp 'sport = :{port}'` names the process)")
    })?;
    Ok(address)
}

/// The folders of a file OPS under [`DATA`]: `inbox` (the hub uploads),
/// `outbox` (answers), `archive` and `error` (the hub files answers there),
/// `processed` (orders already answered).
fn file_ops_dirs(kind: &str) -> anyhow::Result<PathBuf> {
    let data = Path::new(DATA).join(kind);
    for dir in ["inbox", "outbox", "archive", "error", "processed"] {
        let dir = data.join(dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(data)
}

/// The WMS's end of the broker: exchange `wms`, queue `wms.orders` bound
/// to `wms.order.create`, consumed.
async fn connect_wms() -> anyhow::Result<(Peer, Inbox)> {
    let connect = async {
        let peer = Peer::connect().await?;
        peer.declare_exchange("wms").await?;
        peer.declare_queue("wms.orders").await?;
        peer.bind("wms.orders", "wms", "wms.order.create").await?;
        let inbox = peer.consume("wms.orders").await?;
        anyhow::Ok((peer, inbox))
    };
    tokio::time::timeout(BROKER_TIMEOUT, connect)
        .await
        .map_err(|_| anyhow!("no answer from {} within {BROKER_TIMEOUT:?}", rabbitmq::broker_url()))?
}

/// The WMS: takes orders from `wms.orders`, answers ACCEPTED on their
/// `reply-to`; (re)connects every [`BROKER_RETRY`] while the broker is away.
async fn run_wms(mut connection: Option<(Peer, Inbox)>, mut stopped: watch::Receiver<bool>) {
    let mut number = 0u64;
    loop {
        let (peer, mut inbox) = match connection.take() {
            Some(connected) => connected,
            None => {
                tokio::select! {
                    _ = stopped.changed() => return,
                    () = tokio::time::sleep(BROKER_RETRY) => {},
                }
                match connect_wms().await {
                    Ok(connected) => {
                        say!(
                            "warehouse OPS: connected to {}; warehouse-order orders are delivered now",
                            rabbitmq::broker_url()
                        );
                        connected
                    }
                    Err(_) => continue,
                }
            }
        };
        let peer = Arc::new(peer);
        let lost = tokio::select! {
            _ = stopped.changed() => None,
            lost = answer_orders(&peer, &mut inbox, &mut number) => Some(lost),
        };
        // Best effort (answers still on their way hold the peer too): the
        // broker drops the connection with the process anyway.
        if let Ok(peer) = Arc::try_unwrap(peer) {
            let _ = tokio::time::timeout(Duration::from_secs(2), peer.close()).await;
        }
        let Some(lost) = lost else {
            return;
        };
        say!(
            "warehouse OPS: lost RabbitMQ ({lost:#}); warehouse-order orders wait until it is back (trying every {}s)",
            BROKER_RETRY.as_secs()
        );
    }
}

/// Takes orders until the connection is lost (returns why); each is
/// answered at once (the hub matches an answer that overtakes its own
/// record of the submit).
async fn answer_orders(peer: &Arc<Peer>, inbox: &mut Inbox, number: &mut u64) -> anyhow::Error {
    loop {
        let got = match tokio::time::timeout(Duration::from_secs(2), inbox.next()).await {
            Ok(Some(got)) => got,
            Ok(None) => return anyhow!("the consumer stopped"),
            Err(_) if peer.is_connected() => continue,
            Err(_) => return anyhow!("the connection closed"),
        };
        *number += 1;
        let order: Value = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
        let (order_ref, contact) = (order["order_ref"].clone(), order["contact"]["name"].clone());
        let Some(reply_to) = got.reply_to else {
            say!("warehouse OPS: got {order_ref} without reply-to; not answered");
            continue;
        };
        let correlation = got.correlation_id.unwrap_or_default();
        let wms_ref = format!("WMS-{number:06}");
        let answer = json!({
            "correlation_id": correlation,
            "status": "ACCEPTED",
            "wms_ref": wms_ref,
            "message": "入库单已创建 inbound order created",
        });
        let message_id = format!("wms-{number}");
        let peer = Arc::clone(peer);
        tokio::spawn(async move {
            match peer
                .publish_reply(&reply_to, answer.to_string().as_bytes(), &correlation, &message_id, &[])
                .await
            {
                Ok(()) => say!("warehouse OPS: took {order_ref} ({contact}), answered ACCEPTED {wms_ref}"),
                Err(error) => say!("warehouse OPS: could not answer {order_ref}: {error:#}"),
            }
        });
    }
}

/// The file OPS: every order file in `inbox/` gets an answer in `outbox/`.
async fn answer_files(file_ops: Vec<(Ops, PathBuf)>) {
    let mut number = 0;
    loop {
        for (ops, data) in &file_ops {
            let Ok(entries) = std::fs::read_dir(data.join("inbox")) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Hidden files are uploads in progress.
                if name.starts_with('.') {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                number += 1;
                let (answer_name, answer) = if *ops == Ops::Trucking {
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
                    say!("{} OPS: took {name}, answered {answer_name}", ops.name());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
