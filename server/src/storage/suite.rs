//! The behaviour every [`Storage`] backend must show.
//!
//! A backend's tests call [`run_all`] with a factory of fresh, empty stores; every check gets a
//! store of its own. The checks use the demo county `370883` (township `370883101` with
//! villages `370883101201` and `370883101202`, township `370883102` with `370883102201`) and
//! arbitrary change bytes: storage does not look inside them.
//!
//! What is backend-specific (files, schema versions, crash safety) is tested by the backend.

use std::collections::BTreeSet;

use bianmin_document::DocKind;
use bianmin_document::model::{
    AgendaRow, Page, RequestFilter, RequestRow, RequestSort, UrgencyFilter,
};
use bianmin_document::{Decision, DocIndex, RequestIndex};
use bianmin_domain::{
    AttachmentRef, MediaType, Rating, Role, Stage, Stamp, Status, Timestamp, WorkingCalendar,
    YearCalendar, demo,
};
use chrono::NaiveDate;
use uuid::Uuid;

use super::{
    AccessChange, AccessChanged, AccountStatus, BlobReference, Checked, Commit, CounterRow,
    DocRecord, LogEntry, LogNotice, LogPage, NewDevice, Open311Key, OverdueVillage, PendingCode,
    ReadScope, RevealRecord, SessionRecord, Storage, StorageError, UserRecord,
};

const COUNTY: &str = "370883";
const TOWNSHIP: &str = "370883101";
const OTHER_TOWNSHIP: &str = "370883102";
/// 东村, in [`TOWNSHIP`].
const EAST: &str = "370883101201";
/// 西村, in [`TOWNSHIP`].
const WEST: &str = "370883101202";
/// 北山村, in [`OTHER_TOWNSHIP`].
const BEISHAN: &str = "370883102201";
/// 2026-03-02T08:00:00+08:00, in milliseconds since the epoch.
const T0: i64 = 1_772_409_600_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// One behaviour, checked on a fresh store.
pub type Check = fn(&dyn Storage);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("users_have_unique_names", users_have_unique_names),
    ("enrolment_code_redeems_once", enrolment_code_redeems_once),
    ("expired_code_is_refused", expired_code_is_refused),
    (
        "code_for_unknown_user_is_refused",
        code_for_unknown_user_is_refused,
    ),
    (
        "failed_enrolment_keeps_the_code",
        failed_enrolment_keeps_the_code,
    ),
    ("device_numbers_increase", device_numbers_increase),
    (
        "device_by_token_and_revocation",
        device_by_token_and_revocation,
    ),
    ("reference_versioning", reference_versioning),
    ("commit_document_and_audit", commit_document_and_audit),
    ("recommit_adds_nothing", recommit_adds_nothing),
    ("changes_after_respects_scope", changes_after_respects_scope),
    (
        "byte_budget_pages_everything_once",
        byte_budget_pages_everything_once,
    ),
    (
        "excluded_device_advances_cursor",
        excluded_device_advances_cursor,
    ),
    ("empty_log_and_cursor_at_end", empty_log_and_cursor_at_end),
    (
        "concurrent_commits_are_serialised",
        concurrent_commits_are_serialised,
    ),
    ("a_group_commits_in_order", a_group_commits_in_order),
    ("the_index_lists_and_counts", the_index_lists_and_counts),
    (
        "the_index_searches_filing_days_and_counts",
        the_index_searches_filing_days_and_counts,
    ),
    (
        "reindexing_rewrites_and_finds_unindexed",
        reindexing_rewrites_and_finds_unindexed,
    ),
    (
        "a_group_commits_all_or_nothing",
        a_group_commits_all_or_nothing,
    ),
    (
        "passwords_are_set_and_cleared",
        passwords_are_set_and_cleared,
    ),
    (
        "blob_references_follow_the_index",
        blob_references_follow_the_index,
    ),
    (
        "the_log_has_a_stable_identity",
        the_log_has_a_stable_identity,
    ),
    (
        "console_sessions_are_kept_and_expire",
        console_sessions_are_kept_and_expire,
    ),
    (
        "a_users_sessions_end_together_and_with_a_new_password",
        a_users_sessions_end_together_and_with_a_new_password,
    ),
    (
        "reveals_are_kept_per_document_in_order",
        reveals_are_kept_per_document_in_order,
    ),
    (
        "log_tail_reads_every_entry_after_a_cursor",
        log_tail_reads_every_entry_after_a_cursor,
    ),
    (
        "log_tail_misses_nothing_while_commits_run",
        log_tail_misses_nothing_while_commits_run,
    ),
    (
        "document_versions_grow_by_one_per_commit",
        document_versions_grow_by_one_per_commit,
    ),
    (
        "a_stale_commit_is_refused_and_stores_nothing",
        a_stale_commit_is_refused_and_stores_nothing,
    ),
    (
        "a_new_document_over_a_stored_one_conflicts",
        a_new_document_over_a_stored_one_conflicts,
    ),
    (
        "checked_commits_racing_lose_no_update",
        checked_commits_racing_lose_no_update,
    ),
    (
        "a_receipt_number_goes_to_one_new_request",
        a_receipt_number_goes_to_one_new_request,
    ),
    (
        "the_last_receipt_of_a_series_is_its_highest",
        the_last_receipt_of_a_series_is_its_highest,
    ),
    (
        "counters_update_atomically_under_contention",
        counters_update_atomically_under_contention,
    ),
    ("counters_expire", counters_expire),
    (
        "counters_update_several_keys_at_once",
        counters_update_several_keys_at_once,
    ),
    (
        "an_activation_code_activates_its_account_once",
        an_activation_code_activates_its_account_once,
    ),
    (
        "a_new_activation_code_replaces_the_unused_one",
        a_new_activation_code_replaces_the_unused_one,
    ),
    (
        "a_deactivated_account_keeps_its_devices_but_not_its_sessions",
        a_deactivated_account_keeps_its_devices_but_not_its_sessions,
    ),
    (
        "open311_keys_are_found_by_hash_and_revoked_once",
        open311_keys_are_found_by_hash_and_revoked_once,
    ),
    (
        "the_last_administrator_who_can_sign_in_keeps_access",
        the_last_administrator_who_can_sign_in_keeps_access,
    ),
    (
        "two_administrators_cannot_lock_each_other_out_at_once",
        two_administrators_cannot_lock_each_other_out_at_once,
    ),
    ("a_display_name_changes_alone", a_display_name_changes_alone),
];

/// Reveals of masked values: appended, read back per document in the order they happened.
pub fn reveals_are_kept_per_document_in_order(s: &dyn Storage) {
    let (doc, other) = (Uuid::new_v4(), Uuid::new_v4());
    let reveal = |doc_id: Uuid, field: &str, at: i64| RevealRecord {
        doc_id,
        user_id: "u-1".into(),
        field: field.into(),
        at,
    };
    assert_eq!(s.reveals(doc).unwrap(), vec![]);
    s.record_reveal(&reveal(doc, "applicant.phone", T0 + MINUTE))
        .unwrap();
    s.record_reveal(&reveal(other, "comments.x", T0)).unwrap();
    s.record_reveal(&reveal(doc, "applicant.phone", T0))
        .unwrap();
    assert_eq!(
        s.reveals(doc).unwrap(),
        vec![
            reveal(doc, "applicant.phone", T0 + MINUTE),
            reveal(doc, "applicant.phone", T0)
        ],
        "every reveal is kept, in the order recorded"
    );
    assert_eq!(
        s.reveals(other).unwrap(),
        vec![reveal(other, "comments.x", T0)]
    );
}

/// "Sign out everywhere" ends every session of one user and no one else's; setting or
/// clearing a password ends them too.
pub fn a_users_sessions_end_together_and_with_a_new_password(s: &dyn Storage) {
    people(s);
    let session = |key: &str, user_id: &str| SessionRecord {
        key: key.into(),
        user_id: user_id.into(),
        csrf: format!("csrf-{key}"),
        created_at: 1_000,
        seen_at: 1_000,
    };
    for (key, user) in [
        ("r1", "u-reviewer"),
        ("r2", "u-reviewer"),
        ("a1", "u-admin"),
    ] {
        s.save_session(&session(key, user)).unwrap();
    }
    assert_eq!(s.delete_user_sessions("u-reviewer").unwrap(), 2);
    assert_eq!(s.session("r1").unwrap(), None);
    assert_eq!(s.session("r2").unwrap(), None);
    assert!(s.session("a1").unwrap().is_some(), "others untouched");
    s.save_session(&session("r3", "u-reviewer")).unwrap();
    s.set_password("u-reviewer", Some("$argon2id$new")).unwrap();
    assert_eq!(s.session("r3").unwrap(), None, "a new password signs out");
    s.set_password("u-admin", None).unwrap();
    assert_eq!(
        s.session("a1").unwrap(),
        None,
        "a cleared password signs out"
    );
}

/// Console sessions: saved, updated, read back, deleted, and expired by idle time or age.
pub fn console_sessions_are_kept_and_expire(s: &dyn Storage) {
    let session = |key: &str, created_at: i64, seen_at: i64| SessionRecord {
        key: key.into(),
        user_id: "u-1".into(),
        csrf: format!("csrf-{key}"),
        created_at,
        seen_at,
    };
    assert_eq!(s.session("a").unwrap(), None);
    s.save_session(&session("a", 1_000, 1_000)).unwrap();
    s.save_session(&session("b", 1_000, 5_000)).unwrap();
    s.save_session(&session("c", 9_000, 9_000)).unwrap();
    s.save_session(&session("a", 1_000, 2_000)).unwrap();
    assert_eq!(
        s.session("a").unwrap(),
        Some(session("a", 1_000, 2_000)),
        "updated"
    );
    s.delete_session("a").unwrap();
    s.delete_session("a").unwrap();
    assert_eq!(s.session("a").unwrap(), None);
    // Seen before 6,000 or created before 500: b goes, c stays.
    assert_eq!(s.expire_sessions(6_000, 500).unwrap(), 1);
    assert_eq!(s.session("b").unwrap(), None);
    assert_eq!(s.session("c").unwrap(), Some(session("c", 9_000, 9_000)));
    // Created before 10,000: c goes too.
    assert_eq!(s.expire_sessions(0, 10_000).unwrap(), 1);
    assert_eq!(s.session("c").unwrap(), None);
}

