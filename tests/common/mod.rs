//! Shared test harness: a real Mosquitto on a free port, the server on port
//! 0 with a fresh database, and MQTT devices that wait for their replies.
#![allow(dead_code)]

pub mod pg;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hallwatch::app::Application;
use hallwatch::clock::{Clock, StartedClock};
use hallwatch::config::Settings;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

pub mod stream;

/// True when the environment (CI) demands a dependency rather than a skip.
pub fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1" || v == "true")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

fn find_mosquitto() -> Option<PathBuf> {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A Mosquitto (or NATS with its MQTT listener) the test started itself,
/// on loopback, killed on drop.
pub struct Broker {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    bin: PathBuf,
    conf: PathBuf,
}

impl Broker {
    /// Starts a broker, or returns None (and says so) when Mosquitto is not
    /// installed and `HALLWATCH_REQUIRE_BROKER` is not set. CI sets it, so
    /// there a missing broker fails the test instead.
    pub fn start() -> Option<Self> {
        Self::start_with("")
    }

    pub fn start_with(extra_config: &str) -> Option<Self> {
        let Some(bin) = find_mosquitto() else {
            if required("HALLWATCH_REQUIRE_BROKER") {
                panic!(
                    "mosquitto is not installed and HALLWATCH_REQUIRE_BROKER=1: run .ci/run or `apt-get install mosquitto`"
                );
            }
            eprintln!(
                "SKIPPED: mosquitto is not installed (set HALLWATCH_REQUIRE_BROKER=1 to make this an error)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        // Started as root, Mosquitto drops to its own user, which must be
        // able to save its sessions here.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777));
        }
        let port = free_port();
        Some(Self::spawn(bin, dir, port, extra_config))
    }

    fn spawn(bin: PathBuf, dir: tempfile::TempDir, port: u16, extra: &str) -> Self {
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
                 max_queued_messages 100000\nmax_inflight_messages 100\nlog_dest stderr\nlog_type error\n{extra}\n",
                dir.path().display()
            ),
        )
        .expect("write mosquitto.conf");
        Self::run(bin, dir, conf, port)
    }

    fn run(bin: PathBuf, dir: tempfile::TempDir, conf: PathBuf, port: u16) -> Self {
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let broker = Self {
            port,
            child,
            dir,
            bin,
            conf,
        };
        broker.wait_listening();
        broker
    }

    /// NATS with JetStream and its MQTT listener, a clusterable broker of
    /// another make than Mosquitto; None (and says so) when nats-server is
    /// not installed and `HALLWATCH_REQUIRE_BROKER` is not set.
    pub fn start_nats() -> Option<Self> {
        let Some(bin) = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists()) else {
            if required("HALLWATCH_REQUIRE_BROKER") {
                panic!(
                    "nats-server is not installed and HALLWATCH_REQUIRE_BROKER=1: run .ci/run or `apt-get install nats-server`"
                );
            }
            eprintln!(
                "SKIPPED: nats-server is not installed (set HALLWATCH_REQUIRE_BROKER=1 to make this an error)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, client) = (free_port(), free_port());
        // NATS redelivers what a session did not acknowledge after
        // `ack_wait` (default 30 s), also to the session's next owner: a
        // few seconds, as for a hall's failover.
        let conf = dir.path().join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: \"127.0.0.1:{client}\"\nserver_name: hw_test_{port}\nlog_file: \"{}\"\n\
                 jetstream {{ store_dir: \"{}\" }}\nmqtt {{ listen: \"127.0.0.1:{port}\", ack_wait: \"2s\" }}\n",
                dir.path().join("nats.log").display(),
                dir.path().join("js").display()
            ),
        )
        .expect("write nats.conf");
        Some(Self::run(bin, dir, conf, port))
    }

    fn wait_listening(&self) {
        let port = self.port;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{} did not start on port {port}", self.bin.display());
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops the broker the way an operator's restart does (SIGTERM) and
    /// starts it again on the same port. With `forget`, its saved sessions,
    /// subscriptions and retained messages are wiped first, like a broker
    /// replaced by a fresh one.
    pub fn restart(&mut self, down_for: Duration, forget: bool) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        if forget {
            let _ = std::fs::remove_file(self.dir.path().join("mosquitto.db"));
        }
        std::thread::sleep(down_for);
        self.child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("restart mosquitto");
        self.wait_listening();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// When every test starts: Monday 2026-11-23, 09:00 in the test hall
/// (Asia/Shanghai), the moment it opens. Tests never read the wall clock,
/// so the suite passes whatever the hour it runs at.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

/// A small hall for tests, open on weekdays with a lunch break: two
/// services, three windows, two kiosks.
pub const TEST_HALLS: &str = r#"
[[halls]]
id = "h1"
name = "测试县政务服务中心"
level = "county"
kiosks = ["k1", "k2"]
backoffice = ["ywxt"]
hours = { weekdays = ["09:00-12:00", "13:30-17:30"] }

[[halls.services]]
code = "SB"
name = "社会保障"
prefix = "B"

[[halls.services]]
code = "GA"
name = "公安专项"
prefix = "G"

[[halls.windows]]
id = "01"
name = "1号窗口"
kind = "comprehensive"
services = ["SB", "GA"]

[[halls.windows]]
id = "02"
name = "2号窗口"
kind = "comprehensive"
services = ["SB"]

[[halls.windows]]
id = "03"
name = "3号窗口"
kind = "domain"
services = ["GA"]
"#;

/// An access token for `secret`, stored as its SHA-256 like the configuration does.
pub fn token(
    name: &str,
    role: hallwatch::config::Role,
    halls: &[&str],
    secret: &str,
) -> hallwatch::config::TokenSettings {
    use sha2::{Digest, Sha256};
    hallwatch::config::TokenSettings {
        name: name.into(),
        role,
        halls: halls.iter().map(|h| (*h).to_owned()).collect(),
        sha256: Sha256::digest(secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        departments: None,
        regions: Vec::new(),
    }
}

/// Settings for a test server: loopback, port 0, the given broker and database.
pub fn settings(broker_url: &str, database_url: &str, client_id: &str) -> Settings {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndatabase_url = \"{database_url}\"\n\
         [mqtt]\nbroker = \"{broker_url}\"\nclient_id = \"{client_id}\"\nprefix = \"hallwatch\"\n{TEST_HALLS}"
    );
    Settings::parse(&text).expect("test settings")
}

/// A fresh SQLite file in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("events.db").display())
}

