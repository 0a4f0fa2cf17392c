//! One frame's figure cut-out: the person model's coarse mask (steadied
//! over time in video), the closed-form alpha on the band around its edge,
//! and the figure's own colours where the alpha is fractional.

use std::sync::Arc;

use image::{RgbImage, Rgba, RgbaImage};

use super::alpha::{closed_form, trimap, Solve};
use super::foreground;
use crate::capabilities::matte_out::Matter;
use crate::detect::person::{PersonMask, PersonSegmenter, SIZE};
use crate::domain::{ErrorCode, JobError};

/// The uncertain band on each side of the coarse edge, as a share of the
/// picture's long side (1 % measured best on the development pictures:
/// wider bands let the solve wander into the background).
const BAND: f32 = 0.01;
/// A mask pixel this much steadier than its last value keeps that much of
/// it: `K·exp(-|Δluma| / SIGMA)` of the previous mask where the picture did
/// not change, nothing where it did.
const KEEP: f32 = 0.6;
const SIGMA: f32 = 0.02;
/// A frame shows a person when at least this share of it is figure.
const PRESENT: f32 = 0.001;
/// A figure part smaller than this share of the picture gets no box.
const MIN_PART: f32 = 0.005;

/// How hard the alpha is solved for a picture and for each video frame.
pub const STILL: Solve = Solve {
    iterations: 400,
    tolerance: 1e-4,
};
/// For video: fewer iterations, starting from the previous frame's alpha
/// where the picture held still.
pub const MOVING: Solve = Solve {
    iterations: 60,
    tolerance: 1e-3,
};

/// A person's box in frame pixels: `[x, y, w, h]`.
pub type Boxed = [u32; 4];

/// The steadying state carried between frames.
#[derive(Debug)]
struct Previous {
    mask: Vec<f32>,
    luma: Vec<f32>,
    frame_luma: Vec<u8>,
    alpha: Vec<f32>,
    size: (u32, u32),
}

/// Cuts figures out of successive frames.
#[derive(Debug)]
pub struct Figures {
    segmenter: Arc<PersonSegmenter>,
    solve: Solve,
    steady: bool,
    previous: Option<Previous>,
    /// Frames seen, and how many showed a person.
    pub frames: u64,
    /// Frames that showed a person.
    pub with_person: u64,
    /// Boxes of the people at the whole seconds: (time, boxes).
    pub keyframes: Vec<(f64, Vec<Boxed>)>,
}

impl Figures {
    /// For a still picture.
    pub fn still(segmenter: Arc<PersonSegmenter>) -> Self {
        Self::new(segmenter, STILL, false)
    }

    /// For the frames of a video, in order.
    pub fn video(segmenter: Arc<PersonSegmenter>) -> Self {
        Self::new(segmenter, MOVING, true)
    }

    fn new(segmenter: Arc<PersonSegmenter>, solve: Solve, steady: bool) -> Self {
        Self {
            segmenter,
            solve,
            steady,
            previous: None,
            frames: 0,
            with_person: 0,
            keyframes: Vec::new(),
        }
    }

    /// The alpha of `frame` (0–1, one per pixel).
    ///
    /// # Errors
    /// `InternalError` when the model fails.
    pub fn alpha(&mut self, frame: &RgbImage, time_s: f64) -> Result<Vec<f32>, JobError> {
        let (w, h) = frame.dimensions();
        let mut mask = self
            .segmenter
            .segment(frame, (0, 0, w, h))
            .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))?;
        let previous = self
            .previous
            .take()
            .filter(|p| self.steady && p.size == (w, h));
        if let Some(p) = &previous {
            steady(&mut mask, p);
        }
        let coarse = upsample(&mask, w, h);
        let figure = coarse.iter().filter(|&&p| p > 0.5).count();
        let present = figure as f32 >= PRESENT * (w * h) as f32;
        self.frames += 1;
        if present {
            self.with_person += 1;
        }
        let next_second = self.keyframes.last().map_or(0.0, |(t, _)| t.floor() + 1.0);
        if self.keyframes.is_empty() || time_s >= next_second {
            let boxes = if present {
                boxes(&mask, w, h)
            } else {
                Vec::new()
            };
            self.keyframes.push((time_s, boxes));
        }
        let frame_luma = luma(frame);
        let alpha = if present {
            let band = ((BAND * w.max(h) as f32).round() as u32).max(2);
            let t = trimap(&coarse, w as usize, h as usize, band);
            let guess = match &previous {
                Some(p) => warm_start(&coarse, p, &frame_luma),
                None => coarse.clone(),
            };
            closed_form(frame, &t, &guess, self.solve)
        } else {
            vec![0.0; (w * h) as usize]
        };
        if self.steady {
            self.previous = Some(Previous {
                mask: mask.values,
                luma: mask.luma,
                frame_luma,
                alpha: alpha.clone(),
                size: (w, h),
            });
        }
        Ok(alpha)
    }
}

impl Matter for Figures {
    fn matte(&mut self, frame: &RgbImage, time_s: f64) -> Result<RgbaImage, JobError> {
        let alpha = self.alpha(frame, time_s)?;
        Ok(cut_out(frame, &alpha))
    }
}

