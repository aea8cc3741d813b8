//! Normalization: a messy customer order in, the canonical order out.
//!
//! Driven entirely by the `x-hub-*` keywords of the line's schema (see
//! `schemas/README.md`), never by code per business line. The walk has two
//! passes over the order, guided by the schema's `properties`/`items`/`$ref`:
//!
//! 1. *structure*: rename aliases, clean strings (`x-hub-text`), map synonyms;
//! 2. *values*: numbers, quantities, dates, codes, phones.
//!
//! The split lets a date-time read its time zone from a sibling field that the
//! first pass has already cleaned. A value that cannot be normalized is left
//! as sent and reported as a [`Problem`]; nothing is dropped silently.
//!
//! **Invariant:** normalization is idempotent — a normalized order normalizes
//! to itself. Staff corrections are re-checked by running it again.

mod codes;
mod date;
mod quantity;
mod rules;
mod text;

use std::collections::HashSet;

use chrono_tz::Tz;
use serde_json::Value;

pub use codes::CodeList;
pub use quantity::Dimension;
pub use rules::{NODE_KEYWORDS, NormalizationRules, ROOT_KEYWORDS, RuleError};
pub use text::{TextOp, fold_width};

use crate::problem::{Problem, pointer_push};
use rules::{DateRule, NodeRules, ValueRule};

/// The result of normalizing one order.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub order: Value,
    /// Problems found while normalizing; `reviewable` is already decided.
    pub problems: Vec<Problem>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Structure,
    Values,
}

struct Walk<'r> {
    rules: &'r NormalizationRules,
    pass: Pass,
    /// Instance pointers whose value arrived under a legacy alias.
    via_alias: HashSet<String>,
    /// The order after the structure pass, for `timezone-from` look-ups.
    snapshot: Option<Value>,
    problems: Vec<Problem>,
}

/// Normalizes `order` with the rules of one schema.
pub fn normalize(rules: &NormalizationRules, mut order: Value) -> Normalized {
    let mut walk = Walk {
        rules,
        pass: Pass::Structure,
        via_alias: HashSet::new(),
        snapshot: None,
        problems: Vec::new(),
    };
    walk.visit("", &mut order, "");
    walk.pass = Pass::Values;
    if rules.uses_timezone_from {
        walk.snapshot = Some(order.clone());
    }
    walk.visit("", &mut order, "");
    let mut problems = walk.problems;
    for p in &mut problems {
        p.reviewable = rules.is_reviewable(&p.pointer, &p.code);
    }
    Normalized { order, problems }
}

