//! The one check of every change to a document: the hub runs it on every push, the tablet on
//! its own writes before it stores them ([`check_push`] on both sides, with a [`Context`] each
//! side fills from what it knows).
//!
//! A change (one or more Automerge changes of one document) is accepted only if:
//! - every change decodes, was made by the sender's actor, is of bounded size, and nothing it
//!   depends on is missing; the result reloads cleanly and still has Bianmin's layout, with no
//!   key the layout does not know ([`layout::unknown_keys`]);
//! - nothing was edited or removed: fields fixed at creation are unchanged, and every earlier
//!   entry of every log (events, comments, edit records, attachments) is still there,
//!   unchanged, in order;
//! - the document stays within [`crate::limits`];
//! - every new entry (and a new document's creation stamp) is signed by the sender (user, role,
//!   device) at a plausible device time ([`bianmin_domain::check_device_time`]);
//! - every new event is valid on the state its author saw and allowed for the sender's role
//!   and scope by the same [`bianmin_domain::authorize_request`] the tablet uses; every
//!   changed field is allowed, valid and has its edit record;
//! - the rules of each kind hold (modules `request` and `agenda`).
//!
//! Otherwise the change is refused with a [`Refusal`] and nothing of it is kept. Refusal codes
//! are stable and listed in `docs/sync-protocol.md`.

mod agenda;
mod request;

use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ReadDoc};
use bianmin_domain::{
    Action, EventId, Identity, PermissionError, Stamp, Timestamp, ValidationError,
    check_device_time,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use uuid::Uuid;

use crate::Reference;
use crate::document::{Decoded, Document, decode};
use crate::error::Refusal;
use crate::layout::{self, request::EditRecord};
use crate::limits;

/// Whether a user is a registered resident, as far as the checking side knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Residence {
    /// This side does not know its users (a tablet): the hub decides.
    Unknown,
    /// Not a registered resident.
    NotResident,
    /// A registered resident of this village.
    Village(String),
}

/// What the checking side knows beyond the document: the hub answers from its tables, a tablet
/// from its own store.
pub trait Environment {
    /// Whether `user` is a registered resident, and of which village.
    fn residence(&self, user: &str) -> Residence;
    /// Whether another document (not `doc`) already has this receipt number.
    fn receipt_taken(&self, receipt_no: &str, doc: Uuid) -> bool;
    /// Whether this side holds or knows a blob with this SHA-256 that `sender` may not read:
    /// a document may refer only to bytes its sender has (and will upload) or may already read.
    fn blob_hidden(&self, sha256: &str, sender: &Identity) -> bool;
}

/// Who sends a change, against which rules, as of when.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The sender's identity (a device's user, or a console user).
    pub sender: &'a Identity,
    /// The sender's device number, which its receipt numbers carry; `None` for a sender that
    /// files no request (the console).
    pub device_no: Option<u32>,
    /// The reference data.
    pub reference: &'a Reference,
    /// The checking side's clock, which device times are bounded by.
    pub now: Timestamp,
    /// What the checking side knows.
    pub env: &'a dyn Environment,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("role", &self.sender.role)
            .field("device_no", &self.device_no)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

fn guarded<T>(f: impl FnOnce() -> Result<T, Refusal>) -> Result<T, Refusal> {
    // automerge (and anything else) may panic on hostile input: that refuses this document
    // only, never the round or the hub.
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Refusal::new("malformed", "the changes are corrupt")))
}

/// The changes of a document pushed in its saved form (a new document's first push, when that
/// is smaller than its change list): the hub checks them exactly as a pushed change list, with
/// [`check_push`]. Refused as `too_large` past [`limits::SAVED_PUSH_BYTES`], as `malformed` when
/// the bytes do not load as an Automerge document.
pub fn changes_of_saved(saved: &[u8]) -> Result<Vec<Vec<u8>>, Refusal> {
    if saved.len() > limits::SAVED_PUSH_BYTES {
        return Err(Refusal::new(
            "too_large",
            format!(
                "a saved document of more than {} bytes",
                limits::SAVED_PUSH_BYTES
            ),
        ));
    }
    guarded(|| {
        let doc = automerge::Automerge::load(saved)
            .map_err(|_| Refusal::new("malformed", "the saved document does not load"))?;
        Ok(doc
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect())
    })
}

/// A change that was accepted.
#[derive(Debug)]
pub struct AcceptedPush {
    /// The document with the changes applied; `None` when nothing was new (the copy stands as
    /// it was).
    pub doc: Option<Document>,
    /// The changes that were new, in causal order: hash and bytes.
    pub new_changes: Vec<([u8; 32], Vec<u8>)>,
    /// How many pushed changes were already held (a repeated round).
    pub duplicates: usize,
    /// The whole document saved with the new changes (the form that was checked to reload);
    /// `None` when nothing was new.
    pub saved: Option<Vec<u8>>,
}

