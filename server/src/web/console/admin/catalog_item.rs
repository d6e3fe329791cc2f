//! One service item's edit form (service items → an item → *Edit*): its Chinese and English
//! names, handling level, committed time limit (working days) and materials with their Chinese
//! names. The item's code stays (requests record it); its form attributes are edited by loading
//! the whole catalog's JSON, since a form for typed attributes, list values and their Chinese
//! names would be a catalog editor of its own.
//!
//! The form is read into a [`ServiceItem`] (each field's rule named when broken), which
//! [`crate::admin::replace_item`] puts in the loaded catalog and loads exactly as a catalog file
//! is loaded: the same checks, a new reference-data version, tablets receive it at their next
//! sync. The form carries the fingerprint of the item it showed: if someone saved the item
//! meanwhile, nothing is stored and the form says so. Nothing is stored on any refusal; the form
//! comes back with what was typed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::{HandlingLevel, MAX_TIME_LIMIT_DAYS, ServiceItem};
use bianmin_protocol::ReferenceData;
use maud::{Markup, html};

use super::reference::{item_path, level_label};
use super::users::admin_error;
use super::{Admin, AdminForm, Fields, error};
use crate::AppState;
use crate::admin::{self, AdminError};
use crate::error::AppError;
use crate::web::console::session::Signed;
use crate::web::console::{OrPage, PageError, blocking, console_page, csrf};
use crate::web::i18n::{Lang, PageLang, tr};

/// Empty material rows the form offers for new materials.
const EXTRA_ROWS: usize = 3;
/// Material rows read from a form at most.
const MAX_ROWS: usize = 100;
/// The longest name (of the item or a material), in characters.
const MAX_NAME: usize = 200;

/// The levels, in the order the form offers them.
const LEVELS: [HandlingLevel; 3] = [
    HandlingLevel::Village,
    HandlingLevel::VillageCollectsTownshipHandles,
    HandlingLevel::Township,
];

fn level_value(level: HandlingLevel) -> &'static str {
    match level {
        HandlingLevel::Village => "village",
        HandlingLevel::VillageCollectsTownshipHandles => "village_collects_township_handles",
        HandlingLevel::Township => "township",
    }
}

/// The form's fields as typed.
#[derive(Debug, Clone, Default)]
struct ItemForm {
    name_zh: String,
    name_en: String,
    level: String,
    time_limit: String,
    /// Each row's recorded name and Chinese name.
    materials: Vec<(String, String)>,
    /// The fingerprint of the item the form showed.
    shown: String,
}

impl ItemForm {
    fn of(item: &ServiceItem) -> ItemForm {
        let zh = |i: usize| item.materials_zh.get(i).cloned().unwrap_or_default();
        ItemForm {
            name_zh: item.name_zh.clone(),
            name_en: item.name_en.clone(),
            level: level_value(item.level).to_string(),
            time_limit: item.time_limit_days.to_string(),
            materials: item
                .materials
                .iter()
                .enumerate()
                .map(|(i, m)| (m.clone(), zh(i)))
                .collect(),
            shown: admin::item_fingerprint(item),
        }
    }

    fn from_fields(fields: &Fields) -> ItemForm {
        let materials = (0..MAX_ROWS)
            .filter_map(|i| {
                let name = fields.get(&format!("material-{i}"));
                let zh = fields.get(&format!("material-zh-{i}"));
                (name.is_some() || zh.is_some()).then(|| {
                    let text = |v: Option<&str>| v.unwrap_or_default().trim().to_string();
                    (text(name), text(zh))
                })
            })
            .collect();
        ItemForm {
            name_zh: fields.text("name_zh").trim().to_string(),
            name_en: fields.text("name_en").trim().to_string(),
            level: fields.text("level"),
            time_limit: fields.text("time_limit_days").trim().to_string(),
            materials,
            shown: fields.text("shown"),
        }
    }

