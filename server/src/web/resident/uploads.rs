//! Photos sent in pieces by the resident pages' script (progressive enhancement: every form
//! works without it, sending its photos in the multipart body as before).
//!
//! With the script, a phone scales each photo itself (at most 1600 px on its long side, as a
//! JPEG, which also leaves its EXIF behind) and sends it here in pieces of [`PIECE_BYTES`],
//! each acknowledged with how much the hub holds; after a cut it asks, and goes on from there.
//! The form is then posted with each photo named by its address instead of carrying its bytes
//! (`photo_sha-<i>`), and the hub takes the photo from here through [`crate::photos`] exactly
//! as one sent in the form: the hub trusts nothing the phone did to it.
//!
//! - `GET /resident/uploads`: what the script needs to send: the session's CSRF token (the
//!   pages it was saved from may be older than the session), the resident's owner tag, the
//!   piece size and the limit. JSON; 401 when signed out.
//! - `GET /resident/uploads/{sha256}`: `{"received": n}`, how many bytes the hub holds.
//! - `PUT /resident/uploads/{sha256}?offset=N&size=T`, the CSRF token in `X-CSRF-Token`, the
//!   body the next piece (at most [`MAX_PIECE_BYTES`]): `{"received": n, "complete": bool}`;
//!   409 with `received` when `offset` is not what the hub holds. A piece cut off by the link
//!   keeps what arrived of it.
//!
//! # Where the bytes are
//!
//! In the hub's blob store ([`crate::blobs`]), as a *partial* upload that is never finished: a
//! partial is never served to anyone (the attachment endpoints serve complete blobs only), the
//! whole is read back and hashed when the form names it ([`photo_sent`]), and it is discarded
//! once the request or supplement that used it is stored ([`UnderWay::forget`]). One left
//! behind (a form never sent) goes with the blob store's sweep of idle partials.
//!
//! # Whose bytes
//!
//! The bytes sent under an address are the resident's *owner tag* ([`owner_tag`]: 32 bytes
//! derived from their user id), then the photo; the address is the SHA-256 of both, which the
//! phone computes (`crypto.subtle`). So the same photo sent by two residents lies at two
//! addresses; the hub refuses a first piece that does not start with the sender's tag, reads
//! the tag of a partial before appending to it or telling its length, and checks it again
//! when a form names the photo: one resident can neither use, extend nor measure another's
//! upload (nor a tablet's, whose bytes start with a file signature). The tag is not a secret
//! and needs not be: it only says whose bytes these are.
//!
//! # Limits
//!
//! One upload holds at most [`crate::Limits::photo_body_bytes`] of photo (the limit of a whole
//! form without the script). A resident has at most [`MAX_UNDER_WAY`] uploads under way in one
//! hub process: starting one more discards the one that waited longest (its phone, if it is
//! still sending, is told to start over). Every error is JSON in the page's language.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bianmin_domain::attachment::validate_sha256;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::session::SignedResident;
use crate::AppState;
use crate::blobs::{BlobError, BlobStore};
use crate::error::AppError;
use crate::web::console::token::matches;
use crate::web::i18n::{Lang, PageLang, tr};

/// The size of a piece the script sends: small enough to cross a slow link in a few seconds.
pub(crate) const PIECE_BYTES: usize = 64 * 1024;
/// The largest piece the hub takes.
pub(crate) const MAX_PIECE_BYTES: usize = 256 * 1024;
/// The length of the owner tag every upload starts with.
pub(crate) const OWNER_BYTES: usize = 32;
/// Uploads one resident may have under way in one hub process.
pub(crate) const MAX_UNDER_WAY: usize = 16;
/// The header carrying the session's CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// Bytes of a first piece needed to see the tag and the picture's signature.
const HEAD_BYTES: usize = OWNER_BYTES + 12;

/// The 32 bytes every upload of the resident `user_id` starts with (see the module docs).
pub(crate) fn owner_tag(user_id: &str) -> [u8; OWNER_BYTES] {
    Sha256::digest(format!("bianmin resident upload\0{user_id}").as_bytes()).into()
}

/// Whether `head` (a photo's first bytes) is a JPEG, PNG or WebP: what [`crate::photos`] takes.
fn is_picture(head: &[u8]) -> bool {
    head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"\x89PNG\r\n\x1a\n")
        || (head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP")
}

