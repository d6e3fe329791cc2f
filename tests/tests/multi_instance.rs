//! Several hub instances on one PostgreSQL database, as behind a load balancer: a tablet
//! watching live notices (`GET /api/v1/events`) on one instance hears of a push accepted by
//! another. Each instance's notifier reads the shared change log, woken by PostgreSQL's
//! `NOTIFY` (one per group commit) and, as a fallback, every 500 ms.
//!
//! Each instance checks pushes against copies of documents of its own: a copy is confirmed to
//! be the stored version before a push is checked against it, and a group commit refused
//! because the other instance stored one of its documents first is checked again (see
//! `engine/documents.rs`), so no accepted change is lost from the stored documents and no push
//! is refused for building on what the other instance accepted.
//!
//! Needs the PostgreSQL test database (`BIANMIN_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): without it the tests say so on stderr and pass,
//! except under CI (`CI` set), where they fail.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bianmin_client_core::Store;
use bianmin_client_core::client::{SyncOptions, SyncReport, sync};
use bianmin_client_core::watch;
use bianmin_document::Authoring;
use bianmin_domain::{Action, Status};
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

/// Syncs `store` until it has nothing left to push, whatever the hubs answer meanwhile (the
/// client retries a `503` by itself; a run that gave up is started again). Every report is
/// free of refusals and pull errors.
fn sync_until_pushed(store: &Mutex<Store>) -> Vec<SyncReport> {
    let opts = SyncOptions {
        attempts: 10,
        backoff: Duration::from_millis(20),
        ..quick()
    };
    let mut reports = Vec::new();
    for _ in 0..50 {
        match sync(store, &opts, &mut |_| {}) {
            Ok(report) => {
                assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
                assert!(
                    report.pull_errors.is_empty(),
                    "pull errors: {:?}",
                    report.pull_errors
                );
                reports.push(report);
                if store.lock().unwrap().pending_documents().unwrap() == 0 {
                    return reports;
                }
            }
            Err(e) => eprintln!("a sync gave up ({e}); syncing again"),
        }
    }
    panic!("still changes to push after 50 syncs");
}

/// The hub's stored copy of `id` as Automerge, after checking that it holds every change of
/// the change log's entries for `id` (every change the hubs accepted).
fn stored_holding_the_log(hub: &TestHub, id: uuid::Uuid) -> automerge::AutoCommit {
    let record = hub.storage.document(id).unwrap().expect("stored");
    let mut doc = automerge::AutoCommit::load(&record.bytes).expect("the stored copy loads");
    let logged = hub.storage.audit(id).unwrap();
    assert!(!logged.is_empty());
    for entry in &logged {
        let hash: [u8; 32] = hex::decode(&entry.hash).unwrap().try_into().unwrap();
        assert!(
            doc.get_change_by_hash(&automerge::ChangeHash(hash))
                .is_some(),
            "change {} (log entry {}, from {}) was accepted but is not in the stored document",
            entry.hash,
            entry.seq,
            entry.device_id
        );
    }
    doc
}

fn sorted_heads(doc: &mut automerge::AutoCommit) -> Vec<[u8; 32]> {
    let mut heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
    heads.sort_unstable();
    heads
}

fn device_heads(store: &Mutex<Store>, id: uuid::Uuid) -> Vec<[u8; 32]> {
    let mut heads = store.lock().unwrap().heads(id).unwrap().expect("held");
    heads.sort_unstable();
    heads
}

/// Two tablets of one village, one on each instance, comment on the same request at the same
/// time, round after round, and take it through acceptance and forwarding meanwhile. Rounds
/// that lose a race between the instances are checked again (by the hub or, after a `503`, by
/// the tablet sending them again): in the end the stored document holds every change the log
/// says was accepted, and both tablets hold what the hub holds.
#[test]
fn two_instances_editing_one_request_lose_no_accepted_change() {
    const ROUNDS: usize = 15;
    let Some(pair) = TestHub::pair() else { return };
    let dir = tempfile::tempdir().unwrap();
    let on_a = Mutex::new(pair.a.enrol(CLERK, dir.path(), "east-tablet-a"));
    let on_b = Mutex::new(pair.b.enrol(CLERK, dir.path(), "east-tablet-b"));
    let id = file_and_sync(&on_a);
    sync_until_pushed(&on_b);
    assert!(
        on_b.lock().unwrap().request(id).is_ok(),
        "B's tablet has it"
    );

    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..ROUNDS {
                {
                    let mut store = on_a.lock().unwrap();
                    store.comment(id, &format!("A 的第 {i} 条备注")).unwrap();
                    if i == 3 {
                        store.apply(id, Action::Accept).unwrap();
                    }
                }
                sync_until_pushed(&on_a);
            }
        });
        s.spawn(|| {
            let mut forwarded = false;
            for i in 0..ROUNDS {
                {
                    let mut store = on_b.lock().unwrap();
                    store.comment(id, &format!("B 的第 {i} 条备注")).unwrap();
                    // The decision to forward, as soon as this tablet has seen the acceptance.
                    if !forwarded && store.request(id).unwrap().status == Status::Accepted {
                        store.apply(id, Action::Forward).unwrap();
                        forwarded = true;
                    }
                }
                sync_until_pushed(&on_b);
            }
            if !forwarded {
                // The acceptance came after this tablet's last round: forward now.
                sync_until_pushed(&on_b);
                on_b.lock().unwrap().apply(id, Action::Forward).unwrap();
                sync_until_pushed(&on_b);
            }
        });
    });

    // Everything reaches both tablets.
    for _ in 0..2 {
        sync_until_pushed(&on_a);
        sync_until_pushed(&on_b);
    }
    let mut stored = stored_holding_the_log(&pair.a, id);
    let hub_heads = sorted_heads(&mut stored);
    assert_eq!(
        device_heads(&on_a, id),
        hub_heads,
        "A's tablet holds what the hub holds"
    );
    assert_eq!(
        device_heads(&on_b, id),
        hub_heads,
        "B's tablet holds what the hub holds"
    );
    for tablet in [&on_a, &on_b] {
        let request = tablet.lock().unwrap().request(id).unwrap();
        assert_eq!(request.comments.len(), 2 * ROUNDS, "every comment kept");
        assert_eq!(request.status, Status::Forwarded);
    }
    let version = pair.a.storage.document_version(id).unwrap().unwrap();
    eprintln!(
        "{} changes accepted, the stored document at version {version}",
        pair.a.storage.audit(id).unwrap().len()
    );
}

