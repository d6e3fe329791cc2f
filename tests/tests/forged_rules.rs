//! Each rule of the hub's check (`docs/sync-protocol.md`, "What the hub checks on every push"),
//! broken on purpose by a really enrolled device speaking raw HTTP to a real hub: the forged
//! document is refused with its code and a reason that names the field (and never the personal
//! data it carries), nothing of it is stored, and a valid document pushed in the same round is
//! accepted all the same.
//!
//! Forged changes are built the way an attacker would: a new document written from scratch (or
//! the hub's copy loaded) with the device's own Automerge actor, and the raw change bytes posted.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use bianmin_document::Document as HubDocument;
use bianmin_document::layout::request::{Comment, EditRecord};
use bianmin_domain::{
    Action, AgendaAction, AgendaEvent, AttachmentRef, Body, DEVICE_TIME_FLOOR, Event, EventId,
    Identity, MediaType, Meeting, Notice, Objection, ReceiptNo, Role, Stamp, Timestamp,
};
use bianmin_protocol::{B64, EnrolRequest, EnrolResponse, PROTOCOL_VERSION, PushDoc, SyncRequest};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub};
use bianmin_tests::raw::{agent, lookup_form, post_json};
use chrono::{Days, NaiveDate};
use serde_json::Value as Json;
use uuid::Uuid;

const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";
const WEST: &str = "370883101202";
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A second valid ID number (GB 11643 check digit computed).
fn other_id_number() -> String {
    id_number("11010519800101123")
}

fn id_number(base17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = base17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{base17}{check}")
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

/// An answer from the hub: status and parsed body.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Json,
    text: String,
}

fn post(url: &str, token: Option<&str>, body: &[u8]) -> Reply {
    let (status, text) = post_json(url, token, body).expect("the hub answers");
    let body = serde_json::from_str(&text).unwrap_or(Json::Null);
    Reply { status, body, text }
}

impl Reply {
    fn result(&self, doc: Uuid) -> &Json {
        assert_eq!(self.status, 200, "{}", self.text);
        self.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["doc"] == doc.to_string())
            .unwrap_or_else(|| panic!("no result for {doc}: {}", self.text))
    }

    /// The document was refused with `code`, for a reason naming `field` and no personal data.
    fn assert_refused(&self, doc: Uuid, code: &str, field: &str) {
        let r = self.result(doc);
        assert_eq!(r["status"], "refused", "{r}");
        assert_eq!(r["code"], code, "{r}");
        let reason = r["reason"].as_str().unwrap_or("");
        assert!(!reason.trim().is_empty(), "a reason: {r}");
        assert!(reason.contains(field), "the reason names {field}: {r}");
        let other = other_id_number();
        let results = self.body["results"].to_string();
        for secret in [ID_NUMBER, PHONE, other.as_str()] {
            assert!(!results.contains(secret), "personal data leaked: {results}");
        }
    }
}

/// A device that speaks raw HTTP to the hub with a really enrolled device's token.
struct RawDevice {
    url: String,
    token: String,
    actor: String,
    device_no: u32,
    identity: Identity,
    counter: AtomicU64,
}

impl RawDevice {
    fn enrol(hub: &TestHub, user: &str, name: &str) -> RawDevice {
        let req = EnrolRequest {
            protocol: PROTOCOL_VERSION,
            code: hub.code(user),
            device_name: name.into(),
        };
        let reply = post(
            &format!("{}/api/v1/enrol", hub.url),
            None,
            &serde_json::to_vec(&req).unwrap(),
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        let res: EnrolResponse = serde_json::from_str(&reply.text).unwrap();
        RawDevice {
            url: hub.url.clone(),
            token: res.token,
            actor: res.actor,
            device_no: res.device_no,
            identity: res.identity,
            counter: AtomicU64::new(1),
        }
    }

    fn stamp(&self) -> Stamp {
        self.stamp_at(Timestamp::now())
    }

    fn stamp_at(&self, at: Timestamp) -> Stamp {
        Stamp {
            user: self.identity.user.clone(),
            role: self.identity.role,
            device: self.identity.device.clone(),
            at,
        }
    }

    /// The next receipt number of this device.
    fn receipt(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        ReceiptNo::new(&self.identity.area, self.device_no, n).to_string()
    }

    /// One round pushing every draft's new changes.
    fn round(&self, drafts: &mut [&mut Draft]) -> Reply {
        self.round_at(&self.url, drafts)
    }

    /// A round sent to the hub at `url` (another instance on the same database).
    fn round_at(&self, url: &str, drafts: &mut [&mut Draft]) -> Reply {
        let push = drafts
            .iter_mut()
            .map(|d| PushDoc {
                doc: d.id,
                changes: d.changes().into_iter().map(B64).collect(),
                saved: None,
            })
            .collect();
        let body = serde_json::to_vec(&SyncRequest {
            pull_budget: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
            reference_version: 0,
            push,
        })
        .unwrap();
        post(&format!("{url}/api/v1/sync"), Some(&self.token), &body)
    }
}

// ---------------------------------------------------------------------------------------------
// Documents written by hand

/// A log entry's JSON, as the layout stores it.
macro_rules! entry {
    ($e:expr) => {
        serde_json::to_string(&$e).unwrap()
    };
}

/// A document being written or tampered with by a raw device.
struct Draft {
    id: Uuid,
    doc: AutoCommit,
    before: Vec<ChangeHash>,
}

fn actor(hex: &str) -> ActorId {
    ActorId::from_str(hex).expect("hex actor")
}

impl Draft {
    /// A valid new request (a social security card, submitted) filed by `dev` in its village.
    fn request(dev: &RawDevice) -> Draft {
        let mut doc = AutoCommit::new().with_actor(actor(&dev.actor));
        let id = Uuid::new_v4();
        let stamp = dev.stamp();
        doc.put(ROOT, "schema", "bianmin/request").unwrap();
        doc.put(ROOT, "version", 1i64).unwrap();
        doc.put(ROOT, "id", id.to_string()).unwrap();
        doc.put(ROOT, "receipt_no", dev.receipt()).unwrap();
        doc.put(ROOT, "item_code", "SOC-CARD").unwrap();
        doc.put(ROOT, "village", dev.identity.area.as_str())
            .unwrap();
        doc.put(ROOT, "created", serde_json::to_string(&stamp).unwrap())
            .unwrap();
        doc.put(ROOT, "level", "village_collects_township_handles")
            .unwrap();
        doc.put(ROOT, "time_limit_days", 10i64).unwrap();
        let fields = doc.put_object(ROOT, "fields", ObjType::Map).unwrap();
        for (k, v) in [
            ("name", "王秀英"),
            ("id_number", ID_NUMBER),
            ("phone", PHONE),
            ("grid", "1组"),
        ] {
            doc.put(&fields, k, v).unwrap();
        }
        let attrs = doc.put_object(ROOT, "attributes", ObjType::Map).unwrap();
        doc.put(&attrs, "reason", "lost").unwrap();
        let mats = doc.put_object(ROOT, "materials", ObjType::Map).unwrap();
        doc.put(&mats, "ID card", true).unwrap();
        doc.put(&mats, "Recent photo", true).unwrap();
        for list in ["events", "comments", "edits", "attachments"] {
            doc.put_object(ROOT, list, ObjType::List).unwrap();
        }
        let mut d = Draft {
            id,
            doc,
            before: Vec::new(),
        };
        d.append(
            "events",
            entry!(Event {
                id: EventId::new(),
                after: vec![],
                by: stamp,
                action: Action::Submit,
            }),
        );
        d
    }

