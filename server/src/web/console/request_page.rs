//! A request's page: the applicant (ID number and phone masked), the form's values, the
//! materials received and missing, the attachments (each a link to its bytes once the hub has
//! them, `GET /console/requests/{id}/attachments/{sha256}`), the deadline, any conflict side by side, the full history
//! (who, on which device, device time, and when the hub received the change that carried each
//! event), comments, field edits, and the hub's audit trail (which device and user sent each
//! change, and when the hub received it). Below, the actions the
//! signed-in user may take now, as forms: approve, reject, return for supplement, settle a
//! conflict, comment.
//!
//! An action is written by the engine ([`crate::engine::Engine::console_act`]) as an event
//! under the user's own actor; the browser is then sent back to the page (303) with a notice.
//! A form the rules refuse is drawn again (422) with the message and the typed text.
//!
//! Personal data is shown masked: the ID number and phone, sensitive attributes, and ID,
//! mobile and bank-card numbers in free text; one value at a time can be revealed, audited
//! ([`reveal`]).

mod reveal;

pub(crate) use reveal::reveal;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_document::Authoring;
use bianmin_document::model::{ConflictView, RequestDetail};
use bianmin_domain::{
    Action, AttrValue, Clock, EventId, RequestOp, RequestScope, ServiceItem, Status, Timestamp,
    authorize_request, mask_personal_numbers,
};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::{self, Fields, SignedForm};
use super::session::Signed;
use super::{
    Acted, Names, OrPage, PageError, blocking, console_page, labels, parse_id, received_by_entry,
    store_action,
};
use crate::AppState;
use crate::engine::{RequestPage, console_identity};
use crate::error::AppError;
use crate::reference::Current;
use crate::storage::{AuditEntry, RevealRecord, UserRecord};
use crate::web::i18n::{Lang, PageLang, tr};

/// What the page needs besides the request: names for the users and devices it mentions.
struct Loaded {
    page: RequestPage,
    reference: Arc<Current>,
    names: Names,
    /// The audit entry of the change that carried each event and comment.
    received: HashMap<Uuid, AuditEntry>,
    /// The attachments (by SHA-256) whose bytes the hub holds complete.
    held: std::collections::HashSet<String>,
    /// Who was shown which masked value in full, oldest first.
    reveals: Vec<RevealRecord>,
}

fn load(state: &AppState, user: &UserRecord, id: Uuid) -> Result<Loaded, AppError> {
    let reference = state.engine.reference()?;
    let page = state.engine.console_request(user, id)?;
    let reveals = state.storage.reveals(id)?;
    let d = &page.detail;
    let user_ids = std::iter::once(d.created.user.as_str())
        .chain(d.history.iter().map(|h| h.by.user.as_str()))
        .chain(d.comments.iter().map(|c| c.by.user.as_str()))
        .chain(d.edits.iter().map(|e| e.by.user.as_str()))
        .chain(page.audit.iter().map(|a| a.user_id.as_str()))
        .chain(reveals.iter().map(|r| r.user_id.as_str()));
    let names = Names::load(state.storage.as_ref(), user_ids)?;
    let received = received_by_entry(state.storage.as_ref(), id, &page.audit)?;
    let mut held = std::collections::HashSet::new();
    if let Some(blobs) = &state.blobs {
        for a in &page.detail.attachments {
            if blobs.is_complete(&a.sha256).unwrap_or(false) {
                held.insert(a.sha256.clone());
            }
        }
    }
    Ok(Loaded {
        page,
        reference,
        names,
        received,
        held,
        reveals,
    })
}

/// A form drawn again after the rules refused it: which, why, and what was typed.
struct Typed {
    form: String,
    error: String,
    fields: Fields,
}

impl Typed {
    fn value(&self, form: &str, field: &str) -> String {
        if self.form == form {
            self.fields.text(field)
        } else {
            String::new()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    done: Option<String>,
}

/// `GET /console/requests/{id}`.
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
        None,
    ))
}

/// `GET /console/requests/{id}/attachments/{sha256}`: an attachment's bytes, if the request is
/// in the user's area and refers to them, shown inline with their media type (never sniffed,
/// never cached).
pub(crate) async fn attachment(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
    Path((id, sha256)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let not_found = || AppError::new(StatusCode::NOT_FOUND, "not_found", "");
    let id = parse_id(&id).ok_or_else(|| PageError::not_found(&lang))?;
    let user = signed.user.clone();
    let found = blocking(move || {
        let page = state.engine.console_request(&user, id)?;
        let media_type = page
            .detail
            .attachments
            .iter()
            .find(|a| a.sha256 == sha256)
            .map(|a| a.media_type)
            .ok_or_else(not_found)?;
        let blob = match &state.blobs {
            Some(blobs) => blobs.open(&sha256).map_err(AppError::internal)?,
            None => None,
        };
        Ok((blob.ok_or_else(not_found)?, media_type))
    })
    .await
    .or_page(&lang)?;
    let (blob, media_type) = found;
    let mut res = crate::blob_api::serve_blob(blob, media_type.as_str(), None);
    res.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("inline"),
    );
    Ok(res)
}

