//! Business-line schemas: loading, checking, and looking them up.
//!
//! A schema is checked completely at start-up so that a mistake in one
//! surfaces before the first order, with the file, the JSON Pointer of the
//! bad place and the reason — never as a surprise at runtime.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::normalize::NormalizationRules;

/// One mistake in one schema file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {reason}", location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default())]
pub struct SchemaError {
    pub file: PathBuf,
    /// JSON Pointer, or `line L, column C` for syntax errors; `None` for the whole file.
    pub location: Option<String>,
    pub reason: String,
}

/// Every mistake found while loading a schema directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SchemaErrors(pub Vec<SchemaError>);

impl fmt::Display for SchemaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s) in the business-line schemas:", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

/// One version of one business line's schema, compiled.
pub struct LineSchema {
    pub line: String,
    pub version: u32,
    pub title: String,
    /// The parsed schema document (keys in no particular order).
    pub document: Value,
    /// The file's text exactly as its author wrote it, served to portals:
    /// forms show fields in the author's order, which the parsed `document`
    /// does not keep.
    pub source: std::sync::Arc<str>,
    pub(crate) validator: jsonschema::Validator,
    pub(crate) rules: NormalizationRules,
}

impl fmt::Debug for LineSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineSchema")
            .field("line", &self.line)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// All business lines the hub knows, each with all its schema versions.
#[derive(Debug, Default, Clone)]
pub struct SchemaRegistry {
    lines: BTreeMap<String, BTreeMap<u32, Arc<LineSchema>>>,
}

impl SchemaRegistry {
    /// Loads every `<line>.v<N>.json` in `dir`. Other files (README.md) are ignored.
    pub fn load_dir(dir: &Path) -> Result<Self, SchemaErrors> {
        let whole = |reason: String| {
            SchemaErrors(vec![SchemaError {
                file: dir.to_owned(),
                location: None,
                reason,
            }])
        };
        let entries = std::fs::read_dir(dir).map_err(|e| whole(format!("cannot read schema directory: {e}")))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(whole("no schema files (<line>.v<N>.json) found".into()));
        }
        let mut registry = SchemaRegistry::default();
        let mut errors = Vec::new();
        for file in files {
            let loaded = std::fs::read(&file)
                .map_err(|e| {
                    vec![SchemaError {
                        file: file.clone(),
                        location: None,
                        reason: format!("cannot read: {e}"),
                    }]
                })
                .and_then(|bytes| LineSchema::from_bytes(&file, &bytes));
            match loaded {
                Ok(schema) => registry.insert(schema),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(registry)
        } else {
            Err(SchemaErrors(errors))
        }
    }

    pub fn insert(&mut self, schema: LineSchema) {
        self.lines
            .entry(schema.line.clone())
            .or_default()
            .insert(schema.version, Arc::new(schema));
    }

    /// The newest version of `line`, used for new orders.
    pub fn latest(&self, line: &str) -> Option<Arc<LineSchema>> {
        self.lines.get(line)?.values().next_back().cloned()
    }

    pub fn version(&self, line: &str, version: u32) -> Option<Arc<LineSchema>> {
        self.lines.get(line)?.get(&version).cloned()
    }

    /// Every line with its newest schema.
    pub fn lines(&self) -> impl Iterator<Item = Arc<LineSchema>> + '_ {
        self.lines
            .values()
            .filter_map(|versions| versions.values().next_back().cloned())
    }

    pub fn versions(&self, line: &str) -> Vec<u32> {
        self.lines
            .get(line)
            .map(|v| v.keys().copied().collect())
            .unwrap_or_default()
    }
}

