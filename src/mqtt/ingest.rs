//! The ingest connection: keeps the subscriptions, decodes each message
//! and hands it to its hall, and acknowledges what is stored. Anything that
//! cannot reach a hall is stored as a rejection, answered and acknowledged
//! here.
//!
//! It is an MQTT client of our own, over a [`MqttLink`] (a persistent
//! session, as the configured client id): everything read at once is taken
//! in order, and the acknowledgements that fell due meanwhile (see
//! [`super::acks`]) leave together in one write, where a general client
//! writes each on its own, one system call per message.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::SubscribeReasonCode;
use rumqttc::{Packet, PubAck, PubComp, PubRec, Publish, QoS, Subscribe, SubscribeFilter};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn};

use super::acks::{Ack, AckQueue};
use super::link::{Endpoint, Link as MqttLink};
use super::outbox::Room;
use super::payload::{self, Rejection};
use super::topic::{self, Inbound};
use crate::clock::Clock;
use crate::cluster::Gate;
use crate::domain::Reason;
use crate::engine::{AfterCommit, Journal, Origin, Receipt, Registry, Sent};
use crate::health::Link;
use crate::metrics::Metrics;
use crate::store::{Record, RejectionRow, WriteItem};

/// What the ingest loop needs.
pub struct Ingest {
    pub prefix: String,
    /// The broker's address as configured, for the log.
    pub broker: String,
    /// Where and as whom the connection is made.
    pub endpoint: Endpoint,
    /// Dropped when intake stops, so the hall tasks can finish.
    pub registry: Option<Registry>,
    /// Dropped when intake stops, so the writer can drain.
    pub writer: Option<Journal>,
    /// The subscriptions: every hall's topics, or a partition's halls'.
    pub filters: Vec<String>,
    /// The session's connection state, for `/healthz`.
    pub link: Arc<Link>,
    /// A partition's lease, as far as this instance knows: no message is
    /// taken and no reconnection made once it is shut, and the loop ends at
    /// once, without a goodbye, when the partition is lost.
    pub gate: Option<Arc<Gate>>,
    /// Cancelled once this loop takes no more messages (intake stopped, or
    /// the loop ended): only then may the halls it feeds be taken away, or
    /// a message already read would find no hall and be refused.
    pub taking_ended: CancellationToken,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub acks: Arc<AckQueue>,
    /// The outgoing queue's room: while it has none, no message is taken,
    /// so the broker holds them instead of the server dropping the calls
    /// and alerts they would give.
    pub room: Room,
}

/// The longest pause between reconnection attempts, so that the server is
/// back within about half a second of the broker's return (a refused
/// connection attempt costs next to nothing).
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// Filters per SUBSCRIBE packet.
const FILTERS_PER_SUBSCRIBE: usize = 100;

/// How a connection ended.
enum Ended {
    Stop,
    /// The partition was lost: no goodbye under its client id.
    Lost,
    /// The partition's lease is not surely held.
    GateShut(Arc<Gate>),
    Failed(String),
}

/// The connection's own state: its SUBSCRIBE packets' filters (by packet
/// id) until their SUBACKs come back, and the acknowledgements being
/// written.
struct Session {
    subscribing: Vec<(u16, Vec<String>)>,
    due: Vec<Ack>,
}

