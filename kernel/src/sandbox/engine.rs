//! The one wasmtime engine of a hub process, and loading plugins into it.
//!
//! This is where the flexibility of wasmtime is narrowed, once: async
//! support (host calls do network I/O), epoch interruption (CPU budget), the
//! pooling allocator (instances in microseconds), the WASI deny-all linker
//! and the on-disk cache of compiled components.
//!
//! # The compile cache is native code
//!
//! A cache entry is machine code the hub maps executable and runs with its
//! own rights, without any of the checks a component gets: whoever can write
//! the cache can run code as the hub (and read its credentials). So:
//!
//! - at start-up the cache directory must be owned by the hub's effective
//!   user and writable by neither group nor others, or the hub refuses to
//!   start, naming the path and the fix; a directory the hub creates gets
//!   mode 0700;
//! - an entry is used only if it is a regular file (not a symbolic link),
//!   owned by the hub's user and writable by no one else;
//! - an entry is the hub's header (magic, SHA-256 of the component bytes it
//!   was compiled from, SHA-256 of the native code) followed by the native
//!   code; the file name binds the component hash and the engine's
//!   compatibility hash. It is read into memory once, and only those bytes,
//!   after their digests match, are deserialized: there is no window between
//!   checking and loading.
//!
//! An entry failing any check is never loaded: it is discarded, the
//! component is compiled again and the entry rewritten, with a warning. The
//! digests catch corruption, truncation, an edited code section and an entry
//! renamed to stand for another component; they do not stop someone who can
//! write files as the hub's user, which is why the ownership and mode checks
//! come first.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
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
    #[error(
        "plugin compile cache {path} is {problem}; it holds native code the hub executes: \
         {remedy} or choose another cache_dir"
    )]
    UnsafeCache {
        path: PathBuf,
        problem: String,
        remedy: String,
    },
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
    /// Builds the engine; `cache_dir` (created with mode 0700 if missing)
    /// keeps compiled components across restarts. A cache directory not
    /// owned by the hub's user, or writable by group or others, is refused.
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
            prepare_cache_dir(dir)?;
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
        let component_digest: [u8; 32] = Sha256::digest(&bytes).into();
        let digest = hex::encode(component_digest);
        let (component, from_cache) = self.compile_cached(&bytes, &component_digest, &path)?;
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
    fn compile_cached(
        &self,
        bytes: &[u8],
        component_digest: &[u8; 32],
        path: &Path,
    ) -> Result<(Component, bool), PackageError> {
        let cached = self.cache_dir.as_ref().map(|dir| {
            dir.join(format!(
                "{}-{}.cwasm",
                hex::encode(component_digest),
                self.compatibility_key()
            ))
        });
        if let Some(cached) = cached.as_ref() {
            match read_cache_entry(cached, component_digest) {
                Ok(None) => {}
                Ok(Some(native)) => {
                    // SAFETY: `deserialize` runs the native code in `native`,
                    // so those bytes must be ones this hub wrote. They are:
                    // the cache directory was checked at start-up to be the
                    // hub user's and writable by no one else
                    // (`prepare_cache_dir`); the entry was opened as a
                    // regular file, not a symbolic link, owned by the hub's
                    // user and writable by no one else, and read once into
                    // memory, so what was checked is what is loaded; its
                    // header binds the SHA-256 of this component's bytes and
                    // the SHA-256 of the native code recorded when the hub
                    // wrote it, both checked (`read_cache_entry`); the file
                    // name binds the engine's compatibility hash, and
                    // wasmtime itself refuses code from another version or
                    // configuration (we then recompile). Trusted remain the
                    // hub's user and root, who can run code as the hub anyway.
                    #[allow(unsafe_code)]
                    let loaded = unsafe { Component::deserialize(&self.engine, &native) };
                    match loaded {
                        Ok(component) => return Ok((component, true)),
                        Err(error) => tracing::warn!(
                            cache = %cached.display(),
                            error = %error,
                            "ignoring unusable compile cache entry; recompiling"
                        ),
                    }
                }
                Err(reason) => {
                    tracing::warn!(
                        cache = %cached.display(),
                        %reason,
                        "refusing compile cache entry, never loading it; recompiling and rewriting it"
                    );
                    discard(cached);
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|error| PackageError::Corrupt {
            path: path.to_owned(),
            reason: root_cause(&error),
        })?;
        if let Some(cached) = cached {
            write_cache_entry(&component, component_digest, &cached);
        }
        Ok((component, false))
    }

    fn compatibility_key(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// Group- and world-write permission bits.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// The start of every cache entry the hub writes (format version 1).
const ENTRY_MAGIC: [u8; 8] = *b"hubcwsm1";
/// Magic, SHA-256 of the component, SHA-256 of the native code.
const ENTRY_HEADER_LEN: usize = ENTRY_MAGIC.len() + 32 + 32;

/// The hub's effective user id: the only owner a cache may have.
fn hub_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Creates the cache directory (mode 0700, and its missing parents too) or
/// checks the existing one: owned by the hub's user, not writable by group
/// or others.
fn prepare_cache_dir(dir: &Path) -> Result<(), EngineError> {
    let cache_error = |reason: String| EngineError::Cache {
        path: dir.to_owned(),
        reason,
    };
    let metadata = match std::fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|error| cache_error(error.to_string()))?;
            std::fs::metadata(dir).map_err(|error| cache_error(error.to_string()))?
        }
        Err(error) => return Err(cache_error(error.to_string())),
    };
    if !metadata.is_dir() {
        return Err(cache_error("it is not a directory".into()));
    }
    let unsafe_cache = |problem: String, remedy: String| EngineError::UnsafeCache {
        path: dir.to_owned(),
        problem,
        remedy,
    };
    let hub = hub_uid();
    if metadata.uid() != hub {
        return Err(unsafe_cache(
            format!("owned by uid {}, not by the hub's user (uid {hub})", metadata.uid()),
            format!("chown {hub} {}", dir.display()),
        ));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(unsafe_cache(
            format!("writable by group/others (mode {mode:04o})"),
            format!("chmod go-w {}", dir.display()),
        ));
    }
    Ok(())
}

