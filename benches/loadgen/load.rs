//! Open-loop load: sessions start at a fixed rate (one every 1/rate seconds, whatever the
//! sessions already running are doing), for a fixed time; then the step waits for them to
//! finish, up to a drain deadline, and cuts off the rest. The daemon's and the generator's CPU
//! time are read around the whole step.

use crate::daemon::{machine_cpu, own_cpu, pid_cpu};
use crate::fleet::Fleet;
use crate::session::{self, Record, Settings};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What one step measured.
pub(crate) struct Step {
    /// Arrivals per second.
    pub(crate) rate: f64,
    /// Sessions started.
    pub(crate) started: usize,
    /// Arrivals that found every machine in a session (not started).
    pub(crate) skipped: usize,
    /// Sessions still running at the drain deadline, cut off.
    pub(crate) unfinished: usize,
    /// Sessions whose task panicked.
    pub(crate) panicked: usize,
    pub(crate) records: Vec<Record>,
    /// First arrival to the last session's end (or the drain deadline).
    pub(crate) wall: Duration,
    pub(crate) daemon_cpu: Duration,
    pub(crate) generator_cpu: Duration,
    /// CPU time of every other process on the machine (other work competing for the cores).
    pub(crate) others_cpu: Duration,
    /// Largest delay of an arrival behind its schedule (the generator falling behind).
    pub(crate) max_lag: Duration,
}

/// How a step runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) rate: f64,
    pub(crate) seconds: f64,
    pub(crate) drain: Duration,
    /// Only machines that have scanned before (returning clients).
    pub(crate) returning: bool,
}

/// Runs one step against the daemon with process id `daemon`.
pub(crate) async fn step(fleet: &Arc<Fleet>, settings: Settings, plan: Plan, daemon: u32) -> Step {
    let cpu = (pid_cpu(daemon), own_cpu(), machine_cpu());
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let (mut started, mut skipped, mut max_lag) = (0, 0, Duration::ZERO);
    let every = Duration::from_secs_f64(1.0 / plan.rate);
    for k in 0u32.. {
        let due = start + every * k;
        if due.duration_since(start).as_secs_f64() >= plan.seconds {
            break;
        }
        tokio::time::sleep_until(due).await;
        max_lag = max_lag.max(Instant::now().duration_since(due));
        let Some(mut lease) = fleet.take(plan.returning) else {
            skipped += 1;
            continue;
        };
        let fleet = Arc::clone(fleet);
        tasks.spawn(async move { session::run(lease.machine(), fleet, settings).await });
        started += 1;
    }
    let (records, panicked) = drain(&mut tasks, Instant::now() + plan.drain).await;
    let unfinished = tasks.len();
    tasks.shutdown().await;
    let daemon_cpu = pid_cpu(daemon).saturating_sub(cpu.0);
    let generator_cpu = own_cpu().saturating_sub(cpu.1);
    let busy = machine_cpu().saturating_sub(cpu.2);
    Step {
        rate: plan.rate,
        started,
        skipped,
        unfinished,
        panicked,
        records,
        wall: start.elapsed(),
        daemon_cpu,
        generator_cpu,
        others_cpu: busy.saturating_sub(daemon_cpu + generator_cpu),
        max_lag,
    }
}

/// Waits, at most `max`, until the cores are quiet — other processes and the daemon together
/// under a fifth of a core over two seconds — so a step neither measures someone else's build
/// nor the daemon still busy with the sessions a previous step cut off. Returns the time
/// waited.
pub(crate) async fn wait_for_quiet(max: Duration) -> Duration {
    let started = Instant::now();
    let window = Duration::from_secs(2);
    while started.elapsed() < max {
        let before = (own_cpu(), machine_cpu());
        tokio::time::sleep(window).await;
        let own = own_cpu().saturating_sub(before.0);
        let rest = machine_cpu().saturating_sub(before.1).saturating_sub(own);
        if rest.as_secs_f64() < 0.2 * window.as_secs_f64() {
            break;
        }
    }
    started.elapsed().saturating_sub(window)
}

/// Collects finished sessions until none is left or the deadline passes.
async fn drain(tasks: &mut JoinSet<Record>, deadline: Instant) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut panicked = 0;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        match joined {
            Ok(record) => records.push(record),
            Err(_) => panicked += 1,
        }
    }
    (records, panicked)
}
