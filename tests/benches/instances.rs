//! The sync benchmark against both storage backends, side by side (issue 15), run by hand and
//! read by a person (no assertion on time):
//!
//! ```text
//! cargo bench -p bianmin-tests --bench instances
//! BENCH_SECS=3 cargo bench -p bianmin-tests --bench instances   # a quick check
//! ```
//!
//! The sustained load of `sync.rs` (c): `BENCH_DEVICES` (default 50) clerk tablets, 10 per
//! village with 50, syncing concurrently for `BENCH_SECS` (default 15) seconds, each sync
//! pushing one comment and pulling what the village's other tablets pushed, against the real
//! release hub binary in child processes, on the cached 1,000-document hub of `sync.rs`
//! (`target/bench-hubs/`, built on the first run):
//!
//! - SQLite, 1 instance: the cached hub copied, `bianmin-server --data-dir COPY serve`;
//! - PostgreSQL, 1, 2 and 3 instances on one schema: the same cached hub copied into a fresh
//!   schema of the test database (`BIANMIN_TEST_DATABASE_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/test`; dropped afterwards) with
//!   `bianmin-server migrate-to-postgres`, then N processes `bianmin-server --data-dir DIR_i
//!   --database URL --database-schema NAME serve`, the tablets enrolled through them in turn
//!   (the enrolment codes are issued in the SQLite copy before the move, so they are in the
//!   shared database and any instance redeems them).
//!
//! Each configuration starts afresh from the cached hub, with new users and new tablets. The
//! CPU figures come from `/proc`: the hub processes' (summed), this process's (the tablets'),
//! and PostgreSQL's two ways: the backends serving the hubs' connections (the hubs' sockets
//! matched to `pg_stat_activity`'s client ports, at the start and the end of the timed phase)
//! and every `postgres` process of the server (its WAL writer, checkpointer, and whatever else
//! uses the server meanwhile included); and the share of the machine's CPUs busy, from
//! `/proc/stat`, to tell this benchmark's load from other work on the machine. The hubs' logs
//! (warnings and errors) go to files; what they hold is summed up in the report.
//!
//! All the tablets connect from 127.0.0.1, where in a township they come from many addresses:
//! the hubs run with a per-address connection limit above the tablets' number
//! (`--max-connections-per-client`), the other limits as deployed (PostgreSQL: the binary's
//! pool of 16 connections per process).
//!
//! `BENCH_WORK_DIR` puts the working copies and tablets elsewhere (e.g. `/dev/shm`).

#[path = "common/mod.rs"]
mod common;

use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_tests::hub::{PgSchema, postgres_reachable, release_server_binary};
use common::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Tablets unless `BENCH_DEVICES` says otherwise.
const DEVICES: usize = 50;
/// The PostgreSQL configurations: hub instances on one schema.
const PG_INSTANCES: [usize; 3] = [1, 2, 3];
/// `serve`'s limit of connections from one address, for every hub here: all the tablets are
/// on 127.0.0.1 (the default, 64, refuses some of 50 tablets' connections when a sync's
/// connection closes as the next opens).
const PER_CLIENT: &str = "1024";
/// Log lines of a kind shown in the report, at most.
const LOG_KINDS: usize = 5;

/// One configuration's figures.
struct Row {
    backend: &'static str,
    instances: usize,
    load: Sustained,
    /// PostgreSQL's CPU, for the PostgreSQL configurations.
    db: Option<DbCpu>,
    /// The share of the machine's CPUs busy during the timed phase (all processes).
    machine_busy: f64,
    /// The hub processes' memory at the end (summed).
    memory: Memory,
    /// How the hub's data got where it is served from.
    setup: String,
    /// The hubs' warnings and errors (the whole run, enrolment included), by kind.
    log: BTreeMap<String, usize>,
}

