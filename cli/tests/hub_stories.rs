//! Stories through a real hub (served in this process on a loopback port), told with the
//! binary only: concurrent decisions that must be settled, a request the hub refuses, the
//! township reviewing an agenda item, and `watch` picking up the township's decision live.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bianmin_tests::hub::{CLERK, REVIEWER, TestHub};
use bianmin_tests::proxy::CutProxy;
use common::{BIANMIN, bianmin, bianmin_json, enrol, file_pension};
use serde_json::Value;

fn sync(dir: &Path, store: &str) -> Value {
    bianmin_json(dir, store, &["sync"])
}

#[test]
fn a_withdrawal_and_an_approval_made_offline_are_both_kept_until_the_clerk_settles() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    enrol(d, "taiping.db", &hub.url, &hub.code(REVIEWER));

    let r = file_pension(d, "east.db");
    let other = file_pension(d, "east.db");
    for receipt in [&r, &other] {
        bianmin(d, "east.db", &["request", "accept", receipt]).ok();
        bianmin(d, "east.db", &["request", "forward", receipt]).ok();
    }
    sync(d, "east.db");
    sync(d, "taiping.db");

    // The other one the township rejects, with its reason; the village sees why.
    let rejected = bianmin_json(
        d,
        "taiping.db",
        &["request", "reject", &other, "--reason", "已在外地参保"],
    );
    assert_eq!(rejected["status"], "rejected");

    // Offline on both sides: the township approves while the resident withdraws at the village.
    bianmin(d, "taiping.db", &["request", "approve", &r]).ok();
    bianmin(
        d,
        "east.db",
        &["request", "withdraw", &r, "--reason", "申请人改变主意"],
    )
    .ok();
    sync(d, "taiping.db");
    let report = sync(d, "east.db");
    assert_eq!(report["refused"], serde_json::json!([]), "{report}");

    let conflicted = bianmin_json(d, "east.db", &["request", "list", "--conflict"]);
    assert_eq!(conflicted["rows"][0]["receipt_no"], r.as_str());
    let page = bianmin(d, "east.db", &["request", "show", &r]).ok();
    assert!(page.stdout.contains("冲突 Conflict"), "{page}");
    assert!(page.stdout.contains("bianmin request settle"), "{page}");

    let detail = bianmin_json(d, "east.db", &["request", "show", &r]);
    let branches = detail["conflict"]["branches"].as_array().expect("branches");
    let approved = branches
        .iter()
        .find(|b| b[1] == "approved")
        .expect("the township's branch");
    let keep = &approved[0].as_str().expect("event id")[..8];
    let settled = bianmin_json(
        d,
        "east.db",
        &[
            "request",
            "settle",
            &r,
            "--keep",
            keep,
            "--note",
            "申请人同意继续办理",
        ],
    );
    assert_eq!(settled["status"], "approved");
    assert_eq!(settled["conflict"], Value::Null);
    assert!(
        bianmin_json(d, "east.db", &["request", "list", "--conflict"])["rows"]
            .as_array()
            .expect("rows")
            .is_empty()
    );

    let page = bianmin(d, "east.db", &["request", "show", &other]).ok();
    assert!(
        page.stdout.contains("不予批准 rejected")
            && page.stdout.contains("不予批准 reject: 已在外地参保"),
        "{page}"
    );

    sync(d, "east.db");
    sync(d, "taiping.db");
    let township = bianmin_json(d, "taiping.db", &["request", "show", &r]);
    assert_eq!(township["status"], "approved");
    assert_eq!(
        common::history_kinds(&township).last().map(String::as_str),
        Some("settle")
    );
}

#[test]
fn a_request_the_hub_refuses_exits_4_and_stays_visible_as_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    let good = file_pension(d, "east.db");
    // Linked to a user who is not a registered resident of the village: the tablet cannot
    // know, the hub does.
    let bad = bianmin(
        d,
        "east.db",
        &[
            "--quiet",
            "request",
            "file",
            "--item",
            "CIV-SENIOR-CARD",
            "--name",
            "李四",
            "--id-number",
            common::ID_NUMBER,
            "--phone",
            common::PHONE,
            "--grid",
            "2组",
            "--resident-user",
            "nobody-here",
        ],
    )
    .ok()
    .line();

    let run = bianmin(d, "east.db", &["--json", "sync"]).exits(4);
    let report = run.json();
    assert_eq!(report["accepted"], 1);
    assert_eq!(report["refused"].as_array().expect("refused").len(), 1);
    assert_eq!(report["refused"][0]["code"], "invalid");
    assert!(
        run.stderr
            .contains("the hub refused 1 of this tablet's documents"),
        "{run}"
    );
    common::assert_no_personal_data(&run);

    let refused = bianmin_json(d, "east.db", &["refused"]);
    assert_eq!(refused[0]["summary"][0], format!("new request {bad}"));
    assert!(
        refused[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("resident_user")),
        "{refused}"
    );
    let table = bianmin(d, "east.db", &["refused"]).ok();
    assert!(
        table.stdout.contains(&format!("new request {bad}")),
        "{table}"
    );

    let left: Vec<String> = bianmin(d, "east.db", &["--quiet", "request", "list"])
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(left, [good], "the refused request left the lists");
    let status = bianmin_json(d, "east.db", &["status"]);
    assert_eq!(status["refused_edits"], 1);
    assert_eq!(status["pending"], 0);
    // The next sync has nothing more to say.
    bianmin(d, "east.db", &["sync"]).ok();
}

