//! The public notices of the "four discussions, two opens": for each village, the agenda items
//! whose resolution has been adopted (on notice, or already published), with the meetings'
//! votes, the notices and their periods, objections and the township's review, as a page and as
//! JSON ([`VillageNotices`], documented in `docs/public-pages.md`).
//!
//! Only what the public may read is copied out of an item: no user ids, devices, minutes,
//! sign-in photos or comments, and no invalid records. Free texts written for the public
//! (title, category, description, notices and their places, objections and answers) are shown
//! with anything that looks like an ID, mobile or bank-card number starred out, however it was
//! typed (full-width, spaced, with `+86`: [`bianmin_domain::mask_personal_numbers`]), in the
//! page and its JSON alike, in case someone typed one in.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bianmin_document::model::AgendaDetail;
use bianmin_domain::{
    AgendaAction, Body, Directory, MeetingResult, Notice, ReviewKind, Stage, Timestamp,
    mask_personal_numbers,
};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{blocking, nav};
use crate::AppState;
use crate::error::AppError;
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::layout::{error_page, page};

/// A village as the public JSON names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicVillage {
    /// The 12-digit village code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The 9-digit township code.
    pub township_code: String,
    /// The township's Chinese name.
    pub township_name_zh: String,
    /// The township's English name.
    pub township_name_en: String,
}

/// The answer of `GET /api/v1/public/villages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicVillages {
    /// The county's code.
    pub county_code: String,
    /// The county's Chinese name.
    pub county_name_zh: String,
    /// The county's English name.
    pub county_name_en: String,
    /// Its villages, township by township.
    pub villages: Vec<PublicVillage>,
}

/// The answer of `GET /api/v1/public/villages/{code}/notices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VillageNotices {
    /// The village.
    pub village: PublicVillage,
    /// The day (China Standard Time) on which each notice's `state` was judged.
    pub as_of: NaiveDate,
    /// The village's agenda items past their resolution, most recently changed first.
    pub items: Vec<PublicItem>,
}

/// One agenda item, as the public may read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicItem {
    /// Its identifier.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// The kind of matter.
    pub category: String,
    /// What was proposed.
    pub description: String,
    /// `resolution_notice` (adopted; the resolution's notice is still to be posted),
    /// `results_notice` (the resolution is posted; the results are still to be posted) or `done`.
    pub stage: Stage,
    /// Whether records made concurrently wait for the village to settle which one stands.
    pub disputed: bool,
    /// The meetings held, in the order recorded (failed ones included: they happened).
    pub meetings: Vec<PublicMeeting>,
    /// The notices posted, in the order recorded.
    pub notices: Vec<PublicNotice>,
    /// Objections raised while a notice was posted.
    pub objections: Vec<PublicObjection>,
    /// The township's reviews and records of the item.
    pub township_reviews: Vec<PublicReview>,
    /// When it last changed (RFC 3339, China Standard Time, device clock).
    pub updated_at: String,
}

/// A meeting's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Quorate and adopted.
    Passed,
    /// Too few present.
    NoQuorum,
    /// Quorate, but without the majority.
    NotAdopted,
}

/// A meeting of stages 1 to 4, with its attendance and votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicMeeting {
    /// The stage it belongs to, 1 to 4.
    pub stage: u8,
    /// `party_branch`, `two_committees`, `party_members`, `villagers_meeting` or
    /// `representatives_meeting`.
    pub body: Body,
    /// The day it met.
    pub held_on: NaiveDate,
    /// Members entitled to attend.
    pub entitled: u32,
    /// Members present.
    pub present: u32,
    /// For a villagers' meeting held by household: the households.
    pub households: Option<u32>,
    /// For a villagers' meeting held by household: the households represented.
    pub households_represented: Option<u32>,
    /// Votes for.
    pub votes_for: u32,
    /// Votes against.
    pub votes_against: u32,
    /// Abstentions.
    pub abstentions: u32,
    /// Whether it had its quorum.
    pub quorate: bool,
    /// Whether the motion was adopted.
    pub passed: bool,
    /// The result.
    pub result: Outcome,
}

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The notice of the resolution (stage 5).
    Resolution,
    /// The notice of the implementation results (stage 6).
    Results,
}

/// Where a notice period stands on `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// Its first day is still ahead.
    Upcoming,
    /// Posted now.
    Posted,
    /// The period is over.
    Ended,
}

/// A public notice and its period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicNotice {
    /// Which notice.
    pub kind: NoticeKind,
    /// The text made public: the resolution, or the results of its implementation.
    pub text: String,
    /// Where it is posted.
    pub place: String,
    /// The first day.
    pub posted_on: NaiveDate,
    /// The last day.
    pub ends_on: NaiveDate,
    /// The period in days.
    pub period_days: u32,
    /// Where the period stands on `as_of`.
    pub state: NoticeState,
}