/// The change log's identity: there from the start, hex, and the same on every read.
pub fn the_log_has_a_stable_identity(s: &dyn Storage) {
    let id = s.log_id().expect("log id");
    assert!(
        id.len() >= 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(s.log_id().unwrap(), id, "the same on every read");
    let renewed = s.renew_log_id().expect("renew");
    assert_ne!(renewed, id, "a restored database's log is another one");
    assert_eq!(s.log_id().unwrap(), renewed);
}

/// The log's tail, what live notices are made of: every entry after a cursor, in log order,
/// each with its document's scope and the device that pushed it; at most `limit`; and the
/// log's last number.
pub fn log_tail_reads_every_entry_after_a_cursor(s: &dyn Storage) {
    assert_eq!(s.log_head().unwrap(), 0, "an empty log ends at 0");
    assert!(s.log_tail(0, 10).unwrap().is_empty());

    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut expected: Vec<LogNotice> = Vec::new();
    let mut seed = 400;
    let mut changes = |n: usize| -> Vec<([u8; 32], Vec<u8>)> {
        (0..n)
            .map(|_| {
                seed += 1;
                change(seed, 40)
            })
            .collect()
    };
    let entry = |seq, doc_id, village: &str, resident: Option<&str>, device: &str| LogNotice {
        seq,
        doc_id,
        village: village.into(),
        resident_user: resident.map(Into::into),
        device_id: device.into(),
    };
    // Pushes one at a time: a request of a resident, an agenda item, another township's
    // request, the first request again from another device.
    let plan: [(Uuid, &str, Option<&str>, &str, usize); 4] = [
        (a, EAST, Some("u-res-1"), "dev-east", 2),
        (b, WEST, None, "dev-west", 1),
        (c, BEISHAN, Some("u-res-4"), "dev-beishan", 3),
        (a, EAST, Some("u-res-1"), "dev-res-1", 1),
    ];
    for (doc, village, resident, device, n) in plan {
        let kind = if resident.is_some() {
            DocKind::Request
        } else {
            DocKind::Agenda
        };
        let added = changes(n);
        let last = push(s, doc, kind, village, resident, &added, device, T0);
        let trail = s.audit(doc).unwrap();
        let new = &trail[trail.len() - n..];
        assert_eq!(new.last().map(|e| e.seq), Some(last));
        for e in new {
            expected.push(entry(e.seq, doc, village, resident, device));
        }
    }
    // A group commit: two documents, and a repeated push that adds nothing.
    let (d1, d2) = (changes(2), changes(1));
    let commit = |doc, village, changes, device| Commit {
        doc_id: doc,
        kind: DocKind::Agenda,
        village,
        resident_user: None,
        snapshot: b"doc",
        changes,
        device_id: device,
        user_id: "user-x",
        received_at: T0,
        index: None,
    };
    let repeated = [change(401, 40)];
    let d = Uuid::new_v4();
    s.commit_all(&[
        commit(d, WEST, &d1, "dev-group"),
        commit(a, EAST, &repeated, "dev-east"),
        commit(b, WEST, &d2, "dev-group"),
    ])
    .unwrap();
    let trail = s.audit(d).unwrap();
    assert_eq!(trail.len(), 2);
    for e in &trail {
        expected.push(entry(e.seq, d, WEST, None, "dev-group"));
    }
    let last_b = s.audit(b).unwrap().last().unwrap().seq;
    expected.push(entry(last_b, b, WEST, None, "dev-group"));
    assert_eq!(
        expected.len(),
        10,
        "the repeated change is not logged again"
    );
    assert!(
        expected.windows(2).all(|w| w[0].seq < w[1].seq),
        "{expected:?}"
    );
    let head = expected.last().unwrap().seq;
    assert_eq!(s.log_head().unwrap(), head);

    // From every cursor (the start, each entry, past the end), whole and limited.
    let cursors = std::iter::once(0)
        .chain(expected.iter().map(|e| e.seq))
        .chain([head + 1, u64::MAX]);
    for cursor in cursors {
        let after: Vec<LogNotice> = expected
            .iter()
            .filter(|e| e.seq > cursor)
            .cloned()
            .collect();
        assert_eq!(
            s.log_tail(cursor, usize::MAX).unwrap(),
            after,
            "after {cursor}"
        );
        for limit in [1, 2, 3, 100] {
            let want = &after[..after.len().min(limit)];
            assert_eq!(
                s.log_tail(cursor, limit).unwrap(),
                want,
                "after {cursor}, limit {limit}"
            );
        }
        assert!(s.log_tail(cursor, 0).unwrap().is_empty());
    }

    // Read on from the last entry returned, three at a time: everything once, in order.
    let (mut cursor, mut read) = (0, Vec::new());
    loop {
        let page = s.log_tail(cursor, 3).unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        read.extend(page);
    }
    assert_eq!(read, expected);
}

/// Reading on after the last entry read, while other threads commit, misses no entry and
/// reads none twice: numbers become visible in order.
pub fn log_tail_misses_nothing_while_commits_run(s: &dyn Storage) {
    const THREADS: u64 = 6;
    const EACH: u64 = 15;
    let done = std::sync::atomic::AtomicBool::new(false);
    let (committed, read) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let (mut cursor, mut read) = (0, Vec::new());
            loop {
                // Whether every writer had finished before this read began: then it is the
                // last one needed.
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = s.log_tail(cursor, 7).expect("log_tail");
                if let Some(last) = page.last() {
                    cursor = last.seq;
                }
                let short = page.len() < 7;
                read.extend(page.into_iter().map(|e| e.seq));
                if finished && short {
                    return read;
                }
                if short {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let village = [EAST, WEST, BEISHAN][t as usize % 3];
                    let device = format!("dev-{t}");
                    (0..EACH)
                        .flat_map(|i| {
                            let doc = Uuid::new_v4();
                            let ch = [
                                change(20_000 + t * 1_000 + 2 * i, 50),
                                change(20_000 + t * 1_000 + 2 * i + 1, 50),
                            ];
                            push(s, doc, DocKind::Agenda, village, None, &ch, &device, T0);
                            s.audit(doc).unwrap().into_iter().map(|e| e.seq)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut committed: Vec<u64> = writers
            .into_iter()
            .flat_map(|h| h.join().expect("a committing thread panicked"))
            .collect();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        committed.sort_unstable();
        (
            committed,
            reader.join().expect("the reading thread panicked"),
        )
    });
    assert_eq!(committed.len() as u64, THREADS * EACH * 2);
    assert_eq!(read, committed, "every entry read once, in log order");
}

/// Runs every check, each on a fresh store from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Storage>) {
    for (name, check) in CHECKS {
        eprintln!("storage suite: {name}");
        let storage = make();
        check(&*storage);
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn user(id: &str, name: &str, role: Role, area: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        name: name.into(),
        display_name: format!("{name} (display)"),
        role,
        area: area.into(),
        password_hash: None,
        created_at: T0,
    }
}

/// A clerk of 东村, a resident of 东村, a reviewer of the township and an administrator.
fn people(s: &dyn Storage) {
    for u in [
        user("u-clerk-east", "wang.fang", Role::Clerk, EAST),
        user("u-res-1", "li.wei", Role::Resident, EAST),
        user("u-reviewer", "zhao.min", Role::Reviewer, TOWNSHIP),
        UserRecord {
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            ..user("u-admin", "admin", Role::Administrator, COUNTY)
        },
    ] {
        s.add_user(&u).expect("add user");
    }
}

fn new_device(n: u8, now: i64) -> NewDevice {
    NewDevice {
        name: format!("东村便民点平板 {n}"),
        token_hash: format!("{:064x}", 0xA0_0000 + u32::from(n)),
        actor: format!("{:032x}", 0xB0_0000 + u32::from(n)),
        now,
    }
}

/// A fake change: an Automerge-like header and `len` deterministic bytes, with a hash derived
/// from `seed`.
fn change(seed: u64, len: usize) -> ([u8; 32], Vec<u8>) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut hash = [0u8; 32];
    for chunk in hash.chunks_mut(8) {
        chunk.copy_from_slice(&next().to_le_bytes());
    }
    let mut bytes = vec![0x85, 0x6f, 0x4a, 0x83];
    bytes.extend(hash[..4].iter());
    while bytes.len() < len {
        bytes.push(next() as u8);
    }
    bytes.truncate(len.max(1));
    (hash, bytes)
}

#[allow(clippy::too_many_arguments)]
fn push(
    s: &dyn Storage,
    doc: Uuid,
    kind: DocKind,
    village: &str,
    resident: Option<&str>,
    changes: &[([u8; 32], Vec<u8>)],
    device: &str,
    at: i64,
) -> u64 {
    let snapshot: Vec<u8> = changes
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .collect();
    s.commit(&Commit {
        doc_id: doc,
        kind,
        village,
        resident_user: resident,
        snapshot: &snapshot,
        changes,
        device_id: device,
        user_id: &format!("user-of-{device}"),
        received_at: at,
        index: None,
    })
    .expect("commit")
}

/// Pulls everything `scope` may read from the start, page by page, checking each page.
fn pull_all(
    s: &dyn Storage,
    scope: &ReadScope,
    budget: usize,
    exclude: Option<&str>,
) -> Vec<LogEntry> {
    let mut cursor = 0;
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let page = s
            .changes_after(scope, cursor, budget, exclude)
            .expect("changes_after");
        check_page(&page, cursor, budget);
        out.extend(page.entries);
        cursor = page.cursor;
        if !page.more {
            let again = s
                .changes_after(scope, cursor, budget, exclude)
                .expect("changes_after");
            assert!(
                again.entries.is_empty() && !again.more,
                "{scope:?}: more after the end"
            );
            assert_eq!(
                again.cursor, cursor,
                "{scope:?}: the cursor moved past the end"
            );
            return out;
        }
    }
    panic!("{scope:?}: paging does not end");
}

/// The invariants of any page read after `cursor`.
fn check_page(page: &LogPage, cursor: u64, budget: usize) {
    assert!(page.cursor >= cursor, "the cursor went back");
    if page.more {
        assert!(page.cursor > cursor, "more, but the cursor did not move");
    }
    let mut prev = cursor;
    for e in &page.entries {
        assert!(e.seq > prev, "entries out of order or before the cursor");
        prev = e.seq;
    }
    assert!(
        prev <= page.cursor,
        "an entry lies beyond the returned cursor"
    );
    let bytes: usize = page.entries.iter().map(|e| e.change.len()).sum();
    assert!(
        bytes <= budget || page.entries.len() == 1,
        "{bytes} bytes in {} entries over a budget of {budget}",
        page.entries.len()
    );
}

fn seqs(entries: &[LogEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

// ---------------------------------------------------------------------------------------------
// Users and devices

/// Users are found by id and name, listed by name, and names are unique.
pub fn users_have_unique_names(s: &dyn Storage) {
    assert!(s.users().unwrap().is_empty());
    people(s);
    let li = s.user("u-res-1").unwrap().expect("by id");
    assert_eq!(li, user("u-res-1", "li.wei", Role::Resident, EAST));
    assert_eq!(s.user_by_name("li.wei").unwrap(), Some(li));
    let admin = s.user_by_name("admin").unwrap().expect("by name");
    assert_eq!(admin.role, Role::Administrator);
    assert!(admin.password_hash.is_some());
    assert_eq!(s.user("nobody").unwrap(), None);
    assert_eq!(s.user_by_name("nobody").unwrap(), None);

    let names: Vec<String> = s.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["admin", "li.wei", "wang.fang", "zhao.min"]);

    let clash = user("u-other", "li.wei", Role::Clerk, WEST);
    assert!(matches!(
        s.add_user(&clash),
        Err(StorageError::Duplicate(_))
    ));
    assert_eq!(s.users().unwrap().len(), 4);
    assert_eq!(s.user("u-other").unwrap(), None);
}

/// A code makes exactly one device, for its user.
pub fn enrolment_code_redeems_once(s: &dyn Storage) {
    people(s);
    s.add_enrolment_code("code-hash-1", "u-clerk-east", T0 + DAY)
        .unwrap();
    let (device, owner) = s
        .redeem_enrolment_code("code-hash-1", &new_device(1, T0 + MINUTE))
        .expect("redeem");
    assert_eq!(owner.id, "u-clerk-east");
    assert_eq!(owner.role, Role::Clerk);
    assert_eq!(device.user_id, "u-clerk-east");
    assert_eq!(device.device_no, 1);
    assert_eq!(device.name, new_device(1, 0).name);
    assert_eq!(device.actor, new_device(1, 0).actor);
    assert_eq!(device.enrolled_at, T0 + MINUTE);
    assert_eq!(device.revoked_at, None);
    assert!(Uuid::parse_str(&device.id).is_ok(), "device id is a UUID");

    let again = s.redeem_enrolment_code("code-hash-1", &new_device(2, T0 + 2 * MINUTE));
    assert!(matches!(again, Err(StorageError::CodeInvalid)), "{again:?}");
    let unknown = s.redeem_enrolment_code("no-such-code", &new_device(3, T0));
    assert!(
        matches!(unknown, Err(StorageError::CodeInvalid)),
        "{unknown:?}"
    );
    assert_eq!(s.devices().unwrap(), vec![device]);
}

/// A code is valid strictly before its expiry.
pub fn expired_code_is_refused(s: &dyn Storage) {
    people(s);
    s.add_enrolment_code("old", "u-clerk-east", T0).unwrap();
    s.add_enrolment_code("edge", "u-clerk-east", T0 + DAY)
        .unwrap();
    let old = s.redeem_enrolment_code("old", &new_device(1, T0 + DAY));
    assert!(matches!(old, Err(StorageError::CodeInvalid)), "{old:?}");
    let edge = s.redeem_enrolment_code("edge", &new_device(2, T0 + DAY));
    assert!(matches!(edge, Err(StorageError::CodeInvalid)), "{edge:?}");
    assert!(s.devices().unwrap().is_empty());
    let (device, _) = s
        .redeem_enrolment_code("edge", &new_device(3, T0 + DAY - 1))
        .expect("a millisecond before expiry");
    assert_eq!(device.device_no, 1);
}

/// A code can only be made for an existing user; code hashes are unique.
pub fn code_for_unknown_user_is_refused(s: &dyn Storage) {
    people(s);
    let r = s.add_enrolment_code("c", "no-such-user", T0 + DAY);
    assert!(matches!(r, Err(StorageError::NotFound(_))), "{r:?}");
    s.add_enrolment_code("c", "u-res-1", T0 + DAY).unwrap();
    let r = s.add_enrolment_code("c", "u-clerk-east", T0 + DAY);
    assert!(matches!(r, Err(StorageError::Duplicate(_))), "{r:?}");
    let (_, owner) = s.redeem_enrolment_code("c", &new_device(1, T0)).unwrap();
    assert_eq!(owner.id, "u-res-1", "the first code stands");
}

/// An enrolment that fails (a token or actor already taken) leaves the code unused.
pub fn failed_enrolment_keeps_the_code(s: &dyn Storage) {
    people(s);
    s.add_enrolment_code("a", "u-clerk-east", T0 + DAY).unwrap();
    s.add_enrolment_code("b", "u-clerk-east", T0 + DAY).unwrap();
    s.redeem_enrolment_code("a", &new_device(1, T0)).unwrap();
    let same_token = NewDevice {
        actor: "ff".repeat(16),
        ..new_device(1, T0)
    };
    let r = s.redeem_enrolment_code("b", &same_token);
    assert!(matches!(r, Err(StorageError::Duplicate(_))), "{r:?}");
    let same_actor = NewDevice {
        token_hash: "ee".repeat(32),
        ..new_device(1, T0)
    };
    let r = s.redeem_enrolment_code("b", &same_actor);
    assert!(matches!(r, Err(StorageError::Duplicate(_))), "{r:?}");
    let (device, _) = s
        .redeem_enrolment_code("b", &new_device(2, T0))
        .expect("the code is still valid");
    assert_eq!(device.device_no, 2, "failed attempts use no number");
}

/// Device numbers count up from 1 and devices are listed by number.
pub fn device_numbers_increase(s: &dyn Storage) {
    people(s);
    let owners = ["u-clerk-east", "u-res-1", "u-reviewer", "u-clerk-east"];
    let mut ids = BTreeSet::new();
    for (i, owner) in owners.iter().enumerate() {
        let code = format!("code-{i}");
        s.add_enrolment_code(&code, owner, T0 + DAY).unwrap();
        let n = u8::try_from(i).unwrap();
        let (device, u) = s
            .redeem_enrolment_code(&code, &new_device(n, T0 + i64::from(n) * MINUTE))
            .unwrap();
        assert_eq!(device.device_no, u32::from(n) + 1);
        assert_eq!(u.id, *owner);
        assert!(ids.insert(device.id));
    }
    let numbers: Vec<u32> = s.devices().unwrap().iter().map(|d| d.device_no).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
}

/// A device is found by its token hash, revoked once, and still found after revocation.
pub fn device_by_token_and_revocation(s: &dyn Storage) {
    people(s);
    s.add_enrolment_code("c1", "u-clerk-east", T0 + DAY)
        .unwrap();
    s.add_enrolment_code("c2", "u-res-1", T0 + DAY).unwrap();
    let (d1, _) = s.redeem_enrolment_code("c1", &new_device(1, T0)).unwrap();
    let (d2, _) = s.redeem_enrolment_code("c2", &new_device(2, T0)).unwrap();

    let (found, owner) = s
        .device_by_token(&new_device(1, 0).token_hash)
        .unwrap()
        .expect("found by token");
    assert_eq!(found, d1);
    assert_eq!(owner, s.user("u-clerk-east").unwrap().unwrap());
    assert_eq!(s.device_by_token(&"00".repeat(32)).unwrap(), None);

    assert!(s.revoke_device(&d1.id, T0 + DAY).unwrap());
    assert!(
        !s.revoke_device(&d1.id, T0 + 2 * DAY).unwrap(),
        "already revoked"
    );
    let r = s.revoke_device("no-such-device", T0);
    assert!(matches!(r, Err(StorageError::NotFound(_))), "{r:?}");

    let (revoked, _) = s
        .device_by_token(&new_device(1, 0).token_hash)
        .unwrap()
        .expect("revoked devices are still found");
    assert_eq!(
        revoked.revoked_at,
        Some(T0 + DAY),
        "the first revocation counts"
    );
    let (other, _) = s
        .device_by_token(&new_device(2, 0).token_hash)
        .unwrap()
        .unwrap();
    assert_eq!(other, d2);
    assert_eq!(other.revoked_at, None);
    let listed = s.devices().unwrap();
    assert_eq!(listed[0].revoked_at, Some(T0 + DAY));
    assert_eq!(listed[1].revoked_at, None);
    // The same read says whether the holder's account is deactivated.
    let token = new_device(2, 0).token_hash;
    assert_eq!(
        s.token_holder(&token).unwrap().unwrap().deactivated_at,
        None
    );
    assert!(s.set_deactivated("u-res-1", Some(T0 + DAY)).unwrap());
    let holder = s.token_holder(&token).unwrap().unwrap();
    assert_eq!((holder.device, holder.deactivated_at), (d2, Some(T0 + DAY)));
}

// ---------------------------------------------------------------------------------------------
// Reference data

/// Reference data appears once a catalog and a directory exist; every change bumps the version;
/// a calendar replaces its own year only.
pub fn reference_versioning(s: &dyn Storage) {
    assert_eq!(s.reference().unwrap(), None);
    let catalog = demo::catalog();
    let directory = demo::directory();
    let cal_2026 = YearCalendar::from_json(demo::CALENDAR_2026_JSON).unwrap();

    assert_eq!(s.set_reference(Some(&catalog), None, None).unwrap(), 1);
    assert_eq!(s.reference().unwrap(), None, "no directory yet");
    assert_eq!(s.set_reference(None, Some(&directory), None).unwrap(), 2);
    let r = s.reference().unwrap().expect("catalog and directory");
    assert_eq!(r.version, 2);
    assert_eq!(r.catalog, catalog);
    assert_eq!(r.directory, directory);
    assert!(r.calendars.is_empty());

    assert_eq!(s.set_reference(None, None, Some(&cal_2026)).unwrap(), 3);
    let cal_2027 = YearCalendar {
        year: 2027,
        holidays: Vec::new(),
        adjusted_working_days: Vec::new(),
    };
    assert_eq!(s.set_reference(None, None, Some(&cal_2027)).unwrap(), 4);
    let mut cal_2026_fixed = cal_2026.clone();
    cal_2026_fixed.holidays.truncate(1);
    cal_2026_fixed.adjusted_working_days.clear();
    assert_eq!(
        s.set_reference(None, None, Some(&cal_2026_fixed)).unwrap(),
        5
    );
    let r = s.reference().unwrap().unwrap();
    assert_eq!(r.version, 5);
    assert_eq!(r.calendars, vec![cal_2026_fixed.clone(), cal_2027.clone()]);

    let mut smaller = catalog.clone();
    smaller.items.truncate(1);
    assert_eq!(s.set_reference(Some(&smaller), None, None).unwrap(), 6);
    let r = s.reference().unwrap().unwrap();
    assert_eq!(
        (r.version, &r.catalog, &r.directory),
        (6, &smaller, &directory)
    );
    assert_eq!(r.calendars.len(), 2, "calendars are kept");
}

// ---------------------------------------------------------------------------------------------
// Documents and the change log

/// A commit stores the snapshot and appends its changes with increasing numbers; the audit
/// trail says who sent each change and when.
pub fn commit_document_and_audit(s: &dyn Storage) {
    let doc = Uuid::new_v4();
    assert_eq!(s.document(doc).unwrap(), None);
    assert_eq!(s.counts().unwrap(), (0, 0));

    let first = [change(1, 180), change(2, 64)];
    let s1 = push(
        s,
        doc,
        DocKind::Request,
        EAST,
        Some("u-res-1"),
        &first,
        "dev-a",
        T0,
    );
    let d = s.document(doc).unwrap().expect("stored");
    assert_eq!(
        d,
        DocRecord {
            bytes: [first[0].1.clone(), first[1].1.clone()].concat(),
            kind: DocKind::Request,
            village: EAST.into(),
            version: 1,
        }
    );

    let second = [change(3, 40)];
    let s2 = push(
        s,
        doc,
        DocKind::Request,
        EAST,
        Some("u-res-1"),
        &second,
        "dev-b",
        T0 + DAY,
    );
    assert!(s2 > s1);
    assert_eq!(
        s.document(doc).unwrap().unwrap().bytes,
        second[0].1,
        "snapshot replaced"
    );

    let trail = s.audit(doc).unwrap();
    assert_eq!(trail.len(), 3);
    assert_eq!(
        trail[1].seq, s1,
        "the first commit returned its last number"
    );
    assert_eq!(trail[2].seq, s2);
    assert!(trail[0].seq < trail[1].seq);
    let hashes: Vec<String> = trail.iter().map(|a| a.hash.clone()).collect();
    assert_eq!(
        hashes,
        [first[0].0, first[1].0, second[0].0]
            .map(hex::encode)
            .to_vec(),
        "hashes in lower-case hex, in log order"
    );
    assert_eq!(trail[0].device_id, "dev-a");
    assert_eq!(trail[0].user_id, "user-of-dev-a");
    assert_eq!(trail[1].received_at, T0);
    assert_eq!(trail[2].device_id, "dev-b");
    assert_eq!(trail[2].received_at, T0 + DAY);

    let agenda = Uuid::new_v4();
    let s3 = push(
        s,
        agenda,
        DocKind::Agenda,
        WEST,
        None,
        &[change(4, 300)],
        "dev-c",
        T0,
    );
    assert!(s3 > s2);
    let a = s.document(agenda).unwrap().unwrap();
    assert_eq!((a.kind, a.village.as_str()), (DocKind::Agenda, WEST));
    assert_eq!(s.audit(agenda).unwrap().len(), 1);
    assert_eq!(
        s.audit(doc).unwrap(),
        trail,
        "other documents do not show up"
    );
    assert!(s.audit(Uuid::new_v4()).unwrap().is_empty());
    assert_eq!(s.counts().unwrap(), (2, 4));
}

/// Changes already in the log are not stored again; the commit returns the log's end.
pub fn recommit_adds_nothing(s: &dyn Storage) {
    let doc = Uuid::new_v4();
    let other = Uuid::new_v4();
    let changes = [change(10, 90), change(11, 90)];
    push(
        s,
        doc,
        DocKind::Request,
        EAST,
        Some("u-res-1"),
        &changes,
        "dev-a",
        T0,
    );
    let end = push(
        s,
        other,
        DocKind::Agenda,
        EAST,
        None,
        &[change(12, 50)],
        "dev-a",
        T0,
    );
    let trail = s.audit(doc).unwrap();

    let again = push(
        s,
        doc,
        DocKind::Request,
        EAST,
        Some("u-res-1"),
        &changes,
        "dev-b",
        T0 + DAY,
    );
    assert_eq!(again, end, "nothing new: the current end of the log");
    assert_eq!(s.counts().unwrap(), (2, 3));
    assert_eq!(
        s.audit(doc).unwrap(),
        trail,
        "the first receipt stays on record"
    );

    let mixed = [changes[1].clone(), change(13, 70)];
    let last = push(
        s,
        doc,
        DocKind::Request,
        EAST,
        Some("u-res-1"),
        &mixed,
        "dev-b",
        T0 + DAY,
    );
    assert!(last > end);
    assert_eq!(s.counts().unwrap(), (2, 4));
    let trail = s.audit(doc).unwrap();
    assert_eq!(trail.len(), 3);
    assert_eq!(trail[2].seq, last);
    assert_eq!(trail[2].hash, hex::encode(change(13, 70).0));
    let all = pull_all(s, &ReadScope::County(COUNTY.into()), usize::MAX, None);
    assert_eq!(all.len(), 4, "each change once in the log");
}

/// Several pushes stored in one transaction (the engine's group commit): in order, each with
/// its own audit record, the same document twice kept as its last snapshot, and each push
/// told the log's end once it was stored.
pub fn a_group_commits_in_order(s: &dyn Storage) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (a1, a2, b1) = ([change(20, 40)], [change(21, 40)], [change(22, 40)]);
    let commit = |doc, village, snapshot: &'static [u8], changes, device| Commit {
        doc_id: doc,
        kind: DocKind::Request,
        village,
        resident_user: None,
        snapshot,
        changes,
        device_id: device,
        user_id: "user-x",
        received_at: T0,
        index: None,
    };
    let seqs = s
        .commit_all(&[
            commit(a, EAST, b"first", &a1, "dev-a"),
            commit(b, WEST, b"other", &b1, "dev-b"),
            commit(a, EAST, b"second", &a2, "dev-c"),
            // A repeated push: nothing new, told the end reached so far.
            commit(b, WEST, b"other", &b1, "dev-b"),
        ])
        .unwrap();
    assert_eq!(seqs.len(), 4);
    assert!(seqs[0] < seqs[1] && seqs[1] < seqs[2], "{seqs:?}");
    assert_eq!(seqs[3], seqs[2]);
    assert_eq!(s.counts().unwrap(), (2, 3));
    assert_eq!(s.document(a).unwrap().unwrap().bytes, b"second");
    let trail = s.audit(a).unwrap();
    assert_eq!(
        trail
            .iter()
            .map(|e| (e.seq, e.device_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(seqs[0], "dev-a"), (seqs[2], "dev-c")]
    );
    assert!(s.commit_all(&[]).unwrap().is_empty());
}

/// One bad push in a group stores nothing of the group, and what was stored before stays.
pub fn a_group_commits_all_or_nothing(s: &dyn Storage) {
    let before = Uuid::new_v4();
    push(
        s,
        before,
        DocKind::Agenda,
        EAST,
        None,
        &[change(30, 30)],
        "dev-a",
        T0,
    );
    let good = Uuid::new_v4();
    let (c1, c2) = ([change(31, 30)], [change(32, 30)]);
    let commit = |doc, village, changes| Commit {
        doc_id: doc,
        kind: DocKind::Agenda,
        village,
        resident_user: None,
        snapshot: b"doc",
        changes,
        device_id: "dev-a",
        user_id: "user-x",
        received_at: T0,
        index: None,
    };
    let refused = s.commit_all(&[
        commit(good, EAST, &c1),
        commit(Uuid::new_v4(), "not-a-village", &c2),
    ]);
    assert!(refused.is_err());
    assert_eq!(s.counts().unwrap(), (1, 1), "nothing of the group stored");
    assert!(s.document(good).unwrap().is_none());
    assert!(s.audit(good).unwrap().is_empty());
    assert!(s.document(before).unwrap().is_some());
}

/// A push of `changes` to `doc` (an agenda item of 东村) whose snapshot is `snapshot`, checked
/// against `base`.
fn checked<'a>(
    doc: Uuid,
    snapshot: &'a [u8],
    changes: &'a [([u8; 32], Vec<u8>)],
    base: u64,
) -> Checked<'a> {
    Checked {
        commit: Commit {
            doc_id: doc,
            kind: DocKind::Agenda,
            village: EAST,
            resident_user: None,
            snapshot,
            changes,
            device_id: "dev-a",
            user_id: "user-x",
            received_at: T0,
            index: None,
        },
        base_version: base,
    }
}

