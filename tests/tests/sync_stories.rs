//! Stories told against a real hub: tablets that work offline, sync over HTTP, and see each
//! other's work only through the township hub.
//!
//! What a clerk, a reviewer or an operator would check: the request reads the same everywhere,
//! the hub's copy and every device hold the same document, concurrent decisions stay visible,
//! a device receives only what its role may read, a refused edit is rolled back but kept in
//! view, and an online tablet learns of a township decision without anyone pressing "sync".

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bianmin_client_core::client::{SyncReport, sync};
use bianmin_client_core::protocol::{B64, PROTOCOL_VERSION, PushDoc, SyncRequest};
use bianmin_client_core::watch;
use bianmin_client_core::{
    Error, FieldEdit, NewAgendaItem, NewRequest, Page, RequestFilter, RequestSort, Store,
};
use bianmin_document::Document as HubDocument;
use bianmin_domain::{Action, AttrValue, Role, Status, WorkingCalendar, YearCalendar};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, RESIDENT, REVIEWER, TestHub, quick};
use uuid::Uuid;

const WEST: &str = "370883101202";
const SHIQIANG: &str = "370883102";

/// A social-security card request as a clerk types it at the service point, with both
/// materials the item requires received.
fn soc_card(resident_user: Option<String>) -> NewRequest {
    NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
        materials_received: vec!["ID card".into(), "Recent photo".into()],
        resident_user,
        submit: true,
    }
}

/// Another villager's request (no registered resident).
fn neighbour_request() -> NewRequest {
    NewRequest {
        applicant_name: "李建国".into(),
        id_number: "370883198001011233".into(),
        phone: "13900001111".into(),
        grid: "2组".into(),
        ..soc_card(None)
    }
}

fn run(store: &Mutex<Store>) -> SyncReport {
    let report = sync(store, &quick(), &mut |_| {}).expect("sync");
    assert!(
        report.pull_errors.is_empty(),
        "pull errors: {:?}",
        report.pull_errors
    );
    report
}

fn sorted(mut heads: Vec<[u8; 32]>) -> Vec<[u8; 32]> {
    heads.sort();
    heads
}

/// The hub's own copy of a document.
fn hub_doc(hub: &TestHub, id: Uuid) -> HubDocument {
    let record = hub
        .storage
        .document(id)
        .expect("hub storage")
        .expect("the hub holds the document");
    HubDocument::load(&record.bytes).expect("the hub's copy loads")
}

fn device_heads(store: &Mutex<Store>, id: Uuid) -> Vec<[u8; 32]> {
    sorted(
        store
            .lock()
            .unwrap()
            .heads(id)
            .expect("heads")
            .expect("the device holds the document"),
    )
}

fn user_id(hub: &TestHub, name: &str) -> String {
    hub.storage
        .user_by_name(name)
        .expect("storage")
        .expect("user exists")
        .id
}

fn kinds(store: &Mutex<Store>, id: Uuid) -> Vec<&'static str> {
    store
        .lock()
        .unwrap()
        .request(id)
        .unwrap()
        .history
        .iter()
        .map(|h| h.action.kind())
        .collect()
}

