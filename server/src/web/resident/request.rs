//! One of the resident's own requests (`/resident/requests/{id}`): its status, deadline, what
//! is missing and its history in plain words, with what the resident may do now: supplement a
//! returned request with photos of the missing materials, withdraw it (after a confirmation
//! page), rate it once it is finished (five levels).
//!
//! A request that is not the resident's gets the same 404 as one that does not exist: the
//! engine answers from the request's own resident ([`crate::engine::Engine::resident_request`]),
//! whatever id is typed into the address. Whether each form is shown is the domain's answer
//! (workflow and permission), and the engine asks the same check again when it is posted.

use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::labels;
use bianmin_domain::{Action, Rating, Role, mask_personal_numbers};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::home::{deadline, masked_id, missing, outcome};
use super::session::{ResidentForm, SignedResident};
use super::upload::{self, UploadError};
use super::uploads::{UnderWay, owner_tag};
use super::{HOME, file, refused_form, resident_page};
use crate::AppState;
use crate::engine::{ResidentAction, ResidentRequest};
use crate::reference::Current;
use crate::web::console::labels::time;
use crate::web::console::{OrPage, PageError, blocking, csrf};
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::public::lookup::status_label;

/// The ratings, best first, with the names their form values carry.
const RATINGS: [(Rating, &str); 5] = [
    (Rating::VerySatisfied, "very_satisfied"),
    (Rating::Satisfied, "satisfied"),
    (Rating::BasicallySatisfied, "basically_satisfied"),
    (Rating::Dissatisfied, "dissatisfied"),
    (Rating::VeryDissatisfied, "very_dissatisfied"),
];

/// The longest reason or comment a resident types here.
const TEXT_CHARS: usize = 500;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RequestQuery {
    /// What was just done (`filed`, `supplemented`, `withdrawn`, `rated`).
    done: Option<String>,
}

/// The address of request `id`'s page.
pub(crate) fn page_of(id: Uuid) -> String {
    format!("/resident/requests/{id}")
}

fn nav(l: Lang) -> Vec<(&'static str, String)> {
    vec![
        (tr(l, "我的办件", "My requests"), HOME.to_string()),
        (
            tr(l, "办理新事项", "File a request"),
            file::ITEMS.to_string(),
        ),
    ]
}

/// The id in an address; anything else is "not found".
fn id_of(lang: &PageLang, raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::not_found(lang))
}

/// The request and the reference data, read off the async workers; 404 unless it is the
/// resident's own.
async fn load(
    state: &AppState,
    lang: &PageLang,
    signed: &SignedResident,
    id: Uuid,
) -> Result<(ResidentRequest, std::sync::Arc<Current>), PageError> {
    let (engine, user) = (state.engine.clone(), signed.user.clone());
    blocking(move || Ok((engine.resident_request(&user, id)?, engine.reference()?)))
        .await
        .or_page(lang)
}

/// Who did something, as the resident reads it.
fn who(l: Lang, user: &str, role: Role, me: &str) -> &'static str {
    match role {
        _ if user == me => tr(l, "您", "You"),
        Role::Resident => tr(l, "居民", "A resident"),
        Role::Clerk => tr(l, "村便民服务站", "The village service point"),
        Role::Reviewer => tr(l, "镇便民服务中心", "The township service center"),
        Role::Administrator => tr(l, "县管理员", "The county administrator"),
    }
}

