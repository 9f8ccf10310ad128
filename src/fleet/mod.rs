//! What the fleet reported, pure: the computer records (`computer`), each machine's update
//! states folded from its ReportEventBatch events (`status`), and Patch Manager compliance per machine and per patch
//! group from those states and the baseline decisions (`compliance`). Uses `model`,
//! `protocol` (the reporting event type) and `approval`.

pub mod compliance;
pub mod computer;
pub mod status;

pub use compliance::{machine_compliance, Decisions, GroupState, MachineCompliance, MachineItem};
pub use computer::{ComputerRecord, StoredEvent};
pub use status::{Failure, MachineStatus, ScanOutcome};
