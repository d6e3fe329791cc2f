//! Store benchmarks, run by hand and read by a person (no assertion on time):
//!
//! ```text
//! cargo bench -p bianmin-client-core --bench store
//! BENCH_N=5000 cargo bench -p bianmin-client-core --bench store   # a quick check
//! ```
//!
//! (a) filing 10,000 requests into a fresh store; (b) building a 1,000-request store and a
//! `BENCH_N`-request one (default 100,000, a township reviewer's device) with varied states and
//! deadlines; (c) `Store::open`; (d) one page of the reviewer's list (accepted, nearest deadline
//! first), first and deep; (e) `request(id)`. The built stores are cached under
//! `target/bench-stores/` and reused when they still open with the right count; delete that
//! folder to rebuild them.

use bianmin_client_core::{
    NewRequest, Page, Reference, RequestFilter, RequestSort, SCHEMA_VERSION, Store, StoreConfig,
};
use bianmin_domain::{Action, AttrValue, Identity, Role, Status, Timestamp};
use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

const VILLAGE: &str = "370883101201";
const DEVICE_NO: u32 = 7;
/// Bump when the way stores are generated changes, so cached stores are rebuilt (2: requests
/// are filed with every material their item requires, as acceptance now needs).
const GENERATOR_VERSION: u32 = 2;
const FILE_N: usize = 10_000;
const SMALL_N: usize = 1_000;
const OPENS: usize = 20;
const LIST_RUNS: usize = 200;
const DETAIL_RUNS: usize = 200;
const DEEP_OFFSET: u32 = 5_000;

fn main() {
    let big_n: usize = match std::env::var("BENCH_N") {
        Ok(v) => v
            .trim()
            .parse()
            .expect("BENCH_N must be a number of requests"),
        Err(_) => 100_000,
    };
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).expect("create the bench-stores folder");
    println!("Bianmin client-core store benchmark");
    println!(
        "profile: {}; stores in {}",
        if cfg!(debug_assertions) {
            "debug (numbers are not representative)"
        } else {
            "release"
        },
        dir.display()
    );
    println!("each write is one SQLite transaction, WAL, synchronous=FULL (an fsync per commit)\n");

    // (a) Filing into a fresh store.
    let filing = bench_filing(&dir);

    // (b) Building the two stores.
    let small = ensure_store(&dir, SMALL_N);
    let big = ensure_store(&dir, big_n);

    // (c), (d), (e) on each.
    let small_m = measure(&small);
    let big_m = measure(&big);

    println!();
    println!("(a) filing {FILE_N} requests into a fresh store (file_request, submitted)");
    println!(
        "    total {}, {:.0} requests/s; per request median {}, p99 {}, max {}",
        fmt_d(filing.total),
        FILE_N as f64 / filing.total.as_secs_f64(),
        fmt_d(filing.median),
        fmt_d(filing.p99),
        fmt_d(filing.max)
    );
    println!();
    println!("(b) stores");
    for s in [&small, &big] {
        println!(
            "    {:>7} requests: {}; {:.1} MB; {}",
            fmt_n(s.n),
            s.how,
            s.bytes as f64 / 1e6,
            status_mix(&s.statuses, s.n)
        );
    }
    println!();
    let ns = fmt_n(small.n);
    let nb = fmt_n(big.n);
    println!(
        "{:<48} {:>12} {:>12} {:>8}",
        "",
        format!("{ns} req"),
        format!("{nb} req"),
        "ratio"
    );
    let row = |label: &str, a: Duration, b: Duration| {
        println!(
            "{:<48} {:>12} {:>12} {:>7.2}x",
            label,
            fmt_d(a),
            fmt_d(b),
            b.as_secs_f64() / a.as_secs_f64().max(1e-12)
        );
    };
    row(
        &format!("(c) Store::open, median of {OPENS}"),
        small_m.open.median,
        big_m.open.median,
    );
    row("    Store::open, p95", small_m.open.p95, big_m.open.p95);
    println!("(d) list accepted, nearest deadline first, 50 rows");
    row(
        &format!("    page 1 (offset 0), median of {LIST_RUNS}"),
        small_m.first_page.median,
        big_m.first_page.median,
    );
    row(
        "    page 1 (offset 0), p95",
        small_m.first_page.p95,
        big_m.first_page.p95,
    );
    row(
        &format!("    deep page (offset {DEEP_OFFSET}), median of {LIST_RUNS}"),
        small_m.deep_page.median,
        big_m.deep_page.median,
    );
    row(
        &format!("    deep page (offset {DEEP_OFFSET}), p95"),
        small_m.deep_page.p95,
        big_m.deep_page.p95,
    );
    println!(
        "{:<48} {:>12} {:>12}",
        "    rows returned: page 1 / deep page",
        format!("{} / {}", small_m.first_rows, small_m.deep_rows),
        format!("{} / {}", big_m.first_rows, big_m.deep_rows)
    );
    println!(
        "{:<48} {:>12} {:>12}",
        "    accepted requests in the store",
        fmt_n(small.statuses.get(&Status::Accepted).copied().unwrap_or(0)),
        fmt_n(big.statuses.get(&Status::Accepted).copied().unwrap_or(0))
    );
    row(
        &format!("(e) request(id), random ids, median of {DETAIL_RUNS}"),
        small_m.detail.median,
        big_m.detail.median,
    );
    row("    request(id), p95", small_m.detail.p95, big_m.detail.p95);
    if small_m.deep_rows == 0 {
        println!(
            "\nnote: the {ns}-request store has fewer than {DEEP_OFFSET} accepted requests, so its \
             deep page is empty (the query still runs)."
        );
    }
}

