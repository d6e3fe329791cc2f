//! The work queue: the requests of the user's area, nearest deadline first on the working-day
//! clock, overdue ones marked with the working days overdue, decided ones with the day of the
//! decision; filtered by village, service item, status, conflict, urgency, the filing day
//! (from, to) and a search by receipt number or applicant's name (whole or part), one page at
//! a time, with the number of requests the filter matches. A reviewer starts with what waits
//! for them (forwarded); "all statuses" shows everything. The same filter exports the request
//! ledger (台账) as CSV and XLSX (`/console/ledger.csv`, `/console/ledger.xlsx`).
//!
//! The applicant's name searched for is personal data: it travels in the query string (so that
//! paging and the export keep it) but the hub never logs it (its request log names the path
//! only), and lists show names masked as always.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use bianmin_document::model::{
    Listing, MAX_SEARCH_CHARS, Page, RequestFilter, RequestRow, RequestSort, UrgencyFilter,
};
use bianmin_domain::{Role, Status, Timestamp, Urgency};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::dashboard::attachment;
use super::session::Signed;
use super::{OrPage, PageError, blocking, console_page, encode_query_value, labels};
use crate::AppState;
use crate::error::AppError;
use crate::reference::Current;
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::ledger::{self, Standing};

/// Rows per page unless asked otherwise.
const PAGE_SIZE: u32 = 50;
/// The largest page the queue shows.
const MAX_PAGE_SIZE: u32 = 200;
/// The most requests one ledger export holds; a filter that matches more is refused with a
/// page asking for a narrower one (a shorter date range, one village).
const MAX_LEDGER_ROWS: usize = 20_000;

/// The queue's GET form (every field optional; unknown values are ignored).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueQuery {
    village: Option<String>,
    item: Option<String>,
    status: Option<String>,
    conflict: Option<String>,
    urgency: Option<String>,
    /// Part of a receipt number.
    receipt: Option<String>,
    /// Part of an applicant's name.
    applicant: Option<String>,
    /// The first filing day (`YYYY-MM-DD`).
    from: Option<String>,
    /// The last filing day.
    to: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

/// The filter as chosen, in the form's own terms (kept to redraw the form and the page links).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chosen {
    village: String,
    item: String,
    /// A status name or `all`.
    status: String,
    /// ``, `yes` or `no`.
    conflict: String,
    /// ``, `overdue`, `due_soon` or `overdue_or_due_soon`.
    urgency: String,
    /// The search texts, trimmed, at most [`MAX_SEARCH_CHARS`] characters.
    receipt: String,
    applicant: String,
    /// The filing days as typed (kept to redraw the form), and as dates when they are dates.
    from: String,
    to: String,
    from_date: Option<NaiveDate>,
    to_date: Option<NaiveDate>,
    offset: u32,
    limit: u32,
}

