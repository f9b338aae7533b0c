//! Access control: who may open the protected channels and APIs.
//!
//! Tokens are configured as SHA-256 hashes with a role and a hall scope. A
//! request presents its token as `Authorization: Bearer …`, else as
//! `?token=…` (a browser cannot set headers on a WebSocket), else in the
//! `hallwatch_token` cookie that `POST /api/login` sets. A protected handler
//! calls [`require`] first, before any WebSocket upgrade, so a refused client
//! gets a plain 401 or 403 response.
//!
//! Every wrong token, wherever it is presented, counts against its client in
//! [`LoginLimiter`]: otherwise `/api/me` or a WebSocket URL would be a way
//! round the login rate limit.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tracing::{error, info, warn};

use super::AppState;
use crate::clock::Clock;
use crate::config::{ConfigError, Role, TokenSettings};

/// The cookie `POST /api/login` sets for the browser screens.
pub const COOKIE: &str = "hallwatch_token";
/// A login lasts a long working day (12 h), then the screen asks again.
const COOKIE_MAX_AGE_S: u32 = 12 * 60 * 60;
/// Wrong tokens a client may present per [`FAILURE_WINDOW`].
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::seconds(60);
/// Past this many tracked clients the limiter prunes at once instead of
/// waiting for its once-a-minute sweep, so a flood cannot grow it unchecked.
const MAX_TRACKED: usize = 10_000;

/// Who may open `/ws/dashboard/{hall}` (admins always may).
pub const DASHBOARD: &[Role] = &[Role::Manager];
/// Who may use `/ws/alerts` and the alert APIs (admins always may).
pub const ALERTS: &[Role] = &[Role::Supervisor];
/// Any valid token.
pub const ANY_ROLE: &[Role] = &[Role::Manager, Role::Supervisor, Role::Admin];

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token, or one that matches nothing: 401.
    #[error("需要登录")]
    Unauthorized,
    /// A valid token of the wrong role, or a hall outside its scope: 403.
    #[error("无权访问该大厅")]
    Forbidden,
    /// `POST /api/login` with a token that matches nothing: 401.
    #[error("令牌无效")]
    BadToken,
    /// Too many wrong tokens from this client: 429.
    #[error("尝试过于频繁，请稍后再试")]
    RateLimited {
        /// Seconds until the client may try again.
        retry_after_s: u64,
    },
    /// A login body that is not `{"token": "…"}` as JSON: 400.
    #[error("请求体应为 JSON：{{\"token\": \"…\"}}")]
    BadRequest,
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Unauthorized | AuthError::BadToken => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden => StatusCode::FORBIDDEN,
            AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AuthError::Unauthorized => "unauthorized",
            AuthError::Forbidden => "forbidden",
            AuthError::BadToken => "bad_token",
            AuthError::RateLimited { .. } => "rate_limited",
            AuthError::BadRequest => "bad_request",
        };
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            AuthError::Unauthorized | AuthError::BadToken => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            AuthError::RateLimited { retry_after_s } => {
                res.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            AuthError::Forbidden | AuthError::BadRequest => {}
        }
        res.json(json!({"error": code, "message": self.to_string()}))
    }
}

/// The halls a token may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `["*"]`: every hall, including ones configured later.
    All,
    /// Only these hall ids.
    Halls(Vec<String>),
}

/// The holder of a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `name`, for logs and records.
    pub name: String,
    pub role: Role,
    pub scope: Scope,
}

impl Principal {
    /// Whether `hall` is in this token's scope.
    pub fn may_see(&self, hall: &str) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Halls(halls) => halls.iter().any(|h| h == hall),
        }
    }

    /// Whether the role is one of `needed`; an admin may do everything.
    pub fn has_role(&self, needed: &[Role]) -> bool {
        self.role == Role::Admin || needed.contains(&self.role)
    }

    /// Role and, when given, hall scope; the check behind [`require`].
    pub fn authorize(&self, needed: &[Role], hall: Option<&str>) -> Result<(), AuthError> {
        if !self.has_role(needed) {
            info!(name = %self.name, role = ?self.role, "Refused: wrong role.");
            return Err(AuthError::Forbidden);
        }
        if let Some(hall) = hall
            && !self.may_see(hall)
        {
            info!(name = %self.name, hall, "Refused: hall out of scope.");
            return Err(AuthError::Forbidden);
        }
        Ok(())
    }

    /// `{"name", "role", "halls"}` as `/api/login` and `/api/me` answer.
    pub fn describe(&self) -> Value {
        let halls = match &self.scope {
            Scope::All => vec!["*".to_owned()],
            Scope::Halls(h) => h.clone(),
        };
        json!({"name": self.name, "role": self.role, "halls": halls})
    }
}

/// The configured tokens, by hash only: the plain tokens are never kept.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], Principal)>,
}

