//! The storage connection's settings and the TLS it must use. The one place that names the TLS
//! helpers this storage shares with the PostgreSQL target driver.

use secrecy::{ExposeSecret, SecretString};

pub(super) use leasehold_pg_tls as pg_tls;

use super::CONNECT_TIMEOUT;
use crate::storage::StorageError;

/// The connection settings: the URL's, plus our application name, a connect timeout and this
/// process's origin tag (which the kv trigger copies into its notifications); and the TLS
/// connector its `sslmode`/`sslrootcert`/`sslcert`/`sslkey` ask for (as for targets).
pub(super) fn pg_config(
    url: &SecretString,
    origin: &str,
) -> Result<(tokio_postgres::Config, pg_tls::MakeRustlsConnect), StorageError> {
    let (url, mut tls) = pg_tls::take_tls_params(url.expose_secret())
        .map_err(|e| StorageError(format!("storage connection_url: {e}")))?;
    let mut pg: tokio_postgres::Config = url.parse().map_err(|e| {
        // The parser's message names the malformed part, never the password.
        StorageError(format!(
            "storage connection_url is not a PostgreSQL URL or key=value string: {e}"
        ))
    })?;
    if pg.get_hosts().is_empty() {
        return Err(StorageError("storage connection_url names no host".into()));
    }
    apply_tls_policy(&mut tls, hosts_are_local(&pg))?;
    let connector = tls
        .connector()
        .map_err(|e| StorageError(format!("storage connection_url: {e}")))?;
    pg.application_name("leasehold-storage");
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(CONNECT_TIMEOUT);
    }
    let options = match pg.get_options() {
        Some(o) if !o.trim().is_empty() => format!("{o} -c leasehold.origin={origin}"),
        _ => format!("-c leasehold.origin={origin}"),
    };
    pg.options(&options);
    pg.ssl_mode(tls.ssl_mode());
    Ok((pg, connector))
}

/// The TLS the storage connection must use. libpq's default, `prefer`, falls back to plain text
/// when the server (or a man in the middle) says it has no TLS, and checks no certificate: the
/// lease table and the sealed blobs would cross the network readable and editable. So, where the
/// connection leaves the machine (a host that is not loopback or a Unix socket):
/// - no `sslmode`: `verify-full` (the chain against `sslrootcert` or the system's roots, and the
///   certificate must name the host);
/// - `sslmode=prefer` or `allow`: refused as a configuration error, since whoever wrote it asked
///   for something a downgrade defeats — we would rather stop than silently change what they
///   asked for;
/// - `disable`, `require`, `verify-ca`, `verify-full`: as asked (plain text only by name).
///
/// On loopback or a Unix socket nothing crosses a network, so libpq's default is kept.
fn apply_tls_policy(tls: &mut pg_tls::TlsParams, local: bool) -> Result<(), StorageError> {
    if local {
        return Ok(());
    }
    match (tls.mode_given, tls.mode) {
        (false, _) => tls.mode = pg_tls::Mode::VerifyFull,
        (true, pg_tls::Mode::Prefer) => {
            return Err(StorageError(
                "storage connection_url: sslmode=prefer/allow falls back to plain text when a \
                 man in the middle asks it to, and the host is not loopback; use \
                 sslmode=verify-full (the default when sslmode is absent), or sslmode=disable \
                 to ask for plain text by name"
                    .into(),
            ))
        }
        (true, _) => {}
    }
    Ok(())
}

/// True when every host of the connection is a Unix socket or a loopback address/`localhost`
/// (and every `hostaddr`, which is where the connection really goes, is loopback).
fn hosts_are_local(pg: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    let host_local = |h: &Host| match h {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            let name = name.trim_start_matches('[').trim_end_matches(']');
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    };
    pg.get_hosts().iter().all(host_local) && pg.get_hostaddrs().iter().all(|a| a.is_loopback())
}

#[cfg(test)]
mod tls_policy_tests {
    use super::*;
    use crate::storage::postgres::{PostgresSettings, PostgresStorage};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn config(url: &str) -> Result<tokio_postgres::Config, StorageError> {
        pg_config(&SecretString::from(url.to_owned()), "o1").map(|(c, _)| c)
    }

    #[test]
    fn a_remote_host_without_sslmode_requires_tls_and_prefer_is_refused() {
        use tokio_postgres::config::SslMode;
        let remote = config("host=db.example.com user=lh password=pw").unwrap();
        assert_eq!(remote.get_ssl_mode(), SslMode::Require);
        let err = config("postgres://lh:pw@10.1.2.3/lh?sslmode=prefer").unwrap_err();
        assert!(err.0.contains("sslmode=verify-full"), "{err}");
        assert!(!err.0.contains("pw@"), "{err}");
        assert!(config("host=db.example.com sslmode=allow").is_err());
        // Plain text when asked for by name; loopback and sockets keep libpq's default.
        let plain = config("host=db.example.com sslmode=disable").unwrap();
        assert_eq!(plain.get_ssl_mode(), SslMode::Disable);
        for local in [
            "host=localhost",
            "host=127.0.0.1",
            "postgres://lh@[::1]/lh",
            "host=/run/postgresql",
            "host=127.0.0.1 sslmode=prefer",
        ] {
            assert_eq!(
                config(local).unwrap().get_ssl_mode(),
                SslMode::Prefer,
                "{local}"
            );
        }
        // The host names the server; hostaddr (loopback here) does not make it local.
        let named = config("host=db.example.com hostaddr=127.0.0.1").unwrap();
        assert_eq!(named.get_ssl_mode(), SslMode::Require);
    }

    /// A server (or a man in the middle) that answers "no TLS here" gets no plain-text login:
    /// before this change the client went on with a startup message in the clear.
    #[tokio::test]
    async fn a_downgrade_to_plain_text_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            sock.read_exact(&mut request).await.unwrap();
            // SSLRequest: length 8, code 80877103.
            assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
            sock.write_all(b"N").await.unwrap();
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                sock.read_to_end(&mut rest),
            )
            .await;
            rest
        });
        let url = format!(
            "host=db.example.com hostaddr=127.0.0.1 port={port} user=lh password=pw \
             connect_timeout=5"
        );
        let opened = PostgresStorage::open(PostgresSettings {
            connection_url: SecretString::from(url),
            max_connections: 1,
        })
        .await;
        assert!(opened.is_err());
        let sent_after_refusal = server.await.unwrap();
        assert!(
            sent_after_refusal.is_empty(),
            "the client sent {} bytes in plain text after the server refused TLS",
            sent_after_refusal.len()
        );
    }
}