impl Chosen {
    fn from_query(q: &QueueQuery, role: Role) -> Chosen {
        let clean = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
        let default_status = if role == Role::Reviewer {
            Status::Forwarded.as_str()
        } else {
            "all"
        };
        let status = match q.status.as_deref().map(str::trim) {
            None | Some("") => default_status.to_string(),
            Some("all") => "all".to_string(),
            Some(s) if Status::parse(s).is_some() => s.to_string(),
            Some(_) => "all".to_string(),
        };
        let conflict = match clean(&q.conflict).as_str() {
            c @ ("yes" | "no") => c.to_string(),
            _ => String::new(),
        };
        let urgency = match clean(&q.urgency).as_str() {
            u @ ("overdue" | "due_soon" | "overdue_or_due_soon") => u.to_string(),
            _ => String::new(),
        };
        let search = |v: &Option<String>| clean(v).chars().take(MAX_SEARCH_CHARS).collect();
        // A day as the date input sends it; anything else (kept, and named on the page) does
        // not filter.
        let day = |v: &str| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok();
        let (from, to): (String, String) = (search(&q.from), search(&q.to));
        Chosen {
            village: clean(&q.village),
            item: clean(&q.item),
            status,
            conflict,
            urgency,
            receipt: search(&q.receipt),
            applicant: search(&q.applicant),
            from_date: day(&from),
            to_date: day(&to),
            from,
            to,
            offset: clean(&q.offset).parse().unwrap_or(0),
            limit: clean(&q.limit)
                .parse()
                .unwrap_or(PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
        }
    }

    fn filter(&self) -> RequestFilter {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        RequestFilter {
            status: Status::parse(&self.status),
            item_code: some(&self.item),
            village: some(&self.village),
            conflict: match self.conflict.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            urgency: match self.urgency.as_str() {
                "overdue" => Some(UrgencyFilter::Overdue),
                "due_soon" => Some(UrgencyFilter::DueSoon),
                "overdue_or_due_soon" => Some(UrgencyFilter::OverdueOrDueSoon),
                _ => None,
            },
            receipt_contains: some(&self.receipt),
            applicant_contains: some(&self.applicant),
            filed_from: self.from_date,
            filed_to: self.to_date,
            ..RequestFilter::default()
        }
    }

    /// The filter's query string (status always, the other fields when set), without paging.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("status", self.status.clone())];
        for (k, v) in [
            ("village", &self.village),
            ("item", &self.item),
            ("conflict", &self.conflict),
            ("urgency", &self.urgency),
            ("receipt", &self.receipt),
            ("applicant", &self.applicant),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                q.push((k, v.clone()));
            }
        }
        q
    }

    fn url(path: &str, q: Vec<(&'static str, String)>) -> String {
        let q: Vec<String> = q
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode_query_value(&v)))
            .collect();
        format!("{path}?{}", q.join("&"))
    }

    /// The queue's URL with this filter at another offset.
    fn link(&self, offset: u32) -> String {
        let mut q = self.query();
        if offset > 0 {
            q.push(("offset", offset.to_string()));
        }
        if self.limit != PAGE_SIZE {
            q.push(("limit", self.limit.to_string()));
        }
        Self::url("/console/requests", q)
    }

    /// The ledger export of this filter (every page), as `csv` or `xlsx`.
    fn ledger_link(&self, ext: &str) -> String {
        Self::url(&format!("/console/ledger.{ext}"), self.query())
    }

    /// The date fields typed that are not dates (they do not filter).
    fn bad_dates(&self) -> bool {
        (!self.from.is_empty() && self.from_date.is_none())
            || (!self.to.is_empty() && self.to_date.is_none())
    }
}

/// `GET /console` and `GET /console/requests`.
pub(crate) async fn queue(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let chosen = Chosen::from_query(&q, signed.user.role);
    let engine = state.engine.clone();
    let user = signed.user.clone();
    let filter = chosen.filter();
    let page = Page {
        offset: chosen.offset,
        limit: chosen.limit,
    };
    let loaded = blocking(move || {
        let reference = engine.reference()?;
        let listing = engine.console_requests(&user, &filter, RequestSort::Deadline, page)?;
        let total = engine.console_request_count(&user, &filter)?;
        Ok((reference, listing, total))
    })
    .await;
    let (reference, listing, total) = loaded.or_page(&lang)?;
    let body = html! {
        (filter_form(l, &chosen, &reference, &signed.user.area))
        (summary(l, &chosen, total))
        (rows_table(l, &chosen, &reference, &listing))
        (page_links(l, &chosen, listing.has_more))
    };
    Ok(console_page(
        lang,
        StatusCode::OK,
        &signed,
        tr(l, "待办办件", "Work queue"),
        body,
    ))
}

