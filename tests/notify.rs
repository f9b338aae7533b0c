//! Notifications through the outbox, against a local HTTP receiver that
//! refuses connections, times out, answers 500 and then recovers: nothing
//! is lost, nothing is delivered twice under one key, the backoff schedule
//! is kept on an injected clock, a channel's limit merges what it holds
//! back into one digest, and a server killed with SIGKILL while
//! notifications are queued delivers them after its restart.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use hallwatch::clock::{Clock, ManualClock};
use hallwatch::domain::{AlertState, AlertView, HallId, Rule, Severity, WindowId};
use hallwatch::notify::sender::Sender;
use hallwatch::notify::{Backoff, Channel, ChannelKind, Plan, Route};
use hallwatch::store::{Record, Store};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the receiver does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Answers 200 (with `{"errcode":0}` for the robots).
    Ok,
    /// Answers 500.
    Fail,
    /// Reads the request and never answers.
    Hang,
    /// Answers 200 with a robot's refusal (an errcode).
    Refuse,
}

/// One request as the receiver read it.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A local HTTP receiver on a fixed port, started when a test wants it (a
/// port nobody listens on refuses connections).
#[derive(Clone)]
struct Receiver {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn new() -> Self {
        Self {
            port: free_port(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            got: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Starts listening; stops when the returned task is aborted.
    async fn listen(&self) -> tokio::task::JoinHandle<()> {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the receiver");
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let Some(got) = read_request(&mut sock).await else {
                        return;
                    };
                    let mode = *me.mode.lock().unwrap();
                    if mode != Mode::Hang {
                        me.got.lock().unwrap().push(got);
                    }
                    let (status, body) = match mode {
                        Mode::Ok => ("200 OK", r#"{"errcode":0,"errmsg":"ok"}"#),
                        Mode::Fail => ("500 Internal Server Error", "boom"),
                        Mode::Refuse => {
                            ("200 OK", r#"{"errcode":310000,"errmsg":"sign not match"}"#)
                        }
                        Mode::Hang => std::future::pending().await,
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        })
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Got> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Got {
        path,
        headers,
        body: String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
    })
}

fn alert(n: u32, at: DateTime<Utc>) -> AlertView {
    let local = at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    AlertView {
        id: format!("h1-20261123-0900{n:02}-bad_rating-G{n:03}"),
        rule: Rule::BadRating,
        severity: Severity::Critical,
        state: AlertState::Open,
        hall: HallId::parse("h1").unwrap(),
        hall_name: "测试县政务服务中心".into(),
        window: Some(WindowId::parse("02").unwrap()),
        window_name: Some("2号窗口".into()),
        ticket: None,
        count: None,
        tickets: Vec::new(),
        service: None,
        service_name: None,
        message: format!("G{n:03} 差评：材料要求没有一次说清楚"),
        opened_at: local,
        updated_at: local,
        escalated: false,
        escalated_at: None,
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

fn plan(
    channel: Channel,
    per_minute_quiet: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
) -> Plan {
    Plan {
        public_url: Some("https://zwfw.example.gov.cn".into()),
        routes: vec![Route {
            channel: channel.name.clone(),
            halls: Vec::new(),
            rules: Vec::new(),
            min_severity: Severity::Warning,
            cards: Vec::new(),
            quiet: per_minute_quiet,
            wider: false,
        }],
        channels: vec![channel],
        backoff: Backoff {
            first_s: 5,
            factor: 2,
            max_s: 60,
            attempts: 5,
        },
        timeout: Duration::from_millis(400),
        ..Plan::default()
    }
}

fn webhook(url: String, per_minute: u32) -> Channel {
    Channel {
        name: "duty-hook".into(),
        kind: ChannelKind::Webhook,
        url,
        secret: Some("s3cret".into()),
        per_minute,
        phones: Vec::new(),
        template: hallwatch::notify::SMS_TEMPLATE.into(),
    }
}

/// A test on SQLite, and on PostgreSQL when one is configured (required
/// in CI).
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn on_sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let store = hallwatch::store::Store::open(&super::sqlite_url(dir.path()))
                    .await
                    .unwrap();
                super::$body(store).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let Some(db) = super::PgDatabase::create().await else {
                    return;
                };
                let store = hallwatch::store::Store::open(&db.url).await.unwrap();
                super::$body(store.clone()).await;
                store.close().await;
                db.drop_db().await;
            }
        }
    };
}

async fn sender(store: &Store, plan: Plan, clock: Arc<ManualClock>) -> Sender {
    let tls = hallwatch::config::tls::https_client_config(None, "notify.ca_file", false).unwrap();
    let timeout = plan.timeout;
    Sender::new(
        store.clone(),
        Arc::new(plan),
        hallwatch::notify::http::Client::new(tls, timeout),
        clock,
        Arc::new(hallwatch::metrics::Metrics::default()),
        Arc::new(hallwatch::health::Health::default()),
        None,
    )
}

/// The outbox as (key, state, attempts).
async fn outbox(store: &Store) -> Vec<(String, String, i64)> {
    store
        .outbox_all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.state, r.attempts))
        .collect()
}

