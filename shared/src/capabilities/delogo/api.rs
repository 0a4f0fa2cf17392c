//! `VideoDelogo` / `ImageDelogo`: params and results.

use serde::Serialize;

use crate::domain::error::JobError;
use crate::domain::params::{
    parse_hex_colour, Param, ParamDefault, ParamKind, ParamReader, ParamsSpec,
};

/// How a logo is taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The picture under the logo brought back: the blend inverted where
    /// the logo lets the picture through, the rest filled from around it.
    Fill,
    /// The logo's box blurred.
    Blur,
    /// The logo's box as coarse blocks.
    Mosaic,
    /// The logo's box painted in one colour.
    Box,
}

impl Mode {
    /// Its name in `JobParams`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fill => "fill",
            Self::Blur => "blur",
            Self::Mosaic => "mosaic",
            Self::Box => "box",
        }
    }
}

/// A frame corner, to restrict the search to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Corner {
    /// Top left quarter.
    TopLeft,
    /// Top right quarter.
    TopRight,
    /// Bottom left quarter.
    BottomLeft,
    /// Bottom right quarter.
    BottomRight,
}

impl Corner {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
            "topleft" | "tl" => Some(Self::TopLeft),
            "topright" | "tr" => Some(Self::TopRight),
            "bottomleft" | "bl" => Some(Self::BottomLeft),
            "bottomright" | "br" => Some(Self::BottomRight),
            _ => None,
        }
    }

    /// Whether a box centred at (`cx`, `cy`) in a `w`×`h` frame lies in
    /// this corner's quarter.
    pub fn holds(self, (cx, cy): (f64, f64), (w, h): (u32, u32)) -> bool {
        let left = cx < f64::from(w) / 2.0;
        let top = cy < f64::from(h) / 2.0;
        match self {
            Self::TopLeft => left && top,
            Self::TopRight => !left && top,
            Self::BottomLeft => left && !top,
            Self::BottomRight => !left && !top,
        }
    }
}

/// A box given by the user: pixels, or fractions of the frame when all
/// four numbers are at most 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoxHint {
    /// `[x, y, w, h]` as given.
    pub rect: [f64; 4],
    /// Whether `rect` is in fractions of the frame.
    pub fractions: bool,
    /// First second it applies to.
    pub start: Option<f64>,
    /// Last second it applies to.
    pub end: Option<f64>,
}

impl BoxHint {
    /// The box in pixels of a `w`×`h` frame, clipped to it; `None` when
    /// nothing of it is inside.
    pub fn pixels(&self, (w, h): (u32, u32)) -> Option<[u32; 4]> {
        let [x, y, bw, bh] = if self.fractions {
            let (fw, fh) = (f64::from(w), f64::from(h));
            [
                self.rect[0] * fw,
                self.rect[1] * fh,
                self.rect[2] * fw,
                self.rect[3] * fh,
            ]
        } else {
            self.rect
        };
        let x0 = x.max(0.0).floor();
        let y0 = y.max(0.0).floor();
        let x1 = (x + bw).min(f64::from(w)).ceil();
        let y1 = (y + bh).min(f64::from(h)).ceil();
        (x1 - x0 >= 1.0 && y1 - y0 >= 1.0).then_some([
            x0 as u32,
            y0 as u32,
            (x1 - x0) as u32,
            (y1 - y0) as u32,
        ])
    }
}

/// `JobParams` of `VideoDelogo` and `ImageDelogo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DelogoParams {
    /// How logos are taken away.
    pub mode: Mode,
    /// Boxes to clean instead of searching.
    pub boxes: Vec<BoxHint>,
    /// Corners to search (all when empty).
    pub corners: Vec<Corner>,
    /// Colour for `box` mode.
    pub color: [u8; 3],
    /// H.264 CRF of the output.
    pub crf: u8,
    /// Re-encode even when no logo is found.
    pub always_encode: bool,
    /// The logos already found over the whole video, when a long video
    /// is split (decided once, before the split; never a user's param).
    #[serde(skip)]
    pub found: Option<crate::capabilities::delogo::Findings>,
}

