//! One frame's figure cut-out: the person model's coarse mask (steadied
//! over time in video), the closed-form alpha on the band around its edge,
//! and the figure's own colours where the alpha is fractional.
//!
//! The model was made for selfies: it does best when the person fills its
//! view. So it looks twice: at the whole frame, then at the box around what
//! it found there (with a margin, at most 16:9 either way), which gives a
//! small figure in a wide frame several times the resolution. Of the two,
//! the one the model is surer of (the larger share of its figure above
//! 0.9) is kept.
//!
//! The model also answers for things that are not people (a cup, a cat
//! filling the view), so each part of its mask needs evidence: a face
//! found in it (BlazeFace), or, in video, the last frame's figure under it
//! (so a person is followed while turning away or leaving the frame). A
//! still picture of someone seen from behind has no face: a part is kept
//! there when the model is sure of nearly all of it.

use std::sync::Arc;

use image::{RgbImage, Rgba, RgbaImage};

use super::alpha::{closed_form, trimap, Solve, UNKNOWN};
use super::foreground;
use super::settle::{self, Plane};
use crate::capabilities::matte_out::Matter;
use crate::detect::face::FaceDetector;
use crate::detect::person::{PersonMask, PersonSegmenter, View};
use crate::domain::{ErrorCode, JobError, Span};
use crate::vision::regions::regions;

/// The uncertain band on each side of the coarse edge, as a share of the
/// picture's long side (1 % measured best on the development pictures:
/// wider bands let the solve wander into the background).
const BAND: f32 = 0.01;
/// A mask cell keeps `KEEP·exp(-|Δluma| / SIGMA)` of the last frame's mask
/// (carried along with the figure's motion): most of it where the picture
/// under it did not change, nothing where it did. 0.8 was chosen on the
/// bench's `walk` clip (0.6 and 0.9 tried); `sway` is held out.
const KEEP: f32 = 0.8;
const SIGMA: f32 = 0.02;
/// The final alpha keeps `SETTLE·exp(-Δ / SETTLE_SIGMA)` of the last
/// frame's, read in place or moved with the figure (Δ: the mean luma
/// difference in levels over 5×5 pixels); see [`settle`]. Chosen on the
/// bench's `walk` clip (`sway` held out): keep 0.5 / 0.7 / 0.85 gave dtSSD
/// 9.41 / 9.06 / 8.92 (10.59 without) for SAD 19.1 / 20.3 / 22.6 (18.2
/// without); 0.7 is the knee. σ 2 / 4 / 8 levels: 9.29 / 9.06 / 8.81 for
/// SAD 20.0 / 20.3 / 20.7.
const SETTLE: f32 = 0.7;
const SETTLE_SIGMA: f32 = 4.0;
/// A figure part smaller than this share of the picture is ignored.
const MIN_PART: f32 = 0.005;
/// A part of a still picture with no face in it is a person (seen from
/// behind) only when at least this share of it is sure (above 0.9).
const SURE_WITHOUT_FACE: f32 = 0.85;
/// How far (grid cells, each way) the figure is looked for in the next
/// frame.
const REACH: i32 = 12;
/// A part continues the last frame's figure when at least this share of
/// it was figure there, and at least `FOLLOW_SURE` of it is sure (the
/// model's unsure blobs on things left behind are not followed).
const FOLLOWS: f32 = 0.3;
/// How far (grid cells) a followed figure may reach beyond where the last
/// frame's figure was carried to.
const GROW: u32 = 6;
const FOLLOW_SURE: f32 = 0.5;
/// The long side of the grid the coarse mask is kept on.
const GRID: u32 = 320;
/// The second look's margin around the first look's box, as a share of
/// the box's long side.
const MARGIN: f32 = 0.15;
/// In video, the whole frame is looked at again every this many frames
/// (else only where the figure was).
const RELOOK: u64 = 12;
/// A second look covering at least this share of the frame is skipped.
const WHOLE: f32 = 0.8;

