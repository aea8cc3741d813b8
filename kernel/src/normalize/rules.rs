//! The `x-hub-*` keywords of one schema, parsed and checked once at load.
//!
//! Parsing here is strict on purpose: an unknown `x-hub-*` keyword or a bad
//! value is a schema author's typo, and a typo that silently disables
//! normalization would let messy data through. Every mistake is reported
//! with its JSON Pointer, all at once.

use std::collections::{BTreeSet, HashMap};

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::codes::CodeList;
use super::quantity::Dimension;
use super::text::TextOp;
use crate::problem::{pointer_push, pointer_tokens};

/// A mistake in a schema's extension keywords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// JSON Pointer into the schema document.
    pub pointer: String,
    pub reason: String,
}

pub const ROOT_KEYWORDS: [&str; 3] = ["x-hub-line", "x-hub-version", "x-hub-timezone"];
pub const NODE_KEYWORDS: [&str; 10] = [
    "x-hub-i18n",
    "x-hub-aliases",
    "x-hub-text",
    "x-hub-synonyms",
    "x-hub-number",
    "x-hub-quantity",
    "x-hub-date",
    "x-hub-code",
    "x-hub-phone",
    "x-hub-reviewable",
];

/// Schema keywords whose value is one subschema.
const SCHEMA_VALUED: [&str; 11] = [
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
];
/// Schema keywords whose value maps names to subschemas.
const SCHEMA_MAP_VALUED: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Schema keywords whose value is an array of subschemas.
const SCHEMA_ARRAY_VALUED: [&str; 4] = ["prefixItems", "allOf", "anyOf", "oneOf"];

