//! `bianmin resident ...`: residents' accounts on the hub, from the clerk's tablet: the
//! village's accounts (`list`), opening one with its one-time activation code (`open`), and a
//! new code for a resident who lost theirs or forgot the password (`code`). These need the
//! network: the accounts live on the hub ([`bianmin_client_core::residents`]).
//!
//! The code is printed large and plain, with its expiry and what the resident does with it,
//! for the clerk to read out or hand over; it is shown this once (the hub keeps only its hash).

use std::sync::Mutex;

use bianmin_client_core::Store;
use bianmin_client_core::client::SyncOptions;
use bianmin_client_core::protocol::ResidentList;
use bianmin_client_core::residents::{self, AccountError, ActivationCodeIssued, ResidentAccount};
use bianmin_domain::Timestamp;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets};
use serde::Serialize;

use crate::Ctx;
use crate::exit::{CliError, CliResult, Kind};
use crate::labels;

/// `bianmin resident`.
#[derive(Debug, Subcommand)]
pub enum ResidentCommand {
    /// The resident accounts of this clerk's village: user name, name, activated or not
    /// (needs the network).
    List,
    /// Open a resident's account and print its one-time activation code (needs the network).
    Open(OpenArgs),
    /// Issue a new activation code for a resident of this village: a lost or expired code, a
    /// forgotten password. The earlier unused code stops working (needs the network).
    Code {
        /// The resident's user name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// `bianmin resident open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The user name the resident will type on the phone: letters, digits, '-', '_' or '.'
    /// (e.g. resident-li), unique in the hub.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The resident's name as shown (e.g. 李秀兰).
    #[arg(long, value_name = "NAME")]
    display_name: String,
}

/// Runs a `resident` command.
pub fn run(ctx: &Ctx, store: Store, cmd: ResidentCommand) -> CliResult {
    let hub = store.server()?.map(|(url, _token)| url);
    let (store, opts) = (Mutex::new(store), SyncOptions::default());
    match cmd {
        ResidentCommand::List => {
            let residents = residents::list_residents(&store, &opts).map_err(refused)?;
            let list = ResidentList { residents };
            ctx.printer.emit(
                &list,
                || list_text(&list.residents),
                || list.residents.iter().map(|r| r.name.clone()).collect(),
            )
        }
        ResidentCommand::Open(args) => {
            let issued = residents::open_resident(&store, &args.name, &args.display_name, &opts)
                .map_err(|e| match e {
                    AccountError::Hub { status: 409, .. } => refused(e).with_hint(format!(
                        "if this resident's account was opened already, issue a new code: \
                         `bianmin resident code {}`",
                        args.name
                    )),
                    AccountError::Interrupted(_) => refused(e).with_hint(format!(
                        "run `bianmin resident list`: if {} is listed, the account was opened; \
                         issue its code with `bianmin resident code {}`",
                        args.name, args.name
                    )),
                    other => refused(other),
                })?;
            print_code(ctx, &issued, hub.as_deref(), true)
        }
        ResidentCommand::Code { name } => {
            let issued = residents::new_activation_code(&store, &name, &opts).map_err(refused)?;
            print_code(ctx, &issued, hub.as_deref(), false)
        }
    }
}

/// A failure as the command line's error: no link exits 5, a refusal by the hub 4.
fn refused(e: AccountError) -> CliError {
    let message = e.to_string();
    match e {
        AccountError::Offline(_) => CliError::new(Kind::NoNetwork, message)
            .with_hint("try again when the link to the hub is back"),
        AccountError::Interrupted(_) => CliError::new(Kind::NoNetwork, message),
        AccountError::Hub { .. } => CliError::new(Kind::RefusedByHub, message),
        AccountError::NotEnrolled => CliError::new(Kind::InvalidInput, message)
            .with_hint("only a store made by `bianmin enroll` reaches the hub"),
        AccountError::Store(inner) => inner.into(),
    }
}

/// The code as `--json` prints it: the hub's answer, the address to activate at and the date
/// it expires on.
#[derive(Serialize)]
struct CodeJson<'a> {
    #[serde(flatten)]
    issued: &'a ActivationCodeIssued,
    /// Where the resident activates the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    activate_at: Option<String>,
    /// `expires_at` in China Standard Time, to the minute.
    valid_until: String,
}

fn print_code(
    ctx: &Ctx,
    issued: &ActivationCodeIssued,
    hub: Option<&str>,
    opened: bool,
) -> CliResult {
    let json = CodeJson {
        issued,
        activate_at: hub.map(|url| format!("{}/resident/activate", url.trim_end_matches('/'))),
        valid_until: labels::time(Timestamp(issued.expires_at)),
    };
    ctx.printer.emit(
        &json,
        || code_text(&json, opened),
        || vec![issued.code.clone()],
    )
}

/// The code, large and plain: its characters spaced in a box, then who it is for, until when,
/// and what the resident does with it.
fn code_text(json: &CodeJson<'_>, opened: bool) -> String {
    let issued = json.issued;
    let spaced: String = issued
        .code
        .chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let bar = "─".repeat(spaced.chars().count() + 8);
    let title = if opened {
        "居民账号已开通 Resident account opened"
    } else {
        "新激活码 New activation code"
    };
    let page = json
        .activate_at
        .clone()
        .unwrap_or_else(|| "/resident/activate".into());
    format!(
        "{title}\n\n\
         居民 Resident:        {display}\n\
         用户名 User name:     {name}\n\
         用户编号 User id:     {id}\n\n\
         激活码 Activation code:\n\
         ┌{bar}┐\n\
         │    {spaced}    │\n\
         └{bar}┘\n\
         有效期至 Valid until: {until} (北京时间 China time)\n\n\
         请居民用手机打开 {page} ，输入用户名、激活码，再设置新密码（8 位以上）。\n\
         On the phone, the resident opens {page} and enters the user name, this code and a new \
         password (8 characters or more).\n\
         此码只能用一次，重新发码后作废。 The code works once; a new code voids it.\n\
         为该居民登记办件：bianmin request file ... --resident-user {id}\n\
         File requests for this resident with: bianmin request file ... --resident-user {id}\n",
        display = issued.display_name,
        name = issued.name,
        id = issued.user_id,
        until = json.valid_until,
    )
}

/// The village's accounts as a table.
fn list_text(list: &[ResidentAccount]) -> String {
    if list.is_empty() {
        return "没有居民账号 No resident accounts.\n".into();
    }
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "用户名 User name",
        "居民 Resident",
        "状态 State",
        "激活码 Code",
        "用户编号 User id",
    ]);
    let now = Timestamp::now().0;
    for r in list {
        let code = match r.code_expires_at {
            Some(at) if at > now => format!("有效至 valid until {}", labels::time(Timestamp(at))),
            Some(_) => "已过期 expired".into(),
            None => "-".into(),
        };
        t.add_row(vec![
            r.name.clone(),
            r.display_name.clone(),
            state(r).into(),
            code,
            r.user_id.clone(),
        ]);
    }
    t.to_string() + "\n"
}

fn state(r: &ResidentAccount) -> &'static str {
    match (r.deactivated, r.activated) {
        (true, _) => "已停用 deactivated",
        (false, true) => "已激活 activated",
        (false, false) => "未激活 not_activated",
    }
}
