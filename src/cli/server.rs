//! `leasehold server` and `leasehold operator generate-root`: the commands that run on the
//! server's own machine, with its storage (the rest of the CLI is a client of the HTTP API).

use secrecy::{ExposeSecret, SecretString};

use crate::config::{FileConfig, Settings, StorageSettings};
use crate::server::{
    announce_root_token, generate_root, listener, shutdown_signal, DevOptions, Server,
};

/// `server`.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = server_help_keys(),
    after_help = "`leasehold server --help` lists every config key and its environment variable."
)]
pub struct ServerArgs {
    /// Development mode: in-memory storage (or LEASEHOLD_DEV_STORAGE=FILE, kept across
    /// restarts), generated seal key, a root token printed at start; nothing mounted.
    #[arg(long)]
    pub dev: bool,
    /// Dev-mode listen address.
    #[arg(long, default_value = "127.0.0.1:8200")]
    pub dev_listen_address: String,
    /// Dev-mode root token value.
    #[arg(long, env = "VAULT_DEV_ROOT_TOKEN_ID", hide_env_values = true)]
    pub dev_root_token_id: Option<String>,
    /// Config file (TOML; see README). Optional: the environment alone may configure the server.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
}

/// `server --help`'s list of config keys and their environment variables.
fn server_help_keys() -> String {
    let mut out = String::from(
        "Configuration keys (file: [section] key = value) and the environment variables that \
         override them:\n",
    );
    for (key, var, what) in crate::config::ENV_KEYS {
        out.push_str(&format!("  {key:<42} {var}\n  {:<42}   {what}\n", ""));
    }
    out.push_str(
        "\nOther environment variables:\n  \
         LEASEHOLD_LOG                 log filter, e.g. debug or leasehold=debug [info]\n  \
         LEASEHOLD_DEV_STORAGE         -dev: a SQLite file instead of memory\n  \
         VAULT_DEV_ROOT_TOKEN_ID       -dev: the root token's value\n",
    );
    out
}

/// `operator generate-root`.
#[derive(Debug, clap::Args)]
pub struct GenerateRootArgs {
    /// The server's config file: its storage and seal.key_file are used. Without it, the
    /// environment's (LEASEHOLD_STORAGE_PATH, LEASEHOLD_SEAL_KEY_FILE, ...), as for `server`.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
}

/// Logs on stderr: colour only when a person is watching (a terminal), so files, journald and
/// pipes get plain text; JSON mode writes one JSON object per line and nothing else.
fn init_logging(json: bool) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEASEHOLD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_ansi(false).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// An error already written to the log (JSON mode, where a bare `Error:` line would break the
/// stream); the caller prints nothing more and exits 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Logged(String);

/// Once logging is up, errors go through it in JSON mode; in text mode they come back to be
/// printed once as `Error: ...` with their causes.
fn logged(json: bool, result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if json => {
            let text = format!("{e:#}");
            tracing::error!(error = %text, "leasehold stopped: {text}");
            Err(Logged(text).into())
        }
        other => other,
    }
}

/// Mint a new root token with the seal key and print it once.
pub async fn generate_root_command(args: GenerateRootArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => Settings::load_file(path)?,
        None => FileConfig::default(),
    };
    let settings = Settings::resolve(file)?;
    init_logging(settings.json_logs);
    let token = generate_root(&settings).await?;
    println!("A new root token was generated. It is shown only this once:");
    println!("Root Token: {}", token.expose_secret());
    Ok(())
}

/// Run the server until a signal stops it.
pub async fn server_command(args: ServerArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => Settings::load_file(path)?,
        // The environment alone (see `server --help`); no file needed.
        None => FileConfig::default(),
    };
    let mut settings = Settings::resolve(file)?;
    if !args.dev && settings.key_file.is_none() {
        anyhow::bail!(
            "no seal key: set seal.key_file in -config FILE or LEASEHOLD_SEAL_KEY_FILE (a file \
             holding a 32-byte key, e.g. `openssl rand -hex 32 > leasehold.key`), or run \
             `leasehold server -dev` to try leasehold out"
        );
    }
    init_logging(settings.json_logs);
    let json = settings.json_logs;
    logged(json, serve(args, &mut settings).await)
}

/// What the start-up line says about the storage.
fn describe_storage(settings: &Settings, dev: Option<&DevOptions>) -> String {
    match (dev, &settings.storage) {
        (
            Some(DevOptions {
                storage_path: Some(p),
                ..
            }),
            _,
        ) => format!("sqlite {} (dev)", p.display()),
        (Some(_), _) => "inmem (dev)".to_owned(),
        (None, StorageSettings::Sqlite(p)) => format!("sqlite {}", p.display()),
        (None, StorageSettings::Postgres { max_parallel, .. }) => {
            format!("postgresql (pool of {max_parallel})")
        }
    }
}

async fn serve(args: ServerArgs, settings: &mut Settings) -> anyhow::Result<()> {
    let dev = if args.dev {
        Some(DevOptions::prepare(
            args.dev_root_token_id.map(SecretString::from),
            std::env::var("LEASEHOLD_DEV_STORAGE")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Into::into),
        )?)
    } else {
        None
    };
    if args.dev {
        settings.address = args.dev_listen_address.clone();
        settings.tls = None;
    }
    // Everything that can fail on the operator's input is checked before storage is opened and a
    // root token minted: the config (above), the TLS files, and the listen address.
    let tls = match &settings.tls {
        Some((cert, key)) => Some(listener::load_tls(cert, key)?),
        None => None,
    };
    let tcp = listener::bind(&settings.address).await?;
    let storage = describe_storage(settings, dev.as_ref());
    let dev_storage = dev.as_ref().and_then(|d| d.storage_path.clone());
    let address = settings.address.clone();
    // A root token minted now is printed before the start is recorded as done (see
    // `crate::server::INIT_MARKER`), so a crash cannot leave one minted and never shown.
    let is_dev = dev.is_some();
    let server = Server::build_announcing(settings, dev, |token| {
        announce_root_token(
            token,
            is_dev.then_some((address.as_str(), dev_storage.as_deref())),
        )
    })
    .await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let version = env!("CARGO_PKG_VERSION");
    tracing::info!(
        "leasehold {version} listening on {scheme}://{} (TLS {}), storage {storage}",
        settings.address,
        if tls.is_some() { "on" } else { "off" },
    );
    server.serve_with(tcp, tls, shutdown_signal()).await
}
