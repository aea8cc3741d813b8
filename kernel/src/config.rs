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
    /// Webhook subscriptions: delivery, retries, the SSRF guard.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// Trace export (OTLP).
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The web console at `/`.
    #[serde(default)]
    pub console: ConsoleConfig,
    /// `[rate_limits]`: intake requests per principal (off by default).
    #[serde(default)]
    pub rate_limits: crate::api::rate_limit::RateLimitConfig,
}

/// `[console]`: the web console (static files embedded in the binary,
/// served at `/` and `/assets/…`; see `api/console.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// `false`: no console on this node; `/` is the API's usual 404. The
    /// API itself is unaffected.
    pub enabled: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { enabled: true }
    }
}

/// `[telemetry]`: where spans are exported (logs and `/metrics` need no
/// settings; `log_format` is top-level).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP (protobuf) collector, e.g. `http://127.0.0.1:4318`: spans
    /// go to `<endpoint>/v1/traces` (a URL with its own path is used as
    /// given). Unset: no export.
    pub otlp_endpoint: Option<url::Url>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// How long one export request may take.
    pub otlp_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: "order-hub".to_owned(),
            otlp_timeout_ms: 5_000,
        }
    }
}

impl TelemetryConfig {
    /// The traces URL of the OTLP endpoint, if export is on.
    pub fn otlp_traces_url(&self) -> Option<String> {
        let endpoint = self.otlp_endpoint.as_ref()?;
        Some(if endpoint.path() == "/" {
            format!("{}v1/traces", endpoint.as_str())
        } else {
            endpoint.to_string()
        })
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(endpoint) = &self.otlp_endpoint
            && !matches!(endpoint.scheme(), "http" | "https")
        {
            problems.push(format!(
                "otlp_endpoint must be http:// or https://, not {}://",
                endpoint.scheme()
            ));
        }
        if self.service_name.trim().is_empty() {
            problems.push("service_name must not be empty".to_owned());
        }
        if self.otlp_timeout_ms == 0 {
            problems.push("otlp_timeout_ms must be at least 1".to_owned());
        }
        problems
    }
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

/// `[webhooks]`: customers' webhook subscriptions (see [`crate::webhooks`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// `false`: this node delivers no webhooks (others do; subscriptions
    /// and deliveries are still recorded).
    pub enabled: bool,
    /// Allow endpoints on private, loopback, link-local, CGNAT … addresses.
    /// Off by default: customers choose the URLs (SSRF).
    pub allow_private_targets: bool,
    /// Allow `http://` endpoints besides `https://` (a lab, the tests).
    pub allow_insecure_http: bool,
    /// Delay before each retry after a failed attempt; when the list is
    /// used up the delivery is `failed`. Standard Webhooks' schedule.
    pub retry_schedule_ms: Vec<u64>,
    /// Each delay is moved randomly by up to this share, either way.
    pub jitter_percent: u32,
    /// An endpoint failing (no success) for this long is disabled.
    pub disable_after_ms: u64,
    /// Per request: connect, send, answer.
    pub timeout_ms: u64,
    /// Deliveries in flight at once on this node.
    pub concurrency: u32,
    /// After a secret rotation the old secret keeps signing this long.
    pub secret_overlap_ms: u64,
    /// How often an idle worker looks for due deliveries (other nodes'
    /// events, retries coming due); this node's own events wake it at once.
    pub poll_interval_ms: u64,
    pub max_subscriptions_per_tenant: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        const SECOND: u64 = 1_000;
        const MINUTE: u64 = 60 * SECOND;
        const HOUR: u64 = 60 * MINUTE;
        WebhooksConfig {
            enabled: true,
            allow_private_targets: false,
            allow_insecure_http: false,
            retry_schedule_ms: vec![
                5 * SECOND,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ],
            jitter_percent: 20,
            disable_after_ms: 5 * 24 * HOUR,
            timeout_ms: 10 * SECOND,
            concurrency: 16,
            secret_overlap_ms: 24 * HOUR,
            poll_interval_ms: SECOND,
            max_subscriptions_per_tenant: 25,
        }
    }
}

impl WebhooksConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.retry_schedule_ms.len() > 50 {
            problems.push("retry_schedule_ms has more than 50 entries".to_owned());
        }
        if self.jitter_percent > 100 {
            problems.push(format!("jitter_percent = {} is more than 100", self.jitter_percent));
        }
        if self.timeout_ms < 100 || self.poll_interval_ms < 10 || self.disable_after_ms == 0 {
            problems.push("timeout_ms ≥ 100, poll_interval_ms ≥ 10 and disable_after_ms ≥ 1".to_owned());
        }
        if self.concurrency == 0 || self.max_subscriptions_per_tenant == 0 {
            problems.push("concurrency and max_subscriptions_per_tenant must be at least 1".to_owned());
        }
        problems
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
    /// A RabbitMQ broker: the exchange the plugin publishes to and the
    /// queue its replies come back on.
    #[serde(default)]
    pub amqp: Option<AmqpTargetConfig>,
    /// An FTP, FTPS or SFTP server: where order files go and where the OPS
    /// leaves its response files.
    #[serde(default)]
    pub files: Option<FilesTargetConfig>,
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
    /// PEM file of extra CA certificates trusted for this target (a private
    /// PKI); the public roots stay trusted. Verification is never off.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// WS-Security UsernameToken the host adds to every SOAP envelope.
    #[serde(default)]
    pub wsse: Option<WsseConfig>,
}