/// The filter form: village (of the user's area), service item, status, conflict, urgency,
/// the searches by receipt number and by applicant's name, the filing days.
fn filter_form(l: Lang, chosen: &Chosen, reference: &Current, area: &str) -> Markup {
    let villages = reference.villages_in(area);
    let items = &reference.data.catalog.items;
    html! {
        form.card.filters method="get" action="/console/requests" {
            div.cols {
                div {
                    label for="f-village" { (tr(l, "村（社区）", "Village")) }
                    select #f-village name="village" {
                        option value="" selected[chosen.village.is_empty()] { (tr(l, "全部", "All")) }
                        @for (code, zh, en) in &villages {
                            option value=(code) selected[&chosen.village == code] {
                                (tr_name(l, zh, en))
                            }
                        }
                    }
                }
                div {
                    label for="f-item" { (tr(l, "服务事项", "Service item")) }
                    select #f-item name="item" {
                        option value="" selected[chosen.item.is_empty()] { (tr(l, "全部", "All")) }
                        @for item in items {
                            option value=(item.code) selected[chosen.item == item.code] {
                                (tr_name(l, &item.name_zh, &item.name_en))
                            }
                        }
                    }
                }
                div {
                    label for="f-status" { (tr(l, "状态", "Status")) }
                    select #f-status name="status" {
                        option value="all" selected[chosen.status == "all"] { (tr(l, "全部状态", "All statuses")) }
                        @for s in Status::ALL {
                            option value=(s.as_str()) selected[chosen.status == s.as_str()] {
                                (labels::status(l, s))
                            }
                        }
                    }
                }
                div {
                    label for="f-conflict" { (tr(l, "冲突", "Conflict")) }
                    select #f-conflict name="conflict" {
                        option value="" selected[chosen.conflict.is_empty()] { (tr(l, "不限", "Any")) }
                        option value="yes" selected[chosen.conflict == "yes"] { (tr(l, "有冲突待处理", "In conflict")) }
                        option value="no" selected[chosen.conflict == "no"] { (tr(l, "无冲突", "No conflict")) }
                    }
                }
                div {
                    label for="f-urgency" { (tr(l, "期限", "Deadline")) }
                    select #f-urgency name="urgency" {
                        option value="" selected[chosen.urgency.is_empty()] { (tr(l, "不限", "Any")) }
                        option value="overdue" selected[chosen.urgency == "overdue"] { (tr(l, "已超期", "Overdue")) }
                        option value="due_soon" selected[chosen.urgency == "due_soon"] { (tr(l, "即将到期", "Due soon")) }
                        option value="overdue_or_due_soon" selected[chosen.urgency == "overdue_or_due_soon"] {
                            (tr(l, "已超期或即将到期", "Overdue or due soon"))
                        }
                    }
                }
                div {
                    label for="f-receipt" { (tr(l, "受理回执号（全部或部分）", "Receipt no. (whole or part)")) }
                    input #f-receipt type="search" name="receipt" value=(chosen.receipt)
                        maxlength=(MAX_SEARCH_CHARS) autocomplete="off";
                }
                div {
                    label for="f-applicant" { (tr(l, "申请人姓名（全部或部分）", "Applicant's name (whole or part)")) }
                    input #f-applicant type="search" name="applicant" value=(chosen.applicant)
                        maxlength=(MAX_SEARCH_CHARS) autocomplete="off";
                }
                div {
                    label for="f-from" { (tr(l, "提交日期自", "Filed from")) }
                    input #f-from type="date" name="from" value=(chosen.from);
                }
                div {
                    label for="f-to" { (tr(l, "提交日期至", "Filed to")) }
                    input #f-to type="date" name="to" value=(chosen.to);
                }
            }
            p {
                button type="submit" { (tr(l, "筛选", "Filter")) }
                " "
                a href="/console/requests" { (tr(l, "清除条件", "Clear")) }
            }
        }
    }
}

