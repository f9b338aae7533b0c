//! `[cluster]`: halls grouped into partitions, each owned by one live
//! instance at a time through a lease in PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, err};
use crate::domain::HallId;

/// `[cluster]` as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// Seconds a partition's lease lasts unless its owner renews it: the
    /// longest a dead owner's halls wait for a standby (3 to 60). Default 3.
    pub lease_s: u64,
    /// Seconds between renewals, at most a third of `lease_s` so that one
    /// slow renewal does not cost the lease. Default 1.
    pub renew_s: u64,
    /// `http://HOST:PORT`: where the other instances reach this one, to
    /// forward the requests of halls it runs (a screen, the API, a phone
    /// page). Unset: `server.listen`'s address, which must then not be a
    /// wildcard such as `0.0.0.0`. `HALLWATCH_ADVERTISE` in the environment
    /// overrides it, so every instance can share one file.
    pub advertise: Option<String>,
    /// `[[cluster.partitions]]`: the groups of halls that move between
    /// instances together. None: the cluster is off, and one instance runs
    /// every hall.
    pub partitions: Vec<RawPartition>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            lease_s: 3,
            renew_s: 1,
            advertise: None,
            partitions: Vec::new(),
        }
    }
}

/// `[[cluster.partitions]]` as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPartition {
    /// Its name: letters, digits, `-` and `_`, up to 32. It names the lease
    /// and the partition's MQTT sessions (`{mqtt.client_id}-{name}`).
    pub name: String,
    /// The ids of its halls. Every hall is in exactly one partition.
    pub halls: Vec<String>,
}

/// `[cluster]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub lease: Duration,
    pub renew: Duration,
    /// Where the other instances reach this one: `http://HOST:PORT`, no
    /// path. `None`: `server.listen`'s bound address, known once bound.
    pub advertise: Option<String>,
    pub partitions: Vec<Partition>,
}

/// A partition: a lease, an MQTT session, a set of halls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub halls: Vec<HallId>,
}

impl ClusterSettings {
    /// Checks the section against the halls configured. `None` when no
    /// partition is configured: a single instance runs every hall.
    pub fn resolve(
        &self,
        halls: &[HallId],
        server: &super::ServerSettings,
    ) -> Result<Option<Cluster>, ConfigError> {
        if self.partitions.is_empty() {
            return Ok(None);
        }
        if !server.database_url.starts_with("postgres") {
            return Err(err(
                "cluster.partitions",
                "partitions need server.database_url on PostgreSQL: the instances share its log and its leases",
            ));
        }
        if !(3..=60).contains(&self.lease_s) {
            return Err(err("cluster.lease_s", "must be 3 to 60 seconds"));
        }
        if self.renew_s == 0 || self.renew_s * 3 > self.lease_s {
            return Err(err(
                "cluster.renew_s",
                "must be at least 1 and at most a third of cluster.lease_s",
            ));
        }
        // Instances forward each other's requests over plain HTTP on the
        // private network, behind the load balancer that ends TLS.
        if server.tls_cert.is_some() {
            return Err(err(
                "server.tls_cert",
                "instances of a cluster forward requests to each other over plain HTTP: end TLS at the load balancer in front of them (see deploy/nginx-cluster.conf)",
            ));
        }
        let from_env = std::env::var("HALLWATCH_ADVERTISE")
            .ok()
            .filter(|a| !a.is_empty());
        let advertise = match (from_env, &self.advertise) {
            (Some(a), _) => Some(advertised(&a).map_err(|r| err("HALLWATCH_ADVERTISE", r))?),
            (None, Some(a)) => Some(advertised(a).map_err(|r| err("cluster.advertise", r))?),
            (None, None) => {
                let wildcard = server
                    .listen
                    .parse::<std::net::SocketAddr>()
                    .map_or(true, |a| a.ip().is_unspecified());
                if wildcard {
                    return Err(err(
                        "cluster.advertise",
                        format!(
                            "server.listen is {:?}: say where the other instances reach this one, as http://HOST:PORT (or set HALLWATCH_ADVERTISE)",
                            server.listen
                        ),
                    ));
                }
                None
            }
        };
        let mut owner: HashMap<&str, &str> = HashMap::new();
        let mut partitions = Vec::new();
        for (i, p) in self.partitions.iter().enumerate() {
            let at = format!("cluster.partitions[{i}]");
            if p.name.is_empty()
                || p.name.len() > 32
                || !p
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(err(
                    format!("{at}.name"),
                    "must be 1 to 32 letters, digits, '-' or '_'",
                ));
            }
            if partitions.iter().any(|q: &Partition| q.name == p.name) {
                return Err(err(
                    format!("{at}.name"),
                    format!("duplicate partition {:?}", p.name),
                ));
            }
            if p.halls.is_empty() {
                return Err(err(format!("{at}.halls"), "list at least one hall"));
            }
            let mut ids = Vec::new();
            for h in &p.halls {
                let Some(id) = halls.iter().find(|id| id.as_str() == h) else {
                    return Err(err(format!("{at}.halls"), format!("unknown hall {h:?}")));
                };
                if let Some(other) = owner.insert(id.as_str(), &p.name) {
                    return Err(err(
                        format!("{at}.halls"),
                        format!("hall {h:?} is in partition {other:?} already"),
                    ));
                }
                ids.push(id.clone());
            }
            partitions.push(Partition {
                name: p.name.clone(),
                halls: ids,
            });
        }
        if let Some(h) = halls.iter().find(|h| !owner.contains_key(h.as_str())) {
            return Err(err(
                "cluster.partitions",
                format!("hall {:?} is in no partition", h.as_str()),
            ));
        }
        Ok(Some(Cluster {
            lease: Duration::from_secs(self.lease_s),
            renew: Duration::from_secs(self.renew_s),
            advertise,
            partitions,
        }))
    }
}

/// `http://HOST:PORT` with nothing after it, checked: the base URL of an
/// instance as the others reach it.
pub fn advertised(a: &str) -> Result<String, String> {
    let Some(rest) = a.strip_prefix("http://") else {
        return Err(format!(
            "{a:?} must start with http:// (instances speak plain HTTP to each other)"
        ));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let ok = rest.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && port.parse::<u16>().is_ok_and(|p| p > 0)
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b))
    });
    if !ok {
        return Err(format!("{a:?} is not http://HOST:PORT"));
    }
    Ok(format!("http://{rest}"))
}