both!(a_receiver_that_refuses_times_out_and_fails_gets_each_notification_once_on_the_backoff_schedule, a_receiver_that_refuses_times_out_and_fails_gets_each_notification_once_on_the_backoff_schedule_on);
async fn a_receiver_that_refuses_times_out_and_fails_gets_each_notification_once_on_the_backoff_schedule_on(
    store: Store,
) {
    let receiver = Receiver::new();
    let t = t0();
    let clock = Arc::new(ManualClock::new(t));
    let plan = plan(webhook(receiver.url("/hook"), 60), None);
    // Written as the engine writes it, with its alert.
    let queued = plan.alert(&alert(1, t), t).queue;
    assert_eq!(queued.len(), 1);
    let key = queued[0].key.clone();
    assert_eq!(key, "duty-hook/h1-20261123-090001-bad_rating-G001/critical");
    let mut records: Vec<Record> = queued.into_iter().map(Record::Notify).collect();
    // Once more, as a restart that meets the same alert would: still one.
    records.extend(
        plan.alert(&alert(1, t), t)
            .queue
            .into_iter()
            .map(Record::Notify),
    );
    store.write(&records).await.unwrap();
    assert_eq!(
        outbox(&store).await,
        vec![(key.clone(), "queued".into(), 0)]
    );
    let mut sender = sender(&store, plan, clock.clone()).await;

    // 1. Nobody listens: refused, tried again 5 s later.
    let a = sender.pass().await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].state, "retrying");
    assert!(
        a[0].error.as_deref().unwrap().contains("cannot connect"),
        "{:?}",
        a[0].error
    );
    assert_eq!(a[0].next_at, Some(t + chrono::Duration::seconds(5)));
    clock.set(t + chrono::Duration::seconds(4));
    assert!(sender.pass().await.unwrap().is_empty(), "not before 5 s");

    // 2. It listens but never answers: the time limit, then 10 s.
    let task = receiver.listen().await;
    receiver.set(Mode::Hang);
    let t2 = t + chrono::Duration::seconds(5);
    clock.set(t2);
    let a = sender.pass().await.unwrap();
    assert_eq!(a[0].state, "retrying");
    assert!(a[0].error.as_deref().unwrap().contains("no answer within"));
    assert_eq!(a[0].next_at, Some(t2 + chrono::Duration::seconds(10)));

    // 3. It answers 500: 20 s.
    receiver.set(Mode::Fail);
    let t3 = t2 + chrono::Duration::seconds(10);
    clock.set(t3);
    let a = sender.pass().await.unwrap();
    assert_eq!(a[0].state, "retrying");
    assert!(a[0].error.as_deref().unwrap().starts_with("HTTP 500"));
    assert_eq!(a[0].next_at, Some(t3 + chrono::Duration::seconds(20)));

    // 4. It recovers: delivered, signed, with its key; then nothing more.
    receiver.set(Mode::Ok);
    let t4 = t3 + chrono::Duration::seconds(20);
    clock.set(t4);
    let a = sender.pass().await.unwrap();
    assert_eq!(a[0].state, "sent");
    for _ in 0..3 {
        clock.set(clock.now() + chrono::Duration::minutes(10));
        assert!(sender.pass().await.unwrap().is_empty());
    }
    assert_eq!(outbox(&store).await, vec![(key.clone(), "sent".into(), 4)]);
    let got = receiver.got();
    let delivered: Vec<&Got> = got
        .iter()
        .filter(|g| g.headers["idempotency-key"] == key)
        .collect();
    // The 500 was read too: two requests reached it, one was taken.
    assert_eq!(delivered.len(), 2, "{got:?}");
    let last = delivered[1];
    assert_eq!(last.path, "/hook");
    let body = last.json();
    assert_eq!(body["key"], key);
    assert_eq!(body["title"], "【严重】测试县政务服务中心 · 2号窗口");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("https://zwfw.example.gov.cn/supervisor.html?hall=h1&alert=")
    );
    assert_eq!(body["data"]["rule"], "bad_rating");
    assert!(hallwatch::notify::receiver::signature_ok(
        "s3cret",
        &last.headers["x-hallwatch-signature"],
        &last.body,
        Utc::now().timestamp()
    ));
    task.abort();
}

