//! Attaching photos and scans of materials on the tablet: checked, stored once beside the
//! store, referenced from the request's document, readable back.

use bianmin_client_core::{Error, NewRequest, Reference, Store, StoreConfig, TransferState};
use bianmin_domain::{AttrValue, Identity, MAX_ATTACHMENT_BYTES, MediaType, Role};
use uuid::Uuid;

fn store(dir: &std::path::Path) -> Store {
    let clerk = Identity::new("clerk-east", Role::Clerk, "370883101201", "tablet-1").unwrap();
    Store::create(
        dir.join("tablet.db"),
        StoreConfig {
            identity: clerk,
            device_no: 1,
            reference: Reference::demo(),
        },
    )
    .unwrap()
}

fn file(s: &mut Store) -> Uuid {
    s.file_request(NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
        materials_received: vec!["ID card".into()],
        resident_user: None,
        submit: true,
    })
    .unwrap()
    .id
}

/// A small but real PNG signature followed by bytes.
fn png(n: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..n).map(|i| (i * 31 % 251) as u8));
    b
}

fn blob_files(s: &Store) -> usize {
    std::fs::read_dir(s.blob_dir()).map_or(0, |d| d.count())
}

#[test]
fn a_photo_is_attached_stored_once_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let id = file(&mut s);
    let photo = png(50_000);
    let path = dir.path().join("id-card.png");
    std::fs::write(&path, &photo).unwrap();

    let r = s.attach_file(id, "ID card", &path).unwrap();
    assert_eq!(r.media_type, MediaType::Png);
    assert_eq!(r.size, photo.len() as u64);
    assert_eq!(r.material, "ID card");
    assert_eq!(r.by.user, "clerk-east");
    let listed = s.attachments(id).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reference, r);
    assert_eq!(
        listed[0].state,
        TransferState::Uploading { uploaded: 0 },
        "here, not yet at the hub"
    );
    let opened = s.open_attachment(id, &r.sha256).unwrap();
    assert_eq!(std::fs::read(opened).unwrap(), photo);
    assert_eq!(s.request(id).unwrap().attachments, vec![r.clone()]);

    // The same photo as another material: a second reference, the bytes stored once.
    s.attach_bytes(id, "Recent photo", &photo).unwrap();
    assert_eq!(s.attachments(id).unwrap().len(), 2);
    assert_eq!(blob_files(&s), 1);
    // ... but not twice as the same material.
    let again = s.attach_bytes(id, "ID card", &photo).unwrap_err();
    assert!(again.to_string().contains("already attached"), "{again}");

    // Reopened, everything is still there.
    drop(s);
    let s = Store::open(dir.path().join("tablet.db")).unwrap();
    assert_eq!(s.attachments(id).unwrap().len(), 2);
    s.open_attachment(id, &r.sha256).unwrap();

    // A hub acknowledgement moves the state.
    let mut s = s;
    s.set_uploaded_bytes(&r.sha256, r.size).unwrap();
    assert_eq!(s.attachments(id).unwrap()[0].state, TransferState::Complete);
}

#[test]
fn wrong_files_are_refused_with_a_clear_error_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let id = file(&mut s);
    let check = |e: Error, field: &str| match &e {
        Error::Invalid { field: f, .. } => assert_eq!(f, field, "{e}"),
        other => panic!("{field}: expected Invalid, got {other:?}"),
    };
    check(
        s.attach_bytes(id, "ID card", b"GIF89a not a photo we take")
            .unwrap_err(),
        "attachment.media_type",
    );
    check(
        s.attach_bytes(id, "ID card", b"").unwrap_err(),
        "attachment",
    );
    let big = png(MAX_ATTACHMENT_BYTES as usize);
    let big_path = dir.path().join("big.png");
    std::fs::write(&big_path, &big).unwrap();
    check(
        s.attach_file(id, "ID card", &big_path).unwrap_err(),
        "attachment.size",
    );
    let e = s
        .attach_bytes(id, "Marriage certificate", &png(10))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e:?}");
    let missing = s
        .attach_bytes(Uuid::new_v4(), "ID card", &png(10))
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");
    assert!(s.attachments(id).unwrap().is_empty());
    assert_eq!(blob_files(&s), 0, "no bytes kept for a refused attachment");
}
