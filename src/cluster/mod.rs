//! Partitions shared by several instances: each is run by the one live
//! instance that holds its lease in PostgreSQL.
//!
//! Every instance renews each lease it holds every `renew_s`, and runs
//! this loop four times a second:
//!
//! 1. renew the leases it holds; one found taken (or a write the store
//!    fenced) means another instance runs the partition now: stand down at
//!    once, storing and acknowledging nothing more;
//! 2. say it is alive, and count the instances alive: its fair share is
//!    the partitions over the instances, rounded up;
//! 3. below its share, take partitions nobody holds (never held, handed
//!    over, or whose owner stopped renewing), replay them and resume their
//!    broker sessions; above it, hand one over: stop it cleanly (every
//!    received message stored and acknowledged) and release its lease so the
//!    next owner need not wait for it to expire.
//!
//! No consensus of our own: PostgreSQL decides who holds a lease, on its
//! own clock, and the store refuses a write whose lease token has moved on.

pub mod directory;
pub mod gate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use directory::{Directory, Whereabouts};
pub use gate::Gate;

use crate::config::cluster::{Cluster, Partition};
use crate::partition::{Lease, Running, Scope, Shared, fold};
use crate::store::Fence;

/// How often an instance looks at the cluster: who is alive, which
/// partitions are free.
const LOOK: std::time::Duration = std::time::Duration::from_millis(250);

/// A partition this instance runs.
struct Held {
    token: i64,
    gate: Arc<Gate>,
    /// Renews the lease every `renew_s`; cancels the gate's `lost` when the
    /// lease was taken by another instance.
    renewer: tokio::task::JoinHandle<()>,
    running: Running,
}

/// Renews a lease until it is found taken (then `gate.lost` is cancelled)
/// or the task is stopped.
async fn renew(
    store: crate::store::Store,
    cluster: Cluster,
    partition: String,
    owner: String,
    token: i64,
    gate: Arc<Gate>,
) {
    let mut tick = tokio::time::interval(cluster.renew);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = gate.lost.cancelled() => return,
            _ = tick.tick() => {}
        }
        let asked = Instant::now();
        match store
            .lease_renew(&partition, &owner, token, cluster.lease)
            .await
        {
            Ok(true) => gate.extend(asked, cluster.lease),
            Ok(false) => {
                warn!(%partition, token, "The partition's lease was taken by another instance; standing down.");
                gate.lost.cancel();
                return;
            }
            // The gate shuts by itself when the lease runs out unrenewed,
            // and the store refuses what comes after.
            Err(e) => warn!(%partition, error = %e, "Could not renew a lease; retrying."),
        }
    }
}

/// The lease loop of one instance.
pub struct Member {
    pub shared: Shared,
    pub cluster: Cluster,
    /// This process's name in the leases: unique per start.
    pub owner: String,
    /// Who runs what, refreshed at every look, for forwarding requests;
    /// it holds this instance's address.
    pub directory: Arc<Directory>,
}

