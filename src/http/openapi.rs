//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers'
//! `#[utoipa::path]` annotations and the types they answer with, served at
//! `GET /api/openapi.json` and kept in `docs/openapi.json` for readers.
//!
//! What no annotation can say is added here, in [`Conventions`]: the
//! security schemes, what the middleware does to every answer (the request
//! budget's 429, `Cache-Control` under `/api/`, the pages' security
//! headers), the WebSocket channels' handshakes and messages, and where the
//! derived schemas say less than the wire does (see [`every_field_sent`]
//! and [`optional_bodies`]).

use std::borrow::Cow;
use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{Value, json};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::info::{Info, License};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, Object, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use super::auth::AuthError;
use super::frames::{
    AlertOpRequest, AlertsMessage, DashboardMessage, DisplayMessage, RegionMessage,
};
use super::limit::{BURST, PER_MINUTE};
use super::ws::{IDLE_LIMIT, MAX_FRAME, PING_EVERY, SEND_TIMEOUT};
use super::{ApiError, CONTENT_SECURITY_POLICY, ErrorBody, MAX_BODY, PERMISSIONS_POLICY};

#[derive(OpenApi)]
#[openapi(
    paths(
        super::healthz,
        super::metrics,
        super::halls,
        super::snapshot,
        super::stats::stats,
        serve,
        super::auth::login,
        super::auth::logout,
        super::auth::me,
        super::alerts::list,
        super::alerts::deliveries,
        super::alerts::act_route,
        super::cases::board,
        super::cases::one_case,
        super::cases::report,
        super::cases::card,
        super::cases::step,
        super::appraisal::hall_appraisal,
        super::appraisal::region_appraisal,
        super::dashboard::regions,
        super::appointments::put,
        super::appointments::delete,
        super::phone::page,
        super::phone::state,
        super::phone::give_up,
        super::phone::asset,
        super::display::display_ws,
        super::dashboard::dashboard_ws,
        super::dashboard::region_ws,
        super::alerts::alerts_ws,
        super::pages::index,
        super::codes::codes_js,
        super::pages::file,
    ),
    components(
        schemas(
            crate::domain::HallId,
            crate::domain::WindowId,
            crate::domain::Rule,
            crate::domain::Severity,
            crate::domain::AlertState,
            crate::domain::AlertOp,
            crate::domain::CardOp,
            crate::domain::FollowStep,
            crate::domain::AppraisalBy,
            DisplayMessage,
            DashboardMessage,
            RegionMessage,
            AlertsMessage,
            AlertOpRequest,
        ),
        responses(
            Unauthorized,
            BadToken,
            Forbidden,
            RateLimited,
            UnknownHall,
            Unavailable,
            PayloadTooLarge,
            OriginRefused,
            NotJson
        )
    ),
    servers((url = "/", description = "The server that serves this document.")),
    tags(
        (name = "halls", description = "The halls and their public snapshot."),
        (name = "stats", description = "Daily figures for managers."),
        (name = "alerts", description = "Alert history and actions for supervisors."),
        (name = "cases", description = "限时办结: cases, their cards and bad reviews' follow-up."),
        (name = "auth", description = "Logging browsers in and out."),
        (name = "appointments", description = "Bookings from the booking platform (预约)."),
        (name = "phone", description = "Citizens' phone pages of their tickets: no login, the token is the key."),
        (name = "websocket", description = "Live channels for screens and consoles."),
        (name = "operations", description = "Health, metrics and this document."),
        (name = "pages", description = "The embedded browser screens."),
    ),
    modifiers(&Conventions)
)]
struct ApiDoc;

/// The document as `docs/openapi.json` holds it: pretty-printed, with a
/// trailing newline.
pub fn openapi_json() -> String {
    document().to_owned()
}

/// Built once: the document never changes while the server runs.
fn document() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises");
        text.push('\n');
        text
    })
}