/// What an event did, in plain words (reasons and notes with their numbers masked).
fn plain(l: Lang, reference: &Current, item_code: &str, a: &Action) -> String {
    let join = |v: &[String]| {
        reference
            .material_labels(item_code, v, l == Lang::Zh)
            .join(tr(l, "、", ", "))
    };
    let with = |words: &str, text: &str| {
        let text = mask_personal_numbers(text.trim());
        if text.is_empty() {
            words.to_string()
        } else {
            format!("{words}{}{text}", tr(l, "：", ": "))
        }
    };
    match a {
        Action::Submit => tr(l, "提交了申请", "filed the request").into(),
        Action::Accept => tr(l, "受理了申请", "accepted the request").into(),
        Action::RefuseToAccept { reason } => {
            with(tr(l, "不予受理", "refused to accept it"), reason)
        }
        Action::Complete => tr(l, "办结", "completed it").into(),
        Action::Forward => tr(l, "上报镇里审核", "forwarded it to the township").into(),
        Action::ReturnForSupplement { missing, note } => {
            let asked = format!(
                "{}{}",
                tr(l, "退回补正，需要补交：", "returned it for: "),
                join(missing)
            );
            with(&asked, note)
        }
        Action::Supplement { provided } => {
            format!("{}{}", tr(l, "补交了材料：", "handed in: "), join(provided))
        }
        Action::Approve { note } => with(tr(l, "审核通过", "approved it"), note),
        Action::Reject { reason } => with(tr(l, "不予批准", "rejected it"), reason),
        Action::Deliver => tr(l, "送达办理结果，办结", "delivered the result").into(),
        Action::Withdraw { reason } => with(tr(l, "撤回了申请", "withdrew the request"), reason),
        Action::Rate { rating, comment } => {
            let r = labels::rating(*rating);
            let words = format!("{}{}", tr(l, "评价：", "rated it: "), tr(l, r.zh, r.en));
            with(&words, comment)
        }
        Action::WaiveMaterial { material, reason } => with(
            &format!(
                "{}{material}",
                tr(l, "容缺受理，稍后补交：", "accepted for now without: ")
            ),
            reason,
        ),
        Action::Settle { note, .. } => with(tr(l, "核定了办理结果", "settled the outcome"), note),
    }
}

/// A short notice of what was just done.
fn done_notice(l: Lang, done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "filed" => tr(
            l,
            "申请已提交。村便民服务站的代办员同步后就会收到。请记下受理回执号。",
            "Your request is filed. The clerk at your village service point receives it at their next sync. Note the receipt number.",
        ),
        "supplemented" => tr(
            l,
            "材料已补交，申请继续办理。",
            "The materials are handed in; your request goes on.",
        ),
        "withdrawn" => tr(l, "申请已撤回。", "Your request is withdrawn."),
        "rated" => tr(l, "谢谢您的评价。", "Thank you for your rating."),
        "received" => tr(
            l,
            "这份表单之前已经收到，没有重复提交。",
            "This form had arrived already: nothing was sent twice.",
        ),
        _ => return None,
    })
}

/// The request's page.
fn render(
    lang: PageLang,
    status: StatusCode,
    signed: &SignedResident,
    reference: &Current,
    r: &ResidentRequest,
    notice: Option<&str>,
    errors: &[String],
) -> Response {
    let l = lang.lang;
    let d = &r.detail;
    let me = signed.user.id.as_str();
    let photos: Vec<(String, usize)> = {
        let mut counted: Vec<(String, usize)> = Vec::new();
        for a in &d.attachments {
            match counted.iter_mut().find(|(m, _)| *m == a.material) {
                Some((_, n)) => *n += 1,
                None => counted.push((a.material.clone(), 1)),
            }
        }
        counted
    };
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if !errors.is_empty() {
            div.error role="alert" {
                p { strong { (tr(l, "没有提交，请改正：", "Not done. Please correct:")) } }
                ul { @for e in errors { li { (e) } } }
            }
        }
        section.card.request {
            h2 { (reference.item_name(l, &d.item_code)) }
            @if d.self_filed() {
                p.tag { (tr(l, "自助办理（手机提交）", "Self-filed (on the phone)")) }
            }
            dl {
                dt { (tr(l, "受理回执号", "Receipt number")) } dd { strong { (d.receipt_no) } }
                dt { (tr(l, "申请人", "Applicant")) }
                dd { (bianmin_domain::mask_name(&d.applicant.name)) " · " (masked_id(&d.applicant.id_number)) }
                dt { (tr(l, "状态", "Status")) }
                dd.status { strong { (status_label(d.status, l)) } }
                dt { (tr(l, "办理时限", "Deadline")) } dd { (deadline(l, &d.clock, d.urgency)) }
                (missing(l, reference, d))
                (outcome(l, d))
                @if let Some(rating) = d.rating {
                    dt { (tr(l, "您的评价", "Your rating")) }
                    dd { (tr(l, labels::rating(rating).zh, labels::rating(rating).en)) }
                }
                @if !photos.is_empty() {
                    dt { (tr(l, "已上传的照片", "Photos sent")) }
                    dd {
                        @for (i, (m, n)) in photos.iter().enumerate() {
                            @if i > 0 { (tr(l, "、", ", ")) }
                            (reference.material_labels(&d.item_code, std::slice::from_ref(m), l == Lang::Zh).concat()) " ×" (n)
                        }
                    }
                }
            }
        }
        @if r.may_supplement {
            (supplement_form(l, signed, d.id, &format!("{}{}{}", tr(l, "补正 ", "Supplement "), reference.item_name(l, &d.item_code), format_args!(" · {}", d.receipt_no)), &d.missing_materials, &reference.material_labels(&d.item_code, &d.missing_materials, l == Lang::Zh)))
        }
        @if r.may_rate {
            (rate_form(l, signed, d.id))
        }
        section.card.history {
            h2 { (tr(l, "办理经过", "What happened")) }
            ol {
                // Filed at the service point: who registered it there (a resident's own filing
                // says so with its submission).
                @if d.created.user != me {
                    li { (time(d.created.at)) " · " (who(l, &d.created.user, d.created.role, me))
                         (tr(l, "登记了申请", " registered the request")) }
                }
                @for h in d.history.iter().filter(|h| h.invalid.is_none()) {
                    li { (time(h.by.at)) " · " (who(l, &h.by.user, h.by.role, me)) (tr(l, "", " ")) (plain(l, reference, &d.item_code, &h.action)) }
                }
            }
        }
        @if r.may_withdraw {
            p { a.button.secondary href={ (page_of(d.id)) "/withdraw" } { (tr(l, "撤回申请…", "Withdraw the request…")) } }
        }
    };
    resident_page(lang, status, tr(l, "办件详情", "Request"), &nav(l), body)
}

