//! Filing a request from the phone: the service items, one item's form (its attributes and a
//! camera input per material), and its submission.
//!
//! The applicant is the signed-in resident: their account's name, their account as the
//! request's resident; nothing in the form can name anyone else (a field that tries is
//! ignored). The resident types their ID number, phone and grid and fills in the item's form;
//! each is checked with the domain's own rule first (`NationalId`, `Phone`, the village's
//! grids, `AttributeSpec::check`) so that every mistake is named at once, in the page's
//! language, and the engine then writes and checks the filing as a tablet's
//! ([`crate::engine::Engine::resident_file_once`]). A form with any mistake stores nothing: not
//! the request, not a photo.
//!
//! Every form carries a fresh submission key ([`upload::KEY_FIELD`]); the request's id is
//! derived from it, so a form sent again (a reload, a second tap, the pages' script sending
//! what the phone saved while offline after an answer was lost) files nothing new and answers
//! with the request filed the first time ("already received"). The pages' script also saves the
//! form on the phone when the link is down and sends it later (`data-outbox`, see
//! `assets/resident.js`).

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::{AttrValue, AttributeSpec, AttributeType, NationalId, Phone, ServiceItem};
use maud::{Markup, html};

use super::session::SignedResident;
use super::upload::{self, UploadError};
use super::uploads::{UnderWay, owner_tag};
use super::{HOME, refused_form, resident_page};
use crate::AppState;
use crate::engine::ResidentFiling;
use crate::reference::Current;
use crate::web::console::csrf::{self, Fields};
use crate::web::console::{OrPage, PageError, blocking};
use crate::web::i18n::{Lang, PageLang, tr};

/// The list of items.
pub(crate) const ITEMS: &str = "/resident/file";

/// What the resident typed, to show the form again after a mistake.
#[derive(Debug, Default)]
struct Typed {
    id_number: String,
    phone: String,
    grid: String,
    attributes: BTreeMap<String, String>,
    /// The form's submission key (kept: a form refused stored nothing, so sending it again
    /// corrected is still the one submission).
    key: Option<String>,
}

impl Typed {
    fn of(fields: &Fields) -> Typed {
        Typed {
            id_number: fields.text("id_number").trim().to_string(),
            phone: fields.text("phone").trim().to_string(),
            grid: fields.text("grid").trim().to_string(),
            attributes: fields
                .0
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("attr.")?.to_string(), v.clone())))
                .collect(),
            key: upload::submission_key(fields),
        }
    }
}

fn nav(l: Lang) -> Vec<(&'static str, String)> {
    vec![
        (tr(l, "我的办件", "My requests"), HOME.to_string()),
        (tr(l, "办理新事项", "File a request"), ITEMS.to_string()),
    ]
}

async fn reference(
    state: &AppState,
    lang: &PageLang,
) -> Result<std::sync::Arc<Current>, PageError> {
    let engine = state.engine.clone();
    blocking(move || engine.reference()).await.or_page(lang)
}

fn item_name(l: Lang, item: &ServiceItem) -> &str {
    match l {
        Lang::Zh => &item.name_zh,
        Lang::En => &item.name_en,
    }
}

/// `GET /resident/file`: the service items, each with what it needs.
pub(crate) async fn items(
    lang: PageLang,
    _signed: SignedResident,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let reference = reference(&state, &lang).await?;
    let body = html! {
        p {
            (tr(l, "请选择要办理的事项。提交后，村便民服务站的代办员会收到并与您联系；需要的材料可以直接拍照上传，原件请按要求带到服务站。",
                "Choose what to apply for. The clerk at your village service point receives it and gets in touch; photograph the materials here, and bring the originals when asked."))
        }
        ul.items {
            @for item in &reference.data.catalog.items {
                li.card {
                    a href={ (ITEMS) "/" (item.code) } { strong { (item_name(l, item)) } }
                    p.small {
                        (tr(l, "承诺时限：", "Time limit: "))
                        @if item.time_limit_days == 0 {
                            (tr(l, "即办", "on the spot"))
                        } @else {
                            (item.time_limit_days) (tr(l, " 个工作日", " working days"))
                        }
                        @if !item.materials.is_empty() {
                            br;
                            (tr(l, "所需材料：", "Materials: "))
                            (reference.material_labels(&item.code, &item.materials, l == Lang::Zh).join(tr(l, "、", ", ")))
                        }
                    }
                }
            }
        }
    };
    Ok(resident_page(
        lang,
        StatusCode::OK,
        tr(l, "办理新事项", "File a request"),
        &nav(l),
        body,
    ))
}

