//! Maintenance windows as the offer side reads them (docs/baselines.md §6): a window's
//! schedule — `cron(Minutes Hours Day-of-month Month Day-of-week Year)` (AWS fields, read
//! with the `croner` crate in its Quartz mode: 1 = Sunday, `?`, `L`, `W`, `#`), `rate(N unit)`
//! or `at(YYYY-MM-DDThh:mm:ss)` — in its IANA time zone (`chrono-tz`), moved by
//! `ScheduleOffset` days, open for `Duration` hours of which the last `Cutoff` hours start no
//! new installs. Pure: times are arguments.
//!
//! `rate()` windows count from 1970-01-01T00:00 in their zone (AWS counts from the window's
//! creation, which a file does not record).

use super::document::{Deadline, DeadlineMode, MaintenanceWindow, WindowMode};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How far back a window start is looked for (the longest window is 24 hours, offsets 6 days).
const LOOKBACK_DAYS: i64 = 8;

/// A window ready to answer "open at t?" and "next start after t?".
#[derive(Debug, Clone)]
pub struct CompiledWindow {
    /// The window's `Name`.
    pub name: String,
    /// How the proxy uses it.
    pub mode: WindowMode,
    schedule: Schedule,
    zone: Tz,
    offset: Duration,
    duration: Duration,
    cutoff: Duration,
}

#[derive(Debug, Clone)]
enum Schedule {
    Cron(Box<croner::Cron>),
    Rate(Duration),
    At(NaiveDateTime),
}

impl CompiledWindow {
    /// Reads the window's schedule and zone; the error says what is wrong with which.
    pub fn compile(window: &MaintenanceWindow) -> Result<CompiledWindow, String> {
        let zone = match &window.schedule_timezone {
            None => Tz::UTC,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| format!("ScheduleTimezone {name:?} is not an IANA time zone"))?,
        };
        let schedule = parse_schedule(&window.schedule)?;
        if window.schedule_offset.is_some() && !matches!(schedule, Schedule::Cron(_)) {
            return Err("ScheduleOffset applies to cron() schedules only".into());
        }
        Ok(CompiledWindow {
            name: window.name.clone(),
            mode: window.mode,
            schedule,
            zone,
            offset: Duration::days(i64::from(window.schedule_offset.unwrap_or(0))),
            duration: Duration::hours(i64::from(window.duration)),
            cutoff: Duration::hours(i64::from(window.cutoff)),
        })
    }

    /// The latest start at or before `t`, within the look-back.
    fn last_start(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let floor = t - Duration::days(LOOKBACK_DAYS);
        let mut cursor = floor;
        let mut last = None;
        while let Some(start) = self.next_start_from(cursor) {
            if start > t {
                break;
            }
            last = Some(start);
            cursor = start + Duration::seconds(1);
        }
        last
    }

    /// The first start at or after `t`.
    pub fn next_start_from(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.schedule {
            Schedule::At(local) => {
                let start = local_to_utc(self.zone, *local)?;
                (start >= t).then_some(start)
            }
            Schedule::Rate(every) => {
                let origin = local_to_utc(
                    self.zone,
                    NaiveDate::from_ymd_opt(1970, 1, 1)?.and_hms_opt(0, 0, 0)?,
                )?;
                let step = every.num_seconds().max(60);
                let since = (t - origin).num_seconds();
                let n = if since <= 0 { 0 } else { (since + step - 1) / step };
                Some(origin + Duration::seconds(n * step))
            }
            Schedule::Cron(cron) => {
                // The cron occurrence is the start moved back by the offset.
                let from = (t - self.offset).with_timezone(&self.zone);
                let occurrence = cron.find_next_occurrence(&from, true).ok()?;
                Some(occurrence.with_timezone(&Utc) + self.offset)
            }
        }
    }

    /// Whether new installs may start at `t`: inside a window, before its cutoff.
    pub fn install_open(&self, t: DateTime<Utc>) -> bool {
        self.last_start(t)
            .is_some_and(|start| t < start + self.duration - self.cutoff)
    }
}

