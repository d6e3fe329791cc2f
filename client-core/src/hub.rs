//! What the township hub needs from the document layer: its own copy of each document, and
//! the check of every push a device makes.
//!
//! The hub never trusts a device. [`check_push`] applies the pushed changes to a copy of the
//! hub's document and accepts them only if:
//! - every change decodes and was made by the sending device's actor;
//! - nothing is missing (every dependency is present) and the result still has Bianmin's layout;
//! - nothing was edited or removed: fields fixed at creation are unchanged, and every earlier
//!   entry of every log (events, comments, edit records) is still there, unchanged, in order;
//! - every new event is valid on the state its author saw and is allowed for the sender's role
//!   and scope by the same [`bianmin_domain::authorize_request`] the tablet uses; every changed
//!   field is allowed and valid; every new entry is signed by the sender (user, role, device).
//!
//! Otherwise the push for that document is refused with a [`Refusal`] and nothing of it is kept.

use automerge::{ActorId, AutoCommit, Change, ChangeHash, ReadDoc};
use bianmin_domain::{
    AgendaOp, AttachmentRef, Clock, Field, Identity, NationalId, Phone, Rating, ReceiptNo,
    RequestOp, RequestScope, Stamp, Status, Timestamp, WorkingCalendar, authorize_agenda,
    authorize_request, replay, replay_agenda, township_of, validate_name,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use uuid::Uuid;

use crate::author::{self, Author, Authoring};
use crate::document::agenda::AgendaDoc;
use crate::document::request::RequestDoc;
use crate::document::{self, DocKind};
use crate::model::{
    AgendaDetail, AgendaRow, Listing, Page, RequestDetail, RequestFilter, RequestRow, RequestSort,
};
use crate::projection;
use crate::{Error, Reference};

/// Why a push was refused: a stable machine code and a message for people. The message names
/// fields and rules, never personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A stable code, e.g. `forged_actor`.
    pub code: &'static str,
    /// What was wrong.
    pub reason: String,
    /// Pushed changes the hub already held (a repeated round mixed with new changes): the
    /// device must not roll those back.
    pub held: Vec<[u8; 32]>,
}

impl Refusal {
    fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            held: Vec::new(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

/// Where a document belongs: what read scopes and the change log are keyed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMeta {
    /// Request or agenda item.
    pub kind: DocKind,
    /// Its village.
    pub village: String,
    /// Its township (the first 9 digits of the village code).
    pub township: String,
    /// The registered resident it belongs to, for requests.
    pub resident_user: Option<String>,
}

#[derive(Debug, Clone)]
enum Decoded {
    Request(Box<RequestDoc>),
    Agenda(Box<AgendaDoc>),
}

/// The change that carried each log entry of a document (see [`HubDocument::log_carriers`]),
/// by the entry's id (an event's [`bianmin_domain::EventId`], a comment's id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogCarriers {
    /// The change hash of each event.
    pub events: HashMap<Uuid, [u8; 32]>,
    /// The change hash of each comment.
    pub comments: HashMap<Uuid, [u8; 32]>,
}

/// The hub's copy of one document.
#[derive(Debug, Clone)]
pub struct HubDocument {
    doc: AutoCommit,
    decoded: Decoded,
}

fn decode(doc: &AutoCommit) -> Result<Decoded, document::DocError> {
    Ok(match document::kind_of(doc)? {
        DocKind::Request => Decoded::Request(Box::new(document::request::read(doc)?)),
        DocKind::Agenda => Decoded::Agenda(Box::new(document::agenda::read(doc)?)),
    })
}

fn guarded<T>(f: impl FnOnce() -> Result<T, Refusal>) -> Result<T, Refusal> {
    // automerge may panic on corrupt input (see `store::sync`): never let that take the hub down.
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Refusal::new("malformed", "the changes are corrupt")))
}

