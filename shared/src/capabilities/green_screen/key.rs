//! Chroma keying with real (fractional) alpha, in the manner of colour-
//! difference keyers such as Keylight and IBK:
//!
//! - **Screen difference.** For a green screen, `d = G − max(R, B)` (blue:
//!   `B − max(R, G)`). A pixel mixing foreground `F` and screen `S` with
//!   alpha `a` has `d ≈ a·d(F) + (1 − a)·d(S)`, and `d(F) ≤ 0` for
//!   ordinary foregrounds, so `a ≈ 1 − d / d(S)`: linear, hence soft edges,
//!   motion blur and hair come out fractional instead of cut.
//! - **Uneven screens.** `d(S)` is not one number: it is measured per block
//!   from the pixels that are clearly screen, filled in where the
//!   foreground hides the screen, and interpolated smoothly, so gradients
//!   and shadows on the screen do not punch or leave holes.
//! - **Noise.** Alpha within `clip` of 0 or 1 is snapped, so sensor noise and
//!   compression on the screen stay transparent and on the subject stay
//!   opaque; static pixels are averaged with the previous frame (no
//!   flicker), moving ones are not (no ghosting).
//! - **Spill.** The screen colour reflected onto the subject is removed by
//!   limiting the key channel to the larger of the other two.

use image::{RgbImage, Rgba, RgbaImage};

/// Which screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Screen {
    /// Green screen.
    Green,
    /// Blue screen.
    Blue,
}

/// Keyer settings, each 0–1; the defaults need no tuning for ordinary
/// footage.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct KeySettings {
    /// How much of the screen difference counts as fully transparent:
    /// higher removes more (darker screen areas, shadows).
    pub strength: f32,
    /// Width of the soft range near opaque and transparent that is snapped
    /// (higher: cleaner mattes, harder edges).
    pub clip: f32,
    /// Spill suppression amount.
    pub spill: f32,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            strength: 0.5,
            clip: 0.1,
            spill: 1.0,
        }
    }
}

fn difference(p: [u8; 3], screen: Screen) -> f32 {
    let [r, g, b] = p.map(f32::from);
    match screen {
        Screen::Green => g - r.max(b),
        Screen::Blue => b - r.max(g),
    }
}

/// The screen of `frame`: green or blue when at least a fifth of the frame
/// is strongly that colour; `None` otherwise.
pub fn detect_screen(frame: &RgbImage) -> Option<Screen> {
    let (mut green, mut blue, mut n) = (0usize, 0usize, 0usize);
    for p in frame.pixels().step_by(7) {
        let [r, g, b] = p.0.map(u32::from);
        n += 1;
        if g >= 50 && 10 * g >= 13 * r.max(b) {
            green += 1;
        } else if b >= 50 && 10 * b >= 13 * r.max(g) {
            blue += 1;
        }
    }
    let enough = |k: usize| 5 * k >= n.max(1);
    match (enough(green), enough(blue)) {
        (true, _) if green >= blue => Some(Screen::Green),
        (_, true) => Some(Screen::Blue),
        (true, false) => Some(Screen::Green),
        _ => None,
    }
}

/// Block size of the screen estimate, pixels.
const BLOCK: u32 = 16;

/// A smooth per-block estimate of a value over the frame: the mean of
/// the pixels that show it in each block, blocks without such pixels
/// filled from their neighbours, read back with bilinear interpolation.
#[derive(Debug, Clone)]
struct Plate {
    values: Vec<f32>,
    bw: u32,
    bh: u32,
}

impl Plate {
    /// `sample(x, y)` gives a pixel's value when it counts. `None` when no
    /// block has enough pixels.
    fn build(w: u32, h: u32, sample: impl Fn(u32, u32) -> Option<f32>) -> Option<Self> {
        let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
        let mut sum = vec![0f32; (bw * bh) as usize];
        let mut count = vec![0u32; (bw * bh) as usize];
        for y in 0..h {
            for x in 0..w {
                if let Some(v) = sample(x, y) {
                    let i = ((y / BLOCK) * bw + x / BLOCK) as usize;
                    sum[i] += v;
                    count[i] += 1;
                }
            }
        }
        Self::from_blocks(&sum, &count, bw, bh)
    }

