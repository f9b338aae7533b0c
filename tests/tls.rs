//! TLS on both sides, with certificates made at test time: the server
//! reaches Mosquitto over mqtts:// and serves HTTPS and WSS; a broker whose
//! certificate another CA signed is refused, and the log says why; a broker
//! that asks for client certificates gets the server's.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use hallwatch::app::Application;
use hallwatch::clock::StartedClock;
use hallwatch::config::Settings;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// A test CA; a certificate it signed for 127.0.0.1 and localhost (for
/// Mosquitto and for the HTTPS listener) and one for the server as an MQTT
/// client; and an unrelated CA. PEM files in a temporary directory that
/// Mosquitto, which drops root, can read.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write PEM");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                    .expect("chmod");
            }
        };
        let ca_cert = |name: &str| {
            let key = KeyPair::generate().expect("CA key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).expect("CA certificate");
            (cert, Issuer::new(params, key))
        };
        let (ca, issuer) = ca_cert("hallwatch test CA");
        let signed = |names: Vec<String>, file: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params
                .distinguished_name
                .push(DnType::CommonName, file.to_owned());
            let cert = params.signed_by(&key, &issuer).expect("sign");
            write(&format!("{file}.pem"), &cert.pem());
            write(&format!("{file}-key.pem"), &key.serialize_pem());
        };
        signed(vec!["127.0.0.1".into(), "localhost".into()], "server");
        signed(vec!["hallwatch-server".into()], "client");
        write("ca.pem", &ca.pem());
        write("other-ca.pem", &ca_cert("someone else's CA").0.pem());
        Self {
            ca: ca.der().clone(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A TOML string of the file's path.
    fn toml(&self, name: &str) -> String {
        format!("'{}'", self.path(name).display())
    }

    /// A TLS client that trusts this CA only.
    fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).expect("CA as trust anchor");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// Mosquitto with its plain listener (for the test's devices) and a TLS
/// listener on another free port; with `require_certificate`, that listener
/// accepts only clients whose certificate the test CA signed.
fn tls_broker(pki: &Pki, require_certificate: bool) -> Option<(Broker, u16)> {
    let tls_port = free_port();
    let broker = Broker::start_with(&format!(
        "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require_certificate}\n",
        pki.path("ca.pem").display(),
        pki.path("server.pem").display(),
        pki.path("server-key.pem").display(),
    ))?;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok() {
            return Some((broker, tls_port));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("mosquitto did not open its TLS listener on {tls_port}");
}

/// Configuration text for hall `h1`.
fn config_text(listen: &str, db: &Path, server_extra: &str, mqtt: &str) -> String {
    format!(
        "[server]\nlisten = \"{listen}\"\ndatabase_url = \"{}\"\n{server_extra}\n\
         [mqtt]\nprefix = \"hallwatch\"\n{mqtt}\n{TEST_HALLS}",
        sqlite_url(db)
    )
}

/// A server in this process, reached over HTTPS when `https` is given.
struct Server {
    port: u16,
    https: Option<TlsConnector>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(settings: Settings, https: Option<TlsConnector>) -> Self {
        let app = Application::build(settings, Arc::new(StartedClock::new(t0())))
            .await
            .expect("build app");
        let port = app.port();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            port,
            https,
            stop: Some(tx),
            task,
        }
    }

    async fn health(&self) -> (u16, Value) {
        let (status, body) = match &self.https {
            Some(c) => https_get(c, self.port, "/healthz").await,
            None => http_get(self.port, "/healthz").await,
        };
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    async fn wait_connected(&self) {
        eventually(10, async || {
            let (_, h) = self.health().await;
            (h["mqtt"] == "connected").then_some(())
        })
        .await;
        // The subscriptions follow the ConnAck at once; give the broker a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.expect("join").expect("clean stop");
    }
}

fn localhost() -> ServerName<'static> {
    ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into())
}

/// A GET over TLS: status and body.
async fn https_get(connector: &TlsConnector, port: u16, path: &str) -> (u16, String) {
    let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, String::new());
    };
    match connector.connect(localhost(), tcp).await {
        Ok(tls) => http_get_over(tls, path).await,
        Err(_) => (0, String::new()),
    }
}

type Wss = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

async fn open_wss(connector: &TlsConnector, port: u16, path: &str) -> Wss {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let tls = connector
        .connect(localhost(), tcp)
        .await
        .expect("TLS handshake");
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}{path}"), tls)
        .await
        .expect("WebSocket over TLS");
    ws
}