/// The supplement form: a camera input per material the return asked for (`title` names the
/// request in the phone's list of what it saved).
fn supplement_form(
    l: Lang,
    signed: &SignedResident,
    id: Uuid,
    title: &str,
    missing: &[String],
    labels: &[String],
) -> Markup {
    html! {
        form.card method="post" action={ (page_of(id)) "/supplement" } enctype="multipart/form-data"
            data-outbox="supplement" data-title=(title)
            data-owner=(hex::encode(owner_tag(&signed.user.id))) {
            (csrf::field(&signed.csrf))
            (upload::key_field(None))
            h2 { (tr(l, "补交材料", "Hand in the missing materials")) }
            p.small { (tr(l, "请为每一项材料拍一张清楚的照片。", "Take a clear photo of each material.")) }
            @for (i, m) in missing.iter().enumerate() {
                label for={ "photo-" (i) } { (labels.get(i).unwrap_or(m)) }
                input id={ "photo-" (i) } type="file" name={ "photo-" (i) } accept="image/*" capture="environment" required;
            }
            p { button type="submit" { (tr(l, "提交补正材料", "Hand them in")) } }
        }
    }
}

/// The rating form: five levels, and the resident's words if any.
fn rate_form(l: Lang, signed: &SignedResident, id: Uuid) -> Markup {
    html! {
        form.card method="post" action={ (page_of(id)) "/rate" } {
            (csrf::field(&signed.csrf))
            fieldset.ratings {
                legend { (tr(l, "请评价这次办理（好差评）", "How was the service?")) }
                @for (rating, value) in RATINGS {
                    label.choice {
                        input type="radio" name="rating" value=(value) required;
                        " " (tr(l, labels::rating(rating).zh, labels::rating(rating).en))
                    }
                }
            }
            label for="comment" { (tr(l, "意见或建议（可不填）", "Anything to add (optional)")) }
            textarea #comment name="comment" rows="3" maxlength=(TEXT_CHARS) {}
            p { button type="submit" { (tr(l, "提交评价", "Send the rating")) } }
        }
    }
}

/// `GET /resident/requests/{id}`.
pub(crate) async fn page(
    lang: PageLang,
    signed: SignedResident,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RequestQuery>,
) -> Result<Response, PageError> {
    let id = id_of(&lang, &id)?;
    let (r, reference) = load(&state, &lang, &signed, id).await?;
    let notice = done_notice(lang.lang, q.done.as_deref());
    Ok(render(
        lang,
        StatusCode::OK,
        &signed,
        &reference,
        &r,
        notice,
        &[],
    ))
}

/// Does `what` to request `id` and shows it with `done`; a refusal the page can name (422) is
/// shown on the request's page.
async fn act(
    lang: PageLang,
    state: &AppState,
    signed: &SignedResident,
    id: Uuid,
    what: ResidentAction,
    done: &str,
) -> Result<Response, PageError> {
    act_once(lang, state, signed, id, what, None, done).await
}

