//! The shipped example, the defaults, and one test per validation rule: every
//! refusal names the field and says why.

use chrono::{NaiveTime, TimeZone, Utc};

use super::*;
use crate::domain::{DeviceKind, HallLevel, WindowKind};

/// A minimal valid hall. Tests tweak one line of it with [`hall_with`].
const HALL: &str = r#"
[[halls]]
id = "h1"
name = "测试大厅"
level = "county"
kiosks = ["k1"]

[halls.hours]
weekdays = ["08:30-12:00", "13:30-17:30"]

[halls.calendar]
"2026-10-01" = []

[[halls.services]]
code = "SB"
name = "社会保障"
prefix = "B"

[[halls.services]]
code = "GA"
name = "公安专项"
prefix = "G"

[[halls.windows]]
id = "01"
name = "1号窗口"
kind = "comprehensive"
services = ["SB"]

[[halls.windows]]
id = "02"
name = "2号窗口"
kind = "comprehensive"
services = ["SB", "GA"]
"#;

/// [`HALL`] with exactly one occurrence of `from` replaced by `to`.
fn hall_with(from: &str, to: &str) -> String {
    assert_eq!(
        HALL.matches(from).count(),
        1,
        "{from:?} must occur exactly once in the test hall"
    );
    HALL.replacen(from, to, 1)
}

/// Top-level sections (server, mqtt, defaults, tokens) followed by [`HALL`].
fn with_top(top: &str) -> String {
    format!("{top}\n{HALL}")
}

fn refused(text: &str) -> ConfigError {
    match Settings::parse(text) {
        Ok(_) => panic!("accepted a bad configuration:\n{text}"),
        Err(e) => e,
    }
}

/// The file is refused at exactly `field`, with a reason that contains `word`.
#[track_caller]
fn assert_refused(text: &str, field: &str, word: &str) {
    let e = refused(text);
    assert_eq!(e.field, field, "field of {e:?}");
    assert!(
        e.reason.contains(word),
        "reason {:?} should contain {word:?}",
        e.reason
    );
}

/// The file is refused by the TOML reader, pointing at a line.
#[track_caller]
fn assert_refused_at_a_line(text: &str, word: &str) -> ConfigError {
    let e = refused(text);
    assert!(e.field.starts_with("line "), "field of {e:?}");
    assert!(
        e.field["line ".len()..].parse::<usize>().is_ok(),
        "field of {e:?}"
    );
    assert!(
        e.reason.contains(word),
        "reason {:?} should contain {word:?}",
        e.reason
    );
    e
}

fn example() -> Settings {
    Settings::parse(crate::EXAMPLE_CONFIG).expect("the shipped example parses")
}

fn hall<'a>(s: &'a Settings, id: &str) -> &'a HallSpec {
    s.halls
        .iter()
        .find(|h| h.id.as_str() == id)
        .unwrap_or_else(|| panic!("no hall {id}"))
}

fn window<'a>(h: &'a HallSpec, id: &str) -> &'a WindowSpec {
    h.windows
        .iter()
        .find(|w| w.id.as_str() == id)
        .unwrap_or_else(|| panic!("no window {id}"))
}

