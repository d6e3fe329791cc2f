//! Bad arguments and bad input: each gets a message that says what is wrong, names the field
//! and the rule (never the value typed), and its own exit code, and changes nothing.
//!
//! Exit codes: 2 usage, 3 bad input, 4 refused by the hub, 5 no network, 6 storage.

mod common;

use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, TestHub};
use common::{ID_NUMBER, PHONE, assert_no_personal_data, bianmin, bianmin_raw, file_pension};
use tempfile::TempDir;

fn practice_store() -> TempDir {
    let dir = tempfile::tempdir().expect("dir");
    common::practice(dir.path(), "east.db", &[]);
    dir
}

/// `request file` with the usual values, some replaced.
fn file_with(dir: &TempDir, replace: &[(&str, &str)]) -> common::Run {
    let mut args = vec![
        ("--item", "SOC-PENSION-ENROL"),
        ("--name", "王秀英"),
        ("--id-number", ID_NUMBER),
        ("--phone", PHONE),
        ("--grid", "1组"),
        ("--attr", "contribution_tier=300"),
    ];
    for (flag, value) in replace {
        let slot = args.iter_mut().find(|(f, _)| f == flag).expect("a flag");
        slot.1 = value;
    }
    let mut argv = vec!["--json", "request", "file"];
    for (f, v) in &args {
        argv.push(f);
        argv.push(v);
    }
    bianmin(dir.path(), "east.db", &argv)
}

fn count_requests(dir: &TempDir) -> u64 {
    bianmin(dir.path(), "east.db", &["--json", "status"])
        .ok()
        .json()["requests"]
        .as_u64()
        .expect("requests")
}

#[test]
fn an_unknown_item_code_is_bad_input_that_names_the_field() {
    let dir = practice_store();
    let run = file_with(&dir, &[("--item", "NOT-AN-ITEM")]).exits(3);
    assert!(
        run.stderr
            .contains("error: item_code: is not a service item of the loaded catalog"),
        "{run}"
    );
    let err = &run.json()["error"];
    assert_eq!(err["exit_code"], 3);
    assert_eq!(err["kind"], "invalid_input");
    assert_eq!(err["field"], "item_code");
    assert_eq!(count_requests(&dir), 0, "nothing was filed");
}

#[test]
fn a_malformed_id_number_names_the_field_and_rule_but_never_the_number() {
    let dir = practice_store();
    // A wrong check digit (the right one is 0... X for this birth date and sequence).
    let typed = "110105194912310021";
    let run = file_with(&dir, &[("--id-number", typed)]).exits(3);
    assert!(
        run.stderr
            .contains("applicant.id_number: check digit does not match (GB 11643)"),
        "{run}"
    );
    assert!(
        !run.stderr.contains(typed) && !run.stdout.contains(typed),
        "the ID number typed leaked:\n{run}"
    );
    assert_eq!(run.json()["error"]["field"], "applicant.id_number");

    let short = "1101051949";
    let run = file_with(&dir, &[("--id-number", short)]).exits(3);
    assert!(run.stderr.contains("must be 18 characters"), "{run}");
    assert!(!run.stderr.contains(short) && !run.stdout.contains(short));

    let bad_phone = "12345";
    let run = file_with(&dir, &[("--phone", bad_phone)]).exits(3);
    assert!(run.stderr.contains("applicant.phone"), "{run}");
    assert!(!run.stderr.contains(bad_phone) && !run.stdout.contains(bad_phone));
    assert_eq!(count_requests(&dir), 0);
}

#[test]
fn attribute_values_are_typed_by_the_item_and_never_echoed() {
    let dir = practice_store();
    // household_size is a number attribute of SOC-MEDICAL-ENROL.
    let run = bianmin(
        dir.path(),
        "east.db",
        &[
            "request",
            "file",
            "--item",
            "SOC-MEDICAL-ENROL",
            "--name",
            "王秀英",
            "--id-number",
            ID_NUMBER,
            "--phone",
            PHONE,
            "--grid",
            "1组",
            "--attr",
            "household_size=secret-words",
        ],
    )
    .exits(3);
    assert!(
        run.stderr
            .contains("attributes.household_size: must be a number"),
        "{run}"
    );
    assert!(!run.stderr.contains("secret-words"));

    let run = file_with(&dir, &[("--attr", "contribution_tier")]).exits(2);
    assert!(
        run.stderr
            .contains("--attr: write each attribute as CODE=VALUE"),
        "{run}"
    );

    let run = file_with(&dir, &[("--attr", "contribution_tier=7")]).exits(3);
    assert!(
        run.stderr
            .contains("attributes.contribution_tier: must be one of: 200, 300, 500, 1000, 2000"),
        "{run}"
    );
    let run = file_with(&dir, &[("--grid", "9组")]).exits(3);
    assert!(
        run.stderr
            .contains("grid: must be one of the village's grids: 1组, 2组, 3组"),
        "{run}"
    );
    assert_eq!(count_requests(&dir), 0);
}