/// How hard the alpha is solved for a picture and for each video frame.
pub const STILL: Solve = Solve {
    iterations: 400,
    tolerance: 1e-4,
};
/// For video: fewer iterations, starting from the previous frame's alpha
/// where the picture held still (on the bench's `walk` clip, 20 instead of
/// 60 cost 0.4 % SAD and saved a third of the time).
pub const MOVING: Solve = Solve {
    iterations: 20,
    tolerance: 1e-3,
};

/// A person's box in frame pixels: `[x, y, w, h]`.
pub type Boxed = [u32; 4];

/// The models a cut-out uses: people and faces.
pub type Models = (Arc<PersonSegmenter>, Arc<FaceDetector>);

/// The steadying state carried between frames.
#[derive(Debug)]
struct Previous {
    grid: Grid,
    frame_luma: Vec<u8>,
    alpha: Vec<f32>,
    size: (u32, u32),
}

/// Cuts figures out of successive frames.
#[derive(Debug)]
pub struct Figures {
    segmenter: Arc<PersonSegmenter>,
    faces: Arc<FaceDetector>,
    solve: Solve,
    steady: bool,
    previous: Option<Previous>,
    /// Frames seen, warm-up included (the schedule of fresh looks).
    seen: u64,
    /// The segment whose frames are counted (all when `None`).
    span: Option<Span>,
    /// Frames seen.
    pub frames: u64,
    /// Frames that showed a person.
    pub with_person: u64,
    /// Boxes of the people at the whole seconds: (time, boxes).
    pub keyframes: Vec<(f64, Vec<Boxed>)>,
}

impl Figures {
    /// For a still picture.
    pub fn still(models: &Models) -> Self {
        Self::new(models, STILL, false)
    }

    /// For the frames of a video, in order.
    pub fn video(models: &Models) -> Self {
        Self::new(models, MOVING, true)
    }

    fn new(models: &Models, solve: Solve, steady: bool) -> Self {
        Self {
            segmenter: models.0.clone(),
            faces: models.1.clone(),
            solve,
            steady,
            previous: None,
            seen: 0,
            span: None,
            frames: 0,
            with_person: 0,
            keyframes: Vec::new(),
        }
    }

