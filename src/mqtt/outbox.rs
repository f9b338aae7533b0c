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

use bytes::Bytes;
use rumqttc::{Packet, Publish, QoS};
use tokio::sync::mpsc;

use super::link::{Endpoint, Link};
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
    tx: mpsc::Sender<Publish>,
}

impl Outbox {
    /// Queues a QoS 1 message without waiting; an error when the queue is
    /// full (the caller decides what a dropped message costs).
    pub fn try_publish(
        &self,
        topic: String,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<(), QueueError> {
        self.tx
            .try_send(message(topic, retain, payload.into()))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(p) => QueueError::Full(p.topic),
                mpsc::error::TrySendError::Closed(p) => QueueError::Closed(p.topic),
            })
    }

    /// Whether a message can be queued now without waiting.
    pub fn has_room(&self) -> bool {
        self.tx.capacity() > 0
    }

    /// Queues a QoS 1 message, waiting for room.
    pub async fn publish(
        &self,
        topic: String,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<(), QueueError> {
        self.tx
            .send(message(topic, retain, payload.into()))
            .await
            .map_err(|e| QueueError::Closed(e.0.topic))
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
    rx: mpsc::Receiver<Publish>,
    pub endpoint: Endpoint,
    inflight: Inflight,
}

/// A queue of `capacity` messages, with at most `window` awaiting the
/// broker's PUBACK at a time.
pub fn queue(endpoint: Endpoint, capacity: usize, window: usize) -> (Outbox, Queue) {
    let (tx, rx) = mpsc::channel(capacity);
    (
        Outbox { tx },
        Queue {
            rx,
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
        let room = self.inflight.has_room();
        tokio::select! {
            m = self.rx.recv(), if room => Ok(Step::Queued(m)),
            r = link.read_more() => {
                r?;
                take_acks(link, &mut self.inflight)?;
                Ok(Step::Read)
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
                self.rx.try_recv().ok()
            } else {
                None
            };
        }
        link.flush().await
    }

    /// At stop: writes everything still queued, whatever the window, and
    /// says goodbye, so the broker keeps the session without a last will.
    pub async fn close(&mut self, mut link: Link) -> Result<(), String> {
        while let Ok(p) = self.rx.try_recv() {
            self.stage(&mut link, p);
            if link.staged() >= BATCH_BYTES {
                link.flush().await?;
            }
        }
        link.close().await
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
        let (outbox, _queue) = super::queue(Endpoint::loopback(1, "hw-out"), 2, 2);
        outbox.try_publish("t/1".into(), false, "1").unwrap();
        assert!(outbox.has_room());
        outbox.try_publish("t/2".into(), false, "2").unwrap();
        assert!(!outbox.has_room());
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
                if queue.inflight.live == 0 && queue.rx.is_empty() {
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
