//! The hub never trusts a device. Each story here is a device (or someone holding a device's
//! token) sending the hub something it must refuse: a change its role may not make, a change
//! made by someone else, history rewritten, a revoked or unknown token, a broken body. Each
//! gets a clear answer (HTTP status, a stable `error.code` or refusal code, and a message), the
//! hub stores nothing of it, and it keeps serving everyone else.
//!
//! Forged changes are built the way an attacker would: load the hub's copy of the document into
//! Automerge with the device's own actor, change it, and post the raw change bytes.

use std::str::FromStr;
use std::sync::Mutex;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value};
use bianmin_client_core::client::{SyncError, sync};
use bianmin_client_core::protocol::{
    B64, EnrolRequest, EnrolResponse, PROTOCOL_VERSION, PushDoc, SyncRequest,
};
use bianmin_client_core::{Comment, NewRequest, Store};
use bianmin_document::Document as HubDocument;
use bianmin_domain::{Action, AttrValue, Event, EventId, Identity, Role, Stamp, Timestamp};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, RESIDENT, REVIEWER, TestHub, quick};
use bianmin_tests::raw::{agent, post_json};
use serde_json::{Value as Json, json};
use tempfile::TempDir;
use uuid::Uuid;

const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";

/// A device that speaks raw HTTP to the hub: it can send anything.
struct RawDevice {
    url: String,
    token: String,
    actor: String,
    identity: Identity,
}

/// An answer from the hub: status and parsed body.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Json,
    text: String,
}

impl Reply {
    /// `error.code` of an error answer.
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts an HTTP error with this status and code, and a message for people.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
        let message = self.body["error"]["message"].as_str().unwrap_or("");
        assert!(!message.trim().is_empty(), "a message: {}", self.text);
        assert_no_personal_data(&self.text);
    }

    /// Asserts a 200 round whose single push result was refused with this code.
    fn assert_refused(&self, doc: Uuid, code: &str) {
        assert_eq!(self.status, 200, "{}", self.text);
        let results = self.body["results"].as_array().expect("results");
        assert_eq!(results.len(), 1, "{}", self.text);
        let r = &results[0];
        assert_eq!(r["status"], "refused", "{}", self.text);
        assert_eq!(r["doc"], doc.to_string());
        assert_eq!(r["code"], code, "{}", self.text);
        let reason = r["reason"].as_str().unwrap_or("");
        assert!(!reason.trim().is_empty(), "a reason: {}", self.text);
        assert_no_personal_data(&self.text);
    }
}

fn assert_no_personal_data(text: &str) {
    assert!(!text.contains(ID_NUMBER), "an ID number leaked: {text}");
    assert!(!text.contains(PHONE), "a phone number leaked: {text}");
}

/// Posts `body` to `url` with an optional bearer token.
fn post(url: &str, token: Option<&str>, body: &[u8]) -> Reply {
    let (status, text) = post_json(url, token, body).expect("the hub answers");
    let body = serde_json::from_str(&text).unwrap_or(Json::Null);
    Reply { status, body, text }
}

impl RawDevice {
    /// Enrols over HTTP with a fresh one-time code for `user`.
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
            identity: res.identity,
        }
    }

    /// Posts a raw body to `/api/v1/sync` with this device's token.
    fn send(&self, body: &[u8]) -> Reply {
        self.send_as(Some(&self.token), body)
    }

    fn send_as(&self, token: Option<&str>, body: &[u8]) -> Reply {
        post(&format!("{}/api/v1/sync", self.url), token, body)
    }

    /// One round pushing these change bytes for `doc`.
    fn push(&self, doc: Uuid, changes: Vec<Vec<u8>>) -> Reply {
        self.send(&push_body(doc, changes))
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            user: self.identity.user.clone(),
            role: self.identity.role,
            device: self.identity.device.clone(),
            at: Timestamp::now(),
        }
    }
}

/// One round pushing `doc` in its saved form (and, when given, a change list beside it).
fn saved_body(doc: Uuid, saved: Vec<u8>, changes: Vec<Vec<u8>>) -> Vec<u8> {
    serde_json::to_vec(&SyncRequest {
        pull_budget: None,
        protocol: PROTOCOL_VERSION,
        cursor: 0,
        reference_version: 0,
        push: vec![PushDoc {
            doc,
            changes: changes.into_iter().map(B64).collect(),
            saved: Some(B64(saved)),
        }],
    })
    .unwrap()
}

