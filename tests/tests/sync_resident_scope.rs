//! A request names the resident it belongs to, and is then sent to that resident's devices:
//! the hub accepts only a registered resident of the request's own village.

use bianmin_client_core::NewRequest;
use bianmin_client_core::client::sync;
use bianmin_domain::{AttrValue, Role};
use bianmin_tests::hub::{CLERK, RESIDENT, TestHub, quick};
use std::sync::Mutex;

fn for_resident(user: &str) -> NewRequest {
    NewRequest {
        item_code: "CIV-RESIDENCE-CERT".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [("purpose".to_string(), AttrValue::Text("school".into()))].into(),
        materials_received: vec![],
        resident_user: Some(user.to_string()),
        submit: true,
    }
}

#[test]
fn a_request_may_name_only_a_resident_of_its_village() {
    let hub = TestHub::start();
    let west_resident = bianmin_server::admin::add_user(
        hub.storage.as_ref(),
        "resident-li",
        "",
        Role::Resident,
        "370883101202",
    )
    .unwrap();
    let east_resident = hub.storage.user_by_name(RESIDENT).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east"));
    let (bad, ghost, good) = {
        let mut s = clerk.lock().unwrap();
        (
            s.file_request(for_resident(&west_resident.id)).unwrap().id,
            s.file_request(for_resident("u-nobody")).unwrap().id,
            s.file_request(for_resident(&east_resident.id)).unwrap().id,
        )
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert_eq!(report.accepted, 1);
    let mut refused: Vec<_> = report.refused.iter().map(|r| r.doc_id).collect();
    refused.sort();
    let mut expected = vec![bad, ghost];
    expected.sort();
    assert_eq!(refused, expected);
    for r in &report.refused {
        assert_eq!(r.code, "invalid");
        assert!(r.reason.contains("resident_user"), "{}", r.reason);
    }
    assert!(
        hub.storage.document(bad).unwrap().is_none(),
        "nothing of it stored"
    );
    assert!(hub.storage.document(good).unwrap().is_some());
    let s = clerk.lock().unwrap();
    assert!(
        s.request_row(bad).unwrap().is_none(),
        "rolled back off the lists"
    );
    assert_eq!(
        s.refused_edits().unwrap().len(),
        2,
        "but kept visible with the reason"
    );

    // The West Village resident's device never receives it.
    let west = Mutex::new(hub.enrol("resident-li", dir.path(), "li-phone"));
    sync(&west, &quick(), &mut |_| {}).unwrap();
    assert_eq!(west.lock().unwrap().counts().unwrap(), (0, 0));
}
