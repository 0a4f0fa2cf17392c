//! Spaces between words that the recogniser read as one word (a font that
//! sets Latin words tight, such as a CJK font's Latin glyphs): where the
//! strokes of a line leave a column gap much wider than the gaps between
//! its letters, and the recogniser put no space between the letters on
//! either side, a space is put back.

use image::RgbImage;

use super::mask::outlined_strokes;
use crate::ocr::TextLine;

/// A gap between strokes at least this share of the line's height is a
/// word gap (a letter gap is far narrower).
const WORD_GAP: f32 = 0.16;
/// A word gap is at least this many times as wide as the line's typical
/// gap between strokes.
const WIDER: f32 = 1.6;
/// A space read within this share of the line's height of a gap is that
/// gap's.
const SAME_GAP: f32 = 0.4;

/// Puts back the spaces `line` (read from `image`) lacks between Latin
/// words.
pub fn restore(line: &mut TextLine, image: &RgbImage) {
    let chars: Vec<char> = line.text.chars().collect();
    if chars.len() != line.positions.len() || chars.len() < 3 {
        return;
    }
    let letters = chars.iter().filter(|c| c.is_ascii_alphabetic()).count();
    if letters * 2 < chars.len() {
        return;
    }
    let x = &line.positions;
    // A gap the recogniser already read as a space (where it put one is
    // only roughly where the gap is).
    let near = SAME_GAP * (line.bbox.y1 - line.bbox.y0);
    let gaps: Vec<f32> = word_gaps(line, image)
        .into_iter()
        .filter(|&g| {
            !chars
                .iter()
                .zip(x)
                .any(|(c, &at)| c.is_whitespace() && (at - g).abs() < near)
        })
        .collect();
    if gaps.is_empty() {
        return;
    }
    let mut text = String::with_capacity(line.text.len() + gaps.len());
    let mut positions = Vec::with_capacity(x.len() + gaps.len());
    for i in 0..chars.len() {
        text.push(chars[i]);
        positions.push(x[i]);
        let Some(&next) = chars.get(i + 1) else {
            continue;
        };
        // No space before closing punctuation or after an opening one.
        if chars[i].is_whitespace()
            || next.is_whitespace()
            || ".,!?;:)]}…\"'’”".contains(next)
            || "([{\"'‘“".contains(chars[i])
        {
            continue;
        }
        if gaps.iter().any(|&g| x[i] < g && g < x[i + 1]) {
            text.push(' ');
            positions.push((x[i] + x[i + 1]) / 2.0);
        }
    }
    line.text = text;
    line.positions = positions;
}

