//! The plugins of a running hub: the engine, the installed packages, and
//! every configured target bound to its plugin — all checked at start-up.
//!
//! Why all at once: a target that names an unknown plugin, lacks a grant,
//! has an unreadable secret or a bad endpoint should stop the hub before the
//! first order, with every such mistake listed and where it is, not fail one
//! order at a time at 3 a.m.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{HttpAuthConfig, HubConfig, TargetConfig};
use crate::sandbox::grants::effective_grants;
use crate::sandbox::registry::InstalledPlugin;
use crate::sandbox::{BoundTarget, EngineSettings, PluginCall, PluginRegistry, SandboxEngine};
use crate::secret::{Secret, SecretRef};
use crate::transports::amqp::LapinAmqp;
use crate::transports::files::{FileCredentials, file_transport};
use crate::transports::http::{HttpAuth, ReqwestHttp};
use crate::transports::{FileTransport, TargetTransports};

/// The plugin side of a hub process.
pub struct PluginHost {
    registry: Arc<PluginRegistry>,
    targets: BTreeMap<String, Target>,
    dir: std::path::PathBuf,
}

/// What a rescan of the plugin directory did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RescanReport {
    /// `name@version` of each newly installed (and now active) package.
    pub installed: Vec<String>,
    /// Packages that could not be loaded; the active versions are unchanged.
    pub problems: Vec<String>,
}

struct Target {
    config: TargetConfig,
    bound: Arc<BoundTarget>,
    /// The broker connection, kept concrete for its reply consumer.
    amqp: Option<Arc<LapinAmqp>>,
    /// What the OPS presents on `POST /v1/callbacks/{target}`.
    callback_token: Option<Secret>,
}

