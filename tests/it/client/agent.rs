//! The simulated Windows Update Agent: the handshake (GetConfig, SimpleAuth
//! GetAuthorizationCookie, GetCookie, RegisterComputer), the staged SyncUpdates loop, the driver
//! pass, GetExtendedUpdateInfo in batches and ReportEventBatch — every request built, every
//! answer decompressed and read by the test kit's independent `wua`, never by wucache's code.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use uuid::Uuid;
use wucache_testkit::wua::{self, answers, report, request, sync, transport};
use wucache_testkit::wua::{
    Action, AuthorizationCookie, Config, Cookie, Exchange, Request, SyncInfo, SyncParams,
};
use wucache_testkit::xml::Element;

/// Revision ids per GetExtendedUpdateInfo when the server's config does not say
/// (`MaxExtendedUpdatesPerRequest`; the real WSUS says 50).
const EXTENDED_BATCH: usize = 50;

/// What the server may put on one SyncUpdates page (wucache pages at 200).
pub(super) const PAGE_SIZE: usize = 200;

/// The clock Windows reports in its cookie requests (the captured client's).
const CLIENT_TIME: &str = "2026-10-04T15:03:36Z";

pub(crate) struct WindowsClient {
    pub addr: SocketAddr,
    pub client_id: String,
    pub target_group: Option<String>,
    pub cookie: Option<Cookie>,
    /// Set: every request goes over a new TLS session (the server's certificate checked for
    /// `addr`'s IP address by this connector's roots).
    pub tls: Option<tokio_rustls::TlsConnector>,
}

/// One revision a scan received, as its Core fragment and Deployment describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub update_id: Uuid,
    pub revision: u32,
    pub action: Action,
    pub is_leaf: bool,
    pub update_type: String,
    /// `BundledUpdates` of the Core fragment.
    pub bundled: Vec<Uuid>,
    /// `Deployment/Deadline`, when sent.
    pub deadline: Option<String>,
}

/// What one full scan found.
#[derive(Debug, Default)]
pub(crate) struct ScanResult {
    /// By server revision id.
    pub seen: BTreeMap<i32, Seen>,
    /// The software-pass answers, in order, read and as received (decompressed).
    pub pages: Vec<SyncInfo>,
    pub raw_pages: Vec<String>,
    /// How many of those came `Content-Encoding: xpress`.
    pub xpress_pages: usize,
    pub extended: Vec<wua::UpdateData>,
    pub file_locations: Vec<wua::FileLocation>,
}

impl ScanResult {
    /// Update id → the action it was delivered with.
    pub(crate) fn actions(&self) -> BTreeMap<Uuid, Action> {
        self.seen.values().map(|s| (s.update_id, s.action)).collect()
    }

    /// The updates offered for install.
    pub(crate) fn offered(&self) -> BTreeSet<Uuid> {
        self.seen
            .values()
            .filter(|s| s.action == Action::Install)
            .map(|s| s.update_id)
            .collect()
    }

    /// The revision id the server gave an update.
    pub(crate) fn revision_id(&self, update_id: Uuid) -> i32 {
        let found = self.seen.iter().find(|(_, s)| s.update_id == update_id);
        *found.unwrap_or_else(|| panic!("{update_id} was not delivered")).0
    }

    /// The next SyncUpdates of a client that cached everything this scan returned: non-leaf
    /// revisions (categories, detectoids) installed, the rest cached.
    pub(crate) fn cached_parameters(&self) -> SyncParams {
        let (installed, other): (Vec<_>, Vec<_>) = self.seen.iter().partition(|(_, s)| !s.is_leaf);
        SyncParams {
            installed_non_leaf: Some(installed.into_iter().map(|(id, _)| *id).collect()),
            other_cached: Some(other.into_iter().map(|(id, _)| *id).collect()),
            ..SyncParams::default()
        }
    }
}

impl WindowsClient {
    pub(crate) fn new(addr: SocketAddr) -> WindowsClient {
        WindowsClient {
            addr,
            client_id: Uuid::new_v4().to_string(),
            target_group: None,
            cookie: None,
            tls: None,
        }
    }

    /// A client of the HTTPS listener at `addr`, trusting what `tls` trusts.
    pub(crate) fn over_tls(addr: SocketAddr, tls: tokio_rustls::TlsConnector) -> WindowsClient {
        WindowsClient {
            tls: Some(tls),
            ..WindowsClient::new(addr)
        }
    }

    fn dns_name(&self) -> String {
        format!("pc-{}.corp.example", &self.client_id[..8])
    }

