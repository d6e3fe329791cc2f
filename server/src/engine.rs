//! The sync engine: enrolment, and one sync round (push, then pull).
//!
//! Blocking code, run from `spawn_blocking`. Pushes are checked by
//! [`bianmin_document::check_push`] (the same permission function the tablets use) and
//! stored by the group commit of `documents` (the pushes of concurrent rounds in one
//! transaction); pulls read the change log through the device's read scope, so a round costs
//! in proportion to what changed, not to what is stored. Documents are held in a bounded
//! cache; everything else stays on disk.

mod console;
mod documents;
mod open311;
mod resident;

pub use console::{CONSOLE_DEVICE, PUBLIC_STAGES, RequestPage, console_actor, console_identity};
pub use open311::{
    ApplicationFiling, OPEN311_DEVICE, Posted, application_actor, application_user,
    parse_application_user,
};
pub use resident::{
    Filed, Photo, RESIDENT_DEVICE, ResidentAction, ResidentFiling, ResidentRequest, resident_actor,
    resident_identity,
};

use std::num::NonZeroUsize;
use std::sync::{Arc, Weak};

use axum::http::StatusCode;
use bianmin_document::Reference;
use bianmin_document::{
    Context, DocIndex, Document, Environment, Refusal, Residence, changes_of_saved, check_push,
};
use bianmin_domain::{
    Identity, RequestOp, RequestScope, Role, Timestamp, WorkingCalendar, authorize_request,
};
use bianmin_protocol::{
    B64, EnrolRequest, EnrolResponse, Head, PROTOCOL_VERSION, PullDoc, PushDoc, PushResult,
    SyncRequest, SyncResponse,
};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::auth::{self, AuthedDevice};
use crate::error::AppError;
use crate::notices::{self, Bell, Notifier};
use crate::reference::{Current, ReferenceCache};
use crate::storage::{NewDevice, ReadScope, Storage};
use documents::{Documents, Durability, Queued};

/// Documents kept decoded in memory.
const CACHE_DOCUMENTS: usize = 2048;
/// At most this many documents per push.
pub const MAX_PUSH_DOCS: usize = 1000;
/// At most this many changes per pushed document.
pub const MAX_CHANGES_PER_DOC: usize = 10_000;

/// Tells connected devices that changes in their scope exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveNotice {
    /// The change log position now reached.
    pub seq: u64,
    /// The village of the changed document.
    pub village: String,
    /// Its resident, for requests.
    pub resident_user: Option<String>,
    /// The device whose push stored the changes (it has them: its own stream stays quiet).
    pub from_device: String,
}

impl LiveNotice {
    /// Whether a device with this read scope may hear of it.
    pub fn visible_to(&self, scope: &ReadScope) -> bool {
        match scope {
            ReadScope::Resident { user } => self.resident_user.as_deref() == Some(user.as_str()),
            ReadScope::Village(v) => self.village == *v,
            ReadScope::Township(t) | ReadScope::County(t) => self.village.starts_with(t.as_str()),
        }
    }
}

/// The sync engine shared by all requests.
pub struct Engine {
    storage: Arc<dyn Storage>,
    documents: Documents,
    reference: ReferenceCache,
    live: broadcast::Sender<LiveNotice>,
    /// Rung after each group commit: wakes the notifier.
    bell: Bell,
    /// The notifier, once started ([`Engine::start_notices`]).
    notifier: std::sync::OnceLock<Notifier>,
    /// The byte budget of one pull page.
    pub pull_budget: usize,
    /// The change log's identity (read once: it changes only when a backup is restored, which
    /// means a restart).
    log_id: std::sync::OnceLock<String>,
    /// Held while a filing in the hub's receipt series (a resident's, an Open311 application's)
    /// takes the next number and is stored (see `resident` and `open311`).
    resident_filing: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pull_budget", &self.pull_budget)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The read scope of an identity's role.
pub fn read_scope(role: Role, user: &str, area: &str) -> ReadScope {
    match role {
        Role::Resident => ReadScope::Resident {
            user: user.to_string(),
        },
        Role::Clerk => ReadScope::Village(area.to_string()),
        Role::Reviewer => ReadScope::Township(area.to_string()),
        Role::Administrator => ReadScope::County(area.to_string()),
    }
}

impl Engine {
    /// An engine over `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        let (live, _) = broadcast::channel(1024);
        let bell = Bell::default();
        Engine {
            documents: Documents::new(
                storage.clone(),
                NonZeroUsize::new(CACHE_DOCUMENTS).expect("non-zero"),
                bell.clone(),
            ),
            reference: ReferenceCache::new(storage.clone()),
            storage,
            live,
            bell,
            notifier: std::sync::OnceLock::new(),
            pull_budget: bianmin_protocol::MAX_PULL_BUDGET as usize,
            log_id: std::sync::OnceLock::new(),
            resident_filing: std::sync::Mutex::new(()),
        }
    }