/// The middles (x, in the image's pixels) of the word gaps between the
/// strokes of `line`: a gap between strokes [`WIDER`] than the line's
/// typical one, and either wider than [`WORD_GAP`] of the line's height
/// or one through which the picture shows between the letters' outlines
/// (inside a word set tight the outlines touch).
fn word_gaps(line: &TextLine, image: &RgbImage) -> Vec<f32> {
    let b = &line.bbox;
    let x0 = (b.x0.floor().max(0.0) as u32).min(image.width());
    let y0 = (b.y0.floor().max(0.0) as u32).min(image.height());
    let x1 = (b.x1.ceil().max(0.0) as u32).min(image.width());
    let y1 = (b.y1.ceil().max(0.0) as u32).min(image.height());
    let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
    if w < 8 || h < 8 {
        return Vec::new();
    }
    let mut luma = vec![0u8; w * h];
    for r in 0..h {
        for c in 0..w {
            let p = image.get_pixel(x0 + c as u32, y0 + r as u32);
            let y = (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000;
            luma[r * w + c] = y as u8;
        }
    }
    let (strokes, inked) = ink_columns(&luma, w, h);
    let (Some(first), Some(last)) = (
        strokes.iter().position(|&s| s),
        strokes.iter().rposition(|&s| s),
    ) else {
        return Vec::new();
    };
    let wide = WORD_GAP * h as f32;
    // Gaps between strokes: (start, end) columns.
    let mut runs = Vec::new();
    let mut start = first;
    for (c, &stroke) in strokes.iter().enumerate().take(last + 1).skip(first) {
        if stroke {
            if c > start {
                runs.push((start, c));
            }
            start = c + 1;
        }
    }
    let mut widths: Vec<usize> = runs.iter().map(|(a, b)| b - a).collect();
    widths.sort_unstable();
    let typical = widths.get(widths.len() / 2).copied().unwrap_or(0) as f32;
    let mut gaps = Vec::new();
    for (a, b) in runs {
        let run = (b - a) as f32;
        let shows = inked[a..b]
            .windows(SHOWS_THROUGH)
            .any(|k| k.iter().all(|&i| !i));
        if run >= WIDER * typical && (run >= wide || shows) {
            gaps.push(x0 as f32 + (a + b) as f32 / 2.0);
        }
    }
    gaps
}

/// Brightest a caption's outline is (8-bit luma).
const OUTLINE: u8 = 100;
/// Least brightness of a caption's stroke.
const BRIGHT: u8 = 170;
/// Least drop from a stroke to its outline.
const CONTRAST: u8 = 60;
/// Columns of picture between two letters' outlines that make a word gap.
const SHOWS_THROUGH: usize = 2;

/// For each column of a `w`×`h` luma patch: whether it holds a caption's
/// stroke (a bright pixel with a much darker one on both sides within
/// reach, across or along), and whether it holds a stroke or the dark
/// outline next to one.
fn ink_columns(luma: &[u8], w: usize, h: usize) -> (Vec<bool>, Vec<bool>) {
    let reach = (h / 14).max(3);
    let at = |r: usize, c: usize| luma[r * w + c];
    let stroke = outlined_strokes(luma, (w, h), reach, BRIGHT, CONTRAST);
    let mut strokes = vec![false; w];
    let mut inked = vec![false; w];
    for r in 0..h {
        for c in 0..w {
            if stroke[r * w + c] {
                strokes[c] = true;
                inked[c] = true;
            } else if !inked[c] && at(r, c) <= OUTLINE {
                let near = (c.saturating_sub(reach)..(c + reach + 1).min(w))
                    .any(|k| stroke[r * w + k])
                    || (r.saturating_sub(reach)..(r + reach + 1).min(h)).any(|k| stroke[k * w + c]);
                inked[c] = near;
            }
        }
    }
    (strokes, inked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::TextBox;

    /// A line of bar-shaped letters (white, outlined in black) over a grey
    /// picture: letter `i` of each word at a pitch of 11 px (the outlines
    /// touch), words `word_gap` px apart. Returns the image and each
    /// letter's middle.
    fn bars(words: &[usize], word_gap: u32) -> (RgbImage, Vec<f32>) {
        let mut image = RgbImage::from_pixel(400, 60, image::Rgb([120, 120, 120]));
        let mut middles = Vec::new();
        let mut x = 20u32;
        for &letters in words {
            for _ in 0..letters {
                for yy in 12..48 {
                    for xx in x..x + 11 {
                        let inside = (x + 3..x + 8).contains(&xx) && (15..45).contains(&yy);
                        let v = if inside { 240 } else { 10 };
                        image.put_pixel(xx, yy, image::Rgb([v, v, v]));
                    }
                }
                middles.push(x as f32 + 5.5);
                x += 11;
            }
            x += word_gap;
        }
        (image, middles)
    }

    fn line(text: &str, positions: Vec<f32>) -> TextLine {
        TextLine {
            bbox: TextBox {
                x0: 10.0,
                y0: 6.0,
                x1: 390.0,
                y1: 54.0,
                score: 0.9,
            },
            text: text.into(),
            confidence: 0.9,
            positions,
        }
    }

    #[test]
    fn a_word_gap_read_as_nothing_gets_its_space_back() {
        let (image, x) = bars(&[4, 5, 2], 16);
        let mut read = line("Thisbladeis", x);
        restore(&mut read, &image);
        assert_eq!(read.text, "This blade is");
        assert_eq!(read.positions.len(), read.text.chars().count());
        // Letters set apart as much as words are are not words.
        let (even, x) = bars(&[9], 0);
        let mut read = line("Thisblade", x);
        restore(&mut read, &even);
        assert_eq!(read.text, "Thisblade");
    }

    #[test]
    fn spaces_already_read_punctuation_and_other_scripts_are_left_alone() {
        let (image, x) = bars(&[4, 3], 16);
        assert_eq!(x.len(), 7);
        // The recogniser read the space (somewhere in the gap).
        let mut with_space: Vec<f32> = x[..4].to_vec();
        with_space.push(x[3] + 12.0);
        with_space.extend_from_slice(&x[4..]);
        let mut read = line("This bla", with_space);
        restore(&mut read, &image);
        assert_eq!(read.text, "This bla");
        // No space before a full stop.
        let mut read = line("Done...", x.clone());
        assert_eq!(read.text.chars().count(), x.len());
        restore(&mut read, &image);
        assert_eq!(read.text, "Done...");
        // Chinese is not spaced.
        let mut read = line("你好世界这是字", x);
        restore(&mut read, &image);
        assert_eq!(read.text, "你好世界这是字");
    }
}
