//! Property tests of the engine over seeded random baselines, updates and times: rejections
//! always win and only listed updates are rejected, time only moves decisions forward, list,
//! filter and value order do not matter, dates agree with decisions, and a maturing approval
//! reaches clients at the first epoch boundary after its date. Every property counts the
//! interesting cases its generator produced and fails if one never occurred.

use super::document::{
    Approval, Baseline, ComplianceLevel, FilterKey, MultiRuleComplianceLevel, PatchFilter, PatchId,
    PatchRule, ProxyExtensions, RejectedPatchesAction, SupersededHandling,
};
use super::evaluate::{evaluate, evaluation_epoch, Decision};
use super::facts::{Category, UpdateFacts};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use uuid::Uuid;

const CASES: usize = 3000;
const KBS: &[&str] = &[
    "KB5000001",
    "KB5000002",
    "KB5000003",
    "KB5000004",
    "KB5000005",
    "KB5000006",
];
const BULLETINS: &[&str] = &["MS17-010", "MS16-001"];
const PRODUCTS: &[(&str, &str)] = &[
    ("WindowsServer2016", "Windows"),
    ("WindowsServer2019", "Windows"),
    ("Microsoft Server operating system-21H2", "Windows"),
    ("Windows10", "Windows"),
    ("Office 2016", "Office"),
    ("Exchange Server 2019", "Exchange Server"),
];
const CLASSIFICATIONS: &[&str] = &[
    "SecurityUpdates",
    "CriticalUpdates",
    "Updates",
    "UpdateRollups",
    "Tools",
];
const SEVERITIES: &[&str] = &["Critical", "Important", "Moderate", "Low"];