/// `GET /console/requests/{id}/{action}` (a reload or language switch after a refused form)
/// and `GET /console/requests/{id}/reveal` (a reload after a reveal, which shows nothing more):
/// back to the request's page.
pub(crate) async fn back_to_page(
    lang: PageLang,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let id = params
        .get("id")
        .and_then(|id| parse_id(id))
        .ok_or_else(|| PageError::not_found(&lang))?;
    Ok(Redirect::to(&format!(
        "/console/requests/{id}?lang={}",
        if lang.lang == Lang::En { "en" } else { "zh" }
    ))
    .into_response())
}

/// The action a posted form asks for, or why it cannot be sent as it is.
fn build(l: Lang, action: &str, f: &Fields) -> Option<Result<Authoring, String>> {
    let required = |name: &str, zh: &'static str, en: &'static str| {
        let v = f.text(name);
        if v.trim().is_empty() {
            Err(tr(l, zh, en).to_string())
        } else {
            Ok(v.trim().to_string())
        }
    };
    // A decision cannot be taken back: it is sent only with its confirmation ticked.
    let confirmed = |zh: &'static str, en: &'static str| match f.get("confirm") {
        Some("yes") => Ok(()),
        _ => Err(tr(l, zh, en).to_string()),
    };
    Some(match action {
        "approve" => confirmed(
            "请先勾选确认：审核通过后不能撤销。",
            "Tick the confirmation first: an approval cannot be taken back.",
        )
        .map(|()| {
            Authoring::RequestEvent(Action::Approve {
                note: f.text("note").trim().to_string(),
            })
        }),
        "reject" => required(
            "reason",
            "不予批准必须写明理由。",
            "A rejection needs a reason.",
        )
        .and_then(|reason| {
            confirmed(
                "请先勾选确认：不予批准后不能撤销。",
                "Tick the confirmation first: a rejection cannot be taken back.",
            )
            .map(|()| Authoring::RequestEvent(Action::Reject { reason }))
        }),
        "return" => {
            let missing = f.all("missing");
            if missing.is_empty() {
                Err(tr(
                    l,
                    "请勾选所有缺少的材料（一次性告知）。",
                    "Tick every missing material (all at once).",
                )
                .to_string())
            } else {
                required(
                    "note",
                    "退回补正必须写明原因，告诉申请人要怎样补正。",
                    "A return needs a reason: tell the applicant what to hand in and how.",
                )
                .map(|note| Authoring::RequestEvent(Action::ReturnForSupplement { missing, note }))
            }
        }
        "waive" => match required(
            "material",
            "请选择免交的材料。",
            "Choose the material to waive.",
        ) {
            Err(e) => Err(e),
            Ok(material) => required(
                "reason",
                "容缺受理必须写明理由。",
                "Waiving a material needs a reason.",
            )
            .map(|reason| Authoring::RequestEvent(Action::WaiveMaterial { material, reason })),
        },
        "settle" => {
            let keep = f.get("keep").and_then(|k| Uuid::parse_str(k).ok());
            match keep {
                None => {
                    Err(tr(l, "请选择要保留的一方。", "Choose the branch to keep.").to_string())
                }
                Some(keep) => required(
                    "note",
                    "处理冲突必须写明理由。",
                    "Settling a conflict needs a reason.",
                )
                .map(|note| {
                    Authoring::RequestEvent(Action::Settle {
                        keep: EventId(keep),
                        note,
                    })
                }),
            }
        }
        "comment" => required("text", "请填写意见内容。", "Write the comment.")
            .map(Authoring::RequestComment),
        _ => return None,
    })
}

fn done_message(l: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "approve" => tr(
            l,
            "已审核通过。村里的平板下次同步时会收到。",
            "Approved. The village tablet receives it on its next sync.",
        ),
        "reject" => tr(
            l,
            "已不予批准。村里的平板下次同步时会收到。",
            "Rejected. The village tablet receives it on its next sync.",
        ),
        "return" => tr(
            l,
            "已退回补正，缺少的材料已一次性告知。村里的平板下次同步时会收到。",
            "Returned for supplement with every missing material listed. The village tablet receives it on its next sync.",
        ),
        "waive" => tr(
            l,
            "已记录容缺及理由。",
            "The material is waived; the reason is on the record.",
        ),
        "settle" => tr(l, "冲突已处理。", "The conflict is settled."),
        "comment" => tr(l, "意见已添加。", "Comment added."),
        _ => return None,
    })
}

