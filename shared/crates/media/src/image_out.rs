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

/// Writes `img` to `path` in `format`; `quality` (1–100) applies to JPEG
/// and WebP (lossy through libwebp; 100 writes lossless WebP).
///
/// # Errors
/// `Io` when the file cannot be created, `Encode` when encoding fails.
pub fn write_image(
    img: &RgbImage,
    path: &Path,
    format: ImageFormat,
    quality: u8,
) -> Result<(), MediaError> {
    if format == ImageFormat::Webp && quality < 100 {
        return write_lossy_webp(img, path, quality);
    }
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

/// Lossy WebP through FFmpeg's libwebp encoder, at `quality` (1–99).
fn write_lossy_webp(img: &RgbImage, path: &Path, quality: u8) -> Result<(), MediaError> {
    use ffmpeg_next::{codec, format::Pixel, frame, software::scaling, Dictionary, Packet};
    crate::init();
    let ff = |context: &'static str| move |source| MediaError::Ffmpeg { context, source };
    let (w, h) = img.dimensions();
    let encoder = ffmpeg_next::encoder::find_by_name("libwebp").ok_or(MediaError::Encode {
        format: "webp",
        detail: "this FFmpeg has no libwebp encoder".into(),
    })?;
    let mut video = codec::context::Context::new_with_codec(encoder)
        .encoder()
        .video()
        .map_err(ff("creating the WebP encoder"))?;
    video.set_width(w);
    video.set_height(h);
    video.set_format(Pixel::YUV420P);
    video.set_time_base((1, 25));
    let mut options = Dictionary::new();
    options.set("quality", &quality.clamp(1, 99).to_string());
    options.set("lossless", "0");
    options.set("preset", "picture");
    let mut opened = video
        .open_with(options)
        .map_err(ff("opening the WebP encoder"))?;
    let mut rgb = frame::Video::new(Pixel::RGB24, w, h);
    let stride = rgb.stride(0);
    let row = w as usize * 3;
    let raw = img.as_raw();
    for y in 0..h as usize {
        rgb.data_mut(0)[y * stride..y * stride + row].copy_from_slice(&raw[y * row..(y + 1) * row]);
    }
    let mut scaler = scaling::Context::get(
        Pixel::RGB24,
        w,
        h,
        Pixel::YUV420P,
        w,
        h,
        scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INP,
    )
    .map_err(ff("converting to YUV for WebP"))?;
    let mut yuv = frame::Video::empty();
    scaler
        .run(&rgb, &mut yuv)
        .map_err(ff("converting to YUV for WebP"))?;
    yuv.set_pts(Some(0));
    opened.send_frame(&yuv).map_err(ff("encoding WebP"))?;
    opened.send_eof().map_err(ff("encoding WebP"))?;
    let mut bytes = Vec::new();
    let mut packet = Packet::empty();
    while opened.receive_packet(&mut packet).is_ok() {
        bytes.extend_from_slice(packet.data().unwrap_or_default());
    }
    if bytes.is_empty() {
        return Err(MediaError::Encode {
            format: "webp",
            detail: "libwebp produced nothing".into(),
        });
    }
    std::fs::write(path, bytes).map_err(|source| MediaError::Io {
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