    /// A valid new agenda item opened by `dev` for its village.
    fn agenda(dev: &RawDevice) -> Draft {
        let mut doc = AutoCommit::new().with_actor(actor(&dev.actor));
        let id = Uuid::new_v4();
        doc.put(ROOT, "schema", "bianmin/agenda").unwrap();
        doc.put(ROOT, "version", 1i64).unwrap();
        doc.put(ROOT, "id", id.to_string()).unwrap();
        doc.put(ROOT, "village", dev.identity.area.as_str())
            .unwrap();
        doc.put(
            ROOT,
            "created",
            serde_json::to_string(&dev.stamp()).unwrap(),
        )
        .unwrap();
        let fields = doc.put_object(ROOT, "fields", ObjType::Map).unwrap();
        for (k, v) in [
            ("title", "修缮村道"),
            ("category", "collective assets"),
            ("description", "修缮村东道路（说明）"),
        ] {
            doc.put(&fields, k, v).unwrap();
        }
        for list in ["events", "comments", "edits"] {
            doc.put_object(ROOT, list, ObjType::List).unwrap();
        }
        Draft {
            id,
            doc,
            before: Vec::new(),
        }
    }

    /// The hub's copy of `id`, opened by the holder of `actor_hex`.
    fn from_hub(hub: &TestHub, id: Uuid, actor_hex: &str) -> Draft {
        let record = hub.storage.document(id).unwrap().expect("the hub holds it");
        let mut doc = AutoCommit::load(&record.bytes)
            .unwrap()
            .with_actor(actor(actor_hex));
        let before = doc.get_heads();
        Draft { id, doc, before }
    }

    fn obj(&self, key: &str) -> ObjId {
        match self.doc.get(ROOT, key).unwrap() {
            Some((automerge::Value::Object(_), id)) => id,
            other => panic!("{key} is not an object: {other:?}"),
        }
    }

    fn set(&mut self, key: &str, value: impl Into<ScalarValue>) {
        self.doc.put(ROOT, key, value).unwrap();
    }

    fn set_in(&mut self, map: &str, key: &str, value: impl Into<ScalarValue>) {
        let obj = self.obj(map);
        self.doc.put(&obj, key, value).unwrap();
    }

    fn delete_in(&mut self, map: &str, key: &str) {
        let obj = self.obj(map);
        self.doc.delete(&obj, key).unwrap();
    }

    /// Appends an entry (its JSON, see [`entry!`]) to a log.
    fn append(&mut self, list: &str, json: String) {
        let obj = self.obj(list);
        let len = self.doc.length(&obj);
        self.doc.insert(&obj, len, json).unwrap();
    }

    fn receipt(&self) -> String {
        match self.doc.get(ROOT, "receipt_no").unwrap() {
            Some((v, _)) => v.into_string().unwrap(),
            None => panic!("no receipt number"),
        }
    }

    fn event_ids(&self) -> Vec<EventId> {
        let list = self.obj("events");
        (0..self.doc.length(&list))
            .map(|i| {
                let (v, _) = self.doc.get(&list, i).unwrap().unwrap();
                let e: Json = serde_json::from_str(&v.into_string().unwrap()).unwrap();
                serde_json::from_value(e["id"].clone()).unwrap()
            })
            .collect()
    }

    fn comment(&mut self, by: Stamp, text: &str) {
        self.append(
            "comments",
            entry!(Comment {
                id: Uuid::new_v4(),
                by,
                text: text.into(),
            }),
        );
    }

    fn request_event(&mut self, by: Stamp, action: Action) -> EventId {
        let after = self.event_ids().last().copied().into_iter().collect();
        let id = EventId::new();
        self.append(
            "events",
            entry!(Event {
                id,
                after,
                by,
                action,
            }),
        );
        id
    }

