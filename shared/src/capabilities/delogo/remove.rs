//! Taking a logo away from one picture, in place.

use super::api::Mode;
use super::blend::{harmonic_fill, read_patch, write_patch, Blend, Rect, ALPHA_FLOOR};
use crate::media::planar::Planar;

/// Up to this alpha the picture is recovered by inverting the blend alone.
const INVERT_UP_TO: f32 = 0.75;
/// From this alpha on only the fill from around is used.
const FILL_FROM: f32 = 0.9;

/// What to paint, per plane, in `box` mode.
pub type Paint = [u8; 3];

/// Removes the logo that `blend` describes from `picture` (`fill`), or
/// hides its box (`blur`, `mosaic`, `box` with `paint`, the colour in
/// the picture's planes).
pub fn remove(picture: &mut Planar, blend: &Blend, rect: Rect, mode: Mode, paint: Paint) {
    match mode {
        Mode::Fill => fill(picture, blend),
        Mode::Blur | Mode::Mosaic | Mode::Box => {
            for (p, &colour) in paint.iter().enumerate() {
                let s = picture.plane_shift(p);
                let (pw, ph) = picture.plane_size(p);
                let x0 = (rect.x >> s) as usize;
                let y0 = (rect.y >> s) as usize;
                let x1 = (((rect.x + rect.w) as usize + (1 << s) - 1) >> s).min(pw as usize);
                let y1 = (((rect.y + rect.h) as usize + (1 << s) - 1) >> s).min(ph as usize);
                if x1 <= x0 || y1 <= y0 {
                    continue;
                }
                let area = (x0, y0, x1 - x0, y1 - y0);
                match mode {
                    Mode::Blur => blur(picture, p, area),
                    Mode::Mosaic => mosaic(picture, p, area),
                    _ => {
                        let v = vec![f32::from(colour); area.2 * area.3];
                        write_patch(picture, p, area, &v, |_| true);
                    }
                }
            }
        }
    }
}

fn fill(picture: &mut Planar, blend: &Blend) {
    for p in 0..3 {
        let s = picture.plane_shift(p);
        let area = blend.region.in_plane(s);
        let (w, h) = (area.2, area.3);
        let alpha = &blend.alpha[p];
        let aw = &blend.aw[p];
        if alpha.len() != w * h {
            continue;
        }
        let patch = read_patch(picture, p, area);
        let mut inverted = patch.clone();
        for i in 0..w * h {
            let a = alpha[i];
            if (ALPHA_FLOOR..FILL_FROM).contains(&a) {
                inverted[i] = (patch[i] - aw[i]) / (1.0 - a);
            }
        }
        let unknown: Vec<bool> = alpha.iter().map(|&a| a > INVERT_UP_TO).collect();
        let mut filled = inverted.clone();
        harmonic_fill(&mut filled, &unknown, w, h);
        let out: Vec<f32> = (0..w * h)
            .map(|i| {
                let a = alpha[i];
                if a <= INVERT_UP_TO {
                    inverted[i]
                } else if a >= FILL_FROM {
                    filled[i]
                } else {
                    let t = (a - INVERT_UP_TO) / (FILL_FROM - INVERT_UP_TO);
                    inverted[i] * (1.0 - t) + filled[i] * t
                }
            })
            .collect();
        // Inverting divides the coding noise by 1 − a too: smooth what
        // was recovered, the more the more opaque the logo.
        let sigma = if s == 0 {
            DENOISE_SIGMA
        } else {
            DENOISE_SIGMA / 2.0
        };
        let smooth = gaussian(&out, w, h, sigma);
        let out: Vec<f32> = (0..w * h)
            .map(|i| {
                let k = (alpha[i] / DENOISE_FULL_AT).min(1.0);
                out[i] * (1.0 - k) + smooth[i] * k
            })
            .collect();
        write_patch(picture, p, area, &out, |i| alpha[i] >= ALPHA_FLOOR);
    }
}

/// Spatial smoothing of recovered pixels (full-size planes; half for
/// subsampled ones).
const DENOISE_SIGMA: f32 = 1.2;
/// Alpha from which recovered pixels are wholly the smoothed ones.
const DENOISE_FULL_AT: f32 = 0.5;