/// Checks the changes `ctx.sender` made to document `doc_id` (see the module docs).
/// `current` is the checking side's copy, `None` if the document is new; `sender_actor` is the
/// hex Automerge actor of the sender (given at enrolment).
pub fn check_push(
    current: Option<&Document>,
    doc_id: Uuid,
    changes: &[Vec<u8>],
    sender_actor: &str,
    ctx: &Context<'_>,
) -> Result<AcceptedPush, Refusal> {
    guarded(|| {
        let (fresh, held) = sort_changes(current, changes, sender_actor)?;
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
                duplicates: held.len(),
                saved: None,
            });
        }
        apply_fresh(current, fresh, held.len(), doc_id, ctx).map_err(with_held)
    })
}

/// Decodes the pushed changes into those new to `current` and the hashes of those it holds.
fn sort_changes(
    current: Option<&Document>,
    changes: &[Vec<u8>],
    sender_actor: &str,
) -> Result<(Vec<Change>, Vec<[u8; 32]>), Refusal> {
    let mut fresh = Vec::new();
    let mut seen = HashSet::new();
    let mut held = Vec::new();
    for (i, bytes) in changes.iter().enumerate() {
        let c = Change::from_bytes(bytes.clone())
            .map_err(|e| Refusal::new("malformed", format!("change {i} does not decode: {e}")))?;
        if c.len() > limits::OPS_PER_CHANGE {
            return Err(Refusal::new(
                "too_large",
                format!(
                    "change {i} has {} operations; at most {} are allowed",
                    c.len(),
                    limits::OPS_PER_CHANGE
                ),
            ));
        }
        let known =
            current.is_some_and(|d| ReadDoc::get_change_by_hash(&d.doc, &c.hash()).is_some());
        if known {
            if c.actor_id().to_hex_string() != sender_actor {
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
    Ok((fresh, held))
}

fn apply_fresh(
    current: Option<&Document>,
    fresh: Vec<Change>,
    duplicates: usize,
    doc_id: Uuid,
    ctx: &Context<'_>,
) -> Result<AcceptedPush, Refusal> {
    if fresh.is_empty() {
        return Err(Refusal::new(
            "malformed",
            "a new document arrived without any change",
        ));
    }
    let hashes: Vec<ChangeHash> = fresh.iter().map(|c| c.hash()).collect();
    let spans: Vec<OpSpan> = fresh.iter().map(OpSpan::of).collect();
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
    let unknown = layout::unknown_keys(&doc);
    let known_before = current
        .map(|c| layout::unknown_keys(&c.doc))
        .unwrap_or_default();
    if let Some(key) = unknown.iter().find(|k| !known_before.contains(k)) {
        return Err(Refusal::new(
            "schema",
            format!("{key}: is not part of the document's layout"),
        ));
    }
    let after = decode(&doc).map_err(|e| Refusal::new("schema", e.0))?;
    let before = current.map(|c| &c.decoded);
    let written = Written::of(&doc, before, &after, &spans);
    check_change(before, &after, doc_id, &written, ctx)?;
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
        doc: Some(Document {
            doc,
            decoded: after,
        }),
        new_changes,
        duplicates,
        saved: Some(bytes),
    })
}

/// The operations one change made: its actor and operation counters, and its hash.
struct OpSpan {
    hash: ChangeHash,
    actor: ActorId,
    ops: std::ops::RangeInclusive<u64>,
}

impl OpSpan {
    fn of(c: &Change) -> OpSpan {
        OpSpan {
            hash: c.hash(),
            actor: c.actor_id().clone(),
            ops: c.start_op().get()..=c.max_op(),
        }
    }
}

/// What the author of each new decision saw when making it. A push may bring a decision and
/// later edits together (a tablet offline all day), and a decision is judged on the document
/// as its author's device held it, which is also what the tablet checked before writing it:
/// for an acceptance or approval, the materials marked received at the change that added it.
#[derive(Debug, Default)]
pub(crate) struct Written {
    materials: HashMap<EventId, BTreeSet<String>>,
}

impl Written {
    fn of(doc: &AutoCommit, before: Option<&Decoded>, after: &Decoded, spans: &[OpSpan]) -> Self {
        let Decoded::Request(new) = after else {
            return Written::default();
        };
        let old_len = match before {
            Some(Decoded::Request(old)) => old.events.len(),
            _ => 0,
        };
        let Ok(list) = layout::obj_at(doc, "events", ObjType::List) else {
            return Written::default();
        };
        let mut materials = HashMap::new();
        for (i, e) in new.events.iter().enumerate().skip(old_len) {
            if !matches!(e.action, Action::Accept | Action::Approve { .. }) {
                continue;
            }
            let Ok(Some((_, ObjId::Id(counter, actor, _)))) = doc.get(&list, i) else {
                continue;
            };
            if let Some(span) = spans
                .iter()
                .find(|s| s.actor == actor && s.ops.contains(&counter))
            {
                materials.insert(e.id, layout::request::materials_at(doc, &[span.hash]));
            }
        }
        Written { materials }
    }

    /// The materials received when `event` was written, if it is a decision of this push.
    pub(crate) fn materials(&self, event: EventId) -> Option<&BTreeSet<String>> {
        self.materials.get(&event)
    }
}

/// The rules of each kind, on the decoded document before (`None` if new) and after.
fn check_change(
    before: Option<&Decoded>,
    after: &Decoded,
    doc_id: Uuid,
    written: &Written,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    match (before, after) {
        (None, Decoded::Request(new)) => request::check(None, new, doc_id, written, ctx),
        (Some(Decoded::Request(old)), Decoded::Request(new)) => {
            request::check(Some(old), new, doc_id, written, ctx)
        }
        (None, Decoded::Agenda(new)) => agenda::check(None, new, doc_id, ctx),
        (Some(Decoded::Agenda(old)), Decoded::Agenda(new)) => {
            agenda::check(Some(old), new, doc_id, ctx)
        }
        _ => Err(Refusal::new("schema", "the document changed its kind")),
    }
}

fn forbidden(e: PermissionError) -> Refusal {
    Refusal::new("forbidden", e.to_string())
}

fn invalid(e: ValidationError) -> Refusal {
    Refusal::new("invalid", e.to_string())
}

fn invalid_field(field: &str, rule: impl std::fmt::Display) -> Refusal {
    Refusal::new("invalid", format!("{field}: {rule}"))
}

/// An event that does not apply: the domain's reason names its field (`approve: not allowed
/// while ...`, `meeting.body: ...`); a reason that names none is the event's.
fn outcome(kind: &str, why: &str) -> Refusal {
    if why.contains(": ") {
        Refusal::new("invalid", why)
    } else {
        invalid_field(kind, why)
    }
}

/// A new entry (or a new document) is signed by its sender, at a plausible device time.
fn signed(by: &Stamp, ctx: &Context<'_>, what: &str) -> Result<(), Refusal> {
    let s = ctx.sender;
    if by.user != s.user || by.role != s.role || by.device != s.device {
        return Err(Refusal::new(
            "forged_author",
            format!("a new {what} is not signed by the sender"),
        ));
    }
    check_device_time(by.at, ctx.now).map_err(|e| Refusal::new("implausible_time", e.to_string()))
}

/// Trimmed text of 1 to `max` characters, as a person typed it (the writer trims).
fn text(field: &str, value: &str, max: usize) -> Result<(), Refusal> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(invalid_field(
            field,
            format_args!("must be 1 to {max} characters"),
        ));
    }
    if value.trim() != value {
        return Err(invalid_field(field, "has surrounding spaces"));
    }
    Ok(())
}

