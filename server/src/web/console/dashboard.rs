//! The dashboard of the signed-in user's area (a reviewer's township, an administrator's
//! county): the figures, charts and tables of [`crate::web::dashboard`], and the same figures
//! as CSV and as an Excel workbook. The handlers only fetch the counts
//! ([`crate::engine::Engine::console_stats`], which keeps each user to their own area) and the
//! reference data (for names), then call the pure functions.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bianmin_domain::{Role, Timestamp};
use maud::{Markup, html};

use super::session::Signed;
use super::{OrPage, PageError, blocking, console_page};
use crate::AppState;
use crate::error::AppError;
use crate::reference::Current;
use crate::storage::OverdueVillage;
use crate::web::dashboard::{self, Summary};
use crate::web::i18n::{Lang, PageLang, tr};

/// The counts of the user's area, summed and named.
async fn load(
    state: &AppState,
    signed: &Signed,
) -> Result<(Summary, std::sync::Arc<Current>), AppError> {
    let engine = state.engine.clone();
    let user = signed.user.clone();
    blocking(move || {
        let reference = engine.reference()?;
        let stats = engine.console_stats(&user)?;
        let summary =
            dashboard::summarise(&stats, &reference.data.directory, &reference.data.catalog);
        Ok((summary, reference))
    })
    .await
}

/// The name of the user's area: their township, or the county.
fn area_name(l: Lang, reference: &Current, role: Role, area: &str) -> String {
    let dir = &reference.data.directory;
    let named = |zh: &str, en: &str| match l {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    };
    match role {
        Role::Administrator if dir.county.code == area => {
            named(&dir.county.name_zh, &dir.county.name_en)
        }
        _ => dir
            .townships
            .iter()
            .find(|t| t.code == area)
            .map(|t| named(&t.name_zh, &t.name_en))
            .unwrap_or_else(|| area.to_string()),
    }
}

/// `GET /console/dashboard`.
pub(crate) async fn page(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let (summary, reference) = load(&state, &signed).await.or_page(&lang)?;
    let engine = state.engine.clone();
    let user = signed.user.clone();
    let overdue = blocking(move || engine.console_overdue(&user))
        .await
        .or_page(&lang)?;
    let area = area_name(l, &reference, signed.user.role, &signed.user.area);
    let body = html! {
        p {
            (tr(l, "范围：", "Area: ")) strong { (area) } " · "
            (tr(l, "办件总数：", "Requests: ")) strong.total { (summary.total.count) }
        }
        p.exports {
            a href="/console/dashboard.csv" download { (tr(l, "导出 CSV", "Export CSV")) }
            " · "
            a href="/console/dashboard.xlsx" download { (tr(l, "导出 Excel（XLSX）", "Export Excel (XLSX)")) }
        }
        @if summary.total.count == 0 {
            p.notice role="status" {
                (tr(l, "辖区内还没有办件。村里的平板同步后，这里会显示统计。",
                    "No requests in your area yet. The figures appear once the village tablets sync."))
            }
        }
        (overdue_section(l, &reference, &signed.user.area, &overdue))
        (dashboard::section(&summary, l))
    };
    Ok(console_page(
        lang,
        StatusCode::OK,
        &signed,
        tr(l, "统计分析", "Dashboard"),
        body,
    ))
}

/// Each village of the user's area with its overdue requests today (running clocks past
/// their deadline) and the most working days any of them is overdue, linking to the queue
/// filtered to that village and overdue (every status: the queue then lists exactly those).
fn overdue_section(l: Lang, reference: &Current, area: &str, overdue: &[OverdueVillage]) -> Markup {
    let today = Timestamp::now().china_date();
    let cal = &reference.rules.calendar;
    let villages = reference.villages_in(area);
    let total: u64 = overdue.iter().map(|o| o.count).sum();
    html! {
        section #overdue {
            h2 { (tr(l, "各村超期办件", "Overdue requests by village")) }
            p {
                (tr(l, "超期：承诺时限（工作日）已过而尚未办结的办件；补正期间停止计时。",
                    "Overdue: past the committed time limit (working days) and not decided; the clock stops while a request waits for supplement."))
                " " (tr(l, "合计：", "In all: ")) strong #overdue-total { (total) }
            }
            div.scroll {
                table.overdue-by-village {
                    thead { tr {
                        th { (tr(l, "村（社区）", "Village")) }
                        th { (tr(l, "超期办件", "Overdue")) }
                        th { (tr(l, "最多超期（工作日）", "Most working days overdue")) }
                    } }
                    tbody {
                        @for (code, zh, en) in &villages {
                            @let found = overdue.iter().find(|o| &o.village == code);
                            tr data-village=(code) {
                                td { (match l { Lang::Zh => zh, Lang::En => en }) }
                                td.count {
                                    @match found {
                                        Some(o) => {
                                            a.overdue href={ "/console/requests?status=all&urgency=overdue&village=" (code) } {
                                                (o.count)
                                            }
                                        }
                                        None => { "0" }
                                    }
                                }
                                td.days {
                                    @match found {
                                        Some(o) => { (cal.working_days_between(o.earliest_due, today)) }
                                        None => { "–" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An export as an attachment named `bianmin-KIND-AREA-DATE.EXT` (ASCII only; `kind` is
/// `dashboard` or `ledger`), never cached.
pub(crate) fn attachment(
    content_type: &'static str,
    kind: &str,
    area: &str,
    ext: &str,
    bytes: Vec<u8>,
) -> Response {
    let area: String = area.chars().filter(char::is_ascii_alphanumeric).collect();
    let date = Timestamp::now().china_date().format("%Y-%m-%d");
    let disposition = format!("attachment; filename=\"bianmin-{kind}-{area}-{date}.{ext}\"");
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (StatusCode::OK, headers, bytes).into_response()
}

/// `GET /console/dashboard.csv`.
pub(crate) async fn csv(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    let (summary, _) = load(&state, &signed).await.or_page(&lang)?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        "dashboard",
        &signed.user.area,
        "csv",
        dashboard::csv(&summary, lang.lang).into_bytes(),
    ))
}

/// `GET /console/dashboard.xlsx`.
pub(crate) async fn xlsx(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    let (summary, _) = load(&state, &signed).await.or_page(&lang)?;
    let l = lang.lang;
    let bytes = blocking(move || dashboard::xlsx(&summary, l).map_err(AppError::internal))
        .await
        .or_page(&lang)?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "dashboard",
        &signed.user.area,
        "xlsx",
        bytes,
    ))
}
