//! `--json` for scripts: every command prints one JSON document on stdout that parses and
//! carries the fields a script reads; `--quiet` prints bare identifiers.

mod common;

use bianmin_tests::hub::{CLERK, TestHub};
use common::{bianmin, file_pension};
use serde_json::Value;

fn json(dir: &std::path::Path, store: &str, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let run = bianmin(dir, store, &full).ok();
    assert!(
        !run.stdout.contains('┌'),
        "no table in JSON output:\n{}",
        run.stdout
    );
    run.json()
}

#[test]
fn requests_lists_and_status_as_json() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let status = json(d, "east.db", &["init"]);
    for (key, want) in [
        ("user", "practice-clerk"),
        ("role", "clerk"),
        ("area", "370883101201"),
    ] {
        assert_eq!(status[key], want, "{status}");
    }
    assert_eq!(status["device_no"], 999);
    assert_eq!(status["server"], Value::Null);
    assert_eq!(status["pending"], 0);

    let filed = json(
        d,
        "east.db",
        &[
            "request",
            "file",
            "--item",
            "SOC-PENSION-ENROL",
            "--name",
            "王秀英",
            "--id-number",
            common::ID_NUMBER,
            "--phone",
            common::PHONE,
            "--grid",
            "1组",
            "--attr",
            "contribution_tier=300",
            "--material",
            "ID card",
            "--material",
            "Household register (hukou) booklet",
        ],
    );
    let id = filed["id"].as_str().expect("id");
    assert!(uuid_like(id), "{id}");
    assert_eq!(filed["receipt_no"], "370883101201-999-000001");
    assert_eq!(filed["status"], "submitted");
    assert_eq!(filed["item_code"], "SOC-PENSION-ENROL");
    assert_eq!(filed["clock"]["state"], "not_started");
    assert_eq!(filed["history"][0]["action"]["kind"], "submit");
    assert_eq!(filed["history"][0]["by"]["role"], "clerk");
    assert_eq!(filed["applicant"]["id_number"], "110105********002X");
    assert_eq!(
        filed["materials_received"],
        serde_json::json!(["Household register (hukou) booklet", "ID card"])
    );
    assert_eq!(filed["outstanding_materials"], serde_json::json!([]));

    // The id works wherever a receipt number does.
    let accepted = json(d, "east.db", &["request", "accept", id]);
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["clock"]["state"], "running");
    assert!(
        accepted["clock"]["due"]
            .as_str()
            .is_some_and(|s| s.len() == 10)
    );
    assert_eq!(accepted["urgency"], "on_track");

    file_pension(d, "east.db");
    let page = json(d, "east.db", &["request", "list", "--limit", "1"]);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["offset"], 0);
    assert_eq!(page["limit"], 1);
    let row = &page["rows"][0];
    for key in [
        "id",
        "receipt_no",
        "item_code",
        "village",
        "grid",
        "applicant_masked",
        "status",
        "conflict",
        "clock",
        "due",
        "filed_at",
        "updated_at",
    ] {
        assert!(row.get(key).is_some(), "a list row has {key}: {row}");
    }
    assert_eq!(row["applicant_masked"], "王*英");
    assert_eq!(row["status"], "accepted");

    let agenda = json(
        d,
        "east.db",
        &[
            "agenda",
            "create",
            "--title",
            "t",
            "--category",
            "c",
            "--description",
            "d",
        ],
    );
    assert_eq!(agenda["stage"], "proposal");
    assert!(agenda["history"].as_array().is_some_and(Vec::is_empty));
    let list = json(d, "east.db", &["agenda", "list"]);
    assert_eq!(list["rows"][0]["id"], agenda["id"]);

    let items = json(d, "east.db", &["catalog"]);
    assert!(
        items
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["code"] == "AID-DIBAO" && i["time_limit_days"] == 30)
    );
    assert_eq!(json(d, "east.db", &["refused"]), serde_json::json!([]));

    let status = json(d, "east.db", &["status"]);
    assert_eq!(status["requests"], 2);
    assert_eq!(status["agenda_items"], 1);
    assert_eq!(status["pending"], 3, "nothing synced yet");

    // A failure is one JSON document too.
    let run = bianmin(
        d,
        "east.db",
        &["--json", "request", "forward", "370883101201-999-000002"],
    )
    .exits(3);
    let err: Value = serde_json::from_str(&run.stdout).expect("error JSON");
    assert_eq!(err["error"]["exit_code"], 3);
    assert_eq!(err["error"]["kind"], "invalid_input");
    assert_eq!(err["error"]["field"], "forward");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn quiet_prints_identifiers_only() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    common::practice(d, "east.db", &[]);
    let receipt = file_pension(d, "east.db");
    assert_eq!(receipt, "370883101201-999-000001");
    let run = bianmin(d, "east.db", &["--quiet", "request", "accept", &receipt]).ok();
    assert_eq!(run.stdout, format!("{receipt}\n"));
    assert!(run.stderr.is_empty(), "{run}");
    let run = bianmin(d, "east.db", &["-q", "request", "list"]).ok();
    assert_eq!(run.stdout, format!("{receipt}\n"));
    let both = bianmin(d, "east.db", &["--json", "--quiet", "status"]).exits(2);
    assert!(both.stderr.contains("cannot be used with"), "{both}");
}

#[test]
fn enrolment_and_sync_reports_as_json() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let hub = TestHub::start();
    let code = hub.code(CLERK);
    let enrolled = json(
        d,
        "east.db",
        &[
            "enroll",
            "--server",
            &hub.url,
            "--code",
            &code,
            "--device-name",
            "desk",
        ],
    );
    assert_eq!(enrolled["role"], "clerk");
    assert_eq!(enrolled["area"], "370883101201");
    assert_eq!(enrolled["server"], hub.url.as_str());
    assert!(enrolled["device_no"].as_u64().is_some_and(|n| n >= 1));
    assert!(
        enrolled["reference_version"]
            .as_u64()
            .is_some_and(|v| v >= 1)
    );

    file_pension(d, "east.db");
    let report = json(d, "east.db", &["sync"]);
    assert_eq!(report["docs_pushed"], 1);
    assert_eq!(report["accepted"], 1);
    assert_eq!(report["refused"], serde_json::json!([]));
    assert_eq!(report["pending"], 0);
    assert_eq!(report["pull_errors"], serde_json::json!([]));
    assert!(report["rounds"].as_u64().is_some_and(|n| n >= 1));
    assert!(report["bytes_sent"].as_u64().is_some_and(|n| n > 0));
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}
