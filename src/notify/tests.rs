//! Messages, payloads, signatures, the retry schedule and the rate limit,
//! against the channels' documented formats and on an injected clock.

use chrono::{TimeZone, Utc};

use super::*;
use chrono::NaiveTime;

use crate::domain::{AlertState, HallId, Rule, WindowId};

const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn view() -> AlertView {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 23, 1, 15, 0)
        .unwrap()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap());
    AlertView {
        id: "jl-center-20261123-091500-window_unattended-w01".into(),
        rule: Rule::WindowUnattended,
        severity: Severity::Critical,
        state: AlertState::Open,
        hall: HallId::parse("jl-center").unwrap(),
        hall_name: "金林县政务服务中心".into(),
        window: Some(WindowId::parse("01").unwrap()),
        window_name: Some("1号窗口".into()),
        ticket: None,
        count: None,
        tickets: Vec::new(),
        service: None,
        service_name: None,
        message: "1号窗口空岗已超过 30 分钟：A角 张三 未到岗，请 B角 李四 顶岗".into(),
        opened_at: at,
        updated_at: at,
        escalated: true,
        escalated_at: Some(at),
        acked_by: None,
        acked_at: None,
        ack_note: None,
        resolved_by: None,
        resolved_at: None,
        resolve_note: None,
        department: None,
        department_name: None,
    }
}

#[test]
fn an_alert_reads_on_a_lock_screen_with_its_link() {
    let m = alert_message(&view(), Some("https://zwfw.example.gov.cn/hallwatch/"));
    assert_eq!(m.title, "【严重】金林县政务服务中心 · 1号窗口");
    assert_eq!(
        m.lines,
        vec![
            "1号窗口空岗已超过 30 分钟：A角 张三 未到岗，请 B角 李四 顶岗".to_owned(),
            "自 11-23 09:15 起".to_owned(),
            "已上报上级".to_owned(),
            "处理：https://zwfw.example.gov.cn/hallwatch/supervisor.html?hall=jl-center&alert=jl-center-20261123-091500-window_unattended-w01".to_owned(),
        ]
    );
    // Without a public address, no link.
    assert_eq!(alert_message(&view(), None).lines.len(), 3);
}

