//! `bianmin`: every operation of the village tablet's store from a shell, on a store file.
//!
//! The command line over `bianmin-client-core`: enrol a store with the township hub, file and
//! act on service requests, record agenda items and their meetings, list and show them, and
//! sync; and open residents' accounts on the hub. Everything but `enroll`, `sync`, `watch` and
//! `resident` works offline.
//!
//! This file holds the top of the command line (global flags, the command list) and the
//! dispatch; each area has its module: [`request`] (with [`receipt`], the printable
//! acceptance receipt), [`agenda`], [`sync`] (enrolment, sync,
//! live updates), [`resident`] (residents' accounts on the hub), [`store`] (opening, practice
//! stores, status, catalog, refused edits), [`render`] (tables and JSON), [`labels`], [`progress`], and [`exit`] (exit codes).

mod agenda;
mod exit;
mod labels;
mod progress;
mod receipt;
mod render;
mod request;
mod resident;
mod store;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{CliError, CliResult};
use crate::render::{Mode, Printer};

/// Bianmin 便民: the village tablet's store from a shell.
///
/// Every command works on one store file (the tablet's database), given with --store or the
/// BIANMIN_STORE environment variable. `enroll` creates it from the township hub; `init`
/// creates a practice store that never syncs. Everything except `enroll`, `sync`, `watch` and
/// `resident` works offline: changes wait in the store until the next `sync`.
///
/// Requests are named by their receipt number (受理回执号, e.g. 370883101201-001-000001) or id;
/// agenda items by their id or its first characters.
///
/// Personal data: lists show masked names only; a request's page masks the ID number and
/// phone unless --reveal is given; error messages name the field and the rule, never the value.
#[derive(Debug, Parser)]
#[command(
    name = "bianmin",
    version,
    after_help = "Exit codes: 0 ok, 2 usage, 3 bad input, 4 refused by the hub, 5 no network, \
                  6 storage (details: --help).",
    after_long_help = exit::TABLE
)]
struct Cli {
    /// The store file (the tablet's database).
    #[arg(
        long,
        short = 's',
        env = "BIANMIN_STORE",
        global = true,
        value_name = "FILE"
    )]
    store: Option<PathBuf>,
    /// Print one JSON document on stdout instead of tables (errors too, as {"error": ...}).
    #[arg(long, global = true, conflicts_with = "quiet")]
    json: bool,
    /// Print only the receipt numbers or ids of what was made, changed or listed, one a line;
    /// no progress.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enrol this tablet with the township hub and create its store (needs the network).
    Enroll(sync::EnrollArgs),
    /// Create a practice store: not enrolled, with the demo county and catalog; it never syncs.
    Init(store::InitArgs),
    /// Who this store acts as, its hub, and how much waits to be synced.
    Status,
    /// The service items (事项清单), or one item's materials and form.
    Catalog {
        /// An item's code, to show its materials and form attributes.
        code: Option<String>,
    },
    /// Service requests (办件): file, act on, edit, comment, list, show.
    #[command(subcommand)]
    Request(request::RequestCommand),
    /// Village agenda items (四议两公开): open, record meetings and notices, review, list, show.
    #[command(subcommand)]
    Agenda(agenda::AgendaCommand),
    /// Residents' accounts on the hub: list, open one with its activation code, issue a new
    /// code (needs the network).
    #[command(subcommand)]
    Resident(resident::ResidentCommand),
    /// Push this tablet's changes to the hub and receive what changed (needs the network).
    Sync(sync::SyncArgs),
    /// Sync, then stay connected and sync again whenever the hub announces changes (Ctrl-C
    /// stops).
    Watch(sync::WatchArgs),
    /// The edits the hub refused: rolled back here, kept with the hub's reason.
    Refused,
}

/// What every command needs besides its own arguments.
#[derive(Debug)]
pub struct Ctx {
    /// How to print.
    pub printer: Printer,
    /// `--quiet`: no progress output.
    pub quiet: bool,
    /// The store file.
    pub path: PathBuf,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    let mode = if cli.json {
        Mode::Json
    } else if cli.quiet {
        Mode::Quiet
    } else {
        Mode::Table
    };
    let printer = Printer { mode };
    match run(cli, printer) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            printer.error(&e);
            ExitCode::from(e.code())
        }
    }
}

/// Reports an error of the argument parser the way clap does (message on stderr, exit 2; help
/// and version on stdout, exit 0), and with `--json` also as `{"error": ...}` on stdout.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let is_output = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if !is_output && std::env::args_os().any(|a| a == "--json") {
        // The message is the first paragraph (the usage line and the tip follow).
        let rendered = e.render().to_string();
        let first = rendered.split("\n\n").next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        Printer { mode: Mode::Json }.error_json(&CliError::usage(message));
    }
    e.exit()
}

/// Runs the command; `Ok` carries the exit code of a command that finished and printed its
/// result but still has something to say (a sync the hub partly refused exits 4).
fn run(cli: Cli, printer: Printer) -> CliResult<u8> {
    let path = cli
        .store
        .ok_or_else(|| CliError::usage("no store given: pass --store FILE or set BIANMIN_STORE"))?;
    let ctx = Ctx {
        printer,
        quiet: cli.quiet,
        path,
    };
    match cli.command {
        Command::Enroll(args) => sync::enroll(&ctx, args).map(|()| 0),
        Command::Init(args) => store::init(&ctx, args).map(|()| 0),
        Command::Status => store::status(&ctx, &store::open(&ctx.path)?).map(|()| 0),
        Command::Catalog { code } => {
            store::catalog(&ctx, &store::open(&ctx.path)?, code.as_deref()).map(|()| 0)
        }
        Command::Request(cmd) => request::run(&ctx, store::open(&ctx.path)?, cmd).map(|()| 0),
        Command::Agenda(cmd) => agenda::run(&ctx, store::open(&ctx.path)?, cmd).map(|()| 0),
        Command::Resident(cmd) => resident::run(&ctx, store::open(&ctx.path)?, cmd).map(|()| 0),
        Command::Sync(args) => sync::sync(&ctx, store::open(&ctx.path)?, &args),
        Command::Watch(args) => sync::watch(&ctx, store::open(&ctx.path)?, &args),
        Command::Refused => store::refused(&ctx, &store::open(&ctx.path)?).map(|()| 0),
    }
}
