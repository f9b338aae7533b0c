//! Fuzzing the edge: arbitrary topics through the topic parser, arbitrary
//! bytes and device-like JSON through every payload decoder, and whatever
//! decodes through a hall of the example configuration. Nothing may panic;
//! every refusal names a reason and says why; a refused input changes
//! nothing a screen or a manager sees.
//!
//! `HALLWATCH_FUZZ_CASES` sets the cases per target (default 2,000, a few
//! seconds; the README gives the figure of a long run):
//!
//! ```sh
//! HALLWATCH_FUZZ_CASES=1000000 cargo test --release --test fuzz
//! ```

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use hallwatch::config::Settings;
use hallwatch::domain::{Hall, Reason};
use hallwatch::mqtt::payload::{decode, device_time, peek_id};
use hallwatch::mqtt::topic;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

fn cases() -> u32 {
    std::env::var("HALLWATCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Topic-shaped strings: mostly the right levels with good and bad parts.
fn topics() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("jl-center".to_owned()),
        Just("jl-town".to_owned()),
        Just("k1".to_owned()),
        Just("05".to_owned()),
        Just("w05".to_owned()),
        "[A-Za-z0-9_-]{0,40}",
        "\\PC{0,12}",
        Just(String::new()),
        Just("+".to_owned()),
        Just("#".to_owned()),
    ];
    let kind = prop_oneof![
        Just("kiosk"),
        Just("window"),
        Just("rater"),
        Just("device"),
        Just("alert"),
        Just(""),
    ];
    let leaf = prop_oneof![
        Just("request"),
        Just("command"),
        Just("rating"),
        Just("status"),
        Just("reply"),
        Just("state"),
    ];
    prop_oneof![
        3 => (part.clone(), kind, part.clone(), leaf)
            .prop_map(|(h, k, d, l)| format!("hallwatch/{h}/{k}/{d}/{l}")),
        1 => "\\PC{0,80}",
        1 => prop::collection::vec(part, 0..8).prop_map(|p| format!("hallwatch/{}", p.join("/"))),
    ]
}

/// JSON values devices might send, right and wrong.
fn values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-10i64..10).prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "SB",
            "GA",
            "ZH",
            "XX",
            "B001",
            "A001",
            "login",
            "logout",
            "pause",
            "resume",
            "call_next",
            "call",
            "recall",
            "start",
            "no_show",
            "finish",
            "transfer",
            "completed",
            "accepted",
            "rejected",
            "consulted",
            "normal",
            "elderly",
            "appointment",
            "green",
            "break",
            "S001",
            "2026-11-22T09:00:01+08:00",
            "",
        ])
        .prop_map(|s| json!(s)),
        "\\PC{0,40}".prop_map(|s| json!(s)),
        "[A-Za-z0-9_-]{0,70}".prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Device-like objects: the contract's field names with any values.
fn objects() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        "id",
        "op",
        "service",
        "priority",
        "appointment",
        "ticket",
        "score",
        "comment",
        "staff",
        "staff_name",
        "reason",
        "outcome",
        "case",
        "to_service",
        "at",
        "online",
    ]);
    prop::collection::btree_map(name, values(), 0..8).prop_map(|m| {
        let obj: serde_json::Map<String, Value> =
            m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        serde_json::to_vec(&Value::Object(obj)).unwrap_or_default()
    })
}

fn payloads() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => objects(),
        1 => prop::collection::vec(any::<u8>(), 0..6000),
        1 => "\\PC{0,200}".prop_map(String::into_bytes),
    ]
}

