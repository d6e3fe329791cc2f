//! A resident's form with photos (`multipart/form-data`): read with its own size count, its
//! CSRF token checked, its photos scaled ([`crate::photos`]), and the words for what went wrong.
//! A photo comes in the form itself (`photo-<i>`, without JavaScript) or, sent beforehand in
//! pieces by the pages' script, named by its address (`photo_sha-<i>`, see
//! [`super::uploads`]); both go through the same scaling and the same errors. Every form that
//! writes carries a submission key ([`KEY_FIELD`]), so that sending it twice writes once.
//!
//! The route's body limit is four times [`crate::Limits::photo_body_bytes`]; the handler counts
//! the bytes itself and, past `photo_body_bytes`, keeps reading to the end while keeping
//! nothing: a phone that sent too much is answered with a page saying so (413), not with a
//! connection cut halfway through its upload, which is what a browser would show for an
//! answer sent before it finished sending.

use axum::extract::{FromRequest, Multipart, Request};
use bianmin_domain::MAX_ATTACHMENT_BYTES;
use maud::{Markup, html};

use super::session::SignedResident;
use super::uploads::{self, Unusable};
use crate::AppState;
use crate::engine::Photo;
use crate::photos::PhotoError;
use crate::web::console::csrf::{FIELD, Fields};
use crate::web::console::token::{matches, random_hex};
use crate::web::i18n::{Lang, tr};

/// The hidden field carrying a form's submission key: fresh in every form the hub draws (and
/// chosen afresh by the pages' script for every form it saves), the same in every sending of
/// that form. The hub writes what a key names once (`Engine::resident_file_once`,
/// `Engine::resident_act_once`).
pub(crate) const KEY_FIELD: &str = "submission";

