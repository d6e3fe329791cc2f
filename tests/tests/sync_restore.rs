//! The hub is restored from a backup taken with `bianmin-server backup`, and has forgotten what
//! it accepted since. The tablets notice (the hub's change log has another identity), start
//! over, and hand back what it lost: a request filed after the backup, and the township's
//! decision on it, which builds on that filing and waits on the reviewer's desk until the
//! clerk's tablet has brought the filing back. Work done on the restored hub by a tablet that
//! has not synced yet reaches the others although their old cursors point past its log's end.
//! A PostgreSQL hub restored from `pg_dump` and marked with `mark-restored` does the same.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use bianmin_client_core::client::{self, SyncOptions, SyncReport, sync};
use bianmin_client_core::{Page, RequestFilter, RequestSort, Store};
use bianmin_domain::{Action, Status};
use bianmin_server::admin;
use bianmin_server::storage::Storage;
use bianmin_server::storage::postgres::PgStorage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_tests::hub::{
    CLERK, HubProcess, PgSchema, REVIEWER, TestHub, postgres_reachable, server_binary,
};
use bianmin_tests::social_card_request;
use uuid::Uuid;

fn options() -> SyncOptions {
    SyncOptions {
        attempts: 3,
        backoff: Duration::from_millis(50),
        ..SyncOptions::default()
    }
}

fn run(store: &Mutex<Store>) -> SyncReport {
    sync(store, &options(), &mut |_| {}).expect("sync")
}