/// An objection to a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicObjection {
    /// The day it was received.
    pub received_on: NaiveDate,
    /// What it says.
    pub summary: String,
    /// The village's answer (empty if none yet).
    pub response: String,
}

/// The township's review or record of the item (its comments are not published).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicReview {
    /// `reviewed` (审核), `recorded` (备案) or `comment`.
    pub review: ReviewKind,
    /// The day (China Standard Time, device clock).
    pub on: NaiveDate,
}

fn public_village(directory: &Directory, code: &str) -> Option<PublicVillage> {
    directory.townships.iter().find_map(|t| {
        t.villages
            .iter()
            .find(|v| v.code == code)
            .map(|v| PublicVillage {
                code: v.code.clone(),
                name_zh: v.name_zh.clone(),
                name_en: v.name_en.clone(),
                township_code: t.code.clone(),
                township_name_zh: t.name_zh.clone(),
                township_name_en: t.name_en.clone(),
            })
    })
}

fn villages(directory: &Directory) -> PublicVillages {
    PublicVillages {
        county_code: directory.county.code.clone(),
        county_name_zh: directory.county.name_zh.clone(),
        county_name_en: directory.county.name_en.clone(),
        villages: directory
            .townships
            .iter()
            .flat_map(|t| &t.villages)
            .filter_map(|v| public_village(directory, &v.code))
            .collect(),
    }
}

fn notice(kind: NoticeKind, n: &Notice, today: NaiveDate) -> PublicNotice {
    let ends_on = n.ends_on();
    PublicNotice {
        kind,
        text: mask_personal_numbers(&n.text),
        place: mask_personal_numbers(&n.place),
        posted_on: n.posted_on,
        ends_on,
        period_days: n.period_days,
        state: if today < n.posted_on {
            NoticeState::Upcoming
        } else if today <= ends_on {
            NoticeState::Posted
        } else {
            NoticeState::Ended
        },
    }
}

/// What the public may read of an agenda item (see the module docs).
pub fn public_item(detail: &AgendaDetail, today: NaiveDate) -> PublicItem {
    let mut item = PublicItem {
        id: detail.id,
        title: mask_personal_numbers(&detail.title),
        category: mask_personal_numbers(&detail.category),
        description: mask_personal_numbers(&detail.description),
        stage: detail.stage,
        disputed: detail.conflict.is_some(),
        meetings: Vec::new(),
        notices: Vec::new(),
        objections: Vec::new(),
        township_reviews: Vec::new(),
        updated_at: detail.updated_at.to_rfc3339(),
    };
    for entry in detail.history.iter().filter(|h| h.invalid.is_none()) {
        match &entry.action {
            AgendaAction::Meeting(m) => {
                let result = entry.meeting_result.clone().unwrap_or_else(|| m.result());
                item.meetings.push(PublicMeeting {
                    stage: body_stage(m.body),
                    body: m.body,
                    held_on: m.held_on,
                    entitled: m.entitled,
                    present: m.present,
                    households: m.households,
                    households_represented: m.households_represented,
                    votes_for: m.votes_for,
                    votes_against: m.votes_against,
                    abstentions: m.abstentions,
                    quorate: !matches!(result, MeetingResult::NoQuorum(_)),
                    passed: result == MeetingResult::Passed,
                    result: match result {
                        MeetingResult::Passed => Outcome::Passed,
                        MeetingResult::NoQuorum(_) => Outcome::NoQuorum,
                        MeetingResult::NotAdopted(_) => Outcome::NotAdopted,
                    },
                });
            }
            AgendaAction::ResolutionNotice(n) => {
                item.notices.push(notice(NoticeKind::Resolution, n, today));
            }
            AgendaAction::ResultsNotice(n) => {
                item.notices.push(notice(NoticeKind::Results, n, today));
            }
            AgendaAction::Objection(o) => item.objections.push(PublicObjection {
                received_on: o.received_on,
                summary: mask_personal_numbers(&o.summary),
                response: mask_personal_numbers(&o.response),
            }),
            AgendaAction::TownshipReview { review, .. } => {
                item.township_reviews.push(PublicReview {
                    review: *review,
                    on: entry.by.at.china_date(),
                });
            }
            AgendaAction::Settle { .. } => {}
        }
    }
    item
}

fn body_stage(body: Body) -> u8 {
    match body {
        Body::PartyBranch => 1,
        Body::TwoCommittees => 2,
        Body::PartyMembers => 3,
        Body::VillagersMeeting | Body::RepresentativesMeeting => 4,
    }
}

