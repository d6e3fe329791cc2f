//! Demo work for a fresh demo hub (`serve --demo`): a demo device of West Village (clerk
//! `clerk-west`, in the demo reviewer's township) files a few residents' requests (backdated so
//! that one is overdue and one due soon), accepts them and forwards most to the township, and
//! pushes them through the same sync round and check as any tablet's — so a reviewer who signs
//! in to the console on a fresh hub has a work queue to decide, while East Village (the
//! walk-through's) stays empty. It runs only while the hub holds no document.
//!
//! The device is enrolled in-process before the hub accepts connections ([`load`]), so it is
//! always device 1 and tablets enrolled afterwards get the same numbers on every fresh demo
//! hub. Its documents are written with [`bianmin_document::author`], the code a tablet writes
//! with; the hub links no tablet code.

use std::time::Duration;

use automerge::{ActorId, AutoCommit};
use bianmin_document::author::{self, Author};
use bianmin_document::layout::request as request_doc;
use bianmin_document::model::NewRequest;
use bianmin_document::{Decoded, Reference};
use bianmin_domain::{Action, AttrValue, Identity, ReceiptNo, Role, Timestamp};
use bianmin_protocol::{B64, EnrolRequest, PROTOCOL_VERSION, PushDoc, PushResult, SyncRequest};

use crate::admin;
use crate::auth::AuthedDevice;
use crate::engine::Engine;
use crate::storage::Storage;

/// The demo tablet's clerk and village.
const CLERK: &str = "clerk-west";
const VILLAGE: &str = "370883101202";

/// One demo request: item, applicant (fictitious, valid check digits), phone, attribute,
/// materials received, how many days ago it was filed and accepted, and whether it is
/// forwarded to the township.
struct DemoRequest {
    item: &'static str,
    name: &'static str,
    id_number: &'static str,
    phone: &'static str,
    attribute: Option<(&'static str, &'static str)>,
    materials: &'static [&'static str],
    days_ago: i64,
    forward: bool,
}

const REQUESTS: [DemoRequest; 4] = [
    DemoRequest {
        item: "AID-ELDER-ALLOWANCE",
        name: "李桂兰",
        id_number: "37088319480607003X",
        phone: "13905371234",
        attribute: Some(("bank_account", "6228 4800 1234 5678")),
        materials: &["ID card", "Bank account booklet"],
        days_ago: 20,
        forward: true,
    },
    DemoRequest {
        item: "SOC-CARD",
        name: "王秀英",
        id_number: "11010519491231002X",
        phone: "13812345678",
        attribute: Some(("reason", "lost")),
        materials: &["ID card", "Recent photo"],
        days_ago: 11,
        forward: true,
    },
    DemoRequest {
        item: "SOC-PENSION-ENROL",
        name: "赵建国",
        id_number: "370883196611200040",
        phone: "13705379876",
        attribute: Some(("contribution_tier", "300")),
        materials: &["ID card", "Household register (hukou) booklet"],
        days_ago: 1,
        forward: true,
    },
    DemoRequest {
        item: "CIV-SENIOR-CARD",
        name: "孙玉芳",
        id_number: "370883195203140021",
        phone: "13605375555",
        attribute: None,
        materials: &["ID card", "Recent photo"],
        days_ago: 0,
        forward: false,
    },
];

const DAY_MS: i64 = 24 * 3600 * 1000;

/// On a hub holding no document: enrols the demo device of West Village in-process, writes its
/// requests and pushes them through the engine's sync round. Returns how many requests the hub
/// accepted (0 when the hub already held documents).
pub fn load(storage: &dyn Storage, engine: &Engine) -> Result<usize, String> {
    if storage.counts().map_err(|e| e.to_string())?.0 > 0 {
        return Ok(0);
    }
    if storage
        .user_by_name(CLERK)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        admin::add_user(storage, CLERK, "西村代办员 刘洋", Role::Clerk, VILLAGE)
            .map_err(|e| e.to_string())?;
    }
    let code = admin::issue_enrolment_code(storage, CLERK, Duration::from_secs(600))
        .map_err(|e| e.to_string())?;
    let enrolled = engine
        .enrol(EnrolRequest {
            protocol: PROTOCOL_VERSION,
            code,
            device_name: "西村示范平板 demo tablet".into(),
        })
        .map_err(|e| e.to_string())?;
    let token_hash = crate::auth::hash_secret(&enrolled.token);
    let (device, user) = storage
        .device_by_token(&token_hash)
        .map_err(|e| e.to_string())?
        .ok_or("the demo device vanished")?;
    let who = AuthedDevice {
        device,
        user,
        identity: enrolled.identity.clone(),
        token_hash,
    };
    let reference = Reference {
        catalog: enrolled.reference.catalog.clone(),
        directory: enrolled.reference.directory.clone(),
        calendar: bianmin_domain::WorkingCalendar::new(enrolled.reference.calendars.clone()),
    };
    let actor: ActorId = enrolled.actor.parse().map_err(|_| "the demo actor")?;
    let push = REQUESTS
        .iter()
        .zip(1..)
        .map(|(r, counter)| {
            let receipt = ReceiptNo::new(VILLAGE, enrolled.device_no, counter);
            demo_request(r, &receipt, &enrolled.identity, &reference, &actor)
                .map_err(|e| format!("demo request {}: {e}", r.item))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let answer = engine
        .sync(
            &who,
            SyncRequest {
                pull_budget: None,
                protocol: PROTOCOL_VERSION,
                cursor: 0,
                reference_version: 0,
                push,
            },
        )
        .map_err(|e| e.to_string())?;
    let accepted = answer
        .results
        .iter()
        .filter(|r| matches!(r, PushResult::Accepted { .. }))
        .count();
    if accepted != REQUESTS.len() {
        return Err(format!(
            "the hub refused {} demo requests",
            REQUESTS.len() - accepted
        ));
    }
    Ok(accepted)
}

/// One demo request, filed `days_ago`, accepted and perhaps forwarded, as one push.
fn demo_request(
    r: &DemoRequest,
    receipt: &ReceiptNo,
    identity: &Identity,
    reference: &Reference,
    actor: &ActorId,
) -> Result<PushDoc, bianmin_document::Error> {
    let a = Author {
        identity,
        reference,
        at: Timestamp(Timestamp::now().0 - r.days_ago * DAY_MS),
    };
    let new = NewRequest {
        item_code: r.item.into(),
        applicant_name: r.name.into(),
        id_number: r.id_number.into(),
        phone: r.phone.into(),
        grid: "1组".into(),
        attributes: r
            .attribute
            .iter()
            .map(|(k, v)| (k.to_string(), AttrValue::Text(v.to_string())))
            .collect(),
        materials_received: r.materials.iter().map(|m| m.to_string()).collect(),
        resident_user: None,
        submit: true,
    };
    let filed = author::new_request(&a, &new, receipt)?;
    let mut am = AutoCommit::new().with_actor(actor.clone());
    request_doc::create(&mut am, &filed)?;
    let steps: &[Action] = if r.forward {
        &[Action::Accept, Action::Forward]
    } else {
        &[Action::Accept]
    };
    for action in steps {
        let Decoded::Request(current) = bianmin_document::decode(&am)? else {
            unreachable!("a request document decodes as a request");
        };
        author::request_event(&a, &current, &mut am, action.clone())?;
    }
    Ok(PushDoc {
        doc: filed.id,
        changes: am
            .get_changes(&[])
            .into_iter()
            .map(|c| B64(c.raw_bytes().to_vec()))
            .collect(),
        saved: None,
    })
}