#[test]
fn a_request_filed_offline_goes_to_the_township_and_back_and_every_copy_agrees() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let second_tablet = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet-2"));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "township-desk"));
    let clerk_device = clerk.lock().unwrap().identity().device.clone();
    let reviewer_device = reviewer.lock().unwrap().identity().device.clone();

    // A morning offline at the service point: filed, corrected, completed, forwarded.
    let id = {
        let mut s = clerk.lock().unwrap();
        // The photo is brought after filing.
        let r = s
            .file_request(NewRequest {
                materials_received: vec!["ID card".into()],
                ..soc_card(None)
            })
            .unwrap();
        s.edit(r.id, FieldEdit::Phone("139 1234 5678".into()))
            .unwrap();
        s.edit(
            r.id,
            FieldEdit::Material {
                name: "Recent photo".into(),
                received: true,
            },
        )
        .unwrap();
        s.edit(
            r.id,
            FieldEdit::Attribute {
                code: "reason".into(),
                value: Some(AttrValue::Text("damaged".into())),
            },
        )
        .unwrap();
        s.comment(r.id, "老人行动不便，结果请送到家").unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        r.id
    };
    assert!(
        hub.storage.document(id).unwrap().is_none(),
        "nothing reaches the hub before the tablet syncs"
    );

    let report = run(&clerk);
    assert_eq!(report.accepted, 1);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let audit = hub.storage.audit(id).unwrap();
    assert!(!audit.is_empty());
    assert!(
        audit.iter().all(|a| a.device_id == clerk_device),
        "every change so far came from the clerk's tablet"
    );

    // The township sees it as the clerk left it.
    run(&reviewer);
    {
        let r = reviewer.lock().unwrap();
        let seen = r.request(id).unwrap();
        assert_eq!(seen.status, Status::Forwarded);
        assert_eq!(seen.applicant.phone, "13912345678");
        assert!(seen.materials_received.contains("Recent photo"));
        assert_eq!(
            seen.attributes.get("reason"),
            Some(&AttrValue::Text("damaged".into()))
        );
        assert_eq!(seen.comments.len(), 1);
        let queue = r
            .list_requests(
                &RequestFilter {
                    status: Some(Status::Forwarded),
                    ..RequestFilter::default()
                },
                RequestSort::Deadline,
                Page::default(),
            )
            .unwrap();
        assert_eq!(queue.rows.len(), 1, "it is in the reviewer's work queue");
        assert_eq!(queue.rows[0].id, id);
    }
    reviewer
        .lock()
        .unwrap()
        .apply(
            id,
            Action::Approve {
                note: "材料齐全，同意".into(),
            },
        )
        .unwrap();
    assert_eq!(run(&reviewer).accepted, 1);

    // Back at the village: the approval arrives and the result is delivered.
    run(&clerk);
    assert_eq!(
        clerk.lock().unwrap().request(id).unwrap().status,
        Status::Approved
    );
    clerk.lock().unwrap().apply(id, Action::Deliver).unwrap();
    assert_eq!(run(&clerk).accepted, 1);

    // Final syncs everywhere; another sync then has nothing left to move.
    for device in [&reviewer, &second_tablet, &clerk] {
        run(device);
    }
    for device in [&reviewer, &second_tablet, &clerk] {
        let quiet = run(device);
        assert_eq!(quiet.accepted, 0);
        assert_eq!(quiet.new_changes, 0);
    }

    let hub_heads = sorted(hub_doc(&hub, id).heads());
    for device in [&clerk, &second_tablet, &reviewer] {
        assert_eq!(device_heads(device, id), hub_heads, "same heads as the hub");
    }
    assert_eq!(hub_doc(&hub, id).request_status(), Some(Status::Completed));

    let at_village = clerk.lock().unwrap().request(id).unwrap();
    let at_township = reviewer.lock().unwrap().request(id).unwrap();
    let on_second_tablet = second_tablet.lock().unwrap().request(id).unwrap();
    assert_eq!(at_village.status, Status::Completed);
    assert_eq!(
        kinds(&clerk, id),
        ["submit", "accept", "forward", "approve", "deliver"]
    );
    assert!(at_village.history.iter().all(|h| h.invalid.is_none()));
    assert_eq!(at_village, at_township, "the request page reads the same");
    assert_eq!(at_village, on_second_tablet);
    // Who did what, on which device, is evidence that travelled with the request.
    for h in &at_village.history {
        let expected = if h.action.kind() == "approve" {
            &reviewer_device
        } else {
            &clerk_device
        };
        assert_eq!(&h.by.device, expected, "{}", h.action.kind());
    }
    // And the hub recorded who sent each change.
    let audit = hub.storage.audit(id).unwrap();
    let senders: BTreeSet<&str> = audit.iter().map(|a| a.device_id.as_str()).collect();
    assert_eq!(
        senders,
        BTreeSet::from([clerk_device.as_str(), reviewer_device.as_str()])
    );
    assert_eq!(
        hub.storage.counts().unwrap().0,
        1,
        "one document at the hub"
    );
}