    fn agenda_event(&mut self, by: Stamp, action: AgendaAction) -> EventId {
        let after = self.event_ids().last().copied().into_iter().collect();
        let id = EventId::new();
        self.append(
            "events",
            entry!(AgendaEvent {
                id,
                after,
                by,
                action,
            }),
        );
        id
    }

    fn attach(&mut self, by: Stamp, sha256: &str) {
        self.append(
            "attachments",
            entry!(AttachmentRef {
                id: Uuid::new_v4(),
                sha256: sha256.into(),
                media_type: MediaType::Jpeg,
                size: 1000,
                material: "ID card".into(),
                by,
            }),
        );
    }

    /// The changes made since the draft was opened (committing pending ones).
    fn changes(&mut self) -> Vec<Vec<u8>> {
        self.doc.commit();
        self.doc
            .get_changes(&self.before)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// One round: forged documents refused, storing nothing; valid neighbours accepted

/// What the hub holds of one document.
#[derive(Debug, PartialEq, Eq)]
enum Held {
    Absent,
    At { heads: Vec<[u8; 32]>, audit: usize },
}

fn held(hub: &TestHub, id: Uuid) -> Held {
    match hub.storage.document(id).unwrap() {
        None => Held::Absent,
        Some(record) => {
            let mut heads = HubDocument::load(&record.bytes).unwrap().heads();
            heads.sort();
            Held::At {
                heads,
                audit: hub.storage.audit(id).unwrap().len(),
            }
        }
    }
}

/// A forged draft and what its refusal must say.
struct Forged<'a> {
    draft: &'a mut Draft,
    code: &'static str,
    field: &'static str,
}

fn forged<'a>(draft: &'a mut Draft, code: &'static str, field: &'static str) -> Forged<'a> {
    Forged { draft, code, field }
}

/// Pushes every forged and valid draft in one round (forged first) and asserts: each forged one
/// refused with its code and field, the hub's copy of it unchanged (absent if new); each valid
/// one accepted, held by the hub at the draft's heads, and the hub's counts grown by exactly the
/// valid documents and changes.
fn one_round(
    hub: &TestHub,
    dev: &RawDevice,
    forged: Vec<Forged<'_>>,
    valid: Vec<&mut Draft>,
) -> Reply {
    round_in_order(hub, dev, forged, valid, false)
}

/// [`one_round`], with the valid drafts pushed first when `valid_first`.
fn round_in_order(
    hub: &TestHub,
    dev: &RawDevice,
    mut forged: Vec<Forged<'_>>,
    mut valid: Vec<&mut Draft>,
    valid_first: bool,
) -> Reply {
    let held_before: Vec<Held> = forged.iter().map(|f| held(hub, f.draft.id)).collect();
    let valid_new = valid
        .iter()
        .filter(|d| held(hub, d.id) == Held::Absent)
        .count() as u64;
    let valid_changes: u64 = valid.iter_mut().map(|d| d.changes().len() as u64).sum();
    let counts = hub.storage.counts().unwrap();

    let mut drafts: Vec<&mut Draft> = Vec::new();
    if valid_first {
        drafts.extend(valid.iter_mut().map(|d| &mut **d));
        drafts.extend(forged.iter_mut().map(|f| &mut *f.draft));
    } else {
        drafts.extend(forged.iter_mut().map(|f| &mut *f.draft));
        drafts.extend(valid.iter_mut().map(|d| &mut **d));
    }
    let reply = dev.round(&mut drafts);
    assert_eq!(reply.status, 200, "{}", reply.text);

    for (f, before) in forged.iter().zip(&held_before) {
        reply.assert_refused(f.draft.id, f.code, f.field);
        assert_eq!(&held(hub, f.draft.id), before, "nothing of it stored");
    }
    for d in &mut valid {
        let r = reply.result(d.id);
        assert_eq!(r["status"], "accepted", "the valid neighbour: {r}");
        let mut heads: Vec<[u8; 32]> = d.doc.get_heads().iter().map(|h| h.0).collect();
        heads.sort();
        match held(hub, d.id) {
            Held::At {
                heads: hub_heads, ..
            } => assert_eq!(hub_heads, heads),
            Held::Absent => panic!("the valid neighbour is not on the hub"),
        }
    }
    assert_eq!(
        hub.storage.counts().unwrap(),
        (counts.0 + valid_new, counts.1 + valid_changes),
        "only the valid documents were stored"
    );
    // Later rounds build on what the hub now holds.
    for d in valid {
        d.before = d.doc.get_heads();
    }
    reply
}

fn start() -> (TestHub, RawDevice) {
    let hub = TestHub::start();
    let clerk = RawDevice::enrol(&hub, CLERK, "east-raw");
    (hub, clerk)
}

/// A valid request, already on the hub.
fn filed(hub: &TestHub, dev: &RawDevice) -> Draft {
    let mut d = Draft::request(dev);
    one_round(hub, dev, vec![], vec![&mut d]);
    d
}

// ---------------------------------------------------------------------------------------------
// Required attributes

#[test]
fn a_new_request_without_its_items_required_attribute_is_invalid() {
    let (hub, clerk) = start();
    let mut missing = Draft::request(&clerk);
    missing.delete_in("attributes", "reason");
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![forged(&mut missing, "invalid", "attributes.reason")],
        vec![&mut valid],
    );
}

#[test]
fn a_later_change_clearing_a_required_attribute_is_invalid() {
    let (hub, clerk) = start();
    let original = filed(&hub, &clerk);
    let mut cleared = Draft::from_hub(&hub, original.id, &clerk.actor);
    cleared.delete_in("attributes", "reason");
    cleared.append(
        "edits",
        entry!(EditRecord {
            by: clerk.stamp(),
            field: "attributes.reason".into(),
        }),
    );
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![forged(&mut cleared, "invalid", "attributes.reason")],
        vec![&mut valid],
    );
}