/// An instant given as Beijing time.
fn beijing(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> chrono::DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn t(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

// ---------------------------------------------------------------------------
// The shipped example

#[test]
fn the_shipped_example_parses_with_its_two_halls() {
    let s = example();
    let ids: Vec<&str> = s.halls.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["jl-center", "jl-town"]);
    assert_eq!(hall(&s, "jl-center").level, HallLevel::County);
    assert_eq!(hall(&s, "jl-town").level, HallLevel::Township);
    assert_eq!(hall(&s, "jl-center").tz, chrono_tz::Asia::Shanghai);
    assert_eq!(
        hall(&s, "jl-town").tz,
        chrono_tz::Asia::Shanghai,
        "from [defaults]"
    );
    assert_eq!(s.server.listen, "127.0.0.1:8080");
    assert_eq!(s.mqtt.prefix, "hallwatch");
    assert_eq!(s.mqtt.client_id, "hallwatch-server");
    assert_eq!(s.tokens.len(), 7);
    assert_eq!(s.tokens[4].role, Role::Manager);
    assert_eq!(s.tokens[5].role, Role::Booking);
    assert_eq!(s.tokens[6].role, Role::Backoffice);
    assert_eq!(s.tokens[0].role, Role::Manager);
    assert_eq!(s.tokens[1].role, Role::Supervisor);
    assert_eq!(s.tokens[2].role, Role::Admin);
    assert_eq!(s.tokens[3].halls, ["jl-town"]);
    assert!(
        s.halls.iter().all(|h| h.backoffice.len() == 1),
        "each hall's back office reports its cases"
    );
    assert_eq!(s.halls[0].cards, crate::domain::CardLimits::default());
}

#[test]
fn the_county_centre_has_six_themed_windows_a_spare_and_guide_consult_transfer() {
    let s = example();
    let h = hall(&s, "jl-center");
    let ids: Vec<&str> = h.windows.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(
        ids,
        ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10"]
    );
    for id in ["01", "02", "03", "04", "05", "06"] {
        let w = window(h, id);
        assert_eq!(w.kind, WindowKind::Comprehensive, "window {id}");
        assert!(w.on_rota, "window {id} is on the rota by default");
    }
    let spare = window(h, "07");
    assert_eq!(spare.kind, WindowKind::Comprehensive);
    assert!(!spare.on_rota);
    assert_eq!(window(h, "08").kind, WindowKind::Guide);
    assert_eq!(window(h, "09").kind, WindowKind::Consult);
    assert_eq!(window(h, "10").kind, WindowKind::Transfer);
    assert_eq!(h.kiosks.len(), 3);
    assert!(!h.refuse_outside_hours);

    // Window services are indexes into the hall's services, in listed order.
    let codes = |w: &WindowSpec| -> Vec<&str> {
        w.services
            .iter()
            .map(|&i| h.services[i].code.as_str())
            .collect()
    };
    assert_eq!(codes(window(h, "03")), ["ZH", "DJ", "JY"]);
    assert_eq!(codes(window(h, "10")), ["DJ", "JY", "BDC"]);
    assert_eq!(window(h, "05").zone.as_deref(), Some("一楼B区"));
}

#[test]
fn the_township_centre_has_domain_comprehensive_and_complaint_windows() {
    let s = example();
    let h = hall(&s, "jl-town");
    let count = |k: WindowKind| h.windows.iter().filter(|w| w.kind == k).count();
    assert_eq!(h.windows.len(), 9);
    assert_eq!(count(WindowKind::Domain), 4);
    assert_eq!(count(WindowKind::Comprehensive), 4);
    assert_eq!(count(WindowKind::Complaint), 1);
    assert_eq!(window(h, "09").kind, WindowKind::Complaint);
    assert_eq!(window(h, "09").benchmark, 10);
    assert_eq!(window(h, "01").zone, None);
}

#[test]
fn the_default_benchmark_is_25_and_windows_may_override_it() {
    let s = example();
    assert_eq!(s.defaults.benchmark, 25);
    let h = hall(&s, "jl-center");
    assert_eq!(window(h, "05").benchmark, 25);
    assert_eq!(window(h, "07").benchmark, 25);
    assert_eq!(window(h, "08").benchmark, 60);
    assert_eq!(window(h, "09").benchmark, 60);
}

#[test]
fn services_inherit_or_override_their_minutes_in_seconds() {
    let s = example();
    let h = hall(&s, "jl-center");
    let svc = |code: &str| h.services.iter().find(|x| x.code.as_str() == code).unwrap();
    assert_eq!(svc("DJ").expected_service_s, 12 * 60);
    assert_eq!(svc("DJ").prefix, "D");
    assert_eq!(svc("ZH").expected_service_s, 10 * 60, "from [defaults]");
    assert_eq!(svc("ZH").wait_limit_s, (30 * 60, 60 * 60));
    assert_eq!(svc("ZH").service_limit_s, (20 * 60, 40 * 60));
    assert_eq!(svc("BDC").service_limit_s, (30 * 60, 60 * 60));
    assert_eq!(svc("ZX").wait_limit_s, (15 * 60, 30 * 60));
    assert_eq!(svc("SB").name, "社会保障");
}

#[test]
fn device_ids_default_to_w_and_r_with_the_window_id() {
    let s = example();
    let h = hall(&s, "jl-center");
    let w = window(h, "05");
    assert_eq!(w.terminal.as_str(), "w05");
    assert_eq!(w.rater.as_str(), "r05");
    let five = h.window_index(&w.id).unwrap();
    assert_eq!(
        h.device_kind(&DeviceId::parse("w05").unwrap()),
        Some(DeviceKind::Terminal(five))
    );
    assert_eq!(
        h.device_kind(&DeviceId::parse("r05").unwrap()),
        Some(DeviceKind::Rater(five))
    );
    assert_eq!(
        h.device_kind(&DeviceId::parse("k2").unwrap()),
        Some(DeviceKind::Kiosk)
    );
    assert_eq!(h.device_kind(&DeviceId::parse("w99").unwrap()), None);
}

#[test]
fn the_township_opens_on_saturday_mornings_and_the_county_does_not() {
    let s = example();
    let town = hall(&s, "jl-town");
    let county = hall(&s, "jl-center");
    assert_eq!(
        town.hours.weekly[5],
        [Span::parse("09:00-12:00").unwrap()],
        "sat"
    );
    assert!(town.hours.weekly[6].is_empty(), "sun");
    // 2026-11-21 is a Saturday.
    assert!(town.is_open(beijing(2026, 11, 21, 10, 0)));
    assert!(!town.is_open(beijing(2026, 11, 21, 14, 30)));
    assert!(!county.is_open(beijing(2026, 11, 21, 10, 0)));
    // Weekdays: the town's lunch break is longer.
    assert!(county.hours.is_open(
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        t("13:45")
    ));
    assert!(!town.is_open(beijing(2026, 11, 23, 13, 45)));
}

#[test]
fn national_day_closes_both_halls_and_the_working_saturday_opens_the_county() {
    let s = example();
    let county = hall(&s, "jl-center");
    let town = hall(&s, "jl-town");
    // The day before the holiday, a Wednesday: open.
    assert!(county.is_open(beijing(2026, 9, 30, 9, 0)));
    // 2026-10-01 09:00 Beijing time is 01:00 UTC: the hall's own clock decides.
    let holiday = beijing(2026, 10, 1, 9, 0);
    assert_eq!(holiday, Utc.with_ymd_and_hms(2026, 10, 1, 1, 0, 0).unwrap());
    assert!(!county.is_open(holiday));
    assert!(!town.is_open(holiday));
    // 2026-10-10 is a Saturday made a working day (调休).
    let saturday = beijing(2026, 10, 10, 9, 0);
    assert!(county.is_open(saturday));
    assert!(county.is_open(beijing(2026, 10, 10, 14, 0)));
    // Monday's 午间值班 too: open over lunch, window 01 off duty.
    assert!(county.is_open(beijing(2026, 10, 10, 12, 30)), "lunch duty");
    assert!(!county.on_duty(0, beijing(2026, 10, 10, 12, 30)));
    // It follows Monday in the town too, not the town's Saturday duty.
    assert!(town.is_open(beijing(2026, 10, 10, 14, 30)));
    let town_01 = town.window_index(&WindowId::parse("01").unwrap()).unwrap();
    assert_eq!(
        town.shift_at(town_01, beijing(2026, 10, 10, 15, 0))
            .and_then(|s| s.a)
            .map(|a| town.staff[a].id.to_string()),
        Some("T001".into())
    );
    // The whole National Day week is closed in both halls.
    for day in 1..=7 {
        for h in [county, town] {
            assert!(
                !h.is_open(beijing(2026, 10, day, 10, 0)),
                "{} 10-{day}",
                h.id
            );
            assert!(!h.is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 10, day).unwrap()));
        }
    }
    // The township is closed on 10-02, a Friday.
    assert!(!town.is_open(beijing(2026, 10, 2, 9, 0)));
    assert!(town.is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 10, 10).unwrap()));
}

#[test]
fn departments_staff_and_duty_periods_come_from_the_example() {
    let s = example();
    let county = hall(&s, "jl-center");
    let town = hall(&s, "jl-town");
    let ga = county
        .service_index(&ServiceCode::parse("GA").unwrap())
        .unwrap();
    assert_eq!(county.service_department(ga).unwrap().name, "县公安局");
    assert!(county.knows_staff(&StaffId::parse("S005").unwrap()));
    assert!(!county.knows_staff(&StaffId::parse("S999").unwrap()));
    assert_eq!(
        county
            .staff_department(&StaffId::parse("S001").unwrap())
            .unwrap()
            .code,
        "scjg"
    );
    // 午间值班: 03 and 05 over lunch, and so the hall; 01 is not.
    let w = |h: &HallSpec, id: &str| h.window_index(&WindowId::parse(id).unwrap()).unwrap();
    let lunch = beijing(2026, 11, 23, 12, 30);
    assert!(county.on_duty(w(county, "03"), lunch));
    assert!(county.on_duty(w(county, "05"), lunch));
    assert!(!county.on_duty(w(county, "01"), lunch));
    assert!(!county.on_duty(w(county, "08"), lunch), "the hall's hours");
    assert!(county.is_open(lunch));
    // 延时服务 Saturday in the town: 01 and 05 on duty, the rest not.
    let sat = beijing(2026, 11, 28, 10, 0);
    assert!(
        town.is_open(sat)
            && !town.is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap())
    );
    let on: Vec<&str> = town
        .windows
        .iter()
        .enumerate()
        .filter(|(i, _)| town.on_duty(*i, sat))
        .map(|(_, x)| x.id.as_str())
        .collect();
    assert_eq!(on, ["01", "05"]);
}

#[test]
fn bad_duty_and_staff_values_name_their_field() {
    let bad = |extra: &str, field: &str| {
        let text = HALL.replacen(
            "[[halls.windows]]",
            &format!("{extra}\n[[halls.windows]]"),
            1,
        );
        let e = Settings::parse(&text).expect_err(extra);
        assert!(e.field.contains(field), "{extra}: {e}");
    };
    bad(
        "[[halls.staff]]\nid = \"S1\"\nname = \"张三\"\ndepartment = \"nope\"\n",
        "staff[0].department",
    );
    bad(
        "[[halls.staff]]\nid = \"S 1\"\nname = \"张三\"\n",
        "staff[0].id",
    );
    let text = format!(
        "{HALL}\n[[halls.windows.duty]]\ndays = [\"someday\"]\nhours = [\"09:00-12:00\"]\n"
    );
    let e = Settings::parse(&text).unwrap_err();
    assert!(e.field.ends_with(".duty[0].days"), "{e}");
    let text = format!(
        "{HALL}\n[[halls.windows.duty]]\ndays = [\"mon\"]\nhours = [\"09:00-12:00\"]\na = \"S9\"\n"
    );
    let e = Settings::parse(&text).unwrap_err();
    assert!(e.field.ends_with(".duty[0].a"), "{e}");
    let text = format!(
        "{HALL}\n[[halls.windows.duty]]\ndays = [\"weekdays\"]\nhours = [\"09:00-12:00\"]\n[[halls.windows.duty]]\ndays = [\"mon\"]\nhours = [\"11:00-13:00\"]\n"
    );
    let e = Settings::parse(&text).unwrap_err();
    assert!(e.reason.contains("overlap"), "{e}");
    let text = format!("[calendar]\nworking_days = {{ \"2026-10-10\" = \"someday\" }}\n{HALL}");
    let e = Settings::parse(&text).unwrap_err();
    assert_eq!(e.field, "calendar.working_days.\"2026-10-10\"", "{e}");
    let text = format!("[calendar]\nholidays = [\"2026-10-07..2026-10-01\"]\n{HALL}");
    let e = Settings::parse(&text).unwrap_err();
    assert_eq!(e.field, "calendar.holidays[0]", "{e}");
}