/// Instance A holds a request in its cache; instance B accepts a change to it; a tablet that
/// pulled that change pushes a change built on it through A. A checks it against the stored
/// document, not its stale copy: accepted (not `missing_dependencies`), and the stored document
/// holds both changes.
#[test]
fn a_push_built_on_the_other_instances_change_is_accepted() {
    let Some(pair) = TestHub::pair() else { return };
    let dir = tempfile::tempdir().unwrap();
    let on_a = Mutex::new(pair.a.enrol(CLERK, dir.path(), "east-tablet-a"));
    let on_b = Mutex::new(pair.b.enrol(CLERK, dir.path(), "east-tablet-b"));
    // Filed through A: A keeps the request in its cache.
    let id = file_and_sync(&on_a);

    // B's tablet receives it and comments through B.
    sync_until_pushed(&on_b);
    on_b.lock().unwrap().comment(id, "申请人已到现场").unwrap();
    let through_b = sync_until_pushed(&on_b);
    assert_eq!(through_b.iter().map(|r| r.accepted).sum::<usize>(), 1);

    // A's tablet pulls B's comment, then comments on top of it and pushes through A.
    let pulled = sync_until_pushed(&on_a);
    assert!(
        pulled.iter().any(|r| r.changed.contains(&id)),
        "B's comment pulled"
    );
    on_a.lock().unwrap().comment(id, "材料已核对").unwrap();
    let report = sync(&on_a, &quick(), &mut |_| {}).expect("the push through A");
    assert!(
        report.waiting.is_empty(),
        "A refused a push built on B's change: {:?}",
        report.waiting
    );
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.accepted, 1);

    let mut stored = stored_holding_the_log(&pair.a, id);
    assert_eq!(
        pair.a.storage.audit(id).unwrap().len(),
        3,
        "filing and two comments"
    );
    assert_eq!(sorted_heads(&mut stored), device_heads(&on_a, id));
    let comments = on_a.lock().unwrap().request(id).unwrap().comments.len();
    assert_eq!(comments, 2);
}

/// A reviewer comments in instance B's console while the clerk's tablet comments on the same
/// request through instance A, round after round. A console action that loses the race to A
/// is written again on the stored document inside the hub, as a tablet's round is: the
/// reviewer never sees an error, and every comment of both is kept.
#[test]
fn console_actions_racing_the_other_instance_are_written_again_not_refused() {
    const ROUNDS: usize = 15;
    let Some(pair) = TestHub::pair() else { return };
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(pair.a.enrol(CLERK, dir.path(), "east-tablet"));
    let id = file_and_sync(&clerk);
    let reviewer = pair.b.storage.user_by_name(REVIEWER).unwrap().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..ROUNDS {
                clerk
                    .lock()
                    .unwrap()
                    .comment(id, &format!("村里第 {i} 条备注"))
                    .unwrap();
                sync_until_pushed(&clerk);
            }
        });
        s.spawn(|| {
            for i in 0..ROUNDS {
                let comment = Authoring::RequestComment(format!("乡镇第 {i} 条意见"));
                pair.b
                    .state
                    .engine
                    .console_act(&reviewer, id, &comment)
                    .unwrap_or_else(|e| panic!("console action {i}: {e:?}"));
            }
        });
    });
    sync_until_pushed(&clerk);
    let comments = clerk.lock().unwrap().request(id).unwrap().comments;
    assert_eq!(comments.len(), 2 * ROUNDS, "every comment kept");
}
