//! `GET /codes.js`: the code lists the pages show, as a JavaScript module
//! built from the enums the server itself uses, so a page never carries a
//! copy of its own (`import { RULES } from './codes.js'`).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use serde_json::{Value, json};

use crate::domain::{AlertState, HallLevel, Reason, Rule, Severity, WindowKind};

/// The module's text, built once.
pub fn module() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        // An object literal that keeps the enums' order (a JSON map would
        // sort its keys): pages list rules in the order they are declared.
        let named = |pairs: Vec<(&str, Value)>| {
            let fields: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {v}", json!(k)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        };
        let lists = [
            (
                "RULES",
                "The supervision rules' names on screens, by rule code, in the rules' order.",
                named(Rule::ALL.iter().map(|r| (r.code(), json!(r.def().name))).collect()),
            ),
            (
                "NOTE_REQUIRED",
                "The rules whose alerts a supervisor resolves only with a note (回访, 整改).",
                json!(Rule::ALL.iter().filter(|r| !r.resolves_itself()).map(|r| r.code()).collect::<Vec<_>>()).to_string(),
            ),
            (
                "SEVERITIES",
                "Alert severities: their names on screens and their order (most severe first).",
                named(
                    Severity::ALL
                        .iter()
                        .rev()
                        .enumerate()
                        .map(|(rank, s)| (s.code(), json!({"text": s.name(), "rank": rank})))
                        .collect(),
                ),
            ),
            (
                "ALERT_STATES",
                "Where an alert is in its life, by code.",
                named(AlertState::ALL.iter().map(|s| (s.code(), json!(s.name()))).collect()),
            ),
            (
                "REASONS",
                "Why a device's message was refused: the Chinese message a terminal shows, by reason code.",
                named(Reason::ALL.iter().map(|r| (r.code(), json!(r.message()))).collect()),
            ),
            (
                "WINDOW_KINDS",
                "Window kinds (窗口类型) by code.",
                named(WindowKind::ALL.iter().map(|k| (k.code(), json!(k.name()))).collect()),
            ),
            (
                "HALL_LEVELS",
                "Hall levels by code.",
                named(HallLevel::ALL.iter().map(|l| (l.code(), json!(l.name()))).collect()),
            ),
        ];
        let mut out = String::from(
            "// hallwatch's code lists, built by the server from the enums it uses\n\
             // (GET /codes.js). Import them; never copy them into a page.\n",
        );
        for (name, doc, value) in lists {
            out.push_str(&format!("\n/** {doc} */\nexport const {name} = Object.freeze({value});\n"));
        }
        out
    })
}

/// The code lists of the pages
///
/// A JavaScript module of the code lists the pages show (rules, severities,
/// alert states, refusal reasons, window kinds, hall levels), built from the
/// enums the server itself uses: `import { RULES } from './codes.js'`. No
/// token needed.
#[utoipa::path(
    get,
    path = "/codes.js",
    tag = "pages",
    operation_id = "codeLists",
    responses(
        (status = 200, description = "The module.", body = String,
            content_type = "text/javascript; charset=utf-8"),
    )
)]
pub async fn codes_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(module())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_lists_every_code_in_the_enums_order() {
        let text = module();
        let rules = text
            .lines()
            .find(|l| l.starts_with("export const RULES"))
            .expect("RULES");
        let mut at = 0;
        for rule in Rule::ALL {
            let i = rules[at..]
                .find(&format!("\"{}\": \"{}\"", rule.code(), rule.def().name))
                .unwrap_or_else(|| panic!("{} missing or out of order in {rules}", rule.code()));
            at += i + 1;
        }
        for r in Reason::ALL {
            assert!(
                text.contains(&format!("\"{}\": ", r.code())),
                "{}",
                r.code()
            );
        }
        for k in WindowKind::ALL {
            assert!(text.contains(k.name()), "{}", k.code());
        }
        assert!(
            text.contains(
                r#"export const NOTE_REQUIRED = Object.freeze(["bad_rating","repeat_finding"]);"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#""critical": {"rank":0,"text":"严重"}"#),
            "the most severe first: {text}"
        );
    }
}
