//! Demo work for a fresh demo hub (`serve --demo`): a demo tablet of West Village (clerk
//! `clerk-west`, in the demo reviewer's township) files a few residents' requests (backdated so
//! that one is overdue and one due soon), accepts them and forwards most to the township, then
//! syncs with the hub like any tablet — so a reviewer who signs in to the console on a fresh hub
//! has a work queue to decide, while East Village (the walk-through's) stays empty. It runs only
//! while the hub holds no document; the demo tablet's store is kept in the data directory.
//!
//! The tablet is enrolled in-process before the hub accepts connections ([`prepare`]), so it is
//! always device 1 and tablets enrolled afterwards get the same numbers on every fresh demo hub;
//! its work is synced over HTTP once the hub serves ([`sync`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bianmin_client_core::client::{self, SyncOptions};
use bianmin_client_core::protocol::{EnrolRequest, PROTOCOL_VERSION};
use bianmin_client_core::{NewRequest, Store};
use bianmin_domain::{Action, AttrValue, Role, Timestamp};

use crate::admin;
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

/// On a hub holding no document (and no demo tablet yet in `data_dir`): enrols the demo
/// tablet of West Village in-process and files its requests offline. `url` is where the hub
/// will serve. `None` when there is nothing to do.
pub fn prepare(
    storage: &dyn Storage,
    engine: &Engine,
    data_dir: &Path,
    url: &str,
) -> Result<Option<Store>, String> {
    let path = data_dir.join("demo-tablet.db");
    if storage.counts().map_err(|e| e.to_string())?.0 > 0 || path.exists() {
        return Ok(None);
    }
    if storage
        .user_by_name(CLERK)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        admin::add_user(
            storage,
            CLERK,
            "西村代办员 (clerk, West Village)",
            Role::Clerk,
            VILLAGE,
        )
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
    let mut s = client::store_from_enrolment(&path, url, &enrolled)
        .map_err(|e| format!("the demo tablet's store: {e}"))?;
    for r in &REQUESTS {
        let at = Timestamp(Timestamp::now().0 - r.days_ago * DAY_MS);
        s.set_clock(Arc::new(move || at));
        let filed = s
            .file_request(NewRequest {
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
            })
            .map_err(|e| format!("demo request {}: {e}", r.item))?;
        s.apply(filed.id, Action::Accept)
            .map_err(|e| format!("demo request {}: {e}", r.item))?;
        if r.forward {
            s.apply(filed.id, Action::Forward)
                .map_err(|e| format!("demo request {}: {e}", r.item))?;
        }
    }
    s.set_clock(Arc::new(Timestamp::now));
    Ok(Some(s))
}

/// Syncs the demo tablet's work with the (now serving) hub; returns how many requests the hub
/// accepted.
pub fn sync(store: Store) -> Result<usize, String> {
    let opts = SyncOptions {
        attempts: 5,
        backoff: Duration::from_millis(200),
        ..SyncOptions::default()
    };
    let store = Mutex::new(store);
    let report = client::sync(&store, &opts, &mut |_| {})
        .map_err(|e| format!("the demo tablet could not sync: {e}"))?;
    if !report.refused.is_empty() {
        return Err(format!(
            "the hub refused {} demo requests",
            report.refused.len()
        ));
    }
    Ok(report.accepted)
}
