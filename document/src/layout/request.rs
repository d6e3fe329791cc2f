//! The layout of a service-request document.
//!
//! ```text
//! { schema: "bianmin/request", version: 1,
//!   id, receipt_no, item_code, village, resident_user?, created: <Stamp JSON>,
//!   level, time_limit_days,       // the item's handling level and committed limit at filing
//!   fields:     { name, id_number, phone, grid },          // editable, per key
//!   attributes: { <code>: text | number },                 // editable, per key
//!   materials:  { <material>: bool },                      // received or not, per key
//!   events:     [ <Event JSON> ],                          // append-only lifecycle log
//!   comments:   [ <Comment JSON> ],                        // append-only
//!   edits:      [ <EditRecord JSON> ],                     // append-only: who edited which field
//!   attachments: [ <AttachmentRef JSON> ] }                // append-only; the bytes travel apart
//! ```
//!
//! `attachments` is created with the document (documents filed before it existed have none and
//! take no attachment: a list created later on two devices at once would hide one of them).

use automerge::{
    AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};
use bianmin_domain::{AttachmentRef, AttrValue, Event, HandlingLevel, Stamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use super::{DocError, DocKind, append_log, obj_at, opt_str_at, put_header, read_log, str_at};

/// Every key of a request's root map.
pub const ROOT_KEYS: [&str; 17] = [
    "schema",
    "version",
    "id",
    "receipt_no",
    "item_code",
    "village",
    "resident_user",
    "created",
    "level",
    "time_limit_days",
    "fields",
    "attributes",
    "materials",
    "events",
    "comments",
    "edits",
    "attachments",
];

/// The editable applicant fields, by key.
pub const FIELD_KEYS: [&str; 4] = ["name", "id_number", "phone", "grid"];

/// A comment on a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Its identifier.
    pub id: Uuid,
    /// Who wrote it, where and when.
    pub by: Stamp,
    /// The text.
    pub text: String,
}

/// The record of a field edit: who changed which field (the values live in the document).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EditRecord {
    /// Who, where, when.
    pub by: Stamp,
    /// The field, e.g. `phone` or `attributes.monthly_income`.
    pub field: String,
}

/// A request document, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestDoc {
    pub id: Uuid,
    pub receipt_no: String,
    pub item_code: String,
    pub village: String,
    pub resident_user: Option<String>,
    pub created: Stamp,
    /// The item's handling level when filed: the workflow follows it even if the catalog
    /// changes later.
    pub level: HandlingLevel,
    /// The committed time limit promised at filing.
    pub time_limit_days: u32,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub grid: String,
    pub attributes: BTreeMap<String, AttrValue>,
    pub materials: BTreeSet<String>,
    pub events: Vec<Event>,
    pub comments: Vec<Comment>,
    pub edits: Vec<EditRecord>,
    /// References to photos and scans of materials; `None` for documents filed before
    /// attachments existed.
    pub attachments: Option<Vec<AttachmentRef>>,
    /// Fields edited concurrently on two devices (one value was kept).
    pub field_conflicts: Vec<String>,
}

/// Writes a new request document.
pub fn create(doc: &mut AutoCommit, r: &RequestDoc) -> Result<(), DocError> {
    put_header(doc, DocKind::Request)?;
    doc.put(ROOT, "id", r.id.to_string())?;
    doc.put(ROOT, "receipt_no", r.receipt_no.as_str())?;
    doc.put(ROOT, "item_code", r.item_code.as_str())?;
    doc.put(ROOT, "village", r.village.as_str())?;
    if let Some(u) = &r.resident_user {
        doc.put(ROOT, "resident_user", u.as_str())?;
    }
    let created = serde_json::to_string(&r.created).map_err(|e| DocError(e.to_string()))?;
    doc.put(ROOT, "created", created)?;
    doc.put(ROOT, "level", level_str(r.level))?;
    doc.put(ROOT, "time_limit_days", i64::from(r.time_limit_days))?;
    let fields = doc.put_object(ROOT, "fields", ObjType::Map)?;
    for (k, v) in FIELD_KEYS
        .iter()
        .zip([&r.name, &r.id_number, &r.phone, &r.grid])
    {
        doc.put(&fields, *k, v.as_str())?;
    }
    let attrs = doc.put_object(ROOT, "attributes", ObjType::Map)?;
    for (k, v) in &r.attributes {
        put_attr(doc, &attrs, k, v)?;
    }
    let mats = doc.put_object(ROOT, "materials", ObjType::Map)?;
    for m in &r.materials {
        doc.put(&mats, m.as_str(), true)?;
    }
    doc.put_object(ROOT, "events", ObjType::List)?;
    doc.put_object(ROOT, "comments", ObjType::List)?;
    doc.put_object(ROOT, "edits", ObjType::List)?;
    doc.put_object(ROOT, "attachments", ObjType::List)?;
    for e in &r.events {
        append_log(doc, "events", e)?;
    }
    Ok(())
}

fn level_str(l: HandlingLevel) -> &'static str {
    match l {
        HandlingLevel::Village => "village",
        HandlingLevel::VillageCollectsTownshipHandles => "village_collects_township_handles",
        HandlingLevel::Township => "township",
    }
}

fn parse_level(s: &str) -> Result<HandlingLevel, DocError> {
    [
        HandlingLevel::Village,
        HandlingLevel::VillageCollectsTownshipHandles,
        HandlingLevel::Township,
    ]
    .into_iter()
    .find(|l| level_str(*l) == s)
    .ok_or_else(|| DocError("unknown handling level".into()))
}

