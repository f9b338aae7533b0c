//! Which instance runs which hall, as every instance sees it: the
//! partitions' owners and the addresses of the instances alive, read from
//! PostgreSQL at each look of the lease loop. The HTTP layer asks it where
//! to forward a request for a hall this instance does not run.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Partition;

/// Where a hall runs, as far as this instance knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whereabouts {
    /// No partition holds it: not a hall of the configuration.
    Unknown,
    /// Its partition has no live owner now: it is moving (its owner died,
    /// or is handing it over) and will run again within a lease.
    Moving,
    /// This instance holds its partition.
    Here,
    /// Another instance runs it, reached at this address.
    At(String),
}

/// The cluster as the last look saw it.
#[derive(Debug, Default)]
struct Seen {
    /// Each partition's owner's address; `None` while nobody holds it.
    owners: HashMap<String, Option<String>>,
    /// The addresses of the instances alive, this one included.
    alive: Vec<String>,
}

/// Partitions' owners and the instances alive, refreshed by the lease loop.
#[derive(Debug)]
pub struct Directory {
    /// This instance's address (`http://HOST:PORT`).
    pub me: String,
    /// Each hall's partition, from the configuration.
    partition_of: HashMap<String, String>,
    seen: RwLock<Arc<Seen>>,
}

impl Directory {
    pub fn new(me: String, partitions: &[Partition]) -> Self {
        let partition_of = partitions
            .iter()
            .flat_map(|p| {
                p.halls
                    .iter()
                    .map(|h| (h.as_str().to_owned(), p.name.clone()))
            })
            .collect();
        Self {
            me,
            partition_of,
            seen: RwLock::new(Arc::default()),
        }
    }

    fn seen(&self) -> Arc<Seen> {
        self.seen
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// What the lease loop read: each partition with its owner's address,
    /// and the addresses of the instances alive.
    pub fn update(&self, owners: Vec<(String, Option<String>)>, alive: Vec<String>) {
        let seen = Arc::new(Seen {
            owners: owners.into_iter().collect(),
            alive,
        });
        match self.seen.write() {
            Ok(mut s) => *s = seen,
            Err(e) => *e.into_inner() = seen,
        }
    }

    /// Where `hall` runs.
    pub fn whereabouts(&self, hall: &str) -> Whereabouts {
        let Some(partition) = self.partition_of.get(hall) else {
            return Whereabouts::Unknown;
        };
        match self.seen().owners.get(partition) {
            Some(Some(a)) if *a == self.me => Whereabouts::Here,
            Some(Some(a)) => Whereabouts::At(a.clone()),
            _ => Whereabouts::Moving,
        }
    }

    /// The hall of an alert: alert ids start with their hall's id and a
    /// `-`; the longest hall id that fits.
    pub fn hall_of_alert(&self, alert: &str) -> Option<String> {
        crate::domain::hall_of_alert(alert, self.partition_of.keys(), |h| h.as_str()).cloned()
    }

    /// The partitions holding the halls `wanted` accepts, each with one of
    /// those halls.
    pub fn partitions_of(&self, wanted: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = Vec::new();
        for (hall, partition) in &self.partition_of {
            if wanted(hall) && !found.iter().any(|(p, _)| p == partition) {
                found.push((partition.clone(), hall.clone()));
            }
        }
        found
    }

    /// The other instances alive.
    pub fn peers(&self) -> Vec<String> {
        self.seen()
            .alive
            .iter()
            .filter(|a| **a != self.me)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HallId;

    fn partition(name: &str, halls: &[&str]) -> Partition {
        Partition {
            name: name.into(),
            halls: halls.iter().map(|h| HallId::parse(h).unwrap()).collect(),
        }
    }

    #[test]
    fn a_hall_is_here_elsewhere_moving_or_unknown() {
        let d = Directory::new(
            "http://10.0.0.1:8080".into(),
            &[
                partition("a", &["h1", "h2"]),
                partition("b", &["h3"]),
                partition("c", &["h4"]),
            ],
        );
        // Before the first look nobody is known to hold anything.
        assert_eq!(d.whereabouts("h1"), Whereabouts::Moving);
        d.update(
            vec![
                ("a".into(), Some("http://10.0.0.1:8080".into())),
                ("b".into(), Some("http://10.0.0.2:8080".into())),
                ("c".into(), None),
            ],
            vec!["http://10.0.0.1:8080".into(), "http://10.0.0.2:8080".into()],
        );
        assert_eq!(d.whereabouts("h2"), Whereabouts::Here);
        assert_eq!(
            d.whereabouts("h3"),
            Whereabouts::At("http://10.0.0.2:8080".into())
        );
        assert_eq!(d.whereabouts("h4"), Whereabouts::Moving);
        assert_eq!(d.whereabouts("nowhere"), Whereabouts::Unknown);
        assert_eq!(d.peers(), ["http://10.0.0.2:8080"]);
        assert_eq!(d.hall_of_alert("h3-12"), Some("h3".into()));
        assert_eq!(d.hall_of_alert("h5-12"), None);
        let one = d.partitions_of(|h| h == "h1" || h == "h2");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].0, "a");
        assert_eq!(d.partitions_of(|h| h != "h4").len(), 2);
    }
}
