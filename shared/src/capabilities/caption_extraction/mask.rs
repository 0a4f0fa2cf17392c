//! A cheap picture of where subtitle-like text is: pixels that are bright
//! and sit next to a much darker pixel (the outline or shadow every burned
//! subtitle has), at half resolution, as a bitmap. Two frames show the same
//! caption when their bitmaps agree within a pixel.

/// Minimum brightness of a text pixel (8-bit luma).
const BRIGHT: u8 = 170;
/// Minimum drop to the outline.
const CONTRAST: u8 = 60;
/// How far (half-resolution pixels) the outline may be on each side.
const REACH: usize = 3;

/// The text bitmap of one frame's region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMask {
    width: usize,
    height: usize,
    words: usize,
    bits: Vec<u64>,
    count: u32,
}

/// A [`TextMask`] as JSON: its size and the lengths of the runs of
/// clear and set pixels, row by row, beginning with clear ones (a text
/// bitmap is mostly long runs, so this is a fraction of its bits).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MaskWire {
    width: usize,
    height: usize,
    runs: Vec<u32>,
}

impl serde::Serialize for TextMask {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut runs = Vec::new();
        let (mut set, mut length) = (false, 0u32);
        for r in 0..self.height {
            for c in 0..self.width {
                let bit = self.bits[r * self.words + c / 64] >> (c % 64) & 1 == 1;
                if bit != set {
                    runs.push(length);
                    (set, length) = (bit, 0);
                }
                length += 1;
            }
        }
        runs.push(length);
        MaskWire {
            width: self.width,
            height: self.height,
            runs,
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for TextMask {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = MaskWire::deserialize(deserializer)?;
        let area = wire
            .width
            .checked_mul(wire.height)
            .filter(|&a| a <= 1 << 26);
        let Some(area) = area else {
            return Err(serde::de::Error::custom("a text mask too large"));
        };
        let words = wire.width.div_ceil(64);
        let mut bits = vec![0u64; words * wire.height];
        let (mut at, mut count, mut set) = (0usize, 0u32, false);
        for &length in &wire.runs {
            let end = at.saturating_add(length as usize);
            if end > area {
                return Err(serde::de::Error::custom("a text mask's runs overrun it"));
            }
            if set {
                for i in at..end {
                    let (r, c) = (i / wire.width, i % wire.width);
                    bits[r * words + c / 64] |= 1 << (c % 64);
                }
                count += length;
            }
            (at, set) = (end, !set);
        }
        Ok(Self {
            width: wire.width,
            height: wire.height,
            words,
            bits,
            count,
        })
    }
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

    /// The mask of an already half-resolution luma image: bright pixels
    /// with much darker pixels on both sides within `REACH` pixels,
    /// across or along (a stroke with its outline, not the edge of a
    /// bright area).
    pub fn from_half(half: &[u8], hw: usize, hh: usize) -> Self {
        let words = hw.div_ceil(64);
        let mut bits = vec![0u64; words * hh];
        let mut count = 0u32;
        let strokes = outlined_strokes(half, (hw, hh), REACH, BRIGHT, CONTRAST);
        for (i, _) in strokes.iter().enumerate().filter(|(_, &s)| s) {
            let (r, c) = (i / hw, i % hw);
            bits[r * words + c / 64] |= 1 << (c % 64);
            count += 1;
        }
        Self {
            width: hw,
            height: hh,
            words,
            bits,
            count,
        }
    }

    /// The bounding box of the text pixels in source pixels of the region
    /// (x, y, width, height), ignoring rows and columns with a single
    /// pixel; `None` when there is no text.
    pub fn bounds(&self) -> Option<(usize, usize, usize, usize)> {
        let mut rows = (usize::MAX, 0usize);
        let mut columns = vec![0u16; self.width];
        for r in 0..self.height {
            let row = &self.bits[r * self.words..(r + 1) * self.words];
            let n: u32 = row.iter().map(|w| w.count_ones()).sum();
            if n >= 2 {
                rows = (rows.0.min(r), rows.1.max(r));
            }
            for (i, &w) in row.iter().enumerate() {
                let mut w = w;
                while w != 0 {
                    let b = w.trailing_zeros() as usize;
                    if let Some(c) = columns.get_mut(i * 64 + b) {
                        *c = c.saturating_add(1);
                    }
                    w &= w - 1;
                }
            }
        }
        let first = columns.iter().position(|&c| c >= 2)?;
        let last = columns.iter().rposition(|&c| c >= 2)?;
        if rows.0 > rows.1 {
            return None;
        }
        Some((
            2 * first,
            2 * rows.0,
            2 * (last + 1 - first),
            2 * (rows.1 + 1 - rows.0),
        ))
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

    /// The share of this mask's pixels that lie within a pixel of one of
    /// `other`'s: how much of a caption's mask a frame still shows,
    /// whatever else it shows.
    pub fn share_in(&self, other: &Self) -> f32 {
        if self.width != other.width || self.height != other.height || self.count == 0 {
            return 0.0;
        }
        let grown = other.dilated();
        let kept: u32 = self
            .bits
            .iter()
            .zip(&grown)
            .map(|(a, b)| (a & b).count_ones())
            .sum();
        kept as f32 / self.count as f32
    }

    /// Keeps only the pixels within a pixel of one of `other`'s (what
    /// stays put from frame to frame: the caption, not the picture).
    pub fn keep_near(&mut self, other: &Self) {
        if self.width != other.width || self.height != other.height {
            return;
        }
        let grown = other.dilated();
        for (a, b) in self.bits.iter_mut().zip(&grown) {
            *a &= b;
        }
        self.count = self.bits.iter().map(|w| w.count_ones()).sum();
    }

    /// How much two masks differ: the text pixels of either that the other
    /// lacks within one pixel, over the smaller mask's count. 0 for
    /// identical masks, 1 or more for unrelated text; a caption vanishing
    /// from a busy background still scores high. Masks of different sizes
    /// differ completely.
    pub fn difference(&self, other: &Self) -> f32 {
        if self.width != other.width || self.height != other.height {
            return 1.0;
        }
        if self.count + other.count == 0 {
            return 0.0;
        }
        let (da, db) = (self.dilated(), other.dilated());
        let missing = |a: &[u64], grown_b: &[u64]| -> u32 {
            a.iter()
                .zip(grown_b)
                .map(|(x, y)| (x & !y).count_ones())
                .sum()
        };
        let floor = (self.area() / 2000).max(16) as u32;
        (missing(&self.bits, &db) + missing(&other.bits, &da)) as f32
            / self.count.min(other.count).max(floor) as f32
    }
}

/// The strokes of outlined text in a `w`×`h` luma image: pixels at
/// least `bright` with a pixel at least `contrast` darker within `reach`
/// on both sides, across or along.
pub fn outlined_strokes(
    luma: &[u8],
    (w, h): (usize, usize),
    reach: usize,
    bright: u8,
    contrast: u8,
) -> Vec<bool> {
    let mut out = vec![false; w * h];
    let at = |x: usize, y: usize| luma[y * w + x];
    for y in 0..h {
        for x in 0..w {
            let v = at(x, y);
            if v < bright {
                continue;
            }
            let dark = v.saturating_sub(contrast);
            let left = (x.saturating_sub(reach)..x).any(|k| at(k, y) <= dark);
            let across = left && (x + 1..(x + 1 + reach).min(w)).any(|k| at(k, y) <= dark);
            out[y * w + x] = across || {
                let up = (y.saturating_sub(reach)..y).any(|k| at(x, k) <= dark);
                up && (y + 1..(y + 1 + reach).min(h)).any(|k| at(x, k) <= dark)
            };
        }
    }
    out
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
        // The edge of a bright area is not a stroke.
        let mut edge = vec![30u8; 200 * 40];
        for (i, v) in edge.iter_mut().enumerate() {
            if i % 200 >= 100 {
                *v = 235;
            }
        }
        assert_eq!(TextMask::from_luma(&edge, 200, 0, 0, 200, 40).count(), 0);
    }

    #[test]
    fn bounds_cover_the_strokes_in_source_pixels() {
        let m = TextMask::from_luma(&plane(&[20, 60, 100], 0), 200, 0, 0, 200, 40);
        let (x, y, w, h) = m.bounds().expect("text");
        assert!(x <= 20 && x + w >= 104 && x + w <= 110, "{x} {w}");
        assert!(y <= 10 && y + h >= 30 && y + h <= 34, "{y} {h}");
        assert_eq!(
            TextMask::from_luma(&vec![30u8; 200 * 40], 200, 0, 0, 200, 40).bounds(),
            None
        );
    }

    #[test]
    fn a_one_pixel_jitter_is_the_same_text_and_other_strokes_are_not() {
        let a = TextMask::from_luma(&plane(&[20, 60, 100], 0), 200, 0, 0, 200, 40);
        let jitter = TextMask::from_luma(&plane(&[20, 60, 100], 1), 200, 0, 0, 200, 40);
        let other = TextMask::from_luma(&plane(&[40, 140, 170], 0), 200, 0, 0, 200, 40);
        assert!(a.difference(&a) < 1e-6);
        assert!(a.difference(&jitter) < 0.15, "{}", a.difference(&jitter));
        assert!(a.difference(&other) > 0.8, "{}", a.difference(&other));
        // Text vanishing from a busy background is a change.
        let busy = TextMask::from_luma(&plane(&[20, 60, 100, 140, 170], 0), 200, 0, 0, 200, 40);
        let rest = TextMask::from_luma(&plane(&[140, 170], 0), 200, 0, 0, 200, 40);
        assert!(busy.difference(&rest) > 1.0, "{}", busy.difference(&rest));
    }

    #[test]
    fn a_mask_reads_back_from_its_json() {
        let mask = TextMask::from_luma(&plane(&[20, 60, 100], 0), 200, 0, 0, 200, 40);
        assert!(mask.count() > 30);
        let json = serde_json::to_string(&mask).expect("json");
        let back: TextMask = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, mask);
        assert!(json.len() < mask.area() / 2, "{} bytes", json.len());
        let overrun = r#"{"Width":4,"Height":2,"Runs":[3,9]}"#;
        assert!(serde_json::from_str::<TextMask>(overrun).is_err());
    }
}
