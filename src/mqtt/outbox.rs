//! The outgoing connection's own MQTT client: everything the server
//! publishes leaves through it, in batches. Each time its loop wakes it
//! writes every message queued since (up to the inflight window) in one
//! write, where a general client writes and flushes every packet on its own,
//! one system call each; under load that was most of the connection's cost.
//!
//! It speaks the part of MQTT 3.1.1 a publisher needs, over a [`Link`]:
//! PUBLISH at QoS 1 and the broker's PUBACKs. A message not yet acknowledged
//! when the connection drops is sent again, marked DUP, on the next one. The
//! session loop around it (reconnection, health, the halls' retained states)
//! is in [`super::outgoing`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use rumqttc::{Packet, Publish, QoS};
use tokio::sync::Notify;

use super::link::{Endpoint, Link};
use super::pending::Pending;
/// The most bytes one write carries; the rest of the queue follows at once.
const BATCH_BYTES: usize = 64 * 1024;
/// Packets from the broker are tiny (PUBACK, PINGRESP, CONNACK); a larger
/// one means a broker that does not speak the protocol.
const MAX_INCOMING: usize = 64 * 1024;

/// Why a message could not be queued, and its topic.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the outgoing queue is full")]
    Full(String),
    #[error("the outgoing connection has stopped")]
    Closed(String),
}

impl QueueError {
    pub fn topic(&self) -> &str {
        match self {
            Self::Full(t) | Self::Closed(t) => t,
        }
    }
}

/// The handle publishers hold: messages queue here for the connection.
#[derive(Clone)]
pub struct Outbox {
    publishers: Arc<Publishers>,
}

/// Held by every clone of an [`Outbox`]: when the last goes, the
/// connection's loop hears that nothing more will come.
struct Publishers {
    shared: Arc<Shared>,
}

impl Drop for Publishers {
    fn drop(&mut self) {
        self.shared.lock().publishers_gone = true;
        self.shared.queued.notify_one();
    }
}

/// Whether the outgoing queue has room, for the ingest connection: while
/// it has none (the broker takes the server's messages more slowly than
/// they come), ingest takes no more messages, so the broker holds them
/// rather than the server dropping what it would publish.
#[derive(Clone)]
pub struct Room {
    shared: Arc<Shared>,
}

impl Room {
    /// Room for a message that waits for it (or no loop left to wait for).
    pub fn has_room(&self) -> bool {
        self.shared.has_room()
    }

    /// Returns once there is room.
    pub async fn wait(&self) {
        self.shared.wait_room().await;
    }
}

/// What the publishers and the connection's loop share.
struct Shared {
    state: Mutex<State>,
    /// Wakes the loop when a message is queued into an empty queue.
    queued: Notify,
    /// Wakes publishers waiting for room once the loop took messages.
    room: Notify,
    /// Messages that are not retained which may wait before a publisher
    /// waits for room ([`Outbox::publish`]); one that cannot wait
    /// ([`Outbox::try_publish`]) is refused only at twice as many.
    capacity: usize,
}

struct State {
    pending: Pending,
    publishers_gone: bool,
    loop_gone: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The lock guards plain data that no holder leaves half changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn has_room(&self) -> bool {
        let state = self.lock();
        state.loop_gone || state.pending.unretained() < self.capacity
    }

    /// Returns once a message that waits for room may be queued.
    async fn wait_room(&self) {
        loop {
            // Listening before looking, so room made in between is heard.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.has_room() {
                return;
            }
            room.await;
        }
    }

    /// Queues `p` if fewer than `limit` messages that are not retained
    /// wait (a retained one always: it takes the place of its topic's).
    fn push(&self, p: Publish, limit: usize) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.loop_gone {
            return Err(Refused::Closed(p));
        }
        if !p.retain && state.pending.unretained() >= limit {
            return Err(Refused::Full(p));
        }
        let was_empty = state.pending.is_empty();
        state.pending.push(p);
        drop(state);
        if was_empty {
            self.queued.notify_one();
        }
        Ok(())
    }
}

enum Refused {
    Full(Publish),
    Closed(Publish),
}

