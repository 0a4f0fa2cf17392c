//! Text boxes from a DB (differentiable binarisation) probability map, as
//! PaddleOCR's post-processing does it for horizontal text: threshold,
//! dilate, connected components, mean-probability score, then "unclip"
//! (grow each box by area × ratio / perimeter).

/// An axis-aligned box, in pixels of the map's source image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    /// Left.
    pub x0: f32,
    /// Top.
    pub y0: f32,
    /// Right (exclusive).
    pub x1: f32,
    /// Bottom (exclusive).
    pub y1: f32,
    /// Mean text probability inside the component.
    pub score: f32,
}

impl TextBox {
    /// Width.
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }

    /// Height.
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    /// Vertical overlap with `other` over the smaller height.
    pub fn vertical_overlap(&self, other: &Self) -> f32 {
        let overlap = self.y1.min(other.y1) - self.y0.max(other.y0);
        overlap.max(0.0) / self.height().min(other.height()).max(1.0)
    }
}

/// DB settings (PaddleOCR's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbSettings {
    /// Pixel probability threshold.
    pub thresh: f32,
    /// Minimum mean probability of a box.
    pub box_thresh: f32,
    /// How much to grow boxes.
    pub unclip_ratio: f32,
    /// Smallest side kept, map pixels.
    pub min_size: f32,
}

impl Default for DbSettings {
    fn default() -> Self {
        Self {
            thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
            min_size: 3.0,
        }
    }
}

/// Boxes in a `width`×`height` probability map, scaled by `scale_x` and
/// `scale_y` (map pixels per source pixel) back to source pixels and
/// clamped to `source` (width, height).
pub fn boxes(
    prob: &[f32],
    width: usize,
    height: usize,
    scale: (f32, f32),
    source: (f32, f32),
    settings: &DbSettings,
) -> Vec<TextBox> {
    if width == 0 || height == 0 || prob.len() < width * height {
        return Vec::new();
    }
    // Threshold and dilate with a 2×2 kernel, as PaddleOCR does.
    let raw: Vec<bool> = prob[..width * height]
        .iter()
        .map(|&p| p > settings.thresh)
        .collect();
    let mut mask = raw.clone();
    for y in 0..height {
        for x in 0..width {
            if raw[y * width + x] {
                continue;
            }
            let left = x > 0 && raw[y * width + x - 1];
            let up = y > 0 && raw[(y - 1) * width + x];
            let diag = x > 0 && y > 0 && raw[(y - 1) * width + x - 1];
            mask[y * width + x] = left || up || diag;
        }
    }
    let mut label = vec![u32::MAX; width * height];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..width * height {
        if !mask[start] || label[start] != u32::MAX {
            continue;
        }
        let id = out.len() as u32;
        label[start] = id;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0usize, 0usize);
        let (mut sum, mut n) = (0.0f64, 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            sum += f64::from(prob[i]);
            n += 1;
            let mut visit = |j: usize| {
                if mask[j] && label[j] == u32::MAX {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < width {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - width);
            }
            if y + 1 < height {
                visit(i + width);
            }
        }
        let w = (x1 + 1 - x0) as f32;
        let h = (y1 + 1 - y0) as f32;
        let score = (sum / n as f64) as f32;
        // Keep the id sequence aligned with `out` even for dropped boxes.
        out.push(None);
        if w.min(h) < settings.min_size || score < settings.box_thresh {
            continue;
        }
        let d = w * h * settings.unclip_ratio / (2.0 * (w + h));
        let (sx, sy) = scale;
        let b = TextBox {
            x0: ((x0 as f32 - d) / sx).max(0.0),
            y0: ((y0 as f32 - d) / sy).max(0.0),
            x1: ((x1 as f32 + 1.0 + d) / sx).min(source.0),
            y1: ((y1 as f32 + 1.0 + d) / sy).min(source.1),
            score,
        };
        if let Some(last) = out.last_mut() {
            *last = Some(b);
        }
    }
    out.into_iter().flatten().collect()
}

