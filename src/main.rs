//! The `hallwatch` command: parse the command line, load settings, run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::info;

use hallwatch::app::{Application, shutdown_signal};
#[cfg(feature = "demo-broker")]
use hallwatch::clock::DemoClock;
use hallwatch::clock::{Clock, StartedClock, SystemClock};
use hallwatch::config::Settings;
use hallwatch::config::broker::BrokerAddr;
use hallwatch::sim::{self, SimOptions};

/// See Cargo.toml: allocation was a fifth of the server's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hallwatch",
    version,
    about = "Real-time monitoring server for public service halls"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A live simulated county centre and town centre, with an embedded
    /// broker and a SQLite file: open http://127.0.0.1:8080.
    Demo {
        /// HTTP address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Port of the embedded broker on 127.0.0.1 (not 1883, so a system broker is left alone).
        #[arg(long, default_value_t = 1884)]
        broker_port: u16,
        /// SQLite file of the demo.
        #[arg(long, default_value = "hallwatch-demo.db")]
        database: PathBuf,
        /// How many times faster than real time the demo's halls run: at
        /// 15 an office day of nine hours passes in 36 minutes; closed
        /// hours (the night, lunch, weekends) are stepped over.
        #[arg(long, default_value_t = 15.0)]
        speed: f64,
        /// A fresh demo first lives this many working days before today
        /// at a fast pace (about half a minute each), so it opens on a
        /// hall with history: cases running late, their 黄牌, a month's
        /// figures begun. 0 starts today.
        #[arg(long, default_value_t = 3)]
        history_days: u32,
    },
    /// Production: external broker and database from the configuration.
    Serve {
        #[arg(long, short, env = "HALLWATCH_CONFIG")]
        config: PathBuf,
        /// For tests only: run on a clock that starts at this instant
        /// (RFC 3339), or just after the newest stored event if that is
        /// later, instead of the system clock.
        #[arg(long, hide = true, value_name = "RFC3339")]
        test_clock_start: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Run the hall simulator against any broker.
    Simulate {
        /// Broker URL, e.g. mqtt://127.0.0.1:1883.
        #[arg(long)]
        broker: String,
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long, default_value_t = 15.0)]
        speed: f64,
    },
    /// Print the Mosquitto access list (acl_file) for a configuration: a
    /// user per device ({hall}.{device}) limited to its own topics, and the
    /// server's user (mqtt.username, default "hallwatch").
    BrokerAcl {
        #[arg(long, short, env = "HALLWATCH_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration file and summarise it.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check each hall's tamper-evident record of supervision in the
    /// configured database: recompute the chain and name the first record
    /// altered, removed or inserted. Exits 1 when a chain is broken.
    VerifyLog {
        #[arg(long, short)]
        config: PathBuf,
        /// A head an outside party kept from `{prefix}/{hall}/audit/head`,
        /// as HALL=SEQ:HASH; the chain must end there. Repeatable.
        #[arg(long)]
        head: Vec<String>,
    },
    /// Rebuild every hall's case book (cases, cards, bad reviews'
    /// follow-ups) from its whole event log and keep it in place of the
    /// stored one. Run it with the server stopped.
    Rebuild {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Send one test message on each notification channel of a
    /// configuration (or the one named) and say what each answered. Exits 1
    /// when one did not take it.
    NotifyTest {
        #[arg(long, short, env = "HALLWATCH_CONFIG")]
        config: PathBuf,
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
    },
    /// A receiver for the generic webhook channel that prints each message
    /// as it arrives: to see notifications leave a server without a phone.
    Receive {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9400")]
        listen: SocketAddr,
        /// The channel's secret: requests whose X-Hallwatch-Signature does
        /// not sign their body with it are refused (401).
        #[arg(long, env = "HALLWATCH_WEBHOOK_SECRET")]
        secret: Option<String>,
    },
    /// Print the SHA-256 of an access token, for `[[tokens]] sha256`.
    HashToken { token: String },
    /// Write what is generated from the code: the MQTT payloads' JSON
    /// Schemas, the OpenAPI document, and the lists of rules and reason
    /// codes in the docs and the example configuration. In the repository,
    /// `--out .` brings them up to date after a change.
    Schemas {
        /// The repository's root (or any folder to write them under).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    // One TLS provider for the whole process: ring. Two providers in one
    // process (rumqttc alone would bring aws-lc-rs) make rustls panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The log goes to standard error: standard output is kept for what a
    // command prints (`hash-token`, `broker-acl`), so it can be redirected.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,sqlx=warn,rumqttd=off,rumqttc=warn,actix_server=warn".into()
            }),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("Failed to start the async runtime")?;
    runtime.block_on(run(cli.command))
}

