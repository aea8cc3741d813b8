//! Secrets: credentials the host attaches to OPS calls.
//!
//! Why a type of its own: a password that is a `String` ends up in a
//! `Debug` dump, an error message or a log line sooner or later. A [`Secret`]
//! prints as `**redacted**` everywhere; the one way to the value is
//! [`Secret::expose`], which reads as what it is at each call site. Secrets
//! never cross into plugin memory: transports attach them on the host side.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// A credential value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it to the OPS.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(**redacted**)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("**redacted**")
    }
}

/// Where a secret comes from: configuration names the source, never the
/// value, so `hub.toml` can be committed and shown.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum SecretRef {
    /// An environment variable of the hub process.
    Env(String),
    /// A file (trailing newline trimmed), e.g. a mounted Kubernetes secret.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("environment variable `{0}` is not set (or not UTF-8)")]
    MissingEnv(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("secret from {0} is empty")]
    Empty(String),
}

impl SecretRef {
    /// Reads the secret now; the hub resolves every reference at start-up so
    /// a missing one is reported before the first order, not during it.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let (value, origin) = match self {
            SecretRef::Env(name) => (
                std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone()))?,
                format!("env `{name}`"),
            ),
            SecretRef::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| SecretError::File {
                    path: path.clone(),
                    reason: error.to_string(),
                })?;
                (
                    text.trim_end_matches(['\r', '\n']).to_owned(),
                    format!("file {}", path.display()),
                )
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty(origin));
        }
        Ok(Secret(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "**redacted**");
        assert_eq!(format!("{secret:?}"), "Secret(**redacted**)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(**redacted**))");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_missing_env_secret_names_the_variable_not_a_value() {
        let error = SecretRef::Env("HUB_TEST_SURELY_UNSET_4711".into())
            .resolve()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable `HUB_TEST_SURELY_UNSET_4711` is not set (or not UTF-8)"
        );
    }

    #[test]
    fn a_file_secret_loses_its_trailing_newline() {
        let path = std::env::temp_dir().join(format!("hub-secret-{}", std::process::id()));
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = SecretRef::File(path.clone()).resolve().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(secret.expose(), "s3cret");
    }
}