/// Seeded generator of engine inputs over a small vocabulary, so that filters often match.
struct Gen(StdRng);

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen(StdRng::seed_from_u64(seed))
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items.choose(&mut self.0).copied().unwrap_or("")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.0.gen_bool(p)
    }

    /// A time between 2025-09-01 and 2026-01-31, to the second.
    fn time(&mut self) -> DateTime<Utc> {
        let start = NaiveDate::from_ymd_opt(2025, 9, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        start + Duration::seconds(self.0.gen_range(0..153 * 86_400))
    }

    fn level(&mut self) -> ComplianceLevel {
        *ComplianceLevel::ALL.choose(&mut self.0).unwrap()
    }

    fn filter(&mut self, key: FilterKey) -> PatchFilter {
        let vocabulary: Vec<&str> = match key {
            FilterKey::PatchSet => vec!["OS", "APPLICATION"],
            FilterKey::Product => PRODUCTS
                .iter()
                .map(|(product, _)| *product)
                .chain(["WindowsServer2022"])
                .collect(),
            FilterKey::ProductFamily => vec!["Windows", "Office", "Exchange Server"],
            FilterKey::Classification => CLASSIFICATIONS.to_vec(),
            FilterKey::MsrcSeverity => SEVERITIES.iter().copied().chain(["Unspecified"]).collect(),
            FilterKey::PatchId => KBS.to_vec(),
        };
        let count = self.0.gen_range(1..=3);
        let mut values: Vec<&str> = (0..count).map(|_| self.pick(&vocabulary)).collect();
        if self.chance(0.3) {
            values = vec!["*"];
        }
        PatchFilter::new(key, &values)
    }

    fn filters(&mut self, max: usize) -> Vec<PatchFilter> {
        let count = self.0.gen_range(0..=max);
        let keys: Vec<FilterKey> = FilterKey::ALL
            .choose_multiple(&mut self.0, count)
            .copied()
            .collect();
        keys.into_iter().map(|key| self.filter(key)).collect()
    }

    fn approval(&mut self) -> Approval {
        if self.chance(0.7) {
            Approval::AfterDays(self.0.gen_range(0..=30))
        } else {
            Approval::UntilDate(self.time().date_naive())
        }
    }

    fn patch_ids(&mut self, max: usize) -> Vec<PatchId> {
        let count = self.0.gen_range(0..=max);
        (0..count)
            .map(|_| {
                let id = if self.chance(0.8) {
                    self.pick(KBS)
                } else {
                    self.pick(BULLETINS)
                };
                PatchId::new(id)
            })
            .collect()
    }

    fn baseline(&mut self) -> Baseline {
        let rules = (0..self.0.gen_range(1..=4))
            .map(|_| PatchRule {
                filters: self.filters(3),
                compliance_level: self.level(),
                approval: self.approval(),
            })
            .collect();
        let global_filters = if self.chance(0.3) {
            self.filters(2)
        } else {
            Vec::new()
        };
        let handling = [
            SupersededHandling::Exclude,
            SupersededHandling::OfferUntilSuccessorApproved,
            SupersededHandling::Offer,
        ];
        let extensions = ProxyExtensions {
            superseded_handling: *handling.choose(&mut self.0).unwrap(),
            explicit_approval_overrides_supersedence: self.chance(0.5),
            multi_rule_compliance_level: if self.chance(0.5) {
                MultiRuleComplianceLevel::Highest
            } else {
                MultiRuleComplianceLevel::FirstMatchingRule
            },
            ..ProxyExtensions::default()
        };
        Baseline {
            id: "generated".into(),
            name: "generated".into(),
            description: None,
            global_filters,
            rules,
            approved_patches: self.patch_ids(3),
            approved_patches_compliance_level: self.level(),
            rejected_patches: self.patch_ids(2),
            rejected_patches_action: if self.chance(0.5) {
                RejectedPatchesAction::Block
            } else {
                RejectedPatchesAction::AllowAsDependency
            },
            available_security_updates_compliance_status: None,
            patch_groups: Vec::new(),
            default_baseline: false,
            extensions,
        }
    }

    /// An update with up to two successors (which have none of their own).
    fn update(&mut self) -> UpdateFacts {
        let mut update = self.plain_update();
        let successors = if self.chance(0.6) {
            0
        } else {
            self.0.gen_range(1..=2)
        };
        for _ in 0..successors {
            let successor = self.plain_update();
            update.superseded_by.push(std::sync::Arc::new(successor));
        }
        update
    }

    fn plain_update(&mut self) -> UpdateFacts {
        let (product, family) = *PRODUCTS.choose(&mut self.0).unwrap();
        let mut update = UpdateFacts::new(Uuid::from_u128(self.0.gen()), self.time());
        update.kb = self.chance(0.9).then(|| self.pick(KBS).to_string());
        update.bulletin = self.chance(0.2).then(|| self.pick(BULLETINS).to_string());
        update.products = vec![Category::named(product)];
        update.product_families = vec![family.into()];
        update.classifications = vec![Category::named(self.pick(CLASSIFICATIONS))];
        update.msrc_severity = self.chance(0.7).then(|| self.pick(SEVERITIES).to_string());
        update.expired = self.chance(0.05);
        update
    }
}

