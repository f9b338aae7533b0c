//! hallwatch side by side: the broker's own limit, hallwatch, and a
//! Node-RED flow doing the same job, measured in one run on one machine.
//!
//! `cargo bench --bench side_by_side` runs everything (about 30 minutes;
//! BENCHMARKS.md holds its tables). `cargo test` builds this file as a test
//! and runs it once in smoke mode: a few seconds of each path in the debug
//! build, failing if an event is lost or doubled (a call the server
//! answered and did not publish counts as lost). Options:
//! `-- --smoke`, `--reps N`, `--only broker,ingest,latency,fanout,displays,replay,cases`,
//! `--paths hallwatch,mosquitto,node-red` (the fan-out paths),
//! `--stores sqlite,postgres` (the stores ingest and replay run on; both
//! unless told, PostgreSQL at `HALLWATCH_TEST_POSTGRES` or on
//! 127.0.0.1:5432).

mod broker;
mod cases;
mod env;
mod load;
mod replay;
mod screens;
mod stats;
mod store;
// The tests' fresh PostgreSQL database.
#[path = "../../tests/common/pg.rs"]
mod pg;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rumqttc::QoS;
use tokio_util::sync::CancellationToken;

use env::{CpuMeter, CpuUse, Mosquitto, NodeRed, Server};
use load::{CallTimes, Layout, PER_CYCLE};
use stats::{Latencies, Spread, group};
use store::{Backend, Db};

/// When the server's clock starts in every run (Monday 09:00 in the
/// halls), so a run never depends on the hour it starts at; the replay's
/// day is the day before.
pub const T0: &str = "2026-11-23T09:00:00+08:00";

/// What a run measures and how much.
struct Plan {
    smoke: bool,
    reps: usize,
    only: Option<Vec<String>>,
    /// Fan-out paths to run: hallwatch, mosquitto, node-red.
    paths: Option<Vec<String>>,
    /// The stores ingest and replay run on, side by side.
    stores: Vec<Backend>,
    /// Keep the replay's day (database and configuration) in
    /// target/bench/replay, to start a server on it again by hand.
    keep: bool,
    broker_msgs: usize,
    ingest: (Layout, usize),
    latency: (Layout, Vec<f64>, Vec<usize>, f64),
    fanout: (Vec<f64>, f64, usize),
    displays: usize,
    replay: (Layout, usize),
    cases: CasesPlan,
}

/// The 限时办结 section: open cases to hold, ticks to time, and the day to
/// replay over the book.
struct CasesPlan {
    open: Vec<usize>,
    ticks: usize,
    day: (Layout, usize),
}

impl Plan {
    fn from_args() -> anyhow::Result<Self> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // `cargo bench` passes --bench; `cargo test` does not: a smoke run.
        let smoke = args.iter().any(|a| a == "--smoke") || !args.iter().any(|a| a == "--bench");
        let value = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1).cloned())
        };
        let reps = match value("--reps") {
            Some(v) => v
                .parse()
                .with_context(|| format!("--reps {v:?} is not a count"))?,
            None if smoke => 1,
            None => 3,
        };
        let only = value("--only").map(|v| v.split(',').map(str::to_owned).collect());
        let paths = value("--paths").map(|v| v.split(',').map(str::to_owned).collect());
        let keep = args.iter().any(|a| a == "--keep");
        let stores = match value("--stores") {
            Some(v) => v
                .split(',')
                .map(Backend::parse)
                .collect::<anyhow::Result<Vec<_>>>()?,
            None => Self::default_stores(smoke)?,
        };
        Ok(if smoke {
            Self {
                smoke,
                reps,
                only,
                paths,
                stores,
                keep,
                broker_msgs: 5_000,
                ingest: (
                    Layout {
                        halls: 2,
                        windows: 3,
                    },
                    20,
                ),
                latency: (
                    Layout {
                        halls: 2,
                        windows: 3,
                    },
                    vec![300.0],
                    vec![10],
                    1.0,
                ),
                fanout: (vec![50.0], 1.0, 20),
                displays: 0,
                replay: (
                    Layout {
                        halls: 2,
                        windows: 5,
                    },
                    10,
                ),
                cases: CasesPlan {
                    open: vec![0, 1_000],
                    ticks: 500,
                    day: (
                        Layout {
                            halls: 1,
                            windows: 3,
                        },
                        5,
                    ),
                },
            }
        } else {
            Self {
                smoke,
                reps,
                only,
                paths,
                stores,
                keep,
                broker_msgs: 200_000,
                // 200 windows, 100,200 messages.
                ingest: (
                    Layout {
                        halls: 20,
                        windows: 10,
                    },
                    100,
                ),
                latency: (
                    Layout {
                        halls: 20,
                        windows: 10,
                    },
                    vec![1_000.0, 2_000.0, 5_000.0, 20_000.0],
                    vec![10, 100, 1_000],
                    5.0,
                ),
                // Events a second into one hall watched by 1,000 screens.
                fanout: (
                    vec![
                        10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0, 800.0,
                        1_000.0, 1_500.0, 2_000.0,
                    ],
                    3.0,
                    1_000,
                ),
                displays: 10_000,
                // 2,000 windows × (1 + 100 × 5) = 1,002,000 events.
                replay: (
                    Layout {
                        halls: 100,
                        windows: 20,
                    },
                    100,
                ),
                // One hall of 20 windows: a day of 20 × (1 + 100 × 5) =
                // 10,020 events over books of 0 to 100,000 open cases.
                cases: CasesPlan {
                    open: vec![0, 10_000, 100_000],
                    ticks: 20_000,
                    day: (
                        Layout {
                            halls: 1,
                            windows: 20,
                        },
                        100,
                    ),
                },
            }
        })
    }

    /// Both stores. Without a PostgreSQL server a smoke run goes on with
    /// SQLite alone and says so, unless the tests require PostgreSQL
    /// (HALLWATCH_REQUIRE_POSTGRES=1, as CI sets it); a full run needs it.
    fn default_stores(smoke: bool) -> anyhow::Result<Vec<Backend>> {
        if pg::admin_url_or_local().is_some() {
            return Ok(vec![Backend::Sqlite, Backend::Postgres]);
        }
        let required = std::env::var("HALLWATCH_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        if !smoke || required {
            bail!(
                "no PostgreSQL for the ingest and replay sections: set HALLWATCH_TEST_POSTGRES, \
                 start a server on 127.0.0.1:5432, or pass --stores sqlite"
            );
        }
        eprintln!(
            "SKIPPED: PostgreSQL (set HALLWATCH_TEST_POSTGRES); ingest and replay run on SQLite alone"
        );
        Ok(vec![Backend::Sqlite])
    }

    /// Whether the fan-out path named `path` (as in FANOUT_PATHS) runs.
    fn runs_path(&self, path: &str) -> bool {
        let key = path
            .split_whitespace()
            .next()
            .unwrap_or(path)
            .to_lowercase();
        self.paths.as_ref().is_none_or(|p| p.contains(&key))
    }

    fn runs(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == section))
    }
}

