//! Building and running the server: store, replay, hall tasks, ingest, HTTP,
//! and a shutdown that stores every received event before it exits.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::clock::Clock;
use crate::cluster::{Directory, Member, owner_name};
use crate::config::Settings;
use crate::engine::Registry;
use crate::health::Health;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::partition::{Running, Scope, Shared, fold};
use crate::replay::replay_start;
use crate::store::Store;

/// A built server, ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    /// The listener of the phone pages alone (`[phone] listen`), and its port.
    public: Option<(u16, actix_web::dev::Server)>,
    stop: CancellationToken,
    halls: Halls,
    notifier: JoinHandle<()>,
    store: Store,
    health: Arc<Health>,
    registry: Registry,
}

/// How this instance runs its halls.
enum Halls {
    /// Every hall of the configuration, for the life of the process.
    Running(Running),
    /// The partitions whose leases it holds, as its cluster loop takes and
    /// hands them over; cancelling the token hands every one over.
    Cluster(CancellationToken, JoinHandle<()>),
}

impl Application {
    /// Opens the store, replays the log into every hall, connects to the
    /// broker and binds the HTTP listener. Traffic is taken only after the
    /// replay, so no message is applied to a half-built hall.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        match raise_open_files_limit() {
            Some(f) if f.allowed < f.hard => tracing::warn!(
                open_files = f.allowed,
                hard_limit = f.hard,
                "Could not raise the open-file limit to the hard limit; each screen's connection holds one."
            ),
            Some(f) => info!(
                open_files = f.allowed,
                "Open files allowed: each screen's connection holds one."
            ),
            None => {}
        }
        let auth = Arc::new(
            http::auth::Auth::configure(&settings.tokens, &settings.server)
                .map_err(|e| anyhow!("configuration error: {e}"))?,
        );
        // HTTPS and WSS when server.tls_cert and tls_key are set. Read
        // before anything starts, so a certificate file that went bad since
        // the settings were checked stops nothing half-built.
        let tls = crate::config::tls::server_config(&settings.server)
            .map_err(|e| anyhow!("configuration error: {e}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let store = Store::open(&settings.server.database_url)
            .await
            .context("Failed to open the store")?;
        let health = Arc::new(Health::default());
        let metrics = Arc::new(Metrics::default());

        // Alert messages for every console; a console that falls this far
        // behind gets a fresh snapshot.
        let (alerts, _) = tokio::sync::broadcast::channel(4096);
        let (summaries, _) = tokio::sync::broadcast::channel(1024);
        let listener = TcpListener::bind(&settings.server.listen).with_context(|| {
            format!(
                "Failed to listen on {} (server.listen)",
                settings.server.listen
            )
        })?;
        let listener_addr = listener.local_addr()?;
        let port = listener_addr.port();
        let page_base = settings
            .phone
            .page_base(listener.local_addr()?, tls.is_some());
        let registry = Registry::default();
        let settings = Arc::new(settings);
        let shared = Shared {
            settings: settings.clone(),
            store: store.clone(),
            clock: clock.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
            registry: registry.clone(),
            alerts: alerts.clone(),
            summaries: summaries.clone(),
            page_base,
        };
        let mut directory = None;
        let halls = match &settings.cluster {
            // One instance runs every hall: replayed before anything is
            // taken from the broker or served.
            None => {
                let started = Instant::now();
                let folded = fold(&shared, &settings.halls, &Scope::Everything).await?;
                let (events, from_checkpoints) = (folded.events, folded.from_checkpoints);
                let count = folded.replayed.halls.len();
                log_foreign(&store, &settings, clock.now()).await?;
                let running = Running::start(&shared, folded, Scope::Everything).await?;
                info!(
                    events,
                    halls = count,
                    from_checkpoints,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    backend = store.backend(),
                    "Replayed the event log."
                );
                Halls::Running(running)
            }
            // Partitions come and go with their leases.
            Some(cluster) => {
                let me = cluster
                    .advertise
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", listener_addr));
                let member = Member {
                    shared: shared.clone(),
                    cluster: cluster.clone(),
                    owner: owner_name(std::env::var("HALLWATCH_INSTANCE").ok().as_deref()),
                    directory: Arc::new(Directory::new(me, &cluster.partitions)),
                };
                directory = Some(member.directory.clone());
                let leave = CancellationToken::new();
                Halls::Cluster(leave.clone(), tokio::spawn(member.run(leave)))
            }
        };
        let stop = CancellationToken::new();
        // The outbox's sender: what was queued before a restart goes too.
        let sender = crate::notify::sender::Sender::new(
            store.clone(),
            settings.notify.clone(),
            crate::notify::http::Client::new(settings.notify_tls.clone(), settings.notify.timeout),
            clock.clone(),
            metrics.clone(),
            health.clone(),
            Some(alerts.clone()),
        );
        let notifier = tokio::spawn(sender.run(stop.clone()));
        // Every hall's summary for the region roll-up: this instance's as
        // they change, and with [cluster] every instance's from the broker.
        let board = Arc::new(crate::board::Board::new(&settings));
        tokio::spawn(board.clone().follow_local(summaries.clone(), stop.clone()));
        if settings.cluster.is_some() {
            tokio::spawn(board.clone().follow_broker(
                settings.clone(),
                registry.clone(),
                summaries.clone(),
                stop.clone(),
            ));
        }

        let state = AppState {
            alerts,
            summaries,
            store: store.clone(),
            registry: registry.clone(),
            health: health.clone(),
            metrics,
            clock,
            auth,
            near_ahead: settings.phone.near_ahead,
            directory,
            board,
            configured: Arc::new(
                settings
                    .halls
                    .iter()
                    .map(|h| crate::domain::HallInfo {
                        id: h.id.clone(),
                        name: h.name.clone(),
                        level: h.level,
                    })
                    .collect(),
            ),
        };
        let public = match settings.phone.listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .with_context(|| format!("Failed to listen on {addr} (phone.listen)"))?;
                let port = listener.local_addr()?.port();
                let state = state.clone();
                let server = actix_web::HttpServer::new(move || {
                    // The phone pages and nothing else: everything else
                    // stays on the intranet's listener.
                    actix_web::App::new()
                        .app_data(actix_web::web::Data::new(state.clone()))
                        .wrap(actix_web::middleware::from_fn(http::forward))
                        .wrap(actix_web::middleware::from_fn(http::api_guard))
                        .wrap(actix_web::middleware::Compress::default())
                        .wrap(http::security_headers())
                        .wrap(actix_web::middleware::from_fn(http::framing))
                        .configure(http::phone::routes)
                })
                .on_connect(limit_send_buffer)
                .workers(1)
                .disable_signals()
                .shutdown_timeout(5);
                let server = match tls.clone() {
                    Some(config) => server.listen_rustls_0_23(listener, config)?,
                    None => server.listen(listener)?,
                }
                .run();
                info!(port, "Serving tickets' phone pages alone (phone.listen).");
                Some((port, server))
            }
            None => None,
        };
        let server = actix_web::HttpServer::new(move || {
            // The first `wrap` is the innermost: the guard sees answers
            // before they are compressed, and every answer, the guard's
            // own 429s included, gets the security headers.
            actix_web::App::new()
                .app_data(actix_web::web::Data::new(state.clone()))
                .wrap(actix_web::middleware::from_fn(http::forward))
                .wrap(actix_web::middleware::from_fn(http::api_guard))
                .wrap(actix_web::middleware::Compress::default())
                .wrap(http::security_headers())
                .wrap(actix_web::middleware::from_fn(http::framing))
                .configure(http::routes)
        })
        .on_connect(limit_send_buffer)
        // Frames are small and due at once: no waiting for the screen's ACK
        // before the next leaves (Nagle's algorithm, up to 40 ms).
        .tcp_nodelay(true)
        .workers(2)
        .disable_signals()
        .shutdown_timeout(5);
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        }
        .run();
        health.set_ready();
        info!(port, scheme = %scheme, "hallwatch is serving.");
        Ok(Self {
            port,
            server,
            public,
            stop,
            halls,
            notifier,
            store,
            health,
            registry,
        })
    }

    /// The halls this server runs, for an in-process helper such as the
    /// demo's supervision desk.
    pub fn registry(&self) -> Option<Registry> {
        Some(self.registry.clone())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the phone pages' own listener, when configured.
    pub fn public_port(&self) -> Option<u16> {
        self.public.as_ref().map(|(port, _)| *port)
    }

    /// Serves until `shutdown` resolves, then stops cleanly: no new
    /// messages, every received one stored and acknowledged.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        let public = self.public.map(|(_, s)| (s.handle(), tokio::spawn(s)));
        shutdown.await;
        info!("Shutting down: storing and acknowledging what was received.");
        // HTTP first: no request reaches a hall that is stopping.
        handle.stop(true).await;
        let _ = server.await;
        if let Some((handle, server)) = public {
            handle.stop(true).await;
            let _ = server.await;
        }
        // No new messages (the broker keeps them for the next start, or for
        // the next owner of a partition); every received one stored and
        // acknowledged.
        match self.halls {
            Halls::Running(running) => running.stop(&self.registry, &self.health).await,
            Halls::Cluster(leave, member) => {
                leave.cancel();
                let _ = member.await;
            }
        }
        self.stop.cancel();
        let _ = self.notifier.await;
        self.store.close().await;
        info!("Stopped.");
        Ok(())
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Says so when the log holds events of halls not configured here (another
/// process's, or ones no longer configured): they were not replayed.
async fn log_foreign(store: &Store, settings: &Settings, now: DateTime<Utc>) -> anyhow::Result<()> {
    let foreign: i64 = store
        .event_counts_since(replay_start(settings, now))
        .await
        .context("Failed to count the event log")?
        .into_iter()
        .filter(|(hall, _)| !settings.halls.iter().any(|h| h.id.as_str() == hall))
        .map(|(_, n)| n)
        .sum();
    if foreign > 0 {
        info!(
            events = foreign,
            "Stored events of halls not configured here were not replayed."
        );
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM where there is one.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The kernel's send buffer per HTTP connection. Left to autotuning it grows
/// to 4 MiB, and a screen that stops reading would bank minutes of stale
/// frames there, out of the server's sight. Small, a stalled screen soon
/// makes its sends wait, so the server notices: it sends a screen that falls
/// behind a fresh snapshot, and closes one that takes no frame for five
/// seconds. 64 KiB (the kernel doubles it) still carries an API answer at
/// 2.5 MB/s over a 50 ms round trip.
const SEND_BUFFER: usize = 64 * 1024;

/// For `on_connect`: the send buffer above, and the socket kept with the
/// connection so that a stuck WebSocket client can be reset
/// ([`http::conn`]).
fn limit_send_buffer(conn: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    use actix_web::rt::net::TcpStream;
    let tcp = conn.downcast_ref::<TcpStream>().or_else(|| {
        conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref().0)
    });
    let Some(tcp) = tcp else { return };
    if let Err(e) = socket2::SockRef::from(tcp).set_send_buffer_size(SEND_BUFFER) {
        tracing::debug!(error = %e, "Could not limit a connection's send buffer.");
    }
    http::conn::remember(tcp, data);
}

/// This process's limit of open files, as [`raise_open_files_limit`] left
/// it.
pub struct OpenFiles {
    /// The soft limit: how many files the process may hold.
    pub allowed: u64,
    /// The hard limit, as far as the soft one may be raised.
    pub hard: u64,
}

/// Every screen holds a connection, so open files bound how many screens
/// a server keeps: raises this process's soft limit to the hard one, as far
/// as the system allows (under systemd, `LimitNOFILE` sets both); the
/// processes it starts inherit it. None when the limit cannot be read.
pub fn raise_open_files_limit() -> Option<OpenFiles> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            ..limit
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(OpenFiles {
        allowed: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}
