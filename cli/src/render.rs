//! Output: tables for people, JSON for scripts, bare identifiers with `--quiet`.
//!
//! Every command hands [`Printer::emit`] a serialisable value (the JSON), a function that draws
//! the tables, and the identifiers of what it touched; the global flags pick one. Tables label
//! each column in Chinese and English (`状态 Status`).
//!
//! Personal data: lists carry only the masked name client-core stores in its rows; a request's
//! own page shows the ID number and phone masked, and the attributes the catalog marks
//! sensitive (a bank account) as stars, unless `--reveal` is given (see [`masked_detail`]).
//!
//! Materials, attributes and list values read by their Chinese names from the catalog, beside
//! the names and codes requests record (what `--material` and `--attr` take).

use std::collections::BTreeSet;
use std::io::Write;

use bianmin_client_core::client::SyncReport;
use bianmin_client_core::transfer::{TransferFailure, TransferReport};
use bianmin_client_core::{
    AgendaDetail, AgendaRow, AttachmentView, Listing, Page, Reference, RefusedEdit, RequestDetail,
    RequestRow, TransferState,
};
use bianmin_domain::{AttrValue, NationalId, Phone, ServiceItem, Stamp};
use comfy_table::{Table, presets};
use serde::Serialize;

use crate::exit::{CliError, CliResult};
use crate::labels;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Tables for people (the default).
    Table,
    /// One JSON document on stdout (`--json`).
    Json,
    /// One compact JSON document per line (`--json` on `watch`, which prints many).
    JsonLines,
    /// Only identifiers, one a line (`--quiet`).
    Quiet,
}

/// Writes results and errors in the chosen [`Mode`].
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// The mode.
    pub mode: Mode,
}

impl Printer {
    /// Prints a result: `json` with `--json`, `ids` with `--quiet`, `text()` otherwise.
    pub fn emit<T: Serialize + ?Sized>(
        &self,
        json: &T,
        text: impl FnOnce() -> String,
        ids: impl FnOnce() -> Vec<String>,
    ) -> CliResult {
        match self.write(json, text, ids) {
            // The reader stopped reading (`| head`): nothing is wrong with the command.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }

    fn write<T: Serialize + ?Sized>(
        &self,
        json: &T,
        text: impl FnOnce() -> String,
        ids: impl FnOnce() -> Vec<String>,
    ) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        match self.mode {
            Mode::Json => {
                serde_json::to_writer_pretty(&mut out, json).map_err(std::io::Error::from)?;
                writeln!(out)?;
            }
            Mode::JsonLines => {
                serde_json::to_writer(&mut out, json).map_err(std::io::Error::from)?;
                writeln!(out)?;
            }
            Mode::Quiet => {
                for id in ids() {
                    writeln!(out, "{id}")?;
                }
            }
            Mode::Table => {
                let text = text();
                write!(out, "{text}")?;
                if !text.ends_with('\n') {
                    writeln!(out)?;
                }
            }
        }
        out.flush()?;
        Ok(())
    }

    /// Reports a failure: the message on stderr, and with `--json` also `{"error": ...}` on
    /// stdout so that a script reading stdout always gets one JSON document.
    pub fn error(&self, e: &CliError) {
        eprintln!("error: {e}");
        self.error_json(e);
    }

    /// With `--json`, the error as `{"error": {...}}` on stdout; nothing otherwise.
    pub fn error_json(&self, e: &CliError) {
        if matches!(self.mode, Mode::Json | Mode::JsonLines) {
            #[derive(Serialize)]
            struct Wrapped<'a> {
                error: ErrorJson<'a>,
            }
            #[derive(Serialize)]
            struct ErrorJson<'a> {
                exit_code: u8,
                #[serde(flatten)]
                error: &'a CliError,
            }
            let wrapped = Wrapped {
                error: ErrorJson {
                    exit_code: e.code(),
                    error: e,
                },
            };
            let text = if self.mode == Mode::JsonLines {
                serde_json::to_string(&wrapped)
            } else {
                serde_json::to_string_pretty(&wrapped)
            };
            if let Ok(text) = text {
                // Best effort: stdout may be gone, and the message is on stderr already.
                let _ = writeln!(std::io::stdout(), "{text}");
            }
        }
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

/// A two-column table of labelled values.
fn fields(rows: Vec<(&str, String)>) -> String {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    t.to_string()
}

/// A titled section: `\n历史 History\n<table>`.
fn section(out: &mut String, title: &str, body: String) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
    out.push_str(&body);
    out.push('\n');
}

