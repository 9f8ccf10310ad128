//! A simulated Windows Update Agent: the whole client flow over HTTP against a running
//! wucache — GetConfig, SimpleAuth, GetCookie, RegisterComputer, the staged SyncUpdates loop
//! (categories and detectoids evaluate as installed, as on a matching machine), the driver
//! pass, GetExtendedUpdateInfo in batches, ReportEventBatch — built only from the message
//! builders/parsers, so the server is tested as a client sees it.

use crate::harness::{config, fake_with, synthetic};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use tempfile::tempdir;
use uuid::Uuid;
use wucache::daemon::Daemon;
use wucache::protocol::wusp::envelope;
use wucache::protocol::wusp::messages as msg;
use wucache::protocol::wusp::*;
use wucache::protocol::{soap, xml::Element, xpress};
use wucache::upstream::{run_sync, Quiet};

/// One SOAP call's outcome: the response element or the fault's ErrorCode.
pub type Outcome = Result<Element, String>;

pub struct WindowsClient {
    pub addr: SocketAddr,
    pub client_id: String,
    pub target_group: Option<String>,
    pub cookie: Option<Cookie>,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

/// What one full scan found.
#[derive(Debug, Default)]
pub struct ScanResult {
    pub offered: BTreeSet<Uuid>,
    pub actions: HashMap<i32, DeploymentAction>,
    pub identities: HashMap<i32, Uuid>,
    pub revisions: HashMap<i32, u32>,
    pub sync_calls: usize,
    pub extended: Vec<(i32, String)>,
    pub file_locations: Vec<FileLocation>,
}

impl ScanResult {
    /// The next SyncUpdates of a client that cached everything this scan returned: the
    /// evaluated (category/detectoid) ids as installed non-leaf, the rest as other cached.
    pub fn cached_parameters(&self) -> SyncUpdateParameters {
        let installed: Vec<i32> = self
            .identities
            .keys()
            .copied()
            .filter(|id| self.actions.get(id) == Some(&DeploymentAction::Evaluate))
            .collect();
        let other = self
            .identities
            .keys()
            .copied()
            .filter(|id| !installed.contains(id))
            .collect();
        SyncUpdateParameters {
            installed_non_leaf: Some(installed),
            other_cached: Some(other),
            ..SyncUpdateParameters::default()
        }
    }
}

impl WindowsClient {
    pub fn new(addr: SocketAddr) -> WindowsClient {
        WindowsClient {
            addr,
            client_id: Uuid::new_v4().to_string(),
            target_group: None,
            cookie: None,
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
        }
    }

