//! One machine's whole Windows Update session over one keep-alive connection, as Windows 11
//! runs it: the handshake of a first-time client (GetConfig, SimpleAuth
//! GetAuthorizationCookie, GetCookie, RegisterComputer) or a returning client's cached cookie
//! (renewed through SimpleAuth and GetCookie when it is about to expire); the staged
//! SyncUpdates loop (every non-leaf revision counts as installed, every leaf as cached; call
//! again while `Truncated` or a non-leaf came back; the cached ids sent back every call); the
//! driver pass; GetExtendedUpdateInfo in batches of `MaxExtendedUpdatesPerRequest` for what
//! was offered for install (the updates and the members of bundles offered) and not fetched
//! before; and ReportEventBatch with events 147 and 156 (`U=` the updates offered for install).
//!
//! Requests come from the test kit's templates of the captured Windows 11 requests; small
//! answers are read by its strict readers, the big ones by `reader`.

use crate::fleet::{Fleet, Machine, Memory};
use crate::profile::{Profile, Unmet};
use crate::reader::{self, Delivered};
use crate::wire::{Answer, Connection, Failure};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use wucache_testkit::wua::{
    answers, reply, report, request, Action, AuthorizationCookie, Cookie, Reply, Request, SyncParams,
};
use wucache_testkit::xml::Element;

/// Revision ids per GetExtendedUpdateInfo when the config does not say (WSUS says 50).
const EXTENDED_BATCH: usize = 50;

/// Round trips after which the Windows Update agent abandons a scan (`0x80244010`,
/// WU_E_PT_EXCEEDED_MAX_SERVER_TRIPS).
pub(crate) const AGENT_TRIP_LIMIT: usize = 200;

/// A cookie this close to its expiry is renewed before the scan, as the client does.
const COOKIE_MARGIN: Duration = Duration::from_secs(300);

/// The SOAP operations a session calls, in the order of a first session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    GetConfig,
    GetAuthorizationCookie,
    GetCookie,
    RegisterComputer,
    SyncUpdates,
    GetExtendedUpdateInfo,
    ReportEventBatch,
}

impl Op {
    pub(crate) const ALL: [Op; 7] = [
        Op::GetConfig,
        Op::GetAuthorizationCookie,
        Op::GetCookie,
        Op::RegisterComputer,
        Op::SyncUpdates,
        Op::GetExtendedUpdateInfo,
        Op::ReportEventBatch,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::GetConfig => "GetConfig",
            Op::GetAuthorizationCookie => "GetAuthorizationCookie",
            Op::GetCookie => "GetCookie",
            Op::RegisterComputer => "RegisterComputer",
            Op::SyncUpdates => "SyncUpdates",
            Op::GetExtendedUpdateInfo => "GetExtendedUpdateInfo",
            Op::ReportEventBatch => "ReportEventBatch",
        }
    }
}

/// What one session did and met.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// A returning client's session (the machine had finished a scan before).
    pub(crate) returning: bool,
    /// The machine's profile.
    pub(crate) profile: Option<Arc<Profile>>,
    /// Each call's time, request sent to last answer byte.
    pub(crate) calls: Vec<(Op, Duration)>,
    /// Failures; the session stopped at the first that is not a protocol note.
    pub(crate) errors: Vec<Failure>,
    /// The session reached its end (the report was taken).
    pub(crate) completed: bool,
    /// Software SyncUpdates round trips (the driver pass not counted).
    pub(crate) trips: usize,
    /// UpdateInfos in `NewUpdates`, all software pages.
    pub(crate) update_infos: usize,
    /// Revisions offered for install (updates and bundle members) and their extended-info batches.
    pub(crate) offered: usize,
    pub(crate) extended_batches: usize,
    /// Each software SyncUpdates call: cached ids sent, and its time.
    pub(crate) software_pages: Vec<(usize, Duration)>,
    /// TCP connections the session opened (1 when keep-alive held).
    pub(crate) connections: usize,
    /// Answers that came without `Content-Encoding: xpress`.
    pub(crate) identity_answers: usize,
}

