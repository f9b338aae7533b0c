//! With `[cluster]`, any instance serves any hall: a request for a hall
//! another instance runs is forwarded to it, a WebSocket relayed frame by
//! frame. The instance running the hall answers exactly as if the client
//! had reached it: it checks the token, the origin and the budget itself,
//! and sends the snapshot and frames from the hall's own task.
//!
//! Which requests concern one hall: `/api/halls/{hall}/…`,
//! `/ws/display/{hall}`, `/ws/dashboard/{hall}`, `/ws/alerts?hall=…` (and
//! `/api/alerts` and `/api/deliveries` with `hall`), an alert's action
//! `/api/alerts/{id}/{op}` (an alert's id starts with its hall's), and a
//! ticket's phone page `/t/{token}…`, which names no hall: it is asked of
//! each other instance until one knows the ticket. The alerts and the
//! monthly 考评 of a token's whole scope go to the instance running its
//! halls when one does; a console over halls that several instances run is
//! merged from each ([`super::console_fan_in`]).
//!
//! A forwarded request carries `X-Forwarded-For` with this instance's
//! peer appended, as a proxy's does (the instances' addresses belong in
//! `[server] trusted_proxies`), and a mark that keeps it from being
//! forwarded again. A hall whose partition has no live owner (it is
//! moving) gets 503 with `Retry-After: 1`; a screen's WebSocket relayed from
//! an owner that died is closed with 1012 (service restart), so the screen
//! reconnects, reaches the new owner and gets a fresh snapshot.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tracing::{debug, info};

use super::{AppState, ErrorBody, MAX_BODY};
use crate::cluster::{Directory, Whereabouts};
use crate::domain::TicketToken;

/// Marks a forwarded request: it is answered where it lands, never
/// forwarded again.
const FORWARDED: &str = "x-hallwatch-forwarded";

/// The longest a forward waits for the connection to the instance running
/// the hall: a dead machine's address may drop packets rather than refuse.
const CONNECT_WITHIN: Duration = Duration::from_secs(2);

/// The longest a forwarded request waits for its answer.
pub(super) const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// The largest answer forwarded (the largest real one, a day's cases of a
/// busy hall, is well under it).
const MAX_ANSWER: usize = 8 * 1024 * 1024;

/// What a request concerns.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// One hall, named in the path or query.
    Hall(String),
    /// An alert, whose id starts with its hall's.
    Alert(String),
    /// A ticket's phone page, by its token.
    Ticket(String),
    /// Every hall in the token's scope, for a token of these roles (the
    /// alerts console, their history, the deliveries; the monthly 考评).
    Scope(&'static [crate::config::Role]),
    /// Everything else: served here.
    Here,
}

fn target(path: &str, query: &str) -> Target {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let query_hall = || {
        web::Query::<std::collections::HashMap<String, String>>::from_query(query)
            .ok()
            .and_then(|q| q.get("hall").cloned())
    };
    match segments.as_slice() {
        ["api", "halls", hall, _, ..] => Target::Hall((*hall).to_owned()),
        ["ws", "display" | "dashboard", hall] => Target::Hall((*hall).to_owned()),
        ["ws", "alerts"] | ["api", "alerts" | "deliveries"] => {
            query_hall().map_or(Target::Scope(super::auth::ALERTS), Target::Hall)
        }
        ["api", "appraisal"] => Target::Scope(super::auth::ANY_ROLE),
        ["api", "alerts", id, _] => Target::Alert((*id).to_owned()),
        ["t", "-", ..] => Target::Here,
        ["t", token, ..] if !token.is_empty() => Target::Ticket((*token).to_owned()),
        _ => Target::Here,
    }
}

