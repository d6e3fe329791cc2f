//! The attachment endpoints of the sync API (see "Attachments" in `docs/sync-protocol.md`):
//! resumable uploads of attachment bytes in chunks, their status, and their download, each
//! allowed to a device only if a request it may read refers to the blob.
//!
//! - `GET /api/v1/blobs/{sha256}/status` → `{"sha256", "received", "complete"}`.
//! - `PUT /api/v1/blobs/{sha256}?offset=N`, body the next chunk (at most [`MAX_CHUNK_BYTES`]).
//! - `GET /api/v1/blobs/{sha256}` with an optional `Range: bytes=N-` → the bytes.
//!
//! The size and media type of a blob are the ones its reference in the request gives: the hub
//! checks the first chunk's signature against the media type, refuses bytes beyond the size,
//! and verifies the SHA-256 once it has them all.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bianmin_domain::MediaType;
use bianmin_domain::attachment::validate_sha256;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::AuthedDevice;
use crate::blobs::{BlobError, BlobStore, OpenBlob};
use crate::engine::read_scope;
use crate::error::AppError;
use crate::storage::{BlobReference, Storage};

/// The largest chunk one `PUT` may carry.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;

/// How much of a blob the hub holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatus {
    /// The blob's address.
    pub sha256: String,
    /// How many bytes the hub holds (the offset to send next).
    pub received: u64,
    /// Whether the hub has it all, verified.
    pub complete: bool,
}

/// The routes of the attachment endpoints.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/blobs/{sha256}", get(download).put(upload))
        .route("/api/v1/blobs/{sha256}/status", get(status))
}

/// A refusal of an upload: an error, or a chunk at the wrong offset (409 with the hub's count
/// in the body, so the client resumes from there).
#[derive(Debug)]
enum Refused {
    App(AppError),
    Offset(u64),
}

impl From<AppError> for Refused {
    fn from(e: AppError) -> Self {
        Refused::App(e)
    }
}

impl From<BlobError> for Refused {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::OffsetMismatch { received } => Refused::Offset(received),
            other => Refused::App(blob_error(other)),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::App(e) => e.into_response(),
            Refused::Offset(received) => (
                StatusCode::CONFLICT,
                Json(serde_json::json!({
                    "error": {
                        "code": "offset_mismatch",
                        "message": format!(
                            "the hub holds {received} bytes of this attachment: send the chunk \
                             at offset {received}"
                        ),
                    },
                    "received": received,
                })),
            )
                .into_response(),
        }
    }
}

fn blob_error(e: BlobError) -> AppError {
    match e {
        BlobError::BadAddress => AppError::bad_request("not a SHA-256 address"),
        BlobError::HashMismatch { .. } => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "hash_mismatch",
            "the bytes received do not match the attachment's SHA-256; the upload was \
             discarded: send it again from offset 0",
        ),
        BlobError::OffsetMismatch { received } => AppError::new(
            StatusCode::CONFLICT,
            "offset_mismatch",
            format!("the hub holds {received} bytes of this attachment"),
        ),
        BlobError::Io(e) => AppError::internal(e),
    }
}

fn store_of(state: &AppState) -> Result<Arc<dyn BlobStore>, AppError> {
    state.blobs.clone().ok_or_else(|| {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "blobs_unavailable",
            "this hub keeps no attachments",
        )
    })
}

/// The reference to `sha256` in a request the device may read, or 403.
fn readable_reference(
    storage: &dyn Storage,
    who: &AuthedDevice,
    sha256: &str,
) -> Result<BlobReference, AppError> {
    validate_sha256(sha256).map_err(|_| AppError::bad_request("not a SHA-256 address"))?;
    let scope = read_scope(who.identity.role, &who.identity.user, &who.identity.area);
    storage
        .blob_references(sha256)?
        .into_iter()
        .find(|r| r.readable_in(&scope))
        .ok_or_else(|| {
            AppError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "no request this device may read refers to this attachment (sync the request \
                 first)",
            )
        })
}

fn status_of(store: &dyn BlobStore, sha256: &str) -> Result<BlobStatus, BlobError> {
    Ok(BlobStatus {
        sha256: sha256.to_string(),
        received: store.received(sha256)?,
        complete: store.is_complete(sha256)?,
    })
}