    /// The identity of the hub's change log (see `SyncResponse::log`).
    fn log_id(&self) -> Result<String, AppError> {
        if let Some(id) = self.log_id.get() {
            return Ok(id.clone());
        }
        let id = self.storage.log_id()?;
        Ok(self.log_id.get_or_init(|| id).clone())
    }

    /// Subscribes to notices of new changes, stored by this process or any other sharing the
    /// storage (once [`Engine::start_notices`] ran).
    pub fn subscribe(&self) -> broadcast::Receiver<LiveNotice> {
        self.live.subscribe()
    }

    /// Starts publishing notices of new changes (see [`crate::notices`]): a thread of its own
    /// that reads the change log, woken by this engine's group commits, by the backend's hint
    /// that another process wrote, and every [`notices::POLL`]. Once per engine; it ends when
    /// the engine is dropped. Returns once the notifier knows where the log ends.
    pub fn start_notices(&self) {
        self.notifier.get_or_init(|| {
            notices::start(self.storage.clone(), self.live.clone(), self.bell.clone())
        });
    }

    /// The reference data in force (the one cache of [`crate::reference`]).
    pub fn reference(&self) -> Result<Arc<Current>, AppError> {
        self.reference.get()
    }

    /// Forgets the cached reference data (after new data was loaded through this hub).
    pub fn forget_reference(&self) {
        self.reference.forget();
    }