fn push_body(doc: Uuid, changes: Vec<Vec<u8>>) -> Vec<u8> {
    serde_json::to_vec(&SyncRequest {
        pull_budget: None,
        protocol: PROTOCOL_VERSION,
        cursor: 0,
        reference_version: 0,
        push: vec![PushDoc {
            doc,
            changes: changes.into_iter().map(B64).collect(),
            saved: None,
        }],
    })
    .unwrap()
}

/// A hub with a clerk's tablet and one request of East Village, filed for resident Wang and
/// forwarded to the township.
struct World {
    hub: TestHub,
    _dir: TempDir,
    clerk: Mutex<Store>,
    request: Uuid,
}

fn world() -> World {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let wang = hub.storage.user_by_name(RESIDENT).unwrap().unwrap().id;
    let request = {
        let mut s = clerk.lock().unwrap();
        let r = s.file_request(soc_card(Some(wang))).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        r.id
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert_eq!(report.accepted, 1);
    World {
        hub,
        _dir: dir,
        clerk,
        request,
    }
}

fn soc_card(resident_user: Option<String>) -> NewRequest {
    NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: "王秀英".into(),
        id_number: ID_NUMBER.into(),
        phone: PHONE.into(),
        grid: "1组".into(),
        attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
        materials_received: vec!["ID card".into(), "Recent photo".into()],
        resident_user,
        submit: true,
    }
}

/// What the hub holds, to show that a refusal stored nothing.
#[derive(Debug, PartialEq, Eq)]
struct Held {
    counts: (u64, u64),
    heads: Vec<[u8; 32]>,
    audit: usize,
    status: Option<bianmin_domain::Status>,
}

impl World {
    fn held(&self) -> Held {
        let record = self.hub.storage.document(self.request).unwrap().unwrap();
        let mut doc = HubDocument::load(&record.bytes).unwrap();
        let mut heads = doc.heads();
        heads.sort();
        Held {
            counts: self.hub.storage.counts().unwrap(),
            heads,
            audit: self.hub.storage.audit(self.request).unwrap().len(),
            status: doc.request_status(),
        }
    }

    /// The hub's copy of the request, opened by someone holding `actor`.
    fn forge_from(&self, actor: &str) -> Forgery {
        let record = self.hub.storage.document(self.request).unwrap().unwrap();
        let mut doc = AutoCommit::load(&record.bytes)
            .unwrap()
            .with_actor(ActorId::from_str(actor).expect("hex actor"));
        let before = doc.get_heads();
        Forgery { doc, before }
    }

    /// The hub still answers its health check, serves a normal sync, and the clerk's tablet
    /// can file and sync as ever.
    fn assert_still_serving(&self) {
        let health = agent()
            .get(&format!("{}/healthz", self.hub.url))
            .call()
            .expect("healthz answers");
        assert_eq!(health.status().as_u16(), 200);
        let id = self
            .clerk
            .lock()
            .unwrap()
            .file_request(soc_card(None))
            .unwrap()
            .id;
        let report = sync(&self.clerk, &quick(), &mut |_| {}).expect("a normal sync works");
        assert_eq!(report.accepted, 1);
        assert!(report.refused.is_empty());
        assert!(self.hub.storage.document(id).unwrap().is_some());
    }
}

/// A document being tampered with.
struct Forgery {
    doc: AutoCommit,
    before: Vec<ChangeHash>,
}

impl Forgery {
    fn list(&self, key: &str) -> ObjId {
        match self.doc.get(ROOT, key).unwrap() {
            Some((Value::Object(ObjType::List), id)) => id,
            other => panic!("{key} is not a list: {other:?}"),
        }
    }

    fn events(&self) -> Vec<Event> {
        let list = self.list("events");
        (0..self.doc.length(&list))
            .map(|i| {
                let (v, _) = self.doc.get(&list, i).unwrap().unwrap();
                serde_json::from_str(&v.into_string().unwrap()).unwrap()
            })
            .collect()
    }

