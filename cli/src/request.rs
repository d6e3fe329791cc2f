//! `bianmin request ...`: filing service requests, the lifecycle actions, edits, comments,
//! lists and the request's page. All offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bianmin_client_core::{
    Error as StoreError, FieldEdit, NewRequest, Page, RequestDetail, RequestFilter, RequestSort,
    Store, UrgencyFilter,
};
use bianmin_domain::{
    Action, AttachmentRef, AttrValue, AttributeType, EventId, Rating, ServiceItem, Status,
};
use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::Ctx;
use crate::exit::{CliError, CliResult, Kind};
use crate::render::{self, PageJson};

/// The request a command acts on.
#[derive(Debug, Args)]
pub struct Target {
    /// The request: its receipt number (受理回执号) or its id.
    #[arg(value_name = "RECEIPT")]
    request: String,
}

/// `bianmin request file`.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The service item's code (`bianmin catalog` lists them).
    #[arg(long, value_name = "CODE")]
    item: String,
    /// The applicant's name (申请人).
    #[arg(long)]
    name: String,
    /// The applicant's national ID number (身份证号, 18 characters).
    #[arg(long, value_name = "ID")]
    id_number: String,
    /// The applicant's phone number (mobile, or landline with area code).
    #[arg(long)]
    phone: String,
    /// The applicant's grid (网格), one of the village's, e.g. 1组.
    #[arg(long)]
    grid: String,
    /// A form attribute, CODE=VALUE; repeat for each (`bianmin catalog ITEM` shows the form).
    #[arg(long = "attr", value_name = "CODE=VALUE")]
    attrs: Vec<String>,
    /// A material received (申请材料), as the item lists it; repeat for each.
    #[arg(long = "material", value_name = "NAME")]
    materials: Vec<String>,
    /// The registered resident the request belongs to, by their user id (`u-…`, as
    /// `bianmin resident list` and `resident open` print it), if any.
    #[arg(long, value_name = "USER_ID")]
    resident_user: Option<String>,
    /// Keep it as a draft (submit later with `request submit`).
    #[arg(long)]
    draft: bool,
}

/// What `request edit` changes: exactly one field per command, so each edit is one
/// transaction that either happens or does not.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct EditArgs {
    /// A new applicant name.
    #[arg(long)]
    name: Option<String>,
    /// A new ID number.
    #[arg(long, value_name = "ID")]
    id_number: Option<String>,
    /// A new phone number.
    #[arg(long)]
    phone: Option<String>,
    /// A new grid.
    #[arg(long)]
    grid: Option<String>,
    /// Set a form attribute, CODE=VALUE.
    #[arg(long = "attr", value_name = "CODE=VALUE")]
    attr: Option<String>,
    /// Clear an optional form attribute.
    #[arg(long, value_name = "CODE")]
    clear_attr: Option<String>,
    /// Mark a material as received.
    #[arg(long, value_name = "NAME")]
    material_received: Option<String>,
    /// Mark a material as not received.
    #[arg(long, value_name = "NAME")]
    material_missing: Option<String>,
}

/// A status, as `--status` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StatusArg {
    /// 草稿
    Draft,
    /// 已提交
    Submitted,
    /// 已受理
    Accepted,
    /// 不予受理
    NotAccepted,
    /// 已上报
    Forwarded,
    /// 退回补正
    Returned,
    /// 审核通过
    Approved,
    /// 不予批准
    Rejected,
    /// 已办结
    Completed,
    /// 已撤回
    Withdrawn,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Draft => Status::Draft,
            StatusArg::Submitted => Status::Submitted,
            StatusArg::Accepted => Status::Accepted,
            StatusArg::NotAccepted => Status::NotAccepted,
            StatusArg::Forwarded => Status::Forwarded,
            StatusArg::Returned => Status::Returned,
            StatusArg::Approved => Status::Approved,
            StatusArg::Rejected => Status::Rejected,
            StatusArg::Completed => Status::Completed,
            StatusArg::Withdrawn => Status::Withdrawn,
        }
    }
}