/// `target/bench-stores`, beside this binary's profile folder.
fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // <target>/<profile>/deps/store-<hash>
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-stores")
}

fn config() -> StoreConfig {
    StoreConfig {
        identity: Identity::new("clerk-1", Role::Clerk, VILLAGE, "tablet-bench").unwrap(),
        device_no: DEVICE_NO,
        reference: Reference::demo(),
    }
}

/// The 2026 working days of the demo calendar.
fn working_days_2026() -> Vec<NaiveDate> {
    let cal = bianmin_domain::demo::calendar();
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .iter_days()
        .take_while(|d| d.year() == 2026)
        .filter(|d| cal.is_working_day(*d))
        .collect()
}

/// A store clock the generator moves by hand.
fn fake_clock(store: &mut Store) -> Arc<AtomicI64> {
    let now = Arc::new(AtomicI64::new(0));
    let read = Arc::clone(&now);
    store.set_clock(Arc::new(move || Timestamp(read.load(Ordering::Relaxed))));
    now
}

/// A varied, valid request (with every material its item requires, so that it can be
/// accepted): six service items of both levels, three grids.
fn new_request(rng: &mut impl Rng, n: usize) -> NewRequest {
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
        grid: ["1组", "2组", "3组"][rng.random_range(0..3)].into(),
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        materials_received: materials.into_iter().map(String::from).collect(),
        resident_user: None,
        submit: true,
    }
}

struct Filing {
    total: Duration,
    median: Duration,
    p99: Duration,
    max: Duration,
}

fn bench_filing(dir: &Path) -> Filing {
    eprintln!("(a) filing {FILE_N} requests into a fresh store...");
    let tmp = tempfile::tempdir_in(dir).expect("a temporary folder");
    let mut store = Store::create(tmp.path().join("fresh.db"), config()).expect("create");
    let clock = fake_clock(&mut store);
    clock.store(
        Timestamp::at_noon(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()).0,
        Ordering::Relaxed,
    );
    let mut rng = StdRng::seed_from_u64(1);
    let requests: Vec<NewRequest> = (0..FILE_N).map(|i| new_request(&mut rng, i)).collect();
    let mut each = Vec::with_capacity(FILE_N);
    let started = Instant::now();
    let mut lap = Instant::now();
    for (i, r) in requests.into_iter().enumerate() {
        let t = Instant::now();
        store.file_request(r).expect("file a request");
        each.push(t.elapsed());
        if (i + 1) % 1000 == 0 {
            let wal = std::fs::metadata(tmp.path().join("fresh.db-wal")).map_or(0, |m| m.len());
            eprintln!(
                "    {:>6} filed; last 1000 at {:.0} requests/s; WAL {:.1} MB",
                i + 1,
                1000.0 / lap.elapsed().as_secs_f64(),
                wal as f64 / 1e6
            );
            lap = Instant::now();
        }
    }
    let total = started.elapsed();
    assert_eq!(store.counts().unwrap().0, FILE_N as u64);
    each.sort();
    Filing {
        total,
        median: pct(&each, 50.0),
        p99: pct(&each, 99.0),
        max: *each.last().unwrap(),
    }
}

