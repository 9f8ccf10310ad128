//! The daemon's configuration: plain serde data with named defaults, human units, unknown keys
//! rejected with their path. `from_toml` parses text; `load` reads a file (or falls back to the
//! built-in defaults when the default path does not exist). Uses no other module.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `--config` points when it is not given.
pub const DEFAULT_PATH: &str = "config/wucache.toml";

/// `[upstream] proxy` value for no proxy at all, whatever the environment says.
pub const PROXY_NONE: &str = "none";

/// A configuration problem, naming the key (or file) to blame.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A key the configuration does not have (typos are errors, not ignored).
    #[error("config {origin}: unknown key `{key}`")]
    UnknownKey {
        /// Where the text came from (the file path, as `from_toml` was told).
        origin: String,
        /// The key's dotted path, e.g. `sync.intervall`.
        key: String,
    },
    /// A key whose value does not parse or is out of range.
    #[error("config {origin}: key `{key}`: {message}")]
    Invalid {
        /// Where the text came from (the file path, as `from_toml` was told).
        origin: String,
        /// The key's dotted path.
        key: String,
        /// What is wrong with the value.
        message: String,
    },
}

/// The whole `wucache.toml`: one field per `[section]`, every key defaulted.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Config {
    /// `[server]`: the client listeners.
    pub server: ServerConfig,
    /// `[tls]`: the certificate of the HTTPS listener (and of the admin listener with
    /// `admin.tls`).
    pub tls: TlsConfig,
    /// `[admin]`: the admin API listener and its token.
    pub admin: AdminConfig,
    /// `[upstream]`: where and how catalogs are synced from.
    pub upstream: UpstreamConfig,
    /// `[sync]`: what is mirrored and how often.
    pub sync: SyncConfig,
    /// `[storage]`: where the catalog store lives.
    pub storage: StorageConfig,
    /// `[content]`: the payload cache.
    pub content: ContentConfig,
    /// `[baselines]`: the approval baselines file.
    pub baselines: BaselinesConfig,
    /// `[reporting]`: bounds on what clients can make the server keep.
    pub reporting: ReportingConfig,
    /// `[downstream]`: other servers syncing from this one (MS-WSUSSS upstream role).
    pub downstream: DownstreamConfig,
    /// `[log]`: the log format.
    pub log: LogConfig,
}

/// How the daemon writes its log (to stderr).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
}

/// `text` for people, `json` (one object a line) for log shippers.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (colour on a terminal).
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Bounds on what clients can make the server keep, so a flood of fake client ids or events
/// cannot fill the disk.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct ReportingConfig {
    /// Most computers recorded; a new client id beyond it is served but not recorded, and
    /// its RegisterComputer is refused.
    pub max_computers: u64,
    /// Raw events kept per computer; the oldest go beyond it (statuses are folded first).
    pub max_events_per_computer: u64,
    /// Raw events are removed this long after they arrived.
    #[serde(with = "human_duration")]
    pub event_retention: Duration,
    /// New computers recorded per source address and minute (burst as large); a client over
    /// it is served but not recorded this time (its RegisterComputer is refused, and it
    /// registers at its next contact). 0 = no limit.
    pub new_computers_per_minute_per_ip: u32,
    /// Reported events taken per source address and minute (burst as large); the rest of a
    /// batch is dropped (counted) and the batch still answered. 0 = no limit.
    pub events_per_minute_per_ip: u32,
}

impl Default for ReportingConfig {
    fn default() -> Self {
        ReportingConfig {
            max_computers: 100_000,
            max_events_per_computer: 1_000,
            event_retention: Duration::from_secs(30 * 86400),
            new_computers_per_minute_per_ip: 600,
            events_per_minute_per_ip: 6000,
        }
    }
}

/// `[downstream]`: which downstream servers (a WSUS, or another wucache) may sync from this
/// one over MS-WSUSSS on the client listeners, as a WSUS upstream serves them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct DownstreamConfig {
    /// Serve `ServerSyncWebService.asmx` and `DssAuthWebService.asmx` at all.
    pub enabled: bool,
    /// Addresses and CIDR ranges downstream servers may sync from. The default is loopback
    /// and the private ranges (RFC 1918, RFC 4193); `[]` lets no one.
    pub allow: Vec<String>,
    /// When set, a downstream's DSS account name must carry it as one of its labels (a
    /// wucache spoke: `[upstream] account_name = "spoke-1.<secret>"`). Letters, digits and
    /// hyphens, at least 16. Empty: the address ranges alone decide.
    pub secret: String,
    /// Hand this server's baseline file to replica downstream servers (`[upstream] replica`).
    pub publish_baselines: bool,
}

