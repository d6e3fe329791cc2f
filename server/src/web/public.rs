//! The public side of the hub, for anyone, without signing in (see `docs/public-pages.md`):
//!
//! - [`notices`]: the county's villages (`/public`), each village's agenda items on public
//!   notice (`/public/villages/{code}`) and the same as JSON for other systems
//!   (`/api/v1/public/villages/{code}/notices`);
//! - [`lookup`]: a resident's status look-up by receipt number and the last four characters of
//!   the ID number (`/lookup`), slowed down against guessing by [`limiter`].
//!
//! Nothing here shows personal data: no names, ID numbers, phone numbers or user ids.

pub mod landing;
pub mod limiter;
pub mod lookup;
pub mod notices;

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};

use self::limiter::{Limiter, LimiterConfig};
use super::blocking;
use super::i18n::{Lang, tr};
use crate::AppState;
use crate::storage::Storage;

/// What the public handlers share: the look-up limits. One per router, so each application
/// (and each test hub) may have its own; the counts themselves are in the storage, shared by
/// every hub process on it (see [`limiter`]). Reference data comes from the one cache
/// ([`crate::reference`]).
#[derive(Debug)]
pub struct Public {
    /// The look-up limits.
    pub limits: LimiterConfig,
}

impl Public {
    /// Shared state with these look-up limits.
    pub fn new(limits: LimiterConfig) -> Self {
        Public { limits }
    }

    /// The look-up limiter, counting in `storage`.
    pub fn limiter(&self, storage: Arc<dyn Storage>) -> Limiter {
        Limiter::new(self.limits.clone(), storage)
    }
}

/// The public routes (merged into [`super::routes`]), with the default look-up limits.
pub fn routes() -> Router<AppState> {
    routes_with(LimiterConfig::default())
}

/// The public routes with other look-up limits.
pub fn routes_with(limits: LimiterConfig) -> Router<AppState> {
    Router::new()
        .route("/", get(landing::page_for_all))
        .route("/public", get(notices::index))
        .route("/public/villages/{code}", get(notices::village_page))
        .route("/api/v1/public/villages", get(notices::villages_json))
        .route(
            "/api/v1/public/villages/{code}/notices",
            get(notices::village_json),
        )
        .route("/lookup", get(lookup::form).post(lookup::submit))
        .layer(Extension(Arc::new(Public::new(limits))))
}

/// The top bar's links on public pages.
fn nav(lang: Lang) -> Vec<(&'static str, String)> {
    vec![
        (
            tr(lang, "村务公开", "Village notices"),
            "/public".to_string(),
        ),
        (
            tr(lang, "办件查询", "Check a request"),
            "/lookup".to_string(),
        ),
    ]
}