/// A server running in this process.
pub struct TestApp {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// A server for hall `h1` on `broker`, with a fresh SQLite file in the
    /// returned directory (kept alive by the caller).
    pub async fn fresh(broker: &Broker, client_id: &str) -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = Self::spawn(settings(&broker.url(), &sqlite_url(dir.path()), client_id)).await;
        (dir, app)
    }

    /// A server on a clock that starts at [`t0`] and runs at real speed.
    pub async fn spawn(settings: Settings) -> Self {
        Self::spawn_with_clock(settings, Arc::new(StartedClock::new(t0()))).await
    }

    pub async fn spawn_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Self {
        let app = Application::build(settings, clock)
            .await
            .expect("build app");
        let port = app.port();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let me = Self {
            port,
            stop: Some(tx),
            task: Some(task),
        };
        me.wait_connected().await;
        me
    }

    /// Waits until the server reports its broker connection.
    pub async fn wait_connected(&self) {
        for _ in 0..200 {
            if let Ok(v) = self.get_json("/healthz").await
                && v["mqtt"] == "connected"
            {
                // The subscriptions follow the ConnAck at once; give the broker a moment.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not connect to the broker");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path).await
    }

    pub async fn get_json(&self, path: &str) -> Result<Value, String> {
        let (status, body) = http_get(self.port, path).await;
        if status == 0 {
            return Err("no answer".into());
        }
        serde_json::from_str(&body).map_err(|e| format!("{status} {e}: {body}"))
    }

    /// Stops the server cleanly, waiting until every received event is stored.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("clean stop");
        }
    }
}

