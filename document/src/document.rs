//! One document as a whole: loading and saving it, where it belongs, its views, and writing to
//! it on the hub (a township user in the console, a resident on the hub's pages).

use automerge::{ActorId, AutoCommit, ChangeHash, ReadDoc};
use bianmin_domain::{
    Identity, ReceiptNo, Status, Timestamp, WorkingCalendar, replay, township_of,
};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use uuid::Uuid;

use crate::author::{self, Author, Authoring};
use crate::index::{self, DocIndex};
use crate::layout::agenda::AgendaDoc;
use crate::layout::request::RequestDoc;
use crate::layout::{self, DocError, DocKind};
use crate::model::{AgendaDetail, NewRequest, RequestDetail};
use crate::view;
use crate::{Error, Reference};

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

/// A document decoded into domain values.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A service request.
    Request(Box<RequestDoc>),
    /// An agenda item.
    Agenda(Box<AgendaDoc>),
}

/// The change that carried each log entry of a document (see [`Document::log_carriers`]),
/// by the entry's id (an event's [`bianmin_domain::EventId`], a comment's id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogCarriers {
    /// The change hash of each event.
    pub events: HashMap<Uuid, [u8; 32]>,
    /// The change hash of each comment.
    pub comments: HashMap<Uuid, [u8; 32]>,
}

/// One document, checked to have Bianmin's layout, with its decoded form: the hub's copy of
/// each document, and what the console writes to.
#[derive(Debug, Clone)]
pub struct Document {
    pub(crate) doc: AutoCommit,
    pub(crate) decoded: Decoded,
}

/// An Automerge actor from its hex form.
fn parse_actor(actor_hex: &str) -> crate::Result<ActorId> {
    actor_hex.parse().map_err(|_| Error::Invalid {
        field: "actor".into(),
        rule: "must be hex".into(),
    })
}

/// Writes one [`Authoring`] as `a` on `am`, whose decoded form is `decoded`.
fn write(
    a: &Author<'_>,
    decoded: &Decoded,
    am: &mut AutoCommit,
    what: &Authoring,
) -> crate::Result<()> {
    let wrong_kind = |what: &'static str| Error::NotFound {
        what,
        id: String::new(),
    };
    match (decoded, what) {
        (Decoded::Request(d), Authoring::RequestEvent(action)) => {
            author::request_event(a, d, am, action.clone())
        }
        (Decoded::Request(d), Authoring::RequestEventWithId { id, action }) => {
            author::request_event_with_id(a, d, am, *id, action.clone())
        }
        (Decoded::Request(d), Authoring::RequestComment(text)) => {
            author::request_comment(a, d, am, text)
        }
        (
            Decoded::Request(d),
            Authoring::RequestAttachment {
                sha256,
                media_type,
                size,
                material,
            },
        ) => {
            let new = author::NewAttachment {
                sha256: sha256.clone(),
                media_type: *media_type,
                size: *size,
                material,
            };
            author::request_attach(a, d, am, &new).map(|_| ())
        }
        (Decoded::Agenda(d), Authoring::AgendaEvent(action)) => {
            author::agenda_event(a, d, am, action.clone())
        }
        (Decoded::Agenda(d), Authoring::AgendaComment(text)) => {
            author::agenda_comment(a, d, am, text)
        }
        (Decoded::Request(_), _) => Err(wrong_kind("agenda item")),
        (Decoded::Agenda(_), _) => Err(wrong_kind("request")),
    }
}

/// Decodes a document, checking its layout.
pub fn decode(doc: &AutoCommit) -> Result<Decoded, DocError> {
    Ok(match layout::kind_of(doc)? {
        DocKind::Request => Decoded::Request(Box::new(layout::request::read(doc)?)),
        DocKind::Agenda => Decoded::Agenda(Box::new(layout::agenda::read(doc)?)),
    })
}