/// The order of a list.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    /// Nearest deadline first; requests without a running deadline last.
    Deadline,
    /// Most recently changed first.
    Updated,
    /// Most recently filed first.
    Filed,
    /// By receipt number.
    Receipt,
}

/// A rating (好差评).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RatingArg {
    /// 非常满意
    VerySatisfied,
    /// 满意
    Satisfied,
    /// 基本满意
    BasicallySatisfied,
    /// 不满意 (opens a follow-up)
    Dissatisfied,
    /// 非常不满意 (opens a follow-up)
    VeryDissatisfied,
}

impl From<RatingArg> for Rating {
    fn from(r: RatingArg) -> Rating {
        match r {
            RatingArg::VerySatisfied => Rating::VerySatisfied,
            RatingArg::Satisfied => Rating::Satisfied,
            RatingArg::BasicallySatisfied => Rating::BasicallySatisfied,
            RatingArg::Dissatisfied => Rating::Dissatisfied,
            RatingArg::VeryDissatisfied => Rating::VeryDissatisfied,
        }
    }
}

/// `bianmin request list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this status.
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    /// Only requests past their deadline (with --due-soon: either).
    #[arg(long)]
    overdue: bool,
    /// Only requests due within two working days (with --overdue: either).
    #[arg(long)]
    due_soon: bool,
    /// Only this service item.
    #[arg(long, value_name = "CODE")]
    item: Option<String>,
    /// Only this village (its 12-digit code; for a reviewer's store).
    #[arg(long, value_name = "CODE")]
    village: Option<String>,
    /// Only this grid, e.g. 1组.
    #[arg(long)]
    grid: Option<String>,
    /// Only requests waiting for someone to settle a conflict.
    #[arg(long, conflicts_with = "no_conflict")]
    conflict: bool,
    /// Only requests not in conflict.
    #[arg(long)]
    no_conflict: bool,
    /// Only receipt numbers starting with this.
    #[arg(long, value_name = "PREFIX")]
    receipt: Option<String>,
    /// Only receipt numbers containing this (any part, e.g. the last digits; full-width digits
    /// as a Chinese input method types them are fine).
    #[arg(long, value_name = "TEXT")]
    receipt_contains: Option<String>,
    /// Only applicants whose name contains this (lists still show names masked).
    #[arg(long, value_name = "TEXT")]
    applicant: Option<String>,
    /// Only requests filed on or after this day (YYYY-MM-DD, China Standard Time).
    #[arg(long, value_name = "DATE")]
    from: Option<chrono::NaiveDate>,
    /// Only requests filed on or before this day (YYYY-MM-DD, China Standard Time).
    #[arg(long, value_name = "DATE")]
    to: Option<chrono::NaiveDate>,
    /// The order.
    #[arg(long, value_enum, default_value_t = SortArg::Deadline)]
    sort: SortArg,
    /// Rows per page (1 to 500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// Rows to skip (the footer of a page says where the next one starts).
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

