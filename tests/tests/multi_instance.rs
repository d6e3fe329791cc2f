//! Several hub instances on one PostgreSQL database, as behind a load balancer: a tablet
//! watching live notices (`GET /api/v1/events`) on one instance hears of a push accepted by
//! another. Each instance's notifier reads the shared change log, woken by PostgreSQL's
//! `NOTIFY` (one per group commit) and, as a fallback, every 500 ms.
//!
//! Needs the PostgreSQL test database (`BIANMIN_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): without it the tests say so on stderr and pass,
//! except under CI (`CI` set), where they fail.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bianmin_client_core::Store;
use bianmin_client_core::client::sync;
use bianmin_client_core::watch;
use bianmin_server::storage::postgres::PgStorage;
use bianmin_tests::hub::{CLERK, HubPair, PgSchema, REVIEWER, TestHub, quick};
use bianmin_tests::social_card_request;
use postgres::fallible_iterator::FallibleIterator;

/// However slow the machine, what is awaited happens by then (a notice takes well under a
/// second; this is no measure of it).
const DEADLINE: Duration = Duration::from_secs(30);

/// Waits until `done` holds, failing with `what` at [`DEADLINE`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < until, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain connection to the test database (for looking at its backends).
fn admin_client(schema: &PgSchema) -> postgres::Client {
    postgres::Client::connect(&schema.url, postgres::NoTls).expect("connect")
}

/// The backends listening for `schema`'s change log (each instance has one, named for the
/// schema), by process id.
fn listeners(client: &mut postgres::Client, schema: &PgSchema) -> BTreeSet<i32> {
    client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&PgStorage::listener_application_name(&schema.name)],
        )
        .expect("pg_stat_activity")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The number of live event streams open on `hub`, from its `/metrics`.
