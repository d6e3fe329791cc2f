//! Writing to a document as someone: a lifecycle event, a field edit, a comment, an attachment
//! reference, a new request or agenda item, written into the document's Automerge form.
//!
//! Writing decides nothing: it normalises what a person typed (surrounding spaces, the upper
//! case `X` of an ID number) and writes it. Whether the result is acceptable is decided by
//! [`crate::check`] alone, which the tablet's store runs on every write before it stores it
//! and the hub runs on every push (the console's writes included): one set of rules.

use automerge::AutoCommit;
use bianmin_domain::{
    Action, AgendaAction, AgendaEvent, AttachmentRef, Event, EventId, Identity, MediaType,
    NationalId, Phone, ReceiptNo, Role, Stamp, Timestamp,
};
use std::collections::BTreeSet;
use uuid::Uuid;

use crate::layout::agenda::{self as agenda_doc, AgendaDoc};
use crate::layout::request::{self as request_doc, Comment, EditRecord, Put, RequestDoc};
use crate::model::{AgendaEdit, FieldEdit, NewAgendaItem, NewRequest};
use crate::{Error, Reference, Result};

/// Who writes, when, and against which reference data.
#[derive(Debug, Clone, Copy)]
pub struct Author<'a> {
    /// The writer.
    pub identity: &'a Identity,
    /// The reference data the writer works with.
    pub reference: &'a Reference,
    /// The writer's clock.
    pub at: Timestamp,
}

impl Author<'_> {
    /// The stamp of an entry written now by this author.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            user: self.identity.user.clone(),
            role: self.identity.role,
            device: self.identity.device.clone(),
            at: self.at,
        }
    }
}

/// A change to a document, as the hub's web side asks for it (the console, a resident's
/// phone).
#[derive(Debug, Clone, PartialEq)]
pub enum Authoring {
    /// A request's lifecycle event (approve, reject, return, settle...).
    RequestEvent(Action),
    /// A request's lifecycle event under an id the writer chose rather than a random one: the
    /// hub derives a resident's supplement's id from the form's submission key, so that a
    /// resend of the same form finds its event already there ([`request_event_with_id`]).
    RequestEventWithId {
        /// The event's id.
        id: EventId,
        /// The event.
        action: Action,
    },
    /// A comment on a request.
    RequestComment(String),
    /// A reference to a photo or scan of one of a request's materials, whose bytes the writer
    /// already holds complete (the hub: in its blob store), as [`request_attach`] writes it.
    RequestAttachment {
        /// The bytes' SHA-256, hex.
        sha256: String,
        /// Their type.
        media_type: MediaType,
        /// Their length.
        size: u64,
        /// The material they show, as the service item names it.
        material: String,
    },
    /// An agenda item's event (the township review, a settlement...).
    AgendaEvent(AgendaAction),
    /// A comment on an agenda item.
    AgendaComment(String),
}

/// An ID number in its stored form (as typed when it does not parse: the check says why).
fn normal_id(raw: &str) -> String {
    NationalId::parse(raw).map_or_else(|_| raw.trim().to_string(), |i| i.expose().to_string())
}

/// A phone number in its stored form (as typed when it does not parse: the check says why).
fn normal_phone(raw: &str) -> String {
    Phone::parse(raw).map_or_else(|_| raw.trim().to_string(), |p| p.expose().to_string())
}

/// A new request as filed by `a` (a clerk for a resident, or the resident), with the receipt
/// number `receipt_no` the filing device gave it. Nothing is written:
/// [`request_doc::create`] writes the returned document into a new Automerge document. Only
/// an unknown service item fails here (its level and time limit are copied from it).
pub fn new_request(a: &Author<'_>, new: &NewRequest, receipt_no: &ReceiptNo) -> Result<RequestDoc> {
    let item = a.reference.catalog.require(&new.item_code)?;
    let resident_user = match a.identity.role {
        Role::Resident => Some(a.identity.user.clone()),
        _ => new.resident_user.clone().filter(|u| !u.trim().is_empty()),
    };
    let events = match new.submit {
        true => vec![Event {
            id: EventId::new(),
            after: vec![],
            by: a.stamp(),
            action: Action::Submit,
        }],
        false => vec![],
    };
    Ok(RequestDoc {
        id: Uuid::new_v4(),
        receipt_no: receipt_no.to_string(),
        item_code: item.code.clone(),
        village: a.identity.area.clone(),
        resident_user,
        created: a.stamp(),
        level: item.level,
        time_limit_days: item.time_limit_days,
        name: new.applicant_name.trim().to_string(),
        id_number: normal_id(&new.id_number),
        phone: normal_phone(&new.phone),
        grid: new.grid.trim().to_string(),
        attributes: new.attributes.clone(),
        materials: new
            .materials_received
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        events,
        comments: vec![],
        edits: vec![],
        attachments: Some(vec![]),
        field_conflicts: vec![],
    })
}

/// A new agenda item opened by `a` for its village.
pub fn new_agenda(a: &Author<'_>, new: &NewAgendaItem) -> AgendaDoc {
    AgendaDoc {
        id: Uuid::new_v4(),
        village: a.identity.area.clone(),
        created: a.stamp(),
        title: new.title.trim().to_string(),
        category: new.category.trim().to_string(),
        description: new.description.trim().to_string(),
        events: vec![],
        comments: vec![],
        edits: vec![],
        field_conflicts: vec![],
    }
}

/// Appends a lifecycle event (accept, forward, approve, withdraw...) after everything the
/// author has seen.
pub fn request_event(
    a: &Author<'_>,
    d: &RequestDoc,
    am: &mut AutoCommit,
    action: Action,
) -> Result<()> {
    request_event_with_id(a, d, am, EventId::new(), action)
}

