//! The store file: opening it safely, practice stores, and the commands that read the store as
//! a whole (`status`, `catalog`, `refused`).

use std::io::Read;
use std::path::Path;

use bianmin_client_core::{Reference, Store, StoreConfig};
use bianmin_domain::{Identity, Role};
use clap::{Args, ValueEnum};

use crate::Ctx;
use crate::exit::{CliError, CliResult, Kind};
use crate::render::{self, StatusJson};

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Opens the store at `path`. Whatever stops it from opening is a storage problem (exit 6).
///
/// A file that is not an SQLite database at all is refused here and left where it is:
/// client-core moves an unreadable store aside (right for the tablet's own file, which may
/// hold unsynced work), but on a command line an unreadable file is far more often a mistyped
/// path, and `--store notes.txt` must not rename the user's notes.
pub fn open(path: &Path) -> CliResult<Store> {
    let hint = format!(
        "enrol a store with `bianmin --store {} enroll --server URL --code CODE`",
        path.display()
    );
    if !path.exists() {
        return Err(
            CliError::new(Kind::Storage, format!("no store at {}", path.display())).with_hint(hint),
        );
    }
    if path.is_dir() {
        return Err(CliError::new(
            Kind::Storage,
            format!("{} is a directory, not a store file", path.display()),
        ));
    }
    let mut head = Vec::with_capacity(16);
    std::fs::File::open(path)
        .and_then(|f| f.take(16).read_to_end(&mut head))
        .map_err(|e| {
            CliError::new(
                Kind::Storage,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
    // An empty file is left to client-core, which says it is not a Bianmin store.
    if !head.is_empty() && head.as_slice() != SQLITE_HEADER {
        return Err(CliError::new(
            Kind::Storage,
            format!(
                "{} is not a Bianmin store (not an SQLite database); it was left untouched",
                path.display()
            ),
        )
        .with_hint("check the --store path"));
    }
    Store::open(path).map_err(|e| CliError::from(e).into_storage())
}

/// A role, as the command line takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// A resident (own requests only).
    Resident,
    /// A village service-point clerk.
    Clerk,
    /// A township reviewer.
    Reviewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Resident => Role::Resident,
            RoleArg::Clerk => Role::Clerk,
            RoleArg::Reviewer => Role::Reviewer,
        }
    }
}

/// `bianmin init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The user this store acts as.
    #[arg(long, default_value = "practice-clerk")]
    user: String,
    /// The role.
    #[arg(long, value_enum, default_value_t = RoleArg::Clerk)]
    role: RoleArg,
    /// The area: a village code (12 digits) for a clerk or resident, a township code (9 digits)
    /// for a reviewer. The demo county's East Village is 370883101201.
    #[arg(long, default_value = "370883101201")]
    area: String,
    /// The device number that goes into receipt numbers.
    #[arg(long, default_value_t = 999)]
    device_no: u32,
    /// The device's name.
    #[arg(long, default_value = "practice")]
    device: String,
}

/// Creates a practice store with the demo reference data.
pub fn init(ctx: &Ctx, args: InitArgs) -> CliResult {
    let identity = Identity::new(args.user, args.role.into(), args.area, args.device)
        .map_err(|e| CliError::invalid(e.field, e.rule))?;
    let store = Store::create(
        &ctx.path,
        StoreConfig {
            identity,
            device_no: args.device_no,
            reference: Reference::demo(),
        },
    )?;
    status(ctx, &store)
}

/// What `status` (and `enroll`, `init`) print.
pub fn status_json(store: &Store, path: &Path) -> CliResult<StatusJson> {
    let id = store.identity();
    let (requests, agenda_items) = store.counts()?;
    let (pending_uploads, pending_upload_bytes) = store.pending_uploads()?;
    Ok(StatusJson {
        store: path.display().to_string(),
        user: id.user.clone(),
        role: id.role,
        area: id.area.clone(),
        device: id.device.clone(),
        device_no: store.device_no(),
        server: store.server()?.map(|(url, _token)| url),
        requests,
        agenda_items,
        pending: pending(store)?,
        pending_uploads,
        pending_upload_bytes,
        refused_edits: store.refused_edits()?.len(),
        sync_cursor: store.sync_cursor()?,
        reference_version: store.reference_version()?,
    })
}

/// The number of documents with changes the hub has not acknowledged.
pub fn pending(store: &Store) -> CliResult<usize> {
    Ok(store.pending_documents()?)
}

/// `bianmin status`.
pub fn status(ctx: &Ctx, store: &Store) -> CliResult {
    let s = status_json(store, &ctx.path)?;
    ctx.printer.emit(
        &s,
        || render::status(&s, store.reference()),
        || vec![s.device.clone()],
    )
}

/// `bianmin catalog [CODE]`.
pub fn catalog(ctx: &Ctx, store: &Store, code: Option<&str>) -> CliResult {
    let catalog = &store.reference().catalog;
    match code {
        None => ctx.printer.emit(
            &catalog.items,
            || render::catalog(&catalog.items),
            || catalog.items.iter().map(|i| i.code.clone()).collect(),
        ),
        Some(code) => {
            let item = catalog
                .require(code)
                .map_err(|e| CliError::invalid(e.field, e.rule))?;
            ctx.printer.emit(
                item,
                || render::catalog_item(item),
                || vec![item.code.clone()],
            )
        }
    }
}

/// `bianmin refused`.
pub fn refused(ctx: &Ctx, store: &Store) -> CliResult {
    let list = store.refused_edits()?;
    ctx.printer.emit(
        &list,
        || render::refused(&list),
        || list.iter().map(|r| r.doc_id.to_string()).collect(),
    )
}