    /// Appends an event after the current tips, as a tablet would.
    fn append_event(&mut self, by: Stamp, action: Action) -> EventId {
        let events = self.events();
        let tips: Vec<EventId> = events
            .iter()
            .map(|e| e.id)
            .filter(|id| !events.iter().any(|e| e.after.contains(id)))
            .collect();
        let event = Event {
            id: EventId::new(),
            after: tips,
            by,
            action,
        };
        let list = self.list("events");
        let len = self.doc.length(&list);
        self.doc
            .insert(&list, len, serde_json::to_string(&event).unwrap())
            .unwrap();
        event.id
    }

    fn append_comment(&mut self, by: Stamp, text: &str) {
        let comment = Comment {
            id: Uuid::new_v4(),
            by,
            text: text.into(),
        };
        let list = self.list("comments");
        let len = self.doc.length(&list);
        self.doc
            .insert(&list, len, serde_json::to_string(&comment).unwrap())
            .unwrap();
    }

    fn append_attachment(&mut self, by: Stamp, size: u64, material: &str) {
        let reference = bianmin_domain::AttachmentRef {
            id: Uuid::new_v4(),
            sha256: "ab".repeat(32),
            media_type: bianmin_domain::MediaType::Jpeg,
            size,
            material: material.into(),
            by,
        };
        let list = self.list("attachments");
        let len = self.doc.length(&list);
        self.doc
            .insert(&list, len, serde_json::to_string(&reference).unwrap())
            .unwrap();
    }

    /// The new changes' bytes.
    fn changes(mut self) -> Vec<Vec<u8>> {
        let changes: Vec<Vec<u8>> = self
            .doc
            .get_changes(&self.before)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        assert!(!changes.is_empty(), "the forgery changed something");
        changes
    }
}

#[test]
fn a_residents_device_cannot_approve_her_own_request() {
    let w = world();
    let resident = RawDevice::enrol(&w.hub, RESIDENT, "wang-phone");
    let before = w.held();

    let mut forged = w.forge_from(&resident.actor);
    forged.append_event(
        resident.stamp(),
        Action::Approve {
            note: "自己批准".into(),
        },
    );
    let reply = resident.push(w.request, forged.changes());

    reply.assert_refused(w.request, "forbidden");
    let reason = reply.body["results"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("approve"), "{reason}");
    assert_eq!(w.held(), before, "nothing stored");
    assert_eq!(before.status, Some(bianmin_domain::Status::Forwarded));
    w.assert_still_serving();
}

#[test]
fn a_clerk_of_another_village_cannot_touch_east_villages_requests() {
    let w = world();
    admin::add_user(
        w.hub.storage.as_ref(),
        "clerk-west",
        "",
        Role::Clerk,
        "370883101202",
    )
    .unwrap();
    let west = RawDevice::enrol(&w.hub, "clerk-west", "west-tablet");
    let before = w.held();

    let mut forged = w.forge_from(&west.actor);
    forged.append_event(
        west.stamp(),
        Action::Withdraw {
            reason: "代为撤回".into(),
        },
    );
    west.push(w.request, forged.changes())
        .assert_refused(w.request, "forbidden");
    assert_eq!(w.held(), before);

    // A comment is no better.
    let mut forged = w.forge_from(&west.actor);
    forged.append_comment(west.stamp(), "西村代办员看过了");
    west.push(w.request, forged.changes())
        .assert_refused(w.request, "forbidden");
    assert_eq!(w.held(), before);
    w.assert_still_serving();
}

#[test]
fn changes_made_by_another_actor_or_signed_as_someone_else_are_refused() {
    let w = world();
    let tablet = RawDevice::enrol(&w.hub, CLERK, "east-tablet-raw");
    let before = w.held();

    // A change made with an actor that is not the sending device's.
    let stranger = ActorId::random().to_hex_string();
    let mut forged = w.forge_from(&stranger);
    forged.append_comment(tablet.stamp(), "看起来正常的评论");
    tablet
        .push(w.request, forged.changes())
        .assert_refused(w.request, "forged_actor");
    assert_eq!(w.held(), before);

    // The device's own actor, but the entry claims to come from another device of the clerk.
    let mut stamp = tablet.stamp();
    stamp.device = w.clerk.lock().unwrap().identity().device.clone();
    let mut forged = w.forge_from(&tablet.actor);
    forged.append_comment(stamp, "冒充另一台平板");
    tablet
        .push(w.request, forged.changes())
        .assert_refused(w.request, "forged_author");
    assert_eq!(w.held(), before);

    // The same comment, honestly signed, is accepted: the refusals were about the forgery.
    let mut honest = w.forge_from(&tablet.actor);
    honest.append_comment(tablet.stamp(), "已电话联系申请人");
    let reply = tablet.push(w.request, honest.changes());
    assert_eq!(
        reply.body["results"][0]["status"], "accepted",
        "{}",
        reply.text
    );
    assert_eq!(w.held().audit, before.audit + 1);
    w.assert_still_serving();
}

