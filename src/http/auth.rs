//! Access control: who may open the protected channels and APIs.
//!
//! Tokens are configured as SHA-256 hashes with a role and a hall scope. A
//! request presents its token as `Authorization: Bearer …`, else in the
//! `hallwatch_token` cookie that `POST /api/login` sets; a WebSocket
//! handshake may also present it as `?token=…` (a browser cannot set headers
//! there). A REST request with `?token=` is refused: URLs end up in access
//! logs, proxies and browser history. A protected handler calls [`require`]
//! first, before any body is read or WebSocket upgraded, so a refused client
//! gets a plain 401 or 403 response.
//!
//! Every wrong token, wherever it is presented, counts against its client in
//! [`LoginLimiter`]: otherwise `/api/me` or a WebSocket URL would be a way
//! round the login rate limit.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tracing::{error, info, warn};

use super::limit::RequestLimiter;
use super::openapi::{BadToken, PayloadTooLarge, Unauthorized};
use super::{AppState, ErrorBody};
use crate::clock::Clock;
use crate::config::{ConfigError, Role, TokenSettings};

/// The cookie `POST /api/login` sets for the browser screens.
pub const COOKIE: &str = "hallwatch_token";
/// A login lasts a long working day (12 h), then the screen asks again.
const COOKIE_MAX_AGE_S: i64 = 12 * 60 * 60;
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
    /// `?token=` on a request that is not a WebSocket handshake: 401.
    #[error("令牌不能放在网址中，请使用 Authorization: Bearer 请求头")]
    TokenInUrl,
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Unauthorized | AuthError::BadToken | AuthError::TokenInUrl => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::Forbidden => StatusCode::FORBIDDEN,
            AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            AuthError::Unauthorized | AuthError::BadToken | AuthError::TokenInUrl => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            AuthError::RateLimited { retry_after_s } => {
                res.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            AuthError::Forbidden | AuthError::BadRequest => {}
        }
        res.json(ErrorBody::new(self.code(), self.to_string()))
    }
}

impl AuthError {
    /// The `error` code of its answer.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Unauthorized => "unauthorized",
            AuthError::Forbidden => "forbidden",
            AuthError::BadToken => "bad_token",
            AuthError::RateLimited { .. } => "rate_limited",
            AuthError::BadRequest => "bad_request",
            AuthError::TokenInUrl => "token_in_url",
        }
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

    /// What `/api/login` and `/api/me` answer.
    pub fn describe(&self) -> PrincipalView {
        let halls = match &self.scope {
            Scope::All => vec!["*".to_owned()],
            Scope::Halls(h) => h.clone(),
        };
        PrincipalView {
            name: self.name.clone(),
            role: self.role,
            halls,
        }
    }
}

/// The holder of a valid token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Principal)]
pub struct PrincipalView {
    /// The token's configured name, as logs and alert records show it.
    pub name: String,
    pub role: Role,
    /// The hall ids the token may see, or `["*"]` for every hall.
    pub halls: Vec<String>,
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
        *o = u8::try_from((hi << 4) | lo).ok()?;
    }
    Some(out)
}

