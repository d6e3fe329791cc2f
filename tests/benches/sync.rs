//! Sync benchmarks, run by hand and read by a person (no assertion on time):
//!
//! ```text
//! cargo bench -p bianmin-tests --bench sync
//! BENCH_DOCS=5000 cargo bench -p bianmin-tests --bench sync   # a quick check
//! ```
//!
//! Every figure is measured against the real hub binary (`bianmin-server serve`, built by
//! cargo with this bench) running as a child process on a loopback port, with real tablets'
//! stores (`client-core`) talking real HTTP from this process:
//!
//! - (a) one `sync` of a clerk tablet that changed 10 documents (10 comments pushed, then the
//!   pull), on a hub storing 1,000 documents and on one storing `BENCH_DOCS` (default
//!   100,000): median and p95 over 50 syncs, and the bytes of the request and response bodies;
//! - (b) the first full `sync` of a freshly enrolled clerk tablet pulling its village;
//! - (c) sustained syncs per second of 50 tablets (10 per village) syncing concurrently, each
//!   sync pushing one comment and pulling what the village's other tablets pushed; latency,
//!   and the CPU the hub and the tablets used;
//!   the same tablets' next changes then replayed by plain HTTP clients, to see the hub alone;
//!   one plain client alone (the hub's time for one push); and the time of one
//!   `Storage::commit` (one round's transaction when nobody else is waiting);
//! - (d) the hub's resident memory (`VmRSS` of the child process) on the large hub.
//!
//! `BENCH_SECS` (default 15) sets the length of each part of (c); `BENCH_WORK_DIR` puts the
//! working copies and tablets elsewhere (e.g. `/dev/shm`, to see what fsync costs).
//!
//! The hubs are built once and cached under `target/bench-hubs/` (delete it to rebuild):
//! "seed" clerk tablets enrolled with an in-process hub file requests (with accepts,
//! completions, forwards, withdrawals, refusals and comments, on a simulated 2026 clock) and
//! push them through ordinary `sync` runs of 1,000 documents per round. East Village (the
//! measured clerk's) holds 5 % of the documents (5,000 of 100,000) on one seed tablet, which
//! is the tablet measured in (a); the other villages' share is spread by households over
//! tablets of at most 5,000 requests each. Those other seed tablets push only: they are given
//! a cursor beyond the end of the hub's log so they do not download each other's work (what
//! the hub stores is the same). Each run works on a copy of the cached hub.
//!
//! The hub cache, the hub process and the sustained load of (c) are in `common/mod.rs`, shared
//! with `instances.rs` (issue 15: (c) on SQLite and on PostgreSQL with 1, 2 and 3 instances).

#[path = "common/mod.rs"]
mod common;

use bianmin_client_core::Store;
use bianmin_client_core::client::{self, SyncOptions, SyncReport};
use bianmin_domain::Role;
use bianmin_protocol::{B64, PROTOCOL_VERSION, PushDoc, PushResult, SyncRequest, SyncResponse};
use bianmin_server::admin;
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use common::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use std::path::{Path, PathBuf};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const CHANGED_PER_ROUND: usize = 10;
const WARMUP_ROUNDS: usize = 5;
const ROUNDS: usize = 50;
const DEVICES: usize = 50;

