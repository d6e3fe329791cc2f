//! The hub's power is cut (SIGKILL) and restored again and again while three tablets keep
//! working and syncing. Syncs fail while it is down and the work stays queued; once the hub is
//! back and every device has synced until nothing moves, nothing any device did is lost, every
//! device and the hub hold the same documents, and nothing is left waiting to be pushed.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bianmin_client_core::client::{self, SyncError, SyncOptions, sync};
use bianmin_client_core::{
    FieldEdit, NewRequest, Page, RequestDetail, RequestFilter, RequestSort, Store,
};
use bianmin_document::Document as HubDocument;
use bianmin_domain::{Action, AttrValue, EventId, Role, Status};
use bianmin_server::admin;
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_tests::EAST;
use bianmin_tests::hub::{CLERK, HubProcess, REVIEWER};
use rand::{Rng, RngExt};
use uuid::Uuid;

/// How often the hub is killed and restarted.
const RESTARTS: usize = 8;
/// Each worker does at least this many write-and-sync iterations.
const MIN_ITERATIONS: usize = 40;

/// A tablet: its store, and what it did.
struct Tablet {
    name: &'static str,
    role: Role,
    store: Mutex<Store>,
    log: Mutex<Log>,
    syncs_ok: AtomicUsize,
    syncs_failed: AtomicUsize,
    rounds: AtomicUsize,
    cut_in_flight: AtomicUsize,
}

/// What a device committed locally.
#[derive(Debug, Default)]
struct Log {
    filed: Vec<Uuid>,
    events: Vec<(Uuid, EventId, &'static str)>,
    comments: Vec<(Uuid, Uuid)>,
    writes: usize,
}

impl Log {
    fn record(&mut self, before: Option<&RequestDetail>, after: &RequestDetail) {
        self.writes += 1;
        if before.is_none() {
            self.filed.push(after.id);
        }
        let old: BTreeSet<EventId> = before
            .map(|b| b.history.iter().map(|h| h.id).collect())
            .unwrap_or_default();
        self.events.extend(
            after
                .history
                .iter()
                .filter(|h| !old.contains(&h.id))
                .map(|h| (after.id, h.id, h.action.kind())),
        );
        let old: BTreeSet<Uuid> = before
            .map(|b| b.comments.iter().map(|c| c.id).collect())
            .unwrap_or_default();
        self.comments.extend(
            after
                .comments
                .iter()
                .filter(|c| !old.contains(&c.id))
                .map(|c| (after.id, c.id)),
        );
    }
}

/// No retries while working: every failure surfaces, and the next sync must pick up.
fn worker_options() -> SyncOptions {
    SyncOptions {
        attempts: 1,
        backoff: Duration::from_millis(20),
        idle: Duration::from_secs(20),
        ..SyncOptions::default()
    }
}

fn final_options() -> SyncOptions {
    SyncOptions {
        attempts: 5,
        backoff: Duration::from_millis(100),
        ..SyncOptions::default()
    }
}

fn soc_card(grid: &str) -> NewRequest {
    NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: grid.into(),
        attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
        materials_received: vec!["ID card".into(), "Recent photo".into()],
        resident_user: None,
        submit: true,
    }
}

/// Heads as sorted hex strings (readable in a failure).
fn hex(heads: Vec<[u8; 32]>) -> Vec<String> {
    let mut out: Vec<String> = heads
        .iter()
        .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    out.sort();
    out
}

/// Loads the demo data and a second clerk into a fresh data directory and issues the
/// enrolment codes, with the hub not running.
fn prepare(dir: &Path) -> Vec<String> {
    let storage = SqliteStorage::open(dir).expect("storage");
    admin::load_demo(&storage).expect("demo data");
    admin::add_user(&storage, "clerk-east-2", "", Role::Clerk, EAST).expect("second clerk");
    [CLERK, "clerk-east-2", REVIEWER]
        .iter()
        .map(|user| {
            admin::issue_enrolment_code(&storage, user, Duration::from_secs(3600)).expect("code")
        })
        .collect()
}