/// The page of an item that is not in the catalog: 404, with the way back to the list.
fn unknown_item(lang: PageLang, code: &str) -> Response {
    let l = lang.lang;
    let code: String = code.chars().take(40).collect();
    let body = html! {
        p.error role="alert" {
            (tr(l, "没有这个服务事项：", "There is no such service item: ")) (code)
            (tr(l, "。未保存任何内容。", ". Nothing was stored."))
        }
        p { a href=(ITEMS) { (tr(l, "查看可以办理的事项", "See the items you can apply for")) } }
    };
    resident_page(
        lang,
        StatusCode::NOT_FOUND,
        tr(l, "没有这个事项", "No such item"),
        &nav(l),
        body,
    )
}

/// One attribute's input.
fn attribute_input(l: Lang, spec: &AttributeSpec, value: &str) -> Markup {
    let name = format!("attr.{}", spec.code);
    let id = format!("attr-{}", spec.code);
    html! {
        @match spec.datatype {
            AttributeType::Text => {
                textarea id=(id) name=(name) rows="4" maxlength="5000" required[spec.required] { (value) }
            }
            AttributeType::Number => {
                input id=(id) type="text" inputmode="decimal" name=(name) value=(value) required[spec.required];
            }
            AttributeType::Datetime => {
                input id=(id) type="date" name=(name) value=(value) required[spec.required];
            }
            AttributeType::Singlevaluelist => {
                select id=(id) name=(name) required[spec.required] {
                    option value="" { "—" }
                    @for v in &spec.values {
                        option value=(v) selected[v == value] { (spec.value_label(v, l == Lang::Zh)) }
                    }
                }
            }
            AttributeType::String => {
                input id=(id) type="text" name=(name) value=(value) maxlength="200" required[spec.required];
            }
        }
    }
}

/// The form of `item`, with what was typed and the mistakes found.
fn form_page(
    lang: PageLang,
    signed: &SignedResident,
    reference: &Current,
    item: &ServiceItem,
    typed: &Typed,
    errors: &[String],
    status: StatusCode,
) -> Response {
    let l = lang.lang;
    let grids = reference
        .data
        .directory
        .village(&signed.user.area)
        .map(|v| v.grids.clone())
        .unwrap_or_default();
    let body = html! {
        @if !errors.is_empty() {
            div.error role="alert" {
                p { strong { (tr(l, "没有提交，请改正以下问题（照片需要重新选择）：",
                                 "Not filed. Please correct these (and choose the photos again):")) } }
                ul { @for e in errors { li { (e) } } }
            }
        }
        form.card method="post" action={ (ITEMS) "/" (item.code) } enctype="multipart/form-data"
            data-outbox="file" data-title=(item_name(l, item))
            data-owner=(hex::encode(owner_tag(&signed.user.id))) {
            (csrf::field(&signed.csrf))
            (upload::key_field(typed.key.as_deref()))
            h2 { (tr(l, "申请人", "Applicant")) }
            p { strong { (signed.user.display_name) } " " (tr(l, "（您本人）", "(yourself)")) }
            label for="id_number" { (tr(l, "身份证号码", "National ID number")) }
            input #id_number type="text" name="id_number" value=(typed.id_number) maxlength="18"
                autocomplete="off" autocapitalize="characters" spellcheck="false" required;
            label for="phone" { (tr(l, "手机号码", "Mobile phone number")) }
            input #phone type="tel" name="phone" value=(typed.phone) maxlength="20"
                autocomplete="tel" inputmode="tel" required;
            @if !grids.is_empty() {
                label for="grid" { (tr(l, "所在村民小组（网格）", "Your villager group (grid)")) }
                select #grid name="grid" required {
                    option value="" { "—" }
                    @for g in &grids {
                        option value=(g) selected[*g == typed.grid] { (g) }
                    }
                }
            }
            @if !item.attributes.is_empty() {
                h2 { (tr(l, "申请内容", "The application")) }
                @for spec in &item.attributes {
                    label for={ "attr-" (spec.code) } {
                        (spec.label(l == Lang::Zh))
                        @if spec.required { " " span.small { (tr(l, "（必填）", "(required)")) } }
                    }
                    (attribute_input(l, spec, typed.attributes.get(&spec.code).map(String::as_str).unwrap_or_default()))
                }
            }
            @if !item.materials.is_empty() {
                h2 { (tr(l, "材料照片", "Photos of the materials")) }
                p.small {
                    (tr(l, "每项材料拍一张清楚的照片（可以先不传，到服务站再交）。照片会缩小后保存，拍摄地点等信息会被删除。",
                        "Take a clear photo of each material (or bring it to the service point later). Photos are stored scaled down, without the place they were taken or other hidden data."))
                }
                @for (i, m) in item.materials.iter().enumerate() {
                    label for={ "photo-" (i) } { (item.material_label(m, l == Lang::Zh)) }
                    input id={ "photo-" (i) } type="file" name={ "photo-" (i) } accept="image/*" capture="environment";
                }
            }
            p { button type="submit" { (tr(l, "提交申请", "File the request")) } }
        }
    };
    let title = item_name(l, item).to_string();
    resident_page(lang, status, &title, &nav(l), body)
}