/// `POST /console/requests/{id}/{action}`: approve, reject, return, waive, settle or comment.
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
    let approving = action == "approve";
    let visible = move |e: &crate::engine::Engine, u: &UserRecord| {
        let page = e.console_request(u, id)?;
        match approving {
            true => materials_in_hand(l, &page.detail, e.reference()?.as_ref()),
            false => Ok(()),
        }
    };
    let done = format!("/console/requests/{id}?done={action}");
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
    Ok(render(
        lang,
        status,
        &signed,
        &loaded,
        None,
        Some(&typed),
        None,
    ))
}

/// Refuses an approval while materials are neither in hand nor waived, naming them, in the
/// reviewer's language (the document layer refuses it too, whatever the form: this is the
/// same rule's answer, [`bianmin_domain::outstanding_materials`], read from the request).
fn materials_in_hand(l: Lang, d: &RequestDetail, reference: &Current) -> Result<(), AppError> {
    if d.outstanding_materials.is_empty() {
        return Ok(());
    }
    let missing = reference
        .material_labels(&d.item_code, &d.outstanding_materials, l == Lang::Zh)
        .join(tr(l, "、", ", "));
    Err(AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "materials_outstanding",
        match l {
            Lang::Zh => {
                format!("尚有材料未收，不能审核通过：{missing}。请先收齐，或写明理由容缺。")
            }
            Lang::En => format!(
                "Materials still outstanding, so it cannot be approved: {missing}. Receive them \
                 first, or waive each with a reason."
            ),
        },
    ))
}

/// When the hub received an entry (server time), or a dash while its change is not on disk.
pub(super) fn received(l: Lang, entry: Option<&AuditEntry>) -> Markup {
    html! {
        @match entry {
            Some(a) => { (labels::time(Timestamp(a.received_at))) }
            None => { span.small title=(tr(l, "尚未写入", "not stored yet")) { "—" } }
        }
    }
}

/// A size for people: bytes, KB or MB.
fn size_label(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{} KB", n.div_ceil(1024))
    } else {
        format!("{n} B")
    }
}

fn attr_value(v: &AttrValue) -> String {
    match v {
        AttrValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        AttrValue::Number(n) => n.to_string(),
        AttrValue::Text(s) => s.clone(),
    }
}

fn clock(l: Lang, c: &Clock, urgency: bianmin_domain::Urgency) -> Markup {
    let mark = labels::urgency(l, urgency);
    html! {
        @match c {
            Clock::NotStarted => { (tr(l, "未开始计时（尚未受理）", "Not started (not accepted yet)")) }
            Clock::Running { due } => {
                span class=[mark.map(|m| m.1)] {
                    (tr(l, "办理期限：", "Due: ")) (due.format("%Y-%m-%d"))
                    @if let Some((label, _)) = mark { " · " (label) }
                }
            }
            Clock::Paused { remaining, since } => {
                (tr(l, "补正期间停止计时，自 ", "Paused for supplement since ")) (since.format("%Y-%m-%d"))
                (tr(l, "；剩余 ", "; working days left: ")) (remaining) (tr(l, " 个工作日", ""))
            }
            Clock::Stopped { due, ended_on } => {
                (tr(l, "已结束于 ", "Ended on ")) (ended_on.format("%Y-%m-%d"))
                (tr(l, "（期限 ", " (due ")) (due.format("%Y-%m-%d")) (tr(l, "，", ", "))
                @if ended_on <= due { (tr(l, "按时", "on time")) } @else { span.overdue { (tr(l, "超期", "late")) } }
                (tr(l, "）", ")"))
            }
        }
    }
}

/// Whether the user may append `action` to the request now.
fn may(user: &UserRecord, d: &RequestDetail, op: RequestOp<'_>) -> bool {
    let scope = RequestScope {
        village: &d.village,
        resident_user: d.resident_user.as_deref(),
    };
    authorize_request(&console_identity(user), scope, op).is_ok()
}

fn error_for(typed: Option<&Typed>, form: &str) -> Markup {
    html! {
        @if let Some(t) = typed.filter(|t| t.form == form) {
            p.error role="alert" id={ "error-" (form) } { (t.error) }
        }
    }
}

/// What the parts of a request's page read.
#[derive(Clone, Copy)]
struct View<'a> {
    l: Lang,
    loaded: &'a Loaded,
    d: &'a RequestDetail,
    /// The request's service item in the loaded catalog.
    item: Option<&'a ServiceItem>,
    /// The materials the item asks for.
    materials: &'a [String],
    /// The session's CSRF token, for the forms.
    token: &'a str,
    /// The form refused last, drawn again.
    typed: Option<&'a Typed>,
    /// The masked value this response shows in full (the answer to a reveal).
    revealed: Option<&'a reveal::Field>,
}