impl Walk<'_> {
    fn problem(&mut self, pointer: &str, code: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            pointer: pointer.to_owned(),
            code: code.to_owned(),
            message: message.into(),
            reviewable: false,
        });
    }

    fn visit(&mut self, schema_pointer: &str, value: &mut Value, instance_pointer: &str) {
        if let Some(rules) = self.rules.rules_at(schema_pointer) {
            match self.pass {
                Pass::Structure => clean_text(rules, value),
                Pass::Values => self.apply_value_rule(rules, value, instance_pointer),
            }
        }
        let Some((base, node)) = self.rules.structural(schema_pointer) else {
            return;
        };
        match value {
            Value::Object(object) => {
                let Some(properties) = node.get("properties").and_then(Value::as_object) else {
                    return;
                };
                for name in properties.keys() {
                    let child_schema = pointer_push(&pointer_push(base, "properties"), name);
                    let child_instance = pointer_push(instance_pointer, name);
                    if self.pass == Pass::Structure {
                        self.rename_aliases(&child_schema, name, object, &child_instance);
                    }
                    if let Some(child) = object.get_mut(name) {
                        self.visit(&child_schema, child, &child_instance);
                    }
                }
            }
            Value::Array(items) if node.get("items").is_some_and(Value::is_object) => {
                let item_schema = pointer_push(base, "items");
                for (i, item) in items.iter_mut().enumerate() {
                    self.visit(&item_schema, item, &pointer_push(instance_pointer, &i.to_string()));
                }
            }
            _ => {}
        }
    }

    fn rename_aliases(
        &mut self,
        child_schema: &str,
        name: &str,
        object: &mut serde_json::Map<String, Value>,
        child_instance: &str,
    ) {
        let Some(rules) = self.rules.rules_at(child_schema) else {
            return;
        };
        for alias in &rules.aliases {
            let Some(aliased) = object.remove(alias) else { continue };
            match object.get(name) {
                None => {
                    object.insert(name.to_owned(), aliased);
                    self.via_alias.insert(child_instance.to_owned());
                }
                Some(existing) if *existing == aliased => {}
                Some(_) => self.problem(
                    child_instance,
                    "duplicate-field",
                    format!("'{name}' was given twice with different values (also as '{alias}')"),
                ),
            }
        }
    }

    fn apply_value_rule(&mut self, rules: &NodeRules, value: &mut Value, pointer: &str) {
        let Some(rule) = &rules.value else { return };
        if value.is_null() {
            return;
        }
        let result: Result<Value, (&'static str, String)> = match rule {
            ValueRule::Number => match value {
                Value::Number(_) => return,
                Value::String(s) => text::parse_decimal(s)
                    .map(text::json_number)
                    .ok_or(("not-a-number", format!("'{}' is not a number", s.trim()))),
                _ => return,
            },
            ValueRule::Quantity(dimension) => {
                let canonical_name = !self.via_alias.contains(pointer);
                quantity::to_canonical(*dimension, value, canonical_name)
                    .map(text::json_number)
                    .map_err(|e| {
                        let message = match &e {
                            quantity::QuantityError::MissingUnit => format!(
                                "a number without a unit; give one (e.g. \"{value} {}\")",
                                dimension.canonical_unit()
                            ),
                            quantity::QuantityError::UnknownUnit(u) => {
                                format!("'{u}' is not a unit of {dimension:?}").to_lowercase()
                            }
                            quantity::QuantityError::NotANumber => format!("{value} is not a quantity"),
                        };
                        (e.code(), message)
                    })
            }
            ValueRule::Date(DateRule::Date) => date::normalize_date(value)
                .map(Value::String)
                .map_err(|e| (e.code(), e.message().to_owned())),
            ValueRule::Date(DateRule::DateTime { timezone_from }) => match self.zone_for(timezone_from.as_deref()) {
                Ok(zone) => date::normalize_date_time(value, zone)
                    .map(Value::String)
                    .map_err(|e| (e.code(), e.message().to_owned())),
                Err(message) => Err(("invalid-timezone", message)),
            },
            ValueRule::Code(list) => match value {
                Value::String(s) => list
                    .normalize(s)
                    .map(Value::String)
                    .map_err(|e| (e.code(), e.message().to_owned())),
                _ => return,
            },
            ValueRule::Phone { default_region } => match value {
                Value::String(s) => codes::normalize_phone(s, *default_region)
                    .map(Value::String)
                    .map_err(|m| ("invalid-phone", m)),
                _ => return,
            },
        };
        match result {
            Ok(normalized) => *value = normalized,
            Err((code, message)) => self.problem(pointer, code, message),
        }
    }

    fn zone_for(&self, timezone_from: Option<&str>) -> Result<Tz, String> {
        let named = timezone_from
            .and_then(|p| self.snapshot.as_ref()?.pointer(p))
            .and_then(Value::as_str);
        match named {
            None => Ok(self.rules.default_zone),
            Some(name) => name
                .trim()
                .parse::<Tz>()
                .map_err(|_| format!("'{name}' is not an IANA time zone such as Asia/Shanghai")),
        }
    }
}