/// The native code of a cache entry, if there is one and it passes every
/// check; `Err` names the check that failed (the entry must not be used).
fn read_cache_entry(path: &Path, component_digest: &[u8; 32]) -> Result<Option<Vec<u8>>, String> {
    let link = match std::fs::symlink_metadata(path) {
        Ok(link) => link,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    if link.file_type().is_symlink() {
        return Err("it is a symbolic link, not a file the hub wrote".into());
    }
    if !link.is_file() {
        return Err("it is not a regular file".into());
    }
    let mut file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    let metadata = file.metadata().map_err(|error| error.to_string())?;
    if (metadata.dev(), metadata.ino()) != (link.dev(), link.ino()) {
        return Err("it was replaced while being opened".into());
    }
    let hub = hub_uid();
    if metadata.uid() != hub {
        return Err(format!(
            "it is owned by uid {}, not by the hub's user (uid {hub})",
            metadata.uid()
        ));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(format!("it is writable by group/others (mode {mode:04o})"));
    }
    let mut entry = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.read_to_end(&mut entry).map_err(|error| error.to_string())?;
    check_cache_entry(&entry, component_digest)?;
    entry.drain(..ENTRY_HEADER_LEN);
    Ok(Some(entry))
}

/// Checks the header of an entry against the component and its own code.
fn check_cache_entry(entry: &[u8], component_digest: &[u8; 32]) -> Result<(), String> {
    let Some((header, native)) = entry.split_at_checked(ENTRY_HEADER_LEN) else {
        return Err("it is too short to be a compile cache entry".into());
    };
    let (magic, digests) = header.split_at(ENTRY_MAGIC.len());
    let (for_component, native_digest) = digests.split_at(32);
    if magic != ENTRY_MAGIC {
        return Err("it is not a compile cache entry of this hub (no header)".into());
    }
    if for_component != component_digest {
        return Err("it was compiled from another component".into());
    }
    if Sha256::digest(native).as_slice() != native_digest {
        return Err("its native code does not match the digest recorded when the hub wrote it".into());
    }
    Ok(())
}

/// The bytes of a cache entry: header, then the native code.
fn cache_entry(component_digest: &[u8; 32], native: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(ENTRY_HEADER_LEN + native.len());
    entry.extend_from_slice(&ENTRY_MAGIC);
    entry.extend_from_slice(component_digest);
    entry.extend_from_slice(&Sha256::digest(native));
    entry.extend_from_slice(native);
    entry
}

/// Writes an entry atomically: a new file of mode 0600 (never an existing
/// file or link), synced, then renamed over the entry's name.
fn write_cache_entry(component: &Component, component_digest: &[u8; 32], cached: &Path) {
    let temporary = cached.with_extension(format!("tmp{}-{:016x}", std::process::id(), fastrand::u64(..)));
    let result = component
        .serialize()
        .map_err(|error| error.to_string())
        .and_then(|native| {
            let entry = cache_entry(component_digest, &native);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)
                .and_then(|mut file| {
                    file.write_all(&entry)?;
                    file.sync_all()
                })
                .and_then(|()| std::fs::rename(&temporary, cached))
                .map_err(|error| {
                    let _ = std::fs::remove_file(&temporary);
                    error.to_string()
                })
        });
    if let Err(reason) = result {
        tracing::warn!(cache = %cached.display(), %reason, "cannot write compile cache entry; compiling each start");
    }
}

/// Removes a refused entry (a link itself, not what it points to).
fn discard(cached: &Path) {
    if let Err(error) = std::fs::remove_file(cached)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(cache = %cached.display(), error = %error, "cannot remove refused compile cache entry");
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

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: [u8; 32] = [7; 32];

    #[test]
    fn an_entry_the_hub_wrote_passes() {
        let entry = cache_entry(&COMPONENT, b"native code");
        assert_eq!(check_cache_entry(&entry, &COMPONENT), Ok(()));
        assert_eq!(&entry[ENTRY_HEADER_LEN..], b"native code");
    }

    #[test]
    fn a_flipped_byte_in_the_code_is_refused() {
        let mut entry = cache_entry(&COMPONENT, b"native code");
        let last = entry.len() - 1;
        entry[last] ^= 1;
        assert_eq!(
            check_cache_entry(&entry, &COMPONENT),
            Err("its native code does not match the digest recorded when the hub wrote it".into())
        );
    }

    #[test]
    fn an_entry_of_another_component_is_refused() {
        let entry = cache_entry(&[8; 32], b"native code");
        assert_eq!(
            check_cache_entry(&entry, &COMPONENT),
            Err("it was compiled from another component".into())
        );
    }

    #[test]
    fn a_bare_or_truncated_artifact_is_refused() {
        let entry = cache_entry(&COMPONENT, b"native code");
        assert!(check_cache_entry(&entry[..ENTRY_HEADER_LEN - 1], &COMPONENT).is_err());
        let mut bare = b"\x7fELF".to_vec();
        bare.resize(200, 0);
        assert_eq!(
            check_cache_entry(&bare, &COMPONENT),
            Err("it is not a compile cache entry of this hub (no header)".into())
        );
    }
}
