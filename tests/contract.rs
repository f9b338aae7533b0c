//! What is generated from the code is what the repository holds: the MQTT
//! payloads' JSON Schemas, the OpenAPI document, and the lists of rules and
//! reason codes in the docs and the example configuration.

use std::path::Path;

#[test]
fn the_committed_contracts_are_what_the_code_generates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = hallwatch::contract::generate(root).expect("generate");
    assert!(files.len() >= 14, "{} files generated", files.len());
    let stale: Vec<String> = files
        .iter()
        .filter(|g| {
            std::fs::read_to_string(root.join(&g.path)).ok().as_deref() != Some(g.text.as_str())
        })
        .map(|g| g.path.display().to_string())
        .collect();
    assert!(
        stale.is_empty(),
        "these files differ from what the code generates: {stale:?}; run `cargo run -- schemas --out .` and commit the result"
    );
}

#[test]
fn every_payload_schema_is_generated_and_none_is_left_over() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated: Vec<String> = hallwatch::mqtt::wire::schemas()
        .into_iter()
        .map(|(name, _)| format!("{name}.json"))
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(root.join("mqtt/schemas"))
        .expect("mqtt/schemas")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut expected = generated.clone();
    expected.sort();
    assert_eq!(on_disk, expected, "a schema file no payload type generates");
}

#[test]
fn the_generated_schemas_refuse_what_the_contract_refuses() {
    let schemas: std::collections::BTreeMap<&str, serde_json::Value> =
        hallwatch::mqtt::wire::schemas().into_iter().collect();
    let check = |name: &str, v: serde_json::Value| {
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schemas[name])
            .expect("a valid schema")
            .is_valid(&v)
    };
    let call = serde_json::json!({"type": "call", "ticket": "B023", "window": "05", "window_name": "5号窗口",
        "service": "SB", "service_name": "社会保障", "at": "2026-11-22T09:03:00+08:00", "recall": false,
        "appointment": false});
    assert!(check("call", call.clone()));
    let mut wrong = call.clone();
    wrong["ticket"] = "b23".into();
    assert!(!check("call", wrong), "a malformed ticket number");
    let mut wrong = call;
    wrong["at"] = "yesterday".into();
    assert!(!check("call", wrong), "a time that is not RFC 3339");
    assert!(!check(
        "window-command",
        serde_json::json!({"id": "w1", "op": "dance"})
    ));
    assert!(!check(
        "kiosk-request",
        serde_json::json!({"id": "k1", "service": "SB", "priority": "appointment"})
    ));
}
