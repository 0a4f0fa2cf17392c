//! Streaming video transforms: decode → transform → encode on three
//! threads joined by small bounded queues, so memory holds a few frames
//! whatever the length and both cores stay busy. Frames are turned upright
//! (display rotation applied) before the transform; the source's audio is
//! carried into the output by the [`VideoWriter`].

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use image::{RgbImage, RgbaImage};

use super::encode::{VideoCodec, VideoFormat, VideoWriter};
use super::{MediaError, SamplingMode, VideoReader};
use iprod_core::domain::{Limits, Span};

/// Frames waiting between two stages.
const QUEUE: usize = 3;

/// What a transform pass did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Processed {
    /// Frames written.
    pub frames: u64,
    /// Output size.
    pub width: u32,
    /// Output size.
    pub height: u32,
    /// Seconds of video.
    pub duration_s: f64,
}

/// Opens `input` on the decoding thread (FFmpeg contexts stay on their
/// thread) and tells the waiting side what it found, or `None` when it
/// could not open it.
pub(crate) fn open_announcing(
    input: &Path,
    limits: &Limits,
    info_tx: &mpsc::SyncSender<Option<super::VideoInfo>>,
) -> Result<(VideoReader, super::VideoInfo), MediaError> {
    match VideoReader::open(input, limits) {
        Ok(reader) => {
            let info = reader.info().clone();
            let _ = info_tx.send(Some(info.clone()));
            Ok((reader, info))
        }
        Err(e) => {
            let _ = info_tx.send(None);
            Err(e)
        }
    }
}

/// A stage thread's outcome; a panic becomes an error naming the stage.
pub(crate) fn joined<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, MediaError>>,
    stage: &str,
) -> Result<T, MediaError> {
    handle.join().unwrap_or_else(|_| {
        Err(MediaError::Corrupt {
            kind: "video",
            detail: format!("the {stage} thread panicked"),
        })
    })
}

/// Closes `writer` and says what it wrote: the last frame shown at
/// `last_time` lasts one frame at `frame_rate`.
pub(crate) fn finished(
    writer: VideoWriter,
    size: (u32, u32),
    last_time: f64,
    frame_rate: f64,
) -> Result<Processed, MediaError> {
    let frames = writer.frames();
    writer.finish()?;
    let step = if frame_rate > 0.0 {
        1.0 / frame_rate
    } else {
        0.0
    };
    Ok(Processed {
        frames,
        width: size.0,
        height: size.1,
        duration_s: last_time + step,
    })
}

/// Half a frame at `frame_rate`: the tolerance for timestamps rounded
/// to a time base.
pub(crate) fn half_frame(frame_rate: f64) -> f64 {
    if frame_rate > 0.0 {
        0.5 / frame_rate
    } else {
        0.001
    }
}

pub(crate) fn stopped() -> MediaError {
    MediaError::Corrupt {
        kind: "video",
        detail: "the decoding thread stopped".into(),
    }
}