fn version(s: &dyn Storage, doc: Uuid) -> Option<u64> {
    let version = s.document_version(doc).expect("document_version");
    assert_eq!(
        version,
        s.document(doc).expect("document").map(|d| d.version),
        "document_version agrees with document"
    );
    version
}

/// A document is stored at version 1 and each commit that stores it adds one, checked or not,
/// one per push when a group holds several pushes to it.
pub fn document_versions_grow_by_one_per_commit(s: &dyn Storage) {
    let doc = Uuid::new_v4();
    assert_eq!(version(s, doc), None);
    push(
        s,
        doc,
        DocKind::Agenda,
        EAST,
        None,
        &[change(40, 30)],
        "dev-a",
        T0,
    );
    assert_eq!(version(s, doc), Some(1));
    push(
        s,
        doc,
        DocKind::Agenda,
        EAST,
        None,
        &[change(41, 30)],
        "dev-a",
        T0,
    );
    assert_eq!(version(s, doc), Some(2));
    // A repeated push (nothing new for the log) still stores the document.
    push(
        s,
        doc,
        DocKind::Agenda,
        EAST,
        None,
        &[change(41, 30)],
        "dev-a",
        T0,
    );
    assert_eq!(version(s, doc), Some(3));

    let (c1, c2, c3) = ([change(42, 30)], [change(43, 30)], [change(44, 30)]);
    s.commit_checked(&[checked(doc, b"v4", &c1, 3)]).unwrap();
    assert_eq!(version(s, doc), Some(4));
    // Two pushes to one document in one group: the second builds on the first.
    let other = Uuid::new_v4();
    let seqs = s
        .commit_checked(&[
            checked(doc, b"v5", &c2, 4),
            checked(other, b"new", &[], 0),
            checked(doc, b"v6", &c3, 5),
        ])
        .unwrap();
    assert_eq!(seqs.len(), 3);
    assert_eq!(version(s, doc), Some(6));
    assert_eq!(version(s, other), Some(1), "a new document starts at 1");
    assert_eq!(s.document(doc).unwrap().unwrap().bytes, b"v6");
    // Unchecked, a group's pushes count one each too.
    let (c4, c5) = ([change(45, 30)], [change(46, 30)]);
    s.commit_all(&[
        checked(doc, b"v7", &c4, 0).commit,
        checked(doc, b"v8", &c5, 0).commit,
    ])
    .unwrap();
    assert_eq!(version(s, doc), Some(8));
    assert_eq!(s.counts().unwrap(), (2, 7));
}

