//! Following a salient subject from one sampled frame to the next,
//! between saliency maps: the subject's pixels, weighted by how salient
//! each one was, are matched (normalised cross-correlation over the three
//! colour channels) around where the subject was and where it was going,
//! coarse to fine at low resolution, facing either way (an animal turns).
//! A map is a network run; a match is a few hundred thousand
//! multiply-adds.

use image::imageops::FilterType;
use image::RgbImage;

use crate::detect::Rect;

/// The subject's long side at the coarse level, in pixels.
const COARSE_SIDE: f32 = 24.0;
/// How far the coarse search reaches around where the subject is
/// expected, in subject long sides.
const REACH: f32 = 1.5;
/// The fine level's refinement around the coarse match, in its pixels.
const REFINE: i32 = 2;
/// Weights below this share of the largest are taken as background.
const MIN_WEIGHT: f32 = 0.5;
/// The least score of a match that is believed (weighted normalised
/// cross-correlation, −1 to 1).
pub const MIN_SCORE: f32 = 0.6;
/// A score past which the match outweighs a saliency map that disagrees.
pub const SURE_SCORE: f32 = 0.8;

/// One colour picture at a level, as floats.
struct Plane {
    width: usize,
    height: usize,
    pixels: Vec<[f32; 3]>,
}

impl Plane {
    fn new(frame: &RgbImage, scale: f32) -> Self {
        let width = ((frame.width() as f32 * scale).round() as u32).max(1);
        let height = ((frame.height() as f32 * scale).round() as u32).max(1);
        let small = image::imageops::resize(frame, width, height, FilterType::Triangle);
        Self {
            width: width as usize,
            height: height as usize,
            pixels: small
                .pixels()
                .map(|p| [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])])
                .collect(),
        }
    }
}

impl Plane {
    /// The plane at half the size (2×2 means).
    fn half(&self) -> Self {
        let (width, height) = ((self.width / 2).max(1), (self.height / 2).max(1));
        let mut pixels = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let at = |dx: usize, dy: usize| {
                    let (sx, sy) = (
                        (2 * x + dx).min(self.width - 1),
                        (2 * y + dy).min(self.height - 1),
                    );
                    self.pixels[sy * self.width + sx]
                };
                let (a, b, c, d) = (at(0, 0), at(1, 0), at(0, 1), at(1, 1));
                pixels.push([0, 1, 2].map(|k| (a[k] + b[k] + c[k] + d[k]) / 4.0));
            }
        }
        Self {
            width,
            height,
            pixels,
        }
    }
}

/// One pixel of the subject at a level: where (row, column of the
/// block), its weight, and its colour less the weighted mean.
#[derive(Clone, Copy)]
struct Tap {
    row: usize,
    column: usize,
    weight: f32,
    colour: [f32; 3],
}

/// The subject at one level: the pixels of its block that count.
#[derive(Clone)]
struct Template {
    width: usize,
    height: usize,
    taps: Vec<Tap>,
    /// Σ weights.
    mass: f32,
    /// Σ weight · colour² over the channels.
    energy: f32,
}

impl Template {
    /// The `width`×`height` block of `plane` at (`x`, `y`) weighted by
    /// `weight(column, row)`; `None` when it leaves the plane or shows
    /// nothing.
    fn cut(
        plane: &Plane,
        (x, y): (usize, usize),
        (width, height): (usize, usize),
        weight: impl Fn(usize, usize) -> f32,
    ) -> Option<Self> {
        if width == 0 || height == 0 || x + width > plane.width || y + height > plane.height {
            return None;
        }
        let mut taps = Vec::with_capacity(width * height);
        for row in 0..height {
            for column in 0..width {
                let weight = weight(column, row);
                if weight > 0.0 {
                    taps.push(Tap {
                        row,
                        column,
                        weight,
                        colour: plane.pixels[(y + row) * plane.width + x + column],
                    });
                }
            }
        }
        Self::centred(width, height, taps)
    }