impl Default for DownstreamConfig {
    fn default() -> Self {
        DownstreamConfig {
            enabled: true,
            allow: [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
            ]
            .map(String::from)
            .to_vec(),
            secret: String::new(),
            publish_baselines: true,
        }
    }
}

impl DownstreamConfig {
    /// The `allow` entries as networks (a plain address is a /32 or /128).
    pub fn allowed_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.allow
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("`{entry}` is neither an address nor a CIDR range"))
            })
            .collect()
    }
}

/// `[baselines]`: where the approval baselines and patch groups come from.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct BaselinesConfig {
    /// Approval baselines and patch groups: TOML (docs/baselines.md §8) or an AWS baseline JSON
    /// export. Empty: every mirrored update that is not expired is approved.
    pub file: String,
}

/// `[server]`: the listeners Windows Update clients talk to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServerConfig {
    /// Client listener (Windows Update clients), WSUS's HTTP port.
    pub http_listen: SocketAddr,
    /// Client listener over TLS (WSUS's HTTPS port is 8531), with the same routes; `None`
    /// (written `""`) = no HTTPS listener. Needs `[tls] cert` and `key`.
    #[serde(with = "optional_addr")]
    pub https_listen: Option<SocketAddr>,
    /// Base URL written into file locations; empty = from the request's Host header.
    pub public_url: String,
    /// Connections the client listener keeps open at once; more are closed at accept.
    pub max_connections: u32,
    /// Connections one source address may keep open at once.
    pub max_connections_per_ip: u32,
    /// Largest SOAP request body; a larger one is answered 413.
    #[serde(with = "human_size")]
    pub max_soap_body: u64,
    /// Bytes of SOAP request bodies held in memory at once, all clients together; a request
    /// that finds none free within 10 s is answered 503.
    #[serde(with = "human_size")]
    pub soap_body_budget: u64,
    /// SOAP requests parsed and answered at once (off the async threads); 0 = one per core.
    pub soap_workers: u32,
    /// Bytes of metadata fragments kept in memory, escaped and LZ4-compressed (Core,
    /// Extended, LocalizedProperties, Eula); 0 derives every fragment at every request.
    #[serde(with = "human_size")]
    pub fragment_cache: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen: ([0, 0, 0, 0], 8530).into(),
            https_listen: None,
            public_url: String::new(),
            max_connections: 4096,
            max_connections_per_ip: 64,
            max_soap_body: 4 << 20,
            soap_body_budget: 64 << 20,
            soap_workers: 0,
            fragment_cache: 64 << 20,
        }
    }
}

/// `[admin]`: the admin API's listener and bearer token.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct AdminConfig {
    /// Admin listener: `/health`, `/ready`, `/api/v1/...`.
    pub listen: SocketAddr,
    /// File holding the bearer token for `/api/v1`; empty = `<data_dir>/admin.token`,
    /// created on first start.
    pub token_file: String,
    /// Serve the admin listener over TLS with the `[tls]` certificate.
    pub tls: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: ([127, 0, 0, 1], 8539).into(),
            token_file: String::new(),
            tls: false,
        }
    }
}

/// `[tls]`: the server certificate, as PEM files. Re-read on reload (SIGHUP or
/// `POST /api/v1/reload`); connections already open keep the certificate they began with.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TlsConfig {
    /// The server's certificate, then any intermediate certificates (PEM).
    pub cert: String,
    /// The certificate's private key (PEM: PKCS#8, SEC1 or PKCS#1; not encrypted).
    pub key: String,
}

