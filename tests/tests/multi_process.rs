//! Several real hub processes (the `bianmin-server` binary, as child processes) on one
//! PostgreSQL schema, as a township runs them behind a load balancer, and what a user would
//! check when one of them fails or they race each other:
//!
//! - hubs started together on an empty schema all come up, the schema migrated once;
//! - a request filed through one instance is decided through the other, live notices cross
//!   between them, and a console session outlives the restart of either;
//! - a hub killed (`SIGKILL`) while it takes a big round loses nothing and doubles nothing when
//!   the tablet sends the round again through another instance;
//! - tablets pushing at random through three instances at once end up holding exactly what the
//!   database's change log holds (the database is the oracle), and a tablet pulling all the
//!   while through a rotating instance skips nothing;
//! - an attachment uploaded in pieces alternating between two instances, one piece cut short,
//!   downloads whole from a third.
//!
//! `multi_instance.rs` runs two hubs inside the test process; these run the binary, so that a
//! hub can die mid-request. Each hub logs to `hub.log` in its data directory
//! (`BIANMIN_TEST_HUB_LOG=1` sends the logs to stderr instead); a failing test keeps the
//! directory and prints the end of each log.
//!
//! Needs the PostgreSQL test database (`BIANMIN_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): without it the tests say so on stderr and pass,
//! except under CI (`CI` set), where they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bianmin_client_core::client::{SyncError, SyncOptions, SyncReport, sync};
use bianmin_client_core::{FieldEdit, Store, watch};
use bianmin_domain::{Action, Role, Status};
use bianmin_server::admin;
use bianmin_server::storage::postgres::PgStorage;
use bianmin_tests::hub::{
    CLERK, HUB_LOG_VARIABLE, HubProcess, PgSchema, REVIEWER, enrol_at, postgres_reachable, quick,
};
use bianmin_tests::{EAST, TAIPING, social_card_request};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// However slow the machine, what is awaited happens by then (no measure of anything).
const DEADLINE: Duration = Duration::from_secs(30);

/// Waits until `done` holds, failing with `what` at [`DEADLINE`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < until, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// The hubs

/// Hub processes on one fresh schema, with the demo data loaded (one user per role, the demo
/// reviewer's console password `bianmin-demo`), and a directory for their logs and the tablets'
/// stores.
struct Cluster {
    /// The instances (killed first when the cluster is dropped).
    hubs: Vec<HubProcess>,
    /// The test's own connection to the schema: enrolment codes, users.
    storage: PgStorage,
    /// The hubs' data directories (their logs) and the tablets' stores; kept when a test fails.
    dir: tempfile::TempDir,
    /// Dropped last, once nothing uses it.
    schema: PgSchema,
}

impl Cluster {
    /// Starts `n` instances at the same time on a schema no one has connected to yet, waits
    /// until each answers, then loads the demo data.
    fn start(n: usize) -> Cluster {
        let schema = PgSchema::fresh();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut hubs: Vec<HubProcess> = (0..n)
            .map(|i| HubProcess::spawn_pg(&schema, &dir.path().join(format!("hub-{i}")), None))
            .collect();
        for hub in &mut hubs {
            hub.wait_ready();
        }
        // On this plain test thread (a PostgreSQL storage must not be used on a runtime's).
        let storage = schema.connect();
        admin::load_demo(&storage).expect("demo data");
        admin::set_demo_passwords(&storage).expect("demo passwords");
        Cluster {
            hubs,
            storage,
            dir,
            schema,
        }
    }

    fn url(&self, hub: usize) -> String {
        self.hubs[hub].url.clone()
    }

    fn urls(&self) -> Vec<String> {
        self.hubs.iter().map(|h| h.url.clone()).collect()
    }

    /// A new device of `user` enrolled through instance `hub`.
    fn enrol(&self, hub: usize, user: &str, name: &str) -> Mutex<Store> {
        Mutex::new(enrol_at(
            &self.storage,
            &self.hubs[hub].url,
            user,
            self.dir.path(),
            name,
        ))
    }

    /// A plain connection to the schema, for looking at the tables.
    fn db(&self) -> postgres::Client {
        let mut c = postgres::Client::connect(&self.schema.url, postgres::NoTls).expect("connect");
        c.batch_execute(&format!("SET search_path TO \"{}\"", self.schema.name))
            .expect("search_path");
        c
    }

    /// No hub logged a panic (over all its runs).
    fn assert_no_panics(&self) {
        for hub in &self.hubs {
            let panics = hub.panics();
            assert!(
                panics.is_empty(),
                "the hub at {} panicked:\n{}",
                hub.url,
                panics.join("\n")
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "the hubs' logs and the tablets' stores are kept in {} (the schema, {}, is \
                 dropped)",
                self.dir.path().display(),
                self.schema.name
            );
        }
    }
}