impl Outbox {
    /// Queues a QoS 1 message without waiting; an error when the queue is
    /// full (the caller decides what a dropped message costs). A retained
    /// message is never refused for room: it replaces the one of its
    /// topic still waiting, if there is one.
    pub fn try_publish(
        &self,
        topic: String,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<(), QueueError> {
        let shared = &self.publishers.shared;
        shared
            .push(message(topic, retain, payload.into()), 2 * shared.capacity)
            .map_err(|e| match e {
                Refused::Full(p) => QueueError::Full(p.topic),
                Refused::Closed(p) => QueueError::Closed(p.topic),
            })
    }

    /// Whether a message can be queued now without waiting.
    pub fn has_room(&self) -> bool {
        self.publishers.shared.has_room()
    }

    /// A view of the queue's room for a reader that should take no more
    /// work while it has none; it is no publisher (the loop does not wait
    /// for it to go).
    pub fn room(&self) -> Room {
        Room {
            shared: self.publishers.shared.clone(),
        }
    }

    /// Queues a QoS 1 message, waiting for room.
    pub async fn publish(
        &self,
        topic: String,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<(), QueueError> {
        let shared = &self.publishers.shared;
        let mut p = message(topic, retain, payload.into());
        loop {
            match shared.push(p, shared.capacity) {
                Ok(()) => return Ok(()),
                Err(Refused::Closed(back)) => return Err(QueueError::Closed(back.topic)),
                Err(Refused::Full(back)) => p = back,
            }
            shared.wait_room().await;
        }
    }
}

fn message(topic: String, retain: bool, payload: Bytes) -> Publish {
    let mut p = Publish::from_bytes(topic, QoS::AtLeastOnce, payload);
    p.retain = retain;
    p
}

/// The queue's receiving end and what the connection keeps across
/// reconnections: the messages the broker has not acknowledged.
pub struct Queue {
    shared: Arc<Shared>,
    pub endpoint: Endpoint,
    inflight: Inflight,
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.shared.lock().loop_gone = true;
        self.shared.room.notify_waiters();
    }
}

/// A queue of `capacity` messages, with at most `window` awaiting the
/// broker's PUBACK at a time.
pub fn queue(endpoint: Endpoint, capacity: usize, window: usize) -> (Outbox, Queue) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            pending: Pending::default(),
            publishers_gone: false,
            loop_gone: false,
        }),
        queued: Notify::new(),
        room: Notify::new(),
        capacity: capacity.max(1),
    });
    (
        Outbox {
            publishers: Arc::new(Publishers {
                shared: shared.clone(),
            }),
        },
        Queue {
            shared,
            endpoint,
            inflight: Inflight::new(window),
        },
    )
}

/// What the connection's loop does next.
pub enum Step {
    /// A message arrived on the queue, or none will (`None`: every
    /// publisher has gone).
    Queued(Option<Publish>),
    /// Bytes came from the broker (acknowledgements were counted).
    Read,
}

impl Queue {
    /// Opens the connection: TCP (or TLS), CONNECT, CONNACK; then sends
    /// again what the last connection left unacknowledged.
    pub async fn connect(&mut self) -> Result<Link, String> {
        let mut link = Link::open(&self.endpoint, MAX_INCOMING).await?;
        for p in self.inflight.unacked() {
            p.dup = true;
            link.stage(&Packet::Publish(p.clone()))?;
        }
        link.flush().await?;
        Ok(link)
    }

    /// Waits for the next thing to do: a queued message (while the
    /// inflight window has room) or bytes from the broker. Cancel-safe: a
    /// message is taken and bytes are read only when this returns.
    pub async fn next(&mut self, link: &mut Link) -> Result<Step, String> {
        loop {
            let room = self.inflight.has_room();
            if room {
                let mut state = self.shared.lock();
                if let Some(p) = state.pending.pop() {
                    return Ok(Step::Queued(Some(p)));
                }
                if state.publishers_gone {
                    return Ok(Step::Queued(None));
                }
            }
            tokio::select! {
                _ = self.shared.queued.notified(), if room => {}
                r = link.read_more() => {
                    r?;
                    take_acks(link, &mut self.inflight)?;
                    return Ok(Step::Read);
                }
            }
        }
    }

    /// Writes `first` and everything else already queued, up to the
    /// inflight window and [`BATCH_BYTES`], in one write.
    pub async fn send(&mut self, link: &mut Link, first: Publish) -> Result<(), String> {
        let mut next = Some(first);
        while let Some(p) = next {
            self.stage(link, p);
            next = if self.inflight.has_room() && link.staged() < BATCH_BYTES {
                self.shared.lock().pending.pop()
            } else {
                None
            };
        }
        self.shared.room.notify_waiters();
        link.flush().await
    }

