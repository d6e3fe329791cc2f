//! Bytes from elsewhere are untrusted: whatever arrives, `apply_remote` refuses it cleanly or
//! applies it, never panics, and a refusal leaves the store exactly as it was.

use bianmin_client_core::{Error, NewRequest, Reference, Store, StoreConfig};
use bianmin_domain::{Action, AttrValue, Identity, Role};
use proptest::prelude::*;

fn store(dir: &std::path::Path, name: &str, device_no: u32) -> Store {
    let id = Identity::new(name, Role::Clerk, "370883101201", name).unwrap();
    Store::create(
        dir.join(name),
        StoreConfig {
            identity: id,
            device_no,
            reference: Reference::demo(),
        },
    )
    .unwrap()
}

fn request() -> NewRequest {
    NewRequest {
        item_code: "CIV-RESIDENCE-CERT".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [("purpose".to_string(), AttrValue::Text("school".into()))].into(),
        materials_received: vec!["ID card".into()],
        resident_user: None,
        submit: true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn mutated_or_random_changes_never_panic_and_refusals_store_nothing(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        random in proptest::collection::vec(any::<u8>(), 0..300),
        truncate in any::<prop::sample::Index>(),
        which in 0usize..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut source = store(dir.path(), "a", 1);
        let r = source.file_request(request()).unwrap();
        source.apply(r.id, Action::Accept).unwrap();
        let mut changes = source.changes_since(r.id, &[]).unwrap();

        let mut target = store(dir.path(), "b", 2);
        // The target already holds the first change, so refusals must leave it as it was.
        target.apply_remote(r.id, &changes[..1]).unwrap();
        let heads_before = target.heads(r.id).unwrap();
        let row_before = target.request_row(r.id).unwrap();

        match which {
            0 => {
                let last = changes.last_mut().unwrap();
                for (i, b) in &flips {
                    let at = i.index(last.len());
                    last[at] ^= b | 1;
                }
            }
            1 => {
                let last = changes.last_mut().unwrap();
                let keep = truncate.index(last.len());
                last.truncate(keep);
            }
            _ => changes.push(random),
        }
        match target.apply_remote(r.id, &changes) {
            Ok(_) => {
                // Whatever applied must read back as a valid request.
                prop_assert!(target.request(r.id).is_ok());
            }
            Err(Error::Malformed(_)) => {
                prop_assert_eq!(target.heads(r.id).unwrap(), heads_before);
                prop_assert_eq!(target.request_row(r.id).unwrap(), row_before);
            }
            Err(other) => prop_assert!(false, "unexpected error kind: {other}"),
        }
    }
}

#[test]
fn a_document_written_many_times_compacts_and_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a");
    let id = {
        let mut s = store(dir.path(), "a", 1);
        let r = s.file_request(request()).unwrap();
        for i in 0..40 {
            s.comment(r.id, &format!("call {i}")).unwrap();
        }
        r.id
    };
    let s = Store::open(&path).unwrap();
    let r = s.request(id).unwrap();
    assert_eq!(r.comments.len(), 40);
    assert_eq!(r.comments[39].text, "call 39");
    let c = rusqlite::Connection::open(&path).unwrap();
    let chunks: i64 = c
        .query_row("SELECT count(*) FROM doc_chunks", [], |r| r.get(0))
        .unwrap();
    assert!(
        chunks < 16,
        "incremental saves were folded into the snapshot ({chunks} left)"
    );
}

/// Regression: with automerge 0.12 a single flipped bit in a change could panic inside
/// `apply_changes` (found by the property test above). Every single-bit flip of a real change
/// must be refused cleanly or applied, never crash, and a refusal must store nothing.
#[test]
fn every_single_bit_flip_of_a_change_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = store(dir.path(), "a", 1);
    let r = source.file_request(request()).unwrap();
    source.apply(r.id, Action::Accept).unwrap();
    let changes = source.changes_since(r.id, &[]).unwrap();
    let mut target = store(dir.path(), "b", 2);
    target.apply_remote(r.id, &changes[..1]).unwrap();
    let heads = target.heads(r.id).unwrap();
    let last = changes.last().unwrap();
    let mut refused = 0;
    for byte in 0..last.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = last.clone();
            bad[byte] ^= bit;
            match target.apply_remote(r.id, &[bad]) {
                Err(Error::Malformed(_)) => {
                    refused += 1;
                    assert_eq!(target.heads(r.id).unwrap(), heads, "flip at byte {byte}");
                }
                Err(other) => panic!("flip at byte {byte}: unexpected {other}"),
                Ok(_) => {
                    // Accepted only if it still reads as a valid request; start over for the next flip.
                    target.request(r.id).unwrap();
                    let fresh = dir.path().join(format!("c{byte}-{bit}"));
                    let id = Identity::new("c", Role::Clerk, "370883101201", "c").unwrap();
                    target = Store::create(
                        &fresh,
                        StoreConfig {
                            identity: id,
                            device_no: 3,
                            reference: Reference::demo(),
                        },
                    )
                    .unwrap();
                    target.apply_remote(r.id, &changes[..1]).unwrap();
                }
            }
        }
    }
    assert!(refused > last.len(), "most flips are refused ({refused})");
}