/// The uploads each resident has under way in this process, with when a piece last arrived:
/// what [`MAX_UNDER_WAY`] counts (see the module docs). In memory: a restart forgets it, and
/// the partials it knew go with the blob store's sweep.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnderWay(Arc<Mutex<Uploads>>);

/// Each resident's uploads under way: address, and when its last piece arrived.
type Uploads = HashMap<String, Vec<(String, Instant)>>;

impl UnderWay {
    fn lock(&self) -> MutexGuard<'_, Uploads> {
        // A few assignments under the lock, none of which can panic halfway.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a piece of `user`'s upload `sha256`; the upload to discard if that makes one
    /// more than [`MAX_UNDER_WAY`] (the one that waited longest).
    fn touch(&self, user: &str, sha256: &str) -> Option<String> {
        let mut all = self.lock();
        let mine = all.entry(user.to_string()).or_default();
        let now = Instant::now();
        match mine.iter_mut().find(|(s, _)| s == sha256) {
            Some(entry) => entry.1 = now,
            None => mine.push((sha256.to_string(), now)),
        }
        if mine.len() <= MAX_UNDER_WAY {
            return None;
        }
        let (oldest, _) = mine
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| s != sha256)
            .min_by_key(|(_, (_, at))| *at)?;
        Some(mine.remove(oldest).0)
    }

    fn done(&self, user: &str, sha256: &str) {
        let mut all = self.lock();
        if let Some(mine) = all.get_mut(user) {
            mine.retain(|(s, _)| s != sha256);
            if mine.is_empty() {
                all.remove(user);
            }
        }
    }

    /// Discards `user`'s uploads `used` (the photos of a request or supplement now stored):
    /// the bytes as the phone sent them are not kept. Blocking.
    pub(crate) fn forget(&self, blobs: &dyn BlobStore, user: &str, used: &[String]) {
        for sha256 in used {
            self.done(user, sha256);
            if let Err(e) = blobs.discard(sha256) {
                tracing::warn!(error = %e, "a resident's upload could not be discarded; the sweep will");
            }
        }
    }
}

/// An answer of these endpoints: JSON, an error's message in the page's language.
fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn refusal(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    answer(
        status,
        json!({ "error": { "code": code, "message": message.into() } }),
    )
}

fn signed_out(l: Lang) -> Response {
    refusal(
        StatusCode::UNAUTHORIZED,
        "signed_out",
        tr(
            l,
            "您已退出登录。请先登录，保存在本手机的申请会接着发送。",
            "You are signed out. Sign in, and what is saved on this phone will be sent.",
        ),
    )
}

fn forged(l: Lang) -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        "forged",
        tr(
            l,
            "请求不是从本网站的页面发出的，未做任何操作。请刷新页面。",
            "This did not come from this site's pages: nothing was done. Reload the page.",
        ),
    )
}

fn not_yours(l: Lang) -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        "not_yours",
        tr(
            l,
            "这张照片不是从您的账号发送的，未保存。",
            "This photo was not sent from your account: nothing was stored.",
        ),
    )
}

/// The words for a photo over the limit.
pub(crate) fn too_large_words(l: Lang, limit: usize) -> String {
    let mb = limit.div_ceil(1024 * 1024);
    match l {
        Lang::Zh => format!("照片太大：一张最多 {mb} MB。未保存。"),
        Lang::En => format!("The photo is too large: at most {mb} MB each. Nothing was stored."),
    }
}

fn not_a_picture(l: Lang) -> Response {
    refusal(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not_a_photo",
        tr(
            l,
            "发送的文件不是照片。请用相机拍照，或选择 JPEG、PNG、WebP 格式的图片。未保存。",
            "The file sent is not a photo. Take a picture with the camera, or choose a JPEG, PNG or WebP image. Nothing was stored.",
        ),
    )
}

fn unavailable(l: Lang) -> Response {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        tr(
            l,
            "暂时无法接收照片，请稍后再试。",
            "The hub cannot take photos just now; it will be tried again.",
        ),
    )
}

fn bad(l: Lang, zh: &'static str, en: &'static str) -> Response {
    refusal(StatusCode::BAD_REQUEST, "bad_request", tr(l, zh, en))
}

fn store_of(state: &AppState) -> Option<Arc<dyn BlobStore>> {
    state.blobs.clone()
}