    /// The item this form makes of `base`, or the first rule it breaks, in the page's language.
    fn item(&self, base: &ServiceItem, l: Lang) -> Result<ServiceItem, String> {
        check_name(l, &self.name_zh, ("中文名称", "Chinese name"))?;
        check_name(l, &self.name_en, ("英文名称", "English name"))?;
        let level = LEVELS
            .into_iter()
            .find(|v| level_value(*v) == self.level)
            .ok_or_else(|| {
                tr(
                    l,
                    "办理层级：请从列表中选择。",
                    "Level: choose one of the list.",
                )
                .to_string()
            })?;
        let time_limit_days = self
            .time_limit
            .parse::<u32>()
            .ok()
            .filter(|d| *d <= MAX_TIME_LIMIT_DAYS)
            .ok_or_else(|| time_limit_message(l))?;
        let (materials, materials_zh) = self.materials(l)?;
        Ok(ServiceItem {
            name_zh: self.name_zh.clone(),
            name_en: self.name_en.clone(),
            level,
            time_limit_days,
            materials,
            materials_zh,
            ..base.clone()
        })
    }

    /// The materials and their Chinese names (none, or one for each), rows left empty dropped.
    fn materials(&self, l: Lang) -> Result<(Vec<String>, Vec<String>), String> {
        let rows: Vec<(usize, &(String, String))> = self
            .materials
            .iter()
            .enumerate()
            .filter(|(_, (name, zh))| !name.is_empty() || !zh.is_empty())
            .map(|(i, row)| (i + 1, row))
            .collect();
        let any_zh = rows.iter().any(|(_, (_, zh))| !zh.is_empty());
        let mut names: Vec<String> = Vec::new();
        let mut zhs = Vec::new();
        for (n, (name, zh)) in rows {
            let row = |zh_rule: &str, en_rule: &str| row_message(l, n, zh_rule, en_rule);
            if name.is_empty() {
                return Err(row(
                    "填写了中文名称，但记录名称为空。",
                    "a Chinese name without the recorded name.",
                ));
            }
            if !fits(name) {
                return Err(row(
                    &name_rule(l, "记录名称"),
                    &name_rule(l, "the recorded name"),
                ));
            }
            if names.contains(name) {
                return Err(row(
                    "记录名称与前面的材料重复。",
                    "the recorded name repeats an earlier material's.",
                ));
            }
            if any_zh && zh.is_empty() {
                return Err(row(
                    "缺少中文名称：中文名称要么每项都填，要么都不填。",
                    "no Chinese name: give every material one, or none.",
                ));
            }
            if !zh.is_empty() && !fits(zh) {
                return Err(row(
                    &name_rule(l, "中文名称"),
                    &name_rule(l, "the Chinese name"),
                ));
            }
            names.push(name.clone());
            if any_zh {
                zhs.push(zh.clone());
            }
        }
        Ok((names, zhs))
    }
}

/// Whether a name is 1 to [`MAX_NAME`] characters without control characters.
fn fits(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= MAX_NAME && !name.chars().any(char::is_control)
}

fn name_rule(l: Lang, what: &str) -> String {
    match l {
        Lang::Zh => format!("{what}须为 1 到 {MAX_NAME} 个字符，不能含控制字符。"),
        Lang::En => {
            format!("{what} must be 1 to {MAX_NAME} characters without control characters.")
        }
    }
}

fn check_name(l: Lang, name: &str, (zh, en): (&str, &str)) -> Result<(), String> {
    match fits(name) {
        true => Ok(()),
        false => Err(match l {
            Lang::Zh => format!("{zh}：{}", name_rule(l, "名称")),
            Lang::En => format!("{en}: {}", name_rule(l, "the name")),
        }),
    }
}

fn row_message(l: Lang, n: usize, zh: &str, en: &str) -> String {
    match l {
        Lang::Zh => format!("材料第 {n} 项：{zh}"),
        Lang::En => format!("Material {n}: {en}"),
    }
}