/// A counter or gauge of `/metrics` by its full name with labels.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A hall's snapshot without the moment it was taken, to compare two.
pub fn without_at(mut snapshot: Value) -> Value {
    snapshot.as_object_mut().map(|o| o.remove("at"));
    snapshot
}

/// A minimal HTTP/1.1 GET, so tests need no HTTP client crate.
pub async fn http_get(port: u16, path: &str) -> (u16, String) {
    match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => http_get_over(s, path).await,
        Err(_) => (0, String::new()),
    }
}

/// The same GET over any connected stream (plain TCP or TLS); status 0 when
/// the request cannot be sent.
pub async fn http_get_over(
    mut s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    path: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut buf = Vec::new();
    // A TLS peer that closes without close_notify still leaves the whole answer.
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// An HTTP answer: status, headers (names lower-cased, in order) and body.
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{} {e}: {}", self.status, self.body))
    }
}

/// A minimal HTTP/1.1 request with any method, extra headers and body.
pub async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("send request");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

/// A request read back by a strict HTTP/1.1 client: the body must be framed
/// by `Content-Length` or by well-formed chunks (never "until the
/// connection ends"), and a gzip body must decode. `Err` says what was
/// wrong with the answer.
pub async fn strict_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpAnswer, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // Read until the answer is complete by its own framing, or nothing more
    // comes for two seconds (the connection may stay open: the framing, not
    // its end, must delimit the body).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match strict_parse(method, &buf) {
            Ok(answer) => return Ok(answer),
            Err(e) if e != INCOMPLETE => return Err(e),
            Err(_) => {}
        }
        match tokio::time::timeout(std::time::Duration::from_secs(2), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => {
                return strict_parse(method, &buf).map_err(|e| {
                    if e == INCOMPLETE {
                        "a body framed by neither Content-Length nor chunks, or cut short".into()
                    } else {
                        e
                    }
                });
            }
        }
    }
}

const INCOMPLETE: &str = "incomplete";

/// An answer in `buf` if it is whole; `Err(INCOMPLETE)` if more may come.
fn strict_parse(method: &str, buf: &[u8]) -> Result<HttpAnswer, String> {
    use std::io::Read;
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(INCOMPLETE)?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "a header that is not text")?;
    let rest = &buf[end + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            l.split_once(':')
                .ok_or(format!("a header line without a colon: {l:?}"))
        })
        .map(|r| r.map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect::<Result<_, _>>()?;
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body: Vec<u8> = if status == 101 || status == 204 || status == 304 || method == "HEAD" {
        Vec::new()
    } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        if get("content-length").is_some() {
            return Err("both Content-Length and chunked".into());
        }
        let mut out = Vec::new();
        let mut at = rest;
        loop {
            let line_end = at.windows(2).position(|w| w == b"\r\n").ok_or(INCOMPLETE)?;
            let size = std::str::from_utf8(&at[..line_end])
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
                .ok_or_else(|| {
                    format!(
                        "a chunk size that is not hex: {:?}",
                        &at[..line_end.min(16)]
                    )
                })?;
            at = &at[line_end + 2..];
            if size == 0 {
                break;
            }
            if at.len() < size + 2 {
                return Err(INCOMPLETE.into());
            }
            if &at[size..size + 2] != b"\r\n" {
                return Err("a chunk longer than its size".into());
            }
            out.extend_from_slice(&at[..size]);
            at = &at[size + 2..];
        }
        out
    } else if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| "a Content-Length that is not a number")?;
        if rest.len() < len {
            return Err(INCOMPLETE.into());
        }
        if rest.len() > len {
            return Err(format!(
                "{} bytes after a {len}-byte body",
                rest.len() - len
            ));
        }
        rest.to_vec()
    } else {
        return Err(INCOMPLETE.into());
    };
    let body = if get("content-encoding") == Some("gzip") {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut text)
            .map_err(|e| format!("a gzip body that does not decode: {e}"))?;
        text
    } else {
        body
    };
    Ok(HttpAnswer {
        status,
        headers,
        body: String::from_utf8(body).map_err(|_| "a body that is not UTF-8")?,
    })
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// An MQTT client acting as devices: publishes requests and collects what
/// arrives on the topics it subscribed to.
pub struct Device {
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<(String, Value)>,
    /// Messages received while waiting for another, kept for later expects.
    backlog: std::collections::VecDeque<(String, Value)>,
    next: u64,
    name: String,
}

