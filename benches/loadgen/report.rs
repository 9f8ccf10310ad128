//! Figures of steps: latency quantiles per operation, errors by kind, the first-scan figures
//! (SyncUpdates round trips and UpdateInfos), CPU per session; and the printing of step rows
//! and tables.

use crate::load::Step;
use crate::session::{Op, Record};
use crate::support::timings::{ms, quantile};
use crate::wire::Failure;
use std::collections::BTreeMap;
use std::time::Duration;

/// Buckets of cached revision ids a software SyncUpdates call sent: lower bound, label.
const ID_BUCKETS: [(usize, &str); 6] = [
    (0, "0-999"),
    (1_000, "1k-4.9k"),
    (5_000, "5k-9.9k"),
    (10_000, "10k-19.9k"),
    (20_000, "20k-39.9k"),
    (40_000, "40k+"),
];

/// Errors by kind: how many, and one example.
pub(crate) type Errors = BTreeMap<String, (usize, String)>;

/// Whether a failure means the server did not answer properly (as opposed to a protocol
/// observation such as a scan over the agent's round-trip limit).
fn is_hard(failure: &Failure) -> bool {
    !matches!(failure, Failure::Protocol(_))
}

/// The figures of a set of sessions.
pub(crate) struct Summary {
    /// Sorted call times per operation, in [`Op::ALL`] order.
    pub(crate) latencies: Vec<Vec<Duration>>,
    pub(crate) errors: Errors,
    pub(crate) hard_errors: usize,
    pub(crate) first: usize,
    pub(crate) returning: usize,
    pub(crate) completed: usize,
    /// Software round trips and UpdateInfos of each completed first scan.
    pub(crate) first_trips: Vec<usize>,
    pub(crate) first_infos: Vec<usize>,
    pub(crate) first_offered: Vec<usize>,
    pub(crate) first_batches: Vec<usize>,
    /// Round trips of each completed first scan by the machine's profile.
    pub(crate) first_trips_by_profile: BTreeMap<String, Vec<usize>>,
    /// The same for completed returning scans.
    pub(crate) returning_trips: Vec<usize>,
    pub(crate) returning_infos: Vec<usize>,
    /// Software SyncUpdates times by the cached ids the call sent, sorted, per [`ID_BUCKETS`].
    pub(crate) by_ids: Vec<Vec<Duration>>,
    /// TCP connections opened beyond one per session (the server closed a kept-alive one).
    pub(crate) reconnects: usize,
    /// Answers that came without xpress, though every request offered it.
    pub(crate) identity_answers: usize,
}

impl Summary {
    pub(crate) fn of<'a>(records: impl Iterator<Item = &'a Record>) -> Summary {
        let mut summary = Summary {
            latencies: vec![Vec::new(); Op::ALL.len()],
            errors: Errors::new(),
            hard_errors: 0,
            first: 0,
            returning: 0,
            completed: 0,
            first_trips: Vec::new(),
            first_infos: Vec::new(),
            first_offered: Vec::new(),
            first_batches: Vec::new(),
            first_trips_by_profile: BTreeMap::new(),
            returning_trips: Vec::new(),
            returning_infos: Vec::new(),
            by_ids: vec![Vec::new(); ID_BUCKETS.len()],
            reconnects: 0,
            identity_answers: 0,
        };
        for record in records {
            summary.add(record);
        }
        let lists = summary.latencies.iter_mut().chain(summary.by_ids.iter_mut());
        lists.for_each(|times| times.sort_unstable());
        summary
    }

    fn add(&mut self, record: &Record) {
        self.reconnects += record.connections.saturating_sub(1);
        self.identity_answers += record.identity_answers;
        for (ids, time) in &record.software_pages {
            let bucket = ID_BUCKETS.iter().rposition(|(low, _)| ids >= low).unwrap_or(0);
            self.by_ids[bucket].push(*time);
        }
        for (op, time) in &record.calls {
            let index = Op::ALL.iter().position(|o| o == op).unwrap_or(0);
            self.latencies[index].push(*time);
        }
        for failure in &record.errors {
            count(&mut self.errors, failure);
            self.hard_errors += usize::from(is_hard(failure));
        }
        if record.returning {
            self.returning += 1;
        } else {
            self.first += 1;
        }
        if !record.completed {
            return;
        }
        self.completed += 1;
        if record.returning {
            self.returning_trips.push(record.trips);
            self.returning_infos.push(record.update_infos);
        } else {
            self.first_trips.push(record.trips);
            self.first_infos.push(record.update_infos);
            self.first_offered.push(record.offered);
            self.first_batches.push(record.extended_batches);
            let profile = record.profile.as_ref().map_or("-", |p| p.name.as_str());
            let trips = self.first_trips_by_profile.entry(profile.to_owned()).or_default();
            trips.push(record.trips);
        }
    }

    pub(crate) fn op(&self, op: Op) -> &[Duration] {
        let index = Op::ALL.iter().position(|o| *o == op).unwrap_or(0);
        &self.latencies[index]
    }
}