impl Tablet {
    /// One sync; a failure because the hub is down is expected, anything else is not.
    fn sync(&self) {
        let mut rounds = 0;
        let outcome = sync(&self.store, &worker_options(), &mut |p| rounds = p.rounds);
        self.rounds.fetch_add(rounds as usize, Ordering::Relaxed);
        match outcome {
            Ok(report) => {
                assert!(
                    report.refused.is_empty(),
                    "{}: {:?}",
                    self.name,
                    report.refused
                );
                assert!(
                    report.pull_errors.is_empty(),
                    "{}: {:?}",
                    self.name,
                    report.pull_errors
                );
                self.syncs_ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(SyncError::Network(why)) => {
                self.syncs_failed.fetch_add(1, Ordering::Relaxed);
                if !why.contains("refused") {
                    // Not "the hub is down": the connection broke during an exchange.
                    self.cut_in_flight.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => panic!("{}: unexpected sync error: {e}", self.name),
        }
    }

    /// A clerk's small local write: file, take the next step on one of its own requests,
    /// fix a grid, or comment on any request of the village.
    fn clerk_write(&self, rng: &mut impl Rng) {
        let mut s = self.store.lock().unwrap();
        let mut log = self.log.lock().unwrap();
        let open: Vec<(Uuid, Status)> = log
            .filed
            .iter()
            .filter_map(|id| {
                let status = s.request_row(*id).unwrap().expect("own request").status;
                matches!(
                    status,
                    Status::Submitted | Status::Accepted | Status::Returned
                )
                .then_some((*id, status))
            })
            .collect();
        let roll = rng.random_range(0..10);
        if roll < 3 || open.is_empty() {
            let grid = ["1组", "2组", "3组"][rng.random_range(0..3)];
            let filed = s.file_request(soc_card(grid)).expect("file");
            log.record(None, &filed);
            return;
        }
        if roll == 9 {
            let ids = s.document_ids().unwrap();
            let id = ids[rng.random_range(0..ids.len())];
            let before = s.request(id).unwrap();
            let after = s.comment(id, "已电话联系申请人").expect("comment");
            log.record(Some(&before), &after);
            return;
        }
        let (id, status) = open[rng.random_range(0..open.len())];
        let before = s.request(id).unwrap();
        let after = match (status, roll) {
            (Status::Accepted, 8) => s.edit(id, FieldEdit::Grid("2组".into())),
            (Status::Submitted, _) => s.apply(id, Action::Accept),
            (Status::Accepted, _) => s.apply(id, Action::Forward),
            _ => s.apply(
                id,
                Action::Supplement {
                    provided: vec!["ID card".into()],
                },
            ),
        }
        .unwrap_or_else(|e| panic!("{}: {status:?} request: {e}", self.name));
        log.record(Some(&before), &after);
    }

    /// The reviewer decides one forwarded request, or comments on it.
    fn reviewer_write(&self, rng: &mut impl Rng) {
        let mut s = self.store.lock().unwrap();
        let forwarded = s
            .list_requests(
                &RequestFilter {
                    status: Some(Status::Forwarded),
                    ..RequestFilter::default()
                },
                RequestSort::Deadline,
                Page::first(50),
            )
            .unwrap()
            .rows;
        if forwarded.is_empty() {
            return;
        }
        let id = forwarded[rng.random_range(0..forwarded.len())].id;
        let before = s.request(id).unwrap();
        let after = match rng.random_range(0..10) {
            0..6 => s.apply(
                id,
                Action::Approve {
                    note: "符合条件".into(),
                },
            ),
            6..8 => s.apply(
                id,
                Action::ReturnForSupplement {
                    missing: vec!["ID card".into()],
                    note: String::new(),
                },
            ),
            _ => s.comment(id, "请补充复印件"),
        }
        .expect("reviewer's write");
        self.log.lock().unwrap().record(Some(&before), &after);
    }
}

#[test]
fn killing_the_hub_in_the_middle_of_syncs_loses_nothing_and_everyone_converges() {
    let data = tempfile::tempdir().unwrap();
    let stores = tempfile::tempdir().unwrap();
    let codes = prepare(data.path());
    let mut hub = HubProcess::start(data.path(), None);
    let tablets: Vec<Tablet> = [
        ("east-tablet-1", Role::Clerk),
        ("east-tablet-2", Role::Clerk),
        ("township-desk", Role::Reviewer),
    ]
    .into_iter()
    .zip(&codes)
    .map(|((name, role), code)| Tablet {
        name,
        role,
        store: Mutex::new(
            client::enroll(
                stores.path().join(format!("{name}.db")),
                &hub.url,
                code,
                name,
                &final_options(),
            )
            .expect("enrol"),
        ),
        log: Mutex::new(Log::default()),
        syncs_ok: AtomicUsize::new(0),
        syncs_failed: AtomicUsize::new(0),
        rounds: AtomicUsize::new(0),
        cut_in_flight: AtomicUsize::new(0),
    })
    .collect();

    let stop = AtomicBool::new(false);
    let iterations: Vec<AtomicUsize> = tablets.iter().map(|_| AtomicUsize::new(0)).collect();
    let mut downtime_ms = 0;
    std::thread::scope(|scope| {
        for (i, tablet) in tablets.iter().enumerate() {
            let (stop, done) = (&stop, &iterations[i]);
            if i == 0 {
                // The first tablet syncs in the background while the clerk keeps working,
                // as the app does: writes land between a round's push and its answer.
                scope.spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        tablet.sync();
                        std::thread::sleep(Duration::from_millis(5));
                    }
                });
            }
            scope.spawn(move || {
                let mut rng = rand::rng();
                let mut n = 0;
                while n < MIN_ITERATIONS || !stop.load(Ordering::SeqCst) {
                    match tablet.role {
                        Role::Clerk => tablet.clerk_write(&mut rng),
                        _ => tablet.reviewer_write(&mut rng),
                    }
                    if i != 0 {
                        tablet.sync();
                    }
                    n += 1;
                    done.store(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(rng.random_range(0..20)));
                }
            });
        }
        let mut rng = rand::rng();
        for _ in 0..RESTARTS {
            std::thread::sleep(Duration::from_millis(rng.random_range(300..1200)));
            hub.kill();
            let down = rng.random_range(0..300);
            downtime_ms += down;
            std::thread::sleep(Duration::from_millis(down));
            hub = HubProcess::start(data.path(), Some(hub.addr));
        }
        stop.store(true, Ordering::SeqCst);
    });

