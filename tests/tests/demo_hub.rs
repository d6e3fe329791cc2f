//! The README's first command on a fresh machine: `bianmin-server serve --demo` gives a hub whose
//! township reviewer has work to decide — a West Village demo tablet's requests, synced like any
//! tablet's —, East Village (the walk-through's) stays empty, and running it again adds nothing.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bianmin_client_core::{Page, RequestFilter, RequestSort, UrgencyFilter};
use bianmin_domain::{Status, Timestamp};
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::storage::{ReadScope, Storage};
use bianmin_tests::hub::server_binary;

/// Runs `serve --demo` until it prints `wanted` (or fails the test after a minute), then stops it.
fn run_demo_until(data_dir: &std::path::Path, wanted: &str) -> Vec<String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(server_binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the hub");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let done = line.contains(wanted);
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains(wanted)),
        "`{wanted}` not printed:\n{}",
        lines.join("\n")
    );
    lines
}

#[test]
fn a_fresh_demo_hub_has_requests_for_the_reviewer_and_a_second_start_adds_none() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let lines = run_demo_until(&data, "synced 4 requests");
    assert!(lines.iter().any(|l| l.contains("password bianmin-demo")));

    let storage = SqliteStorage::open(&data).unwrap();
    let calendar = bianmin_domain::demo::calendar();
    let today = Timestamp::now().china_date();
    let page = Page {
        offset: 0,
        limit: 50,
    };
    let township = ReadScope::Township("370883101".into());
    let list = |filter: &RequestFilter| {
        storage
            .requests(
                &township,
                filter,
                RequestSort::Deadline,
                page,
                today,
                &calendar,
            )
            .unwrap()
            .rows
    };
    let all = list(&RequestFilter::default());
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|r| r.village == "370883101202"));
    assert!(
        all.iter()
            .all(|r| r.receipt_no.starts_with("370883101202-001-")),
        "device 1"
    );
    let forwarded = list(&RequestFilter {
        status: Some(Status::Forwarded),
        ..RequestFilter::default()
    });
    assert_eq!(forwarded.len(), 3, "three wait for the reviewer");
    let overdue = list(&RequestFilter {
        urgency: Some(UrgencyFilter::Overdue),
        ..RequestFilter::default()
    });
    assert_eq!(overdue.len(), 1, "one is past its deadline");
    assert_eq!(overdue[0].item_code, "AID-ELDER-ALLOWANCE");
    drop(storage);

    let lines = run_demo_until(&data, "listening on");
    assert!(!lines.iter().any(|l| l.contains("synced")));
    let storage = SqliteStorage::open(&data).unwrap();
    assert_eq!(
        storage
            .requests(
                &township,
                &RequestFilter::default(),
                RequestSort::Deadline,
                page,
                today,
                &calendar
            )
            .unwrap()
            .rows
            .len(),
        4
    );
}
