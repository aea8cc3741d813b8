//! The plugin sandbox: runs untrusted OPS plugins (WebAssembly components)
//! with nothing but the capabilities their target grants.
//!
//! # Layout
//!
//! - [`package`]: a `.wasm` + manifest on disk; WIT version and manifest checks.
//! - [`engine`]: the one wasmtime engine (pooling, epochs, async), compile
//!   cache, load → [`LoadedPlugin`] (compiled, inspected, pre-linked).
//! - [`registry`]: installed versions, the active one, hot swap and rollback.
//! - [`grants`]: declared × granted capabilities.
//! - [`target`]: what a plugin is bound to (transports, settings, addresses).
//! - [`limits`]: CPU, memory, wall clock, sizes, host calls — per call.
//! - [`runtime`]: [`PluginCall`] — submit / on-inbound / poll on a fresh instance.
//! - `host/`: one file per imported capability (policy → transport → WIT).
//! - [`types`]: the kernel's owned mirror of the WIT types.
//!
//! **Invariants.** A plugin instance serves exactly one call and is dropped
//! after it, trapped or not. Credentials live in transports, never in the
//! store. Every call runs under a CPU budget, a memory ceiling and a
//! wall-clock deadline; none of them can be switched off by configuration.

mod bindings;
pub mod engine;
pub mod grants;
mod host;
pub mod limits;
pub mod package;
pub mod registry;
pub mod runtime;
mod state;
pub mod target;
pub mod types;

pub use engine::{EngineSettings, LoadedPlugin, SandboxEngine};
pub use grants::Capability;
pub use limits::CallLimits;
pub use package::{HUB_WIT_VERSION, Manifest, PackageError, PluginPackage};
pub use registry::PluginRegistry;
pub use runtime::{CallError, PluginCall};
pub use target::BoundTarget;
pub use types::{
    Failure, Feedback, FeedbackStatus, Inbound, InboundSource, Money, Outcome, PluginOrder, Reason, Waiting,
};
