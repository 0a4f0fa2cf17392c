//! `VideoH2V` / `ImageH2V`: params and results.

use serde::{Deserialize, Serialize};

use crate::domain::error::JobError;
use crate::domain::format::ImageFormat;
use crate::domain::params::{Param, ParamDefault, ParamKind, ParamReader, ParamsSpec};

/// What the camera does during a shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Camera {
    /// Does not move.
    Stationary,
    /// Moves at constant speed.
    Panning,
    /// Follows the subject smoothly.
    Tracking,
}

/// How the new frame is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillMode {
    /// A window of the source that follows the subject (the default).
    Crop,
    /// The whole source, scaled to fit, over a blurred copy of itself.
    Pad,
}

/// What to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectHint {
    /// Faces, else the salient object, else the centre.
    Auto,
    /// Faces only (the centre when there is none).
    Face,
    /// The salient object (people, animals, products), faces ignored.
    Person,
    /// Where the picture moves.
    Motion,
}

/// `JobParams` of `VideoH2V` and `ImageH2V`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct H2vParams {
    /// Target aspect, width:height (9:16 by default).
    pub aspect: (u32, u32),
    /// Output width; with `height` unset, the height follows the aspect.
    pub width: Option<u32>,
    /// Output height.
    pub height: Option<u32>,
    /// Crop or pad.
    pub mode: FillMode,
    /// What to follow.
    pub subject: SubjectHint,
    /// H.264 quality (CRF 0–51) for video.
    pub crf: u8,
    /// Image output format.
    pub format: ImageFormat,
    /// The camera decided over the whole video, when a long video is
    /// split (gathered from its segments; never a user's param).
    #[serde(skip)]
    pub decided: Option<std::sync::Arc<super::Decided>>,
}

impl Default for H2vParams {
    fn default() -> Self {
        Self {
            aspect: (9, 16),
            width: None,
            height: None,
            mode: FillMode::Crop,
            subject: SubjectHint::Auto,
            crf: 21,
            format: ImageFormat::Jpg,
            decided: None,
        }
    }
}

/// Longest output side allowed.
pub const MAX_SIDE: u32 = 4096;

fn parse_aspect(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.trim().split_once([':', 'x', '/'])?;
    let (w, h): (u32, u32) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
    let ratio = f64::from(w) / f64::from(h.max(1));
    (w > 0 && h > 0 && w <= 100 && h <= 100 && (0.1..=10.0).contains(&ratio)).then_some((w, h))
}

/// What `VideoH2V` and `ImageH2V` take in `JobParams`.
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        Param::of(
            "Aspect",
            ParamKind::Pattern {
                pattern: "^\\s*[0-9]{1,3}\\s*[:x/]\\s*[0-9]{1,3}\\s*$",
                shape: "W:H, 1-100 each",
            },
            "Target aspect ratio, width:height (between 1:10 and 10:1).",
        )
        .default(ParamDefault::Text("9:16")),
        Param::integer(
            "Width",
            16,
            MAX_SIDE as i64,
            "Output width (rounded down to even); alone, the height follows Aspect.",
        ),
        Param::integer(
            "Height",
            16,
            MAX_SIDE as i64,
            "Output height (rounded down to even); alone, the width follows Aspect.",
        ),
        Param::choice(
            "Mode",
            &["crop", "pad"],
            "crop: follow the subject with a moving window; pad: fit the whole frame over a blurred fill.",
        )
        .default(ParamDefault::Text("crop")),
        Param::choice(
            "Subject",
            &["auto", "face", "person", "motion"],
            "What the window follows: auto (faces, else the salient object, else the centre), face, person (the salient object), motion.",
        )
        .default(ParamDefault::Text("auto")),
        Param::integer("Crf", 0, 51, "Video quality (VideoH2V): H.264 CRF, lower is better.")
            .default(ParamDefault::Integer(21)),
        Param::choice("Format", &["jpg", "png", "webp"], "Image format (ImageH2V).")
            .default(ParamDefault::Text("jpg")),
    ],
    rules: &[],
};

impl TryFrom<&serde_json::Value> for H2vParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        let mut r = ParamReader::new(params, &PARAMS)?;
        let d = Self::default();
        let parsed = Self {
            aspect: r.choice("Aspect", parse_aspect)?.unwrap_or(d.aspect),
            width: r.int("Width")?.map(|v| v as u32 & !1),
            height: r.int("Height")?.map(|v| v as u32 & !1),
            mode: r
                .choice("Mode", |s| match s {
                    "crop" => Some(FillMode::Crop),
                    "pad" => Some(FillMode::Pad),
                    _ => None,
                })?
                .unwrap_or(d.mode),
            subject: r
                .choice("Subject", |s| match s {
                    "auto" => Some(SubjectHint::Auto),
                    "face" => Some(SubjectHint::Face),
                    "person" => Some(SubjectHint::Person),
                    "motion" => Some(SubjectHint::Motion),
                    _ => None,
                })?
                .unwrap_or(d.subject),
            crf: r.int("Crf")?.map_or(d.crf, |v| v as u8),
            format: r.choice("Format", ImageFormat::parse)?.unwrap_or(d.format),
            decided: None,
        };
        r.finish()?;
        Ok(parsed)
    }
}

/// The crop window at one moment, source pixels (upright frame).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Window {
    /// Seconds.
    pub time: f64,
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// One shot of the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShotResult {
    /// Seconds.
    pub start: f64,
    /// Seconds.
    pub end: f64,
    /// `stationary`, `panning` or `tracking`.
    pub camera: Camera,
    /// What was followed: `face`, `faces`, `salient`, `motion` or
    /// `centre` (`whole picture` when padding).
    pub subject: String,
    /// The window at the analysed frames (at most two a second).
    pub keyframes: Vec<Window>,
}

/// Result of `VideoH2V` / `ImageH2V`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct H2vResult {
    /// The output file.
    pub file: String,
    /// Output size.
    pub width: u32,
    /// Output size.
    pub height: u32,
    /// `crop` or `pad` (pad also when the subject could not fit).
    pub mode: FillMode,
    /// Seconds of video (0 for an image).
    pub duration: f64,
    /// Per shot (one for an image).
    pub shots: Vec<ShotResult>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_aspects_and_bad_values() {
        let p = H2vParams::try_from(&json!({})).expect("empty");
        assert_eq!(p, H2vParams::default());
        let p = H2vParams::try_from(&json!({"Aspect": "1:1", "Width": 721, "Mode": "pad"}))
            .expect("ok");
        assert_eq!(
            (p.aspect, p.width, p.mode),
            ((1, 1), Some(720), FillMode::Pad)
        );
        for (v, key) in [
            (json!({"Aspect": "16:0"}), "Aspect"),
            (json!({"Aspect": "wide"}), "Aspect"),
            (json!({"Width": 100000}), "Width"),
            (json!({"Mode": "zoom"}), "Mode"),
            (json!({"Subject": "cat"}), "Subject"),
        ] {
            let e = H2vParams::try_from(&v).expect_err("refused");
            assert!(e.message.contains(key), "{v}: {}", e.message);
        }
    }
}
