//! Everything written from the code rather than by hand: the JSON Schemas
//! of the MQTT payloads, the OpenAPI document, and the lists of rules and
//! reason codes in the docs and the example configuration. `hallwatch
//! schemas --out DIR` writes them; a test fails when the committed files
//! differ from what the code generates.
//!
//! Lists inside hand-written files live between two marker lines,
//! `BEGIN {name}` and `END {name}`; only what lies between them is
//! written.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::domain::{Kind, Rule, Setting, Thresholds};
use crate::mqtt::wire;

/// A file to write: where, relative to the repository's root, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub path: PathBuf,
    pub text: String,
}

/// A generated list inside a hand-written file.
struct Region {
    path: &'static str,
    name: &'static str,
    text: fn() -> String,
}

const REGIONS: &[Region] = &[
    Region {
        path: "hallwatch.example.toml",
        name: "rules",
        text: example_rules,
    },
    Region {
        path: "docs/domain.md",
        name: "rules",
        text: rules_table,
    },
    Region {
        path: "mqtt/README.md",
        name: "rules",
        text: rule_codes,
    },
    Region {
        path: "mqtt/README.md",
        name: "reasons",
        text: reason_table,
    },
];

/// Every generated file, with the hand-written files that hold lists read
/// from `root` (a file that is not there is left out).
pub fn generate(root: &Path) -> Result<Vec<Generated>, String> {
    let mut out: Vec<Generated> = wire::schemas()
        .into_iter()
        .map(|(name, schema)| Generated {
            path: PathBuf::from(format!("mqtt/schemas/{name}.json")),
            text: pretty(&schema),
        })
        .collect();
    out.push(Generated {
        path: PathBuf::from("docs/openapi.json"),
        text: crate::http::openapi_json(),
    });
    for region in REGIONS {
        let path = PathBuf::from(region.path);
        let current = match out.iter().position(|g| g.path == path) {
            Some(i) => out.remove(i).text,
            None => match std::fs::read_to_string(root.join(&path)) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            },
        };
        let text = replace_region(&current, region.name, &(region.text)())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(Generated { path, text });
    }
    Ok(out)
}

/// Writes every generated file under `root`; the paths written.
pub fn write(root: &Path) -> Result<Vec<PathBuf>, String> {
    let files = generate(root)?;
    let mut written = Vec::new();
    for g in files {
        let path = root.join(&g.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(g.text.as_str()) {
            std::fs::write(&path, &g.text).map_err(|e| format!("{}: {e}", path.display()))?;
            written.push(g.path);
        }
    }
    Ok(written)
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// `text` with the lines between the markers of `name` replaced by `body`.
fn replace_region(text: &str, name: &str, body: &str) -> Result<String, String> {
    let begin = format!("BEGIN {name}");
    let end = format!("END {name}");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines
        .iter()
        .position(|l| l.contains(&begin))
        .ok_or_else(|| format!("no line with {begin:?}"))?;
    let stop = lines[start..]
        .iter()
        .position(|l| l.contains(&end))
        .map(|i| start + i)
        .ok_or_else(|| format!("no line with {end:?} after {begin:?}"))?;
    let mut out: String = lines[..=start].concat();
    out.push_str(body);
    if !body.is_empty() && !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&lines[stop..].concat());
    Ok(out)
}

/// A threshold's value as the configuration writes it.
fn setting_text(kind: Kind, value: Setting) -> String {
    let num = |x: f64| {
        if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x}")
        }
    };
    let decimal = |x: f64| format!("{x:.1}");
    match (kind, value) {
        (Kind::Minutes, Setting::Int(s)) => (s / 60).to_string(),
        (Kind::MinutesPair, Setting::IntPair(w, c)) => format!("[{}, {}]", w / 60, c / 60),
        (Kind::NumberPair, Setting::NumPair(a, b)) => format!("[{}, {}]", decimal(a), decimal(b)),
        (Kind::Count, Setting::Int(n)) => n.to_string(),
        (_, v) => num(v.num()),
    }
}

