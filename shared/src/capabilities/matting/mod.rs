//! `VideoMatting` / `ImageMatting`: people cut out of pictures and videos
//! with no screen behind them. A person segmentation model gives a coarse
//! mask ([`figure`]); closed-form matting on the band around its edge gives
//! a soft alpha from the picture's own colours ([`alpha`]); the figure's
//! colours are re-estimated where the alpha is fractional
//! ([`foreground`]). In video the mask is steadied where the picture holds
//! still, each frame's solve starts from the last one's alpha, and the
//! final alpha keeps part of the last one where the picture shows the same
//! thing, in place or moved with the figure ([`settle`]).
//!
//! Outputs are the green-screen function's: VP9 WebM or ProRes 4444 MOV
//! with alpha, MP4 over a colour, picture or video, PNG with alpha, or the
//! alpha alone as a grey mask. A picture or video without a person
//! succeeds with an empty alpha, and `Message` says that no person was
//! found.

pub mod alpha;
pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod figure;
pub mod foreground;
pub mod settle;

use std::path::Path;
use std::sync::Arc;

use super::matte_out::{
    joined_video, split_for, write_still, write_video, Background, Matter, VideoOut,
};
use super::{Capability, Context, ExtraInput, Joined, OutputSink, Report, Split};
use crate::capabilities::matting::api::{Keyframe, MattingParams, MattingResult};
use crate::capabilities::matting::figure::{Figures, Models};
use crate::detect::face::FaceDetector;
use crate::detect::person::PersonSegmenter;
use crate::domain::{ErrorCode, FunctionName, JobError, MediaLocation};
use crate::inference::{available_threads, InferenceError, ModelDir};
use crate::media::image_out::read_still;
use crate::media::VideoReader;

/// The `VideoMatting` / `ImageMatting` capability.
#[derive(Debug, Clone)]
pub struct Matting {
    models: Models,
}

impl Matting {
    /// Loads the person model from `models`.
    ///
    /// # Errors
    /// When the runtime or the model cannot be loaded.
    pub fn load(models: &ModelDir) -> Result<Self, InferenceError> {
        let threads = available_threads();
        Ok(Self {
            models: (
                Arc::new(PersonSegmenter::load(models, threads)?),
                Arc::new(FaceDetector::load(models, threads)?),
            ),
        })
    }
}

impl Capability for Matting {
    type Params = MattingParams;
    type Output = MattingResult;

    fn function(&self) -> FunctionName {
        FunctionName::VideoMatting
    }

    fn serves(&self, function: FunctionName) -> bool {
        matches!(
            function,
            FunctionName::VideoMatting | FunctionName::ImageMatting
        )
    }

    fn parse(&self, params: &serde_json::Value) -> Result<MattingParams, JobError> {
        MattingParams::try_from(params)
    }

    fn extra_inputs(&self, params: &MattingParams) -> Vec<(ExtraInput, MediaLocation)> {
        params
            .bgimage
            .iter()
            .map(|l| (ExtraInput::Background, l.clone()))
            .collect()
    }

    fn run(
        &self,
        input: &Path,
        params: &MattingParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<MattingResult>, JobError> {
        let background = Background::of(params.bgcolor, params.bgimage.as_ref(), ctx)?;
        let (written, figures) = match read_still(input, &ctx.limits)? {
            Some(image) => {
                let mut figures = Figures::still(&self.models);
                let matted = figures.matte(&image, 0.0)?;
                let written = write_still(matted, params.format, background.as_ref(), sink, ctx)?;
                (written, figures)
            }
            None => {
                let size = {
                    let reader = VideoReader::open(input, &ctx.limits)?;
                    reader.info().display_size()
                };
                let mut figures = Figures::video(&self.models).counting(ctx.span);
                let out = VideoOut {
                    format: params.format,
                    crf: params.crf,
                    background: background.as_ref(),
                    size,
                };
                let written = write_video(input, out, &mut figures, sink, ctx)?;
                (written, figures)
            }
        };
        let share = if figures.frames > 0 {
            figures.with_person as f64 / figures.frames as f64
        } else {
            0.0
        };
        let keyframes = figures
            .keyframes
            .iter()
            .map(|(t, boxes)| Keyframe {
                time: (t * 1000.0).round() / 1000.0,
                boxes: boxes.clone(),
            })
            .collect();
        let result = MattingResult::new(written, (share * 1000.0).round() / 1000.0, keyframes);
        let message = message(&result, figures.with_person > 0);
        if result.frames == 0 {
            return Err(JobError::permanent(
                ErrorCode::InvalidMedia,
                "no frame decoded",
            ));
        }
        Ok(Report { message, result })
    }

    fn split(&self, params: &MattingParams) -> Split {
        split_for(params.format)
    }

    fn part_from_json(
        &self,
        message: String,
        data: serde_json::Value,
    ) -> Result<Report<MattingResult>, JobError> {
        crate::capabilities::matte_out::part_from_json(message, data)
    }

    fn merge(
        &self,
        _params: &MattingParams,
        parts: Vec<Report<MattingResult>>,
        joined: &[Joined],
    ) -> Result<Report<MattingResult>, JobError> {
        let (first, video, duration) = joined_video(&parts, joined)?;
        let frames: u64 = parts.iter().map(|p| p.result.frames).sum();
        let with_person: f64 = parts
            .iter()
            .map(|p| p.result.person_share * p.result.frames as f64)
            .sum();
        let share = if frames > 0 {
            with_person / frames as f64
        } else {
            0.0
        };
        // Boxes at the first frame of each whole second, as one pass
        // notes them: a segment starting mid-second adds none for it.
        let mut keyframes: Vec<Keyframe> = Vec::new();
        for k in parts.iter().flat_map(|p| &p.result.keyframes) {
            if keyframes
                .last()
                .is_none_or(|last| k.time >= last.time.floor() + 1.0)
            {
                keyframes.push(k.clone());
            }
        }
        let result = MattingResult {
            file: video.location.to_string(),
            frames: video.frames,
            duration,
            person_share: (share * 1000.0).round() / 1000.0,
            keyframes,
            ..first.clone()
        };
        let found = parts.iter().any(|p| p.result.person_share > 0.0);
        Ok(Report {
            message: message(&result, found),
            result,
        })
    }
}

/// The job's one-line summary; `found` says whether any frame showed a
/// person.
fn message(result: &MattingResult, found: bool) -> String {
    let what = format!(
        "{} {}x{}{}",
        result.format.describe(result.frames),
        result.width,
        result.height,
        if result.frames > 1 {
            format!(", {} frames", result.frames)
        } else {
            String::new()
        }
    );
    if !found {
        format!("no person found: the alpha is empty ({what})")
    } else if result.frames > 1 {
        format!(
            "figure cut out: {what}; a person in {:.0} % of the frames",
            result.person_share * 100.0
        )
    } else {
        format!("figure cut out: {what}")
    }
}
