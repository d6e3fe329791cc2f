//! The layout of an agenda-item document.
//!
//! ```text
//! { schema: "bianmin/agenda", version: 1,
//!   id, village, created: <Stamp JSON>,
//!   fields:   { title, category, description },   // editable, per key
//!   events:   [ <AgendaEvent JSON> ],             // append-only: meetings, notices, reviews
//!   comments: [ <Comment JSON> ],
//!   edits:    [ <EditRecord JSON> ] }
//! ```

use automerge::{AutoCommit, ObjType, ROOT, transaction::Transactable};
use bianmin_domain::{AgendaEvent, Stamp};
use uuid::Uuid;

use super::request::{Comment, EditRecord};
use super::{DocError, DocKind, append_log, obj_at, put_header, read_log, str_at};

/// Every key of an agenda item's root map.
pub const ROOT_KEYS: [&str; 9] = [
    "schema", "version", "id", "village", "created", "fields", "events", "comments", "edits",
];

/// The editable fields, by key.
pub const FIELD_KEYS: [&str; 3] = ["title", "category", "description"];

/// An agenda document, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct AgendaDoc {
    pub id: Uuid,
    pub village: String,
    pub created: Stamp,
    pub title: String,
    pub category: String,
    pub description: String,
    pub events: Vec<AgendaEvent>,
    pub comments: Vec<Comment>,
    pub edits: Vec<EditRecord>,
    pub field_conflicts: Vec<String>,
}

/// Writes a new agenda document.
pub fn create(doc: &mut AutoCommit, a: &AgendaDoc) -> Result<(), DocError> {
    put_header(doc, DocKind::Agenda)?;
    doc.put(ROOT, "id", a.id.to_string())?;
    doc.put(ROOT, "village", a.village.as_str())?;
    let created = serde_json::to_string(&a.created).map_err(|e| DocError(e.to_string()))?;
    doc.put(ROOT, "created", created)?;
    let fields = doc.put_object(ROOT, "fields", ObjType::Map)?;
    for (k, v) in FIELD_KEYS
        .iter()
        .zip([&a.title, &a.category, &a.description])
    {
        doc.put(&fields, *k, v.as_str())?;
    }
    doc.put_object(ROOT, "events", ObjType::List)?;
    doc.put_object(ROOT, "comments", ObjType::List)?;
    doc.put_object(ROOT, "edits", ObjType::List)?;
    Ok(())
}

/// Reads and checks an agenda document.
pub fn read(doc: &AutoCommit) -> Result<AgendaDoc, DocError> {
    if super::kind_of(doc)? != DocKind::Agenda {
        return Err(DocError("not an agenda document".into()));
    }
    let (id, created) = super::read_header(doc)?;
    let ([title, category, description], field_conflicts) = super::read_fields(doc, FIELD_KEYS)?;
    Ok(AgendaDoc {
        id,
        village: str_at(doc, &ROOT, "village")?,
        created,
        title,
        category,
        description,
        events: read_log(doc, "events")?,
        comments: read_log(doc, "comments")?,
        edits: read_log(doc, "edits")?,
        field_conflicts,
    })
}

/// Writes one field edit and its record.
pub fn put_field(
    doc: &mut AutoCommit,
    key: &'static str,
    value: &str,
    record: &EditRecord,
) -> Result<(), DocError> {
    let fields = obj_at(doc, "fields", ObjType::Map)?;
    doc.put(&fields, key, value)?;
    append_log(doc, "edits", record)
}