    /// A template of `taps` with their colours less their weighted mean;
    /// `None` when they show nothing.
    fn centred(width: usize, height: usize, mut taps: Vec<Tap>) -> Option<Self> {
        let mass: f32 = taps.iter().map(|t| t.weight).sum();
        if mass <= 0.0 {
            return None;
        }
        let mean =
            [0, 1, 2].map(|k| taps.iter().map(|t| t.weight * t.colour[k]).sum::<f32>() / mass);
        let mut energy = 0.0;
        for t in &mut taps {
            for (c, m) in t.colour.iter_mut().zip(mean) {
                *c -= m;
                energy += t.weight * *c * *c;
            }
        }
        (energy > 1e-3 * mass).then_some(Self {
            width,
            height,
            taps,
            mass,
            energy,
        })
    }

    fn mirrored(&self) -> Self {
        let mut taps = self.taps.clone();
        for t in &mut taps {
            t.column = self.width - 1 - t.column;
        }
        Self {
            taps,
            ..self.clone()
        }
    }

    /// The weighted normalised cross-correlation of the template with
    /// `plane` at top-left (`x`, `y`), all channels together (−1 to 1).
    fn score(&self, plane: &Plane, x: usize, y: usize) -> f32 {
        let (mut sum, mut square, mut cross) = ([0.0f32; 3], 0.0f32, 0.0f32);
        let at = &plane.pixels[y * plane.width + x..];
        for t in &self.taps {
            let p = at[t.row * plane.width + t.column];
            for k in 0..3 {
                let wp = t.weight * p[k];
                sum[k] += wp;
                square += wp * p[k];
                cross += wp * t.colour[k];
            }
        }
        let variance = square - sum.iter().map(|s| s * s).sum::<f32>() / self.mass;
        if variance <= 1e-6 {
            return 0.0;
        }
        cross / (variance * self.energy).sqrt()
    }

    /// The best top-left within `x` and `y` (inclusive ranges, clipped to
    /// where the template fits) on a grid of `step`, then refined to the
    /// pixel around it; and its score.
    fn best(
        &self,
        plane: &Plane,
        x: (i32, i32),
        y: (i32, i32),
        step: usize,
    ) -> Option<((usize, usize), f32)> {
        let max_x = plane.width as i32 - self.width as i32;
        let max_y = plane.height as i32 - self.height as i32;
        let (x0, x1) = (x.0.max(0), x.1.min(max_x));
        let (y0, y1) = (y.0.max(0), y.1.min(max_y));
        let look = |best: &mut Option<((usize, usize), f32)>, tx: i32, ty: i32| {
            let s = self.score(plane, tx as usize, ty as usize);
            if best.is_none_or(|(_, b)| s > b) {
                *best = Some(((tx as usize, ty as usize), s));
            }
        };
        let mut best = None;
        for ty in (y0..=y1).step_by(step.max(1)) {
            for tx in (x0..=x1).step_by(step.max(1)) {
                look(&mut best, tx, ty);
            }
        }
        if let (true, Some(((bx, by), _))) = (step > 1, best) {
            let r = step as i32 - 1;
            for ty in (by as i32 - r).max(y0)..=(by as i32 + r).min(y1) {
                for tx in (bx as i32 - r).max(x0)..=(bx as i32 + r).min(x1) {
                    look(&mut best, tx, ty);
                }
            }
        }
        best
    }
}

/// The subject at both levels, facing both ways.
struct Look {
    coarse: [Template; 2],
    fine: [Template; 2],
}

/// A subject being followed (boxes in the sampled frames' pixels).
pub struct Tracker {
    look: Look,
    /// Frame pixels → fine level pixels (the coarse level is half that).
    scale: f32,
    /// The subject's box where last seen, and when.
    rect: Rect,
    time: f64,
    /// Frame pixels a second, along both axes.
    velocity: (f32, f32),
}

