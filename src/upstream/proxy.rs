//! Which way an upstream request goes: straight, or through an HTTP proxy — `[upstream]
//! proxy`, or when that is empty the environment's `https_proxy` / `http_proxy` — unless a
//! `no_proxy` entry matches the target. Choosing the settings is a pure function of the
//! config and an environment map; matching a target is hyper-util's proxy `Matcher` (curl's
//! `NO_PROXY` rules: names with their subdomains, IPs, CIDR ranges, `*`).

use crate::config::{ProxyUrl, UpstreamConfig, PROXY_NONE};
use base64::Engine as _;
use hyper::header::HeaderValue;
use hyper::Uri;
use hyper_util::client::proxy::matcher::Matcher;
use std::collections::HashMap;
use std::path::Path;

/// The variables for https:// targets, in order of preference (lower case first, as curl).
const HTTPS_VARS: [&str; 2] = ["https_proxy", "HTTPS_PROXY"];
/// The variables for http:// targets (curl reads only the lower-case one; upper case is the
/// fallback here).
const HTTP_VARS: [&str; 2] = ["http_proxy", "HTTP_PROXY"];
/// The bypass list variables, comma-separated.
const NO_PROXY_VARS: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// Why the proxy settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `upstream.proxy` is not `http://host:port` (`Config::validate` reports it first).
    #[error("config key `upstream.proxy`: {message}")]
    Config {
        /// What is wrong with it.
        message: String,
    },
    /// A proxy variable in the environment is not an http:// proxy.
    #[error(
        "environment variable {name}: {message} (upstream.proxy = \"none\" ignores the proxy environment)"
    )]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong with it (never its value, which may hold a password).
        message: String,
    },
    /// The credentials file cannot be read or does not hold `user:password`.
    #[error("config key `upstream.proxy_auth_file`: {path}: {message}")]
    AuthFile {
        /// The file.
        path: String,
        /// Why it cannot be used.
        message: String,
    },
}

/// One proxy and where it was named (`upstream.proxy` or a variable), for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) url: ProxyUrl,
    pub(crate) source: &'static str,
}

/// The proxy settings in force: one proxy per target scheme, and the bypass entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) http: Option<Named>,
    pub(crate) https: Option<Named>,
    pub(crate) no_proxy: Vec<String>,
}

/// The settings from `[upstream]`, or from `env` (variable → value) when `proxy` is empty.
pub(crate) fn settings(
    upstream: &UpstreamConfig,
    env: &HashMap<String, String>,
) -> Result<Settings, ProxyError> {
    let proxy = upstream.proxy.trim();
    let mut no_proxy = upstream.no_proxy.clone();
    if proxy == PROXY_NONE {
        return Ok(Settings::default());
    }
    if !proxy.is_empty() {
        let url = ProxyUrl::parse(proxy).map_err(|message| ProxyError::Config { message })?;
        let named = Some(Named {
            url,
            source: "upstream.proxy",
        });
        return Ok(Settings {
            http: named.clone(),
            https: named,
            no_proxy,
        });
    }
    if let Some((_, list)) = first_set(env, &NO_PROXY_VARS) {
        no_proxy.extend(
            list.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(String::from),
        );
    }
    Ok(Settings {
        http: from_env(env, &HTTP_VARS)?,
        https: from_env(env, &HTTPS_VARS)?,
        no_proxy,
    })
}

/// The first of `names` set to something other than blanks.
fn first_set<'a>(
    env: &'a HashMap<String, String>,
    names: &[&'static str],
) -> Option<(&'static str, &'a str)> {
    names.iter().find_map(|&name| {
        env.get(name)
            .map(|v| (name, v.trim()))
            .filter(|(_, v)| !v.is_empty())
    })
}

