//! Writing to a document as someone: the one place where a lifecycle event, a field edit or a
//! comment is checked (permission, workflow, validation) and written into a document's
//! Automerge form. The tablet's [`Store`](crate::Store) writes through it, and so does the hub
//! for township users working in the console ([`crate::hub::HubDocument::author`]): one set of
//! rules for both.

use automerge::AutoCommit;
use bianmin_domain::{
    Action, AgendaAction, AgendaEvent, AgendaOp, AttachmentRef, Event, EventId, Field, Identity,
    MediaType, NationalId, Phone, RequestOp, RequestScope, Stamp, Timestamp, authorize_agenda,
    authorize_request, replay, replay_agenda, validate_name,
};
use uuid::Uuid;

use crate::document::agenda::{self as agenda_doc, AgendaDoc};
use crate::document::request::{self as request_doc, Comment, EditRecord, Put, RequestDoc};
use crate::model::{AgendaEdit, FieldEdit};
use crate::store::{Reference, log_tips};
use crate::{Error, Result};

/// Who writes, when, and against which reference data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Author<'a> {
    pub identity: &'a Identity,
    pub reference: &'a Reference,
    pub at: Timestamp,
}

impl Author<'_> {
    fn stamp(&self) -> Stamp {
        Stamp {
            user: self.identity.user.clone(),
            role: self.identity.role,
            device: self.identity.device.clone(),
            at: self.at,
        }
    }
}

/// A change to a document, as the console asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Authoring {
    /// A request's lifecycle event (approve, reject, return, settle...).
    RequestEvent(Action),
    /// A comment on a request.
    RequestComment(String),
    /// An agenda item's event (the township review, a settlement...).
    AgendaEvent(AgendaAction),
    /// A comment on an agenda item.
    AgendaComment(String),
}

fn request_scope(d: &RequestDoc) -> RequestScope<'_> {
    RequestScope {
        village: &d.village,
        resident_user: d.resident_user.as_deref(),
    }
}

/// Checks text typed by a person: trimmed, 1 to `max` characters.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(Error::Invalid {
            field: field.into(),
            rule: format!("must be 1 to {max} characters"),
        });
    }
    Ok(v.to_string())
}

/// A grid must be one of the village's (when the directory lists them) and not empty.
pub(crate) fn check_grid(reference: &Reference, village: &str, grid: &str) -> Result<()> {
    let known = reference.directory.village(village).map(|v| &v.grids);
    match known {
        Some(grids) if !grids.is_empty() && !grids.iter().any(|g| g == grid) => {
            Err(Error::Invalid {
                field: "grid".into(),
                rule: format!("must be one of the village's grids: {}", grids.join(", ")),
            })
        }
        _ if grid.trim().is_empty() => Err(Error::Invalid {
            field: "grid".into(),
            rule: "is required".into(),
        }),
        _ => Ok(()),
    }
}

/// Appends a lifecycle event (accept, forward, approve, withdraw...) after checking the
/// workflow and the author's permission.
pub(crate) fn request_event(
    a: &Author<'_>,
    d: &RequestDoc,
    am: &mut AutoCommit,
    action: Action,
) -> Result<()> {
    let derived = replay(&d.events, d.level);
    authorize_request(
        a.identity,
        request_scope(d),
        RequestOp::Append(&action, derived.status),
    )?;
    derived.check(&action, d.level)?;
    let event = Event {
        id: EventId::new(),
        after: log_tips(d.events.iter().map(|e| (e.id, e.after.as_slice()))),
        by: a.stamp(),
        action,
    };
    crate::document::append_log(am, "events", &event)?;
    tracing::info!(request = %d.id, kind = event.action.kind(), "event appended");
    Ok(())
}

/// Edits one field of a request, after checking the new value and the permission.
pub(crate) fn request_edit(
    a: &Author<'_>,
    d: &RequestDoc,
    am: &mut AutoCommit,
    edit: &FieldEdit,
) -> Result<()> {
    let status = replay(&d.events, d.level).status;
    let item = a.reference.catalog.require(&d.item_code)?;
    let (field, put): (Field, Put<'_>) = match edit {
        FieldEdit::ApplicantName(n) => {
            validate_name(n)?;
            (Field::Applicant, Put::Field("name", n.trim()))
        }
        FieldEdit::IdNumber(raw) => {
            NationalId::parse(raw)?;
            (Field::Applicant, Put::Field("id_number", raw.trim()))
        }
        FieldEdit::Phone(raw) => {
            Phone::parse(raw)?;
            (Field::Applicant, Put::Field("phone", raw.trim()))
        }
        FieldEdit::Grid(g) => {
            check_grid(a.reference, &d.village, g)?;
            (Field::Grid, Put::Field("grid", g.as_str()))
        }
        FieldEdit::Attribute { code, value } => {
            let spec = item.attribute(code).ok_or_else(|| Error::Invalid {
                field: format!("attributes.{code}"),
                rule: format!("is not an attribute of service item {}", item.code),
            })?;
            match value {
                Some(v) => spec.check(v)?,
                None if spec.required => {
                    return Err(Error::Invalid {
                        field: format!("attributes.{code}"),
                        rule: "is required and cannot be cleared".into(),
                    });
                }
                None => {}
            }
            (Field::Attribute, Put::Attribute(code, value.as_ref()))
        }
        FieldEdit::Material { name, received } => {
            item.check_material(name)?;
            (Field::Materials, Put::Material(name, *received))
        }
    };
    authorize_request(a.identity, request_scope(d), RequestOp::Edit(field, status))?;
    // Normalise ID and phone as stored (upper-case X, digits only).
    let normalised;
    let put = match put {
        Put::Field("id_number", raw) => {
            normalised = NationalId::parse(raw)?.expose().to_string();
            Put::Field("id_number", &normalised)
        }
        Put::Field("phone", raw) => {
            normalised = Phone::parse(raw)?.expose().to_string();
            Put::Field("phone", &normalised)
        }
        other => other,
    };
    let field_name = match &put {
        Put::Field(k, _) => (*k).to_string(),
        Put::Attribute(code, _) => format!("attributes.{code}"),
        Put::Material(name, _) => format!("materials.{name}"),
    };
    request_doc::put(
        am,
        &put,
        &EditRecord {
            by: a.stamp(),
            field: field_name,
        },
    )?;
    Ok(())
}

