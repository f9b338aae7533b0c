//! 限时办结 over REST: back-office systems report what became of a case,
//! departments explain their cards, supervisors close them and record the
//! steps of a bad review's follow-up; the 限时办结 view and the cases it
//! lists.
//!
//! Each action is the hall's own input, logged like a device message: the
//! same report sent by REST and by MQTT is one.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{self, Principal};
use super::openapi::{Forbidden, PayloadTooLarge, Unauthorized, Unavailable};
use super::{ApiError, AppState, ErrorBody};
use crate::config::Role;
use crate::domain::{
    CardOp, CaseBoard, CaseEvent, CaseOp, CaseView, FollowStep, HallId, Input, MAX_NOTE, Reason,
    Refusal,
};
use crate::engine::HallHandle;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/halls/{hall}/cases", web::get().to(board))
        .route("/api/halls/{hall}/cases/{ref}", web::get().to(one_case))
        .route(
            "/api/halls/{hall}/cases/{ref}/events",
            web::post().to(report),
        )
        .route("/api/halls/{hall}/cards/{id}/{op}", web::post().to(card))
        .route(
            "/api/halls/{hall}/follow-ups/{id}/{step}",
            web::post().to(step),
        );
}

/// Who may read the 限时办结 view.
const READ: &[Role] = &[Role::Supervisor, Role::Manager, Role::Backoffice];
/// Who may explain a card (the department's 情况说明).
const EXPLAIN: &[Role] = &[Role::Backoffice, Role::Supervisor];

/// The hall of a path, after the token: 404 for a hall not served here.
fn hall(state: &AppState, id: &str) -> Result<HallHandle, ApiError> {
    state
        .registry
        .get_str(id)
        .ok_or_else(|| ApiError::UnknownHall(id.to_owned()))
}

/// A refusal as its HTTP answer.
fn refused(r: &Refusal) -> HttpResponse {
    let body = ErrorBody::new(r.reason.code(), &r.message);
    match r.reason {
        // A source the hall does not register is no back office here.
        Reason::UnknownCase
        | Reason::UnknownCard
        | Reason::UnknownFollowUp
        | Reason::UnknownDevice => HttpResponse::NotFound().json(body),
        Reason::OutOfOrder
        | Reason::CardOutOfOrder
        | Reason::StepOutOfOrder
        | Reason::IdReused
        | Reason::DuplicateCase => HttpResponse::Conflict().json(body),
        _ => HttpResponse::UnprocessableEntity().json(body),
    }
}

/// The answer to an action.
fn answered(answer: Option<crate::engine::CaseAnswer>) -> Result<HttpResponse, actix_web::Error> {
    match answer {
        Some(Ok((view, duplicate))) => Ok(HttpResponse::Ok()
            .insert_header(("Hallwatch-Duplicate", if duplicate { "1" } else { "0" }))
            .json(view)),
        Some(Err(r)) => Ok(refused(&r)),
        None => Err(ApiError::Unavailable.into()),
    }
}

/// A JSON body, named when it cannot be read.
pub(super) fn body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    bytes: &web::Bytes,
    shape: &str,
) -> Result<T, ApiError> {
    super::require_json(req)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            ApiError::BadRequest(format!("the body must be {shape}: {}", e.inner()))
        } else {
            ApiError::BadRequest(format!("field `{path}`: {}", e.inner()))
        }
    })
}

/// A text field: trimmed, at most `max` characters, no control characters
/// but line breaks; blank is none.
fn text(name: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim();
    if v.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{name} is longer than {max} characters"
        )));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::BadRequest(format!(
            "{name} contains control characters"
        )));
    }
    Ok((!v.is_empty()).then(|| v.to_owned()))
}

/// Whether a back-office token may act on the case `reference`: only on
/// its departments' cases.
async fn check_department(
    who: &Principal,
    hall: &HallHandle,
    reference: &str,
) -> Result<Option<CaseView>, actix_web::Error> {
    let case = hall.case(reference.to_owned()).await;
    if who.role == Role::Backoffice
        && let Some(Some(c)) = &case
        && !who.may_report(c.department.as_deref())
    {
        tracing::info!(name = %who.name, case = reference, "Refused: case of another department.");
        return Err(auth::AuthError::Forbidden.into());
    }
    case.ok_or_else(|| ApiError::Unavailable.into())
}