/// The picture with its alpha, the figure's colours re-estimated where the
/// alpha is fractional.
pub fn cut_out(frame: &RgbImage, alpha: &[f32]) -> RgbaImage {
    let colours = foreground::estimate(frame, alpha);
    RgbaImage::from_fn(frame.width(), frame.height(), |x, y| {
        let a = alpha[(y * frame.width() + x) as usize];
        let c = colours.get_pixel(x, y);
        Rgba([c[0], c[1], c[2], (a.clamp(0.0, 1.0) * 255.0).round() as u8])
    })
}

/// Keeps part of the previous mask where the model's view did not change.
fn steady(mask: &mut PersonMask, previous: &Previous) {
    if previous.mask.len() != mask.values.len() || previous.luma.len() != mask.luma.len() {
        return;
    }
    for i in 0..mask.values.len() {
        let change = (mask.luma[i] - previous.luma[i]).abs();
        let k = KEEP * (-change / SIGMA).exp();
        mask.values[i] = (1.0 - k) * mask.values[i] + k * previous.mask[i];
    }
}

/// The guess for the solve: the previous alpha where the pixel held still
/// (within 3 levels), the coarse mask elsewhere.
fn warm_start(coarse: &[f32], previous: &Previous, frame_luma: &[u8]) -> Vec<f32> {
    coarse
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if frame_luma[i].abs_diff(previous.frame_luma[i]) <= 3 {
                previous.alpha[i]
            } else {
                c
            }
        })
        .collect()
}

fn luma(frame: &RgbImage) -> Vec<u8> {
    frame
        .pixels()
        .map(|p| {
            ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8) as u8
        })
        .collect()
}

/// The mask at frame resolution (bilinear).
fn upsample(mask: &PersonMask, w: u32, h: u32) -> Vec<f32> {
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            out.push(mask.at(x as f32 + 0.5, y as f32 + 0.5));
        }
    }
    out
}

/// The boxes of the figure's parts (4-connected regions of the mask above
/// one half, each at least `MIN_PART` of the picture), largest first, in
/// frame pixels.
fn boxes(mask: &PersonMask, w: u32, h: u32) -> Vec<Boxed> {
    let n = SIZE as usize;
    let on: Vec<bool> = mask.values.iter().map(|&v| v > 0.5).collect();
    let mut seen = vec![false; n * n];
    let mut parts = Vec::new();
    for start in 0..n * n {
        if !on[start] || seen[start] {
            continue;
        }
        let (mut x0, mut y0, mut x1, mut y1, mut count) = (n, n, 0, 0, 0usize);
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % n, i / n);
            count += 1;
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            let mut push = |j: usize| {
                if on[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                push(i - 1);
            }
            if x + 1 < n {
                push(i + 1);
            }
            if y > 0 {
                push(i - n);
            }
            if y + 1 < n {
                push(i + n);
            }
        }
        if count as f32 >= MIN_PART * (n * n) as f32 {
            let sx = w as f32 / n as f32;
            let sy = h as f32 / n as f32;
            let bx = (x0 as f32 * sx).floor() as u32;
            let by = (y0 as f32 * sy).floor() as u32;
            let bw = (((x1 + 1) as f32 * sx).ceil() as u32).min(w) - bx;
            let bh = (((y1 + 1) as f32 * sy).ceil() as u32).min(h) - by;
            parts.push((count, [bx, by, bw, bh]));
        }
    }
    parts.sort_by_key(|p| std::cmp::Reverse(p.0));
    parts.into_iter().map(|(_, b)| b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_with(rects: &[(usize, usize, usize, usize)]) -> PersonMask {
        let n = SIZE as usize;
        let mut values = vec![0.0; n * n];
        for &(x, y, w, h) in rects {
            for yy in y..y + h {
                for xx in x..x + w {
                    values[yy * n + xx] = 0.9;
                }
            }
        }
        PersonMask {
            values,
            view: (0, 0, 1280, 512),
            luma: vec![0.5; n * n],
        }
    }

    #[test]
    fn each_person_gets_a_box_in_frame_pixels() {
        // Two people and a speck too small to count.
        let mask = mask_with(&[(10, 20, 40, 200), (128, 64, 64, 128), (250, 0, 2, 2)]);
        let b = boxes(&mask, 1280, 512);
        // The second (64×128 cells) is larger than the first (40×200).
        assert_eq!(b, vec![[640, 128, 320, 256], [50, 40, 200, 400]]);
    }

    #[test]
    fn a_still_picture_keeps_the_mask_and_a_change_drops_it() {
        let n = SIZE as usize;
        let previous = Previous {
            mask: vec![1.0; n * n],
            luma: vec![0.5; n * n],
            frame_luma: Vec::new(),
            alpha: Vec::new(),
            size: (1, 1),
        };
        let mut same = mask_with(&[]);
        steady(&mut same, &previous);
        assert!((same.values[0] - KEEP).abs() < 1e-6);
        let mut moved = mask_with(&[]);
        moved.luma = vec![0.9; n * n];
        steady(&mut moved, &previous);
        assert!(moved.values[0] < 1e-6);
    }
}