    /// Plates of the mean colour (R, G, B) of the pixels `select` picks.
    fn build_rgb(frame: &RgbImage, select: impl Fn(usize) -> bool) -> Option<[Self; 3]> {
        let (w, h) = frame.dimensions();
        let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
        let mut sum = vec![[0f32; 3]; (bw * bh) as usize];
        let mut count = vec![0u32; (bw * bh) as usize];
        for (i, p) in frame.pixels().enumerate() {
            if select(i) {
                let (x, y) = (i as u32 % w, i as u32 / w);
                let b = ((y / BLOCK) * bw + x / BLOCK) as usize;
                for c in 0..3 {
                    sum[b][c] += f32::from(p[c]);
                }
                count[b] += 1;
            }
        }
        let channel = |c: usize| {
            let s: Vec<f32> = sum.iter().map(|v| v[c]).collect();
            Self::from_blocks(&s, &count, bw, bh)
        };
        Some([channel(0)?, channel(1)?, channel(2)?])
    }

    /// Block means where a block has enough samples, the rest filled from
    /// their neighbours.
    fn from_blocks(sum: &[f32], count: &[u32], bw: u32, bh: u32) -> Option<Self> {
        let min_count = BLOCK * BLOCK / 8;
        let mut plate: Vec<Option<f32>> = sum
            .iter()
            .zip(count)
            .map(|(&s, &c)| (c >= min_count).then(|| s / c as f32))
            .collect();
        if plate.iter().all(Option::is_none) {
            return None;
        }
        while plate.iter().any(Option::is_none) {
            let before = plate.clone();
            for by in 0..i64::from(bh) {
                for bx in 0..i64::from(bw) {
                    let i = (by * i64::from(bw) + bx) as usize;
                    if before[i].is_some() {
                        continue;
                    }
                    let mut acc = (0.0, 0);
                    for dy in -1..=1 {
                        for dx in -1..=1 {
                            let (nx, ny) = (bx + dx, by + dy);
                            if nx < 0 || ny < 0 || nx >= i64::from(bw) || ny >= i64::from(bh) {
                                continue;
                            }
                            if let Some(v) = before[(ny * i64::from(bw) + nx) as usize] {
                                acc.0 += v;
                                acc.1 += 1;
                            }
                        }
                    }
                    if acc.1 > 0 {
                        plate[i] = Some(acc.0 / acc.1 as f32);
                    }
                }
            }
        }
        Some(Self {
            values: plate.into_iter().map(Option::unwrap_or_default).collect(),
            bw,
            bh,
        })
    }

    /// The plate at pixel (`x`, `y`), bilinear between block centres.
    fn at(&self, x: u32, y: u32) -> f32 {
        let (bw, bh) = (self.bw as usize, self.bh as usize);
        let coord = |p: u32, n: usize| -> (usize, usize, f32) {
            let f = ((p as f32 + 0.5) / BLOCK as f32 - 0.5).clamp(0.0, (n - 1) as f32);
            let i0 = f.floor() as usize;
            (i0, (i0 + 1).min(n - 1), f - i0 as f32)
        };
        let (x0, x1, tx) = coord(x, bw);
        let (y0, y1, ty) = coord(y, bh);
        let v = |xx: usize, yy: usize| self.values[yy * bw + xx];
        (v(x0, y0) * (1.0 - tx) + v(x1, y0) * tx) * (1.0 - ty)
            + (v(x0, y1) * (1.0 - tx) + v(x1, y1) * tx) * ty
    }

    /// The plate at every pixel of a `w`×`h` frame, row-major: bilinear
    /// between block centres, computed separably.
    fn upsample(&self, w: u32, h: u32) -> Vec<f32> {
        let (bw, bh) = (self.bw as usize, self.bh as usize);
        let coord = |p: u32, n: usize| -> (usize, usize, f32) {
            let f = ((p as f32 + 0.5) / BLOCK as f32 - 0.5).clamp(0.0, (n - 1) as f32);
            let i0 = f.floor() as usize;
            (i0, (i0 + 1).min(n - 1), f - i0 as f32)
        };
        let xs: Vec<(usize, usize, f32)> = (0..w).map(|x| coord(x, bw)).collect();
        let mut out = Vec::with_capacity((w * h) as usize);
        let mut row = vec![0f32; bw];
        for y in 0..h {
            let (y0, y1, ty) = coord(y, bh);
            for (bx, r) in row.iter_mut().enumerate() {
                *r = self.values[y0 * bw + bx] * (1.0 - ty) + self.values[y1 * bw + bx] * ty;
            }
            out.extend(
                xs.iter()
                    .map(|&(x0, x1, tx)| row[x0] * (1.0 - tx) + row[x1] * tx),
            );
        }
        out
    }
}

