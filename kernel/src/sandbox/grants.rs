//! Two gates on every capability: the plugin's manifest must declare it and
//! the target's config must grant it. A plugin that needs more than its
//! target grants is refused when it is bound, with the missing grants named;
//! what runs gets exactly what it declared, nothing more.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What a plugin can ask the host for; one WIT interface each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Http,
    Amqp,
    Files,
    Config,
    Log,
    Clock,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::Http,
        Capability::Amqp,
        Capability::Files,
        Capability::Config,
        Capability::Log,
        Capability::Clock,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Amqp => "amqp",
            Capability::Files => "files",
            Capability::Config => "config",
            Capability::Log => "log",
            Capability::Clock => "clock",
        }
    }

    /// The capability behind a component import such as
    /// `hub:plugin/http@1.0.0`; `None` for anything else.
    pub fn from_import(import: &str) -> Option<Capability> {
        let interface = import.strip_prefix("hub:plugin/")?;
        let name = interface.split('@').next()?;
        Capability::ALL.into_iter().find(|capability| capability.name() == name)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingGrants {
    pub plugin: String,
    pub target: String,
    pub missing: Vec<Capability>,
}

impl fmt::Display for MissingGrants {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let missing = list(&self.missing);
        write!(
            formatter,
            "plugin `{}` needs {missing} which target `{}` does not grant; add {missing} to `grants` in [targets.{}]",
            self.plugin, self.target, self.target
        )
    }
}

impl std::error::Error for MissingGrants {}

fn list(capabilities: &[Capability]) -> String {
    capabilities
        .iter()
        .map(|capability| format!("`{capability}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The capabilities a bound plugin may use: everything it declared, if the
/// target grants all of it.
pub fn effective_grants(
    plugin: &str,
    target: &str,
    declared: &BTreeSet<Capability>,
    granted: &BTreeSet<Capability>,
) -> Result<BTreeSet<Capability>, MissingGrants> {
    let missing: Vec<Capability> = declared.difference(granted).copied().collect();
    if missing.is_empty() {
        Ok(declared.clone())
    } else {
        Err(MissingGrants {
            plugin: plugin.to_owned(),
            target: target.to_owned(),
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn set(capabilities: &[Capability]) -> BTreeSet<Capability> {
        capabilities.iter().copied().collect()
    }

    #[test]
    fn a_plugin_gets_what_it_declared_when_the_target_grants_more() {
        let grants = effective_grants("rest-json", "ops", &set(&[Http, Log]), &set(&[Http, Log, Files])).unwrap();
        assert_eq!(grants, set(&[Http, Log]));
    }

    #[test]
    fn a_plugin_needing_an_ungranted_capability_is_refused_with_its_name() {
        let error = effective_grants("csv-drop", "wms", &set(&[Files, Log]), &set(&[Log])).unwrap_err();
        assert_eq!(error.missing, vec![Files]);
        assert_eq!(
            error.to_string(),
            "plugin `csv-drop` needs `files` which target `wms` does not grant; add `files` to `grants` in [targets.wms]"
        );
    }

    #[test]
    fn imports_name_their_capability() {
        assert_eq!(Capability::from_import("hub:plugin/amqp@1.0.0"), Some(Amqp));
        assert_eq!(Capability::from_import("hub:plugin/handler@1.0.0"), None);
        assert_eq!(Capability::from_import("wasi:cli/environment@0.2.6"), None);
    }
}