#[test]
fn the_minimal_hall_parses_and_missing_sections_take_their_defaults() {
    let s = Settings::parse(HALL).expect("the test hall is valid");
    assert_eq!(s.server.listen, "127.0.0.1:8080");
    assert_eq!(s.server.database_url, "sqlite://hallwatch.db");
    assert_eq!(s.server.replay_days, 2);
    assert!(s.server.public_origins.is_empty() && s.server.trusted_proxies.is_empty());
    assert_eq!((s.server.session_hours, s.server.body_timeout_s), (12, 10));
    assert_eq!(s.mqtt.broker, "mqtt://127.0.0.1:1883");
    assert_eq!(s.mqtt.prefix, "hallwatch");
    assert_eq!(s.mqtt.keep_alive_s, 30);
    assert_eq!(s.mqtt.username, None);
    assert_eq!(s.defaults.benchmark, 25);
    assert_eq!(s.defaults.staff_per_window, 1.5);
    assert_eq!(s.defaults.timezone, "Asia/Shanghai");
    assert!(s.tokens.is_empty());
    let h = &s.halls[0];
    assert_eq!(h.tz, chrono_tz::Asia::Shanghai);
    assert!(!h.refuse_outside_hours);
    assert!(h.windows.iter().all(|w| w.on_rota && w.benchmark == 25));
    assert_eq!(h.windows[1].services, [0, 1]);
}

#[test]
fn accepted_alternatives_for_urls_and_overrides_parse() {
    let text = with_top(
        "[server]\nlisten = \"[::1]:9000\"\ndatabase_url = \"postgresql://u:p@db/hw\"\n\
         [mqtt]\nbroker = \"tcp://broker\"\nprefix = \"gov/hallwatch\"\n\
         [defaults]\ntimezone = \"Asia/Urumqi\"\n",
    );
    let s = Settings::parse(&text).unwrap();
    assert_eq!(s.halls[0].tz, chrono_tz::Asia::Urumqi);
    let text = hall_with(
        "services = [\"SB\"]\n",
        "services = [\"SB\"]\nterminal = \"t-1\"\nrater = \"pad-1\"\n",
    );
    let s = Settings::parse(&text).unwrap();
    assert_eq!(s.halls[0].windows[0].terminal.as_str(), "t-1");
    assert_eq!(s.halls[0].windows[0].rater.as_str(), "pad-1");
}

#[test]
fn a_config_error_displays_as_field_then_reason() {
    let e = err("halls[h1].id", "duplicate hall id");
    assert_eq!(e.to_string(), "halls[h1].id: duplicate hall id");
    assert_eq!(err("", "cannot read x").to_string(), "cannot read x");
}

#[test]
fn loading_a_file_names_the_file_in_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hallwatch.toml");
    std::fs::write(&path, HALL).unwrap();
    assert!(Settings::load(&path).is_ok());
    std::fs::write(&path, hall_with("prefix = \"B\"", "prefix = \"b\"")).unwrap();
    let e = Settings::load(&path).unwrap_err();
    assert_eq!(e.field, "halls[h1].services[SB].prefix");
    assert!(e.reason.contains("hallwatch.toml"), "{e:?}");
    let e = Settings::load(&dir.path().join("missing.toml")).unwrap_err();
    assert_eq!(e.field, "");
    assert!(e.reason.contains("cannot read"), "{e:?}");
}

// ---------------------------------------------------------------------------
// Every refusal names the field and the reason

#[test]
fn a_window_naming_an_unknown_service_is_refused_with_its_field() {
    let text = hall_with("services = [\"SB\"]\n", "services = [\"XX\"]\n");
    assert_refused(&text, "halls[h1].windows[01].services", "unknown service");
    let e = refused(&text);
    assert!(
        e.reason.contains("\"XX\"") && e.reason.contains("SB, GA"),
        "{e:?}"
    );
}

#[test]
fn a_window_listing_a_service_twice_or_none_is_refused() {
    let twice = hall_with("services = [\"SB\"]\n", "services = [\"SB\", \"SB\"]\n");
    assert_refused(&twice, "halls[h1].windows[01].services", "twice");
    let none = hall_with("services = [\"SB\"]\n", "services = []\n");
    assert_refused(&none, "halls[h1].windows[01].services", "at least one");
}

#[test]
fn a_duplicate_hall_id_is_refused() {
    let text = format!("{HALL}\n{HALL}");
    assert_refused(&text, "halls[h1].id", "duplicate hall id");
}

#[test]
fn a_duplicate_window_id_is_refused() {
    let text = hall_with("id = \"02\"", "id = \"01\"");
    assert_refused(&text, "halls[h1].windows[01].id", "duplicate window id");
}

#[test]
fn a_duplicate_service_code_is_refused() {
    let text = hall_with("code = \"GA\"", "code = \"SB\"");
    assert_refused(
        &text,
        "halls[h1].services[SB].code",
        "duplicate service code",
    );
}

#[test]
fn a_duplicate_ticket_prefix_is_refused() {
    let text = hall_with("prefix = \"G\"", "prefix = \"B\"");
    assert_refused(&text, "halls[h1].services[GA].prefix", "another service");
}

#[test]
fn a_prefix_must_be_one_to_three_capital_letters() {
    for bad in ["b", "ABCD", "", "B1", "Б"] {
        let text = hall_with("prefix = \"B\"", &format!("prefix = \"{bad}\""));
        assert_refused(&text, "halls[h1].services[SB].prefix", "capital letters");
    }
    for good in ["A", "AB", "ABC"] {
        let text = hall_with("prefix = \"B\"", &format!("prefix = \"{good}\""));
        assert!(Settings::parse(&text).is_ok(), "{good}");
    }
}

#[test]
fn a_service_code_that_cannot_be_an_id_is_refused() {
    let text = hall_with("code = \"GA\"", "code = \"G A\"");
    assert_refused(&text, "halls[h1].services[G A].code", "letters, digits");
    let text = hall_with("code = \"GA\"", "code = \"\"");
    assert_refused(&text, "halls[h1].services[1].code", "empty");
}

#[test]
fn an_unknown_time_zone_is_refused_in_a_hall_and_in_the_defaults() {
    let text = hall_with(
        "level = \"county\"",
        "level = \"county\"\ntimezone = \"Mars/Olympus\"",
    );
    assert_refused(&text, "halls[h1].timezone", "IANA time zone");
    assert!(refused(&text).reason.contains("Mars/Olympus"));
    let text = with_top("[defaults]\ntimezone = \"Mars/Olympus\"");
    assert_refused(&text, "defaults.timezone", "IANA time zone");
}