/// Runs blocking blob work off the async workers; `None` if it could not run.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// `GET /resident/uploads`: what the script needs to send what the phone saved.
pub(crate) async fn session(
    lang: PageLang,
    signed: Result<SignedResident, Response>,
    State(state): State<AppState>,
) -> Response {
    let Ok(signed) = signed else {
        return signed_out(lang.lang);
    };
    answer(
        StatusCode::OK,
        json!({
            "owner": hex::encode(owner_tag(&signed.user.id)),
            "csrf": signed.csrf,
            "piece": PIECE_BYTES,
            "limit": state.limits.photo_body_bytes,
        }),
    )
}

/// How much of an upload the hub holds, if it is `owner`'s (0 when nothing): its first bytes
/// must be the tag. Blocking.
fn held_by(
    blobs: &dyn BlobStore,
    sha256: &str,
    owner: &[u8; OWNER_BYTES],
) -> Result<Option<u64>, BlobError> {
    if blobs.is_complete(sha256)? {
        // Never a resident's upload (they are never finished): someone else's blob.
        return Ok(None);
    }
    let Some(mut open) = blobs.open_partial(sha256)? else {
        return Ok(Some(0));
    };
    let mut head = vec![0u8; OWNER_BYTES.min(usize::try_from(open.len).unwrap_or(OWNER_BYTES))];
    open.reader.read_exact(&mut head)?;
    Ok(owner.starts_with(&head).then_some(open.len))
}

/// `GET /resident/uploads/{sha256}`.
pub(crate) async fn status(
    lang: PageLang,
    signed: Result<SignedResident, Response>,
    State(state): State<AppState>,
    Path(sha256): Path<String>,
) -> Response {
    let l = lang.lang;
    let Ok(signed) = signed else {
        return signed_out(l);
    };
    if validate_sha256(&sha256).is_err() {
        return bad(l, "照片的编号有误。", "Not a photo's address.");
    }
    let Some(blobs) = store_of(&state) else {
        return unavailable(l);
    };
    let owner = owner_tag(&signed.user.id);
    match blocking(move || held_by(blobs.as_ref(), &sha256, &owner)).await {
        Some(Ok(Some(received))) => answer(StatusCode::OK, json!({ "received": received })),
        Some(Ok(None)) => not_yours(l),
        Some(Err(e)) => {
            tracing::error!(error = %e, "a resident's upload status could not be read");
            unavailable(l)
        }
        None => unavailable(l),
    }
}

/// The `offset` and `size` of a piece's query.
fn offset_and_size(query: Option<&str>) -> Option<(u64, u64)> {
    let value = |name: &str| {
        query?
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?
            .parse::<u64>()
            .ok()
    };
    Some((value("offset")?, value("size")?))
}

/// A piece's bytes as they arrive, and whether the body was cut off before its end: then what
/// arrived is returned all the same. `None` for a piece over [`MAX_PIECE_BYTES`], read to its
/// end (within the route's body limit) and dropped, so that the phone gets the answer rather
/// than a connection closed under its upload.
async fn read_piece(body: Body) -> Option<(Vec<u8>, bool)> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut piece = Vec::new();
    let mut too_large = false;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(data) if too_large || piece.len() + data.len() > MAX_PIECE_BYTES => {
                too_large = true;
                piece = Vec::new();
            }
            Ok(data) => piece.extend_from_slice(&data),
            Err(_) if too_large => return None,
            Err(_) => return Some((piece, true)),
        }
    }
    (!too_large).then_some((piece, false))
}

/// What became of a piece.
enum Appended {
    /// Held now, and whether that is the whole upload (hash checked).
    Held(u64, bool),
    /// The hub holds this much: send from there.
    Offset(u64),
    NotYours,
    NotAPicture,
    TooLarge,
    /// The whole arrived but does not hash to its address: discarded, send it again.
    Mismatch,
}