fn load(path: &std::path::Path) -> anyhow::Result<Settings> {
    Settings::load(path).map_err(|e| anyhow!("configuration error: {e}"))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            config,
            test_clock_start,
        } => {
            let settings = load(&config)?;
            let clock: Arc<dyn Clock> = match test_clock_start {
                None => Arc::new(SystemClock),
                Some(start) => {
                    let start = after_the_log(&settings, start.to_utc()).await?;
                    info!(%start, "Running on a test clock, not the system clock.");
                    Arc::new(StartedClock::new(start))
                }
            };
            Application::build(settings, clock)
                .await?
                .run_until_stopped()
                .await
        }
        Command::Demo {
            listen,
            broker_port,
            database,
            speed,
            history_days,
        } => demo(listen, broker_port, database, speed, history_days).await,
        Command::Simulate {
            broker,
            config,
            speed,
        } => {
            let settings = load(&config)?;
            let opts = SimOptions {
                broker: BrokerAddr::parse(&broker).map_err(|e| anyhow!("--broker: {e}"))?,
                prefix: settings.mqtt.prefix.clone(),
                speed,
                ..SimOptions::default()
            };
            let stop = CancellationToken::new();
            let sim = tokio::spawn(sim::run(settings.halls, opts, stop.clone()));
            shutdown_signal().await;
            stop.cancel();
            sim.await??;
            Ok(())
        }
        Command::BrokerAcl { config } => {
            let s = load(&config)?;
            let user = s.mqtt.username.as_deref().unwrap_or("hallwatch");
            print!(
                "{}",
                hallwatch::mqtt::acl::mosquitto_acl(&s.mqtt.prefix, &s.halls, user)
            );
            Ok(())
        }
        Command::CheckConfig { config } => {
            let s = load(&config)?;
            println!("{}: valid", config.display());
            for h in &s.halls {
                println!(
                    "  {} {} ({:?}): {} services, {} windows, {} kiosks",
                    h.id,
                    h.name,
                    h.level,
                    h.services.len(),
                    h.windows.len(),
                    h.kiosks.len()
                );
            }
            println!("  {} access tokens", s.tokens.len());
            println!(
                "  {} notification channels, {} routes",
                s.notify.channels.len(),
                s.notify.routes.len()
            );
            Ok(())
        }
        Command::Rebuild { config } => {
            let s = load(&config)?;
            let store = hallwatch::store::Store::open(&s.server.database_url).await?;
            let now = chrono::Utc::now();
            for r in hallwatch::replay::rebuild(&store, &s.halls, now).await? {
                println!(
                    "{}: {} events → {} cases, {} cards, {} follow-ups",
                    r.hall, r.events, r.cases, r.cards, r.follow_ups
                );
            }
            Ok(())
        }
        Command::VerifyLog { config, head } => {
            let s = load(&config)?;
            let mut heads = std::collections::HashMap::new();
            for h in &head {
                let parsed = h.split_once('=').and_then(|(hall, rest)| {
                    let (seq, hash) = rest.split_once(':')?;
                    Some((hall.to_owned(), (seq.parse::<i64>().ok()?, hash.to_owned())))
                });
                let (hall, at) =
                    parsed.ok_or_else(|| anyhow!("--head {h:?} is not HALL=SEQ:HASH"))?;
                heads.insert(hall, at);
            }
            let store = hallwatch::store::Store::open(&s.server.database_url).await?;
            let mut halls: Vec<String> = s.halls.iter().map(|h| h.id.to_string()).collect();
            for h in store.audit_halls().await? {
                if !halls.contains(&h) {
                    halls.push(h);
                }
            }
            let mut broken = 0;
            for hall in halls {
                let records = store.audit_log(&hall).await?;
                let at = heads.get(&hall).map(|(n, h)| (*n, h.as_str()));
                match hallwatch::audit::verify(&records, at) {
                    Ok(n) => {
                        let last = records.last().map_or(String::from("empty"), |r| {
                            format!("head {} {}", r.seq, r.hash)
                        });
                        println!("{hall}: {n} records, chain intact ({last})");
                    }
                    Err(b) => {
                        broken += 1;
                        println!("{hall}: BROKEN: {b}");
                    }
                }
            }
            if broken > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Schemas { out } => {
            let written = hallwatch::contract::write(&out).map_err(|e| anyhow!(e))?;
            if written.is_empty() {
                println!("Everything generated is up to date in {}.", out.display());
            }
            for path in written {
                println!("wrote {}", out.join(path).display());
            }
            Ok(())
        }
        Command::NotifyTest { config, channel } => notify_test(&config, channel.as_deref()).await,
        Command::Receive { listen, secret } => {
            let listener = std::net::TcpListener::bind(listen)
                .with_context(|| format!("Failed to listen on {listen}"))?;
            println!("Receiving webhook notifications on http://{listen}/ (Ctrl-C stops).");
            let server = hallwatch::notify::receiver::serve(listener, secret, |m| {
                print_received(&m);
            })?;
            let handle = server.handle();
            tokio::spawn(server);
            shutdown_signal().await;
            handle.stop(true).await;
            Ok(())
        }
        Command::HashToken { token } => {
            let digest = Sha256::digest(token.as_bytes());
            println!(
                "{}",
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            Ok(())
        }
    }
}

