//! What the cut-out functions (`VideoGreenScreenMatting`, `VideoMatting`,
//! `ImageMatting`) share once each frame has its alpha: the background to
//! composite over (a colour, a picture, or a looping video), and the
//! writers (PNG with alpha, PNG sequences, zip, animated previews, VP9 WebM
//! with alpha, ProRes 4444 MOV, H.264 MP4 over the background; audio kept).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use image::{RgbImage, Rgba, RgbaImage};

use super::{Context, ExtraInput, OutputSink, Passes, Report, Split};
use crate::capabilities::green_screen::api::MatteFormat;
use crate::domain::{ErrorCode, JobError, MediaLocation};
use crate::media::encode::{VideoCodec, X264Preset};
use crate::media::image_out::read_still;
use crate::media::preview::{PreviewKind, PreviewWriter};
use crate::media::process::{transform_video, LoopedVideo};
use crate::media::sequence::PngZip;
use crate::media::{MediaError, VideoReader};
use crate::vision::resize::cover_crop;

/// Gives each upright frame its alpha.
pub trait Matter: Send {
    /// The frame shown at `time_s` with its alpha (same size).
    ///
    /// # Errors
    /// When the frame cannot be matted (a model failed).
    fn matte(&mut self, frame: &RgbImage, time_s: f64) -> Result<RgbaImage, JobError>;
}

/// What to composite the cut-out over.
#[derive(Debug)]
pub enum Background {
    /// A plain colour.
    Colour([u8; 3]),
    /// A picture, scaled to cover the frame.
    Image(RgbImage),
    /// A video file, looped under the subject.
    Video(PathBuf),
}