#[test]
fn a_withdrawal_at_the_village_and_an_approval_at_the_township_both_stay_visible() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let resident = Mutex::new(hub.enrol(RESIDENT, dir.path(), "wang-phone"));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "township-desk"));
    let wang = user_id(&hub, RESIDENT);

    let id = {
        let mut s = clerk.lock().unwrap();
        let r = s.file_request(soc_card(Some(wang.clone()))).unwrap();
        assert_eq!(r.resident_user.as_deref(), Some(wang.as_str()));
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        r.id
    };
    run(&clerk);
    run(&resident);
    run(&reviewer);
    assert_eq!(
        resident.lock().unwrap().request(id).unwrap().status,
        Status::Forwarded,
        "the resident's own device follows the request"
    );

    // Offline on both sides: the resident changes her mind while the township approves.
    let withdraw = resident
        .lock()
        .unwrap()
        .apply(
            id,
            Action::Withdraw {
                reason: "已在县里办好".into(),
            },
        )
        .unwrap();
    assert_eq!(withdraw.status, Status::Withdrawn);
    let approve = reviewer
        .lock()
        .unwrap()
        .apply(
            id,
            Action::Approve {
                note: "同意".into(),
            },
        )
        .unwrap();
    assert_eq!(approve.status, Status::Approved);
    let withdraw_event = withdraw.history.last().unwrap().id;
    let approve_event = approve.history.last().unwrap().id;

    assert_eq!(run(&reviewer).accepted, 1);
    let resident_round = run(&resident);
    assert_eq!(
        resident_round.accepted, 1,
        "the hub keeps the withdrawal: {:?}",
        resident_round.refused
    );
    for device in [&reviewer, &clerk, &resident] {
        run(device);
    }

    let expected = BTreeSet::from([
        (approve_event, Status::Approved),
        (withdraw_event, Status::Withdrawn),
    ]);
    let mut hub_copy = hub_doc(&hub, id);
    let hub_heads = sorted(hub_copy.heads());
    let mut pages = Vec::new();
    for device in [&clerk, &resident, &reviewer] {
        let page = device.lock().unwrap().request(id).unwrap();
        let conflict = page
            .conflict
            .clone()
            .expect("the request is flagged as in conflict");
        assert_eq!(
            conflict.branches.iter().copied().collect::<BTreeSet<_>>(),
            expected,
            "both decisions are shown"
        );
        assert_eq!(device_heads(device, id), hub_heads);
        pages.push(page);
    }
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[0], pages[2]);
    assert_eq!(hub_copy.request_status(), Some(pages[0].status));
    assert!(
        matches!(
            hub_copy.request_status(),
            Some(Status::Approved | Status::Withdrawn)
        ),
        "the hub derives the same state from the same events"
    );
    // Lists flag it too, on the resident's device through her own scope.
    let flagged = resident
        .lock()
        .unwrap()
        .list_requests(
            &RequestFilter {
                conflict: Some(true),
                ..RequestFilter::default()
            },
            RequestSort::Deadline,
            Page::default(),
        )
        .unwrap();
    assert_eq!(flagged.rows.len(), 1);
    assert_eq!(flagged.rows[0].id, id);

    // A person settles it; the settlement reaches everyone, the hub included.
    reviewer
        .lock()
        .unwrap()
        .apply(
            id,
            Action::Settle {
                keep: withdraw_event,
                note: "申请人已撤回，以撤回为准".into(),
            },
        )
        .unwrap();
    assert_eq!(run(&reviewer).accepted, 1);
    for device in [&clerk, &resident] {
        run(device);
        let page = device.lock().unwrap().request(id).unwrap();
        assert_eq!(page.status, Status::Withdrawn);
        assert!(page.conflict.is_none());
    }
    assert_eq!(hub_doc(&hub, id).request_status(), Some(Status::Withdrawn));
}

