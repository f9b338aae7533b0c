//! The load: halls of windows that each run the day's cycle
//! (a ticket is taken, called, served, finished and rated) over MQTT, as
//! the wire contract has kiosks, window terminals and rating pads do.
//!
//! Each window's messages leave on one connection in order, so every
//! `call_next` finds a ticket and every op is valid: the run measures work
//! done, not refusals.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The services every window serves: code, name, ticket prefix.
pub const SERVICES: [(&str, &str, &str); 3] = [
    ("SB", "社会保障", "B"),
    ("GA", "公安专项", "G"),
    ("BDC", "不动产登记", "F"),
];

/// Messages per citizen: request, call_next, start, finish, rating.
pub const PER_CYCLE: usize = 5;

/// How many halls and windows.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub halls: usize,
    pub windows: usize,
}

impl Layout {
    pub fn hall(i: usize) -> String {
        format!("h{}", i + 1)
    }

    pub fn window(j: usize) -> String {
        format!("{:02}", j + 1)
    }

    /// The server's configuration: every hall open around the clock.
    pub fn config(&self, http_port: u16, database_url: &str, broker_port: u16) -> String {
        let mut t = format!(
            "[server]\nlisten = \"127.0.0.1:{http_port}\"\ndatabase_url = \"{database_url}\"\n\n\
             [mqtt]\nbroker = \"mqtt://127.0.0.1:{broker_port}\"\nclient_id = \"hallwatch-bench\"\n\
             prefix = \"hallwatch\"\n"
        );
        let all_day = "\"00:00-23:59\"";
        for h in 0..self.halls {
            let kiosks: Vec<String> = (0..self.windows)
                .map(|j| format!("\"k{}\"", Self::window(j)))
                .collect();
            t.push_str(&format!(
                "\n[[halls]]\nid = \"{}\"\nname = \"第{}政务服务中心\"\nlevel = \"county\"\nkiosks = [{}]\n\
                 hours = {{ mon = [{all_day}], tue = [{all_day}], wed = [{all_day}], thu = [{all_day}], \
                 fri = [{all_day}], sat = [{all_day}], sun = [{all_day}] }}\n",
                Self::hall(h),
                h + 1,
                kiosks.join(", ")
            ));
            for (code, name, prefix) in SERVICES {
                t.push_str(&format!(
                    "\n[[halls.services]]\ncode = \"{code}\"\nname = \"{name}\"\nprefix = \"{prefix}\"\n"
                ));
            }
            let codes: Vec<String> = SERVICES.iter().map(|s| format!("\"{}\"", s.0)).collect();
            for j in 0..self.windows {
                t.push_str(&format!(
                    "\n[[halls.windows]]\nid = \"{}\"\nname = \"{}号窗口\"\nkind = \"comprehensive\"\nservices = [{}]\n",
                    Self::window(j),
                    j + 1,
                    codes.join(", ")
                ));
            }
        }
        t
    }

