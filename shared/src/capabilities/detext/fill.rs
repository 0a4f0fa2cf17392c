//! Filling a caption's pixels, frame after frame, over one band of the
//! picture.
//!
//! The band remembers what the picture looked like where no caption
//! covered it, carried along with the camera (a global shift measured from
//! frame to frame on the uncovered pixels; a cut forgets everything). A
//! masked pixel whose remembered background agrees with the frame around
//! it takes that background, corrected by the smooth difference between
//! the two measured on the pixels around the mask (a gradient-domain
//! blend, so no seam shows when the light changed); what was never seen,
//! or no longer fits, is filled from around it (the harmonic fill of the
//! logo remover). Filled values are never remembered, so nothing drifts.
//!
//! A second band fed the frames after one backwards ([`Band::recall`])
//! remembers what comes out from behind the mask later; [`Band::process_with`]
//! weighs the background seen before and after by how near in time each
//! was seen.

use crate::capabilities::delogo::blend::{
    harmonic_fill, interpolate, read_patch, write_patch, Rect,
};
use crate::media::planar::Planar;

use super::mask::subsampled;

/// Largest shift between two frames searched, pixels.
const MAX_SHIFT: i32 = 24;
/// Mean absolute difference (8-bit levels) between aligned frames above
/// which they are taken to be of different shots.
const CUT: f32 = 28.0;
/// Frames a remembered background pixel stays usable (5 s at 24 fps: a
/// still background under captions that follow each other without a gap).
const MAX_AGE: u16 = 120;
/// Mean absolute difference (8-bit levels) between remembered background
/// and frame around a masked pixel above which the background is not
/// trusted there (something moved over it).
const TRUST: f32 = 4.0;
/// Half-size of the window around a masked pixel in which that agreement
/// is measured, beyond the caption's own reach.
const TRUST_WINDOW: usize = 10;
/// Picture around the masked pixels a fill works with, luma pixels.
const FILL_MARGIN: usize = 16;
/// Relaxation sweeps for the correction between background and frame
/// (smooth, so a few are enough after the scanline start).
const DIFF_SWEEPS: usize = 8;
/// Share of the unshifted cost a shift must save to be believed.
const SURE: f32 = 0.25;
/// An age that no longer counts as seen.
const UNSEEN: u16 = u16::MAX;

/// How one frame's caption pixels were filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filled {
    /// Luma pixels filled from remembered background.
    pub temporal: u64,
    /// Luma pixels filled from around.
    pub spatial: u64,
}

/// What a band remembers of the picture behind one frame's mask, per
/// plane ([`Band::recall`]).
#[derive(Debug, Clone, Default)]
pub struct Recalled {
    planes: [Option<Candidate>; 3],
}

/// The background remembered behind the masked pixels of one plane, over
/// the patch the fill works on.
#[derive(Debug, Clone)]
struct Candidate {
    /// `(x, y, w, h)` in the plane.
    patch: (usize, usize, usize, usize),
    /// The masked pixels of the patch.
    masked: Vec<bool>,
    /// The background there, corrected to the frame.
    values: Vec<f32>,
    /// Frames since (or until) it was seen; [`UNSEEN`] where not usable.
    ages: Vec<u16>,
}

/// Frames added to how long ago (or ahead) a background pixel was seen
/// before weighing it by the inverse: the background seen 1 frame away
/// weighs a fifth more than 2 frames away, not twice as much (1, 4, 16
/// and equal weights gave 23.36, 23.36, 23.35 and 23.30 dB on the English
/// dev video).
const NEAR: f32 = 4.0;

/// One band of the frame and what its background looked like.
#[derive(Debug, Clone)]
pub struct Band {
    rect: Rect,
    shift: u32,
    /// Remembered background, per plane, at that plane's resolution.
    background: [Vec<u8>; 3],
    /// Frames since each remembered pixel was seen.
    age: [Vec<u16>; 3],
    /// The most the picture around each remembered luma pixel changed in
    /// one frame since it was seen (8-bit levels): how stale it may be.
    change: Vec<f32>,
    /// The previous frame's luma and which of its pixels were masked.
    previous: Option<(Vec<u8>, Vec<bool>)>,
    /// Half the side of the window over which a fill is checked.
    window: usize,
}