#[test]
fn missing_or_blank_reasons_are_refused() {
    let dir = practice_store();
    let receipt = file_pension(dir.path(), "east.db");

    // No --reason at all: a usage error from the argument parser.
    let run = bianmin(dir.path(), "east.db", &["request", "reject", &receipt]).exits(2);
    assert!(
        run.stderr.contains("--reason <REASON>") && run.stderr.contains("required"),
        "{run}"
    );
    let run = bianmin(dir.path(), "east.db", &["request", "refuse", &receipt]).exits(2);
    assert!(run.stderr.contains("--reason <REASON>"), "{run}");
    let run = bianmin(
        dir.path(),
        "east.db",
        &["--json", "request", "reject", &receipt],
    )
    .exits(2);
    assert_eq!(run.json()["error"]["kind"], "usage");
    assert_eq!(
        run.json()["error"]["message"],
        "the following required arguments were not provided: --reason <REASON>"
    );

    // A blank one: the workflow rule.
    let run = bianmin(
        dir.path(),
        "east.db",
        &["request", "refuse", &receipt, "--reason", "  "],
    )
    .exits(3);
    assert!(run.stderr.contains("reason: a reason is required"), "{run}");

    // Returning for supplement lists the missing materials.
    let run = bianmin(dir.path(), "east.db", &["request", "return", &receipt]).exits(2);
    assert!(run.stderr.contains("--missing <MATERIAL>"), "{run}");

    let shown = bianmin(
        dir.path(),
        "east.db",
        &["--json", "request", "show", &receipt],
    )
    .ok()
    .json();
    assert_eq!(shown["status"], "submitted", "nothing happened to it");
}

#[test]
fn steps_out_of_order_or_beyond_the_role_and_unknown_requests() {
    let dir = practice_store();
    let receipt = file_pension(dir.path(), "east.db");

    let run = bianmin(dir.path(), "east.db", &["request", "forward", &receipt]).exits(3);
    assert!(run.stderr.contains("forward"), "{run}");

    bianmin(dir.path(), "east.db", &["request", "accept", &receipt]).ok();
    bianmin(dir.path(), "east.db", &["request", "forward", &receipt]).ok();
    let run = bianmin(dir.path(), "east.db", &["request", "approve", &receipt]).exits(3);
    assert!(
        run.stderr
            .contains("not permitted: a clerk may not approve a request"),
        "{run}"
    );

    let run = bianmin(
        dir.path(),
        "east.db",
        &["request", "show", "370883101201-999-000042"],
    )
    .exits(3);
    assert!(
        run.stderr
            .contains("request 370883101201-999-000042 not found in this store"),
        "{run}"
    );
    let run = bianmin(dir.path(), "east.db", &["request", "show", "nonsense"]).exits(3);
    assert!(run.stderr.contains("give a receipt number"), "{run}");

    let run = bianmin(dir.path(), "east.db", &["agenda", "show", "ab"]).exits(3);
    assert!(
        run.stderr.contains("at least its first 4 characters"),
        "{run}"
    );
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "shopping list: rice, oil\n").expect("write");

    let run = bianmin(dir.path(), "notes.txt", &["status"]).exits(6);
    assert!(
        run.stderr.contains(
            "notes.txt is not a Bianmin store (not an SQLite database); it was left untouched"
        ),
        "{run}"
    );
    assert_eq!(
        std::fs::read_to_string(&notes).expect("still there"),
        "shopping list: rice, oil\n"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["notes.txt"], "nothing moved or created");

    std::fs::write(dir.path().join("empty.db"), "").expect("write");
    let run = bianmin(dir.path(), "empty.db", &["request", "list"]).exits(6);
    assert!(run.stderr.contains("not a Bianmin store"), "{run}");

    let run = bianmin(dir.path(), "missing.db", &["request", "list"]).exits(6);
    assert!(run.stderr.contains("no store at missing.db"), "{run}");
    assert!(run.stderr.contains("enroll"), "says how to make one: {run}");
    assert!(!dir.path().join("missing.db").exists());

    // init and enroll never overwrite.
    common::practice(dir.path(), "east.db", &[]);
    let run = bianmin(dir.path(), "east.db", &["init"]).exits(6);
    assert!(run.stderr.contains("a store already exists"), "{run}");
    // The hub address is unreachable: had enroll contacted it first, this would be exit 5.
    let run = bianmin(
        dir.path(),
        "east.db",
        &[
            "enroll",
            "--server",
            "http://127.0.0.1:9",
            "--code",
            "ABCDE-FGHIJ",
        ],
    )
    .exits(6);
    assert!(run.stderr.contains("a store already exists"), "{run}");
}

