//! Text detection and recognition with PP-OCRv6 (small) through ONNX
//! Runtime: DB detection on an image, then batched CRNN/SVTR recognition of
//! each line with greedy CTC decoding over the dictionary stored in the
//! recognition model's metadata.

pub mod ctc;
pub mod db;
pub mod words;

use image::{imageops, RgbImage};

use crate::inference::{InferenceError, Model, ModelDir};
pub use db::TextBox;

/// The detection model's manifest name.
pub const DET_MODEL: &str = "ppocr-v6-det-small";
/// The recognition model's manifest name.
pub const REC_MODEL: &str = "ppocr-v6-rec-small";
/// Recognition input height.
const REC_HEIGHT: u32 = 48;
/// Widest recognition input, pixels (40 characters' worth of a long line).
const REC_MAX_WIDTH: u32 = 2400;
/// Lines per recognition batch.
const REC_BATCH: usize = 8;

/// A line of text read from an image.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    /// Where it is, in the image's pixels.
    pub bbox: TextBox,
    /// What it says.
    pub text: String,
    /// Mean probability of its characters.
    pub confidence: f32,
    /// Where each character of `text` was read: the middle of its steps,
    /// as an x coordinate in the image's pixels.
    pub positions: Vec<f32>,
}

/// Loaded detection and recognition models.
#[derive(Debug)]
pub struct Ocr {
    det: Model,
    rec: Model,
    /// Class id → text (0 is the CTC blank).
    classes: Vec<String>,
    /// Classes in Latin script, digits, punctuation and space.
    latin: Vec<bool>,
}

