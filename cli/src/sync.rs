//! Talking to the hub: `enroll`, `sync` and `watch`. The only commands that need the network.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bianmin_client_core::Store;
use bianmin_client_core::client::{self, SyncError, SyncOptions};
use bianmin_client_core::transfer::transfer_attachments;
use bianmin_client_core::watch;
use clap::Args;

use crate::Ctx;
use crate::exit::{CliError, CliResult, Kind};
use crate::progress::Reporter;
use crate::render::{self, Mode, Printer, SyncJson, TransferJson};
use crate::store;

/// `bianmin enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The hub's address, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", env = "BIANMIN_SERVER")]
    server: String,
    /// The one-time enrolment code an administrator issued (`bianmin-server device code`).
    #[arg(long)]
    code: String,
    /// A name for this device, shown to the hub's administrators.
    #[arg(long, default_value = "bianmin-cli")]
    device_name: String,
}

/// Enrols with the hub and creates the store.
pub fn enroll(ctx: &Ctx, args: EnrollArgs) -> CliResult {
    if !(args.server.starts_with("http://") || args.server.starts_with("https://")) {
        return Err(CliError::usage(
            "--server: must be the hub's address starting with http:// or https://",
        ));
    }
    // An enrolment code is single-use and client-core redeems it before creating the store:
    // refuse an existing path first, so that the code is not spent on a store that cannot be
    // made.
    if ctx.path.exists() {
        return Err(CliError::new(
            Kind::Storage,
            format!("a store already exists at {}", ctx.path.display()),
        )
        .with_hint("enrol into a new file; the existing store was left untouched"));
    }
    let progress = Reporter::start("enroll", ctx.quiet);
    progress.step(&format!("enrolling with {}", args.server));
    let store = client::enroll(
        &ctx.path,
        &args.server,
        &args.code,
        &args.device_name,
        &SyncOptions::default(),
    )
    .map_err(|e| match e {
        SyncError::Network(_) => CliError::from(e)
            .with_hint("enrolment needs the hub; the code was not used and still works"),
        other => CliError::from(other),
    })?;
    progress.finish();
    store::status(ctx, &store)
}

/// `bianmin sync` and `bianmin watch`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Attempts per round when the hub cannot be reached or is busy (waits 0.5 s, then twice
    /// as long each time).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    attempts: u32,
    /// Seconds an exchange with the hub may go without a byte moving before it is tried
    /// again. A slow link that keeps moving is never cut off, however long a photo takes.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// Sync the documents only; leave attachment bytes for a later sync (on a link too slow
    /// for photos today).
    #[arg(long)]
    no_attachments: bool,
}

impl SyncArgs {
    fn options(&self) -> SyncOptions {
        SyncOptions {
            attempts: self.attempts,
            idle: Duration::from_secs(self.timeout),
            ..SyncOptions::default()
        }
    }
}

