//! `hub plugin test`: run a plugin against recorded cases, with no server
//! and no network, and show a readable diff where it disagrees.
//!
//! A cases folder holds an optional `target.json` (the target's settings,
//! AMQP routing keys and limits) and one folder per case:
//!
//! - `order.json` — the order for `submit`: `{"payload": {…}}` plus, when
//!   the case needs them, `id`, `business_line`, `schema_version`,
//!   `attempt`, `idempotency_key`, `customer`; **or** `inbound.json` — a
//!   message for `on-inbound`: `{"source", "correlation_id", "body"}`;
//! - `exchanges.json` — the calls the plugin must make, in order, each with
//!   the canned answer of the OPS: `[{"request": {"http": {"method", "path",
//!   "headers", "body"}}, "response": {"status", "headers", "body"}}]`. Other
//!   requests: `{"publish": {…}}`, `{"put": {"path", "contents"}}`,
//!   `{"get": {"path"}}`, `{"list": {"directory"}}`. Answers: `"done"`,
//!   `{"contents": "…"}`, `{"listing": […]}`, or `{"error": {"kind":
//!   "timeout", "detail": "…"}}`. Headers compare as a subset (name what
//!   matters); bodies compare exactly (JSON bodies as JSON);
//! - `expected.json` — `{"outcome": …}`, `{"failure": …}`, `{"error": "…"}`
//!   (a sandbox error, by message) or `{"feedback": […]}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::sandbox::{
    BoundTarget, CallError, CallLimits, Inbound, InboundSource, LoadedPlugin, PluginCall, PluginOrder, SandboxEngine,
};
use crate::transports::recorded::{Answer, RecordedCall, Replay};
use crate::transports::{FileEntry, HttpResponse, TargetTransports, TransportError};

#[derive(Debug, thiserror::Error)]
pub enum CaseSetupError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// The result of one case.
#[derive(Debug)]
pub struct CaseReport {
    pub name: String,
    /// Empty when the case passed; otherwise one readable block each.
    pub mismatches: Vec<String>,
}

