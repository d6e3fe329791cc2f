//! The PostgreSQL backend against a real server: the shared suite and what is particular to
//! this backend (migrations, the change log's commit order, error texts).
//!
//! The server is `BIANMIN_TEST_DATABASE_URL` (default [`DEFAULT_URL`]). Each test works in
//! schemas of its own, `t_<random hex>`, dropped when it ends, even by a panic. Without a
//! reachable server the tests say so on stderr and pass, except under CI (`CI` set), where
//! they fail.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use ::postgres::Client;
use bianmin_document::DocKind;
use bianmin_domain::Role;
use uuid::Uuid;

use super::log::{MAX_EXAMINED, log_page_sql};
use super::schema::{LOCK_CHANGE_LOG, MIGRATIONS, check_name, lock_scope, supported_version};
use super::testdb::{DEFAULT_URL, shown, test_db};
use super::*;
use crate::storage::suite;

const VILLAGE: &str = "370883101201";

fn commit<'a>(doc: Uuid, changes: &'a [([u8; 32], Vec<u8>)], device: &'a str) -> Commit<'a> {
    Commit {
        doc_id: doc,
        kind: DocKind::Agenda,
        village: VILLAGE,
        resident_user: None,
        snapshot: b"doc",
        changes,
        device_id: device,
        user_id: "u-clerk",
        received_at: 1_772_409_600_000,
        index: None,
    }
}

fn hashed(n: u64) -> ([u8; 32], Vec<u8>) {
    let mut hash = [0; 32];
    hash[..8].copy_from_slice(&n.to_le_bytes());
    (hash, vec![0x85, 0x6f, 0x4a, 0x83, n as u8])
}

fn seqs(page: &LogPage) -> Vec<u64> {
    page.entries.iter().map(|e| e.seq).collect()
}

#[test]
fn passes_the_shared_suite() {
    let Some(db) = test_db() else { return };
    suite::run_all(&|| Box::new(db.storage()));
    assert_eq!(db.schemas.lock().unwrap().len(), suite::CHECKS.len());
}

/// The race the change log's lock closes: a writer that took a lower number and commits late
/// must not be skipped by a reader that saw a higher one first. Here a raw transaction takes
/// the lock and a number, as `commit_all` does, and holds them.
#[test]
fn a_slow_writer_holding_a_lower_number_is_never_skipped() {
    let Some(db) = test_db() else { return };
    let schema = db.new_schema();
    let s = db.open(&schema);
    let (slow_doc, fast_doc) = (Uuid::new_v4(), Uuid::new_v4());
    let before = s.commit(&commit(slow_doc, &[hashed(1)], "dev-0")).unwrap();
    let scope = ReadScope::County("370883".into());

    let mut slow = db.client(&schema);
    let mut tx = slow.transaction().unwrap();
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_CHANGE_LOG, &s.lock_scope],
    )
    .unwrap();
    let slow_seq: i64 = tx
        .query_one(
            "INSERT INTO change_log (doc_id, hash, village, township, county, device_id,
                user_id, received_at, change)
             VALUES ($1, $2, $3, '370883101', '370883', 'dev-slow', 'u-slow', 0, $4)
             RETURNING seq",
            &[&slow_doc, &vec![0xAA_u8; 32], &VILLAGE, &vec![1_u8, 2, 3]],
        )
        .unwrap()
        .get(0);
    let slow_seq = u64::try_from(slow_seq).unwrap();
    assert!(slow_seq > before);

    let mut watcher = db.client(&schema);
    let changes = [hashed(2)];
    std::thread::scope(|t| {
        let fast = t.spawn(|| s.commit(&commit(fast_doc, &changes, "dev-fast")));
        wait_for_lock_waiter(&mut watcher, s.lock_scope);
        assert!(!fast.is_finished(), "commit_all waits for the slow writer");
        let page = s.changes_after(&scope, before, usize::MAX, None).unwrap();
        assert_eq!(
            (seqs(&page), page.cursor, page.more),
            (vec![], before, false),
            "a reader sees neither while the slow writer is open"
        );

        tx.commit().unwrap();
        let fast_seq = fast.join().unwrap().unwrap();
        assert!(fast_seq > slow_seq, "numbers follow the commit order");
        let page = s.changes_after(&scope, before, usize::MAX, None).unwrap();
        assert_eq!(seqs(&page), vec![slow_seq, fast_seq], "both, in order");
        let page = s.changes_after(&scope, slow_seq, usize::MAX, None).unwrap();
        assert_eq!(
            seqs(&page),
            vec![fast_seq],
            "a cursor past the first still gets the second"
        );
    });
}

