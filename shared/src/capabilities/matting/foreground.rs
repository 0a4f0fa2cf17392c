//! The figure's own colours where its alpha is fractional, so that a
//! composite over a new background shows no fringe of the old one: blur
//! fusion (Forte and Pitié, "Approximate Fast Foreground Colour
//! Estimation", ICIP 2021). The foreground and background near each pixel
//! are estimated as alpha-weighted local means, then corrected so that the
//! pixel is exactly `alpha·F + (1−alpha)·B`; run at a large and then a small
//! radius. Only pixels with 0 < alpha < 1 change.

use image::{Rgb, RgbImage};

/// The radii of the two passes at 1080 lines (the paper's 90 and 6),
/// scaled with the picture.
const RADII_1080: [f32; 2] = [90.0, 6.0];

/// The foreground colours of `image` under `alpha` (0–1 per pixel).
pub fn estimate(image: &RgbImage, alpha: &[f32]) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let Some((x0, y0, x1, y1)) = soft_bounds(alpha, w, h) else {
        return image.clone();
    };
    let scale = (w.min(h) as f32 / 1080.0).max(0.25);
    let big = (RADII_1080[0] * scale).round().max(3.0) as usize;
    let small = (RADII_1080[1] * scale).round().max(1.0) as usize;
    // Work on the soft pixels' box, widened by the large radius.
    let (rx0, ry0) = (x0.saturating_sub(big), y0.saturating_sub(big));
    let (rx1, ry1) = ((x1 + big + 1).min(w), (y1 + big + 1).min(h));
    let (rw, rh) = (rx1 - rx0, ry1 - ry0);
    let n = rw * rh;
    let mut img = vec![[0f32; 3]; n];
    let mut a = vec![0f32; n];
    for y in 0..rh {
        for x in 0..rw {
            let g = (ry0 + y) * w + rx0 + x;
            let p = image.get_pixel((rx0 + x) as u32, (ry0 + y) as u32);
            img[y * rw + x] = [0, 1, 2].map(|c| f32::from(p[c]) / 255.0);
            a[y * rw + x] = alpha[g].clamp(0.0, 1.0);
        }
    }
    let (f, b) = fuse(&img, &img, &img, &a, rw, rh, big);
    let (f, _) = fuse(&img, &f, &b, &a, rw, rh, small);
    let mut out = image.clone();
    for y in 0..rh {
        for x in 0..rw {
            let i = y * rw + x;
            if a[i] > 0.0 && a[i] < 1.0 {
                let c = f[i].map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8);
                out.put_pixel((rx0 + x) as u32, (ry0 + y) as u32, Rgb(c));
            }
        }
    }
    out
}

/// One blur-fusion pass: the corrected foreground and the blurred
/// background.
#[allow(clippy::type_complexity)]
fn fuse(
    image: &[[f32; 3]],
    f: &[[f32; 3]],
    b: &[[f32; 3]],
    a: &[f32],
    w: usize,
    h: usize,
    r: usize,
) -> (Vec<[f32; 3]>, Vec<[f32; 3]>) {
    let n = w * h;
    let blur_a = box_blur(a, w, h, r);
    let mut fa = vec![0f32; n];
    let mut b1a = vec![0f32; n];
    let mut out_f = vec![[0f32; 3]; n];
    let mut out_b = vec![[0f32; 3]; n];
    for c in 0..3 {
        for i in 0..n {
            fa[i] = f[i][c] * a[i];
            b1a[i] = b[i][c] * (1.0 - a[i]);
        }
        let bf = box_blur(&fa, w, h, r);
        let bb = box_blur(&b1a, w, h, r);
        for i in 0..n {
            let fi = bf[i] / (blur_a[i] + 1e-5);
            let bi = bb[i] / ((1.0 - blur_a[i]) + 1e-5);
            out_f[i][c] =
                (fi + a[i] * (image[i][c] - a[i] * fi - (1.0 - a[i]) * bi)).clamp(0.0, 1.0);
            out_b[i][c] = bi;
        }
    }
    (out_f, out_b)
}

