//! TLS settings: good files give a configuration; every bad one is refused
//! at the field that names it, with the file and the reason.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use crate::config::{ConfigError, Settings};

const HALL: &str = r#"
[[halls]]
id = "h1"
name = "测试大厅"
level = "county"
hours = { weekdays = ["08:30-17:30"] }

[[halls.services]]
code = "SB"
name = "社会保障"
prefix = "B"

[[halls.windows]]
id = "01"
name = "1号窗口"
kind = "comprehensive"
services = ["SB"]
"#;

/// A CA, a certificate it signed for 127.0.0.1 and localhost, and a key
/// that belongs to neither, as PEM files in a temporary directory.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", &ca.pem());
        write("cert.pem", &cert.pem());
        write("key.pem", &key.serialize_pem());
        write(
            "other-key.pem",
            &KeyPair::generate().unwrap().serialize_pem(),
        );
        write(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        );
        // Well-formed PEM whose bytes are no certificate.
        write(
            "junk-cert.pem",
            "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        );
        write("empty.pem", "");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The path as a TOML string.
    fn toml(&self, name: &str) -> String {
        format!("'{}'", self.path(name).display())
    }
}

fn parse(top: &str) -> Result<Settings, ConfigError> {
    Settings::parse(&format!("{top}\n{HALL}"))
}

#[track_caller]
fn assert_refused(top: &str, field: &str, words: &[&str]) {
    let e = match parse(top) {
        Ok(_) => panic!("accepted:\n{top}"),
        Err(e) => e,
    };
    assert_eq!(e.field, field, "field of {e:?}");
    for w in words {
        assert!(
            e.reason.contains(w),
            "reason {:?} should say {w:?}",
            e.reason
        );
    }
}

fn server(f: &Files, cert: &str, key: &str) -> String {
    format!(
        "[server]\ntls_cert = {}\ntls_key = {}",
        f.toml(cert),
        f.toml(key)
    )
}

#[test]
fn a_certificate_and_its_key_give_https() {
    let f = Files::new();
    let s = parse(&server(&f, "cert.pem", "key.pem")).expect("valid");
    assert_eq!(
        s.server.tls_cert.as_deref(),
        Some(f.path("cert.pem").as_path())
    );
    assert!(super::server_config(&s.server).unwrap().is_some());
    // Unset: plain HTTP.
    let s = parse("").unwrap();
    assert!(super::server_config(&s.server).unwrap().is_none());
}

#[test]
fn https_needs_both_the_certificate_and_the_key() {
    let f = Files::new();
    assert_refused(
        &format!("[server]\ntls_cert = {}", f.toml("cert.pem")),
        "server.tls_key",
        &["server.tls_cert"],
    );
    assert_refused(
        &format!("[server]\ntls_key = {}", f.toml("key.pem")),
        "server.tls_cert",
        &["server.tls_key"],
    );
}

#[test]
fn an_unreadable_file_is_refused_with_its_path() {
    let f = Files::new();
    let missing = f.path("missing.pem");
    assert_refused(
        &server(&f, "missing.pem", "key.pem"),
        "server.tls_cert",
        &["cannot read", &missing.display().to_string()],
    );
    assert_refused(
        &server(&f, "cert.pem", "missing.pem"),
        "server.tls_key",
        &["cannot read"],
    );
}

