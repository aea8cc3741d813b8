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
use crate::dispatch::{BreakerPolicy, RetryPolicy};
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
    /// The dispatcher of this node: workers, leases, shutdown.
    #[serde(default)]
    pub dispatch: DispatchConfig,
}

/// `[dispatch]`: how this node takes jobs from the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// `false` makes this node an API-only node (it queues, others dispatch).
    pub enabled: bool,
    /// Jobs in flight at once on this node, all targets together.
    pub workers: u32,
    /// How long a taken job stays this node's without renewal; a crashed
    /// node's jobs are taken again after this. Renewed every third of it.
    pub lease_ms: u64,
    /// How often an idle dispatcher looks for due jobs.
    pub idle_poll_ms: u64,
    /// On shutdown, how long in-flight jobs may finish before they are
    /// given back to the outbox.
    pub shutdown_grace_ms: u64,
    /// How long the poller lease (OPS polling, reply deadlines) lasts
    /// without renewal; another node takes over after it.
    pub poller_lease_ms: u64,
    /// This node's name in leases and attempt records (default: host name + random suffix).
    pub node_id: Option<String>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            enabled: true,
            workers: 32,
            lease_ms: 15_000,
            idle_poll_ms: 100,
            shutdown_grace_ms: 10_000,
            poller_lease_ms: 10_000,
            node_id: None,
        }
    }
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
    /// Jobs of this target in flight at once on one node.
    #[serde(default = "default_target_concurrency")]
    pub concurrency: u32,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub breaker: BreakerPolicy,
    /// The OPS should answer a `pending` submission within this; a miss is
    /// a timeline event and an entry in `GET /v1/replies/overdue`.
    #[serde(default)]
    pub reply_within_ms: Option<u64>,
    /// Ask the plugin's `poll` about waiting orders this often (on one node).
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// The bearer token the OPS presents on `POST /v1/callbacks/{target}`;
    /// without it the target takes no callbacks.
    #[serde(default)]
    pub callback_token: Option<SecretRef>,
}

fn default_target_concurrency() -> u32 {
    8
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
        if self.dispatch.workers == 0 || self.dispatch.lease_ms < 300 || self.dispatch.poller_lease_ms < 300 {
            problems.push("[dispatch]: workers must be ≥ 1 and lease_ms, poller_lease_ms ≥ 300".to_owned());
        }
        for (name, target) in &self.targets {
            for problem in target.limits.problems(self.plugins.max_memory_mib) {
                problems.push(format!("[targets.{name}.limits]: {problem}"));
            }
            if let Err(problem) = target.retry.check() {
                problems.push(format!("[targets.{name}]: {problem}"));
            }
            if target.concurrency == 0 || target.breaker.failure_threshold == 0 {
                problems.push(format!(
                    "[targets.{name}]: concurrency and breaker.failure_threshold must be at least 1"
                ));
            }
            if target.poll_interval_ms.is_some_and(|ms| ms < 100) {
                problems.push(format!("[targets.{name}]: poll_interval_ms must be at least 100"));
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