impl Tracker {
    /// Starts following what is in `rect` of `frame` at `time`, each
    /// pixel weighted by `salience(x, y)` (frame pixels); `None` when the
    /// box shows nothing to follow.
    pub fn new(
        frame: &RgbImage,
        rect: Rect,
        time: f64,
        salience: impl Fn(f32, f32) -> f32,
    ) -> Option<Self> {
        let long = rect.w.max(rect.h).max(1.0);
        let fine = (2.0 * COARSE_SIDE / long).min(1.0);
        let peak = (0..16)
            .flat_map(|i| (0..16).map(move |j| (i, j)))
            .map(|(i, j)| {
                salience(
                    rect.x + rect.w * (i as f32 + 0.5) / 16.0,
                    rect.y + rect.h * (j as f32 + 0.5) / 16.0,
                )
            })
            .fold(0.0f32, f32::max)
            .max(1e-6);
        let level = |plane: &Plane, scale: f32| -> Option<[Template; 2]> {
            let x = (rect.x * scale).round().max(0.0) as usize;
            let y = (rect.y * scale).round().max(0.0) as usize;
            let w = ((rect.w * scale).round() as usize).min(plane.width.saturating_sub(x));
            let h = ((rect.h * scale).round() as usize).min(plane.height.saturating_sub(y));
            let t = Template::cut(plane, (x, y), (w, h), |c, r| {
                let v = salience(
                    (x as f32 + c as f32 + 0.5) / scale,
                    (y as f32 + r as f32 + 0.5) / scale,
                ) / peak;
                if v < MIN_WEIGHT {
                    0.0
                } else {
                    v.min(1.0)
                }
            })?;
            let m = t.mirrored();
            Some([t, m])
        };
        let fine_plane = Plane::new(frame, fine);
        Some(Self {
            look: Look {
                coarse: level(&fine_plane.half(), fine / 2.0)?,
                fine: level(&fine_plane, fine)?,
            },
            scale: fine,
            rect,
            time,
            velocity: (0.0, 0.0),
        })
    }

    /// The subject's best place (fine level) with its top-left searched
    /// within `xs` and `ys` (coarse level), and the score there.
    fn search(
        &self,
        coarse: &Plane,
        fine: &Plane,
        xs: (i32, i32),
        ys: (i32, i32),
    ) -> Option<((usize, usize), f32)> {
        // The way the subject faces is decided at the fine level: at the
        // coarse one a small subject may match as well either way.
        let mut coarse_best = None;
        for t in &self.look.coarse {
            if let Some((at, s)) = t.best(coarse, xs, ys, 2) {
                if coarse_best.is_none_or(|(_, b)| s > b) {
                    coarse_best = Some((at, s));
                }
            }
        }
        let ((cx, cy), _) = coarse_best?;
        let (fx, fy) = (2 * cx as i32, 2 * cy as i32);
        let mut found: Option<((usize, usize), f32)> = None;
        for t in &self.look.fine {
            if let Some((at, s)) = t.best(
                fine,
                (fx - REFINE, fx + REFINE),
                (fy - REFINE, fy + REFINE),
                1,
            ) {
                if found.is_none_or(|(_, b)| s > b) {
                    found = Some((at, s));
                }
            }
        }
        found
    }

