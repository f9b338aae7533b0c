//! Acknowledgements in arrival order.
//!
//! Messages are stored out of order (each hall commits on its own), but some
//! brokers drop a client that acknowledges out of order, and MQTT 3.1.1 asks
//! for order. So each QoS 1 message takes a place in line when it arrives,
//! and its acknowledgement leaves only when everything before it has been
//! stored too.

use std::collections::VecDeque;
use std::sync::Mutex;

use rumqttc::Publish;

use crate::engine::Receipt;

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    connection: u64,
    /// Messages waiting for their store commit, oldest first, with whether
    /// they are done, and whether to acknowledge them when done.
    pending: VecDeque<Entry>,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    publish: Publish,
    done: bool,
    ack: bool,
}

/// The line of messages waiting to be acknowledged.
#[derive(Debug, Default)]
pub struct AckQueue(Mutex<Inner>);

impl AckQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The queue holds plain data; a panic elsewhere cannot leave it torn.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a message that needs an acknowledgement.
    pub fn register(&self, publish: Publish) -> Receipt {
        let mut q = self.lock();
        let seq = q.next;
        q.next += 1;
        q.pending.push_back(Entry {
            seq,
            publish,
            done: false,
            ack: true,
        });
        Receipt::new(seq, q.connection)
    }

    /// Marks a message stored; returns the messages that may now be
    /// acknowledged, in order.
    pub fn complete(&self, ticket: Receipt) -> Vec<Publish> {
        self.finish(ticket, true)
    }

    /// Gives up a message's place without acknowledging it (it could not be
    /// handled; the broker redelivers it on the next connection), so the
    /// messages behind it are not held up.
    pub fn skip(&self, ticket: Receipt) -> Vec<Publish> {
        self.finish(ticket, false)
    }

    fn finish(&self, ticket: Receipt, ack: bool) -> Vec<Publish> {
        let mut q = self.lock();
        if ticket.connection() != q.connection {
            // From a connection that is gone: the broker redelivers it.
            return Vec::new();
        }
        let Some(front) = q.pending.front().map(|e| e.seq) else {
            return Vec::new();
        };
        if let Some(entry) = ticket
            .seq()
            .checked_sub(front)
            .and_then(|i| q.pending.get_mut(i as usize))
        {
            entry.done = true;
            entry.ack = ack;
        }
        let mut ready = Vec::new();
        while q.pending.front().is_some_and(|e| e.done) {
            if let Some(e) = q.pending.pop_front()
                && e.ack
            {
                ready.push(e.publish);
            }
        }
        ready
    }

    /// A new connection: packet ids of the old one mean nothing now, and the
    /// broker will redeliver whatever was not acknowledged.
    pub fn reset(&self) {
        let mut q = self.lock();
        q.connection += 1;
        q.pending.clear();
    }

    /// Messages waiting for their commit.
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::QoS;

    fn publish(pkid: u16) -> Publish {
        let mut p = Publish::new("t", QoS::AtLeastOnce, vec![]);
        p.pkid = pkid;
        p
    }

    fn pkids(v: Vec<Publish>) -> Vec<u16> {
        v.into_iter().map(|p| p.pkid).collect()
    }

    #[test]
    fn acknowledgements_leave_in_arrival_order() {
        let q = AckQueue::default();
        let a = q.register(publish(1));
        let b = q.register(publish(2));
        let c = q.register(publish(3));
        assert!(q.complete(c).is_empty(), "3 waits for 1 and 2");
        assert!(q.complete(b).is_empty());
        assert_eq!(pkids(q.complete(a)), [1, 2, 3]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_skipped_message_is_not_acknowledged_and_holds_nobody_up() {
        let q = AckQueue::default();
        let a = q.register(publish(1));
        let b = q.register(publish(2));
        assert!(q.complete(b).is_empty());
        assert_eq!(pkids(q.skip(a)), [2]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_reconnection_forgets_the_old_line() {
        let q = AckQueue::default();
        let a = q.register(publish(1));
        q.reset();
        assert!(q.complete(a).is_empty());
        let b = q.register(publish(1));
        assert_eq!(pkids(q.complete(b)), [1]);
    }
}
