//! `hub:plugin/log`: the plugin's log lines, tagged by the host.
//!
//! Lines are cut at 2 KiB and capped per call; the plugin, target and order
//! are fields set by the host, so a plugin cannot pose as another.

use super::super::bindings::hub::plugin::log::{Host, Level};
use super::super::grants::Capability;
use super::super::state::CallState;

const MAX_LINE_BYTES: usize = 2048;

impl Host for CallState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.gate_or_trap(Capability::Log, "log.log")?;
        if !self.take_log_line() {
            return Ok(());
        }
        let mut message = message;
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = self.plugin.as_str();
        let target = self.target.name.as_str();
        let order = self.order_id.as_deref().unwrap_or("-");
        match level {
            Level::Trace => tracing::trace!(plugin, target, order, "{message}"),
            Level::Debug => tracing::debug!(plugin, target, order, "{message}"),
            Level::Info => tracing::info!(plugin, target, order, "{message}"),
            Level::Warn => tracing::warn!(plugin, target, order, "{message}"),
            Level::Error => tracing::error!(plugin, target, order, "{message}"),
        }
        Ok(())
    }
}