/// Settings every session shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) server: SocketAddr,
    pub(crate) timeout: Duration,
    /// Software round trips after which a scan is given up as not converging.
    pub(crate) trip_limit: usize,
    /// Updates listed as needed in event 156 at most (0: all offered for install).
    pub(crate) needed: usize,
}

/// Runs one session of `machine`; what it remembers afterwards is updated only at the end (a
/// failed session keeps the memory it had, except a cookie the server refused).
pub(crate) async fn run(machine: &mut Machine, fleet: Arc<Fleet>, settings: Settings) -> Record {
    let mut session = Session {
        record: Record {
            returning: machine.memory.is_some(),
            profile: Some(Arc::clone(&machine.profile)),
            ..Record::default()
        },
        profile: Arc::clone(&machine.profile),
        fleet,
        settings,
        connection: None,
    };
    let outcome = session.go(machine).await;
    session.record.connections = session.connection.as_ref().map_or(0, |c| c.opened);
    match outcome {
        Ok(memory) => {
            session.record.completed = true;
            machine.memory = Some(memory);
        }
        Err(failure) => {
            if forgets_cookie(&failure) {
                machine.memory = None;
            }
            session.record.errors.push(failure);
        }
    }
    session.record
}

/// Faults after which the client starts again with a handshake.
fn forgets_cookie(failure: &Failure) -> bool {
    matches!(failure, Failure::Fault { code, .. } if matches!(code.as_str(),
        "InvalidCookie" | "ServerChanged" | "ConfigChanged" | "CookieExpired"))
}

struct Session {
    record: Record,
    profile: Arc<Profile>,
    fleet: Arc<Fleet>,
    settings: Settings,
    connection: Option<Connection>,
}

/// What one scan delivered.
#[derive(Default)]
struct Scan {
    installed: Vec<i32>,
    other: Vec<i32>,
    /// Updates offered for install: revision id, update id, bundle members.
    install: Vec<(i32, Uuid, Vec<Uuid>)>,
    /// Bundle members by update id.
    members: HashMap<Uuid, i32>,
}

impl Session {
    async fn go(&mut self, machine: &Machine) -> Result<Memory, Failure> {
        let timeout = self.settings.timeout;
        self.connection = Some(Connection::open(machine.source, self.settings.server, timeout).await?);
        let mut memory = match machine.memory.clone() {
            Some(memory) if fresh(&memory.cookie) => memory,
            Some(memory) => self.renew(machine, memory).await?,
            None => self.handshake(machine).await?,
        };
        let scan = self.scan(&mut memory).await?;
        self.driver_pass(&mut memory, &scan).await?;
        self.extended_info(&mut memory, &scan).await?;
        self.report(machine, &memory).await?;
        Ok(memory)
    }

    /// POSTs a call and records its time.
    async fn exchange(&mut self, op: Op, request: Request) -> Result<Answer, Failure> {
        let connection = self.connection.as_mut().expect("opened first");
        let answer = connection.post(request).await?;
        self.record.calls.push((op, answer.elapsed));
        self.record.identity_answers += usize::from(!answer.xpress);
        Ok(answer)
    }

    /// A small call: the answer's response element, read by the test kit.
    async fn call(&mut self, op: Op, request: Request) -> Result<Element, Failure> {
        let answer = self.exchange(op, request).await?;
        match reply::read_reply(&answer.body) {
            Ok(Reply::Fault(_)) => Err(reader::fault(&answer.body)),
            Ok(Reply::Answer(element)) if answer.status == 200 => Ok(element),
            Ok(Reply::Answer(_)) => Err(Failure::Status(answer.status)),
            Err(_) if answer.status != 200 => Err(Failure::Status(answer.status)),
            Err(e) => Err(Failure::Undecodable(format!("{}: {e}", op.name()))),
        }
    }

    /// A big call, read by one of `reader`'s streaming readers.
    async fn streamed<T>(
        &mut self,
        op: Op,
        request: Request,
        read: fn(&str) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let answer = self.exchange(op, request).await?;
        match read(&answer.body) {
            Ok(_) if answer.status != 200 => Err(Failure::Status(answer.status)),
            Err(Failure::Undecodable(_)) if answer.status != 200 => Err(Failure::Status(answer.status)),
            other => other,
        }
    }