impl Band {
    /// A band over `rect` (even corners) of pictures with chroma
    /// subsampling `shift`; `reach` is how far a caption's mask reaches
    /// from its strokes.
    pub fn new(rect: Rect, shift: u32, reach: usize) -> Self {
        let sizes = [0, 1, 2].map(|p| {
            let (_, _, w, h) = rect.in_plane(if p == 0 { 0 } else { shift });
            w * h
        });
        Self {
            rect,
            shift,
            background: sizes.map(|n| vec![0; n]),
            age: sizes.map(|n| vec![UNSEEN; n]),
            change: vec![f32::INFINITY; sizes[0]],
            previous: None,
            window: reach + TRUST_WINDOW,
        }
    }

    /// A band over the same rectangle that remembers nothing yet.
    pub fn fresh(&self) -> Self {
        Self::new(self.rect, self.shift, self.window - TRUST_WINDOW)
    }

    /// The band's rectangle.
    pub fn rect(&self) -> Rect {
        self.rect
    }

    fn patch(&self, p: usize) -> (usize, usize, usize, usize) {
        self.rect.in_plane(if p == 0 { 0 } else { self.shift })
    }

    /// Takes in the next frame: `mask` (band-sized, luma resolution) marks
    /// the caption's pixels, which are filled; the rest is remembered.
    pub fn process(&mut self, picture: &mut Planar, mask: Option<&[bool]>) -> Filled {
        let (_, _, w, h) = self.patch(0);
        let current = self.luma(picture);
        let empty = vec![false; w * h];
        let m = mask.unwrap_or(&empty);
        let motion = self
            .previous
            .as_ref()
            .and_then(|(p, pm)| motion(p, pm, &current, m, w, h));
        self.previous = Some((current, m.to_vec()));
        self.process_with(picture, mask, motion, None)
    }

    /// The band's luma in `picture`, row-major.
    pub fn luma(&self, picture: &Planar) -> Vec<u8> {
        read_bytes(picture, 0, self.patch(0))
    }

    /// [`Band::process`] given the `motion` from the frame before
    /// ([`motion`]), and what another band, fed the frames after this one
    /// in reverse, `recalled` of the picture behind the same mask: each
    /// masked pixel takes the background seen before and after, weighted
    /// by how near in time each was seen.
    pub fn process_with(
        &mut self,
        picture: &mut Planar,
        mask: Option<&[bool]>,
        motion: Option<Motion>,
        recalled: Option<&Recalled>,
    ) -> Filled {
        let own = self.recall(picture, mask, motion, true);
        let mut filled = Filled::default();
        for (p, cand) in own.planes.iter().enumerate() {
            let Some(cand) = cand else {
                continue;
            };
            let other = recalled
                .and_then(|r| r.planes[p].as_ref())
                .filter(|o| o.patch == cand.patch);
            let f = self.fill_plane(picture, p, cand, other);
            if p == 0 {
                filled = f;
            }
        }
        filled
    }

    /// Takes in the next frame as [`Band::process`] does, without changing
    /// it: what the band remembers of the picture behind the mask (when
    /// `wanted`).
    pub fn recall(
        &mut self,
        picture: &Planar,
        mask: Option<&[bool]>,
        motion: Option<Motion>,
        wanted: bool,
    ) -> Recalled {
        let (_, _, w, h) = self.patch(0);
        let current = self.luma(picture);
        let empty = vec![false; w * h];
        let mask = mask.unwrap_or(&empty);
        self.follow(motion);
        let mut recalled = Recalled::default();
        if mask.iter().any(|&m| m) {
            // Measured even when not wanted: how stale each remembered
            // pixel is carries over to the next frame.
            let trusted = self.trusted(&current, mask, w, h);
            if wanted {
                let (cm, _, _) = subsampled(mask, w, h, self.shift);
                let (ct, _, _) = subsampled(&trusted, w, h, self.shift);
                for (p, slot) in recalled.planes.iter_mut().enumerate() {
                    let (pm, pt) = if p == 0 {
                        (mask, trusted.as_slice())
                    } else {
                        (cm.as_slice(), ct.as_slice())
                    };
                    *slot = self.candidate(picture, p, pm, pt);
                }
            }
        }
        self.remember(picture, mask);
        recalled
    }

