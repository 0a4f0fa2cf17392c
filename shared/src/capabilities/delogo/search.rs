//! Finding logos without being told: a logo is what stays put while the
//! picture changes. Over frames sampled across the video (plane 0 at half
//! size), two kinds of evidence:
//!
//! - **spread**: a pixel under a logo of alpha `a` varies `1 − a` times as
//!   much as the picture around it (opaque logos not at all);
//! - **edges**: the logo's edges point the same way in every shot, while
//!   the picture's do only within a shot (gradients are averaged per shot,
//!   so a long static shot counts once).
//!
//! Windows of the samples (all, halves, thirds) are searched separately,
//! so a logo shown for a part of the video stands out in the window that
//! holds it.

use super::api::Corner;
use super::blend::{dilate, Rect};
use crate::media::planar::Planar;

/// Mean absolute difference (8-bit levels) between consecutive samples
/// that starts a new shot.
const CUT: f32 = 20.0;
/// Spread ratio below which a pixel looks covered.
const SPREAD_RATIO: f32 = 0.5;
/// Surroundings that vary less than this (levels) show nothing.
const MIN_AROUND: f32 = 3.0;
/// Mean gradient (levels per half-size pixel) of a logo edge.
const EDGE: f32 = 3.0;
/// Parts of a logo closer than this (half-size pixels) are one logo.
const MERGE_GAP: usize = 12;
/// Share of shots whose gradient agrees with the mean one.
const AGREE: f32 = 0.8;

/// A place that looks like a logo, and the samples it was seen in.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its box in plane-0 pixels.
    pub rect: Rect,
    /// The sample indices of the window it was found in.
    pub window: std::ops::Range<usize>,
}

/// Half-size plane 0 of a sample.
struct Small {
    w: usize,
    h: usize,
    px: Vec<f32>,
}

fn half(p: &Planar) -> Small {
    let (w0, h0) = (p.width as usize, p.height as usize);
    let (w, h) = (w0 / 2, h0 / 2);
    let y = &p.planes[0];
    let mut px = Vec::with_capacity(w * h);
    for r in 0..h {
        for c in 0..w {
            let i = 2 * r * w0 + 2 * c;
            let s = u32::from(y[i])
                + u32::from(y[i + 1])
                + u32::from(y[i + w0])
                + u32::from(y[i + w0 + 1]);
            px.push(s as f32 / 4.0);
        }
    }
    Small { w, h, px }
}

/// What the search saw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Found {
    /// Places that look like logos.
    pub candidates: Vec<Candidate>,
    /// The shot index of each sample (a new shot where the picture jumps).
    pub shots: Vec<usize>,
}

/// Logo candidates in `samples` (upright frames, in time order), limited
/// to `corners` when any are given, and the samples' shots.
pub fn search(samples: &[&Planar], corners: &[Corner]) -> Found {
    let Some(first) = samples.first() else {
        return Found::default();
    };
    if first.width < 32 || first.height < 32 {
        return Found::default();
    }
    let small: Vec<Small> = samples.iter().map(|p| half(p)).collect();
    let n = small.len();
    let mut windows: Vec<std::ops::Range<usize>> = Vec::with_capacity(6);
    windows.push(0..n);
    for parts in [2, 3] {
        if n >= 8 * parts {
            windows.extend((0..parts).map(|k| k * n / parts..(k + 1) * n / parts));
        }
    }
    let frame = (first.width, first.height);
    let shot = shots(&small);
    let mut found: Vec<Candidate> = Vec::new();
    for window in windows {
        let views = shot[window.end - 1] - shot[window.start] + 1;
        if window.len() < n && views < 3 {
            continue;
        }
        let whole = window.len() == n;
        for rect in search_window(&small[window.clone()], frame, whole) {
            if !corners.is_empty() {
                let centre = (
                    f64::from(rect.x) + f64::from(rect.w) / 2.0,
                    f64::from(rect.y) + f64::from(rect.h) / 2.0,
                );
                if !corners.iter().any(|c| c.holds(centre, frame)) {
                    continue;
                }
            }
            // What a longer window found there already is that logo (a
            // shorter window adds the scene around it).
            if found.iter().any(|c| near(c.rect, rect, 16)) {
                continue;
            }
            found.push(Candidate {
                rect,
                window: window.clone(),
            });
        }
    }
    Found {
        candidates: found,
        shots: shot,
    }
}

fn shots(small: &[Small]) -> Vec<usize> {
    let mut shot = 0;
    let mut out = vec![0];
    for pair in small.windows(2) {
        let (a, b) = (&pair[0].px, &pair[1].px);
        let (mut sum, mut count) = (0.0f32, 0usize);
        for i in (0..a.len()).step_by(4) {
            sum += (a[i] - b[i]).abs();
            count += 1;
        }
        if sum / count.max(1) as f32 > CUT {
            shot += 1;
        }
        out.push(shot);
    }
    out
}

