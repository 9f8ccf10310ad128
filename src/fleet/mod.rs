//! What the fleet reported, pure: the computer records (`computer`), each machine's update
//! states folded from its ReportEventBatch events (`status`), and Patch Manager compliance per machine and per patch
//! group from those states and the baseline decisions (`compliance`). Uses `model`,
//! `protocol` (the reporting event type) and `approval`.

pub(crate) mod compliance;
pub(crate) mod computer;
pub(crate) mod status;

pub(crate) use compliance::{
    machine_compliance, machine_summary, CatalogFacts, Decisions, GroupState, MachineCompliance,
};
pub(crate) use computer::{ComputerRecord, StoredEvent};
pub(crate) use status::MachineStatus;