/// `GET /resident/file/{code}`: the item's form.
pub(crate) async fn form(
    lang: PageLang,
    signed: SignedResident,
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let reference = reference(&state, &lang).await?;
    let Some(item) = reference.data.catalog.item(&code) else {
        return Ok(unknown_item(lang, &code));
    };
    Ok(form_page(
        lang,
        &signed,
        &reference,
        item,
        &Typed::default(),
        &[],
        StatusCode::OK,
    ))
}

/// One attribute's value as typed, checked with the item's own rule; `None` if left empty.
fn attribute_value(l: Lang, spec: &AttributeSpec, raw: &str) -> Result<Option<AttrValue>, String> {
    let raw = raw.trim();
    let label = spec.label(l == Lang::Zh);
    if raw.is_empty() {
        return match spec.required {
            true => Err(match l {
                Lang::Zh => format!("请填写“{label}”。"),
                Lang::En => format!("Please fill in “{label}”."),
            }),
            false => Ok(None),
        };
    }
    let value = match spec.datatype {
        AttributeType::Number => match raw.parse::<f64>() {
            Ok(n) => AttrValue::Number(n),
            Err(_) => AttrValue::Text(raw.to_string()),
        },
        _ => AttrValue::Text(raw.to_string()),
    };
    spec.check(&value).map_err(|_| {
        let rule = match spec.datatype {
            AttributeType::Number => tr(l, "请填写一个数字", "enter a number"),
            AttributeType::Datetime => tr(l, "请填写日期（年-月-日）", "enter a date (YYYY-MM-DD)"),
            AttributeType::Singlevaluelist => tr(l, "请从列表中选择", "choose one from the list"),
            AttributeType::String => tr(l, "最多 200 个字", "at most 200 characters"),
            AttributeType::Text => tr(l, "最多 5000 个字", "at most 5000 characters"),
        };
        match l {
            Lang::Zh => format!("“{label}”填写有误：{rule}。"),
            Lang::En => format!("“{label}”: {rule}."),
        }
    })?;
    Ok(Some(value))
}

