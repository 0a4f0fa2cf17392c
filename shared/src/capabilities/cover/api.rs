//! `Cover`: params and result.

use serde::Serialize;

use crate::domain::error::JobError;
use crate::domain::format::ImageFormat;
use crate::domain::params::{Param, ParamDefault, ParamReader, ParamsSpec};

/// Largest `Count`.
pub const MAX_COVERS: u32 = 20;

/// `JobParams` of `Cover`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CoverParams {
    /// How many covers, best first (1–20, default 1).
    pub count: u32,
    /// Image format (`jpg` default, `png`, `webp`).
    pub format: ImageFormat,
    /// Output width in pixels (16–7680); alone, keeps the aspect ratio.
    pub width: Option<u32>,
    /// Output height in pixels (16–7680); with `Width`, fills that box.
    pub height: Option<u32>,
    /// JPEG and WebP quality (1–100, default 90; WebP at 100 is lossless).
    pub quality: u8,
}

impl Default for CoverParams {
    fn default() -> Self {
        Self {
            count: 1,
            format: ImageFormat::Jpg,
            width: None,
            height: None,
            quality: 90,
        }
    }
}

/// What `Cover` takes in `JobParams`.
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        Param::integer(
            "Count",
            1,
            MAX_COVERS as i64,
            "How many covers, best first.",
        )
        .default(ParamDefault::Integer(1)),
        Param::choice(
            "Format",
            &["jpg", "png", "webp"],
            "Image format of the covers.",
        )
        .default(ParamDefault::Text("jpg")),
        Param::integer(
            "Width",
            16,
            7680,
            "Output width in pixels; alone, the height keeps the aspect ratio.",
        ),
        Param::integer(
            "Height",
            16,
            7680,
            "Output height in pixels; with Width, the cover fills that box.",
        ),
        Param::integer(
            "Quality",
            1,
            100,
            "JPEG and WebP quality (WebP at 100 is lossless).",
        )
        .default(ParamDefault::Integer(90)),
    ],
    rules: &[],
};

impl TryFrom<&serde_json::Value> for CoverParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        let mut r = ParamReader::new(params, &PARAMS)?;
        let d = Self::default();
        let to_u32 = |v: i64| u32::try_from(v).unwrap_or(0);
        let parsed = Self {
            count: r.int("Count")?.map_or(d.count, to_u32),
            format: r.choice("Format", ImageFormat::parse)?.unwrap_or(d.format),
            width: r.int("Width")?.map(to_u32),
            height: r.int("Height")?.map(to_u32),
            quality: r
                .int("Quality")?
                .map_or(d.quality, |q| u8::try_from(q).unwrap_or(d.quality)),
        };
        r.finish()?;
        Ok(parsed)
    }
}

/// One chosen cover.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CoverItem {
    /// Quality score, 0–1 (higher is better), comparable within a video.
    pub score: f64,
    /// Presentation time of the frame, milliseconds.
    pub time: u64,
    /// Where the image was written.
    pub file: String,
    /// Width × height written.
    pub width: u32,
    /// Height written.
    pub height: u32,
}

/// Result of `Cover`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CoverResult {
    /// Covers, best first.
    pub covers: Vec<CoverItem>,
    /// Frames scored.
    pub candidates: usize,
    /// Frames refused outright (black, white, blank).
    pub rejected: usize,
    /// Video duration, seconds.
    pub duration: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_ranges_are_enforced() {
        let p = CoverParams::try_from(&serde_json::json!({})).expect("empty is fine");
        assert_eq!(p, CoverParams::default());
        let p =
            CoverParams::try_from(&serde_json::json!({"Count": 3, "Format": "PNG", "Width": 320}))
                .expect("valid");
        assert_eq!(
            (p.count, p.format, p.width),
            (3, ImageFormat::Png, Some(320))
        );
        for bad in [
            serde_json::json!({"Count": 21}),
            serde_json::json!({"Count": -1}),
            serde_json::json!({"Format": "gif"}),
            serde_json::json!({"Width": 100000}),
            serde_json::json!({"Colour": "red"}),
        ] {
            assert!(CoverParams::try_from(&bad).is_err(), "{bad}");
        }
    }
}