    /// Starts the engine's maintenance thread: indexes the documents stored before the index
    /// existed, then every 2 s looks for new reference data and rewrites the whole index when
    /// the calendar changed. Of the hub processes sharing a storage, one does this at a time
    /// (`Storage::lead_maintenance`); another takes over when it stops. It ends when the
    /// engine is dropped.
    pub fn start_maintenance(self: &Arc<Self>) {
        let engine: Weak<Engine> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("bianmin-maintenance".into())
            .spawn(move || {
                let mut all = false;
                let mut lead: Option<Box<dyn crate::storage::Lead>> = None;
                loop {
                    let Some(e) = engine.upgrade() else { return };
                    // No reference data yet is not an error here: nothing to index either.
                    if e.storage.reference().ok().flatten().is_some() {
                        let _ = e.reference();
                        all |= e.reference.take_calendar_changed();
                        if !lead.as_mut().is_some_and(|l| l.holds()) {
                            lead = e.storage.lead_maintenance().unwrap_or_else(|err| {
                                tracing::warn!(error = %err, "cannot ask whether another hub process does the maintenance; retrying");
                                None
                            });
                        }
                        if lead.is_some() {
                            match e.reindex(all) {
                                Ok(_) => all = false,
                                Err(err) => tracing::warn!(error = %err, "reindexing failed; retrying"),
                            }
                        }
                    }
                    drop(e);
                    std::thread::sleep(crate::reference::TTL);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "the maintenance thread could not start");
        }
    }

    /// Brings the document index up to date: the documents without an entry (stored before
    /// the index existed), or all of them when `all` (the calendar changed, so deadlines
    /// moved). Works in batches of 500, one lock stripe at a time: pushes to the documents of
    /// the stripe being indexed wait, pushes to every other document go on; and each entry is
    /// written only if its document is still at the version it was made from (another hub
    /// process may have stored it meanwhile), so no entry is overwritten with an older state.
    /// Returns how many entries were written.
    pub fn reindex(&self, all: bool) -> Result<usize, AppError> {
        const BATCH: usize = 500;
        let reference = self.reference()?;
        let calendar = &reference.rules.calendar;
        let mut after = None;
        let mut written = 0;
        loop {
            let ids = self.storage.document_ids(after, BATCH, !all)?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            after = Some(last);
            self.documents.by_stripe(&ids, |read, stripe| {
                let mut entries = Vec::with_capacity(stripe.len());
                for id in stripe {
                    // A document that cannot be indexed (logged) keeps its old entry.
                    if let Some((doc, version)) = read(*id)?
                        && let Ok(index) = index_of(&doc, calendar)
                    {
                        entries.push((*id, version, index));
                    }
                }
                // An entry whose document another hub process stored since it was read is
                // not written: that commit wrote a newer one.
                written += self.storage.reindex(&entries)?;
                Ok(())
            })?;
        }
        if written > 0 {
            tracing::info!(entries = written, all, "document index rewritten");
        }
        Ok(written)
    }

    /// Enrols a device with a one-time code.
    pub fn enrol(&self, req: EnrolRequest) -> Result<EnrolResponse, AppError> {
        check_protocol(req.protocol)?;
        let name = req.device_name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::bad_request(
                "device_name: must be 1 to 100 characters",
            ));
        }
        let reference = self.reference()?;
        let token = auth::new_token();
        let actor = Uuid::new_v4().simple().to_string();
        let device = NewDevice {
            name: name.to_string(),
            token_hash: auth::hash_secret(&token),
            actor: actor.clone(),
            now: now_ms(),
        };
        let code_hash = auth::hash_secret(&auth::normalise_code(&req.code));
        let (device, user) = self.storage.redeem_enrolment_code(&code_hash, &device)?;
        tracing::info!(device = %device.id, device_no = device.device_no, role = %user.role, "device enrolled");
        Ok(EnrolResponse {
            protocol: PROTOCOL_VERSION,
            token,
            device_id: device.id.clone(),
            device_no: device.device_no,
            actor,
            identity: bianmin_domain::Identity {
                user: user.id,
                role: user.role,
                area: user.area,
                device: device.id,
            },
            reference: reference.data.clone(),
        })
    }

    /// One round: the device's pushes are checked and stored, then it receives a page of what
    /// changed in its scope since its cursor.
    pub fn sync(&self, who: &AuthedDevice, req: SyncRequest) -> Result<SyncResponse, AppError> {
        check_protocol(req.protocol)?;
        if req.push.len() > MAX_PUSH_DOCS {
            return Err(AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_documents",
                format!("push at most {MAX_PUSH_DOCS} documents per round"),
            ));
        }
        let reference = self.reference()?;
        let pushing = std::time::Instant::now();
        let pushes: Vec<Pushed> = req
            .push
            .into_iter()
            .map(|push| (push.doc, pushed_changes(push)))
            .collect();
        let results = self.push_round(who, &pushes, &reference.rules)?;
        crate::metrics::pushes_took(pushing.elapsed());
        let scope = read_scope(who.identity.role, &who.identity.user, &who.identity.area);
        // A device on a failing link may ask for a smaller page, never a larger one.
        let budget = req.pull_budget.map_or(self.pull_budget, |asked| {
            let asked =
                usize::try_from(asked.max(bianmin_protocol::MIN_PULL_BUDGET)).unwrap_or(usize::MAX);
            asked.min(self.pull_budget)
        });
        let page = self
            .storage
            .changes_after(&scope, req.cursor, budget, Some(&who.device.id))?;
        let mut pull: Vec<PullDoc> = Vec::new();
        for entry in page.entries {
            match pull.iter_mut().find(|p| p.doc == entry.doc_id) {
                Some(p) => p.changes.push(B64(entry.change)),
                None => pull.push(PullDoc {
                    doc: entry.doc_id,
                    changes: vec![B64(entry.change)],
                }),
            }
        }
        let reference_update =
            (req.reference_version < reference.data.version).then(|| reference.data.clone());
        Ok(SyncResponse {
            protocol: PROTOCOL_VERSION,
            results,
            pull,
            cursor: page.cursor.max(req.cursor),
            more: page.more,
            reference: reference_update,
            log: Some(self.log_id()?),
        })
    }

    /// Checks and stores a round's pushes; answers once every accepted one is on disk. A round
    /// lost only because another hub process stored one of the documents of its group commit
    /// first (see `documents`) is checked once more, against the stored documents: a tablet
    /// is told `503 store_failed` (and sends the round again) only if that happens twice in a
    /// row, or if the group failed for any other reason.
    fn push_round(
        &self,
        who: &AuthedDevice,
        pushes: &[Pushed],
        rules: &Reference,
    ) -> Result<Vec<PushResult>, AppError> {
        let mut again = true;
        loop {
            let since = self.documents.generation();
            match self.push_once(who, pushes, rules) {
                Err(e)
                    if again
                        && e.code == documents::STORE_FAILED
                        && self.documents.raced_since(since) =>
                {
                    again = false;
                    tracing::info!(device = %who.device.id, "a round lost a race with another hub process; checking it again");
                }
                done => return done,
            }
        }
    }

    /// Checks a round's pushes once and waits until every accepted one is stored.
    fn push_once(
        &self,
        who: &AuthedDevice,
        pushes: &[Pushed],
        rules: &Reference,
    ) -> Result<Vec<PushResult>, AppError> {
        let mut results = Vec::with_capacity(pushes.len());
        let mut durable = Durability::default();
        for (doc, changes) in pushes {
            results.push(match changes {
                Ok(changes) => self.push_one(who, *doc, changes, rules, &mut durable)?,
                Err(refusal) => PushResult::Refused {
                    doc: *doc,
                    code: refusal.code.to_string(),
                    reason: refusal.reason.clone(),
                    held: Vec::new(),
                },
            });
        }
        // Answer only once every accepted push of the round is on disk.
        self.documents.wait(durable)?;
        Ok(results)
    }

    fn push_one(
        &self,
        who: &AuthedDevice,
        doc_id: Uuid,
        changes: &[Vec<u8>],
        rules: &Reference,
        round: &mut Durability,
    ) -> Result<PushResult, AppError> {
        let mut taken = self.documents.take(doc_id)?;
        let env = HubEnv {
            storage: self.storage.as_ref(),
            documents: &self.documents,
        };
        let ctx = Context {
            sender: &who.identity,
            // The console files no request; every device's receipts carry its number (the
            // resident pages' pseudo-device: the hub's series, 000).
            device_no: (who.device.id != CONSOLE_DEVICE).then_some(who.device.device_no),
            reference: rules,
            now: Timestamp::now(),
            env: &env,
        };
        let checked = check_push(taken.current(), doc_id, changes, &who.device.actor, &ctx);
        let accepted = match checked {
            Ok(a) => a,
            Err(refusal) => {
                taken.keep(round);
                tracing::info!(doc = %doc_id, device = %who.device.id, code = refusal.code, "push refused");
                return Ok(PushResult::Refused {
                    doc: doc_id,
                    code: refusal.code.to_string(),
                    reason: refusal.reason,
                    held: refusal.held.into_iter().map(Head).collect(),
                });
            }
        };
        let (Some(mut doc), Some(snapshot)) = (accepted.doc, accepted.saved) else {
            // A repeated round: the hub's copy stands.
            let heads = taken.current_mut().map(|d| d.heads()).unwrap_or_default();
            taken.keep(round);
            return Ok(PushResult::Accepted {
                doc: doc_id,
                heads: heads.into_iter().map(Head).collect(),
                duplicates: accepted.duplicates,
            });
        };
        let heads = doc.heads().into_iter().map(Head).collect();
        let meta = doc.meta();
        let index = match index_of(&doc, &rules.calendar) {
            Ok(index) => index,
            Err(_) => {
                taken.keep(round);
                return Ok(PushResult::Refused {
                    doc: doc_id,
                    code: "malformed".into(),
                    reason: "the document could not be indexed".into(),
                    held: Vec::new(),
                });
            }
        };
        tracing::debug!(doc = %doc_id, device = %who.device.id, changes = accepted.new_changes.len(), "push accepted");
        taken.accept(
            doc,
            Queued {
                ticket: 0,
                base_version: 0,
                doc_id,
                kind: meta.kind,
                village: meta.village,
                resident_user: meta.resident_user,
                snapshot,
                changes: accepted.new_changes,
                device_id: who.device.id.clone(),
                user_id: who.user.id.clone(),
                received_at: now_ms(),
                index,
            },
            round,
        )?;
        Ok(PushResult::Accepted {
            doc: doc_id,
            heads,
            duplicates: accepted.duplicates,
        })
    }
}

