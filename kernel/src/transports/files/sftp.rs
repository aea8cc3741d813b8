//! SFTP sessions (libssh2 through the `ssh2` crate).
//!
//! Why the host key is checked before logging in: the password or the
//! signature would otherwise go to whoever answers on the address. The
//! check compares the SHA-256 fingerprint of the key the server presents,
//! in the format `ssh-keygen -lf <key>.pub` prints (`SHA256:` + unpadded
//! base64), with the pinned `host_key_sha256`; a mismatch refuses the
//! connection as `Unauthorized` naming both fingerprints, so an operator
//! sees at once whether the key changed or someone else answers. There is
//! no known_hosts file: the pin is in the configuration, reviewable and the
//! same on every node. `insecure_accept_any_host_key` exists for a lab and
//! warns on every connection.
//!
//! Private keys come from memory (the secret's value), never from a path
//! libssh2 would read behind the hub's back.

use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use ssh2::{ErrorCode, FileStat, HashType, OpenFlags, OpenType, Session, Sftp};

use super::pool::{Connector, FileSession, connect_tcp, io_failure, resolve};
use crate::secret::Secret;
use crate::transports::{FileEntry, TransportError};

/// How the hub proves who it is.
pub(super) enum SftpLogin {
    Password(Secret),
    PrivateKey { key: Secret, passphrase: Option<Secret> },
}

/// What the server must prove.
pub(super) enum HostKeyPolicy {
    /// `SHA256:<unpadded base64>`, as `ssh-keygen -lf` prints it.
    Pinned(String),
    /// Lab only: any key, with a warning per connection.
    AcceptAny,
}

pub(super) struct SftpConnector {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) username: String,
    pub(super) login: SftpLogin,
    pub(super) host_key: HostKeyPolicy,
    pub(super) timeout: Duration,
    pub(super) endpoint: String,
}

pub(super) struct SftpSession {
    sftp: Sftp,
    /// Kept for its error state and so the SSH connection outlives `sftp`.
    session: Session,
    endpoint: String,
}

// libssh2 error codes (libssh2.h, sftp.h); the `ssh2` crate exposes them only raw.
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
const LIBSSH2_ERROR_AUTHENTICATION_FAILED: i32 = -18;
const LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED: i32 = -19;
const LIBSSH2_ERROR_SOCKET_TIMEOUT: i32 = -30;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;
const LIBSSH2_ERROR_KEYFILE_AUTH_FAILED: i32 = -48;
const LIBSSH2_FX_NO_SUCH_FILE: i32 = 2;
const LIBSSH2_FX_PERMISSION_DENIED: i32 = 3;
const LIBSSH2_FX_NO_SUCH_PATH: i32 = 10;

impl Connector for SftpConnector {
    type Session = SftpSession;

    fn connect(&self) -> Result<SftpSession, TransportError> {
        let endpoint = &self.endpoint;
        let address = resolve(&self.host, self.port, endpoint)?;
        let tcp = connect_tcp(address, self.timeout, endpoint)?;
        let failed = |what: &str| {
            let context = format!("{what} {endpoint}");
            move |error: ssh2::Error| ssh_failure(&context, &error)
        };
        let mut session = Session::new().map_err(failed("start SSH with"))?;
        session.set_timeout(u32::try_from(self.timeout.as_millis()).unwrap_or(u32::MAX));
        session.set_tcp_stream(tcp);
        session.handshake().map_err(failed("SSH handshake with"))?;
        self.check_host_key(&session)?;
        match &self.login {
            SftpLogin::Password(password) => session.userauth_password(&self.username, password.expose()),
            SftpLogin::PrivateKey { key, passphrase } => session.userauth_pubkey_memory(
                &self.username,
                None,
                key.expose(),
                passphrase.as_ref().map(Secret::expose),
            ),
        }
        .map_err(|error| match ssh_failure(endpoint, &error) {
            TransportError::Unauthorized(_) | TransportError::ProtocolError(_) => {
                TransportError::Unauthorized(format!(
                    "{endpoint}: the server refused the login of user `{}` by {} ({})",
                    self.username,
                    self.login.method(),
                    error.message()
                ))
            }
            other => other,
        })?;
        if !session.authenticated() {
            return Err(TransportError::Unauthorized(format!(
                "{endpoint}: user `{}` is not authenticated after the {} login",
                self.username,
                self.login.method()
            )));
        }
        let sftp = session.sftp().map_err(failed("open the SFTP subsystem on"))?;
        Ok(SftpSession {
            sftp,
            session,
            endpoint: endpoint.clone(),
        })
    }
}

impl SftpLogin {
    fn method(&self) -> &'static str {
        match self {
            SftpLogin::Password(_) => "password",
            SftpLogin::PrivateKey { .. } => "private key",
        }
    }
}