    /// The same halls for the Node-RED flow.
    pub fn halls_json(&self) -> String {
        let halls: Vec<Value> = (0..self.halls)
            .map(|h| {
                json!({
                    "id": Self::hall(h),
                    "services": SERVICES.iter().map(|(c, n, p)| json!({"code": c, "name": n, "prefix": p})).collect::<Vec<_>>(),
                    "windows": (0..self.windows).map(|j| json!({
                        "id": Self::window(j),
                        "name": format!("{}号窗口", j + 1),
                        "services": SERVICES.iter().map(|s| s.0).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        Value::Array(halls).to_string()
    }
}

/// One message of a window's script.
pub struct Msg {
    pub topic: String,
    pub id: String,
    pub payload: Vec<u8>,
    /// A `call_next`: the display frames it causes are timed from it.
    pub is_call: bool,
}

/// Window `j` of hall `h`: its login (unless it is logged in from an
/// earlier run), then `cycles` citizens.
pub fn script(run: &str, h: usize, j: usize, cycles: usize, login: bool) -> Vec<Msg> {
    let (hall, w) = (Layout::hall(h), Layout::window(j));
    let base = format!("hallwatch/{hall}");
    // Ids hold the run, hall and device, so they are unique in the whole run.
    let mut out = Vec::with_capacity(1 + cycles * PER_CYCLE);
    let mut push = |topic: String, id: String, body: Value, is_call: bool| {
        let mut body = body;
        body["id"] = Value::String(id.clone());
        out.push(Msg {
            topic,
            id,
            payload: body.to_string().into_bytes(),
            is_call,
        });
    };
    let command = format!("{base}/window/{w}/command");
    if login {
        push(
            command.clone(),
            format!("{run}-{hall}-w{w}-login"),
            json!({"op": "login", "staff": format!("S{h:03}{w}"), "staff_name": format!("工作人员{w}")}),
            false,
        );
    }
    for c in 0..cycles {
        let service = SERVICES[c % SERVICES.len()].0;
        push(
            format!("{base}/kiosk/k{w}/request"),
            format!("{run}-{hall}-k{w}-{c}"),
            json!({"service": service, "priority": "normal"}),
            false,
        );
        push(
            command.clone(),
            format!("{run}-{hall}-w{w}-{c}-call"),
            json!({"op": "call_next"}),
            true,
        );
        push(
            command.clone(),
            format!("{run}-{hall}-w{w}-{c}-start"),
            json!({"op": "start"}),
            false,
        );
        push(
            command.clone(),
            format!("{run}-{hall}-w{w}-{c}-finish"),
            json!({"op": "finish", "outcome": "completed"}),
            false,
        );
        push(
            format!("{base}/rater/{w}/rating"),
            format!("{run}-{hall}-r{w}-{c}"),
            json!({"score": 1 + (c % 5), "comment": ""}),
            false,
        );
    }
    out
}

/// An MQTT connection whose event loop runs in its own task; `acked`
/// counts QoS 1 acknowledgements from the broker.
pub struct Conn {
    pub client: AsyncClient,
    pub task: JoinHandle<()>,
}

pub async fn connect(
    port: u16,
    id: &str,
    inflight: u16,
    on_publish: impl FnMut(rumqttc::Publish) + Send + 'static,
) -> anyhow::Result<Conn> {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30))
        .set_inflight(inflight)
        .set_request_channel_capacity(10_000)
        .set_max_packet_size(64 * 1024, 64 * 1024);
    let (client, mut el) = AsyncClient::new(o, 10_000);
    wait_connack(&mut el)
        .await
        .with_context(|| format!("MQTT connection {id}"))?;
    let mut on_publish = on_publish;
    let task = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => on_publish(p),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    Ok(Conn { client, task })
}

async fn wait_connack(el: &mut EventLoop) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, el.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => bail!("{e}"),
            Err(_) => bail!("no CONNACK within 10 s"),
        }
    }
}

/// The replies the devices received, by message id, and (when asked for)
/// the calls the server published, by hall and ticket.
#[derive(Default)]
pub struct Replies {
    pub count: HashMap<String, u32>,
    pub refused: u64,
    /// The ids whose reply was a refusal.
    pub refused_ids: HashSet<String>,
    pub total: u64,
    pub last: Option<Instant>,
    pub calls: HashMap<(String, String), u32>,
}

/// Subscribes to every reply topic and counts each reply under its id;
/// with `calls`, to every hall's call topic as well, counting each call.
pub async fn reply_counter(
    port: u16,
    run: &str,
    calls: bool,
) -> anyhow::Result<(Conn, Arc<Mutex<Replies>>)> {
    let replies = Arc::new(Mutex::new(Replies::default()));
    let r = replies.clone();
    let conn = connect(port, &format!("{run}-replies"), 1000, move |p| {
        let Ok(v) = serde_json::from_slice::<Value>(&p.payload) else {
            return;
        };
        let mut r = r.lock().unwrap();
        if let Some(hall) = p
            .topic
            .strip_prefix("hallwatch/")
            .and_then(|t| t.strip_suffix("/call"))
        {
            let ticket = v.get("ticket").and_then(Value::as_str).unwrap_or_default();
            *r.calls
                .entry((hall.to_owned(), ticket.to_owned()))
                .or_default() += 1;
            return;
        }
        let id = ["request", "command", "rating"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str));
        r.total += 1;
        r.last = Some(Instant::now());
        let ok = v.get("ok") == Some(&Value::Bool(true));
        if !ok {
            r.refused += 1;
        }
        if let Some(id) = id {
            *r.count.entry(id.to_owned()).or_default() += 1;
            if !ok {
                r.refused_ids.insert(id.to_owned());
            }
        }
    })
    .await?;
    conn.client
        .subscribe("hallwatch/+/+/+/reply", QoS::AtLeastOnce)
        .await?;
    if calls {
        conn.client
            .subscribe("hallwatch/+/call", QoS::AtLeastOnce)
            .await?;
    }
    Ok((conn, replies))
}

/// Lost (no reply) and doubled (more than one) among `ids`.
pub fn lost_and_doubled<'a>(replies: &Replies, ids: impl Iterator<Item = &'a str>) -> (u64, u64) {
    let (mut lost, mut doubled) = (0, 0);
    for id in ids {
        match replies.count.get(id) {
            None => lost += 1,
            Some(1) => {}
            Some(_) => doubled += 1,
        }
    }
    (lost, doubled)
}