/// Points the tablet at the instance `url` (where a load balancer sends its next requests).
fn route(store: &Mutex<Store>, url: &str) {
    let mut s = store.lock().unwrap();
    let (_, token) = s.server().unwrap().expect("enrolled");
    s.set_server(url, &token).unwrap();
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
                assert!(report.waiting.is_empty(), "waiting: {:?}", report.waiting);
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

/// [`sync_until_pushed`] through the instance at `url`.
fn sync_through(store: &Mutex<Store>, url: &str) -> Vec<SyncReport> {
    route(store, url);
    sync_until_pushed(store)
}

fn accepted(reports: &[SyncReport]) -> usize {
    reports.iter().map(|r| r.accepted).sum()
}

fn changed(reports: &[SyncReport]) -> BTreeSet<Uuid> {
    reports.iter().flat_map(|r| r.changed.clone()).collect()
}

/// The number of live event streams open on the instance at `url`, from its `/metrics`.
fn streams_open(url: &str) -> u64 {
    let text = ureq::get(&format!("{url}/metrics"))
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

/// Watches `store`'s live notices on its hub until `stop`, counting them in `heard`.
fn watch_counting(store: &Mutex<Store>, stop: &AtomicBool, heard: &AtomicUsize) {
    watch::watch(store, stop, &mut || {
        heard.fetch_add(1, Ordering::SeqCst);
    })
    .expect("watch");
}

/// Sets its flags when dropped, a failing test's unwinding included, so that the threads a
/// scope waits for (watching, pulling) end instead of holding the failure up for ever.
struct StopOnDrop<'a>(Vec<&'a AtomicBool>);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        for flag in &self.0 {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// Files `n` requests on the tablet (not synced); their ids.
fn file_requests(store: &Mutex<Store>, n: usize) -> Vec<Uuid> {
    let mut s = store.lock().unwrap();
    (0..n)
        .map(|_| s.file_request(social_card_request()).expect("file").id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// What the database holds

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Logged {
    doc: String,
    hash: String,
    village: String,
    township: String,
}

/// The whole change log, after checking that it holds each change once.
fn change_log(db: &mut postgres::Client) -> Vec<Logged> {
    let row = db
        .query_one("SELECT count(*), count(DISTINCT hash) FROM change_log", &[])
        .unwrap();
    let (all, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(all, distinct, "a change is stored twice in the change log");
    db.query(
        "SELECT doc_id::text, encode(hash, 'hex'), village, township FROM change_log ORDER BY seq",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| Logged {
        doc: r.get(0),
        hash: r.get(1),
        village: r.get(2),
        township: r.get(3),
    })
    .collect()
}

/// Each stored document's village and heads (sorted, hex).
fn stored_documents(db: &mut postgres::Client) -> BTreeMap<String, (String, Vec<String>)> {
    db.query("SELECT id::text, village, snapshot FROM documents", &[])
        .unwrap()
        .iter()
        .map(|r| {
            let bytes: Vec<u8> = r.get(2);
            let mut doc = automerge::AutoCommit::load(&bytes).expect("a stored document loads");
            let mut heads: Vec<String> = doc.get_heads().iter().map(|h| hex::encode(h.0)).collect();
            heads.sort();
            (r.get(0), (r.get(1), heads))
        })
        .collect()
}

/// Every change the tablet holds, as (document, change hash).
fn held_changes(store: &Mutex<Store>) -> BTreeSet<(String, String)> {
    let s = store.lock().unwrap();
    let mut held = BTreeSet::new();
    for id in s.document_ids().unwrap() {
        for bytes in s.changes_since(id, &[]).unwrap() {
            let change = automerge::Change::from_bytes(bytes).expect("a held change decodes");
            held.insert((id.to_string(), hex::encode(change.hash().0)));
        }
    }
    held
}

/// The tablet's heads of every document it holds (sorted, hex).
fn held_heads(store: &Mutex<Store>) -> BTreeMap<String, Vec<String>> {
    let s = store.lock().unwrap();
    s.document_ids()
        .unwrap()
        .into_iter()
        .map(|id| {
            let mut heads: Vec<String> = s
                .heads(id)
                .unwrap()
                .expect("held")
                .iter()
                .map(hex::encode)
                .collect();
            heads.sort();
            (id.to_string(), heads)
        })
        .collect()
}

/// Asserts that `tablet` holds exactly the changes in `expected`, naming a few of the
/// differences if not.
fn assert_holds_exactly(
    name: &str,
    tablet: &Mutex<Store>,
    expected: &BTreeSet<(String, String)>,
    why: &str,
) {
    let held = held_changes(tablet);
    let missing: Vec<_> = expected.difference(&held).take(5).collect();
    let extra: Vec<_> = held.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name} {why}: it holds {} changes, the change log {}; missing (first 5): {missing:?}; \
         not in its scope's log (first 5): {extra:?}",
        held.len(),
        expected.len()
    );
}

// ---------------------------------------------------------------------------------------------
// a. Starting together

/// The migrations `server/migrations/postgres` holds, by number.
fn migration_files() -> BTreeSet<i64> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/migrations/postgres");
    std::fs::read_dir(dir)
        .expect("the migrations directory")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .map(|name| name[..4].parse::<i64>().expect("NNNN_name.sql"))
        .collect()
}

/// Three hubs started at the same moment on a schema that does not exist yet: each comes up,
/// one of them made the schema and applied each migration (once: the others waited for it and
/// found it done), and they serve one hub between them.
#[test]
fn three_instances_starting_together_on_an_empty_schema_migrate_it_once() {
    if !postgres_reachable() {
        return;
    }
    let c = Cluster::start(3);

    let mut db = c.db();
    let recorded: Vec<i64> = db
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let files = migration_files();
    assert_eq!(
        recorded,
        files.iter().copied().collect::<Vec<_>>(),
        "each migration recorded exactly once"
    );
    // Which instance applied which step, from their logs: every step by exactly one.
    if std::env::var_os(HUB_LOG_VARIABLE).is_none() {
        let mut applied: Vec<i64> = c
            .hubs
            .iter()
            .flat_map(|h| {
                h.log()
                    .lines()
                    .filter(|l| l.contains("PostgreSQL schema migrated"))
                    .filter_map(|l| {
                        let at = l.find("version=")? + "version=".len();
                        let digits: String =
                            l[at..].chars().take_while(char::is_ascii_digit).collect();
                        digits.parse::<i64>().ok()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        applied.sort_unstable();
        assert_eq!(
            applied,
            files.iter().copied().collect::<Vec<_>>(),
            "each migration applied by exactly one of the instances"
        );
    }

    // One hub: filed through the first, read through the second and the third.
    let clerk = c.enrol(0, CLERK, "east-tablet");
    let id = file_requests(&clerk, 1)[0];
    assert_eq!(accepted(&sync_through(&clerk, &c.url(0))), 1);
    let second = c.enrol(1, CLERK, "east-tablet-2");
    let reviewer = c.enrol(2, REVIEWER, "township-tablet");
    assert!(changed(&sync_through(&second, &c.url(1))).contains(&id));
    assert!(changed(&sync_through(&reviewer, &c.url(2))).contains(&id));
    for tablet in [&second, &reviewer] {
        assert_eq!(
            tablet.lock().unwrap().request(id).unwrap().status,
            Status::Submitted
        );
    }
    c.assert_no_panics();
}

// ---------------------------------------------------------------------------------------------
// b. End to end

/// An HTTP client that returns every status as an answer and follows no redirect.
fn browser() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// The value of the cookie `name` an answer sets.
fn set_cookie(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_string)
}

/// The CSRF token of the form on a page.
fn csrf(body: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field in {body}"))
        + marker.len();
    body[at..at + body[at..].find('"').unwrap()].to_string()
}

/// Signs in to the console at `url` as a browser does (the form's token and cookie, then the
/// post); the session cookie.
fn console_sign_in(url: &str, name: &str, password: &str) -> String {
    let agent = browser();
    let mut form = agent
        .get(&format!("{url}/console/sign-in"))
        .call()
        .expect("the sign-in form");
    let signin = set_cookie(&form, "bianmin_signin").expect("the form's cookie");
    let token = csrf(&form.body_mut().read_to_string().unwrap());
    let mut done = agent
        .post(&format!("{url}/console/sign-in"))
        .header("Cookie", &format!("bianmin_signin={signin}"))
        .send_form([
            ("csrf", token.as_str()),
            ("name", name),
            ("password", password),
            ("next", ""),
        ])
        .expect("the sign-in");
    let status = done.status().as_u16();
    let session = set_cookie(&done, "bianmin_console");
    let body = done.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 303, "{name} signs in: {body}");
    session.expect("a session cookie")
}

/// A console page with the session cookie: status and body.
fn console_get(url: &str, session: &str, path: &str) -> (u16, String) {
    let mut resp = browser()
        .get(&format!("{url}{path}"))
        .header("Cookie", &format!("bianmin_console={session}"))
        .call()
        .expect("the console answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

/// A console form posted with the session cookie: status and body.
fn console_post(url: &str, session: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut resp = browser()
        .post(&format!("{url}{path}"))
        .header("Cookie", &format!("bianmin_console={session}"))
        .send_form(form.iter().copied())
        .expect("the console answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

/// The console's queue of every status opens with `session` on the instance at `url`, listing
/// the requests `ids`.
fn assert_queue_opens(url: &str, session: &str, ids: &[Uuid], when: &str) {
    let (status, body) = console_get(url, session, "/console/requests?status=all");
    assert_eq!(
        status, 200,
        "{when}: the session cookie opens the queue on {url} (not a redirect to sign in)"
    );
    for id in ids {
        assert!(
            body.contains(&format!("/console/requests/{id}")),
            "{when}: the queue on {url} lists {id}"
        );
    }
}

/// A clerk files two requests through instance A; the township reviewer's tablet, watching B,
/// hears of them; the reviewer approves one in the console on A and the clerk's tablet,
/// watching B, hears of it; the reviewer's tablet pulls through B and approves the other there.
/// The console session opened on A then outlives a kill and restart of A and of B, on both;
/// both decisions reach the clerk through the restarted A.
#[test]
fn a_request_filed_through_one_instance_is_decided_through_the_other_and_sessions_outlive_restarts()
{
    if !postgres_reachable() {
        return;
    }
    const A: usize = 0;
    const B: usize = 1;
    let mut c = Cluster::start(2);
    let (a, b) = (c.url(A), c.url(B));
    let clerk = c.enrol(A, CLERK, "east-tablet");
    let reviewer = c.enrol(B, REVIEWER, "township-tablet");
    sync_through(&clerk, &a);
    sync_through(&reviewer, &b);

    // Both tablets watch B for live notices (a load balancer may send a tablet's event stream
    // to one instance and its syncs to the other): the clerk's tablet syncs through A.
    let (reviewer_heard, clerk_heard) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (stop_reviewer, stop_clerk) = (AtomicBool::new(false), AtomicBool::new(false));
    let (first, second, session) = std::thread::scope(|s| {
        let _stop = StopOnDrop(vec![&stop_clerk, &stop_reviewer]);
        route(&clerk, &b);
        s.spawn(|| watch_counting(&clerk, &stop_clerk, &clerk_heard));
        eventually("the clerk's event stream opens on B", || {
            streams_open(&b) == 1
        });
        route(&clerk, &a);
        s.spawn(|| watch_counting(&reviewer, &stop_reviewer, &reviewer_heard));
        eventually("the reviewer's event stream opens on B", || {
            streams_open(&b) == 2
        });

        // Filed, accepted and forwarded through A: the reviewer's tablet, on B, hears of it.
        let ids = file_requests(&clerk, 2);
        {
            let mut st = clerk.lock().unwrap();
            for id in &ids {
                st.apply(*id, Action::Accept).unwrap();
                st.apply(*id, Action::Forward).unwrap();
            }
        }
        assert_eq!(accepted(&sync_through(&clerk, &a)), 2);
        eventually(
            "B told the reviewer's tablet of the requests A took",
            || reviewer_heard.load(Ordering::SeqCst) >= 1,
        );
        stop_reviewer.store(true, Ordering::SeqCst);

        // The reviewer signs in to the console on A and approves the second request there:
        // the clerk's tablet, on B, hears of it (and of nothing before: its own pushes are not
        // news to it).
        let session = console_sign_in(&a, REVIEWER, admin::DEMO_PASSWORD);
        assert_queue_opens(&a, &session, &ids, "signed in on A");
        assert_eq!(clerk_heard.load(Ordering::SeqCst), 0);
        let page = format!("/console/requests/{}", ids[1]);
        let (status, body) = console_get(&a, &session, &page);
        assert_eq!(status, 200, "{body}");
        let (status, body) = console_post(
            &a,
            &session,
            &format!("{page}/approve"),
            &[
                ("csrf", &csrf(&body)),
                ("note", "材料齐全，同意"),
                ("confirm", "yes"),
            ],
        );
        assert_eq!(status, 303, "approved in the console on A: {body}");
        eventually(
            "B told the clerk's tablet of the approval made on A",
            || clerk_heard.load(Ordering::SeqCst) >= 1,
        );
        stop_clerk.store(true, Ordering::SeqCst);
        (ids[0], ids[1], session)
    });

    // The reviewer's tablet pulls through B and approves the first request there.
    let pulled = sync_through(&reviewer, &b);
    assert!(changed(&pulled).contains(&second), "the console's approval");
    {
        let r = reviewer.lock().unwrap();
        assert_eq!(r.request(first).unwrap().status, Status::Forwarded);
        assert_eq!(r.request(second).unwrap().status, Status::Approved);
    }
    reviewer
        .lock()
        .unwrap()
        .apply(
            first,
            Action::Approve {
                note: "符合条件".into(),
            },
        )
        .unwrap();
    assert_eq!(accepted(&sync_through(&reviewer, &b)), 1);

    // The console session outlives a power cut of either instance, on both.
    assert_queue_opens(&b, &session, &[first, second], "before any restart");
    c.hubs[A].restart();
    assert_queue_opens(&a, &session, &[first, second], "A restarted");
    assert_queue_opens(&b, &session, &[first, second], "A restarted");
    c.hubs[B].restart();
    assert_queue_opens(&b, &session, &[first, second], "B restarted too");
    assert_queue_opens(&a, &session, &[first, second], "B restarted too");
    // (A cookie that is no session's does not open it: the check above can fail.)
    let (status, _) = console_get(&a, &"0".repeat(64), "/console/requests?status=all");
    assert_eq!(status, 303, "an unknown session is sent to sign in");

    // Both decisions reach the clerk through the restarted A.
    let back = sync_through(&clerk, &a);
    assert_eq!(changed(&back), BTreeSet::from([first, second]));
    for id in [first, second] {
        assert_eq!(
            clerk.lock().unwrap().request(id).unwrap().status,
            Status::Approved
        );
    }
    c.assert_no_panics();
}

// ---------------------------------------------------------------------------------------------
// c. A hub killed mid-round

/// The requests in one round (a tablet's days of work after a week offline).
const BIG_ROUND: usize = 200;

/// When A is killed while it takes a round.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// This share, after the round starts, of the time A took to store the first round.
    Timed(f64),
    /// While A's transaction storing the round is open (it holds a write lock on the
    /// documents or the change log).
    InTheCommit,
    /// As soon as the round's documents are visible in the database (committed), while A
    /// prepares or sends its answer.
    AfterTheCommit,
}

/// How a sync through a hub killed meanwhile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The hub could not be reached: killed before the round's request went out.
    Unreachable,
    /// The round's request went out and no answer came: killed while it took the round
    /// (reading it, checking it, committing it, or answering).
    MidRound,
    /// The hub answered first.
    Answered,
}

fn ended(result: &Result<SyncReport, SyncError>) -> Ended {
    match result {
        Ok(_) => Ended::Answered,
        // What the client says after a while of refused connections.
        Err(SyncError::Network(why)) if why.starts_with("no connection to the hub") => {
            Ended::Unreachable
        }
        Err(_) => Ended::MidRound,
    }
}

/// Whether a transaction writing the documents or the change log is open (only A writes while
/// the round is in flight).
fn writing(db: &mut postgres::Client) -> bool {
    db.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE granted AND mode = 'RowExclusiveLock'
             AND relation IN ('documents'::regclass, 'change_log'::regclass))",
        &[],
    )
    .unwrap()
    .get(0)
}

/// How many of `ids` are stored.
fn stored_of(db: &mut postgres::Client, ids: &[Uuid]) -> usize {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM documents WHERE id::text = ANY($1)",
            &[&ids],
        )
        .unwrap()
        .get(0);
    usize::try_from(n).unwrap()
}

/// A tablet sends rounds of 200 new requests to instance A, and A is killed (`SIGKILL`) while
/// each is in flight: right after the transaction storing the round committed (the answer
/// lost: tried twice, as the answer may win the race), inside that transaction, and at delays
/// bisected until one lands after the round went out and before its answer. Each time the
/// tablet then sends the round again through B. Whatever A had stored, the database ends up
/// with every request once: each change once in the change log, none missing, nothing left
/// pending on the tablet, and a second tablet pulls exactly the same documents at the same
/// heads.
#[test]
fn a_hub_killed_in_the_middle_of_a_big_round_loses_and_doubles_nothing_when_the_tablet_retries_on_another()
 {
    const A: usize = 0;
    const B: usize = 1;
    if !postgres_reachable() {
        return;
    }
    let mut c = Cluster::start(2);
    let (a, b) = (c.url(A), c.url(B));
    let tablet = c.enrol(B, CLERK, "east-tablet");
    let mut filed = Vec::new();

    // One attempt only: the tablet gives up on A at once (then goes to B).
    let once = SyncOptions {
        attempts: 1,
        ..quick()
    };
    // How long A took to store a round (from the first trial): what the timed kills aim at,
    // bisected between a kill that came too early and one that came too late.
    let mut round = Duration::ZERO;
    let (mut early, mut late) = (0.0_f64, 1.0_f64);
    let mut trials: Vec<(Kill, Ended, usize)> = Vec::new();
    loop {
        let tried = |kind: fn(&Kill) -> bool| trials.iter().filter(|t| kind(&t.0)).count();
        let after = tried(|k| matches!(k, Kill::AfterTheCommit));
        let answer_lost = trials.iter().any(|t| {
            matches!(t.0, Kill::AfterTheCommit) && t.1 == Ended::MidRound && t.2 == BIG_ROUND
        });
        let timed = tried(|k| matches!(k, Kill::Timed(_)));
        let timed_mid = trials
            .iter()
            .any(|t| matches!(t.0, Kill::Timed(_)) && t.1 == Ended::MidRound);
        // The answer may win the race with a kill after the commit: then once more.
        let kill = if after == 0 || (!answer_lost && after < 2) {
            Kill::AfterTheCommit
        } else if tried(|k| matches!(k, Kill::InTheCommit)) == 0 {
            Kill::InTheCommit
        } else if timed == 0 || (!timed_mid && timed < 3) {
            Kill::Timed((early + late) / 2.0)
        } else {
            break;
        };
        let ids = file_requests(&tablet, BIG_ROUND);
        filed.extend(&ids);
        route(&tablet, &a);
        let sent = AtomicBool::new(false);
        let mut watcher = c.db();
        let hub_a = &mut c.hubs[A];
        let (result, killed_after) = std::thread::scope(|s| {
            let (sent, ids) = (&sent, &ids);
            let killer = s.spawn(move || {
                let start = Instant::now();
                match kill {
                    Kill::Timed(share) => std::thread::sleep(round.mul_f64(share)),
                    Kill::InTheCommit => {
                        while !sent.load(Ordering::SeqCst) && !writing(&mut watcher) {}
                    }
                    Kill::AfterTheCommit => {
                        while !sent.load(Ordering::SeqCst) && stored_of(&mut watcher, ids) == 0 {}
                    }
                }
                hub_a.kill();
                start.elapsed()
            });
            let result = sync(&tablet, &once, &mut |_| {});
            sent.store(true, Ordering::SeqCst);
            (result, killer.join().expect("the killer"))
        });
        if round.is_zero() {
            round = killed_after;
        }
        let how = ended(&result);
        let stored = stored_of(&mut c.db(), &ids);
        eprintln!(
            "A killed {killed_after:?} into a round ({kill:?}); the tablet's sync: {how:?} \
             ({:?}); {stored} of the round's {BIG_ROUND} requests stored, {} pending on the \
             tablet",
            result.as_ref().map(|r| r.accepted),
            tablet.lock().unwrap().pending_documents().unwrap(),
        );
        if let Kill::Timed(share) = kill {
            match how {
                Ended::Unreachable => early = share,
                Ended::Answered => late = share,
                Ended::MidRound => {}
            }
        }
        trials.push((kill, how, stored));

        // The load balancer sends the tablet to B: the round again.
        let again = sync_through(&tablet, &b);
        assert!(
            accepted(&again) <= BIG_ROUND,
            "each document of the round accepted at most once: {}",
            accepted(&again)
        );
        assert_eq!(tablet.lock().unwrap().pending_documents().unwrap(), 0);
        assert_eq!(
            stored_of(&mut c.db(), &ids),
            BIG_ROUND,
            "the round is stored"
        );
        c.hubs[A].restart();
    }
    eprintln!("kills (when, how the sync ended, requests of the round A had stored): {trials:?}");
    assert!(
        trials.iter().any(|t| t.1 == Ended::MidRound),
        "no kill landed while A held the round: {trials:?}"
    );

    // The database holds every request once, and every change of it once.
    let mut db = c.db();
    let log = change_log(&mut db);
    let documents = stored_documents(&mut db);
    let filed_set: BTreeSet<String> = filed.iter().map(Uuid::to_string).collect();
    assert_eq!(filed.len(), filed_set.len());
    assert_eq!(
        documents.keys().cloned().collect::<BTreeSet<_>>(),
        filed_set,
        "every request filed is stored, and nothing else"
    );
    let logged: BTreeSet<(String, String)> = log
        .iter()
        .map(|l| (l.doc.clone(), l.hash.clone()))
        .collect();
    assert_holds_exactly(
        "the tablet",
        &tablet,
        &logged,
        "and the change log agree (every change logged once, none lost)",
    );
    assert_eq!(tablet.lock().unwrap().pending_documents().unwrap(), 0);

    // What a second tablet of the village pulls, through the restarted A: all of it.
    let second = c.enrol(A, CLERK, "east-tablet-2");
    sync_through(&second, &a);
    let heads = held_heads(&tablet);
    assert_eq!(
        held_heads(&second),
        heads,
        "the second tablet holds the same"
    );
    for (id, (_, stored_heads)) in &documents {
        assert_eq!(&heads[id], stored_heads, "{id}: the hub's copy");
    }
    c.assert_no_panics();
}

// ---------------------------------------------------------------------------------------------
// d/f. Random concurrent pushes through three instances, a puller rotating between them

/// The variable that sets the seed of the random test (printed at each run).
const SEED_VARIABLE: &str = "BIANMIN_TEST_SEED";
/// Beishan Village, in Shiqiang Town (not Taiping): the second village of the random test.
const BEISHAN: &str = "370883102201";
const BEISHAN_CLERK: &str = "clerk-beishan";

/// A tablet of the random test.
struct Tablet {
    name: String,
    village: &'static str,
    store: Mutex<Store>,
}

/// One round of a tablet's work: a few requests filed, commented on, edited (on any request of
/// its village it holds, whoever filed it).
fn random_work(store: &Mutex<Store>, rng: &mut StdRng) -> usize {
    let mut s = store.lock().unwrap();
    let ops = rng.random_range(1..=3);
    for _ in 0..ops {
        let held = s.document_ids().unwrap();
        let pick = rng.random_range(0..10);
        if held.is_empty() || pick < 4 {
            s.file_request(social_card_request()).expect("file");
            continue;
        }
        let id = held[rng.random_range(0..held.len())];
        if pick < 7 {
            let n = rng.random_range(0..1_000_000);
            s.comment(id, &format!("第 {n} 条备注")).expect("comment");
        } else {
            let phone = format!("139{:08}", rng.random_range(0..100_000_000));
            s.edit(id, FieldEdit::Phone(phone)).expect("edit");
        }
    }
    ops
}

/// Six clerks' tablets, three in East Village (Taiping Town) and three in Beishan Village
/// (Shiqiang Town), each enrolled through a random instance of three, work in rounds and sync
/// each round through a randomly chosen instance, all at once; meanwhile the Taiping reviewer's
/// tablet pulls again and again through the instances in turn (a transaction holding a low log
/// number open while a higher one commits must not make it skip the lower). Then everyone
/// syncs until quiet, and the database is the oracle: each change is logged once; each clerk's
/// tablet holds exactly the changes logged for its village (all of them, nothing of the other
/// village); the reviewer's tablet, which never sent anything, received exactly those logged
/// for its township (nothing skipped); and the tablets of a village hold each document at the
/// same heads as the hub.
#[test]
fn random_pushes_through_three_instances_at_once_match_the_change_log() {
    const ROUNDS: usize = 20;
    if !postgres_reachable() {
        return;
    }
    let seed = std::env::var(SEED_VARIABLE)
        .ok()
        .map(|s| s.parse::<u64>().expect("the seed is a number"))
        .unwrap_or_else(rand::random);
    eprintln!("seed {seed} (set {SEED_VARIABLE}={seed} to make the same choices again)");
    let mut rng = StdRng::seed_from_u64(seed);

    let c = Cluster::start(3);
    admin::add_user(
        &c.storage,
        BEISHAN_CLERK,
        "北山村代办员",
        Role::Clerk,
        BEISHAN,
    )
    .unwrap();
    let urls = c.urls();
    let tablets: Vec<Tablet> = (0..6)
        .map(|i| {
            let (user, village, place) = if i % 2 == 0 {
                (CLERK, EAST, "east")
            } else {
                (BEISHAN_CLERK, BEISHAN, "beishan")
            };
            let name = format!("{place}-tablet-{}", i / 2);
            let store = c.enrol(rng.random_range(0..urls.len()), user, &name);
            Tablet {
                name,
                village,
                store,
            }
        })
        .collect();
    let puller = c.enrol(rng.random_range(0..urls.len()), REVIEWER, "township-tablet");
    let seeds: Vec<u64> = tablets.iter().map(|_| rng.random()).collect();

    let started = Instant::now();
    let done = AtomicBool::new(false);
    let ops = AtomicUsize::new(0);
    let pulls = std::thread::scope(|s| {
        let _done = StopOnDrop(vec![&done]);
        let pushers: Vec<_> = tablets
            .iter()
            .zip(&seeds)
            .map(|(t, seed)| {
                let (urls, ops) = (&urls, &ops);
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(*seed);
                    for _ in 0..ROUNDS {
                        ops.fetch_add(random_work(&t.store, &mut rng), Ordering::SeqCst);
                        sync_through(&t.store, &urls[rng.random_range(0..urls.len())]);
                    }
                })
            })
            .collect();
        let puller = s.spawn(|| {
            let mut pulls = 0;
            while !done.load(Ordering::SeqCst) {
                let reports = sync_through(&puller, &urls[pulls % urls.len()]);
                assert_eq!(accepted(&reports), 0, "the reviewer's tablet sends nothing");
                pulls += 1;
            }
            pulls
        });
        for p in pushers {
            p.join().expect("a tablet's thread");
        }
        done.store(true, Ordering::SeqCst);
        puller.join().expect("the puller's thread")
    });
    eprintln!(
        "{} operations in {ROUNDS} rounds on each of {} tablets, {pulls} pulls meanwhile, in {:?}",
        ops.load(Ordering::SeqCst),
        tablets.len(),
        started.elapsed()
    );

    // Everyone syncs (through an instance in turn) until two passes in a row move nothing; the
    // puller last, once: what it missed while the others pushed, it must not get now.
    let mut quiet = 0;
    let mut passes = 0;
    while quiet < 2 {
        passes += 1;
        assert!(passes <= 10, "the tablets did not become quiescent");
        let mut moved = false;
        for (i, t) in tablets.iter().enumerate() {
            for r in sync_through(&t.store, &urls[(passes + i) % urls.len()]) {
                moved |= r.new_changes > 0 || r.progress.docs_pushed > 0;
            }
        }
        quiet = if moved { 0 } else { quiet + 1 };
    }

    let mut db = c.db();
    let log = change_log(&mut db);
    let documents = stored_documents(&mut db);
    let in_scope = |keep: &dyn Fn(&Logged) -> bool| -> BTreeSet<(String, String)> {
        log.iter()
            .filter(|l| keep(l))
            .map(|l| (l.doc.clone(), l.hash.clone()))
            .collect()
    };
    for village in [EAST, BEISHAN] {
        let expected = in_scope(&|l: &Logged| l.village == village);
        assert!(!expected.is_empty(), "{village} did some work");
        let mut heads_seen: Option<BTreeMap<String, Vec<String>>> = None;
        for t in tablets.iter().filter(|t| t.village == village) {
            assert_holds_exactly(
                &t.name,
                &t.store,
                &expected,
                &format!("and the change log for {village} agree"),
            );
            let heads = held_heads(&t.store);
            for (id, h) in &heads {
                let (stored_village, stored_heads) = &documents[id];
                assert_eq!(
                    stored_village, village,
                    "{}: {id} is of its village",
                    t.name
                );
                assert_eq!(h, stored_heads, "{}: {id} at the hub's heads", t.name);
            }
            if let Some(other) = &heads_seen {
                assert_eq!(&heads, other, "{}: the village's tablets converged", t.name);
            }
            heads_seen = Some(heads);
        }
    }
    // The puller: one last pull, after everything was committed; then exactly its township.
    sync_through(&puller, &urls[0]);
    let township = in_scope(&|l: &Logged| l.township == TAIPING);
    assert_holds_exactly(
        "the reviewer's tablet",
        &puller,
        &township,
        "pulled through rotating instances while others pushed; it and the log for Taiping agree \
         (a change missing here was skipped by a pull)",
    );
    eprintln!(
        "{} changes logged ({} for Taiping) on {} documents; {passes} final passes",
        log.len(),
        township.len(),
        documents.len()
    );
    c.assert_no_panics();
}

// ---------------------------------------------------------------------------------------------
// e. An upload split across instances

/// A device's raw HTTP to the attachment endpoints of the instance at `url`.
struct Uploader {
    token: String,
}

/// An answer: status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The bytes the hub says it holds, from a status or an accepted piece.
    fn received(&self) -> u64 {
        assert_eq!(self.status, 200, "{}", self.text());
        self.json()["received"].as_u64().expect("received")
    }
}

