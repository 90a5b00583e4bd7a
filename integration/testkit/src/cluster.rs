//! [`PgCluster`]: one throwaway PostgreSQL cluster with SCRAM password authentication.
//!
//! Tests must prove that a revoked credential really stops working, so the server they talk to
//! has to check passwords (`--auth=scram-sha-256` for every connection, local ones included).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rand::distributions::{Alphanumeric, DistString};
use tokio::sync::{Mutex, OnceCell};
use tokio_postgres::{Client, NoTls};

use crate::pg_tools::{traversable_temp_base, PgTools};
use crate::reaper::Reaper;

/// The cluster's superuser (created by `initdb --username`).
pub const SUPERUSER: &str = "postgres";

/// How many times a first start may move to another port: the port we chose was free a moment
/// before, but another process may take it before PostgreSQL binds it.
const START_ATTEMPTS: usize = 3;

static SHARED: OnceCell<PgCluster> = OnceCell::const_new();

/// A running (or deliberately stopped) throwaway PostgreSQL cluster in a temporary directory.
///
/// Dropping it stops the server at once and deletes every file; so does the end of the process,
/// for clusters that are never dropped (see the crate docs).
#[derive(Debug)]
pub struct PgCluster {
    tools: PgTools,
    dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    password: String,
    /// Whether the server runs. A lock rather than a flag so that `stop` and `start_again`
    /// from two tests cannot interleave their `pg_ctl` calls.
    running: Mutex<bool>,
    // Last field: dropped after everything else, and its drop is the clean-up.
    _reaper: Reaper,
}

impl PgCluster {
    /// Create and start a new cluster: `initdb` with a random superuser password, then start on a
    /// free port of 127.0.0.1 and wait until it accepts connections.
    pub async fn start() -> Result<PgCluster> {
        Self::start_with(None).await
    }

    /// [`PgCluster::start`] with TLS on (`ssl = on`), serving `cert_pem` (the chain, server
    /// certificate first) with `key_pem`. Plain TCP is still accepted: clients choose.
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> Result<PgCluster> {
        Self::start_with(Some((cert_pem, key_pem))).await
    }

    async fn start_with(tls: Option<(&str, &str)>) -> Result<PgCluster> {
        let tools = PgTools::discover().await?;
        let dir = tempfile::Builder::new()
            .prefix("leasehold-pg-")
            .tempdir_in(traversable_temp_base(tools.as_root()))
            .context("cannot create the cluster's temporary directory")?
            // From here on the reaper owns the deletion, not `TempDir`'s destructor.
            .keep();
        let data_dir = dir.join("data");
        // Watch before anything else can fail, so a failed start leaves no files behind.
        let reaper = Reaper::spawn(&tools, &data_dir, &dir)?;
        let mut cluster = PgCluster {
            socket_dir: dir.join("sock"),
            log_path: dir.join("postgres.log"),
            tools,
            dir,
            data_dir,
            port: 0,
            password: Alphanumeric.sample_string(&mut rand::thread_rng(), 24),
            running: Mutex::new(false),
            _reaper: reaper,
        };
        cluster.initdb().await?;
        if let Some((cert, key)) = tls {
            cluster.enable_tls(cert, key).await?;
        }
        cluster.first_start().await?;
        Ok(cluster)
    }