/// Waits until `n` replies are in or nothing came for `quiet`.
pub async fn wait_replies(replies: &Mutex<Replies>, n: u64, quiet: Duration) {
    let progress = || (replies.lock().unwrap().total, n);
    wait_done_or_quiet(progress, quiet, Duration::from_millis(5)).await;
}

/// Waits, looking every `every`, until `progress` (done, wanted) says all
/// is done, or it has not moved for `quiet`.
pub async fn wait_done_or_quiet(
    mut progress: impl FnMut() -> (u64, u64),
    quiet: Duration,
    every: Duration,
) {
    let mut last = 0;
    let mut changed = Instant::now();
    loop {
        let (done, wanted) = progress();
        if done >= wanted {
            return;
        }
        if done != last {
            last = done;
            changed = Instant::now();
        } else if changed.elapsed() > quiet {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

/// When each window's `call_next` messages were published, in order, by
/// hall and window index; a display client's n-th `call` of a window
/// belongs to the n-th `call_next`.
pub struct CallTimes {
    pub windows: usize,
    pub sent: Vec<Mutex<Vec<Instant>>>,
}

impl CallTimes {
    pub fn new(layout: Layout) -> Arc<Self> {
        Arc::new(Self {
            windows: layout.windows,
            sent: (0..layout.halls * layout.windows)
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
        })
    }

    pub fn sent_at(&self, h: usize, j: usize, n: usize) -> Option<Instant> {
        self.sent
            .get(h * self.windows + j)
            .and_then(|v| v.lock().unwrap().get(n).copied())
    }

    pub fn calls(&self, h: usize) -> usize {
        (0..self.windows)
            .map(|j| self.sent[h * self.windows + j].lock().unwrap().len())
            .sum()
    }
}

/// One connection per window (a terminal with its kiosk and rating pad).
pub async fn window_conns(
    port: u16,
    run: &str,
    layout: Layout,
    inflight: u16,
) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(layout.halls * layout.windows);
    for h in 0..layout.halls {
        for j in 0..layout.windows {
            conns.push(connect(port, &format!("{run}-h{h}-w{j}"), inflight, |_| {}).await?);
        }
    }
    Ok(conns)
}

/// Publishes every window's script at `rate` messages a second in all,
/// round robin over the windows, noting each `call_next` in `times`.
/// Returns the ids sent.
pub async fn paced(
    conns: &[Conn],
    scripts: Vec<Vec<Msg>>,
    rate: f64,
    times: &CallTimes,
) -> anyhow::Result<Vec<String>> {
    let total: usize = scripts.iter().map(Vec::len).sum();
    let mut ids = Vec::with_capacity(total);
    let mut cursors = vec![0usize; scripts.len()];
    let started = tokio::time::Instant::now();
    let mut sent = 0usize;
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while sent < total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate) as usize).min(total);
        while sent < due {
            // The next window with messages left.
            let k = loop {
                let k = next % scripts.len();
                next += 1;
                if cursors[k] < scripts[k].len() {
                    break k;
                }
            };
            let m = &scripts[k][cursors[k]];
            cursors[k] += 1;
            if m.is_call {
                times.sent[k].lock().unwrap().push(Instant::now());
            }
            conns[k]
                .client
                .publish(m.topic.as_str(), QoS::AtLeastOnce, false, m.payload.clone())
                .await?;
            ids.push(m.id.clone());
            sent += 1;
        }
    }
    Ok(ids)
}
