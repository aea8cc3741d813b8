//! `hub:plugin/config`: the target's non-secret settings.

use super::super::bindings::hub::plugin::config::Host;
use super::super::grants::Capability;
use super::super::state::CallState;

impl Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.gate_or_trap(Capability::Config, "config.get")?;
        Ok(self.target.settings.get(&key).cloned())
    }

    async fn entries(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        self.gate_or_trap(Capability::Config, "config.entries")?;
        Ok(self
            .target
            .settings
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }
}