#[test]
fn each_device_receives_only_what_its_role_may_read_and_everyone_gets_reference_data() {
    let hub = TestHub::start();
    admin::add_user(hub.storage.as_ref(), "clerk-west", "", Role::Clerk, WEST).unwrap();
    admin::add_user(
        hub.storage.as_ref(),
        "reviewer-shiqiang",
        "",
        Role::Reviewer,
        SHIQIANG,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let east = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let west = Mutex::new(hub.enrol("clerk-west", dir.path(), "west-tablet"));
    let resident = Mutex::new(hub.enrol(RESIDENT, dir.path(), "wang-phone"));
    let taiping = Mutex::new(hub.enrol(REVIEWER, dir.path(), "taiping-desk"));
    let shiqiang = Mutex::new(hub.enrol("reviewer-shiqiang", dir.path(), "shiqiang-desk"));
    let wang = user_id(&hub, RESIDENT);

    let (wangs, neighbours, agenda) = {
        let mut s = east.lock().unwrap();
        let a = s.file_request(soc_card(Some(wang))).unwrap().id;
        let b = s.file_request(neighbour_request()).unwrap().id;
        let c = s
            .create_agenda(NewAgendaItem {
                title: "村集体鱼塘承包方案".into(),
                category: "collective assets".into(),
                description: "鱼塘承包期满，拟公开发包".into(),
            })
            .unwrap()
            .id;
        (a, b, c)
    };
    let west_request = west
        .lock()
        .unwrap()
        .file_request(NewRequest {
            grid: "1组".into(),
            ..neighbour_request()
        })
        .unwrap()
        .id;
    assert_eq!(run(&east).accepted, 3);
    assert_eq!(run(&west).accepted, 1);
    assert_eq!(hub.storage.counts().unwrap().0, 4);

    for device in [&resident, &taiping, &shiqiang, &east, &west] {
        run(device);
    }
    let ids = |s: &Mutex<Store>| -> BTreeSet<Uuid> {
        s.lock()
            .unwrap()
            .document_ids()
            .unwrap()
            .into_iter()
            .collect()
    };

    // The resident's device: her own request, nothing else of the village.
    assert_eq!(ids(&resident), BTreeSet::from([wangs]));
    assert_eq!(resident.lock().unwrap().counts().unwrap(), (1, 0));
    assert!(matches!(
        resident.lock().unwrap().request(neighbours),
        Err(Error::NotFound { .. })
    ));
    // The West Village clerk: only West Village.
    assert_eq!(ids(&west), BTreeSet::from([west_request]));
    // The East Village clerk: only East Village.
    assert_eq!(ids(&east), BTreeSet::from([wangs, neighbours, agenda]));
    // Taiping's reviewer: every village of Taiping.
    assert_eq!(
        ids(&taiping),
        BTreeSet::from([wangs, neighbours, agenda, west_request])
    );
    assert_eq!(taiping.lock().unwrap().counts().unwrap(), (3, 1));
    // Shiqiang's reviewer: nothing of Taiping at all.
    assert!(ids(&shiqiang).is_empty());
    assert_eq!(shiqiang.lock().unwrap().counts().unwrap(), (0, 0));

    // Later changes follow the same scopes.
    east.lock()
        .unwrap()
        .apply(neighbours, Action::Accept)
        .unwrap();
    run(&east);
    for (device, expect_new) in [(&resident, 0), (&west, 0), (&shiqiang, 0), (&taiping, 1)] {
        let report = run(device);
        assert_eq!(report.new_changes, expect_new);
        if expect_new == 0 {
            assert_eq!(
                report.progress.docs_pulled, 0,
                "nothing out of scope is sent"
            );
        }
    }

    // Reference data reaches every device, whatever its role.
    let reference = hub.storage.reference().unwrap().expect("reference data");
    let calendar = WorkingCalendar::new(reference.calendars.clone());
    let devices = [&east, &west, &resident, &taiping, &shiqiang];
    for device in devices {
        let s = device.lock().unwrap();
        assert_eq!(s.reference().catalog, reference.catalog);
        assert_eq!(s.reference().directory, reference.directory);
        assert_eq!(s.reference().calendar, calendar);
        assert_eq!(s.reference_version().unwrap(), reference.version);
    }

    // An administrator loads next year's calendar and a revised catalog; every device gets them.
    let mut catalog: serde_json::Value =
        serde_json::from_str(bianmin_domain::demo::CATALOG_JSON).unwrap();
    for item in catalog["items"].as_array_mut().unwrap() {
        if item["code"] == "SOC-CARD" {
            item["time_limit_days"] = 7.into();
        }
    }
    admin::load_catalog(hub.storage.as_ref(), &catalog.to_string()).unwrap();
    let year_2027 = r#"{"year": 2027, "holidays": [{"name": "元旦 New Year's Day",
        "dates": ["2027-01-01"]}], "adjusted_working_days": []}"#;
    YearCalendar::from_json(year_2027).unwrap();
    let version = admin::load_calendar(hub.storage.as_ref(), year_2027).unwrap();
    assert!(version > reference.version);
    let new_year: chrono::NaiveDate = "2027-01-01".parse().unwrap();
    for device in devices {
        // The hub re-reads reference data every few seconds: wait for it, generously.
        let deadline = Instant::now() + Duration::from_secs(15);
        while device.lock().unwrap().reference_version().unwrap() < version {
            assert!(
                Instant::now() < deadline,
                "new reference data did not arrive"
            );
            run(device);
            std::thread::sleep(Duration::from_millis(100));
        }
        let s = device.lock().unwrap();
        assert_eq!(s.reference_version().unwrap(), version);
        assert_eq!(
            s.reference()
                .catalog
                .item("SOC-CARD")
                .unwrap()
                .time_limit_days,
            7
        );
        assert!(s.reference().calendar.covers(2027));
        assert!(!s.reference().calendar.is_working_day(new_year));
        assert!(s.reference().calendar.covers(2026), "2026 is kept");
    }
}

