//! Still images: reading a picture input, writing JPEG, PNG and WebP
//! files from RGB buffers.

use iprod_core::domain::Limits;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use super::MediaError;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
pub use iprod_core::domain::ImageFormat;

/// Writes `img` to `path` in `format`; `quality` (1–100) applies to JPEG.
///
/// # Errors
/// `Io` when the file cannot be created, `Encode` when encoding fails.
pub fn write_image(
    img: &RgbImage,
    path: &Path,
    format: ImageFormat,
    quality: u8,
) -> Result<(), MediaError> {
    let file = File::create(path).map_err(|source| MediaError::Io {
        context: format!("creating {}", path.display()),
        source,
    })?;
    let mut out = BufWriter::new(file);
    let (w, h) = img.dimensions();
    let result = match format {
        ImageFormat::Jpg => JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
            .write_image(img.as_raw(), w, h, ExtendedColorType::Rgb8),
        ImageFormat::Png => {
            PngEncoder::new(&mut out).write_image(img.as_raw(), w, h, ExtendedColorType::Rgb8)
        }
        ImageFormat::Webp => WebPEncoder::new_lossless(&mut out).write_image(
            img.as_raw(),
            w,
            h,
            ExtendedColorType::Rgb8,
        ),
    };
    result.map_err(|e| MediaError::Encode {
        format: format.extension(),
        detail: e.to_string(),
    })?;
    std::io::Write::flush(&mut out).map_err(|source| MediaError::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

/// The file as an RGB picture when it is a PNG, JPEG or WebP image (by its
/// content, not its name); `None` for anything else, e.g. a video. The
/// size in its header is checked before anything is decoded.
///
/// # Errors
/// `Limit` for a picture over `limits.max_frame_pixels`; `Corrupt` for
/// one that cannot be decoded.
pub fn read_still(path: &Path, limits: &Limits) -> Result<Option<RgbImage>, MediaError> {
    // By content only: the name may say `.jpg` of anything.
    let mut head = [0u8; 64];
    let read = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    if !matches!(
        image::guess_format(&head[..read]),
        Ok(image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::WebP)
    ) {
        return Ok(None);
    }
    let Some(reader) = image::ImageReader::open(path)
        .ok()
        .and_then(|r| r.with_guessed_format().ok())
    else {
        return Ok(None);
    };
    let corrupt = |e: image::ImageError| MediaError::Corrupt {
        kind: "image",
        detail: e.to_string(),
    };
    let (width, height) = match crate::input::image_size(path) {
        Some(size) => size,
        None => image::ImageReader::open(path)
            .and_then(|r| r.with_guessed_format())
            .map_err(|e| MediaError::Corrupt {
                kind: "image",
                detail: e.to_string(),
            })?
            .into_dimensions()
            .map_err(corrupt)?,
    };
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_frame_pixels {
        return Err(MediaError::Limit {
            what: "the picture size",
            actual: format!("{width}x{height}"),
            limit: format!("{} pixels", limits.max_frame_pixels),
        });
    }
    let mut reader = reader;
    let mut image_limits = image::Limits::default();
    // Room for the largest allowed picture at 16 bits per RGBA channel.
    image_limits.max_alloc = Some(limits.max_frame_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(image_limits);
    reader.decode().map(|i| Some(i.to_rgb8())).map_err(corrupt)
}