impl View<'_> {
    /// How material `m` reads on the page: its Chinese name on a Chinese page when the
    /// catalog gives one.
    fn material<'s>(&'s self, m: &'s str) -> &'s str {
        self.item
            .map_or(m, |i| i.material_label(m, self.l == Lang::Zh))
    }

    /// Materials as the page names them, in a list.
    fn materials(&self, ms: &[String]) -> String {
        ms.iter()
            .map(|m| self.material(m))
            .collect::<Vec<_>>()
            .join(tr(self.l, "、", ", "))
    }

    /// How a field of the request reads on the page, as an edit, a concurrent edit or a
    /// reveal names it (`phone`, `applicant.id_number`, `attributes.bank_account`,
    /// `materials.ID card`, `comments.<id>`, `history.<id>`): by its label in the page's
    /// language, never the stored key (English words on a Chinese page); a key the page does
    /// not know shows as it is.
    fn field(&self, field: &str) -> String {
        let l = self.l;
        let zh = l == Lang::Zh;
        let (group, key) = field.split_once('.').unwrap_or(("applicant", field));
        match (group, key) {
            ("applicant", "name") => tr(l, "申请人姓名", "Applicant's name").into(),
            ("applicant", "id_number") => tr(l, "身份证号", "ID number").into(),
            ("applicant", "phone") => tr(l, "电话", "Phone").into(),
            ("applicant", "grid") => tr(l, "村民小组（网格）", "Villager group (grid)").into(),
            ("attributes", code) => self
                .item
                .and_then(|i| i.attribute(code))
                .map_or(code, |a| a.label(zh))
                .to_string(),
            ("materials", m) => format!("{}{}", tr(l, "材料：", "Material: "), self.material(m)),
            ("comments", _) => tr(l, "意见", "Comment").into(),
            ("history", _) => tr(l, "办理记录中的说明", "Reason or note in the history").into(),
            _ => field.to_string(),
        }
    }

    /// What was typed into `field` of the refused form `form` (empty for the other forms).
    fn typed_value(&self, form: &str, field: &str) -> String {
        self.typed.map(|t| t.value(form, field)).unwrap_or_default()
    }
}

/// What the signed-in user may do to the request now.
struct Allowed {
    decide: bool,
    can_return: bool,
    can_settle: bool,
    can_comment: bool,
}

fn allowed(user: &UserRecord, d: &RequestDetail) -> Allowed {
    let decide = d.status == Status::Forwarded
        && d.conflict.is_none()
        && may(
            user,
            d,
            RequestOp::Append(
                &Action::Approve {
                    note: String::new(),
                },
                d.status,
            ),
        );
    let can_return = d.status == Status::Forwarded
        && d.conflict.is_none()
        && may(
            user,
            d,
            RequestOp::Append(
                &Action::ReturnForSupplement {
                    missing: vec![],
                    note: String::new(),
                },
                d.status,
            ),
        );
    let can_settle = d.conflict.is_some()
        && may(
            user,
            d,
            RequestOp::Append(
                &Action::Settle {
                    keep: EventId(Uuid::nil()),
                    note: String::new(),
                },
                d.status,
            ),
        );
    let can_comment = may(user, d, RequestOp::Comment);
    Allowed {
        decide,
        can_return,
        can_settle,
        can_comment,
    }
}

fn render(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    loaded: &Loaded,
    done: Option<&str>,
    typed: Option<&Typed>,
    revealed: Option<&reveal::Field>,
) -> Response {
    let l = lang.lang;
    let d = &loaded.page.detail;
    let item = loaded.reference.data.catalog.item(&d.item_code);
    let materials: Vec<String> = item.map(|i| i.materials.clone()).unwrap_or_default();
    let view = View {
        l,
        loaded,
        d,
        item,
        materials: &materials,
        token: &signed.csrf,
        typed,
        revealed,
    };
    let allowed = allowed(&signed.user, d);
    let body = html! {
        (page_notices(l, done, typed))
        div.cols {
            (request_card(view))
            (applicant_card(view))
            (materials_card(view))
        }

        (print_section(l, d))

        @if let Some(conflict) = &d.conflict {
            (conflict_section(view, conflict, allowed.can_settle))
        }

        @if allowed.decide || allowed.can_return {
            (decide_section(view, allowed.decide, allowed.can_return))
        }

        (history_section(view))

        (comments_section(view, allowed.can_comment))

        @if !d.edits.is_empty() {
            (edits_section(view))
        }

        (audit_section(view))
    };
    let title = format!("{} {}", tr(l, "办件", "Request"), d.receipt_no.as_str());
    console_page(lang, status, signed, &title, body)
}

/// The link back to the queue, and how the last action ended (done, or refused and why).
fn page_notices(l: Lang, done: Option<&str>, typed: Option<&Typed>) -> Markup {
    html! {
        p { a href="/console/requests" { (tr(l, "← 返回待办", "← Back to the queue")) } }
        @if let Some(msg) = done.and_then(|x| done_message(l, x)) {
            p.notice role="status" { (msg) }
        }
        @if let Some(t) = typed {
            p.error role="alert" { (t.error) }
        }
    }
}

