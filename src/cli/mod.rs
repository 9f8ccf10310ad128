//! The command line: argument parsing and one function per command. The only place that
//! prints for humans or exits. Uses everything below it.

/// `outln!` for command output: a reader that went away (`wucache updates | head`) ends
/// the command quietly instead of panicking. Defined before the submodules that use it.
macro_rules! outln {
    () => {
        $crate::cli::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `out!` for command output, as `outln!`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))
    };
}

mod api;
mod baseline;
mod bundle;
mod cert;
mod check;
mod explain;
mod fleet;
mod prefetch;
mod progress;
mod properties;
mod stats;
mod updates;

use crate::config::Config;
use crate::daemon::Daemon;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "wucache",
    version,
    about = "A WSUS replacement for networks without internet access"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// Config file (default config/wucache.toml; built-in defaults when that is absent).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
struct ApiArg {
    /// The daemon's admin API (default: `[admin] listen` of the config).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: client listener, admin listener, background sync.
    Serve(ConfigArg),
    /// Sync update metadata from the upstream now, with progress and a summary.
    Sync(ConfigArg),
    /// Download the payloads of approved updates now, with progress; resumable.
    Prefetch(ConfigArg),
    /// List the catalog (newest revision of every update).
    Updates {
        #[command(flatten)]
        config: ConfigArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Include categories, classifications and detectoids.
        #[arg(long)]
        all: bool,
        /// Also show the baseline decision for this patch group (needs [baselines] file).
        #[arg(long)]
        group: Option<String>,
        /// Each update's derived Patch Manager properties (PRODUCT, PRODUCT_FAMILY, PATCH_SET,
        /// CLASSIFICATION, MSRC_SEVERITY), as baseline filters see them.
        #[arg(long, conflicts_with = "all")]
        properties: bool,
        /// With --properties: only this KB.
        #[arg(long, requires = "properties")]
        kb: Option<String>,
        /// With --properties: only updates with this derived PRODUCT.
        #[arg(long, requires = "properties")]
        product: Option<String>,
        /// With --properties and --group: only this decision (APPROVED, PENDING_APPROVAL …).
        #[arg(long, requires_all = ["properties", "group"])]
        decision: Option<String>,
        /// With --properties: only updates released (or revised) on or after this date.
        #[arg(long, requires = "properties", value_name = "YYYY-MM-DD")]
        since: Option<String>,
    },
    /// Patch Manager compliance of every machine and patch group (from the running daemon).
    Compliance {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        api: ApiArg,
        /// Only this patch group (`default` for machines without one).
        #[arg(long)]
        group: Option<String>,
        /// The API's JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// One machine a line, as CSV.
        #[arg(long)]
        csv: bool,
    },
    /// The payload cache's figures and the sync's state (from the running daemon).
    Stats {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        api: ApiArg,
        /// The API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// The kept sync runs, newest first: what each brought (from the running daemon).
    Syncs {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        api: ApiArg,
        /// The API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every computer's summary, or one computer's patches (from the running daemon).
    Computers {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        api: ApiArg,
        /// Client id or DNS name of one computer.
        name: Option<String>,
        /// The API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Why a machine is or is not offered an update: patch group, baseline, the rule or list
    /// that decided, supersedence, the offer, the last report (from the running daemon).
    Explain {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        api: ApiArg,
        /// Client id or DNS name of the computer.
        #[arg(long)]
        computer: String,
        /// The KB article, with or without the `KB` prefix.
        #[arg(long)]
        kb: String,
        /// The API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write an air-gap bundle: update documents, payloads and a SHA-256 manifest, optionally
    /// signed (stop the daemon first).
    Export(bundle::ExportArgs),
    /// Check a bundle whole, then import it into this data directory; resumable (stop the
    /// daemon first).
    Import(bundle::ImportArgs),
    /// Keys for signing bundles.
    Bundle {
        #[command(subcommand)]
        action: BundleAction,
    },
    /// Convert a catalog store written by an older wucache to this version's schema.
    Upgrade(ConfigArg),
    /// Validate a baseline file, or preview its decisions for the catalog.
    Baseline {
        #[command(subcommand)]
        action: BaselineAction,
    },
    /// Certificates for the HTTPS listener.
    Cert {
        #[command(subcommand)]
        action: CertAction,
    },
    /// Print the registry settings (.reg) and PowerShell that point a Windows machine here.
    Gpo {
        /// This server as clients reach it, e.g. http://wucache.corp.example:8530 or
        /// https://wucache.corp.example:8531
        #[arg(long)]
        url: String,
        /// Patch group (WSUS target group) the machine asks for.
        #[arg(long)]
        group: Option<String>,
    },
}

#[derive(Subcommand)]
enum CertAction {
    /// Write a trial CA (ca.pem, ca-key.pem) and a server certificate signed by it
    /// (server.pem, server-key.pem), and print how clients trust the CA.
    Generate {
        /// A DNS name clients reach the server by (repeat for more).
        #[arg(long, value_name = "NAME")]
        dns: Vec<String>,
        /// An IP address clients reach the server by (repeat for more).
        #[arg(long, value_name = "IP")]
        ip: Vec<std::net::IpAddr>,
        /// Folder to write the four files to (created if missing).
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// Days both certificates are valid.
        #[arg(long, default_value_t = 825)]
        days: u32,
        /// Replace files of an earlier run.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum BundleAction {
    /// Write an Ed25519 key pair: bundle-signing-key.pem (private, PKCS#8 PEM, mode 0600) and
    /// bundle-signing-key.pub (public, 64 hex digits).
    Keygen {
        /// Accepted as every command accepts it; keygen reads no configuration.
        #[command(flatten)]
        config: ConfigArg,
        /// Folder to write the two files to (created if missing).
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// Replace the files of an earlier run.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum BaselineAction {
    /// Validate a baseline file (TOML, or an AWS JSON export); errors name the field path.
    /// With --config, also check it against that config's synced catalog.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Baseline file (default: [baselines] file of --config).
        file: Option<PathBuf>,
        /// Warnings fail the check too (exit 1), for CI.
        #[arg(long)]
        strict: bool,
    },
    /// Decisions for every update of the catalog, for a patch group's baseline.
    Preview {
        #[command(flatten)]
        config: ConfigArg,
        /// Patch group (WSUS target group) whose baseline decides.
        #[arg(long)]
        group: String,
        /// Evaluate as of this time (RFC 3339, or a date meaning 00:00 UTC) instead of now.
        #[arg(long)]
        at: Option<String>,
        /// Baseline file (default: [baselines] file of the config).
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// Parses arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("wucache: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes command output to stdout. A closed pipe exits 0 at once (the reader has what it
/// wanted); any other write error exits 1 with the reason.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let Err(err) = std::io::stdout().lock().write_fmt(args) else {
        return;
    };
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("wucache: cannot write to standard output: {err}");
    std::process::exit(1);
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(args.config.as_deref())?;
            init_logging("info", config.log.format);
            log_config_origin(args.config.as_deref());
            runtime()?.block_on(serve(config))
        }
        Command::Sync(args) => {
            let config = Config::load(args.config.as_deref())?;
            init_logging(
                if progress::is_terminal() { "warn" } else { "info" },
                config.log.format,
            );
            runtime()?.block_on(progress::sync_with_progress(config))
        }
        Command::Prefetch(args) => {
            let config = Config::load(args.config.as_deref())?;
            init_logging(
                if progress::is_terminal() { "warn" } else { "info" },
                config.log.format,
            );
            runtime()?.block_on(prefetch::run(config))
        }
        Command::Updates {
            config,
            json,
            group,
            properties: true,
            kb,
            product,
            decision,
            since,
            ..
        } => {
            let config = Config::load(config.config.as_deref())?;
            let query = properties::Query {
                group,
                kb,
                product,
                decision,
                since,
                json,
            };
            properties::print(&config, &query)
        }
        Command::Updates {
            config,
            json,
            all,
            group,
            ..
        } => {
            let config = Config::load(config.config.as_deref())?;
            updates::print(&config, json, all, group.as_deref())
        }
        Command::Baseline {
            action: BaselineAction::Check { config, file, strict },
        } => check::check(file.as_deref(), config.config.as_deref(), strict),
        Command::Baseline {
            action:
                BaselineAction::Preview {
                    config,
                    group,
                    at,
                    file,
                    json,
                },
        } => {
            let config = Config::load(config.config.as_deref())?;
            baseline::preview(&config, file.as_deref(), &group, at.as_deref(), json)
        }
        Command::Gpo { url, group } => {
            let settings = crate::gpo::Settings::new(&url, group.as_deref())?;
            outln!("; ---- wucache.reg (reg import wucache.reg) ----");
            out!("{}", crate::gpo::reg_file(&settings).replace("\r\n", "\n"));
            outln!();
            outln!("# ---- or in PowerShell ----");
            out!("{}", crate::gpo::powershell(&settings));
            Ok(ExitCode::SUCCESS)
        }
        Command::Cert {
            action:
                CertAction::Generate {
                    dns,
                    ip,
                    out,
                    days,
                    force,
                },
        } => {
            let request = crate::cert::TrialRequest { dns, ips: ip, days };
            cert::generate(&request, &out, force)
        }
        Command::Compliance {
            config,
            api,
            group,
            json,
            csv,
        } => {
            let config = Config::load(config.config.as_deref())?;
            let format = match (json, csv) {
                (true, _) => fleet::Format::Json,
                (_, true) => fleet::Format::Csv,
                _ => fleet::Format::Table,
            };
            runtime()?.block_on(fleet::compliance(
                &config,
                api.url.as_deref(),
                group.as_deref(),
                format,
            ))
        }
        Command::Stats { config, api, json } => {
            let config = Config::load(config.config.as_deref())?;
            runtime()?.block_on(stats::stats(&config, api.url.as_deref(), json))
        }
        Command::Syncs { config, api, json } => {
            let config = Config::load(config.config.as_deref())?;
            runtime()?.block_on(stats::syncs(&config, api.url.as_deref(), json))
        }
        Command::Computers {
            config,
            api,
            name,
            json,
        } => {
            let config = Config::load(config.config.as_deref())?;
            runtime()?.block_on(fleet::computers(
                &config,
                api.url.as_deref(),
                name.as_deref(),
                json,
            ))
        }
        Command::Explain {
            config,
            api,
            computer,
            kb,
            json,
        } => {
            let config = Config::load(config.config.as_deref())?;
            runtime()?.block_on(explain::run(&config, api.url.as_deref(), &computer, &kb, json))
        }
        Command::Export(args) => {
            init_logging("warn", crate::config::LogFormat::Text);
            runtime()?.block_on(bundle::export(args))
        }
        Command::Import(args) => {
            init_logging("warn", crate::config::LogFormat::Text);
            runtime()?.block_on(bundle::import(args))
        }
        Command::Bundle {
            action: BundleAction::Keygen { out, force, .. },
        } => bundle::keygen(&out, force),
        Command::Upgrade(args) => {
            let config = Config::load(args.config.as_deref())?;
            let version = crate::store::upgrade(&config.storage.data_dir)?;
            outln!(
                "catalog store in {} is at schema version {version}",
                config.storage.data_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The start-up line naming the configuration in force.
fn log_config_origin(explicit: Option<&std::path::Path>) {
    let default = std::path::Path::new(crate::config::DEFAULT_PATH);
    match explicit {
        Some(path) => tracing::info!(file = %path.display(), "configuration"),
        None if default.exists() => tracing::info!(file = %default.display(), "configuration"),
        None => tracing::info!("configuration: built-in defaults (no {} here)", default.display()),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Logs go to stderr, as text or JSON lines (`[log] format`); `RUST_LOG` overrides the
/// default level.
fn init_logging(default: &str, format: crate::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("wucache={default},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Json => builder.json().try_init(),
        crate::config::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// Runs the daemon until SIGTERM or SIGINT. When it stops by itself to reopen its catalog
/// store (the disk took writes again after filling up), it is started again on the same
/// config.
async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let signal = tokio::spawn(wait_for_signal());
    tokio::pin!(signal);
    loop {
        let daemon = start_retrying_while_locked(&config).await?;
        let app = std::sync::Arc::clone(&daemon.app);
        let stopping = daemon.stopping();
        reload_on_sighup(std::sync::Arc::clone(&app), stopping.clone())?;
        tokio::select! {
            finished = &mut signal => {
                finished??;
                tracing::info!("shutting down");
                daemon.stop().await;
                return Ok(ExitCode::SUCCESS);
            }
            _ = stopping.wait() => {}
        }
        daemon.stop().await;
        if !app.wants_reopen() {
            return Ok(ExitCode::SUCCESS);
        }
        drop(app);
        tracing::warn!("restarting on the same configuration to reopen the catalog store");
    }
}

/// `Daemon::start`, waiting up to 30 s for the previous run's store lock (its last requests
/// may still be finishing when the daemon restarts itself).
async fn start_retrying_while_locked(config: &Config) -> anyhow::Result<Daemon> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match Daemon::start(config.clone()).await {
            Err(crate::daemon::DaemonError::App(crate::app::AppError::Locked { .. }))
                if std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// SIGHUP re-reads the admin token, the TLS certificate and the baseline file (what does not
/// load is kept), until the daemon stops.
fn reload_on_sighup(
    app: std::sync::Arc<crate::app::App>,
    stopping: crate::shutdown::Shutdown,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                received = hangup.recv() => if received.is_none() { return },
                _ = stopping.wait() => return,
            }
            let app = std::sync::Arc::clone(&app);
            let result = tokio::task::spawn_blocking(move || app.reload()).await;
            match result {
                Ok(Ok(())) => {
                    tracing::info!("reloaded: admin token, baselines and (when in use) the TLS certificate")
                }
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "reload failed; what did not load stays as it was")
                }
                Err(err) => tracing::error!(error = %err, "reload panicked"),
            }
        }
    });
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