/// The thresholds' keys with their defaults: the example configuration's
/// `[defaults.rules]`.
fn example_rules() -> String {
    let defaults = Thresholds::default();
    let mut out = String::new();
    let mut owner = Rule::ALL
        .iter()
        .flat_map(|r| r.def().params.iter().map(move |p| (p.key, r.code())))
        .collect::<Vec<_>>();
    owner.sort_unstable();
    for p in Thresholds::params() {
        let line = format!("{} = {}", p.key, setting_text(p.kind, (p.get)(&defaults)));
        let rule = owner
            .binary_search_by(|(k, _)| (*k).cmp(p.key))
            .ok()
            .map(|i| owner[i].1);
        let note = match rule {
            Some(rule) => format!("{rule}: {}", p.doc),
            None => p.doc.to_owned(),
        };
        let _ = writeln!(out, "{line:<30} # {note}");
    }
    out
}

/// The rules with their names, conditions, severities and defaults.
fn rules_table() -> String {
    let defaults = Thresholds::default();
    let mut out = String::from(
        "| rule | name | when it fires | severity | defaults (`[defaults.rules]`) | closes |\n\
         |---|---|---|---|---|---|\n",
    );
    for rule in Rule::ALL {
        let d = rule.def();
        let severities: Vec<String> = d
            .severities
            .iter()
            .map(|s| format!("{} ({})", s.code(), s.name()))
            .collect();
        let params: Vec<String> = d
            .params
            .iter()
            .map(|p| format!("`{} = {}`", p.key, setting_text(p.kind, (p.get)(&defaults))))
            .collect();
        let timed = if d.time_based {
            " Silent while the hall is closed."
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {}.{timed} | {} | {} | {} |",
            rule.code(),
            d.name,
            d.condition,
            severities.join(", "),
            if params.is_empty() {
                "—".to_owned()
            } else {
                params.join(", ")
            },
            if d.needs_person {
                "by a supervisor, with a note"
            } else {
                "by itself when the condition clears"
            },
        );
    }
    out
}

/// The rule codes an alert's `rule` may carry.
fn rule_codes() -> String {
    let mut out = String::from("| `rule` | name on screens |\n|---|---|\n");
    for rule in Rule::ALL {
        let _ = writeln!(out, "| `{}` | {} |", rule.code(), rule.def().name);
    }
    out
}

/// The reason codes with what they mean, where they are seen, and the
/// server's usual message.
fn reason_table() -> String {
    let mut out =
        String::from("| code | meaning | seen on | usual `message` |\n|---|---|---|---|\n");
    for &reason in crate::domain::Reason::ALL {
        let (meaning, seen_on) = wire::explain(reason);
        let _ = writeln!(
            out,
            "| `{}` | {meaning} | {seen_on} | {} |",
            reason.code(),
            reason.message()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_replaced_between_its_markers_only() {
        let text = "a\n# BEGIN rules: generated\nold\nold\n# END rules\nz\n";
        assert_eq!(
            replace_region(text, "rules", "new\n").unwrap(),
            "a\n# BEGIN rules: generated\nnew\n# END rules\nz\n"
        );
        assert!(replace_region("a\n", "rules", "x").is_err());
        assert!(replace_region("BEGIN rules\n", "rules", "x").is_err());
    }

    #[test]
    fn the_example_configuration_lists_every_threshold_with_its_default() {
        let text = example_rules();
        for p in Thresholds::params() {
            assert!(text.contains(&format!("{} = ", p.key)), "{}", p.key);
        }
        assert!(text.contains("pause_min = [15, 30]"), "{text}");
        assert!(text.contains("backlog_per_window = 10 "), "{text}");
        assert!(text.contains("overload = 1.2 "), "{text}");
    }
}