/// Links to the request's printable notices as it stands (受理回执, 补正告知书, 决定书):
/// [`super::print`].
fn print_section(l: Lang, d: &RequestDetail) -> Markup {
    let links = super::print::links(l, d);
    html! {
        @if !links.is_empty() {
            section.card.print {
                h2 { (tr(l, "打印", "Print")) }
                p {
                    @for (i, (href, label)) in links.iter().enumerate() {
                        @if i > 0 { " · " }
                        a href=(href) { (label) }
                    }
                }
            }
        }
    }
}

/// The request: receipt number, service item, village, status, deadline, who filed it.
fn request_card(view: View<'_>) -> Markup {
    let View { l, d, loaded, .. } = view;
    let r = &loaded.reference;
    html! {
        section.card {
            h2 { (tr(l, "办件", "Request")) }
            dl {
                dt { (tr(l, "受理回执号", "Receipt no.")) } dd { (d.receipt_no.as_str()) }
                dt { (tr(l, "服务事项", "Service item")) } dd { (r.item_name(l, &d.item_code)) " (" (d.item_code) ")" }
                dt { (tr(l, "村（社区）", "Village")) } dd { (r.village_name(l, &d.village)) " · " (mask_personal_numbers(&d.grid)) }
                dt { (tr(l, "状态", "Status")) } dd {
                    strong { (labels::status(l, d.status)) }
                    @if d.conflict.is_some() { " " strong.overdue { (tr(l, "⚠ 冲突待处理", "⚠ In conflict")) } }
                }
                dt { (tr(l, "承诺时限", "Deadline")) } dd { (clock(l, &d.clock, d.urgency)) }
                dt { (tr(l, "提交", "Filed")) } dd {
                    (labels::time(d.created.at)) " · " (loaded.names.user(&d.created.user)) " · " (loaded.names.device(l, &d.created.device))
                }
                @if let Some(rating) = d.rating {
                    dt { (tr(l, "评价", "Rating")) } dd {
                        (labels::rating(l, rating))
                        @if d.follow_up { " · " strong.overdue { (tr(l, "需回访", "Follow-up needed")) } }
                    }
                }
            }
        }
    }
}

/// The applicant (ID number and phone masked) and the form's values (sensitive ones hidden,
/// personal numbers in the others starred), each revealable.
fn applicant_card(view: View<'_>) -> Markup {
    let View { l, d, item, .. } = view;
    let (id_number, phone) = (&d.applicant.id_number, &d.applicant.phone);
    html! {
        section.card {
            h2 { (tr(l, "申请人", "Applicant")) }
            dl {
                dt { (tr(l, "姓名", "Name")) } dd { (d.applicant.name) }
                dt { (tr(l, "身份证号", "ID number")) }
                dd { (reveal::value(view, reveal::Field::IdNumber, id_number, labels::masked_id(id_number))) }
                dt { (tr(l, "电话", "Phone")) }
                dd { (reveal::value(view, reveal::Field::Phone, phone, labels::masked_phone(phone))) }
            }
            h2 { (tr(l, "申请信息", "Attributes")) }
            @if d.attributes.is_empty() { p { "—" } }
            @else {
                dl {
                    @for (code, value) in &d.attributes {
                        @let spec = item.and_then(|i| i.attribute(code));
                        @let zh = l == Lang::Zh;
                        @let raw = attr_value(value);
                        dt { (spec.map_or(code.as_str(), |a| a.label(zh))) }
                        dd { (attribute(view, code, spec.map_or(raw.as_str(), |a| a.value_label(&raw, zh)))) }
                    }
                }
            }
        }
    }
}

/// An attribute's value: hidden whole if the catalog marks it sensitive, otherwise with
/// personal numbers starred.
fn attribute(view: View<'_>, code: &str, raw: &str) -> Markup {
    let field = reveal::Field::Attribute(code.to_string());
    if reveal::sensitive(view.item, code) {
        reveal::value(view, field, raw, reveal::hidden(raw))
    } else {
        reveal::text(view, field, raw)
    }
}