/// A village's notices, or `None` for a village not in the directory. Blocking.
fn load(state: &AppState, code: &str) -> Result<Option<VillageNotices>, AppError> {
    let reference = state.engine.reference()?;
    let Some(village) = public_village(&reference.data.directory, code) else {
        return Ok(None);
    };
    let today = Timestamp::now().china_date();
    let items = state
        .engine
        .public_agenda(code)?
        .iter()
        .map(|d| public_item(d, today))
        .collect();
    Ok(Some(VillageNotices {
        village,
        as_of: today,
        items,
    }))
}

fn not_found_village() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such village in the county's directory",
    )
}

/// Public JSON may be read by any other system, from any origin.
fn public_json<T: Serialize>(value: T) -> Response {
    let mut response = Json(value).into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `GET /api/v1/public/villages`: the county's villages.
pub async fn villages_json(State(state): State<AppState>) -> Result<Response, AppError> {
    let list = blocking(move || Ok(villages(&state.engine.reference()?.data.directory))).await?;
    Ok(public_json(list))
}

/// `GET /api/v1/public/villages/{code}/notices`: a village's notices as JSON.
pub async fn village_json(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let notices = blocking(move || load(&state, &code))
        .await?
        .ok_or_else(not_found_village)?;
    Ok(public_json(notices))
}

fn village_name(v: &PublicVillage, lang: Lang) -> &str {
    match lang {
        Lang::Zh => &v.name_zh,
        Lang::En => &v.name_en,
    }
}

/// `GET /public`: the county's villages, township by township.
pub async fn index(lang: PageLang, State(state): State<AppState>) -> Response {
    let l = lang.lang;
    let directory =
        match blocking(move || Ok(state.engine.reference()?.data.directory.clone())).await {
            Ok(d) => d,
            Err(e) => return error_page(e.status, lang, &e.message),
        };
    let county = match l {
        Lang::Zh => &directory.county.name_zh,
        Lang::En => &directory.county.name_en,
    };
    let title = format!("{county} · {}", tr(l, "村务公开", "Village notices"));
    let body = html! {
        p {
            (tr(l, "“四议两公开”：村里重大事项的决议和实施结果在此公开，无需登录。",
                "“Four discussions, two opens”: the resolutions of major village matters and \
                 the results of their implementation, public, without signing in."))
        }
        div.cols {
            @for t in &directory.townships {
                section.card {
                    h2 { (match l { Lang::Zh => &t.name_zh, Lang::En => &t.name_en }) }
                    ul {
                        @for v in &t.villages {
                            li {
                                a href={ "/public/villages/" (v.code) } {
                                    (match l { Lang::Zh => &v.name_zh, Lang::En => &v.name_en })
                                }
                            }
                        }
                    }
                }
            }
        }
        p {
            (tr(l, "查询自己的办件进度：", "To check your own request: "))
            a href="/lookup" { (tr(l, "办件查询", "check a request")) }
        }
    };
    page(lang, &title, &nav(l), body)
}

/// `GET /public/villages/{code}`: a village's notices.
pub async fn village_page(
    lang: PageLang,
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Response {
    let l = lang.lang;
    let notices = match blocking(move || load(&state, &code)).await {
        Ok(Some(n)) => n,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                lang,
                tr(
                    l,
                    "县里没有这个村。",
                    "There is no such village in the county.",
                ),
            );
        }
        Err(e) => return error_page(e.status, lang, &e.message),
    };
    let v = &notices.village;
    let title = format!(
        "{} · {}",
        village_name(v, l),
        tr(l, "村务公开", "Village notices")
    );
    let township = match l {
        Lang::Zh => &v.township_name_zh,
        Lang::En => &v.township_name_en,
    };
    let body = html! {
        p {
            (township) " · " (v.code) " · "
            a href={ "/api/v1/public/villages/" (v.code) "/notices" } { "JSON" }
            " · " a href="/public" { (tr(l, "其他村", "Other villages")) }
        }
        @if notices.items.is_empty() {
            p.notice { (tr(l, "目前没有公开的事项。", "Nothing is on public notice at present.")) }
        }
        @for item in &notices.items {
            (item_section(item, l))
        }
    };
    page(lang, &title, &nav(l), body)
}

fn stage_label(stage: Stage, l: Lang) -> &'static str {
    match stage {
        Stage::ResolutionNotice => tr(
            l,
            "已决议，决议待公开",
            "Resolved; the resolution's notice is to be posted",
        ),
        Stage::ResultsNotice => tr(
            l,
            "决议已公开，实施结果待公开",
            "Resolution made public; results to follow",
        ),
        Stage::Done => tr(l, "实施结果已公开", "Results made public"),
        _ => tr(l, "审议中", "Under discussion"),
    }
}