    // The hub stays up now: every device syncs until two full passes move nothing.
    let mut quiet = 0;
    let mut passes = 0;
    while quiet < 2 {
        passes += 1;
        assert!(passes <= 10, "the devices did not become quiescent");
        let mut moved = false;
        for t in &tablets {
            let report = sync(&t.store, &final_options(), &mut |_| {})
                .unwrap_or_else(|e| panic!("{}: final sync failed: {e}", t.name));
            assert!(
                report.refused.is_empty(),
                "{}: {:?}",
                t.name,
                report.refused
            );
            assert!(report.pull_errors.is_empty(), "{:?}", report.pull_errors);
            moved |= report.new_changes > 0 || report.progress.docs_pushed > 0;
        }
        quiet = if moved { 0 } else { quiet + 1 };
    }

    // One last power cut: what the hub acknowledged must be on its disk.
    hub.kill();
    let storage = SqliteStorage::open(data.path()).expect("reopen the hub's data");

    let mut filed: Vec<Uuid> = Vec::new();
    for t in &tablets {
        let s = t.store.lock().unwrap();
        let pending = s.pending_changes(usize::MAX).unwrap();
        assert!(
            pending.is_empty(),
            "{} still has {} documents waiting to be pushed",
            t.name,
            pending.len()
        );
        assert!(s.refused_edits().unwrap().is_empty(), "{}", t.name);
        filed.extend(&t.log.lock().unwrap().filed);
    }
    let all: BTreeSet<Uuid> = filed.iter().copied().collect();
    assert_eq!(all.len(), filed.len(), "request ids are unique");
    assert_eq!(
        storage.counts().unwrap().0,
        all.len() as u64,
        "the hub holds exactly the requests filed"
    );
    let mut events = 0;
    let mut comments = 0;
    for id in &all {
        let record = storage
            .document(*id)
            .unwrap()
            .unwrap_or_else(|| panic!("the hub lost request {id}"));
        let mut hub_doc = HubDocument::load(&record.bytes).unwrap();
        let hub_heads = hex(hub_doc.heads());
        let mut first: Option<RequestDetail> = None;
        for t in &tablets {
            let s = t.store.lock().unwrap();
            let heads = hex(s
                .heads(*id)
                .unwrap()
                .unwrap_or_else(|| panic!("{} does not hold request {id}", t.name)));
            assert_eq!(heads, hub_heads, "{} and the hub differ on {id}", t.name);
            let mut detail = s.request(*id).unwrap();
            assert_eq!(Some(detail.status), hub_doc.request_status());
            assert!(detail.conflict.is_none(), "no decision here was concurrent");
            match &first {
                None => first = Some(detail),
                Some(d0) => {
                    detail.urgency = d0.urgency;
                    assert_eq!(&detail, d0, "{} shows {id} differently", t.name);
                }
            }
        }
        let d = first.expect("three tablets");
        events += d.history.len();
        comments += d.comments.len();
    }
    for t in &tablets {
        let log = t.log.lock().unwrap();
        let s = t.store.lock().unwrap();
        for (doc, event, kind) in &log.events {
            let d = s.request(*doc).unwrap();
            assert!(
                d.history.iter().any(|h| h.id == *event),
                "{}'s {kind} on {doc} was lost",
                t.name
            );
        }
        for (doc, comment) in &log.comments {
            let d = s.request(*doc).unwrap();
            assert!(
                d.comments.iter().any(|c| c.id == *comment),
                "{}'s comment on {doc} was lost",
                t.name
            );
        }
    }
    for t in &tablets {
        let log = t.log.lock().unwrap();
        eprintln!(
            "{}: {} writes ({} filed, {} events, {} comments), syncs {} ok / {} failed ({} cut \
             in flight), {} rounds",
            t.name,
            log.writes,
            log.filed.len(),
            log.events.len(),
            log.comments.len(),
            t.syncs_ok.load(Ordering::Relaxed),
            t.syncs_failed.load(Ordering::Relaxed),
            t.cut_in_flight.load(Ordering::Relaxed),
            t.rounds.load(Ordering::Relaxed),
        );
    }
    eprintln!(
        "{RESTARTS} kills and restarts ({downtime_ms} ms down in all), {} requests with {events} \
         events and {comments} comments on the hub, quiescent after {passes} passes",
        all.len()
    );
}
