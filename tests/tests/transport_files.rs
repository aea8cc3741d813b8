//! The FTP, FTPS and SFTP transports against real servers on loopback: a
//! real OpenSSH `sshd` (SFTP) and libunftp (FTP, FTPS) from
//! `hub_e2e::servers`. The same test bodies run over every protocol where
//! the behaviour is the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_e2e::servers::ftp::FtpServer;
use hub_e2e::servers::sshd::SshServer;
use hub_kernel::config::FilesTargetConfig;
use hub_kernel::secret::Secret;
use hub_kernel::transports::files::{FileCredentials, file_transport};
use hub_kernel::transports::{FileTransport, TransportError};
use serde_json::json;

const CHINESE_TEXT: &str = "收货人：张伟\n地址：上海市浦东新区世纪大道100号\n备注：易碎品，轻拿轻放 ✓\n";

/// A target configuration as `hub.toml` would give it.
fn config(protocol: &str, port: u16, username: &str, extra: serde_json::Value) -> FilesTargetConfig {
    let mut value = json!({
        "protocol": protocol,
        "host": "127.0.0.1",
        "port": port,
        "username": username,
        "timeout_ms": 5_000,
        "connections": 2,
    });
    if let (Some(object), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
        object.extend(extra.clone());
    }
    serde_json::from_value(value).expect("a valid files target configuration")
}

fn password(value: &str) -> FileCredentials {
    FileCredentials {
        password: Some(Secret::new(value)),
        ..FileCredentials::default()
    }
}

fn private_key(value: &str) -> FileCredentials {
    FileCredentials {
        private_key: Some(Secret::new(value)),
        ..FileCredentials::default()
    }
}

fn ftp_transport(server: &FtpServer, extra: serde_json::Value) -> Arc<dyn FileTransport> {
    file_transport(
        "ops-ftp",
        &config("ftp", server.port(), server.user(), extra),
        password(server.password()),
    )
    .expect("an FTP transport")
}

fn ftps_transport(server: &FtpServer) -> Arc<dyn FileTransport> {
    let ca_file = server.ca_file().expect("an FTPS server has a CA file");
    let config = config("ftps", server.port(), server.user(), json!({ "ca_file": ca_file }));
    file_transport("ops-ftps", &config, password(server.password())).expect("an FTPS transport")
}

fn sftp_config(server: &SshServer, extra: serde_json::Value) -> FilesTargetConfig {
    let mut settings = json!({
        "root": server.data_directory(),
        "host_key_sha256": server.host_key_sha256(),
    });
    if let (Some(object), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        object.extend(extra.clone());
    }
    config("sftp", server.port(), server.user(), settings)
}

fn sftp_transport(server: &SshServer) -> Arc<dyn FileTransport> {
    file_transport(
        "ops-sftp",
        &sftp_config(server, json!({})),
        private_key(server.client_private_key()),
    )
    .expect("an SFTP transport")
}

