//! `VideoGreenScreenMatting`: params and results.

use serde::{Deserialize, Serialize};

use crate::domain::error::JobError;
use crate::domain::location::MediaLocation;
use crate::domain::params::{
    parse_hex_colour, Param, ParamDefault, ParamKind, ParamReader, ParamsSpec,
};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatteFormat {
    /// VP9 with alpha in WebM (video; the default).
    #[serde(rename = "webm")]
    Webm,
    /// ProRes 4444 with alpha in MOV (video).
    #[serde(rename = "mov")]
    Mov,
    /// H.264 MP4 composited over `bgcolor` (video).
    #[serde(rename = "mp4")]
    Mp4,
    /// PNG with alpha: one for an image, one per frame for a video.
    #[serde(rename = "png")]
    Png,
    /// A video's PNG frames (with alpha) in one zip archive.
    #[serde(rename = "zip")]
    Zip,
    /// Animated GIF preview (binary transparency, at most 480 px, 10 fps).
    #[serde(rename = "gif")]
    Gif,
    /// Animated WebP preview with alpha (at most 480 px, 10 fps).
    #[serde(rename = "webp")]
    Webp,
    /// The alpha alone as grey: PNG for a picture, H.264 MP4 for a video.
    #[serde(rename = "mask")]
    Mask,
}

impl MatteFormat {
    /// Whether this format is for video inputs only.
    pub fn video_only(self) -> bool {
        !matches!(self, Self::Png | Self::Mask)
    }

    /// The format named `name` in `JobParams`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "webm" => Self::Webm,
            "mov" => Self::Mov,
            "mp4" => Self::Mp4,
            "png" => Self::Png,
            "zip" => Self::Zip,
            "gif" => Self::Gif,
            "webp" => Self::Webp,
            "mask" => Self::Mask,
            _ => return None,
        })
    }

    /// What a file of this format with `frames` frames is, in words.
    pub fn describe(self, frames: u64) -> &'static str {
        match self {
            Self::Webm => "VP9 WebM with alpha",
            Self::Mov => "ProRes 4444 MOV with alpha",
            Self::Mp4 => "H.264 MP4 over the background",
            Self::Png if frames > 1 => "PNG sequence",
            Self::Png => "PNG",
            Self::Zip => "PNG sequence in a zip",
            Self::Gif => "animated GIF preview",
            Self::Webp => "animated WebP preview with alpha",
            Self::Mask if frames > 1 => "grey alpha mask MP4",
            Self::Mask => "grey alpha mask PNG",
        }
    }
}

/// The output keys both cut-out functions take: what to write, and over
/// what.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatteOutput {
    /// `Format`.
    pub format: Option<MatteFormat>,
    /// `bgcolor`.
    pub bgcolor: Option<[u8; 3]>,
    /// `bgimage`.
    pub bgimage: Option<MediaLocation>,
}

impl MatteOutput {
    /// Reads `Format`, `bgcolor` and `bgimage`.
    ///
    /// # Errors
    /// `InvalidParameter` naming the key.
    pub fn read(r: &mut ParamReader<'_>) -> Result<Self, JobError> {
        let bgimage = r
            .text("bgimage")?
            .map(|uri| {
                MediaLocation::parse(&uri, "bgimage")
                    .map_err(|e| JobError::param("bgimage", e.message))
            })
            .transpose()?;
        Ok(Self {
            format: r.choice("Format", MatteFormat::parse)?,
            bgcolor: r.choice("bgcolor", parse_hex_colour)?,
            bgimage,
        })
    }