#[test]
fn dingtalk_and_wecom_bodies_follow_their_documented_shapes() {
    let m = alert_message(&view(), None);
    let d = dingtalk_body(&m);
    assert_eq!(d["msgtype"], "markdown");
    assert_eq!(d["markdown"]["title"], m.title);
    assert!(
        d["markdown"]["text"]
            .as_str()
            .unwrap()
            .starts_with("#### 【严重】")
    );
    let w = wecom_body(&m);
    assert_eq!(w["msgtype"], "markdown");
    assert!(
        w["markdown"]["content"]
            .as_str()
            .unwrap()
            .starts_with("**【严重】")
    );
    // A message too long for WeCom is cut on a character, not dropped.
    let long = Message {
        title: "汇总".into(),
        lines: vec!["某".repeat(3000)],
        facts: Facts::default(),
    };
    let content = wecom_body(&long)["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(content.len() <= WECOM_MAX_BYTES && content.ends_with('…'));
}

#[test]
fn signatures_match_the_documented_algorithms() {
    // DingTalk 加签: base64(HMAC-SHA256(secret, "{ms}\n{secret}")), URL-encoded
    // (the value DingTalk's own Python sample computes).
    assert_eq!(
        dingtalk_sign("SEC000000000000000000000", 1_764_900_000_000),
        "uNHZ4e4BAY9tunjC54RUNw1YBgPfif1zNlG3C1tDciY%3D"
    );
    assert_eq!(
        webhook_signature("whsec", 1_764_900_000, r#"{"a":1}"#),
        "t=1764900000,v1=b9d780b9f0ea4ecefe78d304b1c04cc5604d3bf95f22683255d1547f2063a6b8"
    );
}

#[test]
fn retries_back_off_exponentially_to_a_cap_and_a_limit() {
    let b = Backoff {
        first_s: 5,
        factor: 2,
        max_s: 60,
        attempts: 6,
    };
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
    let waits: Vec<i64> = (1..=6)
        .map(|n| {
            b.retry_at(n, t)
                .map(|at| (at - t).num_seconds())
                .unwrap_or(-1)
        })
        .collect();
    assert_eq!(waits, vec![5, 10, 20, 40, 60, -1]);
}

#[test]
fn a_channel_sends_at_most_its_limit_a_minute_and_says_when_it_may_again() {
    let mut w = RateWindow::new(DINGTALK_PER_MINUTE);
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
    for i in 0..20 {
        assert!(w.admit(t + Duration::seconds(i)), "send {i}");
    }
    assert!(
        !w.admit(t + Duration::seconds(30)),
        "the 21st within the minute"
    );
    assert_eq!(
        w.free_at(t + Duration::seconds(30)),
        t + Duration::minutes(1)
    );
    assert!(
        w.admit(t + Duration::minutes(1)),
        "the first send's minute is over"
    );
    // What was held back goes as one digest, every title in it.
    let held = vec![alert_message(&view(), None); 3];
    let d = digest(&held, view().opened_at, None);
    assert_eq!(d.title, "告警汇总（3 条）");
    assert_eq!(d.lines.len(), 4);
}

fn route() -> Route {
    Route {
        channel: "duty-group".into(),
        halls: vec!["jl-center".into()],
        rules: Vec::new(),
        min_severity: Severity::Warning,
        cards: vec![CardKind::Yellow, CardKind::Red],
        quiet: Some((
            NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        )),
        wider: false,
    }
}

#[test]
fn a_route_takes_its_halls_rules_and_severities_and_holds_the_rest_through_quiet_hours() {
    let r = route();
    let a = view();
    assert_eq!(
        r.alert(&a, SHANGHAI),
        Some(a.updated_at),
        "critical, in office hours"
    );
    let mut other = a.clone();
    other.hall = HallId::parse("xz-town").unwrap();
    assert_eq!(r.alert(&other, SHANGHAI), None, "another hall");
    let mut notice = a.clone();
    notice.severity = Severity::Notice;
    assert_eq!(r.alert(&notice, SHANGHAI), None, "below the least severity");
    let only = Route {
        rules: vec![Rule::BadRating],
        ..route()
    };
    assert_eq!(only.alert(&a, SHANGHAI), None, "another rule");
    // A warning at 22:30 waits for 08:00; a critical one does not wait.
    let mut night = a.clone();
    night.severity = Severity::Warning;
    night.updated_at = a.updated_at + Duration::hours(13) + Duration::minutes(15);
    let morning = a.updated_at + Duration::hours(23) - Duration::minutes(15);
    assert_eq!(night.updated_at.format("%H:%M").to_string(), "22:30");
    assert_eq!(r.alert(&night, SHANGHAI), Some(morning));
    assert_eq!(morning.format("%m-%d %H:%M").to_string(), "11-24 08:00");
    night.severity = Severity::Critical;
    assert_eq!(r.alert(&night, SHANGHAI), Some(night.updated_at));
    // A wider list takes escalated alerts only.
    let wider = Route {
        wider: true,
        ..route()
    };
    let mut plain = a.clone();
    plain.escalated = false;
    assert_eq!(wider.alert(&plain, SHANGHAI), None);
    assert!(wider.alert(&a, SHANGHAI).is_some());
}

#[test]
fn cards_go_by_kind_and_a_red_card_goes_through_quiet_hours_and_to_the_wider_list() {
    let a = view();
    let card = |kind: CardKind, at: DateTime<FixedOffset>| CardView {
        id: format!("BJ001-{}", kind.code()),
        kind,
        label: String::new(),
        state: crate::domain::CardState::Issued,
        hall: a.hall.clone(),
        hall_name: a.hall_name.clone(),
        case: Some("BJ001".into()),
        follow_up: None,
        step: None,
        service: None,
        service_name: None,
        department: Some("rsj".into()),
        department_name: Some("县人社局".into()),
        staff: None,
        staff_name: None,
        issued_at: at,
        due: at,
        message: "办件 BJ001 超期".into(),
        explanation: None,
        closure: None,
    };
    let r = route();
    let evening = a.updated_at + Duration::hours(12); // 21:15, quiet
    assert_eq!(
        r.card(&card(CardKind::Warning, a.updated_at), SHANGHAI),
        None,
        "预警 not listed"
    );
    assert_eq!(
        r.card(&card(CardKind::Yellow, evening), SHANGHAI)
            .map(|t| t.format("%H:%M").to_string()),
        Some("08:00".into()),
        "a 黄牌 waits for the morning"
    );
    assert_eq!(
        r.card(&card(CardKind::Red, evening), SHANGHAI),
        Some(evening)
    );
    let wider = Route {
        wider: true,
        ..route()
    };
    assert_eq!(
        wider.card(&card(CardKind::Yellow, a.updated_at), SHANGHAI),
        None
    );
    assert!(
        wider
            .card(&card(CardKind::Red, a.updated_at), SHANGHAI)
            .is_some()
    );
}

#[test]
fn an_sms_template_is_filled_from_the_facts_and_unknown_names_are_found() {
    let m = alert_message(&view(), Some("https://zwfw.example.gov.cn"));
    assert_eq!(
        render(SMS_TEMPLATE, &m),
        format!(
            "【严重】金林县政务服务中心 · 1号窗口：{}，自11-23 09:15起。{}",
            view().message,
            m.facts.link
        )
    );
    // A brace that names nothing stays as written.
    assert_eq!(render("{hall} {x} {", &m), "金林县政务服务中心 {x} {");
    assert_eq!(unknown_placeholders("{hall}{x}{link}{y"), vec!["x"]);
}

#[test]
fn an_open_alert_queues_once_per_channel_and_severity_and_the_wider_list_takes_the_place_of_the_normal_one()
 {
    let at = view().opened_at.with_timezone(&Utc);
    let mut wider = route();
    wider.wider = true;
    wider.quiet = None;
    let mut other = route();
    other.channel = "sms".into();
    other.quiet = None;
    let plan = Plan {
        routes: vec![route(), wider, other],
        ..Plan::default()
    };
    let id = "jl-center-20261123-091500-window_unattended-w01";
    let q = plan.alert(&view(), at);
    let keys: Vec<&str> = q.queue.iter().map(|q| q.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            format!("duty-group/{id}/wider"),
            format!("sms/{id}/critical")
        ]
    );
    // The wider message takes the place of the duty group's own, and a
    // critical one that of a warning still waiting.
    assert_eq!(
        q.supersede,
        vec![
            format!("duty-group/{id}/critical"),
            format!("duty-group/{id}/notice"),
            format!("duty-group/{id}/warning"),
            format!("sms/{id}/notice"),
            format!("sms/{id}/warning"),
        ]
    );
    // Not escalated: the wider list does not take it.
    let mut plain = view();
    plain.escalated = false;
    let keys: Vec<String> = plan
        .alert(&plain, at)
        .queue
        .into_iter()
        .map(|q| q.key)
        .collect();
    assert_eq!(
        keys,
        vec![
            format!("duty-group/{id}/critical"),
            format!("sms/{id}/critical")
        ]
    );
    // A warning: its own key, nothing to replace.
    let mut warning = plain.clone();
    warning.severity = Severity::Warning;
    let w = plan.alert(&warning, at);
    assert!(w.queue.iter().all(|q| q.key.ends_with("/warning")));
    assert_eq!(
        w.supersede,
        vec![
            format!("duty-group/{id}/notice"),
            format!("sms/{id}/notice")
        ]
    );
    // Acknowledged: nothing more is queued, and what waits is withdrawn.
    let mut acked = view();
    acked.state = AlertState::Acknowledged;
    assert_eq!(plan.alert(&acked, at), Queueing::default());
    assert!(Plan::alert_settled(&acked));
    // The body carries the words and the alert whole.
    assert_eq!(
        q.queue[0].body["message"]["facts"]["hall"],
        "金林县政务服务中心"
    );
    assert_eq!(q.queue[0].body["data"]["rule"], "window_unattended");
}

#[test]
fn a_digest_names_its_titles_for_a_robot_and_an_sms_alike() {
    let mut held = Vec::new();
    for n in 0..25 {
        let mut m = alert_message(&view(), None);
        m.title = format!("告警{n}");
        held.push(m);
    }
    let d = digest(
        &held,
        view().opened_at,
        Some("https://zwfw.example.gov.cn/"),
    );
    assert_eq!(d.title, "告警汇总（25 条）");
    assert_eq!(d.lines.len(), 1 + DIGEST_LISTED + 1 + 1);
    assert_eq!(d.lines[DIGEST_LISTED + 1], "· …另有 5 条，见控制台");
    assert_eq!(
        d.lines.last().unwrap(),
        "处理：https://zwfw.example.gov.cn/supervisor.html"
    );
    let sms = render(SMS_TEMPLATE, &d);
    assert!(sms.contains("告警0；告警1"), "{sms}");
    assert!(sms.contains("告警19；…另有 5 条"), "{sms}");
}

#[test]
fn each_channel_gets_the_request_it_documents() {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 1, 15, 0).unwrap();
    let m = alert_message(&view(), None);
    let mut ch = Channel {
        name: "h".into(),
        kind: ChannelKind::Webhook,
        url: "https://ops.example/h".into(),
        secret: Some("k".into()),
        per_minute: 60,
        phones: vec!["13800000000".into()],
        template: "{severity}|{place}".into(),
    };
    let r = request(&ch, "h/x", &m, &serde_json::json!({"a": 1}), at);
    assert_eq!(r.url, "https://ops.example/h");
    let header = |r: &Request, name: &str| {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header(&r, KEY_HEADER).as_deref(), Some("h/x"));
    assert_eq!(
        header(&r, SIGNATURE_HEADER),
        Some(webhook_signature("k", at.timestamp(), &r.body))
    );
    ch.kind = ChannelKind::Sms;
    let r = request(&ch, "h/x", &m, &Value::Null, at);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["text"], "严重|1号窗口");
    assert_eq!(body["phones"][0], "13800000000");
    ch.kind = ChannelKind::Wecom;
    ch.secret = None;
    let r = request(&ch, "h/x", &m, &Value::Null, at);
    assert_eq!(
        header(&r, KEY_HEADER),
        None,
        "a robot takes no extra headers"
    );
    // Answers: a 2xx, and for the robots errcode 0.
    assert_eq!(judge(ChannelKind::Webhook, 204, ""), Ok(()));
    assert_eq!(
        judge(ChannelKind::Webhook, 503, "busy"),
        Err("HTTP 503: busy".into())
    );
    assert_eq!(judge(ChannelKind::Wecom, 200, r#"{"errcode":0}"#), Ok(()));
    assert_eq!(
        judge(
            ChannelKind::Wecom,
            200,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
        ),
        Err("errcode 45009: api freq out of limit".into())
    );
}

#[test]
fn quiet_hours_across_a_change_of_the_clocks_end_at_their_local_time() {
    // Berlin moves its clocks from 02:00 to 03:00 on 2026-03-29.
    let berlin = chrono_tz::Europe::Berlin;
    let r = Route {
        halls: Vec::new(),
        quiet: Some((
            NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
        )),
        ..route()
    };
    let mut night = view();
    night.severity = Severity::Warning;
    night.updated_at = berlin
        .with_ymd_and_hms(2026, 3, 28, 23, 0, 0)
        .unwrap()
        .fixed_offset();
    let end = r.alert(&night, berlin).unwrap();
    // 07:00 summer time, 05:00 UTC (not 06:00, the winter offset's 07:00).
    assert_eq!(
        end.with_timezone(&Utc),
        Utc.with_ymd_and_hms(2026, 3, 29, 5, 0, 0).unwrap()
    );
    // Quiet hours that end in the skipped hour end at the instant that
    // hour would have been.
    let skipped = Route {
        quiet: Some((
            NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
        )),
        ..r.clone()
    };
    let end = skipped.alert(&night, berlin).unwrap();
    assert_eq!(
        end.with_timezone(&Utc),
        Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap()
    );
}
