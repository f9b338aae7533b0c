//! Decoding device payloads (every op and field, every refusal with its exact
//! reason), the reply JSON, and properties over arbitrary bytes and objects.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::domain::{DeviceId, Outcome, PauseReason, Priority, Refusal, StaffId, WindowId};
use crate::mqtt::topic::{self, Inbound};

fn kiosk() -> Inbound {
    topic::parse("hallwatch", "hallwatch/jl-center/kiosk/k1/request").unwrap()
}
fn window() -> Inbound {
    topic::parse("hallwatch", "hallwatch/jl-center/window/05/command").unwrap()
}
fn rater() -> Inbound {
    topic::parse("hallwatch", "hallwatch/jl-center/rater/05/rating").unwrap()
}
fn status() -> Inbound {
    topic::parse("hallwatch", "hallwatch/jl-center/device/w05/status").unwrap()
}
fn all_topics() -> [Inbound; 4] {
    [kiosk(), window(), rater(), status()]
}

fn ok(inbound: &Inbound, v: serde_json::Value) -> Input {
    let bytes = serde_json::to_vec(&v).unwrap();
    decode(inbound, &bytes).unwrap_or_else(|r| panic!("{v} refused: {r:?}"))
}

fn refused(inbound: &Inbound, payload: &[u8]) -> Rejection {
    match decode(inbound, payload) {
        Ok(i) => panic!("{:?} accepted as {i:?}", String::from_utf8_lossy(payload)),
        Err(r) => r,
    }
}

/// Refused with `reason`, naming message id `msg_id`.
#[track_caller]
fn assert_refused(inbound: &Inbound, v: serde_json::Value, reason: Reason, msg_id: Option<&str>) {
    let r = refused(inbound, &serde_json::to_vec(&v).unwrap());
    assert_eq!(r.reason, reason, "{v}: {r:?}");
    assert_eq!(r.msg_id.as_deref(), msg_id, "{v}: {r:?}");
    assert!(!r.detail.is_empty());
}

fn msg(s: &str) -> MsgId {
    MsgId::parse(s).unwrap()
}

