//! Normalize, validate, classify: the verdict on one order.
//!
//! Three outcomes, decided only by the schema: no problem → `valid`; every
//! problem declared reviewable → `needs-review`; anything else → `invalid`,
//! with **every** problem listed (the customer fixes them all in one go).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::normalize;
use crate::problem::{Problem, pointer_push, pointer_within};
use crate::schema::LineSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Valid,
    NeedsReview,
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub normalized: Value,
    pub problems: Vec<Problem>,
}

const MAX_MESSAGE_CHARS: usize = 300;

/// Runs the whole check of `order` against `schema`.
pub fn check(schema: &LineSchema, order: Value) -> Verdict {
    let normalized = normalize::normalize(&schema.rules, order);
    let mut problems = normalized.problems;
    let already_reported: Vec<String> = problems.iter().map(|p| p.pointer.clone()).collect();
    for error in schema.validator.iter_errors(&normalized.order) {
        let base = error.instance_path().as_str().to_owned();
        let code = error.kind().keyword().to_owned();
        let places: Vec<(String, String)> = match error.kind() {
            jsonschema::error::ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                vec![(pointer_push(&base, name), format!("'{name}' is required"))]
            }
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
                .iter()
                .map(|name| {
                    (
                        pointer_push(&base, name),
                        format!("'{name}' is not a field of this order"),
                    )
                })
                .collect(),
            jsonschema::error::ValidationErrorKind::Enum { options } => {
                let allowed: Vec<String> = options
                    .as_array()
                    .map(|o| {
                        o.iter()
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                vec![(base, shorten(&format!("must be one of: {}", allowed.join(", "))))]
            }
            _ => vec![(base, shorten(&error.masked().to_string()))],
        };
        for (pointer, message) in places {
            // A value normalization already refused would fail its type check too; say it once.
            if already_reported.iter().any(|p| pointer_within(&pointer, p)) {
                continue;
            }
            if problems.iter().any(|p| p.pointer == pointer && p.code == code) {
                continue;
            }
            let reviewable = schema.rules.is_reviewable(&pointer, &code);
            problems.push(Problem {
                pointer,
                code: code.clone(),
                message,
                reviewable,
            });
        }
    }
    problems.sort_by(|a, b| a.pointer.cmp(&b.pointer).then_with(|| a.code.cmp(&b.code)));
    let outcome = if problems.is_empty() {
        Outcome::Valid
    } else if problems.iter().all(|p| p.reviewable) {
        Outcome::NeedsReview
    } else {
        Outcome::Invalid
    };
    Verdict {
        outcome,
        normalized: normalized.order,
        problems,
    }
}

fn shorten(message: &str) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        message.to_owned()
    } else {
        message.chars().take(MAX_MESSAGE_CHARS).chain("…".chars()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn schema() -> LineSchema {
        let doc = json!({
            "x-hub-line": "demo", "x-hub-version": 1,
            "type": "object", "additionalProperties": false,
            "required": ["port", "weight_kg", "notify"],
            "properties": {
                "port": {"type": "string", "x-hub-code": "unlocode", "x-hub-reviewable": ["unknown-code"]},
                "weight_kg": {"type": "number", "minimum": 0, "x-hub-quantity": {"dimension": "weight"}},
                "notify": {"type": "string", "x-hub-reviewable": ["required"]}
            }
        });
        LineSchema::from_bytes(Path::new("demo.v1.json"), doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn valid_order_continues() {
        let v = check(&schema(), json!({"port": "cnsha", "weight_kg": "10 lb", "notify": "x"}));
        assert_eq!(v.outcome, Outcome::Valid);
        assert_eq!(v.normalized["weight_kg"], json!(4.536));
    }

    #[test]
    fn reviewable_problems_go_to_review() {
        let v = check(&schema(), json!({"port": "CNZZZ", "weight_kg": 10}));
        assert_eq!(v.outcome, Outcome::NeedsReview, "{:?}", v.problems);
        let codes: Vec<_> = v
            .problems
            .iter()
            .map(|p| (p.pointer.as_str(), p.code.as_str()))
            .collect();
        assert_eq!(codes, [("/notify", "required"), ("/port", "unknown-code")]);
    }

    #[test]
    fn invalid_order_lists_every_problem_once() {
        let v = check(
            &schema(),
            json!({"port": "nowhere", "weight_kg": "heavy", "extra": 1, "notify": 5}),
        );
        assert_eq!(v.outcome, Outcome::Invalid);
        let codes: Vec<_> = v
            .problems
            .iter()
            .map(|p| (p.pointer.as_str(), p.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("/extra", "additionalProperties"),
                ("/notify", "type"),
                ("/port", "invalid-code"),
                ("/weight_kg", "not-a-number"),
            ]
        );
    }
}
