//! What every request passes on its way in and out: the request budget of
//! `/api/*` and `/ws/*`, a deadline for sending a request body, and for
//! `/api/*` answers that are never cached and errors that are always JSON.
//!
//! Handlers answer their own errors as JSON already ([`ApiError`],
//! [`super::auth::AuthError`]); this catches what actix answers by itself
//! (an over-large body, a request it cannot read) and what no route
//! answers at all ([`api_fallback`]: an unknown path is 404, a known one
//! with another method 405 with `Allow`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use actix_web::body::{BoxBody, MessageBody, to_bytes_limited};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{ConnectionType, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::{Stream, StreamExt};
use tracing::{debug, info};

use super::auth::client_key;
use super::limit::retry_after_s;
use super::openapi::api_methods;
use super::{ApiError, AppState, ErrorBody, MAX_BODY};

/// The request budget, `Cache-Control` and JSON errors; see the module
/// documentation. For `App::wrap(from_fn(api_guard))`.
pub async fn api_guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let api = req.path().starts_with("/api/");
    let channel = req.path().starts_with("/ws/");
    let phone = req.path().starts_with("/t/");
    // HEAD is GET without the body, which the HTTP layer leaves out itself.
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    if !api && !phone && req.method() != Method::GET {
        // Pages, channels, health and metrics are all served with GET only.
        let res = get_only(req.request());
        return Ok(req.into_response(res));
    }
    let mut late = None;
    if let Some(state) = req.app_data::<web::Data<AppState>>().cloned() {
        if api || channel || phone {
            let client = client_key(req.request());
            let budget = if phone {
                &state.auth.pages
            } else {
                &state.auth.requests
            };
            if let Err(wait) = budget.check(client) {
                state.metrics.rate_limited();
                debug!(%client, path = req.path(), "Refused: over the request budget.");
                let retry_after_s = retry_after_s(wait);
                let res = ApiError::RateLimited { retry_after_s }.error_response();
                return Ok(req.into_response(res));
            }
        }
        if has_body(&req) {
            let expired = Arc::new(AtomicBool::new(false));
            let payload = Deadline {
                inner: req.take_payload(),
                sleep: Box::pin(tokio::time::sleep(state.auth.body_timeout)),
                expired: expired.clone(),
            };
            req.set_payload(Payload::from(
                Box::pin(payload) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
            ));
            late = Some((expired, state.auth.body_timeout));
        }
    }
    let res = next.call(req).await?.map_into_boxed_body();
    if let Some((expired, limit)) = late
        && expired.load(Ordering::Relaxed)
    {
        // Whatever the handler made of its cut-off body, the answer is the
        // timeout, and the connection goes: the rest of the body may still
        // be trickling in.
        let (req, _) = res.into_parts();
        info!(client = %client_key(&req), path = req.path(), "Refused: a request body too slow.");
        let mut res = ApiError::RequestTimeout(limit.as_secs()).error_response();
        res.head_mut().set_connection_type(ConnectionType::Close);
        return Ok(ServiceResponse::new(req, res));
    }
    if !api && !channel {
        return Ok(res);
    }
    let mut res = if res.status().is_client_error() || res.status().is_server_error() {
        json_error(res).await
    } else {
        res
    };
    // Nothing under /api is for a shared cache: most of it is behind a token.
    let headers = res.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// 405 for a path served with GET (and so HEAD) only.
fn get_only(req: &HttpRequest) -> HttpResponse {
    ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        path: req.path().chars().take(200).collect(),
        allow: "GET, HEAD".to_owned(),
    }
    .error_response()
}

/// Whether the request says a body follows.
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// A request body that must arrive whole within its time: a client that
/// sends one byte every few seconds would otherwise hold its connection,
/// and a file handle, for as long as it likes.
struct Deadline {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = self.inner.poll_next_unpin(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "request body too slow");
            return Poll::Ready(Some(Err(PayloadError::Io(e))));
        }
        Poll::Pending
    }
}

/// An error answer that is not JSON, as JSON: `{"error", "message"}` with a
/// code after the status, and the original text (when short) as message.
async fn json_error(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let status = res.status();
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let original = match to_bytes_limited(body, 512).await {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        _ => String::new(),
    };
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the request body is over the {} KiB limit", MAX_BODY / 1024)
    } else if original.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        original
    };
    let body = serde_json::to_string(&ErrorBody::new(code_of(status), message)).unwrap_or_default();
    let mut res = head.set_body(BoxBody::new(body));
    let headers = res.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    ServiceResponse::new(req, res)
}

/// The `error` code of a status: its reason phrase in snake case
/// (`payload_too_large`), the names [`ApiError`] uses where it has one.
fn code_of(status: StatusCode) -> String {
    match status {
        StatusCode::INTERNAL_SERVER_ERROR => "internal_error".to_owned(),
        StatusCode::SERVICE_UNAVAILABLE => "unavailable".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "request_timeout".to_owned(),
        s => s
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
            .replace(['-', ' '], "_"),
    }
}

/// `/api/*` that no route took: 405 with `Allow` when the path is one of the
/// API's (as its OpenAPI document lists them) and only the method is wrong,
/// else 404.
pub async fn api_fallback(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    let shown: String = path.chars().take(200).collect();
    match allowed_methods(path) {
        Some(allow) if !allow.split(", ").any(|m| m == req.method().as_str()) => {
            ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                path: shown,
                allow: allow.to_owned(),
            }
            .error_response()
        }
        _ => ApiError::NotFound(shown).error_response(),
    }
}

/// The methods the API serves on `path` (`"GET, POST"`), from the OpenAPI
/// document's paths, which a test holds equal to the routes.
fn allowed_methods(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    api_methods()
        .iter()
        .find(|(template, _)| {
            let template: Vec<&str> = template.split('/').collect();
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    if t.starts_with('{') {
                        !s.is_empty()
                    } else {
                        t == s
                    }
                })
        })
        .map(|(_, allow)| allow.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_api_paths_name_their_methods() {
        assert_eq!(allowed_methods("/api/login"), Some("POST"));
        assert_eq!(allowed_methods("/api/halls"), Some("GET"));
        assert_eq!(allowed_methods("/api/halls/h1/stats"), Some("GET"));
        assert_eq!(allowed_methods("/api/alerts/x-1/ack"), Some("POST"));
        assert_eq!(allowed_methods("/api/halls//stats"), None);
        assert_eq!(allowed_methods("/api/nope"), None);
        assert_eq!(allowed_methods("/api/halls/h1/stats/more"), None);
    }

    #[test]
    fn status_codes_read_as_error_codes() {
        assert_eq!(code_of(StatusCode::PAYLOAD_TOO_LARGE), "payload_too_large");
        assert_eq!(
            code_of(StatusCode::METHOD_NOT_ALLOWED),
            "method_not_allowed"
        );
        assert_eq!(code_of(StatusCode::BAD_REQUEST), "bad_request");
        assert_eq!(code_of(StatusCode::URI_TOO_LONG), "uri_too_long");
        assert_eq!(code_of(StatusCode::INTERNAL_SERVER_ERROR), "internal_error");
    }
}
