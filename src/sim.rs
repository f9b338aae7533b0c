//! The hall simulator: kiosks, window terminals and rating pads that speak
//! the wire contract over MQTT, one connection per device with its presence
//! and last will, like real hardware.
//!
//! Time is compressed by `speed`: with speed 15 an office day of nine hours
//! passes in 36 minutes and a ten-minute service takes 40 seconds. Arrivals
//! follow a day profile that peaks mid-morning and dips over lunch.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use chrono::Timelike;

use crate::config::broker::BrokerAddr;
use crate::domain::HallSpec;

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub broker: BrokerAddr,
    pub prefix: String,
    /// Time compression; 1.0 is real time.
    pub speed: f64,
    /// Mean arrivals per hour per window at the day's average, in simulated time.
    pub arrivals_per_window_hour: f64,
    pub seed: u64,
    /// The server's clock, when the simulator shares its process (the
    /// demo): arrivals then follow the day profile at the hall's own local
    /// hour. Without it the simulator keeps its own simulated hour.
    pub clock: Option<Arc<dyn crate::clock::Clock>>,
    /// Services in a rush: (hall id, service code, factor). Their arrivals
    /// are multiplied by the factor, the other services' stay as they are,
    /// e.g. a week when everyone renews an identity card at the township.
    pub rushes: Vec<(String, String, f64)>,
    /// Citizens with the bookings of the demo's booking platform
    /// (`booking_desk`) come to check in, most of them within their window.
    pub appointments: bool,
}

impl SimOptions {
    /// Simulated seconds per real second now: the shared clock's pace when
    /// there is one (a demo catching up runs faster for a while), else
    /// `speed`.
    fn pace(&self) -> f64 {
        self.clock
            .as_ref()
            .map_or(self.speed, |c| c.rate())
            .max(1e-6)
    }

    /// The simulated time now: the shared clock's, else the system's.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock
            .as_ref()
            .map_or_else(chrono::Utc::now, |c| c.now())
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            broker: BrokerAddr {
                host: "127.0.0.1".into(),
                port: 1883,
            },
            prefix: "hallwatch".into(),
            speed: 15.0,
            arrivals_per_window_hour: 3.2,
            seed: 2026,
            clock: None,
            rushes: Vec::new(),
            appointments: false,
        }
    }
}

/// Relative arrival rate by simulated local hour from 08:30 to 17:30:
/// a mid-morning peak, a lunch dip, a smaller afternoon peak.
const PROFILE: [(f64, f64); 8] = [
    (9.0, 0.7),
    (10.0, 1.2),
    (11.0, 1.6),
    (12.0, 1.0),
    (13.5, 0.3),
    (15.0, 0.9),
    (16.0, 1.1),
    (17.5, 0.6),
];
const DAY_START_H: f64 = 8.5;
const DAY_END_H: f64 = 17.5;

/// The arrival weight at a simulated hour of the day.
pub fn profile_weight(hour: f64) -> f64 {
    PROFILE
        .iter()
        .find(|(until, _)| hour < *until)
        .map_or(0.5, |(_, w)| *w)
}

/// Runs the simulator for `halls` until `stop` is cancelled.
pub async fn run(
    halls: Vec<Arc<HallSpec>>,
    opts: SimOptions,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    for (h, spec) in halls.into_iter().enumerate() {
        let seed = opts.seed.wrapping_add(h as u64 * 1000);
        // The cases the windows accept, for the hall's back office.
        let (cases_tx, cases_rx) = mpsc::channel::<(String, u32)>(4096);
        for w in 0..spec.windows.len() {
            // A spare window (never on duty) stays closed: the staffing
            // advice says when opening it would help.
            let duty = spec.duty(w);
            if duty.weekly.iter().all(Vec::is_empty) && duty.exceptions.values().all(Vec::is_empty)
            {
                continue;
            }
            let (spec, opts, stop) = (spec.clone(), opts.clone(), stop.clone());
            let cases = cases_tx.clone();
            tasks.spawn(async move {
                window_loop(spec, w, opts, seed + w as u64 + 1, cases, stop).await
            });
        }
        if let Some(source) = spec.backoffice.first() {
            let (spec, opts, stop) = (spec.clone(), opts.clone(), stop.clone());
            let source = source.to_string();
            tasks.spawn(async move {
                backoffice_loop(spec, source, cases_rx, opts, seed + 999, stop).await
            });
        }
        if opts.appointments {
            let (spec, opts, stop) = (spec.clone(), opts.clone(), stop.clone());
            tasks.spawn(async move { appointment_loop(spec, opts, seed + 500, stop).await });
        }
        let (spec, opts, stop) = (spec.clone(), opts.clone(), stop.clone());
        // The first hall's kiosk prints one ticket's phone page to follow.
        let link = h == 0;
        tasks.spawn(async move { kiosk_loop(spec, opts, seed, link, stop).await });
    }
    info!(devices = tasks.len(), "Simulator running.");
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Err(e)) => warn!(error = %e, "A simulated device stopped."),
            Err(e) => warn!(error = %e, "A simulated device task failed."),
            Ok(Ok(())) => {}
        }
    }
    Ok(())
}

