//! Face detection with BlazeFace (MediaPipe's full-range model, Apache-2.0,
//! converted to ONNX by `scripts/fetch-models`): 192×192 input, one anchor
//! per 4-px cell, boxes and six keypoints regressed from the anchors,
//! overlapping detections blended (weighted non-maximum suppression).
//!
//! A wide frame with no face found whole is read again as two
//! overlapping square tiles, so small faces keep twice the pixels they get
//! in one letterboxed square.

use image::imageops::FilterType;
use image::RgbImage;

use super::Rect;
use crate::inference::{InferenceError, Model, ModelDir};

/// Manifest name of the model.
pub const MODEL: &str = "blazeface-full-range";
const SIZE: u32 = 192;
const GRID: usize = 48;
const ANCHORS: usize = GRID * GRID;
/// Scores below this are not faces.
const MIN_SCORE: f32 = 0.6;
/// Detections overlapping more than this are the same face.
const SAME_FACE_IOU: f32 = 0.3;

/// A detected face.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Face {
    /// The face box (forehead to chin), frame pixels.
    pub rect: Rect,
    /// Confidence, 0–1.
    pub score: f32,
    /// Eyes (right, left), nose, mouth, ears (right, left), frame pixels.
    #[serde(skip)]
    pub keypoints: [(f32, f32); 6],
}

/// The BlazeFace detector.
#[derive(Debug)]
pub struct FaceDetector {
    model: Model,
}

impl FaceDetector {
    /// Opens the model from `models` with `threads` inference threads.
    ///
    /// # Errors
    /// When the runtime or the model file cannot be loaded.
    pub fn load(models: &ModelDir, threads: usize) -> Result<Self, InferenceError> {
        Ok(Self {
            model: models.session(MODEL, threads)?,
        })
    }

    /// Faces in `frame`, best first.
    ///
    /// # Errors
    /// When inference fails.
    pub fn detect(&self, frame: &RgbImage) -> Result<Vec<Face>, InferenceError> {
        self.detect_with(frame, true)
    }

    /// Faces in `frame`, best first; the tiles of a wide frame are read
    /// only when `tiles` allows (a caller that found nothing in them a
    /// moment ago may skip them).
    ///
    /// # Errors
    /// When inference fails.
    pub fn detect_with(&self, frame: &RgbImage, tiles: bool) -> Result<Vec<Face>, InferenceError> {
        let allow_tiles = tiles;
        let (w, h) = frame.dimensions();
        if w == 0 || h == 0 {
            return Ok(Vec::new());
        }
        // Square tiles: one for a near-square frame, else the two ends.
        let side = w.min(h);
        let tiles: Vec<(u32, u32)> = if w.max(h) * 10 <= side * 12 {
            vec![(0, 0)]
        } else if w > h {
            vec![(0, 0), (w - side, 0)]
        } else {
            vec![(0, 0), (0, h - side)]
        };
        // The whole frame first (large faces); the tiles when it shows no
        // face or small ones (which the letterboxed frame shrinks too far).
        let mut found = self.detect_square(frame, (0, 0), w.max(h))?;
        // Faces under about 40 model pixels are found, but placed loosely.
        let large = |f: &Face| f.rect.w / w.max(h) as f32 * SIZE as f32 >= 40.0;
        if allow_tiles && tiles.len() > 1 && (found.is_empty() || !found.iter().all(large)) {
            found.retain(large);
            for (x, y) in tiles {
                let tile = image::imageops::crop_imm(frame, x, y, side, side).to_image();
                found.extend(self.detect_square(&tile, (x, y), side)?);
            }
        }
        Ok(blend(found))
    }