impl Tokens {
    /// Builds the table from `[[tokens]]`. Settings validation already checks
    /// the hashes; this repeats it because tests and embedders can build
    /// `Settings` by hand, and refuses one hash configured twice, since
    /// only one of the two names and scopes could ever apply.
    pub fn from_settings(tokens: &[TokenSettings]) -> Result<Self, ConfigError> {
        let mut entries: Vec<([u8; 32], Principal)> = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let field = format!("tokens[{i}].sha256");
            let hash = decode_hex(&t.sha256).ok_or_else(|| ConfigError {
                field: field.clone(),
                reason: "must be 64 hex digits (hallwatch hash-token TOKEN prints them)".into(),
            })?;
            if entries.iter().any(|(h, _)| *h == hash) {
                return Err(ConfigError {
                    field,
                    reason: "the same token is configured twice".into(),
                });
            }
            let scope = if t.halls.iter().any(|h| h == "*") {
                Scope::All
            } else {
                Scope::Halls(t.halls.clone())
            };
            entries.push((
                hash,
                Principal {
                    name: t.name.clone(),
                    role: t.role,
                    scope,
                },
            ));
        }
        Ok(Self { entries })
    }

    /// The holder of `presented`, if it is a configured token.
    ///
    /// The presented token's hash is compared with every configured hash in
    /// constant time and without stopping at a match, so the response time
    /// says neither which entry matched nor how many bytes did.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut hit = u64::MAX;
        for (i, (hash, _)) in self.entries.iter().enumerate() {
            hit.conditional_assign(&(i as u64), hash.ct_eq(&digest));
        }
        usize::try_from(hit)
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|(_, p)| p.clone())
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no token is configured: every protected route refuses.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        *o = u8::try_from(hi << 4 | lo).ok()?;
    }
    Some(out)
}

/// Counts wrong tokens per client so they cannot be guessed quickly: at most
/// [`MAX_FAILURES`] in any minute, then 429 until the oldest is a minute old.
///
/// Time comes from the caller (the app's [`Clock`]), so tests move it by
/// hand. The map's guards are only held inside these synchronous methods,
/// never across an `.await`. Memory stays bounded: at most `MAX_FAILURES`
/// times per client, and clients quiet for a minute are swept out.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: DashMap<IpAddr, VecDeque<DateTime<Utc>>>,
    last_sweep_ms: AtomicI64,
}

impl LoginLimiter {
    /// `Err(seconds to wait)` when `client` has used up its failures.
    pub fn check(&self, client: IpAddr, now: DateTime<Utc>) -> Result<(), u64> {
        let Some(mut times) = self.failures.get_mut(&client) else {
            return Ok(());
        };
        while times.front().is_some_and(|t| *t <= now - FAILURE_WINDOW) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= MAX_FAILURES => {
                let wait_ms = (*oldest + FAILURE_WINDOW - now).num_milliseconds();
                Err(u64::try_from(wait_ms.div_euclid(1000) + 1).unwrap_or(1))
            }
            _ => Ok(()),
        }
    }

    /// Records a wrong token from `client`.
    pub fn record_failure(&self, client: IpAddr, now: DateTime<Utc>) {
        {
            let mut times = self.failures.entry(client).or_default();
            times.push_back(now);
            // Only the last MAX_FAILURES times can decide a check.
            while times.len() > MAX_FAILURES {
                times.pop_front();
            }
        } // The entry guard must be gone before `sweep` walks the map.
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let now_ms = now.timestamp_millis();
        if now_ms - last >= FAILURE_WINDOW.num_milliseconds() || self.failures.len() > MAX_TRACKED
        {
            self.last_sweep_ms.store(now_ms, Ordering::Relaxed);
            self.sweep(now);
        }
    }

    /// Forgets clients whose last failure is over a minute old.
    fn sweep(&self, now: DateTime<Utc>) {
        self.failures
            .retain(|_, times| times.back().is_some_and(|t| *t > now - FAILURE_WINDOW));
    }

    /// How many clients are being tracked.
    pub fn tracked(&self) -> usize {
        self.failures.len()
    }
}

/// What the HTTP layer needs to check tokens; shared through [`AppState`].
#[derive(Default)]
pub struct Auth {
    pub tokens: Tokens,
    pub limiter: LoginLimiter,
}

impl Auth {
    /// From the `[[tokens]]` settings.
    pub fn from_settings(tokens: &[TokenSettings]) -> Result<Self, ConfigError> {
        Ok(Self {
            tokens: Tokens::from_settings(tokens)?,
            limiter: LoginLimiter::default(),
        })
    }

    /// The holder of the request's token; a wrong token counts against the
    /// client, and a client over its limit is refused before the check.
    fn principal(&self, clock: &dyn Clock, req: &HttpRequest) -> Result<Principal, AuthError> {
        let token = presented_token(req).ok_or(AuthError::Unauthorized)?;
        self.check_token(clock, req, &token)
            .map_err(|e| match e {
                AuthError::BadToken => AuthError::Unauthorized,
                other => other,
            })
    }

