//! Property tests of the engine over seeded random baselines, updates and times: rejections
//! always win, time only moves decisions forward, evaluation is deterministic, and dates agree
//! with decisions.

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
            update.superseded_by.push(successor);
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

#[test]
fn an_explicitly_rejected_update_is_never_approved() {
    let mut gen = Gen::new(0x5eed_0001);
    for case in 0..CASES {
        let mut baseline = gen.baseline();
        let update = gen.update();
        if let Some(kb) = &update.kb {
            if gen.chance(0.5) {
                baseline.rejected_patches.push(PatchId::new(kb));
                baseline.approved_patches.push(PatchId::new(kb));
            }
        }
        let rejected = update
            .kb
            .as_deref()
            .is_some_and(|kb| baseline.rejected_patches.contains(&PatchId::new(kb)));
        let evaluation = evaluate(&update, &baseline, gen.time());
        if rejected {
            assert!(!evaluation.decision.is_approved(), "case {case}: {evaluation:?}");
            let expected = if update.expired {
                Decision::ExcludedExpired
            } else {
                Decision::ExplicitRejected
            };
            assert_eq!(evaluation.decision, expected, "case {case}");
        }
    }
}

#[test]
fn moving_now_forward_never_unapproves_a_rule_approved_update() {
    let mut gen = Gen::new(0x5eed_0002);
    let mut approved_seen = 0;
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let (first, second) = (gen.time(), gen.time());
        let (earlier, later) = (first.min(second), first.max(second));
        let before = evaluate(&update, &baseline, earlier);
        let after = evaluate(&update, &baseline, later);
        if before.decision != Decision::Approved {
            continue;
        }
        approved_seen += 1;
        let handling = baseline.extensions.superseded_handling;
        if handling == SupersededHandling::OfferUntilSuccessorApproved
            && after.decision == Decision::ExcludedSuperseded
        {
            continue;
        }
        assert_eq!(
            after.decision,
            Decision::Approved,
            "case {case}: {before:?} then {after:?}"
        );
        assert_eq!(after.approval_date, before.approval_date, "case {case}");
        if baseline.extensions.multi_rule_compliance_level == MultiRuleComplianceLevel::Highest {
            assert!(after.compliance_level >= before.compliance_level, "case {case}");
        }
    }
    assert!(
        approved_seen > CASES / 20,
        "the generator rarely approves: {approved_seen}"
    );
}

#[test]
fn a_pending_update_only_moves_towards_approval() {
    let mut gen = Gen::new(0x5eed_0003);
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let earlier = gen.time();
        let before = evaluate(&update, &baseline, earlier);
        if before.decision != Decision::PendingApproval {
            continue;
        }
        let at_date = evaluate(&update, &baseline, before.approval_date.unwrap());
        let allowed = [Decision::Approved, Decision::ExcludedSuperseded];
        assert!(
            allowed.contains(&at_date.decision),
            "case {case}: {before:?} then {at_date:?}"
        );
    }
}

#[test]
fn evaluation_is_deterministic_and_ignores_list_order() {
    let mut gen = Gen::new(0x5eed_0004);
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let now = gen.time();
        let evaluation = evaluate(&update, &baseline, now);
        assert_eq!(
            evaluate(&update.clone(), &baseline.clone(), now),
            evaluation,
            "case {case}"
        );
        let mut shuffled_update = update.clone();
        shuffled_update.superseded_by.reverse();
        let mut shuffled = baseline.clone();
        shuffled.approved_patches.reverse();
        shuffled.rejected_patches.reverse();
        let other = evaluate(&shuffled_update, &shuffled, now);
        let key = |e: &super::evaluate::Evaluation| (e.decision, e.approval_date, e.compliance_level);
        assert_eq!(key(&other), key(&evaluation), "case {case}");
    }
}

#[test]
fn approval_dates_agree_with_decisions() {
    let mut gen = Gen::new(0x5eed_0005);
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let now = gen.time();
        let evaluation = evaluate(&update, &baseline, now);
        let date = evaluation.approval_date;
        match evaluation.decision {
            Decision::Approved => assert!(date.is_some_and(|d| d <= now), "case {case}: {evaluation:?}"),
            Decision::PendingApproval => {
                assert!(date.is_some_and(|d| d > now), "case {case}: {evaluation:?}")
            }
            Decision::ExplicitApproved => assert_eq!(date, Some(update.release_date), "case {case}"),
            _ => assert_eq!(date, None, "case {case}: {evaluation:?}"),
        }
    }
}

#[test]
fn every_time_in_an_epoch_gets_the_same_decision() {
    let mut gen = Gen::new(0x5eed_0006);
    for case in 0..CASES {
        let baseline = gen.baseline();
        let update = gen.update();
        let minutes = gen.0.gen_range(1..=240);
        let first = gen.time();
        let epoch = evaluation_epoch(first, minutes);
        assert!(
            epoch <= first && first < epoch + Duration::minutes(i64::from(minutes)),
            "case {case}"
        );
        assert_eq!(evaluation_epoch(epoch, minutes), epoch, "case {case}");
        let second = epoch + Duration::seconds(gen.0.gen_range(0..i64::from(minutes) * 60));
        assert_eq!(evaluation_epoch(second, minutes), epoch, "case {case}");
        assert_eq!(
            evaluate(&update, &baseline, evaluation_epoch(second, minutes)),
            evaluate(&update, &baseline, epoch),
            "case {case}"
        );
    }
}