impl HubDocument {
    /// Loads a document the hub stored earlier.
    pub fn load(bytes: &[u8]) -> crate::Result<HubDocument> {
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            let doc = AutoCommit::load(bytes).map_err(|e| Error::Storage(e.to_string()))?;
            let decoded = decode(&doc)?;
            Ok(HubDocument { doc, decoded })
        }));
        loaded.unwrap_or_else(|_| Err(Error::Storage("stored document is corrupt".into())))
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Its heads.
    pub fn heads(&mut self) -> Vec<[u8; 32]> {
        self.doc.get_heads().iter().map(|h| h.0).collect()
    }

    /// Every change a replica at `have` lacks.
    pub fn changes_since(&mut self, have: &[[u8; 32]]) -> Vec<Vec<u8>> {
        let have: Vec<ChangeHash> = have.iter().map(|h| ChangeHash(*h)).collect();
        self.doc
            .get_changes(&have)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    /// Which change carried each entry of the document's event and comment logs: what the
    /// hub's audit trail (keyed by change hash) says about each event. Each entry was inserted
    /// by one operation; an operation belongs to the change of its actor whose range of
    /// operation counters holds it.
    pub fn log_carriers(&mut self) -> LogCarriers {
        let changes: Vec<(ActorId, u64, u64, [u8; 32])> = self
            .doc
            .get_changes(&[])
            .iter()
            .map(|c| {
                (
                    c.actor_id().clone(),
                    c.start_op().get(),
                    c.max_op(),
                    c.hash().0,
                )
            })
            .collect();
        let doc = &self.doc;
        let carrier = |id: &automerge::ObjId| match id {
            automerge::ObjId::Id(counter, actor, _) => changes
                .iter()
                .find(|(a, start, max, _)| a == actor && start <= counter && counter <= max)
                .map(|c| c.3),
            automerge::ObjId::Root => None,
        };
        let log = |key: &str| -> HashMap<Uuid, [u8; 32]> {
            let Ok(list) = document::obj_at(doc, key, automerge::ObjType::List) else {
                return HashMap::new();
            };
            (0..doc.length(&list))
                .filter_map(|i| {
                    let (value, op) = doc.get(&list, i).ok().flatten()?;
                    let text = value.as_str()?;
                    let entry: serde_json::Value = serde_json::from_str(text).ok()?;
                    let id = Uuid::parse_str(entry.get("id")?.as_str()?).ok()?;
                    Some((id, carrier(&op)?))
                })
                .collect()
        };
        catch_unwind(AssertUnwindSafe(|| LogCarriers {
            events: log("events"),
            comments: log("comments"),
        }))
        .unwrap_or_default()
    }

    /// Where the document belongs.
    pub fn meta(&self) -> DocMeta {
        let (kind, village, resident_user) = match &self.decoded {
            Decoded::Request(r) => (DocKind::Request, r.village.clone(), r.resident_user.clone()),
            Decoded::Agenda(a) => (DocKind::Agenda, a.village.clone(), None),
        };
        let township = township_of(&village).unwrap_or_default().to_string();
        DocMeta {
            kind,
            village,
            township,
            resident_user,
        }
    }

    /// Writes `what` as `who` (a township user working in the console, not on a tablet), with
    /// `actor_hex` as the Automerge actor, after the same checks a tablet makes. Returns the new
    /// changes; the caller pushes them through [`check_push`] like any device's, so they are
    /// validated, stored and audited the same way. The document itself is not changed.
    pub fn author(
        &self,
        actor_hex: &str,
        who: &Identity,
        at: Timestamp,
        reference: &Reference,
        what: &Authoring,
    ) -> crate::Result<Vec<Vec<u8>>> {
        let actor: ActorId = actor_hex.parse().map_err(|_| Error::Invalid {
            field: "actor".into(),
            rule: "must be hex".into(),
        })?;
        let mut am = self.doc.clone().with_actor(actor);
        let before = am.get_heads();
        let a = Author {
            identity: who,
            reference,
            at,
        };
        let wrong_kind = |what: &'static str| Error::NotFound {
            what,
            id: String::new(),
        };
        match (&self.decoded, what) {
            (Decoded::Request(d), Authoring::RequestEvent(action)) => {
                author::request_event(&a, d, &mut am, action.clone())?
            }
            (Decoded::Request(d), Authoring::RequestComment(text)) => {
                author::request_comment(&a, d, &mut am, text)?
            }
            (Decoded::Agenda(d), Authoring::AgendaEvent(action)) => {
                author::agenda_event(&a, d, &mut am, action.clone())?
            }
            (Decoded::Agenda(d), Authoring::AgendaComment(text)) => {
                author::agenda_comment(&a, d, &mut am, text)?
            }
            (Decoded::Request(_), _) => return Err(wrong_kind("agenda item")),
            (Decoded::Agenda(_), _) => return Err(wrong_kind("request")),
        }
        Ok(am
            .get_changes(&before)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect())
    }

    /// The request as a page shows it (with the working-day clock as of `today`), for requests.
    pub fn request_detail(
        &self,
        reference: &Reference,
        today: chrono::NaiveDate,
    ) -> Option<RequestDetail> {
        match &self.decoded {
            Decoded::Request(d) => Some(crate::store::requests::detail(
                (**d).clone(),
                reference,
                today,
            )),
            Decoded::Agenda(_) => None,
        }
    }

    /// The agenda item as a page shows it, for agenda items.
    pub fn agenda_detail(&self) -> Option<AgendaDetail> {
        match &self.decoded {
            Decoded::Agenda(d) => Some(crate::store::agenda::agenda_detail((**d).clone())),
            Decoded::Request(_) => None,
        }
    }

    /// The document's index entry (see [`DocIndex`]).
    pub fn index(&self, calendar: &WorkingCalendar) -> DocIndex {
        match &self.decoded {
            Decoded::Request(d) => {
                let derived = replay(&d.events, d.level);
                let clock = Clock::compute(&d.events, &derived, d.time_limit_days, calendar);
                let accepted_on = derived
                    .path
                    .iter()
                    .find(|(_, s)| *s == Status::Accepted)
                    .and_then(|(i, _)| d.events.get(*i))
                    .map(|e| e.by.at.china_date());
                let decision = match (clock, accepted_on) {
                    (Clock::Stopped { due, ended_on }, Some(from)) => Some(Decision {
                        on: ended_on,
                        on_time: ended_on <= due,
                        working_days: calendar.working_days_between(from, ended_on),
                    }),
                    _ => None,
                };
                DocIndex::Request(Box::new(RequestIndex {
                    row: projection::request_row_of(d, &derived, &clock),
                    resident_user: d.resident_user.clone(),
                    decision,
                    rating: derived.rating,
                    attachments: d.attachments.clone().unwrap_or_default(),
                }))
            }
            Decoded::Agenda(a) => {
                DocIndex::Agenda(projection::agenda_row_of(a, &replay_agenda(&a.events)))
            }
        }
    }

    /// The request's current status, for requests.
    pub fn request_status(&self) -> Option<Status> {
        match &self.decoded {
            Decoded::Request(r) => Some(replay(&r.events, r.level).status),
            Decoded::Agenda(_) => None,
        }
    }
}