/// Adds a comment to a request.
pub(crate) fn request_comment(
    a: &Author<'_>,
    d: &RequestDoc,
    am: &mut AutoCommit,
    comment: &str,
) -> Result<()> {
    let text = text("comment", comment, 2000)?;
    authorize_request(a.identity, request_scope(d), RequestOp::Comment)?;
    let c = Comment {
        id: Uuid::new_v4(),
        by: a.stamp(),
        text,
    };
    crate::document::append_log(am, "comments", &c)?;
    Ok(())
}

/// What an attachment's bytes are, before its reference is written.
#[derive(Debug, Clone)]
pub(crate) struct NewAttachment<'a> {
    pub sha256: String,
    pub media_type: MediaType,
    pub size: u64,
    pub material: &'a str,
}

/// Adds a reference to a photo or scan of one of the item's materials (attaching is editing
/// the materials: the same permission), after checking it.
pub(crate) fn request_attach(
    a: &Author<'_>,
    d: &RequestDoc,
    am: &mut AutoCommit,
    new: &NewAttachment<'_>,
) -> Result<AttachmentRef> {
    let item = a.reference.catalog.require(&d.item_code)?;
    item.check_material(new.material)?;
    let status = replay(&d.events, d.level).status;
    authorize_request(
        a.identity,
        request_scope(d),
        RequestOp::Edit(Field::Materials, status),
    )?;
    let Some(existing) = &d.attachments else {
        return Err(Error::Invalid {
            field: "attachments".into(),
            rule: "this request was filed before attachments existed and takes none".into(),
        });
    };
    if existing
        .iter()
        .any(|e| e.sha256 == new.sha256 && e.material == new.material)
    {
        return Err(Error::Invalid {
            field: "attachment".into(),
            rule: format!("this file is already attached as {}", new.material),
        });
    }
    let reference = AttachmentRef {
        id: Uuid::new_v4(),
        sha256: new.sha256.clone(),
        media_type: new.media_type,
        size: new.size,
        material: new.material.to_string(),
        by: a.stamp(),
    };
    reference.validate()?;
    crate::document::append_log(am, "attachments", &reference)?;
    Ok(reference)
}

/// Records a meeting, a notice, an objection, a township review or a settlement, after
/// checking stage order, quorum data, notice periods and the author's permission.
pub(crate) fn agenda_event(
    a: &Author<'_>,
    d: &AgendaDoc,
    am: &mut AutoCommit,
    action: AgendaAction,
) -> Result<()> {
    authorize_agenda(a.identity, &d.village, AgendaOp::Append(&action))?;
    replay_agenda(&d.events).check(&d.events, &action)?;
    let event = AgendaEvent {
        id: EventId::new(),
        after: log_tips(d.events.iter().map(|e| (e.id, e.after.as_slice()))),
        by: a.stamp(),
        action,
    };
    crate::document::append_log(am, "events", &event)?;
    Ok(())
}

/// Edits an agenda item's title, category or description.
pub(crate) fn agenda_edit(
    a: &Author<'_>,
    d: &AgendaDoc,
    am: &mut AutoCommit,
    edit: &AgendaEdit,
) -> Result<()> {
    authorize_agenda(a.identity, &d.village, AgendaOp::Edit)?;
    let (key, value) = match edit {
        AgendaEdit::Title(v) => ("title", text("title", v, 200)?),
        AgendaEdit::Category(v) => ("category", text("category", v, 100)?),
        AgendaEdit::Description(v) => ("description", text("description", v, 10_000)?),
    };
    agenda_doc::put_field(
        am,
        key,
        &value,
        &EditRecord {
            by: a.stamp(),
            field: key.into(),
        },
    )?;
    Ok(())
}

/// Adds a comment to an agenda item (anyone who may read it).
pub(crate) fn agenda_comment(
    a: &Author<'_>,
    d: &AgendaDoc,
    am: &mut AutoCommit,
    comment: &str,
) -> Result<()> {
    let text = text("comment", comment, 2000)?;
    authorize_agenda(a.identity, &d.village, AgendaOp::Read)?;
    let c = Comment {
        id: Uuid::new_v4(),
        by: a.stamp(),
        text,
    };
    crate::document::append_log(am, "comments", &c)?;
    Ok(())
}