/// A pushed document and its changes, or why they cannot be taken.
type Pushed = (Uuid, Result<Vec<Vec<u8>>, Refusal>);

/// The changes a push carries, as a list or taken out of its saved form; at most
/// [`MAX_CHANGES_PER_DOC`].
fn pushed_changes(push: PushDoc) -> Result<Vec<Vec<u8>>, Refusal> {
    let changes = match push.saved {
        Some(saved) if push.changes.is_empty() => changes_of_saved(&saved.0)?,
        Some(_) => {
            return Err(Refusal {
                code: "malformed",
                reason: "a push carries either changes or a saved document, not both".into(),
                held: Vec::new(),
            });
        }
        None => push.changes.into_iter().map(|b| b.0).collect(),
    };
    if changes.len() > MAX_CHANGES_PER_DOC {
        return Err(Refusal {
            code: "too_many_changes",
            reason: format!("push at most {MAX_CHANGES_PER_DOC} changes per document"),
            held: Vec::new(),
        });
    }
    Ok(changes)
}

/// A document's index entry. Indexing replays untrusted history with domain arithmetic: a
/// panic there (a bug, never expected) fails this document alone, not the round or the hub.
fn index_of(doc: &Document, calendar: &WorkingCalendar) -> Result<DocIndex, AppError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.index(calendar)))
        .map_err(|_| AppError::internal("indexing a document panicked"))
}