/// What the hub indexes of a document, for the console's lists, the dashboard and the public
/// notices: computed from the document and the calendar only, like the tablet's projection.
#[derive(Debug, Clone, PartialEq)]
pub enum DocIndex {
    /// A request.
    Request(Box<RequestIndex>),
    /// An agenda item.
    Agenda(AgendaRow),
}

/// A request's index entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestIndex {
    /// The list row (the same as on a tablet).
    pub row: RequestRow,
    /// The registered resident it belongs to.
    pub resident_user: Option<String>,
    /// When the request's clock ended with a decision, what the dashboard counts of it.
    pub decision: Option<Decision>,
    /// The applicant's satisfaction rating, if given.
    pub rating: Option<Rating>,
    /// The request's attachment references: which blobs (by SHA-256, with their media type
    /// and size) the readers of this request may download and its writers upload.
    pub attachments: Vec<AttachmentRef>,
}

/// How a decided request was decided, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The day the clock stopped (device time, China).
    pub on: chrono::NaiveDate,
    /// Whether that was within the deadline.
    pub on_time: bool,
    /// Working days from acceptance to that day, as the calendar counts them (time waiting for
    /// a supplement included).
    pub working_days: u32,
}

/// What a hub index table writes in `due_date` when no deadline runs (so that ordering by
/// deadline puts those last).
pub const NO_DUE_DATE: &str = projection::NO_DUE;