/// A separable Gaussian blur of a `w`×`h` patch (edges repeated).
fn gaussian(v: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    let r = (sigma * 2.5).ceil() as usize;
    let kernel: Vec<f32> = (0..=2 * r)
        .map(|i| {
            let d = i as f32 - r as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as isize - r as isize;
                    let (xx, yy) = if horizontal {
                        ((x as isize + d).clamp(0, w as isize - 1) as usize, y)
                    } else {
                        (x, (y as isize + d).clamp(0, h as isize - 1) as usize)
                    };
                    acc += weight * src[yy * w + xx];
                }
                out[y * w + x] = acc;
            }
        }
        out
    };
    pass(&pass(v, true), false)
}

/// A strong blur of the area: three box blurs (close to a Gaussian)
/// with a radius of a quarter of its smaller side, reading the picture
/// around it too.
fn blur(picture: &mut Planar, p: usize, (x, y, w, h): (usize, usize, usize, usize)) {
    let r = (w.min(h) / 4).clamp(2, 24);
    let (pw, ph) = picture.plane_size(p);
    let (pw, ph) = (pw as usize, ph as usize);
    let ex0 = x.saturating_sub(2 * r);
    let ey0 = y.saturating_sub(2 * r);
    let ex1 = (x + w + 2 * r).min(pw);
    let ey1 = (y + h + 2 * r).min(ph);
    let (ew, eh) = (ex1 - ex0, ey1 - ey0);
    let mut v = read_patch(picture, p, (ex0, ey0, ew, eh));
    for _ in 0..3 {
        box_pass(&mut v, ew, eh, r, 1, ew);
        box_pass(&mut v, eh, ew, r, ew, 1);
    }
    let (ox, oy) = (x - ex0, y - ey0);
    let inner: Vec<f32> = (0..w * h)
        .map(|i| v[(oy + i / w) * ew + ox + i % w])
        .collect();
    write_patch(picture, p, (x, y, w, h), &inner, |_| true);
}

/// One running-mean pass of radius `r` along lines of `len` values
/// `step` apart; `lines` lines, `line_step` apart.
fn box_pass(v: &mut [f32], len: usize, lines: usize, r: usize, step: usize, line_step: usize) {
    let mut line = vec![0.0f32; len];
    for l in 0..lines {
        let base = l * line_step;
        for (i, slot) in line.iter_mut().enumerate() {
            *slot = v[base + i * step];
        }
        let mut acc: f32 = 0.0;
        let mut count = 0usize;
        for item in line.iter().take(r.min(len)) {
            acc += item;
            count += 1;
        }
        for i in 0..len {
            if i + r < len {
                acc += line[i + r];
                count += 1;
            }
            if i > r {
                acc -= line[i - r - 1];
                count -= 1;
            }
            v[base + i * step] = acc / count as f32;
        }
    }
}

/// The area as blocks of their mean, a fifth of its smaller side each.
fn mosaic(picture: &mut Planar, p: usize, (x, y, w, h): (usize, usize, usize, usize)) {
    let b = (w.min(h) / 5).clamp(4, 32);
    let mut v = read_patch(picture, p, (x, y, w, h));
    for by in (0..h).step_by(b) {
        for bx in (0..w).step_by(b) {
            let (x1, y1) = ((bx + b).min(w), (by + b).min(h));
            let mut sum = 0.0;
            for yy in by..y1 {
                for xx in bx..x1 {
                    sum += v[yy * w + xx];
                }
            }
            let mean = sum / ((x1 - bx) * (y1 - by)) as f32;
            for yy in by..y1 {
                for xx in bx..x1 {
                    v[yy * w + xx] = mean;
                }
            }
        }
    }
    write_patch(picture, p, (x, y, w, h), &v, |_| true);
}