/// The report, in Markdown, and the events lost and doubled across it.
#[derive(Default)]
struct Report {
    text: String,
    lost: u64,
    doubled: u64,
    missed_frames: u64,
}

impl Report {
    fn line(&mut self, s: impl AsRef<str>) {
        println!("{}", s.as_ref());
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }
}

fn cpu_cols(c: &[CpuUse]) -> String {
    let f = |g: fn(&CpuUse) -> f64| Spread::of(&c.iter().map(g).collect::<Vec<_>>()).show(0);
    format!(
        "{} | {} | {}",
        f(|c| c.server),
        f(|c| c.broker),
        f(|c| c.loadgen)
    )
}

fn main() -> anyhow::Result<()> {
    let plan = Plan::from_args()?;
    stats::self_check()?;
    // For this process and the broker, servers and Node-RED it starts
    // (they inherit it): thousands of screens need more than the usual 1,024.
    let _ = hallwatch::app::raise_open_files_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(run(&plan))?;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(if plan.smoke { "smoke.md" } else { "report.md" });
    std::fs::write(&out, &report.text)?;
    println!("\nReport written to {}", out.display());
    if report.lost > 0 || report.doubled > 0 || report.missed_frames > 0 {
        bail!(
            "{} events lost, {} doubled, {} call frames lost (missed by a screen sent no fresh snapshot)",
            report.lost,
            report.doubled,
            report.missed_frames
        );
    }
    Ok(())
}

async fn run(plan: &Plan) -> anyhow::Result<Report> {
    let mut r = Report::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    r.line(format!(
        "# hallwatch side by side ({} run, {} repetitions, {cores} cores)\n",
        if plan.smoke { "smoke" } else { "full" },
        plan.reps
    ));
    r.line("Figures are the median over the repetitions, with the range in brackets. CPU is % of one core.\n");
    let mut baseline = Baseline {
        qos1: f64::NAN,
        broker_us: f64::NAN,
    };
    if plan.runs("broker") {
        baseline = section_broker(plan, &mut r).await?;
    }
    if plan.runs("ingest") {
        section_ingest(plan, &mut r, &baseline).await?;
    }
    if plan.runs("latency") {
        section_latency(plan, &mut r).await?;
    }
    if plan.runs("fanout") {
        section_fanout(plan, &mut r).await?;
    }
    if plan.runs("displays") && plan.displays > 0 {
        section_displays(plan, &mut r).await?;
    }
    if plan.runs("replay") {
        section_replay(plan, &mut r).await?;
    }
    if plan.runs("cases") {
        section_cases(plan, &mut r).await?;
    }
    r.line(format!(
        "\n**Events lost: {}. Doubled: {}. Call frames lost (missed by a screen that was sent no fresh snapshot): {}.**",
        r.lost, r.doubled, r.missed_frames
    ));
    Ok(r)
}

/// The broker's own QoS 1 figures that ingest is set beside.
struct Baseline {
    /// Messages a second, publisher to subscriber.
    qos1: f64,
    /// The broker's CPU time per message, µs.
    broker_us: f64,
}

/// CPU µs per event of a process that used `pct` % of a core at `rate`/s.
fn us_per(pct: f64, rate: f64) -> f64 {
    pct / 100.0 * 1e6 / rate.max(1e-9)
}

async fn section_broker(plan: &Plan, r: &mut Report) -> anyhow::Result<Baseline> {
    r.line("## Broker baseline: one publisher → Mosquitto → one subscriber\n");
    r.line(format!(
        "{} messages of 200 bytes; QoS 1 with 1,000 in flight. Latency: QoS 1 at 5,000 msg/s for {} s.\n",
        group(plan.broker_msgs as f64, 0),
        if plan.smoke { 1 } else { 5 }
    ));
    r.line("| path | msg/s | received | CPU broker | CPU load generator |");
    r.line("|---|---|---|---|---|");
    let mut base = Baseline {
        qos1: f64::NAN,
        broker_us: f64::NAN,
    };
    for (name, qos) in [("QoS 0", QoS::AtMostOnce), ("QoS 1", QoS::AtLeastOnce)] {
        let (mut rates, mut got, mut cpus) = (vec![], vec![], vec![]);
        for rep in 0..plan.reps {
            let broker = Mosquitto::start()?;
            let t = broker::throughput(
                broker.port,
                broker.pid(),
                qos,
                plan.broker_msgs,
                &format!("b{rep}"),
            )
            .await?;
            rates.push(t.per_s);
            got.push(t.received as f64);
            cpus.push(t.cpu);
        }
        let s = Spread::of(&rates);
        if qos == QoS::AtLeastOnce {
            base.qos1 = s.median;
            base.broker_us = us_per(
                Spread::of(&cpus.iter().map(|c| c.broker).collect::<Vec<_>>()).median,
                s.median,
            );
        }
        r.line(format!(
            "| {name} | {} | {} | {} | {} |",
            s.show(0),
            Spread::of(&got).show(0),
            Spread::of(&cpus.iter().map(|c| c.broker).collect::<Vec<_>>()).show(0),
            Spread::of(&cpus.iter().map(|c| c.loadgen).collect::<Vec<_>>()).show(0),
        ));
    }
    let (mut p50, mut p99, mut p999) = (vec![], vec![], vec![]);
    for rep in 0..plan.reps {
        let broker = Mosquitto::start()?;
        let secs = if plan.smoke { 1.0 } else { 5.0 };
        let mut l = broker::latency(
            broker.port,
            5_000.0,
            (5_000.0 * secs) as usize,
            &format!("bl{rep}"),
        )
        .await?;
        p50.push(l.quantile_ms(0.5));
        p99.push(l.quantile_ms(0.99));
        p999.push(l.quantile_ms(0.999));
    }
    r.line(format!(
        "\nBroker-only latency at 5,000 msg/s, QoS 1: p50 {} ms, p99 {} ms, p99.9 {} ms.\n",
        Spread::of(&p50).show(3),
        Spread::of(&p99).show(3),
        Spread::of(&p999).show(3)
    ));
    r.line(format!(
        "The broker's CPU per QoS 1 message (publish in, delivery out, both acknowledged): {:.1} µs.\n",
        base.broker_us
    ));
    Ok(base)
}

