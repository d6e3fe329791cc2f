//! The sync client: enrolment and sync rounds against the hub over HTTP (live notices:
//! [`crate::watch`]).
//!
//! [`sync`] runs rounds until quiescent. Each round pushes the device's unacknowledged changes
//! (a batch of documents) and pulls a page of what changed in the device's scope. The store is
//! locked only for the database steps of a round, never across the network, so the clerk keeps
//! working while a sync runs. A round cut off anywhere can simply be repeated: the hub ignores
//! changes it already has, the device ignores changes it already has, and the cursor advances
//! only after the pulled changes are stored.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bianmin_domain::WorkingCalendar;
use uuid::Uuid;

use crate::protocol::{
    B64, EnrolRequest, EnrolResponse, ErrorBody, MAX_PULL_BUDGET, MIN_PULL_BUDGET,
    PROTOCOL_VERSION, PushDoc, PushResult, SyncRequest, SyncResponse,
};
use crate::{PendingDoc, Reference, RefusedEdit, Store, StoreConfig};

/// Why a sync or an enrolment did not complete. Work not yet synced stays queued.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The hub could not be reached (after retries).
    #[error("no connection to the hub ({0}); the work stays queued for the next sync")]
    Network(String),
    /// The hub answered with an error that retrying will not fix.
    #[error("the hub refused the request: {code}: {message}")]
    Hub {
        /// HTTP status.
        status: u16,
        /// The hub's machine code, e.g. `device_revoked`.
        code: String,
        /// The hub's message.
        message: String,
    },
    /// The store has not been enrolled with a hub.
    #[error("this store is not enrolled with a hub")]
    NotEnrolled,
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
}

/// Tuning of a sync run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Documents pushed per round.
    pub docs_per_round: usize,
    /// Failed rounds in a row, at the smallest round (one document, the smallest pull page),
    /// before a sync gives up on network errors and hub overload; rounds that fail while they
    /// can still shrink are retried smaller without counting. `1`: no retry at all.
    pub attempts: u32,
    /// The first wait between attempts (doubled each time).
    pub backoff: Duration,
    /// How long an exchange may go without a byte moving, per read and per write, before it
    /// is given up (and retried). There is no limit on an exchange as a whole: a slow link
    /// that keeps moving is never cut off, and a half-open one is noticed after this long.
    pub idle: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            docs_per_round: 200,
            attempts: 5,
            backoff: Duration::from_millis(500),
            idle: IDLE,
        }
    }
}

/// Progress after each round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rounds done.
    pub rounds: u32,
    /// Documents pushed so far.
    pub docs_pushed: usize,
    /// Documents received so far.
    pub docs_pulled: usize,
    /// Bytes sent so far (request bodies).
    pub bytes_sent: u64,
    /// Bytes received so far (response bodies).
    pub bytes_received: u64,
    /// Whether the hub has more to send.
    pub more: bool,
    /// The documents the round just done changed on this device (changes received, or a
    /// refused edit rolled back): what an app redraws.
    pub changed: Vec<Uuid>,
}

/// What a sync run did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// The final progress figures.
    pub progress: Progress,
    /// Documents the hub accepted.
    pub accepted: usize,
    /// Edits the hub refused (rolled back, kept visible).
    pub refused: Vec<RefusedEdit>,
    /// Changes received that were new to this device.
    pub new_changes: usize,
    /// Documents received that could not be applied, with why (they are fetched again on the
    /// next sync).
    pub pull_errors: Vec<(Uuid, String)>,
    /// Every document the run changed on this device, once each, in the order first changed.
    pub changed: Vec<Uuid>,
    /// Documents whose changes the hub could not take yet because they build on changes it
    /// does not have (after the hub was restored from a backup, until their author's device
    /// syncs): kept here as they are and offered again on the next sync, with why.
    pub waiting: Vec<(Uuid, String)>,
    /// Whether the hub turned out to have been restored from a backup (its change log changed),
    /// so that this sync started over: read the hub's whole log and offered every local change
    /// again.
    pub hub_restored: bool,
}

/// The refusal that means "not yet" rather than "no": the pushed changes build on changes the
/// hub lacks. They are kept, not rolled back.
const MISSING_DEPENDENCIES: &str = "missing_dependencies";

