//! Installed plugins, by name and version, with one active version each.
//!
//! Hot swap: a caller takes an `Arc` of the active version when its call
//! starts and keeps it to the end, so installing a new version routes new
//! calls to it while calls in flight finish on the old one; no call ever
//! sees two versions. Old versions stay loaded for rollback.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use semver::Version;
use serde::Serialize;

use super::engine::{LoadedPlugin, SandboxEngine};
use super::package::{PackageError, PluginPackage};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("no plugin `{0}` is installed")]
    UnknownPlugin(String),
    #[error("plugin `{name}` has no version {version} installed (installed: {installed})")]
    UnknownVersion {
        name: String,
        version: Version,
        installed: String,
    },
    #[error("plugin `{0}` has no earlier active version to roll back to")]
    NothingToRollBack(String),
}

struct Versions {
    loaded: BTreeMap<Version, Arc<LoadedPlugin>>,
    active: Version,
    /// Versions that were active before, most recent last.
    history: Vec<Version>,
}

/// Summary of one installed plugin, for `GET /v1/plugins` and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledPlugin {
    pub name: String,
    pub active: String,
    pub versions: Vec<String>,
}

pub struct PluginRegistry {
    engine: Arc<SandboxEngine>,
    plugins: RwLock<BTreeMap<String, Versions>>,
}

impl PluginRegistry {
    pub fn new(engine: Arc<SandboxEngine>) -> Self {
        PluginRegistry {
            engine,
            plugins: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn engine(&self) -> &Arc<SandboxEngine> {
        &self.engine
    }

    /// Loads every package under `dir` (`<name>/<version>/plugin.toml`);
    /// the newest version of each becomes active. Reports every problem.
    pub fn load_dir(engine: Arc<SandboxEngine>, dir: &Path) -> Result<Self, Vec<PackageError>> {
        let registry = PluginRegistry::new(engine);
        let packages = PluginPackage::scan(dir)?;
        let mut problems = Vec::new();
        let mut loaded: Vec<LoadedPlugin> = Vec::new();
        for package in packages {
            match registry.engine.load(package) {
                Ok(plugin) => loaded.push(plugin),
                Err(error) => problems.push(error),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        loaded.sort_by(|a, b| a.version().cmp(b.version()));
        for plugin in loaded {
            registry.insert(plugin);
        }
        Ok(registry)
    }

    /// Loads `package` and makes it the active version of its plugin.
    pub fn install(&self, package: PluginPackage) -> Result<Arc<LoadedPlugin>, PackageError> {
        let plugin = self.engine.load(package)?;
        Ok(self.insert(plugin))
    }

    fn insert(&self, plugin: LoadedPlugin) -> Arc<LoadedPlugin> {
        let plugin = Arc::new(plugin);
        let name = plugin.name().to_owned();
        let version = plugin.version().clone();
        let mut plugins = self.plugins.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        match plugins.get_mut(&name) {
            Some(versions) => {
                versions.loaded.insert(version.clone(), plugin.clone());
                if versions.active != version {
                    let previous = std::mem::replace(&mut versions.active, version);
                    versions.history.push(previous);
                }
            }
            None => {
                plugins.insert(
                    name,
                    Versions {
                        loaded: BTreeMap::from([(version.clone(), plugin.clone())]),
                        active: version,
                        history: vec![],
                    },
                );
            }
        }
        tracing::info!(plugin = plugin.name(), version = %plugin.version(), digest = %plugin.digest, "plugin installed and active");
        plugin
    }

    /// Whether this exact version is loaded.
    pub fn contains(&self, name: &str, version: &Version) -> bool {
        let plugins = self.plugins.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        plugins
            .get(name)
            .is_some_and(|versions| versions.loaded.contains_key(version))
    }

    /// The version new calls should use.
    pub fn active(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        let plugins = self.plugins.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let versions = plugins.get(name)?;
        versions.loaded.get(&versions.active).cloned()
    }

    /// A specific installed version (a target pinned to it, a replay).
    pub fn get(&self, name: &str, version: &Version) -> Result<Arc<LoadedPlugin>, RegistryError> {
        let plugins = self.plugins.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let versions = plugins
            .get(name)
            .ok_or_else(|| RegistryError::UnknownPlugin(name.to_owned()))?;
        versions
            .loaded
            .get(version)
            .cloned()
            .ok_or_else(|| RegistryError::UnknownVersion {
                name: name.to_owned(),
                version: version.clone(),
                installed: versions
                    .loaded
                    .keys()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Makes an installed version the active one.
    pub fn activate(&self, name: &str, version: &Version) -> Result<(), RegistryError> {
        self.get(name, version)?;
        let mut plugins = self.plugins.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let versions = plugins
            .get_mut(name)
            .ok_or_else(|| RegistryError::UnknownPlugin(name.to_owned()))?;
        if &versions.active != version {
            let previous = std::mem::replace(&mut versions.active, version.clone());
            versions.history.push(previous);
        }
        Ok(())
    }

    /// Goes back to the version that was active before; returns it.
    pub fn rollback(&self, name: &str) -> Result<Version, RegistryError> {
        let mut plugins = self.plugins.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let versions = plugins
            .get_mut(name)
            .ok_or_else(|| RegistryError::UnknownPlugin(name.to_owned()))?;
        let previous = versions
            .history
            .pop()
            .ok_or_else(|| RegistryError::NothingToRollBack(name.to_owned()))?;
        versions.active = previous.clone();
        tracing::info!(plugin = name, version = %previous, "plugin rolled back");
        Ok(previous)
    }

    pub fn list(&self) -> Vec<InstalledPlugin> {
        let plugins = self.plugins.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        plugins
            .iter()
            .map(|(name, versions)| InstalledPlugin {
                name: name.clone(),
                active: versions.active.to_string(),
                versions: versions.loaded.keys().map(ToString::to_string).collect(),
            })
            .collect()
    }
}