impl Uploader {
    fn answer(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut res = res.expect("the hub answers");
        Answer {
            status: res.status().as_u16(),
            body: res
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .expect("body"),
        }
    }

    fn status(&self, url: &str, sha: &str) -> Answer {
        Uploader::answer(
            browser()
                .get(&format!("{url}/api/v1/blobs/{sha}/status"))
                .header("Authorization", &format!("Bearer {}", self.token))
                .call(),
        )
    }

    fn put(&self, url: &str, sha: &str, offset: usize, piece: &[u8]) -> Answer {
        Uploader::answer(
            browser()
                .put(&format!("{url}/api/v1/blobs/{sha}?offset={offset}"))
                .header("Authorization", &format!("Bearer {}", self.token))
                .header("Content-Type", "application/octet-stream")
                .send(piece),
        )
    }

    /// A piece whose body the link cuts after `sent` of its bytes: the request announces the
    /// whole piece, the bytes stop, the connection closes. What the hub answers (if anything)
    /// is returned as text.
    fn put_cut(&self, url: &str, sha: &str, offset: usize, piece: &[u8], sent: usize) -> String {
        let host = url.strip_prefix("http://").expect("http");
        let mut conn = std::net::TcpStream::connect(host).expect("connect");
        conn.set_read_timeout(Some(DEADLINE)).unwrap();
        let head = format!(
            "PUT /api/v1/blobs/{sha}?offset={offset} HTTP/1.1\r\nHost: {host}\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.token,
            piece.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&piece[..sent]).unwrap();
        conn.flush().unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or("(no answer)")
            .to_string()
    }

