//! A cheap picture of where subtitle-like text is: pixels that are bright
//! and sit next to a much darker pixel (the outline or shadow every burned
//! subtitle has), at half resolution, as a bitmap. Two frames show the same
//! caption when their bitmaps agree within a pixel.

/// Minimum brightness of a text pixel (8-bit luma).
const BRIGHT: u8 = 170;
/// Minimum drop to a neighbour within two source pixels.
const CONTRAST: u8 = 60;

/// The text bitmap of one frame's region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMask {
    width: usize,
    height: usize,
    words: usize,
    bits: Vec<u64>,
    count: u32,
}

impl TextMask {
    /// The mask of the `w`×`h` region at (`x`, `y`) of an 8-bit luma plane
    /// with row `stride`.
    pub fn from_luma(plane: &[u8], stride: usize, x: usize, y: usize, w: usize, h: usize) -> Self {
        let (hw, hh) = (w / 2, h / 2);
        let mut half = vec![0u8; hw * hh];
        for r in 0..hh {
            let top = (y + 2 * r) * stride + x;
            let bottom = top + stride;
            let (Some(a), Some(b)) = (
                plane.get(top..top + 2 * hw),
                plane.get(bottom..bottom + 2 * hw),
            ) else {
                break;
            };
            for (c, out) in half[r * hw..(r + 1) * hw].iter_mut().enumerate() {
                let s = u16::from(a[2 * c])
                    + u16::from(a[2 * c + 1])
                    + u16::from(b[2 * c])
                    + u16::from(b[2 * c + 1]);
                *out = (s / 4) as u8;
            }
        }
        Self::from_half(&half, hw, hh)
    }

    /// The mask of an already half-resolution luma image.
    pub fn from_half(half: &[u8], hw: usize, hh: usize) -> Self {
        // 3×3 minimum, separably.
        let mut rowmin = vec![0u8; hw * hh];
        for r in 0..hh {
            let row = &half[r * hw..(r + 1) * hw];
            for c in 0..hw {
                let lo = c.saturating_sub(1);
                let hi = (c + 1).min(hw - 1);
                rowmin[r * hw + c] = row[lo].min(row[c]).min(row[hi]);
            }
        }
        let words = hw.div_ceil(64);
        let mut bits = vec![0u64; words * hh];
        let mut count = 0u32;
        for r in 0..hh {
            let up = r.saturating_sub(1);
            let down = (r + 1).min(hh.saturating_sub(1));
            for c in 0..hw {
                let v = half[r * hw + c];
                if v < BRIGHT {
                    continue;
                }
                let m = rowmin[up * hw + c]
                    .min(rowmin[r * hw + c])
                    .min(rowmin[down * hw + c]);
                if v - m >= CONTRAST {
                    bits[r * words + c / 64] |= 1 << (c % 64);
                    count += 1;
                }
            }
        }
        Self {
            width: hw,
            height: hh,
            words,
            bits,
            count,
        }
    }

    /// Text pixels.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Pixels of the (half-resolution) region.
    pub fn area(&self) -> usize {
        self.width * self.height
    }

    fn dilated(&self) -> Vec<u64> {
        let mut horizontal = vec![0u64; self.bits.len()];
        for r in 0..self.height {
            let row = &self.bits[r * self.words..(r + 1) * self.words];
            for i in 0..self.words {
                let w = row[i];
                let carry_in = if i > 0 { row[i - 1] >> 63 } else { 0 };
                let carry_out = if i + 1 < self.words {
                    row[i + 1] << 63
                } else {
                    0
                };
                horizontal[r * self.words + i] = w | (w << 1) | carry_in | (w >> 1) | carry_out;
            }
        }
        let mut out = horizontal.clone();
        for r in 0..self.height {
            for i in 0..self.words {
                let mut v = horizontal[r * self.words + i];
                if r > 0 {
                    v |= horizontal[(r - 1) * self.words + i];
                }
                if r + 1 < self.height {
                    v |= horizontal[(r + 1) * self.words + i];
                }
                out[r * self.words + i] = v;
            }
        }
        out
    }

    /// Share (0–1) of the text pixels of both masks that the other mask
    /// lacks within one pixel; 0 for identical masks, near 1 for unrelated
    /// text. Masks of different sizes differ completely.
    pub fn difference(&self, other: &Self) -> f32 {
        if self.width != other.width || self.height != other.height {
            return 1.0;
        }
        let total = self.count + other.count;
        if total == 0 {
            return 0.0;
        }
        let (da, db) = (self.dilated(), other.dilated());
        let missing = |a: &[u64], grown_b: &[u64]| -> u32 {
            a.iter()
                .zip(grown_b)
                .map(|(x, y)| (x & !y).count_ones())
                .sum()
        };
        (missing(&self.bits, &db) + missing(&other.bits, &da)) as f32 / total as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 200×40 dark plane with white "strokes" (bars) at the given columns.
    fn plane(bars: &[usize], shift: usize) -> Vec<u8> {
        let (w, h) = (200, 40);
        let mut p = vec![30u8; w * h];
        for &b in bars {
            for y in 10..30 {
                for x in b + shift..b + shift + 4 {
                    p[y * w + x] = 235;
                }
            }
        }
        p
    }

    #[test]
    fn bright_outlined_strokes_are_text_and_flat_areas_are_not() {
        let m = TextMask::from_luma(&plane(&[20, 60, 100], 0), 200, 0, 0, 200, 40);
        assert!(m.count() > 30, "{}", m.count());
        let flat = TextMask::from_luma(&vec![240u8; 200 * 40], 200, 0, 0, 200, 40);
        assert_eq!(flat.count(), 0);
    }

    #[test]
    fn a_one_pixel_jitter_is_the_same_text_and_other_strokes_are_not() {
        let a = TextMask::from_luma(&plane(&[20, 60, 100], 0), 200, 0, 0, 200, 40);
        let jitter = TextMask::from_luma(&plane(&[20, 60, 100], 1), 200, 0, 0, 200, 40);
        let other = TextMask::from_luma(&plane(&[40, 140, 170], 0), 200, 0, 0, 200, 40);
        assert!(a.difference(&a) < 1e-6);
        assert!(a.difference(&jitter) < 0.15, "{}", a.difference(&jitter));
        assert!(a.difference(&other) > 0.8, "{}", a.difference(&other));
    }
}
