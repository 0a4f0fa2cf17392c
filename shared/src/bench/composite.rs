//! Composite clips for re-framing tests and benchmarks: a real face (the
//! astronaut's, from the test photographs that `scripts/fetch-models
//! --fixtures` fetches) moving along a known path over real or textured
//! backgrounds.

use std::path::{Path, PathBuf};

use crate::media::encode::{VideoCodec, VideoFormat, VideoWriter, X264Preset};
use image::{Rgb, RgbImage, Rgba, RgbaImage};

/// A test photograph fetched by `scripts/fetch-models --fixtures`.
///
/// # Errors
/// When it is missing.
pub fn fixture(name: &str) -> anyhow::Result<PathBuf> {
    let path = crate::inference::ModelDir::from_env()
        .path()
        .join("fixtures")
        .join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: run scripts/fetch-models --fixtures",
        path.display()
    );
    Ok(path)
}

/// Frame size of the clips.
pub const SIZE: (u32, u32) = (1280, 720);
/// Size of the face patch pasted in.
pub const PATCH: (u32, u32) = (150, 170);

/// The astronaut's head (hair to chin, with some background), scaled
/// by `scale`.
///
/// # Errors
/// When the fixture cannot be read.
pub fn head(scale: f32) -> anyhow::Result<RgbImage> {
    let photo = image::open(fixture("astronaut.png")?)?.to_rgb8();
    let patch = image::imageops::crop_imm(&photo, 150, 30, PATCH.0, PATCH.1).to_image();
    let size = (
        (PATCH.0 as f32 * scale) as u32,
        (PATCH.1 as f32 * scale) as u32,
    );
    Ok(image::imageops::resize(
        &patch,
        size.0,
        size.1,
        image::imageops::FilterType::Triangle,
    ))
}

/// The coffee photograph stretched to the frame (a real background).
///
/// # Errors
/// When the fixture cannot be read.
pub fn coffee() -> anyhow::Result<RgbImage> {
    let photo = image::open(fixture("coffee.png")?)?.to_rgb8();
    Ok(image::imageops::resize(
        &photo,
        SIZE.0,
        SIZE.1,
        image::imageops::FilterType::Triangle,
    ))
}

/// A textured background unlike the coffee photo (diagonal stripes).
pub fn stripes() -> RgbImage {
    RgbImage::from_fn(SIZE.0, SIZE.1, |x, y| {
        let v = ((x + 2 * y) / 24 % 2) as u8;
        Rgb([40 + 150 * v, 90, 200 - 120 * v])
    })
}

/// `background` with `head` centred at (`cx`, `cy`).
pub fn frame(background: &RgbImage, head: &RgbImage, cx: f32, cy: f32) -> RgbImage {
    let mut f = background.clone();
    let x = (cx - head.width() as f32 / 2.0).round() as i64;
    let y = (cy - head.height() as f32 / 2.0).round() as i64;
    image::imageops::overlay(&mut f, head, x, y);
    f
}

/// A 25 fps H.264 clip of `seconds` made of `frame(i)` with a tone,
/// at `path`.
///
/// # Errors
/// When ffmpeg or the encoder fails.
pub fn clip(path: &Path, seconds: f64, frame: impl Fn(u32) -> RgbImage) -> anyhow::Result<PathBuf> {
    let tone = path.with_extension("tone.m4a");
    super::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("sine=f=330:d={seconds}"),
        "-c:a",
        "aac",
        &tone.to_string_lossy(),
    ])?;
    let codec = VideoCodec::H264 {
        crf: 20,
        preset: X264Preset::Ultrafast,
    };
    let mut w = None;
    for i in 0..(seconds * 25.0).round() as u32 {
        let rgb = frame(i);
        let writer = match w.as_mut() {
            Some(w) => w,
            None => w.insert(VideoWriter::create(
                path,
                codec,
                VideoFormat::new(rgb.width(), rgb.height(), 25.0),
                Some(&tone),
            )?),
        };
        let rgba = RgbaImage::from_fn(rgb.width(), rgb.height(), |x, y| {
            let p = rgb.get_pixel(x, y);
            Rgba([p[0], p[1], p[2], 255])
        });
        writer.push(&rgba, f64::from(i) / 25.0)?;
    }
    if let Some(w) = w {
        w.finish()?;
    }
    Ok(path.to_owned())
}
