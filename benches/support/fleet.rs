//! A fleet of registered machines seeded straight into a store (computer records with a
//! Windows 11 inventory, and folded statuses), and a baseline file with two patch groups: what a
//! benchmark needs to measure `serve` with machines, without sending every machine's reports
//! over SOAP first.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// The client id of machine `n`.
pub(crate) fn client_id(n: usize) -> String {
    Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 + n as u128).to_string()
}

/// Registers `machines` machines, half of them in `Ring1`; each reported a status over
/// `per_machine` of `updates` drawn at random: about a tenth needed, two thirds installed, a
/// few failed.
pub(crate) fn seed(store: &wucache::store::Store, machines: usize, updates: &[Uuid], per_machine: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    for n in 0..machines {
        let id = client_id(n);
        let groups = if n % 2 == 0 { "[\"Ring1\"]" } else { "[]" };
        let record = format!(
            "{{\"client_id\":\"{id}\",\"dns_name\":\"pc-{n:05}.corp.example\",\"requested_groups\":{groups},\
             \"registered\":true,\"computer\":{},\"first_seen\":\"2026-11-02T08:00:00+00:00\",\
             \"last_authorization\":\"2026-12-01T09:58:00+00:00\",\"last_sync\":\"2026-12-01T09:59:00+00:00\",\
             \"last_report\":\"2026-12-01T10:00:00+00:00\",\"events_received\":42,\"ip\":\"10.1.{}.{}\"}}",
            inventory(n),
            n / 250,
            n % 250 + 1
        );
        store.put_computer(&id, &record).expect("computer");
        let (mut needed, mut installed, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for update in updates.choose_multiple(&mut rng, per_machine) {
            match rng.gen_range(0..100) {
                0..=9 => needed.push(format!("\"{update}\"")),
                10..=11 => failed.push(format!(
                    "\"{update}\":{{\"hresult\":-2145099769,\"at\":1764583200000}}"
                )),
                12..=78 => installed.push(format!("\"{update}\"")),
                _ => {}
            }
        }
        let status = format!(
            "{{\"status_at\":1764583200000,\"needed\":[{}],\"installed\":[{}],\"failed\":{{{}}}}}",
            needed.join(","),
            installed.join(","),
            failed.join(",")
        );
        store.put_status(&id, &status).expect("status");
    }
}

/// The inventory a Windows 11 machine registers with (the fields of the captured client in
/// `testkit::wua`), under the machine's own name.
fn inventory(n: usize) -> String {
    format!(
        "{{\"dns_name\":\"pc-{n:05}.corp.example\",\"os_major_version\":\"10\",\"os_minor_version\":\"0\",\
         \"os_build_number\":\"26200\",\"os_service_pack_major_number\":\"0\",\"os_service_pack_minor_number\":\"0\",\
         \"os_locale\":\"en-US\",\"computer_manufacturer\":\"QEMU\",\"computer_model\":\"Standard PC (Q35 + ICH9, 2009)\",\
         \"bios_version\":\"unknown\",\"bios_name\":\"unknown\",\"bios_release_date\":\"2022-02-02T00:00:00Z\",\
         \"processor_architecture\":\"AMD64\",\"suite_mask\":\"256\",\"old_product_type\":\"1\",\"new_product_type\":\"48\",\
         \"system_metrics\":\"0\",\"client_version_major_number\":\"1507\",\"client_version_minor_number\":\"2601\",\
         \"client_version_build_number\":\"30012\",\"client_version_qfe_number\":\"0\",\"os_description\":\"Windows 10 Pro\",\
         \"oem\":\"QEMU\",\"device_type\":\"Standard PC (Q35 + ICH9, 2009)\",\
         \"firmware_version\":\"unknown\",\"mobile_operator\":\"Not Present\"}}"
    )
}

/// Writes `baselines.toml` into `dir`: everyone gets every update after 7 days; the patch
/// group Ring1 gets security and critical updates at once.
pub(crate) fn write_baselines(dir: &Path) -> PathBuf {
    let path = dir.join("baselines.toml");
    let text = r#"schema_version = 1
default_baseline = "everyone"

[[patch_group]]
name = "Ring1"
baseline = "ring-one"

[[baseline]]
id = "everyone"
Name = "everyone"
OperatingSystem = "WINDOWS"
[[baseline.ApprovalRules.PatchRules]]
ApproveAfterDays = 7
ComplianceLevel = "HIGH"
PatchFilterGroup = { PatchFilters = [{ Key = "PRODUCT", Values = ["*"] }] }

[[baseline]]
id = "ring-one"
Name = "ring-one"
OperatingSystem = "WINDOWS"
[[baseline.ApprovalRules.PatchRules]]
ApproveAfterDays = 0
ComplianceLevel = "CRITICAL"
PatchFilterGroup = { PatchFilters = [{ Key = "CLASSIFICATION", Values = ["SecurityUpdates", "CriticalUpdates"] }] }
"#;
    std::fs::write(&path, text).expect("baselines");
    path
}