    /// Finds the subject in `frame` at `time`: its box and the match's
    /// score (−1 to 1). The tracker moves there whatever the score; the
    /// caller decides what to believe.
    pub fn follow(&mut self, frame: &RgbImage, time: f64) -> (Rect, f32) {
        let fs = self.scale;
        let cs = fs / 2.0;
        let dt = (time - self.time).max(0.0) as f32;
        let was = (self.rect.x, self.rect.y);
        let expected = (was.0 + self.velocity.0 * dt, was.1 + self.velocity.1 * dt);
        let fine = Plane::new(frame, fs);
        let coarse = fine.half();
        let reach = (REACH * self.rect.w.max(self.rect.h) * cs).ceil() as i32;
        let span = |a: f32, b: f32| {
            let (lo, hi) = (a.min(b) * cs, a.max(b) * cs);
            (lo.floor() as i32 - reach, hi.ceil() as i32 + reach)
        };
        let (xs, ys) = (span(was.0, expected.0), span(was.1, expected.1));
        let mut found = self.search(&coarse, &fine, xs, ys);
        // Not where it was expected (it turned, or went faster): the
        // whole frame, still a fraction of a saliency map's cost.
        if found.is_none_or(|(_, s)| s < MIN_SCORE) {
            let everywhere = self.search(
                &coarse,
                &fine,
                (0, coarse.width as i32),
                (0, coarse.height as i32),
            );
            if everywhere.is_some_and(|(_, s)| found.is_none_or(|(_, b)| s > b)) {
                found = everywhere;
            }
        }
        let Some(((x, y), score)) = found else {
            return (self.rect, -1.0);
        };
        let rect = Rect {
            x: x as f32 / fs,
            y: y as f32 / fs,
            ..self.rect
        };
        if dt > 0.0 {
            self.velocity = ((rect.x - was.0) / dt, (rect.y - was.1) / dt);
        }
        self.rect = rect;
        self.time = time;
        (rect, score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A textured background, moved by `pan` pixels.
    fn background(pan: u32) -> RgbImage {
        RgbImage::from_fn(320, 180, |x, y| {
            let u = x + pan;
            Rgb([
                (100 + (u * 7 + y * 3) % 40) as u8,
                (120 + (u * 5 / 3 + y) % 50) as u8,
                (90 + (u + y * 2) % 30) as u8,
            ])
        })
    }

    /// An asymmetric subject (a body and a head on its right) at `x`,
    /// mirrored when `left`.
    fn with_subject(mut frame: RgbImage, x: u32, y: u32, left: bool) -> RgbImage {
        for r in 0..30 {
            for c in 0..40 {
                let c2 = if left { 39 - c } else { c };
                let head = c2 >= 30 && r < 12;
                let body = (5..30).contains(&c2) && (10..25).contains(&r);
                if head || body {
                    let shade = if head {
                        Rgb([200, 40, 40])
                    } else {
                        Rgb([40, 40, 180])
                    };
                    frame.put_pixel(x + c, y + r, shade);
                }
            }
        }
        frame
    }

    fn box_at(x: u32, y: u32) -> Rect {
        Rect {
            x: x as f32,
            y: y as f32,
            w: 40.0,
            h: 30.0,
        }
    }

    #[test]
    fn a_subject_is_followed_over_a_moving_background_and_when_it_turns() {
        let first = with_subject(background(0), 40, 80, false);
        let salience = |x: f32, y: f32| {
            if (40.0..80.0).contains(&x) && (80.0..110.0).contains(&y) {
                1.0
            } else {
                0.0
            }
        };
        let mut tracker = Tracker::new(&first, box_at(40, 80), 0.0, salience).expect("a subject");
        // It walks right while the camera pans, faster than its width
        // between samples, then turns back.
        let path = [
            (95, 76, false),
            (150, 84, false),
            (200, 80, false),
            (150, 78, true),
        ];
        for (i, &(x, y, left)) in path.iter().enumerate() {
            let frame = with_subject(background(3 * (i as u32 + 1)), x, y, left);
            let (rect, score) = tracker.follow(&frame, 0.5 * (i + 1) as f64);
            assert!(score > 0.8, "sample {i}: score {score}");
            assert!(
                (rect.x - x as f32).abs() <= 1.5 && (rect.y - y as f32).abs() <= 1.5,
                "sample {i}: {rect:?} for ({x}, {y})"
            );
        }
    }

    #[test]
    fn a_subject_that_left_matches_poorly() {
        let first = with_subject(background(0), 40, 80, false);
        let mut tracker = Tracker::new(&first, box_at(40, 80), 0.0, |_, _| 1.0).expect("a subject");
        let (_, score) = tracker.follow(&background(2), 0.5);
        assert!(score < 0.5, "{score}");
    }

    #[test]
    fn a_flat_box_has_nothing_to_follow() {
        let flat = RgbImage::from_pixel(320, 180, Rgb([90, 90, 90]));
        assert!(Tracker::new(&flat, box_at(40, 80), 0.0, |_, _| 1.0).is_none());
    }
}