fn main() {
    let secs = env_number("BENCH_SECS", 15) as u64;
    let devices = env_number("BENCH_DEVICES", DEVICES);
    assert!(devices > 0, "BENCH_DEVICES must be at least 1");
    let duration = Duration::from_secs(secs);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("Bianmin instances benchmark (tests/benches/instances.rs): SQLite and PostgreSQL");
    println!(
        "profile: {}; {cores} CPUs; load average at start: {}",
        if cfg!(debug_assertions) {
            "debug (numbers are not representative)"
        } else {
            "release"
        },
        load_average()
    );
    println!(
        "NOTE: this machine has {cores} CPUs for everything (the hub processes, PostgreSQL and \
         the {devices} tablets of this process): more instances cannot add CPU here, so 2 and 3 \
         instances show what running several hubs on one schema costs, not how far they scale"
    );
    println!(
        "hubs: the release binary, `serve --max-connections-per-client {PER_CLIENT}` (every \
         tablet here connects from 127.0.0.1), other limits as deployed; PostgreSQL: database \
         {} (a pool of 16 connections per hub process)",
        database_name()
    );
    let root = bench_dir();
    std::fs::create_dir_all(&root).expect("create the bench-hubs folder");
    println!("hubs cached in {}", root.display());
    let small = ensure_hub(&root, SMALL_DOCS);
    let work_root = std::env::var_os("BENCH_WORK_DIR").map_or_else(|| root.clone(), PathBuf::from);
    let work = tempfile::tempdir_in(&work_root).expect("a work folder");
    let bin = release_server_binary();

    let mut rows = Vec::new();
    eprintln!("SQLite, 1 instance: {devices} tablets for {secs} s...");
    rows.push(run_sqlite(
        &bin,
        &small,
        &work.path().join("sqlite"),
        devices,
        duration,
    ));
    let postgres = postgres_reachable();
    if postgres {
        for n in PG_INSTANCES {
            eprintln!("PostgreSQL, {n} instance(s): {devices} tablets for {secs} s...");
            rows.push(run_postgres(
                &bin,
                &small,
                &work.path().join(format!("pg-{n}")),
                n,
                devices,
                duration,
            ));
        }
    }

    println!();
    println!(
        "hub: {} documents, {} change-log entries, {:.0} MB as SQLite: {}",
        fmt_n(small.docs),
        fmt_n(small.changes),
        small.bytes as f64 / 1e6,
        small.how
    );
    println!("     villages: {}", small.villages);
    println!(
        "load: {devices} clerk tablets (spread over the 5 villages) syncing concurrently for \
         {secs} s per configuration, each sync a comment on one of the tablet's {OWN_DOCS} own \
         requests pushed and the village's other tablets' new work pulled; tablets assigned to \
         the instances in turn; the tablets' own work (their stores, their fsyncs) runs on this \
         machine too"
    );
    for row in &rows {
        println!();
        println!(
            "{}, {} instance{} ({})",
            row.backend,
            row.instances,
            if row.instances == 1 { "" } else { "s" },
            row.setup
        );
        print_load(&row.load, "sync", cores);
        if let Some(db) = &row.db {
            println!(
                "    PostgreSQL CPU: {:.2} s in the {} backends serving the hubs' connections at \
                 the end (at most 16 per instance, plus one listening), {:.2} s in all of the \
                 server's processes",
                db.hub_backends.as_secs_f64(),
                db.connections,
                db.server.as_secs_f64()
            );
        }
        println!(
            "    the machine's CPUs {:.0} % busy meanwhile (everything running on it)",
            row.machine_busy * 100.0
        );
        println!(
            "    hub memory at the end (all instances): VmRSS {:.1} MB, VmHWM (peak) {:.1} MB",
            row.memory.rss_kb as f64 / 1024.0,
            row.memory.hwm_kb as f64 / 1024.0
        );
        if row.log.is_empty() {
            println!("    the hubs logged no warning or error");
        }
        let mut kinds: Vec<_> = row.log.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1));
        for (line, count) in kinds.iter().take(LOG_KINDS) {
            println!("    !! the hubs logged {count} x: {line}");
        }
        if kinds.len() > LOG_KINDS {
            println!(
                "    !! and {} other kinds of lines",
                kinds.len() - LOG_KINDS
            );
        }
    }
    if !postgres {
        println!();
        println!("PostgreSQL not measured: the test database cannot be reached (see stderr)");
    }

    println!();
    println!("side by side ({devices} tablets, {secs} s each, {cores} CPUs shared by everything):");
    let header = [
        "backend",
        "instances",
        "rounds/s",
        "p50",
        "p95",
        "failed",
        "refused",
        "hub warns",
        "hub CPU s",
        "db CPU s",
        "all-pg CPU s",
        "tablets CPU s",
        "CPU ms/sync",
        "bench %",
        "machine %",
    ];
    let secs_or_dash = |d: Option<Duration>| {
        d.map_or_else(|| "-".to_string(), |d| format!("{:.2}", d.as_secs_f64()))
    };
    let mut table = vec![header.map(String::from).to_vec()];
    for row in &rows {
        let c = &row.load;
        let db = row.db.as_ref().map(|d| d.hub_backends);
        let server = row.db.as_ref().map(|d| d.server);
        let per_sync = |x: f64| x / c.syncs.max(1) as f64;
        let ours = c.hub_cpu + server.unwrap_or_default() + c.client_cpu;
        table.push(vec![
            row.backend.to_string(),
            row.instances.to_string(),
            format!("{:.0}", c.syncs as f64 / c.elapsed.as_secs_f64()),
            fmt_d(c.latency.median),
            fmt_d(c.latency.p95),
            c.errors.to_string(),
            c.problems.to_string(),
            row.log.values().sum::<usize>().to_string(),
            format!("{:.2}", c.hub_cpu.as_secs_f64()),
            secs_or_dash(db),
            secs_or_dash(server),
            format!("{:.2}", c.client_cpu.as_secs_f64()),
            format!(
                "{:.2}",
                per_sync((c.hub_cpu + db.unwrap_or_default()).as_secs_f64() * 1e3)
            ),
            format!(
                "{:.0}",
                100.0 * ours.as_secs_f64() / c.elapsed.as_secs_f64() / cores as f64
            ),
            format!("{:.0}", 100.0 * row.machine_busy),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for cells in &table {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        println!("    {}", line.join(" | "));
    }
    println!(
        "    rounds/s: completed syncs per second, all tablets together (each one push + pull \
         exchange here unless the details above say more exchanges than syncs); p50/p95: a \
         sync's time as the tablet sees it; failed: syncs that gave up after client-core's own \
         retries (3 attempts, 100 ms back-off; retries that then succeeded show only in the \
         latency and as hub warnings); refused: refused pushes and pull errors; hub warns: \
         warning and error lines in the hubs' logs (whole run); hub CPU s: the hub processes, \
         summed; db CPU s: the PostgreSQL backends serving the hubs' connections (SQLite works \
         inside the hub process: '-'); all-pg CPU s: every process of the PostgreSQL server, \
         whoever else used it meanwhile included; tablets CPU s: this process; CPU ms/sync: \
         (hub + db) CPU per sync; bench %: (hub + all-pg + tablets) CPU over the CPUs' time; \
         machine %: all CPUs' busy time, whatever ran"
    );
    println!("    load average at the end: {}", load_average());
}

/// Options of every hub here: `log` for its log, `database` for PostgreSQL.
fn hub_options<'a>(log: &'a Path, database: Option<(&'a str, &'a str)>) -> HubOptions<'a> {
    HubOptions {
        database,
        serve_args: &["--max-connections-per-client", PER_CLIENT],
        log: Some(log),
    }
}