/// The default of [`SyncOptions::idle`]: long enough for a hub busy checking a large push,
/// short enough that a link gone silent is retried within the minute.
pub const IDLE: Duration = Duration::from_secs(30);

/// The slowest link a village may sync over, in bytes per second (8 kbit/s, a poor GPRS
/// link): see [`answer_wait`].
const SLOWEST_LINK: u64 = 1_000;

/// How long each read of an answer may wait after a body of `body` bytes went out. Written
/// bytes sit in the system's send buffer until the link carries them, and nothing shows their
/// progress until the hub answers; so the agent's idle limit is lengthened by the time they
/// take to cross the slowest link. Small bodies (a sync round is a few kilobytes compressed)
/// add little; an attachment piece adds a second per kilobyte.
pub(crate) fn answer_wait(agent: &ureq::Agent, body: usize) -> Duration {
    let idle = agent.config().timeout_per_read().unwrap_or(IDLE);
    idle + Duration::from_millis(body as u64 * 1000 / SLOWEST_LINK)
}

/// How long connecting may take: a reachable hub answers within this even on a weak link.
const CONNECT: Duration = Duration::from_secs(10);

/// The HTTP client for one run: a connection limit, then per-read and per-write idle limits
/// (progress-based) and no limit on an exchange as a whole.
pub(crate) fn agent(idle: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT))
        .timeout_per_read(Some(idle))
        .timeout_per_write(Some(idle))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One HTTP exchange: JSON in, JSON out, hub errors decoded. With `gzip_body`, a body of
/// [`GZIP_FROM`] bytes or more is sent compressed (only `/api/v1/sync` takes that).
fn exchange<Req: serde::Serialize, Res: serde::de::DeserializeOwned>(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
    body: &Req,
    gzip_body: bool,
) -> Result<(Res, u64, u64), Attempt> {
    let json =
        serde_json::to_vec(body).map_err(|e| Attempt::Fatal(SyncError::Network(e.to_string())))?;
    let mut req = agent.post(url).header("Content-Type", "application/json");
    // Gzip pays from about a kilobyte (the hub takes it on `/api/v1/sync`; answers come back
    // gzipped when asked, which the agent does and undoes).
    let bytes = if gzip_body && json.len() >= GZIP_FROM {
        req = req.header("Content-Encoding", "gzip");
        gzip(&json)
    } else {
        json
    };
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let wait = answer_wait(agent, bytes.len());
    let mut resp = req
        .config()
        .timeout_per_read(Some(wait))
        .build()
        .send(&bytes[..])
        .map_err(|e| {
            if unreachable(&e) {
                Attempt::Unreachable(e.to_string())
            } else {
                Attempt::Retry(e.to_string(), None)
            }
        })?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(300)));
    let body = resp
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| Attempt::Retry(e.to_string(), None))?;
    let received = body.len() as u64;
    if status >= 500 || status == 429 {
        return Err(Attempt::Retry(
            format!("hub answered {status}"),
            retry_after,
        ));
    }
    if status >= 400 {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) => (e.error.code, e.error.message),
            Err(_) => ("http_error".to_string(), format!("HTTP {status}")),
        };
        return Err(Attempt::Fatal(SyncError::Hub {
            status,
            code,
            message,
        }));
    }
    let parsed = serde_json::from_slice(&body).map_err(|e| {
        Attempt::Fatal(SyncError::Hub {
            status,
            code: "bad_response".into(),
            message: e.to_string(),
        })
    })?;
    Ok((parsed, bytes.len() as u64, received))
}

/// Request bodies from this size are sent gzip-compressed.
const GZIP_FROM: usize = 1024;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

enum Attempt {
    /// Try again (after at least the hub's `Retry-After`, if it gave one).
    Retry(String, Option<Duration>),
    /// The hub cannot be reached at all (no network, nothing listening): try again briefly,
    /// then say so.
    Unreachable(String),
    Fatal(SyncError),
}

/// How long a tablet keeps trying a hub it cannot reach at all before it reports that it is
/// offline.
const OFFLINE_AFTER: Duration = Duration::from_millis(1500);