fn local_to_utc(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let text = text.trim();
    let inner = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(fields) = inner("cron(") {
        return parse_cron(fields).map(|cron| Schedule::Cron(Box::new(cron)));
    }
    if let Some(rate) = inner("rate(") {
        return parse_rate(rate).map(Schedule::Rate);
    }
    if let Some(at) = inner("at(") {
        return NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
            .map(Schedule::At)
            .map_err(|_| format!("at({at}) is not at(YYYY-MM-DDThh:mm:ss)"));
    }
    Err(format!(
        "Schedule {text:?} is not cron(...), rate(...) or at(...)"
    ))
}

/// AWS cron: six fields (a seventh, leading, for seconds); read as Quartz (seconds first,
/// weekdays 1 = Sunday, year last).
fn parse_cron(fields: &str) -> Result<croner::Cron, String> {
    let count = fields.split_whitespace().count();
    let quartz = match count {
        6 => format!("0 {fields}"),
        7 => fields.to_string(),
        _ => return Err(format!("cron({fields}) has {count} fields; AWS cron has six")),
    };
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
        .parse(&quartz)
        .map_err(|e| format!("cron({fields}): {e}"))
}

fn parse_rate(rate: &str) -> Result<Duration, String> {
    let bad = || format!("rate({rate}) is not rate(N minutes|hours|days)");
    let (n, unit) = rate.split_once(' ').ok_or_else(bad)?;
    let n: i64 = n.trim().parse().map_err(|_| bad())?;
    if n < 1 {
        return Err(bad());
    }
    match unit.trim().trim_end_matches('s') {
        "minute" => Ok(Duration::minutes(n)),
        "hour" => Ok(Duration::hours(n)),
        "day" => Ok(Duration::days(n)),
        _ => Err(bad()),
    }
}

/// The windows that apply to one policy (a baseline, or a patch group on it): whether they
/// let an install start now, and the deadline an approval gets.
#[derive(Debug, Clone, Default)]
pub struct WindowPlan {
    /// The policy's windows, any mode.
    windows: Vec<CompiledWindow>,
    /// The baseline's `ProxyExtensions.Deadline`.
    deadline: Deadline,
}

/// Where a policy's gate stands at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateState {
    /// No `Gate` window applies: installs are offered at any time.
    Ungated,
    /// Inside a `Gate` window before its cutoff: installs are offered.
    Open {
        /// The window.
        window: String,
    },
    /// Outside every `Gate` window (or past its cutoff): approved updates go detect-only.
    Closed {
        /// The next start of a `Gate` window, if any.
        opens: Option<DateTime<Utc>>,
    },
}

impl WindowPlan {
    /// The plan for `windows` (already chosen for the policy) and the baseline's deadline.
    pub fn new(windows: Vec<CompiledWindow>, deadline: Deadline) -> WindowPlan {
        WindowPlan { windows, deadline }
    }

    /// Whether the plan changes nothing (no gate, no deadline).
    pub fn is_empty(&self) -> bool {
        self.deadline.mode == DeadlineMode::None
            && self.windows.iter().all(|w| w.mode == WindowMode::Informational)
    }

    fn gates(&self) -> impl Iterator<Item = &CompiledWindow> {
        self.windows.iter().filter(|w| w.mode == WindowMode::Gate)
    }

    /// The names of the plan's `Gate` windows.
    pub fn gate_names(&self) -> Vec<String> {
        self.gates().map(|w| w.name.clone()).collect()
    }

    /// The gate at `t`.
    pub fn gate(&self, t: DateTime<Utc>) -> GateState {
        if self.gates().next().is_none() {
            return GateState::Ungated;
        }
        if let Some(open) = self.gates().find(|w| w.install_open(t)) {
            return GateState::Open {
                window: open.name.clone(),
            };
        }
        GateState::Closed {
            opens: self.gates().filter_map(|w| w.next_start_from(t)).min(),
        }
    }

