//! The one wasmtime engine of a hub process, and loading plugins into it.
//!
//! This is where the flexibility of wasmtime is narrowed, once: async
//! support (host calls do network I/O), epoch interruption (CPU budget), the
//! pooling allocator (instances in microseconds), the WASI deny-all linker
//! and the on-disk cache of compiled components.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use semver::Version;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{Plugin, PluginPre};
use super::grants::Capability;
use super::limits::EPOCH_TICK;
use super::package::{HUB_WIT_VERSION, PackageError, PluginPackage};
use super::state::CallState;

/// Sizing of the engine's instance pool.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// Plugin instances alive at once; more calls wait for a slot.
    pub max_instances: u32,
    /// The largest memory any target may allow, in MiB.
    pub max_memory_mib: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_instances: 512,
            max_memory_mib: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot configure the WebAssembly engine: {0}")]
    Configure(String),
    #[error("cannot use the compile cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
}

/// The engine, its linker and the compile cache.
pub struct SandboxEngine {
    engine: Engine,
    linker: Linker<CallState>,
    cache_dir: Option<PathBuf>,
    pub(crate) settings: EngineSettings,
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
}

/// A plugin ready to be instantiated: compiled, checked and pre-linked.
pub struct LoadedPlugin {
    pub package: PluginPackage,
    /// SHA-256 of the component file, hex.
    pub digest: String,
    /// The WIT version the component exports (from its export name).
    pub wit: Version,
    /// What the component actually imports, among the hub's capabilities.
    pub imports: Vec<Capability>,
    /// The component's export names (`hub:plugin/handler@1.0.0`).
    pub exports: Vec<String>,
    pub(crate) pre: PluginPre<CallState>,
    /// How it was obtained: compiled now or read from the cache.
    pub load: LoadReport,
}

#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    pub from_cache: bool,
    pub elapsed: Duration,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoadedPlugin")
            .field("name", &self.package.manifest.name)
            .field("version", &self.package.manifest.version.to_string())
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.package.manifest.name
    }
    pub fn version(&self) -> &Version {
        &self.package.manifest.version
    }
}

/// The magic and layer of a component binary (a core module has layer 0).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

impl SandboxEngine {
    /// Builds the engine; `cache_dir` (created if missing) keeps compiled
    /// components across restarts.
    pub fn new(settings: EngineSettings, cache_dir: Option<&Path>) -> Result<Arc<Self>, EngineError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(settings.max_instances)
            .total_core_instances(settings.max_instances.saturating_mul(8))
            .total_memories(settings.max_instances.saturating_mul(2))
            .total_tables(settings.max_instances.saturating_mul(4))
            .total_stacks(settings.max_instances)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(32)
            .max_memory_size(usize::try_from(settings.max_memory_mib * 1024 * 1024).unwrap_or(usize::MAX))
            // Reset the first pages of a reused slot with memset instead of
            // giving them back to the kernel: a plugin call touches a few
            // MiB, and page faults on every call were the largest cost.
            .linear_memory_keep_resident(4 << 20)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(128 << 10);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            // Fuel is metered, not limited (the CPU budget is the epoch
            // deadline): each call's consumption is exported as a
            // deterministic cost figure, comparable across machines.
            .consume_fuel(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|error| EngineError::Configure(format!("{error:#}")))?;