both!(
    attempts_run_out_into_failed_and_the_console_list_says_why,
    attempts_run_out_into_failed_and_the_console_list_says_why_on
);
async fn attempts_run_out_into_failed_and_the_console_list_says_why_on(store: Store) {
    let receiver = Receiver::new();
    let task = receiver.listen().await;
    receiver.set(Mode::Fail);
    let t = t0();
    let clock = Arc::new(ManualClock::new(t));
    let plan = plan(webhook(receiver.url("/hook"), 60), None);
    let rows = plan.alert(&alert(2, t), t).queue;
    store
        .write(&rows.into_iter().map(Record::Notify).collect::<Vec<_>>())
        .await
        .unwrap();
    let mut sender = sender(&store, plan, clock.clone()).await;
    // 5 attempts: waits of 5, 10, 20 and 40 s between them.
    let mut at = t;
    let mut states = Vec::new();
    for wait in [5, 10, 20, 40, 0] {
        let a = sender.pass().await.unwrap();
        states.push(a[0].state);
        at += chrono::Duration::seconds(wait);
        clock.set(at);
    }
    assert_eq!(
        states,
        ["retrying", "retrying", "retrying", "retrying", "failed"]
    );
    clock.set(at + chrono::Duration::hours(1));
    assert!(
        sender.pass().await.unwrap().is_empty(),
        "failed stays failed"
    );
    let d = store.deliveries("h1", t).await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].state, "failed");
    assert_eq!(d[0].attempts, 5);
    assert!(d[0].last_error.as_deref().unwrap().contains("HTTP 500"));
    assert_eq!(receiver.got().len(), 5);
    task.abort();
}

