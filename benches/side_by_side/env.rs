//! The processes a benchmark runs against: Mosquitto, the hallwatch server
//! and Node-RED, each a child process on loopback with a free port, and the
//! CPU and memory each used. The province benchmark shares this file.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// This process's open-file limit (children inherit it): each display
/// client is a socket here and one in the server.
pub fn fd_limit() -> u64 {
    Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1024)
}

/// CPU seconds (user + system) a process has used so far, all threads.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(100.0)
    })
}

/// Resident memory of a process in bytes (VmRSS), 0 when it is gone.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU used by each process over one measured interval, as a share of one
/// core (100 % = one core busy the whole time).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub server: f64,
    pub broker: f64,
    pub loadgen: f64,
    /// Every `postgres` process of the machine, when asked for
    /// ([`CpuMeter::with_database`]), else 0.
    pub database: f64,
}

/// Starts a CPU measurement of the given processes and of this one.
pub struct CpuMeter {
    server: Option<u32>,
    broker: Option<u32>,
    start: Instant,
    at: [f64; 3],
    /// The CPU seconds of each `postgres` process at the start, when the
    /// database's CPU is measured too.
    database: Option<HashMap<u32, f64>>,
}

/// The CPU seconds of every process named `postgres` (the server's
/// backends, one per connection, and its own workers), by process id.
fn postgres_cpu() -> HashMap<u32, f64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "postgres")
        })
        .map(|pid| (pid, cpu_seconds(pid)))
        .collect()
}

impl CpuMeter {
    pub fn start(server: Option<u32>, broker: Option<u32>) -> Self {
        Self {
            server,
            broker,
            start: Instant::now(),
            at: [
                server.map_or(0.0, cpu_seconds),
                broker.map_or(0.0, cpu_seconds),
                cpu_seconds(std::process::id()),
            ],
            database: None,
        }
    }

    /// Measures the local PostgreSQL's CPU as well: every `postgres`
    /// process, a backend that started during the interval from 0. What a
    /// backend that ended during it used is not counted.
    pub fn with_database(mut self) -> Self {
        self.database = Some(postgres_cpu());
        self
    }

    pub fn stop(&self) -> CpuUse {
        let wall = self.start.elapsed().as_secs_f64().max(1e-6);
        let share = |now: f64, then: f64| 100.0 * (now - then).max(0.0) / wall;
        CpuUse {
            server: self
                .server
                .map_or(0.0, |p| share(cpu_seconds(p), self.at[0])),
            broker: self
                .broker
                .map_or(0.0, |p| share(cpu_seconds(p), self.at[1])),
            loadgen: share(cpu_seconds(std::process::id()), self.at[2]),
            database: self.database.as_ref().map_or(0.0, |then| {
                let used: f64 = postgres_cpu()
                    .into_iter()
                    .map(|(pid, now)| now - then.get(&pid).copied().unwrap_or(0.0))
                    .sum();
                share(used, 0.0)
            }),
        }
    }
}

/// A child process killed (SIGKILL) and reaped on drop.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts TCP connections on `port`.
fn wait_port(port: u16, what: &str, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{what} exited at start ({status})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{what} did not listen on 127.0.0.1:{port} within 20 s")
}

