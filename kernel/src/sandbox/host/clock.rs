//! `hub:plugin/clock`: wall-clock time.

use super::super::bindings::hub::plugin::clock::{Host, Timestamp};
use super::super::grants::Capability;
use super::super::state::CallState;

impl Host for CallState {
    async fn now(&mut self) -> wasmtime::Result<Timestamp> {
        self.gate_or_trap(Capability::Clock, "clock.now")?;
        let now = chrono::Utc::now();
        Ok(Timestamp {
            seconds: now.timestamp(),
            nanoseconds: now.timestamp_subsec_nanos(),
        })
    }
}
