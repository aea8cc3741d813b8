//! WS-Security UsernameToken added by the host. STUB — being written (issue 5).

use crate::config::WssePasswordType;
use crate::secret::Secret;

/// The credentials of one SOAP target.
#[derive(Debug, Clone)]
pub struct WsSecurity {
    pub username: String,
    pub password: Secret,
    pub password_type: WssePasswordType,
}
