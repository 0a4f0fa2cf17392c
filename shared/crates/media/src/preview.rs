//! Animated previews: GIF (one palette per frame, binary transparency)
//! and WebP (lossy with real alpha), looping, scaled so the long side is
//! at most [`PREVIEW_SIDE`] pixels and thinned to at most [`PREVIEW_FPS`]
//! frames a second. Frames are streamed to the file as they come.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use image::codecs::gif::{GifEncoder, Repeat};
use image::imageops::FilterType;
use image::{Delay, Frame, RgbaImage};

use super::encode::{VideoCodec, VideoFormat, VideoWriter};
use super::MediaError;

/// Longest side of a preview, pixels.
pub const PREVIEW_SIDE: u32 = 480;
/// Most frames a second in a preview.
pub const PREVIEW_FPS: f64 = 10.0;

/// Which animation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewKind {
    /// Animated GIF: alpha below one half becomes transparent.
    Gif,
    /// Animated WebP with an 8-bit alpha channel.
    Webp,
}

enum Sink {
    Gif {
        encoder: Box<GifEncoder<BufWriter<File>>>,
        /// The last frame, written once the next one gives its delay.
        pending: Option<(RgbaImage, f64)>,
    },
    Webp(Box<VideoWriter>),
}

/// Writes one animated preview.
pub struct PreviewWriter {
    path: PathBuf,
    sink: Sink,
    width: u32,
    height: u32,
    next_time: Option<f64>,
    frames: u64,
}

impl std::fmt::Debug for PreviewWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewWriter")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

/// The preview size for a `width`×`height` source: long side at most
/// [`PREVIEW_SIDE`], aspect kept, even sizes.
pub fn preview_size(width: u32, height: u32) -> (u32, u32) {
    let long = width.max(height).max(1);
    let scale = (f64::from(PREVIEW_SIDE) / f64::from(long)).min(1.0);
    let side = |v: u32| (((f64::from(v) * scale).round() as u32) & !1).max(2);
    (side(width), side(height))
}

fn encode_error(e: image::ImageError) -> MediaError {
    MediaError::Encode {
        format: "gif",
        detail: e.to_string(),
    }
}

impl PreviewWriter {
    /// Creates `path` for a preview of `width`×`height` source frames.
    ///
    /// # Errors
    /// `Io` when the file cannot be created; `Ffmpeg` when the WebP
    /// encoder cannot be set up.
    pub fn create(
        path: &Path,
        kind: PreviewKind,
        width: u32,
        height: u32,
    ) -> Result<Self, MediaError> {
        let (w, h) = preview_size(width, height);
        let sink = match kind {
            PreviewKind::Gif => {
                let file = File::create(path).map_err(|source| MediaError::Io {
                    context: format!("creating {}", path.display()),
                    source,
                })?;
                let mut encoder = GifEncoder::new_with_speed(BufWriter::new(file), 10);
                encoder.set_repeat(Repeat::Infinite).map_err(encode_error)?;
                Sink::Gif {
                    encoder: Box::new(encoder),
                    pending: None,
                }
            }
            PreviewKind::Webp => Sink::Webp(Box::new(VideoWriter::create(
                path,
                VideoCodec::AnimatedWebp { quality: 75 },
                VideoFormat::new(w, h, PREVIEW_FPS),
                None,
            )?)),
        };
        Ok(Self {
            path: path.to_owned(),
            sink,
            width: w,
            height: h,
            next_time: None,
            frames: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The preview's size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Offers a source frame shown at `time_s`; it is kept when at least
    /// 1/[`PREVIEW_FPS`] s has passed since the last one kept.
    ///
    /// # Errors
    /// `Encode`/`Ffmpeg` when writing fails.
    pub fn push(&mut self, image: &RgbaImage, time_s: f64) -> Result<(), MediaError> {
        if self.next_time.is_some_and(|next| time_s + 1e-6 < next) {
            return Ok(());
        }
        let step = 1.0 / PREVIEW_FPS;
        self.next_time = Some(self.next_time.map_or(time_s, |n| n.max(time_s - step)) + step);
        let small = if image.dimensions() == (self.width, self.height) {
            image.clone()
        } else {
            image::imageops::resize(image, self.width, self.height, FilterType::Triangle)
        };
        match &mut self.sink {
            Sink::Gif { encoder, pending } => {
                if let Some((previous, shown)) = pending.take() {
                    write_gif_frame(encoder, previous, time_s - shown)?;
                }
                *pending = Some((small, time_s));
            }
            Sink::Webp(writer) => writer.push(&small, time_s)?,
        }
        self.frames += 1;
        Ok(())
    }

    /// Writes the last frame and closes the file.
    ///
    /// # Errors
    /// `Encode` when no frame was offered or writing fails.
    pub fn finish(self) -> Result<PathBuf, MediaError> {
        if self.frames == 0 {
            return Err(MediaError::Encode {
                format: "preview",
                detail: "no frames to write".into(),
            });
        }
        match self.sink {
            Sink::Gif {
                mut encoder,
                pending,
            } => {
                if let Some((last, _)) = pending {
                    write_gif_frame(&mut encoder, last, 1.0 / PREVIEW_FPS)?;
                }
                // The trailer is written when the encoder is dropped.
                drop(encoder);
            }
            Sink::Webp(writer) => {
                writer.finish()?;
            }
        }
        Ok(self.path)
    }
}

/// GIF has one transparent palette entry: alpha is made binary at one half.
fn write_gif_frame(
    encoder: &mut GifEncoder<BufWriter<File>>,
    mut image: RgbaImage,
    shown_s: f64,
) -> Result<(), MediaError> {
    for p in image.pixels_mut() {
        if p[3] < 128 {
            p.0 = [0, 0, 0, 0];
        } else {
            p[3] = 255;
        }
    }
    let centis = (shown_s * 100.0).round().clamp(2.0, 65_535.0) as u32;
    let frame = Frame::from_parts(image, 0, 0, Delay::from_numer_denom_ms(centis * 10, 1));
    encoder.encode_frame(frame).map_err(encode_error)
}