/// Mosquitto with a plain MQTT listener and a WebSocket listener.
pub struct Mosquitto {
    child: Owned,
    pub port: u16,
    pub ws_port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts a broker on two free ports. A port that was free when picked
    /// can be taken by the time the broker binds it (its WebSocket listener
    /// binds every address, so a client socket of an earlier step on the
    /// same port number is enough): then it tries again on other ports.
    pub fn start() -> anyhow::Result<Self> {
        let mut tries = 0;
        loop {
            match Self::start_once() {
                Ok(m) => return Ok(m),
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("{e:#}; trying other ports");
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn start_once() -> anyhow::Result<Self> {
        let bin = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .context("Mosquitto is not installed (scripts/setup.sh installs it)")?;
        let dir = tempfile::tempdir()?;
        let (port, ws_port) = (free_port(), free_port());
        // Every client may keep 1,000 QoS 1 messages in flight, queues are
        // large enough for any burst here, and Nagle is off for latency.
        let conf = format!(
            "per_listener_settings false\nallow_anonymous true\npersistence false\n\
             max_inflight_messages 1000\nmax_queued_messages 1000000\nset_tcp_nodelay true\n\
             log_type error\nlistener {port} 127.0.0.1\nlistener {ws_port} 127.0.0.1\nprotocol websockets\n"
        );
        let path = dir.path().join("mosquitto.conf");
        std::fs::write(&path, conf)?;
        let mut child = Command::new(bin)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start mosquitto")?;
        wait_port(port, "mosquitto", &mut child)?;
        wait_port(ws_port, "mosquitto (websockets)", &mut child)?;
        Ok(Self {
            child: Owned(child),
            port,
            ws_port,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// The hallwatch server binary under test, as a child process.
pub struct Server {
    child: Owned,
    pub port: u16,
    pub log: PathBuf,
    pub started: Instant,
}

impl Server {
    /// `hallwatch serve` with `config`; its log (warnings, and the
    /// start-up and cluster lines at level info) goes to `log`.
    pub fn start(config: &Path, port: u16, log: &Path) -> anyhow::Result<Self> {
        let stderr = std::fs::File::create(log)?;
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_hallwatch"))
            .args(["serve", "--config"])
            .arg(config)
            .arg("--test-clock-start")
            .arg(crate::T0)
            .env(
                "RUST_LOG",
                "warn,hallwatch::app=info,hallwatch::cluster=info",
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("start hallwatch")?;
        Ok(Self {
            child: Owned(child),
            port,
            log: log.to_owned(),
            started,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Waits until `/healthz` answers 200 with the broker connected; the
    /// time from the start of the process.
    pub fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some((200, body)) = http_get(self.port, "/healthz")
                && body.contains("\"connected\"")
            {
                return Ok(self.started.elapsed());
            }
            if let Ok(Some(status)) = self.child.0.try_wait() {
                bail!(
                    "hallwatch exited ({status}); its log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("hallwatch was not healthy within {limit:?}")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A blocking HTTP/1.1 GET on loopback: the status and body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_owned()))
}

/// Node-RED 4.1.8 running the comparison flow of benches/nodered.
pub struct NodeRed {
    child: Owned,
    pub port: u16,
}

impl NodeRed {
    /// Installs Node-RED into `scratch` (once) and starts it against the
    /// broker on `mqtt_port` with the halls in `halls_json`.
    pub fn start(scratch: &Path, mqtt_port: u16, halls_json: &str) -> anyhow::Result<Self> {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/nodered");
        let setup = Command::new("bash")
            .arg(here.join("setup.sh"))
            .arg(scratch)
            .env("HALLS_JSON", halls_json)
            .stderr(Stdio::inherit())
            .output()
            .context("run benches/nodered/setup.sh")?;
        if !setup.status.success() {
            bail!("benches/nodered/setup.sh failed ({})", setup.status);
        }
        let port = free_port();
        let user = scratch.join("user");
        std::fs::create_dir_all(&user)?;
        let mut child = Command::new("node")
            .arg(scratch.join("node_modules/node-red/red.js"))
            .arg("--settings")
            .arg(here.join("settings.js"))
            .arg("--userDir")
            .arg(&user)
            .arg(scratch.join("flow.json"))
            .env("MQTT_HOST", "127.0.0.1")
            .env("MQTT_PORT", mqtt_port.to_string())
            .env("NODE_RED_PORT", port.to_string())
            .env("HALLS_JSON", halls_json)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start node-red (node must be installed)")?;
        wait_port(port, "node-red", &mut child)?;
        Ok(Self {
            child: Owned(child),
            port,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}