/// A broker and a server with `layout`, ready for traffic.
struct Stack {
    broker: Mosquitto,
    server: Server,
    db: Db,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// On SQLite.
    async fn start(layout: Layout) -> anyhow::Result<Self> {
        Self::start_on(layout, Backend::Sqlite).await
    }

    async fn start_on(layout: Layout, backend: Backend) -> anyhow::Result<Self> {
        let broker = Mosquitto::start()?;
        let dir = tempfile::tempdir()?;
        let db = Db::create(backend, dir.path()).await?;
        let port = env::free_port();
        let config = dir.path().join("hallwatch.toml");
        std::fs::write(&config, layout.config(port, &db.url, broker.port))?;
        let mut server = Server::start(&config, port, &dir.path().join("server.log"))?;
        server.wait_ready(Duration::from_secs(60))?;
        Ok(Self {
            broker,
            server,
            db,
            _dir: dir,
        })
    }

    /// Stops the server and broker and drops a PostgreSQL database.
    async fn finish(self) {
        let Self {
            broker, server, db, ..
        } = self;
        drop(server);
        drop(broker);
        db.drop_db().await;
    }
}

async fn section_ingest(plan: &Plan, r: &mut Report, base: &Baseline) -> anyhow::Result<()> {
    let qos1 = base.qos1;
    let (layout, cycles) = plan.ingest;
    let n = layout.halls * layout.windows * (1 + cycles * PER_CYCLE);
    r.line("## Ingest: events applied, committed and acknowledged\n");
    r.line(format!(
        "{} halls × {} windows, each its own QoS 1 connection (100 in flight) sending a login and {cycles} citizens \
         (ticket request, call_next, start, finish, rating): {} events. Timed from the first publish to the last reply; \
         a reply leaves only after the event is committed to the store. The replies' subscriber also hears every \
         hall's calls, as a hall's own systems would, and each call the server published must reach it.\n",
        layout.halls,
        layout.windows,
        group(n as f64, 0)
    ));
    r.line("| store | events/s | ratio to QoS 1 baseline | lost | doubled | refused | CPU server | CPU broker | CPU load generator |");
    r.line("|---|---|---|---|---|---|---|---|---|");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut notes = Vec::new();
    let mut medians = Vec::new();
    for &backend in &plan.stores {
        let (mut rates, mut cpus, mut lost, mut doubled, mut refused) = (vec![], vec![], 0, 0, 0);
        // Per repetition: calls answered ok, calls heard on the broker,
        // calls heard twice.
        let mut calls: Vec<(u64, u64, u64)> = vec![];
        for rep in 0..plan.reps {
            let stack = Stack::start_on(layout, backend).await?;
            let run = format!("i{rep}");
            let (counter, replies) = load::reply_counter(stack.broker.port, &run, true).await?;
            let conns = load::window_conns(stack.broker.port, &run, layout, 100).await?;
            let mut scripts = Vec::new();
            for h in 0..layout.halls {
                for j in 0..layout.windows {
                    scripts.push(load::script(&run, h, j, cycles, true));
                }
            }
            let ids: Vec<String> = scripts.iter().flatten().map(|m| m.id.clone()).collect();
            let call_ids: Vec<String> = scripts
                .iter()
                .flatten()
                .filter(|m| m.is_call)
                .map(|m| m.id.clone())
                .collect();
            let cpu = CpuMeter::start(Some(stack.server.pid()), Some(stack.broker.pid()));
            // PostgreSQL works for the server on the same cores.
            let cpu = if backend == Backend::Postgres {
                cpu.with_database()
            } else {
                cpu
            };
            let started = Instant::now();
            let mut sends = tokio::task::JoinSet::new();
            for (conn, script) in conns.iter().zip(scripts) {
                let client = conn.client.clone();
                sends.spawn(async move {
                    for m in script {
                        client
                            .publish(m.topic, QoS::AtLeastOnce, false, m.payload)
                            .await?;
                    }
                    anyhow::Ok(())
                });
            }
            while let Some(res) = sends.join_next().await {
                res??;
            }
            load::wait_replies(&replies, n as u64, Duration::from_secs(10)).await;
            let cpu = cpu.stop();
            // Each call answered ok was published on the hall's call topic
            // before its reply, on the same connection.
            let want_calls = {
                let r = replies.lock().unwrap();
                call_ids
                    .iter()
                    .filter(|id| r.count.contains_key(*id) && !r.refused_ids.contains(*id))
                    .count() as u64
            };
            load::wait_done_or_quiet(
                || (replies.lock().unwrap().calls.len() as u64, want_calls),
                Duration::from_secs(2),
                Duration::from_millis(5),
            )
            .await;
            {
                let rep_replies = replies.lock().unwrap();
                let got = rep_replies.calls.len() as u64;
                let twice = rep_replies.calls.values().filter(|&&c| c > 1).count() as u64;
                calls.push((want_calls, got, twice));
                lost += want_calls.saturating_sub(got);
                doubled += twice;
                let elapsed = rep_replies.last.map_or(Duration::ZERO, |l| l - started);
                rates.push(n as f64 / elapsed.as_secs_f64().max(1e-6));
                cpus.push(cpu);
                let (l, d) = load::lost_and_doubled(&rep_replies, ids.iter().map(String::as_str));
                lost += l;
                doubled += d;
                refused += rep_replies.refused;
            }
            counter.task.abort();
            let (rows, distinct) = stack.db.stored().await?;
            if rows != n as u64 || distinct != n as u64 {
                notes.push(format!(
                    "- {}, repetition {rep}: {rows} events stored ({distinct} distinct) of {n} sent",
                    backend.name()
                ));
                lost += (n as u64).saturating_sub(distinct);
                doubled += rows.saturating_sub(distinct);
            }
            stack.finish().await;
        }
        r.lost += lost;
        r.doubled += doubled;
        let s = Spread::of(&rates);
        r.line(format!(
            "| {} | {} | {} | {lost} | {doubled} | {refused} | {} |",
            backend.name(),
            s.show(0),
            if qos1.is_nan() {
                "–".to_owned()
            } else {
                format!("{:.2}×", s.median / qos1)
            },
            cpu_cols(&cpus)
        ));
        // What bounds it: each process's CPU per event, and the rate at
        // which they would fill every core of this machine together.
        let med =
            |g: fn(&CpuUse) -> f64| Spread::of(&cpus.iter().map(g).collect::<Vec<_>>()).median;
        let per = [
            us_per(med(|c| c.server), s.median),
            us_per(med(|c| c.broker), s.median),
            us_per(med(|c| c.loadgen), s.median),
            us_per(med(|c| c.database), s.median),
        ];
        let ceiling = cores * 1e6 / per.iter().sum::<f64>();
        let database = if backend == Backend::Postgres {
            format!(", the database (every postgres process) {:.1} µs", per[3])
        } else {
            String::new()
        };
        // The broker's cost per message is known when its baseline ran.
        let worth = if base.broker_us > 0.0 {
            format!(" ({:.1} QoS 1 messages' worth)", per[1] / base.broker_us)
        } else {
            String::new()
        };
        // The broker with a whole core carries 1 ÷ its CPU per event.
        let broker_bound = 1e6 / per[1].max(1e-9);
        notes.push(format!(
            "- {}: CPU per event: server {:.1} µs ({:.2}× the broker's), broker {:.1} µs{worth}, load generator {:.1} µs{database}. \
             At that cost the {cores} cores are full at {} events/s. The broker-bound rate (a whole core for the \
             broker) is {} events/s; ingest reached {:.2}× of it.",
            backend.name(),
            per[0],
            per[0] / per[1].max(1e-9),
            per[1],
            per[2],
            group(ceiling, 0),
            group(broker_bound, 0),
            s.median / broker_bound
        ));
        let (want, got, twice) = calls
            .iter()
            .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
        notes.push(format!(
            "- {}: calls heard on the broker's call topics: {} of the {} answered ok, {} of them twice \
             (a call missing counts as lost, one heard twice as doubled).",
            backend.name(),
            group(got as f64, 0),
            group(want as f64, 0),
            group(twice as f64, 0),
        ));
        medians.push((backend, s.median));
    }
    r.line("");
    for note in notes {
        r.line(note);
    }
    if let (Some((_, sqlite)), Some((_, pg))) = (
        medians.iter().find(|(b, _)| *b == Backend::Sqlite),
        medians.iter().find(|(b, _)| *b == Backend::Postgres),
    ) {
        r.line(format!(
            "- PostgreSQL ingests {:.2}× what SQLite does.",
            pg / sqlite.max(1e-9)
        ));
    }
    r.line("");
    Ok(())
}

