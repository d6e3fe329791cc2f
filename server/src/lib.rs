//! # Bianmin's township hub
//!
//! Authenticates devices, checks every change they push against the domain rules and the
//! sender's role (with the same code the tablets run), keeps the authoritative copy of every
//! document, and serves each device only what its role may read.
//!
//! - [`app`] builds the HTTP router (tested with `tower::ServiceExt::oneshot`, served by `main`).
//! - [`engine`]: enrolment and sync rounds. [`storage`]: the storage trait and its SQLite backend.
//! - [`admin`]: users, enrolment codes, revocation, reference data (the CLI and the console).

pub mod admin;
pub mod api;
pub mod auth;
pub mod backup;
pub mod blob_api;
pub mod blobs;
pub mod demo;
pub mod engine;
pub mod error;
pub mod password;
pub mod reference;
pub mod storage;
pub mod web;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::AppError;

/// The largest request body accepted (a first push of a whole village fits well within it).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The storage backend.
    pub storage: Arc<dyn storage::Storage>,
    /// The sync engine.
    pub engine: Arc<engine::Engine>,
    /// The console's sessions, sign-in throttling and settings.
    pub console: Arc<web::console::Console>,
    /// The attachment bytes; `None` (the blob endpoints answer 503) until
    /// [`AppState::with_blobs`] gives a store.
    pub blobs: Option<Arc<dyn blobs::BlobStore>>,
    /// The reverse proxies whose `X-Forwarded-For` names the client (for the public look-up's
    /// limits); none by default.
    pub trusted_proxies: Arc<[IpAddr]>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// State over a storage backend.
    pub fn new(storage: Arc<dyn storage::Storage>) -> Self {
        let engine = Arc::new(engine::Engine::new(storage.clone()));
        let session_storage = storage.clone();
        engine.start_maintenance();
        AppState {
            engine,
            storage,
            console: Arc::new(web::console::Console::new(
                web::console::ConsoleConfig::default(),
                session_storage,
            )),
            blobs: None,
            trusted_proxies: Arc::new([]),
        }
    }

    /// The same state reading the client's address from these reverse proxies'
    /// `X-Forwarded-For` (see [`web::public::limiter::client_ip`]).
    pub fn with_trusted_proxies(mut self, proxies: Vec<IpAddr>) -> Self {
        self.trusted_proxies = proxies.into_iter().map(|ip| ip.to_canonical()).collect();
        self
    }

    /// The same state keeping attachment bytes in `blobs`.
    pub fn with_blobs(mut self, blobs: Arc<dyn blobs::BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// The same state with other console settings (sessions stored earlier still count).
    pub fn with_console(mut self, config: web::console::ConsoleConfig) -> Self {
        self.console = Arc::new(web::console::Console::new(config, self.storage.clone()));
        self
    }
}

/// Behind a trusted reverse proxy: records the client's address from `X-Forwarded-For`.
async fn resolve_client(
    axum::extract::State(trusted): axum::extract::State<Arc<[IpAddr]>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let headers: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client = web::public::limiter::client_ip(peer, &headers, &trusted);
        req.extensions_mut()
            .insert(web::public::limiter::ClientAddr(client));
    }
    next.run(req).await
}

/// The hub's HTTP application.
pub fn app(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let trusted = state.trusted_proxies.clone();
    let router = Router::new()
        .merge(api::routes())
        .merge(blob_api::routes())
        .merge(web::routes())
        .fallback(|| async {
            AppError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let router = if trusted.is_empty() {
        router
    } else {
        router.layer(axum::middleware::from_fn_with_state(
            trusted,
            resolve_client,
        ))
    };
    router
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_string();
                // Method and path only: no query strings or bodies in logs.
                tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