/// A commit checked against a version that is no longer the stored one is refused with
/// [`StorageError::Conflict`], and nothing of its group is stored: not the other documents,
/// not the change log, not the index.
pub fn a_stale_commit_is_refused_and_stores_nothing(s: &dyn Storage) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    push(
        s,
        a,
        DocKind::Agenda,
        EAST,
        None,
        &[change(50, 30)],
        "dev-a",
        T0,
    );
    push(
        s,
        a,
        DocKind::Agenda,
        EAST,
        None,
        &[change(51, 30)],
        "dev-b",
        T0,
    );
    push(
        s,
        b,
        DocKind::Agenda,
        EAST,
        None,
        &[change(52, 30)],
        "dev-a",
        T0,
    );
    let (before_a, before_b) = (s.document(a).unwrap(), s.document(b).unwrap());
    let (head, counts, trail) = (
        s.log_head().unwrap(),
        s.counts().unwrap(),
        s.audit(a).unwrap(),
    );
    let fresh = Uuid::new_v4();
    let (cb, cf, ca) = ([change(53, 30)], [change(54, 30)], [change(55, 30)]);
    let row = |title: &str| {
        DocIndex::Agenda(AgendaRow {
            id: Uuid::nil(),
            title: title.into(),
            category: "roads".into(),
            village: EAST.into(),
            stage: Stage::Proposal,
            updated_at: Timestamp(T0),
            conflict: false,
        })
    };
    let (ib, ifresh) = (row("b, refused"), row("fresh, refused"));
    let group = |a_base| {
        let mut b_push = checked(b, b"b2", &cb, 1);
        b_push.commit.index = Some(&ib);
        let mut fresh_push = checked(fresh, b"fresh", &cf, 0);
        fresh_push.commit.index = Some(&ifresh);
        [b_push, fresh_push, checked(a, b"a3", &ca, a_base)]
    };

    for stale in [0, 1, 3] {
        match s.commit_checked(&group(stale)) {
            Err(StorageError::Conflict { doc }) => assert_eq!(doc, a, "base {stale}"),
            other => panic!("base {stale}: {other:?}"),
        }
        assert_eq!(s.document(a).unwrap(), before_a, "a untouched");
        assert_eq!(
            s.document(b).unwrap(),
            before_b,
            "b untouched, though its base was right"
        );
        assert_eq!(
            s.document(fresh).unwrap(),
            None,
            "the new document not stored"
        );
        assert_eq!(s.log_head().unwrap(), head, "the change log unchanged");
        assert_eq!(s.counts().unwrap(), counts);
        assert_eq!(s.audit(a).unwrap(), trail);
        assert!(s.audit(b).unwrap().len() == 1 && s.audit(fresh).unwrap().is_empty());
        assert!(
            s.agenda_rows(&ReadScope::Village(EAST.into()), &[])
                .unwrap()
                .is_empty(),
            "no index entry of the group kept"
        );
    }
    // Two pushes to one document whose bases do not follow one another: a conflict too.
    let (c6, c7) = ([change(56, 30)], [change(57, 30)]);
    assert!(matches!(
        s.commit_checked(&[checked(a, b"x", &c6, 2), checked(a, b"y", &c7, 2)]),
        Err(StorageError::Conflict { doc }) if doc == a
    ));
    assert_eq!(s.document(a).unwrap(), before_a);

    // Checked against the stored versions, the same group is stored whole.
    s.commit_checked(&group(2)).unwrap();
    assert_eq!(version(s, a), Some(3));
    assert_eq!(version(s, b), Some(2));
    assert_eq!(version(s, fresh), Some(1));
    assert_eq!(s.document(a).unwrap().unwrap().bytes, b"a3");
    assert_eq!(s.counts().unwrap(), (counts.0 + 1, counts.1 + 3));
}

/// A commit of a document the checker believed new, when one with its id is stored, is a
/// [`StorageError::Conflict`]: the stored one stays as it was.
pub fn a_new_document_over_a_stored_one_conflicts(s: &dyn Storage) {
    let doc = Uuid::new_v4();
    s.commit_checked(&[checked(doc, b"first", &[change(60, 30)], 0)])
        .unwrap();
    let before = s.document(doc).unwrap();
    let counts = s.counts().unwrap();
    match s.commit_checked(&[checked(doc, b"second", &[change(61, 30)], 0)]) {
        Err(StorageError::Conflict { doc: named }) => assert_eq!(named, doc),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.document(doc).unwrap(), before);
    assert_eq!(version(s, doc), Some(1));
    assert_eq!(s.counts().unwrap(), counts);
    // Checked against a version of a document that is not stored: a conflict as well.
    let missing = Uuid::new_v4();
    assert!(matches!(
        s.commit_checked(&[checked(missing, b"x", &[change(62, 30)], 1)]),
        Err(StorageError::Conflict { doc }) if doc == missing
    ));
    assert_eq!(s.document(missing).unwrap(), None);
}

/// Writers that read the version, commit checked against it and start again on a conflict
/// (what hub processes sharing the storage do) all get their commits stored, one version each.
pub fn checked_commits_racing_lose_no_update(s: &dyn Storage) {
    const THREADS: u64 = 4;
    const EACH: u64 = 6;
    let doc = Uuid::new_v4();
    s.commit_checked(&[checked(doc, b"start", &[change(70, 30)], 0)])
        .unwrap();
    let conflicts: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut conflicts = 0;
                    for i in 0..EACH {
                        let ch = [change(71 + t * 100 + i, 30)];
                        loop {
                            let base = s.document_version(doc).unwrap().expect("stored");
                            match s.commit_checked(&[checked(doc, b"next", &ch, base)]) {
                                Ok(_) => break,
                                Err(StorageError::Conflict { .. }) => conflicts += 1,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                    conflicts
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a committing thread panicked"))
            .sum()
    });
    eprintln!("  ({conflicts} conflicts, each retried)");
    assert_eq!(version(s, doc), Some(1 + THREADS * EACH));
    assert_eq!(s.counts().unwrap(), (1, 1 + THREADS * EACH));
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).expect("a March day")
}

/// A request's index entry: `status`, due on March `due` (none if 0), decided on March
/// `decided` (not if 0).
fn request_index(
    id: Uuid,
    village: &str,
    receipt: &str,
    status: Status,
    due: u32,
    decided: u32,
    rating: Option<Rating>,
) -> DocIndex {
    DocIndex::Request(Box::new(RequestIndex {
        row: RequestRow {
            id,
            receipt_no: receipt.into(),
            item_code: "SOC-CARD".into(),
            village: village.into(),
            grid: "1组".into(),
            applicant_masked: "王*英".into(),
            status,
            conflict: false,
            clock: if decided > 0 {
                "stopped"
            } else if due > 0 {
                "running"
            } else {
                "not_started"
            }
            .into(),
            due: (due > 0).then(|| day(due)),
            decided_on: (decided > 0).then(|| day(decided)),
            filed_at: Timestamp(T0),
            updated_at: Timestamp(T0 + i64::from(due) * MINUTE),
        },
        applicant_name: "王秀英".into(),
        resident_user: None,
        decision: (decided > 0).then(|| Decision {
            on: day(decided),
            on_time: decided <= due,
            working_days: decided - 1,
        }),
        rating,
        attachments: Vec::new(),
    }))
}

fn indexed(s: &dyn Storage, id: Uuid, village: &str, index: &DocIndex) {
    let c = [change(id.as_u128() as u64, 20)];
    s.commit(&Commit {
        doc_id: id,
        kind: match index {
            DocIndex::Request(_) => DocKind::Request,
            DocIndex::Agenda(_) => DocKind::Agenda,
        },
        village,
        resident_user: None,
        snapshot: b"doc",
        changes: &c,
        device_id: "dev-a",
        user_id: "user-x",
        received_at: T0,
        index: Some(index),
    })
    .expect("commit");
}

/// The console's lists and the dashboard's counts come from the index written with each
/// commit, within the reader's area.
pub fn the_index_lists_and_counts(s: &dyn Storage) {
    let cal = WorkingCalendar::new(vec![]);
    let today = day(10);
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let plan = [
        (
            EAST,
            "370883101201-001-000001",
            Status::Forwarded,
            9,
            0,
            None,
        ),
        (
            EAST,
            "370883101201-001-000002",
            Status::Accepted,
            12,
            0,
            None,
        ),
        (
            WEST,
            "370883101202-002-000001",
            Status::Approved,
            20,
            5,
            Some(Rating::Satisfied),
        ),
        (
            WEST,
            "370883101202-002-000002",
            Status::Rejected,
            4,
            6,
            None,
        ),
        (
            BEISHAN,
            "370883102201-003-000001",
            Status::Forwarded,
            11,
            0,
            None,
        ),
    ];
    for (id, (village, receipt, status, due, decided, rating)) in ids.iter().zip(plan) {
        let index = request_index(*id, village, receipt, status, due, decided, rating);
        indexed(s, *id, village, &index);
    }
    let agenda = Uuid::new_v4();
    indexed(
        s,
        agenda,
        EAST,
        &DocIndex::Agenda(AgendaRow {
            id: agenda,
            village: EAST.into(),
            title: "修建村道".into(),
            category: "公益事业".into(),
            stage: Stage::ResolutionNotice,
            conflict: false,
            updated_at: Timestamp(T0),
        }),
    );
    let page = Page {
        offset: 0,
        limit: 50,
    };
    let list = |scope: &ReadScope, filter: &RequestFilter, page: Page| {
        s.requests(scope, filter, RequestSort::Deadline, page, today, &cal)
            .expect("requests")
    };
    let township = ReadScope::Township(TOWNSHIP.into());
    let all = list(&township, &RequestFilter::default(), page);
    assert_eq!(
        all.rows
            .iter()
            .map(|r| r.receipt_no.as_str())
            .collect::<Vec<_>>(),
        [
            "370883101202-002-000002",
            "370883101201-001-000001",
            "370883101201-001-000002",
            "370883101202-002-000001",
        ],
        "the township's, nearest deadline first; the other township's not"
    );
    assert!(!all.has_more);
    let forwarded = RequestFilter {
        status: Some(Status::Forwarded),
        ..RequestFilter::default()
    };
    assert_eq!(list(&township, &forwarded, page).rows.len(), 1);
    let overdue = RequestFilter {
        urgency: Some(UrgencyFilter::Overdue),
        ..RequestFilter::default()
    };
    assert_eq!(
        list(&township, &overdue, page).rows[0].receipt_no,
        "370883101201-001-000001",
        "running and past its deadline (the rejected one's clock stopped)"
    );
    let first = list(
        &township,
        &RequestFilter::default(),
        Page {
            offset: 0,
            limit: 1,
        },
    );
    assert_eq!(first.rows.len(), 1);
    assert!(first.has_more);
    assert_eq!(
        list(
            &ReadScope::Village(EAST.into()),
            &RequestFilter::default(),
            page
        )
        .rows
        .len(),
        2
    );
    assert_eq!(
        list(
            &ReadScope::County(COUNTY.into()),
            &RequestFilter::default(),
            page
        )
        .rows
        .len(),
        5
    );
    let bad = s.requests(
        &township,
        &RequestFilter::default(),
        RequestSort::Deadline,
        Page {
            offset: 0,
            limit: 0,
        },
        today,
        &cal,
    );
    assert!(matches!(bad, Err(StorageError::Invalid(_))), "{bad:?}");

    let stats = s.request_stats(&township).expect("stats");
    assert_eq!(stats.iter().map(|r| r.count).sum::<u64>(), 4);
    let west: Vec<_> = stats.iter().filter(|r| r.village == WEST).collect();
    assert_eq!(west.iter().map(|r| r.decided).sum::<u64>(), 2);
    assert_eq!(west.iter().map(|r| r.on_time).sum::<u64>(), 1);
    assert_eq!(west.iter().map(|r| r.working_days).sum::<u64>(), 4 + 5);
    assert!(
        west.iter()
            .any(|r| r.status == Status::Approved && r.rating == Some(Rating::Satisfied))
    );

    let notices = s
        .agenda_rows(&ReadScope::Village(EAST.into()), &[Stage::ResolutionNotice])
        .expect("agenda rows");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].title, "修建村道");
    assert!(
        s.agenda_rows(&ReadScope::Village(WEST.into()), &[])
            .expect("agenda rows")
            .is_empty()
    );
    assert!(
        s.agenda_rows(&township, &[Stage::Proposal])
            .expect("agenda rows")
            .is_empty()
    );
}

