//! The simulated Windows Update Agent: one machine's scan as a sequence of SOAP calls, each
//! built from the answers so far, with the `ComputerInfo` of the captured Windows 11 client.

use std::collections::HashSet;
use wucache::protocol::wusp::messages as msg;
use wucache::protocol::wusp::{
    envelope, AuthorizationCookie, ComputerInfo, Cookie, GetAuthorizationCookieRequest, GetConfigRequest,
    GetCookieRequest, Operation, RegisterComputerRequest, SyncUpdateParameters, SyncUpdatesRequest,
};
use wucache::protocol::xml::Element;

/// Where a machine is in its scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    GetConfig,
    Authorize,
    GetCookie,
    Register,
    Software { first: bool },
    Drivers,
    Done,
}

/// One simulated machine as a sequence of SOAP calls, each built from the answers so far:
/// the handshake, the staged SyncUpdates loop (every non-leaf returned counts as installed,
/// every leaf as cached; repeat while truncated or a non-leaf came back) and the driver pass.
/// The same loop as `WindowsClient::scan` in `tests/it/client.rs`, without the checks.
pub(crate) struct Machine {
    client_id: String,
    step: Step,
    last_change: String,
    auth: Option<AuthorizationCookie>,
    cookie: Option<Cookie>,
    installed: Vec<i32>,
    other: Vec<i32>,
    /// UpdateInfos received (NewUpdates, all pages).
    pub(crate) delivered: usize,
    /// SyncUpdates calls, the driver pass included.
    pub(crate) sync_calls: usize,
}

impl Machine {
    pub(crate) fn new(n: usize) -> Machine {
        Machine {
            client_id: format!("{n:08x}-5ca1-4e00-8000-{:012x}", rand::random::<u64>() >> 16),
            step: Step::GetConfig,
            last_change: String::new(),
            auth: None,
            cookie: None,
            installed: Vec::new(),
            other: Vec::new(),
            delivered: 0,
            sync_calls: 0,
        }
    }

    fn dns_name(&self) -> String {
        format!("pc-{}.corp.example", &self.client_id[..8])
    }

    /// True once the handshake is done.
    pub(crate) fn is_scanning(&self) -> bool {
        matches!(self.step, Step::Software { .. } | Step::Drivers)
    }

    /// The next call (operation and SOAP envelope), or `None` when the scan is over.
    pub(crate) fn request(&self) -> Option<(Operation, String)> {
        let (op, xml) = match self.step {
            Step::GetConfig => (
                Operation::GetConfig,
                msg::build_get_config_request(&GetConfigRequest {
                    protocol_version: "2.90".into(),
                }),
            ),
            Step::Authorize => (
                Operation::GetAuthorizationCookie,
                msg::build_get_authorization_cookie_request(&GetAuthorizationCookieRequest {
                    client_id: Some(self.client_id.clone()),
                    target_group_name: None,
                    dns_name: Some(self.dns_name()),
                }),
            ),
            Step::GetCookie => (
                Operation::GetCookie,
                msg::build_get_cookie_request(&self.cookie_request()),
            ),
            Step::Register => (
                Operation::RegisterComputer,
                msg::build_register_computer_request(&RegisterComputerRequest {
                    cookie: self.cookie.clone(),
                    computer: windows11(self.dns_name()),
                }),
            ),
            Step::Software { first } => (Operation::SyncUpdates, self.software_request(first)),
            Step::Drivers => (Operation::SyncUpdates, self.driver_request()),
            Step::Done => return None,
        };
        Some((op, envelope::request(&xml)))
    }

    fn cookie_request(&self) -> GetCookieRequest {
        GetCookieRequest {
            auth_cookies: self.auth.iter().cloned().collect(),
            old_cookie: Some(Cookie {
                expiration: "2026-10-04T15:03:36Z".into(),
                encrypted_data: None,
            }),
            last_change: Some(self.last_change.clone()),
            current_time: Some("2026-10-04T15:03:36Z".into()),
            protocol_version: Some("2.90".into()),
        }
    }

