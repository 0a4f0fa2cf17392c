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

use std::path::Path;

use image::{RgbImage, RgbaImage};

use super::matte_out::{
    joined_video, split_for, write_still, write_video, Background, Matter, VideoOut,
};
use super::{Capability, Context, ExtraInput, Joined, OutputSink, Report, Split};
use crate::capabilities::green_screen::api::{GreenScreenParams, GreenScreenResult, KeyColor};
use crate::capabilities::green_screen::key::{detect_screen, KeySettings, Keyer, Screen};
use crate::domain::{ErrorCode, FunctionName, JobError, MediaLocation};
use crate::media::image_out::read_still;
use crate::media::VideoReader;

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
        let background = Background::of(params.bgcolor, params.bgimage.as_ref(), ctx)?;
        let result = match read_still(input, &ctx.limits)? {
            Some(image) => key_image(&image, params, background.as_ref(), sink, ctx)?,
            None => key_video(input, params, background.as_ref(), sink, ctx)?,
        };
        let message = message(&result);
        Ok(Report { message, result })
    }

    fn split(&self, params: &GreenScreenParams) -> Split {
        split_for(params.format)
    }

    fn part_from_json(
        &self,
        message: String,
        data: serde_json::Value,
    ) -> Result<Report<GreenScreenResult>, JobError> {
        crate::capabilities::matte_out::part_from_json(message, data)
    }

    fn merge(
        &self,
        _params: &GreenScreenParams,
        parts: Vec<Report<GreenScreenResult>>,
        joined: &[Joined],
    ) -> Result<Report<GreenScreenResult>, JobError> {
        let (first, video, duration) = joined_video(&parts, joined)?;
        let result = GreenScreenResult {
            file: video.location.to_string(),
            frames: video.frames,
            duration,
            ..first.clone()
        };
        Ok(Report {
            message: message(&result),
            result,
        })
    }
}

/// The job's one-line summary.
fn message(result: &GreenScreenResult) -> String {
    format!(
        "{} screen keyed: {} {}x{}{}",
        result.screen,
        result.format.describe(result.frames),
        result.width,
        result.height,
        if result.frames > 1 {
            format!(", {} frames", result.frames)
        } else {
            String::new()
        }
    )
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

fn key_image(
    image: &RgbImage,
    params: &GreenScreenParams,
    background: Option<&Background>,
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<GreenScreenResult, JobError> {
    let screen = screen_of(image, params)?;
    let keyed = Keyer::new(screen, settings(params)).key(image);
    let written = write_still(keyed, params.format, background, sink, ctx)?;
    Ok(GreenScreenResult::new(written, screen_name(screen)))
}

fn key_video(
    input: &Path,
    params: &GreenScreenParams,
    background: Option<&Background>,
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<GreenScreenResult, JobError> {
    let (first, subsampled) = {
        let mut reader = VideoReader::open(input, &ctx.limits)?;
        let info = reader.info().clone();
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
        )
    };
    let screen = screen_of(&first, params)?;
    let mut keyer = Keyer::new(screen, settings(params)).for_subsampled_chroma(subsampled);
    let out = VideoOut {
        format: params.format,
        crf: params.crf,
        background,
        size: first.dimensions(),
    };
    let written = write_video(input, out, &mut keyer, sink, ctx)?;
    Ok(GreenScreenResult::new(written, screen_name(screen)))
}

impl Matter for Keyer {
    fn matte(&mut self, frame: &RgbImage, _time_s: f64) -> Result<RgbaImage, JobError> {
        Ok(self.key(frame))
    }
}
