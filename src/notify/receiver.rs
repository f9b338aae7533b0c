//! A receiver for the generic webhook: checks the signature over the body
//! as sent, drops a repeated key (the body's, which the signature covers;
//! the last 10,000 are remembered), and hands each message on. `hallwatch
//! receive` prints them; the demo points its webhook channel at one, so
//! alerts can be seen arriving as a phone would get them.

use std::collections::{HashSet, VecDeque};
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
    /// The keys taken, and their order, to forget the oldest.
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
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
    if now_s.abs_diff(t) > MAX_AGE_S.unsigned_abs() {
        return false;
    }
    let expected = webhook_signature(secret, t, body);
    // Equal length hex: a constant-time comparison.
    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), header.as_bytes()).into()
}

/// Keys remembered to drop repeats by, at most.
const REMEMBERED: usize = 10_000;

fn refuse(status: actix_web::http::StatusCode, error: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": error, "message": message }))
}

async fn take(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    use actix_web::http::StatusCode;
    // The signature covers the body's bytes as sent, which are UTF-8 JSON.
    let Ok(text) = std::str::from_utf8(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "not_utf8", "the body is not UTF-8");
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let signed = match &state.secret {
        Some(secret) => {
            let ok = header(SIGNATURE_HEADER)
                .is_some_and(|h| signature_ok(secret, &h, text, chrono::Utc::now().timestamp()));
            if !ok {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "bad_signature",
                    "X-Hallwatch-Signature does not sign this body with the configured secret, or is older than five minutes",
                );
            }
            true
        }
        None => false,
    };
    let Ok(msg) = serde_json::from_str::<Value>(text) else {
        return refuse(StatusCode::BAD_REQUEST, "not_json", "the body is not JSON");
    };
    // The key the signature covers is the body's; the header must agree.
    let Some(key) = msg["key"]
        .as_str()
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
    else {
        return refuse(StatusCode::BAD_REQUEST, "no_key", "the body has no key");
    };
    if header(KEY_HEADER).is_some_and(|h| h != key) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "key_mismatch",
            "Idempotency-Key differs from the body's key",
        );
    }
    let fresh = match state.seen.lock() {
        Ok(mut seen) => {
            let fresh = !seen.0.contains(&key);
            if fresh {
                seen.0.insert(key.clone());
                seen.1.push_back(key.clone());
                if seen.1.len() > REMEMBERED
                    && let Some(old) = seen.1.pop_front()
                {
                    seen.0.remove(&old);
                }
            }
            fresh
        }
        Err(_) => true,
    };
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
        seen: Mutex::new((HashSet::new(), VecDeque::new())),
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