impl Default for DelogoParams {
    fn default() -> Self {
        Self {
            mode: Mode::Fill,
            boxes: Vec::new(),
            corners: Vec::new(),
            color: [0, 0, 0],
            crf: 18,
            always_encode: false,
            found: None,
        }
    }
}

/// Most boxes a job may name.
pub const MAX_BOXES: usize = 16;

/// Parses a list of boxes given under `key`: `[[x, y, w, h], ...]` in
/// pixels or fractions, or `[{"Box": [x, y, w, h], "Start": s, "End": e}]`,
/// also as a JSON string.
///
/// # Errors
/// `InvalidParameter` naming `key` and the bad box.
pub fn parse_boxes(key: &str, value: &serde_json::Value) -> Result<Vec<BoxHint>, JobError> {
    let bad = |why: String| {
        JobError::param(
            key,
            format!("{why}: expected [[x, y, w, h], ...] in pixels or fractions, or [{{\"Box\": [x, y, w, h], \"Start\": s, \"End\": e}}, ...]"),
        )
    };
    let parsed;
    let value = match value {
        serde_json::Value::String(s) => {
            parsed =
                serde_json::from_str::<serde_json::Value>(s).map_err(|_| bad("not JSON".into()))?;
            &parsed
        }
        v => v,
    };
    let list = value
        .as_array()
        .ok_or_else(|| bad(format!("not a list: {value}")))?;
    if list.is_empty() || list.len() > MAX_BOXES {
        return Err(bad(format!("1 to {MAX_BOXES} boxes, got {}", list.len())));
    }
    let rect = |v: &serde_json::Value, i: usize| -> Result<[f64; 4], JobError> {
        let a = v
            .as_array()
            .filter(|a| a.len() == 4)
            .ok_or_else(|| bad(format!("box {i} is not four numbers: {v}")))?;
        let mut r = [0.0; 4];
        for (slot, n) in r.iter_mut().zip(a) {
            *slot = n
                .as_f64()
                .filter(|n| n.is_finite() && (0.0..=100_000.0).contains(n))
                .ok_or_else(|| bad(format!("box {i} has a bad number: {n}")))?;
        }
        if r[2] <= 0.0 || r[3] <= 0.0 {
            return Err(bad(format!("box {i} has no area: {v}")));
        }
        Ok(r)
    };
    let time =
        |v: Option<&serde_json::Value>, i: usize, key: &str| -> Result<Option<f64>, JobError> {
            v.filter(|v| !v.is_null())
                .map(|v| {
                    v.as_f64()
                        .filter(|t| t.is_finite() && *t >= 0.0)
                        .ok_or_else(|| bad(format!("box {i} {key} is not a time in seconds: {v}")))
                })
                .transpose()
        };
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let (r, start, end) = match item {
            serde_json::Value::Object(map) => {
                for key in map.keys() {
                    if !["box", "start", "end"].contains(&key.to_ascii_lowercase().as_str()) {
                        return Err(bad(format!("box {i} has an unknown key `{key}`")));
                    }
                }
                let get = |k: &str| {
                    map.iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v)
                };
                let r = rect(
                    get("Box").ok_or_else(|| bad(format!("box {i} has no Box")))?,
                    i,
                )?;
                (
                    r,
                    time(get("Start"), i, "Start")?,
                    time(get("End"), i, "End")?,
                )
            }
            v => (rect(v, i)?, None, None),
        };
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                return Err(bad(format!(
                    "box {i} ends ({e} s) before it starts ({s} s)"
                )));
            }
        }
        let fractions = r.iter().all(|&n| n <= 1.0);
        if fractions && (r[0] + r[2] > 1.0 + 1e-9 || r[1] + r[3] > 1.0 + 1e-9) {
            return Err(bad(format!("box {i} reaches outside the frame: {item}")));
        }
        out.push(BoxHint {
            rect: r,
            fractions,
            start,
            end,
        });
    }
    Ok(out)
}