fn main() {
    let big_n: usize = env_number("BENCH_DOCS", 100_000);
    let secs: u64 = env_number("BENCH_SECS", 15) as u64;
    let root = bench_dir();
    std::fs::create_dir_all(&root).expect("create the bench-hubs folder");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("Bianmin sync benchmark (tests/benches/sync.rs)");
    println!(
        "profile: {}; {cores} CPUs; load average at start: {}",
        if cfg!(debug_assertions) {
            "debug (numbers are not representative)"
        } else {
            "release"
        },
        load_average()
    );
    println!("hubs cached in {}", root.display());

    let small = ensure_hub(&root, SMALL_DOCS);
    let big = ensure_hub(&root, big_n);
    // BENCH_WORK_DIR puts the hubs' working copies and the tablets elsewhere (e.g. /dev/shm,
    // to see what fsync costs).
    let work_root = std::env::var_os("BENCH_WORK_DIR").map_or_else(|| root.clone(), PathBuf::from);
    let work = tempfile::tempdir_in(&work_root).expect("a work folder");
    let bin = bianmin_tests::hub::release_server_binary();

    // (a) on the small hub.
    eprintln!("(a) small hub: {} rounds...", WARMUP_ROUNDS + ROUNDS);
    let small_work = small.copy_to(&work.path().join("small"));
    let a_small = {
        let hub = HubProcess::start(&bin, &small_work.hub_dir(), &HubOptions::default());
        measure_rounds(&hub, &small_work.east_store())
    };

    // Everything else on the large hub.
    let big_work = big.copy_to(&work.path().join("big"));
    let (fresh_code, load_codes) = prepare_users(&big_work.hub_dir());
    let hub = HubProcess::start(&bin, &big_work.hub_dir(), &HubOptions::default());
    let mut memory = vec![("idle, just started".to_string(), hub.memory())];
    eprintln!("(a) large hub: {} rounds...", WARMUP_ROUNDS + ROUNDS);
    let a_big = measure_rounds(&hub, &big_work.east_store());
    memory.push((
        format!(
            "after (a): {} syncs of the East tablet",
            WARMUP_ROUNDS + ROUNDS
        ),
        hub.memory(),
    ));
    eprintln!("(b) a fresh East tablet's first sync...");
    let b = fresh_pull(&hub.url, &fresh_code, work.path());
    memory.push(("after (b): a fresh tablet pulled East".into(), hub.memory()));
    eprintln!("(c) {DEVICES} tablets for {secs} s...");
    let big_db = big_work.hub_dir().join("bianmin.db");
    let (c, tablets) = sustained(
        std::slice::from_ref(&hub),
        &load_codes,
        &work.path().join("load"),
        &|| sqlite_log_end(&big_db),
        Duration::from_secs(secs),
        &mut || {},
    );
    memory.push((
        format!("after (c): {} syncs of {DEVICES} tablets", c.syncs),
        hub.memory(),
    ));
    eprintln!("(c) one plain HTTP client alone: {LONE_ROUNDS} rounds...");
    let (lone, lone_cpu) = lone_client(&hub, &tablets[0].0, VILLAGES[0].0);
    eprintln!("(c) the hub alone: {DEVICES} plain HTTP clients for {secs} s...");
    let c2 = hub_only(&hub, tablets, Duration::from_secs(secs));
    memory.push((
        format!("after (c): {} rounds of {DEVICES} plain clients", c2.syncs),
        hub.memory(),
    ));
    let db_bytes = file_size(&big_work.hub_dir().join("bianmin.db"))
        + file_size(&big_work.hub_dir().join("bianmin.db-wal"));
    drop(hub);
    eprintln!("(c) the writer: {COMMITS} commits...");
    let commit_time = writer_commits(&big_work.hub_dir());

    // The report.
    println!();
    println!("hubs (the real bianmin-server binary as a child process, on a copy of the cache):");
    for h in [&small, &big] {
        println!(
            "  {:>7} documents, {:>7} change-log entries, {:.0} MB: {}",
            fmt_n(h.docs),
            fmt_n(h.changes),
            h.bytes as f64 / 1e6,
            h.how
        );
        println!("          villages: {}", h.villages);
    }

    println!();
    println!(
        "(a) one sync of the East clerk's tablet after changing {CHANGED_PER_ROUND} documents \
         (a comment each): push + pull"
    );
    println!(
        "    {ROUNDS} syncs after {WARMUP_ROUNDS} warm-up; load average now {}",
        load_average()
    );
    let col = |n: usize| format!("{}-doc hub", fmt_n(n));
    println!(
        "    {:<32} {:>16} {:>16} {:>8}   target",
        "",
        col(small.docs),
        col(big.docs),
        "ratio"
    );
    println!(
        "    {:<32} {:>16} {:>16}",
        "documents on the tablet (East)",
        fmt_n(a_small.village_docs),
        fmt_n(a_big.village_docs)
    );
    let ratio_row = |name: &str, s: Duration, b: Duration, target: &str| {
        println!(
            "    {:<32} {:>16} {:>16} {:>7.2}x   {target}",
            name,
            fmt_d(s),
            fmt_d(b),
            b.as_secs_f64() / s.as_secs_f64()
        );
    };
    ratio_row(
        "median time per sync",
        a_small.time.median,
        a_big.time.median,
        "<= 1.5x",
    );
    ratio_row(
        "p95 time per sync",
        a_small.time.p95,
        a_big.time.p95,
        "<= 1.5x",
    );
    ratio_row("max time per sync", a_small.time.max, a_big.time.max, "");
    println!(
        "    {:<32} {:>16} {:>16}",
        "HTTP exchanges per sync", a_small.exchanges, a_big.exchanges
    );
    ratio_row(
        "hub CPU per sync (10 ms ticks)",
        a_small.hub_cpu,
        a_big.hub_cpu,
        "",
    );
    let bytes_row = |name: &str, s: u64, b: u64, target: &str| {
        println!(
            "    {:<32} {:>16} {:>16} {:>7.2}x   {target}",
            name,
            fmt_bytes(s),
            fmt_bytes(b),
            b as f64 / s.max(1) as f64
        );
    };
    bytes_row("request bodies per sync", a_small.sent, a_big.sent, "");
    bytes_row(
        "response bodies per sync",
        a_small.received,
        a_big.received,
        "",
    );
    bytes_row(
        "bytes on the wire per sync",
        a_small.sent + a_small.received,
        a_big.sent + a_big.received,
        "< 20 KB",
    );
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "    -> median within 1.5x: {}; p95 within 1.5x: {}; under 20 KB: {} \
         (bodies only; HTTP headers add about 0.3 KB per exchange)",
        verdict(a_big.time.median.as_secs_f64() <= 1.5 * a_small.time.median.as_secs_f64()),
        verdict(a_big.time.p95.as_secs_f64() <= 1.5 * a_small.time.p95.as_secs_f64()),
        verdict(a_big.sent + a_big.received < 20_000 && a_small.sent + a_small.received < 20_000)
    );
    if a_small.problems + a_big.problems > 0 {
        println!(
            "    !! {} refused pushes or pull errors (see stderr)",
            a_small.problems + a_big.problems
        );
    }

    println!();
    println!(
        "(b) a freshly enrolled East clerk tablet's first full sync, {}-document hub",
        fmt_n(big.docs)
    );
    println!(
        "    enrolment (one exchange, reference data): {}",
        fmt_d(b.enrol)
    );
    println!(
        "    first sync: {} in {} exchanges; {} documents ({} changes) received; \
         {} received, {} sent",
        fmt_d(b.time),
        b.report.progress.rounds,
        fmt_n(b.docs),
        fmt_n(b.report.new_changes),
        fmt_bytes(b.report.progress.bytes_received),
        fmt_bytes(b.report.progress.bytes_sent)
    );
    println!(
        "    -> {:.0} documents/s, {:.1} MB/s; target under 5 s: {}",
        b.docs as f64 / b.time.as_secs_f64(),
        b.report.progress.bytes_received as f64 / 1e6 / b.time.as_secs_f64(),
        verdict(b.time < Duration::from_secs(5))
    );
    if !b.report.pull_errors.is_empty() {
        println!("    !! {} pull errors", b.report.pull_errors.len());
    }

    println!();
    println!(
        "(c) {DEVICES} clerk tablets (10 per village) syncing concurrently for {secs} s, \
         {}-document hub",
        fmt_n(big.docs)
    );
    println!(
        "    each sync: a comment on one of the tablet's {OWN_DOCS} own requests (in turn) pushed, \
         the village's other tablets' new work pulled; tablets start caught up (cursor at the \
         log's end); the 50 tablets' own work (their stores, their fsyncs) runs on this machine \
         too"
    );
    print_load(&c, "sync", cores);
    println!(
        "    the hub alone: the same {DEVICES} tablets' next comments, made beforehand, sent by \
         plain HTTP clients (no store), one exchange per round (push one change + pull):"
    );
    print_load(&c2, "round", cores);
    println!(
        "    one plain client alone, {LONE_ROUNDS} rounds in a row (a comment on one of \
         {OWN_DOCS} requests each), nothing to pull: median \
         {}, p95 {} per round, hub CPU {} per round",
        fmt_d(lone.median),
        fmt_d(lone.p95),
        fmt_d(lone_cpu)
    );
    println!(
        "    the hub's serial part: pushes are checked (Automerge apply, save, reload, decode, \
         rules) in parallel, one at a time per document, and the pushes of concurrent rounds are \
         stored together by one group commit; one commit alone (one \
         SQLite transaction, fsync'd; {COMMITS} in a row, hub stopped) took median {}, p95 {}",
        fmt_d(commit_time.median),
        fmt_d(commit_time.p95)
    );
    println!("    load average after (c): {}", load_average());

    println!();
    println!(
        "(d) the hub process's memory, {}-document hub ({:.0} MB database)",
        fmt_n(big.docs),
        db_bytes as f64 / 1e6
    );
    for (when, m) in &memory {
        println!(
            "    {:<44} VmRSS {:>7.1} MB   VmHWM (peak) {:>7.1} MB",
            when,
            m.rss_kb as f64 / 1024.0,
            m.hwm_kb as f64 / 1024.0
        );
    }
}