/// One page of a SQLite request index table with the tablet projection's columns (`id,
/// receipt_no, item_code, village, grid, resident_user, applicant_masked, status, conflict,
/// clock, due_date, filed_at, updated_at`), where `scope.0 = scope.1`: the hub's SQLite backend
/// lists with the very filters and orders a tablet uses.
#[allow(clippy::too_many_arguments)]
pub fn list_sqlite_index(
    conn: &rusqlite::Connection,
    table: &'static str,
    scope: (&'static str, &str),
    filter: &RequestFilter,
    sort: RequestSort,
    page: Page,
    today: chrono::NaiveDate,
    calendar: &WorkingCalendar,
) -> crate::Result<Listing<RequestRow>> {
    projection::list_requests(
        conn,
        table,
        filter,
        sort,
        page,
        today,
        calendar,
        Some(scope),
    )
}

/// A push the hub accepted.
#[derive(Debug)]
pub struct AcceptedPush {
    /// The document with the changes applied; `None` when nothing was new (the hub's copy
    /// stands as it was).
    pub doc: Option<HubDocument>,
    /// The changes that were new to the hub, in causal order: hash and bytes.
    pub new_changes: Vec<([u8; 32], Vec<u8>)>,
    /// How many pushed changes the hub already had (a repeated round).
    pub duplicates: usize,
    /// The whole document saved with the new changes (the form that was checked to reload);
    /// `None` when nothing was new.
    pub saved: Option<Vec<u8>>,
}

/// Checks the changes `sender` pushed for document `doc_id` (see the module docs). `current` is
/// the hub's copy, `None` if the document is new; `sender_actor` is the hex actor the device
/// was given at enrolment. `resident_village` answers, for a user id, the village of that user
/// if the user is a registered resident (the hub's user table): a request may name only a
/// resident of its own village, because it is then sent to that resident's devices.
pub fn check_push(
    current: Option<&HubDocument>,
    doc_id: Uuid,
    changes: &[Vec<u8>],
    sender: &Identity,
    sender_actor: &str,
    reference: &Reference,
    resident_village: &dyn Fn(&str) -> Option<String>,
) -> Result<AcceptedPush, Refusal> {
    guarded(|| {
        let mut decoded = Vec::with_capacity(changes.len());
        for (i, bytes) in changes.iter().enumerate() {
            let change = Change::from_bytes(bytes.clone()).map_err(|e| {
                Refusal::new("malformed", format!("change {i} does not decode: {e}"))
            })?;
            decoded.push(change);
        }
        let mut fresh = Vec::new();
        let mut seen = HashSet::new();
        let mut held = Vec::new();
        for c in decoded {
            let own = c.actor_id().to_hex_string() == sender_actor;
            let known =
                current.is_some_and(|d| ReadDoc::get_change_by_hash(&d.doc, &c.hash()).is_some());
            if known {
                if !own {
                    // Repeating one's own round is fine; replaying another device's change is not.
                    return Err(Refusal::new(
                        "replayed_change",
                        "a change the hub already holds was pushed by a device that did not make it",
                    ));
                }
                held.push(c.hash().0);
            } else if seen.insert(c.hash()) {
                fresh.push(c);
            }
        }
        let duplicates = held.len();
        let with_held = |mut r: Refusal| {
            r.held = held.clone();
            r
        };
        if fresh
            .iter()
            .any(|c| c.actor_id().to_hex_string() != sender_actor)
        {
            return Err(with_held(Refusal::new(
                "forged_actor",
                "a change was not made by the sending device's actor",
            )));
        }
        if current.is_some() && fresh.is_empty() {
            // Nothing new: a repeated round. Accept it as it stands.
            return Ok(AcceptedPush {
                doc: None,
                new_changes: Vec::new(),
                duplicates,
                saved: None,
            });
        }
        let ctx = Ctx {
            sender,
            reference,
            resident_village,
        };
        apply_fresh(current, fresh, duplicates, doc_id, &ctx).map_err(with_held)
    })
}

/// Who pushes, against which rules.
struct Ctx<'a> {
    sender: &'a Identity,
    reference: &'a Reference,
    resident_village: &'a dyn Fn(&str) -> Option<String>,
}

