//! A logo as a blend over the picture: every pixel of a frame under it is
//! `I = a·W + (1 − a)·J`, with the logo's alpha `a` and colour `W` fixed
//! and the picture `J` changing. Seen over many frames (Dekel et al., "On
//! the Effectiveness of Visible Watermarks", CVPR 2017), the logo makes a
//! pixel vary `1 − a` times as much as the picture around it does, and its
//! mean shifts by `a·W`: both are measured here against the picture filled
//! in from the logo's surroundings, frame by frame.

use crate::media::planar::Planar;

/// A rectangle in pixels of plane 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// `[x, y, w, h]`.
    pub fn array(self) -> [u32; 4] {
        [self.x, self.y, self.w, self.h]
    }

    /// Intersection over union with `other`.
    pub fn iou(self, other: Self) -> f64 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.w).min(other.x + other.w);
        let y1 = (self.y + self.h).min(other.y + other.h);
        if x1 <= x0 || y1 <= y0 {
            return 0.0;
        }
        let inter = f64::from(x1 - x0) * f64::from(y1 - y0);
        let union =
            f64::from(self.w) * f64::from(self.h) + f64::from(other.w) * f64::from(other.h) - inter;
        inter / union
    }

    /// The part of this rectangle inside `other`, if any.
    pub fn intersect(self, other: Self) -> Option<Self> {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.w).min(other.x + other.w);
        let y1 = (self.y + self.h).min(other.y + other.h);
        (x1 > x0 && y1 > y0).then(|| Self {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    }

    /// This rectangle grown by `margin` on each side, with even corners,
    /// clipped to a `width`×`height` frame.
    pub fn grown(self, margin: u32, (width, height): (u32, u32)) -> Self {
        let x0 = self.x.saturating_sub(margin) & !1;
        let y0 = self.y.saturating_sub(margin) & !1;
        let x1 = ((self.x + self.w + margin + 1) & !1).min(width & !1);
        let y1 = ((self.y + self.h + margin + 1) & !1).min(height & !1);
        Self {
            x: x0,
            y: y0,
            w: x1.saturating_sub(x0),
            h: y1.saturating_sub(y0),
        }
    }

    /// This rectangle in a plane subsampled by `shift` (even corners map
    /// exactly).
    pub fn in_plane(self, shift: u32) -> (usize, usize, usize, usize) {
        (
            (self.x >> shift) as usize,
            (self.y >> shift) as usize,
            (self.w >> shift) as usize,
            (self.h >> shift) as usize,
        )
    }
}

/// Alpha below this leaves a pixel as it is.
pub const ALPHA_FLOOR: f32 = 0.04;

/// A logo's blend over `region` (its box with a margin of picture around
/// it), per plane at that plane's resolution.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Blend {
    /// The region, in plane-0 pixels (even corners).
    pub region: Rect,
    /// Plane subsampling of the pictures this blend applies to.
    pub shift: u32,
    /// Alpha per plane, row-major over the region.
    pub alpha: [Vec<f32>; 3],
    /// `a·W` per plane.
    pub aw: [Vec<f32>; 3],
}

