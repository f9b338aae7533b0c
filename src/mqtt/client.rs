//! The server's MQTT connection: options as the contract requires them.

use std::time::Duration;

use rumqttc::{AsyncClient, EventLoop, MqttOptions};

use super::BrokerAddr;
use crate::config::MqttSettings;

/// Requests (publishes, acks, subscriptions) that may queue towards the
/// broker. rumqttc's default of 10 is far too small for a burst of calls.
const REQUEST_CHANNEL: usize = 16_384;
/// The largest packet accepted. Payloads are limited to 4 KiB by the
/// contract, but a larger one must arrive whole to be refused as
/// `too_large`: a packet over this limit makes the client drop the
/// connection, and the broker would redeliver it forever. Brokers should cap
/// packets well below this (Mosquitto: `max_packet_size`; see mqtt/README.md).
const MAX_PACKET: usize = 16 * 1024 * 1024;

/// Connects the server with a persistent session and manual acknowledgements:
/// the broker keeps what the server has not stored and redelivers it.
pub fn connect(settings: &MqttSettings) -> Result<(AsyncClient, EventLoop), String> {
    let addr = BrokerAddr::parse(&settings.broker)?;
    let mut opts = MqttOptions::new(settings.client_id.clone(), addr.host, addr.port);
    opts.set_keep_alive(Duration::from_secs(settings.keep_alive_s.max(5)));
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    opts.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    opts.set_inflight(1000);
    if let (Some(u), Some(p)) = (&settings.username, &settings.password) {
        opts.set_credentials(u.clone(), p.clone());
    }
    Ok(AsyncClient::new(opts, REQUEST_CHANNEL))
}