impl Ingest {
    /// Runs until `stop` is cancelled. Once `intake` is cancelled, new
    /// messages are left unacknowledged for the broker to redeliver, and
    /// the hall and store handles are dropped so they can drain; the
    /// connection stays up so the writer's last acknowledgements still go
    /// out.
    pub async fn run(mut self, intake: CancellationToken, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut last_error: Option<String> = None;
        let lost = self
            .gate
            .as_ref()
            .map(|g| g.lost.clone())
            .unwrap_or_default();
        let _taking = self.taking_ended.clone().drop_guard();
        loop {
            let opened = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = lost.cancelled() => return self.partition_lost(),
                _ = intake.cancelled(), if self.registry.is_some() => {
                    self.stop_taking();
                    continue;
                }
                o = MqttLink::open(&self.endpoint, self.endpoint.max_packet) => o,
            };
            let reason = match opened {
                Ok(mut conn) => {
                    self.acks.reset();
                    info!(
                        session_present = conn.session_present,
                        "Connected to the MQTT broker."
                    );
                    let mut session = Session {
                        subscribing: Vec::new(),
                        due: Vec::new(),
                    };
                    match self
                        .serve(&mut conn, &mut session, [&intake, &stop, &lost])
                        .await
                    {
                        Ended::Stop => {
                            // The last acknowledgements, then the goodbye,
                            // so the broker keeps the session without a
                            // last-will fuss.
                            let close = async {
                                self.stage_acks(&mut conn, &mut session.due)?;
                                conn.close().await
                            };
                            if let Ok(Err(e)) =
                                tokio::time::timeout(Duration::from_secs(2), close).await
                            {
                                warn!(error = %e, "Could not say goodbye to the MQTT broker.");
                            }
                            break;
                        }
                        Ended::Lost => return self.partition_lost(),
                        Ended::GateShut(gate) => {
                            // The broker resends what a session left
                            // unacknowledged only on a new connection, so
                            // leave this one (no goodbye: the session is
                            // kept), and come back once the lease is
                            // renewed, or stop when it was taken.
                            warn!(
                                "The partition's lease is not surely held; leaving its broker session until it is."
                            );
                            drop(conn);
                            self.link.set_mqtt(false);
                            gate.wait_open(&stop).await;
                            continue;
                        }
                        Ended::Failed(reason) => {
                            // A connection that took traffic is tried again
                            // at once; one the broker dropped before that
                            // (a refused subscription, another client with
                            // this id) backs off and is logged once per
                            // reason, as a refused connection is.
                            if self.link.set_mqtt(false) {
                                warn!(error = %reason, "Lost the MQTT broker; reconnecting.");
                                backoff = Duration::from_millis(100);
                                last_error = Some(reason.clone());
                            }
                            reason
                        }
                    }
                }
                Err(reason) => reason,
            };
            self.link.set_mqtt(false);
            // Said once per distinct reason, also when the broker was never
            // reached, so a wrong address or a refused login shows in the
            // log without flooding it.
            if last_error.as_deref() != Some(reason.as_str()) {
                warn!(error = %reason, broker = %self.broker, "Cannot reach the MQTT broker; retrying.");
            }
            last_error = Some(reason);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if let Some(gate) = &self.gate {
                gate.wait_open(&stop).await;
            }
        }
        info!("Ingest stopped.");
    }

    fn partition_lost(&self) {
        // The broker keeps the session for the new owner, who may hold it
        // already: no goodbye under its client id.
        info!("Partition lost: leaving its broker session to the new owner.");
        self.link.set_mqtt(false);
    }

    /// Takes no more messages: the hall and store handles go, so they can
    /// drain; what arrives from now on is left for the broker to redeliver.
    fn stop_taking(&mut self) {
        info!("Intake stopped; draining.");
        self.registry = None;
        self.writer = None;
        self.taking_ended.cancel();
    }

    /// Subscribes, then takes messages and writes acknowledgements until
    /// the connection fails, `stop` is cancelled, the partition is lost or
    /// its lease is no longer surely held; pings the broker every
    /// keep-alive interval.
    async fn serve(
        &mut self,
        conn: &mut MqttLink,
        session: &mut Session,
        [intake, stop, lost]: [&CancellationToken; 3],
    ) -> Ended {
        // Subscribe on every connection: harmless when the session was
        // resumed, and it makes the broker send the retained presence
        // messages again.
        if let Err(e) = self.subscribe(conn, session).await {
            return Ended::Failed(e);
        }
        // A resumed session still holds the subscriptions: the broker is
        // delivering already (the backlog first, ahead of the SubAcks). A
        // fresh one counts once they are back.
        if conn.session_present && self.link.set_mqtt(true) {
            info!("Session resumed: taking traffic.");
        }
        let mut ping = super::link::ping_interval(self.endpoint.keep_alive);
        let mut paused = false;
        loop {
            // Nothing is read while the outgoing queue is full, pings'
            // answers included: pings still go out, so the broker keeps
            // the connection, and the first is asked for its answer only
            // a whole interval after reading resumed.
            let room = self.room.has_room();
            if room && std::mem::take(&mut paused) {
                ping.reset();
            }
            paused |= !room;
            let result = tokio::select! {
                biased;
                _ = stop.cancelled() => return Ended::Stop,
                _ = lost.cancelled() => return Ended::Lost,
                _ = intake.cancelled(), if self.registry.is_some() => {
                    self.stop_taking();
                    continue;
                }
                _ = self.acks.due() => self.write_acks(conn, &mut session.due).await,
                _ = self.room.wait(), if !room => Ok(()),
                _ = ping.tick() => if room { conn.ping().await } else { conn.keep_alive().await },
                r = conn.read_more(), if room => match r {
                    Ok(()) => match self.take(conn, session).await {
                        Ok(Some(ended)) => return ended,
                        Ok(None) => self.write_acks(conn, &mut session.due).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = result {
                return Ended::Failed(e);
            }
        }
    }

    /// Sends the subscriptions, [`FILTERS_PER_SUBSCRIBE`] to a packet, all
    /// at QoS 1.
    async fn subscribe(&self, conn: &mut MqttLink, session: &mut Session) -> Result<(), String> {
        session.subscribing.clear();
        for (n, chunk) in self.filters.chunks(FILTERS_PER_SUBSCRIBE).enumerate() {
            let pkid = u16::try_from(n + 1).map_err(|_| "too many subscriptions".to_owned())?;
            let mut packet = Subscribe::new_many(
                chunk
                    .iter()
                    .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)),
            );
            packet.pkid = pkid;
            conn.stage(&Packet::Subscribe(packet))?;
            session.subscribing.push((pkid, chunk.to_vec()));
        }
        conn.flush().await
    }

    /// Takes every whole packet read, in order: messages go to their halls
    /// (waiting while a hall's queue is full), SUBACKs complete the
    /// subscriptions.
    async fn take(
        &mut self,
        conn: &mut MqttLink,
        session: &mut Session,
    ) -> Result<Option<Ended>, String> {
        while let Some(packet) = conn.next_packet()? {
            match packet {
                Packet::Publish(p) => {
                    if let Some(gate) = self.gate.clone().filter(|g| !g.open()) {
                        // The lease may be lost: take nothing.
                        return Ok(Some(Ended::GateShut(gate)));
                    }
                    if self.registry.is_some() {
                        self.handle(p).await;
                    }
                    // After intake stops, it is left for the broker to
                    // redeliver.
                }
                // The second half of a QoS 2 delivery (a subscription at
                // QoS 1 should never get one, but a broker may upgrade).
                Packet::PubRel(rel) => conn.stage(&Packet::PubComp(PubComp::new(rel.pkid)))?,
                Packet::SubAck(ack) => self.subscribed(session, ack.pkid, &ack.return_codes),
                other => {
                    return Err(format!(
                        "the broker sent a packet a subscriber does not expect: {other:?}"
                    ));
                }
            }
        }
        Ok(None)
    }

    /// A SUBACK: a refused filter is an error in the log (its messages will
    /// not come: the broker's ACL, most likely); once every SUBSCRIBE is
    /// answered the session takes traffic.
    fn subscribed(&self, session: &mut Session, pkid: u16, codes: &[SubscribeReasonCode]) {
        let Some(i) = session.subscribing.iter().position(|(id, _)| *id == pkid) else {
            return;
        };
        let (_, filters) = session.subscribing.swap_remove(i);
        for (filter, code) in filters.iter().zip(codes) {
            if matches!(code, SubscribeReasonCode::Failure) {
                error!(%filter, "The MQTT broker refused a subscription; its messages will not arrive. Check the broker's access rules for this client.");
            }
        }
        if session.subscribing.is_empty() && self.link.set_mqtt(true) {
            info!("Subscribed: taking traffic.");
        }
    }

    /// Writes every acknowledgement due, with whatever else is staged, in
    /// one write.
    async fn write_acks(&self, conn: &mut MqttLink, due: &mut Vec<Ack>) -> Result<(), String> {
        self.stage_acks(conn, due)?;
        conn.flush().await
    }

    fn stage_acks(&self, conn: &mut MqttLink, due: &mut Vec<Ack>) -> Result<(), String> {
        self.acks.take_due(due);
        for ack in due.iter() {
            let packet = match ack.qos {
                QoS::ExactlyOnce => Packet::PubRec(PubRec::new(ack.pkid)),
                _ => Packet::PubAck(PubAck::new(ack.pkid)),
            };
            conn.stage(&packet)?;
        }
        Ok(())
    }

    async fn handle(&self, p: Publish) {
        let received = std::time::Instant::now();
        let topic_name = p.topic.clone();
        let span = info_span!("mqtt", topic = %topic_name);
        let _guard = span.enter();
        let inbound = match topic::parse(&self.prefix, &topic_name) {
            Ok(i) => i,
            Err(e) => {
                self.metrics.received("unknown");
                let r = Rejection {
                    reason: e.reason,
                    detail: e.detail,
                    msg_id: payload::peek_id(&p.payload),
                };
                drop(_guard);
                return self.reject(None, topic_name, p, r);
            }
        };
        self.metrics.received(match inbound {
            Inbound::KioskRequest { .. } => "kiosk",
            Inbound::WindowCommand { .. } => "window",
            Inbound::Rating { .. } => "rating",
            Inbound::DeviceStatus { .. } => "status",
            Inbound::CaseEvent { .. } => "case",
        });
        let Some(hall) = self.registry.as_ref().and_then(|r| r.get(inbound.hall())) else {
            let r = Rejection {
                reason: Reason::UnknownHall,
                detail: format!("hall {:?} is not configured", inbound.hall().as_str()),
                msg_id: payload::peek_id(&p.payload),
            };
            drop(_guard);
            return self.reject(Some(inbound), topic_name, p, r);
        };
        match payload::decode_message(&inbound, &p.payload) {
            Err(r) => {
                drop(_guard);
                self.reject(Some(inbound), topic_name, p, r)
            }
            Ok(payload::Decoded { input, device_at }) => {
                // A payload a hall gets is within the contract's limit.
                let origin = Origin {
                    topic: topic_name,
                    device_at,
                    payload: p.payload.to_vec(),
                    receipt: self.ticket(&p),
                    received: Some(received),
                };
                drop(_guard);
                if let Err(receipt) = hall.device(input, origin).await {
                    // Its place in the acknowledgement line must not hold up
                    // every other hall; the broker redelivers it later.
                    warn!("A hall task has stopped; the message stays unacknowledged.");
                    if let Some(receipt) = receipt {
                        self.acks.skip(receipt);
                    }
                }
            }
        }
    }

    /// Stores, counts and answers a message no hall could take.
    fn reject(&self, inbound: Option<Inbound>, topic: String, p: Publish, r: Rejection) {
        self.metrics.rejected(r.reason);
        // A device's topic may be anything: escaped and cut, in the log and
        // in the row alike.
        let topic = super::topic::shown(&topic);
        info!(%topic, reason = r.reason.code(), detail = %r.detail, "Message rejected.");
        let records = vec![Record::Rejection(RejectionRow {
            received_at: self.clock.now(),
            topic,
            payload: payload::cut(&p.payload),
            reason: r.reason.code().to_owned(),
            detail: r.detail.clone(),
            hall: inbound.as_ref().map(|i| i.hall().to_string()),
            msg_id: r.msg_id.clone(),
        })];
        // Answered where the device and the request id can be read (contract).
        let reply = inbound
            .as_ref()
            .filter(|_| r.msg_id.is_some())
            .and_then(|i| Some((i.hall(), i.reply_to()?)))
            .map(|(hall, to)| Sent {
                hall: hall.clone(),
                payload: payload::rejection_json(&to, &r, r.reason.message()).to_string(),
                to,
            });
        let after = AfterCommit {
            receipt: self.ticket(&p),
            reply,
        };
        if let Some(writer) = &self.writer {
            writer.send(WriteItem {
                records,
                after: Some(after),
            });
        }
    }

    /// A place in the acknowledgement line, for messages that need one.
    fn ticket(&self, p: &Publish) -> Option<Receipt> {
        (p.qos != QoS::AtMostOnce).then(|| {
            self.acks.register(Ack {
                pkid: p.pkid,
                qos: p.qos,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::mqtt::link::{decode, encode};
    use bytes::BytesMut;
    use rumqttc::{ConnAck, ConnectReturnCode, SubAck};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const FILTER: &str = "hallwatch/+/kiosk/+/request";

    /// A broker of our own on loopback, one connection at a time.
    struct Broker {
        s: TcpStream,
        buf: BytesMut,
    }

    impl Broker {
        /// Accepts the server's connection, answers CONNECT and its
        /// SUBSCRIBE.
        async fn accept(listener: &TcpListener, session_present: bool) -> Broker {
            let (s, _) = listener.accept().await.unwrap();
            let mut b = Broker {
                s,
                buf: BytesMut::new(),
            };
            let Packet::Connect(c) = b.next().await else {
                panic!("CONNECT first")
            };
            assert!(!c.clean_session, "a persistent session");
            assert_eq!(c.client_id, "hw");
            b.send(Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::Success,
                session_present,
            )))
            .await;
            let Packet::Subscribe(sub) = b.next().await else {
                panic!("SUBSCRIBE on every connection")
            };
            let filters: Vec<_> = sub.filters.iter().map(|f| f.path.as_str()).collect();
            assert_eq!(filters, [FILTER]);
            b.send(Packet::SubAck(SubAck::new(
                sub.pkid,
                vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)],
            )))
            .await;
            b
        }

        async fn next(&mut self) -> Packet {
            loop {
                if let Some(p) = decode(&mut self.buf, 1 << 20).unwrap() {
                    return p;
                }
                let n =
                    tokio::time::timeout(Duration::from_secs(10), self.s.read_buf(&mut self.buf))
                        .await
                        .expect("the server said nothing for 10 s")
                        .unwrap();
                assert!(n > 0, "the server closed the connection");
            }
        }

        async fn send(&mut self, p: Packet) {
            let mut out = BytesMut::new();
            encode(&p, &mut out, 1 << 20).unwrap();
            self.s.write_all(&out).await.unwrap();
        }

        /// A kiosk's request for a hall no one serves: refused, stored and
        /// acknowledged like any other.
        async fn publish(&mut self, pkid: u16, dup: bool) {
            let mut p = Publish::new(
                "hallwatch/nowhere/kiosk/k1/request",
                QoS::AtLeastOnce,
                format!(r#"{{"id":"m{pkid}","service":"A"}}"#),
            );
            p.pkid = pkid;
            p.dup = dup;
            self.send(Packet::Publish(p)).await;
        }
    }

    /// The ingest loop as a server runs it, towards a broker of our own
    /// on `listener`, with no halls.
    fn ingest(listener: &TcpListener, journal: Journal, acks: Arc<AckQueue>, room: Room) -> Ingest {
        Ingest {
            prefix: "hallwatch".into(),
            broker: "test".into(),
            endpoint: Endpoint::loopback(listener.local_addr().unwrap().port(), "hw"),
            registry: Some(Registry::default()),
            writer: Some(journal),
            filters: vec![FILTER.into()],
            link: Arc::new(Link::default()),
            gate: None,
            taking_ended: CancellationToken::new(),
            metrics: Arc::new(Metrics::default()),
            clock: Arc::new(SystemClock),
            acks,
            room,
        }
    }

    #[tokio::test]
    async fn acknowledgements_leave_in_arrival_order_and_never_on_a_later_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (journal, mut stored) = Journal::detached();
        let acks = Arc::new(AckQueue::default());
        let (outbox, _queue) = crate::mqtt::outbox::queue(Endpoint::loopback(1, "hw-out"), 16, 1);
        let room = outbox.room();
        let ingest = ingest(&listener, journal, acks.clone(), room);
        let health = ingest.link.clone();
        health.set_outgoing(true);
        let stop = CancellationToken::new();
        let task = tokio::spawn(ingest.run(CancellationToken::new(), stop.clone()));
        let mut receipt = async || {
            stored
                .recv()
                .await
                .and_then(|item| item.after?.receipt)
                .expect("a refused message is stored with its place in line")
        };

        let mut b = Broker::accept(&listener, false).await;
        for pkid in 1..=3 {
            b.publish(pkid, false).await;
        }
        let r = [receipt().await, receipt().await, receipt().await];
        assert!(health.connected(), "subscribed: taking traffic");
        // Stored out of order: acknowledged in order, once the first is.
        acks.complete(r[2]);
        acks.complete(r[1]);
        acks.complete(r[0]);
        acks.wake();
        for pkid in 1..=3 {
            assert!(matches!(b.next().await, Packet::PubAck(a) if a.pkid == pkid));
        }

        // A message not yet stored when the connection drops.
        b.publish(4, false).await;
        let old = receipt().await;
        drop(b);
        let mut b = Broker::accept(&listener, true).await;
        // Stored now: its id belongs to the old connection, and the broker
        // sends it again on this one.
        acks.complete(old);
        acks.wake();
        b.publish(4, true).await;
        let again = receipt().await;
        acks.complete(again);
        acks.wake();
        assert!(
            matches!(b.next().await, Packet::PubAck(a) if a.pkid == 4),
            "acknowledged once, for the redelivery"
        );

        stop.cancel();
        assert!(matches!(b.next().await, Packet::Disconnect));
        task.await.unwrap();
        assert!(acks.is_empty());
    }

    /// An ingest loop whose outgoing queue is full: one message waits in
    /// a queue of one, and no connection's loop takes it.
    fn paused(
        listener: &TcpListener,
    ) -> (
        Ingest,
        tokio::sync::mpsc::UnboundedReceiver<crate::store::WriteItem<AfterCommit>>,
        crate::mqtt::outbox::Outbox,
        crate::mqtt::outbox::Queue,
    ) {
        let (journal, stored) = Journal::detached();
        let (outbox, queue) = crate::mqtt::outbox::queue(Endpoint::loopback(1, "hw-out"), 1, 1);
        outbox.try_publish("t/call".into(), false, "1").unwrap();
        let ingest = ingest(
            listener,
            journal,
            Arc::new(AckQueue::default()),
            outbox.room(),
        );
        (ingest, stored, outbox, queue)
    }

    /// Makes room in the queue, as its loop would, and waits for the
    /// message the broker sent meanwhile to be taken and stored.
    async fn resume_and_take(
        queue: &mut crate::mqtt::outbox::Queue,
        stored: &mut tokio::sync::mpsc::UnboundedReceiver<crate::store::WriteItem<AfterCommit>>,
    ) {
        assert!(queue.take_one().is_some());
        let item = tokio::time::timeout(Duration::from_secs(10), stored.recv())
            .await
            .expect("taken once the queue had room")
            .expect("stored");
        assert!(item.after.and_then(|a| a.receipt).is_some());
    }

    #[tokio::test]
    async fn a_paused_connection_keeps_pinging_and_survives_the_unread_answers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut ingest, mut stored, _outbox, mut queue) = paused(&listener);
        ingest.endpoint.keep_alive = Duration::from_millis(50);
        let stop = CancellationToken::new();
        let task = tokio::spawn(ingest.run(CancellationToken::new(), stop.clone()));
        let mut b = Broker::accept(&listener, false).await;
        // Paused: it reads nothing, yet the broker hears pings, several
        // keep-alive intervals running; each is answered, unread.
        for _ in 0..3 {
            assert!(matches!(b.next().await, Packet::PingReq));
            b.send(Packet::PingResp).await;
        }
        b.publish(1, false).await;
        // Room again: the answers and the message are read on the same
        // connection, and the next ping is no false alarm.
        resume_and_take(&mut queue, &mut stored).await;
        // Pinged on as before (a connection given up would close this one).
        for _ in 0..3 {
            assert!(matches!(b.next().await, Packet::PingReq));
            b.send(Packet::PingResp).await;
        }
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn no_message_is_taken_while_the_outgoing_queue_is_full() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (ingest, mut stored, _outbox, mut queue) = paused(&listener);
        let stop = CancellationToken::new();
        let task = tokio::spawn(ingest.run(CancellationToken::new(), stop.clone()));
        let mut b = Broker::accept(&listener, false).await;
        b.publish(1, false).await;
        let waited = tokio::time::timeout(Duration::from_millis(200), stored.recv()).await;
        assert!(waited.is_err(), "taken while the outgoing queue was full");
        // The connection's loop takes the waiting message: room again.
        resume_and_take(&mut queue, &mut stored).await;
        stop.cancel();
        task.await.unwrap();
    }
}
