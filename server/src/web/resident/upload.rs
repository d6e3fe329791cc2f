//! A resident's form with photos (`multipart/form-data`): read with its own size count, its
//! CSRF token checked, its photos scaled ([`crate::photos`]), and the words for what went wrong.
//!
//! The route's body limit is four times [`crate::Limits::photo_body_bytes`]; the handler counts
//! the bytes itself and, past `photo_body_bytes`, keeps reading to the end while keeping
//! nothing: a phone that sent too much is answered with a page saying so (413), not with a
//! connection cut halfway through its upload, which is what a browser would show for an
//! answer sent before it finished sending.

use axum::extract::{FromRequest, Multipart, Request};
use bianmin_domain::MAX_ATTACHMENT_BYTES;

use super::session::SignedResident;
use crate::AppState;
use crate::engine::Photo;
use crate::photos::PhotoError;
use crate::web::console::csrf::{FIELD, Fields};
use crate::web::console::token::matches;
use crate::web::i18n::{Lang, tr};

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

/// The photos of `files` sent in the inputs `photo-<i>`, each of `materials[i]`: scaled and
/// re-encoded (one file per material and content: the same photo chosen twice counts once).
/// Every photo that is not taken is named in the errors, all at once.
pub(crate) async fn photos_of(
    state: &AppState,
    l: Lang,
    files: Vec<UploadedFile>,
    materials: &[String],
) -> Result<Vec<Photo>, Vec<String>> {
    let mut photos: Vec<Photo> = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let Some(material) = file
            .field
            .strip_prefix("photo-")
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| materials.get(i))
        else {
            continue;
        };
        match state.photos.scale(file.bytes).await {
            Ok(scaled) if scaled.jpeg.len() as u64 > MAX_ATTACHMENT_BYTES => {
                errors.push(photo_message(
                    l,
                    &PhotoError::TooLarge,
                    &file.file_name,
                    material,
                ));
            }
            Ok(scaled) => {
                let twice = photos
                    .iter()
                    .any(|p| p.material == *material && p.jpeg == scaled.jpeg);
                if !twice {
                    photos.push(Photo {
                        material: material.clone(),
                        jpeg: scaled.jpeg,
                    });
                }
            }
            Err(e) => errors.push(photo_message(l, &e, &file.file_name, material)),
        }
    }
    if errors.is_empty() {
        Ok(photos)
    } else {
        Err(errors)
    }
}