/// Logo boxes in `small`; a `whole` window's boxes hold all the evidence,
/// a part's only the edges.
fn search_window(small: &[Small], frame: (u32, u32), whole: bool) -> Vec<Rect> {
    let k = small.len();
    if k < 3 {
        return Vec::new();
    }
    let (w, h) = (small[0].w, small[0].h);
    let n = w * h;
    // Spread over time, and its typical value around each place.
    let (mut s, mut ss) = (vec![0.0f32; n], vec![0.0f32; n]);
    for f in small {
        for i in 0..n {
            s[i] += f.px[i];
            ss[i] += f.px[i] * f.px[i];
        }
    }
    let kf = k as f32;
    let spread: Vec<f32> = (0..n)
        .map(|i| (ss[i] / kf - (s[i] / kf).powi(2)).max(0.0).sqrt())
        .collect();
    let around = local_median(&spread, w, h, 8, 3);
    // Edges: per-shot mean gradients, then their agreement across shots.
    let shot = shots(small);
    let views = shot.last().map_or(1, |&s| s + 1);
    let use_edges = views >= 3;
    let mut edge = vec![false; n];
    if use_edges {
        let mut per_view: Vec<(Vec<f32>, Vec<f32>)> = Vec::with_capacity(views);
        let mut start = 0;
        while start < k {
            let mut end = start;
            while end < k && shot[end] == shot[start] {
                end += 1;
            }
            let (mut gx, mut gy) = (vec![0.0f32; n], vec![0.0f32; n]);
            for f in &small[start..end] {
                for y in 1..h - 1 {
                    for x in 1..w - 1 {
                        let i = y * w + x;
                        gx[i] += (f.px[i + 1] - f.px[i - 1]) / 2.0;
                        gy[i] += (f.px[i + w] - f.px[i - w]) / 2.0;
                    }
                }
            }
            let m = (end - start) as f32;
            gx.iter_mut().for_each(|v| *v /= m);
            gy.iter_mut().for_each(|v| *v /= m);
            per_view.push((gx, gy));
            start = end;
        }
        let vf = per_view.len() as f32;
        for (i, slot) in edge.iter_mut().enumerate() {
            let mx = per_view.iter().map(|v| v.0[i]).sum::<f32>() / vf;
            let my = per_view.iter().map(|v| v.1[i]).sum::<f32>() / vf;
            let m = mx.hypot(my);
            if m < EDGE {
                continue;
            }
            let agree = per_view
                .iter()
                .filter(|v| (v.0[i] * mx + v.1[i] * my) / m >= 0.5 * m)
                .count() as f32
                / vf;
            *slot = agree >= AGREE;
        }
    }
    let covered: Vec<bool> = (0..n)
        .map(|i| around[i] >= MIN_AROUND && spread[i] < SPREAD_RATIO * around[i])
        .collect();
    let any: Vec<bool> = (0..n).map(|i| covered[i] || edge[i]).collect();
    let grown = dilate(&any, w, h, 2);
    let mut boxes: Vec<(usize, usize, usize, usize)> = Vec::new();
    for comp in components(&grown, w, h) {
        let (x0, y0, x1, y1) = comp.bounds;
        let area = (x1 - x0 + 1) * (y1 - y0 + 1);
        let (mut n_edge, mut n_cov) = (0usize, 0usize);
        let (mut bx0, mut by0, mut bx1, mut by1) = (usize::MAX, usize::MAX, 0, 0);
        // In a part of the video, with edges to go by, the box is theirs:
        // a still part of the scene beside the logo is covered too, but
        // its edges do not agree across shots.
        for &i in &comp.pixels {
            n_edge += usize::from(edge[i]);
            n_cov += usize::from(covered[i]);
        }
        for &i in &comp.pixels {
            let counts = if whole {
                any[i]
            } else if use_edges && n_edge > 0 {
                edge[i]
            } else {
                covered[i]
            };
            if !counts {
                continue;
            }
            let (x, y) = (i % w, i / w);
            bx0 = bx0.min(x);
            by0 = by0.min(y);
            bx1 = bx1.max(x);
            by1 = by1.max(y);
        }
        let evidence = if use_edges {
            n_edge >= 10 && n_edge * 100 >= area
        } else {
            n_cov >= 40
        };
        if evidence && bx0 <= bx1 {
            boxes.push((bx0, by0, bx1, by1));
        }
    }
    let boxes = merge_close(boxes, MERGE_GAP);
    boxes
        .into_iter()
        .filter(|&(x0, y0, x1, y1)| {
            let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
            bw * 2 <= w && bh * 5 <= h * 2 && bw * bh * 10 <= n && bw >= 3 && bh >= 3
        })
        .map(|(x0, y0, x1, y1)| Rect {
            x: (x0 * 2) as u32,
            y: (y0 * 2) as u32,
            w: (((x1 - x0 + 1) * 2) as u32).min(frame.0),
            h: (((y1 - y0 + 1) * 2) as u32).min(frame.1),
        })
        .collect()
}