/// The API's paths (and the phone pages') and the methods each is served with (`"GET, POST"`), as
/// the document lists them: what a 405 names in `Allow`.
pub(super) fn api_methods() -> &'static [(String, String)] {
    static METHODS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let doc: Value = serde_json::from_str(document()).unwrap_or_default();
        let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
            return Vec::new();
        };
        paths
            .iter()
            .filter(|(p, _)| p.starts_with("/api/") || p.starts_with("/t/"))
            .map(|(p, item)| {
                let methods: Vec<String> = ["get", "post", "put", "patch", "delete"]
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                (p.clone(), methods.join(", "))
            })
            .collect()
    })
}

/// This document
///
/// The OpenAPI 3.1 description of the whole HTTP API. No token needed.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    operation_id = "getOpenApi",
    responses(
        (status = 200, description = "The document.", body = Object,
            content_type = "application/json"),
    )
)]
pub(super) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// A string schema that admits one value (JSON Schema's `const`). utoipa's
/// schema object has no field for `const`; its map of extra keys is
/// serialised flat into the object, so the keyword goes there.
pub(crate) fn fixed(value: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .extensions(Some(Extensions::from_iter([("const", value)])))
        .build()
}

fn header_ref(name: &str) -> Ref {
    Ref::new(format!("#/components/headers/{name}"))
}

fn header(description: &str, schema: impl Into<RefOr<utoipa::openapi::schema::Schema>>) -> Header {
    HeaderBuilder::new()
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// An error answer with its headers and examples of its body.
fn error_response(
    description: &str,
    headers: &[&str],
    examples: &[(&str, ErrorBody)],
) -> RefOr<Response> {
    let mut content = ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name())));
    for (name, body) in examples {
        let value = serde_json::to_value(body).unwrap_or_default();
        content =
            content.examples_from_iter([(*name, ExampleBuilder::new().value(Some(value)).build())]);
    }
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content.build());
    for name in headers {
        response = response.header_ref(header_name(name), header_ref(name));
    }
    response.build().into()
}

/// The HTTP name of a header component.
fn header_name(component: &str) -> &'static str {
    match component {
        "CacheControlNoStore" | "CacheControlNoCache" => "Cache-Control",
        "WwwAuthenticate" => "WWW-Authenticate",
        "RetryAfter" => "Retry-After",
        "ContentSecurityPolicy" => "Content-Security-Policy",
        "XContentTypeOptions" => "X-Content-Type-Options",
        "ReferrerPolicy" => "Referrer-Policy",
        "XFrameOptions" => "X-Frame-Options",
        "PermissionsPolicy" => "Permissions-Policy",
        other => unreachable!("no header component {other}"),
    }
}

fn example(e: &(impl std::fmt::Display + ?Sized), code: &'static str) -> ErrorBody {
    ErrorBody::new(code, e.to_string())
}

/// The answers several operations share, as `components/responses`.
macro_rules! shared_response {
    ($(#[doc = $doc:literal])* $name:ident => $build:expr) => {
        $(#[doc = $doc])*
        pub(super) struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), $build)
            }
        }
    };
}

shared_response!(
    /// 401 from a protected route.
    Unauthorized => error_response(
        "No token or session was presented, or the first one presented (header, then, on a \
         WebSocket handshake, query, then the session cookie) matches no configured token or \
         open session (a session ends at logout or after `[server] session_hours`); or a REST \
         request carried `?token=` (`token_in_url`). A wrong token or unknown session counts \
         against the client's rate limit; a token in a URL is refused unchecked.",
        &["WwwAuthenticate", "CacheControlNoStore"],
        &[
            ("unauthorized", example(&AuthError::Unauthorized, AuthError::Unauthorized.code())),
            ("token_in_url", example(&AuthError::TokenInUrl, AuthError::TokenInUrl.code())),
        ],
    )
);

shared_response!(
    /// 401 from the login.
    BadToken => error_response(
        "The token matches no configured token. No session is opened.",
        &["WwwAuthenticate", "CacheControlNoStore"],
        &[("bad_token", example(&AuthError::BadToken, AuthError::BadToken.code()))],
    )
);

