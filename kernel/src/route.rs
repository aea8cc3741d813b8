//! Routing: which OPS target takes a normalized order.
//!
//! Rules live in the hub config (`[[routes]]`), are checked whole at
//! start-up, and are read top to bottom: the first rule of the order's
//! business line whose conditions all hold wins. A rule without conditions
//! is the line's default. No match is not an error but an answer — the
//! dispatcher parks the order for review with the reasons every rule gave.
//!
//! Conditions compare one normalized field (a JSON Pointer) with `equals`,
//! `in`, `prefix`, or a numeric range (`min`/`max`, inclusive). They see the
//! normalized order only, so `de`, `DE ` and `Germany` were already made
//! `DE` by the schema before a rule looks at them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One `[[routes]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// Shown in explanations and logs; defaults to `routes[N]`.
    #[serde(default)]
    pub name: Option<String>,
    pub line: String,
    pub target: String,
    /// All must hold. Empty: the line's default.
    #[serde(default)]
    pub when: Vec<Condition>,
}

/// A comparison of one normalized field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// JSON Pointer into the normalized order, e.g. `/destination_port`.
    pub field: String,
    #[serde(default)]
    pub equals: Option<Value>,
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<Value>>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// Why one rule did or did not take the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleVerdict {
    pub rule: String,
    pub target: String,
    /// `None`: matched. Otherwise the first condition that failed, in words.
    pub failed: Option<String>,
}

/// The routing decision for one order, with the reasoning behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The target, or `None` when no rule of the line matched.
    pub target: Option<String>,
    /// Every rule of the line that was tried, in order, up to the match.
    pub tried: Vec<RuleVerdict>,
}

impl Decision {
    /// One line per rule tried, then the outcome; for the CLI and for the
    /// review-queue reason when nothing matched.
    pub fn explain(&self) -> String {
        let mut text = String::new();
        for verdict in &self.tried {
            match &verdict.failed {
                None => text.push_str(&format!("{} → {}: matched\n", verdict.rule, verdict.target)),
                Some(reason) => text.push_str(&format!("{} → {}: no, {reason}\n", verdict.rule, verdict.target)),
            }
        }
        match &self.target {
            Some(target) => text.push_str(&format!("routed to {target}\n")),
            None if self.tried.is_empty() => text.push_str("no route for this business line\n"),
            None => text.push_str("no rule matched\n"),
        }
        text
    }
}

/// Problem code of an order no routing rule sends anywhere.
pub const NO_ROUTE: &str = "no-route";

impl Decision {
    /// The review-queue problem for an order no rule matched: staff can
    /// correct the fields the rules look at and release it.
    pub fn no_route_problem(&self) -> crate::problem::Problem {
        crate::problem::Problem {
            pointer: String::new(),
            code: NO_ROUTE.to_owned(),
            message: format!(
                "no routing rule sends this order to an operations system: {}",
                self.explain().trim_end().replace('\n', "; ")
            ),
            reviewable: true,
        }
    }
}

/// Where a checked order goes: the target, or the problem that sends it to review.
/// Without routing rules (`router` is `None`) every order is queued with no
/// target and waits for a hub that has some.
pub fn assign(router: Option<&Router>, line: &str, order: &Value) -> Result<String, crate::problem::Problem> {
    let Some(router) = router else {
        return Ok(String::new());
    };
    let decision = router.decide(line, order);
    match decision.target {
        Some(target) => Ok(target),
        None => Err(decision.no_route_problem()),
    }
}

/// The checked rule list.
#[derive(Debug, Clone, Default)]
pub struct Router {
    rules: Vec<(String, RouteRule)>,
}