/// Publishes every window's next `cycles` citizens at `rate` while the
/// screens listen, then checks each screen saw every call of its hall.
#[allow(clippy::too_many_arguments)]
async fn paced_run(
    stack_port: u16,
    run: &str,
    layout: Layout,
    conns: &[load::Conn],
    cycles: usize,
    login: bool,
    rate: f64,
    times: &Arc<CallTimes>,
) -> anyhow::Result<(u64, u64, u64)> {
    let (counter, replies) = load::reply_counter(stack_port, run, false).await?;
    let mut scripts = Vec::new();
    for h in 0..layout.halls {
        for j in 0..layout.windows {
            scripts.push(load::script(run, h, j, cycles, login));
        }
    }
    let ids = load::paced(conns, scripts, rate, times).await?;
    load::wait_replies(&replies, ids.len() as u64, Duration::from_secs(10)).await;
    let rep = replies.lock().unwrap();
    let (lost, doubled) = load::lost_and_doubled(&rep, ids.iter().map(String::as_str));
    let refused = rep.refused;
    drop(rep);
    counter.task.abort();
    Ok((lost, doubled, refused))
}

/// Waits until every screen has had time to see the last frames.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn section_latency(plan: &Plan, r: &mut Report) -> anyhow::Result<()> {
    let (layout, rates, clients, secs) = plan.latency.clone();
    r.line(
        "## Latency: a window's call_next published → the call frame parsed by display screens\n",
    );
    r.line(format!(
        "{} halls × {} windows; the screens are spread evenly over the halls. Each point runs {secs} s of the citizen \
         cycle at the given rate (all message kinds counted). Every screen must see every call of its hall, or, if \
         it falls behind, be sent a fresh snapshot in their place (it then shows the calls since): \"screens resynced\". \
         A call missed without one is lost and fails the run.\n",
        layout.halls, layout.windows
    ));
    r.line("| events/s | screens | p50 ms | p99 ms | p99.9 ms | frames delivered/s | calls missed | screens resynced | CPU server | CPU broker | CPU load generator |");
    r.line("|---|---|---|---|---|---|---|---|---|---|---|");
    for &d in &clients {
        for &rate in &rates {
            let (mut p50, mut p99, mut p999, mut fps, mut cpus) =
                (vec![], vec![], vec![], vec![], vec![]);
            let (mut missed, mut resynced) = (vec![], vec![]);
            for rep in 0..plan.reps {
                let stack = Stack::start(layout).await?;
                let run = format!("l{d}-{rate}-{rep}");
                let conns = load::window_conns(stack.broker.port, &run, layout, 100).await?;
                let times = CallTimes::new(layout);
                let stop = CancellationToken::new();
                let (handles, _) = screens::displays(
                    d,
                    layout.halls,
                    stack.server.port,
                    |h| format!("/ws/display/{}", Layout::hall(h)),
                    false,
                    &times,
                    &stop,
                    100,
                )
                .await?;
                let events = (rate * secs) as usize;
                let cycles = (events / (layout.halls * layout.windows * PER_CYCLE)).max(1);
                let cpu = CpuMeter::start(Some(stack.server.pid()), Some(stack.broker.pid()));
                let started = Instant::now();
                let (lost, doubled, _) = paced_run(
                    stack.broker.port,
                    &run,
                    layout,
                    &conns,
                    cycles,
                    true,
                    rate,
                    &times,
                )
                .await?;
                settle().await;
                let cpu = cpu.stop();
                let elapsed = started.elapsed().as_secs_f64();
                let seen = screens::collect(&stop, handles).await;
                r.lost += lost;
                r.doubled += doubled;
                let mut lat = Latencies::default();
                let (mut frames, mut miss, mut resync) = (0, 0, 0);
                for (i, s) in seen.into_iter().enumerate() {
                    let want = times.calls(i % layout.halls) as u64;
                    let short = want.saturating_sub(s.calls);
                    miss += short;
                    // A screen that fell behind is sent a fresh snapshot in
                    // place of what it missed (it shows the calls since);
                    // a call missing without one is lost.
                    if s.resyncs == 0 {
                        r.missed_frames += short;
                    } else {
                        resync += 1;
                    }
                    frames += s.frames;
                    lat.extend(s.latency);
                }
                missed.push(miss as f64);
                resynced.push(resync as f64);
                p50.push(lat.quantile_ms(0.5));
                p99.push(lat.quantile_ms(0.99));
                p999.push(lat.quantile_ms(0.999));
                fps.push(frames as f64 / elapsed);
                cpus.push(cpu);
            }
            r.line(format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                group(rate, 0),
                group(d as f64, 0),
                Spread::of(&p50).show(2),
                Spread::of(&p99).show(2),
                Spread::of(&p999).show(2),
                Spread::of(&fps).show(0),
                Spread::of(&missed).show(0),
                Spread::of(&resynced).show(0),
                cpu_cols(&cpus)
            ));
        }
    }
    r.line("");
    Ok(())
}

