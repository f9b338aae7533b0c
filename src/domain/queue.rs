//! The queue policy: which waiting ticket a window calls next.
//!
//! Default policy (`mqtt/README.md`): among waiting tickets of the services the
//! window serves, the highest priority class first, then the ticket that has
//! waited longest. A transferred ticket keeps its class and its original issue
//! time, so it is not sent to the back of its new queue.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::event::Priority;

/// Orders waiting tickets: higher rank first, then earlier issue, then the
/// ticket's index (which follows issue order) to break exact ties.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct QueueKey {
    rank: Reverse<u8>,
    issued_at: DateTime<Utc>,
    ticket: usize,
}

impl QueueKey {
    pub fn new(priority: Priority, issued_at: DateTime<Utc>, ticket: usize) -> Self {
        Self {
            rank: Reverse(priority.rank()),
            issued_at,
            ticket,
        }
    }
    pub fn ticket(&self) -> usize {
        self.ticket
    }
}

/// The waiting tickets of every service of a hall, each queue kept in policy order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Queues {
    by_service: Vec<BTreeSet<QueueKey>>,
}

impl Queues {
    pub fn new(services: usize) -> Self {
        Self {
            by_service: vec![BTreeSet::new(); services],
        }
    }

    pub fn push(&mut self, service: usize, key: QueueKey) {
        if let Some(q) = self.by_service.get_mut(service) {
            q.insert(key);
        }
    }

    pub fn remove(&mut self, service: usize, key: &QueueKey) -> bool {
        self.by_service
            .get_mut(service)
            .is_some_and(|q| q.remove(key))
    }

    pub fn waiting(&self, service: usize) -> usize {
        self.by_service.get(service).map_or(0, BTreeSet::len)
    }

    /// The ticket a window serving `services` should call next, and its service.
    pub fn next_for(&self, services: &[usize]) -> Option<(usize, QueueKey)> {
        services
            .iter()
            .filter_map(|&s| self.by_service.get(s)?.first().map(|k| (s, *k)))
            .min_by_key(|(_, k)| *k)
    }

    /// How many tickets of `service` are ahead of one with this key.
    pub fn ahead_of(&self, service: usize, key: &QueueKey) -> usize {
        self.by_service
            .get(service)
            .map_or(0, |q| q.range(..*key).count())
    }

    /// The waiting tickets of `service`, class by class (highest first),
    /// each class's earliest issued first: a walk for a condition that,
    /// once false for a ticket, is false for every later one of its class
    /// can stop there.
    pub fn by_class(
        &self,
        service: usize,
    ) -> impl Iterator<Item = impl Iterator<Item = usize> + '_> + '_ {
        self.classes(service)
            .map(|class| class.map(QueueKey::ticket))
    }

    /// When the ticket of `service` issued first, of whatever class, was issued.
    pub fn oldest(&self, service: usize) -> Option<DateTime<Utc>> {
        self.classes(service)
            .filter_map(|mut class| class.next().map(|k| k.issued_at))
            .min()
    }

    /// Each priority class of a service's queue, highest first.
    fn classes(
        &self,
        service: usize,
    ) -> impl Iterator<Item = impl Iterator<Item = &QueueKey> + '_> + '_ {
        let queue = self.by_service.get(service);
        Priority::RANKS.rev().filter_map(move |rank| {
            let (lo, hi) = (
                QueueKey {
                    rank: Reverse(rank),
                    issued_at: DateTime::<Utc>::MIN_UTC,
                    ticket: 0,
                },
                QueueKey {
                    rank: Reverse(rank),
                    issued_at: DateTime::<Utc>::MAX_UTC,
                    ticket: usize::MAX,
                },
            );
            Some(queue?.range(lo..=hi))
        })
    }

    /// The oldest waiting ticket's key of a service.
    pub fn iter(&self, service: usize) -> impl Iterator<Item = &QueueKey> {
        self.by_service.get(service).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 1, min, 0).unwrap()
    }

    #[test]
    fn higher_class_first_then_longest_wait() {
        let mut q = Queues::new(2);
        q.push(0, QueueKey::new(Priority::Normal, at(0), 0));
        q.push(0, QueueKey::new(Priority::Elderly, at(5), 1));
        q.push(1, QueueKey::new(Priority::Green, at(9), 2));
        q.push(1, QueueKey::new(Priority::Appointment, at(1), 3));
        assert_eq!(
            q.next_for(&[0]).unwrap().1.ticket(),
            1,
            "elderly beats normal"
        );
        assert_eq!(
            q.next_for(&[0, 1]).unwrap().1.ticket(),
            2,
            "green beats all"
        );
        let (s, k) = q.next_for(&[0, 1]).unwrap();
        q.remove(s, &k);
        assert_eq!(
            q.next_for(&[0, 1]).unwrap().1.ticket(),
            3,
            "then appointment"
        );
    }

    #[test]
    fn elderly_and_disabled_share_a_class_so_the_longer_wait_wins() {
        let mut q = Queues::new(1);
        q.push(0, QueueKey::new(Priority::Disabled, at(3), 0));
        q.push(0, QueueKey::new(Priority::Elderly, at(2), 1));
        assert_eq!(q.next_for(&[0]).unwrap().1.ticket(), 1);
    }

    #[test]
    fn a_window_only_sees_its_own_services() {
        let mut q = Queues::new(3);
        q.push(2, QueueKey::new(Priority::Green, at(0), 0));
        assert!(q.next_for(&[0, 1]).is_none());
        assert_eq!(q.ahead_of(2, &QueueKey::new(Priority::Normal, at(1), 1)), 1);
        assert_eq!(q.ahead_of(2, &QueueKey::new(Priority::Green, at(0), 0)), 0);
    }
}
