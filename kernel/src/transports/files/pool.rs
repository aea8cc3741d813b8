//! The one mechanism behind every file protocol: a pool of blocking
//! sessions driven from the async runtime.
//!
//! Why blocking sessions in a pool: libssh2 (SFTP) and suppaftp's sync
//! stream (FTP, FTPS) block the calling thread, so every operation runs on
//! tokio's blocking pool (`spawn_blocking`) and never on a worker thread of
//! the runtime. Opening an SSH or FTP(S) session costs several round trips
//! (TCP, TLS or key exchange, login), so finished sessions wait idle for
//! the next operation instead of being closed; a semaphore caps the open
//! sessions at the target's `connections`.
//!
//! Why the protocols only implement [`FileSession`]: what makes a file
//! transport trustworthy — the atomic upload (temporary name, then rename),
//! paths joined to the target's root, a failed session dropped and
//! reconnected, a stale idle session retried once — is the same for FTP and
//! SFTP, so it is written once here and each protocol only says how to put,
//! get, list, rename and remove one file.
//!
//! Timeouts: the sessions put the target's `timeout_ms` on the connect and
//! on every socket read and write, so a silent server ends an operation
//! with [`TransportError::Timeout`] while a large file that keeps moving is
//! never cut off by a deadline on the whole transfer.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::transports::{FileEntry, FileTransport, TransportError};

/// One open, logged-in connection to a file server. Every path is the full
/// path on the server (the pool has joined it to the target's root).
pub(super) trait FileSession: Send + 'static {
    /// Creates or truncates `path` and writes `contents` to it.
    fn write(&mut self, path: &str, contents: &[u8]) -> Result<(), TransportError>;
    fn read(&mut self, path: &str) -> Result<Vec<u8>, TransportError>;
    /// The regular files of `directory` (no `.`, `..` or sub-directories).
    fn list(&mut self, directory: &str) -> Result<Vec<FileEntry>, TransportError>;
    /// Renames; may refuse when `to` exists (the pool then removes it first).
    fn rename(&mut self, from: &str, to: &str) -> Result<(), TransportError>;
    fn remove(&mut self, path: &str) -> Result<(), TransportError>;
    /// Creates one directory (its parent exists).
    fn make_dir(&mut self, path: &str) -> Result<(), TransportError>;
}

/// Opens sessions to one server.
pub(super) trait Connector: Send + Sync + 'static {
    type Session: FileSession;
    /// Connects, verifies the server and logs in (blocking).
    fn connect(&self) -> Result<Self::Session, TransportError>;
}

/// The [`FileTransport`] of one target over any [`Connector`].
pub(super) struct SessionPool<C: Connector> {
    connector: Arc<C>,
    root: String,
    idle: Arc<Mutex<Vec<C::Session>>>,
    slots: Arc<Semaphore>,
    /// Directories below the root this pool created or wrote into: a put
    /// into one of them skips the `make_dir` calls.
    known_directories: Arc<Mutex<HashSet<String>>>,
    /// `protocol://host:port` for error messages.
    endpoint: String,
}

impl<C: Connector> SessionPool<C> {
    pub(super) fn new(connector: C, root: &str, connections: u32, endpoint: String) -> Self {
        let connections = usize::try_from(connections.max(1)).unwrap_or(1);
        SessionPool {
            connector: Arc::new(connector),
            root: root.to_owned(),
            idle: Arc::new(Mutex::new(Vec::with_capacity(connections))),
            slots: Arc::new(Semaphore::new(connections)),
            known_directories: Arc::new(Mutex::new(HashSet::new())),
            endpoint,
        }
    }

    /// `path` (relative, from the plugin) joined to the root.
    fn full_path(&self, path: &str) -> Result<String, TransportError> {
        join_to_root(&self.root, path)
    }

    /// The full paths of the directories between the root and `path`'s
    /// file, outermost first: `a/b/c.xml` → `root/a`, `root/a/b`.
    fn directories_of(&self, path: &str) -> Result<Vec<String>, TransportError> {
        let segments: Vec<&str> = path
            .split('/')
            .filter(|segment| !matches!(*segment, "" | "."))
            .collect();
        let parents = segments.len().saturating_sub(1);
        (1..=parents)
            .map(|depth| join_to_root(&self.root, &segments[..depth].join("/")))
            .collect()
    }

