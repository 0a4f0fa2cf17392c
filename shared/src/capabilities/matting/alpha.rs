//! From a coarse person probability to a soft alpha at full resolution: an
//! automatic trimap (sure figure, sure background, and an uncertain band
//! along the coarse edge), then closed-form matting (Levin, Lischinski and
//! Weiss, "A Closed-Form Solution to Natural Image Matting", 2008) on the
//! band only: the alpha that is locally a linear function of the colour in
//! every 3×3 window, pinned to 0 and 1 outside the band. Hair strands and
//! motion blur come out fractional because the colour says so, not because
//! the edge is blurred.
//!
//! The system is solved matrix-free by conjugate gradients with a Jacobi
//! preconditioner, starting from a guess (the coarse alpha, or for video the
//! previous frame's alpha), so a frame that changed little needs few
//! iterations. The arithmetic is in f64: with so small a regularisation,
//! the inverse covariance of a window of nearly flat colour is large, and
//! f32 loses the differences it multiplies.

use image::RgbImage;

/// Trimap labels.
pub const BACKGROUND: u8 = 0;
/// Trimap labels.
pub const UNKNOWN: u8 = 128;
/// Trimap labels.
pub const FOREGROUND: u8 = 255;

/// Regularisation of the colour covariance in each window (the value of
/// Levin et al. and pymatting for colours in 0–1).
const EPSILON: f64 = 1e-7;

/// The trimap of `coarse` (`w`×`h` probabilities): pixels within `band`
/// pixels (chamfer distance) of the 0.5 contour are unknown, the rest sure
/// figure or sure background.
pub fn trimap(coarse: &[f32], w: usize, h: usize, band: u32) -> Vec<u8> {
    let inside: Vec<bool> = coarse.iter().map(|&p| p > 0.5).collect();
    // Distance (in thirds of a pixel: 3 straight, 4 diagonal) to the
    // nearest pixel on the other side.
    let far = u32::MAX / 2;
    let mut dist = vec![far; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let edge = [(1, 0), (0, 1)].iter().any(|&(dx, dy)| {
                let (nx, ny) = (x + dx, y + dy);
                nx < w && ny < h && inside[ny * w + nx] != inside[i]
            }) || (x > 0 && inside[i - 1] != inside[i])
                || (y > 0 && inside[i - w] != inside[i]);
            if edge {
                dist[i] = 0;
            }
        }
    }
    chamfer(&mut dist, w, h);
    let limit = band.saturating_mul(3);
    dist.iter()
        .zip(&inside)
        .map(|(&d, &fg)| {
            if d < limit {
                UNKNOWN
            } else if fg {
                FOREGROUND
            } else {
                BACKGROUND
            }
        })
        .collect()
}

/// Two-pass 3-4 chamfer distance transform in place (0 = seed; 3 per
/// straight step, 4 per diagonal one).
pub(crate) fn chamfer(d: &mut [u32], w: usize, h: usize) {
    let step = |d: &[u32], i: usize, c: u32| d[i].saturating_add(c);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let mut v = d[i];
            if x > 0 {
                v = v.min(step(d, i - 1, 3));
            }
            if y > 0 {
                v = v.min(step(d, i - w, 3));
                if x > 0 {
                    v = v.min(step(d, i - w - 1, 4));
                }
                if x + 1 < w {
                    v = v.min(step(d, i - w + 1, 4));
                }
            }
            d[i] = v;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            let mut v = d[i];
            if x + 1 < w {
                v = v.min(step(d, i + 1, 3));
            }
            if y + 1 < h {
                v = v.min(step(d, i + w, 3));
                if x + 1 < w {
                    v = v.min(step(d, i + w + 1, 4));
                }
                if x > 0 {
                    v = v.min(step(d, i + w - 1, 4));
                }
            }
            d[i] = v;
        }
    }
}

/// One 3×3 window of the matting Laplacian: its top-left pixel (index in
/// the region), colour mean and inverse regularised covariance (symmetric:
/// xx, xy, xz, yy, yz, zz).
#[derive(Debug, Clone, Copy)]
struct Window {
    at: u32,
    mean: [f64; 3],
    inv: [f64; 6],
}

/// How hard to solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Solve {
    /// At most this many conjugate-gradient iterations.
    pub iterations: usize,
    /// Stop when the residual falls below this share of the first one.
    pub tolerance: f32,
}

