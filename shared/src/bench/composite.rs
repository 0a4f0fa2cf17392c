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
    try_clip(path, seconds, |i| Ok(frame(i)))
}

/// [`clip`] of frames that may fail to be made.
///
/// # Errors
/// When ffmpeg, the encoder or `frame` fails.
pub fn try_clip(
    path: &Path,
    seconds: f64,
    frame: impl Fn(u32) -> anyhow::Result<RgbImage>,
) -> anyhow::Result<PathBuf> {
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
        let rgb = frame(i)?;
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

/// A subject without a face, cut out with its alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cutout {
    /// A horse (scikit-image's silhouette, CC0) filled with a cat's fur
    /// (the `chelsea` photograph, CC0); it faces right.
    Horse,
    /// The cat's head from the `chelsea` photograph, an ellipse.
    Cat,
    /// The cup on its saucer from the coffee photograph, an ellipse.
    Cup,
}

/// `kind` scaled to `width` pixels wide, with its alpha.
///
/// # Errors
/// When a fixture cannot be read.
pub fn cutout(kind: Cutout, width: u32) -> anyhow::Result<RgbaImage> {
    let full = match kind {
        Cutout::Horse => {
            let shape = image::open(fixture("horse.png")?)?.to_luma8();
            let cat = image::open(fixture("chelsea.png")?)?.to_rgb8();
            // The striped fur of the cat's cheek and chest, stretched.
            let fur = image::imageops::crop_imm(&cat, 0, 120, 180, 180).to_image();
            let fur = image::imageops::resize(
                &fur,
                shape.width(),
                shape.height(),
                image::imageops::FilterType::Triangle,
            );
            RgbaImage::from_fn(shape.width(), shape.height(), |x, y| {
                let p = fur.get_pixel(x, y);
                // The silhouette is black on white.
                Rgba([p[0], p[1], p[2], 255 - shape.get_pixel(x, y)[0]])
            })
        }
        Cutout::Cat => ellipse(
            &image::open(fixture("chelsea.png")?)?.to_rgb8(),
            (215.0, 150.0),
            (195.0, 150.0),
        ),
        Cutout::Cup => ellipse(
            &image::open(fixture("coffee.png")?)?.to_rgb8(),
            (278.0, 228.0),
            (203.0, 162.0),
        ),
    };
    let height = (f64::from(full.height()) * f64::from(width) / f64::from(full.width())).round();
    Ok(image::imageops::resize(
        &full,
        width,
        height as u32,
        image::imageops::FilterType::Triangle,
    ))
}

/// The ellipse of `photo` at `centre` with semi-axes `radii` (a soft
/// edge of two pixels), the rest transparent.
fn ellipse(photo: &RgbImage, centre: (f32, f32), radii: (f32, f32)) -> RgbaImage {
    RgbaImage::from_fn(photo.width(), photo.height(), |x, y| {
        let (dx, dy) = (
            (x as f32 + 0.5 - centre.0) / radii.0,
            (y as f32 + 0.5 - centre.1) / radii.1,
        );
        let inside = (1.0 - (dx * dx + dy * dy).sqrt()) * radii.0.min(radii.1) / 2.0;
        let p = photo.get_pixel(x, y);
        Rgba([
            p[0],
            p[1],
            p[2],
            (inside.clamp(0.0, 1.0) * 255.0).round() as u8,
        ])
    })
}

/// The columns and rows of `cutout` where it is at least half opaque:
/// `(left, top, right, bottom)`, right and bottom exclusive.
pub fn opaque_box(cutout: &RgbaImage) -> (u32, u32, u32, u32) {
    let mut b = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in cutout.enumerate_pixels() {
        if p[3] >= 128 {
            b = (b.0.min(x), b.1.min(y), b.2.max(x + 1), b.3.max(y + 1));
        }
    }
    b
}

/// `background` with `cutout` blended in, its centre at (`cx`, `cy`).
pub fn blend(background: &RgbImage, cutout: &RgbaImage, cx: f32, cy: f32) -> RgbImage {
    let mut f = background.clone();
    let left = (cx - cutout.width() as f32 / 2.0).round() as i64;
    let top = (cy - cutout.height() as f32 / 2.0).round() as i64;
    for (x, y, p) in cutout.enumerate_pixels() {
        let (fx, fy) = (left + i64::from(x), top + i64::from(y));
        if p[3] == 0
            || fx < 0
            || fy < 0
            || fx >= i64::from(f.width())
            || fy >= i64::from(f.height())
        {
            continue;
        }
        let a = u16::from(p[3]);
        let q = f.get_pixel_mut(fx as u32, fy as u32);
        for c in 0..3 {
            q[c] = ((u16::from(p[c]) * a + u16::from(q[c]) * (255 - a) + 127) / 255) as u8;
        }
    }
    f
}

