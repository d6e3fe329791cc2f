//! `bianmin request receipt`: a request's acceptance receipt (受理回执), from this tablet's own
//! store, offline. The receipt is the one the township's console prints
//! ([`bianmin_document::notice`] writes both): the township, the receipt number, the service
//! item, the applicant's name and ID number masked, the dates and the committed deadline, and
//! the QR code of the residents' look-up page for this receipt number at the hub the tablet
//! enrolled with. As text on stdout, or with `--html FILE` as a page to open in a browser and
//! print on A4.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bianmin_client_core::Store;
use bianmin_document::notice::{self, Notice, NoticeKind};
use bianmin_domain::Timestamp;
use clap::{Args, ValueEnum};

use crate::Ctx;
use crate::exit::{CliError, CliResult, Kind};
use crate::request::resolve;

/// A notice's language, as `--lang` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LangArg {
    /// 中文
    Zh,
    /// English
    En,
}

/// `bianmin request receipt`.
#[derive(Debug, Args)]
pub struct ReceiptArgs {
    /// The request: its receipt number (受理回执号) or its id.
    #[arg(value_name = "RECEIPT")]
    request: String,
    /// Write the receipt to this new file as a page to print (A4, with the look-up QR code)
    /// instead of printing it as text.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// The receipt's language.
    #[arg(long, value_enum, default_value_t = LangArg::Zh)]
    lang: LangArg,
}

#[derive(serde::Serialize)]
struct WrittenJson<'a> {
    /// The HTML file written, when `--html` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
    #[serde(flatten)]
    receipt: &'a Notice,
}

/// Prints (or writes) the acceptance receipt of a request.
pub fn run(ctx: &Ctx, store: &Store, args: ReceiptArgs) -> CliResult {
    let lang = match args.lang {
        LangArg::Zh => notice::Lang::Zh,
        LangArg::En => notice::Lang::En,
    };
    let id = resolve(store, &args.request)?;
    let detail = store.request(id)?;
    // The hub this tablet enrolled with is where residents look it up; a practice store has
    // none (its token is never read here).
    let base = store
        .server()?
        .and_then(|(url, _token)| notice::lookup_base(&url));
    let today = Timestamp::now().china_date();
    let receipt = Notice::build(
        NoticeKind::Receipt,
        &detail,
        store.reference(),
        lang,
        base.as_deref(),
        today,
    )
    .map_err(|why| {
        CliError::new(Kind::InvalidInput, why.message(notice::Lang::En)).with_hint(
            "a receipt is printed once the request is accepted: `bianmin request accept`",
        )
    })?;
    if base.is_none() && !ctx.quiet {
        eprintln!(
            "note: this store is not enrolled with a hub, so the receipt has no look-up address \
             and no QR code"
        );
    }
    let written = match &args.html {
        Some(path) => {
            write_new(path, &receipt.html_document())?;
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            Some(path.display().to_string())
        }
        None => None,
    };
    let json = WrittenJson {
        html: written.clone(),
        receipt: &receipt,
    };
    ctx.printer.emit(
        &json,
        || match &written {
            Some(path) => format!("{} {}: {path}\n", receipt.title(), receipt.receipt_no),
            None => receipt.text(),
        },
        || {
            vec![
                written
                    .clone()
                    .unwrap_or_else(|| receipt.receipt_no.clone()),
            ]
        },
    )
}

/// Writes `text` to `path`, which must not exist yet (a typo never replaces another file).
fn write_new(path: &Path, text: &str) -> CliResult {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                "already exists; give a new file".to_string()
            } else {
                format!("cannot be written: {e}")
            };
            CliError::invalid("--html", why)
        })?;
    out.write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(|e| CliError::invalid("--html", format!("cannot be written: {e}")))
}