/// Counts wrong tokens per client so they cannot be guessed quickly: at most
/// [`MAX_FAILURES`] in any minute, then 429 until the oldest is a minute old.
///
/// A window of failure times rather than a token bucket like
/// [`RequestLimiter`]'s: a bucket refilled at ten a minute would let a
/// locked-out client in again after 6 s, one refilled at one a minute would
/// hold it to one guess a minute for ten minutes after, and a bucket cannot
/// be asked whether a client is locked out without spending a token, while
/// a right token must not count.
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
                // Whole seconds, rounded up, and never 0: "try again now" would be a lie.
                let wait_ms = (*oldest + FAILURE_WINDOW - now).num_milliseconds().max(1);
                Err(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1))
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
        let since_sweep_ms = now.timestamp_millis() - self.last_sweep_ms.load(Ordering::Relaxed);
        // A flood sweeps early, but at most once a second: a sweep walks the
        // whole map, and doing that on every failure would be its own flood.
        if since_sweep_ms >= FAILURE_WINDOW.num_milliseconds()
            || (self.failures.len() > MAX_TRACKED && since_sweep_ms >= 1000)
        {
            self.last_sweep_ms
                .store(now.timestamp_millis(), Ordering::Relaxed);
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

/// What the HTTP layer needs to check tokens and budget requests; shared
/// through [`AppState`].
#[derive(Default)]
pub struct Auth {
    pub tokens: Tokens,
    pub limiter: LoginLimiter,
    /// Every client's budget of API requests and WebSocket handshakes.
    pub requests: RequestLimiter,
}

impl Auth {
    /// From the `[[tokens]]` settings.
    pub fn from_settings(tokens: &[TokenSettings]) -> Result<Self, ConfigError> {
        Ok(Self {
            tokens: Tokens::from_settings(tokens)?,
            limiter: LoginLimiter::default(),
            requests: RequestLimiter::default(),
        })
    }

    /// The holder of the request's token; a wrong token counts against the
    /// client, and a client over its limit is refused before the check.
    fn principal(&self, clock: &dyn Clock, req: &HttpRequest) -> Result<Principal, AuthError> {
        let token = presented_token(req)?.ok_or(AuthError::Unauthorized)?;
        // Only the login form speaks of a "bad token"; elsewhere it is a plain 401.
        self.check_token(clock, req, &token).map_err(|e| match e {
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

/// The body of `POST /api/login`. Other fields are ignored.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = LoginRequest)]
struct LoginBody {
    /// The plain access token, exactly as issued (no trimming).
    token: String,
}

/// Log in a browser
///
/// Checks a token and sets the `hallwatch_token` cookie that the browser
/// screens then send with every request and WebSocket. Only
/// `application/json` is accepted, so an HTML form on another site cannot
/// log a browser in. A wrong token counts against the client's rate limit.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "auth",
    operation_id = "login",
    request_body(
        content = LoginBody,
        description = "`{\"token\": \"…\"}`. At most 16 KiB.",
        example = json!({"token": "demo-manager"}),
    ),
    responses(
        (status = 200, description = "Logged in: who the token belongs to.", body = PrincipalView,
            headers(
                ("Set-Cookie" = String, description = "`hallwatch_token=<token, percent-encoded>; \
                    HttpOnly; SameSite=Strict; Path=/; Max-Age=43200`, with `; Secure` when the \
                    request came over HTTPS (as the reverse proxy's `X-Forwarded-Proto` or \
                    `Forwarded` says)."),
            ),
            example = json!({"name": "值班长", "role": "manager", "halls": ["jl-center"]})),
        (status = 400,
            description = "The `Content-Type` is not `application/json`, or the body is not \
                `{\"token\": \"…\"}`.",
            body = ErrorBody,
            example = json!(ErrorBody::new(AuthError::BadRequest.code(), AuthError::BadRequest.to_string()))),
        (status = 401, response = BadToken),
        (status = 413, response = PayloadTooLarge),
    )
)]
pub(super) async fn login(
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
    let cookie = cookie(&req, &body.token, COOKIE_MAX_AGE_S);
    Ok(no_store(HttpResponse::Ok())
        .insert_header(set_cookie(&cookie))
        .json(p.describe()))
}

/// Log a browser out
///
/// Tells the browser to forget the `hallwatch_token` cookie. No token
/// needed; no body.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    operation_id = "logout",
    responses(
        (status = 204, description = "The cookie is cleared.",
            headers(
                ("Set-Cookie" = String, description = "`hallwatch_token=; HttpOnly; \
                    SameSite=Strict; Path=/; Max-Age=0` (with `; Secure` over HTTPS)."),
            )),
    )
)]
pub(super) async fn logout(req: HttpRequest) -> HttpResponse {
    no_store(HttpResponse::NoContent())
        .insert_header(set_cookie(&cookie(&req, "", 0)))
        .finish()
}

/// Who the presented token belongs to
///
/// Any role.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "auth",
    operation_id = "whoAmI",
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The token's holder.", body = PrincipalView),
        (status = 401, response = Unauthorized),
    )
)]
pub(super) async fn me(req: HttpRequest) -> Result<HttpResponse, AuthError> {
    let p = require(&req, ANY_ROLE, None)?;
    Ok(no_store(HttpResponse::Ok()).json(p.describe()))
}

fn no_store(mut res: HttpResponseBuilder) -> HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    res
}

fn cookie<'c>(req: &HttpRequest, token: &'c str, max_age_s: i64) -> Cookie<'c> {
    // HttpOnly: page scripts never see the token. Strict: no other site's
    // page, link or WebSocket carries it here.
    Cookie::build(COOKIE, token)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(CookieDuration::seconds(max_age_s))
        .secure(req.connection_info().scheme() == "https")
        .finish()
}

