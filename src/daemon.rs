//! `wucache serve` as a value: binds the listeners, starts the background workers, and stops
//! it all on one signal. Tests start it in-process on `127.0.0.1:0`. Uses `config`,
//! `shutdown`, `content` (to check its directory takes writes), `app`, `worker`, `server`.

use crate::app::{App, AppError};
use crate::config::Config;
use crate::content::disk::{ContentDir, DiskError};
use crate::server::{self, Acceptor, Role};
use crate::shutdown::Shutdown;
use crate::worker;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Why the daemon did not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The shared state (store, token, cookie key, baselines) could not be opened.
    #[error(transparent)]
    App(#[from] AppError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The config key that gave it, e.g. `admin.listen`.
        key: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// rustls refused the TLS set-up (not expected: its own versions and suites).
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The payload cache directory cannot be written.
    #[error("payload cache: {error}; wucache must be able to write its [content] dir {path} (check its owner and mode, and that it is not on a read-only mount)")]
    ContentDir {
        /// `[content] dir`, by default `<data_dir>/content`.
        path: String,
        /// What failed.
        error: DiskError,
    },
}

/// A running daemon.
pub struct Daemon {
    /// The shared state, for tests and the CLI to inspect.
    pub app: Arc<App>,
    /// Where the client listener is bound (the real port when the config said 0).
    pub client_addr: SocketAddr,
    /// Where the admin listener is bound (the real port when the config said 0).
    pub admin_addr: SocketAddr,
    /// Where the HTTPS client listener is bound, when `server.https_listen` is set.
    pub https_addr: Option<SocketAddr>,
    shutdown: Shutdown,
    tasks: JoinSet<()>,
}

impl Daemon {
    /// The daemon's shutdown signal: triggered by `stop`, or by the daemon itself when its
    /// store must be reopened (`App::wants_reopen`).
    pub fn stopping(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Opens the store, binds both listeners and starts serving. The catalog loads in the
    /// background; `/ready` answers 200 once it has.
    pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
        let client = bind(config.server.http_listen, "server.http_listen").await?;
        let admin = bind(config.admin.listen, "admin.listen").await?;
        let https = match config.server.https_listen {
            Some(addr) => Some((addr, bind(addr, "server.https_listen").await?)),
            None => None,
        };
        let app = App::open(config)?;
        check_content_dir(&app.config)?;
        let acceptor = app.tls_cert.clone().map(Acceptor::new).transpose()?;
        let shutdown = Shutdown::default();
        let client_addr = client
            .local_addr()
            .map_err(|source| bind_error(app.config.server.http_listen, "server.http_listen", source))?;
        let admin_addr = admin
            .local_addr()
            .map_err(|source| bind_error(app.config.admin.listen, "admin.listen", source))?;
        let https_addr = match &https {
            Some((addr, listener)) => Some(
                listener
                    .local_addr()
                    .map_err(|source| bind_error(*addr, "server.https_listen", source))?,
            ),
            None => None,
        };
        let admin_tls = acceptor.clone().filter(|_| app.config.admin.tls);
        let mut tasks = JoinSet::new();
        let serve =
            |listener, role, tls| server::serve(listener, role, tls, Arc::clone(&app), shutdown.clone());
        tasks.spawn(serve(client, Role::Client, None));
        if let Some((_, listener)) = https {
            tasks.spawn(serve(listener, Role::Client, acceptor));
        }
        tasks.spawn(serve(admin, Role::Admin, admin_tls));
        worker::spawn_all(&mut tasks, &app, &shutdown);
        tracing::info!(
            %client_addr,
            https_addr = %https_addr.map_or_else(|| "off".to_string(), |a| a.to_string()),
            %admin_addr,
            admin_tls = app.config.admin.tls,
            data_dir = %app.config.storage.data_dir.display(),
            "wucache serving"
        );
        log_setup(&app);
        Ok(Daemon {
            app,
            client_addr,
            admin_addr,
            https_addr,
            shutdown,
            tasks,
        })
    }

