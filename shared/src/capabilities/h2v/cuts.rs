//! Shot boundaries from frame signatures: a 4×4 grid of 16-bin luma
//! histograms and a 16×9 thumbnail per frame. A cut is a frame whose
//! histograms jump far from the previous frame's, far more than the recent
//! frame-to-frame change (so a pan or a burst of motion is not a cut), and
//! whose picture no longer correlates with the previous one (so a fade,
//! which moves every histogram but keeps the picture, is not a cut).

/// Cells per side of the signature grid.
const GRID: usize = 4;
/// Histogram bins per cell.
const BINS: usize = 16;
/// Frames of recent change that a jump is compared with.
const RECENT: usize = 8;

/// Thumbnail size.
const THUMB: (usize, usize) = (16, 9);

/// A frame's signature: normalised histograms of the grid cells and a
/// small thumbnail of mean luma.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    hist: Vec<f32>,
    thumb: Vec<f32>,
}

impl Signature {
    /// The signature of a luma plane (`width`×`height` samples, `stride`
    /// bytes a row), read on a sparse lattice.
    pub fn of_luma(plane: &[u8], width: usize, height: usize, stride: usize) -> Self {
        let mut hist = vec![0f32; GRID * GRID * BINS];
        let step = (width.min(height) / 64).max(1);
        let mut counts = [0f32; GRID * GRID];
        let mut thumb = vec![0f32; THUMB.0 * THUMB.1];
        let mut thumb_counts = vec![0f32; THUMB.0 * THUMB.1];
        for y in (0..height).step_by(step) {
            let gy = y * GRID / height.max(1);
            let ty = y * THUMB.1 / height.max(1);
            let row = &plane[y * stride..];
            for x in (0..width).step_by(step) {
                let gx = x * GRID / width.max(1);
                let cell = gy * GRID + gx;
                hist[cell * BINS + usize::from(row[x]) * BINS / 256] += 1.0;
                counts[cell] += 1.0;
                let t = ty * THUMB.0 + x * THUMB.0 / width.max(1);
                thumb[t] += f32::from(row[x]);
                thumb_counts[t] += 1.0;
            }
        }
        for (t, n) in thumb.iter_mut().zip(&thumb_counts) {
            *t /= n.max(1.0);
        }
        for (cell, &n) in counts.iter().enumerate() {
            if n > 0.0 {
                for v in &mut hist[cell * BINS..(cell + 1) * BINS] {
                    *v /= n;
                }
            }
        }
        Self { hist, thumb }
    }

    /// Mean L1 distance between the cells' histograms, 0–2.
    pub fn distance(&self, other: &Signature) -> f32 {
        self.hist
            .iter()
            .zip(&other.hist)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / (GRID * GRID) as f32
    }

    /// Correlation of the two thumbnails, −1–1 (1 for flat pictures,
    /// which cannot tell).
    pub fn correlation(&self, other: &Signature) -> f32 {
        let n = self.thumb.len() as f32;
        let mean = |v: &[f32]| v.iter().sum::<f32>() / n;
        let (ma, mb) = (mean(&self.thumb), mean(&other.thumb));
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (a, b) in self.thumb.iter().zip(&other.thumb) {
            let (da, db) = (a - ma, b - mb);
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
        // Flat (under about 3 grey levels of spread): no structure to compare.
        if saa < 9.0 * n || sbb < 9.0 * n {
            return 1.0;
        }
        sab / (saa * sbb).sqrt()
    }
}

/// Finds cuts in a stream of frame signatures.
#[derive(Debug, Default)]
pub struct CutDetector {
    previous: Option<Signature>,
    recent: Vec<f32>,
    frames: u64,
}

impl CutDetector {
    /// A detector with no frames seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next frame; true when a new shot starts at it.
    pub fn push(&mut self, signature: Signature) -> bool {
        self.frames += 1;
        let Some(previous) = self.previous.replace(signature) else {
            return false;
        };
        let current = self.previous.as_ref();
        let d = current.map_or(0.0, |s| s.distance(&previous));
        let r = current.map_or(1.0, |s| s.correlation(&previous));
        let typical = if self.recent.is_empty() {
            0.0
        } else {
            self.recent.iter().sum::<f32>() / self.recent.len() as f32
        };
        let cut = d > 0.5 && d > 3.0 * typical + 0.2 && r < 0.7;
        if cut {
            self.recent.clear();
        } else {
            self.recent.push(d);
            if self.recent.len() > RECENT {
                self.recent.remove(0);
            }
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        (0..90 * 160).map(|i| f(i % 160, i / 160)).collect()
    }

    #[test]
    fn a_cut_is_found_and_a_moving_picture_is_not_one() {
        let mut d = CutDetector::new();
        let mut cuts = Vec::new();
        for i in 0..60usize {
            let luma = if i < 30 {
                // A gradient sliding sideways: motion, no cut.
                plane(|x, y| ((x + 2 * i) % 160 + y) as u8)
            } else {
                plane(|x, y| if (x / 20 + y / 20) % 2 == 0 { 30 } else { 220 })
            };
            if d.push(Signature::of_luma(&luma, 160, 90, 160)) {
                cuts.push(i);
            }
        }
        assert_eq!(cuts, vec![30]);
    }

    #[test]
    fn a_fade_from_black_is_not_a_cut() {
        let mut d = CutDetector::new();
        let picture = |x: usize, y: usize| ((x * 3 + y * 2) % 200 + 30) as f32;
        let cuts: Vec<usize> = (0..40usize)
            .filter(|&i| {
                let k = i as f32 / 39.0;
                let luma = plane(|x, y| (picture(x, y) * k) as u8);
                d.push(Signature::of_luma(&luma, 160, 90, 160))
            })
            .collect();
        assert!(cuts.is_empty(), "{cuts:?}");
    }
}
