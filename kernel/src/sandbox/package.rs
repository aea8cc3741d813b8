//! Plugin packages: a `.wasm` component plus the manifest that says what it
//! is before any of its code runs.
//!
//! ```toml
//! name = "rest-json"
//! version = "1.0.0"
//! wit = "1.0.0"                       # hub:plugin version it was built against
//! component = "rest_json.wasm"        # beside this file
//! business-lines = ["freight-booking"]
//! capabilities = ["http", "config", "log"]
//! ```
//!
//! Installed packages live in `<plugins dir>/<name>/<version>/`, so several
//! versions sit side by side for hot swap and rollback.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use semver::Version;
use serde::Deserialize;

use super::grants::Capability;

/// The WIT package version this kernel implements.
pub const HUB_WIT_VERSION: Version = Version::new(1, 0, 0);

/// The name of the manifest file in a package directory.
pub const MANIFEST_FILE: &str = "plugin.toml";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    pub name: String,
    pub version: Version,
    /// The `hub:plugin` WIT version the component was built against.
    pub wit: Version,
    /// The component file, relative to the manifest.
    pub component: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub business_lines: Vec<String>,
    /// The capabilities the plugin needs; targets must grant all of them.
    #[serde(default)]
    pub capabilities: BTreeSet<Capability>,
}

/// A package on disk: its manifest and where its component is.
#[derive(Debug, Clone)]
pub struct PluginPackage {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    pub component_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("invalid plugin manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error(
        "plugin `{plugin}` {version} was built against hub:plugin {built}, but this hub implements {HUB_WIT_VERSION}; \
         rebuild it with hub-plugin-sdk {}.x",
        HUB_WIT_VERSION.major
    )]
    IncompatibleWit {
        plugin: String,
        version: Version,
        built: Version,
    },
    #[error("{path} is not a WebAssembly component: {reason}")]
    NotAComponent { path: PathBuf, reason: String },
    #[error("{path} is corrupt or truncated: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} is not an Order Hub plugin: {reason}")]
    NotAPlugin { path: PathBuf, reason: String },
    #[error(
        "plugin `{plugin}` imports `{import}`, which its manifest does not declare; add `{capability}` to `capabilities`"
    )]
    Undeclared {
        plugin: String,
        import: String,
        capability: Capability,
    },
    #[error("plugin `{plugin}` imports `{import}`, which the hub does not provide")]
    UnknownImport { plugin: String, import: String },
    #[error("cannot prepare plugin `{plugin}` for instantiation: {reason}")]
    Link { plugin: String, reason: String },
}

impl PluginPackage {
    /// Opens a package from its directory, its manifest or its `.wasm` (the
    /// manifest is then the `plugin.toml` beside it).
    pub fn open(path: &Path) -> Result<Self, PackageError> {
        let manifest_path = if path.is_dir() {
            path.join(MANIFEST_FILE)
        } else if path.extension().is_some_and(|extension| extension == "wasm") {
            path.with_file_name(MANIFEST_FILE)
        } else {
            path.to_owned()
        };
        let text = std::fs::read_to_string(&manifest_path).map_err(|error| PackageError::Read {
            path: manifest_path.clone(),
            reason: error.to_string(),
        })?;
        let manifest = Manifest::parse(&text, &manifest_path)?;
        let component_path = manifest_path.with_file_name(&manifest.component);
        Ok(PluginPackage {
            manifest,
            manifest_path,
            component_path,
        })
    }

    /// Every package under `<dir>/<name>/<version>/`, or every problem.
    pub fn scan(dir: &Path) -> Result<Vec<PluginPackage>, Vec<PackageError>> {
        let mut packages = Vec::new();
        let mut problems = Vec::new();
        let names = match std::fs::read_dir(dir) {
            Ok(names) => names,
            Err(error) => {
                return Err(vec![PackageError::Read {
                    path: dir.to_owned(),
                    reason: error.to_string(),
                }]);
            }
        };
        let mut version_dirs: Vec<PathBuf> = Vec::new();
        for name in names.flatten() {
            if let Ok(versions) = std::fs::read_dir(name.path()) {
                version_dirs.extend(
                    versions
                        .flatten()
                        .map(|entry| entry.path())
                        .filter(|path| path.is_dir()),
                );
            }
        }
        version_dirs.sort();
        for version_dir in version_dirs {
            match PluginPackage::open(&version_dir) {
                Ok(package) => packages.push(package),
                Err(error) => problems.push(error),
            }
        }
        if problems.is_empty() {
            Ok(packages)
        } else {
            Err(problems)
        }
    }
}

impl Manifest {
    pub fn parse(text: &str, path: &Path) -> Result<Self, PackageError> {
        let manifest: Manifest = toml::from_str(text).map_err(|error| PackageError::Manifest {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        let invalid = |reason: String| PackageError::Manifest {
            path: path.to_owned(),
            reason,
        };
        let name_ok = !manifest.name.is_empty()
            && manifest.name.len() <= 64
            && manifest
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(invalid(format!(
                "name `{}` must be 1–64 characters of a-z, 0-9 and `-`",
                manifest.name
            )));
        }
        let file_ok = manifest.component.ends_with(".wasm")
            && !manifest.component.contains(['/', '\\'])
            && !manifest.component.starts_with('.');
        if !file_ok {
            return Err(invalid(format!(
                "component `{}` must be a `.wasm` file name in the manifest's directory",
                manifest.component
            )));
        }
        if manifest.wit.major != HUB_WIT_VERSION.major {
            return Err(PackageError::IncompatibleWit {
                plugin: manifest.name,
                version: manifest.version,
                built: manifest.wit,
            });
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, PackageError> {
        Manifest::parse(text, Path::new("p/plugin.toml"))
    }

    const GOOD: &str = r#"
        name = "rest-json"
        version = "1.2.0"
        wit = "1.0.0"
        component = "rest_json.wasm"
        business-lines = ["freight-booking"]
        capabilities = ["http", "log"]
    "#;

    #[test]
    fn a_manifest_reads_name_version_wit_and_capabilities() {
        let manifest = parse(GOOD).unwrap();
        assert_eq!(manifest.name, "rest-json");
        assert_eq!(manifest.version, Version::new(1, 2, 0));
        assert_eq!(
            manifest.capabilities,
            [Capability::Http, Capability::Log].into_iter().collect()
        );
    }

    #[test]
    fn another_wit_major_is_refused_naming_both_versions() {
        let error = parse(&GOOD.replace("wit = \"1.0.0\"", "wit = \"2.1.0\"")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "plugin `rest-json` 1.2.0 was built against hub:plugin 2.1.0, but this hub implements 1.0.0; \
             rebuild it with hub-plugin-sdk 1.x"
        );
    }

    #[test]
    fn unknown_capabilities_and_keys_are_refused() {
        let error = parse(&GOOD.replace("\"log\"]", "\"sockets\"]")).unwrap_err();
        assert!(error.to_string().contains("unknown variant `sockets`"), "{error}");
        let error = parse(&format!("{GOOD}\nenv = true")).unwrap_err();
        assert!(error.to_string().contains("unknown field `env`"), "{error}");
    }

    #[test]
    fn a_component_path_must_stay_in_the_package() {
        let error = parse(&GOOD.replace("rest_json.wasm", "../../etc/x.wasm")).unwrap_err();
        assert!(error.to_string().contains("must be a `.wasm` file name"), "{error}");
    }
}