fn clean_text(rules: &NodeRules, value: &mut Value) {
    let Value::String(s) = value else { return };
    let mut cleaned = rules.text.iter().fold(std::mem::take(s), |acc, op| op.apply(&acc));
    if let Some((_, canonical)) = rules.synonyms.iter().find(|(k, _)| *k == cleaned.to_lowercase()) {
        cleaned = canonical.clone();
    }
    *s = cleaned;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(schema: Value) -> NormalizationRules {
        NormalizationRules::from_schema(&schema).unwrap()
    }

    fn demo() -> NormalizationRules {
        rules(json!({
            "type": "object",
            "properties": {
                "port": {"type": "string", "x-hub-code": "unlocode", "x-hub-aliases": ["pol"], "x-hub-reviewable": ["unknown-code"]},
                "mode": {"type": "string", "x-hub-text": ["trim", "upper"], "x-hub-synonyms": {"整箱": "FCL"}},
                "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
                "window": {"type": "object", "properties": {
                    "start": {"x-hub-date": {"kind": "date-time", "timezone-from": "/window/tz"}},
                    "tz": {"type": "string", "x-hub-text": ["trim"]}
                }}
            },
            "$defs": {"line": {"type": "object", "properties": {
                "weight_kg": {"x-hub-quantity": {"dimension": "weight"}, "x-hub-aliases": ["weight"], "x-hub-reviewable": ["missing-unit"]}
            }}}
        }))
    }

    #[test]
    fn walks_aliases_refs_and_items() {
        let out = normalize(
            &demo(),
            json!({
                "pol": "cn sha", "mode": " 整箱 ",
                "lines": [{"weight": "2,650 lb"}, {"weight_kg": 10}],
                "window": {"start": "2026/11/3 14:30", "tz": " Europe/Berlin "}
            }),
        );
        assert_eq!(out.problems, vec![]);
        assert_eq!(
            out.order,
            json!({
                "port": "CNSHA", "mode": "FCL",
                "lines": [{"weight_kg": 1202.02}, {"weight_kg": 10}],
                "window": {"start": "2026-11-03T14:30:00+01:00", "tz": "Europe/Berlin"}
            })
        );
        assert_eq!(normalize(&demo(), out.order.clone()).order, out.order, "idempotent");
    }

    #[test]
    fn reports_problems_with_pointers_and_reviewability() {
        let out = normalize(
            &demo(),
            json!({"port": "CNZZZ", "pol": "CNSHA", "lines": [{"weight": 1200}], "window": {"start": "x", "tz": "Mars/Base"}}),
        );
        let got: Vec<_> = out
            .problems
            .iter()
            .map(|p| (p.pointer.as_str(), p.code.as_str(), p.reviewable))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/port", "duplicate-field", false),
                ("/lines/0/weight_kg", "missing-unit", true),
                ("/port", "unknown-code", true),
                ("/window/start", "invalid-timezone", false),
            ]
        );
    }

    #[test]
    fn accepts_translations_and_ignores_them() {
        let translated = rules(json!({
            "title": "Booking", "x-hub-i18n": {"zh": {"title": "订舱", "description": "海运或空运订舱"}},
            "type": "object",
            "properties": {
                "port": {"title": "Port", "type": "string", "x-hub-code": "unlocode",
                    "x-hub-i18n": {"zh": {"title": "港口"}, "zh-Hant": {"title": "港口"}, "pt-BR": {"description": "Porto"}}},
                "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}}
            },
            "$defs": {"line": {"type": "object", "properties": {
                "name": {"type": "string", "x-hub-text": ["trim"], "x-hub-i18n": {"zh": {}}}
            }}}
        }));
        let out = normalize(&translated, json!({"port": "cn sha", "lines": [{"name": " 茶 "}]}));
        assert_eq!(out.problems, vec![]);
        assert_eq!(out.order, json!({"port": "CNSHA", "lines": [{"name": "茶"}]}));
        // A node with only a translation has no normalization rules.
        let plain = rules(json!({"properties": {"a": {"x-hub-i18n": {"zh": {"title": "甲"}}}}}));
        assert_eq!(plain.rules_at("/properties/a"), None);
    }

    #[test]
    fn refuses_bad_translations_with_their_pointers() {
        let errors = NormalizationRules::from_schema(&json!({
            "x-hub-i18n": {"ZH": {"title": "订舱"}},
            "properties": {
                "a": {"x-hub-i18n": {"zh": {"titel": "甲"}}},
                "b": {"x-hub-i18n": {"zh": {"title": 1, "description": ["乙"]}}},
                "c": {"x-hub-i18n": "丙"},
                "d": {"x-hub-i18n": {"zh": "丁"}},
                "e": {"x-hub-i18n": {"chinese": {"title": "戊"}, "zh_CN": {}, "z": {}}}
            },
            "$defs": {"x": {"properties": {"f": {"x-hub-i18n": {"en-": {"title": "f"}}}}}}
        }))
        .unwrap_err();
        let mut pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        pointers.sort_unstable();
        assert_eq!(
            pointers,
            [
                "/$defs/x/properties/f/x-hub-i18n/en-",
                "/properties/a/x-hub-i18n/zh/titel",
                "/properties/b/x-hub-i18n/zh/description",
                "/properties/b/x-hub-i18n/zh/title",
                "/properties/c/x-hub-i18n",
                "/properties/d/x-hub-i18n/zh",
                "/properties/e/x-hub-i18n/chinese",
                "/properties/e/x-hub-i18n/z",
                "/properties/e/x-hub-i18n/zh_CN",
                "/x-hub-i18n/ZH",
            ],
            "{errors:?}"
        );
        let reason = |pointer: &str| errors.iter().find(|e| e.pointer == pointer).unwrap().reason.clone();
        assert!(reason("/x-hub-i18n/ZH").contains("language tag"));
        assert!(reason("/properties/a/x-hub-i18n/zh/titel").contains("unknown key 'titel'"));
        assert!(reason("/properties/b/x-hub-i18n/zh/title").contains("must be a string"));
    }

    #[test]
    fn refuses_unknown_and_bad_keywords() {
        let errors = NormalizationRules::from_schema(&json!({
            "properties": {
                "a": {"x-hub-colour": "red"},
                "b": {"x-hub-quantity": {"dimension": "length"}},
                "c": {"x-hub-code": "country", "x-hub-phone": {"default-region": "CN"}},
                "d": {"$ref": "#/$defs/missing"},
                "e": {"x-hub-line": "nope"}
            }
        }))
        .unwrap_err();
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers.len(), 5, "{errors:?}");
        for expected in [
            "/properties/a/x-hub-colour",
            "/properties/b/x-hub-quantity",
            "/properties/c",
            "/properties/d",
            "/properties/e/x-hub-line",
        ] {
            assert!(pointers.contains(&expected), "{expected} missing from {errors:?}");
        }
    }
}