    /// POSTs a request as Windows does (`Accept-Encoding: xpress`) and returns the raw exchange.
    pub(crate) async fn exchange(&self, request: &Request, xpress: bool) -> Exchange {
        let exchange = match &self.tls {
            None => transport::post(self.addr, request, xpress).await,
            Some(tls) => {
                let stream = crate::https::connect(tls, self.addr).await;
                let stream = stream.unwrap_or_else(|e| panic!("TLS to {}: {e}", self.addr));
                transport::post_over(stream, &self.addr.to_string(), request, xpress).await
            }
        };
        exchange.unwrap_or_else(|e| panic!("{} failed: {e}", request.action))
    }

    /// The response element, or the fault's ErrorCode.
    pub(crate) async fn call(&self, request: &Request) -> Result<Element, String> {
        let exchange = self.exchange(request, true).await;
        let reply = exchange.reply().unwrap_or_else(|e| {
            panic!(
                "unreadable answer to {} (HTTP {}): {e}\n{}",
                request.action, exchange.status, exchange.body
            )
        });
        reply.into_answer()
    }

    pub(crate) async fn get_config(&self) -> Config {
        let answer = self.call(&request::get_config(request::PROTOCOL_VERSION)).await;
        answers::read_config(&answer.expect("GetConfig answers")).expect("readable GetConfig")
    }

    /// SimpleAuth GetAuthorizationCookie for this client (and its target group).
    pub(crate) async fn authorization_cookie(&self) -> AuthorizationCookie {
        let built = request::get_authorization_cookie(
            &self.client_id,
            self.target_group.as_deref(),
            &self.dns_name(),
        );
        let answer = self.call(&built).await.expect("GetAuthorizationCookie answers");
        answers::read_authorization_cookie(&answer).expect("readable authorization cookie")
    }

    /// GetCookie with Windows's first-call `oldCookie` (an expiry only).
    pub(crate) async fn get_cookie(
        &self,
        auth: &AuthorizationCookie,
        last_change: &str,
    ) -> Result<Cookie, String> {
        let old = Cookie {
            expiration: CLIENT_TIME.into(),
            encrypted_data: None,
        };
        let built = request::get_cookie(
            auth,
            Some(&old),
            last_change,
            CLIENT_TIME,
            request::PROTOCOL_VERSION,
        );
        let answer = self.call(&built).await?;
        Ok(answers::read_get_cookie(&answer).expect("readable cookie"))
    }

    /// GetConfig → GetAuthorizationCookie → GetCookie → RegisterComputer.
    pub(crate) async fn handshake(&mut self) -> Config {
        let config = self.get_config().await;
        let auth = self.authorization_cookie().await;
        let cookie = self
            .get_cookie(&auth, &config.last_change)
            .await
            .expect("a cookie");
        let machine = wua::Machine::windows11(&self.dns_name());
        let answer = self.call(&request::register_computer(&cookie, &machine)).await;
        answers::read_register_computer(&answer.expect("RegisterComputer answers")).expect("empty answer");
        self.cookie = Some(cookie);
        config
    }

    /// One SyncUpdates call; the raw exchange too, for tests that look at the wire.
    pub(crate) async fn sync_exchange(&self, params: &SyncParams) -> (Result<SyncInfo, String>, Exchange) {
        let exchange = self
            .exchange(&request::sync_updates(self.cookie.as_ref(), params), true)
            .await;
        let reply = exchange
            .reply()
            .unwrap_or_else(|e| panic!("unreadable SyncUpdates answer: {e}"));
        let info = reply
            .into_answer()
            .map(|answer| sync::read_sync_updates(&answer).unwrap_or_else(|e| panic!("SyncUpdates: {e}")));
        (info, exchange)
    }

    pub(crate) async fn sync_updates(&self, params: &SyncParams) -> Result<SyncInfo, String> {
        self.sync_exchange(params).await.0
    }

    /// The staged loop as the agent runs it: every non-leaf returned is "installed"
    /// (categories and detectoids match this machine), leaves are cached; repeat while
    /// truncated or a non-leaf came back; then the driver pass and the leaves' extended info.
    pub(crate) async fn scan(&mut self) -> ScanResult {
        let mut result = ScanResult::default();
        let mut first = true;
        loop {
            let cached = result.cached_parameters();
            let params = SyncParams {
                installed_non_leaf: cached.installed_non_leaf.filter(|_| !first),
                other_cached: cached.other_cached.filter(|_| !first),
                need_two_group_out_of_scope: true,
                ..SyncParams::default()
            };
            first = false;
            let (info, exchange) = self.sync_exchange(&params).await;
            let info = info.expect("SyncUpdates answers");
            result.xpress_pages += usize::from(exchange.xpress);
            result.raw_pages.push(exchange.body);
            let non_leaf_seen = self.take_page(&mut result, &info);
            let truncated = info.truncated;
            result.pages.push(info);
            assert!(result.pages.len() < 500, "the scan does not converge");
            if !truncated && !non_leaf_seen {
                break;
            }
        }
        self.driver_pass(&result).await;
        self.extended_info(&mut result).await;
        result
    }