/// Decodes every frame of `input`, passes it (upright RGB, with its time
/// and index) through `transform`, and encodes the results into `output`
/// as `codec`, with the input's audio. `transform` must return frames of
/// one size (even for 4:2:0 codecs).
///
/// With a `span`, only that segment is decoded and transformed, from its
/// warm-up on, and only the frames it outputs are encoded, without audio:
/// a part for [`crate::join::join_parts`].
///
/// # Errors
/// Media errors from decoding or encoding; `Cancelled` when `cancel` is
/// set; whatever `transform` returns.
pub fn transform_video(
    input: &Path,
    output: &Path,
    codec: VideoCodec,
    limits: &Limits,
    cancel: &AtomicBool,
    span: Option<Span>,
    mut transform: impl FnMut(RgbImage, f64, u64) -> Result<RgbaImage, MediaError> + Send,
) -> Result<Processed, MediaError> {
    let (to_transform, decoded) = mpsc::sync_channel::<(RgbImage, f64)>(QUEUE);
    let (to_encoder, transformed) = mpsc::sync_channel::<(RgbaImage, f64)>(QUEUE);
    std::thread::scope(|scope| {
        // The reader holds FFmpeg contexts that stay on their thread.
        let (info_tx, info_rx) = mpsc::sync_channel(1);
        let decoder = scope.spawn(move || -> Result<(), MediaError> {
            let (mut reader, info) = open_announcing(input, limits, &info_tx)?;
            let (from_s, until_s) = span.map_or((0.0, f64::INFINITY), |s| (s.warm_s, s.end_s));
            reader.for_each_frame_between(from_s, until_s, SamplingMode::All, |reader, f| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(MediaError::Cancelled);
                }
                let rgb = reader.to_rgb(f.frame, info.width, info.height)?;
                let upright = info.rotation.apply(rgb);
                Ok(if to_transform.send((upright, f.time_s)).is_err() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
        });
        let Ok(Some(info)) = info_rx.recv() else {
            drop(to_encoder);
            return joined(decoder, "decoding").and(Err(stopped()));
        };
        let encoder = scope.spawn(move || -> Result<Processed, MediaError> {
            let mut writer: Option<VideoWriter> = None;
            let mut last_time = 0.0;
            let mut size = (0, 0);
            let slack = half_frame(info.frame_rate);
            let audio_from = if span.is_some() { None } else { Some(input) };
            for (frame, time) in transformed {
                if span.is_some_and(|s| !s.outputs(time, slack)) {
                    continue;
                }
                if writer.is_none() {
                    size = frame.dimensions();
                    let format = VideoFormat {
                        colour: info.colour,
                        ..VideoFormat::new(size.0, size.1, info.frame_rate)
                    };
                    writer = Some(VideoWriter::create(output, codec, format, audio_from)?);
                }
                if let Some(w) = writer.as_mut() {
                    w.push(&frame, time)?;
                }
                last_time = time;
            }
            let Some(w) = writer else {
                return Err(MediaError::Corrupt {
                    kind: "video",
                    detail: "no frame decoded".into(),
                });
            };
            finished(w, size, last_time, info.frame_rate)
        });
        let mut failed = None;
        for (index, (frame, time)) in (0u64..).zip(decoded) {
            let out = match transform(frame, time, index) {
                Ok(out) => out,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            if to_encoder.send((out, time)).is_err() {
                break;
            }
        }
        drop(to_encoder);
        let decoded = joined(decoder, "decoding");
        let encoded = joined(encoder, "encoding");
        if let Some(e) = failed {
            return Err(e);
        }
        // A decoding error explains an encoder that saw too few frames.
        decoded?;
        encoded
    })
}

/// A video played over and over, its frames scaled to cover a fixed size
/// and centre-cropped, decoded ahead on its own thread (a background for
/// a composite). Ask for the frame showing at a time with [`Self::at`].
pub struct LoopedVideo {
    frames: mpsc::Receiver<Result<(RgbImage, f64), MediaError>>,
    current: Option<(RgbImage, f64)>,
    next: Option<(RgbImage, f64)>,
    ended: bool,
}

impl std::fmt::Debug for LoopedVideo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopedVideo")
            .field("time", &self.current.as_ref().map(|c| c.1))
            .finish_non_exhaustive()
    }
}

impl LoopedVideo {
    /// Starts decoding `path` for frames of `width`×`height`.
    ///
    /// # Errors
    /// What opening the video gives (checked before returning).
    pub fn open(path: &Path, width: u32, height: u32, limits: &Limits) -> Result<Self, MediaError> {
        // Open once here so a bad file fails now, with its own error.
        let info = VideoReader::open(path, limits)?.info().clone();
        let (tx, frames) = mpsc::sync_channel(2);
        let path = path.to_owned();
        let limits = *limits;
        std::thread::spawn(move || {
            let mut offset = 0.0;
            loop {
                let mut last = None;
                let pass = VideoReader::open(&path, &limits).and_then(|mut reader| {
                    let ((sw, sh), (x, y)) = crate::vision::resize::cover_crop(
                        info.display_size().0,
                        info.display_size().1,
                        width,
                        height,
                    );
                    let (cw, ch) = if info.rotation.swaps_axes() {
                        (sh, sw)
                    } else {
                        (sw, sh)
                    };
                    reader.for_each_frame(SamplingMode::All, |reader, f| {
                        let upright = info.rotation.apply(reader.to_rgb(f.frame, cw, ch)?);
                        let plate =
                            image::imageops::crop_imm(&upright, x, y, width, height).to_image();
                        last = Some(f.time_s);
                        Ok(if tx.send(Ok((plate, offset + f.time_s))).is_err() {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        })
                    })
                });
                match (pass, last) {
                    (Err(e), _) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    (Ok(()), Some(t)) => {
                        let step = if info.frame_rate > 0.0 {
                            1.0 / info.frame_rate
                        } else {
                            0.04
                        };
                        offset += t + step;
                    }
                    (Ok(()), None) => return,
                }
            }
        });
        Ok(Self {
            frames,
            current: None,
            next: None,
            ended: false,
        })
    }

