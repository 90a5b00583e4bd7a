//! The connection URL, after the engine filled `{{username}}`/`{{password}}`, turned into client
//! options. Two forms are accepted:
//!
//! - Vault's (the Go driver's DSN): `user:password@tcp(127.0.0.1:3306)/dbname?timeout=5s`, also
//!   `@unix(/run/mysqld/mysqld.sock)/` and `@/` (127.0.0.1:3306). Parsed as the Go driver does:
//!   the last `/` starts the database name, the last `@` before it ends the credentials, the
//!   first `:` in those splits user from password; so a password may hold `@`, `:` or `/`.
//!   Of the Go driver's parameters `timeout` is the connect timeout and `tls` asks for TLS
//!   (`true`: verified against the system's roots; `skip-verify`: not verified; `false`);
//!   the others tune the Go driver and are accepted and ignored. Any other parameter (the Go
//!   driver would set it as a session variable) is refused.
//! - `mysql://user:password@host:port/dbname?...` with mysql_async's own parameters; the values
//!   are percent-decoded (the engine escapes what it fills in).
//!
//! Vault's `tls_ca` (PEM roots, then the only ones trusted) and `tls_certificate_key` (the
//! client's certificate and key, PEM) turn TLS on whatever the URL says, as in Vault.
//!
//! Whatever the URL says, the pool's size comes from the connection's `max_open_connections`,
//! and the client never switches a TCP connection to the server's unix socket on its own (that
//! would log in as a different account, `'u'@'localhost'`).

use std::time::Duration;

use leasehold_database::{ConnectionConfig, DriverError};
use mysql_async::{ClientIdentity, Opts, OptsBuilder, PoolConstraints, PoolOpts, SslOpts};
use secrecy::ExposeSecret;

/// Used when the URL sets no `timeout`: an unreachable target must fail, not hang.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Parameters of the Go driver that only tune it; they mean nothing to this client.
const IGNORED_GO_PARAMS: &[&str] = &[
    "allowAllFiles",
    "allowCleartextPasswords",
    "allowFallbackToPlaintext",
    "allowNativePasswords",
    "allowOldPasswords",
    "charset",
    "checkConnLiveness",
    "clientFoundRows",
    "collation",
    "columnsWithAlias",
    "connectionAttributes",
    "interpolateParams",
    "loc",
    "maxAllowedPacket",
    "multiStatements",
    "parseTime",
    "readTimeout",
    "rejectReadOnly",
    "serverPubKey",
    "timeTruncate",
    "writeTimeout",
];

/// Client options and the connect timeout for `config`.
pub(crate) fn client_opts(config: &ConnectionConfig) -> Result<(Opts, Duration), DriverError> {
    if config.connection_url.trim().is_empty() {
        return Err(DriverError::InvalidConfig(
            "connection_url is required".into(),
        ));
    }
    let url = config.render_url()?;
    let url = url.expose_secret();
    let (builder, timeout) = if url.starts_with("mysql://") {
        let opts = Opts::from_url(url).map_err(|e| {
            DriverError::InvalidConfig(format!("connection_url is not a valid mysql:// URL: {e}"))
        })?;
        (OptsBuilder::from_opts(opts), DEFAULT_CONNECT_TIMEOUT)
    } else if url.contains("://") {
        return Err(DriverError::InvalidConfig(
            "connection_url must be user:password@tcp(host:port)/db or a mysql:// URL".into(),
        ));
    } else {
        parse_go_dsn(url)?
    };
    let max = usize::try_from(config.max_open_connections.max(1)).unwrap_or(1);
    let idle = usize::try_from(config.max_idle_connections)
        .unwrap_or(max)
        .min(max);
    let mut pool = PoolOpts::default()
        .with_constraints(PoolConstraints::new(idle, max).unwrap_or_default())
        .with_inactive_connection_ttl(Duration::from_secs(60));
    if !config.max_connection_lifetime.is_zero() {
        pool = pool.with_abs_conn_ttl(Some(config.max_connection_lifetime));
    }
    let opts: Opts = builder.prefer_socket(false).pool_opts(pool).into();
    let ssl = with_vault_tls_fields(config, opts.ssl_opts().cloned())?;
    let opts: Opts = OptsBuilder::from_opts(opts).ssl_opts(ssl).into();
    if opts.user().is_none_or(str::is_empty) {
        return Err(DriverError::InvalidConfig(
            "connection_url names no user: set username and put {{username}} in the URL".into(),
        ));
    }
    Ok((opts, timeout))
}