// ---------------------------------------------------------------------------------------------
// Texts

#[test]
fn comments_of_2001_characters_or_blank_are_invalid() {
    let (hub, clerk) = start();
    let on_hub = filed(&hub, &clerk);

    let mut long = Draft::request(&clerk);
    long.comment(clerk.stamp(), &"字".repeat(2001));
    let mut blank = Draft::from_hub(&hub, on_hub.id, &clerk.actor);
    blank.comment(clerk.stamp(), "   ");
    let mut empty = Draft::request(&clerk);
    empty.comment(clerk.stamp(), "");
    let mut padded = Draft::request(&clerk);
    padded.comment(clerk.stamp(), " 已电话联系 ");
    // Exactly 2000 characters (6000 bytes) is a comment.
    let mut longest = Draft::request(&clerk);
    longest.comment(clerk.stamp(), &"字".repeat(2000));
    one_round(
        &hub,
        &clerk,
        vec![
            forged(&mut long, "invalid", "comment"),
            forged(&mut blank, "invalid", "comment"),
            forged(&mut empty, "invalid", "comment"),
            forged(&mut padded, "invalid", "comment"),
        ],
        vec![&mut longest],
    );
}

#[test]
fn agenda_titles_over_200_and_descriptions_over_10000_characters_are_invalid() {
    let (hub, clerk) = start();
    let mut title = Draft::agenda(&clerk);
    title.set_in("fields", "title", "题".repeat(201));
    let mut description = Draft::agenda(&clerk);
    description.set_in("fields", "description", "述".repeat(10_001));
    let mut category = Draft::agenda(&clerk);
    category.set_in("fields", "category", "c".repeat(101));
    let mut blank_title = Draft::agenda(&clerk);
    blank_title.set_in("fields", "title", " ");
    let mut longest = Draft::agenda(&clerk);
    longest.set_in("fields", "title", "题".repeat(200));
    longest.set_in("fields", "description", "述".repeat(10_000));
    one_round(
        &hub,
        &clerk,
        vec![
            forged(&mut title, "invalid", "title"),
            forged(&mut description, "invalid", "description"),
            forged(&mut category, "invalid", "category"),
            forged(&mut blank_title, "invalid", "title"),
        ],
        vec![&mut longest],
    );

    // A later edit over the limit, recorded, is refused too.
    let mut edited = Draft::from_hub(&hub, longest.id, &clerk.actor);
    edited.set_in("fields", "title", "题".repeat(201));
    edited.append(
        "edits",
        entry!(EditRecord {
            by: clerk.stamp(),
            field: "title".into(),
        }),
    );
    let mut valid = Draft::agenda(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![forged(&mut edited, "invalid", "title")],
        vec![&mut valid],
    );
}

// ---------------------------------------------------------------------------------------------
// Receipt numbers

#[test]
fn a_receipt_number_carrying_another_devices_number_is_invalid() {
    let (hub, clerk) = start();
    let other = RawDevice::enrol(&hub, CLERK, "east-raw-2");
    assert_ne!(other.device_no, clerk.device_no);
    let mut stolen = Draft::request(&clerk);
    stolen.set("receipt_no", other.receipt());
    let mut valid = Draft::request(&clerk);
    let reply = one_round(
        &hub,
        &clerk,
        vec![forged(&mut stolen, "invalid", "receipt_no")],
        vec![&mut valid],
    );
    let reason = reply.result(stolen.id)["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("{:03}", clerk.device_no)),
        "names the sender's number: {reason}"
    );
}

fn lookup(hub: &TestHub, receipt_no: &str, last4: &str) -> (u16, String) {
    let (cookie, token) = lookup_form(&hub.url);
    let mut resp = agent()
        .post(&format!("{}/lookup?lang=en", hub.url))
        .header("Cookie", &cookie)
        .send_form([
            ("receipt_no", receipt_no),
            ("id_last4", last4),
            ("token", &token),
        ])
        .expect("the hub answers");
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

/// The public look-up finds `original` by its receipt number and ID ending, and nothing with
/// the ID ending of the refused duplicate.
fn assert_lookup_shows_only(hub: &TestHub, original: &Draft) {
    let receipt = original.receipt();
    let (status, page) = lookup(hub, &receipt, "002X");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&receipt), "{page}");
    assert!(page.contains("Status"), "{page}");
    let other = other_id_number();
    let (status, page) = lookup(hub, &receipt, &other[other.len() - 4..]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("No request matches both the receipt number and the ID number"),
        "the duplicate is not found: {page}"
    );
    let found = hub
        .state
        .engine
        .lookup_receipt(&receipt, "002X")
        .unwrap()
        .expect("found");
    assert_eq!(found.id, original.id);
    assert_eq!(found.applicant.id_number, ID_NUMBER);
    assert!(
        hub.state
            .engine
            .lookup_receipt(&receipt, &other[other.len() - 4..])
            .unwrap()
            .is_none()
    );
}

fn duplicate_of(clerk: &RawDevice, original: &Draft) -> Draft {
    let mut dup = Draft::request(clerk);
    dup.set("receipt_no", original.receipt());
    dup.set_in("fields", "id_number", other_id_number());
    dup
}

#[test]
fn a_second_request_reusing_a_receipt_number_is_refused_and_the_look_up_shows_the_original() {
    let (hub, clerk) = start();
    let original = filed(&hub, &clerk);
    let mut dup = duplicate_of(&clerk, &original);
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![forged(&mut dup, "duplicate_receipt", "receipt_no")],
        vec![&mut valid],
    );
    assert_lookup_shows_only(&hub, &original);
}