    fn note(&mut self, what: &str) {
        self.record.errors.push(Failure::Protocol(what.to_owned()));
    }

    async fn handshake(&mut self, machine: &Machine) -> Result<Memory, Failure> {
        let answer = self
            .call(Op::GetConfig, request::get_config(request::PROTOCOL_VERSION))
            .await?;
        let config = answers::read_config(&answer).map_err(unreadable("GetConfig"))?;
        let max_extended = config
            .property("MaxExtendedUpdatesPerRequest")
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(EXTENDED_BATCH);
        let auth = self.authorize(machine).await?;
        let old = Cookie {
            expiration: now(),
            encrypted_data: None,
        };
        let cookie = self.get_cookie(&auth, &old, &config.last_change).await?;
        let info = request::Machine::windows11(&machine.dns_name());
        let answer = self
            .call(Op::RegisterComputer, request::register_computer(&cookie, &info))
            .await?;
        answers::read_register_computer(&answer).map_err(unreadable("RegisterComputer"))?;
        let empty = self.fleet.ids(Vec::new());
        Ok(Memory {
            cookie,
            last_change: config.last_change,
            max_extended,
            installed: Arc::clone(&empty),
            other: Arc::clone(&empty),
            offered: self.fleet.guids(Vec::new()),
            fetched: empty,
        })
    }

    /// A returning client whose cookie is about to expire: SimpleAuth, then GetCookie with the
    /// old cookie.
    async fn renew(&mut self, machine: &Machine, mut memory: Memory) -> Result<Memory, Failure> {
        let auth = self.authorize(machine).await?;
        let old = memory.cookie.clone();
        memory.cookie = self.get_cookie(&auth, &old, &memory.last_change).await?;
        Ok(memory)
    }

    async fn authorize(&mut self, machine: &Machine) -> Result<AuthorizationCookie, Failure> {
        let built = request::get_authorization_cookie(&machine.client_id, None, &machine.dns_name());
        let answer = self.call(Op::GetAuthorizationCookie, built).await?;
        answers::read_authorization_cookie(&answer).map_err(unreadable("GetAuthorizationCookie"))
    }

    async fn get_cookie(
        &mut self,
        auth: &AuthorizationCookie,
        old: &Cookie,
        last_change: &str,
    ) -> Result<Cookie, Failure> {
        let built = request::get_cookie(auth, Some(old), last_change, &now(), request::PROTOCOL_VERSION);
        let answer = self.call(Op::GetCookie, built).await?;
        answers::read_get_cookie(&answer).map_err(unreadable("GetCookie"))
    }

    /// The staged software loop, from what the machine has cached.
    async fn scan(&mut self, memory: &mut Memory) -> Result<Scan, Failure> {
        let mut scan = Scan {
            installed: memory.installed.to_vec(),
            other: memory.other.to_vec(),
            ..Scan::default()
        };
        let mut cached: HashSet<i32> = scan.installed.iter().chain(&scan.other).copied().collect();
        let first_ever = memory.installed.is_empty() && memory.other.is_empty();
        loop {
            let sent = !(first_ever && self.record.trips == 0);
            let params = SyncParams {
                need_two_group_out_of_scope: true,
                ..SyncParams::default()
            };
            let lists = [&scan.installed, &scan.other].map(|ids| sent.then_some(&ids[..]));
            let built = sync_request(&memory.cookie, lists, params);
            let page = self.sync_updates(memory, built).await?;
            if let Some((_, time)) = self.record.calls.last() {
                let ids = scan.installed.len() + scan.other.len();
                self.record.software_pages.push((ids, *time));
            }
            self.record.trips += 1;
            self.record.update_infos += page.updates.len();
            let more = page.truncated || page.updates.iter().any(|u| !u.is_leaf);
            self.take_page(&mut scan, &mut cached, page);
            if !more {
                return Ok(scan);
            }
            if self.record.trips == AGENT_TRIP_LIMIT {
                self.note("over 200 round trips (the agent abandons: 0x80244010)");
            }
            if self.record.trips >= self.settings.trip_limit {
                return Err(Failure::Protocol(format!(
                    "no end after {} round trips",
                    self.record.trips
                )));
            }
        }
    }