/// One step of a fan-out ramp: deliveries a second, p99, and whether every
/// frame arrived.
struct Step {
    deliveries: f64,
    p99: f64,
    complete: bool,
    cpu: CpuUse,
}

/// hallwatch or Node-RED: one hall, `clients` screens, the citizen cycle at
/// `rate` events a second for `secs`.
#[allow(clippy::too_many_arguments)]
async fn fanout_step_display(
    broker: &Mosquitto,
    http_port: u16,
    server_pid: u32,
    conns: &[load::Conn],
    login: bool,
    rate: f64,
    secs: f64,
    clients: usize,
    hello: bool,
    run: &str,
) -> anyhow::Result<(Step, u64, u64)> {
    let layout = Layout {
        halls: 1,
        windows: conns.len(),
    };
    let times = CallTimes::new(layout);
    let stop = CancellationToken::new();
    let (handles, _) = screens::displays(
        clients,
        1,
        http_port,
        |h| format!("/ws/display/{}", Layout::hall(h)),
        hello,
        &times,
        &stop,
        100,
    )
    .await?;
    let cycles = (((rate * secs) as usize) / (layout.windows * PER_CYCLE)).max(1);
    let cpu = CpuMeter::start(Some(server_pid), Some(broker.pid()));
    let started = Instant::now();
    let (lost, doubled, _) =
        paced_run(broker.port, run, layout, conns, cycles, login, rate, &times).await?;
    settle().await;
    let cpu = cpu.stop();
    let elapsed = started.elapsed().as_secs_f64();
    let seen = screens::collect(&stop, handles).await;
    let want = times.calls(0) as u64;
    let mut lat = Latencies::default();
    let (mut frames, mut complete) = (0, true);
    for s in seen {
        complete &= s.calls >= want;
        frames += s.frames;
        lat.extend(s.latency);
    }
    Ok((
        Step {
            deliveries: frames as f64 / elapsed,
            p99: lat.quantile_ms(0.99),
            complete,
            cpu,
        },
        lost,
        doubled,
    ))
}

/// Mosquitto's own WebSocket fan-out: `rate` messages a second to one topic
/// that `clients` MQTT-over-WebSocket subscribers read.
async fn fanout_step_mosquitto(
    broker: &Mosquitto,
    rate: f64,
    secs: f64,
    clients: usize,
    run: &str,
) -> anyhow::Result<Step> {
    let stop = CancellationToken::new();
    let sent: screens::SentTimes = Arc::default();
    let topic = format!("bench/fanout/{run}");
    // As many at a time as hallwatch's screens connect (Mosquitto answers a
    // WebSocket handshake only between turns of its loop, so one after
    // another takes minutes for 1,000).
    let handles = screens::connect_all(clients, 100, |i| {
        screens::mqtt_ws_subscriber(
            format!("{run}-{i}"),
            i,
            broker.ws_port,
            topic.clone(),
            sent.clone(),
            stop.clone(),
        )
    })
    .await?;
    let publ = load::connect(broker.port, &format!("{run}-pub"), 1000, |_| {}).await?;
    let n = (rate * secs) as usize;
    let cpu = CpuMeter::start(None, Some(broker.pid()));
    let started = Instant::now();
    let t0 = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut i = 0;
    while i < n {
        tick.tick().await;
        let due = ((t0.elapsed().as_secs_f64() * rate) as usize).min(n);
        while i < due {
            sent.lock().unwrap().push(Instant::now());
            publ.client
                .publish(&topic, QoS::AtLeastOnce, false, broker::payload(i))
                .await?;
            i += 1;
        }
    }
    settle().await;
    let cpu = cpu.stop();
    let elapsed = started.elapsed().as_secs_f64();
    let mut seen = Vec::with_capacity(clients);
    stop.cancel();
    for h in handles {
        if let Ok(s) = h.await {
            seen.push(s);
        }
    }
    publ.task.abort();
    let mut lat = Latencies::default();
    let (mut frames, mut complete) = (0, seen.len() == clients);
    for s in seen {
        complete &= s.calls >= n as u64;
        frames += s.frames;
        lat.extend(s.latency);
    }
    Ok(Step {
        deliveries: frames as f64 / elapsed,
        p99: lat.quantile_ms(0.99),
        complete,
        cpu,
    })
}