/// `bianmin request ...`.
#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// File a resident's request (受理登记) and submit it; prints it with its receipt number.
    File(FileArgs),
    /// List requests: nearest deadline first, masked names, filters and paging.
    List(ListArgs),
    /// Print the acceptance receipt (受理回执) of an accepted request: as text, or with --html
    /// as a page to print on A4 with the QR code of the residents' look-up.
    Receipt(crate::receipt::ReceiptArgs),
    /// Show a request's page: fields, clock, conflict, history, comments, edits.
    Show {
        #[command(flatten)]
        target: Target,
        /// Show the ID number, the phone and sensitive attributes (a bank account) in full
        /// (masked by default).
        #[arg(long)]
        reveal: bool,
    },
    /// Submit a draft (提交).
    Submit(Target),
    /// Accept the application (受理).
    Accept(Target),
    /// Refuse to accept it (不予受理); a reason is required.
    Refuse {
        #[command(flatten)]
        target: Target,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Complete a village-level item at the village (办结).
    Complete(Target),
    /// Forward to the township (上报).
    Forward(Target),
    /// Return for supplement (退回补正), listing every missing material at once (一次性告知).
    #[command(name = "return")]
    Return {
        #[command(flatten)]
        target: Target,
        /// A missing material; repeat for each.
        #[arg(long = "missing", value_name = "MATERIAL", required = true)]
        missing: Vec<String>,
        /// Anything else the applicant should know.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Hand in what was missing (补正); every material listed as missing is required.
    Supplement {
        #[command(flatten)]
        target: Target,
        /// A material now provided; repeat for each.
        #[arg(long = "provided", value_name = "MATERIAL", required = true)]
        provided: Vec<String>,
    },
    /// Approve (审核通过; township reviewer).
    Approve {
        #[command(flatten)]
        target: Target,
        /// An optional note.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject (不予批准; township reviewer); a reason is required.
    Reject {
        #[command(flatten)]
        target: Target,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Deliver the township's result to the applicant (送达, 办结).
    Deliver(Target),
    /// Withdraw (撤回), before a decision.
    Withdraw {
        #[command(flatten)]
        target: Target,
        /// Why, if the applicant says.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Record the applicant's rating (好差评) of a completed or rejected request.
    Rate {
        #[command(flatten)]
        target: Target,
        /// The rating.
        #[arg(long, value_enum)]
        rating: RatingArg,
        /// The applicant's words.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Waive one of the item's required materials (容缺受理), so that the request can be
    /// accepted or approved without it.
    Waive {
        #[command(flatten)]
        target: Target,
        /// The material, as the service item names it (`items ITEM` lists them).
        #[arg(long)]
        material: String,
        /// Why it is waived.
        #[arg(long)]
        reason: String,
    },
    /// Settle a conflict between concurrent decisions by keeping one branch.
    Settle {
        #[command(flatten)]
        target: Target,
        /// The branch event to keep (from `request show`; its first characters are enough).
        #[arg(long, value_name = "EVENT")]
        keep: String,
        /// Why; required.
        #[arg(long)]
        note: String,
    },
    /// Edit one field of a request (name, ID number, phone, grid, an attribute, a material).
    Edit {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        change: EditArgs,
    },
    /// Add a comment.
    Comment {
        #[command(flatten)]
        target: Target,
        /// The comment.
        text: String,
    },
    /// Attach a photo or scan (JPEG, PNG or PDF, at most 20 MB) of one of the request's
    /// materials; it reaches the township with the next `sync`.
    Attach {
        #[command(flatten)]
        target: Target,
        /// The file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The material it shows, as the item lists it (`bianmin catalog ITEM`).
        #[arg(long, value_name = "NAME")]
        material: String,
    },
    /// List a request's attachments and where their bytes stand (here, at the hub, on the
    /// way).
    Attachments(Target),
    /// Open an attachment: print the path of its file on this tablet (or copy it with --to),
    /// once its bytes are all here and match their hash.
    Open {
        #[command(flatten)]
        target: Target,
        /// The attachment: the first characters of its hash (from `request attachments`) or
        /// its id.
        #[arg(value_name = "ATTACHMENT")]
        attachment: String,
        /// Copy it to this new file instead of printing where it is.
        #[arg(long, value_name = "FILE")]
        to: Option<PathBuf>,
    },
}

/// Runs a `request` command.
pub fn run(ctx: &Ctx, mut store: Store, cmd: RequestCommand) -> CliResult {
    use RequestCommand as C;
    let mut apply = |t: Target, action: Action| -> CliResult<RequestDetail> {
        let id = resolve(&store, &t.request)?;
        Ok(store.apply(id, action)?)
    };
    let detail = match cmd {
        C::File(args) => file(&mut store, args)?,
        C::List(args) => return list(ctx, &store, &args),
        C::Receipt(args) => return crate::receipt::run(ctx, &store, args),
        C::Show { target, reveal } => {
            let d = store.request(resolve(&store, &target.request)?)?;
            return show(ctx, &store, &d, reveal);
        }
        C::Submit(t) => apply(t, Action::Submit)?,
        C::Accept(t) => apply(t, Action::Accept)?,
        C::Refuse { target, reason } => apply(target, Action::RefuseToAccept { reason })?,
        C::Complete(t) => apply(t, Action::Complete)?,
        C::Forward(t) => apply(t, Action::Forward)?,
        C::Return {
            target,
            missing,
            note,
        } => apply(target, Action::ReturnForSupplement { missing, note })?,
        C::Supplement { target, provided } => apply(target, Action::Supplement { provided })?,
        C::Approve { target, note } => apply(target, Action::Approve { note })?,
        C::Reject { target, reason } => apply(target, Action::Reject { reason })?,
        C::Deliver(t) => apply(t, Action::Deliver)?,
        C::Withdraw { target, reason } => apply(target, Action::Withdraw { reason })?,
        C::Rate {
            target,
            rating,
            comment,
        } => apply(
            target,
            Action::Rate {
                rating: rating.into(),
                comment,
            },
        )?,
        C::Waive {
            target,
            material,
            reason,
        } => apply(target, Action::WaiveMaterial { material, reason })?,
        C::Settle { target, keep, note } => {
            let id = resolve(&store, &target.request)?;
            let keep = branch(&store.request(id)?, &keep)?;
            store.apply(id, Action::Settle { keep, note })?
        }
        C::Edit { target, change } => {
            let id = resolve(&store, &target.request)?;
            let edit = field_edit(&store, id, change)?;
            store.edit(id, edit)?
        }
        C::Comment { target, text } => {
            let id = resolve(&store, &target.request)?;
            store.comment(id, &text)?
        }
        C::Attach {
            target,
            file,
            material,
        } => {
            let id = resolve(&store, &target.request)?;
            store.attach_file(id, &material, &file)?;
            return attachments(ctx, &store, id);
        }
        C::Attachments(target) => {
            let id = resolve(&store, &target.request)?;
            return attachments(ctx, &store, id);
        }
        C::Open {
            target,
            attachment,
            to,
        } => {
            let id = resolve(&store, &target.request)?;
            return open(ctx, &store, id, &attachment, to.as_deref());
        }
    };
    show(ctx, &store, &detail, false)
}

fn attachments(ctx: &Ctx, store: &Store, id: Uuid) -> CliResult {
    let list = store.attachments(id)?;
    ctx.printer.emit(
        &list,
        || render::attachments(&list),
        || list.iter().map(|a| a.reference.sha256.clone()).collect(),
    )
}

/// The attachment of request `id` named by the first characters of its hash or by its id.
fn attachment_named(store: &Store, id: Uuid, name: &str) -> CliResult<AttachmentRef> {
    let name = name.trim().to_ascii_lowercase();
    let list = store.request(id)?.attachments;
    let by_id = Uuid::parse_str(&name).ok();
    let mut matches: Vec<AttachmentRef> = list
        .into_iter()
        .filter(|a| Some(a.id) == by_id || (name.len() >= 4 && a.sha256.starts_with(&name)))
        .collect();
    // The same photo attached as two materials has one hash: either reference opens it.
    matches.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    matches.dedup_by(|a, b| a.sha256 == b.sha256);
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(CliError::invalid(
            "attachment",
            "is not one of the request's attachments: give at least 4 characters of its hash \
             (`bianmin request attachments RECEIPT` lists them) or its id",
        )),
        _ => Err(CliError::invalid(
            "attachment",
            "matches several attachments: give more characters of the hash",
        )),
    }
}

#[derive(serde::Serialize)]
struct OpenedJson<'a> {
    path: String,
    #[serde(flatten)]
    attachment: &'a AttachmentRef,
}

fn open(ctx: &Ctx, store: &Store, id: Uuid, name: &str, to: Option<&Path>) -> CliResult {
    let attachment = attachment_named(store, id, name)?;
    let path = store
        .open_attachment(id, &attachment.sha256)
        .map_err(|e| match e {
            StoreError::NotFound { .. } => CliError::new(
                Kind::InvalidInput,
                "the attachment's bytes are not on this tablet yet",
            )
            .with_hint("`bianmin sync` fetches them from the hub"),
            other => other.into(),
        })?;
    let path = match to {
        None => path,
        Some(to) => {
            copy_new(&path, to)?;
            to.to_path_buf()
        }
    };
    // A path another program can open from anywhere.
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let shown = path.display().to_string();
    ctx.printer.emit(
        &OpenedJson {
            path: shown.clone(),
            attachment: &attachment,
        },
        || format!("{shown}\n"),
        || vec![shown.clone()],
    )
}

/// Copies `from` to `to`, which must not exist yet (nothing of the clerk's is overwritten).
fn copy_new(from: &Path, to: &Path) -> CliResult {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                "already exists; give a new file".to_string()
            } else {
                format!("cannot be written: {e}")
            };
            CliError::invalid("--to", why)
        })?;
    let mut input = std::fs::File::open(from)
        .map_err(|e| CliError::new(Kind::Storage, format!("cannot read the attachment: {e}")))?;
    std::io::copy(&mut input, &mut out)
        .and_then(|_| out.sync_all())
        .map_err(|e| CliError::new(Kind::Storage, format!("cannot copy the attachment: {e}")))?;
    Ok(())
}