    /// At stop: writes everything still queued, whatever the window, and
    /// says goodbye, so the broker keeps the session without a last will.
    pub async fn close(&mut self, mut link: Link) -> Result<(), String> {
        let mut looked_again = false;
        loop {
            let next = self.shared.lock().pending.pop();
            // A reply waiting for room gets it at once, to be sent too.
            self.shared.room.notify_waiters();
            match next {
                Some(p) => {
                    looked_again = false;
                    self.stage(&mut link, p);
                    if link.staged() >= BATCH_BYTES {
                        link.flush().await?;
                    }
                }
                // Once more after the woken publishers had a turn.
                None if !looked_again => {
                    looked_again = true;
                    tokio::task::yield_now().await;
                }
                None => break,
            }
        }
        link.close().await
    }

    /// Takes the oldest waiting message, as a send would, without a
    /// connection.
    #[cfg(test)]
    pub(crate) fn take_one(&mut self) -> Option<Publish> {
        let p = self.shared.lock().pending.pop();
        self.shared.room.notify_waiters();
        p
    }

    /// Whether nothing waits to be sent.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.shared.lock().pending.is_empty()
    }

    /// Gives a message its packet id and encodes it into the write buffer;
    /// one that cannot be encoded (too large) is dropped and logged.
    fn stage(&mut self, link: &mut Link, mut p: Publish) {
        let Some(pkid) = self.inflight.free_id() else {
            tracing::warn!(topic = %p.topic, "Every packet id is in flight; a message is dropped.");
            return;
        };
        p.pkid = pkid;
        let packet = Packet::Publish(p);
        let staged = link.stage(&packet);
        let Packet::Publish(p) = packet else {
            unreachable!("staged as a publish")
        };
        match staged {
            Ok(()) => self.inflight.push(p),
            Err(e) => {
                self.inflight.release(pkid);
                tracing::warn!(topic = %p.topic, error = %e, "A message could not be sent and is dropped.");
            }
        }
    }
}

/// Takes every whole packet read: PUBACKs free their messages.
fn take_acks(link: &mut Link, inflight: &mut Inflight) -> Result<(), String> {
    while let Some(packet) = link.next_packet()? {
        match packet {
            Packet::PubAck(ack) => inflight.ack(ack.pkid),
            other => {
                return Err(format!(
                    "the broker sent a packet a publisher does not expect: {other:?}"
                ));
            }
        }
    }
    Ok(())
}

/// The messages sent and not yet acknowledged, in the order they were sent,
/// and which packet ids they hold.
struct Inflight {
    /// Acknowledged ones become `None` until everything before them is
    /// acknowledged too (a broker acknowledges in order, almost always).
    sent: VecDeque<Option<Publish>>,
    live: usize,
    window: usize,
    /// One bit per packet id in use.
    used: Box<[u64; 1024]>,
    next: u16,
}

impl Inflight {
    fn new(window: usize) -> Self {
        Self {
            sent: VecDeque::new(),
            live: 0,
            window: window.max(1),
            used: Box::new([0; 1024]),
            next: 1,
        }
    }

    fn has_room(&self) -> bool {
        self.live < self.window
    }

    fn in_use(&self, id: u16) -> bool {
        self.used[usize::from(id / 64)] & (1 << (id % 64)) != 0
    }

