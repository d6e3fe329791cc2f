//! A writer killed with SIGKILL loses nothing it reported as done.
//!
//! The test re-runs its own binary as a child process (the `crash_writer_child` entry point,
//! which does nothing unless [`CHILD_ENV`] names a store). The child files requests and accepts
//! some of them in a loop, printing one line per operation that returned `Ok`:
//! `ok <request id> <receipt no> <status>`. The parent reads those lines, kills the child at a
//! random moment, reopens the store and checks what a clerk would: the store opens, every
//! request the tablet confirmed is there with the status it showed, its receipt number finds it,
//! nothing appeared beyond the one operation that may have committed without its line being
//! printed, and receipt numbers never repeat (the counter survived). Five rounds on one store,
//! each reopening it and carrying on.

use bianmin_client_core::{
    NewRequest, Page, Reference, RequestFilter, RequestSort, Store, StoreConfig,
};
use bianmin_domain::{Action, AttrValue, Identity, Role, Status};
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Set (to the store's path) only in the child process.
const CHILD_ENV: &str = "BIANMIN_CRASH_WRITER_STORE";
const CHILD_TEST: &str = "crash_writer_child";
const ROUNDS: usize = 5;
const VILLAGE: &str = "370883101201";
/// The longest the parent waits for the child's next line before calling it hung.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

fn config() -> StoreConfig {
    StoreConfig {
        identity: Identity::new("clerk-1", Role::Clerk, VILLAGE, "tablet-1").unwrap(),
        device_no: 7,
        reference: Reference::demo(),
    }
}

fn new_request(rng: &mut impl Rng, n: u64) -> NewRequest {
    const NAMES: [&str; 5] = ["王秀英", "李建国", "张伟", "刘芳", "欧阳明丰"];
    let grid = ["1组", "2组", "3组"][rng.random_range(0..3)];
    let (item_code, attributes, materials) = if rng.random_bool(0.5) {
        (
            "CIV-RESIDENCE-CERT",
            vec![("purpose", AttrValue::Text(format!("school enrolment {n}")))],
            vec!["ID card"],
        )
    } else {
        (
            "AID-DIBAO",
            vec![
                (
                    "household_members",
                    AttrValue::Number(f64::from(rng.random_range(1..7))),
                ),
                (
                    "monthly_income",
                    AttrValue::Number(f64::from(rng.random_range(0..3000))),
                ),
            ],
            // Every material the item requires: the writer accepts what it files.
            vec![
                "ID card",
                "Household register (hukou) booklet",
                "Income statement",
                "Authorisation to check family finances",
            ],
        )
    };
    NewRequest {
        item_code: item_code.into(),
        applicant_name: NAMES[rng.random_range(0..NAMES.len())].into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: grid.into(),
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        materials_received: materials.into_iter().map(String::from).collect(),
        resident_user: None,
        // Now and then a draft, kept for later.
        submit: !rng.random_bool(0.1),
    }
}

/// The writer: runs only as the child process the crash test starts, and never stops by itself
/// before the parent kills it (unless an operation fails, which ends it with a panic).
#[test]
#[ignore = "the writer half of `killed_writer_loses_nothing_it_reported`, run as its child"]
fn crash_writer_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    let mut store = if path.exists() {
        Store::open(&path).expect("the writer reopens the store")
    } else {
        Store::create(&path, config()).expect("the writer creates the store")
    };
    // Requests this session may accept: those left submitted by earlier sessions, and its own.
    let mut submitted: Vec<Uuid> = store
        .list_requests(
            &RequestFilter {
                status: Some(Status::Submitted),
                ..RequestFilter::default()
            },
            RequestSort::ReceiptNo,
            Page::first(100),
        )
        .expect("the writer lists submitted requests")
        .rows
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut rng = rand::rng();
    let mut out = std::io::stdout().lock();
    // Whatever the test harness printed before, start on a fresh line.
    writeln!(out).and_then(|()| out.flush()).expect("stdout");
    for n in 0..1_000_000u64 {
        let done = if !submitted.is_empty() && rng.random_bool(0.4) {
            let id = submitted.swap_remove(rng.random_range(0..submitted.len()));
            store.apply(id, Action::Accept).expect("accept")
        } else {
            let d = store
                .file_request(new_request(&mut rng, n))
                .expect("file a request");
            if d.status == Status::Submitted {
                submitted.push(d.id);
            }
            d
        };
        writeln!(out, "ok {} {} {}", done.id, done.receipt_no, done.status)
            .and_then(|()| out.flush())
            .expect("stdout");
    }
}

/// What the tablet confirmed about one request.
#[derive(Debug, Clone)]
struct Known {
    receipt_no: String,
    status: Status,
}