/// Who did something and on which device. Hub-assigned ids are long (`u-` and 32 hex digits,
/// device UUIDs): tables show their start, JSON carries them whole.
fn stamp(s: &Stamp) -> String {
    format!(
        "{} ({}) @ {}",
        abbrev(&s.user),
        s.role.as_str(),
        abbrev(&s.device)
    )
}

fn abbrev(s: &str) -> String {
    if s.chars().count() > 16 {
        s.chars().take(10).chain(['…']).collect()
    } else {
        s.to_string()
    }
}

/// `1 document`, `2 documents`.
pub fn docs(n: usize) -> String {
    if n == 1 {
        "1 document".into()
    } else {
        format!("{n} documents")
    }
}

fn attr(v: &AttrValue) -> String {
    match v {
        AttrValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        AttrValue::Number(n) => n.to_string(),
        AttrValue::Text(s) => s.clone(),
    }
}

fn short(id: impl ToString) -> String {
    id.to_string().chars().take(8).collect()
}

fn village_name(reference: &Reference, code: &str) -> String {
    reference.directory.village(code).map_or_else(
        || code.to_string(),
        |v| format!("{} {}", v.name_zh, v.name_en),
    )
}

fn item_name(reference: &Reference, code: &str) -> String {
    reference
        .catalog
        .item(code)
        .map_or_else(|| code.to_string(), |i| format!("{code} {}", i.name_zh))
}

fn or_dash(s: String) -> String {
    if s.trim().is_empty() { "-".into() } else { s }
}

/// The request as `show` prints it: unless `reveal`, the ID number and phone masked and every
/// attribute `reference`'s catalog marks sensitive as one star per character.
pub fn masked_detail(d: &RequestDetail, reference: &Reference, reveal: bool) -> RequestDetail {
    let mut d = d.clone();
    if !reveal {
        d.applicant.id_number = NationalId::parse(&d.applicant.id_number)
            .map_or_else(|_| "*".repeat(18), |id| id.masked());
        d.applicant.phone =
            Phone::parse(&d.applicant.phone).map_or_else(|_| "*".repeat(11), |p| p.masked());
        let item = reference.catalog.item(&d.item_code);
        for (code, value) in d.attributes.iter_mut() {
            if item
                .and_then(|i| i.attribute(code))
                .is_some_and(|a| a.sensitive)
            {
                *value = AttrValue::Text("*".repeat(attr(value).chars().count()));
            }
        }
    }
    d
}

/// A material by its Chinese name, then the name requests record (what `--material` takes)
/// when the two differ.
fn material(item: Option<&ServiceItem>, m: &str) -> String {
    match item.map(|i| i.material_label(m, true)) {
        Some(zh) if zh != m => format!("{zh} {m}"),
        _ => m.to_string(),
    }
}

