//! Access control: who may open the protected channels and APIs.
//!
//! Tokens are configured as SHA-256 hashes with a role and a hall scope.
//! Back-office programs present a token as `Authorization: Bearer …`; a
//! WebSocket handshake may also present it as `?token=…` (a browser cannot
//! set headers there). A REST request with `?token=` is refused: URLs end up
//! in access logs, proxies and browser history.
//!
//! Browsers log in: `POST /api/login` checks the token once and opens a
//! session ([`Sessions`]), a random secret in the `hallwatch_session`
//! cookie, kept server-side by its hash, expiring after `[server]
//! session_hours`, revoked by `POST /api/logout`. The cookie is never the
//! token, so a stolen cookie dies with its session.
//!
//! A protected handler calls [`require`] first, before any body is read or
//! WebSocket upgraded, so a refused client gets a plain 401, 403 or 429. It
//! checks the request's origin ([`super::origin`]) before its credential.
//! Every wrong token or unknown session, wherever it is presented, counts
//! against its client ([`super::client`]) in [`LoginLimiter`]; a right one
//! is never refused by that limit.

use std::collections::VecDeque;
use std::net::IpAddr;
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

pub use super::client::client_key;
use super::client::{Proxies, is_https};
use super::limit::RequestLimiter;
use super::openapi::{BadToken, PayloadTooLarge, Unauthorized};
use super::origin::{self, Credential, Origins};
use super::{AppState, ErrorBody};
use crate::clock::Clock;
use crate::config::{ConfigError, Role, ServerSettings, TokenSettings};
use crate::store::{SessionRow, Store};

/// The session cookie `POST /api/login` sets for the browser screens.
pub const COOKIE: &str = "hallwatch_session";
/// The cookie earlier versions kept the token itself in: cleared at login
/// and logout, never read.
const OLD_COOKIE: &str = "hallwatch_token";
/// How long a cached session is believed before the store is asked again,
/// so a logout on another server ends it here within this time.
const SESSION_RECHECK: Duration = Duration::seconds(60);
/// Sessions kept in memory at most; past it, expired ones are swept and
/// the rest are read from the store.
const MAX_CACHED_SESSIONS: usize = 10_000;
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
pub const ANY_ROLE: &[Role] = &[
    Role::Manager,
    Role::Supervisor,
    Role::Backoffice,
    Role::Booking,
    Role::Admin,
];
/// Who may book and cancel appointments.
pub const BOOKING: &[Role] = &[Role::Booking];
/// Who may report a case's life and explain its cards.
pub const BACKOFFICE: &[Role] = &[Role::Backoffice];

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
    /// A browser request from a page that is not ours ([`origin`]): 403.
    #[error("请求来源不被允许，请从本系统的页面操作")]
    OriginRefused,
    /// The store cannot say whether a session is open: 503.
    #[error("暂时无法验证登录，请稍后再试")]
    Unavailable,
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Unauthorized | AuthError::BadToken | AuthError::TokenInUrl => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::Forbidden | AuthError::OriginRefused => StatusCode::FORBIDDEN,
            AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::BadRequest => StatusCode::BAD_REQUEST,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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
            AuthError::Forbidden
            | AuthError::BadRequest
            | AuthError::OriginRefused
            | AuthError::Unavailable => {}
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
            AuthError::OriginRefused => "origin_refused",
            AuthError::Unavailable => "unavailable",
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
    /// A back-office token's departments; None for every department.
    pub departments: Option<Vec<String>>,
}