/// The Go driver's `tls` parameter. `preferred` (TLS only if the server offers it) has no
/// equivalent in this client, and named configurations are what `tls_ca` and
/// `tls_certificate_key` make; both are refused rather than quietly connect otherwise.
fn go_tls(value: &str) -> Result<Option<SslOpts>, DriverError> {
    match value {
        "" | "false" => Ok(None),
        "true" => Ok(Some(SslOpts::default())),
        "skip-verify" => Ok(Some(
            SslOpts::default().with_danger_accept_invalid_certs(true),
        )),
        "preferred" => Err(DriverError::InvalidConfig(
            "tls=preferred is not supported (this client cannot fall back to plain TCP): use \
             tls=true, tls=skip-verify or tls=false"
                .into(),
        )),
        other => Err(DriverError::InvalidConfig(format!(
            "tls={other:?}: a named TLS configuration is made from tls_ca and \
             tls_certificate_key; set those (or tls=true)"
        ))),
    }
}

/// TLS as the URL asked, then Vault's fields: `tls_ca` makes TLS verified against it alone,
/// `tls_certificate_key` adds the client's certificate (one PEM string, read for both parts).
fn with_vault_tls_fields(
    config: &ConnectionConfig,
    ssl: Option<SslOpts>,
) -> Result<Option<SslOpts>, DriverError> {
    let tls_ca = config.options.text("tls_ca")?;
    let tls_certificate_key = config.options.secret("tls_certificate_key")?;
    if tls_ca.is_none() && tls_certificate_key.is_none() {
        return Ok(ssl);
    }
    let mut ssl = ssl.unwrap_or_default();
    if let Some(ca) = &tls_ca {
        ssl = ssl
            .with_root_certs(vec![ca.as_bytes().to_vec().into()])
            .with_disable_built_in_roots(true);
    }
    if let Some(pem) = &tls_certificate_key {
        let pem = pem.expose_secret().as_bytes().to_vec();
        ssl = ssl.with_client_identity(Some(ClientIdentity::new(pem.clone().into(), pem.into())));
    }
    Ok(Some(ssl))
}

/// `[user[:password]@][tcp[(host[:port])]|unix(path)]/[dbname][?params]`, as the Go driver reads it.
fn parse_go_dsn(dsn: &str) -> Result<(OptsBuilder, Duration), DriverError> {
    let bad = |why: &str| {
        DriverError::InvalidConfig(format!(
            "connection_url is not user:password@tcp(host:port)/db: {why}"
        ))
    };
    let (head, tail) = dsn
        .rsplit_once('/')
        .ok_or_else(|| bad("no '/' before the database name"))?;
    let (db, params) = tail.split_once('?').unwrap_or((tail, ""));
    let (credentials, address) = match head.rsplit_once('@') {
        Some((credentials, address)) => (Some(credentials), address),
        None => (None, head),
    };
    let mut builder = OptsBuilder::default();
    if let Some(credentials) = credentials {
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (credentials, None),
        };
        builder = builder.user(Some(user)).pass(password);
    }
    builder = match address {
        "" | "tcp" => builder.ip_or_hostname("127.0.0.1").tcp_port(3306),
        _ => {
            if let Some(path) = address
                .strip_prefix("unix(")
                .and_then(|a| a.strip_suffix(')'))
            {
                builder.socket(Some(path))
            } else if let Some(addr) = address
                .strip_prefix("tcp(")
                .and_then(|a| a.strip_suffix(')'))
            {
                let (host, port) = split_host_port(addr).map_err(|why| bad(&why))?;
                builder.ip_or_hostname(host).tcp_port(port)
            } else {
                return Err(bad(&format!(
                    "unknown network {address:?} (use tcp(host:port) or unix(path))"
                )));
            }
        }
    };
    if !db.is_empty() {
        builder = builder.db_name(Some(db));
    }
    let mut timeout = DEFAULT_CONNECT_TIMEOUT;
    for pair in params.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "timeout" => {
                timeout = parse_go_duration(value)
                    .ok_or_else(|| bad(&format!("timeout {value:?} is not a duration like 5s")))?
            }
            "tls" => builder = builder.ssl_opts(go_tls(value)?),
            k if IGNORED_GO_PARAMS.contains(&k) => {}
            k => {
                return Err(bad(&format!(
                    "unsupported parameter {k:?} (session variables cannot be set in the URL)"
                )))
            }
        }
    }
    Ok((builder, timeout))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the port defaults to 3306.
fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in {addr:?}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match addr.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (addr, None),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in {addr:?}"));
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
        None => 3306,
    };
    Ok((host.to_owned(), port))
}

