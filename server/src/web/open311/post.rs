//! `POST /open311/v2/requests.{json,xml}`: a registered application files a request for a person
//! in a village (see `docs/open311.md`, "Filing requests").
//!
//! The body is a form in the specification's encoding (`application/x-www-form-urlencoded`),
//! every byte of it untrusted: read whole within the public pages' body limit, each field taken
//! once (a field sent twice is refused, never guessed at), then checked in this order, each
//! step answering in the specification's error format:
//!
//! 1. `api_key`: missing, unknown or revoked: `403`;
//! 2. `service_code`: missing: `400`; not in the catalog: `404`;
//! 3. the village, from `jurisdiction_id` (a village's 12-digit code; the county's or a
//!    township's code only narrows) or `attribute[village]`: unknown jurisdiction `404`,
//!    missing, unknown or contradictory village `400`, a village outside the key's township
//!    `403`;
//! 4. the person and the item's form, each field with the domain's own rule, every mistake at
//!    once (one error each, naming the field): `400`;
//! 5. the filing itself ([`crate::engine::Engine::application_file`]): authored and checked as a
//!    resident's own filing, numbered in the village's hub series; a refusal of the check is
//!    `400`.
//!
//! Nothing is stored before every step passed, and a refused request stores nothing. Errors
//! name fields and rules, never a value sent; nothing sent is logged.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bianmin_document::limits::GRID_CHARS;
use bianmin_domain::{
    AttrValue, AttributeType, Directory, NationalId, Phone, ServiceItem, township_of, validate_name,
};

use super::format::{Document, Format, error_response, errors_response};
use super::{Params, lang, model, not_allowed, not_found_error};
use crate::AppState;
use crate::auth;
use crate::engine::ApplicationFiling;
use crate::error::AppError;
use crate::reference::Current;
use crate::storage::Open311Key;
use crate::web::blocking;
use crate::web::i18n::Lang;

/// The applicant's attributes every service takes besides its own form: the village, the
/// national ID number and the grid (villager group). Should a service's form ever define one of
/// these codes, the one value sent is both.
pub const APPLICANT_ATTRIBUTES: [&str; 3] = ["village", "id_number", "grid"];

/// The longest `description`, in characters.
pub const MAX_DESCRIPTION: usize = 1000;
/// The longest `address_string`, in characters.
pub const MAX_ADDRESS: usize = 200;
/// The longest `media_url`, in characters.
pub const MAX_MEDIA_URL: usize = 500;

/// How much of a field's name an error quotes.
const QUOTED_NAME: usize = 64;

/// Why a request is refused: its status and one description per mistake.
#[derive(Debug)]
struct Problems {
    status: StatusCode,
    descriptions: Vec<String>,
}

impl From<AppError> for Problems {
    fn from(e: AppError) -> Self {
        Problems {
            status: e.status,
            descriptions: vec![e.message],
        }
    }
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::bad_request(message)
}

fn forbidden(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// A field's name as an error quotes it: at most [`QUOTED_NAME`] characters.
fn quoted(name: &str) -> String {
    match name.char_indices().nth(QUOTED_NAME) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

/// The form's fields by name, each sent once, trimmed; those sent empty are left out (the
/// specification's optional fields are often sent empty).
#[derive(Debug, Default)]
struct Fields(BTreeMap<String, String>);

impl Fields {
    fn read(params: &Params) -> Result<Fields, AppError> {
        let mut fields = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in params {
            if !seen.insert(name.as_str()) {
                return Err(bad(format!(
                    "{} is sent more than once: send each field once",
                    quoted(name)
                )));
            }
            let value = value.trim();
            if !value.is_empty() {
                fields.insert(name.clone(), value.to_string());
            }
        }
        Ok(Fields(fields))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `attribute[code]`.
    fn attribute(&self, code: &str) -> Option<&str> {
        self.get(&format!("attribute[{code}]"))
    }

    /// The codes of every `attribute[…]` sent.
    fn attribute_codes(&self) -> impl Iterator<Item = &str> {
        self.0.keys().filter_map(|name| {
            name.strip_prefix("attribute[")
                .and_then(|rest| rest.strip_suffix(']'))
        })
    }
}

/// `POST /open311/v2/{file}`: files a request at `requests.json` or `requests.xml`; any other
/// path of the API is read only (`405`).
pub async fn create(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Path(file): Path<String>,
    form: Result<Form<Params>, FormRejection>,
) -> Response {
    let format = match Format::split(&file) {
        Some(Ok(("requests", format))) => format,
        Some(Ok(_)) => return not_allowed(uri.path()),
        Some(Err(e)) => return error_response(Format::Json, &e),
        None => {
            return error_response(
                Format::Json,
                &not_found_error("add the format to the path: POST requests.json or requests.xml"),
            );
        }
    };
    let params = match form {
        Ok(Form(params)) => params,
        Err(rejection) => {
            return error_response(
                format,
                &unreadable(&rejection, state.limits.form_body_bytes),
            );
        }
    };
    let lang = lang(&params);
    match blocking(move || Ok(file_request(&state, &params, lang))).await {
        Ok(Ok(document)) => document.respond(format, StatusCode::OK),
        Ok(Err(p)) => errors_response(format, p.status, &p.descriptions),
        Err(e) => error_response(format, &e),
    }
}

/// Why the body could not be read as a form (never what it held).
fn unreadable(rejection: &FormRejection, limit: usize) -> AppError {
    match rejection.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request as a form, Content-Type: application/x-www-form-urlencoded, as \
             the GeoReport v2 specification encodes it",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request is larger than the hub takes ({} KiB)",
                limit / 1024
            ),
        ),
        _ => bad("the form cannot be read: send it application/x-www-form-urlencoded, in UTF-8"),
    }
}