/// The op of a window command.
fn op(v: serde_json::Value) -> WindowOp {
    match ok(&window(), v) {
        Input::Window { window, op, .. } => {
            assert_eq!(window.as_str(), "05");
            op
        }
        other => panic!("not a window input: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Window commands

#[test]
fn login_decodes_with_staff_and_staff_name() {
    let input = ok(
        &window(),
        json!({"id": "w05-000040", "op": "login", "staff": "S001", "staff_name": "李敏",
               "at": "2026-11-22T08:58:00+08:00"}),
    );
    assert_eq!(
        input,
        Input::Window {
            window: WindowId::parse("05").unwrap(),
            id: msg("w05-000040"),
            op: WindowOp::Login {
                staff: StaffId::parse("S001").unwrap(),
                staff_name: Some("李敏".into()),
            },
        }
    );
    assert_eq!(input.msg_id(), Some(&msg("w05-000040")));
    assert_eq!(
        op(json!({"id": "1", "op": "login", "staff": "S001"})),
        WindowOp::Login {
            staff: StaffId::parse("S001").unwrap(),
            staff_name: None
        }
    );
    assert_eq!(
        op(json!({"id": "1", "op": "login", "staff": "S001", "staff_name": null})),
        WindowOp::Login {
            staff: StaffId::parse("S001").unwrap(),
            staff_name: None
        }
    );
}

#[test]
fn ops_without_fields_decode() {
    for (name, expected) in [
        ("logout", WindowOp::Logout),
        ("resume", WindowOp::Resume),
        ("call_next", WindowOp::CallNext),
        ("recall", WindowOp::Recall),
        ("start", WindowOp::Start),
        ("no_show", WindowOp::NoShow),
    ] {
        let got = op(json!({"id": "w05-1", "op": name}));
        assert_eq!(got, expected);
        assert_eq!(got.name(), name);
    }
}

#[test]
fn pause_decodes_each_reason() {
    for (name, reason) in [
        ("break", PauseReason::Break),
        ("meeting", PauseReason::Meeting),
        ("backoffice", PauseReason::Backoffice),
        ("other", PauseReason::Other),
    ] {
        assert_eq!(
            op(json!({"id": "w05-1", "op": "pause", "reason": name})),
            WindowOp::Pause { reason }
        );
    }
}

#[test]
fn call_decodes_its_ticket() {
    for t in ["B023", "GA1000", "BDC001"] {
        assert_eq!(
            op(json!({"id": "w05-1", "op": "call", "ticket": t})),
            WindowOp::Call {
                ticket: TicketNo::parse(t).unwrap()
            }
        );
    }
}

#[test]
fn finish_decodes_each_outcome_with_an_optional_case() {
    for (name, outcome) in [
        ("completed", Outcome::Completed),
        ("accepted", Outcome::Accepted),
        ("rejected", Outcome::Rejected),
        ("consulted", Outcome::Consulted),
    ] {
        assert_eq!(
            op(json!({"id": "w05-1", "op": "finish", "outcome": name})),
            WindowOp::Finish {
                outcome,
                case: None,
                items: 1,
            }
        );
    }
    assert_eq!(
        op(
            json!({"id": "w05-000048", "op": "finish", "outcome": "accepted",
                  "case": {"ref": "JL20261122000123", "item": "城乡居民养老保险参保登记", "promised_days": 5}})
        ),
        WindowOp::Finish {
            outcome: Outcome::Accepted,
            case: Some(CaseRef {
                reference: "JL20261122000123".into(),
                item: Some("城乡居民养老保险参保登记".into()),
                promised_days: Some(5),
            }),
            items: 1,
        }
    );
    assert_eq!(
        op(
            json!({"id": "1", "op": "finish", "outcome": "accepted", "case": {"ref": "R1", "extra": true}})
        ),
        WindowOp::Finish {
            outcome: Outcome::Accepted,
            case: Some(CaseRef {
                reference: "R1".into(),
                item: None,
                promised_days: None
            }),
            items: 1,
        }
    );
    assert_eq!(
        op(json!({"id": "1", "op": "finish", "outcome": "completed", "case": null})),
        WindowOp::Finish {
            outcome: Outcome::Completed,
            case: None,
            items: 1,
        }
    );
}

#[test]
fn transfer_decodes_its_target_service() {
    assert_eq!(
        op(json!({"id": "w05-000052", "op": "transfer", "to_service": "GA"})),
        WindowOp::Transfer {
            to_service: ServiceCode::parse("GA").unwrap()
        }
    );
}

// ---------------------------------------------------------------------------
// Kiosk requests, ratings, presence

#[test]
fn kiosk_requests_decode_each_priority_and_default_to_normal() {
    let request = |v| match ok(&kiosk(), v) {
        Input::Ticket { kiosk, id, request } => {
            assert_eq!(kiosk.as_str(), "k1");
            assert_eq!(id, msg("k1-000123"));
            request
        }
        other => panic!("not a ticket input: {other:?}"),
    };
    for (name, priority) in [
        ("normal", Priority::Normal),
        ("elderly", Priority::Elderly),
        ("disabled", Priority::Disabled),
        ("appointment", Priority::Appointment),
        ("green", Priority::Green),
    ] {
        let r = request(json!({"id": "k1-000123", "service": "SB", "priority": name}));
        assert_eq!(r.priority, priority);
        assert_eq!(r.service.as_str(), "SB");
    }
    let r = request(json!({"id": "k1-000123", "service": "SB"}));
    assert_eq!(
        r,
        TicketRequest {
            service: ServiceCode::parse("SB").unwrap(),
            priority: Priority::Normal,
            appointment: None,
            green_reason: None,
            issued_by: None,
            token: None,
        }
    );
    let r = request(
        json!({"id": "k1-000123", "service": "SB", "priority": null, "appointment": null,
                           "at": "2026-11-22T09:00:01+08:00"}),
    );
    assert_eq!(r.priority, Priority::Normal);
    let r = request(
        json!({"id": "k1-000123", "service": "SB", "priority": "appointment",
                           "appointment": "YY20261122-0031"}),
    );
    assert_eq!(r.appointment.as_deref(), Some("YY20261122-0031"));
}

#[test]
fn a_green_request_decodes_its_reason_and_who_issued_it() {
    match ok(
        &kiosk(),
        json!({"id": "k1-000125", "service": "SB", "priority": "green",
               "green_reason": "危重病人家属", "issued_by": "D01"}),
    ) {
        Input::Ticket { request, .. } => {
            assert_eq!(request.green_reason.as_deref(), Some("危重病人家属"));
            assert_eq!(request.issued_by, Some(StaffId::parse("D01").unwrap()));
        }
        other => panic!("not a ticket input: {other:?}"),
    }
    // Without them it decodes: the hall refuses it (green_reason_required).
    match ok(
        &kiosk(),
        json!({"id": "k1-000126", "service": "SB", "priority": "green"}),
    ) {
        Input::Ticket { request, .. } => {
            assert_eq!((request.green_reason, request.issued_by), (None, None));
        }
        other => panic!("not a ticket input: {other:?}"),
    }
    for bad in [
        json!({"id": "k1-1", "service": "SB", "priority": "green", "green_reason": 5, "issued_by": "D01"}),
        json!({"id": "k1-1", "service": "SB", "priority": "green", "green_reason": "x".repeat(101), "issued_by": "D01"}),
        json!({"id": "k1-1", "service": "SB", "priority": "green", "green_reason": "急\u{0}", "issued_by": "D01"}),
        json!({"id": "k1-1", "service": "SB", "priority": "green", "green_reason": "急", "issued_by": "张 三"}),
        json!({"id": "k1-1", "service": "SB", "priority": "green", "green_reason": crate::domain::UNRECORDED_REASON}),
    ] {
        assert_refused(&kiosk(), bad, Reason::BadRequest, Some("k1-1"));
    }
}

#[test]
fn ratings_decode_with_and_without_a_ticket() {
    assert_eq!(
        ok(
            &rater(),
            json!({"id": "r05-0009", "ticket": "B023", "score": 2, "comment": "等太久",
                   "at": "2026-11-22T09:32:05+08:00"})
        ),
        Input::Rating {
            window: WindowId::parse("05").unwrap(),
            id: msg("r05-0009"),
            rating: RatingInput::new(
                Some(TicketNo::parse("B023").unwrap()),
                2,
                Some("等太久".into())
            ),
        }
    );
    for score in 1..=5u8 {
        match ok(&rater(), json!({"id": "r05-0010", "score": score})) {
            Input::Rating { rating, .. } => assert_eq!(rating, RatingInput::new(None, score, None)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn device_status_decodes_online_true_and_false_without_an_id() {
    for online in [true, false] {
        assert_eq!(
            ok(&status(), json!({"online": online})),
            Input::Presence {
                device: DeviceId::parse("w05").unwrap(),
                online
            }
        );
    }
    let presence = ok(&status(), json!({"online": true, "id": 7, "extra": [1]}));
    assert_eq!(presence.msg_id(), None);
}

#[test]
fn unknown_fields_are_ignored_and_at_may_be_present() {
    let extra = json!({"vendor": {"fw": "1.2.3"}, "battery": 87, "tags": [1, "x", null]});
    let with = |mut v: serde_json::Value| {
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    assert_eq!(
        ok(
            &kiosk(),
            with(json!({"id": "k1-1", "service": "SB", "at": "2026-11-22T09:00:01+08:00"}))
        ),
        ok(&kiosk(), json!({"id": "k1-1", "service": "SB"}))
    );
    assert_eq!(
        ok(
            &window(),
            with(json!({"id": "w05-1", "op": "call_next", "at": "2026-11-22T09:03:00+08:00"}))
        ),
        ok(&window(), json!({"id": "w05-1", "op": "call_next"}))
    );
    assert_eq!(
        ok(
            &rater(),
            with(json!({"id": "r05-1", "score": 4, "at": null}))
        ),
        ok(&rater(), json!({"id": "r05-1", "score": 4}))
    );
    assert_eq!(
        ok(&status(), with(json!({"online": true, "at": "x"}))),
        ok(&status(), json!({"online": true}))
    );
}

// ---------------------------------------------------------------------------
// Refusals, each with its exact reason

/// A valid kiosk request padded to exactly `len` bytes.
fn padded_request(len: usize) -> Vec<u8> {
    let head = br#"{"id":"k1-000123","service":"SB","pad":""#;
    let tail = br#""}"#;
    let mut v = head.to_vec();
    v.resize(len - tail.len(), b'x');
    v.extend_from_slice(tail);
    assert_eq!(v.len(), len);
    v
}

#[test]
fn a_payload_over_4096_bytes_is_too_large_and_still_names_its_id() {
    let at_limit = padded_request(MAX_PAYLOAD);
    assert!(serde_json::from_slice::<serde_json::Value>(&at_limit).is_ok());
    assert!(decode(&kiosk(), &at_limit).is_ok(), "4096 bytes is allowed");

    let over = padded_request(MAX_PAYLOAD + 1);
    assert_eq!(over.len(), 4097);
    for inbound in all_topics() {
        let r = refused(&inbound, &over);
        assert_eq!(r.reason, Reason::TooLarge);
        assert_eq!(r.msg_id.as_deref(), Some("k1-000123"));
        assert!(r.detail.contains("4097"), "{r:?}");
    }

    let junk = vec![b'x'; 4097];
    let r = refused(&kiosk(), &junk);
    assert_eq!(r.reason, Reason::TooLarge);
    assert_eq!(r.msg_id, None);
}

#[test]
fn invalid_utf8_is_bad_json() {
    let payload = b"{\"id\": \"k1-\xff\xfe\", \"service\": \"SB\"}";
    for inbound in all_topics() {
        let r = refused(&inbound, payload);
        assert_eq!(r.reason, Reason::BadJson);
        assert_eq!(r.msg_id, None);
        assert!(r.detail.contains("UTF-8"), "{r:?}");
    }
}

#[test]
fn text_that_is_not_json_is_bad_json() {
    for payload in [
        &b""[..],
        b"hello",
        b"{\"id\": \"k1-1\",",
        b"{id: 'k1-1'}",
        b"\xef\xbb\xbf{}",
    ] {
        for inbound in all_topics() {
            let r = refused(&inbound, payload);
            assert_eq!(r.reason, Reason::BadJson, "{payload:?}");
            assert_eq!(r.msg_id, None);
        }
    }
}

#[test]
fn json_that_is_not_an_object_is_bad_json() {
    for payload in [
        &b"[1, 2]"[..],
        b"[{\"id\": \"k1-1\"}]",
        b"\"k1-1\"",
        b"42",
        b"null",
        b"true",
    ] {
        for inbound in all_topics() {
            let r = refused(&inbound, payload);
            assert_eq!(r.reason, Reason::BadJson, "{payload:?}");
            assert_eq!(r.msg_id, None);
        }
    }
}

#[test]
fn a_missing_or_malformed_id_is_a_bad_request_without_a_msg_id() {
    for inbound in [kiosk(), window(), rater()] {
        assert_refused(
            &inbound,
            json!({"service": "SB", "op": "call_next", "score": 5}),
            Reason::BadRequest,
            None,
        );
        assert_refused(
            &inbound,
            json!({"id": 123, "service": "SB"}),
            Reason::BadRequest,
            None,
        );
        assert_refused(
            &inbound,
            json!({"id": null, "service": "SB"}),
            Reason::BadRequest,
            None,
        );
        assert_refused(
            &inbound,
            json!({"id": ["k1-1"], "service": "SB"}),
            Reason::BadRequest,
            None,
        );
        assert_refused(
            &inbound,
            json!({"id": "", "service": "SB"}),
            Reason::BadRequest,
            None,
        );
        assert_refused(
            &inbound,
            json!({"id": "k1\n1", "service": "SB"}),
            Reason::BadRequest,
            None,
        );
        assert_refused(
            &inbound,
            json!({"id": "x".repeat(65), "service": "SB"}),
            Reason::BadRequest,
            None,
        );
    }
    // 64 characters, multi-byte, is still an id.
    assert!(
        decode(
            &kiosk(),
            json!({"id": "号".repeat(64), "service": "SB"})
                .to_string()
                .as_bytes()
        )
        .is_ok()
    );
}

#[test]
fn kiosk_request_refusals() {
    let k = kiosk();
    let id = Some("k1-1");
    assert_refused(&k, json!({"id": "k1-1"}), Reason::BadRequest, id);
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": null}),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": 7}),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": "SB", "priority": "vip"}),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": "SB", "priority": "Normal"}),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": "SB", "priority": 1}),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": "SB", "appointment": 5}),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": "SB", "priority": "appointment", "appointment": "x".repeat(65)}),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": "SB", "at": 1}),
        Reason::BadRequest,
        id,
    );
    // A code that no hall could have.
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": "S B"}),
        Reason::UnknownService,
        id,
    );
    assert_refused(
        &k,
        json!({"id": "k1-1", "service": ""}),
        Reason::UnknownService,
        id,
    );
    let r = refused(&k, br#"{"id": "k1-1", "service": "SB", "priority": "vip"}"#);
    assert!(
        r.detail.contains("priority") && r.detail.contains("vip"),
        "{r:?}"
    );
}