/// Whether `e` says the hub cannot be reached at all (no network, no route, nothing
/// listening), as opposed to a link that broke during an exchange.
pub(crate) fn unreachable(e: &ureq::Error) -> bool {
    use std::io::ErrorKind::{
        AddrNotAvailable, ConnectionRefused, HostUnreachable, NetworkUnreachable, NotConnected,
    };
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ConnectionRefused
                | NetworkUnreachable
                | HostUnreachable
                | NotConnected
                | AddrNotAvailable
        ),
        _ => false,
    }
}

/// How many documents the next push round carries, and how large a pull page it asks for:
/// both halved after a round that did not come back (a link that drops mid-round still gets a
/// smaller one through, down to one document and [`MIN_PULL_BUDGET`]), doubled again after
/// each that did, up to [`SyncOptions::docs_per_round`] and the hub's own page. It also counts
/// the failed rounds in a row and waits between them.
struct Batch<'a> {
    size: usize,
    /// The pull page asked for; `None`: the hub's own.
    pull: Option<u64>,
    opts: &'a SyncOptions,
    failures: u32,
    wait: Duration,
    /// Since when the hub could not be reached at all.
    unreachable_since: Option<std::time::Instant>,
    /// The largest round that came through in this run.
    largest_ok: Option<usize>,
    /// The smallest round failed too: the link was down, not too weak for the rounds' size.
    outage: bool,
}