    /// The install deadline of an update approved at `approved`: the baseline's `Deadline`
    /// (`ApprovalPlusDays`: the approval day in its zone plus `DayOffset` days at
    /// `MinutesAfterMidnight`; `NextMaintenanceWindow`: the first start of one of its windows
    /// at or after the approval), else the first start of a `Deadline`-mode window at or
    /// after the approval; `None` without either.
    pub fn deadline(&self, approved: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.deadline.mode {
            DeadlineMode::ApprovalPlusDays => approval_plus_days(&self.deadline, approved),
            DeadlineMode::NextMaintenanceWindow => self
                .windows
                .iter()
                .filter_map(|w| w.next_start_from(approved))
                .min(),
            DeadlineMode::None => self
                .windows
                .iter()
                .filter(|w| w.mode == WindowMode::Deadline)
                .filter_map(|w| w.next_start_from(approved))
                .min(),
        }
    }

    /// The next moment the plan's gate changes after `t` (a gate window's start, its cutoff),
    /// for re-planning at window boundaries.
    pub fn next_boundary(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.gates()
            .flat_map(|w| {
                let next = w.next_start_from(t + Duration::seconds(1));
                let close = w.last_start(t).map(|s| s + w.duration - w.cutoff);
                [next, close, next.map(|s| s + w.duration - w.cutoff)]
            })
            .flatten()
            .filter(|b| *b > t)
            .min()
    }
}

/// What one policy offers — a baseline's decisions, its patch group's install overrides, the
/// gate and deadlines of its windows — as of one instant. The snapshot plans with it and
/// `baseline preview` shows it, so both say the same.
#[derive(Debug, Clone)]
pub struct PolicyOffers<'a> {
    baseline: &'a super::Baseline,
    plan: WindowPlan,
    overrides: &'a [String],
    at: DateTime<Utc>,
    report_unapproved: super::ReportUnapproved,
}

impl<'a> PolicyOffers<'a> {
    /// The policy of `baseline` for machines of `group` (`None`: the baseline's own, without
    /// group windows or overrides) in `set`, as of `at`.
    pub fn new(
        set: &'a super::BaselineSet,
        baseline: &'a super::Baseline,
        group: Option<&str>,
        at: DateTime<Utc>,
    ) -> PolicyOffers<'a> {
        PolicyOffers {
            baseline,
            plan: set.window_plan(baseline, group),
            overrides: group.map_or(&[][..], |g| set.install_overrides(g)),
            at,
            report_unapproved: set.evaluation.report_unapproved,
        }
    }

    /// The gate as of the policy's instant.
    pub fn gate(&self) -> GateState {
        self.plan.gate(self.at)
    }

    /// The windows' plan.
    pub fn plan(&self) -> &WindowPlan {
        &self.plan
    }

    /// The offer for an update the engine evaluated, and the install deadline: a listed
    /// override installs (never an expired update, nor one rejected with `BLOCK`); a closed
    /// gate holds installs at detect-only; an install carries the deadline of its approval
    /// (an override's approval is the policy's instant).
    pub fn offer(
        &self,
        evaluation: &super::Evaluation,
        kb: Option<&str>,
        expired: bool,
    ) -> (super::Offer, Option<DateTime<Utc>>) {
        use super::Offer;
        let mut offer = evaluation.offer(self.report_unapproved);
        let mut approved = evaluation.approval_date;
        if self.overrides_install(evaluation, kb, expired) {
            offer = Offer::Install;
            approved.get_or_insert(self.at);
        }
        match offer {
            Offer::Install if matches!(self.gate(), GateState::Closed { .. }) => (Offer::DetectOnly, None),
            Offer::Install => (Offer::Install, self.plan.deadline(approved.unwrap_or(self.at))),
            other => (other, None),
        }
    }

    fn overrides_install(&self, evaluation: &super::Evaluation, kb: Option<&str>, expired: bool) -> bool {
        let Some(kb) = kb else {
            return false;
        };
        let listed = self
            .overrides
            .iter()
            .any(|o| o.trim_start_matches("KB") == kb.trim_start_matches("KB"));
        let blocked = evaluation.decision == super::Decision::ExplicitRejected
            && self.baseline.rejected_patches_action == super::RejectedPatchesAction::Block;
        listed && !blocked && !expired
    }
}

