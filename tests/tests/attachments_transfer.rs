//! Attachment bytes over a weak link: a 5 MB photo gets through a link that drops every
//! 1.5 MB, resuming each time from what the other side acknowledged (so the bytes sent in all
//! stay well under twice its size), both up to the hub and down to the township; and the
//! requests themselves sync while a large upload is still under way.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bianmin_client_core::client::{self, SyncOptions, sync};
use bianmin_client_core::transfer::{CHUNK, Direction, transfer_attachments};
use bianmin_client_core::{Store, TransferState};
use bianmin_domain::Action;
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub};
use bianmin_tests::proxy::CutProxy;
use bianmin_tests::social_card_request;
use sha2::{Digest, Sha256};

const PHOTO: usize = 5 * 1024 * 1024;

fn photo(n: usize, seed: u32) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    b.extend((0..n - 4).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    b
}

fn opts() -> SyncOptions {
    SyncOptions {
        attempts: 4,
        backoff: Duration::from_millis(20),
        ..SyncOptions::default()
    }
}

fn through(
    proxy: &CutProxy,
    hub: &TestHub,
    user: &str,
    dir: &std::path::Path,
    name: &str,
) -> Store {
    client::enroll(
        dir.join(format!("{name}.db")),
        &proxy.url,
        &hub.code(user),
        name,
        &opts(),
    )
    .expect("enrol through the proxy")
}

#[test]
fn a_5_mb_photo_gets_through_a_link_that_keeps_dropping_both_ways() {
    let hub = TestHub::start();
    let upstream: SocketAddr = hub.url.trim_start_matches("http://").parse().unwrap();
    let proxy = CutProxy::start(upstream);
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(through(&proxy, &hub, CLERK, dir.path(), "east-tablet"));
    let reviewer = Mutex::new(through(&proxy, &hub, REVIEWER, dir.path(), "township-desk"));
    let bytes = photo(PHOTO, 7);
    let sha = hex::encode(Sha256::digest(&bytes));
    let id = {
        let mut s = clerk.lock().unwrap();
        let id = s.file_request(social_card_request()).unwrap().id;
        s.attach_bytes(id, "ID card", &bytes).unwrap();
        s.apply(id, Action::Accept).unwrap();
        s.apply(id, Action::Forward).unwrap();
        id
    };
    sync(&clerk, &opts(), &mut |_| {}).unwrap();

    proxy.cut_connections_after(1_500_000);
    let (up0, _) = proxy.bytes();
    let mut told = Vec::new();
    let report = transfer_attachments(&clerk, &opts(), &mut |p| told.push(p.clone())).unwrap();
    let (up1, _) = proxy.bytes();
    assert_eq!(report.uploaded, vec![sha.clone()], "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    // The progress heard: every chunk, never going back, ending at the whole photo.
    assert!(
        told.len() >= PHOTO / CHUNK,
        "{} progress reports",
        told.len()
    );
    assert!(
        told.iter()
            .all(|p| p.sha256 == sha && p.direction == Direction::Upload)
    );
    assert!(told.windows(2).all(|w| w[0].done <= w[1].done));
    assert_eq!(
        told.last().map(|p| (p.done, p.size)),
        Some((PHOTO as u64, PHOTO as u64))
    );
    assert!(
        proxy.cuts() >= 3,
        "the link dropped ({} cuts)",
        proxy.cuts()
    );
    let sent = up1 - up0;
    eprintln!(
        "upload: {sent} bytes through the link for a {PHOTO}-byte photo, {} cuts",
        proxy.cuts()
    );
    assert!(
        sent < 2 * PHOTO,
        "{sent} bytes sent for a {PHOTO}-byte photo: resumed, not restarted"
    );
    assert_eq!(
        clerk.lock().unwrap().attachments(id).unwrap()[0].state,
        TransferState::Complete
    );

    sync(&reviewer, &opts(), &mut |_| {}).unwrap();
    assert_eq!(
        reviewer.lock().unwrap().attachments(id).unwrap()[0].state,
        TransferState::Missing
    );
    let cuts_before = proxy.cuts();
    let (_, down0) = proxy.bytes();
    let mut told = Vec::new();
    let report = transfer_attachments(&reviewer, &opts(), &mut |p| told.push(p.clone())).unwrap();
    let (_, down1) = proxy.bytes();
    assert_eq!(report.downloaded, vec![sha.clone()], "{report:?}");
    assert!(told.iter().all(|p| p.direction == Direction::Download));
    assert_eq!(told.last().map(|p| p.done), Some(PHOTO as u64));
    assert!(proxy.cuts() > cuts_before, "the download was cut too");
    let received = down1 - down0;
    eprintln!(
        "download: {received} bytes through the link, {} cuts",
        proxy.cuts() - cuts_before
    );
    assert!(received < 2 * PHOTO, "{received} bytes received");
    let r = reviewer.lock().unwrap();
    let path = r.open_attachment(id, &sha).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), bytes, "arrived intact");
    assert_eq!(r.attachments(id).unwrap()[0].state, TransferState::Complete);
}

#[test]
fn the_requests_sync_while_a_large_upload_is_still_under_way() {
    let hub = TestHub::start();
    let upstream: SocketAddr = hub.url.trim_start_matches("http://").parse().unwrap();
    let proxy = CutProxy::start(upstream);
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(through(&proxy, &hub, CLERK, dir.path(), "east-tablet"));
    let bytes = photo(8 * 1024 * 1024, 3);
    {
        let mut s = clerk.lock().unwrap();
        let id = s.file_request(social_card_request()).unwrap().id;
        s.attach_bytes(id, "ID card", &bytes).unwrap();
    }
    sync(&clerk, &opts(), &mut |_| {}).unwrap();
    // A link that drops every 300 KB: the upload takes many connections.
    proxy.cut_connections_after(300_000);
    let uploading = AtomicBool::new(true);
    std::thread::scope(|scope| {
        let upload = scope.spawn(|| {
            let r = transfer_attachments(&clerk, &opts(), &mut |_| {});
            uploading.store(false, Ordering::SeqCst);
            r
        });
        // Meanwhile the clerk files another request and syncs it.
        std::thread::sleep(Duration::from_millis(200));
        let other = clerk
            .lock()
            .unwrap()
            .file_request(social_card_request())
            .unwrap()
            .id;
        let report = sync(&clerk, &opts(), &mut |_| {}).unwrap();
        assert_eq!(report.accepted, 1);
        assert!(
            uploading.load(Ordering::SeqCst),
            "the sync finished while the upload was still going"
        );
        assert!(hub.storage.document(other).unwrap().is_some());
        let done = upload.join().unwrap().unwrap();
        assert_eq!(done.uploaded.len(), 1, "{done:?}");
    });
}