/// Box mean of radius `r` over a `w`×`h` image (the window clamped at
/// the borders): running sums along rows, then along columns.
fn box_mean(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut rows = vec![0f32; w * h];
    for y in 0..h {
        let line = &v[y * w..(y + 1) * w];
        let out = &mut rows[y * w..(y + 1) * w];
        let mut sum: f32 = line[..r.min(w)].iter().sum();
        for x in 0..w {
            if x + r < w {
                sum += line[x + r];
            }
            if x > r {
                sum -= line[x - r - 1];
            }
            let n = (x + r).min(w - 1) + 1 - x.saturating_sub(r);
            out[x] = sum / n as f32;
        }
    }
    let mut out = vec![0f32; w * h];
    let mut sum = vec![0f32; w];
    for y in 0..r.min(h) {
        for x in 0..w {
            sum[x] += rows[y * w + x];
        }
    }
    for y in 0..h {
        if y + r < h {
            for x in 0..w {
                sum[x] += rows[(y + r) * w + x];
            }
        }
        if y > r {
            for x in 0..w {
                sum[x] -= rows[(y - r - 1) * w + x];
            }
        }
        let n = ((y + r).min(h - 1) + 1 - y.saturating_sub(r)) as f32;
        for x in 0..w {
            out[y * w + x] = sum[x] / n;
        }
    }
    out
}

/// He et al.'s guided filter: `p` smoothed where `guide` is flat and kept
/// sharp along `guide`'s edges.
fn guided_filter(guide: &[f32], p: &[f32], w: usize, h: usize, r: usize, eps: f32) -> Vec<f32> {
    let mean_i = box_mean(guide, w, h, r);
    let mean_p = box_mean(p, w, h, r);
    let ii: Vec<f32> = guide.iter().map(|g| g * g).collect();
    let ip: Vec<f32> = guide.iter().zip(p).map(|(g, v)| g * v).collect();
    let corr_i = box_mean(&ii, w, h, r);
    let corr_ip = box_mean(&ip, w, h, r);
    let mut a = vec![0f32; w * h];
    let mut b = vec![0f32; w * h];
    for k in 0..w * h {
        let var = corr_i[k] - mean_i[k] * mean_i[k];
        let cov = corr_ip[k] - mean_i[k] * mean_p[k];
        a[k] = cov / (var + eps);
        b[k] = mean_p[k] - a[k] * mean_i[k];
    }
    let (ma, mb) = (box_mean(&a, w, h, r), box_mean(&b, w, h, r));
    (0..w * h).map(|k| ma[k] * guide[k] + mb[k]).collect()
}

/// A keyer for one video: keeps the previous alpha for temporal smoothing.
#[derive(Debug, Clone)]
pub struct Keyer {
    screen: Screen,
    settings: KeySettings,
    subsampled: bool,
    previous: Option<(Vec<f32>, Vec<[u8; 3]>)>,
}

impl Keyer {
    /// A keyer for `screen`.
    pub fn new(screen: Screen, settings: KeySettings) -> Self {
        Self {
            screen,
            settings,
            subsampled: false,
            previous: None,
        }
    }

    /// For frames whose colour was subsampled by the codec (4:2:0 or
    /// 4:2:2 video): alpha edges are then re-aligned with the
    /// full-resolution luma.
    pub fn for_subsampled_chroma(mut self, subsampled: bool) -> Self {
        self.subsampled = subsampled;
        self
    }

    /// The screen's difference per block, from pixels that are clearly
    /// screen; `None` when no block shows the screen.
    fn screen_plate(&self, frame: &RgbImage) -> Option<Plate> {
        // The frame's typical screen difference: a high percentile.
        let mut all: Vec<f32> = frame
            .pixels()
            .step_by(5)
            .map(|p| difference(p.0, self.screen))
            .filter(|&d| d > 20.0)
            .collect();
        if all.is_empty() {
            return None;
        }
        let k = all.len() * 3 / 4;
        let typical = *all.select_nth_unstable_by(k, f32::total_cmp).1;
        Plate::build(frame.width(), frame.height(), |x, y| {
            let d = difference(frame.get_pixel(x, y).0, self.screen);
            (d >= 0.6 * typical).then_some(d)
        })
    }