impl Router {
    /// Checks every rule; `targets` are the configured target names. Returns
    /// every problem at once, each with `routes[N]`.
    pub fn new(rules: &[RouteRule], targets: &BTreeSet<String>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut named = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let name = rule.name.clone().unwrap_or_else(|| format!("routes[{index}]"));
            let at = format!("routes[{index}] ({name})");
            if !targets.contains(&rule.target) {
                problems.push(format!("{at}: target `{}` is not configured in [targets]", rule.target));
            }
            for (position, condition) in rule.when.iter().enumerate() {
                if let Err(problem) = condition.check() {
                    problems.push(format!("{at}: when[{position}]: {problem}"));
                }
            }
            named.push((name, rule.clone()));
        }
        for (line, first_default) in defaults_shadowing(rules) {
            problems.push(format!(
                "routes[{first_default}] is the default of `{line}` but later rules for that line can never match"
            ));
        }
        if problems.is_empty() {
            Ok(Router { rules: named })
        } else {
            Err(problems)
        }
    }

    /// The business lines that have at least one rule.
    pub fn lines(&self) -> BTreeSet<&str> {
        self.rules.iter().map(|(_, rule)| rule.line.as_str()).collect()
    }

    /// Routes a normalized order of `line`.
    pub fn decide(&self, line: &str, order: &Value) -> Decision {
        let mut tried = Vec::new();
        for (name, rule) in self.rules.iter().filter(|(_, rule)| rule.line == line) {
            let failed = rule.when.iter().find_map(|condition| condition.fails(order));
            let matched = failed.is_none();
            tried.push(RuleVerdict {
                rule: name.clone(),
                target: rule.target.clone(),
                failed,
            });
            if matched {
                return Decision {
                    target: Some(rule.target.clone()),
                    tried,
                };
            }
        }
        Decision { target: None, tried }
    }
}

/// For each line, the index of a condition-less rule that has later rules
/// of the same line behind it (they would be dead).
fn defaults_shadowing(rules: &[RouteRule]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut seen_default: Vec<(&str, usize)> = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        if let Some((_, first)) = seen_default.iter().find(|(line, _)| *line == rule.line) {
            if !found.iter().any(|(line, _): &(String, usize)| line == &rule.line) {
                found.push((rule.line.clone(), *first));
            }
            continue;
        }
        if rule.when.is_empty() {
            seen_default.push((rule.line.as_str(), index));
        }
    }
    found
}

impl Condition {
    fn check(&self) -> Result<(), String> {
        if !self.field.starts_with('/') {
            return Err(format!(
                "field `{}` must be a JSON Pointer starting with `/`",
                self.field
            ));
        }
        let kinds = [
            self.equals.is_some(),
            self.one_of.is_some(),
            self.prefix.is_some(),
            self.min.is_some() || self.max.is_some(),
        ];
        match kinds.iter().filter(|set| **set).count() {
            1 => {}
            0 => return Err(format!("on `{}`: give one of equals, in, prefix, min/max", self.field)),
            _ => {
                return Err(format!(
                    "on `{}`: give only one of equals, in, prefix, min/max",
                    self.field
                ));
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(format!("on `{}`: min {min} is greater than max {max}", self.field));
        }
        if self.one_of.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!("on `{}`: `in` needs at least one value", self.field));
        }
        Ok(())
    }

    /// `None` when the condition holds, else why not.
    fn fails(&self, order: &Value) -> Option<String> {
        let field = &self.field;
        let Some(value) = order.pointer(field) else {
            return Some(format!("{field} is absent"));
        };
        let shown = Shown(value);
        if let Some(expected) = &self.equals {
            return (value != expected).then(|| format!("{field} is {shown}, not {}", Shown(expected)));
        }
        if let Some(options) = &self.one_of {
            return (!options.contains(value)).then(|| {
                let listed: Vec<String> = options.iter().map(|option| Shown(option).to_string()).collect();
                format!("{field} is {shown}, not one of [{}]", listed.join(", "))
            });
        }
        if let Some(prefix) = &self.prefix {
            return match value.as_str() {
                Some(text) if text.starts_with(prefix.as_str()) => None,
                Some(_) => Some(format!("{field} is {shown}, which does not start with \"{prefix}\"")),
                None => Some(format!("{field} is {shown}, not text")),
            };
        }
        let Some(number) = value.as_f64() else {
            return Some(format!("{field} is {shown}, not a number"));
        };
        if let Some(min) = self.min
            && number < min
        {
            return Some(format!("{field} is {shown}, below {min}"));
        }
        if let Some(max) = self.max
            && number > max
        {
            return Some(format!("{field} is {shown}, above {max}"));
        }
        None
    }
}