/// The closed-form alpha of `image` under `trimap`, starting from `guess`
/// (one value per pixel; sure pixels are taken from the trimap). Returns
/// the alpha of every pixel, 0–1.
pub fn closed_form(image: &RgbImage, trimap: &[u8], guess: &[f32], solve: Solve) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut alpha: Vec<f32> = trimap
        .iter()
        .zip(guess)
        .map(|(&t, &g)| match t {
            FOREGROUND => 1.0,
            BACKGROUND => 0.0,
            _ => g.clamp(0.0, 1.0),
        })
        .collect();
    // The region: unknown pixels' bounding box, one pixel wider.
    let Some((x0, y0, x1, y1)) = bounds(trimap, w, h) else {
        return alpha;
    };
    let (x0, y0) = (x0.saturating_sub(1), y0.saturating_sub(1));
    let (x1, y1) = ((x1 + 2).min(w), (y1 + 2).min(h));
    let (rw, rh) = (x1 - x0, y1 - y0);
    if rw < 3 || rh < 3 {
        return alpha;
    }
    let n = rw * rh;
    let raw = image.as_raw();
    let mut colour = vec![[0f64; 3]; n];
    let mut unknown = vec![false; n];
    let mut x = vec![0f64; n];
    for ry in 0..rh {
        for rx in 0..rw {
            let (gx, gy) = (x0 + rx, y0 + ry);
            let g = gy * w + gx;
            let r = ry * rw + rx;
            for c in 0..3 {
                colour[r][c] = f64::from(raw[g * 3 + c]) / 255.0;
            }
            unknown[r] = trimap[g] == UNKNOWN;
            x[r] = f64::from(alpha[g]);
        }
    }
    let windows = windows(&colour, &unknown, rw, rh);
    if windows.is_empty() {
        return alpha;
    }
    // The diagonal (Jacobi preconditioner).
    let mut diag = vec![0f64; n];
    for win in &windows {
        for_each_in(win, rw, |i| {
            let d = sub(colour[i], win.mean);
            let q = quad(&win.inv, d, d);
            diag[i] += 1.0 - (1.0 + q) / 9.0;
        });
    }
    // r = -(L x) on the unknowns.
    let mut lx = vec![0f64; n];
    apply(&windows, &colour, &x, rw, &mut lx);
    let mut r: Vec<f64> = (0..n)
        .map(|i| if unknown[i] { -lx[i] } else { 0.0 })
        .collect();
    let precond = |r: &[f64], z: &mut [f64]| {
        for i in 0..n {
            z[i] = if unknown[i] && diag[i] > 1e-12 {
                r[i] / diag[i]
            } else {
                0.0
            };
        }
    };
    let mut z = vec![0f64; n];
    precond(&r, &mut z);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let first = norm(&r);
    let mut q = vec![0f64; n];
    for _ in 0..solve.iterations {
        if first <= 0.0 || norm(&r) <= f64::from(solve.tolerance) * first {
            break;
        }
        q.iter_mut().for_each(|v| *v = 0.0);
        apply(&windows, &colour, &p, rw, &mut q);
        for i in 0..n {
            if !unknown[i] {
                q[i] = 0.0;
            }
        }
        let pq = dot(&p, &q);
        if pq.abs() < 1e-20 {
            break;
        }
        let a = rz / pq;
        for i in 0..n {
            x[i] += a * p[i];
            r[i] -= a * q[i];
        }
        precond(&r, &mut z);
        let rz_next = dot(&r, &z);
        let beta = rz_next / rz.max(1e-30);
        rz = rz_next;
        for i in 0..n {
            p[i] = z[i] + beta * p[i];
        }
    }
    for ry in 0..rh {
        for rx in 0..rw {
            let r = ry * rw + rx;
            if unknown[r] {
                alpha[(y0 + ry) * w + x0 + rx] = x[r].clamp(0.0, 1.0) as f32;
            }
        }
    }
    alpha
}