fn parse_corners(value: &serde_json::Value) -> Result<Vec<Corner>, JobError> {
    let bad = |v: &serde_json::Value| {
        JobError::param(
            "Corners",
            format!("expected a list of TopLeft, TopRight, BottomLeft, BottomRight; got {v}"),
        )
    };
    let items: Vec<&serde_json::Value> = match value {
        serde_json::Value::Array(a) if !a.is_empty() && a.len() <= 4 => a.iter().collect(),
        serde_json::Value::String(_) => vec![value],
        v => return Err(bad(v)),
    };
    let mut out = Vec::new();
    for v in items {
        let c = v.as_str().and_then(Corner::parse).ok_or_else(|| bad(v))?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// What `VideoDelogo` and `ImageDelogo` take in `JobParams`.
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        Param::choice(
            "Mode",
            &["fill", "blur", "mosaic", "box"],
            "fill: bring back the picture under the logo (the blend inverted where the logo is see-through, the rest filled from around it); blur, mosaic or box: hide the logo's box visibly.",
        )
        .default(ParamDefault::Text("fill")),
        Param::of(
            "Boxes",
            ParamKind::Json {
                schema: r#"{"anyOf": [{"type": "array", "minItems": 1, "maxItems": 16, "items": {"anyOf": [{"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number", "minimum": 0}}, {"type": "object", "required": ["Box"], "properties": {"Box": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number", "minimum": 0}}, "Start": {"type": "number", "minimum": 0}, "End": {"type": "number", "minimum": 0}}, "additionalProperties": false}]}}, {"type": "string"}]}"#,
                shape: "[[x, y, w, h], ...] or [{\"Box\": [x, y, w, h], \"Start\": s, \"End\": e}, ...]",
            },
            "Where the logos are, instead of finding them: boxes in pixels, or fractions of the frame when all four numbers are at most 1, each with optional Start/End seconds. Required for ImageDelogo.",
        ),
        Param::of(
            "Corners",
            ParamKind::Json {
                schema: r#"{"anyOf": [{"type": "array", "minItems": 1, "maxItems": 4, "items": {"enum": ["TopLeft", "TopRight", "BottomLeft", "BottomRight"]}}, {"enum": ["TopLeft", "TopRight", "BottomLeft", "BottomRight"]}]}"#,
                shape: "[\"TopLeft\", \"TopRight\", \"BottomLeft\", \"BottomRight\"]",
            },
            "Search only these quarters of the frame. Default: the whole frame.",
        ),
        Param::of(
            "Color",
            ParamKind::Pattern {
                pattern: "^\\s*(#|0x)?[0-9A-Fa-f]{6}\\s*$",
                shape: "#RRGGBB",
            },
            "The colour of box mode.",
        )
        .default(ParamDefault::Text("#000000")),
        Param::integer("Crf", 0, 51, "Video quality: the H.264 encoder's CRF, lower is better.")
            .default(ParamDefault::Integer(18)),
        Param::of(
            "AlwaysEncode",
            ParamKind::Flag,
            "Re-encode the video even when no logo is found (otherwise the source is copied unchanged).",
        )
        .default(ParamDefault::Flag(false)),
    ],
    rules: &[
        "boxes lie inside the frame and End comes after Start",
        "ImageDelogo needs Boxes",
    ],
};

impl TryFrom<&serde_json::Value> for DelogoParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        let mut r = ParamReader::new(params, &PARAMS)?;
        let d = Self::default();
        let parsed = Self {
            mode: r
                .choice("Mode", |s| match s {
                    "fill" => Some(Mode::Fill),
                    "blur" => Some(Mode::Blur),
                    "mosaic" => Some(Mode::Mosaic),
                    "box" => Some(Mode::Box),
                    _ => None,
                })?
                .unwrap_or(d.mode),
            boxes: r
                .value("Boxes")?
                .map(|v| parse_boxes("Boxes", v))
                .transpose()?
                .unwrap_or_default(),
            corners: r
                .value("Corners")?
                .map(parse_corners)
                .transpose()?
                .unwrap_or_default(),
            color: r.choice("Color", parse_hex_colour)?.unwrap_or(d.color),
            crf: r.int("Crf")?.map_or(d.crf, |v| v as u8),
            always_encode: r.flag("AlwaysEncode")?.unwrap_or(d.always_encode),
            found: None,
        };
        r.finish()?;
        Ok(parsed)
    }
}