/// SQLite, one hub: `sync.rs` (c) on the small hub.
fn run_sqlite(bin: &Path, hub: &Hub, dir: &Path, devices: usize, duration: Duration) -> Row {
    let copy = hub.copy_to(dir);
    let codes = add_load_users(
        &SqliteStorage::open(&copy.hub_dir()).expect("open the hub"),
        devices,
    );
    let log = dir.join("hub.log");
    let process = HubProcess::start(bin, &copy.hub_dir(), &hub_options(&log, None));
    let db = copy.hub_dir().join("bianmin.db");
    let mut meter = Meter::new(None);
    let (load, tablets) = sustained(
        std::slice::from_ref(&process),
        &codes,
        &dir.join("tablets"),
        &|| sqlite_log_end(&db),
        duration,
        &mut || meter.mark(),
    );
    let memory = process.memory();
    drop(tablets);
    drop(process);
    let (db, machine_busy) = meter.result();
    Row {
        backend: "SQLite",
        instances: 1,
        load,
        db,
        machine_busy,
        memory,
        setup: "a copy of the cached hub's database".into(),
        log: log_lines(&[log]),
    }
}

/// PostgreSQL, `n` hubs on one fresh schema holding the cached hub (moved there by
/// `migrate-to-postgres`).
fn run_postgres(
    bin: &Path,
    hub: &Hub,
    dir: &Path,
    n: usize,
    devices: usize,
    duration: Duration,
) -> Row {
    let copy = hub.copy_to(dir);
    // Issued in SQLite and moved with the rest: any instance redeems them.
    let codes = add_load_users(
        &SqliteStorage::open(&copy.hub_dir()).expect("open the hub"),
        devices,
    );
    let schema = PgSchema::fresh();
    let t = Instant::now();
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(copy.hub_dir())
        .args(["--database", &schema.url])
        .args(["--database-schema", &schema.name])
        .arg("migrate-to-postgres")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run bianmin-server migrate-to-postgres");
    let moved = t.elapsed();
    assert!(
        out.status.success(),
        "migrate-to-postgres failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let logs: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("hub-{i}.log"))).collect();
    let hubs: Vec<HubProcess> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| {
            let data_dir = dir.join(format!("instance-{i}"));
            std::fs::create_dir_all(&data_dir).expect("an instance's data directory");
            let database = Some((schema.url.as_str(), schema.name.as_str()));
            HubProcess::start(bin, &data_dir, &hub_options(log, database))
        })
        .collect();
    let mut meter = Meter::new(Some((
        &schema.url,
        hubs.iter().map(HubProcess::pid).collect(),
    )));
    let (load, tablets) = sustained(
        &hubs,
        &codes,
        &dir.join("tablets"),
        &|| pg_log_end(&schema),
        duration,
        &mut || meter.mark(),
    );
    let memory = hubs.iter().map(HubProcess::memory).fold(
        Memory {
            rss_kb: 0,
            hwm_kb: 0,
        },
        |a, b| Memory {
            rss_kb: a.rss_kb + b.rss_kb,
            hwm_kb: a.hwm_kb + b.hwm_kb,
        },
    );
    drop(tablets);
    // The hubs before their schema.
    drop(hubs);
    drop(schema);
    let (db, machine_busy) = meter.result();
    Row {
        backend: "PostgreSQL",
        instances: n,
        load,
        db,
        machine_busy,
        memory,
        setup: format!(
            "the cached hub moved into a fresh schema by migrate-to-postgres in {}",
            fmt_d(moved)
        ),
        log: log_lines(&logs),
    }
}

