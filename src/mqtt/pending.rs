//! The messages waiting to leave on the outgoing connection, in the order
//! they were queued. A retained message takes the place of one of its
//! topic that has not left yet: the broker keeps only the newest retained
//! message of a topic, and the older one carries a state already gone, so
//! under load the connection sends a window's or a summary's latest state
//! once instead of every state it passed through. Everything else (replies,
//! calls, alerts, cards) leaves exactly as queued.

use std::collections::{HashMap, VecDeque};

use rumqttc::Publish;

#[derive(Default)]
pub(super) struct Pending {
    /// In queue order; `None` where a retained message was replaced by a
    /// newer one of its topic.
    slots: VecDeque<Option<Publish>>,
    /// The position, counted since the queue began, of `slots[0]`.
    base: u64,
    /// The waiting retained message of each topic, by position.
    retained: HashMap<String, u64>,
    /// Waiting messages that are not retained.
    unretained: usize,
    /// Slots of replaced messages still in `slots`.
    replaced: usize,
}

/// Replaced slots are let go once there are this many, and more than
/// waiting messages: while the broker is out of reach, windows' states
/// keep replacing each other, and their slots must not pile up.
const COMPACT_AT: usize = 1024;

impl Pending {
    /// Queues `p` behind everything waiting. A retained message replaces
    /// the waiting one of its topic, if there is one, which is dropped.
    pub(super) fn push(&mut self, p: Publish) {
        let at = self.base + self.slots.len() as u64;
        if p.retain {
            match self.retained.get_mut(&p.topic) {
                Some(old) => {
                    let index = old
                        .checked_sub(self.base)
                        .and_then(|i| usize::try_from(i).ok());
                    if let Some(slot) = index.and_then(|i| self.slots.get_mut(i)) {
                        *slot = None;
                        self.replaced += 1;
                    }
                    *old = at;
                }
                None => {
                    self.retained.insert(p.topic.clone(), at);
                }
            }
        } else {
            self.unretained += 1;
        }
        self.slots.push_back(Some(p));
        if self.replaced >= COMPACT_AT && self.replaced > self.slots.len() - self.replaced {
            self.compact();
        }
    }

    /// Lets the replaced slots go, numbering what waits anew from `base`.
    fn compact(&mut self) {
        let waiting = std::mem::take(&mut self.slots);
        for (at, p) in (self.base..).zip(waiting.into_iter().flatten()) {
            if p.retain
                && let Some(pos) = self.retained.get_mut(&p.topic)
            {
                *pos = at;
            }
            self.slots.push_back(Some(p));
        }
        self.replaced = 0;
    }

    /// The oldest waiting message.
    pub(super) fn pop(&mut self) -> Option<Publish> {
        while let Some(slot) = self.slots.pop_front() {
            let at = self.base;
            self.base += 1;
            let Some(p) = slot else {
                self.replaced -= 1;
                continue;
            };
            if p.retain {
                if self.retained.get(&p.topic) == Some(&at) {
                    self.retained.remove(&p.topic);
                }
            } else {
                self.unretained -= 1;
            }
            return Some(p);
        }
        None
    }

    /// Waiting messages that are not retained: the ones the queue's
    /// capacity counts (retained ones are at most one a topic).
    pub(super) fn unretained(&self) -> usize {
        self.unretained
    }

    /// No message waits. (A replaced slot is never the last: its
    /// replacement is queued behind it.)
    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every waiting message, retained or not.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rumqttc::QoS;

    fn msg(topic: &str, retain: bool, payload: &str) -> Publish {
        let mut p = Publish::from_bytes(topic, QoS::AtLeastOnce, Bytes::from(payload.to_owned()));
        p.retain = retain;
        p
    }

    fn drain(q: &mut Pending) -> Vec<(String, String)> {
        std::iter::from_fn(|| q.pop())
            .map(|p| {
                (
                    p.topic.clone(),
                    String::from_utf8(p.payload.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(t, p)| ((*t).to_owned(), (*p).to_owned()))
            .collect()
    }

    #[test]
    fn messages_leave_in_queue_order() {
        let mut q = Pending::default();
        q.push(msg("call", false, "1"));
        q.push(msg("w1/state", true, "a"));
        q.push(msg("reply", false, "2"));
        assert_eq!((q.len(), q.unretained()), (3, 2));
        assert_eq!(
            drain(&mut q),
            pairs(&[("call", "1"), ("w1/state", "a"), ("reply", "2")])
        );
        assert!(q.is_empty());
        assert_eq!(q.unretained(), 0);
    }

    #[test]
    fn a_retained_message_takes_the_place_of_its_topics_waiting_one() {
        let mut q = Pending::default();
        q.push(msg("w1/state", true, "open"));
        q.push(msg("call", false, "A001"));
        q.push(msg("w2/state", true, "closed"));
        q.push(msg("w1/state", true, "serving A001"));
        q.push(msg("call", false, "A001"));
        // The newer state goes where it was queued, after the call before
        // it; the replaced one is gone, the other topic's is not.
        assert_eq!(q.len(), 4);
        assert_eq!(
            drain(&mut q),
            pairs(&[
                ("call", "A001"),
                ("w2/state", "closed"),
                ("w1/state", "serving A001"),
                ("call", "A001"),
            ])
        );
        assert!(q.is_empty());
    }

    #[test]
    fn messages_that_are_not_retained_are_never_replaced() {
        let mut q = Pending::default();
        for i in 0..3 {
            q.push(msg("alert", false, &i.to_string()));
        }
        assert_eq!(
            drain(&mut q),
            pairs(&[("alert", "0"), ("alert", "1"), ("alert", "2")])
        );
    }

    #[test]
    fn a_retained_message_sent_already_is_not_replaced_by_the_next() {
        let mut q = Pending::default();
        q.push(msg("head", true, "1"));
        assert_eq!(drain(&mut q), pairs(&[("head", "1")]));
        q.push(msg("head", true, "2"));
        q.push(msg("x", false, "3"));
        q.push(msg("head", true, "4"));
        assert_eq!(drain(&mut q), pairs(&[("x", "3"), ("head", "4")]));
        // Its index is gone with it: a third is queued anew.
        q.push(msg("head", true, "5"));
        assert_eq!(drain(&mut q), pairs(&[("head", "5")]));
        assert!(q.retained.is_empty());
    }

    #[test]
    fn replaced_slots_do_not_pile_up() {
        let mut q = Pending::default();
        q.push(msg("call", false, "first"));
        for i in 0..10 * COMPACT_AT {
            q.push(msg(&format!("w{}/state", i % 3), true, &i.to_string()));
        }
        q.push(msg("call", false, "last"));
        assert!(q.slots.len() < 2 * COMPACT_AT, "{} slots", q.slots.len());
        // Each topic's newest, in the order they were queued.
        let n = 10 * COMPACT_AT;
        let mut want = vec![("call".to_owned(), "first".to_owned())];
        want.extend((n - 3..n).map(|i| (format!("w{}/state", i % 3), i.to_string())));
        want.push(("call".to_owned(), "last".to_owned()));
        assert_eq!(drain(&mut q), want);
        assert_eq!((q.replaced, q.unretained()), (0, 0));
        assert!(q.retained.is_empty());
    }

    #[test]
    fn replaced_slots_are_skipped() {
        let mut q = Pending::default();
        q.push(msg("a", true, "1"));
        q.push(msg("b", false, "2"));
        q.push(msg("a", true, "3"));
        assert_eq!(q.pop().map(|p| p.topic), Some("b".to_owned()));
        assert_eq!(q.pop().map(|p| p.topic), Some("a".to_owned()));
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }
}
