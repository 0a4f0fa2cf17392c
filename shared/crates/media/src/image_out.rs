//! Still images: reading a picture input, writing JPEG, PNG and WebP
//! files from RGB buffers.

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
/// content, not its name); `None` for anything else, e.g. a video.
pub fn read_still(path: &Path) -> Option<RgbImage> {
    let format = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?
        .format()?;
    if !matches!(
        format,
        image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::WebP
    ) {
        return None;
    }
    image::open(path).ok().map(|i| i.to_rgb8())
}
