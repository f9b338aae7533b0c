//! Cross-site requests: which web pages may use a browser's login.
//!
//! The session cookie is `SameSite=Strict`, but a "site" is a registrable
//! domain: a page on another port or subdomain of it is same-site and gets
//! the cookie. So a request that the cookie authenticates and that changes
//! something, and every WebSocket handshake, must carry an `Origin` that
//! is one of `[server] public_origins` (or, with none configured, that
//! names the host the request was sent to). Bearer-token clients are
//! back-office programs: they send no `Origin` and are not affected.

use actix_web::HttpRequest;
use actix_web::http::{Method, header};

/// A web origin: scheme, host and port, as browsers compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    /// Lower case; an IPv6 host keeps its brackets.
    host: String,
    port: u16,
}

impl Origin {
    /// `https://hall.example.gov.cn` or `http://10.0.0.5:8080`: a scheme
    /// (`http` or `https`) and a host, an optional port, nothing else.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not an origin like https://hall.example.gov.cn \
                 (scheme and host, an optional port, no path)"
            )
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad()),
        };
        let (host, port) = split_host_port(rest).ok_or_else(bad)?;
        Ok(Self {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }

    /// Whether this origin names `authority`, a `Host` header's value. A
    /// host without a port is on the default port of the origin's scheme:
    /// behind a proxy that terminates TLS the server cannot tell which.
    fn names(&self, authority: &str) -> bool {
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        split_host_port(authority).is_some_and(|(host, port)| {
            host == self.host && port.unwrap_or(default_port) == self.port
        })
    }
}

/// `host[:port]`, the host lower-cased; `None` when it has a path, user
/// information or anything else an origin cannot hold.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if s.is_empty() || s.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{v6}]"), port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (s.to_owned(), None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// The configured public origins.
#[derive(Debug, Clone, Default)]
pub struct Origins(Vec<Origin>);

impl Origins {
    /// From `[server] public_origins`.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        list.iter()
            .map(|s| Origin::parse(s))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether a request with this `Origin` value, sent to `host`, comes
    /// from one of our own pages.
    pub fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        let Ok(origin) = Origin::parse(origin.trim()) else {
            // Including "null": sandboxed frames, file: pages, redirects.
            return false;
        };
        if self.0.is_empty() {
            host.is_some_and(|h| origin.names(h))
        } else {
            self.0.contains(&origin)
        }
    }
}

/// How a request proved who it is, for [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer`, or `?token=` on a handshake.
    Token,
    /// The session cookie a browser sends by itself.
    Cookie,
    /// Nothing: a public channel, or the login itself.
    None,
}

/// Whether `req` may go on, as the module documentation says: a WebSocket
/// handshake or a request that changes something, when it carries an
/// `Origin`, must come from one of ours; and a cookie-authenticated request
/// that changes something must carry one (or say `Sec-Fetch-Site:
/// same-origin`), since without it nothing shows where it came from.
pub fn check(req: &HttpRequest, origins: &Origins, credential: Credential) -> bool {
    let handshake = super::auth::is_websocket_handshake(req);
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe && !handshake {
        return true;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match req.headers().get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => origins.allows(origin, host),
        Some(Err(_)) => false,
        None if credential == Credential::Cookie && !handshake => req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("same-origin")),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn origins_parse_as_browsers_write_them() {
        let o = Origin::parse("HTTPS://Hall.Example.gov.cn").unwrap();
        assert_eq!(o, Origin::parse("https://hall.example.gov.cn:443").unwrap());
        assert_ne!(o, Origin::parse("http://hall.example.gov.cn").unwrap());
        assert!(Origin::parse("http://[::1]:8080").is_ok());
        for bad in [
            "hall.example.gov.cn",
            "ftp://x",
            "https://x/path",
            "https://u@x",
            "https://x:0",
            "https://x:99999",
            "https://",
            "null",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn without_a_list_the_origin_must_name_the_host() {
        let none = Origins::default();
        assert!(none.allows("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(none.allows("https://hall.gov.cn", Some("hall.gov.cn")));
        assert!(none.allows("http://hall.gov.cn", Some("hall.gov.cn:80")));
        // Another port of the same host is another origin.
        assert!(!none.allows("http://127.0.0.1:9999", Some("127.0.0.1:8080")));
        assert!(!none.allows("http://hall.gov.cn:9999", Some("hall.gov.cn")));
        assert!(!none.allows("http://evil.example", Some("127.0.0.1:8080")));
        assert!(!none.allows("null", Some("127.0.0.1:8080")));
        assert!(!none.allows("http://127.0.0.1:8080", None));
    }

    #[test]
    fn a_list_allows_only_its_origins() {
        let list = Origins::parse(&["https://hall.gov.cn".into()]).unwrap();
        assert!(list.allows("https://hall.gov.cn", Some("10.0.0.1:8080")));
        assert!(!list.allows("https://a.hall.gov.cn", Some("a.hall.gov.cn")));
        assert!(!list.allows("http://hall.gov.cn", Some("hall.gov.cn")));
    }

    #[test]
    fn cookies_need_an_origin_to_change_things_tokens_do_not() {
        let none = Origins::default();
        let post = || {
            TestRequest::post()
                .uri("/api/alerts/x/ack")
                .insert_header(("host", "h:80"))
        };
        let ok = |r: TestRequest, c| check(&r.to_http_request(), &none, c);
        assert!(!ok(post(), Credential::Cookie));
        assert!(ok(post(), Credential::Token));
        assert!(ok(
            post().insert_header(("sec-fetch-site", "same-origin")),
            Credential::Cookie
        ));
        assert!(!ok(
            post().insert_header(("sec-fetch-site", "same-site")),
            Credential::Cookie
        ));
        assert!(ok(
            post().insert_header(("origin", "http://h")),
            Credential::Cookie
        ));
        assert!(!ok(
            post().insert_header(("origin", "http://evil.example")),
            Credential::Cookie
        ));
        // A token does not excuse a foreign page.
        assert!(!ok(
            post().insert_header(("origin", "http://evil.example")),
            Credential::Token
        ));
        let get = TestRequest::get()
            .uri("/api/me")
            .insert_header(("origin", "http://evil.example"));
        assert!(ok(get, Credential::Cookie));
        let ws = || {
            TestRequest::get()
                .uri("/ws/alerts")
                .insert_header(("host", "h:80"))
                .insert_header(("upgrade", "websocket"))
        };
        assert!(!ok(
            ws().insert_header(("origin", "http://evil.example")),
            Credential::Cookie
        ));
        assert!(ok(
            ws().insert_header(("origin", "http://h:80")),
            Credential::Cookie
        ));
        assert!(ok(ws(), Credential::Token));
        assert!(ok(ws(), Credential::Cookie));
    }
}