#[test]
fn the_township_reviews_an_agenda_item_and_concurrent_records_are_settled() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    enrol(d, "east-2.db", &hub.url, &hub.code(CLERK));
    enrol(d, "taiping.db", &hub.url, &hub.code(REVIEWER));

    let id = bianmin(
        d,
        "east.db",
        &[
            "--quiet",
            "agenda",
            "create",
            "--title",
            "宅基地分配方案",
            "--category",
            "homestead",
            "--description",
            "Allocate three homestead plots",
        ],
    )
    .ok()
    .line();
    sync(d, "east.db");
    sync(d, "east-2.db");
    sync(d, "taiping.db");

    // Both village tablets record the Party branch meeting, offline.
    for (store, present) in [("east.db", "7"), ("east-2.db", "8")] {
        bianmin_json(
            d,
            store,
            &[
                "agenda",
                "meeting",
                &id,
                "--body",
                "party_branch",
                "--held-on",
                "2026-11-02",
                "--entitled",
                "9",
                "--present",
                present,
                "--for",
                "6",
                "--minutes",
                "提议",
            ],
        );
    }
    let review = bianmin_json(
        d,
        "taiping.db",
        &[
            "agenda",
            "review",
            &id[..8],
            "--kind",
            "comment",
            "--comment",
            "请注意公示期",
        ],
    );
    assert_eq!(review["history"][0]["action"]["kind"], "township_review");
    sync(d, "taiping.db");
    sync(d, "east-2.db");
    sync(d, "east.db");

    let item = bianmin_json(d, "east.db", &["agenda", "show", &id]);
    let records = item["conflict"].as_array().expect("concurrent records");
    assert_eq!(records.len(), 2, "{item}");
    let kinds: Vec<&str> = item["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["action"]["kind"].as_str().expect("kind"))
        .collect();
    assert!(kinds.contains(&"township_review"), "{kinds:?}");
    let list = bianmin_json(d, "east.db", &["agenda", "list"]);
    assert_eq!(list["rows"][0]["conflict"], true);

    let keep = &records[0].as_str().expect("event id")[..8];
    let settled = bianmin_json(
        d,
        "east.db",
        &[
            "agenda",
            "settle",
            &id,
            "--keep",
            keep,
            "--note",
            "以签到表为准",
        ],
    );
    assert_eq!(settled["conflict"], Value::Null);
    assert_eq!(settled["stage"], "consultation");
}

#[test]
fn watch_receives_the_township_decision_live_and_exits_5_when_the_hub_goes() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    enrol(d, "taiping.db", &hub.url, &hub.code(REVIEWER));
    let r = file_pension(d, "east.db");
    bianmin(d, "east.db", &["request", "accept", &r]).ok();
    bianmin(d, "east.db", &["request", "forward", &r]).ok();

    let mut watcher = Command::new(BIANMIN)
        .args([
            "--store",
            "east.db",
            "--json",
            "watch",
            "--attempts",
            "1",
            "--exit-when-gone",
        ])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch");
    let (tx, rx) = mpsc::channel();
    let stdout = watcher.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next_report = || -> Value {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a sync report from watch");
        serde_json::from_str(&line).expect("one JSON report per line")
    };
    let first = next_report();
    assert_eq!(first["accepted"], 1, "watch syncs first: {first}");

    sync(d, "taiping.db");
    bianmin(d, "taiping.db", &["request", "approve", &r]).ok();
    sync(d, "taiping.db");
    // The hub's notice makes the watcher sync again.
    let mut received = next_report();
    while received["new_changes"] == 0 {
        received = next_report();
    }
    assert_eq!(received["docs_pulled"], 1, "{received}");

    drop(hub);
    let status = wait_with_timeout(&mut watcher, Duration::from_secs(30));
    assert_eq!(status, Some(5), "watch exits 5 when the hub is gone");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut watcher.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    // The hub going away ends the live connection (or breaks it): either way the work stays.
    assert!(stderr.contains("the work stays queued"), "{stderr}");

    let detail = bianmin_json(d, "east.db", &["request", "show", &r]);
    assert_eq!(detail["status"], "approved");
}

