//! Open311 GeoReport v2 at `/open311/v2/` (see `docs/open311.md`): the service-item catalog as
//! services and service definitions, and the request index as service requests, public fields
//! only, each in JSON and XML by the path's suffix, errors in the specification's format; and
//! `POST requests`, with which a registered application files a request with its API key.
//!
//! - [`format`](mod@format): the two formats written from one tree of values, and the error format.
//! - [`model`]: how the catalog and the index rows read as GeoReport (the only place that
//!   decides which fields of a request are published).
//! - [`post`]: `POST requests`: the key, the village, the person and the form checked, then
//!   the request filed by the engine as a resident's own filing is.
//!
//! Storage and reference data are read off the async workers (a PostgreSQL storage must not be
//! called on an async worker).

pub mod format;
pub mod model;
pub mod post;

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, get};
use bianmin_document::model::{Page, RequestFilter, RequestRow, RequestSort};
use bianmin_domain::{Directory, ReceiptNo, Timestamp};
use chrono::{DateTime, NaiveDate, NaiveTime};

use self::format::{Document, Format, error_response};
use super::blocking;
use crate::AppState;
use crate::error::AppError;
use crate::reference::Current;
use crate::storage::ReadScope;
use crate::web::i18n::Lang;

/// The most requests one `GET requests` answers (the specification's limit).
pub const MAX_REQUESTS: usize = 1000;

/// The widest date range of one `GET requests`, in days (the specification's limit), and the
/// range searched when none is given (the last 90 days).
pub const MAX_RANGE_DAYS: i64 = 90;

/// The most index rows one `GET requests` reads: the requests filed in the range, newest first,
/// until [`MAX_REQUESTS`] match or this many were read. What it answers is always the newest
/// matches, so a client reads on by setting `end_date` to the oldest `requested_datetime` it got.
pub const MAX_SCANNED: u32 = 20_000;

/// Rows read from the index at once.
const SCAN_PAGE: u32 = 500;

/// The routes (merged into [`super::routes`], with the public pages' limits).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/open311/v2/{file}",
            get(collection)
                .post(post::create)
                .fallback(method_not_allowed),
        )
        .route(
            "/open311/v2/services/{file}",
            get(service_definition).fallback(method_not_allowed),
        )
        .route(
            "/open311/v2/requests/{file}",
            get(service_request).fallback(method_not_allowed),
        )
        .route("/open311", any(not_found))
        .route("/open311/{*rest}", any(not_found))
}

/// The query's pairs, in order (a name may come several times).
type Params = Vec<(String, String)>;

/// Every value given for `name`: repeated and comma-separated values alike, trimmed, without
/// empty ones.
fn values(params: &Params, name: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// The one value given for `name`, if any.
fn single(params: &Params, name: &str) -> Result<Option<String>, AppError> {
    let mut all = values(params, name);
    if all.len() > 1 {
        return Err(AppError::bad_request(format!(
            "{name} takes one value, not {}",
            all.len()
        )));
    }
    Ok(all.pop())
}

/// `?lang=en` for English names and words; Chinese otherwise (as on the hub's pages).
fn lang(params: &Params) -> Lang {
    params
        .iter()
        .rev()
        .find(|(n, _)| n == "lang")
        .and_then(|(_, v)| Lang::parse(v))
        .unwrap_or_default()
}

fn not_found_error(what: &str) -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "not_found", what)
}

/// The area a `jurisdiction_id` names: the county (also when none is given) or one of its
/// townships. Anything else is `404`.
fn jurisdiction(directory: &Directory, params: &Params) -> Result<ReadScope, AppError> {
    let county = &directory.county.code;
    match single(params, "jurisdiction_id")? {
        None => Ok(ReadScope::County(county.clone())),
        Some(j) if j == *county => Ok(ReadScope::County(j)),
        Some(j) if directory.townships.iter().any(|t| t.code == j) => Ok(ReadScope::Township(j)),
        Some(_) => Err(not_found_error(
            "no such jurisdiction_id: give the county's 6-digit code or one of its townships' \
             9-digit codes, or none",
        )),
    }
}

/// The answer, or the error, in `format`.
fn answer(format: Format, result: Result<Document, AppError>) -> Response {
    match result {
        Ok(document) => document.respond(format, StatusCode::OK),
        Err(e) => error_response(format, &e),
    }
}

/// What a `GET` asks for: the name before the path's suffix, the format, the query's pairs.
struct Asked {
    name: String,
    format: Format,
    params: Params,
}