/// [`request_event`] under the id `id` (unique as a random one is: a writer who chooses it
/// derives it from something unique, like a resident's submission key). An id the log holds
/// already is refused: the log is append-only, and one event is written once.
pub fn request_event_with_id(
    a: &Author<'_>,
    d: &RequestDoc,
    am: &mut AutoCommit,
    id: EventId,
    action: Action,
) -> Result<()> {
    if d.events.iter().any(|e| e.id == id) {
        return Err(Error::invalid("events", "this event is in the log already"));
    }
    let event = Event {
        id,
        after: log_tips(d.events.iter().map(|e| (e.id, e.after.as_slice()))),
        by: a.stamp(),
        action,
    };
    crate::layout::append_log(am, "events", &event)?;
    tracing::info!(request = %d.id, kind = event.action.kind(), "event appended");
    Ok(())
}

/// Edits one field of a request, with its edit record.
pub fn request_edit(
    a: &Author<'_>,
    _d: &RequestDoc,
    am: &mut AutoCommit,
    edit: &FieldEdit,
) -> Result<()> {
    let normalised;
    let put: Put<'_> = match edit {
        FieldEdit::ApplicantName(n) => Put::Field("name", n.trim()),
        FieldEdit::IdNumber(raw) => {
            normalised = normal_id(raw);
            Put::Field("id_number", &normalised)
        }
        FieldEdit::Phone(raw) => {
            normalised = normal_phone(raw);
            Put::Field("phone", &normalised)
        }
        FieldEdit::Grid(g) => Put::Field("grid", g.trim()),
        FieldEdit::Attribute { code, value } => Put::Attribute(code, value.as_ref()),
        FieldEdit::Material { name, received } => Put::Material(name, *received),
    };
    let field = match &put {
        Put::Field(k, _) => (*k).to_string(),
        Put::Attribute(code, _) => format!("attributes.{code}"),
        Put::Material(name, _) => format!("materials.{name}"),
    };
    request_doc::put(
        am,
        &put,
        &EditRecord {
            by: a.stamp(),
            field,
        },
    )?;
    Ok(())
}

/// Adds a comment to a request.
pub fn request_comment(
    a: &Author<'_>,
    _d: &RequestDoc,
    am: &mut AutoCommit,
    comment: &str,
) -> Result<()> {
    let c = Comment {
        id: Uuid::new_v4(),
        by: a.stamp(),
        text: comment.trim().to_string(),
    };
    crate::layout::append_log(am, "comments", &c)?;
    Ok(())
}

/// What an attachment's bytes are, before its reference is written.
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    /// The bytes' SHA-256, hex.
    pub sha256: String,
    /// Their type.
    pub media_type: MediaType,
    /// Their length.
    pub size: u64,
    /// The material they show.
    pub material: &'a str,
}

/// Adds a reference to a photo or scan of one of the item's materials.
pub fn request_attach(
    a: &Author<'_>,
    d: &RequestDoc,
    am: &mut AutoCommit,
    new: &NewAttachment<'_>,
) -> Result<AttachmentRef> {
    if d.attachments.is_none() {
        return Err(Error::invalid(
            "attachments",
            "this request was filed before attachments existed and takes none",
        ));
    }
    let reference = AttachmentRef {
        id: Uuid::new_v4(),
        sha256: new.sha256.clone(),
        media_type: new.media_type,
        size: new.size,
        material: new.material.to_string(),
        by: a.stamp(),
    };
    crate::layout::append_log(am, "attachments", &reference)?;
    Ok(reference)
}

/// Records a meeting, a notice, an objection, a township review or a settlement.
pub fn agenda_event(
    a: &Author<'_>,
    d: &AgendaDoc,
    am: &mut AutoCommit,
    action: AgendaAction,
) -> Result<()> {
    let event = AgendaEvent {
        id: EventId::new(),
        after: log_tips(d.events.iter().map(|e| (e.id, e.after.as_slice()))),
        by: a.stamp(),
        action,
    };
    crate::layout::append_log(am, "events", &event)?;
    Ok(())
}

/// Edits an agenda item's title, category or description, with its edit record.
pub fn agenda_edit(
    a: &Author<'_>,
    _d: &AgendaDoc,
    am: &mut AutoCommit,
    edit: &AgendaEdit,
) -> Result<()> {
    let (key, value) = match edit {
        AgendaEdit::Title(v) => ("title", v.trim()),
        AgendaEdit::Category(v) => ("category", v.trim()),
        AgendaEdit::Description(v) => ("description", v.trim()),
    };
    agenda_doc::put_field(
        am,
        key,
        value,
        &EditRecord {
            by: a.stamp(),
            field: key.into(),
        },
    )?;
    Ok(())
}

/// Adds a comment to an agenda item.
pub fn agenda_comment(
    a: &Author<'_>,
    _d: &AgendaDoc,
    am: &mut AutoCommit,
    comment: &str,
) -> Result<()> {
    let c = Comment {
        id: Uuid::new_v4(),
        by: a.stamp(),
        text: comment.trim().to_string(),
    };
    crate::layout::append_log(am, "comments", &c)?;
    Ok(())
}

/// The tips of a causal log given as (id, after) pairs: the entries no other entry names as
/// seen. A new entry's `after` is the tips of the log its author saw.
pub fn log_tips<'a>(
    entries: impl Iterator<Item = (EventId, &'a [EventId])> + Clone,
) -> Vec<EventId> {
    let referenced: BTreeSet<_> = entries
        .clone()
        .flat_map(|(_, after)| after.iter().copied())
        .collect();
    entries
        .map(|(id, _)| id)
        .filter(|id| !referenced.contains(id))
        .collect()
}