fn approval_plus_days(deadline: &Deadline, approved: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let zone = match &deadline.time_zone {
        None => Tz::UTC,
        Some(name) => name.parse::<Tz>().ok()?,
    };
    let day = approved.with_timezone(&zone).date_naive() + Duration::days(i64::from(deadline.day_offset));
    let local = day.and_hms_opt(0, 0, 0)? + Duration::minutes(i64::from(deadline.minutes_after_midnight));
    local_to_utc(zone, local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(
        schedule: &str,
        zone: Option<&str>,
        offset: Option<u8>,
        duration: u8,
        cutoff: u8,
        mode: WindowMode,
    ) -> CompiledWindow {
        CompiledWindow::compile(&MaintenanceWindow {
            name: "w".into(),
            schedule: schedule.into(),
            schedule_timezone: zone.map(str::to_string),
            schedule_offset: offset,
            duration,
            cutoff,
            allow_unassociated_targets: false,
            mode,
            patch_groups: vec![],
        })
        .unwrap()
    }

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    /// B2's window (docs/baselines.md §8.3): 02:00 Berlin on the second Tuesday, plus 2 days.
    fn patch_tuesday_plus_two(mode: WindowMode) -> CompiledWindow {
        window(
            "cron(0 2 ? * TUE#2 *)",
            Some("Europe/Berlin"),
            Some(2),
            4,
            1,
            mode,
        )
    }

    #[test]
    fn t09_the_deadline_is_the_next_window_start() {
        let plan = WindowPlan::new(
            vec![patch_tuesday_plus_two(WindowMode::Deadline)],
            Deadline::default(),
        );
        // 2nd Tuesday of December 2025 is the 9th; + 2 days, 02:00 CET = 01:00Z.
        assert_eq!(
            plan.deadline(t("2025-11-20T11:00:00Z")),
            Some(t("2025-12-11T01:00:00Z"))
        );
    }

    #[test]
    fn t08_approval_plus_days_counts_in_the_deadline_zone() {
        let deadline = Deadline {
            mode: DeadlineMode::ApprovalPlusDays,
            day_offset: 3,
            minutes_after_midnight: 120,
            time_zone: Some("Europe/Berlin".into()),
        };
        let plan = WindowPlan::new(vec![], deadline);
        assert_eq!(
            plan.deadline(t("2025-10-08T00:00:00Z")),
            Some(t("2025-10-11T00:00:00Z")),
            "approval day in Berlin 2025-10-08, + 3 days at 02:00 CEST"
        );
    }

    #[test]
    fn t37_the_gate_opens_at_the_window_start_and_closes_at_its_cutoff() {
        let plan = WindowPlan::new(
            vec![patch_tuesday_plus_two(WindowMode::Gate)],
            Deadline::default(),
        );
        assert_eq!(
            plan.gate(t("2025-11-20T12:00:00Z")),
            GateState::Closed {
                opens: Some(t("2025-12-11T01:00:00Z"))
            }
        );
        assert_eq!(
            plan.gate(t("2025-12-11T00:59:59Z")),
            GateState::Closed {
                opens: Some(t("2025-12-11T01:00:00Z"))
            }
        );
        assert_eq!(
            plan.gate(t("2025-12-11T01:00:00Z")),
            GateState::Open { window: "w".into() }
        );
        // Duration 4 h, cutoff 1 h: no new installs from 04:00Z.
        assert_eq!(
            plan.gate(t("2025-12-11T03:59:59Z")),
            GateState::Open { window: "w".into() }
        );
        assert!(matches!(
            plan.gate(t("2025-12-11T04:00:00Z")),
            GateState::Closed { .. }
        ));
        assert_eq!(
            plan.next_boundary(t("2025-12-11T02:00:00Z")),
            Some(t("2025-12-11T04:00:00Z"))
        );
        assert_eq!(
            plan.next_boundary(t("2025-11-20T12:00:00Z")),
            Some(t("2025-12-11T01:00:00Z"))
        );
    }

    #[test]
    fn windows_follow_their_zone_across_a_dst_change() {
        // Every Sunday 01:30 New York: EDT (UTC-4) until 2025-11-02 02:00, EST (UTC-5) after.
        let w = window(
            "cron(30 1 ? * SUN *)",
            Some("America/New_York"),
            None,
            2,
            0,
            WindowMode::Gate,
        );
        assert_eq!(
            w.next_start_from(t("2025-10-25T00:00:00Z")),
            Some(t("2025-10-26T05:30:00Z"))
        );
        // 2025-11-02 01:30 happens twice; the first (EDT) is the start.
        assert_eq!(
            w.next_start_from(t("2025-10-27T00:00:00Z")),
            Some(t("2025-11-02T05:30:00Z"))
        );
        assert_eq!(
            w.next_start_from(t("2025-11-03T00:00:00Z")),
            Some(t("2025-11-09T06:30:00Z"))
        );
        assert!(w.install_open(t("2025-11-09T08:29:59Z")));
        assert!(!w.install_open(t("2025-11-09T08:30:00Z")));
        assert!(!w.install_open(t("2025-11-09T06:29:59Z")));
    }

    #[test]
    fn aws_weekday_numbers_and_specials_are_read_as_aws_means_them() {
        // 6L = last Friday (1 = Sunday); THU#3 = third Thursday.
        let last_friday = window("cron(15 10 ? * 6L *)", None, None, 1, 0, WindowMode::Gate);
        assert_eq!(
            last_friday.next_start_from(t("2025-11-01T00:00:00Z")),
            Some(t("2025-11-28T10:15:00Z"))
        );
        let third_thursday = window("cron(0 2 ? * THU#3 *)", None, None, 1, 0, WindowMode::Gate);
        assert_eq!(
            third_thursday.next_start_from(t("2025-11-01T00:00:00Z")),
            Some(t("2025-11-20T02:00:00Z"))
        );
        let rate = window("rate(6 hours)", None, None, 1, 0, WindowMode::Gate);
        assert_eq!(
            rate.next_start_from(t("2025-11-01T01:00:00Z")),
            Some(t("2025-11-01T06:00:00Z"))
        );
        let at = window(
            "at(2025-12-24T18:00:00)",
            Some("Europe/Berlin"),
            None,
            2,
            0,
            WindowMode::Gate,
        );
        assert_eq!(
            at.next_start_from(t("2025-11-01T00:00:00Z")),
            Some(t("2025-12-24T17:00:00Z"))
        );
        assert_eq!(at.next_start_from(t("2025-12-25T00:00:00Z")), None);
    }

    #[test]
    fn bad_schedules_and_zones_are_named() {
        let bad = |schedule: &str, zone: Option<&str>| {
            CompiledWindow::compile(&MaintenanceWindow {
                name: "w".into(),
                schedule: schedule.into(),
                schedule_timezone: zone.map(str::to_string),
                schedule_offset: None,
                duration: 1,
                cutoff: 0,
                allow_unassociated_targets: false,
                mode: WindowMode::Gate,
                patch_groups: vec![],
            })
            .unwrap_err()
        };
        assert!(bad("cron(0 2 * *)", None).contains("six"));
        assert!(bad("cron(0 99 ? * * *)", None).contains("cron("));
        assert!(bad("every tuesday", None).contains("not cron"));
        assert!(bad("rate(0 hours)", None).contains("rate("));
        assert!(bad("cron(0 2 ? * TUE *)", Some("Mars/Olympus")).contains("ScheduleTimezone"));
    }

    #[test]
    fn no_gate_window_means_ungated() {
        let plan = WindowPlan::new(
            vec![patch_tuesday_plus_two(WindowMode::Informational)],
            Deadline::default(),
        );
        assert_eq!(plan.gate(t("2025-11-20T12:00:00Z")), GateState::Ungated);
        assert!(plan.is_empty());
        assert_eq!(plan.deadline(t("2025-11-20T12:00:00Z")), None);
    }
}