/// Finds a request by receipt number or id.
pub fn resolve(store: &Store, reference: &str) -> CliResult<Uuid> {
    let reference = reference.trim();
    if let Ok(id) = Uuid::parse_str(reference) {
        return Ok(id);
    }
    match store.find_by_receipt(reference) {
        Ok(Some(row)) => Ok(row.id),
        Ok(None) => Err(CliError::new(
            Kind::InvalidInput,
            format!("request {reference} not found in this store"),
        )
        .with_hint("`bianmin request list` shows the receipt numbers this store holds")),
        Err(StoreError::Invalid { .. }) => Err(CliError::invalid(
            "request",
            "give a receipt number (e.g. 370883101201-001-000001) or a request id",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The conflict branch named by `keep` (a whole event id or its first characters).
fn branch(detail: &RequestDetail, keep: &str) -> CliResult<EventId> {
    if let Ok(id) = Uuid::parse_str(keep) {
        return Ok(EventId(id));
    }
    let keep = keep.trim().to_ascii_lowercase();
    let branches = detail
        .conflict
        .as_ref()
        .map(|c| c.branches.iter().map(|(e, _)| *e).collect::<Vec<_>>())
        .unwrap_or_default();
    let matches: Vec<EventId> = branches
        .into_iter()
        .filter(|e| !keep.is_empty() && e.to_string().starts_with(&keep))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(CliError::invalid(
            "keep",
            "is not one of the request's conflict branches (`bianmin request show` lists them)",
        )),
        _ => Err(CliError::invalid(
            "keep",
            "matches several branches: give more characters",
        )),
    }
}

/// Parses `CODE=VALUE` as the item's form types it: a number attribute takes a number. The
/// value is never repeated in an error (an attribute may hold a bank account).
fn attribute(item: Option<&ServiceItem>, raw: &str) -> CliResult<(String, AttrValue)> {
    let Some((code, value)) = raw.split_once('=') else {
        return Err(CliError::usage(
            "--attr: write each attribute as CODE=VALUE, e.g. --attr household_members=3",
        ));
    };
    let code = code.trim().to_string();
    if code.is_empty() {
        return Err(CliError::usage(
            "--attr: the attribute's code before '=' is empty",
        ));
    }
    let spec = item.and_then(|i| i.attribute(&code));
    let value = match spec.map(|s| s.datatype) {
        Some(AttributeType::Number) => {
            let n: f64 = value
                .trim()
                .parse()
                .map_err(|_| CliError::invalid(format!("attributes.{code}"), "must be a number"))?;
            AttrValue::Number(n)
        }
        // Unknown codes pass as text: the store names them in its refusal.
        _ => AttrValue::Text(value.to_string()),
    };
    Ok((code, value))
}

fn file(store: &mut Store, args: FileArgs) -> CliResult<RequestDetail> {
    let item = store.reference().catalog.item(&args.item).cloned();
    let attributes = args
        .attrs
        .iter()
        .map(|raw| attribute(item.as_ref(), raw))
        .collect::<CliResult<BTreeMap<_, _>>>()?;
    Ok(store.file_request(NewRequest {
        item_code: args.item,
        applicant_name: args.name,
        id_number: args.id_number,
        phone: args.phone,
        grid: args.grid,
        attributes,
        materials_received: args.materials,
        resident_user: args.resident_user,
        submit: !args.draft,
    })?)
}

fn field_edit(store: &Store, id: Uuid, e: EditArgs) -> CliResult<FieldEdit> {
    let edit = if let Some(v) = e.name {
        FieldEdit::ApplicantName(v)
    } else if let Some(v) = e.id_number {
        FieldEdit::IdNumber(v)
    } else if let Some(v) = e.phone {
        FieldEdit::Phone(v)
    } else if let Some(v) = e.grid {
        FieldEdit::Grid(v)
    } else if let Some(raw) = e.attr {
        let item_code = store
            .request_row(id)?
            .map(|r| r.item_code)
            .unwrap_or_default();
        let item = store.reference().catalog.item(&item_code);
        let (code, value) = attribute(item, &raw)?;
        FieldEdit::Attribute {
            code,
            value: Some(value),
        }
    } else if let Some(code) = e.clear_attr {
        FieldEdit::Attribute { code, value: None }
    } else if let Some(name) = e.material_received {
        FieldEdit::Material {
            name,
            received: true,
        }
    } else if let Some(name) = e.material_missing {
        FieldEdit::Material {
            name,
            received: false,
        }
    } else {
        return Err(CliError::usage("request edit: give one field to change"));
    };
    Ok(edit)
}

fn show(ctx: &Ctx, store: &Store, d: &RequestDetail, reveal: bool) -> CliResult {
    let view = render::masked_detail(d, store.reference(), reveal);
    ctx.printer.emit(
        &view,
        || render::request_detail(&view, store.reference()),
        || vec![view.receipt_no.as_str().to_string()],
    )
}

fn list(ctx: &Ctx, store: &Store, a: &ListArgs) -> CliResult {
    let filter = RequestFilter {
        status: a.status.map(Into::into),
        item_code: a.item.clone(),
        grid: a.grid.clone(),
        village: a.village.clone(),
        conflict: match (a.conflict, a.no_conflict) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        urgency: match (a.overdue, a.due_soon) {
            (true, true) => Some(UrgencyFilter::OverdueOrDueSoon),
            (true, false) => Some(UrgencyFilter::Overdue),
            (false, true) => Some(UrgencyFilter::DueSoon),
            (false, false) => None,
        },
        receipt_prefix: a.receipt.clone(),
        receipt_contains: a.receipt_contains.clone(),
        applicant_contains: a.applicant.clone(),
        filed_from: a.from,
        filed_to: a.to,
    };
    if let (Some(from), Some(to)) = (a.from, a.to)
        && from > to
    {
        return Err(CliError::usage(format!(
            "request list: --from {from} is after --to {to}"
        )));
    }
    let sort = match a.sort {
        SortArg::Deadline => RequestSort::Deadline,
        SortArg::Updated => RequestSort::RecentlyUpdated,
        SortArg::Filed => RequestSort::RecentlyFiled,
        SortArg::Receipt => RequestSort::ReceiptNo,
    };
    let page = Page {
        offset: a.offset,
        limit: a.limit,
    };
    let listing = store.list_requests(&filter, sort, page)?;
    let total = store.count_requests(&filter)?;
    ctx.printer.emit(
        &PageJson::new(&listing, page).with_total(total),
        || render::request_list(&listing, page, total, store.reference()),
        || listing.rows.iter().map(|r| r.receipt_no.clone()).collect(),
    )
}
