//! The web side of the hub: the township console (signed-in reviewers and administrators) and
//! the public pages (village notices, residents' status look-up). Server-rendered HTML (maud),
//! little JavaScript, Chinese by default with English switchable.
//!
//! - [`i18n`]: the language of a request and the two-language strings.
//! - [`layout`]: the page shell every page is drawn in.

pub mod i18n;
pub mod layout;

use axum::Router;

use crate::AppState;

/// The routes of the web side (merged into [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
}