fn apply_fresh(
    current: Option<&HubDocument>,
    fresh: Vec<Change>,
    duplicates: usize,
    doc_id: Uuid,
    ctx: &Ctx<'_>,
) -> Result<AcceptedPush, Refusal> {
    let (sender, reference, resident_village) = (ctx.sender, ctx.reference, ctx.resident_village);
    if fresh.is_empty() {
        return Err(Refusal::new(
            "malformed",
            "a new document arrived without any change",
        ));
    }
    let hashes: Vec<ChangeHash> = fresh.iter().map(|c| c.hash()).collect();
    let mut doc = match current {
        Some(c) => c.doc.clone(),
        None => AutoCommit::new(),
    };
    doc.apply_changes(fresh)
        .map_err(|e| Refusal::new("malformed", format!("the changes do not apply: {e}")))?;
    if !doc.get_missing_deps(&[]).is_empty() {
        return Err(Refusal::new(
            "missing_dependencies",
            "the changes depend on changes the hub does not have; push them first",
        ));
    }
    // Round-trip through the saved form: only what reloads cleanly is kept.
    let bytes = doc.save();
    let doc = AutoCommit::load(&bytes).map_err(|e| {
        Refusal::new(
            "malformed",
            format!("the merged document does not load: {e}"),
        )
    })?;
    let after = decode(&doc).map_err(|e| Refusal::new("schema", e.0))?;
    match (&current.map(|c| &c.decoded), &after) {
        (None, Decoded::Request(r)) => {
            check_new_request(r, doc_id, sender, reference, resident_village)?
        }
        (None, Decoded::Agenda(a)) => check_new_agenda(a, doc_id, sender)?,
        (Some(Decoded::Request(old)), Decoded::Request(new)) => {
            check_request_change(old, new, sender, reference)?
        }
        (Some(Decoded::Agenda(old)), Decoded::Agenda(new)) => {
            check_agenda_change(old, new, sender)?
        }
        _ => return Err(Refusal::new("schema", "the document changed its kind")),
    }
    let new_changes = hashes
        .iter()
        .map(|h| {
            let c = doc
                .get_change_by_hash(h)
                .ok_or_else(|| Refusal::new("malformed", "lost change"))?;
            Ok((h.0, c.raw_bytes().to_vec()))
        })
        .collect::<Result<Vec<_>, Refusal>>()?;
    Ok(AcceptedPush {
        doc: Some(HubDocument {
            doc,
            decoded: after,
        }),
        new_changes,
        duplicates,
        saved: Some(bytes),
    })
}

fn forbidden(e: bianmin_domain::PermissionError) -> Refusal {
    Refusal::new("forbidden", e.to_string())
}

fn invalid(e: bianmin_domain::ValidationError) -> Refusal {
    Refusal::new("invalid", e.to_string())
}

fn signed_by_sender(by: &Stamp, sender: &Identity, what: &str) -> Result<(), Refusal> {
    if by.user == sender.user && by.role == sender.role && by.device == sender.device {
        Ok(())
    } else {
        Err(Refusal::new(
            "forged_author",
            format!("a new {what} is not signed by the sender"),
        ))
    }
}