impl Device {
    pub async fn connect(port: u16, name: &str, subscribe: &[&str]) -> Self {
        Self::connect_as(port, name, None, subscribe).await
    }

    /// A device that logs in to the broker as `(user, password)`.
    pub async fn connect_as(
        port: u16,
        name: &str,
        login: Option<(&str, &str)>,
        subscribe: &[&str],
    ) -> Self {
        Self::connect_with(port, name, login, false, subscribe).await
    }

    /// A device with a persistent session (clean session off): after a
    /// broker restart it resends what the broker had not acknowledged.
    pub async fn connect_persistent(port: u16, name: &str, subscribe: &[&str]) -> Self {
        Self::connect_with(port, name, None, true, subscribe).await
    }

    async fn connect_with(
        port: u16,
        name: &str,
        login: Option<(&str, &str)>,
        persistent: bool,
        subscribe: &[&str],
    ) -> Self {
        let mut o = MqttOptions::new(format!("test-{name}-{}", free_port()), "127.0.0.1", port);
        o.set_clean_session(!persistent);
        if let Some((user, password)) = login {
            o.set_credentials(user, password);
        }
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(o, 10_000);
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let subs: Vec<String> = subscribe.iter().map(|s| (*s).to_owned()).collect();
        let c = client.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut pending_subs = subs.len();
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for s in &subs {
                            let _ = c.try_subscribe(s.clone(), QoS::AtLeastOnce);
                        }
                        if subs.is_empty()
                            && let Some(r) = ready.take()
                        {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        pending_subs = pending_subs.saturating_sub(1);
                        if pending_subs == 0
                            && let Some(r) = ready.take()
                        {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let v = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        if tx.send((p.topic.clone(), v)).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        if tx.is_closed() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("device connect timeout")
            .expect("device connect");
        Self {
            client,
            rx,
            backlog: Default::default(),
            next: 0,
            name: name.to_owned(),
        }
    }

    /// A device that reads the kiosk, window and rating-pad replies of hall `h1`.
    pub async fn replies(port: u16, name: &str) -> Self {
        Self::connect(
            port,
            name,
            &[
                "hallwatch/h1/kiosk/k1/reply",
                "hallwatch/h1/window/+/reply",
                "hallwatch/h1/rater/+/reply",
            ],
        )
        .await
    }

    pub fn next_id(&mut self) -> String {
        self.next += 1;
        format!("{}-{:06}", self.name, self.next)
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .expect("publish");
    }

    /// The next message on `topic` within five seconds.
    pub async fn expect(&mut self, topic: &str) -> Value {
        self.expect_where(topic, |_| true).await
    }

    pub async fn expect_where(&mut self, topic: &str, want: impl Fn(&Value) -> bool) -> Value {
        self.expect_within(topic, Duration::from_secs(5), want)
            .await
    }

    /// The next message on `topic` that `want` accepts, within `wait`.
    pub async fn expect_within(
        &mut self,
        topic: &str,
        wait: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.backlog.iter().position(|(t, v)| t == topic && want(v)) {
            return self.backlog.remove(i).map(|(_, v)| v).unwrap_or_default();
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some((t, v))) if t == topic && want(&v) => return v,
                Ok(Some(other)) => self.backlog.push_back(other),
                _ => panic!("nothing on {topic} within {wait:?}"),
            }
        }
    }