impl SftpConnector {
    fn check_host_key(&self, session: &Session) -> Result<(), TransportError> {
        let endpoint = &self.endpoint;
        let presented = session
            .host_key_hash(HashType::Sha256)
            .map(openssh_fingerprint)
            .ok_or_else(|| TransportError::ProtocolError(format!("{endpoint}: the server presented no host key")))?;
        match &self.host_key {
            HostKeyPolicy::Pinned(expected) if *expected == presented => Ok(()),
            HostKeyPolicy::Pinned(expected) => Err(TransportError::Unauthorized(format!(
                "{endpoint}: host key mismatch: expected {expected}, the server presented {presented}; not logging in \
                 (if the server's key was really replaced, update host_key_sha256)"
            ))),
            HostKeyPolicy::AcceptAny => {
                tracing::warn!(
                    endpoint = %endpoint,
                    presented_host_key = %presented,
                    "INSECURE: accepting the SFTP server's host key without checking it \
                     (insecure_accept_any_host_key = true); pin it with host_key_sha256 = \"{presented}\""
                );
                Ok(())
            }
        }
    }
}

/// `SHA256:` + unpadded base64 of the digest, exactly as OpenSSH prints it.
pub(super) fn openssh_fingerprint(sha256: &[u8]) -> String {
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha256)
    )
}

impl SftpSession {
    /// An error of a `Read`/`Write` call on an SFTP file: the `ssh2` crate
    /// keeps only its kind, the session still knows the libssh2 code.
    fn stream_failure(&self, context: &str, error: &std::io::Error) -> TransportError {
        match (error.kind(), ssh2::Error::last_session_error(&self.session)) {
            (ErrorKind::Other, Some(last)) if matches!(last.code(), ErrorCode::Session(code) if code < 0) => {
                ssh_failure(context, &last)
            }
            _ => io_failure(context, error),
        }
    }
}

impl FileSession for SftpSession {
    fn write(&mut self, path: &str, contents: &[u8]) -> Result<(), TransportError> {
        let context = format!("put {}{path}", self.endpoint);
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
        let mut file = self
            .sftp
            .open_mode(Path::new(path), flags, 0o644, OpenType::File)
            .map_err(|error| ssh_failure(&context, &error))?;
        file.write_all(contents)
            .map_err(|error| self.stream_failure(&context, &error))?;
        file.close().map_err(|error| ssh_failure(&context, &error))
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, TransportError> {
        let context = format!("get {}{path}", self.endpoint);
        let mut file = self
            .sftp
            .open(Path::new(path))
            .map_err(|error| ssh_failure(&context, &error))?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)
            .map_err(|error| self.stream_failure(&context, &error))?;
        Ok(contents)
    }

    fn list(&mut self, directory: &str) -> Result<Vec<FileEntry>, TransportError> {
        let context = format!("list {}{directory}", self.endpoint);
        let entries = self
            .sftp
            .readdir(Path::new(directory))
            .map_err(|error| ssh_failure(&context, &error))?;
        Ok(entries
            .into_iter()
            .filter(|(_, stat)| stat.is_file())
            .filter_map(|(path, stat)| {
                let name = path.file_name()?.to_string_lossy().into_owned();
                Some(entry(name, &stat))
            })
            .collect())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), TransportError> {
        let context = format!("rename {}{from} to {to}", self.endpoint);
        self.sftp
            .rename(Path::new(from), Path::new(to), None)
            .map_err(|error| ssh_failure(&context, &error))
    }

    fn remove(&mut self, path: &str) -> Result<(), TransportError> {
        let context = format!("remove {}{path}", self.endpoint);
        self.sftp
            .unlink(Path::new(path))
            .map_err(|error| ssh_failure(&context, &error))
    }

    fn make_dir(&mut self, path: &str) -> Result<(), TransportError> {
        let context = format!("make directory {}{path}", self.endpoint);
        self.sftp
            .mkdir(Path::new(path), 0o755)
            .map_err(|error| ssh_failure(&context, &error))
    }
}

fn entry(name: String, stat: &FileStat) -> FileEntry {
    FileEntry {
        name,
        size: stat.size.unwrap_or(0),
        modified: stat.mtime.and_then(|seconds| i64::try_from(seconds).ok()),
    }
}

/// An SSH or SFTP failure as a [`TransportError`].
fn ssh_failure(context: &str, error: &ssh2::Error) -> TransportError {
    let message = format!("{context}: {}", error.message());
    match error.code() {
        ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT | LIBSSH2_ERROR_SOCKET_TIMEOUT) => {
            TransportError::Timeout(format!("{context}: no answer within the timeout ({})", error.message()))
        }
        ErrorCode::Session(
            LIBSSH2_ERROR_AUTHENTICATION_FAILED
            | LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED
            | LIBSSH2_ERROR_KEYFILE_AUTH_FAILED,
        ) => TransportError::Unauthorized(message),
        ErrorCode::Session(LIBSSH2_ERROR_SOCKET_SEND | LIBSSH2_ERROR_SOCKET_DISCONNECT | LIBSSH2_ERROR_SOCKET_RECV) => {
            TransportError::Unavailable {
                message,
                retry_after_ms: None,
            }
        }
        ErrorCode::SFTP(LIBSSH2_FX_NO_SUCH_FILE | LIBSSH2_FX_NO_SUCH_PATH) => TransportError::NotFound(message),
        ErrorCode::SFTP(LIBSSH2_FX_PERMISSION_DENIED) => {
            TransportError::Unauthorized(format!("{context}: permission denied by the server"))
        }
        ErrorCode::Session(_) | ErrorCode::SFTP(_) => TransportError::ProtocolError(message),
    }
}
