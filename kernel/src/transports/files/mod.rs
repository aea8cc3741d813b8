//! FTP, FTPS and SFTP: the target's directory on the OPS's file server.
//!
//! Layout: [`pool`] is the one mechanism every protocol shares (a bounded
//! pool of blocking sessions run on tokio's blocking threads, the atomic
//! upload, root-relative paths, reconnecting after a failure); [`ftp`] and
//! [`sftp`] only implement one session each. A fix to how uploads are made
//! atomic or how a dead session is replaced is therefore made once.
//!
//! [`file_transport`] checks the configuration (host-key pin format,
//! credentials, CA file) but does not connect: the hub must start while an
//! OPS is down, and the first operation connects.

mod ftp;
mod pool;
mod sftp;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use super::FileTransport;
use crate::config::{FileProtocol, FilesTargetConfig};
use crate::secret::Secret;
use ftp::FtpConnector;
use pool::SessionPool;
use sftp::{HostKeyPolicy, SftpConnector, SftpLogin};

/// The target's secrets, resolved by the host at start-up.
#[derive(Debug, Clone, Default)]
pub struct FileCredentials {
    pub password: Option<Secret>,
    pub private_key: Option<Secret>,
    pub private_key_passphrase: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesSetupError {
    #[error("{0}")]
    Invalid(String),
}

/// Builds the target's file transport. Does not connect.
pub fn file_transport(
    target: &str,
    config: &FilesTargetConfig,
    credentials: FileCredentials,
) -> Result<Arc<dyn FileTransport>, FilesSetupError> {
    let timeout = Duration::from_millis(config.timeout_ms.max(1));
    let host = config.host.trim().to_owned();
    if host.is_empty() {
        return Err(FilesSetupError::Invalid("host is empty".to_owned()));
    }
    match config.protocol {
        FileProtocol::Ftp | FileProtocol::Ftps => {
            let secure = config.protocol == FileProtocol::Ftps;
            let port = config.port.unwrap_or(21);
            let scheme = if secure { "ftps" } else { "ftp" };
            let endpoint = format!("{scheme}://{}", host_port(&host, port));
            let password = credentials
                .password
                .ok_or_else(|| FilesSetupError::Invalid(format!("{scheme} needs a password")))?;
            let tls = if secure {
                Some(ftp::tls_config(config.ca_file.as_deref())?)
            } else {
                None
            };
            let connector = FtpConnector {
                host,
                port,
                username: config.username.clone(),
                password,
                timeout,
                tls,
                endpoint: endpoint.clone(),
            };
            Ok(Arc::new(SessionPool::new(
                connector,
                &config.root,
                config.connections,
                endpoint,
            )))
        }
        FileProtocol::Sftp => {
            let port = config.port.unwrap_or(22);
            let endpoint = format!("sftp://{}", host_port(&host, port));
            let host_key = match (&config.host_key_sha256, config.insecure_accept_any_host_key) {
                (Some(pin), _) => HostKeyPolicy::Pinned(normalized_pin(pin)?),
                (None, true) => {
                    tracing::warn!(
                        target_name = target,
                        endpoint = %endpoint,
                        "INSECURE: SFTP target accepts any host key (insecure_accept_any_host_key = true); \
                         anyone answering on this address receives the credentials"
                    );
                    HostKeyPolicy::AcceptAny
                }
                (None, false) => {
                    return Err(FilesSetupError::Invalid(
                        "SFTP needs host_key_sha256 (from `ssh-keygen -lf <host key>.pub`)".to_owned(),
                    ));
                }
            };
            let login = match (credentials.private_key, credentials.password) {
                (Some(key), _) => {
                    if !key.expose().contains("PRIVATE KEY-----") {
                        return Err(FilesSetupError::Invalid(
                            "private_key is not a PEM or OpenSSH private key (`-----BEGIN … PRIVATE KEY-----`)"
                                .to_owned(),
                        ));
                    }
                    SftpLogin::PrivateKey {
                        key,
                        passphrase: credentials.private_key_passphrase,
                    }
                }
                (None, Some(password)) => SftpLogin::Password(password),
                (None, None) => {
                    return Err(FilesSetupError::Invalid(
                        "SFTP needs a password or a private_key".to_owned(),
                    ));
                }
            };
            let connector = SftpConnector {
                host,
                port,
                username: config.username.clone(),
                login,
                host_key,
                timeout,
                endpoint: endpoint.clone(),
            };
            Ok(Arc::new(SessionPool::new(
                connector,
                &config.root,
                config.connections,
                endpoint,
            )))
        }
    }
}

/// `host:port`, with brackets around an IPv6 address.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Checks `SHA256:<base64 of 32 bytes>` and drops any `=` padding, so a pin
/// copied from another tool compares equal to what OpenSSH prints.
fn normalized_pin(pin: &str) -> Result<String, FilesSetupError> {
    let invalid = |why: &str| {
        FilesSetupError::Invalid(format!(
            "host_key_sha256 `{pin}` {why}; expected `SHA256:` and 43 base64 characters, \
             as `ssh-keygen -lf <host key>.pub` prints"
        ))
    };
    let encoded = pin
        .trim()
        .strip_prefix("SHA256:")
        .ok_or_else(|| invalid("does not start with `SHA256:`"))?
        .trim_end_matches('=');
    let digest = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(encoded)
        .map_err(|_| invalid("is not base64"))?;
    if digest.len() != 32 {
        return Err(invalid("is not a SHA-256 digest (32 bytes)"));
    }
    Ok(sftp::openssh_fingerprint(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_checked_and_normalised() {
        let pin = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        assert_eq!(normalized_pin(pin).ok().as_deref(), Some(pin));
        assert_eq!(normalized_pin(&format!("{pin}=")).ok().as_deref(), Some(pin));
        assert!(normalized_pin("MD5:aa:bb").is_err());
        assert!(normalized_pin("SHA256:not base64!").is_err());
        assert!(normalized_pin("SHA256:AAAA").is_err());
    }
}