    /// Nothing on `topic` for `wait`.
    pub async fn expect_silence(&mut self, topic: &str, wait: Duration) {
        if let Some((_, v)) = self.backlog.iter().find(|(t, _)| t == topic) {
            panic!("unexpected message on {topic}: {v}");
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some((t, v))) if t == topic => panic!("unexpected message on {topic}: {v}"),
                Ok(Some(other)) => self.backlog.push_back(other),
                _ => return,
            }
        }
    }

    /// Every message on `topic` until none has come for `quiet`.
    pub async fn drain(&mut self, topic: &str, quiet: Duration) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut rest = std::collections::VecDeque::new();
        for (t, v) in self.backlog.drain(..) {
            if t == topic {
                out.push(v);
            } else {
                rest.push_back((t, v));
            }
        }
        self.backlog = rest;
        while let Ok(Some((t, v))) = tokio::time::timeout(quiet, self.rx.recv()).await {
            if t == topic {
                out.push(v);
            } else {
                self.backlog.push_back((t, v));
            }
        }
        out
    }

    /// Sends a request with a fresh id and returns the reply that names it.
    pub async fn request(&mut self, topic: &str, mut body: Value) -> Value {
        let id = self.next_id();
        body["id"] = Value::String(id.clone());
        self.request_with_id(topic, body).await
    }

    /// Sends `body` with the id `id` to `topic` and waits up to `wait` for
    /// its reply.
    pub async fn ask_within(
        &mut self,
        topic: &str,
        id: &str,
        mut body: Value,
        wait: Duration,
    ) -> Value {
        body["id"] = Value::String(id.to_owned());
        self.publish(topic, body.to_string()).await;
        self.expect_within(&reply_topic(topic), wait, |v| v["request"] == id)
            .await
    }

    /// Sends a request as given (its `id` included) and waits for its reply.
    pub async fn request_with_id(&mut self, topic: &str, body: Value) -> Value {
        let id = body["id"].clone();
        let reply_topic = reply_topic(topic);
        self.publish(topic, body.to_string()).await;
        self.expect_where(&reply_topic, |v| {
            v.get("request") == Some(&id)
                || v.get("command") == Some(&id)
                || v.get("rating") == Some(&id)
                || v.get("event") == Some(&id)
        })
        .await
    }
}

/// The reply topic of a device topic.
pub fn reply_topic(topic: &str) -> String {
    let (base, leaf) = topic.rsplit_once('/').expect("topic");
    match leaf {
        "request" | "command" | "rating" | "event" => format!("{base}/reply"),
        _ => panic!("no reply topic for {topic}"),
    }
}

pub const KIOSK: &str = "hallwatch/h1/kiosk/k1/request";

pub fn window(id: &str) -> String {
    format!("hallwatch/h1/window/{id}/command")
}

pub fn rater(id: &str) -> String {
    format!("hallwatch/h1/rater/{id}/rating")
}

/// A bad review in hall h1: a ticket of SB served at window 02 by 王芳 and
/// refused, then rated 1 with a comment; a `bad_rating` alert follows.
pub async fn bad_review(dev: &mut Device) {
    dev.request(KIOSK, serde_json::json!({"service": "SB"}))
        .await;
    dev.request(
        &window("02"),
        serde_json::json!({"op": "login", "staff": "S2", "staff_name": "王芳"}),
    )
    .await;
    dev.request(&window("02"), serde_json::json!({"op": "call_next"}))
        .await;
    dev.request(
        &window("02"),
        serde_json::json!({"op": "finish", "outcome": "rejected"}),
    )
    .await;
    dev.request(
        &rater("02"),
        serde_json::json!({"score": 1, "comment": "材料要求没有一次说清楚"}),
    )
    .await;
}

