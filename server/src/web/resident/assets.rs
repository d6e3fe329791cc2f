//! The resident pages' scripts: progressive enhancement of pages that work without them.
//!
//! - `assets/outbox.js`: what the phone keeps and sends: the forms saved on it (IndexedDB),
//!   photos sent in pieces, resumed from the hub's count ([`super::uploads`]), then the form.
//!   Loaded by the pages and by the service worker.
//! - `assets/resident.js`: the pages' part: photos scaled on the phone before anything is sent,
//!   a form saved on the phone when submitted and sent at once or when the link returns, the
//!   state of what is saved shown on every page, the service worker registered.
//! - `assets/sw.js`: the service worker (scope `/resident`): the pages visited and the scripts
//!   and style sheet kept for offline use, and the saved forms sent by Background Sync where
//!   the browser has it.
//!
//! Plain JavaScript, no framework, nothing from elsewhere. The two scripts are served at
//! addresses that carry a hash of their content (`/assets/resident-outbox.<hash>.js`), cached
//! for a year and never revalidated: a new hub version changes the address. The service worker
//! must keep one address (browsers look for its updates there): `/resident/sw.js`, never
//! cached, with the scripts' current addresses written into it. The Content-Security-Policy of
//! the resident pages allows scripts from the hub only, and none inline (`web::headers`).

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::AppState;

const OUTBOX_JS: &str = include_str!("assets/outbox.js");
const PAGE_JS: &str = include_str!("assets/resident.js");
const SERVICE_WORKER_JS: &str = include_str!("assets/sw.js");

/// Where the service worker is served: its scope is the resident pages (`/resident` and below,
/// which the header `Service-Worker-Allowed` permits from here).
pub(crate) const SERVICE_WORKER: &str = "/resident/sw.js";
/// The scope the service worker is registered with.
pub(crate) const SCOPE: &str = "/resident";

/// The scripts' addresses, and the service worker as served.
struct Assets {
    outbox: String,
    page: String,
    service_worker: String,
}

/// `/assets/<name>.<first 12 hex digits of the content's SHA-256>.js`.
fn hashed(name: &str, content: &str) -> String {
    let digest = hex::encode(Sha256::digest(content.as_bytes()));
    format!("/assets/{name}.{}.js", &digest[..12])
}

/// Computed once from the scripts compiled in: nothing changes while the hub runs.
static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let outbox = hashed("resident-outbox", OUTBOX_JS);
    let page = hashed("resident-page", PAGE_JS);
    let version = {
        let digest = Sha256::digest(format!("{OUTBOX_JS}{PAGE_JS}{SERVICE_WORKER_JS}"));
        hex::encode(&digest[..6])
    };
    let service_worker = SERVICE_WORKER_JS
        .replace("__OUTBOX_URL__", &outbox)
        .replace("__PAGE_URL__", &page)
        .replace("__VERSION__", &version);
    Assets {
        outbox,
        page,
        service_worker,
    }
});

/// The scripts every resident page loads, in order (`defer`).
pub(crate) fn scripts() -> [&'static str; 2] {
    [ASSETS.outbox.as_str(), ASSETS.page.as_str()]
}

/// The routes of the scripts and the service worker.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(&ASSETS.outbox, get(|| async { script(OUTBOX_JS) }))
        .route(&ASSETS.page, get(|| async { script(PAGE_JS) }))
        .route(SERVICE_WORKER, get(service_worker))
}

fn javascript() -> HeaderValue {
    HeaderValue::from_static("text/javascript; charset=utf-8")
}

fn script(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, javascript()),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
}

async fn service_worker() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, javascript()),
            // Looked for afresh every time: its updates must reach the phone.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::HeaderName::from_static("service-worker-allowed"),
                HeaderValue::from_static(SCOPE),
            ),
        ],
        ASSETS.service_worker.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_addressed_by_their_content_and_the_worker_knows_them() {
        let [outbox, page] = scripts();
        assert!(outbox.starts_with("/assets/resident-outbox."), "{outbox}");
        assert!(page.starts_with("/assets/resident-page."), "{page}");
        assert_eq!(hashed("x", "a"), hashed("x", "a"));
        assert_ne!(hashed("x", "a"), hashed("x", "b"));
        let sw = &ASSETS.service_worker;
        assert!(
            sw.contains(outbox) && sw.contains(page),
            "the worker caches them"
        );
        assert!(!sw.contains("__"), "every placeholder filled in");
    }
}
