//! A province on one machine: 2,000 halls (a provincial centre, one per
//! city, county and township) in 16 partitions, one per city, run by four
//! instances of the server against one PostgreSQL and one Mosquitto,
//! through a day's rhythm accelerated; the owner of a partition is killed
//! with SIGKILL mid-stream a few times.
//!
//! `cargo bench --bench province` runs it in full (BENCHMARKS.md holds its
//! figures). `cargo test` builds this file as a test and runs it once in
//! smoke mode: 40 halls, two instances, one kill, in the debug build,
//! failing if a message is lost, refused or stored twice. Options:
//! `-- --smoke`, `--halls N`, `--instances N`, `--day-s S` (wall seconds
//! for the nine hours), `--scale X` (citizens, 1 = an ordinary day),
//! `--kills N`, `--seed N`.

#[path = "../side_by_side/env.rs"]
#[allow(dead_code)]
mod env;
#[path = "../side_by_side/load.rs"]
#[allow(dead_code)]
mod load;
#[path = "../side_by_side/stats.rs"]
#[allow(dead_code)]
mod stats;
// The tests' fresh PostgreSQL database.
#[path = "../../tests/common/pg.rs"]
mod pg;

mod cluster;
mod day;
mod drive;
mod region;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use rumqttc::QoS;

use cluster::{Cluster, Pg, Take, machine_cpu, postgres_cpu};
use day::{DAY_S, OPENS_H};
use env::{Mosquitto, Server, cpu_seconds, rss_bytes};
use region::Province;
use stats::{Latencies, group};

/// When every instance's clock starts: Monday 09:00 in the halls, so a
/// run never depends on the hour it starts at.
pub const T0: &str = "2026-11-23T09:00:00+08:00";

/// The longest a probe sent after a kill may wait for its reply.
const PROBE_LIMIT: Duration = Duration::from_secs(120);

/// What a run does.
struct Plan {
    smoke: bool,
    halls: usize,
    cities: usize,
    counties: usize,
    instances: usize,
    /// Citizens, as a share of an ordinary day.
    scale: f64,
    /// Wall seconds for the nine hours from opening to closing.
    day_s: f64,
    kills: usize,
    seed: u64,
}

impl Plan {
    fn from_args() -> anyhow::Result<Self> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // `cargo bench` passes --bench; `cargo test` does not: a smoke run.
        let smoke = args.iter().any(|a| a == "--smoke") || !args.iter().any(|a| a == "--bench");
        let value = |name: &str| -> anyhow::Result<Option<f64>> {
            match args.iter().position(|a| a == name) {
                None => Ok(None),
                Some(i) => {
                    let v = args.get(i + 1).context(format!("{name} needs a value"))?;
                    Ok(Some(v.parse().with_context(|| {
                        format!("{name} {v:?} is not a number")
                    })?))
                }
            }
        };
        let mut plan = if smoke {
            Self {
                smoke,
                halls: 40,
                cities: 4,
                counties: 8,
                instances: 2,
                scale: 0.1,
                day_s: 8.0,
                kills: 1,
                seed: 2026,
            }
        } else {
            Self {
                smoke,
                halls: 2_000,
                cities: 16,
                counties: 100,
                instances: 4,
                scale: 1.0,
                day_s: 360.0,
                kills: 3,
                seed: 2026,
            }
        };
        if let Some(v) = value("--halls")? {
            plan.halls = v as usize;
        }
        if let Some(v) = value("--instances")? {
            plan.instances = (v as usize).max(1);
        }
        if let Some(v) = value("--day-s")? {
            plan.day_s = v.max(1.0);
        }
        if let Some(v) = value("--scale")? {
            plan.scale = v;
        }
        if let Some(v) = value("--kills")? {
            plan.kills = v as usize;
        }
        if let Some(v) = value("--seed")? {
            plan.seed = v as u64;
        }
        if plan.halls <= 1 + plan.cities + plan.counties {
            bail!(
                "--halls must be over {} (the province, its cities and counties)",
                1 + plan.cities + plan.counties
            );
        }
        if plan.kills > 0 && plan.instances < 2 {
            bail!("a kill needs a second instance to take over");
        }
        Ok(plan)
    }
}