/// The submission key a form carries, if it is one: 16 to 64 letters, digits, `-` or `_`. A
/// form without one (or with anything else there) is written as it comes, without the
/// once-only guard: what a page drawn before keys existed sends.
pub(crate) fn submission_key(fields: &Fields) -> Option<String> {
    let key = fields.get(KEY_FIELD)?.trim();
    let fits = (16..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    fits.then(|| key.to_string())
}

/// The hidden field with `key`, or a fresh key.
pub(crate) fn key_field(key: Option<&str>) -> Markup {
    let key = key.map_or_else(random_hex, str::to_string);
    html! { input type="hidden" name=(KEY_FIELD) value=(key); }
}

/// A file sent in a form.
pub(crate) struct UploadedFile {
    /// The form field it came in.
    pub field: String,
    /// Its name on the phone (shown in errors).
    pub file_name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A form with files, read whole.
pub(crate) struct Upload {
    /// The text fields.
    pub fields: Fields,
    /// The files chosen (inputs left empty are not listed).
    pub files: Vec<UploadedFile>,
}

/// Why a form with files was not read.
pub(crate) enum UploadError {
    /// More than the limit: everything was read and dropped.
    TooLarge,
    /// Not a multipart form the hub can read (or the connection broke off).
    Malformed,
    /// The CSRF token is missing or wrong.
    Forged,
}

/// Reads the form of `req` sent by `signed`, keeping at most `limit` bytes, and checks its
/// CSRF token.
pub(crate) async fn read(
    req: Request,
    state: &AppState,
    signed: &SignedResident,
    limit: usize,
) -> Result<Upload, UploadError> {
    let mut form = Multipart::from_request(req, state)
        .await
        .map_err(|_| UploadError::Malformed)?;
    let mut total = 0usize;
    let mut too_large = false;
    let mut fields = Vec::new();
    let mut files = Vec::new();
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(UploadError::TooLarge);
            }
            Err(_) => return Err(UploadError::Malformed),
        };
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    total = total.saturating_add(chunk.len());
                    if total > limit {
                        // Read on to the end, keeping nothing.
                        too_large = true;
                        bytes = Vec::new();
                    } else if !too_large {
                        bytes.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break,
                Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(UploadError::TooLarge);
                }
                Err(_) => return Err(UploadError::Malformed),
            }
        }
        if too_large {
            continue;
        }
        match file_name {
            // An input left empty sends a part with no name and no bytes.
            Some(file_name) if file_name.is_empty() && bytes.is_empty() => {}
            Some(file_name) => files.push(UploadedFile {
                field: name,
                file_name,
                bytes,
            }),
            None => fields.push((name, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    let fields = Fields(fields);
    if !matches(&signed.csrf, fields.get(FIELD).unwrap_or_default()) {
        tracing::warn!(user = %signed.user.id, "resident form refused: CSRF token missing or wrong");
        return Err(UploadError::Forged);
    }
    if too_large {
        tracing::info!(user = %signed.user.id, bytes = total, limit, "a resident's form was too large");
        return Err(UploadError::TooLarge);
    }
    Ok(Upload { fields, files })
}

/// The page's words for a form that was too large.
pub(crate) fn too_large_message(l: Lang, limit: usize) -> String {
    let mb = limit.div_ceil(1024 * 1024);
    match l {
        Lang::Zh => {
            format!("上传的照片太大：一次最多 {mb} MB。请少选几张，或分两次补交。未保存任何内容。")
        }
        Lang::En => format!(
            "The photos are too large: at most {mb} MB at once. Send fewer at a time. Nothing was stored."
        ),
    }
}

/// The page's words for a form that could not be read.
pub(crate) fn malformed_message(l: Lang) -> &'static str {
    tr(
        l,
        "表单没有完整收到，未保存任何内容。请重新提交。",
        "The form did not arrive whole: nothing was stored. Please submit it again.",
    )
}

/// The page's words for a photo that was not taken, naming the file and its material.
pub(crate) fn photo_message(l: Lang, e: &PhotoError, file: &str, material: &str) -> String {
    let file: String = file.chars().take(60).collect();
    match (l, e) {
        (Lang::Zh, PhotoError::Empty) => {
            format!("“{material}”的照片（{file}）是空文件，请重新拍照。")
        }
        (Lang::En, PhotoError::Empty) => {
            format!("The photo of “{material}” ({file}) is empty: take it again.")
        }
        (Lang::Zh, PhotoError::NotAPhoto) => format!(
            "“{material}”上传的文件（{file}）不是照片。请用相机拍照，或选择 JPEG、PNG、WebP 格式的图片。"
        ),
        (Lang::En, PhotoError::NotAPhoto) => format!(
            "The file sent for “{material}” ({file}) is not a photo. Take a picture with the camera, or choose a JPEG, PNG or WebP image."
        ),
        (Lang::Zh, PhotoError::TooLarge) => {
            format!("“{material}”的照片（{file}）像素太多，请用手机相机的普通模式重新拍照。")
        }
        (Lang::En, PhotoError::TooLarge) => format!(
            "The photo of “{material}” ({file}) has too many pixels: take it again in the camera's normal mode."
        ),
        (Lang::Zh, PhotoError::Unavailable) => "系统繁忙，未能处理照片，请稍后再试。".to_string(),
        (Lang::En, PhotoError::Unavailable) => {
            "The hub could not process the photos just now; try again in a moment.".to_string()
        }
    }
}

/// The photos of a form, as the engine stores them, and the uploads they came from.
#[derive(Debug, Default)]
pub(crate) struct FormPhotos {
    /// Scaled and re-encoded, one per material and content.
    pub photos: Vec<Photo>,
    /// The addresses of the uploads in pieces they came from: discarded once the form's
    /// request or supplement is stored ([`uploads::UnderWay::forget`]).
    pub uploads: Vec<String>,
}

/// Why a form's photos were not taken: every photo's mistake, in words.
#[derive(Debug, Default)]
pub(crate) struct PhotoErrors {
    /// The words, one per photo.
    pub errors: Vec<String>,
    /// A photo named by its address was not there (the script sends it again, then the form).
    pub missing_upload: bool,
}

/// One photo of a form, before scaling.
struct Given {
    material: String,
    /// The material as the resident reads it (errors name it so).
    label: String,
    file_name: String,
    bytes: Vec<u8>,
}

/// The photos of a form (see [`FormPhotos`]): the files sent in the inputs `photo-<i>`, and
/// the uploads named in the fields `photo_sha-<i>` (their file names in `photo_name-<i>`),
/// each of `materials[i]` (named `labels[i]` in errors), sent by `user_id`; each scaled and re-encoded (one per material and
/// content: the same photo chosen twice counts once). Every photo that is not taken is named
/// in the errors, all at once.
pub(crate) async fn photos_of(
    state: &AppState,
    l: Lang,
    user_id: &str,
    files: Vec<UploadedFile>,
    fields: &Fields,
    materials: &[String],
    labels: &[String],
) -> Result<FormPhotos, PhotoErrors> {
    let material_of = |field: &str, prefix: &str| {
        let i = field.strip_prefix(prefix)?.parse::<usize>().ok()?;
        let material = materials.get(i)?.clone();
        let label = labels.get(i).cloned().unwrap_or_else(|| material.clone());
        Some((i, material, label))
    };
    let mut out = FormPhotos::default();
    let mut refused = PhotoErrors::default();
    for file in files {
        if let Some((_, material, label)) = material_of(&file.field, "photo-") {
            let given = Given {
                material,
                label,
                file_name: file.file_name,
                bytes: file.bytes,
            };
            scale_into(state, l, given, &mut out, &mut refused).await;
        }
    }
    let limit = state.limits.photo_body_bytes;
    for (field, sha256) in &fields.0 {
        let Some((i, material, label)) = material_of(field, "photo_sha-") else {
            continue;
        };
        let sha256 = sha256.trim().to_string();
        let file_name = fields
            .get(&format!("photo_name-{i}"))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(tr(l, "照片", "photo"))
            .to_string();
        let Some(blobs) = state.blobs.clone() else {
            refused.errors.push(photo_message(
                l,
                &PhotoError::Unavailable,
                &file_name,
                &label,
            ));
            continue;
        };
        let (user, address) = (user_id.to_string(), sha256.clone());
        let sent = crate::web::blocking(move || {
            uploads::photo_sent(blobs.as_ref(), &user, &address, limit)
        })
        .await;
        match sent {
            Ok(Ok(bytes)) => {
                if !out.uploads.contains(&sha256) {
                    out.uploads.push(sha256);
                }
                // One upload read at a time, its bytes held only until it is scaled.
                let given = Given {
                    material,
                    label,
                    file_name,
                    bytes,
                };
                scale_into(state, l, given, &mut out, &mut refused).await;
            }
            Ok(Err(Unusable::Missing)) => {
                refused.missing_upload = true;
                refused.errors.push(missing_message(l, &file_name, &label));
            }
            Ok(Err(Unusable::TooLarge)) => refused.errors.push(format!(
                "{}{}",
                material_prefix(l, &label),
                uploads::too_large_words(l, limit)
            )),
            Err(e) => {
                tracing::error!("a resident's upload could not be read: {e:?}");
                refused.errors.push(photo_message(
                    l,
                    &PhotoError::Unavailable,
                    &file_name,
                    &label,
                ));
            }
        }
    }
    if refused.errors.is_empty() {
        Ok(out)
    } else {
        Err(refused)
    }
}

/// Scales `g` into `out` (once per material and content), or names its mistake in `refused`.
async fn scale_into(
    state: &AppState,
    l: Lang,
    g: Given,
    out: &mut FormPhotos,
    refused: &mut PhotoErrors,
) {
    match state.photos.scale(g.bytes).await {
        Ok(scaled) if scaled.jpeg.len() as u64 > MAX_ATTACHMENT_BYTES => {
            refused.errors.push(photo_message(
                l,
                &PhotoError::TooLarge,
                &g.file_name,
                &g.label,
            ));
        }
        Ok(scaled) => {
            let twice = out
                .photos
                .iter()
                .any(|p| p.material == g.material && p.jpeg == scaled.jpeg);
            if !twice {
                out.photos.push(Photo {
                    material: g.material,
                    jpeg: scaled.jpeg,
                });
            }
        }
        Err(e) => refused
            .errors
            .push(photo_message(l, &e, &g.file_name, &g.label)),
    }
}

/// "For “material”: " in the page's language.
fn material_prefix(l: Lang, material: &str) -> String {
    match l {
        Lang::Zh => format!("“{material}”："),
        Lang::En => format!("“{material}”: "),
    }
}

/// The page's words for a photo named by its address that the hub does not hold whole for
/// this resident.
pub(crate) fn missing_message(l: Lang, file: &str, material: &str) -> String {
    let file: String = file.chars().take(60).collect();
    match l {
        Lang::Zh => format!(
            "没有收到“{material}”的照片（{file}）：它没有从您的账号完整发送过来。请重新发送。"
        ),
        Lang::En => format!(
            "The photo of “{material}” ({file}) did not arrive whole from your account: send it again."
        ),
    }
}

/// The header that marks a refusal because a photo sent in pieces was missing: the pages'
/// script sends the photos again, then the form, once.
pub(crate) const MISSING_UPLOAD_HEADER: &str = "x-bianmin-missing-upload";