/// How many requests the filter matches over all pages, the ledger exports of the same filter,
/// and the way to the overdue overview.
fn summary(l: Lang, chosen: &Chosen, total: u64) -> Markup {
    html! {
        @if chosen.bad_dates() {
            p.error role="alert" {
                (tr(l, "提交日期须为 年-月-日（如 2026-03-02）；无效的日期未用于筛选。",
                    "Filing days are year-month-day (such as 2026-03-02); a day that is not one was not used."))
            }
        }
        @if let (Some(from), Some(to)) = (chosen.from_date, chosen.to_date) {
            @if from > to {
                p.error role="alert" {
                    (tr(l, "起始日期晚于截止日期：没有办件在此期间提交。",
                        "The first day is after the last: no request was filed in between."))
                }
            }
        }
        p.count role="status" {
            @match l {
                Lang::Zh => { "共 " strong #queue-total { (total) } " 件" }
                Lang::En => {
                    strong #queue-total { (total) }
                    @if total == 1 { " request" } @else { " requests" }
                }
            }
            " · "
            (tr(l, "导出台账：", "Export the ledger: "))
            a href=(chosen.ledger_link("csv")) download { "CSV" }
            " · "
            a href=(chosen.ledger_link("xlsx")) download { (tr(l, "Excel（XLSX）", "Excel (XLSX)")) }
            " · "
            a href="/console/dashboard#overdue" { (tr(l, "各村超期情况", "Overdue by village")) }
        }
    }
}

/// The rows of this page, nearest deadline first, overdue and due-soon ones marked (or why
/// there are none).
fn rows_table(
    l: Lang,
    chosen: &Chosen,
    reference: &Current,
    listing: &Listing<RequestRow>,
) -> Markup {
    let today = Timestamp::now().china_date();
    let cal = &reference.rules.calendar;
    let first = chosen.offset + 1;
    let last = chosen.offset + listing.rows.len() as u32;
    html! {
        @if listing.rows.is_empty() {
            p.notice role="status" {
                @if chosen.offset > 0 {
                    (tr(l, "这一页没有更多办件。", "No more requests on this page."))
                } @else {
                    (tr(l, "没有符合条件的办件。", "No request matches."))
                }
            }
        } @else {
            p { (tr(l, "按承诺时限排序（工作日），最紧迫的在前。", "Nearest deadline first (working days).")) " "
                (tr(l, "第 ", "Rows ")) (first) "–" (last) (tr(l, " 条", "")) }
            div.scroll {
                table.queue {
                    thead { tr {
                        th { (tr(l, "受理回执号", "Receipt no.")) }
                        th { (tr(l, "村（社区）", "Village")) }
                        th { (tr(l, "服务事项", "Service item")) }
                        th { (tr(l, "申请人", "Applicant")) }
                        th { (tr(l, "状态", "Status")) }
                        th { (tr(l, "办理期限", "Due")) }
                        th { (tr(l, "提交时间", "Filed")) }
                    } }
                    tbody {
                        @for row in &listing.rows {
                            @let standing = ledger::standing(row, today, cal);
                            tr class=[row.conflict.then_some("conflict")] {
                                td { a href={ "/console/requests/" (row.id) } { (row.receipt_no) } }
                                td { (reference.village_name(l, &row.village)) }
                                td { (reference.item_name(l, &row.item_code)) }
                                td { (row.applicant_masked) }
                                td {
                                    (labels::status(l, row.status))
                                    @if row.conflict { br; strong.conflict-flag { (tr(l, "⚠ 冲突待处理", "⚠ In conflict")) } }
                                }
                                (due_cell(l, row, &standing))
                                td { (labels::time(row.filed_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The deadline column: the date and, once overdue, by how many working days; "paused" while
/// returned; for a stopped clock the day of the decision (or withdrawal), on time or how late,
/// never a deadline as if it still ran.
fn due_cell(l: Lang, row: &RequestRow, standing: &Standing) -> Markup {
    match *standing {
        Standing::Running {
            due,
            urgency,
            overdue_days,
        } => {
            let mark = labels::urgency(l, urgency);
            html! {
                td class=[mark.map(|m| m.1)] {
                    (due.format("%Y-%m-%d"))
                    @if urgency == Urgency::Overdue {
                        br; span.overdue-days { (ledger::overdue_text(l, overdue_days)) }
                    } @else if let Some((label, _)) = mark {
                        br; (label)
                    }
                }
            }
        }
        Standing::Paused => html! {
            td { (tr(l, "补正中（停止计时）", "Paused (returned)")) }
        },
        Standing::NotStarted => html! { td { "—" } },
        Standing::Stopped { due, on, late_days } => {
            let (first, second) = ledger::stopped_text(l, row.status, on, due, late_days);
            html! {
                td {
                    span.decided { (first) }
                    @if let Some(second) = second { br; (second) }
                }
            }
        }
    }
}

/// The links to the previous and the next page.
fn page_links(l: Lang, chosen: &Chosen, has_more: bool) -> Markup {
    html! {
        nav.pages aria-label=(tr(l, "翻页", "Pages")) {
            @if chosen.offset > 0 {
                a href=(chosen.link(chosen.offset.saturating_sub(chosen.limit))) { (tr(l, "← 上一页", "← Previous")) }
                " "
            }
            @if has_more {
                a href=(chosen.link(chosen.offset + chosen.limit)) { (tr(l, "下一页 →", "Next →")) }
            }
        }
    }
}

/// `GET /console/ledger.csv` and `GET /console/ledger.xlsx`: the request ledger (台账) of the
/// queue's filter, every page of it, in filing order.
async fn ledger_rows(
    lang: &PageLang,
    signed: &Signed,
    state: &AppState,
    q: &QueueQuery,
) -> Result<(Listing<RequestRow>, std::sync::Arc<Current>), PageError> {
    let chosen = Chosen::from_query(q, signed.user.role);
    let engine = state.engine.clone();
    let user = signed.user.clone();
    let filter = chosen.filter();
    let loaded = blocking(move || {
        let reference = engine.reference()?;
        let rows = engine.console_ledger(&user, &filter, MAX_LEDGER_ROWS)?;
        Ok((rows, reference))
    })
    .await
    .or_page(lang)?;
    if loaded.0.has_more {
        let l = lang.lang;
        return Err(PageError::new(
            lang,
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_many",
                match l {
                    Lang::Zh => format!(
                        "符合条件的办件超过 {MAX_LEDGER_ROWS} 件，一份台账放不下：请缩短日期范围或选择一个村。"
                    ),
                    Lang::En => format!(
                        "More than {MAX_LEDGER_ROWS} requests match: too many for one ledger. \
                         Choose a shorter date range or one village."
                    ),
                },
            ),
        ));
    }
    Ok(loaded)
}

/// `GET /console/ledger.csv`.
pub(crate) async fn ledger_csv(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let (rows, reference) = ledger_rows(&lang, &signed, &state, &q).await?;
    let today = Timestamp::now().china_date();
    let text = ledger::csv(&rows.rows, lang.lang, &reference, today);
    Ok(attachment(
        "text/csv; charset=utf-8",
        "ledger",
        &signed.user.area,
        "csv",
        text.into_bytes(),
    ))
}

/// `GET /console/ledger.xlsx`.
pub(crate) async fn ledger_xlsx(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let (rows, reference) = ledger_rows(&lang, &signed, &state, &q).await?;
    let l = lang.lang;
    let bytes = blocking(move || {
        let today = Timestamp::now().china_date();
        ledger::xlsx(&rows.rows, l, &reference, today).map_err(AppError::internal)
    })
    .await
    .or_page(&lang)?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ledger",
        &signed.user.area,
        "xlsx",
        bytes,
    ))
}

fn tr_name<'a>(l: crate::web::i18n::Lang, zh: &'a str, en: &'a str) -> &'a str {
    match l {
        crate::web::i18n::Lang::Zh => zh,
        crate::web::i18n::Lang::En => en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reviewer_starts_with_forwarded_and_may_choose_all() {
        let q = QueueQuery::default();
        let c = Chosen::from_query(&q, Role::Reviewer);
        assert_eq!(c.filter().status, Some(Status::Forwarded));
        assert_eq!(c.limit, PAGE_SIZE);
        let all = QueueQuery {
            status: Some("all".into()),
            conflict: Some("yes".into()),
            offset: Some("50".into()),
            limit: Some("9999".into()),
            ..QueueQuery::default()
        };
        let c = Chosen::from_query(&all, Role::Reviewer);
        assert_eq!(c.filter().status, None);
        assert_eq!(c.filter().conflict, Some(true));
        assert_eq!(c.limit, MAX_PAGE_SIZE);
        assert_eq!(
            c.link(250),
            "/console/requests?status=all&conflict=yes&offset=250&limit=200"
        );
        let admin = Chosen::from_query(&QueueQuery::default(), Role::Administrator);
        assert_eq!(admin.filter().status, None);
    }

    #[test]
    fn search_and_dates_survive_paging_and_reach_the_export() {
        let q = QueueQuery {
            status: Some("all".into()),
            receipt: Some(" 001-0000 ".into()),
            applicant: Some("王&秀%".into()),
            from: Some("2026-03-01".into()),
            to: Some("2026-03-31".into()),
            offset: Some("50".into()),
            ..QueueQuery::default()
        };
        let c = Chosen::from_query(&q, Role::Reviewer);
        let f = c.filter();
        assert_eq!(f.receipt_contains.as_deref(), Some("001-0000"));
        assert_eq!(f.applicant_contains.as_deref(), Some("王&秀%"));
        assert_eq!(f.filed_from, Some("2026-03-01".parse().unwrap()));
        assert_eq!(f.filed_to, Some("2026-03-31".parse().unwrap()));
        let kept = "status=all&receipt=001-0000&applicant=%E7%8E%8B%26%E7%A7%80%25\
                    &from=2026-03-01&to=2026-03-31";
        assert_eq!(c.link(100), format!("/console/requests?{kept}&offset=100"));
        assert_eq!(c.ledger_link("csv"), format!("/console/ledger.csv?{kept}"));
        assert!(!c.bad_dates());

        let bad = QueueQuery {
            from: Some("1 March".into()),
            applicant: Some("张".repeat(MAX_SEARCH_CHARS + 1)),
            ..QueueQuery::default()
        };
        let c = Chosen::from_query(&bad, Role::Reviewer);
        assert!(c.bad_dates());
        assert_eq!(c.filter().filed_from, None, "not a date: no filter");
        assert_eq!(c.applicant.chars().count(), MAX_SEARCH_CHARS);
    }
}