/// Steps 1 to 5 of the module docs. Blocking.
fn file_request(state: &AppState, params: &Params, lang: Lang) -> Result<Document, Problems> {
    let fields = Fields::read(params)?;
    let key = api_key(state, fields.get("api_key"))?;
    let reference = state.engine.reference()?;
    let code = fields.get("service_code").ok_or_else(|| {
        bad("service_code is required: the service's code, as services.json lists it")
    })?;
    let item = reference
        .data
        .catalog
        .item(code)
        .ok_or_else(|| not_found_error("no such service_code in the catalog"))?;
    let village = village(&reference.data.directory, &fields)?;
    if township_of(&village) != Some(key.township.as_str()) {
        return Err(forbidden(format!(
            "this api_key files requests in the villages of township {} only; village {village} \
             is not one of them",
            key.township
        ))
        .into());
    }
    let filing = filing(&reference, item, village, &fields, &key)?;
    let posted = state
        .engine
        .application_file(&key, &filing)
        .map_err(check_refusal)?;
    Ok(model::posted(posted.receipt_no.as_str(), item, lang))
}

/// The key the request is sent with, live: `403` otherwise. Blocking.
fn api_key(state: &AppState, given: Option<&str>) -> Result<Open311Key, AppError> {
    let Some(given) = given else {
        return Err(forbidden(
            "api_key is required to file requests: ask the people who run the county's hub for \
             one (reading needs none)",
        ));
    };
    match state
        .storage
        .open311_key_by_hash(&auth::hash_secret(given))?
    {
        None => {
            tracing::warn!("Open311 filing refused: unknown api_key");
            Err(forbidden("unknown api_key"))
        }
        Some(key) if key.revoked_at.is_some() => {
            tracing::warn!(
                key = key.id,
                "Open311 filing refused: the api_key is revoked"
            );
            Err(forbidden(
                "this api_key was revoked: ask the people who run the county's hub for a new one",
            ))
        }
        Some(key) => Ok(key),
    }
}

/// The village the request is for: `jurisdiction_id` when it is a village's code, else
/// `attribute[village]` (within `jurisdiction_id` when that is the county's or a township's
/// code); both given, they must agree.
fn village(directory: &Directory, fields: &Fields) -> Result<String, AppError> {
    let named = fields.attribute("village");
    let (within, by_jurisdiction) = match fields.get("jurisdiction_id") {
        None => (None, None),
        Some(j) if j == directory.county.code => (Some(j), None),
        Some(j) if directory.townships.iter().any(|t| t.code == j) => (Some(j), None),
        Some(j) if directory.village(j).is_some() => (None, Some(j)),
        Some(_) => {
            return Err(not_found_error(
                "no such jurisdiction_id: give the village's 12-digit code (or the county's or \
                 its township's code, with the village as attribute[village])",
            ));
        }
    };
    match (by_jurisdiction, named) {
        (Some(v), None) => Ok(v.to_string()),
        (Some(v), Some(n)) if n == v => Ok(v.to_string()),
        (Some(_), Some(_)) => Err(bad(
            "jurisdiction_id and attribute[village] name different villages: send one, or the \
             same",
        )),
        (None, Some(n)) if directory.village(n).is_none() => Err(bad(
            "attribute[village] is not a village of the directory: give its 12-digit code",
        )),
        (None, Some(n)) if within.is_some_and(|area| !n.starts_with(area)) => {
            Err(bad("attribute[village] is not within jurisdiction_id"))
        }
        (None, Some(n)) => Ok(n.to_string()),
        (None, None) => Err(bad(
            "name the village: jurisdiction_id or attribute[village], its 12-digit code",
        )),
    }
}