/// For `App::wrap(from_fn(forward))`, inside the guard: a request the
/// guard refused is not forwarded.
pub async fn forward(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let here =
        |req: ServiceRequest| async move { next.call(req).await.map(|r| r.map_into_boxed_body()) };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return here(req).await;
    };
    let Some(directory) = state.directory.clone() else {
        return here(req).await;
    };
    if req.headers().contains_key(FORWARDED) {
        return here(req).await;
    }
    let hall = match target(req.path(), req.query_string()) {
        Target::Here => return here(req).await,
        Target::Hall(hall) => hall,
        Target::Alert(id) => match directory.hall_of_alert(&id) {
            Some(hall) => hall,
            None => return here(req).await,
        },
        Target::Scope(roles) => match owners_of_scope(&req, &state, &directory, roles).await {
            Err(refused) => return Ok(req.into_response(refused)),
            Ok(Owners::Here) => return here(req).await,
            Ok(Owners::Moving) => return Ok(req.into_response(moving())),
            Ok(Owners::One(address)) => return to_owner(req, &address).await,
            // A console over halls that several instances run: one console
            // of each, merged. Lists are answered here, for the halls here.
            Ok(Owners::Many(addresses)) if req.headers().contains_key(header::UPGRADE) => {
                return super::console_fan_in::open(req, addresses).await;
            }
            Ok(Owners::Many(_)) => return here(req).await,
        },
        Target::Ticket(token) => {
            let local = TicketToken::parse(&token)
                .ok()
                .and_then(|t| state.registry.hall_of_page(&t));
            if local.is_some() {
                return here(req).await;
            }
            return ticket_elsewhere(req, &directory, here).await;
        }
    };
    if state.registry.get_str(&hall).is_some() {
        return here(req).await;
    }
    match directory.whereabouts(&hall) {
        // Not a hall of the configuration: the handler's 404.
        Whereabouts::Unknown => here(req).await,
        // Held here but not running yet, or handed over a moment ago, or
        // between owners.
        Whereabouts::Here | Whereabouts::Moving => Ok(req.into_response(moving())),
        Whereabouts::At(address) => to_owner(req, &address).await,
    }
}

/// Who runs the halls of a token's scope.
enum Owners {
    /// This instance, all of them (or the scope is empty).
    Here,
    /// Some have no owner now.
    Moving,
    /// One other instance, all of them.
    One(String),
    /// Several instances, this one perhaps among them (by its address).
    Many(Vec<String>),
}

/// For a view of every hall in a token's scope (the supervisors' console,
/// the alert lists, the 考评): which instances run them. A token refused
/// is answered here, as the handler would.
async fn owners_of_scope(
    req: &ServiceRequest,
    state: &AppState,
    directory: &Directory,
    roles: &[crate::config::Role],
) -> Result<Owners, HttpResponse> {
    let who = super::auth::require(req.request(), roles, None)
        .await
        .map_err(|e| actix_web::ResponseError::error_response(&e))?;
    let mut addresses: Vec<String> = Vec::new();
    for (_, hall) in directory.partitions_of(|h| who.may_see(h)) {
        let address = if state.registry.get_str(&hall).is_some() {
            directory.me.clone()
        } else {
            match directory.whereabouts(&hall) {
                Whereabouts::At(a) => a,
                Whereabouts::Unknown => continue,
                Whereabouts::Here | Whereabouts::Moving => return Ok(Owners::Moving),
            }
        };
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    Ok(match addresses.as_slice() {
        [] => Owners::Here,
        [one] if *one == directory.me => Owners::Here,
        [one] => Owners::One(one.clone()),
        _ => Owners::Many(addresses),
    })
}

/// The answer while a hall has no owner to forward to.
pub(super) fn moving() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, "1"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ErrorBody::new(
            "unavailable",
            "该大厅正在切换到另一台服务器，请稍后重试",
        ))
}

/// Forwards `req` to the instance at `address`.
async fn to_owner(
    req: ServiceRequest,
    address: &str,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.headers().contains_key(header::UPGRADE) {
        return relay_socket(req, address).await;
    }
    let (http, mut payload) = req.into_parts();
    let body = match read_body(&mut payload).await {
        Ok(b) => b,
        Err(e) => return Ok(ServiceResponse::new(http, e)),
    };
    let res = match ask(&http, address, body).await {
        Some(res) => res,
        None => moving(),
    };
    Ok(ServiceResponse::new(http, res))
}