/// The counter part of a receipt number (`370883101201-007-000042` → 42).
fn receipt_seq(receipt_no: &str) -> u64 {
    receipt_no
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("malformed receipt number {receipt_no:?}"))
}

/// One confirmed operation, as the child printed it.
fn parse_line(line: &str) -> Option<(Uuid, String, Status)> {
    let mut parts = line.strip_prefix("ok ")?.split(' ');
    let id = Uuid::parse_str(parts.next()?).ok()?;
    let receipt = parts.next()?.to_string();
    let status = Status::parse(parts.next()?)?;
    Some((id, receipt, status))
}

/// Runs the writer on `path` until it has confirmed `kill_after` operations (plus whatever it
/// confirms during a random pause of up to two operations' time), kills it with SIGKILL and
/// returns every operation it confirmed, in order.
fn run_writer_and_kill(path: &Path, kill_after: usize, rng: &mut impl Rng) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args([CHILD_TEST, "--exact", "--ignored", "--nocapture", "--quiet"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, path)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                // A line cut short by the kill was not (fully) printed: not confirmed.
                Ok(0) | Err(_) => break,
                Ok(_) if !line.ends_with('\n') => break,
                Ok(_) => {
                    if tx.send(line.trim_end().to_string()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut confirmed = Vec::new();
    let mut first_line_at = None;
    while confirmed.len() < kill_after {
        match rx.recv_timeout(LINE_TIMEOUT) {
            Ok(line) if line.starts_with("ok ") => {
                first_line_at.get_or_insert_with(Instant::now);
                confirmed.push(line);
            }
            Ok(_) => {} // the harness's own output
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the writer printed nothing for {LINE_TIMEOUT:?} after {} operations",
                    confirmed.len()
                );
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().expect("wait for the writer");
                panic!(
                    "the writer stopped by itself ({status}) after {} operations; see its \
                     panic above",
                    confirmed.len()
                );
            }
        }
    }
    // Kill anywhere in the cycle of an operation (often in the middle of its transaction):
    // wait a random time up to twice the mean time between two confirmations.
    let mean = first_line_at.map_or(Duration::ZERO, |t| t.elapsed()) / kill_after as u32;
    let pause = mean
        .mul_f64(rng.random_range(0.0..2.0))
        .min(Duration::from_millis(200));
    std::thread::sleep(pause);
    child.kill().expect("kill the writer");
    let status = child.wait().expect("wait for the writer");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the writer should have died of SIGKILL, not {status}"
        );
    }
    #[cfg(not(unix))]
    let _ = status;
    // Lines already in the pipe were printed after their operation returned: confirmed too.
    confirmed.extend(rx.into_iter().filter(|l| l.starts_with("ok ")));
    reader.join().expect("the reader thread");
    confirmed
}

/// Every request row in the store, by receipt number.
fn all_rows(store: &Store) -> Vec<bianmin_client_core::RequestRow> {
    let mut rows = Vec::new();
    loop {
        let page = store
            .list_requests(
                &RequestFilter::default(),
                RequestSort::ReceiptNo,
                Page {
                    offset: rows.len() as u32,
                    limit: Page::MAX_LIMIT,
                },
            )
            .expect("list requests");
        rows.extend(page.rows);
        if !page.has_more {
            return rows;
        }
    }
}

