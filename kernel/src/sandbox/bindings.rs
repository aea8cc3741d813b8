//! Host bindings generated from `plugin-sdk/wit/plugin.wit`.
//!
//! Every import is `async` (transports do network I/O) and `trappable` (a
//! host function can end the guest's call: host-call budget spent, grant
//! missing on a function without an error channel). Nothing outside the
//! sandbox module sees these types; [`super::types`] is the kernel's side.

wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});
