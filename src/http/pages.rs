//! The screens in `displays/`, embedded in the binary.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "displays/"]
struct Pages;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/codes.js", web::get().to(super::codes::codes_js))
        .route("/{file:.*}", web::get().to(page));
}

async fn page(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().get("file").unwrap_or("");
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(file) = Pages::get(path) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("404: 没有这个页面 / no such page");
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