shared_response!(
    /// 403 from a protected route.
    Forbidden => error_response(
        "A valid token whose role may not use this, or whose hall scope does not hold the hall.",
        &["CacheControlNoStore"],
        &[("forbidden", example(&AuthError::Forbidden, AuthError::Forbidden.code()))],
    )
);

shared_response!(
    /// 429 from the request budget or the wrong-token limit.
    RateLimited => {
        let budget = ApiError::RateLimited { retry_after_s: 1 };
        let tokens = AuthError::RateLimited { retry_after_s: 1 };
        error_response(
            &format!(
                "Either this client is over its request budget ({PER_MINUTE} `/api/…` requests \
                 and `/ws/…` handshakes a minute, in bursts of up to {BURST}; wait `Retry-After` \
                 seconds), or it presented ten wrong tokens or unknown sessions within a minute \
                 (anywhere: login, API or WebSocket), after which every wrong one is refused \
                 this way until the oldest of those failures is a minute old; a right token or \
                 open session is never refused by that limit. Clients are told apart by address \
                 (an IPv6 client by its /64; behind a configured trusted proxy, by \
                 `X-Forwarded-For`)."
            ),
            &["RetryAfter", "CacheControlNoStore"],
            &[
                ("rate_limited", example(&budget, budget.code())),
                ("wrong_tokens", example(&tokens, tokens.code())),
            ],
        )
    }
);

shared_response!(
    /// 404 for a hall id no hall has.
    UnknownHall => {
        let e = ApiError::UnknownHall("nope".into());
        error_response(
            "No hall with this id is served here.",
            &[],
            &[("unknown_hall", example(&e, e.code()))],
        )
    }
);

shared_response!(
    /// 503 while a hall restarts or the store fails.
    Unavailable => error_response(
        "The hall's task is restarting (try again), or the store cannot answer.",
        &[],
        &[("unavailable", example(&ApiError::Unavailable, ApiError::Unavailable.code()))],
    )
);

shared_response!(
    /// 403 for a browser request from a foreign page.
    OriginRefused => error_response(
        "A request authenticated by the session cookie that changes something, or a WebSocket \
         handshake, whose `Origin` is not one of the server's own pages (`[server] \
         public_origins`, or with none configured the host the request was sent to); or such a \
         cookie request without any `Origin`. Programs that present a bearer token and send no \
         `Origin` are not affected.",
        &["CacheControlNoStore"],
        &[(
            "origin_refused",
            example(&AuthError::OriginRefused, AuthError::OriginRefused.code()),
        )],
    )
);

shared_response!(
    /// 415 for a body not declared JSON.
    NotJson => error_response(
        "The request has a body whose `Content-Type` is not `application/json`; it is not read.",
        &["CacheControlNoStore"],
        &[(
            "unsupported_media_type",
            example(&ApiError::NotJson, ApiError::NotJson.code()),
        )],
    )
);

shared_response!(
    /// 413 for a body over [`MAX_BODY`].
    PayloadTooLarge => error_response(
        &format!("The request body is over {} KiB; it is not read.", MAX_BODY / 1024),
        &["CacheControlNoStore"],
        &[(
            "payload_too_large",
            example(&ApiError::PayloadTooLarge, ApiError::PayloadTooLarge.code()),
        )],
    )
);

/// A WebSocket channel: its path, the schema of what the server sends and
/// of what a client may send (None: nothing but signs of life).
struct Channel {
    path: &'static str,
    server: Cow<'static, str>,
    client: Option<Cow<'static, str>>,
}