fn ids(store: &Mutex<Store>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = store
        .lock()
        .unwrap()
        .list_requests(
            &RequestFilter::default(),
            RequestSort::ReceiptNo,
            Page {
                offset: 0,
                limit: 100,
            },
        )
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

fn status(store: &Mutex<Store>, id: Uuid) -> Status {
    store.lock().unwrap().request(id).unwrap().status
}

fn backup(data: &Path, to: &Path) {
    let out = Command::new(server_binary())
        .arg("--data-dir")
        .arg(data)
        .arg("backup")
        .arg("--to")
        .arg(to)
        .output()
        .expect("run bianmin-server backup");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn after_a_restore_the_tablets_bring_back_what_the_hub_lost() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("hub");
    let codes: Vec<String> = {
        let storage = SqliteStorage::open(&data).unwrap();
        admin::load_demo(&storage).unwrap();
        [CLERK, REVIEWER, CLERK]
            .iter()
            .map(|u| admin::issue_enrolment_code(&storage, u, Duration::from_secs(3600)).unwrap())
            .collect()
    };
    let mut hub = HubProcess::start(&data, None);
    let enrol = |code: &str, name: &str| {
        Mutex::new(
            client::enroll(
                root.path().join(format!("{name}.db")),
                &hub.url,
                code,
                name,
                &options(),
            )
            .unwrap(),
        )
    };
    let clerk = enrol(&codes[0], "east-tablet");
    let desk = enrol(&codes[1], "township-desk");
    let second = enrol(&codes[2], "east-tablet-2");

    // Before the backup: one request, forwarded and known everywhere.
    let early = {
        let mut s = clerk.lock().unwrap();
        let id = s.file_request(social_card_request()).unwrap().id;
        s.apply(id, Action::Accept).unwrap();
        s.apply(id, Action::Forward).unwrap();
        id
    };
    run(&clerk);
    run(&desk);
    run(&second);
    backup(&data, &root.path().join("backup"));

    // After it: a second request, and the township's approval of it, accepted by the hub.
    let late = {
        let mut s = clerk.lock().unwrap();
        let id = s.file_request(social_card_request()).unwrap().id;
        s.apply(id, Action::Accept).unwrap();
        s.apply(id, Action::Forward).unwrap();
        id
    };
    assert_eq!(run(&clerk).accepted, 1);
    run(&desk);
    desk.lock()
        .unwrap()
        .apply(
            late,
            Action::Approve {
                note: String::new(),
            },
        )
        .unwrap();
    assert_eq!(run(&desk).accepted, 1);
    run(&clerk);
    assert_eq!(status(&clerk, late), Status::Approved);

    // The hub is restored from the backup: it knows only the early request.
    hub.kill();
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::rename(root.path().join("backup"), &data).unwrap();
    let hub = HubProcess::start(&data, Some(hub.addr));
    assert!(
        SqliteStorage::open(&data)
            .unwrap()
            .document(late)
            .unwrap()
            .is_none(),
        "the restored hub lost the late request"
    );

    // A second clerk tablet, which last synced before the backup, works on the restored hub
    // first: a comment on the early request. It lands in the restored log below the cursors
    // the other two tablets hold.
    second.lock().unwrap().comment(early, "材料已核对").unwrap();
    let report = run(&second);
    assert!(report.hub_restored, "the tablet noticed the restore");
    assert_eq!(report.waiting, vec![]);

    // The reviewer's desk syncs before the clerk: its approval builds on a filing the hub has
    // lost, so it waits, kept as it is (not rolled back, not refused).
    let report = run(&desk);
    assert!(report.hub_restored);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(
        report.waiting.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        vec![late]
    );
    assert_eq!(status(&desk, late), Status::Approved, "nothing rolled back");
    assert!(desk.lock().unwrap().refused_edits().unwrap().is_empty());

    // The clerk's tablet brings the filing back; then the desk's approval goes through.
    let report = run(&clerk);
    assert!(report.hub_restored && report.refused.is_empty());
    let report = run(&desk);
    assert!(!report.hub_restored, "once is enough");
    assert!(report.waiting.is_empty() && report.refused.is_empty());
    run(&clerk);
    run(&second);

    // Everyone, the hub included, has both requests, the approval and the new comment.
    let storage = SqliteStorage::open(&data).unwrap();
    assert!(storage.document(late).unwrap().is_some());
    for store in [&clerk, &desk, &second] {
        assert_eq!(ids(store), {
            let mut both = vec![early, late];
            both.sort();
            both
        });
        assert_eq!(status(store, late), Status::Approved);
        let s = store.lock().unwrap();
        assert_eq!(
            s.request(early).unwrap().comments.len(),
            1,
            "the comment made after the restore"
        );
        assert!(
            s.pending_changes(100).unwrap().is_empty(),
            "nothing left to push"
        );
    }
    let heads = |s: &Mutex<Store>, id| s.lock().unwrap().heads(id).unwrap().unwrap();
    for id in [early, late] {
        assert_eq!(heads(&clerk, id), heads(&desk, id));
        assert_eq!(heads(&clerk, id), heads(&second, id));
    }
    drop(hub);
}

/// Runs `bianmin-server --database URL --database-schema S mark-restored`: its output, or its
/// error when it refuses.
fn mark_restored(schema: &PgSchema) -> Result<String, String> {
    let out = Command::new(server_binary())
        .args(["--database", &schema.url, "--database-schema", &schema.name])
        .arg("mark-restored")
        .output()
        .expect("run bianmin-server mark-restored");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

fn pg_tool(tool: &str, args: &[&str]) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (the PostgreSQL client tools): {e}"));
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_pg_dump_restored_and_marked_makes_the_tablets_bring_back_what_the_hub_lost() {
    if !postgres_reachable() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let schema = PgSchema::fresh();
    let hub = TestHub::start_on(&schema);
    let clerk = Mutex::new(hub.enrol(CLERK, root.path(), "east-tablet"));
    let file = |clerk: &Mutex<Store>| {
        let mut s = clerk.lock().unwrap();
        s.file_request(social_card_request()).unwrap().id
    };
    let early = file(&clerk);
    assert_eq!(run(&clerk).accepted, 1);
    let dump = root.path().join("hub.dump");
    let dump_arg = dump.to_str().unwrap();
    pg_tool(
        "pg_dump",
        &["-Fc", "-n", &schema.name, "-f", dump_arg, "-d", &schema.url],
    );
    let late = file(&clerk);
    assert_eq!(run(&clerk).accepted, 1);

    // Marking a database a hub serves is refused, and changes nothing.
    let log_before = hub.storage.log_id().unwrap();
    let refused = mark_restored(&schema).expect_err("refused while a hub serves");
    assert!(refused.contains("stop every one first"), "{refused}");
    assert_eq!(hub.storage.log_id().unwrap(), log_before);

    // The hub stops; its schema is restored from the dump, then marked.
    drop(hub);
    let mut admin = postgres::Client::connect(&schema.url, postgres::NoTls).unwrap();
    // Its listening connection closes with its notifier thread, just after.
    let listening = PgStorage::listener_application_name(&schema.name);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&listening],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the hub stopped listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    admin
        .batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", schema.name))
        .unwrap();
    pg_tool("pg_restore", &["-d", &schema.url, dump_arg]);
    let marked = mark_restored(&schema).expect("marked");
    assert!(marked.contains("read it from the start"), "{marked}");

    let hub = TestHub::start_on(&schema);
    assert!(
        hub.storage.document(late).unwrap().is_none(),
        "the dump predates it"
    );
    assert_ne!(hub.storage.log_id().unwrap(), log_before);
    {
        // The restored hub listens elsewhere (a test hub's port is new each start).
        let mut s = clerk.lock().unwrap();
        let (_, token) = s.server().unwrap().unwrap();
        s.set_server(&hub.url, &token).unwrap();
    }
    let report = run(&clerk);
    assert!(report.hub_restored, "the tablet noticed the restore");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert!(hub.storage.document(late).unwrap().is_some(), "handed back");
    assert!(hub.storage.document(early).unwrap().is_some());
    assert_eq!(ids(&clerk), {
        let mut both = vec![early, late];
        both.sort();
        both
    });
}