/// A JSON value as a person reads it in an explanation.
struct Shown<'a>(&'a Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        match text.char_indices().nth(60) {
            Some((cut, _)) => write!(formatter, "{}…", &text[..cut]),
            None => formatter.write_str(&text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(text: &str) -> Vec<RouteRule> {
        #[derive(Deserialize)]
        struct File {
            routes: Vec<RouteRule>,
        }
        toml::from_str::<File>(text).unwrap().routes
    }

    fn targets(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    const RULES: &str = r#"
        [[routes]]
        name = "EU ocean"
        line = "freight-booking"
        target = "eu-ops"
        when = [
            { field = "/destination_port", prefix = "DE" },
            { field = "/service_mode", in = ["FCL", "LCL"] },
            { field = "/container_count", min = 1, max = 10 },
        ]

        [[routes]]
        name = "air"
        line = "freight-booking"
        target = "air-ops"
        when = [{ field = "/service_mode", equals = "AIR" }]

        [[routes]]
        line = "freight-booking"
        target = "freight-ops"

        [[routes]]
        line = "complaint"
        target = "crm"
        when = [{ field = "/severity", equals = "high" }]
    "#;

    fn router() -> Router {
        Router::new(&rules(RULES), &targets(&["eu-ops", "air-ops", "freight-ops", "crm"])).unwrap()
    }

    #[test]
    fn the_first_rule_whose_conditions_all_hold_wins() {
        let order = json!({"destination_port": "DEHAM", "service_mode": "FCL", "container_count": 2});
        let decision = router().decide("freight-booking", &order);
        assert_eq!(decision.target.as_deref(), Some("eu-ops"));
        assert_eq!(decision.tried.len(), 1);
    }

    #[test]
    fn explanations_say_why_earlier_rules_did_not_match() {
        let order = json!({"destination_port": "USLAX", "service_mode": "FCL", "container_count": 2});
        let decision = router().decide("freight-booking", &order);
        assert_eq!(decision.target.as_deref(), Some("freight-ops"));
        assert_eq!(
            decision.explain(),
            "EU ocean → eu-ops: no, /destination_port is \"USLAX\", which does not start with \"DE\"\n\
             air → air-ops: no, /service_mode is \"FCL\", not \"AIR\"\n\
             routes[2] → freight-ops: matched\n\
             routed to freight-ops\n"
        );
    }

    #[test]
    fn ranges_lists_and_absent_fields_are_explained() {
        let router = router();
        let too_many = json!({"destination_port": "DEHAM", "service_mode": "FCL", "container_count": 40});
        let failed = router.decide("freight-booking", &too_many).tried[0].failed.clone();
        assert_eq!(failed.as_deref(), Some("/container_count is 40, above 10"));
        let bulk = json!({"destination_port": "DEHAM", "service_mode": "BULK"});
        let failed = router.decide("freight-booking", &bulk).tried[0].failed.clone();
        assert_eq!(
            failed.as_deref(),
            Some("/service_mode is \"BULK\", not one of [\"FCL\", \"LCL\"]")
        );
        let decision = router.decide("complaint", &json!({}));
        assert_eq!(decision.target, None);
        assert_eq!(
            decision.explain(),
            "routes[3] → crm: no, /severity is absent\nno rule matched\n"
        );
        assert_eq!(
            router.decide("customs-declaration", &json!({})).explain(),
            "no route for this business line\n"
        );
    }

    #[test]
    fn every_rule_mistake_is_reported_at_once() {
        let bad = rules(
            r#"
            [[routes]]
            line = "freight-booking"
            target = "nowhere"
            when = [{ field = "destination_port", equals = "DEHAM" }, { field = "/x", equals = 1, prefix = "a" }, { field = "/n", min = 5, max = 1 }]

            [[routes]]
            line = "freight-booking"
            target = "freight-ops"

            [[routes]]
            line = "freight-booking"
            target = "freight-ops"
            when = [{ field = "/x", in = [] }]
        "#,
        );
        let problems = Router::new(&bad, &targets(&["freight-ops"])).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "routes[0] (routes[0]): target `nowhere` is not configured in [targets]",
                "routes[0] (routes[0]): when[0]: field `destination_port` must be a JSON Pointer starting with `/`",
                "routes[0] (routes[0]): when[1]: on `/x`: give only one of equals, in, prefix, min/max",
                "routes[0] (routes[0]): when[2]: on `/n`: min 5 is greater than max 1",
                "routes[2] (routes[2]): when[0]: on `/x`: `in` needs at least one value",
                "routes[1] is the default of `freight-booking` but later rules for that line can never match",
            ]
        );
    }
}
