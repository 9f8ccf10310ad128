//! Approval decisions, pure: what the server does with an update. `decide` is the policy
//! without a baseline file: every update the catalog mirrors is approved — the catalog only
//! holds the configured products × classifications — and expired revisions are never
//! offered. With baselines, `snapshot` maps the baseline engine's decisions to the same
//! `Decision`, so the protocol code never changes for them.

use crate::model::UpdateRecord;

/// What an update is for one policy group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Offered for install (`Deployment/Action` Install).
    Approved,
    /// Known, not approved, not declined: clients evaluate and report it
    /// (`PreDeploymentCheck`) but are not offered it.
    NotApproved,
    /// Never sent (declined, expired, excluded).
    Excluded,
}

/// Inputs beside the update itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The policy group (patch group) of the asking client.
    pub group: &'a str,
    /// Evaluation time, unix seconds (frozen per snapshot by the caller).
    pub now: i64,
}

/// Decides one top-level update (not a bundle member, category or detectoid: those follow
/// the updates that need them).
pub fn decide(update: &UpdateRecord, _context: &Context<'_>) -> Decision {
    if update.is_expired() {
        return Decision::Excluded;
    }
    Decision::Approved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PublicationState, UpdateIdentity, UpdateType};

    #[test]
    fn published_updates_are_approved_and_expired_ones_excluded() {
        let context = Context {
            group: "default",
            now: 0,
        };
        let mut update = UpdateRecord::new(UpdateIdentity::default(), UpdateType::Software);
        assert_eq!(decide(&update, &context), Decision::Approved);
        update.publication_state = PublicationState::Expired;
        assert_eq!(decide(&update, &context), Decision::Excluded);
    }
}
