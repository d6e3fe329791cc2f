//! Attachments from the shell: a clerk attaches photos of a request's materials offline, sees
//! them wait for upload, syncs (documents, then bytes), and the township's store receives the
//! request and then the photo, which it opens. Refusals (a file that is no photo, a material
//! the item does not list, bytes not here yet) exit 3 with what is wrong.

mod common;

use std::path::Path;

use bianmin_tests::hub::{CLERK, REVIEWER, TestHub};
use common::{bianmin, bianmin_json, enrol, file_pension, practice};

/// A file of `size` bytes that the store takes for a PNG (it judges by signature).
fn png(dir: &Path, name: &str, size: usize, seed: u8) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..size - 8).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    std::fs::write(dir.join(name), &bytes).unwrap();
    bytes
}

#[test]
fn a_photo_attached_offline_reaches_the_township_which_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    enrol(d, "taiping.db", &hub.url, &hub.code(REVIEWER));

    let r = file_pension(d, "east.db");
    let photo = png(d, "id-card.png", 600_000, 1);
    png(d, "hukou.png", 3_000, 2);
    let listed = bianmin_json(
        d,
        "east.db",
        &[
            "request",
            "attach",
            &r,
            "id-card.png",
            "--material",
            "ID card",
        ],
    );
    let sha = listed[0]["sha256"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["state"], "uploading");
    assert_eq!(listed[0]["uploaded"], 0);
    assert_eq!(listed[0]["size"], 600_000);
    assert_eq!(listed[0]["media_type"], "image/png");
    bianmin(
        d,
        "east.db",
        &[
            "request",
            "attach",
            &r,
            "hukou.png",
            "--material",
            "Household register (hukou) booklet",
        ],
    )
    .ok();
    let table = bianmin(d, "east.db", &["request", "attachments", &r]).ok();
    assert!(table.stdout.contains("待上传 to upload"), "{table}");
    assert!(table.stdout.contains(&sha[..12]), "{table}");
    let page = bianmin(d, "east.db", &["request", "show", &r]).ok();
    assert!(page.stdout.contains("附件 Attachments"), "{page}");
    let status = bianmin_json(d, "east.db", &["status"]);
    assert_eq!(status["pending_uploads"], 2);
    assert_eq!(status["pending_upload_bytes"], 603_000);

    bianmin(d, "east.db", &["request", "accept", &r]).ok();
    bianmin(d, "east.db", &["request", "forward", &r]).ok();
    let run = bianmin(d, "east.db", &["--json", "sync"]).ok();
    let report = run.json();
    assert_eq!(report["accepted"], 1, "{report}");
    // Not on a terminal, progress is a plain line per state of each photo (after its first
    // piece, once whole), not one per piece: the 600 KB photo goes in several pieces.
    let told: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("ID card"))
        .collect();
    assert_eq!(told.len(), 2, "{}", run.stderr);
    assert!(told[0].starts_with("sync: sending "), "{told:?}");
    assert!(told[1].ends_with("585.9 KB of 585.9 KB"), "{told:?}");
    let sent = &report["attachments"];
    assert_eq!(sent["uploaded"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(sent["failed"], serde_json::json!([]));
    assert_eq!(sent["pending_uploads"], 0);
    assert!(sent["bytes_sent"].as_u64().unwrap() >= 603_000);
    assert_eq!(
        bianmin_json(d, "east.db", &["request", "attachments", &r])[0]["state"],
        "complete"
    );

    // The township: the request and its photos arrive in one sync; the photo opens.
    let report = bianmin_json(d, "taiping.db", &["sync"]);
    assert_eq!(
        report["attachments"]["downloaded"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{report}"
    );
    let opened = bianmin_json(
        d,
        "taiping.db",
        &["request", "open", &r, &sha[..8], "--to", "copy.png"],
    );
    assert_eq!(opened["sha256"], sha.as_str());
    assert_eq!(std::fs::read(d.join("copy.png")).unwrap(), photo);
    let path = bianmin(
        d,
        "taiping.db",
        &["--quiet", "request", "open", &r, &sha[..8]],
    )
    .ok()
    .line();
    assert_eq!(
        std::fs::read(path).unwrap(),
        photo,
        "the path holds the photo"
    );
    // The copy is never written over.
    let again = bianmin(
        d,
        "taiping.db",
        &["request", "open", &r, &sha[..8], "--to", "copy.png"],
    )
    .exits(3);
    assert!(again.stderr.contains("already exists"), "{again}");
}

#[test]
fn attachments_that_cannot_be_taken_exit_3_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    practice(d, "east.db", &[]);
    let r = file_pension(d, "east.db");
    png(d, "photo.png", 1_000, 3);
    std::fs::write(d.join("notes.txt"), "not a photo").unwrap();

    let not_photo = bianmin(
        d,
        "east.db",
        &[
            "request",
            "attach",
            &r,
            "notes.txt",
            "--material",
            "ID card",
        ],
    )
    .exits(3);
    assert!(
        not_photo.stderr.contains("attachment.media_type"),
        "{not_photo}"
    );
    let wrong_material = bianmin(
        d,
        "east.db",
        &[
            "request",
            "attach",
            &r,
            "photo.png",
            "--material",
            "A bank statement",
        ],
    )
    .exits(3);
    assert!(
        wrong_material.stderr.contains("material"),
        "{wrong_material}"
    );
    let missing = bianmin(
        d,
        "east.db",
        &[
            "request",
            "attach",
            &r,
            "nowhere.png",
            "--material",
            "ID card",
        ],
    );
    assert_ne!(missing.code, 0, "{missing}");
    assert!(missing.stderr.contains("cannot read the file"), "{missing}");
    assert_eq!(
        bianmin_json(d, "east.db", &["request", "attachments", &r]),
        serde_json::json!([])
    );

    let unknown = bianmin(d, "east.db", &["request", "open", &r, "abcd"]).exits(3);
    assert!(
        unknown
            .stderr
            .contains("not one of the request's attachments"),
        "{unknown}"
    );
}