/// A phone page no hall here knows: asked of each other instance in turn,
/// and answered by the first that knows it; if none does, here (where a
/// wrong token counts against the client).
async fn ticket_elsewhere<F, Fut>(
    req: ServiceRequest,
    directory: &Directory,
    here: F,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    F: FnOnce(ServiceRequest) -> Fut,
    Fut: std::future::Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>,
{
    let (http, mut payload) = req.into_parts();
    let body = match read_body(&mut payload).await {
        Ok(b) => b,
        Err(e) => return Ok(ServiceResponse::new(http, e)),
    };
    for peer in directory.peers() {
        if let Some(res) = ask(&http, &peer, body.clone()).await
            && res.status() != StatusCode::NOT_FOUND
        {
            return Ok(ServiceResponse::new(http, res));
        }
    }
    type Chunks = std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>>>,
    >;
    let payload = Payload::from(Box::pin(futures_util::stream::once(async move {
        Ok::<_, actix_web::error::PayloadError>(body)
    })) as Chunks);
    here(ServiceRequest::from_parts(http, payload)).await
}

/// The request's body, whole, within the API's limit.
async fn read_body(payload: &mut Payload) -> Result<Bytes, HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            HttpResponse::BadRequest().json(ErrorBody::new(
                "bad_request",
                format!("the request body could not be read: {e}"),
            ))
        })?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpResponse::PayloadTooLarge().json(ErrorBody::new(
                "payload_too_large",
                format!("the request body is over the {} KiB limit", MAX_BODY / 1024),
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Headers a proxy does not pass on: this connection's own, and the
/// encoding, which the answer gets here.
fn passed_on(name: &header::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "accept-encoding"
            | "content-encoding"
            | "x-forwarded-for"
            | "x-forwarded-proto"
    )
}

/// `X-Forwarded-For` as a proxy passes it on: the list received, then the
/// address this request came from; and `X-Forwarded-Proto`.
fn forwarded_headers(http: &actix_web::HttpRequest) -> [(String, String); 3] {
    let mut hops: Vec<String> = http
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    if let Some(peer) = http.peer_addr() {
        hops.push(peer.ip().to_string());
    }
    let proto = if super::client::is_https(http) {
        "https"
    } else {
        "http"
    };
    [
        ("x-forwarded-for".into(), hops.join(", ")),
        ("x-forwarded-proto".into(), proto.into()),
        (FORWARDED.into(), "1".into()),
    ]
}

/// `host:port` of `http://host:port`.
fn authority(address: &str) -> &str {
    address.strip_prefix("http://").unwrap_or(address)
}

/// Sends the request to `address` and returns its answer; `None` when
/// the instance there cannot be reached or does not answer in time.
async fn ask(http: &actix_web::HttpRequest, address: &str, body: Bytes) -> Option<HttpResponse> {
    match tokio::time::timeout(ANSWER_WITHIN, exchange(http, address, body)).await {
        Ok(Ok(res)) => Some(res),
        Ok(Err(e)) => {
            info!(%address, path = http.path(), error = %e, "Could not forward a request to the instance running its hall.");
            None
        }
        Err(_) => {
            info!(%address, path = http.path(), "The instance running a hall did not answer a forwarded request in time.");
            None
        }
    }
}

async fn exchange(
    http: &actix_web::HttpRequest,
    address: &str,
    body: Bytes,
) -> Result<HttpResponse, String> {
    let tcp = tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(authority(address)))
        .await
        .map_err(|_| format!("no connection within {} s", CONNECT_WITHIN.as_secs()))?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let conn = tokio::spawn(conn);
    let path = http
        .uri()
        .path_and_query()
        .map_or_else(|| http.path().to_owned(), |p| p.as_str().to_owned());
    let mut builder = hyper::Request::builder()
        .method(http.method().as_str())
        .uri(path);
    for (name, value) in http.headers() {
        if passed_on(name) {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    for (name, value) in forwarded_headers(http) {
        builder = builder.header(name, value);
    }
    let request = builder
        .header("connection", "close")
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let answer = sender.send_request(request).await;
    let answer = answer.map_err(|e| format!("the connection closed: {e}"));
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            conn.abort();
            return Err(e);
        }
    };
    let status = StatusCode::from_u16(answer.status().as_u16())
        .map_err(|e| format!("a status that cannot be read: {e}"))?;
    let mut res = HttpResponse::build(status);
    pass_headers(answer.headers(), &mut res);
    let body = Limited::new(answer.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map(|b| b.to_bytes());
    conn.abort();
    let body = body.map_err(|e| format!("the answer could not be read whole: {e}"))?;
    Ok(res.body(body))
}

/// The headers of an answer from the instance running the hall, those a
/// proxy passes on, onto the answer given here.
fn pass_headers(from: &tungstenite::http::HeaderMap, res: &mut actix_web::HttpResponseBuilder) {
    for (name, value) in from {
        if let Ok(name) = header::HeaderName::from_bytes(name.as_str().as_bytes())
            && passed_on(&name)
            && let Ok(value) = header::HeaderValue::from_bytes(value.as_bytes())
        {
            res.append_header((name, value));
        }
    }
}

/// A refused upstream handshake's answer, as it was given.
pub(super) fn refused(refusal: tungstenite::http::Response<Option<Vec<u8>>>) -> HttpResponse {
    let status = StatusCode::from_u16(refusal.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut res = HttpResponse::build(status);
    pass_headers(refusal.headers(), &mut res);
    res.body(refusal.into_body().unwrap_or_default())
}

/// The WebSocket handshake of `http` as sent on to the instance at
/// `address`: its credentials, origin and host, and the forwarding headers.
pub(super) fn upstream_request(
    http: &actix_web::HttpRequest,
    address: &str,
) -> Option<tungstenite::handshake::client::Request> {
    let uri = http.uri();
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let url = format!("ws://{}{path}", authority(address));
    let mut upstream_req = match tungstenite::client::IntoClientRequest::into_client_request(url) {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, "A relayed WebSocket's address could not be built.");
            return None;
        }
    };
    for name in [
        header::COOKIE,
        header::AUTHORIZATION,
        header::ORIGIN,
        header::USER_AGENT,
        header::SEC_WEBSOCKET_PROTOCOL,
    ] {
        for value in http.headers().get_all(&name) {
            if let (Ok(name), Ok(value)) = (
                tungstenite::http::HeaderName::from_bytes(name.as_str().as_bytes()),
                tungstenite::http::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                upstream_req.headers_mut().append(name, value);
            }
        }
    }
    // The host the client asked for, as a handshake's origin is checked
    // against it.
    if let Some(host) = http
        .headers()
        .get(header::HOST)
        .and_then(|v| tungstenite::http::HeaderValue::from_bytes(v.as_bytes()).ok())
    {
        upstream_req
            .headers_mut()
            .insert(tungstenite::http::header::HOST, host);
    }
    for (name, value) in forwarded_headers(http) {
        if let (Ok(name), Ok(value)) = (
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()),
            tungstenite::http::HeaderValue::from_str(&value),
        ) {
            upstream_req.headers_mut().insert(name, value);
        }
    }
    Some(upstream_req)
}