    async fn sync_updates(&mut self, memory: &mut Memory, built: Request) -> Result<reader::Page, Failure> {
        let page = self
            .streamed(Op::SyncUpdates, built, reader::sync_updates)
            .await?;
        match &page.new_cookie {
            Some(cookie) => memory.cookie = cookie.clone(),
            None => return Err(Failure::Protocol("SyncUpdates without NewCookie".into())),
        }
        Ok(page)
    }

    fn take_page(&mut self, scan: &mut Scan, cached: &mut HashSet<i32>, page: reader::Page) {
        for update in page.updates {
            if !cached.insert(update.id) {
                self.note("a cached revision delivered again");
            }
            self.take_update(scan, update);
        }
        if !page.out_of_scope.is_empty() {
            let gone: HashSet<i32> = page.out_of_scope.into_iter().collect();
            scan.installed.retain(|id| !gone.contains(id));
            scan.other.retain(|id| !gone.contains(id));
            cached.retain(|id| !gone.contains(id));
        }
    }

    fn take_update(&mut self, scan: &mut Scan, update: Delivered) {
        let id = update.update_id;
        match self.fleet.truth.check(&self.profile, &id) {
            Ok(()) => {}
            Err(Unmet::Unknown) => self.wrong("a revision of an update not in the catalog", id),
            Err(Unmet::Prerequisite) => {
                self.wrong("an update whose prerequisites the machine does not meet", id)
            }
        }
        if !update.is_leaf && self.profile.installed(&id) {
            scan.installed.push(update.id);
        } else {
            scan.other.push(update.id);
        }
        match update.action {
            Action::Install => scan.install.push((update.id, id, update.bundled)),
            Action::Bundle => {
                scan.members.insert(id, update.id);
            }
            _ => {}
        }
    }

    /// A revision the machine may not be sent: an error, and the session goes on.
    fn wrong(&mut self, what: &'static str, update: Uuid) {
        self.record.errors.push(Failure::Truth(what, update));
    }

    /// The driver pass: no drivers are modelled, so nothing may come back.
    async fn driver_pass(&mut self, memory: &mut Memory, scan: &Scan) -> Result<(), Failure> {
        let params = SyncParams {
            skip_software_sync: true,
            system_spec: true,
            ..SyncParams::default()
        };
        let built = sync_request(&memory.cookie, [Some(&scan.installed), None], params);
        let page = self.sync_updates(memory, built).await?;
        if !page.updates.is_empty() {
            self.note("the driver pass returned updates");
        }
        memory.installed = self.fleet.ids(scan.installed.clone());
        memory.other = self.fleet.ids(scan.other.clone());
        Ok(())
    }

    /// Extended info for the revisions offered for install that the machine has not fetched.
    async fn extended_info(&mut self, memory: &mut Memory, scan: &Scan) -> Result<(), Failure> {
        let wanted = offered_revisions(scan);
        self.record.offered = wanted.len();
        let known: HashSet<i32> = memory.fetched.iter().copied().collect();
        let missing: Vec<i32> = wanted.into_iter().filter(|id| !known.contains(id)).collect();
        for batch in missing.chunks(memory.max_extended) {
            let built = request::get_extended_update_info(
                Some(&memory.cookie),
                batch,
                &["Extended", "LocalizedProperties"],
                &["en-US", "en"],
            );
            let read = self
                .streamed(Op::GetExtendedUpdateInfo, built, reader::extended_info)
                .await?;
            self.record.extended_batches += 1;
            if !read.out_of_scope.is_empty() {
                self.note("GetExtendedUpdateInfo: offered revisions out of scope");
            }
            if batch
                .iter()
                .any(|id| !read.fragments.contains_key(id) && !read.out_of_scope.contains(id))
            {
                self.note("GetExtendedUpdateInfo: a revision without fragments");
            }
        }
        let mut fetched = memory.fetched.to_vec();
        fetched.extend(missing);
        memory.fetched = self.fleet.ids(fetched);
        let mut offered = memory.offered.to_vec();
        offered.extend(scan.install.iter().map(|(_, id, _)| *id));
        memory.offered = self.fleet.guids(offered);
        Ok(())
    }