/// The value keyword of a node: what the value is normalized *to*.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRule {
    Number,
    Quantity(Dimension),
    Date(DateRule),
    Code(CodeList),
    Phone { default_region: phonenumber::country::Id },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DateRule {
    Date,
    DateTime {
        /// JSON Pointer into the order to a field holding an IANA zone name.
        #[serde(rename = "timezone-from")]
        timezone_from: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantitySpec {
    dimension: Dimension,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PhoneSpec {
    default_region: String,
}

/// Everything the hub does at one schema node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeRules {
    pub aliases: Vec<String>,
    pub text: Vec<TextOp>,
    /// Lower-cased spelling → canonical value.
    pub synonyms: Vec<(String, String)>,
    pub value: Option<ValueRule>,
    pub reviewable: BTreeSet<String>,
}

impl NodeRules {
    /// Rules of a node that `$ref`s another: its own keywords win, the
    /// target fills the gaps, reviewable codes add up.
    fn merged_with(&self, target: &NodeRules) -> NodeRules {
        NodeRules {
            aliases: if self.aliases.is_empty() {
                target.aliases.clone()
            } else {
                self.aliases.clone()
            },
            text: if self.text.is_empty() {
                target.text.clone()
            } else {
                self.text.clone()
            },
            synonyms: if self.synonyms.is_empty() {
                target.synonyms.clone()
            } else {
                self.synonyms.clone()
            },
            value: self.value.clone().or_else(|| target.value.clone()),
            reviewable: self.reviewable.union(&target.reviewable).cloned().collect(),
        }
    }
}

/// The normalization program compiled from one schema document.
#[derive(Debug)]
pub struct NormalizationRules {
    pub(crate) document: Value,
    /// Effective rules per schema node pointer, `$ref` targets merged in.
    nodes: HashMap<String, NodeRules>,
    /// Schema pointer → the node in its `$ref` chain that has `properties`
    /// or `items`; resolved once here so the per-order walk does no look-ups.
    structural: HashMap<String, String>,
    pub(crate) default_zone: Tz,
    pub(crate) uses_timezone_from: bool,
}

const MAX_REF_HOPS: usize = 32;

impl NormalizationRules {
    pub fn from_schema(document: &Value) -> Result<Self, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut own = HashMap::new();
        collect(document, "", true, &mut own, &mut errors);
        let default_zone = match document.get("x-hub-timezone") {
            None => chrono_tz::Asia::Shanghai,
            Some(Value::String(name)) => name.parse::<Tz>().unwrap_or_else(|_| {
                errors.push(RuleError {
                    pointer: "/x-hub-timezone".into(),
                    reason: format!("'{name}' is not an IANA time zone"),
                });
                chrono_tz::UTC
            }),
            Some(_) => {
                errors.push(RuleError {
                    pointer: "/x-hub-timezone".into(),
                    reason: "must be a string".into(),
                });
                chrono_tz::UTC
            }
        };
        let mut rules = NormalizationRules {
            document: document.clone(),
            nodes: HashMap::new(),
            structural: HashMap::new(),
            default_zone,
            uses_timezone_from: false,
        };
        // Check every local $ref resolves, and merge rules along ref chains.
        let mut pointers: Vec<String> = Vec::new();
        all_schema_pointers(document, "", &mut pointers);
        for pointer in pointers {
            let chain = match rules.ref_chain(&pointer) {
                Ok(chain) => chain,
                Err(reason) => {
                    errors.push(RuleError { pointer, reason });
                    continue;
                }
            };
            let effective = chain
                .iter()
                .rev()
                .fold(None::<NodeRules>, |acc, p| match (acc, own.get(p)) {
                    (None, None) => None,
                    (Some(a), None) => Some(a),
                    (None, Some(r)) => Some(r.clone()),
                    (Some(a), Some(r)) => Some(r.merged_with(&a)),
                });
            let descends = chain.iter().find(|p| {
                rules
                    .node(p)
                    .and_then(Value::as_object)
                    .is_some_and(|n| n.contains_key("properties") || n.contains_key("items"))
            });
            if let Some(descends) = descends {
                rules.structural.insert(pointer.clone(), descends.clone());
            }
            if let Some(effective) = effective {
                rules.nodes.insert(pointer, effective);
            }
        }
        rules.uses_timezone_from = rules.nodes.values().any(|r| {
            matches!(
                r.value,
                Some(ValueRule::Date(DateRule::DateTime { timezone_from: Some(_) }))
            )
        });
        if errors.is_empty() { Ok(rules) } else { Err(errors) }
    }

    pub(crate) fn rules_at(&self, schema_pointer: &str) -> Option<&NodeRules> {
        self.nodes.get(schema_pointer)
    }

    fn node(&self, schema_pointer: &str) -> Option<&Value> {
        self.document.pointer(schema_pointer)
    }

    /// `[pointer, its $ref target, that target's target, …]`.
    fn ref_chain(&self, pointer: &str) -> Result<Vec<String>, String> {
        let mut chain = vec![pointer.to_owned()];
        let mut current = pointer.to_owned();
        while let Some(target) = self.node(&current).and_then(|n| n.get("$ref")).and_then(Value::as_str) {
            let Some(local) = target.strip_prefix('#') else {
                return Err(format!(
                    "only local references (#/$defs/...) are supported, found '{target}'"
                ));
            };
            if self.node(local).is_none() {
                return Err(format!("reference '{target}' does not resolve"));
            }
            if chain.len() > MAX_REF_HOPS || chain.iter().any(|p| p == local) {
                return Err(format!("reference cycle through '{target}'"));
            }
            chain.push(local.to_owned());
            current = local.to_owned();
        }
        Ok(chain)
    }

    /// The node that says how to descend from `pointer`: the first in its
    /// ref chain that has `properties` or `items`.
    pub(crate) fn structural(&self, pointer: &str) -> Option<(&str, &Map<String, Value>)> {
        let resolved = self.structural.get(pointer)?;
        Some((resolved.as_str(), self.node(resolved)?.as_object()?))
    }

    /// Schema pointer of the node describing the instance at `instance_pointer`,
    /// or of its nearest ancestor that has one.
    pub(crate) fn schema_pointer_for(&self, instance_pointer: &str) -> String {
        let mut current = String::new();
        for token in pointer_tokens(instance_pointer) {
            let Some((base, node)) = self.structural(&current) else {
                break;
            };
            let next = if node.get("properties").and_then(|p| p.get(&token)).is_some() {
                pointer_push(&pointer_push(base, "properties"), &token)
            } else if node.get("items").is_some_and(Value::is_object) && token.parse::<usize>().is_ok() {
                pointer_push(base, "items")
            } else {
                break;
            };
            current = next;
        }
        current
    }

    /// Whether the schema lets staff fix a `code` problem at `instance_pointer`.
    pub fn is_reviewable(&self, instance_pointer: &str, code: &str) -> bool {
        let schema_pointer = self.schema_pointer_for(instance_pointer);
        self.rules_at(&schema_pointer)
            .is_some_and(|r| r.reviewable.contains(code))
    }
}

fn all_schema_pointers(node: &Value, pointer: &str, out: &mut Vec<String>) {
    out.push(pointer.to_owned());
    for_each_subschema(node, pointer, |child, child_pointer| {
        all_schema_pointers(child, child_pointer, out)
    });
}

fn for_each_subschema(node: &Value, pointer: &str, mut visit: impl FnMut(&Value, &str)) {
    let Some(object) = node.as_object() else { return };
    for (keyword, value) in object {
        let at = pointer_push(pointer, keyword);
        if SCHEMA_VALUED.contains(&keyword.as_str()) && value.is_object() {
            visit(value, &at);
        } else if SCHEMA_MAP_VALUED.contains(&keyword.as_str()) {
            for (name, child) in value.as_object().into_iter().flatten() {
                visit(child, &pointer_push(&at, name));
            }
        } else if SCHEMA_ARRAY_VALUED.contains(&keyword.as_str()) {
            for (i, child) in value.as_array().into_iter().flatten().enumerate() {
                visit(child, &pointer_push(&at, &i.to_string()));
            }
        }
    }
}

fn collect(
    node: &Value,
    pointer: &str,
    is_root: bool,
    out: &mut HashMap<String, NodeRules>,
    errors: &mut Vec<RuleError>,
) {
    if let Some(object) = node.as_object() {
        match parse_node(object, pointer, is_root) {
            Ok(Some(rules)) => {
                out.insert(pointer.to_owned(), rules);
            }
            Ok(None) => {}
            Err(mut e) => errors.append(&mut e),
        }
    }
    for_each_subschema(node, pointer, |child, child_pointer| {
        collect(child, child_pointer, false, out, errors)
    });
}

fn parse_node(object: &Map<String, Value>, pointer: &str, is_root: bool) -> Result<Option<NodeRules>, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut rules = NodeRules::default();
    let mut has_rules = false;
    let mut value_keywords = Vec::new();
    for (keyword, value) in object.iter().filter(|(k, _)| k.starts_with("x-hub-")) {
        let at = pointer_push(pointer, keyword);
        if keyword == I18N {
            // Text for people (the console's labels), nothing to normalize.
            check_i18n(value, &at, &mut errors);
            continue;
        }
        let mut fail = |reason: String| {
            errors.push(RuleError {
                pointer: at.clone(),
                reason,
            })
        };
        if ROOT_KEYWORDS.contains(&keyword.as_str()) {
            if !is_root {
                fail(format!("'{keyword}' is only allowed at the schema root"));
            }
            continue;
        }
        if !NODE_KEYWORDS.contains(&keyword.as_str()) {
            fail(format!(
                "unknown extension keyword '{keyword}' (known: {}, {})",
                ROOT_KEYWORDS.join(", "),
                NODE_KEYWORDS.join(", ")
            ));
            continue;
        }
        has_rules = true;
        let parsed: Result<(), String> = match keyword.as_str() {
            "x-hub-aliases" => strings(value).map(|v| rules.aliases = v),
            "x-hub-reviewable" => strings(value).map(|v| rules.reviewable = v.into_iter().collect()),
            "x-hub-text" => serde_json::from_value::<Vec<TextOp>>(value.clone())
                .map(|v| rules.text = v)
                .map_err(|e| format!("expected a list of trim, collapse-whitespace, upper, lower, fold-width: {e}")),
            "x-hub-synonyms" => match value.as_object() {
                Some(map) => map
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k.to_lowercase(), s.clone())),
                        _ => Err(format!("synonym '{k}' must map to a string")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| rules.synonyms = v),
                None => Err("expected an object mapping spellings to canonical values".into()),
            },
            "x-hub-number" => match value {
                Value::Bool(true) => {
                    rules.value = Some(ValueRule::Number);
                    Ok(())
                }
                _ => Err("expected true".into()),
            },
            "x-hub-quantity" => serde_json::from_value::<QuantitySpec>(value.clone())
                .map(|q| rules.value = Some(ValueRule::Quantity(q.dimension)))
                .map_err(|e| format!("expected {{\"dimension\": \"weight\" | \"volume\"}}: {e}")),
            "x-hub-date" => serde_json::from_value::<DateRule>(value.clone())
                .map_err(|e| format!("expected {{\"kind\": \"date\"}} or {{\"kind\": \"date-time\", \"timezone-from\": \"/pointer\"}}: {e}"))
                .and_then(|rule| match &rule {
                    DateRule::DateTime { timezone_from: Some(p) } if !p.is_empty() && !p.starts_with('/') => {
                        Err(format!("timezone-from '{p}' is not a JSON Pointer"))
                    }
                    _ => {
                        rules.value = Some(ValueRule::Date(rule));
                        Ok(())
                    }
                }),
            "x-hub-code" => serde_json::from_value::<CodeList>(value.clone())
                .map(|c| rules.value = Some(ValueRule::Code(c)))
                .map_err(|e| format!("expected one of country, currency, incoterm, unlocode: {e}")),
            "x-hub-phone" => serde_json::from_value::<PhoneSpec>(value.clone())
                .map_err(|e| format!("expected {{\"default-region\": \"CN\"}}: {e}"))
                .and_then(|spec| {
                    spec.default_region
                        .parse::<phonenumber::country::Id>()
                        .map(|id| rules.value = Some(ValueRule::Phone { default_region: id }))
                        .map_err(|_| format!("'{}' is not a phone region (ISO 3166 alpha-2)", spec.default_region))
                }),
            _ => Ok(()),
        };
        if let Err(reason) = parsed {
            fail(reason);
        }
        if matches!(
            keyword.as_str(),
            "x-hub-number" | "x-hub-quantity" | "x-hub-date" | "x-hub-code" | "x-hub-phone"
        ) {
            value_keywords.push(keyword.clone());
        }
    }
    if value_keywords.len() > 1 {
        errors.push(RuleError {
            pointer: pointer.to_owned(),
            reason: format!(
                "at most one value keyword per node, found {}",
                value_keywords.join(", ")
            ),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(has_rules.then_some(rules))
}

/// Translations of a node's `title` and `description`:
/// `{"zh": {"title": "…", "description": "…"}}`. Checked here like every
/// keyword; normalization and validation ignore it.
const I18N: &str = "x-hub-i18n";

/// The translatable annotations of a schema node.
const I18N_KEYS: [&str; 2] = ["title", "description"];

/// A BCP 47-ish language tag: `zh`, `zh-Hans`, `pt-BR`, `de-CH-1996`.
fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && subtags.all(|s| (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Every mistake in an `x-hub-i18n` value at `at`, each at its own pointer.
fn check_i18n(value: &Value, at: &str, errors: &mut Vec<RuleError>) {
    let mut fail = |pointer: String, reason: String| errors.push(RuleError { pointer, reason });
    let Some(languages) = value.as_object() else {
        fail(
            at.to_owned(),
            "expected an object of language tags, e.g. {\"zh\": {\"title\": \"…\"}}".into(),
        );
        return;
    };
    for (tag, texts) in languages {
        let at_tag = pointer_push(at, tag);
        if !is_language_tag(tag) {
            fail(
                at_tag.clone(),
                format!("'{tag}' is not a language tag (lower-case language, e.g. zh, zh-Hans, pt-BR)"),
            );
        }
        let Some(texts) = texts.as_object() else {
            fail(at_tag, "expected an object with title and/or description".into());
            continue;
        };
        for (key, text) in texts {
            let at_key = pointer_push(&at_tag, key);
            if !I18N_KEYS.contains(&key.as_str()) {
                fail(at_key, format!("unknown key '{key}' (known: {})", I18N_KEYS.join(", ")));
            } else if !text.is_string() {
                fail(at_key, format!("'{key}' must be a string"));
            }
        }
    }
}

fn strings(value: &Value) -> Result<Vec<String>, String> {
    value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| "expected an array of strings".to_owned())
}
