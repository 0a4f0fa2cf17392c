//! `VideoMatting` / `ImageMatting`: params and results.

use serde::{Deserialize, Serialize};

use crate::capabilities::green_screen::api::{MatteFormat, MatteOutput, BGCOLOR, BGIMAGE, CRF};
use crate::capabilities::matte_out::Written;
use crate::domain::error::JobError;
use crate::domain::location::MediaLocation;
use crate::domain::params::{Param, ParamReader, ParamsSpec};

/// `JobParams` of `VideoMatting` and `ImageMatting`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MattingParams {
    /// Output format; default `webm` for video, `png` for pictures (`mp4`
    /// when a background is given).
    pub format: Option<MatteFormat>,
    /// Background colour to composite over.
    pub bgcolor: Option<[u8; 3]>,
    /// Background picture or video to composite over.
    pub bgimage: Option<MediaLocation>,
    /// Video quality: CRF of the encoder (VP9 0–63, H.264 0–51).
    pub crf: u8,
}

impl Default for MattingParams {
    fn default() -> Self {
        Self {
            format: None,
            bgcolor: None,
            bgimage: None,
            crf: 28,
        }
    }
}

/// What `VideoMatting` and `ImageMatting` take in `JobParams`.
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        Param::choice(
            "Format",
            &["webm", "mov", "mp4", "png", "zip", "gif", "webp", "mask"],
            "Output: webm (VP9 with alpha), mov (ProRes 4444), mp4 (needs a background), png/zip (frames), gif, webp, mask (the alpha alone, grey: PNG for a picture, H.264 MP4 for a video). Default: webm for video, png for a picture, mp4 over a background.",
        ),
        BGCOLOR,
        BGIMAGE,
        CRF,
    ],
    rules: &[
        "bgcolor and bgimage exclude each other",
        "mp4 needs bgcolor or bgimage",
        "mask takes no background",
    ],
};

impl TryFrom<&serde_json::Value> for MattingParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        let mut r = ParamReader::new(params, &PARAMS)?;
        let d = Self::default();
        let output = MatteOutput::read(&mut r)?;
        let parsed = Self {
            format: output.format,
            bgcolor: output.bgcolor,
            bgimage: output.bgimage.clone(),
            crf: r.int("Crf")?.map_or(d.crf, |v| v as u8),
        };
        r.finish()?;
        output.check()?;
        Ok(parsed)
    }
}

/// One moment's people: their boxes `[x, y, w, h]` in pixels, largest
/// first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Keyframe {
    /// Seconds from the start (0 for a picture).
    pub time: f64,
    /// The people's boxes.
    pub boxes: Vec<[u32; 4]>,
}

/// Result of `VideoMatting` and `ImageMatting`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MattingResult {
    /// The output file.
    pub file: String,
    /// Its format.
    pub format: MatteFormat,
    /// Whether the output has an alpha channel.
    pub alpha: bool,
    /// Output size.
    pub width: u32,
    /// Output size.
    pub height: u32,
    /// Frames written (1 for a picture).
    pub frames: u64,
    /// Seconds of video (0 for a picture).
    pub duration: f64,
    /// The share of frames that show a person, 0–1.
    pub person_share: f64,
    /// The people's boxes once a second (the first frame of each second).
    pub keyframes: Vec<Keyframe>,
}

impl MattingResult {
    /// The result for what was written.
    pub fn new(w: Written, person_share: f64, keyframes: Vec<Keyframe>) -> Self {
        Self {
            file: w.file,
            format: w.format,
            alpha: w.alpha,
            width: w.width,
            height: w.height,
            frames: w.frames,
            duration: w.duration,
            person_share,
            keyframes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_formats_and_backgrounds() {
        let p = MattingParams::try_from(&json!({})).expect("empty");
        assert_eq!(p, MattingParams::default());
        let p = MattingParams::try_from(&json!({"Format": "mask"})).expect("mask");
        assert_eq!(p.format, Some(MatteFormat::Mask));
        let p = MattingParams::try_from(&json!({"bgcolor": "#102030", "Format": "mp4", "Crf": 20}))
            .expect("mp4");
        assert_eq!((p.bgcolor, p.crf), (Some([16, 32, 48]), 20));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (v, key) in [
            (json!({"Format": "avi"}), "Format"),
            (json!({"Format": "mp4"}), "Format"),
            (json!({"Format": "mask", "bgcolor": "#000000"}), "Format"),
            (json!({"bgcolor": "green"}), "bgcolor"),
            (json!({"Crf": 99}), "Crf"),
            (json!({"KeyColor": "green"}), "KeyColor"),
            (
                json!({"bgimage": "s3://b/k.jpg", "bgcolor": "#000000"}),
                "bgimage",
            ),
        ] {
            let e = MattingParams::try_from(&v).expect_err("refused");
            assert!(e.message.contains(key), "{v}: {}", e.message);
        }
    }
}
