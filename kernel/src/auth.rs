//! Who is calling: API keys to principals with a role and a tenant.
//!
//! Two sources of keys, both stored only as SHA-256 digests:
//! - `[[principals]]` in `hub.toml` (digest, or the key read from an
//!   environment variable at start-up), for staff and demos;
//! - keys created with `hub keys create` in the store (tenants' portal
//!   keys), revocable at once with `hub keys revoke`.
//!
//! Keys are 256-bit random strings, so a fast hash is enough at rest (no
//! password hashing needed). A presented key that matches neither source
//! is a 401 that tells nothing about the resource asked for.

use std::collections::HashMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::timeline::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submits and reads its own tenant's orders.
    Customer,
    /// Works the review queue.
    Reviewer,
    /// Runs the hub (dead letters, replay, targets); can review.
    Operator,
    Admin,
}

impl Role {
    /// Submits and dry-runs orders: every role (orders staff enter belong
    /// to the staff member's id, see [`Principal::owning_tenant`]).
    pub fn can_submit(self) -> bool {
        true
    }

    pub fn can_review(self) -> bool {
        matches!(self, Role::Reviewer | Role::Operator | Role::Admin)
    }

    /// Sees and runs the machinery: plugins, targets, dead letters.
    pub fn can_operate(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }
}

/// One `[[principals]]` entry of `hub.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    pub id: String,
    pub role: Role,
    /// The customer a `customer` key belongs to; staff keys may omit it.
    pub tenant: Option<String>,
    /// Hex SHA-256 of the API key.
    pub key_sha256: Option<String>,
    /// Name of an environment variable holding the API key itself.
    pub key_env: Option<String>,
}

impl PrincipalConfig {
    pub fn key_digest(&self) -> Result<[u8; 32], String> {
        match (&self.key_sha256, &self.key_env) {
            (Some(hex_digest), None) => {
                let bytes = hex::decode(hex_digest).map_err(|_| "key_sha256 is not hex".to_owned())?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| "key_sha256 must be 64 hex digits".to_owned())
            }
            (None, Some(var)) => match std::env::var(var) {
                Ok(key) if !key.is_empty() => Ok(digest(&key)),
                _ => Err(format!("environment variable {var} (key_env) is not set")),
            },
            _ => Err("give exactly one of key_sha256 or key_env".to_owned()),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub role: Role,
    pub tenant: Option<String>,
}

impl Principal {
    /// How this caller appears on timelines.
    pub fn actor(&self) -> Actor {
        match self.role {
            Role::Customer => Actor::Customer(self.id.clone()),
            _ => Actor::Staff(self.id.clone()),
        }
    }

    /// The tenant whose orders this caller creates: a customer's own, or
    /// the staff member's id for orders staff enter themselves.
    pub fn owning_tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(&self.id)
    }

    /// Whether this caller may read an order of `tenant`.
    pub fn may_read(&self, tenant: &str) -> bool {
        match self.role {
            Role::Customer => self.tenant.as_deref() == Some(tenant),
            _ => true,
        }
    }
}

/// Resolves presented API keys.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    by_digest: HashMap<[u8; 32], Principal>,
}

pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Hex SHA-256 of `key`, as stored.
pub fn digest_hex(key: &str) -> String {
    hex::encode(digest(key))
}

/// Prefix of every key the hub generates (secret scanners can match it).
pub const KEY_PREFIX: &str = "ohk_";

/// A new API key: `ohk_` + 32 bytes from the OS CSPRNG, base64url.
pub fn generate_api_key() -> Result<String, getrandom::Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Reviewer => "reviewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        [Role::Customer, Role::Reviewer, Role::Operator, Role::Admin]
            .into_iter()
            .find(|role| role.as_str() == name)
    }
}

impl Authenticator {
    pub fn from_config(principals: &[PrincipalConfig]) -> Result<Self, String> {
        let mut by_digest = HashMap::new();
        for p in principals {
            let principal = Principal {
                id: p.id.clone(),
                role: p.role,
                tenant: p.tenant.clone(),
            };
            if by_digest.insert(p.key_digest()?, principal).is_some() {
                return Err(format!("principal '{}' shares its key with another", p.id));
            }
        }
        Ok(Authenticator { by_digest })
    }

    pub fn authenticate(&self, presented_key: &str) -> Option<&Principal> {
        self.by_digest.get(&digest(presented_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id: &str, role: Role, tenant: Option<&str>, key: &str) -> PrincipalConfig {
        PrincipalConfig {
            id: id.into(),
            role,
            tenant: tenant.map(Into::into),
            key_sha256: Some(hex::encode(digest(key))),
            key_env: None,
        }
    }

    #[test]
    fn keys_resolve_to_principals() {
        let auth = Authenticator::from_config(&[
            config("acme", Role::Customer, Some("acme"), "k1"),
            config("li", Role::Reviewer, None, "k2"),
        ])
        .unwrap();
        let acme = auth.authenticate("k1").unwrap();
        assert_eq!(acme.actor(), Actor::Customer("acme".into()));
        assert!(acme.may_read("acme") && !acme.may_read("globex"));
        assert!(auth.authenticate("k2").unwrap().role.can_review());
        assert!(auth.authenticate("k3").is_none());
    }

    #[test]
    fn generated_keys_are_distinct_and_recognisable() {
        let a = generate_api_key().unwrap();
        let b = generate_api_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 43, "{a}");
        assert_eq!(digest_hex(&a).len(), 64);
    }

    #[test]
    fn shared_keys_are_refused() {
        let err =
            Authenticator::from_config(&[config("a", Role::Admin, None, "k"), config("b", Role::Admin, None, "k")])
                .unwrap_err();
        assert!(err.contains("'b'"));
    }
}