    /// Runs `operation` on a session, on the blocking pool.
    ///
    /// The slot permit moves into the blocking task: if the caller gives up
    /// (its future is dropped), the session still counts until the blocking
    /// call returns, so the pool never opens more than `connections`.
    async fn run<T, Operation>(&self, operation: Operation) -> Result<T, TransportError>
    where
        T: Send + 'static,
        Operation: Fn(&mut C::Session) -> Result<T, TransportError> + Send + 'static,
    {
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| TransportError::Unavailable {
                message: format!("{}: the file transport is shutting down", self.endpoint),
                retry_after_ms: None,
            })?;
        let connector = Arc::clone(&self.connector);
        let idle = Arc::clone(&self.idle);
        let reused = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let outcome = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            let (mut session, was_reused) = match reused {
                Some(session) => (session, true),
                None => (connector.connect()?, false),
            };
            let mut result = operation(&mut session);
            if was_reused && result.as_ref().is_err_and(may_be_stale_session) {
                // An idle session the server closed meanwhile: one fresh try.
                drop(session);
                session = connector.connect()?;
                result = operation(&mut session);
            }
            if session_still_usable(&result) {
                idle.lock().unwrap_or_else(PoisonError::into_inner).push(session);
            }
            result
        })
        .await;
        outcome.unwrap_or_else(|failure| {
            Err(TransportError::ProtocolError(format!(
                "{}: the file operation did not complete: {failure}",
                self.endpoint
            )))
        })
    }
}