/// The applicant's name from the specification's two fields: a Chinese name as it is written,
/// family name first without a space (`王` and `秀英`: `王秀英`); a name with Latin letters or
/// digits in the order and spacing of the West (`Anna` and `Lee`: `Anna Lee`).
pub fn applicant_name(first: Option<&str>, last: Option<&str>) -> String {
    match (first, last) {
        (Some(f), Some(l)) => {
            let western = |s: &str| s.chars().any(|c| c.is_ascii_alphanumeric());
            if western(f) || western(l) {
                format!("{f} {l}")
            } else {
                format!("{l}{f}")
            }
        }
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => String::new(),
    }
}

/// A mobile number as the domain reads it: a leading `+86` (or `0086`) is the country's code.
fn national_phone(raw: &str) -> &str {
    raw.strip_prefix("+86")
        .or_else(|| raw.strip_prefix("0086"))
        .unwrap_or(raw)
        .trim_start_matches([' ', '-'])
}

/// Free text of the person's: at most `max` characters, no control characters but line breaks
/// and tabs.
fn free_text(problems: &mut Vec<String>, name: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        problems.push(format!("{name} must be at most {max} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        problems.push(format!("{name} must not contain control characters"));
    }
}

/// One value of the item's form, read by its type and checked by the item's rule.
fn attribute_value(
    problems: &mut Vec<String>,
    item: &ServiceItem,
    code: &str,
    raw: Option<&str>,
) -> Option<AttrValue> {
    let spec = item.attribute(code)?;
    let Some(raw) = raw else {
        if spec.required {
            problems.push(format!(
                "attribute[{code}] is required ({}; see services/{})",
                spec.name_en, item.code
            ));
        }
        return None;
    };
    let value = match spec.datatype {
        AttributeType::Number => raw
            .parse::<f64>()
            .map_or_else(|_| AttrValue::Text(raw.to_string()), AttrValue::Number),
        _ => AttrValue::Text(raw.to_string()),
    };
    match spec.check(&value) {
        Ok(()) => Some(value),
        Err(e) => {
            problems.push(format!("attribute[{code}] {}", e.rule));
            None
        }
    }
}

/// Step 4: the person and the form, every mistake at once (`400`).
fn filing(
    reference: &Current,
    item: &ServiceItem,
    village: String,
    fields: &Fields,
    key: &Open311Key,
) -> Result<ApplicationFiling, Problems> {
    let mut problems = Vec::new();

    let applicant_name = applicant_name(fields.get("first_name"), fields.get("last_name"));
    if applicant_name.is_empty() {
        problems.push(
            "first_name and last_name are required: the applicant's name (either will do)"
                .to_string(),
        );
    } else if let Err(e) = validate_name(&applicant_name) {
        problems.push(format!(
            "first_name and last_name: the applicant's name {}",
            e.rule
        ));
    } else {
        free_text(
            &mut problems,
            "first_name and last_name",
            &applicant_name,
            50,
        );
    }

    let phone = fields.get("phone").map(national_phone).unwrap_or_default();
    if phone.is_empty() {
        problems.push("phone is required: the applicant's phone number".to_string());
    } else if let Err(e) = Phone::parse(phone) {
        problems.push(format!("phone {}", e.rule));
    }

    let id_number = fields.attribute("id_number").unwrap_or_default();
    if id_number.is_empty() {
        problems.push(
            "attribute[id_number] is required: the applicant's national ID number (18 characters)"
                .to_string(),
        );
    } else if let Err(e) = NationalId::parse(id_number) {
        problems.push(format!(
            "attribute[id_number] (the applicant's national ID number) {}",
            e.rule
        ));
    }

    let grids = reference
        .data
        .directory
        .village(&village)
        .map(|v| v.grids.as_slice())
        .unwrap_or_default();
    let grid = fields.attribute("grid").unwrap_or_default();
    match (grid.is_empty(), grids.is_empty()) {
        (true, false) => problems.push(format!(
            "attribute[grid] is required: the applicant's villager group, one of: {}",
            grids.join(", ")
        )),
        (true, true) => {
            problems.push("attribute[grid] is required: the applicant's villager group".to_string())
        }
        (false, false) if !grids.iter().any(|g| g == grid) => problems.push(format!(
            "attribute[grid] must be one of the village's groups: {}",
            grids.join(", ")
        )),
        (false, _) => free_text(&mut problems, "attribute[grid]", grid, GRID_CHARS),
    }

    for code in fields.attribute_codes() {
        if item.attribute(code).is_none() && !APPLICANT_ATTRIBUTES.contains(&code) {
            problems.push(format!(
                "attribute[{}] is not an attribute of service {} (see services/{})",
                quoted(code),
                item.code,
                item.code
            ));
        }
    }
    let mut attributes = BTreeMap::new();
    for spec in &item.attributes {
        let raw = fields.attribute(&spec.code);
        if let Some(value) = attribute_value(&mut problems, item, &spec.code, raw) {
            attributes.insert(spec.code.clone(), value);
        }
    }

    // What the person wrote besides the form, for the staff: one comment on the request, which
    // also says which application filed it.
    let mut note = format!("Open311 · {}", key.name);
    if let Some(text) = fields.get("description") {
        free_text(&mut problems, "description", text, MAX_DESCRIPTION);
        note.push('\n');
        note.push_str(text);
    }
    if let Some(address) = fields.get("address_string") {
        free_text(&mut problems, "address_string", address, MAX_ADDRESS);
        note.push_str("\n地址 address: ");
        note.push_str(address);
    }
    if let Some(url) = fields.get("media_url") {
        let web = url.starts_with("https://") || url.starts_with("http://");
        if !web || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            problems.push(
                "media_url must be an http:// or https:// address without spaces".to_string(),
            );
        } else {
            free_text(&mut problems, "media_url", url, MAX_MEDIA_URL);
        }
        note.push_str("\n照片链接 media_url: ");
        note.push_str(url);
    }

    if !problems.is_empty() {
        return Err(Problems {
            status: StatusCode::BAD_REQUEST,
            descriptions: problems,
        });
    }
    Ok(ApplicationFiling {
        village,
        item_code: item.code.clone(),
        applicant_name,
        id_number: id_number.to_string(),
        phone: phone.to_string(),
        grid: grid.to_string(),
        attributes,
        note: Some(note),
    })
}

