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

use bianmin_client_core::client::{self, SyncOptions, SyncReport};
use bianmin_client_core::{NewRequest, Store};
use bianmin_domain::{Action, AttrValue, Role, Timestamp};
use bianmin_protocol::{B64, PROTOCOL_VERSION, PushDoc, PushResult, SyncRequest, SyncResponse};
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::{AppState, admin, app};
use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngExt, SeedableRng};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Bump when the way hubs are generated changes, so cached hubs are rebuilt (2: hubs hold the
/// document index, so the measured hub does not index 100,000 documents while measured; 3:
/// requests are filed with every material their item requires, as acceptance now needs).
const GENERATOR_VERSION: u32 = 3;
const SMALL_DOCS: usize = 1_000;
/// East Village's share of a hub's documents, in percent.
const EAST_PERCENT: usize = 5;
/// The most requests one seed tablet files.
const SEED_CHUNK: usize = 5_000;
/// Seed tablets filing at the same time.
const SEED_WORKERS: usize = 4;
const CHANGED_PER_ROUND: usize = 10;
const WARMUP_ROUNDS: usize = 5;
const ROUNDS: usize = 50;
const DEVICES: usize = 50;
/// The requests each tablet of (c) files and then comments on in turn.
const OWN_DOCS: usize = 10;
const EAST: &str = "370883101201";

/// The demo villages: code, the clerk user the seed tablets belong to, name, households.
const VILLAGES: [(&str, &str, &str, usize); 5] = [
    (EAST, "clerk-east", "East", 412),
    ("370883101202", "clerk-west", "West", 286),
    ("370883101203", "clerk-nanling", "Nanling", 530),
    ("370883102201", "clerk-beishan", "Beishan", 198),
    ("370883102202", "clerk-hekou", "Hekou", 355),
];

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
        let hub = HubProcess::start(&bin, &small_work.hub_dir());
        measure_rounds(&hub, &small_work.east_store())
    };

    // Everything else on the large hub.
    let big_work = big.copy_to(&work.path().join("big"));
    let (fresh_code, load_codes) = prepare_users(&big_work.hub_dir());
    let hub = HubProcess::start(&bin, &big_work.hub_dir());
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
    let (c, tablets) = sustained(
        &hub,
        &load_codes,
        &work.path().join("load"),
        &big_work.hub_dir().join("bianmin.db"),
        Duration::from_secs(secs),
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

fn print_load(c: &Sustained, unit: &str, cores: usize) {
    let per = |x: f64| x / c.syncs.max(1) as f64;
    let rate = c.syncs as f64 / c.elapsed.as_secs_f64();
    println!(
        "    {} {unit}s in {} = {rate:.0} {unit}s/s ({:.0} HTTP exchanges/s, {:.0} pushed \
         documents accepted/s); target >= 500/s: {}",
        fmt_n(c.syncs),
        fmt_d(c.elapsed),
        c.exchanges as f64 / c.elapsed.as_secs_f64(),
        c.accepted as f64 / c.elapsed.as_secs_f64(),
        if rate >= 500.0 { "met" } else { "NOT met" }
    );
    println!(
        "    latency per {unit}: median {}, p95 {}, p99 {}, max {}",
        fmt_d(c.latency.median),
        fmt_d(c.latency.p95),
        fmt_d(c.latency.p99),
        fmt_d(c.latency.max)
    );
    println!(
        "    per {unit}: {:.1} changes pulled, {} sent, {} received",
        per(c.new_changes as f64),
        fmt_bytes(per(c.sent as f64) as u64),
        fmt_bytes(per(c.received as f64) as u64)
    );
    let hub_ms = per(c.hub_cpu.as_secs_f64() * 1e3);
    println!(
        "    CPU: hub {:.1} s ({:.0} % of {cores} CPUs), {hub_ms:.2} ms per {unit}; clients (this \
         process) {:.1} s ({:.0} %), {:.2} ms per {unit}",
        c.hub_cpu.as_secs_f64(),
        100.0 * c.hub_cpu.as_secs_f64() / c.elapsed.as_secs_f64() / cores as f64,
        c.client_cpu.as_secs_f64(),
        100.0 * c.client_cpu.as_secs_f64() / c.elapsed.as_secs_f64() / cores as f64,
        per(c.client_cpu.as_secs_f64() * 1e3)
    );
    println!(
        "    hub CPU ceiling: with all {cores} CPUs to itself, at most ~{:.0} {unit}s/s \
         ({:.0} per CPU)",
        cores as f64 * 1e3 / hub_ms,
        1e3 / hub_ms
    );
    if c.errors + c.problems > 0 {
        println!(
            "    !! {} failed {unit}s, {} refused pushes or pull errors (see stderr)",
            c.errors, c.problems
        );
    }
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace(['_', ','], "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number")),
        Err(_) => default,
    }
}