both!(
    over_the_channel_limit_the_rest_goes_as_one_digest_and_nothing_is_dropped,
    over_the_channel_limit_the_rest_goes_as_one_digest_and_nothing_is_dropped_on
);
async fn over_the_channel_limit_the_rest_goes_as_one_digest_and_nothing_is_dropped_on(
    store: Store,
) {
    let receiver = Receiver::new();
    let task = receiver.listen().await;
    let t = t0();
    let clock = Arc::new(ManualClock::new(t));
    let plan = plan(webhook(receiver.url("/hook"), 3), None);
    let mut records = Vec::new();
    for n in 1..=10 {
        records.extend(
            plan.alert(&alert(n, t), t)
                .queue
                .into_iter()
                .map(Record::Notify),
        );
    }
    store.write(&records).await.unwrap();
    let mut sender = sender(&store, plan, clock.clone()).await;
    let a = sender.pass().await.unwrap();
    assert_eq!(a.len(), 3, "two alone and one digest: {a:?}");
    assert!(a.iter().all(|a| a.state == "sent"));
    let got = receiver.got();
    assert_eq!(got.len(), 3);
    let digest = got[2].json();
    assert_eq!(digest["title"], "告警汇总（8 条）");
    assert_eq!(
        digest["text"]
            .as_str()
            .unwrap()
            .matches("· 【严重】测试县政务服务中心 · 2号窗口")
            .count(),
        8,
        "{digest}"
    );
    assert_eq!(digest["data"]["merged"].as_array().unwrap().len(), 8);
    let rows = outbox(&store).await;
    let count = |s: &str| rows.iter().filter(|r| r.1 == s).count();
    assert_eq!((count("sent"), count("merged")), (3, 8), "{rows:?}");
    let d = store.deliveries("h1", t).await.unwrap();
    assert_eq!(d.len(), 10, "the digest itself is not an alert's delivery");
    assert!(
        d.iter()
            .filter(|d| d.state == "merged")
            .all(|d| d.digest_state.as_deref() == Some("sent"))
    );
    // A row no longer due is not merged, and nothing to merge is no digest.
    let merged = store
        .outbox_merge(&["duty-hook/nope/critical".to_owned()], t, |_| {
            unreachable!("nothing to merge")
        })
        .await
        .unwrap();
    assert_eq!(merged, None);
    // The minute is spent: a new alert waits for it, then goes alone.
    store
        .write(
            &sender_plan_alert(11, t)
                .into_iter()
                .map(Record::Notify)
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    clock.set(t + chrono::Duration::seconds(30));
    assert!(sender.pass().await.unwrap().is_empty());
    clock.set(t + chrono::Duration::seconds(61));
    assert_eq!(sender.pass().await.unwrap().len(), 1);
    assert_eq!(receiver.got().len(), 4);
    task.abort();
}

fn sender_plan_alert(n: u32, t: DateTime<Utc>) -> Vec<hallwatch::notify::Queued> {
    plan(webhook("http://127.0.0.1:9/hook".into(), 3), None)
        .alert(&alert(n, t), t)
        .queue
}

both!(
    quiet_hours_hold_a_warning_and_an_acknowledgement_withdraws_it,
    quiet_hours_hold_a_warning_and_an_acknowledgement_withdraws_it_on
);
async fn quiet_hours_hold_a_warning_and_an_acknowledgement_withdraws_it_on(store: Store) {
    let receiver = Receiver::new();
    let task = receiver.listen().await;
    // 21:00 local: inside quiet hours 20:00–08:00.
    let t = t0() + chrono::Duration::hours(12);
    let clock = Arc::new(ManualClock::new(t));
    let quiet = (
        chrono::NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
        chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
    );
    let plan = plan(webhook(receiver.url("/hook"), 60), Some(quiet));
    let mut warning = alert(3, t);
    warning.severity = Severity::Warning;
    let mut held = alert(4, t);
    held.severity = Severity::Warning;
    let critical = alert(5, t);
    let mut worse = alert(6, t);
    worse.severity = Severity::Warning;
    let mut records = Vec::new();
    for a in [&warning, &held, &critical, &worse] {
        records.extend(plan.alert(a, t).queue.into_iter().map(Record::Notify));
    }
    store.write(&records).await.unwrap();
    let mut sender = sender(&store, plan.clone(), clock.clone()).await;
    let a = sender.pass().await.unwrap();
    assert_eq!(a.len(), 1, "only the critical one goes at night");
    assert!(a[0].key.contains("G005"));
    // A supervisor acknowledges one of the held ones before morning.
    store
        .write(&[Record::Withdraw {
            hall: "h1".into(),
            subject: held.id.clone(),
            at: t,
        }])
        .await
        .unwrap();
    // Another held warning turns critical: it goes at once, in place of
    // the warning still waiting (as the engine writes it, with the alert).
    worse.severity = Severity::Critical;
    let q = plan.alert(&worse, t);
    let mut records: Vec<Record> = q
        .supersede
        .into_iter()
        .map(|key| Record::Supersede { key, at: t })
        .collect();
    records.extend(q.queue.into_iter().map(Record::Notify));
    store.write(&records).await.unwrap();
    let a = sender.pass().await.unwrap();
    assert_eq!(a.len(), 1);
    assert!(a[0].key.ends_with("G006/critical"), "{a:?}");
    // 08:00 local the next day.
    clock.set(t0() + chrono::Duration::hours(23));
    let a = sender.pass().await.unwrap();
    assert_eq!(a.len(), 1);
    assert!(a[0].key.contains("G003"));
    let rows = outbox(&store).await;
    assert!(
        rows.iter()
            .any(|r| r.0.ends_with("G004/warning") && r.1 == "withdrawn")
    );
    assert!(
        rows.iter()
            .any(|r| r.0.ends_with("G006/warning") && r.1 == "withdrawn")
    );
    assert_eq!(receiver.got().len(), 3);
    let d = store.deliveries("h1", t).await.unwrap();
    let g4 = d.iter().find(|d| d.subject == held.id).unwrap();
    assert_eq!((g4.state.as_str(), g4.at), ("withdrawn", Some(t)));
    task.abort();
}

both!(
    a_dingtalk_robot_gets_a_signed_markdown_message_and_its_refusal_is_retried,
    a_dingtalk_robot_gets_a_signed_markdown_message_and_its_refusal_is_retried_on
);
async fn a_dingtalk_robot_gets_a_signed_markdown_message_and_its_refusal_is_retried_on(
    store: Store,
) {
    let receiver = Receiver::new();
    let task = receiver.listen().await;
    let t = t0();
    let clock = Arc::new(ManualClock::new(t));
    let robot = Channel {
        name: "duty-dingtalk".into(),
        kind: ChannelKind::Dingtalk,
        url: receiver.url("/robot/send?access_token=abc"),
        secret: Some("SECtest".into()),
        per_minute: 20,
        phones: Vec::new(),
        template: String::new(),
    };
    let plan = plan(robot, None);
    let rows = plan.alert(&alert(6, t), t).queue;
    store
        .write(&rows.into_iter().map(Record::Notify).collect::<Vec<_>>())
        .await
        .unwrap();
    let mut sender = sender(&store, plan, clock.clone()).await;
    // The robot answers 200 with an errcode: not delivered, its words kept.
    receiver.set(Mode::Refuse);
    let a = sender.pass().await.unwrap();
    assert_eq!(a[0].state, "retrying");
    assert!(
        a[0].error
            .as_deref()
            .unwrap()
            .starts_with("errcode 310000: sign not match"),
        "{:?}",
        a[0].error
    );
    receiver.set(Mode::Ok);
    let t1 = t + chrono::Duration::seconds(5);
    clock.set(t1);
    let a = sender.pass().await.unwrap();
    assert_eq!(a[0].state, "sent");
    let got = &receiver.got()[1];
    // Signed at the wall clock's time, which DingTalk holds to within an hour.
    let ts: i64 = got
        .path
        .split_once("&timestamp=")
        .and_then(|(_, rest)| rest.split('&').next())
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    assert!((Utc::now().timestamp_millis() - ts).abs() < 60_000);
    assert_eq!(
        got.path,
        format!(
            "/robot/send?access_token=abc&timestamp={ts}&sign={}",
            hallwatch::notify::dingtalk_sign("SECtest", ts)
        )
    );
    let body = got.json();
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(
        body["markdown"]["title"],
        "【严重】测试县政务服务中心 · 2号窗口"
    );
    assert!(
        body["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("G006 差评")
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_with_notifications_queued_delivers_them_after_its_restart() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let port = free_port();
    let receiver = Receiver::new();
    let config = write_config(dir.path(), port, &db, &broker, "notify-kill");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        r#"
[notify]
public_url = "https://zwfw.example.gov.cn"
failing_after_s = 1
timeout_s = 1
retry = {{ first_s = 1, factor = 2, max_s = 2, attempts = 100 }}

[[notify.channels]]
name = "duty-hook"
kind = "webhook"
url = "{}"
secret = "s3cret"

[[notify.routes]]
channel = "duty-hook"
min_severity = "critical"
"#,
        receiver.url("/hook")
    ));
    std::fs::write(&config, text).unwrap();
    let mut server = ServerProcess::start(&config, port, None);
    server.wait_healthy().await;
    bad_review(&mut Device::replies(broker.port, "dev").await).await;

    // Nobody listens: the notification waits in the outbox, retrying.
    let store = Store::open(&db).await.unwrap();
    let key = eventually(20, async || {
        let rows = store.outbox_all().await.unwrap();
        rows.iter()
            .find(|r| r.state == "retrying" && r.attempts >= 1)
            .map(|r| r.key.clone())
    })
    .await;
    // /healthz names the failing channel once it has failed long enough,
    // and still answers 200.
    let (status, body) = eventually(30, async || {
        let (status, body) = http_get(port, "/healthz").await;
        body.contains("duty-hook").then_some((status, body))
    })
    .await;
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["notify"][0]["channel"], "duty-hook");
    assert!(
        health["notify"][0].get("error").is_none(),
        "details are for admins"
    );
    eventually(10, async || {
        let (_, metrics) = http_get(port, "/metrics").await;
        metrics
            .contains("hallwatch_notifications_queued{channel=\"duty-hook\"} 1")
            .then_some(())
    })
    .await;

    server.kill(); // SIGKILL with the notification queued
    let _receiving = receiver.listen().await;
    server.restart();
    server.wait_healthy().await;
    let got = eventually(30, async || {
        let got = receiver.got();
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(got[0].headers["idempotency-key"], key);
    assert!(got[0].json()["title"].as_str().unwrap().contains("2号窗口"));
    eventually(20, async || {
        let rows = store.outbox_all().await.unwrap();
        rows.iter()
            .any(|r| r.key == key && r.state == "sent")
            .then_some(())
    })
    .await;
    // Settled: sent once, and the channel is healthy again.
    assert_eq!(receiver.got().len(), 1);
    let (_, metrics) = http_get(port, "/metrics").await;
    assert!(metrics.contains("hallwatch_notifications_sent_total{channel=\"duty-hook\"} 1"));
    let health = eventually(10, async || {
        let (_, body) = http_get(port, "/healthz").await;
        (!body.contains("duty-hook")).then_some(body)
    })
    .await;
    assert!(health.contains("\"notify\":[]"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_sends_one_message_per_channel_and_says_what_each_answered() {
    let dir = tempfile::tempdir().unwrap();
    let up = Receiver::new();
    let _listening = up.listen().await;
    let down = Receiver::new();
    let config = dir.path().join("hallwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
database_url = "sqlite://{db}"
[notify]
public_url = "https://zwfw.example.gov.cn"
timeout_s = 2

[[notify.channels]]
name = "duty-dingtalk"
kind = "dingtalk"
url = "{robot}"
secret = "SECtest"

[[notify.channels]]
name = "ops-hook"
kind = "webhook"
url = "{hook}"

[[notify.routes]]
channel = "duty-dingtalk"

[[notify.routes]]
channel = "ops-hook"
{TEST_HALLS}"#,
            db = dir.path().join("t.db").display(),
            robot = up.url("/robot/send?access_token=abc"),
            hook = down.url("/hook"),
        ),
    )
    .unwrap();
    let run = move |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallwatch"))
            .arg("notify-test")
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run hallwatch notify-test");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, said) = tokio::task::spawn_blocking(move || {
        let all = run(&[]);
        let one = run(&["--channel", "duty-dingtalk"]);
        let none = run(&["--channel", "nope"]);
        (all, one, none)
    })
    .await
    .map(|(all, one, none)| {
        assert_eq!(one.0, Some(0), "{}", one.1);
        assert_eq!(one.1.lines().count(), 1, "{}", one.1);
        assert_ne!(none.0, Some(0));
        all
    })
    .unwrap();
    assert_eq!(code, Some(1), "one channel is down: {said}");
    assert!(
        said.contains(&format!(
            "duty-dingtalk (dingtalk, http://127.0.0.1:{}): delivered: HTTP 200",
            up.port
        )) && !said.contains("access_token"),
        "{said}"
    );
    assert!(
        said.contains("ops-hook (webhook,") && said.contains("NOT delivered: cannot connect"),
        "{said}"
    );
    let got = up.got();
    assert_eq!(got.len(), 2, "one test message per run that named it");
    assert_eq!(
        got[0].json()["markdown"]["title"],
        "【测试】hallwatch 通知通道 duty-dingtalk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_takes_only_signed_fresh_keys_once_and_never_panics() {
    let port = free_port();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let server = hallwatch::notify::receiver::serve(listener, Some("k".into()), move |m| {
        seen.lock().unwrap().push(m.key);
    })
    .unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    let now = Utc::now().timestamp();
    let post = async |body: &str, sig: &str, key: Option<&str>| {
        let mut headers = vec![("X-Hallwatch-Signature", sig)];
        if let Some(k) = key {
            headers.push(("Idempotency-Key", k));
        }
        http_request(port, "POST", "/hook", &headers, body).await
    };
    let body = r#"{"key":"c/a1/critical","title":"t","text":"x"}"#;
    let sig = hallwatch::notify::webhook_signature("k", now, body);
    // Signed and fresh: taken; again: answered, not taken twice.
    let first = post(body, &sig, Some("c/a1/critical")).await;
    assert_eq!(first.status, 200);
    let again = post(body, &sig, Some("c/a1/critical")).await;
    assert_eq!(
        (again.status, again.json()["repeat"].clone()),
        (200, Value::Bool(true))
    );
    // A replay under another header key is the same body key: a repeat;
    // a header that disagrees with the signed key is refused.
    assert_eq!(post(body, &sig, Some("other")).await.status, 400);
    // Unsigned, wrongly signed, old, or with a timestamp at the edge of the
    // integers: refused, and the receiver goes on.
    assert_eq!(post(body, "", None).await.status, 401);
    let wrong = hallwatch::notify::webhook_signature("not-k", now, body);
    assert_eq!(post(body, &wrong, None).await.status, 401);
    let old = hallwatch::notify::webhook_signature("k", now - 3600, body);
    assert_eq!(post(body, &old, None).await.status, 401);
    let edge = format!("t={},v1=00", i64::MIN);
    assert_eq!(post(body, &edge, None).await.status, 401);
    // Signed but without a key: refused.
    let keyless = r#"{"title":"t"}"#;
    let sig = hallwatch::notify::webhook_signature("k", now, keyless);
    assert_eq!(post(keyless, &sig, None).await.status, 400);
    assert_eq!(
        got.lock().unwrap().clone(),
        vec!["c/a1/critical".to_owned()]
    );
    handle.stop(true).await;
}
