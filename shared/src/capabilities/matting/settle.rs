//! Temporal settling of a video's alpha: each pixel keeps part of the last
//! frame's alpha where the picture says it shows the same thing, either in
//! place (the background held still) or moved with the figure (the figure
//! moved). Flicker the solve adds on unchanged content is damped; an edge
//! that really moved is not held back, because the picture under it
//! changed.

/// One frame's luma and (settled) alpha, full resolution.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    /// Luma, one byte per pixel.
    pub luma: &'a [u8],
    /// Alpha, 0–1 per pixel.
    pub alpha: &'a [f32],
}

/// The half-width of the square window the luma difference is averaged
/// over (5×5 pixels).
const WINDOW: usize = 2;
/// Half an 8-bit alpha level.
const HALF_LEVEL: f32 = 0.5 / 255.0;

/// The figure's shift in pixels from `previous` to `luma`: the shift
/// within `reach` pixels of `guess` that best matches the luma under the
/// last figure (alpha above one half, every fourth pixel each way).
pub fn refine(
    previous: Plane<'_>,
    luma: &[u8],
    (w, h): (usize, usize),
    guess: (i32, i32),
    reach: i32,
) -> (i32, i32) {
    let cells: Vec<(i32, i32)> = (0..h)
        .step_by(4)
        .flat_map(|y| (0..w).step_by(4).map(move |x| (x, y)))
        .filter(|&(x, y)| previous.alpha[y * w + x] > 0.5)
        .map(|(x, y)| (x as i32, y as i32))
        .collect();
    if cells.is_empty() {
        return guess;
    }
    let (wi, hi) = (w as i32, h as i32);
    let cost = |dx: i32, dy: i32| {
        let (mut sum, mut n) = (0u64, 0u64);
        for &(x, y) in &cells {
            let (nx, ny) = (x + dx, y + dy);
            if nx >= 0 && ny >= 0 && nx < wi && ny < hi {
                let now = luma[(ny * wi + nx) as usize];
                let was = previous.luma[(y * wi + x) as usize];
                sum += u64::from(now.abs_diff(was));
                n += 1;
            }
        }
        if n * 2 < cells.len() as u64 {
            f64::MAX
        } else {
            sum as f64 / n as f64
        }
    };
    let mut best = (guess, cost(guess.0, guess.1));
    for dy in guess.1 - reach..=guess.1 + reach {
        for dx in guess.0 - reach..=guess.0 + reach {
            let c = cost(dx, dy);
            if c < best.1 - 1e-9 {
                best = ((dx, dy), c);
            }
        }
    }
    best.0
}

/// Blends `alpha` towards the last frame's, in place, where `open` holds
/// (the band the alpha was solved on: what the mask calls sure stays 0
/// or 1): at each pixel the
/// last alpha is read in place or moved by `shift`, whichever's luma
/// (over a 5×5 window) matches the new frame better, and kept with weight
/// `keep·exp(-difference / sigma)` (difference in luma levels).
pub fn settle(
    alpha: &mut [f32],
    open: &[bool],
    luma: &[u8],
    previous: Plane<'_>,
    (w, h): (usize, usize),
    shift: (i32, i32),
    (keep, sigma): (f32, f32),
) {
    // Outside the box around both alphas' figures (widened by the shift
    // and the window) both are 0 and nothing changes.
    let Some((x0, y0, x1, y1)) = figure_box(alpha, previous.alpha, w, h, shift) else {
        return;
    };
    let (bw, bh) = (x1 - x0, y1 - y0);
    let read = |(dx, dy): (i32, i32), x: usize, y: usize| {
        let sx = (x as i32 - dx).clamp(0, w as i32 - 1) as usize;
        let sy = (y as i32 - dy).clamp(0, h as i32 - 1) as usize;
        sy * w + sx
    };
    // Sums of absolute luma differences over the window (integers, so
    // the two readings compare exactly), and the weight for a full
    // window's sum from a table.
    let difference = |s: (i32, i32)| {
        let mut d = Vec::with_capacity(bw * bh);
        for y in y0..y1 {
            for x in x0..x1 {
                let i = y * w + x;
                d.push(u32::from(luma[i].abs_diff(previous.luma[read(s, x, y)])));
            }
        }
        box_sum(&d, bw, bh, WINDOW)
    };
    let still = difference((0, 0));
    let moved = (shift != (0, 0)).then(|| difference(shift));
    let side = 2 * WINDOW + 1;
    let full = (side * side) as u32;
    let weight = |sum: u32, count: u32| keep * (-(sum as f32 / count as f32) / sigma).exp();
    let table: Vec<f32> = (0..=full * 255).map(|sum| weight(sum, full)).collect();
    let span = |k: usize, n: usize| (k + WINDOW).min(n - 1) + 1 - k.saturating_sub(WINDOW);
    for y in y0..y1 {
        let rows = span(y - y0, bh) as u32;
        for x in x0..x1 {
            let (i, j) = (y * w + x, (y - y0) * bw + (x - x0));
            let (sum, s) = match &moved {
                Some(m) if m[j] < still[j] => (m[j], shift),
                _ => (still[j], (0, 0)),
            };
            let last = previous.alpha[read(s, x, y)];
            if last == alpha[i] || !open[i] {
                continue;
            }
            let count = rows * span(x - x0, bw) as u32;
            let k = if count == full {
                table[sum as usize]
            } else {
                weight(sum, count)
            };
            // Within half an 8-bit level of 0 or 1 it is 0 or 1 (the weight
            // never reaches 0, and the figure's colours are re-estimated
            // wherever alpha is fractional).
            let a = (1.0 - k) * alpha[i] + k * last;
            alpha[i] = if a < HALF_LEVEL {
                0.0
            } else if a > 1.0 - HALF_LEVEL {
                1.0
            } else {
                a
            };
        }
    }
}