pub(crate) fn count(errors: &mut Errors, failure: &Failure) {
    let entry = errors.entry(failure.label()).or_insert((0, failure.detail()));
    entry.0 += 1;
}

/// The errors of a step, with the sessions it cut off or lost counted in.
pub(crate) fn step_errors(step: &Step, summary: &Summary) -> Errors {
    let mut errors = summary.errors.clone();
    let mut add = |kind: &str, n: usize| {
        if n > 0 {
            errors.entry(kind.into()).or_insert((0, kind.into())).0 += n;
        }
    };
    add("session unfinished at the drain deadline", step.unfinished);
    add("generator panic", step.panicked);
    add("arrival with every machine busy", step.skipped);
    errors
}

/// Hard errors of a step: failed answers plus sessions cut off, lost or not started.
pub(crate) fn hard_errors(step: &Step, summary: &Summary) -> usize {
    summary.hard_errors + step.unfinished + step.panicked + step.skipped
}

/// `min / median / max` of counts.
pub(crate) fn spread(values: &[usize]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    format!(
        "{} / {} / {}",
        sorted[0],
        sorted[(sorted.len() - 1) / 2],
        sorted[sorted.len() - 1]
    )
}

pub(crate) fn print_step_header() {
    println!(
        "  {:>7} {:>8} {:>9} {:>6} {:>6} {:>9} {:>9} {:>9} {:>10} {:>9} {:>8} {:>8} {:>7} {:>7}",
        "rate/s",
        "sessions",
        "first+ret",
        "done",
        "errors",
        "SU p50",
        "SU p99",
        "SU max",
        "daemon ms",
        "daemon %",
        "gen ms",
        "others %",
        "wall s",
        "lag ms"
    );
}

/// One step's row; CPU per finished session, daemon share of the two cores over the step.
pub(crate) fn print_step(step: &Step, summary: &Summary) {
    let sync = summary.op(Op::SyncUpdates);
    let finished = step.records.len().max(1) as f64;
    let at = |q: f64| ms(quantile(sync, q));
    println!(
        "  {:>7.2} {:>8} {:>9} {:>6} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>8.0}% {:>8.1} {:>7.0}% {:>7.1} {:>7.1}",
        step.rate,
        step.started,
        format!("{}+{}", summary.first, summary.returning),
        summary.completed,
        hard_errors(step, summary),
        at(0.50),
        at(0.99),
        sync.last().map_or(0.0, |d| ms(*d)),
        ms(step.daemon_cpu) / finished,
        share(step.daemon_cpu, step),
        ms(step.generator_cpu) / finished,
        share(step.others_cpu, step),
        step.wall.as_secs_f64(),
        ms(step.max_lag)
    );
}

/// CPU time as a share of the two cores over the step's wall time, in percent.
fn share(cpu: Duration, step: &Step) -> f64 {
    100.0 * cpu.as_secs_f64() / step.wall.as_secs_f64().max(1e-9) / 2.0
}

/// Latency per operation, and the time spent waiting for each operation's answers.
pub(crate) fn print_ops(summary: &Summary) {
    println!(
        "    {:<24} {:>8} {:>9} {:>9} {:>9} {:>9} {:>12}",
        "operation", "calls", "p50 ms", "p99 ms", "p999 ms", "max ms", "sum s"
    );
    for op in Op::ALL {
        let times = summary.op(op);
        if times.is_empty() {
            continue;
        }
        let at = |q: f64| ms(quantile(times, q));
        println!(
            "    {:<24} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>12.2}",
            op.name(),
            times.len(),
            at(0.50),
            at(0.99),
            at(0.999),
            times.last().map_or(0.0, |d| ms(*d)),
            times.iter().sum::<Duration>().as_secs_f64()
        );
    }
}

/// Software SyncUpdates latency (p50, p99, calls) by the cached ids each call sent: how a
/// call's cost grows as a scan goes on.
pub(crate) fn print_by_ids(summary: &Summary) {
    let cells: Vec<String> = ID_BUCKETS
        .iter()
        .zip(&summary.by_ids)
        .filter(|(_, times)| !times.is_empty())
        .map(|((_, label), times)| {
            let at = |q: f64| ms(quantile(times, q));
            format!("{label} ids {:.1}/{:.1} ms ({})", at(0.5), at(0.99), times.len())
        })
        .collect();
    println!(
        "    software SyncUpdates p50/p99 by cached ids sent: {}",
        cells.join("; ")
    );
}

pub(crate) fn print_errors(errors: &Errors) {
    if errors.is_empty() {
        println!("    none");
    }
    for (kind, (n, example)) in errors {
        if example == kind {
            println!("    {n:>6}  {kind}");
        } else {
            println!("    {n:>6}  {kind} (e.g. {example})");
        }
    }
}