/// The `Set-Cookie` header of `cookie`, its value percent-encoded: tokens
/// are the operator's own strings and may hold `;`, spaces or non-ASCII,
/// which `HttpResponseBuilder::cookie` would write as they are.
fn set_cookie(cookie: &Cookie<'_>) -> (header::HeaderName, String) {
    (header::SET_COOKIE, cookie.encoded().to_string())
}

/// The token from the `Authorization: Bearer` header, else (on a WebSocket
/// handshake only) the `token` query parameter, else the cookie. The first
/// one present is the one checked: a wrong header is not rescued by a right
/// cookie. `?token=` anywhere else is an error rather than ignored, so a
/// client that leaks its token into URLs hears about it.
fn presented_token(req: &HttpRequest) -> Result<Option<String>, AuthError> {
    if let Some(auth) = req.headers().get(header::AUTHORIZATION)
        && let Ok(auth) = auth.to_str()
        && let Some((scheme, token)) = auth.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Ok(Some(token.trim().to_owned()));
    }
    #[derive(Deserialize)]
    struct Query {
        token: Option<String>,
    }
    if let Ok(q) = web::Query::<Query>::from_query(req.query_string())
        && let Some(token) = q.into_inner().token
    {
        if !is_websocket_handshake(req) {
            warn!(client = %client_key(req), path = req.path(), "Refused: a token in the URL.");
            return Err(AuthError::TokenInUrl);
        }
        return Ok(Some(token));
    }
    Ok(req
        .cookie_raw(COOKIE)
        .and_then(|c| decode_cookie_value(c.value())))
}