/// Regular files in `directory` (names), sorted.
fn files_on_disk(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .expect("readable data directory")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------- bodies --

/// put (into a directory that does not exist yet), get, list, rename,
/// remove; Chinese content and file names intact, checked on the server's
/// disk too.
async fn round_trip(transport: &dyn FileTransport, data: &Path) {
    let folder = "出站";
    let name = "订单-张伟.txt";
    let path = format!("{folder}/{name}");
    transport
        .put(&path, CHINESE_TEXT.as_bytes().to_vec())
        .await
        .expect("put into a new directory");
    let on_disk = std::fs::read(data.join(folder).join(name)).expect("the file is on the server's disk");
    assert_eq!(on_disk, CHINESE_TEXT.as_bytes(), "bytes on the server differ");
    assert_eq!(
        transport.get(&path).await.expect("get"),
        CHINESE_TEXT.as_bytes(),
        "bytes read back differ"
    );

    transport
        .put(&format!("{folder}/second.xml"), b"<a/>".to_vec())
        .await
        .expect("second put");
    let mut listed = transport.list(folder).await.expect("list");
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = listed.iter().map(|entry| entry.name.as_str()).collect();
    assert_eq!(names, ["second.xml", name], "listing: {listed:?}");
    let chinese = &listed[1];
    assert_eq!(chinese.size, CHINESE_TEXT.len() as u64);
    let modified = chinese.modified.expect("the server tells the modification time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        (now - modified).abs() < 300,
        "modified {modified} is not about now ({now})"
    );

    let archived = format!("{folder}/已处理-{name}");
    transport.rename(&path, &archived).await.expect("rename");
    assert_eq!(
        files_on_disk(&data.join(folder)),
        ["second.xml", "已处理-订单-张伟.txt"]
    );
    assert!(matches!(transport.get(&path).await, Err(TransportError::NotFound(_))));
    assert_eq!(
        transport.get(&archived).await.expect("get renamed"),
        CHINESE_TEXT.as_bytes()
    );

    transport.remove(&archived).await.expect("remove");
    transport
        .remove(&format!("{folder}/second.xml"))
        .await
        .expect("remove second");
    assert!(files_on_disk(&data.join(folder)).is_empty());
    assert!(transport.list(folder).await.expect("list empty").is_empty());
}

/// After a put no temporary file remains; a second put with the same name
/// replaces the file (one file, new content), as a retried upload must.
async fn put_is_atomic_and_overwrites(transport: &dyn FileTransport, data: &Path) {
    transport
        .put("order-1.xml", b"<order>first</order>".to_vec())
        .await
        .expect("first put");
    assert_eq!(files_on_disk(data), ["order-1.xml"], "a temporary file remained");
    transport
        .put("order-1.xml", "<order>第二次</order>".as_bytes().to_vec())
        .await
        .expect("second put");
    assert_eq!(
        files_on_disk(data),
        ["order-1.xml"],
        "not exactly one file after the retry"
    );
    let hidden: Vec<String> = std::fs::read_dir(data)
        .expect("readable")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "temporary files left: {hidden:?}");
    assert_eq!(
        std::fs::read(data.join("order-1.xml")).expect("file"),
        "<order>第二次</order>".as_bytes()
    );
    let listed = transport.list("").await.expect("list root");
    assert_eq!(listed.len(), 1, "{listed:?}");
}

