//! The `leasehold` command: `leasehold server -dev` / `leasehold server -config FILE`, and
//! `leasehold operator generate-root -config FILE` (a new root token, with the seal key).
//! Vault's single-dash long flags (`-dev-root-token-id=root`) are accepted as well as `--`.

use clap::{Parser, Subcommand};
use leasehold::config::{FileConfig, Settings};
use leasehold::server::{
    announce_root_token, generate_root, listener, shutdown_signal, DevOptions, Server,
};
use secrecy::{ExposeSecret, SecretString};

#[derive(Parser)]
#[command(
    name = "leasehold",
    version,
    about = "Vault-compatible dynamic secrets whose leases really end"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Server(ServerArgs),
    /// Operator tasks run against the server's storage and seal key.
    #[command(subcommand)]
    Operator(OperatorCommand),
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Mint a new root token with the seal key (when the root token is lost or revoked), print it
    /// once, and log its accessor.
    GenerateRoot(GenerateRootArgs),
}

#[derive(clap::Args)]
struct GenerateRootArgs {
    /// The server's config file: its storage and seal.key_file are used.
    #[arg(long)]
    config: std::path::PathBuf,
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Development mode: in-memory storage, generated key, a root token, a `database/` mount.
    #[arg(long)]
    dev: bool,
    /// Dev-mode listen address.
    #[arg(long, default_value = "127.0.0.1:8200")]
    dev_listen_address: String,
    /// Dev-mode root token value.
    #[arg(long, env = "VAULT_DEV_ROOT_TOKEN_ID", hide_env_values = true)]
    dev_root_token_id: Option<String>,
    /// Config file (TOML; see README).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

/// Turn `-flag` into `--flag` for multi-letter flags, as Vault users type them.
fn normalize_args() -> Vec<String> {
    std::env::args()
        .map(|a| {
            if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 {
                format!("-{a}")
            } else {
                a
            }
        })
        .collect()
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse_from(normalize_args());
    let args = match cli.command {
        Command::Server(args) => args,
        Command::Operator(OperatorCommand::GenerateRoot(args)) => {
            let settings = Settings::resolve(Settings::load_file(&args.config)?)?;
            init_logging(settings.json_logs);
            let token = generate_root(&settings).await?;
            println!("A new root token was generated. It is shown only this once:");
            println!("Root Token: {}", token.expose_secret());
            return Ok(());
        }
    };
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
    // `leasehold::server::INIT_MARKER`), so a crash cannot leave one minted and never shown.
    let server =
        Server::build_announcing(&settings, dev, |token| announce_root_token(token, is_dev))
            .await?;
    tracing::info!(address = %settings.address, "leasehold listening on {}", settings.address);
    server.serve_with(tcp, tls, shutdown_signal()).await
}