    /// Keys one frame: RGBA with fractional alpha and spill removed.
    pub fn key(&mut self, frame: &RgbImage) -> RgbaImage {
        let (w, h) = frame.dimensions();
        let Some(screen) = self.screen_plate(frame) else {
            // No screen visible: all foreground.
            return RgbaImage::from_fn(w, h, |x, y| {
                let p = frame.get_pixel(x, y).0;
                Rgba([p[0], p[1], p[2], 255])
            });
        };
        let s = self.settings;
        let clip = s.clip.clamp(0.0, 0.45);
        // Strength 0.5: the screen reads fully transparent from 95 % of its
        // local difference.
        let full = 1.0 - 0.1 * s.strength;
        let diffs: Vec<f32> = frame
            .pixels()
            .map(|p| difference(p.0, self.screen))
            .collect();
        let screen_d: Vec<f32> = screen
            .upsample(w, h)
            .into_iter()
            .map(|d| d.max(1.0) * full)
            .collect();
        let raw = |i: usize, subject: f32| -> f32 {
            let subject = subject.clamp(0.0, 0.8 * screen_d[i]);
            (1.0 - (diffs[i] - subject) / (screen_d[i] - subject)).clamp(0.0, 1.0)
        };
        // The subject's own difference (spill: a white shirt lit by the
        // screen reads a little green), measured where a first pass sees
        // the subject, so that its edges are mixed against it and not
        // against zero.
        let subject = Plate::build(w, h, |x, y| {
            let i = (y * w + x) as usize;
            (raw(i, 0.0) >= 0.6).then(|| diffs[i].max(0.0))
        });
        let spill = subject.map_or_else(|| vec![0.0; (w * h) as usize], |p| p.upsample(w, h));
        let mut alpha: Vec<f32> = spill.iter().enumerate().map(|(i, &s)| raw(i, s)).collect();
        // With subsampled chroma an edge pixel's colour is smeared over its
        // neighbours, so the colour line does not hold there; such video
        // goes through the luma-guided filter below instead.
        if !self.subsampled {
            refine_on_colour_lines(frame, &mut alpha, self.screen);
        }
        // Edges follow the luma (full resolution even when the chroma the
        // difference comes from was subsampled by the codec).
        if self.subsampled {
            let luma: Vec<f32> = frame
                .pixels()
                .map(|p| {
                    (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                        / 255.0
                })
                .collect();
            alpha = guided_filter(&luma, &alpha, w as usize, h as usize, 1, 4e-4);
        }
        for a in &mut alpha {
            *a = ((*a - clip) / (1.0 - 2.0 * clip)).clamp(0.0, 1.0);
        }
        let pixels: Vec<[u8; 3]> = frame.pixels().map(|p| p.0).collect();
        if let Some((prev_alpha, prev_pixels)) = &self.previous {
            if prev_alpha.len() == alpha.len() {
                for i in 0..alpha.len() {
                    let still = pixels[i]
                        .iter()
                        .zip(&prev_pixels[i])
                        .all(|(a, b)| a.abs_diff(*b) <= 12);
                    if still && (alpha[i] - prev_alpha[i]).abs() < 0.25 {
                        alpha[i] = 0.5 * (alpha[i] + prev_alpha[i]);
                    }
                }
            }
        }
        let out = RgbaImage::from_fn(w, h, |x, y| {
            let i = (y * w + x) as usize;
            let [r, g, b] = pixels[i];
            let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
            let (r, g, b) = match self.screen {
                Screen::Green => (r, g - s.spill * (g - r.max(b)).max(0.0), b),
                Screen::Blue => (r, g, b - s.spill * (b - r.max(g)).max(0.0)),
            };
            let a = alpha[i];
            Rgba([r as u8, g as u8, b as u8, (a * 255.0).round() as u8])
        });
        self.previous = Some((alpha, pixels));
        out
    }
}

/// Soft edges (hair, motion blur) against the local colours: where the
/// screen colour S and the subject's colour F near a pixel are known (the
/// mean of clearly-screen and clearly-subject pixels around it) and the
/// pixel lies on the line between them, alpha is its position on that
/// line, which is exact for any subject colour. The difference keyer's
/// alpha stays where the pixel is off the line (several subject colours
/// nearby, so F is not its colour).
fn refine_on_colour_lines(frame: &RgbImage, alpha: &mut [f32], screen_kind: Screen) {
    let Some(screen) = Plate::build_rgb(frame, |i| alpha[i] <= 0.0) else {
        return;
    };
    let Some(subject) = Plate::build_rgb(frame, |i| alpha[i] >= 1.0) else {
        return;
    };
    let w = frame.width();
    for (i, p) in frame.pixels().enumerate() {
        let a = alpha[i];
        // Opaque pixels with some screen colour left may be mixed pixels
        // the difference keyer over-rated (a dark or saturated subject).
        if a <= 0.0 || (a >= 1.0 && difference(p.0, screen_kind) <= 0.0) {
            continue;
        }
        let (x, y) = (i as u32 % w, i as u32 / w);
        let s = [0, 1, 2].map(|c| screen[c].at(x, y));
        let f = [0, 1, 2].map(|c| subject[c].at(x, y));
        let fs = [f[0] - s[0], f[1] - s[1], f[2] - s[2]];
        let ps = [0, 1, 2].map(|c| f32::from(p[c]) - s[c]);
        let len2 = fs.iter().map(|v| v * v).sum::<f32>();
        if len2 < 60.0 * 60.0 {
            continue;
        }
        let t = (ps.iter().zip(&fs).map(|(a, b)| a * b).sum::<f32>() / len2).clamp(0.0, 1.0);
        let off2 = (0..3).map(|c| (ps[c] - t * fs[c]).powi(2)).sum::<f32>();
        let tolerance = 5.0 + 0.03 * len2.sqrt();
        if off2 <= tolerance * tolerance {
            alpha[i] = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A green screen lit unevenly (brighter left), with a grey disc.
    fn scene(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 2.0);
            if dx * dx + dy * dy < 400.0 {
                image::Rgb([128, 128, 128])
            } else {
                let light = 1.0 - 0.4 * x as f32 / w as f32;
                image::Rgb([
                    (20.0 * light) as u8,
                    (200.0 * light) as u8,
                    (60.0 * light) as u8,
                ])
            }
        })
    }