/// `[upstream]`: the server catalogs are synced from, and how calls to it are retried.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct UpstreamConfig {
    /// Microsoft Update or an upstream WSUS (`http://wsus:8530`); another wucache cannot be
    /// an upstream yet.
    pub server: String,
    /// Extra PEM trust roots for an upstream with a private CA; empty = web roots only.
    pub ca_file: String,
    /// The DSS account name sent in GetAuthorizationCookie (must look like an FQDN).
    pub account_name: String,
    /// Replica mode: the upstream is a wucache hub, and this server follows the hub's
    /// baselines and patch groups (fetched at every sync) instead of `[baselines] file`.
    pub replica: bool,
    /// Time allowed for one upstream request, connect to last byte.
    #[serde(with = "human_duration")]
    pub request_timeout: Duration,
    /// Attempts for one upstream call before the sync gives up on it.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt, with jitter, up to `max_backoff`.
    #[serde(with = "human_duration")]
    pub initial_backoff: Duration,
    /// Longest retry delay.
    #[serde(with = "human_duration")]
    pub max_backoff: Duration,
    /// Egress proxy for every upstream request, metadata and payloads: `http://host:port`
    /// (https:// upstreams go through it by CONNECT, TLS end to end). Empty = the standard
    /// environment variables (`https_proxy`, `http_proxy`, `no_proxy`); [`PROXY_NONE`] =
    /// straight to the upstream, the environment ignored.
    pub proxy: String,
    /// Targets that bypass the proxy: host names (each also matches its subdomains; a leading
    /// dot means the same), IP addresses, CIDR ranges, or `"*"` for all. With `proxy` empty,
    /// the environment's `no_proxy` entries are added.
    pub no_proxy: Vec<String>,
    /// File holding the proxy's credentials as one line `user:password` (Basic
    /// authentication); empty = none, or those in an environment proxy URL.
    pub proxy_auth_file: String,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            server: "https://sws.update.microsoft.com".into(),
            ca_file: String::new(),
            account_name: "wucache.localdomain".into(),
            replica: false,
            request_timeout: Duration::from_secs(300),
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            proxy: String::new(),
            no_proxy: Vec::new(),
            proxy_auth_file: String::new(),
        }
    }
}

/// `[sync]`: the products, classifications and languages mirrored, and how often.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct SyncConfig {
    /// Time between background syncs in `serve`; `"0s"` turns them off.
    #[serde(with = "human_duration")]
    pub interval: Duration,
    /// Products to mirror: GUIDs or English titles, or `"all"`. Empty = categories only.
    pub products: Vec<String>,
    /// Classifications to mirror: GUIDs or titles (e.g. "Security Updates"), or `"all"`.
    pub classifications: Vec<String>,
    /// Languages (short names such as "en"); empty or `"all"` = no language filter.
    pub languages: Vec<String>,
    /// Sync once at start-up of `serve`, before the first interval passes.
    pub on_start: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval: Duration::from_secs(6 * 3600),
            products: Vec::new(),
            classifications: vec![
                "Critical Updates".into(),
                "Security Updates".into(),
                "Definition Updates".into(),
            ],
            languages: vec!["en".into()],
            on_start: true,
        }
    }
}

/// `[storage]`: the data directory.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct StorageConfig {
    /// Where the catalog store, keys and tokens live.
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./data"),
        }
    }
}

/// When payloads are downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentMode {
    /// On a client's first request (pull-through).
    OnDemand,
    /// Ahead of time, after each sync, for every approved update.
    Prefetch,
    /// Both.
    Both,
}

/// `[content]`: how payloads are fetched, kept, evicted and served.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct ContentConfig {
    /// When payloads are downloaded; prefetch wants the files of approved updates unless
    /// `on-demand`.
    pub mode: ContentMode,
    /// Where payloads are kept; empty = `<data_dir>/content`.
    pub dir: String,
    /// Most bytes kept; least recently used payloads are evicted beyond it. `"0"` = no limit.
    #[serde(with = "human_size")]
    pub max_size: u64,
    /// Serve payloads of updates that are not approved (default: 404 for them).
    pub serve_unapproved: bool,
    /// Answer a client's single range as soon as its bytes have arrived from upstream,
    /// before the whole file's SHA-1 and SHA-256 are checked (Windows checks both itself).
    /// Off: nothing is sent before the file is verified and committed.
    pub serve_while_downloading: bool,
    /// Most upstream payload transfers running at once: client misses and prefetch together
    /// (a prefetch transfer takes a slot like a miss does).
    pub max_transfers: u32,
    /// Most transfers waiting for a slot; a client miss that would start one more is answered
    /// 503 with `Retry-After`. Prefetch waits however long the queue.
    pub max_queued: u32,
    /// Parallel downloads when prefetching (each also takes one of `max_transfers`).
    pub prefetch_concurrency: u32,
    /// Prefetch bandwidth cap in bytes per second (e.g. `"20M"`); `"0"` = no cap.
    #[serde(with = "human_size")]
    pub prefetch_rate: u64,
    /// Attempts per payload transfer; each resumes where the last stopped.
    pub attempts: u32,
    /// Longest silence allowed between two chunks of a payload download.
    #[serde(with = "human_duration")]
    pub idle_timeout: Duration,
    /// Payloads no approved update references are removed after this long.
    #[serde(with = "human_duration")]
    pub unreferenced_grace: Duration,
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            mode: ContentMode::OnDemand,
            dir: String::new(),
            max_size: 0,
            serve_unapproved: false,
            serve_while_downloading: false,
            max_transfers: 8,
            max_queued: 64,
            prefetch_concurrency: 4,
            prefetch_rate: 0,
            attempts: 5,
            idle_timeout: Duration::from_secs(60),
            unreferenced_grace: Duration::from_secs(7 * 86400),
        }
    }
}