    /// Runs the model on `img` letterboxed into a `side`-pixel square
    /// placed at `origin` in the frame.
    fn detect_square(
        &self,
        img: &RgbImage,
        origin: (u32, u32),
        side: u32,
    ) -> Result<Vec<Face>, InferenceError> {
        let (w, h) = img.dimensions();
        let scale = SIZE as f32 / side as f32;
        let (sw, sh) = (
            ((w as f32 * scale).round() as u32).clamp(1, SIZE),
            ((h as f32 * scale).round() as u32).clamp(1, SIZE),
        );
        let small = image::imageops::resize(img, sw, sh, FilterType::Triangle);
        let (ox, oy) = ((SIZE - sw) / 2, (SIZE - sh) / 2);
        let plane = (SIZE * SIZE) as usize;
        // NCHW, RGB in [-1, 1]; the padding is 0 (mid grey).
        let mut input = vec![0f32; 3 * plane];
        for (x, y, p) in small.enumerate_pixels() {
            let i = ((y + oy) * SIZE + x + ox) as usize;
            for c in 0..3 {
                input[c * plane + i] = f32::from(p[c]) / 127.5 - 1.0;
            }
        }
        let out = self
            .model
            .run_f32_outputs(&[1, 3, SIZE as usize, SIZE as usize], &input, 2)?;
        let (boxes, scores) = (&out[0].1, &out[1].1);
        if boxes.len() < ANCHORS * 16 || scores.len() < ANCHORS {
            return Err(InferenceError::Run {
                name: MODEL.to_owned(),
                detail: format!(
                    "outputs of {} and {} values, expected {} and {ANCHORS}",
                    boxes.len(),
                    scores.len(),
                    ANCHORS * 16
                ),
            });
        }
        // Model pixels → frame pixels.
        let to_frame = |mx: f32, my: f32| {
            (
                (mx - ox as f32) / scale + origin.0 as f32,
                (my - oy as f32) / scale + origin.1 as f32,
            )
        };
        let mut faces = Vec::new();
        for a in 0..ANCHORS {
            let logit = scores[a].clamp(-100.0, 100.0);
            let score = 1.0 / (1.0 + (-logit).exp());
            if score < MIN_SCORE {
                continue;
            }
            let r = &boxes[a * 16..a * 16 + 16];
            let ax = ((a % GRID) as f32 + 0.5) / GRID as f32 * SIZE as f32;
            let ay = ((a / GRID) as f32 + 0.5) / GRID as f32 * SIZE as f32;
            let (cx, cy) = (ax + r[0], ay + r[1]);
            let (x0, y0) = to_frame(cx - r[2] / 2.0, cy - r[3] / 2.0);
            let (x1, y1) = to_frame(cx + r[2] / 2.0, cy + r[3] / 2.0);
            let mut keypoints = [(0.0, 0.0); 6];
            for (k, kp) in keypoints.iter_mut().enumerate() {
                *kp = to_frame(ax + r[4 + 2 * k], ay + r[5 + 2 * k]);
            }
            faces.push(Face {
                rect: Rect {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                },
                score,
                keypoints,
            });
        }
        Ok(faces)
    }
}

/// Weighted non-maximum suppression: overlapping detections of one face
/// are averaged, weighted by score; the best score is kept.
fn blend(mut faces: Vec<Face>) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out: Vec<Face> = Vec::new();
    let mut used = vec![false; faces.len()];
    for i in 0..faces.len() {
        if used[i] {
            continue;
        }
        let mut group = Vec::new();
        for j in i..faces.len() {
            if !used[j] && faces[i].rect.iou(&faces[j].rect) > SAME_FACE_IOU {
                used[j] = true;
                group.push(faces[j]);
            }
        }
        let total: f32 = group.iter().map(|f| f.score).sum();
        let avg = |get: &dyn Fn(&Face) -> f32| {
            group.iter().map(|f| get(f) * f.score).sum::<f32>() / total
        };
        let mut keypoints = [(0.0, 0.0); 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = (avg(&|f| f.keypoints[k].0), avg(&|f| f.keypoints[k].1));
        }
        out.push(Face {
            rect: Rect {
                x: avg(&|f| f.rect.x),
                y: avg(&|f| f.rect.y),
                w: avg(&|f| f.rect.w),
                h: avg(&|f| f.rect.h),
            },
            score: faces[i].score,
            keypoints,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Face {
        Face {
            rect: Rect {
                x,
                y: 10.0,
                w: 20.0,
                h: 20.0,
            },
            score,
            keypoints: [(x, 10.0); 6],
        }
    }

    #[test]
    fn overlapping_detections_blend_into_one_face() {
        let out = blend(vec![face(0.0, 0.9), face(2.0, 0.9), face(100.0, 0.7)]);
        assert_eq!(out.len(), 2);
        assert!((out[0].rect.x - 1.0).abs() < 1e-4);
        assert_eq!(out[0].score, 0.9);
        assert_eq!(out[1].rect.x, 100.0);
    }
}