/// The console's search (receipt number or applicant's name, whole or part, `%` and `_` only
/// ever themselves), filing days (whole days in China Standard Time, both ends included), the
/// counts over every page, the ledger in filing order and the overdue requests per village
/// all come from the index, within the reader's area, and agree with the list.
pub fn the_index_searches_filing_days_and_counts(s: &dyn Storage) {
    let cal = WorkingCalendar::new(vec![]);
    let today = day(10);
    // 2026-03-02T00:00:00+08:00.
    const MARCH_2: i64 = T0 - 8 * 60 * MINUTE;
    // (village, receipt, applicant, filed at, status, due on March .., decided on March ..)
    let plan = [
        (
            EAST,
            "370883101201-001-000001",
            "王秀英",
            MARCH_2,
            Status::Forwarded,
            9,
            0,
        ),
        (
            EAST,
            "370883101201-001-000002",
            "李100%_四",
            MARCH_2 + DAY - 1,
            Status::Accepted,
            5,
            0,
        ),
        (
            WEST,
            "370883101202-002-000001",
            "王五",
            MARCH_2 + DAY,
            Status::Forwarded,
            12,
            0,
        ),
        (
            WEST,
            "370883101202-002-000010",
            "Zhang San",
            MARCH_2 + 2 * DAY + 5 * 60 * MINUTE,
            Status::Approved,
            4,
            6,
        ),
        (
            BEISHAN,
            "370883102201-003-000001",
            "王秀兰",
            MARCH_2 + DAY,
            Status::Forwarded,
            1,
            0,
        ),
    ];
    for (village, receipt, name, filed_at, status, due, decided) in plan {
        let id = Uuid::new_v4();
        let mut index = request_index(id, village, receipt, status, due, decided, None);
        if let DocIndex::Request(r) = &mut index {
            r.applicant_name = name.into();
            r.row.applicant_masked = bianmin_domain::mask_name(name);
            r.row.filed_at = Timestamp(filed_at);
        }
        indexed(s, id, village, &index);
    }
    let township = ReadScope::Township(TOWNSHIP.into());
    let page = Page {
        offset: 0,
        limit: 50,
    };
    // The receipt numbers listed, checked against the count.
    let found = |filter: &RequestFilter| -> Vec<String> {
        let listing = s
            .requests(&township, filter, RequestSort::ReceiptNo, page, today, &cal)
            .expect("requests");
        assert!(!listing.has_more);
        let count = s
            .count_requests(&township, filter, today, &cal)
            .expect("count");
        assert_eq!(count, listing.rows.len() as u64, "{filter:?}");
        listing.rows.into_iter().map(|r| r.receipt_no).collect()
    };
    let name = |text: &str| RequestFilter {
        applicant_contains: Some(text.into()),
        ..RequestFilter::default()
    };
    let receipt = |text: &str| RequestFilter {
        receipt_contains: Some(text.into()),
        ..RequestFilter::default()
    };
    assert_eq!(
        found(&name("王")),
        ["370883101201-001-000001", "370883101202-002-000001"],
        "part of a name, in the township only"
    );
    assert_eq!(found(&name("王秀英")), ["370883101201-001-000001"]);
    for literal in ["%", "_", "100%_", "\\"] {
        let expected: &[&str] = if literal == "\\" {
            &[]
        } else {
            &["370883101201-001-000002"]
        };
        assert_eq!(found(&name(literal)), expected, "{literal} is itself");
    }
    assert!(found(&name("李_")).is_empty(), "_ is no wildcard");
    assert_eq!(
        found(&name("ZHANG")),
        ["370883101202-002-000010"],
        "ASCII in any case"
    );
    assert_eq!(
        found(&receipt("002-0000")),
        ["370883101202-002-000001", "370883101202-002-000010"]
    );
    assert_eq!(
        found(&receipt("370883101201-001-000002")),
        ["370883101201-001-000002"]
    );
    assert!(found(&receipt("%")).is_empty() && found(&receipt("_")).is_empty());

    let days = |from: Option<u32>, to: Option<u32>| RequestFilter {
        filed_from: from.map(day),
        filed_to: to.map(day),
        ..RequestFilter::default()
    };
    assert_eq!(
        found(&days(Some(2), Some(2))),
        ["370883101201-001-000001", "370883101201-001-000002"],
        "the first and the last millisecond of 2 March"
    );
    assert_eq!(found(&days(Some(3), Some(3))), ["370883101202-002-000001"]);
    assert_eq!(
        found(&days(Some(3), None)),
        ["370883101202-002-000001", "370883101202-002-000010"]
    );
    assert!(found(&days(Some(5), None)).is_empty());
    assert!(found(&days(Some(3), Some(2))).is_empty());
    let both = RequestFilter {
        applicant_contains: Some("王".into()),
        filed_from: Some(day(3)),
        ..RequestFilter::default()
    };
    assert_eq!(found(&both), ["370883101202-002-000001"]);

    // The count is over every page; the county's is larger.
    let all = RequestFilter::default();
    let first = s
        .requests(
            &township,
            &all,
            RequestSort::Deadline,
            Page {
                offset: 0,
                limit: 1,
            },
            today,
            &cal,
        )
        .expect("requests");
    assert!(first.has_more);
    assert_eq!(s.count_requests(&township, &all, today, &cal).unwrap(), 4);
    let county = ReadScope::County(COUNTY.into());
    assert_eq!(s.count_requests(&county, &all, today, &cal).unwrap(), 5);
    let overdue = RequestFilter {
        urgency: Some(UrgencyFilter::Overdue),
        ..RequestFilter::default()
    };
    assert_eq!(
        s.count_requests(&township, &overdue, today, &cal).unwrap(),
        2
    );

    // The ledger: the filter's rows in filing order, at most `max`.
    let ledger = s
        .request_ledger(&township, &days(Some(2), Some(4)), today, &cal, 10)
        .expect("ledger");
    assert!(!ledger.has_more);
    assert_eq!(
        ledger
            .rows
            .iter()
            .map(|r| r.receipt_no.as_str())
            .collect::<Vec<_>>(),
        [
            "370883101201-001-000001",
            "370883101201-001-000002",
            "370883101202-002-000001",
            "370883101202-002-000010",
        ]
    );
    let decided = &ledger.rows[3];
    assert_eq!(
        (decided.clock.as_str(), decided.decided_on),
        ("stopped", Some(day(6)))
    );
    assert_eq!(ledger.rows[0].decided_on, None);
    assert_eq!(ledger.rows[1].applicant_masked, "李*****四");
    let cut = s
        .request_ledger(&township, &all, today, &cal, 3)
        .expect("ledger");
    assert_eq!((cut.rows.len(), cut.has_more), (3, true));

    // Overdue per village: running past the deadline (the decided one's clock stopped).
    let by_village = s.overdue_by_village(&township, today).expect("overdue");
    assert_eq!(
        by_village,
        [OverdueVillage {
            village: EAST.into(),
            count: 2,
            earliest_due: day(5),
        }]
    );
    let in_county = s.overdue_by_village(&county, today).expect("overdue");
    assert_eq!(
        in_county
            .iter()
            .map(|o| (o.village.as_str(), o.count))
            .collect::<Vec<_>>(),
        [(EAST, 2), (BEISHAN, 1)]
    );
    assert!(
        s.overdue_by_village(&township, day(1))
            .expect("overdue")
            .is_empty()
    );
}

/// Documents committed without an index entry are found, and a reindex rewrites entries.
pub fn reindexing_rewrites_and_finds_unindexed(s: &dyn Storage) {
    let cal = WorkingCalendar::new(vec![]);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let index_a = request_index(
        a,
        EAST,
        "370883101201-001-000001",
        Status::Accepted,
        9,
        0,
        None,
    );
    indexed(s, a, EAST, &index_a);
    push(
        s,
        b,
        DocKind::Request,
        EAST,
        None,
        &[change(99, 20)],
        "dev-a",
        T0,
    );
    assert_eq!(s.document_ids(None, 10, true).unwrap(), vec![b]);
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(s.document_ids(None, 10, false).unwrap(), both);
    assert_eq!(
        s.document_ids(Some(both[0]), 10, false).unwrap(),
        vec![both[1]]
    );
    assert_eq!(s.document_ids(None, 1, false).unwrap(), vec![both[0]]);

    let index_b = request_index(
        b,
        EAST,
        "370883101201-001-000002",
        Status::Forwarded,
        3,
        0,
        None,
    );
    let index_a2 = request_index(
        a,
        EAST,
        "370883101201-001-000001",
        Status::Approved,
        9,
        8,
        None,
    );
    let statuses = || {
        s.requests(
            &ReadScope::Village(EAST.into()),
            &RequestFilter::default(),
            RequestSort::ReceiptNo,
            Page {
                offset: 0,
                limit: 10,
            },
            day(1),
            &cal,
        )
        .unwrap()
        .rows
        .iter()
        .map(|r| r.status)
        .collect::<Vec<_>>()
    };
    let written = s
        .reindex(&[(a, 1, index_a2.clone()), (b, 1, index_b)])
        .unwrap();
    assert_eq!(written, 2);
    assert!(s.document_ids(None, 10, true).unwrap().is_empty());
    assert_eq!(statuses(), [Status::Approved, Status::Forwarded]);

    // An entry made from a version that is no longer the stored one (another process stored
    // the document meanwhile, with its own entry) is not written over the newer one.
    let index_a3 = request_index(
        a,
        EAST,
        "370883101201-001-000001",
        Status::Returned,
        9,
        0,
        None,
    );
    indexed(s, a, EAST, &index_a3);
    assert_eq!(version(s, a), Some(2));
    assert_eq!(s.reindex(&[(a, 1, index_a2)]).unwrap(), 0);
    assert_eq!(statuses(), [Status::Returned, Status::Forwarded]);
    // Nor is one of a document not stored.
    let gone = Uuid::new_v4();
    let index_gone = request_index(gone, EAST, "x", Status::Approved, 1, 0, None);
    assert_eq!(s.reindex(&[(gone, 1, index_gone)]).unwrap(), 0);
}

/// Who committed what, for the scope checks.
struct Logged {
    seq: u64,
    village: &'static str,
    resident: Option<&'static str>,
    device: &'static str,
}