/// A push in saved form (what a tablet sends for a new document alone in its round) is taken
/// apart into its changes and checked exactly as a change list: a stranger's change in it is
/// refused, and so are bytes that are not a document, a push carrying both forms, and one
/// past the size a new document has.
#[test]
fn a_document_pushed_in_saved_form_is_checked_as_its_changes() {
    let w = world();
    let tablet = RawDevice::enrol(&w.hub, CLERK, "east-tablet-raw");
    let before = w.held();

    // The hub's copy with a comment by a stranger's actor: it carries the clerk's changes,
    // which this device did not make.
    let stranger = ActorId::random().to_hex_string();
    let mut forged = w.forge_from(&stranger);
    forged.append_comment(tablet.stamp(), "看起来正常的评论");
    let saved = forged.doc.save();
    tablet
        .send(&saved_body(w.request, saved.clone(), Vec::new()))
        .assert_refused(w.request, "replayed_change");
    // A new document made with a stranger's actor.
    let mut made = AutoCommit::new().with_actor(ActorId::from_str(&stranger).unwrap());
    made.put(ROOT, "schema", "bianmin/request").unwrap();
    let new_doc = Uuid::new_v4();
    tablet
        .send(&saved_body(new_doc, made.save(), Vec::new()))
        .assert_refused(new_doc, "forged_actor");
    tablet
        .send(&saved_body(
            w.request,
            b"not a document".to_vec(),
            Vec::new(),
        ))
        .assert_refused(w.request, "malformed");
    tablet
        .send(&saved_body(w.request, saved, vec![b"x".to_vec()]))
        .assert_refused(w.request, "malformed");
    tablet
        .send(&saved_body(w.request, vec![0; 65 * 1024], Vec::new()))
        .assert_refused(w.request, "too_large");
    assert_eq!(w.held(), before, "nothing of a refused push is kept");
    w.assert_still_serving();
}

#[test]
fn attachment_references_are_checked_like_every_other_change() {
    let w = world();
    let tablet = RawDevice::enrol(&w.hub, CLERK, "east-tablet-raw");
    let before = w.held();
    let refused = [
        (
            bianmin_domain::MAX_ATTACHMENT_BYTES + 1,
            "ID card",
            "invalid",
        ),
        (1000, "Marriage certificate", "invalid"),
    ];
    for (size, material, code) in refused {
        let mut forged = w.forge_from(&tablet.actor);
        forged.append_attachment(tablet.stamp(), size, material);
        tablet
            .push(w.request, forged.changes())
            .assert_refused(w.request, code);
        assert_eq!(w.held(), before, "{material}");
    }
    let mut stamp = tablet.stamp();
    stamp.user = "someone-else".into();
    let mut forged = w.forge_from(&tablet.actor);
    forged.append_attachment(stamp, 1000, "ID card");
    tablet
        .push(w.request, forged.changes())
        .assert_refused(w.request, "forged_author");
    assert_eq!(w.held(), before);

    // Honestly signed and valid, but the request is with the township now: attaching is
    // editing the materials, which a clerk may not do to a forwarded request.
    let mut honest = w.forge_from(&tablet.actor);
    honest.append_attachment(tablet.stamp(), 1000, "ID card");
    tablet
        .push(w.request, honest.changes())
        .assert_refused(w.request, "forbidden");
    assert_eq!(w.held(), before);
    w.assert_still_serving();
}