async fn blocking<T: Send + 'static, E: From<AppError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(AppError::internal(e)))?
}

/// `GET /api/v1/blobs/{sha256}/status`.
async fn status(
    State(state): State<AppState>,
    who: AuthedDevice,
    Path(sha256): Path<String>,
) -> Result<Json<BlobStatus>, AppError> {
    let store = store_of(&state)?;
    let storage = state.storage.clone();
    blocking(move || {
        readable_reference(storage.as_ref(), &who, &sha256)?;
        status_of(store.as_ref(), &sha256).map_err(blob_error)
    })
    .await
    .map(Json)
}

fn offset_of(query: Option<&str>) -> Result<u64, AppError> {
    query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("offset="))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| AppError::bad_request("give the chunk's position as '?offset=<bytes>'"))
}

fn chunk_too_large() -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "chunk_too_large",
        format!("a chunk may hold at most {MAX_CHUNK_BYTES} bytes"),
    )
}

/// `PUT /api/v1/blobs/{sha256}?offset=N`.
async fn upload(
    State(state): State<AppState>,
    who: AuthedDevice,
    Path(sha256): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BlobStatus>, Refused> {
    let store = store_of(&state)?;
    let offset = offset_of(query.as_deref())?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_CHUNK_BYTES as u64) {
        return Err(chunk_too_large().into());
    }
    let (chunk, cut) = read_chunk(body).await?;
    state.metrics.blob_received(chunk.len());
    // A chunk cut off by the link keeps what arrived: the device resumes from its last byte
    // (it asks `status`), so nothing that crossed the link is sent twice. Too short a start
    // to show the file's signature is not kept.
    let keep = !cut || offset > 0 || chunk.len() >= SIGNATURE_BYTES;
    let storage = state.storage.clone();
    let kept = chunk.len();
    let stored = blocking(move || {
        let chunk = if keep { &chunk[..] } else { &[][..] };
        accept_chunk(
            storage.as_ref(),
            store.as_ref(),
            &who,
            &sha256,
            offset,
            chunk,
        )
    })
    .await;
    if cut {
        tracing::info!(
            offset,
            kept = if keep { kept } else { 0 },
            "attachment chunk cut off by the link; the bytes that arrived are kept"
        );
        return Err(AppError::bad_request("the chunk's body ended before its length").into());
    }
    stored.map(Json)
}

/// Bytes a cut first chunk must hold to be kept (enough for every file signature checked).
const SIGNATURE_BYTES: usize = 16;

/// The chunk's bytes as they arrive, and whether the body was cut off before its end (the
/// link dropped): then what arrived is returned all the same.
async fn read_chunk(body: Body) -> Result<(Vec<u8>, bool), AppError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut chunk = Vec::new();
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(data) => {
                if chunk.len() + data.len() > MAX_CHUNK_BYTES {
                    return Err(chunk_too_large());
                }
                chunk.extend_from_slice(&data);
            }
            Err(_) => return Ok((chunk, true)),
        }
    }
    Ok((chunk, false))
}

fn accept_chunk(
    storage: &dyn Storage,
    store: &dyn BlobStore,
    who: &AuthedDevice,
    sha256: &str,
    offset: u64,
    chunk: &[u8],
) -> Result<BlobStatus, Refused> {
    let reference = readable_reference(storage, who, sha256)?;
    if store.is_complete(sha256)? {
        // Already here (uploaded by this or another device): nothing more to send.
        return Ok(status_of(store, sha256)?);
    }
    let received = store.received(sha256)?;
    if offset != received {
        return Err(Refused::Offset(received));
    }
    let end = offset + chunk.len() as u64;
    if end > reference.size {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the attachment's reference gives {} bytes; this chunk would end at {end}",
                reference.size
            ),
        )
        .into());
    }
    if offset == 0 && !chunk.is_empty() {
        let expected = MediaType::parse(&reference.media_type).map_err(AppError::internal)?;
        if MediaType::sniff(chunk) != Some(expected) {
            store.discard(sha256)?;
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "media_type",
                format!(
                    "the bytes are not {} as the attachment's reference says (the first chunk \
                     must start with the file's signature)",
                    expected.as_str()
                ),
            )
            .into());
        }
    }
    let held = if chunk.is_empty() {
        received
    } else {
        store.append(sha256, offset, chunk)?
    };
    if held == reference.size {
        store.finish(sha256)?;
        tracing::info!(size = held, "attachment stored");
    }
    Ok(status_of(store, sha256)?)
}

