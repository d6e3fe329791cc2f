//! The Automerge layout of Bianmin's documents, and the only module that knows it.
//!
//! Every request and every agenda item is one Automerge document. Its root map holds:
//! - `schema` (`"bianmin/request"` or `"bianmin/agenda"`) and `version` (1);
//! - fields fixed at creation (id, receipt number, village...), written once;
//! - editable fields, one map key each, so edits of different fields on two devices both
//!   survive a merge; concurrent edits of the same field keep one value deterministically and
//!   are reported as a field conflict until someone edits the field again;
//! - append-only lists (`events`, `comments`, `edits`) whose entries are JSON strings. An entry
//!   is never changed after it is appended, so storing it as one opaque scalar is both the
//!   simplest encoding and the easiest to check: a valid change only ever inserts entries.
//!
//! Reading a document ([`request::read`], [`agenda::read`]) checks this layout and refuses a
//! document that breaks it with [`DocError`]; nothing outside this module sees an Automerge type.

pub mod agenda;
pub mod request;

use automerge::{
    AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};
use serde::{Serialize, de::DeserializeOwned};

/// The `version` written in every document's root.
pub const SCHEMA_VERSION: i64 = 1;

/// A document that does not have Bianmin's layout.
#[derive(Debug, thiserror::Error)]
#[error("malformed document: {0}")]
pub struct DocError(pub String);

impl From<automerge::AutomergeError> for DocError {
    fn from(e: automerge::AutomergeError) -> Self {
        DocError(e.to_string())
    }
}

/// Which kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// A service request.
    Request,
    /// A village agenda item.
    Agenda,
}

impl DocKind {
    /// The `schema` value of this kind.
    pub fn schema(self) -> &'static str {
        match self {
            DocKind::Request => "bianmin/request",
            DocKind::Agenda => "bianmin/agenda",
        }
    }

    /// The name stored in the `documents` table.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Request => "request",
            DocKind::Agenda => "agenda",
        }
    }

    pub fn parse(s: &str) -> Option<DocKind> {
        match s {
            "request" => Some(DocKind::Request),
            "agenda" => Some(DocKind::Agenda),
            _ => None,
        }
    }
}

/// The kind a document declares, checked against the schema version.
pub fn kind_of(doc: &AutoCommit) -> Result<DocKind, DocError> {
    let schema = str_at(doc, &ROOT, "schema")?;
    let kind = [DocKind::Request, DocKind::Agenda]
        .into_iter()
        .find(|k| k.schema() == schema)
        .ok_or_else(|| DocError("unknown schema".into()))?;
    match doc.get(ROOT, "version")?.and_then(|(v, _)| v.as_i64()) {
        Some(SCHEMA_VERSION) => Ok(kind),
        Some(_) => Err(DocError("document version newer than this software".into())),
        None => Err(DocError("version missing".into())),
    }
}

/// Keys of the root and of the `fields` map that the layout of the document's kind does not
/// have (as `key` or `fields.key`): a change that adds one is refused, so nothing a device
/// invents is stored and shipped to every replica.
pub fn unknown_keys(doc: &AutoCommit) -> Vec<String> {
    let (root, fields): (&[&str], &[&str]) = match kind_of(doc) {
        Ok(DocKind::Request) => (&request::ROOT_KEYS, &request::FIELD_KEYS),
        Ok(DocKind::Agenda) => (&agenda::ROOT_KEYS, &agenda::FIELD_KEYS),
        Err(_) => return Vec::new(),
    };
    let mut unknown: Vec<String> = doc
        .keys(ROOT)
        .filter(|k| !root.contains(&k.as_str()))
        .collect();
    if let Ok(obj) = obj_at(doc, "fields", ObjType::Map) {
        unknown.extend(
            doc.keys(&obj)
                .filter(|k| !fields.contains(&k.as_str()))
                .map(|k| format!("fields.{k}")),
        );
    }
    unknown
}

/// Writes the root header of a new document.
pub fn put_header(doc: &mut AutoCommit, kind: DocKind) -> Result<(), DocError> {
    doc.put(ROOT, "schema", kind.schema())?;
    doc.put(ROOT, "version", SCHEMA_VERSION)?;
    Ok(())
}

pub fn str_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Result<String, DocError> {
    opt_str_at(doc, obj, key)?.ok_or_else(|| DocError(format!("{key} missing or not text")))
}

pub fn opt_str_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<String>, DocError> {
    Ok(doc
        .get(obj, key)?
        .and_then(|(v, _)| v.as_str().map(str::to_owned)))
}

/// The object stored under `key` of the root, which must be of type `ty`.
pub fn obj_at(doc: &AutoCommit, key: &str, ty: ObjType) -> Result<ObjId, DocError> {
    match doc.get(ROOT, key)? {
        Some((Value::Object(t), id)) if t == ty => Ok(id),
        _ => Err(DocError(format!("{key} missing or of the wrong type"))),
    }
}

/// Parses every entry of an append-only JSON list.
pub fn read_log<T: DeserializeOwned>(doc: &AutoCommit, key: &str) -> Result<Vec<T>, DocError> {
    let list = obj_at(doc, key, ObjType::List)?;
    let len = doc.length(&list);
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let text = match doc.get(&list, i)? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(s) => s.to_string(),
                _ => return Err(DocError(format!("{key}[{i}] is not text"))),
            },
            _ => return Err(DocError(format!("{key}[{i}] is not text"))),
        };
        out.push(serde_json::from_str(&text).map_err(|e| DocError(format!("{key}[{i}]: {e}")))?);
    }
    Ok(out)
}

/// The id and creation stamp every document's root holds.
pub fn read_header(doc: &AutoCommit) -> Result<(uuid::Uuid, bianmin_domain::Stamp), DocError> {
    let id =
        uuid::Uuid::parse_str(&str_at(doc, &ROOT, "id")?).map_err(|_| DocError("bad id".into()))?;
    let created = serde_json::from_str(&str_at(doc, &ROOT, "created")?)
        .map_err(|e| DocError(format!("created: {e}")))?;
    Ok((id, created))
}

/// The editable text fields of the `fields` map, and those edited concurrently on two devices
/// (one value was kept deterministically; both are reported).
pub fn read_fields<const N: usize>(
    doc: &AutoCommit,
    keys: [&str; N],
) -> Result<([String; N], Vec<String>), DocError> {
    let fields = obj_at(doc, "fields", ObjType::Map)?;
    let mut conflicts = Vec::new();
    let mut values: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, key) in values.iter_mut().zip(keys) {
        if doc.get_all(&fields, key)?.len() > 1 {
            conflicts.push(key.to_string());
        }
        *slot = str_at(doc, &fields, key)?;
    }
    Ok((values, conflicts))
}

/// Appends an entry to an append-only list.
pub fn append_log<T: Serialize>(
    doc: &mut AutoCommit,
    key: &str,
    entry: &T,
) -> Result<(), DocError> {
    let list = obj_at(doc, key, ObjType::List)?;
    let json = serde_json::to_string(entry).map_err(|e| DocError(e.to_string()))?;
    let len = doc.length(&list);
    doc.insert(&list, len, json)?;
    Ok(())
}
