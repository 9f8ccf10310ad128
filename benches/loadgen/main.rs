//! Open-loop load generator (prints figures; asserts nothing): simulated Windows 11 clients
//! arrive at a fixed rate and each runs a whole Windows Update session against `wucache serve`,
//! the real binary as a separate process on this machine, in its default configuration.
//!
//! Per scenario: the synthetic catalog (test kit, seed 2026) is served by the test kit's fake
//! upstream in this process; `wucache sync` mirrors it; `wucache baseline check` checks the
//! scenario's baseline file; `wucache serve` starts with the defaults but for loopback ports,
//! data folder, upstream, products and classifications `all`, no scheduled sync and the
//! baseline file. Every simulated machine connects from its own loopback address (127.b.c.d),
//! so the daemon's per-address limits apply as to a real fleet. A session (see `session`):
//! handshake or cached cookie, the staged SyncUpdates loop until the server says done, the
//! driver pass, GetExtendedUpdateInfo for what was offered for install, ReportEventBatch; all
//! with `Accept-Encoding: xpress`, one keep-alive connection per session. Machines are taken
//! in turn from a fleet of distinct client ids; once all have scanned, a machine comes back as
//! a returning client (its cookie and cached ids: a delta scan). Every answer is read and
//! checked; faults, HTTP errors, undecodable answers, timeouts and revisions the machine may
//! not be sent (by the generator's own documents: see `profile`) are errors.
//!
//! One warm-up session (a machine outside the fleet) comes first, then a step search: one
//! step per arrival rate, each for a fixed time, rates growing by a factor while SyncUpdates
//! p99 stays at or under the target and no session fails (then one bisection step between
//! the last passing and the first failing rate); every step's row is printed. A step lasts
//! long enough for three arrivals at least; a failing step during which other processes
//! took over a quarter of the cores is run once more. Then one step
//! of returning clients only (machines that have scanned) at the highest passing rate, for
//! the cost of the delta scans a settled fleet runs. Reported: the daemon's CPU (utime +
//! stime of `/proc/<pid>/stat`) per session and in total, this process's own CPU, the
//! daemon's RSS at `/ready` and its peak (`VmHWM`), errors by kind, latency p50/p99/p999 per
//! operation, SyncUpdates round trips and UpdateInfos per first scan (also by machine
//! profile), and the highest rate that passed.
//!
//! Scenarios: (a) 3,000 updates, no baseline file (everything approved); (b) ~50k revisions
//! (49,950 updates), no baseline file; (c) the same catalog with a baseline approving ~2,000
//! top-level updates, the rest left to the defaults (detect-only); (d), not in the default
//! set, ~108k revisions (107,950 updates) without a baseline file, for the daemon's memory
//! after one client's full scan (the warm-up session's line prints RSS after it, and again
//! after ten idle seconds).
//!
//! Run: `cargo bench --bench loadgen` (a, b and c; about half an hour). Quick smoke run (a
//! 400-update catalog, two 3-second steps, well under a minute):
//! `WUCACHE_LOADGEN_QUICK=1 cargo bench --bench loadgen`. Knobs (environment):
//!
//! - `WUCACHE_LOADGEN_SCENARIOS` — `a,b,c` (default), any subset of `a,b,c,d`, or `quick`.
//! - `WUCACHE_LOADGEN_CLIENTS` — distinct machines (default 1,000; try 10,000).
//! - `WUCACHE_LOADGEN_STEP_SECONDS` — arrivals per step last this long (default: 15 s for a,
//!   60 s for b, 30 s for c, 3 s quick).
//! - `WUCACHE_LOADGEN_RATES` — fixed rates instead of the search, e.g. `0.5,1,2`.
//! - `WUCACHE_LOADGEN_START_RATE`, `WUCACHE_LOADGEN_FACTOR` (default 1.5),
//!   `WUCACHE_LOADGEN_MAX_STEPS` (default 12) — the search.
//! - `WUCACHE_LOADGEN_P99_MS` — the SyncUpdates p99 target (default 100).
//! - `WUCACHE_LOADGEN_TIMEOUT` — seconds per request (default 30);
//!   `WUCACHE_LOADGEN_DRAIN` — seconds a step waits for its sessions (default 120);
//!   `WUCACHE_LOADGEN_TRIP_LIMIT` — software round trips after which a scan is given up
//!   (default 1,000; over 200 is reported, as the real agent abandons there).
//! - `WUCACHE_LOADGEN_QUIET_WAIT` — seconds to wait at most before each step until other
//!   processes and the daemon use under a fifth of a core (default 120, quick 0). The cores
//!   are shared: a step that ran beside other work shows it in its `others %` column, and
//!   running the benchmark under `nice -n -10` keeps other builds from skewing it.
//! - `WUCACHE_LOADGEN_RETURNING` — `0` leaves out the step of returning clients.
//! - `WUCACHE_BENCH_BIN` — another build's `wucache` binary to drive (to compare commits).
//! - `WUCACHE_LOADGEN_PROFILE` — what the machines are (see `profile`): `fleet` (default) gives
//!   each machine an OS product, some an application product too, from a weighted mix
//!   (mostly Windows 11); it evaluates as installed only the company category, the
//!   classifications, its products, their families and their detectoids, caches every other
//!   revision as not installed, and counts a revision it is sent whose prerequisites it does
//!   not meet (by the generator's documents) as an error. `all-installed` is the worst case
//!   of before: every category and detectoid installed, the whole catalog offered.
//! - `WUCACHE_LOADGEN_NEEDED` — updates listed as needed (`U=`) in event 156, at most
//!   (default 0 = all those offered for install, which the profile already keeps to the
//!   machine's own; a number lists only the first ones).
//!
//! The files: `knobs` (the settings), `scenario` (catalogs and the baseline file), `profile`
//! (what each machine is, by the catalog's ground truth), `daemon` (the child process),
//! `fleet` (machines and what they remember), `session` (one client session), `wire` (the
//! connection), `reader` (streaming readers of the big answers), `load` (one open-loop
//! step), `report` (figures and printing); this file the knobs and the search.