/// [`act`] for a form that carried a submission key and uploads (`sent`): written once per key
/// (a form sent again answers "received" and writes nothing), the uploads it used discarded
/// once it is stored.
async fn act_once(
    lang: PageLang,
    state: &AppState,
    signed: &SignedResident,
    id: Uuid,
    what: ResidentAction,
    sent: Option<(Option<String>, Vec<String>, UnderWay)>,
    done: &str,
) -> Result<Response, PageError> {
    let (engine, blobs, user) = (
        state.engine.clone(),
        state.blobs.clone(),
        signed.user.clone(),
    );
    let acted = blocking(move || {
        let key = sent.as_ref().and_then(|(key, _, _)| key.as_deref());
        let before = engine.resident_act_once(&user, id, &what, key, blobs.as_deref());
        if before.is_ok()
            && let (Some((_, used, under_way)), Some(blobs)) = (&sent, &blobs)
        {
            under_way.forget(blobs.as_ref(), &user.id, used);
        }
        before
    })
    .await;
    match acted {
        Ok(false) => Ok(Redirect::to(&format!("{}?done={done}", page_of(id))).into_response()),
        Ok(true) => Ok(Redirect::to(&format!("{}?done=received", page_of(id))).into_response()),
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            let message = format!("{}{}", tr(lang.lang, "未能完成：", "Not done: "), e.message);
            refused(lang, state, signed, id, vec![message]).await
        }
        Err(e) => Err(PageError::new(&lang, e)),
    }
}

/// Whether `signed`'s request `id` holds the supplement sent with the key `key` before.
async fn supplemented_before(
    state: &AppState,
    lang: &PageLang,
    signed: &SignedResident,
    id: Uuid,
    key: Option<&str>,
) -> Result<bool, PageError> {
    let Some(key) = key.map(str::to_string) else {
        return Ok(false);
    };
    let (engine, user) = (state.engine.clone(), signed.user.clone());
    blocking(move || engine.resident_supplemented(&user, id, &key))
        .await
        .or_page(lang)
}

/// The request's page again with `errors` (422).
async fn refused(
    lang: PageLang,
    state: &AppState,
    signed: &SignedResident,
    id: Uuid,
    errors: Vec<String>,
) -> Result<Response, PageError> {
    let (r, reference) = load(state, &lang, signed, id).await?;
    Ok(render(
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        signed,
        &reference,
        &r,
        None,
        &errors,
    ))
}

