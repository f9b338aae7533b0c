//! Tickets' phone pages (`/t/{token}`): the page a kiosk prints as a QR
//! code, its state as JSON, and giving the ticket up. No login: the token
//! is the ticket's key. A wrong token counts against the client as a wrong
//! login token does, so tokens cannot be tried in bulk; every request under
//! `/t/` draws on the pages' own budget (`limit::PAGE_PER_MINUTE`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tracing::info;

use super::auth::client_key;
use super::{AppState, ErrorBody};
use crate::domain::{TicketPage, TicketToken};

/// The routes of the phone pages, on the main listener and on `[phone]
/// listen`, which serves nothing else.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/t/-/{file}", web::get().to(asset))
        .route("/t/{token}", web::get().to(page))
        .route("/t/{token}/state", web::get().to(state))
        .route("/t/{token}/give-up", web::post().to(give_up))
        // A method a page's path is not served with: 405 naming those it is.
        .service(web::resource("/t/{rest:.*}").to(super::guard::api_fallback));
}

/// The page of a ticket
///
/// The phone page of the ticket holding `token` (the kiosk prints its URL
/// as a QR code): Simplified Chinese, phone-sized, no login. A token of no
/// ticket today (a wrong one, or one whose day has ended) gets a plain 404
/// page; too many wrong tokens from one address in a minute get 429.
#[utoipa::path(
    get,
    path = "/t/{token}",
    tag = "phone",
    operation_id = "ticketPage",
    params(("token" = String, Path, description = "The ticket's token, from the kiosk's reply.",
        example = json!("7k2m9q4x8v1c3n5p6r"))),
    responses(
        (status = 200, description = "The page.", body = String,
            content_type = "text/html; charset=utf-8"),
        (status = 404, description = "No ticket today holds this token.", body = String,
            content_type = "text/html; charset=utf-8"),
        (status = 429, description = "Too many wrong tokens from this address.",
            body = ErrorBody),
    )
)]
pub(super) async fn page(
    req: HttpRequest,
    data: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    match find(&req, &data, &token).await {
        Ok(_) => html(HttpResponse::Ok(), "phone.html"),
        Err(Miss::NotFound) => html(HttpResponse::NotFound(), "phone-404.html"),
        Err(Miss::Limited(s)) => limited(s),
    }
}

/// A ticket's state
///
/// What the phone page draws: the number, the service, how many are ahead
/// and the estimated wait, the window once called, today's hours. The page
/// asks again every few seconds, and at once when the phone wakes.
#[utoipa::path(
    get,
    path = "/t/{token}/state",
    tag = "phone",
    operation_id = "ticketState",
    params(("token" = String, Path, description = "The ticket's token.",
        example = json!("7k2m9q4x8v1c3n5p6r"))),
    responses(
        (status = 200, description = "The ticket as it stands.", body = TicketPage),
        (status = 404, description = "No ticket today holds this token: `unknown_ticket`.",
            body = ErrorBody),
        (status = 429, description = "Too many wrong tokens, or requests, from this address.",
            body = ErrorBody),
    )
)]
pub(super) async fn state(
    req: HttpRequest,
    data: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    match find(&req, &data, &token).await {
        Ok(page) => json(HttpResponse::Ok(), &page),
        Err(Miss::NotFound) => not_found(),
        Err(Miss::Limited(s)) => limited(s),
    }
}