/// Every entry of `old` is still in `new`, unchanged and in the same order.
fn append_only<T: PartialEq>(
    old: &[T],
    new: &[T],
    id: impl Fn(&T) -> Uuid,
    what: &str,
) -> Result<(), Refusal> {
    let positions: HashMap<Uuid, usize> = new.iter().enumerate().map(|(i, e)| (id(e), i)).collect();
    let mut last = None;
    for e in old {
        match positions.get(&id(e)) {
            Some(&i) if new[i] == *e && last.is_none_or(|l| i > l) => last = Some(i),
            Some(&i) if new[i] != *e => {
                return Err(Refusal::new(
                    "history_rewritten",
                    format!("an existing {what} was changed"),
                ));
            }
            Some(_) => {
                return Err(Refusal::new(
                    "history_rewritten",
                    format!("existing {what}s were reordered"),
                ));
            }
            None => {
                return Err(Refusal::new(
                    "history_rewritten",
                    format!("an existing {what} was removed"),
                ));
            }
        }
    }
    Ok(())
}

/// Edit records have no id: every old record must still be there (as a multiset, since
/// concurrent appends interleave); returns the added ones.
fn added_records<'a>(
    old: &[crate::EditRecord],
    new: &'a [crate::EditRecord],
) -> Result<Vec<&'a crate::EditRecord>, Refusal> {
    let mut remaining: Vec<&crate::EditRecord> = new.iter().collect();
    for e in old {
        let p = remaining.iter().position(|x| *x == e).ok_or_else(|| {
            Refusal::new("history_rewritten", "an edit record was changed or removed")
        })?;
        remaining.remove(p);
    }
    Ok(remaining)
}

fn new_entries<'a, T>(old: &[T], new: &'a [T], id: impl Fn(&T) -> Uuid) -> Vec<(usize, &'a T)> {
    let known: BTreeSet<Uuid> = old.iter().map(&id).collect();
    new.iter()
        .enumerate()
        .filter(|(_, e)| !known.contains(&id(e)))
        .collect()
}

fn check_request_fields(r: &RequestDoc, reference: &Reference) -> Result<(), Refusal> {
    validate_name(&r.name).map_err(invalid)?;
    NationalId::parse(&r.id_number).map_err(invalid)?;
    Phone::parse(&r.phone).map_err(invalid)?;
    if let Some(v) = reference.directory.village(&r.village)
        && !v.grids.is_empty()
        && !v.grids.contains(&r.grid)
    {
        return Err(Refusal::new(
            "invalid",
            "grid: is not one of the village's grids",
        ));
    }
    if let Some(item) = reference.catalog.item(&r.item_code) {
        for (code, value) in &r.attributes {
            match item.attribute(code) {
                Some(spec) => spec.check(value).map_err(invalid)?,
                None => {
                    return Err(Refusal::new(
                        "invalid",
                        format!("attributes.{code}: is not an attribute of the item"),
                    ));
                }
            }
        }
        for m in &r.materials {
            item.check_material(m).map_err(invalid)?;
        }
    }
    Ok(())
}