/// Mean over the (2r+1)² box around each pixel (the box is cut at the
/// edges), by running sums along rows, then along columns.
fn box_blur(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut rows = vec![0f32; w * h];
    for y in 0..h {
        let line = &v[y * w..(y + 1) * w];
        let out = &mut rows[y * w..(y + 1) * w];
        let mut sum: f32 = line[..(r + 1).min(w)].iter().sum();
        for x in 0..w {
            let (lo, hi) = (x.saturating_sub(r), (x + r + 1).min(w));
            out[x] = sum / (hi - lo) as f32;
            if x + r + 1 < w {
                sum += line[x + r + 1];
            }
            if x >= r {
                sum -= line[x - r];
            }
        }
    }
    let mut out = vec![0f32; w * h];
    let mut sums: Vec<f32> = vec![0.0; w];
    for y in 0..(r + 1).min(h) {
        for x in 0..w {
            sums[x] += rows[y * w + x];
        }
    }
    for y in 0..h {
        let (lo, hi) = (y.saturating_sub(r), (y + r + 1).min(h));
        let n = (hi - lo) as f32;
        for x in 0..w {
            out[y * w + x] = sums[x] / n;
        }
        if y + r + 1 < h {
            let add = &rows[(y + r + 1) * w..(y + r + 2) * w];
            for x in 0..w {
                sums[x] += add[x];
            }
        }
        if y >= r {
            let sub = &rows[(y - r) * w..(y - r + 1) * w];
            for x in 0..w {
                sums[x] -= sub[x];
            }
        }
    }
    out
}

/// The box around the pixels with 0 < alpha < 1 (inclusive), if any.
fn soft_bounds(alpha: &[f32], w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            let a = alpha[y * w + x];
            if a > 0.0 && a < 1.0 {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    (x1 >= x0 && y1 >= y0).then_some((x0, y0, x1, y1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Red hair strands half over green: the mixed pixels' colour is
    /// restored to red, so a composite over blue shows no green.
    #[test]
    fn mixed_pixels_get_the_figures_colour_back() {
        let (w, h) = (120u32, 60u32);
        let fg = [200.0f32, 40.0, 40.0];
        let bg = [40.0f32, 200.0, 40.0];
        let alpha: Vec<f32> = (0..w * h)
            .map(|i| {
                let x = i % w;
                if x < 50 {
                    1.0
                } else if x < 70 {
                    // Strands: alternate columns of partial cover.
                    if x % 2 == 0 {
                        0.5
                    } else {
                        0.2
                    }
                } else {
                    0.0
                }
            })
            .collect();
        let image = RgbImage::from_fn(w, h, |x, y| {
            let a = alpha[(y * w + x) as usize];
            Rgb(std::array::from_fn(|c| {
                (a * fg[c] + (1.0 - a) * bg[c]).round() as u8
            }))
        });
        let f = estimate(&image, &alpha);
        let off = |c: &Rgb<u8>| {
            (0..3)
                .map(|k| (f32::from(c[k]) - fg[k]).abs())
                .fold(0.0, f32::max)
        };
        let (mut before, mut after) = (0.0, 0.0);
        for x in 50..70 {
            let (p, q) = (f.get_pixel(x, 30), image.get_pixel(x, 30));
            // Every mixed pixel moves towards the figure's red.
            assert!(off(p) < 0.75 * off(q), "x={x}: {p:?} from {q:?}");
            before += off(q);
            after += off(p);
        }
        // On the whole, most of the green is gone (blur fusion is an
        // approximation: it does least next to the sure background).
        assert!(after < 0.4 * before, "{after} vs {before}");
        // Sure pixels are untouched.
        assert_eq!(f.get_pixel(10, 10), image.get_pixel(10, 10));
        assert_eq!(f.get_pixel(100, 10), image.get_pixel(100, 10));
    }

    #[test]
    fn the_box_mean_is_cut_at_the_edges() {
        let v = [1.0, 2.0, 3.0, 4.0];
        let m = box_blur(&v, 4, 1, 1);
        assert_eq!(m, vec![1.5, 2.0, 3.0, 3.5]);
    }
}