/// A proxy variable's URL; one without a scheme is taken as http://, as curl does.
fn from_env(env: &HashMap<String, String>, names: &[&'static str]) -> Result<Option<Named>, ProxyError> {
    let Some((name, value)) = first_set(env, names) else {
        return Ok(None);
    };
    let text = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = ProxyUrl::parse(&text).map_err(|message| ProxyError::Env { name, message })?;
    Ok(Some(Named { url, source: name }))
}

/// The proxy variables of this process (only those, so nothing else is copied around).
pub(crate) fn process_env() -> HashMap<String, String> {
    [HTTPS_VARS, HTTP_VARS, NO_PROXY_VARS]
        .concat()
        .into_iter()
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect()
}

/// Reads `user:password` (one line; a trailing newline is dropped) as a Basic
/// `Proxy-Authorization` value, marked sensitive so it is never logged.
pub(crate) fn read_credentials(path: &Path) -> Result<HeaderValue, ProxyError> {
    let fail = |message: String| ProxyError::AuthFile {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let line = text.trim_end_matches(['\r', '\n']);
    match line.split_once(':') {
        Some((user, _)) if !user.is_empty() && !line.contains(['\r', '\n']) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(line);
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(|_| fail("unusable characters".into()))?;
            value.set_sensitive(true);
            Ok(value)
        }
        _ => Err(fail("must hold one line `user:password`".into())),
    }
}

/// A request's way through a proxy.
#[derive(Clone)]
pub(crate) struct Route {
    /// `http://host:port/`, where the connection goes.
    pub(crate) uri: Uri,
    /// `http://host:port`, for messages (no credentials).
    pub(crate) name: String,
    /// The `Proxy-Authorization` value, if credentials are known.
    pub(crate) auth: Option<HeaderValue>,
}

/// The proxies in force, ready to route targets.
pub(crate) struct Proxies {
    matcher: Matcher,
    settings: Settings,
    /// From `proxy_auth_file`; before any credentials in an environment URL.
    auth: Option<HeaderValue>,
}

impl Proxies {
    pub(crate) fn new(settings: Settings, auth: Option<HeaderValue>) -> Proxies {
        let url = |named: &Option<Named>| {
            named
                .as_ref()
                .map_or_else(String::new, |n| match &n.url.userinfo {
                    Some(userinfo) => format!("http://{userinfo}@{}", n.url.authority),
                    None => format!("http://{}", n.url.authority),
                })
        };
        let matcher = Matcher::builder()
            .http(url(&settings.http))
            .https(url(&settings.https))
            .no(settings.no_proxy.join(","))
            .build();
        Proxies {
            matcher,
            settings,
            auth,
        }
    }

    /// The proxy for `target`, or `None` to connect straight.
    pub(crate) fn route(&self, target: &Uri) -> Option<Route> {
        let intercept = self.matcher.intercept(target)?;
        let uri = intercept.uri().clone();
        let name = format!("http://{}", uri.authority()?);
        let auth = self.auth.clone().or_else(|| intercept.basic_auth().cloned());
        Some(Route { uri, name, auth })
    }

    /// One line for the log: each proxy, where it was named, and the bypasses; never
    /// credentials.
    pub(crate) fn describe(&self) -> String {
        let one = |named: &Option<Named>| match named {
            Some(n) => format!("http://{} (from {})", n.url.authority, n.source),
            None => "direct".to_string(),
        };
        let (http, https) = (one(&self.settings.http), one(&self.settings.https));
        let mut text = if http == https {
            http
        } else {
            format!("https targets {https}, http targets {http}")
        };
        if !self.settings.no_proxy.is_empty()
            && (self.settings.http.is_some() || self.settings.https.is_some())
        {
            text.push_str(&format!("; bypassed for {}", self.settings.no_proxy.join(", ")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn upstream(proxy: &str, no_proxy: &[&str]) -> UpstreamConfig {
        UpstreamConfig {
            proxy: proxy.into(),
            no_proxy: no_proxy.iter().map(|s| s.to_string()).collect(),
            ..UpstreamConfig::default()
        }
    }

    fn proxies(proxy: &str, no_proxy: &[&str], vars: &[(&str, &str)]) -> Proxies {
        Proxies::new(settings(&upstream(proxy, no_proxy), &env(vars)).unwrap(), None)
    }

    fn via(proxies: &Proxies, target: &str) -> Option<String> {
        proxies.route(&target.parse().unwrap()).map(|r| r.name)
    }

    #[test]
    fn configured_proxy_serves_both_schemes_and_the_environment_is_ignored() {
        let vars = [("https_proxy", "http://env:1"), ("no_proxy", "*")];
        let p = proxies("http://proxy:3128", &[], &vars);
        assert_eq!(
            via(&p, "https://sws.update.microsoft.com/x").as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(
            via(&p, "http://download.windowsupdate.com/c/a.cab").as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(p.describe(), "http://proxy:3128 (from upstream.proxy)");
    }

    #[test]
    fn none_means_direct_whatever_the_environment_says() {
        let p = proxies(
            "none",
            &[],
            &[("https_proxy", "http://env:1"), ("http_proxy", "http://env:2")],
        );
        assert_eq!(via(&p, "https://sws.update.microsoft.com/"), None);
        assert_eq!(via(&p, "http://download.windowsupdate.com/"), None);
        assert_eq!(p.describe(), "direct");
    }

    #[test]
    fn empty_proxy_takes_each_scheme_from_its_variable_lower_case_first() {
        let vars = [
            ("HTTPS_PROXY", "http://upper-s:1"),
            ("https_proxy", "http://lower-s:2"),
            ("HTTP_PROXY", "http://upper:3"),
            ("http_proxy", "lower:4"),
        ];
        let p = proxies("", &[], &vars);
        assert_eq!(via(&p, "https://a.example/").as_deref(), Some("http://lower-s:2"));
        assert_eq!(via(&p, "http://a.example/").as_deref(), Some("http://lower:4"));
        let p = proxies("", &[], &[("HTTPS_PROXY", "http://upper-s:1")]);
        assert_eq!(via(&p, "https://a.example/").as_deref(), Some("http://upper-s:1"));
        assert_eq!(
            via(&p, "http://a.example/"),
            None,
            "no http_proxy: http goes direct"
        );
        assert_eq!(
            p.describe(),
            "https targets http://upper-s:1 (from HTTPS_PROXY), http targets direct"
        );
    }

    #[test]
    fn blank_variables_count_as_unset() {
        let p = proxies(
            "",
            &[],
            &[("https_proxy", "  "), ("HTTPS_PROXY", "http://upper:1")],
        );
        assert_eq!(via(&p, "https://a.example/").as_deref(), Some("http://upper:1"));
        assert_eq!(proxies("", &[], &[]).describe(), "direct");
    }

    #[test]
    fn an_unusable_proxy_variable_is_an_error_naming_it_without_its_value() {
        let vars = env(&[("https_proxy", "socks5://bob:hunter2@proxy:1080")]);
        let err = settings(&upstream("", &[]), &vars).unwrap_err().to_string();
        assert!(err.contains("https_proxy") && err.contains("socks5"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("upstream.proxy = \"none\""), "{err}");
    }

    #[test]
    fn no_proxy_matches_names_with_subdomains_ips_and_cidr_ranges() {
        let p = proxies(
            "http://proxy:3128",
            &[
                "10.0.0.0/8",
                ".corp.example",
                "wsus.local",
                "192.168.1.7",
                "fd00::/8",
            ],
            &[],
        );
        for direct in [
            "http://10.1.2.3:8530/",
            "https://a.corp.example/",
            "https://corp.example/",
            "http://wsus.local:8530/",
            "http://b.wsus.local/",
            "http://192.168.1.7/",
            "http://[fd00::1]:8530/",
            "HTTP://WSUS.LOCAL/",
        ] {
            assert_eq!(via(&p, direct), None, "{direct}");
        }
        for proxied in [
            "http://11.0.0.1/",
            "https://notcorp.example/",
            "http://wsus.local.evil.example/",
            "http://192.168.1.8/",
            "https://sws.update.microsoft.com/",
        ] {
            assert!(via(&p, proxied).is_some(), "{proxied}");
        }
        assert_eq!(
            p.describe(),
            "http://proxy:3128 (from upstream.proxy); bypassed for 10.0.0.0/8, .corp.example, wsus.local, 192.168.1.7, fd00::/8"
        );
    }

    #[test]
    fn star_bypasses_everything() {
        let p = proxies("http://proxy:3128", &["*"], &[]);
        assert_eq!(via(&p, "https://sws.update.microsoft.com/"), None);
    }

    #[test]
    fn environment_no_proxy_is_added_to_the_configured_list() {
        let vars = [
            ("http_proxy", "http://env:1"),
            ("NO_PROXY", "a.example, 127.0.0.1"),
        ];
        let p = proxies("", &["b.example"], &vars);
        for direct in ["http://a.example/", "http://b.example/", "http://127.0.0.1:8530/"] {
            assert_eq!(via(&p, direct), None, "{direct}");
        }
        assert!(via(&p, "http://c.example/").is_some());
        let p = proxies("http://proxy:3128", &[], &vars);
        assert!(
            via(&p, "http://a.example/").is_some(),
            "a configured proxy ignores NO_PROXY"
        );
    }

    #[test]
    fn credentials_come_from_the_file_before_the_environment_url() {
        let vars = [("https_proxy", "http://bob:pw%40x@env:1")];
        let p = proxies("", &[], &vars);
        let route = p.route(&"https://a.example/".parse().unwrap()).unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("bob:pw@x");
        assert_eq!(route.auth.unwrap(), format!("Basic {expected}").as_str());
        assert_eq!(route.name, "http://env:1");
        assert!(!p.describe().contains("bob"), "{}", p.describe());
        let file = HeaderValue::from_static("Basic ZmlsZTpwdw==");
        let p = Proxies::new(
            settings(&upstream("", &[]), &env(&vars)).unwrap(),
            Some(file.clone()),
        );
        let route = p.route(&"https://a.example/".parse().unwrap()).unwrap();
        assert_eq!(route.auth, Some(file));
    }

    #[test]
    fn credentials_file_is_one_user_password_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth");
        std::fs::write(&path, "alice:s3cret:with:colons\n").unwrap();
        let value = read_credentials(&path).unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:with:colons");
        assert_eq!(value, format!("Basic {expected}").as_str());
        assert!(value.is_sensitive());
        for bad in ["alice\n", ":pw\n", "alice:pw\nbob:pw\n", ""] {
            std::fs::write(&path, bad).unwrap();
            let err = read_credentials(&path).unwrap_err().to_string();
            assert!(
                err.contains("upstream.proxy_auth_file") && err.contains("user:password"),
                "{err}"
            );
        }
        let err = read_credentials(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("upstream.proxy_auth_file") && err.contains("missing"),
            "{err}"
        );
    }
}