/// The warning and error lines of the hubs' logs, without their time, by kind.
fn log_lines(logs: &[PathBuf]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // "2026-…Z  WARN target: message": from the level on.
            let kind = ["WARN", "ERROR"]
                .iter()
                .find_map(|level| line.find(level).map(|at| &line[at..]))
                .unwrap_or(line);
            *kinds.entry(kind.to_string()).or_insert(0) += 1;
        }
    }
    kinds
}

/// The test database as host:port/name (not its URL, which may hold a password).
fn database_name() -> String {
    match bianmin_tests::hub::test_database_url().parse::<postgres::Config>() {
        Ok(c) => {
            let host = match c.get_hosts().first() {
                Some(postgres::config::Host::Tcp(h)) => h.clone(),
                Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => "localhost".into(),
            };
            let port = c.get_ports().first().copied().unwrap_or(5432);
            format!("{host}:{port}/{}", c.get_dbname().unwrap_or("?"))
        }
        Err(_) => "(an unreadable URL)".into(),
    }
}

/// The last number of the change log in the schema.
fn pg_log_end(schema: &PgSchema) -> u64 {
    let mut client =
        postgres::Client::connect(&schema.url, postgres::NoTls).expect("the test database");
    let row = client
        .query_one(
            &format!(
                "SELECT COALESCE(MAX(seq), 0) FROM \"{}\".change_log",
                schema.name
            ),
            &[],
        )
        .expect("the log's end");
    row.get::<_, i64>(0) as u64
}

/// PostgreSQL's CPU during a timed phase.
struct DbCpu {
    /// The backends serving the hubs' connections.
    hub_backends: Duration,
    /// How many such backends there were at the end.
    connections: usize,
    /// Every process of the server.
    server: Duration,
}

/// Where PostgreSQL's backends serving the hubs are found.
struct PgProbe {
    client: postgres::Client,
    /// The server's ports (the remote end of the hubs' connections).
    ports: Vec<u16>,
    hub_pids: Vec<u32>,
}