/// A fan-out step of `secs` that has not ended a minute after it should
/// have (its screens still connecting, or a backlog still draining) is past
/// the path's limit: None, said on stderr, and the ramp stops there.
async fn bounded<T>(
    run: &str,
    secs: f64,
    step: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Option<T>> {
    let limit = Duration::from_secs_f64(secs + 60.0);
    match tokio::time::timeout(limit, step).await {
        Ok(done) => done.map(Some),
        Err(_) => {
            eprintln!("fan-out step {run} did not end within {limit:?}: counted as failing");
            Ok(None)
        }
    }
}

/// The best passing step of a ramp: every frame delivered, p99 < 100 ms.
fn passing(s: &Step) -> bool {
    s.complete && s.p99 < 100.0
}

/// Steps up through `rates` until a step fails (a frame missed, p99 at
/// 100 ms, or the step not ending: None); every step run, in order. Step
/// 0 is a warm-up at the first rate, not counted, so that no path is
/// judged on its first connections (a JIT, caches, a first snapshot).
async fn ramp(
    rates: &[f64],
    path: &str,
    mut step: impl AsyncFnMut(usize, f64) -> anyhow::Result<Option<Step>>,
) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    if let Some(&first) = rates.first() {
        step(0, first).await?;
    }
    for (k, &rate) in rates.iter().enumerate() {
        let Some(s) = step(k + 1, rate).await? else {
            break;
        };
        eprintln!(
            "fan-out {path} at {rate}/s: {:.0} deliveries/s, p99 {:.1} ms, {}",
            s.deliveries,
            s.p99,
            if s.complete {
                "every frame delivered"
            } else {
                "frames missed"
            }
        );
        let pass = passing(&s);
        steps.push(s);
        if !pass {
            break;
        }
    }
    Ok(steps)
}

/// The fan-out paths side by side.
const FANOUT_PATHS: [&str; 3] = ["hallwatch", "Mosquitto WebSocket", "Node-RED 4.1.8"];

async fn section_fanout(plan: &Plan, r: &mut Report) -> anyhow::Result<()> {
    let (rates, secs, clients) = plan.fanout.clone();
    let windows = 10;
    let layout = Layout { halls: 1, windows };
    r.line(format!(
        "## Fan-out: one hall, {} screens\n",
        group(clients as f64, 0)
    ));
    r.line(format!(
        "The rate rises step by step ({secs} s a step) until a screen misses a frame or p99 reaches 100 ms; the table \
         gives the highest passing step. hallwatch and Node-RED: the citizen cycle over {windows} windows, every display \
         frame counted (queue, call, window). Mosquitto: 200-byte messages on one topic to as many MQTT-over-WebSocket \
         subscribers. The second table gives every step, so the paths can be compared at equal rates.\n"
    ));
    let scratch = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/nodered");
    // Per path, per repetition, the steps it ran.
    let mut ramps: Vec<(&str, Vec<Vec<Step>>)> = Vec::new();
    for path in FANOUT_PATHS {
        if (path.starts_with("Node-RED") && plan.smoke) || !plan.runs_path(path) {
            continue;
        }
        let mut reps = Vec::new();
        for rep in 0..plan.reps {
            let steps = match path {
                "hallwatch" => {
                    let stack = Stack::start(layout).await?;
                    let conns =
                        load::window_conns(stack.broker.port, &format!("f{rep}"), layout, 100)
                            .await?;
                    let mut lost_doubled = (0, 0);
                    let steps = ramp(&rates, path, async |k, rate| {
                        let run = format!("f{rep}-{k}");
                        let step = fanout_step_display(
                            &stack.broker,
                            stack.server.port,
                            stack.server.pid(),
                            &conns,
                            k == 0,
                            rate,
                            secs,
                            clients,
                            false,
                            &run,
                        );
                        Ok(bounded(&run, secs, step).await?.map(|(s, lost, doubled)| {
                            lost_doubled.0 += lost;
                            lost_doubled.1 += doubled;
                            s
                        }))
                    })
                    .await?;
                    r.lost += lost_doubled.0;
                    r.doubled += lost_doubled.1;
                    if plan.smoke && steps.iter().any(|s| !s.complete) {
                        r.missed_frames += 1;
                    }
                    steps
                }
                "Mosquitto WebSocket" => {
                    let broker = Mosquitto::start()?;
                    ramp(&rates, path, async |k, rate| {
                        let run = format!("m{rep}-{k}");
                        bounded(
                            &run,
                            secs,
                            fanout_step_mosquitto(&broker, rate, secs, clients, &run),
                        )
                        .await
                    })
                    .await?
                }
                _ => {
                    let broker = Mosquitto::start()?;
                    let red = NodeRed::start(&scratch, broker.port, &layout.halls_json())?;
                    let conns =
                        load::window_conns(broker.port, &format!("n{rep}"), layout, 100).await?;
                    wait_nodered(&broker, &format!("n{rep}")).await?;
                    ramp(&rates, path, async |k, rate| {
                        let run = format!("n{rep}-{k}");
                        let step = fanout_step_display(
                            &broker,
                            red.port,
                            red.pid(),
                            &conns,
                            k == 0,
                            rate,
                            secs,
                            clients,
                            true,
                            &run,
                        );
                        Ok(bounded(&run, secs, step).await?.map(|(s, _, _)| s))
                    })
                    .await?
                }
            };
            reps.push(steps);
        }
        ramps.push((path, reps));
    }
    r.line("| path | deliveries/s | p99 ms at that rate | CPU server | CPU broker | CPU load generator |");
    r.line("|---|---|---|---|---|---|");
    for (path, reps) in &ramps {
        let best: Vec<&Step> = reps
            .iter()
            .map(|steps| steps.iter().rfind(|s| passing(s)).unwrap_or(&NO_STEP))
            .collect();
        let cpus: Vec<CpuUse> = best.iter().map(|s| s.cpu).collect();
        r.line(format!(
            "| {path} | {} | {} | {} |",
            Spread::of(&best.iter().map(|s| s.deliveries).collect::<Vec<_>>()).show(0),
            Spread::of(&best.iter().map(|s| s.p99).collect::<Vec<_>>()).show(1),
            cpu_cols(&cpus)
        ));
    }
    r.line("");
    // Every step: deliveries/s and p99 at each rate, the median over the
    // repetitions that reached it; a step that failed is marked.
    let mut head = "| rate, events or messages/s |".to_owned();
    let mut rule = "|---|".to_owned();
    for (path, _) in &ramps {
        head.push_str(&format!(" {path}: deliveries/s | p99 ms |"));
        rule.push_str("---|---|");
    }
    r.line(head);
    r.line(rule);
    for (k, rate) in rates.iter().enumerate() {
        if ramps
            .iter()
            .all(|(_, reps)| reps.iter().all(|s| s.len() <= k))
        {
            break;
        }
        let mut row = format!("| {} |", group(*rate, 0));
        for (_, reps) in &ramps {
            let at: Vec<&Step> = reps.iter().filter_map(|s| s.get(k)).collect();
            if at.is_empty() {
                row.push_str(" | |");
                continue;
            }
            let failed = at.iter().filter(|s| !passing(s)).count();
            let mark = if failed > 0 {
                format!(" (failed {failed} of {})", at.len())
            } else {
                String::new()
            };
            row.push_str(&format!(
                " {} | {}{mark} |",
                Spread::of(&at.iter().map(|s| s.deliveries).collect::<Vec<_>>()).show(0),
                Spread::of(&at.iter().map(|s| s.p99).collect::<Vec<_>>()).show(1),
            ));
        }
        r.line(row);
    }
    r.line("");
    Ok(())
}