/// The unknown pixels' bounding box (inclusive), if any.
fn bounds(trimap: &[u8], w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        let row = &trimap[y * w..(y + 1) * w];
        if let Some(first) = row.iter().position(|&t| t == UNKNOWN) {
            let last = row.iter().rposition(|&t| t == UNKNOWN).unwrap_or(first);
            x0 = x0.min(first);
            x1 = x1.max(last);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    (x1 >= x0 && y1 >= y0).then_some((x0, y0, x1, y1))
}

/// Every 3×3 window of the region that holds an unknown pixel.
fn windows(colour: &[[f64; 3]], unknown: &[bool], rw: usize, rh: usize) -> Vec<Window> {
    let mut out = Vec::new();
    for y in 0..rh - 2 {
        for x in 0..rw - 2 {
            let at = y * rw + x;
            let any = (0..3).any(|dy| (0..3).any(|dx| unknown[at + dy * rw + dx]));
            if !any {
                continue;
            }
            let mut mean = [0f64; 3];
            let mut cov = [0f64; 6];
            for dy in 0..3 {
                for dx in 0..3 {
                    let c = colour[at + dy * rw + dx];
                    for k in 0..3 {
                        mean[k] += c[k];
                    }
                    cov[0] += c[0] * c[0];
                    cov[1] += c[0] * c[1];
                    cov[2] += c[0] * c[2];
                    cov[3] += c[1] * c[1];
                    cov[4] += c[1] * c[2];
                    cov[5] += c[2] * c[2];
                }
            }
            for m in &mut mean {
                *m /= 9.0;
            }
            let e = EPSILON / 9.0;
            let s = [
                cov[0] / 9.0 - mean[0] * mean[0] + e,
                cov[1] / 9.0 - mean[0] * mean[1],
                cov[2] / 9.0 - mean[0] * mean[2],
                cov[3] / 9.0 - mean[1] * mean[1] + e,
                cov[4] / 9.0 - mean[1] * mean[2],
                cov[5] / 9.0 - mean[2] * mean[2] + e,
            ];
            out.push(Window {
                at: at as u32,
                mean,
                inv: inverse(s),
            });
        }
    }
    out
}

/// The inverse of a symmetric 3×3 matrix (xx, xy, xz, yy, yz, zz).
fn inverse(s: [f64; 6]) -> [f64; 6] {
    let [a, b, c, d, e, f] = s;
    let (c00, c01, c02) = (d * f - e * e, c * e - b * f, b * e - c * d);
    let (c11, c12, c22) = (a * f - c * c, b * c - a * e, a * d - b * b);
    let det = a * c00 + b * c01 + c * c02;
    if det.abs() < 1e-30 {
        return [0.0; 6];
    }
    [c00, c01, c02, c11, c12, c22].map(|v| v / det)
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// uᵀ S v for symmetric S.
fn quad(s: &[f64; 6], u: [f64; 3], v: [f64; 3]) -> f64 {
    let sv = mul(s, v);
    u[0] * sv[0] + u[1] * sv[1] + u[2] * sv[2]
}

fn mul(s: &[f64; 6], v: [f64; 3]) -> [f64; 3] {
    [
        s[0] * v[0] + s[1] * v[1] + s[2] * v[2],
        s[1] * v[0] + s[3] * v[1] + s[4] * v[2],
        s[2] * v[0] + s[4] * v[1] + s[5] * v[2],
    ]
}

fn for_each_in(win: &Window, rw: usize, mut f: impl FnMut(usize)) {
    let at = win.at as usize;
    for dy in 0..3 {
        for dx in 0..3 {
            f(at + dy * rw + dx);
        }
    }
}

/// out += L x over the given windows.
fn apply(windows: &[Window], colour: &[[f64; 3]], x: &[f64], rw: usize, out: &mut [f64]) {
    for win in windows {
        let mut s0 = 0f64;
        let mut s = [0f64; 3];
        for_each_in(win, rw, |i| {
            let d = sub(colour[i], win.mean);
            s0 += x[i];
            for k in 0..3 {
                s[k] += d[k] * x[i];
            }
        });
        let v = mul(&win.inv, s);
        for_each_in(win, rw, |i| {
            let d = sub(colour[i], win.mean);
            out[i] += x[i] - (s0 + d[0] * v[0] + d[1] * v[1] + d[2] * v[2]) / 9.0;
        });
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_follows_the_coarse_edge() {
        // Left half figure.
        let (w, h) = (40, 10);
        let coarse: Vec<f32> = (0..w * h)
            .map(|i| if i % w < 20 { 0.9 } else { 0.1 })
            .collect();
        let t = trimap(&coarse, w, h, 3);
        let row: Vec<u8> = t[5 * w..6 * w].to_vec();
        assert!(row[..16].iter().all(|&v| v == FOREGROUND), "{row:?}");
        assert!(row[17..23].iter().all(|&v| v == UNKNOWN), "{row:?}");
        assert!(row[24..].iter().all(|&v| v == BACKGROUND), "{row:?}");
    }

    /// A soft edge drawn between two colours is recovered from the colour
    /// alone, starting from a hard step in the wrong place.
    #[test]
    fn a_soft_edge_is_recovered_from_the_colours() {
        let (w, h) = (64u32, 24u32);
        let fg = [230.0, 180.0, 60.0];
        let bg = [30.0, 60.0, 160.0];
        // True alpha: a ramp from x = 24 to x = 40, with texture in both
        // layers so that the windows are not flat.
        let truth = |x: u32| ((x as f32 - 24.0) / 16.0).clamp(0.0, 1.0);
        let image = RgbImage::from_fn(w, h, |x, y| {
            let a = truth(x);
            let t = ((x * 7 + y * 13) % 11) as f32 - 5.0;
            image::Rgb(std::array::from_fn(|c| {
                (a * (fg[c] + 2.0 * t) + (1.0 - a) * (bg[c] - 2.0 * t)).round() as u8
            }))
        });
        let coarse: Vec<f32> = (0..w * h)
            .map(|i| if i % w >= 30 { 1.0 } else { 0.0 })
            .collect();
        let t = trimap(&coarse, w as usize, h as usize, 14);
        let alpha = closed_form(
            &image,
            &t,
            &coarse,
            Solve {
                iterations: 500,
                tolerance: 1e-5,
            },
        );
        let mut err = 0f32;
        let mut coarse_err = 0f32;
        for y in 4..h - 4 {
            for x in 18..46 {
                let i = (y * w + x) as usize;
                err += (alpha[i] - truth(x)).abs();
                coarse_err += (coarse[i] - truth(x)).abs();
            }
        }
        let row: Vec<String> = (16..48)
            .map(|x| format!("{:.2}", alpha[(12 * w + x) as usize]))
            .collect();
        assert!(err < coarse_err * 0.25, "{err} vs {coarse_err}: {row:?}");
        // Sure pixels stay sure.
        assert_eq!(alpha[(12 * w + 2) as usize], 0.0);
        assert_eq!(alpha[(12 * w + 62) as usize], 1.0);
    }
}
