//! Running the `bianmin` binary the way a user or a script does, and reading what it printed.

#![allow(dead_code)] // each test file uses its own part of these helpers

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The binary under test.
pub const BIANMIN: &str = env!("CARGO_BIN_EXE_bianmin");

/// A resident's fictitious ID number (valid check digit) and phone.
pub const ID_NUMBER: &str = "11010519491231002X";
pub const PHONE: &str = "13812345678";

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl Run {
    /// Stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts exit code 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }

    /// Asserts this exit code and returns self.
    #[track_caller]
    pub fn exits(self, code: i32) -> Run {
        assert_eq!(self.code, code, "expected exit code {code}:\n{self}");
        self
    }

    /// Stdout's one line, trimmed (for `--quiet`).
    pub fn line(&self) -> String {
        self.stdout.trim().to_string()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `bianmin --store STORE ARGS...` in `dir`.
pub fn bianmin(dir: &Path, store: &str, args: &[&str]) -> Run {
    let mut full = vec!["--store", store];
    full.extend_from_slice(args);
    bianmin_raw(dir, &full)
}

/// Runs `bianmin ARGS...` in `dir`, with no store variable from the environment.
pub fn bianmin_raw(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(BIANMIN)
        .args(args)
        .current_dir(dir)
        .env_remove("BIANMIN_STORE")
        .env_remove("BIANMIN_SERVER")
        .output()
        .expect("run bianmin");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `bianmin --json --store STORE ARGS...`, which must succeed, and parses what it printed.
pub fn bianmin_json(dir: &Path, store: &str, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    bianmin(dir, store, &full).ok().json()
}

/// Enrols a new store with the hub at `url` using a one-time `code`.
pub fn enrol(dir: &Path, store: &str, url: &str, code: &str) {
    bianmin(
        dir,
        store,
        &["--quiet", "enroll", "--server", url, "--code", code],
    )
    .ok();
}

/// Creates a practice store (a clerk of East Village unless `args` say otherwise).
pub fn practice(dir: &Path, store: &str, args: &[&str]) -> PathBuf {
    let mut full = vec!["init"];
    full.extend_from_slice(args);
    bianmin(dir, store, &full).ok();
    dir.join(store)
}

/// The materials SOC-PENSION-ENROL requires (domain/demo/service-items.json).
pub const PENSION_MATERIALS: [&str; 2] = ["ID card", "Household register (hukou) booklet"];

/// Files the usual pension-enrolment request, with every material it requires received (so
/// that it can be accepted), and returns its receipt number.
pub fn file_pension(dir: &Path, store: &str) -> String {
    file_pension_with(dir, store, &PENSION_MATERIALS)
}

/// Files the usual pension-enrolment request with only these materials received and returns
/// its receipt number.
pub fn file_pension_with(dir: &Path, store: &str, materials: &[&str]) -> String {
    let mut args = vec![
        "--quiet",
        "request",
        "file",
        "--item",
        "SOC-PENSION-ENROL",
        "--name",
        "王秀英",
        "--id-number",
        ID_NUMBER,
        "--phone",
        PHONE,
        "--grid",
        "1组",
        "--attr",
        "contribution_tier=300",
    ];
    for m in materials {
        args.extend(["--material", m]);
    }
    bianmin(dir, store, &args).ok().line()
}

/// The `kind` of each history entry of a request, from `request show --json`.
pub fn history_kinds(detail: &Value) -> Vec<String> {
    detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["action"]["kind"].as_str().expect("kind").to_string())
        .collect()
}

/// Asserts that nothing printed contains the resident's ID number or phone.
#[track_caller]
pub fn assert_no_personal_data(run: &Run) {
    for secret in [ID_NUMBER, PHONE] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "personal data printed:\n{run}"
        );
    }
}