/// One simulated device's MQTT connection.
struct Device {
    client: AsyncClient,
    replies: mpsc::Receiver<Value>,
    /// Its presence topic; None for a back-office system, which is no
    /// device of the hall and says nothing of its presence.
    status_topic: Option<String>,
    next: u64,
    id_prefix: String,
}

impl Device {
    async fn connect(
        opts: &SimOptions,
        hall: &HallSpec,
        device: &str,
        reply_topic: Option<String>,
    ) -> anyhow::Result<Self> {
        Self::open(opts, hall, device, reply_topic, true).await
    }

    async fn open(
        opts: &SimOptions,
        hall: &HallSpec,
        device: &str,
        reply_topic: Option<String>,
        presence: bool,
    ) -> anyhow::Result<Self> {
        let status_topic =
            presence.then(|| format!("{}/{}/device/{device}/status", opts.prefix, hall.id));
        let mut o = MqttOptions::new(
            format!("sim-{}-{device}", hall.id),
            opts.broker.host.clone(),
            opts.broker.port,
        );
        o.set_keep_alive(Duration::from_secs(15));
        if let Some(topic) = &status_topic {
            o.set_last_will(LastWill::new(
                topic,
                r#"{"online":false}"#,
                QoS::AtLeastOnce,
                true,
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(o, 64);
        let (tx, replies) = mpsc::channel(64);
        let sub = reply_topic.clone();
        let status = status_topic.clone();
        let poller = client.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(t) = &sub {
                            let _ = poller.try_subscribe(t.clone(), QoS::AtLeastOnce);
                        }
                        if let Some(status) = &status {
                            let _ = poller.try_publish(
                                status.clone(),
                                QoS::AtLeastOnce,
                                true,
                                r#"{"online":true}"#,
                            );
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Ok(v) = serde_json::from_slice::<Value>(&p.payload)
                            && tx.send(v).await.is_err()
                        {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if tx.is_closed() {
                            break;
                        }
                        debug!(error = %e, "Simulated device lost the broker; retrying.");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Ok(Self {
            client,
            replies,
            status_topic,
            next: 0,
            id_prefix: format!("{device}-{}", std::process::id()),
        })
    }

    fn next_id(&mut self) -> String {
        self.next += 1;
        format!("{}-{:06}", self.id_prefix, self.next)
    }

    /// Publishes a request and waits for the reply that names it; resends the
    /// same id if no reply comes, as a real device would.
    async fn request(
        &mut self,
        topic: &str,
        id_key: &str,
        mut body: Value,
        stop: &CancellationToken,
    ) -> Option<Value> {
        let id = self.next_id();
        body["id"] = json!(id);
        body["at"] = json!(chrono::Utc::now().to_rfc3339());
        for _ in 0..5 {
            self.client
                .publish(topic, QoS::AtLeastOnce, false, body.to_string())
                .await
                .ok()?;
            let deadline = tokio::time::sleep(Duration::from_secs(5));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    _ = &mut deadline => break,
                    r = self.replies.recv() => match r {
                        Some(v) if v.get(id_key).and_then(Value::as_str) == Some(id.as_str()) => return Some(v),
                        Some(_) => continue,
                        None => return None,
                    },
                }
            }
        }
        None
    }

    async fn offline(self) {
        if let Some(topic) = self.status_topic.clone() {
            let _ = self
                .client
                .publish(topic, QoS::AtLeastOnce, true, r#"{"online":false}"#)
                .await;
        }
        let _ = self.client.disconnect().await;
    }
}

/// Sleeps `simulated_s` seconds of simulated time; false if stopped.
async fn pause(simulated_s: f64, speed: f64, stop: &CancellationToken) -> bool {
    let real = Duration::from_secs_f64((simulated_s / speed).max(0.05));
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(real) => true,
    }
}

const STAFF_NAMES: [&str; 16] = [
    "李敏", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴婷", "徐强", "孙悦",
    "马超", "朱琳", "胡斌", "郭蕾",
];

async fn window_loop(
    spec: Arc<HallSpec>,
    w: usize,
    opts: SimOptions,
    seed: u64,
    cases: mpsc::Sender<(String, u32)>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let win = &spec.windows[w];
    let p = &opts.prefix;
    let command_topic = format!("{p}/{}/window/{}/command", spec.id, win.id);
    let rating_topic = format!("{p}/{}/rater/{}/rating", spec.id, win.id);
    let mut terminal = Device::connect(
        &opts,
        &spec,
        win.terminal.as_str(),
        Some(format!("{p}/{}/window/{}/reply", spec.id, win.id)),
    )
    .await
    .context("terminal")?;
    let mut rater = Device::connect(
        &opts,
        &spec,
        win.rater.as_str(),
        Some(format!("{p}/{}/rater/{}/reply", spec.id, win.id)),
    )
    .await
    .context("rating pad")?;
    // A hall that registers its staff: the window's A角, else someone
    // registered; otherwise any number.
    // Windows without a roster take, in order, the registered staff no
    // window names as its A角, so nobody is at two windows.
    let free: Vec<usize> = (0..spec.staff.len())
        .filter(|i| {
            !spec
                .windows
                .iter()
                .any(|x| x.roster.iter().any(|p| p.a == Some(*i)))
        })
        .collect();
    let unrostered_before = spec.windows[..w]
        .iter()
        .filter(|x| x.roster.iter().all(|p| p.a.is_none()))
        .count();
    let registered = win
        .roster
        .iter()
        .find_map(|p| p.a)
        .or_else(|| free.get(unrostered_before).copied())
        .or_else(|| (!spec.staff.is_empty()).then(|| seed as usize % spec.staff.len()))
        .and_then(|i| spec.staff.get(i));
    let (staff_no, name) = match registered {
        Some(m) => (m.id.to_string(), m.name.as_str()),
        None => (
            format!("S{:03}", (seed % 900) + 1),
            STAFF_NAMES[(seed as usize) % STAFF_NAMES.len()],
        ),
    };
    // Staff arrive within half a simulated minute of each other.
    if !pause(rng.random_range(3.0..30.0), opts.pace(), &stop).await {
        return Ok(());
    }
    let cmd = |op: &str| json!({"op": op});
    let login = json!({"op": "login", "staff": staff_no, "staff_name": name});
    let now = || opts.now();
    let mut logged_in = false;
    let mut login_day = None;
    let services: Vec<String> = spec.services.iter().map(|s| s.code.to_string()).collect();
    while !stop.is_cancelled() {
        // A new day finds every window logged out: the demo's clock may
        // have stepped over the night without this loop seeing it end.
        let today = spec.local_date(now());
        if logged_in && login_day != Some(today) {
            logged_in = false;
        }
        // Staff keep their window's duty: in at its start, out at its end
        // (a 延时服务 Saturday or 午间值班 staffs only some windows).
        if !spec.on_duty(w, now()) {
            if logged_in {
                let out = terminal
                    .request(&command_topic, "command", cmd("logout"), &stop)
                    .await;
                logged_in = out.is_some_and(|r| {
                    r["ok"] != json!(true) && r["error"].as_str() != Some("not_logged_in")
                });
                if logged_in {
                    // Still at a ticket, or paused: finish or resume first.
                    for op in [
                        json!({"op": "finish", "outcome": "completed"}),
                        cmd("resume"),
                    ] {
                        terminal.request(&command_topic, "command", op, &stop).await;
                    }
                    continue;
                }
            }
            if !pause(60.0, opts.pace(), &stop).await {
                break;
            }
            continue;
        }
        if !logged_in {
            terminal
                .request(&command_topic, "command", login.clone(), &stop)
                .await;
            logged_in = true;
            login_day = Some(today);
        }
        // The last call comes a while before the duty ends, so the last
        // citizen is served and rates before closing.
        let closing = spec
            .duty_deadline(w, now(), LAST_CALL_S)
            .is_none_or(|at| spec.local_date(at) != today);
        if closing {
            if !pause(60.0, opts.pace(), &stop).await {
                break;
            }
            continue;
        }
        let Some(reply) = terminal
            .request(&command_topic, "command", cmd("call_next"), &stop)
            .await
        else {
            continue;
        };
        if reply["ok"] != json!(true) {
            // The window is not as this terminal thinks: after a restart of
            // the demo it may still hold a ticket, or a new day logged it out.
            let fix = match reply["error"].as_str() {
                Some("busy") => json!({"op": "finish", "outcome": "completed"}),
                Some("paused") => cmd("resume"),
                _ => login.clone(),
            };
            terminal
                .request(&command_topic, "command", fix, &stop)
                .await;
            if !pause(5.0, opts.pace(), &stop).await {
                break;
            }
            continue;
        }
        let Some(ticket) = reply["ticket"].as_str().map(str::to_owned) else {
            if !pause(rng.random_range(20.0..60.0), opts.pace(), &stop).await {
                break;
            }
            continue;
        };
        // The citizen walks to the window; some never come (过号).
        if !pause(rng.random_range(15.0..60.0), opts.pace(), &stop).await {
            break;
        }
        if rng.random_bool(0.06) {
            terminal
                .request(&command_topic, "command", cmd("recall"), &stop)
                .await;
            if !pause(45.0, opts.pace(), &stop).await {
                break;
            }
            terminal
                .request(&command_topic, "command", cmd("no_show"), &stop)
                .await;
            continue;
        }
        terminal
            .request(&command_topic, "command", cmd("start"), &stop)
            .await;
        let service = spec.services.iter().find(|s| {
            ticket.starts_with(&s.prefix)
                && ticket[s.prefix.len()..].bytes().all(|b| b.is_ascii_digit())
        });
        let expected = service.map_or(600.0, |s| f64::from(s.expected_service_s));
        // Service times spread from a third to twice the expected time.
        let took = expected * rng.random_range(0.35..2.0);
        if !pause(took, opts.pace(), &stop).await {
            break;
        }
        if rng.random_bool(0.04) && services.len() > 1 {
            let own = service.map(|s| s.code.to_string());
            let others: Vec<&String> = services
                .iter()
                .filter(|c| Some(*c) != own.as_ref())
                .collect();
            let to = others[rng.random_range(0..others.len())];
            terminal
                .request(
                    &command_topic,
                    "command",
                    json!({"op": "transfer", "to_service": to}),
                    &stop,
                )
                .await;
            continue;
        }
        // A case reference unique across days and restarts (办件编号).
        let reference = format!("{}-{:08X}-{ticket}", win.id, rng.random::<u32>());
        let promised_days = rng.random_range(1..=3u32);
        let outcome = match rng.random_range(0..100) {
            0..52 => json!({"op": "finish", "outcome": "completed"}),
            // A ticket that handled two matters: two cases.
            52..60 => json!({"op": "finish", "outcome": "completed", "items": 2}),
            60..80 => json!({"op": "finish", "outcome": "accepted",
                "case": {"ref": reference, "item": "承诺件", "promised_days": promised_days}}),
            80..90 => json!({"op": "finish", "outcome": "rejected"}),
            _ => json!({"op": "finish", "outcome": "consulted"}),
        };
        let accepted = outcome["outcome"] == "accepted";
        let reply = terminal
            .request(&command_topic, "command", outcome, &stop)
            .await;
        if accepted && reply.is_some_and(|r| r["ok"] == true) {
            let _ = cases.try_send((reference, promised_days));
        }
        if rng.random_bool(0.75) {
            // The citizen reads the pad and presses: a few seconds after
            // the finish, not at once (that would be staff rating).
            if !pause(rng.random_range(4.0..25.0), opts.pace(), &stop).await {
                break;
            }
            let score = match rng.random_range(0..100) {
                0..62 => 5,
                62..87 => 4,
                87..95 => 3,
                95..98 => 2,
                _ => 1,
            };
            let comment = match score {
                1 => json!("等太久了"),
                2 => json!("材料要求没有一次说清楚"),
                _ => Value::Null,
            };
            rater
                .request(
                    &rating_topic,
                    "rating",
                    json!({"ticket": ticket, "score": score, "comment": comment}),
                    &stop,
                )
                .await;
        }
        if rng.random_bool(0.03) {
            terminal
                .request(
                    &command_topic,
                    "command",
                    json!({"op": "pause", "reason": "break"}),
                    &stop,
                )
                .await;
            if !pause(rng.random_range(300.0..900.0), opts.pace(), &stop).await {
                break;
            }
            terminal
                .request(&command_topic, "command", cmd("resume"), &stop)
                .await;
        }
        if !pause(rng.random_range(10.0..40.0), opts.pace(), &stop).await {
            break;
        }
    }
    terminal.offline().await;
    rater.offline().await;
    Ok(())
}

/// Office seconds of one working day, as the back office paces itself.
/// Office seconds before a window's duty ends when it stops calling.
const LAST_CALL_S: i64 = 20 * 60;

const WORKING_DAY_S: f64 = 8.0 * 3600.0;

/// The hall's back office (审批系统): most cases completed well within
/// their promise and delivered, some suspended for 补正 and resumed, some
/// completed late, so the 限时办结 view and its cards fill by themselves.
async fn backoffice_loop(
    spec: Arc<HallSpec>,
    source: String,
    mut cases: mpsc::Receiver<(String, u32)>,
    opts: SimOptions,
    seed: u64,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut rng = SmallRng::seed_from_u64(seed);
    let p = &opts.prefix;
    let topic = format!("{p}/{}/case/{source}/event", spec.id);
    let mut office = Device::open(
        &opts,
        &spec,
        &source,
        Some(format!("{p}/{}/case/{source}/reply", spec.id)),
        false,
    )
    .await
    .context("back office")?;
    // What is due when (simulated time), in order. With the demo's clock an
    // office second is one of the hall's open hours, so nights and lunch
    // breaks do not count; the pace may change (a demo catching up), so
    // the loop wakes at least once a real second to look.
    let mut due: BinaryHeap<Reverse<(chrono::DateTime<chrono::Utc>, String, &'static str)>> =
        BinaryHeap::new();
    let origin = (tokio::time::Instant::now(), opts.now());
    let now = || match &opts.clock {
        Some(c) => c.now(),
        None => {
            let real = origin.0.elapsed().as_secs_f64() * opts.speed;
            origin.1 + chrono::Duration::milliseconds((real * 1000.0) as i64)
        }
    };
    let after = |office_s: f64| {
        let at = now();
        let secs = office_s as i64;
        let plain = at + chrono::Duration::seconds(secs);
        match &opts.clock {
            Some(_) => spec.office_deadline(at, secs).unwrap_or(plain),
            None => plain,
        }
    };
    loop {
        let wait = due.peek().map(|Reverse((at, _, _))| {
            let ahead = (*at - now()).num_milliseconds() as f64 / 1000.0;
            Duration::from_secs_f64((ahead / opts.pace()).clamp(0.0, 1.0))
        });
        tokio::select! {
            _ = stop.cancelled() => break,
            c = cases.recv() => {
                let Some((reference, days)) = c else { break };
                let days = f64::from(days);
                let plan = rng.random_range(0..100);
                let done_after = match plan {
                    // Late: past the deadline by up to a working day and a half.
                    0..18 => (days + rng.random_range(0.3..1.5)) * WORKING_DAY_S,
                    _ => rng.random_range(0.15..0.85) * days * WORKING_DAY_S,
                };
                if (18..30).contains(&plan) {
                    let s = rng.random_range(0.05..0.3) * WORKING_DAY_S;
                    due.push(Reverse((after(s), reference.clone(), "suspend")));
                    due.push(Reverse((after(s + 0.4 * WORKING_DAY_S), reference.clone(), "resume")));
                    due.push(Reverse((after(done_after + 0.5 * WORKING_DAY_S), reference.clone(), "complete")));
                } else {
                    due.push(Reverse((after(done_after), reference.clone(), "complete")));
                }
                let delivered = done_after + rng.random_range(0.6..1.2) * WORKING_DAY_S;
                if rng.random_bool(0.8) {
                    due.push(Reverse((after(delivered), reference, "deliver")));
                }
            }
            _ = async {
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                if due.peek().is_none_or(|Reverse((at, _, _))| *at > now()) {
                    continue;
                }
                let Some(Reverse((_, reference, op))) = due.pop() else { continue };
                let mut body = json!({"ref": reference, "op": op});
                if op == "suspend" {
                    body["reason"] = json!("补正：申请材料不齐，已一次性告知");
                }
                if let Some(r) = office.request(&topic, "event", body, &stop).await
                    && r["ok"] != true
                {
                    debug!(reply = %r, "The back office's report was refused.");
                }
            }
        }
    }
    office.offline().await;
    Ok(())
}

/// Share of booked citizens who come to check in; the rest are 爽约.
const CHECK_IN_SHARE: f64 = 0.9;

/// The citizens with bookings: for each slot the demo's booking platform
/// booked, most come to a kiosk within the slot's check-in window (a few
/// of them late, after it closed) and check in with their reference.
async fn appointment_loop(
    spec: Arc<HallSpec>,
    opts: SimOptions,
    seed: u64,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    use crate::booking_desk::{PER_SLOT, books, reference};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // The last kiosk: the one by the door that citizens with a booking use.
    let Some(kiosk) = spec.kiosks.last() else {
        return Ok(());
    };
    let topic = format!("{}/{}/kiosk/{kiosk}/request", opts.prefix, spec.id);
    let reply = format!("{}/{}/kiosk/{kiosk}/reply", opts.prefix, spec.id);
    // A second connection at the same kiosk, telling its replies apart by id.
    let mut device =
        Device::open(&opts, &spec, &format!("{kiosk}-booked"), Some(reply), false).await?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let step = chrono::Duration::minutes(i64::from(spec.bookings.slot_min));
    let early = i64::from(spec.bookings.early_min) * 60;
    let late = i64::from(spec.bookings.late_min) * 60;
    let mut due: BinaryHeap<Reverse<(chrono::DateTime<chrono::Utc>, String, String)>> =
        BinaryHeap::new();
    let mut planned: Option<chrono::DateTime<chrono::Utc>> = None;
    while !stop.is_cancelled() {
        let now = opts.now();
        // Plan the arrivals of the slots starting within the next hour.
        let into = i64::from(spec.local(now).num_seconds_from_midnight()) % step.num_seconds();
        let first =
            chrono::DateTime::from_timestamp(now.timestamp() - into, 0).unwrap_or(now) + step;
        let mut slot = planned.unwrap_or(first);
        while slot < now + chrono::Duration::hours(1) {
            let open =
                spec.is_open(slot) && spec.is_open(slot + step - chrono::Duration::seconds(1));
            for s in spec.services.iter().filter(|_| open) {
                for k in 0..PER_SLOT {
                    if !books(&spec, &s.code, slot, k) || !rng.random_bool(CHECK_IN_SHARE) {
                        continue;
                    }
                    // Mostly within the window, one in twenty a little late.
                    let offset = if rng.random_bool(0.95) {
                        rng.random_range(-early..late.max(1))
                    } else {
                        rng.random_range(late..late + 1200)
                    };
                    let at = slot + chrono::Duration::seconds(offset);
                    due.push(Reverse((
                        at,
                        reference(&spec, &s.code, slot, k),
                        s.code.to_string(),
                    )));
                }
            }
            slot += step;
        }
        planned = Some(slot);
        while let Some(Reverse((at, _, _))) = due.peek()
            && *at <= now
        {
            let Some(Reverse((_, r, service))) = due.pop() else {
                break;
            };
            let body = json!({"service": service, "priority": "appointment", "appointment": r});
            match device.request(&topic, "request", body, &stop).await {
                Some(r) => debug!(hall = %spec.id, reply = %r, "Appointment at the kiosk."),
                None => break,
            }
        }
        if !pause(60.0, opts.pace(), &stop).await {
            break;
        }
    }
    device.offline().await;
    Ok(())
}

async fn kiosk_loop(
    spec: Arc<HallSpec>,
    opts: SimOptions,
    seed: u64,
    mut link: bool,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut kiosks = Vec::new();
    for k in &spec.kiosks {
        let reply = format!("{}/{}/kiosk/{k}/reply", opts.prefix, spec.id);
        kiosks.push((
            k.to_string(),
            Device::connect(&opts, &spec, k.as_str(), Some(reply)).await?,
        ));
    }
    if kiosks.is_empty() {
        return Ok(());
    }
    // Service demand weights: comprehensive services draw more than the rest.
    let weights: Vec<(f64, f64)> = spec
        .services
        .iter()
        .map(|s| {
            let windows = spec
                .windows
                .iter()
                .filter(|w| {
                    w.services
                        .contains(&spec.service_index(&s.code).unwrap_or(usize::MAX))
                })
                .count();
            let rush = opts
                .rushes
                .iter()
                .filter(|(hall, code, _)| {
                    hall.as_str() == spec.id.as_str() && code.as_str() == s.code.as_str()
                })
                .map(|(_, _, factor)| factor.max(0.0))
                .product::<f64>();
            (windows.max(1) as f64, rush)
        })
        .collect();
    // A rush brings more people for its service, on top of the usual ones.
    let usual: f64 = weights.iter().map(|(w, _)| w).sum();
    let weights: Vec<f64> = weights.iter().map(|(w, rush)| w * rush).collect();
    let total: f64 = weights.iter().sum();
    let rate_per_s = opts.arrivals_per_window_hour * spec.windows.len() as f64 / 3600.0
        * (total / usual.max(f64::EPSILON));
    // The simulated day starts at opening time, with a queue already at the door.
    let mut hour = DAY_START_H;
    let mut burst = spec.windows.len().min(12);
    while !stop.is_cancelled() {
        let gap = if burst > 0 {
            burst -= 1;
            1.0
        } else {
            let lambda = (rate_per_s * profile_weight(hour)).max(1e-6);
            -rng.random_range(f64::EPSILON..1.0f64).ln() / lambda
        };
        if !pause(gap, opts.pace(), &stop).await {
            break;
        }
        hour += gap / 3600.0;
        if hour >= DAY_END_H {
            hour = DAY_START_H;
        }
        if let Some(clock) = &opts.clock {
            let local = clock.now().with_timezone(&spec.tz);
            hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
        }
        let mut pick = rng.random_range(0.0..total);
        let mut service = 0;
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                service = i;
                break;
            }
            pick -= w;
        }
        let (priority, appointment) = match rng.random_range(0..100) {
            0..7 => ("elderly", Value::Null),
            7..9 => ("disabled", Value::Null),
            13..15 => ("green", Value::Null),
            _ => ("normal", Value::Null),
        };
        // After the cut-off (停止取号) citizens read the sign and do not
        // take a walk-in ticket.
        let walk_in = !matches!(priority, "appointment" | "green");
        if walk_in && spec.issuing_stopped(opts.now()) {
            continue;
        }
        let k = rng.random_range(0..kiosks.len());
        let (kiosk, device) = &mut kiosks[k];
        let topic = format!("{}/{}/kiosk/{kiosk}/request", opts.prefix, spec.id);
        let mut body = json!({"service": spec.services[service].code, "priority": priority, "appointment": appointment});
        if priority == "green" {
            // Granted at the guide desk (导办台), with its reason.
            let reason = ["危重病人", "残疾人陪同", "现役军人", "急事急办"][rng.random_range(0..4)];
            body["green_reason"] = json!(reason);
            let by = spec
                .staff
                .first()
                .map_or("DB01".to_owned(), |m| m.id.to_string());
            body["issued_by"] = json!(by);
        }
        match device.request(&topic, "request", body, &stop).await {
            Some(r) if r["ok"] == json!(true) => {
                debug!(hall = %spec.id, ticket = %r["ticket"], "Ticket issued.");
                // One ticket a newcomer can follow on a phone page, taken
                // at today's pace (not while the demo lives earlier days)
                // with a few ahead of it.
                if link
                    && opts.pace() <= opts.speed * 1.01
                    && r["waiting_ahead"].as_u64().is_some_and(|n| n >= 2)
                    && let Some(url) = r["url"].as_str()
                {
                    link = false;
                    println!(
                        "  a citizen's phone page: ticket {} at {} ({} ahead): {url}",
                        r["ticket"].as_str().unwrap_or("?"),
                        spec.name,
                        r["waiting_ahead"]
                    );
                }
            }
            Some(r) => debug!(hall = %spec.id, reply = %r, "Ticket refused."),
            None => {}
        }
    }
    for (_, d) in kiosks {
        d.offline().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn arrivals_peak_mid_morning_and_dip_at_lunch() {
        let w = super::profile_weight;
        assert!(w(10.5) > w(9.5) && w(10.5) > w(14.0));
        assert!(w(12.5) < w(9.0) && w(12.5) < w(15.5));
    }
}
