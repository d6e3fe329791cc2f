//! Attachment references travel with the request's document: the hub checks them like any
//! other change, and the township's devices see them (their bytes still to come).

use std::sync::Mutex;

use bianmin_client_core::TransferState;
use bianmin_client_core::client::sync;
use bianmin_domain::{Action, MediaType};
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::social_card_request;

#[test]
fn an_attached_photo_reaches_the_township_as_a_reference() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "township-desk"));
    let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE0];
    photo.extend((0..20_000u32).map(|i| (i % 253) as u8));
    let (id, reference) = {
        let mut s = clerk.lock().unwrap();
        let id = s.file_request(social_card_request()).unwrap().id;
        let r = s.attach_bytes(id, "ID card", &photo).unwrap();
        s.apply(id, Action::Accept).unwrap();
        s.apply(id, Action::Forward).unwrap();
        (id, r)
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.accepted, 1);

    sync(&reviewer, &quick(), &mut |_| {}).unwrap();
    let seen = reviewer.lock().unwrap().attachments(id).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].reference, reference);
    assert_eq!(seen[0].reference.media_type, MediaType::Jpeg);
    assert_eq!(
        seen[0].state,
        TransferState::Missing,
        "the bytes travel apart"
    );
    assert!(
        reviewer
            .lock()
            .unwrap()
            .open_attachment(id, &reference.sha256)
            .is_err()
    );
}
