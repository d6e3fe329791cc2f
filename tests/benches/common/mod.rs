//! What the sync benchmarks share (`sync.rs`, `instances.rs`, each including this file with
//! `#[path = "common/mod.rs"] mod common;`): the cached generated hubs under
//! `target/bench-hubs/` ([`ensure_hub`]), the real hub binary as a child process
//! ([`HubProcess`]), the sustained load of many tablets syncing at once ([`sustained`]) and
//! the formatting of the figures.

use bianmin_client_core::client::{self, SyncOptions, SyncReport};
use bianmin_client_core::{NewRequest, Store};
use bianmin_domain::{Action, AttrValue, Role, Timestamp};
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::{AppState, admin, app};
use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
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
pub const SMALL_DOCS: usize = 1_000;
/// East Village's share of a hub's documents, in percent.
const EAST_PERCENT: usize = 5;
/// The most requests one seed tablet files.
const SEED_CHUNK: usize = 5_000;
/// Seed tablets filing at the same time.
const SEED_WORKERS: usize = 4;
/// The requests each tablet of (c) files and then comments on in turn.
pub const OWN_DOCS: usize = 10;
pub const EAST: &str = "370883101201";

/// The demo villages: code, the clerk user the seed tablets belong to, name, households.
pub const VILLAGES: [(&str, &str, &str, usize); 5] = [
    (EAST, "clerk-east", "East", 412),
    ("370883101202", "clerk-west", "West", 286),
    ("370883101203", "clerk-nanling", "Nanling", 530),
    ("370883102201", "clerk-beishan", "Beishan", 198),
    ("370883102202", "clerk-hekou", "Hekou", 355),
];