fn put_attr(doc: &mut AutoCommit, obj: &ObjId, key: &str, v: &AttrValue) -> Result<(), DocError> {
    match v {
        AttrValue::Number(n) => doc.put(obj, key, *n)?,
        AttrValue::Text(s) => doc.put(obj, key, s.as_str())?,
    }
    Ok(())
}

/// The committed time limit: a whole number of days, stored as an integer (automerge would
/// round a float, a NaN to 0).
fn whole_days(doc: &AutoCommit) -> Result<u32, DocError> {
    let days = match doc.get(ROOT, "time_limit_days")? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(n) => u32::try_from(*n).ok(),
            ScalarValue::Uint(n) => u32::try_from(*n).ok(),
            _ => None,
        },
        _ => None,
    };
    days.ok_or_else(|| DocError("time_limit_days missing or not a whole number of days".into()))
}

/// Reads and checks a request document.
pub fn read(doc: &AutoCommit) -> Result<RequestDoc, DocError> {
    if super::kind_of(doc)? != DocKind::Request {
        return Err(DocError("not a request document".into()));
    }
    let (id, created) = super::read_header(doc)?;
    let ([name, id_number, phone, grid], mut field_conflicts) =
        super::read_fields(doc, FIELD_KEYS)?;

    let attrs_obj = obj_at(doc, "attributes", ObjType::Map)?;
    let mut attributes = BTreeMap::new();
    for key in doc.keys(&attrs_obj).collect::<Vec<_>>() {
        if doc.get_all(&attrs_obj, key.as_str())?.len() > 1 {
            field_conflicts.push(format!("attributes.{key}"));
        }
        let value = match doc.get(&attrs_obj, key.as_str())? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::F64(n) => AttrValue::Number(*n),
                ScalarValue::Int(n) => AttrValue::Number(*n as f64),
                ScalarValue::Uint(n) => AttrValue::Number(*n as f64),
                ScalarValue::Str(s) => AttrValue::Text(s.to_string()),
                ScalarValue::Null => continue,
                _ => return Err(DocError(format!("attributes.{key} has a bad type"))),
            },
            _ => return Err(DocError(format!("attributes.{key} has a bad type"))),
        };
        attributes.insert(key, value);
    }
    let mats_obj = obj_at(doc, "materials", ObjType::Map)?;
    let mut materials = BTreeSet::new();
    for key in doc.keys(&mats_obj).collect::<Vec<_>>() {
        match doc
            .get(&mats_obj, key.as_str())?
            .and_then(|(v, _)| v.as_bool())
        {
            Some(true) => {
                materials.insert(key);
            }
            Some(false) => {}
            None => return Err(DocError(format!("materials.{key} is not true/false"))),
        }
    }
    Ok(RequestDoc {
        id,
        receipt_no: str_at(doc, &ROOT, "receipt_no")?,
        item_code: str_at(doc, &ROOT, "item_code")?,
        village: str_at(doc, &ROOT, "village")?,
        resident_user: opt_str_at(doc, &ROOT, "resident_user")?,
        created,
        level: parse_level(&str_at(doc, &ROOT, "level")?)?,
        time_limit_days: whole_days(doc)?,
        name,
        id_number,
        phone,
        grid,
        attributes,
        materials,
        events: read_log(doc, "events")?,
        comments: read_log(doc, "comments")?,
        edits: read_log(doc, "edits")?,
        attachments: match doc.get(ROOT, "attachments")? {
            None => None,
            Some(_) => Some(read_log(doc, "attachments")?),
        },
        field_conflicts,
    })
}

/// A change to one editable part of a request, as written to the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Put<'a> {
    Field(&'static str, &'a str),
    Attribute(&'a str, Option<&'a AttrValue>),
    Material(&'a str, bool),
}

/// Writes one edit and its record.
pub fn put(doc: &mut AutoCommit, put: &Put<'_>, record: &EditRecord) -> Result<(), DocError> {
    match put {
        Put::Field(key, value) => {
            let fields = obj_at(doc, "fields", ObjType::Map)?;
            doc.put(&fields, *key, *value)?;
        }
        Put::Attribute(code, Some(value)) => {
            let attrs = obj_at(doc, "attributes", ObjType::Map)?;
            put_attr(doc, &attrs, code, value)?;
        }
        Put::Attribute(code, None) => {
            let attrs = obj_at(doc, "attributes", ObjType::Map)?;
            doc.delete(&attrs, *code)?;
        }
        Put::Material(name, received) => {
            let mats = obj_at(doc, "materials", ObjType::Map)?;
            doc.put(&mats, *name, *received)?;
        }
    }
    append_log(doc, "edits", record)
}

/// The materials marked received as the document stood at `heads` (a past state: what the
/// author of a change saw when making it). Empty when the layout did not hold there.
pub fn materials_at(doc: &AutoCommit, heads: &[automerge::ChangeHash]) -> BTreeSet<String> {
    let Ok(Some((automerge::Value::Object(ObjType::Map), obj))) =
        doc.get_at(ROOT, "materials", heads)
    else {
        return BTreeSet::new();
    };
    doc.keys_at(&obj, heads)
        .filter(|key| {
            matches!(
                doc.get_at(&obj, key.as_str(), heads),
                Ok(Some((v, _))) if v.as_bool() == Some(true)
            )
        })
        .collect()
}