fn channels() -> [Channel; 4] {
    let read_only = |path, server| Channel {
        path,
        server,
        client: None,
    };
    [
        read_only("/ws/display/{hall}", DisplayMessage::name()),
        read_only("/ws/dashboard/{hall}", DashboardMessage::name()),
        read_only("/ws/region", RegionMessage::name()),
        Channel {
            path: "/ws/alerts",
            server: AlertsMessage::name(),
            client: Some(AlertOpRequest::name()),
        },
    ]
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// What the annotations cannot say; see the module documentation.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.info = info();
        let components = doc.components.get_or_insert_with(Default::default);
        components.security_schemes.extend(
            security_schemes()
                .into_iter()
                .map(|(name, scheme)| (name, RefOr::T(scheme))),
        );
        components.headers.extend(
            headers()
                .into_iter()
                .map(|(name, h)| (name.to_owned(), RefOr::T(h))),
        );
        components.parameters.extend(
            handshake()
                .into_iter()
                .map(|(name, p)| (name.to_owned(), RefOr::T(p))),
        );
        let channels = channels();
        let mut requests: Vec<String> = channels
            .iter()
            .filter_map(|c| c.client.as_ref().map(|c| c.to_string()))
            .collect();
        for (path, item) in doc.paths.paths.iter_mut() {
            let channel = channels.iter().find(|c| c.path == path);
            for op in operations(item) {
                if path.starts_with("/api/") || path.starts_with("/ws/") {
                    op.responses
                        .responses
                        .entry("429".to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name("RateLimited")));
                }
                if path.starts_with("/api/") {
                    never_cached(op);
                }
                if op.tags.iter().flatten().any(|t| t == "pages") {
                    page_headers(op);
                }
                if let Some(c) = channel {
                    websocket(op, &c.server, c.client.as_deref());
                }
                optional_bodies(op);
                requests.extend(request_schemas(op));
            }
        }
        if let Some(components) = &mut doc.components {
            every_field_sent(&mut components.schemas, &requests);
        }
        one_line_paragraphs(doc);
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// `api_guard` marks every `/api/` answer `no-store` when the handler set
/// no `Cache-Control` of its own, and none sets another.
fn never_cached(op: &mut Operation) {
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(r) = response {
            r.headers
                .entry("Cache-Control".to_owned())
                .or_insert_with(|| RefOr::Ref(header_ref("CacheControlNoStore")));
        }
    }
}

/// The pages revalidate, and carry the security headers every answer gets.
fn page_headers(op: &mut Operation) {
    if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
        for name in [
            "CacheControlNoCache",
            "ContentSecurityPolicy",
            "XContentTypeOptions",
            "ReferrerPolicy",
            "XFrameOptions",
            "PermissionsPolicy",
        ] {
            ok.headers
                .insert(header_name(name).to_owned(), RefOr::Ref(header_ref(name)));
        }
    }
}

/// utoipa describes an `Option<T>` body as a nullable `T`; on the wire an
/// optional body is absent, never `null` (which the handlers refuse), so
/// the body is a `T` that may be left out.
fn optional_bodies(op: &mut Operation) {
    let Some(RefOr::T(body)) = &mut op.request_body else {
        return;
    };
    let mut optional = false;
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        let present = match &content.schema {
            Some(RefOr::T(Schema::OneOf(o))) if o.items.len() == 2 => o
                .items
                .iter()
                .position(is_null)
                .map(|null| o.items[1 - null].clone()),
            _ => None,
        };
        if let Some(schema) = present {
            content.schema = Some(schema);
            optional = true;
        }
    }
    if optional {
        body.required = Some(Required::False);
    }
}