    /// The next packet id not in use (ids run 1..=65535), marked used.
    fn free_id(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            let id = self.next;
            self.next = if id == u16::MAX { 1 } else { id + 1 };
            if !self.in_use(id) {
                self.used[usize::from(id / 64)] |= 1 << (id % 64);
                return Some(id);
            }
        }
        None
    }

    fn release(&mut self, id: u16) {
        self.used[usize::from(id / 64)] &= !(1 << (id % 64));
    }

    fn push(&mut self, p: Publish) {
        self.live += 1;
        self.sent.push_back(Some(p));
    }

    /// The broker acknowledged `id`; an id not in flight (a duplicate
    /// acknowledgement) changes nothing.
    fn ack(&mut self, id: u16) {
        if !self.in_use(id) {
            return;
        }
        let Some(slot) = self
            .sent
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|p| p.pkid == id))
        else {
            return;
        };
        *slot = None;
        self.live -= 1;
        self.release(id);
        while matches!(self.sent.front(), Some(None)) {
            self.sent.pop_front();
        }
    }

    /// What is still unacknowledged, oldest first.
    fn unacked(&mut self) -> impl Iterator<Item = &mut Publish> {
        self.sent.iter_mut().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::link::encode;
    use bytes::BytesMut;
    use rumqttc::ConnectReturnCode;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn publish(topic: &str) -> Publish {
        message(topic.to_owned(), false, Bytes::from_static(b"{}"))
    }

    #[test]
    fn acknowledgements_in_any_order_free_their_ids_and_the_window() {
        let mut f = Inflight::new(3);
        for t in ["a", "b", "c"] {
            let mut p = publish(t);
            p.pkid = f.free_id().unwrap();
            f.push(p);
        }
        assert!(!f.has_room());
        f.ack(2);
        assert!(f.has_room());
        assert_eq!(
            f.unacked().map(|p| p.topic.clone()).collect::<Vec<_>>(),
            ["a", "c"]
        );
        f.ack(2); // a duplicate changes nothing
        assert_eq!(f.live, 2);
        f.ack(1);
        f.ack(3);
        assert_eq!(f.live, 0);
        assert!(f.sent.is_empty());
        assert!(!f.in_use(1) && !f.in_use(2) && !f.in_use(3));
    }

    #[test]
    fn packet_ids_wrap_and_skip_those_in_flight() {
        let mut f = Inflight::new(10);
        let held = f.free_id().unwrap();
        assert_eq!(held, 1);
        for _ in 2..=u16::MAX {
            let id = f.free_id().unwrap();
            f.release(id);
        }
        // Wrapped: 1 is still in flight, so 2 comes next.
        assert_eq!(f.free_id(), Some(2));
    }

    #[test]
    fn a_full_queue_has_no_room() {
        let (outbox, queue) = super::queue(Endpoint::loopback(1, "hw-out"), 2, 2);
        outbox.try_publish("t/1".into(), false, "1").unwrap();
        assert!(outbox.has_room());
        outbox.try_publish("t/2".into(), false, "2").unwrap();
        assert!(!outbox.has_room());
        // What cannot wait is taken up to twice the capacity, then refused;
        // a retained message is taken whatever waits.
        outbox.try_publish("t/3".into(), false, "3").unwrap();
        outbox.try_publish("t/4".into(), false, "4").unwrap();
        let refused = outbox.try_publish("t/5".into(), false, "5");
        assert!(matches!(refused, Err(QueueError::Full(t)) if t == "t/5"));
        outbox.try_publish("t/state".into(), true, "a").unwrap();
        outbox.try_publish("t/state".into(), true, "b").unwrap();
        assert_eq!(queue.shared.lock().pending.len(), 5);
    }

    #[tokio::test]
    async fn a_publisher_waits_for_room_until_the_loop_sends() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (outbox, mut queue) = super::queue(Endpoint::loopback(port, "hw-out"), 1, 10);
        outbox.try_publish("t/0".into(), false, "0").unwrap();
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.publish("t/1".into(), false, "1").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no room: the publisher waits");
        let broker = tokio::spawn(async move { broker_reads(&listener, false, 2, true).await });
        let mut link = queue.connect().await.unwrap();
        let Step::Queued(Some(p)) = queue.next(&mut link).await.unwrap() else {
            panic!("one is queued")
        };
        queue.send(&mut link, p).await.unwrap();
        waiting.await.unwrap().unwrap();
        let Step::Queued(Some(p)) = queue.next(&mut link).await.unwrap() else {
            panic!("the waiting one is queued now")
        };
        queue.send(&mut link, p).await.unwrap();
        let (_s, got, _) = broker.await.unwrap();
        let topics: Vec<_> = got.iter().map(|p| p.topic.as_str()).collect();
        assert_eq!(topics, ["t/0", "t/1"]);
        // With every publisher gone, the loop hears that nothing more comes.
        drop(outbox);
        loop {
            match queue.next(&mut link).await.unwrap() {
                Step::Queued(None) => break,
                Step::Read => {}
                Step::Queued(Some(p)) => panic!("nothing more was queued: {}", p.topic),
            }
        }
    }

    #[tokio::test]
    async fn publishers_hear_when_the_loop_has_gone() {
        let (outbox, queue) = super::queue(Endpoint::loopback(1, "hw-out"), 1, 1);
        outbox.try_publish("t/0".into(), false, "0").unwrap();
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.publish("t/1".into(), false, "1").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(queue);
        let closed = waiting.await.unwrap();
        assert!(matches!(closed, Err(QueueError::Closed(t)) if t == "t/1"));
        assert!(matches!(
            outbox.try_publish("t/2".into(), true, "2"),
            Err(QueueError::Closed(_))
        ));
    }

    /// A broker of our own on loopback: answers CONNECT with `session`,
    /// then returns what it reads until `n` publishes came, acknowledging
    /// them only when told.
    async fn broker_reads(
        listener: &tokio::net::TcpListener,
        session: bool,
        n: usize,
        ack: bool,
    ) -> (tokio::net::TcpStream, Vec<Publish>, rumqttc::Connect) {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let mut connect = None;
        let mut got = Vec::new();
        while got.len() < n || connect.is_none() {
            while let Some(p) = decode_any(&mut buf) {
                match p {
                    Packet::Connect(c) => {
                        let mut out = BytesMut::new();
                        let ack = rumqttc::ConnAck::new(ConnectReturnCode::Success, session);
                        encode(&Packet::ConnAck(ack), &mut out, 100).unwrap();
                        s.write_all(&out).await.unwrap();
                        connect = Some(c);
                    }
                    Packet::Publish(p) => {
                        if ack {
                            let mut out = BytesMut::new();
                            encode(&Packet::PubAck(rumqttc::PubAck::new(p.pkid)), &mut out, 100)
                                .unwrap();
                            s.write_all(&out).await.unwrap();
                        }
                        got.push(p);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            if got.len() >= n && connect.is_some() {
                break;
            }
            assert!(s.read_buf(&mut buf).await.unwrap() > 0, "closed early");
        }
        (s, got, connect.unwrap())
    }

    fn decode_any(buf: &mut BytesMut) -> Option<Packet> {
        match Packet::read(buf, 1 << 20) {
            Ok(p) => Some(p),
            Err(rumqttc::Error::InsufficientBytes(_)) => None,
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn what_the_broker_did_not_acknowledge_is_sent_again_marked_dup() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint = Endpoint {
            credentials: Some(("user".into(), "secret".into())),
            ..Endpoint::loopback(port, "hw-out")
        };
        let (outbox, mut queue) = super::queue(endpoint, 16, 2);
        for i in 0..3 {
            outbox
                .try_publish(format!("t/{i}"), i == 0, format!("{i}"))
                .unwrap();
        }
        let client = async {
            // First connection: the window of two goes out in one batch,
            // unacknowledged.
            let mut link = queue.connect().await.unwrap();
            let Step::Queued(Some(p)) = queue.next(&mut link).await.unwrap() else {
                panic!("the queue holds three")
            };
            queue.send(&mut link, p).await.unwrap();
            assert_eq!(queue.inflight.live, 2);
            // The broker drops the connection.
            assert!(queue.next(&mut link).await.is_err());
            // Second: both again, then the third once the window opens.
            let mut link = queue.connect().await.unwrap();
            assert!(link.session_present);
            loop {
                match queue.next(&mut link).await.unwrap() {
                    Step::Queued(Some(p)) => queue.send(&mut link, p).await.unwrap(),
                    Step::Queued(None) => break,
                    Step::Read => {}
                }
                if queue.inflight.live == 0 && queue.is_empty() {
                    break;
                }
            }
            queue.close(link).await.unwrap();
        };
        let broker = async {
            let (s, first, connect) = broker_reads(&listener, false, 2, false).await;
            assert!(!connect.clean_session, "a persistent session");
            assert_eq!(connect.login.map(|l| l.username).as_deref(), Some("user"));
            let topics: Vec<_> = first
                .iter()
                .map(|p| (p.topic.clone(), p.dup, p.retain))
                .collect();
            assert_eq!(
                topics,
                [("t/0".into(), false, true), ("t/1".into(), false, false)]
            );
            drop(s);
            let (_s, second, _) = broker_reads(&listener, true, 3, true).await;
            let again: Vec<_> = second
                .iter()
                .map(|p| (p.topic.clone(), p.dup, p.pkid))
                .collect();
            assert_eq!(
                again,
                [
                    ("t/0".into(), true, first[0].pkid),
                    ("t/1".into(), true, first[1].pkid),
                    ("t/2".into(), false, 3),
                ]
            );
            _s
        };
        let ((), _s) = tokio::join!(client, broker);
    }
}