async fn missing_file_is_not_found(transport: &dyn FileTransport) {
    match transport.get("no-such-order.xml").await {
        Err(TransportError::NotFound(message)) => {
            assert!(
                message.contains("no-such-order.xml"),
                "the message names the path: {message}"
            )
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// 50 MB of non-repeating bytes up and back, identical.
async fn large_file_round_trip(transport: &dyn FileTransport, data: &Path) {
    let size = 50 * 1024 * 1024;
    let mut contents = Vec::with_capacity(size);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    while contents.len() < size {
        // xorshift: cheap, and no two megabytes alike.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        contents.extend_from_slice(&state.to_le_bytes());
    }
    contents.truncate(size);
    let started = Instant::now();
    transport
        .put("big/50mb.bin", contents.clone())
        .await
        .expect("put 50 MB");
    let uploaded = started.elapsed();
    assert_eq!(
        std::fs::metadata(data.join("big/50mb.bin")).expect("on disk").len(),
        size as u64
    );
    let started = Instant::now();
    let back = transport.get("big/50mb.bin").await.expect("get 50 MB");
    let downloaded = started.elapsed();
    assert_eq!(back.len(), contents.len());
    assert!(back == contents, "the 50 MB file came back different");
    eprintln!("50 MB: put {uploaded:?}, get {downloaded:?}");
}

/// A listener that accepts and never speaks: every protocol waits for the
/// server's greeting first.
async fn silent_server() -> (tokio::task::JoinHandle<()>, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    (task, port)
}

async fn silent_server_times_out(transport: &dyn FileTransport, timeout: Duration) {
    let started = Instant::now();
    let result = transport.put("order.xml", b"x".to_vec()).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(TransportError::Timeout(_))),
        "expected Timeout, got {result:?}"
    );
    assert!(elapsed >= timeout / 2, "gave up after {elapsed:?}, before the timeout");
    assert!(elapsed < timeout * 4, "took {elapsed:?} for a {timeout:?} timeout");
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, TransportError>, port: u16) {
    match result {
        Err(TransportError::Refused(message)) => {
            assert!(
                message.contains(&format!("127.0.0.1:{port}")),
                "the message names the server: {message}"
            )
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

// ------------------------------------------------------------------ FTP --

#[tokio::test(flavor = "multi_thread")]
async fn files_ftp_round_trip_with_chinese_names_and_content() {
    let server = FtpServer::start().await.expect("FTP server");
    let transport = ftp_transport(&server, json!({}));
    round_trip(transport.as_ref(), server.data_directory()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_ftp_put_is_atomic_and_a_second_put_overwrites() {
    let server = FtpServer::start().await.expect("FTP server");
    let transport = ftp_transport(&server, json!({}));
    put_is_atomic_and_overwrites(transport.as_ref(), server.data_directory()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_ftp_get_of_a_missing_file_is_not_found() {
    let server = FtpServer::start().await.expect("FTP server");
    missing_file_is_not_found(ftp_transport(&server, json!({})).as_ref()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_ftp_wrong_password_is_unauthorized_and_not_shown() {
    let server = FtpServer::start().await.expect("FTP server");
    let wrong = "wrong-密码-42";
    let transport = file_transport(
        "ops-ftp",
        &config("ftp", server.port(), server.user(), json!({})),
        password(wrong),
    )
    .expect("transport");
    match transport.put("order.xml", b"x".to_vec()).await {
        Err(TransportError::Unauthorized(message)) => {
            assert!(message.contains(server.user()), "names the user: {message}");
            assert!(!message.contains(wrong), "the password leaked: {message}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(files_on_disk(server.data_directory()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn files_ftp_server_down_is_refused_then_the_same_transport_reconnects() {
    let mut server = FtpServer::start().await.expect("FTP server");
    let transport = ftp_transport(&server, json!({}));
    transport.put("before.xml", b"1".to_vec()).await.expect("put while up");
    server.stop().await.expect("stop");
    assert_refused(transport.put("during.xml", b"2".to_vec()).await, server.port());
    assert_refused(transport.list("").await, server.port());
    server.start_again().await.expect("start again");
    transport
        .put("after.xml", "恢复".as_bytes().to_vec())
        .await
        .expect("put after the restart");
    assert_eq!(files_on_disk(server.data_directory()), ["after.xml", "before.xml"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_ftp_silent_server_times_out() {
    let (_silent, port) = silent_server().await;
    let timeout = Duration::from_millis(700);
    let config = config("ftp", port, "hub", json!({ "timeout_ms": 700 }));
    let transport = file_transport("ops-ftp", &config, password("secret")).expect("transport");
    silent_server_times_out(transport.as_ref(), timeout).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_ftp_50_mb_round_trip() {
    let server = FtpServer::start().await.expect("FTP server");
    large_file_round_trip(ftp_transport(&server, json!({})).as_ref(), server.data_directory()).await;
}

// ----------------------------------------------------------------- FTPS --

#[tokio::test(flavor = "multi_thread")]
async fn files_ftps_round_trip_verified_against_the_ca_file() {
    let server = FtpServer::start_tls().await.expect("FTPS server");
    let transport = ftps_transport(&server);
    round_trip(transport.as_ref(), server.data_directory()).await;
    put_is_atomic_and_overwrites(transport.as_ref(), server.data_directory()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_ftps_certificate_of_an_unknown_ca_is_refused() {
    let server = FtpServer::start_tls().await.expect("FTPS server");
    // No ca_file: only the system's CAs, which never signed the test CA.
    let config = config("ftps", server.port(), server.user(), json!({}));
    let transport = file_transport("ops-ftps", &config, password(server.password())).expect("transport");
    match transport.put("order.xml", b"x".to_vec()).await {
        Err(TransportError::Unauthorized(message)) => {
            assert!(message.contains("certificate"), "says why: {message}");
            assert!(!message.contains(server.password()), "the password leaked: {message}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(files_on_disk(server.data_directory()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn files_ftps_50_mb_round_trip() {
    let server = FtpServer::start_tls().await.expect("FTPS server");
    large_file_round_trip(ftps_transport(&server).as_ref(), server.data_directory()).await;
}

// ----------------------------------------------------------------- SFTP --

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_round_trip_with_chinese_names_and_content() {
    let server = SshServer::start().expect("sshd");
    let transport = sftp_transport(&server);
    round_trip(transport.as_ref(), server.data_directory()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_put_is_atomic_and_a_second_put_overwrites() {
    let server = SshServer::start().expect("sshd");
    let transport = sftp_transport(&server);
    put_is_atomic_and_overwrites(transport.as_ref(), server.data_directory()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_get_of_a_missing_file_is_not_found() {
    let server = SshServer::start().expect("sshd");
    missing_file_is_not_found(sftp_transport(&server).as_ref()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_unknown_key_is_unauthorized() {
    let server = SshServer::start().expect("sshd");
    let directory = std::env::temp_dir().join(format!("hub-other-key-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let key_path: PathBuf = directory.join("other_ed25519");
    let generated = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_path)
        .status()
        .expect("ssh-keygen");
    assert!(generated.success());
    let other_key = std::fs::read_to_string(&key_path).expect("key");
    let _ = std::fs::remove_dir_all(&directory);
    let transport =
        file_transport("ops-sftp", &sftp_config(&server, json!({})), private_key(&other_key)).expect("transport");
    match transport.put("order.xml", b"x".to_vec()).await {
        Err(TransportError::Unauthorized(message)) => {
            assert!(message.contains(server.user()), "names the user: {message}");
            assert!(!message.contains("PRIVATE KEY"), "the key leaked: {message}");
        }
        other => panic!("expected Unauthorized, got {other:?}\n{}", server.log()),
    }
    assert!(files_on_disk(server.data_directory()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_password_login_and_wrong_password() {
    let server = SshServer::start().expect("sshd");
    let (user, good) = server.password_login().expect("password user (needs root)");
    let config = config(
        "sftp",
        server.port(),
        &user,
        json!({ "root": server.data_directory(), "host_key_sha256": server.host_key_sha256() }),
    );
    let transport = file_transport("ops-sftp", &config, password(&good)).expect("transport");
    transport
        .put("by-password.txt", CHINESE_TEXT.as_bytes().to_vec())
        .await
        .unwrap_or_else(|error| {
            panic!("password login: {error}\n{}", server.log());
        });
    assert_eq!(
        std::fs::read(server.data_directory().join("by-password.txt")).expect("file"),
        CHINESE_TEXT.as_bytes()
    );

    let wrong = "not-the-密码";
    let transport = file_transport("ops-sftp", &config, password(wrong)).expect("transport");
    match transport.get("by-password.txt").await {
        Err(TransportError::Unauthorized(message)) => {
            assert!(!message.contains(wrong), "the password leaked: {message}")
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_pinned_fingerprint_of_another_key_is_refused_naming_both() {
    let server = SshServer::start().expect("sshd");
    let other = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
    let config = sftp_config(&server, json!({ "host_key_sha256": other }));
    let transport = file_transport("ops-sftp", &config, private_key(server.client_private_key())).expect("transport");
    match transport.put("order.xml", b"x".to_vec()).await {
        Err(TransportError::Unauthorized(message)) => {
            assert!(message.contains(other), "names the expected fingerprint: {message}");
            assert!(
                message.contains(server.host_key_sha256()),
                "names the presented one: {message}"
            );
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(
        files_on_disk(server.data_directory()).is_empty(),
        "nothing may be written"
    );
    assert!(
        !server.log().contains("Accepted publickey"),
        "the client logged in despite the wrong host key:\n{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_server_with_a_new_host_key_is_refused() {
    let mut server = SshServer::start().expect("sshd");
    let pinned = server.host_key_sha256().to_owned();
    let transport = sftp_transport(&server);
    transport
        .put("before.xml", b"1".to_vec())
        .await
        .expect("put with the pinned key");
    server.restart_with_new_host_key().expect("restart with a new host key");
    assert_ne!(server.host_key_sha256(), pinned);
    match transport.put("after.xml", b"2".to_vec()).await {
        Err(TransportError::Unauthorized(message)) => {
            assert!(
                message.contains(&pinned) && message.contains(server.host_key_sha256()),
                "{message}"
            )
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(files_on_disk(server.data_directory()), ["before.xml"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_insecure_switch_accepts_any_host_key() {
    let server = SshServer::start().expect("sshd");
    let config = config(
        "sftp",
        server.port(),
        server.user(),
        json!({ "root": server.data_directory(), "insecure_accept_any_host_key": true }),
    );
    let transport = file_transport("ops-sftp", &config, private_key(server.client_private_key())).expect("transport");
    transport
        .put("lab.xml", b"<lab/>".to_vec())
        .await
        .expect("accepted without a pin");
    assert_eq!(files_on_disk(server.data_directory()), ["lab.xml"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_server_down_is_refused_then_the_same_transport_reconnects() {
    let mut server = SshServer::start().expect("sshd");
    let transport = sftp_transport(&server);
    transport.put("before.xml", b"1".to_vec()).await.expect("put while up");
    server.stop().expect("stop");
    assert_refused(transport.put("during.xml", b"2".to_vec()).await, server.port());
    assert_refused(transport.list("").await, server.port());
    server.start_again().expect("start again");
    transport
        .put("after.xml", "恢复".as_bytes().to_vec())
        .await
        .expect("put after the restart");
    assert_eq!(files_on_disk(server.data_directory()), ["after.xml", "before.xml"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_silent_server_times_out() {
    let (_silent, port) = silent_server().await;
    let timeout = Duration::from_millis(700);
    let config = config(
        "sftp",
        port,
        "hub",
        json!({ "timeout_ms": 700, "insecure_accept_any_host_key": true }),
    );
    let transport = file_transport("ops-sftp", &config, password("secret")).expect("transport");
    silent_server_times_out(transport.as_ref(), timeout).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_sftp_50_mb_round_trip() {
    let server = SshServer::start().expect("sshd");
    large_file_round_trip(sftp_transport(&server).as_ref(), server.data_directory()).await;
}

// ---------------------------------------------------------------- set-up --

#[tokio::test(flavor = "multi_thread")]
async fn files_setup_does_not_connect_but_checks_the_pin() {
    // Nothing listens on port 1: building must still succeed (the hub starts
    // while the OPS is down); the first operation then reports Refused.
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    let pin = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
    let down = config("sftp", 1, "hub", json!({ "host_key_sha256": pin }));
    let transport = file_transport("ops-sftp", &down, private_key(key)).expect("built without connecting");
    assert_refused(transport.list("").await, 1);

    let bad_pin = config("sftp", 1, "hub", json!({ "host_key_sha256": "SHA256:tooshort" }));
    let error = file_transport("ops-sftp", &bad_pin, private_key(key))
        .err()
        .expect("a malformed pin is refused");
    assert!(error.to_string().contains("SHA256:tooshort"), "{error}");

    let no_password = config("ftp", 1, "hub", json!({}));
    assert!(file_transport("ops-ftp", &no_password, FileCredentials::default()).is_err());
}