/// A received notification on standard output.
fn print_received(m: &hallwatch::notify::receiver::Received) {
    let signed = if m.signed { "signed" } else { "unsigned" };
    println!("── {} ({signed}, key {})", m.title, m.key);
    for line in m.text.lines() {
        println!("   {line}");
    }
}

async fn notify_test(config: &std::path::Path, only: Option<&str>) -> anyhow::Result<()> {
    let s = load(config)?;
    let plan = &s.notify;
    if plan.channels.is_empty() {
        anyhow::bail!("{} configures no [[notify.channels]]", config.display());
    }
    if let Some(name) = only
        && plan.channel(name).is_none()
    {
        anyhow::bail!("no [[notify.channels]] is named {name:?}");
    }
    let client = hallwatch::notify::http::Client::new(s.notify_tls.clone(), plan.timeout);
    let now = chrono::Utc::now();
    let at = plan
        .local(s.halls[0].id.as_str(), now)
        .format("%m-%d %H:%M")
        .to_string();
    let mut failed = 0;
    for ch in plan
        .channels
        .iter()
        .filter(|c| only.is_none_or(|n| n == c.name))
    {
        let answer =
            hallwatch::notify::sender::test_send(&client, ch, plan.public_url.as_deref(), now, &at)
                .await;
        let url = hallwatch::notify::http::redact(&ch.url);
        match answer {
            Ok(said) => println!("{} ({}, {url}): delivered: {said}", ch.name, ch.kind.code()),
            Err(e) => {
                failed += 1;
                println!(
                    "{} ({}, {url}): NOT delivered: {e}",
                    ch.name,
                    ch.kind.code()
                );
            }
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(feature = "demo-broker")]
async fn demo(
    listen: SocketAddr,
    broker_port: u16,
    database: PathBuf,
    speed: f64,
    history_days: u32,
) -> anyhow::Result<()> {
    let broker_addr = SocketAddr::from(([127, 0, 0, 1], broker_port));
    hallwatch::broker::start(broker_addr)?;
    info!(%broker_addr, "Embedded demo broker started.");
    let mut settings = Settings::parse(hallwatch::EXAMPLE_CONFIG)
        .map_err(|e| anyhow!("example configuration: {e}"))?;
    settings.server.listen = listen.to_string();
    settings.server.database_url = format!("sqlite://{}", database.display());
    settings.mqtt.broker = format!("mqtt://{broker_addr}");
    settings.mqtt.client_id = "hallwatch-demo".into();
    // A webhook channel to a receiver of its own, which prints each
    // notification as a supervisor's phone would show it.
    let receiver = std::net::TcpListener::bind(("127.0.0.1", 0))
        .context("Failed to listen for the demo's webhook receiver")?;
    let receiver_addr = receiver.local_addr()?;
    let secret = format!("demo-{}", rand::random::<u64>());
    settings.notify = Arc::new(hallwatch::notify::demo_plan(
        &settings.halls,
        &format!("http://{receiver_addr}/hallwatch"),
        &secret,
        &format!("http://{listen}"),
    ));
    let receiver = hallwatch::notify::receiver::serve(receiver, Some(secret), |m| {
        print_received(&m);
    })?;
    let receiver_stop = receiver.handle();
    tokio::spawn(receiver);
    let halls = settings.halls.clone();
    // The demo's time runs `speed` times faster through the county centre's
    // office hours, after living its last working days at a fast pace (a
    // restart goes on after its last stored event instead).
    let today = today_opening(&halls[0]);
    let from = working_days_before(&halls[0], today, history_days);
    let start = after_the_log(&settings, from).await?;
    let clock =
        DemoClock::new(halls[0].clone(), start, speed).catching_up(today, speed.max(HISTORY_PACE));
    let catch_up = clock.catch_up_seconds();
    let history_from = halls[0].local(start).format("%Y-%m-%d %H:%M");
    let clock = Arc::new(clock);
    let opts = SimOptions {
        broker: BrokerAddr {
            host: "127.0.0.1".into(),
            port: broker_port,
        },
        prefix: settings.mqtt.prefix.clone(),
        speed,
        clock: Some(clock.clone()),
        // The township's 公安 rush: its pooled 无差别 windows carry it, and
        // the staffing advice says when to open the spare one.
        rushes: vec![("jl-town".into(), "GA".into(), 3.0)],
        appointments: true,
        ..SimOptions::default()
    };
    let app = Application::build(settings, clock.clone()).await?;
    let stop = CancellationToken::new();
    let sim = tokio::spawn(sim::run(halls, opts, stop.clone()));
    if let Some(registry) = app.registry() {
        tokio::spawn(hallwatch::booking_desk::run(
            registry.clone(),
            clock.clone(),
            stop.clone(),
        ));
        tokio::spawn(hallwatch::desk::run(
            registry,
            clock.clone(),
            2026,
            stop.clone(),
        ));
    }
    println!();
    println!("  hallwatch demo: open http://{listen}/");
    println!("  supervisor console: http://{listen}/supervisor.html (token: demo-supervisor)");
    println!("  限时办结: cases accepted at the windows run to their deadlines; the back office");
    println!(
        "  completes most on time, some late, and the cards reach the console's 限时办结 panel."
    );
    println!(
        "  monthly 考评 (CSV): http://{listen}/api/halls/jl-center/appraisal?format=csv with Authorization: Bearer demo-backoffice"
    );
    println!(
        "  notifications: alerts and cards go to a signed webhook at http://{receiver_addr}/hallwatch,"
    );
    println!("  printed here as they arrive (hallwatch receive runs the same receiver alone).");
    println!(
        "  citizens' phones: once the halls reach today, the address of one ticket's phone page"
    );
    println!("  is printed here: open it to follow that ticket until it is called.");
    println!(
        "  MQTT broker: mqtt://{broker_addr}   events: {}",
        database.display()
    );
    if catch_up > 0.0 {
        println!(
            "  history: the halls first live the days since {} at {}× ({:.0} s), then today at {speed}×.",
            history_from,
            speed.max(HISTORY_PACE),
            catch_up
        );
    }
    println!("  Ctrl-C stops it.");
    println!();
    let sim_stop = stop.clone();
    app.run_until(async move {
        shutdown_signal().await;
        sim_stop.cancel();
    })
    .await?;
    stop.cancel();
    let _ = sim.await;
    receiver_stop.stop(true).await;
    Ok(())
}

/// `start`, or a second after the newest stored event if that is later: a
/// clock that does not start at the system's time continues after an
/// earlier run, so the log stays in order and a restart rebuilds the same
/// halls.
async fn after_the_log(
    settings: &Settings,
    start: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let store = hallwatch::store::Store::open(&settings.server.database_url).await?;
    let last = store.last_event_at().await?;
    store.close().await;
    Ok(last.map_or(start, |t| (t + chrono::Duration::seconds(1)).max(start)))
}

/// The pace of a fresh demo's history: a working day of about eight office
/// hours in half a minute.
#[cfg(feature = "demo-broker")]
const HISTORY_PACE: f64 = 1000.0;

/// The opening of the `days`-th working day of a hall before `today` (an
/// instant in it), or `today` itself for 0.
#[cfg(feature = "demo-broker")]
fn working_days_before(
    spec: &hallwatch::domain::HallSpec,
    today: chrono::DateTime<chrono::Utc>,
    days: u32,
) -> chrono::DateTime<chrono::Utc> {
    let mut date = spec.local_date(today);
    let mut left = days;
    // A year back at most: a calendar without a working day has no history.
    for _ in 0..366 {
        if left == 0 {
            break;
        }
        let Some(before) = date.pred_opt() else { break };
        date = before;
        if !spec.hours.spans(date).is_empty() {
            left -= 1;
        }
    }
    if left > 0 {
        return today;
    }
    let midnight = spec.day_start(date);
    spec.office_deadline(midnight, 0).unwrap_or(midnight)
}

/// Today's first opening of a hall (local midnight when it has no hours
/// today): where a fresh demo begins.
#[cfg(feature = "demo-broker")]
fn today_opening(spec: &hallwatch::domain::HallSpec) -> chrono::DateTime<chrono::Utc> {
    let today = spec.local_date(chrono::Utc::now());
    let midnight = spec.day_start(today);
    spec.office_deadline(midnight, 0).unwrap_or(midnight)
}

#[cfg(not(feature = "demo-broker"))]
async fn demo(_: SocketAddr, _: u16, _: PathBuf, _: f64, _: u32) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build has no embedded broker: rebuild with the default `demo-broker` feature"
    )
}