/// `Upgrade: websocket`: the one kind of request a browser cannot give an
/// `Authorization` header.
fn is_websocket_handshake(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// The limiter's key for a client: its address as the socket sees it. Not
/// `X-Forwarded-For`, which any client can write; behind a reverse proxy
/// every client shares the proxy's address. An IPv6 client usually holds a
/// whole /64, so that is what counts.
pub(super) fn client_key(req: &HttpRequest) -> IpAddr {
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

/// The token in a cookie value as [`set_cookie`] wrote it. The cookie
/// crate's decoder keeps a `%` that starts no escape as text; no value this
/// server sets has one, so such a value is no token at all rather than a
/// wrong one to count against the client.
fn decode_cookie_value(raw: &str) -> Option<String> {
    let escapes_whole = raw.split('%').skip(1).all(|after| {
        after
            .get(..2)
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if !escapes_whole {
        return None;
    }
    Cookie::parse_encoded(format!("{COOKIE}={raw}"))
        .ok()
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use actix_web::test::TestRequest;
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Settings;

    fn sha256_hex(token: &str) -> String {
        Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn token(name: &str, role: Role, halls: &[&str], secret: &str) -> TokenSettings {
        TokenSettings {
            name: name.into(),
            role,
            halls: halls.iter().map(|h| (*h).to_owned()).collect(),
            sha256: sha256_hex(secret),
        }
    }

    fn auth() -> Auth {
        Auth::from_settings(&[
            token("manager", Role::Manager, &["h1"], "m-secret"),
            token("town", Role::Manager, &["h2", "h3"], "t-secret"),
            token("supervisor", Role::Supervisor, &["*"], "s-secret"),
            token("admin", Role::Admin, &["*"], "a-secret"),
            token("h1 supervisor", Role::Supervisor, &["h1"], "s1-secret"),
        ])
        .expect("valid tokens")
    }

    fn clock() -> ManualClock {
        ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap())
    }

    fn peer(last: u8) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, last], 40000))
    }

    fn bearer(t: &str) -> HttpRequest {
        TestRequest::default()
            .peer_addr(peer(1))
            .insert_header((header::AUTHORIZATION, format!("Bearer {t}")))
            .to_http_request()
    }

    #[test]
    fn every_configured_token_is_found_among_several() {
        let auth = auth();
        for (secret, name) in [
            ("m-secret", "manager"),
            ("t-secret", "town"),
            ("s-secret", "supervisor"),
            ("a-secret", "admin"),
            ("s1-secret", "h1 supervisor"),
        ] {
            assert_eq!(auth.tokens.authenticate(secret).unwrap().name, name);
        }
        assert_eq!(auth.tokens.authenticate("m-secre"), None);
        assert_eq!(auth.tokens.authenticate(""), None);
        assert_eq!(auth.tokens.authenticate(&sha256_hex("m-secret")), None);
    }

    #[test]
    fn no_tokens_means_no_principal() {
        let tokens = Tokens::from_settings(&[]).unwrap();
        assert!(tokens.is_empty());
        assert_eq!(tokens.authenticate("anything"), None);
    }

    #[test]
    fn bad_or_duplicate_hashes_are_refused() {
        let mut bad = token("x", Role::Admin, &["*"], "x");
        bad.sha256 = "zz".repeat(32);
        let e = Tokens::from_settings(&[bad]).err().unwrap();
        assert_eq!(e.field, "tokens[0].sha256");
        let e = Tokens::from_settings(&[
            token("a", Role::Admin, &["*"], "same"),
            token("b", Role::Manager, &["h1"], "same"),
        ])
        .err()
        .unwrap();
        assert_eq!(e.field, "tokens[1].sha256");
        // Upper-case hex is the same hash.
        let mut upper = token("u", Role::Admin, &["*"], "u-secret");
        upper.sha256 = upper.sha256.to_uppercase();
        let t = Tokens::from_settings(&[upper]).unwrap();
        assert_eq!(t.authenticate("u-secret").unwrap().name, "u");
    }

    #[test]
    fn star_scope_sees_every_hall_and_a_list_only_its_own() {
        let auth = auth();
        let s = auth.tokens.authenticate("s-secret").unwrap();
        assert_eq!(s.scope, Scope::All);
        assert!(s.may_see("h1") && s.may_see("anything"));
        let t = auth.tokens.authenticate("t-secret").unwrap();
        assert!(t.may_see("h2") && t.may_see("h3"));
        assert!(!t.may_see("h1"));
        assert_eq!(t.describe().halls, ["h2", "h3"]);
        assert_eq!(s.describe().halls, ["*"]);
        assert_eq!(s.describe().role, Role::Supervisor);
    }

    #[test]
    fn managers_get_dashboards_supervisors_alerts_admins_everything() {
        let auth = auth();
        let m = auth.tokens.authenticate("m-secret").unwrap();
        let s = auth.tokens.authenticate("s-secret").unwrap();
        let a = auth.tokens.authenticate("a-secret").unwrap();
        assert!(m.authorize(DASHBOARD, Some("h1")).is_ok());
        assert!(matches!(
            m.authorize(ALERTS, None),
            Err(AuthError::Forbidden)
        ));
        assert!(s.authorize(ALERTS, None).is_ok());
        assert!(matches!(
            s.authorize(DASHBOARD, Some("h1")),
            Err(AuthError::Forbidden)
        ));
        assert!(a.authorize(DASHBOARD, Some("h9")).is_ok());
        assert!(a.authorize(ALERTS, Some("h9")).is_ok());
    }

    #[test]
    fn require_refuses_a_hall_out_of_scope_with_403() {
        let (auth, clock) = (auth(), clock());
        let ok = auth.require(&clock, &bearer("m-secret"), DASHBOARD, Some("h1"));
        assert_eq!(ok.unwrap().name, "manager");
        let e = auth
            .require(&clock, &bearer("m-secret"), DASHBOARD, Some("h2"))
            .unwrap_err();
        assert_eq!(e.status_code(), StatusCode::FORBIDDEN);
        let s1 = auth.require(&clock, &bearer("s1-secret"), ALERTS, Some("h2"));
        assert!(matches!(s1, Err(AuthError::Forbidden)));
        // Unfiltered alerts: allowed, the handler filters by may_see.
        assert!(
            auth.require(&clock, &bearer("s1-secret"), ALERTS, None)
                .is_ok()
        );
    }

    #[test]
    fn require_refuses_missing_and_wrong_tokens_with_401() {
        let (auth, clock) = (auth(), clock());
        let none = TestRequest::default().to_http_request();
        let e = auth.require(&clock, &none, ANY_ROLE, None).unwrap_err();
        assert_eq!(e.status_code(), StatusCode::UNAUTHORIZED);
        let res = e.error_response();
        assert_eq!(
            res.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        let e = auth
            .require(&clock, &bearer("nope"), ANY_ROLE, None)
            .unwrap_err();
        assert!(matches!(e, AuthError::Unauthorized));
        let basic = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Basic bS1zZWNyZXQ="))
            .to_http_request();
        assert!(auth.require(&clock, &basic, ANY_ROLE, None).is_err());
    }

    /// A WebSocket handshake to `uri`.
    fn handshake(uri: &str) -> TestRequest {
        TestRequest::with_uri(uri).insert_header((header::UPGRADE, "websocket"))
    }

    #[test]
    fn the_token_comes_from_header_then_query_then_cookie() {
        let (auth, clock) = (auth(), clock());
        let who = |req: TestRequest| {
            auth.require(&clock, &req.to_http_request(), ANY_ROLE, None)
                .map(|p| p.name)
        };
        let q = handshake("/ws/alerts?hall=h1&token=s-secret");
        assert_eq!(who(q).unwrap(), "supervisor");
        let q = handshake("/ws/alerts?token=a%2Dsecret");
        assert_eq!(who(q).unwrap(), "admin");
        let c = TestRequest::default()
            .insert_header((header::COOKIE, "theme=dark; hallwatch_token=m-secret"));
        assert_eq!(who(c).unwrap(), "manager");
        let all = handshake("/x?token=s-secret")
            .insert_header((header::AUTHORIZATION, "bearer a-secret"))
            .insert_header((header::COOKIE, "hallwatch_token=m-secret"));
        assert_eq!(who(all).unwrap(), "admin");
        let q_over_cookie = handshake("/x?token=s-secret")
            .insert_header((header::COOKIE, "hallwatch_token=m-secret"));
        assert_eq!(who(q_over_cookie).unwrap(), "supervisor");
        // The first one present decides: a wrong header is not rescued.
        let wrong_header = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer wrong"))
            .insert_header((header::COOKIE, "hallwatch_token=m-secret"));
        assert!(who(wrong_header).is_err());
    }

    #[test]
    fn a_token_in_the_url_is_refused_outside_websocket_handshakes() {
        let (auth, clock) = (auth(), clock());
        let refuse = |req: TestRequest| {
            auth.require(&clock, &req.to_http_request(), ANY_ROLE, None)
                .unwrap_err()
        };
        let e = refuse(TestRequest::with_uri("/api/me?token=a-secret"));
        assert!(matches!(e, AuthError::TokenInUrl));
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        // Not rescued by a cookie either: the URL is the mistake to fix.
        let with_cookie = TestRequest::with_uri("/api/me?token=a-secret")
            .insert_header((header::COOKIE, "hallwatch_token=m-secret"));
        assert!(matches!(refuse(with_cookie), AuthError::TokenInUrl));
        // Nor is it counted as a wrong guess: it was never checked.
        assert_eq!(auth.limiter.tracked(), 0);
        // The header still wins over whatever the URL holds.
        let header_too = TestRequest::with_uri("/api/me?token=nope")
            .insert_header((header::AUTHORIZATION, "Bearer a-secret"));
        let p = auth.require(&clock, &header_too.to_http_request(), ANY_ROLE, None);
        assert_eq!(p.unwrap().name, "admin");
    }

    #[test]
    fn wrong_tokens_anywhere_count_against_the_client() {
        let (auth, clock) = (auth(), clock());
        for _ in 0..MAX_FAILURES {
            assert!(matches!(
                auth.require(&clock, &bearer("guess"), ANY_ROLE, None),
                Err(AuthError::Unauthorized)
            ));
        }
        // Even the right token waits: otherwise guessing could go on.
        let e = auth
            .require(&clock, &bearer("a-secret"), ANY_ROLE, None)
            .unwrap_err();
        assert!(matches!(e, AuthError::RateLimited { retry_after_s: 60 }));
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "60");
        // Another client is not affected.
        let other = TestRequest::default()
            .peer_addr(peer(2))
            .insert_header((header::AUTHORIZATION, "Bearer a-secret"))
            .to_http_request();
        assert!(auth.require(&clock, &other, ANY_ROLE, None).is_ok());
        clock.advance(Duration::seconds(61));
        assert!(
            auth.require(&clock, &bearer("a-secret"), ANY_ROLE, None)
                .is_ok()
        );
    }

    #[test]
    fn the_limit_slides_with_the_oldest_failure() {
        let (limiter, clock) = (LoginLimiter::default(), clock());
        let ip = peer(1).ip();
        for _ in 0..MAX_FAILURES {
            limiter.record_failure(ip, clock.now());
            clock.advance(Duration::seconds(1));
        }
        // Ten failures from 0 s to 9 s; at 10 s the first frees up at 60 s.
        assert_eq!(limiter.check(ip, clock.now()), Err(50));
        clock.advance(Duration::milliseconds(49_500));
        assert_eq!(limiter.check(ip, clock.now()), Err(1));
        clock.advance(Duration::milliseconds(500));
        assert_eq!(limiter.check(ip, clock.now()), Ok(()));
        limiter.record_failure(ip, clock.now());
        assert!(limiter.check(ip, clock.now()).is_err());
    }

    #[test]
    fn quiet_clients_are_forgotten() {
        let (limiter, clock) = (LoginLimiter::default(), clock());
        for i in 0..200u8 {
            limiter.record_failure(peer(i).ip(), clock.now());
        }
        assert_eq!(limiter.tracked(), 200);
        clock.advance(Duration::seconds(61));
        limiter.record_failure(peer(250).ip(), clock.now());
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a = TestRequest::default()
            .peer_addr("[2001:db8:1:2:aaaa::1]:5000".parse().unwrap())
            .to_http_request();
        let b = TestRequest::default()
            .peer_addr("[2001:db8:1:2:bbbb::9]:5001".parse().unwrap())
            .to_http_request();
        assert_eq!(client_key(&a), client_key(&b));
        let mapped = TestRequest::default()
            .peer_addr("[::ffff:192.0.2.7]:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(client_key(&mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn cookie_values_round_trip_any_token() {
        let req = TestRequest::default().to_http_request();
        for t in ["demo-admin", "a b;c,d\"e%f", "令牌-123", ""] {
            let (_, set) = set_cookie(&cookie(&req, t, COOKIE_MAX_AGE_S));
            let enc = set
                .strip_prefix("hallwatch_token=")
                .and_then(|rest| rest.split(';').next())
                .unwrap();
            assert!(
                enc.bytes()
                    .all(|b| b.is_ascii_graphic() && !b";,\"\\".contains(&b))
            );
            assert_eq!(decode_cookie_value(enc).as_deref(), Some(t));
            let sent = TestRequest::default()
                .insert_header((header::COOKIE, format!("theme=dark; hallwatch_token={enc}")))
                .to_http_request();
            assert_eq!(presented_token(&sent).unwrap().as_deref(), Some(t));
        }
        assert_eq!(decode_cookie_value("%zz"), None);
        assert_eq!(decode_cookie_value("%4"), None);
    }

    #[test]
    fn the_example_configuration_tokens_authenticate() {
        let settings = Settings::parse(crate::EXAMPLE_CONFIG).unwrap();
        let auth = Auth::from_settings(&settings.tokens).unwrap();
        let clock = clock();
        let p = |t: &str| auth.tokens.authenticate(t).unwrap();
        assert_eq!(p("demo-manager").role, Role::Manager);
        assert!(p("demo-manager").may_see("jl-center"));
        assert!(!p("demo-manager").may_see("jl-town"));
        assert_eq!(p("demo-supervisor").role, Role::Supervisor);
        assert_eq!(p("demo-supervisor").scope, Scope::All);
        assert_eq!(p("demo-admin").role, Role::Admin);
        assert_eq!(
            p("demo-town-manager").scope,
            Scope::Halls(vec!["jl-town".into()])
        );
        let town = bearer("demo-town-manager");
        assert!(
            auth.require(&clock, &town, DASHBOARD, Some("jl-town"))
                .is_ok()
        );
        assert!(matches!(
            auth.require(&clock, &town, DASHBOARD, Some("jl-center")),
            Err(AuthError::Forbidden)
        ));
    }

    #[tokio::test]
    async fn require_reads_the_app_state() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_lazy("sqlite::memory:")
            .unwrap();
        let state = AppState {
            alerts: tokio::sync::broadcast::channel(1).0,
            summaries: tokio::sync::broadcast::channel(1).0,
            store: crate::store::Store::Sqlite(pool),
            registry: Default::default(),
            health: Default::default(),
            metrics: Default::default(),
            clock: Arc::new(clock()),
            auth: Arc::new(auth()),
        };
        let req = TestRequest::default()
            .app_data(web::Data::new(state))
            .insert_header((header::AUTHORIZATION, "Bearer m-secret"))
            .to_http_request();
        assert_eq!(
            require(&req, DASHBOARD, Some("h1")).unwrap().name,
            "manager"
        );
        let bare = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer m-secret"))
            .to_http_request();
        assert!(matches!(
            require(&bare, DASHBOARD, Some("h1")),
            Err(AuthError::Unauthorized)
        ));
    }
}