/// Appends `piece` at `offset` to `owner`'s upload `sha256` of `size` bytes (see the module
/// docs for what is checked). Blocking.
fn append_piece(
    blobs: &dyn BlobStore,
    sha256: &str,
    owner: &[u8; OWNER_BYTES],
    offset: u64,
    size: u64,
    piece: &[u8],
) -> Result<Appended, BlobError> {
    let Some(received) = held_by(blobs, sha256, owner)? else {
        return Ok(Appended::NotYours);
    };
    if offset != received {
        return Ok(Appended::Offset(received));
    }
    let end = offset.saturating_add(piece.len() as u64);
    if end > size {
        return Ok(Appended::TooLarge);
    }
    if offset == 0 && !piece.is_empty() {
        if !piece.starts_with(owner) {
            return Ok(Appended::NotYours);
        }
        if !is_picture(&piece[OWNER_BYTES..]) {
            return Ok(Appended::NotAPicture);
        }
    }
    let held = match piece.is_empty() {
        true => received,
        false => match blobs.append(sha256, offset, piece) {
            Ok(held) => held,
            Err(BlobError::OffsetMismatch { received }) => return Ok(Appended::Offset(received)),
            Err(e) => return Err(e),
        },
    };
    if held < size {
        return Ok(Appended::Held(held, false));
    }
    // Whole: its hash is checked now, so that a phone whose bytes went wrong on the way sends
    // them again before it posts the form.
    let Some(open) = blobs.open_partial(sha256)? else {
        return Ok(Appended::Offset(0));
    };
    if hash_of(open.reader, open.len)? != sha256 {
        blobs.discard(sha256)?;
        return Ok(Appended::Mismatch);
    }
    Ok(Appended::Held(held, true))
}

/// The SHA-256 (hex) of `len` bytes of `reader`.
fn hash_of(mut reader: impl Read, len: u64) -> Result<String, BlobError> {
    let mut hasher = Sha256::new();
    let mut left = len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(BlobError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the upload is shorter than its length",
            )));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// `PUT /resident/uploads/{sha256}?offset=N&size=T`.
#[allow(clippy::too_many_arguments)] // axum's extractors, one per argument
pub(crate) async fn put_piece(
    lang: PageLang,
    signed: Result<SignedResident, Response>,
    State(state): State<AppState>,
    Extension(under_way): Extension<UnderWay>,
    Path(sha256): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let l = lang.lang;
    // Read first (a piece is small): every answer, a refusal too, reaches a phone that has
    // finished sending, rather than a connection closed under its upload.
    let read = read_piece(body).await;
    let Ok(signed) = signed else {
        return signed_out(l);
    };
    let token = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !matches(&signed.csrf, token) {
        tracing::warn!(user = %signed.user.id, "a resident's photo piece refused: CSRF token missing or wrong");
        return forged(l);
    }
    if validate_sha256(&sha256).is_err() {
        return bad(l, "照片的编号有误。", "Not a photo's address.");
    }
    let Some((offset, size)) = offset_and_size(query.as_deref()) else {
        return bad(
            l,
            "缺少照片的位置或大小。",
            "Give the piece's offset and the photo's size.",
        );
    };
    let limit = state.limits.photo_body_bytes;
    let too_large = || {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            too_large_words(l, limit),
        )
    };
    if size <= OWNER_BYTES as u64 || size > (OWNER_BYTES + limit) as u64 {
        return too_large();
    }
    let Some((piece, cut)) = read else {
        return refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "piece_too_large",
            format!("a piece may hold at most {MAX_PIECE_BYTES} bytes"),
        );
    };
    let Some(blobs) = store_of(&state) else {
        return unavailable(l);
    };
    // A piece cut off by the link keeps what arrived (the phone asks, and goes on from its last
    // byte), unless too little of a first piece arrived to show whose and what it is.
    let piece = match cut && offset == 0 && piece.len() < HEAD_BYTES.min(size as usize) {
        true => Vec::new(),
        false => piece,
    };
    let user = signed.user.id.clone();
    let owner = owner_tag(&user);
    let evicted = match piece.is_empty() {
        true => None,
        false => under_way.touch(&user, &sha256),
    };
    let (address, store) = (sha256.clone(), blobs.clone());
    let appended = blocking(move || {
        if let Some(old) = evicted {
            tracing::info!(
                "a resident started more uploads than allowed at once; the oldest is discarded"
            );
            if let Err(e) = store.discard(&old) {
                tracing::warn!(error = %e, "an evicted upload could not be discarded");
            }
        }
        append_piece(store.as_ref(), &address, &owner, offset, size, &piece)
    })
    .await;
    if cut {
        tracing::info!(
            offset,
            "a resident's photo piece was cut off by the link; what arrived is kept"
        );
        return bad(
            l,
            "照片没有完整收到，会接着发送。",
            "The piece did not arrive whole; sending goes on.",
        );
    }
    match appended {
        Some(Ok(Appended::Held(received, complete))) => {
            if complete {
                tracing::info!(bytes = received, "a resident's photo arrived in pieces");
            }
            answer(
                StatusCode::OK,
                json!({ "received": received, "complete": complete }),
            )
        }
        Some(Ok(Appended::Offset(received))) => answer(
            StatusCode::CONFLICT,
            json!({
                "error": {
                    "code": "offset_mismatch",
                    "message": format!("the hub holds {received} bytes of this photo: send from there"),
                },
                "received": received,
            }),
        ),
        Some(Ok(Appended::NotYours)) => {
            under_way.done(&user, &sha256);
            tracing::warn!(user = %user, "a resident's photo piece refused: not their upload");
            not_yours(l)
        }
        Some(Ok(Appended::NotAPicture)) => {
            under_way.done(&user, &sha256);
            not_a_picture(l)
        }
        Some(Ok(Appended::TooLarge)) => too_large(),
        Some(Ok(Appended::Mismatch)) => {
            under_way.done(&user, &sha256);
            refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "hash_mismatch",
                tr(
                    l,
                    "照片没有完整收到，需要从头重新发送。",
                    "The photo did not arrive intact: it is sent again from the start.",
                ),
            )
        }
        Some(Err(BlobError::BadAddress)) => bad(l, "照片的编号有误。", "Not a photo's address."),
        Some(Err(e)) => {
            tracing::error!(error = %e, "a resident's photo piece could not be stored");
            unavailable(l)
        }
        None => unavailable(l),
    }
}