/// Checks what was typed with the domain's rules; the filing, or every mistake at once.
fn check(
    l: Lang,
    reference: &Current,
    village: &str,
    item: &ServiceItem,
    typed: &Typed,
) -> Result<BTreeMap<String, AttrValue>, Vec<String>> {
    let mut errors = Vec::new();
    if NationalId::parse(&typed.id_number).is_err() {
        errors.push(
            tr(
                l,
                "身份证号码有误，请核对（18 位，最后一位可能是 X）。",
                "The national ID number is not valid: check it (18 characters, the last may be X).",
            )
            .to_string(),
        );
    }
    if Phone::parse(&typed.phone).is_err() {
        errors.push(
            tr(
                l,
                "手机号码有误，请核对（11 位数字）。",
                "The mobile phone number is not valid: check it (11 digits).",
            )
            .to_string(),
        );
    }
    let grids = reference
        .data
        .directory
        .village(village)
        .map(|v| v.grids.as_slice())
        .unwrap_or_default();
    if !grids.is_empty() && !grids.contains(&typed.grid) {
        errors.push(
            tr(
                l,
                "请选择您所在的村民小组（网格）。",
                "Choose your villager group (grid).",
            )
            .to_string(),
        );
    }
    let mut attributes = BTreeMap::new();
    for spec in &item.attributes {
        let raw = typed
            .attributes
            .get(&spec.code)
            .map(String::as_str)
            .unwrap_or_default();
        match attribute_value(l, spec, raw) {
            Ok(Some(v)) => {
                attributes.insert(spec.code.clone(), v);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(attributes)
    } else {
        Err(errors)
    }
}

/// The page of a form that could not be read at all (413 too large, 400 malformed).
fn unread(lang: PageLang, status: StatusCode, message: String) -> Response {
    let l = lang.lang;
    let body = html! {
        p.error role="alert" { (message) }
        p { a href=(ITEMS) { (tr(l, "返回办理新事项", "Back to filing a request")) } }
    };
    resident_page(lang, status, tr(l, "没有提交", "Not filed"), &nav(l), body)
}

/// The answer to a filing that is stored: its page, saying so (`already`: filed by an earlier
/// sending of the same form).
fn to_filed(id: uuid::Uuid, already: bool) -> Response {
    let done = if already { "received" } else { "filed" };
    Redirect::to(&format!("/resident/requests/{id}?done={done}")).into_response()
}

/// The request filed with the submission key `key` by an earlier sending, if any.
async fn filed_before(
    state: &AppState,
    signed: &SignedResident,
    key: Option<&str>,
) -> Result<Option<uuid::Uuid>, crate::error::AppError> {
    let Some(key) = key.map(str::to_string) else {
        return Ok(None);
    };
    let (engine, user) = (state.engine.clone(), signed.user.clone());
    let filed = blocking(move || engine.resident_filed(&user, &key)).await?;
    Ok(filed.map(|f| f.id))
}

/// `POST /resident/file/{code}` (multipart, with photos or the addresses of photos sent in
/// pieces): files the request and shows it; the request filed before when the same form
/// (submission key) was sent before.
pub(crate) async fn submit(
    lang: PageLang,
    signed: SignedResident,
    State(state): State<AppState>,
    Extension(under_way): Extension<UnderWay>,
    Path(code): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let limit = state.limits.photo_body_bytes;
    let sent = match upload::read(req, &state, &signed, limit).await {
        Ok(sent) => sent,
        Err(UploadError::Forged) => return Ok(refused_form(lang)),
        Err(UploadError::TooLarge) => {
            return Ok(unread(
                lang,
                StatusCode::PAYLOAD_TOO_LARGE,
                upload::too_large_message(l, limit),
            ));
        }
        Err(UploadError::Malformed) => {
            return Ok(unread(
                lang,
                StatusCode::BAD_REQUEST,
                upload::malformed_message(l).to_string(),
            ));
        }
    };
    let typed = Typed::of(&sent.fields);
    // Sent before and filed then: that request is the answer, whatever this sending holds
    // (its photos were used and discarded by the first).
    if let Some(id) = filed_before(&state, &signed, typed.key.as_deref())
        .await
        .or_page(&lang)?
    {
        return Ok(to_filed(id, true));
    }
    let reference = reference(&state, &lang).await?;
    let Some(item) = reference.data.catalog.item(&code) else {
        return Ok(unknown_item(lang, &code));
    };
    let checked = check(l, &reference, &signed.user.area, item, &typed);
    let photos = upload::photos_of(
        &state,
        l,
        &signed.user.id,
        sent.files,
        &sent.fields,
        &item.materials,
        &reference.material_labels(&item.code, &item.materials, l == Lang::Zh),
    )
    .await;
    let (attributes, photos) = match (checked, photos) {
        (Ok(a), Ok(p)) => (a, p),
        (a, p) => {
            let missing_upload = p.as_ref().is_err_and(|e| e.missing_upload);
            if missing_upload
                && let Some(id) = filed_before(&state, &signed, typed.key.as_deref())
                    .await
                    .or_page(&lang)?
            {
                // Another sending of this form filed it meanwhile, with these photos.
                return Ok(to_filed(id, true));
            }
            let errors: Vec<String> = a
                .err()
                .into_iter()
                .flatten()
                .chain(p.err().into_iter().flat_map(|e| e.errors))
                .collect();
            let mut response = form_page(
                lang,
                &signed,
                &reference,
                item,
                &typed,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
            if missing_upload {
                response
                    .headers_mut()
                    .insert(upload::MISSING_UPLOAD_HEADER, HeaderValue::from_static("1"));
            }
            return Ok(response);
        }
    };
    let filing = ResidentFiling {
        item_code: item.code.clone(),
        id_number: typed.id_number.clone(),
        phone: typed.phone.clone(),
        grid: typed.grid.clone(),
        attributes,
        photos: photos.photos,
    };
    let (engine, blobs, user, key) = (
        state.engine.clone(),
        state.blobs.clone(),
        signed.user.clone(),
        typed.key.clone(),
    );
    let used = photos.uploads;
    let filed = blocking(move || {
        let filed = engine.resident_file_once(&user, &filing, key.as_deref(), blobs.as_deref());
        if filed.is_ok()
            && let Some(blobs) = blobs
        {
            under_way.forget(blobs.as_ref(), &user.id, &used);
        }
        filed
    })
    .await;
    match filed {
        Ok(filed) => Ok(to_filed(filed.id, filed.already)),
        // A rule the form's checks did not catch: named as the check says it.
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let message = format!("{}{}", tr(l, "未能提交：", "Not filed: "), e.message);
            Ok(form_page(
                lang,
                &signed,
                &reference,
                item,
                &typed,
                &[message],
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        Err(e) => Err(PageError::new(&lang, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bianmin_domain::demo;

    fn spec(datatype: AttributeType, required: bool) -> AttributeSpec {
        AttributeSpec {
            code: "x".into(),
            name_zh: String::new(),
            name_en: "Household members".into(),
            datatype,
            required,
            values: vec!["lost".into()],
            values_zh: vec![],
            sensitive: false,
        }
    }

    #[test]
    fn attribute_values_are_read_and_checked_by_the_items_rule() {
        let number = spec(AttributeType::Number, true);
        assert_eq!(
            attribute_value(Lang::Zh, &number, " 4 "),
            Ok(Some(AttrValue::Number(4.0)))
        );
        let e = attribute_value(Lang::Zh, &number, "four").unwrap_err();
        assert!(e.contains("请填写一个数字"), "{e}");
        let e = attribute_value(Lang::En, &number, "").unwrap_err();
        assert_eq!(e, "Please fill in “Household members”.");
        assert_eq!(
            attribute_value(Lang::En, &spec(AttributeType::Text, false), "  "),
            Ok(None)
        );
        let list = spec(AttributeType::Singlevaluelist, true);
        assert!(attribute_value(Lang::En, &list, "found").is_err());
        assert!(attribute_value(Lang::En, &list, "lost").is_ok());
    }

    #[test]
    fn every_mistake_is_named_at_once() {
        let data = bianmin_protocol::ReferenceData {
            version: 1,
            catalog: demo::catalog(),
            directory: demo::directory(),
            calendars: Vec::new(),
        };
        let current = Current::new(data);
        let item = current.data.catalog.item("SOC-CARD").unwrap().clone();
        let typed = Typed {
            id_number: "110105194912310021".into(),
            phone: "12".into(),
            grid: "9组".into(),
            attributes: BTreeMap::new(),
            key: None,
        };
        let errors = check(Lang::Zh, &current, "370883101201", &item, &typed).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        let typed = Typed {
            id_number: "11010519491231002x".into(),
            phone: "138 1234 5678".into(),
            grid: "1组".into(),
            attributes: [("reason".to_string(), "lost".to_string())].into(),
            key: None,
        };
        let attributes = check(Lang::Zh, &current, "370883101201", &item, &typed).unwrap();
        assert_eq!(attributes["reason"], AttrValue::Text("lost".into()));
    }
}