    fn receive(&mut self) -> Result<Option<(RgbImage, f64)>, MediaError> {
        if self.ended {
            return Ok(None);
        }
        match self.frames.recv() {
            Ok(Ok(frame)) => Ok(Some(frame)),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.ended = true;
                Ok(None)
            }
        }
    }

    /// The frame showing at `time_s` (times only move forward).
    ///
    /// # Errors
    /// `Corrupt` when the video has no frame; decoding errors.
    pub fn at(&mut self, time_s: f64) -> Result<&RgbImage, MediaError> {
        if self.current.is_none() {
            self.current = self.receive()?;
        }
        loop {
            if self.next.is_none() {
                self.next = self.receive()?;
            }
            match self.next.take() {
                Some(next) if next.1 <= time_s + 1e-6 => self.current = Some(next),
                other => {
                    self.next = other;
                    break;
                }
            }
        }
        self.current
            .as_ref()
            .map(|c| &c.0)
            .ok_or_else(|| MediaError::Corrupt {
                kind: "video",
                detail: "the background video has no frame".into(),
            })
    }
}

/// What the decoding thread hands the encoder.
enum Cropped {
    /// Already in the encoder's format: no colour conversion.
    Yuv(ffmpeg_next::frame::Video),
    /// Upright RGB(A) from the general path.
    Rgba(RgbaImage),
}

/// A moving crop: the window's size, the output's, and the window's
/// top-left corner (upright frame) for each frame index.
#[derive(Debug, Clone, Copy)]
pub struct Crop<F> {
    /// Window size in the source.
    pub window: (u32, u32),
    /// Output size (the window is scaled to it).
    pub output: (u32, u32),
    /// Frame index (from the first frame cropped) and time → window
    /// position.
    pub position: F,
    /// Only these frames, without audio (a segment of a split job).
    pub span: Option<Span>,
}

