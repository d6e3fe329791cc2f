//! The web side of the hub: the township console (signed-in reviewers and administrators) and
//! the public pages (village notices, residents' status look-up). Server-rendered HTML (maud),
//! little JavaScript, Chinese by default with English switchable.
//!
//! - [`i18n`]: the language of a request and the two-language strings.
//! - [`layout`]: the page shell every page is drawn in.
//! - [`console`]: the township console (sign-in, work queue, request and agenda pages).
//! - [`public`]: the public notices of each village and the residents' status look-up.
//! - [`resident`]: the pages of a signed-in resident on a phone (`/resident`): activation,
//!   sign-in, their own requests; filing one with photos, supplementing, withdrawing, rating.
//! - [`open311`]: the Open311 GeoReport v2 API (`/open311/v2/`): the catalog as services, the
//!   requests' public fields, and filing by registered applications with an API key.
//! - [`dashboard`]: the console dashboard's figures, charts and exports (pure functions).
//! - [`ledger`]: the request ledger (台账) export and each request's standing on the clock
//!   (pure functions).
//! - `cookies`: reading and setting cookies (one format for all).
//! - [`headers`]: the response headers of every answer (CSP, caching, HSTS, cookies).
//!
//! The style sheet is one static file, `/assets/bianmin.css`: the pages carry no inline style
//! or script, so the Content-Security-Policy can forbid both.

pub mod console;
pub(crate) mod cookies;
pub mod dashboard;
pub mod headers;
pub mod i18n;
pub mod layout;
pub mod ledger;
pub mod open311;
pub mod public;
pub mod resident;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;
use crate::error::AppError;

/// Runs `f` off the async workers (every storage call of a page: a PostgreSQL storage must not
/// be called on one) and returns what it returns.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AppError::internal)?
}

/// The style sheet of every page.
pub const STYLESHEET: &str = include_str!("web/bianmin.css");

/// The routes of the web side whose bodies are small forms (merged into [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(console::routes())
        .merge(public::routes())
        .merge(resident::routes())
        .merge(open311::routes())
        .route("/assets/bianmin.css", get(stylesheet))
}

/// The routes of the web side that take an uploaded file (merged into [`crate::app`]).
pub fn import_routes() -> Router<AppState> {
    console::import_routes()
}

/// The routes of the web side that take a resident's photos (merged into [`crate::app`]: their
/// bodies are counted against `Limits::photo_body_bytes` by the handlers themselves).
pub fn photo_routes() -> Router<AppState> {
    resident::photo_routes()
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        STYLESHEET,
    )
}