#[test]
fn a_file_without_the_expected_pem_is_refused() {
    let f = Files::new();
    assert_refused(
        &server(&f, "key.pem", "key.pem"),
        "server.tls_cert",
        &["no PEM certificate"],
    );
    assert_refused(
        &server(&f, "empty.pem", "key.pem"),
        "server.tls_cert",
        &["no PEM certificate"],
    );
    assert_refused(
        &server(&f, "cert.pem", "cert.pem"),
        "server.tls_key",
        &["no PEM private key"],
    );
    assert_refused(
        &server(&f, "broken.pem", "key.pem"),
        "server.tls_cert",
        &["not valid PEM", "broken.pem"],
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let f = Files::new();
    assert_refused(
        &server(&f, "cert.pem", "other-key.pem"),
        "server.tls_key",
        &["not the private key", "cert.pem"],
    );
}

fn mqtt(broker: &str, extra: &str) -> String {
    format!("[mqtt]\nbroker = \"{broker}\"\n{extra}")
}

#[test]
fn an_mqtts_broker_with_its_ca_gets_tls() {
    let f = Files::new();
    let s = parse(&mqtt(
        "mqtts://127.0.0.1",
        &format!("ca_file = {}", f.toml("ca.pem")),
    ))
    .expect("valid");
    assert!(super::mqtt_client_config(&s.mqtt).unwrap().is_some());
    // A plain broker has none.
    let s = parse(&mqtt("mqtt://127.0.0.1", "")).unwrap();
    assert!(super::mqtt_client_config(&s.mqtt).unwrap().is_none());
}

#[test]
fn mutual_tls_takes_a_certificate_and_its_key() {
    let f = Files::new();
    let ca = format!("ca_file = {}\n", f.toml("ca.pem"));
    let both = format!(
        "{ca}cert_file = {}\nkey_file = {}",
        f.toml("cert.pem"),
        f.toml("key.pem")
    );
    let s = parse(&mqtt("mqtts://broker", &both)).expect("valid");
    assert!(super::mqtt_client_config(&s.mqtt).unwrap().is_some());
    assert_refused(
        &mqtt(
            "mqtts://broker",
            &format!("{ca}cert_file = {}", f.toml("cert.pem")),
        ),
        "mqtt.key_file",
        &["mqtt.cert_file"],
    );
    assert_refused(
        &mqtt(
            "mqtts://broker",
            &format!("{ca}key_file = {}", f.toml("key.pem")),
        ),
        "mqtt.cert_file",
        &["mqtt.key_file"],
    );
    assert_refused(
        &mqtt(
            "mqtts://broker",
            &format!(
                "{ca}cert_file = {}\nkey_file = {}",
                f.toml("cert.pem"),
                f.toml("other-key.pem")
            ),
        ),
        "mqtt.key_file",
        &["not the private key"],
    );
}

#[test]
fn tls_files_with_a_plain_broker_are_refused_rather_than_ignored() {
    let f = Files::new();
    for field in ["ca_file", "cert_file", "key_file"] {
        assert_refused(
            &mqtt(
                "mqtt://broker:1883",
                &format!("{field} = {}", f.toml("ca.pem")),
            ),
            &format!("mqtt.{field}"),
            &["mqtts://"],
        );
    }
}

#[test]
fn a_bad_ca_file_is_refused_with_the_reason() {
    let f = Files::new();
    let with_ca = |name: &str| mqtt("mqtts://broker", &format!("ca_file = {}", f.toml(name)));
    assert_refused(&with_ca("missing.pem"), "mqtt.ca_file", &["cannot read"]);
    assert_refused(&with_ca("key.pem"), "mqtt.ca_file", &["no PEM certificate"]);
    assert_refused(&with_ca("broken.pem"), "mqtt.ca_file", &["not valid PEM"]);
    assert_refused(
        &with_ca("junk-cert.pem"),
        "mqtt.ca_file",
        &["certificate 1", "cannot be used as a CA"],
    );
}

#[test]
fn without_a_ca_file_the_system_certificates_are_used_or_the_field_is_asked_for() {
    // Depends on the machine: with CA certificates installed the system's
    // are used; without, ca_file is required by name.
    match parse(&mqtt("mqtts://broker.example", "")) {
        Ok(s) => assert!(super::mqtt_client_config(&s.mqtt).unwrap().is_some()),
        Err(e) => {
            assert_eq!(e.field, "mqtt.ca_file", "{e:?}");
            assert!(e.reason.contains("no CA certificates"), "{e:?}");
        }
    }
}

#[test]
fn a_bad_broker_url_is_still_the_brokers_fault() {
    assert_refused(&mqtt("mqtts://:8883", ""), "mqtt.broker", &["no host"]);
    assert_refused(&mqtt("ssl://broker", ""), "mqtt.broker", &["mqtts://"]);
}

#[test]
fn a_missing_relative_path_is_named_as_written() {
    let e = parse("[server]\ntls_cert = 'certs/hw.pem'\ntls_key = 'certs/hw.key'").unwrap_err();
    assert_eq!(e.field, "server.tls_cert");
    assert!(
        e.reason
            .contains(&Path::new("certs/hw.pem").display().to_string()),
        "{e:?}"
    );
}