/// Polls `check` until it returns Some, for up to `secs` seconds.
pub async fn eventually<T>(secs: u64, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("condition not met within {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A WebSocket client of the server.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket on the server at `path` (with its query); the HTTP
/// status when the server refuses the upgrade.
pub async fn ws_connect(port: u16, path: &str) -> Result<Ws, u16> {
    match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}")).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// Opens a WebSocket with extra handshake headers (a cookie, an `Origin`).
pub async fn ws_connect_with(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://127.0.0.1:{port}{path}")
        .into_client_request()
        .expect("a WebSocket request");
    for (name, value) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// The session cookie (`name=value`) a login with `token` sets.
pub async fn session_cookie(port: u16, token: &str) -> String {
    let body = serde_json::json!({ "token": token }).to_string();
    let r = http_request(
        port,
        "POST",
        "/api/login",
        &[("Content-Type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "login: {}", r.body);
    r.headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with("hallwatch_session=") && c.len() > "hallwatch_session=".len())
        .expect("a session cookie")
}

/// The next message of type `kind` that satisfies `want`, within 5 s;
/// other messages are passed over.
pub async fn next_of(ws: &mut Ws, kind: &str, want: impl Fn(&Value) -> bool) -> Value {
    use futures_util::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} within 5 s"))
            .expect("open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("JSON frame");
            if v["type"] == kind && want(&v) {
                return v;
            }
        }
    }
}

/// A PostgreSQL database created for one test and dropped after it, on the
/// server named by `HALLWATCH_TEST_POSTGRES`.
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    /// None (with a note) when no server is named, unless CI requires one.
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("HALLWATCH_TEST_POSTGRES") else {
            if required("HALLWATCH_REQUIRE_POSTGRES") {
                panic!("HALLWATCH_REQUIRE_POSTGRES=1 but HALLWATCH_TEST_POSTGRES is not set");
            }
            eprintln!(
                "SKIPPED: set HALLWATCH_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test to test PostgreSQL"
            );
            return None;
        };
        let name = format!("hallwatch_test_{}_{}", std::process::id(), free_port());
        let url = pg::create(&admin_url, &name).await.unwrap_or_else(|e| {
            panic!("cannot create a database on PostgreSQL at {admin_url}: {e}")
        });
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// The server's host and port, from the admin URL.
    pub fn host_port(&self) -> (String, u16) {
        let authority = pg::base(&self.admin_url).rsplit_once('@').map_or_else(
            || pg::base(&self.admin_url).rsplit('/').next().unwrap_or(""),
            |(_, a)| a,
        );
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(5432)),
            None => (authority.to_owned(), 5432),
        }
    }

    /// This database's URL with its host and port replaced.
    pub fn url_via(&self, host: &str, port: u16) -> String {
        let (h, p) = self.host_port();
        self.url
            .replacen(&format!("{h}:{p}"), &format!("{host}:{port}"), 1)
    }

    pub async fn drop_db(self) {
        pg::drop(&self.admin_url, &self.name).await;
    }
}

/// Writes a configuration for hall `h1` serving on `port` and returns its path.
/// The admin token of the configuration [`write_config`] writes.
pub const TEST_ADMIN: &str = "test-admin";

pub fn write_config(
    dir: &Path,
    port: u16,
    database_url: &str,
    broker: &Broker,
    client_id: &str,
) -> PathBuf {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"{database_url}\"\n\
         [mqtt]\nbroker = \"{}\"\nclient_id = \"{client_id}\"\nprefix = \"hallwatch\"\n",
        broker.url()
    );
    let admin = token("运维", hallwatch::config::Role::Admin, &["*"], TEST_ADMIN);
    text.push_str(&format!(
        "[[tokens]]\nname = \"{}\"\nrole = \"admin\"\nhalls = [\"*\"]\nsha256 = \"{}\"\n",
        admin.name, admin.sha256
    ));
    text.push_str(TEST_HALLS);
    let config = dir.join("hallwatch.toml");
    std::fs::write(&config, &text).expect("write hallwatch.toml");
    config
}