/// Relays a WebSocket to the instance at `address`: the owner's handshake
/// answer first (a refusal is passed on as it is), then every frame both
/// ways until either side closes.
async fn relay_socket(
    req: ServiceRequest,
    address: &str,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    super::ws::handshake(req.request())?;
    let Some(upstream_req) = upstream_request(req.request(), address) else {
        return Ok(req.into_response(moving()));
    };
    let connect = tokio_tungstenite::connect_async_with_config(upstream_req, None, true);
    let (upstream, answer) = match tokio::time::timeout(ANSWER_WITHIN, connect).await {
        Ok(Ok(pair)) => pair,
        // The owner refused the handshake: its answer, as it gave it.
        Ok(Err(tungstenite::Error::Http(refusal))) => {
            return Ok(req.into_response(refused(*refusal)));
        }
        Ok(Err(e)) => {
            info!(%address, error = %e, "Could not relay a WebSocket to the instance running its hall.");
            return Ok(req.into_response(moving()));
        }
        Err(_) => {
            info!(%address, "The instance running a hall did not take a relayed WebSocket in time.");
            return Ok(req.into_response(moving()));
        }
    };
    let protocol = answer
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL.as_str())
        .and_then(|v| header::HeaderValue::from_bytes(v.as_bytes()).ok());
    let (http, mut payload) = req.into_parts();
    let payload = web::Payload::from_request(&http, &mut payload).await?;
    let (mut res, session, stream) = actix_ws::handle(&http, payload)?;
    if let Some(p) = protocol {
        res.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    let stream = stream.max_frame_size(super::ws::MAX_FRAME);
    actix_web::rt::spawn(relay(session, stream, upstream));
    Ok(ServiceResponse::new(http, res))
}

