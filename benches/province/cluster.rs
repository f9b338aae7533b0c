//! The instances of the server, the PostgreSQL database they share, who
//! holds which partition, and what their logs say about each take.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use hallwatch::store::Store;

use crate::env::{Server, free_port};
use crate::region::Province;

/// A fresh database on the PostgreSQL server, dropped by `drop_db`.
pub struct Pg {
    admin_url: String,
    name: String,
    pub url: String,
}

impl Pg {
    /// The PostgreSQL server to create the database on, if there is one.
    pub fn admin_url() -> Option<String> {
        crate::pg::admin_url_or_local()
    }

    pub async fn create(admin_url: String) -> anyhow::Result<Self> {
        let name = format!("hallwatch_province_{}_{}", std::process::id(), free_port());
        let url = crate::pg::create(&admin_url, &name)
            .await
            .with_context(|| format!("cannot create the benchmark's database on {admin_url}"))?;
        Ok(Self {
            admin_url,
            name,
            url,
        })
    }

    pub async fn drop_db(&self) {
        crate::pg::drop(&self.admin_url, &self.name).await;
    }

    /// Per hall: stored device messages of the day and distinct ones
    /// (hall, device, id); the probes are left out.
    pub async fn stored_by_hall(&self) -> anyhow::Result<HashMap<String, (u64, u64)>> {
        use sqlx::Row;
        let pool = sqlx::PgPool::connect(&self.url).await?;
        let rows = sqlx::query(
            "SELECT hall, COUNT(*), COUNT(DISTINCT (device, msg_id)) FROM events \
             WHERE msg_id IS NOT NULL AND msg_id NOT LIKE 'probe-%' GROUP BY hall",
        )
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0)?,
                    (
                        r.try_get::<i64, _>(1)? as u64,
                        r.try_get::<i64, _>(2)? as u64,
                    ),
                ))
            })
            .collect()
    }

    /// The database's size on disk.
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        use sqlx::Row;
        let pool = sqlx::PgPool::connect(&self.url).await?;
        let row = sqlx::query("SELECT pg_database_size(current_database())")
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        Ok(row.try_get::<i64, _>(0)? as u64)
    }
}

/// One instance: its server process, restarted under the same index.
pub struct Instance {
    pub server: Server,
    /// Started again after a kill.
    pub restarts: usize,
}

/// The instances running one configuration.
pub struct Cluster {
    pub instances: Vec<Instance>,
    dir: PathBuf,
    config: String,
    /// Each instance's logs, by its index.
    logs: Vec<(usize, PathBuf)>,
    pub store: Store,
}

impl Cluster {
    /// Starts `n` instances of `province` against `db` and the broker, and
    /// waits until each is healthy.
    pub async fn start(
        province: &Province,
        n: usize,
        dir: &Path,
        db: &str,
        broker_port: u16,
    ) -> anyhow::Result<Self> {
        // One text with a marker for the port: 2,000 halls are megabytes.
        let config = province.config(0, db, broker_port);
        let mut logs = Vec::new();
        let mut instances = Vec::new();
        for i in 0..n {
            let server = spawn(dir, &config, i, 0, &mut logs)?;
            instances.push(Instance {
                server,
                restarts: 0,
            });
        }
        // wait_ready blocks: off the runtime's workers.
        tokio::task::block_in_place(|| {
            instances
                .iter_mut()
                .try_for_each(|inst| inst.server.wait_ready(Duration::from_secs(120)).map(|_| ()))
        })?;
        // Opened once the instances have migrated the database.
        let store = Store::open(db).await.context("open the store")?;
        Ok(Self {
            instances,
            dir: dir.to_owned(),
            config,
            logs,
            store,
        })
    }