    /// Moves the remembered background with the camera by `motion` (none
    /// measured: it stays); forgets it on a cut.
    fn follow(&mut self, motion: Option<Motion>) {
        for ages in &mut self.age {
            for a in ages.iter_mut() {
                *a = a.saturating_add(1);
            }
        }
        let Some(Motion { dx, dy, cost }) = motion else {
            return;
        };
        if cost > CUT {
            for ages in &mut self.age {
                ages.fill(UNSEEN);
            }
            return;
        }
        if dx == 0 && dy == 0 {
            return;
        }
        for p in 0..3 {
            let s = if p == 0 { 0 } else { self.shift };
            let (_, _, pw, ph) = self.patch(p);
            let by = (dx >> s, dy >> s);
            self.background[p] = shifted(&self.background[p], (pw, ph), by, 0);
            self.age[p] = shifted(&self.age[p], (pw, ph), by, UNSEEN);
        }
        let (_, _, pw, ph) = self.patch(0);
        self.change = shifted(&self.change, (pw, ph), (dx, dy), f32::INFINITY);
    }

    /// Masked luma pixels whose remembered background agrees with the
    /// frame around them.
    fn trusted(&mut self, current: &[u8], mask: &[bool], w: usize, h: usize) -> Vec<bool> {
        let mut trusted = vec![false; w * h];
        let Some((mx0, my0, mx1, my1)) = bounds(mask, w, h) else {
            return trusted;
        };
        let (bg, age) = (&self.background[0], &self.age[0]);
        let r = self.window;
        // Integral images of |frame − background| and of the pixels where
        // both are known, over the unmasked pixels within a window of the
        // masked ones.
        let (ex0, ey0) = (mx0.saturating_sub(r), my0.saturating_sub(r));
        let (ex1, ey1) = ((mx1 + r).min(w), (my1 + r).min(h));
        let ew = ex1 - ex0;
        let stride = ew + 1;
        let mut sum = vec![0u64; stride * (ey1 - ey0 + 1)];
        let mut count = vec![0u32; stride * (ey1 - ey0 + 1)];
        for y in ey0..ey1 {
            let (mut rs, mut rc) = (0u64, 0u32);
            let o = (y - ey0 + 1) * stride + 1;
            for x in ex0..ex1 {
                let i = y * w + x;
                if !mask[i] && age[i] <= MAX_AGE {
                    rs += u64::from(current[i].abs_diff(bg[i]));
                    rc += 1;
                }
                let o = o + x - ex0;
                sum[o] = sum[o - stride] + rs;
                count[o] = count[o - stride] + rc;
            }
        }
        let min_known = (r * r / 2) as u32;
        let at = |x: usize, y: usize| (y - ey0) * stride + x - ex0;
        for y in my0..my1 {
            let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
            for x in mx0..mx1 {
                let i = y * w + x;
                if !mask[i] || age[i] > MAX_AGE {
                    continue;
                }
                let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
                let n =
                    count[at(x1, y1)] + count[at(x0, y0)] - count[at(x1, y0)] - count[at(x0, y1)];
                let s = sum[at(x1, y1)] + sum[at(x0, y0)] - sum[at(x1, y0)] - sum[at(x0, y1)];
                // The picture around changed this much since last frame
                // (unmeasurable: as much as it can).
                let now = if n >= min_known {
                    s as f32 / n as f32
                } else {
                    f32::INFINITY
                };
                self.change[i] = self.change[i].max(now);
                trusted[i] = self.change[i] <= TRUST;
            }
        }
        trusted
    }