/// A single `Range: bytes=N-` or `bytes=N-M` header: first byte and, if given, last byte;
/// `None` for anything else (the whole blob is served).
pub(crate) fn range_of(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = v.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse().ok().filter(|e| *e >= start)?),
    };
    Some((start, end))
}

/// A stored blob as a response: 200 with the whole, or 206 with the range (to its end if no
/// last byte is given; 416 if it starts past the end), streamed from the file.
pub(crate) fn serve_blob(
    blob: OpenBlob,
    media_type: &str,
    range: Option<(u64, Option<u64>)>,
) -> Response {
    let OpenBlob { mut reader, len } = blob;
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    let (status, from, to) = match range {
        Some((s, _)) if s >= len => {
            let range = HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii");
            headers.insert(header::CONTENT_RANGE, range);
            let mut res = AppError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the attachment has {len} bytes"),
            )
            .into_response();
            res.headers_mut().extend(headers);
            return res;
        }
        Some((s, end)) => {
            let last = end.unwrap_or(u64::MAX).min(len - 1);
            let range = format!("bytes {s}-{last}/{len}");
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&range).expect("ascii"),
            );
            (StatusCode::PARTIAL_CONTENT, s, last + 1)
        }
        None => (StatusCode::OK, 0, len),
    };
    if from > 0
        && let Err(e) = reader.seek(SeekFrom::Start(from))
    {
        return AppError::internal(e).into_response();
    }
    let content_type = HeaderValue::from_str(media_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(to - from));
    let stream = futures_util::stream::unfold(
        (Some(reader), to - from),
        |(reader, remaining)| async move {
            let mut reader = reader?;
            if remaining == 0 {
                return None;
            }
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; remaining.min(64 * 1024) as usize];
                let n = reader.read(&mut buf)?;
                buf.truncate(n);
                Ok::<_, std::io::Error>((reader, buf))
            })
            .await;
            match read {
                Ok(Ok((reader, buf))) if !buf.is_empty() => {
                    let n = buf.len() as u64;
                    Some((Ok(Bytes::from(buf)), (Some(reader), remaining - n)))
                }
                Ok(Ok(_)) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the stored attachment is shorter than its length",
                    )),
                    (None, 0),
                )),
                Ok(Err(e)) => Some((Err(e), (None, 0))),
                Err(e) => Some((Err(std::io::Error::other(e)), (None, 0))),
            }
        },
    );
    (status, headers, Body::from_stream(stream)).into_response()
}

/// `GET /api/v1/blobs/{sha256}`, optionally with `Range: bytes=N-`.
async fn download(
    State(state): State<AppState>,
    who: AuthedDevice,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let store = store_of(&state)?;
    let storage = state.storage.clone();
    let (blob, media_type) = blocking(move || {
        let reference = readable_reference(storage.as_ref(), &who, &sha256)?;
        let blob = store.open(&sha256).map_err(blob_error)?.ok_or_else(|| {
            AppError::new(
                StatusCode::NOT_FOUND,
                "not_uploaded",
                "the hub does not have this attachment's bytes yet",
            )
        })?;
        Ok::<_, AppError>((blob, reference.media_type))
    })
    .await?;
    let res = serve_blob(blob, &media_type, range_of(&headers));
    Ok(state.metrics.count_sent(res))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_ranges_are_read() {
        assert_eq!(offset_of(Some("offset=42")).unwrap(), 42);
        assert_eq!(offset_of(Some("x=1&offset=0")).unwrap(), 0);
        assert!(offset_of(None).is_err());
        assert!(offset_of(Some("offset=-1")).is_err());
        let mut h = HeaderMap::new();
        assert_eq!(range_of(&h), None);
        h.insert(header::RANGE, HeaderValue::from_static("bytes=100-"));
        assert_eq!(range_of(&h), Some((100, None)));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=5-9"));
        assert_eq!(range_of(&h), Some((5, Some(9))));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=9-5"));
        assert_eq!(range_of(&h), None);
        h.insert(header::RANGE, HeaderValue::from_static("items=5-"));
        assert_eq!(range_of(&h), None);
    }
}