    /// POSTs a SOAP call as Win11 does (quoted SOAPAction, `Accept-Encoding: xpress`).
    pub async fn call(&self, path: &str, op: Operation, operation_xml: String) -> Outcome {
        let body = format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{operation_xml}</s:Body></s:Envelope>"
        );
        let request = hyper::Request::post(format!("http://{}{path}", self.addr))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", envelope::soap_action(op))
            .header("Accept-Encoding", "xpress")
            .header(
                "User-Agent",
                "Windows-Update-Agent/1507.2601.30012.0 Client-Protocol/2.90",
            )
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let response = self.http.request(request).await.unwrap();
        let status = response.status();
        let compressed = response
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v == "xpress");
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let bytes = if compressed {
            xpress::decompress(&bytes, 64 << 20).unwrap()
        } else {
            bytes.to_vec()
        };
        match soap::parse_response(&String::from_utf8(bytes).unwrap()) {
            Ok(element) => Ok(element),
            Err(soap::SoapError::Fault(fault)) => {
                eprintln!("{op:?} fault: {fault}");
                Err(fault.error_code.unwrap_or_default())
            }
            Err(other) => panic!("unreadable response to {op:?} (HTTP {status}): {other}"),
        }
    }

    pub async fn client(&self, op: Operation, xml: String) -> Outcome {
        self.call("/ClientWebService/client.asmx", op, xml).await
    }

    /// GetConfig, as Win11 sends it.
    pub async fn get_config(&self) -> Config {
        let request = msg::build_get_config_request(&GetConfigRequest {
            protocol_version: "2.90".into(),
        });
        msg::parse_get_config_response(&self.client(Operation::GetConfig, request).await.unwrap()).unwrap()
    }

    /// SimpleAuth GetAuthorizationCookie for this client (and its target group).
    pub async fn authorization_cookie(&self) -> AuthorizationCookie {
        let request = GetAuthorizationCookieRequest {
            client_id: Some(self.client_id.clone()),
            target_group_name: self.target_group.clone(),
            dns_name: Some(format!("pc-{}.corp.example", &self.client_id[..8])),
        };
        let path = "/SimpleAuthWebService/SimpleAuth.asmx";
        let xml = msg::build_get_authorization_cookie_request(&request);
        let answer = self
            .call(path, Operation::GetAuthorizationCookie, xml)
            .await
            .unwrap();
        msg::parse_get_authorization_cookie_response(&answer).unwrap()
    }

    /// GetCookie with Win11's first-call `oldCookie` (expiry only).
    pub async fn get_cookie(&self, auth: AuthorizationCookie, last_change: &str) -> Result<Cookie, String> {
        let request = GetCookieRequest {
            auth_cookies: vec![auth],
            old_cookie: Some(Cookie {
                expiration: "2026-10-04T15:03:36Z".into(),
                encrypted_data: None,
            }),
            last_change: Some(last_change.to_string()),
            current_time: Some("2026-10-04T15:03:36Z".into()),
            protocol_version: Some("2.90".into()),
        };
        let answer = self
            .client(Operation::GetCookie, msg::build_get_cookie_request(&request))
            .await?;
        Ok(msg::parse_get_cookie_response(&answer).unwrap())
    }

    /// GetConfig → GetAuthorizationCookie → GetCookie → RegisterComputer.
    pub async fn handshake(&mut self) -> Config {
        let config = self.get_config().await;
        let auth = self.authorization_cookie().await;
        self.cookie = Some(self.get_cookie(auth, &config.last_change).await.unwrap());
        let dns_name = format!("pc-{}.corp.example", &self.client_id[..8]);
        let register = RegisterComputerRequest {
            cookie: self.cookie.clone(),
            computer: windows11(dns_name),
        };
        self.client(
            Operation::RegisterComputer,
            msg::build_register_computer_request(&register),
        )
        .await
        .unwrap();
        config
    }

    pub async fn sync_updates(&self, parameters: SyncUpdateParameters) -> Result<SyncInfo, String> {
        let request = SyncUpdatesRequest {
            cookie: self.cookie.clone(),
            parameters: Some(parameters),
        };
        let element = self
            .client(Operation::SyncUpdates, msg::build_sync_updates_request(&request))
            .await?;
        Ok(msg::parse_sync_updates_response(&element).unwrap())
    }

    /// The staged loop as the agent runs it: every non-leaf returned is "installed"
    /// (categories and detectoids match this machine), leaves are cached; repeat while
    /// truncated or a non-leaf came back; then the driver pass.
    pub async fn scan(&mut self) -> ScanResult {
        let mut result = ScanResult::default();
        let mut installed: Vec<i32> = Vec::new();
        let mut other: Vec<i32> = Vec::new();
        let mut first = true;
        loop {
            let parameters = SyncUpdateParameters {
                installed_non_leaf: (!first).then(|| installed.clone()),
                other_cached: (!first).then(|| other.clone()),
                need_two_group_out_of_scope: true,
                ..SyncUpdateParameters::default()
            };
            first = false;
            let info = self.sync_updates(parameters).await.unwrap();
            result.sync_calls += 1;
            let previous = self.cookie.as_ref().map(|c| c.expiration.clone());
            assert_eq!(
                Some(info.new_cookie.expiration.clone()),
                previous,
                "NewCookie keeps the expiry of the scan's cookie"
            );
            self.cookie = Some(info.new_cookie.clone());
            let mut non_leaf_seen = false;
            for update in &info.new_updates {
                assert!(
                    update.xml.contains("<UpdateIdentity"),
                    "Core fragment expected, got {}",
                    update.xml
                );
                result.actions.insert(update.id, update.deployment.action);
                result.identities.insert(update.id, core_update_id(&update.xml));
                result.revisions.insert(update.id, core_revision(&update.xml));
                if update.is_leaf {
                    other.push(update.id);
                } else {
                    non_leaf_seen = true;
                    installed.push(update.id);
                }
                if update.deployment.action == DeploymentAction::Install {
                    result.offered.insert(core_update_id(&update.xml));
                }
            }
            installed.retain(|id| !info.out_of_scope_revision_ids.contains(id));
            other.retain(|id| !info.out_of_scope_revision_ids.contains(id));
            assert!(result.sync_calls < 500, "the scan does not converge");
            if !info.truncated && !non_leaf_seen {
                break;
            }
        }
        let drivers = self
            .sync_updates(SyncUpdateParameters {
                installed_non_leaf: Some(installed.clone()),
                skip_software_sync: true,
                system_spec_present: true,
                ..SyncUpdateParameters::default()
            })
            .await
            .unwrap();
        assert!(drivers.new_updates.is_empty());
        assert_eq!(drivers.driver_sync_not_needed, Some(true));
        self.extended_info(&mut result, &other).await;
        result
    }

    /// GetExtendedUpdateInfo for the leaves, in batches of at most 50.
    async fn extended_info(&self, result: &mut ScanResult, leaves: &[i32]) {
        for batch in leaves.chunks(50) {
            let request = GetExtendedUpdateInfoRequest {
                cookie: self.cookie.clone(),
                revision_ids: batch.to_vec(),
                info_types: vec!["Extended".into(), "LocalizedProperties".into()],
                locales: vec!["en-US".into(), "en".into()],
            };
            let element = self
                .client(
                    Operation::GetExtendedUpdateInfo,
                    msg::build_get_extended_update_info_request(&request),
                )
                .await
                .unwrap();
            let info = msg::parse_get_extended_update_info_response(&element).unwrap();
            assert!(info.out_of_scope_revision_ids.is_empty());
            result.extended.extend(info.updates);
            result.file_locations.extend(info.file_locations);
        }
    }

    /// Reports a scan result (events 147 + 156), as Win11 does after a scan.
    pub async fn report(&self, needed: &[Uuid]) -> Outcome {
        let event = |event_id, misc: Vec<String>| ReportingEvent {
            target_sid: self.client_id.clone(),
            time_at_target: "2026-10-04T15:05:00Z".into(),
            event_instance_id: Uuid::new_v4(),
            namespace_id: 1,
            event_id,
            source_id: 101,
            app_name: "AutomaticUpdates".into(),
            misc_data: misc,
            os_version: "10.0.26200.8037.0.0".into(),
            os_locale_id: 1033,
            ..ReportingEvent::default()
        };
        let u_list = needed
            .iter()
            .map(|id| id.to_string().to_uppercase())
            .collect::<Vec<_>>()
            .join(";");
        let request = ReportEventBatchRequest {
            cookie: self.cookie.clone(),
            client_time: Some("2026-10-04T15:05:01Z".into()),
            events: vec![event(147, vec![]), event(156, vec![format!("U={u_list}")])],
        };
        self.call(
            "/ReportingWebService/ReportingWebService.asmx",
            Operation::ReportEventBatch,
            msg::build_report_event_batch_request(&request),
        )
        .await
    }
}