/// Why a photo a form names by its address cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// Nothing (whole) is held under it for this resident: not sent, sent by someone else, used
    /// and discarded already, or its bytes do not hash to it.
    Missing,
    /// More than the limit.
    TooLarge,
}

/// The photo the resident `user_id` sent in pieces under `sha256`, without its owner tag:
/// read whole from the partial upload, its hash and its tag checked (see the module docs).
/// Blocking. Nothing is discarded here.
pub(crate) fn photo_sent(
    blobs: &dyn BlobStore,
    user_id: &str,
    sha256: &str,
    limit: usize,
) -> Result<Result<Vec<u8>, Unusable>, AppError> {
    if validate_sha256(sha256).is_err() {
        return Ok(Err(Unusable::Missing));
    }
    let io = |e: BlobError| AppError::internal(format!("reading a resident's upload: {e}"));
    let Some(open) = blobs.open_partial(sha256).map_err(io)? else {
        return Ok(Err(Unusable::Missing));
    };
    if open.len > (OWNER_BYTES + limit) as u64 {
        return Ok(Err(Unusable::TooLarge));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(open.len).unwrap_or(0));
    let read = open
        .reader
        .take(open.len)
        .read_to_end(&mut bytes)
        .map_err(|e| io(e.into()))?;
    if read as u64 != open.len || hex::encode(Sha256::digest(&bytes)) != sha256 {
        // Not whole (yet): the last piece's answer checks the hash and discards what does not
        // match, so an upload under way is left alone here.
        return Ok(Err(Unusable::Missing));
    }
    if !bytes.starts_with(&owner_tag(user_id)) {
        tracing::warn!(user = %user_id, "a resident's form named a photo they did not send");
        return Ok(Err(Unusable::Missing));
    }
    Ok(Ok(bytes.split_off(OWNER_BYTES)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::dir::DirBlobStore;

    fn upload(owner: &[u8], photo: &[u8]) -> (Vec<u8>, String) {
        let mut bytes = owner.to_vec();
        bytes.extend_from_slice(photo);
        let sha = hex::encode(Sha256::digest(&bytes));
        (bytes, sha)
    }

    const JPEG_HEAD: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1];

    #[test]
    fn pieces_go_on_from_the_hubs_offset_and_are_the_senders_only() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = DirBlobStore::open(dir.path()).unwrap();
        let (wang, zhao) = (owner_tag("wang"), owner_tag("zhao"));
        let mut photo = JPEG_HEAD.to_vec();
        photo.extend((0..300_000u32).map(|i| (i % 251) as u8));
        let (bytes, sha) = upload(&wang, &photo);
        let size = bytes.len() as u64;
        let at = |o: usize, e: usize| &bytes[o..e];

        // Another resident cannot send bytes under Wang's tag; nobody a piece past the held
        // offset.
        assert!(matches!(
            append_piece(&blobs, &sha, &zhao, 0, size, at(0, 1000)).unwrap(),
            Appended::NotYours
        ));
        assert!(matches!(
            append_piece(&blobs, &sha, &wang, 500, size, at(500, 900)).unwrap(),
            Appended::Offset(0)
        ));
        assert!(matches!(
            append_piece(&blobs, &sha, &wang, 0, size, at(0, 65_536)).unwrap(),
            Appended::Held(65_536, false)
        ));
        // Another resident can neither extend nor measure it.
        assert!(matches!(
            append_piece(&blobs, &sha, &zhao, 65_536, size, at(65_536, 70_000)).unwrap(),
            Appended::NotYours
        ));
        assert_eq!(held_by(&blobs, &sha, &zhao).unwrap(), None);
        assert_eq!(held_by(&blobs, &sha, &wang).unwrap(), Some(65_536));
        // A piece sent again after it was acknowledged: told where the hub is.
        assert!(matches!(
            append_piece(&blobs, &sha, &wang, 0, size, at(0, 65_536)).unwrap(),
            Appended::Offset(65_536)
        ));
        assert!(matches!(
            append_piece(&blobs, &sha, &wang, 65_536, size, at(65_536, bytes.len())).unwrap(),
            Appended::Held(n, true) if n == size
        ));
        // Used by a form: whole, the sender's, the photo without its tag.
        assert_eq!(
            photo_sent(&blobs, "wang", &sha, 1 << 20).unwrap(),
            Ok(photo.clone())
        );
        assert_eq!(
            photo_sent(&blobs, "zhao", &sha, 1 << 20).unwrap(),
            Err(Unusable::Missing),
            "not Zhao's"
        );
        assert_eq!(
            photo_sent(&blobs, "wang", &sha, 1000).unwrap(),
            Err(Unusable::TooLarge)
        );
        assert!(blobs.open(&sha).unwrap().is_none(), "never a blob");
        UnderWay::default().forget(&blobs, "wang", std::slice::from_ref(&sha));
        assert_eq!(
            photo_sent(&blobs, "wang", &sha, 1 << 20).unwrap(),
            Err(Unusable::Missing),
            "discarded once used"
        );
    }

    #[test]
    fn what_is_not_a_picture_or_does_not_hash_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = DirBlobStore::open(dir.path()).unwrap();
        let wang = owner_tag("wang");
        let (text, sha) = upload(&wang, b"this is not a photo, only text that says it is one");
        assert!(matches!(
            append_piece(&blobs, &sha, &wang, 0, text.len() as u64, &text).unwrap(),
            Appended::NotAPicture
        ));
        assert_eq!(blobs.received(&sha).unwrap(), 0, "nothing kept");
        // Bytes that are not what the address says: discarded once whole.
        let (bytes, _) = upload(&wang, JPEG_HEAD);
        let (_, other) = upload(&wang, b"\xFF\xD8\xFF other bytes");
        assert!(matches!(
            append_piece(&blobs, &other, &wang, 0, bytes.len() as u64, &bytes).unwrap(),
            Appended::Mismatch
        ));
        assert_eq!(blobs.received(&other).unwrap(), 0);
        // More than the size said.
        let (bytes, sha) = upload(&wang, JPEG_HEAD);
        assert!(matches!(
            append_piece(&blobs, &sha, &wang, 0, 10, &bytes).unwrap(),
            Appended::TooLarge
        ));
    }

    #[test]
    fn a_resident_has_a_bounded_number_of_uploads_under_way() {
        let under_way = UnderWay::default();
        for i in 0..MAX_UNDER_WAY {
            assert_eq!(under_way.touch("wang", &format!("{i}")), None);
        }
        assert_eq!(under_way.touch("zhao", "z"), None, "counted per resident");
        // A piece of one under way counts it once.
        assert_eq!(under_way.touch("wang", "3"), None);
        assert_eq!(
            under_way.touch("wang", "new").as_deref(),
            Some("0"),
            "the one that waited longest goes"
        );
        under_way.done("wang", "new");
        assert_eq!(under_way.touch("wang", "again"), None);
    }

    #[test]
    fn queries_and_signatures_are_read() {
        assert_eq!(offset_and_size(Some("offset=5&size=9")), Some((5, 9)));
        assert_eq!(offset_and_size(Some("size=9&offset=0")), Some((0, 9)));
        assert_eq!(offset_and_size(Some("offset=5")), None);
        assert_eq!(offset_and_size(Some("offsetx=5&size=9")), None);
        assert_eq!(offset_and_size(None), None);
        assert!(is_picture(JPEG_HEAD));
        assert!(is_picture(b"\x89PNG\r\n\x1a\nrest"));
        assert!(is_picture(b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(!is_picture(b"GIF89a"));
        assert!(!is_picture(b""));
    }
}
