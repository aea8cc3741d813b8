//! Standard Webhooks signatures: secrets and the `webhook-signature` header.
//!
//! Why this exact scheme: receivers can verify with any Standard Webhooks
//! library (or ten lines of their own) instead of learning a hub-specific
//! one. A secret is `whsec_` + base64 of random bytes; the HMAC key is the
//! decoded bytes; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`;
//! the header is `v1,<base64 HMAC-SHA256>`, several separated by spaces
//! while two secrets are valid (rotation).
//!
//! **Invariant:** a [`SigningSecret`] never prints (`Debug` redacts it); the
//! one way to its text is [`SigningSecret::expose`], used where it is shown
//! once to its owner.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of every webhook secret (also what secret scanners match).
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret the hub generates (Standard Webhooks: 24 to 64).
pub const SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a webhook secret starts with `{SECRET_PREFIX}`")]
    Prefix,
    #[error("a webhook secret is `{SECRET_PREFIX}` + base64 of 24 to 64 bytes")]
    Encoding,
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
}

/// A webhook signing secret in its stored and shown form (`whsec_…`).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// A fresh secret: [`SECRET_BYTES`] bytes from the OS CSPRNG.
    pub fn generate() -> Result<Self, SecretError> {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(SigningSecret(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))))
    }

    /// Checks the form of a stored (or configured) secret.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let secret = SigningSecret(text.to_owned());
        secret.key()?;
        Ok(secret)
    }

    /// The HMAC key: the decoded bytes after the prefix.
    fn key(&self) -> Result<Vec<u8>, SecretError> {
        let encoded = self.0.strip_prefix(SECRET_PREFIX).ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Encoding)?;
        if (24..=64).contains(&key.len()) {
            Ok(key)
        } else {
            Err(SecretError::Encoding)
        }
    }

    /// The secret's text, for the one response that shows it to its owner
    /// and for the store.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SecretError> {
        let key = self.key()?;
        // HMAC takes keys of any length; this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SecretError::Encoding)?;
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SigningSecret(**redacted**)")
    }
}

/// The `webhook-signature` header value: one signature per valid secret,
/// newest first, separated by spaces.
pub fn signature_header(
    secrets: &[&SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SecretError> {
    let signatures = secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference vector of the Standard Webhooks libraries.
    #[test]
    fn known_vector() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret
            .sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#)
            .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_give_two_signatures() {
        let new = SigningSecret::generate().unwrap();
        let old = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let header = signature_header(&[&new, &old], "msg_1", 1, b"{}").unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], new.sign("msg_1", 1, b"{}").unwrap());
        assert_eq!(parts[1], old.sign("msg_1", 1, b"{}").unwrap());
    }

    #[test]
    fn generated_secrets_are_well_formed_and_distinct() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert_ne!(a, b);
        assert!(SigningSecret::parse(a.expose()).is_ok());
        assert_eq!(STANDARD.decode(&a.expose()[SECRET_PREFIX.len()..]).unwrap().len(), 32);
        assert_eq!(format!("{a:?}"), "SigningSecret(**redacted**)");
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Prefix)
        );
        assert_eq!(SigningSecret::parse("whsec_not*base64"), Err(SecretError::Encoding));
        assert_eq!(SigningSecret::parse("whsec_c2hvcnQ="), Err(SecretError::Encoding));
    }
}