#[test]
fn two_new_requests_with_one_receipt_number_in_one_round_keep_only_the_first() {
    let (hub, clerk) = start();
    let mut original = Draft::request(&clerk);
    let mut dup = duplicate_of(&clerk, &original);
    round_in_order(
        &hub,
        &clerk,
        vec![forged(&mut dup, "duplicate_receipt", "receipt_no")],
        vec![&mut original],
        true,
    );
    assert_lookup_shows_only(&hub, &original);
}

#[test]
fn new_requests_with_one_receipt_number_in_concurrent_rounds_keep_exactly_one() {
    let (hub, clerk) = start();
    let original = Draft::request(&clerk);
    // Different ids, so their checks run under different stripe locks.
    let mut copies: Vec<Draft> = (0..8).map(|_| duplicate_of(&clerk, &original)).collect();
    let replies: Vec<(Uuid, Reply)> = std::thread::scope(|s| {
        let clerk = &clerk;
        let rounds: Vec<_> = copies
            .iter_mut()
            .map(|d| s.spawn(move || (d.id, clerk.round(&mut [d]))))
            .collect();
        rounds.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let accepted: Vec<Uuid> = replies
        .iter()
        .filter(|(id, r)| r.result(*id)["status"] == "accepted")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(accepted.len(), 1, "exactly one copy accepted");
    for (id, r) in &replies {
        if *id != accepted[0] {
            r.assert_refused(*id, "duplicate_receipt", "receipt_no");
            assert_eq!(held(&hub, *id), Held::Absent);
        }
    }
}

#[test]
fn new_requests_with_one_receipt_number_through_two_hub_processes_keep_exactly_one() {
    // Two instances on one PostgreSQL schema: each checks against the stored index, which
    // holds neither copy until one commits.
    let Some(pair) = TestHub::pair() else { return };
    let clerk = RawDevice::enrol(&pair.a, CLERK, "east-raw");
    for attempt in 0..3 {
        let original = Draft::request(&clerk);
        let mut copies: Vec<Draft> = (0..8).map(|_| duplicate_of(&clerk, &original)).collect();
        let replies: Vec<(Uuid, Reply)> = std::thread::scope(|s| {
            let clerk = &clerk;
            let rounds: Vec<_> = copies
                .iter_mut()
                .zip([&pair.a, &pair.b].into_iter().cycle())
                .map(|(d, hub)| s.spawn(move || (d.id, clerk.round_at(&hub.url, &mut [d]))))
                .collect();
            rounds.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let accepted: Vec<Uuid> = replies
            .iter()
            .filter(|(id, r)| r.status == 200 && r.result(*id)["status"] == "accepted")
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(
            accepted.len(),
            1,
            "attempt {attempt}: exactly one copy accepted"
        );
        for (id, r) in &replies {
            if *id == accepted[0] {
                continue;
            }
            // A round that lost the race twice is answered 503 and resent by the tablet: it
            // must then be refused like the others.
            let resent;
            let r = if r.status == 503 {
                let copy = copies.iter_mut().find(|d| d.id == *id).unwrap();
                resent = clerk.round_at(&pair.b.url, &mut [copy]);
                &resent
            } else {
                r
            };
            r.assert_refused(*id, "duplicate_receipt", "receipt_no");
            assert_eq!(held(&pair.a, *id), Held::Absent);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Device times and dates

#[test]
fn filing_times_in_1970_or_years_ahead_are_implausible() {
    let (hub, clerk) = start();
    let now = Timestamp::now().0;
    let in_three_years = Timestamp(now + 3 * 365 * DAY_MS);
    let created_at = |at: Timestamp| {
        let mut d = Draft::request(&clerk);
        d.set(
            "created",
            serde_json::to_string(&clerk.stamp_at(at)).unwrap(),
        );
        d
    };
    // The event's stamp: the request's only event, replaced before anything is committed.
    let event_at = |at: Timestamp| {
        let mut d = Draft::request(&clerk);
        let events = d.obj("events");
        d.doc.delete(&events, 0).unwrap();
        d.append(
            "events",
            entry!(Event {
                id: EventId::new(),
                after: vec![],
                by: clerk.stamp_at(at),
                action: Action::Submit,
            }),
        );
        d
    };
    let comment_at = |at: Timestamp| {
        let mut d = Draft::request(&clerk);
        d.comment(clerk.stamp_at(at), "补交照片");
        d
    };
    let mut created_1970 = created_at(Timestamp(0));
    let mut created_future = created_at(in_three_years);
    let mut created_before_floor = created_at(Timestamp(DEVICE_TIME_FLOOR.0 - 1));
    let mut event_1970 = event_at(Timestamp(86_400_000));
    let mut event_future = event_at(in_three_years);
    let mut comment_1970 = comment_at(Timestamp(0));
    let mut valid = Draft::request(&clerk);
    // Within the 24 hours a tablet's clock may run ahead.
    let mut ahead = created_at(Timestamp(now + 23 * 3600 * 1000));
    one_round(
        &hub,
        &clerk,
        vec![
            forged(&mut created_1970, "implausible_time", "at"),
            forged(&mut created_future, "implausible_time", "at"),
            forged(&mut created_before_floor, "implausible_time", "at"),
            forged(&mut event_1970, "implausible_time", "at"),
            forged(&mut event_future, "implausible_time", "at"),
            forged(&mut comment_1970, "implausible_time", "at"),
        ],
        vec![&mut valid, &mut ahead],
    );

    // On a document the hub holds: a new event dated 1970.
    let mut later = Draft::from_hub(&hub, valid.id, &clerk.actor);
    let after = later.event_ids();
    later.append(
        "events",
        entry!(Event {
            id: EventId::new(),
            after,
            by: clerk.stamp_at(Timestamp(0)),
            action: Action::Accept,
        }),
    );
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![forged(&mut later, "implausible_time", "at")],
        vec![&mut valid],
    );
}

fn meeting(body: Body, held_on: NaiveDate) -> Meeting {
    Meeting {
        body,
        held_on,
        entitled: 5,
        present: 5,
        households: None,
        households_represented: None,
        votes_for: 4,
        votes_against: 0,
        abstentions: 1,
        minutes: "会议记录".into(),
        sign_in_photos: vec!["sign-in-sheet".into()],
    }
}

#[test]
fn agenda_dates_far_outside_the_calendar_are_invalid() {
    let (hub, clerk) = start();
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let today = Timestamp::now().china_date();
    let mut forgeries: Vec<(Draft, &'static str)> = Vec::new();
    for held_on in [
        date(9999, 12, 31),
        NaiveDate::MAX,
        NaiveDate::MIN,
        date(1999, 12, 31),
        date(2101, 1, 1),
        date(0, 1, 1),
    ] {
        let mut d = Draft::agenda(&clerk);
        d.agenda_event(
            clerk.stamp(),
            AgendaAction::Meeting(meeting(Body::PartyBranch, held_on)),
        );
        forgeries.push((d, "meeting.held_on"));
    }
    for posted_on in [date(9999, 12, 31), NaiveDate::MAX] {
        let mut d = Draft::agenda(&clerk);
        d.agenda_event(
            clerk.stamp(),
            AgendaAction::ResolutionNotice(Notice {
                text: "决议公开".into(),
                posted_on,
                period_days: u32::MAX,
                place: "村务公开栏".into(),
            }),
        );
        forgeries.push((d, "notice.posted_on"));
    }
    let mut d = Draft::agenda(&clerk);
    d.agenda_event(
        clerk.stamp(),
        AgendaAction::Objection(Objection {
            received_on: NaiveDate::MIN,
            summary: "有异议".into(),
            response: String::new(),
        }),
    );
    forgeries.push((d, "objection.received_on"));
    // A later meeting on an item the hub holds, dated year 9999.
    let mut on_hub = Draft::agenda(&clerk);
    on_hub.agenda_event(
        clerk.stamp(),
        AgendaAction::Meeting(meeting(
            Body::PartyBranch,
            today.checked_sub_days(Days::new(20)).unwrap(),
        )),
    );
    let mut first = Draft::agenda(&clerk);
    one_round(&hub, &clerk, vec![], vec![&mut on_hub, &mut first]);
    let mut later = Draft::from_hub(&hub, on_hub.id, &clerk.actor);
    later.agenda_event(
        clerk.stamp(),
        AgendaAction::Meeting(meeting(Body::TwoCommittees, date(9999, 12, 31))),
    );
    forgeries.push((later, "meeting.held_on"));

    // The valid neighbour: an item with its first meeting, on the calendar's first day.
    let mut valid = Draft::agenda(&clerk);
    valid.agenda_event(
        clerk.stamp(),
        AgendaAction::Meeting(meeting(Body::PartyBranch, date(2000, 1, 1))),
    );
    let reply = one_round(
        &hub,
        &clerk,
        forgeries
            .iter_mut()
            .map(|(d, field)| forged(d, "invalid", field))
            .collect(),
        vec![&mut valid],
    );
    assert_eq!(reply.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Layout, scope and signatures

#[test]
fn an_unknown_key_with_a_big_value_is_refused_as_schema() {
    let (hub, clerk) = start();
    let big = "x".repeat(1024 * 1024);
    let mut root = Draft::request(&clerk);
    root.set("payload", big.as_str());
    let mut nested = Draft::request(&clerk);
    let obj = nested
        .doc
        .put_object(ROOT, "extra_map", ObjType::Map)
        .unwrap();
    for i in 0..2000 {
        nested.doc.put(&obj, format!("k{i}"), i as i64).unwrap();
    }
    let mut in_fields = Draft::request(&clerk);
    in_fields.set_in("fields", "nickname", big.as_str());
    let mut agenda = Draft::agenda(&clerk);
    agenda.set("payload", big.as_str());
    let on_hub = filed(&hub, &clerk);
    let mut later = Draft::from_hub(&hub, on_hub.id, &clerk.actor);
    later.set("payload", big.as_str());
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![
            forged(&mut root, "schema", "payload"),
            forged(&mut nested, "schema", "extra_map"),
            forged(&mut in_fields, "schema", "fields.nickname"),
            forged(&mut agenda, "schema", "payload"),
            forged(&mut later, "schema", "payload"),
        ],
        vec![&mut valid],
    );
}

#[test]
fn an_east_request_cannot_refer_to_a_file_a_west_request_refers_to() {
    let (hub, east) = start();
    admin::add_user(hub.storage.as_ref(), "clerk-west", "", Role::Clerk, WEST).unwrap();
    let west = RawDevice::enrol(&hub, "clerk-west", "west-raw");
    assert_eq!(west.identity.area, WEST);
    let west_file = "5e".repeat(32);
    let mut west_request = Draft::request(&west);
    west_request.attach(west.stamp(), &west_file);
    one_round(&hub, &west, vec![], vec![&mut west_request]);

    let mut peeking = Draft::request(&east);
    peeking.attach(east.stamp(), &west_file);
    // The same, added later to a request the hub holds.
    let on_hub = filed(&hub, &east);
    let mut later = Draft::from_hub(&hub, on_hub.id, &east.actor);
    later.attach(east.stamp(), &west_file);
    let mut valid = Draft::request(&east);
    valid.attach(east.stamp(), &"ea".repeat(32));
    one_round(
        &hub,
        &east,
        vec![
            forged(&mut peeking, "forbidden", "attachment"),
            forged(&mut later, "forbidden", "attachment"),
        ],
        vec![&mut valid],
    );
}

#[test]
fn entries_of_a_new_request_signed_as_the_township_reviewer_are_forged_author() {
    let (hub, clerk) = start();
    let reviewer = RawDevice::enrol(&hub, REVIEWER, "township-desk");
    let mut comment = Draft::request(&clerk);
    comment.comment(reviewer.stamp(), "镇上已审核");
    let mut edit = Draft::request(&clerk);
    edit.append(
        "edits",
        entry!(EditRecord {
            by: reviewer.stamp(),
            field: "phone".into(),
        }),
    );
    let mut event = Draft::request(&clerk);
    let after = event.event_ids();
    event.append(
        "events",
        entry!(Event {
            id: EventId::new(),
            after,
            by: reviewer.stamp(),
            action: Action::Approve {
                note: "同意".into(),
            },
        }),
    );
    let mut created = Draft::request(&clerk);
    created.set("created", serde_json::to_string(&reviewer.stamp()).unwrap());
    // Half forged: the clerk's user and role on the reviewer's device.
    let mut half = Draft::request(&clerk);
    let mut stamp = clerk.stamp();
    stamp.device = reviewer.identity.device.clone();
    half.comment(stamp, "冒充");
    let mut valid = Draft::request(&clerk);
    valid.comment(clerk.stamp(), "已电话联系申请人");
    one_round(
        &hub,
        &clerk,
        vec![
            forged(&mut comment, "forged_author", "comment"),
            forged(&mut edit, "forged_author", "edit record"),
            forged(&mut event, "forged_author", "event"),
            forged(&mut created, "forged_author", "request"),
            forged(&mut half, "forged_author", "comment"),
        ],
        vec![&mut valid],
    );
}

// ---------------------------------------------------------------------------------------------
// Fields

#[test]
fn a_time_limit_of_thousands_of_days_is_invalid() {
    let (hub, clerk) = start();
    let mut thousands = Draft::request(&clerk);
    thousands.set("time_limit_days", 5000i64);
    let mut one_over = Draft::request(&clerk);
    one_over.set("time_limit_days", 366i64);
    let mut u32_max = Draft::request(&clerk);
    u32_max.set("time_limit_days", i64::from(u32::MAX));
    let mut valid = Draft::request(&clerk);
    // The domain's bound itself is a time limit a tablet's catalog may have promised.
    let mut longest = Draft::request(&clerk);
    longest.set("time_limit_days", 365i64);
    one_round(
        &hub,
        &clerk,
        vec![
            forged(&mut thousands, "invalid", "time_limit_days"),
            forged(&mut one_over, "invalid", "time_limit_days"),
            forged(&mut u32_max, "invalid", "time_limit_days"),
        ],
        vec![&mut valid, &mut longest],
    );
}

#[test]
fn an_id_number_or_phone_changed_without_an_edit_record_is_unrecorded_edit() {
    let (hub, clerk) = start();
    let original = filed(&hub, &clerk);
    let mut id = Draft::from_hub(&hub, original.id, &clerk.actor);
    id.set_in("fields", "id_number", other_id_number());
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![forged(&mut id, "unrecorded_edit", "id_number")],
        vec![&mut valid],
    );
    // A record naming another field does not cover it.
    let mut mislabelled = Draft::from_hub(&hub, original.id, &clerk.actor);
    mislabelled.set_in("fields", "phone", "13900001111");
    mislabelled.append(
        "edits",
        entry!(EditRecord {
            by: clerk.stamp(),
            field: "grid".into(),
        }),
    );
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![forged(&mut mislabelled, "unrecorded_edit", "phone")],
        vec![&mut valid],
    );
    // Recorded, the same change of the ID number is accepted.
    let mut recorded = Draft::from_hub(&hub, original.id, &clerk.actor);
    recorded.set_in("fields", "id_number", other_id_number());
    recorded.append(
        "edits",
        entry!(EditRecord {
            by: clerk.stamp(),
            field: "id_number".into(),
        }),
    );
    one_round(&hub, &clerk, vec![], vec![&mut recorded]);
}

// ---------------------------------------------------------------------------------------------
// Materials

fn waive(material: &str, reason: &str) -> Action {
    Action::WaiveMaterial {
        material: material.into(),
        reason: reason.into(),
    }
}

#[test]
fn an_acceptance_with_a_material_outstanding_is_invalid_until_it_is_waived_with_a_reason() {
    let (hub, clerk) = start();
    // Filed without the photo: filing is allowed, accepting is not.
    let mut no_photo = Draft::request(&clerk);
    no_photo.delete_in("materials", "Recent photo");
    one_round(&hub, &clerk, vec![], vec![&mut no_photo]);

    let mut accept = Draft::from_hub(&hub, no_photo.id, &clerk.actor);
    accept.request_event(clerk.stamp(), Action::Accept);
    let mut blank = Draft::from_hub(&hub, no_photo.id, &clerk.actor);
    blank.request_event(clerk.stamp(), waive("Recent photo", "  "));
    blank.request_event(clerk.stamp(), Action::Accept);
    let mut other = Draft::from_hub(&hub, no_photo.id, &clerk.actor);
    other.request_event(clerk.stamp(), waive("ID card", "已核验"));
    other.request_event(clerk.stamp(), Action::Accept);
    let mut valid = Draft::request(&clerk);
    let reply = one_round(
        &hub,
        &clerk,
        vec![
            forged(
                &mut accept,
                "invalid",
                "accept: materials neither received nor waived",
            ),
            forged(&mut blank, "invalid", "reason"),
            forged(&mut other, "invalid", "Recent photo"),
        ],
        vec![&mut valid],
    );
    assert!(
        reply.result(accept.id)["reason"]
            .as_str()
            .unwrap()
            .contains("Recent photo"),
        "the refusal names the outstanding material"
    );

    // Waived with a reason, the same acceptance is accepted.
    let mut waived = Draft::from_hub(&hub, no_photo.id, &clerk.actor);
    waived.request_event(
        clerk.stamp(),
        waive("Recent photo", "申请人卧床，照片下周补交"),
    );
    waived.request_event(clerk.stamp(), Action::Accept);
    one_round(&hub, &clerk, vec![], vec![&mut waived]);
}

#[test]
fn an_approval_with_a_material_unmarked_since_acceptance_is_invalid_until_the_township_waives_it() {
    let (hub, clerk) = start();
    let reviewer = RawDevice::enrol(&hub, REVIEWER, "township-desk");
    let d = filed(&hub, &clerk);
    let mut accepted = Draft::from_hub(&hub, d.id, &clerk.actor);
    accepted.request_event(clerk.stamp(), Action::Accept);
    // One write per change, as a tablet makes them; all pushed in one round. The acceptance is
    // judged on the materials when it was written.
    accepted.doc.commit();
    // The photo turned out unusable: the clerk unmarks it (recorded) and forwards anyway.
    accepted.set_in("materials", "Recent photo", false);
    accepted.append(
        "edits",
        entry!(EditRecord {
            by: clerk.stamp(),
            field: "materials.Recent photo".into(),
        }),
    );
    accepted.request_event(clerk.stamp(), Action::Forward);
    one_round(&hub, &clerk, vec![], vec![&mut accepted]);

    let approve = Action::Approve {
        note: String::new(),
    };
    let mut approval = Draft::from_hub(&hub, d.id, &reviewer.actor);
    approval.request_event(reviewer.stamp(), approve.clone());
    // A clerk may not waive once the request is with the township.
    let mut clerk_waiver = Draft::from_hub(&hub, d.id, &clerk.actor);
    clerk_waiver.request_event(clerk.stamp(), waive("Recent photo", "村里担保"));
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![forged(&mut clerk_waiver, "forbidden", "waive_material")],
        vec![&mut valid],
    );
    let reply = reviewer.round(&mut [&mut approval]);
    reply.assert_refused(
        approval.id,
        "invalid",
        "approve: materials neither received nor waived: Recent photo",
    );

    let mut waived = Draft::from_hub(&hub, d.id, &reviewer.actor);
    waived.request_event(reviewer.stamp(), waive("Recent photo", "户籍系统已有照片"));
    waived.request_event(reviewer.stamp(), approve);
    let reply = reviewer.round(&mut [&mut waived]);
    assert_eq!(reply.result(d.id)["status"], "accepted", "{}", reply.text);
}

// ---------------------------------------------------------------------------------------------
// Caps

fn submit(by: Stamp, after: Vec<EventId>) -> Event {
    Event {
        id: EventId::new(),
        after,
        by,
        action: Action::Submit,
    }
}

#[test]
fn a_document_past_its_caps_or_a_change_of_too_many_operations_is_too_large() {
    let (hub, clerk) = start();
    let mut events = Draft::request(&clerk);
    for _ in 0..500 {
        events.append("events", entry!(submit(clerk.stamp(), vec![])));
    }
    let mut comments = Draft::request(&clerk);
    for i in 0..1001 {
        comments.comment(clerk.stamp(), &format!("第{i}条"));
    }
    let mut operations = Draft::request(&clerk);
    for i in 0..20_001 {
        operations.set_in("materials", &format!("m{i}"), false);
    }
    // A document the hub holds (one event) given 500 more.
    let on_hub = filed(&hub, &clerk);
    let mut grown = Draft::from_hub(&hub, on_hub.id, &clerk.actor);
    for _ in 0..500 {
        grown.append(
            "events",
            entry!(Event {
                id: EventId::new(),
                after: vec![],
                by: clerk.stamp(),
                action: Action::Accept,
            }),
        );
    }
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![
            forged(&mut events, "too_large", "500 event"),
            forged(&mut comments, "too_large", "1000 comment"),
            forged(&mut operations, "too_large", "operations"),
            forged(&mut grown, "too_large", "500 event"),
        ],
        vec![&mut valid],
    );
}

#[test]
fn an_event_naming_more_than_16_seen_events_is_too_large() {
    let (hub, clerk) = start();
    let mut new = Draft::request(&clerk);
    let events = new.obj("events");
    new.doc.delete(&events, 0).unwrap();
    new.append(
        "events",
        entry!(submit(
            clerk.stamp(),
            (0..17).map(|_| EventId::new()).collect()
        )),
    );
    // The same id 17 times is no better.
    let mut repeated = Draft::request(&clerk);
    let tip = repeated.event_ids()[0];
    repeated.append(
        "events",
        entry!(Event {
            id: EventId::new(),
            after: vec![tip; 17],
            by: clerk.stamp(),
            action: Action::Accept,
        }),
    );
    let on_hub = filed(&hub, &clerk);
    let mut later = Draft::from_hub(&hub, on_hub.id, &clerk.actor);
    let mut after = later.event_ids();
    after.extend((0..16).map(|_| EventId::new()));
    later.append(
        "events",
        entry!(Event {
            id: EventId::new(),
            after,
            by: clerk.stamp(),
            action: Action::Accept,
        }),
    );
    let mut valid = Draft::request(&clerk);
    one_round(
        &hub,
        &clerk,
        vec![
            forged(&mut new, "too_large", "16 seen event"),
            forged(&mut repeated, "too_large", "16 seen event"),
            forged(&mut later, "too_large", "16 seen event"),
        ],
        vec![&mut valid],
    );
}

#[test]
fn the_second_id_number_is_valid() {
    assert_eq!(id_number("11010519491231002"), ID_NUMBER);
    assert!(bianmin_domain::NationalId::parse(&other_id_number()).is_ok());
}
