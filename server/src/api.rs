//! The HTTP API of the sync protocol (see `docs/sync-protocol.md`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use bianmin_protocol::{EnrolRequest, EnrolResponse, SyncRequest, SyncResponse};
use futures_util::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

use crate::AppState;
use crate::auth::AuthedDevice;
use crate::engine::read_scope;
use crate::error::AppError;
use crate::metrics::timing_pushes;

mod residents;

/// A JSON body whose rejections use the hub's error format.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                // Every body that does not parse into the message (syntax, or data such as
                // invalid base64, which axum answers with 422) is a `bad_request`, 400.
                let (status, code) = match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
                    }
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                    }
                    _ => (StatusCode::BAD_REQUEST, "bad_request"),
                };
                let mut text = rejection.body_text();
                // The message may quote the body: cut on a character boundary.
                let mut cut = text.len().min(300);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                Err(AppError::new(status, code, text))
            }
        }
    }
}

/// The routes of the sync API. Sync bodies may be gzip-compressed both ways
/// (`Content-Encoding` / `Accept-Encoding`): a village's mobile link carries a third of the
/// bytes. The size limit applies to the decompressed body.
pub fn routes() -> Router<AppState> {
    let sync_route = post(sync)
        .layer::<_, Infallible>(
            CompressionLayer::new()
                .gzip(true)
                .no_br()
                .no_deflate()
                .no_zstd(),
        )
        .layer::<_, Infallible>(
            RequestDecompressionLayer::new()
                .gzip(true)
                .no_br()
                .no_deflate()
                .no_zstd(),
        );
    Router::new()
        .route("/api/v1/enrol", post(enrol))
        .route("/api/v1/sync", sync_route)
        .route("/api/v1/events", get(events))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(crate::metrics::readyz))
        .route("/metrics", get(crate::metrics::scrape))
        .merge(residents::routes())
}

async fn enrol(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EnrolRequest>,
) -> Result<Json<EnrolResponse>, AppError> {
    let engine = state.engine.clone();
    let res = tokio::task::spawn_blocking(move || engine.enrol(req))
        .await
        .map_err(AppError::internal)??;
    Ok(Json(res))
}

async fn sync(
    State(state): State<AppState>,
    who: AuthedDevice,
    ApiJson(req): ApiJson<SyncRequest>,
) -> Result<Json<SyncResponse>, AppError> {
    let engine = state.engine.clone();
    let (res, push_time) =
        tokio::task::spawn_blocking(move || timing_pushes(|| engine.sync(&who, req)))
            .await
            .map_err(AppError::internal)?;
    let res = res?;
    state.metrics.sync_round(&res, push_time);
    Ok(Json(res))
}

/// Server-sent events: `changes` whenever something in the device's scope was stored, so an
/// online tablet syncs within a second of a township decision without polling. The stream ends
/// when the device is revoked, or when the hub begins to shut down (the device connects again).
async fn events(
    State(state): State<AppState>,
    who: AuthedDevice,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let scope = read_scope(who.identity.role, &who.identity.user, &who.identity.area);
    let own = who.device.id.clone();
    let stream = BroadcastStream::new(state.engine.subscribe()).filter_map(move |notice| {
        match notice {
            // A device's own pushes are not news to it (no empty sync round after each).
            Ok(n) if n.visible_to(&scope) && n.from_device != own => Some(Ok(Event::default()
                .event("changes")
                .data(n.seq.to_string()))),
            Ok(_) => None,
            // Missed notices: tell the device to sync anyway.
            Err(_) => Some(Ok(Event::default().event("changes").data("0"))),
        }
    });
    let ended = revoked(state.storage.clone(), who.token_hash);
    let stream = futures_util::StreamExt::take_until(stream, ended);
    let stream = state.metrics.live_stream(stream);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// How often an open event stream checks that its device may still receive notices.
pub const STREAM_RECHECK: Duration = Duration::from_secs(5);

/// Completes once the device with this token is revoked, its token gone or its staff user
/// deactivated ([`crate::auth::device_standing`]), checked every [`STREAM_RECHECK`]: the
/// administrator's action may come from another process (the command line), so storage is
/// asked, not a message waited for.
async fn revoked(storage: std::sync::Arc<dyn crate::storage::Storage>, token_hash: String) {
    let mut tick = tokio::time::interval(STREAM_RECHECK);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (storage, hash) = (storage.clone(), token_hash.clone());
        let found = tokio::task::spawn_blocking(move || {
            crate::auth::device_standing(storage.as_ref(), &hash)
        })
        .await;
        match found {
            Ok(Ok(crate::auth::Standing::Allowed(_))) => continue,
            // A storage hiccup keeps the stream; the next tick asks again.
            Ok(Err(e)) => tracing::warn!(error = %e, "event stream: device check failed"),
            _ => {
                tracing::info!(
                    "event stream closed: the device was revoked or its user deactivated"
                );
                return;
            }
        }
    }
}
