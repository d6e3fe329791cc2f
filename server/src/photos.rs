//! Photos residents send from their phones (`/resident`): decoded, scaled down, re-encoded.
//!
//! A phone's camera gives 3 to 15 MB per picture, with EXIF metadata that may hold where it was
//! taken (GPS), when, and with which phone. The hub keeps none of that: every photo is decoded
//! (JPEG, PNG or WebP; anything else is refused as not a photo), turned upright by its EXIF
//! orientation, scaled down to at most [`MAX_SIDE`] pixels on its long side, and written again
//! as a plain JPEG ([`JPEG_QUALITY`]) with no metadata at all. A document page photographed
//! at 1600 px stays legible, at a tenth of the bytes a village's link would otherwise carry to
//! every tablet that downloads it.
//!
//! Decoding is CPU work and a decoded picture is large (12 MP: 36 MB): [`Photos`] runs at most
//! a few at once, on the blocking pool, and refuses pictures of more than [`MAX_PIXELS`] or
//! that would need more than [`MAX_DECODE_BYTES`] to decode (a small file can claim a huge
//! picture).

use std::io::Cursor;
use std::sync::Arc;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use sha2::{Digest, Sha256};

/// The longest side of a stored photo, in pixels.
pub const MAX_SIDE: u32 = 1600;
/// The JPEG quality photos are stored at.
pub const JPEG_QUALITY: u8 = 82;
/// The most pixels a photo may have (a 108 MP phone sensor's full size is refused; phones
/// give 12 to 50 MP by default).
pub const MAX_PIXELS: u64 = 64_000_000;
/// The most memory decoding one photo may take.
pub const MAX_DECODE_BYTES: u64 = 320 * 1024 * 1024;

/// Why a photo was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// Nothing was sent.
    #[error("the file is empty")]
    Empty,
    /// Not a JPEG, PNG or WebP picture, or one that does not decode.
    #[error("not a photo (JPEG, PNG or WebP)")]
    NotAPhoto,
    /// More pixels than [`MAX_PIXELS`], or more memory than [`MAX_DECODE_BYTES`] to decode.
    #[error("the picture is too large")]
    TooLarge,
    /// The hub could not run the work (shutting down).
    #[error("the hub could not process the photo")]
    Unavailable,
}

/// A photo as the hub keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct Scaled {
    /// The JPEG.
    pub jpeg: Vec<u8>,
    /// Its width and height.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// The SHA-256 of [`Scaled::jpeg`], hex.
    pub sha256: String,
}

impl std::fmt::Debug for Scaled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scaled")
            .field("bytes", &self.jpeg.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// Decodes `bytes`, turns the picture upright, scales it to at most [`MAX_SIDE`] on its long
/// side and encodes it as a JPEG without metadata. Blocking CPU work.
pub fn scale(bytes: &[u8]) -> Result<Scaled, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| PhotoError::NotAPhoto)?;
    if !matches!(
        reader.format(),
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)
    ) {
        return Err(PhotoError::NotAPhoto);
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(PhotoError::TooLarge);
    }
    if w == 0 || h == 0 {
        return Err(PhotoError::NotAPhoto);
    }
    // A photo without EXIF, or with an orientation that does not parse, stays as it is.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut picture = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    picture.apply_orientation(orientation);
    if picture.width().max(picture.height()) > MAX_SIDE {
        picture = picture.resize(MAX_SIDE, MAX_SIDE, FilterType::Triangle);
    }
    let rgb = flatten(picture);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|_| PhotoError::NotAPhoto)?;
    let sha256 = hex::encode(Sha256::digest(&jpeg));
    Ok(Scaled {
        width: rgb.width(),
        height: rgb.height(),
        jpeg,
        sha256,
    })
}

fn decode_error(e: image::ImageError) -> PhotoError {
    match e {
        image::ImageError::Limits(_) => PhotoError::TooLarge,
        _ => PhotoError::NotAPhoto,
    }
}

