//! The server's MQTT connections: options as the contract requires them, in
//! plain TCP or in TLS.
//!
//! There are two, both clients of our own over [`super::link`]. Device
//! messages arrive, and are acknowledged, on the ingest connection
//! ([`super::ingest`]); everything the server publishes (replies, window
//! states, calls, summaries, alerts) leaves on its own outgoing connection
//! ([`super::outbox`]). Apart, a broker that streams device messages
//! without pause (a backlog after a restart, a morning rush) never holds
//! the replies back, and each connection writes what it has in batches.
//! A cluster's watch connection, which only reads retained summaries, is a
//! rumqttc client.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, EventLoop, MqttOptions, TlsConfiguration, Transport};

use super::link::Endpoint;
use super::outbox::{self, Outbox, Queue};

use crate::config::broker::BrokerUrl;
use crate::config::{ConfigError, MqttSettings, tls};

/// Messages that may queue towards the broker on the outgoing connection,
/// and requests on the watch connection (rumqttc's default of 10 is far too
/// small for a burst of calls).
const REQUEST_CHANNEL: usize = 16_384;
/// The largest packet accepted. Payloads are limited to 4 KiB by the
/// contract, but a larger one must arrive whole to be refused as
/// `too_large`: a packet over this limit makes the client drop the
/// connection, and the broker would redeliver it forever. Brokers should cap
/// packets well below this (Mosquitto: `max_packet_size`; see mqtt/README.md).
const MAX_PACKET: usize = 16 * 1024 * 1024;
/// Published messages awaiting the broker's PUBACK before a connection
/// waits.
const INFLIGHT: u16 = 1000;

/// A client and the event loop that must be polled for it to do anything.
pub type Connection = (AsyncClient, EventLoop);

/// The server's two connections to the broker.
pub struct Connections {
    /// Subscribes, receives device messages and acknowledges them (after
    /// the store commit), with the configured `client_id` and a persistent
    /// session: the broker keeps what the server has not stored and
    /// redelivers it.
    pub ingest: Endpoint,
    /// Publishes, as `{client_id}-out`, with a persistent session too, so
    /// replies in flight when the connection drops are sent again: the
    /// handle publishers queue on, and the queue its loop sends from (see
    /// [`super::outbox`]).
    pub outgoing: (Outbox, Queue),
}

/// The suffix of the outgoing connection's client id.
pub const OUTGOING_SUFFIX: &str = "-out";

/// Prepares both connections, as `client_id` (`mqtt.client_id`, or a
/// partition's `{mqtt.client_id}-{partition}`). An `mqtts://` broker is reached in TLS, its
/// certificate checked against `mqtt.ca_file` (see
/// [`tls::mqtt_client_config`]); both connections share one TLS
/// configuration, so a refused certificate is logged once. The connections
/// themselves are made by their loops; this only prepares them, so errors
/// here are the configuration's.
pub fn connect(settings: &MqttSettings, client_id: &str) -> Result<Connections, ConfigError> {
    let params = Params::of(settings)?;
    let outgoing = outbox::queue(
        params.endpoint(format!("{client_id}{OUTGOING_SUFFIX}")),
        REQUEST_CHANNEL,
        usize::from(INFLIGHT),
    );
    Ok(Connections {
        ingest: params.endpoint(client_id.to_owned()),
        outgoing,
    })
}

/// With `[cluster]`: a connection that only reads what every hall
/// publishes for views above the hall (their retained summaries), as
/// `{client_id}-watch-{random}`, with a clean session: what it missed is
/// in the retained messages it gets on subscribing.
pub fn watch(settings: &MqttSettings, client_id: &str) -> Result<Connection, ConfigError> {
    let params = Params::of(settings)?;
    let mut opts = params.options(format!("{client_id}-watch-{:08x}", rand::random::<u32>()));
    opts.set_clean_session(true);
    Ok(connection(opts))
}

/// What every connection shares: the broker's address, TLS, keep-alive,
/// credentials.
struct Params {
    url: BrokerUrl,
    tls: Option<Arc<rustls::ClientConfig>>,
    keep_alive: Duration,
    credentials: Option<(String, String)>,
}

impl Params {
    fn of(settings: &MqttSettings) -> Result<Self, ConfigError> {
        let url = BrokerUrl::parse(&settings.broker).map_err(|reason| ConfigError {
            field: "mqtt.broker".into(),
            reason,
        })?;
        Ok(Self {
            url,
            tls: tls::mqtt_client_config(settings)?,
            keep_alive: Duration::from_secs(settings.keep_alive_s.max(5)),
            credentials: settings.username.clone().zip(settings.password.clone()),
        })
    }

    /// rumqttc's options for a client id (the watch connection's).
    fn options(&self, client_id: String) -> MqttOptions {
        let mut opts = MqttOptions::new(client_id, self.url.addr.host.clone(), self.url.addr.port);
        if let Some(config) = &self.tls {
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                config.clone(),
            )));
        }
        opts.set_keep_alive(self.keep_alive);
        opts.set_clean_session(false);
        opts.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        opts.set_inflight(INFLIGHT);
        if let Some((u, p)) = &self.credentials {
            opts.set_credentials(u.clone(), p.clone());
        }
        opts
    }

    /// Our own clients' endpoint for a client id.
    fn endpoint(&self, client_id: String) -> Endpoint {
        Endpoint {
            host: self.url.addr.host.clone(),
            port: self.url.addr.port,
            tls: self.tls.clone(),
            client_id,
            keep_alive: self.keep_alive,
            credentials: self.credentials.clone(),
            max_packet: MAX_PACKET,
        }
    }
}

/// A connection that sends each packet at once: calls, replies and
/// acknowledgements are small and due now, and Nagle's algorithm would
/// hold one back until the broker acknowledged the last (up to the 40 ms
/// of a delayed ACK).
fn connection(options: MqttOptions) -> Connection {
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CHANNEL);
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    (client, eventloop)
}