fn time_limit_message(l: Lang) -> String {
    match l {
        Lang::Zh => {
            format!("承诺时限：须为 0 到 {MAX_TIME_LIMIT_DAYS} 之间的整数（工作日；0 表示即办）。")
        }
        Lang::En => format!(
            "Time limit: must be a whole number of working days from 0 to {MAX_TIME_LIMIT_DAYS} (0: on the spot)."
        ),
    }
}

/// The loaded item with this code, with the reference data, or 404.
async fn load_item(
    state: &AppState,
    code: String,
) -> Result<(ServiceItem, ReferenceData), AppError> {
    let storage = state.storage.clone();
    let reference = blocking(move || Ok(storage.reference()?)).await?;
    let found = reference.and_then(|r| r.catalog.item(&code).cloned().map(|item| (item, r)));
    found.ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such service item in the catalog",
        )
    })
}

fn materials_fieldset(l: Lang, form: &ItemForm) -> Markup {
    let rows = form.materials.len() + EXTRA_ROWS;
    let row = |i: usize| form.materials.get(i).cloned().unwrap_or_default();
    html! {
        fieldset #materials {
            legend { (tr(l, "申请材料", "Materials")) }
            p.small {
                (tr(l, "“记录名称”是办件中记录的名称，平板和导出都用它；“中文名称”是中文页面上显示的名称。清空一行即删除该材料；空行用于新增。",
                    "The recorded name is what requests record, and what tablets and exports use; the Chinese name is what Chinese pages show. Clear a row to remove that material; fill an empty row to add one."))
            }
            @for i in 0..rows {
                @let (name, zh) = row(i);
                div.material-row {
                    label for={ "material-" (i) } { (tr(l, "材料 ", "Material ")) (i + 1) (tr(l, "：记录名称", ": recorded name")) }
                    input id={ "material-" (i) } type="text" name={ "material-" (i) } value=(name) maxlength=(MAX_NAME);
                    label for={ "material-zh-" (i) } { (tr(l, "材料 ", "Material ")) (i + 1) (tr(l, "：中文名称", ": Chinese name")) }
                    input id={ "material-zh-" (i) } type="text" name={ "material-zh-" (i) } value=(zh) maxlength=(MAX_NAME);
                }
            }
        }
    }
}

fn attributes_note(l: Lang, item: &ServiceItem) -> Markup {
    html! {
        section.card #attributes {
            h2 { (tr(l, "表单属性", "Form attributes")) }
            @if item.attributes.is_empty() {
                p { "—" }
            } @else {
                ul {
                    @for a in &item.attributes {
                        li {
                            code { (a.code) } " " (a.label(l == Lang::Zh))
                            @if a.required { (tr(l, "（必填）", " (required)")) }
                        }
                    }
                }
            }
            p.small {
                (tr(l, "属性（类型、可选值及其中文名称、敏感标记）请下载目录 JSON 修改后整体导入。",
                    "Attributes (types, list values and their Chinese names, the sensitive flag) are changed by downloading the catalog JSON, editing it and loading it whole."))
            }
        }
    }
}

