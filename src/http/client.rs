//! Who a request comes from: the one answer every limiter, log line and
//! cookie decision uses.
//!
//! A request's client is its socket's address, unless that address is a
//! configured trusted proxy (`[server] trusted_proxies`): then it is the
//! last address in `X-Forwarded-For` that is not itself a trusted proxy.
//! `X-Forwarded-For` from anyone else is ignored, since any client can
//! write it. An IPv6 client usually holds a whole /64, so that is its key.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;

/// An address or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `10.0.0.5`, `10.0.0.0/8`, `::1` or `fd00::/8`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address like 10.0.0.5 or 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self {
            addr: unmap(addr),
            prefix,
        })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The configured trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct Proxies(Vec<Network>);

impl Proxies {
    /// From `[server] trusted_proxies`, already validated by the settings.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        list.iter()
            .map(|s| Network::parse(s))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client's address, as the module documentation says.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer.map(unmap) else {
            return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        };
        if !self.trusts(peer) {
            return peer;
        }
        // Each proxy appends the address it got the request from: read from
        // the right, past our own proxies, to the first address we did not
        // put there. Several headers read as one list, in order.
        let mut hops: Vec<IpAddr> = Vec::new();
        for v in headers.get_all("x-forwarded-for") {
            let Ok(v) = v.to_str() else { return peer };
            for hop in v.split(',') {
                match parse_hop(hop) {
                    Some(ip) => hops.push(ip),
                    // A list we cannot read names nobody reliably.
                    None => return peer,
                }
            }
        }
        hops.iter()
            .rev()
            .copied()
            .find(|ip| !self.trusts(*ip))
            .or_else(|| hops.first().copied())
            .unwrap_or(peer)
    }

    /// Whether the browser reached us over HTTPS: the server's own TLS, or a
    /// trusted proxy in front of it (unless it says `X-Forwarded-Proto: http`).
    pub fn https(&self, tls: bool, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
        if tls {
            return true;
        }
        let Some(peer) = peer else { return false };
        if !self.trusts(peer) {
            return false;
        }
        !headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("http"))
    }
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .map(unmap)
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key limiters count a client by: its address, an IPv6 one cut to /64.
pub fn key(ip: IpAddr) -> IpAddr {
    match unmap(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The client of `req` as every limiter keys it, with the app's proxies.
pub fn client_key(req: &HttpRequest) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip());
    let ip = match req.app_data::<actix_web::web::Data<super::AppState>>() {
        Some(state) => state.auth.proxies.client_ip(peer, req.headers()),
        None => peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), unmap),
    };
    key(ip)
}

/// Whether `req` reached us over HTTPS, with the app's proxies.
pub fn is_https(req: &HttpRequest) -> bool {
    let tls = req.app_config().secure();
    let peer = req.peer_addr().map(|a| a.ip());
    match req.app_data::<actix_web::web::Data<super::AppState>>() {
        Some(state) => state.auth.proxies.https(tls, peer, req.headers()),
        None => tls,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(ip("10.200.1.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        let one = Network::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("proxy.local").is_err());
        assert!(Network::parse("10.0.0.0/x").is_err());
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let p = Proxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let spoofed = headers(&["203.0.113.9"]);
        // From anyone else, the header is ignored.
        assert_eq!(
            p.client_ip(Some(ip("198.51.100.1")), &spoofed),
            ip("198.51.100.1")
        );
        // Through the proxy, the address it saw.
        assert_eq!(
            p.client_ip(Some(ip("10.0.0.5")), &spoofed),
            ip("203.0.113.9")
        );
        // A client's own forged entries sit left of the real one.
        let chain = headers(&["1.2.3.4, 203.0.113.9", "10.0.0.6"]);
        assert_eq!(p.client_ip(Some(ip("10.0.0.5")), &chain), ip("203.0.113.9"));
        // Proxy without the header: the proxy is the client.
        assert_eq!(
            p.client_ip(Some(ip("10.0.0.5")), &headers(&[])),
            ip("10.0.0.5")
        );
        // A list that cannot be read names nobody.
        let junk = headers(&["203.0.113.9, not-an-ip"]);
        assert_eq!(p.client_ip(Some(ip("10.0.0.5")), &junk), ip("10.0.0.5"));
        // Nothing configured: nobody is trusted.
        let none = Proxies::default();
        assert_eq!(
            none.client_ip(Some(ip("10.0.0.5")), &spoofed),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn https_is_the_servers_tls_or_a_trusted_proxy() {
        let p = Proxies::parse(&["10.0.0.5".into()]).unwrap();
        let mut h = HeaderMap::new();
        assert!(p.https(true, Some(ip("198.51.100.1")), &h));
        assert!(!p.https(false, Some(ip("198.51.100.1")), &h));
        assert!(p.https(false, Some(ip("10.0.0.5")), &h));
        h.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("http"),
        );
        assert!(!p.https(false, Some(ip("10.0.0.5")), &h));
        // Only a trusted proxy's word counts.
        h.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("https"),
        );
        assert!(!p.https(false, Some(ip("198.51.100.1")), &h));
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            key(ip("2001:db8:1:2:aaaa::1")),
            key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_eq!(key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