/// What the hub knows around a pushed change: its users, the receipt numbers of its index and
/// which requests refer to which blobs. A storage failure answers the strict way (a receipt
/// taken, a blob hidden) so that a failing disk never lets a forged change through.
struct HubEnv<'a> {
    storage: &'a dyn Storage,
    documents: &'a Documents,
}

impl Environment for HubEnv<'_> {
    fn residence(&self, user: &str) -> Residence {
        // An Open311 application filing in a village of its key's township.
        if let Some(residence) = open311::residence(self.storage, user) {
            return residence;
        }
        match self.storage.user(user) {
            Ok(Some(u)) if u.role == Role::Resident => Residence::Village(u.area),
            _ => Residence::NotResident,
        }
    }

    fn receipt_taken(&self, receipt_no: &str, doc: Uuid) -> bool {
        self.documents.queued_receipt(receipt_no, doc)
            || self
                .storage
                .request_by_receipt(receipt_no)
                .map_or(true, |found| found.is_some_and(|id| id != doc))
    }

    fn blob_hidden(&self, sha256: &str, sender: &Identity) -> bool {
        let Ok(refs) = self.storage.blob_references(sha256) else {
            return true;
        };
        !refs.is_empty()
            && !refs.iter().any(|r| {
                let scope = RequestScope {
                    village: &r.village,
                    resident_user: r.resident_user.as_deref(),
                };
                authorize_request(sender, scope, RequestOp::Read).is_ok()
            })
    }
}

fn check_protocol(version: u32) -> Result<(), AppError> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_protocol",
            format!(
                "this hub speaks sync protocol {PROTOCOL_VERSION}, the device sent {version}: \
                 update the app"
            ),
        ))
    }
}
