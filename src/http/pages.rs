//! The screens in `displays/`, embedded in the binary.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "displays/"]
struct Pages;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/codes.js", web::get().to(super::codes::codes_js))
        .route("/{file:.*}", web::get().to(file));
}

/// The start page
///
/// `index.html` of the embedded screens: the list of halls and links to the
/// screens. No token needed.
#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    operation_id = "indexPage",
    responses(
        (status = 200, description = "The page.", body = String,
            content_type = "text/html; charset=utf-8"),
    )
)]
pub(super) async fn index() -> HttpResponse {
    page("index.html")
}

/// An embedded screen or its assets
///
/// The browser screens built into the binary (`wall.html` 综合屏,
/// `window.html` 窗口屏, `dashboard.html`, `region.html`, `supervisor.html`
/// 监察台, `login.html`, and their `.css` and `.js`). No token needed: the
/// pages fetch their data with the cookie or token. Any path no other route
/// serves ends here, except under `/api/`, which answers JSON errors.
#[utoipa::path(
    get,
    path = "/{file}",
    tag = "pages",
    operation_id = "staticFile",
    params(
        ("file" = String, Path,
            description = "The file's path under the embedded `displays/` folder.",
            example = json!("wall.html")),
    ),
    responses(
        (status = 200,
            description = "The file, with its type from its extension (`; charset=utf-8` for \
                text, JavaScript and JSON).",
            content(
                (String = "text/html; charset=utf-8"),
                (String = "text/css; charset=utf-8"),
                (String = "text/javascript; charset=utf-8"),
            )),
        (status = 404, description = "No such file.", body = String,
            content_type = "text/plain; charset=utf-8", example = json!(NOT_FOUND)),
    )
)]
pub(super) async fn file(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().get("file").unwrap_or("");
    page(if path.is_empty() { "index.html" } else { path })
}

const NOT_FOUND: &str = "404: 没有这个页面 / no such page";

/// An embedded file's bytes.
pub(super) fn embedded(path: &str) -> Option<Vec<u8>> {
    Pages::get(path).map(|f| f.data.into_owned())
}

pub(super) fn page(path: &str) -> HttpResponse {
    let Some(file) = Pages::get(path) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(NOT_FOUND);
    };
    let mime = file.metadata.mimetype();
    let mime =
        if mime.starts_with("text/") || mime.ends_with("javascript") || mime.ends_with("json") {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_owned()
        };
    // The content security policy and the other security headers come from
    // `super::security_headers`, on every answer alike.
    HttpResponse::Ok()
        .content_type(mime)
        // Screens run all day: always revalidate so an upgrade reaches them.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(file.data.into_owned())
}