/// What the captured Windows 11 25H2 machine registered with (native-scan 000004).
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

/// The RevisionNumber of a Core fragment's `UpdateIdentity`.
fn core_revision(core: &str) -> u32 {
    let start = core.find("RevisionNumber=\"").unwrap() + 16;
    core[start..].split('"').next().unwrap().parse().unwrap()
}

/// The UpdateID named by a Core fragment's `UpdateIdentity`.
fn core_update_id(core: &str) -> Uuid {
    let start = core.find("UpdateID=\"").unwrap() + 10;
    Uuid::parse_str(&core[start..start + 36]).unwrap()
}

async fn serve_synthetic(
    seed: u64,
    updates: usize,
) -> (Daemon, wucache_testkit::synth::SynthCatalog, tempfile::TempDir) {
    let catalog = synthetic(seed, updates);
    let upstream = fake_with(&catalog).await;
    let data = tempdir().unwrap();
    let config = config(&upstream.url(), &data);
    {
        let store = wucache::store::Store::open(data.path()).unwrap();
        run_sync(&store, &config, &Quiet).await.unwrap();
    }
    let daemon = Daemon::start(config).await.unwrap();
    let app = daemon.app.clone();
    assert!(
        crate::harness::eventually(|| {
            let app = app.clone();
            async move { app.is_ready() }
        })
        .await
    );
    (daemon, catalog, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_scan_is_offered_exactly_the_approved_updates() {
    let (daemon, catalog, _data) = serve_synthetic(60, 2_000).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;

    let result = client.scan().await;

    // Approved = every top-level software update that is not expired (until baselines).
    let members: HashSet<Uuid> = catalog
        .docs
        .iter()
        .flat_map(|d| d.bundled.iter().copied())
        .collect();
    let newest: HashMap<Uuid, &wucache_testkit::synth::SynthDoc> =
        catalog.docs.iter().fold(HashMap::new(), |mut map, doc| {
            let entry = map.entry(doc.update_id).or_insert(doc);
            if doc.revision > entry.revision {
                *entry = doc;
            }
            map
        });
    let approved: BTreeSet<Uuid> = newest
        .values()
        .filter(|d| !d.kind.is_config() && !members.contains(&d.update_id) && !d.expired)
        .map(|d| d.update_id)
        .collect();
    assert_eq!(result.offered, approved);
    // One revision per update, the newest (several updates have two revisions).
    let twice = catalog
        .docs
        .iter()
        .filter(|d| {
            catalog
                .docs
                .iter()
                .any(|o| o.update_id == d.update_id && o.revision != d.revision)
        })
        .count();
    assert!(twice > 0, "the generator makes updates with several revisions");
    for (id, update_id) in &result.identities {
        let delivered = result.revisions[id];
        assert_eq!(
            delivered, newest[update_id].revision,
            "revision delivered for {update_id}"
        );
    }
    assert!(result.sync_calls >= 3, "staged delivery takes several rounds");
    let bundle_members = result
        .actions
        .values()
        .filter(|a| **a == DeploymentAction::Bundle)
        .count();
    assert!(bundle_members > 0);
    // Every file of an offered update has a WSUS-style location and its SHA-256 is in Extended.
    assert!(!result.file_locations.is_empty());
    for location in &result.file_locations {
        assert!(
            location
                .url
                .starts_with(&format!("http://{}/Content/", daemon.client_addr)),
            "{}",
            location.url
        );
    }
    assert!(result
        .extended
        .iter()
        .any(|(_, xml)| xml.contains("<AdditionalDigest Algorithm=\"SHA256\">")));
    assert_eq!(
        client
            .report(&[])
            .await
            .map(|e| msg::parse_report_event_batch_response(&e).unwrap()),
        Ok(true)
    );
    let token = daemon.app.admin_token.clone();
    let (status, computers) =
        crate::harness::http("GET", daemon.admin_addr, "/api/v1/computers", Some(&token)).await;
    assert_eq!(status, 200);
    assert!(computers.contains(&client.client_id), "{computers}");
    assert!(
        computers.contains("\"registered\":true") && computers.contains("\"events_received\":2"),
        "{computers}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_scan_with_the_same_cookie_finds_nothing_new() {
    let (daemon, _catalog, _data) = serve_synthetic(61, 60).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let first = client.scan().await;
    assert!(!first.offered.is_empty());

    let again = client.sync_updates(first.cached_parameters()).await.unwrap();

    assert!(
        again.new_updates.is_empty(),
        "{:?}",
        again.new_updates.iter().map(|u| u.id).collect::<Vec<_>>()
    );
    assert!(again.changed_updates.is_empty());
    assert!(again.out_of_scope_revision_ids.is_empty());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_faults_are_the_ones_clients_recover_from() {
    let (daemon, _catalog, _data) = serve_synthetic(62, 20).await;
    let mut client = WindowsClient::new(daemon.client_addr);

    // No cookie at all / a forged one.
    let forged = Cookie {
        expiration: "2030-01-01T00:00:00Z".into(),
        encrypted_data: Some(vec![1; 80]),
    };
    client.cookie = Some(forged);
    assert_eq!(
        client
            .sync_updates(SyncUpdateParameters::default())
            .await
            .unwrap_err(),
        "InvalidCookie"
    );

    // A valid cookie of a client that never registered.
    client.handshake().await;
    let mut stranger = WindowsClient::new(daemon.client_addr);
    let config = stranger.get_config().await;
    let auth = stranger.authorization_cookie().await;
    stranger.cookie = Some(
        stranger
            .get_cookie(auth.clone(), &config.last_change)
            .await
            .unwrap(),
    );
    assert_eq!(
        stranger
            .sync_updates(SyncUpdateParameters::default())
            .await
            .unwrap_err(),
        "RegistrationRequired"
    );
    let cookie_request = GetCookieRequest {
        auth_cookies: vec![auth.clone()],
        last_change: Some(config.last_change.clone()),
        protocol_version: Some("2.90".into()),
        ..GetCookieRequest::default()
    };

    // A stale config stamp.
    let stale = GetCookieRequest {
        last_change: Some("2001-01-01T00:00:00Z".into()),
        ..cookie_request.clone()
    };
    assert_eq!(
        stranger
            .client(Operation::GetCookie, msg::build_get_cookie_request(&stale))
            .await
            .unwrap_err(),
        "ConfigChanged"
    );

    // A bad authorization cookie.
    let bad_auth = GetCookieRequest {
        auth_cookies: vec![AuthorizationCookie {
            plugin_id: "SimpleTargeting".into(),
            cookie_data: vec![0; 40],
        }],
        ..cookie_request
    };
    assert_eq!(
        stranger
            .client(Operation::GetCookie, msg::build_get_cookie_request(&bad_auth))
            .await
            .unwrap_err(),
        "InvalidAuthorizationCookie"
    );

    // More than 400 installed non-leaf ids.
    let too_many = SyncUpdateParameters {
        installed_non_leaf: Some((1..=401).collect()),
        ..SyncUpdateParameters::default()
    };
    assert_eq!(
        client.sync_updates(too_many).await.unwrap_err(),
        "InvalidParameters"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_survive_a_restart_and_other_instances_cookies_do_not() {
    let (daemon, _catalog, data) = serve_synthetic(63, 20).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let cookie = client.cookie.clone();
    let config = daemon.app.config.clone();
    daemon.stop().await;

    let restarted = Daemon::start(config).await.unwrap();
    let app = restarted.app.clone();
    assert!(
        crate::harness::eventually(|| {
            let app = app.clone();
            async move { app.is_ready() }
        })
        .await
    );
    let mut again = WindowsClient::new(restarted.client_addr);
    again.client_id = client.client_id.clone();
    again.cookie = cookie.clone();
    assert!(
        again.sync_updates(SyncUpdateParameters::default()).await.is_ok(),
        "a restart keeps cookies valid"
    );
    restarted.stop().await;

    let (other, _c, _d) = serve_synthetic(63, 20).await;
    let mut foreign = WindowsClient::new(other.client_addr);
    foreign.cookie = cookie;
    assert_eq!(
        foreign
            .sync_updates(SyncUpdateParameters::default())
            .await
            .unwrap_err(),
        "InvalidCookie"
    );
    other.stop().await;
    drop(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_catalog_answers_server_changed() {
    let (daemon, _catalog, data) = serve_synthetic(64, 20).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let config = daemon.app.config.clone();
    daemon.stop().await;

    // The catalog store is rebuilt (new revision-id space); the cookie key is kept.
    std::fs::remove_dir_all(data.path().join("catalog")).unwrap();
    let rebuilt = Daemon::start(config).await.unwrap();
    let app = rebuilt.app.clone();
    assert!(
        crate::harness::eventually(|| {
            let app = app.clone();
            async move { app.is_ready() }
        })
        .await
    );
    client.addr = rebuilt.client_addr;
    assert_eq!(
        client
            .sync_updates(SyncUpdateParameters::default())
            .await
            .unwrap_err(),
        "ServerChanged"
    );
    rebuilt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cookie_answers_cookie_expired() {
    let (daemon, _catalog, _data) = serve_synthetic(65, 20).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let request = SyncUpdatesRequest {
        cookie: client.cookie.clone(),
        parameters: Some(SyncUpdateParameters::default()),
    };
    let body = envelope::request(&msg::build_sync_updates_request(&request));
    let in_two_hours = wucache::server::soap::Context {
        app: &daemon.app,
        snapshot: daemon.app.snapshot(),
        content_base: "http://wucache".into(),
        now: chrono::Utc::now().timestamp() + 7200,
    };

    let (answer, is_fault) = wucache::server::soap::handle(
        &in_two_hours,
        &body,
        Some(&envelope::soap_action(Operation::SyncUpdates)),
    );

    assert!(is_fault);
    assert!(
        answer.contains("<ErrorCode>CookieExpired</ErrorCode>"),
        "{answer}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_cache_file_locations_and_category_scan_answer_as_wsus() {
    let (daemon, catalog, _data) = serve_synthetic(66, 80).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let result = client.scan().await;
    let snapshot = daemon.app.snapshot();

    // RefreshCache: every cached identity that is deployed maps to its revision id, except
    // bundle members (WSUS leaves those out; the client re-fetches them).
    let global_ids: Vec<_> = result
        .identities
        .iter()
        .map(|(id, update_id)| wucache::model::UpdateIdentity {
            update_id: *update_id,
            revision: result.revisions[id],
        })
        .collect();
    let request = RefreshCacheRequest {
        cookie: client.cookie.clone(),
        global_ids: global_ids.clone(),
    };
    let refreshed = msg::parse_refresh_cache_response(
        &client
            .client(
                Operation::RefreshCache,
                msg::build_refresh_cache_request(&request),
            )
            .await
            .unwrap(),
    )
    .unwrap();
    let members = result
        .actions
        .values()
        .filter(|a| **a == DeploymentAction::Bundle)
        .count();
    assert!(members > 0);
    assert_eq!(refreshed.len(), global_ids.len() - members);
    for entry in &refreshed {
        assert_eq!(result.identities[&entry.revision_id], entry.global_id.update_id);
        assert_ne!(entry.deployment.action, DeploymentAction::Bundle);
    }

    // GetFileLocations: known digests get WSUS-style URLs, unknown ones are left out, a
    // digest that is not 20 bytes is InvalidParameters.
    let file = catalog.docs.iter().flat_map(|d| &d.files).next().unwrap();
    let request = GetFileLocationsRequest {
        cookie: client.cookie.clone(),
        file_digests: vec![file.sha1.to_vec(), vec![7; 20]],
    };
    let found = msg::parse_get_file_locations_response(
        &client
            .client(
                Operation::GetFileLocations,
                msg::build_get_file_locations_request(&request),
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(found.file_locations.len(), 1);
    let hex = wucache::model::hex(&file.sha1).to_uppercase();
    assert!(
        found.file_locations[0].url.ends_with(&format!(
            "/Content/{}/{hex}.{}",
            &hex[38..],
            file.name.rsplit('.').next().unwrap().to_lowercase()
        )),
        "{}",
        found.file_locations[0].url
    );
    let short = GetFileLocationsRequest {
        cookie: client.cookie.clone(),
        file_digests: vec![vec![1; 19]],
    };
    assert_eq!(
        client
            .client(
                Operation::GetFileLocations,
                msg::build_get_file_locations_request(&short)
            )
            .await
            .unwrap_err(),
        "InvalidParameters"
    );

    // StartCategoryScan: a product is preferred, an unknown category is in error.
    let product = snapshot
        .records
        .iter()
        .find(|r| r.category_type == Some(wucache::model::CategoryType::Product))
        .unwrap()
        .identity
        .update_id;
    let unknown = Uuid::from_u128(42);
    let request = StartCategoryScanRequest {
        cookie: None,
        requested: vec![(0, product), (1, unknown)],
    };
    let answer = msg::parse_start_category_scan_response(
        &client
            .client(
                Operation::StartCategoryScan,
                msg::build_start_category_scan_request(&request),
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(answer.preferred, vec![product]);
    assert_eq!(answer.in_error, vec![unknown]);
    daemon.stop().await;
}
