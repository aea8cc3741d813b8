//! The whole hub against real file servers: trucking pick-ups as CSV over
//! SFTP (OpenSSH `sshd`), complaints as XML over FTP (libunftp), answers as
//! response files the hub polls.
//!
//! Each test runs `hub_kernel::server::run` (what `hub serve` runs) with the
//! built reference plugins, submits an example order through the HTTP API
//! and plays the OPS by reading and writing the server's data directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::path::{Path, PathBuf};
use std::time::Duration;

use hub_e2e::hub::{OPERATOR_KEY, TestHub, events, eventually, example_order};
use hub_e2e::servers::ftp::FtpServer;
use hub_e2e::servers::sshd::SshServer;
use serde_json::Value;

const WITHIN: Duration = Duration::from_secs(30);

fn make_folders(data: &Path) {
    for dir in ["inbox", "outbox", "archive", "error"] {
        std::fs::create_dir_all(data.join(dir)).unwrap();
    }
}

/// Writes a secret into a file of the hub's directory; returns the TOML reference.
fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    format!("{{ file = \"{}\" }}", path.display())
}

fn responses_toml() -> &'static str {
    r#"responses = { dir = "outbox", archive_dir = "archive", error_dir = "error", poll_interval_ms = 100 }"#
}

fn sftp_target(sshd: &SshServer, key_file: &Path, host_key: &str) -> String {
    format!(
        r#"
[targets.trucking-ops]
plugin = "trucking-sftp"
grants = ["files", "config", "log"]
settings = {{ inbox_dir = "inbox" }}
retry = {{ max_attempts = 3, initial_backoff_ms = 100, max_backoff_ms = 200 }}
files = {{ protocol = "sftp", host = "127.0.0.1", port = {port}, username = "{user}", private_key = {{ file = "{key}" }}, host_key_sha256 = "{host_key}", root = "{root}", timeout_ms = 5000, {responses} }}

[[routes]]
name = "all pick-ups"
line = "trucking-pickup"
target = "trucking-ops"
"#,
        port = sshd.port(),
        user = sshd.user(),
        key = key_file.display(),
        root = sshd.data_directory().display(),
        responses = responses_toml(),
    )
}

fn ftp_target(ftp: &FtpServer, password: &str) -> String {
    format!(
        r#"
[targets.complaints-ops]
plugin = "complaints-ftp"
grants = ["files", "config", "log"]
settings = {{ inbox_dir = "inbox" }}
retry = {{ max_attempts = 3, initial_backoff_ms = 100, max_backoff_ms = 200 }}
files = {{ protocol = "ftp", host = "127.0.0.1", port = {port}, username = "{user}", password = {password}, root = "/", timeout_ms = 5000, {responses} }}

[[routes]]
name = "all complaints"
line = "complaint"
target = "complaints-ops"
"#,
        port = ftp.port(),
        user = ftp.user(),
        responses = responses_toml(),
    )
}

/// Polls until `path` exists (the hub writes it), returning its bytes.
async fn wait_for_file(path: &Path) -> Vec<u8> {
    eventually(WITHIN, async || {
        std::fs::read(path).map_err(|e| format!("{} never appeared: {e}", path.display()))
    })
    .await
}

async fn wait_until_gone(path: &Path) {
    eventually(WITHIN, async || match path.exists() {
        true => Err(format!("{} was never taken", path.display())),
        false => Ok(()),
    })
    .await
}

/// The OPS drops an answer the way a careful OPS does: temporary name, then rename.
fn drop_response(data: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let temporary = data.join("outbox").join(format!(".{name}.tmp"));
    let path = data.join("outbox").join(name);
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, &path).unwrap();
    path
}