fn render(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    item: &ServiceItem,
    form: &ItemForm,
    refused: Option<&str>,
) -> Response {
    let l = lang.lang;
    let body = html! {
        form.card #edit-item method="post" action=(item_path(&item.code)) {
            (error(refused))
            (csrf::field(&signed.csrf))
            input type="hidden" name="shown" value=(form.shown);
            p { (tr(l, "事项代码：", "Item code: ")) code { (item.code) } span.small { (tr(l, "（不能修改：办件按代码记录事项）", " (fixed: requests record the item by its code)")) } }
            label for="i-name-zh" { (tr(l, "中文名称", "Chinese name")) }
            input #i-name-zh type="text" name="name_zh" value=(form.name_zh) required maxlength=(MAX_NAME);
            label for="i-name-en" { (tr(l, "英文名称", "English name")) }
            input #i-name-en type="text" name="name_en" value=(form.name_en) required maxlength=(MAX_NAME);
            label for="i-level" { (tr(l, "办理层级", "Level")) }
            select #i-level name="level" required {
                @for v in LEVELS {
                    option value=(level_value(v)) selected[form.level == level_value(v)] { (level_label(l, v)) }
                }
            }
            label for="i-days" { (tr(l, "承诺时限（工作日，0 表示即办）", "Time limit (working days; 0: on the spot)")) }
            input #i-days type="number" name="time_limit_days" value=(form.time_limit) min="0" max=(MAX_TIME_LIMIT_DAYS) step="1" required;
            (materials_fieldset(l, form))
            p.small {
                (tr(l, "保存后立即对所有办件生效，包括办理中的：新增的材料在受理和批准时也要求提交；已删除或改了记录名称的材料不再属于这个事项。平板在下次同步时收到新目录。",
                    "Saved changes apply at once to every request, those in progress included: an added material is required at acceptance and approval, and a material removed or given another recorded name is no longer one of the item's. Tablets receive the new catalog on their next sync."))
            }
            p {
                button type="submit" { (tr(l, "保存", "Save")) }
                " "
                a href="/console/admin/catalog" { (tr(l, "取消", "Cancel")) }
            }
        }
        (attributes_note(l, item))
    };
    let title = format!(
        "{}{}",
        tr(l, "修改服务事项：", "Edit a service item: "),
        match l {
            Lang::Zh => &item.name_zh,
            Lang::En => &item.name_en,
        }
    );
    console_page(lang, status, signed, &title, body)
}

/// `GET /console/admin/catalog/items/{code}`: the form.
pub(crate) async fn edit(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let (item, _) = load_item(&state, code).await.or_page(&lang)?;
    let form = ItemForm::of(&item);
    Ok(render(lang, StatusCode::OK, &signed, &item, &form, None))
}

/// Why the hub did not store a well-formed item, in the page's language.
fn stored_refusal(l: Lang, e: &AdminError) -> Option<String> {
    match e {
        AdminError::Invalid(v) if v.field == "item" => Some(
            tr(
                l,
                "未保存：打开这个表单后，这个事项已被他人修改。请重新打开表单再修改。",
                "Not saved: someone changed this item after the form was opened. Open the form again.",
            )
            .to_string(),
        ),
        AdminError::Invalid(_) => Some(match l {
            Lang::Zh => format!("未保存，原有目录不变：{e}"),
            Lang::En => format!("Not saved; the catalog is unchanged: {e}"),
        }),
        _ => None,
    }
}

/// `POST /console/admin/catalog/items/{code}`: saves the item.
pub(crate) async fn save(
    lang: PageLang,
    State(state): State<AppState>,
    Path(code): Path<String>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let (base, _) = load_item(&state, code).await.or_page(&lang)?;
    let form = ItemForm::from_fields(&fields);
    let refused = match form.item(&base, l) {
        Err(message) => message,
        Ok(item) => {
            let (storage, shown) = (state.storage.clone(), form.shown.clone());
            let saved = blocking(move || Ok(admin::replace_item(storage.as_ref(), &item, &shown)))
                .await
                .or_page(&lang)?;
            match saved {
                Ok(version) => {
                    state.engine.forget_reference();
                    tracing::info!(admin = %signed.user.id, version, "console admin: service item saved");
                    return Ok(
                        Redirect::to("/console/admin/catalog?done=item_saved").into_response()
                    );
                }
                Err(e) => match stored_refusal(l, &e) {
                    Some(message) => message,
                    None => return Err(PageError::new(&lang, admin_error(e))),
                },
            }
        }
    };
    tracing::info!(admin = %signed.user.id, "console admin: service item refused");
    Ok(render(
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        &signed,
        &base,
        &form,
        Some(&refused),
    ))
}