    #[test]
    fn box_mean_matches_a_direct_average_with_clamped_windows() {
        let (w, h, r) = (7usize, 5usize, 2usize);
        let v: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 11) as f32).collect();
        let fast = box_mean(&v, w, h, r);
        for y in 0..h {
            for x in 0..w {
                let (mut sum, mut n) = (0.0, 0);
                for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
                    for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
                        sum += v[yy * w + xx];
                        n += 1;
                    }
                }
                assert!((fast[y * w + x] - sum / n as f32).abs() < 1e-4, "{x},{y}");
            }
        }
    }

    #[test]
    fn the_screen_is_found_and_an_ordinary_picture_has_none() {
        assert_eq!(detect_screen(&scene(96, 64)), Some(Screen::Green));
        let blue = RgbImage::from_pixel(32, 32, image::Rgb([20, 40, 210]));
        assert_eq!(detect_screen(&blue), Some(Screen::Blue));
        let grey = RgbImage::from_fn(32, 32, |x, _| image::Rgb([x as u8 * 8, 100, 90]));
        assert_eq!(detect_screen(&grey), None);
    }

    #[test]
    fn unevenly_lit_screen_is_transparent_and_the_subject_opaque() {
        let frame = scene(96, 64);
        let out = Keyer::new(Screen::Green, KeySettings::default()).key(&frame);
        assert_eq!(out.get_pixel(2, 2)[3], 0, "bright screen");
        assert_eq!(out.get_pixel(93, 61)[3], 0, "dark screen");
        assert_eq!(out.get_pixel(48, 32)[3], 255, "subject");
    }

    #[test]
    fn a_half_mixed_edge_is_half_transparent_and_spill_is_removed() {
        let mut frame = scene(96, 64);
        // A pixel half grey, half screen (the screen there is about 20,190,57).
        let screen = frame.get_pixel(10, 10).0;
        let mix = [0, 1, 2].map(|c| ((u16::from(screen[c]) + 128) / 2) as u8);
        frame.put_pixel(10, 10, image::Rgb(mix));
        // A greenish-grey subject pixel (spill).
        frame.put_pixel(48, 30, image::Rgb([120, 150, 120]));
        let out = Keyer::new(Screen::Green, KeySettings::default()).key(&frame);
        let a = out.get_pixel(10, 10)[3];
        assert!((90..=165).contains(&a), "{a}");
        let spill = out.get_pixel(48, 30);
        assert!(spill[1] <= 121, "{spill:?}");
    }
}