/// Whether `a` and `b` overlap or lie within `gap` pixels of each other.
fn near(a: Rect, b: Rect, gap: u32) -> bool {
    a.x <= b.x + b.w + gap
        && b.x <= a.x + a.w + gap
        && a.y <= b.y + b.h + gap
        && b.y <= a.y + a.h + gap
}

/// Boxes (inclusive corners) closer than `gap` merged, until none are.
fn merge_close(
    mut boxes: Vec<(usize, usize, usize, usize)>,
    gap: usize,
) -> Vec<(usize, usize, usize, usize)> {
    loop {
        let mut merged = false;
        'outer: for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                let (a, b) = (boxes[i], boxes[j]);
                let apart_x = b.0 > a.2 + gap || a.0 > b.2 + gap;
                let apart_y = b.1 > a.3 + gap || a.1 > b.3 + gap;
                if !apart_x && !apart_y {
                    boxes[i] = (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3));
                    boxes.swap_remove(j);
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            return boxes;
        }
    }
}

/// A median of block means: `values` averaged over `block`×`block`
/// blocks, each block's value the median of its (2·`r`+1)² neighbours,
/// spread back to full size.
fn local_median(values: &[f32], w: usize, h: usize, block: usize, r: usize) -> Vec<f32> {
    let (bw, bh) = (w.div_ceil(block), h.div_ceil(block));
    let mut means = vec![0.0f32; bw * bh];
    let mut counts = vec![0u32; bw * bh];
    for y in 0..h {
        for x in 0..w {
            let b = (y / block) * bw + x / block;
            means[b] += values[y * w + x];
            counts[b] += 1;
        }
    }
    for (m, c) in means.iter_mut().zip(&counts) {
        *m /= (*c).max(1) as f32;
    }
    let mut med = vec![0.0f32; bw * bh];
    let mut window = Vec::new();
    for by in 0..bh {
        for bx in 0..bw {
            window.clear();
            for yy in by.saturating_sub(r)..(by + r + 1).min(bh) {
                for xx in bx.saturating_sub(r)..(bx + r + 1).min(bw) {
                    window.push(means[yy * bw + xx]);
                }
            }
            window.sort_by(f32::total_cmp);
            med[by * bw + bx] = window[window.len() / 2];
        }
    }
    (0..w * h)
        .map(|i| med[(i / w / block) * bw + (i % w) / block])
        .collect()
}

struct Component {
    pixels: Vec<usize>,
    bounds: (usize, usize, usize, usize),
}

/// 8-connected components of `mask`.
fn components(mask: &[bool], w: usize, h: usize) -> Vec<Component> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut pixels = Vec::new();
        let mut bounds = (usize::MAX, usize::MAX, 0, 0);
        while let Some(i) = stack.pop() {
            pixels.push(i);
            let (x, y) = (i % w, i / w);
            bounds = (
                bounds.0.min(x),
                bounds.1.min(y),
                bounds.2.max(x),
                bounds.3.max(y),
            );
            for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = yy * w + xx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(Component { pixels, bounds });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shots of moving texture; a logo drawn into `logo` when given.
    fn samples(count: u32, logo: Option<(Rect, f32)>) -> Vec<Planar> {
        (0..count)
            .map(|t| {
                let shot = t / 4;
                let rgb = image::RgbImage::from_fn(160, 96, |x, y| {
                    let phase = (x * (3 + shot % 4) + y * (5 + shot % 3) + t * 11 + shot * 57) % 64;
                    let g = (30 + phase * 3 + shot * 13 % 40).min(255) as u8;
                    image::Rgb([g, g, g])
                });
                let mut p = Planar::from_rgb(&rgb);
                if let Some((r, a)) = logo {
                    for plane in &mut p.planes {
                        for y in r.y..r.y + r.h {
                            for x in r.x..r.x + r.w {
                                let white = (x / 3 + y / 3) % 2 == 0;
                                let c = if white { 240.0 } else { 20.0 };
                                let v = &mut plane[(y * 160 + x) as usize];
                                *v = (a * c + (1.0 - a) * f32::from(*v)) as u8;
                            }
                        }
                    }
                }
                p
            })
            .collect()
    }

    #[test]
    fn finds_a_logo_that_stays_put() {
        let logo = Rect {
            x: 120,
            y: 8,
            w: 30,
            h: 16,
        };
        for alpha in [1.0, 0.6] {
            let s = samples(32, Some((logo, alpha)));
            let refs: Vec<&Planar> = s.iter().collect();
            let found = search(&refs, &[]).candidates;
            assert_eq!(found.len(), 1, "alpha {alpha}: {found:?}");
            assert!(found[0].rect.iou(logo) > 0.7, "{:?}", found[0]);
            assert!(search(&refs, &[Corner::BottomLeft]).candidates.is_empty());
        }
    }

    #[test]
    fn finds_nothing_in_a_clean_video() {
        let s = samples(32, None);
        let refs: Vec<&Planar> = s.iter().collect();
        assert!(search(&refs, &[]).candidates.is_empty());
    }
}