    fn get(&self, url: &str, sha: &str) -> Answer {
        Uploader::answer(
            browser()
                .get(&format!("{url}/api/v1/blobs/{sha}"))
                .header("Authorization", &format!("Bearer {}", self.token))
                .call(),
        )
    }
}

/// A JPEG-signed photo of 1.3 MB, its bytes varied so that a flipped byte changes the hash.
fn photo() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..1_300_000_u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    bytes
}

/// A clerk's photo of an ID card goes up in pieces alternating between instances A and B (each
/// piece starting where the *other* instance says the upload stands), one piece cut short by
/// the link on B and resumed on A from the byte B kept; the whole then downloads from a third
/// instance, byte for byte, with the SHA-256 its reference names.
#[test]
fn an_upload_split_across_instances_downloads_whole_from_a_third() {
    const PIECE: usize = 256 * 1024;
    if !postgres_reachable() {
        return;
    }
    let c = Cluster::start(3);
    let [a, b, third] = [c.url(0), c.url(1), c.url(2)];
    let clerk = c.enrol(0, CLERK, "east-tablet");
    let bytes = photo();
    let reference = {
        let mut s = clerk.lock().unwrap();
        let id = s.file_request(social_card_request()).unwrap().id;
        s.attach_bytes(id, "ID card", &bytes).unwrap()
    };
    let sha = reference.sha256.clone();
    assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(accepted(&sync_through(&clerk, &a)), 1);
    let device = Uploader {
        token: clerk.lock().unwrap().server().unwrap().unwrap().1,
    };
    assert_eq!(device.status(&third, &sha).received(), 0);

    // Pieces alternate between A and B; each starts where the other instance says it stands.
    let instances = [&a, &b];
    let mut turn = 0;
    let mut cut_done = false;
    let mut pieces = 0;
    loop {
        let (here, there) = (instances[turn % 2], instances[(turn + 1) % 2]);
        let offset = usize::try_from(device.status(there, &sha).received()).unwrap();
        if offset == bytes.len() {
            break;
        }
        let piece = &bytes[offset..(offset + PIECE).min(bytes.len())];
        if !cut_done && offset > 0 {
            // The link drops 100 000 bytes into this piece: the instance keeps what arrived,
            // and the other says so (once the cut request is done).
            let sent = 100_000;
            let answer = device.put_cut(here, &sha, offset, piece, sent);
            eprintln!("a piece cut at {} bytes on {here}: {answer}", offset + sent);
            eventually(
                "the other instance sees the bytes the cut piece brought",
                || device.status(there, &sha).received() == (offset + sent) as u64,
            );
            // Sent again from its start, the piece is refused with where to resume.
            let stale = device.put(there, &sha, offset, piece);
            assert_eq!(stale.status, 409, "{}", stale.text());
            assert_eq!(stale.json()["received"], (offset + sent) as u64);
            cut_done = true;
            turn += 1;
            continue;
        }
        let done = device.put(here, &sha, offset, piece).received();
        assert_eq!(
            done,
            (offset + piece.len()) as u64,
            "{here} holds the piece"
        );
        pieces += 1;
        turn += 1;
    }
    assert!(cut_done && pieces >= 4, "{pieces} pieces");
    let status = device.status(&third, &sha);
    assert_eq!(status.json()["complete"], true, "{}", status.text());

    let whole = device.get(&third, &sha);
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert_eq!(whole.body.len(), bytes.len());
    assert!(
        whole.body == bytes,
        "the bytes downloaded are the bytes uploaded"
    );
    assert_eq!(hex::encode(Sha256::digest(&whole.body)), sha);
    c.assert_no_panics();
}

