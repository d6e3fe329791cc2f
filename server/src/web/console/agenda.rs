//! The agenda items ("four discussions, two opens") of the villages in the user's area: a list
//! by stage, and an item's page with its meetings (attendance, votes, result), notices,
//! objections, the township's reviews, the full history and comments. A reviewer records the
//! township's review (审核), record (备案) or comment with [`AgendaAction::TownshipReview`],
//! settles a conflict, or comments.
//!
//! Free texts (title, category, description, minutes, notices, objections, reviews, comments)
//! are shown with anything that looks like an ID, mobile or bank-card number starred
//! ([`bianmin_domain::mask_personal_numbers`]); an agenda item's texts are the village's public
//! record and hold no value a reviewer needs in full, so there is no reveal here.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_document::Authoring;
use bianmin_document::model::AgendaDetail;
use bianmin_domain::{
    AgendaAction, AgendaOp, EventId, Notice, ReviewKind, Stage, authorize_agenda,
    mask_personal_numbers,
};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::{self, Fields, SignedForm};
use super::request_page::received;
use super::session::Signed;
use super::{
    Acted, Names, OrPage, PageError, blocking, console_page, labels, parse_id, received_by_entry,
    store_action,
};
use crate::AppState;
use crate::engine::console_identity;
use crate::error::AppError;
use crate::reference::Current;
use crate::storage::{AuditEntry, UserRecord};
use crate::web::i18n::{Lang, PageLang, tr};

const STAGES: [Stage; 7] = [
    Stage::Proposal,
    Stage::Consultation,
    Stage::Review,
    Stage::Resolution,
    Stage::ResolutionNotice,
    Stage::ResultsNotice,
    Stage::Done,
];

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    stage: Option<String>,
    village: Option<String>,
}

