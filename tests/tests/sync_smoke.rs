//! The first thing that must work: a tablet enrols with a real hub, files offline, syncs, and
//! the township's device sees it.

use bianmin_client_core::NewRequest;
use bianmin_client_core::client::sync;
use bianmin_domain::{Action, AttrValue, Status};
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use std::sync::Mutex;

#[test]
fn a_request_filed_offline_reaches_the_township_and_its_decision_comes_back() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "township-desk"));

    let id = {
        let mut s = clerk.lock().unwrap();
        let r = s
            .file_request(NewRequest {
                item_code: "SOC-CARD".into(),
                applicant_name: "王秀英".into(),
                id_number: "11010519491231002X".into(),
                phone: "13812345678".into(),
                grid: "1组".into(),
                attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
                materials_received: vec!["ID card".into(), "Recent photo".into()],
                resident_user: None,
                submit: true,
            })
            .unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(r.id, Action::Forward).unwrap();
        r.id
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert_eq!(report.accepted, 1);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    sync(&reviewer, &quick(), &mut |_| {}).unwrap();
    let seen = reviewer.lock().unwrap().request(id).unwrap();
    assert_eq!(seen.status, Status::Forwarded);
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
    sync(&reviewer, &quick(), &mut |_| {}).unwrap();
    sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert_eq!(
        clerk.lock().unwrap().request(id).unwrap().status,
        Status::Approved
    );
    assert_eq!(
        hub.storage.audit(id).unwrap().len(),
        4,
        "four changes, each with its sender"
    );
}
