//! `VideoDetext`: params and results.

use serde::Serialize;

use crate::capabilities::delogo::api::{parse_boxes, BoxHint};
use crate::domain::error::JobError;
use crate::domain::params::{Param, ParamDefault, ParamKind, ParamReader, ParamsSpec};

/// Which text `VideoDetext` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextTarget {
    /// The subtitle lines.
    Captions,
    /// Every text in the frame.
    All,
}

impl TextTarget {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "captions" => Some(Self::Captions),
            "all" => Some(Self::All),
            _ => None,
        }
    }
}

/// How `VideoDetext` trades time for quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// The picture behind a caption from the frames before it only, and a
    /// faster encoder preset (x264 `superfast`: larger files).
    Fast,
    /// From the frames before and after it, x264 `veryfast`.
    Best,
}

impl Quality {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "fast" => Some(Self::Fast),
            "best" => Some(Self::Best),
            _ => None,
        }
    }
}

/// `JobParams` of `VideoDetext`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetextParams {
    /// Where to look for captions (Alibaba's `LimitRegion`), each with an
    /// optional time span; the whole frame's caption band when empty.
    pub areas: Vec<BoxHint>,
    /// Which text to remove.
    pub target: TextTarget,
    /// Time against quality.
    pub quality: Quality,
    /// H.264 CRF of the output.
    pub crf: u8,
    /// Re-encode even when no caption is found.
    pub always_encode: bool,
    /// The caption band found over the whole video, when a long video is
    /// split (decided once, before the split; never a user's param).
    #[serde(skip)]
    pub roi: Option<[[f64; 2]; 2]>,
    /// The captions found over the whole video, when a long video is
    /// split (gathered from its segments; never a user's param).
    #[serde(skip)]
    pub found: Option<super::Found>,
}

impl Default for DetextParams {
    fn default() -> Self {
        Self {
            areas: Vec::new(),
            target: TextTarget::Captions,
            quality: Quality::Best,
            crf: 18,
            always_encode: false,
            roi: None,
            found: None,
        }
    }
}

/// What `VideoDetext` takes in `JobParams`.
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        Param::of(
            "Areas",
            ParamKind::Json {
                schema: r#"{"anyOf": [{"type": "array", "minItems": 1, "maxItems": 16, "items": {"anyOf": [{"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number", "minimum": 0}}, {"type": "object", "required": ["Box"], "properties": {"Box": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number", "minimum": 0}}, "Start": {"type": "number", "minimum": 0}, "End": {"type": "number", "minimum": 0}}, "additionalProperties": false}]}}, {"type": "string"}]}"#,
                shape: "[[x, y, w, h], ...] or [{\"Box\": [x, y, w, h], \"Start\": s, \"End\": e}, ...]",
            },
            "Where to look for captions (as Alibaba's LimitRegion), instead of the whole frame's caption band: boxes in pixels, or fractions of the frame when all four numbers are at most 1, each with optional Start/End seconds. Captions are removed only inside them and their spans.",
        ),
        Param::choice(
            "Target",
            &["captions", "all"],
            "captions: the subtitle lines only; all: every text in the frame too (titles, signs, overlays), found by the text detector every half second.",
        )
        .default(ParamDefault::Text("captions")),
        Param::choice(
            "Quality",
            &["fast", "best"],
            "best: the picture behind a caption comes from the frames before and after it (where they show it), encoded with x264 veryfast; fast: from the frames before it only, encoded with x264 superfast (on 720p and 480p test videos about a fifth less time and 1 dB lower inside the captions' pixels, with files about twice the size).",
        )
        .default(ParamDefault::Text("best")),
        Param::integer("Crf", 0, 51, "Video quality: the H.264 encoder's CRF, lower is better.")
            .default(ParamDefault::Integer(18)),
        Param::of(
            "AlwaysEncode",
            ParamKind::Flag,
            "Re-encode the video even when no caption is found (otherwise the source is copied unchanged).",
        )
        .default(ParamDefault::Flag(false)),
    ],
    rules: &["areas lie inside the frame and End comes after Start"],
};