impl Batch<'_> {
    fn new(opts: &SyncOptions) -> Batch<'_> {
        Batch {
            size: opts.docs_per_round.max(1),
            pull: None,
            opts,
            failures: 0,
            wait: opts.backoff,
            unreachable_since: None,
            largest_ok: None,
            outage: false,
        }
    }

    fn succeeded(&mut self) {
        let (full, done) = (self.opts.docs_per_round.max(1), self.size);
        // Grows back gently: a link that just carried a small round may not carry a large one.
        let doubled = (done * 2).min(full);
        // Back to the hub's own page once doubling reaches it.
        let pull = self.pull.map(|p| p * 2).filter(|p| *p < MAX_PULL_BUDGET);
        if std::mem::take(&mut self.outage) {
            // The rounds shrank while the link was down, not because it could not carry them:
            // back to the largest round that came through before (all of it, if none had).
            self.size = self.largest_ok.unwrap_or(full).max(doubled);
            self.pull = if self.largest_ok.is_some() {
                pull
            } else {
                None
            };
        } else {
            self.size = doubled;
            self.pull = pull;
        }
        self.largest_ok = Some(self.largest_ok.unwrap_or(0).max(done));
        self.failures = 0;
        self.wait = self.opts.backoff;
        self.unreachable_since = None;
    }

    /// The hub could not be reached at all: a few quick tries, then `Err` (offline) within
    /// [`OFFLINE_AFTER`].
    fn unreachable(&mut self, why: String) -> Result<(), SyncError> {
        let since = *self
            .unreachable_since
            .get_or_insert_with(std::time::Instant::now);
        if since.elapsed() >= OFFLINE_AFTER {
            return Err(SyncError::Network(format!(
                "no connection to the hub: {why}"
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
        Ok(())
    }

    /// A round failed on the network: a smaller one next, after a wait; `Err` once
    /// [`SyncOptions::attempts`] rounds in a row failed.
    fn failed(&mut self, why: String, retry_after: Option<Duration>) -> Result<(), SyncError> {
        if self.opts.attempts <= 1 {
            // No retries asked for at all.
            return Err(SyncError::Network(why));
        }
        let smallest = self.size == 1 && self.pull == Some(MIN_PULL_BUDGET);
        if !smallest {
            // Not yet the smallest round: halve, wait a moment, and try; these tries do not
            // count towards giving up (a link that drops every few kilobytes still gets
            // everything through, one document at a time if need be).
            tracing::debug!(size = self.size, %why, "sync round failed; trying a smaller one");
            self.size = (self.size / 2).max(1);
            self.pull = Some((self.pull.unwrap_or(MAX_PULL_BUDGET) / 2).max(MIN_PULL_BUDGET));
            std::thread::sleep(pause(self.opts.backoff, retry_after));
            return Ok(());
        }
        self.failures += 1;
        self.outage = true;
        if self.failures >= self.opts.attempts.max(1) {
            return Err(SyncError::Network(why));
        }
        tracing::debug!(failures = self.failures, %why, "the smallest sync round failed; waiting");
        std::thread::sleep(pause(self.wait, retry_after));
        self.wait = self.wait.saturating_mul(2);
        Ok(())
    }
}

/// The wait before the next attempt: `wait` plus up to half of it again at random (devices cut
/// off together do not all come back in the same instant), and never less than the hub's
/// `Retry-After`.
pub(crate) fn pause(wait: Duration, retry_after: Option<Duration>) -> Duration {
    let jitter = wait.mul_f64(rand::random::<f64>() / 2.0);
    (wait + jitter).max(retry_after.unwrap_or_default())
}

pub(crate) fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Enrols this device with the hub at `server_url` using a one-time code, and creates its store
/// at `path` with the identity, device number, actor and reference data the hub assigns.
pub fn enroll(
    path: impl AsRef<Path>,
    server_url: &str,
    code: &str,
    device_name: &str,
    opts: &SyncOptions,
) -> Result<Store, SyncError> {
    let agent = agent(opts.idle);
    let url = format!("{}/api/v1/enrol", base(server_url));
    let req = EnrolRequest {
        protocol: PROTOCOL_VERSION,
        code: code.to_string(),
        device_name: device_name.to_string(),
    };
    // An enrolment code is single-use: never retry blindly after the hub may have redeemed it.
    let (res, _, _): (EnrolResponse, _, _) =
        exchange(&agent, &url, None, &req, false).map_err(|a| match a {
            Attempt::Retry(why, _) | Attempt::Unreachable(why) => SyncError::Network(why),
            Attempt::Fatal(e) => e,
        })?;
    store_from_enrolment(path, server_url, &res)
}

/// Creates a device's store at `path` from the hub's answer to its enrolment: the identity,
/// device number, actor, token and reference data the hub assigned.
pub fn store_from_enrolment(
    path: impl AsRef<Path>,
    server_url: &str,
    res: &EnrolResponse,
) -> Result<Store, SyncError> {
    let reference = Reference {
        catalog: res.reference.catalog.clone(),
        directory: res.reference.directory.clone(),
        calendar: WorkingCalendar::new(res.reference.calendars.clone()),
    };
    let config = StoreConfig {
        identity: res.identity.clone(),
        device_no: res.device_no,
        reference,
    };
    let mut store = Store::create_enrolled(path, config, &res.actor)?;
    store.set_server(base(server_url), &res.token)?;
    store.apply_reference_data(&res.reference)?;
    Ok(store)
}

pub(crate) fn lock(store: &Mutex<Store>) -> Result<std::sync::MutexGuard<'_, Store>, SyncError> {
    store
        .lock()
        .map_err(|_| SyncError::Store(crate::Error::Storage("the store lock was poisoned".into())))
}

/// What a round pushes: each document's change list; but a document alone in its round that
/// no one else has touched goes in its saved (compressed) form when that is smaller. Measured
/// for a new request: an 880-byte change saves to 730 bytes, about 110 bytes less on the wire
/// after gzip; with two documents or more, gzip over their change lists does better than
/// their saved forms (it finds what they share), so those always go as change lists.
fn push_docs(s: &Store, pending: &[PendingDoc]) -> Result<Vec<PushDoc>, SyncError> {
    if let [only] = pending
        && let Some(saved) = s.saved_form(only.doc_id)?
        && saved.len() < only.changes.iter().map(Vec::len).sum::<usize>()
    {
        return Ok(vec![PushDoc {
            doc: only.doc_id,
            changes: Vec::new(),
            saved: Some(B64(saved)),
        }]);
    }
    Ok(pending
        .iter()
        .map(|p| PushDoc {
            doc: p.doc_id,
            changes: p.changes.iter().cloned().map(B64).collect(),
            saved: None,
        })
        .collect())
}

/// Syncs until quiescent: every local change pushed (or refused and rolled back), everything
/// the hub has for this device received. Calls `progress` after each round.
pub fn sync(
    store: &Mutex<Store>,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SyncReport, SyncError> {
    let (url, token) = lock(store)?.server()?.ok_or(SyncError::NotEnrolled)?;
    let url = format!("{url}/api/v1/sync");
    let agent = agent(opts.idle);
    let mut report = SyncReport::default();
    let mut more = true;
    let mut batch = Batch::new(opts);
    // Rounds go on while the hub says more is waiting or local work remains unacknowledged.
    loop {
        let (pending, request) = {
            let s = lock(store)?;
            // Documents waiting for changes the hub lacks are not offered again in this run.
            let mut pending = s.pending_changes(batch.size + report.waiting.len())?;
            pending.retain(|p| !report.waiting.iter().any(|(doc, _)| *doc == p.doc_id));
            pending.truncate(batch.size);
            // Done when the hub has nothing more to send and nothing is left to push (a round
            // that hit `docs_per_round`, or work done during the exchange, leaves some).
            if report.progress.rounds > 0 && !more && pending.is_empty() {
                return Ok(report);
            }
            let request = SyncRequest {
                pull_budget: batch.pull,
                protocol: PROTOCOL_VERSION,
                cursor: s.sync_cursor()?,
                reference_version: s.reference_version()?,
                push: push_docs(&s, &pending)?,
            };
            (pending, request)
        };
        let (res, sent, received): (SyncResponse, _, _) =
            match exchange(&agent, &url, Some(&token), &request, true) {
                Ok(answer) => {
                    batch.succeeded();
                    answer
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(why, retry_after)) => {
                    batch.failed(why, retry_after)?;
                    continue;
                }
                Err(Attempt::Unreachable(why)) => {
                    batch.unreachable(why)?;
                    continue;
                }
            };
        report.progress.rounds += 1;
        report.progress.bytes_sent += sent;
        report.progress.bytes_received += received;
        report.progress.docs_pushed += pending.len();
        report.progress.changed.clear();
        {
            let mut s = lock(store)?;
            if let Some(reference) = &res.reference {
                s.apply_reference_data(reference)?;
            }
            let restored = match (s.hub_log()?, &res.log) {
                (Some(known), Some(log)) => known != *log,
                (None, Some(log)) => {
                    s.set_hub_log(log)?;
                    false
                }
                (_, None) => false,
            };
            for result in &res.results {
                match result {
                    PushResult::Accepted { doc, .. } => {
                        // The hub holds everything this device had when it pushed.
                        if let Some(p) = pending.iter().find(|p| p.doc_id == *doc) {
                            s.acknowledge(*doc, &p.heads)?;
                            report.accepted += 1;
                        }
                    }
                    PushResult::Refused {
                        doc, code, reason, ..
                    } if code == MISSING_DEPENDENCIES => {
                        tracing::warn!(doc = %doc, "the hub lacks changes this document builds on; kept for later");
                        report.waiting.push((*doc, reason.clone()));
                    }
                    PushResult::Refused {
                        doc,
                        code,
                        reason,
                        held,
                    } => {
                        let held: Vec<[u8; 32]> = held.iter().map(|h| h.0).collect();
                        report
                            .refused
                            .push(s.reject_local(*doc, code, reason, &held)?);
                        report.progress.changed.push(*doc);
                    }
                }
            }
            if restored {
                // Its cursor means nothing in the restored log: read it from the start, and
                // offer every local change again (what it lost comes back from here).
                if let Some(log) = &res.log {
                    s.restart_sync(log)?;
                }
                report.hub_restored = true;
                report.waiting.clear();
                more = true;
                progress(&report.progress);
                continue;
            }
            let page: Vec<(Uuid, Vec<Vec<u8>>)> = res
                .pull
                .iter()
                .map(|d| (d.doc, d.changes.iter().map(|c| c.0.clone()).collect()))
                .collect();
            for ((doc, _), outcome) in page.iter().zip(s.apply_remote_page(&page)?) {
                match outcome {
                    Ok(applied) => {
                        report.new_changes += applied.new_changes;
                        if applied.new_changes > 0 {
                            report.progress.changed.push(*doc);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(doc = %doc, error = %e, "could not apply changes from the hub");
                        report.pull_errors.push((*doc, e.to_string()));
                    }
                }
            }
            report.progress.docs_pulled += res.pull.len();
            if report.pull_errors.is_empty() {
                s.set_sync_cursor(res.cursor)?;
            }
        }
        report.progress.more = res.more;
        more = res.more;
        for doc in &report.progress.changed {
            if !report.changed.contains(doc) {
                report.changed.push(*doc);
            }
        }
        progress(&report.progress);
        if !report.pull_errors.is_empty() {
            // Do not advance past what could not be applied; the next sync fetches it again.
            return Ok(report);
        }
    }
}

#[cfg(test)]
mod tests {
    use bianmin_domain::{AttrValue, Identity, Role};

    use super::*;
    use crate::NewRequest;

    fn clerk(dir: &Path) -> Store {
        let identity =
            Identity::new("clerk-wang", Role::Clerk, "370883101201", "tablet-7").expect("identity");
        Store::create(
            dir.join("t.db"),
            StoreConfig {
                identity,
                device_no: 7,
                reference: Reference::demo(),
            },
        )
        .expect("store")
    }

    fn file(store: &mut Store) -> Uuid {
        store
            .file_request(NewRequest {
                item_code: "SOC-CARD".into(),
                applicant_name: "王秀英".into(),
                id_number: "11010519491231002X".into(),
                phone: "13812345678".into(),
                grid: "1组".into(),
                attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
                materials_received: vec!["ID card".into(), "Recent photo".into()],
                resident_user: None,
                submit: true,
            })
            .expect("file")
            .id
    }

    #[test]
    fn rounds_shrink_after_failures_and_come_back_whole_after_an_outage() {
        let opts = SyncOptions {
            docs_per_round: 200,
            attempts: 5,
            backoff: Duration::from_millis(1),
            ..SyncOptions::default()
        };
        let mut batch = Batch::new(&opts);
        // A link that cuts large rounds: halved down to what comes through, grown by doubling.
        batch.failed("cut".into(), None).unwrap();
        batch.failed("cut".into(), None).unwrap();
        assert_eq!(batch.size, 50);
        batch.succeeded();
        assert_eq!(batch.size, 100, "grows back gently");
        // The link goes down: every round fails, the smallest too.
        while batch.size > 1 || batch.pull != Some(MIN_PULL_BUDGET) {
            batch.failed("down".into(), None).unwrap();
        }
        batch.failed("down".into(), None).unwrap();
        batch.succeeded();
        assert_eq!(
            batch.size, 50,
            "back to the largest round that came through"
        );

        // A run that starts while the link is down comes back to full rounds and pages.
        let mut batch = Batch::new(&opts);
        while batch.size > 1 || batch.pull != Some(MIN_PULL_BUDGET) {
            batch.failed("down".into(), None).unwrap();
        }
        batch.failed("down".into(), None).unwrap();
        batch.succeeded();
        assert_eq!((batch.size, batch.pull), (200, None));
    }

    #[test]
    fn a_new_document_alone_in_its_round_goes_saved_and_several_go_as_change_lists() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = clerk(dir.path());
        let first = file(&mut store);
        let alone = push_docs(&store, &store.pending_changes(10).unwrap()).unwrap();
        assert_eq!(alone.len(), 1);
        assert!(alone[0].changes.is_empty());
        let saved = alone[0].saved.as_ref().expect("the saved form");
        let listed: usize = store.pending_changes(10).unwrap()[0]
            .changes
            .iter()
            .map(Vec::len)
            .sum();
        assert!(saved.0.len() < listed, "{} vs {listed}", saved.0.len());
        // The hub's side takes the same changes out of it.
        let mut taken = bianmin_document::changes_of_saved(&saved.0).unwrap();
        let mut own = store.pending_changes(10).unwrap()[0].changes.clone();
        taken.sort();
        own.sort();
        assert_eq!(taken, own);
        assert_eq!(alone[0].doc, first);

        file(&mut store);
        let two = push_docs(&store, &store.pending_changes(10).unwrap()).unwrap();
        assert_eq!(two.len(), 2);
        assert!(
            two.iter()
                .all(|p| p.saved.is_none() && !p.changes.is_empty())
        );
    }
}