fn event<'a>(order: &'a Value, kind: &str) -> Option<&'a Value> {
    order["timeline"].as_array()?.iter().find(|e| e["kind"] == kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_e2e_trucking_over_sftp_order_in_csv_out_answer_back() {
    let sshd = SshServer::start().unwrap();
    let data = sshd.data_directory().to_owned();
    make_folders(&data);
    let hub = TestHub::start(&sftp_target(
        &sshd,
        sshd.client_private_key_path(),
        sshd.host_key_sha256(),
    ))
    .await;

    let id = hub
        .submit("trucking-pickup", &example_order("trucking-pickup", "messy-pickup"))
        .await;
    let order = hub.wait_for_status(&id, &["submitted"], WITHIN).await;
    assert_eq!(
        event(&order, "submitted").unwrap()["detail"]["correlation_id"],
        id.as_str()
    );

    // The OPS got exactly one CSV under the order's idempotency key, UTF-8 intact.
    let csv = String::from_utf8(wait_for_file(&data.join("inbox").join(format!("PU_{id}.csv"))).await).unwrap();
    assert!(csv.starts_with("pickup_ref,hub_order_id,"), "{csv}");
    for text in [
        "苏州精密制造有限公司",
        "星湖街328号 创意产业园5栋",
        "王强",
        "精密零件",
        &id,
    ] {
        assert!(csv.contains(text), "`{text}` missing from\n{csv}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(data.join("inbox")).unwrap().collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the final file, no temporary upload: {leftovers:?}"
    );

    // The OPS answers with a response file; the hub applies it and archives the file.
    let answer = format!(
        "pickup_ref,status,waybill_no,message,event_time\r\n{id},ACCEPTED,WB-8801,已接单 司机李师傅,2026-11-03T08:00:00+08:00\r\n"
    );
    let response = drop_response(&data, "answer-1.csv", answer.as_bytes());
    let order = hub.wait_for_status(&id, &["accepted"], WITHIN).await;
    let accepted = event(&order, "accepted").unwrap();
    assert!(
        accepted["message"].as_str().unwrap().contains("已接单 司机李师傅"),
        "{accepted:#}"
    );
    wait_until_gone(&response).await;
    assert_eq!(
        std::fs::read(data.join("archive/answer-1.csv")).unwrap(),
        answer.as_bytes()
    );

    // A milestone later on.
    drop_response(
        &data,
        "answer-2.csv",
        format!("pickup_ref,status,waybill_no,message\r\n{id},PICKED_UP,WB-8801,货已提\r\n").as_bytes(),
    );
    hub.wait_for_status(&id, &["in-progress"], WITHIN).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_e2e_unreadable_empty_and_oversized_response_files_go_to_the_error_folder() {
    let sshd = SshServer::start().unwrap();
    let data = sshd.data_directory().to_owned();
    make_folders(&data);
    let hub = TestHub::start(&sftp_target(
        &sshd,
        sshd.client_private_key_path(),
        sshd.host_key_sha256(),
    ))
    .await;

    let garbled = drop_response(&data, "garbled.csv", "this is not\u{0}a csv at all\r\n\"".as_bytes());
    let empty = drop_response(&data, "empty.csv", b"");
    // 50 MB: more than the target's message limit (4 MiB); never read into a plugin.
    let big = vec![b'x'; 50 * 1024 * 1024];
    let oversized = drop_response(&data, "huge.csv", &big);
    for path in [&garbled, &empty, &oversized] {
        wait_until_gone(path).await;
    }
    for name in ["garbled.csv", "empty.csv", "huge.csv"] {
        assert!(
            data.join("error").join(name).is_file(),
            "{name} not in the error folder"
        );
        let reason =
            String::from_utf8(wait_for_file(&data.join("error").join(format!("{name}.reason.txt"))).await).unwrap();
        assert!(reason.starts_with(name), "{reason}");
    }
    let reason = std::fs::read_to_string(data.join("error/huge.csv.reason.txt")).unwrap();
    assert!(reason.contains("52428800 bytes"), "{reason}");
    assert_eq!(std::fs::read(data.join("error/huge.csv")).unwrap().len(), big.len());

    // The two the plugin read are on the operators' unmatched list, with why.
    let (status, unmatched) = hub.get(OPERATOR_KEY, "/v1/replies/unmatched").await;
    assert_eq!(status, 200, "{unmatched:#}");
    let text = unmatched.to_string();
    assert!(
        text.contains("could not read") || text.contains("no feedback"),
        "{unmatched:#}"
    );

    // Nothing is read twice: the folders stay as they are over further polls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let in_error = std::fs::read_dir(data.join("error")).unwrap().count();
    assert_eq!(in_error, 6, "3 files + 3 reasons");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_e2e_changed_host_key_fails_the_order_without_retrying() {
    let mut sshd = SshServer::start().unwrap();
    make_folders(sshd.data_directory());
    let pinned = sshd.host_key_sha256().to_owned();
    let hub = TestHub::start(&sftp_target(&sshd, sshd.client_private_key_path(), &pinned)).await;
    sshd.restart_with_new_host_key().unwrap();
    assert_ne!(sshd.host_key_sha256(), pinned);

    let id = hub
        .submit("trucking-pickup", &example_order("trucking-pickup", "messy-pickup"))
        .await;
    let order = hub.wait_for_status(&id, &["failed"], WITHIN).await;
    let failed = event(&order, "failed").unwrap().to_string();
    assert!(failed.contains(&pinned), "names the pinned key: {failed}");
    let attempts = events(&order).iter().filter(|e| e["kind"] == "attempt-failed").count();
    assert_eq!(attempts, 0, "a changed host key is not retried: {order:#}");
    assert!(
        std::fs::read_dir(sshd.data_directory().join("inbox"))
            .unwrap()
            .next()
            .is_none()
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_e2e_sftp_server_down_then_up_the_order_goes_through() {
    let mut sshd = SshServer::start().unwrap();
    let data = sshd.data_directory().to_owned();
    make_folders(&data);
    let mut target = sftp_target(&sshd, sshd.client_private_key_path(), sshd.host_key_sha256());
    target = target.replace(
        "max_attempts = 3, initial_backoff_ms = 100, max_backoff_ms = 200",
        "max_attempts = 50, initial_backoff_ms = 100, max_backoff_ms = 300",
    );
    // Down before the hub starts: no session of the response poller can
    // outlive the stop and carry the upload.
    sshd.stop().unwrap();
    let hub = TestHub::start(&target).await;

    let id = hub
        .submit("trucking-pickup", &example_order("trucking-pickup", "messy-pickup"))
        .await;
    let failed = hub.wait_for_event(&id, "attempt-failed", WITHIN).await;
    assert_eq!(failed["detail"]["error_kind"], "refused", "{failed:#}");
    sshd.start_again().unwrap();
    hub.wait_for_status(&id, &["submitted"], WITHIN).await;
    assert!(data.join("inbox").join(format!("PU_{id}.csv")).is_file());
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_e2e_complaints_over_ftp_xml_out_answer_back() {
    let ftp = FtpServer::start().await.unwrap();
    let data = ftp.data_directory().to_owned();
    make_folders(&data);
    let hub_dir = hub_e2e::hub::temp_dir("secrets");
    let password = secret_file(&hub_dir, "ftp-password", ftp.password());
    let hub = TestHub::start(&ftp_target(&ftp, &password)).await;

    let id = hub
        .submit("complaint", &example_order("complaint", "messy-delay"))
        .await;
    hub.wait_for_status(&id, &["submitted"], WITHIN).await;
    let xml = String::from_utf8(wait_for_file(&data.join("inbox").join(format!("CMP_{id}.xml"))).await).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    for text in [
        "货物比约定时间晚到了三天，导致我们的生产线停工。",
        "陈静",
        "BK-2026-0001",
        &id,
    ] {
        assert!(xml.contains(text), "`{text}` missing from\n{xml}");
    }

    let answer = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ComplaintResponse><Reference>{id}</Reference><Status>OPENED</Status><CaseNumber>CS-2026-77</CaseNumber><Message>已受理，客服小刘跟进</Message></ComplaintResponse>\n"
    );
    let response = drop_response(&data, "resp-1.xml", answer.as_bytes());
    let order = hub.wait_for_status(&id, &["accepted"], WITHIN).await;
    let accepted = event(&order, "accepted").unwrap();
    assert!(
        accepted["message"].as_str().unwrap().contains("已受理，客服小刘跟进"),
        "{accepted:#}"
    );
    assert_eq!(accepted["detail"]["ops_ref"], "CS-2026-77");
    wait_until_gone(&response).await;
    assert!(data.join("archive/resp-1.xml").is_file());

    // An XML bomb is refused, set aside, never expanded.
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><ComplaintResponse><Reference>&lol2;</Reference><Status>OPENED</Status></ComplaintResponse>";
    let bomb_path = drop_response(&data, "bomb.xml", bomb.as_bytes());
    wait_until_gone(&bomb_path).await;
    let reason = String::from_utf8(wait_for_file(&data.join("error/bomb.xml.reason.txt")).await).unwrap();
    assert!(reason.to_lowercase().contains("doctype"), "{reason}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_e2e_wrong_ftp_password_fails_the_order_as_unauthorized() {
    let ftp = FtpServer::start().await.unwrap();
    make_folders(ftp.data_directory());
    let hub_dir = hub_e2e::hub::temp_dir("secrets");
    let password = secret_file(&hub_dir, "ftp-password", "not-the-password");
    let hub = TestHub::start(&ftp_target(&ftp, &password)).await;

    let id = hub
        .submit("complaint", &example_order("complaint", "messy-delay"))
        .await;
    let order = hub.wait_for_status(&id, &["failed"], WITHIN).await;
    let failed = event(&order, "failed").unwrap();
    assert_eq!(failed["detail"]["error_kind"], "unauthorized", "{failed:#}");
    assert!(
        !order.to_string().contains("not-the-password"),
        "the password leaked: {order:#}"
    );
    hub.stop().await;
}
