//! Appointments (预约) over REST, from the booking platform (role
//! `booking`): a booking is put under its reference and deleted to cancel
//! it. Each is the hall's own input, logged like a device message.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth;
use super::cases::body;
use super::openapi::{Forbidden, PayloadTooLarge, Unauthorized, Unavailable};
use super::{ApiError, AppState, ErrorBody};
use crate::domain::{Booking, BookingRequest, Input, REFERENCE_MAX, Reason, Refusal, ServiceCode};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/halls/{hall}/appointments/{ref}", web::put().to(put))
        .route(
            "/api/halls/{hall}/appointments/{ref}",
            web::delete().to(delete),
        );
}

/// A booking as the platform sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"service": "SB", "slot_start": "2026-11-23T10:00:00+08:00",
    "slot_end": "2026-11-23T10:30:00+08:00"}))]
pub struct BookingBody {
    /// The service booked, by its code.
    service: ServiceCode,
    /// The slot's start, RFC 3339 with an offset: on the hall's slot grid
    /// (`[appointments] slot_min`, 30 minutes by default) within office hours.
    slot_start: DateTime<FixedOffset>,
    /// The slot's end: one slot after its start.
    slot_end: DateTime<FixedOffset>,
}

/// A path's booking reference: 1 to 64 characters, no control characters.
fn reference(r: &str) -> Result<String, ApiError> {
    let r = r.trim();
    if r.is_empty() || r.chars().count() > REFERENCE_MAX || r.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "the booking reference must be 1 to {REFERENCE_MAX} characters without control characters"
        )));
    }
    Ok(r.to_owned())
}

fn refused(r: &Refusal) -> HttpResponse {
    let body = ErrorBody::new(r.reason.code(), &r.message);
    match r.reason {
        Reason::UnknownAppointment | Reason::UnknownService => HttpResponse::NotFound().json(body),
        // The hall's slots and bookings as they stand: not this one.
        _ => HttpResponse::Conflict().json(body),
    }
}

fn answered(
    answer: Option<Result<(Booking, bool), Refusal>>,
) -> Result<HttpResponse, actix_web::Error> {
    match answer {
        Some(Ok((booking, duplicate))) => Ok(HttpResponse::Ok()
            .insert_header(("Hallwatch-Duplicate", if duplicate { "1" } else { "0" }))
            .json(booking)),
        Some(Err(r)) => Ok(refused(&r)),
        None => Err(ApiError::Unavailable.into()),
    }
}

/// Book an appointment
///
/// Books the service's slot under the platform's reference, or moves a
/// booking not yet checked in to another slot or service. The same booking
/// again is answered alike (`Hallwatch-Duplicate: 1`). A slot holds
/// `[appointments] per_slot` bookings per service (4 by default); past
/// that, 409 `slot_full`. At the kiosk the reference checks in from 30
/// minutes before the slot to 15 after its start (configurable); a booking
/// not checked in by then is 爽约.
#[utoipa::path(
    put,
    path = "/api/halls/{hall}/appointments/{ref}",
    tag = "appointments",
    operation_id = "putAppointment",
    params(
        ("hall" = crate::domain::HallId, Path, description = "The hall's id."),
        ("ref" = String, Path, description = "The booking platform's reference (预约号): \
            1 to 64 characters, no control characters, no blank at either end.",
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$",
            example = json!("YY20261123-0031")),
    ),
    request_body = BookingBody,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "Booked (or the same booking again).", body = Booking,
            headers(("Hallwatch-Duplicate" = String,
                description = "`1` when it was booked already, else `0`."))),
        (status = 400, description = "A body or reference that cannot be read.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall here, or no such service in it \
            (`unknown_service`).", body = ErrorBody),
        (status = 409, description = "Not a slot the hall has: `bad_slot` (not on the \
            grid, not one slot long, outside office hours, over), `slot_full`, or \
            `appointment_closed` (checked in, cancelled or missed).", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, description = "The body is not declared `application/json`.",
            body = ErrorBody),
        (status = 429, description = "Too many requests from this client.", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn put(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (id, r) = path.into_inner();
    let who = auth::require(&req, auth::BOOKING, Some(&id)).await?;
    let hall = state.hall(&id)?;
    let reference = reference(&r)?;
    let b: BookingBody = body(&req, &bytes, "a booking")?;
    let input = Input::Book {
        booking: BookingRequest {
            reference,
            service: b.service,
            slot_start: b.slot_start.to_utc(),
            slot_end: b.slot_end.to_utc(),
        },
        by: who.name,
    };
    answered(hall.booking(input).await)
}

/// Cancel an appointment
///
/// Cancels a booking not yet checked in; one cancelled before is answered
/// alike (`Hallwatch-Duplicate: 1`). A checked-in or missed booking cannot
/// be cancelled (409 `appointment_closed`).
#[utoipa::path(
    delete,
    path = "/api/halls/{hall}/appointments/{ref}",
    tag = "appointments",
    operation_id = "cancelAppointment",
    params(
        ("hall" = crate::domain::HallId, Path, description = "The hall's id."),
        ("ref" = String, Path, description = "The booking platform's reference (预约号): \
            1 to 64 characters, no control characters, no blank at either end.",
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$",
            example = json!("YY20261123-0031")),
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "Cancelled (or cancelled before).", body = Booking,
            headers(("Hallwatch-Duplicate" = String,
                description = "`1` when it was cancelled already, else `0`."))),
        (status = 400, description = "A reference that cannot be read.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall here, or no such booking \
            (`unknown_appointment`).", body = ErrorBody),
        (status = 409, description = "`appointment_closed`: checked in or missed.",
            body = ErrorBody),
        (status = 429, description = "Too many requests from this client.", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (id, r) = path.into_inner();
    let who = auth::require(&req, auth::BOOKING, Some(&id)).await?;
    let hall = state.hall(&id)?;
    let input = Input::CancelBooking {
        reference: reference(&r)?,
        by: who.name,
    };
    answered(hall.booking(input).await)
}
