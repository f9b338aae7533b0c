//! Screen clients: display WebSockets of hallwatch or Node-RED, which time
//! each `call` frame against its window's `call_next`, and MQTT-over-
//! WebSocket subscribers of Mosquitto, which time each message against its
//! publish.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet, Subscribe};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use crate::load::{CallTimes, Layout};
use crate::stats::Latencies;

/// Clients per source address: hallwatch budgets WebSocket handshakes per
/// address (600 a minute, a burst of 200), so the clients come from many
/// loopback addresses, as screens come from many machines. Ten each keeps a
/// fan-out ramp (1,000 screens connecting anew at each of 15 steps) within
/// the budget.
const PER_ADDRESS: usize = 10;

/// Loopback source address of client `i`: 127.1.x.y.
fn source(i: usize) -> Ipv4Addr {
    let k = i / PER_ADDRESS;
    Ipv4Addr::new(127, 1, (k / 250) as u8, (k % 250 + 1) as u8)
}

async fn tcp_from(i: usize, port: u16) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((source(i), 0)))?;
    let stream = s.connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What one screen saw.
#[derive(Default)]
pub struct Seen {
    pub frames: u64,
    pub calls: u64,
    /// Fresh snapshots after the first: the server sends one to a screen
    /// that fell behind, in place of the frames it could not take.
    pub resyncs: u64,
    pub latency: Latencies,
}

