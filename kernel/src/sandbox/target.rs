//! A target as the sandbox sees it: the one OPS endpoint a plugin is bound
//! to, with the transports, settings, address rules and limits of that
//! target. Built from the hub config (or by tests and `hub plugin test`).

use std::collections::{BTreeMap, BTreeSet};

use super::grants::Capability;
use super::limits::CallLimits;
use crate::transports::TargetTransports;

#[derive(Debug)]
pub struct BoundTarget {
    pub name: String,
    /// What the operator granted this target's plugin.
    pub granted: BTreeSet<Capability>,
    /// Non-secret settings, readable by the plugin through `config`.
    pub settings: BTreeMap<String, String>,
    pub transports: TargetTransports,
    /// Path patterns the plugin may address over HTTP (relative to the
    /// base URL; `*` matches one segment, a trailing `**` the rest). Empty:
    /// anything under the base URL.
    pub http_paths: Vec<String>,
    /// Routing keys the plugin may publish with. Empty: none.
    pub amqp_routing_keys: Vec<String>,
    pub limits: CallLimits,
}

impl BoundTarget {
    /// A target with nothing configured but a name and limits.
    pub fn new(name: impl Into<String>) -> Self {
        BoundTarget {
            name: name.into(),
            granted: BTreeSet::new(),
            settings: BTreeMap::new(),
            transports: TargetTransports::default(),
            http_paths: Vec::new(),
            amqp_routing_keys: Vec::new(),
            limits: CallLimits::default(),
        }
    }
}

/// Does `path` (no query) match `pattern`? `*` is one segment, `**` at the
/// end is any rest.
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    let mut pattern_segments = pattern.trim_matches('/').split('/');
    let mut path_segments = path.trim_matches('/').split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (Some("**"), _) => return true,
            (Some(want), Some(have)) if want == "*" || want == have => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn patterns_match_segments() {
        assert!(path_matches("bookings", "bookings"));
        assert!(path_matches("bookings/*", "bookings/T-1"));
        assert!(!path_matches("bookings/*", "bookings/T-1/cancel"));
        assert!(path_matches("bookings/**", "bookings/T-1/cancel"));
        assert!(!path_matches("bookings", "admin"));
        assert!(!path_matches("bookings/*", "bookings"));
    }
}