/// Give a ticket up (取消排队)
///
/// The citizen leaves the queue from the ticket's page: a waiting ticket
/// leaves it like a no-show and is counted apart (`cancelled` in the day's
/// figures); a missed one can no longer be called again. Giving up a
/// ticket given up before answers its page again. A ticket called, being
/// served or done is refused (409, `unknown_ticket` with the reason in
/// words).
#[utoipa::path(
    post,
    path = "/t/{token}/give-up",
    tag = "phone",
    operation_id = "giveUpTicket",
    params(("token" = String, Path, description = "The ticket's token.",
        example = json!("7k2m9q4x8v1c3n5p6r"))),
    responses(
        (status = 200, description = "Given up: the ticket's page after.", body = TicketPage),
        (status = 404, description = "No ticket today holds this token.", body = ErrorBody),
        (status = 409, description = "It cannot be given up now: called, served or done.",
            body = ErrorBody),
        (status = 429, description = "Too many wrong tokens, or requests, from this address.",
            body = ErrorBody),
    )
)]
pub(super) async fn give_up(
    req: HttpRequest,
    data: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let (token, hall) = match located(&req, &data, &token) {
        Ok(found) => found,
        Err(Miss::NotFound) => return not_found(),
        Err(Miss::Limited(s)) => return limited(s),
    };
    match hall.give_up(token, data.near_ahead).await {
        Some(Ok(page)) => {
            info!(hall = %page.hall.id, ticket = %page.ticket, client = %client_key(&req),
                "A ticket was given up from its phone page.");
            json(HttpResponse::Ok(), &page)
        }
        Some(Err(refusal)) => json(
            HttpResponse::Conflict(),
            &ErrorBody::new(refusal.reason.code(), refusal.message),
        ),
        None => not_found(),
    }
}

/// The page's script and style
///
/// `phone.js` and `phone.css`, under `/t/-/` so that a listener serving
/// only `/t/` serves them too.
#[utoipa::path(
    get,
    path = "/t/-/{file}",
    tag = "phone",
    operation_id = "ticketPageAsset",
    params(("file" = String, Path, description = "`phone.js` or `phone.css`.",
        example = json!("phone.js"))),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/javascript; charset=utf-8"),
            (String = "text/css; charset=utf-8"),
        )),
        (status = 404, description = "No such file.", body = String,
            content_type = "text/plain; charset=utf-8"),
    )
)]
pub(super) async fn asset(file: web::Path<String>) -> HttpResponse {
    match file.as_str() {
        "phone.js" | "phone.css" | "common.js" => super::pages::page(&file),
        _ => super::pages::page(""),
    }
}

/// Why a token found no ticket.
enum Miss {
    NotFound,
    /// Too many wrong tokens from this client: seconds to wait.
    Limited(u64),
}

/// The hall holding `token`'s ticket, the token parsed; a miss counts
/// against the client.
fn located(
    req: &HttpRequest,
    data: &AppState,
    token: &str,
) -> Result<(TicketToken, crate::engine::HallHandle), Miss> {
    let found = TicketToken::parse(token)
        .ok()
        .and_then(|t| data.registry.hall_of_page(&t).map(|h| (t, h)));
    found.ok_or_else(|| miss(req, data))
}

/// The page of `token`'s ticket; a miss counts against the client.
async fn find(req: &HttpRequest, data: &AppState, token: &str) -> Result<TicketPage, Miss> {
    let (token, hall) = located(req, data, token)?;
    match hall.ticket_page(token, data.near_ahead).await {
        Some(page) => Ok(page),
        None => Err(miss(req, data)),
    }
}

/// A wrong token: counted, and refused with 429 once the client is over
/// its limit.
fn miss(req: &HttpRequest, data: &AppState) -> Miss {
    let client = client_key(req);
    let now = data.clock.now();
    let limited = data.auth.limiter.check(client, now);
    data.auth.limiter.record_failure(client, now);
    match limited {
        Err(s) => {
            data.metrics.rate_limited();
            info!(%client, "Refused: too many wrong ticket tokens.");
            Miss::Limited(s)
        }
        Ok(()) => Miss::NotFound,
    }
}

fn html(mut res: actix_web::HttpResponseBuilder, file: &str) -> HttpResponse {
    let body = super::pages::embedded(file).unwrap_or_default();
    res.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn json<T: Serialize>(mut res: actix_web::HttpResponseBuilder, body: &T) -> HttpResponse {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

fn not_found() -> HttpResponse {
    json(
        HttpResponse::NotFound(),
        &ErrorBody::new("unknown_ticket", "号码不存在或已过期"),
    )
}

fn limited(retry_after_s: u64) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, retry_after_s.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ErrorBody::new(
            "rate_limited",
            format!("请求过于频繁，请 {retry_after_s} 秒后再试"),
        ))
}