async fn frame_of_type(ws: &mut Wss, kind: &str) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame within 5 s"))
            .expect("open socket")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("JSON frame");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

fn median_ms(mut d: Vec<Duration>) -> f64 {
    d.sort();
    d[d.len() / 2].as_secs_f64() * 1000.0
}

fn p95_ms(mut d: Vec<Duration>) -> f64 {
    d.sort();
    d[(d.len() * 95 / 100).min(d.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_is_answered_through_a_tls_broker_and_the_wall_screen_follows_over_wss() {
    let pki = Pki::new();
    let Some((broker, tls_port)) = tls_broker(&pki, false) else {
        return;
    };
    let db = tempfile::tempdir().unwrap();
    let settings = Settings::parse(&config_text(
        "127.0.0.1:0",
        db.path(),
        &format!(
            "tls_cert = {}\ntls_key = {}",
            pki.toml("server.pem"),
            pki.toml("server-key.pem")
        ),
        &format!(
            "broker = \"mqtts://127.0.0.1:{tls_port}\"\nclient_id = \"hw-tls\"\nca_file = {}",
            pki.toml("ca.pem")
        ),
    ))
    .expect("settings");
    let started = Instant::now();
    let server = Server::start(settings, Some(pki.connector())).await;
    server.wait_connected().await;
    let connected = started.elapsed();
    let (status, health) = server.health().await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));

    let connector = pki.connector();
    let mut ws = open_wss(&connector, server.port, "/ws/display/h1").await;
    let snap = frame_of_type(&mut ws, "snapshot").await;
    assert_eq!(snap["hall"]["name"], "测试县政务服务中心");

    // The kiosk talks to the broker's plain listener; the server, over TLS.
    let mut kiosk = Device::replies(broker.port, "kiosk").await;
    let r = kiosk.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(
        (r["ok"].as_bool(), r["ticket"].as_str()),
        (Some(true), Some("B001")),
        "{r}"
    );
    let mut queue = frame_of_type(&mut ws, "queue").await;
    // With the wait a ticket taken now would have.
    assert!(queue["estimated_wait_s"].is_u64(), "{queue}");
    queue.as_object_mut().unwrap().remove("estimated_wait_s");
    assert_eq!(
        queue,
        json!({"type": "queue", "service": "SB", "waiting": 1})
    );

    // Figures: kiosk round trips through the server on mqtts://, TLS
    // handshakes with Mosquitto, and HTTPS /healthz on a fresh connection.
    let mut round_trips = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let r = kiosk.request(KIOSK, json!({"service": "GA"})).await;
        round_trips.push(t.elapsed());
        assert_eq!(r["ok"], true, "{r}");
    }
    let mut handshakes = Vec::new();
    for _ in 0..20 {
        let tcp = TcpStream::connect(("127.0.0.1", tls_port)).await.unwrap();
        let t = Instant::now();
        let tls = connector
            .connect(localhost(), tcp)
            .await
            .expect("handshake");
        handshakes.push(t.elapsed());
        drop(tls);
    }
    let mut https = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (status, _) = https_get(&connector, server.port, "/healthz").await;
        https.push(t.elapsed());
        assert_eq!(status, 200);
    }
    println!(
        "TLS: server connected to mqtts:// {:.0} ms after start; kiosk round trip median {:.1} ms, p95 {:.1} ms (50); \
         Mosquitto TLS handshake median {:.1} ms (20); HTTPS handshake + /healthz median {:.1} ms (20)",
        connected.as_secs_f64() * 1000.0,
        median_ms(round_trips.clone()),
        p95_ms(round_trips),
        median_ms(handshakes),
        median_ms(https)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_answers_healthz_and_wss_carries_the_display_channel_and_plain_http_gets_nothing() {
    let pki = Pki::new();
    let db = tempfile::tempdir().unwrap();
    // No broker is needed to show the HTTP side: the server answers (503,
    // broker disconnected) while it tries to reach one nobody listens on.
    let settings = Settings::parse(&config_text(
        "127.0.0.1:0",
        db.path(),
        &format!(
            "tls_cert = {}\ntls_key = {}",
            pki.toml("server.pem"),
            pki.toml("server-key.pem")
        ),
        &format!("broker = \"mqtt://127.0.0.1:{}\"", free_port()),
    ))
    .expect("settings");
    let server = Server::start(settings, Some(pki.connector())).await;

    let (status, health) = server.health().await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["mqtt"], "disconnected");
    assert_eq!(health["halls"], 1);

    // The certificate names localhost too.
    let tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    pki.connector()
        .connect(name, tcp)
        .await
        .expect("TLS to localhost");

    let mut ws = open_wss(&pki.connector(), server.port, "/ws/display/h1").await;
    let snap = frame_of_type(&mut ws, "snapshot").await;
    assert_eq!(snap["hall"]["name"], "测试县政务服务中心");
    assert_eq!(snap["windows"].as_array().map(Vec::len), Some(3));

    // The listener speaks only TLS: a plain request gets no HTTP answer.
    let (status, body) = http_get(server.port, "/healthz").await;
    assert_eq!(status, 0, "plain HTTP was answered: {body}");

    // A client that does not trust the test CA refuses the server.
    let untrusting = {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    };
    let tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let e = untrusting
        .connect(localhost(), tcp)
        .await
        .expect_err("an unknown issuer is refused");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    server.stop().await;
}