/// Waits until a session waits for the change-log lock of `scope`.
fn wait_for_lock_waiter(watcher: &mut Client, scope: i32) {
    let objid = i64::from(u32::from_ne_bytes(scope.to_ne_bytes()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_locks
                 WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2
                   AND classid::bigint = $1 AND objid::bigint = $2",
                &[&i64::from(LOCK_CHANGE_LOG), &objid],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "commit_all never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Hubs starting at the same moment on an empty schema both come up, and each migration is
/// applied once.
#[test]
fn concurrent_connects_migrate_once() {
    let Some(db) = test_db() else { return };
    let schema = db.new_schema();
    db.client("public")
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let start = Barrier::new(2);
    std::thread::scope(|t| {
        let hubs: Vec<_> = (0..2)
            .map(|_| {
                t.spawn(|| {
                    start.wait();
                    PgStorage::builder(&db.url).schema(&schema).connect()
                })
            })
            .collect();
        for hub in hubs {
            hub.join().unwrap().expect("every hub comes up");
        }
    });
    let rows = db
        .client(&schema)
        .query(
            "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version",
            &[],
        )
        .unwrap();
    let counts: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected: Vec<(i64, i64)> = (1..=supported_version()).map(|v| (v, 1)).collect();
    assert_eq!(counts, expected);
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let Some(db) = test_db() else { return };
    let schema = db.new_schema();
    drop(db.open(&schema));
    let mut c = db.client(&schema);
    c.batch_execute("INSERT INTO schema_migrations (version) VALUES (99); DROP TABLE reveal_log")
        .unwrap();
    match PgStorage::builder(&db.url).schema(&schema).connect() {
        Err(StorageError::TooNew { found, supported }) => {
            assert_eq!((found, supported), (99, supported_version()));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let missing: Option<String> = c
        .query_one("SELECT to_regclass('reveal_log')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(missing, None, "no migration ran again");
}

/// Options the URL sets are kept beside the schema's search path.
#[test]
fn the_urls_options_are_kept() {
    let Some(db) = test_db() else { return };
    let schema = db.new_schema();
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options=-c%20statement_timeout%3D4321", db.url);
    let s = PgStorage::builder(&url).schema(&schema).connect().unwrap();
    let mut c = s.conn().unwrap();
    let row = c
        .query_one(
            "SELECT current_setting('statement_timeout'), current_schema()",
            &[],
        )
        .unwrap();
    let (timeout, current): (String, String) = (row.get(0), row.get(1));
    assert_eq!(
        (timeout.as_str(), current.as_str()),
        ("4321ms", schema.as_str())
    );
}

/// Without a schema, the tables go to the first existing schema of the search path.
#[test]
fn without_a_schema_the_search_path_decides() {
    let Some(db) = test_db() else { return };
    let schema = db.new_schema();
    db.client("public")
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options=-c%20search_path%3D{schema}", db.url);
    let s = PgStorage::connect(&url).unwrap();
    assert_eq!(s.schema(), schema);
    assert!(s.users().unwrap().is_empty());
    let tables: i64 = db
        .client("public")
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'change_log'",
            &[&schema],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1);
}

#[test]
fn reopening_keeps_data_and_numbering() {
    let Some(db) = test_db() else { return };
    let schema = db.new_schema();
    let doc = Uuid::new_v4();
    let (last, log_id) = {
        let s = db.open(&schema);
        let last = s
            .commit(&commit(doc, &[hashed(1), hashed(2)], "dev-1"))
            .unwrap();
        (last, s.log_id().unwrap())
    };
    let s = db.open(&schema);
    assert_eq!(s.schema(), schema);
    assert_eq!(s.counts().unwrap(), (1, 2));
    assert_eq!(s.log_id().unwrap(), log_id);
    assert!(s.commit(&commit(doc, &[hashed(3)], "dev-1")).unwrap() > last);
}

/// A device that pushed more than one call examines gets an empty page that moves the cursor,
/// with `more`, rather than one call walking its whole history.
#[test]
fn skipping_is_bounded_per_call() {
    let Some(db) = test_db() else { return };
    let s = db.storage();
    let changes: Vec<_> = (0..MAX_EXAMINED as u64 + 50).map(hashed).collect();
    let end = s
        .commit(&commit(Uuid::new_v4(), &changes, "dev-1"))
        .unwrap();
    let first_seq = end - changes.len() as u64 + 1;
    let scope = ReadScope::County("370883".into());
    let first = s.changes_after(&scope, 0, 1 << 20, Some("dev-1")).unwrap();
    assert!(first.entries.is_empty());
    let examined_to = first_seq + MAX_EXAMINED as u64 - 1;
    assert_eq!((first.cursor, first.more), (examined_to, true));
    let second = s
        .changes_after(&scope, first.cursor, 1 << 20, Some("dev-1"))
        .unwrap();
    assert_eq!(
        (second.entries.len(), second.cursor, second.more),
        (0, end, false)
    );
    let everything = s.changes_after(&scope, 0, 1 << 20, None).unwrap();
    assert_eq!(everything.entries.len(), MAX_EXAMINED);
    assert!(everything.more);
    let small = s.changes_after(&scope, 0, 100, None).unwrap();
    assert_eq!(small.entries.len(), 20, "5-byte changes, 100 bytes");
    assert!(small.more);
}

/// With a log spread over many areas and residents, a page of one scope walks that scope's
/// `(column, seq)` index from the cursor: no sort, no scan of the others' entries.
#[test]
fn log_pages_walk_an_index_without_sorting() {
    let Some(db) = test_db() else { return };
    let schema = db.new_schema();
    drop(db.open(&schema));
    let mut c = db.client(&schema);
    // 20,000 entries in 10 counties of 2 townships of 2 villages (500 entries each), 20
    // residents: every scope holds many pages.
    c.batch_execute(
        "INSERT INTO documents (id, kind, village, township, snapshot, updated_at)
         VALUES ('00000000-0000-0000-0000-000000000001', 'agenda', '370880101201',
            '370880101', '', 0);
         INSERT INTO change_log (doc_id, hash, village, township, county, resident_user,
            device_id, user_id, received_at, change)
         SELECT '00000000-0000-0000-0000-000000000001', int8send(i),
            t || '20' || (i / 20 % 2), t, c, 'r' || (i % 20), 'd', 'u', 0, '\\x00'
         FROM generate_series(1, 20000) AS i,
            LATERAL (SELECT '37088' || (i % 10) AS c) AS county,
            LATERAL (SELECT c || '10' || (i / 10 % 2) AS t) AS township;
         ANALYZE change_log;",
    )
    .unwrap();
    for (column, value, index) in [
        ("resident_user", "r5", "change_log_resident"),
        ("village", "370883101201", "change_log_village"),
        ("township", "370883101", "change_log_township"),
        ("county", "370883", "change_log_county"),
    ] {
        let sql = format!("EXPLAIN {}", log_page_sql(column));
        let plan: Vec<String> = c
            .query(&sql, &[&None::<&str>, &value, &0_i64, &100_i64])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains(&format!("Index Scan using {index}")),
            "{plan}"
        );
        assert!(!plan.contains("Sort"), "{plan}");
    }
}

/// A server error's detail quotes the row; the storage error must not.
#[test]
fn server_errors_do_not_quote_values() {
    let Some(db) = test_db() else { return };
    let s = db.storage();
    let user = UserRecord {
        id: "u-1".into(),
        name: "secret-370883199001011234".into(),
        display_name: "李伟".into(),
        role: Role::Clerk,
        area: VILLAGE.into(),
        password_hash: None,
        created_at: 0,
    };
    s.add_user(&user).unwrap();
    let mut c = db.client(s.schema());
    let e = c
        .execute(
            "INSERT INTO users (id, name, display_name, role, area, created_at)
             VALUES ('u-2', $1, 'x', 'clerk', 'x', 0)",
            &[&user.name],
        )
        .unwrap_err();
    let detail = e.as_db_error().and_then(|db| db.detail()).unwrap_or("");
    assert!(
        detail.contains("370883199001011234"),
        "the detail quotes it: {detail}"
    );
    let mapped = pg_error(&e).to_string();
    assert!(!mapped.contains("370883199001011234"), "{mapped}");
    assert!(mapped.contains("23505"), "{mapped}");
}

/// Concurrent group commits touching the same documents in opposite orders: PostgreSQL breaks
/// the deadlock and the aborted group is tried again.
#[test]
fn groups_crossing_documents_all_land() {
    let Some(db) = test_db() else { return };
    let s = db.storage();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    std::thread::scope(|t| {
        for round in 0..2_u64 {
            let s = &s;
            t.spawn(move || {
                for i in 0..40 {
                    let n = 1_000 * round + i;
                    let (x, y) = ([hashed(2 * n + 10)], [hashed(2 * n + 11)]);
                    let (first, second) = if round == 0 { (a, b) } else { (b, a) };
                    s.commit_all(&[commit(first, &x, "dev"), commit(second, &y, "dev")])
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(s.counts().unwrap(), (2, 160));
}

#[test]
fn connection_failures_are_clear_and_keep_the_password() {
    let url = "postgres://hub:s3cret-pw@127.0.0.1:1/none?connect_timeout=2";
    let e = PgStorage::connect(url).unwrap_err().to_string();
    assert!(e.contains("cannot connect to PostgreSQL"), "{e}");
    assert!(!e.contains("s3cret-pw"), "{e}");
    let builder = PgStorage::builder(url).schema("hub");
    assert!(!format!("{builder:?}").contains("s3cret-pw"));
    let bad = PgStorage::builder(url).pool_size(0).connect();
    assert!(matches!(bad, Err(StorageError::Invalid(_))), "{bad:?}");
    let bad = PgStorage::builder(url).schema("Hub; DROP").connect();
    assert!(matches!(bad, Err(StorageError::Invalid(_))), "{bad:?}");
    let bad = PgStorage::connect("postgres://[");
    assert!(matches!(bad, Err(StorageError::Invalid(_))), "{bad:?}");
}

#[test]
fn urls_in_messages_hide_the_password() {
    assert_eq!(
        shown("postgres://hub:pw@db:5432/x"),
        "postgres://hub:***@db:5432/x"
    );
    assert_eq!(shown(DEFAULT_URL), DEFAULT_URL);
    assert_eq!(
        shown("host=db user=hub password=pw dbname=x"),
        "host=db user=hub password=*** dbname=x"
    );
}

#[test]
fn schema_names_and_lock_scopes() {
    for good in ["hub", "_x", "t_0a9f", &"a".repeat(63)] {
        assert!(check_name(good).is_ok(), "{good}");
    }
    for bad in ["", "9hub", "Hub", "hub-1", "hub\"", "a b", &"a".repeat(64)] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
    assert_eq!(lock_scope("public"), lock_scope("public"));
    assert_ne!(lock_scope("public"), lock_scope("hub"));
}

/// Every file in `migrations/postgres` is a step, numbered from 1 without a gap, in order.
#[test]
fn every_migration_file_is_a_step() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let listed: Vec<&str> = MIGRATIONS.iter().map(|(file, _)| *file).collect();
    assert_eq!(files, listed);
    for (i, file) in listed.iter().enumerate() {
        assert!(file.starts_with(&format!("{:04}_", i + 1)), "{file}");
        assert!(file.ends_with(".sql"), "{file}");
    }
}

/// Of the processes sharing a schema, one leads the maintenance at a time: the others are
/// told no until it lets go (dropped) or its connection is lost; hubs in other schemas do
/// not wait for it.
#[test]
fn one_process_leads_the_maintenance_at_a_time() {
    let Some(db) = test_db() else { return };
    let schema = db.new_schema();
    let (a, b) = (db.open(&schema), db.open(&schema));
    let mut first = a
        .lead_maintenance()
        .unwrap()
        .expect("the first asks and leads");
    assert!(first.holds());
    assert!(b.lead_maintenance().unwrap().is_none(), "one at a time");
    assert!(
        a.lead_maintenance().unwrap().is_none(),
        "even in one process"
    );
    let elsewhere = db.storage();
    assert!(
        elsewhere.lead_maintenance().unwrap().is_some(),
        "another schema"
    );
    drop(first);
    let mut second = b
        .lead_maintenance()
        .unwrap()
        .expect("taken over once let go");
    assert!(second.holds());

    // The holding connection is lost: PostgreSQL releases the lock, the holder learns it.
    let mut admin = db.client(&schema);
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND classid = $1::int4::oid
               AND objid = $2::int4::oid AND objsubid = 2 AND granted",
            &[&super::schema::LOCK_MAINTENANCE, &b.lock_scope],
        )
        .unwrap();
    assert!(!ended.is_empty(), "the holder's connection found");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while second.holds() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lost hold noticed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The lock goes with the ended backend, a moment after its socket closed.
    while a.lead_maintenance().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "taken over once lost");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
