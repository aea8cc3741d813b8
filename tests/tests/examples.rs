//! Every example in `examples/orders/<line>/` normalizes to its canonical
//! form: `NAME.input.json` (as a customer sends it) against
//! `NAME.expected.json` (`outcome`, `normalized`, `problems`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a panic

mod common;

use serde_json::Value;

#[test]
fn every_example_pair_normalizes_as_expected() {
    let schemas = common::schemas();
    let root = common::repo_root().join("examples/orders");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut lines_seen = std::collections::BTreeSet::new();
    for line_dir in std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
    {
        let line = line_dir.file_name().unwrap().to_str().unwrap().to_owned();
        let schema = schemas
            .latest(&line)
            .unwrap_or_else(|| panic!("examples for unknown line {line}"));
        for input_path in std::fs::read_dir(&line_dir).unwrap().map(|e| e.unwrap().path()) {
            let Some(name) = input_path.to_str().unwrap().strip_suffix(".input.json") else {
                continue;
            };
            let read = |p: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
            let input = read(input_path.to_str().unwrap());
            let expected = read(&format!("{name}.expected.json"));
            let verdict = hub_kernel::validate::check(&schema, input);
            let got_problems: Vec<(String, String)> = verdict
                .problems
                .iter()
                .map(|p| (p.pointer.clone(), p.code.clone()))
                .collect();
            let mut want_problems: Vec<(String, String)> = expected["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["pointer"].as_str().unwrap().to_owned(),
                        p["code"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            want_problems.sort();
            let outcome = serde_json::to_value(verdict.outcome).unwrap();
            if outcome != expected["outcome"]
                || got_problems != want_problems
                || verdict.normalized != expected["normalized"]
            {
                failures.push(format!(
                    "{name}:\n  outcome  {outcome} (want {})\n  problems {got_problems:?}\n  want     {want_problems:?}\n  normalized {}\n  want       {}",
                    expected["outcome"],
                    verdict.normalized,
                    expected["normalized"]
                ));
            }
            // Idempotence: the canonical form normalizes to itself.
            let again = hub_kernel::validate::check(&schema, verdict.normalized.clone());
            assert_eq!(
                again.normalized, verdict.normalized,
                "{name}: normalization is not idempotent"
            );
            lines_seen.insert(line.clone());
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} examples differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(lines_seen.len(), 5, "examples for every line: {lines_seen:?}");
    assert!(checked >= 10, "only {checked} examples");
}
