//! TLS from the configuration: the PEM files of `[server]` and `[mqtt]`,
//! read and checked at start, and the rustls configurations built from them.
//!
//! Every configuration here is built on rustls' ring provider, named
//! explicitly rather than taken from the process default: a second provider
//! (aws-lc-rs) in the process makes rustls panic when it has to choose one.
//! Settings stay plain data (paths); the files are read when the settings
//! are validated, so `check-config` reports a bad file, and again when the
//! server builds its listener and its broker connection.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tracing::warn;

use super::broker::BrokerUrl;
use super::{ConfigError, MqttSettings, ServerSettings, err};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The HTTP listener's TLS when `server.tls_cert` and `server.tls_key` are
/// both set; `None` when neither is.
pub fn server_config(server: &ServerSettings) -> Result<Option<ServerConfig>, ConfigError> {
    let (cert_file, key_file) = match (&server.tls_cert, &server.tls_key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => {
            return Err(err(
                "server.tls_key",
                "is needed with server.tls_cert: set both for HTTPS, or neither",
            ));
        }
        (None, Some(_)) => {
            return Err(err(
                "server.tls_cert",
                "is needed with server.tls_key: set both for HTTPS, or neither",
            ));
        }
    };
    let certs = certificates(cert_file, "server.tls_cert")?;
    let key = private_key(key_file, "server.tls_key")?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err("server.tls_cert", format!("TLS cannot be set up: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map(Some)
        .map_err(|e| key_error(e, cert_file, key_file, "server.tls_cert", "server.tls_key"))
}

/// The broker connection's TLS when `mqtt.broker` is `mqtts://`; `None` for
/// a plain `mqtt://` broker. The broker's certificate is checked against
/// `mqtt.ca_file`, or against the system's CA certificates without it.
pub fn mqtt_client_config(mqtt: &MqttSettings) -> Result<Option<Arc<ClientConfig>>, ConfigError> {
    let url = BrokerUrl::parse(&mqtt.broker).map_err(|r| err("mqtt.broker", r))?;
    if !url.tls {
        let set = [
            ("mqtt.ca_file", &mqtt.ca_file),
            ("mqtt.cert_file", &mqtt.cert_file),
            ("mqtt.key_file", &mqtt.key_file),
        ];
        if let Some((field, _)) = set.iter().find(|(_, v)| v.is_some()) {
            return Err(err(
                *field,
                format!(
                    "is set, but mqtt.broker {:?} is not a TLS address: write mqtts://host:port (8883 by default)",
                    mqtt.broker
                ),
            ));
        }
        return Ok(None);
    }
    let roots = match &mqtt.ca_file {
        Some(path) => trust_anchors(path, "mqtt.ca_file")?,
        None => system_roots()?,
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| {
            err(
                "mqtt.ca_file",
                format!("cannot check certificates with it: {e}"),
            )
        })?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err("mqtt.broker", format!("TLS cannot be set up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ReportingVerifier {
            inner: verifier,
            last: Mutex::new(None),
        }));
    let config = match (&mqtt.cert_file, &mqtt.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert_file), Some(key_file)) => {
            let certs = certificates(cert_file, "mqtt.cert_file")?;
            let key = private_key(key_file, "mqtt.key_file")?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| key_error(e, cert_file, key_file, "mqtt.cert_file", "mqtt.key_file"))?
        }
        (Some(_), None) => {
            return Err(err(
                "mqtt.key_file",
                "is needed with mqtt.cert_file: a client certificate needs its private key",
            ));
        }
        (None, Some(_)) => {
            return Err(err(
                "mqtt.cert_file",
                "is needed with mqtt.key_file: a private key needs its client certificate",
            ));
        }
    };
    Ok(Some(Arc::new(config)))
}

fn read(path: &Path, field: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| err(field, format!("cannot read {}: {e}", path.display())))
}

/// Every certificate of a PEM file, in order; at least one.
fn certificates(path: &Path, field: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(path, field)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(field, format!("{} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(err(
            field,
            format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        ));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
fn private_key(path: &Path, field: &str) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let pem = read(path, field)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => err(
            field,
            format!(
                "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                path.display()
            ),
        ),
        e => err(field, format!("{} is not valid PEM: {e}", path.display())),
    })
}

/// The TLS client settings for HTTPS receivers (the notification
/// channels): their certificates are checked against `ca_file`, or the
/// system's CA certificates. `needed`: some receiver is https://, so no CA
/// at all is an error on `field`; without one the system's certificates
/// are not read at all.
pub fn https_client_config(
    ca_file: Option<&Path>,
    field: &str,
    needed: bool,
) -> Result<Arc<ClientConfig>, ConfigError> {
    let roots = match ca_file {
        Some(path) => trust_anchors(path, field)?,
        None if !needed => RootCertStore::empty(),
        None => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                return Err(err(
                    field,
                    "is needed: a channel is https:// and this system has no CA certificates \
                     to check it with; set it to the PEM of the CA that signed the receiver's certificate",
                ));
            }
            roots
        }
    };
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(field, format!("TLS cannot be set up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The CA certificates of a PEM file, each usable as a trust anchor.
fn trust_anchors(path: &Path, field: &str) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in certificates(path, field)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            err(
                field,
                format!(
                    "certificate {} in {} cannot be used as a CA: {e}",
                    i + 1,
                    path.display()
                ),
            )
        })?;
    }
    Ok(roots)
}

/// The system's CA certificates (for a broker with a public certificate).
fn system_roots() -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(err(
            "mqtt.ca_file",
            "is needed: mqtt.broker is mqtts:// and this system has no CA certificates to check the broker with; \
             set ca_file to the PEM of the CA that signed the broker's certificate",
        ));
    }
    Ok(roots)
}

/// A certificate and key that rustls refused together: the key's fault when
/// it does not belong to the certificate or cannot be used, else the
/// certificate's.
fn key_error(
    e: rustls::Error,
    cert_file: &Path,
    key_file: &Path,
    cert_field: &str,
    key_field: &str,
) -> ConfigError {
    match e {
        rustls::Error::InconsistentKeys(_) => err(
            key_field,
            format!(
                "{} is not the private key of the certificate in {} ({cert_field})",
                key_file.display(),
                cert_file.display()
            ),
        ),
        rustls::Error::General(_) => err(
            key_field,
            format!("the key in {} cannot be used: {e}", key_file.display()),
        ),
        e => err(
            cert_field,
            format!(
                "the certificate in {} cannot be used: {e}",
                cert_file.display()
            ),
        ),
    }
}

/// The standard WebPKI check of the broker's certificate, which also logs
/// why a certificate is refused. Without this, a wrong `ca_file` would only
/// show as a broker that never connects: the reconnecting loop sees a
/// handshake error but the first failure of a server that never connected is
/// not news to it. Each distinct refusal is logged once until a certificate
/// is accepted again.
#[derive(Debug)]
struct ReportingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    last: Mutex<Option<String>>,
}

impl ServerCertVerifier for ReportingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let Ok(mut last) = self.last.lock() else {
            return verdict;
        };
        match &verdict {
            Ok(_) => *last = None,
            Err(e) => {
                let reason = e.to_string();
                if last.as_deref() != Some(reason.as_str()) {
                    warn!(
                        broker = %server_name.to_str(),
                        error = %reason,
                        "The MQTT broker's certificate is refused: check mqtt.ca_file and that the certificate names the host of mqtt.broker."
                    );
                    *last = Some(reason);
                }
            }
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests;