    /// Kills instance `i` with SIGKILL (it is reaped when replaced).
    pub fn kill(&mut self, i: usize) {
        let pid = self.instances[i].server.pid();
        // SAFETY: kill(2) on a child this process started and has not reaped.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }

    /// Starts instance `i` again and waits until it is healthy.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let generation = self.instances[i].restarts + 1;
        let mut server = spawn(&self.dir, &self.config, i, generation, &mut self.logs)?;
        tokio::task::block_in_place(|| server.wait_ready(Duration::from_secs(120)))?;
        self.instances[i].server = server;
        self.instances[i].restarts = generation;
        Ok(())
    }

    /// Partition name → index of the instance holding it.
    pub async fn owners(&self) -> anyhow::Result<HashMap<String, usize>> {
        let leases = self.store.leases().await?;
        Ok(leases
            .into_iter()
            .filter(|l| l.held)
            .filter_map(|l| {
                let pid: u32 = l.owner?.split('/').nth(1)?.parse().ok()?;
                let i = self
                    .instances
                    .iter()
                    .position(|inst| inst.server.pid() == pid)?;
                Some((l.name, i))
            })
            .collect())
    }

    /// Waits until every partition is held and no instance holds more than
    /// its fair share (the partitions over the instances, rounded up).
    pub async fn wait_balanced(
        &self,
        partitions: usize,
        limit: Duration,
    ) -> anyhow::Result<HashMap<String, usize>> {
        let share = partitions.div_ceil(self.instances.len());
        let deadline = Instant::now() + limit;
        loop {
            let owners = self.owners().await?;
            let mut per = vec![0usize; self.instances.len()];
            for i in owners.values() {
                per[*i] += 1;
            }
            if owners.len() == partitions && per.iter().all(|n| *n <= share) {
                return Ok(owners);
            }
            if Instant::now() > deadline {
                bail!("partitions not shared out within {limit:?}: {per:?} of {partitions}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every "Took a partition" line logged so far, by any instance.
    pub fn takes(&self) -> Vec<Take> {
        let mut out = Vec::new();
        for (instance, log) in &self.logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("Took a partition")) {
                if let Some(t) = Take::parse(line, *instance) {
                    out.push(t);
                }
            }
        }
        out.sort_by_key(|t| t.at);
        out
    }
}

/// Instance `i` on a free port, its log in `dir`.
fn spawn(
    dir: &Path,
    config: &str,
    i: usize,
    generation: usize,
    logs: &mut Vec<(usize, PathBuf)>,
) -> anyhow::Result<Server> {
    let port = free_port();
    let path = dir.join(format!("instance-{i}.toml"));
    let text = config.replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
        1,
    );
    std::fs::write(&path, text)?;
    let log = dir.join(format!("instance-{i}-{generation}.log"));
    logs.push((i, log.clone()));
    Server::start(&path, port, &log)
}

/// A partition taken: replayed and its broker session resumed.
#[derive(Debug, Clone)]
pub struct Take {
    /// When, on the system clock (the log's timestamp).
    pub at: SystemTime,
    pub partition: String,
    pub halls: u64,
    pub events: u64,
    pub elapsed_ms: u64,
    /// The instance that took it.
    pub instance: usize,
}

impl Take {
    /// `2026-…Z  INFO hallwatch::cluster: Took a partition: … partition=… token=… halls=… events=… elapsed_ms=…`
    fn parse(line: &str, instance: usize) -> Option<Self> {
        let stamp = line.split_whitespace().next()?;
        let at: SystemTime = chrono::DateTime::parse_from_rfc3339(stamp).ok()?.into();
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_owned())
        };
        Some(Self {
            at,
            partition: field("partition")?,
            halls: field("halls")?.parse().ok()?,
            events: field("events")?.parse().ok()?,
            elapsed_ms: field("elapsed_ms")?.parse().ok()?,
            instance,
        })
    }
}

/// CPU seconds of every process named `postgres` (the server's backends),
/// by process id.
pub fn postgres_cpu() -> HashMap<u32, f64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            out.insert(pid, crate::env::cpu_seconds(pid));
        }
    }
    out
}

/// The machine's CPU: (busy, total) jiffies of all cores since boot.
pub fn machine_cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}