#[path = "../support/mod.rs"]
mod support;

mod daemon;
mod fleet;
mod knobs;
mod load;
mod profile;
mod reader;
mod report;
mod scenario;
mod session;
mod wire;

use daemon::{commit, own_cpu, Daemon, Setup};
use fleet::Fleet;
use knobs::Knobs;
use load::{Plan, Step};
use profile::Truth;
use report::{
    hard_errors, print_by_ids, print_errors, print_ops, print_step, print_step_header, spread, step_errors,
    Summary,
};
use scenario::Scenario;
use session::Settings;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::serve::SETTLE;
use support::setup::{runtime, synthetic_upstream, LOAD_THREADS};
use support::timings::ms;
use tokio::runtime::Runtime;

fn main() {
    let knobs = Knobs::from_env();
    println!("wucache open-loop load generator (wucache serve as a child process; 2 cores shared with this generator)");
    match std::env::var_os("WUCACHE_BENCH_BIN") {
        Some(binary) => println!(
            "binary measured: {} (WUCACHE_BENCH_BIN)",
            binary.to_string_lossy()
        ),
        None => println!(
            "commit measured: {}",
            commit(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        ),
    }
    println!("command: {}", knobs.command());
    let generator = runtime(LOAD_THREADS);
    for scenario in &knobs.scenarios {
        run_scenario(&generator, &knobs, *scenario);
    }
}

// ---- One scenario -------------------------------------------------------------------------

fn run_scenario(generator: &Runtime, knobs: &Knobs, scenario: Scenario) {
    println!();
    println!("== scenario {}: {}", scenario.name, scenario.what);
    let started = Instant::now();
    let (setup, revisions, truth) = prepare(generator, scenario, knobs.profile);
    let daemon = Daemon::start(&setup);
    println!(
        "  set-up {:.1} s; serve ready after {} ms, RSS at /ready {:.0} MiB",
        started.elapsed().as_secs_f64(),
        daemon.ready_after.as_millis(),
        daemon.rss_at_ready_kib as f64 / 1024.0
    );
    println!("  revisions mirrored: {revisions}");
    println!(
        "  machine profiles (WUCACHE_LOADGEN_PROFILE): {}",
        truth.describe()
    );
    let fleet = Arc::new(Fleet::new(knobs.clients.max(1), Arc::new(truth)));
    let settings = Settings {
        server: daemon.client,
        timeout: knobs.timeout,
        trip_limit: knobs.trip_limit.max(1),
        needed: knobs.needed,
    };
    let generator_cpu = own_cpu();
    warm_up(generator, &daemon, &fleet, settings);
    let steps = search(generator, knobs, scenario, &daemon, &fleet, settings);
    finish(
        knobs,
        &daemon,
        &fleet,
        &steps,
        own_cpu().saturating_sub(generator_cpu),
    );
    daemon.stop();
}

/// The catalog on the fake upstream, the configuration and baseline file, the mirror; the
/// catalog's ground truth for the machines.
fn prepare(generator: &Runtime, scenario: Scenario, mode: profile::Mode) -> (Setup, usize, Truth) {
    let (catalog, upstream) = generator.block_on(synthetic_upstream(scenario.updates));
    let revisions = catalog.docs.len();
    let baseline = scenario.approved.map(|n| scenario::baseline(&catalog, n));
    let truth = Truth::of(&catalog, mode);
    drop(catalog);
    let setup = Setup::write(&upstream.url(), baseline.as_ref().map(|(text, _)| text.as_str()));
    let summary = setup.sync();
    generator.block_on(upstream.stop());
    println!("  wucache sync: {summary}");
    match &baseline {
        None => println!("  no baseline file: every update approved"),
        Some((_, day)) => {
            let check = setup.check_baseline();
            for line in check.lines().filter(|l| !l.trim().is_empty()) {
                println!("  baseline check: {}", line.trim());
            }
            println!(
                "  baseline: ApproveUntilDate {day} (OS and application rules); `baseline preview` sends Install to {} top-level updates",
                setup.approved()
            );
        }
    }
    (setup, revisions, truth)
}

/// One session of a machine outside the fleet, on the freshly started daemon (cold caches).
fn warm_up(generator: &Runtime, daemon: &Daemon, fleet: &Arc<Fleet>, settings: Settings) {
    let mut machine = fleet.outsider();
    let before = (daemon.cpu(), own_cpu());
    let started = Instant::now();
    let record = generator.block_on(session::run(&mut machine, Arc::clone(fleet), settings));
    let generator_cpu = own_cpu().saturating_sub(before.1);
    let mut errors = report::Errors::new();
    record.errors.iter().for_each(|f| report::count(&mut errors, f));
    println!(
        "  warm-up session (cold, {}): {:.0} ms, daemon CPU {:.0} ms, generator CPU {:.0} ms; {} software round trips + 1 driver pass, {} UpdateInfos, {} offered for install in {} GetExtendedUpdateInfo batches; daemon RSS after it {:.0} MiB, peak so far {:.0} MiB{}",
        machine.profile.name,
        ms(started.elapsed()),
        ms(daemon.cpu().saturating_sub(before.0)),
        ms(generator_cpu),
        record.trips,
        record.update_infos,
        record.offered,
        record.extended_batches,
        daemon.rss_kib() as f64 / 1024.0,
        daemon.peak_rss_kib() as f64 / 1024.0,
        if errors.is_empty() { String::new() } else { format!("; errors: {errors:?}") }
    );
    std::thread::sleep(SETTLE);
    println!(
        "  daemon RSS {:.0} s after the warm-up session (idle meanwhile): {:.0} MiB",
        SETTLE.as_secs_f64(),
        daemon.rss_kib() as f64 / 1024.0
    );
}

/// Whether a step keeps SyncUpdates p99 within the target without failed sessions.
fn passes(knobs: &Knobs, step: &Step, summary: &Summary) -> bool {
    let sync = summary.op(session::Op::SyncUpdates);
    !sync.is_empty()
        && ms(support::timings::quantile(sync, 0.99)) <= knobs.p99_ms
        && hard_errors(step, summary) == 0
}

/// A step that ran: whether it passed, and whether it was the returning clients' step.
struct Ran {
    step: Step,
    passed: bool,
    returning: bool,
}

/// The step search (or the fixed rates), then one step of returning clients at the highest
/// passing rate; each step's row printed as it ends.
fn search(
    generator: &Runtime,
    knobs: &Knobs,
    scenario: Scenario,
    daemon: &Daemon,
    fleet: &Arc<Fleet>,
    settings: Settings,
) -> Vec<Ran> {
    let seconds = knobs.step_seconds.unwrap_or(scenario.step_seconds);
    println!(
        "  steps ({seconds} s of arrivals each; SU = SyncUpdates ms; daemon/gen ms = CPU per finished session; daemon %, others % = share of the 2 cores, others = every other process on the machine):"
    );
    print_step_header();
    let mut steps = Vec::new();
    let mut run = |rate: f64, returning: bool| {
        let plan = Plan {
            rate,
            // At least three arrivals, so a low rate still measures more than one session.
            seconds: seconds.max(3.0 / rate),
            drain: knobs.drain,
            returning,
        };
        for attempt in 0..2 {
            let (step, passed) = run_step(generator, knobs, daemon, fleet, settings, plan);
            let disturbed = step.others_cpu.as_secs_f64() > DISTURBED * 2.0 * step.wall.as_secs_f64();
            steps.push(Ran {
                step,
                passed,
                returning,
            });
            if passed || !disturbed || attempt == 1 {
                return passed;
            }
            println!("  (other processes took over a quarter of the cores: the step again)");
        }
        false
    };
    let best = match &knobs.rates {
        Some(rates) => rates
            .iter()
            .copied()
            .filter(|rate| run(*rate, false))
            .reduce(f64::max),
        None => step_search(knobs, scenario, |rate| run(rate, false)),
    };
    if let Some(rate) = best.filter(|_| knobs.returning && fleet.known() > 0) {
        println!("  returning clients only (machines that have scanned: cached cookie and ids), at {rate:.2} sessions/s:");
        run(rate, true);
    }
    steps
}

/// Other processes' share of the two cores over which a failing step is repeated once.
const DISTURBED: f64 = 0.25;

/// One step after the cores are quiet; its row printed; whether it passed.
fn run_step(
    generator: &Runtime,
    knobs: &Knobs,
    daemon: &Daemon,
    fleet: &Arc<Fleet>,
    settings: Settings,
    plan: Plan,
) -> (Step, bool) {
    let waited = generator.block_on(load::wait_for_quiet(knobs.quiet_wait));
    if waited > Duration::from_secs(1) {
        println!(
            "  (waited {:.0} s for the cores to be quiet)",
            waited.as_secs_f64()
        );
    }
    let step = generator.block_on(load::step(fleet, settings, plan, daemon.id()));
    let summary = Summary::of(step.records.iter());
    print_step(&step, &summary);
    let passed = passes(knobs, &step, &summary);
    (step, passed)
}

/// Rates growing by the factor while steps pass (falling while they fail), then one step
/// between the last passing and the first failing rate; the highest passing rate.
fn step_search(knobs: &Knobs, scenario: Scenario, mut run: impl FnMut(f64) -> bool) -> Option<f64> {
    let factor = knobs.factor;
    let mut rate = knobs.start_rate.unwrap_or(scenario.start_rate);
    let (mut best, mut worst) = (None::<f64>, None::<f64>);
    for _ in 0..knobs.max_steps {
        if run(rate) {
            best = Some(rate);
            if worst.is_some() {
                break;
            }
            rate *= factor;
        } else {
            worst = Some(rate);
            if best.is_some() {
                break;
            }
            rate /= factor * factor;
        }
    }
    if let (Some(low), Some(high)) = (best, worst) {
        let middle = (low * high).sqrt();
        if high > low && run(middle) {
            best = Some(middle);
        }
    }
    best
}

/// The scenario's summary: the best step's table, first-scan figures, errors, memory.
fn finish(knobs: &Knobs, daemon: &Daemon, fleet: &Fleet, steps: &[Ran], generator_cpu: Duration) {
    let searched = || steps.iter().filter(|r| !r.returning);
    let best = searched()
        .filter(|r| r.passed)
        .max_by(|a, b| a.step.rate.total_cmp(&b.step.rate));
    match best {
        Some(ran) => println!(
            "  highest arrival rate with SyncUpdates p99 <= {} ms and no failed session: {:.2} sessions/s",
            knobs.p99_ms, ran.step.rate
        ),
        None => println!(
            "  no step kept SyncUpdates p99 <= {} ms without failed sessions",
            knobs.p99_ms
        ),
    }
    let shown = best.or_else(|| searched().min_by(|a, b| a.step.rate.total_cmp(&b.step.rate)));
    for ran in shown.into_iter().chain(steps.iter().filter(|r| r.returning)) {
        let summary = Summary::of(ran.step.records.iter());
        let who = if ran.returning {
            "returning clients"
        } else {
            "sessions"
        };
        println!(
            "  latency per operation at {:.2} sessions/s ({who}):",
            ran.step.rate
        );
        print_ops(&summary);
        print_by_ids(&summary);
    }
    let all = Summary::of(steps.iter().flat_map(|r| r.step.records.iter()));
    let sessions = searched().map(|r| r.step.records.len()).sum::<usize>().max(1);
    let daemon_cpu: Duration = searched().map(|r| r.step.daemon_cpu).sum();
    let step_generator_cpu: Duration = searched().map(|r| r.step.generator_cpu).sum();
    println!(
        "  all steps: {} sessions ({} first scans, {} returning; {} of {} machines have scanned), {} completed",
        all.first + all.returning,
        all.first,
        all.returning,
        fleet.known(),
        fleet.len(),
        all.completed
    );
    println!(
        "  first scans: SyncUpdates software round trips (min / median / max) {}; UpdateInfos {}; offered for install {}; GetExtendedUpdateInfo batches {}",
        spread(&all.first_trips),
        spread(&all.first_infos),
        spread(&all.first_offered),
        spread(&all.first_batches)
    );
    let by_profile: Vec<String> = all
        .first_trips_by_profile
        .iter()
        .map(|(profile, trips)| format!("{profile}: {} ({} scans)", spread(trips), trips.len()))
        .collect();
    println!(
        "  first scans' round trips by machine profile ({}): {}",
        knobs.profile.name(),
        by_profile.join("; ")
    );
    println!(
        "  connections reopened within a session: {}; answers without xpress: {} of {} calls",
        all.reconnects,
        all.identity_answers,
        all.latencies.iter().map(Vec::len).sum::<usize>()
    );
    if all.returning > 0 {
        println!(
            "  returning scans: round trips {}; UpdateInfos {}",
            spread(&all.returning_trips),
            spread(&all.returning_infos)
        );
    }
    println!(
        "  CPU over the search steps: daemon {:.1} s ({:.1} ms per session), generator {:.1} s ({:.1} ms per session; {:.1} s over the scenario with set-up and warm-up)",
        daemon_cpu.as_secs_f64(),
        ms(daemon_cpu) / sessions as f64,
        step_generator_cpu.as_secs_f64(),
        ms(step_generator_cpu) / sessions as f64,
        generator_cpu.as_secs_f64()
    );
    println!(
        "  daemon memory: RSS at /ready {:.0} MiB, peak (VmHWM) {:.0} MiB",
        daemon.rss_at_ready_kib as f64 / 1024.0,
        daemon.peak_rss_kib() as f64 / 1024.0
    );
    let mut errors = report::Errors::new();
    for ran in steps {
        let summary = Summary::of(ran.step.records.iter());
        for (kind, (n, example)) in step_errors(&ran.step, &summary) {
            errors.entry(kind).or_insert((0, example)).0 += n;
        }
    }
    println!("  errors by kind, all steps:");
    print_errors(&errors);
    let problems = daemon.log_problems();
    if !problems.is_empty() {
        println!("  daemon log: {} WARN/ERROR lines, the first:", problems.len());
        problems.iter().take(5).for_each(|l| println!("    {l}"));
    }
}
