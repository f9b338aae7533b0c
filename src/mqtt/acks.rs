//! Acknowledgements in arrival order.
//!
//! Messages are stored out of order (each hall commits on its own), but some
//! brokers drop a client that acknowledges out of order, and MQTT 3.1.1 asks
//! for order. So each QoS 1 message takes a place in line when it arrives,
//! and its acknowledgement becomes due only when everything before it has
//! been stored too. The ingest connection takes what is due, all of it at
//! once, and writes it in one write.

use std::collections::VecDeque;
use std::sync::Mutex;

use rumqttc::QoS;
use tokio::sync::Notify;

use crate::engine::Receipt;

/// What a stored message is answered with: its packet id on the
/// connection it came on, and its QoS (PUBACK for 1, PUBREC for 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub pkid: u16,
    pub qos: QoS,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    connection: u64,
    /// Messages waiting for their store commit, oldest first, with whether
    /// they are done, and whether to acknowledge them when done.
    pending: VecDeque<Entry>,
    /// Acknowledgements due on the current connection, in order.
    due: Vec<Ack>,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    ack: Ack,
    done: bool,
    wanted: bool,
}

/// The line of messages waiting to be acknowledged.
#[derive(Debug, Default)]
pub struct AckQueue {
    inner: Mutex<Inner>,
    /// Woken by [`AckQueue::wake`] when acknowledgements are due.
    ready: Notify,
}

impl AckQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The queue holds plain data; a panic elsewhere cannot leave it torn.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a message that needs an acknowledgement.
    pub fn register(&self, ack: Ack) -> Receipt {
        let mut q = self.lock();
        let seq = q.next;
        q.next += 1;
        q.pending.push_back(Entry {
            seq,
            ack,
            done: false,
            wanted: true,
        });
        Receipt::new(seq, q.connection)
    }

    /// Marks a message stored: it, and the stored messages behind it, are
    /// acknowledged once everything before them is stored. The connection
    /// hears of it at the next [`AckQueue::wake`], so that the
    /// acknowledgements of a burst of commits leave together.
    pub fn complete(&self, ticket: Receipt) {
        self.finish(ticket, true)
    }

    /// Wakes the connection if acknowledgements are due.
    pub fn wake(&self) {
        if !self.lock().due.is_empty() {
            self.ready.notify_one();
        }
    }

    /// Gives up a message's place without acknowledging it (it could not be
    /// handled; the broker redelivers it on the next connection), so the
    /// messages behind it are not held up.
    pub fn skip(&self, ticket: Receipt) {
        self.finish(ticket, false)
    }

    fn finish(&self, ticket: Receipt, wanted: bool) {
        let mut q = self.lock();
        if ticket.connection() != q.connection {
            // From a connection that is gone: the broker redelivers it.
            return;
        }
        let Some(front) = q.pending.front().map(|e| e.seq) else {
            return;
        };
        if let Some(entry) = ticket
            .seq()
            .checked_sub(front)
            .and_then(|i| q.pending.get_mut(i as usize))
        {
            entry.done = true;
            entry.wanted = wanted;
        }
        while q.pending.front().is_some_and(|e| e.done) {
            if let Some(e) = q.pending.pop_front()
                && e.wanted
            {
                q.due.push(e.ack);
            }
        }
    }

    /// Waits until acknowledgements may be due (cancel-safe; a wake-up
    /// that finds none due is harmless).
    pub async fn due(&self) {
        self.ready.notified().await
    }

    /// Takes what is due, in order, into `out` (emptied first).
    pub fn take_due(&self, out: &mut Vec<Ack>) {
        out.clear();
        std::mem::swap(&mut self.lock().due, out);
    }

    /// A new connection: packet ids of the old one mean nothing now, and the
    /// broker will redeliver whatever was not acknowledged, so nothing of
    /// the old line may be acknowledged on the new connection.
    pub fn reset(&self) {
        let mut q = self.lock();
        q.connection += 1;
        q.pending.clear();
        q.due.clear();
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

    fn ack(pkid: u16) -> Ack {
        Ack {
            pkid,
            qos: QoS::AtLeastOnce,
        }
    }

    fn due(q: &AckQueue) -> Vec<u16> {
        let mut out = Vec::new();
        q.take_due(&mut out);
        out.into_iter().map(|a| a.pkid).collect()
    }

    #[test]
    fn acknowledgements_fall_due_in_arrival_order() {
        let q = AckQueue::default();
        let a = q.register(ack(1));
        let b = q.register(ack(2));
        let c = q.register(ack(3));
        q.complete(c);
        assert!(due(&q).is_empty(), "3 waits for 1 and 2");
        q.complete(b);
        assert!(due(&q).is_empty());
        q.complete(a);
        assert_eq!(due(&q), [1, 2, 3]);
        assert!(q.is_empty());
        assert!(due(&q).is_empty(), "taken once");
    }

    #[test]
    fn a_skipped_message_is_not_acknowledged_and_holds_nobody_up() {
        let q = AckQueue::default();
        let a = q.register(ack(1));
        let b = q.register(ack(2));
        q.complete(b);
        q.skip(a);
        assert_eq!(due(&q), [2]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_reconnection_forgets_the_old_line_and_what_was_due_on_it() {
        let q = AckQueue::default();
        let a = q.register(ack(1));
        let b = q.register(ack(2));
        q.complete(a);
        q.reset();
        assert!(
            due(&q).is_empty(),
            "packet 1 of the old connection is not acknowledged on the new"
        );
        q.complete(b);
        assert!(due(&q).is_empty());
        let c = q.register(ack(1));
        q.complete(c);
        assert_eq!(due(&q), [1]);
    }

    #[tokio::test]
    async fn what_falls_due_wakes_the_connection() {
        let q = std::sync::Arc::new(AckQueue::default());
        let a = q.register(ack(5));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move {
                q.due().await;
                due(&q)
            }
        });
        tokio::task::yield_now().await;
        q.complete(a);
        q.wake();
        assert_eq!(waiter.await.unwrap(), [5]);
    }
}