impl Asked {
    /// Reads the last segment of the path and the query, or says what is wrong with them and in
    /// which format (JSON when the path does not ask for XML).
    fn read(
        file: &str,
        query: Result<Query<Params>, QueryRejection>,
    ) -> Result<Asked, (Format, AppError)> {
        let (name, format) = match Format::split(file) {
            Some(Ok(split)) => split,
            Some(Err(e)) => return Err((Format::Json, e)),
            None => {
                return Err((
                    Format::Json,
                    not_found_error(
                        "add the format to the path: .json or .xml (e.g. services.json)",
                    ),
                ));
            }
        };
        let params = query.map(|Query(p)| p).map_err(|e| {
            (
                format,
                AppError::bad_request(format!("the query string cannot be read: {e}")),
            )
        })?;
        Ok(Asked {
            name: name.to_string(),
            format,
            params,
        })
    }
}

/// `GET /open311/v2/discovery.{format}`, `GET /open311/v2/services.{format}` and
/// `GET /open311/v2/requests.{format}`.
pub async fn collection(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let Asked {
        name,
        format,
        params,
    } = match Asked::read(&file, query) {
        Ok(asked) => asked,
        Err((format, e)) => return error_response(format, &e),
    };
    let result = match name.as_str() {
        "discovery" => Ok(model::discovery(
            &endpoint_url(&state, &headers),
            lang(&params),
        )),
        "services" => {
            blocking(move || {
                let reference = state.engine.reference()?;
                jurisdiction(&reference.data.directory, &params)?;
                Ok(model::services(&reference.data.catalog, lang(&params)))
            })
            .await
        }
        "requests" => blocking(move || service_requests(&state, &params)).await,
        _ => Err(not_found_error(
            "no such resource: discovery, services, services/{service_code}, requests and \
             requests/{service_request_id} are offered",
        )),
    };
    answer(format, result)
}

/// `GET /open311/v2/services/{service_code}.{format}`: the item's form attributes.
pub async fn service_definition(
    State(state): State<AppState>,
    Path(file): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let Asked {
        name: code,
        format,
        params,
    } = match Asked::read(&file, query) {
        Ok(asked) => asked,
        Err((format, e)) => return error_response(format, &e),
    };
    let result = blocking(move || {
        let reference = state.engine.reference()?;
        jurisdiction(&reference.data.directory, &params)?;
        let item = reference
            .data
            .catalog
            .item(&code)
            .ok_or_else(|| not_found_error("no such service_code in the catalog"))?;
        Ok(model::service_definition(item, lang(&params)))
    })
    .await;
    answer(format, result)
}

/// `GET /open311/v2/requests/{service_request_id}.{format}`: a list of the one request.
pub async fn service_request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let Asked {
        name: id,
        format,
        params,
    } = match Asked::read(&file, query) {
        Ok(asked) => asked,
        Err((format, e)) => return error_response(format, &e),
    };
    let result = blocking(move || {
        let reference = state.engine.reference()?;
        let scope = jurisdiction(&reference.data.directory, &params)?;
        let row = by_receipt(&state, &reference, &scope, &id)?.ok_or_else(|| {
            not_found_error(
                "no such service_request_id: it is the receipt number printed at filing, \
                 e.g. 370883101201-007-000042",
            )
        })?;
        Ok(model::service_requests(vec![public_request(
            &row,
            &reference,
            lang(&params),
        )]))
    })
    .await;
    answer(format, result)
}

/// Whether `path` is the one path that takes a `POST` (`requests.json`, `requests.xml`).
fn takes_post(path: &str) -> bool {
    matches!(
        path,
        "/open311/v2/requests.json" | "/open311/v2/requests.xml"
    )
}

/// `405` for a method `path` does not take, saying which it does (`Allow`).
fn not_allowed(path: &str) -> Response {
    let (allow, message) = if takes_post(path) {
        (
            "GET, HEAD, POST",
            "requests takes GET (read requests) and POST (file one, with an api_key)",
        )
    } else {
        (
            "GET, HEAD",
            "this endpoint is read only: requests are filed with POST requests.json or \
             requests.xml",
        )
    };
    let mut response = error_response(
        Format::of_path(path),
        &AppError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        ),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Any method a path does not take: `405`.
async fn method_not_allowed(OriginalUri(uri): OriginalUri) -> Response {
    not_allowed(uri.path())
}

/// Anything else under `/open311/`: `404` in the specification's format.
async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    error_response(
        Format::of_path(uri.path()),
        &not_found_error(
            "no such endpoint: the GeoReport v2 API is at /open311/v2/ (discovery.json, \
             services.json, requests.json, or .xml)",
        ),
    )
}

/// The endpoint's URL as the client reached it (for discovery): the `Host` it sent, over HTTPS
/// when the hub is configured for it (secure cookies), else HTTP; the path alone without a
/// usable `Host`.
fn endpoint_url(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(host) => {
            let scheme = if state.console.config().secure_cookies {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}/open311/v2")
        }
        None => "/open311/v2".to_string(),
    }
}

