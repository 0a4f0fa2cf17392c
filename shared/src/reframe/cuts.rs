//! Shot boundaries from frame signatures: a 4×4 grid of 16-bin luma
//! histograms per frame; a cut is a frame whose signature jumps far from
//! the previous one, and far more than the recent frame-to-frame change
//! (so a pan or a flash of motion is not a cut).

/// Cells per side of the signature grid.
const GRID: usize = 4;
/// Histogram bins per cell.
const BINS: usize = 16;
/// Frames of recent change that a jump is compared with.
const RECENT: usize = 8;

/// A frame's signature: normalised histograms of the grid cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature(Vec<f32>);

impl Signature {
    /// The signature of a luma plane (`width`×`height` samples, `stride`
    /// bytes a row), read on a sparse lattice.
    pub fn of_luma(plane: &[u8], width: usize, height: usize, stride: usize) -> Self {
        let mut hist = vec![0f32; GRID * GRID * BINS];
        let step = (width.min(height) / 64).max(1);
        let mut counts = [0f32; GRID * GRID];
        for y in (0..height).step_by(step) {
            let gy = y * GRID / height.max(1);
            let row = &plane[y * stride..];
            for x in (0..width).step_by(step) {
                let gx = x * GRID / width.max(1);
                let cell = gy * GRID + gx;
                hist[cell * BINS + usize::from(row[x]) * BINS / 256] += 1.0;
                counts[cell] += 1.0;
            }
        }
        for (cell, &n) in counts.iter().enumerate() {
            if n > 0.0 {
                for v in &mut hist[cell * BINS..(cell + 1) * BINS] {
                    *v /= n;
                }
            }
        }
        Self(hist)
    }

    /// Mean L1 distance between the cells' histograms, 0–2.
    pub fn distance(&self, other: &Signature) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / (GRID * GRID) as f32
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
        let d = self
            .previous
            .as_ref()
            .map_or(0.0, |s| s.distance(&previous));
        let typical = if self.recent.is_empty() {
            0.0
        } else {
            self.recent.iter().sum::<f32>() / self.recent.len() as f32
        };
        let cut = d > 0.5 && d > 3.0 * typical + 0.2;
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
}