        let mut linker = Linker::new(&engine);
        // WASI is linked because std-built guests import it; the context
        // behind it (see `state.rs`) grants nothing: no files, no env, no
        // sockets, no inherited stdio.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|error| EngineError::Configure(format!("{error:#}")))?;
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state: &mut CallState| state)
            .map_err(|error| EngineError::Configure(format!("{error:#}")))?;

        if let Some(dir) = cache_dir {
            std::fs::create_dir_all(dir).map_err(|error| EngineError::Cache {
                path: dir.to_owned(),
                reason: error.to_string(),
            })?;
        }
        spawn_epoch_ticker(&engine)?;
        Ok(Arc::new(SandboxEngine {
            engine,
            linker,
            cache_dir: cache_dir.map(Path::to_owned),
            settings,
            slots: Arc::new(tokio::sync::Semaphore::new(settings.max_instances as usize)),
        }))
    }

    pub fn settings(&self) -> EngineSettings {
        self.settings
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, checks, compiles (or takes from the cache) and pre-links a
    /// package. Nothing of the plugin runs here.
    pub fn load(&self, package: PluginPackage) -> Result<LoadedPlugin, PackageError> {
        let started = Instant::now();
        let path = package.component_path.clone();
        let bytes = std::fs::read(&path).map_err(|error| PackageError::Read {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        if bytes.len() < COMPONENT_HEADER.len() || bytes[..4] != COMPONENT_HEADER[..4] {
            return Err(PackageError::NotAComponent {
                path,
                reason: "it does not start with the `\\0asm` magic".into(),
            });
        }
        if bytes[4..8] != COMPONENT_HEADER[4..8] {
            return Err(PackageError::NotAComponent {
                path,
                reason: "it is a core module; build it for wasm32-wasip2 so it becomes a component".into(),
            });
        }
        let digest = hex::encode(Sha256::digest(&bytes));
        let (component, from_cache) = self.compile_cached(&bytes, &digest, &path)?;
        let plugin = package.manifest.name.clone();

        let component_type = component.component_type();
        let exported: Vec<String> = component_type
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let handler = exported
            .iter()
            .find_map(|name| name.strip_prefix("hub:plugin/handler@"));
        let Some(handler_version) = handler else {
            return Err(PackageError::NotAPlugin {
                path,
                reason: format!("it exports [{}], not hub:plugin/handler", exported.join(", ")),
            });
        };
        let wit = Version::parse(handler_version).map_err(|error| PackageError::NotAPlugin {
            path: path.clone(),
            reason: format!("its handler version `{handler_version}` is not semver: {error}"),
        })?;
        if wit.major != HUB_WIT_VERSION.major {
            return Err(PackageError::IncompatibleWit {
                plugin,
                version: package.manifest.version.clone(),
                built: wit,
            });
        }

        let mut imports = Vec::new();
        for (import, _) in component_type.imports(&self.engine) {
            // WASI is linked deny-all; `types` carries only type definitions.
            if import.starts_with("wasi:") || import.starts_with("hub:plugin/types@") {
                continue;
            }
            let Some(capability) = Capability::from_import(import) else {
                return Err(PackageError::UnknownImport {
                    plugin,
                    import: import.to_owned(),
                });
            };
            if !package.manifest.capabilities.contains(&capability) {
                return Err(PackageError::Undeclared {
                    plugin,
                    import: import.to_owned(),
                    capability,
                });
            }
            imports.push(capability);
        }

        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|error| PackageError::Link {
                plugin: plugin.clone(),
                reason: format!("{error:#}"),
            })?;
        let pre = PluginPre::new(instance_pre).map_err(|error| PackageError::Link {
            plugin,
            reason: format!("{error:#}"),
        })?;
        Ok(LoadedPlugin {
            package,
            digest,
            wit,
            imports,
            exports: exported,
            pre,
            load: LoadReport {
                from_cache,
                elapsed: started.elapsed(),
            },
        })
    }

    /// Compiles, or reuses the native code compiled earlier for the same
    /// bytes by the same wasmtime with the same settings.
    fn compile_cached(&self, bytes: &[u8], digest: &str, path: &Path) -> Result<(Component, bool), PackageError> {
        let cached = self
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}-{}.cwasm", self.compatibility_key())));
        if let Some(cached) = cached.as_ref().filter(|cached| cached.is_file()) {
            // SAFETY: `deserialize_file` runs native code from the file, so
            // the file must be one this hub wrote. It is: the cache directory
            // belongs to the hub (keep it out of reach of plugin authors), the
            // name binds the content hash of the component and the engine's
            // compatibility hash, and wasmtime itself refuses files from
            // another version or configuration (we then recompile).
            #[allow(unsafe_code)]
            let loaded = unsafe { Component::deserialize_file(&self.engine, cached) };
            match loaded {
                Ok(component) => return Ok((component, true)),
                Err(error) => {
                    tracing::warn!(cache = %cached.display(), error = %error, "ignoring unusable compile cache entry")
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|error| PackageError::Corrupt {
            path: path.to_owned(),
            reason: root_cause(&error),
        })?;
        if let Some(cached) = cached {
            self.write_cache(&component, &cached);
        }
        Ok((component, false))
    }

    fn write_cache(&self, component: &Component, cached: &Path) {
        let result = component
            .serialize()
            .map_err(|error| error.to_string())
            .and_then(|serialized| {
                let temporary = cached.with_extension(format!("tmp{}", std::process::id()));
                std::fs::write(&temporary, serialized)
                    .and_then(|()| std::fs::rename(&temporary, cached))
                    .map_err(|error| error.to_string())
            });
        if let Err(reason) = result {
            tracing::warn!(cache = %cached.display(), %reason, "cannot write compile cache entry; compiling each start");
        }
    }

    fn compatibility_key(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// wasmtime errors carry a chain; the innermost cause says what is wrong
/// with the bytes (e.g. "unexpected end-of-file (at offset 0x1234)").
fn root_cause(error: &wasmtime::Error) -> String {
    let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
    chain.join(": ")
}

/// Advances the epoch every [`EPOCH_TICK`] for as long as the engine lives.
/// Without it no CPU budget holds, so failing to start it fails the engine.
fn spawn_epoch_ticker(engine: &Engine) -> Result<(), EngineError> {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    });
    spawned
        .map(drop)
        .map_err(|error| EngineError::Configure(format!("cannot start the epoch ticker: {error}")))
}