/// A Go duration made of `<number><unit>` pieces (`1m30s`, `500ms`); units h, m, s, ms.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let number: u64 = rest.get(..digits)?.parse().ok()?;
        let after = rest.get(digits..)?;
        let (unit, len) = if after.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if after.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else if after.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if after.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else {
            return None;
        };
        total = total.checked_add(unit.checked_mul(u32::try_from(number).ok()?)?)?;
        rest = after.get(len..)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn config(url: &str) -> ConnectionConfig {
        ConnectionConfig {
            name: "my".into(),
            plugin_name: "mysql-database-plugin".into(),
            connection_url: url.into(),
            username: Some("admin".into()),
            password: Some(SecretString::from("p@ss:w/rd")),
            disable_escaping: false,
            max_open_connections: 3,
            max_idle_connections: 2,
            max_connection_lifetime: Duration::ZERO,
            ..Default::default()
        }
    }

    #[test]
    fn vaults_go_dsn_form() {
        let (opts, timeout) = client_opts(&config(
            "{{username}}:{{password}}@tcp(10.0.0.5:3307)/app?timeout=3s&parseTime=true&tls=false",
        ))
        .unwrap();
        assert_eq!(opts.user(), Some("admin"));
        assert_eq!(opts.pass(), Some("p@ss:w/rd"));
        assert_eq!(opts.ip_or_hostname(), "10.0.0.5");
        assert_eq!(opts.tcp_port(), 3307);
        assert_eq!(opts.db_name(), Some("app"));
        assert_eq!(timeout, Duration::from_secs(3));
        assert!(!opts.prefer_socket());
        assert_eq!(opts.pool_opts().constraints().max(), 3);
        assert_eq!(opts.pool_opts().constraints().min(), 2);

        let (opts, timeout) =
            client_opts(&config("{{username}}:{{password}}@tcp(127.0.0.1:3306)/")).unwrap();
        assert_eq!(opts.db_name(), None);
        assert_eq!(timeout, DEFAULT_CONNECT_TIMEOUT);
        let (opts, _) = client_opts(&config("{{username}}@/")).unwrap();
        assert_eq!(
            (opts.ip_or_hostname(), opts.tcp_port()),
            ("127.0.0.1", 3306)
        );
        assert_eq!(opts.pass(), None);
        let (opts, _) = client_opts(&config("{{username}}:{{password}}@tcp([::1])/x")).unwrap();
        assert_eq!((opts.ip_or_hostname(), opts.tcp_port()), ("::1", 3306));
        let (opts, _) = client_opts(&config(
            "{{username}}:{{password}}@unix(/run/mysqld/mysqld.sock)/",
        ))
        .unwrap();
        assert_eq!(opts.socket(), Some("/run/mysqld/mysqld.sock"));
    }

    #[test]
    fn mysql_urls_are_percent_decoded() {
        let (opts, _) = client_opts(&config(
            "mysql://{{username}}:{{password}}@db.example:3310/app",
        ))
        .unwrap();
        assert_eq!(opts.user(), Some("admin"));
        assert_eq!(opts.pass(), Some("p@ss:w/rd"));
        assert_eq!(opts.ip_or_hostname(), "db.example");
        assert_eq!(opts.tcp_port(), 3310);
        assert_eq!(opts.pool_opts().constraints().max(), 3);
    }

    #[test]
    fn tls_from_the_url_and_from_vaults_fields() {
        let ssl = |url: &str, ca: Option<&str>| {
            let mut c = config(url);
            c.options = leasehold_database::Options::from_map(
                ca.map(|ca| [("tls_ca".to_owned(), ca.into())].into_iter().collect())
                    .unwrap_or_default(),
            );
            client_opts(&c).unwrap().0.ssl_opts().cloned()
        };
        assert!(ssl("{{username}}@tcp(h)/?tls=false", None).is_none());
        assert!(ssl("{{username}}@tcp(h)/", None).is_none());
        let verified = ssl("{{username}}@tcp(h)/?tls=true", None).unwrap();
        assert!(!verified.accept_invalid_certs() && !verified.skip_domain_validation());
        assert!(!verified.disable_built_in_roots());
        assert!(ssl("{{username}}@tcp(h)/?tls=skip-verify", None)
            .unwrap()
            .accept_invalid_certs());
        // tls_ca: TLS whatever the URL says, trusting that CA alone.
        let pinned = ssl("{{username}}@tcp(h)/?tls=false", Some("-----BEGIN CERT")).unwrap();
        assert!(pinned.disable_built_in_roots());
        assert_eq!(pinned.root_certs().len(), 1);
        assert!(!pinned.accept_invalid_certs());
        // mysql_async's own URL parameters.
        assert!(ssl("mysql://{{username}}@h/db?require_ssl=true", None).is_some());
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for url in [
            "",
            "postgresql://u@h/db",
            "{{username}}@tcp(h:3306)",
            "{{username}}@udp(h)/",
            "{{username}}@tcp(h:port)/",
            "{{username}}@tcp(h)/?tls=preferred",
            "{{username}}@tcp(h)/?tls=custom",
            "{{username}}@tcp(h)/?sql_mode=ANSI",
            "{{username}}@tcp(h)/?timeout=soon",
            "tcp(h:3306)/",
            "mysql://h/db",
            "mysql://{{username}}@h/db?bogus=1",
        ] {
            let err = client_opts(&config(url)).map(|_| ()).unwrap_err();
            assert!(
                matches!(err, DriverError::InvalidConfig(_)),
                "{url}: {err:?}"
            );
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("2h"), Some(Duration::from_secs(7200)));
        for bad in ["", "5", "s", "1.5s", "-1s", "5x"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }
}