    /// What the band remembers behind the masked pixels of plane `p`:
    /// trusted ones from the remembered background plus the smooth
    /// correction. Works on the masked pixels' bounding box with a margin.
    fn candidate(
        &self,
        picture: &Planar,
        p: usize,
        mask: &[bool],
        trusted: &[bool],
    ) -> Option<Candidate> {
        let (px, py, pw, ph) = self.patch(p);
        let (x0, y0, x1, y1) = bounds(mask, pw, ph)?;
        let margin = if p == 0 {
            FILL_MARGIN
        } else {
            FILL_MARGIN >> self.shift
        };
        let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
        let (x1, y1) = ((x1 + margin).min(pw), (y1 + margin).min(ph));
        let (w, h) = (x1 - x0, y1 - y0);
        let patch = (px + x0, py + y0, w, h);
        // The band's index of each pixel of the patch.
        let at: Vec<usize> = (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| y * pw + x))
            .collect();
        let values = read_patch(picture, p, patch);
        let (bg, age) = (&self.background[p], &self.age[p]);
        let masked: Vec<bool> = at.iter().map(|&j| mask[j]).collect();
        let ages: Vec<u16> = at
            .iter()
            .zip(&masked)
            .map(|(&j, &m)| {
                if m && trusted[j] && age[j] <= MAX_AGE {
                    age[j]
                } else {
                    UNSEEN
                }
            })
            .collect();
        let mut recalled = vec![0.0; w * h];
        if ages.iter().any(|&a| a != UNSEEN) {
            // The difference between frame and background where both show,
            // spread smoothly over the rest.
            let mut diff: Vec<f32> = at
                .iter()
                .zip(&values)
                .map(|(&j, &v)| v - f32::from(bg[j]))
                .collect();
            let unknown: Vec<bool> = at
                .iter()
                .zip(&masked)
                .map(|(&j, &m)| m || age[j] > MAX_AGE)
                .collect();
            if unknown.iter().all(|&u| u) {
                diff.fill(0.0);
            } else {
                smooth_fill(&mut diff, &unknown, w, h);
            }
            for i in 0..w * h {
                if ages[i] != UNSEEN {
                    recalled[i] = f32::from(bg[at[i]]) + diff[i];
                }
            }
        }
        Some(Candidate {
            patch,
            masked,
            values: recalled,
            ages,
        })
    }

    /// Fills the masked pixels of plane `p` over `own`'s patch: from the
    /// background seen before (`own`) and after (`other`), weighted by
    /// how near in time each was seen, the rest from around.
    fn fill_plane(
        &self,
        picture: &mut Planar,
        p: usize,
        own: &Candidate,
        other: Option<&Candidate>,
    ) -> Filled {
        let (_, _, w, h) = own.patch;
        let mut values = read_patch(picture, p, own.patch);
        let mut filled = Filled::default();
        let mut spatial = vec![false; w * h];
        for i in 0..w * h {
            if !own.masked[i] {
                continue;
            }
            let (mut sum, mut weight) = (0.0f32, 0.0f32);
            for c in std::iter::once(own).chain(other) {
                if c.ages[i] != UNSEEN {
                    let k = 1.0 / (f32::from(c.ages[i]) + NEAR);
                    sum += k * c.values[i];
                    weight += k;
                }
            }
            if weight > 0.0 {
                values[i] = sum / weight;
                filled.temporal += 1;
            } else {
                spatial[i] = true;
                filled.spatial += 1;
            }
        }
        if filled.spatial > 0 {
            harmonic_fill(&mut values, &spatial, w, h);
        }
        write_patch(picture, p, own.patch, &values, |i| own.masked[i]);
        filled
    }

    /// Remembers the unmasked pixels of the frame as background.
    fn remember(&mut self, picture: &Planar, mask: &[bool]) {
        let (_, _, w, h) = self.patch(0);
        let (chroma, _, _) = subsampled(mask, w, h, self.shift);
        for p in 0..3 {
            let pm = if p == 0 { mask } else { chroma.as_slice() };
            let values = read_bytes(picture, p, self.patch(p));
            for (i, v) in values.into_iter().enumerate() {
                if !pm[i] {
                    self.background[p][i] = v;
                    self.age[p][i] = 0;
                    if p == 0 {
                        self.change[i] = 0.0;
                    }
                }
            }
        }
    }
}

/// Side of the cells over which the correction between background and
/// frame is solved: it is smooth, so a coarse grid carries it.
const DIFF_CELL: usize = 4;

