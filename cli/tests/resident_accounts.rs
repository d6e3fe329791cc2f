//! `bianmin resident` through a real hub (served in this process), run as the binary: the clerk
//! opens a resident's account and reads the code off the screen, the code works on the hub,
//! the village's list shows the account, a new code replaces the old; a taken name exits 4 with
//! what to do instead; without the hub the commands exit 5 and a practice store exits 3.

mod common;

use std::path::Path;

use bianmin_server::auth::{hash_secret, normalise_code};
use bianmin_server::password;
use bianmin_tests::hub::{CLERK, TestHub};
use common::{bianmin, bianmin_json, enrol, practice};

const LI: &str = "resident-li";

fn open_li(dir: &Path) -> common::Run {
    bianmin(
        dir,
        "east.db",
        &["resident", "open", "--name", LI, "--display-name", "李秀兰"],
    )
}

/// The code as the box on the screen shows it, its spaces taken out.
fn boxed_code(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with('│'))
        .unwrap_or_else(|| panic!("no boxed code in:\n{stdout}"));
    line.chars().filter(|c| !matches!(c, '│' | ' ')).collect()
}

/// Whether `code` activates `name`'s account on the hub (it is spent if so).
fn activates(hub: &TestHub, name: &str, code: &str) -> bool {
    let hash = hash_secret(&normalise_code(code));
    let password = password::hash("li's own 2026 pw").unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    hub.storage
        .activate_account(name, &hash, &password, now)
        .is_ok()
}

#[test]
fn a_clerk_opens_an_account_and_reads_the_code_off_the_screen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));

    let run = open_li(d).ok();
    let out = &run.stdout;
    for words in [
        "居民账号已开通 Resident account opened",
        "李秀兰",
        LI,
        "有效期至 Valid until",
        &format!("{}/resident/activate", hub.url),
        "--resident-user u-",
    ] {
        assert!(out.contains(words), "{words:?} missing:\n{run}");
    }
    let code = boxed_code(out);
    assert_eq!(code.len(), 11, "{code}");
    let spaced = code.chars().map(String::from).collect::<Vec<_>>().join(" ");
    assert!(out.contains(&spaced), "printed large (spaced):\n{out}");

    // The list before and after she activates with that code.
    let list = bianmin(d, "east.db", &["resident", "list"]).ok();
    assert!(list.stdout.contains("未激活 not_activated"), "{list}");
    assert!(activates(&hub, LI, &code), "the printed code works");
    let listed = bianmin_json(d, "east.db", &["resident", "list"]);
    let li = listed["residents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == LI)
        .expect("listed")
        .clone();
    assert_eq!(li["activated"], true);
    assert_eq!(li["village"], "370883101201");
    let names = bianmin(d, "east.db", &["--quiet", "resident", "list"]).ok();
    assert!(names.stdout.lines().any(|l| l == LI), "{names}");

    // A new code (she forgot her password): `--quiet` prints the code alone, `--json` with
    // where to activate; each new one replaces the one before.
    let quiet = bianmin(d, "east.db", &["--quiet", "resident", "code", LI])
        .ok()
        .line();
    assert_eq!(quiet.len(), 11, "{quiet}");
    let json = bianmin_json(d, "east.db", &["resident", "code", LI]);
    assert_eq!(
        json["activate_at"],
        format!("{}/resident/activate", hub.url).as_str()
    );
    assert_eq!(json["name"], LI);
    assert!(json["valid_until"].as_str().unwrap().len() >= 16);
    let newest = json["code"].as_str().unwrap();
    assert!(!activates(&hub, LI, &quiet), "replaced by the newer code");
    assert!(activates(&hub, LI, newest));
}

#[test]
fn a_taken_or_bad_name_exits_4_with_the_rule_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    open_li(d).ok();

    let again = open_li(d).exits(4);
    assert!(again.stderr.contains("name_taken"), "{again}");
    assert!(
        again.stderr.contains("bianmin resident code resident-li"),
        "{again}"
    );
    let bad = bianmin(
        d,
        "east.db",
        &[
            "--json",
            "resident",
            "open",
            "--name",
            "bad name!",
            "--display-name",
            "李",
        ],
    )
    .exits(4);
    let error = &bad.json()["error"];
    assert_eq!(error["exit_code"], 4);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("name: must be 1 to 64"),
        "{bad}"
    );
    let unknown = bianmin(d, "east.db", &["resident", "code", "resident-nobody"]).exits(4);
    assert!(unknown.stderr.contains("not_found"), "{unknown}");
}

#[test]
fn without_the_hub_the_commands_exit_5_and_a_practice_store_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hub = TestHub::start();
    enrol(d, "east.db", &hub.url, &hub.code(CLERK));
    drop(hub);

    let offline = open_li(d).exits(5);
    assert!(offline.stderr.contains("needs the link"), "{offline}");
    assert!(offline.stderr.contains("nothing was changed"), "{offline}");
    bianmin(d, "east.db", &["resident", "list"]).exits(5);

    practice(d, "practice.db", &[]);
    let practice = bianmin(d, "practice.db", &["resident", "list"]).exits(3);
    assert!(practice.stderr.contains("not enrolled"), "{practice}");
}