/// The materials received and missing, the attachments, what was asked for.
fn materials_card(view: View<'_>) -> Markup {
    let View {
        l,
        d,
        loaded,
        materials,
        ..
    } = view;
    let id = d.id;
    let extra_received: Vec<&String> = d
        .materials_received
        .iter()
        .filter(|m| !materials.contains(m))
        .collect();
    html! {
        section.card {
            h2 { (tr(l, "材料", "Materials")) }
            ul.materials {
                @for m in materials {
                    @let name = view.material(m);
                    @if d.materials_received.contains(m) {
                        li { "✓ " (name) " — " (tr(l, "已收", "received")) }
                    } @else if let Some((_, reason)) = d.waived_materials.iter().find(|(w, _)| w == m) {
                        li { "○ " (name) " — " (tr(l, "容缺：", "waived: ")) (mask_personal_numbers(reason)) }
                    } @else if d.outstanding_materials.contains(m) {
                        li.overdue { "✗ " (name) " — " (tr(l, "未收", "missing")) }
                    } @else {
                        li { "✓ " (name) " — " (tr(l, "已补交", "handed in at a supplement")) }
                    }
                }
                @for m in &extra_received { li { "✓ " (view.material(m)) } }
            }
            h3 { (tr(l, "附件", "Attachments")) }
            @if d.attachments.is_empty() { p.small { (tr(l, "无附件。", "No attachments.")) } }
            @else {
                ul.attachments {
                    @for a in &d.attachments {
                        li {
                            @if loaded.held.contains(&a.sha256) {
                                a href={ "/console/requests/" (id) "/attachments/" (a.sha256) } target="_blank" rel="noopener" { (view.material(&a.material)) }
                            } @else {
                                (view.material(&a.material))
                            }
                            " · " (a.media_type.as_str()) " · " (size_label(a.size))
                            " · "
                            @if loaded.held.contains(&a.sha256) {
                                (tr(l, "已上传", "on the hub"))
                            } @else {
                                span.small { (tr(l, "尚未上传到乡镇", "not uploaded to the hub yet")) }
                            }
                        }
                    }
                }
            }
            @if !d.missing_materials.is_empty() {
                p { strong { (tr(l, "已告知补正：", "Asked for: ")) } (view.materials(&d.missing_materials)) }
            }
            @if !d.field_conflicts.is_empty() {
                p.error { (tr(l, "以下字段在两台设备上同时修改，已保留其中一个值，请核对：", "Edited on two devices at once (one value was kept, check it): ")) (d.field_conflicts.iter().map(|f| view.field(f)).collect::<Vec<_>>().join(tr(l, "、", ", "))) }
            }
        }
    }
}

/// The form that waives an outstanding material (容缺受理) with a reason.
fn waive_form(view: View<'_>) -> Markup {
    let View {
        l, d, token, typed, ..
    } = view;
    let chosen = view.typed_value("waive", "material");
    html! {
        form.card method="post" action={ "/console/requests/" (d.id) "/waive" } {
            (csrf::field(token))
            h3 { (tr(l, "容缺受理", "Waive a material")) }
            label for="waive-material" { (tr(l, "材料", "Material")) }
            select #waive-material name="material" {
                @for m in &d.outstanding_materials {
                    option value=(m) selected[*m == chosen] { (view.material(m)) }
                }
            }
            label for="waive-reason" { (tr(l, "理由（必填）", "Reason (required)")) }
            textarea #waive-reason name="reason" rows="2" required { (view.typed_value("waive", "reason")) }
            (error_for(typed, "waive"))
            p { button.secondary type="submit" { (tr(l, "容缺", "Waive")) } }
        }
    }
}

/// A conflict, side by side, and the form that settles it.
fn conflict_section(view: View<'_>, conflict: &ConflictView, can_settle: bool) -> Markup {
    let View {
        l,
        d,
        loaded,
        token,
        typed,
        ..
    } = view;
    let id = d.id;
    let kept: Option<String> = typed
        .filter(|t| t.form == "settle")
        .and_then(|t| t.fields.get("keep").map(str::to_string));
    let history_by_id: HashMap<EventId, usize> = d
        .history
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id, i))
        .collect();
    html! {
        section.card.conflict {
            h2 { (tr(l, "冲突：离线时作出了不同的决定", "Conflict: different decisions were made offline")) }
            p { (tr(l, "下面并排列出各方的决定，请选择保留哪一方并写明理由。", "Each side's decision is shown below; choose the one to keep and give the reason.")) }
            div.cols {
                @for (tip, leads_to) in &conflict.branches {
                    div.card {
                        h3 { (tr(l, "结果：", "Leads to: ")) (labels::status(l, *leads_to)) }
                        @if let Some(h) = history_by_id.get(tip).map(|&i| &d.history[i]) {
                            p { strong { (labels::action(l, &h.action)) } " " (mask_personal_numbers(&labels::action_detail(l, &h.action, view.item))) }
                            p { (loaded.names.user(&h.by.user)) " (" (labels::role(l, h.by.role)) ") · " (loaded.names.device(l, &h.by.device)) }
                            p { (tr(l, "设备时间：", "Device time: ")) (labels::time(h.by.at)) }
                        }
                        p.small { (tr(l, "事件 ", "Event ")) code { (labels::short_id(&tip.to_string())) } }
                    }
                }
            }
            @if can_settle {
                form.card method="post" action={ "/console/requests/" (id) "/settle" } {
                    (csrf::field(token))
                    fieldset {
                        legend { (tr(l, "保留哪一方", "Keep which decision")) }
                        @for (tip, leads_to) in &conflict.branches {
                            @let tip_s = tip.to_string();
                            div {
                                input type="radio" name="keep" id={ "keep-" (tip_s) } value=(tip_s)
                                    checked[kept.as_deref() == Some(tip_s.as_str())] required;
                                label.inline for={ "keep-" (tip_s) } {
                                    (labels::status(l, *leads_to)) " (" (labels::short_id(&tip_s)) ")"
                                }
                            }
                        }
                    }
                    label for="settle-note" { (tr(l, "理由（必填）", "Reason (required)")) }
                    textarea #settle-note name="note" rows="3" required { (view.typed_value("settle", "note")) }
                    (error_for(typed, "settle"))
                    p { button type="submit" { (tr(l, "处理冲突", "Settle")) } }
                }
            }
        }
    }
}