/// Fills the `unknown` values of a smooth `w`×`h` field from the known
/// ones: solved on a grid of [`DIFF_CELL`]-pixel cells (each the mean of
/// its known values, unknown where it has none), then read back
/// bilinearly at the unknown pixels.
fn smooth_fill(values: &mut [f32], unknown: &[bool], w: usize, h: usize) {
    let (cw, ch) = (w.div_ceil(DIFF_CELL), h.div_ceil(DIFF_CELL));
    if cw < 3 || ch < 3 {
        interpolate(values, unknown, w, h, DIFF_SWEEPS);
        return;
    }
    let mut sum = vec![0.0f32; cw * ch];
    let mut count = vec![0u32; cw * ch];
    for i in 0..w * h {
        if !unknown[i] {
            let c = (i / w / DIFF_CELL) * cw + (i % w) / DIFF_CELL;
            sum[c] += values[i];
            count[c] += 1;
        }
    }
    let coarse_unknown: Vec<bool> = count.iter().map(|&n| n == 0).collect();
    for (s, &n) in sum.iter_mut().zip(&count) {
        if n > 0 {
            *s /= n as f32;
        }
    }
    interpolate(&mut sum, &coarse_unknown, cw, ch, DIFF_SWEEPS);
    // A cell's value stands at its centre.
    let at = |v: usize, cells: usize| -> (usize, usize, f32) {
        let f = ((v as f32 + 0.5) / DIFF_CELL as f32 - 0.5).clamp(0.0, (cells - 1) as f32);
        let lo = f.floor() as usize;
        (lo, (lo + 1).min(cells - 1), f - lo as f32)
    };
    for y in 0..h {
        let (y0, y1, fy) = at(y, ch);
        for x in 0..w {
            let i = y * w + x;
            if !unknown[i] {
                continue;
            }
            let (x0, x1, fx) = at(x, cw);
            let top = sum[y0 * cw + x0] * (1.0 - fx) + sum[y0 * cw + x1] * fx;
            let bottom = sum[y1 * cw + x0] * (1.0 - fx) + sum[y1 * cw + x1] * fx;
            values[i] = top * (1.0 - fy) + bottom * fy;
        }
    }
}

/// How the picture moved from one frame to the next: a whole-pixel shift
/// and the mean absolute difference it leaves (above [`CUT`]: a cut).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    pub dx: i32,
    pub dy: i32,
    pub cost: f32,
}

impl Motion {
    /// The same motion played backwards.
    pub fn reversed(self) -> Self {
        Self {
            dx: -self.dx,
            dy: -self.dy,
            ..self
        }
    }
}

/// The motion from one band's luma (`previous`, with its mask) to the
/// next's, measured on the pixels neither mask covers.
pub fn motion(
    previous: &[u8],
    previous_mask: &[bool],
    current: &[u8],
    mask: &[bool],
    w: usize,
    h: usize,
) -> Option<Motion> {
    let usable: Vec<bool> = mask
        .iter()
        .zip(previous_mask)
        .map(|(&a, &b)| !a && !b)
        .collect();
    global_shift(previous, current, &usable, w, h).map(|(dx, dy, cost)| Motion { dx, dy, cost })
}

/// A `w`×`h` picture moved by (`dx`, `dy`); what comes in from outside
/// is `outside`.
fn shifted<T: Copy>(
    values: &[T],
    (w, h): (usize, usize),
    (dx, dy): (i32, i32),
    outside: T,
) -> Vec<T> {
    let mut out = vec![outside; w * h];
    for y in 0..h {
        let from_y = y as i32 - dy;
        if !(0..h as i32).contains(&from_y) {
            continue;
        }
        for x in 0..w {
            let from_x = x as i32 - dx;
            if (0..w as i32).contains(&from_x) {
                out[y * w + x] = values[from_y as usize * w + from_x as usize];
            }
        }
    }
    out
}

/// The `(x, y, w, h)` patch of plane `p`, row-major bytes.
fn read_bytes(picture: &Planar, p: usize, (x, y, w, h): (usize, usize, usize, usize)) -> Vec<u8> {
    let (pw, _) = picture.plane_size(p);
    let plane = &picture.planes[p];
    let mut out = Vec::with_capacity(w * h);
    for row in y..y + h {
        let s = row * pw as usize + x;
        out.extend_from_slice(&plane[s..s + w]);
    }
    out
}

/// The bounding box `(x0, y0, x1, y1)` (ends exclusive) of the set
/// pixels of a `w`×`h` mask.
fn bounds(mask: &[bool], w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] {
                b = Some(b.map_or((x, y, x + 1, y + 1), |(x0, y0, x1, y1)| {
                    (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1))
                }));
            }
        }
    }
    b
}