#[test]
fn window_command_refusals() {
    let w = window();
    let id = Some("w05-1");
    let cmd = |extra: serde_json::Value| {
        let mut v = json!({"id": "w05-1"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    assert_refused(&w, cmd(json!({"op": "dance"})), Reason::UnknownOp, id);
    assert_refused(&w, cmd(json!({"op": "CALL_NEXT"})), Reason::UnknownOp, id);
    assert_refused(&w, cmd(json!({"op": ""})), Reason::UnknownOp, id);
    assert_refused(&w, cmd(json!({})), Reason::BadRequest, id);
    assert_refused(&w, cmd(json!({"op": null})), Reason::BadRequest, id);
    assert_refused(&w, cmd(json!({"op": 3})), Reason::BadRequest, id);
    // login
    assert_refused(&w, cmd(json!({"op": "login"})), Reason::BadRequest, id);
    assert_refused(
        &w,
        cmd(json!({"op": "login", "staff": 1})),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &w,
        cmd(json!({"op": "login", "staff": "S 001"})),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &w,
        cmd(json!({"op": "login", "staff": "S001", "staff_name": "名".repeat(33)})),
        Reason::BadRequest,
        id,
    );
    assert!(
        decode(
            &w,
            cmd(json!({"op": "login", "staff": "S001", "staff_name": "名".repeat(32)}))
                .to_string()
                .as_bytes()
        )
        .is_ok()
    );
    // pause
    assert_refused(&w, cmd(json!({"op": "pause"})), Reason::BadRequest, id);
    assert_refused(
        &w,
        cmd(json!({"op": "pause", "reason": "lunch"})),
        Reason::BadRequest,
        id,
    );
    // call
    assert_refused(&w, cmd(json!({"op": "call"})), Reason::BadRequest, id);
    assert_refused(
        &w,
        cmd(json!({"op": "call", "ticket": 23})),
        Reason::BadRequest,
        id,
    );
    for bad in ["b023", "B23", "023", "B02x", "ABCD001", "B 023", ""] {
        assert_refused(
            &w,
            cmd(json!({"op": "call", "ticket": bad})),
            Reason::UnknownTicket,
            id,
        );
    }
    // finish
    assert_refused(&w, cmd(json!({"op": "finish"})), Reason::BadRequest, id);
    assert_refused(
        &w,
        cmd(json!({"op": "finish", "outcome": "done"})),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &w,
        cmd(json!({"op": "finish", "outcome": "accepted", "case": "R1"})),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &w,
        cmd(json!({"op": "finish", "outcome": "accepted", "case": {}})),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &w,
        cmd(json!({"op": "finish", "outcome": "accepted", "case": {"ref": 1}})),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &w,
        cmd(json!({"op": "finish", "outcome": "accepted", "case": {"ref": "x".repeat(129)}})),
        Reason::BadRequest,
        id,
    );
    for days in [json!(-1), json!(2.5), json!("5"), json!(u64::MAX)] {
        assert_refused(
            &w,
            cmd(
                json!({"op": "finish", "outcome": "accepted", "case": {"ref": "R1", "promised_days": days}}),
            ),
            Reason::BadRequest,
            id,
        );
    }
    // transfer
    assert_refused(&w, cmd(json!({"op": "transfer"})), Reason::BadRequest, id);
    assert_refused(
        &w,
        cmd(json!({"op": "transfer", "to_service": "G/A"})),
        Reason::UnknownService,
        id,
    );
}

#[test]
fn a_whole_number_written_as_5_0_is_the_score_5() {
    let input = decode(
        &rater(),
        json!({"id": "r05-1", "score": 5.0}).to_string().as_bytes(),
    )
    .unwrap();
    assert!(matches!(input, Input::Rating { rating, .. } if rating.score == 5));
}

#[test]
fn rating_refusals() {
    let r = rater();
    let id = Some("r05-1");
    for score in [
        json!(0),
        json!(6),
        json!(2.5),
        json!("5"),
        json!(-1),
        json!(null),
        json!(true),
    ] {
        assert_refused(
            &r,
            json!({"id": "r05-1", "score": score}),
            Reason::BadRequest,
            id,
        );
    }
    assert_refused(&r, json!({"id": "r05-1"}), Reason::BadRequest, id);
    assert_refused(
        &r,
        json!({"id": "r05-1", "score": 3, "ticket": "b23"}),
        Reason::UnknownTicket,
        id,
    );
    assert_refused(
        &r,
        json!({"id": "r05-1", "score": 3, "ticket": 23}),
        Reason::BadRequest,
        id,
    );
    assert_refused(
        &r,
        json!({"id": "r05-1", "score": 3, "comment": 1}),
        Reason::BadRequest,
        id,
    );
    let long = "差".repeat(501);
    assert!(long.len() < MAX_PAYLOAD);
    assert_refused(
        &r,
        json!({"id": "r05-1", "score": 3, "comment": long}),
        Reason::BadRequest,
        id,
    );
    let limit = "差".repeat(500);
    match ok(
        &r,
        json!({"id": "r05-1", "score": 3, "comment": limit.clone()}),
    ) {
        Input::Rating { rating, .. } => assert_eq!(rating.comment, Some(limit)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn status_refusals() {
    let s = status();
    assert_refused(&s, json!({}), Reason::BadRequest, None);
    assert_refused(&s, json!({"id": "w05-1"}), Reason::BadRequest, None);
    for online in [json!("true"), json!(1), json!(null)] {
        assert_refused(&s, json!({"online": online}), Reason::BadRequest, None);
    }
}

// ---------------------------------------------------------------------------
// Reply JSON

#[test]
fn a_kiosk_ticket_reply_carries_the_contract_fields_in_local_time() {
    let issued_at =
        Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 1).unwrap() + chrono::Duration::milliseconds(532);
    let reply = Reply::Ticket {
        ticket: TicketNo::parse("B023").unwrap(),
        service: ServiceCode::parse("SB").unwrap(),
        service_name: "社会保障".into(),
        waiting_ahead: 4,
        estimated_wait_s: 600,
        issued_at,
        token: Some(crate::domain::TicketToken::parse("7k2m9q4x8v1c3n5p6r").unwrap()),
        priority: Priority::Normal,
        appointment_note: None,
    };
    let v = reply_json_with(
        &kiosk().reply_to().unwrap(),
        Some("k1-000123"),
        &reply,
        chrono_tz::Asia::Shanghai,
        Some("https://q.example.gov.cn/t/"),
    );
    assert_eq!(
        v,
        json!({"request": "k1-000123", "ok": true, "ticket": "B023", "service": "SB",
               "service_name": "社会保障", "waiting_ahead": 4, "estimated_wait_s": 600,
               "issued_at": "2026-11-22T09:00:01.532+08:00", "token": "7k2m9q4x8v1c3n5p6r",
               "url": "https://q.example.gov.cn/t/7k2m9q4x8v1c3n5p6r", "priority": "normal"})
    );
    // Whole seconds still carry milliseconds; UTC is written as +00:00.
    let reply = Reply::Ticket {
        ticket: TicketNo::parse("B1000").unwrap(),
        service: ServiceCode::parse("SB").unwrap(),
        service_name: "社会保障".into(),
        waiting_ahead: 0,
        estimated_wait_s: 0,
        issued_at: Utc.with_ymd_and_hms(2026, 11, 22, 16, 30, 0).unwrap(),
        token: None,
        priority: Priority::Normal,
        appointment_note: Some("未查到预约号 X，已按普通号取号".into()),
    };
    let v = reply_json(
        &kiosk().reply_to().unwrap(),
        Some("k1-1"),
        &reply,
        chrono_tz::Asia::Shanghai,
    );
    assert_eq!(v["issued_at"], "2026-11-23T00:30:00.000+08:00");
    assert_eq!(v["ticket"], "B1000");
    // A reference that did not check in: a normal ticket, and why.
    assert_eq!(v["priority"], "normal");
    assert_eq!(v["appointment_note"], "未查到预约号 X，已按普通号取号");
    let v = reply_json(
        &kiosk().reply_to().unwrap(),
        Some("k1-1"),
        &reply,
        chrono_tz::UTC,
    );
    assert_eq!(v["issued_at"], "2026-11-22T16:30:00.000+00:00");
}

#[test]
fn a_window_refusal_has_command_ok_false_error_and_a_chinese_message() {
    let reply = Reply::Refused(Refusal::new(Reason::NoCurrentTicket));
    let v = reply_json(
        &window().reply_to().unwrap(),
        Some("w05-000046"),
        &reply,
        chrono_tz::Asia::Shanghai,
    );
    assert_eq!(
        v,
        json!({"command": "w05-000046", "ok": false, "error": "no_current_ticket",
               "message": "当前没有已呼叫的号码"})
    );
    let reply = Reply::Refused(Refusal::with(Reason::NotServable, "本窗口不能办理公安业务"));
    let v = reply_json(
        &window().reply_to().unwrap(),
        Some("w05-000062"),
        &reply,
        chrono_tz::Asia::Shanghai,
    );
    assert_eq!(v["error"], "not_servable");
    assert_eq!(v["message"], "本窗口不能办理公安业务");
}

#[test]
fn a_window_success_echoes_its_ticket_or_null() {
    let reply = Reply::Window {
        ticket: Some(TicketNo::parse("B023").unwrap()),
    };
    assert_eq!(
        reply_json(
            &window().reply_to().unwrap(),
            Some("w05-000045"),
            &reply,
            chrono_tz::Asia::Shanghai
        ),
        json!({"command": "w05-000045", "ok": true, "ticket": "B023"})
    );
    assert_eq!(
        reply_json(
            &window().reply_to().unwrap(),
            Some("w05-000045"),
            &Reply::Window { ticket: None },
            chrono_tz::Asia::Shanghai
        ),
        json!({"command": "w05-000045", "ok": true, "ticket": null})
    );
}

#[test]
fn a_rating_reply_names_the_rating() {
    let reply = Reply::Rating {
        ticket: TicketNo::parse("B023").unwrap(),
        score: 2,
    };
    assert_eq!(
        reply_json(
            &rater().reply_to().unwrap(),
            Some("r05-0009"),
            &reply,
            chrono_tz::Asia::Shanghai
        ),
        json!({"rating": "r05-0009", "ok": true, "ticket": "B023", "score": 2})
    );
    let reply = Reply::Refused(Refusal::new(Reason::AlreadyRated));
    assert_eq!(
        reply_json(
            &rater().reply_to().unwrap(),
            Some("r05-0010"),
            &reply,
            chrono_tz::Asia::Shanghai
        ),
        json!({"rating": "r05-0010", "ok": false, "error": "already_rated", "message": "该办件已评价"})
    );
}

#[test]
fn a_reply_without_a_readable_id_has_a_null_key() {
    let reply = Reply::Refused(Refusal::new(Reason::BadJson));
    let v = reply_json(
        &kiosk().reply_to().unwrap(),
        None,
        &reply,
        chrono_tz::Asia::Shanghai,
    );
    assert_eq!(
        v,
        json!({"request": null, "ok": false, "error": "bad_json", "message": "消息不是有效的 JSON 对象"})
    );
}

#[test]
fn a_rejection_is_answered_with_its_reason_and_msg_id() {
    let r = refused(&window(), br#"{"id": "w05-9", "op": "dance"}"#);
    let v = rejection_json(&window().reply_to().unwrap(), &r, "不支持的操作 dance");
    assert_eq!(
        v,
        json!({"command": "w05-9", "ok": false, "error": "unknown_op", "message": "不支持的操作 dance"})
    );
    let r = refused(&kiosk(), b"not json");
    let v = rejection_json(&kiosk().reply_to().unwrap(), &r, Reason::BadJson.message());
    assert_eq!(v["request"], serde_json::Value::Null);
    assert_eq!(v["error"], "bad_json");
}

#[test]
fn peek_id_reads_only_a_valid_string_id() {
    assert_eq!(peek_id(br#"{"id": "k1-1"}"#).as_deref(), Some("k1-1"));
    assert_eq!(peek_id(br#"{"id": 1}"#), None);
    assert_eq!(peek_id(br#"{"id": "a\nb"}"#), None);
    assert_eq!(peek_id(br#"["id"]"#), None);
    assert_eq!(peek_id(b"\xff"), None);
}

// ---------------------------------------------------------------------------
// Properties

const KEYS: [&str; 17] = [
    "id",
    "op",
    "service",
    "priority",
    "appointment",
    "score",
    "ticket",
    "comment",
    "staff",
    "staff_name",
    "reason",
    "outcome",
    "case",
    "to_service",
    "online",
    "at",
    "ref",
];

const WORDS: [&str; 24] = [
    "k1-1",
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
    "SB",
    "B023",
    "normal",
    "green",
    "appointment",
    "break",
    "accepted",
    "completed",
    "S001",
    "",
    "\u{0}",
    "号",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        (-2i64..8).prop_map(serde_json::Value::from),
        ".{0,80}".prop_map(serde_json::Value::from),
        prop::sample::select(&WORDS[..]).prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(prop::sample::select(&KEYS[..]), inner, 0..6).prop_map(
                |m| serde_json::Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )
            ),
        ]
    })
}

fn json_object() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    prop::collection::btree_map(prop::sample::select(&KEYS[..]), json_value(), 0..10)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..5000)) {
        for inbound in all_topics() {
            match decode(&inbound, &bytes) {
                Ok(_) => prop_assert!(bytes.len() <= MAX_PAYLOAD),
                Err(r) => prop_assert_eq!(r.reason == Reason::TooLarge, bytes.len() > MAX_PAYLOAD),
            }
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        for inbound in all_topics() {
            let _ = decode(&inbound, text.as_bytes());
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_objects_and_names_a_readable_id(obj in json_object()) {
        let bytes = serde_json::to_vec(&obj).unwrap();
        let readable_id = obj
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|s| MsgId::parse(s).ok());
        for inbound in all_topics() {
            let result = decode(&inbound, &bytes);
            if bytes.len() > MAX_PAYLOAD {
                prop_assert_eq!(result.as_ref().err().map(|r| r.reason), Some(Reason::TooLarge));
            }
            match (&inbound, &result) {
                (Inbound::DeviceStatus { .. }, Ok(input)) => {
                    prop_assert_eq!(input.msg_id(), None);
                    let online = obj.get("online").and_then(|v| v.as_bool());
                    prop_assert_eq!(Some(input.clone()), online.map(|online| Input::Presence {
                        device: DeviceId::parse("w05").unwrap(),
                        online,
                    }));
                }
                (Inbound::DeviceStatus { .. }, Err(r)) => {
                    prop_assert_ne!(r.reason, Reason::BadJson);
                    if bytes.len() <= MAX_PAYLOAD {
                        prop_assert_eq!(&r.msg_id, &None);
                    }
                }
                (_, Ok(input)) => prop_assert_eq!(input.msg_id(), readable_id.as_ref()),
                (_, Err(r)) => {
                    // A valid JSON object is never bad_json, and once its id can
                    // be read every refusal names it.
                    prop_assert_ne!(r.reason, Reason::BadJson);
                    prop_assert_eq!(r.msg_id.as_deref(), readable_id.as_ref().map(MsgId::as_str));
                    let reply = rejection_json(&inbound.reply_to().unwrap(), r, r.reason.message());
                    prop_assert_eq!(&reply["ok"], &serde_json::Value::Bool(false));
                    prop_assert_eq!(&reply["error"], r.reason.code());
                }
            }
        }
    }

    #[test]
    fn well_formed_window_commands_always_decode(
        op in prop::sample::select(&["logout", "resume", "call_next", "recall", "start", "no_show"][..]),
        id in "[a-z0-9-]{1,64}",
        junk in json_object(),
    ) {
        let mut obj = junk;
        obj.insert("id".into(), json!(id.clone()));
        obj.insert("op".into(), json!(op));
        obj.insert("at".into(), json!("2026-11-22T09:03:00+08:00"));
        let bytes = serde_json::to_vec(&obj).unwrap();
        prop_assume!(bytes.len() <= MAX_PAYLOAD);
        let input = decode(&window(), &bytes).unwrap();
        prop_assert_eq!(input.kind(), op);
        prop_assert_eq!(input.msg_id().map(MsgId::as_str), Some(id.as_str()));
    }
}

#[test]
fn an_appointment_needs_a_non_empty_booking_reference() {
    let k = Inbound::KioskRequest {
        hall: crate::domain::HallId::parse("h").unwrap(),
        kiosk: DeviceId::parse("k1").unwrap(),
    };
    let body = json!({"id": "k1-1", "service": "SB", "priority": "appointment", "appointment": ""});
    let r = decode(&k, body.to_string().as_bytes()).unwrap_err();
    assert_eq!(r.reason, Reason::BadRequest);
}

/// A field with a reason of its own is read first, as the contract checks a
/// message field by field: a bad service code is unknown_service and a bad
/// ticket number unknown_ticket even when another field is wrong too.
#[test]
fn a_bad_code_keeps_its_own_reason_beside_another_fault() {
    assert_refused(
        &kiosk(),
        json!({"id": "k1-9", "service": "x y", "priority": "vip"}),
        Reason::UnknownService,
        Some("k1-9"),
    );
    assert_refused(
        &kiosk(),
        json!({"id": "k1-10", "service": "x y", "appointment": 7}),
        Reason::UnknownService,
        Some("k1-10"),
    );
    assert_refused(
        &rater(),
        json!({"id": "r05-9", "ticket": "bad"}),
        Reason::UnknownTicket,
        Some("r05-9"),
    );
    assert_refused(
        &rater(),
        json!({"id": "r05-10", "ticket": "bad", "score": 3, "comment": 5}),
        Reason::UnknownTicket,
        Some("r05-10"),
    );
    // A bad staff id names its field.
    let r = refused(
        &window(),
        &serde_json::to_vec(&json!({"id": "w05-9", "op": "login", "staff": "S 1"})).unwrap(),
    );
    assert_eq!(r.reason, Reason::BadRequest);
    assert!(r.detail.contains("staff"), "{r:?}");
}

#[test]
fn finish_carries_items_from_1_to_99() {
    let items = |v: serde_json::Value| {
        op(json!({"id": "w05-1", "op": "finish", "outcome": "completed", "items": v}))
    };
    for (v, n) in [(json!(3), 3), (json!(2.0), 2), (json!(99), 99)] {
        assert_eq!(
            items(v),
            WindowOp::Finish {
                outcome: Outcome::Completed,
                case: None,
                items: n,
            }
        );
    }
    for bad in [json!(0), json!(100), json!(1.5), json!("2"), json!(-1)] {
        assert_refused(
            &window(),
            json!({"id": "w05-2", "op": "finish", "outcome": "completed", "items": bad}),
            Reason::BadRequest,
            Some("w05-2"),
        );
    }
}

/// A wait alert lists at most 20 tickets beside its own, so even with the
/// longest ticket numbers, long names and supervisors' notes its MQTT
/// message stays under the 4,096-byte limit.
#[test]
fn a_wait_alert_with_its_longest_list_fits_in_an_mqtt_payload() {
    use crate::domain::{AlertState, AlertView, HallId, MAX_LISTED, Rule, Severity};
    let at = Utc
        .with_ymd_and_hms(2026, 11, 23, 1, 30, 0)
        .unwrap()
        .fixed_offset();
    let ticket = |n: u32| TicketNo::new("ABC", 1_000_000 + n);
    let view = AlertView {
        id: format!("{}-20261123-093000-wait_timeout-sABCDEFGH", "h".repeat(32)),
        rule: Rule::WaitTimeout,
        severity: Severity::Critical,
        state: AlertState::Acknowledged,
        hall: HallId::parse(&"h".repeat(32)).unwrap(),
        hall_name: "某".repeat(40),
        window: None,
        window_name: None,
        ticket: Some(ticket(0)),
        count: Some(999_999),
        tickets: (1..=MAX_LISTED as u32).map(ticket).collect(),
        service: Some(ServiceCode::parse("ABCDEFGH").unwrap()),
        service_name: Some("某".repeat(30)),
        message: format!(
            "{}：999999 个号等候超过 30 分钟，等候最久的 ABC1000000 已等候 480 分钟（超过 60 分钟）",
            "某".repeat(30)
        ),
        opened_at: at,
        updated_at: at,
        escalated: true,
        escalated_at: Some(at),
        acked_by: Some("某".repeat(20)),
        acked_at: Some(at),
        ack_note: Some("某".repeat(200)),
        resolved_by: None,
        resolved_at: None,
        resolve_note: Some("某".repeat(200)),
        department: Some("d".repeat(32)),
        department_name: Some("某".repeat(40)),
    };
    let body = alert(&view);
    assert!(body.len() < MAX_PAYLOAD, "{} bytes", body.len());
}