    fn software_request(&self, first: bool) -> String {
        self.sync_request(SyncUpdateParameters {
            installed_non_leaf: (!first).then(|| self.installed.clone()),
            other_cached: (!first).then(|| self.other.clone()),
            need_two_group_out_of_scope: true,
            ..SyncUpdateParameters::default()
        })
    }

    fn driver_request(&self) -> String {
        self.sync_request(SyncUpdateParameters {
            installed_non_leaf: Some(self.installed.clone()),
            skip_software_sync: true,
            system_spec_present: true,
            ..SyncUpdateParameters::default()
        })
    }

    fn sync_request(&self, parameters: SyncUpdateParameters) -> String {
        msg::build_sync_updates_request(&SyncUpdatesRequest {
            cookie: self.cookie.clone(),
            parameters: Some(parameters),
        })
    }

    /// Takes the answer to the call `request` last gave.
    pub(crate) fn answer(&mut self, response: &Element) {
        self.step = match self.step {
            Step::GetConfig => {
                let config = msg::parse_get_config_response(response).expect("Config");
                self.last_change = config.last_change;
                Step::Authorize
            }
            Step::Authorize => {
                let auth = msg::parse_get_authorization_cookie_response(response);
                self.auth = Some(auth.expect("AuthorizationCookie"));
                Step::GetCookie
            }
            Step::GetCookie => {
                self.cookie = Some(msg::parse_get_cookie_response(response).expect("Cookie"));
                Step::Register
            }
            Step::Register => Step::Software { first: true },
            Step::Software { .. } => self.take_page(response),
            Step::Drivers => {
                self.sync_calls += 1;
                Step::Done
            }
            Step::Done => Step::Done,
        };
    }

    /// One software page: remember what came, decide whether to ask again.
    fn take_page(&mut self, response: &Element) -> Step {
        let info = msg::parse_sync_updates_response(response).expect("SyncInfo");
        self.sync_calls += 1;
        assert!(self.sync_calls < 10_000, "the scan does not converge");
        self.cookie = Some(info.new_cookie);
        self.delivered += info.new_updates.len();
        let mut non_leaf = false;
        for update in &info.new_updates {
            if update.is_leaf {
                self.other.push(update.id);
            } else {
                non_leaf = true;
                self.installed.push(update.id);
            }
        }
        let gone: HashSet<i32> = info.out_of_scope_revision_ids.into_iter().collect();
        self.installed.retain(|id| !gone.contains(id));
        self.other.retain(|id| !gone.contains(id));
        if info.truncated || non_leaf {
            Step::Software { first: false }
        } else {
            Step::Drivers
        }
    }
}

/// A Windows 11 25H2 machine, as the captured client registered (native-scan 000004).
fn windows11(dns_name: String) -> ComputerInfo {
    let text = |s: &str| s.to_string();
    ComputerInfo {
        dns_name,
        os_major_version: text("10"),
        os_minor_version: text("0"),
        os_build_number: text("26200"),
        os_service_pack_major_number: text("0"),
        os_service_pack_minor_number: text("0"),
        os_locale: text("en-US"),
        computer_manufacturer: text("QEMU"),
        computer_model: text("Standard PC (Q35 + ICH9, 2009)"),
        bios_version: text("unknown"),
        bios_name: text("unknown"),
        bios_release_date: text("2022-02-02T00:00:00Z"),
        processor_architecture: text("AMD64"),
        suite_mask: text("256"),
        old_product_type: text("1"),
        new_product_type: text("48"),
        system_metrics: text("0"),
        client_version_major_number: text("1507"),
        client_version_minor_number: text("2601"),
        client_version_build_number: text("30012"),
        client_version_qfe_number: text("0"),
        os_description: text("Windows 10 Pro"),
        oem: text("QEMU"),
        device_type: text("Standard PC (Q35 + ICH9, 2009)"),
        firmware_version: text("unknown"),
        mobile_operator: text("Not Present"),
    }
}