/// A display client of hall index `h` on `path`, counted in `ready` once
/// its snapshot is in; reads until `stop`. With `hello` it first sends its
/// hall's id, which is how a Node-RED flow learns that a screen wants its
/// snapshot (hallwatch sends one unasked).
#[allow(clippy::too_many_arguments)]
pub async fn display(
    i: usize,
    port: u16,
    path: String,
    hello: bool,
    h: usize,
    times: Arc<CallTimes>,
    ready: Arc<AtomicUsize>,
    stop: CancellationToken,
) -> anyhow::Result<JoinHandle<Seen>> {
    let stream = tcp_from(i, port).await.context("connect")?;
    let url = format!("ws://127.0.0.1:{port}{path}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .context("WebSocket handshake")?;
    if hello {
        ws.send(Message::Text(Layout::hall(h).into()))
            .await
            .context("hello")?;
    }
    Ok(tokio::spawn(async move {
        let mut seen = Seen::default();
        let mut per_window = vec![0usize; times.windows];
        let mut snapshot = false;
        loop {
            let msg = tokio::select! {
                m = ws.next() => m,
                () = stop.cancelled() => break,
            };
            let Some(Ok(msg)) = msg else { break };
            let text = match &msg {
                Message::Text(t) => t.as_str(),
                _ => continue,
            };
            if !snapshot {
                snapshot = true;
                ready.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            seen.frames += 1;
            if text.contains("\"type\":\"snapshot\"") {
                seen.resyncs += 1;
                continue;
            }
            if !text.contains("\"type\":\"call\"") {
                continue;
            }
            let now = Instant::now();
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            let Some(j) = v
                .get("window")
                .and_then(Value::as_str)
                .and_then(|w| w.parse::<usize>().ok())
                .and_then(|w| w.checked_sub(1))
                .filter(|j| *j < times.windows)
            else {
                continue;
            };
            seen.calls += 1;
            if let Some(sent) = times.sent_at(h, j, per_window[j]) {
                seen.latency.push(now.saturating_duration_since(sent));
            }
            per_window[j] += 1;
        }
        let _ = ws.close(None).await;
        seen
    }))
}

/// `n` display clients spread over `halls` halls (client i on hall i mod
/// halls), `concurrency` handshakes at a time; returns once every snapshot is
/// in, with the time that took.
#[allow(clippy::too_many_arguments)]
pub async fn displays(
    n: usize,
    halls: usize,
    port: u16,
    path_of: impl Fn(usize) -> String,
    hello: bool,
    times: &Arc<CallTimes>,
    stop: &CancellationToken,
    concurrency: usize,
) -> anyhow::Result<(Vec<JoinHandle<Seen>>, Duration)> {
    let ready = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles = connect_all(n, concurrency, |i| {
        let h = i % halls;
        display(
            i,
            port,
            path_of(h),
            hello,
            h,
            times.clone(),
            ready.clone(),
            stop.clone(),
        )
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            bail!(
                "only {} of {n} screens had their snapshot after 120 s",
                ready.load(Ordering::SeqCst)
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((handles, started.elapsed()))
}

/// How long one client may take from its TCP connect to reading: a client
/// that takes longer names itself, rather than the whole run waiting.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// Connects `n` clients, `concurrency` at a time (screens of a hall come up
/// together, not one after another), and returns their reading tasks in
/// client order.
pub async fn connect_all<F>(
    n: usize,
    concurrency: usize,
    mut client: impl FnMut(usize) -> F,
) -> anyhow::Result<Vec<JoinHandle<Seen>>>
where
    F: std::future::Future<Output = anyhow::Result<JoinHandle<Seen>>> + Send + 'static,
{
    let mut handles: Vec<Option<JoinHandle<Seen>>> = (0..n).map(|_| None).collect();
    let mut pending = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < n || !pending.is_empty() {
        while next < n && pending.len() < concurrency.max(1) {
            let i = next;
            let f = client(i);
            pending.spawn(async move {
                let done = tokio::time::timeout(CONNECT_LIMIT, f).await;
                (i, done)
            });
            next += 1;
        }
        let Some(joined) = pending.join_next().await else {
            break;
        };
        let (i, done) = joined?;
        match done {
            Ok(Ok(h)) => handles[i] = Some(h),
            Ok(Err(e)) => return Err(e.context(format!("client {i}"))),
            Err(_) => bail!("client {i} was not connected within {CONNECT_LIMIT:?}"),
        }
    }
    Ok(handles.into_iter().flatten().collect())
}

/// Stops the clients and adds up what they saw.
pub async fn collect(stop: &CancellationToken, handles: Vec<JoinHandle<Seen>>) -> Vec<Seen> {
    stop.cancel();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(s) = h.await {
            out.push(s);
        }
    }
    out
}

/// Publish instants of the Mosquitto fan-out messages, by sequence number.
pub type SentTimes = Arc<std::sync::Mutex<Vec<Instant>>>;

/// An MQTT-over-WebSocket subscriber `id` (client `i` of its step) of
/// `topic` at QoS 0; each message's payload starts with its sequence number.
pub async fn mqtt_ws_subscriber(
    id: String,
    i: usize,
    ws_port: u16,
    topic: String,
    sent: SentTimes,
    stop: CancellationToken,
) -> anyhow::Result<JoinHandle<Seen>> {
    let stream = tcp_from(i, ws_port).await.context("connect")?;
    let mut req = format!("ws://127.0.0.1:{ws_port}/mqtt").into_client_request()?;
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse()?);
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream)
        .await
        .context("MQTT WebSocket handshake")?;
    let mut buf = BytesMut::new();
    let mut connect = Connect::new(id);
    connect.keep_alive = 600;
    Packet::Connect(connect).write(&mut buf, 1 << 20)?;
    // A SUBSCRIBE needs a packet id other than 0, or the broker hangs up.
    let mut subscribe = Subscribe::new(&topic, QoS::AtMostOnce);
    subscribe.pkid = 1;
    Packet::Subscribe(subscribe).write(&mut buf, 1 << 20)?;
    ws.send(Message::Binary(buf.split().freeze())).await?;
    // Until the SUBACK, so that no message is published before we listen.
    let mut inbox = BytesMut::new();
    'sub: loop {
        let b = match ws.next().await {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(_)) => continue,
            other => bail!("Mosquitto closed the WebSocket before SUBACK: {other:?}"),
        };
        inbox.extend_from_slice(&b);
        while let Ok(p) = Packet::read(&mut inbox, 1 << 20) {
            if matches!(p, Packet::SubAck(_)) {
                break 'sub;
            }
        }
    }
    Ok(tokio::spawn(async move {
        let mut seen = Seen::default();
        loop {
            let msg = tokio::select! {
                m = ws.next() => m,
                () = stop.cancelled() => break,
            };
            let b = match msg {
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(_)) => continue,
                _ => break,
            };
            let now = Instant::now();
            inbox.extend_from_slice(&b);
            while let Ok(p) = Packet::read(&mut inbox, 1 << 20) {
                let Packet::Publish(p) = p else { continue };
                seen.frames += 1;
                seen.calls += 1;
                let n = p
                    .payload
                    .split(|b| *b == b' ')
                    .next()
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| s.parse::<usize>().ok());
                if let Some(at) = n.and_then(|n| sent.lock().unwrap().get(n).copied()) {
                    seen.latency.push(now.saturating_duration_since(at));
                }
            }
        }
        let _ = ws.close(None).await;
        seen
    }))
}
