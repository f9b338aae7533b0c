//! A receiver for the generic webhook: checks the signature, drops a
//! repeated idempotency key, and hands each message on. `hallwatch
//! receive` prints them; the demo points its webhook channel at one, so
//! alerts can be seen arriving as a phone would get them.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

use super::{KEY_HEADER, SIGNATURE_HEADER, webhook_signature};

/// A webhook message as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub key: String,
    pub title: String,
    pub text: String,
    /// The signature checked out (always false without a secret).
    pub signed: bool,
}

/// How old a signed request may be, in seconds.
const MAX_AGE_S: i64 = 300;

struct State {
    secret: Option<String>,
    seen: Mutex<HashSet<String>>,
    deliver: Box<dyn Fn(Received) + Send + Sync>,
}

/// Whether `header` signs `body` with `secret` within `MAX_AGE_S` of `now_s`.
pub fn signature_ok(secret: &str, header: &str, body: &str, now_s: i64) -> bool {
    let Some(t) = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse::<i64>().ok())
    else {
        return false;
    };
    if (now_s - t).abs() > MAX_AGE_S {
        return false;
    }
    let expected = webhook_signature(secret, t, body);
    // Equal length hex: a constant-time comparison.
    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), header.as_bytes()).into()
}

async fn take(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let text = String::from_utf8_lossy(&body);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signed = match &state.secret {
        Some(secret) => {
            if !signature_ok(
                secret,
                &header(SIGNATURE_HEADER),
                &text,
                chrono::Utc::now().timestamp(),
            ) {
                return HttpResponse::Unauthorized().json(serde_json::json!({
                    "error": "bad_signature",
                    "message": "X-Hallwatch-Signature does not sign this body with the configured secret",
                }));
            }
            true
        }
        None => false,
    };
    let Ok(msg) = serde_json::from_str::<Value>(&text) else {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "error": "not_json", "message": "the body is not JSON",
        }));
    };
    let key = header(KEY_HEADER);
    let fresh = state
        .seen
        .lock()
        .map(|mut s| s.insert(key.clone()))
        .unwrap_or(true);
    if fresh {
        (state.deliver)(Received {
            key,
            title: msg["title"].as_str().unwrap_or_default().to_owned(),
            text: msg["text"].as_str().unwrap_or_default().to_owned(),
            signed,
        });
    }
    HttpResponse::Ok().json(serde_json::json!({ "ok": true, "repeat": !fresh }))
}

/// Serves a receiver on `listener` until the returned server is stopped.
pub fn serve(
    listener: TcpListener,
    secret: Option<String>,
    deliver: impl Fn(Received) + Send + Sync + 'static,
) -> std::io::Result<actix_web::dev::Server> {
    let state = web::Data::new(State {
        secret,
        seen: Mutex::new(HashSet::new()),
        deliver: Box::new(deliver),
    });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(256 * 1024))
            .default_service(web::post().to(take))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
