//! No-reference measures of how good a frame looks as a thumbnail.

use image::RgbImage;
use serde::Serialize;

/// Statistics of one frame, each cheap to compute at analysis size
/// (a few hundred pixels wide).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameStats {
    /// Mean luma, 0–1.
    pub mean_luma: f64,
    /// Standard deviation of luma, 0–0.5: global contrast.
    pub contrast: f64,
    /// Sharpness: energy of the luma Laplacian (0–255 scale) in the
    /// sharpest three blocks of a 4×4 grid, so that a sharp subject on
    /// a smooth background counts as sharp as a busy texture does.
    pub sharpness: f64,
    /// Share of pixels whose gradient is strong: how much detail there is.
    pub edge_density: f64,
    /// Entropy of the 64-bin luma histogram, bits (0–6).
    pub entropy: f64,
    /// Hasler–Süsstrunk colourfulness (0 grey … ~150 vivid).
    pub colourfulness: f64,
    /// Share of pixels crushed to black or blown to white.
    pub clipped: f64,
}

/// Computes [`FrameStats`] for `img`.
pub fn frame_stats(img: &RgbImage) -> FrameStats {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let n = (w * h).max(1) as f64;
    let raw = img.as_raw();
    let mut luma = vec![0f32; w * h];
    let mut hist = [0u32; 64];
    let (mut sum, mut sum2) = (0f64, 0f64);
    let (mut rg_sum, mut rg_sum2, mut yb_sum, mut yb_sum2) = (0f64, 0f64, 0f64, 0f64);
    let mut clipped = 0u64;
    for (i, px) in raw.chunks_exact(3).enumerate() {
        let (r, g, b) = (f64::from(px[0]), f64::from(px[1]), f64::from(px[2]));
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        luma[i] = y as f32;
        sum += y;
        sum2 += y * y;
        hist[((y as usize) >> 2).min(63)] += 1;
        if !(4.0..=251.0).contains(&y) {
            clipped += 1;
        }
        let rg = r - g;
        let yb = 0.5 * (r + g) - b;
        rg_sum += rg;
        rg_sum2 += rg * rg;
        yb_sum += yb;
        yb_sum2 += yb * yb;
    }
    let mean = sum / n;
    let var = (sum2 / n - mean * mean).max(0.0);
    let rg_mean = rg_sum / n;
    let yb_mean = yb_sum / n;
    let rg_var = (rg_sum2 / n - rg_mean * rg_mean).max(0.0);
    let yb_var = (yb_sum2 / n - yb_mean * yb_mean).max(0.0);
    let colourfulness =
        (rg_var + yb_var).sqrt() + 0.3 * (rg_mean * rg_mean + yb_mean * yb_mean).sqrt();
    let entropy = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();

    let (mut edges, mut inner) = (0u64, 0u64);
    let mut block_energy = [0f64; 16];
    let mut block_count = [0u64; 16];
    if w >= 3 && h >= 3 {
        for y in 1..h - 1 {
            let row = y * w;
            let by = (y * 4 / h).min(3);
            for x in 1..w - 1 {
                let c = luma[row + x];
                let l = luma[row + x - 1];
                let r = luma[row + x + 1];
                let u = luma[row - w + x];
                let d = luma[row + w + x];
                let lap = f64::from(l + r + u + d - 4.0 * c);
                let block = by * 4 + (x * 4 / w).min(3);
                block_energy[block] += lap * lap;
                block_count[block] += 1;
                let gx = r - l;
                let gy = d - u;
                if gx * gx + gy * gy > 24.0 * 24.0 {
                    edges += 1;
                }
                inner += 1;
            }
        }
    }
    let m = inner.max(1) as f64;
    let mut blocks: Vec<f64> = block_energy
        .iter()
        .zip(block_count.iter())
        .map(|(&e, &n)| e / n.max(1) as f64)
        .collect();
    blocks.sort_by(|a, b| b.total_cmp(a));
    let sharpness = blocks.iter().take(3).sum::<f64>() / 3.0;
    FrameStats {
        mean_luma: mean / 255.0,
        contrast: var.sqrt() / 255.0,
        sharpness,
        edge_density: edges as f64 / m,
        entropy,
        colourfulness,
        clipped: clipped as f64 / n,
    }
}

/// Why a frame can never be a cover, if it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Reject {
    /// Nearly black.
    Black,
    /// Nearly white.
    White,
    /// One flat colour, no content.
    Blank,
}

impl FrameStats {
    /// Hard rejections that no ranking should overrule.
    pub fn reject(&self) -> Option<Reject> {
        if self.mean_luma < 0.07 && self.contrast < 0.08 {
            Some(Reject::Black)
        } else if self.mean_luma > 0.94 && self.contrast < 0.08 {
            Some(Reject::White)
        } else if self.contrast < 0.03 || self.entropy < 0.5 {
            Some(Reject::Blank)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(size: u32, cell: u32) -> RgbImage {
        RgbImage::from_fn(size, size, |x, y| {
            if ((x / cell) + (y / cell)) % 2 == 0 {
                image::Rgb([230, 40, 40])
            } else {
                image::Rgb([20, 60, 200])
            }
        })
    }

    #[test]
    fn a_black_frame_is_rejected_as_black() {
        let img = RgbImage::from_pixel(64, 64, image::Rgb([3, 3, 3]));
        assert_eq!(frame_stats(&img).reject(), Some(Reject::Black));
    }

    #[test]
    fn a_flat_grey_frame_is_rejected_as_blank() {
        let img = RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128]));
        assert_eq!(frame_stats(&img).reject(), Some(Reject::Blank));
    }

    #[test]
    fn a_small_sharp_subject_on_a_smooth_background_counts_as_sharp() {
        let busy = checker(128, 4);
        let subject = RgbImage::from_fn(128, 128, |x, y| {
            if (32..80).contains(&x) && (32..80).contains(&y) {
                busy.get_pixel(x, y).to_owned()
            } else {
                image::Rgb([120, 160, 220])
            }
        });
        let (b, s) = (frame_stats(&busy), frame_stats(&subject));
        assert!(s.sharpness > 0.5 * b.sharpness, "{s:?} vs {b:?}");
    }

    #[test]
    fn blurring_lowers_sharpness_and_colour_is_measured() {
        let sharp = checker(128, 8);
        let blurred = image::imageops::blur(&sharp, 4.0);
        let (s, b) = (frame_stats(&sharp), frame_stats(&blurred));
        assert!(s.sharpness > 10.0 * b.sharpness, "{s:?} vs {b:?}");
        assert!(s.colourfulness > 50.0);
        assert_eq!(s.reject(), None);
    }
}