/// Moving footage to put subjects over: seconds of a video (scaled to
/// [`SIZE`], 25 fps), or else a slow pan across the coffee photograph.
#[derive(Debug)]
pub enum Footage {
    /// Raw RGB frames in a file, how many, and the times of the cuts
    /// between them (by FFmpeg's scene-change score, above 0.3).
    Frames(PathBuf, u32, Vec<f64>),
    /// The photograph, larger than a frame.
    Pan(RgbImage),
}

impl Footage {
    /// `seconds` of `video` from `from` seconds (decoded by FFmpeg into
    /// `work`), or the pan when `None`.
    ///
    /// # Errors
    /// When FFmpeg fails or the fixture is missing.
    pub fn new(video: Option<&Path>, from: f64, seconds: f64, work: &Path) -> anyhow::Result<Self> {
        let Some(video) = video else {
            let photo = image::open(fixture("coffee.png")?)?.to_rgb8();
            return Ok(Self::Pan(image::imageops::resize(
                &photo,
                SIZE.0 * 5 / 4,
                SIZE.1 * 5 / 4,
                image::imageops::FilterType::Triangle,
            )));
        };
        let raw = work.join("footage.rgb");
        let (from, seconds) = (from.to_string(), seconds.to_string());
        let (input, scale) = (
            video.to_string_lossy(),
            format!("fps=25,scale={}:{}", SIZE.0, SIZE.1),
        );
        let span = ["-ss", &from, "-i", &input, "-t", &seconds, "-an"];
        let raw_out = raw.to_string_lossy();
        let decode = [
            "-vf", &scale, "-pix_fmt", "rgb24", "-f", "rawvideo", &raw_out,
        ];
        super::ffmpeg(&[&span[..], &decode[..]].concat())?;
        let frames = std::fs::metadata(&raw)?.len() / u64::from(SIZE.0 * SIZE.1 * 3);
        anyhow::ensure!(frames > 0, "{}: no frames", video.display());
        // The cuts, as FFmpeg's scene filter sees them.
        let out = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin"])
            .args(span)
            .args(["-vf", &format!("{scale},select='gt(scene,0.3)',showinfo")])
            .args(["-f", "null", "-"])
            .output()?;
        anyhow::ensure!(out.status.success(), "ffmpeg's scene filter failed");
        let cuts = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("Parsed_showinfo"))
            .filter_map(|l| {
                l.split("pts_time:")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        Ok(Self::Frames(raw, frames as u32, cuts))
    }

    /// The cuts in the first `seconds`.
    pub fn cuts(&self, seconds: f64) -> usize {
        match self {
            Self::Pan(_) => 0,
            Self::Frames(_, _, cuts) => cuts.iter().filter(|&&t| t < seconds).count(),
        }
    }

    /// Frame `i` (the last one again past the end).
    ///
    /// # Errors
    /// When the raw frames cannot be read.
    pub fn frame(&self, i: u32) -> anyhow::Result<RgbImage> {
        use std::io::{Read, Seek, SeekFrom};
        match self {
            Self::Pan(photo) => {
                let x = (i * 2).min(photo.width() - SIZE.0);
                let y = (i / 2).min(photo.height() - SIZE.1);
                Ok(image::imageops::crop_imm(photo, x, y, SIZE.0, SIZE.1).to_image())
            }
            Self::Frames(raw, frames, _) => {
                let bytes = (SIZE.0 * SIZE.1 * 3) as usize;
                let mut f = std::fs::File::open(raw)?;
                f.seek(SeekFrom::Start((i.min(frames - 1) as usize * bytes) as u64))?;
                let mut buf = vec![0; bytes];
                f.read_exact(&mut buf)?;
                RgbImage::from_raw(SIZE.0, SIZE.1, buf)
                    .ok_or_else(|| anyhow::anyhow!("short frame"))
            }
        }
    }
}
