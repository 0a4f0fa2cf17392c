//! `VideoGreenScreenMatting`: green- or blue-screen keying with real alpha
//! (see [`key`]), for videos (VP9+alpha WebM, ProRes 4444
//! MOV, or H.264 MP4 over a colour or a background image, audio kept) and
//! still images (PNG with alpha, or composited).
//!
//! A picture with no screen in it (less than a fifth of the first frame is
//! green or blue) fails with `UnsupportedMedia` instead of producing an
//! output that keys nothing; `KeyColor` forces a screen colour.

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod key;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use image::{RgbImage, Rgba, RgbaImage};

use super::{Capability, Context, ExtraInput, OutputSink, Passes, Report};
use crate::capabilities::green_screen::api::{
    GreenScreenParams, GreenScreenResult, KeyColor, MatteFormat,
};
use crate::capabilities::green_screen::key::{detect_screen, KeySettings, Keyer, Screen};
use crate::domain::{ErrorCode, FunctionName, JobError, MediaLocation};
use crate::media::encode::{VideoCodec, X264Preset};
use crate::media::image_out::read_still;
use crate::media::preview::{PreviewKind, PreviewWriter};
use crate::media::process::{transform_video, LoopedVideo};
use crate::media::sequence::PngZip;
use crate::media::{MediaError, VideoReader};
use crate::vision::resize::cover_crop;

/// The `VideoGreenScreenMatting` capability.
#[derive(Debug, Clone, Copy, Default)]
pub struct GreenScreen;

impl Capability for GreenScreen {
    type Params = GreenScreenParams;
    type Output = GreenScreenResult;

    fn function(&self) -> FunctionName {
        FunctionName::VideoGreenScreenMatting
    }

    fn parse(&self, params: &serde_json::Value) -> Result<GreenScreenParams, JobError> {
        GreenScreenParams::try_from(params)
    }

    fn extra_inputs(&self, params: &GreenScreenParams) -> Vec<(ExtraInput, MediaLocation)> {
        params
            .bgimage
            .iter()
            .map(|l| (ExtraInput::Background, l.clone()))
            .collect()
    }

    fn run(
        &self,
        input: &Path,
        params: &GreenScreenParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<GreenScreenResult>, JobError> {
        let background = match (params.bgcolor, &params.bgimage) {
            (Some(colour), _) => Some(Background::Colour(colour)),
            (None, Some(location)) => {
                let local = ctx.inputs.get(&ExtraInput::Background).ok_or_else(|| {
                    JobError::permanent(
                        ErrorCode::InternalError,
                        format!("bgimage {location} was not fetched"),
                    )
                })?;
                Some(match read_still(local, &ctx.limits)? {
                    Some(image) => Background::Image(image),
                    None => match VideoReader::open(local, &ctx.limits) {
                        Ok(_) => Background::Video(local.clone()),
                        Err(e) => {
                            return Err(JobError::permanent(
                                ErrorCode::InvalidMedia,
                                format!("bgimage {location} is not an image (PNG, JPEG, WebP) or a video: {e}"),
                            ))
                        }
                    },
                })
            }
            (None, None) => None,
        };
        let result = match read_still(input, &ctx.limits)? {
            Some(image) => key_image(&image, params, background.as_ref(), sink, ctx)?,
            None => key_video(input, params, background.as_ref(), sink, ctx)?,
        };
        let message = format!(
            "{} screen keyed: {} {}x{}{}",
            result.screen,
            match result.format {
                MatteFormat::Webm => "VP9 WebM with alpha",
                MatteFormat::Mov => "ProRes 4444 MOV with alpha",
                MatteFormat::Mp4 => "H.264 MP4 over the background",
                MatteFormat::Png if result.frames > 1 => "PNG sequence",
                MatteFormat::Png => "PNG",
                MatteFormat::Zip => "PNG sequence in a zip",
                MatteFormat::Gif => "animated GIF preview",
                MatteFormat::Webp => "animated WebP preview with alpha",
            },
            result.width,
            result.height,
            if result.frames > 1 {
                format!(", {} frames", result.frames)
            } else {
                String::new()
            }
        );
        Ok(Report { message, result })
    }
}

fn settings(params: &GreenScreenParams) -> KeySettings {
    KeySettings {
        strength: params.strength,
        clip: params.clip,
        spill: params.spill,
    }
}

fn screen_of(frame: &RgbImage, params: &GreenScreenParams) -> Result<Screen, JobError> {
    match params.key_color {
        KeyColor::Green => Ok(Screen::Green),
        KeyColor::Blue => Ok(Screen::Blue),
        KeyColor::Auto => detect_screen(frame).ok_or_else(|| {
            JobError::permanent(
                ErrorCode::UnsupportedMedia,
                "no green or blue screen found: less than a fifth of the first frame is screen-coloured (set KeyColor to green or blue to key anyway)",
            )
        }),
    }
}

fn screen_name(s: Screen) -> &'static str {
    match s {
        Screen::Green => "green",
        Screen::Blue => "blue",
    }
}

