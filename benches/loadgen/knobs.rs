//! The benchmark's settings, read from the environment (the knobs are listed in the
//! benchmark's top doc comment), and the exact command that reproduces a run.

use crate::profile::Mode;
use crate::scenario::{self, Scenario};
use std::time::Duration;

/// Settings from the environment.
pub(crate) struct Knobs {
    pub(crate) scenarios: Vec<Scenario>,
    pub(crate) quick: bool,
    pub(crate) clients: usize,
    /// Seconds of arrivals per step; `None`: the scenario's own.
    pub(crate) step_seconds: Option<f64>,
    pub(crate) rates: Option<Vec<f64>>,
    pub(crate) start_rate: Option<f64>,
    pub(crate) factor: f64,
    pub(crate) max_steps: usize,
    pub(crate) p99_ms: f64,
    pub(crate) timeout: Duration,
    pub(crate) drain: Duration,
    pub(crate) trip_limit: usize,
    /// Updates listed as needed in event 156 at most (0: all offered for install).
    pub(crate) needed: usize,
    /// How machines evaluate non-leaf revisions.
    pub(crate) profile: Mode,
    /// Run a step of returning clients after the search.
    pub(crate) returning: bool,
    /// Longest wait before a step for other processes to leave the cores.
    pub(crate) quiet_wait: Duration,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number(name: &str, default: f64) -> f64 {
    env(name)
        .and_then(|v| v.trim().parse().ok())
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .unwrap_or(default)
}

impl Knobs {
    pub(crate) fn from_env() -> Knobs {
        let quick = env("WUCACHE_LOADGEN_QUICK").is_some_and(|v| v != "0");
        let names =
            env("WUCACHE_LOADGEN_SCENARIOS").unwrap_or_else(|| if quick { "quick" } else { "a,b,c" }.into());
        let scenarios = names
            .split(',')
            .map(|n| {
                scenario::by_name(n.trim())
                    .unwrap_or_else(|| panic!("unknown scenario {n:?} (a, b, c, d, quick)"))
            })
            .collect();
        let rates = env("WUCACHE_LOADGEN_RATES")
            .map(|v| {
                v.split(',')
                    .filter_map(|r| r.trim().parse().ok())
                    .filter(|r: &f64| *r > 0.0)
                    .collect()
            })
            .or_else(|| quick.then(|| vec![2.0, 4.0]));
        Knobs {
            scenarios,
            quick,
            clients: number("WUCACHE_LOADGEN_CLIENTS", if quick { 50.0 } else { 1_000.0 }) as usize,
            step_seconds: env("WUCACHE_LOADGEN_STEP_SECONDS")
                .map(|_| number("WUCACHE_LOADGEN_STEP_SECONDS", 15.0)),
            rates,
            start_rate: env("WUCACHE_LOADGEN_START_RATE").map(|_| number("WUCACHE_LOADGEN_START_RATE", 1.0)),
            factor: number("WUCACHE_LOADGEN_FACTOR", 1.5).max(1.05),
            max_steps: number("WUCACHE_LOADGEN_MAX_STEPS", 12.0) as usize,
            p99_ms: number("WUCACHE_LOADGEN_P99_MS", 100.0),
            timeout: Duration::from_secs_f64(number("WUCACHE_LOADGEN_TIMEOUT", 30.0)),
            drain: Duration::from_secs_f64(number("WUCACHE_LOADGEN_DRAIN", 120.0)),
            trip_limit: number("WUCACHE_LOADGEN_TRIP_LIMIT", 1_000.0) as usize,
            quiet_wait: Duration::from_secs_f64(
                env("WUCACHE_LOADGEN_QUIET_WAIT")
                    .and_then(|v| v.trim().parse().ok())
                    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                    .unwrap_or(if quick { 0.0 } else { 120.0 }),
            ),
            returning: env("WUCACHE_LOADGEN_RETURNING").is_none_or(|v| v != "0"),
            needed: env("WUCACHE_LOADGEN_NEEDED")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            profile: env("WUCACHE_LOADGEN_PROFILE").map_or(Mode::Fleet, |v| {
                Mode::parse(v.trim())
                    .unwrap_or_else(|| panic!("unknown profile {v:?} (fleet, all-installed)"))
            }),
        }
    }

    /// The command that runs the benchmark with these settings.
    pub(crate) fn command(&self) -> String {
        let names: Vec<&str> = self.scenarios.iter().map(|s| s.name).collect();
        let mut vars = vec![
            format!("WUCACHE_LOADGEN_SCENARIOS={}", names.join(",")),
            format!("WUCACHE_LOADGEN_CLIENTS={}", self.clients),
        ];
        if let Some(seconds) = self.step_seconds {
            vars.push(format!("WUCACHE_LOADGEN_STEP_SECONDS={seconds}"));
        }
        match &self.rates {
            Some(rates) => {
                let rates: Vec<String> = rates.iter().map(f64::to_string).collect();
                vars.push(format!("WUCACHE_LOADGEN_RATES={}", rates.join(",")));
            }
            None => {
                if let Some(rate) = self.start_rate {
                    vars.push(format!("WUCACHE_LOADGEN_START_RATE={rate}"));
                }
                vars.push(format!("WUCACHE_LOADGEN_FACTOR={}", self.factor));
                vars.push(format!("WUCACHE_LOADGEN_MAX_STEPS={}", self.max_steps));
            }
        }
        vars.push(format!("WUCACHE_LOADGEN_P99_MS={}", self.p99_ms));
        vars.push(format!("WUCACHE_LOADGEN_TIMEOUT={}", self.timeout.as_secs_f64()));
        vars.push(format!("WUCACHE_LOADGEN_DRAIN={}", self.drain.as_secs_f64()));
        vars.push(format!("WUCACHE_LOADGEN_TRIP_LIMIT={}", self.trip_limit));
        vars.push(format!("WUCACHE_LOADGEN_NEEDED={}", self.needed));
        vars.push(format!("WUCACHE_LOADGEN_PROFILE={}", self.profile.name()));
        vars.push(format!(
            "WUCACHE_LOADGEN_QUIET_WAIT={}",
            self.quiet_wait.as_secs_f64()
        ));
        if !self.returning {
            vars.push("WUCACHE_LOADGEN_RETURNING=0".into());
        }
        if self.quick {
            vars.push("WUCACHE_LOADGEN_QUICK=1".into());
        }
        format!("{} cargo bench --bench loadgen", vars.join(" "))
    }
}