/// `hallwatch serve` as a child process, killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_from_another_ca_is_refused_and_the_log_says_why() {
    let pki = Pki::new();
    let Some((broker, tls_port)) = tls_broker(&pki, false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("hallwatch.toml");
    std::fs::write(
        &config,
        config_text(
            &format!("127.0.0.1:{port}"),
            dir.path(),
            "",
            &format!(
                "broker = \"mqtts://127.0.0.1:{tls_port}\"\nclient_id = \"hw-wrong-ca\"\nca_file = {}",
                pki.toml("other-ca.pem")
            ),
        ),
    )
    .unwrap();
    // The log goes to standard error.
    let log = dir.path().join("server.log");
    let _server = Process(
        Command::new(env!("CARGO_BIN_EXE_hallwatch"))
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--test-clock-start")
            .arg(t0().to_rfc3339())
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start hallwatch"),
    );
    eventually(30, async || {
        (http_get(port, "/healthz").await.0 != 0).then_some(())
    })
    .await;
    // Several attempts at the reconnect pace (at most a second apart).
    tokio::time::sleep(Duration::from_millis(3000)).await;

    let (status, body) = http_get(port, "/healthz").await;
    let health: Value = serde_json::from_str(&body).expect("health JSON");
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["mqtt"], "disconnected");
    assert_eq!(health["status"], "degraded");

    let text = std::fs::read_to_string(&log).unwrap();
    let refusals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("certificate is refused"))
        .collect();
    assert_eq!(refusals.len(), 1, "said once, not at every retry:\n{text}");
    assert!(refusals[0].contains("UnknownIssuer"), "{text}");
    assert!(refusals[0].contains("mqtt.ca_file"), "{text}");
    println!("wrong CA, the server's log: {}", refusals[0]);

    // The broker's TLS is fine for a client that trusts the right CA.
    let tcp = TcpStream::connect(("127.0.0.1", tls_port)).await.unwrap();
    pki.connector()
        .connect(localhost(), tcp)
        .await
        .expect("the broker's certificate, checked against its own CA");
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_requires_client_certificates_accepts_the_servers_and_refuses_none() {
    let pki = Pki::new();
    let Some((broker, tls_port)) = tls_broker(&pki, true) else {
        return;
    };
    let mqtt = |client_id: &str, client_cert: bool| {
        let mut m = format!(
            "broker = \"mqtts://127.0.0.1:{tls_port}\"\nclient_id = \"{client_id}\"\nca_file = {}\n",
            pki.toml("ca.pem")
        );
        if client_cert {
            m.push_str(&format!(
                "cert_file = {}\nkey_file = {}\n",
                pki.toml("client.pem"),
                pki.toml("client-key.pem")
            ));
        }
        m
    };

    let db = tempfile::tempdir().unwrap();
    let settings = Settings::parse(&config_text(
        "127.0.0.1:0",
        db.path(),
        "",
        &mqtt("hw-mtls", true),
    ))
    .expect("settings");
    let server = Server::start(settings, None).await;
    server.wait_connected().await;
    let mut kiosk = Device::replies(broker.port, "kiosk").await;
    let r = kiosk.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(r["ticket"], "B001", "{r}");
    server.stop().await;

    let db = tempfile::tempdir().unwrap();
    let settings = Settings::parse(&config_text(
        "127.0.0.1:0",
        db.path(),
        "",
        &mqtt("hw-no-cert", false),
    ))
    .expect("settings");
    let server = Server::start(settings, None).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (status, health) = server.health().await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["mqtt"], "disconnected");
    server.stop().await;
}