/// A target as `GET /v1/plugins` shows it (no endpoints' secrets, ever).
#[derive(Debug, Clone, Serialize)]
pub struct TargetSummary {
    pub name: String,
    pub plugin: String,
    pub pinned_version: Option<String>,
    pub serving_version: Option<String>,
    pub grants: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct PluginSetupError {
    pub problems: Vec<String>,
}

impl PluginHost {
    /// Loads the packages and binds every target; reports every problem.
    pub fn start(config: &HubConfig) -> Result<Self, PluginSetupError> {
        let fail = |problems: Vec<String>| PluginSetupError { problems };
        let settings = EngineSettings {
            max_instances: config.plugins.max_instances,
            max_memory_mib: config.plugins.max_memory_mib,
        };
        let cache = (!config.plugins.cache_dir.as_os_str().is_empty()).then_some(config.plugins.cache_dir.as_path());
        let engine = SandboxEngine::new(settings, cache).map_err(|error| fail(vec![error.to_string()]))?;
        let registry = if config.targets.is_empty() && !config.plugins.dir.exists() {
            PluginRegistry::new(engine)
        } else {
            PluginRegistry::load_dir(engine, &config.plugins.dir).map_err(|errors| {
                let mut problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
                if !config.plugins.dir.exists() {
                    problems.push(format!(
                        "plugin directory {} does not exist: build the plugins with scripts/build-plugins",
                        config.plugins.dir.display()
                    ));
                }
                fail(problems)
            })?
        };
        let mut problems = Vec::new();
        let mut targets = BTreeMap::new();
        for (name, target) in &config.targets {
            let callback_token = match target.callback_token.as_ref().map(SecretRef::resolve).transpose() {
                Ok(token) => token,
                Err(error) => {
                    problems.push(format!("[targets.{name}] callback_token: {error}"));
                    None
                }
            };
            match bind(&registry, name, target) {
                Ok((bound, amqp)) => {
                    targets.insert(
                        name.clone(),
                        Target {
                            config: target.clone(),
                            bound: Arc::new(bound),
                            amqp,
                            callback_token,
                        },
                    );
                }
                Err(mut target_problems) => problems.append(&mut target_problems),
            }
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(PluginHost {
            registry: Arc::new(registry),
            targets,
            dir: config.plugins.dir.clone(),
        })
    }

    /// Hot reload: installs every package in the plugin directory that is
    /// not loaded yet, oldest version first, so the newest becomes active.
    /// New calls go to it; calls in flight finish on the version they
    /// started with; earlier versions stay loaded for rollback.
    pub fn rescan(&self) -> RescanReport {
        let mut report = RescanReport::default();
        let packages = match crate::sandbox::PluginPackage::scan(&self.dir) {
            Ok(packages) => packages,
            Err(errors) => {
                report.problems = errors.iter().map(ToString::to_string).collect();
                return report;
            }
        };
        let mut fresh: Vec<_> = packages
            .into_iter()
            .filter(|package| {
                !self
                    .registry
                    .contains(&package.manifest.name, &package.manifest.version)
            })
            .collect();
        fresh.sort_by(|a, b| a.manifest.version.cmp(&b.manifest.version));
        for package in fresh {
            let label = format!("{}@{}", package.manifest.name, package.manifest.version);
            match self.registry.install(package) {
                Ok(_) => report.installed.push(label),
                Err(error) => report.problems.push(error.to_string()),
            }
        }
        report
    }

    pub fn registry(&self) -> &Arc<PluginRegistry> {
        &self.registry
    }

    /// The call for a target's next job: its pinned version, or the active
    /// one at this moment (hot swap takes effect from the next call).
    pub fn call_for(&self, target: &str) -> Option<PluginCall> {
        let entry = self.targets.get(target)?;
        let plugin = match &entry.config.version {
            Some(version) => self.registry.get(&entry.config.plugin, version).ok()?,
            None => self.registry.active(&entry.config.plugin)?,
        };
        PluginCall::bind(self.registry.engine().clone(), plugin, entry.bound.clone()).ok()
    }

    /// The token an OPS must present to post callbacks for `target`
    /// (`None`: unknown target or callbacks not enabled).
    pub fn callback_token(&self, target: &str) -> Option<&Secret> {
        self.targets.get(target)?.callback_token.as_ref()
    }

    /// Targets with an AMQP reply queue, for the reply consumers.
    pub fn amqp_reply_consumers(&self) -> Vec<(String, Arc<LapinAmqp>)> {
        self.targets
            .iter()
            .filter(|(_, target)| {
                target
                    .config
                    .amqp
                    .as_ref()
                    .is_some_and(|amqp| amqp.reply_queue.is_some())
            })
            .filter_map(|(name, target)| Some((name.clone(), target.amqp.clone()?)))
            .collect()
    }

    /// Targets with a response folder: the folder settings, the file
    /// transport and the largest message the target's plugin may be given.
    pub fn response_folders(
        &self,
    ) -> Vec<(
        String,
        crate::config::ResponseFolderConfig,
        Arc<dyn FileTransport>,
        usize,
    )> {
        self.targets
            .iter()
            .filter_map(|(name, target)| {
                let responses = target.config.files.as_ref()?.responses.clone()?;
                let files = target.bound.transports.files.clone()?;
                Some((name.clone(), responses, files, target.config.limits.max_message_bytes()))
            })
            .collect()
    }

    pub fn plugins(&self) -> Vec<InstalledPlugin> {
        self.registry.list()
    }

    pub fn targets(&self) -> Vec<TargetSummary> {
        self.targets
            .iter()
            .map(|(name, target)| TargetSummary {
                name: name.clone(),
                plugin: target.config.plugin.clone(),
                pinned_version: target.config.version.as_ref().map(ToString::to_string),
                serving_version: self.call_for(name).map(|call| call.plugin().version().to_string()),
                grants: target
                    .bound
                    .granted
                    .iter()
                    .map(|capability| capability.name().to_owned())
                    .collect(),
            })
            .collect()
    }
}

/// Checks one target against the installed plugins and builds its
/// transports; every problem is prefixed with `[targets.NAME]`.
fn bind(
    registry: &PluginRegistry,
    name: &str,
    config: &TargetConfig,
) -> Result<(BoundTarget, Option<Arc<LapinAmqp>>), Vec<String>> {
    let at = |problem: String| format!("[targets.{name}] {problem}");
    let mut problems = Vec::new();
    let plugin = match &config.version {
        Some(version) => registry.get(&config.plugin, version).map_err(|error| error.to_string()),
        None => registry.active(&config.plugin).ok_or_else(|| {
            format!(
                "plugin `{}` is not installed (installed: {})",
                config.plugin,
                installed_names(registry)
            )
        }),
    };
    match &plugin {
        Ok(plugin) => {
            if let Err(missing) = effective_grants(
                plugin.name(),
                name,
                &plugin.package.manifest.capabilities,
                &config.grants,
            ) {
                problems.push(at(missing.to_string()));
            }
        }
        Err(problem) => problems.push(at(problem.clone())),
    }
    let mut transports = TargetTransports::default();
    if let Some(http) = &config.http {
        let auth = match &http.auth {
            None => Ok(None),
            Some(HttpAuthConfig::Bearer { token }) => token.resolve().map(|token| Some(HttpAuth::Bearer(token))),
            Some(HttpAuthConfig::Basic { username, password }) => password.resolve().map(|password| {
                Some(HttpAuth::Basic {
                    username: username.clone(),
                    password,
                })
            }),
            Some(HttpAuthConfig::Header { name, value }) => value.resolve().map(|value| {
                Some(HttpAuth::Header {
                    name: name.clone(),
                    value,
                })
            }),
        };
        let wsse = match &http.wsse {
            None => Ok(None),
            Some(wsse) => wsse.password.resolve().map(|password| {
                Some(crate::transports::wsse::WsSecurity {
                    username: wsse.username.clone(),
                    password,
                    password_type: wsse.password_type,
                })
            }),
        };
        if let Err(error) = &auth {
            problems.push(at(format!("http.auth: {error}")));
        }
        if let Err(error) = &wsse {
            problems.push(at(format!("http.wsse.password: {error}")));
        }
        if let (Ok(auth), Ok(wsse)) = (auth, wsse) {
            let options = crate::transports::http::HttpTargetOptions {
                base_url: http.base_url.clone(),
                auth,
                timeout: Duration::from_millis(http.timeout_ms),
                max_response_bytes: config.limits.max_message_bytes(),
                ca_file: http.ca_file.clone(),
                wsse,
            };
            match ReqwestHttp::with_options(options) {
                Ok(client) => transports.http = Some(Arc::new(client)),
                Err(crate::transports::http::HttpSetupError::CaFile { path, reason }) => {
                    problems.push(at(format!("http.ca_file {}: {reason}", path.display())));
                }
                Err(error) => problems.push(at(format!("http: {error}"))),
            }
        }
    }
    let mut broker = None;
    if let Some(amqp) = &config.amqp {
        match amqp.password.resolve() {
            Ok(password) => {
                let client = Arc::new(LapinAmqp::new(name, amqp, password, config.limits.max_message_bytes()));
                transports.amqp = Some(client.clone());
                broker = Some(client);
            }
            Err(error) => problems.push(at(format!("amqp.password: {error}"))),
        }
    }
    if let Some(files) = &config.files {
        let resolve = |secret: &Option<SecretRef>, what: &str, problems: &mut Vec<String>| match secret
            .as_ref()
            .map(SecretRef::resolve)
            .transpose()
        {
            Ok(value) => value,
            Err(error) => {
                problems.push(at(format!("files.{what}: {error}")));
                None
            }
        };
        let credentials = FileCredentials {
            password: resolve(&files.password, "password", &mut problems),
            private_key: resolve(&files.private_key, "private_key", &mut problems),
            private_key_passphrase: resolve(&files.private_key_passphrase, "private_key_passphrase", &mut problems),
        };
        match file_transport(name, files, credentials) {
            Ok(transport) => transports.files = Some(transport),
            Err(error) => problems.push(at(format!("files: {error}"))),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let bound = BoundTarget {
        name: name.to_owned(),
        granted: config.grants.clone(),
        settings: config.settings.clone(),
        transports,
        http_paths: config
            .http
            .as_ref()
            .map(|http| http.allowed_paths.clone())
            .unwrap_or_default(),
        amqp_routing_keys: config
            .amqp
            .as_ref()
            .map(|amqp| amqp.routing_keys.clone())
            .unwrap_or_default(),
        limits: config.limits,
    };
    Ok((bound, broker))
}

fn installed_names(registry: &PluginRegistry) -> String {
    let names: Vec<String> = registry.list().into_iter().map(|plugin| plugin.name).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