#[test]
fn killed_writer_loses_nothing_it_reported() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db");
    let mut rng = rand::rng();
    // Everything the tablet confirmed (or, for the one operation per crash that may commit
    // unconfirmed, what the store showed after the crash).
    let mut known: HashMap<Uuid, Known> = HashMap::new();
    // The highest receipt counter in the store after the previous crash.
    let mut max_seq_before = 0u64;
    let mut total_ops = 0;

    for round in 1..=ROUNDS {
        let kill_after = rng.random_range(5..=200);
        let lines = run_writer_and_kill(&path, kill_after, &mut rng);
        assert!(lines.len() >= kill_after);
        total_ops += lines.len();

        // What this round confirmed, in order.
        let mut filed_this_round: Vec<(Uuid, String)> = Vec::new();
        for line in &lines {
            let (id, receipt, status) =
                parse_line(line).unwrap_or_else(|| panic!("malformed writer line {line:?}"));
            match known.get_mut(&id) {
                Some(k) => {
                    assert_eq!(k.receipt_no, receipt, "a request's receipt number changed");
                    assert!(
                        status >= k.status,
                        "round {round}: {id} went back from {} to {status}",
                        k.status
                    );
                    k.status = status;
                }
                None => {
                    filed_this_round.push((id, receipt.clone()));
                    known.insert(
                        id,
                        Known {
                            receipt_no: receipt,
                            status,
                        },
                    );
                }
            }
        }

        // Receipt numbers confirmed this round are new and continue the counter.
        let mut receipts_seen: HashSet<&str> = HashSet::new();
        for k in known.values() {
            assert!(
                receipts_seen.insert(&k.receipt_no),
                "round {round}: receipt number {} given twice",
                k.receipt_no
            );
        }
        for (id, receipt) in &filed_this_round {
            assert!(
                receipt_seq(receipt) > max_seq_before,
                "round {round}: request {id} got receipt {receipt}, but the store already held \
                 receipts up to {max_seq_before} before this run: the counter went back"
            );
        }

        // The tablet restarts after the crash.
        let store = match Store::open(&path) {
            Ok(s) => s,
            Err(e) => panic!("round {round}: the store does not reopen after a crash: {e}"),
        };

        // Every confirmed request is there, as confirmed, and findable by its receipt.
        let mut ahead: Vec<Uuid> = Vec::new();
        for (id, k) in &known {
            let d = store.request(*id).unwrap_or_else(|e| {
                panic!(
                    "round {round}: confirmed request {id} ({}) is lost: {e}",
                    k.receipt_no
                )
            });
            assert_eq!(d.receipt_no.as_str(), k.receipt_no, "round {round}: {id}");
            assert!(
                d.status >= k.status,
                "round {round}: {id} was confirmed {} but is now {}",
                k.status,
                d.status
            );
            if d.status != k.status {
                // Only an accept that committed without its line being printed.
                assert_eq!(
                    (k.status, d.status),
                    (Status::Submitted, Status::Accepted),
                    "round {round}: {id}"
                );
                ahead.push(*id);
            }
            let row = store
                .find_by_receipt(&k.receipt_no)
                .expect("look up a receipt")
                .unwrap_or_else(|| panic!("round {round}: receipt {} finds nothing", k.receipt_no));
            assert_eq!(row.id, *id, "round {round}: receipt {}", k.receipt_no);
            assert_eq!(
                row.status, d.status,
                "round {round}: the list and the request disagree"
            );
        }

        // Nothing beyond what was confirmed, except the one operation the kill interrupted.
        let rows = all_rows(&store);
        let (count, _) = store.counts().expect("counts");
        assert_eq!(
            rows.len() as u64,
            count,
            "round {round}: the list misses rows"
        );
        let unconfirmed: Vec<&bianmin_client_core::RequestRow> =
            rows.iter().filter(|r| !known.contains_key(&r.id)).collect();
        assert!(
            unconfirmed.len() + ahead.len() <= 1,
            "round {round}: {} unconfirmed requests and {} unconfirmed accepts survived the \
             crash; at most one operation can commit without being confirmed",
            unconfirmed.len(),
            ahead.len()
        );
        assert!(
            count == known.len() as u64 || count == known.len() as u64 + 1,
            "round {round}: {count} requests stored, {} confirmed",
            known.len()
        );
        let mut receipts: BTreeMap<&str, Uuid> = BTreeMap::new();
        for r in &rows {
            if let Some(other) = receipts.insert(&r.receipt_no, r.id) {
                panic!(
                    "round {round}: receipt {} is on both {other} and {}",
                    r.receipt_no, r.id
                );
            }
        }
        let unconfirmed_ops = unconfirmed.len() + ahead.len();
        // From now on the store's view is the reference: adopt the unconfirmed operation.
        for r in unconfirmed {
            known.insert(
                r.id,
                Known {
                    receipt_no: r.receipt_no.clone(),
                    status: r.status,
                },
            );
        }
        for id in ahead {
            known.get_mut(&id).unwrap().status = Status::Accepted;
        }
        max_seq_before = rows
            .iter()
            .map(|r| receipt_seq(&r.receipt_no))
            .max()
            .unwrap_or(0);
        eprintln!(
            "round {round}: killed after {} confirmed operations (asked for {kill_after}); \
             {count} requests stored, {} operation(s) committed unconfirmed",
            lines.len(),
            unconfirmed_ops
        );
    }

    // After the last crash the tablet still works: the next filing takes the next number.
    let mut store = Store::open(&path).expect("reopen after the last crash");
    let (before, _) = store.counts().unwrap();
    let d = store
        .file_request(new_request(&mut rng, 0))
        .expect("file after the crashes");
    assert_eq!(receipt_seq(d.receipt_no.as_str()), max_seq_before + 1);
    assert_eq!(store.counts().unwrap().0, before + 1);
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("unreadable")),
        "a store was moved aside as unreadable"
    );
    eprintln!(
        "{ROUNDS} crashes, {total_ops} confirmed operations, {} requests, {:.1?}",
        before + 1,
        started.elapsed()
    );
}
