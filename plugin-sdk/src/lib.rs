//! # Order Hub plugin SDK
//!
//! An OPS plugin is a WebAssembly component that turns the hub's normalized
//! orders into one OPS's messages and that OPS's answers back into normalized
//! feedback. This crate is all a plugin author depends on:
//!
//! - the WIT world (`wit/plugin.wit`, package `hub:plugin@1.0.0`), compiled
//!   into Rust types re-exported here ([`Order`], [`Outcome`], [`Failure`], …);
//! - the [`Plugin`] trait — implement `submit`, and `on_inbound` / `poll` when
//!   your OPS answers later — and [`export_plugin!`] to register it;
//! - the capabilities the kernel lends: [`http`], [`amqp`], [`files`],
//!   [`config`], [`log`], [`clock`]; nothing else is reachable from a plugin;
//! - helpers plugin authors would otherwise rewrite: [`soap`] envelopes and
//!   faults, [`records`] for CSV and fixed-width files, [`naming`] for
//!   deterministic file names.
//!
//! The guide with a worked example is `plugin-sdk/README.md`.
//!
//! Why a trait over the generated `Guest` trait: the generated names follow
//! WIT (`exports::hub::plugin::handler::Guest`) and change whenever the world
//! gains a function; the trait here has default methods, so a plugin written
//! for 1.0 keeps compiling when 1.1 adds an export.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_hub_plugin",
        default_bindings_module: "::hub_plugin_sdk::bindings",
        generate_all,
    });
}

pub mod naming;
pub mod records;
pub mod soap;

mod feedback;
mod outcome;
mod transport;

pub use outcome::{FailureExt, OutcomeExt};
pub use transport::{ResponseExt, TransportErrorExt};

/// The WIT version this SDK was built from; the kernel refuses other majors.
pub const WIT_VERSION: &str = "1.0.0";

/// A failed call: [`Failure::Retryable`] or [`Failure::Permanent`].
pub use bindings::exports::hub::plugin::handler::Failure;
pub use bindings::exports::hub::plugin::handler::{
    Accepted, FailureDetail, Feedback, FeedbackStatus, Inbound, InboundSource, Milestone, Money, Order, Outcome,
    Reason, Waiting,
};
pub use bindings::hub::plugin::types::{TransportError, Unavailable};

/// Capabilities the kernel lends. Each call is checked against the target's
/// grants and addresses; a refusal comes back as [`TransportError::Denied`].
pub mod http {
    pub use crate::bindings::hub::plugin::http::{Method, Request, Response, send};
    pub use crate::transport::{get, post_json, request};
}
/// RabbitMQ publishing to the target's exchange.
pub mod amqp {
    pub use crate::bindings::hub::plugin::amqp::{Message, publish};
}
/// Files on the target's FTP or SFTP server (the target decides which).
pub mod files {
    pub use crate::bindings::hub::plugin::files::{Entry, get, list, put, remove, rename};
}
/// The target's non-secret settings.
pub mod config {
    pub use crate::bindings::hub::plugin::config::{entries, get};
    pub use crate::transport::require_setting as require;
}
/// Log lines, tagged by the host with plugin, target and order.
pub mod log {
    pub use crate::bindings::hub::plugin::log::{Level, log};

    pub fn info(message: &str) {
        log(Level::Info, message);
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
}
/// Wall-clock time.
pub mod clock {
    pub use crate::bindings::hub::plugin::clock::{Timestamp, now};
}

/// What a plugin implements. Only [`Plugin::submit`] is required.
pub trait Plugin {
    /// Turn one order into the OPS's message and hand it over.
    ///
    /// Return [`Outcome::Accepted`] when the OPS booked it at once,
    /// [`Outcome::Pending`] with a correlation id when its answer comes later,
    /// [`Outcome::Rejected`] for a business refusal (not retried), and a
    /// [`Failure`] when no outcome could be had: `Retryable` for timeouts and
    /// outages, `Permanent` when retrying cannot help.
    fn submit(order: Order) -> Result<Outcome, Failure>;

    /// Map an answer that arrived later (reply queue message, response file,
    /// callback) into feedback. The default refuses, permanently: a plugin
    /// that returns `Pending` must override it.
    fn on_inbound(message: Inbound) -> Result<Vec<Feedback>, Failure> {
        let _ = message;
        Err(Failure::permanent("this plugin does not handle inbound messages"))
    }

    /// Ask the OPS about orders still waiting for an answer. The default
    /// reports nothing, which suits OPS that push their answers.
    fn poll(waiting: Vec<Waiting>) -> Result<Vec<Feedback>, Failure> {
        let _ = waiting;
        Ok(Vec::new())
    }
}

/// Register a [`Plugin`] implementation as the component's export.
///
/// ```ignore
/// struct MyOps;
/// impl hub_plugin_sdk::Plugin for MyOps { /* … */ }
/// hub_plugin_sdk::export_plugin!(MyOps);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        struct __HubPluginExport;

        impl $crate::bindings::exports::hub::plugin::handler::Guest for __HubPluginExport {
            fn submit(order: $crate::Order) -> ::core::result::Result<$crate::Outcome, $crate::Failure> {
                <$plugin as $crate::Plugin>::submit(order)
            }
            fn on_inbound(
                message: $crate::Inbound,
            ) -> ::core::result::Result<::std::vec::Vec<$crate::Feedback>, $crate::Failure> {
                <$plugin as $crate::Plugin>::on_inbound(message)
            }
            fn poll(
                waiting: ::std::vec::Vec<$crate::Waiting>,
            ) -> ::core::result::Result<::std::vec::Vec<$crate::Feedback>, $crate::Failure> {
                <$plugin as $crate::Plugin>::poll(waiting)
            }
        }

        $crate::bindings::__export_hub_plugin!(__HubPluginExport with_types_in $crate::bindings);
    };
}
