//! Where a burned-in caption's pixels are in one frame: its bright strokes
//! (bright pixels with a much darker pixel on both sides within a stroke's
//! reach, across or along), the dark outline and shadow around them where
//! the letters have a black one, and a margin for the anti-aliasing
//! between those and the picture.

use crate::capabilities::caption_extraction::mask::outlined_strokes;
use crate::capabilities::delogo::blend::{dilate, Rect};

/// Minimum brightness of a stroke pixel (8-bit luma).
const BRIGHT: u8 = 160;
/// Minimum drop from a stroke to its outline.
const CONTRAST: u8 = 60;
/// Darkest an outline or shadow may be, at its brightest.
const DARK: u8 = 72;
/// Darkest the heart of an outline or shadow is: black, as renderers
/// draw it (the picture around plain letters is seldom this dark).
const BLACK: u8 = 40;
/// Least share of the strokes with a [`BLACK`] pixel at the same offset
/// (the outline all round, a shadow one way) for the letters to have an
/// outline or shadow. Chosen on the bench's videos and a shadow-only
/// style: outlined captions, dark letters on a light card (whose
/// "strokes" are the card between them) and a 5-px shadow stay masked as
/// before; plain white letters over dark leaves keep the leaves.
const OUTLINED: f32 = 0.5;

/// How far the parts of a caption reach, in pixels, for a frame height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Widest stroke found (half a stroke on each side of a pixel).
    pub stroke: usize,
    /// How far from a stroke its outline or shadow may reach.
    pub outline: usize,
    /// Margin around strokes and outline (anti-aliasing, ringing).
    pub margin: usize,
}

impl Reach {
    /// For a frame `height` pixels high: subtitle renderers scale their
    /// text and outline with it.
    pub fn for_height(height: u32) -> Self {
        let h = height as usize;
        Self {
            stroke: (h / 120).max(4),
            outline: (h / 90).max(3),
            margin: (h / 360).max(2),
        }
    }
}

/// The caption mask of a `w`×`h` luma patch (row-major), and how many
/// stroke pixels it rests on.
pub fn caption_mask(luma: &[u8], w: usize, h: usize, reach: Reach) -> (Vec<bool>, usize) {
    let strokes = strokes(luma, w, h, reach.stroke);
    let count = strokes.iter().filter(|&&s| s).count();
    if count == 0 {
        return (strokes, 0);
    }
    let near = dilate(&strokes, w, h, reach.outline);
    let outlined = outlined(&strokes, luma, w, h, reach.outline);
    let core: Vec<bool> = strokes
        .iter()
        .zip(&near)
        .zip(luma)
        .enumerate()
        .map(|(i, ((&s, &n), &v))| s || (n && v <= DARK && outlined[(i % w) * outlined.len() / w]))
        .collect();
    (dilate(&core, w, h, reach.margin), count)
}