/// The 限时办结 view of a hall
///
/// Open cases (承诺件) soonest due first, the cards still open and those
/// closed in the last 30 days, newest first, and the bad reviews' follow-ups
/// not yet called back. Role `supervisor`, `manager` or `backoffice` (or
/// `admin`) within the hall scope; a back-office token limited to
/// departments sees only theirs.
#[utoipa::path(
    get,
    path = "/api/halls/{hall}/cases",
    tag = "cases",
    operation_id = "caseBoard",
    params(("hall" = HallId, Path, description = "The hall's id.")),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The hall's 限时办结 view.", body = CaseBoard),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall here.", body = ErrorBody,
            example = json!({"error": "unknown_hall", "message": "hall \"nope\" is not served here"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn board(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let id = path.into_inner();
    let who = auth::require(&req, READ, Some(&id)).await?;
    let hall = hall(&state, &id)?;
    let mut board = hall.case_board().await.ok_or(ApiError::Unavailable)?;
    if who.role == Role::Backoffice {
        board
            .open
            .retain(|c| who.may_report(c.department.as_deref()));
        board
            .cards
            .retain(|c| who.may_report(c.department.as_deref()));
        board
            .follow_ups
            .retain(|f| who.may_report(f.department.as_deref()));
    }
    Ok(HttpResponse::Ok().json(board))
}

/// One case
///
/// A case with its deadline, state, cards and the back office's reports.
/// Roles as for the 限时办结 view.
#[utoipa::path(
    get,
    path = "/api/halls/{hall}/cases/{ref}",
    tag = "cases",
    operation_id = "getCase",
    params(
        ("hall" = HallId, Path, description = "The hall's id."),
        ("ref" = String, Path, description = "The case's reference (办件编号)."),
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The case.", body = CaseView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall, or no such case.", body = ErrorBody,
            example = json!({"error": "unknown_case", "message": "办件不存在"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn one_case(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (id, reference) = path.into_inner();
    let who = auth::require(&req, READ, Some(&id)).await?;
    let hall = hall(&state, &id)?;
    match check_department(&who, &hall, &reference).await? {
        Some(case) => Ok(HttpResponse::Ok().json(case)),
        None => Ok(refused(&Refusal::new(Reason::UnknownCase))),
    }
}

/// A back-office report of a case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source": "ywxt", "id": "ywxt-000311", "op": "suspend", "reason": "补正：缺户口簿复印件"}))]
pub struct CaseEventRequest {
    /// The back-office system reporting: one of the hall's `backoffice`
    /// sources.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,32}$")]
    source: String,
    /// Unique within the source: the same source and id, by REST or MQTT,
    /// is one report.
    #[schema(value_type = String, pattern = "^[\\x21-\\x7e]{1,64}$")]
    id: String,
    op: CaseOp,
    /// Why; required to suspend (补正, 特别程序). At most 500 characters,
    /// no control characters but line breaks.
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*$"
    )]
    reason: Option<String>,
    /// The case's reference again, if given: it must be the path's (409
    /// `ref_mismatch` otherwise).
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    /// The back office's own time of it (RFC 3339); recorded, never used.
    #[serde(default)]
    #[allow(dead_code)]
    at: Option<String>,
}

/// Report what became of a case
///
/// `suspend` (补正 or 特别程序: the clock stops; needs `reason`), `resume`,
/// `complete` (办结), `deliver` (出件/送达, after complete), `withdraw`. The
/// same payload as MQTT's `{prefix}/{hall}/case/{source}/event`; a report
/// is taken once per source and id whichever way it came, and a repeat is
/// answered with the case as it stands (header `Hallwatch-Duplicate: 1`).
/// Role `backoffice` (or `admin`) within the hall scope; a token limited to
/// departments reports only their cases.
#[utoipa::path(
    post,
    path = "/api/halls/{hall}/cases/{ref}/events",
    tag = "cases",
    operation_id = "reportCaseEvent",
    params(
        ("hall" = HallId, Path, description = "The hall's id."),
        ("ref" = String, Path, description = "The case's reference (办件编号)."),
    ),
    request_body(content = CaseEventRequest),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "Taken (or taken before): the case as it now stands.", body = CaseView),
        (status = 400, description = "The body is not a report; the message names the field.", body = ErrorBody,
            example = json!({"error": "bad_request", "message": "field `op`: unknown variant `finish`"})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall, no such case (`unknown_case`), or a source the hall does not register (`unknown_device`).", body = ErrorBody,
            example = json!({"error": "unknown_case", "message": "办件不存在"})),
        (status = 409, description = "The case cannot take this report in its state (`out_of_order`), the id was used for another report (`id_reused`), or the body's `ref` is not the path's (`ref_mismatch`).", body = ErrorBody,
            example = json!({"error": "out_of_order", "message": "办件当前状态不能进行该操作"})),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = super::openapi::NotJson),
        (status = 422, description = "`suspend` without a reason (`note_required`).", body = ErrorBody,
            example = json!({"error": "note_required", "message": "须填写说明"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn report(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (id, reference) = path.into_inner();
    let who = auth::require(&req, auth::BACKOFFICE, Some(&id)).await?;
    let hall = hall(&state, &id)?;
    let r: CaseEventRequest = body(&req, &bytes, "a case report")?;
    crate::domain::DeviceId::parse(&r.source)
        .map_err(|e| ApiError::BadRequest(format!("source {:?} {e}", r.source)))?;
    crate::domain::MsgId::parse(&r.id)
        .map_err(|e| ApiError::BadRequest(format!("id {:?} {e}", r.id)))?;
    if r.reference.as_ref().is_some_and(|x| *x != reference) {
        return Ok(HttpResponse::Conflict().json(ErrorBody::new(
            "ref_mismatch",
            "the body's ref is not the path's case",
        )));
    }
    let reason = text("reason", r.reason, MAX_NOTE)?;
    check_department(&who, &hall, &reference).await?;
    let input = Input::Case {
        event: CaseEvent {
            source: r.source,
            id: r.id,
            reference,
            op: r.op,
            reason,
        },
    };
    answered(hall.casework(input).await)
}

/// A note with an action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "因系统故障延误，已补办"}))]
pub struct ActionNote {
    /// Required: not blank, at most 500 characters, no control characters
    /// but line breaks.
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*$"
    )]
    note: String,
}

/// Explain or close a card
///
/// `explain`: the department's 情况说明 (role `backoffice` of the card's
/// department, or `supervisor`); `uphold` or `withdraw` (on appeal, with the
/// reason): a supervisor closes it (role `supervisor`). Cards are never
/// deleted. The change reaches the consoles and `{prefix}/{hall}/card`.
#[utoipa::path(
    post,
    path = "/api/halls/{hall}/cards/{id}/{op}",
    tag = "cases",
    operation_id = "actOnCard",
    params(
        ("hall" = HallId, Path, description = "The hall's id."),
        ("id" = String, Path, description = "The card's id."),
        ("op" = CardOp, Path, description = "`explain`, `uphold` or `withdraw`."),
    ),
    request_body(content = ActionNote),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The card as it now stands.", body = crate::domain::CardView),
        (status = 400, description = "`op` is not a card action, or the body is not `{\"note\": \"…\"}`.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall, or no such card.", body = ErrorBody,
            example = json!({"error": "unknown_card", "message": "牌示不存在"})),
        (status = 409, description = "The card cannot take this action in its state.", body = ErrorBody,
            example = json!({"error": "card_out_of_order", "message": "牌示当前状态不能进行该操作"})),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = super::openapi::NotJson),
        (status = 422, description = "No note.", body = ErrorBody,
            example = json!({"error": "note_required", "message": "须填写说明"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn card(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (id, card, op) = path.into_inner();
    let op_named = serde_json::from_value::<CardOp>(serde_json::Value::String(op.clone()));
    let roles = match op_named {
        Ok(CardOp::Explain) => EXPLAIN,
        _ => auth::ALERTS,
    };
    let who = auth::require(&req, roles, Some(&id)).await?;
    let hall = hall(&state, &id)?;
    let op = op_named
        .map_err(|_| ApiError::BadRequest(format!("{op:?} is not explain, uphold or withdraw")))?;
    let note: ActionNote = body(&req, &bytes, "{\"note\": \"...\"}")?;
    let note = text("note", Some(note.note), MAX_NOTE)?.unwrap_or_default();
    if who.role == Role::Backoffice {
        let cards = hall.recent_cards().await;
        if let Some(c) = cards.iter().find(|c| c.id == card)
            && !who.may_report(c.department.as_deref())
        {
            return Err(auth::AuthError::Forbidden.into());
        }
    }
    let input = Input::CardAction {
        card,
        op,
        by: who.name,
        note,
    };
    answered(hall.casework(input).await)
}

/// Record a step of a bad review's follow-up
///
/// `verify` (核实), `rectify` (整改), `call_back` (回访), in that order, each
/// with its note; each is due a configured number of working days after the
/// one before (1, 5 and 5 by default), and one done late earns the
/// department a 黄牌. Role `supervisor` (or `admin`).
#[utoipa::path(
    post,
    path = "/api/halls/{hall}/follow-ups/{id}/{step}",
    tag = "cases",
    operation_id = "recordFollowUpStep",
    params(
        ("hall" = HallId, Path, description = "The hall's id."),
        ("id" = String, Path, description = "The follow-up's id: the id of its bad_rating alert."),
        ("step" = FollowStep, Path, description = "`verify`, `rectify` or `call_back`."),
    ),
    request_body(content = ActionNote),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The follow-up as it now stands.", body = crate::domain::FollowUpView),
        (status = 400, description = "`step` is not a step, or the body is not `{\"note\": \"…\"}`.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall, or no such follow-up.", body = ErrorBody,
            example = json!({"error": "unknown_follow_up", "message": "差评整改记录不存在"})),
        (status = 409, description = "Not the follow-up's current step.", body = ErrorBody,
            example = json!({"error": "step_out_of_order", "message": "不是当前应办理的整改环节"})),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = super::openapi::NotJson),
        (status = 422, description = "No note.", body = ErrorBody,
            example = json!({"error": "note_required", "message": "须填写说明"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn step(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (id, follow_up, step) = path.into_inner();
    let who = auth::require(&req, auth::ALERTS, Some(&id)).await?;
    let hall = hall(&state, &id)?;
    let step = serde_json::from_value::<FollowStep>(serde_json::Value::String(step.clone()))
        .map_err(|_| {
            ApiError::BadRequest(format!("{step:?} is not verify, rectify or call_back"))
        })?;
    let note: ActionNote = body(&req, &bytes, "{\"note\": \"...\"}")?;
    let note = text("note", Some(note.note), MAX_NOTE)?.unwrap_or_default();
    let input = Input::FollowUpStep {
        follow_up,
        step,
        by: who.name,
        note,
    };
    answered(hall.casework(input).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_answer_with_their_status() {
        let status = |r| refused(&Refusal::new(r)).status().as_u16();
        assert_eq!(status(Reason::UnknownCase), 404);
        assert_eq!(status(Reason::OutOfOrder), 409);
        assert_eq!(status(Reason::IdReused), 409);
        assert_eq!(status(Reason::NoteRequired), 422);
        assert_eq!(status(Reason::UnknownDevice), 404);
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(
            text("n", Some("  x ".into()), 5).unwrap().as_deref(),
            Some("x")
        );
        assert_eq!(text("n", Some("   ".into()), 5).unwrap(), None);
        assert!(text("n", Some("123456".into()), 5).is_err());
        assert!(text("n", Some("a\u{1b}b".into()), 5).is_err());
    }
}
