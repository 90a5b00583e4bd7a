//! `leasehold server` and `leasehold operator generate-root`: the commands that run on the
//! server's own machine, with its storage (the rest of the CLI is a client of the HTTP API).

use secrecy::{ExposeSecret, SecretString};

use crate::config::{FileConfig, Settings};
use crate::server::{
    announce_root_token, generate_root, listener, shutdown_signal, DevOptions, Server,
};

/// `server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Development mode: in-memory storage, generated key, a root token, a `database/` mount.
    #[arg(long)]
    pub dev: bool,
    /// Dev-mode listen address.
    #[arg(long, default_value = "127.0.0.1:8200")]
    pub dev_listen_address: String,
    /// Dev-mode root token value.
    #[arg(long, env = "VAULT_DEV_ROOT_TOKEN_ID", hide_env_values = true)]
    pub dev_root_token_id: Option<String>,
    /// Config file (TOML; see README).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
}

/// `operator generate-root`.
#[derive(Debug, clap::Args)]
pub struct GenerateRootArgs {
    /// The server's config file: its storage and seal.key_file are used.
    #[arg(long)]
    pub config: std::path::PathBuf,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEASEHOLD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Mint a new root token with the seal key and print it once.
pub async fn generate_root_command(args: GenerateRootArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(Settings::load_file(&args.config)?)?;
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
        None if args.dev => FileConfig::default(),
        None => anyhow::bail!("give -dev or -config FILE"),
    };
    let mut settings = Settings::resolve(file)?;
    init_logging(settings.json_logs);
    let dev = args.dev.then(|| DevOptions {
        root_token: args.dev_root_token_id.map(SecretString::from),
        storage_path: std::env::var("LEASEHOLD_DEV_STORAGE")
            .ok()
            .filter(|s| !s.is_empty())
            .map(Into::into),
    });
    if args.dev {
        settings.address = args.dev_listen_address.clone();
        settings.tls = None;
    }
    let is_dev = dev.is_some();
    // Everything that can fail on the operator's input is checked before storage is opened and a
    // root token minted: the config (above), the TLS files, and the listen address.
    let tls = match &settings.tls {
        Some((cert, key)) => Some(listener::load_tls(cert, key)?),
        None => None,
    };
    let tcp = listener::bind(&settings.address).await?;
    // A root token minted now is printed before the start is recorded as done (see
    // `crate::server::INIT_MARKER`), so a crash cannot leave one minted and never shown.
    let server =
        Server::build_announcing(&settings, dev, |token| announce_root_token(token, is_dev))
            .await?;
    tracing::info!(address = %settings.address, "leasehold listening on {}", settings.address);
    server.serve_with(tcp, tls, shutdown_signal()).await
}
