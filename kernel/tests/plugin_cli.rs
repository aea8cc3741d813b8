//! `hub plugin check` and `hub plugin test`, run as a user runs them: the
//! real binary on the reference plugin and its recorded cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{hub, repo, stdout};

#[test]
fn check_describes_a_loadable_plugin() {
    let output = hub(&["plugin", "check", "plugins/dist/rest-json/1.0.0/rest_json.wasm"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("plugin          rest-json 1.0.0"), "{text}");
    assert!(
        text.contains("wit             hub:plugin 1.0.0 (this hub implements 1.0.0)"),
        "{text}"
    );
    assert!(text.contains("exports         hub:plugin/handler@1.0.0"), "{text}");
    assert!(text.contains("declares        http, config, log"), "{text}");
    assert!(text.ends_with("ok\n"), "{text}");
}

#[test]
fn check_refuses_another_wit_major_with_exit_code_1() {
    let output = hub(&["plugin", "check", "plugins/dist-testing/future-wit/2.0.0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("was built against hub:plugin 2.0.0, but this hub implements 1.0.0"));
}

#[test]
fn the_reference_plugin_passes_its_recorded_cases() {
    let output = hub(&[
        "plugin",
        "test",
        "plugins/dist/rest-json/1.0.0",
        "plugins/rest-json/cases",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("  ok    booked\n"), "{text}");
    assert!(text.contains("  ok    callback-confirmed\n"), "{text}");
    assert!(text.ends_with("14 passed, 0 failed\n"), "{text}");
}

#[test]
fn a_deliberately_wrong_case_fails_with_a_readable_diff() {
    let cases = std::env::temp_dir().join(format!("hub-wrong-cases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cases);
    let booked = cases.join("booked");
    std::fs::create_dir_all(&booked).unwrap();
    let source = repo().join("plugins/rest-json/cases/booked");
    for file in ["order.json", "exchanges.json"] {
        std::fs::copy(source.join(file), booked.join(file)).unwrap();
    }
    let expected = std::fs::read_to_string(source.join("expected.json"))
        .unwrap()
        .replace("FO-2026-000123", "FO-WRONG");
    std::fs::write(booked.join("expected.json"), expected).unwrap();

    let output = hub(&[
        "plugin",
        "test",
        "plugins/dist/rest-json/1.0.0",
        cases.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&cases).unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("  FAIL  booked\n        result differs:\n        --- expected\n        +++ actual"),
        "{text}"
    );
    assert!(text.contains("-    \"ops_ref\": \"FO-WRONG\""), "{text}");
    assert!(text.contains("+    \"ops_ref\": \"FO-2026-000123\""), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
}

#[test]
fn the_sdk_guides_worked_example_is_the_plugin_that_is_built_and_tested() {
    let guide = std::fs::read_to_string(repo().join("plugin-sdk/README.md")).unwrap();
    let source = std::fs::read_to_string(repo().join("plugins/warehouse-rest/src/lib.rs")).unwrap();
    assert!(
        guide.contains(&source),
        "plugin-sdk/README.md must quote plugins/warehouse-rest/src/lib.rs verbatim"
    );
    let output = hub(&[
        "plugin",
        "test",
        "plugins/dist/warehouse-rest/0.1.0",
        "plugins/warehouse-rest/cases",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}