struct Built {
    path: PathBuf,
    n: usize,
    how: String,
    bytes: u64,
    statuses: BTreeMap<Status, usize>,
}

fn store_len(path: &Path) -> Option<usize> {
    let store = Store::open(path).ok()?;
    Some(store.counts().ok()?.0 as usize)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// The cached store of `n` requests, built first if missing or incomplete.
fn ensure_store(dir: &Path, n: usize) -> Built {
    let name = format!("requests-{n}-schema{SCHEMA_VERSION}-gen{GENERATOR_VERSION}.db");
    let path = dir.join(name);
    let how = if path.exists() && store_len(&path) == Some(n) {
        eprintln!(
            "(b) reusing the cached {n}-request store {}",
            path.display()
        );
        format!("reused the cached {}", path.display())
    } else {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&path, suffix));
        }
        let building = with_suffix(&path, ".building");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&building, suffix));
        }
        let took = build_store(&building, n);
        for suffix in ["", "-wal", "-shm"] {
            let from = with_suffix(&building, suffix);
            if from.exists() {
                std::fs::rename(&from, with_suffix(&path, suffix)).expect("move the built store");
            }
        }
        format!(
            "built in {} ({:.0} requests/s, accepts included); cached at {}",
            fmt_d(took),
            n as f64 / took.as_secs_f64(),
            path.display()
        )
    };
    let store = Store::open(&path).expect("open the built store");
    assert_eq!(store.counts().unwrap().0 as usize, n);
    let mut statuses = BTreeMap::new();
    for s in Status::ALL {
        let mut count = 0;
        loop {
            let page = store
                .list_requests(
                    &RequestFilter {
                        status: Some(s),
                        ..RequestFilter::default()
                    },
                    RequestSort::ReceiptNo,
                    Page {
                        offset: count as u32,
                        limit: Page::MAX_LIMIT,
                    },
                )
                .unwrap();
            count += page.rows.len();
            if !page.has_more {
                break;
            }
        }
        if count > 0 {
            statuses.insert(s, count);
        }
    }
    drop(store);
    let bytes = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(with_suffix(&path, s)).ok())
        .map(|m| m.len())
        .sum();
    Built {
        path,
        n,
        how,
        bytes,
        statuses,
    }
}

/// Files `n` requests over the 2026 working days, in order, with a fake clock, and moves them
/// on: 60 % accepted (a sixth of those then completed at the village or forwarded), the rest
/// left submitted, withdrawn or refused.
fn build_store(path: &Path, n: usize) -> Duration {
    eprintln!("(b) building a {n}-request store at {}...", path.display());
    let days = working_days_2026();
    let village_level = |code: &str| matches!(code, "CIV-RESIDENCE-CERT" | "CIV-MEDIATION");
    let mut store = Store::create(path, config()).expect("create");
    let clock = fake_clock(&mut store);
    let mut rng = StdRng::seed_from_u64(n as u64);
    let started = Instant::now();
    let step = (n / 20).max(1);
    let mut lap = Instant::now();
    for i in 0..n {
        let day = i * days.len() / n;
        // Through the working day, ten seconds apart, so filing times differ.
        let at = |d: usize| Timestamp::at_noon(days[d.min(days.len() - 1)]).0 - 3 * 3_600_000;
        clock.store(at(day) + (i % 2000) as i64 * 10_000, Ordering::Relaxed);
        let new = new_request(&mut rng, i);
        let item = new.item_code.clone();
        let filed = store.file_request(new).expect("file a request");
        // Decisions come zero to three working days after filing.
        clock.store(
            at(day + rng.random_range(0..4)) + (i % 2000) as i64 * 10_000 + 60_000,
            Ordering::Relaxed,
        );
        let roll = rng.random_range(0..100);
        if roll < 60 {
            store.apply(filed.id, Action::Accept).expect("accept");
            if roll < 10 {
                let next = if village_level(&item) {
                    Action::Complete
                } else {
                    Action::Forward
                };
                store.apply(filed.id, next).expect("complete or forward");
            }
        } else if roll < 65 {
            store
                .apply(
                    filed.id,
                    Action::Withdraw {
                        reason: "no longer needed".into(),
                    },
                )
                .expect("withdraw");
        } else if roll < 70 {
            store
                .apply(
                    filed.id,
                    Action::RefuseToAccept {
                        reason: "not resident in the village".into(),
                    },
                )
                .expect("refuse");
        }
        if (i + 1) % step == 0 {
            let t = started.elapsed();
            eprintln!(
                "    {:>7} / {n} filed, {} elapsed, {:.0} requests/s overall, {:.0} lately",
                i + 1,
                fmt_d(t),
                (i + 1) as f64 / t.as_secs_f64(),
                step as f64 / lap.elapsed().as_secs_f64()
            );
            lap = Instant::now();
        }
    }
    let took = started.elapsed();
    drop(store);
    took
}