impl Config {
    /// Parses TOML text. `origin` names the source in error messages (a path or "text").
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut unknown = Vec::new();
        let deserializer = toml::Deserializer::new(text);
        let mut note_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let tracked = serde_ignored::Deserializer::new(deserializer, &mut note_unknown);
        let config: Config =
            serde_path_to_error::deserialize(tracked).map_err(|err| ConfigError::Invalid {
                origin: origin.to_string(),
                key: err.path().to_string(),
                message: first_line(&err.inner().to_string()),
            })?;
        if let Some(key) = unknown.into_iter().next() {
            return Err(ConfigError::UnknownKey {
                origin: origin.to_string(),
                key,
            });
        }
        config.validate(origin)?;
        Ok(config)
    }

    /// Reads `path`; when `path` is the default path and does not exist, the built-in
    /// defaults apply (a fresh checkout runs with no config file).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let explicit = path.is_some();
        let path = path.unwrap_or_else(|| Path::new(DEFAULT_PATH));
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_toml(&text, &path.display().to_string()),
            Err(err) if !explicit && err.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Checks what serde cannot: URLs, counts, orderings.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let server = &self.upstream.server;
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(invalid(
                "upstream.server",
                format!("`{server}` is not an http:// or https:// URL"),
            ));
        }
        if self.upstream.max_attempts == 0 {
            return Err(invalid("upstream.max_attempts", "must be at least 1".into()));
        }
        if self.upstream.initial_backoff > self.upstream.max_backoff {
            return Err(invalid(
                "upstream.initial_backoff",
                "must not exceed upstream.max_backoff".into(),
            ));
        }
        if self.upstream.request_timeout.is_zero() {
            return Err(invalid("upstream.request_timeout", "must be above zero".into()));
        }
        self.validate_proxy(origin)?;
        if self.reporting.max_computers == 0 {
            return Err(invalid("reporting.max_computers", "must be at least 1".into()));
        }
        if self.content.prefetch_concurrency == 0 {
            return Err(invalid(
                "content.prefetch_concurrency",
                "must be at least 1".into(),
            ));
        }
        if self.content.max_transfers == 0 {
            return Err(invalid("content.max_transfers", "must be at least 1".into()));
        }
        if self.content.attempts == 0 {
            return Err(invalid("content.attempts", "must be at least 1".into()));
        }
        if self.server.max_connections == 0 || self.server.max_connections_per_ip == 0 {
            let key = if self.server.max_connections == 0 {
                "server.max_connections"
            } else {
                "server.max_connections_per_ip"
            };
            return Err(invalid(key, "must be at least 1".into()));
        }
        if self.server.max_soap_body < 64 << 10 {
            return Err(invalid("server.max_soap_body", "must be at least 64K".into()));
        }
        if self.server.soap_body_budget < self.server.max_soap_body {
            return Err(invalid(
                "server.soap_body_budget",
                "must be at least server.max_soap_body".into(),
            ));
        }
        let url = &self.server.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                "server.public_url",
                format!("`{url}` is not an http:// or https:// URL"),
            ));
        }
        self.validate_downstream(origin)?;
        self.validate_tls(origin)
    }

    fn validate_downstream(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        self.downstream
            .allowed_networks()
            .map_err(|message| invalid("downstream.allow", message))?;
        let secret = &self.downstream.secret;
        if !secret.is_empty()
            && (secret.len() < 16
                || secret.len() > 63
                || !secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(invalid(
                "downstream.secret",
                "must be 16 to 63 letters, digits or hyphens (it travels as a DNS label of the account name)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// `proxy` is empty, `none` or `http://host:port`; every `no_proxy` entry is one host, IP
    /// or CIDR range.
    fn validate_proxy(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let proxy = self.upstream.proxy.trim();
        if !(proxy.is_empty() || proxy == PROXY_NONE) {
            let url = ProxyUrl::parse(proxy).map_err(|e| invalid("upstream.proxy", e))?;
            if url.userinfo.is_some() {
                return Err(invalid(
                    "upstream.proxy",
                    "credentials do not belong in the URL: put `user:password` in upstream.proxy_auth_file"
                        .into(),
                ));
            }
        }
        for entry in &self.upstream.no_proxy {
            check_no_proxy_entry(entry).map_err(|e| invalid("upstream.no_proxy", e))?;
        }
        Ok(())
    }

    /// A listener on TLS needs both PEM files named; a certificate with no key (or the
    /// reverse) is a mistake whether or not a listener uses it.
    fn validate_tls(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message: message.to_string(),
        };
        let user = match (self.server.https_listen.is_some(), self.admin.tls) {
            (true, _) => Some("server.https_listen is set"),
            (false, true) => Some("admin.tls is on"),
            (false, false) => None,
        };
        let (cert, key) = (self.tls.cert.is_empty(), self.tls.key.is_empty());
        match user {
            Some(user) if cert => Err(invalid(
                "tls.cert",
                &format!("must name the server certificate's PEM file, as {user}"),
            )),
            Some(user) if key => Err(invalid(
                "tls.key",
                &format!("must name the private key's PEM file, as {user}"),
            )),
            _ if cert != key => {
                let (missing, given) = if cert {
                    ("tls.cert", "tls.key")
                } else {
                    ("tls.key", "tls.cert")
                };
                Err(invalid(missing, &format!("must be set with {given}")))
            }
            _ => Ok(()),
        }
    }

    /// Some listener serves TLS, so `[tls]` must load.
    pub fn tls_in_use(&self) -> bool {
        self.server.https_listen.is_some() || self.admin.tls
    }

    /// The payload cache directory, defaulting into the data dir.
    pub fn content_dir(&self) -> PathBuf {
        if self.content.dir.is_empty() {
            self.storage.data_dir.join("content")
        } else {
            PathBuf::from(&self.content.dir)
        }
    }

    /// The admin token file, defaulting into the data dir.
    pub fn token_path(&self) -> PathBuf {
        if self.admin.token_file.is_empty() {
            self.storage.data_dir.join("admin.token")
        } else {
            PathBuf::from(&self.admin.token_file)
        }
    }
}

/// A proxy address as `[upstream] proxy` and the proxy environment variables write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// `host:port`.
    pub authority: String,
    /// What stood before an `@` (`user:password`, percent-encoded), if anything.
    pub userinfo: Option<String>,
}

impl ProxyUrl {
    /// Parses `http://host:port`, a trailing `/` allowed. Other schemes are refused, `https://`
    /// too: the hop to the proxy is plain HTTP, and https:// targets go through it by CONNECT.
    /// The message never repeats the text (it may hold a password).
    pub fn parse(text: &str) -> Result<ProxyUrl, String> {
        let rest = match text.trim().split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(
                    "https:// proxies are not supported; name the proxy as http://host:port \
                    (https upstreams still go through it encrypted end to end, by CONNECT)"
                        .into(),
                )
            }
            Some((scheme, _)) => {
                return Err(format!(
                    "{scheme}:// proxies are not supported; use http://host:port"
                ))
            }
            None => return Err("must be an http://host:port URL".into()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err("must be http://host:port, without a path".into());
        }
        let (userinfo, authority) = match rest.rsplit_once('@') {
            Some((userinfo, authority)) => (Some(userinfo.to_string()), authority),
            None => (None, rest),
        };
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err("must name the port: http://host:port".into());
        };
        if !port.parse::<u16>().is_ok_and(|p| p > 0) || !is_host(host) {
            return Err("must be http://host:port with a host name or IP address and a port number".into());
        }
        Ok(ProxyUrl {
            authority: authority.to_string(),
            userinfo,
        })
    }
}