impl Principal {
    /// Whether cases of `department` are this token's to report: a
    /// back-office token limited to departments reports only theirs (and
    /// no case without a department).
    pub fn may_report(&self, department: Option<&str>) -> bool {
        match (&self.departments, department) {
            (None, _) => true,
            (Some(list), Some(d)) => list.iter().any(|x| x == d),
            (Some(_), None) => false,
        }
    }

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
            if t.departments.is_some() && t.role != Role::Backoffice {
                return Err(ConfigError {
                    field: format!("tokens[{i}].departments"),
                    reason: "only a backoffice token is limited to departments".into(),
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
                    departments: t.departments.clone(),
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
        self.by_hash(&Sha256::digest(presented.as_bytes()).into())
            .map(|(_, p)| p)
    }

    /// The configured token with this hash, compared as [`Self::authenticate`]
    /// does.
    pub fn by_hash(&self, digest: &[u8; 32]) -> Option<([u8; 32], Principal)> {
        let mut hit = u64::MAX;
        for (i, (hash, _)) in self.entries.iter().enumerate() {
            hit.conditional_assign(&(i as u64), hash.ct_eq(digest));
        }
        usize::try_from(hit)
            .ok()
            .and_then(|i| self.entries.get(i))
            .cloned()
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

/// Browser sessions: the store keeps them (so they survive a restart and
/// are shared by every server on one database); this keeps the ones in use
/// in memory, believing each for [`SESSION_RECHECK`] before asking again.
#[derive(Default)]
pub struct Sessions {
    cache: DashMap<[u8; 32], CachedSession>,
}

#[derive(Clone, Copy)]
struct CachedSession {
    token: [u8; 32],
    expires_at: DateTime<Utc>,
    checked_at: DateTime<Utc>,
}

/// What a session cookie turned out to be.
enum SessionLookup {
    Open(Principal),
    /// Expired, logged out, or its token is no longer configured.
    Ended,
    /// No session ever had this secret: a guess, counted as a wrong token.
    Unknown,
}

impl Sessions {
    async fn lookup(
        &self,
        store: &Store,
        tokens: &Tokens,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<SessionLookup, AuthError> {
        let id: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let cached = self.cache.get(&id).map(|c| *c);
        let session = match cached {
            Some(c) if c.checked_at > now - SESSION_RECHECK => c,
            _ => {
                let row = store.session(&hex(&id)).await.map_err(|e| {
                    error!(error = %e, "The store cannot read a session.");
                    AuthError::Unavailable
                })?;
                let Some(row) = row else {
                    self.cache.remove(&id);
                    return Ok(SessionLookup::Unknown);
                };
                let token = decode_hex(&row.token_sha256);
                match (row.revoked_at, token) {
                    (None, Some(token)) if row.expires_at > now => {
                        let c = CachedSession {
                            token,
                            expires_at: row.expires_at,
                            checked_at: now,
                        };
                        self.remember(id, c, now);
                        c
                    }
                    _ => {
                        self.cache.remove(&id);
                        return Ok(SessionLookup::Ended);
                    }
                }
            }
        };
        if session.expires_at <= now {
            self.cache.remove(&id);
            return Ok(SessionLookup::Ended);
        }
        Ok(match tokens.by_hash(&session.token) {
            Some((_, p)) => SessionLookup::Open(p),
            None => SessionLookup::Ended,
        })
    }

    fn remember(&self, id: [u8; 32], c: CachedSession, now: DateTime<Utc>) {
        if self.cache.len() >= MAX_CACHED_SESSIONS {
            self.cache.retain(|_, c| c.expires_at > now);
        }
        if self.cache.len() < MAX_CACHED_SESSIONS {
            self.cache.insert(id, c);
        }
    }

    /// Opens a session for the token with hash `token`; the cookie's secret.
    async fn open(
        &self,
        store: &Store,
        token: [u8; 32],
        name: &str,
        client: IpAddr,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let secret = hex(&rand::random::<[u8; 32]>());
        let id: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let row = SessionRow {
            id_sha256: hex(&id),
            token_sha256: hex(&token),
            name: name.to_owned(),
            client: client.to_string(),
            created_at: now,
            expires_at: now + ttl,
            revoked_at: None,
        };
        store.session_open(&row).await.map_err(|e| {
            error!(error = %e, "The store cannot keep a new session.");
            AuthError::Unavailable
        })?;
        self.remember(
            id,
            CachedSession {
                token,
                expires_at: row.expires_at,
                checked_at: now,
            },
            now,
        );
        // Sessions a day past their end are of no use to anyone.
        if let Err(e) = store.sessions_prune(now - Duration::days(1)).await {
            warn!(error = %e, "Expired sessions could not be pruned.");
        }
        Ok(secret)
    }

    /// Ends the session with this secret, if it is open.
    async fn revoke(
        &self,
        store: &Store,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let id: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        self.cache.remove(&id);
        store.session_revoke(&hex(&id), now).await.map_err(|e| {
            error!(error = %e, "The store cannot end a session.");
            AuthError::Unavailable
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the HTTP layer needs to check tokens, sessions and origins and to
/// budget requests; shared through [`AppState`].
pub struct Auth {
    pub tokens: Tokens,
    pub limiter: LoginLimiter,
    /// Every client's budget of API requests and WebSocket handshakes.
    pub requests: RequestLimiter,
    /// Every client's budget of requests to tickets' phone pages.
    pub pages: RequestLimiter,
    pub sessions: Sessions,
    /// `[server] public_origins`.
    pub origins: Origins,
    /// `[server] trusted_proxies`.
    pub proxies: Proxies,
    /// How long a session lasts: `[server] session_hours`.
    pub session_ttl: Duration,
    /// How long a client may take to send a request body: `[server]
    /// body_timeout_s`.
    pub body_timeout: std::time::Duration,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            tokens: Tokens::default(),
            limiter: LoginLimiter::default(),
            requests: RequestLimiter::default(),
            pages: RequestLimiter::pages(),
            sessions: Sessions::default(),
            origins: Origins::default(),
            proxies: Proxies::default(),
            session_ttl: Duration::hours(i64::from(ServerSettings::default().session_hours)),
            body_timeout: std::time::Duration::from_secs(ServerSettings::default().body_timeout_s),
        }
    }
}

/// How a request presents its credential.
enum Presented {
    /// A token: `Authorization: Bearer`, or `?token=` on a handshake.
    Token(String),
    /// A session cookie's secret.
    Session(String),
}

impl Auth {
    /// From the `[[tokens]]` settings, with the default server settings.
    pub fn from_settings(tokens: &[TokenSettings]) -> Result<Self, ConfigError> {
        Self::configure(tokens, &ServerSettings::default())
    }

    /// From the `[[tokens]]` and `[server]` settings.
    pub fn configure(
        tokens: &[TokenSettings],
        server: &ServerSettings,
    ) -> Result<Self, ConfigError> {
        let field = |field: &str| {
            let field = field.to_owned();
            move |reason| ConfigError { field, reason }
        };
        Ok(Self {
            tokens: Tokens::from_settings(tokens)?,
            origins: Origins::parse(&server.public_origins)
                .map_err(field("server.public_origins"))?,
            proxies: Proxies::parse(&server.trusted_proxies)
                .map_err(field("server.trusted_proxies"))?,
            session_ttl: Duration::hours(i64::from(server.session_hours)),
            body_timeout: std::time::Duration::from_secs(server.body_timeout_s),
            ..Self::default()
        })
    }

    /// Checks a token; a wrong one counts against the client, and while the
    /// client is over its limit a wrong one is answered 429. A right token
    /// always passes: the limit slows guessing, it must never lock out the
    /// holder of a token because others behind the same address guessed.
    fn check_token(
        &self,
        now: DateTime<Utc>,
        req: &HttpRequest,
        token: &str,
    ) -> Result<([u8; 32], Principal), AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        match self.tokens.by_hash(&digest) {
            Some(found) => Ok(found),
            None => Err(self.wrong(now, req)),
        }
    }

    /// A wrong token or unknown session from `req`'s client: counted, and
    /// answered 429 once the client is over its limit, else `BadToken`.
    fn wrong(&self, now: DateTime<Utc>, req: &HttpRequest) -> AuthError {
        let client = client_key(req);
        warn!(%client, path = req.path(), "Wrong token.");
        let limited = self.limiter.check(client, now);
        self.limiter.record_failure(client, now);
        match limited {
            Err(retry_after_s) => AuthError::RateLimited { retry_after_s },
            Ok(()) => AuthError::BadToken,
        }
    }

    /// The holder of the request's credential, its origin checked first.
    async fn principal(
        &self,
        store: &Store,
        clock: &dyn Clock,
        req: &HttpRequest,
    ) -> Result<Principal, AuthError> {
        let presented = presented(req)?.ok_or(AuthError::Unauthorized)?;
        let credential = match presented {
            Presented::Token(_) => Credential::Token,
            Presented::Session(_) => Credential::Cookie,
        };
        self.check_origin(req, credential)?;
        let now = clock.now();
        // Only the login form speaks of a "bad token"; elsewhere it is a plain 401.
        let plain = |e| match e {
            AuthError::BadToken => AuthError::Unauthorized,
            other => other,
        };
        match presented {
            Presented::Token(t) => self
                .check_token(now, req, &t)
                .map(|(_, p)| p)
                .map_err(plain),
            Presented::Session(secret) => match self
                .sessions
                .lookup(store, &self.tokens, &secret, now)
                .await?
            {
                SessionLookup::Open(p) => Ok(p),
                SessionLookup::Ended => Err(AuthError::Unauthorized),
                SessionLookup::Unknown => Err(plain(self.wrong(now, req))),
            },
        }
    }

    /// `Err(OriginRefused)`, logged, for a request from a foreign page
    /// ([`origin::check`]).
    fn check_origin(&self, req: &HttpRequest, credential: Credential) -> Result<(), AuthError> {
        if origin::check(req, &self.origins, credential) {
            return Ok(());
        }
        info!(client = %client_key(req), path = req.path(), origin = ?req.headers().get(header::ORIGIN),
            "Refused: a request from a foreign page.");
        Err(AuthError::OriginRefused)
    }

    /// [`require`] against this table, for callers and tests that hold it.
    pub async fn require(
        &self,
        store: &Store,
        clock: &dyn Clock,
        req: &HttpRequest,
        needed: &[Role],
        hall: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let p = self.principal(store, clock, req).await?;
        p.authorize(needed, hall)?;
        Ok(p)
    }
}

/// The check every protected handler runs first, before any WebSocket
/// upgrade: a request from one of our pages or from a program (403
/// `origin_refused` otherwise), a valid token or session (401 otherwise)
/// whose role is in `needed` (admins always pass) and whose scope holds
/// `hall` when one is given (403 otherwise). `/ws/alerts` passes `None`
/// and filters by [`Principal::may_see`] itself.
pub async fn require(
    req: &HttpRequest,
    needed: &[Role],
    hall: Option<&str>,
) -> Result<Principal, AuthError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        // A wiring mistake; refusing is the only safe answer.
        error!("No AppState on the request; refusing it.");
        return Err(AuthError::Unauthorized);
    };
    state
        .auth
        .require(&state.store, state.clock.as_ref(), req, needed, hall)
        .await
}

/// A public channel's handshake from a foreign page: `Err` to answer.
pub fn check_public_origin(req: &HttpRequest) -> Result<(), AuthError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Ok(());
    };
    state.auth.check_origin(req, Credential::None)
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
/// Checks a token and opens a session: the `hallwatch_session` cookie, a
/// random secret (never the token) that the browser screens then send with
/// every request and WebSocket, valid for `[server] session_hours` (12 by
/// default) or until logout, kept by the server across restarts. Only
/// `application/json` from one of the server's own pages (or a client that
/// sends no `Origin`) is accepted, so a page on another site cannot log a
/// browser in. A wrong token counts against the client's rate limit; a
/// right one is never refused by it.
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
                ("Set-Cookie" = String, description = "`hallwatch_session=<64 hex digits>; \
                    HttpOnly; SameSite=Strict; Path=/; Max-Age=43200` (the session's hours), with \
                    `; Secure` when served over HTTPS or through a configured trusted proxy."),
            ),
            example = json!({"name": "值班长", "role": "manager", "halls": ["jl-center"]})),
        (status = 400,
            description = "The body is not `{\"token\": \"…\"}`.",
            body = ErrorBody,
            example = json!(ErrorBody::new(AuthError::BadRequest.code(), AuthError::BadRequest.to_string()))),
        (status = 401, response = BadToken),
        (status = 403, response = super::openapi::OriginRefused),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = super::openapi::NotJson),
        (status = 429, response = super::openapi::RateLimited),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn login(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    super::require_json(&req)?;
    state.auth.check_origin(&req, Credential::None)?;
    let body: LoginBody = serde_json::from_slice(&body).map_err(|_| AuthError::BadRequest)?;
    let now = state.clock.now();
    let (hash, p) = state.auth.check_token(now, &req, &body.token)?;
    let client = client_key(&req);
    let secret = state
        .auth
        .sessions
        .open(
            &state.store,
            hash,
            &p.name,
            client,
            now,
            state.auth.session_ttl,
        )
        .await?;
    info!(name = %p.name, role = ?p.role, %client, "Logged in.");
    let max_age = state.auth.session_ttl.num_seconds();
    Ok(no_store(HttpResponse::Ok())
        .append_header(set_cookie(&cookie(&req, COOKIE, &secret, max_age)))
        .append_header(set_cookie(&cookie(&req, OLD_COOKIE, "", 0)))
        .json(p.describe()))
}