/// The schemas of what a client sends in a request body.
fn request_schemas(op: &Operation) -> Vec<String> {
    let Some(RefOr::T(body)) = &op.request_body else {
        return Vec::new();
    };
    body.content
        .values()
        .filter_map(|c| match c {
            RefOr::T(c) => match &c.schema {
                Some(RefOr::Ref(r)) => r.ref_location.rsplit('/').next().map(str::to_owned),
                _ => None,
            },
            RefOr::Ref(_) => None,
        })
        .collect()
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

fn nullable(schema: &RefOr<Schema>) -> bool {
    match schema {
        RefOr::T(Schema::Object(o)) => {
            matches!(&o.schema_type, SchemaType::Array(types) if types.contains(&Type::Null))
        }
        RefOr::T(Schema::OneOf(o)) => o.items.iter().any(is_null),
        _ => false,
    }
}

/// utoipa counts an `Option` field as one that may be left out; but what
/// the server sends has every field, `null` when there is no value (a field
/// it leaves out is `skip_serializing_if`, and then its schema is not
/// nullable). So in every schema but those of requests, a nullable
/// property is required.
fn every_field_sent(
    schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>,
    requests: &[String],
) {
    fn require_nullable(o: &mut Object) {
        let required: Vec<String> = o
            .properties
            .iter()
            .filter(|(name, schema)| o.required.contains(name) || nullable(schema))
            .map(|(name, _)| name.clone())
            .collect();
        o.required = required;
    }
    for (name, schema) in schemas.iter_mut() {
        if requests.contains(name) {
            continue;
        }
        match schema {
            RefOr::T(Schema::Object(o)) => require_nullable(o),
            RefOr::T(Schema::AllOf(all)) => {
                for item in &mut all.items {
                    if let RefOr::T(Schema::Object(o)) = item {
                        require_nullable(o);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Descriptions come from doc comments, whose line breaks are the source's
/// width rather than the text's: each paragraph becomes one line, keeping
/// blank lines and list items.
fn one_line_paragraphs(doc: &mut utoipa::openapi::OpenApi) {
    fn text(t: &mut String) {
        let mut out = String::with_capacity(t.len());
        let mut lines = t.split('\n').peekable();
        while let Some(line) = lines.next() {
            out.push_str(line);
            if let Some(next) = lines.peek() {
                let keep = line.is_empty() || next.is_empty() || next.starts_with("- ");
                out.push(if keep { '\n' } else { ' ' });
            }
        }
        *t = out;
    }
    fn opt(t: &mut Option<String>) {
        if let Some(t) = t {
            text(t);
        }
    }
    fn schema(s: &mut RefOr<Schema>) {
        match s {
            RefOr::Ref(r) => text(&mut r.description),
            RefOr::T(s) => inner(s),
        }
    }
    fn inner(s: &mut Schema) {
        match s {
            Schema::Object(o) => {
                opt(&mut o.description);
                o.properties.values_mut().for_each(schema);
                if let Some(extra) = &mut o.additional_properties
                    && let AdditionalProperties::RefOr(s) = extra.as_mut()
                {
                    schema(s);
                }
                if let Some(names) = &mut o.property_names {
                    inner(names);
                }
            }
            Schema::Array(a) => {
                opt(&mut a.description);
                if let ArrayItems::RefOrSchema(items) = &mut a.items {
                    schema(items);
                }
            }
            Schema::OneOf(o) => {
                opt(&mut o.description);
                o.items.iter_mut().for_each(schema);
            }
            Schema::AllOf(o) => {
                opt(&mut o.description);
                o.items.iter_mut().for_each(schema);
            }
            Schema::AnyOf(o) => {
                opt(&mut o.description);
                o.items.iter_mut().for_each(schema);
            }
            _ => {}
        }
    }
    fn parameter(p: &mut RefOr<Parameter>) {
        if let RefOr::T(p) = p {
            opt(&mut p.description);
            if let Some(s) = &mut p.schema {
                schema(s);
            }
        }
    }
    fn response(r: &mut RefOr<Response>) {
        if let RefOr::T(r) = r {
            text(&mut r.description);
            for c in r.content.values_mut() {
                if let RefOr::T(c) = c
                    && let Some(s) = &mut c.schema
                {
                    schema(s);
                }
            }
        }
    }
    opt(&mut doc.info.description);
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            opt(&mut op.summary);
            opt(&mut op.description);
            op.parameters.iter_mut().flatten().for_each(parameter);
            if let Some(RefOr::T(body)) = &mut op.request_body {
                opt(&mut body.description);
            }
            op.responses.responses.values_mut().for_each(response);
        }
    }
    if let Some(c) = &mut doc.components {
        c.schemas.values_mut().for_each(schema);
        c.responses.values_mut().for_each(response);
        c.parameters.values_mut().for_each(parameter);
    }
}

/// A WebSocket handshake: its headers, its `101`, and the messages that
/// follow it (`x-websocket`).
fn websocket(op: &mut Operation, server: &str, client: Option<&str>) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    for (name, _) in handshake() {
        params.push(RefOr::Ref(Ref::new(format!(
            "#/components/parameters/{name}"
        ))));
    }
    let talk = match client {
        Some(c) => format!("; the client sends `{c}`"),
        None => String::new(),
    };
    let switching = ResponseBuilder::new()
        .description(format!(
            "Switching Protocols: the WebSocket is open. Messages: `{server}`{talk}."
        ))
        .header(
            "Upgrade",
            HeaderBuilder::new()
                .schema(Some(fixed("websocket")))
                .build(),
        )
        .header(
            "Connection",
            header("`upgrade`.", ObjectBuilder::new().schema_type(Type::String)),
        )
        .header(
            "Sec-WebSocket-Accept",
            header(
                "The handshake's answer to `Sec-WebSocket-Key`.",
                ObjectBuilder::new().schema_type(Type::String),
            ),
        )
        .build();
    op.responses
        .responses
        .insert("101".to_owned(), RefOr::T(switching));
    let client_messages = match client {
        Some(c) => schema_ref(c),
        None => json!({
            "description": "Read-only channel: anything the client sends only counts as a sign of life."
        }),
    };
    let extension = json!({
        "serverMessages": schema_ref(server),
        "clientMessages": client_messages,
        "encoding": "UTF-8 JSON text frames, one object per frame, each with a `type`.",
    });
    op.extensions
        .get_or_insert_with(Default::default)
        .merge(Extensions::from_iter([("x-websocket", extension)]));
    let limit = format!(
        "A frame from the client over {} KiB closes the session with code 1009.",
        MAX_FRAME / 1024
    );
    op.description = Some(match op.description.take() {
        Some(d) => format!("{d}\n\n{limit}"),
        None => limit,
    });
}

/// A WebSocket handshake's request headers (RFC 6455).
fn handshake() -> [(&'static str, Parameter); 4] {
    let param = |name: &str, description: &str, schema: Object| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(schema))
            .build()
    };
    let pattern = |p: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(p))
            .build()
    };
    [
        (
            "Upgrade",
            param(
                "Upgrade",
                "WebSocket handshake (RFC 6455): `websocket`.",
                fixed("websocket"),
            ),
        ),
        (
            "Connection",
            param(
                "Connection",
                "WebSocket handshake: must include `Upgrade`.",
                pattern(r"^(.*,)?\s*[Uu][Pp][Gg][Rr][Aa][Dd][Ee]\s*(,.*)?$"),
            ),
        ),
        (
            "SecWebSocketKey",
            param(
                "Sec-WebSocket-Key",
                "WebSocket handshake: a base64-encoded 16-byte nonce.",
                pattern("^[A-Za-z0-9+/]{21}[AQgw]==$"),
            ),
        ),
        (
            "SecWebSocketVersion",
            param(
                "Sec-WebSocket-Version",
                "WebSocket handshake: `13`.",
                fixed("13"),
            ),
        ),
    ]
}

/// The response headers several answers share, as `components/headers`.
fn headers() -> Vec<(&'static str, Header)> {
    vec![
        (
            "CacheControlNoStore",
            header(
                "`no-store`: the answer must not be cached.",
                fixed("no-store"),
            ),
        ),
        (
            "CacheControlNoCache",
            header(
                "`no-cache`: screens run all day and always revalidate, so an upgrade reaches \
                 them.",
                fixed("no-cache"),
            ),
        ),
        (
            "WwwAuthenticate",
            header("`Bearer`: the request needs a token.", fixed("Bearer")),
        ),
        (
            "RetryAfter",
            header(
                "Whole seconds until this client may ask again (at least 1): until its request \
                 budget has room, or, after wrong tokens, until it may present a token again.",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            ),
        ),
        (
            "ContentSecurityPolicy",
            header(
                "What the embedded screens may load: their own scripts, styles and WebSockets, \
                 the `data:` favicon, and the login form posting to its own origin. No inline \
                 code, no plugins, no framing.",
                fixed(CONTENT_SECURITY_POLICY),
            ),
        ),
        (
            "XContentTypeOptions",
            header("`nosniff`: no MIME sniffing.", fixed("nosniff")),
        ),
        (
            "ReferrerPolicy",
            header(
                "`no-referrer`: a page URL may carry `?token=` until the page drops it.",
                fixed("no-referrer"),
            ),
        ),
        (
            "XFrameOptions",
            header(
                "`DENY`: no framing, for browsers that predate `frame-ancestors`.",
                fixed("DENY"),
            ),
        ),
        (
            "PermissionsPolicy",
            header(
                "Powerful features no screen uses, off for the page and anything it embeds.",
                fixed(PERMISSIONS_POLICY),
            ),
        ),
    ]
}

fn security_schemes() -> [(String, SecurityScheme); 3] {
    [
        (
            "bearerAuth".to_owned(),
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <token>`: an access token from the \
                         configuration (`[[tokens]]`, kept as SHA-256 hashes) with a role and a \
                         hall scope. The header is checked first when present; a wrong header \
                         is not rescued by a right query or cookie.",
                    ))
                    .build(),
            ),
        ),
        (
            "cookieAuth".to_owned(),
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::auth::COOKIE,
                "The HttpOnly, SameSite=Strict session cookie `POST /api/login` sets: 64 hex \
                 digits of a random secret, never the token. Checked when neither the header \
                 nor (on a WebSocket handshake) the `token` query parameter is present.",
            ))),
        ),
        (
            "queryToken".to_owned(),
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "`?token=<token>`, on WebSocket handshakes only (a browser cannot set headers \
                 there). Checked when no `Authorization: Bearer` header is present, before the \
                 cookie. A REST request with it is refused with 401 `token_in_url`, since URLs \
                 end up in logs.",
            ))),
        ),
    ]
}

fn info() -> Info {
    let mut license = License::new("MIT OR Apache-2.0");
    license.identifier = Some("MIT OR Apache-2.0".to_owned());
    let kib = |bytes: usize| bytes / 1024;
    let description = format!(
        "The HTTP API and WebSocket channels of a hallwatch server.\n\n\
         **Access.** Public: the display channel, hall list and snapshot, pages, `/healthz`, \
         `/metrics`. Everything else needs an access token from the configuration, each with a \
         role (`manager`, `supervisor`, `admin`) and a hall scope (a list of halls, or `*`). A \
         program presents it as `Authorization: Bearer <token>`; a browser logs in with \
         `POST /api/login`, which opens a session (the `hallwatch_session` cookie: a random \
         secret, not the token, kept by the server across restarts, ending at `POST \
         /api/logout` or after `[server] session_hours`). A WebSocket handshake, which a browser \
         cannot give a header, may also present a token as `?token=<token>` (checked after the \
         header, before the cookie). The first one present is the one checked. A REST request \
         with `?token=` is refused (401 `token_in_url`, even with a right token): URLs end up in \
         access logs, proxies and browser history. A missing or wrong token or session is 401, \
         a role or hall outside the token's allowance 403, and from one client past ten wrong \
         tokens a minute each further wrong one 429 (a right token is never refused by that \
         limit). A request the session cookie authenticates that changes something, and every \
         WebSocket handshake, must come from one of the server's own pages (its `Origin` one of \
         `[server] public_origins`, or the host it was sent to): else 403 `origin_refused`. A \
         body must be declared `application/json` (else 415 `unsupported_media_type`); \
         protected WebSockets are refused with these plain answers before the upgrade, and a \
         protected request is refused for its token before its parameters or body are checked \
         (only a body over {body} KiB, or a query string that cannot be parsed at all, is \
         refused first).\n\n\
         **Limits.** `/api/…` requests and `/ws/…` handshakes draw on a budget per client \
         address (an IPv6 client by its /64): {PER_MINUTE} a minute sustained, in bursts of up \
         to {BURST} (room for a hall's screens behind one address reconnecting together after a \
         server restart). Over it the answer is 429 `rate_limited` with `Retry-After` in whole \
         seconds (usually 1); pages, `/healthz` and `/metrics` are not counted. Behind a \
         reverse proxy listed in `[server] trusted_proxies` a client is the address the proxy \
         names in `X-Forwarded-For`; from anyone else that header is ignored. Request bodies are limited to \
         {body} KiB (413 `payload_too_large`), and a WebSocket frame from a client to {frame} \
         KiB: a bigger one closes the session with code 1009. An `/api/…` path that is not \
         listed here is 404 `not_found`; a listed one asked with another method is 405 \
         `method_not_allowed` with `Allow` naming the methods it is served with. Every \
         `/api/…` answer carries `Cache-Control: no-store`, and every answer the security \
         headers `Content-Security-Policy`, `X-Content-Type-Options: nosniff`, \
         `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY` and `Permissions-Policy`.\n\n\
         **WebSockets.** The `/ws/…` operations are WebSocket handshakes: `GET` with the \
         upgrade headers, answered `101 Switching Protocols`. Every message is a UTF-8 JSON \
         text frame holding one object with a `type`. The first is a `snapshot` that alone \
         draws the whole screen; deltas follow. Their schemas are the `…Message` components, \
         named in each operation's `x-websocket` extension (`serverMessages`, and \
         `clientMessages` where the client may send requests). The server pings every {ping} s \
         and closes a client silent for {idle} s, or one that takes over {send} s to accept a \
         frame.\n\n\
         **Times** are RFC 3339 with the hall's UTC offset, to the millisecond when not whole; \
         **dates** (`YYYY-MM-DD`) are the hall's local days. Errors are JSON \
         `{{\"error\": code, \"message\": text}}` (the `Error` schema) on every `/api/…` and \
         `/ws/…` path, and for a method a path is not served with (405 with `Allow`) anywhere.",
        body = kib(MAX_BODY),
        frame = kib(MAX_FRAME),
        ping = PING_EVERY.as_secs(),
        idle = IDLE_LIMIT.as_secs(),
        send = SEND_TIMEOUT.as_secs(),
    );
    let mut info = Info::new("hallwatch", "1");
    info.description = Some(description);
    info.license = Some(license);
    // OpenAPI 3.1's `summary`, which utoipa's `Info` has no field for.
    info.extensions = Some(Extensions::from_iter([(
        "summary",
        "Real-time monitoring of government service halls: queues, calls, load and supervision.",
    )]));
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::from_str(&openapi_json()).expect("the document is JSON")
    }

    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                if let Some(Value::Object(mapping)) = m.get("mapping") {
                    out.extend(mapping.values().filter_map(Value::as_str));
                }
                m.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = doc();
        let mut refs = Vec::new();
        walk(&doc, &mut refs);
        assert!(refs.len() > 100, "{} references", refs.len());
        for r in refs {
            let pointer = r.strip_prefix('#').expect("only local references");
            assert!(doc.pointer(pointer).is_some(), "dangling reference {r}");
        }
    }

    #[test]
    fn each_discriminator_names_the_type_its_schema_fixes() {
        let doc = doc();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut seen = 0;
        for (name, schema) in schemas {
            let Some(mapping) = schema["discriminator"]["mapping"].as_object() else {
                continue;
            };
            let variants = schema["oneOf"].as_array().expect("a oneOf");
            assert_eq!(variants.len(), mapping.len(), "{name}");
            for (kind, target) in mapping {
                let target = target.as_str().unwrap();
                let pointer = target.strip_prefix('#').unwrap();
                let message = doc.pointer(pointer).expect(target);
                let text = message.to_string();
                assert!(
                    text.contains(&format!(r#""const":"{kind}""#)),
                    "{name}: {kind} maps to {target}, whose type is not {kind}"
                );
                assert!(
                    variants.iter().any(|v| v["$ref"] == target),
                    "{name}: {target} is not one of its variants"
                );
            }
            seen += 1;
        }
        assert_eq!(seen, 4, "one discriminated union per channel");
    }

    #[test]
    fn the_text_is_built_once_and_ends_with_a_newline() {
        assert!(std::ptr::eq(document(), document()));
        assert!(document().ends_with("}\n"));
    }
}