/// The `crop.window`-sized crop of every frame of `input`, scaled to
/// `crop.output`, encoded as `codec` with the input's audio.
///
/// Plain 4:2:0 video that needs no rotation is cropped in YUV, straight
/// from the decoded planes, and scaled once (as FFmpeg's `crop`+`scale`
/// does: no RGB round trip, colours untouched); anything else goes through
/// upright RGB.
///
/// # Errors
/// Media errors from decoding or encoding; `Cancelled` when `cancel` is
/// set.
pub fn crop_video(
    input: &Path,
    output_path: &Path,
    codec: VideoCodec,
    limits: &Limits,
    cancel: &AtomicBool,
    crop: Crop<impl Fn(u64, f64) -> (u32, u32) + Send>,
) -> Result<Processed, MediaError> {
    let Crop {
        window,
        output,
        position,
        span,
    } = crop;
    let (tx, frames) = mpsc::sync_channel::<(Cropped, f64)>(QUEUE);
    std::thread::scope(|scope| {
        let (info_tx, info_rx) = mpsc::sync_channel(1);
        let decoder = scope.spawn(move || -> Result<(), MediaError> {
            let (mut reader, info) = open_announcing(input, limits, &info_tx)?;
            let mut cropper = YuvCropper::new(window, output);
            let mut index = 0u64;
            let (from_s, until_s) = span.map_or((0.0, f64::INFINITY), |s| (s.start_s, s.end_s));
            reader.for_each_frame_between(from_s, until_s, SamplingMode::All, |reader, f| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(MediaError::Cancelled);
                }
                let (x, y) = position(index, f.time_s);
                index += 1;
                let (w, h) = window;
                let frame = f.frame;
                let plain = YuvCropper::takes(frame, &info);
                let out = if plain && x + w <= frame.width() && y + h <= frame.height() {
                    Cropped::Yuv(cropper.crop(frame, x, y)?)
                } else {
                    let upright =
                        info.rotation
                            .apply(reader.to_rgb(frame, info.width, info.height)?);
                    let (fw, fh) = upright.dimensions();
                    let (cw, ch) = (w.min(fw), h.min(fh));
                    let part =
                        image::imageops::crop_imm(&upright, x.min(fw - cw), y.min(fh - ch), cw, ch)
                            .to_image();
                    let part = if (cw, ch) == output {
                        part
                    } else {
                        image::imageops::resize(
                            &part,
                            output.0,
                            output.1,
                            image::imageops::FilterType::Triangle,
                        )
                    };
                    Cropped::Rgba(image::DynamicImage::ImageRgb8(part).to_rgba8())
                };
                Ok(if tx.send((out, f.time_s)).is_err() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
        });
        let Ok(Some(info)) = info_rx.recv() else {
            return joined(decoder, "decoding").and(Err(stopped()));
        };
        let format = VideoFormat {
            colour: info.colour,
            ..VideoFormat::new(output.0, output.1, info.frame_rate)
        };
        let encoded = (|| -> Result<Processed, MediaError> {
            let audio_from = if span.is_some() { None } else { Some(input) };
            let mut writer = VideoWriter::create(output_path, codec, format, audio_from)?;
            let mut last_time = 0.0;
            for (frame, time) in frames.iter() {
                match frame {
                    Cropped::Yuv(f) => writer.push_yuv(f, time)?,
                    Cropped::Rgba(img) => writer.push(&img, time)?,
                }
                last_time = time;
            }
            finished(writer, output, last_time, info.frame_rate)
        })();
        // Stop the decoder if encoding failed early.
        drop(frames);
        let decoded = joined(decoder, "decoding");
        decoded?;
        encoded
    })
}

/// Crops 4:2:0 frames straight from their planes and scales the window to
/// the output size (as FFmpeg's `crop`+`scale` do: no RGB round trip, the
/// colours untouched).
pub struct YuvCropper {
    window: (u32, u32),
    output: (u32, u32),
    scaler: Option<ffmpeg_next::software::scaling::Context>,
}

impl std::fmt::Debug for YuvCropper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YuvCropper")
            .field("window", &self.window)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl YuvCropper {
    /// A cropper of `window`-sized parts scaled to `output`.
    pub fn new(window: (u32, u32), output: (u32, u32)) -> Self {
        Self {
            window,
            output,
            scaler: None,
        }
    }

    /// Whether `frame` of a stream described by `info` can be cropped so:
    /// limited-range `yuv420p` shown as stored (no rotation).
    pub fn takes(frame: &ffmpeg_next::frame::Video, info: &super::VideoInfo) -> bool {
        frame.format() == ffmpeg_next::format::Pixel::YUV420P
            && info.rotation == super::Rotation::None
            && !info.colour.full_range
    }

    /// The window at (`x`, `y`) (rounded down to even), scaled.
    ///
    /// # Errors
    /// `Encode` when the window does not fit the frame; `Ffmpeg` when
    /// scaling fails.
    pub fn crop(
        &mut self,
        frame: &ffmpeg_next::frame::Video,
        x: u32,
        y: u32,
    ) -> Result<ffmpeg_next::frame::Video, MediaError> {
        use ffmpeg_next::format::Pixel;
        use ffmpeg_next::frame::Video;
        let (w, h) = self.window;
        let (x, y) = (x & !1, y & !1);
        if x + w > frame.width() || y + h > frame.height() {
            return Err(MediaError::Encode {
                format: "crop",
                detail: format!(
                    "window {w}x{h} at {x},{y} outside the {}x{} frame",
                    frame.width(),
                    frame.height()
                ),
            });
        }
        let mut crop = Video::new(Pixel::YUV420P, w, h);
        for plane in 0..3 {
            let shift = u32::from(plane > 0);
            let (px, py) = ((x >> shift) as usize, (y >> shift) as usize);
            let (pw, ph) = ((w >> shift) as usize, (h >> shift) as usize);
            let (ss, ds) = (frame.stride(plane), crop.stride(plane));
            let src = frame.data(plane);
            let dst = crop.data_mut(plane);
            for row in 0..ph {
                let s = (py + row) * ss + px;
                dst[row * ds..row * ds + pw].copy_from_slice(&src[s..s + pw]);
            }
        }
        if self.window == self.output {
            return Ok(crop);
        }
        if self.scaler.is_none() {
            self.scaler = Some(
                ffmpeg_next::software::scaling::Context::get(
                    Pixel::YUV420P,
                    w,
                    h,
                    Pixel::YUV420P,
                    self.output.0,
                    self.output.1,
                    ffmpeg_next::software::scaling::Flags::BICUBIC,
                )
                .map_err(|source| MediaError::Ffmpeg {
                    context: "creating a scaler",
                    source,
                })?,
            );
        }
        let mut scaled = Video::empty();
        if let Some(s) = self.scaler.as_mut() {
            s.run(&crop, &mut scaled)
                .map_err(|source| MediaError::Ffmpeg {
                    context: "scaling",
                    source,
                })?;
        }
        Ok(scaled)
    }
}
