//! Response folders: the answers an OPS leaves as files on its FTP/SFTP
//! server.
//!
//! File-based OPS answer by writing a file into a folder the hub polls. The
//! dangers are reading a file the OPS is still writing, reading the same
//! file forever, and losing a file nobody could read. Hence:
//!
//! **Invariants**
//! - A file is taken only once its size was the same at two polls in a row
//!   (a writer that is still busy changes it); names starting with `.` are
//!   someone's temporary upload and are never taken.
//! - A file leaves the folder only after the kernel stored what it said
//!   (applied to its order, or kept as unmatched): then it moves to the
//!   archive folder (or is deleted when none is configured). When the store
//!   is down it stays and is offered again at the next poll.
//! - A file the plugin cannot read moves to the error folder beside
//!   `<name>.reason.txt` saying why, and is also kept as an unmatched reply
//!   for operators; it is never read again.
//! - Folders are polled only on the node holding the poller lease (see
//!   [`crate::replies`]), so two nodes never take the same file.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::ResponseFolderConfig;
use crate::transports::{FileTransport, HandledAs, InboundHandler, Received, TransportError};

/// One target's response folder.
pub struct ResponseFolder {
    target: String,
    config: ResponseFolderConfig,
    files: Arc<dyn FileTransport>,
    /// The plugin's message limit: a larger file is never read.
    max_bytes: usize,
    state: Mutex<FolderState>,
    /// Whether the last poll failed (for logging state changes only).
    failing: AtomicBool,
}

#[derive(Default)]
struct FolderState {
    /// Size of every file at the previous poll.
    sizes: HashMap<String, u64>,
    last_poll: Option<Instant>,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderReport {
    /// Handed to the plugin and stored, then archived or deleted.
    pub taken: u32,
    /// Moved to the error folder.
    pub unreadable: u32,
    /// Seen for the first time or still growing; looked at next poll.
    pub waiting: u32,
    /// Left in place because storing or moving failed; retried next poll.
    pub failed: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("cannot list response folder `{dir}` of target `{target}`: {source}")]
    List {
        target: String,
        dir: String,
        source: TransportError,
    },
}

impl ResponseFolder {
    pub fn new(target: String, config: ResponseFolderConfig, files: Arc<dyn FileTransport>, max_bytes: usize) -> Self {
        ResponseFolder {
            target,
            config,
            files,
            max_bytes,
            state: Mutex::new(FolderState::default()),
            failing: AtomicBool::new(false),
        }
    }

    /// Records whether the latest poll failed; returns whether the one before did.
    pub fn mark_failing(&self, failing: bool) -> bool {
        self.failing.swap(failing, Ordering::Relaxed)
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether its poll interval has passed since the last poll.
    pub async fn due(&self) -> bool {
        let interval = Duration::from_millis(self.config.poll_interval_ms);
        self.state
            .lock()
            .await
            .last_poll
            .is_none_or(|at| at.elapsed() >= interval)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.config.poll_interval_ms)
    }

    /// Looks at the folder once and takes every file whose size is stable.
    pub async fn poll(&self, inbox: &dyn InboundHandler) -> Result<FolderReport, FolderError> {
        let mut state = self.state.lock().await;
        state.last_poll = Some(Instant::now());
        let dir = self.config.dir.trim_end_matches('/');
        let mut entries = self.files.list(dir).await.map_err(|source| FolderError::List {
            target: self.target.clone(),
            dir: dir.to_owned(),
            source,
        })?;
        entries.retain(|entry| !entry.name.starts_with('.'));
        // Oldest first, so answers apply in the order the OPS wrote them.
        entries.sort_by(|a, b| (a.modified, &a.name).cmp(&(b.modified, &b.name)));
        let previous = std::mem::take(&mut state.sizes);
        let mut report = FolderReport::default();
        let mut taken_this_poll = 0;
        for entry in entries {
            let stable = previous.get(&entry.name) == Some(&entry.size);
            if !stable || taken_this_poll >= self.config.max_files_per_poll {
                state.sizes.insert(entry.name.clone(), entry.size);
                report.waiting += 1;
                continue;
            }
            taken_this_poll += 1;
            let path = format!("{dir}/{}", entry.name);
            let taken = if entry.size > self.max_bytes as u64 {
                let reason = format!(
                    "the file has {} bytes, more than the target's message limit of {} bytes (limits.max_message_kib)",
                    entry.size, self.max_bytes
                );
                self.set_aside(&path, &entry.name, &reason).await
            } else {
                self.take(&path, &entry.name, inbox).await
            };
            match taken {
                Ok(Taken::Stored) => report.taken += 1,
                Ok(Taken::Unreadable) => report.unreadable += 1,
                Err(problem) => {
                    tracing::warn!(target = %self.target, file = %path, %problem, "response file left in place; retried at the next poll");
                    // Still stable next time: offered again at once.
                    state.sizes.insert(entry.name.clone(), entry.size);
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    async fn take(&self, path: &str, name: &str, inbox: &dyn InboundHandler) -> Result<Taken, String> {
        let body = self
            .files
            .get(path)
            .await
            .map_err(|error| format!("reading it: {error}"))?;
        let received = Received {
            correlation_id: None,
            name: Some(name.to_owned()),
            content_type: None,
            headers: Vec::new(),
            body,
        };
        match inbox.handle(received).await? {
            HandledAs::Applied | HandledAs::Unmatched => {
                match &self.config.archive_dir {
                    Some(archive) => {
                        let to = format!("{}/{name}", archive.trim_end_matches('/'));
                        self.files
                            .rename(path, &to)
                            .await
                            .map_err(|error| format!("archiving it to `{to}`: {error}"))?;
                    }
                    None => self
                        .files
                        .remove(path)
                        .await
                        .map_err(|error| format!("deleting it: {error}"))?,
                }
                tracing::info!(target = %self.target, file = %path, "response file taken");
                Ok(Taken::Stored)
            }
            HandledAs::Unreadable(reason) => self.set_aside(path, name, &reason).await,
        }
    }

    /// Moves a file nobody can read to the error folder, beside a note
    /// saying why, so it is never read again.
    async fn set_aside(&self, path: &str, name: &str, reason: &str) -> Result<Taken, String> {
        let error_dir = self.config.error_dir.trim_end_matches('/');
        let to = format!("{error_dir}/{name}");
        self.files
            .rename(path, &to)
            .await
            .map_err(|error| format!("moving it to the error folder `{to}`: {error}"))?;
        let reason_file = format!("{to}.reason.txt");
        let text = format!("{name}: {reason}\n");
        if let Err(error) = self.files.put(&reason_file, text.into_bytes()).await {
            // The file is out of the folder (and, when the plugin read it, in
            // the unmatched list); only the note beside it is missing.
            tracing::warn!(target = %self.target, file = %reason_file, %error, "cannot write the reason file");
        }
        tracing::warn!(target = %self.target, file = %path, %reason, "unreadable response file moved to the error folder");
        Ok(Taken::Unreadable)
    }
}

enum Taken {
    Stored,
    Unreadable,
}