/// A ramp whose first step failed.
const NO_STEP: Step = Step {
    deliveries: 0.0,
    p99: f64::NAN,
    complete: false,
    cpu: CpuUse {
        server: f64::NAN,
        broker: f64::NAN,
        loadgen: f64::NAN,
        database: f64::NAN,
    },
};

/// Waits until the Node-RED flow answers a kiosk: it is connected and subscribed.
async fn wait_nodered(broker: &Mosquitto, run: &str) -> anyhow::Result<()> {
    let (counter, replies) =
        load::reply_counter(broker.port, &format!("{run}-probe"), false).await?;
    let probe = load::connect(broker.port, &format!("{run}-probe-kiosk"), 10, |_| {}).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut k = 0;
    while replies.lock().unwrap().total == 0 {
        if Instant::now() > deadline {
            bail!("the Node-RED flow did not answer a kiosk within 30 s");
        }
        // A ticket nobody calls: the probe's queue is the GA service of window 01.
        let body = format!("{{\"id\":\"{run}-probe-{k}\",\"service\":\"GA\"}}");
        probe
            .client
            .publish(
                "hallwatch/h1/kiosk/k01/request",
                QoS::AtLeastOnce,
                false,
                body,
            )
            .await?;
        k += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    counter.task.abort();
    probe.task.abort();
    Ok(())
}

async fn section_displays(plan: &Plan, r: &mut Report) -> anyhow::Result<()> {
    let n = plan.displays;
    let limit = env::fd_limit();
    if limit < (n as u64) + 1_000 {
        bail!("{n} screens need more open files than `ulimit -n` = {limit} allows");
    }
    let layout = Layout {
        halls: 20,
        windows: 10,
    };
    r.line(format!(
        "## {} concurrent display screens\n",
        group(n as f64, 0)
    ));
    r.line(format!(
        "Spread over {} halls, 200 handshakes at a time, from many loopback addresses. Connect time runs until every \
         screen has its snapshot; memory per screen is the server's RSS growth divided by the screens.\n",
        layout.halls
    ));
    let (mut connect, mut rss, mut per, mut complete) = (vec![], vec![], vec![], true);
    for rep in 0..plan.reps {
        let stack = Stack::start(layout).await?;
        let conns = load::window_conns(stack.broker.port, &format!("d{rep}"), layout, 100).await?;
        let before = env::rss_bytes(stack.server.pid());
        let times = CallTimes::new(layout);
        let stop = CancellationToken::new();
        let (handles, took) = screens::displays(
            n,
            layout.halls,
            stack.server.port,
            |h| format!("/ws/display/{}", Layout::hall(h)),
            false,
            &times,
            &stop,
            200,
        )
        .await
        .with_context(|| format!("hallwatch's log:\n{}", stack.server.log_text()))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = env::rss_bytes(stack.server.pid());
        // One citizen per window while all are connected: every screen must see its hall's calls.
        let (lost, doubled, _) = paced_run(
            stack.broker.port,
            &format!("d{rep}"),
            layout,
            &conns,
            1,
            true,
            1_000.0,
            &times,
        )
        .await?;
        settle().await;
        r.lost += lost;
        r.doubled += doubled;
        for (i, s) in screens::collect(&stop, handles)
            .await
            .into_iter()
            .enumerate()
        {
            complete &= s.calls >= times.calls(i % layout.halls) as u64;
        }
        connect.push(took.as_secs_f64());
        rss.push(after as f64 / (1 << 20) as f64);
        per.push(after.saturating_sub(before) as f64 / n as f64 / 1024.0);
    }
    if !complete {
        r.missed_frames += 1;
    }
    r.line("| screens | connect time s | server RSS MiB | per screen KiB | every screen saw every call |");
    r.line("|---|---|---|---|---|");
    r.line(format!(
        "| {} | {} | {} | {} | {} |\n",
        group(n as f64, 0),
        Spread::of(&connect).show(2),
        Spread::of(&rss).show(0),
        Spread::of(&per).show(1),
        if complete { "yes" } else { "no" }
    ));
    Ok(())
}

async fn section_replay(plan: &Plan, r: &mut Report) -> anyhow::Result<()> {
    let (layout, cycles) = plan.replay;
    r.line("## Start-up replay of a day\n");
    let scratch = tempfile::tempdir()?;
    let kept = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/replay");
    let dir = if plan.keep {
        // A day kept from an earlier run is replaced, not added to.
        if kept.exists() {
            std::fs::remove_dir_all(&kept)?;
        }
        std::fs::create_dir_all(&kept)?;
        kept.as_path()
    } else {
        scratch.path()
    };
    r.line(format!(
        "A day of yesterday's events ({} halls × {} windows) in each store. The server replays the log \
         before it takes traffic; \"ready\" is from process start to `/healthz` 200 with the broker connected. \
         Two starts on the same day: from the whole log (`checkpoint_every_s = 0`), and from each hall's \
         checkpoint with the log after it. The checkpoints are kept {} s before each hall's last event, as \
         a server taking them every {} s (the default) leaves them when it is killed just before the next: \
         the longest log a start from checkpoints folds.\n",
        layout.halls,
        layout.windows,
        CHECKPOINT_S,
        CHECKPOINT_S,
    ));
    r.line("| store | start from | events folded | written in s | replayed events/s | ready after s | CPU server |");
    r.line("|---|---|---|---|---|---|---|");
    for &backend in &plan.stores {
        let db = Db::create(backend, dir).await?;
        let port = env::free_port();
        let broker = Mosquitto::start()?;
        let config = layout.config(port, &db.url, broker.port);
        let written_at = Instant::now();
        let day = replay::write_day(
            layout,
            &config,
            &db.url,
            cycles,
            Some(chrono::Duration::seconds(CHECKPOINT_S)),
        )
        .await?;
        let written = written_at.elapsed().as_secs_f64();
        // Each start from checkpoints begins from the ones written with the
        // day, not from those the previous start kept.
        db.execute(&["CREATE TABLE bench_checkpoints AS SELECT * FROM checkpoints"])
            .await?;
        let starts = [
            ("whole log", "checkpoint_every_s = 0\n", day.events, 0),
            ("checkpoints", "", day.tail, layout.halls as u64),
        ];
        for (from, setting, want, want_halls) in starts {
            let path = dir.join("hallwatch.toml");
            std::fs::write(
                &path,
                config.replacen("[server]\n", &format!("[server]\n{setting}"), 1),
            )?;
            let (mut rates, mut ready, mut cpus) = (vec![], vec![], vec![]);
            for rep in 0..plan.reps {
                db.execute(&[
                    "DELETE FROM checkpoints",
                    "INSERT INTO checkpoints SELECT * FROM bench_checkpoints",
                ])
                .await?;
                let log = dir.join(format!(
                    "server-{}-{}-{rep}.log",
                    backend.name(),
                    from.replace(' ', "-")
                ));
                let mut server = Server::start(&path, port, &log)?;
                let cpu = CpuMeter::start(Some(server.pid()), None);
                let took = server.wait_ready(Duration::from_secs(600))?;
                cpus.push(cpu.stop());
                let text = server.log_text();
                let (replayed, ms) = replay::replay_line(&text)
                    .context("the server's log has no \"Replayed the event log\" line")?;
                let halls = replay::halls_from_checkpoints(&text).unwrap_or(0);
                if replayed != want || halls != want_halls {
                    r.line(format!(
                        "- {}, from {from}, repetition {rep}: {replayed} events replayed of {want}, \
                         {halls} halls of {want_halls} from their checkpoints",
                        backend.name()
                    ));
                    r.lost += want.saturating_sub(replayed);
                }
                rates.push(replayed as f64 / (ms.max(1) as f64 / 1000.0));
                ready.push(took.as_secs_f64());
                drop(server);
            }
            r.line(format!(
                "| {} | {from} | {} | {written:.1} | {} | {} | {} |",
                backend.name(),
                group(want as f64, 0),
                Spread::of(&rates).show(0),
                Spread::of(&ready).show(2),
                Spread::of(&cpus.iter().map(|c| c.server).collect::<Vec<_>>()).show(0)
            ));
        }
        drop(broker);
        // A kept day keeps its SQLite file; a PostgreSQL database goes.
        db.drop_db().await;
    }
    r.line("");
    Ok(())
}

/// Seconds between a server's checkpoints (`checkpoint_every_s`'s default).
const CHECKPOINT_S: i64 = 300;

async fn section_cases(plan: &Plan, r: &mut Report) -> anyhow::Result<()> {
    let CasesPlan { open, ticks, day } = &plan.cases;
    let (layout, cycles) = *day;
    r.line("## 限时办结: open cases, a tick and a replay\n");
    let t0 = chrono::DateTime::parse_from_rfc3339(T0)?.to_utc();
    let scratch = tempfile::tempdir()?;
    // --keep: each book's day stays in target/bench/cases-{n}.
    let base = if plan.keep {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench")
    } else {
        scratch.path().to_owned()
    };
    let port = env::free_port();
    let broker = Mosquitto::start()?;
    r.line(format!(
        "A hall of {} windows holding open cases (accepted the day before with 5 to 60 promised working \
         days, so none falls due while measured). A tick: {} ticks a second apart, timed after as many \
         uncounted ones, in-process. The replay: the server started on a day of that hall's events (the \
         ingest script, {} citizens a window) with the case book in SQLite; replay time is the server's own \
         report, \"ready\" is from process start to `/healthz` 200.\n",
        layout.windows,
        group(*ticks as f64, 0),
        cycles
    ));
    r.line("| open cases | µs per tick | events replayed | replay ms | ready after s |");
    r.line("|---|---|---|---|---|");
    for &n in open {
        let dir = base.join(format!("cases-{n}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let db = format!("sqlite://{}", dir.join("events.db").display());
        let config = layout.config(port, &db, broker.port);
        let mut per_tick = Vec::new();
        for _ in 0..plan.reps {
            let config = config.clone();
            let ticks = *ticks;
            per_tick.push(
                tokio::task::spawn_blocking(move || cases::tick_cost(&config, n, ticks, t0))
                    .await??,
            );
        }
        let events = replay::write_day(layout, &config, &db, cycles, None)
            .await?
            .events;
        cases::write_book(&config, &db, n, t0).await?;
        let path = dir.join("hallwatch.toml");
        std::fs::write(&path, &config)?;
        let (mut replay_ms, mut ready) = (vec![], vec![]);
        for rep in 0..plan.reps {
            let log = dir.join(format!("server-{rep}.log"));
            let mut server = Server::start(&path, port, &log)?;
            let took = server.wait_ready(Duration::from_secs(600))?;
            let (replayed, ms) = replay::replay_line(&server.log_text())
                .context("the server's log has no \"Replayed the event log\" line")?;
            if replayed != events {
                r.line(format!(
                    "- {n} cases, repetition {rep}: {replayed} events replayed of {events}"
                ));
                r.lost += events.saturating_sub(replayed);
            }
            replay_ms.push(ms as f64);
            ready.push(took.as_secs_f64());
            drop(server);
        }
        r.line(format!(
            "| {} | {} | {} | {} | {} |",
            group(n as f64, 0),
            Spread::of(&per_tick).show(2),
            group(events as f64, 0),
            Spread::of(&replay_ms).show(0),
            Spread::of(&ready).show(2)
        ));
    }
    r.line("");
    Ok(())
}
