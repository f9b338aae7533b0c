//! The broker's address as `[mqtt] broker` and the simulator's `--broker`
//! write it.

/// A broker's host and port, reached without TLS: what the simulator and
/// the demo connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
}

impl BrokerAddr {
    /// `mqtt://host:port` or `tcp://host:port`. A TLS address is refused:
    /// only the server's own connection speaks TLS (see [`BrokerUrl`]).
    pub fn parse(url: &str) -> Result<Self, String> {
        let parsed = BrokerUrl::parse(url)?;
        if parsed.tls {
            return Err(format!(
                "{url:?} is a TLS address; this connection has no TLS: give it a plain listener (mqtt://host:port)"
            ));
        }
        Ok(parsed.addr)
    }
}

/// The broker of `[mqtt] broker`: `mqtt://host:port` (or `tcp://`, port
/// 1883 by default) in plain TCP, `mqtts://host:port` (port 8883 by
/// default) in TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub addr: BrokerAddr,
    pub tls: bool,
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (rest, tls) = if let Some(r) = url.strip_prefix("mqtts://") {
            (r, true)
        } else if let Some(r) = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
        {
            (r, false)
        } else {
            return Err(format!(
                "{url:?} must look like mqtt://host:port, or mqtts://host:port for TLS"
            ));
        };
        let rest = rest.trim_end_matches('/');
        // An IPv6 host is bracketed: [::1]:8883.
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) => match p.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None => return Err(format!("{url:?} has text after the host")),
                },
                None => return Err(format!("{url:?} has an unclosed [ in its host")),
            },
            None => match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            },
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{url:?} has a bad port {p:?}"))?,
            None if tls => 8883,
            None => 1883,
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Self {
            addr: BrokerAddr {
                host: host.to_owned(),
                port,
            },
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{BrokerAddr, BrokerUrl};

    #[test]
    fn broker_urls() {
        assert_eq!(
            BrokerAddr::parse("mqtt://127.0.0.1:1884").unwrap(),
            BrokerAddr {
                host: "127.0.0.1".into(),
                port: 1884
            }
        );
        assert_eq!(BrokerAddr::parse("mqtt://broker").unwrap().port, 1883);
        assert!(BrokerAddr::parse("http://x:1").is_err());
        assert!(BrokerAddr::parse("mqtt://x:99999").is_err());
        assert!(BrokerAddr::parse("mqtt://:1883").is_err());
        assert!(BrokerAddr::parse("mqtt://x:0").is_err());
    }

    #[test]
    fn tls_broker_urls_default_to_8883() {
        let u = BrokerUrl::parse("mqtts://broker.example").unwrap();
        assert_eq!(
            (u.addr.host.as_str(), u.addr.port, u.tls),
            ("broker.example", 8883, true)
        );
        let u = BrokerUrl::parse("mqtts://10.0.0.5:18883/").unwrap();
        assert_eq!(
            (u.addr.host.as_str(), u.addr.port, u.tls),
            ("10.0.0.5", 18883, true)
        );
        let u = BrokerUrl::parse("mqtt://broker").unwrap();
        assert_eq!((u.addr.port, u.tls), (1883, false));
        assert!(BrokerUrl::parse("mqtts://:8883").is_err());
        assert!(BrokerUrl::parse("ssl://broker:8883").is_err());
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let u = BrokerUrl::parse("mqtts://[::1]").unwrap();
        assert_eq!((u.addr.host.as_str(), u.addr.port), ("::1", 8883));
        let u = BrokerUrl::parse("mqtt://[fd00::7]:1884").unwrap();
        assert_eq!((u.addr.host.as_str(), u.addr.port), ("fd00::7", 1884));
        assert!(BrokerUrl::parse("mqtt://[::1").is_err());
        assert!(BrokerUrl::parse("mqtt://[::1]x").is_err());
    }

    #[test]
    fn the_simulator_refuses_a_tls_address_rather_than_speak_plain_tcp_to_it() {
        let e = BrokerAddr::parse("mqtts://broker:8883").unwrap_err();
        assert!(e.contains("TLS"), "{e}");
    }
}