fn check_new_request(
    r: &RequestDoc,
    doc_id: Uuid,
    sender: &Identity,
    reference: &Reference,
    resident_village: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Refusal> {
    if r.id != doc_id {
        return Err(Refusal::new("schema", "the document's id does not match"));
    }
    let scope = RequestScope {
        village: &r.village,
        resident_user: r.resident_user.as_deref(),
    };
    authorize_request(sender, scope, RequestOp::Create).map_err(forbidden)?;
    signed_by_sender(&r.created, sender, "request")?;
    if let Some(user) = &r.resident_user {
        // The request goes to this resident's devices: it must be a resident of its village.
        if resident_village(user).as_deref() != Some(r.village.as_str()) {
            return Err(Refusal::new(
                "invalid",
                "resident_user: is not a registered resident of the request's village",
            ));
        }
    }
    if reference.directory.village(&r.village).is_none() {
        return Err(Refusal::new(
            "invalid",
            "village: is not a village of the directory",
        ));
    }
    let receipt = ReceiptNo::parse(&r.receipt_no).map_err(invalid)?;
    if receipt.village() != r.village {
        return Err(Refusal::new(
            "invalid",
            "receipt_no: does not start with the request's village",
        ));
    }
    let item = reference.catalog.item(&r.item_code).ok_or_else(|| {
        Refusal::new("invalid", "item_code: is not a service item of the catalog")
    })?;
    if item.level != r.level {
        return Err(Refusal::new(
            "invalid",
            "level: differs from the catalog's handling level",
        ));
    }
    check_request_fields(r, reference)?;
    check_new_request_entries(&[], r, sender, Status::Draft)?;
    if r.attachments.is_none() {
        return Err(Refusal::new(
            "schema",
            "a new request has no attachments list",
        ));
    }
    check_new_attachments(&[], r, sender, reference, Status::Draft)
}

/// Attachment references added by a push: append-only, signed by the sender, valid, of one of
/// the item's materials, and allowed to the sender (attaching is editing the materials).
fn check_new_attachments(
    old: &[AttachmentRef],
    new: &RequestDoc,
    sender: &Identity,
    reference: &Reference,
    status_before: Status,
) -> Result<(), Refusal> {
    let list = new.attachments.as_deref().unwrap_or_default();
    append_only(old, list, |a| a.id, "attachment")?;
    let scope = RequestScope {
        village: &new.village,
        resident_user: new.resident_user.as_deref(),
    };
    for (_, a) in new_entries(old, list, |a| a.id) {
        signed_by_sender(&a.by, sender, "attachment")?;
        a.validate().map_err(invalid)?;
        if let Some(item) = reference.catalog.item(&new.item_code) {
            item.check_material(&a.material).map_err(invalid)?;
        }
        authorize_request(
            sender,
            scope,
            RequestOp::Edit(Field::Materials, status_before),
        )
        .map_err(forbidden)?;
    }
    Ok(())
}

fn check_request_change(
    old: &RequestDoc,
    new: &RequestDoc,
    sender: &Identity,
    reference: &Reference,
) -> Result<(), Refusal> {
    let fixed = old.id == new.id
        && old.receipt_no == new.receipt_no
        && old.item_code == new.item_code
        && old.village == new.village
        && old.resident_user == new.resident_user
        && old.created == new.created
        && old.level == new.level
        && old.time_limit_days == new.time_limit_days;
    if !fixed {
        return Err(Refusal::new(
            "immutable",
            "a field fixed at filing was changed",
        ));
    }
    let scope = RequestScope {
        village: &new.village,
        resident_user: new.resident_user.as_deref(),
    };
    authorize_request(sender, scope, RequestOp::Read).map_err(forbidden)?;
    append_only(&old.events, &new.events, |e| e.id.0, "event")?;
    append_only(&old.comments, &new.comments, |c| c.id, "comment")?;
    let new_edits = added_records(&old.edits, &new.edits)?;
    let status_before = replay(&old.events, old.level).status;
    // Changed fields: allowed for the sender on the status before, and valid.
    let mut changed: Vec<Field> = Vec::new();
    if old.name != new.name || old.id_number != new.id_number || old.phone != new.phone {
        changed.push(Field::Applicant);
    }
    if old.grid != new.grid {
        changed.push(Field::Grid);
    }
    if old.attributes != new.attributes {
        changed.push(Field::Attribute);
    }
    if old.materials != new.materials {
        changed.push(Field::Materials);
    }
    for field in changed {
        authorize_request(sender, scope, RequestOp::Edit(field, status_before))
            .map_err(forbidden)?;
    }
    if old.name != new.name
        || old.id_number != new.id_number
        || old.phone != new.phone
        || old.grid != new.grid
        || old.attributes != new.attributes
        || old.materials != new.materials
    {
        check_request_fields(new, reference)?;
    }
    check_new_request_entries(&old.events, new, sender, status_before)?;
    for (_, c) in new_entries(&old.comments, &new.comments, |c| c.id) {
        signed_by_sender(&c.by, sender, "comment")?;
        authorize_request(sender, scope, RequestOp::Comment).map_err(forbidden)?;
    }
    for e in new_edits {
        signed_by_sender(&e.by, sender, "edit record")?;
    }
    match (&old.attachments, &new.attachments) {
        (None, None) => Ok(()),
        (Some(old_list), Some(_)) => {
            check_new_attachments(old_list, new, sender, reference, status_before)
        }
        _ => Err(Refusal::new(
            "schema",
            "the attachments list was added to or removed from a request",
        )),
    }
}

fn check_new_request_entries(
    old_events: &[bianmin_domain::Event],
    new: &RequestDoc,
    sender: &Identity,
    status_before: Status,
) -> Result<(), Refusal> {
    let derived = replay(&new.events, new.level);
    let scope = RequestScope {
        village: &new.village,
        resident_user: new.resident_user.as_deref(),
    };
    for (i, e) in new_entries(old_events, &new.events, |e| e.id.0) {
        signed_by_sender(&e.by, sender, "event")?;
        if let bianmin_domain::Outcome::Invalid(why) = &derived.outcomes[i] {
            return Err(Refusal::new(
                "invalid",
                format!("{}: {why}", e.action.kind()),
            ));
        }
        let seen = derived.seen[i].unwrap_or(status_before);
        authorize_request(sender, scope, RequestOp::Append(&e.action, seen)).map_err(forbidden)?;
    }
    Ok(())
}

fn check_new_agenda(a: &AgendaDoc, doc_id: Uuid, sender: &Identity) -> Result<(), Refusal> {
    if a.id != doc_id {
        return Err(Refusal::new("schema", "the document's id does not match"));
    }
    authorize_agenda(sender, &a.village, AgendaOp::Create).map_err(forbidden)?;
    signed_by_sender(&a.created, sender, "agenda item")?;
    if a.title.trim().is_empty() || a.category.trim().is_empty() {
        return Err(Refusal::new("invalid", "title and category are required"));
    }
    check_new_agenda_entries(&[], a, sender)
}

fn check_agenda_change(old: &AgendaDoc, new: &AgendaDoc, sender: &Identity) -> Result<(), Refusal> {
    if old.id != new.id || old.village != new.village || old.created != new.created {
        return Err(Refusal::new(
            "immutable",
            "a field fixed at creation was changed",
        ));
    }
    authorize_agenda(sender, &new.village, AgendaOp::Read).map_err(forbidden)?;
    append_only(&old.events, &new.events, |e| e.id.0, "event")?;
    append_only(&old.comments, &new.comments, |c| c.id, "comment")?;
    if old.title != new.title || old.category != new.category || old.description != new.description
    {
        authorize_agenda(sender, &new.village, AgendaOp::Edit).map_err(forbidden)?;
    }
    for (_, c) in new_entries(&old.comments, &new.comments, |c| c.id) {
        signed_by_sender(&c.by, sender, "comment")?;
    }
    check_new_agenda_entries(&old.events, new, sender)
}

fn check_new_agenda_entries(
    old_events: &[bianmin_domain::AgendaEvent],
    new: &AgendaDoc,
    sender: &Identity,
) -> Result<(), Refusal> {
    let state = replay_agenda(&new.events);
    for (i, e) in new_entries(old_events, &new.events, |e| e.id.0) {
        signed_by_sender(&e.by, sender, "event")?;
        authorize_agenda(sender, &new.village, AgendaOp::Append(&e.action)).map_err(forbidden)?;
        if let Some((_, why)) = state.invalid.iter().find(|(j, _)| *j == i) {
            return Err(Refusal::new(
                "invalid",
                format!("{}: {why}", e.action.kind()),
            ));
        }
    }
    Ok(())
}