    /// The cluster every test of this process shares, started on first use. Tests isolate
    /// themselves by creating their own database on it.
    ///
    /// # Panics
    /// When the cluster cannot be started: a test that needs it cannot do anything else. Use
    /// [`PgCluster::try_shared`] to handle the error.
    #[allow(clippy::panic)] // harness code whose only caller is a test: failing loudly is its job
    pub async fn shared() -> &'static PgCluster {
        match Self::try_shared().await {
            Ok(cluster) => cluster,
            Err(e) => panic!("cannot start the shared PostgreSQL cluster: {e:#}"),
        }
    }

    /// [`PgCluster::shared`] without the panic. A failed start is retried by the next caller.
    pub async fn try_shared() -> Result<&'static PgCluster> {
        SHARED.get_or_try_init(PgCluster::start).await
    }

    /// The TCP port on 127.0.0.1. It stays the same across [`PgCluster::stop`] and
    /// [`PgCluster::start_again`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password (random letters and digits, so it needs no escaping in a URL).
    pub fn superuser_password(&self) -> &str {
        &self.password
    }

    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/<db>`.
    pub fn admin_url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// The cluster's directory (data, socket and log live inside it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh password login over TCP as `user` to database `db`: an error when the server
    /// refuses it (wrong password, expired or dropped role) or is down.
    pub async fn connect(&self, user: &str, password: &str, db: &str) -> Result<Client> {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(db)
            .application_name("leasehold-testkit")
            .connect_timeout(Duration::from_secs(10));
        let (client, connection) = config
            .connect(NoTls)
            .await
            .with_context(|| format!("login as {user:?} to database {db:?} failed"))?;
        // The connection object does the I/O; the client is only a handle to it. Its error,
        // if any, surfaces through the client's next call.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// A superuser session on database `db`.
    pub async fn admin(&self, db: &str) -> Result<Client> {
        self.connect(SUPERUSER, &self.password, db).await
    }

    /// `CREATE DATABASE "<name>"`.
    pub async fn create_database(&self, name: &str) -> Result<()> {
        let admin = self.admin("postgres").await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
            .await
            .with_context(|| format!("CREATE DATABASE {name:?}"))?;
        Ok(())
    }

    /// Stop the server (its sessions are terminated), keeping data and port: a target outage.
    pub async fn stop(&self) -> Result<()> {
        let mut running = self.running.lock().await;
        if *running {
            let args = self.pg_ctl_args(&["-w", "-m", "fast", "stop"]);
            self.tools.run("pg_ctl", &args, &self.dir).await?;
            *running = false;
        }
        Ok(())
    }

    /// Start again after [`PgCluster::stop`], on the same port with the same data.
    pub async fn start_again(&self) -> Result<()> {
        let mut running = self.running.lock().await;
        if !*running {
            self.pg_ctl_start(self.port)
                .await
                .map_err(|e| e.context(self.log_tail()))?;
            *running = true;
        }
        Ok(())
    }

    /// The last lines of the server log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(30);
        format!(
            "PostgreSQL log ({}):\n{}",
            self.log_path.display(),
            lines.get(from..).unwrap_or_default().join("\n")
        )
    }

    async fn initdb(&self) -> Result<()> {
        let pwfile = self.dir.join("pwfile");
        write_private(&pwfile, &format!("{}\n", self.password))?;
        std::fs::create_dir(&self.socket_dir).context("cannot create the socket directory")?;
        self.tools.give_to_postgres(&self.dir).await?;
        let args: Vec<String> = vec![
            "-D".into(),
            self.data_dir.to_string_lossy().into_owned(),
            "--auth=scram-sha-256".into(),
            format!("--username={SUPERUSER}"),
            format!("--pwfile={}", pwfile.display()),
            "--encoding=UTF8".into(),
            "--locale=C".into(),
            // A throwaway cluster: durability buys nothing and costs seconds.
            "--no-sync".into(),
        ];
        let result = self.tools.run("initdb", &args, &self.dir).await;
        let _ = std::fs::remove_file(&pwfile);
        result.map(drop)
    }

    /// Put the certificate and key in the data directory (PostgreSQL's default file names; the
    /// key readable by its owner only, which the server insists on) and turn `ssl` on.
    async fn enable_tls(&self, cert_pem: &str, key_pem: &str) -> Result<()> {
        write_private(&self.data_dir.join("server.crt"), cert_pem)?;
        write_private(&self.data_dir.join("server.key"), key_pem)?;
        let conf = self.data_dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).context("cannot read postgresql.conf")?;
        text.push_str("\nssl = on\n");
        std::fs::write(&conf, text).context("cannot write postgresql.conf")?;
        self.tools.give_to_postgres(&self.data_dir).await
    }

    async fn first_start(&mut self) -> Result<()> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match self.pg_ctl_start(port).await {
                Ok(()) => {
                    self.port = port;
                    *self.running.get_mut() = true;
                    return Ok(());
                }
                Err(e) => last_error = Some(e),
            }
        }
        let error = last_error.unwrap_or_else(|| anyhow::anyhow!("no start attempted"));
        Err(error.context(format!("PostgreSQL did not start\n{}", self.log_tail())))
    }

    async fn pg_ctl_start(&self, port: u16) -> Result<()> {
        let socket_dir = self.socket_dir.to_string_lossy();
        // pg_ctl hands `-o` to a shell: keep the one path in it quotable.
        if socket_dir.contains('\'') {
            bail!("temporary directory {socket_dir:?} contains a quote");
        }
        let options = format!(
            "-p {port} -k '{socket_dir}' -c listen_addresses=127.0.0.1 \
             -c password_encryption=scram-sha-256 -c max_connections=200 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        );
        let log = self.log_path.to_string_lossy().into_owned();
        let args = self.pg_ctl_args(&["-w", "-t", "60", "-l", &log, "-o", &options, "start"]);
        self.tools.run("pg_ctl", &args, &self.dir).await.map(drop)
    }

    fn pg_ctl_args(&self, rest: &[&str]) -> Vec<String> {
        let mut args = vec![
            "-D".to_owned(),
            self.data_dir.to_string_lossy().into_owned(),
        ];
        args.extend(rest.iter().map(|s| (*s).to_owned()));
        args
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a probe socket")?;
    Ok(listener.local_addr()?.port())
}

/// Write a file only its owner can read (the password file initdb reads).
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// A double-quoted SQL identifier with embedded quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