impl Background {
    /// The background a job asked for: `bgcolor`, or the fetched `bgimage`
    /// (a picture or a video), or none.
    ///
    /// # Errors
    /// `InvalidMedia` when `bgimage` is neither a picture nor a video.
    pub fn of(
        bgcolor: Option<[u8; 3]>,
        bgimage: Option<&MediaLocation>,
        ctx: &Context,
    ) -> Result<Option<Self>, JobError> {
        Ok(match (bgcolor, bgimage) {
            (Some(colour), _) => Some(Self::Colour(colour)),
            (None, Some(location)) => {
                let local = ctx.inputs.get(&ExtraInput::Background).ok_or_else(|| {
                    JobError::permanent(
                        ErrorCode::InternalError,
                        format!("bgimage {location} was not fetched"),
                    )
                })?;
                Some(match read_still(local, &ctx.limits)? {
                    Some(image) => Self::Image(image),
                    None => match VideoReader::open(local, &ctx.limits) {
                        Ok(_) => Self::Video(local.clone()),
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
        })
    }

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

/// Composites `matted` over `plate` (same size; alpha 255 out).
pub fn over(matted: &RgbaImage, plate: &RgbImage) -> RgbaImage {
    RgbaImage::from_fn(matted.width(), matted.height(), |x, y| {
        let p = matted.get_pixel(x, y);
        let b = plate.get_pixel(x, y);
        let a = u16::from(p[3]);
        let mix =
            |c: usize| ((u16::from(p[c]) * a + u16::from(b[c]) * (255 - a) + 127) / 255) as u8;
        Rgba([mix(0), mix(1), mix(2), 255])
    })
}

/// The alpha shown as an opaque grey picture.
fn grey_alpha(matted: &RgbaImage) -> RgbaImage {
    RgbaImage::from_fn(matted.width(), matted.height(), |x, y| {
        let a = matted.get_pixel(x, y)[3];
        Rgba([a, a, a, 255])
    })
}

fn internal(e: impl std::fmt::Display) -> JobError {
    JobError::permanent(ErrorCode::InternalError, e.to_string())
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The (first) output file.
    pub file: String,
    /// Its format.
    pub format: MatteFormat,
    /// Whether it has an alpha channel.
    pub alpha: bool,
    /// Output size.
    pub width: u32,
    /// Output size.
    pub height: u32,
    /// Frames written (1 for a picture).
    pub frames: u64,
    /// Seconds of video (0 for a picture and frame formats).
    pub duration: f64,
}

/// Writes one matted picture as PNG (with alpha, or over `background`).
///
/// # Errors
/// `InvalidParameter` on a video-only `format`; write failures.
pub fn write_still(
    mut matted: RgbaImage,
    format: Option<MatteFormat>,
    background: Option<&Background>,
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<Written, JobError> {
    if format.is_some_and(MatteFormat::video_only) {
        return Err(JobError::param("Format", "an image input gives png"));
    }
    if format == Some(MatteFormat::Mask) {
        let file = sink.plan("mask", "png", "image/png", false)?;
        let grey = image::GrayImage::from_fn(matted.width(), matted.height(), |x, y| {
            image::Luma([matted.get_pixel(x, y)[3]])
        });
        grey.save(&file.local).map_err(internal)?;
        return Ok(Written {
            file: file.location.to_string(),
            format: MatteFormat::Mask,
            alpha: false,
            width: matted.width(),
            height: matted.height(),
            frames: 1,
            duration: 0.0,
        });
    }
    if let Some(b) = background {
        let mut plate = b.plate(matted.width(), matted.height(), ctx)?;
        matted = over(&matted, plate.at(0.0)?);
    }
    let file = sink.plan("matte", "png", "image/png", false)?;
    matted.save(&file.local).map_err(internal)?;
    Ok(Written {
        file: file.location.to_string(),
        format: MatteFormat::Png,
        alpha: background.is_none(),
        width: matted.width(),
        height: matted.height(),
        frames: 1,
        duration: 0.0,
    })
}

/// Most frames written as a PNG sequence (one object each).
pub const MAX_PNG_FRAMES: u64 = 3000;

/// Mattes every frame of `input` (composited over `plate` when given) and
/// hands it to `each` with its time, on this thread; returns the number
/// of frames handed over.
fn each_matted_frame(
    input: &Path,
    matter: &mut dyn Matter,
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
        let mut matted = match matter.matte(&rgb, f.time_s) {
            Ok(m) => m,
            Err(e) => {
                failed = Some(e);
                return Ok(ControlFlow::Break(()));
            }
        };
        if let Some(p) = plate.as_deref_mut() {
            let p = p.at(f.time_s)?;
            if p.dimensions() == matted.dimensions() {
                matted = over(&matted, p);
            }
        }
        progress.set(0, frames);
        match each(&matted, f.time_s) {
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

/// Writes a matted video as separate PNGs, one zip of PNGs, or an animated
/// preview; returns the (first) file's location, the output size and the
/// number of frames.
fn write_frames(
    input: &Path,
    format: MatteFormat,
    matter: &mut dyn Matter,
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
            let frames = each_matted_frame(input, matter, plate, ctx, |matted, _| {
                let file = sink.plan("matte", "png", "image/png", true)?;
                matted.save(&file.local).map_err(internal)?;
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
            let frames = each_matted_frame(input, matter, plate, ctx, |matted, time| {
                zip.push(matted, time)?;
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
            each_matted_frame(input, matter, plate, ctx, |matted, time| {
                preview.push(matted, time)?;
                Ok(ControlFlow::Continue(()))
            })?;
            let (size, frames) = (preview.size(), preview.frames());
            preview.finish()?;
            Ok((file.location.to_string(), size, frames))
        }
    }
}

/// How a matting job into `format` splits over segments of a long
/// video: frame by frame for the video formats, whole for frame
/// sequences and previews.
pub fn split_for(format: Option<MatteFormat>) -> Split {
    match format {
        None
        | Some(MatteFormat::Webm | MatteFormat::Mov | MatteFormat::Mp4 | MatteFormat::Mask) => {
            // What mattes carry from frame to frame settles within a
            // second: the keyer's blend with the frame before halves the
            // earlier frames' weight each frame; figures are looked for
            // afresh every 12 frames.
            Split::Frames { warm_up_s: 1.0 }
        }
        Some(_) => Split::Whole,
    }
}

/// The first segment's result and the joined video of a split matting
/// job, whose result is the first's with the joined video's file,
/// frames and duration.
///
/// # Errors
/// `InternalError` when nothing was joined.
pub fn joined_video<'a, T>(
    parts: &'a [Report<T>],
    joined: &'a [crate::capabilities::Joined],
) -> Result<(&'a T, &'a crate::capabilities::Joined, f64), JobError> {
    match (parts.first(), joined.first()) {
        (Some(first), Some(video)) => Ok((
            &first.result,
            video,
            (video.duration_s * 1000.0).round() / 1000.0,
        )),
        _ => Err(JobError::permanent(
            ErrorCode::InternalError,
            "a split job joined no video",
        )),
    }
}

/// A split matting job's segment result, read back from its JSON.
///
/// # Errors
/// `InternalError` for JSON that is not such a result.
pub fn part_from_json<T: serde::de::DeserializeOwned>(
    message: String,
    data: serde_json::Value,
) -> Result<Report<T>, JobError> {
    let result = serde_json::from_value(data).map_err(|e| {
        JobError::permanent(
            ErrorCode::InternalError,
            format!("a segment's result does not read back: {e}"),
        )
    })?;
    Ok(Report { message, result })
}

/// How a matted video is written.
#[derive(Debug, Clone, Copy)]
pub struct VideoOut<'a> {
    /// The format asked for, if any (default: WebM, or MP4 over a
    /// background).
    pub format: Option<MatteFormat>,
    /// Encoder CRF (clamped to the codec's range).
    pub crf: u8,
    /// What to composite over.
    pub background: Option<&'a Background>,
    /// The upright frame size.
    pub size: (u32, u32),
}

/// Mattes every frame of `input` with `matter` and writes the result as
/// `out` says (audio kept for the video codecs).
///
/// # Errors
/// Decoding, matting and writing failures.
pub fn write_video(
    input: &Path,
    out: VideoOut<'_>,
    matter: &mut dyn Matter,
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<Written, JobError> {
    let format = match (out.format, out.background) {
        (Some(f), _) => f,
        (None, Some(_)) => MatteFormat::Mp4,
        (None, None) => MatteFormat::Webm,
    };
    let (width, height) = out.size;
    let mut plate = out
        .background
        .map(|b| b.plate(width, height, ctx))
        .transpose()?;
    if matches!(
        format,
        MatteFormat::Png | MatteFormat::Zip | MatteFormat::Gif | MatteFormat::Webp
    ) {
        let (file, (width, height), frames) =
            write_frames(input, format, matter, plate.as_mut(), out.size, sink, ctx)?;
        return Ok(Written {
            file,
            format,
            alpha: out.background.is_none(),
            width,
            height,
            frames,
            duration: 0.0,
        });
    }
    let mask = format == MatteFormat::Mask;
    let codec = match format {
        MatteFormat::Mov => VideoCodec::ProRes4444,
        MatteFormat::Mp4 | MatteFormat::Mask => VideoCodec::H264 {
            crf: out.crf.min(51),
            preset: X264Preset::Veryfast,
        },
        _ => VideoCodec::Vp9Alpha {
            crf: out.crf.min(63),
        },
    };
    let name = if mask { "mask" } else { "matte" };
    let file = sink.plan(name, codec.extension(), codec.content_type(), false)?;
    let expected = {
        let reader = VideoReader::open(input, &ctx.limits)?;
        let info = reader.info();
        Passes::frames(info.duration_s, info.frame_rate)
    };
    let progress = Passes::new(ctx.progress.clone(), &[expected]);
    // 4:2:0 codecs need even sizes: the odd last row/column is dropped.
    let (even_w, even_h) = if codec == VideoCodec::ProRes4444 {
        (width, height)
    } else {
        (width & !1, height & !1)
    };
    let mut failed = None;
    let done = transform_video(
        input,
        &file.local,
        codec,
        &ctx.limits,
        &ctx.cancel,
        ctx.span,
        |frame, time, index| {
            let mut matted = match matter.matte(&frame, time) {
                Ok(m) => m,
                Err(e) => {
                    failed = Some(e);
                    return Err(MediaError::Cancelled);
                }
            };
            if mask {
                matted = grey_alpha(&matted);
            } else if let Some(plate) = plate.as_mut() {
                let plate = plate.at(time)?;
                if plate.dimensions() == matted.dimensions() {
                    matted = over(&matted, plate);
                }
            }
            if (matted.width(), matted.height()) != (even_w, even_h) {
                matted = image::imageops::crop_imm(&matted, 0, 0, even_w, even_h).to_image();
            }
            progress.set(0, index + 1);
            Ok(matted)
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    let done = done?;
    Ok(Written {
        file: file.location.to_string(),
        format,
        alpha: codec.has_alpha() && !mask,
        width: done.width,
        height: done.height,
        frames: done.frames,
        duration: (done.duration_s * 1000.0).round() / 1000.0,
    })
}