const COMMITS: usize = 200;

/// The cost of the hub's serial part alone: commits of one small change to a document, in a
/// row, on the stopped hub's data (a copy).
fn writer_commits(hub_dir: &Path) -> Stats {
    use bianmin_document::DocKind;
    use bianmin_server::storage::Commit;
    let storage = SqliteStorage::open(hub_dir).expect("open the hub");
    let doc_id = Uuid::new_v4();
    let snapshot = vec![7u8; 2_000];
    let mut times = Vec::with_capacity(COMMITS);
    for i in 0..COMMITS {
        let mut hash = [0u8; 32];
        hash[..16].copy_from_slice(doc_id.as_bytes());
        hash[16..24].copy_from_slice(&(i as u64).to_le_bytes());
        let changes = [(hash, [0x85, 0x6f, 0x4a, 0x83].repeat(80))];
        let t = Instant::now();
        storage
            .commit(&Commit {
                doc_id,
                kind: DocKind::Request,
                village: EAST,
                resident_user: None,
                snapshot: &snapshot,
                changes: &changes,
                device_id: "bench-writer",
                user_id: "bench-writer",
                received_at: 0,
                index: None,
            })
            .expect("commit");
        times.push(t.elapsed());
    }
    stats(times)
}

/// Adds the users of (b) and (c) to a (stopped) hub and issues their enrolment codes.
fn prepare_users(hub_dir: &Path) -> (String, Vec<(&'static str, String)>) {
    let storage = SqliteStorage::open(hub_dir).expect("open the hub");
    let day = Duration::from_secs(24 * 3600);
    let name = format!("bench-fresh-{}", Uuid::new_v4().simple());
    admin::add_user(&storage, &name, "a new East tablet", Role::Clerk, EAST).expect("user");
    let fresh = admin::issue_enrolment_code(&storage, &name, day).expect("code");
    (fresh, add_load_users(&storage, DEVICES))
}

/// Points a cached tablet at the running hub.
fn open_tablet(path: &Path, url: &str) -> Store {
    let mut store = Store::open(path).expect("open the tablet");
    let (_, token) = store
        .server()
        .expect("server")
        .expect("the tablet is enrolled");
    store.set_server(url, &token).expect("set the server");
    store
}

// ---------------------------------------------------------------------------------------------
// (a) one clerk's sync.

struct Rounds {
    village_docs: usize,
    hub_cpu: Duration,
    time: Stats,
    exchanges: u32,
    sent: u64,
    received: u64,
    problems: usize,
}

fn measure_rounds(hub: &HubProcess, tablet: &Path) -> Rounds {
    let store = Mutex::new(open_tablet(tablet, &hub.url));
    let ids = store.lock().unwrap().document_ids().expect("ids");
    let opts = quiet_opts();
    let mut rng = StdRng::seed_from_u64(7);
    let mut times = Vec::with_capacity(ROUNDS);
    let (mut exchanges, mut sent, mut received, mut bad) = (0, 0, 0, 0);
    let mut hub_cpu = Duration::ZERO;
    // Anything left over (there should be nothing) is not counted.
    client::sync(&store, &opts, &mut |_| {}).expect("a first sync");
    for round in 0..WARMUP_ROUNDS + ROUNDS {
        {
            let mut s = store.lock().unwrap();
            for id in ids.sample(&mut rng, CHANGED_PER_ROUND) {
                s.comment(
                    *id,
                    &format!("Round {round}: called the applicant, the certificate is ready."),
                )
                .expect("comment");
            }
        }
        let cpu = hub.cpu();
        let t = Instant::now();
        let report = client::sync(&store, &opts, &mut |_| {}).expect("sync");
        let took = t.elapsed();
        let cpu = hub.cpu().saturating_sub(cpu);
        bad += problems(&report);
        if report.accepted != CHANGED_PER_ROUND {
            eprintln!("    only {} of the documents accepted", report.accepted);
        }
        if round >= WARMUP_ROUNDS {
            times.push(took);
            hub_cpu += cpu;
            exchanges = exchanges.max(report.progress.rounds);
            sent += report.progress.bytes_sent;
            received += report.progress.bytes_received;
        }
    }
    Rounds {
        village_docs: ids.len(),
        hub_cpu: hub_cpu / ROUNDS as u32,
        time: stats(times),
        exchanges,
        sent: sent / ROUNDS as u64,
        received: received / ROUNDS as u64,
        problems: bad,
    }
}

// ---------------------------------------------------------------------------------------------
// (b) a fresh tablet.

struct Fresh {
    enrol: Duration,
    time: Duration,
    docs: usize,
    report: SyncReport,
}

fn fresh_pull(url: &str, code: &str, dir: &Path) -> Fresh {
    let t = Instant::now();
    let store = client::enroll(
        dir.join("fresh-east.db"),
        url,
        code,
        "new East tablet",
        &SyncOptions::default(),
    )
    .expect("enrol");
    let enrol = t.elapsed();
    let store = Mutex::new(store);
    let t = Instant::now();
    let report = client::sync(&store, &SyncOptions::default(), &mut |_| {}).expect("first sync");
    let time = t.elapsed();
    let docs = store.lock().unwrap().counts().expect("counts").0 as usize;
    Fresh {
        enrol,
        time,
        docs,
        report,
    }
}

fn plain_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One round as a tablet would send it (its token, its cursor, the protocol's JSON), pushing
/// one change of one document; the answer is decoded, not stored. With the bytes of both bodies.
fn plain_round(
    agent: &ureq::Agent,
    url: &str,
    auth: &str,
    cursor: u64,
    reference_version: u64,
    doc: Uuid,
    change: Vec<u8>,
) -> Result<(SyncResponse, u64, u64), String> {
    let body = serde_json::to_vec(&SyncRequest {
        pull_budget: None,
        protocol: PROTOCOL_VERSION,
        cursor,
        reference_version,
        push: vec![PushDoc {
            doc,
            changes: vec![B64(change)],
            saved: None,
        }],
    })
    .map_err(|e| e.to_string())?;
    let mut r = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Authorization", auth)
        .send(&body[..])
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let bytes = r
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let res = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    Ok((res, body.len() as u64, bytes.len() as u64))
}

const LONE_ROUNDS: usize = 200;

/// One plain client alone, rounds in a row, each pushing one comment on one of the requests the
/// tablet files for this (in turn), with nothing to pull (a cursor beyond the log's end): the hub's time for one
/// push when nobody else is waiting. With the hub's CPU per round.
fn lone_client(hub: &HubProcess, tablet: &Mutex<Store>, village: &str) -> (Stats, Duration) {
    let mut s = tablet.lock().unwrap();
    let (_, token) = s.server().expect("server").expect("enrolled");
    let reference = s.reference_version().expect("reference version");
    let mut rng = StdRng::seed_from_u64(5);
    let mut filing = Vec::new();
    let ids: Vec<Uuid> = (0..OWN_DOCS)
        .map(|i| {
            let id = s
                .file_request(new_request(&mut rng, &grids_of(village), i))
                .expect("file")
                .id;
            for change in s.changes_since(id, &[]).expect("changes") {
                filing.push((id, change));
            }
            id
        })
        .collect();
    let mut comments = Vec::with_capacity(LONE_ROUNDS);
    for n in 0..LONE_ROUNDS {
        let id = ids[n % ids.len()];
        let before = s.heads(id).expect("heads").expect("held");
        s.comment(id, &format!("Note {n}: documents checked."))
            .expect("comment");
        for change in s.changes_since(id, &before).expect("changes") {
            comments.push((id, change));
        }
    }
    drop(s);
    let agent = plain_agent();
    let url = format!("{}/api/v1/sync", hub.url);
    let auth = format!("Bearer {token}");
    let cursor = i64::MAX as u64;
    for (id, change) in filing {
        plain_round(&agent, &url, &auth, cursor, reference, id, change).expect("file");
    }
    let cpu = hub.cpu();
    let mut times = Vec::with_capacity(LONE_ROUNDS);
    for (id, change) in comments {
        let t = Instant::now();
        let (res, ..) =
            plain_round(&agent, &url, &auth, cursor, reference, id, change).expect("round");
        times.push(t.elapsed());
        if !matches!(res.results.first(), Some(PushResult::Accepted { .. })) {
            eprintln!("    push not accepted: {:?}", res.results.first());
        }
    }
    let cpu = hub.cpu().saturating_sub(cpu) / LONE_ROUNDS as u32;
    (stats(times), cpu)
}

/// A plain client's tablet identity and the changes it will send.
struct Prepared {
    token: String,
    cursor: u64,
    reference: u64,
    changes: Vec<(Uuid, Vec<u8>)>,
}

/// The hub alone: each tablet makes its next comments beforehand (each change taken with
/// `changes_since`), then a plain HTTP client per tablet sends them one per round, as the tablet
/// would (its token, its cursor, the protocol's JSON), and reads the answer without storing it.
fn hub_only(hub: &HubProcess, tablets: Tablets, duration: Duration) -> Sustained {
    // Enough for about 40 rounds per second per client (2,000/s in all); a client that runs
    // out stops early, and the rate is taken over the time until the last one stopped.
    let per_client = (duration.as_secs() as usize * 40).max(50);
    let prepared: Vec<Prepared> = std::thread::scope(|s| {
        let handles: Vec<_> = tablets
            .iter()
            .map(|(store, ids)| {
                s.spawn(move || {
                    let mut s = store.lock().unwrap();
                    let (_, token) = s.server().expect("server").expect("enrolled");
                    let mut changes = Vec::with_capacity(per_client);
                    for n in 0..per_client {
                        let id = ids[n % ids.len()];
                        let before = s.heads(id).expect("heads").expect("held");
                        s.comment(id, &format!("Call {n}: the applicant will come on Monday."))
                            .expect("comment");
                        let mut new = s.changes_since(id, &before).expect("changes");
                        assert_eq!(new.len(), 1, "one change per comment");
                        changes.push((id, new.remove(0)));
                    }
                    let cursor = s.sync_cursor().expect("cursor");
                    let reference = s.reference_version().expect("reference version");
                    Prepared {
                        token,
                        cursor,
                        reference,
                        changes,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a preparing thread"))
            .collect()
    });
    drop(tablets);
    let url = format!("{}/api/v1/sync", hub.url);
    let barrier = Barrier::new(prepared.len() + 1);
    let mut started = Instant::now();
    let (mut hub0, mut me0) = (Duration::ZERO, Duration::ZERO);
    let tallies: Vec<DeviceTally> = std::thread::scope(|s| {
        let handles: Vec<_> = prepared
            .into_iter()
            .map(|p| {
                let Prepared {
                    token,
                    mut cursor,
                    reference: reference_version,
                    changes,
                } = p;
                let barrier = &barrier;
                let url = &url;
                s.spawn(move || {
                    let agent = plain_agent();
                    let auth = format!("Bearer {token}");
                    let mut tally = DeviceTally::default();
                    barrier.wait();
                    let deadline = Instant::now() + duration;
                    for (id, change) in changes {
                        if Instant::now() >= deadline {
                            break;
                        }
                        let t = Instant::now();
                        let answer =
                            plain_round(&agent, url, &auth, cursor, reference_version, id, change);
                        let took = t.elapsed();
                        let (res, sent, received) = match answer {
                            Ok(r) => r,
                            Err(e) => {
                                eprintln!("    round failed: {e}");
                                tally.errors += 1;
                                break;
                            }
                        };
                        tally.times.push(took);
                        tally.exchanges += 1;
                        tally.sent += sent;
                        tally.received += received;
                        tally.new_changes +=
                            res.pull.iter().map(|p| p.changes.len()).sum::<usize>();
                        match res.results.first() {
                            Some(PushResult::Accepted { .. }) => tally.accepted += 1,
                            other => {
                                eprintln!("    push not accepted: {other:?}");
                                tally.problems += 1;
                                break;
                            }
                        }
                        cursor = res.cursor;
                    }
                    tally.finished = Some(Instant::now());
                    tally
                })
            })
            .collect();
        barrier.wait();
        eprintln!("    timed phase started");
        started = Instant::now();
        hub0 = hub.cpu();
        me0 = cpu_of("/proc/self/stat");
        handles
            .into_iter()
            .map(|h| h.join().expect("a client thread"))
            .collect()
    });
    summarise(
        tallies,
        started,
        hub.cpu().saturating_sub(hub0),
        cpu_of("/proc/self/stat").saturating_sub(me0),
    )
}