/// A picture at half the size, with its usable pixels (all four usable).
fn halve(values: &[u8], usable: &[bool], w: usize, h: usize) -> (Vec<u8>, Vec<bool>, usize, usize) {
    let (hw, hh) = (w / 2, h / 2);
    let mut v = vec![0u8; hw * hh];
    let mut u = vec![false; hw * hh];
    for y in 0..hh {
        for x in 0..hw {
            let i = 2 * y * w + 2 * x;
            let s = u16::from(values[i])
                + u16::from(values[i + 1])
                + u16::from(values[i + w])
                + u16::from(values[i + w + 1]);
            v[y * hw + x] = (s / 4) as u8;
            u[y * hw + x] = usable[i] && usable[i + 1] && usable[i + w] && usable[i + w + 1];
        }
    }
    (v, u, hw, hh)
}

/// Mean absolute difference between `to` and `from` shifted by
/// (`dx`, `dy`) over the pixels usable in both; `None` when too few
/// overlap.
fn cost(
    from: &[u8],
    to: &[u8],
    usable: &[bool],
    w: usize,
    h: usize,
    (dx, dy): (i32, i32),
    rows: usize,
) -> Option<f32> {
    let (mut s, mut n) = (0u64, 0u64);
    // The columns where both `x` and `x − dx` are inside.
    let (x0, x1) = (dx.max(0) as usize, (w as i32 + dx.min(0)).max(0) as usize);
    if x0 >= x1 {
        return None;
    }
    for y in (0..h).step_by(rows) {
        let fy = y as i32 - dy;
        if fy < 0 || fy >= h as i32 {
            continue;
        }
        let (i, j) = (y * w + x0, fy as usize * w + (x0 as i32 - dx) as usize);
        let len = x1 - x0;
        let (mut rs, mut rn) = (0u32, 0u32);
        for (((&t, &f), &ut), &uf) in to[i..i + len]
            .iter()
            .zip(&from[j..j + len])
            .zip(&usable[i..i + len])
            .zip(&usable[j..j + len])
        {
            let both = u32::from(ut & uf);
            rs += both * u32::from(t.abs_diff(f));
            rn += both;
        }
        s += u64::from(rs);
        n += u64::from(rn);
    }
    (n * 4 * rows as u64 >= (w * h) as u64).then(|| s as f32 / n as f32)
}