    fn check_token(
        &self,
        clock: &dyn Clock,
        req: &HttpRequest,
        token: &str,
    ) -> Result<Principal, AuthError> {
        let client = client_key(req);
        let now = clock.now();
        if let Err(retry_after_s) = self.limiter.check(client, now) {
            warn!(%client, "Refused: too many wrong tokens.");
            return Err(AuthError::RateLimited { retry_after_s });
        }
        match self.tokens.authenticate(token) {
            Some(p) => Ok(p),
            None => {
                self.limiter.record_failure(client, now);
                warn!(%client, path = req.path(), "Wrong token.");
                Err(AuthError::BadToken)
            }
        }
    }

    /// [`require`] against this table, for callers and tests that hold it.
    pub fn require(
        &self,
        clock: &dyn Clock,
        req: &HttpRequest,
        needed: &[Role],
        hall: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let p = self.principal(clock, req)?;
        p.authorize(needed, hall)?;
        Ok(p)
    }
}

/// The check every protected handler runs first, before any WebSocket
/// upgrade: a valid token (401 otherwise) whose role is in `needed` (admins
/// always pass) and whose scope holds `hall` when one is given (403
/// otherwise). `/ws/alerts` passes `None` and filters by
/// [`Principal::may_see`] itself.
pub fn require(
    req: &HttpRequest,
    needed: &[Role],
    hall: Option<&str>,
) -> Result<Principal, AuthError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        // A wiring mistake; refusing is the only safe answer.
        error!("No AppState on the request; refusing it.");
        return Err(AuthError::Unauthorized);
    };
    state.auth.require(state.clock.as_ref(), req, needed, hall)
}

/// The login, logout and "who am I" routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/login", web::post().to(login))
        .route("/api/logout", web::post().to(logout))
        .route("/api/me", web::get().to(me));
}

#[derive(Deserialize)]
struct LoginBody {
    token: String,
}

/// `POST /api/login {"token": "…"}`: checks the token and sets the cookie
/// the browser screens then send with every request and WebSocket.
async fn login(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AuthError> {
    // Only JSON: an HTML form on another site cannot send it, and a script
    // there would need a CORS preflight we never grant (login CSRF).
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !is_json {
        return Err(AuthError::BadRequest);
    }
    let body: LoginBody = serde_json::from_slice(&body).map_err(|_| AuthError::BadRequest)?;
    let p = state
        .auth
        .check_token(state.clock.as_ref(), &req, &body.token)?;
    info!(name = %p.name, role = ?p.role, client = %client_key(&req), "Logged in.");
    let cookie = cookie(&req, &encode_cookie_value(&body.token), COOKIE_MAX_AGE_S);
    Ok(no_store(HttpResponse::Ok())
        .insert_header((header::SET_COOKIE, cookie))
        .json(p.describe()))
}

/// `POST /api/logout`: the browser forgets the cookie.
async fn logout(req: HttpRequest) -> HttpResponse {
    no_store(HttpResponse::NoContent())
        .insert_header((header::SET_COOKIE, cookie(&req, "", 0)))
        .finish()
}

/// `GET /api/me`: who the presented token belongs to.
async fn me(req: HttpRequest) -> Result<HttpResponse, AuthError> {
    let p = require(&req, ANY_ROLE, None)?;
    Ok(no_store(HttpResponse::Ok()).json(p.describe()))
}

fn no_store(mut res: HttpResponseBuilder) -> HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    res
}

fn cookie(req: &HttpRequest, value: &str, max_age_s: u32) -> String {
    // HttpOnly: page scripts never see the token. Strict: no other site's
    // page, link or WebSocket carries it here.
    let secure = if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}")
}

/// The token from the `Authorization: Bearer` header, else the `token`
/// query parameter, else the cookie. The first one present is the one
/// checked: a wrong header is not rescued by a right cookie.
fn presented_token(req: &HttpRequest) -> Option<String> {
    if let Some(auth) = req.headers().get(header::AUTHORIZATION)
        && let Ok(auth) = auth.to_str()
        && let Some((scheme, token)) = auth.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(token.trim().to_owned());
    }
    #[derive(Deserialize)]
    struct Query {
        token: Option<String>,
    }
    if let Ok(q) = web::Query::<Query>::from_query(req.query_string())
        && let Some(token) = q.into_inner().token
    {
        return Some(token);
    }
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| decode_cookie_value(value))
}

/// The limiter's key for a client: its address as the socket sees it. Not
/// `X-Forwarded-For`, which any client can write; behind a reverse proxy
/// every client shares the proxy's address. An IPv6 client usually holds a
/// whole /64, so that is what counts.
fn client_key(req: &HttpRequest) -> IpAddr {
    match req.peer_addr().map(|a| a.ip()) {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        Some(ip) => ip,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}

/// Tokens are the operator's own strings; whatever a cookie value may not
/// hold (space, `;`, `,`, quotes, non-ASCII) is percent-encoded, and so is
/// `%` itself so decoding gives back exactly the token.
fn encode_cookie_value(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+/:=?@[]^`{|}".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_cookie_value(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