/// WS-Security UsernameToken (OASIS UsernameToken Profile 1.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsseConfig {
    pub username: String,
    pub password: SecretRef,
    /// `digest` (default): Base64(SHA-1(nonce + created + password)) with a
    /// fresh nonce and timestamp per request; `text`: the password itself.
    #[serde(default)]
    pub password_type: WssePasswordType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WssePasswordType {
    Text,
    #[default]
    Digest,
}

/// A RabbitMQ target (AMQP 0-9-1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpTargetConfig {
    /// `amqp://host:port/vhost` without credentials (they go below).
    pub url: url::Url,
    pub username: String,
    pub password: SecretRef,
    /// The exchange every message goes to; `""` is the default exchange
    /// (routing key = queue name).
    #[serde(default)]
    pub exchange: String,
    /// The only routing keys the plugin may publish with.
    pub routing_keys: Vec<String>,
    /// The queue the OPS answers on (`reply-to` of every message that
    /// expects a reply). The hub declares it durable and consumes it; each
    /// message goes to the plugin's `on-inbound`.
    #[serde(default)]
    pub reply_queue: Option<String>,
    /// How long to wait for the broker's publisher confirm.
    #[serde(default = "default_amqp_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// Reconnection backoff after the broker went away: doubles from 200 ms
    /// up to this.
    #[serde(default = "default_amqp_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Unacknowledged replies the hub takes at once.
    #[serde(default = "default_amqp_prefetch")]
    pub prefetch: u16,
}

fn default_amqp_confirm_timeout_ms() -> u64 {
    10_000
}
fn default_amqp_reconnect_max_ms() -> u64 {
    30_000
}
fn default_amqp_prefetch() -> u16 {
    32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileProtocol {
    /// Plain FTP, passive mode.
    Ftp,
    /// Explicit FTPS (AUTH TLS), passive mode, certificate verified.
    Ftps,
    /// SFTP over SSH; the server's host key pinned by fingerprint.
    Sftp,
}

/// An FTP/FTPS/SFTP target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesTargetConfig {
    pub protocol: FileProtocol,
    pub host: String,
    /// 21 for FTP(S), 22 for SFTP when omitted.
    #[serde(default)]
    pub port: Option<u16>,
    pub username: String,
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// SFTP: an OpenSSH/PEM private key (file reference recommended).
    #[serde(default)]
    pub private_key: Option<SecretRef>,
    #[serde(default)]
    pub private_key_passphrase: Option<SecretRef>,
    /// SFTP: the server's host key fingerprint as `ssh-keygen -lf` prints
    /// it (`SHA256:…`). A server presenting another key is refused.
    #[serde(default)]
    pub host_key_sha256: Option<String>,
    /// SFTP: accept any host key. Only for a lab; logged loudly at start-up
    /// and on every connection.
    #[serde(default)]
    pub insecure_accept_any_host_key: bool,
    /// FTPS: extra CA certificates (PEM) for the server's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The directory every plugin path is relative to.
    #[serde(default = "default_files_root")]
    pub root: String,
    /// Connect, read and write timeout of every operation.
    #[serde(default = "default_files_timeout_ms")]
    pub timeout_ms: u64,
    /// Sessions kept open to the server (operations beyond wait).
    #[serde(default = "default_files_connections")]
    pub connections: u32,
    /// Where the OPS leaves its answers; polled on the poller node.
    #[serde(default)]
    pub responses: Option<ResponseFolderConfig>,
}

fn default_files_root() -> String {
    "/".to_owned()
}
fn default_files_timeout_ms() -> u64 {
    15_000
}
fn default_files_connections() -> u32 {
    2
}

/// The OPS's response folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseFolderConfig {
    /// Folder (relative to `root`) the OPS writes its answers to.
    pub dir: String,
    /// Handled files move here; without it they are deleted.
    #[serde(default)]
    pub archive_dir: Option<String>,
    /// Files the plugin could not read move here, with `<name>.reason.txt`.
    #[serde(default = "default_error_dir")]
    pub error_dir: String,
    #[serde(default = "default_response_poll_ms")]
    pub poll_interval_ms: u64,
    /// Files taken per poll, oldest first.
    #[serde(default = "default_response_batch")]
    pub max_files_per_poll: u32,
}