/// The check's refusal in the specification's terms: what it found wrong with the request is a
/// `400`, whatever the hub's own status for it.
fn check_refusal(e: AppError) -> AppError {
    match e.status {
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => {
            AppError::new(StatusCode::BAD_REQUEST, e.code, e.message)
        }
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Result<Fields, AppError> {
        let params: Params = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Fields::read(&params)
    }

    #[test]
    fn a_name_is_written_as_its_language_writes_it() {
        assert_eq!(applicant_name(Some("秀英"), Some("王")), "王秀英");
        assert_eq!(applicant_name(Some("Anna"), Some("Lee")), "Anna Lee");
        assert_eq!(applicant_name(Some("欧阳"), None), "欧阳");
        assert_eq!(applicant_name(None, Some("Lee")), "Lee");
        assert_eq!(applicant_name(None, None), "");
        assert_eq!(national_phone("+86 139-1234-5678"), "139-1234-5678");
        assert_eq!(national_phone("008613912345678"), "13912345678");
        assert_eq!(national_phone("0531-8888888"), "0531-8888888");
    }

    #[test]
    fn each_field_is_taken_once_and_empty_ones_are_not_sent() {
        let f = fields(&[
            ("service_code", " SOC-CARD "),
            ("email", ""),
            ("attribute[reason]", "lost"),
            ("attribute[]", "x"),
        ])
        .unwrap();
        assert_eq!(f.get("service_code"), Some("SOC-CARD"));
        assert_eq!(f.get("email"), None);
        assert_eq!(f.attribute("reason"), Some("lost"));
        assert_eq!(f.attribute_codes().collect::<Vec<_>>(), ["", "reason"]);
        let e = fields(&[("service_code", "A"), ("service_code", "")]).unwrap_err();
        assert!(
            e.message.contains("service_code is sent more than once"),
            "{e}"
        );
        let long = "n".repeat(500);
        let e = fields(&[(&long, "1"), (&long, "2")]).unwrap_err();
        assert!(
            e.message.chars().count() < 120,
            "a name is quoted short: {e}"
        );
    }

    #[test]
    fn the_village_is_named_once_within_the_jurisdiction() {
        let d = bianmin_domain::demo::directory();
        let east = "370883101201";
        let village_of = |pairs: &[(&str, &str)]| village(&d, &fields(pairs).unwrap());
        assert_eq!(village_of(&[("jurisdiction_id", east)]).unwrap(), east);
        assert_eq!(village_of(&[("attribute[village]", east)]).unwrap(), east);
        for within in ["370883", "370883101"] {
            let v = village_of(&[("jurisdiction_id", within), ("attribute[village]", east)]);
            assert_eq!(v.unwrap(), east, "{within}");
        }
        let same = village_of(&[("jurisdiction_id", east), ("attribute[village]", east)]);
        assert_eq!(same.unwrap(), east);
        let status = |pairs: &[(&str, &str)]| village_of(pairs).unwrap_err().status;
        assert_eq!(status(&[]), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(&[("jurisdiction_id", "370883101")]),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status(&[("jurisdiction_id", "999")]), StatusCode::NOT_FOUND);
        assert_eq!(
            status(&[
                ("jurisdiction_id", east),
                ("attribute[village]", "370883101202")
            ]),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(&[
                ("jurisdiction_id", "370883102"),
                ("attribute[village]", east)
            ]),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(&[("attribute[village]", "370883101299")]),
            StatusCode::BAD_REQUEST
        );
    }
}