/// Without `--exit-when-gone`, `watch` outlives a dropped link: it says it will connect again,
/// does, and the township's next decision reaches the tablet live.
#[test]
fn watch_connects_again_after_the_link_drops_and_hears_the_next_decision() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let hub = TestHub::start();
    let proxy = CutProxy::start(hub.url.trim_start_matches("http://").parse().expect("addr"));
    enrol(d, "east.db", &proxy.url, &hub.code(CLERK));
    enrol(d, "taiping.db", &hub.url, &hub.code(REVIEWER));
    let r = file_pension(d, "east.db");
    bianmin(d, "east.db", &["request", "accept", &r]).ok();
    bianmin(d, "east.db", &["request", "forward", &r]).ok();

    let mut watcher = Command::new(BIANMIN)
        .args(["--store", "east.db", "--json", "watch"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch");
    let lines = |from: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    };
    let reports = lines(Box::new(watcher.stdout.take().expect("stdout")));
    let said = lines(Box::new(watcher.stderr.take().expect("stderr")));
    let first: Value = serde_json::from_str(
        &reports
            .recv_timeout(Duration::from_secs(30))
            .expect("a first report"),
    )
    .expect("JSON");
    assert_eq!(first["accepted"], 1, "{first}");
    let listening = Instant::now() + Duration::from_secs(30);
    while proxy
        .requests()
        .iter()
        .all(|q| q.target != "/api/v1/events")
    {
        assert!(
            Instant::now() < listening,
            "watch never connected for notices"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    proxy.drop_for(Duration::from_secs(3));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut told = Vec::new();
    while !told
        .iter()
        .any(|l: &String| l.contains("connecting again in"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        told.push(
            said.recv_timeout(left)
                .unwrap_or_else(|_| panic!("watch said {told:?}")),
        );
    }
    assert_eq!(
        watcher.try_wait().expect("wait"),
        None,
        "watch kept running"
    );

    // Once the link is back, a decision at the township reaches the tablet without a sync.
    let reconnected = Instant::now() + Duration::from_secs(30);
    while proxy
        .requests()
        .iter()
        .filter(|q| q.target == "/api/v1/events")
        .count()
        < 2
    {
        assert!(
            Instant::now() < reconnected,
            "watch never connected again: {told:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sync(d, "taiping.db");
    bianmin(d, "taiping.db", &["request", "approve", &r]).ok();
    sync(d, "taiping.db");
    let decided = Instant::now() + Duration::from_secs(30);
    loop {
        let left = decided.saturating_duration_since(Instant::now());
        let line = reports
            .recv_timeout(left)
            .expect("a report with the decision");
        let report: Value = serde_json::from_str(&line).expect("JSON");
        if report["new_changes"] != 0 {
            break;
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    let detail = bianmin_json(d, "east.db", &["request", "show", &r]);
    assert_eq!(detail["status"], "approved");
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_request_a_resident_filed_on_the_phone_is_listed_as_self_filed() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    // The resident files on the hub's resident pages (here: the engine call those pages make).
    let wang = hub
        .storage
        .user_by_name(bianmin_tests::hub::RESIDENT)
        .unwrap()
        .unwrap();
    let filing = bianmin_server::engine::ResidentFiling {
        item_code: "CIV-RESIDENCE-CERT".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [(
            "purpose".to_string(),
            bianmin_domain::AttrValue::Text("子女入学".into()),
        )]
        .into(),
        photos: Vec::new(),
    };
    let filed = hub
        .state
        .engine
        .resident_file(&wang, &filing, hub.state.blobs.as_deref())
        .unwrap();
    let receipt = filed.receipt_no.to_string();
    assert_eq!(receipt, "370883101201-000-000001");

    sync(d, "east.db");
    let list = bianmin(d, "east.db", &["request", "list"]).ok();
    assert!(
        list.stdout
            .contains("370883101201-000-000001 自助 self-filed"),
        "{list}"
    );
    let show = bianmin(d, "east.db", &["request", "show", &receipt]).ok();
    assert!(
        show.stdout
            .contains("居民自助（手机）self-filed on the phone"),
        "{show}"
    );
    // The clerk accepts it as any other, once the ID card is in hand.
    bianmin(
        d,
        "east.db",
        &[
            "request",
            "edit",
            &receipt,
            "--material-received",
            "ID card",
        ],
    )
    .ok();
    let accepted = bianmin_json(d, "east.db", &["request", "accept", &receipt]);
    assert_eq!(accepted["status"], "accepted");
    let report = sync(d, "east.db");
    assert_eq!(report["refused"], serde_json::json!([]), "{report}");
}