/// How often each interesting case occurred in a run; a property fails if one never did.
struct Cases(BTreeMap<&'static str, usize>);

impl Cases {
    /// Expects each of `cases` to occur at least once.
    fn expect(cases: &[&'static str]) -> Cases {
        Cases(cases.iter().map(|case| (*case, 0)).collect())
    }

    fn saw(&mut self, case: &'static str, happened: bool) {
        let count = self
            .0
            .get_mut(case)
            .unwrap_or_else(|| panic!("unexpected case {case}"));
        *count += usize::from(happened);
    }

    fn assert_all_seen(&self) {
        let missing: Vec<&str> = self.0.iter().filter(|(_, n)| **n == 0).map(|(c, _)| *c).collect();
        assert!(
            missing.is_empty(),
            "never generated: {missing:?} (counts {:?})",
            self.0
        );
    }
}

/// Whether an explicit list names the update by its KB or bulletin (the generator writes both in
/// their canonical upper-case forms, so plain equality is the specification).
fn listed(entries: &[PatchId], update: &UpdateFacts) -> bool {
    let named = |id: &Option<String>| {
        id.as_deref()
            .is_some_and(|id| entries.contains(&PatchId::new(id)))
    };
    named(&update.kb) || named(&update.bulletin)
}

fn has_live_successor(update: &UpdateFacts) -> bool {
    update.superseded_by.iter().any(|s| !s.expired)
}

#[test]
fn explicit_rejection_wins_and_only_listed_updates_are_rejected() {
    let mut gen = Gen::new(0x5eed_0001);
    let mut cases = Cases::expect(&[
        "not listed",
        "rejected",
        "rejected and approved",
        "rejected by bulletin only",
        "rejected but expired",
        "rejected with a live successor under Exclude",
        "rejected though a rule approves it",
    ]);
    for case in 0..CASES {
        let mut baseline = gen.baseline();
        let update = gen.update();
        if let Some(kb) = update.kb.clone().filter(|_| gen.chance(0.5)) {
            baseline.rejected_patches.push(PatchId::new(&kb));
            baseline.approved_patches.push(PatchId::new(&kb));
        }
        let evaluation = evaluate(&update, &baseline, gen.time());
        let rejected = listed(&baseline.rejected_patches, &update);
        if !rejected {
            assert_ne!(
                evaluation.decision,
                Decision::ExplicitRejected,
                "case {case}: {evaluation:?}"
            );
            cases.saw("not listed", true);
            continue;
        }
        let expected = if update.expired {
            Decision::ExcludedExpired
        } else {
            Decision::ExplicitRejected
        };
        assert_eq!(evaluation.decision, expected, "case {case}: {evaluation:?}");
        assert_eq!(evaluation.approval_date, None, "case {case}");
        cases.saw("rejected", true);
        cases.saw(
            "rejected and approved",
            listed(&baseline.approved_patches, &update),
        );
        cases.saw("rejected by bulletin only", {
            let kb_only = UpdateFacts {
                bulletin: None,
                ..update.clone()
            };
            !listed(&baseline.rejected_patches, &kb_only)
        });
        cases.saw("rejected but expired", update.expired);
        cases.saw(
            "rejected with a live successor under Exclude",
            has_live_successor(&update)
                && baseline.extensions.superseded_handling == SupersededHandling::Exclude,
        );
        let rules_approve = evaluate(&update, &without_lists(&baseline), gen.time())
            .decision
            .is_approved();
        cases.saw("rejected though a rule approves it", rules_approve);
    }
    cases.assert_all_seen();
}

/// The baseline without explicit lists: what its rules alone decide.
fn without_lists(baseline: &Baseline) -> Baseline {
    Baseline {
        approved_patches: Vec::new(),
        rejected_patches: Vec::new(),
        ..baseline.clone()
    }
}

#[test]
fn moving_now_forward_never_unapproves_a_rule_approved_update() {
    let mut gen = Gen::new(0x5eed_0002);
    let mut cases = Cases::expect(&[
        "still approved later",
        "a later rule raised the level",
        "a successor's approval took it away",
    ]);
    for case in 0..4 * CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let earlier = gen.time();
        let later = earlier + Duration::seconds(gen.0.gen_range(0..=120 * 86_400));
        let before = evaluate(&update, &baseline, earlier);
        let after = evaluate(&update, &baseline, later);
        if before.decision != Decision::Approved {
            continue;
        }
        let handling = baseline.extensions.superseded_handling;
        if handling == SupersededHandling::OfferUntilSuccessorApproved
            && after.decision == Decision::ExcludedSuperseded
        {
            // Only a successor's approval in between may take it away.
            let successor_approved = update.superseded_by.iter().any(|s| {
                !s.expired
                    && evaluate(s, &without_supersedence(&baseline), later)
                        .decision
                        .is_approved()
            });
            assert!(successor_approved, "case {case}: {before:?} then {after:?}");
            cases.saw("a successor's approval took it away", true);
            continue;
        }
        assert_eq!(
            after.decision,
            Decision::Approved,
            "case {case}: {before:?} then {after:?}"
        );
        assert_eq!(after.approval_date, before.approval_date, "case {case}");
        assert!(before.approval_date.is_some_and(|d| d <= earlier), "case {case}");
        cases.saw("still approved later", true);
        if baseline.extensions.multi_rule_compliance_level == MultiRuleComplianceLevel::Highest {
            assert!(after.compliance_level >= before.compliance_level, "case {case}");
            cases.saw(
                "a later rule raised the level",
                after.compliance_level > before.compliance_level,
            );
        }
    }
    cases.assert_all_seen();
}

/// The baseline offering superseded updates: what a successor's own decision is.
fn without_supersedence(baseline: &Baseline) -> Baseline {
    let mut plain = baseline.clone();
    plain.extensions.superseded_handling = SupersededHandling::Offer;
    plain
}

#[test]
fn a_pending_update_is_approved_exactly_at_its_approval_date() {
    let mut gen = Gen::new(0x5eed_0003);
    let mut cases = Cases::expect(&[
        "approved at its date",
        "an approved successor excluded it at its date",
    ]);
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let before = evaluate(&update, &baseline, gen.time());
        if before.decision != Decision::PendingApproval {
            continue;
        }
        let date = before.approval_date.unwrap();
        let just_before = evaluate(&update, &baseline, date - Duration::seconds(1));
        assert_eq!(
            just_before.decision,
            Decision::PendingApproval,
            "case {case}: {just_before:?}"
        );
        assert_eq!(just_before.approval_date, Some(date), "case {case}");
        let at_date = evaluate(&update, &baseline, date);
        match at_date.decision {
            Decision::Approved => {
                assert_eq!(at_date.approval_date, Some(date), "case {case}");
                cases.saw("approved at its date", true);
            }
            Decision::ExcludedSuperseded => {
                assert_eq!(
                    baseline.extensions.superseded_handling,
                    SupersededHandling::OfferUntilSuccessorApproved,
                    "case {case}: only a successor approved by then may exclude it"
                );
                cases.saw("an approved successor excluded it at its date", true);
            }
            _ => panic!("case {case}: {before:?} then {at_date:?}"),
        }
    }
    cases.assert_all_seen();
}

