//! `CaptionExtraction`: params and results.

use serde::Serialize;

use crate::domain::error::JobError;
use crate::domain::params::{Param, ParamDefault, ParamKind, ParamReader, ParamsSpec};

/// Where to look for subtitles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Roi {
    /// A fixed region, fractions of the frame: top, bottom, left, right.
    Fixed {
        /// Top edge, 0–1.
        top: f64,
        /// Bottom edge, 0–1.
        bottom: f64,
        /// Left edge, 0–1.
        left: f64,
        /// Right edge, 0–1.
        right: f64,
    },
    /// Found in the video: the band where text recurs.
    Auto,
}

impl Roi {
    /// `[[top,bottom],[left,right]]` of a fixed region.
    pub fn bounds(&self) -> Option<[[f64; 2]; 2]> {
        match *self {
            Self::Fixed {
                top,
                bottom,
                left,
                right,
            } => Some([[top, bottom], [left, right]]),
            Self::Auto => None,
        }
    }

    /// The bottom quarter of the frame (the default).
    pub const BOTTOM_QUARTER: Self = Self::Fixed {
        top: 0.75,
        bottom: 1.0,
        left: 0.0,
        right: 1.0,
    };
}

/// Which recognition alphabet to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Lang {
    /// Chinese and English (the full dictionary).
    #[serde(rename = "ch")]
    Chinese,
    /// English only: recognition restricted to Latin script.
    #[serde(rename = "en")]
    English,
    /// Chinese with other scripts the model knows (the full dictionary).
    #[serde(rename = "ch_ml")]
    Multilingual,
}

/// Which subtitle lines to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Track {
    /// Every subtitle line.
    #[serde(rename = "all")]
    All,
    /// Only the main subtitle line band (drops secondary lines).
    #[serde(rename = "main")]
    Main,
}

/// `JobParams` of `CaptionExtraction` (Alibaba's names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptionExtractionParams {
    /// Frames examined per second (2–10, default 5): a caption shown for
    /// less than 1/fps seconds may be missed.
    pub fps: f64,
    /// Where the subtitles are.
    pub roi: Roi,
    /// Separate Chinese and English files.
    pub sep: bool,
    /// Prefix written before each cue's text in the SRT (e.g. `{\an8}`).
    pub formatter: String,
    /// Lines to keep.
    pub track: Track,
    /// Alphabet.
    pub lang: Lang,
}

impl Default for CaptionExtractionParams {
    fn default() -> Self {
        Self {
            fps: 5.0,
            roi: Roi::BOTTOM_QUARTER,
            sep: false,
            formatter: String::new(),
            track: Track::All,
            lang: Lang::Chinese,
        }
    }
}

fn parse_roi(value: &serde_json::Value) -> Result<Roi, JobError> {
    let bad = |why: &str| {
        JobError::param(
            "roi",
            format!("{why}: expected [[top,bottom],[left,right]] with 0 <= top < bottom <= 1 and 0 <= left < right <= 1, or \"auto\"; got {value}"),
        )
    };
    let parsed;
    let value = match value {
        serde_json::Value::String(s) if s.trim().eq_ignore_ascii_case("auto") => {
            return Ok(Roi::Auto)
        }
        serde_json::Value::String(s) => {
            parsed = serde_json::from_str::<serde_json::Value>(s).map_err(|_| bad("not JSON"))?;
            &parsed
        }
        v => v,
    };
    let pair = |v: &serde_json::Value| -> Option<(f64, f64)> {
        let a = v.as_array()?;
        if a.len() != 2 {
            return None;
        }
        Some((a[0].as_f64()?, a[1].as_f64()?))
    };
    let outer = value
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| bad("not two pairs"))?;
    let (top, bottom) = pair(&outer[0]).ok_or_else(|| bad("[top,bottom] is not two numbers"))?;
    let (left, right) = pair(&outer[1]).ok_or_else(|| bad("[left,right] is not two numbers"))?;
    let ok = |a: f64, b: f64| (0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b) && b - a >= 0.02;
    if !ok(top, bottom) || !ok(left, right) {
        return Err(bad("out of range"));
    }
    Ok(Roi::Fixed {
        top,
        bottom,
        left,
        right,
    })
}

/// What `CaptionExtraction` takes in `JobParams` (Alibaba's names).
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        Param::number(
            "fps",
            2.0,
            10.0,
            "Frames examined per second: a caption shown for less than 1/fps seconds may be missed.",
        )
        .default(ParamDefault::Number(5.0)),
        Param::of(
            "roi",
            ParamKind::Json {
                schema: r#"{"anyOf": [{"const": "auto"}, {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": 0, "maximum": 1}}}, {"type": "string"}]}"#,
                shape: "[[top,bottom],[left,right]] fractions, or \"auto\"",
            },
            "Where the captions are: a band as fractions of the frame (also as a JSON string), or auto to find where text recurs. Default: the bottom quarter, [[0.75,1],[0,1]].",
        ),
        Param::of("sep", ParamKind::Flag, "Write Chinese and English lines to separate files.")
            .default(ParamDefault::Flag(false)),
        Param::of(
            "formatter",
            ParamKind::Text { max_len: 64 },
            "One line written before each cue's text in the SRT, e.g. {\\an8}.",
        )
        .default(ParamDefault::Text("")),
        Param::choice("track", &["all", "main"], "all: every caption line; main: only the main caption band.")
            .default(ParamDefault::Text("all")),
        Param::choice(
            "lang",
            &["ch", "en", "ch_ml"],
            "Recognition alphabet: ch (Chinese and English), en (Latin script only), ch_ml (Chinese and other scripts).",
        )
        .default(ParamDefault::Text("ch")),
    ],
    rules: &["roi bands are at least 0.02 high and wide", "formatter is one line"],
};