impl LineSchema {
    /// Parses and checks one schema file. `path` names the file in errors and
    /// gives the line and version through its name.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, Vec<SchemaError>> {
        let error = |location: Option<String>, reason: String| SchemaError {
            file: path.to_owned(),
            location,
            reason,
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (file_line, file_version) = parse_file_name(name).ok_or_else(|| {
            vec![error(
                None,
                "file name must be <line>.v<N>.json, e.g. freight-booking.v1.json".into(),
            )]
        })?;
        let document: Value = serde_json::from_slice(bytes).map_err(|e| {
            vec![error(
                Some(format!("line {}, column {}", e.line(), e.column())),
                format!("not valid JSON: {e}"),
            )]
        })?;
        if !document.is_object() {
            return Err(vec![error(
                Some(String::new()),
                "a schema must be a JSON object".into(),
            )]);
        }
        let mut errors = Vec::new();
        match document.get("$schema").and_then(Value::as_str) {
            None | Some("https://json-schema.org/draft/2020-12/schema") => {}
            Some(other) => errors.push(error(
                Some("/$schema".into()),
                format!("'{other}' is not JSON Schema 2020-12 (https://json-schema.org/draft/2020-12/schema)"),
            )),
        }
        if let Err(e) = jsonschema::draft202012::meta::validate(&document) {
            errors.push(error(
                Some(e.instance_path().as_str().to_owned()),
                format!("not a valid JSON Schema 2020-12: {e}"),
            ));
        }
        match document.get("x-hub-line") {
            Some(Value::String(line)) if line == file_line => {}
            Some(Value::String(line)) => errors.push(error(
                Some("/x-hub-line".into()),
                format!("'{line}' does not match the file name's line '{file_line}'"),
            )),
            _ => errors.push(error(
                Some("/x-hub-line".into()),
                "required: the business line id as a string".into(),
            )),
        }
        match document.get("x-hub-version").and_then(Value::as_u64) {
            Some(v) if v == u64::from(file_version) => {}
            Some(v) => errors.push(error(
                Some("/x-hub-version".into()),
                format!("{v} does not match the file name's version {file_version}"),
            )),
            None => errors.push(error(
                Some("/x-hub-version".into()),
                "required: the schema version as an integer".into(),
            )),
        }
        let rules = NormalizationRules::from_schema(&document).map_err(|rule_errors| {
            rule_errors
                .into_iter()
                .map(|e| error(Some(e.pointer), e.reason))
                .collect::<Vec<_>>()
        });
        let rules = match rules {
            Ok(r) => Some(r),
            Err(mut e) => {
                errors.append(&mut e);
                None
            }
        };
        let validator = match jsonschema::draft202012::options()
            .should_validate_formats(false)
            .build(&document)
        {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(error(
                    Some(e.instance_path().as_str().to_owned()),
                    format!("cannot compile: {e}"),
                ));
                None
            }
        };
        match (rules, validator) {
            (Some(rules), Some(validator)) if errors.is_empty() => Ok(LineSchema {
                line: file_line.to_owned(),
                version: file_version,
                title: document
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or(file_line)
                    .to_owned(),
                document,
                source: String::from_utf8_lossy(bytes).into(),
                validator,
                rules,
            }),
            _ => Err(errors),
        }
    }
}

/// `freight-booking.v1.json` → `("freight-booking", 1)`.
fn parse_file_name(name: &str) -> Option<(&str, u32)> {
    let stem = name.strip_suffix(".json")?;
    let (line, version) = stem.rsplit_once(".v")?;
    let valid_line = !line.is_empty()
        && line
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let version: u32 = version.parse().ok().filter(|v| *v >= 1)?;
    valid_line.then_some((line, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(name: &str, doc: &str) -> Result<LineSchema, Vec<SchemaError>> {
        LineSchema::from_bytes(Path::new(name), doc.as_bytes())
    }

    #[test]
    fn accepts_a_minimal_schema() {
        let doc = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "x-hub-line": "demo", "x-hub-version": 2, "type": "object"});
        let schema = load("demo.v2.json", &doc.to_string()).unwrap();
        assert_eq!((schema.line.as_str(), schema.version), ("demo", 2));
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let errors = load("demo.v1.json", "{\n  \"type\": \"object\",\n  oops\n}").unwrap_err();
        assert_eq!(errors[0].location.as_deref(), Some("line 3, column 3"));
        assert!(
            errors[0]
                .to_string()
                .starts_with("demo.v1.json at line 3, column 3: not valid JSON")
        );
    }

    #[test]
    fn reports_every_mistake_with_its_place() {
        let doc = json!({
            "x-hub-line": "other", "type": "object",
            "properties": {"a": {"type": "strnig"}, "b": {"x-hub-unknown": 1}}
        });
        let errors = load("demo.v1.json", &doc.to_string()).unwrap_err();
        let locations: Vec<_> = errors.iter().filter_map(|e| e.location.clone()).collect();
        for expected in ["/x-hub-line", "/x-hub-version", "/properties/b/x-hub-unknown"] {
            assert!(
                locations.iter().any(|l| l == expected),
                "{expected} missing in {errors:?}"
            );
        }
        assert!(
            errors.iter().any(|e| e.reason.contains("not a valid JSON Schema")),
            "{errors:?}"
        );
    }

    #[test]
    fn refuses_bad_file_names_and_other_drafts() {
        assert!(load("demo.json", "{}").is_err());
        let doc =
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "x-hub-line": "demo", "x-hub-version": 1});
        let errors = load("demo.v1.json", &doc.to_string()).unwrap_err();
        assert_eq!(errors[0].location.as_deref(), Some("/$schema"));
    }
}