// ---------------------------------------------------------------------------------------------
// Notices after the listening connections are cut

/// The listening connection of every hub process: their backends' ids.
fn listeners(db: &mut postgres::Client, schema: &str) -> BTreeSet<i32> {
    db.query(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
        &[&PgStorage::listener_application_name(schema)],
    )
    .expect("pg_stat_activity")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The reviewer's tablet watches instance B; the clerk files through A. With both processes'
/// listening connections terminated by the database (`pg_terminate_backend`), the next push
/// through A is still heard on B (the poll), both processes listen again on new connections,
/// and the push after that is heard too: each once.
#[test]
fn notices_cross_between_processes_after_their_listening_connections_are_cut() {
    if !postgres_reachable() {
        return;
    }
    let cluster = Cluster::start(2);
    let clerk = cluster.enrol(0, CLERK, "east-tablet");
    let reviewer = cluster.enrol(1, REVIEWER, "township-desk");
    let mut db = cluster.db();
    let schema = cluster.schema.name.clone();
    let mut first = BTreeSet::new();
    eventually("each process listens", || {
        first = listeners(&mut db, &schema);
        first.len() == 2
    });
    let file = || {
        file_requests(&clerk, 1);
        assert_eq!(accepted(&sync_through(&clerk, &cluster.url(0))), 1);
    };
    let (heard, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
    std::thread::scope(|s| {
        let _stop = StopOnDrop(vec![&stop]);
        s.spawn(|| watch_counting(&reviewer, &stop, &heard));
        eventually("the reviewer's stream opens on B", || {
            streams_open(&cluster.url(1)) == 1
        });
        let cut = db
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1",
                &[&PgStorage::listener_application_name(&schema)],
            )
            .expect("terminate")
            .iter()
            .filter(|r| r.get::<_, bool>(0))
            .count();
        assert_eq!(cut, 2, "both listeners cut");
        file();
        eventually("B heard A's push despite the cut", || {
            heard.load(Ordering::SeqCst) >= 1
        });
        let mut again = BTreeSet::new();
        eventually("each process listens again, on a new connection", || {
            again = listeners(&mut db, &schema);
            again.len() == 2 && again.is_disjoint(&first)
        });
        file();
        eventually("B heard the next push", || {
            heard.load(Ordering::SeqCst) >= 2
        });
    });
    assert_eq!(heard.load(Ordering::SeqCst), 2, "each push heard once");
    cluster.assert_no_panics();
}
