//! Hub configuration: `hub.toml`, overridden by flags and environment.
//!
//! Without `--config` the hub runs on an embedded default (the same text as
//! `examples/hub.toml`), so `hub serve` works in a fresh clone. Relative paths
//! are resolved against the working directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{PrincipalConfig, Role};

/// The embedded default configuration.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../examples/hub.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid config {origin}: {}", problems.join("; "))]
    Invalid { origin: String, problems: Vec<String> },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The checked configuration of one hub process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Address the HTTP API listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `sqlite:…` (embedded default) or `postgres://…`.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// Folder of `<line>.v<N>.json` schemas.
    #[serde(default = "default_schemas_dir")]
    pub schemas_dir: PathBuf,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default)]
    pub log_format: LogFormat,
    /// API keys and who they belong to.
    #[serde(default)]
    pub principals: Vec<PrincipalConfig>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_database_url() -> String {
    "sqlite:order-hub.db".into()
}
fn default_schemas_dir() -> PathBuf {
    PathBuf::from("schemas")
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}

impl HubConfig {
    /// Reads `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::parse(&text, &path.display().to_string())
            }
            None => Self::parse(EMBEDDED_DEFAULT, "(embedded default)"),
        }
    }

    /// Parses and checks a configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: HubConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.check(origin)?;
        Ok(config)
    }

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.max_body_bytes < 1024 {
            problems.push(format!(
                "max_body_bytes = {} is too small (at least 1024)",
                self.max_body_bytes
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, p) in self.principals.iter().enumerate() {
            if !ids.insert(p.id.as_str()) {
                problems.push(format!("principals[{i}]: duplicate id '{}'", p.id));
            }
            if p.role == Role::Customer && p.tenant.is_none() {
                problems.push(format!("principals[{i}] ('{}'): a customer needs a tenant", p.id));
            }
            if let Err(e) = p.key_digest() {
                problems.push(format!("principals[{i}] ('{}'): {e}", p.id));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let config = HubConfig::load(None).unwrap();
        assert_eq!(config.listen, default_listen());
        assert!(!config.principals.is_empty());
    }

    #[test]
    fn errors_name_the_place() {
        let err = HubConfig::parse("listen = 42", "hub.toml").unwrap_err().to_string();
        assert!(err.contains("hub.toml") && err.contains("listen"), "{err}");
        let err = HubConfig::parse("colour = 'red'", "hub.toml").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        let bad = "[[principals]]\nid = 'a'\nrole = 'customer'\nkey_sha256 = 'zz'\n";
        let err = HubConfig::parse(bad, "hub.toml").unwrap_err().to_string();
        assert!(err.contains("needs a tenant") && err.contains("key_sha256"), "{err}");
    }
}
