//! `docs/cli.md`'s "A clerk's day", run as written against the real hub binary.
//!
//! The section is read from the document itself: each `sh` block after a
//! `<!-- walkthrough:hub -->` marker starts `bianmin-server` in the background (as the reader's
//! first terminal), `<!-- walkthrough:stop-hub -->` stops it (the village link goes down), and
//! every other `sh` block runs with bash, in order, in one scratch directory, with `bianmin`
//! and `bianmin-server` on the PATH. Only the port changes (a free one instead of 8080). Shell
//! variables set by one block (`RECEIPT=$(...)`) are carried to the next.
//!
//! Then the test looks at the two stores the way the clerk and the reviewer would.

#![cfg(unix)]

mod common;

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bianmin_tests::hub::server_binary;
use common::{BIANMIN, bianmin, history_kinds};

const DOC: &str = include_str!("../../docs/cli.md");
const DOC_PORT: &str = "127.0.0.1:8080";

#[derive(Debug)]
enum Step {
    /// Start the hub with this command line.
    Hub(String),
    /// Stop the hub.
    StopHub,
    /// Run this script with bash.
    Script(String),
}

/// The steps of the walk-through section, with the port replaced.
fn steps(addr: SocketAddr) -> Vec<Step> {
    let start = DOC
        .find("## A clerk's day")
        .expect("the walk-through section");
    let rest = &DOC[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let section = section.replace(DOC_PORT, &addr.to_string());
    let mut steps = Vec::new();
    let mut lines = section.lines();
    let mut hub_next = false;
    while let Some(line) = lines.next() {
        match line.trim() {
            "<!-- walkthrough:hub -->" => hub_next = true,
            "<!-- walkthrough:stop-hub -->" => steps.push(Step::StopHub),
            "```sh" => {
                let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
                let block = block.join("\n");
                steps.push(if std::mem::take(&mut hub_next) {
                    Step::Hub(block)
                } else {
                    Step::Script(block)
                });
            }
            _ => {}
        }
    }
    steps
}

/// The names of the shell variables the walk-through assigns.
fn variables(steps: &[Step]) -> Vec<String> {
    let mut vars = Vec::new();
    for step in steps {
        if let Step::Script(s) = step {
            for line in s.lines() {
                let name: String = line
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                if !name.is_empty()
                    && line.trim_start()[name.len()..].starts_with('=')
                    && !vars.contains(&name)
                {
                    vars.push(name);
                }
            }
        }
    }
    vars
}

/// The hub binary, started from a walk-through block.
struct Hub(Child);

impl Hub {
    fn start(command: &str, dir: &Path, addr: SocketAddr, n: usize) -> Hub {
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(
            words.first(),
            Some(&"bianmin-server"),
            "a hub block starts bianmin-server: {command}"
        );
        let log = File::create(dir.join(format!("hub-{n}.log"))).expect("hub log");
        let child = Command::new(server_binary())
            .args(&words[1..])
            .current_dir(dir)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start bianmin-server");
        let hub = Hub(child);
        // The hub listens once its demo data is loaded.
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the hub did not start: {command}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        hub
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one script block printed.
struct Ran {
    script: String,
    stdout: String,
    stderr: String,
}

fn run_script(dir: &Path, path_var: &str, vars: &[String], script: &str) -> Ran {
    // Variables from earlier blocks come in through vars.sh and go out through it again.
    let save = vars
        .iter()
        .map(|v| format!("if [ -n \"${{{v}+x}}\" ]; then declare -p {v}; fi"))
        .collect::<Vec<_>>()
        .join("\n");
    let full = format!(
        "set -euo pipefail\nif [ -f vars.sh ]; then source vars.sh; fi\n{script}\n{{\n{save}\n}} > vars.sh\n"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&full)
        .current_dir(dir)
        .env("PATH", path_var)
        .env_remove("BIANMIN_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let ran = Ran {
        script: script.to_string(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        out.status.success(),
        "a walk-through block failed ({}):\n{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        ran.script,
        ran.stdout,
        ran.stderr
    );
    ran
}

fn ran_with<'a>(ran: &'a [Ran], needle: &str) -> &'a Ran {
    ran.iter()
        .find(|r| r.script.contains(needle))
        .unwrap_or_else(|| panic!("no walk-through block runs `{needle}`"))
}

#[test]
fn a_clerks_day_as_docs_cli_md_tells_it() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let dir = tempfile::tempdir().expect("scratch dir");
    let bin_dir: PathBuf = Path::new(BIANMIN).parent().expect("bin dir").into();
    let server_dir: PathBuf = server_binary().parent().expect("server dir").into();
    let path_var = format!(
        "{}:{}:{}",
        bin_dir.display(),
        server_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let steps = steps(addr);
    assert!(
        steps.iter().filter(|s| matches!(s, Step::Hub(_))).count() == 2
            && steps.iter().any(|s| matches!(s, Step::StopHub)),
        "the walk-through starts the hub, stops it, and starts it again: {steps:?}"
    );
    let vars = variables(&steps);
    let mut hub: Option<Hub> = None;
    let mut ran = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Hub(command) => hub = Some(Hub::start(command, dir.path(), addr, n)),
            Step::StopHub => drop(hub.take()),
            Step::Script(script) => ran.push(run_script(dir.path(), &path_var, &vars, script)),
        }
    }

    // Offline: filing, accepting and forwarding worked with the hub down; the sync said so
    // with exit code 5 and kept the work.
    let offline = ran_with(&ran, "sync || echo");
    assert!(
        offline.stdout.contains("sync exit code 5"),
        "{}",
        offline.stdout
    );
    assert!(
        offline
            .stderr
            .contains("the work stays queued for the next sync")
            && offline.stderr.contains("1 document waiting"),
        "{}",
        offline.stderr
    );
    assert!(
        offline.stdout.contains("待同步 Pending") && offline.stdout.contains("1 document"),
        "status shows the queued request:\n{}",
        offline.stdout
    );

    // Not a terminal: sync progress comes as plain lines on stderr, the report on stdout.
    let first_sync = ran
        .iter()
        .find(|r| r.script.trim() == "bianmin --store east.db sync")
        .expect("the clerk's sync when the link returns");
    assert!(
        first_sync
            .stderr
            .contains("sync: round 1: pushed 1 document"),
        "{}",
        first_sync.stderr
    );
    assert!(first_sync.stdout.contains("推送 Pushed"));
    // Then the scan of the ID card, piece by piece, named by its receipt and material.
    assert!(
        first_sync.stderr.contains("sync: sending 370883101201-")
            && first_sync.stderr.contains(" ID card: "),
        "{}",
        first_sync.stderr
    );
    assert!(
        first_sync.stdout.contains("1 sent, 0 received"),
        "{}",
        first_sync.stdout
    );

    // The reviewer saw the forwarded request, masked, and approved it.
    let reviewer = ran_with(&ran, "request list --status forwarded");
    assert!(
        reviewer.stdout.contains("已上报 forwarded") && reviewer.stdout.contains("王*英"),
        "{}",
        reviewer.stdout
    );

    // The reviewer opened the scan the clerk attached: the same bytes.
    let scan = std::fs::read(dir.path().join("id-card.jpg")).expect("the clerk's scan");
    assert_eq!(
        std::fs::read(dir.path().join("wang-id-card.jpg")).expect("the reviewer's copy"),
        scan
    );

    // The clerk saw the township's decision.
    let decision = ran_with(&ran, "request show \"$RECEIPT\"");
    assert!(
        decision.stdout.contains("审核通过 approved")
            && decision.stdout.contains("符合参保条件")
            && decision.stdout.contains("(reviewer)"),
        "{}",
        decision.stdout
    );
    assert!(
        !decision.stdout.contains(common::ID_NUMBER),
        "the page masks the ID number"
    );

    // The stores, as the clerk and the reviewer see them now.
    let clerk = bianmin(dir.path(), "east.db", &["--json", "request", "list"])
        .ok()
        .json();
    let rows = clerk["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    let receipt = rows[0]["receipt_no"].as_str().expect("receipt");
    assert!(
        DOC.contains(receipt),
        "the page's sample list shows the receipt number a fresh hub gives ({receipt})"
    );
    let detail = bianmin(
        dir.path(),
        "east.db",
        &["--json", "request", "show", receipt],
    )
    .ok()
    .json();
    assert_eq!(detail["status"], "completed");
    assert_eq!(
        history_kinds(&detail),
        ["submit", "accept", "forward", "approve", "deliver", "rate"]
    );
    assert_eq!(detail["history"][3]["by"]["role"], "reviewer");
    assert_eq!(detail["rating"], "satisfied");
    assert_eq!(detail["clock"]["state"], "stopped");

    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("request.json")).expect("request.json"),
    )
    .expect("request.json is JSON");
    assert_eq!(saved["receipt_no"], receipt);

    let status = bianmin(dir.path(), "east.db", &["--json", "status"])
        .ok()
        .json();
    assert_eq!(status["pending"], 0, "everything reached the hub: {status}");
    assert_eq!(status["refused_edits"], 0);
    assert_eq!(status["requests"], 1);
    assert_eq!(status["agenda_items"], 1);
    assert_eq!(status["role"], "clerk");

    let agenda = bianmin(dir.path(), "east.db", &["--json", "agenda", "list"])
        .ok()
        .json();
    assert_eq!(agenda["rows"][0]["stage"], "consultation");

    let township = bianmin(
        dir.path(),
        "taiping.db",
        &["--json", "request", "show", receipt],
    )
    .ok()
    .json();
    assert_eq!(
        township["status"], "approved",
        "the reviewer has not synced since approving"
    );
}
