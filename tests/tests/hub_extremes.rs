//! Extreme values against one real hub: each round pushes a valid new request and a forged
//! document holding an extreme value (timestamps at the ends of `i64`, dates at the ends of
//! `NaiveDate`, periods and time limits at the ends of their integers, NaN and infinities,
//! 100 KB strings in every text field, empty strings, absurd `after` lists, values of the wrong
//! Automerge type). The hub must answer every round with 200, refuse the forged document with
//! a documented code, store nothing of it, accept the valid neighbour (readable on the hub
//! afterwards) and keep serving.
//!
//! `every_extreme_once` pushes each representative value once and reports every failure at
//! once; the proptest draws random ones near the same edges.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use bianmin_document::Document as HubDocument;
use bianmin_document::layout::request::{Comment, EditRecord};
use bianmin_domain::{
    Action, AgendaAction, AgendaEvent, AttachmentRef, Body, DEVICE_TIME_FLOOR, Event, EventId,
    Identity, MediaType, Meeting, Notice, Objection, ReceiptNo, Stamp, Timestamp,
};
use bianmin_protocol::{B64, EnrolRequest, EnrolResponse, PROTOCOL_VERSION, PushDoc, SyncRequest};
use bianmin_tests::hub::{CLERK, TestHub};
use bianmin_tests::raw::{agent, post_json};
use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value as Json;
use uuid::Uuid;

const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";
/// 2100-01-01T00:00:00Z: decades after any hub's clock.
const YEAR_2100_MS: i64 = 4_102_444_800_000;

/// The refusal codes of `docs/sync-protocol.md`.
const CODES: [&str; 14] = [
    "malformed",
    "too_large",
    "forged_actor",
    "replayed_change",
    "missing_dependencies",
    "schema",
    "immutable",
    "history_rewritten",
    "forged_author",
    "implausible_time",
    "unrecorded_edit",
    "duplicate_receipt",
    "forbidden",
    "invalid",
];

// ---------------------------------------------------------------------------------------------
// Raw HTTP (as in sync_refusals.rs)

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Json,
    text: String,
}

/// Posts `body`; an `Err` when the hub does not answer at all (a dropped connection).
fn post(url: &str, token: Option<&str>, body: &[u8]) -> Result<Reply, String> {
    let (status, text) = post_json(url, token, body)?;
    let body = serde_json::from_str(&text).unwrap_or(Json::Null);
    Ok(Reply { status, body, text })
}

