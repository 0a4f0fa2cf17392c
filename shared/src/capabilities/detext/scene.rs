//! Text anywhere in the frame (`Target: "all"`): titles, signs, overlays.
//!
//! The text detector looks at the whole frame every [`STEP_S`] seconds
//! (the first frame of each step, so a video read whole or in segments is
//! looked at on the same frames); what it finds and can read is a
//! [`Sighting`]. Sightings of the same text on consecutive looks are
//! linked into a [`Track`] by how much their boxes, grown by their height,
//! overlap, so text that moves with the camera stays one track. Between
//! two looks a track's box moves in a straight line; a step before its
//! first look and after its last it stays where it was seen, since the
//! text may have come or gone anywhere in between. In each frame the mask
//! is what inside the box differs in colour from its ground
//! ([`mask_text`]): the strokes of text on a plain ground or a card, with
//! their edges; the whole box where the ground itself is busy.

use std::ops::ControlFlow;
use std::path::Path;

use crate::capabilities::caption_extraction::mask::outlined_strokes;
use crate::capabilities::delogo::blend::{dilate, Rect};
use crate::capabilities::Context;
use crate::domain::{ErrorCode, JobError};
use crate::media::planar::Planar;
use crate::media::{MediaError, SamplingMode, VideoReader};
use crate::ocr::Ocr;

use super::mask::{or_into, Reach};

/// Seconds between two looks of the text detector.
pub const STEP_S: f64 = 0.5;
/// Longest side of the picture the detector looks at, pixels (text 16–60
/// pixels high is found best; PP-OCR's own default).
const DETECT_SIDE: f32 = 960.0;
/// Least mean character probability of a line that counts as text.
const MIN_CONFIDENCE: f32 = 0.6;
/// Least mean probability of a single character read alone.
const SURE_LETTER: f32 = 0.9;
/// Least overlap (IoU) of two looks' boxes, each grown by its height,
/// for them to be the same text.
const LINK_IOU: f64 = 0.3;
/// Most space between two pieces of one line the detector found, in
/// line heights, for the letters between them to count as text.
const GAP: f64 = 3.0;
/// Share of a detector's box's height above and below its middle rows,
/// where its ground is measured and the letters are looked for (a fifth
/// reached the picture below a card in a 270p test).
const LOOSE: f32 = 0.25;
/// Least colour difference from the ground that counts as text (8-bit
/// levels).
const MIN_DIFF: i32 = 16;
/// How many times the ground's own spread a pixel must differ by.
const SPREAD: i32 = 3;
/// Weight of chroma differences against luma ones.
const CHROMA: i32 = 2;
/// Share of a box differing from its ground above which the whole box is
/// taken (the ground is busy, or the text fills it).
const WHOLE: f32 = 0.6;
/// Least step from a letter's stroke down (or up) to the ground on both
/// sides of it, luma levels.
const STROKE: u8 = 16;

/// Text the detector found and read in one look.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sighting {
    /// The frame's time, seconds.
    pub time: f64,
    /// Where, in the frame's pixels.
    pub rect: Rect,
    /// What it reads.
    pub text: String,
    /// Mean character probability.
    pub confidence: f32,
}

/// The same text seen on consecutive looks.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Where it was at each look, in time order.
    pub path: Vec<(f64, Rect)>,
    /// The best reading.
    pub text: String,
}

/// Whether a frame at `time` is the first of its step, at `frame_s`
/// seconds a frame.
fn first_of_step(time: f64, frame_s: f64) -> bool {
    let step = |t: f64| ((t + frame_s / 4.0) / STEP_S).floor();
    time < frame_s / 2.0 || step(time) != step(time - frame_s)
}