/// What to composite the keyed subject over.
#[derive(Debug)]
enum Background {
    Colour([u8; 3]),
    Image(RgbImage),
    /// A video file, looped under the subject.
    Video(PathBuf),
}

/// A background made for one output size.
#[derive(Debug)]
enum Plate {
    Still(RgbImage),
    Moving(Box<LoopedVideo>),
}

impl Plate {
    /// The background showing at `time_s`.
    fn at(&mut self, time_s: f64) -> Result<&RgbImage, MediaError> {
        match self {
            Self::Still(image) => Ok(image),
            Self::Moving(video) => video.at(time_s),
        }
    }
}

impl Background {
    /// The background at `w`×`h`: a colour, or the picture (or video)
    /// scaled to cover the frame and centre-cropped.
    fn plate(&self, w: u32, h: u32, ctx: &Context) -> Result<Plate, MediaError> {
        Ok(match self {
            Self::Colour(c) => Plate::Still(RgbImage::from_pixel(w, h, image::Rgb(*c))),
            Self::Image(img) => {
                let ((sw, sh), (x, y)) = cover_crop(img.width(), img.height(), w, h);
                let scaled =
                    image::imageops::resize(img, sw, sh, image::imageops::FilterType::Triangle);
                Plate::Still(image::imageops::crop_imm(&scaled, x, y, w, h).to_image())
            }
            Self::Video(path) => {
                Plate::Moving(Box::new(LoopedVideo::open(path, w, h, &ctx.limits)?))
            }
        })
    }
}

/// Composites `keyed` over `plate` (same size; alpha 255 out).
fn over(keyed: &RgbaImage, plate: &RgbImage) -> RgbaImage {
    RgbaImage::from_fn(keyed.width(), keyed.height(), |x, y| {
        let p = keyed.get_pixel(x, y);
        let b = plate.get_pixel(x, y);
        let a = u16::from(p[3]);
        let mix =
            |c: usize| ((u16::from(p[c]) * a + u16::from(b[c]) * (255 - a) + 127) / 255) as u8;
        Rgba([mix(0), mix(1), mix(2), 255])
    })
}

fn internal(e: impl std::fmt::Display) -> JobError {
    JobError::permanent(ErrorCode::InternalError, e.to_string())
}