/// Per piece of a `w`×`h` patch along its width (each about twice its
/// height wide: a few letters), whether the letters there have a black
/// outline or shadow: for some offset up to `reach` (2 px or more), most
/// of their `strokes` have a black pixel there (all round for an
/// outline, one way for a shadow). A piece without strokes keeps the
/// outline of its neighbours' letters. Where they have none, dark
/// picture beside them is not theirs.
fn outlined(strokes: &[bool], luma: &[u8], w: usize, h: usize, reach: usize) -> Vec<bool> {
    let pieces = w.div_ceil((2 * h).max(16)).max(1);
    let r = reach as isize;
    // Nearest first: an outline is most often found at the first ring.
    let mut offsets: Vec<(isize, isize)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter(|&(dx, dy)| dx.abs().max(dy.abs()) >= 2)
        .collect();
    offsets.sort_by_key(|&(dx, dy)| dx.abs().max(dy.abs()));
    let mut at: Vec<Vec<(isize, isize)>> = vec![Vec::new(); pieces];
    for (i, _) in strokes.iter().enumerate().filter(|(_, &s)| s) {
        at[(i % w) * pieces / w].push(((i % w) as isize, (i / w) as isize));
    }
    let (wi, hi) = (w as isize, h as isize);
    at.iter()
        .map(|points| {
            let mut measured = false;
            for &(dx, dy) in &offsets {
                let (mut black, mut all) = (0usize, 0usize);
                for &(x, y) in points {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= wi || ny >= hi {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if !strokes[j] {
                        all += 1;
                        black += usize::from(luma[j] <= BLACK);
                    }
                }
                if all >= 16 {
                    if black as f32 / all as f32 >= OUTLINED {
                        return true;
                    }
                    measured = true;
                }
            }
            !measured
        })
        .collect()
}

/// Bright pixels with a pixel at least `CONTRAST` darker within `reach` on
/// both sides, across or along.
fn strokes(luma: &[u8], w: usize, h: usize, reach: usize) -> Vec<bool> {
    outlined_strokes(luma, (w, h), reach, BRIGHT, CONTRAST)
}

/// Sets in a band's `mask` (over `area`) the pixels set in `patch`, a
/// mask of the rectangle `r` inside it.
pub fn or_into(mask: &mut [bool], area: Rect, r: Rect, patch: &[bool]) {
    let (w, h) = (r.w as usize, r.h as usize);
    let (dx, dy) = ((r.x - area.x) as usize, (r.y - area.y) as usize);
    let aw = area.w as usize;
    for y in 0..h {
        for x in 0..w {
            if patch[y * w + x] {
                mask[(y + dy) * aw + x + dx] = true;
            }
        }
    }
}

/// The mask of a plane subsampled by `shift`: a pixel is masked when any
/// full-size pixel it covers is.
pub fn subsampled(mask: &[bool], w: usize, h: usize, shift: u32) -> (Vec<bool>, usize, usize) {
    if shift == 0 {
        return (mask.to_vec(), w, h);
    }
    let s = 1usize << shift;
    let (sw, sh) = (w.div_ceil(s), h.div_ceil(s));
    let mut out = vec![false; sw * sh];
    if w == 0 {
        return (out, sw, sh);
    }
    for (y, row) in mask.chunks_exact(w).enumerate() {
        let to = &mut out[(y / s) * sw..(y / s + 1) * sw];
        for (x, &m) in row.iter().enumerate() {
            to[x / s] |= m;
        }
    }
    (out, sw, sh)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reach of the small test pictures' captions.
    const SMALL: Reach = Reach {
        stroke: 5,
        outline: 4,
        margin: 1,
    };

    /// Grey picture with a white bar (a stroke) outlined in black.
    fn outlined_bar(w: usize, h: usize) -> Vec<u8> {
        let mut p = vec![120u8; w * h];
        for y in 10..20 {
            for x in 10..50 {
                p[y * w + x] = 20;
            }
        }
        for y in 13..17 {
            for x in 13..47 {
                p[y * w + x] = 235;
            }
        }
        p
    }

    #[test]
    fn strokes_outline_and_margin_are_masked() {
        let (w, h) = (64, 32);
        let luma = outlined_bar(w, h);
        let (mask, strokes) = caption_mask(&luma, w, h, SMALL);
        assert!(strokes >= 4 * 34, "{strokes}");
        // Every pixel of bar and outline, and a margin of one.
        for y in 10..20 {
            for x in 10..50 {
                assert!(mask[y * w + x], "{x},{y}");
            }
        }
        assert!(mask[9 * w + 30] && mask[20 * w + 30]);
        // The grey picture beyond stays.
        assert!(!mask[3 * w + 30] && !mask[26 * w + 30] && !mask[16 * w + 60]);
    }

    /// Dark, textured leaves (44 to 68: darker than an outline may be
    /// but not black).
    fn leaves(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| 44 + ((i * 7 + i / w * 13) % 25) as u8)
            .collect()
    }

    #[test]
    fn dark_picture_beside_letters_without_an_outline_is_not_masked() {
        let (w, h) = (64, 32);
        // A white bar straight over dark, textured leaves.
        let mut luma = leaves(w, h);
        for y in 13..17 {
            for x in 13..47 {
                luma[y * w + x] = 235;
            }
        }
        let (mask, strokes) = caption_mask(&luma, w, h, SMALL);
        assert!(strokes >= 4 * 34, "{strokes}");
        // The bar and its margin...
        assert!(mask[15 * w + 30] && mask[12 * w + 30] && mask[17 * w + 30]);
        // ...not the leaves an outline's reach away.
        assert!(!mask[10 * w + 30] && !mask[20 * w + 30] && !mask[15 * w + 50]);
        // With a black outline, they are its.
        for y in 10..20 {
            for x in 10..50 {
                if !(13..17).contains(&y) || !(13..47).contains(&x) {
                    luma[y * w + x] = 20;
                }
            }
        }
        let (mask, _) = caption_mask(&luma, w, h, SMALL);
        assert!(mask[10 * w + 30] && mask[19 * w + 30] && mask[15 * w + 11]);
    }

    #[test]
    fn a_black_shadow_one_way_is_masked_with_its_letters() {
        let (w, h) = (64, 40);
        let mut luma = leaves(w, h);
        // Thin white strokes with a black shadow 5 px down and right: only
        // a sliver of it lies 2-3 px beside them.
        let strokes = |x: usize, y: usize| {
            [12, 24, 36].iter().any(|&s| (s..s + 3).contains(&x)) && (8..24).contains(&y)
        };
        for y in 0..h {
            for x in 0..w {
                if strokes(x, y) {
                    luma[y * w + x] = 235;
                } else if x >= 5 && y >= 5 && strokes(x - 5, y - 5) {
                    luma[y * w + x] = 16;
                }
            }
        }
        let reach = Reach {
            outline: 8,
            ..SMALL
        };
        let (mask, count) = caption_mask(&luma, w, h, reach);
        assert!(count >= 3 * 3 * 16, "{count}");
        assert!(mask[27 * w + 18] && mask[20 * w + 30], "the shadow");
        assert!(!mask[5 * w + 60] && !mask[36 * w + 4], "the leaves");
    }

    #[test]
    fn a_plain_bright_area_is_not_a_stroke() {
        let (w, h) = (40, 40);
        let luma: Vec<u8> = (0..w * h)
            .map(|i| if i % w < 20 { 230 } else { 30 })
            .collect();
        let (mask, strokes) = caption_mask(&luma, w, h, Reach::for_height(720));
        assert_eq!(strokes, 0);
        assert!(mask.iter().all(|&m| !m));
    }

    #[test]
    fn chroma_masks_cover_every_masked_pixel() {
        let (w, h) = (9, 9);
        let mut mask = vec![false; w * h];
        for i in 2..7 {
            for j in [2, 6] {
                mask[i * w + j] = true;
                mask[j * w + i] = true;
            }
        }
        let (half, hw, hh) = subsampled(&mask, w, h, 1);
        assert_eq!((hw, hh), (5, 5));
        assert!(half[hw + 1] && half[3 * hw + 3] && !half[0]);
        // The inside of a ring is picture, not caption.
        assert!(!half[2 * hw + 2]);
    }
}
