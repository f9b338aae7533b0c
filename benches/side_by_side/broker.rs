//! The broker's own limit: one publisher to one subscriber through the
//! same Mosquitto, the same client library and 200-byte payloads, with no
//! server in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use rumqttc::QoS;

use crate::env::{CpuMeter, CpuUse};
use crate::load::connect;
use crate::stats::Latencies;

/// A payload of 200 bytes that starts with `n` and a space.
pub fn payload(n: usize) -> Vec<u8> {
    let mut p = format!("{n} ").into_bytes();
    p.resize(200, b'x');
    p
}

/// Messages a second from publish to receipt of the last of `n`.
pub struct Throughput {
    pub per_s: f64,
    pub received: u64,
    pub cpu: CpuUse,
}

pub async fn throughput(
    port: u16,
    broker_pid: u32,
    qos: QoS,
    n: usize,
    run: &str,
) -> anyhow::Result<Throughput> {
    let received = Arc::new(AtomicU64::new(0));
    let last = Arc::new(Mutex::new(Instant::now()));
    let (r, l) = (received.clone(), last.clone());
    let topic = format!("bench/{run}");
    let sub = connect(port, &format!("{run}-sub"), 1000, move |_| {
        r.fetch_add(1, Ordering::Relaxed);
        *l.lock().unwrap() = Instant::now();
    })
    .await?;
    sub.client.subscribe(&topic, qos).await?;
    let publ = connect(port, &format!("{run}-pub"), 1000, |_| {}).await?;
    // The SUBACK has no event here; a probe message shows the route is up.
    let probe_deadline = Instant::now() + Duration::from_secs(5);
    while received.load(Ordering::Relaxed) == 0 {
        publ.client
            .publish(&topic, QoS::AtLeastOnce, false, payload(0))
            .await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if Instant::now() > probe_deadline {
            bail!("the subscriber heard nothing through the broker");
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    received.store(0, Ordering::SeqCst);
    let cpu = CpuMeter::start(None, Some(broker_pid));
    let started = Instant::now();
    for i in 0..n {
        publ.client.publish(&topic, qos, false, payload(i)).await?;
    }
    // Until all are in, or nothing more came for a second (QoS 0 may drop).
    let mut seen = 0;
    let mut quiet_since = Instant::now();
    while (received.load(Ordering::Relaxed) as usize) < n {
        let now = received.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let got = received.load(Ordering::Relaxed);
    let elapsed = last.lock().unwrap().saturating_duration_since(started);
    let cpu = cpu.stop();
    sub.task.abort();
    publ.task.abort();
    Ok(Throughput {
        per_s: got as f64 / elapsed.as_secs_f64().max(1e-6),
        received: got,
        cpu,
    })
}

/// Publish→receive latency at a fixed rate, QoS 1, 200-byte payloads.
pub async fn latency(port: u16, rate: f64, n: usize, run: &str) -> anyhow::Result<Latencies> {
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let lat = Arc::new(Mutex::new(Latencies::default()));
    let received = Arc::new(AtomicU64::new(0));
    let (s, l, r) = (sent.clone(), lat.clone(), received.clone());
    let topic = format!("bench/{run}");
    let sub = connect(port, &format!("{run}-sub"), 1000, move |p| {
        let now = Instant::now();
        r.fetch_add(1, Ordering::Relaxed);
        let n = p
            .payload
            .split(|b| *b == b' ')
            .next()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<usize>().ok());
        if let Some(at) = n.and_then(|n| s.lock().unwrap().get(n).copied()) {
            l.lock().unwrap().push(now.saturating_duration_since(at));
        }
    })
    .await?;
    sub.client.subscribe(&topic, QoS::AtLeastOnce).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let publ = connect(port, &format!("{run}-pub"), 1000, |_| {}).await?;
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut i = 0;
    while i < n {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate) as usize).min(n);
        while i < due {
            sent.lock().unwrap().push(Instant::now());
            publ.client
                .publish(&topic, QoS::AtLeastOnce, false, payload(i))
                .await?;
            i += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while (received.load(Ordering::Relaxed) as usize) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sub.task.abort();
    publ.task.abort();
    let out = std::mem::take(&mut *lat.lock().unwrap());
    Ok(out)
}