#[test]
fn an_hours_range_that_ends_before_it_starts_is_refused() {
    let text = hall_with(
        "weekdays = [\"08:30-12:00\", \"13:30-17:30\"]",
        "weekdays = [\"12:00-08:30\"]",
    );
    assert_refused(&text, "halls[h1].hours.weekdays", "ends before it starts");
    let text = hall_with(
        "weekdays = [\"08:30-12:00\", \"13:30-17:30\"]",
        "weekdays = [\"8h-12h\"]",
    );
    assert_refused(&text, "halls[h1].hours.weekdays", "not a time");
    let text = hall_with(
        "weekdays = [\"08:30-12:00\", \"13:30-17:30\"]",
        "weekdays = [\"08:30\"]",
    );
    assert_refused(&text, "halls[h1].hours.weekdays", "not a time range");
}

#[test]
fn overlapping_hours_are_refused_in_any_order() {
    for list in [
        "[\"08:30-12:00\", \"11:00-17:30\"]",
        "[\"11:00-17:30\", \"08:30-12:00\"]",
        "[\"08:30-12:00\", \"08:30-12:00\"]",
    ] {
        let text = hall_with(
            "weekdays = [\"08:30-12:00\", \"13:30-17:30\"]",
            &format!("weekdays = {list}"),
        );
        assert_refused(&text, "halls[h1].hours.weekdays", "overlap");
    }
    // Touching ranges do not overlap.
    let text = hall_with(
        "weekdays = [\"08:30-12:00\", \"13:30-17:30\"]",
        "sat = [\"12:00-13:00\", \"08:00-12:00\"]\nweekdays = [\"08:30-12:00\"]",
    );
    assert!(Settings::parse(&text).is_ok());
    let text = hall_with(
        "\"2026-10-01\" = []",
        "\"2026-10-01\" = [\"09:00-11:00\", \"10:00-12:00\"]",
    );
    assert_refused(&text, "halls[h1].calendar.\"2026-10-01\"", "overlap");
}

#[test]
fn an_unknown_weekday_key_is_refused() {
    let text = hall_with(
        "weekdays = [\"08:30-12:00\", \"13:30-17:30\"]",
        "weekdays = [\"08:30-12:00\"]\nmonday = [\"08:30-12:00\"]",
    );
    assert_refused(&text, "halls[h1].hours.monday", "unknown day");
}

#[test]
fn a_hall_without_hours_is_refused() {
    let text = hall_with(
        "[halls.hours]\nweekdays = [\"08:30-12:00\", \"13:30-17:30\"]\n",
        "",
    );
    assert_refused(&text, "halls[h1].hours", "opening hours");
}

#[test]
fn a_day_key_overrides_weekdays() {
    let text = hall_with(
        "weekdays = [\"08:30-12:00\", \"13:30-17:30\"]",
        "weekdays = [\"08:30-12:00\", \"13:30-17:30\"]\nfri = [\"08:30-12:00\"]\nsun = [\"09:00-11:00\"]",
    );
    let s = Settings::parse(&text).unwrap();
    let hours = &s.halls[0].hours;
    assert_eq!(hours.weekly[0].len(), 2);
    assert_eq!(hours.weekly[4], [Span::parse("08:30-12:00").unwrap()]);
    assert!(hours.weekly[5].is_empty());
    assert_eq!(hours.weekly[6], [Span::parse("09:00-11:00").unwrap()]);
}

#[test]
fn a_calendar_date_that_is_not_a_date_is_refused() {
    for bad in ["2026-13-01", "2026-02-30", "01/10/2026", "National Day"] {
        let text = hall_with("\"2026-10-01\" = []", &format!("\"{bad}\" = []"));
        assert_refused(
            &text,
            &format!("halls[h1].calendar.\"{bad}\""),
            "dates are written 2026-10-01",
        );
    }
}

#[test]
fn a_device_id_used_twice_in_a_hall_is_refused() {
    // A kiosk named like window 01's default terminal.
    let text = hall_with("kiosks = [\"k1\"]", "kiosks = [\"w01\"]");
    assert_refused(&text, "halls[h1].windows[01].terminal", "used twice");
    assert!(refused(&text).reason.contains("\"w01\""));
    let text = hall_with("kiosks = [\"k1\"]", "kiosks = [\"k1\", \"k1\"]");
    assert_refused(&text, "halls[h1].kiosks[1]", "used twice");
    // Window 02's rating pad set to window 01's.
    let text = hall_with(
        "services = [\"SB\", \"GA\"]\n",
        "services = [\"SB\", \"GA\"]\nrater = \"r01\"\n",
    );
    assert_refused(&text, "halls[h1].windows[02].rater", "used twice");
    let text = hall_with("kiosks = [\"k1\"]", "kiosks = [\"k 1\"]");
    assert_refused(&text, "halls[h1].kiosks[0]", "letters, digits");
}

#[test]
fn the_same_device_ids_in_two_halls_are_fine() {
    let second = HALL.replacen("id = \"h1\"", "id = \"h2\"", 1);
    let s = Settings::parse(&format!("{HALL}\n{second}")).unwrap();
    assert_eq!(s.halls.len(), 2);
    assert_eq!(s.halls[1].kiosks[0].as_str(), "k1");
}

#[test]
fn a_hall_id_with_bad_characters_is_refused() {
    let text = hall_with("id = \"h1\"", "id = \"jl center\"");
    assert_refused(&text, "halls[jl center].id", "letters, digits");
    let text = hall_with("id = \"h1\"", "id = \"jl/center\"");
    assert_refused(&text, "halls[jl/center].id", "letters, digits");
    let text = hall_with("id = \"h1\"", "id = \"\"");
    assert_refused(&text, "halls[0].id", "empty");
    let long = "x".repeat(33);
    let text = hall_with("id = \"h1\"", &format!("id = \"{long}\""));
    assert_refused(&text, &format!("halls[{long}].id"), "longer than 32");
}

#[test]
fn a_window_id_with_bad_characters_is_refused() {
    let text = hall_with("id = \"02\"", "id = \"0+2\"");
    assert_refused(&text, "halls[h1].windows[0+2].id", "letters, digits");
}

#[test]
fn empty_names_are_refused() {
    let text = hall_with("name = \"测试大厅\"", "name = \"  \"");
    assert_refused(&text, "halls[h1].name", "empty");
    let text = hall_with("name = \"1号窗口\"", "name = \"\"");
    assert_refused(&text, "halls[h1].windows[01].name", "empty");
    let text = hall_with("name = \"公安专项\"", "name = \"\"");
    assert_refused(&text, "halls[h1].services[GA].name", "empty");
}

#[test]
fn a_zero_benchmark_is_refused_in_the_defaults_and_on_a_window() {
    let text = with_top("[defaults]\nbenchmark = 0");
    assert_refused(&text, "defaults.benchmark", "at least 1");
    let text = hall_with(
        "services = [\"SB\", \"GA\"]\n",
        "services = [\"SB\", \"GA\"]\nbenchmark = 0\n",
    );
    assert_refused(&text, "halls[h1].windows[02].benchmark", "at least 1");
}

#[test]
fn a_bad_staff_per_window_is_refused() {
    for bad in ["0.0", "-1.5", "nan", "inf"] {
        let text = with_top(&format!("[defaults]\nstaff_per_window = {bad}"));
        assert_refused(&text, "defaults.staff_per_window", "positive");
    }
}

#[test]
fn a_zero_expected_service_time_is_refused() {
    let text = hall_with("prefix = \"G\"", "prefix = \"G\"\nexpected_service_min = 0");
    assert_refused(
        &text,
        "halls[h1].services[GA].expected_service_min",
        "from 1 to",
    );
    let text = with_top("[defaults]\nexpected_service_min = 0");
    assert_refused(
        &text,
        "halls[h1].services[SB].expected_service_min",
        "from 1 to",
    );
}

