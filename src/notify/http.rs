//! One HTTP/1.1 POST to a channel's receiver, over TLS for `https://`,
//! within a time limit: the answer's status and body, or what went wrong
//! in words a supervisor can act on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::Request;

/// The most of an answer's body that is read.
const MAX_ANSWER: usize = 64 * 1024;

/// A task stopped when this is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Posts requests; cheap to clone.
#[derive(Clone)]
pub struct Client {
    tls: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client(timeout {:?})", self.timeout)
    }
}

impl Client {
    pub fn new(tls: Arc<ClientConfig>, timeout: Duration) -> Self {
        Self {
            tls: TlsConnector::from(tls),
            timeout,
        }
    }

    /// Sends `req`; an error when no answer came within the time limit or
    /// the connection failed.
    pub async fn post(&self, req: &Request) -> Result<Answer, String> {
        match tokio::time::timeout(self.timeout, self.post_now(req)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {} s", self.timeout.as_secs_f64())),
        }
    }

    async fn post_now(&self, req: &Request) -> Result<Answer, String> {
        let uri: Uri = req
            .url
            .parse()
            .map_err(|e| format!("bad address {}: {e}", redact(&req.url)))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the address must start with http:// or https://".to_owned()),
        };
        let host = uri
            .host()
            .ok_or_else(|| "the address has no host".to_owned())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|e| format!("{host} is not a name TLS can check: {e}"))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}:{port} failed: {e}"))?;
            exchange(tls, &uri, req).await
        } else {
            exchange(tcp, &uri, req).await
        }
    }
}

async fn exchange<S>(io: S, uri: &Uri, req: &Request) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    // Stopped however this ends: an answer, an error, or the time limit
    // dropping this future.
    let _conn = AbortOnDrop(tokio::spawn(conn));
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or("", |a| a.as_str());
    let mut builder = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "hallwatch")
        .header(hyper::header::CONNECTION, "close");
    for (name, value) in &req.headers {
        builder = builder.header(*name, value);
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body.clone())))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let answer = sender
        .send_request(request)
        .await
        .map_err(|e| format!("the receiver closed the connection: {e}"))?;
    let status = answer.status().as_u16();
    let body = Limited::new(answer.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// An address as logs and error messages may show it: its scheme, host and
/// port, never its path or query, which hold robots' access tokens.
pub fn redact(url: &str) -> String {
    match url.parse::<Uri>() {
        Ok(u) => {
            let host = u.host().unwrap_or("?");
            match (u.scheme_str(), u.port_u16()) {
                (Some(scheme), Some(port)) => format!("{scheme}://{host}:{port}"),
                (Some(scheme), None) => format!("{scheme}://{host}"),
                _ => host.to_owned(),
            }
        }
        Err(_) => "(an address that cannot be read)".to_owned(),
    }
}