/// Log a browser out
///
/// Ends the session of the `hallwatch_session` cookie on the server (a
/// copy of the cookie no longer works) and tells the browser to forget it.
/// No body.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    operation_id = "logout",
    responses(
        (status = 204, description = "The session is ended and the cookie cleared.",
            headers(
                ("Set-Cookie" = String, description = "`hallwatch_session=; HttpOnly; \
                    SameSite=Strict; Path=/; Max-Age=0` (with `; Secure` over HTTPS)."),
            )),
        (status = 403, response = super::openapi::OriginRefused),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AuthError> {
    if let Some(secret) = session_cookie(&req) {
        state.auth.check_origin(&req, Credential::Cookie)?;
        if state
            .auth
            .sessions
            .revoke(&state.store, &secret, state.clock.now())
            .await?
        {
            info!(client = %client_key(&req), "Logged out.");
        }
    }
    Ok(no_store(HttpResponse::NoContent())
        .append_header(set_cookie(&cookie(&req, COOKIE, "", 0)))
        .append_header(set_cookie(&cookie(&req, OLD_COOKIE, "", 0)))
        .finish())
}

/// Who the presented token or session belongs to
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
        (status = 429, response = super::openapi::RateLimited),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn me(req: HttpRequest) -> Result<HttpResponse, AuthError> {
    let p = require(&req, ANY_ROLE, None).await?;
    Ok(no_store(HttpResponse::Ok()).json(p.describe()))
}

fn no_store(mut res: HttpResponseBuilder) -> HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    res
}