/// `POST /resident/requests/{id}/supplement` (multipart, with photos or the addresses of
/// photos sent in pieces); once per submission key.
pub(crate) async fn supplement(
    lang: PageLang,
    signed: SignedResident,
    State(state): State<AppState>,
    Extension(under_way): Extension<UnderWay>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let id = id_of(&lang, &id)?;
    let limit = state.limits.photo_body_bytes;
    let sent = match upload::read(req, &state, &signed, limit).await {
        Ok(sent) => sent,
        Err(UploadError::Forged) => return Ok(refused_form(lang)),
        Err(UploadError::TooLarge) => {
            let mut response = refused(
                lang,
                &state,
                &signed,
                id,
                vec![upload::too_large_message(l, limit)],
            )
            .await?;
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(response);
        }
        Err(UploadError::Malformed) => {
            let message = upload::malformed_message(l).to_string();
            let mut response = refused(lang, &state, &signed, id, vec![message]).await?;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    let key = upload::submission_key(&sent.fields);
    let received = || Redirect::to(&format!("{}?done=received", page_of(id))).into_response();
    // Sent before and written then: nothing more to do (its photos were used and discarded).
    if supplemented_before(&state, &lang, &signed, id, key.as_deref()).await? {
        return Ok(received());
    }
    let (r, reference) = load(&state, &lang, &signed, id).await?;
    if !r.may_supplement {
        let message = tr(
            l,
            "这件申请现在不需要补交材料。",
            "This request does not wait for materials now.",
        );
        return refused(lang, &state, &signed, id, vec![message.to_string()]).await;
    }
    let missing = r.detail.missing_materials.clone();
    let labels = reference.material_labels(&r.detail.item_code, &missing, l == Lang::Zh);
    let photos = match upload::photos_of(
        &state,
        l,
        &signed.user.id,
        sent.files,
        &sent.fields,
        &missing,
        &labels,
    )
    .await
    {
        Ok(photos) => photos,
        Err(e) => {
            if e.missing_upload
                && supplemented_before(&state, &lang, &signed, id, key.as_deref()).await?
            {
                return Ok(received());
            }
            let mut response = refused(lang, &state, &signed, id, e.errors).await?;
            if e.missing_upload {
                response
                    .headers_mut()
                    .insert(upload::MISSING_UPLOAD_HEADER, HeaderValue::from_static("1"));
            }
            return Ok(response);
        }
    };
    let without: Vec<&str> = missing
        .iter()
        .zip(&labels)
        .filter(|(m, _)| !photos.photos.iter().any(|p| p.material == **m))
        .map(|(_, label)| label.as_str())
        .collect();
    if !without.is_empty() {
        let names = without;
        let message = format!(
            "{}{}",
            tr(
                l,
                "请为每一项需要补交的材料拍照上传，还缺：",
                "Send a photo of every material asked for; still missing: "
            ),
            names.join(tr(l, "、", ", "))
        );
        return refused(lang, &state, &signed, id, vec![message]).await;
    }
    let sent = Some((key, photos.uploads, under_way));
    act_once(
        lang,
        &state,
        &signed,
        id,
        ResidentAction::Supplement {
            photos: photos.photos,
        },
        sent,
        "supplemented",
    )
    .await
}

/// `GET /resident/requests/{id}/withdraw`: the confirmation.
pub(crate) async fn withdraw_form(
    lang: PageLang,
    signed: SignedResident,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let id = id_of(&lang, &id)?;
    let (r, reference) = load(&state, &lang, &signed, id).await?;
    if !r.may_withdraw {
        return Ok(Redirect::to(&page_of(id)).into_response());
    }
    let d = &r.detail;
    let body = html! {
        form.card method="post" action={ (page_of(id)) "/withdraw" } {
            (csrf::field(&signed.csrf))
            p {
                (tr(l, "确定要撤回这件申请吗？", "Withdraw this request?")) br;
                strong { (reference.item_name(l, &d.item_code)) } " · " (d.receipt_no)
            }
            p.small {
                (tr(l, "撤回后不能恢复；如需再办，要重新提交。",
                    "A withdrawn request cannot be taken back; to apply again, file a new one."))
            }
            label for="reason" { (tr(l, "撤回原因（可不填）", "Why (optional)")) }
            textarea #reason name="reason" rows="3" maxlength=(TEXT_CHARS) {}
            input type="hidden" name="confirm" value="yes";
            p { button type="submit" { (tr(l, "确定撤回", "Withdraw it")) } }
        }
        p { a href=(page_of(id)) { (tr(l, "不撤回，返回", "Keep it and go back")) } }
    };
    Ok(resident_page(
        lang,
        StatusCode::OK,
        tr(l, "撤回申请", "Withdraw the request"),
        &nav(l),
        body,
    ))
}

/// A typed reason or comment, or the mistake.
fn typed_text(l: Lang, raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.chars().count() > TEXT_CHARS {
        return Err(match l {
            Lang::Zh => format!("最多 {TEXT_CHARS} 个字。"),
            Lang::En => format!("At most {TEXT_CHARS} characters."),
        });
    }
    Ok(text.to_string())
}

/// `POST /resident/requests/{id}/withdraw`.
pub(crate) async fn withdraw(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: ResidentForm,
) -> Result<Response, PageError> {
    let id = id_of(&lang, &id)?;
    if form.fields.get("confirm") != Some("yes") {
        return Ok(Redirect::to(&format!("{}/withdraw", page_of(id))).into_response());
    }
    let reason = match typed_text(lang.lang, form.fields.get("reason").unwrap_or_default()) {
        Ok(reason) => reason,
        Err(e) => return refused(lang, &state, &form.signed, id, vec![e]).await,
    };
    act(
        lang,
        &state,
        &form.signed,
        id,
        ResidentAction::Withdraw { reason },
        "withdrawn",
    )
    .await
}

/// `POST /resident/requests/{id}/rate`.
pub(crate) async fn rate(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: ResidentForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let id = id_of(&lang, &id)?;
    let chosen = form.fields.get("rating").unwrap_or_default();
    let Some((rating, _)) = RATINGS.iter().find(|(_, v)| *v == chosen) else {
        let message = tr(l, "请选择一个评价。", "Choose a rating.").to_string();
        return refused(lang, &state, &form.signed, id, vec![message]).await;
    };
    let comment = match typed_text(l, form.fields.get("comment").unwrap_or_default()) {
        Ok(comment) => comment,
        Err(e) => return refused(lang, &state, &form.signed, id, vec![e]).await,
    };
    act(
        lang,
        &state,
        &form.signed,
        id,
        ResidentAction::Rate {
            rating: *rating,
            comment,
        },
        "rated",
    )
    .await
}