fn key_image(
    image: &RgbImage,
    params: &GreenScreenParams,
    background: Option<&Background>,
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<GreenScreenResult, JobError> {
    if params.format.is_some_and(MatteFormat::video_only) {
        return Err(JobError::param("Format", "an image input gives png"));
    }
    let screen = screen_of(image, params)?;
    let mut keyed = Keyer::new(screen, settings(params)).key(image);
    if let Some(b) = background {
        let mut plate = b.plate(keyed.width(), keyed.height(), ctx)?;
        keyed = over(&keyed, plate.at(0.0)?);
    }
    let file = sink.plan("matte", "png", "image/png", false)?;
    keyed.save(&file.local).map_err(internal)?;
    Ok(GreenScreenResult {
        file: file.location.to_string(),
        format: MatteFormat::Png,
        screen: screen_name(screen),
        alpha: background.is_none(),
        width: keyed.width(),
        height: keyed.height(),
        frames: 1,
        duration: 0.0,
    })
}

/// Most frames written as a PNG sequence (one object each).
pub const MAX_PNG_FRAMES: u64 = 3000;

/// Keys every frame of `input` (composited over `plate` when given) and
/// hands it to `each` with its time, on this thread; returns the number
/// of frames handed over.
fn each_keyed_frame(
    input: &Path,
    keyer: &mut Keyer,
    mut plate: Option<&mut Plate>,
    ctx: &Context,
    mut each: impl FnMut(&RgbaImage, f64) -> Result<ControlFlow<()>, JobError>,
) -> Result<u64, JobError> {
    let mut reader = VideoReader::open(input, &ctx.limits)?;
    let info = reader.info().clone();
    let progress = Passes::new(
        ctx.progress.clone(),
        &[Passes::frames(info.duration_s, info.frame_rate)],
    );
    let mut frames = 0u64;
    let mut failed = None;
    reader.for_each_frame(crate::media::SamplingMode::All, |reader, f| {
        if ctx.cancelled() {
            return Err(MediaError::Cancelled);
        }
        let rgb = info
            .rotation
            .apply(reader.to_rgb(f.frame, info.width, info.height)?);
        let mut keyed = keyer.key(&rgb);
        if let Some(p) = plate.as_deref_mut() {
            let p = p.at(f.time_s)?;
            if p.dimensions() == keyed.dimensions() {
                keyed = over(&keyed, p);
            }
        }
        progress.set(0, frames);
        match each(&keyed, f.time_s) {
            Ok(flow) => {
                frames += 1;
                Ok(flow)
            }
            Err(e) => {
                failed = Some(e);
                Ok(ControlFlow::Break(()))
            }
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None if frames == 0 => Err(JobError::permanent(
            ErrorCode::InvalidMedia,
            "no frame decoded",
        )),
        None => Ok(frames),
    }
}

/// Writes a keyed video as separate PNGs, one zip of PNGs, or an animated
/// preview; returns the (first) file's location, the output size and the
/// number of frames.
fn key_to_frames(
    input: &Path,
    format: MatteFormat,
    keyer: &mut Keyer,
    plate: Option<&mut Plate>,
    (width, height): (u32, u32),
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<(String, (u32, u32), u64), JobError> {
    match format {
        MatteFormat::Png => {
            let info = VideoReader::open(input, &ctx.limits)?.info().clone();
            let expected = (info.duration_s * info.frame_rate).round();
            if expected > MAX_PNG_FRAMES as f64 {
                return Err(JobError::permanent(
                    ErrorCode::LimitExceeded,
                    format!("separate PNGs are limited to {MAX_PNG_FRAMES} frames and this video has about {expected}; use zip, webm or mov"),
                ));
            }
            let mut first = None;
            let mut written = 0u64;
            let frames = each_keyed_frame(input, keyer, plate, ctx, |keyed, _| {
                let file = sink.plan("matte", "png", "image/png", true)?;
                keyed.save(&file.local).map_err(internal)?;
                first.get_or_insert(file.location.to_string());
                written += 1;
                Ok(if written >= MAX_PNG_FRAMES {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })?;
            Ok((first.unwrap_or_default(), (width, height), frames))
        }
        MatteFormat::Zip => {
            let file = sink.plan("matte", "zip", "application/zip", false)?;
            let mut zip = PngZip::create(&file.local)?;
            let frames = each_keyed_frame(input, keyer, plate, ctx, |keyed, time| {
                zip.push(keyed, time)?;
                Ok(ControlFlow::Continue(()))
            })?;
            zip.finish()?;
            Ok((file.location.to_string(), (width, height), frames))
        }
        _ => {
            let (kind, ext, mime) = if format == MatteFormat::Gif {
                (PreviewKind::Gif, "gif", "image/gif")
            } else {
                (PreviewKind::Webp, "webp", "image/webp")
            };
            let file = sink.plan("matte", ext, mime, false)?;
            let mut preview = PreviewWriter::create(&file.local, kind, width, height)?;
            each_keyed_frame(input, keyer, plate, ctx, |keyed, time| {
                preview.push(keyed, time)?;
                Ok(ControlFlow::Continue(()))
            })?;
            let (size, frames) = (preview.size(), preview.frames());
            preview.finish()?;
            Ok((file.location.to_string(), size, frames))
        }
    }
}

fn key_video(
    input: &Path,
    params: &GreenScreenParams,
    background: Option<&Background>,
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<GreenScreenResult, JobError> {
    let format = match (params.format, background) {
        (Some(f), _) => f,
        (None, Some(_)) => MatteFormat::Mp4,
        (None, None) => MatteFormat::Webm,
    };
    let (first, subsampled, expected) = {
        let mut reader = VideoReader::open(input, &ctx.limits)?;
        let info = reader.info().clone();
        let expected = Passes::frames(info.duration_s, info.frame_rate);
        let frame = reader.frame_at(0.0)?;
        let subsampled = !matches!(
            frame.format(),
            ffmpeg_next::format::Pixel::YUV444P
                | ffmpeg_next::format::Pixel::YUVJ444P
                | ffmpeg_next::format::Pixel::RGB24
                | ffmpeg_next::format::Pixel::GBRP
        );
        (
            info.rotation
                .apply(reader.to_rgb(&frame, info.width, info.height)?),
            subsampled,
            expected,
        )
    };
    let screen = screen_of(&first, params)?;
    let mut keyer = Keyer::new(screen, settings(params)).for_subsampled_chroma(subsampled);
    let mut plate = background
        .map(|b| b.plate(first.width(), first.height(), ctx))
        .transpose()?;
    if matches!(
        format,
        MatteFormat::Png | MatteFormat::Zip | MatteFormat::Gif | MatteFormat::Webp
    ) {
        let (file, (width, height), frames) = key_to_frames(
            input,
            format,
            &mut keyer,
            plate.as_mut(),
            first.dimensions(),
            sink,
            ctx,
        )?;
        return Ok(GreenScreenResult {
            file,
            format,
            screen: screen_name(screen),
            alpha: background.is_none(),
            width,
            height,
            frames,
            duration: 0.0,
        });
    }
    let codec = match format {
        MatteFormat::Mov => VideoCodec::ProRes4444,
        MatteFormat::Mp4 => VideoCodec::H264 {
            crf: params.crf.min(51),
            preset: X264Preset::Veryfast,
        },
        _ => VideoCodec::Vp9Alpha {
            crf: params.crf.min(63),
        },
    };
    let file = sink.plan("matte", codec.extension(), codec.content_type(), false)?;
    let progress = Passes::new(ctx.progress.clone(), &[expected]);
    let (width, height) = first.dimensions();
    // 4:2:0 codecs need even sizes: the odd last row/column is dropped.
    let (even_w, even_h) = if codec == VideoCodec::ProRes4444 {
        (width, height)
    } else {
        (width & !1, height & !1)
    };
    let done = transform_video(
        input,
        &file.local,
        codec,
        &ctx.limits,
        &ctx.cancel,
        |frame, time, index| {
            let mut keyed = keyer.key(&frame);
            if let Some(plate) = plate.as_mut() {
                let plate = plate.at(time)?;
                if plate.dimensions() == keyed.dimensions() {
                    keyed = over(&keyed, plate);
                }
            }
            if (keyed.width(), keyed.height()) != (even_w, even_h) {
                keyed = image::imageops::crop_imm(&keyed, 0, 0, even_w, even_h).to_image();
            }
            progress.set(0, index + 1);
            Ok(keyed)
        },
    )?;
    Ok(GreenScreenResult {
        file: file.location.to_string(),
        format,
        screen: screen_name(screen),
        alpha: codec.has_alpha(),
        width: done.width,
        height: done.height,
        frames: done.frames,
        duration: (done.duration_s * 1000.0).round() / 1000.0,
    })
}