fn materials<'a>(item: Option<&ServiceItem>, ms: impl IntoIterator<Item = &'a String>) -> String {
    ms.into_iter()
        .map(|m| material(item, m))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An attribute as `CODE=VALUE` (what `--attr` takes) after its Chinese name, and a list
/// value's Chinese name after it.
fn attribute(item: Option<&ServiceItem>, code: &str, v: &AttrValue) -> String {
    let raw = attr(v);
    let Some(spec) = item.and_then(|i| i.attribute(code)) else {
        return format!("{code}={raw}");
    };
    let value = match spec.value_label(&raw, true) {
        zh if zh != raw => format!("{raw}（{zh}）"),
        _ => raw.clone(),
    };
    format!("{} {code}={value}", spec.label(true))
}

/// A request's page: its fields, then its history, comments and edits. `d` is already masked
/// (or revealed) by [`masked_detail`].
pub fn request_detail(d: &RequestDetail, reference: &Reference) -> String {
    let item = reference.catalog.item(&d.item_code);
    let mut rows = vec![("受理回执号 Receipt no.", d.receipt_no.as_str().to_string())];
    if d.self_filed() {
        rows.push((
            "来源 Filed",
            "居民自助（手机）self-filed on the phone".into(),
        ));
    }
    rows.extend([
        ("编号 ID", d.id.to_string()),
        ("事项 Item", item_name(reference, &d.item_code)),
        ("村 Village", village_name(reference, &d.village)),
        ("网格 Grid", d.grid.clone()),
        ("申请人 Applicant", d.applicant.name.clone()),
        ("身份证号 ID number", d.applicant.id_number.clone()),
        ("电话 Phone", d.applicant.phone.clone()),
    ]);
    if let Some(user) = &d.resident_user {
        rows.push(("居民账号 Resident user", user.clone()));
    }
    rows.push(("状态 Status", labels::status(d.status)));
    rows.push(("时限 Clock", labels::clock(&d.clock)));
    rows.push(("紧急程度 Urgency", labels::urgency(d.urgency).to_string()));
    rows.push((
        "已收材料 Materials",
        or_dash(materials(item, &d.materials_received)),
    ));
    if !d.missing_materials.is_empty() {
        rows.push(("缺少材料 Missing", materials(item, &d.missing_materials)));
    }
    if !d.outstanding_materials.is_empty() {
        rows.push((
            "未收材料 Outstanding",
            materials(item, &d.outstanding_materials),
        ));
    }
    if !d.waived_materials.is_empty() {
        let waived: Vec<String> = d
            .waived_materials
            .iter()
            .map(|(m, reason)| format!("{} ({reason})", material(item, m)))
            .collect();
        rows.push(("容缺 Waived", waived.join(", ")));
    }
    rows.push((
        "表单 Attributes",
        or_dash(
            d.attributes
                .iter()
                .map(|(k, v)| attribute(item, k, v))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ));
    if let Some(r) = d.rating {
        let follow = if d.follow_up {
            "; 需回访 follow-up needed"
        } else {
            ""
        };
        rows.push(("评价 Rating", format!("{}{follow}", labels::rating(r))));
    }
    rows.push((
        "登记人 Filed by",
        format!("{}, {}", stamp(&d.created), labels::time(d.created.at)),
    ));
    rows.push(("更新 Updated", labels::time(d.updated_at)));
    let mut out = fields(rows);
    out.push('\n');
    if let Some(c) = &d.conflict {
        let mut t = table(&["分支事件 Branch event", "导致状态 Leads to"]);
        for (event, status) in &c.branches {
            t.add_row(vec![event.to_string(), labels::status(*status)]);
        }
        section(
            &mut out,
            "冲突 Conflict: concurrent decisions; settle with `bianmin request settle RECEIPT --keep EVENT --note WHY`",
            t.to_string(),
        );
    }
    if !d.field_conflicts.is_empty() {
        section(
            &mut out,
            "字段冲突 Field conflicts: edited on two devices at once, one value was kept; check them",
            d.field_conflicts.join(", "),
        );
    }
    let mut t = table(&[
        "#",
        "时间 Time",
        "操作 Action",
        "人员 By",
        "事件 Event",
        "备注 Note",
    ]);
    for (i, h) in d.history.iter().enumerate() {
        t.add_row(vec![
            (i + 1).to_string(),
            labels::time(h.by.at),
            labels::action(&h.action),
            stamp(&h.by),
            short(h.id),
            h.invalid
                .as_ref()
                .map_or_else(String::new, |why| format!("无效 ignored: {why}")),
        ]);
    }
    section(&mut out, "历史 History", t.to_string());
    if !d.attachments.is_empty() {
        let mut t = table(&[
            "材料 Material",
            "类型 Type",
            "大小 Size",
            "哈希 SHA-256",
            "添加 Attached by",
        ]);
        for a in &d.attachments {
            t.add_row(vec![
                material(item, &a.material),
                a.media_type.as_str().to_string(),
                bytes(a.size),
                short_hash(&a.sha256),
                stamp(&a.by),
            ]);
        }
        section(
            &mut out,
            "附件 Attachments (`bianmin request attachments RECEIPT` shows their transfer)",
            t.to_string(),
        );
    }
    if !d.comments.is_empty() {
        let mut t = table(&["时间 Time", "人员 By", "留言 Comment"]);
        for c in &d.comments {
            t.add_row(vec![labels::time(c.by.at), stamp(&c.by), c.text.clone()]);
        }
        section(&mut out, "留言 Comments", t.to_string());
    }
    if !d.edits.is_empty() {
        let mut t = table(&["时间 Time", "人员 By", "字段 Field"]);
        for e in &d.edits {
            t.add_row(vec![labels::time(e.by.at), stamp(&e.by), e.field.clone()]);
        }
        section(&mut out, "修改记录 Edits", t.to_string());
    }
    out
}

/// A page of a list, as JSON.
#[derive(Debug, Serialize)]
pub struct PageJson<'a, T> {
    /// The rows.
    pub rows: &'a [T],
    /// Whether more rows follow.
    pub has_more: bool,
    /// Rows skipped.
    pub offset: u32,
    /// The page size asked for.
    pub limit: u32,
    /// How many rows match over all pages, where it was counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl<'a, T> PageJson<'a, T> {
    /// Wraps a listing with its paging.
    pub fn new(listing: &'a Listing<T>, page: Page) -> Self {
        PageJson {
            rows: &listing.rows,
            has_more: listing.has_more,
            offset: page.offset,
            limit: page.limit,
            total: None,
        }
    }

    /// With the count of every matching row.
    pub fn with_total(self, total: u64) -> Self {
        PageJson {
            total: Some(total),
            ..self
        }
    }
}

fn footer(out: &mut String, shown: usize, page: Page, has_more: bool, what: &str) {
    if shown == 0 {
        out.push_str(&format!("没有 No {what} match.\n"));
        return;
    }
    let first = page.offset + 1;
    let last = page.offset as usize + shown;
    out.push_str(&format!("第 {first}–{last} 条 rows {first}–{last}"));
    if has_more {
        out.push_str(&format!(
            "; 更多 more: --offset {}",
            page.offset as usize + shown
        ));
    }
    out.push('\n');
}

/// A page of requests. Names are masked by client-core; the rows carry no ID number or phone.
///
/// The village column appears only when the rows come from more than one village (a
/// reviewer's store); on a clerk's tablet it would repeat one name down the page.
pub fn request_list(
    listing: &Listing<RequestRow>,
    page: Page,
    total: u64,
    reference: &Reference,
) -> String {
    let mut out = String::new();
    let villages: BTreeSet<&str> = listing.rows.iter().map(|r| r.village.as_str()).collect();
    let with_village = villages.len() > 1;
    if !listing.rows.is_empty() {
        let mut header = vec!["受理回执号 Receipt no.", "事项 Item"];
        if with_village {
            header.push("村 Village");
        }
        header.extend([
            "网格 Grid",
            "申请人 Applicant",
            "状态 Status",
            "冲突 Conflict",
            "时限 Clock",
            "到期 Due",
            "更新 Updated",
        ]);
        let mut t = table(&header);
        for r in &listing.rows {
            // A request the resident filed on the phone says so where the clerk looks first.
            let receipt = if r.self_filed() {
                format!("{} 自助 self-filed", r.receipt_no)
            } else {
                r.receipt_no.clone()
            };
            let mut row = vec![receipt, r.item_code.clone()];
            if with_village {
                row.push(
                    reference
                        .directory
                        .village(&r.village)
                        .map_or_else(|| r.village.clone(), |v| v.name_zh.clone()),
                );
            }
            row.extend([
                r.grid.clone(),
                r.applicant_masked.clone(),
                labels::status(r.status),
                if r.conflict {
                    "冲突 yes".into()
                } else {
                    String::new()
                },
                labels::clock_name(&r.clock),
                r.due.map_or_else(String::new, |d| d.to_string()),
                labels::time(r.updated_at),
            ]);
            t.add_row(row);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    footer(
        &mut out,
        listing.rows.len(),
        page,
        listing.has_more,
        "requests",
    );
    if total > 0 {
        out.push_str(&format!("共 {total} 条 {total} in all\n"));
    }
    out
}

/// An agenda item's page.
pub fn agenda_detail(d: &AgendaDetail, reference: &Reference) -> String {
    let rows = vec![
        ("编号 ID", d.id.to_string()),
        ("标题 Title", d.title.clone()),
        ("类别 Category", d.category.clone()),
        ("村 Village", village_name(reference, &d.village)),
        ("阶段 Stage", labels::stage(d.stage)),
        ("内容 Description", d.description.clone()),
        (
            "提出 Opened by",
            format!("{}, {}", stamp(&d.created), labels::time(d.created.at)),
        ),
        ("更新 Updated", labels::time(d.updated_at)),
    ];
    let mut out = fields(rows);
    out.push('\n');
    if let Some(ids) = &d.conflict {
        section(
            &mut out,
            "冲突 Conflict: concurrent records of one stage; settle with `bianmin agenda settle ID --keep EVENT --note WHY`",
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    if !d.field_conflicts.is_empty() {
        section(
            &mut out,
            "字段冲突 Field conflicts",
            d.field_conflicts.join(", "),
        );
    }
    let mut t = table(&[
        "#",
        "时间 Time",
        "记录 Record",
        "结果 Result",
        "人员 By",
        "事件 Event",
    ]);
    for (i, h) in d.history.iter().enumerate() {
        let result = match (&h.meeting_result, &h.invalid) {
            (_, Some(why)) => format!("无效 ignored: {why}"),
            (Some(r), None) => labels::meeting_result(r),
            (None, None) => String::new(),
        };
        t.add_row(vec![
            (i + 1).to_string(),
            labels::time(h.by.at),
            labels::agenda_action(&h.action),
            result,
            stamp(&h.by),
            short(h.id),
        ]);
    }
    section(&mut out, "历史 History", t.to_string());
    if !d.comments.is_empty() {
        let mut t = table(&["时间 Time", "人员 By", "留言 Comment"]);
        for c in &d.comments {
            t.add_row(vec![labels::time(c.by.at), stamp(&c.by), c.text.clone()]);
        }
        section(&mut out, "留言 Comments", t.to_string());
    }
    out
}

/// A page of agenda items.
pub fn agenda_list(listing: &Listing<AgendaRow>, page: Page, reference: &Reference) -> String {
    let mut out = String::new();
    if !listing.rows.is_empty() {
        let mut t = table(&[
            "编号 ID",
            "标题 Title",
            "类别 Category",
            "村 Village",
            "阶段 Stage",
            "冲突 Conflict",
            "更新 Updated",
        ]);
        for r in &listing.rows {
            t.add_row(vec![
                short(r.id),
                r.title.clone(),
                r.category.clone(),
                reference
                    .directory
                    .village(&r.village)
                    .map_or_else(|| r.village.clone(), |v| v.name_zh.clone()),
                labels::stage(r.stage),
                if r.conflict {
                    "冲突 yes".into()
                } else {
                    String::new()
                },
                labels::time(r.updated_at),
            ]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    footer(
        &mut out,
        listing.rows.len(),
        page,
        listing.has_more,
        "agenda items",
    );
    out
}

/// The first 12 hex digits of a hash: enough to name an attachment (`request open` takes it).
pub fn short_hash(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

/// Where an attachment's bytes stand, for people.
fn transfer_state(state: &TransferState, size: u64) -> String {
    match *state {
        TransferState::Complete => "已同步 complete".into(),
        TransferState::Uploading { uploaded } => format!(
            "待上传 to upload ({} of {} at the hub)",
            bytes(uploaded),
            bytes(size)
        ),
        TransferState::Downloading { have } => {
            format!("下载中 downloading ({} of {})", bytes(have), bytes(size))
        }
        TransferState::Missing => "未下载 not here yet (next sync)".into(),
    }
}

/// A request's attachments with where their bytes stand.
pub fn attachments(list: &[AttachmentView]) -> String {
    if list.is_empty() {
        return "没有附件 No attachments (add one with `bianmin request attach`).\n".into();
    }
    let mut t = table(&[
        "哈希 SHA-256",
        "材料 Material",
        "类型 Type",
        "大小 Size",
        "传输 Transfer",
        "添加 Attached by",
    ]);
    for a in list {
        let r = &a.reference;
        t.add_row(vec![
            short_hash(&r.sha256),
            r.material.clone(),
            r.media_type.as_str().to_string(),
            bytes(r.size),
            transfer_state(&a.state, r.size),
            format!("{}, {}", stamp(&r.by), labels::time(r.by.at)),
        ]);
    }
    t.to_string() + "\n"
}

/// What moving the attachments did, as JSON.
#[derive(Debug, Serialize)]
pub struct TransferJson<'a> {
    /// Attachments sent in full (their hashes).
    pub uploaded: &'a [String],
    /// Attachments received in full.
    pub downloaded: &'a [String],
    /// Attachments that could not be moved (tried again on the next sync).
    pub failed: Vec<TransferFailureJson<'a>>,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Attachments still waiting to be sent afterwards.
    pub pending_uploads: u64,
}

/// An attachment that could not be moved.
#[derive(Debug, Serialize)]
pub struct TransferFailureJson<'a> {
    /// Its hash.
    pub sha256: &'a str,
    /// Why.
    pub reason: &'a str,
    /// Whether the network was the reason.
    pub network: bool,
}

impl<'a> TransferJson<'a> {
    /// The JSON of a transfer report.
    pub fn new(r: &'a TransferReport, pending_uploads: u64) -> Self {
        TransferJson {
            uploaded: &r.uploaded,
            downloaded: &r.downloaded,
            failed: r
                .failed
                .iter()
                .map(|f: &TransferFailure| TransferFailureJson {
                    sha256: &f.sha256,
                    reason: &f.reason,
                    network: f.network,
                })
                .collect(),
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            pending_uploads,
        }
    }
}

/// What a sync did, as JSON.
#[derive(Debug, Serialize)]
pub struct SyncJson<'a> {
    /// Rounds exchanged with the hub.
    pub rounds: u32,
    /// Documents pushed.
    pub docs_pushed: usize,
    /// Documents the hub accepted.
    pub accepted: usize,
    /// Edits the hub refused (rolled back here, listed by `bianmin refused`).
    pub refused: &'a [RefusedEdit],
    /// Documents received.
    pub docs_pulled: usize,
    /// Changes received that were new here.
    pub new_changes: usize,
    /// Documents received that could not be applied (fetched again next time).
    pub pull_errors: Vec<PullErrorJson>,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Documents still waiting to be pushed after the sync.
    pub pending: usize,
    /// Documents kept here and offered again next time because the hub lacks changes they
    /// build on (after the hub was restored from a backup).
    pub waiting: Vec<PullErrorJson>,
    /// Whether the hub turned out to have been restored from a backup (the sync started over).
    pub hub_restored: bool,
    /// The attachments moved after the documents (absent with `--no-attachments`).
    pub attachments: Option<TransferJson<'a>>,
}

/// A received document that could not be applied.
#[derive(Debug, Serialize)]
pub struct PullErrorJson {
    /// The document.
    pub doc: uuid::Uuid,
    /// Why.
    pub error: String,
}

impl<'a> SyncJson<'a> {
    /// The JSON of a sync report.
    pub fn new(r: &'a SyncReport, pending: usize, attachments: Option<TransferJson<'a>>) -> Self {
        SyncJson {
            rounds: r.progress.rounds,
            docs_pushed: r.progress.docs_pushed,
            accepted: r.accepted,
            refused: &r.refused,
            docs_pulled: r.progress.docs_pulled,
            new_changes: r.new_changes,
            pull_errors: r
                .pull_errors
                .iter()
                .map(|(doc, error)| PullErrorJson {
                    doc: *doc,
                    error: error.clone(),
                })
                .collect(),
            bytes_sent: r.progress.bytes_sent,
            bytes_received: r.progress.bytes_received,
            pending,
            waiting: r
                .waiting
                .iter()
                .map(|(doc, error)| PullErrorJson {
                    doc: *doc,
                    error: error.clone(),
                })
                .collect(),
            hub_restored: r.hub_restored,
            attachments,
        }
    }
}

/// A table of documents, each with why.
fn documents_with_reasons(rows: &[PullErrorJson]) -> String {
    let mut t = table(&["文档 Document", "原因 Why"]);
    for e in rows {
        t.add_row(vec![e.doc.to_string(), e.error.clone()]);
    }
    t.to_string()
}

/// What a sync did, for people.
pub fn sync_report(s: &SyncJson<'_>) -> String {
    let mut out = fields(vec![
        ("轮次 Rounds", s.rounds.to_string()),
        (
            "推送 Pushed",
            format!("{}, {} accepted", docs(s.docs_pushed), s.accepted),
        ),
        (
            "接收 Received",
            format!("{}, {} new changes", docs(s.docs_pulled), s.new_changes),
        ),
        ("被拒 Refused", s.refused.len().to_string()),
        ("待同步 Pending", docs(s.pending)),
        (
            "流量 Traffic",
            format!(
                "{} sent, {} received",
                bytes(s.bytes_sent),
                bytes(s.bytes_received)
            ),
        ),
    ]);
    out.push('\n');
    if !s.refused.is_empty() {
        section(
            &mut out,
            "被中心拒绝 Refused by the hub (rolled back here; `bianmin refused` lists them)",
            refused_table(s.refused),
        );
    }
    if !s.pull_errors.is_empty() {
        section(
            &mut out,
            "未能接收 Not applied (fetched again on the next sync)",
            documents_with_reasons(&s.pull_errors),
        );
    }
    if s.hub_restored {
        out.push_str(
            "中心已从备份恢复 The hub was restored from a backup: this sync started over and \
             offered all of this tablet's work again.\n\n",
        );
    }
    if !s.waiting.is_empty() {
        section(
            &mut out,
            "等待中 Waiting (kept here; the hub lacks changes they build on until their author's \
             tablet syncs)",
            documents_with_reasons(&s.waiting),
        );
    }
    if let Some(a) = &s.attachments {
        let mut summary = fields(vec![
            (
                "附件 Attachments",
                format!("{} sent, {} received", a.uploaded.len(), a.downloaded.len()),
            ),
            ("待上传 To upload", a.pending_uploads.to_string()),
            (
                "附件流量 Traffic",
                format!(
                    "{} sent, {} received",
                    bytes(a.bytes_sent),
                    bytes(a.bytes_received)
                ),
            ),
        ]);
        summary.push('\n');
        out.push_str(&summary);
        if !a.failed.is_empty() {
            let mut t = table(&["哈希 SHA-256", "原因 Why"]);
            for f in &a.failed {
                t.add_row(vec![short_hash(f.sha256), f.reason.to_string()]);
            }
            section(
                &mut out,
                "未传完的附件 Attachments not moved (tried again on the next sync)",
                t.to_string(),
            );
        }
    }
    out
}

/// `2.1 KB`.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    }
}

fn refused_table(refused: &[RefusedEdit]) -> String {
    let mut t = table(&[
        "时间 Time",
        "文档 Document",
        "代码 Code",
        "原因 Reason",
        "撤回内容 Rolled back",
    ]);
    for r in refused {
        t.add_row(vec![
            labels::time(bianmin_domain::Timestamp(r.refused_at)),
            r.doc_id.to_string(),
            r.code.clone(),
            r.reason.clone(),
            r.summary.join(", "),
        ]);
    }
    t.to_string()
}

/// The edits the hub refused.
pub fn refused(list: &[RefusedEdit]) -> String {
    if list.is_empty() {
        return "没有被拒绝的修改 No refused edits.\n".into();
    }
    refused_table(list) + "\n"
}

/// A store's identity and sync state, as JSON.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    /// The store file.
    pub store: String,
    /// The user.
    pub user: String,
    /// The role.
    pub role: bianmin_domain::Role,
    /// The area the role covers.
    pub area: String,
    /// The device.
    pub device: String,
    /// The device number (in receipt numbers).
    pub device_no: u32,
    /// The hub, once enrolled.
    pub server: Option<String>,
    /// Requests held.
    pub requests: u64,
    /// Agenda items held.
    pub agenda_items: u64,
    /// Documents with changes the hub has not acknowledged.
    pub pending: usize,
    /// Attachments held here that the hub does not have in full yet.
    pub pending_uploads: u64,
    /// The bytes of those still to be sent.
    pub pending_upload_bytes: u64,
    /// Edits the hub refused.
    pub refused_edits: usize,
    /// How far the hub's change log has been read.
    pub sync_cursor: u64,
    /// The version of the reference data held (0: never received from a hub).
    pub reference_version: u64,
}

/// A store's identity and sync state, for people.
pub fn status(s: &StatusJson, reference: &Reference) -> String {
    let area = reference.directory.village(&s.area).map_or_else(
        || s.area.clone(),
        |v| format!("{} {} {}", s.area, v.name_zh, v.name_en),
    );
    fields(vec![
        ("存储 Store", s.store.clone()),
        ("用户 User", s.user.clone()),
        ("角色 Role", labels::role(s.role)),
        ("辖区 Area", area),
        ("设备 Device", format!("{} (no. {})", s.device, s.device_no)),
        (
            "中心 Hub",
            s.server
                .clone()
                .unwrap_or_else(|| "未登记 not enrolled (practice store)".into()),
        ),
        ("办件 Requests", s.requests.to_string()),
        ("议事 Agenda items", s.agenda_items.to_string()),
        ("待同步 Pending", docs(s.pending)),
        (
            "待上传附件 Attachments to upload",
            format!("{} ({})", s.pending_uploads, bytes(s.pending_upload_bytes)),
        ),
        ("被拒 Refused edits", s.refused_edits.to_string()),
        (
            "参考数据 Reference data",
            format!("version {}", s.reference_version),
        ),
    ])
}

/// The service items.
pub fn catalog(items: &[ServiceItem]) -> String {
    let mut t = table(&[
        "代码 Code",
        "名称 Name",
        "办理层级 Level",
        "时限 Limit",
        "属性 Attributes",
    ]);
    for i in items {
        t.add_row(vec![
            i.code.clone(),
            format!("{}\n{}", i.name_zh, i.name_en),
            labels::level(i.level).to_string(),
            format!("{} 工作日 working days", i.time_limit_days),
            i.attributes
                .iter()
                .map(|a| a.code.clone())
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    t.to_string() + "\n"
}

/// One service item: what its form asks for.
pub fn catalog_item(i: &ServiceItem) -> String {
    let mut out = fields(vec![
        ("代码 Code", i.code.clone()),
        ("名称 Name", format!("{} {}", i.name_zh, i.name_en)),
        ("办理层级 Level", labels::level(i.level).to_string()),
        (
            "时限 Limit",
            format!("{} 工作日 working days", i.time_limit_days),
        ),
        (
            "材料 Materials (--material)",
            or_dash(
                i.materials
                    .iter()
                    .map(|m| material(Some(i), m))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ),
    ]);
    out.push('\n');
    if !i.attributes.is_empty() {
        let mut t = table(&[
            "属性 Attribute (--attr CODE=VALUE)",
            "说明 Meaning",
            "类型 Type",
            "必填 Required",
            "可选值 Values",
        ]);
        for a in &i.attributes {
            let datatype = serde_json::to_value(a.datatype)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let values: Vec<String> = a
                .values
                .iter()
                .map(|v| match a.value_label(v, true) {
                    zh if zh != v => format!("{v}（{zh}）"),
                    _ => v.clone(),
                })
                .collect();
            t.add_row(vec![
                a.code.clone(),
                match a.label(true) {
                    zh if zh != a.name_en => format!("{zh} {}", a.name_en),
                    _ => a.name_en.clone(),
                },
                datatype,
                if a.required { "是 yes" } else { "否 no" }.to_string(),
                values.join(", "),
            ]);
        }
        section(&mut out, "表单 Form", t.to_string());
    }
    out
}