/// A log across two townships, three villages, two residents and agenda items, interleaved.
fn mixed_log(s: &dyn Storage) -> Vec<Logged> {
    let plan: [(&'static str, Option<&'static str>, &'static str, usize); 9] = [
        (EAST, Some("u-res-1"), "dev-east", 2),
        (WEST, Some("u-res-3"), "dev-west", 1),
        (EAST, None, "dev-east", 3),
        (BEISHAN, Some("u-res-4"), "dev-beishan", 2),
        (EAST, Some("u-res-2"), "dev-res-2", 1),
        (WEST, None, "dev-west", 2),
        (EAST, Some("u-res-1"), "dev-res-1", 1),
        (BEISHAN, None, "dev-beishan", 1),
        (EAST, Some("u-res-1"), "dev-east", 2),
    ];
    let mut docs = std::collections::HashMap::new();
    let mut log = Vec::new();
    let mut seed = 100;
    for (i, (village, resident, device, n)) in plan.into_iter().enumerate() {
        let doc = *docs.entry((village, resident)).or_insert_with(Uuid::new_v4);
        let kind = if resident.is_some() {
            DocKind::Request
        } else {
            DocKind::Agenda
        };
        let changes: Vec<_> = (0..n)
            .map(|_| {
                seed += 1;
                change(seed, 30 + (seed as usize * 37) % 200)
            })
            .collect();
        let at = T0 + i as i64 * MINUTE;
        let last = push(s, doc, kind, village, resident, &changes, device, at);
        let trail = s.audit(doc).unwrap();
        let new = &trail[trail.len() - n..];
        assert_eq!(new.last().unwrap().seq, last);
        for a in new {
            log.push(Logged {
                seq: a.seq,
                village,
                resident,
                device,
            });
        }
    }
    log
}

/// Each scope reads exactly its own entries, in log order.
pub fn changes_after_respects_scope(s: &dyn Storage) {
    let log = mixed_log(s);
    let expect = |keep: &dyn Fn(&Logged) -> bool| -> Vec<u64> {
        log.iter().filter(|l| keep(l)).map(|l| l.seq).collect()
    };
    let cases: Vec<(ReadScope, Vec<u64>)> = vec![
        (
            ReadScope::Resident {
                user: "u-res-1".into(),
            },
            expect(&|l| l.resident == Some("u-res-1")),
        ),
        (
            ReadScope::Resident {
                user: "u-res-2".into(),
            },
            expect(&|l| l.resident == Some("u-res-2")),
        ),
        (
            ReadScope::Village(EAST.into()),
            expect(&|l| l.village == EAST),
        ),
        (
            ReadScope::Village(WEST.into()),
            expect(&|l| l.village == WEST),
        ),
        (
            ReadScope::Township(TOWNSHIP.into()),
            expect(&|l| l.village.starts_with(TOWNSHIP)),
        ),
        (
            ReadScope::Township(OTHER_TOWNSHIP.into()),
            expect(&|l| l.village == BEISHAN),
        ),
        (ReadScope::County(COUNTY.into()), expect(&|_| true)),
        (ReadScope::County("370884".into()), Vec::new()),
        (ReadScope::Village("370883101209".into()), Vec::new()),
        (ReadScope::Township("370883".into()), Vec::new()),
        (
            ReadScope::Resident {
                user: "u-clerk-east".into(),
            },
            Vec::new(),
        ),
    ];
    for (scope, want) in cases {
        let got = pull_all(s, &scope, usize::MAX, None);
        assert_eq!(seqs(&got), want, "{scope:?}");
        let paged = pull_all(s, &scope, 0, None);
        assert_eq!(paged, got, "{scope:?}: one entry per page gives the same");
    }
    // Scope and exclusion together.
    let got = pull_all(s, &ReadScope::Village(EAST.into()), 100, Some("dev-east"));
    assert_eq!(
        seqs(&got),
        expect(&|l| l.village == EAST && l.device != "dev-east")
    );
    let got = pull_all(
        s,
        &ReadScope::Township(TOWNSHIP.into()),
        0,
        Some("dev-west"),
    );
    assert_eq!(
        seqs(&got),
        expect(&|l| l.village.starts_with(TOWNSHIP) && l.device != "dev-west")
    );
    // The whole county, in log order, each change with its document.
    let all = pull_all(s, &ReadScope::County(COUNTY.into()), usize::MAX, None);
    assert_eq!(all.len(), log.len());
    let audits: usize = all
        .iter()
        .map(|e| e.doc_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|d| s.audit(d).unwrap().len())
        .sum();
    assert_eq!(audits, log.len());
}

/// Pages respect the byte budget (one oversized entry alone), together return everything
/// exactly once, and `more` says whether anything is left.
pub fn byte_budget_pages_everything_once(s: &dyn Storage) {
    let doc = Uuid::new_v4();
    let sizes = [
        120, 40, 700, 10, 10, 10, 255, 256, 257, 1, 300, 90, 90, 90, 5, 2_000, 64, 64, 64, 64,
    ];
    let changes: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| change(1_000 + i as u64, len))
        .collect();
    // Pushed in three commits so the log is not one transaction's worth.
    push(
        s,
        doc,
        DocKind::Agenda,
        EAST,
        None,
        &changes[..7],
        "dev-a",
        T0,
    );
    push(
        s,
        doc,
        DocKind::Agenda,
        EAST,
        None,
        &changes[7..8],
        "dev-a",
        T0 + 1,
    );
    push(
        s,
        doc,
        DocKind::Agenda,
        EAST,
        None,
        &changes[8..],
        "dev-a",
        T0 + 2,
    );
    let scope = ReadScope::Village(EAST.into());
    let all = pull_all(s, &scope, usize::MAX, None);
    assert_eq!(all.len(), sizes.len());
    for (e, (_, bytes)) in all.iter().zip(&changes) {
        assert_eq!(&e.change, bytes);
        assert_eq!(e.doc_id, doc);
    }

    for budget in [0, 1, 100, 256, 300, 1_000, 5_000] {
        let mut cursor = 0;
        let mut got = Vec::new();
        loop {
            let page = s.changes_after(&scope, cursor, budget, None).unwrap();
            check_page(&page, cursor, budget);
            assert!(
                !page.entries.is_empty() || !page.more,
                "an empty page with more"
            );
            // Full: the next entry would not have fitted.
            let rest: Vec<&LogEntry> = all.iter().filter(|e| e.seq > page.cursor).collect();
            assert_eq!(
                page.more,
                !rest.is_empty(),
                "budget {budget}: more is exact"
            );
            if let Some(next) = rest.first() {
                let used: usize = page.entries.iter().map(|e| e.change.len()).sum();
                assert!(
                    used + next.change.len() > budget,
                    "budget {budget}: the page stopped early"
                );
            }
            got.extend(page.entries);
            cursor = page.cursor;
            if !page.more {
                break;
            }
        }
        assert_eq!(
            got, all,
            "budget {budget}: everything exactly once, in order"
        );
    }
    let last = all.last().unwrap().seq;
    let tail = s.changes_after(&scope, last - 1, 0, None).unwrap();
    assert_eq!(
        (seqs(&tail.entries), tail.cursor, tail.more),
        (vec![last], last, false)
    );
}

/// A device's own changes are skipped but the cursor steps past them, even at the end.
pub fn excluded_device_advances_cursor(s: &dyn Storage) {
    let doc = Uuid::new_v4();
    let by = |device: &'static str, seeds: std::ops::Range<u64>| {
        let changes: Vec<_> = seeds.map(|i| change(i, 50)).collect();
        push(s, doc, DocKind::Agenda, EAST, None, &changes, device, T0)
    };
    by("dev-a", 1..3);
    let b1 = by("dev-b", 3..4);
    by("dev-a", 4..5);
    let b2 = by("dev-b", 5..6);
    let end = by("dev-a", 6..8);
    let scope = ReadScope::Village(EAST.into());

    for budget in [0, 50, usize::MAX] {
        let got = pull_all(s, &scope, budget, Some("dev-a"));
        assert_eq!(seqs(&got), [b1, b2], "budget {budget}");
        let mut cursor = 0;
        loop {
            let page = s
                .changes_after(&scope, cursor, budget, Some("dev-a"))
                .unwrap();
            cursor = page.cursor;
            if !page.more {
                break;
            }
        }
        assert_eq!(
            cursor, end,
            "budget {budget}: the cursor passes the trailing own changes"
        );
    }
    let from_b = pull_all(s, &scope, usize::MAX, Some("dev-b"));
    assert_eq!(from_b.len(), 5);
    assert!(!seqs(&from_b).contains(&b1));

    // Nothing but one's own changes: an empty page that still moves the cursor to the end.
    let page = s
        .changes_after(&scope, b2, usize::MAX, Some("dev-a"))
        .unwrap();
    assert_eq!(
        (page.entries.len(), page.cursor, page.more),
        (0, end, false)
    );
    let none = pull_all(s, &scope, 10, Some("dev-c"));
    assert_eq!(none.len(), 7, "another device's exclusion hides nothing");
}

/// An empty log, and a cursor at or past the end, give an empty page that keeps the cursor.
pub fn empty_log_and_cursor_at_end(s: &dyn Storage) {
    let scope = ReadScope::County(COUNTY.into());
    let page = s.changes_after(&scope, 0, 1_000, None).unwrap();
    assert_eq!(
        page,
        LogPage {
            entries: Vec::new(),
            cursor: 0,
            more: false
        }
    );
    let end = push(
        s,
        Uuid::new_v4(),
        DocKind::Agenda,
        WEST,
        None,
        &[change(7, 10)],
        "d",
        T0,
    );
    for cursor in [end, end + 5, u64::MAX] {
        let page = s.changes_after(&scope, cursor, 1_000, None).unwrap();
        assert_eq!(
            page,
            LogPage {
                entries: Vec::new(),
                cursor,
                more: false
            }
        );
    }
}

/// Commits from many threads at once each get their own numbers and all land.
pub fn concurrent_commits_are_serialised(s: &dyn Storage) {
    const THREADS: u64 = 8;
    const EACH: u64 = 12;
    let numbers: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let village = [EAST, WEST, BEISHAN][t as usize % 3];
                    let device = format!("dev-{t}");
                    (0..EACH)
                        .map(|i| {
                            let doc = Uuid::new_v4();
                            let ch = [change(10_000 + t * 1_000 + i, 80)];
                            let seq =
                                push(s, doc, DocKind::Agenda, village, None, &ch, &device, T0);
                            // Reads run alongside the writes.
                            assert!(s.document(doc).unwrap().is_some());
                            seq
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a committing thread panicked"))
            .collect()
    });
    let distinct: BTreeSet<u64> = numbers.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        numbers.len(),
        "every commit got its own number"
    );
    assert_eq!(s.counts().unwrap(), (THREADS * EACH, THREADS * EACH));
    let all = pull_all(s, &ReadScope::County(COUNTY.into()), 4_000, None);
    assert_eq!(seqs(&all), distinct.into_iter().collect::<Vec<_>>());
}

