//! # Bianmin's township hub
//!
//! Authenticates devices, checks every change they push against the domain rules and the
//! sender's role (with the same code the tablets run), keeps the authoritative copy of every
//! document, and serves each device only what its role may read.
//!
//! - [`app`] builds the HTTP router (tested with `tower::ServiceExt::oneshot`, served by `main`).
//! - [`engine`]: enrolment and sync rounds. [`storage`]: the storage trait and its SQLite backend.
//! - [`notices`]: live notices for the devices connected here of pushes stored by any hub
//!   sharing the storage.
//! - [`admin`]: users, enrolment codes, revocation, reference data (the CLI and the console).
//! - [`limits`]: what one client can make the hub do; [`serve::serve`] applies the connection
//!   limits, [`app`] the per-request ones.
//! - [`metrics`]: `/metrics` and `/readyz`, for running several hubs behind a load balancer.

pub mod admin;
pub mod api;
pub mod auth;
pub mod backup;
pub mod blob_api;
pub mod blobs;
pub mod demo;
pub mod engine;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod notices;
pub mod password;
pub mod photos;
pub mod reference;
pub mod serve;
pub mod storage;
pub mod web;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::AppError;
pub use limits::Limits;

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
    /// The hub's limits ([`Limits::default`] unless [`AppState::with_limits`]).
    pub limits: Arc<Limits>,
    /// Where passwords are hashed and verified, a bounded number at once.
    pub hashing: Arc<password::HashingPool>,
    /// The figures of `/metrics`, and whether shutdown has begun (`/readyz`).
    pub metrics: Arc<metrics::Metrics>,
    /// Where residents' photos are scaled, a bounded number at once.
    pub photos: photos::Photos,
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
        // Devices connected here hear of pushes stored by any hub sharing the storage.
        engine.start_notices();
        AppState {
            engine,
            storage,
            console: Arc::new(web::console::Console::new(
                web::console::ConsoleConfig::default(),
                session_storage,
            )),
            blobs: None,
            trusted_proxies: Arc::new([]),
            hashing: Arc::new(password::HashingPool::new(&Limits::default().hashing)),
            limits: Arc::new(Limits::default()),
            metrics: Arc::new(metrics::Metrics::new()),
            photos: photos::Photos::new(Limits::default().photo_workers),
        }
    }

    /// The same state with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.hashing = Arc::new(password::HashingPool::new(&limits.hashing));
        self.photos = photos::Photos::new(limits.photo_workers);
        self.limits = Arc::new(limits);
        self
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

/// Answers `408 request_timeout` when the inner handler takes longer than `limit` (its body
/// included: handlers read their body before answering). Streams (live notices, downloads)
/// are not cut: the limit ends once the response starts.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            use axum::response::IntoResponse;
            AppError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request took longer than {} s; send it again",
                    limit.as_secs()
                ),
            )
            .into_response()
        }
    }
}

/// `routes` with a body limit and a time limit.
fn limited(routes: Router<AppState>, body_bytes: usize, time: Duration) -> Router<AppState> {
    routes
        .layer(DefaultBodyLimit::max(body_bytes))
        .layer(axum::middleware::from_fn_with_state(time, time_limit))
}

/// The hub's HTTP application.
pub fn app(state: AppState) -> Router {
    let l = state.limits.clone();
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let trusted = state.trusted_proxies.clone();
    let policy = web::headers::HeaderPolicy {
        secure: state.console.config().secure_cookies,
    };
    let router = Router::new()
        .merge(limited(
            api::routes().merge(blob_api::routes()),
            l.sync_body_bytes,
            l.api_timeout,
        ))
        .merge(limited(web::routes(), l.form_body_bytes, l.page_timeout))
        .merge(limited(
            web::import_routes(),
            l.import_body_bytes,
            l.page_timeout,
        ))
        // A resident's photos come over a phone's link: the attachment endpoints' time.
        .merge(limited(
            web::photo_routes(),
            l.photo_body_bytes.saturating_mul(4),
            l.api_timeout,
        ))
        .fallback(|| async {
            AppError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint",
            )
        })
        .layer(RequestBodyTimeoutLayer::new(l.body_idle_timeout));
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
        .layer(axum::middleware::from_fn_with_state(
            policy,
            web::headers::set_headers,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // The hub makes every request id itself: a client's own is dropped, never logged.
        .layer(axum::middleware::map_request(
            |mut req: axum::extract::Request| async move {
                req.headers_mut().remove("x-request-id");
                req
            },
        ))
        // The outermost layer: every answer is counted with its final status.
        .layer(metrics::CountRequests::new(state.metrics.clone()))
        .with_state(state)
}