#[test]
fn limits_with_warning_after_critical_or_zero_are_refused() {
    let text = with_top("[defaults]\nwait_limit_min = [60, 30]");
    assert_refused(&text, "defaults.wait_limit_min", "warning <= critical");
    let text = with_top("[defaults]\nwait_limit_min = [0, 30]");
    assert_refused(&text, "defaults.wait_limit_min", "0 < warning");
    let text = with_top("[defaults]\nservice_limit_min = [40, 20]");
    assert_refused(&text, "defaults.service_limit_min", "warning <= critical");
    let text = hall_with(
        "prefix = \"G\"",
        "prefix = \"G\"\nwait_limit_min = [60, 30]",
    );
    assert_refused(&text, "halls[h1].services[GA].wait_limit_min", "warning");
    let text = hall_with(
        "prefix = \"G\"",
        "prefix = \"G\"\nservice_limit_min = [9, 8]",
    );
    assert_refused(&text, "halls[h1].services[GA].service_limit_min", "warning");
    // Equal warning and critical are allowed.
    let text = with_top("[defaults]\nwait_limit_min = [30, 30]");
    assert!(Settings::parse(&text).is_ok());
}

#[test]
fn an_unknown_field_anywhere_is_refused_at_its_line() {
    let cases = [
        with_top("colour = \"red\""),
        with_top("[server]\nport = 8080"),
        with_top("[mqtt]\nhost = \"broker\""),
        with_top("[defaults]\nbenchmarks = 25"),
        with_top(
            "[[tokens]]\nname = \"x\"\nrole = \"admin\"\nhalls = [\"*\"]\nsha256 = \"\"\nscope = 1",
        ),
        hall_with("level = \"county\"", "level = \"county\"\nfloor = 2"),
        hall_with("prefix = \"G\"", "prefix = \"G\"\ncolour = \"red\""),
        hall_with(
            "services = [\"SB\"]\n",
            "services = [\"SB\"]\ncolour = \"red\"\n",
        ),
    ];
    for text in &cases {
        assert_refused_at_a_line(text, "unknown field");
    }
    let e = assert_refused_at_a_line(&cases[1], "port");
    assert!(e.to_string().starts_with("line "), "{e}");
}

#[test]
fn type_and_syntax_errors_point_at_a_line_too() {
    assert_refused_at_a_line(
        &hall_with("level = \"county\"", "level = \"galaxy\""),
        "galaxy",
    );
    assert_refused_at_a_line(
        &hall_with(
            "kind = \"comprehensive\"\nservices = [\"SB\"]\n",
            "kind = \"window\"\nservices = [\"SB\"]\n",
        ),
        "window",
    );
    assert_refused_at_a_line(&with_top("[defaults]\nbenchmark = \"25\""), "");
    assert_refused_at_a_line(&with_top("[defaults]\nbenchmark = -1"), "");
    assert_refused_at_a_line(&with_top("[server\nlisten = 1"), "");
    assert_refused_at_a_line(
        &with_top("[[tokens]]\nname = \"x\"\nrole = \"root\"\nhalls = [\"*\"]\nsha256 = \"\""),
        "root",
    );
}

#[test]
fn a_file_without_halls_is_refused() {
    assert_refused("", "halls", "at least one [[halls]]");
    assert_refused(
        "[server]\nlisten = \"127.0.0.1:8080\"\n",
        "halls",
        "at least one",
    );
}

#[test]
fn a_hall_without_services_or_windows_is_refused() {
    let head = HALL.split("[halls.hours]").next().unwrap();
    let hours = "[halls.hours]\nweekdays = [\"08:30-12:00\"]\n";
    let services = HALL[HALL.find("[[halls.services]]").unwrap()..]
        .split("[[halls.windows]]")
        .next()
        .unwrap();
    let no_windows = format!("{head}windows = []\n{hours}{services}");
    assert_refused(&no_windows, "halls[h1].windows", "at least one window");
    let no_services = format!("{head}services = []\nwindows = []\n{hours}");
    assert_refused(&no_services, "halls[h1].services", "at least one service");
}

#[test]
fn a_missing_required_field_is_refused_by_the_reader() {
    let text = hall_with(
        "kind = \"comprehensive\"\nservices = [\"SB\"]\n",
        "services = [\"SB\"]\n",
    );
    let e = refused(&text);
    assert!(e.reason.contains("missing field `kind`"), "{e:?}");
}

const SHA: &str = "ae4a180a148c6fa73b885f1715c71b54f9f41980b20a0b3223cbac19b1b172ec";

fn token(halls: &str, sha256: &str) -> String {
    with_top(&format!(
        "[[tokens]]\nname = \"值班长\"\nrole = \"manager\"\nhalls = {halls}\nsha256 = \"{sha256}\"\n"
    ))
}

#[test]
fn a_token_with_a_bad_sha256_is_refused() {
    assert!(Settings::parse(&token("[\"h1\"]", SHA)).is_ok());
    assert!(Settings::parse(&token("[\"*\"]", &SHA.to_uppercase())).is_ok());
    for bad in [
        "abc",
        "demo-manager",
        &SHA[1..],
        &format!("{SHA}0"),
        &SHA.replacen('a', "g", 1),
    ] {
        assert_refused(&token("[\"h1\"]", bad), "tokens[0].sha256", "64 hex digits");
    }
}

#[test]
fn a_token_scoped_to_an_unknown_hall_or_to_nothing_is_refused() {
    let text = token("[\"h1\", \"nowhere\"]", SHA);
    assert_refused(&text, "tokens[0].halls", "unknown hall");
    assert!(refused(&text).reason.contains("nowhere"));
    assert_refused(&token("[]", SHA), "tokens[0].halls", "in scope");
    let unnamed = token("[\"h1\"]", SHA).replacen("name = \"值班长\"", "name = \" \"", 1);
    assert_refused(&unnamed, "tokens[0].name", "empty");
}

#[test]
fn a_database_url_with_another_scheme_is_refused() {
    for bad in ["mysql://db/hallwatch", "hallwatch.db", "", "postgres:/db"] {
        let text = with_top(&format!("[server]\ndatabase_url = \"{bad}\""));
        assert_refused(&text, "server.database_url", "sqlite://");
    }
    for good in ["sqlite::memory:", "sqlite://x.db", "postgres://u@h/db"] {
        let text = with_top(&format!("[server]\ndatabase_url = \"{good}\""));
        assert!(Settings::parse(&text).is_ok(), "{good}");
    }
}

#[test]
fn a_listen_address_that_is_not_a_socket_address_is_refused() {
    for bad in [
        "localhost:8080",
        "127.0.0.1",
        ":8080",
        "127.0.0.1:99999",
        "",
    ] {
        let text = with_top(&format!("[server]\nlisten = \"{bad}\""));
        assert_refused(&text, "server.listen", "address like 127.0.0.1:8080");
    }
}

