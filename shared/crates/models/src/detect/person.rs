//! Person segmentation with MediaPipe's selfie segmentation (Apache-2.0;
//! from the `@mediapipe/selfie_segmentation` npm package, converted from
//! TensorFlow Lite by `scripts/convert/tflite_seg2onnx.py`): for each pixel
//! of a 256×256 view of the picture, the probability that it shows a
//! person. The view may be the whole frame or any box of it (stretched to
//! the square, as MediaPipe itself feeds the model), so a second look at the
//! box around a small figure sees it at a higher resolution.

use image::RgbImage;

use crate::inference::{InferenceError, Model, ModelDir};

/// Manifest name of the model.
pub const MODEL: &str = "selfie-segmentation";
/// The network's input (and output) side.
pub const SIZE: u32 = 256;

/// A box of the frame in pixels: left, top, width, height.
pub type View = (u32, u32, u32, u32);

/// The model's answer for one view: `SIZE`×`SIZE` probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonMask {
    /// Row-major probabilities, 0–1.
    pub values: Vec<f32>,
    /// The frame box the mask covers.
    pub view: View,
    /// The luma (0–1) of the model's input, `SIZE`×`SIZE`: what the mask
    /// was computed from, for comparing views of successive frames.
    pub luma: Vec<f32>,
}

impl PersonMask {
    /// The mask's value at frame pixel (`x`, `y`) (any real position inside
    /// the view), interpolated bilinearly; 0 outside the view.
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let (vx, vy, vw, vh) = self.view;
        let s = SIZE as f32;
        let mx = (x - vx as f32) * s / vw as f32 - 0.5;
        let my = (y - vy as f32) * s / vh as f32 - 0.5;
        if mx < -1.0 || my < -1.0 || mx > s || my > s {
            return 0.0;
        }
        let (mx, my) = (mx.clamp(0.0, s - 1.0), my.clamp(0.0, s - 1.0));
        let (x0, y0) = (mx.floor() as usize, my.floor() as usize);
        let (x1, y1) = (
            (x0 + 1).min(SIZE as usize - 1),
            (y0 + 1).min(SIZE as usize - 1),
        );
        let (fx, fy) = (mx - x0 as f32, my - y0 as f32);
        let n = SIZE as usize;
        let v = |x: usize, y: usize| self.values[y * n + x];
        let top = v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx;
        let bottom = v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// The selfie segmentation model.
#[derive(Debug)]
pub struct PersonSegmenter {
    model: Model,
}

impl PersonSegmenter {
    /// Opens the model from `models` with `threads` inference threads.
    ///
    /// # Errors
    /// When the runtime or the model file cannot be loaded.
    pub fn load(models: &ModelDir, threads: usize) -> Result<Self, InferenceError> {
        Ok(Self {
            model: models.session(MODEL, threads)?,
        })
    }

    /// The person mask of `view` (a box inside `frame`), stretched to the
    /// model's square input with bilinear sampling.
    ///
    /// # Errors
    /// When inference fails.
    pub fn segment(&self, frame: &RgbImage, view: View) -> Result<PersonMask, InferenceError> {
        let input = square_input(frame, view);
        let n = (SIZE * SIZE) as usize;
        let s = SIZE as usize;
        let (shape, values) = self.model.run_f32(&[1, 3, s, s], &input)?;
        if values.len() != n {
            return Err(InferenceError::Run {
                name: MODEL.to_owned(),
                detail: format!("output shape {shape:?}, expected {SIZE}x{SIZE}"),
            });
        }
        let luma = (0..n)
            .map(|i| 0.299 * input[i] + 0.587 * input[n + i] + 0.114 * input[2 * n + i])
            .collect();
        Ok(PersonMask { values, view, luma })
    }
}

/// `view` of `frame` resampled to `SIZE`×`SIZE` (bilinear between pixel
/// centres, averaging over the source pixels a sample stands for when the
/// view is much larger), as planar RGB in 0–1.
fn square_input(frame: &RgbImage, (vx, vy, vw, vh): View) -> Vec<f32> {
    let n = SIZE as usize;
    let plane = n * n;
    let mut input = vec![0f32; 3 * plane];
    let (fw, fh) = frame.dimensions();
    let raw = frame.as_raw();
    let sx = vw.max(1) as f32 / SIZE as f32;
    let sy = vh.max(1) as f32 / SIZE as f32;
    // Box-average over about the footprint of one output sample.
    let taps = |scale: f32| (scale.ceil() as usize).clamp(1, 8);
    let (tx, ty) = (taps(sx), taps(sy));
    for oy in 0..n {
        for ox in 0..n {
            let mut acc = [0f32; 3];
            for j in 0..ty {
                let y = vy as f32 + (oy as f32 + (j as f32 + 0.5) / ty as f32) * sy - 0.5;
                for i in 0..tx {
                    let x = vx as f32 + (ox as f32 + (i as f32 + 0.5) / tx as f32) * sx - 0.5;
                    // Samples stay inside the view.
                    let x = x.clamp(vx as f32, (vx + vw.max(1) - 1) as f32);
                    let y = y.clamp(vy as f32, (vy + vh.max(1) - 1) as f32);
                    let p = bilinear(raw, fw, fh, x, y);
                    for c in 0..3 {
                        acc[c] += p[c];
                    }
                }
            }
            let k = (tx * ty) as f32 * 255.0;
            for c in 0..3 {
                input[c * plane + oy * n + ox] = acc[c] / k;
            }
        }
    }
    input
}

fn bilinear(raw: &[u8], w: u32, h: u32, x: f32, y: f32) -> [f32; 3] {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |x: u32, y: u32, c: usize| f32::from(raw[((y * w + x) * 3) as usize + c]);
    let mut out = [0f32; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
        let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_is_the_view_stretched_to_the_square() {
        // Left half red, right half blue; the view is the right half.
        let frame = RgbImage::from_fn(400, 100, |x, _| {
            if x < 200 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        let input = square_input(&frame, (200, 0, 200, 100));
        let plane = (SIZE * SIZE) as usize;
        assert!(input[..plane].iter().all(|&r| r < 1e-6));
        assert!(input[2 * plane..].iter().all(|&b| (b - 1.0).abs() < 1e-6));
        let whole = square_input(&frame, (0, 0, 400, 100));
        // Column 64 of 256 samples x = 100: red; column 192: blue.
        assert!((whole[64] - 1.0).abs() < 1e-6 && whole[2 * plane + 64] < 1e-6);
        assert!(whole[192] < 1e-6 && (whole[2 * plane + 192] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_mask_is_read_back_in_frame_pixels() {
        let n = SIZE as usize;
        let mut values = vec![0.0; n * n];
        for y in 0..n {
            for x in n / 2..n {
                values[y * n + x] = 1.0;
            }
        }
        let mask = PersonMask {
            values,
            view: (100, 50, 512, 256),
            luma: Vec::new(),
        };
        assert!(mask.at(100.0 + 400.0, 100.0) > 0.99);
        assert!(mask.at(100.0 + 100.0, 100.0) < 0.01);
        // Outside the view: nothing.
        assert_eq!(mask.at(10.0, 10.0), 0.0);
        // At the step, half way.
        assert!((mask.at(100.0 + 256.0, 100.0) - 0.5).abs() < 0.01);
    }
}