#[test]
fn an_edit_the_hub_refuses_is_rolled_back_on_the_tablet_and_kept_in_view() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let tablet_a = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet-a"));
    let tablet_b = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet-b"));
    let b_device = tablet_b.lock().unwrap().identity().device.clone();

    let id = {
        let mut s = tablet_a.lock().unwrap();
        let r = s.file_request(soc_card(None)).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        r.id
    };
    run(&tablet_a);
    run(&tablet_b);
    assert_eq!(
        tablet_b.lock().unwrap().request(id).unwrap().status,
        Status::Accepted
    );

    // Tablet A forwards it to the township...
    tablet_a.lock().unwrap().apply(id, Action::Forward).unwrap();
    run(&tablet_a);
    let audit_before = hub.storage.audit(id).unwrap();

    // ...while tablet B, offline and still seeing it accepted, corrects the phone number.
    let local = tablet_b
        .lock()
        .unwrap()
        .edit(id, FieldEdit::Phone("13987654321".into()))
        .expect("allowed locally: the tablet sees the request accepted");
    assert_eq!(local.applicant.phone, "13987654321");

    let report = run(&tablet_b);
    assert_eq!(report.accepted, 0);
    assert_eq!(report.refused.len(), 1, "the hub refuses the edit");
    let refused = &report.refused[0];
    assert_eq!(refused.doc_id, id);
    assert_eq!(refused.code, "forbidden");
    assert!(
        refused.reason.contains("forwarded"),
        "the reason names the rule: {}",
        refused.reason
    );
    assert!(
        !refused.reason.contains("13987654321"),
        "no personal data in reasons"
    );
    assert_eq!(refused.summary, ["field phone"]);

    // Nothing of it reached the hub.
    assert_eq!(hub.storage.audit(id).unwrap(), audit_before);
    assert!(
        hub.storage
            .audit(id)
            .unwrap()
            .iter()
            .all(|a| a.device_id != b_device)
    );

    // Tablet B: rolled back to the hub's state, the refusal kept for the clerk to see.
    let page = tablet_b.lock().unwrap().request(id).unwrap();
    assert_eq!(
        page.applicant.phone, "13812345678",
        "back to the hub's value"
    );
    assert_eq!(page.status, Status::Forwarded);
    assert!(page.edits.is_empty(), "the refused edit record is gone too");
    let kept = tablet_b.lock().unwrap().refused_edits().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].code, "forbidden");
    assert_eq!(kept[0].doc_id, id);
    assert_eq!(kept[0].reason, refused.reason);
    assert!(
        tablet_b
            .lock()
            .unwrap()
            .pending_changes(10)
            .unwrap()
            .is_empty(),
        "nothing is pushed again"
    );

    // The next sync leaves tablet B exactly where the hub is.
    let next = run(&tablet_b);
    assert!(next.refused.is_empty());
    run(&tablet_a);
    let hub_heads = sorted(hub_doc(&hub, id).heads());
    assert_eq!(device_heads(&tablet_b, id), hub_heads);
    assert_eq!(device_heads(&tablet_a, id), hub_heads);
    assert_eq!(
        tablet_a.lock().unwrap().request(id).unwrap(),
        tablet_b.lock().unwrap().request(id).unwrap()
    );

    // Tablet B keeps working normally afterwards.
    tablet_b
        .lock()
        .unwrap()
        .comment(id, "电话号码需核实后由镇里更正")
        .unwrap();
    assert_eq!(run(&tablet_b).accepted, 1);
}