impl TryFrom<&serde_json::Value> for DetextParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        let mut r = ParamReader::new(params, &PARAMS)?;
        let d = Self::default();
        let parsed = Self {
            areas: r
                .value("Areas")?
                .map(|v| parse_boxes("Areas", v))
                .transpose()?
                .unwrap_or_default(),
            target: r.choice("Target", TextTarget::parse)?.unwrap_or(d.target),
            quality: r.choice("Quality", Quality::parse)?.unwrap_or(d.quality),
            crf: r.int("Crf")?.map_or(d.crf, |v| v as u8),
            always_encode: r.flag("AlwaysEncode")?.unwrap_or(d.always_encode),
            ..d
        };
        r.finish()?;
        Ok(parsed)
    }
}

/// One caption removed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaptionRemoved {
    /// First second it was removed from.
    pub start: f64,
    /// Last second it was removed from.
    pub end: f64,
    /// `[x, y, w, h]` in pixels of the (upright) frame: where its mask may
    /// lie.
    #[serde(rename = "Box")]
    pub rect: [u32; 4],
    /// What it read (empty for a given area).
    pub text: String,
    /// `detected` (a caption), `text` (other text in the frame, with
    /// `Target: "all"`) or `given` (inside `Areas`).
    pub source: String,
    /// Frames it was removed from.
    pub frames: u64,
}

/// Result of `VideoDetext`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetextResult {
    /// The output file.
    pub file: String,
    /// The captions removed (empty when none was found).
    pub captions: Vec<CaptionRemoved>,
    /// Whether the output was re-encoded (false: the source copied).
    pub encoded: bool,
    /// Output size.
    pub width: u32,
    /// Output size.
    pub height: u32,
    /// Frames written.
    pub frames: u64,
    /// Frames in which a caption was removed.
    pub frames_changed: u64,
    /// Share of the removed pixels filled from other frames (the rest
    /// from around them).
    pub from_other_frames: f64,
    /// For a segment of a split job: what it removed, for the merge.
    /// Never in a job's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentRemoved>,
}

/// What one segment of a split job removed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentRemoved {
    /// Per caption found (in order): the first and last second it was
    /// removed from in the segment, and from how many frames.
    pub seen: Vec<Option<(f64, f64, u64)>>,
    /// Luma pixels filled from other frames.
    pub temporal: u64,
    /// Luma pixels filled from around them.
    pub spatial: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_areas() {
        let p = DetextParams::try_from(&json!({})).expect("empty");
        assert_eq!(p, DetextParams::default());
        let p = DetextParams::try_from(&json!({
            "Areas": [[0, 600, 1280, 120], {"Box": [0.1, 0.8, 0.8, 0.15], "Start": 2, "End": 4}],
            "Target": "All",
            "Quality": "fast",
            "Crf": 20,
            "AlwaysEncode": true,
        }))
        .expect("ok");
        assert_eq!(p.areas.len(), 2);
        assert_eq!(p.areas[1].pixels((1000, 500)), Some([100, 400, 800, 75]));
        assert_eq!(p.areas[1].start, Some(2.0));
        assert_eq!(p.target, TextTarget::All);
        assert_eq!(p.quality, Quality::Fast);
        assert_eq!(p.crf, 20);
        assert!(p.always_encode);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (v, key) in [
            (json!({"Areas": [[1, 2, 3]]}), "Areas"),
            (json!({"Areas": []}), "Areas"),
            (json!({"Areas": [[0.5, 0.5, 0.6, 0.2]]}), "Areas"),
            (
                json!({"Areas": [{"Box": [1, 2, 3, 4], "Start": 5, "End": 2}]}),
                "Areas",
            ),
            (
                json!({"Areas": [{"Box": [1, 2, 3, 4], "Start": -1}]}),
                "Areas",
            ),
            (json!({"Crf": -1}), "Crf"),
            (json!({"Target": "signs"}), "Target"),
            (json!({"Quality": "ultra"}), "Quality"),
            (json!({"Region": 1}), "Region"),
        ] {
            let e = DetextParams::try_from(&v).expect_err("refused");
            assert!(e.message.contains(key), "{v}: {}", e.message);
        }
    }
}