/// A DNS name, an IPv4 address, or an IPv6 address in brackets.
fn is_host(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        }
    }
}

/// One `no_proxy` entry: `*`, a host name (a leading dot allowed), an IP address or a CIDR
/// range (a mistyped range would otherwise be taken for a host name and never match).
fn check_no_proxy_entry(entry: &str) -> Result<(), String> {
    let entry = entry.trim();
    if entry == "*" {
        return Ok(());
    }
    if let Some((address, bits)) = entry.split_once('/') {
        let max = match address.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => 32,
            Ok(std::net::IpAddr::V6(_)) => 128,
            Err(_) => return Err(format!("`{entry}` is not a CIDR range like \"10.0.0.0/8\"")),
        };
        return match bits.parse::<u8>() {
            Ok(bits) if bits <= max => Ok(()),
            _ => Err(format!("`{entry}` has a prefix length above {max}")),
        };
    }
    let host = entry.strip_prefix('.').unwrap_or(entry);
    if entry.parse::<std::net::IpAddr>().is_ok() || is_host(host) {
        Ok(())
    } else {
        Err(format!(
            "`{entry}` is not a host name, IP address, CIDR range or \"*\" (one entry per string)"
        ))
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// An optional listen address: `""` (or absent) = none, else `"host:port"`.
mod optional_addr {
    use serde::{Deserialize, Deserializer};
    use std::net::SocketAddr;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.trim() {
            "" => Ok(None),
            addr => addr.parse().map(Some).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{text}` is not an address like \"0.0.0.0:8531\" (or \"\" for none)"
                ))
            }),
        }
    }
}

/// Durations written as humans write them: `"30s"`, `"5m"`, `"6h"`, `"1d"`.
mod human_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map_err(|err| serde::de::Error::custom(format!("`{text}` is not a duration like \"6h\": {err}")))
    }
}

/// Byte sizes written as humans write them: `"0"`, `"512K"`, `"200G"`, `"1.5T"` (binary
/// multiples; a trailing `B` or `iB` is accepted).
mod human_size {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a size like \"200G\"")))
    }

    pub(super) fn parse(text: &str) -> Option<u64> {
        let text = text.trim();
        let text = text
            .strip_suffix("iB")
            .or_else(|| text.strip_suffix('B'))
            .unwrap_or(text)
            .trim_end();
        let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
            Some((at, _)) => (&text[..at], &text[at..]),
            None => (text, ""),
        };
        let shift = match unit.to_ascii_uppercase().as_str() {
            "" => 0,
            "K" => 10,
            "M" => 20,
            "G" => 30,
            "T" => 40,
            _ => return None,
        };
        let value: f64 = number
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
        Some((value * (1u64 << shift) as f64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_parses_to_the_defaults() {
        let text = include_str!("../config/wucache.toml");
        let config = Config::from_toml(text, "config/wucache.toml").unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let err = Config::from_toml("[sync]\nintervall = \"1h\"\n", "t").unwrap_err();
        assert_eq!(err.to_string(), "config t: unknown key `sync.intervall`");
        let err = Config::from_toml("[syncs]\n", "t").unwrap_err();
        assert!(err.to_string().contains("`syncs`"), "{err}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = Config::from_toml("[sync]\ninterval = \"soon\"\n", "t").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("key `sync.interval`"), "{text}");
        let err = Config::from_toml("[upstream]\nserver = \"ftp://x\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("upstream.server"), "{err}");
    }

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(human_size::parse("0"), Some(0));
        assert_eq!(human_size::parse("200G"), Some(200 << 30));
        assert_eq!(human_size::parse("1.5 TiB"), Some(3 << 39));
        assert_eq!(human_size::parse("512kB"), Some(512 << 10));
        assert_eq!(human_size::parse("lots"), None);
        let err = Config::from_toml("[content]\nmax_size = \"big\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("content.max_size"), "{err}");
        let err = Config::from_toml("[content]\nmode = \"always\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("content.mode"), "{err}");
    }

    #[test]
    fn https_listen_is_off_when_empty_and_needs_a_certificate_when_set() {
        let config = Config::from_toml("[server]\nhttps_listen = \"\"\n", "t").unwrap();
        assert_eq!(config.server.https_listen, None);
        let err = Config::from_toml("[server]\nhttps_listen = \"0.0.0.0:8531\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("key `tls.cert`"), "{err}");
        let err = Config::from_toml("[server]\nhttps_listen = \"8531\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("key `server.https_listen`"), "{err}");
        let text = "[server]\nhttps_listen = \"[::]:8531\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";
        let config = Config::from_toml(text, "t").unwrap();
        assert_eq!(config.server.https_listen, Some("[::]:8531".parse().unwrap()));
        assert!(config.tls_in_use());
    }

    #[test]
    fn tls_keys_come_in_pairs() {
        let err = Config::from_toml("[admin]\ntls = true\n[tls]\ncert = \"c.pem\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("key `tls.key`"), "{err}");
        assert!(err.to_string().contains("admin.tls"), "{err}");
        let err = Config::from_toml("[tls]\nkey = \"k.pem\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("key `tls.cert`"), "{err}");
        let config = Config::from_toml("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n", "t").unwrap();
        assert!(!config.tls_in_use());
    }

    #[test]
    fn transfer_limits_parse_and_at_least_one_transfer_runs() {
        let config = Config::from_toml("[content]\nmax_transfers = 2\nmax_queued = 0\n", "t").unwrap();
        assert_eq!((config.content.max_transfers, config.content.max_queued), (2, 0));
        let err = Config::from_toml("[content]\nmax_transfers = 0\n", "t").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config t: key `content.max_transfers`: must be at least 1"
        );
    }

    #[test]
    fn proxy_is_empty_none_or_an_http_url_with_a_port() {
        for ok in [
            "",
            "none",
            "http://proxy.corp.example:3128",
            "http://10.0.0.1:8080/",
            "http://[::1]:3128",
        ] {
            let text = format!("[upstream]\nproxy = \"{ok}\"\n");
            let config = Config::from_toml(&text, "t").unwrap();
            assert_eq!(config.upstream.proxy, ok);
        }
        for (bad, says) in [
            ("https://proxy:3128", "https:// proxies are not supported"),
            ("socks5://proxy:1080", "socks5:// proxies are not supported"),
            ("proxy:3128", "http://host:port"),
            ("http://proxy", "must name the port"),
            ("http://proxy:0", "port number"),
            ("http://proxy:3128/path", "without a path"),
            ("http://pro xy:3128", "host name"),
        ] {
            let text = format!("[upstream]\nproxy = \"{bad}\"\n");
            let err = Config::from_toml(&text, "t").unwrap_err().to_string();
            assert!(
                err.contains("key `upstream.proxy`") && err.contains(says),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn proxy_credentials_go_in_the_auth_file_not_the_url() {
        let text = "[upstream]\nproxy = \"http://alice:s3cret@proxy:3128\"\n";
        let err = Config::from_toml(text, "t").unwrap_err().to_string();
        assert!(err.contains("upstream.proxy_auth_file"), "{err}");
        assert!(!err.contains("s3cret"), "the password is not repeated: {err}");
    }

    #[test]
    fn no_proxy_entries_are_hosts_ips_cidr_ranges_or_a_star() {
        let text = "[upstream]\nno_proxy = [\"10.0.0.0/8\", \".corp.example\", \"wsus.local\", \"::1\", \"fd00::/8\", \"*\"]\n";
        let config = Config::from_toml(text, "t").unwrap();
        assert_eq!(config.upstream.no_proxy.len(), 6);
        for bad in ["10.0.0.0/33", "corp/8", "a.example, b.example", ""] {
            let text = format!("[upstream]\nno_proxy = [\"{bad}\"]\n");
            let err = Config::from_toml(&text, "t").unwrap_err().to_string();
            assert!(err.contains("key `upstream.no_proxy`"), "{bad}: {err}");
        }
    }

    #[test]
    fn human_units_parse() {
        let config = Config::from_toml("[sync]\ninterval = \"90m\"\n", "t").unwrap();
        assert_eq!(config.sync.interval, Duration::from_secs(5400));
    }

    #[test]
    fn missing_default_file_means_defaults_but_missing_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        assert!(Config::load(Some(&missing)).is_err());
    }
}