/// Posts one round for `store` as its client would, but throws the answer away (the link
/// dropped after the hub stored the push).
fn push_and_lose_the_answer(store: &Mutex<Store>) -> usize {
    let (url, token, request) = {
        let s = store.lock().unwrap();
        let (url, token) = s.server().unwrap().expect("enrolled");
        let request = SyncRequest {
            pull_budget: None,
            protocol: PROTOCOL_VERSION,
            cursor: s.sync_cursor().unwrap(),
            reference_version: s.reference_version().unwrap(),
            push: s
                .pending_changes(100)
                .unwrap()
                .into_iter()
                .map(|p| PushDoc {
                    doc: p.doc_id,
                    changes: p.changes.into_iter().map(B64).collect(),
                    saved: None,
                })
                .collect(),
        };
        (url, token, request)
    };
    let pushed = request.push.len();
    let resp = ureq::post(&format!("{url}/api/v1/sync"))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(&request)
        .expect("the hub answered (the tablet never hears it)");
    assert_eq!(resp.status().as_u16(), 200);
    pushed
}

#[test]
fn a_refused_edit_after_a_lost_answer_rolls_back_only_the_refused_edit() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let tablet_a = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet-a"));
    let tablet_b = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet-b"));
    let id = {
        let mut s = tablet_a.lock().unwrap();
        let r = s.file_request(soc_card(None)).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        r.id
    };
    run(&tablet_a);
    run(&tablet_b);

    // Tablet B notes something; its sync reaches the hub but the answer is lost.
    tablet_b
        .lock()
        .unwrap()
        .comment(id, "申请人下午补交照片")
        .unwrap();
    assert_eq!(push_and_lose_the_answer(&tablet_b), 1);
    assert_eq!(
        hub.storage.audit(id).unwrap().len(),
        3,
        "the hub stored the comment"
    );
    // Meanwhile tablet A forwards; then B, offline, edits a field it may no longer edit.
    tablet_a.lock().unwrap().apply(id, Action::Forward).unwrap();
    run(&tablet_a);
    tablet_b
        .lock()
        .unwrap()
        .edit(id, FieldEdit::Phone("13987654321".into()))
        .unwrap();

    // B's next sync repeats the comment (held by the hub) together with the edit (refused).
    let report = run(&tablet_b);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].code, "forbidden");
    assert_eq!(
        report.refused[0].summary,
        ["field phone"],
        "only the edit is rolled back"
    );
    let page = tablet_b.lock().unwrap().request(id).unwrap();
    assert_eq!(page.comments.len(), 1, "the comment the hub holds stays");
    assert_eq!(page.applicant.phone, "13812345678");
    assert_eq!(page.status, Status::Forwarded);

    run(&tablet_b);
    run(&tablet_a);
    let hub_heads = sorted(hub_doc(&hub, id).heads());
    assert_eq!(device_heads(&tablet_b, id), hub_heads);
    assert_eq!(device_heads(&tablet_a, id), hub_heads);
    assert_eq!(
        tablet_a.lock().unwrap().request(id).unwrap(),
        tablet_b.lock().unwrap().request(id).unwrap()
    );
    // B keeps working; what it pushes next is accepted.
    tablet_b
        .lock()
        .unwrap()
        .comment(id, "已电话通知申请人")
        .unwrap();
    let next = run(&tablet_b);
    assert_eq!(next.accepted, 1);
    assert!(next.refused.is_empty());
}