/// The box `[x0, x1) × [y0, y1)` holding every pixel where `alpha` or
/// `last` (in place or moved by `shift`) is above 0, widened by the
/// window; `None` when both are empty.
fn figure_box(
    alpha: &[f32],
    last: &[f32],
    w: usize,
    h: usize,
    (dx, dy): (i32, i32),
) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (i64::MAX, i64::MAX, i64::MIN, i64::MIN);
    let mut grow = |x: i64, y: i64| {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    };
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if alpha[i] > 0.0 {
                grow(x as i64, y as i64);
            }
            if last[i] > 0.0 {
                grow(x as i64, y as i64);
                grow(x as i64 + i64::from(dx), y as i64 + i64::from(dy));
            }
        }
    }
    if x1 < x0 {
        return None;
    }
    let r = WINDOW as i64;
    let clip = |v: i64, n: usize| v.clamp(0, n as i64) as usize;
    Some((
        clip(x0 - r, w),
        clip(y0 - r, h),
        clip(x1 + r + 1, w),
        clip(y1 + r + 1, h),
    ))
}

/// The sum of `v` over the (2r+1)² window around each pixel (clipped at
/// the borders).
fn box_sum(v: &[u32], w: usize, h: usize, r: usize) -> Vec<u32> {
    let pass = |src: &[u32], len: usize, lines: usize, at: &dyn Fn(usize, usize) -> usize| {
        let mut out = vec![0u32; src.len()];
        for line in 0..lines {
            let mut sum: u32 = (0..len.min(r + 1)).map(|k| src[at(line, k)]).sum();
            for k in 0..len {
                out[at(line, k)] = sum;
                if k + r + 1 < len {
                    sum += src[at(line, k + r + 1)];
                }
                if k >= r {
                    sum -= src[at(line, k - r)];
                }
            }
        }
        out
    };
    let rows = pass(v, w, h, &|y, x| y * w + x);
    pass(&rows, h, w, &|x, y| y * w + x)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 64;
    const H: usize = 48;

    /// A textured square (alpha 1) at `ox`,`oy` over a flat grey.
    fn frame(ox: usize, oy: usize) -> (Vec<u8>, Vec<f32>) {
        let mut luma = vec![128u8; W * H];
        let mut alpha = vec![0f32; W * H];
        for y in oy..oy + 20 {
            for x in ox..ox + 20 {
                let (u, v) = (x - ox, y - oy);
                luma[y * W + x] = ((u * 37 + v * 91) % 97) as u8 + 10;
                alpha[y * W + x] = 1.0;
            }
        }
        (luma, alpha)
    }

    #[test]
    fn the_box_sum_adds_a_clipped_window() {
        let v: Vec<u32> = (0..12).collect();
        let m = box_sum(&v, 4, 3, 1);
        // Corner (0,0): 0+1+4+5.
        assert_eq!(m[0], 10);
        // Centre (1,1): 0+1+2+4+5+6+8+9+10.
        assert_eq!(m[5], 45);
    }

    #[test]
    fn the_shift_is_found_to_the_pixel() {
        let (was, alpha) = frame(10, 10);
        let (now, _) = frame(13, 11);
        let previous = Plane {
            luma: &was,
            alpha: &alpha,
        };
        assert_eq!(refine(previous, &now, (W, H), (4, 0), 2), (3, 1));
    }

    /// A noisy edge on a still square is damped; where the square moved,
    /// the new alpha is the moved old one, not a trail.
    #[test]
    fn still_content_is_damped_and_a_moved_figure_is_not_dragged() {
        let (was, old) = frame(10, 10);
        let previous = Plane {
            luma: &was,
            alpha: &old,
        };
        // Same picture; the solve put 0.5 on a background pixel.
        let mut alpha = old.clone();
        alpha[5 * W + 5] = 0.5;
        settle(
            &mut alpha,
            &[true; W * H],
            &was,
            previous,
            (W, H),
            (0, 0),
            (0.8, 4.0),
        );
        assert!(
            (alpha[5 * W + 5] - 0.1).abs() < 1e-4,
            "{}",
            alpha[5 * W + 5]
        );
        // The square moved 3 right: its new alpha is right, and so it stays.
        let (now, mut moved) = frame(13, 10);
        let right = moved.clone();
        settle(
            &mut moved,
            &[true; W * H],
            &now,
            previous,
            (W, H),
            (3, 0),
            (0.8, 4.0),
        );
        let worst = moved
            .iter()
            .zip(&right)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 0.05, "worst change {worst}");
    }
}