#[test]
fn origins_proxies_sessions_and_body_time_are_checked_by_field() {
    let server = |body: &str| with_top(&format!("[server]\n{body}"));
    let ok = Settings::parse(&server(
        "public_origins = [\"https://hall.example.gov.cn\", \"http://10.0.0.5:8080\"]\n\
         trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nsession_hours = 8\nbody_timeout_s = 5\n\
         checkpoint_every_s = 0",
    ))
    .expect("valid");
    assert_eq!(ok.server.public_origins.len(), 2);
    assert_eq!(ok.server.session_hours, 8);
    assert_eq!(ok.server.checkpoint_every_s, 0);
    for (body, field, word) in [
        (
            "public_origins = [\"https://ok.cn\", \"hall.example.gov.cn\"]",
            "server.public_origins[1]",
            "not an origin",
        ),
        (
            "public_origins = [\"https://x.cn/path\"]",
            "server.public_origins[0]",
            "no path",
        ),
        (
            "trusted_proxies = [\"proxy.local\"]",
            "server.trusted_proxies[0]",
            "not an address",
        ),
        (
            "trusted_proxies = [\"10.0.0.0/40\"]",
            "server.trusted_proxies[0]",
            "prefix length",
        ),
        ("session_hours = 0", "server.session_hours", "1 to 168"),
        ("session_hours = 169", "server.session_hours", "1 to 168"),
        ("body_timeout_s = 0", "server.body_timeout_s", "1 to 300"),
        (
            "checkpoint_every_s = 5",
            "server.checkpoint_every_s",
            "0 (none) or 10 to 86400",
        ),
    ] {
        assert_refused(&server(body), field, word);
    }
}

#[test]
fn a_topic_prefix_with_wildcards_or_edge_slashes_is_refused() {
    for bad in [
        "hall#watch",
        "#",
        "hall+watch",
        "/hallwatch",
        "hallwatch/",
        "",
    ] {
        let text = with_top(&format!("[mqtt]\nprefix = \"{bad}\""));
        assert_refused(&text, "mqtt.prefix", "'#'");
    }
}

#[test]
fn an_empty_client_id_is_refused() {
    let text = with_top("[mqtt]\nclient_id = \"\"");
    assert_refused(&text, "mqtt.client_id", "empty");
}

#[test]
fn a_broker_url_that_is_not_mqtt_host_port_is_refused() {
    let text = with_top("[mqtt]\nbroker = \"http://broker:1883\"");
    assert_refused(&text, "mqtt.broker", "mqtt://host:port");
    let text = with_top("[mqtt]\nbroker = \"mqtt://broker:99999\"");
    assert_refused(&text, "mqtt.broker", "bad port");
    let text = with_top("[mqtt]\nbroker = \"mqtt://:1883\"");
    assert_refused(&text, "mqtt.broker", "no host");
}

#[test]
fn an_error_at_the_start_of_a_line_names_that_line() {
    let e = refused("[server]\nport = 8080\n");
    assert_eq!(e.field, "line 2");
}

#[test]
fn limits_too_large_to_be_minutes_of_a_day_are_refused_not_wrapped() {
    assert_refused(
        &with_top("[defaults]\nwait_limit_min = [100000000, 100000000]\n"),
        "defaults.wait_limit_min",
        "critical",
    );
    assert_refused(
        &with_top("[defaults]\nexpected_service_min = 100000000\n"),
        "halls[h1].services[SB].expected_service_min",
        "minutes",
    );
}

#[test]
fn rule_thresholds_come_from_defaults_then_the_hall() {
    let text = with_top("[defaults.rules]\npause_min = [10, 20]\nbacklog_per_window = 8.0\n")
        .replacen(
            "[[halls.services]]",
            "[halls.rules]\npause_min = [5, 25]\n\n[[halls.services]]",
            1,
        );
    let s = Settings::parse(&text).expect("valid");
    let t = &s.halls[0].thresholds;
    assert_eq!(
        t.pause_too_long.limits_s,
        (300, 1500),
        "the hall's own value"
    );
    assert_eq!(t.queue_backlog.per_window, 8.0, "from [defaults.rules]");
    assert_eq!(t.call_unanswered.after_s, 300, "the rule's default");
    assert_eq!(t.escalation.escalate_after_s, 600);
}

#[test]
fn bad_rule_thresholds_name_their_field() {
    assert_refused(
        &with_top("[defaults.rules]\npause_min = [30, 15]\n"),
        "defaults.rules.pause_min",
        "warning <= critical",
    );
    assert_refused(
        &with_top("[defaults.rules]\noverload = [1.0, 1.2]\n"),
        "defaults.rules.overload",
        "positive number",
    );
    assert_refused(
        &with_top("[defaults.rules]\nrating_share = 1.5\n"),
        "defaults.rules.rating_share",
        "share",
    );
    assert_refused(
        &with_top("[defaults.rules]\nno_show_streak = 0\n"),
        "defaults.rules.no_show_streak",
        "at least 1",
    );
    let text = HALL.replacen(
        "[[halls.services]]",
        "[halls.rules]\ndevice_offline_min = 0\n\n[[halls.services]]",
        1,
    );
    assert_refused(&text, "halls[h1].rules.device_offline_min", "minutes");
    assert_refused_at_a_line(
        &with_top("[defaults.rules]\npause_minutes = 5\n"),
        "unknown field",
    );
}

#[test]
fn windows_say_what_their_benchmark_counts_and_which_stay_open() {
    let s = example();
    let h = hall(&s, "jl-center");
    assert_eq!(window(h, "05").counts, BenchmarkUnit::Cases);
    assert_eq!(window(h, "08").counts, BenchmarkUnit::People, "guide");
    assert_eq!(window(h, "09").counts, BenchmarkUnit::People, "consult");
    assert!(window(h, "08").is_mandatory() && !window(h, "05").is_mandatory());
    assert_eq!((s.defaults.staffing_margin, h.staffing_margin), (1.2, 1.2));

    let text = with_top("").replacen(
        "services = [\"SB\"]\n",
        "services = [\"SB\"]\nbenchmark_counts = \"people\"\nmandatory = true\n",
        1,
    );
    let s = Settings::parse(&text).unwrap();
    let w = &s.halls[0].windows[0];
    assert_eq!(w.counts, BenchmarkUnit::People);
    assert!(w.mandatory && w.is_mandatory());
    assert!(!s.halls[0].windows[1].is_mandatory());

    let text = with_top("[defaults]\nstaffing_margin = 1.5").replacen(
        "kiosks = [\"k1\"]\n",
        "kiosks = [\"k1\"]\nstaffing_margin = 2.0\n",
        1,
    );
    let s = Settings::parse(&text).unwrap();
    assert_eq!(
        (s.defaults.staffing_margin, s.halls[0].staffing_margin),
        (1.5, 2.0)
    );
    assert_refused(
        &with_top("[defaults]\nstaffing_margin = 0.9"),
        "defaults.staffing_margin",
        "from 1 to 10",
    );
}

#[test]
fn the_stop_issuing_cut_off_is_off_unless_set_and_checked_where_set() {
    let s = Settings::parse(HALL).unwrap();
    assert_eq!(s.halls[0].stop_issuing_min, None);
    let s = Settings::parse(&with_top("[defaults]\nstop_issuing_min = 30")).unwrap();
    assert_eq!(s.halls[0].stop_issuing_min, Some(30));
    assert_refused(
        &with_top("[defaults]\nstop_issuing_min = 0"),
        "defaults.stop_issuing_min",
        "1 to 240",
    );
    assert_refused(
        &with_top("[defaults]\nstop_issuing_min = 241"),
        "defaults.stop_issuing_min",
        "1 to 240",
    );
}

