//! The MQTT adapter: topics and payloads of the wire contract (see
//! `mqtt/README.md`), the ingest loop and the publisher.

pub mod acks;
pub mod acl;
pub mod client;
pub mod ingest;
pub mod payload;
pub mod topic;

/// A broker address from the configuration: `mqtt://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
}

impl BrokerAddr {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| format!("{url:?} must look like mqtt://host:port"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{url:?} has a bad port {p:?}"))?,
            ),
            None => (rest, 1883),
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::BrokerAddr;

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
    }
}