impl TryFrom<&serde_json::Value> for CaptionExtractionParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        let mut r = ParamReader::new(params, &PARAMS)?;
        let d = Self::default();
        let roi = match r.value("roi")? {
            Some(v) => parse_roi(v)?,
            None => d.roi,
        };
        let parsed = Self {
            fps: r.number("fps")?.unwrap_or(d.fps),
            roi,
            sep: r.flag("sep")?.unwrap_or(d.sep),
            formatter: r.text("formatter")?.unwrap_or_default(),
            track: r
                .choice("track", |s| match s {
                    "main" => Some(Track::Main),
                    "all" => Some(Track::All),
                    _ => None,
                })?
                .unwrap_or(d.track),
            lang: r
                .choice("lang", |s| match s {
                    "ch" => Some(Lang::Chinese),
                    "en" => Some(Lang::English),
                    "ch_ml" => Some(Lang::Multilingual),
                    _ => None,
                })?
                .unwrap_or(d.lang),
        };
        r.finish()?;
        if parsed.formatter.contains('\n') {
            return Err(JobError::param("formatter", "must be one line"));
        }
        Ok(parsed)
    }
}

/// One line of text inside a cue.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaptionLine {
    /// The text as read (spaces and punctuation kept).
    pub text: String,
    /// Box in frame pixels: x, y, width, height.
    #[serde(rename = "Box")]
    pub bbox: [u32; 4],
    /// Recognition confidence, 0–1.
    pub confidence: f64,
}

/// One subtitle cue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Caption {
    /// Seconds, first frame showing it.
    pub start: f64,
    /// Seconds, first frame no longer showing it.
    pub end: f64,
    /// Lines joined with `\n`, top to bottom.
    pub text: String,
    /// The lines with their boxes.
    pub lines: Vec<CaptionLine>,
}

/// A written subtitle file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaptionFile {
    /// `srt`, `vtt` or `json`.
    pub format: &'static str,
    /// `caption`, or `zh` / `en` with `sep`.
    pub language: &'static str,
    /// Where it is.
    pub file: String,
}

/// Result of `CaptionExtraction`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaptionExtractionResult {
    /// Every cue.
    pub captions: Vec<Caption>,
    /// The files written.
    pub files: Vec<CaptionFile>,
    /// The region searched, fractions: `[[top,bottom],[left,right]]`.
    pub roi: [[f64; 2]; 2],
    /// Video duration, seconds.
    pub duration: f64,
    /// Frames decoded and frames read by OCR.
    pub frames: u64,
    /// Frames given to text recognition.
    pub ocr_frames: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<CaptionExtractionParams, JobError> {
        CaptionExtractionParams::try_from(&v)
    }

    #[test]
    fn defaults_follow_alibaba() {
        let p = parse(json!({})).expect("empty");
        assert_eq!(p, CaptionExtractionParams::default());
        assert_eq!(p.roi, Roi::BOTTOM_QUARTER);
        assert!((p.fps - 5.0).abs() < 1e-9);
    }

    #[test]
    fn roi_comes_as_pairs_as_a_json_string_or_auto() {
        let want = Roi::Fixed {
            top: 0.0,
            bottom: 0.2,
            left: 0.1,
            right: 0.9,
        };
        assert_eq!(
            parse(json!({"roi": [[0, 0.2], [0.1, 0.9]]}))
                .expect("array")
                .roi,
            want
        );
        assert_eq!(
            parse(json!({"roi": "[[0,0.2],[0.1,0.9]]"}))
                .expect("string")
                .roi,
            want
        );
        assert_eq!(parse(json!({"roi": "auto"})).expect("auto").roi, Roi::Auto);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (params, key) in [
            (json!({"fps": 0}), "fps"),
            (json!({"fps": 11}), "fps"),
            (json!({"roi": [[0.5, 1.2], [0, 1]]}), "roi"),
            (json!({"roi": [[0.8, 0.5], [0, 1]]}), "roi"),
            (json!({"roi": [0, 1]}), "roi"),
            (json!({"roi": "bottom"}), "roi"),
            (json!({"lang": "fr"}), "lang"),
            (json!({"track": "second"}), "track"),
            (json!({"sep": "yes"}), "sep"),
            (json!({"formatter": "a\nb"}), "formatter"),
            (json!({"Fpss": 3}), "Fpss"),
        ] {
            let err = parse(params.clone()).expect_err("refused");
            assert!(err.message.contains(key), "{params}: {}", err.message);
        }
    }

    #[test]
    fn keys_are_case_insensitive_and_strings_are_accepted() {
        let p = parse(json!({"FPS": "8", "Sep": "true", "lang": "en", "track": "main", "formatter": "{\\an8}"}))
            .expect("ok");
        assert!((p.fps - 8.0).abs() < 1e-9);
        assert!(p.sep);
        assert_eq!(p.lang, Lang::English);
        assert_eq!(p.track, Track::Main);
        assert_eq!(p.formatter, "{\\an8}");
    }
}