    /// Events 147 (scan succeeded) and 156 (status: the updates offered for install needed —
    /// the machine is offered only those applicable to its profile — at most `needed` of
    /// them).
    async fn report(&mut self, machine: &Machine, memory: &Memory) -> Result<(), Failure> {
        let time = now();
        let mut status = report::Event::new(&machine.client_id, &time, 156);
        let listed = match self.settings.needed {
            0 => memory.offered.len(),
            n => n.min(memory.offered.len()),
        };
        let needed: Vec<String> = memory.offered[..listed]
            .iter()
            .map(|id| id.to_string().to_uppercase())
            .collect();
        if !needed.is_empty() {
            status.misc_data = vec![format!("U={}", needed.join(";"))];
        }
        let events = [report::Event::new(&machine.client_id, &time, 147), status];
        let built = report::report_event_batch(&memory.cookie, &time, &events);
        let answer = self.call(Op::ReportEventBatch, built).await?;
        let taken = answers::read_report_event_batch(&answer).map_err(unreadable("ReportEventBatch"))?;
        if !taken {
            self.note("ReportEventBatch answered false");
        }
        Ok(())
    }
}

/// SyncUpdates from the test kit's template, with the two id lists (installed non-leaf,
/// other cached; `None`: left out) written into it in place: they grow to thousands of ids
/// over a scan, and the template formats every id into a `String` of its own.
fn sync_request(cookie: &Cookie, lists: [Option<&[i32]>; 2], params: SyncParams) -> Request {
    let empty = |list: Option<&[i32]>| list.map(|_| Vec::new());
    let params = SyncParams {
        installed_non_leaf: empty(lists[0]),
        other_cached: empty(lists[1]),
        ..params
    };
    let mut built = request::sync_updates(Some(cookie), &params);
    let ids: usize = lists.iter().flatten().map(|ids| ids.len()).sum();
    let mut body = String::with_capacity(built.body.len() + 16 * ids);
    let mut rest = built.body.as_str();
    for (name, ids) in ["</InstalledNonLeafUpdateIDs>", "</OtherCachedUpdateIDs>"]
        .into_iter()
        .zip(lists)
    {
        let (Some(ids), Some(at)) = (ids, rest.find(name)) else {
            continue;
        };
        body.push_str(&rest[..at]);
        for id in ids {
            body.push_str("<int>");
            push_int(&mut body, *id);
            body.push_str("</int>");
        }
        rest = &rest[at..];
    }
    body.push_str(rest);
    built.body = body;
    built
}

/// Appends `n` in decimal (what `write!` does, without its formatting machinery: a scan sends
/// hundreds of thousands of ids).
fn push_int(out: &mut String, n: i32) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 10];
    let mut left = n.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (left % 10) as u8;
        left /= 10;
        if left == 0 {
            break;
        }
    }
    digits[at..].iter().for_each(|d| out.push(char::from(*d)));
}

/// Updates offered for install and the members of bundles offered for install.
fn offered_revisions(scan: &Scan) -> Vec<i32> {
    let mut ids = Vec::new();
    for (revision, _, bundled) in &scan.install {
        ids.push(*revision);
        ids.extend(bundled.iter().filter_map(|member| scan.members.get(member)));
    }
    ids
}

fn unreadable(op: &'static str) -> impl Fn(wucache_testkit::wua::WuaError) -> Failure {
    move |e| Failure::Undecodable(format!("{op}: {e}"))
}

/// The client clock as Windows writes it.
fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether a cookie is valid for longer than [`COOKIE_MARGIN`].
fn fresh(cookie: &Cookie) -> bool {
    let Ok(expires) = chrono::DateTime::parse_from_rfc3339(&cookie.expiration) else {
        return false;
    };
    let margin = chrono::Duration::from_std(COOKIE_MARGIN).unwrap_or_default();
    expires.with_timezone(&chrono::Utc) > chrono::Utc::now() + margin
}