fn public_request(row: &RequestRow, reference: &Current, lang: Lang) -> format::Value {
    model::service_request(
        row,
        &reference.data.catalog,
        &reference.data.directory,
        lang,
    )
}

/// The listed request with this receipt number within `scope`, if any. Blocking.
fn by_receipt(
    state: &AppState,
    reference: &Current,
    scope: &ReadScope,
    id: &str,
) -> Result<Option<RequestRow>, AppError> {
    let Ok(receipt) = ReceiptNo::parse(id) else {
        return Ok(None);
    };
    // A receipt number sorts before every longer one it is the start of: the first row is it
    // if it exists.
    let filter = RequestFilter {
        receipt_prefix: Some(receipt.as_str().to_string()),
        ..RequestFilter::default()
    };
    let listing = state.storage.requests(
        scope,
        &filter,
        RequestSort::ReceiptNo,
        Page::first(1),
        Timestamp::now().china_date(),
        &reference.rules.calendar,
    )?;
    Ok(listing
        .rows
        .into_iter()
        .find(|r| r.receipt_no == receipt.as_str() && model::is_public(r)))
}

/// A `start_date` or `end_date`: a W3C date-time (`2026-03-01T00:00:00+08:00`, `…Z`), or a
/// date alone (China Standard Time: the day's start for `start_date`, its end for `end_date`).
/// A `+` sent unencoded arrives as a space, which is read as the `+` it was.
fn instant(name: &str, text: &str, end_of_day: bool) -> Result<Timestamp, AppError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc3339(&text.replace(' ', "+")))
    {
        return Ok(Timestamp(t.timestamp_millis()));
    }
    if let Ok(day) = text.parse::<NaiveDate>() {
        let time = if end_of_day {
            NaiveTime::from_hms_milli_opt(23, 59, 59, 999)
        } else {
            NaiveTime::from_hms_opt(0, 0, 0)
        }
        .unwrap_or_default();
        let utc = day.and_time(time).and_utc().timestamp_millis() - 8 * 3_600_000;
        return Ok(Timestamp(utc));
    }
    Err(AppError::bad_request(format!(
        "{name} must be a W3C date-time such as 2026-03-01T00:00:00+08:00 (or a date such as \
         2026-03-01)"
    )))
}

/// The range of `requested_datetime` searched: the one given, or the last 90 days; one end
/// given, 90 days from it. At most 90 days.
fn date_range(params: &Params, now: Timestamp) -> Result<(Timestamp, Timestamp), AppError> {
    const SPAN: i64 = MAX_RANGE_DAYS * 86_400_000;
    let start = single(params, "start_date")?
        .map(|s| instant("start_date", &s, false))
        .transpose()?;
    let end = single(params, "end_date")?
        .map(|s| instant("end_date", &s, true))
        .transpose()?;
    let (start, end) = match (start, end) {
        (None, None) => (Timestamp(now.0.saturating_sub(SPAN)), now),
        (Some(s), None) => (s, Timestamp(s.0.saturating_add(SPAN))),
        (None, Some(e)) => (Timestamp(e.0.saturating_sub(SPAN)), e),
        (Some(s), Some(e)) => (s, e),
    };
    if start > end {
        return Err(AppError::bad_request("start_date is after end_date"));
    }
    // Dates alone count whole days: 2026-03-01 to 2026-05-29 is 90 days, a millisecond short.
    if end.0 - start.0 > SPAN {
        return Err(AppError::bad_request(format!(
            "start_date and end_date may not span more than {MAX_RANGE_DAYS} days"
        )));
    }
    Ok((start, end))
}

/// `GET requests`: by `service_request_id` (which overrides every other parameter), else by
/// `service_code`, `status` and the date range, newest first, at most [`MAX_REQUESTS`]. Blocking.
fn service_requests(state: &AppState, params: &Params) -> Result<Document, AppError> {
    let reference = state.engine.reference()?;
    let scope = jurisdiction(&reference.data.directory, params)?;
    let lang = lang(params);
    let ids = values(params, "service_request_id");
    let rows = if ids.is_empty() {
        search(state, &reference, &scope, params)?
    } else {
        let mut seen = BTreeSet::new();
        let mut rows = Vec::new();
        for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
            if rows.len() == MAX_REQUESTS {
                break;
            }
            rows.extend(by_receipt(state, &reference, &scope, id)?);
        }
        rows
    };
    Ok(model::service_requests(
        rows.iter()
            .map(|r| public_request(r, &reference, lang))
            .collect(),
    ))
}