    /// The signal that stops this daemon.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Stops accepting, drains connections, stops the sync worker, flushes the store.
    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(cache) = self.app.content.get() {
            cache.stop().await;
        }
        while self.tasks.join_next().await.is_some() {}
        let app = Arc::clone(&self.app);
        let _ = tokio::task::spawn_blocking(move || app.stop_background()).await;
        if let Err(err) = self.app.store.flush() {
            tracing::error!(error = %err, "flushing the catalog store at shutdown failed");
        }
        tracing::info!("wucache stopped");
    }
}

/// A `[content] dir` that cannot be written stops the start instead of failing every
/// download later while `/ready` says all is well. No space left (`StorageFull`) is not
/// refused here: a full disk is the storage watch's to report, and it passes once space is
/// back.
fn check_content_dir(config: &Config) -> Result<(), DaemonError> {
    let dir = config.content_dir();
    match ContentDir::check_writable(&dir) {
        Err(DiskError::Io { source, .. }) if source.kind() == std::io::ErrorKind::StorageFull => Ok(()),
        Err(error) => Err(DaemonError::ContentDir {
            path: dir.display().to_string(),
            error,
        }),
        Ok(()) => Ok(()),
    }
}

async fn bind(addr: SocketAddr, key: &'static str) -> Result<tokio::net::TcpListener, DaemonError> {
    server::bind(addr)
        .await
        .map_err(|source| DaemonError::Bind { addr, key, source })
}

/// Room a ReportEventBatch needs beyond its longest `MiscData` list: the envelope, the event's
/// other fields and a few more events.
const REPORT_ENVELOPE_ROOM: usize = 64 << 10;

/// Why `max_soap_body` refuses reports a Windows client may send, when it does: an event
/// listing a machine's updates (`MiscData`, up to 64,000 ids) takes ~2.4 MB.
fn report_limit_warning(max_soap_body: u64) -> Option<String> {
    let largest = crate::protocol::wusp::envelope::REPORTED_UPDATE_LIST.text + REPORT_ENVELOPE_ROOM;
    (max_soap_body < largest as u64).then(|| {
        format!(
            "server.max_soap_body = {max_soap_body} bytes is below the {largest} a report listing a machine's updates may take: reports from machines with many updates will be refused (413) and their compliance go stale; raise it to at least {largest}"
        )
    })
}

/// A listener whose address cannot be read back, naming its config key.
fn bind_error(addr: SocketAddr, key: &'static str, source: std::io::Error) -> DaemonError {
    DaemonError::Bind { addr, key, source }
}

/// Start-up lines an operator needs: where the admin token is, which baselines and patch
/// groups are in force.
fn log_setup(app: &App) {
    tracing::info!(token_file = %app.config.token_path().display(), "admin API token (Authorization: Bearer <token>)");
    if let Some(warning) = report_limit_warning(app.config.server.max_soap_body) {
        tracing::warn!("{warning}");
    }
    let Some(set) = app.baselines() else {
        tracing::info!("no [baselines] file: every mirrored update that is not expired is approved");
        return;
    };
    let groups: Vec<String> = set
        .groups()
        .iter()
        .map(|(group, baseline)| format!("{group} -> {baseline}"))
        .collect();
    tracing::info!(
        file = %app.config.baselines.file,
        default = %set.default_baseline().id,
        groups = %groups.join(", "),
        "baselines"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default body limit takes the largest report; one below ~2.4 MB is named, with the
    /// size to raise it to.
    #[test]
    fn a_body_limit_below_the_largest_report_is_warned_about() {
        let defaults = crate::config::Config::default();
        assert_eq!(report_limit_warning(defaults.server.max_soap_body), None);
        let warning = report_limit_warning(1 << 20).unwrap();
        assert!(warning.contains("server.max_soap_body = 1048576"), "{warning}");
        assert!(warning.contains("at least 2433538"), "{warning}");
        assert_eq!(report_limit_warning(2_433_538), None);
    }
}
