//! TLS to a PostgreSQL server, as libpq's connection parameters ask for it: `sslmode`, `sslrootcert`,
//! `sslcert`, `sslkey`. tokio-postgres knows only `disable`/`prefer`/`require` and refuses the
//! other three keys, so they are taken out of the connection string here and turned into a
//! rustls client configuration; the rest of the string goes to tokio-postgres unchanged.
//!
//! What each `sslmode` checks (libpq's meaning):
//! - `disable`: plain TCP.
//! - `allow`, `prefer` (the default): TLS when the server offers it, else plain TCP.
//! - `require`: TLS or no connection.
//! - `verify-ca`: TLS, and the server's chain must lead to a trusted root.
//! - `verify-full`: `verify-ca`, and the certificate must name the host connected to.
//!
//! Trusted roots are `sslrootcert` (a PEM file), or the system's store when it is absent or
//! `system`. As in libpq, `prefer` and `require` check the chain when `sslrootcert` is given,
//! and accept any certificate when it is not (they then protect against eavesdropping, not
//! against a man in the middle; SCRAM's channel binding, which tokio-postgres uses whenever
//! TLS is on, still refuses a relayed login).

use std::sync::Arc;

use crate::ConfigError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
pub use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::Zeroizing;

/// The keys handled here rather than by tokio-postgres.
const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The TLS parameters of one connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsParams {
    pub mode: Mode,
    /// True when the string named an `sslmode`; false when `mode` is libpq's default. Callers
    /// with a stricter default of their own (leasehold's shared storage) need the difference.
    pub mode_given: bool,
    pub root_cert: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
}

impl TlsParams {
    /// What tokio-postgres is told: whether TLS is off, tried, or required.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// The connector for these parameters: certificates are read now, so a missing or bad
    /// file is a configuration error when the connection is written, not at the first issue.
    pub fn connector(&self) -> Result<MakeRustlsConnect, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots_given = self.root_cert.as_deref().is_some_and(|r| r != "system");
        let check = match self.mode {
            Mode::VerifyFull => Check::Full,
            Mode::VerifyCa => Check::Chain,
            Mode::Disable | Mode::Prefer | Mode::Require if roots_given => Check::Chain,
            Mode::Disable | Mode::Prefer | Mode::Require => Check::Nothing,
        };
        let webpki = match check {
            Check::Nothing => None,
            Check::Chain | Check::Full => Some(
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(self.roots()?),
                    provider.clone(),
                )
                .build()
                .map_err(|e| invalid(format!("cannot use the trusted roots: {e}")))?,
            ),
        };
        let verifier = Arc::new(Verifier {
            check,
            webpki,
            provider: provider.clone(),
        });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("cannot set up TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&self.client_cert, &self.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = read_certs("sslcert", cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| invalid(format!("sslkey {key:?} {}", pem_problem(&e))))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| invalid(format!("sslcert and sslkey do not go together: {e}")))?
            }
            _ => {
                return Err(invalid(
                    "sslcert and sslkey go together: set both or neither",
                ))
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, ConfigError> {
        let mut roots = RootCertStore::empty();
        match self.root_cert.as_deref() {
            Some(path) if path != "system" => {
                let (added, _) = roots.add_parsable_certificates(read_certs("sslrootcert", path)?);
                if added == 0 {
                    return Err(invalid(format!(
                        "sslrootcert {path:?} holds no usable certificate"
                    )));
                }
            }
            _ => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(invalid(
                        "this system has no trusted root certificates: set sslrootcert",
                    ));
                }
            }
        }
        Ok(roots)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    Full,
}

fn invalid(text: impl Into<String>) -> ConfigError {
    ConfigError(text.into())
}

fn read_certs(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(format!("{key} {path:?} {}", pem_problem(&e))))?
        .collect();
    let certs = certs.map_err(|e| invalid(format!("{key} {path:?} {}", pem_problem(&e))))?;
    if certs.is_empty() {
        return Err(invalid(format!("{key} {path:?} holds no PEM certificate")));
    }
    Ok(certs)
}

/// What is wrong with a PEM file, without quoting it: the paths come from whoever may write a
/// connection, and the parser's own messages repeat lines of the file (which could be a key
/// the server holds, named to read it back through an error).
fn pem_problem(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => format!("cannot be read: {}", io.kind()),
        Error::NoItemsFound => "holds no PEM item of the kind needed".to_owned(),
        Error::SectionTooLarge => "holds a PEM section too large".to_owned(),
        _ => "is not a valid PEM file".to_owned(),
    }
}

/// Take the TLS keys out of a rendered connection string (a `postgres://` URL or libpq's
/// `key=value` form): the string without them, and what they asked for. The string holds the
/// password, so every copy of it is zeroized.
pub fn take_tls_params(conn: &str) -> Result<(Zeroizing<String>, TlsParams), ConfigError> {
    let mut found: Vec<(String, String)> = Vec::new();
    let rest = if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        take_from_url(conn, &mut found)
    } else {
        take_from_key_values(conn, &mut found)?
    };
    let mut params = TlsParams::default();
    for (key, value) in found {
        match key.as_str() {
            "sslmode" => {
                params.mode_given = true;
                params.mode = match value.as_str() {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(invalid(format!(
                            "sslmode {other:?} is not one of disable, allow, prefer, require, \
                             verify-ca, verify-full"
                        )))
                    }
                }
            }
            "sslrootcert" => params.root_cert = Some(value),
            "sslcert" => params.client_cert = Some(value),
            _ => params.client_key = Some(value),
        }
    }
    Ok((rest, params))
}

