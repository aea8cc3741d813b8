//! Helpers shared by the tests that run the real `hub` binary.
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// The repository root: the binary runs from there, as a user would.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `hub ARGS…` from the repository root and waits for it.
pub fn hub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|error| panic!("cannot run hub: {error}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Re-checks `probe` every 50 ms until it yields `Ok`; fails naming
/// `what` (and the last value seen) after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        match probe().await {
            Ok(found) => return found,
            Err(last) => assert!(tokio::time::Instant::now() < deadline, "{what} did not happen: {last}"),
        }
    }
}

pub mod api_server;
pub mod hub_process;
pub mod ops;