pub(super) type Upstream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Frames both ways until either side closes. The owner going away closes
/// the screen with 1012, so it reconnects to whichever instance runs the
/// hall next.
async fn relay(
    mut session: actix_ws::Session,
    mut client: actix_ws::MessageStream,
    upstream: Upstream,
) {
    use actix_ws::{CloseCode, CloseReason, Message};
    use tungstenite::Message as Up;
    let (mut up_tx, mut up_rx) = upstream.split();
    loop {
        tokio::select! {
            m = client.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if up_tx.send(Up::text(t.to_string())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    if up_tx.send(Up::binary(b)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(p))) => {
                    if session.pong(&p).await.is_err() {
                        let _ = up_tx.close().await;
                        return;
                    }
                }
                Some(Ok(Message::Close(reason))) => {
                    let frame = reason.map(|r| tungstenite::protocol::CloseFrame {
                        code: u16::from(r.code).into(),
                        reason: r.description.unwrap_or_default().into(),
                    });
                    let _ = up_tx.send(Up::Close(frame)).await;
                    let _ = session.close(None).await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    let _ = up_tx.close().await;
                    let _ = session.close(None).await;
                    return;
                }
            },
            m = up_rx.next() => match m {
                Some(Ok(Up::Text(t))) => {
                    if session.text(t.as_str().to_owned()).await.is_err() {
                        let _ = up_tx.close().await;
                        return;
                    }
                }
                Some(Ok(Up::Binary(b))) => {
                    if session.binary(b).await.is_err() {
                        let _ = up_tx.close().await;
                        return;
                    }
                }
                Some(Ok(Up::Close(frame))) => {
                    let reason = frame.map(|f| CloseReason {
                        code: CloseCode::from(u16::from(f.code)),
                        description: Some(f.reason.as_str().to_owned()).filter(|d| !d.is_empty()),
                    });
                    let _ = session.close(reason).await;
                    return;
                }
                // Pings are answered by the socket itself.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    // The owner went away, or the client could not be written to.
    let _ = session
        .close(Some(CloseReason {
            code: CloseCode::Restart,
            description: Some("hall moved to another instance; reconnect".into()),
        }))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_sorted_by_what_they_concern() {
        let hall = |h: &str| Target::Hall(h.to_owned());
        assert_eq!(target("/api/halls/h1/snapshot", ""), hall("h1"));
        assert_eq!(target("/api/halls/h1/cases/c-1/events", ""), hall("h1"));
        assert_eq!(target("/ws/display/h1", "token=x"), hall("h1"));
        assert_eq!(target("/ws/dashboard/h1", ""), hall("h1"));
        assert_eq!(target("/ws/alerts", "hall=h2&token=x"), hall("h2"));
        let alerts = Target::Scope(crate::http::auth::ALERTS);
        assert_eq!(target("/ws/alerts", "token=x"), alerts);
        assert_eq!(target("/api/alerts", "state=open"), alerts);
        assert_eq!(
            target("/api/appraisal", "month=2026-11"),
            Target::Scope(crate::http::auth::ANY_ROLE)
        );
        assert_eq!(target("/api/deliveries", "hall=h3"), hall("h3"));
        assert_eq!(
            target("/api/alerts/h1-7/ack", ""),
            Target::Alert("h1-7".into())
        );
        assert_eq!(target("/t/abc/state", ""), Target::Ticket("abc".into()));
        assert_eq!(target("/t/abc", ""), Target::Ticket("abc".into()));
        for here in [
            "/api/halls",
            "/ws/region",
            "/t/-/phone.js",
            "/healthz",
            "/wall.html",
            "/",
        ] {
            assert_eq!(target(here, ""), Target::Here, "{here}");
        }
    }
}