#[test]
fn usage_errors_exit_2_and_help_documents_the_exit_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let run = bianmin_raw(dir.path(), &["status"]).exits(2);
    assert!(
        run.stderr
            .contains("no store given: pass --store FILE or set BIANMIN_STORE")
    );

    let run = bianmin_raw(dir.path(), &["--store", "x.db", "frobnicate"]).exits(2);
    assert!(run.stderr.contains("unrecognized subcommand"), "{run}");

    let run = bianmin_raw(
        dir.path(),
        &[
            "--store",
            "x.db",
            "enroll",
            "--server",
            "127.0.0.1:8080",
            "--code",
            "X",
        ],
    )
    .exits(2);
    assert!(
        run.stderr
            .contains("must be the hub's address starting with http://")
    );

    let help = bianmin_raw(dir.path(), &["--help"]).ok();
    for line in [
        "Exit codes:",
        "2  usage",
        "3  bad input",
        "4  refused by the hub",
        "5  no network",
        "6  storage",
    ] {
        assert!(
            help.stdout.contains(line),
            "--help lacks {line:?}:\n{}",
            help.stdout
        );
    }
    let help = bianmin_raw(dir.path(), &["request", "file", "--help"]).ok();
    assert!(help.stdout.contains("--id-number <ID>"), "{}", help.stdout);
}

#[test]
fn no_network_exits_5_and_the_work_stays_queued() {
    let dir = tempfile::tempdir().expect("dir");
    let hub = TestHub::start();
    let code = hub.code(CLERK);
    bianmin(
        dir.path(),
        "east.db",
        &["enroll", "--server", &hub.url, "--code", &code],
    )
    .ok();
    let url = hub.url.clone();
    drop(hub); // the link goes down

    let receipt = file_pension(dir.path(), "east.db");
    bianmin(dir.path(), "east.db", &["request", "accept", &receipt]).ok();

    let run = bianmin(
        dir.path(),
        "east.db",
        &["--json", "sync", "--attempts", "2"],
    )
    .exits(5);
    assert!(
        run.stderr.contains("no connection to the hub")
            && run
                .stderr
                .contains("the work stays queued for the next sync: 1 document waiting"),
        "{run}"
    );
    assert_eq!(run.json()["error"]["kind"], "no_network");
    assert_no_personal_data(&run);

    let status = bianmin(dir.path(), "east.db", &["--json", "status"])
        .ok()
        .json();
    assert_eq!(status["pending"], 1, "the request waits for the next sync");
    assert_eq!(status["server"], url.as_str());
    let shown = bianmin(
        dir.path(),
        "east.db",
        &["--json", "request", "show", &receipt],
    )
    .ok()
    .json();
    assert_eq!(shown["status"], "accepted");

    // Enrolment needs the network too: no store is made without it.
    let run = bianmin(
        dir.path(),
        "other.db",
        &["enroll", "--server", &url, "--code", "ABCDE-FGHIJ"],
    )
    .exits(5);
    assert!(run.stderr.contains("the code was not used"), "{run}");
    assert!(!dir.path().join("other.db").exists());

    // A practice store has no hub at all.
    common::practice(dir.path(), "practice.db", &[]);
    let run = bianmin(dir.path(), "practice.db", &["sync"]).exits(3);
    assert!(
        run.stderr.contains("this store is not enrolled with a hub"),
        "{run}"
    );
}

#[test]
fn the_hub_refusing_a_code_or_a_revoked_device_exits_4() {
    let dir = tempfile::tempdir().expect("dir");
    let hub = TestHub::start();
    let run = bianmin(
        dir.path(),
        "east.db",
        &["enroll", "--server", &hub.url, "--code", "WRONG-CODE1"],
    )
    .exits(4);
    assert!(run.stderr.contains("the hub refused the request"), "{run}");
    assert!(
        !dir.path().join("east.db").exists(),
        "no store without enrolment"
    );

    let code = hub.code(CLERK);
    bianmin(
        dir.path(),
        "east.db",
        &["enroll", "--server", &hub.url, "--code", &code],
    )
    .ok();
    file_pension(dir.path(), "east.db");
    let device = hub.storage.devices().expect("devices")[0].id.clone();
    assert!(admin::revoke_device(hub.storage.as_ref(), &device).expect("revoke"));

    let run = bianmin(dir.path(), "east.db", &["sync"]).exits(4);
    assert!(run.stderr.contains("the hub refused the request"), "{run}");
    let status = bianmin(dir.path(), "east.db", &["--json", "status"])
        .ok()
        .json();
    assert_eq!(
        status["pending"], 1,
        "nothing is dropped when the hub says no"
    );
}