#[test]
fn an_online_tablet_sees_the_townships_decision_without_pressing_sync() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Arc::new(Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet")));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "township-desk"));

    let id = {
        let mut s = clerk.lock().unwrap();
        let r = s.file_request(soc_card(None)).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        r.id
    };
    run(&clerk);
    run(&reviewer);

    // The tablet listens for notices and syncs on each one, as the app does when online.
    let stop = Arc::new(AtomicBool::new(false));
    let notices = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let watcher = {
        let (clerk, stop, notices) = (clerk.clone(), stop.clone(), notices.clone());
        std::thread::spawn(move || {
            let result = watch::watch(&clerk, &stop, &mut || {
                notices.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = sync(&clerk, &quick(), &mut |_| {}) {
                    eprintln!("sync after a notice failed: {e}");
                }
            });
            let _ = done_tx.send(result.map_err(|e| e.to_string()));
        })
    };

    // Wait until the tablet is listening: the township comments until a notice is heard.
    let mut warmed = false;
    for attempt in 0..20 {
        reviewer
            .lock()
            .unwrap()
            .comment(id, &format!("已收到，正在审核 ({attempt})"))
            .unwrap();
        run(&reviewer);
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline && notices.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        if notices.load(Ordering::SeqCst) > 0 {
            warmed = true;
            break;
        }
    }
    assert!(warmed, "the tablet never heard a notice from the hub");

    // The township approves; the test never syncs the clerk's tablet itself.
    reviewer
        .lock()
        .unwrap()
        .apply(
            id,
            Action::Approve {
                note: String::new(),
            },
        )
        .unwrap();
    let started = Instant::now();
    assert_eq!(run(&reviewer).accepted, 1);
    let deadline = started + Duration::from_secs(10);
    let mut status = Status::Forwarded;
    while Instant::now() < deadline {
        status = clerk.lock().unwrap().request(id).unwrap().status;
        if status == Status::Approved {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let latency = started.elapsed();
    assert_eq!(
        status,
        Status::Approved,
        "the tablet did not see the approval within 10 s"
    );
    println!("approval visible on the listening tablet after {latency:?} (reviewer push included)");

    // Stop listening: the watcher ends at the next line from the hub; one more change sends one.
    stop.store(true, Ordering::SeqCst);
    reviewer
        .lock()
        .unwrap()
        .comment(id, "结果已寄往村便民服务站")
        .unwrap();
    run(&reviewer);
    let ended = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the watcher ends once asked to stop (at the latest at the next keep-alive)");
    assert_eq!(ended, Ok(()));
    watcher.join().expect("the watcher thread did not panic");
}