    /// The rules between the keys: one background at most, mp4 needs one,
    /// mask takes none.
    ///
    /// # Errors
    /// `InvalidParameter` naming the key.
    pub fn check(&self) -> Result<(), JobError> {
        let background = self.bgcolor.is_some() || self.bgimage.is_some();
        if self.bgcolor.is_some() && self.bgimage.is_some() {
            return Err(JobError::param(
                "bgimage",
                "give bgcolor or bgimage, not both",
            ));
        }
        if self.format == Some(MatteFormat::Mp4) && !background {
            return Err(JobError::param(
                "Format",
                "mp4 has no alpha: give bgcolor or bgimage to composite over, or use webm or mov",
            ));
        }
        if self.format == Some(MatteFormat::Mask) && background {
            return Err(JobError::param(
                "Format",
                "mask writes the alpha alone: leave out bgcolor and bgimage",
            ));
        }
        Ok(())
    }
}

/// Which screen colour to key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyColor {
    /// Detected from the first frame.
    #[serde(rename = "auto")]
    Auto,
    /// Green screen.
    #[serde(rename = "green")]
    Green,
    /// Blue screen.
    #[serde(rename = "blue")]
    Blue,
}

/// `JobParams` of `VideoGreenScreenMatting`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreenScreenParams {
    /// Output format; default `webm` for video, `png` for images (`mp4`
    /// when a background is given).
    pub format: Option<MatteFormat>,
    /// Background colour to composite over, `[r, g, b]`.
    pub bgcolor: Option<[u8; 3]>,
    /// Background image or video to composite over (scaled to cover the
    /// frame; a video is looped).
    pub bgimage: Option<MediaLocation>,
    /// Screen colour.
    pub key_color: KeyColor,
    /// Keying strength, 0–1.
    pub strength: f32,
    /// Snap range near opaque/transparent, 0–0.45.
    pub clip: f32,
    /// Spill suppression, 0–1.
    pub spill: f32,
    /// Video quality: CRF of the encoder (VP9 0–63, H.264 0–51).
    pub crf: u8,
}

impl Default for GreenScreenParams {
    fn default() -> Self {
        Self {
            format: None,
            bgcolor: None,
            bgimage: None,
            key_color: KeyColor::Auto,
            strength: 0.5,
            clip: 0.1,
            spill: 1.0,
            crf: 28,
        }
    }
}

impl GreenScreenParams {
    /// Whether the output is composited over a background.
    pub fn has_background(&self) -> bool {
        self.bgcolor.is_some() || self.bgimage.is_some()
    }
}

/// `bgcolor`, as both cut-out functions take it.
pub const BGCOLOR: Param = Param::of(
    "bgcolor",
    ParamKind::Pattern {
        pattern: "^\\s*(#|0x)?[0-9A-Fa-f]{6}\\s*$",
        shape: "#RRGGBB",
    },
    "Composite over this colour instead of writing alpha.",
);
/// `bgimage`, as both cut-out functions take it.
pub const BGIMAGE: Param = Param::of(
    "bgimage",
    ParamKind::Text { max_len: 2048 },
    "Composite over this image or video (scaled to cover the frame; a video loops): an S3 location like the input.",
);
/// `Crf`, as both cut-out functions take it.
pub const CRF: Param = Param::integer(
    "Crf",
    0,
    51,
    "Video quality: the encoder's CRF, lower is better.",
)
.default(ParamDefault::Integer(28));

/// What `VideoGreenScreenMatting` takes in `JobParams`.
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        Param::choice(
            "Format",
            &["webm", "mov", "mp4", "png", "zip", "gif", "webp", "mask"],
            "Output: webm (VP9 with alpha), mov (ProRes 4444), mp4 (needs a background), png/zip (frames), gif, webp, mask (the alpha alone, grey: PNG for a picture, H.264 MP4 for a video). Default: webm, or mp4 over a background.",
        ),
        BGCOLOR,
        BGIMAGE,
        Param::choice("KeyColor", &["auto", "green", "blue"], "The screen's colour; auto finds it.")
            .default(ParamDefault::Text("auto")),
        Param::number("Strength", 0.0, 1.0, "Keying strength: higher removes more of the screen.")
            .default(ParamDefault::Number(0.5)),
        Param::number("Clip", 0.0, 0.45, "Alpha this close to 0 or 1 snaps to it.")
            .default(ParamDefault::Number(0.1)),
        Param::number("Spill", 0.0, 1.0, "How much screen colour is removed from the edges.")
            .default(ParamDefault::Number(1.0)),
        CRF,
    ],
    rules: &[
        "bgcolor and bgimage exclude each other",
        "mp4 needs bgcolor or bgimage",
        "mask takes no background",
    ],
};