/// The shift (`dx`, `dy`) that carries `from` onto `to` (`to(x, y) ≈
/// from(x − dx, y − dy)`), searched coarse to fine over the `usable`
/// pixels, with its mean absolute difference.
pub fn global_shift(
    from: &[u8],
    to: &[u8],
    usable: &[bool],
    w: usize,
    h: usize,
) -> Option<(i32, i32, f32)> {
    // Pyramid: full size down to an eighth.
    let mut levels = vec![(from.to_vec(), to.to_vec(), usable.to_vec(), w, h)];
    for _ in 0..3 {
        let (f, t, u, lw, lh) = levels.last()?;
        if *lw < 32 || *lh < 16 {
            break;
        }
        let (hf, hu, hw, hh) = halve(f, u, *lw, *lh);
        let (ht, _, _, _) = halve(t, u, *lw, *lh);
        levels.push((hf, ht, hu, hw, hh));
    }
    let top = levels.len() - 1;
    let mut best: Option<(i32, i32, f32)> = None;
    for (level, (f, t, u, lw, lh)) in levels.iter().enumerate().rev() {
        let (centre, radius) = match best {
            None => ((0, 0), MAX_SHIFT >> top),
            Some((x, y, _)) => ((2 * x, 2 * y), 1),
        };
        let mut found: Option<(i32, i32, f32)> = None;
        for dy in centre.1 - radius..=centre.1 + radius {
            for dx in centre.0 - radius..=centre.0 + radius {
                // At full size every other row is enough.
                let rows = if level == 0 { 2 } else { 1 };
                let Some(c) = cost(f, t, u, *lw, *lh, (dx, dy), rows) else {
                    continue;
                };
                // Ties go to the smaller shift.
                let c = c + 0.01 * (dx.abs() + dy.abs()) as f32;
                if found.is_none_or(|(_, _, b)| c < b) {
                    found = Some((dx, dy, c));
                }
            }
        }
        best = found.or(best.map(|(x, y, c)| (2 * x, 2 * y, c)));
        if level == 0 {
            break;
        }
    }
    // A shift must explain the motion clearly better than none: over a
    // dark or flat picture every shift costs about the same.
    let (dx, dy, c) = best?;
    if (dx, dy) != (0, 0) {
        if let Some(still) = cost(from, to, usable, w, h, (0, 0), 2) {
            if still - c < SURE * still.max(1.0) {
                return Some((0, 0, still));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured picture seen through a camera at (`ox`, `oy`).
    fn view(ox: i32, oy: i32, w: u32, h: u32) -> Planar {
        let rgb = image::RgbImage::from_fn(w, h, |x, y| {
            let (u, v) = ((x as i32 + ox) as f32, (y as i32 + oy) as f32);
            let g = 128.0
                + 60.0 * (u * 0.21).sin() * (v * 0.13).cos()
                + 30.0 * (u * 0.05 + v * 0.07).sin();
            image::Rgb([g as u8, (255.0 - g) as u8, (g * 0.5) as u8])
        });
        Planar::from_rgb(&rgb)
    }

    #[test]
    fn the_shift_between_two_views_is_found() {
        let (w, h) = (160u32, 64u32);
        let a = view(0, 0, w, h);
        let b = view(-5, 3, w, h);
        let usable = vec![true; (w * h) as usize];
        let (dx, dy, c) = global_shift(&a.planes[0], &b.planes[0], &usable, w as usize, h as usize)
            .expect("found");
        assert_eq!((dx, dy), (5, -3), "cost {c}");
        assert!(c < 2.0, "{c}");
    }

    #[test]
    fn a_dark_flat_picture_gives_no_shift() {
        // Near-black frames with a little coding noise: any shift costs
        // about as much as none.
        let (w, h) = (160usize, 64usize);
        let noise = |seed: u64| -> Vec<u8> {
            let mut x = seed;
            (0..w * h)
                .map(|_| {
                    // xorshift64
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (16 + x % 9) as u8
                })
                .collect()
        };
        let usable = vec![true; w * h];
        for seed in 1..40 {
            let found =
                global_shift(&noise(seed), &noise(seed + 100), &usable, w, h).expect("measured");
            assert_eq!((found.0, found.1), (0, 0), "seed {seed}: {found:?}");
        }
    }

    #[test]
    fn a_panning_background_fills_the_caption_from_earlier_frames() {
        let (w, h) = (192u32, 64u32);
        let rect = Rect { x: 0, y: 0, w, h };
        let mut band = Band::new(rect, 0, 4);
        let mask: Vec<bool> = (0..(w * h) as usize)
            .map(|i| {
                let (x, y) = (i % w as usize, i / w as usize);
                (70..130).contains(&x) && (24..40).contains(&y)
            })
            .collect();
        let mut last = Filled::default();
        let mut error = 0.0;
        for t in 0..12 {
            let truth = view(-4 * t, 0, w, h);
            let mut picture = truth.clone();
            // The caption: white over its box, from frame 6 on.
            if t >= 6 {
                for (i, &m) in mask.iter().enumerate() {
                    if m {
                        picture.planes[0][i] = 255;
                    }
                }
            }
            last = band.process(&mut picture, (t >= 6).then_some(mask.as_slice()));
            if t >= 6 {
                let (s, n) = mask.iter().enumerate().filter(|(_, &m)| m).fold(
                    (0.0, 0.0),
                    |(s, n), (i, _)| {
                        (
                            s + (f64::from(picture.planes[0][i]) - f64::from(truth.planes[0][i]))
                                .abs(),
                            n + 1.0,
                        )
                    },
                );
                error = s / n;
            }
        }
        // Before the caption came, the pan showed all it covers.
        assert!(last.temporal == 960 && last.spatial == 0, "{last:?}");
        assert!(error < 3.0, "mean error {error}");
    }

    #[test]
    fn a_caption_from_a_shots_first_frame_is_filled_from_the_frames_after_it() {
        let (w, h) = (192u32, 64u32);
        let (wu, hu) = (w as usize, h as usize);
        let rect = Rect { x: 0, y: 0, w, h };
        let mask: Vec<bool> = (0..wu * hu)
            .map(|i| (70..130).contains(&(i % wu)) && (24..40).contains(&(i / wu)))
            .collect();
        let empty = vec![false; wu * hu];
        // A pan; the caption over the first four frames only.
        let truths: Vec<Planar> = (0..12).map(|t| view(-4 * t, 0, w, h)).collect();
        let masks: Vec<&[bool]> = (0..12)
            .map(|t| {
                if t < 4 {
                    mask.as_slice()
                } else {
                    empty.as_slice()
                }
            })
            .collect();
        let pictures: Vec<Planar> = truths
            .iter()
            .zip(&masks)
            .map(|(truth, m)| {
                let mut p = truth.clone();
                for (i, _) in m.iter().enumerate().filter(|(_, &on)| on) {
                    p.planes[0][i] = 255;
                }
                p
            })
            .collect();
        let motions: Vec<Option<Motion>> = (0..12)
            .map(|t| {
                (t > 0)
                    .then(|| {
                        let (a, b) = (&pictures[t - 1].planes[0], &pictures[t].planes[0]);
                        motion(a, masks[t - 1], b, masks[t], wu, hu)
                    })
                    .flatten()
            })
            .collect();
        let mut back = Band::new(rect, 0, 4);
        let mut after = Vec::new();
        for t in (0..12).rev() {
            let m = motions.get(t + 1).copied().flatten().map(Motion::reversed);
            after.push(back.recall(&pictures[t], Some(masks[t]), m, true));
        }
        after.reverse();

        let mut alone = pictures[0].clone();
        let before_only = Band::new(rect, 0, 4).process(&mut alone, Some(&mask));
        assert_eq!(before_only.temporal, 0, "nothing was seen before");

        let mut both = pictures[0].clone();
        let filled =
            Band::new(rect, 0, 4).process_with(&mut both, Some(&mask), None, Some(&after[0]));
        assert!(filled.temporal == 960 && filled.spatial == 0, "{filled:?}");
        let error = |p: &Planar| {
            let masked = mask.iter().enumerate().filter(|(_, &m)| m);
            masked
                .map(|(i, _)| f64::from(p.planes[0][i].abs_diff(truths[0].planes[0][i])))
                .sum::<f64>()
                / 960.0
        };
        assert!(error(&both) < 3.0, "mean error {}", error(&both));
        assert!(
            error(&both) * 2.0 < error(&alone),
            "{} vs {}",
            error(&both),
            error(&alone)
        );
    }

    #[test]
    fn a_smooth_correction_is_carried_across_a_hole_on_the_coarse_grid() {
        // A light ramp over 120×40 with a caption-shaped hole in it.
        let (w, h) = (120, 40);
        let ramp = |i: usize| 0.2 * (i % w) as f32 - 0.3 * (i / w) as f32;
        let unknown: Vec<bool> = (0..w * h)
            .map(|i| (20..100).contains(&(i % w)) && (12..30).contains(&(i / w)))
            .collect();
        let mut field: Vec<f32> = (0..w * h)
            .map(|i| if unknown[i] { 99.0 } else { ramp(i) })
            .collect();
        smooth_fill(&mut field, &unknown, w, h);
        let worst = (0..w * h)
            .filter(|&i| unknown[i])
            .map(|i| (field[i] - ramp(i)).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.5, "off the ramp by {worst}");
        let kept = (0..w * h)
            .filter(|&i| !unknown[i])
            .all(|i| field[i] == ramp(i));
        assert!(kept, "known values are left as they were");
    }

    #[test]
    fn a_static_background_is_brought_back_exactly() {
        let (w, h) = (96u32, 48u32);
        let rect = Rect { x: 0, y: 0, w, h };
        let mut band = Band::new(rect, 0, 4);
        let truth = view(0, 0, w, h);
        let mask: Vec<bool> = (0..(w * h) as usize)
            .map(|i| (30..60).contains(&(i % 96)) && (20..30).contains(&(i / 96)))
            .collect();
        let mut clean = truth.clone();
        band.process(&mut clean, None);
        let mut captioned = truth.clone();
        for (i, &m) in mask.iter().enumerate() {
            if m {
                captioned.planes[0][i] = 250;
                captioned.planes[1][i] = 10;
            }
        }
        let f = band.process(&mut captioned, Some(&mask));
        assert_eq!(f.spatial, 0);
        assert_eq!(captioned, truth);
    }
}