impl Blend {
    /// A fully opaque logo over `rect` (inside `region`): all of it is
    /// filled from around it. What a given box becomes when the blend
    /// cannot be measured (one picture, or a picture that never changes).
    pub fn opaque(region: Rect, rect: Rect, shift: u32) -> Self {
        let mut alpha: [Vec<f32>; 3] = Default::default();
        let mut aw: [Vec<f32>; 3] = Default::default();
        for p in 0..3 {
            let s = if p == 0 { 0 } else { shift };
            let (rx, ry, rw, rh) = region.in_plane(s);
            let (bx, by) = ((rect.x >> s) as usize, (rect.y >> s) as usize);
            let (bw, bh) = (
                ((rect.w + (1 << s) - 1) >> s) as usize,
                ((rect.h + (1 << s) - 1) >> s) as usize,
            );
            alpha[p] = (0..rw * rh)
                .map(|i| {
                    let (x, y) = (rx + i % rw, ry + i / rw);
                    if (bx..bx + bw).contains(&x) && (by..by + bh).contains(&y) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            aw[p] = vec![0.0; rw * rh];
        }
        Self {
            region,
            shift,
            alpha,
            aw,
        }
    }

    fn plane_shift(&self, p: usize) -> u32 {
        if p == 0 {
            0
        } else {
            self.shift
        }
    }

    /// The logo's own box: where plane 0's alpha reaches `threshold`.
    pub fn logo_box(&self, threshold: f32) -> Option<Rect> {
        let (rx, ry, rw, _) = self.region.in_plane(0);
        let mut bounds: Option<(usize, usize, usize, usize)> = None;
        for (i, &a) in self.alpha[0].iter().enumerate() {
            if a >= threshold {
                let (x, y) = (i % rw, i / rw);
                bounds = Some(match bounds {
                    None => (x, y, x, y),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                });
            }
        }
        bounds.map(|(x0, y0, x1, y1)| Rect {
            x: (rx + x0) as u32,
            y: (ry + y0) as u32,
            w: (x1 - x0 + 1) as u32,
            h: (y1 - y0 + 1) as u32,
        })
    }

    /// The logo's box, where alpha reaches a share of the logo's opacity
    /// (at least 0.15), and this blend with the alpha outside that box
    /// (and a two-pixel rim) set to zero: the faint alpha that noise
    /// leaves in the picture around a logo is not the logo.
    pub fn trimmed(mut self) -> Option<(Self, Rect)> {
        let threshold = (0.4 * self.opacity()).max(0.15);
        let rect = self.logo_box(threshold)?;
        let keep = rect.grown(2, (u32::MAX, u32::MAX));
        for p in 0..3 {
            let s = self.plane_shift(p);
            let (rx, ry, rw, _) = self.region.in_plane(s);
            let (kx, ky, kw, kh) = keep.in_plane(s);
            for (i, a) in self.alpha[p].iter_mut().enumerate() {
                let (x, y) = (rx + i % rw, ry + i / rw);
                if !(kx..kx + kw + 1).contains(&x) || !(ky..ky + kh + 1).contains(&y) {
                    *a = 0.0;
                }
            }
        }
        Some((self, rect))
    }

    /// How opaque the logo is where it is most opaque (the 95th
    /// percentile of its alpha above the floor).
    pub fn opacity(&self) -> f32 {
        let mut a: Vec<f32> = self.alpha[0]
            .iter()
            .copied()
            .filter(|&a| a >= ALPHA_FLOOR)
            .collect();
        if a.is_empty() {
            return 0.0;
        }
        a.sort_by(f32::total_cmp);
        a[(a.len() - 1) * 95 / 100]
    }

    /// How much better the logo explains `picture` than the picture alone
    /// does, over plane 0 where the logo shows: `1 − SSE(with logo) /
    /// SSE(without)`. Near 1 when the logo is there, at or below 0 when it
    /// is not.
    pub fn presence(&self, picture: &Planar) -> f32 {
        let (rx, ry, rw, rh) = self.region.in_plane(0);
        let alpha = &self.alpha[0];
        let patch = read_patch(picture, 0, (rx, ry, rw, rh));
        let unknown: Vec<bool> = alpha.iter().map(|&a| a >= ALPHA_FLOOR).collect();
        let mut fill = patch.clone();
        interpolate(&mut fill, &unknown, rw, rh, 0);
        let (mut with, mut without) = (0.0f64, 0.0f64);
        for i in 0..rw * rh {
            let a = alpha[i];
            if a < 0.15 {
                continue;
            }
            let predicted = self.aw[0][i] + (1.0 - a) * fill[i];
            with += f64::from((patch[i] - predicted).powi(2));
            without += f64::from((patch[i] - fill[i]).powi(2));
        }
        if without <= f64::EPSILON {
            return 0.0;
        }
        (1.0 - with / without) as f32
    }
}

/// The `(x, y, w, h)` patch of plane `p` as numbers, row-major.
pub fn read_patch(
    picture: &Planar,
    p: usize,
    (x, y, w, h): (usize, usize, usize, usize),
) -> Vec<f32> {
    let (pw, _) = picture.plane_size(p);
    let plane = &picture.planes[p];
    let mut out = Vec::with_capacity(w * h);
    for row in y..y + h {
        let s = row * pw as usize + x;
        out.extend(plane[s..s + w].iter().map(|&v| f32::from(v)));
    }
    out
}

/// Writes `values` back into the patch of plane `p` where `touch` holds.
pub fn write_patch(
    picture: &mut Planar,
    p: usize,
    (x, y, w, h): (usize, usize, usize, usize),
    values: &[f32],
    touch: impl Fn(usize) -> bool,
) {
    let (pw, _) = picture.plane_size(p);
    let plane = &mut picture.planes[p];
    for row in 0..h {
        for col in 0..w {
            let i = row * w + col;
            if touch(i) {
                plane[(y + row) * pw as usize + x + col] =
                    values[i].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Sweeps of over-relaxation after the scanline start.
const SWEEPS: usize = 40;

/// Fills the `unknown` pixels of a `w`×`h` patch from the known ones: a
/// start interpolated along rows and columns, then relaxed towards the
/// smoothest (harmonic) surface that meets the known pixels. Pixels on the
/// patch's edge with no known neighbour outside it take what is inside.
pub fn harmonic_fill(values: &mut [f32], unknown: &[bool], w: usize, h: usize) {
    interpolate(values, unknown, w, h, SWEEPS);
}

/// [`harmonic_fill`] with `sweeps` relaxation sweeps (0: the scanline
/// start alone, a cheaper and rougher fill).
pub fn interpolate(values: &mut [f32], unknown: &[bool], w: usize, h: usize, sweeps: usize) {
    if w == 0 || h == 0 || !unknown.iter().any(|&u| u) {
        return;
    }
    if unknown.iter().all(|&u| u) {
        values.fill(128.0);
        return;
    }
    let mut sum = vec![0.0f32; w * h];
    let mut weight = vec![0.0f32; w * h];
    // Linear interpolation between the known ends of each unknown run,
    // weighted by how short the run is (the nearer ends say more).
    let mut runs = |len: usize, at: &dyn Fn(usize) -> usize| {
        let mut i = 0;
        while i < len {
            if !unknown[at(i)] {
                i += 1;
                continue;
            }
            let start = i;
            while i < len && unknown[at(i)] {
                i += 1;
            }
            let before = start.checked_sub(1).map(|j| values[at(j)]);
            let after = (i < len).then(|| values[at(i)]);
            for j in start..i {
                let v = match (before, after) {
                    (Some(b), Some(a)) => {
                        let t = (j + 1 - start) as f32 / (i + 1 - start) as f32;
                        b + (a - b) * t
                    }
                    (Some(b), None) => b,
                    (None, Some(a)) => a,
                    (None, None) => continue,
                };
                let k = 1.0 / (i - start) as f32;
                sum[at(j)] += v * k;
                weight[at(j)] += k;
            }
        }
    };
    for row in 0..h {
        runs(w, &|i| row * w + i);
    }
    for col in 0..w {
        runs(h, &|i| i * w + col);
    }
    let known_mean = {
        let (s, n) = values
            .iter()
            .zip(unknown)
            .filter(|(_, &u)| !u)
            .fold((0.0f64, 0usize), |(s, n), (&v, _)| {
                (s + f64::from(v), n + 1)
            });
        (s / n.max(1) as f64) as f32
    };
    for i in 0..w * h {
        if unknown[i] {
            values[i] = if weight[i] > 0.0 {
                sum[i] / weight[i]
            } else {
                known_mean
            };
        }
    }
    if sweeps == 0 {
        return;
    }
    // Successive over-relaxation in raster order. Each unknown pixel keeps
    // its in-patch neighbours, a missing one pointing at a zero past the
    // end; the left neighbour, written just before, is added last so the
    // chain from one pixel to the next stays short.
    let zero = w * h;
    let mut v = Vec::with_capacity(w * h + 1);
    v.extend_from_slice(values);
    v.push(0.0);
    let omega = 1.8f32;
    let cells: Vec<(u32, [u32; 4], f32)> = (0..w * h)
        .filter(|&i| unknown[i])
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let pick = |ok: bool, j: usize| if ok { j as u32 } else { zero as u32 };
            let nb = [
                pick(y > 0, i.wrapping_sub(w)),
                pick(x + 1 < w, i + 1),
                pick(y + 1 < h, i + w),
                pick(x > 0, i.wrapping_sub(1)),
            ];
            let n = usize::from(x > 0)
                + usize::from(x + 1 < w)
                + usize::from(y > 0)
                + usize::from(y + 1 < h);
            (i as u32, nb, omega / n.max(1) as f32)
        })
        .collect();
    for _ in 0..sweeps {
        for &(i, [up, right, down, left], k) in &cells {
            let rest = v[up as usize] + v[right as usize] + v[down as usize];
            let own = v[i as usize];
            v[i as usize] = (1.0 - omega) * own + k * (rest + v[left as usize]);
        }
    }
    values.copy_from_slice(&v[..w * h]);
}

/// Below this temporal spread (8-bit levels) of the surroundings, the
/// picture does not change enough to measure a blend.
const MIN_SPREAD: f32 = 2.0;

/// Measures the blend over `region` from `samples` (frames in which the
/// logo shows). `None` when the picture around the region hardly changes
/// across them, so the blend cannot be told from the picture.
pub fn estimate(samples: &[&Planar], region: Rect) -> Option<Blend> {
    let first = samples.first()?;
    if samples.len() < 3 || region.w < 6 || region.h < 6 {
        return None;
    }
    let shift = first.shift;
    // First pass: everything inside a two-pixel ring is unknown.
    let (_, _, rw, rh) = region.in_plane(0);
    let ring: Vec<bool> = (0..rw * rh)
        .map(|i| {
            let (x, y) = (i % rw, i / rw);
            x >= 2 && y >= 2 && x + 2 < rw && y + 2 < rh
        })
        .collect();
    let alpha0 = luma_alpha(samples, region, &ring)?;
    // Second pass: only the logo is unknown, so the picture inside the
    // region helps the fill.
    let inside: Vec<bool> = dilate(
        &alpha0.iter().map(|&a| a >= ALPHA_FLOOR).collect::<Vec<_>>(),
        rw,
        rh,
        2,
    );
    let alpha = if inside.iter().any(|&u| u) {
        luma_alpha(samples, region, &inside).unwrap_or(alpha0)
    } else {
        alpha0
    };
    let mut blend = Blend {
        region,
        shift,
        alpha: Default::default(),
        aw: Default::default(),
    };
    for p in 0..3 {
        let s = blend.plane_shift(p);
        let (x, y, w, h) = region.in_plane(s);
        let a: Vec<f32> = if s == 0 {
            alpha.clone()
        } else {
            (0..w * h)
                .map(|i| {
                    let (cx, cy) = ((i % w) << s, (i / w) << s);
                    let mut sum = 0.0;
                    for dy in 0..1 << s {
                        for dx in 0..1 << s {
                            sum += alpha[(cy + dy).min(rh - 1) * rw + (cx + dx).min(rw - 1)];
                        }
                    }
                    sum / (1 << (2 * s)) as f32
                })
                .collect()
        };
        let unknown: Vec<bool> = a.iter().map(|&a| a >= ALPHA_FLOOR).collect();
        // The fill is linear in the picture: the fill of the mean is the
        // mean of the fills.
        let mut mean_i = vec![0.0f32; w * h];
        for sample in samples {
            for (m, v) in mean_i.iter_mut().zip(read_patch(sample, p, (x, y, w, h))) {
                *m += v;
            }
        }
        let n = samples.len() as f32;
        mean_i.iter_mut().for_each(|m| *m /= n);
        let mut mean_j = mean_i.clone();
        harmonic_fill(&mut mean_j, &unknown, w, h);
        blend.aw[p] = (0..w * h)
            .map(|i| {
                if a[i] < ALPHA_FLOOR {
                    0.0
                } else {
                    mean_i[i] - (1.0 - a[i]) * mean_j[i]
                }
            })
            .collect();
        blend.alpha[p] = a;
    }
    Some(blend)
}

/// Plane 0's alpha over `region`: one minus the ratio of each pixel's
/// spread over time to the spread the picture has there, filled in from
/// the known pixels around (the picture's spread is locally much the
/// same); median-filtered, floored, zero on the region's edge.
fn luma_alpha(samples: &[&Planar], region: Rect, unknown: &[bool]) -> Option<Vec<f32>> {
    let (x, y, w, h) = region.in_plane(0);
    let n = w * h;
    let (mut si, mut sii) = (vec![0.0f64; n], vec![0.0f64; n]);
    for sample in samples {
        let patch = read_patch(sample, 0, (x, y, w, h));
        for i in 0..n {
            let a = f64::from(patch[i]);
            si[i] += a;
            sii[i] += a * a;
        }
    }
    let k = samples.len() as f64;
    let spread_i: Vec<f32> = (0..n)
        .map(|i| ((sii[i] / k - (si[i] / k).powi(2)).max(0.0)).sqrt() as f32)
        .collect();
    let mut around: Vec<f32> = (0..n)
        .filter(|&i| !unknown[i])
        .map(|i| spread_i[i])
        .collect();
    if around.is_empty() {
        return None;
    }
    around.sort_by(f32::total_cmp);
    if around[around.len() / 2] < MIN_SPREAD {
        return None;
    }
    let mut spread_j = spread_i.clone();
    harmonic_fill(&mut spread_j, unknown, w, h);
    let raw: Vec<f32> = (0..n)
        .map(|i| {
            if !unknown[i] || spread_j[i] < MIN_SPREAD / 2.0 {
                0.0
            } else {
                (1.0 - spread_i[i] / spread_j[i]).clamp(0.0, 1.0)
            }
        })
        .collect();
    let mut alpha = median3(&raw, w, h);
    for (i, a) in alpha.iter_mut().enumerate() {
        let (cx, cy) = (i % w, i / w);
        if *a < ALPHA_FLOOR || cx == 0 || cy == 0 || cx + 1 == w || cy + 1 == h {
            *a = 0.0;
        }
    }
    Some(alpha)
}

/// 3×3 median filter (edges use what is inside).
fn median3(values: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0; w * h];
    let mut window = Vec::with_capacity(9);
    for y in 0..h {
        for x in 0..w {
            window.clear();
            for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    window.push(values[yy * w + xx]);
                }
            }
            window.sort_by(f32::total_cmp);
            out[y * w + x] = window[window.len() / 2];
        }
    }
    out
}

/// A square dilation of `mask` by `r`.
pub fn dilate(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let mut rows = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] {
                for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                    rows[y * w + xx] = true;
                }
            }
        }
    }
    let mut out = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if rows[y * w + x] {
                for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                    out[yy * w + x] = true;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured picture that changes with `t`.
    fn picture(t: u32, w: u32, h: u32) -> Planar {
        let rgb = image::RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 7 + y * 3 + t * 37) % 97) as f32 / 97.0;
            let g = 40.0 + 170.0 * v * ((t % 5) as f32 / 4.0 * 0.5 + 0.5);
            image::Rgb([g as u8, (g * 0.8) as u8, (255.0 - g) as u8])
        });
        Planar::from_rgb(&rgb)
    }

    fn stamp(p: &mut Planar, rect: Rect, alpha: f32, colour: [f32; 3]) {
        for (i, c) in colour.iter().enumerate() {
            let (w, _) = p.plane_size(i);
            for y in rect.y..rect.y + rect.h {
                for x in rect.x..rect.x + rect.w {
                    let v = &mut p.planes[i][(y * w + x) as usize];
                    *v = (alpha * c + (1.0 - alpha) * f32::from(*v)).round() as u8;
                }
            }
        }
    }

    #[test]
    fn measures_a_see_through_logo_and_tells_frames_with_it() {
        let logo = Rect {
            x: 20,
            y: 12,
            w: 24,
            h: 14,
        };
        let mut samples = Vec::new();
        for t in 0..24 {
            let mut p = picture(t, 80, 48);
            stamp(&mut p, logo, 0.6, [230.0, 20.0, 40.0]);
            samples.push(p);
        }
        let refs: Vec<&Planar> = samples.iter().collect();
        let blend = estimate(&refs, logo.grown(6, (80, 48))).expect("measured");
        let found = blend.logo_box(0.2).expect("a box");
        assert!(found.iou(logo) > 0.8, "{found:?}");
        assert!((blend.opacity() - 0.6).abs() < 0.12, "{}", blend.opacity());
        assert!(blend.presence(&samples[3]) > 0.5);
        assert!(blend.presence(&picture(3, 80, 48)) < 0.2);
    }

    #[test]
    fn a_still_picture_gives_no_blend() {
        let p = picture(1, 64, 40);
        let refs = vec![&p, &p, &p, &p];
        let rect = Rect {
            x: 10,
            y: 10,
            w: 20,
            h: 10,
        };
        assert!(estimate(&refs, rect.grown(4, (64, 40))).is_none());
    }

    #[test]
    fn fills_a_hole_smoothly() {
        let (w, h) = (10, 6);
        let mut v: Vec<f32> = (0..w * h).map(|i| (i % w) as f32 * 10.0).collect();
        let unknown: Vec<bool> = (0..w * h)
            .map(|i| (3..7).contains(&(i % w)) && (1..5).contains(&(i / w)))
            .collect();
        let truth = v.clone();
        for (x, u) in v.iter_mut().zip(&unknown) {
            if *u {
                *x = 0.0;
            }
        }
        harmonic_fill(&mut v, &unknown, w, h);
        for (a, b) in v.iter().zip(&truth) {
            assert!((a - b).abs() < 1.0, "{a} vs {b}");
        }
    }

    #[test]
    fn rect_geometry() {
        let a = Rect {
            x: 3,
            y: 3,
            w: 10,
            h: 10,
        };
        assert_eq!(
            a.grown(2, (14, 100)),
            Rect {
                x: 0,
                y: 0,
                w: 14,
                h: 16
            }
        );
        assert!((a.iou(a) - 1.0).abs() < 1e-9);
        assert_eq!(
            a.iou(Rect {
                x: 50,
                y: 50,
                w: 2,
                h: 2
            }),
            0.0
        );
    }
}
