//! Reference data: the service-item catalog (list, each item's edit form in `catalog_item`,
//! download, load a new one from a file or pasted JSON) and the holiday calendar (the loaded
//! years with holidays and adjusted working days, each year's download, load a year). Loads go
//! through [`crate::admin::load_catalog`] and [`crate::admin::load_calendar`]: JSON that does
//! not parse or breaks a rule changes nothing, and the page says why. A new calendar moves
//! deadlines: the engine rewrites them in the index within seconds.
//!
//! A download is the JSON those loads accept (pretty-printed), as an attachment: download, edit,
//! load again.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::{Catalog, HandlingLevel, YearCalendar};
use bianmin_protocol::ReferenceData;
use maud::{Markup, html};
use serde::Deserialize;

use super::users::admin_error;
use super::{Admin, AdminForm, Fields, error, notice};
use crate::AppState;
use crate::admin::{self, AdminError};
use crate::error::AppError;
use crate::web::console::session::Signed;
use crate::web::console::{OrPage, PageError, blocking, console_page, csrf};
use crate::web::i18n::{Lang, PageLang, tr};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
    year: Option<i32>,
}

/// The path of an item's edit form: the code as one path segment, percent-encoded.
pub(super) fn item_path(code: &str) -> String {
    let mut out = String::from("/console/admin/catalog/items/");
    for b in code.bytes() {
        match b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            true => out.push(b as char),
            false => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn load(state: &AppState) -> Result<Option<ReferenceData>, AppError> {
    let storage = state.storage.clone();
    blocking(move || Ok(storage.reference()?)).await
}

/// A handling level's name.
pub(super) fn level_label(l: Lang, level: HandlingLevel) -> &'static str {
    match level {
        HandlingLevel::Village => tr(l, "村级办结", "Village"),
        HandlingLevel::VillageCollectsTownshipHandles => {
            tr(l, "村收镇办", "Village collects, township decides")
        }
        HandlingLevel::Township => tr(l, "乡镇办理", "Township"),
    }
}

/// A load form: a JSON file to choose, or its text pasted into the box `what` draws.
fn json_form(l: Lang, signed: &Signed, id: &str, action: &str, what: Markup) -> Markup {
    let file_id = format!("{id}-file");
    html! {
        form.card id=(id) method="post" action=(action) enctype="multipart/form-data" {
            (csrf::field(&signed.csrf))
            (what)
            label for=(file_id) { (tr(l, "选择 JSON 文件（或在上面粘贴）", "Choose a JSON file (or paste it above)")) }
            input type="file" id=(file_id) name="file" accept=".json,application/json";
            p { button type="submit" { (tr(l, "加载", "Load")) } }
        }
    }
}

/// The JSON a load form brings: the chosen file's, else the pasted text.
fn submitted_json(fields: &Fields) -> String {
    let file = fields.text("file");
    if file.trim().is_empty() {
        fields.text("json")
    } else {
        file
    }
}

fn render_catalog(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    reference: Option<&ReferenceData>,
    message: Option<String>,
    refused: Option<&str>,
    typed: &str,
) -> Response {
    let l = lang.lang;
    let body = html! {
        (notice(message))
        @match reference {
            Some(r) => {
                p { (tr(l, "参考数据版本：", "Reference data version: ")) (r.version) " · "
                    (tr(l, "事项数：", "Items: ")) (r.catalog.items.len()) " · "
                    a #download-catalog href="/console/admin/catalog.json" download { (tr(l, "下载目录 JSON", "Download the catalog JSON")) } }
                table.catalog {
                    thead { tr {
                        th { (tr(l, "代码", "Code")) }
                        th { (tr(l, "名称", "Name")) }
                        th { (tr(l, "办理层级", "Level")) }
                        th { (tr(l, "承诺时限", "Time limit")) }
                        th { (tr(l, "申请材料", "Materials")) }
                        th { (tr(l, "操作", "Action")) }
                    } }
                    tbody {
                        @for item in &r.catalog.items {
                            tr {
                                td { code { (item.code) } }
                                td { (match l { Lang::Zh => &item.name_zh, Lang::En => &item.name_en }) }
                                td { (level_label(l, item.level)) }
                                td {
                                    @if item.time_limit_days == 0 { (tr(l, "即办", "On the spot")) }
                                    @else { (item.time_limit_days) (tr(l, " 个工作日", " working days")) }
                                }
                                td { (item.materials.iter().map(|m| item.material_label(m, l == Lang::Zh)).collect::<Vec<_>>().join(tr(l, "、", ", "))) }
                                td { a href=(item_path(&item.code)) { (tr(l, "修改", "Edit")) } }
                            }
                        }
                    }
                }
            }
            None => { p { (tr(l, "还没有加载参考数据。", "No reference data is loaded yet.")) } }
        }
        (json_form(l, signed, "load-catalog", "/console/admin/catalog", html! {
            h2 { (tr(l, "加载新的服务事项目录", "Load a new service-item catalog")) }
            (error(refused))
            label for="catalog-json" {
                (tr(l, "目录 JSON（格式同上方“下载目录 JSON”得到的文件；整个目录被替换）",
                    "Catalog JSON (the format of the file “Download the catalog JSON” above gives; it replaces the whole catalog)"))
            }
            textarea #catalog-json name="json" rows="14" spellcheck="false" { (typed) }
            p.small { (tr(l, "平板在下次同步时收到新目录。JSON 有误时不做任何更改。",
                          "Tablets receive the new catalog on their next sync. Nothing changes if the JSON is wrong.")) }
        }))
    };
    console_page(
        lang,
        status,
        signed,
        tr(l, "服务事项", "Service items"),
        body,
    )
}

/// `GET /console/admin/catalog`.
pub(crate) async fn catalog(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let reference = load(&state).await.or_page(&lang)?;
    let message = match q.done.as_deref() {
        Some("loaded") => Some(tr(
            l,
            "新目录已加载。平板在下次同步时收到。",
            "The new catalog is loaded. Tablets receive it on their next sync.",
        )),
        Some("item_saved") => Some(tr(
            l,
            "服务事项已保存。平板在下次同步时收到新目录。",
            "The service item is saved. Tablets receive the new catalog on their next sync.",
        )),
        _ => None,
    }
    .map(str::to_string);
    Ok(render_catalog(
        lang,
        StatusCode::OK,
        &signed,
        reference.as_ref(),
        message,
        None,
        "",
    ))
}

/// A refused load's message: the rule the JSON broke (names fields and rules, no personal data).
fn refused_message(l: Lang, what_zh: &str, what_en: &str, e: &AdminError) -> String {
    match l {
        Lang::Zh => format!("{what_zh}未加载，原有数据不变：{e}"),
        Lang::En => format!("The {what_en} was not loaded; nothing changed: {e}"),
    }
}

/// `POST /console/admin/catalog`: loads a catalog.
pub(crate) async fn load_catalog(
    lang: PageLang,
    State(state): State<AppState>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let json = submitted_json(&fields);
    let refused = if json.trim().is_empty() {
        Some(
            tr(
                l,
                "请选择或粘贴目录 JSON。",
                "Choose or paste the catalog JSON.",
            )
            .to_string(),
        )
    } else {
        match Catalog::from_json(&json) {
            Ok(c) if c.items.is_empty() => Some(
                tr(
                    l,
                    "目录未加载，原有数据不变：目录中没有任何事项。",
                    "The catalog was not loaded; nothing changed: it lists no item.",
                )
                .to_string(),
            ),
            _ => {
                let storage = state.storage.clone();
                let text = json.clone();
                let loaded = blocking(move || Ok(admin::load_catalog(storage.as_ref(), &text)))
                    .await
                    .or_page(&lang)?;
                match loaded {
                    Ok(version) => {
                        state.engine.forget_reference();
                        tracing::info!(admin = %signed.user.id, version, "console admin: catalog loaded");
                        return Ok(
                            Redirect::to("/console/admin/catalog?done=loaded").into_response()
                        );
                    }
                    Err(e @ AdminError::Invalid(_)) => {
                        Some(refused_message(l, "目录", "catalog", &e))
                    }
                    Err(e) => return Err(PageError::new(&lang, admin_error(e))),
                }
            }
        }
    };
    tracing::info!(admin = %signed.user.id, "console admin: catalog refused");
    let reference = load(&state).await.or_page(&lang)?;
    Ok(render_catalog(
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        &signed,
        reference.as_ref(),
        None,
        refused.as_deref(),
        &json,
    ))
}

fn year_card(l: Lang, cal: &YearCalendar) -> Markup {
    html! {
        section.card.year id={ "year-" (cal.year) } {
            h2 { (cal.year) (tr(l, " 年", "")) }
            p { a href={ "/console/admin/calendar.json?year=" (cal.year) } download {
                (tr(l, "下载这一年的日历 JSON", "Download this year's calendar JSON"))
            } }
            @if cal.holidays.is_empty() {
                p { (tr(l, "没有节假日。", "No holidays.")) }
            } @else {
                table {
                    thead { tr {
                        th { (tr(l, "节假日", "Holiday")) }
                        th { (tr(l, "放假日期", "Days off")) }
                        th { (tr(l, "天数", "Days")) }
                    } }
                    tbody {
                        @for h in &cal.holidays {
                            tr {
                                td { (bianmin_domain::labels::holiday_name(&h.name, l == Lang::Zh)) }
                                td {
                                    @match (h.dates.iter().min(), h.dates.iter().max()) {
                                        (Some(a), Some(b)) if a == b => { (a.format("%Y-%m-%d")) }
                                        (Some(a), Some(b)) => { (a.format("%Y-%m-%d")) " – " (b.format("%Y-%m-%d")) }
                                        _ => { "—" }
                                    }
                                }
                                td { (h.dates.len()) }
                            }
                        }
                    }
                }
            }
            p {
                strong { (tr(l, "调休上班日：", "Adjusted working days: ")) }
                @if cal.adjusted_working_days.is_empty() { "—" }
                @else {
                    @for (i, d) in cal.adjusted_working_days.iter().enumerate() {
                        @if i > 0 { (tr(l, "、", ", ")) }
                        (d.format("%Y-%m-%d"))
                    }
                }
            }
        }
    }
}

fn render_calendar(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    reference: Option<&ReferenceData>,
    message: Option<String>,
    refused: Option<&str>,
    typed: &str,
) -> Response {
    let l = lang.lang;
    let mut years: Vec<&YearCalendar> = reference
        .map(|r| r.calendars.iter().collect())
        .unwrap_or_default();
    years.sort_by_key(|c| c.year);
    let body = html! {
        (notice(message))
        p {
            (tr(l, "已加载的年份：", "Years loaded: "))
            @if years.is_empty() { "—" }
            @for (i, c) in years.iter().enumerate() {
                @if i > 0 { (tr(l, "、", ", ")) }
                a href={ "#year-" (c.year) } { (c.year) }
            }
            br;
            span.small { (tr(l, "没有加载日历的年份按周一至周五计算工作日。",
                             "A year without a calendar counts Monday to Friday as working days.")) }
        }
        @for c in &years { (year_card(l, c)) }
        (json_form(l, signed, "load-calendar", "/console/admin/calendar", html! {
            h2 { (tr(l, "加载一年的节假日安排", "Load a year's holiday calendar")) }
            (error(refused))
            label for="calendar-json" {
                (tr(l, "日历 JSON（格式同上方各年“下载”得到的文件；替换同一年份的日历）",
                    "Calendar JSON (the format of each year's “Download” above; it replaces that year's calendar)"))
            }
            textarea #calendar-json name="json" rows="14" spellcheck="false" { (typed) }
            p.small { (tr(l, "加载后，中心平台会在几秒内按新日历自动重算所有办件的办理期限。",
                          "Once loaded, the hub recomputes every request's deadline on the new calendar within seconds.")) }
        }))
    };
    console_page(
        lang,
        status,
        signed,
        tr(l, "节假日安排", "Holiday calendar"),
        body,
    )
}

/// `GET /console/admin/calendar`.
pub(crate) async fn calendar(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let reference = load(&state).await.or_page(&lang)?;
    let message = match (q.done.as_deref(), q.year) {
        (Some("loaded"), Some(year)) => Some(match l {
            Lang::Zh => format!("{year} 年的日历已加载。中心平台会在几秒内自动重算办理期限。"),
            Lang::En => format!(
                "The calendar of {year} is loaded. The hub recomputes the deadlines within seconds."
            ),
        }),
        _ => None,
    };
    Ok(render_calendar(
        lang,
        StatusCode::OK,
        &signed,
        reference.as_ref(),
        message,
        None,
        "",
    ))
}

/// `POST /console/admin/calendar`: loads a year's calendar.
pub(crate) async fn load_calendar(
    lang: PageLang,
    State(state): State<AppState>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let json = submitted_json(&fields);
    let refused = if json.trim().is_empty() {
        tr(
            l,
            "请选择或粘贴日历 JSON。",
            "Choose or paste the calendar JSON.",
        )
        .to_string()
    } else {
        let storage = state.storage.clone();
        let text = json.clone();
        let loaded = blocking(move || {
            let year = YearCalendar::from_json(&text).map(|c| c.year).ok();
            Ok(admin::load_calendar(storage.as_ref(), &text).map(|v| (v, year)))
        })
        .await
        .or_page(&lang)?;
        match loaded {
            Ok((version, year)) => {
                state.engine.forget_reference();
                let year = year.unwrap_or_default();
                tracing::info!(admin = %signed.user.id, version, year, "console admin: calendar loaded");
                return Ok(Redirect::to(&format!(
                    "/console/admin/calendar?done=loaded&year={year}"
                ))
                .into_response());
            }
            Err(e @ AdminError::Invalid(_)) => refused_message(l, "日历", "calendar", &e),
            Err(e) => return Err(PageError::new(&lang, admin_error(e))),
        }
    };
    tracing::info!(admin = %signed.user.id, "console admin: calendar refused");
    let reference = load(&state).await.or_page(&lang)?;
    Ok(render_calendar(
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        &signed,
        reference.as_ref(),
        None,
        Some(&refused),
        &json,
    ))
}

/// A JSON attachment named `file_name`.
fn json_attachment(json: String, file_name: &str) -> Response {
    let mut response = json.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

fn not_loaded(what: &str) -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no {what} is loaded"),
    )
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string_pretty(value).map_err(AppError::internal)
}

/// `GET /console/admin/catalog.json`: the loaded catalog, as the import takes it.
pub(crate) async fn download_catalog(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    let reference = load(&state).await.or_page(&lang)?;
    let r = reference
        .ok_or_else(|| not_loaded("catalog"))
        .or_page(&lang)?;
    let json = to_json(&r.catalog).or_page(&lang)?;
    tracing::info!(admin = %signed.user.id, version = r.version, "console admin: catalog downloaded");
    let name = format!(
        "service-items-{}-v{}.json",
        r.directory.county.code, r.version
    );
    Ok(json_attachment(json, &name))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct YearQuery {
    year: Option<String>,
}

/// `GET /console/admin/calendar.json?year=YYYY`: that year's calendar, as the import takes it.
pub(crate) async fn download_calendar(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    let year: i32 = q
        .year
        .and_then(|y| y.trim().parse().ok())
        .ok_or_else(|| AppError::bad_request("give the year as ?year=YYYY"))
        .or_page(&lang)?;
    let reference = load(&state).await.or_page(&lang)?;
    let calendar = reference
        .and_then(|r| r.calendars.into_iter().find(|c| c.year == year))
        .ok_or_else(|| not_loaded(&format!("calendar of {year}")))
        .or_page(&lang)?;
    let json = to_json(&calendar).or_page(&lang)?;
    tracing::info!(admin = %signed.user.id, year, "console admin: calendar downloaded");
    Ok(json_attachment(json, &format!("calendar-{year}.json")))
}