/// `GET /console/agenda`.
pub(crate) async fn list(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let stage = q
        .stage
        .as_deref()
        .and_then(|s| STAGES.into_iter().find(|st| st.as_str() == s));
    let village = q.village.clone().unwrap_or_default();
    let user = signed.user.clone();
    let st = state.clone();
    let loaded = blocking(move || {
        let reference = st.engine.reference()?;
        let stages: Vec<Stage> = stage.into_iter().collect();
        let rows = st.engine.console_agenda_items(&user, &stages)?;
        Ok((reference, rows))
    })
    .await;
    let (reference, rows) = loaded.or_page(&lang)?;
    let villages = reference.villages_in(&signed.user.area);
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| village.is_empty() || r.village == village)
        .collect();
    let body = html! {
        form.card method="get" action="/console/agenda" {
            div.cols {
                div {
                    label for="a-village" { (tr(l, "村（社区）", "Village")) }
                    select #a-village name="village" {
                        option value="" selected[village.is_empty()] { (tr(l, "全部", "All")) }
                        @for (code, zh, en) in &villages {
                            option value=(code) selected[&village == code] {
                                (if l == Lang::Zh { zh } else { en })
                            }
                        }
                    }
                }
                div {
                    label for="a-stage" { (tr(l, "阶段", "Stage")) }
                    select #a-stage name="stage" {
                        option value="" selected[stage.is_none()] { (tr(l, "全部", "All")) }
                        @for s in STAGES {
                            option value=(s.as_str()) selected[stage == Some(s)] { (labels::stage(l, s)) }
                        }
                    }
                }
            }
            p { button type="submit" { (tr(l, "筛选", "Filter")) } }
        }
        @if rows.is_empty() {
            p.notice role="status" { (tr(l, "没有符合条件的议题。", "No agenda item matches.")) }
        } @else {
            div.scroll {
                table {
                    thead { tr {
                        th { (tr(l, "议题", "Title")) }
                        th { (tr(l, "村（社区）", "Village")) }
                        th { (tr(l, "类别", "Category")) }
                        th { (tr(l, "阶段", "Stage")) }
                        th { (tr(l, "最近更新", "Updated")) }
                    } }
                    tbody {
                        @for row in &rows {
                            tr class=[row.conflict.then_some("conflict")] {
                                td { a href={ "/console/agenda/" (row.id) } { (mask_personal_numbers(&row.title)) } }
                                td { (reference.village_name(l, &row.village)) }
                                td { (mask_personal_numbers(&row.category)) }
                                td {
                                    (labels::stage(l, row.stage))
                                    @if row.conflict { br; strong { (tr(l, "⚠ 冲突待处理", "⚠ In conflict")) } }
                                }
                                td { (labels::time(row.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(console_page(
        lang,
        StatusCode::OK,
        &signed,
        tr(
            l,
            "村务议题（四议两公开）",
            "Agenda items (four discussions, two opens)",
        ),
        body,
    ))
}

struct Loaded {
    detail: AgendaDetail,
    reference: Arc<Current>,
    names: Names,
    received: HashMap<Uuid, AuditEntry>,
}

fn load(state: &AppState, user: &UserRecord, id: Uuid) -> Result<Loaded, AppError> {
    let reference = state.engine.reference()?;
    let detail = state.engine.console_agenda(user, id)?;
    let user_ids = std::iter::once(detail.created.user.as_str())
        .chain(detail.history.iter().map(|h| h.by.user.as_str()))
        .chain(detail.comments.iter().map(|c| c.by.user.as_str()));
    let names = Names::load(state.storage.as_ref(), user_ids)?;
    let audit = state.storage.audit(id)?;
    let received = received_by_entry(state.storage.as_ref(), id, &audit)?;
    Ok(Loaded {
        detail,
        reference,
        names,
        received,
    })
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    done: Option<String>,
}

/// `GET /console/agenda/{id}`.
pub(crate) async fn show(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let id = parse_id(&id).ok_or_else(|| PageError::not_found(&lang))?;
    let user = signed.user.clone();
    let st = state.clone();
    let loaded = blocking(move || load(&st, &user, id))
        .await
        .or_page(&lang)?;
    Ok(render(
        lang,
        StatusCode::OK,
        &signed,
        &loaded,
        q.done.as_deref(),
        None,
    ))
}

/// `GET /console/agenda/{id}/{action}`: back to the item's page.
pub(crate) async fn back_to_page(
    lang: PageLang,
    Path((id, _)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = parse_id(&id).ok_or_else(|| PageError::not_found(&lang))?;
    Ok(Redirect::to(&format!(
        "/console/agenda/{id}?lang={}",
        if lang.lang == Lang::En { "en" } else { "zh" }
    ))
    .into_response())
}

fn build(l: Lang, action: &str, f: &Fields) -> Option<Result<Authoring, String>> {
    let text = |name: &str| f.text(name).trim().to_string();
    Some(match action {
        "review" => {
            let review = match f.get("review") {
                Some("reviewed") => Some(ReviewKind::Reviewed),
                Some("recorded") => Some(ReviewKind::Recorded),
                Some("comment") => Some(ReviewKind::Comment),
                _ => None,
            };
            match (review, text("comment")) {
                (None, _) => Err(tr(
                    l,
                    "请选择审核、备案或意见。",
                    "Choose review, record or comment.",
                )
                .to_string()),
                (Some(_), c) if c.is_empty() => {
                    Err(tr(l, "请填写乡镇意见。", "Write the township's words.").to_string())
                }
                (Some(review), comment) => {
                    Ok(Authoring::AgendaEvent(AgendaAction::TownshipReview {
                        review,
                        comment,
                    }))
                }
            }
        }
        "settle" => match (
            f.get("keep").and_then(|k| Uuid::parse_str(k).ok()),
            text("note"),
        ) {
            (None, _) => {
                Err(tr(l, "请选择要保留的记录。", "Choose the record to keep.").to_string())
            }
            (Some(_), n) if n.is_empty() => Err(tr(
                l,
                "处理冲突必须写明理由。",
                "Settling a conflict needs a reason.",
            )
            .to_string()),
            (Some(keep), note) => Ok(Authoring::AgendaEvent(AgendaAction::Settle {
                keep: EventId(keep),
                note,
            })),
        },
        "comment" => match text("text") {
            t if t.is_empty() => Err(tr(l, "请填写意见内容。", "Write the comment.").to_string()),
            t => Ok(Authoring::AgendaComment(t)),
        },
        _ => return None,
    })
}

struct Typed {
    form: String,
    error: String,
    fields: Fields,
}

/// `POST /console/agenda/{id}/{action}`: review, settle or comment.
pub(crate) async fn act(
    lang: PageLang,
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    form: SignedForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let SignedForm { signed, fields } = form;
    let id = parse_id(&id).ok_or_else(|| PageError::not_found(&lang))?;
    let built = build(l, &action, &fields).ok_or_else(|| PageError::not_found(&lang))?;
    let visible =
        move |e: &crate::engine::Engine, u: &UserRecord| e.console_agenda(u, id).map(drop);
    let done = format!("/console/agenda/{id}?done={action}");
    let (status, error) =
        match store_action(&lang, &state, &signed.user, id, built, visible, done).await? {
            Acted::Stored(response) => return Ok(response),
            Acted::Refused(status, message) => (status, message),
        };
    let typed = Typed {
        form: action,
        error,
        fields,
    };
    let user = signed.user.clone();
    let st = state.clone();
    let loaded = blocking(move || load(&st, &user, id))
        .await
        .or_page(&lang)?;
    Ok(render(lang, status, &signed, &loaded, None, Some(&typed)))
}

fn notice(l: Lang, n: &Notice) -> Markup {
    html! {
        p { (mask_personal_numbers(&n.text)) }
        p.small {
            (tr(l, "公开期：", "Posted: ")) (n.posted_on.format("%Y-%m-%d")) " – " (n.ends_on().format("%Y-%m-%d"))
            " (" (n.period_days) (tr(l, " 天", " days")) ")"
            @if !n.place.is_empty() { " · " (tr(l, "地点：", "Where: ")) (mask_personal_numbers(&n.place)) }
        }
    }
}

fn may(user: &UserRecord, village: &str, action: &AgendaAction) -> bool {
    authorize_agenda(&console_identity(user), village, AgendaOp::Append(action)).is_ok()
}

/// What the parts of an agenda item's page read.
#[derive(Clone, Copy)]
struct View<'a> {
    l: Lang,
    loaded: &'a Loaded,
    d: &'a AgendaDetail,
    /// The session's CSRF token, for the forms.
    token: &'a str,
    /// The form refused last, drawn again.
    typed: Option<&'a Typed>,
}

impl View<'_> {
    /// What was typed into `field` of the refused form `form` (empty for the other forms).
    fn typed_value(&self, form: &str, field: &str) -> String {
        self.typed
            .filter(|t| t.form == form)
            .map(|t| t.fields.text(field))
            .unwrap_or_default()
    }

    /// Who did something, in which role, on which device, when.
    fn who(&self, by: &bianmin_domain::Stamp) -> String {
        let (l, names) = (self.l, &self.loaded.names);
        format!(
            "{} ({}) · {} · {}",
            names.user(&by.user),
            labels::role(l, by.role),
            names.device(l, &by.device),
            labels::time(by.at)
        )
    }
}

fn done_message(l: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "review" => tr(
            l,
            "乡镇意见已记录，村里的平板下次同步时会收到。",
            "The township's review is recorded; the village tablet receives it on its next sync.",
        ),
        "settle" => tr(l, "冲突已处理。", "The conflict is settled."),
        "comment" => tr(l, "意见已添加。", "Comment added."),
        _ => return None,
    })
}

fn render(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    loaded: &Loaded,
    done: Option<&str>,
    typed: Option<&Typed>,
) -> Response {
    let l = lang.lang;
    let d = &loaded.detail;
    let can_review = may(
        &signed.user,
        &d.village,
        &AgendaAction::TownshipReview {
            review: ReviewKind::Comment,
            comment: String::new(),
        },
    );
    let can_settle = d.conflict.is_some()
        && may(
            &signed.user,
            &d.village,
            &AgendaAction::Settle {
                keep: EventId(Uuid::nil()),
                note: String::new(),
            },
        );
    let view = View {
        l,
        loaded,
        d,
        token: &signed.csrf,
        typed,
    };
    let body = html! {
        (page_notices(l, done, typed))
        div.cols {
            (item_card(view))
            (description_card(view))
        }

        (meetings_section(view))

        (public_notices_section(view))

        @if let Some(conflict) = &d.conflict {
            (conflict_section(view, conflict, can_settle))
        }

        (review_section(view, can_review))

        (history_section(view))

        (comments_section(view))
    };
    console_page(lang, status, signed, &mask_personal_numbers(&d.title), body)
}

/// The link back to the list, and how the last action ended (done, or refused and why).
fn page_notices(l: Lang, done: Option<&str>, typed: Option<&Typed>) -> Markup {
    html! {
        p { a href="/console/agenda" { (tr(l, "← 返回议题列表", "← Back to agenda items")) } }
        @if let Some(m) = done.and_then(|x| done_message(l, x)) { p.notice role="status" { (m) } }
        @if let Some(t) = typed { p.error role="alert" { (t.error) } }
    }
}

/// The item: village, category, stage, who opened it.
fn item_card(view: View<'_>) -> Markup {
    let View { l, loaded, d, .. } = view;
    html! {
        section.card {
            h2 { (tr(l, "议题", "Item")) }
            dl {
                dt { (tr(l, "村（社区）", "Village")) } dd { (loaded.reference.village_name(l, &d.village)) }
                dt { (tr(l, "类别", "Category")) } dd { (mask_personal_numbers(&d.category)) }
                dt { (tr(l, "当前阶段", "Stage")) } dd {
                    strong { (labels::stage(l, d.stage)) }
                    @if d.conflict.is_some() { " " strong.overdue { (tr(l, "⚠ 冲突待处理", "⚠ In conflict")) } }
                }
                dt { (tr(l, "创建", "Opened")) } dd { (view.who(&d.created)) }
            }
        }
    }
}

/// What the item proposes.
fn description_card(view: View<'_>) -> Markup {
    let View { l, d, .. } = view;
    html! {
        section.card {
            h2 { (tr(l, "内容", "Description")) }
            p.pre { (mask_personal_numbers(&d.description)) }
        }
    }
}

/// The meetings: attendance, votes, result, minutes.
fn meetings_section(view: View<'_>) -> Markup {
    let View { l, d, .. } = view;
    html! {
        section {
            h2 { (tr(l, "会议", "Meetings")) }
            @let meetings: Vec<_> = d.history.iter().filter_map(|h| match &h.action {
                AgendaAction::Meeting(m) => Some((h, m)),
                _ => None,
            }).collect();
            @if meetings.is_empty() { p { (tr(l, "尚无会议记录。", "No meeting recorded yet.")) } }
            @else {
                div.scroll {
                    table.meetings {
                        thead { tr {
                            th { (tr(l, "会议", "Meeting")) }
                            th { (tr(l, "日期", "Date")) }
                            th { (tr(l, "应到/实到", "Entitled / present")) }
                            th { (tr(l, "赞成/反对/弃权", "For / against / abstaining")) }
                            th { (tr(l, "结果", "Result")) }
                            th { (tr(l, "会议记录", "Minutes")) }
                        } }
                        tbody {
                            @for (h, m) in &meetings {
                                tr {
                                    td { (labels::body(l, m.body)) }
                                    td { (m.held_on.format("%Y-%m-%d")) }
                                    td {
                                        (m.entitled) " / " (m.present)
                                        @if let (Some(hh), Some(rep)) = (m.households, m.households_represented) {
                                            br; (tr(l, "户数 ", "households ")) (rep) " / " (hh)
                                        }
                                    }
                                    td { (m.votes_for) " / " (m.votes_against) " / " (m.abstentions) }
                                    td {
                                        @if let Some(r) = &h.meeting_result { (labels::meeting_result(l, r)) }
                                        @if let Some(why) = &h.invalid { br; em.overdue { (tr(l, "未生效：", "Not applied: ")) (why) } }
                                    }
                                    td {
                                        (mask_personal_numbers(&m.minutes))
                                        @if !m.sign_in_photos.is_empty() {
                                            br; span.small { (tr(l, "签到表照片 ", "Sign-in photos: ")) (m.sign_in_photos.len()) }
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
}

/// The notices posted and the objections raised.
fn public_notices_section(view: View<'_>) -> Markup {
    let View { l, d, .. } = view;
    html! {
        section {
            h2 { (tr(l, "公开", "Public notices")) }
            @let any = d.history.iter().any(|h| matches!(h.action,
                AgendaAction::ResolutionNotice(_) | AgendaAction::ResultsNotice(_) | AgendaAction::Objection(_)));
            @for h in &d.history {
                @match &h.action {
                    AgendaAction::ResolutionNotice(n) => {
                        div.card { h3 { (tr(l, "决议公开", "Resolution notice")) } (notice(l, n)) }
                    }
                    AgendaAction::ResultsNotice(n) => {
                        div.card { h3 { (tr(l, "实施结果公开", "Results notice")) } (notice(l, n)) }
                    }
                    AgendaAction::Objection(o) => {
                        div.card {
                            h3 { (tr(l, "异议", "Objection")) " · " (o.received_on.format("%Y-%m-%d")) }
                            p { (mask_personal_numbers(&o.summary)) }
                            @if !o.response.is_empty() { p { (tr(l, "答复：", "Response: ")) (mask_personal_numbers(&o.response)) } }
                        }
                    }
                    _ => {}
                }
            }
            @if !any { p { (tr(l, "尚未公开。", "Nothing posted yet.")) } }
        }
    }
}

/// A conflict, side by side, and the form that settles it.
fn conflict_section(view: View<'_>, conflict: &[EventId], can_settle: bool) -> Markup {
    let View { l, d, token, .. } = view;
    let id = d.id;
    html! {
        section.card.conflict {
            h2 { (tr(l, "冲突：离线时记录了互相矛盾的内容", "Conflict: records made offline disagree")) }
            div.cols {
                @for tip in conflict {
                    @if let Some(h) = d.history.iter().find(|h| &h.id == tip) {
                        div.card {
                            h3 { (labels::agenda_action(l, &h.action)) }
                            @if let AgendaAction::Meeting(m) = &h.action {
                                p { (labels::body(l, m.body)) " · " (m.held_on.format("%Y-%m-%d")) " · " (m.votes_for) "/" (m.votes_against) "/" (m.abstentions) }
                            }
                            p.small { (view.who(&h.by)) }
                            p.small { code { (labels::short_id(&tip.to_string())) } }
                        }
                    }
                }
            }
            @if can_settle {
                form.card method="post" action={ "/console/agenda/" (id) "/settle" } {
                    (csrf::field(token))
                    fieldset {
                        legend { (tr(l, "保留哪一条记录", "Keep which record")) }
                        @for tip in conflict {
                            @let tip_s = tip.to_string();
                            div {
                                input type="radio" name="keep" id={ "keep-" (tip_s) } value=(tip_s) required
                                    checked[view.typed_value("settle", "keep") == tip_s];
                                label.inline for={ "keep-" (tip_s) } { " " (labels::short_id(&tip_s)) }
                            }
                        }
                    }
                    label for="settle-note" { (tr(l, "理由（必填）", "Reason (required)")) }
                    textarea #settle-note name="note" rows="3" required { (view.typed_value("settle", "note")) }
                    p { button type="submit" { (tr(l, "处理冲突", "Settle")) } }
                }
            }
        }
    }
}

/// The township's reviews, and the form that records one.
fn review_section(view: View<'_>, can_review: bool) -> Markup {
    let View {
        l, d, token, typed, ..
    } = view;
    let id = d.id;
    let chosen_review = typed
        .filter(|t| t.form == "review")
        .and_then(|t| t.fields.get("review").map(str::to_string))
        .unwrap_or_else(|| "reviewed".to_string());
    html! {
        section {
            h2 { (tr(l, "乡镇审核", "Township review")) }
            @for h in &d.history {
                @if let AgendaAction::TownshipReview { review, comment } = &h.action {
                    div.card {
                        p { strong { (labels::review_kind(l, *review)) } " · " (mask_personal_numbers(comment)) }
                        p.small { (view.who(&h.by)) }
                    }
                }
            }
            @if can_review {
                form.card method="post" action={ "/console/agenda/" (id) "/review" } {
                    (csrf::field(token))
                    label for="review-kind" { (tr(l, "类型", "Kind")) }
                    select #review-kind name="review" {
                        @for (v, k) in [("reviewed", ReviewKind::Reviewed), ("recorded", ReviewKind::Recorded), ("comment", ReviewKind::Comment)] {
                            option value=(v) selected[chosen_review == v] { (labels::review_kind(l, k)) }
                        }
                    }
                    label for="review-comment" { (tr(l, "乡镇意见（必填）", "The township's words (required)")) }
                    textarea #review-comment name="comment" rows="3" required { (view.typed_value("review", "comment")) }
                    p { button type="submit" { (tr(l, "提交乡镇意见", "Record the review")) } }
                }
            }
        }
    }
}

/// Every record: who, the role, the device, the device's time, when the hub received it.
fn history_section(view: View<'_>) -> Markup {
    let View { l, loaded, d, .. } = view;
    let names = &loaded.names;
    html! {
        section {
            h2 { (tr(l, "全部记录", "History")) }
            div.scroll {
                table.history {
                    thead { tr {
                        th { "#" }
                        th { (tr(l, "记录", "Record")) }
                        th { (tr(l, "操作人", "Who")) }
                        th { (tr(l, "设备", "Device")) }
                        th { (tr(l, "设备时间", "Device time")) }
                        th { (tr(l, "平台接收（服务器时间）", "Received by the hub (server time)")) }
                    } }
                    tbody {
                        @for (i, h) in d.history.iter().enumerate() {
                            tr {
                                td { (i + 1) }
                                td {
                                    (labels::agenda_action(l, &h.action))
                                    @if let Some(why) = &h.invalid { br; em.overdue { (tr(l, "未生效：", "Not applied: ")) (why) } }
                                }
                                td { (names.user(&h.by.user)) " (" (labels::role(l, h.by.role)) ")" }
                                td { (names.device(l, &h.by.device)) }
                                td { (labels::time(h.by.at)) }
                                td { (received(l, loaded.received.get(&h.id.0))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The comments, and the form that adds one.
fn comments_section(view: View<'_>) -> Markup {
    let View {
        l,
        loaded,
        d,
        token,
        ..
    } = view;
    let id = d.id;
    html! {
        section {
            h2 { (tr(l, "意见", "Comments")) }
            @if d.comments.is_empty() { p { (tr(l, "暂无意见。", "No comments yet.")) } }
            @for c in &d.comments {
                div.card.comment {
                    p.small { (view.who(&c.by)) " · " (tr(l, "平台接收：", "received: ")) (received(l, loaded.received.get(&c.id))) }
                    p { (mask_personal_numbers(&c.text)) }
                }
            }
            form.card method="post" action={ "/console/agenda/" (id) "/comment" } {
                (csrf::field(token))
                label for="comment-text" { (tr(l, "添加意见", "Add a comment")) }
                textarea #comment-text name="text" rows="3" required { (view.typed_value("comment", "text")) }
                p { button type="submit" { (tr(l, "添加意见", "Comment")) } }
            }
        }
    }
}