/// The decision forms: approve and reject, return for supplement.
fn decide_section(view: View<'_>, decide: bool, can_return: bool) -> Markup {
    let View {
        l,
        d,
        materials,
        token,
        typed,
        ..
    } = view;
    let id = d.id;
    let not_received: Vec<&String> = materials
        .iter()
        .filter(|m| !d.materials_received.contains(*m))
        .collect();
    let ticked: Option<Vec<String>> = typed
        .filter(|t| t.form == "return")
        .map(|t| t.fields.all("missing"));
    html! {
        section.actions {
            h2 { (tr(l, "审核", "Decide")) }
            div.cols {
                @if decide {
                    @let outstanding = !d.outstanding_materials.is_empty();
                    form.card.approve method="post" action={ "/console/requests/" (id) "/approve" } {
                        (csrf::field(token))
                        h3 { (tr(l, "审核通过", "Approve")) }
                        @if outstanding {
                            p.error #outstanding {
                                (tr(l, "尚有材料未收，不能审核通过：", "Materials still outstanding, so it cannot be approved: "))
                                (view.materials(&d.outstanding_materials))
                                (tr(l, "。请先收齐，或写明理由容缺。", ". Receive them first, or waive each with a reason."))
                            }
                        }
                        label for="approve-note" { (tr(l, "备注（可不填）", "Note (optional)")) }
                        textarea #approve-note name="note" rows="2" { (view.typed_value("approve", "note")) }
                        (confirm_box("approve", tr(l, "我已核对材料，确认审核通过（通过后不能撤销）", "I have checked the materials: approve (this cannot be taken back)")))
                        (error_for(typed, "approve"))
                        p { button.approve type="submit" disabled[outstanding] { (tr(l, "确认审核通过", "Approve the request")) } }
                    }
                    form.card.reject method="post" action={ "/console/requests/" (id) "/reject" } {
                        (csrf::field(token))
                        h3 { (tr(l, "不予批准", "Reject")) }
                        label for="reject-reason" { (tr(l, "理由（必填，申请人会看到）", "Reason (required; the applicant reads it)")) }
                        textarea #reject-reason name="reason" rows="3" required { (view.typed_value("reject", "reason")) }
                        (confirm_box("reject", tr(l, "确认不予批准（不能撤销）", "Reject the request (this cannot be taken back)")))
                        (error_for(typed, "reject"))
                        p { button.reject type="submit" { (tr(l, "确认不予批准", "Reject the request")) } }
                    }
                }
                @if decide && !d.outstanding_materials.is_empty() {
                    (waive_form(view))
                }
                @if can_return {
                    form.card method="post" action={ "/console/requests/" (id) "/return" } {
                        (csrf::field(token))
                        h3 { (tr(l, "退回补正", "Return for supplement")) }
                        fieldset {
                            legend { (tr(l, "一次性告知所有缺少的材料", "Every missing material, all at once")) }
                            @for (i, m) in materials.iter().enumerate() {
                                @let checked = match &ticked {
                                    Some(t) => t.contains(m),
                                    None => not_received.contains(&m),
                                };
                                div {
                                    input type="checkbox" name="missing" id={ "missing-" (i) } value=(m) checked[checked];
                                    label.inline for={ "missing-" (i) } { " " (view.material(m)) }
                                }
                            }
                        }
                        label for="return-note" { (tr(l, "退回原因和补正要求（必填，申请人会看到）", "Why, and what to hand in (required; the applicant reads it)")) }
                        textarea #return-note name="note" rows="2" required { (view.typed_value("return", "note")) }
                        (error_for(typed, "return"))
                        p { button.secondary.return type="submit" { (tr(l, "退回补正", "Return for supplement")) } }
                    }
                }
            }
        }
    }
}

/// The tick a decision needs before it is sent (checked again on the hub: [`build`]).
fn confirm_box(form: &str, words: &str) -> Markup {
    html! {
        div.confirm {
            input type="checkbox" name="confirm" value="yes" id={ (form) "-confirm" } required;
            label.inline for={ (form) "-confirm" } { " " (words) }
        }
    }
}