/// Looks for text over the whole frame of `input` every [`STEP_S`]
/// seconds, in the span of `ctx` (the whole video without one), telling
/// its progress.
///
/// # Errors
/// Media errors; `InternalError` when the detector fails.
pub fn sample(ocr: &Ocr, input: &Path, ctx: &Context) -> Result<Vec<Sighting>, JobError> {
    let mut reader = VideoReader::open(input, &ctx.limits)?;
    let info = reader.info().clone();
    let frame_s = 1.0 / info.frame_rate.max(1.0);
    let scale = (DETECT_SIDE / info.width.max(info.height) as f32).min(1.0);
    let (from_s, until_s) = ctx
        .span
        .map_or((0.0, f64::INFINITY), |s| (s.start_s, s.end_s));
    // Where the looks end, for their progress.
    let end_s = until_s.min(info.duration_s);
    let mut found = Vec::new();
    let mut failed = None;
    reader.for_each_frame_between(from_s, until_s, SamplingMode::All, |reader, f| {
        if ctx.cancelled() {
            return Err(MediaError::Cancelled);
        }
        if !first_of_step(f.time_s, frame_s) {
            return Ok(ControlFlow::Continue(()));
        }
        ctx.progress
            .update(((f.time_s - from_s) / (end_s - from_s).max(frame_s)).clamp(0.0, 1.0));
        let rgb = reader.to_rgb(f.frame, info.width, info.height)?;
        match ocr.read(&rgb, scale, false) {
            Ok(lines) => {
                found.extend(same_line(lines.into_iter().filter_map(|l| {
                    let x0 = l.bbox.x0.max(0.0).floor() as u32;
                    let y0 = l.bbox.y0.max(0.0).floor() as u32;
                    let x1 = (l.bbox.x1.ceil().max(0.0) as u32).min(info.width);
                    let y1 = (l.bbox.y1.ceil() as u32).min(info.height);
                    let letters = l.text.chars().filter(|c| c.is_alphanumeric()).count();
                    let readable = l.confidence >= MIN_CONFIDENCE
                        && (letters >= 2 || (letters == 1 && l.confidence >= SURE_LETTER));
                    // A line as tall as a third of the frame is a
                    // detector's mistake over a large plain area.
                    let line = x1 > x0 && y1 > y0 && (y1 - y0) * 3 <= info.height;
                    (readable && line).then(|| Sighting {
                        time: f.time_s,
                        rect: Rect {
                            x: x0,
                            y: y0,
                            w: x1 - x0,
                            h: y1 - y0,
                        },
                        text: l.text.trim().to_owned(),
                        confidence: l.confidence,
                    })
                })));
                Ok(ControlFlow::Continue(()))
            }
            Err(e) => {
                failed = Some(e);
                Ok(ControlFlow::Break(()))
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(JobError::retryable(ErrorCode::InternalError, e.to_string()));
    }
    Ok(found)
}

/// Sightings of one look on the same line, at most [`GAP`] heights
/// apart, joined into one: the detector splits a line where letters
/// lie over a busy picture or a thin one (一) stands alone, and the
/// letters between its pieces are text too.
fn same_line(sightings: impl Iterator<Item = Sighting>) -> Vec<Sighting> {
    let mut lines: Vec<Sighting> = sightings.collect();
    lines.sort_by_key(|s| s.rect.x);
    let mut out: Vec<Sighting> = Vec::with_capacity(lines.len());
    for s in lines {
        let joins = out.iter().rposition(|o| {
            let (a, b) = (o.rect, s.rect);
            let (short, tall) = (a.h.min(b.h), a.h.max(b.h));
            let overlap = (a.y + a.h).min(b.y + b.h).saturating_sub(a.y.max(b.y));
            let gap = b.x.saturating_sub(a.x + a.w);
            2 * tall <= 3 * short
                && 5 * overlap >= 3 * short
                && f64::from(gap) <= GAP * f64::from(tall)
        });
        match joins {
            Some(k) => {
                let o = &mut out[k];
                let (a, b) = (o.rect, s.rect);
                let (x1, y1) = ((a.x + a.w).max(b.x + b.w), (a.y + a.h).max(b.y + b.h));
                let (x0, y0) = (a.x.min(b.x), a.y.min(b.y));
                o.rect = Rect {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                };
                o.text = format!("{} {}", o.text, s.text);
                o.confidence = o.confidence.min(s.confidence);
            }
            None => out.push(s),
        }
    }
    out
}

/// A rectangle grown by its own height on each side (unclipped).
fn roomy(r: Rect) -> Rect {
    Rect {
        x: r.x.saturating_sub(r.h),
        y: r.y.saturating_sub(r.h),
        w: r.w + 2 * r.h,
        h: 3 * r.h,
    }
}

/// Whether two boxes of consecutive looks hold the same text.
fn same_text(a: Rect, b: Rect) -> f64 {
    let ratio = f64::from(a.h.max(1)) / f64::from(b.h.max(1));
    if !(0.6..=1.0 / 0.6).contains(&ratio) {
        return 0.0;
    }
    roomy(a).iou(roomy(b))
}

/// Sightings (in time order) linked into tracks: each joins the track
/// whose box it overlaps most at the look before, if any.
pub fn tracks(sightings: &[Sighting]) -> Vec<Track> {
    let mut tracks: Vec<(Track, f32)> = Vec::new();
    let mut i = 0;
    while i < sightings.len() {
        let t = sightings[i].time;
        let look: Vec<&Sighting> = sightings[i..]
            .iter()
            .take_while(|s| (s.time - t).abs() < 1e-6)
            .collect();
        i += look.len();
        // Tracks seen at the look before this one.
        let open: Vec<usize> = (0..tracks.len())
            .filter(|&k| {
                tracks[k]
                    .0
                    .path
                    .last()
                    .is_some_and(|&(last, _)| t - last < 1.5 * STEP_S)
            })
            .collect();
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (j, s) in look.iter().enumerate() {
            for &k in &open {
                let last = tracks[k].0.path.last().map(|&(_, r)| r);
                if let Some(score) = last.map(|r| same_text(r, s.rect)) {
                    if score >= LINK_IOU {
                        pairs.push((score, j, k));
                    }
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut taken = vec![false; look.len()];
        let mut extended = vec![false; tracks.len()];
        for (_, j, k) in pairs {
            if taken[j] || extended[k] {
                continue;
            }
            taken[j] = true;
            extended[k] = true;
            let (track, best) = &mut tracks[k];
            track.path.push((look[j].time, look[j].rect));
            if look[j].confidence > *best {
                track.text.clone_from(&look[j].text);
                *best = look[j].confidence;
            }
        }
        for (j, s) in look.iter().enumerate() {
            if !taken[j] {
                tracks.push((
                    Track {
                        path: vec![(s.time, s.rect)],
                        text: s.text.clone(),
                    },
                    s.confidence,
                ));
            }
        }
    }
    tracks.into_iter().map(|(t, _)| t).collect()
}

/// Where a track's text may be at `time`, grown by `margin`, within
/// `frame`: between two looks on the line between their boxes (grown by
/// a quarter of how far it moved), up to a step before the first look
/// and after the last where it was seen. `None` further away.
pub fn box_at(path: &[(f64, Rect)], time: f64, margin: u32, frame: (u32, u32)) -> Option<Rect> {
    let (&(first, r0), &(last, r1)) = (path.first()?, path.last()?);
    if time < first - STEP_S || time >= last + STEP_S {
        return None;
    }
    let after = path.partition_point(|&(t, _)| t <= time);
    let (rect, moved) = if after == 0 {
        (r0, 0.0)
    } else if after == path.len() {
        (r1, 0.0)
    } else {
        let ((ta, a), (tb, b)) = (path[after - 1], path[after]);
        let k = ((time - ta) / (tb - ta).max(1e-6)).clamp(0.0, 1.0);
        let lerp = |p: u32, q: u32| f64::from(p) + k * (f64::from(q) - f64::from(p));
        let (x0, y0) = (lerp(a.x, b.x), lerp(a.y, b.y));
        let (x1, y1) = (lerp(a.x + a.w, b.x + b.w), lerp(a.y + a.h, b.y + b.h));
        let moved = (f64::from(a.x) - f64::from(b.x))
            .abs()
            .max((f64::from(a.y) - f64::from(b.y)).abs());
        let r = Rect {
            x: x0.floor() as u32,
            y: y0.floor() as u32,
            w: (x1.ceil() - x0.floor()) as u32,
            h: (y1.ceil() - y0.floor()) as u32,
        };
        (r, moved)
    };
    let grown = rect.grown(margin + (moved / 4.0).ceil() as u32, frame);
    (grown.w > 0 && grown.h > 0).then_some(grown)
}

/// Per channel, the `(Y, U, V)` of a frame pixel.
fn yuv(picture: &Planar, x: u32, y: u32) -> [i32; 3] {
    let s = picture.shift;
    let (cw, _) = picture.plane_size(1);
    let c = ((y >> s) * cw + (x >> s)) as usize;
    [
        i32::from(picture.planes[0][(y * picture.width + x) as usize]),
        i32::from(picture.planes[1][c]),
        i32::from(picture.planes[2][c]),
    ]
}

fn median(values: &mut [i32]) -> i32 {
    if values.is_empty() {
        return 0;
    }
    let mid = values.len() / 2;
    *values.select_nth_unstable(mid).1
}

/// Masks into the band's `mask` (band `area`) the pixels inside the text
/// box `r` whose colour differs from its ground (the median colour of
/// the box's middle rows: the letters are fewer than the pixels between
/// them) and reach those rows, grown by the margin of `reach` for their
/// soft edges; the whole of `r` where most of its middle differs. False
/// when nothing there does.
pub fn mask_text(picture: &Planar, r: Rect, area: Rect, reach: Reach, mask: &mut [bool]) -> bool {
    let Some(r) = r.intersect(area) else {
        return false;
    };
    let (fw, fh) = (picture.width, picture.height);
    let Some(r) = r.intersect(Rect {
        x: 0,
        y: 0,
        w: fw,
        h: fh,
    }) else {
        return false;
    };
    let (w, h) = (r.w as usize, r.h as usize);
    // The middle rows of the box: the letters' bodies and the ground
    // between them, where the ground is most of the pixels (the detector
    // grows its boxes by about their height; above and below, there may
    // be picture around a card).
    let loose = ((LOOSE * h as f32) as usize).min(h.saturating_sub(1) / 2);
    let core = loose..h - loose;
    // The ground changes along a long line: measured over pieces of it,
    // each twice the box's height wide (a few letters).
    let pieces = w.div_ceil((2 * h).max(16)).max(1);
    let mut differs = vec![false; w * h];
    let mut whole = vec![false; w];
    let (mut in_core, mut busy) = (0usize, 0usize);
    // Whether the letters are lighter than their ground: votes of the
    // differing middle pixels.
    let mut lighter = 0i64;
    for k in 0..pieces {
        let cols = k * w / pieces..(k + 1) * w / pieces;
        let mut pixels: Vec<[i32; 3]> = Vec::with_capacity(cols.len() * core.len());
        for y in core.clone() {
            for x in cols.clone() {
                pixels.push(yuv(picture, r.x + x as u32, r.y + y as u32));
            }
        }
        let ground: [i32; 3] =
            [0, 1, 2].map(|c| median(&mut pixels.iter().map(|p| p[c]).collect::<Vec<_>>()));
        let distance = |p: [i32; 3]| {
            (p[0] - ground[0])
                .abs()
                .max(CHROMA * (p[1] - ground[1]).abs())
                .max(CHROMA * (p[2] - ground[2]).abs())
        };
        let spread = median(&mut pixels.iter().map(|&p| distance(p)).collect::<Vec<_>>());
        let threshold = MIN_DIFF.max(SPREAD * spread);
        let mut here = 0usize;
        for y in 0..h {
            for x in cols.clone() {
                let p = yuv(picture, r.x + x as u32, r.y + y as u32);
                let d = distance(p) > threshold;
                differs[y * w + x] = d;
                if d && core.contains(&y) {
                    here += 1;
                    lighter += i64::from((p[0] - ground[0]).signum());
                }
            }
        }
        in_core += here;
        if here as f32 > WHOLE * pixels.len() as f32 {
            // A busy ground: all of this piece.
            busy += 1;
            whole[cols].fill(true);
        }
    }
    // Strokes lighter (or darker, as most differing pixels are) than a
    // pixel on both sides within a stroke's width: letters without an
    // outline over a ground whose own texture hides their colour (white
    // over a pale sky or over leaves).
    let luma: Vec<u8> = (0..w * h)
        .map(|i| {
            let v = picture.planes[0][(r.y as usize + i / w) * fw as usize + r.x as usize + i % w];
            if lighter >= 0 {
                v
            } else {
                255 - v
            }
        })
        .collect();
    let strokes = outlined_strokes(&luma, (w, h), reach.stroke.max(h / 10), 0, STROKE);
    for (i, d) in differs.iter_mut().enumerate() {
        if strokes[i] && !*d {
            *d = true;
            in_core += usize::from(core.contains(&(i / w)));
        }
    }
    let core_area = w * core.len();
    if in_core < (core_area / 100).max(8) {
        return false;
    }
    let text = if busy == pieces {
        vec![true; w * h]
    } else {
        for (i, d) in differs.iter_mut().enumerate() {
            *d |= whole[i % w];
        }
        // The letters: what differs and reaches the middle of the box (an
        // ascender or a descender with its letter; not the picture
        // beyond a card's edge).
        let mut text = vec![false; w * h];
        // Seeds in the middle of the box, as far from its ends as from
        // its top and bottom (the picture beyond a card's ends is not).
        let ends = loose.min(w.saturating_sub(1) / 2)..w - loose.min(w.saturating_sub(1) / 2);
        let mut stack: Vec<usize> = (core.start * w..core.end * w)
            .filter(|&i| differs[i] && ends.contains(&(i % w)))
            .collect();
        for &i in &stack {
            text[i] = true;
        }
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if differs[j] && !text[j] {
                        text[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        text
    };
    // Grown by the margin for the letters' soft edges, within the band.
    let d = reach.margin + 1;
    let Some(p) = Rect {
        x: r.x.saturating_sub(d as u32),
        y: r.y.saturating_sub(d as u32),
        w: r.w + 2 * d as u32,
        h: r.h + 2 * d as u32,
    }
    .intersect(area) else {
        return false;
    };
    let (pw, ph) = (p.w as usize, p.h as usize);
    let (ox, oy) = ((r.x - p.x) as usize, (r.y - p.y) as usize);
    let mut patch = vec![false; pw * ph];
    for y in 0..h {
        patch[(y + oy) * pw + ox..(y + oy) * pw + ox + w]
            .copy_from_slice(&text[y * w..(y + 1) * w]);
    }
    or_into(mask, area, p, &dilate(&patch, pw, ph, d));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }

    fn seen(time: f64, r: Rect, text: &str) -> Sighting {
        Sighting {
            time,
            rect: r,
            text: text.into(),
            confidence: 0.9,
        }
    }

    #[test]
    fn looks_fall_on_the_first_frame_of_each_step() {
        let frame_s = 1.0 / 25.0;
        let looked: Vec<u32> = (0..75)
            .filter(|&i| first_of_step(f64::from(i) * frame_s, frame_s))
            .collect();
        assert_eq!(looked, [0, 13, 25, 38, 50, 63]);
    }

    #[test]
    fn text_moving_with_the_camera_stays_one_track_and_other_text_another() {
        let s = [
            seen(0.0, rect(100, 100, 200, 30), "OPEN"),
            seen(0.0, rect(500, 400, 120, 20), "EXIT"),
            seen(0.5, rect(140, 110, 200, 30), "OPEN"),
            seen(1.0, rect(180, 120, 200, 30), "OPEN"),
            seen(1.0, rect(500, 400, 120, 20), "EXIT"),
            // Far from anything seen before: new text.
            seen(1.5, rect(600, 50, 100, 20), "SALE"),
        ];
        let t = tracks(&s);
        assert_eq!(t.len(), 4, "{t:?}");
        assert_eq!(t[0].path.len(), 3);
        assert_eq!(t[0].text, "OPEN");
        // EXIT was missed at 0.5 s: two tracks, whose steps meet.
        assert_eq!(t[1].path.len(), 1);
        assert_eq!(t[2].path, vec![(1.0, rect(500, 400, 120, 20))]);
        assert_eq!(t[3].text, "SALE");
    }

    #[test]
    fn a_box_moves_between_looks_and_holds_a_step_beyond_them() {
        let path = [
            (1.0, rect(100, 100, 200, 30)),
            (1.5, rect(140, 100, 200, 30)),
        ];
        let frame = (1280, 720);
        assert_eq!(box_at(&path, 0.4, 0, frame), None);
        assert_eq!(box_at(&path, 2.0, 0, frame), None);
        assert_eq!(box_at(&path, 0.6, 0, frame), Some(rect(100, 100, 200, 30)));
        assert_eq!(box_at(&path, 1.9, 0, frame), Some(rect(140, 100, 200, 30)));
        let mid = box_at(&path, 1.25, 0, frame).expect("between");
        // Half way, grown by a quarter of the 40 pixels it moved.
        assert_eq!(mid, rect(110, 90, 220, 50));
    }

    #[test]
    fn dark_letters_on_a_light_sign_are_masked_and_not_the_sign() {
        let (w, h) = (96u32, 48u32);
        // A light sign with a dark bar of "text" in its middle.
        let rgb = image::RgbImage::from_fn(w, h, |x, y| {
            if (40..56).contains(&x) && (20..28).contains(&y) {
                image::Rgb([20, 20, 20])
            } else {
                image::Rgb([230, 220, 200])
            }
        });
        let picture = Planar::from_rgb(&rgb);
        let area = rect(0, 0, w, h);
        let reach = Reach::for_height(360);
        let mut mask = vec![false; (w * h) as usize];
        assert!(mask_text(
            &picture,
            rect(30, 14, 36, 20),
            area,
            reach,
            &mut mask
        ));
        let at = |x: u32, y: u32| mask[(y * w + x) as usize];
        assert!(at(48, 24), "the text");
        assert!(at(39, 24), "its edge");
        assert!(!at(31, 15), "the sign around it");
        assert!(!at(10, 10), "outside the box");
        // An empty sign holds no text.
        let plain = Planar::from_rgb(&image::RgbImage::from_pixel(
            w,
            h,
            image::Rgb([230, 220, 200]),
        ));
        let mut none = vec![false; (w * h) as usize];
        assert!(!mask_text(
            &plain,
            rect(30, 14, 36, 20),
            area,
            reach,
            &mut none
        ));
        assert!(none.iter().all(|&m| !m));
    }
    #[test]
    fn pieces_of_one_line_are_joined_and_other_lines_are_not() {
        let joined = same_line(
            [
                seen(1.0, rect(900, 220, 350, 76), "技术上的问题"),
                seen(1.0, rect(680, 220, 130, 76), "还有"),
                // The next line down, and one too far along this line.
                seen(1.0, rect(680, 320, 400, 76), "NEXT"),
                seen(1.0, rect(100, 222, 200, 74), "FAR"),
            ]
            .into_iter(),
        );
        assert_eq!(joined.len(), 3, "{joined:?}");
        let line = joined
            .iter()
            .find(|s| s.text.starts_with("还有"))
            .expect("joined");
        // The 90 pixels between the pieces are covered: 一个 was missed.
        assert_eq!(line.rect, rect(680, 220, 570, 76));
        assert_eq!(line.text, "还有 技术上的问题");
    }

    #[test]
    fn white_letters_without_an_outline_over_a_textured_ground_are_masked() {
        let (w, h) = (160u32, 60u32);
        // A pale ground whose light changes along the line by 60 levels,
        // more than white letters stand out from it (40), with white
        // strokes: one across, two down.
        let rgb = image::RgbImage::from_fn(w, h, |x, y| {
            let stroke = (21..27).contains(&y) || (40..44).contains(&x) || (100..104).contains(&x);
            if stroke && (14..46).contains(&y) && (30..130).contains(&x) {
                image::Rgb([245, 245, 245])
            } else {
                let v = (190.0 + 30.0 * (f64::from(x) * std::f64::consts::TAU / 64.0).sin()) as u8;
                image::Rgb([v, v - 10, v - 5])
            }
        });
        let picture = Planar::from_rgb(&rgb);
        let area = rect(0, 0, w, h);
        let mut mask = vec![false; (w * h) as usize];
        assert!(mask_text(
            &picture,
            rect(24, 8, 112, 44),
            area,
            Reach::for_height(360),
            &mut mask
        ));
        let at = |x: u32, y: u32| mask[(y * w + x) as usize];
        assert!(at(42, 30) && at(102, 40) && at(70, 24), "the strokes");
        assert!(!at(70, 40), "the ground between them");
    }
}