/// Valid messages of the contract (for the example county centre), each
/// maybe with one field changed or removed: what a buggy or hostile device
/// most likely sends, and the path into the hall.
fn near_valid() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    let kiosk = "hallwatch/jl-center/kiosk/k1/request";
    let w01 = "hallwatch/jl-center/window/01/command";
    let w03 = "hallwatch/jl-center/window/03/command";
    let templates: Vec<(&'static str, Value)> = vec![
        (kiosk, json!({"service": "SB"})),
        (kiosk, json!({"service": "ZH", "priority": "elderly"})),
        (
            kiosk,
            json!({"service": "GA", "priority": "appointment", "appointment": "YY1"}),
        ),
        (
            w01,
            json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
        ),
        (w03, json!({"op": "login", "staff": "S003"})),
        (w01, json!({"op": "call_next"})),
        (w03, json!({"op": "call_next"})),
        (w01, json!({"op": "call", "ticket": "B001"})),
        (w01, json!({"op": "recall"})),
        (w01, json!({"op": "start"})),
        (w03, json!({"op": "start"})),
        (w01, json!({"op": "no_show"})),
        (w01, json!({"op": "finish", "outcome": "completed"})),
        (
            w03,
            json!({"op": "finish", "outcome": "accepted", "case": {"ref": "C1", "item": "x", "promised_days": 5}}),
        ),
        (w01, json!({"op": "transfer", "to_service": "GA"})),
        (w01, json!({"op": "pause", "reason": "break"})),
        (w01, json!({"op": "resume"})),
        (w03, json!({"op": "logout"})),
        (
            "hallwatch/jl-center/rater/01/rating",
            json!({"score": 2, "comment": "慢"}),
        ),
        (
            "hallwatch/jl-center/rater/03/rating",
            json!({"ticket": "A001", "score": 5}),
        ),
        (
            "hallwatch/jl-center/device/w01/status",
            json!({"online": false}),
        ),
        (
            "hallwatch/jl-center/device/k1/status",
            json!({"online": true}),
        ),
    ];
    let field = prop::sample::select(vec![
        "id",
        "op",
        "service",
        "priority",
        "appointment",
        "ticket",
        "score",
        "staff",
        "outcome",
        "to_service",
        "reason",
        "case",
        "online",
    ]);
    (
        prop::sample::select(templates),
        0u32..4,
        field,
        values(),
        // Few ids, so redeliveries happen too.
        0u32..400,
    )
        .prop_map(|((topic, mut v), how, field, value, id)| {
            if !topic.contains("/device/") {
                v["id"] = json!(format!("fz-{id}"));
            }
            match how {
                1 => v[field] = value,
                2 => {
                    if let Some(o) = v.as_object_mut() {
                        o.remove(field);
                    }
                }
                _ => {}
            }
            (topic, serde_json::to_vec(&v).unwrap_or_default())
        })
}

#[test]
fn the_topic_parser_never_panics_and_says_why_it_refuses() {
    runner()
        .run(&topics(), |t| {
            if let Err(e) = topic::parse("hallwatch", &t) {
                prop_assert!(Reason::ALL.contains(&e.reason));
                prop_assert!(!e.detail.is_empty());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_decoders_never_panic_and_a_hall_takes_whatever_they_accept() {
    let settings = Settings::parse(hallwatch::EXAMPLE_CONFIG).expect("example configuration");
    let spec = settings.halls[0].clone();
    // Tuesday 2026-11-24 10:00 Beijing time: the county centre is open.
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
    let hall = std::cell::RefCell::new(Hall::new(Arc::clone(&spec), t0));
    let step = std::cell::Cell::new(0i64);
    let accepted_msgs = std::cell::Cell::new(0u32);
    let inbound = prop::sample::select(vec![
        "hallwatch/jl-center/kiosk/k1/request",
        "hallwatch/jl-center/window/01/command",
        "hallwatch/jl-center/window/03/command",
        "hallwatch/jl-center/rater/01/rating",
        "hallwatch/jl-center/device/w01/status",
        "hallwatch/jl-center/kiosk/k9/request",
        "hallwatch/jl-center/window/99/command",
    ]);
    let messages = prop_oneof![
        1 => (inbound, payloads()),
        2 => near_valid(),
    ];
    runner()
        .run(&messages, |(t, bytes)| {
            let inbound = topic::parse("hallwatch", t).expect("a valid topic");
            let _ = peek_id(&bytes);
            let _ = device_time(&bytes);
            match decode(&inbound, &bytes) {
                Err(r) => {
                    prop_assert!(Reason::ALL.contains(&r.reason));
                    prop_assert!(!r.detail.is_empty());
                }
                Ok(input) => {
                    step.set(step.get() + 1);
                    if !matches!(input, hallwatch::domain::Input::Presence { .. }) {
                        accepted_msgs.set(accepted_msgs.get() + 1);
                    }
                    // A minute per message: days roll over in a long run,
                    // and a day stays the size of a real one.
                    let now = t0 + Duration::seconds(60 * step.get());
                    let mut hall = hall.borrow_mut();
                    // What time alone changes happens first, so the
                    // comparison below sees only the input's doing.
                    hall.tick(now);
                    let before = hall.dashboard_snapshot(now);
                    let applied = hall.apply(&input, now);
                    let refused = applied.reply.as_ref().and_then(|r| r.refusal()).is_some();
                    if refused || applied.duplicate {
                        prop_assert_eq!(
                            hall.dashboard_snapshot(now),
                            before,
                            "a refused or repeated input changed the hall"
                        );
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "{} cases, {} decoded commands and tickets applied to the hall",
        cases(),
        accepted_msgs.get()
    );
    // The generator must reach the hall, or the test proves little.
    assert!(
        accepted_msgs.get() >= cases() / 50,
        "only {} of {} cases decoded to a command or ticket",
        accepted_msgs.get(),
        cases()
    );
}
