//! Hub configuration: `hub.toml`, overridden by flags and environment.
//!
//! Without `--config` the hub runs on an embedded default (the same text as
//! `examples/hub.toml`), so `hub serve` works in a fresh clone. Relative paths
//! are resolved against the working directory.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{PrincipalConfig, Role};
use crate::route::{RouteRule, Router};
use crate::sandbox::{CallLimits, Capability};
use crate::secret::SecretRef;

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
    /// Where plugin packages and the compile cache live.
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// OPS targets: which plugin serves each, what it is granted, where it
    /// connects, and its limits. Checked and bound at start-up.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetConfig>,
    /// Routing rules, read top to bottom; see [`crate::route`].
    #[serde(default)]
    pub routes: Vec<RouteRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Installed packages: `<dir>/<name>/<version>/plugin.toml` + `.wasm`.
    pub dir: PathBuf,
    /// Compiled components, keyed by content hash and engine; must belong
    /// to the hub (the files are native code). Empty string disables it.
    pub cache_dir: PathBuf,
    /// Plugin instances alive at once; further calls wait for a slot.
    pub max_instances: u32,
    /// The ceiling for any target's `limits.memory_mib`.
    pub max_memory_mib: u64,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: PathBuf::from("plugins/dist"),
            cache_dir: PathBuf::from(".hub-cache/plugins"),
            max_instances: 512,
            max_memory_mib: 256,
        }
    }
}

/// One OPS target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The plugin's name (its manifest `name`).
    pub plugin: String,
    /// Pin a version; without it the newest installed version serves.
    #[serde(default)]
    pub version: Option<semver::Version>,
    /// Capabilities granted to the plugin; it must declare no more.
    #[serde(default)]
    pub grants: BTreeSet<Capability>,
    /// Non-secret settings the plugin reads through `config`.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    #[serde(default)]
    pub http: Option<HttpTargetConfig>,
    #[serde(default)]
    pub limits: CallLimits,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTargetConfig {
    /// Every plugin path is joined to this; it must end with `/`.
    pub base_url: url::Url,
    /// Paths the plugin may use (`*` one segment, trailing `**` the rest);
    /// empty: anything under `base_url`.
    #[serde(default)]
    pub allowed_paths: Vec<String>,
    #[serde(default = "default_http_timeout_ms")]
    pub timeout_ms: u64,
    /// Credentials the host attaches; the plugin never sees them.
    #[serde(default)]
    pub auth: Option<HttpAuthConfig>,
}

fn default_http_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub enum HttpAuthConfig {
    Bearer { token: SecretRef },
    Basic { username: String, password: SecretRef },
    Header { name: String, value: SecretRef },
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
    /// The routing rules, checked (they were checked at load as well).
    pub fn router(&self) -> Result<Router, ConfigError> {
        Router::new(&self.routes, &self.targets.keys().cloned().collect()).map_err(|problems| ConfigError::Invalid {
            origin: "routes".into(),
            problems,
        })
    }

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
        for (name, target) in &self.targets {
            for problem in target.limits.problems(self.plugins.max_memory_mib) {
                problems.push(format!("[targets.{name}.limits]: {problem}"));
            }
            if let Some(http) = &target.http
                && (!matches!(http.base_url.scheme(), "http" | "https") || !http.base_url.path().ends_with('/'))
            {
                problems.push(format!(
                    "[targets.{name}.http] base_url `{}` must be http(s) and end with `/`",
                    http.base_url
                ));
            }
        }
        if let Err(mut route_problems) = Router::new(&self.routes, &self.targets.keys().cloned().collect()) {
            problems.append(&mut route_problems);
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