/// Joins boxes that sit on one text line (they overlap vertically and the
/// horizontal gap is under `gap` line heights) and sorts the lines top to
/// bottom, then left to right.
pub fn merge_lines(mut boxes: Vec<TextBox>, gap: f32) -> Vec<TextBox> {
    boxes.sort_by(|a, b| a.x0.total_cmp(&b.x0));
    let mut lines: Vec<TextBox> = Vec::new();
    for b in boxes {
        let joined = lines.iter_mut().rev().find(|l| {
            l.vertical_overlap(&b) >= 0.5
                && b.x0 - l.x1 <= gap * l.height().max(b.height())
                && b.height() <= 1.8 * l.height()
                && l.height() <= 1.8 * b.height()
        });
        match joined {
            Some(l) => {
                let wl = l.width();
                let wb = b.width();
                l.score = (l.score * wl + b.score * wb) / (wl + wb).max(1.0);
                l.x0 = l.x0.min(b.x0);
                l.y0 = l.y0.min(b.y0);
                l.x1 = l.x1.max(b.x1);
                l.y1 = l.y1.max(b.y1);
            }
            None => lines.push(b),
        }
    }
    lines.sort_by(|a, b| {
        let same_row = a.vertical_overlap(b) >= 0.5;
        if same_row {
            a.x0.total_cmp(&b.x0)
        } else {
            a.y0.total_cmp(&b.y0)
        }
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(w: usize, h: usize, rects: &[(usize, usize, usize, usize)]) -> Vec<f32> {
        let mut m = vec![0.0; w * h];
        for &(x0, y0, x1, y1) in rects {
            for y in y0..y1 {
                for x in x0..x1 {
                    m[y * w + x] = 0.9;
                }
            }
        }
        m
    }

    #[test]
    fn each_component_becomes_a_grown_box_in_source_pixels() {
        let m = map(64, 32, &[(4, 10, 30, 18), (40, 10, 60, 18)]);
        let b = boxes(
            &m,
            64,
            32,
            (0.5, 0.5),
            (128.0, 64.0),
            &DbSettings::default(),
        );
        assert_eq!(b.len(), 2);
        // Component 27×9 after the 2×2 dilation, grown by 27*9*1.6/72 = 5.4,
        // then halved back to source pixels.
        assert!((b[0].x0 - 0.0).abs() < 1e-3, "{:?}", b[0]);
        assert!(b[0].y0 > 8.0 && b[0].y0 < 10.0, "{:?}", b[0]);
        assert!((b[0].x1 - 72.8).abs() < 1e-3, "{:?}", b[0]);
        // The dilated border (probability 0) is part of the mean.
        assert!(b[0].score > 0.7 && b[0].score < 0.9, "{:?}", b[0]);
    }

    #[test]
    fn faint_and_tiny_components_are_dropped() {
        let mut m = map(64, 32, &[(4, 4, 6, 6)]);
        for v in m.iter_mut().skip(20 * 64).take(64) {
            *v = 0.35;
        }
        assert!(boxes(&m, 64, 32, (1.0, 1.0), (64.0, 32.0), &DbSettings::default()).is_empty());
    }

    #[test]
    fn words_on_one_line_are_joined_and_lines_sorted_top_down() {
        let b = |x0: f32, y0: f32, x1: f32, y1: f32| TextBox {
            x0,
            y0,
            x1,
            y1,
            score: 0.9,
        };
        let lines = merge_lines(
            vec![
                b(200.0, 50.0, 260.0, 80.0),
                b(100.0, 10.0, 160.0, 40.0),
                b(10.0, 52.0, 180.0, 80.0),
                b(10.0, 12.0, 90.0, 40.0),
                b(500.0, 10.0, 560.0, 40.0),
            ],
            1.5,
        );
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!((lines[0].x0, lines[0].x1), (10.0, 160.0));
        assert_eq!(lines[1].x0, 500.0);
        assert_eq!((lines[2].x0, lines[2].x1), (10.0, 260.0));
    }
}
