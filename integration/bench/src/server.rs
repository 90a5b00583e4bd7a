//! The leasehold server under test: the release binary run as an operator runs it
//! (`server -config`, SQLite on disk with `synchronous=FULL`, or one of several nodes on a
//! PostgreSQL storage database), started, killed and restarted on the same files, and talked to
//! over HTTP only.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// One server's files and, while it runs, its process.
pub struct Server {
    binary: PathBuf,
    dir: PathBuf,
    pub addr: String,
    pub token: String,
    child: Option<Child>,
    lives: u32,
    http: reqwest::Client,
    /// Environment for the process (the storage URL, which holds a password, goes here rather
    /// than into the file, as the README advises).
    env: Vec<(String, String)>,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A new random seal key (32 bytes, hex) at `path`.
pub fn write_seal_key(path: &Path) -> Result<()> {
    let hex: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    std::fs::write(path, hex)?;
    Ok(())
}

/// The HTTP client every benchmark uses: keeps up to 256 connections per host open.
pub fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(120))
        .build()?)
}

impl Server {
    /// Write the config into `dir` (a new directory); nothing runs yet. `extra` is appended to
    /// the config file (e.g. a `[lease]` section).
    pub fn new(binary: &Path, dir: &Path, extra: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let key = dir.join("seal.key");
        write_seal_key(&key)?;
        let storage = format!("path = \"{}\"\n", dir.join("leasehold.db").display());
        Self::configure(binary, dir, &storage, &key, extra, Vec::new())
    }

    /// One node of a cluster on the PostgreSQL database `storage_url`: every node of it must
    /// share `key` (see [`write_seal_key`]). `max_parallel` is its storage pool. A node that
    /// joins an initialised storage prints no root token: set [`Server::token`] before starting.
    pub fn on_postgres(
        binary: &Path,
        dir: &Path,
        storage_url: &str,
        max_parallel: usize,
        key: &Path,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let storage = format!("type = \"postgresql\"\nmax_parallel = {max_parallel}\n");
        let env = vec![(
            "LEASEHOLD_STORAGE_CONNECTION_URL".to_owned(),
            storage_url.to_owned(),
        )];
        Self::configure(binary, dir, &storage, key, "", env)
    }

    fn configure(
        binary: &Path,
        dir: &Path,
        storage: &str,
        key: &Path,
        extra: &str,
        env: Vec<(String, String)>,
    ) -> Result<Self> {
        let port = free_port()?;
        let addr = format!("http://127.0.0.1:{port}");
        std::fs::write(
            dir.join("leasehold.toml"),
            format!(
                "api_addr = \"{addr}\"\n[listener]\naddress = \"127.0.0.1:{port}\"\n\
                 [storage]\n{storage}[seal]\nkey_file = \"{}\"\n{extra}",
                key.display()
            ),
        )?;
        Ok(Self {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            addr,
            token: String::new(),
            child: None,
            lives: 0,
            http: http_client()?,
            env,
        })
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("leasehold.db")
    }

    /// Spawn the process; returns at once (see [`Server::wait_healthy`]).
    pub fn spawn(&mut self) -> Result<()> {
        self.lives += 1;
        let log = std::fs::File::create(self.dir.join(format!("server-{:03}.log", self.lives)))?;
        let child = Command::new(&self.binary)
            .args(["server", "-config"])
            .arg(self.dir.join("leasehold.toml"))
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Poll `sys/health` every 2 ms until it answers 200; the time since `since`.
    pub async fn wait_healthy(&mut self, since: Instant) -> Result<Duration> {
        let deadline = since + Duration::from_secs(120);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "leasehold exited with {status} during start-up; see {}",
                        self.dir.display()
                    );
                }
            }
            if let Ok(r) = self
                .http
                .get(format!("{}/v1/sys/health", self.addr))
                .send()
                .await
            {
                if r.status().as_u16() == 200 {
                    return Ok(since.elapsed());
                }
            }
            if Instant::now() > deadline {
                bail!("leasehold did not become healthy in 120 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Start and wait until healthy; on the first life, read the root token it prints.
    pub async fn start(&mut self) -> Result<Duration> {
        let t = Instant::now();
        self.spawn()?;
        let took = self.wait_healthy(t).await?;
        if self.token.is_empty() {
            let log = std::fs::read_to_string(self.dir.join("server-001.log"))?;
            self.token = log
                .lines()
                .find_map(|l| l.strip_prefix("Root Token: "))
                .map(|t| t.trim().to_owned())
                .context("the first start printed no root token")?;
        }
        Ok(took)
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait (up to 30 s, then SIGKILL).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Resident set size of the running process, in bytes.
    pub fn rss_bytes(&self) -> Result<u64> {
        let pid = self.child.as_ref().context("not running")?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")?;
        Ok(kb * 1024)
    }

    /// One API call with the root token; the JSON answer (`null` for 204), or an error naming
    /// the status and body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        call(&self.http, &self.addr, &self.token, method, path, body).await
    }

    /// Mount `database/` on `pg_url`'s cluster with a pool of `pool` connections and a role
    /// `role` of the given TTL whose accounts may read everything.
    pub async fn setup_database(
        &self,
        target: &crate::target::Target,
        pool: usize,
        role: &str,
        ttl: &str,
    ) -> Result<()> {
        let (url, username, password) = target.leasehold_connection();
        if self.call("GET", "sys/mounts", None).await?["data"]
            .get("database/")
            .is_none()
        {
            self.call(
                "POST",
                "sys/mounts/database",
                Some(json!({"type": "database"})),
            )
            .await?;
        }
        self.call(
            "POST",
            "database/config/pg",
            Some(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": url,
                "username": username,
                "password": password,
                "allowed_roles": "*",
                "max_open_connections": pool,
                "max_idle_connections": pool,
            })),
        )
        .await?;
        self.call(
            "POST",
            &format!("database/roles/{role}"),
            Some(json!({
                "db_name": "pg",
                "creation_statements": crate::target::CREATION_STATEMENTS,
                "default_ttl": ttl,
                "max_ttl": "768h",
            })),
        )
        .await?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One API call (see [`Server::call`]), usable from load tasks that hold only a client.
pub async fn call(
    http: &reqwest::Client,
    addr: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut req = http
        .request(method, format!("{addr}/v1/{path}"))
        .header("X-Vault-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{path}: {status}: {text}");
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&text)?)
}