/// The server binary as a child process, so a test can SIGKILL it and read
/// its log. Killed on drop.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    config: PathBuf,
    log: Option<PathBuf>,
}

impl ServerProcess {
    /// `hallwatch serve --config CONFIG` on a clock that starts at [`t0`]
    /// (after a restart, just after the newest stored event); its log goes
    /// to `log` (from level info, appended across restarts), or from level
    /// warn to the test's stderr.
    pub fn start(config: &Path, port: u16, log: Option<&Path>) -> Self {
        let level = if log.is_some() { "info" } else { "warn" };
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("open the server log"),
            ),
            None => Stdio::inherit(),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_hallwatch"))
            .args(["serve", "--config"])
            .arg(config)
            .arg("--test-clock-start")
            .arg(t0().to_rfc3339())
            .env("RUST_LOG", level)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start hallwatch");
        Self {
            child,
            port,
            config: config.to_owned(),
            log: log.map(Path::to_owned),
        }
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as an operator's stop: waits for the server to exit and
    /// says whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().is_ok_and(|s| s.success())
    }

    /// Kills the server and starts it again with the same configuration.
    pub fn restart(&mut self) {
        self.kill();
        *self = Self::start(&self.config.clone(), self.port, self.log.clone().as_deref());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the server answers /healthz with 200 and the broker connected.
    pub async fn wait_healthy(&self) {
        let port = self.port;
        eventually(30, async || {
            let (status, body) = http_get(port, "/healthz").await;
            (status == 200 && body.contains("\"connected\"")).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Messages seen on a broker: (topic, payload).
type Seen = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// Watches everything the server publishes on a broker and checks each
/// message against its JSON Schema, as generated from the payload types.
pub struct ContractWatch {
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl ContractWatch {
    /// Subscribes to every topic under `hallwatch/` on the broker at `port`.
    pub async fn start(port: u16) -> Self {
        let mut opts =
            rumqttc::MqttOptions::new(format!("contract-watch-{}", free_port()), "127.0.0.1", port);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        client
            .subscribe("hallwatch/#", rumqttc::QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        let seen: Seen = Arc::default();
        let (ready_tx, ready) = oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        if let Ok(mut s) = sink.lock() {
                            s.push((p.topic.clone(), p.payload.to_vec()));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(5), ready).await;
        Self { seen, task }
    }

    /// Checks every message the server published so far against its
    /// schema, and that messages of each schema in `expected` were among
    /// them.
    pub fn check(self, expected: &[&str]) {
        self.task.abort();
        let schemas: std::collections::BTreeMap<&str, serde_json::Value> =
            hallwatch::mqtt::wire::schemas().into_iter().collect();
        let mut counts = std::collections::BTreeMap::new();
        let mut bad = Vec::new();
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        for (topic, payload) in seen {
            let Some(name) = server_schema(&topic) else {
                continue;
            };
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&schemas[name])
                .expect("a valid schema");
            let value: Value = match serde_json::from_slice(&payload) {
                Ok(v) => v,
                Err(e) => {
                    bad.push(format!("{topic}: not JSON: {e}"));
                    continue;
                }
            };
            for e in validator.iter_errors(&value) {
                bad.push(format!(
                    "{topic} against {name}: {e} at {}",
                    e.instance_path()
                ));
            }
            *counts.entry(name).or_insert(0) += 1;
        }
        assert!(
            bad.is_empty(),
            "published messages that break their schema:\n{}",
            bad.join("\n")
        );
        for name in expected {
            assert!(
                counts.contains_key(name),
                "no {name} message was published to check: {counts:?}"
            );
        }
    }
}

/// The schema of what the server publishes on `topic`; None for what
/// devices publish.
fn server_schema(topic: &str) -> Option<&'static str> {
    let parts: Vec<&str> = topic.split('/').collect();
    match parts.as_slice() {
        [_, _, "kiosk", _, "reply"] => Some("kiosk-reply"),
        [_, _, "window", _, "reply"] => Some("window-reply"),
        [_, _, "rater", _, "reply"] => Some("rating-reply"),
        [_, _, "window", _, "state"] => Some("window-state"),
        [_, _, "call"] => Some("call"),
        [_, _, "summary"] => Some("summary"),
        [_, _, "alert"] => Some("alert"),
        _ => None,
    }
}

/// A TCP proxy in front of a server (the database) that a test can cut.
pub struct Proxy {
    pub port: u16,
    upstream: (String, u16),
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(upstream: (String, u16)) -> Self {
        let mut p = Self {
            port: free_port(),
            upstream,
            task: None,
        };
        p.up().await;
        p
    }

    /// Accepts connections again and relays them to the server.
    pub async fn up(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind(([127, 0, 0, 1], self.port).into())
            .expect("bind the proxy port again");
        let listener: tokio::net::TcpListener = socket.listen(128).expect("listen");
        let upstream = self.upstream.clone();
        self.task = Some(tokio::spawn(async move {
            // Dropping the set (when this task is aborted) cuts every relay.
            let mut relays = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                relays.spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect((upstream.0.as_str(), upstream.1)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    /// Refuses new connections and cuts the open ones.
    pub fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A load balancer in front of several servers, as nginx's upstream with
/// `proxy_next_upstream error`: each connection goes to the next server in
/// turn, skipping any that refuses it.
pub struct Balancer {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    pub async fn start(ports: Vec<u16>) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the balancer");
        let port = listener.local_addr().expect("its port").port();
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            let mut next = 0usize;
            while let Ok((mut client, _)) = listener.accept().await {
                let ports = ports.clone();
                let first = next;
                next = next.wrapping_add(1);
                relays.spawn(async move {
                    for i in 0..ports.len() {
                        let port = ports[(first + i) % ports.len()];
                        if let Ok(mut server) =
                            tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                        {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether node, Chromium and the npm packages are there; CI requires them.
pub fn browser_ready() -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<&str> = [
        (!Path::new(&chromium).exists()).then_some("chromium (apt-get install chromium)"),
        (!root
            .join("tests/browser/node_modules/playwright-core")
            .exists())
        .then_some("playwright-core (cd tests/browser && npm ci)"),
        std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_err()
            .then_some("node"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    if required("HALLWATCH_REQUIRE_BROWSER") {
        panic!("browser test needs {missing:?}: run scripts/setup.sh");
    }
    eprintln!("SKIPPED: browser test needs {missing:?} (scripts/setup.sh installs them)");
    false
}

/// A node script that prints a line each time the page shows what its next
/// step waits for; the test acts only after reading that line.
pub struct Steps {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    script: &'static str,
}

impl Steps {
    /// Runs `script` with `--name value` options.
    pub fn spawn(script: &'static str, options: &[(&str, &str)]) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut child = tokio::process::Command::new("node")
            .arg(root.join("tests/browser").join(script))
            .args(options.iter().flat_map(|(name, value)| [*name, *value]))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("run node");
        let lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
            child.stdout.take().expect("stdout"),
        ));
        Self {
            child,
            lines,
            script,
        }
    }

    /// The script's next line is `want` (within 45 s: a step may include a
    /// server restart and the page's reconnect backoff).
    pub async fn expect(&mut self, want: &str) {
        let line = tokio::time::timeout(Duration::from_secs(45), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{}: no {want:?} within 45 s", self.script))
            .expect("read the script's output");
        assert_eq!(
            line.as_deref(),
            Some(want),
            "{} (its stderr says why)",
            self.script
        );
    }

    pub async fn finish(mut self) {
        let status = self.child.wait().await.expect("wait for node");
        assert!(status.success(), "{} failed: {status}", self.script);
    }
}