/// `rgb` in the planes of a picture: itself for RGB planes (`shift` 0),
/// limited-range Y'CbCr with the BT.709 (`hd`) or BT.601 matrix
/// otherwise.
pub fn paint_for(rgb: [u8; 3], shift: u32, hd: bool) -> Paint {
    if shift == 0 {
        return rgb;
    }
    let (kr, kb) = if hd { (0.2126, 0.0722) } else { (0.299, 0.114) };
    let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
    let y = kr * r + (1.0 - kr - kb) * g + kb * b;
    let cb = (b - y) / (2.0 * (1.0 - kb));
    let cr = (r - y) / (2.0 * (1.0 - kr));
    let q = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    [
        q(16.0 + 219.0 * y),
        q(128.0 + 224.0 * cb),
        q(128.0 + 224.0 * cr),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: u32, h: u32, v: [u8; 3]) -> Planar {
        Planar::from_rgb(&image::RgbImage::from_pixel(w, h, image::Rgb(v)))
    }

    #[test]
    fn inverts_a_known_blend_exactly() {
        let mut pic = Planar::from_rgb(&image::RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 7) as u8, 100])
        }));
        let truth = pic.clone();
        let rect = Rect {
            x: 10,
            y: 8,
            w: 12,
            h: 10,
        };
        let region = rect.grown(4, (40, 30));
        let mut blend = Blend::opaque(region, rect, 0);
        for p in 0..3 {
            for a in &mut blend.alpha[p] {
                *a *= 0.5;
            }
            blend.aw[p] = blend.alpha[p].iter().map(|a| a * 200.0).collect();
        }
        // Draw the logo: I = a·W + (1 − a)·J with W = 200.
        for p in 0..3 {
            for y in rect.y..rect.y + rect.h {
                for x in rect.x..rect.x + rect.w {
                    let v = &mut pic.planes[p][(y * 40 + x) as usize];
                    *v = (0.5 * 200.0 + 0.5 * f32::from(*v)).round() as u8;
                }
            }
        }
        remove(&mut pic, &blend, rect, Mode::Fill, [0; 3]);
        for (a, b) in pic.planes.iter().zip(&truth.planes) {
            for (x, y) in a.iter().zip(b) {
                assert!((i16::from(*x) - i16::from(*y)).abs() <= 1);
            }
        }
    }

    #[test]
    fn opaque_logos_are_filled_from_around_and_boxes_painted() {
        let mut pic = flat(40, 30, [90, 90, 90]);
        let rect = Rect {
            x: 10,
            y: 10,
            w: 10,
            h: 8,
        };
        for p in &mut pic.planes {
            for y in 10..18 {
                for x in 10..20 {
                    p[y * 40 + x] = if (x + y) % 2 == 0 { 255 } else { 0 };
                }
            }
        }
        let blend = Blend::opaque(rect.grown(4, (40, 30)), rect, 0);
        let mut filled = pic.clone();
        remove(&mut filled, &blend, rect, Mode::Fill, [0; 3]);
        assert!(filled.planes[0].iter().all(|&v| (89..=91).contains(&v)));
        let mut boxed = pic.clone();
        remove(&mut boxed, &blend, rect, Mode::Box, [1, 2, 3]);
        assert_eq!(boxed.planes[2][12 * 40 + 15], 3);
        assert_eq!(boxed.planes[2][0], 90);
        for mode in [Mode::Blur, Mode::Mosaic] {
            let mut hidden = pic.clone();
            remove(&mut hidden, &blend, rect, mode, [0; 3]);
            let inside = &hidden.planes[0];
            for (a, b) in [(14 * 40 + 15, 14 * 40 + 16), (11 * 40 + 11, 11 * 40 + 12)] {
                assert!(
                    inside[a].abs_diff(inside[b]) < 40,
                    "{mode:?}: {} {}",
                    inside[a],
                    inside[b]
                );
            }
            assert_eq!(hidden.planes[0][0], 90, "{mode:?}");
        }
    }

    #[test]
    fn paints_in_yuv() {
        assert_eq!(paint_for([0, 0, 0], 1, true), [16, 128, 128]);
        assert_eq!(paint_for([255, 255, 255], 1, false), [235, 128, 128]);
        assert_eq!(paint_for([1, 2, 3], 0, true), [1, 2, 3]);
    }
}