    /// Records one page; returns whether it held a non-leaf revision.
    fn take_page(&mut self, result: &mut ScanResult, info: &SyncInfo) -> bool {
        assert!(
            info.new_updates.len() <= PAGE_SIZE,
            "{} updates on one page",
            info.new_updates.len()
        );
        if info.truncated {
            assert_eq!(
                info.new_updates.len(),
                PAGE_SIZE,
                "a truncated page is a full page"
            );
        }
        let new_cookie = info.new_cookie.clone().expect("SyncUpdates sends a NewCookie");
        let previous = self.cookie.as_ref().map(|c| c.expiration.clone());
        assert_eq!(
            Some(new_cookie.expiration.clone()),
            previous,
            "NewCookie keeps the scan's expiry"
        );
        self.cookie = Some(new_cookie);
        for update in &info.new_updates {
            let core = update
                .core()
                .unwrap_or_else(|e| panic!("Core fragment of {}: {e}", update.id));
            let seen = Seen {
                update_id: core.update_id,
                revision: core.revision,
                action: update.action().expect("every UpdateInfo has a Deployment"),
                is_leaf: update.is_leaf,
                update_type: core.update_type,
                bundled: core.bundled.iter().map(|(id, _)| *id).collect(),
                deadline: update.deadline().map(str::to_string),
            };
            let again = result.seen.insert(update.id, seen);
            assert!(again.is_none(), "revision {} delivered twice", update.id);
        }
        for id in &info.out_of_scope {
            result.seen.remove(id);
        }
        info.new_updates.iter().any(|u| !u.is_leaf)
    }

    /// The driver pass: `SystemSpec` sent, software skipped; a server without drivers says so.
    async fn driver_pass(&self, result: &ScanResult) {
        let params = SyncParams {
            installed_non_leaf: result.cached_parameters().installed_non_leaf,
            skip_software_sync: true,
            system_spec: true,
            ..SyncParams::default()
        };
        let drivers = self.sync_updates(&params).await.expect("driver pass answers");
        assert!(drivers.new_updates.is_empty());
        assert_eq!(drivers.driver_sync_not_needed, Some(true));
    }

    /// GetExtendedUpdateInfo (Extended and English LocalizedProperties) for the leaves.
    async fn extended_info(&self, result: &mut ScanResult) {
        let leaves: Vec<i32> = result
            .seen
            .iter()
            .filter(|(_, s)| s.is_leaf)
            .map(|(id, _)| *id)
            .collect();
        for batch in leaves.chunks(EXTENDED_BATCH) {
            let built = request::get_extended_update_info(
                self.cookie.as_ref(),
                batch,
                &["Extended", "LocalizedProperties"],
                &["en-US", "en"],
            );
            let answer = self.call(&built).await.expect("GetExtendedUpdateInfo answers");
            let info = answers::read_extended_info(&answer).expect("readable extended info");
            assert!(info.out_of_scope.is_empty(), "{:?}", info.out_of_scope);
            result.extended.extend(info.updates);
            result.file_locations.extend(info.file_locations);
        }
    }

    /// Reports a scan (events 147 and 156 with the needed updates), as Windows does after one.
    pub(crate) async fn report(&self, needed: &[Uuid]) -> Result<bool, String> {
        let time = "2026-10-04T15:05:00Z";
        let mut status = report::Event::new(&self.client_id, time, 156);
        let list: Vec<String> = needed.iter().map(|id| id.to_string().to_uppercase()).collect();
        status.misc_data = vec![format!("U={}", list.join(";"))];
        let events = [report::Event::new(&self.client_id, time, 147), status];
        self.send_events(&events).await
    }

    /// ReportEventBatch with these events; the answer's `ReportEventBatchResult`.
    pub(crate) async fn send_events(&self, events: &[report::Event]) -> Result<bool, String> {
        let cookie = self.cookie.as_ref().expect("a cookie");
        let answer = self
            .call(&report::report_event_batch(
                cookie,
                "2026-10-04T15:07:00Z",
                events,
            ))
            .await?;
        Ok(answers::read_report_event_batch(&answer).expect("readable report answer"))
    }
}
