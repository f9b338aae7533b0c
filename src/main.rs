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
use hallwatch::clock::SystemClock;
use hallwatch::config::Settings;
use hallwatch::mqtt::BrokerAddr;
use hallwatch::sim::{self, SimOptions};

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
        /// Time compression of the simulated hall.
        #[arg(long, default_value_t = 15.0)]
        speed: f64,
    },
    /// Production: external broker and database from the configuration.
    Serve {
        #[arg(long, short, env = "HALLWATCH_CONFIG")]
        config: PathBuf,
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
    /// Validate a configuration file and summarise it.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the SHA-256 of an access token, for `[[tokens]] sha256`.
    HashToken { token: String },
}

fn main() -> anyhow::Result<()> {
    // One TLS provider for the whole process: ring (see DEPENDENCIES in the README).
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
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
        Command::Serve { config } => {
            let settings = load(&config)?;
            Application::build(settings, Arc::new(SystemClock))
                .await?
                .run_until_stopped()
                .await
        }
        Command::Demo {
            listen,
            broker_port,
            database,
            speed,
        } => demo(listen, broker_port, database, speed).await,
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

#[cfg(feature = "demo-broker")]
async fn demo(
    listen: SocketAddr,
    broker_port: u16,
    database: PathBuf,
    speed: f64,
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
    compress_for_demo(&mut settings, speed);
    let halls = settings.halls.clone();
    let opts = SimOptions {
        broker: BrokerAddr {
            host: "127.0.0.1".into(),
            port: broker_port,
        },
        prefix: settings.mqtt.prefix.clone(),
        speed,
        ..SimOptions::default()
    };
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    let stop = CancellationToken::new();
    let sim = tokio::spawn(sim::run(halls, opts, stop.clone()));
    println!();
    println!("  hallwatch demo: open http://{listen}/");
    println!("  supervisor console: http://{listen}/supervisor.html (token: demo-supervisor)");
    println!(
        "  MQTT broker: mqtt://{broker_addr}   events: {}",
        database.display()
    );
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
    Ok(())
}

/// The demo runs time `speed` times faster than a real hall, so its alert
/// limits shrink alike (a 30-minute wait limit becomes 2 minutes at 15×),
/// and its halls stay open around the clock so the demo is alive whenever
/// it is run.
#[cfg(feature = "demo-broker")]
fn compress_for_demo(settings: &mut Settings, speed: f64) {
    let speed = speed.max(1.0);
    let scale_u = |s: u32| ((f64::from(s) / speed).round() as u32).max(1);
    let scale_i = |s: i64| ((s as f64 / speed).round() as i64).max(1);
    for hall in &mut settings.halls {
        let h = std::sync::Arc::make_mut(hall);
        h.hours = hallwatch::domain::OfficeHours::always();
        // Today the hall opens now, not at midnight: staff are not absent
        // for the hours before the demo started.
        let local = chrono::Utc::now().with_timezone(&h.tz);
        if let Ok(today) =
            hallwatch::domain::Span::parse(&format!("{}-24:00", local.format("%H:%M")))
        {
            h.hours.exceptions.insert(local.date_naive(), vec![today]);
        }
        for s in &mut h.services {
            s.expected_service_s = scale_u(s.expected_service_s);
            s.wait_limit_s = (scale_u(s.wait_limit_s.0), scale_u(s.wait_limit_s.1));
            s.service_limit_s = (scale_u(s.service_limit_s.0), scale_u(s.service_limit_s.1));
        }
        let t = &mut h.thresholds;
        t.staffing_gap_s = scale_i(t.staffing_gap_s);
        t.unattended_s = (scale_i(t.unattended_s.0), scale_i(t.unattended_s.1));
        t.idle_with_queue_s = scale_i(t.idle_with_queue_s);
        t.pause_s = (scale_i(t.pause_s.0), scale_i(t.pause_s.1));
        t.call_unanswered_s = scale_i(t.call_unanswered_s);
        t.no_show_within_s = scale_i(t.no_show_within_s);
        t.device_offline_s = scale_i(t.device_offline_s);
        t.escalate_after_s = scale_i(t.escalate_after_s);
    }
}

#[cfg(not(feature = "demo-broker"))]
async fn demo(_: SocketAddr, _: u16, _: PathBuf, _: f64) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build has no embedded broker: rebuild with the default `demo-broker` feature"
    )
}