fn cookie<'c>(req: &HttpRequest, name: &'static str, value: &'c str, max_age_s: i64) -> Cookie<'c> {
    // HttpOnly: page scripts never see the secret. Strict: no other site's
    // page, link or WebSocket carries it here.
    Cookie::build(name, value)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(CookieDuration::seconds(max_age_s))
        .secure(is_https(req))
        .finish()
}

/// The `Set-Cookie` header of `cookie`, its value percent-encoded.
fn set_cookie(cookie: &Cookie<'_>) -> (header::HeaderName, String) {
    (header::SET_COOKIE, cookie.encoded().to_string())
}

/// The session cookie's secret, when it holds one this server could have
/// set (64 hex digits); anything else is no session at all.
fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie_raw(COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The credential from the `Authorization: Bearer` header, else (on a
/// WebSocket handshake only) the `token` query parameter, else the session
/// cookie. The first one present is the one checked: a wrong header is not
/// rescued by a right cookie. `?token=` anywhere else is an error rather
/// than ignored, so a client that leaks its token into URLs hears about it.
fn presented(req: &HttpRequest) -> Result<Option<Presented>, AuthError> {
    if let Some(auth) = req.headers().get(header::AUTHORIZATION)
        && let Ok(auth) = auth.to_str()
        && let Some((scheme, token)) = auth.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Ok(Some(Presented::Token(token.trim().to_owned())));
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
        return Ok(Some(Presented::Token(token)));
    }
    Ok(session_cookie(req).map(Presented::Session))
}

/// `Upgrade: websocket`: the one kind of request a browser cannot give an
/// `Authorization` header.
pub(super) fn is_websocket_handshake(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
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
            departments: None,
            regions: Vec::new(),
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

    /// A store of its own for one test (a file: every pool connection sees it).
    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        (Store::open(&url).await.unwrap(), dir)
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
        let mut scoped = token("m", Role::Manager, &["h1"], "m-secret");
        scoped.departments = Some(vec!["gaj".into()]);
        let e = Tokens::from_settings(&[scoped]).err().unwrap();
        assert_eq!(e.field, "tokens[0].departments");
        let mut office = token("b", Role::Backoffice, &["h1"], "b-secret");
        office.departments = Some(vec!["gaj".into()]);
        let b = Tokens::from_settings(&[office])
            .unwrap()
            .authenticate("b-secret")
            .unwrap();
        assert!(b.may_report(Some("gaj")));
        assert!(!b.may_report(Some("rsj")));
        assert!(
            !b.may_report(None),
            "a case of no department is not its to report"
        );
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

    #[tokio::test]
    async fn require_refuses_a_hall_out_of_scope_with_403() {
        let (auth, clock, (store, _dir)) = (auth(), clock(), store().await);
        let req = |t, role, hall| {
            let (auth, clock, store) = (&auth, &clock, &store);
            async move { auth.require(store, clock, &bearer(t), role, hall).await }
        };
        assert_eq!(
            req("m-secret", DASHBOARD, Some("h1")).await.unwrap().name,
            "manager"
        );
        let e = req("m-secret", DASHBOARD, Some("h2")).await.unwrap_err();
        assert_eq!(e.status_code(), StatusCode::FORBIDDEN);
        let s1 = req("s1-secret", ALERTS, Some("h2")).await;
        assert!(matches!(s1, Err(AuthError::Forbidden)));
        // Unfiltered alerts: allowed, the handler filters by may_see.
        assert!(req("s1-secret", ALERTS, None).await.is_ok());
    }

    #[tokio::test]
    async fn require_refuses_missing_and_wrong_tokens_with_401() {
        let (auth, clock, (store, _dir)) = (auth(), clock(), store().await);
        let none = TestRequest::default().to_http_request();
        let e = auth
            .require(&store, &clock, &none, ANY_ROLE, None)
            .await
            .unwrap_err();
        assert_eq!(e.status_code(), StatusCode::UNAUTHORIZED);
        let res = e.error_response();
        assert_eq!(
            res.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        let e = auth
            .require(&store, &clock, &bearer("nope"), ANY_ROLE, None)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Unauthorized));
        let basic = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Basic bS1zZWNyZXQ="))
            .to_http_request();
        assert!(
            auth.require(&store, &clock, &basic, ANY_ROLE, None)
                .await
                .is_err()
        );
    }

    /// A WebSocket handshake to `uri`.
    fn handshake(uri: &str) -> TestRequest {
        TestRequest::with_uri(uri).insert_header((header::UPGRADE, "websocket"))
    }

    /// A session opened for `token` in `store`: the cookie's secret.
    async fn session(auth: &Auth, store: &Store, clock: &ManualClock, token: &str) -> String {
        let (hash, p) = auth
            .tokens
            .by_hash(&Sha256::digest(token.as_bytes()).into())
            .unwrap();
        let ip = peer(1).ip();
        auth.sessions
            .open(store, hash, &p.name, ip, clock.now(), auth.session_ttl)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_credential_comes_from_header_then_query_then_session() {
        let (auth, clock, (store, _dir)) = (auth(), clock(), store().await);
        let m = session(&auth, &store, &clock, "m-secret").await;
        let cookie = format!("theme=dark; hallwatch_session={m}");
        let who = |req: TestRequest| {
            let (auth, clock, store) = (&auth, &clock, &store);
            let req = req.to_http_request();
            async move {
                auth.require(store, clock, &req, ANY_ROLE, None)
                    .await
                    .map(|p| p.name)
            }
        };
        let q = handshake("/ws/alerts?hall=h1&token=s-secret");
        assert_eq!(who(q).await.unwrap(), "supervisor");
        let q = handshake("/ws/alerts?token=a%2Dsecret");
        assert_eq!(who(q).await.unwrap(), "admin");
        let c = TestRequest::default().insert_header((header::COOKIE, cookie.clone()));
        assert_eq!(who(c).await.unwrap(), "manager");
        let all = handshake("/x?token=s-secret")
            .insert_header((header::AUTHORIZATION, "bearer a-secret"))
            .insert_header((header::COOKIE, cookie.clone()));
        assert_eq!(who(all).await.unwrap(), "admin");
        let q_over_cookie =
            handshake("/x?token=s-secret").insert_header((header::COOKIE, cookie.clone()));
        assert_eq!(who(q_over_cookie).await.unwrap(), "supervisor");
        // The first one present decides: a wrong header is not rescued.
        let wrong_header = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer wrong"))
            .insert_header((header::COOKIE, cookie.clone()));
        assert!(who(wrong_header).await.is_err());
        // The token itself in the cookie is no session.
        let token_cookie =
            TestRequest::default().insert_header((header::COOKIE, "hallwatch_session=m-secret"));
        assert!(who(token_cookie).await.is_err());
        let old =
            TestRequest::default().insert_header((header::COOKIE, "hallwatch_token=m-secret"));
        assert!(who(old).await.is_err());
    }

    #[tokio::test]
    async fn sessions_end_at_logout_at_expiry_and_with_their_token() {
        let (auth, clock, (store, _dir)) = (auth(), clock(), store().await);
        let with = |secret: &str| {
            TestRequest::default()
                .insert_header((header::COOKIE, format!("hallwatch_session={secret}")))
                .to_http_request()
        };
        let m = session(&auth, &store, &clock, "m-secret").await;
        assert!(
            auth.require(&store, &clock, &with(&m), ANY_ROLE, None)
                .await
                .is_ok()
        );
        // The store holds only the secret's hash.
        assert!(store.session(&m).await.unwrap().is_none());
        // Another server on the same store (an empty cache) knows it too.
        let other =
            Auth::from_settings(&[token("manager", Role::Manager, &["h1"], "m-secret")]).unwrap();
        assert!(
            other
                .require(&store, &clock, &with(&m), ANY_ROLE, None)
                .await
                .is_ok()
        );
        // Logout ends it here at once, and on the other server within a minute.
        assert!(auth.sessions.revoke(&store, &m, clock.now()).await.unwrap());
        let e = auth
            .require(&store, &clock, &with(&m), ANY_ROLE, None)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Unauthorized));
        clock.advance(SESSION_RECHECK + Duration::seconds(1));
        assert!(
            other
                .require(&store, &clock, &with(&m), ANY_ROLE, None)
                .await
                .is_err()
        );
        // An ended session is not a guess: nothing was counted.
        assert_eq!(auth.limiter.tracked(), 0);
        // Expiry.
        let s = session(&auth, &store, &clock, "s-secret").await;
        clock.advance(auth.session_ttl - Duration::seconds(1));
        assert!(
            auth.require(&store, &clock, &with(&s), ANY_ROLE, None)
                .await
                .is_ok()
        );
        clock.advance(Duration::seconds(2));
        assert!(
            auth.require(&store, &clock, &with(&s), ANY_ROLE, None)
                .await
                .is_err()
        );
        // A token taken out of the configuration takes its sessions along.
        let a = session(&auth, &store, &clock, "a-secret").await;
        let without_admin =
            Auth::from_settings(&[token("manager", Role::Manager, &["h1"], "m-secret")]).unwrap();
        assert!(
            without_admin
                .require(&store, &clock, &with(&a), ANY_ROLE, None)
                .await
                .is_err()
        );
        // A secret no session has is a guess, counted.
        let guess = "0".repeat(64);
        assert!(
            auth.require(&store, &clock, &with(&guess), ANY_ROLE, None)
                .await
                .is_err()
        );
        assert_eq!(auth.limiter.tracked(), 1);
    }

    #[tokio::test]
    async fn a_token_in_the_url_is_refused_outside_websocket_handshakes() {
        let (auth, clock, (store, _dir)) = (auth(), clock(), store().await);
        let m = session(&auth, &store, &clock, "m-secret").await;
        let refuse = |req: TestRequest| {
            let (auth, clock, store) = (&auth, &clock, &store);
            let req = req.to_http_request();
            async move {
                auth.require(store, clock, &req, ANY_ROLE, None)
                    .await
                    .unwrap_err()
            }
        };
        let e = refuse(TestRequest::with_uri("/api/me?token=a-secret")).await;
        assert!(matches!(e, AuthError::TokenInUrl));
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        // Not rescued by a session either: the URL is the mistake to fix.
        let with_cookie = TestRequest::with_uri("/api/me?token=a-secret")
            .insert_header((header::COOKIE, format!("hallwatch_session={m}")));
        assert!(matches!(refuse(with_cookie).await, AuthError::TokenInUrl));
        // Nor is it counted as a wrong guess: it was never checked.
        assert_eq!(auth.limiter.tracked(), 0);
        // The header still wins over whatever the URL holds.
        let header_too = TestRequest::with_uri("/api/me?token=nope")
            .insert_header((header::AUTHORIZATION, "Bearer a-secret"));
        let p = auth
            .require(
                &store,
                &clock,
                &header_too.to_http_request(),
                ANY_ROLE,
                None,
            )
            .await;
        assert_eq!(p.unwrap().name, "admin");
    }

    #[tokio::test]
    async fn wrong_tokens_are_limited_and_right_ones_never() {
        let (auth, clock, (store, _dir)) = (auth(), clock(), store().await);
        let try_ = |t: &'static str| {
            let (auth, clock, store) = (&auth, &clock, &store);
            async move { auth.require(store, clock, &bearer(t), ANY_ROLE, None).await }
        };
        for _ in 0..MAX_FAILURES {
            assert!(matches!(try_("guess").await, Err(AuthError::Unauthorized)));
        }
        // Past the limit, a wrong token waits...
        let e = try_("guess").await.unwrap_err();
        assert!(matches!(e, AuthError::RateLimited { retry_after_s: 60 }));
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "60");
        // ...and a right one from the same address is let in: behind one
        // proxy or NAT, one guesser must not lock out a whole hall.
        assert_eq!(try_("a-secret").await.unwrap().name, "admin");
        clock.advance(Duration::seconds(61));
        assert!(matches!(try_("guess").await, Err(AuthError::Unauthorized)));
    }

    #[tokio::test]
    async fn a_cookie_request_from_a_foreign_page_is_refused() {
        let (auth, clock, (store, _dir)) = (auth(), clock(), store().await);
        let m = session(&auth, &store, &clock, "m-secret").await;
        let post = |origin: Option<&str>| {
            let mut r = TestRequest::post()
                .uri("/api/alerts/x/ack")
                .insert_header(("host", "hall.gov.cn"))
                .insert_header((header::COOKIE, format!("hallwatch_session={m}")));
            if let Some(o) = origin {
                r = r.insert_header(("origin", o));
            }
            r.to_http_request()
        };
        let go = |req| {
            let (auth, clock, store) = (&auth, &clock, &store);
            async move { auth.require(store, clock, &req, ANY_ROLE, None).await }
        };
        let e = go(post(Some("http://evil.example"))).await.unwrap_err();
        assert!(matches!(e, AuthError::OriginRefused));
        assert_eq!(e.error_response().status(), StatusCode::FORBIDDEN);
        assert!(go(post(None)).await.is_err());
        assert!(go(post(Some("http://hall.gov.cn"))).await.is_ok());
        // Checked before the credential: a foreign page learns nothing.
        assert_eq!(auth.limiter.tracked(), 0);
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

    #[tokio::test]
    async fn the_example_configuration_tokens_authenticate() {
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
        let (store, _dir) = store().await;
        let town = bearer("demo-town-manager");
        assert!(
            auth.require(&store, &clock, &town, DASHBOARD, Some("jl-town"))
                .await
                .is_ok()
        );
        assert!(matches!(
            auth.require(&store, &clock, &town, DASHBOARD, Some("jl-center"))
                .await,
            Err(AuthError::Forbidden)
        ));
    }

    #[tokio::test]
    async fn require_reads_the_app_state() {
        let (store, _dir) = store().await;
        let state = AppState {
            alerts: tokio::sync::broadcast::channel(1).0,
            summaries: tokio::sync::broadcast::channel(1).0,
            store,
            registry: Default::default(),
            health: Default::default(),
            metrics: Default::default(),
            clock: Arc::new(clock()),
            auth: Arc::new(auth()),
            near_ahead: 3,
            directory: None,
            board: Default::default(),
            configured: Default::default(),
        };
        let req = TestRequest::default()
            .app_data(web::Data::new(state))
            .insert_header((header::AUTHORIZATION, "Bearer m-secret"))
            .to_http_request();
        assert_eq!(
            require(&req, DASHBOARD, Some("h1")).await.unwrap().name,
            "manager"
        );
        let bare = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer m-secret"))
            .to_http_request();
        assert!(matches!(
            require(&bare, DASHBOARD, Some("h1")).await,
            Err(AuthError::Unauthorized)
        ));
    }
}