/// No log holds more than its cap, and no entry is larger than [`limits::ENTRY_BYTES`].
fn within(what: &str, len: usize, cap: usize) -> Result<(), Refusal> {
    if len > cap {
        return Err(Refusal::new(
            "too_large",
            format!("a document holds at most {cap} {what}s"),
        ));
    }
    Ok(())
}

fn entry_size<T: serde::Serialize>(what: &str, entry: &T) -> Result<(), Refusal> {
    let n = serde_json::to_vec(entry).map_or(usize::MAX, |v| v.len());
    if n > limits::ENTRY_BYTES {
        return Err(Refusal::new(
            "too_large",
            format!(
                "a {what} is {n} bytes; at most {} are allowed",
                limits::ENTRY_BYTES
            ),
        ));
    }
    Ok(())
}

/// An event names at most [`limits::AFTER`] events as seen.
fn after_bounded(after: &[bianmin_domain::EventId]) -> Result<(), Refusal> {
    within("seen event", after.len(), limits::AFTER)
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
    old: &[EditRecord],
    new: &'a [EditRecord],
) -> Result<Vec<&'a EditRecord>, Refusal> {
    let mut remaining: HashMap<&EditRecord, usize> = HashMap::new();
    for e in new {
        *remaining.entry(e).or_default() += 1;
    }
    for e in old {
        match remaining.get_mut(e) {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                return Err(Refusal::new(
                    "history_rewritten",
                    "an edit record was changed or removed",
                ));
            }
        }
    }
    let mut added = Vec::new();
    for e in new.iter().rev() {
        if let Some(n) = remaining.get_mut(e)
            && *n > 0
        {
            *n -= 1;
            added.push(e);
        }
    }
    added.reverse();
    Ok(added)
}

/// The entries of `new` that `old` does not hold, with their positions.
fn new_entries<'a, T>(old: &[T], new: &'a [T], id: impl Fn(&T) -> Uuid) -> Vec<(usize, &'a T)> {
    let known: BTreeSet<Uuid> = old.iter().map(&id).collect();
    new.iter()
        .enumerate()
        .filter(|(_, e)| !known.contains(&id(e)))
        .collect()
}

/// Every field in `changed` has an edit record among `added` (the tablet always writes one:
/// history says who changed what, above all for personal data); every added record is signed
/// by the sender and names a field that changed.
fn edits_recorded(
    changed: &[String],
    added: &[&EditRecord],
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    for e in added {
        signed(&e.by, ctx, "edit record")?;
    }
    for field in changed {
        if !added.iter().any(|e| e.field == *field) {
            return Err(Refusal::new(
                "unrecorded_edit",
                format!("{field}: was changed without an edit record"),
            ));
        }
    }
    Ok(())
}