/// One sync run (the documents, then the attachments' bytes unless `--no-attachments`), its
/// report printed; the exit code: 0, 4 when the hub refused work, 5 when attachments could not
/// be moved for want of a connection (they wait for the next sync).
fn sync_once(
    store: &Mutex<Store>,
    args: &SyncArgs,
    printer: Printer,
    quiet: bool,
) -> CliResult<u8> {
    let opts = args.options();
    let progress = Reporter::start("sync", quiet);
    let result = client::sync(store, &opts, &mut |p| progress.round(p));
    // The documents are in; only then do the bytes move, so a large photo never holds up the
    // requests themselves.
    let transfer = match (&result, args.no_attachments) {
        (Ok(_), false) => Some(transfer_attachments(store, &opts, &mut |p| {
            progress.transfer(p)
        })?),
        _ => None,
    };
    progress.finish();
    let guard = store
        .lock()
        .map_err(|_| CliError::new(Kind::Unexpected, "the store lock was poisoned"))?;
    let report = match result {
        Ok(report) => report,
        Err(e @ SyncError::Network(_)) => {
            let pending = store::pending(&guard)?;
            let mut err = CliError::from(e);
            err.message
                .push_str(&format!(": {} waiting", render::docs(pending)));
            return Err(err);
        }
        Err(e) => return Err(e.into()),
    };
    let pending_uploads = guard.pending_uploads()?.0;
    let json = SyncJson::new(
        &report,
        store::pending(&guard)?,
        transfer
            .as_ref()
            .map(|t| TransferJson::new(t, pending_uploads)),
    );
    printer.emit(&json, || render::sync_report(&json), Vec::new)?;
    let failed = transfer.as_ref().map_or(&[][..], |t| &t.failed[..]);
    if !failed.is_empty() {
        eprintln!(
            "warning: {} attachments could not be moved this time; they stay on this tablet \
             and the next sync goes on from where this one stopped",
            failed.len()
        );
    }
    let refused_blob = failed.iter().any(|f| !f.network);
    if report.refused.is_empty() && report.pull_errors.is_empty() && !refused_blob {
        return Ok(if failed.is_empty() {
            0
        } else {
            Kind::NoNetwork.code()
        });
    }
    if !report.refused.is_empty() {
        eprintln!(
            "warning: the hub refused {} of this tablet's documents; their changes were rolled \
             back here and are listed by `bianmin refused`",
            report.refused.len()
        );
    }
    if !report.pull_errors.is_empty() {
        eprintln!(
            "warning: {} documents from the hub could not be applied; the next sync fetches \
             them again",
            report.pull_errors.len()
        );
    }
    Ok(Kind::RefusedByHub.code())
}

/// `bianmin sync`.
pub fn sync(ctx: &Ctx, store: Store, args: &SyncArgs) -> CliResult<u8> {
    sync_once(&Mutex::new(store), args, ctx.printer, ctx.quiet)
}

/// `bianmin watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    sync: SyncArgs,
    /// Exit (code 5) when the live connection ends, instead of connecting again until stopped.
    #[arg(long)]
    exit_when_gone: bool,
}

/// `bianmin watch`: sync, then sync again on each of the hub's live notices until stopped,
/// connecting again (and syncing to catch up) whenever the hub restarts or the link drops or
/// goes silent; with `--exit-when-gone`, exit 5 when the connection ends. Every write to the
/// store is a transaction and a sync cut off is simply repeated, so Ctrl-C at any moment loses
/// nothing.
pub fn watch(ctx: &Ctx, store: Store, args: &WatchArgs) -> CliResult<u8> {
    // One report per line: a script reads the reports as JSON Lines.
    let printer = Printer {
        mode: match ctx.printer.mode {
            Mode::Json => Mode::JsonLines,
            m => m,
        },
    };
    let (store, stop, opts) = (Mutex::new(store), AtomicBool::new(false), &args.sync);
    // A failed sync is reported and the next notice or connection tries again; the live
    // connection itself tells when the hub is gone.
    let mut sync = || {
        if let Err(e) = sync_once(&store, opts, printer, ctx.quiet) {
            eprintln!("error: {e}");
        }
    };
    if args.exit_when_gone {
        sync_once(&store, opts, printer, ctx.quiet)?;
        say(ctx, "watch: listening for the hub's notices (Ctrl-C stops)");
        watch::watch(&store, &stop, &mut sync)?;
        return Err(CliError::new(
            Kind::NoNetwork,
            "the hub closed the live connection; the work stays queued for the next sync",
        )
        .with_hint("run `bianmin watch` or `bianmin sync` again when the hub is back"));
    }
    // Offline at the start is no reason to stop: the first connection waits for the link.
    sync();
    say(ctx, "watch: listening for the hub's notices (Ctrl-C stops)");
    watch::keep_watching(
        &store,
        &stop,
        RECONNECT_FIRST,
        &mut sync,
        &mut |why, wait| {
            say(
                ctx,
                &format!(
                    "watch: {why}; connecting again in {:.0} s",
                    wait.as_secs_f64().ceil()
                ),
            );
        },
    )?;
    Ok(0)
}

/// The first wait before connecting again after the live connection is lost.
const RECONNECT_FIRST: Duration = Duration::from_secs(2);

/// A line on stderr unless `--quiet`.
fn say(ctx: &Ctx, line: &str) {
    if !ctx.quiet {
        eprintln!("{line}");
    }
}