/// One logo removed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogoFound {
    /// `[x, y, w, h]` in pixels of the (upright) frame.
    #[serde(rename = "Box")]
    pub rect: [u32; 4],
    /// First second it is shown (and removed).
    pub start: f64,
    /// Last second it is shown.
    pub end: f64,
    /// How opaque it is at its most opaque (0–1): 1 hides the picture.
    pub opacity: f64,
    /// How sure the search is (0–1); 1 for a given box.
    pub confidence: f64,
    /// `detected` or `given`.
    pub source: String,
}

/// Result of `VideoDelogo` and `ImageDelogo`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DelogoResult {
    /// The output file.
    pub file: String,
    /// The logos removed (empty when none was found).
    pub logos: Vec<LogoFound>,
    /// How they were removed.
    pub mode: Mode,
    /// Whether the output was re-encoded (false: the source copied).
    pub encoded: bool,
    /// Output size.
    pub width: u32,
    /// Output size.
    pub height: u32,
    /// Frames written (1 for images).
    pub frames: u64,
    /// Frames in which a logo was removed.
    pub frames_changed: u64,
    /// For a segment of a split job: the first and last second each
    /// logo (in the order found) was removed in it, for the merge. Never
    /// in a job's result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_spans: Vec<Option<[f64; 2]>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_boxes_and_corners() {
        let p = DelogoParams::try_from(&json!({})).expect("empty");
        assert_eq!(p, DelogoParams::default());
        let p = DelogoParams::try_from(&json!({
            "Mode": "blur",
            "Boxes": [[10, 20, 100, 40], {"Box": [0.8, 0.05, 0.15, 0.1], "Start": 2, "End": 5.5}],
            "Corners": ["TopLeft", "br"],
            "Color": "#ff0000",
        }))
        .expect("ok");
        assert_eq!(p.mode, Mode::Blur);
        assert_eq!(p.boxes.len(), 2);
        assert!(!p.boxes[0].fractions);
        assert!(p.boxes[1].fractions);
        assert_eq!(p.boxes[1].end, Some(5.5));
        assert_eq!(p.boxes[1].pixels((1000, 500)), Some([800, 25, 150, 50]));
        assert_eq!(p.boxes[0].pixels((50, 50)), Some([10, 20, 40, 30]));
        assert_eq!(p.boxes[0].pixels((5, 5)), None);
        assert_eq!(p.corners, vec![Corner::TopLeft, Corner::BottomRight]);
        assert_eq!(p.color, [255, 0, 0]);
        assert!(Corner::TopRight.holds((900.0, 10.0), (1280, 720)));
        assert!(!Corner::TopRight.holds((100.0, 10.0), (1280, 720)));
        let p = DelogoParams::try_from(&json!({"Boxes": "[[1,2,3,4]]"})).expect("string");
        assert_eq!(p.boxes[0].rect, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (v, key) in [
            (json!({"Mode": "erase"}), "Mode"),
            (json!({"Boxes": [[1, 2, 3]]}), "Boxes"),
            (json!({"Boxes": []}), "Boxes"),
            (json!({"Boxes": [[1, 2, 0, 4]]}), "Boxes"),
            (json!({"Boxes": [[-1, 2, 3, 4]]}), "Boxes"),
            (json!({"Boxes": [[0.5, 0.5, 0.6, 0.2]]}), "Boxes"),
            (
                json!({"Boxes": [{"Box": [1, 2, 3, 4], "Start": 5, "End": 2}]}),
                "Boxes",
            ),
            (
                json!({"Boxes": [{"Box": [1, 2, 3, 4], "Until": 2}]}),
                "Boxes",
            ),
            (json!({"Corners": ["Middle"]}), "Corners"),
            (json!({"Color": "red"}), "Color"),
            (json!({"Crf": 70}), "Crf"),
            (json!({"Logo": 1}), "Logo"),
        ] {
            let e = DelogoParams::try_from(&v).expect_err("refused");
            assert!(e.message.contains(key), "{v}: {}", e.message);
        }
    }
}
