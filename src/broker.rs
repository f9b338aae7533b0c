//! The embedded MQTT broker for `hallwatch demo`, so the demo needs nothing
//! installed. Production uses an external broker (Mosquitto, EMQX).

use std::net::{SocketAddr, TcpListener};

use anyhow::{Context, bail};

/// Starts an embedded broker on `addr` in its own thread.
///
/// The broker has no shutdown: it lives as long as the process. It logs a
/// port already in use and carries on, so the port is checked here first.
pub fn start(addr: SocketAddr) -> anyhow::Result<()> {
    if let Err(e) = TcpListener::bind(addr) {
        bail!(
            "cannot start the demo broker on {addr}: {e} (is another demo running? pick another port with --broker-port)"
        );
    }
    let text = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 1000
max_outgoing_packet_count = 1000
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "demo"
listen = "{addr}"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 262144
    max_inflight_count = 1000
    dynamic_filters = true
"#
    );
    let config: rumqttd::Config =
        toml::from_str(&text).context("Failed to build the demo broker's configuration")?;
    std::thread::Builder::new()
        .name("demo-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "The demo broker stopped.");
            }
        })
        .context("Failed to start the demo broker's thread")?;
    // Wait until it accepts connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bail!("the demo broker did not start listening on {addr}")
}