fn streams_open(hub: &TestHub) -> u64 {
    let text = ureq::get(&format!("{}/metrics", hub.url))
        .call()
        .expect("/metrics")
        .into_body()
        .read_to_string()
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix("bianmin_event_streams_open "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// The clerk's tablet enrolled on instance A, the township reviewer's on instance B, both
/// synced once.
fn tablets(pair: &HubPair, dir: &std::path::Path) -> (Mutex<Store>, Mutex<Store>) {
    let clerk = Mutex::new(pair.a.enrol(CLERK, dir, "east-tablet"));
    let reviewer = Mutex::new(pair.b.enrol(REVIEWER, dir, "township-tablet"));
    sync(&clerk, &quick(), &mut |_| {}).expect("the clerk's first sync");
    sync(&reviewer, &quick(), &mut |_| {}).expect("the reviewer's first sync");
    (clerk, reviewer)
}

/// The clerk files a request and syncs it through instance A; its id.
fn file_and_sync(clerk: &Mutex<Store>) -> uuid::Uuid {
    let id = clerk
        .lock()
        .unwrap()
        .file_request(social_card_request())
        .expect("file")
        .id;
    let report = sync(clerk, &quick(), &mut |_| {}).expect("the clerk's sync");
    assert_eq!(report.accepted, 1);
    id
}

/// Watches `store`'s live notices on its hub until `stop`, counting them in `heard`.
fn watch_counting(store: &Mutex<Store>, stop: &AtomicBool, heard: &AtomicUsize) {
    watch::watch(store, stop, &mut || {
        heard.fetch_add(1, Ordering::SeqCst);
    })
    .expect("watch");
}

#[test]
fn a_push_through_one_instance_is_heard_on_the_other() {
    let Some(pair) = TestHub::pair() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (clerk, reviewer) = tablets(&pair, dir.path());
    let heard = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| watch_counting(&reviewer, &stop, &heard));
        eventually("the reviewer's event stream opens on B", || {
            streams_open(&pair.b) == 1
        });
        let id = file_and_sync(&clerk);
        let answered = Instant::now();
        eventually("B told its watcher of the push accepted by A", || {
            heard.load(Ordering::SeqCst) >= 1
        });
        // For the record only (the machine's load decides it): about what the NOTIFY takes,
        // not the 500 ms poll.
        eprintln!(
            "B's watcher heard of A's push {:?} after A answered",
            answered.elapsed()
        );
        // And what it was told of is there to pull, through B.
        let report = sync(&reviewer, &quick(), &mut |_| {}).expect("the reviewer's sync");
        assert!(report.changed.contains(&id), "{:?}", report.changed);
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(
        streams_open(&pair.a),
        0,
        "the reviewer watched B only: A's notice reached B through the database"
    );
}

/// One group commit, one `NOTIFY` on `bianmin_log`, naming the schema and the log's end.
#[test]
fn a_round_of_several_pushes_notifies_once_with_the_logs_end() {
    let Some(pair) = TestHub::pair() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (clerk, _reviewer) = tablets(&pair, dir.path());
    let mut listening = admin_client(&pair.schema);
    listening.batch_execute("LISTEN bianmin_log").unwrap();
    {
        let mut store = clerk.lock().unwrap();
        for _ in 0..3 {
            store.file_request(social_card_request()).expect("file");
        }
    }
    let report = sync(&clerk, &quick(), &mut |_| {}).expect("the clerk's sync");
    assert_eq!(report.accepted, 3, "three pushes in one round");
    let head = pair.a.storage.log_head().unwrap();
    // Other tests' schemas notify on the same channel: keep this schema's.
    let ours = format!("{}:", pair.schema.name);
    let mut payloads = Vec::new();
    let until = Instant::now() + DEADLINE;
    while payloads.is_empty() && Instant::now() < until {
        let mut notifications = listening.notifications();
        let mut iter = notifications.timeout_iter(Duration::from_millis(200));
        while let Some(n) = iter.next().unwrap() {
            if n.payload().starts_with(&ours) {
                payloads.push(n.payload().to_string());
            }
        }
    }
    // Anything more would come right behind: look a while longer.
    let mut notifications = listening.notifications();
    let mut iter = notifications.timeout_iter(Duration::from_secs(1));
    while let Some(n) = iter.next().unwrap() {
        if n.payload().starts_with(&ours) {
            payloads.push(n.payload().to_string());
        }
    }
    assert_eq!(payloads, vec![format!("{ours}{head}")]);
}

#[test]
fn notices_still_cross_when_the_listening_connections_are_cut() {
    let Some(pair) = TestHub::pair() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (clerk, reviewer) = tablets(&pair, dir.path());
    let mut db = admin_client(&pair.schema);
    let mut first = BTreeSet::new();
    eventually("each instance listens", || {
        first = listeners(&mut db, &pair.schema);
        first.len() == 2
    });
    let heard = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| watch_counting(&reviewer, &stop, &heard));
        eventually("the reviewer's event stream opens on B", || {
            streams_open(&pair.b) == 1
        });

        // Both listening connections cut: the push right behind is heard all the same (by the
        // poll, or by a listener already back).
        let cut = db
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1",
                &[&PgStorage::listener_application_name(&pair.schema.name)],
            )
            .unwrap()
            .iter()
            .filter(|r| r.get::<_, bool>(0))
            .count();
        assert_eq!(cut, 2, "both listeners cut");
        file_and_sync(&clerk);
        eventually("B told its watcher of the push despite the cut", || {
            heard.load(Ordering::SeqCst) >= 1
        });

        // Both instances listen again, on new connections.
        let mut again = BTreeSet::new();
        eventually("each instance listens again", || {
            again = listeners(&mut db, &pair.schema);
            again.len() == 2 && again.is_disjoint(&first)
        });

        // And the next push is heard too.
        file_and_sync(&clerk);
        eventually("B told its watcher of the next push", || {
            heard.load(Ordering::SeqCst) >= 2
        });
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(
        heard.load(Ordering::SeqCst),
        2,
        "each push heard once, though the poll and the listener may both have woken B"
    );
}
