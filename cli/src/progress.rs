//! Progress of long work on stderr: a live bar on a terminal, plain lines otherwise (logs,
//! pipes, cron: one per round, and one per change of an attachment's state rather than one
//! per piece), so that stdout stays the result alone.
//!
//! A sync does not know its total in advance: the hub says only whether more is waiting after
//! each page, never how much. The bar therefore counts what has moved (rounds, documents,
//! bytes) rather than showing a fraction.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::time::Duration;

use bianmin_client_core::client::Progress;
use bianmin_client_core::transfer::{Direction, TransferProgress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::render::{bytes, docs, short_hash};

/// How progress is shown.
#[derive(Debug)]
enum Display {
    /// A live spinner line (stderr is a terminal).
    Bar(ProgressBar),
    /// One line per step (stderr is a file or a pipe).
    Lines,
    /// Nothing (`--quiet`).
    Silent,
}

/// Progress of a sync (or of any step with a message), on stderr.
#[derive(Debug)]
pub struct Reporter {
    display: Display,
    what: &'static str,
    /// The attachment state last told as a plain line: its hash, retries and whether it was
    /// whole. Plain lines come only when this changes, not for every piece.
    told: RefCell<Option<(String, u32, bool)>>,
}

impl Reporter {
    /// Starts reporting `what` (e.g. `sync`); `quiet` shows nothing.
    pub fn start(what: &'static str, quiet: bool) -> Reporter {
        let display = if quiet {
            Display::Silent
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner()
                .with_style(
                    ProgressStyle::with_template("{spinner} {prefix}: {wide_msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                )
                .with_prefix(what)
                .with_message("contacting the hub…");
            bar.enable_steady_tick(Duration::from_millis(120));
            Display::Bar(bar)
        } else {
            Display::Lines
        };
        Reporter {
            display,
            what,
            told: RefCell::new(None),
        }
    }

    /// Shows a message as the current step.
    pub fn step(&self, message: &str) {
        match &self.display {
            Display::Bar(bar) => bar.set_message(message.to_string()),
            Display::Lines => eprintln!("{}: {message}", self.what),
            Display::Silent => {}
        }
    }

    /// Shows the figures after a sync round.
    pub fn round(&self, p: &Progress) {
        let more = if p.more { ", more to receive" } else { "" };
        self.step(&format!(
            "round {}: pushed {}, received {} ({} sent, {} received){more}",
            p.rounds,
            docs(p.docs_pushed),
            docs(p.docs_pulled),
            bytes(p.bytes_sent),
            bytes(p.bytes_received),
        ));
    }

    /// Shows how one attachment's transfer stands.
    pub fn transfer(&self, p: &TransferProgress) {
        let way = match p.direction {
            Direction::Upload => "sending",
            Direction::Download => "receiving",
        };
        // What a clerk calls it: the receipt and the material (the hash if no request names it).
        let name = if p.receipt_no.is_empty() {
            format!("attachment {}", short_hash(&p.sha256))
        } else {
            format!("{} {}", p.receipt_no, p.material)
        };
        let retries = match p.retries {
            0 => String::new(),
            1 => " (after 1 retry)".to_string(),
            n => format!(" (after {n} retries)"),
        };
        let state = (p.sha256.clone(), p.retries, p.done >= p.size);
        if matches!(self.display, Display::Lines)
            && self.told.replace(Some(state.clone())) == Some(state)
        {
            return;
        }
        self.step(&format!(
            "{way} {name}: {} of {}{retries}",
            bytes(p.done),
            bytes(p.size)
        ));
    }

    /// Removes the live line (the result is printed next).
    pub fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}