#[test]
fn the_order_of_lists_filters_values_and_successors_does_not_matter() {
    let mut gen = Gen::new(0x5eed_0004);
    let mut cases = Cases::expect(&[
        "filters or values reordered",
        "several list entries reordered",
        "successors reordered, one approved and one not, until-approved handling",
    ]);
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let now = gen.time();
        let evaluation = evaluate(&update, &baseline, now);
        let (shuffled_update, shuffled) = (reordered_update(&update), reordered(&baseline));
        let other = evaluate(&shuffled_update, &shuffled, now);
        let key = |e: &super::evaluate::Evaluation| (e.decision, e.approval_date, e.compliance_level);
        assert_eq!(key(&other), key(&evaluation), "case {case}");
        let multi_valued = baseline
            .rules
            .iter()
            .any(|r| r.filters.len() > 1 || r.filters.iter().any(|f| f.values.len() > 1));
        cases.saw(
            "filters or values reordered",
            multi_valued && evaluation.decision.is_approved(),
        );
        cases.saw(
            "several list entries reordered",
            baseline.approved_patches.len() + baseline.rejected_patches.len() > 2
                && listed(&baseline.approved_patches, &update),
        );
        let successors: Vec<bool> = update
            .superseded_by
            .iter()
            .map(|s| {
                evaluate(s, &without_supersedence(&baseline), now)
                    .decision
                    .is_approved()
            })
            .collect();
        cases.saw(
            "successors reordered, one approved and one not, until-approved handling",
            successors.contains(&true)
                && successors.contains(&false)
                && baseline.extensions.superseded_handling == SupersededHandling::OfferUntilSuccessorApproved,
        );
    }
    cases.assert_all_seen();
}

