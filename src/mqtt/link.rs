//! What the server's own MQTT clients share: the stream to the broker
//! (TCP, or TLS), CONNECT with a persistent session and its CONNACK,
//! packets encoded into one write buffer and written together, packets
//! decoded as they arrive, pings and the goodbye. The packets are encoded
//! and decoded by rumqttc's `mqttbytes` (MQTT 3.1.1). The clients built on
//! it are [`super::outbox`] (everything the server publishes) and
//! [`super::ingest`] (device messages and their acknowledgements).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::{ConnectReturnCode, Packet};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

/// How long opening a connection (TCP, TLS, CONNECT and CONNACK) and one
/// write may take before the connection counts as lost.
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(5);
/// Room made in the read buffer before each read, so that a large packet
/// arrives in a few reads rather than in many small ones.
const READ_ROOM: usize = 16 * 1024;

/// Where and as whom a connection is made.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: the TLS configuration the broker's certificate is
    /// checked with.
    pub tls: Option<Arc<ClientConfig>>,
    pub client_id: String,
    pub keep_alive: Duration,
    pub credentials: Option<(String, String)>,
    /// The largest packet written: a larger message to send is dropped and
    /// logged. (The largest read is given to [`Link::open`]: a larger one
    /// from the broker ends the connection.)
    pub max_packet: usize,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// An open connection, its halves apart so that a read can wait while a
/// batch is written.
pub struct Link {
    reader: ReadHalf<Box<dyn Stream>>,
    writer: WriteHalf<Box<dyn Stream>>,
    read: BytesMut,
    write: BytesMut,
    /// The largest packet taken from the broker.
    max_incoming: usize,
    /// The largest packet written.
    max_packet: usize,
    /// A PINGREQ went out and its PINGRESP has not come back.
    pinged: bool,
    /// The broker said it still had the session.
    pub session_present: bool,
}

impl Link {
    /// Opens the stream and makes the MQTT connection with a persistent
    /// session, within [`NETWORK_TIMEOUT`]; packets from the broker larger
    /// than `max_incoming` end the connection.
    pub async fn open(endpoint: &Endpoint, max_incoming: usize) -> Result<Link, String> {
        tokio::time::timeout(NETWORK_TIMEOUT, open(endpoint, max_incoming))
            .await
            .map_err(|_| format!("no answer within {} s", NETWORK_TIMEOUT.as_secs()))?
    }

    /// Bytes waiting to be written.
    pub fn staged(&self) -> usize {
        self.write.len()
    }

    /// Appends `packet` to what the next flush writes; on an error nothing
    /// is appended, so a write never carries half a packet.
    pub fn stage(&mut self, packet: &Packet) -> Result<(), String> {
        encode(packet, &mut self.write, self.max_packet)
    }

    /// Writes everything staged, in one write.
    pub async fn flush(&mut self) -> Result<(), String> {
        if self.write.is_empty() {
            return Ok(());
        }
        let write = async {
            self.writer.write_all(&self.write).await?;
            self.writer.flush().await
        };
        match tokio::time::timeout(NETWORK_TIMEOUT, write).await {
            Ok(Ok(())) => {
                self.write.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(format!("writing to the broker failed: {e}")),
            Err(_) => Err(format!(
                "the broker took nothing for {} s",
                NETWORK_TIMEOUT.as_secs()
            )),
        }
    }

    /// Waits for bytes from the broker. Cancel-safe: nothing is read
    /// unless this returns.
    pub async fn read_more(&mut self) -> Result<(), String> {
        self.read.reserve(READ_ROOM);
        match self.reader.read_buf(&mut self.read).await {
            Ok(0) => Err("the broker closed the connection".to_owned()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("reading from the broker failed: {e}")),
        }
    }

    /// The next whole packet read, if one has arrived. A PINGRESP is taken
    /// here, as the answer to the last ping.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, String> {
        loop {
            match decode(&mut self.read, self.max_incoming)? {
                Some(Packet::PingResp) => self.pinged = false,
                other => return Ok(other),
            }
        }
    }

    /// Sends a PINGREQ with whatever is staged, or fails when the last one
    /// is still unanswered (the broker or the path to it is gone).
    pub async fn ping(&mut self) -> Result<(), String> {
        if self.pinged {
            return Err("the broker did not answer a ping".to_owned());
        }
        self.keep_alive().await
    }

    /// Pings without asking for the last ping's answer: for a reader that
    /// is not reading for now (its answer waits unread), so that the
    /// broker still hears from the connection within its keep-alive.
    pub async fn keep_alive(&mut self) -> Result<(), String> {
        self.pinged = true;
        self.stage(&Packet::PingReq)?;
        self.flush().await
    }

