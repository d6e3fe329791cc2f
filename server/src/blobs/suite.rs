//! The behaviour every [`BlobStore`] backend must show.
//!
//! A backend's tests call [`run_all`] with a factory of fresh, empty stores; every check gets a
//! store of its own. What is backend-specific (where bytes lie, how idleness is measured for
//! the sweep, surviving a reopen) is tested by the backend.

use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::{BlobError, BlobStore};

/// Runs every check, each on a fresh store from `fresh`.
pub fn run_all(fresh: &dyn Fn() -> Box<dyn BlobStore>) {
    chunks_append_at_the_held_offset_and_finish_into_the_store(fresh().as_ref());
    a_blob_is_kept_once_however_often_it_is_uploaded(fresh().as_ref());
    a_hash_mismatch_discards_the_partial(fresh().as_ref());
    a_discarded_partial_starts_again_from_zero(fresh().as_ref());
    a_stored_blob_reads_from_any_position(fresh().as_ref());
    addresses_are_checked(fresh().as_ref());
    recent_partials_and_complete_blobs_are_never_swept(fresh().as_ref());
    a_partial_reads_as_held_and_never_as_a_blob(fresh().as_ref());
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Bytes that are not all alike (so that a misplaced chunk shows).
fn sample(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn read_all(store: &dyn BlobStore, sha256: &str) -> Vec<u8> {
    let mut open = store.open(sha256).unwrap().expect("stored");
    let mut out = Vec::new();
    open.reader.read_to_end(&mut out).unwrap();
    assert_eq!(
        out.len() as u64,
        open.len,
        "the length told is the length read"
    );
    out
}

fn chunks_append_at_the_held_offset_and_finish_into_the_store(store: &dyn BlobStore) {
    let bytes = sample(5000);
    let h = sha(&bytes);
    assert_eq!(store.received(&h).unwrap(), 0);
    assert!(!store.is_complete(&h).unwrap());
    assert!(store.open(&h).unwrap().is_none());
    assert_eq!(store.append(&h, 0, &bytes[..2000]).unwrap(), 2000);
    match store.append(&h, 1000, &bytes[1000..3000]) {
        Err(BlobError::OffsetMismatch { received }) => assert_eq!(received, 2000),
        other => panic!("expected an offset mismatch, got {other:?}"),
    }
    assert_eq!(
        store.received(&h).unwrap(),
        2000,
        "a refused chunk adds nothing"
    );
    assert!(store.open(&h).unwrap().is_none(), "a partial is not a blob");
    assert_eq!(store.append(&h, 2000, &bytes[2000..]).unwrap(), 5000);
    store.finish(&h).unwrap();
    assert!(store.is_complete(&h).unwrap());
    assert_eq!(store.received(&h).unwrap(), 5000);
    assert_eq!(read_all(store, &h), bytes);
}

fn a_blob_is_kept_once_however_often_it_is_uploaded(store: &dyn BlobStore) {
    let bytes = sample(3000);
    let h = sha(&bytes);
    store.append(&h, 0, &bytes).unwrap();
    store.finish(&h).unwrap();
    // A second upload of the same bytes (another request's copy) finishes onto the same blob.
    assert_eq!(store.append(&h, 0, &bytes).unwrap(), 3000);
    store.finish(&h).unwrap();
    assert!(store.is_complete(&h).unwrap());
    assert_eq!(read_all(store, &h), bytes);
}

fn a_hash_mismatch_discards_the_partial(store: &dyn BlobStore) {
    let h = sha(b"the real bytes");
    store.append(&h, 0, b"other bytes!!!").unwrap();
    match store.finish(&h) {
        Err(BlobError::HashMismatch { expected }) => assert_eq!(expected, h),
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert_eq!(store.received(&h).unwrap(), 0);
    assert!(!store.is_complete(&h).unwrap());
    assert!(store.open(&h).unwrap().is_none());
    // A first chunk at the wrong offset leaves nothing behind either.
    assert!(matches!(
        store.append(&h, 5, b"x"),
        Err(BlobError::OffsetMismatch { received: 0 })
    ));
    assert_eq!(store.received(&h).unwrap(), 0);
    store.append(&h, 0, b"the real bytes").unwrap();
    store.finish(&h).unwrap();
    assert_eq!(read_all(store, &h), b"the real bytes");
}

fn a_discarded_partial_starts_again_from_zero(store: &dyn BlobStore) {
    let h = sha(b"abcdef");
    store.append(&h, 0, b"abc").unwrap();
    store.discard(&h).unwrap();
    assert_eq!(store.received(&h).unwrap(), 0);
    store.discard(&h).unwrap();
    assert_eq!(store.append(&h, 0, b"abc").unwrap(), 3);
    assert_eq!(store.append(&h, 3, b"def").unwrap(), 6);
    store.finish(&h).unwrap();
    assert_eq!(read_all(store, &h), b"abcdef");
}

/// Downloads resume with `Range`: the reader seeks.
fn a_stored_blob_reads_from_any_position(store: &dyn BlobStore) {
    let bytes = sample(300_000);
    let h = sha(&bytes);
    for (i, piece) in bytes.chunks(70_000).enumerate() {
        store.append(&h, (i * 70_000) as u64, piece).unwrap();
    }
    store.finish(&h).unwrap();
    let mut open = store.open(&h).unwrap().expect("stored");
    assert_eq!(open.len, 300_000);
    for start in [0u64, 1, 69_999, 70_000, 150_001, 299_999] {
        open.reader.seek(SeekFrom::Start(start)).unwrap();
        let mut rest = Vec::new();
        open.reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &bytes[start as usize..], "read from {start}");
    }
}

fn addresses_are_checked(store: &dyn BlobStore) {
    let h = sha(b"x");
    for bad in ["../../etc/passwd", "ABC", "", &h.to_uppercase(), &h[..63]] {
        assert!(matches!(store.received(bad), Err(BlobError::BadAddress)));
        assert!(matches!(
            store.append(bad, 0, b"x"),
            Err(BlobError::BadAddress)
        ));
        assert!(matches!(store.finish(bad), Err(BlobError::BadAddress)));
        assert!(matches!(store.open(bad), Err(BlobError::BadAddress)));
    }
}

fn recent_partials_and_complete_blobs_are_never_swept(store: &dyn BlobStore) {
    let (recent, done) = (sha(b"recent upload"), sha(b"complete"));
    store.append(&recent, 0, b"recent").unwrap();
    store.append(&done, 0, b"complete").unwrap();
    store.finish(&done).unwrap();
    assert_eq!(store.sweep_partials(super::PARTIAL_IDLE).unwrap(), 0);
    assert_eq!(store.received(&recent).unwrap(), 6);
    assert!(store.is_complete(&done).unwrap());
}

/// A partial upload reads as far as it got when opened, and is never a blob: `open` does not
/// give it, and once discarded or finished it is no partial any more.
fn a_partial_reads_as_held_and_never_as_a_blob(store: &dyn BlobStore) {
    let bytes = sample(200_000);
    let h = sha(&bytes);
    assert!(
        store.open_partial(&h).unwrap().is_none(),
        "nothing under way"
    );
    store.append(&h, 0, &bytes[..70_000]).unwrap();
    store.append(&h, 70_000, &bytes[70_000..120_000]).unwrap();
    let mut open = store.open_partial(&h).unwrap().expect("under way");
    assert_eq!(open.len, 120_000);
    // What arrives after the opening is not read through it.
    store.append(&h, 120_000, &bytes[120_000..150_000]).unwrap();
    let mut held = Vec::new();
    open.reader.read_to_end(&mut held).unwrap();
    assert_eq!(held, &bytes[..120_000]);
    drop(open);
    assert!(store.open(&h).unwrap().is_none(), "a partial is not a blob");
    let mut open = store.open_partial(&h).unwrap().expect("under way");
    open.reader.seek(SeekFrom::Start(100_000)).unwrap();
    let mut tail = Vec::new();
    open.reader.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &bytes[100_000..150_000]);
    drop(open);
    store.discard(&h).unwrap();
    assert!(store.open_partial(&h).unwrap().is_none(), "discarded");
    // Finished, it is a blob and no partial.
    store.append(&h, 0, &bytes).unwrap();
    store.finish(&h).unwrap();
    assert!(store.open_partial(&h).unwrap().is_none());
    assert!(matches!(
        store.open_partial("../etc/passwd"),
        Err(BlobError::BadAddress)
    ));
}