/// `target/bench-hubs`, beside this binary's profile folder.
fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // <target>/<profile>/deps/sync-<hash>
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-hubs")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// Copies a SQLite database with its WAL, if any.
fn copy_db(from: &Path, to: &Path) {
    for suffix in ["", "-wal"] {
        let f = with_suffix(from, suffix);
        if f.exists() {
            std::fs::copy(&f, with_suffix(to, suffix)).expect("copy a database");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Building (or reusing) a hub.

/// A cached hub: `hub/` (the data directory) and `east.db` (the East seed tablet's store).
struct Hub {
    dir: PathBuf,
    docs: usize,
    changes: usize,
    bytes: u64,
    how: String,
    villages: String,
}

impl Hub {
    fn hub_dir(&self) -> PathBuf {
        self.dir.join("hub")
    }

    fn east_store(&self) -> PathBuf {
        self.dir.join("east.db")
    }

    fn copy_to(&self, to: &Path) -> Hub {
        std::fs::create_dir_all(to.join("hub")).expect("a work copy");
        copy_db(
            &self.hub_dir().join("bianmin.db"),
            &to.join("hub").join("bianmin.db"),
        );
        copy_db(&self.east_store(), &to.join("east.db"));
        Hub {
            dir: to.to_path_buf(),
            docs: self.docs,
            changes: self.changes,
            bytes: self.bytes,
            how: self.how.clone(),
            villages: self.villages.clone(),
        }
    }
}

/// How many requests each village gets: East its fixed share, the rest by households.
fn allocation(n: usize) -> Vec<usize> {
    let east = n * EAST_PERCENT / 100;
    let rest = n - east;
    let weight: usize = VILLAGES[1..].iter().map(|v| v.3).sum();
    let mut out = vec![east];
    let mut given = 0;
    for (i, v) in VILLAGES[1..].iter().enumerate() {
        let share = if i == VILLAGES.len() - 2 {
            rest - given
        } else {
            rest * v.3 / weight
        };
        given += share;
        out.push(share);
    }
    out
}

fn describe_villages(n: usize) -> String {
    allocation(n)
        .iter()
        .zip(VILLAGES)
        .map(|(count, v)| format!("{} {}", v.2, fmt_n(*count)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ensure_hub(root: &Path, n: usize) -> Hub {
    let dir = root.join(format!("hub-{n}-gen{GENERATOR_VERSION}"));
    let marker = dir.join("complete.txt");
    let cached = marker.exists()
        && dir.join("east.db").exists()
        && SqliteStorage::open(&dir.join("hub"))
            .and_then(|s| s.counts())
            .is_ok_and(|(docs, _)| docs as usize == n);
    let how = if cached {
        let note = std::fs::read_to_string(&marker).unwrap_or_default();
        eprintln!("reusing the cached {n}-document hub {}", dir.display());
        format!("reused the cache {} ({})", dir.display(), note.trim())
    } else {
        let building = root.join(format!("hub-{n}-gen{GENERATOR_VERSION}.building"));
        let _ = std::fs::remove_dir_all(&building);
        let _ = std::fs::remove_dir_all(&dir);
        let took = build_hub(&building, n);
        let note = format!(
            "built in {}, {:.0} documents/s",
            fmt_d(took),
            n as f64 / took.as_secs_f64()
        );
        std::fs::write(building.join("complete.txt"), &note).expect("write the marker");
        std::fs::rename(&building, &dir).expect("move the built hub into place");
        format!("{note}; cached at {}", dir.display())
    };
    let storage = SqliteStorage::open(&dir.join("hub")).expect("open the hub");
    let (docs, changes) = storage.counts().expect("counts");
    drop(storage);
    Hub {
        bytes: file_size(&dir.join("hub").join("bianmin.db"))
            + file_size(&dir.join("hub").join("bianmin.db-wal")),
        dir,
        docs: docs as usize,
        changes: changes as usize,
        how,
        villages: describe_villages(n),
    }
}

/// A hub served in this process (for building), like `tests/src/hub.rs`.
struct InProcessHub {
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl InProcessHub {
    fn start(storage: Arc<dyn Storage>) -> InProcessHub {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = app(AppState::new(storage));
        runtime.spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        InProcessHub {
            url: format!("http://{addr}"),
            runtime,
        }
    }
}

struct SeedJob {
    village: &'static str,
    docs: usize,
    index: usize,
    code: String,
    /// The East tablet: kept, and it pulls like any tablet.
    keep: bool,
}

fn build_hub(dir: &Path, n: usize) -> Duration {
    eprintln!(
        "building a {n}-document hub at {} ({})...",
        dir.display(),
        describe_villages(n)
    );
    let started = Instant::now();
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(&dir.join("hub")).expect("hub storage"));
    admin::load_demo(storage.as_ref()).expect("demo data");
    for (code, user, name, _) in &VILLAGES[1..] {
        admin::add_user(
            storage.as_ref(),
            user,
            &format!("{name} Village clerk"),
            Role::Clerk,
            code,
        )
        .expect("add a clerk");
    }
    let mut jobs = Vec::new();
    for (v, count) in VILLAGES.iter().zip(allocation(n)) {
        let keep = v.0 == EAST;
        let chunk = if keep { count.max(1) } else { SEED_CHUNK };
        let mut left = count;
        let mut index = 0;
        while left > 0 || (keep && index == 0) {
            let docs = left.min(chunk);
            jobs.push(SeedJob {
                village: v.0,
                docs,
                index,
                code: admin::issue_enrolment_code(
                    storage.as_ref(),
                    v.1,
                    Duration::from_secs(24 * 3600),
                )
                .expect("enrolment code"),
                keep,
            });
            left -= docs;
            index += 1;
        }
    }
    let hub = InProcessHub::start(storage.clone());
    let next = AtomicUsize::new(0);
    let filed = AtomicUsize::new(0);
    let pushed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..SEED_WORKERS.min(jobs.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    seed(job, &hub.url, dir, &filed, &pushed, n, started);
                }
            });
        }
    });
    let (docs, _) = storage.counts().expect("counts");
    assert_eq!(docs as usize, n, "every seeded document reached the hub");
    hub.runtime.shutdown_timeout(Duration::from_secs(5));
    let took = started.elapsed();
    drop(storage);
    took
}

/// The 2026 working days of the demo calendar, up to 20 November.
fn working_days() -> Vec<NaiveDate> {
    let cal = bianmin_domain::demo::calendar();
    let end = NaiveDate::from_ymd_opt(2026, 11, 20).expect("a date");
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .expect("a date")
        .iter_days()
        .take_while(|d| d.year() == 2026 && *d <= end)
        .filter(|d| cal.is_working_day(*d))
        .collect()
}

/// A varied, valid request (with every material its item requires, so that it can be
/// accepted): six service items of both levels, the village's grids.
fn new_request(rng: &mut impl Rng, grids: &[String], n: usize) -> NewRequest {
    const NAMES: [&str; 6] = ["王秀英", "李建国", "张伟", "刘芳", "欧阳明丰", "陈静"];
    let text = |s: String| AttrValue::Text(s);
    let num = |x: u32| AttrValue::Number(f64::from(x));
    let (item, attributes, materials): (&str, Vec<(&str, AttrValue)>, Vec<&str>) =
        match rng.random_range(0..100) {
            0..30 => (
                "CIV-RESIDENCE-CERT",
                vec![("purpose", text(format!("school enrolment {n}")))],
                vec!["ID card"],
            ),
            30..45 => (
                "AID-DIBAO",
                vec![
                    ("household_members", num(rng.random_range(1..7))),
                    ("monthly_income", num(rng.random_range(0..3000))),
                ],
                vec![
                    "ID card",
                    "Household register (hukou) booklet",
                    "Income statement",
                    "Authorisation to check family finances",
                ],
            ),
            45..60 => (
                "SOC-CARD",
                vec![(
                    "reason",
                    text(["first card", "lost", "damaged"][rng.random_range(0..3)].into()),
                )],
                vec!["ID card", "Recent photo"],
            ),
            60..70 => (
                "AID-TEMP",
                vec![("emergency", text("house fire, medical bills".into()))],
                vec![
                    "ID card",
                    "Proof of emergency (medical bill, disaster report)",
                ],
            ),
            70..85 => (
                "EMP-REGISTER",
                vec![(
                    "status",
                    text(["employed", "unemployed"][rng.random_range(0..2)].into()),
                )],
                vec!["ID card"],
            ),
            _ => (
                "CIV-MEDIATION",
                vec![
                    ("parties", text("two neighbouring households".into())),
                    ("summary", text(format!("boundary of plot {n}"))),
                ],
                vec![],
            ),
        };
    NewRequest {
        item_code: item.into(),
        applicant_name: NAMES[rng.random_range(0..NAMES.len())].into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: grids[rng.random_range(0..grids.len())].clone(),
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        materials_received: materials.into_iter().map(String::from).collect(),
        resident_user: None,
        submit: true,
    }
}

fn grids_of(village: &str) -> Vec<String> {
    bianmin_domain::demo::directory()
        .village(village)
        .expect("a demo village")
        .grids
        .clone()
}

/// One seed tablet: enrols, files `job.docs` requests over 2026 and moves them on, then
/// pushes them in rounds of 1,000 documents.
fn seed(
    job: &SeedJob,
    url: &str,
    dir: &Path,
    filed: &AtomicUsize,
    pushed: &AtomicUsize,
    total: usize,
    started: Instant,
) {
    let path = if job.keep {
        dir.join("east.db")
    } else {
        dir.join(format!("seed-{}-{}.db", job.village, job.index))
    };
    let opts = SyncOptions {
        docs_per_round: 1000,
        idle: Duration::from_secs(600),
        ..SyncOptions::default()
    };
    let name = format!("seed tablet {} #{}", job.village, job.index + 1);
    let mut store = client::enroll(&path, url, &job.code, &name, &opts).expect("enrol a seed");
    if !job.keep {
        // Push only: never download the village's other seed tablets' work.
        store
            .set_sync_cursor(i64::MAX as u64)
            .expect("set the cursor");
    }
    let now = Arc::new(AtomicI64::new(0));
    let read = now.clone();
    store.set_clock(Arc::new(move || Timestamp(read.load(Ordering::Relaxed))));
    let days = working_days();
    let grids = grids_of(job.village);
    let village_level = |code: &str| matches!(code, "CIV-RESIDENCE-CERT" | "CIV-MEDIATION");
    let mut rng = StdRng::seed_from_u64(
        job.index as u64 * 1_000_003 + job.village.parse::<u64>().expect("digits"),
    );
    for i in 0..job.docs {
        let day = i * days.len() / job.docs.max(1);
        let at = |d: usize| Timestamp::at_noon(days[d.min(days.len() - 1)]).0 - 3 * 3_600_000;
        now.store(at(day) + (i % 2000) as i64 * 10_000, Ordering::Relaxed);
        let new = new_request(&mut rng, &grids, i);
        let item = new.item_code.clone();
        let id = store.file_request(new).expect("file a request").id;
        now.store(
            at(day + rng.random_range(0..4)) + (i % 2000) as i64 * 10_000 + 60_000,
            Ordering::Relaxed,
        );
        let roll = rng.random_range(0..100);
        if roll < 60 {
            store.apply(id, Action::Accept).expect("accept");
            if roll < 10 {
                let next = if village_level(&item) {
                    Action::Complete
                } else {
                    Action::Forward
                };
                store.apply(id, next).expect("complete or forward");
            }
        } else if roll < 65 {
            store
                .apply(
                    id,
                    Action::Withdraw {
                        reason: "no longer needed".into(),
                    },
                )
                .expect("withdraw");
        } else if roll < 70 {
            store
                .apply(
                    id,
                    Action::RefuseToAccept {
                        reason: "not resident in the village".into(),
                    },
                )
                .expect("refuse");
        }
        if rng.random_range(0..100) < 20 {
            store
                .comment(
                    id,
                    "Called the applicant: the originals are to be brought in.",
                )
                .expect("comment");
        }
        let f = filed.fetch_add(1, Ordering::Relaxed) + 1;
        if f.is_multiple_of((total / 20).max(1)) {
            eprintln!(
                "    {f:>7} / {total} filed, {} pushed, {} elapsed",
                pushed.load(Ordering::Relaxed),
                fmt_d(started.elapsed())
            );
        }
    }
    store.set_clock(Arc::new(Timestamp::now));
    let store = Mutex::new(store);
    let report = client::sync(&store, &opts, &mut |_| {}).expect("push the seed");
    assert_eq!(report.accepted, job.docs, "every seeded document accepted");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert!(report.pull_errors.is_empty(), "{:?}", report.pull_errors);
    pushed.fetch_add(job.docs, Ordering::Relaxed);
    drop(store);
    if !job.keep {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&path, suffix));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The hub under measurement: the real binary.

struct HubProcess {
    child: Child,
    url: String,
}

#[derive(Clone, Copy)]
struct Memory {
    rss_kb: u64,
    hwm_kb: u64,
}

impl HubProcess {
    fn start(bin: &Path, data_dir: &Path) -> HubProcess {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", &addr.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bianmin-server");
        let hub = HubProcess {
            child,
            url: format!("http://{addr}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("{}/healthz", hub.url)).call().is_err() {
            assert!(Instant::now() < deadline, "bianmin-server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        hub
    }

    fn status(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default()
    }

    fn memory(&self) -> Memory {
        let status = self.status();
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kb: kb("VmRSS:"),
            hwm_kb: kb("VmHWM:"),
        }
    }

    fn cpu(&self) -> Duration {
        cpu_of(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat` (clock ticks of 10 ms).
fn cpu_of(stat_path: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of the file; after the command name the first is field 3.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Adds the users of (b) and (c) to a (stopped) hub and issues their enrolment codes.
fn prepare_users(hub_dir: &Path) -> (String, Vec<(&'static str, String)>) {
    let storage = SqliteStorage::open(hub_dir).expect("open the hub");
    let day = Duration::from_secs(24 * 3600);
    let name = format!("bench-fresh-{}", Uuid::new_v4().simple());
    admin::add_user(&storage, &name, "a new East tablet", Role::Clerk, EAST).expect("user");
    let fresh = admin::issue_enrolment_code(&storage, &name, day).expect("code");
    let mut load = Vec::new();
    for k in 0..DEVICES {
        let (village, ..) = VILLAGES[k % VILLAGES.len()];
        let name = format!("bench-load-{k}-{}", Uuid::new_v4().simple());
        admin::add_user(&storage, &name, "a busy tablet", Role::Clerk, village).expect("user");
        load.push((
            village,
            admin::issue_enrolment_code(&storage, &name, day).expect("code"),
        ));
    }
    (fresh, load)
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

fn quiet_opts() -> SyncOptions {
    SyncOptions {
        attempts: 3,
        backoff: Duration::from_millis(100),
        ..SyncOptions::default()
    }
}

// ---------------------------------------------------------------------------------------------
// (a) one clerk's sync.

struct Stats {
    median: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats {
        median: pct(&v, 50.0),
        p95: pct(&v, 95.0),
        p99: pct(&v, 99.0),
        max: v.last().copied().unwrap_or_default(),
    }
}

/// The `p`-th percentile of sorted samples (nearest rank).
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Rounds {
    village_docs: usize,
    hub_cpu: Duration,
    time: Stats,
    exchanges: u32,
    sent: u64,
    received: u64,
    problems: usize,
}

fn problems(report: &SyncReport) -> usize {
    for r in &report.refused {
        eprintln!("    refused: {} {}", r.code, r.reason);
    }
    for (doc, e) in &report.pull_errors {
        eprintln!("    pull error on {doc}: {e}");
    }
    report.refused.len() + report.pull_errors.len()
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

// ---------------------------------------------------------------------------------------------
// (c) many tablets.

struct Sustained {
    syncs: usize,
    exchanges: u64,
    accepted: usize,
    new_changes: usize,
    sent: u64,
    received: u64,
    elapsed: Duration,
    latency: Stats,
    hub_cpu: Duration,
    client_cpu: Duration,
    errors: usize,
    problems: usize,
}

/// The tablets of (c), each with the requests it comments on.
type Tablets = Vec<(Mutex<Store>, Vec<Uuid>)>;

#[derive(Default)]
struct DeviceTally {
    times: Vec<Duration>,
    exchanges: u64,
    accepted: usize,
    new_changes: usize,
    sent: u64,
    received: u64,
    errors: usize,
    problems: usize,
    finished: Option<Instant>,
}

fn sustained(
    hub: &HubProcess,
    codes: &[(&'static str, String)],
    dir: &Path,
    db: &Path,
    duration: Duration,
) -> (Sustained, Tablets) {
    std::fs::create_dir_all(dir).expect("a folder for the tablets");
    let opts = quiet_opts();
    let mut devices = Vec::new();
    for (k, (village, code)) in codes.iter().enumerate() {
        let store = client::enroll(
            dir.join(format!("tablet-{k}.db")),
            &hub.url,
            code,
            &format!("busy tablet {k} of {village}"),
            &opts,
        )
        .expect("enrol");
        devices.push(store);
    }
    // Caught up: the cursor at the end of the hub's log, as if the tablets had synced before.
    let end: i64 =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| {
                c.query_row("SELECT COALESCE(MAX(seq), 0) FROM change_log", [], |r| {
                    r.get(0)
                })
            })
            .expect("the log's end");
    let mut rng = StdRng::seed_from_u64(11);
    let mut own = Vec::new();
    for (store, (village, _)) in devices.iter_mut().zip(codes) {
        store.set_sync_cursor(end as u64).expect("cursor");
        let ids: Vec<Uuid> = (0..OWN_DOCS)
            .map(|i| {
                store
                    .file_request(new_request(&mut rng, &grids_of(village), i))
                    .expect("file")
                    .id
            })
            .collect();
        own.push(ids);
    }
    let devices: Vec<Mutex<Store>> = devices.into_iter().map(Mutex::new).collect();
    let barrier = Barrier::new(devices.len() + 1);
    let mut started = Instant::now();
    let (mut hub0, mut me0) = (Duration::ZERO, Duration::ZERO);
    let tallies: Vec<DeviceTally> = std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .iter()
            .zip(&own)
            .map(|(store, ids)| {
                let barrier = &barrier;
                let opts = &opts;
                s.spawn(move || {
                    let mut tally = DeviceTally::default();
                    // Push the tablet's own requests (not timed).
                    if let Err(e) = client::sync(store, opts, &mut |_| {}) {
                        eprintln!("    first sync failed: {e}");
                    }
                    barrier.wait();
                    let deadline = Instant::now() + duration;
                    let mut n = 0;
                    while Instant::now() < deadline {
                        store
                            .lock()
                            .unwrap()
                            .comment(
                                ids[n % ids.len()],
                                &format!("Visit {n}: the applicant was informed."),
                            )
                            .expect("comment");
                        let t = Instant::now();
                        match client::sync(store, opts, &mut |_| {}) {
                            Ok(r) => {
                                tally.times.push(t.elapsed());
                                tally.exchanges += u64::from(r.progress.rounds);
                                tally.accepted += r.accepted;
                                tally.new_changes += r.new_changes;
                                tally.sent += r.progress.bytes_sent;
                                tally.received += r.progress.bytes_received;
                                tally.problems += problems(&r);
                            }
                            Err(e) => {
                                eprintln!("    sync failed: {e}");
                                tally.errors += 1;
                            }
                        }
                        n += 1;
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
            .map(|h| h.join().expect("a tablet thread"))
            .collect()
    });
    let out = summarise(
        tallies,
        started,
        hub.cpu().saturating_sub(hub0),
        cpu_of("/proc/self/stat").saturating_sub(me0),
    );
    (out, devices.into_iter().zip(own).collect())
}

fn summarise(
    tallies: Vec<DeviceTally>,
    started: Instant,
    hub_cpu: Duration,
    client_cpu: Duration,
) -> Sustained {
    let finished = tallies
        .iter()
        .filter_map(|t| t.finished)
        .max()
        .unwrap_or(started);
    let mut all = Vec::new();
    let mut out = Sustained {
        syncs: 0,
        exchanges: 0,
        accepted: 0,
        new_changes: 0,
        sent: 0,
        received: 0,
        elapsed: finished - started,
        latency: stats(Vec::new()),
        hub_cpu,
        client_cpu,
        errors: 0,
        problems: 0,
    };
    for t in tallies {
        out.syncs += t.times.len();
        out.exchanges += t.exchanges;
        out.accepted += t.accepted;
        out.new_changes += t.new_changes;
        out.sent += t.sent;
        out.received += t.received;
        out.errors += t.errors;
        out.problems += t.problems;
        all.extend(t.times);
    }
    out.latency = stats(all);
    out
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

// ---------------------------------------------------------------------------------------------
// Formatting.

fn fmt_n(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_d(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

fn fmt_bytes(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{:.2} MB", b as f64 / 1e6)
    } else if b >= 1_000 {
        format!("{:.1} KB", b as f64 / 1e3)
    } else {
        format!("{b} B")
    }
}