/// A name for this process in the leases: `instance` (or the host's
/// name), the process id, and a random part, so that a restarted process
/// never passes for the one before it.
pub fn owner_name(instance: Option<&str>) -> String {
    let base = instance.map(str::to_owned).unwrap_or_else(|| {
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|| "hallwatch".into())
    });
    format!(
        "{base}/{}/{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

impl Member {
    /// Runs until `stop`, then hands every partition over.
    pub async fn run(self, stop: CancellationToken) {
        let store = self.shared.store.clone();
        let lease = self.cluster.lease;
        let mut held: BTreeMap<String, Held> = BTreeMap::new();
        // Looking for free partitions more often than leases are renewed
        // takes a dead owner's partitions soon after its lease ends.
        let mut tick = tokio::time::interval(self.cluster.renew.min(LOOK));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(owner = %self.owner, partitions = self.cluster.partitions.len(), "Joining the cluster.");
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            // 1. Stand down from what was lost (each lease is renewed by
            // its own task, so a long replay here delays no renewal).
            let lost: Vec<String> = held
                .iter()
                .filter(|(_, h)| h.gate.lost.is_cancelled())
                .map(|(n, _)| n.clone())
                .collect();
            for name in lost {
                if let Some(h) = held.remove(&name) {
                    h.renewer.abort();
                    h.running
                        .abandon(&self.shared.registry, &self.shared.health)
                        .await;
                }
            }
            // 2. The fair share.
            let members = match store
                .member_alive(&self.owner, &self.directory.me, lease)
                .await
            {
                Ok(n) => n,
                Err(e) => {
                    warn!(error = %e, "Could not reach the cluster's table of members; retrying.");
                    continue;
                }
            };
            match store.directory().await {
                Ok((owners, alive)) => self.directory.update(owners, alive),
                Err(e) => warn!(error = %e, "Could not read who runs which partition; retrying."),
            }
            let share = self.cluster.partitions.len().div_ceil(members);
            // 3. Take, or hand over.
            if held.len() < share {
                self.take(&mut held, share).await;
            } else if held.len() > share
                && let Some(name) = self.pick_to_hand_over(&held)
                && let Some(h) = held.remove(&name)
            {
                self.hand_over(&name, h).await;
            }
        }
        // Leaving first: the others' shares grow at once, so each partition
        // released below is taken at their next look.
        if let Err(e) = store.member_gone(&self.owner).await {
            warn!(error = %e, "Could not say this instance is leaving the cluster; its share is freed when its entry expires.");
        }
        let names: Vec<String> = held.keys().cloned().collect();
        for name in names {
            if let Some(h) = held.remove(&name) {
                self.hand_over(&name, h).await;
            }
        }
        info!("Left the cluster.");
    }

    /// Takes free partitions up to `share`, starting from a place of the
    /// list that differs between instances, so that two instances starting
    /// together do not reach for the same ones.
    async fn take(&self, held: &mut BTreeMap<String, Held>, share: usize) {
        let store = &self.shared.store;
        let leases = match store.leases().await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "Could not read the partitions' leases; retrying.");
                return;
            }
        };
        let busy = |name: &str| leases.iter().any(|l| l.name == name && l.held);
        let n = self.cluster.partitions.len();
        let from = usize::try_from(crate::spread(&self.owner) % n.max(1) as u64).unwrap_or(0);
        for i in 0..n {
            if held.len() >= share {
                break;
            }
            let p = &self.cluster.partitions[(from + i) % n];
            if held.contains_key(&p.name) || busy(&p.name) {
                continue;
            }
            let asked = Instant::now();
            let token = match store
                .lease_take(&p.name, &self.owner, self.cluster.lease)
                .await
            {
                Ok(Some(token)) => token,
                Ok(None) => continue,
                Err(e) => {
                    warn!(partition = %p.name, error = %e, "Could not take a lease; retrying.");
                    return;
                }
            };
            let gate = Arc::new(Gate::new(asked, self.cluster.lease));
            let renewer = tokio::spawn(renew(
                store.clone(),
                self.cluster.clone(),
                p.name.clone(),
                self.owner.clone(),
                token,
                gate.clone(),
            ));
            match self.start(p, token, gate.clone()).await {
                Ok(running) => {
                    held.insert(
                        p.name.clone(),
                        Held {
                            token,
                            gate,
                            renewer,
                            running,
                        },
                    );
                }
                Err(e) => {
                    error!(partition = %p.name, error = %e, "Could not start a partition; giving its lease back.");
                    renewer.abort();
                    gate.lost.cancel();
                    let _ = store.lease_release(&p.name, &self.owner, token).await;
                }
            }
        }
    }

    /// Replays a partition and resumes its broker session.
    async fn start(&self, p: &Partition, token: i64, gate: Arc<Gate>) -> anyhow::Result<Running> {
        let started = Instant::now();
        let specs: Vec<_> = self
            .shared
            .settings
            .halls
            .iter()
            .filter(|h| p.halls.contains(&h.id))
            .cloned()
            .collect();
        let scope = Scope::Partition {
            name: p.name.clone(),
            lease: Lease {
                fence: Fence {
                    partition: p.name.clone(),
                    token,
                    idle_ms: i64::try_from(self.cluster.lease.as_millis()).unwrap_or(i64::MAX),
                },
                gate,
            },
        };
        let folded = fold(&self.shared, &specs, &scope).await?;
        let events = folded.events;
        let running = Running::start(&self.shared, folded, scope).await?;
        info!(
            partition = %p.name,
            token,
            halls = specs.len(),
            events,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Took a partition: replayed and resuming its broker session."
        );
        Ok(running)
    }

    /// The partition to give up when this instance holds more than its
    /// share: the one it took last, in the list's order.
    fn pick_to_hand_over(&self, held: &BTreeMap<String, Held>) -> Option<String> {
        held.keys().next_back().cloned()
    }

    /// Stops a partition cleanly and releases its lease.
    async fn hand_over(&self, name: &str, h: Held) {
        let started = Instant::now();
        h.running
            .stop(&self.shared.registry, &self.shared.health)
            .await;
        h.renewer.abort();
        if let Err(e) = self
            .shared
            .store
            .lease_release(name, &self.owner, h.token)
            .await
        {
            warn!(partition = %name, error = %e, "Could not release a lease; the next owner takes it when it expires.");
        }
        info!(
            partition = %name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Handed a partition over."
        );
    }
}