/// Every event: who, the role, the device, the device's time, when the hub received it.
fn history_section(view: View<'_>) -> Markup {
    let View { l, d, loaded, .. } = view;
    html! {
        section {
            h2 { (tr(l, "办理记录", "History")) }
            div.scroll {
                table.history {
                    thead { tr {
                        th { "#" }
                        th { (tr(l, "操作", "Action")) }
                        th { (tr(l, "内容", "Details")) }
                        th { (tr(l, "操作人", "Who")) }
                        th { (tr(l, "设备", "Device")) }
                        th { (tr(l, "设备时间", "Device time")) }
                        th { (tr(l, "平台接收（服务器时间）", "Received by the hub (server time)")) }
                    } }
                    tbody {
                        @for (i, h) in d.history.iter().enumerate() {
                            tr class=[h.invalid.as_ref().map(|_| "invalid")] {
                                td { (i + 1) }
                                td { (labels::action(l, &h.action)) }
                                td {
                                    (reveal::text(view, reveal::Field::Event(h.id.0), &labels::action_detail(l, &h.action, view.item)))
                                    @if let Some(why) = &h.invalid {
                                        br; em.overdue { (tr(l, "未生效：", "Not applied: ")) (why) }
                                    }
                                }
                                td { (loaded.names.user(&h.by.user)) " (" (labels::role(l, h.by.role)) ")" }
                                td { (loaded.names.device(l, &h.by.device)) }
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
fn comments_section(view: View<'_>, can_comment: bool) -> Markup {
    let View {
        l,
        d,
        loaded,
        token,
        typed,
        ..
    } = view;
    let id = d.id;
    html! {
        section {
            h2 { (tr(l, "意见", "Comments")) }
            @if d.comments.is_empty() { p { (tr(l, "暂无意见。", "No comments yet.")) } }
            @for c in &d.comments {
                div.card.comment {
                    p.small {
                        (loaded.names.user(&c.by.user)) " (" (labels::role(l, c.by.role)) ") · " (loaded.names.device(l, &c.by.device)) " · " (labels::time(c.by.at))
                        " · " (tr(l, "平台接收：", "received: ")) (received(l, loaded.received.get(&c.id)))
                    }
                    p { (reveal::text(view, reveal::Field::Comment(c.id), &c.text)) }
                }
            }
            @if can_comment {
                form.card method="post" action={ "/console/requests/" (id) "/comment" } {
                    (csrf::field(token))
                    label for="comment-text" { (tr(l, "添加意见", "Add a comment")) }
                    textarea #comment-text name="text" rows="3" required { (view.typed_value("comment", "text")) }
                    (error_for(typed, "comment"))
                    p { button type="submit" { (tr(l, "添加意见", "Comment")) } }
                }
            }
        }
    }
}

/// Who changed which field, on which device.
fn edits_section(view: View<'_>) -> Markup {
    let View { l, d, loaded, .. } = view;
    html! {
        section {
            h2 { (tr(l, "修改记录", "Field edits")) }
            div.scroll {
                table {
                    thead { tr {
                        th { (tr(l, "字段", "Field")) }
                        th { (tr(l, "修改人", "Who")) }
                        th { (tr(l, "设备", "Device")) }
                        th { (tr(l, "设备时间", "Device time")) }
                    } }
                    tbody {
                        @for e in &d.edits {
                            tr {
                                td { (view.field(&e.field)) }
                                td { (loaded.names.user(&e.by.user)) }
                                td { (loaded.names.device(l, &e.by.device)) }
                                td { (labels::time(e.by.at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What the hub received: each change with its device, user and time of receipt.
fn audit_section(view: View<'_>) -> Markup {
    let View { l, loaded, .. } = view;
    html! {
        section {
            h2 { (tr(l, "中心平台接收记录", "Received by the hub")) }
            p.small { (tr(l,
                "每一行是中心平台收到的一次修改（事件、意见或字段修改）：由哪台设备、哪位用户发送，平台何时收到（服务器时间）。办理记录中的设备时间是操作时设备上的时钟，平台接收时间是带来该事件的那次修改的接收时间。",
                "Each row is one change the hub received (events, comments or field edits): the device and user that sent it and when the hub received it (server time). In the history, the device time is the device's clock when the work was done; the hub's time is when the change carrying that event arrived.")) }
            div.scroll {
                table.audit {
                    thead { tr {
                        th { (tr(l, "序号", "Seq.")) }
                        th { (tr(l, "修改", "Change")) }
                        th { (tr(l, "设备", "Device")) }
                        th { (tr(l, "用户", "User")) }
                        th { (tr(l, "服务器接收时间", "Received (server time)")) }
                    } }
                    tbody {
                        @for a in &loaded.page.audit {
                            tr {
                                td { (a.seq) }
                                td { code { (labels::short_id(&a.hash)) } }
                                td { (loaded.names.device(l, &a.device_id)) }
                                td { (loaded.names.user(&a.user_id)) }
                                td { (labels::time(Timestamp(a.received_at))) }
                            }
                        }
                    }
                }
            }
            (reveal::reveals_section(view))
        }
    }
}