#[test]
fn replaying_another_devices_change_is_refused_but_repeating_ones_own_round_is_harmless() {
    let w = world();
    let reviewer = RawDevice::enrol(&w.hub, REVIEWER, "township-desk");
    let before = w.held();

    // The reviewer's device pushes the clerk's changes the hub already holds.
    let record = w.hub.storage.document(w.request).unwrap().unwrap();
    let mut hub_copy = HubDocument::load(&record.bytes).unwrap();
    let clerks_changes = hub_copy.changes_since(&[]);
    assert!(!clerks_changes.is_empty());
    reviewer
        .push(w.request, clerks_changes.clone())
        .assert_refused(w.request, "replayed_change");
    // Even one of them, mixed with nothing else.
    reviewer
        .push(w.request, vec![clerks_changes.last().unwrap().clone()])
        .assert_refused(w.request, "replayed_change");
    assert_eq!(w.held(), before);

    // The clerk's tablet sends a round, then (say the answer was lost) sends it again.
    w.clerk
        .lock()
        .unwrap()
        .comment(w.request, "申请人补交了照片")
        .unwrap();
    let round = w.clerk.lock().unwrap().pending_changes(10).unwrap();
    assert_eq!(round.len(), 1);
    let (_, token) = w.clerk.lock().unwrap().server().unwrap().unwrap();
    let body = push_body(w.request, round[0].changes.clone());
    let first = reviewer.send_as(Some(&token), &body);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["results"][0]["status"], "accepted");
    assert_eq!(first.body["results"][0]["duplicates"], 0);
    let after_first = w.held();
    assert_eq!(after_first.audit, before.audit + round[0].changes.len());

    let again = reviewer.send_as(Some(&token), &body);
    assert_eq!(again.status, 200, "{}", again.text);
    let result = &again.body["results"][0];
    assert_eq!(result["status"], "accepted", "{}", again.text);
    assert_eq!(result["duplicates"], round[0].changes.len());
    assert_eq!(result["heads"], first.body["results"][0]["heads"]);
    assert_eq!(w.held(), after_first, "nothing stored twice");

    // The tablet's own sync then finds nothing refused and converges with the hub.
    let report = sync(&w.clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let mut hub_heads = w.held().heads;
    hub_heads.sort();
    let mut tablet_heads = w.clerk.lock().unwrap().heads(w.request).unwrap().unwrap();
    tablet_heads.sort();
    assert_eq!(tablet_heads, hub_heads);
    assert_eq!(w.held(), after_first);
    w.assert_still_serving();
}