#[test]
fn the_kiosks_flood_guards_are_off_unless_set_and_checked_where_set() {
    let s = Settings::parse(HALL).unwrap();
    assert_eq!(s.halls[0].kiosk_per_minute, None);
    assert!(s.halls[0].services.iter().all(|x| x.daily_cap.is_none()));

    let text = with_top("[defaults]\nkiosk_per_minute = 20\ndaily_cap = 300");
    let s = Settings::parse(&text).unwrap();
    assert_eq!(s.halls[0].kiosk_per_minute, Some(20));
    assert!(s.halls[0].services.iter().all(|x| x.daily_cap == Some(300)));
    let text = hall_with("code = \"GA\"", "code = \"GA\"\ndaily_cap = 80");
    let s = Settings::parse(&text).unwrap();
    assert_eq!(s.halls[0].services[1].daily_cap, Some(80));

    assert_refused(
        &with_top("[defaults]\nkiosk_per_minute = 0"),
        "defaults.kiosk_per_minute",
        "1 to 600",
    );
    assert_refused(
        &with_top("[defaults]\ndaily_cap = 0"),
        "defaults.daily_cap",
        "at least 1",
    );
    assert_refused(
        &hall_with("code = \"GA\"", "code = \"GA\"\ndaily_cap = 0"),
        "halls[h1].services[GA].daily_cap",
        "at least 1",
    );
    assert_refused(
        &hall_with(
            "level = \"county\"",
            "level = \"county\"\nkiosk_per_minute = 1000",
        ),
        "halls[h1].kiosk_per_minute",
        "1 to 600",
    );
}

#[test]
fn case_limits_and_deductions_are_read_and_checked() {
    let base = crate::EXAMPLE_CONFIG;
    let s = Settings::parse(&base.replace("red_days = 3", "red_days = 2")).unwrap();
    assert_eq!(s.halls[0].cards.red_days, 2);
    let e = Settings::parse(&base.replace("verify_days = 1", "verify_days = 0")).unwrap_err();
    assert_eq!(e.field, "cases.verify_days");
    let e = Settings::parse(&base.replace("yellow = 2.0", "yellow = -1.0")).unwrap_err();
    assert_eq!(e.field, "cases.deductions.yellow");
}

/// The example's commented `[notify]` block, uncommented.
fn notify_example() -> String {
    example_block("notify")
}

/// The example's commented block between `# BEGIN {name} example` and
/// `# END {name} example`, uncommented.
fn example_block(name: &str) -> String {
    let text = crate::EXAMPLE_CONFIG;
    let begin = format!("# BEGIN {name} example\n");
    let start = text.find(&begin).expect("BEGIN") + begin.len();
    let end = text.find(&format!("# END {name} example")).expect("END");
    text[start..end]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_examples_notification_block_is_valid_once_uncommented() {
    let text = format!("{}\n{}", crate::EXAMPLE_CONFIG, notify_example());
    let s = Settings::parse(&text).expect("the notify example parses");
    let plan = &s.notify;
    assert_eq!(plan.channels.len(), 4);
    assert_eq!(plan.routes.len(), 4);
    let sms = plan.channel("director-sms").unwrap();
    assert_eq!(sms.per_minute, 5);
    let robot = plan.channel("county-duty").unwrap();
    assert_eq!(robot.per_minute, crate::notify::DINGTALK_PER_MINUTE);
    assert_eq!(
        plan.routes[0].quiet,
        Some((
            NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(7, 30, 0).unwrap()
        ))
    );
    assert!(plan.routes[2].wider);
    // Without the block: no channel, nothing sent.
    assert!(example().notify.channels.is_empty());
}

#[test]
fn every_bad_notification_setting_names_its_field() {
    let channel = |extra: &str| {
        with_top(&format!(
            "[[notify.channels]]\nname = \"c\"\nkind = \"webhook\"\nurl = \"https://h.example/x\"\n{extra}\n\
             [[notify.routes]]\nchannel = \"c\"\n"
        ))
    };
    assert_refused(
        &channel("").replace("\"webhook\"", "\"pager\""),
        "notify.channels[0].kind",
        "dingtalk",
    );
    assert_refused(
        &channel("").replace("https://h.example/x", "ftp://h"),
        "notify.channels[0].url",
        "https://",
    );
    assert_refused(
        &channel("per_minute = 0"),
        "notify.channels[0].per_minute",
        "1 to",
    );
    assert_refused(
        &channel("phones = [\"123\"]"),
        "notify.channels[0].phones",
        "sms",
    );
    assert_refused(
        &channel("").replace("\"webhook\"", "\"sms\""),
        "notify.channels[0].phones",
        "numbers",
    );
    assert_refused(
        &channel("phones = [\"13800000000\"]\ntemplate = \"{title} {nope}\"")
            .replace("\"webhook\"", "\"sms\""),
        "notify.channels[0].template",
        "{nope}",
    );
    assert_refused(
        &channel("phones = [\"138-0000\"]").replace("\"webhook\"", "\"sms\""),
        "notify.channels[0].phones[0]",
        "phone number",
    );
    assert_refused(
        &channel("per_minute = 30").replace("\"webhook\"", "\"dingtalk\""),
        "notify.channels[0].per_minute",
        "1 to 20",
    );
    assert_refused(
        &channel("secret = \"s\"").replace("\"webhook\"", "\"wecom\""),
        "notify.channels[0].secret",
        "WeCom",
    );
    assert_refused(
        &channel("").replace("channel = \"c\"", "channel = \"d\""),
        "notify.routes[0].channel",
        "\"d\"",
    );
    assert_refused(
        &channel("").replace("channel = \"c\"\n", "channel = \"c\"\nhalls = [\"nope\"]\n"),
        "notify.routes[0].halls",
        "unknown hall",
    );
    assert_refused(
        &channel("").replace("channel = \"c\"\n", "channel = \"c\"\nrules = [\"slow\"]\n"),
        "notify.routes[0].rules",
        "rule code",
    );
    assert_refused(
        &channel("").replace(
            "channel = \"c\"\n",
            "channel = \"c\"\nmin_severity = \"high\"\n",
        ),
        "notify.routes[0].min_severity",
        "critical",
    );
    assert_refused(
        &channel("").replace("channel = \"c\"\n", "channel = \"c\"\ncards = [\"blue\"]\n"),
        "notify.routes[0].cards",
        "yellow",
    );
    assert_refused(
        &channel("").replace(
            "channel = \"c\"\n",
            "channel = \"c\"\nquiet = [\"22:00\", \"7\"]\n",
        ),
        "notify.routes[0].quiet",
        "\"7\"",
    );
    assert_refused(
        &with_top(
            "[[notify.channels]]\nname = \"c\"\nkind = \"webhook\"\nurl = \"https://h.example/x\"\n",
        ),
        "notify.routes",
        "no [[notify.routes]]",
    );
    assert_refused(
        &with_top("[notify]\npublic_url = \"zwfw.example\"\n"),
        "notify.public_url",
        "https://",
    );
    assert_refused(
        &with_top("[notify.retry]\nmax_s = 1\nfirst_s = 5\n"),
        "notify.retry.max_s",
        "first_s",
    );
    assert_refused(
        &channel("template = \"{title}\""),
        "notify.channels[0].template",
        "sms",
    );
    // An access token in a refused address is not echoed.
    let e = refused(&channel("").replace(
        "https://h.example/x",
        "https://h.example/x?token=SECRETTOKEN ok",
    ));
    assert_eq!(e.field, "notify.channels[0].url");
    assert!(!e.reason.contains("SECRETTOKEN"), "{e}");
    assert_refused(
        &channel("").replace("https://h.example/x", "https://me:pw@h.example/x"),
        "notify.channels[0].url",
        "user name",
    );
    assert_refused(
        &channel("").replace(
            "[[notify.routes]]",
            "[notify]\npublic_url = \"https://z.example/?a=1\"\n[[notify.routes]]",
        ),
        "notify.public_url",
        "query",
    );
    assert_refused(
        &format!(
            "{}[[notify.channels]]\nname = \"spare\"\nkind = \"webhook\"\nurl = \"https://h.example/y\"\n",
            channel("")
        ),
        "notify.channels[1].name",
        "no [[notify.routes]] sends to \"spare\"",
    );
}

/// The example with its `[cluster]` block uncommented, on PostgreSQL.
fn cluster_example() -> String {
    format!("{}\n{}", crate::EXAMPLE_CONFIG, example_block("cluster")).replace(
        "database_url = \"sqlite://hallwatch.db\"",
        "database_url = \"postgres://hallwatch@db.example/hallwatch\"",
    )
}

#[test]
fn the_examples_cluster_block_is_valid_once_uncommented() {
    let s = Settings::parse(&cluster_example()).expect("the cluster example parses");
    let c = s.cluster.expect("partitions configured");
    assert_eq!(c.lease, std::time::Duration::from_secs(3));
    assert_eq!(c.renew, std::time::Duration::from_secs(1));
    let names: Vec<_> = c.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["county", "towns"]);
    assert_eq!(c.partitions[1].halls[0].as_str(), "jl-town");
    assert_eq!(c.advertise.as_deref(), Some("http://10.0.1.11:8080"));
    // Without the block one instance runs every hall.
    assert!(example().cluster.is_none());
}