/// The baseline with every list, filter group and value list reversed (rules keep their order:
/// `FirstMatchingRule` depends on it).
fn reordered(baseline: &Baseline) -> Baseline {
    let reverse = |filters: &[PatchFilter]| -> Vec<PatchFilter> {
        filters
            .iter()
            .rev()
            .map(|f| PatchFilter {
                key: f.key,
                values: f.values.iter().rev().cloned().collect(),
            })
            .collect()
    };
    let mut shuffled = baseline.clone();
    shuffled.approved_patches.reverse();
    shuffled.rejected_patches.reverse();
    shuffled.global_filters = reverse(&baseline.global_filters);
    for rule in &mut shuffled.rules {
        rule.filters = reverse(&rule.filters);
    }
    shuffled
}

fn reordered_update(update: &UpdateFacts) -> UpdateFacts {
    let mut shuffled = update.clone();
    shuffled.superseded_by.reverse();
    shuffled
}

#[test]
fn approval_dates_agree_with_decisions() {
    let mut gen = Gen::new(0x5eed_0005);
    let mut cases = Cases::expect(&[
        Decision::Approved.as_str(),
        Decision::PendingApproval.as_str(),
        Decision::ExplicitApproved.as_str(),
        Decision::ExplicitRejected.as_str(),
        Decision::NotApproved.as_str(),
        Decision::ExcludedSuperseded.as_str(),
        Decision::ExcludedExpired.as_str(),
    ]);
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let now = gen.time();
        let evaluation = evaluate(&update, &baseline, now);
        let date = evaluation.approval_date;
        cases.saw(evaluation.decision.as_str(), true);
        match evaluation.decision {
            Decision::Approved => assert!(date.is_some_and(|d| d <= now), "case {case}: {evaluation:?}"),
            Decision::PendingApproval => {
                assert!(date.is_some_and(|d| d > now), "case {case}: {evaluation:?}")
            }
            Decision::ExplicitApproved => assert_eq!(date, Some(update.release_date), "case {case}"),
            _ => assert_eq!(date, None, "case {case}: {evaluation:?}"),
        }
        if let Some(date) = date {
            // Rules approve at release (ApproveUntilDate) or whole days after it, up to 30.
            let delay = date - update.release_date;
            assert!(
                delay >= Duration::zero() && delay <= Duration::days(30) && delay.num_seconds() % 86_400 == 0,
                "case {case}: approved {delay} after release: {evaluation:?}"
            );
        }
    }
    cases.assert_all_seen();
}

#[test]
fn a_maturing_approval_reaches_clients_at_the_first_epoch_boundary_after_its_date() {
    let mut gen = Gen::new(0x5eed_0006);
    let mut cases = Cases::expect(&["approved at the next boundary", "the date falls inside an epoch"]);
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let minutes = gen.0.gen_range(1..=240);
        let interval = Duration::minutes(i64::from(minutes));
        let now = gen.time();
        let epoch = evaluation_epoch(now, minutes);
        assert!(epoch <= now && now < epoch + interval, "case {case}");
        assert_eq!(
            epoch.timestamp() % interval.num_seconds(),
            0,
            "case {case}: on a boundary"
        );
        let later = epoch + Duration::seconds(gen.0.gen_range(0..interval.num_seconds()));
        assert_eq!(evaluation_epoch(later, minutes), epoch, "case {case}");

        // What clients see during this epoch, and when a pending approval reaches them.
        let frozen = evaluate(&update, &baseline, epoch);
        if frozen.decision != Decision::PendingApproval {
            continue;
        }
        let date = frozen.approval_date.unwrap();
        let visible = evaluation_epoch(date + interval - Duration::seconds(1), minutes);
        assert!(date <= visible && visible < date + interval, "case {case}");
        let last_pending = evaluate(&update, &baseline, visible - interval);
        assert_eq!(
            last_pending.decision,
            Decision::PendingApproval,
            "case {case}: {last_pending:?}"
        );
        let first_seen = evaluate(&update, &baseline, visible).decision;
        assert!(
            matches!(first_seen, Decision::Approved | Decision::ExcludedSuperseded),
            "case {case}: {first_seen:?} at {visible} for an approval at {date}"
        );
        cases.saw("approved at the next boundary", first_seen == Decision::Approved);
        cases.saw("the date falls inside an epoch", visible > date);
    }
    cases.assert_all_seen();
}
