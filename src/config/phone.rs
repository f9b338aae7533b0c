//! `[phone]`: citizens' phone pages of their tickets (`/t/{token}`).

use serde::Deserialize;

use super::{ConfigError, ServerSettings, err};

/// `[phone]` as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneSettings {
    /// Where phones on mobile data reach the ticket pages, as the kiosk
    /// prints it in the QR code: `https://q.example.gov.cn` (scheme, host,
    /// and port when not the default; no path). Default: the server's own
    /// `listen` address, which phones reach only on the hall's network.
    pub public_url: Option<String>,
    /// A second address that serves the ticket pages and nothing else, for
    /// a listener or host exposed to the internet while the screens and
    /// the API stay on the intranet. Default: none (the pages are served
    /// on `server.listen` with everything else).
    pub listen: Option<String>,
    /// A ticket's page tells the citizen to come back when at most this
    /// many are ahead (1 to 50). Default 3.
    pub near_ahead: u32,
}

impl Default for PhoneSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            listen: None,
            near_ahead: 3,
        }
    }
}

/// `[phone]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `public_url` without a trailing `/`, when configured.
    pub public_url: Option<String>,
    /// The pages' own listener, when configured.
    pub listen: Option<std::net::SocketAddr>,
    pub near_ahead: usize,
}

impl PhoneSettings {
    /// Checks the section; the page URL defaults to the server's address.
    pub fn resolve(&self, server: &ServerSettings) -> Result<Phone, ConfigError> {
        let public_url = self
            .public_url
            .as_deref()
            .map(|url| public_url(url).map_err(|r| err("phone.public_url", r)))
            .transpose()?;
        let listen = self
            .listen
            .as_deref()
            .map(|l| {
                l.parse::<std::net::SocketAddr>()
                    .map_err(|_| err("phone.listen", "must be an address like 0.0.0.0:8443"))
            })
            .transpose()?;
        if listen.is_some_and(|l| l.to_string() == server.listen) {
            return Err(err(
                "phone.listen",
                "must differ from server.listen (the pages are served there already)",
            ));
        }
        if !(1..=50).contains(&self.near_ahead) {
            return Err(err("phone.near_ahead", "must be 1 to 50"));
        }
        Ok(Phone {
            public_url,
            listen,
            near_ahead: self.near_ahead as usize,
        })
    }
}

impl Phone {
    /// What a ticket's token is appended to: the public URL and `/t/`, or
    /// by default the address the server listens on (`bound`, its port
    /// known once bound).
    pub fn page_base(&self, bound: std::net::SocketAddr, tls: bool) -> String {
        match &self.public_url {
            Some(url) => format!("{url}/t/"),
            None => {
                let scheme = if tls { "https" } else { "http" };
                format!("{scheme}://{bound}/t/")
            }
        }
    }
}

/// `https://host[:port]` without a path, query or fragment; a trailing `/`
/// is dropped.
fn public_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with https:// or http://"))?;
    if rest.is_empty()
        || rest.contains(['/', '?', '#', '@', ' '])
        || rest.chars().any(char::is_control)
    {
        return Err(format!(
            "{url:?} must be a scheme and a host (and port), like \"https://q.example.gov.cn\""
        ));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_url_is_the_public_one_or_the_servers_own() {
        let server = ServerSettings::default();
        let bound = "127.0.0.1:8080".parse().unwrap();
        let mut s = PhoneSettings::default();
        assert_eq!(
            s.resolve(&server).unwrap().page_base(bound, false),
            "http://127.0.0.1:8080/t/"
        );
        assert_eq!(
            s.resolve(&server).unwrap().page_base(bound, true),
            "https://127.0.0.1:8080/t/"
        );
        s.public_url = Some("https://q.example.gov.cn/".into());
        assert_eq!(
            s.resolve(&server).unwrap().page_base(bound, false),
            "https://q.example.gov.cn/t/"
        );
        for bad in [
            "q.example.gov.cn",
            "https://q.example.gov.cn/queue",
            "https://",
        ] {
            s.public_url = Some(bad.into());
            let e = s.resolve(&server).unwrap_err();
            assert_eq!(e.field, "phone.public_url", "{bad}");
        }
        s.public_url = None;
        s.listen = Some("127.0.0.1:8080".into());
        assert_eq!(s.resolve(&server).unwrap_err().field, "phone.listen");
        s.listen = Some("nowhere".into());
        assert_eq!(s.resolve(&server).unwrap_err().field, "phone.listen");
        s.listen = None;
        s.near_ahead = 0;
        assert_eq!(s.resolve(&server).unwrap_err().field, "phone.near_ahead");
    }
}