#[test]
fn every_bad_cluster_setting_names_its_field() {
    let base = cluster_example();
    // At a line's start: the commented block above holds the same words.
    let bad = |from: &str, to: &str| {
        let (from, to) = (format!("\n{from}"), format!("\n{to}"));
        assert_eq!(base.matches(&from).count(), 1, "{from:?}");
        Settings::parse(&base.replacen(&from, &to, 1)).unwrap_err()
    };
    let e = Settings::parse(&format!(
        "{}\n{}",
        crate::EXAMPLE_CONFIG,
        example_block("cluster")
    ))
    .unwrap_err();
    assert_eq!(e.field, "cluster.partitions");
    assert!(e.reason.contains("PostgreSQL"), "{e:?}");
    let e = bad("lease_s = 3", "lease_s = 1");
    assert_eq!(e.field, "cluster.lease_s");
    let e = bad(
        "advertise = \"http://10.0.1.11:8080\"",
        "advertise = \"https://10.0.1.11:8080\"",
    );
    assert_eq!(e.field, "cluster.advertise");
    assert!(e.reason.contains("http://"), "{e:?}");
    let e = bad(
        "advertise = \"http://10.0.1.11:8080\"",
        "advertise = \"http://10.0.1.11\"",
    );
    assert_eq!(e.field, "cluster.advertise");
    // Without it, the listening address must be one the others can reach.
    let e = Settings::parse(
        &base
            .replacen("\nadvertise = \"http://10.0.1.11:8080\"", "", 1)
            .replacen(
                "listen = \"127.0.0.1:8080\"",
                "listen = \"0.0.0.0:8080\"",
                1,
            ),
    )
    .unwrap_err();
    assert_eq!(e.field, "cluster.advertise");
    assert!(e.reason.contains("0.0.0.0"), "{e:?}");
    // TLS ends at the balancer: instances speak plain HTTP to each other.
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["hall.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let e = Settings::parse(&base.replacen(
        "[server]\n",
        &format!(
            "[server]\ntls_cert = {:?}\ntls_key = {:?}\n",
            cert_path.display().to_string(),
            key_path.display().to_string()
        ),
        1,
    ))
    .unwrap_err();
    assert_eq!(e.field, "server.tls_cert", "{e:?}");
    assert!(e.reason.contains("load balancer"), "{e:?}");
    let e = bad("renew_s = 1", "renew_s = 2");
    assert_eq!(e.field, "cluster.renew_s");
    assert!(e.reason.contains("third"), "{e:?}");
    let e = bad("name = \"towns\"", "name = \"county\"");
    assert_eq!(e.field, "cluster.partitions[1].name");
    assert!(e.reason.contains("duplicate"), "{e:?}");
    let e = bad("name = \"towns\"", "name = \"to wns\"");
    assert_eq!(e.field, "cluster.partitions[1].name");
    let e = bad(
        "name = \"towns\"\nhalls = [\"jl-town\"]",
        "name = \"towns\"\nhalls = [\"jl-center\"]",
    );
    assert_eq!(e.field, "cluster.partitions[1].halls");
    assert!(e.reason.contains("already"), "{e:?}");
    let e = bad(
        "name = \"towns\"\nhalls = [\"jl-town\"]",
        "name = \"towns\"\nhalls = [\"nowhere\"]",
    );
    assert_eq!(e.field, "cluster.partitions[1].halls");
    assert!(e.reason.contains("unknown hall"), "{e:?}");
    let e = bad(
        "name = \"towns\"\nhalls = [\"jl-town\"]",
        "name = \"towns\"\nhalls = []",
    );
    assert_eq!(e.field, "cluster.partitions[1].halls");
    // A hall left out of every partition would never run.
    let e = Settings::parse(&base.replacen(
        "\n[[cluster.partitions]]\nname = \"towns\"\nhalls = [\"jl-town\"]",
        "",
        1,
    ))
    .unwrap_err();
    assert_eq!(e.field, "cluster.partitions");
    assert!(e.reason.contains("jl-town"), "{e:?}");
}

#[test]
fn a_halls_region_path_runs_from_the_province_down() {
    let s = example();
    let town = hall(&s, "jl-town");
    let codes: Vec<_> = town.region.iter().map(|l| l.code.as_str()).collect();
    assert_eq!(codes, ["99", "9901", "990101", "990101001"]);
    assert_eq!(town.region[3].name, "城关镇");
    // Without one, a hall has an empty path.
    assert!(
        Settings::parse(&with_top("")).unwrap().halls[0]
            .region
            .is_empty()
    );
    let with = |region: &str| {
        hall_with(
            "level = \"county\"",
            &format!("level = \"county\"\nregion = {region}"),
        )
    };
    assert_refused(
        &with(r#"[{ code = "33", name = "浙江省" }, { code = "3401", name = "合肥市" }]"#),
        "halls[h1].region[1].code",
        "extend its parent",
    );
    assert_refused(
        &with(r#"[{ code = "33", name = "浙江省" }, { code = "33", name = "又是浙江" }]"#),
        "halls[h1].region[1].code",
        "extend its parent",
    );
    assert_refused(
        &with(r#"[{ code = "3a", name = "x" }]"#),
        "halls[h1].region[0].code",
        "digits",
    );
    assert_refused(
        &with(r#"[{ code = "33", name = " " }]"#),
        "halls[h1].region[0].name",
        "empty",
    );
    assert_refused(
        &with(
            r#"[{ code = "1", name = "a" }, { code = "12", name = "b" }, { code = "123", name = "c" },
               { code = "1234", name = "d" }, { code = "12345", name = "e" }, { code = "123456", name = "f" }]"#,
        ),
        "halls[h1].region",
        "five levels",
    );
}

#[test]
fn a_token_scoped_to_a_region_covers_every_hall_on_its_paths() {
    let s = example();
    let county = s
        .tokens
        .iter()
        .find(|t| t.name == "金林县政务服务管理办")
        .expect("the example's region token");
    assert_eq!(county.halls, ["jl-center", "jl-town"]);
    let e = Settings::parse(&crate::EXAMPLE_CONFIG.replacen(
        "regions = [\"990101\"]",
        "regions = [\"9901019\"]",
        1,
    ))
    .unwrap_err();
    assert_eq!(e.field, "tokens[4].regions[0]");
    assert!(e.reason.contains("9901019"), "{e:?}");
}