struct Stats {
    median: Duration,
    p95: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats {
        median: pct(&v, 50.0),
        p95: pct(&v, 95.0),
    }
}

/// The `p`-th percentile of sorted samples (nearest rank).
fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Measured {
    open: Stats,
    first_page: Stats,
    deep_page: Stats,
    first_rows: usize,
    deep_rows: usize,
    detail: Stats,
}

fn measure(b: &Built) -> Measured {
    eprintln!("(c-e) measuring the {}-request store...", b.n);
    // (c) open; the first open (cold page cache after a build) is not counted.
    drop(Store::open(&b.path).expect("open"));
    let mut opens = Vec::with_capacity(OPENS);
    for _ in 0..OPENS {
        let t = Instant::now();
        let s = Store::open(&b.path).expect("open");
        opens.push(t.elapsed());
        drop(s);
    }

    let mut store = Store::open(&b.path).expect("open");
    let end_of_year = Timestamp::at_noon(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    store.set_clock(Arc::new(move || end_of_year));
    // (d) the reviewer's list.
    let filter = RequestFilter {
        status: Some(Status::Accepted),
        ..RequestFilter::default()
    };
    let list = |offset: u32| {
        store
            .list_requests(&filter, RequestSort::Deadline, Page { offset, limit: 50 })
            .expect("list")
    };
    let first_rows = list(0).rows.len();
    let deep_rows = list(DEEP_OFFSET).rows.len();
    let time_list = |offset: u32| {
        for _ in 0..10 {
            std::hint::black_box(list(offset));
        }
        let mut v = Vec::with_capacity(LIST_RUNS);
        for _ in 0..LIST_RUNS {
            let t = Instant::now();
            std::hint::black_box(list(offset));
            v.push(t.elapsed());
        }
        stats(v)
    };
    let first_page = time_list(0);
    let deep_page = time_list(DEEP_OFFSET);

    // (e) one request's page, for random requests.
    let mut rng = StdRng::seed_from_u64(42);
    let ids: Vec<Uuid> = (0..DETAIL_RUNS)
        .map(|_| {
            let receipt = format!("{VILLAGE}-{DEVICE_NO:03}-{:06}", rng.random_range(1..=b.n));
            store
                .find_by_receipt(&receipt)
                .expect("find by receipt")
                .expect("every receipt up to n exists")
                .id
        })
        .collect();
    let mut details = Vec::with_capacity(DETAIL_RUNS);
    for id in ids {
        let t = Instant::now();
        std::hint::black_box(store.request(id).expect("request"));
        details.push(t.elapsed());
    }
    Measured {
        open: stats(opens),
        first_page,
        deep_page,
        first_rows,
        deep_rows,
        detail: stats(details),
    }
}

fn status_mix(statuses: &BTreeMap<Status, usize>, n: usize) -> String {
    statuses
        .iter()
        .map(|(s, c)| format!("{s} {:.0}%", 100.0 * *c as f64 / n as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

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
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}