#[async_trait]
impl<C: Connector> FileTransport for SessionPool<C> {
    async fn put(&self, path: &str, contents: Vec<u8>) -> Result<(), TransportError> {
        let full_path = self.full_path(path)?;
        let directories = self.directories_of(path)?;
        let known_directories = Arc::clone(&self.known_directories);
        self.run(move |session| {
            let unknown: Vec<String> = {
                let known = known_directories.lock().unwrap_or_else(PoisonError::into_inner);
                directories
                    .iter()
                    .filter(|directory| !known.contains(*directory))
                    .cloned()
                    .collect()
            };
            // Made before writing, not after a failed write: some servers
            // (libunftp) accept STOR into a missing directory and only fail
            // once the data flows, by resetting the data connection.
            make_directories(session, &unknown)?;
            let result = put_atomically(session, &full_path, &contents, &directories);
            let mut known = known_directories.lock().unwrap_or_else(PoisonError::into_inner);
            if result.is_ok() {
                known.extend(directories.iter().cloned());
            } else {
                // Perhaps one was deleted: make them again next time.
                for directory in &directories {
                    known.remove(directory);
                }
            }
            result
        })
        .await
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, TransportError> {
        let path = self.full_path(path)?;
        self.run(move |session| session.read(&path)).await
    }

    async fn list(&self, directory: &str) -> Result<Vec<FileEntry>, TransportError> {
        let directory = self.full_path(directory)?;
        self.run(move |session| {
            let mut entries = session.list(&directory)?;
            entries.retain(|entry| !is_temporary_name(&entry.name));
            Ok(entries)
        })
        .await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), TransportError> {
        let from = self.full_path(from)?;
        let to = self.full_path(to)?;
        self.run(move |session| session.rename(&from, &to)).await
    }

    async fn remove(&self, path: &str) -> Result<(), TransportError> {
        let path = self.full_path(path)?;
        self.run(move |session| session.remove(&path)).await
    }
}

/// A failure after which the session is still logged in and in sync: the
/// server answered "no such file". Any other error closes the session (the
/// next operation reconnects) — cheaper than guessing the connection state.
fn session_still_usable<T>(result: &Result<T, TransportError>) -> bool {
    matches!(result, Ok(_) | Err(TransportError::NotFound(_)))
}

/// What a connection the server closed while idle looks like. A timeout is
/// not retried: it would double the wait on a server that is really slow.
fn may_be_stale_session(error: &TransportError) -> bool {
    matches!(
        error,
        TransportError::Unavailable { .. } | TransportError::ProtocolError(_)
    )
}

/// Uploads under a temporary name in the same directory, then renames onto
/// `path`: the OPS never sees half a file, and a retry of the same upload
/// replaces the file instead of adding a second one.
/// `directories` are the ones between the root and the file, made again
/// if the write finds one missing (an operator deleted it meanwhile).
pub(super) fn put_atomically<S: FileSession>(
    session: &mut S,
    path: &str,
    contents: &[u8],
    directories: &[String],
) -> Result<(), TransportError> {
    let temporary = temporary_name_beside(path);
    if let Err(error) = write_creating_directories(session, &temporary, contents, directories) {
        discard(session, &temporary, &error);
        return Err(error);
    }
    let refused = match session.rename(&temporary, path) {
        Ok(()) => return Ok(()),
        Err(refused) => refused,
    };
    if !server_answered(&refused) {
        return Err(refused);
    }
    // Some servers (SFTP version 3, e.g. OpenSSH) never rename onto an
    // existing name: remove the old file, then rename.
    match session.remove(path) {
        Ok(()) => session
            .rename(&temporary, path)
            .inspect_err(|error| discard(session, &temporary, error)),
        Err(_) => {
            discard(session, &temporary, &refused);
            Err(refused)
        }
    }
}

/// Writes; when a directory is missing, makes `directories` and writes
/// once more.
fn write_creating_directories<S: FileSession>(
    session: &mut S,
    path: &str,
    contents: &[u8],
    directories: &[String],
) -> Result<(), TransportError> {
    match session.write(path, contents) {
        Err(TransportError::NotFound(missing)) if !directories.is_empty() => {
            make_directories(session, directories)?;
            session.write(path, contents).map_err(|error| match error {
                TransportError::NotFound(_) => TransportError::NotFound(missing),
                other => other,
            })
        }
        other => other,
    }
}

/// Makes each directory, outermost first. A directory that exists answers
/// an error, which is ignored (the write tells whether it worked); a
/// server that stopped answering ends the attempt.
fn make_directories<S: FileSession>(session: &mut S, directories: &[String]) -> Result<(), TransportError> {
    for directory in directories {
        if let Err(error) = session.make_dir(directory)
            && !server_answered(&error)
        {
            return Err(error);
        }
    }
    Ok(())
}

/// Removes a temporary file left by a failed upload, when the server is
/// still answering (after a timeout or a lost connection it would only
/// cost another wait).
fn discard<S: FileSession>(session: &mut S, temporary: &str, cause: &TransportError) {
    if server_answered(cause) {
        let _ = session.remove(temporary);
    }
}

fn server_answered(error: &TransportError) -> bool {
    !matches!(
        error,
        TransportError::Timeout(_) | TransportError::Refused(_) | TransportError::Unavailable { .. }
    )
}

/// The first address of `host:port` (name resolution blocks: it runs on the
/// blocking pool with the rest of the connect).
pub(super) fn resolve(host: &str, port: u16, endpoint: &str) -> Result<SocketAddr, TransportError> {
    let unresolved = |reason: String| TransportError::Unavailable {
        message: format!("cannot resolve {endpoint}: {reason}"),
        retry_after_ms: None,
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|error| unresolved(error.to_string()))?
        .next()
        .ok_or_else(|| unresolved("no address".to_owned()))
}

/// A TCP connection whose connect, reads and writes all time out.
pub(super) fn connect_tcp(address: SocketAddr, timeout: Duration, endpoint: &str) -> Result<TcpStream, TransportError> {
    let stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|error| io_failure(&format!("connect to {endpoint}"), &error))?;
    let limit =
        |result: std::io::Result<()>| result.map_err(|error| io_failure(&format!("socket to {endpoint}"), &error));
    limit(stream.set_read_timeout(Some(timeout)))?;
    limit(stream.set_write_timeout(Some(timeout)))?;
    limit(stream.set_nodelay(true))?;
    Ok(stream)
}