/// A console password hash is set, replaced and removed; an unknown user is refused.
pub fn passwords_are_set_and_cleared(s: &dyn Storage) {
    people(s);
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
    s.set_password("u-reviewer", Some(hash)).unwrap();
    let reviewer = s.user_by_name("zhao.min").unwrap().expect("reviewer");
    assert_eq!(reviewer.password_hash.as_deref(), Some(hash));
    assert_eq!(
        s.user("u-reviewer")
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some(hash)
    );
    s.set_password("u-reviewer", Some("$argon2id$second"))
        .unwrap();
    assert_eq!(
        s.user("u-reviewer")
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$second")
    );
    s.set_password("u-admin", None).unwrap();
    assert_eq!(s.user("u-admin").unwrap().unwrap().password_hash, None);
    assert_eq!(
        s.user("u-clerk-east").unwrap().unwrap().password_hash,
        None,
        "others untouched"
    );
    assert!(matches!(
        s.set_password("nobody", Some(hash)),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(s.users().unwrap().len(), 4);
}

fn attachment(sha256: &str, media_type: MediaType, size: u64) -> AttachmentRef {
    AttachmentRef {
        id: Uuid::new_v4(),
        sha256: sha256.into(),
        media_type,
        size,
        material: "ID card".into(),
        by: Stamp {
            user: "clerk".into(),
            role: Role::Clerk,
            device: "dev-a".into(),
            at: Timestamp(T0),
        },
    }
}

/// The requests whose index entry refers to a blob are found by its hash, with their read
/// scope and what the reference says of the bytes; indexing again adds nothing.
pub fn blob_references_follow_the_index(s: &dyn Storage) {
    let (x, y) = ("a".repeat(64), "b".repeat(64));
    let (east, beishan, own) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let with = |id, village: &str, receipt: &str, resident: Option<&str>, refs| {
        let mut index = request_index(id, village, receipt, Status::Draft, 0, 0, None);
        if let DocIndex::Request(r) = &mut index {
            r.resident_user = resident.map(str::to_string);
            r.attachments = refs;
        }
        index
    };
    let index_east = with(
        east,
        EAST,
        "370883101201-001-000001",
        None,
        vec![
            attachment(&x, MediaType::Jpeg, 1000),
            attachment(&y, MediaType::Pdf, 20),
            // The same bytes attached twice: one reference.
            attachment(&x, MediaType::Jpeg, 1000),
        ],
    );
    indexed(s, east, EAST, &index_east);
    indexed(
        s,
        beishan,
        BEISHAN,
        &with(
            beishan,
            BEISHAN,
            "370883102201-001-000001",
            None,
            vec![attachment(&x, MediaType::Jpeg, 1000)],
        ),
    );
    indexed(
        s,
        own,
        WEST,
        &with(
            own,
            WEST,
            "370883101202-001-000001",
            Some("resident-1"),
            vec![attachment(&y, MediaType::Pdf, 20)],
        ),
    );
    assert_eq!(s.reindex(&[(east, 1, index_east)]).unwrap(), 1);

    let refs = s.blob_references(&x).unwrap();
    let mut expected = vec![
        BlobReference {
            doc_id: east,
            village: EAST.into(),
            resident_user: None,
            size: 1000,
            media_type: "image/jpeg".into(),
        },
        BlobReference {
            doc_id: beishan,
            village: BEISHAN.into(),
            resident_user: None,
            size: 1000,
            media_type: "image/jpeg".into(),
        },
    ];
    expected.sort_by_key(|r| r.doc_id.to_string());
    assert_eq!(refs, expected);
    assert!(s.blob_references(&"c".repeat(64)).unwrap().is_empty());

    let readers = |sha: &str, scope: ReadScope| -> BTreeSet<Uuid> {
        s.blob_references(sha)
            .unwrap()
            .into_iter()
            .filter(|r| r.readable_in(&scope))
            .map(|r| r.doc_id)
            .collect()
    };
    assert_eq!(readers(&x, ReadScope::Village(EAST.into())), [east].into());
    assert_eq!(
        readers(&x, ReadScope::Village(WEST.into())),
        BTreeSet::new()
    );
    assert_eq!(
        readers(&x, ReadScope::Township(TOWNSHIP.into())),
        [east].into()
    );
    assert_eq!(
        readers(&x, ReadScope::Township(OTHER_TOWNSHIP.into())),
        [beishan].into()
    );
    assert_eq!(
        readers(&x, ReadScope::County(COUNTY.into())),
        [east, beishan].into()
    );
    let resident = |user: &str| ReadScope::Resident { user: user.into() };
    assert_eq!(readers(&y, resident("resident-1")), [own].into());
    assert_eq!(readers(&y, resident("resident-2")), BTreeSet::new());
    assert_eq!(readers(&x, resident("resident-1")), BTreeSet::new());
}

/// A new request's receipt number is claimed as it is stored: a second new request with the
/// number is a [`StorageError::Conflict`] and nothing of its group is stored, however many
/// writers race for it (hub processes sharing the storage each checked against an index that
/// did not yet hold the other's); the holder's later pushes keep it.
pub fn a_receipt_number_goes_to_one_new_request(s: &dyn Storage) {
    const RECEIPT: &str = "370883101201-001-000077";
    fn new_request<'a>(
        doc: Uuid,
        index: &'a DocIndex,
        changes: &'a [([u8; 32], Vec<u8>)],
        base: u64,
    ) -> Checked<'a> {
        let mut c = checked(doc, b"request", changes, base);
        c.commit.kind = DocKind::Request;
        c.commit.index = Some(index);
        c
    }
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let index = |doc| request_index(doc, EAST, RECEIPT, Status::Submitted, 0, 0, None);
    let (i1, i2) = (index(first), index(second));
    let (c1, c2, c3) = ([change(80, 30)], [change(81, 30)], [change(82, 30)]);
    s.commit_checked(&[new_request(first, &i1, &c1, 0)])
        .unwrap();
    let counts = s.counts().unwrap();
    match s.commit_checked(&[new_request(second, &i2, &c2, 0)]) {
        Err(StorageError::Conflict { doc }) => assert_eq!(doc, second),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.document(second).unwrap(), None, "the second not stored");
    assert_eq!(s.counts().unwrap(), counts, "nothing of it logged");
    assert_eq!(s.request_by_receipt(RECEIPT).unwrap(), Some(first));
    s.commit_checked(&[new_request(first, &i1, &c3, 1)])
        .unwrap();
    assert_eq!(version(s, first), Some(2), "the holder's next push stored");

    // Writers racing for one new number: exactly one stores its request.
    const RACED: &str = "370883101201-001-000078";
    let racers: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let start = std::sync::Barrier::new(racers.len());
    let stored: Vec<Uuid> = std::thread::scope(|scope| {
        let runs: Vec<_> = racers
            .iter()
            .zip(90u64..)
            .map(|(&doc, n)| {
                let start = &start;
                scope.spawn(move || {
                    let index = request_index(doc, EAST, RACED, Status::Submitted, 0, 0, None);
                    let changes = [change(n, 30)];
                    start.wait();
                    match s.commit_checked(&[new_request(doc, &index, &changes, 0)]) {
                        Ok(_) => Some(doc),
                        Err(StorageError::Conflict { doc: named }) => {
                            assert_eq!(named, doc);
                            None
                        }
                        Err(e) => panic!("{e}"),
                    }
                })
            })
            .collect();
        runs.into_iter().filter_map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(stored.len(), 1, "one of the racers stored: {stored:?}");
    assert_eq!(s.request_by_receipt(RACED).unwrap(), Some(stored[0]));
    for doc in racers.iter().filter(|d| **d != stored[0]) {
        assert_eq!(s.document(*doc).unwrap(), None);
    }
}

/// The last receipt number of a series (a village's hub series): the highest claimed with a
/// stored request, its counter read as a number (a counter past its padding is longer), and
/// nothing of another series, village or device.
pub fn the_last_receipt_of_a_series_is_its_highest(s: &dyn Storage) {
    const SERIES: &str = "370883101201-000-";
    assert_eq!(s.last_receipt(SERIES).unwrap(), None, "an empty series");
    let store = |receipt: &str, n: u64| {
        let doc = Uuid::new_v4();
        let index = request_index(doc, EAST, receipt, Status::Submitted, 0, 0, None);
        let changes = [change(n, 30)];
        let mut c = checked(doc, b"request", &changes, 0);
        c.commit.kind = DocKind::Request;
        c.commit.index = Some(&index);
        s.commit_checked(&[c]).unwrap();
    };
    store("370883101201-000-000002", 120);
    store("370883101201-000-000009", 121);
    store("370883101201-001-000050", 122);
    store("370883101202-000-000070", 123);
    assert_eq!(
        s.last_receipt(SERIES).unwrap().as_deref(),
        Some("370883101201-000-000009")
    );
    store("370883101201-000-1000000", 124);
    assert_eq!(
        s.last_receipt(SERIES).unwrap().as_deref(),
        Some("370883101201-000-1000000"),
        "a counter past its padding is the highest"
    );
    assert_eq!(s.last_receipt("370883101203-000-").unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Counters (`Storage::update_counters`)

/// A counter's state: a number, as eight bytes.
fn count_row(n: u64, expires_at: i64) -> Option<CounterRow> {
    Some(CounterRow {
        state: n.to_le_bytes().to_vec(),
        expires_at,
    })
}

fn count_of(row: &Option<CounterRow>) -> u64 {
    row.as_ref().map_or(0, |r| {
        u64::from_le_bytes(r.state.as_slice().try_into().expect("eight bytes"))
    })
}

/// The counts of `keys` at `now`, read through an update that changes nothing.
fn counts_at(s: &dyn Storage, keys: &[&str], now: i64) -> Vec<Option<u64>> {
    let mut seen = Vec::new();
    s.update_counters(keys, now, &mut |rows| {
        seen = rows
            .iter()
            .map(|r| r.as_ref().map(|_| count_of(r)))
            .collect();
        Ok(rows.to_vec())
    })
    .unwrap();
    seen
}

/// Threads (standing in for hub processes) incrementing counters at once lose no increment:
/// each update reads what the one before it wrote. Two keys updated together stay equal
/// however the threads order them, and no order waits forever on another.
pub fn counters_update_atomically_under_contention(s: &dyn Storage) {
    const THREADS: usize = 4;
    const EACH: u64 = 25;
    let start = std::sync::Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let start = &start;
            scope.spawn(move || {
                let keys: [&str; 3] = if t % 2 == 0 {
                    ["count:one", "count:a", "count:b"]
                } else {
                    ["count:b", "count:one", "count:a"]
                };
                start.wait();
                for _ in 0..EACH {
                    s.update_counters(&keys, T0, &mut |rows| {
                        Ok(rows
                            .iter()
                            .map(|r| count_row(count_of(r) + 1, T0 + DAY))
                            .collect())
                    })
                    .expect("an update");
                }
            });
        }
    });
    let total = THREADS as u64 * EACH;
    assert_eq!(
        counts_at(s, &["count:one", "count:a", "count:b"], T0),
        [Some(total); 3],
        "no increment lost"
    );
}

/// A row reads as absent from its expiry on, and a row stored already expired is not kept.
pub fn counters_expire(s: &dyn Storage) {
    s.update_counters(&["exp:a", "exp:b"], T0, &mut |rows| {
        assert_eq!(rows, [None, None], "nothing stored yet");
        Ok(vec![count_row(1, T0 + MINUTE), count_row(2, T0)])
    })
    .unwrap();
    assert_eq!(
        counts_at(s, &["exp:a", "exp:b"], T0),
        [Some(1), None],
        "a row stored expired is not kept"
    );
    assert_eq!(counts_at(s, &["exp:a"], T0 + MINUTE - 1), [Some(1)]);
    assert_eq!(
        counts_at(s, &["exp:a"], T0 + MINUTE),
        [None],
        "expired at its time"
    );
    // An expired row is handed over as absent, and a new one takes its key.
    s.update_counters(&["exp:a"], T0 + 2 * MINUTE, &mut |rows| {
        assert_eq!(rows, [None]);
        Ok(vec![count_row(7, T0 + 3 * MINUTE)])
    })
    .unwrap();
    assert_eq!(counts_at(s, &["exp:a"], T0 + 2 * MINUTE), [Some(7)]);
    // Many rows expiring, one live among them: the expired read as absent (and are deleted on
    // the way), the live one is kept.
    s.update_counters(&["exp:live"], T0, &mut |_| {
        Ok(vec![count_row(5, T0 + 2 * DAY)])
    })
    .unwrap();
    let keys: Vec<String> = (0..150).map(|i| format!("exp:many:{i}")).collect();
    for key in &keys {
        s.update_counters(&[key.as_str()], T0, &mut |_| Ok(vec![count_row(1, T0 + 1)]))
            .unwrap();
    }
    for key in keys.iter().step_by(10) {
        assert_eq!(counts_at(s, &[key.as_str()], T0 + DAY), [None]);
    }
    assert_eq!(counts_at(s, &["exp:live"], T0 + DAY), [Some(5)]);
}

/// Several keys in one update: rows in the order of the keys, written or deleted together,
/// nothing written when the update fails; keys empty, too long or repeated are refused.
pub fn counters_update_several_keys_at_once(s: &dyn Storage) {
    let keys = ["many:x", "many:y", "many:z"];
    s.update_counters(&keys, T0, &mut |_| {
        Ok(vec![count_row(1, T0 + DAY), None, count_row(3, T0 + DAY)])
    })
    .unwrap();
    assert_eq!(counts_at(s, &keys, T0), [Some(1), None, Some(3)]);
    assert_eq!(
        counts_at(s, &["many:z", "many:x"], T0),
        [Some(3), Some(1)],
        "in the order asked"
    );
    // One update writes one key, deletes another and adds a third.
    s.update_counters(&keys, T0, &mut |rows| {
        assert_eq!(count_of(&rows[0]), 1);
        Ok(vec![count_row(10, T0 + DAY), count_row(20, T0 + DAY), None])
    })
    .unwrap();
    assert_eq!(counts_at(s, &keys, T0), [Some(10), Some(20), None]);
    // A failed update leaves every row as it was.
    let failed = s.update_counters(&keys, T0, &mut |_| {
        Err(StorageError::Invalid("changed my mind".into()))
    });
    assert!(
        matches!(failed, Err(StorageError::Invalid(_))),
        "{failed:?}"
    );
    let wrong = s.update_counters(&keys, T0, &mut |_| Ok(vec![count_row(99, T0 + DAY)]));
    assert!(matches!(wrong, Err(StorageError::Invalid(_))), "{wrong:?}");
    assert_eq!(counts_at(s, &keys, T0), [Some(10), Some(20), None]);
    // Bad keys.
    let long = "k".repeat(super::MAX_COUNTER_KEY + 1);
    for bad in [vec!["many:x", "many:x"], vec![""], vec![long.as_str()]] {
        let refused = s.update_counters(&bad, T0, &mut |rows| Ok(rows.to_vec()));
        assert!(matches!(refused, Err(StorageError::Invalid(_))), "{bad:?}");
    }
    let longest = "k".repeat(super::MAX_COUNTER_KEY);
    s.update_counters(&[longest.as_str()], T0, &mut |_| {
        Ok(vec![count_row(5, T0 + DAY)])
    })
    .unwrap();
    assert_eq!(counts_at(s, &[longest.as_str()], T0), [Some(5)]);
}

// ---------------------------------------------------------------------------------------------
// Resident accounts

/// A session of `user_id` under `key`, for the checks that sessions end.
fn session_of(key: &str, user_id: &str) -> SessionRecord {
    SessionRecord {
        key: key.into(),
        user_id: user_id.into(),
        csrf: format!("csrf-{key}"),
        created_at: T0,
        seen_at: T0,
    }
}

/// An activation code sets its user's password once, signs the user out everywhere, and is
/// then spent; it shows as pending until then.
pub fn an_activation_code_activates_its_account_once(s: &dyn Storage) {
    people(s);
    assert_eq!(
        s.account_status("u-res-1").unwrap(),
        AccountStatus::default()
    );
    s.add_activation_code("act-1", "u-res-1", T0, T0 + 14 * DAY)
        .unwrap();
    assert_eq!(
        s.account_status("u-res-1").unwrap().pending_code,
        Some(PendingCode {
            issued_at: T0,
            expires_at: T0 + 14 * DAY
        })
    );
    s.save_session(&session_of("old", "u-res-1")).unwrap();
    s.save_session(&session_of("other", "u-clerk-east"))
        .unwrap();

    // Someone else's name with this code: refused, and the code still works afterwards.
    let r = s.activate_account("wang.fang", "act-1", "$argon2id$x", T0 + MINUTE);
    assert!(matches!(r, Err(StorageError::CodeInvalid)), "{r:?}");
    let r = s.activate_account("nobody", "act-1", "$argon2id$x", T0 + MINUTE);
    assert!(matches!(r, Err(StorageError::CodeInvalid)), "{r:?}");
    assert_eq!(s.user("u-clerk-east").unwrap().unwrap().password_hash, None);

    let user = s
        .activate_account("li.wei", "act-1", "$argon2id$resident", T0 + MINUTE)
        .expect("activated");
    assert_eq!(user.id, "u-res-1");
    assert_eq!(user.password_hash.as_deref(), Some("$argon2id$resident"));
    assert_eq!(s.user("u-res-1").unwrap(), Some(user));
    assert_eq!(s.session("old").unwrap(), None, "signed out everywhere");
    assert!(s.session("other").unwrap().is_some(), "others untouched");
    assert_eq!(s.account_status("u-res-1").unwrap().pending_code, None);

    let again = s.activate_account("li.wei", "act-1", "$argon2id$again", T0 + 2 * MINUTE);
    assert!(matches!(again, Err(StorageError::CodeInvalid)), "{again:?}");
    assert_eq!(
        s.user("u-res-1").unwrap().unwrap().password_hash.as_deref(),
        Some("$argon2id$resident"),
        "a spent code changes nothing"
    );

    let r = s.add_activation_code("act-2", "no-such-user", T0, T0 + DAY);
    assert!(matches!(r, Err(StorageError::NotFound(_))), "{r:?}");
    let r = s.add_activation_code("act-1", "u-res-1", T0, T0 + DAY);
    assert!(matches!(r, Err(StorageError::Duplicate(_))), "{r:?}");
    let r = s.account_status("no-such-user");
    assert!(matches!(r, Err(StorageError::NotFound(_))), "{r:?}");
}

/// Only the newest code of a user works, strictly before its expiry; enrolment codes and
/// activation codes are separate.
pub fn a_new_activation_code_replaces_the_unused_one(s: &dyn Storage) {
    people(s);
    s.add_activation_code("first", "u-res-1", T0, T0 + DAY)
        .unwrap();
    s.add_activation_code("second", "u-res-1", T0 + MINUTE, T0 + DAY)
        .unwrap();
    s.add_activation_code("clerks", "u-clerk-east", T0, T0 + DAY)
        .unwrap();
    assert_eq!(
        s.account_status("u-res-1").unwrap().pending_code,
        Some(PendingCode {
            issued_at: T0 + MINUTE,
            expires_at: T0 + DAY
        })
    );
    let r = s.activate_account("li.wei", "first", "$argon2id$1", T0 + MINUTE);
    assert!(
        matches!(r, Err(StorageError::CodeInvalid)),
        "replaced: {r:?}"
    );
    let r = s.redeem_enrolment_code("second", &new_device(1, T0 + MINUTE));
    assert!(
        matches!(r, Err(StorageError::CodeInvalid)),
        "not an enrolment code: {r:?}"
    );
    let r = s.activate_account("li.wei", "second", "$argon2id$2", T0 + DAY);
    assert!(
        matches!(r, Err(StorageError::CodeInvalid)),
        "expired: {r:?}"
    );
    s.activate_account("li.wei", "second", "$argon2id$2", T0 + DAY - 1)
        .expect("a millisecond before expiry");
    assert!(
        s.account_status("u-clerk-east")
            .unwrap()
            .pending_code
            .is_some(),
        "another user's code is untouched"
    );
    // A code issued after one was used: the used one stays spent, the new one works.
    s.add_activation_code("third", "u-res-1", T0 + DAY, T0 + 2 * DAY)
        .unwrap();
    let r = s.activate_account("li.wei", "second", "$argon2id$x", T0 + DAY);
    assert!(matches!(r, Err(StorageError::CodeInvalid)), "{r:?}");
    let user = s
        .activate_account("li.wei", "third", "$argon2id$3", T0 + DAY)
        .unwrap();
    assert_eq!(user.password_hash.as_deref(), Some("$argon2id$3"));
}

/// Deactivating ends a user's sessions and voids their pending code, keeps their devices and
/// password, and refuses activation until the user is reactivated.
pub fn a_deactivated_account_keeps_its_devices_but_not_its_sessions(s: &dyn Storage) {
    people(s);
    s.add_enrolment_code("enrol", "u-res-1", T0 + DAY).unwrap();
    let (phone, _) = s
        .redeem_enrolment_code("enrol", &new_device(1, T0))
        .unwrap();
    s.add_activation_code("act", "u-res-1", T0, T0 + DAY)
        .unwrap();
    s.activate_account("li.wei", "act", "$argon2id$kept", T0)
        .unwrap();
    s.add_activation_code("pending", "u-res-1", T0, T0 + DAY)
        .unwrap();
    s.save_session(&session_of("phone-browser", "u-res-1"))
        .unwrap();
    s.save_session(&session_of("clerk", "u-clerk-east"))
        .unwrap();

    assert!(s.set_deactivated("u-res-1", Some(T0 + MINUTE)).unwrap());
    assert!(
        !s.set_deactivated("u-res-1", Some(T0 + 2 * MINUTE)).unwrap(),
        "already deactivated"
    );
    assert_eq!(
        s.account_status("u-res-1").unwrap(),
        AccountStatus {
            deactivated_at: Some(T0 + MINUTE),
            pending_code: None,
        },
        "the first deactivation counts; the pending code is void"
    );
    assert_eq!(s.session("phone-browser").unwrap(), None);
    assert!(s.session("clerk").unwrap().is_some(), "others untouched");
    let (device, owner) = s
        .device_by_token(&new_device(1, 0).token_hash)
        .unwrap()
        .expect("the device is kept");
    assert_eq!(device, phone);
    assert_eq!(device.revoked_at, None, "and not revoked");
    assert_eq!(owner.password_hash.as_deref(), Some("$argon2id$kept"));

    // A code issued while deactivated does not activate.
    s.add_activation_code("while-off", "u-res-1", T0 + MINUTE, T0 + DAY)
        .unwrap();
    let r = s.activate_account("li.wei", "while-off", "$argon2id$new", T0 + 2 * MINUTE);
    assert!(matches!(r, Err(StorageError::CodeInvalid)), "{r:?}");
    assert_eq!(
        s.user("u-res-1").unwrap().unwrap().password_hash.as_deref(),
        Some("$argon2id$kept")
    );

    assert!(s.set_deactivated("u-res-1", None).unwrap());
    assert!(
        !s.set_deactivated("u-res-1", None).unwrap(),
        "active already"
    );
    assert_eq!(s.account_status("u-res-1").unwrap().deactivated_at, None);
    s.activate_account("li.wei", "while-off", "$argon2id$new", T0 + 3 * MINUTE)
        .expect("reactivated: the code issued meanwhile works");

    for r in [
        s.set_deactivated("no-such-user", Some(T0)),
        s.set_deactivated("no-such-user", None),
    ] {
        assert!(matches!(r, Err(StorageError::NotFound(_))), "{r:?}");
    }
    assert_eq!(s.users().unwrap().len(), 4);
}

/// Open311 API keys: numbered by the storage in order, found by their hash (revoked ones too,
/// for the caller to refuse), revoked once (the first time stays), a hash never stored twice.
pub fn open311_keys_are_found_by_hash_and_revoked_once(s: &dyn Storage) {
    assert_eq!(s.open311_keys().unwrap(), []);
    assert_eq!(s.open311_key_by_hash("hash-a").unwrap(), None);
    assert_eq!(s.open311_key(1).unwrap(), None);

    let a = s
        .add_open311_key("hash-a", TOWNSHIP, "12345 热线", T0)
        .unwrap();
    let b = s
        .add_open311_key("hash-b", OTHER_TOWNSHIP, "Grid app", T0 + MINUTE)
        .unwrap();
    assert_eq!(
        a,
        Open311Key {
            id: a.id,
            township: TOWNSHIP.into(),
            name: "12345 热线".into(),
            created_at: T0,
            revoked_at: None,
        }
    );
    assert!(a.id >= 1 && b.id > a.id, "numbered in order: {a:?} {b:?}");
    assert_eq!(s.open311_key_by_hash("hash-a").unwrap(), Some(a.clone()));
    assert_eq!(s.open311_key_by_hash("hash-b").unwrap(), Some(b.clone()));
    assert_eq!(s.open311_key(b.id).unwrap(), Some(b.clone()));
    assert_eq!(s.open311_key_by_hash("HASH-A").unwrap(), None, "exact hash");

    let r = s.add_open311_key("hash-a", OTHER_TOWNSHIP, "copy", T0);
    assert!(matches!(r, Err(StorageError::Duplicate(_))), "{r:?}");
    assert_eq!(s.open311_keys().unwrap(), [a.clone(), b.clone()]);

    assert!(s.revoke_open311_key(a.id, T0 + DAY).unwrap());
    assert!(
        !s.revoke_open311_key(a.id, T0 + 2 * DAY).unwrap(),
        "revoked already"
    );
    let revoked = Open311Key {
        revoked_at: Some(T0 + DAY),
        ..a.clone()
    };
    assert_eq!(
        s.open311_key_by_hash("hash-a").unwrap(),
        Some(revoked.clone()),
        "found, revoked: the caller refuses it"
    );
    assert_eq!(
        s.open311_key(b.id).unwrap(),
        Some(b.clone()),
        "others untouched"
    );
    let r = s.revoke_open311_key(b.id + 100, T0);
    assert!(matches!(r, Err(StorageError::NotFound(_))), "{r:?}");

    // A number is never given again.
    let c = s.add_open311_key("hash-c", TOWNSHIP, "third", T0).unwrap();
    assert!(c.id > b.id);
    assert_eq!(s.open311_keys().unwrap(), [revoked, b, c]);
}

/// An administrator with a console password, not deactivated.
fn signing_in_admin(s: &dyn Storage, id: &str, name: &str) {
    s.add_user(&UserRecord {
        password_hash: Some(format!("$argon2id$of-{name}")),
        ..user(id, name, Role::Administrator, COUNTY)
    })
    .expect("add administrator");
}

/// The county always keeps an administrator who can sign in (active, with a password):
/// removing the last one's password or deactivating them changes nothing, until another can
/// sign in; other roles, and administrators who cannot sign in anyway, are not held back.
pub fn the_last_administrator_who_can_sign_in_keeps_access(s: &dyn Storage) {
    use AccessChange::{Deactivated, Password};
    people(s);
    let before = s.user("u-admin").unwrap().unwrap();
    s.save_session(&session_of("admin-browser", "u-admin"))
        .unwrap();
    for change in [Password(None), Deactivated(Some(T0))] {
        assert_eq!(
            s.change_access("u-admin", change).unwrap(),
            AccessChanged::LastAdministrator,
            "{change:?}"
        );
    }
    assert_eq!(s.user("u-admin").unwrap().unwrap(), before, "unchanged");
    assert_eq!(s.account_status("u-admin").unwrap().deactivated_at, None);
    assert!(
        s.session("admin-browser").unwrap().is_some(),
        "still signed in"
    );

    // Neither an administrator without a password nor a deactivated one counts.
    s.add_user(&user("u-admin-2", "admin.two", Role::Administrator, COUNTY))
        .unwrap();
    signing_in_admin(s, "u-admin-3", "admin.three");
    assert!(s.set_deactivated("u-admin-3", Some(T0)).unwrap());
    assert_eq!(
        s.change_access("u-admin", Password(None)).unwrap(),
        AccessChanged::LastAdministrator
    );

    // Other roles lose access freely; a new password is always allowed.
    assert_eq!(
        s.change_access("u-reviewer", Deactivated(Some(T0)))
            .unwrap(),
        AccessChanged::Done(true)
    );
    assert_eq!(
        s.change_access("u-reviewer", Deactivated(Some(T0 + MINUTE)))
            .unwrap(),
        AccessChanged::Done(false),
        "deactivated already"
    );
    assert_eq!(
        s.account_status("u-reviewer").unwrap().deactivated_at,
        Some(T0)
    );
    assert_eq!(
        s.change_access("u-reviewer", Deactivated(None)).unwrap(),
        AccessChanged::Done(true)
    );
    assert_eq!(
        s.change_access("u-admin", Password(Some("$argon2id$new")))
            .unwrap(),
        AccessChanged::Done(true)
    );
    assert_eq!(s.session("admin-browser").unwrap(), None, "signed out");

    // Once another administrator can sign in, the first may lose access.
    assert_eq!(
        s.change_access("u-admin-2", Password(Some("$argon2id$two")))
            .unwrap(),
        AccessChanged::Done(true)
    );
    assert_eq!(
        s.change_access("u-admin", Password(None)).unwrap(),
        AccessChanged::Done(true)
    );
    assert_eq!(s.user("u-admin").unwrap().unwrap().password_hash, None);
    assert_eq!(
        s.change_access("u-admin-2", Deactivated(Some(T0))).unwrap(),
        AccessChanged::LastAdministrator,
        "now the second is the last"
    );
    // The first cannot sign in any more: deactivating them takes nothing away.
    assert_eq!(
        s.change_access("u-admin", Deactivated(Some(T0))).unwrap(),
        AccessChanged::Done(true)
    );
    let r = s.change_access("no-such-user", Password(None));
    assert!(matches!(r, Err(StorageError::NotFound(_))), "{r:?}");
}

/// Two administrators who each remove the other's (or their own) password at the same moment:
/// exactly one succeeds, so one administrator can still sign in.
pub fn two_administrators_cannot_lock_each_other_out_at_once(s: &dyn Storage) {
    signing_in_admin(s, "u-admin-a", "admin.a");
    signing_in_admin(s, "u-admin-b", "admin.b");
    for round in 0..8 {
        for id in ["u-admin-a", "u-admin-b"] {
            s.set_password(id, Some("$argon2id$again")).unwrap();
        }
        let answers: Vec<AccessChanged> = std::thread::scope(|scope| {
            let threads: Vec<_> = ["u-admin-a", "u-admin-b"]
                .map(|id| scope.spawn(move || s.change_access(id, AccessChange::Password(None))))
                .into_iter()
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("no panic").expect("no storage error"))
                .collect()
        });
        let done = answers
            .iter()
            .filter(|a| **a == AccessChanged::Done(true))
            .count();
        assert_eq!(done, 1, "round {round}: {answers:?}");
        let with_password = ["u-admin-a", "u-admin-b"]
            .iter()
            .filter(|id| s.user(id).unwrap().unwrap().password_hash.is_some())
            .count();
        assert_eq!(with_password, 1, "round {round}");
    }
}

/// A new display name changes nothing else of the user.
pub fn a_display_name_changes_alone(s: &dyn Storage) {
    people(s);
    let before = s.user("u-clerk-east").unwrap().unwrap();
    s.set_display_name("u-clerk-east", "东村代办员 王芳")
        .unwrap();
    assert_eq!(
        s.user("u-clerk-east").unwrap().unwrap(),
        UserRecord {
            display_name: "东村代办员 王芳".into(),
            ..before
        }
    );
    assert_eq!(
        s.user_by_name("wang.fang").unwrap().unwrap().display_name,
        "东村代办员 王芳"
    );
    let r = s.set_display_name("no-such-user", "x");
    assert!(matches!(r, Err(StorageError::NotFound(_))), "{r:?}");
}
