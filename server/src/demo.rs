//! Demo work for a fresh demo hub (`serve --demo`): a demo tablet of East Village files a few
//! residents' requests (backdated so that one is overdue and one due soon), accepts them and
//! forwards most to the township, then syncs with the hub like any tablet — so a reviewer who
//! signs in to the console on a fresh hub has a work queue to decide. It runs only while the hub
//! holds no document; the demo tablet's store is kept in the data directory.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bianmin_client_core::NewRequest;
use bianmin_client_core::client::{self, SyncOptions};
use bianmin_domain::{Action, AttrValue, Timestamp};

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

/// Files the demo requests on a demo tablet enrolled with `code` at the hub at `url`, and
/// syncs them; returns how many requests the hub accepted.
pub fn seed(url: &str, code: &str, store_path: &Path) -> Result<usize, String> {
    let opts = SyncOptions {
        attempts: 5,
        backoff: Duration::from_millis(200),
        ..SyncOptions::default()
    };
    let store = client::enroll(store_path, url, code, "东村示范平板 demo tablet", &opts)
        .map_err(|e| format!("the demo tablet could not enrol: {e}"))?;
    let store = Mutex::new(store);
    {
        let mut s = store.lock().map_err(|_| "demo tablet lock")?;
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
    }
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