impl AmqpTargetConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // amqps:// needs lapin's TLS support, which this build leaves out:
        // refuse it here rather than fail every publish.
        if self.url.scheme() != "amqp" {
            problems.push(format!(
                "url scheme `{}` is not supported: use amqp:// (amqps:// is not built in yet)",
                self.url.scheme()
            ));
        }
        if !self.url.username().is_empty() || self.url.password().is_some() {
            problems.push("url must not carry credentials; use `username` and `password`".to_owned());
        }
        if self.routing_keys.is_empty() {
            problems.push("routing_keys must list at least one key".to_owned());
        }
        if self.confirm_timeout_ms < 100 || self.reconnect_max_ms < 200 || self.prefetch == 0 {
            problems.push("confirm_timeout_ms ≥ 100, reconnect_max_ms ≥ 200 and prefetch ≥ 1".to_owned());
        }
        problems
    }
}

impl FilesTargetConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.protocol == FileProtocol::Sftp {
            if self.host_key_sha256.is_none() && !self.insecure_accept_any_host_key {
                problems.push(
                    "SFTP needs `host_key_sha256` (from `ssh-keygen -lf <host key>.pub`); \
                     `insecure_accept_any_host_key = true` only for a lab"
                        .to_owned(),
                );
            }
            if let Some(pin) = &self.host_key_sha256
                && !pin.starts_with("SHA256:")
            {
                problems.push(format!("host_key_sha256 `{pin}` must look like `SHA256:<base64>`"));
            }
            if self.password.is_none() && self.private_key.is_none() {
                problems.push("SFTP needs `password` or `private_key`".to_owned());
            }
        } else {
            if self.password.is_none() {
                problems.push("FTP needs `password`".to_owned());
            }
            if self.private_key.is_some() || self.host_key_sha256.is_some() || self.insecure_accept_any_host_key {
                problems.push("private_key and host keys are SFTP settings; this target speaks FTP".to_owned());
            }
        }
        if self.connections == 0 || self.timeout_ms < 100 {
            problems.push("connections ≥ 1 and timeout_ms ≥ 100".to_owned());
        }
        if let Some(responses) = &self.responses {
            if responses.poll_interval_ms < 100 || responses.max_files_per_poll == 0 {
                problems.push("responses: poll_interval_ms ≥ 100 and max_files_per_poll ≥ 1".to_owned());
            }
            let dirs = [
                Some(&responses.dir),
                responses.archive_dir.as_ref(),
                Some(&responses.error_dir),
            ];
            let names: Vec<&String> = dirs.into_iter().flatten().collect();
            if names.iter().enumerate().any(|(i, a)| names[i + 1..].contains(a)) {
                problems.push("responses: dir, archive_dir and error_dir must differ".to_owned());
            }
        }
        problems
    }
}

fn default_error_dir() -> String {
    "error".to_owned()
}
fn default_response_poll_ms() -> u64 {
    5_000
}
fn default_response_batch() -> u32 {
    100
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
        problems.extend(self.webhooks.problems().into_iter().map(|p| format!("[webhooks] {p}")));
        problems.extend(
            self.telemetry
                .problems()
                .into_iter()
                .map(|p| format!("[telemetry] {p}")),
        );
        problems.extend(
            self.rate_limits
                .problems()
                .into_iter()
                .map(|p| format!("[rate_limits] {p}")),
        );
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
            if let Some(amqp) = &target.amqp {
                problems.extend(
                    amqp.problems()
                        .into_iter()
                        .map(|p| format!("[targets.{name}.amqp] {p}")),
                );
            }
            if let Some(files) = &target.files {
                problems.extend(
                    files
                        .problems()
                        .into_iter()
                        .map(|p| format!("[targets.{name}.files] {p}")),
                );
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
    fn webhooks_section_is_checked() {
        let config = HubConfig::parse("[webhooks]\nallow_private_targets = true\n", "hub.toml").unwrap();
        assert!(config.webhooks.allow_private_targets && !config.webhooks.allow_insecure_http);
        assert_eq!(config.webhooks.retry_schedule_ms.len(), 7);
        let err = HubConfig::parse("[webhooks]\nconcurrency = 0\njitter_percent = 150\n", "hub.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[webhooks]") && err.contains("jitter_percent") && err.contains("concurrency"),
            "{err}"
        );
        let err = HubConfig::parse("[webhooks]\nretries = 3\n", "hub.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("retries"), "{err}");
    }

    #[test]
    fn console_is_on_unless_switched_off() {
        assert!(HubConfig::parse("", "hub.toml").unwrap().console.enabled);
        let off = HubConfig::parse("[console]\nenabled = false\n", "hub.toml").unwrap();
        assert!(!off.console.enabled);
        let err = HubConfig::parse("[console]\nenable = false\n", "hub.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("enable"), "{err}");
    }

    #[test]
    fn rate_limits_are_off_unless_set() {
        let default = HubConfig::parse("", "hub.toml").unwrap();
        assert_eq!(default.rate_limits.intake_per_second, 0.0);
        let on = HubConfig::parse(
            "[rate_limits]\nintake_per_second = 50\nintake_burst = 100\n",
            "hub.toml",
        )
        .unwrap();
        assert_eq!(
            (on.rate_limits.intake_per_second, on.rate_limits.intake_burst),
            (50.0, 100)
        );
        let err = HubConfig::parse("[rate_limits]\nintake_per_second = 5\nintake_burst = 0\n", "hub.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[rate_limits]") && err.contains("intake_burst"), "{err}");
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