/// `scheme://...?a=1&sslmode=require&b=2` → `scheme://...?a=1&b=2`.
fn take_from_url(url: &str, found: &mut Vec<(String, String)>) -> Zeroizing<String> {
    let Some((base, query)) = url.split_once('?') else {
        return Zeroizing::new(url.to_owned());
    };
    let mut rest = Zeroizing::new(String::with_capacity(url.len()));
    rest.push_str(base);
    let mut sep = '?';
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if KEYS.contains(&key.as_str()) {
            found.push((key, percent_decode(value)));
        } else if !pair.is_empty() {
            rest.push(sep);
            rest.push_str(pair);
            sep = '&';
        }
    }
    rest
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `host=h password='a b' sslmode=require` → `host=h password='a b'`. Values may be quoted with
/// `'`, and `\` escapes the next character, as libpq reads them.
fn take_from_key_values(
    conn: &str,
    found: &mut Vec<(String, String)>,
) -> Result<Zeroizing<String>, ConfigError> {
    let mut rest = Zeroizing::new(String::with_capacity(conn.len()));
    let mut chars = conn.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(invalid(format!(
                "connection_url: {key:?} has no value (key=value expected)"
            )));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        // The value, unquoted and unescaped; zeroized, as it may be the password.
        let mut value = Zeroizing::new(String::new());
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut closed = !quoted;
        while let Some((_, c)) = chars.peek().copied() {
            if !quoted && c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '\'' if quoted => {
                    closed = true;
                    break;
                }
                _ => value.push(c),
            }
        }
        if !closed {
            return Err(invalid(format!(
                "connection_url: the value of {key:?} has no closing quote"
            )));
        }
        let end = chars.peek().map_or(conn.len(), |(i, _)| *i);
        if KEYS.contains(&key.as_str()) {
            found.push((key, value.to_string()));
        } else {
            if !rest.is_empty() {
                rest.push(' ');
            }
            rest.push_str(conn.get(start..end).unwrap_or_default());
        }
    }
    Ok(rest)
}

/// The server certificate check `Check` asks for. Handshake signatures are always checked, so
/// the session key belongs to whoever holds the certificate. For `Check::Chain`, webpki checks
/// the chain before the name, so a name mismatch means the chain was good.
#[derive(Debug)]
struct Verifier {
    check: Check,
    /// `None` for `Check::Nothing`.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        let verdict =
            webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match verdict {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.check == Check::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(conn: &str) -> (String, TlsParams) {
        let (rest, params) = take_tls_params(conn).unwrap();
        (rest.to_string(), params)
    }

    #[test]
    fn urls_lose_only_the_tls_keys() {
        let (rest, p) = take(
            "postgres://u:p%40ss@db:5432/app?connect_timeout=5&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        );
        assert_eq!(
            rest,
            "postgres://u:p%40ss@db:5432/app?connect_timeout=5&application_name=x"
        );
        assert_eq!(p.mode, Mode::VerifyFull);
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(p.ssl_mode(), SslMode::Require);

        let (rest, p) = take("postgresql://u@db/app?sslmode=require");
        assert_eq!(rest, "postgresql://u@db/app");
        assert_eq!(p.mode, Mode::Require);
        let (rest, p) = take("postgres://u@db/app");
        assert_eq!(rest, "postgres://u@db/app");
        assert_eq!(p, TlsParams::default());
        assert_eq!(p.ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn key_value_strings_keep_quotes_and_escapes_of_the_rest() {
        let (rest, p) = take(
            "host=db  password='a b\\'c' sslmode = 'verify-ca' user=u \
             sslcert=/c.pem sslkey='/k.pem' dbname=app",
        );
        assert_eq!(rest, "host=db password='a b\\'c' user=u dbname=app");
        assert_eq!(p.mode, Mode::VerifyCa);
        assert_eq!(p.client_cert.as_deref(), Some("/c.pem"));
        assert_eq!(p.client_key.as_deref(), Some("/k.pem"));
    }

    #[test]
    fn bad_values_are_named() {
        let err = take_tls_params("postgres://u@db/app?sslmode=sometimes").unwrap_err();
        assert!(err.to_string().contains("sslmode \"sometimes\""), "{err}");
        let err = take_tls_params("host=db password='open").unwrap_err();
        assert!(err.to_string().contains("closing quote"), "{err}");
        let err = take_tls_params("host=db sslmode").unwrap_err();
        assert!(err.to_string().contains("has no value"), "{err}");

        let p = TlsParams {
            mode: Mode::VerifyFull,
            root_cert: Some("/no/such/ca.pem".into()),
            ..TlsParams::default()
        };
        let err = p.connector().err().unwrap();
        assert!(err.to_string().contains("/no/such/ca.pem"), "{err}");
        assert!(
            err.to_string().contains("cannot be read: entity not found"),
            "{err}"
        );

        // A file that is not PEM is named, its contents never quoted.
        let dir = std::env::temp_dir().join(format!("lh-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret_file = dir.join("seal.key");
        std::fs::write(&secret_file, "-----BEGIN Top-Secret-Line\nabc\n").unwrap();
        let p = TlsParams {
            mode: Mode::VerifyCa,
            root_cert: Some(secret_file.display().to_string()),
            ..TlsParams::default()
        };
        let err = p.connector().err().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // The parser's own message would carry that line (as bytes); ours says only what.
        assert!(
            err.to_string()
                .ends_with("seal.key\" is not a valid PEM file"),
            "{err}"
        );
        let p = TlsParams {
            client_cert: Some("/c.pem".into()),
            ..TlsParams::default()
        };
        let err = p.connector().err().unwrap();
        assert!(err.to_string().contains("set both or neither"), "{err}");
    }

    #[test]
    fn the_password_never_shows_in_errors() {
        let err = take_tls_params("host=db password=Secret-1 sslmode=bogus").unwrap_err();
        assert!(!err.to_string().contains("Secret-1"), "{err}");
    }
}
