//! The web side of the hub: the township console (signed-in reviewers and administrators) and
//! the public pages (village notices, residents' status look-up). Server-rendered HTML (maud),
//! little JavaScript, Chinese by default with English switchable.
//!
//! - [`i18n`]: the language of a request and the two-language strings.
//! - [`layout`]: the page shell every page is drawn in.
//! - [`console`]: the township console (sign-in, work queue, request and agenda pages).
//! - [`public`]: the public notices of each village and the residents' status look-up.
//! - [`dashboard`]: the console dashboard's figures, charts and exports (pure functions).

pub mod console;
pub mod dashboard;
pub mod i18n;
pub mod layout;
pub mod public;

use axum::Router;

use crate::AppState;

/// The routes of the web side (merged into [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(console::routes())
        .merge(public::routes())
}