/// The report, printed and kept.
#[derive(Default)]
struct Report {
    text: String,
}

impl Report {
    fn line(&mut self, s: impl AsRef<str>) {
        println!("{}", s.as_ref());
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

fn main() -> anyhow::Result<()> {
    let plan = Plan::from_args()?;
    stats::self_check()?;
    // For this process and the broker, servers and Node-RED it starts
    // (they inherit it): thousands of screens need more than the usual 1,024.
    let _ = hallwatch::app::raise_open_files_limit();
    // What the run needs, as the tests treat it: missing in a smoke run
    // it is skipped, unless CI requires it.
    let mosquitto = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
        .into_iter()
        .any(|p| std::path::Path::new(p).exists());
    let pg = Pg::admin_url();
    if plan.smoke && (!mosquitto || pg.is_none()) {
        if (!mosquitto && required("HALLWATCH_REQUIRE_BROKER"))
            || (pg.is_none() && required("HALLWATCH_REQUIRE_POSTGRES"))
        {
            bail!("the province benchmark needs Mosquitto and PostgreSQL");
        }
        eprintln!(
            "SKIPPED: the province benchmark needs Mosquitto and PostgreSQL \
             (HALLWATCH_TEST_POSTGRES, or a server on 127.0.0.1:5432)"
        );
        return Ok(());
    }
    let pg = pg.context("no PostgreSQL: set HALLWATCH_TEST_POSTGRES")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (report, failures) = rt.block_on(run(&plan, pg))?;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(if plan.smoke {
        "province-smoke.md"
    } else {
        "province.md"
    });
    std::fs::write(&out, &report.text)?;
    println!("\nReport written to {}", out.display());
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// Creates the database, runs, and drops the database whatever happened.
async fn run(plan: &Plan, admin_url: String) -> anyhow::Result<(Report, Vec<String>)> {
    let pg = Pg::create(admin_url).await?;
    let result = province(plan, &pg).await;
    pg.drop_db().await;
    result
}

/// The figures of one kill.
struct Kill {
    instance: usize,
    partitions: Vec<String>,
    /// Kill → the reply to a probe sent to a hall of each partition just
    /// after it.
    probes: Vec<Option<Duration>>,
    /// Kill → each partition taken (from the logs' timestamps).
    takes: Vec<Take>,
    at: SystemTime,
    /// When it came back.
    back: SystemTime,
}

/// CPU seconds of the processes of the run, over the stream.
struct CpuAt {
    servers: HashMap<u32, f64>,
    broker: f64,
    postgres: HashMap<u32, f64>,
    loadgen: f64,
    machine: (u64, u64),
    at: Instant,
}

impl CpuAt {
    fn read(cluster: &Cluster, broker: u32) -> Self {
        Self {
            servers: cluster
                .instances
                .iter()
                .map(|i| (i.server.pid(), cpu_seconds(i.server.pid())))
                .collect(),
            broker: cpu_seconds(broker),
            postgres: postgres_cpu(),
            loadgen: cpu_seconds(std::process::id()),
            machine: machine_cpu(),
            at: Instant::now(),
        }
    }
}

async fn province(plan: &Plan, pg: &Pg) -> anyhow::Result<(Report, Vec<String>)> {
    let mut r = Report::default();
    let mut failures = Vec::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let province = Arc::new(Province::build(plan.halls, plan.cities, plan.counties));
    let events = Arc::new(day::plan(&province, plan.scale, plan.seed));
    let partitions = province.partitions.len();
    let citizens = events
        .iter()
        .filter(|e| matches!(e.op, day::Op::Request { .. }))
        .count();
    r.line(format!(
        "# A province on one machine ({} run, {cores} cores)\n",
        if plan.smoke { "smoke" } else { "full" }
    ));
    let by_level = |level: &str| province.halls.iter().filter(|h| h.level == level).count();
    r.line(format!(
        "{} halls ({} province, {} city, {} county, {} township) with {} windows, in {partitions} \
         partitions (one per city, {}–{} halls each), run by {} instances against one PostgreSQL \
         and one Mosquitto. The day: {} citizens ({}× an ordinary day), {} messages; the nine \
         hours from 08:30 to 17:30 in {} s ({}× real time).\n",
        group(province.halls.len() as f64, 0),
        by_level("province"),
        by_level("city"),
        by_level("county"),
        by_level("township"),
        group(province.windows() as f64, 0),
        (0..partitions)
            .map(|p| province.halls_of(p).count())
            .min()
            .unwrap_or(0),
        (0..partitions)
            .map(|p| province.halls_of(p).count())
            .max()
            .unwrap_or(0),
        plan.instances,
        group(citizens as f64, 0),
        plan.scale,
        group(events.len() as f64, 0),
        plan.day_s,
        group(DAY_S / plan.day_s, 0),
    ));

    // What the machine does without us, over 3 s before anything starts.
    let before = machine_cpu();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = machine_cpu();
    let background = (after.0 - before.0) as f64 / (after.1 - before.1).max(1) as f64;
    r.line(format!(
        "Before the run the machine was {:.0} % busy (all {cores} cores) with work of its own.\n",
        100.0 * background
    ));

    let broker = Mosquitto::start()?;
    let scratch = tempfile::tempdir()?;

    // An instance of one hall, alone: what any instance costs.
    let baseline = {
        let dir = scratch.path().join("baseline");
        std::fs::create_dir_all(&dir)?;
        let port = env::free_port();
        let db = format!("sqlite://{}", dir.join("events.db").display());
        let config = dir.join("hallwatch.toml");
        let text = Province::one_hall()
            .config(port, &db, broker.port)
            .replacen(
                "client_id = \"hallwatch-province\"",
                "client_id = \"hallwatch-baseline\"",
                1,
            );
        std::fs::write(&config, text)?;
        let mut server = Server::start(&config, port, &dir.join("server.log"))?;
        tokio::task::block_in_place(|| server.wait_ready(Duration::from_secs(60)))?;
        settle(server.pid()).await
    };

    let started = Instant::now();
    let mut cluster = Cluster::start(
        &province,
        plan.instances,
        scratch.path(),
        &pg.url,
        broker.port,
    )
    .await?;
    let healthy = started.elapsed();
    let owners = cluster
        .wait_balanced(partitions, Duration::from_secs(120))
        .await?;
    let balanced = started.elapsed();
    let held_at_start = halls_held(&province, &owners, plan.instances);
    let mut rss_idle = Vec::new();
    for i in &cluster.instances {
        rss_idle.push(settle(i.server.pid()).await);
    }
    let takes_at_start = cluster.takes();

    // The devices.
    let start = Instant::now();
    let (reply_conn, tally) = drive::replies(broker.port, events.len(), start).await?;
    let publishers = drive::publishers(broker.port, partitions).await?;
    let probe = load::connect(broker.port, "province-probe", 100, |_| {}).await?;
    let cpu_before = CpuAt::read(&cluster, broker.pid());
    let mut cpu_gone: HashMap<u32, f64> = HashMap::new();
    let start = Instant::now();
    // Replies are timed from here.
    tally.lock().unwrap().restart(start);
    let streaming = tokio::spawn(drive::stream(
        province.clone(),
        events.clone(),
        publishers.iter().map(|c| c.client.clone()).collect(),
        plan.day_s,
        start,
    ));

    // The kills, spread over the day.
    let mut kills = Vec::new();
    for k in 0..plan.kills {
        let due =
            start + Duration::from_secs_f64(plan.day_s * (k + 1) as f64 / (plan.kills + 1) as f64);
        tokio::time::sleep_until(due.into()).await;
        let owners = cluster.owners().await?;
        let target = &province.partitions[(k * 5 + 2) % partitions];
        let Some(&victim) = owners.get(target) else {
            failures.push(format!("kill {k}: nobody held {target}"));
            continue;
        };
        let mut held: Vec<String> = owners
            .iter()
            .filter(|(_, i)| **i == victim)
            .map(|(p, _)| p.clone())
            .collect();
        held.sort();
        let pid = cluster.instances[victim].server.pid();
        cpu_gone.insert(pid, cpu_seconds(pid));
        let at = SystemTime::now();
        let killed = Instant::now();
        cluster.kill(victim);
        // A probe per partition, from a kiosk its first hall does not know:
        // refused, which changes nothing, but answered only by a live owner.
        let mut ids = Vec::new();
        for name in &held {
            let p = province
                .partitions
                .iter()
                .position(|n| n == name)
                .unwrap_or(0);
            let hall = province.halls_of(p).next().map_or("", |h| h.id.as_str());
            let id = format!("probe-{k}-{name}");
            probe
                .client
                .publish(
                    format!("hallwatch/{hall}/kiosk/probe/request"),
                    QoS::AtLeastOnce,
                    false,
                    serde_json::json!({"id": id, "service": "SB"}).to_string(),
                )
                .await?;
            ids.push(id);
        }
        let deadline = Instant::now() + PROBE_LIMIT;
        let probes = loop {
            let got: Vec<Option<Duration>> = {
                let t = tally.lock().unwrap();
                ids.iter()
                    .map(|id| t.probes.get(id).map(|(at, _)| at.duration_since(killed)))
                    .collect()
            };
            if got.iter().all(Option::is_some) || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        // Each partition's take, once its line is in a log.
        let deadline = Instant::now() + Duration::from_secs(10);
        let takes = loop {
            let takes: Vec<Take> = cluster
                .takes()
                .into_iter()
                .filter(|t| t.at >= at && held.contains(&t.partition))
                .collect();
            let all = held.iter().all(|p| takes.iter().any(|t| &t.partition == p));
            if all || Instant::now() > deadline {
                break takes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        eprintln!(
            "kill {k}: instance {victim} ({} partitions) killed; probes answered after {:?}",
            held.len(),
            probes
        );
        cluster.restart(victim)?;
        kills.push(Kill {
            instance: victim,
            partitions: held,
            probes,
            takes,
            at,
            back: SystemTime::now(),
        });
    }

    let sent = streaming.await.context("the stream")??;
    let stream_s = start.elapsed().as_secs_f64();
    drive::wait_answered(
        &tally,
        Duration::from_secs(if plan.smoke { 20 } else { 60 }),
    )
    .await;
    // A device that gets no reply publishes the same message again with
    // the same id (the contract's retry), and gets the reply kept for it:
    // once, for what is still unanswered.
    let retried: Vec<usize> = {
        let t = tally.lock().unwrap();
        (0..events.len()).filter(|i| t.count[*i] == 0).collect()
    };
    for &i in &retried {
        let e = &events[i];
        let (topic, payload) = e.wire(&province, &drive::message_id(e, i));
        publishers[province.halls[e.hall as usize].partition]
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
    }
    if !retried.is_empty() {
        drive::wait_answered(
            &tally,
            Duration::from_secs(if plan.smoke { 10 } else { 30 }),
        )
        .await;
    }
    let cpu_after = CpuAt::read(&cluster, broker.pid());
    // Still moving after a minute is a figure too, not a reason to
    // lose the report.
    let (owners_end, unbalanced) = match cluster
        .wait_balanced(partitions, Duration::from_secs(60))
        .await
    {
        Ok(o) => (o, None),
        Err(e) => (cluster.owners().await?, Some(e.to_string())),
    };
    let held_at_end = halls_held(&province, &owners_end, plan.instances);
    let mut rss_end = Vec::new();
    for i in &cluster.instances {
        rss_end.push(rss_bytes(i.server.pid()));
    }
    let takes_all = cluster.takes();
    let stored = pg.stored_by_hall().await?;
    let db_size = pg.size_bytes().await?;
    drop(publishers);
    drop(probe);
    reply_conn.task.abort();

    let t = tally.lock().unwrap();
    let n = events.len();
    let answered = t.answered;
    let lost = n - answered;
    let again = t.count.iter().filter(|c| **c > 1).count();
    let last_reply_us = t.first.iter().copied().max().unwrap_or(0);
    let first_sent_us = sent.first().copied().unwrap_or(0);
    let span_s = (last_reply_us.saturating_sub(first_sent_us)) as f64 / 1e6;
    let rate = answered as f64 / span_s.max(1e-9);
    let mut lat_all = Latencies::default();
    for (i, at) in sent.iter().enumerate() {
        if t.count[i] > 0 {
            lat_all.push(Duration::from_micros(t.first[i].saturating_sub(*at)));
        }
    }

    // Throughput.
    r.line("## Throughput\n");
    r.line(format!(
        "Instances healthy {:.1} s after their start, partitions shared out at {:.1} s. The day \
         was published in {:.1} s; the last reply came {:.1} s after the first message.\n",
        healthy.as_secs_f64(),
        balanced.as_secs_f64(),
        stream_s,
        span_s
    ));
    let per_second = per_second(&t.first, &t.count);
    let peak10 = per_second
        .windows(10.min(per_second.len()).max(1))
        .map(|w| w.iter().sum::<u64>() as f64 / w.len() as f64)
        .fold(0.0, f64::max);
    r.line(format!(
        "**{} events/s** over the day ({} messages answered of {}), the busiest 10 s at {} \
         events/s. Reply latency (publish → reply, whole day): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms.\n",
        group(rate, 0),
        group(answered as f64, 0),
        group(n as f64, 0),
        group(peak10, 0),
        lat_all.quantile_ms(0.5),
        lat_all.quantile_ms(0.99),
        lat_all.quantile_ms(1.0),
    ));
    r.line("By hour of the day (the simulator's profile; a message is counted in the hour it was published for):\n");
    r.line("| hours | messages | offered events/s | answered events/s | p50 ms | p99 ms |");
    r.line("|---|---|---|---|---|---|");
    let pace = plan.day_s / DAY_S;
    let bounds = [
        8.5,
        9.0,
        10.0,
        11.0,
        12.0,
        13.5,
        15.0,
        16.0,
        17.5,
        f64::INFINITY,
    ];
    let last_at = events.last().map_or(DAY_S, |e| e.at);
    for b in bounds.windows(2) {
        let from_s = (b[0] - OPENS_H) * 3600.0;
        let to_s = (b[1] - OPENS_H) * 3600.0;
        let span = (to_s.min(last_at) - from_s) * pace;
        if span <= 0.0 {
            continue;
        }
        let mut lat = Latencies::default();
        let mut count = 0usize;
        for (i, e) in events.iter().enumerate() {
            if e.at >= from_s && e.at < to_s {
                count += 1;
                if t.count[i] > 0 {
                    lat.push(Duration::from_micros(t.first[i].saturating_sub(sent[i])));
                }
            }
        }
        let w0 = (from_s * pace * 1e6) as u64;
        let w1 = if to_s.is_finite() {
            (to_s * pace * 1e6) as u64
        } else {
            u64::MAX
        };
        let replied = t
            .first
            .iter()
            .zip(&t.count)
            .filter(|(f, c)| **c > 0 && **f >= w0 && **f < w1)
            .count();
        let hm = |h: f64| format!("{:02}:{:02}", h as u32, (h.fract() * 60.0).round() as u32);
        r.line(format!(
            "| {}–{} | {} | {} | {} | {:.1} | {:.1} |",
            hm(b[0]),
            if to_s.is_finite() {
                hm(b[1])
            } else {
                "the end".to_owned()
            },
            group(count as f64, 0),
            group(count as f64 / span, 0),
            group(replied as f64 / span, 0),
            lat.quantile_ms(0.5),
            lat.quantile_ms(0.99),
        ));
    }

    // CPU.
    let server_s: f64 = cpu_after
        .servers
        .iter()
        .map(|(pid, now)| now - cpu_before.servers.get(pid).copied().unwrap_or(0.0))
        .sum::<f64>()
        + cpu_gone
            .iter()
            .map(|(pid, at)| at - cpu_before.servers.get(pid).copied().unwrap_or(0.0))
            .sum::<f64>();
    let pg_s: f64 = cpu_after
        .postgres
        .iter()
        .map(|(pid, now)| now - cpu_before.postgres.get(pid).copied().unwrap_or(0.0))
        .sum();
    let broker_s = cpu_after.broker - cpu_before.broker;
    let loadgen_s = cpu_after.loadgen - cpu_before.loadgen;
    let (busy, total) = (
        cpu_after.machine.0 - cpu_before.machine.0,
        cpu_after.machine.1 - cpu_before.machine.1,
    );
    let wall = cpu_after.at.duration_since(cpu_before.at).as_secs_f64();
    let us = |s: f64| s * 1e6 / answered.max(1) as f64;
    r.line("\n## CPU\n");
    r.line(format!(
        "From the first message to the end of the replies ({wall:.1} s, {cores} cores). CPU \
         seconds, share of one core, and µs per answered event:\n"
    ));
    r.line("| process | CPU s | % of a core | µs per event |");
    r.line("|---|---|---|---|");
    let others = (busy as f64 / total.max(1) as f64 * cores as f64 * wall
        - server_s
        - pg_s
        - broker_s
        - loadgen_s)
        .max(0.0);
    for (name, s) in [
        (format!("{} hallwatch instances", plan.instances), server_s),
        ("PostgreSQL (every backend)".to_owned(), pg_s),
        ("Mosquitto".to_owned(), broker_s),
        ("load generator (this process)".to_owned(), loadgen_s),
        ("anything else on the machine".to_owned(), others),
    ] {
        r.line(format!(
            "| {name} | {s:.1} | {:.0} | {:.1} |",
            100.0 * s / wall.max(1e-9),
            us(s)
        ));
    }
    r.line(format!(
        "\nThe machine was {:.0} % busy (all {cores} cores) over that time.\n",
        100.0 * busy as f64 / total.max(1) as f64
    ));

    // Memory.
    r.line("## Memory\n");
    r.line(format!(
        "Baseline: an instance running one township hall alone, {:.1} MiB RSS. Memory per hall \
         is an instance's RSS less that baseline, over the halls it holds; every instance also \
         holds the whole province's configuration.\n",
        mib(baseline)
    ));
    r.line("| instance | halls at start | RSS at start MiB | KiB per hall | halls at the end | RSS at the end MiB | KiB per hall | restarted |");
    r.line("|---|---|---|---|---|---|---|---|");
    for i in 0..plan.instances {
        let kib = |rss: u64, halls: usize| {
            (rss.saturating_sub(baseline)) as f64 / 1024.0 / halls.max(1) as f64
        };
        r.line(format!(
            "| {i} | {} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {} |",
            held_at_start[i],
            mib(rss_idle[i]),
            kib(rss_idle[i], held_at_start[i]),
            held_at_end[i],
            mib(rss_end[i]),
            kib(rss_end[i], held_at_end[i]),
            if cluster.instances[i].restarts > 0 {
                format!("{}×", cluster.instances[i].restarts)
            } else {
                "no".into()
            }
        ));
    }
    if let Some(e) = &unbalanced {
        r.line(format!("\nAt the end: {e}."));
    }
    let total_rss_end: u64 = rss_end.iter().sum();
    r.line(format!(
        "\nAll instances at the end: {:.1} MiB for {} halls. PostgreSQL database after the day: \
         {:.1} MiB ({:.0} bytes per stored message).\n",
        mib(total_rss_end),
        province.halls.len(),
        mib(db_size),
        db_size as f64 / n.max(1) as f64
    ));

    // Replay.
    r.line("## Replay per partition\n");
    let start_takes: Vec<&Take> = takes_at_start.iter().collect();
    let mut ms: Vec<f64> = start_takes.iter().map(|t| t.elapsed_ms as f64).collect();
    ms.sort_by(f64::total_cmp);
    r.line(format!(
        "At start (an empty log): {} takes, {} halls each on average, {} ms median ({}–{} ms) from \
         the lease to the session resumed.\n",
        start_takes.len(),
        group(
            start_takes.iter().map(|t| t.halls as f64).sum::<f64>()
                / start_takes.len().max(1) as f64,
            0
        ),
        ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN),
        ms.first().copied().unwrap_or(f64::NAN),
        ms.last().copied().unwrap_or(f64::NAN),
    ));
    let later: Vec<&Take> = takes_all
        .iter()
        .filter(|t| {
            !takes_at_start
                .iter()
                .any(|s| s.at == t.at && s.partition == t.partition)
        })
        .collect();
    if !later.is_empty() {
        r.line("During the day (after a kill, and when the killed instance came back and got its share):\n");
        r.line("| when | partition | taken by | halls | events replayed | replay ms | events/s |");
        r.line("|---|---|---|---|---|---|---|");
        for t in &later {
            let cause = kills
                .iter()
                .enumerate()
                .find_map(|(k, kill)| {
                    if kill
                        .takes
                        .iter()
                        .any(|x| x.at == t.at && x.partition == t.partition)
                    {
                        Some(format!("kill {}", k + 1))
                    } else if t.at >= kill.back
                        && kills.get(k + 1).is_none_or(|next| t.at < next.at)
                    {
                        Some(format!("rejoin after kill {}", k + 1))
                    } else {
                        None
                    }
                })
                .unwrap_or_else(|| "rebalance".into());
            r.line(format!(
                "| {cause} | {} | {} | {} | {} | {} | {} |",
                t.partition,
                t.instance,
                t.halls,
                group(t.events as f64, 0),
                t.elapsed_ms,
                group(t.events as f64 * 1000.0 / (t.elapsed_ms.max(1)) as f64, 0),
            ));
        }
        r.line("");
    }

    // Failover.
    r.line("## Failover\n");
    let mut killed_halls: HashSet<String> = HashSet::new();
    if kills.is_empty() {
        r.line("No kill in this run.\n");
    } else {
        r.line("Each kill: SIGKILL of the instance holding a partition, mid-stream; a probe sent at once to the first hall of each partition it held; the instance started again once all were answered.\n");
        r.line("| kill | instance | partitions | kill → taken s | kill → probe answered s |");
        r.line("|---|---|---|---|---|");
        for (k, kill) in kills.iter().enumerate() {
            let taken: Vec<f64> = kill
                .partitions
                .iter()
                .filter_map(|p| {
                    kill.takes
                        .iter()
                        .find(|t| &t.partition == p)
                        .and_then(|t| t.at.duration_since(kill.at).ok())
                        .map(|d| d.as_secs_f64())
                })
                .collect();
            let probes: Vec<String> = kill
                .probes
                .iter()
                .map(|p| p.map_or("none".into(), |d| format!("{:.2}", d.as_secs_f64())))
                .collect();
            if kill.probes.iter().any(Option::is_none) {
                failures.push(format!(
                    "kill {}: a probe got no reply within {PROBE_LIMIT:?}",
                    k + 1
                ));
            }
            r.line(format!(
                "| {} | {} | {} | {} | {} |",
                k + 1,
                kill.instance,
                kill.partitions.len(),
                range(&taken),
                probes.join(", ")
            ));
            for p in &kill.partitions {
                if let Some(idx) = province.partitions.iter().position(|n| n == p) {
                    killed_halls.extend(province.halls_of(idx).map(|h| h.id.clone()));
                }
            }
        }
        r.line("");
    }

    // Lost and doubled.
    let mut sent_by_hall: HashMap<&str, u64> = HashMap::new();
    for e in events.iter() {
        *sent_by_hall
            .entry(province.halls[e.hall as usize].id.as_str())
            .or_default() += 1;
    }
    let (mut missing, mut doubled) = (0u64, 0u64);
    let (mut k_missing, mut k_doubled, mut k_sent) = (0u64, 0u64, 0u64);
    for (hall, sent_n) in &sent_by_hall {
        let (count, distinct) = stored.get(*hall).copied().unwrap_or((0, 0));
        let m = sent_n.saturating_sub(distinct);
        let d = count - distinct;
        missing += m;
        doubled += d;
        if killed_halls.contains(*hall) {
            k_missing += m;
            k_doubled += d;
            k_sent += sent_n;
        }
    }
    let k_retried = retried
        .iter()
        .filter(|i| killed_halls.contains(&province.halls[events[**i].hall as usize].id))
        .count();
    let k_lost = events
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            t.count[*i] == 0 && killed_halls.contains(&province.halls[e.hall as usize].id)
        })
        .count();
    r.line("## Lost and doubled\n");
    r.line(format!(
        "All halls: {} messages sent, {} answered only when the device sent it again (its reply \
         lost), {} unanswered even then, {} refused, {} answered more than once (a message the \
         broker delivered again after a kill, answered again with the same reply); in PostgreSQL \
         {} missing and {} stored twice.\n",
        group(n as f64, 0),
        retried.len() - lost,
        lost,
        t.refused,
        again,
        missing,
        doubled
    ));
    if !kills.is_empty() {
        r.line(format!(
            "The killed instances' partitions ({} halls, {} messages): {} answered only when sent \
             again, {} unanswered even then; in PostgreSQL {} missing and {} stored twice.\n",
            killed_halls.len(),
            group(k_sent as f64, 0),
            k_retried - k_lost,
            k_lost,
            k_missing,
            k_doubled
        ));
    }
    if lost > 0 {
        failures.push(format!("{lost} messages unanswered, even when sent again"));
    }
    if t.refused > 0 {
        failures.push(format!(
            "{} messages refused, e.g. {:?}",
            t.refused, t.refusals
        ));
    }
    if missing > 0 || doubled > 0 {
        failures.push(format!(
            "{missing} messages missing from the log, {doubled} stored twice"
        ));
    }
    if t.strays > 0 {
        r.line(format!("{} replies matched no message sent.\n", t.strays));
        failures.push(format!("{} stray replies", t.strays));
    }
    r.line(format!(
        "**Lost: {lost}. Refused: {}. Stored twice: {doubled}.**",
        t.refused
    ));
    Ok((r, failures))
}

/// A process's RSS once it has stopped growing (read every 200 ms, at
/// most 3 s).
async fn settle(pid: u32) -> u64 {
    let mut last = rss_bytes(pid);
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = rss_bytes(pid);
        if now.abs_diff(last) < 64 * 1024 {
            return now;
        }
        last = now;
    }
    last
}

/// Halls held by each instance.
fn halls_held(province: &Province, owners: &HashMap<String, usize>, n: usize) -> Vec<usize> {
    let mut out = vec![0; n];
    for (name, i) in owners {
        if let Some(p) = province.partitions.iter().position(|x| x == name) {
            out[*i] += province.halls_of(p).count();
        }
    }
    out
}

/// First replies per wall second.
fn per_second(first: &[u64], count: &[u8]) -> Vec<u64> {
    let last = first.iter().copied().max().unwrap_or(0) / 1_000_000;
    let mut out = vec![0u64; last as usize + 1];
    for (f, c) in first.iter().zip(count) {
        if *c > 0 {
            out[(*f / 1_000_000) as usize] += 1;
        }
    }
    out
}

fn mib(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
}

/// `a–b` of some seconds, or the one value.
fn range(v: &[f64]) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if (hi - lo).abs() < 0.005 {
        format!("{lo:.2}")
    } else {
        format!("{lo:.2}–{hi:.2}")
    }
}