#[test]
fn an_edited_or_removed_event_is_refused_as_history_rewritten() {
    let w = world();
    let tablet = RawDevice::enrol(&w.hub, CLERK, "east-tablet-raw");
    let before = w.held();

    // Edit: the acceptance is back-dated by a week.
    let mut forged = w.forge_from(&tablet.actor);
    let events = forged.events();
    let accept = events
        .iter()
        .position(|e| e.action == Action::Accept)
        .unwrap();
    let mut changed = events[accept].clone();
    changed.by.at = Timestamp(changed.by.at.0 - 7 * 24 * 3600 * 1000);
    let list = forged.list("events");
    forged
        .doc
        .put(&list, accept, serde_json::to_string(&changed).unwrap())
        .unwrap();
    let reply = tablet.push(w.request, forged.changes());
    reply.assert_refused(w.request, "history_rewritten");
    assert!(
        reply.body["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("changed"),
        "{}",
        reply.text
    );
    assert_eq!(w.held(), before);

    // Removal: the forward disappears.
    let mut forged = w.forge_from(&tablet.actor);
    let forward = forged
        .events()
        .iter()
        .position(|e| e.action == Action::Forward)
        .unwrap();
    let list = forged.list("events");
    forged.doc.delete(&list, forward).unwrap();
    let reply = tablet.push(w.request, forged.changes());
    reply.assert_refused(w.request, "history_rewritten");
    assert!(
        reply.body["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("removed"),
        "{}",
        reply.text
    );
    assert_eq!(w.held(), before);

    // Removal disguised as a correction: delete the forward and append a new event.
    let mut forged = w.forge_from(&tablet.actor);
    let list = forged.list("events");
    forged.doc.delete(&list, forward).unwrap();
    forged.append_event(
        tablet.stamp(),
        Action::Withdraw {
            reason: "改为撤回".into(),
        },
    );
    tablet
        .push(w.request, forged.changes())
        .assert_refused(w.request, "history_rewritten");
    assert_eq!(w.held(), before);
    assert_eq!(
        w.clerk
            .lock()
            .unwrap()
            .request(w.request)
            .unwrap()
            .history
            .len(),
        3,
        "the clerk's tablet still shows the whole history"
    );
    w.assert_still_serving();
}

#[test]
fn revoked_unknown_and_missing_tokens_are_turned_away() {
    let w = world();
    let tablet = RawDevice::enrol(&w.hub, CLERK, "east-tablet-raw");
    let empty_round =
        serde_json::to_vec(&json!({"protocol": PROTOCOL_VERSION, "cursor": 0})).unwrap();
    assert_eq!(tablet.send(&empty_round).status, 200, "the token works");
    let before = w.held();

    tablet
        .send_as(None, &empty_round)
        .assert_error(401, "unauthorized");
    tablet
        .send_as(Some("not-a-token"), &empty_round)
        .assert_error(401, "unauthorized");
    let mut wrong = tablet.token.clone();
    wrong.replace_range(0..1, if wrong.starts_with('0') { "1" } else { "0" });
    tablet
        .send_as(Some(&wrong), &empty_round)
        .assert_error(401, "unauthorized");
    // A token in the wrong scheme is no token.
    let reply = {
        let mut resp = agent()
            .post(&format!("{}/api/v1/sync", w.hub.url))
            .header("Content-Type", "application/json")
            .header("Authorization", &format!("Basic {}", tablet.token))
            .send(&empty_round[..])
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!(reply.0, 401, "{}", reply.1);

    // An administrator revokes the raw device (say it was stolen).
    assert!(admin::revoke_device(w.hub.storage.as_ref(), &tablet.identity.device).unwrap());
    let mut forged = w.forge_from(&tablet.actor);
    forged.append_comment(tablet.stamp(), "被盗设备的评论");
    tablet
        .push(w.request, forged.changes())
        .assert_error(403, "device_revoked");
    tablet
        .send(&empty_round)
        .assert_error(403, "device_revoked");
    let live = agent()
        .get(&format!("{}/api/v1/events", w.hub.url))
        .header("Authorization", &format!("Bearer {}", tablet.token))
        .call()
        .unwrap();
    assert_eq!(live.status().as_u16(), 403, "no live notices either");
    assert_eq!(w.held(), before);

    // A revoked tablet running the real client: a clear error, and its work stays queued.
    let dir = tempfile::tempdir().unwrap();
    let other = Mutex::new(w.hub.enrol(CLERK, dir.path(), "east-tablet-2"));
    sync(&other, &quick(), &mut |_| {}).unwrap();
    other
        .lock()
        .unwrap()
        .comment(w.request, "撤销前写的评论")
        .unwrap();
    let device = other.lock().unwrap().identity().device.clone();
    admin::revoke_device(w.hub.storage.as_ref(), &device).unwrap();
    match sync(&other, &quick(), &mut |_| {}) {
        Err(SyncError::Hub {
            status: 403, code, ..
        }) => assert_eq!(code, "device_revoked"),
        other => panic!("expected device_revoked, got {other:?}"),
    }
    assert_eq!(
        other.lock().unwrap().pending_changes(10).unwrap().len(),
        1,
        "unsynced work stays on the revoked tablet"
    );
    assert_eq!(w.held(), before);
    w.assert_still_serving();
}

#[test]
fn broken_bodies_get_clear_errors_and_store_nothing() {
    let w = world();
    let tablet = RawDevice::enrol(&w.hub, CLERK, "east-tablet-raw");
    let before = w.held();

    // Not JSON at all.
    tablet
        .send(b"{\"protocol\": 1, \"cursor\": ")
        .assert_error(400, "bad_request");
    tablet.send(b"").assert_error(400, "bad_request");

    // A protocol this hub does not speak.
    let future = serde_json::to_vec(&json!({"protocol": 2, "cursor": 0})).unwrap();
    let reply = tablet.send(&future);
    reply.assert_error(400, "unsupported_protocol");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("update"),
        "{}",
        reply.text
    );

    // Change bytes that are not base64.
    let not_base64 = serde_json::to_vec(&json!({
        "protocol": PROTOCOL_VERSION,
        "cursor": 0,
        "push": [{"doc": w.request, "changes": ["this is *not* base64!"]}],
    }))
    .unwrap();
    tablet.send(&not_base64).assert_error(400, "bad_request");

    // A document id that is not a UUID.
    let bad_id = serde_json::to_vec(&json!({
        "protocol": PROTOCOL_VERSION,
        "cursor": 0,
        "push": [{"doc": "request-1", "changes": []}],
    }))
    .unwrap();
    tablet.send(&bad_id).assert_error(400, "bad_request");
    assert_eq!(w.held(), before);

    // Valid base64 of garbage: the round answers, the document is refused as malformed.
    let garbage: Vec<u8> = (0..512u32).map(|i| (i * 7919 % 251) as u8).collect();
    tablet
        .push(w.request, vec![garbage.clone()])
        .assert_refused(w.request, "malformed");
    // A real change with a corrupted tail.
    let mut forged = w.forge_from(&tablet.actor);
    forged.append_comment(tablet.stamp(), "正常评论");
    let mut corrupt = forged.changes().remove(0);
    let n = corrupt.len();
    corrupt[n - 3..].copy_from_slice(&[0xff, 0x00, 0xff]);
    tablet
        .push(w.request, vec![corrupt])
        .assert_refused(w.request, "malformed");
    // Garbage as the first change of a document the hub has never seen.
    let unknown = Uuid::new_v4();
    tablet
        .push(unknown, vec![garbage])
        .assert_refused(unknown, "malformed");
    assert!(w.hub.storage.document(unknown).unwrap().is_none());
    assert_eq!(w.held(), before);

    // A change whose dependency was never sent.
    let mut forged = w.forge_from(&tablet.actor);
    let list = forged.list("comments");
    let mut changes = Vec::new();
    for text in ["第一条", "第二条"] {
        let len = forged.doc.length(&list);
        let comment = Comment {
            id: Uuid::new_v4(),
            by: tablet.stamp(),
            text: text.into(),
        };
        forged
            .doc
            .insert(&list, len, serde_json::to_string(&comment).unwrap())
            .unwrap();
        forged.doc.commit();
        changes.push(
            forged
                .doc
                .get_last_local_change()
                .unwrap()
                .raw_bytes()
                .to_vec(),
        );
    }
    tablet
        .push(w.request, vec![changes.pop().unwrap()])
        .assert_refused(w.request, "missing_dependencies");
    assert_eq!(w.held(), before);

    // More documents in one round than the hub takes.
    let crowd = serde_json::to_vec(&SyncRequest {
        pull_budget: None,
        protocol: PROTOCOL_VERSION,
        cursor: 0,
        reference_version: 0,
        push: (0..=bianmin_server::engine::MAX_PUSH_DOCS)
            .map(|_| PushDoc {
                doc: Uuid::new_v4(),
                changes: vec![],
                saved: None,
            })
            .collect(),
    })
    .unwrap();
    tablet.send(&crowd).assert_error(413, "too_many_documents");
    assert_eq!(w.held(), before);

    // A body over the 16 MiB limit.
    let mut huge = br#"{"protocol":1,"cursor":0,"push":[{"doc":""#.to_vec();
    huge.extend_from_slice(w.request.to_string().as_bytes());
    huge.extend_from_slice(br#"","changes":[""#);
    huge.resize(
        huge.len() + bianmin_server::Limits::default().sync_body_bytes + 1024,
        b'A',
    );
    huge.extend_from_slice(br#""]}]}"#);
    tablet.send(&huge).assert_error(413, "payload_too_large");
    assert_eq!(w.held(), before);

    w.assert_still_serving();
}

#[test]
fn an_error_message_quoting_non_ascii_input_is_cut_cleanly() {
    let w = world();
    let tablet = RawDevice::enrol(&w.hub, CLERK, "east-tablet-raw");
    // serde quotes the offending string in its message, and the hub cuts messages at 300
    // bytes: whichever byte of a Chinese character falls at the cut, the answer is a 400.
    for shift in 0..3 {
        let text = format!("{}{}", "a".repeat(shift), "王".repeat(200));
        let body = serde_json::to_vec(&json!({"protocol": text, "cursor": 0})).unwrap();
        let reply = tablet.send(&body);
        reply.assert_error(400, "bad_request");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.len() <= 300, "{message}");
    }
    w.assert_still_serving();
}