/// The picture in 8-bit RGB, transparent parts (a PNG's) on white rather than black.
fn flatten(picture: DynamicImage) -> RgbImage {
    if !picture.color().has_alpha() {
        return picture.into_rgb8();
    }
    let rgba = picture.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(px[3]);
        for c in 0..3 {
            out[c] = ((u16::from(px[c]) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    rgb
}

/// Where photos are processed: at most a few at once, off the async workers.
#[derive(Debug, Clone)]
pub struct Photos {
    permits: Arc<tokio::sync::Semaphore>,
}

impl Photos {
    /// Processing at most `workers` photos at once (at least one).
    pub fn new(workers: usize) -> Photos {
        Photos {
            permits: Arc::new(tokio::sync::Semaphore::new(workers.max(1))),
        }
    }

    /// [`scale`], on the blocking pool, once a worker is free. A decoder that panics on a
    /// hostile file refuses that file alone.
    pub async fn scale(&self, bytes: Vec<u8>) -> Result<Scaled, PhotoError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PhotoError::Unavailable)?;
        let done = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            std::panic::catch_unwind(|| scale(&bytes)).unwrap_or(Err(PhotoError::NotAPhoto))
        })
        .await;
        done.unwrap_or(Err(PhotoError::Unavailable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// `jpeg` with an EXIF segment right after its start: orientation 6 (turn 90° clockwise)
    /// and a GPS pointer with a recognisable text.
    fn with_exif(jpeg: &[u8]) -> Vec<u8> {
        // TIFF, big-endian: one IFD with Orientation = 6, then a marker text.
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
        tiff.extend_from_slice(&[0, 1]); // one entry
        tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
        tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
        tiff.extend_from_slice(b"GPS 36.1N 120.4E secret place");
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let len = (app1.len() + 2) as u16;
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn a_large_photo_is_scaled_to_its_long_side() {
        let s = scale(&jpeg(4000, 3000)).unwrap();
        assert_eq!((s.width, s.height), (1600, 1200));
        assert!(s.jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert_eq!(s.sha256, hex::encode(Sha256::digest(&s.jpeg)));
        let small = scale(&jpeg(640, 480)).unwrap();
        assert_eq!((small.width, small.height), (640, 480), "never enlarged");
    }

    #[test]
    fn exif_is_applied_then_dropped() {
        let original = with_exif(&jpeg(400, 200));
        assert!(original.windows(4).any(|w| w == b"Exif"));
        let s = scale(&original).unwrap();
        assert_eq!((s.width, s.height), (200, 400), "turned upright");
        assert!(!s.jpeg.windows(4).any(|w| w == b"Exif"), "no EXIF kept");
        assert!(!s.jpeg.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn png_and_webp_are_taken_transparent_parts_on_white() {
        let img = RgbaImage::from_fn(30, 20, |x, _| {
            if x < 15 {
                Rgba([0, 0, 0, 0])
            } else {
                Rgba([200, 10, 10, 255])
            }
        });
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(img.as_raw(), 30, 20, image::ExtendedColorType::Rgba8)
            .unwrap();
        let s = scale(&png).unwrap();
        let back = image::load_from_memory(&s.jpeg).unwrap().into_rgb8();
        assert!(back.get_pixel(2, 10)[0] > 240, "transparent became white");
        let mut webp = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
            .write_image(img.as_raw(), 30, 20, image::ExtendedColorType::Rgba8)
            .unwrap();
        assert_eq!(scale(&webp).unwrap().width, 30);
    }

    #[test]
    fn what_is_not_a_photo_is_refused() {
        assert_eq!(scale(b""), Err(PhotoError::Empty));
        assert_eq!(scale(b"just some text\n"), Err(PhotoError::NotAPhoto));
        assert_eq!(scale(b"%PDF-1.7 a scan"), Err(PhotoError::NotAPhoto));
        let mut cut = jpeg(300, 300);
        cut.truncate(40);
        assert_eq!(scale(&cut), Err(PhotoError::NotAPhoto), "a broken JPEG");
        // GIF is a picture, but not one a phone's camera gives.
        assert_eq!(
            scale(b"GIF89a\x01\0\x01\0\0\0\0;"),
            Err(PhotoError::NotAPhoto)
        );
    }

    #[test]
    fn a_picture_claiming_too_many_pixels_is_refused_before_decoding() {
        // A PNG header claiming 20000 x 20000 pixels, with no data behind it.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&20_000u32.to_be_bytes());
        ihdr.extend_from_slice(&20_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        // A few bytes of picture data (a real file of this size would be tiny: a plain colour
        // compresses to almost nothing), then the end.
        let idat = b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01";
        png.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
        png.extend_from_slice(idat);
        png.extend_from_slice(&crc32(idat).to_be_bytes());
        png.extend_from_slice(&0u32.to_be_bytes());
        png.extend_from_slice(b"IEND");
        png.extend_from_slice(&crc32(b"IEND").to_be_bytes());
        assert_eq!(scale(&png), Err(PhotoError::TooLarge));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[tokio::test]
    async fn photos_are_processed_off_the_async_workers() {
        let photos = Photos::new(1);
        let (a, b) = tokio::join!(photos.scale(jpeg(2000, 100)), photos.scale(b"no".to_vec()));
        assert_eq!(a.unwrap().width, 1600);
        assert_eq!(b, Err(PhotoError::NotAPhoto));
    }
}