impl CaseReport {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    #[serde(default)]
    settings: BTreeMap<String, String>,
    #[serde(default)]
    routing_keys: Vec<String>,
    #[serde(default)]
    limits: Option<CallLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderFile {
    payload: Value,
    id: Option<String>,
    business_line: Option<String>,
    schema_version: Option<u32>,
    attempt: Option<u32>,
    idempotency_key: Option<String>,
    customer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundFile {
    source: InboundSource,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    body: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Exchange {
    request: Value,
    response: Value,
}

/// Runs every case folder under `cases_dir`, in name order.
pub async fn run_cases(
    engine: Arc<SandboxEngine>,
    plugin: Arc<LoadedPlugin>,
    cases_dir: &Path,
) -> Result<Vec<CaseReport>, CaseSetupError> {
    let target_path = cases_dir.join("target.json");
    let target_file: TargetFile = if target_path.exists() {
        read_json(&target_path)?
    } else {
        TargetFile::default()
    };
    let mut case_dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir)
        .map_err(|error| CaseSetupError::Read {
            path: cases_dir.to_owned(),
            reason: error.to_string(),
        })?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    case_dirs.sort();
    if case_dirs.is_empty() {
        return Err(CaseSetupError::Invalid {
            path: cases_dir.to_owned(),
            reason: "no case folders".into(),
        });
    }
    let mut reports = Vec::new();
    for dir in case_dirs {
        reports.push(run_case(&engine, &plugin, &target_file, &dir).await?);
    }
    Ok(reports)
}

async fn run_case(
    engine: &Arc<SandboxEngine>,
    plugin: &Arc<LoadedPlugin>,
    target_file: &TargetFile,
    dir: &Path,
) -> Result<CaseReport, CaseSetupError> {
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let exchanges_path = dir.join("exchanges.json");
    let exchanges: Vec<Exchange> = if exchanges_path.exists() {
        read_json(&exchanges_path)?
    } else {
        Vec::new()
    };
    let answers = exchanges
        .iter()
        .enumerate()
        .map(|(index, exchange)| {
            answer_from(&exchange.response).map_err(|reason| CaseSetupError::Invalid {
                path: exchanges_path.clone(),
                reason: format!("exchange {}: {reason}", index + 1),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let replay = Arc::new(Replay::sequence(answers));

    let mut target = BoundTarget::new("plugin-test");
    target.granted = plugin.package.manifest.capabilities.clone();
    target.settings = target_file.settings.clone();
    target.amqp_routing_keys = target_file.routing_keys.clone();
    target.limits = target_file.limits.unwrap_or_default();
    target.transports = TargetTransports {
        http: Some(replay.clone()),
        amqp: Some(replay.clone()),
        files: Some(replay.clone()),
    };
    let call = PluginCall::bind(engine.clone(), plugin.clone(), Arc::new(target)).map_err(|error| {
        CaseSetupError::Invalid {
            path: dir.to_owned(),
            reason: error.to_string(),
        }
    })?;

    let actual = if dir.join("inbound.json").exists() {
        let file: InboundFile = read_json(&dir.join("inbound.json"))?;
        let inbound = Inbound {
            source: file.source,
            correlation_id: file.correlation_id,
            name: file.name,
            content_type: file.content_type,
            headers: Vec::new(),
            body: body_bytes(&file.body),
        };
        match call.on_inbound(&inbound).await {
            Ok(feedback) => json!({ "feedback": feedback }),
            Err(error) => error_json(error),
        }
    } else {
        let file: OrderFile = read_json(&dir.join("order.json"))?;
        let manifest = &plugin.package.manifest;
        let order = PluginOrder {
            id: file.id.unwrap_or_else(|| format!("case-{name}")),
            business_line: file
                .business_line
                .or_else(|| manifest.business_lines.first().cloned())
                .unwrap_or_default(),
            schema_version: file.schema_version.unwrap_or(1),
            payload: file.payload.to_string(),
            attempt: file.attempt.unwrap_or(1),
            idempotency_key: file.idempotency_key.unwrap_or_else(|| format!("idem-{name}")),
            customer: file.customer.unwrap_or_else(|| "test-customer".into()),
        };
        match call.submit(&order).await {
            Ok(outcome) => json!({ "outcome": outcome }),
            Err(error) => error_json(error),
        }
    };

    let mut mismatches = Vec::new();
    let calls = replay.calls();
    for (index, exchange) in exchanges.iter().enumerate() {
        match calls.get(index) {
            Some(call) => {
                let seen = call_json(call);
                let shown = project(&exchange.request, &seen);
                if shown != exchange.request {
                    mismatches.push(format!(
                        "request {} differs:\n{}",
                        index + 1,
                        diff(&exchange.request, &shown)
                    ));
                }
            }
            None => mismatches.push(format!(
                "request {} was never made; expected:\n{}",
                index + 1,
                pretty(&exchange.request)
            )),
        }
    }
    for (index, call) in calls.iter().enumerate().skip(exchanges.len()) {
        mismatches.push(format!(
            "unexpected request {}:\n{}",
            index + 1,
            pretty(&call_json(call))
        ));
    }
    let expected: Value = read_json(&dir.join("expected.json"))?;
    let actual_shown = match (&expected.get("error"), &actual.get("error")) {
        (Some(Value::String(want)), Some(Value::String(have))) if have.contains(want.as_str()) => expected.clone(),
        _ => actual,
    };
    if actual_shown != expected {
        mismatches.push(format!("result differs:\n{}", diff(&expected, &actual_shown)));
    }
    Ok(CaseReport { name, mismatches })
}

fn error_json(error: CallError) -> Value {
    match error {
        CallError::Failed(failure) => json!({ "failure": failure }),
        other => json!({ "error": other.to_string() }),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CaseSetupError> {
    let text = std::fs::read_to_string(path).map_err(|error| CaseSetupError::Read {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|error| CaseSetupError::Invalid {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// A JSON body as bytes: strings as they are, anything else as JSON text.
fn body_bytes(body: &Value) -> Vec<u8> {
    match body {
        Value::String(text) => text.clone().into_bytes(),
        Value::Null => Vec::new(),
        other => other.to_string().into_bytes(),
    }
}

/// Bytes as the most readable JSON: parsed JSON, else text, else base64-ish hex.
fn body_json(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        return value;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({ "hex": hex::encode(bytes) }),
    }
}

fn headers_json(headers: &[(String, String)]) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), Value::String(value.clone())))
            .collect(),
    )
}

fn call_json(call: &RecordedCall) -> Value {
    match call {
        RecordedCall::Http(request) => json!({ "http": {
            "method": request.method.as_str(),
            "path": request.path,
            "headers": headers_json(&request.headers),
            "body": body_json(request.body.as_deref().unwrap_or_default()),
        }}),
        RecordedCall::Publish(message) => json!({ "publish": {
            "routing_key": message.routing_key,
            "content_type": message.content_type,
            "message_id": message.message_id,
            "correlation_id": message.correlation_id,
            "expect_reply": message.expect_reply,
            "headers": headers_json(&message.headers),
            "body": body_json(&message.body),
        }}),
        RecordedCall::Put { path, contents } => json!({ "put": { "path": path, "contents": body_json(contents) } }),
        RecordedCall::Get { path } => json!({ "get": { "path": path } }),
        RecordedCall::List { directory } => json!({ "list": { "directory": directory } }),
        RecordedCall::Rename { from, to } => json!({ "rename": { "from": from, "to": to } }),
        RecordedCall::Remove { path } => json!({ "remove": { "path": path } }),
    }
}

fn answer_from(response: &Value) -> Result<Answer, String> {
    if response == "done" {
        return Ok(Answer::Done);
    }
    let Value::Object(fields) = response else {
        return Err("a response is \"done\" or an object".into());
    };
    if let Some(error) = fields.get("error") {
        let error: TransportError = serde_json::from_value(error.clone()).map_err(|error| error.to_string())?;
        return Ok(Answer::Fail(error));
    }
    if let Some(contents) = fields.get("contents") {
        return Ok(Answer::Contents(body_bytes(contents)));
    }
    if let Some(listing) = fields.get("listing") {
        let entries: Vec<FileEntry> = serde_json::from_value(listing.clone()).map_err(|error| error.to_string())?;
        return Ok(Answer::Listing(entries));
    }
    let status = fields
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .ok_or("an HTTP response needs a numeric `status`")?;
    let headers = match fields.get("headers") {
        Some(Value::Object(headers)) => headers
            .iter()
            .map(|(name, value)| {
                (
                    name.clone(),
                    value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string()),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Answer::Http(HttpResponse {
        status,
        headers,
        body: fields.get("body").map(body_bytes).unwrap_or_default(),
    }))
}

/// The actual value seen the way the expectation is written: objects keep
/// only the keys the expectation names under `headers` (subset match);
/// everything else is compared whole.
fn project(expected: &Value, actual: &Value) -> Value {
    project_at(expected, actual, false)
}

fn project_at(expected: &Value, actual: &Value, subset: bool) -> Value {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            let mut shown = serde_json::Map::new();
            for (key, value) in have {
                match want.get(key) {
                    Some(wanted) if key == "headers" => {
                        shown.insert(key.clone(), project_at(wanted, value, true));
                    }
                    Some(wanted) if key != "body" && key != "contents" => {
                        shown.insert(key.clone(), project_at(wanted, value, subset));
                    }
                    Some(_) => {
                        shown.insert(key.clone(), value.clone());
                    }
                    None if subset => {}
                    None => {
                        shown.insert(key.clone(), value.clone());
                    }
                }
            }
            Value::Object(shown)
        }
        _ => actual.clone(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A unified diff of the pretty-printed JSON, expected (-) against actual (+).
pub fn diff(expected: &Value, actual: &Value) -> String {
    let expected = pretty(expected) + "\n";
    let actual = pretty(actual) + "\n";
    similar::TextDiff::from_lines(&expected, &actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_compare_as_a_subset_and_bodies_whole() {
        let expected = json!({"http": {"method": "POST", "headers": {"idempotency-key": "k"}, "body": {"a": 1}}});
        let actual = json!({"http": {"method": "POST", "path": "x", "headers": {"idempotency-key": "k", "accept": "*/*"}, "body": {"a": 1, "b": 2}}});
        let shown = project(&expected, &actual);
        assert_eq!(shown["http"]["headers"], json!({"idempotency-key": "k"}));
        assert_eq!(shown["http"]["body"], json!({"a": 1, "b": 2}));
        assert_eq!(
            shown["http"]["path"], "x",
            "keys the expectation omits outside headers still show"
        );
    }

    #[test]
    fn a_diff_marks_expected_and_actual_lines() {
        let text = diff(&json!({"status": "CONFIRMED"}), &json!({"status": "REJECTED"}));
        assert!(text.contains("--- expected\n+++ actual"), "{text}");
        assert!(text.contains("-  \"status\": \"CONFIRMED\""), "{text}");
        assert!(text.contains("+  \"status\": \"REJECTED\""), "{text}");
    }
}