fn cut(s: &str) -> String {
    s.chars().take(600).collect()
}

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
        )
        .unwrap();
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
        self.stamp_at(Timestamp::now().0)
    }

    fn stamp_at(&self, at: i64) -> Stamp {
        Stamp {
            user: self.identity.user.clone(),
            role: self.identity.role,
            device: self.identity.device.clone(),
            at: Timestamp(at),
        }
    }

    fn receipt(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        ReceiptNo::new(&self.identity.area, self.device_no, n).to_string()
    }

    fn round(&self, drafts: &mut [&mut Draft]) -> Result<Reply, String> {
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
        post(
            &format!("{}/api/v1/sync", self.url),
            Some(&self.token),
            &body,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Documents written by hand

macro_rules! entry {
    ($e:expr) => {
        serde_json::to_string(&$e).unwrap()
    };
}

struct Draft {
    id: Uuid,
    doc: AutoCommit,
    before: Vec<ChangeHash>,
}

fn actor(hex: &str) -> ActorId {
    ActorId::from_str(hex).expect("hex actor")
}

/// Which service item a request is for.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A social security card: a list attribute (`reason`), handled by the township.
    Card,
    /// Medical insurance enrolment: a number attribute (`household_size`), handled at the
    /// village.
    Medical,
}

impl Draft {
    /// A valid new request, submitted, filed by `dev` in its village.
    fn request(dev: &RawDevice, item: Item) -> Draft {
        let (code, level, limit, materials): (&str, &str, i64, &[&str]) = match item {
            Item::Card => (
                "SOC-CARD",
                "village_collects_township_handles",
                10,
                &["ID card", "Recent photo"],
            ),
            Item::Medical => ("SOC-MEDICAL-ENROL", "village", 0, &["ID card"]),
        };
        let mut doc = AutoCommit::new().with_actor(actor(&dev.actor));
        let id = Uuid::new_v4();
        let stamp = dev.stamp();
        doc.put(ROOT, "schema", "bianmin/request").unwrap();
        doc.put(ROOT, "version", 1i64).unwrap();
        doc.put(ROOT, "id", id.to_string()).unwrap();
        doc.put(ROOT, "receipt_no", dev.receipt()).unwrap();
        doc.put(ROOT, "item_code", code).unwrap();
        doc.put(ROOT, "village", dev.identity.area.as_str())
            .unwrap();
        doc.put(ROOT, "created", entry!(stamp)).unwrap();
        doc.put(ROOT, "level", level).unwrap();
        doc.put(ROOT, "time_limit_days", limit).unwrap();
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
        match item {
            Item::Card => doc.put(&attrs, "reason", "lost").unwrap(),
            Item::Medical => doc.put(&attrs, "household_size", 3.0).unwrap(),
        }
        let mats = doc.put_object(ROOT, "materials", ObjType::Map).unwrap();
        for m in materials {
            doc.put(&mats, *m, true).unwrap();
        }
        for list in ["events", "comments", "edits", "attachments"] {
            doc.put_object(ROOT, list, ObjType::List).unwrap();
        }
        let mut d = Draft {
            id,
            doc,
            before: Vec::new(),
        };
        d.event(stamp, Action::Submit);
        d
    }

    /// A valid new agenda item of `dev`'s village with `stage` of its records written:
    /// 0 none, 4 the four meetings, 5 and the resolution notice.
    fn agenda(dev: &RawDevice, stage: usize) -> Draft {
        let mut doc = AutoCommit::new().with_actor(actor(&dev.actor));
        let id = Uuid::new_v4();
        doc.put(ROOT, "schema", "bianmin/agenda").unwrap();
        doc.put(ROOT, "version", 1i64).unwrap();
        doc.put(ROOT, "id", id.to_string()).unwrap();
        doc.put(ROOT, "village", dev.identity.area.as_str())
            .unwrap();
        doc.put(ROOT, "created", entry!(dev.stamp())).unwrap();
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
        let mut d = Draft {
            id,
            doc,
            before: Vec::new(),
        };
        let bodies = [
            (Body::PartyBranch, 20, 5, 5, 4),
            (Body::TwoCommittees, 18, 9, 8, 6),
            (Body::PartyMembers, 15, 30, 24, 20),
            (Body::RepresentativesMeeting, 10, 35, 27, 21),
        ];
        for (body, ago, entitled, present, votes_for) in bodies.into_iter().take(stage) {
            let mut m = meeting(body, days_from_today(-ago));
            m.entitled = entitled;
            m.present = present;
            m.votes_for = votes_for;
            m.votes_against = present - votes_for - 1;
            d.agenda_event(dev.stamp(), AgendaAction::Meeting(m));
        }
        if stage >= 5 {
            d.agenda_event(
                dev.stamp(),
                AgendaAction::ResolutionNotice(notice(days_from_today(0), 10)),
            );
        }
        d
    }

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

    fn append(&mut self, list: &str, json: String) {
        let obj = self.obj(list);
        let len = self.doc.length(&obj);
        self.doc.insert(&obj, len, json).unwrap();
    }

    /// Replaces the entry at `index` of a log (in the same, uncommitted change).
    fn replace(&mut self, list: &str, index: usize, json: String) {
        let obj = self.obj(list);
        self.doc.put(&obj, index, json).unwrap();
    }

    fn receipt(&self) -> String {
        let (v, _) = self.doc.get(ROOT, "receipt_no").unwrap().unwrap();
        v.into_string().unwrap()
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

    /// Appends a request event after every event so far.
    fn event(&mut self, by: Stamp, action: Action) -> EventId {
        let id = EventId::new();
        let after = self.event_ids().last().copied().into_iter().collect();
        self.append(
            "events",
            entry!(Event {
                id,
                after,
                by,
                action
            }),
        );
        id
    }

    fn agenda_event(&mut self, by: Stamp, action: AgendaAction) -> EventId {
        let id = EventId::new();
        let after = self.event_ids().last().copied().into_iter().collect();
        self.append(
            "events",
            entry!(AgendaEvent {
                id,
                after,
                by,
                action
            }),
        );
        id
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

    fn edit(&mut self, by: Stamp, field: &str) {
        self.append(
            "edits",
            entry!(EditRecord {
                by,
                field: field.into(),
            }),
        );
    }

    fn attach(&mut self, by: Stamp, sha256: &str, material: &str) {
        self.append(
            "attachments",
            entry!(AttachmentRef {
                id: Uuid::new_v4(),
                sha256: sha256.into(),
                media_type: MediaType::Jpeg,
                size: 1000,
                material: material.into(),
                by,
            }),
        );
    }

    fn changes(&mut self) -> Vec<Vec<u8>> {
        self.doc.commit();
        self.doc
            .get_changes(&self.before)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }
}

fn days_from_today(n: i64) -> NaiveDate {
    let today = Timestamp::now().china_date();
    if n >= 0 {
        today.checked_add_days(Days::new(n as u64)).unwrap()
    } else {
        today.checked_sub_days(Days::new(n.unsigned_abs())).unwrap()
    }
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

fn notice(posted_on: NaiveDate, period_days: u32) -> Notice {
    Notice {
        text: "决议公开".into(),
        posted_on,
        period_days,
        place: "村务公开栏".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The extremes

/// Where an extreme device time goes.
#[derive(Debug, Clone, Copy)]
enum TimeSite {
    Created,
    Event,
    Comment,
    Edit,
    Attachment,
    AgendaCreated,
    AgendaMeeting,
    AgendaComment,
    /// A new event on a request the hub holds.
    LaterEvent,
    /// A new comment on a request the hub holds.
    LaterComment,
}

const TIME_SITES: [TimeSite; 10] = [
    TimeSite::Created,
    TimeSite::Event,
    TimeSite::Comment,
    TimeSite::Edit,
    TimeSite::Attachment,
    TimeSite::AgendaCreated,
    TimeSite::AgendaMeeting,
    TimeSite::AgendaComment,
    TimeSite::LaterEvent,
    TimeSite::LaterComment,
];

/// Where an extreme date goes.
#[derive(Debug, Clone, Copy)]
enum DateSite {
    /// The first meeting.
    FirstMeeting,
    /// The fourth meeting, after three valid ones.
    FourthMeeting,
    /// The resolution notice, after the four meetings.
    ResolutionNotice,
    /// The results notice, after the resolution notice.
    ResultsNotice,
    /// An objection while the resolution notice is posted.
    Objection,
}

const DATE_SITES: [DateSite; 5] = [
    DateSite::FirstMeeting,
    DateSite::FourthMeeting,
    DateSite::ResolutionNotice,
    DateSite::ResultsNotice,
    DateSite::Objection,
];

/// A text field of a new document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextField {
    Name,
    IdNumber,
    Phone,
    Grid,
    ReceiptNo,
    ItemCode,
    Village,
    ResidentUser,
    Level,
    Id,
    Schema,
    Reason,
    MaterialKey,
    Comment,
    RefuseReason,
    EditField,
    CreatedUser,
    CreatedDevice,
    AttachmentMaterial,
    AttachmentSha,
    /// The applicant's name of a request the hub holds, edited with its record.
    LaterName,
    Title,
    Category,
    Description,
    AgendaVillage,
    AgendaComment,
    AgendaEditField,
    Minutes,
    SignInPhoto,
    NoticeText,
    NoticePlace,
    ObjectionSummary,
    ObjectionResponse,
}

const TEXT_FIELDS: [TextField; 33] = [
    TextField::Name,
    TextField::IdNumber,
    TextField::Phone,
    TextField::Grid,
    TextField::ReceiptNo,
    TextField::ItemCode,
    TextField::Village,
    TextField::ResidentUser,
    TextField::Level,
    TextField::Id,
    TextField::Schema,
    TextField::Reason,
    TextField::MaterialKey,
    TextField::Comment,
    TextField::RefuseReason,
    TextField::EditField,
    TextField::CreatedUser,
    TextField::CreatedDevice,
    TextField::AttachmentMaterial,
    TextField::AttachmentSha,
    TextField::LaterName,
    TextField::Title,
    TextField::Category,
    TextField::Description,
    TextField::AgendaVillage,
    TextField::AgendaComment,
    TextField::AgendaEditField,
    TextField::Minutes,
    TextField::SignInPhoto,
    TextField::NoticeText,
    TextField::NoticePlace,
    TextField::ObjectionSummary,
    TextField::ObjectionResponse,
];

impl TextField {
    /// Whether an empty or blank value breaks a rule (otherwise only a 100 KB one does, by
    /// the 48 KiB bound on a log entry).
    fn blank_refused(self) -> bool {
        !matches!(
            self,
            TextField::EditField
                | TextField::AgendaEditField
                | TextField::SignInPhoto
                | TextField::NoticePlace
                | TextField::ObjectionResponse
        )
    }
}

/// What is written into a text field.
#[derive(Debug, Clone, Copy)]
enum Filler {
    /// So many ASCII letters.
    Long(usize),
    /// So many Chinese characters (three bytes each).
    LongCjk(usize),
    Empty,
    Blank,
}

impl Filler {
    fn text(self) -> String {
        match self {
            Filler::Long(n) => "a".repeat(n),
            Filler::LongCjk(n) => "字".repeat(n),
            Filler::Empty => String::new(),
            Filler::Blank => " \t ".into(),
        }
    }

    fn is_long(self) -> bool {
        matches!(self, Filler::Long(_) | Filler::LongCjk(_))
    }
}

/// An `after` list no event may have.
#[derive(Debug, Clone, Copy)]
enum After {
    /// The event names itself.
    Itself,
    /// It names an event the log does not hold.
    Unknown,
    /// It names the previous event 17 times.
    Repeated17,
    /// 10,000 events.
    Huge,
    /// Two new events, each naming the other.
    Cycle,
    /// An agenda meeting naming itself.
    AgendaItself,
    /// An agenda meeting naming 17 events.
    Agenda17,
}

const AFTERS: [After; 7] = [
    After::Itself,
    After::Unknown,
    After::Repeated17,
    After::Huge,
    After::Cycle,
    After::AgendaItself,
    After::Agenda17,
];

/// A document not of Bianmin's layout.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `attributes.reason` a list nested 64 deep.
    NestedAttribute,
    FieldsAsList,
    EventsAsMap,
    /// An event that is a number, not JSON text.
    EventNotText,
    /// An event that is not JSON.
    EventGarbage,
    /// An event of an unknown kind.
    EventUnknownKind,
    /// A new request without its attachments list.
    NoAttachments,
    CreatedNotJson,
    MaterialNotBool,
    /// The applicant's name as an Automerge text object, not a string.
    NameAsTextObject,
    /// No `fields` map.
    NoFields,
}

const SHAPES: [Shape; 11] = [
    Shape::NestedAttribute,
    Shape::FieldsAsList,
    Shape::EventsAsMap,
    Shape::EventNotText,
    Shape::EventGarbage,
    Shape::EventUnknownKind,
    Shape::NoAttachments,
    Shape::CreatedNotJson,
    Shape::MaterialNotBool,
    Shape::NameAsTextObject,
    Shape::NoFields,
];

/// One forged document's extreme value.
#[derive(Debug, Clone)]
enum Extreme {
    At(TimeSite, i64),
    On(DateSite, NaiveDate),
    /// A resolution (false) or results (true) notice's period.
    NoticePeriod(bool, u32),
    /// A first meeting's counts: entitled, present, for, against, abstaining, households,
    /// households represented.
    MeetingCounts([u32; 5], Option<(u32, u32)>),
    TimeLimit(ScalarValue),
    Version(ScalarValue),
    /// The card's list attribute `reason`.
    ListAttribute(ScalarValue),
    /// The medical enrolment's number attribute `household_size`.
    NumberAttribute(ScalarValue),
    /// `household_size` of a medical request the hub holds, edited with its record.
    LaterNumberAttribute(f64),
    Text(TextField, Filler),
    After(After),
    Shape(Shape),
}

impl Extreme {
    fn describe(&self) -> String {
        cut(&format!("{self:?}"))
    }
}

/// What the extremes are pushed against: a hub, an East Village clerk's raw device, and
/// documents the hub holds.
struct Bench {
    hub: TestHub,
    clerk: RawDevice,
    card: Uuid,
    medical: Uuid,
}

fn bench() -> Bench {
    let hub = TestHub::start();
    let clerk = RawDevice::enrol(&hub, CLERK, "east-raw");
    let mut card = Draft::request(&clerk, Item::Card);
    let mut medical = Draft::request(&clerk, Item::Medical);
    let reply = clerk.round(&mut [&mut card, &mut medical]).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    for r in reply.body["results"].as_array().unwrap() {
        assert_eq!(r["status"], "accepted", "{r}");
    }
    Bench {
        card: card.id,
        medical: medical.id,
        hub,
        clerk,
    }
}

/// The forged document of an extreme.
fn forge(b: &Bench, x: &Extreme) -> Draft {
    let dev = &b.clerk;
    let card = || Draft::request(dev, Item::Card);
    match x {
        Extreme::At(site, at) => {
            let at = *at;
            match site {
                TimeSite::Created => {
                    let mut d = card();
                    d.set("created", entry!(dev.stamp_at(at)));
                    d
                }
                TimeSite::Event => {
                    let mut d = card();
                    let submit = d.event_ids()[0];
                    d.replace(
                        "events",
                        0,
                        entry!(Event {
                            id: submit,
                            after: vec![],
                            by: dev.stamp_at(at),
                            action: Action::Submit,
                        }),
                    );
                    d
                }
                TimeSite::Comment => {
                    let mut d = card();
                    d.comment(dev.stamp_at(at), "已电话联系");
                    d
                }
                TimeSite::Edit => {
                    let mut d = card();
                    d.set_in("fields", "phone", "13900001111");
                    d.edit(dev.stamp_at(at), "phone");
                    d
                }
                TimeSite::Attachment => {
                    let mut d = card();
                    d.attach(dev.stamp_at(at), &"ab".repeat(32), "ID card");
                    d
                }
                TimeSite::AgendaCreated => {
                    let mut d = Draft::agenda(dev, 0);
                    d.set("created", entry!(dev.stamp_at(at)));
                    d
                }
                TimeSite::AgendaMeeting => {
                    let mut d = Draft::agenda(dev, 0);
                    d.agenda_event(
                        dev.stamp_at(at),
                        AgendaAction::Meeting(meeting(Body::PartyBranch, days_from_today(-20))),
                    );
                    d
                }
                TimeSite::AgendaComment => {
                    let mut d = Draft::agenda(dev, 0);
                    d.comment(dev.stamp_at(at), "同意");
                    d
                }
                TimeSite::LaterEvent => {
                    let mut d = Draft::from_hub(&b.hub, b.card, &dev.actor);
                    d.event(dev.stamp_at(at), Action::Accept);
                    d
                }
                TimeSite::LaterComment => {
                    let mut d = Draft::from_hub(&b.hub, b.card, &dev.actor);
                    d.comment(dev.stamp_at(at), "已电话联系");
                    d
                }
            }
        }
        Extreme::On(site, date) => {
            let date = *date;
            match site {
                DateSite::FirstMeeting => {
                    let mut d = Draft::agenda(dev, 0);
                    d.agenda_event(
                        dev.stamp(),
                        AgendaAction::Meeting(meeting(Body::PartyBranch, date)),
                    );
                    d
                }
                DateSite::FourthMeeting => {
                    let mut d = Draft::agenda(dev, 3);
                    let mut m = meeting(Body::RepresentativesMeeting, date);
                    (m.entitled, m.present, m.votes_for, m.votes_against) = (35, 27, 21, 5);
                    d.agenda_event(dev.stamp(), AgendaAction::Meeting(m));
                    d
                }
                DateSite::ResolutionNotice => {
                    let mut d = Draft::agenda(dev, 4);
                    d.agenda_event(
                        dev.stamp(),
                        AgendaAction::ResolutionNotice(notice(date, 10)),
                    );
                    d
                }
                DateSite::ResultsNotice => {
                    let mut d = Draft::agenda(dev, 5);
                    d.agenda_event(dev.stamp(), AgendaAction::ResultsNotice(notice(date, 10)));
                    d
                }
                DateSite::Objection => {
                    let mut d = Draft::agenda(dev, 5);
                    d.agenda_event(
                        dev.stamp(),
                        AgendaAction::Objection(Objection {
                            received_on: date,
                            summary: "有异议".into(),
                            response: String::new(),
                        }),
                    );
                    d
                }
            }
        }
        Extreme::NoticePeriod(results, period) => {
            if *results {
                let mut d = Draft::agenda(dev, 5);
                d.agenda_event(
                    dev.stamp(),
                    AgendaAction::ResultsNotice(notice(days_from_today(10), *period)),
                );
                d
            } else {
                let mut d = Draft::agenda(dev, 4);
                d.agenda_event(
                    dev.stamp(),
                    AgendaAction::ResolutionNotice(notice(days_from_today(0), *period)),
                );
                d
            }
        }
        Extreme::MeetingCounts([entitled, present, votes_for, against, abstaining], hh) => {
            let mut d = Draft::agenda(dev, 0);
            let mut m = meeting(Body::PartyBranch, days_from_today(-20));
            (
                m.entitled,
                m.present,
                m.votes_for,
                m.votes_against,
                m.abstentions,
            ) = (*entitled, *present, *votes_for, *against, *abstaining);
            if let Some((h, r)) = hh {
                m.households = Some(*h);
                m.households_represented = Some(*r);
            }
            d.agenda_event(dev.stamp(), AgendaAction::Meeting(m));
            d
        }
        Extreme::TimeLimit(v) => {
            let mut d = card();
            d.set("time_limit_days", v.clone());
            d
        }
        Extreme::Version(v) => {
            let mut d = card();
            d.set("version", v.clone());
            d
        }
        Extreme::ListAttribute(v) => {
            let mut d = card();
            d.set_in("attributes", "reason", v.clone());
            d
        }
        Extreme::NumberAttribute(v) => {
            let mut d = Draft::request(dev, Item::Medical);
            d.set_in("attributes", "household_size", v.clone());
            d
        }
        Extreme::LaterNumberAttribute(n) => {
            let mut d = Draft::from_hub(&b.hub, b.medical, &dev.actor);
            d.set_in("attributes", "household_size", *n);
            d.edit(dev.stamp(), "attributes.household_size");
            d
        }
        Extreme::Text(field, filler) => text_forgery(b, *field, filler.text()),
        Extreme::After(kind) => after_forgery(dev, *kind),
        Extreme::Shape(shape) => shape_forgery(dev, *shape),
    }
}

fn text_forgery(b: &Bench, field: TextField, text: String) -> Draft {
    let dev = &b.clerk;
    let mut d = match field {
        TextField::Title
        | TextField::Category
        | TextField::Description
        | TextField::AgendaVillage
        | TextField::AgendaComment
        | TextField::AgendaEditField
        | TextField::Minutes
        | TextField::SignInPhoto => Draft::agenda(dev, 0),
        TextField::NoticeText | TextField::NoticePlace => Draft::agenda(dev, 4),
        TextField::ObjectionSummary | TextField::ObjectionResponse => Draft::agenda(dev, 5),
        TextField::LaterName => Draft::from_hub(&b.hub, b.card, &dev.actor),
        _ => Draft::request(dev, Item::Card),
    };
    let t = text.as_str();
    match field {
        TextField::Name => d.set_in("fields", "name", t),
        TextField::IdNumber => d.set_in("fields", "id_number", t),
        TextField::Phone => d.set_in("fields", "phone", t),
        TextField::Grid => d.set_in("fields", "grid", t),
        TextField::ReceiptNo => d.set("receipt_no", t),
        TextField::ItemCode => d.set("item_code", t),
        TextField::Village => d.set("village", t),
        TextField::ResidentUser => d.set("resident_user", t),
        TextField::Level => d.set("level", t),
        TextField::Id => d.set("id", t),
        TextField::Schema => d.set("schema", t),
        TextField::Reason => d.set_in("attributes", "reason", t),
        TextField::MaterialKey => d.set_in("materials", t, true),
        TextField::Comment | TextField::AgendaComment => d.comment(dev.stamp(), t),
        TextField::RefuseReason => {
            d.event(dev.stamp(), Action::RefuseToAccept { reason: text });
        }
        TextField::EditField | TextField::AgendaEditField => d.edit(dev.stamp(), t),
        TextField::CreatedUser | TextField::CreatedDevice => {
            let mut stamp = dev.stamp();
            if field == TextField::CreatedUser {
                stamp.user = text;
            } else {
                stamp.device = text;
            }
            d.set("created", entry!(stamp));
        }
        TextField::AttachmentMaterial => d.attach(dev.stamp(), &"ab".repeat(32), t),
        TextField::AttachmentSha => d.attach(dev.stamp(), t, "ID card"),
        TextField::LaterName => {
            d.set_in("fields", "name", t);
            d.edit(dev.stamp(), "name");
        }
        TextField::Title => d.set_in("fields", "title", t),
        TextField::Category => d.set_in("fields", "category", t),
        TextField::Description => d.set_in("fields", "description", t),
        TextField::AgendaVillage => d.set("village", t),
        TextField::Minutes | TextField::SignInPhoto => {
            let mut m = meeting(Body::PartyBranch, days_from_today(-20));
            if field == TextField::Minutes {
                m.minutes = text;
            } else {
                m.sign_in_photos = vec![text];
            }
            d.agenda_event(dev.stamp(), AgendaAction::Meeting(m));
        }
        TextField::NoticeText | TextField::NoticePlace => {
            let mut n = notice(days_from_today(0), 10);
            if field == TextField::NoticeText {
                n.text = text;
            } else {
                n.place = text;
            }
            d.agenda_event(dev.stamp(), AgendaAction::ResolutionNotice(n));
        }
        TextField::ObjectionSummary | TextField::ObjectionResponse => {
            let mut o = Objection {
                received_on: days_from_today(0),
                summary: "有异议".into(),
                response: String::new(),
            };
            if field == TextField::ObjectionSummary {
                o.summary = text;
            } else {
                o.response = text;
            }
            d.agenda_event(dev.stamp(), AgendaAction::Objection(o));
        }
    }
    d
}

fn after_forgery(dev: &RawDevice, kind: After) -> Draft {
    let raw_event = |id: EventId, after: Vec<EventId>, action: Action| {
        entry!(Event {
            id,
            after,
            by: dev.stamp(),
            action,
        })
    };
    match kind {
        After::Itself | After::Unknown | After::Repeated17 | After::Huge => {
            let mut d = Draft::request(dev, Item::Card);
            let submit = d.event_ids()[0];
            let id = EventId::new();
            let after = match kind {
                After::Itself => vec![id],
                After::Unknown => vec![EventId::new()],
                After::Repeated17 => vec![submit; 17],
                _ => (0..10_000).map(|_| EventId::new()).collect(),
            };
            d.append("events", raw_event(id, after, Action::Accept));
            d
        }
        After::Cycle => {
            let mut d = Draft::request(dev, Item::Card);
            let (a, b) = (EventId::new(), EventId::new());
            d.append("events", raw_event(a, vec![b], Action::Accept));
            d.append("events", raw_event(b, vec![a], Action::Forward));
            d
        }
        After::AgendaItself | After::Agenda17 => {
            let mut d = Draft::agenda(dev, 0);
            let id = EventId::new();
            let after = match kind {
                After::AgendaItself => vec![id],
                _ => (0..17).map(|_| EventId::new()).collect(),
            };
            d.append(
                "events",
                entry!(AgendaEvent {
                    id,
                    after,
                    by: dev.stamp(),
                    action: AgendaAction::Meeting(meeting(Body::PartyBranch, days_from_today(-20))),
                }),
            );
            d
        }
    }
}

fn shape_forgery(dev: &RawDevice, shape: Shape) -> Draft {
    let mut d = Draft::request(dev, Item::Card);
    match shape {
        Shape::NestedAttribute => {
            let attrs = d.obj("attributes");
            let mut obj = d.doc.put_object(&attrs, "reason", ObjType::List).unwrap();
            for _ in 0..64 {
                obj = d.doc.insert_object(&obj, 0, ObjType::List).unwrap();
            }
            d.doc.insert(&obj, 0, "lost").unwrap();
        }
        Shape::FieldsAsList => {
            let list = d.doc.put_object(ROOT, "fields", ObjType::List).unwrap();
            d.doc.insert(&list, 0, "王秀英").unwrap();
        }
        Shape::EventsAsMap => {
            let map = d.doc.put_object(ROOT, "events", ObjType::Map).unwrap();
            d.doc.put(&map, "0", "{}").unwrap();
        }
        Shape::EventNotText => {
            let events = d.obj("events");
            d.doc.insert(&events, 1, 42i64).unwrap();
        }
        Shape::EventGarbage => d.append("events", "{\"id\":".into()),
        Shape::EventUnknownKind => {
            let mut e: Json = serde_json::from_str(&entry!(Event {
                id: EventId::new(),
                after: vec![],
                by: dev.stamp(),
                action: Action::Accept,
            }))
            .unwrap();
            e["action"]["kind"] = "teleport".into();
            d.append("events", e.to_string());
        }
        Shape::NoAttachments => d.doc.delete(ROOT, "attachments").unwrap(),
        Shape::CreatedNotJson => d.set("created", "yesterday"),
        Shape::MaterialNotBool => d.set_in("materials", "ID card", 1i64),
        Shape::NameAsTextObject => {
            let fields = d.obj("fields");
            let text = d.doc.put_object(&fields, "name", ObjType::Text).unwrap();
            d.doc.splice_text(&text, 0, 0, "王秀英").unwrap();
        }
        Shape::NoFields => d.doc.delete(ROOT, "fields").unwrap(),
    }
    d
}

/// The representative extremes, each value once.
fn every_extreme() -> Vec<Extreme> {
    let mut all = Vec::new();
    let times = [
        i64::MIN,
        i64::MIN + 1,
        -1,
        0,
        1,
        DEVICE_TIME_FLOOR.0 - 1,
        YEAR_2100_MS,
        i64::MAX - 1,
        i64::MAX,
    ];
    for site in TIME_SITES {
        for t in times {
            all.push(Extreme::At(site, t));
        }
    }
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let dates = [
        NaiveDate::MIN,
        NaiveDate::MIN.succ_opt().unwrap(),
        NaiveDate::MAX,
        NaiveDate::MAX.pred_opt().unwrap(),
        date(9999, 12, 31),
        date(1999, 12, 31),
        date(2101, 1, 1),
    ];
    for site in DATE_SITES {
        for d in dates {
            all.push(Extreme::On(site, d));
        }
    }
    for results in [false, true] {
        for p in [u32::MAX, u32::MAX - 1, 366, 0] {
            all.push(Extreme::NoticePeriod(results, p));
        }
    }
    let m = u32::MAX;
    for (counts, hh) in [
        ([0, 0, 0, 0, 0], None),
        ([m - 1, m, 0, 0, 0], None),
        ([m, m, m, m, m], None),
        ([5, 5, m, 0, 0], None),
        ([5, 5, 4, 0, 1], Some((m - 1, m))),
    ] {
        all.push(Extreme::MeetingCounts(counts, hh));
    }
    for v in [
        ScalarValue::Int(i64::MAX),
        ScalarValue::Int(i64::MIN),
        ScalarValue::Int(-1),
        ScalarValue::Int(366),
        ScalarValue::Int(i64::from(u32::MAX)),
        ScalarValue::Int(i64::from(u32::MAX) + 1),
        ScalarValue::Uint(u64::MAX),
        ScalarValue::F64(f64::NAN),
        ScalarValue::F64(f64::INFINITY),
        ScalarValue::F64(f64::NEG_INFINITY),
        ScalarValue::F64(10.5),
        ScalarValue::Str("10".into()),
        ScalarValue::Null,
        ScalarValue::Boolean(true),
    ] {
        all.push(Extreme::TimeLimit(v));
    }
    for v in [
        ScalarValue::Int(i64::MAX),
        ScalarValue::Int(0),
        ScalarValue::Int(2),
        ScalarValue::F64(f64::NAN),
        ScalarValue::Str("1".into()),
    ] {
        all.push(Extreme::Version(v));
    }
    for v in [
        ScalarValue::F64(f64::NAN),
        ScalarValue::F64(f64::INFINITY),
        ScalarValue::F64(f64::MAX),
        ScalarValue::F64(-f64::MAX),
        ScalarValue::F64(f64::MIN_POSITIVE),
        ScalarValue::Int(i64::MAX),
        ScalarValue::Int(i64::MIN),
        ScalarValue::Uint(u64::MAX),
        ScalarValue::Boolean(true),
        ScalarValue::Bytes(vec![0xff; 100 * 1024]),
        ScalarValue::Null,
        ScalarValue::Counter(i64::MAX.into()),
        ScalarValue::Timestamp(i64::MIN),
    ] {
        all.push(Extreme::ListAttribute(v));
    }
    for v in [
        ScalarValue::F64(f64::NAN),
        ScalarValue::F64(f64::INFINITY),
        ScalarValue::F64(f64::NEG_INFINITY),
        ScalarValue::Str("1e999".into()),
        ScalarValue::Str("".into()),
        ScalarValue::Boolean(false),
    ] {
        all.push(Extreme::NumberAttribute(v));
    }
    for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        all.push(Extreme::LaterNumberAttribute(n));
    }
    for field in TEXT_FIELDS {
        for filler in [
            Filler::Long(100 * 1024),
            Filler::LongCjk(34 * 1024),
            Filler::Empty,
            Filler::Blank,
        ] {
            if filler.is_long() || field.blank_refused() {
                all.push(Extreme::Text(field, filler));
            }
        }
    }
    all.extend(AFTERS.map(Extreme::After));
    all.extend(SHAPES.map(Extreme::Shape));
    all
}

/// Random extremes near the same edges.
fn extreme() -> impl Strategy<Value = Extreme> {
    let time = prop_oneof![
        (0i64..1000).prop_map(|d| i64::MIN + d),
        (0i64..1000).prop_map(|d| i64::MAX - d),
        -1000i64..1000,
        (1i64..1_000_000_000).prop_map(|d| DEVICE_TIME_FLOOR.0 - d),
        (0i64..1_000_000_000_000).prop_map(|d| YEAR_2100_MS + d),
    ];
    let days = 0u64..100_000;
    let date = prop_oneof![
        days.clone()
            .prop_map(|d| NaiveDate::MIN.checked_add_days(Days::new(d)).unwrap()),
        days.clone()
            .prop_map(|d| NaiveDate::MAX.checked_sub_days(Days::new(d)).unwrap()),
        (1u64..700_000).prop_map(|d| NaiveDate::from_ymd_opt(2000, 1, 1)
            .unwrap()
            .checked_sub_days(Days::new(d))
            .unwrap()),
        (1u64..2_000_000).prop_map(|d| NaiveDate::from_ymd_opt(2100, 12, 31)
            .unwrap()
            .checked_add_days(Days::new(d))
            .unwrap()),
    ];
    let filler = prop_oneof![
        (50_000usize..150_000).prop_map(Filler::Long),
        (17_000usize..50_000).prop_map(Filler::LongCjk),
        Just(Filler::Empty),
        Just(Filler::Blank),
    ];
    let big_int = prop_oneof![
        (366i64..=i64::MAX),
        (i64::MIN..0),
        Just(i64::from(u32::MAX))
    ];
    let nonfinite = select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    prop_oneof![
        3 => (select(TIME_SITES.to_vec()), time).prop_map(|(s, t)| Extreme::At(s, t)),
        2 => (select(DATE_SITES.to_vec()), date).prop_map(|(s, d)| Extreme::On(s, d)),
        1 => (any::<bool>(), prop_oneof![366u32..=u32::MAX, Just(0u32)])
            .prop_map(|(r, p)| Extreme::NoticePeriod(r, p)),
        1 => (1u32..=u32::MAX, any::<u32>()).prop_map(|(present, extra)| {
            // More votes than members present.
            Extreme::MeetingCounts([present, present, present, extra.max(1), 0], None)
        }),
        1 => big_int.prop_map(|n| Extreme::TimeLimit(ScalarValue::Int(n))),
        // Not a whole number of days from 0 to 365.
        1 => any::<f64>()
            .prop_filter("a whole number of days", |n| {
                n.fract() != 0.0 || !(0.0..=365.0).contains(n)
            })
            .prop_map(|n| Extreme::TimeLimit(ScalarValue::F64(n))),
        1 => any::<f64>()
            .prop_map(|n| Extreme::ListAttribute(ScalarValue::F64(n))),
        1 => nonfinite.clone()
            .prop_map(|n| Extreme::NumberAttribute(ScalarValue::F64(n))),
        1 => nonfinite.prop_map(Extreme::LaterNumberAttribute),
        4 => (select(TEXT_FIELDS.to_vec()), filler)
            .prop_filter("a blank value some fields take", |(f, fill)| {
                fill.is_long() || f.blank_refused()
            })
            .prop_map(|(f, fill)| Extreme::Text(f, fill)),
        1 => select(AFTERS.to_vec()).prop_map(Extreme::After),
        1 => select(SHAPES.to_vec()).prop_map(Extreme::Shape),
    ]
}

// ---------------------------------------------------------------------------------------------
// One round

/// Pushes the extreme's forgery and a valid new request in one round and checks the answer.
fn run_case(b: &Bench, x: &Extreme, valid_first: bool) -> Result<(), String> {
    let what = x.describe();
    let mut forged = forge(b, x);
    let forged_before = b.hub.storage.document(forged.id).unwrap().map(|r| r.bytes);
    let mut valid = Draft::request(&b.clerk, Item::Card);
    let reply = if valid_first {
        b.clerk.round(&mut [&mut valid, &mut forged])
    } else {
        b.clerk.round(&mut [&mut forged, &mut valid])
    }
    .map_err(|e| format!("{what}: {e}"))?;
    if reply.status != 200 {
        return Err(format!(
            "{what}: HTTP {} {}",
            reply.status,
            cut(&reply.text)
        ));
    }
    let results = reply.body["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let result = |id: Uuid| {
        results
            .iter()
            .find(|r| r["doc"] == id.to_string())
            .cloned()
            .unwrap_or(Json::Null)
    };
    let f = result(forged.id);
    let code = f["code"].as_str().unwrap_or("");
    if f["status"] != "refused"
        || !CODES.contains(&code)
        || f["reason"].as_str().unwrap_or("").trim().is_empty()
    {
        return Err(format!(
            "{what}: the forgery was answered {}",
            cut(&f.to_string())
        ));
    }
    let text = f.to_string();
    if text.contains(ID_NUMBER) || text.contains(PHONE) {
        return Err(format!("{what}: personal data in {}", cut(&text)));
    }
    let forged_after = b.hub.storage.document(forged.id).unwrap().map(|r| r.bytes);
    if forged_after != forged_before {
        return Err(format!(
            "{what}: refused ({code}) but the hub's copy changed"
        ));
    }
    let v = result(valid.id);
    if v["status"] != "accepted" {
        return Err(format!(
            "{what}: the valid neighbour was answered {}",
            cut(&v.to_string())
        ));
    }
    readable(b, &mut valid).map_err(|e| format!("{what}: the valid neighbour {e}"))
}

/// The hub holds `valid` at its heads and finds it by its receipt number.
fn readable(b: &Bench, valid: &mut Draft) -> Result<(), String> {
    let record = b
        .hub
        .storage
        .document(valid.id)
        .unwrap()
        .ok_or("is not on the hub")?;
    let mut doc = HubDocument::load(&record.bytes).map_err(|e| format!("does not load: {e}"))?;
    let mut heads = doc.heads();
    heads.sort();
    let mut mine: Vec<[u8; 32]> = valid.doc.get_heads().iter().map(|h| h.0).collect();
    mine.sort();
    if heads != mine {
        return Err("is held at other heads".into());
    }
    let found = b
        .hub
        .state
        .engine
        .lookup_receipt(&valid.receipt(), "002X")
        .map_err(|e| format!("look-up failed: {e:?}"))?
        .ok_or("is not found by its receipt number")?;
    if found.id != valid.id {
        return Err("look-up found another request".into());
    }
    Ok(())
}

fn assert_healthy(b: &Bench) {
    let health = agent()
        .get(&format!("{}/healthz", b.hub.url))
        .call()
        .expect("healthz answers");
    assert_eq!(health.status().as_u16(), 200);
    // And a plain round still works.
    run_case(b, &Extreme::Text(TextField::Comment, Filler::Empty), false).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn the_documents_the_forgeries_start_from_are_accepted() {
    let b = bench();
    let mut drafts = vec![
        Draft::request(&b.clerk, Item::Card),
        Draft::request(&b.clerk, Item::Medical),
        Draft::agenda(&b.clerk, 0),
        Draft::agenda(&b.clerk, 3),
        Draft::agenda(&b.clerk, 4),
        Draft::agenda(&b.clerk, 5),
    ];
    // The valid counterparts of the forgeries' last steps.
    let mut later = Draft::from_hub(&b.hub, b.card, &b.clerk.actor);
    later.event(b.clerk.stamp(), Action::Accept);
    later.comment(b.clerk.stamp(), "已电话联系");
    later.set_in("fields", "name", "王秀兰");
    later.edit(b.clerk.stamp(), "name");
    let mut medical = Draft::from_hub(&b.hub, b.medical, &b.clerk.actor);
    medical.set_in("attributes", "household_size", 4.0);
    medical.edit(b.clerk.stamp(), "attributes.household_size");
    let mut results = Draft::agenda(&b.clerk, 5);
    results.agenda_event(
        b.clerk.stamp(),
        AgendaAction::ResultsNotice(notice(days_from_today(10), 10)),
    );
    let mut objection = Draft::agenda(&b.clerk, 5);
    objection.agenda_event(
        b.clerk.stamp(),
        AgendaAction::Objection(Objection {
            received_on: days_from_today(0),
            summary: "有异议".into(),
            response: String::new(),
        }),
    );
    drafts.extend([later, medical, results, objection]);
    let mut refs: Vec<&mut Draft> = drafts.iter_mut().collect();
    let reply = b.clerk.round(&mut refs).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    for r in reply.body["results"].as_array().unwrap() {
        assert_eq!(r["status"], "accepted", "{r}");
    }
}

#[test]
fn every_extreme_once() {
    let started = Instant::now();
    let b = bench();
    let all = every_extreme();
    let mut failures = Vec::new();
    for (i, x) in all.iter().enumerate() {
        if let Err(e) = run_case(&b, x, i % 2 == 1) {
            failures.push(e);
        }
    }
    assert_healthy(&b);
    eprintln!(
        "{} extremes in {:?}, {} failed",
        all.len(),
        started.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} extremes failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn random_extremes_never_break_the_hub() {
    let started = Instant::now();
    let b = bench();
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&(extreme(), any::<bool>()), |(x, valid_first)| {
        run_case(&b, &x, valid_first).map_err(TestCaseError::fail)
    });
    assert_healthy(&b);
    eprintln!("48 random extremes in {:?}", started.elapsed());
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