pub fn print_load(c: &Sustained, unit: &str, cores: usize) {
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

pub fn env_number(name: &str, default: usize) -> usize {
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
pub fn bench_dir() -> PathBuf {
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

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn file_size(path: &Path) -> u64 {
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
pub struct Hub {
    pub dir: PathBuf,
    pub docs: usize,
    pub changes: usize,
    pub bytes: u64,
    pub how: String,
    pub villages: String,
}

impl Hub {
    pub fn hub_dir(&self) -> PathBuf {
        self.dir.join("hub")
    }

    pub fn east_store(&self) -> PathBuf {
        self.dir.join("east.db")
    }

    pub fn copy_to(&self, to: &Path) -> Hub {
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

pub fn ensure_hub(root: &Path, n: usize) -> Hub {
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
pub fn new_request(rng: &mut impl Rng, grids: &[String], n: usize) -> NewRequest {
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

pub fn grids_of(village: &str) -> Vec<String> {
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

/// The real `bianmin-server` binary serving in a child process (killed on drop).
pub struct HubProcess {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
}

#[derive(Clone, Copy)]
pub struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

/// How to start a [`HubProcess`] beyond its data directory; the default: on the embedded
/// SQLite database, its log (warnings and errors) on this process's stderr.
#[derive(Default)]
pub struct HubOptions<'a> {
    /// A PostgreSQL database and schema (`--database URL --database-schema NAME`).
    pub database: Option<(&'a str, &'a str)>,
    /// More arguments of `serve` (limits).
    pub serve_args: &'a [&'a str],
    /// A file for its log instead of stderr.
    pub log: Option<&'a Path>,
}

impl HubProcess {
    /// Starts `bianmin-server serve` on a free loopback port with `data_dir` and waits until
    /// it answers.
    pub fn start(bin: &Path, data_dir: &Path, options: &HubOptions) -> HubProcess {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut command = Command::new(bin);
        command.arg("--data-dir").arg(data_dir);
        if let Some((url, schema)) = options.database {
            command
                .args(["--database", url])
                .args(["--database-schema", schema]);
        }
        let log = match options.log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("the hub's log file")),
            None => Stdio::inherit(),
        };
        let child = command
            .args(["serve", "--listen", &addr.to_string()])
            .args(options.serve_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start bianmin-server");
        let mut hub = HubProcess {
            child,
            url: format!("http://{addr}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("{}/healthz", hub.url)).call().is_err() {
            if let Ok(Some(status)) = hub.child.try_wait() {
                panic!("bianmin-server exited ({status}) before it answered (see its log)");
            }
            assert!(Instant::now() < deadline, "bianmin-server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        hub
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn status(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default()
    }

    pub fn memory(&self) -> Memory {
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

    pub fn cpu(&self) -> Duration {
        cpu_of(&format!("/proc/{}/stat", self.pid()))
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat` (clock ticks of 10 ms).
pub fn cpu_of(stat_path: &str) -> Duration {
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

pub fn quiet_opts() -> SyncOptions {
    SyncOptions {
        attempts: 3,
        backoff: Duration::from_millis(100),
        ..SyncOptions::default()
    }
}

pub struct Stats {
    pub median: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

pub fn stats(mut v: Vec<Duration>) -> Stats {
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

pub fn problems(report: &SyncReport) -> usize {
    for r in &report.refused {
        eprintln!("    refused: {} {}", r.code, r.reason);
    }
    for (doc, e) in &report.pull_errors {
        eprintln!("    pull error on {doc}: {e}");
    }
    report.refused.len() + report.pull_errors.len()
}

// ---------------------------------------------------------------------------------------------
// (c) many tablets.

pub struct Sustained {
    pub syncs: usize,
    pub exchanges: u64,
    pub accepted: usize,
    pub new_changes: usize,
    pub sent: u64,
    pub received: u64,
    pub elapsed: Duration,
    pub latency: Stats,
    pub hub_cpu: Duration,
    pub client_cpu: Duration,
    pub errors: usize,
    pub problems: usize,
}

/// The tablets of (c), each with the requests it comments on.
pub type Tablets = Vec<(Mutex<Store>, Vec<Uuid>)>;

#[derive(Default)]
pub struct DeviceTally {
    pub times: Vec<Duration>,
    pub exchanges: u64,
    pub accepted: usize,
    pub new_changes: usize,
    pub sent: u64,
    pub received: u64,
    pub errors: usize,
    pub problems: usize,
    pub finished: Option<Instant>,
}

/// Adds `n` clerks, spread over the villages in turn, to a (stopped) hub and issues their
/// enrolment codes: the busy tablets of [`sustained`].
pub fn add_load_users(storage: &dyn Storage, n: usize) -> Vec<(&'static str, String)> {
    let day = Duration::from_secs(24 * 3600);
    (0..n)
        .map(|k| {
            let (village, ..) = VILLAGES[k % VILLAGES.len()];
            let name = format!("bench-load-{k}-{}", Uuid::new_v4().simple());
            admin::add_user(storage, &name, "a busy tablet", Role::Clerk, village).expect("user");
            let code = admin::issue_enrolment_code(storage, &name, day).expect("code");
            (village, code)
        })
        .collect()
}

/// The last number of the change log of the SQLite hub database `db` (read-only, while the
/// hub serves it).
pub fn sqlite_log_end(db: &Path) -> u64 {
    let end: i64 =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| {
                c.query_row("SELECT COALESCE(MAX(seq), 0) FROM change_log", [], |r| {
                    r.get(0)
                })
            })
            .expect("the log's end");
    end as u64
}

/// Sustained load: a tablet per code, enrolled through `hubs` in turn (instances of one hub,
/// or one hub), syncs again and again for `duration`, all at once, each sync pushing a comment
/// on one of its own requests and pulling its village's new work. The tablets start caught up
/// (their cursor at `log_end()`, read once they are enrolled). `mark` is called when the timed
/// phase starts and again when it ends, for the caller's own meters. The CPU figures are the
/// hubs' (summed) and this process's (the tablets').
pub fn sustained(
    hubs: &[HubProcess],
    codes: &[(&'static str, String)],
    dir: &Path,
    log_end: &dyn Fn() -> u64,
    duration: Duration,
    mark: &mut dyn FnMut(),
) -> (Sustained, Tablets) {
    std::fs::create_dir_all(dir).expect("a folder for the tablets");
    let opts = quiet_opts();
    let mut devices = Vec::new();
    for (k, (village, code)) in codes.iter().enumerate() {
        let store = client::enroll(
            dir.join(format!("tablet-{k}.db")),
            &hubs[k % hubs.len()].url,
            code,
            &format!("busy tablet {k} of {village}"),
            &opts,
        )
        .expect("enrol");
        devices.push(store);
    }
    // Caught up: the cursor at the end of the hub's log, as if the tablets had synced before.
    let end = log_end();
    let hub_cpu = || hubs.iter().map(HubProcess::cpu).sum::<Duration>();
    let mut rng = StdRng::seed_from_u64(11);
    let mut own = Vec::new();
    for (store, (village, _)) in devices.iter_mut().zip(codes) {
        store.set_sync_cursor(end).expect("cursor");
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
        hub0 = hub_cpu();
        me0 = cpu_of("/proc/self/stat");
        mark();
        handles
            .into_iter()
            .map(|h| h.join().expect("a tablet thread"))
            .collect()
    });
    let (hub1, me1) = (hub_cpu(), cpu_of("/proc/self/stat"));
    mark();
    let out = summarise(
        tallies,
        started,
        hub1.saturating_sub(hub0),
        me1.saturating_sub(me0),
    );
    (out, devices.into_iter().zip(own).collect())
}

pub fn summarise(
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

// ---------------------------------------------------------------------------------------------
// Formatting.

pub fn fmt_n(n: usize) -> String {
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

pub fn fmt_d(d: Duration) -> String {
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

pub fn fmt_bytes(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{:.2} MB", b as f64 / 1e6)
    } else if b >= 1_000 {
        format!("{:.1} KB", b as f64 / 1e3)
    } else {
        format!("{b} B")
    }
}