/// A socket failure as a [`TransportError`]; `context` says what and where.
/// A read timeout surfaces as `WouldBlock` on Unix, a connect timeout as
/// `TimedOut`.
pub(super) fn io_failure(context: &str, error: &std::io::Error) -> TransportError {
    match error.kind() {
        ErrorKind::ConnectionRefused => TransportError::Refused(format!("{context}: {error}")),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            TransportError::Timeout(format!("{context}: no answer within the timeout ({error})"))
        }
        ErrorKind::NotFound => TransportError::NotFound(format!("{context}: {error}")),
        ErrorKind::InvalidData => TransportError::ProtocolError(format!("{context}: {error}")),
        _ => TransportError::Unavailable {
            message: format!("{context}: {error}"),
            retry_after_ms: None,
        },
    }
}

const TEMPORARY_SUFFIX: &str = ".part";

/// `dir/name` → `dir/.name.<uuid>.part`: hidden, in the same directory (a
/// rename across directories is not atomic and not always allowed).
pub(super) fn temporary_name_beside(path: &str) -> String {
    let unique = uuid::Uuid::now_v7().simple();
    match path.rsplit_once('/') {
        Some((directory, name)) => format!("{directory}/.{name}.{unique}{TEMPORARY_SUFFIX}"),
        None => format!(".{path}.{unique}{TEMPORARY_SUFFIX}"),
    }
}

/// An upload of ours still in flight (or abandoned): not shown to plugins.
pub(super) fn is_temporary_name(name: &str) -> bool {
    let Some(inner) = name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(TEMPORARY_SUFFIX))
    else {
        return false;
    };
    inner
        .rsplit_once('.')
        .is_some_and(|(_, unique)| unique.len() == 32 && unique.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// Joins a plugin path to the root: leading `/`, empty and `.` segments
/// dropped; `..` refused (the sandbox already refuses it; this is the
/// second lock on the same door).
pub(super) fn join_to_root(root: &str, path: &str) -> Result<String, TransportError> {
    let mut segments = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                return Err(TransportError::Denied(format!(
                    "path `{path}` leaves the target's root"
                )));
            }
            other => segments.push(other),
        }
    }
    let relative = segments.join("/");
    if root.is_empty() || root == "." {
        // Relative to the directory the server logs us into.
        return Ok(if relative.is_empty() { ".".to_owned() } else { relative });
    }
    let root = root.trim_end_matches('/');
    Ok(match (root.is_empty(), relative.is_empty()) {
        (true, true) => "/".to_owned(),
        (false, true) => root.to_owned(),
        (_, false) => format!("{root}/{relative}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_to_the_root() {
        let join = |root: &str, path: &str| join_to_root(root, path).ok();
        assert_eq!(join("/", "a/b.xml").as_deref(), Some("/a/b.xml"));
        assert_eq!(join("/", "/a//./b.xml").as_deref(), Some("/a/b.xml"));
        assert_eq!(join("/srv/out/", "b.xml").as_deref(), Some("/srv/out/b.xml"));
        assert_eq!(join("/srv/out", "").as_deref(), Some("/srv/out"));
        assert_eq!(join("/", ".").as_deref(), Some("/"));
        assert_eq!(join("upload", "订单.xml").as_deref(), Some("upload/订单.xml"));
        assert_eq!(join(".", "x").as_deref(), Some("x"));
        assert_eq!(join("/", "a/../../etc/passwd"), None);
    }

    #[test]
    fn temporary_names_are_hidden_beside_the_file_and_recognised() {
        let temporary = temporary_name_beside("/out/订单.xml");
        assert!(temporary.starts_with("/out/.订单.xml."), "{temporary}");
        let name = temporary.rsplit('/').next().unwrap_or_default();
        assert!(is_temporary_name(name), "{name}");
        assert!(!is_temporary_name(".profile"));
        assert!(!is_temporary_name("order.part"));
        assert!(!is_temporary_name(".order.xml.part"));
    }
}