    /// Writes what is staged and says goodbye, so the broker keeps the
    /// session without a last will.
    pub async fn close(mut self) -> Result<(), String> {
        self.stage(&Packet::Disconnect)?;
        self.flush().await?;
        let _ = self.writer.shutdown().await;
        Ok(())
    }
}

#[cfg(test)]
impl Endpoint {
    /// A plain connection, without credentials, to a test's own broker on
    /// loopback.
    pub fn loopback(port: u16, client_id: &str) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port,
            tls: None,
            client_id: client_id.into(),
            keep_alive: Duration::from_secs(30),
            credentials: None,
            max_packet: 1 << 20,
        }
    }
}

/// The clock of a connection's pings: every keep-alive interval, the first
/// one interval after the connection opened; a tick missed while the loop
/// was busy is sent late, not twice.
pub fn ping_interval(keep_alive: Duration) -> tokio::time::Interval {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping
}

async fn open(endpoint: &Endpoint, max_incoming: usize) -> Result<Link, String> {
    let Endpoint { host, port, .. } = endpoint;
    let tcp = TcpStream::connect((host.as_str(), *port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    // Calls, replies and acknowledgements are small and due now: Nagle's
    // algorithm would hold one back until the broker acknowledged the last.
    tcp.set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
    let stream: Box<dyn Stream> = match &endpoint.tls {
        None => Box::new(tcp),
        Some(config) => {
            let name = ServerName::try_from(host.clone())
                .map_err(|e| format!("{host} is not a name TLS can check: {e}"))?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}:{port} failed: {e}"))?;
            Box::new(tls)
        }
    };
    let (reader, writer) = tokio::io::split(stream);
    let mut link = Link {
        reader,
        writer,
        read: BytesMut::with_capacity(READ_ROOM),
        write: BytesMut::with_capacity(4096),
        max_incoming,
        max_packet: endpoint.max_packet,
        pinged: false,
        session_present: false,
    };
    let mut connect = rumqttc::Connect::new(endpoint.client_id.clone());
    connect.keep_alive = u16::try_from(endpoint.keep_alive.as_secs()).unwrap_or(u16::MAX);
    connect.clean_session = false;
    if let Some((user, password)) = &endpoint.credentials {
        connect.set_login(user.clone(), password.clone());
    }
    link.stage(&Packet::Connect(connect))?;
    link.flush().await?;
    let ack = loop {
        if let Some(packet) = link.next_packet()? {
            break packet;
        }
        link.read_more()
            .await
            .map_err(|e| format!("{e} before CONNACK"))?;
    };
    match ack {
        Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => {
            link.session_present = ack.session_present;
            Ok(link)
        }
        Packet::ConnAck(ack) => Err(format!("the broker refused the connection: {:?}", ack.code)),
        other => Err(format!("the broker answered CONNECT with {other:?}")),
    }
}

/// Appends `packet` to `buf`; on an error `buf` is as it was.
pub fn encode(packet: &Packet, buf: &mut BytesMut, max: usize) -> Result<(), String> {
    let before = buf.len();
    packet.write(buf, max).map(|_| ()).map_err(|e| {
        buf.truncate(before);
        format!("cannot encode a packet: {e}")
    })
}

/// The next whole packet in `buf`, if one has arrived.
pub fn decode(buf: &mut BytesMut, max: usize) -> Result<Option<Packet>, String> {
    match Packet::read(buf, max) {
        Ok(p) => Ok(Some(p)),
        Err(rumqttc::Error::InsufficientBytes(_)) => Ok(None),
        Err(e) => Err(format!("the broker sent a packet that cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_packet_waits_for_the_rest() {
        let mut whole = BytesMut::new();
        encode(&Packet::PubAck(rumqttc::PubAck::new(7)), &mut whole, 100).unwrap();
        let mut buf = BytesMut::from(&whole[..2]);
        assert!(decode(&mut buf, 100).unwrap().is_none());
        buf.extend_from_slice(&whole[2..]);
        assert!(matches!(decode(&mut buf, 100).unwrap(), Some(Packet::PubAck(a)) if a.pkid == 7));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_packet_over_the_limit_is_an_error_not_a_wait() {
        let mut buf = BytesMut::new();
        let mut p = rumqttc::Publish::new("t", rumqttc::QoS::AtLeastOnce, vec![0u8; 300]);
        p.pkid = 1;
        encode(&Packet::Publish(p), &mut buf, 1000).unwrap();
        assert!(decode(&mut buf, 100).is_err());
    }
}