impl Document {
    /// Loads a document the hub stored earlier.
    pub fn load(bytes: &[u8]) -> crate::Result<Document> {
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            let doc = AutoCommit::load(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
            let decoded = decode(&doc)?;
            Ok(Document { doc, decoded })
        }));
        loaded.unwrap_or_else(|_| Err(Error::Malformed("stored document is corrupt".into())))
    }

    /// A document held as Automerge, decoded and checked to have Bianmin's layout.
    pub fn from_automerge(doc: AutoCommit) -> crate::Result<Document> {
        let decoded = catch_unwind(AssertUnwindSafe(|| decode(&doc)))
            .unwrap_or_else(|_| Err(DocError("the document is corrupt".into())))?;
        Ok(Document { doc, decoded })
    }

    /// The receipt number, for requests.
    pub fn receipt_no(&self) -> Option<&str> {
        match &self.decoded {
            Decoded::Request(r) => Some(&r.receipt_no),
            Decoded::Agenda(_) => None,
        }
    }

    /// The decoded document.
    pub fn decoded(&self) -> &Decoded {
        &self.decoded
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
            let Ok(list) = layout::obj_at(doc, key, automerge::ObjType::List) else {
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

    /// Writes `what` as `who` (a township user working in the console, or a resident on the
    /// hub's pages, not on a tablet), with `actor_hex` as the Automerge actor. Returns the new
    /// changes; the caller pushes them through [`crate::check_push`] like any device's, so they
    /// are validated, stored and audited the same way. The document itself is not changed.
    pub fn author(
        &self,
        actor_hex: &str,
        who: &Identity,
        at: Timestamp,
        reference: &Reference,
        what: &Authoring,
    ) -> crate::Result<Vec<Vec<u8>>> {
        self.author_all(actor_hex, who, at, reference, std::slice::from_ref(what))
    }

    /// Writes each of `whats` in turn, as [`Document::author`] writes one (each on the document
    /// as the ones before it left it): what must reach the hub together, like the photos of a
    /// supplement and the supplement itself. Returns the new changes.
    pub fn author_all(
        &self,
        actor_hex: &str,
        who: &Identity,
        at: Timestamp,
        reference: &Reference,
        whats: &[Authoring],
    ) -> crate::Result<Vec<Vec<u8>>> {
        let mut am = self.doc.clone().with_actor(parse_actor(actor_hex)?);
        let before = am.get_heads();
        let a = Author {
            identity: who,
            reference,
            at,
        };
        let mut decoded = self.decoded.clone();
        for (i, what) in whats.iter().enumerate() {
            if i > 0 {
                decoded = decode(&am)?;
            }
            write(&a, &decoded, &mut am, what)?;
        }
        Ok(am
            .get_changes(&before)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect())
    }

    /// A new request filed by `who` with the receipt number `receipt_no`, written under
    /// `actor_hex` as a tablet's [`author::new_request`] and [`crate::layout::request::create`]
    /// write it, then `then` written on it (the references to its photos). Returns the new
    /// document's id and its changes, which the caller pushes through [`crate::check_push`]
    /// like a tablet's filing: nothing here decides whether it is acceptable.
    #[allow(clippy::too_many_arguments)]
    pub fn file_request(
        actor_hex: &str,
        who: &Identity,
        at: Timestamp,
        reference: &Reference,
        new: &NewRequest,
        receipt_no: &ReceiptNo,
        then: &[Authoring],
    ) -> crate::Result<(Uuid, Vec<Vec<u8>>)> {
        Self::file_request_with_id(
            Uuid::new_v4(),
            actor_hex,
            who,
            at,
            reference,
            new,
            receipt_no,
            then,
        )
    }

    /// [`Document::file_request`] under the document id `id` rather than a random one: the hub
    /// derives it from a resident's form (who sent it, and the form's submission key), so that
    /// the same form sent twice names the same document, which can be stored once only. The
    /// id must be as unique as a random one; the check holds the id in the document to the id
    /// it is stored under, as for any new document.
    #[allow(clippy::too_many_arguments)]
    pub fn file_request_with_id(
        id: Uuid,
        actor_hex: &str,
        who: &Identity,
        at: Timestamp,
        reference: &Reference,
        new: &NewRequest,
        receipt_no: &ReceiptNo,
        then: &[Authoring],
    ) -> crate::Result<(Uuid, Vec<Vec<u8>>)> {
        let a = Author {
            identity: who,
            reference,
            at,
        };
        let mut filed = author::new_request(&a, new, receipt_no)?;
        filed.id = id;
        let mut am = AutoCommit::new().with_actor(parse_actor(actor_hex)?);
        crate::layout::request::create(&mut am, &filed)?;
        for what in then {
            let decoded = decode(&am)?;
            write(&a, &decoded, &mut am, what)?;
        }
        let changes = am
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        Ok((id, changes))
    }

    /// The request as a page shows it (with the working-day clock as of `today`), for requests.
    pub fn request_detail(
        &self,
        reference: &Reference,
        today: chrono::NaiveDate,
    ) -> Option<RequestDetail> {
        match &self.decoded {
            Decoded::Request(d) => Some(view::request_detail((**d).clone(), reference, today)),
            Decoded::Agenda(_) => None,
        }
    }

    /// The agenda item as a page shows it, for agenda items.
    pub fn agenda_detail(&self) -> Option<AgendaDetail> {
        match &self.decoded {
            Decoded::Agenda(d) => Some(view::agenda_detail((**d).clone())),
            Decoded::Request(_) => None,
        }
    }

    /// The document's index entry (see [`DocIndex`]).
    pub fn index(&self, calendar: &WorkingCalendar) -> DocIndex {
        index::index_of(&self.decoded, calendar)
    }

    /// The request's current status, for requests.
    pub fn request_status(&self) -> Option<Status> {
        match &self.decoded {
            Decoded::Request(r) => Some(replay(&r.events, r.level).status),
            Decoded::Agenda(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bianmin_domain::{Action, EventId};

    fn resident() -> Identity {
        Identity {
            user: "resident-1".into(),
            role: bianmin_domain::Role::Resident,
            area: "370883101201".into(),
            device: "resident-web".into(),
        }
    }

    fn filed(id: Uuid, reference: &Reference) -> Document {
        let new = NewRequest {
            item_code: "SOC-CARD".into(),
            applicant_name: "王秀英".into(),
            id_number: "11010519491231002X".into(),
            phone: "13812345678".into(),
            grid: "1组".into(),
            attributes: Default::default(),
            materials_received: Vec::new(),
            resident_user: None,
            submit: true,
        };
        let (got, changes) = Document::file_request_with_id(
            id,
            "0123456789abcdef0123456789abcdef",
            &resident(),
            Timestamp(1_800_000_000_000),
            reference,
            &new,
            &ReceiptNo::hub("370883101201", 1),
            &[],
        )
        .unwrap();
        assert_eq!(got, id);
        let mut am = AutoCommit::new();
        am.apply_changes(
            changes
                .iter()
                .map(|c| automerge::Change::try_from(&c[..]).unwrap()),
        )
        .unwrap();
        Document::from_automerge(am).unwrap()
    }

    #[test]
    fn a_request_filed_with_a_chosen_id_carries_it() {
        let reference = Reference::demo();
        let id = Uuid::from_u128(0x1234);
        let doc = filed(id, &reference);
        let Decoded::Request(r) = doc.decoded() else {
            panic!("a request");
        };
        assert_eq!(r.id, id);
        assert_eq!(r.resident_user.as_deref(), Some("resident-1"));
    }

    #[test]
    fn an_event_with_a_chosen_id_is_written_once() {
        let reference = Reference::demo();
        let doc = filed(Uuid::from_u128(7), &reference);
        let event = EventId(Uuid::from_u128(42));
        let withdraw = Authoring::RequestEventWithId {
            id: event,
            action: Action::Withdraw {
                reason: String::new(),
            },
        };
        let actor = "0123456789abcdef0123456789abcdef";
        let at = Timestamp(1_800_000_000_001);
        let changes = doc
            .author(actor, &resident(), at, &reference, &withdraw)
            .unwrap();
        let mut am = doc.doc.clone();
        am.apply_changes(
            changes
                .iter()
                .map(|c| automerge::Change::try_from(&c[..]).unwrap()),
        )
        .unwrap();
        let doc = Document::from_automerge(am).unwrap();
        let Decoded::Request(r) = doc.decoded() else {
            panic!("a request");
        };
        assert!(r.events.iter().any(|e| e.id == event));
        // The same id again: refused, nothing written.
        assert!(
            doc.author(actor, &resident(), at, &reference, &withdraw)
                .is_err()
        );
    }
}