/// One reading of the meters.
struct Mark {
    /// The CPU of each backend serving a hub, by its pid.
    backends: HashMap<i32, Duration>,
    /// The CPU of the whole PostgreSQL server.
    server: Duration,
    /// The machine's CPU time: busy, in all (clock ticks, all CPUs).
    machine: (u64, u64),
}

/// Readings ([`Meter::mark`]) at the start and the end of a timed phase: the machine's CPUs
/// and, with PostgreSQL, the database's CPU.
struct Meter {
    pg: Option<PgProbe>,
    marks: Vec<Mark>,
}

impl Meter {
    /// With `pg` (the database's URL, the hubs' process ids), PostgreSQL's CPU too.
    fn new(pg: Option<(&str, Vec<u32>)>) -> Meter {
        let pg = pg.map(|(url, hub_pids)| {
            let config: postgres::Config = url.parse().expect("the test database's URL");
            let mut ports = config.get_ports().to_vec();
            if ports.is_empty() {
                ports.push(5432);
            }
            PgProbe {
                client: config.connect(postgres::NoTls).expect("the test database"),
                ports,
                hub_pids,
            }
        });
        Meter {
            pg,
            marks: Vec::new(),
        }
    }

    fn mark(&mut self) {
        let mut backends = HashMap::new();
        let mut server = Duration::ZERO;
        if let Some(pg) = &mut self.pg {
            let ours = hub_client_ports(&pg.hub_pids, &pg.ports);
            let rows = pg
                .client
                .query(
                    "SELECT pid, client_port FROM pg_stat_activity WHERE client_port IS NOT NULL",
                    &[],
                )
                .expect("pg_stat_activity");
            backends = rows
                .iter()
                .filter(|r| u16::try_from(r.get::<_, i32>(1)).is_ok_and(|p| ours.contains(&p)))
                .map(|r| {
                    let pid: i32 = r.get(0);
                    (pid, cpu_of(&format!("/proc/{pid}/stat")))
                })
                .collect();
            server = postgres_server_cpu();
        }
        self.marks.push(Mark {
            backends,
            server,
            machine: machine_cpu(),
        });
    }

    /// PostgreSQL's CPU between the two marks (backends closed meanwhile are missed: the hubs'
    /// pools keep theirs open), and the share of the machine's CPUs busy.
    fn result(&self) -> (Option<DbCpu>, f64) {
        let [start, end] = &self.marks[..] else {
            panic!("two marks expected, got {}", self.marks.len());
        };
        let busy = end.machine.0.saturating_sub(start.machine.0) as f64;
        let total = end.machine.1.saturating_sub(start.machine.1).max(1) as f64;
        let db = self.pg.as_ref().map(|_| DbCpu {
            hub_backends: end
                .backends
                .iter()
                .map(|(pid, cpu)| {
                    cpu.saturating_sub(start.backends.get(pid).copied().unwrap_or_default())
                })
                .sum(),
            connections: end.backends.len(),
            server: end.server.saturating_sub(start.server),
        });
        (db, busy / total)
    }
}

/// The machine's CPU time from `/proc/stat`: busy (not idle nor waiting for I/O), in all.
fn machine_cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// The local ports of the TCP connections the processes `pids` hold to `server_ports`.
fn hub_client_ports(pids: &[u32], server_ports: &[u16]) -> HashSet<u16> {
    let mut inodes = HashSet::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && let Some(inode) = target
                    .to_str()
                    .and_then(|t| t.strip_prefix("socket:["))
                    .and_then(|t| t.strip_suffix(']'))
                    .and_then(|t| t.parse::<u64>().ok())
            {
                inodes.insert(inode);
            }
        }
    }
    let port = |address: &str| {
        address
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    let mut ports = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9
                && f[9].parse().is_ok_and(|i: u64| inodes.contains(&i))
                && port(f[2]).is_some_and(|p| server_ports.contains(&p))
                && let Some(local) = port(f[1])
            {
                ports.insert(local);
            }
        }
    }
    ports
}

/// The CPU used by every process named `postgres` (user and system), with the children the
/// server already reaped (its closed backends).
fn postgres_server_cpu() -> Duration {
    let mut ticks = 0u64;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    for p in procs.flatten() {
        if !p
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime, stime, cutime, cstime: fields 14 to 17 of the file (the first after the
        // command name is field 3).
        ticks += (11..=14)
            .filter_map(|i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
            .sum::<u64>();
    }
    Duration::from_millis(ticks * 10)
}