/// The name of a meeting body.
pub fn body_label(body: Body, l: Lang) -> &'static str {
    match body {
        Body::PartyBranch => tr(l, "党支部会议提议", "Party branch meeting (proposal)"),
        Body::TwoCommittees => tr(
            l,
            "村“两委”会议商议",
            "Joint meeting of the two committees (consultation)",
        ),
        Body::PartyMembers => tr(l, "党员大会审议", "Party members' meeting (review)"),
        Body::VillagersMeeting => tr(l, "村民会议决议", "Villagers' meeting (resolution)"),
        Body::RepresentativesMeeting => tr(
            l,
            "村民代表会议决议",
            "Villagers' representatives' meeting (resolution)",
        ),
    }
}

fn outcome_label(o: Outcome, l: Lang) -> &'static str {
    match o {
        Outcome::Passed => tr(l, "通过", "Passed"),
        Outcome::NoQuorum => tr(l, "未达到法定人数", "No quorum"),
        Outcome::NotAdopted => tr(l, "未获通过", "Not adopted"),
    }
}

fn notice_state_label(s: NoticeState, l: Lang) -> &'static str {
    match s {
        NoticeState::Upcoming => tr(l, "尚未开始", "Not yet posted"),
        NoticeState::Posted => tr(l, "公示中", "On notice now"),
        NoticeState::Ended => tr(l, "公示期已满", "Notice period over"),
    }
}

fn review_label(r: ReviewKind, l: Lang) -> &'static str {
    match r {
        ReviewKind::Reviewed => tr(l, "乡镇已审核", "Reviewed by the township"),
        ReviewKind::Recorded => tr(l, "乡镇已备案", "Put on record by the township"),
        ReviewKind::Comment => tr(l, "乡镇已提出意见", "Commented on by the township"),
    }
}

fn item_section(item: &PublicItem, l: Lang) -> Markup {
    html! {
        section.card id={ "item-" (item.id) } {
            h2 { (item.title) }
            p {
                strong { (stage_label(item.stage, l)) }
                @if !item.category.is_empty() { " · " (item.category) }
            }
            @if item.disputed {
                p.error {
                    (tr(l, "有同时录入的不同记录，村里正在核定以哪一条为准。",
                        "Records made at the same time disagree; the village is settling which one stands."))
                }
            }
            h3 { (tr(l, "事项内容", "What was proposed")) }
            p { (item.description) }
            @for n in &item.notices {
                h3 {
                    (match n.kind {
                        NoticeKind::Resolution => tr(l, "决议公开", "Notice of the resolution"),
                        NoticeKind::Results => tr(l, "实施结果公开", "Notice of the results"),
                    })
                }
                p.notice { (n.text) }
                p {
                    (tr(l, "公示期：", "Notice period: ")) (n.posted_on) " – " (n.ends_on)
                    " (" (n.period_days) (tr(l, " 天", " days")) ") · "
                    (notice_state_label(n.state, l))
                    @if !n.place.is_empty() { " · " (tr(l, "地点：", "Posted at: ")) (n.place) }
                }
            }
            @if !item.meetings.is_empty() {
                h3 { (tr(l, "会议与表决", "Meetings and votes")) }
                table {
                    thead { tr {
                        th { (tr(l, "会议", "Meeting")) }
                        th { (tr(l, "日期", "Date")) }
                        th { (tr(l, "应到", "Entitled")) }
                        th { (tr(l, "实到", "Present")) }
                        th { (tr(l, "赞成", "For")) }
                        th { (tr(l, "反对", "Against")) }
                        th { (tr(l, "弃权", "Abstain")) }
                        th { (tr(l, "结果", "Result")) }
                    } }
                    tbody {
                        @for m in &item.meetings {
                            tr {
                                td { (m.stage) ". " (body_label(m.body, l)) }
                                td { (m.held_on) }
                                td {
                                    (m.entitled)
                                    @if let (Some(h), Some(r)) = (m.households, m.households_represented) {
                                        br; small { (tr(l, "户数 ", "households ")) (r) "/" (h) }
                                    }
                                }
                                td { (m.present) }
                                td { (m.votes_for) }
                                td { (m.votes_against) }
                                td { (m.abstentions) }
                                td { (outcome_label(m.result, l)) }
                            }
                        }
                    }
                }
            }
            @if !item.objections.is_empty() {
                h3 { (tr(l, "异议与答复", "Objections and answers")) }
                ul {
                    @for o in &item.objections {
                        li {
                            (o.received_on) ": " (o.summary)
                            @if !o.response.is_empty() {
                                br; (tr(l, "答复：", "Answer: ")) (o.response)
                            }
                        }
                    }
                }
            }
            @if !item.township_reviews.is_empty() {
                h3 { (tr(l, "乡镇审核备案", "Township review")) }
                ul {
                    @for r in &item.township_reviews {
                        li { (r.on) ": " (review_label(r.review, l)) }
                    }
                }
            }
        }
    }
}