    /// Counts (frames, people, keyframes) only the frames `span` outputs:
    /// those before it only warm up what is carried from frame to frame.
    pub fn counting(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    /// The person mask of `frame` on the grid: two looks, the second at
    /// the box around what the first found.
    fn coarse(&self, frame: &RgbImage, previous: Option<&Previous>) -> Result<Grid, JobError> {
        let (w, h) = frame.dimensions();
        let model = |view: View| {
            self.segmenter
                .segment(frame, view)
                .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))
        };
        // In video, the last frame's figure says where to look, except
        // every `RELOOK` frames, when newcomers are looked for.
        if let Some(p) = previous.filter(|p| p.grid.has_figure() && self.seen % RELOOK != 0) {
            let view = p.grid.closer_view(w, h).unwrap_or((0, 0, w, h));
            return Ok(Grid::sample(&model(view)?, frame));
        }
        let first = Grid::sample(&model((0, 0, w, h))?, frame);
        let Some(view) = first.closer_view(w, h) else {
            return Ok(first);
        };
        let second = Grid::sample(&model(view)?, frame);
        // The look the model is surer of: closer is better for a small
        // figure, but a figure that nearly fills the frame can lose context.
        Ok(if second.sureness() >= first.sureness() {
            second
        } else {
            first
        })
    }

    /// The alpha of `frame` (0–1, one per pixel).
    ///
    /// # Errors
    /// `InternalError` when the model fails.
    pub fn alpha(&mut self, frame: &RgbImage, time_s: f64) -> Result<Vec<f32>, JobError> {
        let (w, h) = frame.dimensions();
        let previous = self
            .previous
            .take()
            .filter(|p| self.steady && p.size == (w, h));
        let mut grid = self.coarse(frame, previous.as_ref())?;
        let (carried, motion) = match previous.as_ref().and_then(|p| grid.steady(&p.grid)) {
            Some((carried, motion)) => (Some(carried), Some(motion)),
            None => (None, None),
        };
        let parts = grid.parts();
        let near = carried.as_ref().map(|c| c.near(GROW));
        let mut faces = None;
        let mut people = Vec::new();
        let mut others = Vec::new();
        let mut trims = Vec::new();
        for part in &parts {
            let follows = part.sure >= FOLLOW_SURE
                && carried.as_ref().is_some_and(|c| {
                    let was = part.cells.iter().filter(|&&i| c.values[i] > 0.5).count();
                    was as f32 >= FOLLOWS * part.cells.len() as f32
                });
            if follows {
                // A figure followed from the last frame may not grow by
                // more than its motion allows: what the model joined to it
                // further away is dropped.
                if let Some(near) = &near {
                    if let Some(kept) = part.keeping(|i| near[i], &grid) {
                        people.push(kept);
                    }
                    trims.push((part, near));
                }
                continue;
            }
            if faces.is_none() {
                faces =
                    Some(self.faces.detect(frame).map_err(|e| {
                        JobError::permanent(ErrorCode::InternalError, e.to_string())
                    })?);
            }
            let [bx, by, bw, bh] = grid.frame_box(part, w, h);
            let face_in = faces.iter().flatten().any(|f| {
                let (cx, cy) = f.rect.centre();
                cx >= bx as f32
                    && cy >= by as f32
                    && cx <= (bx + bw) as f32
                    && cy <= (by + bh) as f32
            });
            if face_in || (!self.steady && part.sure >= SURE_WITHOUT_FACE) {
                people.push(part.clone());
            } else {
                others.push(part);
            }
        }
        grid.drop_parts(&others);
        for (part, near) in trims {
            for &i in &part.cells {
                if !near[i] {
                    grid.values[i] = 0.0;
                }
            }
        }
        let present = !people.is_empty();
        self.seen += 1;
        // Frame times are exact at a segment's start (a keyframe's).
        let counted = self.span.is_none_or(|s| s.outputs(time_s, 1e-3));
        if counted {
            self.frames += 1;
            if present {
                self.with_person += 1;
            }
        }
        let next_second = self.keyframes.last().map_or(0.0, |(t, _)| t.floor() + 1.0);
        if counted && (self.keyframes.is_empty() || time_s >= next_second) {
            let boxes = people.iter().map(|p| grid.frame_box(p, w, h)).collect();
            self.keyframes.push((time_s, boxes));
        }
        let frame_luma = luma(frame);
        let alpha = if present {
            let coarse = grid.upsample(w, h);
            let band = ((BAND * w.max(h) as f32).round() as u32).max(2);
            let t = trimap(&coarse, w as usize, h as usize, band);
            let guess = match &previous {
                Some(p) => warm_start(&coarse, p, &frame_luma),
                None => coarse,
            };
            let mut alpha = closed_form(frame, &t, &guess, self.solve);
            if let (Some(p), Some((mx, my))) = (&previous, motion) {
                let (gw, gh) = grid.size;
                let (cw, ch) = (w as f32 / gw as f32, h as f32 / gh as f32);
                let guess = (
                    (mx as f32 * cw).round() as i32,
                    (my as f32 * ch).round() as i32,
                );
                let last = Plane {
                    luma: &p.frame_luma,
                    alpha: &p.alpha,
                };
                let size = (w as usize, h as usize);
                let reach = cw.max(ch).ceil() as i32;
                let shift = settle::refine(last, &frame_luma, size, guess, reach);
                let band: Vec<bool> = t.iter().map(|&v| v == UNKNOWN).collect();
                settle::settle(
                    &mut alpha,
                    &band,
                    &frame_luma,
                    last,
                    size,
                    shift,
                    (SETTLE, SETTLE_SIGMA),
                );
            }
            alpha
        } else {
            vec![0.0; (w * h) as usize]
        };
        if self.steady {
            self.previous = Some(Previous {
                grid,
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

/// A person mask over the whole frame on a grid of at most `GRID` cells
/// along the long side, with the frame's luma at the same cells.
#[derive(Debug, Clone)]
struct Grid {
    values: Vec<f32>,
    luma: Vec<f32>,
    size: (u32, u32),
}

impl Grid {
    /// The grid size for a `w`×`h` frame.
    fn size_for(w: u32, h: u32) -> (u32, u32) {
        let scale = GRID as f32 / w.max(h).max(1) as f32;
        let side = |s: u32| ((s as f32 * scale).round() as u32).clamp(1, GRID);
        if w.max(h) <= GRID {
            (w.max(1), h.max(1))
        } else {
            (side(w), side(h))
        }
    }

    /// `mask` (0 outside its view) and `frame`'s luma, at the grid cells'
    /// centres.
    fn sample(mask: &PersonMask, frame: &RgbImage) -> Self {
        let (w, h) = frame.dimensions();
        let (gw, gh) = Self::size_for(w, h);
        let (sx, sy) = (w as f32 / gw as f32, h as f32 / gh as f32);
        let mut values = Vec::with_capacity((gw * gh) as usize);
        let mut lumas = Vec::with_capacity((gw * gh) as usize);
        for gy in 0..gh {
            for gx in 0..gw {
                let (x, y) = ((gx as f32 + 0.5) * sx, (gy as f32 + 0.5) * sy);
                values.push(mask.at(x, y));
                let p = frame.get_pixel((x as u32).min(w - 1), (y as u32).min(h - 1));
                lumas.push(
                    (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                        / 255.0,
                );
            }
        }
        Self {
            values,
            luma: lumas,
            size: (gw, gh),
        }
    }

    /// The box (frame pixels) around the cells above one half, widened by
    /// `MARGIN` and to at most 16:9 either way; `None` when nothing was
    /// found or the box is nearly the whole frame.
    fn closer_view(&self, w: u32, h: u32) -> Option<View> {
        let (gw, gh) = self.size;
        let (mut x0, mut y0, mut x1, mut y1) = (gw, gh, 0, 0);
        for (i, &v) in self.values.iter().enumerate() {
            if v > 0.5 {
                let (x, y) = (i as u32 % gw, i as u32 / gw);
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let (sx, sy) = (w as f32 / gw as f32, h as f32 / gh as f32);
        let (mut l, mut t, mut r, mut b) = (
            x0 as f32 * sx,
            y0 as f32 * sy,
            x1 as f32 * sx,
            y1 as f32 * sy,
        );
        let m = MARGIN * (r - l).max(b - t);
        (l, t, r, b) = (
            (l - m).max(0.0),
            (t - m).max(0.0),
            (r + m).min(w as f32),
            (b + m).min(h as f32),
        );
        let ratio = 9.0 / 16.0;
        if r - l < (b - t) * ratio {
            let grow = ((b - t) * ratio - (r - l)) / 2.0;
            (l, r) = ((l - grow).max(0.0), (r + grow).min(w as f32));
        }
        if b - t < (r - l) * ratio {
            let grow = ((r - l) * ratio - (b - t)) / 2.0;
            (t, b) = ((t - grow).max(0.0), (b + grow).min(h as f32));
        }
        if (r - l) * (b - t) >= WHOLE * (w * h) as f32 {
            return None;
        }
        let (vx, vy) = (l.floor() as u32, t.floor() as u32);
        let vw = (r.ceil() as u32).min(w).saturating_sub(vx).max(1);
        let vh = (b.ceil() as u32).min(h).saturating_sub(vy).max(1);
        Some((vx, vy, vw, vh))
    }

    /// How far (in cells) the figure moved since `previous`: the shift
    /// that best matches the luma under the previous figure, searched
    /// within `REACH` cells each way on every second figure cell.
    fn motion(&self, previous: &Grid) -> (i32, i32) {
        let (gw, gh) = (self.size.0 as i32, self.size.1 as i32);
        let cells: Vec<(i32, i32)> = previous
            .values
            .iter()
            .enumerate()
            .filter(|&(i, &v)| v > 0.5 && i % 2 == 0)
            .map(|(i, _)| (i as i32 % gw, i as i32 / gw))
            .collect();
        if cells.is_empty() {
            return (0, 0);
        }
        let cost = |dx: i32, dy: i32| {
            let (mut sum, mut n) = (0.0f32, 0u32);
            for &(x, y) in &cells {
                let (nx, ny) = (x + dx, y + dy);
                if nx >= 0 && ny >= 0 && nx < gw && ny < gh {
                    sum += (self.luma[(ny * gw + nx) as usize]
                        - previous.luma[(y * gw + x) as usize])
                        .abs();
                    n += 1;
                }
            }
            // Shifts that leave most of the figure outside count as bad.
            if n * 2 < cells.len() as u32 {
                f32::MAX
            } else {
                sum / n as f32
            }
        };
        let mut best = ((0, 0), cost(0, 0));
        for dy in -REACH..=REACH {
            for dx in -REACH..=REACH {
                let c = cost(dx, dy);
                if c < best.1 - 1e-4 {
                    best = ((dx, dy), c);
                }
            }
        }
        best.0
    }

    /// `self` shifted by (`dx`, `dy`) cells; uncovered cells read as
    /// their nearest edge cell.
    fn shifted(&self, (dx, dy): (i32, i32)) -> Grid {
        let (gw, gh) = (self.size.0 as i32, self.size.1 as i32);
        let at = |v: &[f32], x: i32, y: i32| {
            let (sx, sy) = ((x - dx).clamp(0, gw - 1), (y - dy).clamp(0, gh - 1));
            v[(sy * gw + sx) as usize]
        };
        let mut values = Vec::with_capacity(self.values.len());
        let mut luma = Vec::with_capacity(self.luma.len());
        for y in 0..gh {
            for x in 0..gw {
                values.push(at(&self.values, x, y));
                luma.push(at(&self.luma, x, y));
            }
        }
        Grid {
            values,
            luma,
            size: self.size,
        }
    }

    /// Keeps part of the previous mask, carried along with the figure's
    /// motion, where the picture under it did not change; returns the
    /// carried previous mask and the motion (cells).
    fn steady(&mut self, previous: &Grid) -> Option<(Grid, (i32, i32))> {
        if previous.size != self.size {
            return None;
        }
        let motion = self.motion(previous);
        let carried = previous.shifted(motion);
        for i in 0..self.values.len() {
            let change = (self.luma[i] - carried.luma[i]).abs();
            let k = KEEP * (-change / SIGMA).exp();
            self.values[i] = (1.0 - k) * self.values[i] + k * carried.values[i];
        }
        Some((carried, motion))
    }

    /// The mask at `w`×`h` (bilinear between cell centres).
    fn upsample(&self, w: u32, h: u32) -> Vec<f32> {
        let (gw, gh) = self.size;
        let (sx, sy) = (gw as f32 / w as f32, gh as f32 / h as f32);
        let at = |x: u32, y: u32| self.values[(y * gw + x) as usize];
        let mut out = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (gh - 1) as f32);
            let (y0, ty) = (fy.floor() as u32, fy.fract());
            let y1 = (y0 + 1).min(gh - 1);
            for x in 0..w {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (gw - 1) as f32);
                let (x0, tx) = (fx.floor() as u32, fx.fract());
                let x1 = (x0 + 1).min(gw - 1);
                let top = at(x0, y0) * (1.0 - tx) + at(x1, y0) * tx;
                let bottom = at(x0, y1) * (1.0 - tx) + at(x1, y1) * tx;
                out.push(top * (1.0 - ty) + bottom * ty);
            }
        }
        out
    }

    /// The figure's parts: 4-connected regions above one half, each at
    /// least `MIN_PART` of the picture, largest first.
    fn parts(&self) -> Vec<Part> {
        let (gw, gh) = (self.size.0 as usize, self.size.1 as usize);
        let on: Vec<bool> = self.values.iter().map(|&v| v > 0.5).collect();
        let mut parts = Vec::new();
        for cells in regions(&on, gw) {
            if (cells.len() as f32) < MIN_PART * (gw * gh) as f32 {
                continue;
            }
            let (mut x0, mut y0, mut x1, mut y1) = (gw, gh, 0, 0);
            for &i in &cells {
                let (x, y) = (i % gw, i / gw);
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
            let sure = cells.iter().filter(|&&i| self.values[i] > 0.9).count();
            parts.push(Part {
                sure: sure as f32 / cells.len() as f32,
                cells,
                cell_box: [x0 as u32, y0 as u32, (x1 + 1) as u32, (y1 + 1) as u32],
            });
        }
        parts.sort_by_key(|p| std::cmp::Reverse(p.cells.len()));
        parts
    }

    /// A part's box in the pixels of a `w`×`h` frame.
    fn frame_box(&self, part: &Part, w: u32, h: u32) -> Boxed {
        let (gw, gh) = self.size;
        let [x0, y0, x1, y1] = part.cell_box;
        let (sx, sy) = (w as f32 / gw as f32, h as f32 / gh as f32);
        let bx = (x0 as f32 * sx).floor() as u32;
        let by = (y0 as f32 * sy).floor() as u32;
        let bw = ((x1 as f32 * sx).ceil() as u32).min(w) - bx;
        let bh = ((y1 as f32 * sy).ceil() as u32).min(h) - by;
        [bx, by, bw, bh]
    }

    /// Cells within `reach` cells of the figure (above one half).
    fn near(&self, reach: u32) -> Vec<bool> {
        let (gw, gh) = (self.size.0 as usize, self.size.1 as usize);
        let mut d: Vec<u32> = self
            .values
            .iter()
            .map(|&v| if v > 0.5 { 0 } else { u32::MAX / 2 })
            .collect();
        super::alpha::chamfer(&mut d, gw, gh);
        d.iter().map(|&d| d <= reach * 3).collect()
    }

    /// Whether any cell is figure (above one half).
    fn has_figure(&self) -> bool {
        self.values.iter().any(|&v| v > 0.5)
    }

    /// The share of the figure's cells (above one half) that are sure
    /// (above 0.9); 0 when there are none.
    fn sureness(&self) -> f32 {
        let figure = self.values.iter().filter(|&&v| v > 0.5).count();
        let sure = self.values.iter().filter(|&&v| v > 0.9).count();
        if figure == 0 {
            0.0
        } else {
            sure as f32 / figure as f32
        }
    }

    /// Drops `parts` and the cells within two of them.
    fn drop_parts(&mut self, parts: &[&Part]) {
        let (gw, gh) = (self.size.0 as usize, self.size.1 as usize);
        for part in parts {
            for &i in &part.cells {
                let (x, y) = (i % gw, i / gw);
                for ny in y.saturating_sub(2)..(y + 3).min(gh) {
                    for nx in x.saturating_sub(2)..(x + 3).min(gw) {
                        self.values[ny * gw + nx] = 0.0;
                    }
                }
            }
        }
    }
}

impl Part {
    /// The part's cells for which `keep` holds, as a part of `grid`;
    /// `None` when too few are left.
    fn keeping(&self, keep: impl Fn(usize) -> bool, grid: &Grid) -> Option<Part> {
        let gw = grid.size.0 as usize;
        let cells: Vec<usize> = self.cells.iter().copied().filter(|&i| keep(i)).collect();
        if (cells.len() as f32) < MIN_PART * grid.values.len() as f32 {
            return None;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for &i in &cells {
            let (x, y) = (i % gw, i / gw);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
        let sure = cells.iter().filter(|&&i| grid.values[i] > 0.9).count();
        Some(Part {
            sure: sure as f32 / cells.len() as f32,
            cell_box: [x0 as u32, y0 as u32, x1 as u32, y1 as u32],
            cells,
        })
    }
}

/// One connected part of a figure mask.
#[derive(Debug, Clone)]
struct Part {
    cells: Vec<usize>,
    /// Cells from (x0, y0) up to (x1, y1), exclusive.
    cell_box: [u32; 4],
    /// The share of its cells above 0.9.
    sure: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grid for a 1280×512 frame (320×128 cells of 4×4 pixels) with
    /// `rects` (in cells) set to 0.95.
    fn grid_with(rects: &[(usize, usize, usize, usize)]) -> Grid {
        let (gw, gh) = (320usize, 128usize);
        let mut values = vec![0.0; gw * gh];
        for &(x, y, w, h) in rects {
            for yy in y..y + h {
                for xx in x..x + w {
                    values[yy * gw + xx] = 0.95;
                }
            }
        }
        Grid {
            values,
            luma: vec![0.5; gw * gh],
            size: (gw as u32, gh as u32),
        }
    }

    #[test]
    fn each_person_gets_a_box_in_frame_pixels() {
        assert_eq!(Grid::size_for(1280, 512), (320, 128));
        // Two people and a speck too small to count.
        let grid = grid_with(&[(10, 20, 40, 100), (128, 30, 64, 80), (300, 0, 2, 2)]);
        let parts = grid.parts();
        let b: Vec<Boxed> = parts.iter().map(|p| grid.frame_box(p, 1280, 512)).collect();
        // The second (64×80 cells) is larger than the first (40×100).
        assert_eq!(b, vec![[512, 120, 256, 320], [40, 80, 160, 400]]);
        assert!(parts.iter().all(|p| p.sure == 1.0));
        assert!(grid_with(&[]).parts().is_empty());
    }

    #[test]
    fn a_small_figure_gets_a_closer_look_and_a_large_one_none() {
        let small = grid_with(&[(150, 40, 20, 60)]);
        let (x, y, w, h) = small.closer_view(1280, 512).expect("a closer view");
        // 80×240 px at 600,160, widened by 36 px and to 9:16.
        assert!(
            x < 600 && y < 160 && x + w > 680 && y + h > 400,
            "{x},{y} {w}x{h}"
        );
        assert!(w as f32 >= h as f32 * 9.0 / 16.0 - 1.0, "{w}x{h}");
        assert!(w < 400 && h <= 512, "{w}x{h}");
        let large = grid_with(&[(5, 5, 310, 120)]);
        assert_eq!(large.closer_view(1280, 512), None);
    }

    #[test]
    fn a_dropped_part_takes_its_fringe_with_it() {
        let mut grid = grid_with(&[(100, 20, 20, 20), (200, 20, 20, 20)]);
        let fringe = 20 * 320 + 98;
        grid.values[fringe] = 0.3;
        let parts = grid.parts();
        let first = parts.iter().find(|p| p.cell_box[0] == 100).expect("part");
        grid.drop_parts(&[first]);
        assert_eq!(grid.values[25 * 320 + 105], 0.0);
        assert_eq!(grid.values[fringe], 0.0);
        assert_eq!(grid.values[25 * 320 + 205], 0.95);
    }

    #[test]
    fn a_still_picture_keeps_the_mask_and_a_change_drops_it() {
        let previous = grid_with(&[(0, 0, 320, 128)]);
        let mut same = grid_with(&[]);
        same.steady(&previous);
        assert!((same.values[0] - KEEP * 0.95).abs() < 1e-6);
        let mut moved = grid_with(&[]);
        moved.luma = vec![0.9; moved.values.len()];
        moved.steady(&previous);
        assert!(moved.values[0] < 1e-6);
    }

    /// A textured figure moved 5 cells right and 2 down: the last mask is
    /// carried along, so the new frame's holes are filled where it went,
    /// and nothing is kept where it was.
    #[test]
    fn the_last_mask_follows_the_figure() {
        let texture = |x: i32, y: i32| ((x * 7 + y * 13) % 17) as f32 / 17.0;
        let make = |ox: i32, oy: i32, mask: f32| {
            let mut g = grid_with(&[]);
            for y in 0..128i32 {
                for x in 0..320i32 {
                    let inside =
                        (100 + ox..140 + ox).contains(&x) && (30 + oy..90 + oy).contains(&y);
                    let i = (y * 320 + x) as usize;
                    g.luma[i] = if inside { texture(x - ox, y - oy) } else { 0.5 };
                    g.values[i] = if inside { mask } else { 0.0 };
                }
            }
            g
        };
        let previous = make(0, 0, 1.0);
        // The model lost the figure in the new frame (0.3 on it).
        let mut now = make(5, 2, 0.3);
        assert_eq!(now.motion(&previous), (5, 2));
        now.steady(&previous);
        let at = |g: &Grid, x: usize, y: usize| g.values[y * 320 + x];
        assert!(at(&now, 120 + 5, 60 + 2) > 0.5, "{}", at(&now, 125, 62));
        assert!(at(&now, 101, 31) < 0.01);
    }
}
