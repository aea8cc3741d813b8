//! FTP, FTPS and SFTP. STUB — being written (issue 5).

use std::sync::Arc;

use super::FileTransport;
use crate::config::FilesTargetConfig;
use crate::secret::Secret;

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
    _target: &str,
    _config: &FilesTargetConfig,
    _credentials: FileCredentials,
) -> Result<Arc<dyn FileTransport>, FilesSetupError> {
    Err(FilesSetupError::Invalid("not yet built".into()))
}
