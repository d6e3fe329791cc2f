//! The first thing that must work: a tablet enrols with a real hub, files offline, syncs, and
//! the township's device sees it.

use bianmin_client_core::NewRequest;
use bianmin_client_core::client::sync;
use bianmin_domain::{Action, AttrValue, Status};
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::social_card_request;
use std::sync::Mutex;

#[test]
fn a_request_filed_offline_reaches_the_township_and_its_decision_comes_back() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "township-desk"));

    let id = {
        let mut s = clerk.lock().unwrap();
        let r = s.file_request(social_card_request()).unwrap();
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

#[test]
fn the_clerk_keeps_working_while_a_long_sync_runs() {
    use bianmin_client_core::client::SyncOptions;
    use std::sync::Arc;
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let tablet = Arc::new(Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet")));
    let filing = |n: usize| NewRequest {
        item_code: "CIV-RESIDENCE-CERT".into(),
        applicant_name: format!("居民{n}"),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "2组".into(),
        attributes: [("purpose".to_string(), AttrValue::Text("school".into()))].into(),
        materials_received: vec!["ID card".into()],
        resident_user: None,
        submit: true,
    };
    for n in 0..150 {
        tablet.lock().unwrap().file_request(filing(n)).unwrap();
    }
    // A slow sync: ten documents per round.
    let syncing = {
        let tablet = tablet.clone();
        std::thread::spawn(move || {
            let opts = SyncOptions {
                docs_per_round: 10,
                ..quick()
            };
            let mut rounds_seen = 0;
            let report = sync(&tablet, &opts, &mut |p| rounds_seen = p.rounds).unwrap();
            (report, rounds_seen)
        })
    };
    // Meanwhile the clerk files and accepts, never blocked for a whole sync.
    let mut mine = Vec::new();
    for n in 150..170 {
        let r = tablet.lock().unwrap().file_request(filing(n)).unwrap();
        tablet.lock().unwrap().apply(r.id, Action::Accept).unwrap();
        mine.push(r.id);
    }
    let (report, rounds) = syncing.join().unwrap();
    assert!(rounds >= 15, "the sync took many rounds ({rounds})");
    assert!(report.refused.is_empty());
    sync(&tablet, &quick(), &mut |_| {}).unwrap();
    assert_eq!(
        hub.storage.counts().unwrap().0,
        170,
        "every request reached the hub"
    );
    assert!(
        tablet
            .lock()
            .unwrap()
            .pending_changes(1000)
            .unwrap()
            .is_empty()
    );
    for id in mine {
        let on_hub =
            bianmin_document::Document::load(&hub.storage.document(id).unwrap().unwrap().bytes)
                .unwrap();
        assert_eq!(on_hub.request_status(), Some(Status::Accepted));
    }
}