impl TryFrom<&serde_json::Value> for GreenScreenParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        let mut r = ParamReader::new(params, &PARAMS)?;
        let d = Self::default();
        let output = MatteOutput::read(&mut r)?;
        let parsed = Self {
            format: output.format,
            bgcolor: output.bgcolor,
            bgimage: output.bgimage.clone(),
            key_color: r
                .choice("KeyColor", |s| match s {
                    "auto" => Some(KeyColor::Auto),
                    "green" => Some(KeyColor::Green),
                    "blue" => Some(KeyColor::Blue),
                    _ => None,
                })?
                .unwrap_or(d.key_color),
            strength: r.number("Strength")?.map_or(d.strength, |v| v as f32),
            clip: r.number("Clip")?.map_or(d.clip, |v| v as f32),
            spill: r.number("Spill")?.map_or(d.spill, |v| v as f32),
            crf: r.int("Crf")?.map_or(d.crf, |v| v as u8),
        };
        r.finish()?;
        output.check()?;
        Ok(parsed)
    }
}

/// Result of `VideoGreenScreenMatting`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GreenScreenResult {
    /// The output file.
    pub file: String,
    /// Its format.
    pub format: MatteFormat,
    /// The screen keyed: `green` or `blue`.
    pub screen: String,
    /// Whether the output has an alpha channel.
    pub alpha: bool,
    /// Output size.
    pub width: u32,
    /// Output size.
    pub height: u32,
    /// Frames written (1 for images).
    pub frames: u64,
    /// Seconds of video (0 for images).
    pub duration: f64,
}

impl GreenScreenResult {
    /// The result for what was written, keyed from a `screen` screen.
    pub fn new(w: crate::capabilities::matte_out::Written, screen: &'static str) -> Self {
        Self {
            file: w.file,
            format: w.format,
            screen: screen.to_owned(),
            alpha: w.alpha,
            width: w.width,
            height: w.height,
            frames: w.frames,
            duration: w.duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_colours() {
        let p = GreenScreenParams::try_from(&json!({})).expect("empty");
        assert_eq!(p, GreenScreenParams::default());
        let p = GreenScreenParams::try_from(
            &json!({"bgcolor": "#00FF80", "Format": "mp4", "KeyColor": "blue"}),
        )
        .expect("ok");
        assert_eq!(p.bgcolor, Some([0, 255, 128]));
        assert_eq!(p.key_color, KeyColor::Blue);
        let p = GreenScreenParams::try_from(
            &json!({"bgimage": "s3://media/bg/studio.jpg", "Format": "mp4"}),
        )
        .expect("ok");
        assert_eq!(
            p.bgimage.map(|l| l.to_string()).as_deref(),
            Some("s3://media/bg/studio.jpg")
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (v, key) in [
            (json!({"bgcolor": "green"}), "bgcolor"),
            (json!({"Format": "avi"}), "Format"),
            (json!({"Format": "mp4"}), "Format"),
            (json!({"Strength": 2}), "Strength"),
            (json!({"bgimage": "ftp://b/k.jpg"}), "bgimage"),
            (
                json!({"bgimage": "s3://b/k.jpg", "bgcolor": "#000000"}),
                "bgimage",
            ),
        ] {
            let e = GreenScreenParams::try_from(&v).expect_err("refused");
            assert!(e.message.contains(key), "{v}: {}", e.message);
        }
    }
}