impl Ocr {
    /// Opens both models from `models`, each inference using `threads`.
    ///
    /// # Errors
    /// [`InferenceError`] naming the library or model file at fault.
    pub fn load(models: &ModelDir, threads: usize) -> Result<Self, InferenceError> {
        let det = models.session(DET_MODEL, threads)?;
        let rec = models.session(REC_MODEL, threads)?;
        let Some(dictionary) = rec.metadata("character") else {
            return Err(InferenceError::Model {
                name: REC_MODEL.into(),
                path: models.path().to_owned(),
                detail: "no `character` dictionary in the model metadata".into(),
            });
        };
        let mut classes = vec![String::new()];
        classes.extend(dictionary.lines().map(str::to_owned));
        classes.push(" ".into());
        let latin = classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                i == 0
                    || c.chars().all(|ch| {
                        ch.is_ascii()
                            || ('\u{a0}'..='\u{24f}').contains(&ch)
                            || "‘’“”–—…".contains(ch)
                    })
            })
            .collect();
        Ok(Self {
            det,
            rec,
            classes,
            latin,
        })
    }

    /// Text boxes in `image`, looked for at `scale` (≤ 1 shrinks the image
    /// first; text 16–60 pixels high is found best), one box per line.
    ///
    /// # Errors
    /// [`InferenceError::Run`].
    pub fn detect(&self, image: &RgbImage, scale: f32) -> Result<Vec<TextBox>, InferenceError> {
        let (w, h) = image.dimensions();
        let round32 = |v: f32| ((v / 32.0).round() as u32).max(1) * 32;
        let (dw, dh) = (round32(w as f32 * scale), round32(h as f32 * scale));
        let resized;
        let input = if (dw, dh) == (w, h) {
            image
        } else {
            resized = imageops::resize(image, dw, dh, imageops::FilterType::Triangle);
            &resized
        };
        let (dw, dh) = (dw as usize, dh as usize);
        let plane = dw * dh;
        let mut data = vec![0f32; 3 * plane];
        for (i, p) in input.pixels().enumerate() {
            // BGR, scaled to −1…1.
            data[i] = f32::from(p[2]) / 127.5 - 1.0;
            data[plane + i] = f32::from(p[1]) / 127.5 - 1.0;
            data[2 * plane + i] = f32::from(p[0]) / 127.5 - 1.0;
        }
        let (shape, prob) = self.det.run_f32(&[1, 3, dh, dw], &data)?;
        let (mh, mw) = (
            shape.get(2).copied().unwrap_or(0),
            shape.get(3).copied().unwrap_or(0),
        );
        let found = db::boxes(
            &prob,
            mw,
            mh,
            (mw as f32 / w as f32, mh as f32 / h as f32),
            (w as f32, h as f32),
            &db::DbSettings::default(),
        );
        Ok(db::merge_lines(found, 1.2))
    }

    /// Reads each box of `image` (batched). `latin_only` restricts the
    /// alphabet to Latin script.
    ///
    /// # Errors
    /// [`InferenceError::Run`].
    pub fn recognise(
        &self,
        image: &RgbImage,
        boxes: &[TextBox],
        latin_only: bool,
    ) -> Result<Vec<TextLine>, InferenceError> {
        let crops: Vec<RgbImage> = boxes
            .iter()
            .map(|b| {
                let x = crop_left(b) as u32;
                let y = b.y0.floor().max(0.0) as u32;
                let w = ((b.x1.ceil() as u32).min(image.width()))
                    .saturating_sub(x)
                    .max(1);
                let h = ((b.y1.ceil() as u32).min(image.height()))
                    .saturating_sub(y)
                    .max(1);
                imageops::crop_imm(image, x, y, w, h).to_image()
            })
            .collect();
        let mut order: Vec<usize> = (0..crops.len()).collect();
        let ratio = |c: &RgbImage| c.width() as f32 / c.height().max(1) as f32;
        order.sort_by(|&a, &b| ratio(&crops[a]).total_cmp(&ratio(&crops[b])));
        let mut out: Vec<Option<TextLine>> = vec![None; crops.len()];
        let allowed = latin_only.then_some(self.latin.as_slice());
        for batch in order.chunks(REC_BATCH) {
            let widest = batch
                .iter()
                .map(|&i| ratio(&crops[i]))
                .fold(320.0 / REC_HEIGHT as f32, f32::max);
            let width = ((REC_HEIGHT as f32 * widest).ceil() as u32).min(REC_MAX_WIDTH);
            let plane = (REC_HEIGHT * width) as usize;
            // Each crop at the model's height, at most `width` wide.
            let resized_width =
                |c: &RgbImage| ((REC_HEIGHT as f32 * ratio(c)).ceil() as u32).clamp(1, width);
            let mut data = vec![0f32; batch.len() * 3 * plane];
            for (k, &i) in batch.iter().enumerate() {
                let c = &crops[i];
                let rw = resized_width(c);
                let resized = imageops::resize(c, rw, REC_HEIGHT, imageops::FilterType::Triangle);
                let base = k * 3 * plane;
                for (x, y, p) in resized.enumerate_pixels() {
                    let j = (y * width + x) as usize;
                    data[base + j] = f32::from(p[2]) / 127.5 - 1.0;
                    data[base + plane + j] = f32::from(p[1]) / 127.5 - 1.0;
                    data[base + 2 * plane + j] = f32::from(p[0]) / 127.5 - 1.0;
                }
            }
            let (shape, probs) = self.rec.run_f32(
                &[batch.len(), 3, REC_HEIGHT as usize, width as usize],
                &data,
            )?;
            let (steps, classes) = (
                shape.get(1).copied().unwrap_or(0),
                shape.get(2).copied().unwrap_or(0),
            );
            for (k, &i) in batch.iter().enumerate() {
                let Some(rows) = probs.get(k * steps * classes..(k + 1) * steps * classes) else {
                    continue;
                };
                let (ids, confidence) = ctc::decode(rows, steps, classes, allowed);
                // A step is `width / steps` pixels of the model's input, in
                // which the crop is `rw` wide for `crop.width()` pixels.
                let c = &crops[i];
                let rw = resized_width(c);
                let to_x = |step: f32| {
                    crop_left(&boxes[i])
                        + step * width as f32 / steps.max(1) as f32 * c.width() as f32 / rw as f32
                };
                let mut read: Vec<(char, f32)> = ids
                    .iter()
                    .filter_map(|&(id, step)| self.classes.get(id).map(|s| (s, to_x(step))))
                    .flat_map(|(s, x)| s.chars().map(move |ch| (ch, x)))
                    .collect();
                while read.first().is_some_and(|(ch, _)| ch.is_whitespace()) {
                    read.remove(0);
                }
                while read.last().is_some_and(|(ch, _)| ch.is_whitespace()) {
                    read.pop();
                }
                out[i] = Some(TextLine {
                    bbox: boxes[i],
                    text: read.iter().map(|(ch, _)| ch).collect(),
                    confidence,
                    positions: read.iter().map(|(_, x)| *x).collect(),
                });
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Detects and reads every line of `image`.
    ///
    /// # Errors
    /// [`InferenceError::Run`].
    pub fn read(
        &self,
        image: &RgbImage,
        scale: f32,
        latin_only: bool,
    ) -> Result<Vec<TextLine>, InferenceError> {
        let boxes = self.detect(image, scale)?;
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        self.recognise(image, &boxes, latin_only)
    }
}

/// The left edge of the crop taken for `b`.
fn crop_left(b: &TextBox) -> f32 {
    b.x0.floor().max(0.0)
}