/// The requests filed in the date range with one of the service codes and statuses asked for
/// (any if none), newest first (see [`MAX_SCANNED`]). Blocking.
fn search(
    state: &AppState,
    reference: &Current,
    scope: &ReadScope,
    params: &Params,
) -> Result<Vec<RequestRow>, AppError> {
    let now = Timestamp::now();
    let (start, end) = date_range(params, now)?;
    let codes: BTreeSet<String> = values(params, "service_code").into_iter().collect();
    let statuses: BTreeSet<String> = values(params, "status").into_iter().collect();
    if let Some(bad) = statuses
        .iter()
        .find(|s| !matches!(s.as_str(), "open" | "closed"))
    {
        return Err(AppError::bad_request(format!(
            "status must be open or closed, not {bad:?}"
        )));
    }
    // One service code is filtered by the index; several, here.
    let filter = RequestFilter {
        item_code: (codes.len() == 1)
            .then(|| codes.iter().next().cloned())
            .flatten(),
        ..RequestFilter::default()
    };
    let today = now.china_date();
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut offset = 0;
    'pages: while offset < MAX_SCANNED {
        let page = state.storage.requests(
            scope,
            &filter,
            RequestSort::RecentlyFiled,
            Page {
                offset,
                limit: SCAN_PAGE,
            },
            today,
            &reference.rules.calendar,
        )?;
        for row in page.rows {
            if row.filed_at < start {
                break 'pages;
            }
            let wanted = row.filed_at <= end
                && model::is_public(&row)
                && (codes.is_empty() || codes.contains(&row.item_code))
                && (statuses.is_empty() || statuses.contains(model::open_or_closed(row.status)))
                // A request filed while we read moves the pages on by one: read once.
                && seen.insert(row.receipt_no.clone());
            if wanted {
                found.push(row);
                if found.len() == MAX_REQUESTS {
                    break 'pages;
                }
            }
        }
        if !page.has_more {
            break;
        }
        offset += SCAN_PAGE;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn repeated_and_comma_separated_values_are_one_list() {
        let params = p(&[
            ("service_code", "SOC-CARD, AID-DIBAO"),
            ("service_code", "AID-TEMP"),
            ("status", ""),
        ]);
        assert_eq!(
            values(&params, "service_code"),
            ["SOC-CARD", "AID-DIBAO", "AID-TEMP"]
        );
        assert!(values(&params, "status").is_empty());
        assert!(single(&params, "service_code").is_err());
    }

    #[test]
    fn the_range_defaults_to_ninety_days_and_may_not_be_wider() {
        let now = Timestamp(1_780_000_000_000);
        let day = 86_400_000;
        assert_eq!(
            date_range(&p(&[]), now).unwrap(),
            (Timestamp(now.0 - 90 * day), now)
        );
        let (s, e) = date_range(
            &p(&[("start_date", "2026-03-01"), ("end_date", "2026-05-29")]),
            now,
        )
        .unwrap();
        assert_eq!(s.to_rfc3339(), "2026-03-01T00:00:00+08:00");
        assert_eq!(e.to_rfc3339(), "2026-05-29T23:59:59+08:00");
        assert!(
            date_range(
                &p(&[("start_date", "2026-03-01"), ("end_date", "2026-05-30")]),
                now
            )
            .is_err()
        );
        assert!(
            date_range(
                &p(&[("start_date", "2026-03-02"), ("end_date", "2026-03-01")]),
                now
            )
            .is_err()
        );
        let (s, e) = date_range(&p(&[("start_date", "2026-03-01T00:00:00 08:00")]), now).unwrap();
        assert_eq!(s.to_rfc3339(), "2026-03-01T00:00:00+08:00");
        assert_eq!(e.0 - s.0, 90 * day);
        assert_eq!(
            date_range(&p(&[("end_date", "2026-03-01T00:00:00Z")]), now)
                .unwrap()
                .1
                .to_rfc3339(),
            "2026-03-01T08:00:00+08:00"
        );
        assert!(date_range(&p(&[("start_date", "yesterday")]), now).is_err());
    }

    #[test]
    fn a_jurisdiction_is_the_county_or_one_of_its_townships() {
        let d = bianmin_domain::demo::directory();
        assert_eq!(
            jurisdiction(&d, &p(&[])).unwrap(),
            ReadScope::County("370883".into())
        );
        assert_eq!(
            jurisdiction(&d, &p(&[("jurisdiction_id", "370883102")])).unwrap(),
            ReadScope::Township("370883102".into())
        );
        for other in ["370884", "370883101201", "x"] {
            let e = jurisdiction(&d, &p(&[("jurisdiction_id", other)])).unwrap_err();
            assert_eq!(e.status, StatusCode::NOT_FOUND);
        }
    }
}
