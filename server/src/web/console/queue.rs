//! The work queue: the requests of the user's area, nearest deadline first on the working-day
//! clock, overdue and due-soon ones marked, filtered by village, service item, status,
//! conflict and urgency, one page at a time. A reviewer starts with what waits for them
//! (forwarded); "all statuses" shows everything.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use bianmin_document::model::{
    Listing, Page, RequestFilter, RequestRow, RequestSort, UrgencyFilter,
};
use bianmin_domain::{Clock, Role, Status, Timestamp};
use maud::{Markup, html};
use serde::Deserialize;

use super::session::Signed;
use super::{OrPage, PageError, blocking, console_page, encode_query_value, labels};
use crate::AppState;
use crate::reference::Current;
use crate::web::i18n::{Lang, PageLang, tr};

/// Rows per page unless asked otherwise.
const PAGE_SIZE: u32 = 50;
/// The largest page the queue shows.
const MAX_PAGE_SIZE: u32 = 200;

/// The queue's GET form (every field optional; unknown values are ignored).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueQuery {
    village: Option<String>,
    item: Option<String>,
    status: Option<String>,
    conflict: Option<String>,
    urgency: Option<String>,
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
        Chosen {
            village: clean(&q.village),
            item: clean(&q.item),
            status,
            conflict,
            urgency,
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
            ..RequestFilter::default()
        }
    }

    /// The queue's URL with this filter at another offset.
    fn link(&self, offset: u32) -> String {
        let mut q = vec![("status", self.status.clone())];
        for (k, v) in [
            ("village", &self.village),
            ("item", &self.item),
            ("conflict", &self.conflict),
            ("urgency", &self.urgency),
        ] {
            if !v.is_empty() {
                q.push((k, v.clone()));
            }
        }
        if offset > 0 {
            q.push(("offset", offset.to_string()));
        }
        if self.limit != PAGE_SIZE {
            q.push(("limit", self.limit.to_string()));
        }
        let q: Vec<String> = q
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode_query_value(&v)))
            .collect();
        format!("/console/requests?{}", q.join("&"))
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
        Ok((reference, listing))
    })
    .await;
    let (reference, listing) = loaded.or_page(&lang)?;
    let body = html! {
        (filter_form(l, &chosen, &reference, &signed.user.area))
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

/// The filter form: village (of the user's area), service item, status, conflict, urgency.
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
            }
            p { button type="submit" { (tr(l, "筛选", "Filter")) } }
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
                        th { (tr(l, "受理编号", "Receipt no.")) }
                        th { (tr(l, "村（社区）", "Village")) }
                        th { (tr(l, "服务事项", "Service item")) }
                        th { (tr(l, "申请人", "Applicant")) }
                        th { (tr(l, "状态", "Status")) }
                        th { (tr(l, "办理期限", "Due")) }
                        th { (tr(l, "提交时间", "Filed")) }
                    } }
                    tbody {
                        @for row in &listing.rows {
                            @let urgency = match (row.clock.as_str(), row.due) {
                                ("running", Some(due)) => Clock::Running { due }.urgency(today, &reference.rules.calendar),
                                _ => bianmin_domain::Urgency::None,
                            };
                            @let mark = labels::urgency(l, urgency);
                            tr class=[row.conflict.then_some("conflict")] {
                                td { a href={ "/console/requests/" (row.id) } { (row.receipt_no) } }
                                td { (reference.village_name(l, &row.village)) }
                                td { (reference.item_name(l, &row.item_code)) }
                                td { (row.applicant_masked) }
                                td {
                                    (labels::status(l, row.status))
                                    @if row.conflict { br; strong.conflict-flag { (tr(l, "⚠ 冲突待处理", "⚠ In conflict")) } }
                                }
                                td class=[mark.map(|m| m.1)] {
                                    @match row.due {
                                        Some(due) => { (due.format("%Y-%m-%d")) }
                                        None => { @if row.clock == "paused" { (tr(l, "补正中（停止计时）", "Paused (returned)")) } @else { "—" } }
                                    }
                                    @if let Some((label, _)) = mark { br; (label) }
                                }
                                td { (labels::time(row.filed_at)) }
                            }
                        }
                    }
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
}
